/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctld's core (server/vmctl/vmctld/src/ctld*.c) end to end: a real
 * mosquitto per test (broker.c), real SQLite and store in a temporary
 * directory, and fake devices written here over vmf/mqtt.h and the fleet
 * codecs.  A fake device publishes its State (retained, with a Last Will),
 * answers commands as the test tells it (at once, with a code, never, or
 * holding a long command's final result until released), pulls packages
 * and snapshots in chunks and checks their SHA-256, and uploads
 * snapshots, leaving out one chunk until the server asks for it again.
 *
 * Every wait polls a condition against a generous deadline; nothing
 * depends on a fixed sleep.  A "nothing happened" check is made only
 * where the protocol forbids the thing (a paused rollout sends nothing,
 * a held canary blocks the next batch), or after a later command that
 * must come after it has been seen.
 */

#define _GNU_SOURCE /* mkdtemp, nftw, usleep */

#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker.h"
#include "ctld.h"
#include "log.h"
#include "vmf/fleet.h"
#include "vmf/mqtt.h"
#include "vmf/vpk.h"

#define WAIT_MS 20000
#define MAX_REC 64
#define MAX_DEVS 8
#define MAX_EVENTS 4096
#define SNAP_CHUNK 4096
#define CLIENT_ID "vmctld-test"

static atomic_long order; /* a global sequence, to compare when */

static long long
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll `cond` every 10 ms until it holds or WAIT_MS passed. */
#define WAIT_FOR(cond)                                                    \
    do {                                                                  \
        long long dl_ = mono_ms() + WAIT_MS;                              \
        while (!(cond) && mono_ms() < dl_)                                \
            usleep(10000);                                                \
        if (!(cond))                                                      \
            fail_msg("timed out waiting for: %s", #cond);                 \
    } while (0)

static void
sha_hex(const uint8_t *buf, size_t len, char out[65])
{
    static const char d[] = "0123456789abcdef";
    uint8_t h[32];
    size_t i;

    assert_int_equal(vmf_sha256(buf, len, h), 0);
    for (i = 0; i < 32; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[64] = '\0';
}

/* ---- a fake device ------------------------------------------------------ */

typedef struct rx {
    char id[VMF_ID_MAX];
    int kind;
    char cancel_id[VMF_ID_MAX];
    long seq;
} rx_t;

typedef struct answered {
    char id[VMF_ID_MAX];
    vmf_result_t res;
    long seq;
} answered_t;

typedef struct fdev {
    char id[VMF_ID_MAX];
    vmf_mqtt_t *m;
    pthread_mutex_t lock;
    uint64_t boot;
    char label[2][VMF_LABEL_MAX]; /* key, value; "" for none */
    char vm_version[VMF_VERSION_MAX];

    /* Behaviour, set by the test. */
    bool silent;            /* never answer */
    bool hold;              /* keep long commands' final result */
    int short_code;         /* final code of short commands */
    int long_code;          /* final code of CREATE/UPDATE/RESTORE */
    char long_version[VMF_VERSION_MAX];
    const uint8_t *snap;    /* what a SNAPSHOT uploads */
    size_t snap_len;
    bool skip_chunk1;       /* leave out chunk 1 of the first upload */
    const char *log;        /* what LOGS of "app" answers (its tail) */
    size_t log_len;
    int logs_code;          /* LOGS's final code */

    /* What happened. */
    rx_t rx[MAX_REC];
    int nrx;
    answered_t ans[MAX_REC];
    int nans;
    int nupreq;
    bool dl_on;
    vmf_cmd_t dl_cmd;
    uint8_t *dl_buf, *dl_got;
    uint32_t dl_n, dl_have, dl_next;
    uint8_t *done_buf;      /* the last completed download */
    size_t done_len;
    vmf_result_t held;
    bool has_held;
    uint32_t log_bytes;     /* the last LOGS's log_bytes */
} fdev_t;

static void
fdev_publish(fdev_t *f, const char *leaf, uint8_t *buf, size_t len,
             const char *corr, bool retain)
{
    char topic[VMF_TOPIC_MAX];
    vmf_mqtt_msg_t m;

    assert_int_equal(vmf_topic(topic, sizeof(topic), f->id, leaf), 0);
    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.payload = buf;
    m.len = len;
    m.qos = 1;
    m.retain = retain;
    if (corr != NULL) {
        m.corr = (const uint8_t *)corr;
        m.corr_len = strlen(corr);
    }
    vmf_mqtt_publish(f->m, &m);
    free(buf);
}

/* Publish a result; a final one is remembered for duplicates. */
static void
fdev_send_result(fdev_t *f, const vmf_result_t *r)
{
    uint8_t *buf;
    size_t len;

    assert_int_equal(vmf_result_encode(r, &buf, &len), 0);
    if (r->final && f->nans < MAX_REC) {
        snprintf(f->ans[f->nans].id, sizeof(f->ans[0].id), "%s", r->cmd_id);
        f->ans[f->nans].res = *r;
        f->ans[f->nans].seq = atomic_fetch_add(&order, 1);
        f->nans++;
    }
    fdev_publish(f, "result", buf, len, r->cmd_id, false);
}

static void
result_init(vmf_result_t *r, const vmf_cmd_t *c, bool final, int code,
            const char *msg)
{
    vmf_result_init(r);
    snprintf(r->cmd_id, sizeof(r->cmd_id), "%s", c->id);
    r->kind = c->kind;
    r->final = final;
    r->code = (vmf_code_t)code;
    snprintf(r->message, sizeof(r->message), "%s", msg);
    snprintf(r->vm, sizeof(r->vm), "%s", c->vm);
}

static void
fdev_state(fdev_t *f, bool online)
{
    vmf_vm_status_t vm;
    vmf_state_t st;
    uint8_t *buf;
    size_t len;

    vmf_state_init(&st);
    snprintf(st.device, sizeof(st.device), "%s", f->id);
    st.online = online;
    if (online) {
        snprintf(st.runtime_version, sizeof(st.runtime_version), "1.4.0");
        snprintf(st.ota_version, sizeof(st.ota_version), "1.4.1");
        if (f->label[0][0] != '\0') {
            snprintf(st.labels[0].key, sizeof(st.labels[0].key), "%s",
                     f->label[0]);
            snprintf(st.labels[0].value, sizeof(st.labels[0].value), "%s",
                     f->label[1]);
            st.nlabels = 1;
        }
        memset(&vm, 0, sizeof(vm));
        snprintf(vm.name, sizeof(vm.name), "app");
        snprintf(vm.version, sizeof(vm.version), "%s", f->vm_version);
        snprintf(vm.state, sizeof(vm.state), "running");
        vm.memory_bytes = 65536;
        st.vms = &vm;
        st.nvms = 1;
        st.boot_id = f->boot;
    }
    assert_int_equal(vmf_state_encode(&st, &buf, &len), 0);
    fdev_publish(f, "state", buf, len, NULL, true);
}

static void
fdev_chunk_req(fdev_t *f, const char *xfer, uint32_t first, uint32_t count)
{
    vmf_chunk_req_t q;
    uint8_t *buf;
    size_t len;

    vmf_chunk_req_init(&q);
    snprintf(q.xfer_id, sizeof(q.xfer_id), "%s", xfer);
    q.first = first;
    q.count = count;
    assert_int_equal(vmf_chunk_req_encode(&q, &buf, &len), 0);
    fdev_publish(f, "xfer/req", buf, len, NULL, false);
}

/* Ask for the next window of the download. */
static void
dl_ask(fdev_t *f)
{
    uint32_t count = f->dl_n - f->dl_next;

    if (count == 0)
        return;
    if (count > VMF_REQ_CHUNKS_MAX)
        count = VMF_REQ_CHUNKS_MAX;
    fdev_chunk_req(f, f->dl_cmd.xfer.id, f->dl_next, count);
    f->dl_next += count;
}

static void
upload_chunk(fdev_t *f, const char *xfer, uint32_t i)
{
    vmf_chunk_t ch;
    uint8_t *buf;
    size_t len, off = (size_t)i * SNAP_CHUNK;

    if (off >= f->snap_len)
        return;
    vmf_chunk_init(&ch);
    snprintf(ch.xfer_id, sizeof(ch.xfer_id), "%s", xfer);
    ch.index = i;
    ch.data = (uint8_t *)f->snap + off;
    ch.len = f->snap_len - off < SNAP_CHUNK ? f->snap_len - off : SNAP_CHUNK;
    ch.crc32 = vmf_crc32(ch.data, ch.len);
    assert_int_equal(vmf_chunk_encode(&ch, &buf, &len), 0);
    fdev_publish(f, "xfer/up", buf, len, NULL, false);
}

static void
fdev_on_cmd(fdev_t *f, const vmf_cmd_t *c)
{
    vmf_result_t r;
    uint32_t i, n;
    int a;

    if (f->nrx < MAX_REC) {
        snprintf(f->rx[f->nrx].id, sizeof(f->rx[0].id), "%s", c->id);
        f->rx[f->nrx].kind = c->kind;
        snprintf(f->rx[f->nrx].cancel_id, sizeof(f->rx[0].cancel_id), "%s",
                 c->cancel_id);
        f->rx[f->nrx].seq = atomic_fetch_add(&order, 1);
        f->nrx++;
    }
    if (c->kind == VMF_CMD_CANCEL || f->silent)
        return;
    for (a = 0; a < f->nans; a++) {
        if (strcmp(f->ans[a].id, c->id) == 0) {
            /* A re-send: answered from the record, never run twice. */
            fdev_send_result(f, &f->ans[a].res);
            f->nans--; /* fdev_send_result() recorded it again */
            return;
        }
    }
    switch (c->kind) {
    case VMF_CMD_CREATE:
    case VMF_CMD_UPDATE:
    case VMF_CMD_RESTORE:
        result_init(&r, c, false, VMF_OK, "accepted");
        fdev_send_result(f, &r);
        if (f->dl_on && strcmp(f->dl_cmd.id, c->id) == 0)
            return; /* already pulling it */
        if (f->has_held && strcmp(f->held.cmd_id, c->id) == 0)
            return;
        free(f->dl_buf);
        free(f->dl_got);
        f->dl_cmd = *c;
        f->dl_n = (uint32_t)((c->xfer.size + c->xfer.chunk_size - 1) /
                             c->xfer.chunk_size);
        f->dl_buf = calloc(1, (size_t)c->xfer.size);
        f->dl_got = calloc(f->dl_n, 1);
        f->dl_have = 0;
        f->dl_next = 0;
        f->dl_on = true;
        dl_ask(f);
        return;
    case VMF_CMD_SNAPSHOT:
        result_init(&r, c, true, VMF_OK, "snapshot taken");
        r.has_xfer = true;
        snprintf(r.xfer.id, sizeof(r.xfer.id), "%s", c->id);
        r.xfer.size = f->snap_len;
        r.xfer.chunk_size = SNAP_CHUNK;
        vmf_sha256(f->snap, f->snap_len, r.xfer.sha256);
        fdev_send_result(f, &r);
        n = (uint32_t)((f->snap_len + SNAP_CHUNK - 1) / SNAP_CHUNK);
        for (i = 0; i < n; i++)
            if (!(i == 1 && f->skip_chunk1))
                upload_chunk(f, c->id, i);
        f->skip_chunk1 = false;
        return;
    case VMF_CMD_LOGS: {
        size_t want = c->log_bytes ? c->log_bytes : VMF_LOG_BYTES_DEFAULT;
        size_t off = f->log_len > want ? f->log_len - want : 0;

        f->log_bytes = c->log_bytes;
        if (f->logs_code == VMF_OK && strcmp(c->vm, "app") != 0)
            result_init(&r, c, true, VMF_E_NOT_FOUND, "no such VM");
        else
            result_init(&r, c, true, f->logs_code,
                        f->logs_code != VMF_OK ? "refused by the test"
                        : off > 0              ? "truncated"
                                               : "complete");
        if (r.code == VMF_OK) {
            r.data = (uint8_t *)f->log + off; /* borrowed by the encode */
            r.len = f->log_len - off;
        }
        fdev_send_result(f, &r);
        return;
    }
    default:
        result_init(&r, c, true, f->short_code,
                    f->short_code == VMF_OK ? "done" : "refused by the test");
        fdev_send_result(f, &r);
        return;
    }
}

static void
fdev_on_data(fdev_t *f, const vmf_chunk_t *ch)
{
    vmf_result_t r;
    uint8_t sha[32];
    size_t off;
    int code;

    if (!f->dl_on || strcmp(ch->xfer_id, f->dl_cmd.xfer.id) != 0 ||
        ch->index >= f->dl_n || f->dl_got[ch->index] ||
        vmf_crc32(ch->data, ch->len) != ch->crc32)
        return;
    off = (size_t)ch->index * f->dl_cmd.xfer.chunk_size;
    if (off + ch->len > f->dl_cmd.xfer.size)
        return;
    memcpy(f->dl_buf + off, ch->data, ch->len);
    f->dl_got[ch->index] = 1;
    f->dl_have++;
    if (f->dl_have == f->dl_next)
        dl_ask(f);
    if (f->dl_have < f->dl_n)
        return;
    /* Complete: check it as the OTA VM would, then answer. */
    f->dl_on = false;
    vmf_sha256(f->dl_buf, (size_t)f->dl_cmd.xfer.size, sha);
    code = memcmp(sha, f->dl_cmd.xfer.sha256, 32) != 0 ? VMF_E_TRANSFER_HASH
                                                       : f->long_code;
    free(f->done_buf);
    f->done_buf = f->dl_buf;
    f->done_len = (size_t)f->dl_cmd.xfer.size;
    f->dl_buf = NULL;
    result_init(&r, &f->dl_cmd, true, code,
                code == VMF_OK ? "committed" : "trap at start");
    snprintf(r.version, sizeof(r.version), "%s",
             code == VMF_OK ? f->long_version : f->vm_version);
    if (f->hold) {
        f->held = r;
        f->has_held = true;
    } else {
        fdev_send_result(f, &r);
    }
}

static void
fdev_on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    fdev_t *f = arg;
    char dev[VMF_ID_MAX], leaf[32];
    vmf_chunk_req_t q;
    vmf_chunk_t ch;
    vmf_cmd_t c;
    uint32_t i;

    if (vmf_topic_parse(m->topic, dev, sizeof(dev), leaf, sizeof(leaf)) != 0)
        return;
    pthread_mutex_lock(&f->lock);
    if (strcmp(leaf, "cmd") == 0 &&
        vmf_cmd_decode(m->payload, m->len, &c) == 0) {
        fdev_on_cmd(f, &c);
    } else if (strcmp(leaf, "xfer/data") == 0 &&
               vmf_chunk_decode(m->payload, m->len, &ch) == 0) {
        fdev_on_data(f, &ch);
        vmf_chunk_free(&ch);
    } else if (strcmp(leaf, "xfer/upreq") == 0 &&
               vmf_chunk_req_decode(m->payload, m->len, &q) == 0) {
        f->nupreq++;
        for (i = q.first; i - q.first < q.count; i++)
            upload_chunk(f, q.xfer_id, i);
    }
    pthread_mutex_unlock(&f->lock);
}

static fdev_t *
fdev_new(const char *uri, const char *id, const char *lkey, const char *lval)
{
    static const char *const leaves[] = { "cmd", "xfer/data", "xfer/upreq" };
    char will_topic[VMF_TOPIC_MAX], filter[VMF_TOPIC_MAX], err[256];
    vmf_mqtt_config_t mc;
    vmf_state_t will;
    uint8_t *wbuf;
    size_t wlen, i;
    fdev_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    snprintf(f->id, sizeof(f->id), "%s", id);
    f->boot = 0x1000 + (uint64_t)atomic_fetch_add(&order, 1);
    snprintf(f->label[0], sizeof(f->label[0]), "%s", lkey);
    snprintf(f->label[1], sizeof(f->label[1]), "%s", lval);
    snprintf(f->vm_version, sizeof(f->vm_version), "1.0.0");
    snprintf(f->long_version, sizeof(f->long_version), "2.0.0");
    vmf_state_init(&will);
    snprintf(will.device, sizeof(will.device), "%s", id);
    assert_int_equal(vmf_state_encode(&will, &wbuf, &wlen), 0);
    assert_int_equal(vmf_topic(will_topic, sizeof(will_topic), id, "state"),
                     0);
    memset(&mc, 0, sizeof(mc));
    mc.uri = uri;
    mc.client_id = id;
    mc.will_topic = will_topic;
    mc.will_payload = wbuf;
    mc.will_len = wlen;
    mc.will_retain = true;
    assert_int_equal(vmf_mqtt_create(&mc, fdev_on_msg, NULL, f, &f->m, err,
                                     sizeof(err)),
                     0);
    free(wbuf);
    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        assert_int_equal(vmf_topic(filter, sizeof(filter), id, leaves[i]), 0);
        assert_int_equal(vmf_mqtt_subscribe(f->m, filter, 1), 0);
    }
    assert_int_equal(vmf_mqtt_start(f->m), 0);
    assert_int_equal(vmf_mqtt_wait_connected(f->m, WAIT_MS), 0);
    return f;
}

static void
fdev_free(fdev_t *f)
{
    if (f == NULL)
        return;
    vmf_mqtt_destroy(f->m);
    free(f->dl_buf);
    free(f->dl_got);
    free(f->done_buf);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* Send the held final result, if any.  @return true if one was sent. */
static bool
fdev_release(fdev_t *f)
{
    bool sent = false;

    pthread_mutex_lock(&f->lock);
    if (f->has_held) {
        f->has_held = false;
        fdev_send_result(f, &f->held);
        sent = true;
    }
    pthread_mutex_unlock(&f->lock);
    return sent;
}

static bool
fdev_has_held(fdev_t *f)
{
    bool h;

    pthread_mutex_lock(&f->lock);
    h = f->has_held;
    pthread_mutex_unlock(&f->lock);
    return h;
}

/* How many commands of `kind` (distinct ids) it got; -1: any kind. */
static int
fdev_count(fdev_t *f, int kind)
{
    int n = 0, i, j;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nrx; i++) {
        if (kind >= 0 && f->rx[i].kind != kind)
            continue;
        for (j = 0; j < i; j++)
            if (strcmp(f->rx[j].id, f->rx[i].id) == 0)
                break;
        if (j == i)
            n++;
    }
    pthread_mutex_unlock(&f->lock);
    return n;
}

static bool
fdev_got(fdev_t *f, const char *id)
{
    bool got = false;
    int i;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nrx; i++)
        if (strcmp(f->rx[i].id, id) == 0)
            got = true;
    pthread_mutex_unlock(&f->lock);
    return got;
}

