/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The API's documents (docs/api.md "Resources"): the core's records as
 * cJSON objects.  Field names and types here are the contract with vmctl
 * and the dashboard; docs/openapi.yaml describes the same.
 *
 * Device result codes are shown by name (vmf_code_name()), or as their
 * number when this vmctld does not know the name (a newer device); a
 * result that does not exist yet is null.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vmf/fleet.h"

static void
add_code(cJSON *o, const char *key, int32_t code, bool known)
{
    const char *name;

    if (!known) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    name = vmf_code_name(code);
    if (strcmp(name, "?") == 0)
        cJSON_AddNumberToObject(o, key, (double)code);
    else
        cJSON_AddStringToObject(o, key, name);
}

/* "N%" or N, as the operator gave it. */
static void
add_count_or_pct(cJSON *o, const char *key, uint32_t v, bool pct)
{
    char buf[16];

    if (pct) {
        snprintf(buf, sizeof(buf), "%u%%", v);
        cJSON_AddStringToObject(o, key, buf);
    } else {
        cJSON_AddNumberToObject(o, key, (double)v);
    }
}

void
api__json_vm(cJSON *o, const vmctld_reg_vm_t *vm)
{
    cJSON_AddStringToObject(o, "name", vm->name);
    cJSON_AddStringToObject(o, "version", vm->version);
    cJSON_AddStringToObject(o, "state", vm->state);
    cJSON_AddNumberToObject(o, "priority", (double)vm->priority);
    cJSON_AddNumberToObject(o, "memory_bytes", (double)vm->memory_bytes);
    cJSON_AddNumberToObject(o, "storage_quota", (double)vm->storage_quota);
    cJSON_AddNumberToObject(o, "cpu_ms", (double)vm->cpu_ms);
    cJSON_AddNumberToObject(o, "uptime_ms", (double)vm->uptime_ms);
    cJSON_AddNumberToObject(o, "restarts", (double)vm->restarts);
    cJSON_AddStringToObject(o, "last_error", vm->last_error);
}

void
api__json_device(cJSON *o, const vmctld_reg_device_t *d)
{
    cJSON *labels, *vms, *vm;
    size_t i;

    cJSON_AddStringToObject(o, "id", d->id);
    cJSON_AddBoolToObject(o, "online", d->online);
    cJSON_AddNumberToObject(o, "last_seen_ms", (double)d->last_seen_ms);
    cJSON_AddStringToObject(o, "runtime_version", d->runtime_version);
    cJSON_AddStringToObject(o, "ota_version", d->ota_version);
    cJSON_AddStringToObject(o, "boot_id", d->boot_id);
    labels = cJSON_AddObjectToObject(o, "labels");
    for (i = 0; labels != NULL && i < d->n_labels; i++)
        cJSON_AddStringToObject(labels, d->labels[i].key,
                                d->labels[i].value);
    vms = cJSON_AddArrayToObject(o, "vms");
    for (i = 0; vms != NULL && i < d->n_vms; i++) {
        if ((vm = cJSON_CreateObject()) == NULL)
            break;
        api__json_vm(vm, &d->vms[i]);
        cJSON_AddItemToArray(vms, vm);
    }
}

void
api__json_fleet(cJSON *o, const ctld_fleet_t *f)
{
    const vmctld_reg_fleet_t *r = &f->reg;
    cJSON *devs, *arr, *e;
    size_t i;

    if ((devs = cJSON_AddObjectToObject(o, "devices")) != NULL) {
        cJSON_AddNumberToObject(devs, "total", (double)r->devices);
        cJSON_AddNumberToObject(devs, "online", (double)r->online);
        cJSON_AddNumberToObject(devs, "offline",
                                (double)(r->devices - r->online));
    }
    arr = cJSON_AddArrayToObject(o, "vms");
    for (i = 0; arr != NULL && i < r->n_vms; i++) {
        if ((e = cJSON_CreateObject()) == NULL)
            break;
        cJSON_AddStringToObject(e, "name", r->vms[i].name);
        cJSON_AddStringToObject(e, "version", r->vms[i].version);
        cJSON_AddNumberToObject(e, "devices", (double)r->vms[i].devices);
        cJSON_AddNumberToObject(e, "running", (double)r->vms[i].running);
        cJSON_AddNumberToObject(e, "failing", (double)r->vms[i].failing);
        cJSON_AddItemToArray(arr, e);
    }
    arr = cJSON_AddArrayToObject(o, "failing");
    for (i = 0; arr != NULL && i < r->n_failing; i++) {
        if ((e = cJSON_CreateObject()) == NULL)
            break;
        cJSON_AddStringToObject(e, "device", r->failing[i].device);
        cJSON_AddStringToObject(e, "vm", r->failing[i].vm);
        cJSON_AddStringToObject(e, "state", r->failing[i].state);
        cJSON_AddStringToObject(e, "last_error", r->failing[i].last_error);
        cJSON_AddNumberToObject(e, "restarts",
                                (double)r->failing[i].restarts);
        cJSON_AddItemToArray(arr, e);
    }
    cJSON_AddNumberToObject(o, "rollouts_active",
                            (double)f->rollouts_active);
}

