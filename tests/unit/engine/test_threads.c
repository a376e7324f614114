/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of engine threads (vmrt_thread_*, engine/interp.c) and of
 * their snapshots (engine/snapshot.c).  The guest is threads_test.wat.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/exec.h"
#include "engine/hash.h"
#include "vmrt/vmrt.h"

extern const unsigned char threads_test_wasm[];
extern const size_t threads_test_wasm_len;

/* Host state reachable from the host functions. */
typedef struct {
    int open;             /* "wait" returns once this is set */
    uint32_t who_calls;
    vmrt_thread_t *seen;  /* current thread at the last host call */
    int nested_run_rc;    /* what running another thread from a host gave */
    vmrt_thread_t *other; /* that other thread */
    int free_cur;         /* try to free the running thread */
} host_t;

typedef struct {
    vmrt_module_t *mod;
    vmrt_linker_t *lk;
    vmrt_instance_t *inst;
    host_t host;
} vm_t;

static int
host_wait(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    host_t *h = ctx;
    uint32_t x = (uint32_t)args[0];

    h->seen = vmrt_instance_current_thread(inst);
    if (!h->open)
        return VMRT_HOST_BLOCK;
    results[0] = x * 2u;
    return 0;
}

static int
host_who(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
         uint64_t *results)
{
    host_t *h = ctx;

    (void)args;
    h->who_calls++;
    h->seen = vmrt_instance_current_thread(inst);
    if (h->other != NULL)
        h->nested_run_rc = vmrt_thread_run(h->other, 100, NULL);
    if (h->free_cur)
        vmrt_thread_free(h->seen);
    results[0] = h->seen != NULL ? vmrt_thread_id(h->seen) : 0xdead;
    return 0;
}

static void
vm_new(vm_t *vm)
{
    char err[160];

    memset(vm, 0, sizeof(*vm));
    assert_int_equal(vmrt_module_load(threads_test_wasm,
                                      threads_test_wasm_len, &vm->mod, err,
                                      sizeof(err)),
                     0);
    assert_non_null(vm->lk = vmrt_linker_create());
    assert_int_equal(vmrt_linker_define_func(vm->lk, "env", "wait", "(i)i",
                                             host_wait, &vm->host),
                     0);
    assert_int_equal(vmrt_linker_define_func(vm->lk, "env", "who", "()i",
                                             host_who, &vm->host),
                     0);
    assert_int_equal(vmrt_instance_create(vm->mod, vm->lk, NULL, &vm->inst,
                                          err, sizeof(err)),
                     0);
}

static void
vm_free(vm_t *vm)
{
    vmrt_instance_free(vm->inst);
    vmrt_linker_free(vm->lk);
    vmrt_module_free(vm->mod);
}

static uint32_t
fn(vm_t *vm, const char *name)
{
    vmrt_extern_kind_t kind;
    uint32_t idx;

    assert_int_equal(vmrt_instance_find_export(vm->inst, name, &kind, &idx),
                     0);
    return idx;
}

static vmrt_val_t
i32v(int32_t v)
{
    vmrt_val_t x;

    memset(&x, 0, sizeof(x));
    x.type = VMRT_I32;
    x.of.i32 = v;
    return x;
}

static int32_t
result_i32(const vmrt_thread_t *th)
{
    vmrt_val_t r;

    assert_int_equal(vmrt_thread_results(th, &r, 1), 1);
    assert_int_equal(r.type, VMRT_I32);
    return r.of.i32;
}

static int32_t
mem_i32(vm_t *vm, uint32_t addr)
{
    uint64_t size;
    uint8_t *m = vmrt_instance_memory(vm->inst, &size);
    int32_t v;

    assert_true(addr + 4 <= size);
    memcpy(&v, m + addr, 4);
    return v;
}

/* Call count(addr, n) on `th`. */
static void
call_count(vm_t *vm, vmrt_thread_t *th, int32_t addr, int32_t n)
{
    vmrt_val_t a[2] = { i32v(addr), i32v(n) };

    assert_int_equal(vmrt_thread_call(th, fn(vm, "count"), a, 2), 0);
}

/* ------------------------------------------------------------------ */

