/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The worker: runs commands from the queue, one at a time.  A long
 * command (CREATE, UPDATE, RESTORE, SNAPSHOT) answers a non-final
 * "accepted" result at once and its final result at the end; while it
 * runs, the worker still answers duplicates, CANCEL, lifecycle commands
 * of other VMs and upload re-requests, and keeps other long commands for
 * later.
 *
 * Crash safety: a final result is written to the dedup log (ota_dedup.h)
 * before it is published, so a redelivered command is answered, never run
 * again.  The running long command is kept in DIR/active (its reply
 * address, phase and encoded bytes); after a restart it is resumed: its
 * transfer from the persisted bitmap, its swap from vmrt's SWAP_STATUS.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_check.h"
#include "ota_internal.h"
#include "ota_util.h"
#include "ota_xfer.h"
#include "vmf/vpk.h"

#define OTA_STOPPED (-1)    /* the worker is stopping: no final result */
#define ACTIVE_FILE "active"
#define ACTIVE_MAGIC "OTA1"
#define SWAP_POLL_MS 500u
#define PROGRESS_MS 1000u

enum { PHASE_TRANSFER = 0, PHASE_STAGED = 1 };

/* Where a command's results go. */
typedef struct {
    char topic[VMF_TOPIC_MAX];
    uint8_t corr[OTA_CORR_MAX];
    size_t corr_len;
} reply_t;

/* The running long command. */
typedef struct {
    vmf_cmd_t c;
    reply_t rep;
    uint8_t *raw;          /* its encoded bytes (for DIR/active) */
    size_t rawlen;
    int phase;
    bool resumed;
    /* progress */
    uint32_t last_pct;
    uint64_t last_ms;
    char what[192];        /* "update sensor 1.0.0 -> 1.1.0" */
} job_t;

typedef struct {
    ota_t *o;
    ota_item_t *deferred, *deferred_tail;
    job_t *job;            /* NULL when idle */
} worker_t;

static void handle_cmd(worker_t *w, ota_item_t *it);
static void upload_resend(ota_t *o, const vmf_chunk_req_t *q);

/* ---- queue ---------------------------------------------------------------- */

void
ota__item_free(ota_item_t *it)
{
    if (it == NULL)
        return;
    free(it->payload);
    vmf_chunk_free(&it->chunk);
    free(it);
}

void
ota__enqueue(ota_t *o, ota_item_t *it)
{
    pl_mutex_lock(&o->lock);
    /* Chunks can be asked for again; commands are never dropped. */
    if (o->nitems >= OTA_QUEUE_MAX && it->kind == OTA_ITEM_CHUNK) {
        pl_mutex_unlock(&o->lock);
        ota__debug("queue full: chunk %u dropped",
                   (unsigned)it->chunk.index);
        ota__item_free(it);
        return;
    }
    it->next = NULL;
    if (o->tail != NULL)
        o->tail->next = it;
    else
        o->head = it;
    o->tail = it;
    o->nitems++;
    pl_cond_broadcast(&o->cond);
    pl_mutex_unlock(&o->lock);
}

/*
 * wait_item: the next queued item, waiting until deadline_ms (mono) at
 * most.  Returns early (NULL) when stopping, after a reconnect
 * (o->rerequest) or a swap event.
 */
static ota_item_t *
wait_item(ota_t *o, uint64_t deadline_ms)
{
    uint64_t dl = deadline_ms * 1000000u;
    ota_item_t *it = NULL;

    pl_mutex_lock(&o->lock);
    while (o->head == NULL && !o->stop && !o->rerequest && !o->swap_seen &&
           !o->cancel && pl_time_mono_ns() < dl)
        pl_cond_timedwait(&o->cond, &o->lock, dl);
    if (o->head != NULL && !o->stop) {
        it = o->head;
        o->head = it->next;
        if (o->head == NULL)
            o->tail = NULL;
        o->nitems--;
    }
    pl_mutex_unlock(&o->lock);
    return it;
}

static bool
stopping(ota_t *o)
{
    bool s;

    pl_mutex_lock(&o->lock);
    s = o->stop;
    pl_mutex_unlock(&o->lock);
    return s;
}

/* ---- results -------------------------------------------------------------- */

vmf_code_t
ota__code_of_ctl(int ctl_code, bool restore)
{
    switch (ctl_code) {
    case IPC_CTL_OK:
        return VMF_OK;
    case IPC_CTL_NOT_FOUND:
        return VMF_E_NOT_FOUND;
    case IPC_CTL_STATE:
        return VMF_E_STATE;
    case IPC_CTL_EXISTS:
        return VMF_E_EXISTS;
    case IPC_CTL_CORRUPT:
        return restore ? VMF_E_SNAPSHOT : VMF_E_RUNTIME;
    case IPC_CTL_IO:
        return VMF_E_IO;
    default:
        return VMF_E_RUNTIME;
    }
}

static void
reply_init(ota_t *o, reply_t *rep, const ota_item_t *it, const char *id)
{
    memset(rep, 0, sizeof(*rep));
    ota__strlcpy(rep->topic,
                 it != NULL && it->resp_topic[0] ? it->resp_topic
                                                 : o->t_result,
                 sizeof(rep->topic));
    /* The protocol's correlation data is the command id; echo what came
     * if anything did. */
    if (it != NULL && it->corr_len > 0) {
        memcpy(rep->corr, it->corr, it->corr_len);
        rep->corr_len = it->corr_len;
    } else if (id != NULL) {
        rep->corr_len = strlen(id);
        memcpy(rep->corr, id, rep->corr_len);
    }
}

/*
 * Publish a result; a final one is made durable in the dedup log first,
 * except a LOGS one: reading the log again is harmless, and its up to
 * 64 KiB would crowd the log (docs/protocol.md).
 */
static void
send_result(ota_t *o, const reply_t *rep, const vmf_result_t *r)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if ((rc = vmf_result_encode(r, &buf, &len)) != 0) {
        ota__log("cmd %s: cannot encode its result (%d)", r->cmd_id, rc);
        return;
    }
    if (r->final && r->cmd_id[0] != '\0' && r->kind != VMF_CMD_LOGS &&
        (rc = ota_dedup_put(o->dedup, r->cmd_id, buf, len)) != 0)
        ota__log("cmd %s: dedup log: %s (kept in memory)", r->cmd_id,
                 pl_strerror(rc));
    ota__publish_raw(o, rep->topic, buf, len, rep->corr, rep->corr_len,
                     false);
    free(buf);
}

