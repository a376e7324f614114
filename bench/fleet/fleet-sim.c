/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fleet-sim: N simulated devices in one process, each speaking the real
 * device protocol (docs/protocol.md) over its own MQTT connection, for
 * the scale benchmark of vmctld (bench/fleet/run.sh, issue 6).
 *
 * For the server, a simulated device is a vmrt-ota (docs/ota.md): client
 * id = device id, clean start off, a retained State (online, labels,
 * versions, boot id, its VMs) and a Last Will that says offline; it
 * de-duplicates commands by id, runs lifecycle commands on its simulated
 * VMs, and for UPDATE and CREATE answers "accepted", pulls the package
 * with a window of chunk requests, checks every chunk's CRC-32 and the
 * whole SHA-256, parses the .vpk and applies the device's checks in the
 * device's order, "runs" a health window and commits (or rolls back when
 * told to: --fail-version, --fail-rate).  SNAPSHOT uploads a small fake
 * snapshot; RESTORE pulls one back.  Nothing touches a disk: the
 * de-duplication record and the transfers live in memory only.
 *
 * Threads.  Every device has one MQTT client (vmf/mqtt.h): its callbacks
 * run on that client's own thread, one at a time, so a device's messages
 * are handled in order.  One timer thread re-requests chunks that did
 * not come and ends health windows.  The main thread connects the
 * devices at --connect-rate, prints the progress once a second and
 * handles SIGINT/SIGTERM.  A device's lock (sdev_t.lock) guards all of it;
 * it is taken by its client's callbacks and by the timer thread, and the
 * MQTT client may be called with it held (the client never calls us back
 * from inside vmf_mqtt_publish()).
 *
 * Exit status: 0 stopped by SIGINT/SIGTERM or --duration (every device
 * publishes a retained offline State first); 1 fatal error (a client
 * could not be made, too few file descriptors, out of memory); 2 usage.
 */

#define _GNU_SOURCE /* pthread_setattr_default_np */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "vmf/fleet.h"
#include "vmf/mqtt.h"
#include "vmf/vpk.h"

#ifndef VMF_VERSION
#define VMF_VERSION "0.0.0"
#endif

#define EXIT_OK 0
#define EXIT_FATAL 1
#define EXIT_USAGE 2

#define DEVICES_MAX 100000u
#define SIM_VMS_MAX 16u
#define TRUST_MAX 8u
#define WINDOW_MAX 1024u
#define DEDUP_MAX 256u        /* finished command ids remembered */
#define QUEUE_MAX 16u         /* long commands waiting per device */
#define UPLOADS_KEPT 4u       /* snapshot uploads kept for re-sends */
#define TICK_MS 20u           /* timer thread period */
#define CHUNK_TIMEOUT_MAX_MS 30000u
#define BAD_CHUNK_MAX 3u
#define FAIL_AFTER_MS 100u    /* a failing image fails this soon */
#define SNAP_SIZE (96u * 1024) /* a fake snapshot: two upload chunks */
#define SNAP_CHUNK (64u * 1024)
#define SNAP_MAGIC "VMSIMSNAP1"
#define THREAD_STACK (512u * 1024)
#define FDS_SPARE 64u         /* descriptors besides one per device */
#define MEMORY_BYTES (4u * 65536u) /* what a simulated VM reports */
#define LOG_LINES 8u          /* what LOGS answers: a few fake lines */
#define STOPPERS 8u           /* threads closing the clients at the end */
#define STOP_FLUSH_MS 5000u
#define SWEEP_MS 250u         /* vmf_mqtt_nodelay() at most this often */

/* ---- options ------------------------------------------------------------- */

typedef struct {
    const char *broker;
    uint32_t devices;
    uint32_t first;           /* index of the first device */
    const char *prefix;
    uint32_t vms;
    vmf_label_t labels[VMF_LABELS_MAX];
    uint32_t nlabels;
    uint32_t health_ms;
    double fail_rate;
    const char *fail_version;
    uint32_t connect_rate;
    uint64_t seed;
    uint32_t window;
    uint64_t max_package;
    uint32_t chunk_timeout_ms;
    char *trusted[TRUST_MAX]; /* PEM contents, owned */
    size_t ntrusted;
    uint32_t duration_s;      /* 0: until a signal */
    uint32_t keepalive_s;
    bool verbose;
} opts_t;

/* ---- one simulated device ------------------------------------------------ */

typedef struct {
    char name[VMF_NAME_MAX];
    char version[VMF_VERSION_MAX];
    char state[16];           /* "running", "stopped", ... */
    uint32_t restarts;
    uint64_t since_ms;        /* monotonic; for uptime_ms */
} sim_vm_t;

/* A finished command: its final Result as sent, for duplicates. */
typedef struct {
    char id[VMF_ID_MAX];
    uint8_t *res;
    size_t len;
} done_t;

/* A command with its reply address. */
typedef struct pcmd {
    struct pcmd *next;
    vmf_cmd_t cmd;
    char *reply;              /* response topic or .../result; owned */
    uint8_t corr[VMF_ID_MAX];
    size_t corr_len;
} pcmd_t;

/* A chunk requested and not yet received. */
typedef struct {
    uint32_t index;
    uint32_t timeout_ms;
    uint64_t due_ms;
} want_t;

enum phase { PH_NONE, PH_XFER, PH_HEALTH };

typedef struct sdev {
    pthread_mutex_t lock;
    struct sim *sim;
    uint32_t index;
    char id[VMF_ID_MAX];
    uint64_t boot_id;
    uint64_t rng;
    vmf_mqtt_t *mqtt;
    bool up;                  /* announced connected */
    bool closing;             /* shutting down: ignore messages */
    atomic_bool timed;        /* the timer thread has work here */

    sim_vm_t vms[SIM_VMS_MAX];
    uint32_t nvms;

    done_t *done;             /* ring of finished commands */
    uint32_t ndone, done_cap, done_next;

    /* The long command in progress and those waiting for it. */
    pcmd_t *active;
    enum phase phase;
    pcmd_t *queue;
    uint32_t nqueued;

    /* The active download. */
    uint8_t *buf;
    uint64_t size;
    uint32_t chunk_size, nchunks, next, received;
    uint8_t *have;            /* per chunk: received */
    uint8_t *bad;             /* per chunk: bad copies so far */
    want_t *want;             /* window slots in use: nwant */
    uint32_t nwant;
    uint32_t last_pct;
    uint64_t last_prog_ms;

    /* The health window of the active UPDATE. */
    uint64_t health_due_ms;
    bool health_fails;
    char new_version[VMF_VERSION_MAX];

    /* Snapshot uploads kept for xfer/upreq: command id and VM. */
    char up_id[UPLOADS_KEPT][VMF_ID_MAX];
    char up_vm[UPLOADS_KEPT][VMF_NAME_MAX];
    uint32_t up_next;
} sdev_t;

typedef struct sim {
    opts_t o;
    sdev_t *devs;
    atomic_uint ndevs;        /* devices made so far (read by the timer) */
    atomic_bool stop;
    atomic_uint connected;
    atomic_uint updating;     /* UPDATE/CREATE accepted, not final yet */
    atomic_uint updated;      /* UPDATE/CREATE final OK */
    atomic_uint failed;       /* UPDATE/CREATE final with an error */
    atomic_uint commands;     /* commands received (not duplicates) */
    atomic_uint connects;     /* connects so far, reconnects included */
    uint64_t t0_ms;
} sim_t;

static const char *const vm_names[] = { "sensor", "net", "ctl" };

/* ---- small helpers ------------------------------------------------------- */

__attribute__((format(printf, 1, 2))) static void
say(const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "fleet-sim: %s\n", line);
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t
real_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Copy a string that fits (every caller's source is bounded by the same
 * or a smaller cap); one that does not is cut at cap - 1. */
static void
copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strnlen(src, cap - 1) : 0;

    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* splitmix64: one step of a device's own random sequence. */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A uniform double in [0, 1). */
