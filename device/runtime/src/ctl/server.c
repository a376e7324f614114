/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The control server: one thread, one poll loop over the listening Unix
 * socket, the connected clients and a wakeup (stop requests and runtime
 * events).  Each client is non-blocking and read frame by frame; the frame
 * header is checked against the largest allowed size before the body is
 * read, and the decoded request against its operation's own limit.  A
 * request is handled to completion on this thread (lifecycle calls are
 * short; stop waits for a worker to park the VM), then its response is
 * written with a timeout so that a client that stops reading cannot wedge
 * the daemon.
 *
 * Security: the socket is mode 0600 and every peer's kernel credentials
 * are checked at accept (same uid as the daemon, or root).
 */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/ctl.h"
#include "pl/pl.h"
#include "vmrt/ctl.h"
#include "vmrt/runtime.h"
#include "dev/dev.h"
#include "vm/vm_internal.h"
#include "vos.h"

#define CTL_MAX_CLIENTS 16
#define CTL_EVQ 128             /* events kept for slow subscribers */
#define CTL_WRITE_MS 5000       /* a client must take a response by then */
#define CTL_LOG_CHUNK (48u * 1024)
#define CTL_LIST_MAX 1024

typedef struct {
    bool used;
    bool sub;                   /* SUBSCRIBE: gets every event */
    pl_socket_t s;
    ipc_ctl_reader_t rd;
} ctl_client_t;

struct vmrt_ctl {
    vmrt_rt_t *rt;
    char path[VMRT_PATH_MAX];
    char state_dir[VMRT_PATH_MAX];
    pl_socket_t ls;
    pl_wakeup_t wake;
    pl_thread_t thr;
    bool running;
    atomic_bool stop;
    _Atomic uint32_t allowed_uid;
    atomic_bool allow_root;
    /* Event ring, filled on runtime threads, drained by the server. */
    pl_mutex_t evlock;
    bool evclosed;
    vmrt_event_t evq[CTL_EVQ];
    uint32_t evhead, evcount;
    ctl_client_t cl[CTL_MAX_CLIENTS];
};

/* ---- events ------------------------------------------------------------ */

/* Runtime callback: queue the event (dropping the oldest when subscribers
 * fall behind) and wake the loop.  Never blocks beyond a short lock. */
static void
ctl_on_event(void *arg, const vmrt_event_t *ev)
{
    vmrt_ctl_t *c = arg;

    pl_mutex_lock(&c->evlock);
    if (!c->evclosed) {
        c->evq[(c->evhead + c->evcount) % CTL_EVQ] = *ev;
        if (c->evcount < CTL_EVQ)
            c->evcount++;
        else
            c->evhead = (c->evhead + 1) % CTL_EVQ;
        pl_wakeup_signal(&c->wake);
    }
    pl_mutex_unlock(&c->evlock);
}

/* ---- clients ----------------------------------------------------------- */

static void
client_close(ctl_client_t *cl)
{
    if (!cl->used)
        return;
    ipc_ctl_reader_free(&cl->rd);
    pl_sock_close(cl->s);
    memset(cl, 0, sizeof(*cl));
    cl->s = PL_SOCKET_INVALID;
}

/*
 * send_resp: encode and write one response.
 * Return: 0, or a PL_E* code, after which the client must be dropped.
 */
static int
send_resp(pl_socket_t s, const ipc_ctl_resp_t *r)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if ((rc = ipc_ctl_resp_encode(r, &buf, &len)) != 0)
        return rc;
    rc = ipc_ctl_write_all(s, buf, len, CTL_WRITE_MS);
    ipc_ctl_buf_free(buf);
    return rc;
}

static int
send_error(pl_socket_t s, uint64_t id, int code, const char *msg)
{
    ipc_ctl_resp_t r;

    ipc_ctl_resp_init(&r);
    r.id = id;
    r.code = code;
    snprintf(r.message, sizeof(r.message), "%s", msg);
    return send_resp(s, &r);
}

