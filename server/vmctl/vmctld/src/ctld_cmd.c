/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld commands: the queue of commands to devices, their results, and the
 * transfers that go with them (docs/protocol.md).
 *
 * Every command is a row in the registry from the moment it exists; the
 * unfinished ones are also in memory (c->cmds, the device's list and the
 * list of all), where their results and transfers find them in O(1) or
 * by a walk of one device's few commands.  A row is written at every
 * state change; transfer progress (percent) stays in memory until the
 * next one.
 *
 * Downloads are pulled by the device: a chunk request names a transfer
 * id derived from the blob ("p" or "s" + 40 hex digits of its SHA-256),
 * and is answered from a bounded in-memory cache of blobs, so that a
 * rollout serves one package to a thousand devices from one copy.  A
 * request is served only to a device that has an unfinished command
 * with that transfer.
 *
 * Snapshot uploads are pushed by the device after its final OK: chunks
 * are checked and written into a temporary file of the store, tracked
 * in a bitmap; when nothing arrived for CTLD_UPREQ_IDLE_MS, the missing
 * ones are asked for again.  The command stays ACCEPTED until the whole
 * upload matches its SHA-256, or fails at its deadline.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld_internal.h"

#define RETRY_MS 2000 /* a send that failed is tried again after this */

/* ---- records ------------------------------------------------------------ */

static ctld_cmd_state_t
state_from_reg(vmctld_reg_cmd_state_t s, int32_t code)
{
    switch (s) {
    case VMCTLD_REG_CMD_QUEUED:
        return CTLD_CMD_QUEUED;
    case VMCTLD_REG_CMD_SENT:
        return CTLD_CMD_SENT;
    case VMCTLD_REG_CMD_ACCEPTED:
        return CTLD_CMD_ACCEPTED;
    case VMCTLD_REG_CMD_DONE:
        return code == 0 ? CTLD_CMD_SUCCEEDED : CTLD_CMD_FAILED;
    case VMCTLD_REG_CMD_TIMED_OUT:
        return CTLD_CMD_TIMED_OUT;
    case VMCTLD_REG_CMD_CANCELLED:
        return CTLD_CMD_CANCELLED;
    default:
        return CTLD_CMD_EXPIRED;
    }
}

static vmctld_reg_cmd_state_t
state_to_reg(ctld_cmd_state_t s)
{
    switch (s) {
    case CTLD_CMD_QUEUED:
        return VMCTLD_REG_CMD_QUEUED;
    case CTLD_CMD_SENT:
        return VMCTLD_REG_CMD_SENT;
    case CTLD_CMD_ACCEPTED:
        return VMCTLD_REG_CMD_ACCEPTED;
    case CTLD_CMD_SUCCEEDED:
    case CTLD_CMD_FAILED:
        return VMCTLD_REG_CMD_DONE;
    case CTLD_CMD_TIMED_OUT:
        return VMCTLD_REG_CMD_TIMED_OUT;
    case CTLD_CMD_CANCELLED:
        return VMCTLD_REG_CMD_CANCELLED;
    default:
        return VMCTLD_REG_CMD_EXPIRED;
    }
}

void
ctld__cmd_rec_from_reg(ctld_command_t *r, const vmctld_reg_command_t *g)
{
    int kind = vmf_cmd_parse(g->kind);

    memset(r, 0, sizeof(*r));
    ctld__copy(r->id, sizeof(r->id), g->id);
    ctld__copy(r->device, sizeof(r->device), g->device);
    r->kind = kind < 0 ? VMF_CMD_NONE : kind;
    ctld__copy(r->vm, sizeof(r->vm), g->vm);
    r->state = state_from_reg(g->state, g->code);
    r->code = g->code;
    ctld__copy(r->message, sizeof(r->message), g->message);
    ctld__copy(r->version, sizeof(r->version), g->version);
    ctld__copy(r->package, sizeof(r->package), g->package);
    ctld__copy(r->snapshot, sizeof(r->snapshot), g->snapshot);
    ctld__copy(r->rollout, sizeof(r->rollout), g->rollout);
    r->percent = g->percent > 100 ? 100 : g->percent;
    r->created_ms = g->created_ms;
    r->updated_ms = g->updated_ms;
    r->expires_ms = g->expires_ms;
    r->deadline_ms = g->deadline_ms;
}

/* The registry row of k; borrows k's body. */
static void
reg_from_cmd(vmctld_reg_command_t *g, const ctld__cmd_t *k)
{
    const ctld_command_t *r = &k->r;

    memset(g, 0, sizeof(*g));
    ctld__copy(g->id, sizeof(g->id), r->id);
    ctld__copy(g->device, sizeof(g->device), r->device);
    ctld__copy(g->kind, sizeof(g->kind), vmf_cmd_name(r->kind));
    ctld__copy(g->vm, sizeof(g->vm), r->vm);
    g->body = k->body;
    g->body_len = k->body_len;
    g->state = state_to_reg(r->state);
    g->code = r->code;
    ctld__copy(g->message, sizeof(g->message), r->message);
    g->created_ms = r->created_ms;
    g->expires_ms = r->expires_ms;
    g->updated_ms = r->updated_ms;
    ctld__copy(g->version, sizeof(g->version), r->version);
    ctld__copy(g->package, sizeof(g->package), r->package);
    ctld__copy(g->snapshot, sizeof(g->snapshot), r->snapshot);
    ctld__copy(g->rollout, sizeof(g->rollout), r->rollout);
    g->percent = r->percent;
    g->timeout_s = k->timeout_s;
    g->deadline_ms = r->deadline_ms;
}

/* Write k's changing fields; a failure is logged (memory stays right). */
static void
save(ctld_t *c, const ctld__cmd_t *k)
{
    vmctld_reg_command_t g;
    int rc;

    reg_from_cmd(&g, k);
    if ((rc = vmctld_reg_command_save(c->reg, &g)) != 0)
        LOG_ERR("command %s: saving state %s: %s", k->r.id,
                ctld_cmd_state_name(k->r.state), vmctld_reg_errmsg(c->reg));
}