static double
rng_unit(uint64_t *s)
{
    return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static sim_vm_t *
vm_find(sdev_t *d, const char *name)
{
    uint32_t i;

    for (i = 0; i < d->nvms; i++)
        if (strcmp(d->vms[i].name, name) == 0)
            return &d->vms[i];
    return NULL;
}

static void
vm_set_state(sim_vm_t *v, const char *state)
{
    copy_str(v->state, sizeof(v->state), state);
    if (strcmp(state, "running") == 0)
        v->since_ms = now_ms();
}

/* ---- publishing (device lock held) --------------------------------------- */

/*
 * publish: QoS 1 publish of buf on topic (a full topic) for device d.
 * Return: 0 or a VMF_MQTT_E* code (logged with --verbose; the client
 * buffers while disconnected, so a failure means its buffer is full).
 */
static int
publish(sdev_t *d, const char *topic, const uint8_t *buf, size_t len,
        bool retain, const uint8_t *corr, size_t corr_len)
{
    vmf_mqtt_msg_t m;
    int rc;

    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.payload = buf;
    m.len = len;
    m.qos = 1;
    m.retain = retain;
    m.corr = corr;
    m.corr_len = corr_len;
    if ((rc = vmf_mqtt_publish(d->mqtt, &m)) != 0 && d->sim->o.verbose)
        say("%s: publish to %s: %s", d->id, topic, vmf_mqtt_strerror(rc));
    return rc;
}

/* publish on vmfleet/v1/<dev>/<leaf>. */
static int
publish_leaf(sdev_t *d, const char *leaf, const uint8_t *buf, size_t len,
             bool retain)
{
    char topic[VMF_TOPIC_MAX];

    if (vmf_topic(topic, sizeof(topic), d->id, leaf) != 0)
        return VMF_MQTT_EINVAL;
    return publish(d, topic, buf, len, retain, NULL, 0);
}

/* Fill st with d's State (online or the Last Will); st->vms points into
 * vms, which must hold SIM_VMS_MAX entries. */
static void
state_fill(sdev_t *d, vmf_state_t *st, vmf_vm_status_t *vms, bool online)
{
    const opts_t *o = &d->sim->o;
    uint64_t now = now_ms();
    uint32_t i;

    vmf_state_init(st);
    copy_str(st->device, sizeof(st->device), d->id);
    st->online = online;
    copy_str(st->runtime_version, sizeof(st->runtime_version), VMF_VERSION);
    copy_str(st->ota_version, sizeof(st->ota_version), VMF_VERSION);
    memcpy(st->labels, o->labels, sizeof(st->labels));
    st->nlabels = o->nlabels;
    st->time_ms = real_ms();
    st->boot_id = d->boot_id;
    if (!online)
        return;
    for (i = 0; i < d->nvms; i++) {
        const sim_vm_t *v = &d->vms[i];

        memset(&vms[i], 0, sizeof(vms[i]));
        copy_str(vms[i].name, sizeof(vms[i].name), v->name);
        copy_str(vms[i].version, sizeof(vms[i].version), v->version);
        copy_str(vms[i].state, sizeof(vms[i].state), v->state);
        vms[i].priority = 4 + i;
        vms[i].memory_bytes = MEMORY_BYTES;
        vms[i].restarts = v->restarts;
        /* CPU time grows with uptime, at a share that differs per VM
         * (2%, 5%, 8%, ...), so that a dashboard has something to show. */
        if (strcmp(v->state, "running") == 0) {
            vms[i].uptime_ms = now - v->since_ms;
            vms[i].cpu_ms = vms[i].uptime_ms * (2 + 3 * (i % 8)) / 100;
        }
    }
    st->vms = vms;
    st->nvms = d->nvms;
}

/* Publish d's retained State (online). */
static void
publish_state(sdev_t *d)
{
    vmf_vm_status_t vms[SIM_VMS_MAX];
    vmf_state_t st;
    uint8_t *buf;
    size_t len;

    state_fill(d, &st, vms, true);
    if (vmf_state_encode(&st, &buf, &len) != 0) {
        say("%s: cannot encode the State", d->id);
        return;
    }
    publish_leaf(d, "state", buf, len, true);
    free(buf);
}

static void
publish_event(sdev_t *d, vmf_event_kind_t kind, const char *vm,
              const char *cmd_id, const char *detail, uint64_t done,
              uint64_t total)
{
    vmf_event_t ev;
    uint8_t *buf;
    size_t len;

    vmf_event_init(&ev);
    ev.kind = kind;
    copy_str(ev.vm, sizeof(ev.vm), vm);
    copy_str(ev.cmd_id, sizeof(ev.cmd_id), cmd_id);
    copy_str(ev.detail, sizeof(ev.detail), detail);
    ev.done = done;
    ev.total = total;
    ev.percent = total > 0 ? (uint32_t)(done * 100 / total) : 0;
    ev.time_ms = real_ms();
    if (vmf_event_encode(&ev, &buf, &len) != 0)
        return;
    publish_leaf(d, "event", buf, len, false);
    free(buf);
}

/* Remember a finished command's encoded final Result (takes buf). */
static void
done_add(sdev_t *d, const char *id, uint8_t *buf, size_t len)
{
    done_t *e;

    if (d->ndone < d->done_cap) {
        e = &d->done[d->ndone++];
    } else if (d->done_cap < DEDUP_MAX) {
        uint32_t cap = d->done_cap == 0 ? 4 : d->done_cap * 2;
        done_t *n = realloc(d->done, cap * sizeof(*n));

        if (n == NULL) {
            free(buf);
            return;
        }
        d->done = n;
        d->done_cap = cap;
        e = &d->done[d->ndone++];
    } else {
        /* Full: overwrite the oldest. */
        e = &d->done[d->done_next];
        d->done_next = (d->done_next + 1) % d->done_cap;
        free(e->res);
    }
    copy_str(e->id, sizeof(e->id), id);
    e->res = buf;
    e->len = len;
}

static const done_t *
done_find(const sdev_t *d, const char *id)
{
    uint32_t i;

    for (i = 0; i < d->ndone; i++)
        if (strcmp(d->done[i].id, id) == 0)
            return &d->done[i];
    return NULL;
}

static bool
is_transfer_kind(vmf_cmd_kind_t k)
{
    return k == VMF_CMD_UPDATE || k == VMF_CMD_CREATE;
}

/*
 * reply: send a Result for p.  A final one is remembered for duplicates
 * (before it is published, as vmrt-ota does) and counted.  version: the
 * VM's version after the command ("" for none); xfer: the upload of a
 * SNAPSHOT, or NULL.
 */
__attribute__((format(printf, 7, 8))) static void
reply(sdev_t *d, const pcmd_t *p, bool final, vmf_code_t code,
      const char *version, const vmf_xfer_t *xfer, const char *fmt, ...)
{
    vmf_result_t r;
    uint8_t *buf;
    size_t len;
    va_list ap;

    vmf_result_init(&r);
    copy_str(r.cmd_id, sizeof(r.cmd_id), p->cmd.id);
    r.kind = p->cmd.kind;
    r.final = final;
    r.code = code;
    va_start(ap, fmt);
    vsnprintf(r.message, sizeof(r.message), fmt, ap);
    va_end(ap);
    copy_str(r.vm, sizeof(r.vm), p->cmd.vm);
    copy_str(r.version, sizeof(r.version), version);
    if (xfer != NULL) {
        r.has_xfer = true;
        r.xfer = *xfer;
    }
    if (vmf_result_encode(&r, &buf, &len) != 0) {
        say("%s: cannot encode the result of %s", d->id, p->cmd.id);
        return;
    }
    publish(d, p->reply, buf, len, false, p->corr, p->corr_len);
    if (d->sim->o.verbose)
        say("%s: cmd %s: %s %s: %s%s", d->id, p->cmd.id,
            vmf_cmd_name(p->cmd.kind), p->cmd.vm, vmf_code_name(code),
            final ? "" : " (accepted)");
    if (!final) {
        free(buf);
        return;
    }
    if (p->cmd.id[0] != '\0')
        done_add(d, p->cmd.id, buf, len);
    else
        free(buf);
    if (is_transfer_kind(p->cmd.kind))
        atomic_fetch_add(code == VMF_OK ? &d->sim->updated
                                        : &d->sim->failed, 1);
}

static void
pcmd_free(pcmd_t *p)
{
    if (p != NULL) {
        free(p->reply);
        free(p);
    }
}

/* ---- transfers (device lock held) ---------------------------------------- */

static void
xfer_free(sdev_t *d)
{
    free(d->buf);
    free(d->have);
    free(d->bad);
    free(d->want);
    d->buf = d->have = d->bad = NULL;
    d->want = NULL;
    d->size = 0;
    d->nchunks = d->next = d->received = d->nwant = 0;
}

static void
request(sdev_t *d, uint32_t first, uint32_t count)
{
    vmf_chunk_req_t q;
    uint8_t *buf;
    size_t len;

    vmf_chunk_req_init(&q);
    copy_str(q.xfer_id, sizeof(q.xfer_id), d->active->cmd.xfer.id);
    q.first = first;
    q.count = count;
    if (vmf_chunk_req_encode(&q, &buf, &len) != 0)
        return;
    publish_leaf(d, "xfer/req", buf, len, false);
    free(buf);
}

/* Ask for chunks never asked for, while the window has room: one request
 * per run of consecutive chunks. */
static void
fill_window(sdev_t *d)
{
    uint32_t room, n, i, first;
    uint64_t now = now_ms();

    while (d->nwant < d->sim->o.window && d->next < d->nchunks) {
        room = d->sim->o.window - d->nwant;
        if (room > VMF_REQ_CHUNKS_MAX)
            room = VMF_REQ_CHUNKS_MAX;
        first = d->next;
        for (n = 0; n < room && d->next < d->nchunks; d->next++) {
            if (d->have[d->next])
                break;
            i = d->nwant++;
            d->want[i].index = d->next;
            d->want[i].timeout_ms = d->sim->o.chunk_timeout_ms;
            d->want[i].due_ms = now + d->want[i].timeout_ms;
            n++;
        }
        if (n > 0)
            request(d, first, n);
        else
            d->next++;
    }
}

/* Ask again for everything in flight (after a reconnect). */
static void
rerequest_all(sdev_t *d)
{
    uint64_t now = now_ms();
    uint32_t i;

    for (i = 0; i < d->nwant; i++) {
        d->want[i].due_ms = now + d->want[i].timeout_ms;
        request(d, d->want[i].index, 1);
    }
}

static int
want_find(const sdev_t *d, uint32_t index)
{
    uint32_t i;

    for (i = 0; i < d->nwant; i++)
        if (d->want[i].index == index)
            return (int)i;
    return -1;
}

/* ---- long commands (device lock held) ------------------------------------ */

static void start_next(sdev_t *d);

/* End the active long command with its final result and start the next.
 * version: the VM's version to report; NULL for the one it runs now. */
__attribute__((format(printf, 4, 5))) static void
finish(sdev_t *d, vmf_code_t code, const char *version, const char *fmt, ...)
{
    pcmd_t *p = d->active;
    char msg[VMF_TEXT_MAX];
    sim_vm_t *v;
    va_list ap;

    if (version == NULL)
        version = (v = vm_find(d, p->cmd.vm)) != NULL ? v->version : "";
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    reply(d, p, true, code, version, NULL, "%s", msg);
    if (is_transfer_kind(p->cmd.kind))
        atomic_fetch_sub(&d->sim->updating, 1);
    xfer_free(d);
    d->active = NULL;
    d->phase = PH_NONE;
    atomic_store(&d->timed, false);
    pcmd_free(p);
    start_next(d);
}

/* The fake snapshot of VM vm for upload id: deterministic, so that a
 * re-send needs nothing stored.  buf holds SNAP_SIZE bytes. */
static void
snap_fill(const sdev_t *d, const char *vm, const char *id, uint8_t *buf)
{
    uint64_t s = 0;
    size_t i;
    int n;

    for (i = 0; id[i] != '\0'; i++)
        s = s * 131 + (uint8_t)id[i];
    n = snprintf((char *)buf, SNAP_SIZE, "%s %s %s %s ", SNAP_MAGIC, d->id,
                 vm, id);
    for (i = (size_t)(n > 0 ? n : 0); i < SNAP_SIZE; i++)
        buf[i] = (uint8_t)(rng_next(&s) >> 56);
}

static void
upload_chunks(sdev_t *d, const char *id, const uint8_t *snap, uint32_t first,
              uint32_t count)
{
    uint32_t nch = (SNAP_SIZE + SNAP_CHUNK - 1) / SNAP_CHUNK, i;
    vmf_chunk_t c;
    uint8_t *buf;
    size_t len;

    for (i = first; i < nch && i - first < count; i++) {
        vmf_chunk_init(&c);
        copy_str(c.xfer_id, sizeof(c.xfer_id), id);
        c.index = i;
        c.data = (uint8_t *)snap + (size_t)i * SNAP_CHUNK;
        c.len = i + 1 < nch ? SNAP_CHUNK : SNAP_SIZE - i * SNAP_CHUNK;
        c.crc32 = vmf_crc32(c.data, c.len);
        if (vmf_chunk_encode(&c, &buf, &len) != 0)
            continue;
        publish_leaf(d, "xfer/up", buf, len, false);
        free(buf);
    }
}

/* SNAPSHOT: final OK describing the upload, then every chunk. */
static void
run_snapshot(sdev_t *d)
{
    pcmd_t *p = d->active;
    sim_vm_t *v = vm_find(d, p->cmd.vm);
    vmf_xfer_t x;
    uint8_t *snap;

    if (v == NULL) {
        finish(d, VMF_E_NOT_FOUND, "", "no VM '%s'", p->cmd.vm);
        return;
    }
    if (strcmp(v->state, "running") != 0 &&
        strcmp(v->state, "suspended") != 0) {
        finish(d, VMF_E_STATE, v->version, "cannot snapshot '%s': it is %s",
               v->name, v->state);
        return;
    }
    if ((snap = malloc(SNAP_SIZE)) == NULL) {
        finish(d, VMF_E_INTERNAL, v->version, "out of memory");
        return;
    }
    snap_fill(d, v->name, p->cmd.id, snap);
    memset(&x, 0, sizeof(x));
    copy_str(x.id, sizeof(x.id), p->cmd.id);
    x.size = SNAP_SIZE;
    x.chunk_size = SNAP_CHUNK;
    vmf_sha256(snap, SNAP_SIZE, x.sha256);
    copy_str(d->up_id[d->up_next], sizeof(d->up_id[0]), p->cmd.id);
    copy_str(d->up_vm[d->up_next], sizeof(d->up_vm[0]), v->name);
    d->up_next = (d->up_next + 1) % UPLOADS_KEPT;
    reply(d, p, true, VMF_OK, v->version, &x, "snapshot of %s", v->name);
    upload_chunks(d, p->cmd.id, snap, 0, UINT32_MAX);
    free(snap);
    d->active = NULL;
    d->phase = PH_NONE;
    pcmd_free(p);
}

/* Start the active CREATE, UPDATE or RESTORE: size checks, then the
 * first chunk requests. */
static void
run_download(sdev_t *d)
{
    const vmf_xfer_t *x = &d->active->cmd.xfer;
    uint64_t n;

    if (x->size > d->sim->o.max_package) {
        finish(d, VMF_E_TOO_LARGE, NULL, "transfer of %" PRIu64 " bytes is "
               "over %" PRIu64, x->size, d->sim->o.max_package);
        return;
    }
    n = x->chunk_size > 0 ? (x->size + x->chunk_size - 1) / x->chunk_size
                          : 0;
    if (x->size == 0 || n == 0 || n > UINT32_MAX) {
        finish(d, VMF_E_TRANSFER, NULL, "unusable transfer (size %" PRIu64
               ", chunk size %u)", x->size, x->chunk_size);
        return;
    }
    d->size = x->size;
    d->chunk_size = x->chunk_size;
    d->nchunks = (uint32_t)n;
    d->buf = malloc((size_t)x->size);
    d->have = calloc((size_t)n, 1);
    d->bad = calloc((size_t)n, 1);
    d->want = calloc(d->sim->o.window, sizeof(*d->want));
    if (d->buf == NULL || d->have == NULL || d->bad == NULL ||
        d->want == NULL) {
        finish(d, VMF_E_IO, NULL, "out of memory for %" PRIu64 " bytes",
               x->size);
        return;
    }
    d->last_pct = 0;
    d->last_prog_ms = now_ms();
    d->phase = PH_XFER;
    atomic_store(&d->timed, true);
    fill_window(d);
}

/* Start the next waiting long command, if nothing runs.  A command that
 * ends at once (a rejection, a snapshot) lets the one after it start. */
static void
start_next(sdev_t *d)
{
    pcmd_t *p;

    while (d->active == NULL && (p = d->queue) != NULL && !d->closing) {
        d->queue = p->next;
        d->nqueued--;
        p->next = NULL;
        d->active = p;
        if (p->cmd.kind == VMF_CMD_SNAPSHOT)
            run_snapshot(d);
        else
            run_download(d);
    }
}

/*
 * check_package: the device's update checks after the transfer, in the
 * order of docs/protocol.md (steps 4 to 12; the quota step is not
 * simulated).  On success *view describes the package.
 * Return: VMF_OK or the first failing check's code (msg says why).
 */
static vmf_code_t
check_package(sdev_t *d, vpk_view_t *view, char *msg, size_t cap)
{
    const opts_t *o = &d->sim->o;
    const vmf_cmd_t *c = &d->active->cmd;
    const vpk_manifest_t *m = &view->manifest;
    sim_vm_t *v = vm_find(d, c->vm);
    bool hash_bad = false;
    uint8_t sum[32];
    char err[160];
    int rc, order;

    if (vpk_parse(d->buf, (size_t)d->size, view, err, sizeof(err)) != 0) {
        snprintf(msg, cap, "malformed package: %s", err);
        return VMF_E_MALFORMED;
    }
    if (o->ntrusted > 0) {
        rc = vpk_verify(view, (const char *const *)o->trusted, o->ntrusted,
                        err, sizeof(err));
        if (rc == VPK_EUNKNOWNKEY) {
            snprintf(msg, cap, "%s", err);
            return VMF_E_UNKNOWN_KEY;
        }
        if (rc == VPK_EHASH) {
            hash_bad = true; /* key and signature were good */
        } else if (rc != 0) {
            snprintf(msg, cap, "%s", err);
            return VMF_E_BAD_SIGNATURE;
        }
    }
    if (strcmp(m->vm_name, c->vm) != 0) {
        snprintf(msg, cap, "package is for VM '%s', not '%s'", m->vm_name,
                 c->vm);
        return VMF_E_WRONG_VM;
    }
    if (c->kind == VMF_CMD_CREATE && v != NULL) {
        snprintf(msg, cap, "VM '%s' exists", c->vm);
        return VMF_E_EXISTS;
    }
    if (c->kind == VMF_CMD_UPDATE && v == NULL) {
        snprintf(msg, cap, "no VM '%s' and creating it is not allowed",
                 c->vm);
        return VMF_E_CREATE_DENIED;
    }
    if (v != NULL && !m->allow_downgrade &&
        (vpk_semver_cmp(m->version, v->version, &order, NULL, 0) != 0 ||
         order <= 0)) {
        snprintf(msg, cap, "version %s is not newer than the running %s",
                 m->version, v->version);
        return VMF_E_DOWNGRADE;
    }
    if (!hash_bad && o->ntrusted == 0)
        hash_bad = view->module_len != m->module_size ||
                   vmf_sha256(view->module, view->module_len, sum) != 0 ||
                   memcmp(sum, m->module_sha256, sizeof(sum)) != 0;
    if (hash_bad) {
        snprintf(msg, cap, "module hash or size does not match the "
                 "manifest");
        return VMF_E_MODULE_HASH;
    }
    if (m->min_runtime_version[0] != '\0' &&
        (vpk_semver_cmp(m->min_runtime_version, VMF_VERSION, &order, NULL,
                        0) != 0 ||
         order > 0)) {
        snprintf(msg, cap, "package needs runtime %s, this is %s",
                 m->min_runtime_version, VMF_VERSION);
        return VMF_E_MIN_RUNTIME;
    }
    snprintf(msg, cap, "ok");
    return VMF_OK;
}

/* The whole transfer is here: hash, then what the command does with it. */
static void
download_done(sdev_t *d)
{
    pcmd_t *p = d->active;
    const opts_t *o = &d->sim->o;
    uint8_t sum[32];
    vpk_view_t view;
    char msg[VMF_TEXT_MAX];
    vmf_code_t code;
    sim_vm_t *v;
    uint32_t hw;

    if (vmf_sha256(d->buf, (size_t)d->size, sum) != 0 ||
        memcmp(sum, p->cmd.xfer.sha256, sizeof(sum)) != 0) {
        finish(d, VMF_E_TRANSFER_HASH, NULL, "transfer does not match its "
               "SHA-256");
        return;
    }
    v = vm_find(d, p->cmd.vm);
    if (p->cmd.kind == VMF_CMD_RESTORE) {
        if (d->size < sizeof(SNAP_MAGIC) - 1 ||
            memcmp(d->buf, SNAP_MAGIC, sizeof(SNAP_MAGIC) - 1) != 0) {
            finish(d, VMF_E_SNAPSHOT, v != NULL ? v->version : "",
                   "not a snapshot of fleet-sim");
            return;
        }
        if (v == NULL) {
            finish(d, VMF_E_NOT_FOUND, "", "no VM '%s'", p->cmd.vm);
            return;
        }
        vm_set_state(v, "running");
        publish_state(d);
        finish(d, VMF_OK, v->version, "restored %s", v->name);
        return;
    }
    if ((code = check_package(d, &view, msg, sizeof(msg))) != VMF_OK) {
        finish(d, code, NULL, "%s", msg);
        return;
    }
    if (p->cmd.kind == VMF_CMD_CREATE) {
        if (d->nvms >= SIM_VMS_MAX) {
            finish(d, VMF_E_RUNTIME, "", "too many VMs");
            return;
        }
        v = &d->vms[d->nvms++];
        memset(v, 0, sizeof(*v));
        copy_str(v->name, sizeof(v->name), p->cmd.vm); /* = vm_name */
        copy_str(v->version, sizeof(v->version), view.manifest.version);
        vm_set_state(v, "running");
        publish_state(d);
        finish(d, VMF_OK, v->version, "created %s %s", v->name,
               v->version);
        return;
    }
    /* UPDATE: "swap" and watch the health window. */
    copy_str(d->new_version, sizeof(d->new_version), view.manifest.version);
    d->health_fails =
        (o->fail_version != NULL &&
         strcmp(o->fail_version, view.manifest.version) == 0) ||
        (o->fail_rate > 0 && rng_unit(&d->rng) < o->fail_rate);
    hw = p->cmd.health_window_ms != 0 ? p->cmd.health_window_ms
                                      : o->health_ms;
    if (d->health_fails && hw > FAIL_AFTER_MS)
        hw = FAIL_AFTER_MS;
    free(d->buf);
    d->buf = NULL;
    d->health_due_ms = now_ms() + hw;
    d->phase = PH_HEALTH;
    if (o->verbose)
        say("%s: update %s %s -> %s: swapping (health window %u ms)", d->id,
            v->name, v->version, d->new_version, hw);
}

/* The health window of the active UPDATE is over (or its image failed). */
static void
health_done(sdev_t *d)
{
    pcmd_t *p = d->active;
    sim_vm_t *v = vm_find(d, p->cmd.vm);
    const char *why = "trap: simulated failure in the health window";

    if (v == NULL) { /* destroyed meanwhile: cannot happen (E_BUSY) */
        finish(d, VMF_E_RUNTIME, "", "VM '%s' is gone", p->cmd.vm);
        return;
    }
    if (d->health_fails) {
        v->restarts++;
        vm_set_state(v, "running");
        publish_event(d, VMF_EV_ROLLBACK, v->name, p->cmd.id, why, 0, 0);
        publish_state(d);
        finish(d, VMF_E_ROLLED_BACK, v->version, "%s", why);
        return;
    }
    copy_str(v->version, sizeof(v->version), d->new_version);
    vm_set_state(v, "running");
    publish_event(d, VMF_EV_COMMIT, v->name, p->cmd.id, v->version, 0, 0);
    publish_state(d);
    finish(d, VMF_OK, v->version, "committed %s", v->version);
}

/* ---- incoming messages (the device's client thread) ---------------------- */

/* A chunk on xfer/data. */
static void
on_chunk(sdev_t *d, const vmf_mqtt_msg_t *m)
{
    vmf_chunk_t c;
    uint64_t off, want_len;
    uint32_t pct;
    int w;

    if (m->len > VMF_MSG_MAX || vmf_chunk_decode(m->payload, m->len, &c) != 0)
        return;
    if (d->phase != PH_XFER ||
        strcmp(c.xfer_id, d->active->cmd.xfer.id) != 0 ||
        c.index >= d->nchunks || d->have[c.index] ||
        (w = want_find(d, c.index)) < 0)
        goto out; /* unknown, stale, not requested or a duplicate */
    off = (uint64_t)c.index * d->chunk_size;
    want_len = d->size - off < d->chunk_size ? d->size - off : d->chunk_size;
    if (c.len != want_len || vmf_crc32(c.data, c.len) != c.crc32) {
        if (++d->bad[c.index] >= BAD_CHUNK_MAX) {
            finish(d, VMF_E_CORRUPT_CHUNK, NULL, "chunk %u failed its "
                   "checksum %u times", c.index, BAD_CHUNK_MAX);
            goto out;
        }
        d->want[w].due_ms = now_ms() + d->want[w].timeout_ms;
        request(d, c.index, 1);
        goto out;
    }
    memcpy(d->buf + off, c.data, c.len);
    d->have[c.index] = 1;
    d->received++;
    d->want[w] = d->want[--d->nwant];
    pct = (uint32_t)((uint64_t)d->received * 100 / d->nchunks);
    if (pct == 100 || pct >= d->last_pct + 10 ||
        now_ms() >= d->last_prog_ms + 1000) {
        uint64_t done = d->received == d->nchunks
                            ? d->size
                            : (uint64_t)d->received * d->chunk_size;

        publish_event(d, VMF_EV_PROGRESS, d->active->cmd.vm,
                      d->active->cmd.id, "transfer", done, d->size);
        d->last_pct = pct;
        d->last_prog_ms = now_ms();
    }
    if (d->received == d->nchunks)
        download_done(d);
    else
        fill_window(d);
out:
    vmf_chunk_free(&c);
}

/* A re-send request on xfer/upreq for a kept snapshot upload. */
static void
on_upreq(sdev_t *d, const vmf_mqtt_msg_t *m)
{
    vmf_chunk_req_t q;
    uint8_t *snap;
    uint32_t i;

    if (m->len > VMF_MSG_MAX ||
        vmf_chunk_req_decode(m->payload, m->len, &q) != 0)
        return;
    for (i = 0; i < UPLOADS_KEPT; i++)
        if (d->up_id[i][0] != '\0' && strcmp(d->up_id[i], q.xfer_id) == 0)
            break;
    if (i == UPLOADS_KEPT || (snap = malloc(SNAP_SIZE)) == NULL)
        return;
    snap_fill(d, d->up_vm[i], q.xfer_id, snap);
    upload_chunks(d, q.xfer_id, snap, q.first, q.count);
    free(snap);
}

/* START .. DESTROY on a simulated VM, as vmrt allows them. */
static void
lifecycle(sdev_t *d, const pcmd_t *p)
{
    sim_vm_t *v = vm_find(d, p->cmd.vm);
    const char *st, *to = NULL;
    vmf_cmd_kind_t k = p->cmd.kind;

    if (v == NULL) {
        reply(d, p, true, VMF_E_NOT_FOUND, "", NULL, "no VM '%s'",
              p->cmd.vm);
        return;
    }
    st = v->state;
    switch (k) {
    case VMF_CMD_START:
        if (strcmp(st, "created") == 0 || strcmp(st, "stopped") == 0 ||
            strcmp(st, "failed") == 0)
            to = "running";
        break;
    case VMF_CMD_STOP:
        if (strcmp(st, "running") == 0 || strcmp(st, "suspended") == 0)
            to = "stopped";
        break;
    case VMF_CMD_SUSPEND:
        if (strcmp(st, "running") == 0)
            to = "suspended";
        break;
    case VMF_CMD_RESUME:
        if (strcmp(st, "suspended") == 0)
            to = "running";
        break;
    case VMF_CMD_RESTART:
        if (strcmp(st, "created") != 0) {
            to = "running";
            v->restarts++;
        }
        break;
    case VMF_CMD_DESTROY:
        reply(d, p, true, VMF_OK, v->version, NULL, "destroyed %s",
              v->name);
        *v = d->vms[--d->nvms];
        publish_state(d);
        return;
    default:
        break;
    }
    if (to == NULL) {
        reply(d, p, true, VMF_E_STATE, v->version, NULL,
              "cannot %s '%s': it is %s", vmf_cmd_name(k), v->name, st);
        return;
    }
    vm_set_state(v, to);
    reply(d, p, true, VMF_OK, v->version, NULL, "%s", to);
    publish_state(d);
}

/*
 * LOGS: the last log_bytes (0: 16 KiB) of a few fake lines, as vmrt-ota
 * answers (message "truncated" or "complete").  Like vmrt-ota, the
 * answer is not kept for duplicates: reading again is harmless.
 */
static void
logs(sdev_t *d, const pcmd_t *p)
{
    const sim_vm_t *v = vm_find(d, p->cmd.vm);
    size_t want = p->cmd.log_bytes ? p->cmd.log_bytes : VMF_LOG_BYTES_DEFAULT;
    char text[256 + LOG_LINES * 96];
    uint64_t up = 0;
    vmf_result_t r;
    uint8_t *buf;
    size_t len, n = 0, off;
    uint32_t i;

    if (v == NULL) {
        reply(d, p, true, VMF_E_NOT_FOUND, "", NULL, "no VM '%s'",
              p->cmd.vm);
        return;
    }
    if (strcmp(v->state, "running") == 0)
        up = now_ms() - v->since_ms;
    n += (size_t)snprintf(text + n, sizeof(text) - n,
                          "[vmrt] %s %s on %s: %s\n", v->name, v->version,
                          d->id, v->state);
    for (i = 1; i < LOG_LINES && n < sizeof(text); i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n,
                              "[INFO] tick %u uptime_ms=%llu restarts=%u\n",
                              i, (unsigned long long)(up * i / LOG_LINES),
                              v->restarts);
    if (n >= sizeof(text))
        n = sizeof(text) - 1; /* cut, never past the buffer */
    off = n > want ? n - want : 0;
    vmf_result_init(&r);
    copy_str(r.cmd_id, sizeof(r.cmd_id), p->cmd.id);
    r.kind = p->cmd.kind;
    r.final = true;
    r.code = VMF_OK;
    copy_str(r.message, sizeof(r.message), off > 0 ? "truncated" : "complete");
    copy_str(r.vm, sizeof(r.vm), v->name);
    copy_str(r.version, sizeof(r.version), v->version);
    r.data = (uint8_t *)text + off;
    r.len = n - off;
    if (vmf_result_encode(&r, &buf, &len) != 0) {
        say("%s: cannot encode the result of %s", d->id, p->cmd.id);
        return;
    }
    publish(d, p->reply, buf, len, false, p->corr, p->corr_len);
    free(buf);
    if (d->sim->o.verbose)
        say("%s: cmd %s: logs %s: %zu bytes", d->id, p->cmd.id, v->name,
            r.len);
}

/* CANCEL: see docs/protocol.md. */
static void
cancel(sdev_t *d, const pcmd_t *p)
{
    const char *id = p->cmd.cancel_id;
    pcmd_t **pp, *q;

    if (d->active != NULL && strcmp(d->active->cmd.id, id) == 0) {
        if (d->phase != PH_XFER) {
            reply(d, p, true, VMF_E_STATE, "", NULL, "%s is past its "
                  "transfer", id);
            return;
        }
        reply(d, p, true, VMF_OK, "", NULL, "cancelled %s", id);
        finish(d, VMF_E_CANCELLED, NULL, "cancelled by %s", p->cmd.id);
        return;
    }
    for (pp = &d->queue; (q = *pp) != NULL; pp = &q->next)
        if (strcmp(q->cmd.id, id) == 0)
            break;
    if (q == NULL) {
        reply(d, p, true, VMF_E_NOT_FOUND, "", NULL, "no command %s in "
              "progress", id);
        return;
    }
    *pp = q->next;
    d->nqueued--;
    reply(d, p, true, VMF_OK, "", NULL, "cancelled %s", id);
    reply(d, q, true, VMF_E_CANCELLED, "", NULL, "cancelled by %s",
          p->cmd.id);
    if (is_transfer_kind(q->cmd.kind))
        atomic_fetch_sub(&d->sim->updating, 1);
    pcmd_free(q);
}

/* Whether a running long command holds VM vm. */
static bool
vm_busy(const sdev_t *d, const char *vm)
{
    return d->active != NULL && strcmp(d->active->cmd.vm, vm) == 0;
}

/*
 * make_pcmd: the command in m with its reply address: m's response
 * topic if it has a usable one, else vmfleet/v1/<dev>/result; the
 * correlation data if it fits, else the command id.
 * Return: the new command, or NULL (out of memory).
 */
static pcmd_t *
make_pcmd(sdev_t *d, const vmf_mqtt_msg_t *m, const vmf_cmd_t *cmd)
{
    char topic[VMF_TOPIC_MAX];
    pcmd_t *p;

    if ((p = calloc(1, sizeof(*p))) == NULL)
        return NULL;
    p->cmd = *cmd;
    if (m->response_topic != NULL && m->response_topic[0] != '\0' &&
        strlen(m->response_topic) < 1024 &&
        strpbrk(m->response_topic, "+#") == NULL)
        p->reply = strdup(m->response_topic);
    else if (vmf_topic(topic, sizeof(topic), d->id, "result") == 0)
        p->reply = strdup(topic);
    if (p->reply == NULL) {
        free(p);
        return NULL;
    }
    if (m->corr != NULL && m->corr_len <= sizeof(p->corr)) {
        memcpy(p->corr, m->corr, m->corr_len);
        p->corr_len = m->corr_len;
    } else {
        p->corr_len = strlen(cmd->id);
        memcpy(p->corr, cmd->id, p->corr_len);
    }
    return p;
}

/* A message on cmd. */
static void
on_cmd(sdev_t *d, const vmf_mqtt_msg_t *m)
{
    const done_t *done;
    vmf_cmd_t cmd;
    pcmd_t *p, *q;
    bool needs_vm, needs_xfer;

    if (m->len > VMF_MSG_MAX) {
        say("%s: dropped a command of %zu bytes", d->id, m->len);
        return;
    }
    if (vmf_cmd_decode(m->payload, m->len, &cmd) != 0) {
        /* E_INVALID, with the id from the correlation data if any. */
        vmf_cmd_init(&cmd);
        if (m->corr == NULL || m->corr_len == 0 ||
            m->corr_len >= sizeof(cmd.id)) {
            say("%s: dropped an undecodable command without an id", d->id);
            return;
        }
        memcpy(cmd.id, m->corr, m->corr_len);
        if ((p = make_pcmd(d, m, &cmd)) != NULL)
            reply(d, p, true, VMF_E_INVALID, "", NULL, "cannot decode the "
                  "command");
        pcmd_free(p);
        return;
    }
    if ((p = make_pcmd(d, m, &cmd)) == NULL)
        return;
    if (strcmp(cmd.device, d->id) != 0) {
        reply(d, p, true, VMF_E_WRONG_DEVICE, "", NULL, "this is %s, not "
              "%s", d->id, cmd.device);
        goto out;
    }
    /* Duplicates: the stored final result, or "accepted" again. */
    if (cmd.id[0] != '\0' && (done = done_find(d, cmd.id)) != NULL) {
        publish(d, p->reply, done->res, done->len, false, p->corr,
                p->corr_len);
        goto out;
    }
    for (q = d->queue; q != NULL; q = q->next)
        if (strcmp(q->cmd.id, cmd.id) == 0)
            break;
    if (q != NULL ||
        (d->active != NULL && strcmp(d->active->cmd.id, cmd.id) == 0)) {
        reply(d, p, false, VMF_OK, "", NULL, "accepted");
        goto out;
    }
    atomic_fetch_add(&d->sim->commands, 1);
    needs_vm = (cmd.kind >= VMF_CMD_CREATE && cmd.kind <= VMF_CMD_UPDATE) ||
               cmd.kind == VMF_CMD_LOGS;
    needs_xfer = cmd.kind == VMF_CMD_CREATE || cmd.kind == VMF_CMD_UPDATE ||
                 cmd.kind == VMF_CMD_RESTORE;
    if ((needs_vm && cmd.vm[0] == '\0') || (needs_xfer && !cmd.has_xfer) ||
        (cmd.kind == VMF_CMD_CANCEL && cmd.cancel_id[0] == '\0')) {
        reply(d, p, true, VMF_E_INVALID, "", NULL, "%s needs %s",
              vmf_cmd_name(cmd.kind),
              needs_vm && cmd.vm[0] == '\0' ? "a vm"
              : needs_xfer ? "a transfer" : "cancel_id");
        goto out;
    }
    switch (cmd.kind) {
    case VMF_CMD_START:
    case VMF_CMD_STOP:
    case VMF_CMD_SUSPEND:
    case VMF_CMD_RESUME:
    case VMF_CMD_RESTART:
    case VMF_CMD_DESTROY:
        if (vm_busy(d, cmd.vm)) {
            reply(d, p, true, VMF_E_BUSY, "", NULL, "%s is being updated",
                  cmd.vm);
            break;
        }
        lifecycle(d, p);
        break;
    case VMF_CMD_INVENTORY:
        publish_state(d);
        reply(d, p, true, VMF_OK, "", NULL, "inventory");
        break;
    case VMF_CMD_LOGS:
        logs(d, p); /* reads only: allowed while an update runs */
        break;
    case VMF_CMD_CANCEL:
        cancel(d, p);
        break;
    case VMF_CMD_CREATE:
    case VMF_CMD_UPDATE:
    case VMF_CMD_RESTORE:
    case VMF_CMD_SNAPSHOT:
        if (d->nqueued >= QUEUE_MAX) {
            reply(d, p, true, VMF_E_BUSY, "", NULL, "%u commands are "
                  "waiting already", d->nqueued);
            break;
        }
        reply(d, p, false, VMF_OK, "", NULL, "accepted");
        if (is_transfer_kind(cmd.kind))
            atomic_fetch_add(&d->sim->updating, 1);
        /* Into the queue; it starts now if nothing else runs. */
        for (q = d->queue; q != NULL && q->next != NULL; q = q->next)
            ;
        if (q == NULL)
            d->queue = p;
        else
            q->next = p;
        d->nqueued++;
        p = NULL;
        start_next(d);
        break;
    default:
        reply(d, p, true, VMF_E_UNKNOWN_COMMAND, "", NULL, "unknown "
              "command kind %d", (int)cmd.kind);
        break;
    }
out:
    pcmd_free(p);
}

static void
on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    sdev_t *d = arg;
    char dev[VMF_ID_MAX], leaf[32];

    if (vmf_topic_parse(m->topic, dev, sizeof(dev), leaf, sizeof(leaf)) !=
            0 ||
        strcmp(dev, d->id) != 0)
        return;
    pthread_mutex_lock(&d->lock);
    if (d->closing) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    if (strcmp(leaf, "cmd") == 0)
        on_cmd(d, m);
    else if (strcmp(leaf, "xfer/data") == 0)
        on_chunk(d, m);
    else if (strcmp(leaf, "xfer/upreq") == 0)
        on_upreq(d, m);
    pthread_mutex_unlock(&d->lock);
}