static void
flush_events(vmrt_ctl_t *c)
{
    vmrt_event_t ev;
    ipc_ctl_resp_t r;
    size_t i;

    for (;;) {
        pl_mutex_lock(&c->evlock);
        if (c->evcount == 0) {
            pl_mutex_unlock(&c->evlock);
            return;
        }
        ev = c->evq[c->evhead];
        c->evhead = (c->evhead + 1) % CTL_EVQ;
        c->evcount--;
        pl_mutex_unlock(&c->evlock);

        ipc_ctl_resp_init(&r);
        r.has_event = true;
        r.event = ev;
        for (i = 0; i < CTL_MAX_CLIENTS; i++)
            if (c->cl[i].used && c->cl[i].sub &&
                send_resp(c->cl[i].s, &r) != 0)
                client_close(&c->cl[i]);
    }
}

/* ---- request handlers -------------------------------------------------- */

static void
set_result(ipc_ctl_resp_t *r, int rc, const char *err)
{
    r->code = ipc_ctl_code_of(rc);
    if (rc != 0 && err != NULL && err[0] != '\0')
        snprintf(r->message, sizeof(r->message), "%s", err);
    else
        snprintf(r->message, sizeof(r->message), "%s",
                 rc == 0 ? "ok" : vmrt_strerror(rc));
}

static void
do_list(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    vmrt_vm_info_t *v = NULL;
    uint32_t cap = 16, n;

    (void)q;
    for (;;) {
        vmrt_vm_info_t *nv = realloc(v, cap * sizeof(*v));

        if (nv == NULL) {
            free(v);
            set_result(r, VMRT_ENOMEM, NULL);
            return;
        }
        v = nv;
        n = vmrt_vm_list(c->rt, v, cap);
        /* VMs may be created between calls: retry until all fit. */
        if (n <= cap || cap >= CTL_LIST_MAX)
            break;
        cap = n < CTL_LIST_MAX ? n : CTL_LIST_MAX;
    }
    r->vms = v;
    r->nvms = n < cap ? n : cap;
    set_result(r, 0, NULL);
}

static void
do_info(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    int rc;

    if ((r->vms = calloc(1, sizeof(*r->vms))) == NULL) {
        set_result(r, VMRT_ENOMEM, NULL);
        return;
    }
    if ((rc = vmrt_vm_info(c->rt, q->name, r->vms)) != 0) {
        free(r->vms);
        r->vms = NULL;
        set_result(r, rc, NULL);
        return;
    }
    r->nvms = 1;
    set_result(r, 0, NULL);
}

static void
do_create(vmrt_ctl_t *c, ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    char err[256] = "";
    int rc;

    if (!q->has_manifest || q->len == 0) {
        r->code = IPC_CTL_INVALID;
        snprintf(r->message, sizeof(r->message),
                 "create needs a manifest and module bytes");
        return;
    }
    if (q->manifest.name[0] == '\0')
        memcpy(q->manifest.name, q->name, sizeof(q->name));
    rc = vmrt_vm_create(c->rt, &q->manifest, q->data, q->len, err,
                        sizeof(err));
    set_result(r, rc, err);
    /* For create, "illegal state" means the name is taken. */
    if (rc == VMRT_ESTATE)
        r->code = IPC_CTL_EXISTS;
}

static void
do_lifecycle(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    char err[256] = "";
    int rc;

    switch (q->op) {
    case IPC_CTL_OP_START:
        rc = vmrt_vm_start(c->rt, q->name, err, sizeof(err));
        break;
    case IPC_CTL_OP_STOP:
        rc = vmrt_vm_stop(c->rt, q->name, err, sizeof(err));
        break;
    case IPC_CTL_OP_SUSPEND:
        rc = vmrt_vm_suspend(c->rt, q->name, err, sizeof(err));
        break;
    case IPC_CTL_OP_RESUME:
        rc = vmrt_vm_resume(c->rt, q->name, err, sizeof(err));
        break;
    case IPC_CTL_OP_RESTART:
        rc = vmrt_vm_restart(c->rt, q->name, err, sizeof(err));
        break;
    default: /* IPC_CTL_OP_DESTROY */
        rc = vmrt_vm_destroy(c->rt, q->name, err, sizeof(err));
        break;
    }
    set_result(r, rc, err);
}

