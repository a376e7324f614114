/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The link to vmrt: one control connection for requests (serialized by
 * ctl_lock) and one SUBSCRIBE connection whose events a thread of its own
 * turns into fleet events, /state updates and swap outcomes.  Both
 * reconnect when vmrt restarts; the socket path stays the same.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_internal.h"
#include "ota_util.h"

#define CONNECT_TRIES_MS 5000u
#define EV_BACKOFF_MIN_MS 100u
#define EV_BACKOFF_MAX_MS 2000u
#define LOG_READ_MAX (32u * 1024) /* per LOGS request: fits a small frame */
#define LOG_READS_MAX 64u         /* a VM that logs faster than we read */

/* Ops that change nothing, so that a retry after a reconnect is safe. */
static bool
read_only(ipc_ctl_op_t op)
{
    return op == IPC_CTL_OP_LIST || op == IPC_CTL_OP_INFO ||
           op == IPC_CTL_OP_SWAP_STATUS;
}

/*
 * ctl_connect: connect the control socket, retrying for a few seconds so
 * that a restarting vmrt has time to listen again.  Called with ctl_lock.
 * Return: 0 or a PL_E* code.
 */
static int
ctl_connect(ota_t *o)
{
    uint64_t end = ota__now_ms() + CONNECT_TRIES_MS;
    uint32_t wait = 50;
    int rc;

    for (;;) {
        if ((rc = ipc_ctl_connect(o->cfg.socket, &o->ctl)) == 0) {
            o->ctl_open = true;
            return 0;
        }
        if (ota__now_ms() >= end)
            return rc;
        pl_sleep_ns((uint64_t)wait * 1000000u);
        wait = wait * 2 < 500 ? wait * 2 : 500;
    }
}

int
ota__ctl(ota_t *o, ipc_ctl_req_t *req, ipc_ctl_resp_t *resp, size_t max)
{
    int rc, tries = read_only(req->op) ? 2 : 1;

    ipc_ctl_resp_init(resp);
    pl_mutex_lock(&o->ctl_lock);
    req->id = ++o->ctl_next_id;
    for (;;) {
        if (!o->ctl_open && (rc = ctl_connect(o)) != 0)
            break;
        ipc_ctl_resp_free(resp);
        if ((rc = ipc_ctl_call(o->ctl, req, resp, max)) == 0)
            break;
        /* vmrt went away (or the stream broke): reconnect next time. */
        ota__log("vmrt link: %s; reconnecting", pl_strerror(rc));
        pl_sock_close(o->ctl);
        o->ctl_open = false;
        /* Not connected first: a fresh connect may have worked (the
         * request was not sent), but an op that changes something is not
         * repeated blindly after it may have run. */
        if (--tries <= 0)
            break;
    }
    pl_mutex_unlock(&o->ctl_lock);
    return rc;
}

/*
 * tail_add: append p[0..n) to the tail buf[0..*have) of at most cap
 * bytes, dropping its oldest bytes first.
 * Return: true if bytes were dropped.
 */
static bool
tail_add(uint8_t *buf, size_t cap, size_t *have, const uint8_t *p, size_t n)
{
    size_t keep;
    bool dropped;

    if (n >= cap) {
        memcpy(buf, p + (n - cap), cap);
        dropped = *have > 0 || n > cap;
        *have = cap;
        return dropped;
    }
    if (*have + n <= cap) {
        memcpy(buf + *have, p, n);
        *have += n;
        return false;
    }
    keep = cap - n;
    memmove(buf, buf + (*have - keep), keep);
    memcpy(buf + keep, p, n);
    *have = cap;
    return true;
}