/* A final (or accepted) result with a code and a message. */
static void
answer(ota_t *o, const reply_t *rep, const vmf_cmd_t *c, bool final,
       vmf_code_t code, const char *msg, const char *version)
{
    vmf_result_t r;

    vmf_result_init(&r);
    ota__strlcpy(r.cmd_id, c->id, sizeof(r.cmd_id));
    r.kind = c->kind;
    r.final = final;
    r.code = code;
    ota__strlcpy(r.message, msg ? msg : vmf_code_str(code),
                 sizeof(r.message));
    ota__strlcpy(r.vm, c->vm, sizeof(r.vm));
    if (version != NULL)
        ota__strlcpy(r.version, version, sizeof(r.version));
    if (final)
        ota__log("cmd %s: %s %s: %s%s%s", c->id, vmf_cmd_name(c->kind),
                 c->vm[0] ? c->vm : "-",
                 code == VMF_OK ? "ok" : vmf_code_name(code),
                 msg && code != VMF_OK ? ": " : "",
                 msg && code != VMF_OK ? msg : "");
    send_result(o, rep, &r);
}

/* ---- the active long command: DIR/active ----------------------------- */

static int
active_save(ota_t *o, const job_t *j)
{
    size_t tl = strlen(j->rep.topic), n;
    uint8_t *b, *p;
    int rc;

    n = 4 + 1 + 2 + tl + 2 + j->rep.corr_len + 4 + j->rawlen + 4;
    if ((b = malloc(n)) == NULL)
        return PL_ENOMEM;
    p = b;
    memcpy(p, ACTIVE_MAGIC, 4);
    p += 4;
    *p++ = (uint8_t)j->phase;
    p[0] = (uint8_t)tl;
    p[1] = (uint8_t)(tl >> 8);
    memcpy(p + 2, j->rep.topic, tl);
    p += 2 + tl;
    p[0] = (uint8_t)j->rep.corr_len;
    p[1] = (uint8_t)(j->rep.corr_len >> 8);
    memcpy(p + 2, j->rep.corr, j->rep.corr_len);
    p += 2 + j->rep.corr_len;
    ota__put_le32(p, (uint32_t)j->rawlen);
    memcpy(p + 4, j->raw, j->rawlen);
    p += 4 + j->rawlen;
    ota__put_le32(p, vmf_crc32(b, (size_t)(p - b)));
    rc = ota__write_atomic(&o->root, ACTIVE_FILE, b, n);
    free(b);
    return rc;
}

/*
 * active_load: read DIR/active into a job.
 * Return: 0, PL_ENOENT (none), or PL_EIO (unreadable: it is dropped).
 */
static int
active_load(ota_t *o, job_t *j)
{
    uint8_t *b = NULL;
    size_t n = 0, tl, cl, rl, off;
    int rc;

    if ((rc = ota__read_file(&o->root, ACTIVE_FILE, VMF_MSG_MAX + 1024, &b,
                             &n)) != 0)
        return rc;
    rc = PL_EIO;
    if (n < 4 + 1 + 2 + 2 + 4 + 4 || memcmp(b, ACTIVE_MAGIC, 4) != 0 ||
        vmf_crc32(b, n - 4) != ota__get_le32(b + n - 4))
        goto out;
    j->phase = b[4];
    off = 5;
    tl = (size_t)b[off] | (size_t)b[off + 1] << 8;
    if (tl >= sizeof(j->rep.topic) || off + 2 + tl + 2 > n - 4)
        goto out;
    memcpy(j->rep.topic, b + off + 2, tl);
    j->rep.topic[tl] = '\0';
    off += 2 + tl;
    cl = (size_t)b[off] | (size_t)b[off + 1] << 8;
    if (cl > sizeof(j->rep.corr) || off + 2 + cl + 4 > n - 4)
        goto out;
    memcpy(j->rep.corr, b + off + 2, cl);
    j->rep.corr_len = cl;
    off += 2 + cl;
    rl = ota__get_le32(b + off);
    if (rl != n - 4 - off - 4 || (j->raw = malloc(rl ? rl : 1)) == NULL)
        goto out;
    memcpy(j->raw, b + off + 4, rl);
    j->rawlen = rl;
    rc = vmf_cmd_decode(j->raw, rl, &j->c) == 0 ? 0 : PL_EIO;
out:
    free(b);
    return rc;
}

/* ---- ctl helpers ---------------------------------------------------------- */

/* INFO on one VM.  Return: 1 exists (info filled), 0 not, <0 no vmrt. */
static int
vm_info(ota_t *o, const char *vm, vmrt_vm_info_t *info, char *msg,
        size_t msglen)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_INFO;
    ota__strlcpy(q.name, vm, sizeof(q.name));
    rc = ota__ctl(o, &q, &r, IPC_CTL_FRAME_SMALL);
    if (rc != 0) {
        snprintf(msg, msglen, "vmrt: %s", pl_strerror(rc));
        rc = -1;
    } else if (r.code == IPC_CTL_OK && r.nvms == 1) {
        *info = r.vms[0];
        rc = 1;
    } else if (r.code == IPC_CTL_NOT_FOUND) {
        rc = 0;
    } else {
        snprintf(msg, msglen, "vmrt: %.200s", r.message);
        rc = -1;
    }
    ipc_ctl_resp_free(&r);
    return rc;
}

/* A simple op on a VM.  Return: the fleet code; msg says why. */
static vmf_code_t
vm_op(ota_t *o, ipc_ctl_op_t op, const char *vm, bool restore,
      const uint8_t *data, size_t len, char *msg, size_t msglen)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    vmf_code_t code;
    int rc;

    ipc_ctl_req_init(&q);
    q.op = op;
    ota__strlcpy(q.name, vm, sizeof(q.name));
    q.data = (uint8_t *)data; /* borrowed: not freed here */
    q.len = len;
    rc = ota__ctl(o, &q, &r, IPC_CTL_FRAME_SMALL);
    if (rc != 0) {
        snprintf(msg, msglen, "vmrt: %s", pl_strerror(rc));
        code = VMF_E_RUNTIME;
    } else {
        code = ota__code_of_ctl(r.code, restore);
        snprintf(msg, msglen, "%s", r.message);
    }
    ipc_ctl_resp_free(&r);
    return code;
}

/* ---- progress ------------------------------------------------------------- */

