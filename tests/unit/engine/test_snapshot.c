/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of snapshots (engine/snapshot.c, engine/hash.c).
 *
 * The guest is snap_test.wat, embedded at build time.  A "resumed" run
 * saves a snapshot at every yield or blocked host call, throws the module
 * and instance away, loads the module again into a new instance, restores
 * and continues; its results and memory must equal an uninterrupted run's.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "engine/hash.h"
#include "vmrt/vmrt.h"

extern const unsigned char snap_test_wasm[];
extern const size_t snap_test_wasm_len;

/* ------------------------------------------------------------------ */
/* The guest and its host                                             */
/* ------------------------------------------------------------------ */

/*
 * host.slow blocks on two calls out of three; its result depends only on
 * its argument, so a re-issued call returns what the first would have.
 */
static uint32_t host_calls;

static int
host_slow(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    uint32_t x = (uint32_t)args[0];

    (void)inst;
    (void)ctx;
    if (host_calls++ % 3 != 2)
        return VMRT_HOST_BLOCK;
    results[0] = x * 3u + 1u;
    return 0;
}

#define TAG_TEST VMRT_SNAP_TAG('T', 'E', 'S', 'T')

static int
hook_save(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    uint8_t b[4];

    (void)ctx;
    (void)inst;
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(host_calls >> (8 * i));
    return vmrt_snap_write(w, b, sizeof(b));
}

static int
hook_load(void *ctx, vmrt_instance_t *inst, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)inst;
    if (len != 4)
        return VMRT_ECORRUPT;
    host_calls = (uint32_t)data[0] | (uint32_t)data[1] << 8 |
                 (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
    return 0;
}

static const vmrt_snap_hook_t test_hook = { TAG_TEST, NULL, hook_save,
                                            hook_load };

typedef struct {
    vmrt_module_t *mod;
    vmrt_linker_t *lk;
    vmrt_instance_t *inst;
} vm_t;

static void
vm_new_from(vm_t *vm, const uint8_t *bytes, size_t len)
{
    char err[128];

    memset(vm, 0, sizeof(*vm));
    assert_int_equal(vmrt_module_load(bytes, len, &vm->mod, err,
                                      sizeof(err)), 0);
    assert_non_null(vm->lk = vmrt_linker_create());
    assert_int_equal(vmrt_linker_define_func(vm->lk, "host", "slow", "(i)i",
                                             host_slow, NULL), 0);
    assert_int_equal(vmrt_instance_create(vm->mod, vm->lk, NULL, &vm->inst,
                                          err, sizeof(err)), 0);
}

static void
vm_new(vm_t *vm)
{
    vm_new_from(vm, snap_test_wasm, snap_test_wasm_len);
}

static void
vm_free(vm_t *vm)
{
    vmrt_instance_free(vm->inst);
    vmrt_linker_free(vm->lk);
    vmrt_module_free(vm->mod);
    memset(vm, 0, sizeof(*vm));
}

static uint32_t
export_func(vm_t *vm, const char *name)
{
    vmrt_extern_kind_t kind;
    uint32_t idx;

    assert_int_equal(vmrt_instance_find_export(vm->inst, name, &kind, &idx),
                     0);
    assert_int_equal(kind, VMRT_EXTERN_FUNC);
    return idx;
}

static void
vm_call(vm_t *vm, const char *name, const int32_t *arg)
{
    vmrt_val_t a;

    memset(&a, 0, sizeof(a));
    a.type = VMRT_I32;
    a.of.i32 = arg != NULL ? *arg : 0;
    assert_int_equal(vmrt_instance_call(vm->inst, export_func(vm, name), &a,
                                        arg != NULL ? 1 : 0), 0);
}

/* What a finished run left: its result, memory and the counter global. */
typedef struct {
    int status;
    vmrt_val_t result;
    uint8_t *mem;
    uint64_t memsize;
    int64_t cnt;
    unsigned snapshots;
} outcome_t;

static void
outcome_take(vm_t *vm, int status, outcome_t *o)
{
    uint8_t *mem = vmrt_instance_memory(vm->inst, &o->memsize);
    vmrt_val_t g;

    o->status = status;
    memset(&o->result, 0, sizeof(o->result));
    if (status == VMRT_RUN_DONE)
        assert_int_equal(vmrt_instance_results(vm->inst, &o->result, 1), 1);
    assert_non_null(o->mem = malloc(o->memsize));
    memcpy(o->mem, mem, o->memsize);
    assert_int_equal(vmrt_instance_global_get(vm->inst, 1, &g), 0);
    o->cnt = g.of.i64;
}

