/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fleet-send: a minimal stand-in for vmctld, for the OTA integration tests
 * (tests/integration/3x-ota-*.sh).  It sends one command to one device
 * over MQTT and plays the server's part until the final result: it serves
 * the device's chunk requests from memory (optionally corrupt, truncated
 * or throttled), collects a snapshot upload, and prints one line per
 * thing that happened:
 *
 *   event progress 50% 65536/131072
 *   event rollback b: trap: unreachable ...
 *   state: device=dev-01 online=true ... / state: vm=b version=1.0.0 ...
 *   served 12 chunks (12 distinct)
 *   result OK: committed 1.1.0
 *   logs: 812 bytes          (then the log's text, for `logs`)
 *
 * It uses only the public protocol APIs (vmf/fleet.h, vmf/mqtt.h,
 * vmf/vpk.h) and the port layer for threads, time and files.  MQTT
 * callbacks only copy messages into a queue; the main thread handles
 * them, so a throttled transfer never blocks the client library.
 *
 * Exit status: 0 the final code equals --expect (default OK); 1 it does
 * not, or a check failed; 2 usage; 3 timeout (no final result).
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl/pl.h"
#include "vmf/fleet.h"
#include "vmf/mqtt.h"
#include "vmf/vpk.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3

#define FILE_MAX (64u * 1024 * 1024)
#define DEFAULT_CHUNK 16384u
#define UPLOAD_STALL_NS (UINT64_C(2000) * NS_PER_MS)
#define NS_PER_MS UINT64_C(1000000)

/*
 * Cmd.kind in proto/fleet.proto is field 2 (a varint).  `raw --kind N`
 * needs a kind the encoder refuses, so it encodes a valid command and
 * appends the field again: protobuf decoders keep the last value of a
 * scalar field.
 */
#define CMD_KIND_FIELD 2u

/* ---- options ---------------------------------------------------------- */

typedef struct {
    const char *broker;
    const char *device;
    const char *id;
    const char *expect_name;
    int expect;
    uint32_t timeout_s;
    bool verbose;
    int kind;                 /* a vmf_cmd_kind_t, or the raw kind */
    const char *cmd_name;
    const char *vm;
    const char *vpk;          /* update, create */
    const char *file;         /* restore */
    const char *out;          /* snapshot -o */
    uint32_t health_ms;
    bool snapshot_before;
    uint32_t chunk_size;
    int64_t corrupt_chunk;    /* -1: none */
    bool has_truncate;
    uint64_t truncate;
    uint32_t throttle_ms;
    const char *target_device;
    bool twice;
    bool wait_online;         /* state --online */
    int64_t drop_up_chunk;    /* snapshot: ignore this chunk once; -1 */
    bool has_raw_kind;
    uint32_t raw_kind;
    const char *cancel_id;    /* cancel */
    uint32_t log_bytes;       /* logs --bytes; 0 = the device's default */
    const char *ca;           /* TLS: broker CA, client cert and key */
    const char *cert;
    const char *key;
} opts_t;

/* ---- received messages: a queue filled by the MQTT callbacks ---------- */

typedef struct msg {
    struct msg *next;
    char leaf[32];
    uint8_t *payload;
    size_t len;
    char corr[VMF_ID_MAX];
    bool retain;
} msg_t;

static struct {
    pl_mutex_t lock;
    pl_cond_t cond;
    msg_t *head;
    msg_t *tail;
    const char *device;
    bool verbose;
    bool ready;               /* lock and cond initialized */
} q;

static void
on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    char dev[VMF_ID_MAX];
    msg_t *n;

    (void)arg;
    if ((n = calloc(1, sizeof(*n))) == NULL)
        return;
    if (vmf_topic_parse(m->topic, dev, sizeof(dev), n->leaf,
                        sizeof(n->leaf)) != 0 ||
        strcmp(dev, q.device) != 0 ||
        (n->payload = malloc(m->len ? m->len : 1)) == NULL) {
        free(n);
        return;
    }
    memcpy(n->payload, m->payload, m->len);
    n->len = m->len;
    n->retain = m->retain;
    if (m->corr != NULL && m->corr_len < sizeof(n->corr))
        memcpy(n->corr, m->corr, m->corr_len);
    pl_mutex_lock(&q.lock);
    if (q.tail != NULL)
        q.tail->next = n;
    else
        q.head = n;
    q.tail = n;
    pl_cond_signal(&q.cond);
    pl_mutex_unlock(&q.lock);
}

static void
on_conn(void *arg, bool connected, const char *why)
{
    (void)arg;
    if (q.verbose || !connected)
        fprintf(stderr, "fleet-send: broker %s%s%s\n",
                connected ? "connected" : "connection lost",
                why != NULL && why[0] != '\0' ? ": " : "",
                why != NULL ? why : "");
}

/* Next message, or NULL once deadline_ns (pl_time_mono_ns) has passed. */
static msg_t *
q_pop(uint64_t deadline_ns)
{
    msg_t *n;

    pl_mutex_lock(&q.lock);
    while (q.head == NULL && pl_time_mono_ns() < deadline_ns)
        (void)pl_cond_timedwait(&q.cond, &q.lock, deadline_ns);
    n = q.head;
    if (n != NULL) {
        q.head = n->next;
        if (q.head == NULL)
            q.tail = NULL;
    }
    pl_mutex_unlock(&q.lock);
    return n;
}

static void
msg_free(msg_t *n)
{
    if (n != NULL) {
        free(n->payload);
        free(n);
    }
}

/* ---- one run ---------------------------------------------------------- */