static void
on_conn(void *arg, bool connected, const char *why)
{
    sdev_t *d = arg;

    pthread_mutex_lock(&d->lock);
    if (connected)
        atomic_fetch_add(&d->sim->connects, 1);
    if (connected && !d->up) {
        d->up = true;
        atomic_fetch_add(&d->sim->connected, 1);
    } else if (!connected && d->up) {
        d->up = false;
        atomic_fetch_sub(&d->sim->connected, 1);
        if (!d->closing)
            say("%s: connection lost: %s", d->id, why);
    }
    if (connected && !d->closing) {
        publish_state(d);
        if (d->phase == PH_XFER)
            rerequest_all(d);
    }
    pthread_mutex_unlock(&d->lock);
}

/* ---- the timer thread ---------------------------------------------------- */

/* Chunk timeouts and health windows of one device (lock held). */
static void
tick(sdev_t *d, uint64_t now)
{
    uint32_t i;

    if (d->phase == PH_XFER) {
        for (i = 0; i < d->nwant; i++) {
            want_t *w = &d->want[i];

            if (now < w->due_ms)
                continue;
            w->timeout_ms = w->timeout_ms >= CHUNK_TIMEOUT_MAX_MS / 2
                                ? CHUNK_TIMEOUT_MAX_MS
                                : w->timeout_ms * 2;
            w->due_ms = now + w->timeout_ms;
            if (d->sim->o.verbose)
                say("%s: chunk %u did not come; asking again", d->id,
                    w->index);
            request(d, w->index, 1);
        }
    } else if (d->phase == PH_HEALTH && now >= d->health_due_ms) {
        health_done(d);
    }
}