static void
outcome_free(outcome_t *o)
{
    free(o->mem);
    o->mem = NULL;
}

static void
run_plain(const char *name, int32_t arg, outcome_t *o)
{
    vm_t vm;
    int rc;

    host_calls = 0;
    vm_new(&vm);
    vm_call(&vm, name, &arg);
    do
        rc = vmrt_instance_run(vm.inst, UINT64_MAX, NULL);
    while (rc == VMRT_RUN_BLOCKED);
    outcome_take(&vm, rc, o);
    o->snapshots = 0;
    vm_free(&vm);
}

/*
 * Move `vm` to a new module and instance through a snapshot.  Every
 * `check`-th time, also check that saving the restored instance gives the
 * very same bytes.
 */
static void
migrate(vm_t *vm, bool check)
{
    uint8_t *snap, *again;
    size_t len, len2;
    char err[160];
    vm_t old = *vm;
    int rc;

    assert_int_equal(vmrt_snapshot_save(vm->inst, &test_hook, 1, &snap,
                                        &len), 0);
    host_calls = 0xdead; /* the hook must bring it back */
    /* Made before the old one is freed: no host address can be reused. */
    vm_new(vm);
    vm_free(&old);
    rc = vmrt_snapshot_restore(vm->inst, snap, len, &test_hook, 1, err,
                               sizeof(err));
    if (rc != 0)
        fail_msg("restore: %d %s", rc, err);
    if (check) {
        assert_int_equal(vmrt_snapshot_save(vm->inst, &test_hook, 1, &again,
                                            &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(again, snap, len);
        vmrt_snapshot_free(again);
    }
    vmrt_snapshot_free(snap);
}

static void
run_resumed(const char *name, int32_t arg, uint64_t fuel, outcome_t *o)
{
    vm_t vm;
    unsigned n = 0;
    int rc;

    host_calls = 0;
    vm_new(&vm);
    vm_call(&vm, name, &arg);
    for (;;) {
        rc = vmrt_instance_run(vm.inst, fuel, NULL);
        if (rc != VMRT_RUN_YIELD && rc != VMRT_RUN_BLOCKED)
            break;
        migrate(&vm, n % 16 == 0);
        n++;
    }
    outcome_take(&vm, rc, o);
    o->snapshots = n;
    vm_free(&vm);
}

static void
outcome_equal(const outcome_t *a, const outcome_t *b)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->result.type, b->result.type);
    assert_true(a->result.of.i64 == b->result.of.i64);
    assert_int_equal(a->memsize, b->memsize);
    assert_memory_equal(a->mem, b->mem, a->memsize);
    assert_true(a->cnt == b->cnt);
}

static const uint64_t budgets[] = { 1, 2, 3, 4, 5, 7, 11, 13, 17, 31, 64,
                                    100, 257, 1000, 4096 };

static void
compare_at_budgets(const char *name, int32_t arg)
{
    outcome_t want, got;

    run_plain(name, arg, &want);
    assert_int_equal(want.status, VMRT_RUN_DONE);
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        run_resumed(name, arg, budgets[i], &got);
        outcome_equal(&want, &got);
        if (budgets[i] <= 64)
            assert_true(got.snapshots > 0);
        outcome_free(&got);
    }
    outcome_free(&want);
}

/* ------------------------------------------------------------------ */
/* Hashes                                                             */
/* ------------------------------------------------------------------ */