void
api__json_command(cJSON *o, const ctld_command_t *c)
{
    bool final = ctld_cmd_state_final(c->state);

    cJSON_AddStringToObject(o, "id", c->id);
    cJSON_AddStringToObject(o, "device", c->device);
    cJSON_AddStringToObject(o, "kind", vmf_cmd_name(c->kind));
    cJSON_AddStringToObject(o, "vm", c->vm);
    cJSON_AddStringToObject(o, "state", ctld_cmd_state_name(c->state));
    cJSON_AddBoolToObject(o, "final", final);
    /* Only a device's answer has a code: not an expiry or a timeout. */
    add_code(o, "code", c->code,
             c->state == CTLD_CMD_SUCCEEDED || c->state == CTLD_CMD_FAILED ||
                 c->code != 0);
    cJSON_AddStringToObject(o, "message", c->message);
    cJSON_AddStringToObject(o, "version", c->version);
    cJSON_AddStringToObject(o, "package", c->package);
    cJSON_AddStringToObject(o, "snapshot", c->snapshot);
    cJSON_AddStringToObject(o, "rollout", c->rollout);
    cJSON_AddNumberToObject(o, "percent", (double)c->percent);
    cJSON_AddNumberToObject(o, "created_ms", (double)c->created_ms);
    cJSON_AddNumberToObject(o, "updated_ms", (double)c->updated_ms);
    cJSON_AddNumberToObject(o, "expires_ms", (double)c->expires_ms);
    cJSON_AddNumberToObject(o, "deadline_ms", (double)c->deadline_ms);
}

void
api__json_package(cJSON *o, const vmctld_reg_package_t *p)
{
    cJSON_AddStringToObject(o, "sha256", p->sha256);
    cJSON_AddStringToObject(o, "vm", p->vm);
    cJSON_AddStringToObject(o, "version", p->version);
    cJSON_AddNumberToObject(o, "size", (double)p->size);
    cJSON_AddStringToObject(o, "key_id", p->key_id);
    cJSON_AddNumberToObject(o, "created_ms", (double)p->created_ms);
}

void
api__json_snapshot(cJSON *o, const vmctld_reg_snapshot_t *s)
{
    cJSON_AddStringToObject(o, "sha256", s->sha256);
    cJSON_AddStringToObject(o, "device", s->device);
    cJSON_AddStringToObject(o, "vm", s->vm);
    cJSON_AddNumberToObject(o, "size", (double)s->size);
    cJSON_AddNumberToObject(o, "created_ms", (double)s->created_ms);
}

