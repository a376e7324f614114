/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of the scheduler (src/vm/sched.c).
 *
 * VMs are built by hand here (what vm.c does at start: instance, main
 * vthread with _start's call pending), so the scheduler is tested at its
 * seams: this file provides vmrt__vm_ended and the guest's host functions
 * (sched_test.wat: tick, sleep, wait, spawn, yield).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/module.h"
#include "vm/vm_internal.h"

extern const unsigned char sched_test_wasm[];
extern const size_t sched_test_wasm_len;

#define MAXID 16
#define MAXVM 8
#define MS 1000000ull

/* A test VM: the VM record and the main vthread, which vm.c would own. */
typedef struct {
    vmrt_vm_t vm;
    vmrt__vthread_t main;
} tvm_t;

static vmrt_module_t *g_mod;
static vmrt_rt_t *g_rt;
static tvm_t *g_vms[MAXVM];
static uint32_t g_nvms;

/* What the guests did. */
static atomic_uint_fast64_t g_ticks[MAXID];
static atomic_uint_fast64_t g_tid[MAXID];  /* OS thread of the first tick */
static atomic_bool g_tid_mixed[MAXID];     /* ticked on another one too */
static atomic_uint_fast64_t g_late_max;    /* worst sleep lateness, ns */
static atomic_uint_fast64_t g_sleeps;
static vmrt__waitq_t g_q;                  /* t.wait blocks here */
static vmrt__waitq_t g_yq;                 /* t.yield blocks here */
static int g_order[MAXID];                 /* t.wait completions (lock) */
static uint32_t g_norder;

/* What vmrt__vm_ended saw. */
static pl_mutex_t g_end_lock;
static struct {
    vmrt_vm_t *vm;
    int status;
} g_end[MAXVM];
static uint32_t g_nend;
/* A slow end report (test_sched_end_report_lands_before_park_returns). */
static atomic_uint g_end_delay_ms;
static atomic_bool g_end_entered;

void
vmrt__vm_ended(vmrt_vm_t *vm, int status, int32_t exit_code,
               const vmrt_trap_info_t *trap)
{
    (void)exit_code;
    (void)trap;
    atomic_store(&g_end_entered, true);
    if (atomic_load(&g_end_delay_ms) != 0)
        pl_sleep_ns(atomic_load(&g_end_delay_ms) * MS);
    pl_mutex_lock(&g_end_lock);
    if (g_nend < MAXVM) {
        g_end[g_nend].vm = vm;
        g_end[g_nend].status = status;
        g_nend++;
    }
    pl_mutex_unlock(&g_end_lock);
}

/* The status vmrt__vm_ended reported for vm, or INT32_MIN if not yet. */
static int
ended_status(const tvm_t *v)
{
    int st = INT32_MIN;

    pl_mutex_lock(&g_end_lock);
    for (uint32_t i = 0; i < g_nend; i++)
        if (g_end[i].vm == &v->vm)
            st = g_end[i].status;
    pl_mutex_unlock(&g_end_lock);
    return st;
}

/* ---- host functions ---------------------------------------------------- */

static int
h_tick(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
       uint64_t *results)
{
    uint32_t id = (uint32_t)args[0] % MAXID;
    uint64_t self = pl_thread_self_id(), expect = 0;

    (void)inst;
    (void)ctx;
    (void)results;
    atomic_fetch_add(&g_ticks[id], 1);
    if (!atomic_compare_exchange_strong(&g_tid[id], &expect, self) &&
        expect != self)
        atomic_store(&g_tid_mixed[id], true);
    return 0;
}

static int
h_sleep(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
        uint64_t *results)
{
    vmrt__vthread_t *t = vmrt__self(inst);
    uint64_t us = (uint32_t)args[0], now, late, max;
    int rc;

    (void)ctx;
    (void)results;
    pl_mutex_lock(&g_rt->lock);
    if (vmrt__woken(t) == VMRT__WAKE_TIMEOUT) {
        now = pl_time_mono_ns();
        late = now > t->deadline_ns ? now - t->deadline_ns : 0;
        max = atomic_load(&g_late_max);
        while (late > max &&
               !atomic_compare_exchange_weak(&g_late_max, &max, late))
            ;
        atomic_fetch_add(&g_sleeps, 1);
        vmrt__wait_end(t);
        pl_mutex_unlock(&g_rt->lock);
        return 0;
    }
    rc = vmrt__block(t, NULL, vmrt__deadline(t, us * 1000u));
    pl_mutex_unlock(&g_rt->lock);
    return rc;
}

static int
h_wait(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
       uint64_t *results)
{
    vmrt__vthread_t *t = vmrt__self(inst);
    uint32_t id = (uint32_t)args[0], tmo_ms = (uint32_t)args[1];
    vmrt__wake_t w;
    int rc;

    (void)ctx;
    pl_mutex_lock(&g_rt->lock);
    if ((w = vmrt__woken(t)) != VMRT__WAKE_NONE) {
        if (g_norder < MAXID)
            g_order[g_norder++] = (int)id;
        vmrt__wait_end(t);
        pl_mutex_unlock(&g_rt->lock);
        results[0] = (uint32_t)w;
        return 0;
    }
    rc = vmrt__block(t, &g_q, vmrt__deadline(t, tmo_ms ? tmo_ms * MS
                                                       : UINT64_MAX));
    pl_mutex_unlock(&g_rt->lock);
    return rc;
}

/* Wake whoever yielded before, then wait to be woken in turn. */
static int
h_yield(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
        uint64_t *results)
{
    vmrt__vthread_t *t = vmrt__self(inst);
    int rc;

    (void)ctx;
    (void)args;
    (void)results;
    pl_mutex_lock(&g_rt->lock);
    if (vmrt__woken(t) != VMRT__WAKE_NONE) {
        vmrt__wait_end(t);
        pl_mutex_unlock(&g_rt->lock);
        return 0;
    }
    vmrt__wake(&g_yq, UINT32_MAX);
    rc = vmrt__block(t, &g_yq, 0);
    pl_mutex_unlock(&g_rt->lock);
    return rc;
}

static int
h_spawn(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
        uint64_t *results)
{
    vmrt_vm_t *vm = vmrt_instance_user(inst);
    uint32_t id = (uint32_t)args[0], idx;
    vmrt_extern_kind_t kind;
    vmrt__vthread_t *t;

    (void)ctx;
    (void)results;
    if (vmrt_instance_find_export(inst, id == 9 ? "trap" : "thr", &kind,
                                  &idx) != 0)
        return -1;
    if (vmrt__vthread_spawn(vm, false, idx, id, 0, false, &t) != 0)
        return -1;
    t->stack_top = 10000u + id * 1000u;
    return 0;
}

/* ---- building VMs by hand ---------------------------------------------- */

static tvm_t *
tvm_new(const char *fn, uint32_t arg, uint8_t prio, uint32_t slice_us,
        int32_t affinity)
{
    tvm_t *v = calloc(1, sizeof(*v));
    vmrt_vm_t *vm;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_extern_kind_t kind;
    vmrt_val_t a;
    uint32_t idx;
    char err[128];

    assert_non_null(v);
    assert_non_null(lk);
    assert_true(g_nvms < MAXVM);
    vm = &v->vm;
    vm->rt = g_rt;
    (void)snprintf(vm->man.name, sizeof(vm->man.name), "%s%u", fn, g_nvms);
    vm->man.priority = prio;
    vm->man.slice_us = slice_us;
    vm->man.affinity = affinity;
    assert_int_equal(vmrt_linker_define_func(lk, "t", "tick", "(i)", h_tick,
                                             NULL), 0);
    assert_int_equal(vmrt_linker_define_func(lk, "t", "sleep", "(i)",
                                             h_sleep, NULL), 0);
    assert_int_equal(vmrt_linker_define_func(lk, "t", "wait", "(ii)i",
                                             h_wait, NULL), 0);
    assert_int_equal(vmrt_linker_define_func(lk, "t", "spawn", "(i)",
                                             h_spawn, NULL), 0);
    assert_int_equal(vmrt_linker_define_func(lk, "t", "yield", "()",
                                             h_yield, NULL), 0);
    assert_int_equal(vmrt_instance_create(g_mod, lk, NULL, &vm->inst, err,
                                          sizeof(err)), 0);
    vmrt_linker_free(lk);
    vmrt_instance_set_user(vm->inst, vm);
    v->main.vm = vm;
    v->main.th = vmrt_instance_main_thread(vm->inst);
    v->main.id = 0;
    v->main.state = VMRT__VT_RUNNABLE;
    vm->threads = &v->main;
    assert_int_equal(vmrt_instance_find_export(vm->inst, fn, &kind, &idx),
                     0);
    memset(&a, 0, sizeof(a));
    a.type = VMRT_I32;
    a.of.i32 = (int32_t)arg;
    assert_int_equal(vmrt_thread_call(v->main.th, idx, &a, 1), 0);
    vm->state = VMRT_VM_RUNNING;
    g_vms[g_nvms++] = v;
    return v;
}

static void
tvm_go(tvm_t *v)
{
    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_add(&v->vm);
    pl_mutex_unlock(&g_rt->lock);
}

static void
tvm_free(tvm_t *v)
{
    vmrt__vthread_t *t, *next;

    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_remove(&v->vm);
    pl_mutex_unlock(&g_rt->lock);
    for (t = v->vm.threads; t != NULL; t = next) {
        next = t->next;
        if (t != &v->main)
            vmrt__free(t); /* its engine thread goes with the instance */
    }
    vmrt_instance_free(v->vm.inst);
    free(v);
}

static void
rt_new(uint32_t workers)
{
    g_rt = calloc(1, sizeof(*g_rt));
    assert_non_null(g_rt);
    g_rt->cfg.workers = workers;
    assert_int_equal(pl_mutex_init(&g_rt->lock), 0);
    assert_int_equal(vmrt__sched_create(g_rt), 0);
    assert_int_equal(vmrt__sched_start(g_rt), 0);
}

static uint64_t
ticks(uint32_t id)
{
    return atomic_load(&g_ticks[id]);
}

static uint64_t
cpu_ns(tvm_t *v)
{
    uint64_t ns;

    pl_mutex_lock(&g_rt->lock);
    ns = v->vm.cpu_ns;
    pl_mutex_unlock(&g_rt->lock);
    return ns;
}

static vmrt__vt_state_t
main_state(tvm_t *v)
{
    vmrt__vt_state_t s;

    pl_mutex_lock(&g_rt->lock);
    s = (vmrt__vt_state_t)v->main.state;
    pl_mutex_unlock(&g_rt->lock);
    return s;
}

/* Poll cond() for up to ms milliseconds.  Return: whether it held. */
static bool
wait_until(bool (*cond)(void *), void *arg, uint32_t ms)
{
    uint64_t end = pl_time_mono_ns() + ms * MS;

    while (!cond(arg)) {
        if (pl_time_mono_ns() > end)
            return false;
        pl_sleep_ns(MS / 2);
    }
    return true;
}

static bool
is_blocked(void *arg)
{
    return main_state(arg) == VMRT__VT_BLOCKED;
}

static bool
has_ended(void *arg)
{
    return ended_status(arg) != INT32_MIN;
}

static bool
norder_at_least(void *arg)
{
    uint32_t n;

    pl_mutex_lock(&g_rt->lock);
    n = g_norder;
    pl_mutex_unlock(&g_rt->lock);
    return n >= (uint32_t)(uintptr_t)arg;
}

static int
setup(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < MAXID; i++) {
        atomic_store(&g_ticks[i], 0);
        atomic_store(&g_tid[i], 0);
        atomic_store(&g_tid_mixed[i], false);
    }
    atomic_store(&g_late_max, 0);
    atomic_store(&g_sleeps, 0);
    memset(&g_q, 0, sizeof(g_q));
    memset(&g_yq, 0, sizeof(g_yq));
    g_norder = 0;
    g_nend = 0;
    g_nvms = 0;
    g_rt = NULL;
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    for (uint32_t i = 0; i < g_nvms; i++)
        tvm_free(g_vms[i]);
    g_nvms = 0;
    if (g_rt != NULL) {
        vmrt__sched_destroy(g_rt);
        pl_mutex_destroy(&g_rt->lock);
        free(g_rt);
        g_rt = NULL;
    }
    return 0;
}