static void
test_hash_xxh64_known_vectors(void **state)
{
    static const char spam[] = "Nobody inspects the spammish repetition";

    (void)state;
    assert_true(vmrt__xxh64("", 0, 0) == 0xEF46DB3751D8E999ull);
    assert_true(vmrt__xxh64("a", 1, 0) == 0xD24EC4F1A98C6E5Bull);
    assert_true(vmrt__xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
    assert_true(vmrt__xxh64(spam, sizeof(spam) - 1, 0) ==
                0xFBCEA83C8A378BF1ull);
    assert_true(vmrt__xxh64("xxhash", 6, 20141025) ==
                0xB559B98D844E0635ull);
}

static void
test_hash_sha256_known_vectors(void **state)
{
    static const uint8_t empty[32] = {
        0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
        0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
    };
    static const uint8_t abc[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad
    };
    /* 56 bytes: the padding needs a second block. */
    static const char two[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const uint8_t two_h[32] = {
        0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26,
        0x93, 0x0c, 0x3e, 0x60, 0x39, 0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff,
        0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1
    };
    uint8_t h[32];
    vm_t vm;

    (void)state;
    vmrt__sha256("", 0, h);
    assert_memory_equal(h, empty, 32);
    vmrt__sha256("abc", 3, h);
    assert_memory_equal(h, abc, 32);
    vmrt__sha256(two, sizeof(two) - 1, h);
    assert_memory_equal(h, two_h, 32);
    vm_new(&vm);
    vmrt__sha256(snap_test_wasm, snap_test_wasm_len, h);
    assert_memory_equal(vmrt_module_sha256(vm.mod), h, 32);
    vm_free(&vm);
}

/* ------------------------------------------------------------------ */
/* Round trips                                                        */
/* ------------------------------------------------------------------ */

static void
test_snapshot_loop_resumes_at_every_budget(void **state)
{
    (void)state;
    compare_at_budgets("loop", 300);
}

static void
test_snapshot_deep_recursion_resumes_at_every_budget(void **state)
{
    (void)state;
    compare_at_budgets("rec", 700);
}

static void
test_snapshot_funcrefs_survive(void **state)
{
    (void)state;
    compare_at_budgets("refs", 60);
}

static void
test_snapshot_blocked_host_call_is_reissued(void **state)
{
    outcome_t want, got;

    (void)state;
    run_plain("host", 20, &want);
    /* Unlimited fuel: every snapshot is taken at a blocked call. */
    run_resumed("host", 20, UINT64_MAX, &got);
    assert_int_equal(got.snapshots, 40);
    outcome_equal(&want, &got);
    outcome_free(&got);
    for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]); i++) {
        run_resumed("host", 20, budgets[i], &got);
        outcome_equal(&want, &got);
        outcome_free(&got);
    }
    outcome_free(&want);
}

static void
test_snapshot_idle_done_and_trap_states(void **state)
{
    vm_t vm;
    vmrt_val_t r;
    vmrt_trap_info_t ti;
    uint64_t size;
    uint8_t *mem;

    (void)state;
    vm_new(&vm);
    migrate(&vm, true); /* idle */
    vm_call(&vm, "segs", NULL);
    assert_int_equal(vmrt_instance_run(vm.inst, UINT64_MAX, NULL),
                     VMRT_RUN_DONE);
    migrate(&vm, true); /* done: results and dropped segments */
    assert_int_equal(vmrt_instance_results(vm.inst, &r, 1), 1);
    assert_int_equal(r.of.i32, 40); /* table[3] = $dbl from $passive */
    mem = vmrt_instance_memory(vm.inst, &size);
    assert_memory_equal(mem + 16000, "passive", 7);
    /* The segment stays dropped: table.init of 2 elements traps. */
    vm_call(&vm, "segs", NULL);
    assert_int_equal(vmrt_instance_run(vm.inst, UINT64_MAX, NULL),
                     VMRT_RUN_TRAP);
    migrate(&vm, true); /* trap */
    vmrt_instance_trap(vm.inst, &ti);
    assert_int_equal(ti.code, VMRT_TRAP_TABLE_OOB);
    vm_free(&vm);
}