static void *
timer_main(void *arg)
{
    sim_t *s = arg;
    struct timespec ts = { 0, (long)TICK_MS * 1000000L };
    uint64_t now;
    uint32_t i, n;

    while (!atomic_load(&s->stop)) {
        nanosleep(&ts, NULL);
        now = now_ms();
        n = s->ndevs;
        for (i = 0; i < n; i++) {
            sdev_t *d = &s->devs[i];

            if (!atomic_load(&d->timed))
                continue;
            pthread_mutex_lock(&d->lock);
            if (!d->closing)
                tick(d, now);
            pthread_mutex_unlock(&d->lock);
        }
    }
    return NULL;
}

/* ---- devices: make, start, stop ------------------------------------------ */

/*
 * dev_init: device number idx with its VMs and a client (not started).
 * Return: 0, or -1 (logged).
 */
static int
dev_init(sim_t *s, sdev_t *d, uint32_t idx)
{
    const opts_t *o = &s->o;
    char t_state[VMF_TOPIC_MAX], t_cmd[VMF_TOPIC_MAX],
        t_data[VMF_TOPIC_MAX], t_upreq[VMF_TOPIC_MAX], err[256] = "";
    vmf_vm_status_t vms[SIM_VMS_MAX];
    vmf_mqtt_config_t mc;
    vmf_state_t will;
    uint8_t *wbuf = NULL;
    size_t wlen = 0;
    uint32_t i;
    int rc;

    memset(d, 0, sizeof(*d));
    d->sim = s;
    d->index = idx;
    snprintf(d->id, sizeof(d->id), "%s%05u", o->prefix, idx);
    if (!vmf_device_id_valid(d->id)) {
        say("device id '%s' is not valid ([A-Za-z0-9._-], at most %d)",
            d->id, VMF_ID_MAX - 1);
        return -1;
    }
    d->rng = o->seed ^ ((uint64_t)idx * UINT64_C(0x9e3779b97f4a7c15));
    d->boot_id = rng_next(&d->rng) ^ real_ms();
    d->nvms = o->vms;
    for (i = 0; i < d->nvms; i++) {
        if (i < sizeof(vm_names) / sizeof(vm_names[0]))
            copy_str(d->vms[i].name, sizeof(d->vms[i].name), vm_names[i]);
        else
            snprintf(d->vms[i].name, sizeof(d->vms[i].name), "vm%u", i);
        copy_str(d->vms[i].version, sizeof(d->vms[i].version), "1.0.0");
        vm_set_state(&d->vms[i], "running");
    }
    if (pthread_mutex_init(&d->lock, NULL) != 0) {
        say("%s: cannot make a mutex", d->id);
        return -1;
    }
    if (vmf_topic(t_state, sizeof(t_state), d->id, "state") != 0 ||
        vmf_topic(t_cmd, sizeof(t_cmd), d->id, "cmd") != 0 ||
        vmf_topic(t_data, sizeof(t_data), d->id, "xfer/data") != 0 ||
        vmf_topic(t_upreq, sizeof(t_upreq), d->id, "xfer/upreq") != 0)
        goto fail;
    state_fill(d, &will, vms, false);
    if (vmf_state_encode(&will, &wbuf, &wlen) != 0) {
        say("%s: cannot encode the Last Will", d->id);
        goto fail;
    }
    memset(&mc, 0, sizeof(mc));
    mc.uri = o->broker;
    mc.client_id = d->id;
    mc.clean_start = false;
    mc.session_expiry_s = 3600;
    mc.keepalive_s = o->keepalive_s;
    mc.will_topic = t_state;
    mc.will_payload = wbuf;
    mc.will_len = wlen;
    mc.will_retain = true;
    mc.no_nodelay_scan = true; /* vmf_mqtt_nodelay() does it for all */
    rc = vmf_mqtt_create(&mc, on_msg, on_conn, d, &d->mqtt, err,
                         sizeof(err));
    free(wbuf);
    if (rc != 0) {
        say("%s: --broker %s: %s", d->id, o->broker,
            err[0] != '\0' ? err : vmf_mqtt_strerror(rc));
        goto fail;
    }
    if (vmf_mqtt_subscribe(d->mqtt, t_cmd, 1) != 0 ||
        vmf_mqtt_subscribe(d->mqtt, t_data, 1) != 0 ||
        vmf_mqtt_subscribe(d->mqtt, t_upreq, 1) != 0) {
        say("%s: cannot subscribe", d->id);
        vmf_mqtt_destroy(d->mqtt);
        d->mqtt = NULL;
        goto fail;
    }
    return 0;
fail:
    pthread_mutex_destroy(&d->lock);
    return -1;
}

