/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld devices: every known device has a small record in memory (online,
 * boot id, last seen, its unfinished commands); its full state (labels,
 * VMs) lives in the registry, written on every State it publishes.
 * last_seen moves with every message but reaches the registry at most
 * every CTLD_TOUCH_MS per device: with thousands of devices, one write
 * per message would be the daemon's main cost.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld_internal.h"

int
ctld__devs_load(ctld_t *c, char *err, size_t errlen)
{
    vmctld_reg_device_t *list = NULL;
    ctld__dev_t *d;
    size_t n = 0, i;
    int rc;

    if ((rc = vmctld_reg_device_list(c->reg, NULL, &list, &n)) != 0)
        return ctld__reg_err(c->reg, rc, err, errlen, "loading devices");
    for (i = 0; i < n; i++) {
        if (strlen(list[i].id) >= VMF_ID_MAX)
            continue; /* never from a topic; not ours to serve */
        if ((d = calloc(1, sizeof(*d))) == NULL) {
            rc = CTLD_ENOMEM;
            break;
        }
        ctld__copy(d->id, sizeof(d->id), list[i].id);
        ctld__copy(d->boot_id, sizeof(d->boot_id), list[i].boot_id);
        /* Not online until it says so again: its retained State arrives
         * as soon as we subscribe, and that is what sends its queue. */
        d->last_seen_ms = list[i].last_seen_ms;
        d->saved_seen_ms = list[i].last_seen_ms;
        if ((rc = ctld__map_put(&c->devs, d->id, d)) != 0) {
            free(d);
            break;
        }
    }
    vmctld_reg_devices_free(list, n);
    if (rc != 0)
        return ctld__err(err, errlen, rc, "loading devices: out of memory");
    return 0;
}

static void
dev_free_v(void *arg, void *val)
{
    (void)arg;
    free(val);
}

void
ctld__devs_free(ctld_t *c)
{
    ctld__map_each(&c->devs, dev_free_v, NULL);
    ctld__map_free(&c->devs);
    c->online = 0;
}

ctld__dev_t *
ctld__dev_find(ctld_t *c, const char *id)
{
    return ctld__map_get(&c->devs, id);
}

void
ctld__dev_touch(ctld_t *c, ctld__dev_t *d, int64_t now)
{
    (void)c;
    if (now > d->last_seen_ms)
        d->last_seen_ms = now;
}

struct flush_arg {
    ctld_t *c;
    int64_t now;
    bool all;
};

static void
flush_one(void *arg, void *val)
{
    struct flush_arg *a = arg;
    ctld__dev_t *d = val;
    int rc;

    if (d->last_seen_ms <= d->saved_seen_ms ||
        (!a->all && a->now - d->saved_seen_ms < CTLD_TOUCH_MS))
        return;
    if ((rc = vmctld_reg_device_touch(a->c->reg, d->id, d->last_seen_ms)) !=
            0 &&
        rc != VMCTLD_REG_ENOTFOUND) {
        LOG_WARN("device %s: saving last_seen: %s", d->id,
                 vmctld_reg_errmsg(a->c->reg));
        return;
    }
    d->saved_seen_ms = d->last_seen_ms;
}

void
ctld__devs_flush_seen(ctld_t *c, int64_t now, bool all)
{
    struct flush_arg a = { c, now, all };

    ctld__map_each(&c->devs, flush_one, &a);
}

/*
 * to_reg: a State as a registry device record.  Borrows nothing from st
 * after return; `labels` and `vms` are the caller's arrays, big enough.
 */
static void
to_reg(const char *id, const vmf_state_t *st, int64_t now,
       vmctld_reg_device_t *d, vmctld_reg_label_t *labels,
       vmctld_reg_vm_t *vms)
{
    uint32_t i;

    memset(d, 0, sizeof(*d));
    ctld__copy(d->id, sizeof(d->id), id);
    d->online = true;
    d->last_seen_ms = now;
    ctld__copy(d->runtime_version, sizeof(d->runtime_version),
               st->runtime_version);
    ctld__copy(d->ota_version, sizeof(d->ota_version), st->ota_version);
    snprintf(d->boot_id, sizeof(d->boot_id), "%016llx",
             (unsigned long long)st->boot_id);
    for (i = 0; i < st->nlabels && i < VMF_LABELS_MAX; i++) {
        ctld__copy(labels[i].key, sizeof(labels[i].key), st->labels[i].key);
        ctld__copy(labels[i].value, sizeof(labels[i].value),
                   st->labels[i].value);
    }
    d->labels = labels;
    d->n_labels = i;
    for (i = 0; i < st->nvms && i < VMF_STATE_VMS_MAX; i++) {
        const vmf_vm_status_t *v = &st->vms[i];

        memset(&vms[i], 0, sizeof(vms[i]));
        ctld__copy(vms[i].name, sizeof(vms[i].name), v->name);
        ctld__copy(vms[i].version, sizeof(vms[i].version), v->version);
        ctld__copy(vms[i].state, sizeof(vms[i].state), v->state);
        vms[i].memory_bytes = v->memory_bytes;
        vms[i].storage_quota = v->storage_quota;
        vms[i].restarts = v->restarts;
        ctld__copy(vms[i].last_error, sizeof(vms[i].last_error), v->last_error);
        vms[i].priority = v->priority;
        vms[i].cpu_ms = v->cpu_ms;
        vms[i].uptime_ms = v->uptime_ms;
    }
    d->vms = vms;
    d->n_vms = i;
}