/* A scratch file in the state dir for snapshots sent or returned as
 * bytes; named after the VM so that two clients cannot collide on one. */
static void
scratch_path(vmrt_ctl_t *c, const char *vm, const char *what, char *buf,
             size_t len)
{
    snprintf(buf, len, "%s/.ctl-%s-%s.tmp", c->state_dir, what, vm);
}

/*
 * read_bytes: read a file the daemon just wrote into r->data.
 * Return: 0, or a PL_E* code (PL_EFBIG: too big for a frame).
 */
static int
read_bytes(const char *path, ipc_ctl_resp_t *r)
{
    uint8_t *buf;
    size_t len;
    int rc;

    /* Leave room for the response's other fields in the frame. */
    if ((rc = pl_file_read_all(path, IPC_CTL_FRAME_BIG - 4096, &buf,
                               &len)) != 0)
        return rc;
    /* pl_file_read_all's buffer is freed with pl_free_file; responses
     * free with free(): copy. */
    r->data = len > 0 ? malloc(len) : NULL;
    if (len > 0 && r->data == NULL) {
        pl_free_file(buf);
        return PL_ENOMEM;
    }
    if (len > 0)
        memcpy(r->data, buf, len);
    r->len = len;
    pl_free_file(buf);
    return 0;
}

static void
do_snapshot(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    char err[256] = "", tmp[VMRT_PATH_MAX + 64];
    const char *path = q->path;
    int rc;

    if (path[0] == '\0') {
        if (!q->want_bytes) {
            r->code = IPC_CTL_INVALID;
            snprintf(r->message, sizeof(r->message),
                     "snapshot needs a path or want_bytes");
            return;
        }
        scratch_path(c, q->name, "snap", tmp, sizeof(tmp));
        path = tmp;
    }
    rc = vmrt_vm_snapshot(c->rt, q->name, path, err, sizeof(err));
    if (rc == 0 && q->want_bytes && (rc = read_bytes(path, r)) != 0) {
        snprintf(err, sizeof(err), "snapshot bytes: %s%s", pl_strerror(rc),
                 rc == PL_EFBIG ? " (use a path on the device)" : "");
        rc = rc == PL_EFBIG ? VMRT_ELIMIT : VMRT_EIO;
    }
    if (path == tmp)
        pl_fs_remove_tree(tmp);
    set_result(r, rc, err);
}

static void
do_restore(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    char err[256] = "", tmp[VMRT_PATH_MAX + 64];
    const char *path = q->path;
    int rc;

    if (path[0] == '\0') {
        if (q->len == 0) {
            r->code = IPC_CTL_INVALID;
            snprintf(r->message, sizeof(r->message),
                     "restore needs a path or snapshot bytes");
            return;
        }
        scratch_path(c, q->name, "restore", tmp, sizeof(tmp));
        if ((rc = pl_file_write_atomic(tmp, q->data, q->len)) != 0) {
            r->code = IPC_CTL_IO;
            snprintf(r->message, sizeof(r->message),
                     "restore scratch file in %.160s: %s", c->state_dir,
                     pl_strerror(rc));
            return;
        }
        path = tmp;
    }
    rc = vmrt_vm_restore(c->rt, q->name, path, err, sizeof(err));
    if (path == tmp)
        pl_fs_remove_tree(tmp);
    set_result(r, rc, err);
}