/* Publish an offline State, and stop and free the device. */
static void
dev_close(sdev_t *d)
{
    vmf_vm_status_t vms[SIM_VMS_MAX];
    vmf_state_t st;
    uint8_t *buf;
    size_t len;

    pthread_mutex_lock(&d->lock);
    d->closing = true;
    /* vmrt-ota says goodbye the same way: the Will does not fire on a
     * clean DISCONNECT. */
    state_fill(d, &st, vms, false);
    if (d->up && vmf_state_encode(&st, &buf, &len) == 0) {
        publish_leaf(d, "state", buf, len, true);
        free(buf);
    }
    pthread_mutex_unlock(&d->lock);
}

static void
dev_free(sdev_t *d)
{
    pcmd_t *p;
    uint32_t i;

    vmf_mqtt_destroy(d->mqtt);
    d->mqtt = NULL;
    xfer_free(d);
    pcmd_free(d->active);
    while ((p = d->queue) != NULL) {
        d->queue = p->next;
        pcmd_free(p);
    }
    for (i = 0; i < d->ndone; i++)
        free(d->done[i].res);
    free(d->done);
    pthread_mutex_destroy(&d->lock);
}

/* One of STOPPERS threads freeing every STOPPERS-th device. */
typedef struct {
    sim_t *sim;
    uint32_t from;
    bool started;
    pthread_t th;
} stopper_t;

