/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* A pulled, resumable transfer (ota_xfer.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_util.h"
#include "ota_xfer.h"
#include "vmf/vpk.h"

#define MAP_MAGIC "OTAM"
#define MAP_HDR (4 + 4 + 8 + 4 + 32) /* magic, n, size, chunk, sha256 */

struct ota_xfer {
    const pl_root_t *root;
    vmf_xfer_t x;
    ota_xfer_cfg_t cfg;
    const ota_xfer_ops_t *ops;
    char part[VMF_ID_MAX + 16], map[VMF_ID_MAX + 16], done[VMF_ID_MAX + 16];
    pl_file_t f;
    bool from_done;        /* resumed from an existing .done */
    uint32_t n;            /* chunks */
    uint32_t have_count;
    uint64_t done_bytes;
    uint8_t *have;         /* bitmap: on disk (maybe not yet synced) */
    uint8_t *bad;          /* bad copies per chunk */
    /* In flight: chunk index, when asked, current timeout. */
    uint32_t *fl;
    uint64_t *fl_sent;
    uint8_t *fl_dbl;       /* doublings of its timeout so far */
    uint8_t *fl_rep;       /* asked more than once (no RTT sample) */
    uint32_t nfl;
    /* Round-trip estimate, request to chunk, as TCP's (RFC 6298): the
     * first timeout of a request is max(cfg.timeout_ms, srtt + 4 var). */
    uint32_t srtt_ms, rttvar_ms;
    bool rtt_known;
    uint64_t last_rx_ms;   /* when a chunk of this transfer last came */
    uint32_t next_new;     /* no chunk below it is unasked and missing */
    uint32_t unsynced;     /* chunks written since the last map */
    uint64_t last_sync_ms;
    uint32_t *due;         /* scratch: chunks to ask for in one pump */
    uint32_t ndue;
    bool resend_all;       /* after a reconnect: ask for all in flight */
};

static bool
has(const ota_xfer_t *x, uint32_t i)
{
    return (x->have[i / 8] >> (i % 8)) & 1u;
}

static size_t
chunk_len(const ota_xfer_t *x, uint32_t i)
{
    uint64_t off = (uint64_t)i * x->x.chunk_size;
    uint64_t left = x->x.size - off;

    return left < x->x.chunk_size ? (size_t)left : x->x.chunk_size;
}

static size_t
map_len(const ota_xfer_t *x)
{
    return MAP_HDR + (x->n + 7) / 8 + 4;
}

static void
map_header(const ota_xfer_t *x, uint8_t *b)
{
    memcpy(b, MAP_MAGIC, 4);
    ota__put_le32(b + 4, x->n);
    ota__put_le64(b + 8, x->x.size);
    ota__put_le32(b + 16, x->x.chunk_size);
    memcpy(b + 20, x->x.sha256, 32);
}

/*
 * persist: make the chunks written so far durable: fsync the data first,
 * then replace the map.  Return: 0 or a PL_E* code.
 */
static int
persist(ota_xfer_t *x, uint64_t now_ms)
{
    size_t len = map_len(x);
    uint8_t *b;
    int rc;

    if ((rc = pl_file_sync(&x->f)) != 0)
        return rc;
    if ((b = malloc(len)) == NULL)
        return PL_ENOMEM;
    map_header(x, b);
    memcpy(b + MAP_HDR, x->have, (x->n + 7) / 8);
    ota__put_le32(b + len - 4, vmf_crc32(b, len - 4));
    rc = ota__write_atomic(x->root, x->map, b, len);
    free(b);
    if (rc == 0) {
        x->unsynced = 0;
        x->last_sync_ms = now_ms;
    }
    return rc;
}

/* Load the map if it belongs to this transfer and is whole. */
static void
load_map(ota_xfer_t *x)
{
    uint8_t hdr[MAP_HDR], *b = NULL;
    size_t len = 0;
    uint32_t i;

    if (ota__read_file(x->root, x->map, map_len(x), &b, &len) != 0)
        return;
    map_header(x, hdr);
    if (len == map_len(x) && memcmp(b, hdr, MAP_HDR) == 0 &&
        vmf_crc32(b, len - 4) == ota__get_le32(b + len - 4)) {
        memcpy(x->have, b + MAP_HDR, (x->n + 7) / 8);
        for (i = 0; i < x->n; i++) {
            if (has(x, i)) {
                x->have_count++;
                x->done_bytes += chunk_len(x, i);
            }
        }
    }
    free(b);
}

/* A name usable as a file name: the same alphabet as device ids. */
static bool
id_ok(const char *id)
{
    return vmf_device_id_valid(id) && strcmp(id, ".") != 0 &&
           strcmp(id, "..") != 0;
}

vmf_code_t
ota_xfer_open(const pl_root_t *root, const vmf_xfer_t *xf,
              const ota_xfer_cfg_t *cfg, const ota_xfer_ops_t *ops,
              ota_xfer_t **out, char *msg, size_t msglen)
{
    ota_xfer_t *x;
    uint64_t n64;
    pl_stat_t st;
    int rc;

    if (xf->size > cfg->max_size) {
        snprintf(msg, msglen, "transfer of %llu bytes is over the limit of "
                 "%llu (--max-package)", (unsigned long long)xf->size,
                 (unsigned long long)cfg->max_size);
        return VMF_E_TOO_LARGE;
    }
    n64 = xf->chunk_size ? (xf->size + xf->chunk_size - 1) / xf->chunk_size
                         : 0;
    if (!id_ok(xf->id) || xf->chunk_size == 0 ||
        xf->chunk_size > VMF_CHUNK_MAX || n64 > OTA_XFER_CHUNKS_MAX ||
        cfg->window == 0 || cfg->window > OTA_XFER_WINDOW_MAX) {
        snprintf(msg, msglen, "transfer '%s': bad id, chunk size %u or "
                 "chunk count %llu", xf->id, (unsigned)xf->chunk_size,
                 (unsigned long long)n64);
        return VMF_E_INVALID;
    }
    if ((x = calloc(1, sizeof(*x))) == NULL)
        goto nomem;
    x->root = root;
    x->x = *xf;
    x->cfg = *cfg;
    x->ops = ops;
    x->n = (uint32_t)n64;
    x->f = (pl_file_t)PL_FILE_INIT;
    snprintf(x->part, sizeof(x->part), "xfer/%s.part", xf->id);
    snprintf(x->map, sizeof(x->map), "xfer/%s.map", xf->id);
    snprintf(x->done, sizeof(x->done), "xfer/%s.done", xf->id);
    x->have = calloc(1, (x->n + 7) / 8 + 1);
    x->bad = calloc(1, x->n + 1);
    x->fl = calloc(cfg->window, sizeof(*x->fl));
    x->fl_sent = calloc(cfg->window, sizeof(*x->fl_sent));
    x->fl_dbl = calloc(cfg->window, sizeof(*x->fl_dbl));
    x->fl_rep = calloc(cfg->window, sizeof(*x->fl_rep));
    x->due = calloc(cfg->window, sizeof(*x->due));
    if (x->have == NULL || x->bad == NULL || x->fl == NULL ||
        x->fl_sent == NULL || x->fl_dbl == NULL || x->fl_rep == NULL ||
        x->due == NULL)
        goto nomem;
    if ((rc = pl_fs_mkdir(root, "xfer")) != 0 && rc != PL_EEXIST)
        goto io;
    /* Staged already (a crash after the rename): only the hash is left
     * to check, in ota_xfer_finish(). */
    if (pl_fs_stat(root, x->done, 0, &st) == 0 && st.size == xf->size) {
        x->from_done = true;
        memset(x->have, 0xff, (x->n + 7) / 8);
        x->have_count = x->n;
        x->done_bytes = xf->size;
        *out = x;
        return VMF_OK;
    }
    if ((rc = pl_fs_open(root, x->part, PL_O_READ | PL_O_WRITE | PL_O_CREATE,
                         &x->f)) != 0 ||
        (rc = pl_file_truncate(&x->f, xf->size)) != 0)
        goto io;
    load_map(x);
    *out = x;
    return VMF_OK;
io:
    snprintf(msg, msglen, "transfer '%s': %s", xf->id, pl_strerror(rc));
    ota_xfer_close(x);
    return VMF_E_IO;
nomem:
    snprintf(msg, msglen, "transfer '%s': out of memory", xf->id);
    ota_xfer_close(x);
    return VMF_E_INTERNAL;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* The first timeout of a request: the configured one, or more on a link
 * whose measured round trip says so (a slow link with a window of chunks
 * queued ahead), so that chunks still on their way are not asked for
 * twice.  Taken when it is checked, so it follows the estimate. */
static uint32_t
first_timeout(const ota_xfer_t *x)
{
    uint64_t rto;

    if (!x->rtt_known)
        return x->cfg.timeout_ms;
    rto = (uint64_t)x->srtt_ms + 4u * (uint64_t)x->rttvar_ms;
    if (rto < x->cfg.timeout_ms)
        return x->cfg.timeout_ms;
    return rto > OTA_XFER_TIMEOUT_MAX_MS ? OTA_XFER_TIMEOUT_MAX_MS
                                         : (uint32_t)rto;
}

/* One round-trip sample (RFC 6298, 2.2 and 2.3). */
static void
rtt_sample(ota_xfer_t *x, uint64_t r)
{
    uint32_t d;

    if (r > OTA_XFER_TIMEOUT_MAX_MS)
        r = OTA_XFER_TIMEOUT_MAX_MS;
    if (!x->rtt_known) {
        x->srtt_ms = (uint32_t)r;
        x->rttvar_ms = (uint32_t)r / 2;
        x->rtt_known = true;
        return;
    }
    d = x->srtt_ms > r ? x->srtt_ms - (uint32_t)r : (uint32_t)r - x->srtt_ms;
    x->rttvar_ms = (3 * x->rttvar_ms + d) / 4;
    x->srtt_ms = (7 * x->srtt_ms + (uint32_t)r) / 8;
}

/* Chunk slot k's timeout: the first one, doubled per repeat. */
static uint64_t
timeout(const ota_xfer_t *x, uint32_t k)
{
    uint64_t t = (uint64_t)first_timeout(x) << x->fl_dbl[k];

    return t < OTA_XFER_TIMEOUT_MAX_MS ? t : OTA_XFER_TIMEOUT_MAX_MS;
}

/*
 * When chunk slot k is due again: its timeout counted from when it was
 * asked or from the last chunk that arrived, whichever is later.  While
 * chunks keep coming the link is alive, only slow: on a link slower than
 * a window per timeout (a cellular modem, a throttled uplink) the rest
 * are queued behind them, and asking again would only queue copies.
 * Chunks are not lost on a live MQTT session (QoS 1), so a repeat is for
 * a stalled stream: vmctld restarted, or the broker lost the session.
 */
static uint64_t
due_at(const ota_xfer_t *x, uint32_t k)
{
    uint64_t from = x->fl_sent[k] > x->last_rx_ms ? x->fl_sent[k]
                                                   : x->last_rx_ms;

    return from + timeout(x, k);
}

/* Ask for the chunks in x->due, coalesced into runs. */
static void
send_due(ota_xfer_t *x)
{
    uint32_t i = 0, first, count;

    qsort(x->due, x->ndue, sizeof(*x->due), cmp_u32);
    while (i < x->ndue) {
        first = x->due[i];
        count = 1;
        while (i + count < x->ndue && count < VMF_REQ_CHUNKS_MAX &&
               x->due[i + count] == first + count)
            count++;
        x->ops->send_req(x->ops->arg, x->x.id, first, count);
        i += count;
    }
    x->ndue = 0;
}

vmf_code_t
ota_xfer_pump(ota_xfer_t *x, uint64_t now_ms, uint64_t *next_ms)
{
    uint64_t next = now_ms + 1000, t;
    uint32_t i;

    if (x->from_done || x->have_count == x->n) {
        *next_ms = next;
        return VMF_OK;
    }
    x->ndue = 0;
    /* Repeats first: they are the oldest asks. */
    for (i = 0; i < x->nfl; i++) {
        if (x->resend_all) {
            /* Lost with the connection, not slow: no doubling. */
            x->fl_sent[i] = now_ms;
            x->fl_rep[i] = 1;
            x->due[x->ndue++] = x->fl[i];
        } else if (now_ms >= due_at(x, i)) {
            if (x->fl_dbl[i] < 16)
                x->fl_dbl[i]++;
            x->fl_sent[i] = now_ms;
            x->fl_rep[i] = 1;
            x->due[x->ndue++] = x->fl[i];
            ota__debug("transfer %s: chunk %u timed out; asking again",
                       x->x.id, (unsigned)x->fl[i]);
        }
    }
    x->resend_all = false;
    while (x->nfl < x->cfg.window && x->next_new < x->n) {
        i = x->next_new++;
        if (has(x, i))
            continue;
        x->fl[x->nfl] = i;
        x->fl_sent[x->nfl] = now_ms;
        x->fl_dbl[x->nfl] = 0;
        x->fl_rep[x->nfl] = 0;
        x->nfl++;
        x->due[x->ndue++] = i;
    }
    send_due(x);
    for (i = 0; i < x->nfl; i++) {
        t = due_at(x, i);
        if (t < next)
            next = t;
    }
    if (x->unsynced > 0) {
        t = x->last_sync_ms + OTA_XFER_SYNC_MS;
        if (now_ms >= t) {
            if (persist(x, now_ms) != 0)
                return VMF_E_IO;
        } else if (t < next) {
            next = t;
        }
    }
    *next_ms = next;
    return VMF_OK;
}

static int
fl_find(const ota_xfer_t *x, uint32_t idx)
{
    uint32_t i;

    for (i = 0; i < x->nfl; i++)
        if (x->fl[i] == idx)
            return (int)i;
    return -1;
}

static void
fl_drop(ota_xfer_t *x, int k)
{
    uint32_t last = --x->nfl;

    x->fl[k] = x->fl[last];
    x->fl_sent[k] = x->fl_sent[last];
    x->fl_dbl[k] = x->fl_dbl[last];
    x->fl_rep[k] = x->fl_rep[last];
}

vmf_code_t
ota_xfer_on_chunk(ota_xfer_t *x, const vmf_chunk_t *c, uint64_t now_ms,
                  char *msg, size_t msglen)
{
    uint32_t i = c->index;
    int k, rc;

    if (strcmp(c->xfer_id, x->x.id) != 0 || i >= x->n || x->from_done)
        return VMF_OK;
    /* Even a copy or a damaged one: the stream is moving (due_at()). */
    if (now_ms > x->last_rx_ms)
        x->last_rx_ms = now_ms;
    if (has(x, i))
        return VMF_OK;
    k = fl_find(x, i);
    if (c->len != chunk_len(x, i) || vmf_crc32(c->data, c->len) != c->crc32) {
        if (++x->bad[i] >= OTA_XFER_BAD_MAX) {
            snprintf(msg, msglen, "transfer %s: chunk %u failed its checksum "
                     "%d times", x->x.id, (unsigned)i, OTA_XFER_BAD_MAX);
            return VMF_E_CORRUPT_CHUNK;
        }
        ota__log("transfer %s: chunk %u failed its checksum; asking again",
                 x->x.id, (unsigned)i);
        /* Ask again now, with the same timeout. */
        if (k >= 0)
            x->fl_sent[k] = now_ms;
        x->ops->send_req(x->ops->arg, x->x.id, i, 1);
        return VMF_OK;
    }
    if ((rc = ota__file_pwrite(&x->f, c->data, c->len,
                               (uint64_t)i * x->x.chunk_size)) != 0) {
        snprintf(msg, msglen, "transfer %s: writing chunk %u: %s", x->x.id,
                 (unsigned)i, pl_strerror(rc));
        return VMF_E_IO;
    }
    x->have[i / 8] |= (uint8_t)(1u << (i % 8));
    x->have_count++;
    x->done_bytes += c->len;
    if (k >= 0) {
        /* Karn: a chunk asked for twice gives no sample (which ask did
         * it answer?). */
        if (!x->fl_rep[k] && now_ms >= x->fl_sent[k])
            rtt_sample(x, now_ms - x->fl_sent[k]);
        fl_drop(x, k);
    }
    if (++x->unsynced >= OTA_XFER_SYNC_CHUNKS ||
        now_ms >= x->last_sync_ms + OTA_XFER_SYNC_MS) {
        if ((rc = persist(x, now_ms)) != 0) {
            snprintf(msg, msglen, "transfer %s: saving its map: %s",
                     x->x.id, pl_strerror(rc));
            return VMF_E_IO;
        }
    }
    return VMF_OK;
}

void
ota_xfer_reconnected(ota_xfer_t *x, bool resumed, uint64_t now_ms)
{
    uint32_t i;

    if (!resumed) {
        x->resend_all = true;
        return;
    }
    /* The doublings while the link was down said nothing about it; and
     * an answer now would not time one round trip. */
    for (i = 0; i < x->nfl; i++) {
        x->fl_dbl[i] = 0;
        x->fl_rep[i] = 1;
    }
    ota_xfer_offline(x, now_ms);
}

void
ota_xfer_offline(ota_xfer_t *x, uint64_t now_ms)
{
    if (now_ms > x->last_rx_ms)
        x->last_rx_ms = now_ms;
}

bool
ota_xfer_complete(const ota_xfer_t *x)
{
    return x->have_count == x->n;
}

uint64_t
ota_xfer_done_bytes(const ota_xfer_t *x)
{
    return x->done_bytes;
}

uint32_t
ota_xfer_inflight(const ota_xfer_t *x)
{
    return x->nfl;
}

vmf_code_t
ota_xfer_finish(ota_xfer_t *x, uint8_t **data, size_t *len, char *msg,
                size_t msglen)
{
    uint8_t h[32], *buf = NULL;
    size_t n = 0;
    int rc;

    if (!x->from_done) {
        if ((rc = pl_file_sync(&x->f)) != 0)
            goto io;
        pl_file_close(&x->f);
        if ((rc = pl_fs_rename(x->root, x->part, x->done)) != 0)
            goto io;
        ota__dir_sync(x->root, x->done);
        pl_fs_unlink(x->root, x->map);
        x->from_done = true;
    }
    if ((rc = ota__read_file(x->root, x->done, 0, &buf, &n)) != 0)
        goto io;
    if (n != x->x.size || vmf_sha256(buf, n, h) != 0 ||
        memcmp(h, x->x.sha256, 32) != 0) {
        free(buf);
        ota_xfer_remove(x->root, x->x.id);
        snprintf(msg, msglen, "transfer %s: %zu bytes do not match its "
                 "SHA-256", x->x.id, n);
        return VMF_E_TRANSFER_HASH;
    }
    *data = buf;
    *len = n;
    return VMF_OK;
io:
    snprintf(msg, msglen, "transfer %s: staging: %s", x->x.id,
             pl_strerror(rc));
    return VMF_E_IO;
}

void
ota_xfer_close(ota_xfer_t *x)
{
    if (x == NULL)
        return;
    if (x->unsynced > 0 && !x->from_done)
        persist(x, x->last_sync_ms);
    pl_file_close(&x->f);
    free(x->have);
    free(x->bad);
    free(x->fl);
    free(x->fl_sent);
    free(x->fl_dbl);
    free(x->fl_rep);
    free(x->due);
    free(x);
}

void
ota_xfer_remove(const pl_root_t *root, const char *id)
{
    static const char *const ext[] = { "part", "map", "done", "map.tmp" };
    char name[VMF_ID_MAX + 24];
    size_t i;

    for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
        snprintf(name, sizeof(name), "xfer/%s.%s", id, ext[i]);
        pl_fs_unlink(root, name);
    }
}