static void
test_threads_ids_and_lifecycle(void **state)
{
    vm_t vm;
    vmrt_thread_t *main_th, *a, *b, *c;

    (void)state;
    vm_new(&vm);
    main_th = vmrt_instance_main_thread(vm.inst);
    assert_non_null(main_th);
    assert_int_equal(vmrt_thread_id(main_th), 0);
    assert_ptr_equal(vmrt_thread_instance(main_th), vm.inst);
    assert_null(vmrt_instance_current_thread(vm.inst));
    assert_non_null(a = vmrt_thread_create(vm.inst));
    assert_non_null(b = vmrt_thread_create(vm.inst));
    assert_int_equal(vmrt_thread_id(a), 1);
    assert_int_equal(vmrt_thread_id(b), 2);
    assert_ptr_equal(vmrt_thread_by_id(vm.inst, 2), b);
    assert_null(vmrt_thread_by_id(vm.inst, 3));
    assert_null(vmrt_thread_by_id(vm.inst, UINT32_MAX));
    vmrt_thread_set_user(b, &vm);
    assert_ptr_equal(vmrt_thread_user(b), &vm);
    /* A freed id is the next one handed out. */
    vmrt_thread_free(a);
    assert_null(vmrt_thread_by_id(vm.inst, 1));
    assert_non_null(c = vmrt_thread_create(vm.inst));
    assert_int_equal(vmrt_thread_id(c), 1);
    /* The main thread lives as long as the instance. */
    vmrt_thread_free(main_th);
    assert_ptr_equal(vmrt_instance_main_thread(vm.inst), main_th);
    vmrt_thread_free(NULL);
    /* Threads still alive go with the instance (ASan checks the leak). */
    vm_free(&vm);
}

static void
test_threads_interleave_and_share_memory(void **state)
{
    vm_t vm;
    vmrt_thread_t *a, *b;
    int sa = VMRT_RUN_YIELD, sb = VMRT_RUN_YIELD;
    int yields_a = 0, yields_b = 0, both_pending = 0;

    (void)state;
    vm_new(&vm);
    assert_non_null(a = vmrt_thread_create(vm.inst));
    assert_non_null(b = vmrt_thread_create(vm.inst));
    call_count(&vm, a, 0, 1000);
    call_count(&vm, b, 0, 700);
    while (sa == VMRT_RUN_YIELD || sb == VMRT_RUN_YIELD) {
        if (sa == VMRT_RUN_YIELD) {
            sa = vmrt_thread_run(a, 97, NULL);
            yields_a += sa == VMRT_RUN_YIELD;
        }
        if (sb == VMRT_RUN_YIELD) {
            sb = vmrt_thread_run(b, 61, NULL);
            yields_b += sb == VMRT_RUN_YIELD;
        }
        both_pending += sa == VMRT_RUN_YIELD && sb == VMRT_RUN_YIELD;
    }
    assert_int_equal(sa, VMRT_RUN_DONE);
    assert_int_equal(sb, VMRT_RUN_DONE);
    assert_true(yields_a > 5 && yields_b > 5 && both_pending > 5);
    assert_int_equal(result_i32(a), 1000);
    assert_int_equal(result_i32(b), 700);
    /* Both incremented the same word of the shared memory. */
    assert_int_equal(mem_i32(&vm, 0), 1700);
    /* The main thread was never involved. */
    assert_int_equal(vmrt_instance_run(vm.inst, 100, NULL), VMRT_ESTATE);
    vm_free(&vm);
}

static void
test_threads_blocked_thread_lets_another_run(void **state)
{
    vm_t vm;
    vmrt_thread_t *a, *b;
    vmrt_val_t x = i32v(20);

    (void)state;
    vm_new(&vm);
    assert_non_null(a = vmrt_thread_create(vm.inst));
    assert_non_null(b = vmrt_thread_create(vm.inst));
    assert_int_equal(vmrt_thread_call(a, fn(&vm, "waitx"), &x, 1), 0);
    assert_int_equal(vmrt_thread_run(a, 1000, NULL), VMRT_RUN_BLOCKED);
    assert_ptr_equal(vm.host.seen, a);
    assert_null(vmrt_instance_current_thread(vm.inst));
    /* b runs to the end while a stays blocked. */
    call_count(&vm, b, 8, 300);
    assert_int_equal(vmrt_thread_run(b, UINT64_MAX, NULL), VMRT_RUN_DONE);
    assert_int_equal(mem_i32(&vm, 8), 300);
    assert_int_equal(vmrt_thread_run(a, 1000, NULL), VMRT_RUN_BLOCKED);
    vm.host.open = 1;
    assert_int_equal(vmrt_thread_run(a, UINT64_MAX, NULL), VMRT_RUN_DONE);
    assert_ptr_equal(vm.host.seen, a);
    assert_int_equal(result_i32(a), 2 * 20 + 50);
    assert_int_equal(mem_i32(&vm, 128), 50);
    vm_free(&vm);
}