static void *
stopper_main(void *arg)
{
    stopper_t *st = arg;
    uint32_t i, n = st->sim->ndevs;

    for (i = st->from; i < n; i += STOPPERS)
        dev_free(&st->sim->devs[i]);
    return NULL;
}

/* Offline States out (within STOP_FLUSH_MS), then every client closed,
 * by several threads: each close waits for its DISCONNECT to go out. */
static void
stop_all(sim_t *s)
{
    uint64_t deadline = now_ms() + STOP_FLUSH_MS, now;
    stopper_t st[STOPPERS];
    uint32_t i, n = s->ndevs;

    say("stopping %u devices", n);
    for (i = 0; i < n; i++)
        dev_close(&s->devs[i]);
    for (i = 0; i < n; i++) {
        now = now_ms();
        if (now >= deadline ||
            vmf_mqtt_flush(s->devs[i].mqtt, (uint32_t)(deadline - now)) !=
                0) {
            say("not every offline State went out in %u ms", STOP_FLUSH_MS);
            break;
        }
    }
    for (i = 0; i < STOPPERS; i++) {
        st[i].sim = s;
        st[i].from = i;
        st[i].started =
            pthread_create(&st[i].th, NULL, stopper_main, &st[i]) == 0;
        if (!st[i].started)
            stopper_main(&st[i]);
    }
    for (i = 0; i < STOPPERS; i++)
        if (st[i].started)
            pthread_join(st[i].th, NULL);
}