/* The order stamp of its first command of `kind`, or -1. */
static long
fdev_first_seq(fdev_t *f, int kind)
{
    long s = -1;
    int i;

    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nrx && s < 0; i++)
        if (f->rx[i].kind == kind)
            s = f->rx[i].seq;
    pthread_mutex_unlock(&f->lock);
    return s;
}

/* The order stamp of its first final result, or -1. */
static long
fdev_final_seq(fdev_t *f)
{
    long s;

    pthread_mutex_lock(&f->lock);
    s = f->nans > 0 ? f->ans[0].seq : -1;
    pthread_mutex_unlock(&f->lock);
    return s;
}

static void
fdev_set(fdev_t *f, bool hold, int long_code)
{
    pthread_mutex_lock(&f->lock);
    f->hold = hold;
    f->long_code = long_code;
    pthread_mutex_unlock(&f->lock);
}

/* ---- the fixture ------------------------------------------------------- */

typedef struct ev {
    ctld_event_type_t type;
    char what[32];
    char id[CTLD_ID_MAX];
    char device[VMF_ID_MAX];
} ev_t;

typedef struct fx {
    test_broker_t broker;
    char dir[256];
    char err[512];
    vmctld_config_t cfg;
    char (*keys)[VMCTLD_CFG_PATH_MAX];
    char priv[VPK_PEM_MAX], pub[VPK_PEM_MAX];
    ctld_t *c;
    fdev_t *devs[MAX_DEVS];
    int ndevs;
    pthread_mutex_t evlock;
    ev_t ev[MAX_EVENTS];
    int nev;
} fx_t;

