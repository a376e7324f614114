/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld rollouts: the glue between the rollout state machine (rollout.h,
 * pure logic) and the world.  The ticker asks each running rollout for
 * the devices to update now and sends each an UPDATE command linked to
 * the rollout; when such a command ends, its outcome goes back to the
 * state machine.  A device succeeds only on the device's final OK with
 * the package's version (the device sends it after the health window).
 *
 * Persistence: the state machine's blob and the rollout row are saved on
 * every state change and at most once a tick otherwise; each device's
 * row (state, code, message, command) is written when it changes.
 * Before commands are handed out, the blob that marks the devices sent
 * is saved first: after a crash in between, loading finds devices sent
 * without a command and sends them one (reconcile()).  Results that came
 * after the last save are found again in the commands' final states.
 *
 * Unfinished rollouts (and aborted ones with devices still in flight)
 * have their state machine in memory (c->ros); the others are read back
 * from the registry when asked for.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld_internal.h"

static vmctld_rollout_state_t
ro_state(const ctld__ro_t *ro)
{
    return vmctld_rollout_state(ro->sm);
}

static bool
state_final(vmctld_rollout_state_t s)
{
    return s == VMCTLD_ROLLOUT_ABORTED || s == VMCTLD_ROLLOUT_SUCCEEDED ||
           s == VMCTLD_ROLLOUT_FAILED;
}

/* True once nothing can change any more: final, nothing in flight. */
static bool
ro_done(const ctld__ro_t *ro)
{
    vmctld_rollout_counts_t n;

    vmctld_rollout_counts(ro->sm, &n);
    return state_final(ro_state(ro)) && n.in_flight == 0;
}

size_t
ctld__ros_active(const ctld_t *c)
{
    const ctld__ro_t *ro;
    size_t n = 0;

    for (ro = c->ros; ro != NULL; ro = ro->next)
        if (!state_final(ro_state(ro)))
            n++;
    return n;
}

static ctld__ro_t *
ro_find(ctld_t *c, const char *id)
{
    ctld__ro_t *ro;

    for (ro = c->ros; ro != NULL; ro = ro->next)
        if (strcmp(ro->id, id) == 0)
            return ro;
    return NULL;
}

static void
ro_free(ctld__ro_t *ro)
{
    if (ro == NULL)
        return;
    vmctld_rollout_destroy(ro->sm);
    ctld__map_free(&ro->idx);
    free(ro->known);
    free(ro);
}

static void
ro_unlink(ctld_t *c, ctld__ro_t *ro)
{
    ctld__ro_t **pp;

    for (pp = &c->ros; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == ro) {
            *pp = ro->next;
            return;
        }
    }
}

void
ctld__ros_free(ctld_t *c)
{
    ctld__ro_t *ro, *next;

    for (ro = c->ros; ro != NULL; ro = next) {
        next = ro->next;
        ro_free(ro);
    }
    c->ros = NULL;
}

/* The index of device `id` in the rollout, or -1. */
static long
ro_index(const ctld__ro_t *ro, const char *id)
{
    void *v = ctld__map_get(&ro->idx, id);

    return v == NULL ? -1 : (long)((uintptr_t)v - 1);
}

/* Build the device index and the per-device state cache of `ro->sm`. */
static int
ro_index_build(ctld__ro_t *ro)
{
    vmctld_rollout_device_t d;
    size_t n = vmctld_rollout_device_count(ro->sm), i;

    if ((ro->known = calloc(n, 1)) == NULL)
        return CTLD_ENOMEM;
    for (i = 0; i < n; i++) {
        vmctld_rollout_device(ro->sm, i, &d);
        ro->known[i] = (uint8_t)d.state;
        if (d.batch + 1 > ro->batch_sent &&
            d.state != VMCTLD_ROLLOUT_DEV_WAITING)
            ro->batch_sent = d.batch + 1;
        if (ctld__map_put(&ro->idx, d.id, (void *)(uintptr_t)(i + 1)) != 0)
            return CTLD_ENOMEM;
    }
    return 0;
}

static void
params_json(ctld__ro_t *ro)
{
    const vmctld_rollout_params_t *p = vmctld_rollout_params(ro->sm);

    snprintf(ro->params, sizeof(ro->params),
             "{\"canary\":%u,\"batch\":%s%u%s,\"max_failures\":%s%u%s,"
             "\"health_window_ms\":%u,\"device_timeout_s\":%u}",
             p->canary, p->batch_pct ? "\"" : "", p->batch,
             p->batch_pct ? "%\"" : "", p->max_failures_pct ? "\"" : "",
             p->max_failures, p->max_failures_pct ? "%\"" : "",
             ro->health_window_ms, ro->device_timeout_s);
}

/*
 * ro_row: fill the registry row `r` from `ro`, all but its times and
 * blob.  Its target and params are borrowed from `ro`.
 */
static void
ro_row(ctld__ro_t *ro, vmctld_reg_rollout_t *r)
{
    ctld__copy(r->id, sizeof(r->id), ro->id);
    ctld__copy(r->vm, sizeof(r->vm), ro->vm);
    ctld__copy(r->package_sha, sizeof(r->package_sha), ro->package);
    r->target = ro->target;
    r->params = ro->params;
    ctld__copy(r->state, sizeof(r->state),
               vmctld_rollout_state_name(ro_state(ro)));
    ctld__copy(r->version, sizeof(r->version), ro->version);
    r->health_window_ms = ro->health_window_ms;
    r->device_timeout_s = ro->device_timeout_s;
}