/* "update sensor on d7" */
static const char *
what(const ctld__cmd_t *k, char *buf, size_t len)
{
    if (k->r.vm[0] != '\0')
        snprintf(buf, len, "%s %s on %s", vmf_cmd_name(k->r.kind), k->r.vm,
                 k->r.device);
    else
        snprintf(buf, len, "%s on %s", vmf_cmd_name(k->r.kind),
                 k->r.device);
    return buf;
}

/* ---- lists -------------------------------------------------------------- */

static void
upload_free(ctld__upload_t *up)
{
    if (up == NULL)
        return;
    vmctld_store_tmp_discard(up->tmp);
    free(up->bits);
    free(up);
}

static void
cmd_free(ctld__cmd_t *k)
{
    if (k == NULL)
        return;
    upload_free(k->up);
    free(k->body);
    free(k);
}

static int
link_cmd(ctld_t *c, ctld__cmd_t *k)
{
    ctld__dev_t *d = k->dev;

    if (ctld__map_put(&c->cmds, k->r.id, k) != 0)
        return CTLD_ENOMEM;
    k->dprev = d->cmd_tail;
    k->dnext = NULL;
    if (d->cmd_tail != NULL)
        d->cmd_tail->dnext = k;
    else
        d->cmd_head = k;
    d->cmd_tail = k;
    k->aprev = c->cmd_tail;
    k->anext = NULL;
    if (c->cmd_tail != NULL)
        c->cmd_tail->anext = k;
    else
        c->cmd_head = k;
    c->cmd_tail = k;
    return 0;
}

static void
unlink_cmd(ctld_t *c, ctld__cmd_t *k)
{
    ctld__dev_t *d = k->dev;

    ctld__map_del(&c->cmds, k->r.id);
    if (k->dprev != NULL)
        k->dprev->dnext = k->dnext;
    else
        d->cmd_head = k->dnext;
    if (k->dnext != NULL)
        k->dnext->dprev = k->dprev;
    else
        d->cmd_tail = k->dprev;
    if (k->aprev != NULL)
        k->aprev->anext = k->anext;
    else
        c->cmd_head = k->anext;
    if (k->anext != NULL)
        k->anext->aprev = k->aprev;
    else
        c->cmd_tail = k->aprev;
    k->dnext = k->dprev = k->anext = k->aprev = NULL;
}

ctld__cmd_t *
ctld__cmd_find(ctld_t *c, const char *id)
{
    return ctld__map_get(&c->cmds, id);
}

void
ctld__xfer_id(vmctld_store_kind_t kind, const char *sha, char *buf,
              size_t len)
{
    snprintf(buf, len, "%c%.40s", kind == VMCTLD_STORE_SNAPSHOT ? 's' : 'p',
             sha);
}