/* ---- tests ------------------------------------------------------------- */

/* A low-priority VM spinning with a 2 s slice must not delay a
 * high-priority VM's 1 ms sleeps by anything near its slice (the bound,
 * 500 ms, is for a loaded machine; the lateness itself is measured by
 * bench/runtime). */
static void
test_sched_high_prio_not_delayed_by_spinner(void **state)
{
    tvm_t *lo, *hi;

    (void)state;
    rt_new(1);
    lo = tvm_new("spin", 1, 20, 2000000, -1);
    hi = tvm_new("sleeper", 1000, 5, 1000, -1);
    tvm_go(lo);
    pl_sleep_ns(20 * MS); /* the spinner owns the only worker */
    tvm_go(hi);
    pl_sleep_ns(300 * MS);
    assert_true(ticks(1) > 0);
    assert_true(atomic_load(&g_sleeps) >= 50);
    /* One chunk is ~75 us; without preemption the sleeper would wait
     * for the spinner's 2 s slice and not sleep 50 times at all. */
    assert_true(atomic_load(&g_late_max) < 500 * MS);
    (void)hi;
}

/* Two equal-priority spinners on one worker share it within 20%. */
static void
test_sched_equal_prio_share_cpu(void **state)
{
    tvm_t *a, *b;
    uint64_t ca, cb, ta, tb;

    (void)state;
    rt_new(1);
    a = tvm_new("spin", 1, 10, 1000, -1);
    b = tvm_new("spin", 2, 10, 1000, -1);
    tvm_go(a);
    tvm_go(b);
    pl_sleep_ns(600 * MS);
    ca = cpu_ns(a);
    cb = cpu_ns(b);
    ta = ticks(1);
    tb = ticks(2);
    /* Work done is the measure: cpu_ns is wall time on the worker, which
     * on a loaded machine also counts the time the OS ran others. */
    assert_true(ca > 0 && cb > 0);
    assert_true(ta > 100 && tb > 100);
    assert_true(ta * 10 <= tb * 12 && tb * 10 <= ta * 12);
}

