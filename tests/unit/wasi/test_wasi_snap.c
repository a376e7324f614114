/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The WASI snapshot hook: its section is checked byte by byte (hostile
 * bytes are an error, never a crash, and leave the context unchanged),
 * and a pending sleep survives a save and restore as remaining time.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "vmrt/vmrt.h"
#include "vmrt/wasi.h"

#define SEC_LEN (3 + 3 + 36 + 4) /* version..flags, poll, exit code */
#define REMAINING_NS 5000000000ull
#define SLACK_NS 2000000000ull

static void
put32(uint8_t *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* A valid section: fd 1 closed, a pending poll, exit code 42. */
static void
make_section(uint8_t s[SEC_LEN])
{
    memset(s, 0, SEC_LEN);
    s[0] = 1;                /* version */
    s[1] = 3;                /* fds */
    s[2] = 1, s[3] = 0, s[4] = 1;
    s[5] = 3;                /* pending | exited */
    put32(s + 6, 1024);      /* in */
    put32(s + 10, 2048);     /* out */
    put32(s + 14, 2);        /* n */
    put64(s + 18, REMAINING_NS);
    put64(s + 26, 1000);     /* elapsed */
    put64(s + 34, 12345);    /* wall-clock start */
    put32(s + 42, 42);       /* exit code */
}

static void
test_wasi_snap_load_sets_deadline_from_remaining(void **state)
{
    vmrt_wasi_t *w = vmrt_wasi_create(NULL);
    vmrt_snap_hook_t h;
    uint8_t s[SEC_LEN];
    uint64_t before, wake;
    uint32_t code = 0;

    (void)state;
    assert_non_null(w);
    h = vmrt_wasi_snapshot_hook(w);
    assert_int_equal(h.tag, VMRT_SNAP_TAG('W', 'A', 'S', 'I'));
    make_section(s);
    before = pl_time_mono_ns();
    assert_int_equal(h.load(h.ctx, NULL, s, sizeof(s)), 0);
    wake = vmrt_wasi_wake_time(w);
    assert_true(wake >= before + REMAINING_NS);
    assert_true(wake <= pl_time_mono_ns() + REMAINING_NS);
    assert_int_equal(vmrt_wasi_exit_code(w, &code), 1);
    assert_int_equal(code, 42);
    vmrt_wasi_destroy(w);
}

static void
test_wasi_snap_load_rejects_bad_bytes_unchanged(void **state)
{
    vmrt_wasi_t *w = vmrt_wasi_create(NULL);
    vmrt_snap_hook_t h;
    uint8_t s[SEC_LEN + 1], bad[SEC_LEN + 1];
    size_t n;

    (void)state;
    assert_non_null(w);
    h = vmrt_wasi_snapshot_hook(w);
    make_section(s);
    s[SEC_LEN] = 0;
    /* Every truncation, and a byte too many. */
    for (n = 0; n < SEC_LEN; n++)
        assert_int_equal(h.load(h.ctx, NULL, s, n), VMRT_ECORRUPT);
    assert_int_equal(h.load(h.ctx, NULL, s, SEC_LEN + 1), VMRT_ECORRUPT);
#define BAD(off, val, want)                                                  \
    do {                                                                     \
        memcpy(bad, s, sizeof(bad));                                         \
        bad[(off)] = (uint8_t)(val);                                         \
        assert_int_equal(h.load(h.ctx, NULL, bad, SEC_LEN), (want));         \
    } while (0)
    BAD(0, 0, VMRT_ECORRUPT);  /* version 0 */
    BAD(0, 3, VMRT_EVERSION);  /* a later version */
    BAD(1, 4, VMRT_ECORRUPT);  /* fd count */
    BAD(3, 2, VMRT_ECORRUPT);  /* unknown fd flag */
    BAD(5, 7, VMRT_ECORRUPT);  /* unknown flag */
    BAD(5, 1, VMRT_ECORRUPT);  /* no exit code, yet 4 bytes left */
    BAD(14, 0, VMRT_ECORRUPT); /* poll of 0 subscriptions */
    memcpy(bad, s, sizeof(bad));
    put32(bad + 14, 1025);     /* more than poll_oneoff accepts */
    assert_int_equal(h.load(h.ctx, NULL, bad, SEC_LEN), VMRT_ECORRUPT);
#undef BAD
    /* Nothing was applied by any failed load. */
    assert_int_equal(vmrt_wasi_wake_time(w), 0);
    assert_int_equal(vmrt_wasi_exit_code(w, NULL), 0);
    vmrt_wasi_destroy(w);
}

static void
test_wasi_snap_load_survives_every_bit_flip(void **state)
{
    vmrt_wasi_t *w = vmrt_wasi_create(NULL);
    vmrt_snap_hook_t h;
    uint8_t s[SEC_LEN], bad[SEC_LEN];
    size_t i;
    int bit, rc;

    (void)state;
    assert_non_null(w);
    h = vmrt_wasi_snapshot_hook(w);
    make_section(s);
    for (i = 0; i < SEC_LEN; i++)
        for (bit = 0; bit < 8; bit++) {
            memcpy(bad, s, sizeof(bad));
            bad[i] ^= (uint8_t)(1u << bit);
            rc = h.load(h.ctx, NULL, bad, sizeof(bad));
            assert_true(rc == 0 || rc == VMRT_ECORRUPT ||
                        rc == VMRT_EVERSION);
        }
    vmrt_wasi_destroy(w);
}

/* Save from one context and restore into another, through the engine. */
static void
test_wasi_snap_roundtrip_keeps_remaining_sleep(void **state)
{
    static const uint8_t empty[] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };
    char err[256] = "";
    vmrt_module_t *mod = NULL;
    vmrt_instance_t *a = NULL, *b = NULL;
    vmrt_wasi_t *wa = vmrt_wasi_create(NULL), *wb = vmrt_wasi_create(NULL);
    vmrt_snap_hook_t ha, hb;
    uint8_t s[SEC_LEN], *snap = NULL;
    size_t len = 0;
    uint64_t before, wake;
    uint32_t code = 0;

    (void)state;
    assert_non_null(wa);
    assert_non_null(wb);
    ha = vmrt_wasi_snapshot_hook(wa);
    hb = vmrt_wasi_snapshot_hook(wb);
    make_section(s);
    assert_int_equal(ha.load(ha.ctx, NULL, s, sizeof(s)), 0);
    assert_int_equal(vmrt_module_load(empty, sizeof(empty), &mod, err,
                                      sizeof(err)), 0);
    assert_int_equal(vmrt_instance_create(mod, NULL, NULL, &a, err,
                                          sizeof(err)), 0);
    assert_int_equal(vmrt_instance_create(mod, NULL, NULL, &b, err,
                                          sizeof(err)), 0);
    assert_int_equal(vmrt_snapshot_save(a, &ha, 1, &snap, &len), 0);
    before = pl_time_mono_ns();
    assert_int_equal(vmrt_snapshot_restore(b, snap, len, &hb, 1, err,
                                           sizeof(err)), 0);
    wake = vmrt_wasi_wake_time(wb);
    /* About REMAINING_NS from now: the save took a moment off it. */
    assert_true(wake + SLACK_NS >= before + REMAINING_NS);
    assert_true(wake <= pl_time_mono_ns() + REMAINING_NS);
    assert_int_equal(vmrt_wasi_exit_code(wb, &code), 1);
    assert_int_equal(code, 42);
    vmrt_snapshot_free(snap);
    vmrt_instance_free(b);
    vmrt_instance_free(a);
    vmrt_module_free(mod);
    vmrt_wasi_destroy(wb);
    vmrt_wasi_destroy(wa);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wasi_snap_load_sets_deadline_from_remaining),
        cmocka_unit_test(test_wasi_snap_load_rejects_bad_bytes_unchanged),
        cmocka_unit_test(test_wasi_snap_load_survives_every_bit_flip),
        cmocka_unit_test(test_wasi_snap_roundtrip_keeps_remaining_sleep),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