/* Hex SHA-256 to bytes; the caller checked it with ctld__sha_ok(). */
static void
unhex(const char *s, uint8_t out[32])
{
    size_t i;
    int hi, lo;

    for (i = 0; i < 32; i++) {
        hi = s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10;
        lo = s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0'
                                 : s[2 * i + 1] - 'a' + 10;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

/* The download a command carries, from its encoded body. */
static void
xfer_from_body(ctld__cmd_t *k)
{
    vmf_cmd_t m;

    k->has_xfer = false;
    if (k->body == NULL || vmf_cmd_decode(k->body, k->body_len, &m) != 0 ||
        !m.has_xfer)
        return;
    k->has_xfer = true;
    k->xfer = m.xfer;
    k->xfer_kind = k->r.kind == VMF_CMD_RESTORE ? VMCTLD_STORE_SNAPSHOT
                                                : VMCTLD_STORE_PACKAGE;
}

int
ctld__cmds_load(ctld_t *c, char *err, size_t errlen)
{
    vmctld_reg_command_t *list = NULL;
    ctld__cmd_t *k;
    ctld__dev_t *d;
    size_t n = 0, i;
    int rc;

    if ((rc = vmctld_reg_command_list_unfinished(c->reg, &list, &n)) != 0)
        return ctld__reg_err(c->reg, rc, err, errlen, "loading commands");
    for (i = 0; i < n; i++) {
        if ((d = ctld__dev_find(c, list[i].device)) == NULL) {
            LOG_WARN("command %s: device %s is not known; left as is",
                     list[i].id, list[i].device);
            continue;
        }
        if ((k = calloc(1, sizeof(*k))) == NULL) {
            rc = CTLD_ENOMEM;
            break;
        }
        ctld__cmd_rec_from_reg(&k->r, &list[i]);
        k->timeout_s = list[i].timeout_s;
        k->body = list[i].body; /* taken over */
        k->body_len = list[i].body_len;
        list[i].body = NULL;
        list[i].body_len = 0;
        k->dev = d;
        xfer_from_body(k);
        if ((rc = link_cmd(c, k)) != 0) {
            cmd_free(k);
            break;
        }
    }
    vmctld_reg_commands_free(list, n);
    if (rc != 0)
        return ctld__err(err, errlen, rc, "loading commands: out of memory");
    return 0;
}

void
ctld__cmds_free(ctld_t *c)
{
    ctld__cmd_t *k, *next;

    for (k = c->cmd_head; k != NULL; k = next) {
        next = k->anext;
        cmd_free(k);
    }
    c->cmd_head = c->cmd_tail = NULL;
    ctld__map_free(&c->cmds);
}

/* ---- state changes ------------------------------------------------------ */

/* A change that is not final: store it, tell the sink and the waiters. */
static void
set_state(ctld_t *c, ctld__cmd_t *k, ctld_cmd_state_t st, int64_t now)
{
    k->r.state = st;
    k->r.updated_ms = now;
    save(c, k);
    ctld__emit(c, CTLD_EV_COMMAND, k->r.device, k->r.id, k->r.vm,
               ctld_cmd_state_name(st), 0, k->r.message, k->r.percent);
    pthread_cond_broadcast(&c->cmd_cond);
}

void
ctld__cmd_finish(ctld_t *c, ctld__cmd_t *k, ctld_cmd_state_t st,
                 int32_t code, const char *msg, int64_t now)
{
    char w[256], cn[16];

    k->r.state = st;
    k->r.code = code;
    if (msg != NULL)
        ctld__copy(k->r.message, sizeof(k->r.message), msg);
    if (st == CTLD_CMD_SUCCEEDED && k->has_xfer)
        k->r.percent = 100;
    k->r.updated_ms = now;
    save(c, k);
    what(k, w, sizeof(w));
    if (st == CTLD_CMD_SUCCEEDED)
        LOG_INFO("command %s: %s succeeded%s%s", k->r.id, w,
                 k->r.version[0] != '\0' ? ", version " : "", k->r.version);
    else if (code != 0)
        LOG_INFO("command %s: %s %s: %s (%s)", k->r.id, w,
                 ctld_cmd_state_name(st), ctld__code_name(code, cn, sizeof(cn)),
                 k->r.message);
    else
        LOG_INFO("command %s: %s %s: %s", k->r.id, w,
                 ctld_cmd_state_name(st), k->r.message);
    ctld__emit(c, CTLD_EV_COMMAND, k->r.device, k->r.id, k->r.vm,
               ctld_cmd_state_name(st), code, k->r.message, k->r.percent);
    pthread_cond_broadcast(&c->cmd_cond);
    unlink_cmd(c, k);
    if (k->r.rollout[0] != '\0')
        ctld__ro_on_cmd_final(c, k, now);
    cmd_free(k);
}

/* ---- sending ------------------------------------------------------------ */

/*
 * send_cmd: publish k (again).  The first send starts its deadline; a
 * re-send (same id: the device de-duplicates) changes nothing.
 * Return: 0, or the publish error (k stays as it was and is tried again
 * after RETRY_MS by the ticker).
 */
static int
send_cmd(ctld_t *c, ctld__cmd_t *k, int64_t now)
{
    char w[256];
    int rc;

    if ((rc = ctld__publish(c, k->r.device, "cmd", k->body, k->body_len,
                            k->r.id)) != 0) {
        k->retry_ms = now + RETRY_MS;
        return rc;
    }
    if (k->r.state == CTLD_CMD_QUEUED) {
        k->r.deadline_ms = now + (int64_t)k->timeout_s * 1000;
        LOG_INFO("command %s: %s sent", k->r.id, what(k, w, sizeof(w)));
        set_state(c, k, CTLD_CMD_SENT, now);
    } else {
        LOG_DEBUG("command %s: %s sent again", k->r.id,
                  what(k, w, sizeof(w)));
    }
    return 0;
}

void
ctld__cmds_flush(ctld_t *c, ctld__dev_t *d, int64_t now)
{
    ctld__cmd_t *k, *next;

    for (k = d->cmd_head; k != NULL; k = next) {
        next = k->dnext;
        if (send_cmd(c, k, now) != 0)
            break; /* the broker link is down: the ticker retries */
    }
}

void
ctld__cmd_send_cancel(ctld_t *c, const char *device, const char *id)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    vmf_cmd_t m;

    vmf_cmd_init(&m);
    ctld__rand_id(m.id, sizeof(m.id), 'c');
    m.kind = VMF_CMD_CANCEL;
    ctld__copy(m.device, sizeof(m.device), device);
    ctld__copy(m.cancel_id, sizeof(m.cancel_id), id);
    m.issued_ms = (uint64_t)ctld__now_ms();
    if (vmf_cmd_encode(&m, &buf, &len) != 0)
        return;
    if (ctld__publish(c, device, "cmd", buf, len, m.id) == 0)
        LOG_INFO("command %s: cancel sent to %s (as %s)", id, device, m.id);
    free(buf);
}

int
ctld__cmd_create(ctld_t *c, const ctld__cmd_new_t *n, int64_t now,
                 ctld__cmd_t **out, char *err, size_t errlen)
{
    vmctld_reg_command_t g;
    ctld__cmd_t *k;
    vmf_cmd_t m;
    const char *sha = NULL;
    char w[256];
    int rc;

    if ((k = calloc(1, sizeof(*k))) == NULL)
        return ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
    do {
        ctld__rand_id(k->r.id, sizeof(k->r.id), 'c');
    } while (ctld__cmd_find(c, k->r.id) != NULL);
    ctld__copy(k->r.device, sizeof(k->r.device), n->dev->id);
    k->r.kind = n->kind;
    ctld__copy(k->r.vm, sizeof(k->r.vm), n->vm != NULL ? n->vm : "");
    k->r.state = CTLD_CMD_QUEUED;
    if (n->rollout != NULL)
        ctld__copy(k->r.rollout, sizeof(k->r.rollout), n->rollout);
    k->r.created_ms = now;
    k->r.updated_ms = now;
    k->r.expires_ms = now + (int64_t)n->expiry_s * 1000;
    k->timeout_s = n->timeout_s;
    k->dev = n->dev;

    vmf_cmd_init(&m);
    ctld__copy(m.id, sizeof(m.id), k->r.id);
    m.kind = n->kind;
    ctld__copy(m.device, sizeof(m.device), n->dev->id);
    ctld__copy(m.vm, sizeof(m.vm), k->r.vm);
    m.health_window_ms = n->health_window_ms;
    m.log_bytes = n->log_bytes;
    m.issued_ms = (uint64_t)now;
    if (n->pkg != NULL) {
        sha = n->pkg->sha256;
        ctld__copy(k->r.package, sizeof(k->r.package), sha);
        k->xfer_kind = VMCTLD_STORE_PACKAGE;
        m.xfer.size = n->pkg->size;
    } else if (n->snap != NULL) {
        sha = n->snap->sha256;
        ctld__copy(k->r.snapshot, sizeof(k->r.snapshot), sha);
        k->xfer_kind = VMCTLD_STORE_SNAPSHOT;
        m.xfer.size = n->snap->size;
    }
    if (sha != NULL) {
        m.has_xfer = true;
        ctld__xfer_id(k->xfer_kind, sha, m.xfer.id, sizeof(m.xfer.id));
        unhex(sha, m.xfer.sha256);
        m.xfer.chunk_size = c->cfg.chunk_size;
        k->has_xfer = true;
        k->xfer = m.xfer;
    }
    if ((rc = vmf_cmd_encode(&m, &k->body, &k->body_len)) != 0) {
        cmd_free(k);
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "command: cannot encode (%d)", rc);
    }
    reg_from_cmd(&g, k);
    if ((rc = vmctld_reg_command_put(c->reg, &g)) != 0) {
        rc = ctld__reg_err(c->reg, rc, err, errlen, "storing the command");
        cmd_free(k);
        return rc;
    }
    if ((rc = link_cmd(c, k)) != 0) {
        /* The row stays queued; it is loaded again at the next start. */
        cmd_free(k);
        return ctld__err(err, errlen, rc, "out of memory");
    }
    what(k, w, sizeof(w));
    ctld__emit(c, CTLD_EV_COMMAND, k->r.device, k->r.id, k->r.vm, "queued",
               0, "", 0);
    if (!n->dev->online)
        LOG_INFO("command %s: %s queued (device offline)", k->r.id, w);
    else if (send_cmd(c, k, now) != 0)
        LOG_INFO("command %s: %s queued (broker unreachable)", k->r.id, w);
    if (out != NULL)
        *out = k;
    return 0;
}