static void
do_logs(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    vmrt_vm_info_t info;
    size_t cap = q->max == 0 || q->max > CTL_LOG_CHUNK ? CTL_LOG_CHUNK
                                                       : q->max;
    int rc;

    if ((rc = vmrt_vm_info(c->rt, q->name, &info)) != 0) {
        set_result(r, rc, NULL);
        return;
    }
    if ((r->data = malloc(cap)) == NULL) {
        set_result(r, VMRT_ENOMEM, NULL);
        return;
    }
    r->len = vmrt_vm_log_read(c->rt, q->name, q->seq, (char *)r->data, cap,
                              &r->next_seq);
    set_result(r, 0, NULL);
}

static void
do_power(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    char err[256] = "";
    int rc;

    if (q->power < VMRT_POWER_SUSPEND_ALL || q->power > VMRT_POWER_SHUTDOWN) {
        r->code = IPC_CTL_INVALID;
        snprintf(r->message, sizeof(r->message), "power: unknown event %u",
                 (unsigned)q->power);
        return;
    }
    rc = vmrt_rt_power(c->rt, (vmrt_power_t)q->power,
                       q->deadline_ms ? q->deadline_ms : 1000, err,
                       sizeof(err));
    set_result(r, rc, err);
}

/* Device calls answer VOS_E* codes (src/dev/dev.h). */
static void
dev_result(ipc_ctl_resp_t *r, int rc, const char *dev)
{
    if (rc >= 0) {
        set_result(r, 0, NULL);
        return;
    }
    r->code = rc == VOS_ENOENT  ? IPC_CTL_NOT_FOUND
              : rc == VOS_EINVAL ? IPC_CTL_INVALID
              : rc == VOS_ENOMEM ? IPC_CTL_NO_MEMORY
                                 : IPC_CTL_INTERNAL;
    snprintf(r->message, sizeof(r->message), "%s: %s", dev,
             rc == VOS_ENOENT ? "no such device (or not of that kind)"
                              : ipc_ctl_code_str(r->code));
}

static void
do_dev_list(vmrt_ctl_t *c, ipc_ctl_resp_t *r)
{
    vmrt_dev_info_t d[32];
    uint32_t n, i;
    size_t cap = 64 * 32, off = 0;
    int k;

    n = vmrt_dev_list(c->rt, d, 32);
    if (n > 32)
        n = 32;
    if ((r->data = malloc(cap)) == NULL) {
        set_result(r, VMRT_ENOMEM, NULL);
        return;
    }
    /* One line per device: name kind irq nopen holder. */
    for (i = 0; i < n; i++) {
        k = snprintf((char *)r->data + off, cap - off, "%s %s %u %u %s\n",
                     d[i].name, d[i].kind, (unsigned)d[i].irq,
                     (unsigned)d[i].nopen,
                     d[i].holder[0] ? d[i].holder : "-");
        if (k < 0 || (size_t)k >= cap - off)
            break;
        off += (size_t)k;
    }
    r->len = off;
    set_result(r, 0, NULL);
}

/*
 * do_dev: simulator device I/O.  Actions: list; uart: inject (data), read;
 * temp: const/sine/ramp BASE AMPLITUDE PERIOD_MS, get; led: get; lcd: dump
 * (path on the device).
 */
