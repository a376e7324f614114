/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The transfer engine with a fake clock and a fake "send request": the
 * window, timeouts and their doubling, corrupt chunks, the hash check,
 * atomic staging, and resume from the persisted bitmap after a simulated
 * crash (an older map, or a torn one).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ota_xfer.h"
#include "vmf/vpk.h"

#define CHUNK 100u
#define MAXREQ 4096

typedef struct {
    char dir[64];
    pl_root_t root;
    uint8_t *data;            /* the whole transfer */
    size_t size;
    vmf_xfer_t x;
    /* Requests seen, one chunk index each (runs expanded). */
    uint32_t req[MAXREQ];
    size_t nreq;
    size_t ncalls;
    uint32_t max_count;
} fx_t;

static int
fake_send(void *arg, const char *id, uint32_t first, uint32_t count)
{
    fx_t *f = arg;
    uint32_t i;

    assert_string_equal(id, f->x.id);
    assert_true(count >= 1 && count <= VMF_REQ_CHUNKS_MAX);
    f->ncalls++;
    if (count > f->max_count)
        f->max_count = count;
    for (i = 0; i < count && f->nreq < MAXREQ; i++)
        f->req[f->nreq++] = first + i;
    return 0;
}

static void
make_data(fx_t *f, size_t size)
{
    size_t i;

    free(f->data);
    f->data = malloc(size ? size : 1);
    for (i = 0; i < size; i++)
        f->data[i] = (uint8_t)(i * 7 + (i >> 8));
    f->size = size;
    memset(&f->x, 0, sizeof(f->x));
    snprintf(f->x.id, sizeof(f->x.id), "pkg-1");
    f->x.size = size;
    f->x.chunk_size = CHUNK;
    assert_int_equal(vmf_sha256(f->data, size, f->x.sha256), 0);
}

static int
setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ota-xfer-XXXXXX");
    if (pl_fs_mkdtemp(f->dir) != 0 ||
        pl_dir_open_root(&f->root, f->dir, 0) != 0)
        return -1;
    make_data(f, 10 * CHUNK + 50); /* 11 chunks, the last short */
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *f = *state;

    pl_dir_close_root(&f->root);
    pl_fs_remove_tree(f->dir);
    free(f->data);
    free(f);
    return 0;
}

static ota_xfer_t *
open_x(fx_t *f, uint32_t window, const ota_xfer_ops_t *ops)
{
    ota_xfer_cfg_t cfg = { window, 2000, 1u << 20 };
    ota_xfer_t *x = NULL;
    char msg[256];

    assert_int_equal(ota_xfer_open(&f->root, &f->x, &cfg, ops, &x, msg,
                                   sizeof(msg)), VMF_OK);
    return x;
}

/* Deliver chunk i (optionally damaged). */
static vmf_code_t
deliver(fx_t *f, ota_xfer_t *x, uint32_t i, bool damage, uint64_t now)
{
    uint8_t buf[CHUNK];
    vmf_chunk_t c;
    char msg[256];
    size_t off = (size_t)i * CHUNK;

    vmf_chunk_init(&c);
    snprintf(c.xfer_id, sizeof(c.xfer_id), "%s", f->x.id);
    c.index = i;
    c.len = f->size - off < CHUNK ? f->size - off : CHUNK;
    memcpy(buf, f->data + off, c.len);
    c.crc32 = vmf_crc32(buf, c.len);
    if (damage)
        buf[0] ^= 1;
    c.data = buf;
    return ota_xfer_on_chunk(x, &c, now, msg, sizeof(msg));
}

static bool
requested(const fx_t *f, size_t from, uint32_t idx)
{
    size_t i;

    for (i = from; i < f->nreq; i++)
        if (f->req[i] == idx)
            return true;
    return false;
}