void
ctld__dev_on_state(ctld_t *c, const char *id, const vmf_state_t *st,
                   int64_t now)
{
    static vmctld_reg_label_t labels[VMF_LABELS_MAX];
    static vmctld_reg_vm_t vms[VMF_STATE_VMS_MAX];
    vmctld_reg_device_t rd;
    ctld__dev_t *d = ctld__dev_find(c, id);
    bool came, was;
    int rc;

    if (st->device[0] != '\0' && strcmp(st->device, id) != 0) {
        LOG_WARN("device %s: ignoring a state that names device %s", id,
                 st->device);
        return;
    }
    if (!st->online) {
        if (d == NULL)
            return; /* the Last Will of a device we never knew */
        was = d->online;
        if (was)
            c->online--;
        d->online = false;
        rc = vmctld_reg_device_mark_offline(c->reg, id, d->last_seen_ms);
        if (rc != 0 && rc != VMCTLD_REG_ENOTFOUND)
            LOG_WARN("device %s: saving offline: %s", id,
                     vmctld_reg_errmsg(c->reg));
        if (was) {
            LOG_INFO("device %s: offline", id);
            ctld__emit(c, CTLD_EV_DEVICE, id, "", "", "offline", 0, "", 0);
        }
        return;
    }
    /* The scratch arrays are static (32 KiB of VMs): only the MQTT
     * thread gets here, under the core lock. */
    to_reg(id, st, now, &rd, labels, vms);
    if ((rc = vmctld_reg_device_upsert(c->reg, &rd)) != 0) {
        LOG_WARN("device %s: saving its state: %s", id,
                 vmctld_reg_errmsg(c->reg));
        if (d == NULL)
            return; /* keep memory and registry in step */
    }
    if (d == NULL) {
        if ((d = calloc(1, sizeof(*d))) == NULL)
            return;
        ctld__copy(d->id, sizeof(d->id), id);
        if (ctld__map_put(&c->devs, d->id, d) != 0) {
            free(d);
            return;
        }
        LOG_INFO("device %s: new (runtime %s, %u VMs)", id,
                 st->runtime_version, (unsigned)st->nvms);
    }
    /* A new boot id while we thought it online: it restarted faster
     * than its Last Will, and lost what it had not persisted. */
    came = !d->online || strcmp(d->boot_id, rd.boot_id) != 0;
    if (!d->online)
        c->online++;
    if (came)
        LOG_INFO("device %s: online (boot %s, %zu VMs)", id, rd.boot_id,
                 rd.n_vms);
    d->online = true;
    d->heard = true;
    ctld__copy(d->boot_id, sizeof(d->boot_id), rd.boot_id);
    d->last_seen_ms = now;
    if (rc == 0)
        d->saved_seen_ms = now;
    ctld__emit(c, CTLD_EV_DEVICE, id, "", "", came ? "online" : "state", 0,
               "", 0);
    if (came)
        ctld__cmds_flush(c, d, now);
}

/* ---- the API ----------------------------------------------------------- */

/* Does device `d` carry label "k=v" (`kv`, checked by the caller)? */
static bool
has_label(const vmctld_reg_device_t *d, const char *kv)
{
    const char *eq = strchr(kv, '=');
    size_t klen = (size_t)(eq - kv), i;

    for (i = 0; i < d->n_labels; i++)
        if (strlen(d->labels[i].key) == klen &&
            memcmp(d->labels[i].key, kv, klen) == 0 &&
            strcmp(d->labels[i].value, eq + 1) == 0)
            return true;
    return false;
}

/* A label filter is "key=value" with a non-empty key. */
static bool
label_ok(const char *kv)
{
    const char *eq;

    return kv != NULL && (eq = strchr(kv, '=')) != NULL && eq != kv &&
           (size_t)(eq - kv) < VMCTLD_REG_NAME_MAX &&
           strlen(eq + 1) < VMCTLD_REG_LABEL_MAX;
}

/* Memory knows the freshest last_seen: put it on the `n` devices `d` read
 * from the registry.  Takes the core lock. */