/* Save the state machine and the rollout row now. */
static void
persist(ctld_t *c, ctld__ro_t *ro)
{
    vmctld_reg_rollout_t r;
    int rc;

    memset(&r, 0, sizeof(r));
    if ((rc = vmctld_rollout_save(ro->sm, &r.blob, &r.blob_len)) != 0) {
        LOG_ERR("rollout %s: saving its state: %s", ro->id,
                vmctld_rollout_strerror(rc));
        return;
    }
    ro_row(ro, &r);
    r.created_ms = ro->created_ms;
    r.updated_ms = ro->updated_ms;
    if ((rc = vmctld_reg_rollout_put(c->reg, &r)) != 0)
        LOG_ERR("rollout %s: saving: %s", ro->id, vmctld_reg_errmsg(c->reg));
    else
        ro->dirty = false;
    free(r.blob);
}

void
ctld__ros_save_all(ctld_t *c, int64_t now)
{
    ctld__ro_t *ro;

    (void)now;
    for (ro = c->ros; ro != NULL; ro = ro->next)
        if (ro->dirty)
            persist(c, ro);
}

/* Write device i's row from the state machine, with `code` and `msg`. */
static void
row_update(ctld_t *c, ctld__ro_t *ro, size_t i, int32_t code,
           const char *msg, int64_t now)
{
    vmctld_rollout_device_t d;

    vmctld_rollout_device(ro->sm, i, &d);
    ro->known[i] = (uint8_t)d.state;
    if (vmctld_reg_rollout_device_update(
            c->reg, ro->id, d.id, vmctld_rollout_dev_state_name(d.state),
            code, msg, now) != 0)
        LOG_ERR("rollout %s: saving device %s: %s", ro->id, d.id,
                vmctld_reg_errmsg(c->reg));
}

/* After the state machine moved: log, tell, and save a state change. */
static void
after_change(ctld_t *c, ctld__ro_t *ro, vmctld_rollout_state_t before,
             const char *detail, int64_t now)
{
    vmctld_rollout_state_t st = ro_state(ro);
    vmctld_rollout_counts_t n;

    ro->updated_ms = now;
    ro->dirty = true;
    if (st != before) {
        vmctld_rollout_counts(ro->sm, &n);
        if (st == VMCTLD_ROLLOUT_PAUSED)
            LOG_WARN("rollout %s: paused (%s) after %zu failures of %zu",
                     ro->id, vmctld_rollout_pause_text(ro->sm), n.failed,
                     n.total);
        else
            LOG_INFO("rollout %s: %s (%zu succeeded, %zu failed, %zu of "
                     "%zu not done)",
                     ro->id, vmctld_rollout_state_name(st), n.succeeded,
                     n.failed, n.waiting + n.in_flight, n.total);
        persist(c, ro);
    }
    ctld__emit(c, CTLD_EV_ROLLOUT, "", ro->id, ro->vm,
               vmctld_rollout_state_name(st), 0, detail, 0);
}

/*
 * outcome: feed a device's final command result into the rollout.
 * `r` is the command as it ended.  TIMED_OUT is left to the rollout's
 * own clock (its deadline is never later than the command's), so that
 * the device's row says timed_out.
 */
static void
outcome(ctld_t *c, ctld__ro_t *ro, const ctld_command_t *r, int64_t now)
{
    vmctld_rollout_outcome_t oc;
    vmctld_rollout_state_t before = ro_state(ro);
    char msg[VMCTLD_REG_MSG_MAX], cn[16];
    char detail[VMCTLD_REG_ID_MAX + VMCTLD_REG_MSG_MAX + 64];
    int32_t code = r->code;
    long i = ro_index(ro, r->device);

    if (i < 0)
        return;
    ctld__copy(msg, sizeof(msg), r->message);
    switch (r->state) {
    case CTLD_CMD_SUCCEEDED:
        if (strcmp(r->version, ro->version) == 0) {
            oc = VMCTLD_ROLLOUT_OUTCOME_SUCCESS;
            break;
        }
        oc = VMCTLD_ROLLOUT_OUTCOME_FAILED;
        code = VMF_E_INTERNAL;
        snprintf(msg, sizeof(msg),
                 "the device reports version \"%s\", not %s", r->version,
                 ro->version);
        break;
    case CTLD_CMD_FAILED:
        oc = VMCTLD_ROLLOUT_OUTCOME_FAILED;
        break;
    case CTLD_CMD_CANCELLED:
        oc = VMCTLD_ROLLOUT_OUTCOME_FAILED;
        code = VMF_E_CANCELLED;
        break;
    case CTLD_CMD_EXPIRED:
        oc = VMCTLD_ROLLOUT_OUTCOME_OFFLINE;
        break;
    default:
        return;
    }
    if (vmctld_rollout_report(ro->sm, r->device, oc, code, (uint64_t)now) !=
        0)
        return; /* not in flight: late or repeated */
    row_update(c, ro, (size_t)i,
               oc == VMCTLD_ROLLOUT_OUTCOME_FAILED ? code : 0, msg, now);
    if (oc == VMCTLD_ROLLOUT_OUTCOME_SUCCESS) {
        snprintf(detail, sizeof(detail), "device %s succeeded", r->device);
        LOG_INFO("rollout %s: device %s succeeded (%s %s)", ro->id,
                 r->device, ro->vm, ro->version);
    } else if (oc == VMCTLD_ROLLOUT_OUTCOME_OFFLINE) {
        snprintf(detail, sizeof(detail), "device %s offline: %s", r->device,
                 msg);
        LOG_WARN("rollout %s: device %s offline: %s", ro->id, r->device,
                 msg);
    } else {
        snprintf(detail, sizeof(detail), "device %s failed: %s (%s)",
                 r->device, ctld__code_name(code, cn, sizeof(cn)), msg);
        LOG_WARN("rollout %s: device %s failed: %s (%s)", ro->id, r->device,
                 ctld__code_name(code, cn, sizeof(cn)), msg);
    }
    after_change(c, ro, before, detail, now);
}