static void
test_threads_current_thread_seen_by_host(void **state)
{
    vm_t vm;
    vmrt_thread_t *a, *b;

    (void)state;
    vm_new(&vm);
    assert_non_null(a = vmrt_thread_create(vm.inst));
    assert_non_null(b = vmrt_thread_create(vm.inst));
    assert_int_equal(vmrt_thread_call(b, fn(&vm, "who"), NULL, 0), 0);
    assert_int_equal(vmrt_thread_run(b, 100, NULL), VMRT_RUN_DONE);
    assert_int_equal(result_i32(b), 2);
    assert_ptr_equal(vm.host.seen, b);
    assert_int_equal(vmrt_instance_call(vm.inst, fn(&vm, "who"), NULL, 0),
                     0);
    assert_int_equal(vmrt_instance_run(vm.inst, 100, NULL), VMRT_RUN_DONE);
    assert_ptr_equal(vm.host.seen, vmrt_instance_main_thread(vm.inst));
    assert_null(vmrt_instance_current_thread(vm.inst));
    /* A host function cannot run a sibling thread inside a run. */
    call_count(&vm, a, 0, 10);
    vm.host.other = a;
    vm.host.nested_run_rc = 0;
    assert_int_equal(vmrt_thread_call(b, fn(&vm, "who"), NULL, 0), 0);
    assert_int_equal(vmrt_thread_run(b, 100, NULL), VMRT_RUN_DONE);
    assert_int_equal(vm.host.nested_run_rc, VMRT_ESTATE);
    /* Nor free the thread that is running. */
    vm.host.other = NULL;
    vm.host.free_cur = 1;
    assert_int_equal(vmrt_thread_call(b, fn(&vm, "who"), NULL, 0), 0);
    assert_int_equal(vmrt_thread_run(b, 100, NULL), VMRT_RUN_DONE);
    assert_ptr_equal(vmrt_thread_by_id(vm.inst, 2), b);
    assert_int_equal(result_i32(b), 2);
    vm.host.free_cur = 0;
    assert_int_equal(vmrt_thread_run(a, UINT64_MAX, NULL), VMRT_RUN_DONE);
    assert_int_equal(result_i32(a), 10);
    vm_free(&vm);
}

static void
test_threads_call_indirect_checks_types(void **state)
{
    vm_t vm;
    vmrt_thread_t *a;
    vmrt_val_t args[2] = { i32v(40), i32v(2) };
    vmrt_val_t bad[2] = { i32v(40), i32v(2) };

    (void)state;
    vm_new(&vm);
    assert_non_null(a = vmrt_thread_create(vm.inst));
    /* (i32 i32) -> i32 */
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 0, args, 2), 0);
    assert_int_equal(vmrt_thread_run(a, 100, NULL), VMRT_RUN_DONE);
    assert_int_equal(result_i32(a), 42);
    /* (i32) -> (): no result */
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 2, args, 1), 0);
    assert_int_equal(vmrt_thread_run(a, 100, NULL), VMRT_RUN_DONE);
    assert_int_equal(vmrt_thread_results(a, args, 1), 0);
    assert_int_equal(mem_i32(&vm, 64), 40);
    /* An imported host function in the table resolves too. */
    vm.host.open = 1;
    args[0] = i32v(5);
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 4, args, 1), 0);
    assert_int_equal(vmrt_thread_run(a, 100, NULL), VMRT_RUN_DONE);
    assert_int_equal(result_i32(a), 10);
    /* Wrong arity, an i64 parameter, a non-i32 argument. */
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 0, args, 1),
                     VMRT_ETYPE);
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 3, args, 1),
                     VMRT_ETYPE);
    bad[1].type = VMRT_I64;
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 0, bad, 2), VMRT_ETYPE);
    /* Null element, beyond the table, no such table. */
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 5, args, 0),
                     VMRT_ENOTFOUND);
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 6, args, 0),
                     VMRT_ENOTFOUND);
    assert_int_equal(vmrt_thread_call_indirect(a, 1, 0, args, 2),
                     VMRT_ENOTFOUND);
    /* A call in progress refuses another. */
    call_count(&vm, a, 0, 1000);
    assert_int_equal(vmrt_thread_run(a, 10, NULL), VMRT_RUN_YIELD);
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 0, args, 2),
                     VMRT_ESTATE);
    vmrt_thread_reset(a);
    assert_int_equal(vmrt_thread_call_indirect(a, 0, 0, args, 2), 0);
    vm_free(&vm);
}