static double
now_ms(void)
{
    struct timespec ts;

    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void
test_snapshot_one_mib_is_fast(void **state)
{
    vm_t vm, vm2;
    int32_t kib = 1024;
    uint8_t *snap;
    size_t len;
    double t0, t_save = 1e9, t_restore = 1e9;
    char err[128];

    (void)state;
    vm_new(&vm);
    vm_call(&vm, "touch", &kib);
    assert_int_equal(vmrt_instance_run(vm.inst, UINT64_MAX, NULL),
                     VMRT_RUN_DONE);
    for (int rep = 0; rep < 5; rep++) {
        t0 = now_ms();
        assert_int_equal(vmrt_snapshot_save(vm.inst, NULL, 0, &snap, &len),
                         0);
        if (now_ms() - t0 < t_save)
            t_save = now_ms() - t0;
        assert_true(len > 1024 * 1024 && len < 1024 * 1024 + 65536);
        vm_new(&vm2);
        t0 = now_ms();
        assert_int_equal(vmrt_snapshot_restore(vm2.inst, snap, len, NULL, 0,
                                               err, sizeof(err)), 0);
        if (now_ms() - t0 < t_restore)
            t_restore = now_ms() - t0;
        vm_free(&vm2);
        vmrt_snapshot_free(snap);
    }
    print_message("1 MiB touched: save %.3f ms, restore %.3f ms\n", t_save,
                  t_restore);
    /* The goal is 2 ms each; leave room for sanitizer builds. */
    assert_true(t_save < 50 && t_restore < 50);
    vm_free(&vm);
}

/* ------------------------------------------------------------------ */
/* Rejection                                                          */
/* ------------------------------------------------------------------ */

#define HDR_LEN 52u

/* A snapshot taken in the middle of a deep recursion. */
static uint8_t *
mid_snapshot(size_t *len)
{
    vm_t vm;
    int32_t d = 40;
    uint8_t *snap;

    host_calls = 0;
    vm_new(&vm);
    vm_call(&vm, "refs", &d);
    assert_int_equal(vmrt_instance_run(vm.inst, 333, NULL), VMRT_RUN_YIELD);
    assert_int_equal(vmrt_snapshot_save(vm.inst, &test_hook, 1, &snap, len),
                     0);
    vm_free(&vm);
    return snap;
}

static uint8_t *
rec_snapshot(size_t *len)
{
    vm_t vm;
    int32_t d = 50;
    uint8_t *snap;

    vm_new(&vm);
    vm_call(&vm, "rec", &d);
    assert_int_equal(vmrt_instance_run(vm.inst, 100, NULL), VMRT_RUN_YIELD);
    assert_int_equal(vmrt_snapshot_save(vm.inst, NULL, 0, &snap, len), 0);
    vm_free(&vm);
    return snap;
}

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
wr32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
reseal(uint8_t *buf, size_t len)
{
    uint64_t h = vmrt__xxh64(buf, len - 8, 0);

    for (int i = 0; i < 8; i++)
        buf[len - 8 + i] = (uint8_t)(h >> (8 * i));
}

/* Offset of the body of section `tag`. */
static size_t
section(const uint8_t *buf, size_t len, uint32_t tag)
{
    size_t off = HDR_LEN;

    while (off + 12 <= len - 8) {
        size_t slen = (size_t)rd32(buf + off + 4);
        if (rd32(buf + off) == tag)
            return off + 12;
        off += 12 + slen;
    }
    fail_msg("no section %08x", (unsigned)tag);
    return 0;
}

/* Restore a copy of buf into a new instance; run it a bit if accepted. */
static int
try_restore(const uint8_t *buf, size_t len)
{
    vm_t vm;
    char err[160];
    int rc;

    vm_new(&vm);
    rc = vmrt_snapshot_restore(vm.inst, buf, len, &test_hook, 1, err,
                               sizeof(err));
    if (rc != 0) {
        assert_true(err[0] != '\0' || rc == VMRT_ENOMEM);
    } else {
        for (int i = 0; i < 20; i++) {
            int st = vmrt_instance_run(vm.inst, 1000, NULL);
            if (st != VMRT_RUN_YIELD && st != VMRT_RUN_BLOCKED)
                break;
        }
    }
    vm_free(&vm);
    return rc;
}

static void
test_snapshot_truncations_are_rejected(void **state)
{
    size_t len;
    uint8_t *snap = mid_snapshot(&len);
    vm_t vm;

    (void)state;
    vm_new(&vm);
    for (size_t n = 0; n < len; n++) {
        int rc = vmrt_snapshot_restore(vm.inst, snap, n, &test_hook, 1, NULL,
                                       0);
        assert_int_equal(rc, VMRT_ECORRUPT);
    }
    assert_int_equal(vmrt_snapshot_restore(vm.inst, snap, len, &test_hook, 1,
                                           NULL, 0), 0);
    vm_free(&vm);
    vmrt_snapshot_free(snap);
}

static void
test_snapshot_bit_flips_are_rejected(void **state)
{
    size_t len;
    uint8_t *snap = mid_snapshot(&len);
    vm_t vm;

    (void)state;
    vm_new(&vm);
    /* Every bit of the first 2 KiB and the last 64 bytes, some elsewhere. */
    for (size_t bit = 0; bit < len * 8; bit++) {
        size_t byte = bit / 8;
        int rc;
        if (byte >= 2048 && byte + 64 < len && bit % 61 != 0)
            continue;
        snap[byte] ^= (uint8_t)(1u << (bit % 8));
        rc = vmrt_snapshot_restore(vm.inst, snap, len, &test_hook, 1, NULL,
                                   0);
        snap[byte] ^= (uint8_t)(1u << (bit % 8));
        assert_true(rc == VMRT_ECORRUPT ||
                    (byte >= 4 && byte < 8 && rc == VMRT_EVERSION));
    }
    vm_free(&vm);
    vmrt_snapshot_free(snap);
}

static void
test_snapshot_other_module_is_emismatch(void **state)
{
    static const uint8_t other[] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };
    size_t len;
    uint8_t *snap = mid_snapshot(&len);
    vmrt_module_t *m;
    vmrt_instance_t *inst;
    char err[128];

    (void)state;
    assert_int_equal(vmrt_module_load(other, sizeof(other), &m, NULL, 0), 0);
    assert_int_equal(vmrt_instance_create(m, NULL, NULL, &inst, NULL, 0), 0);
    assert_int_equal(vmrt_snapshot_restore(inst, snap, len, &test_hook, 1,
                                           err, sizeof(err)),
                     VMRT_EMISMATCH);
    assert_non_null(strstr(err, "another module"));
    vmrt_instance_free(inst);
    vmrt_module_free(m);
    vmrt_snapshot_free(snap);
}