static void
sink(void *arg, const ctld_event_t *e)
{
    fx_t *x = arg;

    pthread_mutex_lock(&x->evlock);
    if (x->nev < MAX_EVENTS) {
        ev_t *v = &x->ev[x->nev++];

        v->type = e->type;
        snprintf(v->what, sizeof(v->what), "%s", e->what);
        snprintf(v->id, sizeof(v->id), "%s", e->id);
        snprintf(v->device, sizeof(v->device), "%s", e->device);
    }
    pthread_mutex_unlock(&x->evlock);
}

/* Was there an event of `type` with `what` (and id or device, if set)? */
static bool
saw(fx_t *x, ctld_event_type_t type, const char *what, const char *id,
    const char *device)
{
    bool found = false;
    int i;

    pthread_mutex_lock(&x->evlock);
    for (i = 0; i < x->nev && !found; i++)
        found = x->ev[i].type == type && strcmp(x->ev[i].what, what) == 0 &&
                (id == NULL || strcmp(x->ev[i].id, id) == 0) &&
                (device == NULL || strcmp(x->ev[i].device, device) == 0);
    pthread_mutex_unlock(&x->evlock);
    return found;
}

static void
core_start(fx_t *x)
{
    int rc = ctld_create(&x->cfg, &x->c, x->err, sizeof(x->err));

    if (rc != 0)
        fail_msg("ctld_create: %s: %s", ctld_strerror(rc), x->err);
    ctld_set_event_sink(x->c, sink, x);
    if ((rc = ctld_start(x->c, x->err, sizeof(x->err))) != 0)
        fail_msg("ctld_start: %s: %s", ctld_strerror(rc), x->err);
}