void
ctld__ro_on_cmd_final(ctld_t *c, const ctld__cmd_t *k, int64_t now)
{
    ctld__ro_t *ro = ro_find(c, k->r.rollout);

    if (ro != NULL && k->r.kind == VMF_CMD_UPDATE)
        outcome(c, ro, &k->r, now);
}

/* The rollout's UPDATE command on device `dev`, if unfinished. */
static ctld__cmd_t *
ro_cmd(ctld_t *c, const ctld__ro_t *ro, const char *dev)
{
    ctld__dev_t *d = ctld__dev_find(c, dev);
    ctld__cmd_t *k;

    for (k = d != NULL ? d->cmd_head : NULL; k != NULL; k = k->dnext)
        if (k->r.kind == VMF_CMD_UPDATE && strcmp(k->r.rollout, ro->id) == 0)
            return k;
    return NULL;
}

/*
 * send_update: hand device i an UPDATE command (with the package `pkg`)
 * and record it on its row.  A device that cannot get one fails in the
 * rollout at once.
 */
static void
send_update(ctld_t *c, ctld__ro_t *ro, size_t i,
            const vmctld_reg_package_t *pkg, int64_t now)
{
    vmctld_rollout_device_t d;
    vmctld_reg_rollout_device_t row;
    ctld__cmd_new_t n;
    ctld__cmd_t *k = NULL;
    char why[200];
    ctld_command_t fake;
    int rc = CTLD_ENOTFOUND;

    vmctld_rollout_device(ro->sm, i, &d);
    memset(&n, 0, sizeof(n));
    n.dev = ctld__dev_find(c, d.id);
    n.kind = VMF_CMD_UPDATE;
    n.vm = ro->vm;
    n.pkg = pkg;
    n.health_window_ms = ro->health_window_ms;
    n.expiry_s = ro->device_timeout_s;
    n.timeout_s = ro->device_timeout_s;
    n.rollout = ro->id;
    snprintf(why, sizeof(why), "device %s is not known", d.id);
    if (n.dev != NULL && pkg != NULL)
        rc = ctld__cmd_create(c, &n, now, &k, why, sizeof(why));
    else if (pkg == NULL)
        snprintf(why, sizeof(why), "package %s is gone", ro->package);
    if (rc != 0) {
        memset(&fake, 0, sizeof(fake));
        ctld__copy(fake.device, sizeof(fake.device), d.id);
        fake.state = CTLD_CMD_FAILED;
        fake.code = VMF_E_INTERNAL;
        snprintf(fake.message, sizeof(fake.message), "server: %s", why);
        outcome(c, ro, &fake, now);
        return;
    }
    memset(&row, 0, sizeof(row));
    ctld__copy(row.rollout, sizeof(row.rollout), ro->id);
    ctld__copy(row.device, sizeof(row.device), d.id);
    row.batch = (int32_t)d.batch;
    ctld__copy(row.state, sizeof(row.state),
               vmctld_rollout_dev_state_name(d.state));
    row.updated_ms = now;
    ctld__copy(row.command, sizeof(row.command), k->r.id);
    if (vmctld_reg_rollout_device_put(c->reg, &row) != 0)
        LOG_ERR("rollout %s: saving device %s: %s", ro->id, d.id,
                vmctld_reg_errmsg(c->reg));
    ro->known[i] = (uint8_t)d.state;
}

/* The rollout's package, for its commands; NULL if it went. */
static bool
ro_package(ctld_t *c, const ctld__ro_t *ro, vmctld_reg_package_t *pkg)
{
    if (vmctld_reg_package_get(c->reg, ro->package, pkg) != 0) {
        LOG_ERR("rollout %s: package %s: %s", ro->id, ro->package,
                vmctld_reg_errmsg(c->reg));
        return false;
    }
    return true;
}

/*
 * step: one turn of a rollout: time out devices, hand out the next ones
 * and send them their update.  Return: true when the rollout is done
 * (final, nothing in flight) and may leave memory.
 */
static bool
step(ctld_t *c, ctld__ro_t *ro, int64_t now)
{
    const char *ids[CTLD_HANDOUT_MAX];
    vmctld_rollout_state_t before = ro_state(ro);
    vmctld_rollout_device_t d;
    vmctld_reg_package_t pkg;
    char detail[128];
    ctld__cmd_t *k;
    size_t n, i, total;
    long idx;
    bool have_pkg;

    if ((n = vmctld_rollout_tick(ro->sm, (uint64_t)now)) > 0) {
        total = vmctld_rollout_device_count(ro->sm);
        for (i = 0; i < total; i++) {
            vmctld_rollout_device(ro->sm, i, &d);
            if (ro->known[i] != VMCTLD_ROLLOUT_DEV_SENT ||
                d.state != VMCTLD_ROLLOUT_DEV_TIMED_OUT)
                continue;
            snprintf(detail, sizeof(detail),
                     "no final result within %u s", ro->device_timeout_s);
            row_update(c, ro, i, 0, detail, now);
            LOG_WARN("rollout %s: device %s timed out", ro->id, d.id);
            /* The command ends with the device's turn in the rollout. */
            if ((k = ro_cmd(c, ro, d.id)) != NULL) {
                if (k->r.state != CTLD_CMD_QUEUED)
                    ctld__cmd_send_cancel(c, k->r.device, k->r.id);
                ctld__cmd_finish(c, k, CTLD_CMD_TIMED_OUT, 0, detail, now);
            }
        }
        snprintf(detail, sizeof(detail), "%zu devices timed out", n);
        after_change(c, ro, before, detail, now);
        before = ro_state(ro);
    }
    if (before == VMCTLD_ROLLOUT_PENDING || before == VMCTLD_ROLLOUT_RUNNING) {
        n = vmctld_rollout_next(ro->sm, (uint64_t)now, ids, CTLD_HANDOUT_MAX);
        if (n > 0) {
            /* Saved before the commands exist: see the top comment. */
            ro->updated_ms = now;
            persist(c, ro);
            have_pkg = ro_package(c, ro, &pkg);
            for (i = 0; i < n; i++) {
                if ((idx = ro_index(ro, ids[i])) < 0)
                    continue;
                vmctld_rollout_device(ro->sm, (size_t)idx, &d);
                if (d.batch + 1 > ro->batch_sent) {
                    ro->batch_sent = d.batch + 1;
                    LOG_INFO("rollout %s: %s %u started", ro->id,
                             d.batch == 0 &&
                                     vmctld_rollout_params(ro->sm)->canary > 0
                                 ? "canary batch"
                                 : "batch",
                             d.batch);
                }
                send_update(c, ro, (size_t)idx, have_pkg ? &pkg : NULL, now);
            }
            snprintf(detail, sizeof(detail), "%zu devices sent the update",
                     n);
            after_change(c, ro, before, detail, now);
        }
    }
    if (ro->dirty)
        persist(c, ro);
    return ro_done(ro);
}