/* ---- progress ------------------------------------------------------------ */

/* VmRSS and VmHWM (KiB) and Threads of this process. */
static void
self_status(unsigned long *rss_kb, unsigned long *hwm_kb,
            unsigned long *threads)
{
    char line[256];
    FILE *f;

    *rss_kb = *hwm_kb = *threads = 0;
    if ((f = fopen("/proc/self/status", "r")) == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmRSS: %lu", rss_kb) == 1 ||
            sscanf(line, "VmHWM: %lu", hwm_kb) == 1 ||
            sscanf(line, "Threads: %lu", threads) == 1)
            continue;
    }
    fclose(f);
}

static void
progress(sim_t *s)
{
    unsigned long rss, hwm, thr;

    self_status(&rss, &hwm, &thr);
    printf("t=%.1fs devices %u/%u connected %u updating %u updated %u "
           "failed %u commands %u rss %lu MiB threads %lu\n",
           (double)(now_ms() - s->t0_ms) / 1000.0, s->ndevs, s->o.devices,
           atomic_load(&s->connected), atomic_load(&s->updating),
           atomic_load(&s->updated), atomic_load(&s->failed),
           atomic_load(&s->commands), rss / 1024, thr);
    fflush(stdout);
}

/* ---- command line ------------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: fleet-sim --broker URI --devices N [OPTIONS]\n"
        "\n"
        "N simulated devices in one process, each a vmrt-ota for the\n"
        "server (docs/protocol.md), with --vms simulated VMs that accept\n"
        "updates.  Device ids are PREFIX + a 5-digit number.\n"
        "\n"
        "  --broker URI         tcp://HOST:PORT (required)\n"
        "  --devices N          how many (1..%u; required)\n"
        "  --first I            number of the first device (default 0;\n"
        "                       for several processes side by side)\n"
        "  --prefix P           device id prefix (default sim-)\n"
        "  --vms K              VMs per device, 1..%u (default 3: sensor,\n"
        "                       net, ctl; then vm3...), all 1.0.0 running\n"
        "  --labels k=v,...     labels every device reports\n"
        "  --health-ms MS       health window when the command has none\n"
        "                       (default 1000)\n"
        "  --fail-version V     an update to version V fails its health\n"
        "                       window: ROLLBACK event, E_ROLLED_BACK\n"
        "  --fail-rate P        any update fails with probability P (0..1)\n"
        "  --connect-rate R     devices connected per second (default 200)\n"
        "  --seed S             seed of the devices' randomness (default 1)\n"
        "  --window W           chunks in flight per transfer (default 8)\n"
        "  --max-package BYTES  larger transfers: E_TOO_LARGE (16 MiB)\n"
        "  --chunk-timeout-ms MS  first re-request timeout (default 2000)\n"
        "  --trust KEY.pem      check package signatures with this public\n"
        "                       key (up to %u; default: no signature check)\n"
        "  --keepalive S        MQTT keepalive (default 30)\n"
        "  --duration S         stop after S seconds (default: on SIGINT\n"
        "                       or SIGTERM)\n"
        "  -v, --verbose        log every command\n"
        "  -h, --help\n"
        "\n"
        "Prints a progress line a second on stdout.  Exit status: 0 stopped\n"
        "(each device publishes a retained offline State first); 1 fatal\n"
        "error; 2 usage.\n",
        DEVICES_MAX, SIM_VMS_MAX, TRUST_MAX);
}

/* Parse an unsigned decimal in [min, max] into *out.  Return: 0 or -1
 * (logged, naming the option). */