static void
do_dev(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    const char *a = q->action, *d = q->device;
    int rc;

    if (strcmp(a, "list") == 0) {
        do_dev_list(c, r);
    } else if (strcmp(a, "inject") == 0) {
        rc = vmrt_dev_uart_inject(c->rt, d, q->data, q->len);
        if (rc >= 0) {
            r->values[0] = rc;
            r->nvalues = 1;
        }
        dev_result(r, rc, d);
    } else if (strcmp(a, "read") == 0) {
        if ((r->data = malloc(4096)) == NULL) {
            set_result(r, VMRT_ENOMEM, NULL);
            return;
        }
        rc = vmrt_dev_uart_output(c->rt, d, r->data, 4096);
        r->len = rc > 0 ? (size_t)rc : 0;
        dev_result(r, rc, d);
    } else if (strcmp(a, "const") == 0 || strcmp(a, "sine") == 0 ||
               strcmp(a, "ramp") == 0) {
        vmrt_temp_cfg_t t;

        memset(&t, 0, sizeof(t));
        if (q->nargs < 1 || (a[0] != 'c' && q->nargs < 3) ||
            q->args[0] < INT32_MIN || q->args[0] > INT32_MAX ||
            q->args[1] < INT32_MIN || q->args[1] > INT32_MAX ||
            q->args[2] < 0 || q->args[2] > UINT32_MAX) {
            r->code = IPC_CTL_INVALID;
            snprintf(r->message, sizeof(r->message),
                     "%s: %s needs BASE [AMPLITUDE PERIOD_MS]", d, a);
            return;
        }
        t.wave = a[0] == 'c'   ? VMRT_TEMP_CONST
                 : a[0] == 's' ? VMRT_TEMP_SINE
                               : VMRT_TEMP_RAMP;
        t.base = (int32_t)q->args[0];
        t.amplitude = (int32_t)q->args[1];
        t.period_ms = (uint32_t)q->args[2];
        dev_result(r, vmrt_dev_temp_set(c->rt, d, &t), d);
    } else if (strcmp(a, "temp") == 0) {
        int32_t mdeg = 0;

        rc = vmrt_dev_temp_read(c->rt, d, &mdeg);
        r->values[0] = mdeg;
        r->nvalues = rc == 0;
        dev_result(r, rc, d);
    } else if (strcmp(a, "led") == 0) {
        rc = vmrt_dev_led_get(c->rt, d);
        r->values[0] = rc;
        r->nvalues = rc >= 0;
        dev_result(r, rc, d);
    } else if (strcmp(a, "dump") == 0 && !q->want_bytes) {
        if (q->path[0] == '\0') {
            r->code = IPC_CTL_INVALID;
            snprintf(r->message, sizeof(r->message), "%s: dump needs a path",
                     d);
            return;
        }
        dev_result(r, vmrt_dev_lcd_dump(c->rt, d, q->path), d);
    } else if (strcmp(a, "dump") == 0 && q->want_bytes) {
        char tmp[VMRT_PATH_MAX + 64];

        scratch_path(c, d, "lcd", tmp, sizeof(tmp));
        rc = vmrt_dev_lcd_dump(c->rt, d, tmp);
        if (rc == 0)
            rc = read_bytes(tmp, r) == 0 ? 0 : VOS_ENOMEM;
        pl_fs_remove_tree(tmp);
        dev_result(r, rc, d);
    } else {
        r->code = IPC_CTL_INVALID;
        snprintf(r->message, sizeof(r->message), "%s: unknown action '%s'",
                 d, a);
    }
}

/* STAGE: stage-and-swap; the version comes from the manifest. */
static void
do_stage(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    vmrt_swap_opts_t o;
    char err[256] = "";
    int rc;

    if (!q->has_manifest || q->manifest.version[0] == '\0' ||
        q->len == 0) {
        r->code = IPC_CTL_INVALID;
        snprintf(r->message, sizeof(r->message),
                 "stage needs module bytes and a manifest with a version");
        return;
    }
    memset(&o, 0, sizeof(o));
    o.health_window_ms = q->health_ms;
    o.snapshot_before = q->snapshot_before;
    rc = vmrt_vm_swap(c->rt, q->name, q->data, q->len, q->manifest.version,
                      &o, err, sizeof(err));
    set_result(r, rc, err);
}

/* SWAP_STATUS: values[0] = the state; message says the rest. */
static void
do_swap_status(vmrt_ctl_t *c, const ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    static const char *const words[] = { "none", "health", "committed",
                                         "rolled-back" };
    vmrt_swap_status_t st;
    int rc;

    memset(&st, 0, sizeof(st));
    if ((rc = vmrt_vm_swap_status(c->rt, q->name, &st)) != 0) {
        set_result(r, rc, NULL);
        return;
    }
    set_result(r, 0, NULL);
    r->values[0] = st.state;
    r->nvalues = 1;
    if (st.state == VMRT_SWAP_NONE)
        snprintf(r->message, sizeof(r->message), "none");
    else
        snprintf(r->message, sizeof(r->message), "%s %s -> %s%s%s",
                 (unsigned)st.state < 4 ? words[st.state] : "?",
                 st.old_version, st.new_version, st.reason[0] ? ": " : "",
                 st.reason);
}