vmf_code_t
ota__vm_logs(ota_t *o, const char *vm, size_t want, uint8_t **out,
             size_t *len, bool *truncated, char *msg, size_t msglen)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    uint8_t *buf;
    size_t have = 0;
    uint64_t seq = 0;
    size_t n = 0;
    vmf_code_t code = VMF_OK;
    uint32_t i;
    int rc;

    *out = NULL;
    *len = 0;
    *truncated = false;
    msg[0] = '\0';
    if (want == 0 || want > VMF_RESULT_DATA_MAX ||
        (buf = malloc(want)) == NULL) {
        snprintf(msg, msglen, "cannot keep %zu bytes of log", want);
        return VMF_E_INTERNAL;
    }
    /*
     * vmrt reads its ring from a sequence number; 0 clamps to the oldest
     * byte it still has.  Read to the end and keep the last `want`.
     */
    for (i = 0; i < LOG_READS_MAX; i++) {
        ipc_ctl_req_init(&q);
        q.op = IPC_CTL_OP_LOGS;
        ota__strlcpy(q.name, vm, sizeof(q.name));
        q.seq = seq;
        q.max = LOG_READ_MAX;
        if ((rc = ota__ctl(o, &q, &r, IPC_CTL_FRAME_SMALL)) != 0) {
            snprintf(msg, msglen, "vmrt: %s", pl_strerror(rc));
            code = VMF_E_RUNTIME;
        } else if (r.code != IPC_CTL_OK) {
            code = ota__code_of_ctl(r.code, false);
            snprintf(msg, msglen, "%s",
                     r.message[0] ? r.message : ipc_ctl_code_str(r.code));
        } else if (r.len > LOG_READ_MAX || r.next_seq < seq + r.len) {
            snprintf(msg, msglen, "vmrt: a bad log reply");
            code = VMF_E_RUNTIME;
        }
        if (code != VMF_OK) {
            ipc_ctl_resp_free(&r);
            free(buf);
            return code;
        }
        /* The first read starts at the oldest byte kept: anything
         * before it is gone from the ring. */
        if (i == 0 && r.next_seq > r.len)
            *truncated = true;
        if (r.len > 0 && tail_add(buf, want, &have, r.data, r.len))
            *truncated = true;
        seq = r.next_seq;
        n = r.len;
        ipc_ctl_resp_free(&r);
        if (n == 0)
            break;
    }
    if (have == 0) {
        free(buf);
        buf = NULL;
    }
    *out = buf;
    *len = have;
    return VMF_OK;
}

void
ota__ctl_close(ota_t *o)
{
    pl_mutex_lock(&o->ctl_lock);
    if (o->ctl_open)
        pl_sock_close(o->ctl);
    o->ctl_open = false;
    pl_mutex_unlock(&o->ctl_lock);
}

static vmf_event_kind_t
map_kind(vmrt_event_kind_t k)
{
    switch (k) {
    case VMRT_EV_STATE:
        return VMF_EV_STATE;
    case VMRT_EV_CRASH:
        return VMF_EV_CRASH;
    case VMRT_EV_RESTART:
        return VMF_EV_RESTART;
    case VMRT_EV_WATCHDOG:
        return VMF_EV_WATCHDOG;
    case VMRT_EV_ROLLBACK:
        return VMF_EV_ROLLBACK;
    default:
        return VMF_EV_NONE;
    }
}

/* One event from vmrt: relay it, and note swap outcomes for the worker. */
static void
on_event(ota_t *o, const vmrt_event_t *e)
{
    vmf_event_t ev;
    bool own_swap;

    ota__debug("vmrt event %d vm %s: %s", (int)e->kind, e->vm, e->detail);
    pl_mutex_lock(&o->lock);
    if (e->kind == VMRT_EV_SWAP) {
        ota__strlcpy(o->swap_vm, e->vm, sizeof(o->swap_vm));
        ota__strlcpy(o->swap_detail, e->detail, sizeof(o->swap_detail));
        o->swap_seen = true;
        pl_cond_broadcast(&o->cond);
    }
    /* The worker reports a rollback of its own update with the command
     * id; vmrt's plain one would be a duplicate. */
    own_swap = o->active_id[0] != '\0' && o->active_kind == VMF_CMD_UPDATE;
    pl_mutex_unlock(&o->lock);
    ota__state_dirty(o);
    vmf_event_init(&ev);
    ev.kind = map_kind(e->kind);
    if (ev.kind == VMF_EV_NONE || (ev.kind == VMF_EV_ROLLBACK && own_swap))
        return;
    ota__strlcpy(ev.vm, e->vm, sizeof(ev.vm));
    if (ev.kind == VMF_EV_STATE)
        ota__strlcpy(ev.detail, ipc_ctl_state_name((int)e->state),
                     sizeof(ev.detail));
    else
        ota__strlcpy(ev.detail, e->detail, sizeof(ev.detail));
    if (ev.kind != VMF_EV_STATE)
        ota__log("vm %s: %s: %s", ev.vm, vmf_event_name(ev.kind),
                 ev.detail);
    ota__publish_event(o, &ev);
}