/* step() outside the ticker: its writes in one batch, as the ticker's. */
static bool
stepped(ctld_t *c, ctld__ro_t *ro, int64_t now)
{
    bool batch = vmctld_reg_batch_begin(c->reg) == 0, done;

    done = step(c, ro, now);
    if (batch && vmctld_reg_batch_end(c->reg) != 0)
        LOG_ERR("rollout %s: committing: %s", ro->id,
                vmctld_reg_errmsg(c->reg));
    return done;
}

void
ctld__ros_tick(ctld_t *c, int64_t now)
{
    ctld__ro_t *ro, *next;

    for (ro = c->ros; ro != NULL; ro = next) {
        next = ro->next;
        if (step(c, ro, now)) {
            ro_unlink(c, ro);
            ro_free(ro);
        }
    }
}

/* ---- loading ------------------------------------------------------------ */

/*
 * reconcile: after loading a rollout, find what the last save missed.
 * Devices in flight whose command has ended report its outcome now;
 * devices in flight without a command (a crash between saving the
 * hand-out and creating the commands) get one; rows that lag behind the
 * state machine are written.
 */
static void
reconcile(ctld_t *c, ctld__ro_t *ro, int64_t now)
{
    vmctld_reg_rollout_device_t *rows = NULL;
    vmctld_reg_command_t g;
    vmctld_reg_package_t pkg;
    vmctld_rollout_device_t d;
    ctld_command_t r;
    size_t n = 0, j;
    long i;
    bool have_pkg = false, tried = false;

    if (vmctld_reg_rollout_device_list(c->reg, ro->id, &rows, &n) != 0) {
        LOG_ERR("rollout %s: reading its devices: %s", ro->id,
                vmctld_reg_errmsg(c->reg));
        return;
    }
    for (j = 0; j < n; j++) {
        if ((i = ro_index(ro, rows[j].device)) < 0)
            continue;
        vmctld_rollout_device(ro->sm, (size_t)i, &d);
        if (d.state != VMCTLD_ROLLOUT_DEV_SENT) {
            if (strcmp(rows[j].state,
                       vmctld_rollout_dev_state_name(d.state)) != 0)
                row_update(c, ro, (size_t)i, d.code, NULL, now);
            continue;
        }
        if (rows[j].command[0] != '\0' &&
            ctld__cmd_find(c, rows[j].command) != NULL)
            continue; /* still running: its result will come */
        if (rows[j].command[0] != '\0' &&
            vmctld_reg_command_get(c->reg, rows[j].command, &g) == 0) {
            ctld__cmd_rec_from_reg(&r, &g);
            vmctld_reg_command_clear(&g);
            if (ctld_cmd_state_final(r.state)) {
                LOG_INFO("rollout %s: device %s ended while we were away",
                         ro->id, d.id);
                outcome(c, ro, &r, now);
                continue;
            }
        }
        if (!tried) {
            have_pkg = ro_package(c, ro, &pkg);
            tried = true;
        }
        LOG_INFO("rollout %s: device %s was handed out without a command; "
                 "sending it now",
                 ro->id, d.id);
        send_update(c, ro, (size_t)i, have_pkg ? &pkg : NULL, now);
    }
    vmctld_reg_rollout_devices_free(rows);
}

/* "r12" -> 12; 0 if not of that form. */
static uint32_t
seq_of(const char *id)
{
    char *end;
    unsigned long v;

    if (id[0] != 'r' || id[1] < '0' || id[1] > '9')
        return 0;
    v = strtoul(id + 1, &end, 10);
    return *end == '\0' && v <= UINT32_MAX ? (uint32_t)v : 0;
}