typedef struct {
    opts_t *o;
    vmf_mqtt_t *c;
    vmf_cmd_t cmd;
    char t_cmd[VMF_TOPIC_MAX];
    char t_result[VMF_TOPIC_MAX];
    char t_data[VMF_TOPIC_MAX];
    char t_upreq[VMF_TOPIC_MAX];

    /* Outgoing transfer (update, create, restore). */
    uint8_t *xbuf;
    size_t xlen;              /* served bytes (after --truncate) */
    uint32_t nchunks;
    uint8_t *served_map;
    uint64_t served;
    uint64_t distinct;
    uint64_t served_after_final;
    uint64_t reqs_after_final;

    /* Results. */
    unsigned finals;
    vmf_result_t first;       /* the first final result */
    vmf_result_t last;        /* the latest final result */
    bool resent;              /* --twice: the duplicate was published */

    /* Incoming upload (snapshot). */
    bool up_known;
    vmf_xfer_t up;
    uint8_t *up_buf;
    uint8_t *up_map;
    uint32_t up_n;
    uint32_t up_have;
    uint64_t up_last_ns;
    bool up_dropped;          /* --drop-up-chunk happened */
    bool up_done;
    bool up_failed;
    msg_t *early;             /* xfer/up chunks seen before the result */
    msg_t *early_tail;

    bool state_seen;
    bool state_online;
} run_t;