/* ---- results and events ------------------------------------------------- */

/* k's unfinished command `id` if it belongs to device `dev`. */
static ctld__cmd_t *
cmd_of(ctld_t *c, const char *dev, const char *id)
{
    ctld__cmd_t *k = ctld__cmd_find(c, id);

    if (k == NULL || strcmp(k->r.device, dev) != 0)
        return NULL;
    return k;
}

/*
 * upload_start: the device's final OK of a SNAPSHOT announces its upload.
 * Return: true if the upload is under way (k stays ACCEPTED); false if k
 * was finished as FAILED.
 */
static bool
upload_start(ctld_t *c, ctld__cmd_t *k, const vmf_result_t *r, int64_t now)
{
    const vmf_xfer_t *x = &r->xfer;
    ctld__upload_t *up;
    uint64_t nchunks;
    char msg[VMF_TEXT_MAX];
    int rc;

    if (!r->has_xfer) {
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER,
                         "the device announced no upload", now);
        return false;
    }
    nchunks = x->chunk_size > 0 ? (x->size + x->chunk_size - 1) / x->chunk_size
                                : 0;
    if (x->size == 0 || x->size > VMCTLD_STORE_BLOB_MAX ||
        x->chunk_size == 0 || x->chunk_size > VMF_CHUNK_MAX ||
        nchunks > UINT32_MAX || x->id[0] == '\0') {
        snprintf(msg, sizeof(msg),
                 "unusable upload: %llu bytes in chunks of %u (at most %u "
                 "bytes)",
                 (unsigned long long)x->size, x->chunk_size,
                 (unsigned)VMCTLD_STORE_BLOB_MAX);
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER, msg, now);
        return false;
    }
    if ((up = calloc(1, sizeof(*up))) == NULL ||
        (up->bits = calloc((size_t)(nchunks + 7) / 8, 1)) == NULL) {
        free(up);
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER,
                         "server out of memory for the upload", now);
        return false;
    }
    if ((rc = vmctld_store_tmp_create(c->store, x->size, &up->tmp)) != 0) {
        upload_free(up);
        snprintf(msg, sizeof(msg), "server: storing the upload: %s",
                 vmctld_store_strerror(rc));
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER, msg, now);
        return false;
    }
    ctld__copy(up->xfer_id, sizeof(up->xfer_id), x->id);
    up->size = x->size;
    up->chunk_size = x->chunk_size;
    up->nchunks = (uint32_t)nchunks;
    memcpy(up->sha, x->sha256, sizeof(up->sha));
    up->last_rx_ms = now;
    up->last_req_ms = now;
    k->up = up;
    LOG_INFO("command %s: snapshot %s on %s: receiving %llu bytes in %u "
             "chunks",
             k->r.id, k->r.vm, k->r.device, (unsigned long long)x->size,
             up->nchunks);
    return true;
}

void
ctld__cmd_on_result(ctld_t *c, const char *dev, const vmf_result_t *r,
                    int64_t now)
{
    ctld__dev_t *d = ctld__dev_find(c, dev);
    ctld__cmd_t *k;

    if (d == NULL)
        return;
    ctld__dev_touch(c, d, now);
    if ((k = cmd_of(c, dev, r->cmd_id)) == NULL) {
        LOG_DEBUG("device %s: result for %s, which is not pending", dev,
                  r->cmd_id);
        return;
    }
    if (!r->final || (k->r.kind == VMF_CMD_SNAPSHOT && r->code == VMF_OK)) {
        if (k->up != NULL)
            return; /* the upload is under way; a repeated answer */
        if (r->final) {
            ctld__copy(k->r.version, sizeof(k->r.version), r->version);
            ctld__copy(k->r.message, sizeof(k->r.message), r->message);
            if (!upload_start(c, k, r, now))
                return;
        } else if (k->r.state == CTLD_CMD_ACCEPTED) {
            return; /* accepted again (a re-send): nothing new */
        }
        if (k->r.deadline_ms == 0)
            k->r.deadline_ms = now + (int64_t)k->timeout_s * 1000;
        set_state(c, k, CTLD_CMD_ACCEPTED, now);
        return;
    }
    ctld__copy(k->r.version, sizeof(k->r.version), r->version);
    if (k->r.kind == VMF_CMD_LOGS)
        ctld__logs_on_result(c, k, r);
    ctld__cmd_finish(c, k,
                     r->code == VMF_OK ? CTLD_CMD_SUCCEEDED : CTLD_CMD_FAILED,
                     (int32_t)r->code, r->message, now);
}