int
ctld__ros_load(ctld_t *c, char *err, size_t errlen)
{
    vmctld_reg_rollout_t *list = NULL;
    vmctld_rollout_counts_t cnt;
    ctld__ro_t *ro;
    char why[256];
    size_t n = 0, i;
    int64_t now = ctld__now_ms();
    int rc;

    if ((rc = vmctld_reg_rollout_list(c->reg, &list, &n)) != 0)
        return ctld__reg_err(c->reg, rc, err, errlen, "loading rollouts");
    for (i = 0; i < n; i++) {
        vmctld_reg_rollout_t *r = &list[i];

        if (seq_of(r->id) > c->ro_seq)
            c->ro_seq = seq_of(r->id);
        if (strcmp(r->state, "pending") != 0 &&
            strcmp(r->state, "running") != 0 &&
            strcmp(r->state, "paused") != 0 &&
            strcmp(r->state, "aborted") != 0)
            continue;
        if (r->blob == NULL) {
            if (strcmp(r->state, "aborted") != 0)
                LOG_WARN("rollout %s: no saved state (an older vmctld made "
                         "it); it stays %s",
                         r->id, r->state);
            continue;
        }
        if ((ro = calloc(1, sizeof(*ro))) == NULL) {
            rc = CTLD_ENOMEM;
            break;
        }
        if ((rc = vmctld_rollout_load(r->blob, r->blob_len, &ro->sm, why,
                                      sizeof(why))) != 0) {
            LOG_ERR("rollout %s: its saved state is unusable (%s); it stays "
                    "%s",
                    r->id, why, r->state);
            free(ro);
            rc = 0;
            continue;
        }
        vmctld_rollout_counts(ro->sm, &cnt);
        if (state_final(vmctld_rollout_state(ro->sm)) && cnt.in_flight == 0) {
            ro_free(ro);
            continue;
        }
        ctld__copy(ro->id, sizeof(ro->id), r->id);
        ctld__copy(ro->vm, sizeof(ro->vm), r->vm);
        ctld__copy(ro->package, sizeof(ro->package), r->package_sha);
        ctld__copy(ro->version, sizeof(ro->version), r->version);
        ctld__copy(ro->target, sizeof(ro->target), r->target);
        ro->health_window_ms = r->health_window_ms;
        ro->device_timeout_s = r->device_timeout_s;
        ro->created_ms = r->created_ms;
        ro->updated_ms = r->updated_ms;
        params_json(ro);
        if ((rc = ro_index_build(ro)) != 0) {
            ro_free(ro);
            break;
        }
        ro->next = c->ros;
        c->ros = ro;
        LOG_INFO("rollout %s: %s %s continues (%s; %zu of %zu devices "
                 "done)",
                 ro->id, ro->vm, ro->version,
                 vmctld_rollout_state_name(ro_state(ro)),
                 cnt.succeeded + cnt.failed, cnt.total);
        reconcile(c, ro, now);
    }
    vmctld_reg_rollouts_free(list, n);
    if (rc != 0)
        return ctld__err(err, errlen, rc, "loading rollouts: out of memory");
    return 0;
}

/* ---- the API ------------------------------------------------------------ */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* "devices d1,d2,..." within the target column's size. */
static void
target_text(char *buf, size_t len, const char *head, const char *const *v,
            size_t n)
{
    size_t used, i, l;

    snprintf(buf, len, "%s", head);
    used = strlen(buf);
    for (i = 0; i < n; i++) {
        l = strlen(v[i]);
        if (used + l + 2 + 16 >= len) {
            snprintf(buf + used, len - used, "... (%zu)", n);
            return;
        }
        snprintf(buf + used, len - used, "%s%s", i > 0 ? "," : "", v[i]);
        used = strlen(buf);
    }
}

/*
 * resolve: the target's device ids, sorted, into a malloc()ed array of
 * pointers (into `devs` or the request, valid while those are).
 * Return: 0, or EINVAL with err naming the field.
 */
static int
resolve(ctld_t *c, const ctld_rollout_req_t *req, vmctld_reg_device_t **devs,
        size_t *ndevs, const char ***ids, size_t *n, char *target,
        size_t tlen, char *err, size_t errlen)
{
    const char **v;
    size_t i, cnt;
    int rc;

    *devs = NULL;
    *ndevs = 0;
    if (req->ndevices > 0) {
        if (req->devices == NULL)
            return ctld__err(err, errlen, CTLD_EINVAL, "devices: missing");
        if ((v = calloc(req->ndevices, sizeof(*v))) == NULL)
            return ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
        for (i = 0; i < req->ndevices; i++) {
            if (req->devices[i] == NULL ||
                ctld__dev_find(c, req->devices[i]) == NULL) {
                rc = ctld__err(err, errlen, CTLD_EINVAL,
                               "devices: no device %s",
                               req->devices[i] != NULL ? req->devices[i]
                                                       : "(null)");
                free(v);
                return rc;
            }
            v[i] = req->devices[i];
        }
        cnt = req->ndevices;
        qsort(v, cnt, sizeof(*v), cmp_str);
        for (i = 1; i < cnt; i++) {
            if (strcmp(v[i - 1], v[i]) == 0) {
                rc = ctld__err(err, errlen, CTLD_EINVAL,
                               "devices: %s is given twice", v[i]);
                free(v);
                return rc;
            }
        }
        target_text(target, tlen, "devices ", v, cnt);
    } else {
        rc = ctld__devs_select(c->reg, req->labels, req->nlabels, -1, devs,
                               ndevs);
        if (rc == CTLD_EINVAL)
            return ctld__err(err, errlen, rc,
                             "labels: expected key=value with a non-empty "
                             "key");
        if (rc != 0)
            return ctld__err(err, errlen, rc, "target: %s",
                             ctld_strerror(rc));
        cnt = *ndevs;
        if (cnt == 0)
            return ctld__err(err, errlen, CTLD_EINVAL,
                             "target: matches no device");
        if ((v = calloc(cnt, sizeof(*v))) == NULL)
            return ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
        for (i = 0; i < cnt; i++)
            v[i] = (*devs)[i].id; /* ordered by id by the registry */
        if (req->all)
            snprintf(target, tlen, "all");
        else
            target_text(target, tlen, "label ", req->labels, req->nlabels);
    }
    *ids = v;
    *n = cnt;
    return 0;
}