static void
progress(ota_t *o, job_t *j, uint64_t done, uint64_t total)
{
    uint32_t pct = total ? (uint32_t)(done * 100 / total) : 100;
    uint64_t now = ota__now_ms();
    vmf_event_t ev;

    if (pct == j->last_pct && j->last_ms != 0)
        return;
    if (pct < 100 && pct < j->last_pct + 10 && now < j->last_ms + PROGRESS_MS)
        return;
    j->last_pct = pct;
    j->last_ms = now;
    vmf_event_init(&ev);
    ev.kind = VMF_EV_PROGRESS;
    ota__strlcpy(ev.vm, j->c.vm, sizeof(ev.vm));
    ota__strlcpy(ev.cmd_id, j->c.id, sizeof(ev.cmd_id));
    snprintf(ev.detail, sizeof(ev.detail), "transfer");
    ev.done = done;
    ev.total = total;
    ev.percent = pct;
    ota__publish_event(o, &ev);
    ota__log("%s: transfer %u%% (%llu/%llu bytes)", j->what, (unsigned)pct,
             (unsigned long long)done, (unsigned long long)total);
}

/* ---- transfers -------------------------------------------------------------- */

/*
 * pull: fetch the command's transfer to DIR/xfer/<id>.done and read it.
 * While waiting, other items are served.
 * Return: VMF_OK with *data (free()), a fleet code with msg, or
 *         OTA_STOPPED.
 */
static int
pull(worker_t *w, job_t *j, uint8_t **data, size_t *len, char *msg,
     size_t msglen)
{
    ota_t *o = w->o;
    ota_xfer_ops_t ops = { ota__send_req, o };
    ota_xfer_cfg_t cfg;
    ota_xfer_t *x = NULL;
    uint64_t next;
    ota_item_t *it;
    bool rereq, resumed, cancel;
    int code;

    cfg.window = o->cfg.window;
    cfg.timeout_ms = o->cfg.chunk_timeout_ms;
    cfg.max_size = o->cfg.max_package;
    if ((code = ota_xfer_open(&o->root, &j->c.xfer, &cfg, &ops, &x, msg,
                              msglen)) != VMF_OK)
        return code;
    if (j->resumed && ota_xfer_done_bytes(x) > 0)
        ota__log("%s: resuming transfer at %llu of %llu bytes", j->what,
                 (unsigned long long)ota_xfer_done_bytes(x),
                 (unsigned long long)j->c.xfer.size);
    progress(o, j, ota_xfer_done_bytes(x), j->c.xfer.size);
    while (!ota_xfer_complete(x)) {
        pl_mutex_lock(&o->lock);
        rereq = o->rerequest;
        resumed = o->resumed;
        o->rerequest = false;
        cancel = o->cancel;
        pl_mutex_unlock(&o->lock);
        if (stopping(o)) {
            ota_xfer_close(x);
            return OTA_STOPPED;
        }
        if (cancel) {
            ota_xfer_close(x);
            ota_xfer_remove(&o->root, j->c.xfer.id);
            snprintf(msg, msglen, "cancelled during the transfer");
            return VMF_E_CANCELLED;
        }
        if (rereq)
            ota_xfer_reconnected(x, resumed, ota__now_ms());
        if (!vmf_mqtt_connected(o->mqtt))
            ota_xfer_offline(x, ota__now_ms());
        if ((code = ota_xfer_pump(x, ota__now_ms(), &next)) != VMF_OK) {
            snprintf(msg, msglen, "transfer %s: cannot save its state",
                     j->c.xfer.id);
            ota_xfer_close(x);
            return code;
        }
        if ((it = wait_item(o, next)) == NULL)
            continue;
        if (it->kind == OTA_ITEM_CHUNK) {
            code = ota_xfer_on_chunk(x, &it->chunk, ota__now_ms(), msg,
                                     msglen);
            ota__item_free(it);
            if (code != VMF_OK) {
                ota_xfer_close(x);
                ota_xfer_remove(&o->root, j->c.xfer.id);
                return code;
            }
            progress(o, j, ota_xfer_done_bytes(x), j->c.xfer.size);
        } else if (it->kind == OTA_ITEM_UPREQ) {
            upload_resend(o, &it->req);
            ota__item_free(it);
        } else {
            handle_cmd(w, it);
        }
    }
    progress(o, j, j->c.xfer.size, j->c.xfer.size);
    code = ota_xfer_finish(x, data, len, msg, msglen);
    ota_xfer_close(x);
    return code;
}

/* ---- update and create ---------------------------------------------------- */

/* Parse SWAP_STATUS's message "committed 1.0.0 -> 1.1.0: reason". */
static void
swap_parse(const char *m, char *newv, size_t nlen, char *reason,
           size_t rlen)
{
    const char *a = strstr(m, " -> "), *c;
    size_t n;

    newv[0] = reason[0] = '\0';
    if (a == NULL)
        return;
    a += 4;
    c = strstr(a, ": ");
    n = c ? (size_t)(c - a) : strlen(a);
    if (n >= nlen)
        n = nlen - 1;
    memcpy(newv, a, n);
    newv[n] = '\0';
    if (c != NULL)
        ota__strlcpy(reason, c + 2, rlen);
}

/*
 * swap_status: ask vmrt how the last swap of `vm` went.
 * Return: the vmrt_swap_state_t, or -1 if vmrt did not answer; newv and
 *         reason are filled from its message.
 */
static int
swap_status(ota_t *o, const char *vm, char *newv, size_t nlen, char *reason,
            size_t rlen)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int st = -1;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SWAP_STATUS;
    ota__strlcpy(q.name, vm, sizeof(q.name));
    if (ota__ctl(o, &q, &r, IPC_CTL_FRAME_SMALL) == 0 &&
        r.code == IPC_CTL_OK && r.nvalues >= 1) {
        st = (int)r.values[0];
        swap_parse(r.message, newv, nlen, reason, rlen);
    }
    ipc_ctl_resp_free(&r);
    return st;
}

/*
 * wait_swap: wait for the swap to `version` to end (event, or
 * SWAP_STATUS every 500 ms so that a lost event cannot hang us), serving
 * other items meanwhile.
 * Return: VMF_OK (committed), VMF_E_ROLLED_BACK (reason in msg), or
 *         OTA_STOPPED.
 */
