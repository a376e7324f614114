/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * schedbench: the scheduler's costs (docs/performance.md, "Runtime").
 *
 * - VM context switch: two VMs on one worker yield to each other (a host
 *   call that wakes the other and blocks); time per switch.
 * - Scheduling overhead at a 1 ms slice: a CPU-bound guest loop run bare
 *   (vmrt_thread_run with unlimited fuel) vs. the same loop in two VMs of
 *   equal priority sharing one worker with 1 ms slices (so every slice
 *   ends in a VM switch), compared on process CPU time and wall time.
 *
 * VMs are built by hand as in tests/unit/runtime/test_sched.c (the guest
 * is its sched_test.wat); the scheduler is the real one.
 */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vm/vm_internal.h"

extern const unsigned char sched_test_wasm[];
extern const size_t sched_test_wasm_len;

#define MS 1000000ull

static vmrt_module_t *g_mod;
static vmrt_rt_t *g_rt;
static vmrt__waitq_t g_yq;
static atomic_uint_fast64_t g_ticks;
static atomic_int g_ended;
static pl_mutex_t g_end_lock; /* with g_end_cond: the bench waits for ends */
static pl_cond_t g_end_cond;

typedef struct {
    vmrt_vm_t vm;
    vmrt__vthread_t main;
} bvm_t;

void
vmrt__vm_ended(vmrt_vm_t *vm, int status, int32_t exit_code,
               const vmrt_trap_info_t *trap)
{
    (void)vm;
    (void)exit_code;
    (void)trap;
    if (status != VMRT_RUN_DONE)
        fprintf(stderr, "schedbench: VM ended with %d\n", status);
    pl_mutex_lock(&g_end_lock);
    atomic_fetch_add(&g_ended, 1);
    pl_cond_signal(&g_end_cond);
    pl_mutex_unlock(&g_end_lock);
}

static int
h_tick(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
       uint64_t *results)
{
    (void)inst;
    (void)ctx;
    (void)args;
    (void)results;
    atomic_fetch_add(&g_ticks, 1);
    return 0;
}

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
h_unused(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
         uint64_t *results)
{
    (void)inst;
    (void)ctx;
    (void)args;
    (void)results;
    return -1;
}

static void
die(const char *what)
{
    fprintf(stderr, "schedbench: %s\n", what);
    exit(1);
}

static bvm_t *
bvm_new(const char *fn, uint32_t arg)
{
    bvm_t *v = calloc(1, sizeof(*v));
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_extern_kind_t kind;
    vmrt_val_t a;
    uint32_t idx;
    char err[128];

    if (v == NULL || lk == NULL)
        die("out of memory");
    v->vm.rt = g_rt;
    v->vm.man.priority = 10;
    v->vm.man.slice_us = 1000;
    v->vm.man.affinity = -1;
    if (vmrt_linker_define_func(lk, "t", "tick", "(i)", h_tick, NULL) ||
        vmrt_linker_define_func(lk, "t", "sleep", "(i)", h_unused, NULL) ||
        vmrt_linker_define_func(lk, "t", "wait", "(ii)i", h_unused, NULL) ||
        vmrt_linker_define_func(lk, "t", "spawn", "(i)", h_unused, NULL) ||
        vmrt_linker_define_func(lk, "t", "yield", "()", h_yield, NULL))
        die("linker");
    if (vmrt_instance_create(g_mod, lk, NULL, &v->vm.inst, err,
                             sizeof(err)) != 0)
        die(err);
    vmrt_linker_free(lk);
    vmrt_instance_set_user(v->vm.inst, &v->vm);
    v->main.vm = &v->vm;
    v->main.th = vmrt_instance_main_thread(v->vm.inst);
    v->main.state = VMRT__VT_RUNNABLE;
    v->vm.threads = &v->main;
    if (vmrt_instance_find_export(v->vm.inst, fn, &kind, &idx) != 0)
        die("export");
    memset(&a, 0, sizeof(a));
    a.type = VMRT_I32;
    a.of.i32 = (int32_t)arg;
    if (vmrt_thread_call(v->main.th, idx, &a, 1) != 0)
        die("call");
    return v;
}

static void
bvm_go(bvm_t *v)
{
    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_add(&v->vm);
    pl_mutex_unlock(&g_rt->lock);
}

static void
bvm_free(bvm_t *v)
{
    pl_mutex_lock(&g_rt->lock);
    vmrt__sched_remove(&v->vm);
    pl_mutex_unlock(&g_rt->lock);
    vmrt_instance_free(v->vm.inst);
    free(v);
}

static void
rt_up(void)
{
    if ((g_rt = calloc(1, sizeof(*g_rt))) == NULL)
        die("out of memory");
    g_rt->cfg.workers = 1;
    if (pl_mutex_init(&g_rt->lock) != 0 || vmrt__sched_create(g_rt) != 0 ||
        vmrt__sched_start(g_rt) != 0)
        die("scheduler");
}

static void
rt_down(void)
{
    vmrt__sched_destroy(g_rt);
    pl_mutex_destroy(&g_rt->lock);
    free(g_rt);
    g_rt = NULL;
}