/* The rollout record without devices, from the state machine. */
static void
fill(ctld_rollout_t *o, const char *id, const char *vm, const char *pkg,
     const char *version, const char *target, uint32_t health_window_ms,
     uint32_t device_timeout_s, int64_t created, int64_t updated,
     const vmctld_rollout_t *sm, const char *state)
{
    const vmctld_rollout_params_t *p;
    vmctld_rollout_counts_t n;

    memset(o, 0, sizeof(*o));
    ctld__copy(o->id, sizeof(o->id), id);
    ctld__copy(o->vm, sizeof(o->vm), vm);
    ctld__copy(o->package, sizeof(o->package), pkg);
    ctld__copy(o->version, sizeof(o->version), version);
    ctld__copy(o->target, sizeof(o->target), target);
    o->health_window_ms = health_window_ms;
    o->device_timeout_s = device_timeout_s;
    o->created_ms = created;
    o->updated_ms = updated;
    if (sm == NULL) {
        ctld__copy(o->state, sizeof(o->state), state);
        return;
    }
    ctld__copy(o->state, sizeof(o->state),
               vmctld_rollout_state_name(vmctld_rollout_state(sm)));
    ctld__copy(o->pause_reason, sizeof(o->pause_reason),
               vmctld_rollout_pause_text(sm));
    p = vmctld_rollout_params(sm);
    o->canary = p->canary;
    o->batch = p->batch;
    o->batch_pct = p->batch_pct;
    o->max_failures = p->max_failures;
    o->max_failures_pct = p->max_failures_pct;
    vmctld_rollout_counts(sm, &n);
    o->total = n.total;
    o->waiting = n.waiting;
    o->in_flight = n.in_flight;
    o->succeeded = n.succeeded;
    o->failed = n.failed;
}

static void
fill_ro(ctld_rollout_t *o, const ctld__ro_t *ro)
{
    fill(o, ro->id, ro->vm, ro->package, ro->version, ro->target,
         ro->health_window_ms, ro->device_timeout_s, ro->created_ms,
         ro->updated_ms, ro->sm, NULL);
}

/* A rollout that is not in memory, from its registry row and blob. */
static void
fill_reg(ctld_rollout_t *o, const vmctld_reg_rollout_t *r)
{
    vmctld_rollout_t *sm = NULL;

    if (r->blob != NULL &&
        vmctld_rollout_load(r->blob, r->blob_len, &sm, NULL, 0) != 0)
        sm = NULL;
    fill(o, r->id, r->vm, r->package_sha, r->version, r->target,
         r->health_window_ms, r->device_timeout_s, r->created_ms,
         r->updated_ms, sm, r->state);
    vmctld_rollout_destroy(sm);
}