static int
wait_swap(worker_t *w, job_t *j, const char *version, char *msg,
          size_t msglen)
{
    ota_t *o = w->o;
    char newv[VMRT_VERSION_MAX + 8], reason[128];
    uint64_t next = 0;
    ota_item_t *it;
    int st;

    for (;;) {
        if (stopping(o))
            return OTA_STOPPED;
        if (ota__now_ms() >= next) {
            pl_mutex_lock(&o->lock);
            o->swap_seen = false;
            pl_mutex_unlock(&o->lock);
            st = swap_status(o, j->c.vm, newv, sizeof(newv), reason,
                             sizeof(reason));
            if (st == VMRT_SWAP_COMMITTED && strcmp(newv, version) == 0) {
                snprintf(msg, msglen, "committed %s", version);
                return VMF_OK;
            }
            if (st == VMRT_SWAP_ROLLED_BACK && strcmp(newv, version) == 0) {
                snprintf(msg, msglen, "%s", reason[0] ? reason
                                                      : "rolled back");
                return VMF_E_ROLLED_BACK;
            }
            next = ota__now_ms() + SWAP_POLL_MS;
        }
        pl_mutex_lock(&o->lock);
        /* A swap event: look now rather than at the next poll. */
        if (o->swap_seen && strcmp(o->swap_vm, j->c.vm) == 0)
            next = 0;
        o->swap_seen = false;
        o->rerequest = false;
        pl_mutex_unlock(&o->lock);
        if (next == 0)
            continue;
        if ((it = wait_item(o, next)) == NULL)
            continue;
        if (it->kind == OTA_ITEM_UPREQ) {
            upload_resend(o, &it->req);
            ota__item_free(it);
        } else if (it->kind == OTA_ITEM_CMD) {
            handle_cmd(w, it);
        } else {
            ota__item_free(it);
        }
    }
}

/* A vmrt manifest for a new VM from the package's resources, starting
 * from vmrt_manifest_init()'s defaults (docs/runtime.md). */
static void
create_manifest(vmrt_manifest_t *m, const vpk_manifest_t *pm)
{
    memset(m, 0, sizeof(*m));
    ota__strlcpy(m->name, pm->vm_name, sizeof(m->name));
    ota__strlcpy(m->version, pm->version, sizeof(m->version));
    m->priority = pm->priority >= 0 && pm->priority < VMRT_PRIO_LEVELS
                      ? (uint8_t)pm->priority : 16;
    m->slice_us = 1000;
    m->memory_pages = pm->memory_pages ? pm->memory_pages
                                       : OTA_DEFAULT_PAGES;
    m->storage_quota = pm->storage_quota_bytes ? pm->storage_quota_bytes
                                               : OTA_DEFAULT_QUOTA;
    m->affinity = -1;
    m->restart = VMRT_RESTART_NEVER;
    m->backoff_ms = 100;
    m->backoff_max_ms = 10000;
}

static int
do_create(ota_t *o, job_t *j, const vpk_view_t *v, char *msg, size_t msglen)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc, code;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_CREATE;
    ota__strlcpy(q.name, j->c.vm, sizeof(q.name));
    q.has_manifest = true;
    create_manifest(&q.manifest, &v->manifest);
    q.data = (uint8_t *)v->module; /* borrowed */
    q.len = v->module_len;
    rc = ota__ctl(o, &q, &r, IPC_CTL_FRAME_SMALL);
    if (rc != 0) {
        snprintf(msg, msglen, "vmrt: %s", pl_strerror(rc));
        code = VMF_E_RUNTIME;
    } else {
        code = ota__code_of_ctl(r.code, false);
        snprintf(msg, msglen, "create: %.200s", r.message);
    }
    ipc_ctl_resp_free(&r);
    if (code != VMF_OK)
        return code;
    ota__log("%s: created; starting it", j->what);
    if ((code = vm_op(o, IPC_CTL_OP_START, j->c.vm, false, NULL, 0, msg,
                      msglen)) != VMF_OK) {
        /* Created but cannot run: the runtime refused it. */
        char m2[VMF_TEXT_MAX];

        snprintf(m2, sizeof(m2), "start: %s", msg);
        snprintf(msg, msglen, "%s", m2);
        return VMF_E_RUNTIME;
    }
    snprintf(msg, msglen, "created and started %s", v->manifest.version);
    return VMF_OK;
}

/*
 * do_update: UPDATE and CREATE.  Return: a fleet code with msg and
 * version filled, or OTA_STOPPED.
 */