/* Threads blocked on one queue wake in VM priority order, FIFO within a
 * priority, whatever order they blocked in. */
static void
test_sched_wake_order_by_priority(void **state)
{
    tvm_t *v[4];
    static const uint8_t prio[4] = { 20, 5, 12, 5 };

    (void)state;
    rt_new(1);
    for (uint32_t i = 0; i < 4; i++) {
        v[i] = tvm_new("waiter", i, prio[i], 1000, -1);
        tvm_go(v[i]);
        assert_true(wait_until(is_blocked, v[i], 2000));
    }
    for (uint32_t i = 0; i < 4; i++) {
        pl_mutex_lock(&g_rt->lock);
        vmrt__wake(&g_q, 1);
        pl_mutex_unlock(&g_rt->lock);
        assert_true(wait_until(norder_at_least, (void *)(uintptr_t)(i + 1),
                               2000));
    }
    assert_int_equal(g_order[0], 1);
    assert_int_equal(g_order[1], 3);
    assert_int_equal(g_order[2], 2);
    assert_int_equal(g_order[3], 0);
    for (uint32_t i = 0; i < 4; i++) {
        assert_true(wait_until(has_ended, v[i], 2000));
        assert_int_equal(ended_status(v[i]), VMRT_RUN_DONE);
    }
    /* Each got VMRT__WAKE_SIGNALED back. */
    assert_int_equal(ticks(VMRT__WAKE_SIGNALED), 4);
}