void
ctld__cmd_on_event(ctld_t *c, const char *dev, const vmf_event_t *e,
                   int64_t now)
{
    ctld__dev_t *d = ctld__dev_find(c, dev);
    ctld__cmd_t *k;
    uint32_t pct = e->percent > 100 ? 100 : e->percent;

    if (d == NULL)
        return;
    ctld__dev_touch(c, d, now);
    if (e->kind == VMF_EV_PROGRESS && e->cmd_id[0] != '\0' &&
        (k = cmd_of(c, dev, e->cmd_id)) != NULL)
        k->r.percent = pct;
    switch (e->kind) {
    case VMF_EV_CRASH:
    case VMF_EV_WATCHDOG:
    case VMF_EV_ROLLBACK:
        LOG_WARN("device %s: VM %s: %s: %s", dev, e->vm,
                 vmf_event_name(e->kind), e->detail);
        break;
    case VMF_EV_COMMIT:
    case VMF_EV_RESTART:
        LOG_INFO("device %s: VM %s: %s %s", dev, e->vm,
                 vmf_event_name(e->kind), e->detail);
        break;
    default:
        break;
    }
    ctld__emit(c, CTLD_EV_VM, dev, e->cmd_id, e->vm, vmf_event_name(e->kind),
               0, e->detail, e->kind == VMF_EV_PROGRESS ? pct : 0);
}

/* ---- downloads ---------------------------------------------------------- */

static void
blob_unlink(ctld_t *c, ctld__blob_t *b)
{
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        c->blob_head = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    else
        c->blob_tail = b->prev;
    b->prev = b->next = NULL;
}

static void
blob_push(ctld_t *c, ctld__blob_t *b)
{
    b->prev = NULL;
    b->next = c->blob_head;
    if (c->blob_head != NULL)
        c->blob_head->prev = b;
    else
        c->blob_tail = b;
    c->blob_head = b;
}

static void
blob_free(ctld_t *c, ctld__blob_t *b)
{
    ctld__map_del(&c->blobs, b->xfer_id);
    blob_unlink(c, b);
    c->blob_bytes -= b->len;
    free(b->data);
    free(b);
}

/*
 * blob_get: the bytes of k's download, from the cache or the store.  The
 * least recently used blobs go when the cache is over CTLD_CACHE_MAX
 * (never the one just loaded).
 * Return: the blob, or NULL (logged) if it cannot be read.
 */
static ctld__blob_t *
blob_get(ctld_t *c, const ctld__cmd_t *k)
{
    const char *sha = k->xfer_kind == VMCTLD_STORE_SNAPSHOT ? k->r.snapshot
                                                            : k->r.package;
    ctld__blob_t *b = ctld__map_get(&c->blobs, k->xfer.id);
    int rc;

    if (b != NULL) {
        blob_unlink(c, b);
        blob_push(c, b);
        return b;
    }
    if ((b = calloc(1, sizeof(*b))) == NULL)
        return NULL;
    ctld__copy(b->xfer_id, sizeof(b->xfer_id), k->xfer.id);
    if ((rc = vmctld_store_get(c->store, k->xfer_kind, sha, k->xfer.size,
                               &b->data, &b->len)) != 0) {
        LOG_ERR("transfer %s: reading %s %s from the store: %s",
                k->xfer.id,
                k->xfer_kind == VMCTLD_STORE_SNAPSHOT ? "snapshot"
                                                      : "package",
                sha, vmctld_store_strerror(rc));
        free(b);
        return NULL;
    }
    if (ctld__map_put(&c->blobs, b->xfer_id, b) != 0) {
        free(b->data);
        free(b);
        return NULL;
    }
    blob_push(c, b);
    c->blob_bytes += b->len;
    while (c->blob_bytes > CTLD_CACHE_MAX && c->blob_tail != b)
        blob_free(c, c->blob_tail);
    return b;
}

void
ctld__blob_drop(ctld_t *c, vmctld_store_kind_t kind, const char *sha)
{
    char id[VMF_ID_MAX];
    ctld__blob_t *b;

    ctld__xfer_id(kind, sha, id, sizeof(id));
    if ((b = ctld__map_get(&c->blobs, id)) != NULL)
        blob_free(c, b);
}

void
ctld__blobs_free(ctld_t *c)
{
    while (c->blob_head != NULL)
        blob_free(c, c->blob_head);
    ctld__map_free(&c->blobs);
}

void
ctld__cmd_on_chunk_req(ctld_t *c, const char *dev, const vmf_chunk_req_t *q,
                       int64_t now)
{
    ctld__dev_t *d = ctld__dev_find(c, dev);
    ctld__cmd_t *k;
    ctld__blob_t *b;
    vmf_chunk_t ch;
    uint64_t nchunks, i, last, off;
    uint32_t cs;
    uint8_t *buf;
    size_t len;

    if (d == NULL)
        return;
    ctld__dev_touch(c, d, now);
    for (k = d->cmd_head; k != NULL; k = k->dnext)
        if (k->has_xfer && strcmp(k->xfer.id, q->xfer_id) == 0)
            break;
    if (k == NULL) {
        LOG_DEBUG("device %s: chunks of %s asked, which is not its "
                  "transfer now",
                  dev, q->xfer_id);
        return;
    }
    if ((b = blob_get(c, k)) == NULL)
        return;
    cs = k->xfer.chunk_size;
    nchunks = (b->len + cs - 1) / cs;
    if (q->first >= nchunks)
        return;
    last = (uint64_t)q->first + q->count;
    if (last > nchunks)
        last = nchunks;
    for (i = q->first; i < last; i++) {
        off = i * cs;
        vmf_chunk_init(&ch);
        ctld__copy(ch.xfer_id, sizeof(ch.xfer_id), k->xfer.id);
        ch.index = (uint32_t)i;
        ch.data = b->data + off; /* borrowed by encode */
        ch.len = b->len - off < cs ? (size_t)(b->len - off) : cs;
        ch.crc32 = vmf_crc32(ch.data, ch.len);
        if (vmf_chunk_encode(&ch, &buf, &len) != 0)
            return;
        (void)ctld__publish(c, dev, "xfer/data", buf, len, NULL);
        free(buf);
    }
}