/*
 * dispatch: run one decoded request into `r`.
 * Return: true if the client asked for the event stream.
 */
static bool
dispatch(vmrt_ctl_t *c, ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    r->id = q->id;
    switch (q->op) {
    case IPC_CTL_OP_LIST:
        do_list(c, q, r);
        break;
    case IPC_CTL_OP_INFO:
        do_info(c, q, r);
        break;
    case IPC_CTL_OP_CREATE:
        do_create(c, q, r);
        break;
    case IPC_CTL_OP_START:
    case IPC_CTL_OP_STOP:
    case IPC_CTL_OP_SUSPEND:
    case IPC_CTL_OP_RESUME:
    case IPC_CTL_OP_RESTART:
    case IPC_CTL_OP_DESTROY:
        do_lifecycle(c, q, r);
        break;
    case IPC_CTL_OP_SNAPSHOT:
        do_snapshot(c, q, r);
        break;
    case IPC_CTL_OP_RESTORE:
        do_restore(c, q, r);
        break;
    case IPC_CTL_OP_LOGS:
        do_logs(c, q, r);
        break;
    case IPC_CTL_OP_DEV:
        do_dev(c, q, r);
        break;
    case IPC_CTL_OP_STAGE:
        do_stage(c, q, r);
        break;
    case IPC_CTL_OP_SWAP_STATUS:
        do_swap_status(c, q, r);
        break;
    case IPC_CTL_OP_POWER:
        do_power(c, q, r);
        break;
    case IPC_CTL_OP_SUBSCRIBE:
        set_result(r, 0, NULL);
        return true;
    default:
        r->code = IPC_CTL_INVALID;
        snprintf(r->message, sizeof(r->message), "unknown operation %d",
                 (int)q->op);
        break;
    }
    return false;
}

/*
 * serve_frame: decode, size-check, dispatch and answer one frame.
 * Return: 0 to keep the client, a PL_E* code to drop it.
 */
static int
serve_frame(vmrt_ctl_t *c, ctl_client_t *cl, const uint8_t *body,
            size_t blen)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int rc;

    if ((rc = ipc_ctl_req_decode(body, blen, &q)) != 0)
        return send_error(cl->s, 0,
                          rc == PL_EMSGSIZE ? IPC_CTL_TOO_LARGE
                                            : IPC_CTL_INVALID,
                          rc == PL_EMSGSIZE ? "a field is over its limit"
                                            : "undecodable request");
    if (blen > ipc_ctl_req_limit(q.op)) {
        rc = send_error(cl->s, q.id, IPC_CTL_TOO_LARGE,
                        "request over this operation's size limit");
        ipc_ctl_req_free(&q);
        return rc;
    }
    ipc_ctl_resp_init(&r);
    if (dispatch(c, &q, &r))
        cl->sub = true;
    rc = send_resp(cl->s, &r);
    ipc_ctl_resp_free(&r);
    ipc_ctl_req_free(&q);
    return rc;
}

static void
serve_client(vmrt_ctl_t *c, ctl_client_t *cl)
{
    uint8_t *body;
    size_t blen;
    int rc;

    for (;;) {
        rc = ipc_ctl_reader_step(&cl->rd, cl->s, IPC_CTL_FRAME_BIG, &body,
                                 &blen);
        if (rc == 0)
            return;
        if (rc < 0) {
            /* An oversized frame gets an answer; the stream cannot be
             * resynchronized after it, so the client goes either way. */
            if (rc == PL_EMSGSIZE)
                send_error(cl->s, 0, IPC_CTL_TOO_LARGE,
                           "frame over the size limit");
            client_close(cl);
            return;
        }
        rc = serve_frame(c, cl, body, blen);
        ipc_ctl_buf_free(body);
        if (rc != 0) {
            client_close(cl);
            return;
        }
    }
}