static void
test_threads_global_set_checks_types(void **state)
{
    vm_t vm;
    vmrt_val_t v;
    uint32_t sp, k, g64;

    (void)state;
    vm_new(&vm);
    sp = fn(&vm, "sp");
    k = fn(&vm, "k");
    g64 = fn(&vm, "g64");
    v = i32v(4096);
    assert_int_equal(vmrt_instance_global_set(vm.inst, sp, &v), 0);
    memset(&v, 0, sizeof(v));
    assert_int_equal(vmrt_instance_global_get(vm.inst, sp, &v), 0);
    assert_int_equal(v.type, VMRT_I32);
    assert_int_equal(v.of.i32, 4096);
    /* Negative i32: stored as the engine stores i32 (zero-extended). */
    v = i32v(-8);
    assert_int_equal(vmrt_instance_global_set(vm.inst, sp, &v), 0);
    assert_int_equal(vmrt_instance_global_get(vm.inst, sp, &v), 0);
    assert_int_equal(v.of.i32, -8);
    /* Immutable, wrong type, no such global, NULL. */
    v = i32v(1);
    assert_int_equal(vmrt_instance_global_set(vm.inst, k, &v), VMRT_ETYPE);
    assert_int_equal(vmrt_instance_global_get(vm.inst, k, &v), 0);
    assert_int_equal(v.of.i32, 7);
    v = i32v(1);
    assert_int_equal(vmrt_instance_global_set(vm.inst, g64, &v), VMRT_ETYPE);
    v.type = VMRT_I64;
    v.of.i64 = -5;
    assert_int_equal(vmrt_instance_global_set(vm.inst, g64, &v), 0);
    assert_int_equal(vmrt_instance_global_get(vm.inst, g64, &v), 0);
    assert_true(v.of.i64 == -5);
    assert_int_equal(vmrt_instance_global_set(vm.inst, sp, &v), VMRT_ETYPE);
    assert_int_equal(vmrt_instance_global_set(vm.inst, 99, &v),
                     VMRT_ENOTFOUND);
    assert_int_equal(vmrt_instance_global_set(vm.inst, sp, NULL),
                     VMRT_EINVAL);
    vm_free(&vm);
}

/* ------------------------------------------------------------------ */
/* Snapshots                                                          */
/* ------------------------------------------------------------------ */

/*
 * An instance whose main thread is done, thread 1 yielded inside count,
 * thread 3 blocked in the host, thread 2 freed (so ids have a gap).
 */
static void
three_threads(vm_t *vm)
{
    vmrt_thread_t *t1, *t2, *t3;
    vmrt_val_t args[2] = { i32v(3), i32v(4) }, x = i32v(21);

    vm_new(vm);
    assert_int_equal(vmrt_instance_call(vm->inst, fn(vm, "add"), args, 2),
                     0);
    assert_int_equal(vmrt_instance_run(vm->inst, 100, NULL), VMRT_RUN_DONE);
    assert_non_null(t1 = vmrt_thread_create(vm->inst));
    assert_non_null(t2 = vmrt_thread_create(vm->inst));
    assert_non_null(t3 = vmrt_thread_create(vm->inst));
    vmrt_thread_free(t2);
    call_count(vm, t1, 16, 5000);
    assert_int_equal(vmrt_thread_run(t1, 777, NULL), VMRT_RUN_YIELD);
    assert_int_equal(vmrt_thread_call(t3, fn(vm, "waitx"), &x, 1), 0);
    assert_int_equal(vmrt_thread_run(t3, 1000, NULL), VMRT_RUN_BLOCKED);
}