/* ---- uploads ------------------------------------------------------------ */

static bool
bit_get(const uint8_t *bits, uint32_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1;
}

/* The whole upload is here: check it, store it, finish k. */
static void
upload_done(ctld_t *c, ctld__cmd_t *k, int64_t now)
{
    ctld__upload_t *up = k->up;
    vmctld_reg_snapshot_t s;
    char sha[CTLD_SHA_HEX], msg[VMF_TEXT_MAX];
    int rc;

    ctld__hex(up->sha, sizeof(up->sha), sha);
    memset(&s, 0, sizeof(s));
    rc = vmctld_store_tmp_commit(up->tmp, VMCTLD_STORE_SNAPSHOT, sha, s.path,
                                 sizeof(s.path));
    up->tmp = NULL;
    if (rc == VMCTLD_STORE_EHASH) {
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER_HASH,
                         "the snapshot does not match its SHA-256", now);
        return;
    }
    if (rc != 0) {
        snprintf(msg, sizeof(msg), "server: storing the snapshot: %s",
                 vmctld_store_strerror(rc));
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER, msg, now);
        return;
    }
    ctld__copy(s.sha256, sizeof(s.sha256), sha);
    ctld__copy(s.device, sizeof(s.device), k->r.device);
    ctld__copy(s.vm, sizeof(s.vm), k->r.vm);
    s.size = up->size;
    s.created_ms = now;
    if ((rc = vmctld_reg_snapshot_put(c->reg, &s)) != 0 &&
        rc != VMCTLD_REG_EEXIST) {
        snprintf(msg, sizeof(msg), "server: recording the snapshot: %s",
                 vmctld_reg_errmsg(c->reg));
        LOG_ERR("command %s: %s", k->r.id, msg);
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER, msg, now);
        return;
    }
    ctld__copy(k->r.snapshot, sizeof(k->r.snapshot), sha);
    snprintf(msg, sizeof(msg), "snapshot of %llu bytes stored",
             (unsigned long long)up->size);
    LOG_INFO("command %s: snapshot %s on %s stored as %.12s (%llu bytes)",
             k->r.id, k->r.vm, k->r.device, sha,
             (unsigned long long)up->size);
    ctld__cmd_finish(c, k, CTLD_CMD_SUCCEEDED, VMF_OK, msg, now);
}

void
ctld__cmd_on_upload(ctld_t *c, const char *dev, const vmf_chunk_t *ch,
                    int64_t now)
{
    ctld__dev_t *d = ctld__dev_find(c, dev);
    ctld__upload_t *up = NULL;
    ctld__cmd_t *k;
    uint64_t off, want;
    int rc;

    if (d == NULL)
        return;
    ctld__dev_touch(c, d, now);
    for (k = d->cmd_head; k != NULL; k = k->dnext)
        if ((up = k->up) != NULL && strcmp(up->xfer_id, ch->xfer_id) == 0)
            break;
    if (k == NULL) {
        /* Early (before its result) or late: asked for again if needed. */
        LOG_DEBUG("device %s: upload chunk of %s, which is not expected",
                  dev, ch->xfer_id);
        return;
    }
    if (ch->index >= up->nchunks || bit_get(up->bits, ch->index))
        return;
    off = (uint64_t)ch->index * up->chunk_size;
    want = up->size - off < up->chunk_size ? up->size - off : up->chunk_size;
    if (ch->len != want || vmf_crc32(ch->data, ch->len) != ch->crc32) {
        LOG_DEBUG("command %s: upload chunk %u is bad (%zu bytes); it will "
                  "be asked for again",
                  k->r.id, ch->index, ch->len);
        return;
    }
    if ((rc = vmctld_store_tmp_write(up->tmp, off, ch->data, ch->len)) != 0) {
        char msg[VMF_TEXT_MAX];

        snprintf(msg, sizeof(msg), "server: writing the upload: %s",
                 vmctld_store_strerror(rc));
        ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER, msg, now);
        return;
    }
    up->bits[ch->index / 8] |= (uint8_t)(1u << (ch->index % 8));
    up->have++;
    up->last_rx_ms = now;
    k->r.percent = (uint32_t)((uint64_t)up->have * 100 / up->nchunks);
    if (up->have == up->nchunks)
        upload_done(c, k, now);
}

/*
 * upload_ask: nothing arrived for a while; ask the device for the missing
 * chunks, in runs of at most VMF_REQ_CHUNKS_MAX, CTLD_UPREQ_MAX runs at a
 * time (the rest after the next idle period).
 */
static void
upload_ask(ctld_t *c, ctld__cmd_t *k, int64_t now)
{
    ctld__upload_t *up = k->up;
    vmf_chunk_req_t q;
    uint32_t i = 0, first, nreq = 0;
    uint8_t *buf;
    size_t len;

    up->last_req_ms = now;
    while (i < up->nchunks && nreq < CTLD_UPREQ_MAX) {
        if (bit_get(up->bits, i)) {
            i++;
            continue;
        }
        first = i;
        while (i < up->nchunks && !bit_get(up->bits, i) &&
               i - first < VMF_REQ_CHUNKS_MAX)
            i++;
        vmf_chunk_req_init(&q);
        ctld__copy(q.xfer_id, sizeof(q.xfer_id), up->xfer_id);
        q.first = first;
        q.count = i - first;
        if (vmf_chunk_req_encode(&q, &buf, &len) != 0)
            return;
        (void)ctld__publish(c, k->r.device, "xfer/upreq", buf, len, NULL);
        free(buf);
        nreq++;
    }
    LOG_DEBUG("command %s: upload idle at %u of %u chunks; asked again",
              k->r.id, up->have, up->nchunks);
}