static void
accept_client(vmrt_ctl_t *c)
{
    pl_socket_t s;
    uint32_t uid = 0, gid = 0;
    size_t i;
    int rc;

    if (pl_sock_accept(c->ls, &s, NULL) != 0)
        return;
    rc = pl_sock_peer_cred(s, &uid, &gid, NULL);
    if (rc != 0 || !(uid == atomic_load(&c->allowed_uid) ||
                     (uid == 0 && atomic_load(&c->allow_root)))) {
        /* Tell the peer why before hanging up: it helps the operator. */
        send_error(s, 0, IPC_CTL_DENIED,
                   "peer credentials refused: not the daemon's user");
        pl_sock_close(s);
        return;
    }
    for (i = 0; i < CTL_MAX_CLIENTS; i++)
        if (!c->cl[i].used)
            break;
    if (i == CTL_MAX_CLIENTS || pl_sock_set_nonblock(s, 1) != 0) {
        send_error(s, 0, IPC_CTL_INTERNAL, "too many control clients");
        pl_sock_close(s);
        return;
    }
    c->cl[i].used = true;
    c->cl[i].sub = false;
    c->cl[i].s = s;
    ipc_ctl_reader_init(&c->cl[i].rd);
}

static void
ctl_loop(void *arg)
{
    vmrt_ctl_t *c = arg;
    pl_pollfd_t pfd[2 + CTL_MAX_CLIENTS];
    int idx[2 + CTL_MAX_CLIENTS];
    size_t n, i;
    int rc;

    while (!atomic_load(&c->stop)) {
        n = 0;
        pfd[n].fd = pl_wakeup_fd(&c->wake);
        pfd[n].events = PL_POLLIN;
        pfd[n++].revents = 0;
        pfd[n].fd = c->ls;
        pfd[n].events = PL_POLLIN;
        pfd[n++].revents = 0;
        for (i = 0; i < CTL_MAX_CLIENTS; i++) {
            if (!c->cl[i].used)
                continue;
            idx[n] = (int)i;
            pfd[n].fd = c->cl[i].s;
            pfd[n].events = PL_POLLIN;
            pfd[n++].revents = 0;
        }
        rc = pl_poll(pfd, n, -1);
        if (rc < 0) {
            if (rc != PL_EINTR)
                pl_sleep_ns(10000000u); /* do not spin on a poll error */
            continue;
        }
        if (pfd[0].revents != 0) {
            pl_wakeup_drain(&c->wake);
            if (atomic_load(&c->stop))
                break;
            flush_events(c);
        }
        for (i = 2; i < n; i++)
            if (pfd[i].revents != 0 && c->cl[idx[i]].used)
                serve_client(c, &c->cl[idx[i]]);
        if (pfd[1].revents != 0)
            accept_client(c);
    }
}

/* ---- API --------------------------------------------------------------- */