/* Finish threads 1 and 3 of `vm`; return a digest of what they did. */
static void
finish(vm_t *vm, int32_t out[4])
{
    vmrt_thread_t *t1 = vmrt_thread_by_id(vm->inst, 1);
    vmrt_thread_t *t3 = vmrt_thread_by_id(vm->inst, 3);
    vmrt_val_t r;
    int st;

    assert_non_null(t1);
    assert_non_null(t3);
    assert_null(vmrt_thread_by_id(vm->inst, 2));
    assert_int_equal(vmrt_thread_id(t3), 3);
    /* Main: done, its result kept. */
    assert_int_equal(vmrt_instance_results(vm->inst, &r, 1), 1);
    assert_int_equal(r.of.i32, 7);
    /* t3 is still blocked until the host opens. */
    vm->host.open = 0;
    assert_int_equal(vmrt_thread_run(t3, 1000, NULL), VMRT_RUN_BLOCKED);
    assert_ptr_equal(vm->host.seen, t3);
    while ((st = vmrt_thread_run(t1, 333, NULL)) == VMRT_RUN_YIELD)
        ;
    assert_int_equal(st, VMRT_RUN_DONE);
    vm->host.open = 1;
    assert_int_equal(vmrt_thread_run(t3, UINT64_MAX, NULL), VMRT_RUN_DONE);
    out[0] = result_i32(t1);
    out[1] = result_i32(t3);
    out[2] = mem_i32(vm, 16);
    out[3] = mem_i32(vm, 128);
}

static void
test_threads_snapshot_restores_three_threads(void **state)
{
    vm_t a, b;
    uint8_t *snap;
    size_t len;
    char err[160];
    int32_t want[4], got[4];

    (void)state;
    three_threads(&a);
    assert_int_equal(vmrt_snapshot_save(a.inst, NULL, 0, &snap, &len), 0);
    vm_new(&b);
    assert_int_equal(vmrt_snapshot_restore(b.inst, snap, len, NULL, 0, err,
                                           sizeof(err)),
                     0);
    finish(&a, want);
    finish(&b, got);
    assert_memory_equal(want, got, sizeof(want));
    assert_int_equal(want[0], 5000);
    assert_int_equal(want[1], 2 * 21 + 50);
    assert_int_equal(want[2], 5000);
    vm_free(&b);
    /* A restore into an instance that already has threads is refused. */
    vm_new(&b);
    assert_non_null(vmrt_thread_create(b.inst));
    assert_int_equal(vmrt_snapshot_restore(b.inst, snap, len, NULL, 0, err,
                                           sizeof(err)),
                     VMRT_ESTATE);
    vm_free(&b);
    vm_free(&a);
    vmrt_snapshot_free(snap);
}

/* Snapshot layout helpers (docs/snapshot-format.md). */
#define HDR_LEN 52u

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

/* Offset of the body of the n-th section `tag`, or 0. */
static size_t
section(const uint8_t *buf, size_t len, uint32_t tag, int n)
{
    size_t off = HDR_LEN;

    while (off + 12 <= len - 8) {
        size_t slen = (size_t)rd32(buf + off + 4);
        if (rd32(buf + off) == tag && n-- == 0)
            return off + 12;
        off += 12 + slen;
    }
    return 0;
}

/* Restore buf into a fresh instance; if accepted, run every thread. */
static int
try_restore(const uint8_t *buf, size_t len)
{
    vm_t vm;
    char err[200];
    int rc;

    vm_new(&vm);
    err[0] = '\0';
    rc = vmrt_snapshot_restore(vm.inst, buf, len, NULL, 0, err,
                               sizeof(err));
    if (rc != 0) {
        assert_true(err[0] != '\0' || rc == VMRT_ENOMEM);
        /* Nothing was left behind: no thread besides the main one. */
        for (uint32_t id = 1; id < 8; id++)
            assert_null(vmrt_thread_by_id(vm.inst, id));
    } else {
        vm.host.open = 1;
        for (uint32_t id = 0; id < 8; id++) {
            vmrt_thread_t *th = vmrt_thread_by_id(vm.inst, id);
            for (int i = 0; th != NULL && i < 20; i++) {
                int st = vmrt_thread_run(th, 1000, NULL);
                if (st != VMRT_RUN_YIELD && st != VMRT_RUN_BLOCKED)
                    break;
            }
        }
    }
    vm_free(&vm);
    return rc;
}

#define TAG_THRD VMRT_SNAP_TAG('T', 'H', 'R', 'D')