static double
cpu_s(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

/* Two VMs yielding to each other for `ms`: ns per switch. */
static double
bench_switch(uint32_t ms)
{
    bvm_t *a, *b;
    uint64_t t0, n;

    rt_up();
    memset(&g_yq, 0, sizeof(g_yq));
    a = bvm_new("yielder", 1);
    b = bvm_new("yielder", 2);
    bvm_go(a);
    bvm_go(b);
    pl_sleep_ns(50 * MS); /* warm up */
    n = atomic_load(&g_ticks);
    t0 = pl_time_mono_ns();
    pl_sleep_ns(ms * MS);
    n = atomic_load(&g_ticks) - n;
    t0 = pl_time_mono_ns() - t0;
    bvm_free(a);
    bvm_free(b);
    rt_down();
    return n ? (double)t0 / (double)n : 0.0;
}

/* `rounds` of the work loop, twice, run bare in runs of `fuel` (UINT64_MAX:
 * one run); CPU and wall seconds. */
static void
bench_bare(uint32_t rounds, uint64_t fuel, double *cpu, double *wall)
{
    double c0 = cpu_s();
    uint64_t t0 = pl_time_mono_ns();

    rt_up(); /* idle, for the same process shape */
    for (int i = 0; i < 2; i++) {
        bvm_t *v = bvm_new("work", rounds);

        int st;

        while ((st = vmrt_thread_run(v->main.th, fuel, NULL)) ==
               VMRT_RUN_YIELD)
            ;
        if (st != VMRT_RUN_DONE)
            die("bare run");
        vmrt_instance_free(v->vm.inst);
        free(v);
    }
    rt_down();
    *cpu = cpu_s() - c0;
    *wall = (double)(pl_time_mono_ns() - t0) / 1e9;
}

/* The same two loops as two VMs sharing one worker, 1 ms slices. */
static void
bench_sched(uint32_t rounds, double *cpu, double *wall)
{
    double c0 = cpu_s();
    uint64_t t0 = pl_time_mono_ns();
    bvm_t *a, *b;

    rt_up();
    atomic_store(&g_ended, 0);
    a = bvm_new("work", rounds);
    b = bvm_new("work", rounds);
    bvm_go(a);
    bvm_go(b);
    /* Sleep on a condition: polling would add its own CPU time. */
    pl_mutex_lock(&g_end_lock);
    while (atomic_load(&g_ended) < 2)
        pl_cond_wait(&g_end_cond, &g_end_lock);
    pl_mutex_unlock(&g_end_lock);
    *wall = (double)(pl_time_mono_ns() - t0) / 1e9;
    bvm_free(a);
    bvm_free(b);
    rt_down();
    *cpu = cpu_s() - c0;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    uint32_t rounds = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 200000;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    uint64_t chunk = argc > 3 ? strtoull(argv[3], NULL, 10) : 30000;
    double sw[16], uc[16], uw[16], bc[16], bw[16], sc[16], swl[16];
    char err[128];
    int m;

    if (reps < 1 || reps > 16)
        die("reps: 1..16");
    if (pl_mutex_init(&g_end_lock) != 0 || pl_cond_init(&g_end_cond) != 0)
        die("mutex");
    if (vmrt_module_load(sched_test_wasm, sched_test_wasm_len, &g_mod, err,
                         sizeof(err)) != 0)
        die(err);
    for (int i = 0; i < reps; i++) {
        sw[i] = bench_switch(300);
        bench_bare(rounds, UINT64_MAX, &uc[i], &uw[i]);
        bench_bare(rounds, chunk, &bc[i], &bw[i]);
        bench_sched(rounds, &sc[i], &swl[i]);
        printf("rep %d: switch %.0f ns; cpu s: bare %.3f, chunked %.3f, "
               "sched %.3f; wall s: %.3f %.3f %.3f\n",
               i, sw[i], uc[i], bc[i], sc[i], uw[i], bw[i], swl[i]);
    }
    qsort(sw, (size_t)reps, sizeof(double), cmp_double);
    qsort(uc, (size_t)reps, sizeof(double), cmp_double);
    qsort(bc, (size_t)reps, sizeof(double), cmp_double);
    qsort(sc, (size_t)reps, sizeof(double), cmp_double);
    m = reps / 2;
    printf("median VM switch: %.0f ns\n", sw[m]);
    printf("median cpu s: bare run %.3f, bare run loop (fuel %llu) %.3f, "
           "scheduler %.3f\n", uc[m], (unsigned long long)chunk, bc[m],
           sc[m]);
    printf("overhead vs bare run loop: median %+.2f%%, min-to-min %+.2f%%\n",
           100.0 * (sc[m] - bc[m]) / bc[m], 100.0 * (sc[0] - bc[0]) / bc[0]);
    printf("overhead vs one bare run: median %+.2f%%, min-to-min %+.2f%%\n",
           100.0 * (sc[m] - uc[m]) / uc[m], 100.0 * (sc[0] - uc[0]) / uc[0]);
    vmrt_module_free(g_mod);
    return 0;
}