/* A wait with a deadline ends with a timeout, not before the deadline. */
static void
test_sched_deadline_expires(void **state)
{
    tvm_t *v;
    uint64_t t0;

    (void)state;
    rt_new(2);
    t0 = pl_time_mono_ns();
    v = tvm_new("waiter", 3 | (30u << 8), 10, 1000, -1);
    tvm_go(v);
    assert_true(wait_until(has_ended, v, 3000));
    assert_true(pl_time_mono_ns() - t0 >= 30 * MS);
    assert_int_equal(ticks(VMRT__WAKE_TIMEOUT), 1);
    assert_int_equal(g_norder, 1);
    /* The queue no longer holds it. */
    assert_null(g_q.head);
}

/* Parking a spinning VM preempts it: park returns long before the VM's
 * 2 s slice would end (the bound is 1 s, so that a loaded machine does
 * not decide; how fast it is belongs to bench/runtime), and the VM stays
 * stopped; unparking lets it run again. */
static void
test_sched_park_unpark_spinner(void **state)
{
    tvm_t *v;
    uint64_t t0, dt, n;

    (void)state;
    rt_new(1);
    v = tvm_new("spin", 1, 10, 2000000, -1);
    tvm_go(v);
    pl_sleep_ns(30 * MS);
    assert_true(ticks(1) > 0);
    t0 = pl_time_mono_ns();
    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_park(&v->vm);
    assert_false(v->vm.on_worker);
    pl_mutex_unlock(&g_rt->lock);
    dt = pl_time_mono_ns() - t0;
    assert_true(dt < 1000 * MS);
    n = ticks(1);
    pl_sleep_ns(30 * MS);
    assert_int_equal(ticks(1), n);
    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_unpark(&v->vm);
    pl_mutex_unlock(&g_rt->lock);
    pl_sleep_ns(30 * MS);
    assert_true(ticks(1) > n);
}