static void verbose(const run_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
verbose(const run_t *r, const char *fmt, ...)
{
    va_list ap;

    if (!r->o->verbose)
        return;
    va_start(ap, fmt);
    fputs("fleet-send: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int
publish(run_t *r, const char *topic, const uint8_t *buf, size_t len,
        bool with_corr)
{
    vmf_mqtt_msg_t m;
    int rc;

    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.payload = buf;
    m.len = len;
    m.qos = 1;
    if (with_corr) {
        m.corr = (const uint8_t *)r->cmd.id;
        m.corr_len = strlen(r->cmd.id);
        m.response_topic = r->t_result;
    }
    if ((rc = vmf_mqtt_publish(r->c, &m)) != 0)
        fprintf(stderr, "fleet-send: publish on %s: %s\n", topic,
                vmf_mqtt_strerror(rc));
    return rc;
}

/*
 * send_cmd: encode and publish the command (again, for --twice).
 * Return: 0, or EXIT_FAIL (reported).
 */
static int
send_cmd(run_t *r)
{
    uint8_t *buf = NULL, *raw = NULL;
    size_t len = 0;
    int rc;

    if ((rc = vmf_cmd_encode(&r->cmd, &buf, &len)) != 0) {
        fprintf(stderr, "fleet-send: cannot encode the command (%d)\n", rc);
        return EXIT_FAIL;
    }
    if (r->o->has_raw_kind) {
        /* The kind field again, with the raw value: tag, then varint. */
        uint32_t v = r->o->raw_kind;
        size_t n = len;

        if ((raw = malloc(len + 8)) == NULL) {
            free(buf);
            return EXIT_FAIL;
        }
        memcpy(raw, buf, len);
        raw[n++] = (uint8_t)(CMD_KIND_FIELD << 3);
        do {
            raw[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v != 0);
        free(buf);
        buf = raw;
        len = n;
    }
    rc = publish(r, r->t_cmd, buf, len, true);
    free(buf);
    return rc == 0 ? 0 : EXIT_FAIL;
}

/* ---- serving chunks --------------------------------------------------- */

static void
serve_chunk(run_t *r, uint32_t i)
{
    uint32_t cs = r->cmd.xfer.chunk_size;
    size_t off = (size_t)i * cs;
    size_t n = r->xlen - off < cs ? r->xlen - off : cs;
    uint8_t *copy = NULL, *buf = NULL;
    vmf_chunk_t ch;
    size_t len;

    vmf_chunk_init(&ch);
    snprintf(ch.xfer_id, sizeof(ch.xfer_id), "%s", r->cmd.xfer.id);
    ch.index = i;
    ch.data = r->xbuf + off;
    ch.len = n;
    ch.crc32 = vmf_crc32(ch.data, n);
    if ((int64_t)i == r->o->corrupt_chunk && n > 0) {
        /* Data changed, crc of the original: a bad copy every time. */
        if ((copy = malloc(n)) == NULL)
            return;
        memcpy(copy, ch.data, n);
        copy[n / 2] ^= 0x5a;
        ch.data = copy;
    }
    if (vmf_chunk_encode(&ch, &buf, &len) == 0 &&
        publish(r, r->t_data, buf, len, false) == 0) {
        r->served++;
        if (r->finals > 0)
            r->served_after_final++;
        if (!r->served_map[i]) {
            r->served_map[i] = 1;
            r->distinct++;
        }
        verbose(r, "served chunk %" PRIu32 " (%zu bytes)%s", i, n,
                copy != NULL ? " corrupted" : "");
    }
    free(buf);
    free(copy);
    if (r->o->throttle_ms > 0)
        pl_sleep_ns((uint64_t)r->o->throttle_ms * NS_PER_MS);
}

static void
on_req(run_t *r, const msg_t *m)
{
    vmf_chunk_req_t req;
    uint32_t i;

    if (vmf_chunk_req_decode(m->payload, m->len, &req) != 0) {
        fprintf(stderr, "fleet-send: undecodable chunk request\n");
        return;
    }
    if (r->xbuf == NULL || strcmp(req.xfer_id, r->cmd.xfer.id) != 0) {
        verbose(r, "request for unknown transfer '%s' ignored", req.xfer_id);
        return;
    }
    verbose(r, "request chunks %" PRIu32 "+%" PRIu32, req.first, req.count);
    if (r->finals > 0)
        r->reqs_after_final++;
    for (i = 0; i < req.count && req.first + i < r->nchunks; i++)
        serve_chunk(r, req.first + i);
}

/* ---- snapshot upload -------------------------------------------------- */

static void
up_chunk(run_t *r, const msg_t *m)
{
    vmf_chunk_t ch;
    size_t off, want;

    if (!r->up_known) {
        /* Chunks may overtake the result that describes them. */
        msg_t *n = calloc(1, sizeof(*n));

        if (n == NULL || (n->payload = malloc(m->len ? m->len : 1)) == NULL) {
            free(n);
            return;
        }
        memcpy(n->payload, m->payload, m->len);
        n->len = m->len;
        if (r->early_tail != NULL)
            r->early_tail->next = n;
        else
            r->early = n;
        r->early_tail = n;
        return;
    }
    vmf_chunk_init(&ch);
    if (vmf_chunk_decode(m->payload, m->len, &ch) != 0) {
        fprintf(stderr, "fleet-send: undecodable upload chunk\n");
        return;
    }
    if (strcmp(ch.xfer_id, r->up.id) != 0 || ch.index >= r->up_n) {
        verbose(r, "upload chunk %s/%" PRIu32 " ignored", ch.xfer_id,
                ch.index);
        goto out;
    }
    off = (size_t)ch.index * r->up.chunk_size;
    want = r->up.size - off < r->up.chunk_size ? r->up.size - off
                                               : r->up.chunk_size;
    if (ch.len != want || vmf_crc32(ch.data, ch.len) != ch.crc32) {
        fprintf(stderr, "fleet-send: upload chunk %" PRIu32
                        " bad (len %zu, want %zu, or crc)\n",
                ch.index, ch.len, want);
        goto out;
    }
    r->up_last_ns = pl_time_mono_ns();
    if ((int64_t)ch.index == r->o->drop_up_chunk && !r->up_dropped) {
        /* As if lost: the stall timer asks for it again (xfer/upreq). */
        printf("upload: dropped chunk %" PRIu32 " on purpose\n", ch.index);
        r->up_dropped = true;
        goto out;
    }
    if (!r->up_map[ch.index]) {
        memcpy(r->up_buf + off, ch.data, ch.len);
        r->up_map[ch.index] = 1;
        r->up_have++;
    }
out:
    vmf_chunk_free(&ch);
}

/* Ask again for the chunks not received (xfer/upreq), in runs. */
static void
up_reask(run_t *r)
{
    vmf_chunk_req_t req;
    uint32_t i = 0, asked = 0;
    uint8_t *buf;
    size_t len;

    while (i < r->up_n) {
        if (r->up_map[i]) {
            i++;
            continue;
        }
        vmf_chunk_req_init(&req);
        snprintf(req.xfer_id, sizeof(req.xfer_id), "%s", r->up.id);
        req.first = i;
        while (i < r->up_n && !r->up_map[i] &&
               req.count < VMF_REQ_CHUNKS_MAX) {
            req.count++;
            i++;
        }
        if (vmf_chunk_req_encode(&req, &buf, &len) == 0) {
            publish(r, r->t_upreq, buf, len, false);
            free(buf);
        }
        asked += req.count;
    }
    printf("upload: asked again for %" PRIu32 " missing chunks\n", asked);
    r->up_last_ns = pl_time_mono_ns();
}

/* The final SNAPSHOT result described the upload: get ready for it. */
static void
up_start(run_t *r, const vmf_result_t *res)
{
    msg_t *n, *next;

    if (!res->has_xfer || res->xfer.chunk_size == 0 ||
        res->xfer.size > FILE_MAX) {
        printf("upload: the result describes no usable upload\n");
        r->up_failed = true;
        return;
    }
    r->up = res->xfer;
    r->up_n = (uint32_t)((r->up.size + r->up.chunk_size - 1) /
                         r->up.chunk_size);
    r->up_buf = malloc(r->up.size ? r->up.size : 1);
    r->up_map = calloc(r->up_n ? r->up_n : 1, 1);
    if (r->up_buf == NULL || r->up_map == NULL) {
        r->up_failed = true;
        return;
    }
    r->up_known = true;
    r->up_last_ns = pl_time_mono_ns();
    printf("upload: %s, %" PRIu64 " bytes in %" PRIu32 " chunks\n",
           r->up.id, r->up.size, r->up_n);
    for (n = r->early; n != NULL; n = next) {
        next = n->next;
        up_chunk(r, n);
        msg_free(n);
    }
    r->early = r->early_tail = NULL;
}

/* All chunks in: check the SHA-256 and write the file. */
static void
up_finish(run_t *r)
{
    uint8_t sha[32];
    int rc;

    if (vmf_sha256(r->up_buf, r->up.size, sha) != 0 ||
        memcmp(sha, r->up.sha256, sizeof(sha)) != 0) {
        printf("upload: SHA-256 mismatch\n");
        r->up_failed = true;
        return;
    }
    if ((rc = pl_file_write_atomic(r->o->out, r->up_buf, r->up.size)) != 0) {
        printf("upload: cannot write %s: %s\n", r->o->out, pl_strerror(rc));
        r->up_failed = true;
        return;
    }
    printf("upload: %" PRIu64 " bytes, sha256 ok, written to %s\n",
           r->up.size, r->o->out);
    r->up_done = true;
}

/* ---- results, events, state ------------------------------------------- */

static void
on_result(run_t *r, const msg_t *m)
{
    vmf_result_t res;

    if (vmf_result_decode(m->payload, m->len, &res) != 0) {
        fprintf(stderr, "fleet-send: undecodable result\n");
        return;
    }
    if (strcmp(res.cmd_id, r->cmd.id) != 0) {
        verbose(r, "result for another command '%s' ignored", res.cmd_id);
        vmf_result_free(&res);
        return;
    }
    /* LOGS: the text as it came, after a line with its size; the copies
     * kept below do not own it. */
    if (res.final && res.kind == VMF_CMD_LOGS && res.code == VMF_OK) {
        printf("logs: %zu bytes\n", res.len);
        if (res.len > 0) {
            fwrite(res.data, 1, res.len, stdout);
            if (res.data[res.len - 1] != '\n')
                putchar('\n');
        }
    }
    free(res.data);
    res.data = NULL;
    res.len = 0;
    if (strcmp(m->corr, r->cmd.id) != 0)
        printf("warning: result without our correlation data\n");
    if (!res.final) {
        printf("accepted %s: %s\n", vmf_code_name(res.code), res.message);
        return;
    }
    printf("result %s: %s\n", vmf_code_name(res.code), res.message);
    if (res.version[0] != '\0')
        printf("version %s %s\n", res.vm, res.version);
    r->finals++;
    if (r->finals == 1)
        r->first = res;
    r->last = res;
    if (r->finals == 1 && r->o->kind == VMF_CMD_SNAPSHOT &&
        res.code == VMF_OK)
        up_start(r, &res);
}

static void
on_event(run_t *r, const msg_t *m)
{
    vmf_event_t ev;

    if (vmf_event_decode(m->payload, m->len, &ev) != 0) {
        fprintf(stderr, "fleet-send: undecodable event\n");
        return;
    }
    if (ev.kind == VMF_EV_PROGRESS) {
        if (strcmp(ev.cmd_id, r->cmd.id) == 0)
            printf("event progress %" PRIu32 "%% %" PRIu64 "/%" PRIu64 "\n",
                   ev.percent, ev.done, ev.total);
        return;
    }
    printf("event %s %s: %s\n", vmf_event_name(ev.kind), ev.vm, ev.detail);
}

static void
on_state(run_t *r, const msg_t *m)
{
    vmf_state_t st;
    uint32_t i;

    vmf_state_init(&st);
    if (vmf_state_decode(m->payload, m->len, &st) != 0) {
        fprintf(stderr, "fleet-send: undecodable state\n");
        return;
    }
    printf("state: device=%s online=%s runtime=%s ota=%s boot=%" PRIu64
           " vms=%" PRIu32 "%s\n",
           st.device, st.online ? "true" : "false", st.runtime_version,
           st.ota_version, st.boot_id, st.nvms, m->retain ? " retained" : "");
    for (i = 0; i < st.nlabels; i++)
        printf("state: label %s=%s\n", st.labels[i].key, st.labels[i].value);
    for (i = 0; i < st.nvms; i++)
        printf("state: vm=%s version=%s state=%s restarts=%" PRIu32 "\n",
               st.vms[i].name, st.vms[i].version, st.vms[i].state,
               st.vms[i].restarts);
    r->state_seen = true;
    r->state_online = st.online;
    vmf_state_free(&st);
}

static void
dispatch(run_t *r, const msg_t *m)
{
    if (strcmp(m->leaf, "result") == 0)
        on_result(r, m);
    else if (strcmp(m->leaf, "event") == 0)
        on_event(r, m);
    else if (strcmp(m->leaf, "state") == 0)
        on_state(r, m);
    else if (strcmp(m->leaf, "xfer/req") == 0)
        on_req(r, m);
    else if (strcmp(m->leaf, "xfer/up") == 0)
        up_chunk(r, m);
}

/* ---- the command's life ----------------------------------------------- */

/*
 * done: whether the run has what it waits for.
 * Return: true when the main loop may stop.
 */
static bool
done(run_t *r)
{
    if (r->o->kind == VMF_CMD_NONE) /* state */
        return r->state_seen && (!r->o->wait_online || r->state_online);
    if (r->finals == 0)
        return false;
    if (r->o->kind == VMF_CMD_SNAPSHOT && r->first.code == VMF_OK &&
        !r->up_done && !r->up_failed)
        return false;
    if (r->o->twice && (!r->resent || r->finals < 2))
        return false;
    return true;
}

static int
load_xfer(run_t *r, const char *path)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if ((rc = pl_file_read_all(path, FILE_MAX, &buf, &len)) != 0) {
        fprintf(stderr, "fleet-send: cannot read %s: %s\n", path,
                pl_strerror(rc));
        return EXIT_USAGE;
    }
    if (r->o->has_truncate) {
        if (r->o->truncate >= len) {
            fprintf(stderr, "fleet-send: --truncate: %" PRIu64
                            " is not below the file's %zu bytes\n",
                    r->o->truncate, len);
            pl_free_file(buf);
            return EXIT_USAGE;
        }
        len = (size_t)r->o->truncate;
    }
    if ((r->xbuf = malloc(len ? len : 1)) == NULL) {
        pl_free_file(buf);
        return EXIT_FAIL;
    }
    memcpy(r->xbuf, buf, len);
    pl_free_file(buf);
    r->xlen = len;
    r->cmd.has_xfer = true;
    snprintf(r->cmd.xfer.id, sizeof(r->cmd.xfer.id), "%s", r->cmd.id);
    r->cmd.xfer.size = len;
    r->cmd.xfer.chunk_size = r->o->chunk_size;
    if (vmf_sha256(r->xbuf, len, r->cmd.xfer.sha256) != 0)
        return EXIT_FAIL;
    r->nchunks = (uint32_t)((len + r->o->chunk_size - 1) / r->o->chunk_size);
    if ((r->served_map = calloc(r->nchunks ? r->nchunks : 1, 1)) == NULL)
        return EXIT_FAIL;
    if (r->o->corrupt_chunk >= (int64_t)r->nchunks) {
        fprintf(stderr, "fleet-send: --corrupt-chunk: %" PRId64
                        " is past the last chunk (%" PRIu32 ")\n",
                r->o->corrupt_chunk, r->nchunks - 1);
        return EXIT_USAGE;
    }
    return 0;
}

/*
 * finish: judge the run once the loop ended (or timed out).
 * Return: the exit status.
 */
static int
finish(run_t *r, bool timed_out)
{
    int st = EXIT_OK;

    if (r->xbuf != NULL)
        printf("served %" PRIu64 " chunks (%" PRIu64 " distinct of %" PRIu32
               ")\n",
               r->served, r->distinct, r->nchunks);
    if (r->o->kind == VMF_CMD_NONE) {
        if (!r->state_seen) {
            printf("no state within %" PRIu32 " s\n", r->o->timeout_s);
            return EXIT_FAIL;
        }
        if (r->o->wait_online && !r->state_online) {
            printf("device not online within %" PRIu32 " s\n",
                   r->o->timeout_s);
            return EXIT_FAIL;
        }
        return EXIT_OK;
    }
    if (r->finals == 0) {
        printf("timeout: no final result within %" PRIu32 " s\n",
               r->o->timeout_s);
        return EXIT_TIMEOUT;
    }
    if ((int)r->first.code != r->o->expect) {
        printf("expected %s, got %s\n", r->o->expect_name,
               vmf_code_name(r->first.code));
        st = EXIT_FAIL;
    }
    if (r->o->kind == VMF_CMD_SNAPSHOT && r->first.code == VMF_OK &&
        !r->up_done) {
        printf("upload incomplete: %" PRIu32 " of %" PRIu32 " chunks\n",
               r->up_have, r->up_n);
        st = timed_out ? EXIT_TIMEOUT : EXIT_FAIL;
    }
    if (r->o->twice) {
        if (r->finals < 2) {
            printf("twice: no answer to the repeated command\n");
            return EXIT_TIMEOUT;
        }
        if (r->last.code != r->first.code ||
            strcmp(r->last.message, r->first.message) != 0 ||
            strcmp(r->last.version, r->first.version) != 0) {
            printf("twice: the repeat got %s: %s, the first %s: %s\n",
                   vmf_code_name(r->last.code), r->last.message,
                   vmf_code_name(r->first.code), r->first.message);
            st = EXIT_FAIL;
        } else if (r->reqs_after_final > 0) {
            printf("twice: %" PRIu64 " chunk requests after the final "
                   "result (executed again?)\n",
                   r->reqs_after_final);
            st = EXIT_FAIL;
        } else {
            printf("twice: same final result, no chunk requested again\n");
        }
    }
    return st;
}

static int
run(opts_t *o)
{
    vmf_mqtt_config_t cfg;
    char err[256], cid[VMF_ID_MAX], topic[VMF_TOPIC_MAX];
    static const char *const leaves[] = { "result", "event", "state",
                                          "xfer/req", "xfer/up" };
    uint64_t deadline, settle = 0;
    run_t r;
    msg_t *m;
    size_t i;
    int rc, st;

    memset(&r, 0, sizeof(r));
    r.o = o;
    vmf_cmd_init(&r.cmd);
    vmf_result_init(&r.first);
    vmf_result_init(&r.last);
    deadline = pl_time_mono_ns() + (uint64_t)o->timeout_s * 1000 * NS_PER_MS;

    if (o->id != NULL)
        snprintf(r.cmd.id, sizeof(r.cmd.id), "%s", o->id);
    else
        snprintf(r.cmd.id, sizeof(r.cmd.id), "fs-%ld-%" PRIu64,
                 (long)pl_getpid(), pl_time_real_ns() / NS_PER_MS);
    r.cmd.kind = o->has_raw_kind ? VMF_CMD_INVENTORY
                                 : (vmf_cmd_kind_t)o->kind;
    snprintf(r.cmd.device, sizeof(r.cmd.device), "%s",
             o->target_device != NULL ? o->target_device : o->device);
    if (o->vm != NULL)
        snprintf(r.cmd.vm, sizeof(r.cmd.vm), "%s", o->vm);
    if (o->cancel_id != NULL)
        snprintf(r.cmd.cancel_id, sizeof(r.cmd.cancel_id), "%s",
                 o->cancel_id);
    r.cmd.log_bytes = o->log_bytes;
    r.cmd.health_window_ms = o->health_ms;
    r.cmd.snapshot_before = o->snapshot_before;
    r.cmd.issued_ms = pl_time_real_ns() / NS_PER_MS;
    if (vmf_topic(r.t_cmd, sizeof(r.t_cmd), o->device, "cmd") != 0 ||
        vmf_topic(r.t_result, sizeof(r.t_result), o->device, "result") ||
        vmf_topic(r.t_data, sizeof(r.t_data), o->device, "xfer/data") ||
        vmf_topic(r.t_upreq, sizeof(r.t_upreq), o->device, "xfer/upreq")) {
        fprintf(stderr, "fleet-send: --device: '%s' is not a device id\n",
                o->device);
        return EXIT_USAGE;
    }
    if (o->vpk != NULL && (st = load_xfer(&r, o->vpk)) != 0)
        goto out;
    if (o->file != NULL && (st = load_xfer(&r, o->file)) != 0)
        goto out;

    q.device = o->device;
    q.verbose = o->verbose;
    if (pl_mutex_init(&q.lock) != 0)
        return EXIT_FAIL;
    if (pl_cond_init(&q.cond) != 0) {
        pl_mutex_destroy(&q.lock);
        return EXIT_FAIL;
    }
    q.ready = true;
    snprintf(cid, sizeof(cid), "fleet-send-%ld", (long)pl_getpid());
    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = o->broker;
    cfg.client_id = cid;
    cfg.clean_start = true;
    cfg.max_retry_ms = 1000; /* back quickly after a broker restart */
    cfg.ca_file = o->ca;
    cfg.cert_file = o->cert;
    cfg.key_file = o->key;
    if ((rc = vmf_mqtt_create(&cfg, on_msg, on_conn, NULL, &r.c, err,
                              sizeof(err))) != 0) {
        fprintf(stderr, "fleet-send: --broker: %s (%s)\n", err,
                vmf_mqtt_strerror(rc));
        st = EXIT_USAGE;
        goto out;
    }
    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        if (vmf_topic(topic, sizeof(topic), o->device, leaves[i]) != 0 ||
            vmf_mqtt_subscribe(r.c, topic, 1) != 0) {
            fprintf(stderr, "fleet-send: cannot subscribe to %s\n", topic);
            st = EXIT_FAIL;
            goto out;
        }
    }
    if (vmf_mqtt_start(r.c) != 0 ||
        vmf_mqtt_wait_connected(r.c, o->timeout_s * 1000u) != 0) {
        printf("timeout: cannot connect to %s within %" PRIu32 " s\n",
               o->broker, o->timeout_s);
        st = EXIT_TIMEOUT;
        goto out;
    }
    verbose(&r, "connected to %s", o->broker);

    if (o->kind != VMF_CMD_NONE) {
        if (r.xbuf != NULL)
            printf("sent %s id=%s vm=%s: %zu bytes in %" PRIu32
                   " chunks of %" PRIu32 "\n",
                   o->cmd_name, r.cmd.id, r.cmd.vm, r.xlen, r.nchunks,
                   r.cmd.xfer.chunk_size);
        else
            printf("sent %s id=%s vm=%s\n", o->cmd_name, r.cmd.id,
                   r.cmd.vm);
        if ((st = send_cmd(&r)) != 0)
            goto out;
    }

    while (!done(&r)) {
        uint64_t wake = deadline;

        if (r.up_known && !r.up_done && !r.up_failed) {
            if (r.up_have == r.up_n) {
                up_finish(&r);
                continue;
            }
            if (r.up_last_ns + UPLOAD_STALL_NS < wake)
                wake = r.up_last_ns + UPLOAD_STALL_NS;
        }
        if (o->twice && r.finals > 0 && !r.resent) {
            /* Give stray requests of the first run a moment to show. */
            if (settle == 0)
                settle = pl_time_mono_ns() + 500 * NS_PER_MS;
            if (pl_time_mono_ns() >= settle) {
                printf("sending the same command again (id %s)\n",
                       r.cmd.id);
                r.resent = true;
                r.finals = 1;
                r.reqs_after_final = 0;
                if ((st = send_cmd(&r)) != 0)
                    goto out;
                continue;
            }
            if (settle < wake)
                wake = settle;
        }
        if ((m = q_pop(wake)) == NULL) {
            if (pl_time_mono_ns() >= deadline)
                break;
            if (r.up_known && !r.up_done && !r.up_failed &&
                pl_time_mono_ns() >= r.up_last_ns + UPLOAD_STALL_NS)
                up_reask(&r);
            continue;
        }
        dispatch(&r, m);
        msg_free(m);
    }
    st = finish(&r, !done(&r));
    (void)vmf_mqtt_flush(r.c, 2000);

out:
    if (r.c != NULL)
        vmf_mqtt_destroy(r.c);
    if (q.ready) {
        while ((m = q_pop(0)) != NULL)
            msg_free(m);
        pl_cond_destroy(&q.cond);
        pl_mutex_destroy(&q.lock);
        q.ready = false;
    }
    while (r.early != NULL) {
        m = r.early;
        r.early = m->next;
        msg_free(m);
    }
    free(r.xbuf);
    free(r.served_map);
    free(r.up_buf);
    free(r.up_map);
    return st;
}

/* ---- command line ----------------------------------------------------- */

static void
usage(FILE *f)
{
    fprintf(f,
"usage: fleet-send --broker URI --device ID [--timeout SEC] [--id CMDID]\n"
"                  [--expect CODE_NAME] [-v] COMMAND [OPTIONS]\n"
"\n"
"A minimal stand-in for vmctld for the OTA tests: sends one command to a\n"
"device over MQTT v5, serves its chunk requests, prints events, state\n"
"and the final result (\"result CODE_NAME: message\").\n"
"\n"
"commands:\n"
"  update --vm NAME --vpk FILE [--health-ms N] [--snapshot-before]\n"
"         [--chunk-size N] [--corrupt-chunk I] [--truncate N]\n"
"         [--throttle-ms N] [--target-device ID] [--twice]\n"
"  create --vm NAME --vpk FILE          (same transfer options)\n"
"  start|stop|suspend|resume|restart|destroy --vm NAME\n"
"  cancel --cancel-id CMDID             cancel that command\n"
"  snapshot --vm NAME -o FILE [--drop-up-chunk I]\n"
"                                       collect the upload into FILE;\n"
"                                       ignore chunk I once (it must be\n"
"                                       asked for again on xfer/upreq)\n"
"  restore --vm NAME --file SNAP        (same transfer options)\n"
"  state [--online]                     print the retained state (with\n"
"                                       --online: wait for online=true)\n"
"  logs --vm NAME [--bytes N]          print the tail of the VM's log\n"
"                                       (N: 1..65536; default the\n"
"                                       device's, 16384)\n"
"  raw --kind N [--vm NAME]             a command of kind N (unknown)\n"
"\n"
"options:\n"
"  --timeout SEC        give up after SEC seconds (default 60)\n"
"  --ca FILE            TLS (ssl:// broker): CA of the broker's certificate\n"
"  --cert FILE --key FILE\n"
"                       TLS client certificate and its key (PEM)\n"
"  --id CMDID           command id (default fs-PID-MS)\n"
"  --expect CODE_NAME   the final code that counts as success (default OK)\n"
"  --chunk-size N       transfer chunk size (default 16384, max 262144)\n"
"  --corrupt-chunk I    serve chunk I changed, with the original's crc\n"
"  --truncate N         serve only the first N bytes of the file\n"
"  --throttle-ms N      sleep N ms after each chunk served\n"
"  --target-device ID   put another device id in the command\n"
"  --twice              after the final result, send the same command id\n"
"                       again: the answer must be the same final result\n"
"                       and no chunk may be requested again\n"
"  -v                   log protocol traffic to stderr\n"
"\n"
"exit status: 0 the final code equals --expect; 1 it does not, or a check\n"
"failed; 2 usage; 3 timeout (no final result).\n");
}

static int
parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max,
          uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL) {
        fprintf(stderr, "fleet-send: %s: needs a value\n", opt);
        return -1;
    }
    v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || v < min || v > max) {
        fprintf(stderr,
                "fleet-send: %s: '%s' is not a number in %" PRIu64
                "..%" PRIu64 "\n",
                opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

static int
parse_args(int argc, char **argv, opts_t *o)
{
    uint64_t v;
    int i, kind;

    memset(o, 0, sizeof(*o));
    o->expect_name = "OK";
    o->timeout_s = 60;
    o->chunk_size = DEFAULT_CHUNK;
    o->corrupt_chunk = -1;
    o->drop_up_chunk = -1;
    o->kind = -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

#define STR_OPT(name, field)                                                 \
    if (strcmp(a, name) == 0) {                                              \
        if (val == NULL) {                                                   \
            fprintf(stderr, "fleet-send: %s: needs a value\n", name);        \
            return -1;                                                       \
        }                                                                    \
        o->field = val;                                                      \
        i++;                                                                 \
        continue;                                                            \
    }
#define NUM_OPT(name, min, max, stmt)                                        \
    if (strcmp(a, name) == 0) {                                              \
        if (parse_u64(name, val, min, max, &v) != 0)                         \
            return -1;                                                       \
        stmt;                                                                \
        i++;                                                                 \
        continue;                                                            \
    }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(EXIT_OK);
        }
        STR_OPT("--broker", broker)
        STR_OPT("--device", device)
        STR_OPT("--id", id)
        STR_OPT("--expect", expect_name)
        STR_OPT("--vm", vm)
        STR_OPT("--vpk", vpk)
        STR_OPT("--file", file)
        STR_OPT("-o", out)
        STR_OPT("--target-device", target_device)
        STR_OPT("--cancel-id", cancel_id)
        STR_OPT("--ca", ca)
        STR_OPT("--cert", cert)
        STR_OPT("--key", key)
        NUM_OPT("--timeout", 1, 3600, o->timeout_s = (uint32_t)v)
        NUM_OPT("--health-ms", 1, UINT32_MAX, o->health_ms = (uint32_t)v)
        NUM_OPT("--chunk-size", 1, VMF_CHUNK_MAX,
                o->chunk_size = (uint32_t)v)
        NUM_OPT("--corrupt-chunk", 0, UINT32_MAX,
                o->corrupt_chunk = (int64_t)v)
        NUM_OPT("--truncate", 0, FILE_MAX,
                (o->truncate = v, o->has_truncate = true))
        NUM_OPT("--throttle-ms", 0, 60000, o->throttle_ms = (uint32_t)v)
        NUM_OPT("--drop-up-chunk", 0, UINT32_MAX,
                o->drop_up_chunk = (int64_t)v)
        NUM_OPT("--bytes", 1, VMF_RESULT_DATA_MAX,
                o->log_bytes = (uint32_t)v)
        NUM_OPT("--kind", 0, UINT32_MAX,
                (o->raw_kind = (uint32_t)v, o->has_raw_kind = true))
#undef STR_OPT
#undef NUM_OPT
        if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = true;
        } else if (strcmp(a, "--snapshot-before") == 0) {
            o->snapshot_before = true;
        } else if (strcmp(a, "--twice") == 0) {
            o->twice = true;
        } else if (strcmp(a, "--online") == 0) {
            o->wait_online = true;
        } else if (a[0] == '-') {
            fprintf(stderr, "fleet-send: unknown option %s\n", a);
            return -1;
        } else if (o->cmd_name != NULL) {
            fprintf(stderr, "fleet-send: unexpected argument '%s'\n", a);
            return -1;
        } else {
            o->cmd_name = a;
        }
    }

    if (o->broker == NULL || o->device == NULL || o->cmd_name == NULL) {
        fprintf(stderr, "fleet-send: %s is required\n",
                o->broker == NULL   ? "--broker"
                : o->device == NULL ? "--device"
                                    : "a COMMAND");
        return -1;
    }
    if ((o->expect = vmf_code_parse(o->expect_name)) < 0) {
        fprintf(stderr, "fleet-send: --expect: unknown code name '%s'\n",
                o->expect_name);
        return -1;
    }
    if (strcmp(o->cmd_name, "state") == 0)
        kind = VMF_CMD_NONE;
    else if (strcmp(o->cmd_name, "raw") == 0)
        kind = VMF_CMD_INVENTORY; /* carrier; --kind overrides */
    else if ((kind = vmf_cmd_parse(o->cmd_name)) < 0 ||
             kind == VMF_CMD_INVENTORY) {
        fprintf(stderr, "fleet-send: unknown command '%s'\n", o->cmd_name);
        return -1;
    }
    o->kind = kind;

    /* What each command needs, and options that make no sense for it. */
    if (strcmp(o->cmd_name, "raw") == 0 && !o->has_raw_kind) {
        fprintf(stderr, "fleet-send: raw: --kind is required\n");
        return -1;
    }
    if (strcmp(o->cmd_name, "raw") != 0 && o->has_raw_kind) {
        fprintf(stderr, "fleet-send: --kind: only for raw\n");
        return -1;
    }
    if ((kind == VMF_CMD_CANCEL) != (o->cancel_id != NULL)) {
        fprintf(stderr, "fleet-send: --cancel-id: %s\n",
                o->cancel_id == NULL ? "required for cancel"
                                     : "only for cancel");
        return -1;
    }
    if (o->cancel_id != NULL &&
        (o->cancel_id[0] == '\0' || strlen(o->cancel_id) >= VMF_ID_MAX)) {
        fprintf(stderr, "fleet-send: --cancel-id: empty or too long\n");
        return -1;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        fprintf(stderr, "fleet-send: %s: needs %s too\n",
                o->cert == NULL ? "--key" : "--cert",
                o->cert == NULL ? "--cert" : "--key");
        return -1;
    }
    if (kind != VMF_CMD_NONE && kind != VMF_CMD_CANCEL &&
        strcmp(o->cmd_name, "raw") != 0 && o->vm == NULL) {
        fprintf(stderr, "fleet-send: %s: --vm is required\n", o->cmd_name);
        return -1;
    }
    if ((kind == VMF_CMD_UPDATE || kind == VMF_CMD_CREATE) !=
        (o->vpk != NULL)) {
        fprintf(stderr, "fleet-send: --vpk: %s\n",
                o->vpk == NULL ? "required for update and create"
                               : "only for update and create");
        return -1;
    }
    if ((kind == VMF_CMD_RESTORE) != (o->file != NULL)) {
        fprintf(stderr, "fleet-send: --file: %s\n",
                o->file == NULL ? "required for restore"
                                : "only for restore");
        return -1;
    }
    if ((kind == VMF_CMD_SNAPSHOT) != (o->out != NULL)) {
        fprintf(stderr, "fleet-send: -o: %s\n",
                o->out == NULL ? "required for snapshot"
                               : "only for snapshot");
        return -1;
    }
    if (kind != VMF_CMD_UPDATE &&
        (o->health_ms != 0 || o->snapshot_before)) {
        fprintf(stderr, "fleet-send: --health-ms and --snapshot-before: "
                        "only for update\n");
        return -1;
    }
    if (o->vpk == NULL && o->file == NULL &&
        (o->corrupt_chunk >= 0 || o->has_truncate || o->throttle_ms != 0 ||
         o->chunk_size != DEFAULT_CHUNK)) {
        fprintf(stderr, "fleet-send: --chunk-size, --corrupt-chunk, "
                        "--truncate, --throttle-ms: only with a transfer\n");
        return -1;
    }
    if (kind == VMF_CMD_NONE && (o->twice || o->target_device != NULL)) {
        fprintf(stderr, "fleet-send: --twice, --target-device: not for "
                        "state\n");
        return -1;
    }
    if (kind != VMF_CMD_LOGS && o->log_bytes != 0) {
        fprintf(stderr, "fleet-send: --bytes: only for logs\n");
        return -1;
    }
    if (kind != VMF_CMD_SNAPSHOT && o->drop_up_chunk >= 0) {
        fprintf(stderr, "fleet-send: --drop-up-chunk: only for snapshot\n");
        return -1;
    }
    if (kind != VMF_CMD_NONE && o->wait_online) {
        fprintf(stderr, "fleet-send: --online: only for state\n");
        return -1;
    }
    if (!vmf_device_id_valid(o->device) ||
        (o->target_device != NULL &&
         !vmf_device_id_valid(o->target_device))) {
        fprintf(stderr, "fleet-send: %s: not a device id\n",
                vmf_device_id_valid(o->device) ? "--target-device"
                                               : "--device");
        return -1;
    }
    if ((o->id != NULL && (o->id[0] == '\0' || strlen(o->id) >= VMF_ID_MAX))
        || (o->vm != NULL && (o->vm[0] == '\0' ||
                              strlen(o->vm) >= VMF_NAME_MAX))) {
        fprintf(stderr, "fleet-send: %s: empty or too long\n",
                o->vm != NULL && (o->vm[0] == '\0' ||
                                  strlen(o->vm) >= VMF_NAME_MAX)
                    ? "--vm"
                    : "--id");
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    opts_t o;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "(fleet-send --help for usage)\n");
        return EXIT_USAGE;
    }
    return run(&o);
}