static int
do_update(worker_t *w, job_t *j, char *msg, size_t msglen, char *version,
          size_t vlen)
{
    ota_t *o = w->o;
    char newv[VMRT_VERSION_MAX + 8], reason[128], imsg[128] = "";
    ota_check_ctx_t ctx;
    vmrt_vm_info_t info;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    vmf_event_t ev;
    uint8_t *pkg = NULL;
    size_t plen = 0;
    vpk_view_t v;
    int code, exists, st, rc;

    if (!j->c.has_xfer) {
        snprintf(msg, msglen, "%s needs a transfer", vmf_cmd_name(j->c.kind));
        return VMF_E_INVALID;
    }
    /* A package too big for the VM's storage quota whatever its
     * manifest is refused before a byte is asked for: on a metered link
     * a download that can only end in E_QUOTA is money lost.  (Below
     * this bound the module's real size is checked after the transfer.)
     * A staged package passed the full check, so never trips this. */
    if (j->c.kind == VMF_CMD_UPDATE &&
        vm_info(o, j->c.vm, &info, imsg, sizeof(imsg)) == 1 &&
        info.storage_quota != 0 &&
        j->c.xfer.size > info.storage_quota + (uint64_t)VPK_OVERHEAD_MAX) {
        snprintf(msg, msglen, "package of %llu bytes cannot fit VM %s's "
                 "storage quota of %llu; nothing was downloaded",
                 (unsigned long long)j->c.xfer.size, j->c.vm,
                 (unsigned long long)info.storage_quota);
        ota__log("%s: rejected: E_QUOTA: %s", j->what, msg);
        ota__strlcpy(version, info.version, vlen);
        return VMF_E_QUOTA;
    }
    if ((code = pull(w, j, &pkg, &plen, msg, msglen)) != VMF_OK)
        return code;
    memset(&v, 0, sizeof(v));
    /* After a restart in the swap: vmrt knows which way it went. */
    if (j->phase == PHASE_STAGED &&
        vpk_parse(pkg, plen, &v, NULL, 0) == 0) {
        ota__strlcpy(version, v.manifest.version, vlen);
        st = swap_status(o, j->c.vm, newv, sizeof(newv), reason,
                         sizeof(reason));
        if (st > VMRT_SWAP_NONE && strcmp(newv, v.manifest.version) == 0) {
            ota__log("%s: resuming: the swap is %s", j->what,
                     st == VMRT_SWAP_HEALTH ? "in its health window"
                                            : "over");
            free(pkg); /* version is copied; nothing below needs it */
            goto wait;
        }
    }
    exists = vm_info(o, j->c.vm, &info, imsg, sizeof(imsg));
    if (exists < 0) {
        free(pkg);
        snprintf(msg, msglen, "%s", imsg);
        return VMF_E_RUNTIME;
    }
    memset(&ctx, 0, sizeof(ctx));
    ctx.kind = j->c.kind;
    ctx.cmd_vm = j->c.vm;
    ctx.vm_exists = exists == 1;
    ctx.running_version = exists == 1 ? info.version : "";
    ctx.vm_quota = exists == 1 ? info.storage_quota : 0;
    ctx.allow_create = o->cfg.allow_create;
    ctx.runtime_version = VMF_VERSION;
    ctx.keys = (const char *const *)o->cfg.keys;
    ctx.nkeys = o->cfg.nkeys;
    code = ota_check(pkg, plen, &ctx, &v, msg, msglen);
    if (code != VMF_OK) {
        ota__log("%s: rejected: %s: %s", j->what, vmf_code_name(code), msg);
        /* Untouched: it still runs what it ran. */
        if (exists == 1)
            ota__strlcpy(version, info.version, vlen);
        free(pkg);
        return code;
    }
    snprintf(j->what, sizeof(j->what), "%s %s %s -> %s",
             vmf_cmd_name(j->c.kind), j->c.vm,
             exists == 1 && info.version[0] ? info.version : "(none)",
             v.manifest.version);
    ota__log("%s: package verified", j->what);
    ota__strlcpy(version, v.manifest.version, vlen);
    if (exists == 0) {
        code = do_create(o, j, &v, msg, msglen);
        free(pkg);
        if (code != VMF_OK && exists == 0)
            version[0] = '\0';
        return code;
    }
    /* Record the phase first: a restart from here on asks vmrt. */
    j->phase = PHASE_STAGED;
    if ((rc = active_save(o, j)) != 0)
        ota__log("%s: cannot save its phase: %s", j->what, pl_strerror(rc));
    pl_mutex_lock(&o->lock);
    o->swap_seen = false;
    pl_mutex_unlock(&o->lock);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_STAGE;
    ota__strlcpy(q.name, j->c.vm, sizeof(q.name));
    q.has_manifest = true;
    ota__strlcpy(q.manifest.name, j->c.vm, sizeof(q.manifest.name));
    ota__strlcpy(q.manifest.version, v.manifest.version,
                 sizeof(q.manifest.version));
    q.data = (uint8_t *)v.module; /* borrowed */
    q.len = v.module_len;
    q.health_ms = j->c.health_window_ms ? j->c.health_window_ms
                                        : o->cfg.health_ms;
    q.snapshot_before = j->c.snapshot_before;
    ota__log("%s: swapping (health window %u ms%s)", j->what,
             (unsigned)q.health_ms,
             q.snapshot_before ? ", state snapshot before" : "");
    rc = ota__ctl(o, &q, &r, IPC_CTL_FRAME_SMALL);
    code = rc != 0 ? VMF_E_RUNTIME : ota__code_of_ctl(r.code, false);
    snprintf(msg, msglen, "%s", rc != 0 ? pl_strerror(rc) : r.message);
    ipc_ctl_resp_free(&r);
    free(pkg);
    if (code != VMF_OK) {
        /* A new image that fails at once is rolled back inside STAGE. */
        st = swap_status(o, j->c.vm, newv, sizeof(newv), reason,
                         sizeof(reason));
        if (st != VMRT_SWAP_ROLLED_BACK || strcmp(newv, version) != 0) {
            ota__log("%s: vmrt refused the swap: %s", j->what, msg);
            version[0] = '\0';
            return code;
        }
    }
wait:
    code = wait_swap(w, j, version, msg, msglen);
    if (code == OTA_STOPPED)
        return code;
    vmf_event_init(&ev);
    ev.kind = code == VMF_OK ? VMF_EV_COMMIT : VMF_EV_ROLLBACK;
    ota__strlcpy(ev.vm, j->c.vm, sizeof(ev.vm));
    ota__strlcpy(ev.cmd_id, j->c.id, sizeof(ev.cmd_id));
    ota__strlcpy(ev.detail, msg, sizeof(ev.detail));
    ota__publish_event(o, &ev);
    ota__log("%s: %s", j->what,
             code == VMF_OK ? "committed after its health window"
                            : "rolled back");
    if (code != VMF_OK) {
        /* The old version runs again. */
        if (vm_info(o, j->c.vm, &info, imsg, sizeof(imsg)) == 1)
            ota__strlcpy(version, info.version, vlen);
        else
            version[0] = '\0';
    }
    return code;
}

/* ---- snapshot upload and restore ---------------------------------------- */

static void
up_name(char *buf, size_t len, const char *id)
{
    snprintf(buf, len, "up/%s.snap", id);
}

/* Keep only the newest OTA_UPLOADS_KEEP uploads. */
static void
uploads_prune(ota_t *o)
{
    char names[64][VMF_ID_MAX + 16];
    uint64_t mt[64];
    pl_dirent_t e;
    pl_stat_t st;
    pl_dir_t d;
    size_t n = 0, i, k, oldest;
    char path[VMF_ID_MAX + 24];

    if (pl_dir_open(&o->root, "up", &d) != 0)
        return;
    while (n < 64 && pl_dir_read(&d, &e) == 1) {
        snprintf(path, sizeof(path), "up/%.*s", VMF_ID_MAX + 8, e.name);
        if (pl_fs_stat(&o->root, path, 0, &st) != 0)
            continue;
        ota__strlcpy(names[n], path, sizeof(names[n]));
        mt[n++] = st.mtime_ns;
    }
    pl_dir_close(&d);
    for (k = n; k > OTA_UPLOADS_KEEP; k--) {
        oldest = 0;
        for (i = 1; i < n; i++)
            if (mt[i] < mt[oldest])
                oldest = i;
        pl_fs_unlink(&o->root, names[oldest]);
        mt[oldest] = UINT64_MAX;
    }
}

/* Publish chunk `i` of an upload from its bytes. */
static int
upload_chunk(ota_t *o, const char *id, const uint8_t *buf, size_t len,
             uint32_t i)
{
    uint64_t off = (uint64_t)i * OTA_SNAP_CHUNK;
    vmf_chunk_t c;
    uint8_t *enc;
    size_t elen;
    int rc;

    if (off >= len)
        return PL_EINVAL;
    vmf_chunk_init(&c);
    ota__strlcpy(c.xfer_id, id, sizeof(c.xfer_id));
    c.index = i;
    c.data = (uint8_t *)buf + off; /* borrowed by encode */
    c.len = len - off < OTA_SNAP_CHUNK ? (size_t)(len - off) : OTA_SNAP_CHUNK;
    c.crc32 = vmf_crc32(c.data, c.len);
    if ((rc = vmf_chunk_encode(&c, &enc, &elen)) != 0)
        return rc;
    rc = ota__publish_raw(o, o->t_up, enc, elen, NULL, 0, false);
    free(enc);
    return rc;
}