/* A pinned VM always runs on its worker. */
static void
test_sched_affinity_pins_worker(void **state)
{
    (void)state;
    rt_new(2);
    tvm_go(tvm_new("spin", 1, 10, 1000, 1));
    tvm_go(tvm_new("spin", 2, 10, 1000, 1));
    tvm_go(tvm_new("spin", 3, 10, 1000, 0));
    pl_sleep_ns(200 * MS);
    for (uint32_t i = 1; i <= 3; i++) {
        assert_true(ticks(i) > 0);
        assert_false(atomic_load(&g_tid_mixed[i]));
    }
    assert_true(atomic_load(&g_tid[1]) == atomic_load(&g_tid[2]));
    assert_true(atomic_load(&g_tid[1]) != atomic_load(&g_tid[3]));
}

/* Green threads keep their own __stack_pointer and start at the stack
 * top their spawner gave; the VM ends when main returns. */
static void
test_sched_threads_swap_stack_pointer(void **state)
{
    tvm_t *v;

    (void)state;
    rt_new(1);
    v = tvm_new("threads_main", 0, 10, 1000, -1);
    tvm_go(v);
    assert_true(wait_until(has_ended, v, 5000));
    assert_int_equal(ended_status(v), VMRT_RUN_DONE);
    assert_int_equal(ticks(1), 20);
    assert_int_equal(ticks(2), 20);
}

/* A trap in a non-main thread ends the VM as a trap. */
static void
test_sched_thread_trap_ends_vm(void **state)
{
    tvm_t *v;

    (void)state;
    rt_new(1);
    v = tvm_new("spawn_trap", 0, 10, 1000, -1);
    tvm_go(v);
    assert_true(wait_until(has_ended, v, 3000));
    assert_int_equal(ended_status(v), VMRT_RUN_TRAP);
}

/* A VM with a watchdog that never kicks it is ended by the watchdog, even
 * while spinning. */