void
api__json_rollout(cJSON *o, const ctld_rollout_t *r, bool devices)
{
    const ctld_rollout_dev_t *rd;
    cJSON *counts, *arr, *d;
    size_t i;

    cJSON_AddStringToObject(o, "id", r->id);
    cJSON_AddStringToObject(o, "vm", r->vm);
    cJSON_AddStringToObject(o, "package", r->package);
    cJSON_AddStringToObject(o, "version", r->version);
    cJSON_AddStringToObject(o, "target", r->target);
    cJSON_AddStringToObject(o, "state", r->state);
    cJSON_AddStringToObject(o, "pause_reason", r->pause_reason);
    cJSON_AddNumberToObject(o, "canary", (double)r->canary);
    add_count_or_pct(o, "batch", r->batch, r->batch_pct);
    add_count_or_pct(o, "max_failures", r->max_failures,
                     r->max_failures_pct);
    cJSON_AddNumberToObject(o, "health_window_ms",
                            (double)r->health_window_ms);
    cJSON_AddNumberToObject(o, "device_timeout_s",
                            (double)r->device_timeout_s);
    if ((counts = cJSON_AddObjectToObject(o, "counts")) != NULL) {
        cJSON_AddNumberToObject(counts, "total", (double)r->total);
        cJSON_AddNumberToObject(counts, "waiting", (double)r->waiting);
        cJSON_AddNumberToObject(counts, "in_flight", (double)r->in_flight);
        cJSON_AddNumberToObject(counts, "succeeded", (double)r->succeeded);
        cJSON_AddNumberToObject(counts, "failed", (double)r->failed);
    }
    cJSON_AddNumberToObject(o, "created_ms", (double)r->created_ms);
    cJSON_AddNumberToObject(o, "updated_ms", (double)r->updated_ms);
    if (!devices)
        return;
    if ((arr = cJSON_AddArrayToObject(o, "devices")) == NULL)
        return;
    for (i = 0; i < r->ndevices; i++) {
        rd = &r->devices[i];
        if ((d = cJSON_CreateObject()) == NULL)
            break;
        cJSON_AddStringToObject(d, "device", rd->device);
        cJSON_AddNumberToObject(d, "batch", (double)rd->batch);
        cJSON_AddStringToObject(d, "state", rd->state);
        add_code(d, "code", rd->code,
                 strcmp(rd->state, "succeeded") == 0 ||
                     strcmp(rd->state, "failed") == 0 || rd->code != 0);
        cJSON_AddStringToObject(d, "message", rd->message);
        cJSON_AddStringToObject(d, "command", rd->command);
        cJSON_AddNumberToObject(d, "updated_ms", (double)rd->updated_ms);
        cJSON_AddItemToArray(arr, d);
    }
}

void
api__json_info(cJSON *o, const ctld_info_t *i)
{
    cJSON_AddStringToObject(o, "version", i->version);
    cJSON_AddBoolToObject(o, "mqtt_connected", i->mqtt_connected);
    cJSON_AddNumberToObject(o, "devices", (double)i->devices);
    cJSON_AddNumberToObject(o, "devices_online", (double)i->devices_online);
    cJSON_AddNumberToObject(o, "rollouts_active",
                            (double)i->rollouts_active);
    cJSON_AddNumberToObject(o, "commands_pending",
                            (double)i->commands_pending);
    cJSON_AddNumberToObject(o, "started_ms", (double)i->started_ms);
}

const char *
api__event_type_name(ctld_event_type_t t)
{
    switch (t) {
    case CTLD_EV_DEVICE:
        return "device";
    case CTLD_EV_COMMAND:
        return "command";
    case CTLD_EV_ROLLOUT:
        return "rollout";
    case CTLD_EV_VM:
        return "vm";
    }
    return "?";
}

/* A command event's `what` is its state name: final ones carry a code. */
static bool
command_answered(const char *what)
{
    return what != NULL &&
           (strcmp(what, "succeeded") == 0 || strcmp(what, "failed") == 0);
}

static const char *
str_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

char *
api__json_event(const ctld_event_t *ev)
{
    cJSON *o;
    char *text;

    if ((o = cJSON_CreateObject()) == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "type", api__event_type_name(ev->type));
    cJSON_AddStringToObject(o, "device", str_or_empty(ev->device));
    cJSON_AddStringToObject(o, "id", str_or_empty(ev->id));
    cJSON_AddStringToObject(o, "vm", str_or_empty(ev->vm));
    cJSON_AddStringToObject(o, "what", str_or_empty(ev->what));
    add_code(o, "code", ev->code,
             ev->code != 0 || (ev->type == CTLD_EV_COMMAND &&
                               command_answered(ev->what)));
    cJSON_AddStringToObject(o, "detail", str_or_empty(ev->detail));
    cJSON_AddNumberToObject(o, "percent", (double)ev->percent);
    cJSON_AddNumberToObject(o, "time_ms", (double)ev->time_ms);
    /* Unformatted output has no newline: one `data:` line, as SSE
     * wants (strings escape theirs). */
    text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}