int
ctld_rollout_create(ctld_t *c, const ctld_rollout_req_t *req,
                    ctld_rollout_t *out, char *err, size_t errlen)
{
    vmctld_rollout_params_t p;
    vmctld_reg_package_t pkg;
    vmctld_reg_device_t *devs = NULL;
    vmctld_reg_rollout_device_t *rows = NULL;
    vmctld_reg_rollout_t r;
    vmctld_rollout_device_t d;
    const char **ids = NULL;
    ctld__ro_t *ro = NULL, *o;
    char target[VMCTLD_REG_MSG_MAX], why[256];
    size_t ndevs = 0, n = 0, i;
    int64_t now = ctld__now_ms();
    int rc, ntargets;

    if (c == NULL || req == NULL)
        return ctld__err(err, errlen, CTLD_EINVAL, "no request");
    if (req->vm == NULL || strlen(req->vm) >= VMF_NAME_MAX ||
        !vmf_device_id_valid(req->vm))
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "vm: expected 1 to %d characters of "
                         "[A-Za-z0-9._-]",
                         VMF_NAME_MAX - 1);
    if (!ctld__sha_ok(req->package))
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "package: expected a SHA-256 of 64 lowercase hex "
                         "digits");
    ntargets = (req->ndevices > 0) + (req->nlabels > 0) + (req->all ? 1 : 0);
    if (ntargets != 1)
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "target: give exactly one of devices, labels and "
                         "all");
    if (req->nlabels > 0 && req->labels == NULL)
        return ctld__err(err, errlen, CTLD_EINVAL, "labels: missing");
    vmctld_rollout_params_default(&p);
    p.canary = req->canary;
    if (req->batch != 0) {
        p.batch = req->batch;
        p.batch_pct = req->batch_pct;
    }
    p.max_failures = req->max_failures;
    p.max_failures_pct = req->max_failures_pct;
    if (vmctld_rollout_params_check(&p, why, sizeof(why)) != 0)
        return ctld__err(err, errlen, CTLD_EINVAL, "%s", why);

    pthread_mutex_lock(&c->lock);
    if ((rc = vmctld_reg_package_get(c->reg, req->package, &pkg)) != 0) {
        rc = rc == VMCTLD_REG_ENOTFOUND
                 ? ctld__err(err, errlen, CTLD_ENOTFOUND,
                             "package: no package %s", req->package)
                 : ctld__reg_err(c->reg, rc, err, errlen, "package");
        goto out;
    }
    if (strcmp(pkg.vm, req->vm) != 0) {
        rc = ctld__err(err, errlen, CTLD_EINVAL,
                       "package: it is for VM %s, not %s", pkg.vm, req->vm);
        goto out;
    }
    if ((rc = resolve(c, req, &devs, &ndevs, &ids, &n, target,
                      sizeof(target), err, errlen)) != 0)
        goto out;
    for (o = c->ros; o != NULL; o = o->next) {
        if (state_final(ro_state(o)) || strcmp(o->vm, req->vm) != 0)
            continue;
        for (i = 0; i < n; i++) {
            if (ro_index(o, ids[i]) >= 0) {
                rc = ctld__err(err, errlen, CTLD_EINUSE,
                               "target: device %s is in rollout %s of %s, "
                               "which has not ended",
                               ids[i], o->id, o->vm);
                goto out;
            }
        }
    }
    p.timeout_ms = (uint64_t)(req->device_timeout_s != 0
                                  ? req->device_timeout_s
                                  : c->cfg.rollout_device_timeout_s) *
                   1000u;
    if ((ro = calloc(1, sizeof(*ro))) == NULL ||
        (ro->sm = vmctld_rollout_create(&p, ids, n, (uint64_t)now, why,
                                        sizeof(why))) == NULL) {
        rc = ro == NULL ? ctld__err(err, errlen, CTLD_ENOMEM, "out of memory")
                        : ctld__err(err, errlen, CTLD_EINVAL, "%s", why);
        goto out;
    }
    snprintf(ro->id, sizeof(ro->id), "r%u", c->ro_seq + 1);
    ctld__copy(ro->vm, sizeof(ro->vm), req->vm);
    ctld__copy(ro->package, sizeof(ro->package), pkg.sha256);
    ctld__copy(ro->version, sizeof(ro->version), pkg.version);
    ctld__copy(ro->target, sizeof(ro->target), target);
    ro->health_window_ms = req->health_window_ms != 0
                               ? req->health_window_ms
                               : c->cfg.rollout_health_window_ms;
    ro->device_timeout_s = (uint32_t)(p.timeout_ms / 1000u);
    ro->created_ms = now;
    ro->updated_ms = now;
    params_json(ro);
    if ((rc = ro_index_build(ro)) != 0) {
        rc = ctld__err(err, errlen, rc, "out of memory");
        goto out;
    }

    /* The rollout and all its rows in one transaction. */
    if ((rows = calloc(n, sizeof(*rows))) == NULL) {
        rc = ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        vmctld_rollout_device(ro->sm, i, &d);
        ctld__copy(rows[i].rollout, sizeof(rows[i].rollout), ro->id);
        ctld__copy(rows[i].device, sizeof(rows[i].device), d.id);
        rows[i].batch = (int32_t)d.batch;
        ctld__copy(rows[i].state, sizeof(rows[i].state),
                   vmctld_rollout_dev_state_name(d.state));
        rows[i].updated_ms = now;
    }
    memset(&r, 0, sizeof(r));
    if (vmctld_rollout_save(ro->sm, &r.blob, &r.blob_len) != 0) {
        rc = ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
        goto out;
    }
    ro_row(ro, &r);
    r.created_ms = now;
    r.updated_ms = now;
    rc = vmctld_reg_rollout_create(c->reg, &r, rows, n);

    free(r.blob);
    if (rc != 0) {
        rc = ctld__reg_err(c->reg, rc, err, errlen, "storing the rollout");
        goto out;
    }
    c->ro_seq++;
    ro->next = c->ros;
    c->ros = ro;
    LOG_INFO("rollout %s: %s %s (package %.12s) to %zu devices (%s); "
             "canary %u, batch %u%s, max failures %u%s",
             ro->id, ro->vm, ro->version, ro->package, n, ro->target,
             p.canary, p.batch, p.batch_pct ? "%" : "", p.max_failures,
             p.max_failures_pct ? "%" : "");
    ctld__emit(c, CTLD_EV_ROLLOUT, "", ro->id, ro->vm, "pending", 0,
               "created", 0);
    o = ro;
    ro = NULL;
    /* Start now: the canary goes out before this call returns. */
    if (stepped(c, o, now)) {
        if (out != NULL)
            fill_ro(out, o);
        ro_unlink(c, o);
        ro_free(o);
    } else if (out != NULL) {
        fill_ro(out, o);
    }
    rc = 0;
out:
    pthread_mutex_unlock(&c->lock);
    free(rows);
    free(ids);
    vmctld_reg_devices_free(devs, ndevs);
    ro_free(ro);
    return rc;
}