static void
test_sched_watchdog_ends_spinner(void **state)
{
    tvm_t *v;

    (void)state;
    rt_new(1);
    v = tvm_new("spin", 1, 10, 1000, -1);
    v->vm.man.watchdog_ms = 30;
    tvm_go(v);
    assert_true(wait_until(has_ended, v, 3000));
    assert_int_equal(ended_status(v), VMRT__END_WATCHDOG);
}

static bool
end_entered(void *arg)
{
    (void)arg;
    return atomic_load(&g_end_entered);
}

/*
 * The worker owns an ended VM until its end report returned: a park (what
 * a stop or restart does first) that starts while the report is under way
 * waits for it, so a late report can never reach the next run.
 */
static void
test_sched_end_report_lands_before_park_returns(void **state)
{
    tvm_t *v;

    (void)state;
    rt_new(1);
    atomic_store(&g_end_entered, false);
    atomic_store(&g_end_delay_ms, 150);
    v = tvm_new("work", 10, 10, 1000, -1);
    tvm_go(v);
    assert_true(wait_until(end_entered, NULL, 3000));
    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_remove(&v->vm);
    pl_mutex_unlock(&g_rt->lock);
    atomic_store(&g_end_delay_ms, 0);
    assert_int_equal(ended_status(v), VMRT_RUN_DONE);
}

/* Two VMs yielding to each other take turns (a VM context switch). */
static void
test_sched_yield_ping_pong(void **state)
{
    (void)state;
    rt_new(1);
    tvm_go(tvm_new("yielder", 1, 10, 1000, -1));
    tvm_go(tvm_new("yielder", 2, 10, 1000, -1));
    pl_sleep_ns(100 * MS);
    assert_true(ticks(1) > 100);
    assert_true(ticks(2) + 2 >= ticks(1) && ticks(1) + 2 >= ticks(2));
}

static uint32_t
thread_count(tvm_t *v)
{
    vmrt__vthread_t *t;
    uint32_t n = 0;

    pl_mutex_lock(&g_rt->lock);
    for (t = v->vm.threads; t != NULL; t = t->next)
        n++;
    pl_mutex_unlock(&g_rt->lock);
    return n;
}

static bool
irq_ticks_at_least(void *arg)
{
    return ticks(7) >= (uint64_t)(uintptr_t)arg;
}

/* An interrupt raised from another thread runs its handler promptly, ahead
 * of a spinning thread with a long slice, and the handler's thread is
 * freed when it returns. */
static void
test_sched_irq_handler_runs_first(void **state)
{
    tvm_t *v;
    uint64_t t0;

    (void)state;
    rt_new(1);
    v = tvm_new("spin", 1, 10, 2000000, -1);
    tvm_go(v);
    pl_sleep_ns(10 * MS);
    for (uint32_t i = 1; i <= 50; i++) {
        t0 = pl_time_mono_ns();
        pl_mutex_lock(&g_rt->lock);
        assert_int_equal(vmrt__vthread_spawn_irq(&v->vm, 0, 3, 7), 0);
        pl_mutex_unlock(&g_rt->lock);
        assert_true(wait_until(irq_ticks_at_least, (void *)(uintptr_t)i,
                               2000));
        /* Far below the spinner's 2 s slice. */
        assert_true(pl_time_mono_ns() - t0 < 1000 * MS);
    }
    assert_int_equal(ticks(7), 50);
    assert_int_equal(thread_count(v), 1);
    assert_true(ticks(1) > 0);
}

static bool
all_spawned_done(void *arg)
{
    tvm_t *v = arg;
    vmrt__vthread_t *t;
    uint32_t n = 0;

    pl_mutex_lock(&g_rt->lock);
    for (t = v->vm.threads; t != NULL; t = t->next)
        n += t != &v->main && t->state == VMRT__VT_DONE;
    pl_mutex_unlock(&g_rt->lock);
    return n == 20;
}