/* Wait up to ms unless stopping.  Return: true to go on. */
static bool
pause_ms(ota_t *o, uint32_t ms)
{
    uint64_t end = pl_time_mono_ns() + (uint64_t)ms * 1000000u;
    bool go;

    pl_mutex_lock(&o->lock);
    while (!o->stop && pl_time_mono_ns() < end)
        pl_cond_timedwait(&o->cond, &o->lock, end);
    go = !o->stop;
    pl_mutex_unlock(&o->lock);
    return go;
}

/* Connect and subscribe.  Return: 0 or a PL_E* code. */
static int
subscribe(ota_t *o, pl_socket_t *s)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc;

    if ((rc = ipc_ctl_connect(o->cfg.socket, s)) != 0)
        return rc;
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SUBSCRIBE;
    q.id = 1;
    rc = ipc_ctl_call(*s, &q, &r, IPC_CTL_FRAME_SMALL);
    if (rc == 0 && r.code != IPC_CTL_OK)
        rc = PL_EIO;
    ipc_ctl_resp_free(&r);
    if (rc != 0)
        pl_sock_close(*s);
    return rc;
}

static void
events_main(void *arg)
{
    ota_t *o = arg;
    uint32_t backoff = EV_BACKOFF_MIN_MS;
    bool said_down = false;
    ipc_ctl_resp_t r;
    pl_socket_t s;
    int rc;

    while (pause_ms(o, 0)) {
        if ((rc = subscribe(o, &s)) != 0) {
            if (!said_down)
                ota__log("vmrt event stream on %s: %s; retrying",
                         o->cfg.socket, pl_strerror(rc));
            said_down = true;
            if (!pause_ms(o, backoff))
                break;
            backoff = backoff * 2 < EV_BACKOFF_MAX_MS ? backoff * 2
                                                       : EV_BACKOFF_MAX_MS;
            continue;
        }
        backoff = EV_BACKOFF_MIN_MS;
        said_down = false;
        ota__log("vmrt event stream connected (%s)", o->cfg.socket);
        pl_mutex_lock(&o->ev_lock);
        o->ev_sock = s;
        o->ev_open = true;
        pl_mutex_unlock(&o->ev_lock);
        /* ota__events_stop() sets stop, then shuts ev_sock if open: one
         * of the two sees the other. */
        if (!pause_ms(o, 0)) {
            pl_mutex_lock(&o->ev_lock);
            o->ev_open = false;
            pl_sock_close(s);
            pl_mutex_unlock(&o->ev_lock);
            break;
        }
        pl_mutex_lock(&o->lock);
        o->vmrt_up = true;
        pl_cond_broadcast(&o->cond);
        pl_mutex_unlock(&o->lock);
        /* vmrt may have restarted: its VMs are news. */
        ota__state_dirty(o);
        for (;;) {
            if ((rc = ipc_ctl_recv(s, &r, IPC_CTL_FRAME_SMALL)) != 0) {
                ipc_ctl_resp_free(&r);
                break;
            }
            if (r.has_event)
                on_event(o, &r.event);
            ipc_ctl_resp_free(&r);
        }
        pl_mutex_lock(&o->ev_lock);
        o->ev_open = false;
        pl_sock_close(s);
        pl_mutex_unlock(&o->ev_lock);
        pl_mutex_lock(&o->lock);
        o->vmrt_up = false;
        pl_cond_broadcast(&o->cond);
        pl_mutex_unlock(&o->lock);
        if (pause_ms(o, 0))
            ota__log("vmrt event stream lost: %s; reconnecting",
                     pl_strerror(rc));
    }
}

int
ota__events_start(ota_t *o)
{
    pl_thread_opts_t t = { 0, 0, "ota-events" };

    return pl_thread_create(&o->ev_thread, &t, events_main, o);
}

void
ota__events_stop(ota_t *o)
{
    pl_mutex_lock(&o->lock);
    o->stop = true;
    pl_cond_broadcast(&o->cond);
    pl_mutex_unlock(&o->lock);
    pl_mutex_lock(&o->ev_lock);
    if (o->ev_open)
        pl_sock_shutdown(o->ev_sock, PL_SHUT_RDWR);
    pl_mutex_unlock(&o->ev_lock);
    pl_thread_join(&o->ev_thread);
}