static void
test_xfer_window_and_timeouts(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_t *x = open_x(f, 4, &ops);
    uint64_t next;
    size_t mark;

    /* t=0: the first window, as one coalesced request. */
    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK);
    assert_int_equal(f->nreq, 4);
    assert_int_equal(f->ncalls, 1);
    assert_int_equal(f->req[0], 0);
    assert_int_equal(f->req[3], 3);
    assert_int_equal(ota_xfer_inflight(x), 4);
    assert_true(next > 0 && next <= 2000);

    /* Nothing more while the window is full. */
    assert_int_equal(ota_xfer_pump(x, 100, &next), VMF_OK);
    assert_int_equal(f->nreq, 4);

    /* Two answers make room for two more. */
    assert_int_equal(deliver(f, x, 0, false, 200), VMF_OK);
    assert_int_equal(deliver(f, x, 1, false, 200), VMF_OK);
    assert_int_equal(ota_xfer_pump(x, 200, &next), VMF_OK);
    assert_int_equal(f->nreq, 6);
    assert_true(requested(f, 4, 4) && requested(f, 4, 5));
    assert_int_equal(ota_xfer_inflight(x), 4);

    /* A deadline counts from the ask or from the last chunk that came,
     * whichever is later: chunks came at 200, so at 2000 nothing is due
     * yet; at 2200, with nothing since, all four are asked again (2 and
     * 3 asked at 0, 4 and 5 at 200). */
    mark = f->nreq;
    assert_int_equal(ota_xfer_pump(x, 2000, &next), VMF_OK);
    assert_int_equal(f->nreq, mark);
    assert_int_equal(ota_xfer_pump(x, 2200, &next), VMF_OK);
    assert_int_equal(f->nreq, mark + 4);
    assert_true(requested(f, mark, 2) && requested(f, mark, 3));
    assert_true(requested(f, mark, 4) && requested(f, mark, 5));
    assert_int_equal(ota_xfer_inflight(x), 4);

    /* Their timeout doubled: not again at 4200, but at 6200. */
    mark = f->nreq;
    assert_int_equal(ota_xfer_pump(x, 4200, &next), VMF_OK);
    assert_int_equal(f->nreq, mark);
    assert_int_equal(ota_xfer_pump(x, 6200, &next), VMF_OK);
    assert_true(requested(f, mark, 2) && requested(f, mark, 3));

    /* After a reconnect on a new session everything in flight is asked
     * for at once. */
    mark = f->nreq;
    ota_xfer_reconnected(x, false, 6201);
    assert_int_equal(ota_xfer_pump(x, 6201, &next), VMF_OK);
    assert_int_equal(f->nreq, mark + 4);
    ota_xfer_close(x);
}

/* A slow link: a window takes longer than the timeout to arrive, but as
 * long as chunks keep coming nothing is asked twice; when they stop, what
 * is missing is asked again one timeout after the last arrival, and
 * that timeout has grown with the measured round trips. */
static void
test_xfer_slow_link_no_copies(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_t *x = open_x(f, 4, &ops);
    uint64_t next, t;
    uint32_t i;
    size_t mark;

    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK); /* 0..3 */
    /* One chunk every 1500 ms (a window per 6 s, timeout 2 s). */
    for (i = 0, t = 1500; i < 4; i++, t += 1500) {
        assert_int_equal(deliver(f, x, i, false, t), VMF_OK);
        assert_int_equal(ota_xfer_pump(x, t, &next), VMF_OK);
        assert_int_equal(f->nreq, 5 + i); /* only the new one, 4 + i */
        assert_true(requested(f, f->nreq - 1, 4 + i));
        assert_int_equal(ota_xfer_pump(x, t + 1499, &next), VMF_OK);
        assert_int_equal(f->nreq, 5 + i);
    }
    /* The stream stops after t = 6000.  The round trips (1.5 to 6 s)
     * give a timeout of 10713 ms (srtt 2533 + 4 x rttvar 2045, as TCP's
     * RTO), counted from 6000: not the configured 2 s. */
    mark = f->nreq;
    assert_int_equal(ota_xfer_pump(x, 8000, &next), VMF_OK);
    assert_int_equal(ota_xfer_pump(x, 16712, &next), VMF_OK);
    assert_int_equal(f->nreq, mark);
    assert_int_equal(ota_xfer_pump(x, 16713, &next), VMF_OK);
    assert_int_equal(f->nreq, mark + 4);
    for (i = 4; i < 8; i++)
        assert_true(requested(f, mark, i));
    ota_xfer_close(x);
}

/* Offline, nothing times out; back on a resumed session (the broker
 * still delivers what it kept), nothing is asked at once, and what has
 * not come one first timeout later (not a doubled one) is asked again. */
static void
test_xfer_offline_and_resumed_session(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_t *x = open_x(f, 4, &ops);
    uint64_t next, t;
    size_t mark;

    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK); /* 0..3 */
    /* Link up but silent: 0..3 time out at 2000 and double to 4000. */
    assert_int_equal(ota_xfer_pump(x, 2000, &next), VMF_OK);
    assert_int_equal(f->nreq, 8);
    /* Offline from 2500 to 20000: no request, whatever the timeouts. */
    for (t = 2500; t <= 20000; t += 500) {
        ota_xfer_offline(x, t);
        assert_int_equal(ota_xfer_pump(x, t, &next), VMF_OK);
    }
    assert_int_equal(f->nreq, 8);
    /* Resumed at 20000: nothing at once; the broker's copy of 0 comes. */
    ota_xfer_reconnected(x, true, 20000);
    assert_int_equal(ota_xfer_pump(x, 20000, &next), VMF_OK);
    assert_int_equal(f->nreq, 8);
    assert_int_equal(deliver(f, x, 0, false, 20500), VMF_OK);
    assert_int_equal(ota_xfer_pump(x, 20500, &next), VMF_OK);
    assert_int_equal(f->nreq, 9); /* only the new one, 4 */
    assert_true(requested(f, 8, 4));
    /* Nothing more comes: 1..3 are asked again at 22500 (2000 after the
     * last arrival, not their doubled 4000), 4 with them. */
    mark = f->nreq;
    assert_int_equal(ota_xfer_pump(x, 22499, &next), VMF_OK);
    assert_int_equal(f->nreq, mark);
    assert_int_equal(ota_xfer_pump(x, 22500, &next), VMF_OK);
    assert_int_equal(f->nreq, mark + 4);
    assert_true(requested(f, mark, 1) && requested(f, mark, 2) &&
                requested(f, mark, 3) && requested(f, mark, 4));
    ota_xfer_close(x);
}