void
ctld__cmds_tick(ctld_t *c, int64_t now)
{
    ctld__cmd_t *k, *next;
    char msg[VMF_TEXT_MAX];

    for (k = c->cmd_head; k != NULL; k = next) {
        next = k->anext;
        if (k->r.state == CTLD_CMD_QUEUED) {
            if (now >= k->r.expires_ms) {
                snprintf(msg, sizeof(msg),
                         "not delivered before its expiry (device %s)",
                         k->dev->online ? "unreachable" : "offline");
                ctld__cmd_finish(c, k, CTLD_CMD_EXPIRED, 0, msg, now);
            } else if (k->dev->online && now >= k->retry_ms) {
                (void)send_cmd(c, k, now);
            }
            continue;
        }
        if (k->r.deadline_ms != 0 && now >= k->r.deadline_ms) {
            if (k->up != NULL) {
                snprintf(msg, sizeof(msg),
                         "snapshot upload incomplete at the deadline: %u of "
                         "%u chunks",
                         k->up->have, k->up->nchunks);
                ctld__cmd_finish(c, k, CTLD_CMD_FAILED, VMF_E_TRANSFER, msg,
                                 now);
            } else {
                ctld__cmd_send_cancel(c, k->r.device, k->r.id);
                snprintf(msg, sizeof(msg), "no final result within %u s",
                         k->timeout_s);
                ctld__cmd_finish(c, k, CTLD_CMD_TIMED_OUT, 0, msg, now);
            }
            continue;
        }
        if (k->up != NULL &&
            now - (k->up->last_rx_ms > k->up->last_req_ms
                       ? k->up->last_rx_ms
                       : k->up->last_req_ms) >=
                CTLD_UPREQ_IDLE_MS)
            upload_ask(c, k, now);
    }
}

/* ---- the API ------------------------------------------------------------ */

/* A VM name fits the protocol: 1..31 of [A-Za-z0-9._-]. */
static bool
vm_ok(const char *vm)
{
    return vm != NULL && strlen(vm) < VMF_NAME_MAX &&
           vmf_device_id_valid(vm);
}

/*
 * check_req: validate a request against the registry.  Fills the package
 * or snapshot record the command needs.
 * Return: 0 or a CTLD_E* code with err naming the field.
 */
static int
check_req(ctld_t *c, const ctld_cmd_req_t *req, ctld__dev_t **dev,
          vmctld_reg_package_t *pkg, vmctld_reg_snapshot_t *snap,
          char *err, size_t errlen)
{
    int rc;

    if (req->device == NULL || req->device[0] == '\0')
        return ctld__err(err, errlen, CTLD_EINVAL, "device: missing");
    if ((*dev = ctld__dev_find(c, req->device)) == NULL)
        return ctld__err(err, errlen, CTLD_ENOTFOUND,
                         "device: no device %s", req->device);
    switch (req->kind) {
    case VMF_CMD_CREATE:
    case VMF_CMD_START:
    case VMF_CMD_STOP:
    case VMF_CMD_SUSPEND:
    case VMF_CMD_RESUME:
    case VMF_CMD_RESTART:
    case VMF_CMD_DESTROY:
    case VMF_CMD_SNAPSHOT:
    case VMF_CMD_RESTORE:
    case VMF_CMD_INVENTORY:
        break;
    case VMF_CMD_UPDATE:
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "kind: an update is made by a rollout");
    case VMF_CMD_LOGS:
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "kind: logs are read with ctld_vm_logs()");
    case VMF_CMD_CANCEL:
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "kind: cancel a command by its id instead");
    default:
        return ctld__err(err, errlen, CTLD_EINVAL, "kind: unknown (%d)",
                         req->kind);
    }
    if (req->kind != VMF_CMD_INVENTORY && !vm_ok(req->vm))
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "vm: expected 1 to %d characters of "
                         "[A-Za-z0-9._-]",
                         VMF_NAME_MAX - 1);
    if (req->kind == VMF_CMD_CREATE) {
        if (!ctld__sha_ok(req->package))
            return ctld__err(err, errlen, CTLD_EINVAL,
                             "package: expected a SHA-256 of 64 lowercase "
                             "hex digits");
        if ((rc = vmctld_reg_package_get(c->reg, req->package, pkg)) != 0)
            return rc == VMCTLD_REG_ENOTFOUND
                       ? ctld__err(err, errlen, CTLD_ENOTFOUND,
                                   "package: no package %s", req->package)
                       : ctld__reg_err(c->reg, rc, err, errlen, "package");
        if (strcmp(pkg->vm, req->vm) != 0)
            return ctld__err(err, errlen, CTLD_EINVAL,
                             "package: it is for VM %s, not %s", pkg->vm,
                             req->vm);
    }
    if (req->kind == VMF_CMD_RESTORE) {
        if (!ctld__sha_ok(req->snapshot))
            return ctld__err(err, errlen, CTLD_EINVAL,
                             "snapshot: expected a SHA-256 of 64 lowercase "
                             "hex digits");
        if ((rc = vmctld_reg_snapshot_get(c->reg, req->snapshot, snap)) != 0)
            return rc == VMCTLD_REG_ENOTFOUND
                       ? ctld__err(err, errlen, CTLD_ENOTFOUND,
                                   "snapshot: no snapshot %s", req->snapshot)
                       : ctld__reg_err(c->reg, rc, err, errlen, "snapshot");
    }
    return 0;
}