/* vmrt_snapshot_check refuses, without an instance, what restore would. */
static void
test_snapshot_check_needs_no_instance(void **state)
{
    static const uint8_t other[] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };
    size_t len;
    uint8_t *snap = mid_snapshot(&len);
    vmrt_module_t *m;
    vm_t vm;
    char err[128];

    (void)state;
    vm_new(&vm);
    assert_int_equal(vmrt_snapshot_check(vm.mod, snap, len, err, sizeof(err)),
                     0);
    assert_int_equal(vmrt_module_load(other, sizeof(other), &m, NULL, 0), 0);
    assert_int_equal(vmrt_snapshot_check(m, snap, len, err, sizeof(err)),
                     VMRT_EMISMATCH);
    assert_non_null(strstr(err, "another module"));
    snap[len / 2] ^= 0x10;
    assert_int_equal(vmrt_snapshot_check(vm.mod, snap, len, err, sizeof(err)),
                     VMRT_ECORRUPT);
    assert_int_equal(vmrt_snapshot_check(vm.mod, snap, 10, err, sizeof(err)),
                     VMRT_ECORRUPT);
    vmrt_module_free(m);
    vm_free(&vm);
    vmrt_snapshot_free(snap);
}

static void
test_snapshot_next_version_is_eversion(void **state)
{
    size_t len;
    uint8_t *snap = mid_snapshot(&len);

    (void)state;
    wr32(snap + 4, rd32(snap + 4) + 1);
    reseal(snap, len);
    assert_int_equal(try_restore(snap, len), VMRT_EVERSION);
    /* Another translation of the module: its code print differs. */
    wr32(snap + 4, rd32(snap + 4) - 1);
    snap[44] ^= 1;
    reseal(snap, len);
    assert_int_equal(try_restore(snap, len), VMRT_EVERSION);
    vmrt_snapshot_free(snap);
}

static void
test_snapshot_host_section_without_hook_is_rejected(void **state)
{
    size_t len;
    uint8_t *snap = mid_snapshot(&len);
    vm_t vm;

    (void)state;
    vm_new(&vm);
    assert_int_equal(vmrt_snapshot_restore(vm.inst, snap, len, NULL, 0, NULL,
                                           0), VMRT_ECORRUPT);
    vm_free(&vm);
    vmrt_snapshot_free(snap);
}

/* EXEC body layout (docs/snapshot-format.md). */
#define EX_STATE 0
#define EX_ENTRY 4
#define EX_NFRAMES 20
#define EX_NSLOTS 24
#define EX_FRAMES 28

static void
expect_rejected(uint8_t *snap, size_t len, size_t at, uint32_t v)
{
    uint8_t *c = malloc(len);
    int rc;

    assert_non_null(c);
    memcpy(c, snap, len);
    wr32(c + at, v);
    reseal(c, len);
    rc = try_restore(c, len);
    if (rc != VMRT_ECORRUPT && rc != VMRT_ELIMIT)
        fail_msg("edit at %zu to %u: rc %d", at, (unsigned)v, rc);
    free(c);
}