static void
test_xfer_completes_and_stages(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_t *x = open_x(f, 8, &ops);
    uint8_t *data = NULL;
    size_t len = 0, i, n = 11;
    uint64_t next, now = 0;
    char msg[256];
    pl_stat_t st;

    /* Serve every request until done, out of order within a batch. */
    while (!ota_xfer_complete(x)) {
        size_t from = f->nreq;

        assert_int_equal(ota_xfer_pump(x, now, &next), VMF_OK);
        assert_true(ota_xfer_inflight(x) <= 8);
        for (i = f->nreq; i-- > from;)
            assert_int_equal(deliver(f, x, f->req[i], false, now), VMF_OK);
        /* Duplicates are ignored. */
        if (f->nreq > from)
            assert_int_equal(deliver(f, x, f->req[from], false, now),
                             VMF_OK);
        now += 10;
        assert_true(now < 10000);
    }
    assert_int_equal(ota_xfer_done_bytes(x), f->size);
    assert_int_equal(f->nreq, n); /* each chunk asked for once */
    assert_int_equal(ota_xfer_finish(x, &data, &len, msg, sizeof(msg)),
                     VMF_OK);
    assert_int_equal(len, f->size);
    assert_memory_equal(data, f->data, len);
    free(data);
    ota_xfer_close(x);
    assert_int_equal(pl_fs_stat(&f->root, "xfer/pkg-1.done", 0, &st), 0);
    assert_int_not_equal(pl_fs_stat(&f->root, "xfer/pkg-1.part", 0, &st),
                         0);
    ota_xfer_remove(&f->root, "pkg-1");
    assert_int_not_equal(pl_fs_stat(&f->root, "xfer/pkg-1.done", 0, &st),
                         0);
}

static void
test_xfer_third_bad_copy_is_corrupt(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_t *x = open_x(f, 4, &ops);
    uint64_t next;
    size_t mark;

    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK);
    mark = f->nreq;
    assert_int_equal(deliver(f, x, 2, true, 10), VMF_OK);
    assert_true(requested(f, mark, 2)); /* asked again at once */
    assert_int_equal(deliver(f, x, 2, true, 20), VMF_OK);
    assert_int_equal(deliver(f, x, 2, true, 30), VMF_E_CORRUPT_CHUNK);
    ota_xfer_close(x);
}

static void
test_xfer_hash_mismatch(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_t *x;
    uint8_t *data = NULL;
    size_t len = 0;
    uint64_t next;
    uint32_t i;
    char msg[256];
    pl_stat_t st;

    f->x.sha256[0] ^= 1; /* the server announced a different digest */
    x = open_x(f, 16, &ops);
    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK);
    for (i = 0; i < 11; i++)
        assert_int_equal(deliver(f, x, i, false, 0), VMF_OK);
    assert_true(ota_xfer_complete(x));
    assert_int_equal(ota_xfer_finish(x, &data, &len, msg, sizeof(msg)),
                     VMF_E_TRANSFER_HASH);
    assert_null(data);
    ota_xfer_close(x);
    /* Nothing staged is left to be mistaken for a good transfer. */
    assert_int_not_equal(pl_fs_stat(&f->root, "xfer/pkg-1.done", 0, &st),
                         0);
}

static void
test_xfer_too_large_asks_nothing(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    ota_xfer_cfg_t cfg = { 8, 2000, 1000 };
    ota_xfer_t *x = NULL;
    char msg[256];
    pl_stat_t st;

    assert_int_equal(ota_xfer_open(&f->root, &f->x, &cfg, &ops, &x, msg,
                                   sizeof(msg)), VMF_E_TOO_LARGE);
    assert_null(x);
    assert_int_equal(f->nreq, 0);
    assert_int_not_equal(pl_fs_stat(&f->root, "xfer/pkg-1.part", 0, &st),
                         0);
}