static void
overlay(ctld_t *c, vmctld_reg_device_t *d, size_t n)
{
    ctld__dev_t *m;
    size_t i;

    pthread_mutex_lock(&c->lock);
    for (i = 0; i < n; i++)
        if ((m = ctld__dev_find(c, d[i].id)) != NULL &&
            m->last_seen_ms > d[i].last_seen_ms)
            d[i].last_seen_ms = m->last_seen_ms;
    pthread_mutex_unlock(&c->lock);
}

int
ctld__devs_select(vmctld_reg_t *reg, const char *const *labels,
                  size_t nlabels, int online, vmctld_reg_device_t **out,
                  size_t *n)
{
    vmctld_reg_device_t *list = NULL;
    size_t cnt = 0, i, j, k = 0;
    bool keep;
    int rc;

    for (i = 0; i < nlabels; i++)
        if (!label_ok(labels[i]))
            return CTLD_EINVAL;
    rc = vmctld_reg_device_list(reg, nlabels > 0 ? labels[0] : NULL, &list,
                                &cnt);
    if (rc != 0)
        return ctld__reg_err(reg, rc, NULL, 0, "listing devices");
    for (i = 0; i < cnt; i++) {
        keep = online < 0 || list[i].online == (online > 0);
        for (j = 1; keep && j < nlabels; j++)
            keep = has_label(&list[i], labels[j]);
        if (!keep) {
            vmctld_reg_device_clear(&list[i]);
            continue;
        }
        if (k != i)
            list[k] = list[i];
        k++;
    }
    if (k == 0) {
        free(list);
        list = NULL;
    }
    *out = list;
    *n = k;
    return 0;
}

/*
 * The lists are read on the second connection, without the core lock
 * (a thousand devices with their VMs take tens of milliseconds, which
 * the MQTT thread need not wait for); only the overlay takes it.
 */
int
ctld_devices_list(ctld_t *c, const char *const *labels, size_t nlabels,
                  int online, vmctld_reg_device_t **out, size_t *n)
{
    vmctld_reg_t *reg;
    int rc;

    if (c == NULL || out == NULL || n == NULL ||
        (nlabels > 0 && labels == NULL))
        return CTLD_EINVAL;
    reg = ctld__rd_lock(c);
    rc = ctld__devs_select(reg, labels, nlabels, online, out, n);
    ctld__rd_unlock(c);
    if (rc != 0)
        return rc;
    overlay(c, *out, *n);
    return 0;
}

int
ctld_device_get(ctld_t *c, const char *id, vmctld_reg_device_t *out)
{
    vmctld_reg_t *reg;
    int rc;

    if (c == NULL || id == NULL || out == NULL)
        return CTLD_EINVAL;
    if (id[0] == '\0' || strlen(id) >= VMCTLD_REG_ID_MAX)
        return CTLD_ENOTFOUND;
    reg = ctld__rd_lock(c);
    if ((rc = vmctld_reg_device_get(reg, id, out)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0, "reading a device");
    ctld__rd_unlock(c);
    if (rc != 0)
        return rc;
    overlay(c, out, 1);
    return 0;
}

int
ctld_devices_query(ctld_t *c, const vmctld_reg_device_query_t *q,
                   vmctld_reg_device_t **out, size_t *n, size_t *total)
{
    vmctld_reg_t *reg;
    size_t i;
    int rc;

    if (c == NULL || q == NULL || out == NULL || n == NULL ||
        (q->nlabels > 0 && q->labels == NULL))
        return CTLD_EINVAL;
    for (i = 0; i < q->nlabels; i++)
        if (!label_ok(q->labels[i]))
            return CTLD_EINVAL;
    if (q->q != NULL && strlen(q->q) >= VMCTLD_REG_ID_MAX)
        return CTLD_EINVAL;
    reg = ctld__rd_lock(c);
    if ((rc = vmctld_reg_device_query(reg, q, out, n, total)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0, "listing devices");
    ctld__rd_unlock(c);
    if (rc != 0)
        return rc;
    overlay(c, *out, *n);
    return 0;
}


int
ctld_fleet_summary(ctld_t *c, ctld_fleet_t *out)
{
    vmctld_reg_t *reg;
    int rc;

    if (c == NULL || out == NULL)
        return CTLD_EINVAL;
    memset(out, 0, sizeof(*out));
    reg = ctld__rd_lock(c);
    if ((rc = vmctld_reg_fleet_summary(reg, CTLD_FLEET_FAILING_MAX,
                                       &out->reg)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0, "summing up the fleet");
    ctld__rd_unlock(c);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&c->lock);
    out->rollouts_active = ctld__ros_active(c);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void
ctld_fleet_clear(ctld_fleet_t *f)
{
    if (f == NULL)
        return;
    vmctld_reg_fleet_clear(&f->reg);
    f->rollouts_active = 0;
}