int
vmrt_ctl_start(vmrt_rt_t *rt, const char *path, vmrt_ctl_t **out,
               char *err, size_t errlen)
{
    const vmrt_rt_config_t *cfg = &rt->cfg;
    vmrt_ctl_t *c;
    pl_thread_opts_t to = { 0 };
    size_t i;
    int rc, step = 0;

    *out = NULL;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        return PL_ENOMEM;
    c->rt = rt;
    c->ls = PL_SOCKET_INVALID;
    for (i = 0; i < CTL_MAX_CLIENTS; i++)
        c->cl[i].s = PL_SOCKET_INVALID;
    atomic_init(&c->stop, false);
    atomic_init(&c->allowed_uid, pl_getuid());
    atomic_init(&c->allow_root, true);
    snprintf(c->state_dir, sizeof(c->state_dir), "%s", cfg->state_dir);
    if (path != NULL && path[0] != '\0')
        rc = snprintf(c->path, sizeof(c->path), "%s", path);
    else if (cfg->socket[0] != '\0')
        rc = snprintf(c->path, sizeof(c->path), "%s", cfg->socket);
    else
        rc = snprintf(c->path, sizeof(c->path), "%s/vmrt.sock",
                      cfg->state_dir[0] ? cfg->state_dir : ".");
    if (rc < 0 || (size_t)rc >= sizeof(c->path)) {
        snprintf(err, errlen, "control socket path too long");
        rc = PL_ENAMETOOLONG;
        goto fail;
    }
    if ((rc = pl_mutex_init(&c->evlock)) != 0)
        goto fail;
    step = 1;
    if ((rc = pl_wakeup_init(&c->wake)) != 0)
        goto fail;
    step = 2;
    if ((rc = pl_unix_listen(c->path, 8, &c->ls)) != 0) {
        snprintf(err, errlen, "%s: %s%s", c->path, pl_strerror(rc),
                 rc == PL_EADDRINUSE ? " (is another vmrt daemon running?)"
                                     : "");
        goto fail;
    }
    step = 3;
    if ((rc = pl_sock_set_nonblock(c->ls, 1)) != 0)
        goto fail;
    if ((rc = vmrt_rt_subscribe(rt, ctl_on_event, c)) != 0) {
        snprintf(err, errlen, "event subscription: %s", vmrt_strerror(rc));
        goto fail;
    }
    to.name = "vmrt-ctl";
    if ((rc = pl_thread_create(&c->thr, &to, ctl_loop, c)) != 0) {
        /* The runtime holds our callback now: keep the object alive but
         * closed, as vmrt_ctl_stop would. */
        snprintf(err, errlen, "control thread: %s", pl_strerror(rc));
        pl_mutex_lock(&c->evlock);
        c->evclosed = true;
        pl_mutex_unlock(&c->evlock);
        pl_sock_close(c->ls);
        c->ls = PL_SOCKET_INVALID;
        pl_fs_remove_tree(c->path);
        *out = c;
        return rc;
    }
    c->running = true;
    *out = c;
    return 0;
fail:
    if (err[0] == '\0' || errlen == 0)
        snprintf(err, errlen, "control server: %s", pl_strerror(rc));
    if (step >= 3) {
        pl_sock_close(c->ls);
        pl_fs_remove_tree(c->path);
    }
    if (step >= 2)
        pl_wakeup_destroy(&c->wake);
    if (step >= 1)
        pl_mutex_destroy(&c->evlock);
    free(c);
    return rc;
}

void
vmrt_ctl_stop(vmrt_ctl_t *c)
{
    size_t i;

    if (c == NULL)
        return;
    pl_mutex_lock(&c->evlock);
    c->evclosed = true;
    pl_mutex_unlock(&c->evlock);
    if (c->running) {
        atomic_store(&c->stop, true);
        pl_wakeup_signal(&c->wake);
        pl_thread_join(&c->thr);
        c->running = false;
    }
    for (i = 0; i < CTL_MAX_CLIENTS; i++)
        client_close(&c->cl[i]);
    if (c->ls != PL_SOCKET_INVALID) {
        pl_sock_close(c->ls);
        c->ls = PL_SOCKET_INVALID;
        pl_fs_remove_tree(c->path);
    }
}

void
vmrt_ctl_free(vmrt_ctl_t *c)
{
    if (c == NULL)
        return;
    vmrt_ctl_stop(c);
    pl_wakeup_destroy(&c->wake);
    pl_mutex_destroy(&c->evlock);
    free(c);
}

const char *
vmrt_ctl_path(const vmrt_ctl_t *c)
{
    return c->path;
}

void
vmrt_ctl_set_allowed_uid(vmrt_ctl_t *c, uint32_t uid, bool allow_root)
{
    atomic_store(&c->allowed_uid, uid);
    atomic_store(&c->allow_root, allow_root);
}