/* Read or write a whole file beneath the fixture's dir. */
static size_t
file_get(fx_t *f, const char *name, uint8_t *buf, size_t cap)
{
    char path[128];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    assert_non_null(fp = fopen(path, "rb"));
    n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static void
file_put(fx_t *f, const char *name, const uint8_t *buf, size_t len)
{
    char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    assert_non_null(fp = fopen(path, "wb"));
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

/* Serve requests until complete; return how many chunks were asked. */
static size_t
serve_all(fx_t *f, ota_xfer_t *x, uint64_t now)
{
    size_t start = f->nreq, i;
    uint64_t next;

    while (!ota_xfer_complete(x)) {
        size_t from = f->nreq;

        assert_int_equal(ota_xfer_pump(x, now, &next), VMF_OK);
        for (i = from; i < f->nreq; i++)
            assert_int_equal(deliver(f, x, f->req[i], false, now), VMF_OK);
        assert_true(f->nreq < MAXREQ);
    }
    return f->nreq - start;
}

static void
test_xfer_resumes_after_crash(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    static uint8_t map64[8192];
    uint8_t *data = NULL;
    size_t maplen, len = 0, asked;
    ota_xfer_t *x;
    uint64_t next;
    uint32_t i;
    char msg[256];

    make_data(f, 200 * CHUNK); /* 200 chunks */
    x = open_x(f, 128, &ops);
    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK);
    /* The clock stands still: only the 64-chunk rule persists. */
    for (i = 0; i < 70; i++)
        assert_int_equal(deliver(f, x, i, false, 1), VMF_OK);
    maplen = file_get(f, "xfer/pkg-1.map", map64, sizeof(map64));
    assert_true(maplen > 0);
    ota_xfer_close(x);
    /* kill -9 after chunk 70: the map on disk is the one after 64. */
    file_put(f, "xfer/pkg-1.map", map64, maplen);

    f->nreq = 0;
    x = open_x(f, 128, &ops);
    assert_int_equal(ota_xfer_done_bytes(x), 64 * CHUNK);
    asked = serve_all(f, x, 5000);
    assert_int_equal(asked, 200 - 64); /* only what the map lacked */
    assert_false(requested(f, 0, 10));
    assert_int_equal(ota_xfer_finish(x, &data, &len, msg, sizeof(msg)),
                     VMF_OK);
    assert_memory_equal(data, f->data, f->size);
    free(data);
    ota_xfer_close(x);

    /* A crash after the rename: the .done is picked up, nothing asked. */
    f->nreq = 0;
    x = open_x(f, 128, &ops);
    assert_true(ota_xfer_complete(x));
    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK);
    assert_int_equal(f->nreq, 0);
    assert_int_equal(ota_xfer_finish(x, &data, &len, msg, sizeof(msg)),
                     VMF_OK);
    assert_int_equal(len, f->size);
    free(data);
    ota_xfer_close(x);
}

static void
test_xfer_torn_map_starts_over(void **state)
{
    fx_t *f = *state;
    ota_xfer_ops_t ops = { fake_send, f };
    static uint8_t map[8192];
    uint8_t *data = NULL;
    size_t maplen, len = 0;
    ota_xfer_t *x;
    uint64_t next;
    uint32_t i;
    char msg[256];

    make_data(f, 100 * CHUNK);
    x = open_x(f, 128, &ops);
    assert_int_equal(ota_xfer_pump(x, 0, &next), VMF_OK);
    for (i = 0; i < 80; i++)
        assert_int_equal(deliver(f, x, i, false, 1), VMF_OK);
    ota_xfer_close(x);
    maplen = file_get(f, "xfer/pkg-1.map", map, sizeof(map));
    /* Torn: cut in the bitmap; or flipped: the CRC no longer matches. */
    file_put(f, "xfer/pkg-1.map", map, maplen / 2);
    f->nreq = 0;
    x = open_x(f, 128, &ops);
    assert_int_equal(ota_xfer_done_bytes(x), 0);
    ota_xfer_close(x);
    map[maplen - 6] ^= 0x10;
    file_put(f, "xfer/pkg-1.map", map, maplen);
    x = open_x(f, 128, &ops);
    assert_int_equal(ota_xfer_done_bytes(x), 0);
    assert_int_equal(serve_all(f, x, 0), 100);
    assert_int_equal(ota_xfer_finish(x, &data, &len, msg, sizeof(msg)),
                     VMF_OK);
    assert_memory_equal(data, f->data, f->size);
    free(data);
    ota_xfer_close(x);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_xfer_slow_link_no_copies,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_offline_and_resumed_session,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_window_and_timeouts,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_completes_and_stages,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_third_bad_copy_is_corrupt,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_hash_mismatch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_xfer_too_large_asks_nothing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_resumes_after_crash,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_xfer_torn_map_starts_over,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