/* Spawning from a thread that is not the VM's worker (a vOS timer
 * dispatcher) holds the VM off its worker while the engine is touched, and
 * the threads run. */
static void
test_sched_spawn_from_other_thread(void **state)
{
    tvm_t *v;
    vmrt__vthread_t *t;
    vmrt_extern_kind_t kind;
    uint32_t idx;

    (void)state;
    rt_new(2);
    v = tvm_new("spin", 1, 10, 200000, -1);
    assert_int_equal(vmrt_instance_find_export(v->vm.inst, "work", &kind,
                                               &idx), 0);
    tvm_go(v);
    pl_sleep_ns(5 * MS);
    for (uint32_t i = 0; i < 20; i++) {
        assert_int_equal(vmrt__vthread_spawn(&v->vm, false, idx, 50, 0,
                                             false, &t), 0);
        pl_sleep_ns(MS / 2);
    }
    assert_true(wait_until(all_spawned_done, v, 5000));
    assert_true(ticks(1) > 0);
}

/* Timers fire in deadline order; a cancelled one never fires. */
static uint32_t g_fired[4];
static uint32_t g_nfired;

static void
timer_fn(vmrt__timer_t *t)
{
    g_fired[g_nfired++ % 4] = (uint32_t)(uintptr_t)t->arg;
}

static bool
fired_at_least(void *arg)
{
    uint32_t n;

    pl_mutex_lock(&g_rt->lock);
    n = g_nfired;
    pl_mutex_unlock(&g_rt->lock);
    return n >= (uint32_t)(uintptr_t)arg;
}

static void
test_sched_timers_fire_in_order(void **state)
{
    vmrt__timer_t t[4];
    uint64_t now;

    (void)state;
    rt_new(1);
    memset(t, 0, sizeof(t));
    g_nfired = 0;
    now = pl_time_mono_ns();
    pl_mutex_lock(&g_rt->lock);
    for (uint32_t i = 0; i < 4; i++) {
        t[i].fn = timer_fn;
        t[i].arg = (void *)(uintptr_t)i;
    }
    vmrt__timer_arm(g_rt, &t[0], now + 40 * MS);
    vmrt__timer_arm(g_rt, &t[1], now + 10 * MS);
    vmrt__timer_arm(g_rt, &t[2], now + 20 * MS);
    vmrt__timer_arm(g_rt, &t[3], now + 15 * MS);
    vmrt__timer_cancel(g_rt, &t[3]);
    vmrt__timer_arm(g_rt, &t[0], now + 30 * MS); /* re-arm moves it */
    pl_mutex_unlock(&g_rt->lock);
    assert_true(wait_until(fired_at_least, (void *)(uintptr_t)3, 2000));
    pl_sleep_ns(20 * MS);
    pl_mutex_lock(&g_rt->lock);
    assert_int_equal(g_nfired, 3);
    assert_int_equal(g_fired[0], 1);
    assert_int_equal(g_fired[1], 2);
    assert_int_equal(g_fired[2], 0);
    assert_false(t[3].armed);
    pl_mutex_unlock(&g_rt->lock);
}

static int
group_setup(void **state)
{
    char err[128];

    (void)state;
    if (pl_mutex_init(&g_end_lock) != 0)
        return -1;
    return vmrt_module_load(sched_test_wasm, sched_test_wasm_len, &g_mod, err,
                            sizeof(err));
}

static int
group_teardown(void **state)
{
    (void)state;
    vmrt_module_free(g_mod);
    pl_mutex_destroy(&g_end_lock);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sched_high_prio_not_delayed_by_spinner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_equal_prio_share_cpu,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_wake_order_by_priority,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_deadline_expires, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_park_unpark_spinner,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_affinity_pins_worker,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sched_threads_swap_stack_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sched_end_report_lands_before_park_returns, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_sched_thread_trap_ends_vm,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_watchdog_ends_spinner,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_yield_ping_pong, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sched_irq_handler_runs_first,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_spawn_from_other_thread,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sched_timers_fire_in_order,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