static void
upload_resend(ota_t *o, const vmf_chunk_req_t *q)
{
    char name[VMF_ID_MAX + 16];
    uint8_t *buf = NULL;
    size_t len = 0;
    uint32_t i;

    if (!vmf_device_id_valid(q->xfer_id) || q->count == 0 ||
        q->count > VMF_REQ_CHUNKS_MAX)
        return;
    up_name(name, sizeof(name), q->xfer_id);
    if (ota__read_file(&o->root, name, 0, &buf, &len) != 0) {
        ota__log("upload %s: re-request for a file no longer kept",
                 q->xfer_id);
        return;
    }
    ota__debug("upload %s: re-sending chunks %u..%u", q->xfer_id,
               (unsigned)q->first, (unsigned)(q->first + q->count - 1));
    for (i = q->first; i - q->first < q->count; i++)
        if (upload_chunk(o, q->xfer_id, buf, len, i) != 0)
            break;
    free(buf);
}

/*
 * do_snapshot: snapshot the VM, keep it as DIR/up/<cmd id>.snap, send
 * the final result describing it, then every chunk on xfer/up with at
 * most `window` unacknowledged.  Return: the code; the final result is
 * already sent when VMF_OK.
 */
static int
do_snapshot(worker_t *w, job_t *j, char *msg, size_t msglen)
{
    ota_t *o = w->o;
    char name[VMF_ID_MAX + 16];
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    vmf_result_t res;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint32_t i, n;
    int rc, code;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SNAPSHOT;
    ota__strlcpy(q.name, j->c.vm, sizeof(q.name));
    q.want_bytes = true;
    rc = ota__ctl(o, &q, &r, IPC_CTL_FRAME_BIG);
    if (rc != 0 || r.code != IPC_CTL_OK) {
        snprintf(msg, msglen, "%s", rc ? pl_strerror(rc) : r.message);
        code = rc ? VMF_E_RUNTIME : ota__code_of_ctl(r.code, false);
        ipc_ctl_resp_free(&r);
        return code;
    }
    buf = r.data;
    len = r.len;
    r.data = NULL;
    ipc_ctl_resp_free(&r);
    if ((rc = pl_fs_mkdir(&o->root, "up")) != 0 && rc != PL_EEXIST)
        goto io;
    up_name(name, sizeof(name), j->c.id);
    if ((rc = ota__write_atomic(&o->root, name, buf, len)) != 0)
        goto io;
    uploads_prune(o);
    vmf_result_init(&res);
    ota__strlcpy(res.cmd_id, j->c.id, sizeof(res.cmd_id));
    res.kind = j->c.kind;
    res.final = true;
    res.code = VMF_OK;
    snprintf(res.message, sizeof(res.message), "snapshot of %zu bytes", len);
    ota__strlcpy(res.vm, j->c.vm, sizeof(res.vm));
    res.has_xfer = true;
    ota__strlcpy(res.xfer.id, j->c.id, sizeof(res.xfer.id));
    res.xfer.size = len;
    res.xfer.chunk_size = OTA_SNAP_CHUNK;
    vmf_sha256(buf, len, res.xfer.sha256);
    ota__log("cmd %s: snapshot %s: ok, %zu bytes; uploading", j->c.id,
             j->c.vm, len);
    send_result(o, &j->rep, &res);
    n = (uint32_t)((len + OTA_SNAP_CHUNK - 1) / OTA_SNAP_CHUNK);
    for (i = 0; i < n && !stopping(o); i++) {
        /* At most `window` QoS 1 publishes unacknowledged. */
        while (vmf_mqtt_pending(o->mqtt) >= o->cfg.window && !stopping(o))
            pl_sleep_ns(2000000);
        upload_chunk(o, j->c.id, buf, len, i);
    }
    free(buf);
    return VMF_OK;
io:
    free(buf);
    snprintf(msg, msglen, "keeping the snapshot: %s", pl_strerror(rc));
    return VMF_E_IO;
}

static int
do_restore(worker_t *w, job_t *j, char *msg, size_t msglen)
{
    uint8_t *snap = NULL;
    size_t len = 0;
    int code;

    if (!j->c.has_xfer) {
        snprintf(msg, msglen, "restore needs a transfer");
        return VMF_E_INVALID;
    }
    if ((code = pull(w, j, &snap, &len, msg, msglen)) != VMF_OK)
        return code;
    ota__log("%s: restoring %zu bytes", j->what, len);
    code = vm_op(w->o, IPC_CTL_OP_RESTORE, j->c.vm, true, snap, len, msg,
                 msglen);
    free(snap);
    return code;
}

/* ---- commands ------------------------------------------------------------- */

static bool
is_long(vmf_cmd_kind_t k)
{
    return k == VMF_CMD_CREATE || k == VMF_CMD_UPDATE ||
           k == VMF_CMD_RESTORE || k == VMF_CMD_SNAPSHOT;
}

static void
set_active(ota_t *o, const vmf_cmd_t *c)
{
    pl_mutex_lock(&o->lock);
    ota__strlcpy(o->active_id, c ? c->id : "", sizeof(o->active_id));
    o->active_kind = c ? c->kind : VMF_CMD_NONE;
    o->cancel = false;
    pl_mutex_unlock(&o->lock);
}

/* Run a long command to its end (or until the worker stops). */
static void
run_long(worker_t *w, job_t *j)
{
    ota_t *o = w->o;
    char msg[VMF_TEXT_MAX] = "", version[VMF_VERSION_MAX] = "";
    int code, rc;

    snprintf(j->what, sizeof(j->what), "%s %s", vmf_cmd_name(j->c.kind),
             j->c.vm);
    j->last_pct = 0;
    j->last_ms = 0;
    if (!j->resumed && (rc = active_save(o, j)) != 0)
        ota__log("cmd %s: cannot save it for a resume: %s", j->c.id,
                 pl_strerror(rc));
    set_active(o, &j->c);
    w->job = j;
    ota__log("cmd %s: %s %s: %s", j->c.id, vmf_cmd_name(j->c.kind),
             j->c.vm, j->resumed ? "resuming after a restart" : "accepted");
    answer(o, &j->rep, &j->c, false, VMF_OK,
           j->resumed ? "resumed" : "accepted", NULL);
    switch (j->c.kind) {
    case VMF_CMD_CREATE:
    case VMF_CMD_UPDATE:
        code = do_update(w, j, msg, sizeof(msg), version, sizeof(version));
        break;
    case VMF_CMD_RESTORE:
        code = do_restore(w, j, msg, sizeof(msg));
        break;
    default:
        code = do_snapshot(w, j, msg, sizeof(msg));
        if (code == VMF_OK)
            goto done; /* its final result went out before the chunks */
        break;
    }
    if (code == OTA_STOPPED) {
        /* DIR/active stays: the next start resumes it. */
        ota__log("cmd %s: interrupted; it resumes at the next start",
                 j->c.id);
        w->job = NULL;
        set_active(o, NULL);
        return;
    }
    answer(o, &j->rep, &j->c, true, (vmf_code_t)code, msg,
           version[0] ? version : NULL);
done:
    if (j->c.has_xfer && j->c.kind != VMF_CMD_SNAPSHOT)
        ota_xfer_remove(&o->root, j->c.xfer.id);
    pl_fs_unlink(&o->root, ACTIVE_FILE);
    w->job = NULL;
    set_active(o, NULL);
    ota__state_dirty(o);
}