int
ctld_rollout_list(ctld_t *c, ctld_rollout_t **out, size_t *n)
{
    vmctld_reg_rollout_t *list = NULL;
    ctld_rollout_t *arr = NULL;
    const ctld__ro_t *ro;
    vmctld_reg_t *reg;
    bool *live = NULL;
    size_t cnt = 0, i;
    int rc;

    if (c == NULL || out == NULL || n == NULL)
        return CTLD_EINVAL;
    reg = ctld__rd_lock(c);
    if ((rc = vmctld_reg_rollout_list(reg, &list, &cnt)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0, "listing rollouts");
    ctld__rd_unlock(c);
    if (rc != 0)
        return rc;
    if (cnt > 0 && ((arr = calloc(cnt, sizeof(*arr))) == NULL ||
                    (live = calloc(cnt, sizeof(*live))) == NULL)) {
        free(arr);
        vmctld_reg_rollouts_free(list, cnt);
        return CTLD_ENOMEM;
    }
    /* Newest first (the registry gives them oldest first); those with a
     * state machine in memory from it, the others from their blobs,
     * which needs no lock. */
    pthread_mutex_lock(&c->lock);
    for (i = 0; i < cnt; i++) {
        if ((ro = ro_find(c, list[cnt - 1 - i].id)) != NULL) {
            fill_ro(&arr[i], ro);
            live[i] = true;
        }
    }
    pthread_mutex_unlock(&c->lock);
    for (i = 0; i < cnt; i++)
        if (!live[i])
            fill_reg(&arr[i], &list[cnt - 1 - i]);
    free(live);
    vmctld_reg_rollouts_free(list, cnt);
    *out = arr;
    *n = arr != NULL ? cnt : 0;
    return 0;
}

int
ctld_rollout_get(ctld_t *c, const char *id, ctld_rollout_t *out)
{
    vmctld_reg_rollout_device_t *rows = NULL;
    vmctld_reg_rollout_t r;
    vmctld_reg_t *reg;
    bool live;
    size_t n = 0, i;
    int rc = 0;

    if (c == NULL || id == NULL || out == NULL)
        return CTLD_EINVAL;
    memset(out, 0, sizeof(*out));
    if (id[0] == '\0' || strlen(id) >= CTLD_ID_MAX)
        return CTLD_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    if ((live = ro_find(c, id) != NULL))
        fill_ro(out, ro_find(c, id));
    pthread_mutex_unlock(&c->lock);
    /* The rest on the second connection: a rollout of a thousand
     * devices has a thousand rows, which the core need not wait for. */
    reg = ctld__rd_lock(c);
    if (!live) {
        if ((rc = vmctld_reg_rollout_get(reg, id, &r)) != 0) {
            rc = ctld__reg_err(reg, rc, NULL, 0, "reading a rollout");
            goto out;
        }
        fill_reg(out, &r);
        vmctld_reg_rollout_clear(&r);
    }
    if ((rc = vmctld_reg_rollout_device_list(reg, id, &rows, &n)) != 0) {
        rc = ctld__reg_err(reg, rc, NULL, 0, "reading a rollout's devices");
        goto out;
    }
    if (n > 0 && (out->devices = calloc(n, sizeof(*out->devices))) == NULL) {
        rc = CTLD_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        ctld_rollout_dev_t *d = &out->devices[i];

        ctld__copy(d->device, sizeof(d->device), rows[i].device);
        d->batch = rows[i].batch < 0 ? 0 : (uint32_t)rows[i].batch;
        ctld__copy(d->state, sizeof(d->state), rows[i].state);
        d->code = rows[i].code;
        ctld__copy(d->message, sizeof(d->message), rows[i].message);
        ctld__copy(d->command, sizeof(d->command), rows[i].command);
        d->updated_ms = rows[i].updated_ms;
    }
    out->ndevices = n;
    if (!live && out->total == 0) {
        /* No state machine (an older row): count the rows. */
        out->total = n;
        for (i = 0; i < n; i++) {
            if (strcmp(rows[i].state, "waiting") == 0)
                out->waiting++;
            else if (strcmp(rows[i].state, "sent") == 0)
                out->in_flight++;
            else if (strcmp(rows[i].state, "succeeded") == 0)
                out->succeeded++;
            else
                out->failed++;
        }
    }
out:
    ctld__rd_unlock(c);
    vmctld_reg_rollout_devices_free(rows);
    if (rc != 0)
        ctld_rollout_clear(out);
    return rc;
}

enum ro_op { OP_PAUSE, OP_RESUME, OP_ABORT };

static int
ro_control(ctld_t *c, const char *id, ctld_rollout_t *out, enum ro_op op)
{
    static const char *const verbs[] = { "paused", "resumed", "aborted" };
    vmctld_reg_rollout_t r;
    vmctld_rollout_state_t before;
    ctld__ro_t *ro;
    int64_t now = ctld__now_ms();
    int rc;

    if (c == NULL || id == NULL)
        return CTLD_EINVAL;
    if (id[0] == '\0' || strlen(id) >= CTLD_ID_MAX)
        return CTLD_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    if ((ro = ro_find(c, id)) == NULL) {
        /* Not in memory: ended (ESTATE), or no such rollout. */
        rc = vmctld_reg_rollout_get(c->reg, id, &r);
        if (rc == 0) {
            if (out != NULL)
                fill_reg(out, &r);
            vmctld_reg_rollout_clear(&r);
            rc = CTLD_ESTATE;
        } else {
            rc = ctld__reg_err(c->reg, rc, NULL, 0, "reading a rollout");
        }
        goto out;
    }
    before = ro_state(ro);
    rc = op == OP_PAUSE    ? vmctld_rollout_pause(ro->sm)
         : op == OP_RESUME ? vmctld_rollout_resume(ro->sm)
                           : vmctld_rollout_abort(ro->sm);
    if (rc != 0) {
        rc = CTLD_ESTATE;
        if (out != NULL)
            fill_ro(out, ro);
        goto out;
    }
    LOG_INFO("rollout %s: %s by the operator (was %s)", ro->id, verbs[op],
             vmctld_rollout_state_name(before));
    ro->updated_ms = now;
    persist(c, ro);
    ctld__emit(c, CTLD_EV_ROLLOUT, "", ro->id, ro->vm,
               vmctld_rollout_state_name(ro_state(ro)), 0, verbs[op], 0);
    if (op == OP_RESUME)
        (void)stepped(c, ro, now); /* the next batch goes out now */
    if (out != NULL)
        fill_ro(out, ro);
    if (ro_done(ro)) {
        ro_unlink(c, ro);
        ro_free(ro);
    }
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int
ctld_rollout_pause(ctld_t *c, const char *id, ctld_rollout_t *out)
{
    return ro_control(c, id, out, OP_PAUSE);
}

int
ctld_rollout_resume(ctld_t *c, const char *id, ctld_rollout_t *out)
{
    return ro_control(c, id, out, OP_RESUME);
}

int
ctld_rollout_abort(ctld_t *c, const char *id, ctld_rollout_t *out)
{
    return ro_control(c, id, out, OP_ABORT);
}

void
ctld_rollout_clear(ctld_rollout_t *r)
{
    if (r == NULL)
        return;
    free(r->devices);
    r->devices = NULL;
    r->ndevices = 0;
}