static void
test_snapshot_hostile_edits_are_rejected(void **state)
{
    size_t len, ex, mem, tab, glob;
    uint8_t *snap;
    uint32_t nframes;

    (void)state;
    for (int which = 0; which < 2; which++) {
        snap = which == 0 ? rec_snapshot(&len) : mid_snapshot(&len);
        ex = section(snap, len, VMRT_SNAP_TAG('E', 'X', 'E', 'C'));
        nframes = rd32(snap + ex + EX_NFRAMES);
        assert_true(nframes >= 2);
        expect_rejected(snap, len, ex + EX_STATE, 9);
        expect_rejected(snap, len, ex + EX_ENTRY, 999);
        expect_rejected(snap, len, ex + EX_ENTRY, 0);
        expect_rejected(snap, len, ex + EX_NFRAMES, nframes + 1);
        expect_rejected(snap, len, ex + EX_NFRAMES, nframes - 1);
        expect_rejected(snap, len, ex + EX_NFRAMES, UINT32_MAX);
        expect_rejected(snap, len, ex + EX_NSLOTS,
                        rd32(snap + ex + EX_NSLOTS) + 1);
        for (uint32_t k = 0; k < nframes; k++) {
            size_t f = ex + EX_FRAMES + 12 * (size_t)k;
            uint32_t func = rd32(snap + f), ip = rd32(snap + f + 4);
            uint32_t fp = rd32(snap + f + 8);

            expect_rejected(snap, len, f, 0);   /* the import */
            expect_rejected(snap, len, f, 999); /* no such function */
            expect_rejected(snap, len, f, func == 0xffffffffu ? 2 : func + 1);
            expect_rejected(snap, len, f + 4, UINT32_MAX);
            expect_rejected(snap, len, f + 4, ip + 1);
            expect_rejected(snap, len, f + 8, fp + 1);
            expect_rejected(snap, len, f + 8, UINT32_MAX - 2);
            if (k > 0)
                expect_rejected(snap, len, f + 8, fp - 1);
        }
        mem = section(snap, len, VMRT_SNAP_TAG('M', 'E', 'M', 'S'));
        expect_rejected(snap, len, mem + 4, 33);         /* > max 32 */
        expect_rejected(snap, len, mem + 4, 0);          /* < min 1 */
        expect_rejected(snap, len, mem + 4, UINT32_MAX);
        expect_rejected(snap, len, mem + 8, 1000);       /* runs */
        tab = section(snap, len, VMRT_SNAP_TAG('T', 'A', 'B', 'L'));
        expect_rejected(snap, len, tab + 5, 9);          /* > max 8 */
        expect_rejected(snap, len, tab + 5, 3);          /* < min 4 */
        expect_rejected(snap, len, tab + 5, UINT32_MAX);
        expect_rejected(snap, len, tab + 9, 99);         /* funcref */
        glob = section(snap, len, VMRT_SNAP_TAG('G', 'L', 'O', 'B'));
        expect_rejected(snap, len, glob + 4, VMRT_I32);  /* type of $gf */
        expect_rejected(snap, len, glob + 6, 99);        /* $gf funcref */
        expect_rejected(snap, len, glob + 4 + 20 + 2, 8); /* immutable $k */
        vmrt_snapshot_free(snap);
    }
}

static void
test_snapshot_random_hostile_edits_never_crash(void **state)
{
    size_t len;
    uint8_t *snap = mid_snapshot(&len), *c;
    uint32_t seed = 12345;

    (void)state;
    assert_non_null(c = malloc(len));
    for (int it = 0; it < 3000; it++) {
        memcpy(c, snap, len);
        for (int k = 0; k < 1 + it % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = HDR_LEN + (seed >> 8) % (len - HDR_LEN - 8);
            seed = seed * 1103515245u + 12345u;
            /* Mostly small values: they pass more checks. */
            c[at] = (uint8_t)(it % 3 == 0 ? seed >> 24 : (seed >> 24) % 8);
        }
        reseal(c, len);
        (void)try_restore(c, len);
    }
    free(c);
    vmrt_snapshot_free(snap);
}

/*
 * (import "a" "loop" (func (param i32) (result i64)))
 * (func (export "go") (param i32) (result i64) (call 0 (local.get 0)))
 */
static const uint8_t calls_a[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60,
    0x01, 0x7f, 0x01, 0x7e, 0x02, 0x0a, 0x01, 0x01, 0x61, 0x04, 0x6c, 0x6f,
    0x6f, 0x70, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x06, 0x01, 0x02,
    0x67, 0x6f, 0x00, 0x01, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x10,
    0x00, 0x0b
};