static ipc_ctl_op_t
lifecycle_op(vmf_cmd_kind_t k)
{
    switch (k) {
    case VMF_CMD_START:
        return IPC_CTL_OP_START;
    case VMF_CMD_STOP:
        return IPC_CTL_OP_STOP;
    case VMF_CMD_SUSPEND:
        return IPC_CTL_OP_SUSPEND;
    case VMF_CMD_RESUME:
        return IPC_CTL_OP_RESUME;
    case VMF_CMD_RESTART:
        return IPC_CTL_OP_RESTART;
    case VMF_CMD_DESTROY:
        return IPC_CTL_OP_DESTROY;
    default:
        return IPC_CTL_OP_NONE;
    }
}

/*
 * LOGS: the tail of the VM's log in the result's data.  It only reads,
 * so it runs even while a long command works on the same VM.
 */
static void
do_logs(ota_t *o, const vmf_cmd_t *c, const reply_t *rep)
{
    char msg[VMF_TEXT_MAX];
    vmf_result_t r;
    vmf_code_t code;
    uint8_t *data;
    size_t len;
    bool truncated;

    code = ota__vm_logs(o, c->vm,
                        c->log_bytes ? c->log_bytes : VMF_LOG_BYTES_DEFAULT,
                        &data, &len, &truncated, msg, sizeof(msg));
    if (code != VMF_OK) {
        answer(o, rep, c, true, code, msg, NULL);
        return;
    }
    vmf_result_init(&r);
    ota__strlcpy(r.cmd_id, c->id, sizeof(r.cmd_id));
    r.kind = c->kind;
    r.final = true;
    r.code = VMF_OK;
    ota__strlcpy(r.message, truncated ? "truncated" : "complete",
                 sizeof(r.message));
    ota__strlcpy(r.vm, c->vm, sizeof(r.vm));
    r.data = data;
    r.len = len;
    ota__log("cmd %s: logs %s: ok, %zu bytes%s", c->id, c->vm, len,
               truncated ? ", truncated" : "");
    send_result(o, rep, &r);
    free(data);
}

/* CANCEL: the running long command, or one waiting its turn. */
static void
do_cancel(worker_t *w, const vmf_cmd_t *c, const reply_t *rep)
{
    ota_t *o = w->o;
    ota_item_t *prev, *it;
    vmf_cmd_t d;
    reply_t drep;

    if (w->job != NULL && strcmp(w->job->c.id, c->cancel_id) == 0) {
        if (w->job->c.kind == VMF_CMD_SNAPSHOT || w->job->phase != 0) {
            answer(o, rep, c, true, VMF_E_STATE,
                   "the command is past its transfer", NULL);
            return;
        }
        pl_mutex_lock(&o->lock);
        o->cancel = true;
        pl_cond_broadcast(&o->cond);
        pl_mutex_unlock(&o->lock);
        answer(o, rep, c, true, VMF_OK, "cancelling", NULL);
        return;
    }
    for (prev = NULL, it = w->deferred; it != NULL;
         prev = it, it = it->next) {
        if (vmf_cmd_decode(it->payload, it->len, &d) != 0 ||
            strcmp(d.id, c->cancel_id) != 0)
            continue;
        if (prev != NULL)
            prev->next = it->next;
        else
            w->deferred = it->next;
        if (w->deferred_tail == it)
            w->deferred_tail = prev;
        reply_init(o, &drep, it, d.id);
        answer(o, &drep, &d, true, VMF_E_CANCELLED, "cancelled", NULL);
        answer(o, rep, c, true, VMF_OK, "cancelled", NULL);
        ota__item_free(it);
        return;
    }
    answer(o, rep, c, true, VMF_E_NOT_FOUND,
           "no such command in progress", NULL);
}

static void
defer(worker_t *w, ota_item_t *it)
{
    it->next = NULL;
    if (w->deferred_tail != NULL)
        w->deferred_tail->next = it;
    else
        w->deferred = it;
    w->deferred_tail = it;
}

static bool
deferred_has(const worker_t *w, const char *id)
{
    const ota_item_t *it;
    vmf_cmd_t d;

    for (it = w->deferred; it != NULL; it = it->next)
        if (vmf_cmd_decode(it->payload, it->len, &d) == 0 &&
            strcmp(d.id, id) == 0)
            return true;
    return false;
}