static void
expect_rejected(const uint8_t *snap, size_t len, size_t at, uint32_t v)
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
test_threads_snapshot_hostile_thread_sections(void **state)
{
    vm_t a;
    uint8_t *snap, *c;
    size_t len, t1, t3;
    uint32_t seed = 99;

    (void)state;
    three_threads(&a);
    assert_int_equal(vmrt_snapshot_save(a.inst, NULL, 0, &snap, &len), 0);
    vm_free(&a);
    assert_int_equal(rd32(snap + 4), 2); /* version */
    t1 = section(snap, len, TAG_THRD, 0);
    t3 = section(snap, len, TAG_THRD, 1);
    assert_true(t1 != 0 && t3 != 0);
    assert_int_equal(section(snap, len, TAG_THRD, 2), 0);
    assert_int_equal(rd32(snap + t1), 1);
    assert_int_equal(rd32(snap + t3), 3);
    expect_rejected(snap, len, t1, 0);          /* id 0 is the main's */
    expect_rejected(snap, len, t3, 1);          /* duplicate */
    expect_rejected(snap, len, t1, 5);          /* out of order */
    expect_rejected(snap, len, t3, UINT32_MAX); /* beyond the limit */
    expect_rejected(snap, len, t1 + 4, 9);      /* state */
    expect_rejected(snap, len, t3 + 4 + 4, 999); /* entry */
    expect_rejected(snap, len, t1 + 4 + 20, UINT32_MAX); /* nframes */
    expect_rejected(snap, len, t3 + 4 + 24, 12345);      /* nslots */
    /* A THRD section of 2 bytes. */
    c = malloc(len);
    assert_non_null(c);
    memcpy(c, snap, len);
    wr32(c + t1 - 8, 2);
    reseal(c, len);
    assert_int_equal(try_restore(c, len), VMRT_ECORRUPT);
    /* Random edits anywhere never crash and never leak a thread. */
    for (int it = 0; it < 2000; it++) {
        memcpy(c, snap, len);
        for (int k = 0; k < 1 + it % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = HDR_LEN + (seed >> 8) % (len - HDR_LEN - 8);
            seed = seed * 1103515245u + 12345u;
            c[at] = (uint8_t)(it % 3 == 0 ? seed >> 24 : (seed >> 24) % 8);
        }
        reseal(c, len);
        (void)try_restore(c, len);
    }
    free(c);
    vmrt_snapshot_free(snap);
}

/* ------------------------------------------------------------------ */
/* Memory                                                             */
/* ------------------------------------------------------------------ */

static size_t
thread_bytes(const vmrt_thread_t *th)
{
    const vmrt__exec_t *ex = &th->ex;

    return sizeof(*th) + (size_t)ex->nslots * sizeof(*ex->stack) +
           ((size_t)ex->depth_cap + 1) * sizeof(*ex->frames) +
           (size_t)ex->cap_insts * sizeof(*ex->insts);
}

static void
test_threads_stacks_start_small_and_grow(void **state)
{
    vm_t vm;
    vmrt_thread_t *a;
    size_t idle, main_idle;

    (void)state;
    vm_new(&vm);
    assert_non_null(a = vmrt_thread_create(vm.inst));
    idle = thread_bytes(a);
    main_idle = thread_bytes(vmrt_instance_main_thread(vm.inst));
    print_message("idle thread: %zu bytes; main thread: %zu bytes; "
                  "instance thread table: %zu bytes\n",
                  idle, main_idle,
                  (size_t)vm.inst->cap_threads * sizeof(void *));
    assert_true(idle <= 4096);
    /* Default limits are 64 Ki slots and 10,000 frames: not allocated. */
    assert_true(a->ex.slot_limit == 65536 && a->ex.nslots < 1024);
    assert_true(a->ex.max_depth == 10000 && a->ex.depth_cap < 64);
    vm_free(&vm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_ids_and_lifecycle),
        cmocka_unit_test(test_threads_interleave_and_share_memory),
        cmocka_unit_test(test_threads_blocked_thread_lets_another_run),
        cmocka_unit_test(test_threads_current_thread_seen_by_host),
        cmocka_unit_test(test_threads_call_indirect_checks_types),
        cmocka_unit_test(test_threads_global_set_checks_types),
        cmocka_unit_test(test_threads_snapshot_restores_three_threads),
        cmocka_unit_test(test_threads_snapshot_hostile_thread_sections),
        cmocka_unit_test(test_threads_stacks_start_small_and_grow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