int
ctld_command_submit(ctld_t *c, const ctld_cmd_req_t *req,
                    ctld_command_t *out, char *err, size_t errlen)
{
    vmctld_reg_package_t pkg;
    vmctld_reg_snapshot_t snap;
    ctld__cmd_new_t n;
    ctld__cmd_t *k = NULL;
    ctld__dev_t *d = NULL;
    int rc;

    if (c == NULL || req == NULL)
        return ctld__err(err, errlen, CTLD_EINVAL, "no request");
    pthread_mutex_lock(&c->lock);
    if ((rc = check_req(c, req, &d, &pkg, &snap, err, errlen)) != 0)
        goto out;
    memset(&n, 0, sizeof(n));
    n.dev = d;
    n.kind = (vmf_cmd_kind_t)req->kind;
    n.vm = req->kind == VMF_CMD_INVENTORY ? "" : req->vm;
    n.pkg = req->kind == VMF_CMD_CREATE ? &pkg : NULL;
    n.snap = req->kind == VMF_CMD_RESTORE ? &snap : NULL;
    n.expiry_s = req->expiry_s != 0 ? req->expiry_s : c->cfg.cmd_expiry_s;
    n.timeout_s = req->timeout_s != 0 ? req->timeout_s : c->cfg.cmd_timeout_s;
    if ((rc = ctld__cmd_create(c, &n, ctld__now_ms(), &k, err, errlen)) != 0)
        goto out;
    if (out != NULL)
        *out = k->r;
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* The command, from memory if unfinished, else from the registry. */
static int
get_locked(ctld_t *c, const char *id, ctld_command_t *out)
{
    vmctld_reg_command_t g;
    ctld__cmd_t *k = ctld__cmd_find(c, id);
    int rc;

    if (k != NULL) {
        *out = k->r;
        return 0;
    }
    if (strlen(id) >= VMCTLD_REG_ID_MAX)
        return CTLD_ENOTFOUND;
    if ((rc = vmctld_reg_command_get(c->reg, id, &g)) != 0)
        return ctld__reg_err(c->reg, rc, NULL, 0, "reading a command");
    ctld__cmd_rec_from_reg(out, &g);
    vmctld_reg_command_clear(&g);
    return 0;
}

int
ctld_command_get(ctld_t *c, const char *id, ctld_command_t *out)
{
    int rc;

    if (c == NULL || id == NULL || out == NULL)
        return CTLD_EINVAL;
    if (id[0] == '\0')
        return CTLD_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    rc = get_locked(c, id, out);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int
ctld_command_wait(ctld_t *c, const char *id, uint32_t timeout_ms,
                  ctld_command_t *out)
{
    struct timespec until;
    int rc;

    if (c == NULL || id == NULL || out == NULL)
        return CTLD_EINVAL;
    if (id[0] == '\0')
        return CTLD_ENOTFOUND;
    until = ctld__mono_after(timeout_ms);
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if ((rc = get_locked(c, id, out)) != 0 ||
            ctld_cmd_state_final(out->state) || c->stopping)
            break;
        if (pthread_cond_timedwait(&c->cmd_cond, &c->lock, &until) ==
            ETIMEDOUT) {
            rc = get_locked(c, id, out);
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int
ctld_command_list(ctld_t *c, const char *device, size_t limit,
                  ctld_command_t **out, size_t *n)
{
    vmctld_reg_command_t *list = NULL;
    ctld_command_t *arr = NULL;
    vmctld_reg_t *reg;
    ctld__cmd_t *k;
    size_t cnt = 0, i;
    int rc = 0;

    if (c == NULL || out == NULL || n == NULL)
        return CTLD_EINVAL;
    if (limit == 0)
        limit = 100;
    *out = NULL;
    *n = 0;
    if (device != NULL && strlen(device) >= VMCTLD_REG_ID_MAX)
        return 0; /* no such device: an empty list */
    /* Read on the second connection; only the overlay needs the core. */
    reg = ctld__rd_lock(c);
    if ((rc = vmctld_reg_command_list(reg, device, limit, &list, &cnt)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0, "listing commands");
    ctld__rd_unlock(c);
    if (rc != 0)
        return rc;
    if (cnt > 0 && (arr = calloc(cnt, sizeof(*arr))) == NULL) {
        vmctld_reg_commands_free(list, cnt);
        return CTLD_ENOMEM;
    }
    pthread_mutex_lock(&c->lock);
    for (i = 0; i < cnt; i++) {
        if ((k = ctld__cmd_find(c, list[i].id)) != NULL)
            arr[i] = k->r; /* fresher: percent lives in memory */
        else
            ctld__cmd_rec_from_reg(&arr[i], &list[i]);
    }
    pthread_mutex_unlock(&c->lock);
    vmctld_reg_commands_free(list, cnt);
    *out = arr;
    *n = arr != NULL ? cnt : 0;
    return 0;
}

int
ctld_command_cancel(ctld_t *c, const char *id, ctld_command_t *out)
{
    ctld_command_t tmp;
    ctld__cmd_t *k;
    int rc;

    if (c == NULL || id == NULL)
        return CTLD_EINVAL;
    if (out == NULL)
        out = &tmp;
    pthread_mutex_lock(&c->lock);
    if ((k = ctld__cmd_find(c, id)) == NULL) {
        rc = id[0] == '\0' ? CTLD_ENOTFOUND : get_locked(c, id, out);
        if (rc == 0)
            rc = CTLD_ESTATE;
        goto out;
    }
    if (k->r.state != CTLD_CMD_QUEUED)
        ctld__cmd_send_cancel(c, k->r.device, k->r.id);
    ctld__cmd_finish(c, k, CTLD_CMD_CANCELLED, VMF_E_CANCELLED,
                     "cancelled by the operator", ctld__now_ms());
    rc = get_locked(c, id, out);
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}