/* Handle one command item; takes ownership of `it`. */
static void
handle_cmd(worker_t *w, ota_item_t *it)
{
    ota_t *o = w->o;
    char msg[VMF_TEXT_MAX];
    const uint8_t *stored;
    vmrt_vm_info_t info;
    size_t slen;
    vmf_cmd_t c;
    reply_t rep;
    job_t j;
    vmf_code_t code;
    int rc;

    vmf_cmd_init(&c);
    if ((rc = vmf_cmd_decode(it->payload, it->len, &c)) != 0) {
        /* The answer needs an id: the correlation data is the command
         * id (docs/protocol.md); without it there is no one to tell. */
        vmf_cmd_init(&c);
        if (it->corr_len == 0 || it->corr_len >= sizeof(c.id)) {
            ota__log("cmd: undecodable (%d), without a usable correlation "
                     "id; dropped", rc);
            ota__item_free(it);
            return;
        }
        memcpy(c.id, it->corr, it->corr_len);
        c.id[it->corr_len] = '\0';
        reply_init(o, &rep, it, NULL);
        ota__log("cmd %s: undecodable (%d); answering E_INVALID", c.id, rc);
        answer(o, &rep, &c, true, VMF_E_INVALID, "undecodable command",
               NULL);
        ota__item_free(it);
        return;
    }
    reply_init(o, &rep, it, c.id);
    if (!vmf_device_id_valid(c.id)) {
        answer(o, &rep, &c, true, VMF_E_INVALID,
               "command id must be 1..63 of [A-Za-z0-9._-]", NULL);
        goto out;
    }
    /* A redelivery: the stored answer, or "accepted" while it runs. */
    if (ota_dedup_find(o->dedup, c.id, &stored, &slen)) {
        ota__log("cmd %s: duplicate; answering its result again", c.id);
        ota__publish_raw(o, rep.topic, stored, slen, rep.corr, rep.corr_len,
                         false);
        goto out;
    }
    if (w->job != NULL && strcmp(w->job->c.id, c.id) == 0) {
        ota__log("cmd %s: duplicate of the running command", c.id);
        answer(o, &rep, &c, false, VMF_OK, "accepted", NULL);
        goto out;
    }
    if (deferred_has(w, c.id)) {
        answer(o, &rep, &c, false, VMF_OK, "accepted", NULL);
        goto out;
    }
    if (strcmp(c.device, o->cfg.device) != 0) {
        snprintf(msg, sizeof(msg), "command for device '%s', this is '%s'",
                 c.device, o->cfg.device);
        answer(o, &rep, &c, true, VMF_E_WRONG_DEVICE, msg, NULL);
        goto out;
    }
    if (c.kind <= VMF_CMD_NONE || c.kind >= VMF_CMD_MAX_) {
        snprintf(msg, sizeof(msg), "unknown command kind %d", (int)c.kind);
        answer(o, &rep, &c, true, VMF_E_UNKNOWN_COMMAND, msg, NULL);
        goto out;
    }
    if (c.kind == VMF_CMD_CANCEL) {
        do_cancel(w, &c, &rep);
        goto out;
    }
    if (c.kind == VMF_CMD_INVENTORY) {
        ota__publish_state(o, true);
        answer(o, &rep, &c, true, VMF_OK, "state published", NULL);
        goto out;
    }
    if (c.vm[0] == '\0') {
        answer(o, &rep, &c, true, VMF_E_INVALID, "no VM named", NULL);
        goto out;
    }
    if (c.kind == VMF_CMD_LOGS) {
        do_logs(o, &c, &rep);
        goto out;
    }
    if (is_long(c.kind)) {
        if (w->job != NULL) {
            ota__log("cmd %s: %s %s: queued behind %s", c.id,
                     vmf_cmd_name(c.kind), c.vm, w->job->c.id);
            /* Long commands are acknowledged at once, queued or not. */
            answer(o, &rep, &c, false, VMF_OK, "accepted", NULL);
            defer(w, it);
            return;
        }
        memset(&j, 0, sizeof(j));
        j.c = c;
        j.rep = rep;
        j.raw = it->payload;
        j.rawlen = it->len;
        run_long(w, &j);
        goto out;
    }
    if (w->job != NULL && strcmp(w->job->c.vm, c.vm) == 0) {
        snprintf(msg, sizeof(msg), "%s of VM '%s' is in progress (%s)",
                 vmf_cmd_name(w->job->c.kind), c.vm, w->job->c.id);
        answer(o, &rep, &c, true, VMF_E_BUSY, msg, NULL);
        goto out;
    }
    code = vm_op(o, lifecycle_op(c.kind), c.vm, false, NULL, 0, msg,
                 sizeof(msg));
    if (code == VMF_OK && c.kind != VMF_CMD_DESTROY &&
        vm_info(o, c.vm, &info, msg, sizeof(msg)) == 1) {
        snprintf(msg, sizeof(msg), "%s", ipc_ctl_state_name(info.state));
        answer(o, &rep, &c, true, code, msg, info.version);
    } else {
        answer(o, &rep, &c, true, code, msg, NULL);
    }
    ota__state_dirty(o);
out:
    ota__item_free(it);
}

/* ---- the thread ------------------------------------------------------------- */

static void
resume_active(worker_t *w)
{
    ota_t *o = w->o;
    job_t j;
    int rc;

    memset(&j, 0, sizeof(j));
    vmf_cmd_init(&j.c);
    if ((rc = active_load(o, &j)) != 0) {
        if (rc != PL_ENOENT) {
            ota__log("state: %s is unreadable; dropped", ACTIVE_FILE);
            pl_fs_unlink(&o->root, ACTIVE_FILE);
        }
        free(j.raw);
        return;
    }
    j.resumed = true;
    run_long(w, &j);
    free(j.raw);
}

static void
worker_main(void *arg)
{
    worker_t w;
    ota_item_t *it;

    memset(&w, 0, sizeof(w));
    w.o = arg;
    resume_active(&w);
    while (!stopping(w.o)) {
        /* Long commands that waited their turn come first. */
        if (w.deferred != NULL) {
            it = w.deferred;
            w.deferred = it->next;
            if (w.deferred == NULL)
                w.deferred_tail = NULL;
        } else if ((it = wait_item(w.o, ota__now_ms() + 1000)) == NULL) {
            pl_mutex_lock(&w.o->lock);
            w.o->rerequest = false;
            w.o->swap_seen = false;
            w.o->cancel = false;
            pl_mutex_unlock(&w.o->lock);
            continue;
        }
        switch (it->kind) {
        case OTA_ITEM_CMD:
            handle_cmd(&w, it);
            break;
        case OTA_ITEM_UPREQ:
            upload_resend(w.o, &it->req);
            ota__item_free(it);
            break;
        default:
            ota__debug("chunk %u of %s with no transfer running; dropped",
                       (unsigned)it->chunk.index, it->chunk.xfer_id);
            ota__item_free(it);
            break;
        }
    }
    while ((it = w.deferred) != NULL) {
        w.deferred = it->next;
        ota__item_free(it);
    }
}

int
ota__worker_start(ota_t *o)
{
    pl_thread_opts_t t = { 0, 0, "ota-worker" };
    int rc;

    if ((rc = pl_fs_mkdir(&o->root, "xfer")) != 0 && rc != PL_EEXIST)
        return rc;
    if ((rc = pl_fs_mkdir(&o->root, "up")) != 0 && rc != PL_EEXIST)
        return rc;
    if ((rc = ota_dedup_open(&o->root, "cmds", &o->dedup)) != 0)
        return rc;
    return pl_thread_create(&o->worker, &t, worker_main, o);
}

void
ota__worker_stop(ota_t *o)
{
    ota_item_t *it;

    pl_mutex_lock(&o->lock);
    o->stop = true;
    pl_cond_broadcast(&o->cond);
    pl_mutex_unlock(&o->lock);
    pl_thread_join(&o->worker);
    while ((it = o->head) != NULL) {
        o->head = it->next;
        ota__item_free(it);
    }
    o->tail = NULL;
    ota_dedup_close(o->dedup);
    o->dedup = NULL;
}