static int
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
          uint64_t *out)
{
    unsigned long long v;
    char *end;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno != 0 || *end != '\0' || v < min ||
        v > max) {
        fprintf(stderr, "fleet-sim: %s: '%s' is not a number from %" PRIu64
                " to %" PRIu64 "\n", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int
parse_u32(const char *opt, const char *s, uint32_t min, uint32_t max,
          uint32_t *out)
{
    uint64_t v;

    if (parse_u64(opt, s, min, max, &v) != 0)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "k=v,k2=v2" into o->labels.  Return: 0 or -1 (logged). */
static int
parse_labels(opts_t *o, const char *s)
{
    const char *p = s, *eq, *end;
    size_t kl, vl;

    while (*p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(end - p));
        kl = eq != NULL ? (size_t)(eq - p) : 0;
        vl = eq != NULL ? (size_t)(end - eq - 1) : 0;
        if (eq == NULL || kl == 0 || kl >= VMF_LABEL_MAX ||
            vl >= VMF_LABEL_MAX) {
            fprintf(stderr, "fleet-sim: --labels: '%.*s' is not KEY=VALUE "
                    "(key 1..%d, value 0..%d characters)\n",
                    (int)(end - p), p, VMF_LABEL_MAX - 1, VMF_LABEL_MAX - 1);
            return -1;
        }
        if (o->nlabels >= VMF_LABELS_MAX) {
            fprintf(stderr, "fleet-sim: --labels: more than %d labels\n",
                    VMF_LABELS_MAX);
            return -1;
        }
        memcpy(o->labels[o->nlabels].key, p, kl);
        memcpy(o->labels[o->nlabels].value, eq + 1, vl);
        o->nlabels++;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* Read a PEM key file (at most VPK_PEM_MAX * 4 bytes) into a new string.
 * Return: it, or NULL (logged). */
static char *
read_pem(const char *path)
{
    size_t cap = VPK_PEM_MAX * 4, n;
    char *buf;
    FILE *f;

    if ((f = fopen(path, "rb")) == NULL) {
        fprintf(stderr, "fleet-sim: --trust %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if ((buf = malloc(cap + 1)) == NULL) {
        fclose(f);
        return NULL;
    }
    n = fread(buf, 1, cap + 1, f);
    fclose(f);
    if (n == 0 || n > cap) {
        fprintf(stderr, "fleet-sim: --trust %s: %s\n", path,
                n == 0 ? "empty or unreadable" : "too large for a PEM key");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* Return: 0, or EXIT_USAGE (logged), or -1 for --help (printed). */
static int
parse_opts(int argc, char **argv, opts_t *o)
{
    char id[VPK_KEY_ID_LEN + 1];
    uint64_t v;
    char *end;
    int i;

    memset(o, 0, sizeof(*o));
    o->prefix = "sim-";
    o->vms = 3;
    o->health_ms = 1000;
    o->connect_rate = 200;
    o->seed = 1;
    o->window = 8;
    o->max_package = UINT64_C(16) * 1024 * 1024;
    o->chunk_timeout_ms = 2000;
    o->keepalive_s = 30;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return -1;
        }
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = true;
            continue;
        }
        if (a[0] != '-' || a[1] != '-') {
            fprintf(stderr, "fleet-sim: unexpected argument '%s' (see "
                    "--help)\n", a);
            return EXIT_USAGE;
        }
        if (val == NULL) {
            fprintf(stderr, "fleet-sim: %s needs a value (see --help)\n", a);
            return EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--broker") == 0) {
            o->broker = val;
        } else if (strcmp(a, "--devices") == 0) {
            if (parse_u32(a, val, 1, DEVICES_MAX, &o->devices) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--first") == 0) {
            if (parse_u32(a, val, 0, DEVICES_MAX * 10, &o->first) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--prefix") == 0) {
            o->prefix = val;
        } else if (strcmp(a, "--vms") == 0) {
            if (parse_u32(a, val, 1, SIM_VMS_MAX, &o->vms) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--labels") == 0) {
            if (parse_labels(o, val) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--health-ms") == 0) {
            if (parse_u32(a, val, 0, 3600000, &o->health_ms) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--fail-version") == 0) {
            if (vpk_semver_check(val) != 0) {
                fprintf(stderr, "fleet-sim: --fail-version: '%s' is not a "
                        "semantic version\n", val);
                return EXIT_USAGE;
            }
            o->fail_version = val;
        } else if (strcmp(a, "--fail-rate") == 0) {
            errno = 0;
            o->fail_rate = strtod(val, &end);
            if (errno != 0 || end == val || *end != '\0' ||
                !(o->fail_rate >= 0.0 && o->fail_rate <= 1.0)) {
                fprintf(stderr, "fleet-sim: --fail-rate: '%s' is not a "
                        "probability from 0 to 1\n", val);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--connect-rate") == 0) {
            if (parse_u32(a, val, 1, 100000, &o->connect_rate) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_u64(a, val, 0, UINT64_MAX, &o->seed) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--window") == 0) {
            if (parse_u32(a, val, 1, WINDOW_MAX, &o->window) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--max-package") == 0) {
            if (parse_u64(a, val, 1, UINT64_C(1) << 32, &v) != 0)
                return EXIT_USAGE;
            o->max_package = v;
        } else if (strcmp(a, "--chunk-timeout-ms") == 0) {
            if (parse_u32(a, val, 1, CHUNK_TIMEOUT_MAX_MS,
                          &o->chunk_timeout_ms) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--trust") == 0) {
            if (o->ntrusted >= TRUST_MAX) {
                fprintf(stderr, "fleet-sim: --trust: at most %u keys\n",
                        TRUST_MAX);
                return EXIT_USAGE;
            }
            if ((o->trusted[o->ntrusted] = read_pem(val)) == NULL)
                return EXIT_USAGE;
            if (vpk_key_id(o->trusted[o->ntrusted++], id) != 0) {
                fprintf(stderr, "fleet-sim: --trust %s: not a P-256 key in "
                        "PEM\n", val);
                return EXIT_USAGE;
            }
        } else if (strcmp(a, "--keepalive") == 0) {
            if (parse_u32(a, val, 5, 65535, &o->keepalive_s) != 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--duration") == 0) {
            if (parse_u32(a, val, 1, UINT32_MAX, &o->duration_s) != 0)
                return EXIT_USAGE;
        } else {
            fprintf(stderr, "fleet-sim: unknown option %s (see --help)\n",
                    a);
            return EXIT_USAGE;
        }
    }
    if (o->broker == NULL || o->devices == 0) {
        fprintf(stderr, "fleet-sim: --broker and --devices are required "
                "(see --help)\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* ---- main ---------------------------------------------------------------- */

/*
 * raise_fd_limit: the soft RLIMIT_NOFILE up to the hard one; one socket
 * per device plus a few.  Return: 0, or -1 (logged) if that is not
 * enough.
 */
static int
raise_fd_limit(uint32_t devices)
{
    uint64_t need = (uint64_t)devices + FDS_SPARE;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            say("cannot raise the descriptor limit: %s", strerror(errno));
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        say("%u devices need %" PRIu64 " file descriptors; the limit is "
            "%llu (hard %llu): raise it (ulimit -Hn as root), or run "
            "several fleet-sim with --first", devices, need,
            (unsigned long long)rl.rlim_cur,
            (unsigned long long)rl.rlim_max);
        return -1;
    }
    return 0;
}

/*
 * wait_signal: wait up to ms for SIGINT or SIGTERM (blocked in every
 * thread).  Return: true if one came.
 */
static bool
wait_signal(const sigset_t *set, uint64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    return sigtimedwait(set, NULL, &ts) > 0;
}

int
main(int argc, char **argv)
{
    pthread_attr_t attr;
    pthread_t timer;
    sigset_t set;
    sim_t *s;
    uint64_t next_progress, next_sweep = 0, t_all = 0, now, due;
    unsigned swept = 0;
    bool nodelay_said = false;
    uint32_t i;
    bool timer_up = false;
    int rc = EXIT_OK;

    if ((s = calloc(1, sizeof(*s))) == NULL)
        return EXIT_FATAL;
    if ((rc = parse_opts(argc, argv, &s->o)) != 0) {
        rc = rc < 0 ? EXIT_OK : rc;
        goto out;
    }
    if (raise_fd_limit(s->o.devices) != 0) {
        rc = EXIT_FATAL;
        goto out;
    }
    /* One client thread per device: keep their stacks small. */
    if (pthread_attr_init(&attr) == 0) {
        pthread_attr_setstacksize(&attr, THREAD_STACK);
        pthread_setattr_default_np(&attr);
        pthread_attr_destroy(&attr);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if ((s->devs = calloc(s->o.devices, sizeof(*s->devs))) == NULL) {
        say("out of memory for %u devices", s->o.devices);
        rc = EXIT_FATAL;
        goto out;
    }
    if (pthread_create(&timer, NULL, timer_main, s) != 0) {
        say("cannot start the timer thread");
        rc = EXIT_FATAL;
        goto out;
    }
    timer_up = true;
    s->t0_ms = now_ms();
    next_progress = s->t0_ms + 1000;
    say("%u devices %s%05u.. on %s, %u VMs each, %u connects/s",
        s->o.devices, s->o.prefix, s->o.first, s->o.broker, s->o.vms,
        s->o.connect_rate);
    for (;;) {
        now = now_ms();
        /* Connect at the rate asked for. */
        due = (now - s->t0_ms) * s->o.connect_rate / 1000 + 1;
        while (s->ndevs < s->o.devices && s->ndevs < due) {
            sdev_t *d = &s->devs[s->ndevs];

            if (dev_init(s, d, s->o.first + s->ndevs) != 0) {
                rc = EXIT_FATAL;
                goto stop;
            }
            /* Counted only once made: the timer thread reads ndevs. */
            atomic_fetch_add(&s->ndevs, 1);
            vmf_mqtt_start(d->mqtt);
        }
        if (t_all == 0 && atomic_load(&s->connected) == s->o.devices) {
            t_all = now_ms();
            say("all %u devices connected in %.1f s", s->o.devices,
                (double)(t_all - s->t0_ms) / 1000.0);
        }
        /*
         * TCP_NODELAY for the sockets of new connections.  Each client
         * would look through /proc/self/fd after its own connect: O(n^2)
         * with thousands of them, most of the CPU at 5,000 devices.  So
         * they skip it (no_nodelay_scan) and one sweep covers them all.
         */
        if (atomic_load(&s->connects) != swept && now >= next_sweep) {
            swept = atomic_load(&s->connects);
            if (vmf_mqtt_nodelay(s->devs[0].mqtt) < 0 && !nodelay_said) {
                say("cannot set TCP_NODELAY towards %s: Nagle stays on",
                    s->o.broker);
                nodelay_said = true;
            }
            next_sweep = now_ms() + SWEEP_MS;
        }
        if (now >= next_progress) {
            progress(s);
            next_progress += 1000;
        }
        if (s->o.duration_s > 0 &&
            now - s->t0_ms >= (uint64_t)s->o.duration_s * 1000)
            break;
        if (wait_signal(&set, s->ndevs < s->o.devices ? 5 : 100))
            break;
    }
stop:
    progress(s);
    atomic_store(&s->stop, true);
    if (timer_up)
        pthread_join(timer, NULL);
    stop_all(s);
out:
    for (i = 0; i < s->o.ntrusted; i++)
        free(s->o.trusted[i]);
    free(s->devs);
    free(s);
    return rc;
}