/* (import "a" "memory" (memory 1)) */
static const uint8_t imports_memory[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x02, 0x0d, 0x01, 0x01,
    0x61, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x01
};

static void
test_snapshot_foreign_state_is_eunsupported(void **state)
{
    vm_t a;
    vmrt_module_t *m;
    vmrt_instance_t *b;
    vmrt_val_t arg = { .type = VMRT_I32 };
    vmrt_extern_kind_t kind;
    uint32_t go;
    uint8_t *snap;
    size_t len;

    (void)state;
    vm_new(&a);
    assert_int_equal(vmrt_linker_define_instance(a.lk, "a", a.inst), 0);
    /* A call in progress inside the other instance. */
    assert_int_equal(vmrt_module_load(calls_a, sizeof(calls_a), &m, NULL, 0),
                     0);
    assert_int_equal(vmrt_instance_create(m, a.lk, NULL, &b, NULL, 0), 0);
    assert_int_equal(vmrt_instance_find_export(b, "go", &kind, &go), 0);
    arg.of.i32 = 1000;
    assert_int_equal(vmrt_instance_call(b, go, &arg, 1), 0);
    assert_int_equal(vmrt_instance_run(b, 50, NULL), VMRT_RUN_YIELD);
    assert_int_equal(vmrt_snapshot_save(b, NULL, 0, &snap, &len),
                     VMRT_EUNSUPPORTED);
    /* Back in b's own frames (finished) it can be saved. */
    assert_int_equal(vmrt_instance_run(b, UINT64_MAX, NULL), VMRT_RUN_DONE);
    assert_int_equal(vmrt_snapshot_save(b, NULL, 0, &snap, &len), 0);
    vmrt_snapshot_free(snap);
    vmrt_instance_free(b);
    vmrt_module_free(m);
    /* An imported memory. */
    assert_int_equal(vmrt_module_load(imports_memory, sizeof(imports_memory),
                                      &m, NULL, 0), 0);
    assert_int_equal(vmrt_instance_create(m, a.lk, NULL, &b, NULL, 0), 0);
    assert_int_equal(vmrt_snapshot_save(b, NULL, 0, &snap, &len),
                     VMRT_EUNSUPPORTED);
    vmrt_instance_free(b);
    vmrt_module_free(m);
    vm_free(&a);
}

static void
test_snapshot_save_refuses_a_running_or_bad_call(void **state)
{
    uint8_t *snap = (uint8_t *)1;
    size_t len = 1;
    vm_t vm;

    (void)state;
    vm_new(&vm);
    assert_int_equal(vmrt_snapshot_save(NULL, NULL, 0, &snap, &len),
                     VMRT_EINVAL);
    assert_null(snap);
    assert_int_equal(len, 0);
    assert_int_equal(vmrt_snapshot_restore(vm.inst, NULL, 0, NULL, 0, NULL,
                                           0), VMRT_ECORRUPT);
    vm_free(&vm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_xxh64_known_vectors),
        cmocka_unit_test(test_hash_sha256_known_vectors),
        cmocka_unit_test(test_snapshot_loop_resumes_at_every_budget),
        cmocka_unit_test(test_snapshot_deep_recursion_resumes_at_every_budget),
        cmocka_unit_test(test_snapshot_funcrefs_survive),
        cmocka_unit_test(test_snapshot_blocked_host_call_is_reissued),
        cmocka_unit_test(test_snapshot_idle_done_and_trap_states),
        cmocka_unit_test(test_snapshot_one_mib_is_fast),
        cmocka_unit_test(test_snapshot_truncations_are_rejected),
        cmocka_unit_test(test_snapshot_bit_flips_are_rejected),
        cmocka_unit_test(test_snapshot_other_module_is_emismatch),
        cmocka_unit_test(test_snapshot_check_needs_no_instance),
        cmocka_unit_test(test_snapshot_next_version_is_eversion),
        cmocka_unit_test(test_snapshot_host_section_without_hook_is_rejected),
        cmocka_unit_test(test_snapshot_hostile_edits_are_rejected),
        cmocka_unit_test(test_snapshot_random_hostile_edits_never_crash),
        cmocka_unit_test(test_snapshot_foreign_state_is_eunsupported),
        cmocka_unit_test(test_snapshot_save_refuses_a_running_or_bad_call),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