static int
setup(void **state)
{
    fx_t *x = calloc(1, sizeof(*x));
    char path[512];
    FILE *fp;

    if (x == NULL)
        return -1;
    pthread_mutex_init(&x->evlock, NULL);
    if (test_broker_start(&x->broker, x->err, sizeof(x->err)) != 0) {
        fprintf(stderr, "broker: %s\n", x->err);
        free(x);
        return -1;
    }
    snprintf(x->dir, sizeof(x->dir), "%s/vmf-ctld-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(x->dir) == NULL ||
        vpk_key_gen(x->priv, sizeof(x->priv), x->pub, sizeof(x->pub)) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/trusted.pem", x->dir);
    if ((fp = fopen(path, "w")) == NULL)
        return -1;
    fputs(x->pub, fp);
    fclose(fp);
    /* config.c belongs to another helper: fill every field by hand. */
    memset(&x->cfg, 0, sizeof(x->cfg));
    snprintf(x->cfg.mqtt_uri, sizeof(x->cfg.mqtt_uri), "%s", x->broker.uri);
    snprintf(x->cfg.mqtt_client_id, sizeof(x->cfg.mqtt_client_id), "%s",
             CLIENT_ID);
    snprintf(x->cfg.data_dir, sizeof(x->cfg.data_dir), "%s", x->dir);
    snprintf(x->cfg.db_path, sizeof(x->cfg.db_path), "%s/vmctld.db", x->dir);
    snprintf(x->cfg.store_dir, sizeof(x->cfg.store_dir), "%s/store", x->dir);
    x->keys = calloc(1, sizeof(*x->keys));
    snprintf(x->keys[0], sizeof(x->keys[0]), "%s", path);
    x->cfg.trusted_keys = x->keys;
    x->cfg.ntrusted_keys = 1;
    x->cfg.cmd_expiry_s = 3600;
    x->cfg.cmd_timeout_s = 60;
    x->cfg.rollout_health_window_ms = 0;
    x->cfg.rollout_device_timeout_s = 60;
    x->cfg.chunk_size = 16384;
    snprintf(x->cfg.log_level, sizeof(x->cfg.log_level), "info");
    *state = x;
    core_start(x);
    return 0;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
teardown(void **state)
{
    fx_t *x = *state;
    int i;

    ctld_destroy(x->c);
    for (i = 0; i < x->ndevs; i++)
        fdev_free(x->devs[i]);
    test_broker_cleanup(&x->broker);
    nftw(x->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(x->keys);
    pthread_mutex_destroy(&x->evlock);
    free(x);
    return 0;
}

static bool
dev_online(fx_t *x, const char *id, bool want)
{
    vmctld_reg_device_t d;
    bool on;

    if (ctld_device_get(x->c, id, &d) != 0)
        return false;
    on = d.online;
    vmctld_reg_device_clear(&d);
    return on == want;
}

/* A fake device, online, and known online by the core. */
static fdev_t *
add_dev(fx_t *x, const char *id, const char *lkey, const char *lval)
{
    fdev_t *f = fdev_new(x->broker.uri, id, lkey, lval);

    assert_true(x->ndevs < MAX_DEVS);
    x->devs[x->ndevs++] = f;
    fdev_state(f, true);
    WAIT_FOR(dev_online(x, id, true));
    return f;
}

static void
go_offline(fx_t *x, fdev_t *f)
{
    fdev_state(f, false); /* what its Last Will says */
    WAIT_FOR(dev_online(x, f->id, false));
}

static ctld_cmd_state_t
cmd_state(fx_t *x, const char *id)
{
    ctld_command_t k;

    assert_int_equal(ctld_command_get(x->c, id, &k), 0);
    return k.state;
}

static void
submit(fx_t *x, const char *dev, int kind, const char *vm, uint32_t expiry,
       uint32_t timeout, ctld_command_t *out)
{
    ctld_cmd_req_t q = { .device = dev, .kind = kind, .vm = vm,
                         .expiry_s = expiry, .timeout_s = timeout };
    int rc = ctld_command_submit(x->c, &q, out, x->err, sizeof(x->err));

    if (rc != 0)
        fail_msg("submit %s: %s: %s", vmf_cmd_name(kind), ctld_strerror(rc),
                 x->err);
}

/* A signed package for VM `vm` with `len` bytes of module. */
static uint8_t *
make_pkg(const char *priv, const char *vm, const char *version, size_t len,
         size_t *out_len)
{
    vpk_manifest_t m;
    uint8_t *mod = malloc(len), *out = NULL;
    char err[256];
    size_t i;

    assert_non_null(mod);
    for (i = 0; i < len; i++)
        mod[i] = (uint8_t)(i * 131 + (i >> 9));
    memset(&m, 0, sizeof(m));
    snprintf(m.vm_name, sizeof(m.vm_name), "%s", vm);
    snprintf(m.version, sizeof(m.version), "%s", version);
    if (vpk_pack(&m, mod, len, priv, &out, out_len, err, sizeof(err)) != 0)
        fail_msg("vpk_pack: %s", err);
    free(mod);
    return out;
}

static void
add_pkg(fx_t *x, const char *vm, const char *version, size_t len,
        vmctld_reg_package_t *p, uint8_t **bytes, size_t *blen)
{
    size_t n;
    uint8_t *buf = make_pkg(x->priv, vm, version, len, &n);
    bool created = false;
    int rc = ctld_package_add(x->c, buf, n, p, &created, x->err,
                              sizeof(x->err));

    if (rc != 0)
        fail_msg("package_add: %s: %s", ctld_strerror(rc), x->err);
    assert_true(created);
    if (bytes != NULL) {
        *bytes = buf;
        *blen = n;
    } else {
        free(buf);
    }
}

static bool
ro_is(fx_t *x, const char *id, const char *state)
{
    ctld_rollout_t r;
    bool is;

    if (ctld_rollout_get(x->c, id, &r) != 0)
        return false;
    is = strcmp(r.state, state) == 0;
    ctld_rollout_clear(&r);
    return is;
}

static size_t
ro_count(fx_t *x, const char *id, int which)
{
    ctld_rollout_t r;
    size_t n;

    assert_int_equal(ctld_rollout_get(x->c, id, &r), 0);
    n = which == 0 ? r.succeeded : which == 1 ? r.failed : r.in_flight;
    ctld_rollout_clear(&r);
    return n;
}

/* ---- devices ---------------------------------------------------------- */

static void
test_ctld_device_state_labels_and_last_will(void **state)
{
    fx_t *x = *state;
    const char *berlin[] = { "site=berlin" };
    const char *both[] = { "site=berlin", "site=paris" };
    vmctld_reg_device_t d, *list;
    ctld_info_t info;
    size_t n;
    fdev_t *f;

    f = add_dev(x, "dev-a", "site", "berlin");
    add_dev(x, "dev-b", "site", "paris");
    assert_int_equal(ctld_device_get(x->c, "dev-a", &d), 0);
    assert_int_equal(d.n_labels, 1);
    assert_string_equal(d.labels[0].value, "berlin");
    assert_int_equal(d.n_vms, 1);
    assert_string_equal(d.vms[0].name, "app");
    assert_string_equal(d.vms[0].version, "1.0.0");
    assert_string_equal(d.runtime_version, "1.4.0");
    assert_true(d.last_seen_ms > 0);
    assert_int_equal(strlen(d.boot_id), 16);
    vmctld_reg_device_clear(&d);

    assert_int_equal(ctld_devices_list(x->c, berlin, 1, -1, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "dev-a");
    vmctld_reg_devices_free(list, n);
    /* Labels are AND-ed. */
    assert_int_equal(ctld_devices_list(x->c, both, 2, -1, &list, &n), 0);
    assert_int_equal(n, 0);
    vmctld_reg_devices_free(list, n);
    assert_int_equal(ctld_info(x->c, &info), 0);
    assert_int_equal(info.devices, 2);
    assert_int_equal(info.devices_online, 2);
    WAIT_FOR(ctld_info(x->c, &info) == 0 && info.mqtt_connected);

    go_offline(x, f);
    assert_true(saw(x, CTLD_EV_DEVICE, "offline", NULL, "dev-a"));
    assert_int_equal(ctld_devices_list(x->c, NULL, 0, 1, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, "dev-b");
    vmctld_reg_devices_free(list, n);
    assert_int_equal(ctld_info(x->c, &info), 0);
    assert_int_equal(info.devices_online, 1);
    assert_int_equal(ctld_device_get(x->c, "nope", &d), CTLD_ENOTFOUND);
}

/* ---- commands ---------------------------------------------------------- */

static void
test_ctld_command_queued_until_device_online(void **state)
{
    fx_t *x = *state;
    ctld_command_t k, got;
    fdev_t *f = add_dev(x, "dev-q", "", "");

    go_offline(x, f);
    submit(x, "dev-q", VMF_CMD_SUSPEND, "app", 0, 0, &k);
    assert_int_equal(k.state, CTLD_CMD_QUEUED);
    assert_int_equal(k.id[0], 'c');
    assert_int_equal(strlen(k.id), 17);
    assert_true(k.expires_ms >= k.created_ms + 3600 * 1000LL);
    assert_int_equal(ctld_command_get(x->c, k.id, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_QUEUED);

    /* Back online: the queue is sent, the device answers. */
    fdev_state(f, true);
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_int_equal(got.code, VMF_OK);
    assert_true(got.deadline_ms > 0);
    assert_true(fdev_got(f, k.id));
    assert_int_equal(fdev_count(f, VMF_CMD_SUSPEND), 1);
    assert_true(saw(x, CTLD_EV_COMMAND, "queued", k.id, "dev-q"));
    assert_true(saw(x, CTLD_EV_COMMAND, "sent", k.id, "dev-q"));
    assert_true(saw(x, CTLD_EV_COMMAND, "succeeded", k.id, "dev-q"));
    assert_true(saw(x, CTLD_EV_DEVICE, "online", NULL, "dev-q"));
}

static void
test_ctld_command_expires_while_offline(void **state)
{
    fx_t *x = *state;
    ctld_command_t k, later, got;
    fdev_t *f = add_dev(x, "dev-e", "", "");

    go_offline(x, f);
    submit(x, "dev-e", VMF_CMD_START, "app", 1, 0, &k);
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_EXPIRED);
    assert_true(ctld_cmd_state_final(got.state));
    assert_non_null(strstr(got.message, "expiry"));
    /* Coming back does not revive it: the next command gets through,
     * the expired one never does. */
    fdev_state(f, true);
    WAIT_FOR(dev_online(x, "dev-e", true));
    submit(x, "dev-e", VMF_CMD_STOP, "app", 0, 0, &later);
    assert_int_equal(ctld_command_wait(x->c, later.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_false(fdev_got(f, k.id));
    assert_int_equal(cmd_state(x, k.id), CTLD_CMD_EXPIRED);
}

static void
test_ctld_command_times_out_and_is_cancelled(void **state)
{
    fx_t *x = *state;
    ctld_command_t k, got;
    fdev_t *f = add_dev(x, "dev-t", "", "");
    bool cancel = false;
    int i;

    f->silent = true;
    submit(x, "dev-t", VMF_CMD_INVENTORY, NULL, 0, 1, &k);
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_TIMED_OUT);
    assert_true(got.updated_ms >= got.deadline_ms);
    /* Best effort: a CANCEL of it went to the device. */
    WAIT_FOR(fdev_count(f, VMF_CMD_CANCEL) >= 1);
    pthread_mutex_lock(&f->lock);
    for (i = 0; i < f->nrx; i++)
        if (f->rx[i].kind == VMF_CMD_CANCEL &&
            strcmp(f->rx[i].cancel_id, k.id) == 0)
            cancel = true;
    pthread_mutex_unlock(&f->lock);
    assert_true(cancel);
}

static void
test_ctld_lifecycle_results_and_errors(void **state)
{
    fx_t *x = *state;
    ctld_command_t a, b, c2, got, *list;
    ctld_cmd_req_t q;
    vmf_result_t dup;
    size_t n;
    fdev_t *f = add_dev(x, "dev-l", "", "");

    submit(x, "dev-l", VMF_CMD_START, "app", 0, 0, &a);
    assert_int_equal(ctld_command_wait(x->c, a.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_string_equal(got.device, "dev-l");
    assert_int_equal(got.kind, VMF_CMD_START);

    /* The device refuses: FAILED with its code and message. */
    pthread_mutex_lock(&f->lock);
    f->short_code = VMF_E_STATE;
    pthread_mutex_unlock(&f->lock);
    submit(x, "dev-l", VMF_CMD_STOP, "app", 0, 0, &b);
    assert_int_equal(ctld_command_wait(x->c, b.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_FAILED);
    assert_int_equal(got.code, VMF_E_STATE);
    assert_string_equal(got.message, "refused by the test");
    assert_true(saw(x, CTLD_EV_COMMAND, "failed", b.id, NULL));

    /* A late, contradicting final result changes nothing; the command
     * after it is answered after it, so it has been seen. */
    result_init(&dup, &(vmf_cmd_t){ .kind = VMF_CMD_STOP, .vm = "app" },
                true, VMF_OK, "late");
    snprintf(dup.cmd_id, sizeof(dup.cmd_id), "%s", b.id);
    pthread_mutex_lock(&f->lock);
    fdev_send_result(f, &dup);
    f->short_code = VMF_OK;
    pthread_mutex_unlock(&f->lock);
    submit(x, "dev-l", VMF_CMD_INVENTORY, NULL, 0, 0, &c2);
    assert_int_equal(ctld_command_wait(x->c, c2.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_int_equal(ctld_command_get(x->c, b.id, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_FAILED);
    assert_int_equal(got.code, VMF_E_STATE);
    assert_string_equal(got.message, "refused by the test");

    /* Final is final. */
    assert_int_equal(ctld_command_cancel(x->c, b.id, &got), CTLD_ESTATE);
    assert_int_equal(ctld_command_cancel(x->c, "c0000", &got),
                     CTLD_ENOTFOUND);
    assert_int_equal(ctld_command_get(x->c, "c0000", &got), CTLD_ENOTFOUND);

    /* Newest first, with a limit. */
    assert_int_equal(ctld_command_list(x->c, "dev-l", 0, &list, &n), 0);
    assert_int_equal(n, 3);
    assert_string_equal(list[0].id, c2.id);
    assert_string_equal(list[2].id, a.id);
    free(list);
    assert_int_equal(ctld_command_list(x->c, NULL, 2, &list, &n), 0);
    assert_int_equal(n, 2);
    free(list);

    /* Requests that are refused before anything is stored. */
    memset(&q, 0, sizeof(q));
    q.device = "nope";
    q.kind = VMF_CMD_START;
    q.vm = "app";
    assert_int_equal(ctld_command_submit(x->c, &q, NULL, x->err,
                                         sizeof(x->err)),
                     CTLD_ENOTFOUND);
    q.device = "dev-l";
    q.kind = VMF_CMD_UPDATE;
    assert_int_equal(ctld_command_submit(x->c, &q, NULL, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "rollout"));
    q.kind = VMF_CMD_START;
    q.vm = "no/slash";
    assert_int_equal(ctld_command_submit(x->c, &q, NULL, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "vm"));
    q.kind = VMF_CMD_CREATE;
    q.vm = "app";
    q.package =
        "0000000000000000000000000000000000000000000000000000000000000000";
    assert_int_equal(ctld_command_submit(x->c, &q, NULL, x->err,
                                         sizeof(x->err)),
                     CTLD_ENOTFOUND);
    assert_int_equal(ctld_command_list(x->c, "dev-l", 0, &list, &n), 0);
    assert_int_equal(n, 3);
    free(list);
}

static void
test_ctld_cancel_queued_command(void **state)
{
    fx_t *x = *state;
    ctld_command_t k, got;
    ctld_info_t info;
    fdev_t *f = add_dev(x, "dev-c", "", "");

    go_offline(x, f);
    submit(x, "dev-c", VMF_CMD_RESTART, "app", 0, 0, &k);
    assert_int_equal(ctld_info(x->c, &info), 0);
    assert_int_equal(info.commands_pending, 1);
    assert_int_equal(ctld_command_cancel(x->c, k.id, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_CANCELLED);
    assert_int_equal(got.code, VMF_E_CANCELLED);
    assert_int_equal(ctld_info(x->c, &info), 0);
    assert_int_equal(info.commands_pending, 0);
    /* ctld_command_wait() returns at once for a final command. */
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_CANCELLED);
}

/* ---- packages ------------------------------------------------------------ */

static void
test_ctld_package_transfer_bytes_match(void **state)
{
    fx_t *x = *state;
    vmctld_reg_package_t p, again, *pl;
    ctld_cmd_req_t q;
    ctld_command_t k, got;
    uint8_t *bytes;
    size_t blen, n;
    bool created = true;
    fdev_t *f = add_dev(x, "dev-p", "", "");

    /* 100 KB of module: seven chunks of 16 KiB. */
    add_pkg(x, "app", "2.0.0", 100000, &p, &bytes, &blen);
    assert_string_equal(p.vm, "app");
    assert_string_equal(p.version, "2.0.0");
    assert_int_equal(p.size, blen);
    assert_int_equal(strlen(p.key_id), 16);
    /* The same bytes again: the same record, not created. */
    assert_int_equal(ctld_package_add(x->c, bytes, blen, &again, &created,
                                      x->err, sizeof(x->err)),
                     0);
    assert_false(created);
    assert_string_equal(again.sha256, p.sha256);
    assert_int_equal(ctld_package_list(x->c, "app", &pl, &n), 0);
    assert_int_equal(n, 1);
    free(pl);

    memset(&q, 0, sizeof(q));
    q.device = "dev-p";
    q.kind = VMF_CMD_CREATE;
    q.vm = "app";
    q.package = p.sha256;
    assert_int_equal(ctld_command_submit(x->c, &q, &k, x->err,
                                         sizeof(x->err)),
                     0);
    assert_string_equal(k.package, p.sha256);
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_string_equal(got.version, "2.0.0");
    assert_int_equal(got.percent, 100);
    assert_true(saw(x, CTLD_EV_COMMAND, "accepted", k.id, NULL));
    pthread_mutex_lock(&f->lock);
    assert_int_equal(f->done_len, blen);
    assert_memory_equal(f->done_buf, bytes, blen);
    pthread_mutex_unlock(&f->lock);

    /* A package for another VM cannot be created as "app". */
    q.vm = "other";
    assert_int_equal(ctld_command_submit(x->c, &q, NULL, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "package"));
    free(bytes);
}

static void
test_ctld_package_rejects_bad_signature_and_untrusted_key(void **state)
{
    fx_t *x = *state;
    char priv2[VPK_PEM_MAX], pub2[VPK_PEM_MAX];
    vmctld_reg_package_t p, *pl;
    uint8_t *buf, junk[300];
    size_t len, n;
    bool created = true;

    /* Signed by a key the server does not trust. */
    assert_int_equal(vpk_key_gen(priv2, sizeof(priv2), pub2, sizeof(pub2)),
                     0);
    buf = make_pkg(priv2, "app", "3.0.0", 5000, &len);
    assert_int_equal(ctld_package_add(x->c, buf, len, &p, &created, x->err,
                                      sizeof(x->err)),
                     CTLD_EPACKAGE);
    assert_false(created);
    assert_non_null(strstr(x->err, "untrusted"));
    free(buf);

    /* Trusted key, but a byte of the module changed after signing. */
    buf = make_pkg(x->priv, "app", "3.0.0", 5000, &len);
    buf[len / 2] ^= 0x40;
    assert_int_equal(ctld_package_add(x->c, buf, len, &p, &created, x->err,
                                      sizeof(x->err)),
                     CTLD_EPACKAGE);
    assert_non_null(strstr(x->err, "signature"));
    free(buf);

    /* Not a package at all, or nothing. */
    memset(junk, 'x', sizeof(junk));
    assert_int_equal(ctld_package_add(x->c, junk, sizeof(junk), &p, &created,
                                      x->err, sizeof(x->err)),
                     CTLD_EPACKAGE);
    assert_non_null(strstr(x->err, "malformed"));
    assert_int_equal(ctld_package_add(x->c, junk, 0, &p, &created, x->err,
                                      sizeof(x->err)),
                     CTLD_EPACKAGE);
    /* Nothing was stored. */
    assert_int_equal(ctld_package_list(x->c, NULL, &pl, &n), 0);
    assert_int_equal(n, 0);
    free(pl);
}

static void
test_ctld_package_delete_while_in_use(void **state)
{
    fx_t *x = *state;
    vmctld_reg_package_t p;
    ctld_cmd_req_t q;
    ctld_command_t k;
    fdev_t *f = add_dev(x, "dev-d", "", "");

    add_pkg(x, "app", "2.0.0", 3000, &p, NULL, NULL);
    go_offline(x, f);
    memset(&q, 0, sizeof(q));
    q.device = "dev-d";
    q.kind = VMF_CMD_CREATE;
    q.vm = "app";
    q.package = p.sha256;
    assert_int_equal(ctld_command_submit(x->c, &q, &k, x->err,
                                         sizeof(x->err)),
                     0);
    assert_int_equal(ctld_package_delete(x->c, p.sha256), CTLD_EINUSE);
    assert_int_equal(ctld_command_cancel(x->c, k.id, NULL), 0);
    assert_int_equal(ctld_package_delete(x->c, p.sha256), 0);
    assert_int_equal(ctld_package_get(x->c, p.sha256, &p), CTLD_ENOTFOUND);
    assert_int_equal(ctld_package_delete(x->c, p.sha256), CTLD_ENOTFOUND);
}

/* ---- snapshots --------------------------------------------------------- */

static void
test_ctld_snapshot_upload_and_restore_elsewhere(void **state)
{
    fx_t *x = *state;
    uint8_t *snap = malloc(50000), *file;
    char sha[65];
    vmctld_reg_snapshot_t s, *sl;
    ctld_cmd_req_t q;
    ctld_command_t k, got;
    size_t i, n;
    FILE *fp;
    fdev_t *a = add_dev(x, "dev-sa", "", ""), *b;

    assert_non_null(snap);
    for (i = 0; i < 50000; i++)
        snap[i] = (uint8_t)(i * 17 + (i >> 11));
    sha_hex(snap, 50000, sha);
    pthread_mutex_lock(&a->lock);
    a->snap = snap;
    a->snap_len = 50000;
    a->skip_chunk1 = true; /* the server must ask for it again */
    pthread_mutex_unlock(&a->lock);

    submit(x, "dev-sa", VMF_CMD_SNAPSHOT, "app", 0, 0, &k);
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_string_equal(got.snapshot, sha);
    pthread_mutex_lock(&a->lock);
    assert_true(a->nupreq >= 1);
    pthread_mutex_unlock(&a->lock);

    assert_int_equal(ctld_snapshot_get(x->c, sha, &s), 0);
    assert_string_equal(s.device, "dev-sa");
    assert_string_equal(s.vm, "app");
    assert_int_equal(s.size, 50000);
    assert_non_null(file = malloc(50001));
    assert_non_null(fp = fopen(s.path, "rb"));
    assert_int_equal(fread(file, 1, 50001, fp), 50000);
    fclose(fp);
    assert_memory_equal(file, snap, 50000);
    free(file);
    assert_int_equal(ctld_snapshot_list(x->c, "dev-sa", &sl, &n), 0);
    assert_int_equal(n, 1);
    free(sl);

    /* Migration: restore it on another device. */
    b = add_dev(x, "dev-sb", "", "");
    memset(&q, 0, sizeof(q));
    q.device = "dev-sb";
    q.kind = VMF_CMD_RESTORE;
    q.vm = "app";
    q.snapshot = sha;
    assert_int_equal(ctld_command_submit(x->c, &q, &k, x->err,
                                         sizeof(x->err)),
                     0);
    assert_int_equal(ctld_command_wait(x->c, k.id, WAIT_MS, &got), 0);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_string_equal(got.snapshot, sha);
    pthread_mutex_lock(&b->lock);
    assert_int_equal(b->done_len, 50000);
    assert_memory_equal(b->done_buf, snap, 50000);
    pthread_mutex_unlock(&b->lock);

    assert_int_equal(ctld_snapshot_delete(x->c, sha), 0);
    assert_int_equal(ctld_snapshot_get(x->c, sha, &s), CTLD_ENOTFOUND);
    pthread_mutex_lock(&a->lock);
    a->snap = NULL;
    pthread_mutex_unlock(&a->lock);
    free(snap);
}

/* ---- rollouts ---------------------------------------------------------- */

static void
test_ctld_rollout_canary_then_batches(void **state)
{
    fx_t *x = *state;
    const char *labels[] = { "site=berlin" };
    ctld_rollout_req_t req;
    vmctld_reg_package_t p;
    ctld_rollout_t r;
    ctld_command_t k;
    fdev_t *b[5], *paris;
    char id[16];
    size_t i;

    for (i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "b%zu", i + 1);
        b[i] = add_dev(x, id, "site", "berlin");
        fdev_set(b[i], true, VMF_OK);
    }
    paris = add_dev(x, "p1", "site", "paris");
    add_pkg(x, "app", "2.0.0", 40000, &p, NULL, NULL);

    memset(&req, 0, sizeof(req));
    req.vm = "app";
    req.package = p.sha256;
    req.labels = labels;
    req.nlabels = 1;
    req.canary = 1;
    req.batch = 2;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    assert_string_equal(r.id, "r1");
    assert_string_equal(r.version, "2.0.0");
    assert_string_equal(r.target, "label site=berlin");
    assert_int_equal(r.total, 5);
    assert_string_equal(r.state, "running");

    /* The canary alone; the device has the package and is in its health
     * window (final result held): it is not a success yet. */
    WAIT_FOR(fdev_has_held(b[0]));
    assert_int_equal(ro_count(x, "r1", 0), 0);
    assert_int_equal(ro_count(x, "r1", 2), 1);
    for (i = 1; i < 5; i++)
        assert_int_equal(fdev_count(b[i], VMF_CMD_UPDATE), 0);
    assert_true(fdev_release(b[0]));

    /* Then batches of two, each after the previous one ended. */
    WAIT_FOR(fdev_has_held(b[1]) && fdev_has_held(b[2]));
    assert_true(fdev_first_seq(b[1], VMF_CMD_UPDATE) > fdev_final_seq(b[0]));
    assert_int_equal(fdev_count(b[3], VMF_CMD_UPDATE), 0);
    assert_int_equal(fdev_count(b[4], VMF_CMD_UPDATE), 0);
    fdev_set(b[3], false, VMF_OK);
    fdev_set(b[4], false, VMF_OK);
    assert_true(fdev_release(b[1]));
    assert_true(fdev_release(b[2]));
    WAIT_FOR(ro_is(x, "r1", "succeeded"));
    assert_true(fdev_first_seq(b[3], VMF_CMD_UPDATE) > fdev_final_seq(b[1]));
    assert_true(fdev_first_seq(b[3], VMF_CMD_UPDATE) > fdev_final_seq(b[2]));
    assert_int_equal(fdev_count(paris, VMF_CMD_UPDATE), 0);

    assert_int_equal(ctld_rollout_get(x->c, "r1", &r), 0);
    assert_int_equal(r.succeeded, 5);
    assert_int_equal(r.failed, 0);
    assert_int_equal(r.ndevices, 5);
    assert_string_equal(r.devices[0].device, "b1");
    assert_int_equal(r.devices[0].batch, 0);
    assert_int_equal(r.devices[1].batch, 1);
    assert_int_equal(r.devices[4].batch, 2);
    for (i = 0; i < 5; i++) {
        assert_string_equal(r.devices[i].state, "succeeded");
        assert_int_equal(fdev_count(b[i], VMF_CMD_UPDATE), 1);
    }
    assert_int_equal(ctld_command_get(x->c, r.devices[0].command, &k), 0);
    assert_int_equal(k.kind, VMF_CMD_UPDATE);
    assert_string_equal(k.rollout, "r1");
    assert_string_equal(k.version, "2.0.0");
    ctld_rollout_clear(&r);
    assert_true(saw(x, CTLD_EV_ROLLOUT, "succeeded", "r1", NULL));
    /* Ended: no more control. */
    assert_int_equal(ctld_rollout_pause(x->c, "r1", NULL), CTLD_ESTATE);
}

static void
test_ctld_rollout_failure_threshold_pauses(void **state)
{
    fx_t *x = *state;
    const char *ids[] = { "t3", "t1", "t2", "t4" };
    ctld_rollout_req_t req;
    vmctld_reg_package_t p;
    ctld_rollout_t r, *list;
    fdev_t *t[4];
    char id[8];
    size_t i, n;

    for (i = 0; i < 4; i++) {
        snprintf(id, sizeof(id), "t%zu", i + 1);
        t[i] = add_dev(x, id, "", "");
        fdev_set(t[i], false, VMF_E_ROLLED_BACK);
    }
    add_pkg(x, "app", "2.0.0", 1000, &p, NULL, NULL);
    memset(&req, 0, sizeof(req));
    req.vm = "app";
    req.package = p.sha256;
    req.devices = ids;
    req.ndevices = 4;
    req.canary = 1;
    req.batch = 1;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    assert_string_equal(r.target, "devices t1,t2,t3,t4");

    /* The canary (t1: the list is ordered by id) rolls back: paused. */
    WAIT_FOR(ro_is(x, "r1", "paused"));
    assert_int_equal(ctld_rollout_get(x->c, "r1", &r), 0);
    assert_string_equal(r.pause_reason, "failure threshold");
    assert_int_equal(r.failed, 1);
    assert_string_equal(r.devices[0].device, "t1");
    assert_string_equal(r.devices[0].state, "failed");
    assert_int_equal(r.devices[0].code, VMF_E_ROLLED_BACK);
    assert_string_equal(r.devices[0].message, "trap at start");
    ctld_rollout_clear(&r);
    assert_int_equal(fdev_count(t[1], VMF_CMD_UPDATE), 0);
    assert_int_equal(ctld_rollout_pause(x->c, "r1", NULL), CTLD_ESTATE);

    /* Resume: the next one goes, fails, and pauses it again. */
    assert_int_equal(ctld_rollout_resume(x->c, "r1", &r), 0);
    WAIT_FOR(ro_count(x, "r1", 1) == 2);
    WAIT_FOR(ro_is(x, "r1", "paused"));
    assert_int_equal(fdev_count(t[1], VMF_CMD_UPDATE), 1);
    assert_int_equal(fdev_count(t[2], VMF_CMD_UPDATE), 0);

    /* Abort: nothing more is sent. */
    assert_int_equal(ctld_rollout_abort(x->c, "r1", &r), 0);
    assert_string_equal(r.state, "aborted");
    assert_int_equal(ctld_rollout_resume(x->c, "r1", NULL), CTLD_ESTATE);
    assert_int_equal(ctld_rollout_abort(x->c, "r1", NULL), CTLD_ESTATE);
    assert_int_equal(fdev_count(t[2], VMF_CMD_UPDATE), 0);
    assert_int_equal(fdev_count(t[3], VMF_CMD_UPDATE), 0);
    assert_int_equal(ctld_rollout_list(x->c, &list, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].state, "aborted");
    assert_null(list[0].devices);
    free(list);
    assert_true(saw(x, CTLD_EV_ROLLOUT, "paused", "r1", NULL));
}

static void
test_ctld_rollout_operator_pause_and_resume(void **state)
{
    fx_t *x = *state;
    const char *ids[] = { "o1", "o2", "o3" };
    ctld_rollout_req_t req;
    vmctld_reg_package_t p;
    ctld_rollout_t r;
    fdev_t *o[3];
    size_t i;

    for (i = 0; i < 3; i++) {
        o[i] = add_dev(x, ids[i], "", "");
        fdev_set(o[i], true, VMF_OK);
    }
    add_pkg(x, "app", "2.0.0", 1000, &p, NULL, NULL);
    memset(&req, 0, sizeof(req));
    req.vm = "app";
    req.package = p.sha256;
    req.all = true;
    req.canary = 1;
    req.batch = 1;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    assert_string_equal(r.target, "all");
    WAIT_FOR(fdev_has_held(o[0]));
    assert_int_equal(ctld_rollout_pause(x->c, "r1", &r), 0);
    assert_string_equal(r.state, "paused");
    assert_string_equal(r.pause_reason, "operator");
    /* The device in flight still reports; nothing new is sent. */
    fdev_release(o[0]);
    WAIT_FOR(ro_count(x, "r1", 0) == 1);
    assert_true(ro_is(x, "r1", "paused"));
    assert_int_equal(fdev_count(o[1], VMF_CMD_UPDATE), 0);
    fdev_set(o[1], false, VMF_OK);
    fdev_set(o[2], false, VMF_OK);
    assert_int_equal(ctld_rollout_resume(x->c, "r1", &r), 0);
    WAIT_FOR(ro_is(x, "r1", "succeeded"));
    assert_int_equal(ro_count(x, "r1", 0), 3);
}

static void
test_ctld_rollout_create_refusals(void **state)
{
    fx_t *x = *state;
    const char *one[] = { "v1" };
    const char *unknown[] = { "v1", "ghost" };
    const char *twice[] = { "v1", "v1" };
    const char *nomatch[] = { "site=mars" };
    ctld_rollout_req_t req;
    vmctld_reg_package_t p, other;
    ctld_rollout_t r;
    fdev_t *v;

    v = add_dev(x, "v1", "", "");
    fdev_set(v, true, VMF_OK);
    add_pkg(x, "app", "2.0.0", 1000, &p, NULL, NULL);
    add_pkg(x, "web", "1.0.0", 1000, &other, NULL, NULL);
    memset(&req, 0, sizeof(req));
    req.vm = "app";
    req.package = p.sha256;
    req.canary = 1;
    /* No target, two targets. */
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "target"));
    req.devices = one;
    req.ndevices = 1;
    req.all = true;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    req.all = false;
    req.devices = unknown;
    req.ndevices = 2;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "ghost"));
    req.devices = twice;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    req.devices = NULL;
    req.ndevices = 0;
    req.labels = nomatch;
    req.nlabels = 1;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "no device"));
    req.labels = NULL;
    req.nlabels = 0;
    req.devices = one;
    req.ndevices = 1;
    req.package = other.sha256; /* a package of "web" */
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    req.package =
        "1111111111111111111111111111111111111111111111111111111111111111";
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_ENOTFOUND);
    req.package = p.sha256;
    req.batch = 101;
    req.batch_pct = true;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "batch"));
    req.batch = 0;
    req.batch_pct = false;

    /* One rollout; a second over the same device and VM is refused. */
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     CTLD_EINUSE);
    assert_non_null(strstr(x->err, "r1"));
    /* Nor can its package go. */
    assert_int_equal(ctld_package_delete(x->c, p.sha256), CTLD_EINUSE);
    assert_int_equal(ctld_rollout_get(x->c, "r9", &r), CTLD_ENOTFOUND);
    assert_int_equal(ctld_rollout_pause(x->c, "r9", NULL), CTLD_ENOTFOUND);
    /* Once it ended, the package may go. */
    WAIT_FOR(fdev_has_held(v));
    fdev_release(v);
    WAIT_FOR(ro_is(x, "r1", "succeeded"));
    assert_int_equal(ctld_package_delete(x->c, p.sha256), 0);
    assert_true(ro_is(x, "r1", "succeeded"));
}

static void
test_ctld_rollout_continues_after_restart(void **state)
{
    fx_t *x = *state;
    const char *ids[] = { "s1", "s2", "s3" };
    ctld_rollout_req_t req;
    vmctld_reg_package_t p;
    ctld_rollout_t r;
    ctld_info_t info;
    fdev_t *s[3];
    size_t i;

    for (i = 0; i < 3; i++) {
        s[i] = add_dev(x, ids[i], "", "");
        fdev_set(s[i], true, VMF_OK);
    }
    add_pkg(x, "app", "2.0.0", 20000, &p, NULL, NULL);
    memset(&req, 0, sizeof(req));
    req.vm = "app";
    req.package = p.sha256;
    req.devices = ids;
    req.ndevices = 3;
    req.canary = 1;
    req.batch = 1;
    req.health_window_ms = 1500;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    WAIT_FOR(fdev_has_held(s[0]));
    pthread_mutex_lock(&s[0]->lock);
    assert_int_equal(s[0]->dl_cmd.health_window_ms, 1500);
    pthread_mutex_unlock(&s[0]->lock);

    /* vmctld goes away mid-rollout; the canary's result comes while it
     * is away (the broker keeps it for vmctld's session). */
    ctld_destroy(x->c);
    x->c = NULL;
    fdev_release(s[0]);
    fdev_set(s[1], false, VMF_OK);
    fdev_set(s[2], false, VMF_OK);
    core_start(x);
    assert_int_equal(ctld_info(x->c, &info), 0);
    assert_int_equal(info.rollouts_active, 1);
    WAIT_FOR(ro_is(x, "r1", "succeeded"));
    assert_int_equal(ctld_rollout_get(x->c, "r1", &r), 0);
    assert_int_equal(r.succeeded, 3);
    assert_int_equal(r.health_window_ms, 1500);
    ctld_rollout_clear(&r);
    for (i = 0; i < 3; i++)
        assert_int_equal(fdev_count(s[i], VMF_CMD_UPDATE), 1);
    /* The next rollout gets the next number. */
    req.devices = ids;
    req.ndevices = 1;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    assert_string_equal(r.id, "r2");
}

static void
test_ctld_rollout_offline_device_counts_as_failure(void **state)
{
    fx_t *x = *state;
    const char *ids[] = { "w1", "w2" };
    ctld_rollout_req_t req;
    vmctld_reg_package_t p;
    ctld_rollout_t r;
    fdev_t *w1, *w2;

    w1 = add_dev(x, "w1", "", "");
    w2 = add_dev(x, "w2", "", "");
    fdev_set(w2, false, VMF_OK);
    go_offline(x, w1);
    add_pkg(x, "app", "2.0.0", 1000, &p, NULL, NULL);
    memset(&req, 0, sizeof(req));
    req.vm = "app";
    req.package = p.sha256;
    req.devices = ids;
    req.ndevices = 2;
    req.canary = 0;
    req.batch = 2;
    req.max_failures = 1;
    req.device_timeout_s = 1;
    assert_int_equal(ctld_rollout_create(x->c, &req, &r, x->err,
                                         sizeof(x->err)),
                     0);
    /* w1 never comes back within its time: offline, tolerated (1). */
    WAIT_FOR(ro_is(x, "r1", "failed"));
    assert_int_equal(ctld_rollout_get(x->c, "r1", &r), 0);
    assert_int_equal(r.succeeded, 1);
    assert_int_equal(r.failed, 1);
    assert_string_equal(r.devices[0].device, "w1");
    assert_string_equal(r.devices[0].state, "offline");
    assert_string_equal(r.devices[1].state, "succeeded");
    ctld_rollout_clear(&r);
    assert_int_equal(fdev_count(w1, VMF_CMD_UPDATE), 0);
}

/* ---- VM logs ------------------------------------------------------------ */

static void
set_logs(fdev_t *f, const char *log, size_t len, int code, bool silent)
{
    pthread_mutex_lock(&f->lock);
    f->log = log;
    f->log_len = len;
    f->logs_code = code;
    f->silent = silent;
    pthread_mutex_unlock(&f->lock);
}

static void
test_ctld_vm_logs(void **state)
{
    /* A line, a byte that is not UTF-8, NUL, then "é" (2 bytes). */
    static const char log[] = "boot ok\nv=1\xff\x00 caf\xc3\xa9!";
    fx_t *x = *state;
    ctld_command_t got;
    ctld_logs_t l;
    fdev_t *f = add_dev(x, "dev-g", "", "");
    int before;

    /* The whole tail, made valid UTF-8 (the NUL too); the command is an
     * ordinary one, without the text. */
    set_logs(f, log, sizeof(log) - 1, VMF_OK, false);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     0);
    assert_string_equal(l.text, "boot ok\nv=1\xef\xbf\xbd\xef\xbf\xbd"
                                " caf\xc3\xa9!");
    assert_int_equal(l.len, strlen(l.text));
    assert_false(l.truncated);
    assert_int_equal(f->log_bytes, 0); /* the device's default */
    assert_int_equal(ctld_command_get(x->c, l.command, &got), 0);
    assert_int_equal(got.kind, VMF_CMD_LOGS);
    assert_int_equal(got.state, CTLD_CMD_SUCCEEDED);
    assert_string_equal(got.vm, "app");
    assert_string_equal(got.message, "complete");
    ctld_logs_clear(&l);
    assert_null(l.text);

    /* A tail of 2 bytes starts inside "é": its stray byte is dropped. */
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 2, 0, &l, x->err,
                                  sizeof(x->err)),
                     0);
    assert_int_equal(f->log_bytes, 2);
    assert_string_equal(l.text, "!");
    assert_true(l.truncated);
    ctld_logs_clear(&l);

    /* Refusals before anything is sent. */
    before = fdev_count(f, VMF_CMD_LOGS);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "nope", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ENOTFOUND);
    assert_non_null(strstr(x->err, "no VM nope"));
    assert_int_equal(ctld_vm_logs(x->c, "dev-x", "app", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ENOTFOUND);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app",
                                  VMF_RESULT_DATA_MAX + 1, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_EINVAL);
    assert_non_null(strstr(x->err, "bytes"));
    assert_null(l.text);

    /* The device's answers: no such VM after all, too old for LOGS,
     * another error. */
    set_logs(f, log, sizeof(log) - 1, VMF_E_NOT_FOUND, false);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ENOTFOUND);
    set_logs(f, log, sizeof(log) - 1, VMF_E_UNKNOWN_COMMAND, false);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ESTATE);
    assert_non_null(strstr(x->err, "does not support logs"));
    set_logs(f, log, sizeof(log) - 1, VMF_E_RUNTIME, false);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ESTATE);
    assert_non_null(strstr(x->err, "E_RUNTIME"));
    assert_int_equal(fdev_count(f, VMF_CMD_LOGS), before + 3);

    /* No answer: a timeout, and the command ends with it. */
    set_logs(f, log, sizeof(log) - 1, VMF_OK, true);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 0, 300, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ETIMEDOUT);
    assert_true(l.command[0] != '\0');
    assert_int_equal(cmd_state(x, l.command), CTLD_CMD_TIMED_OUT);
    WAIT_FOR(fdev_count(f, VMF_CMD_LOGS) == before + 4);

    /* Offline: refused at once. */
    go_offline(x, f);
    assert_int_equal(ctld_vm_logs(x->c, "dev-g", "app", 0, 0, &l, x->err,
                                  sizeof(x->err)),
                     CTLD_ESTATE);
    assert_non_null(strstr(x->err, "offline"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_ctld_device_state_labels_and_last_will, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_command_queued_until_device_online, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_command_expires_while_offline, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_command_times_out_and_is_cancelled, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_lifecycle_results_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctld_cancel_queued_command,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_package_transfer_bytes_match, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_package_rejects_bad_signature_and_untrusted_key, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_ctld_package_delete_while_in_use,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_snapshot_upload_and_restore_elsewhere, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_rollout_canary_then_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_rollout_failure_threshold_pauses, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_rollout_operator_pause_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ctld_rollout_create_refusals,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_rollout_continues_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ctld_rollout_offline_device_counts_as_failure, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_ctld_vm_logs, setup, teardown),
    };

    if (getenv("VMF_TEST_VERBOSE") == NULL)
        vmctld_log_set_level(VMCTLD_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
