/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Isolation guarantees (issue 4), each driven through the public runtime
 * API on a real runtime with real guests (tests/programs/iso_guest.c, its
 * behaviour picked by the manifest's first argument):
 *
 * 1. a spinning VM cannot delay a higher-priority VM (same worker, and two
 *    workers both busy), and at equal priority takes no more than its
 *    share;
 * 2. a VM that traps, runs out of memory or floods IPC harms only itself;
 * 3. restarts under the on-failure policy do not disturb the others;
 * 4. a crash loop ends in `failed`, with a crash event and the restart
 *    count;
 * 5. a VM that stops kicking its watchdog is restarted, one that kicks in
 *    time is not.
 *
 * The victim is a ticker that sleeps 1 ms in a loop and logs, per 50 ms
 * window, its largest gap between two ticks.  Bounds are loose: on a
 * 2-core machine at load 8 the ticker ALONE saw 20 ms gaps, and up to
 * 80 ms beside spinners, where the design gives ~1 ms.  Yet they are far
 * below what a broken guarantee gives: the spinners get 1 s slices, so
 * without preemption the ticker's gap is ~1 s, which the control test
 * (equal priority, where no preemption is due) checks the figures show.
 * A host probe (a plain thread sleeping 1 ms) measures the load's own
 * stalls; the bound is 250 ms plus the probe's worst gap.  Measured
 * figures are printed, prefixed "[isolation]"; ISO_FILTER=pattern runs
 * some tests only.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pl/fs.h"
#include "pl/pl.h"
#include "pl/thread.h"
#include "vmrt/runtime.h"

#ifndef ISO_WASM_DIR
#error "ISO_WASM_DIR: where vmf_wasm_program put iso_guest.wasm"
#endif

#define MS 1000000ull          /* ns */
#define GAP_MAX_US 250000ull   /* a victim's worst gap or call time */
#define LONG_SLICE_US 1000000u /* spinners: without preemption, 1 s gaps */

typedef struct {
    char dir[128];
    vmrt_rt_t *rt;
    uint8_t *wasm;
    size_t wasm_len;
    pl_mutex_t ev_lock;
    vmrt_event_t evs[1024]; /* the first ones; later ones are dropped */
    uint32_t nevs;
    /* The host probe: a plain thread of this process that sleeps 1 ms in
     * a loop, as the ticker does in its VM.  Its worst gap is what the
     * machine's load alone gives, printed beside the ticker's. */
    pl_thread_t probe;
    atomic_bool probe_stop;
    atomic_ullong probe_max_ns;
} fx_t;

static void
probe_main(void *arg)
{
    fx_t *fx = arg;
    uint64_t prev = pl_time_mono_ns(), now;

    while (!atomic_load(&fx->probe_stop)) {
        pl_sleep_ns(MS);
        now = pl_time_mono_ns();
        if (now - prev > atomic_load(&fx->probe_max_ns))
            atomic_store(&fx->probe_max_ns, now - prev);
        prev = now;
    }
}

static void
on_event(void *arg, const vmrt_event_t *ev)
{
    fx_t *fx = arg;

    pl_mutex_lock(&fx->ev_lock);
    if (fx->nevs < sizeof(fx->evs) / sizeof(fx->evs[0]))
        fx->evs[fx->nevs++] = *ev;
    pl_mutex_unlock(&fx->ev_lock);
}

/* Events of `kind` for VM `vm`; the last one in *last if not NULL. */
static uint32_t
count_events(fx_t *fx, vmrt_event_kind_t kind, const char *vm,
             vmrt_event_t *last)
{
    uint32_t i, n = 0;

    pl_mutex_lock(&fx->ev_lock);
    for (i = 0; i < fx->nevs; i++) {
        if (fx->evs[i].kind == kind && strcmp(fx->evs[i].vm, vm) == 0) {
            n++;
            if (last != NULL)
                *last = fx->evs[i];
        }
    }
    pl_mutex_unlock(&fx->ev_lock);
    return n;
}

static int
rt_up(fx_t *fx, uint32_t workers)
{
    vmrt_rt_config_t c;
    char err[160];
    char path[512];

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_isolation.XXXXXX");
    if (pl_fs_mkdtemp(fx->dir) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/iso_guest.wasm", ISO_WASM_DIR);
    if (pl_file_read_all(path, 16u << 20, &fx->wasm, &fx->wasm_len) != 0)
        return -1;
    if (pl_mutex_init(&fx->ev_lock) != 0)
        return -1;
    memset(&c, 0, sizeof(c));
    c.workers = workers;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", fx->dir);
    if (vmrt_rt_create(&c, &fx->rt, err, sizeof(err)) != 0) {
        print_message("vmrt_rt_create: %s\n", err);
        return -1;
    }
    if (vmrt_rt_subscribe(fx->rt, on_event, fx) != 0 ||
        vmrt_rt_start(fx->rt) != 0)
        return -1;
    return pl_thread_create(&fx->probe, NULL, probe_main, fx);
}

static int
setup_one(void **state, uint32_t workers)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    if (fx == NULL || rt_up(fx, workers) != 0)
        return -1;
    *state = fx;
    return 0;
}

static int
setup1(void **state)
{
    return setup_one(state, 1);
}

static int
setup2(void **state)
{
    return setup_one(state, 2);
}

static int
teardown(void **state)
{
    fx_t *fx = *state;

    atomic_store(&fx->probe_stop, true);
    (void)pl_thread_join(&fx->probe);
    vmrt_rt_destroy(fx->rt);
    pl_mutex_destroy(&fx->ev_lock);
    pl_free_file(fx->wasm);
    (void)pl_fs_remove_tree(fx->dir);
    free(fx);
    return 0;
}

/* A manifest for VM `name` running iso_guest in `mode`. */
static void
man_init(vmrt_manifest_t *m, const char *name, const char *mode)
{
    vmrt_manifest_init(m);
    snprintf(m->name, sizeof(m->name), "%s", name);
    snprintf(m->version, sizeof(m->version), "1.0.0");
    snprintf(m->args[0], sizeof(m->args[0]), "%s", mode);
    m->nargs = 1;
    m->memory_pages = 128;
}

static void
vm_go(fx_t *fx, const vmrt_manifest_t *m)
{
    char err[160];

    if (vmrt_vm_create(fx->rt, m, fx->wasm, fx->wasm_len, err,
                       sizeof(err)) != 0)
        fail_msg("create %s: %s", m->name, err);
    if (vmrt_vm_start(fx->rt, m->name, err, sizeof(err)) != 0)
        fail_msg("start %s: %s", m->name, err);
}

static vmrt_vm_info_t
info_of(fx_t *fx, const char *name)
{
    vmrt_vm_info_t info;

    assert_int_equal(vmrt_vm_info(fx->rt, name, &info), 0);
    return info;
}

static uint64_t
now_us(void)
{
    return pl_time_mono_ns() / 1000u;
}

/* Start of a measurement: now, and the host probe starts afresh. */
static uint64_t
mark(fx_t *fx)
{
    atomic_store(&fx->probe_max_ns, 0);
    return now_us();
}

/* Print VM `name`'s log (for failures and VERBOSE). */
static void
show_log(fx_t *fx, const char *name)
{
    static char log[16384];
    vmrt_vm_info_t info = info_of(fx, name);
    uint64_t next;
    size_t n;

    n = vmrt_vm_log_read(fx->rt, name, 0, log, sizeof(log) - 1, &next);
    log[n] = '\0';
    print_message("--- %s: %s, restarts %u, error '%s'; log:\n%s\n", name,
                  vmrt_vm_state_str(info.state), info.restarts,
                  info.last_error, log);
}

/* The most memory the "oom" guest got before malloc failed, in KiB (its
 * "oom after N KiB" lines), or 0 if it never said. */
static unsigned long
oom_reached_kib(fx_t *fx, const char *name)
{
    static char log[16384];
    unsigned long kib, max = 0;
    const char *p;
    uint64_t next;
    size_t n;

    n = vmrt_vm_log_read(fx->rt, name, 0, log, sizeof(log) - 1, &next);
    log[n] = '\0';
    for (p = log; (p = strstr(p, "oom after ")) != NULL; p++)
        if (sscanf(p, "oom after %lu KiB", &kib) == 1 && kib > max)
            max = kib;
    return max;
}

/* What a VM's window lines ("T ...", "C ...", "F ...") say about the
 * windows that ended within [from_us, to_us]. */
typedef struct {
    uint32_t windows;
    uint64_t count;   /* ticks, calls or sent messages */
    uint64_t max;     /* worst gap or call time, us; or messages refused */
    uint64_t errors;  /* failed calls */
} stats_t;

static stats_t
window_stats(fx_t *fx, const char *name, char kind, uint64_t from_us,
             uint64_t to_us)
{
    static char log[65536];
    unsigned long long t, a, b, c;
    stats_t st;
    uint64_t next;
    const char *p;
    size_t n;

    memset(&st, 0, sizeof(st));
    n = vmrt_vm_log_read(fx->rt, name, 0, log, sizeof(log) - 1, &next);
    log[n] = '\0';
    for (p = log; p != NULL && *p != '\0';
         p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        int k;

        if (p[0] != kind || p[1] != ' ')
            continue;
        c = 0;
        k = sscanf(p + 2, "%llu %llu %llu %llu", &t, &a, &b, &c);
        if (k < 3 || t < from_us || t > to_us)
            continue;
        st.windows++;
        st.count += a;
        if (kind == 'F')
            st.max += b; /* messages refused: sum, not max */
        else if (b > st.max)
            st.max = b;
        st.errors += c;
    }
    return st;
}

/*
 * The ticker's windows over [from_us, to_us]: prints and checks them.  It
 * must have ticked at least once per `period_ms` on average: 10 ms when it
 * outranks or shares with sleepers (it asks for 1 ms), 50 ms when it waits
 * its turn behind two spinners' 5 ms slices.
 */
static stats_t
check_ticker(fx_t *fx, const char *name, const char *what, uint64_t from_us,
             uint64_t to_us, uint64_t period_ms)
{
    stats_t st = window_stats(fx, name, 'T', from_us, to_us);
    uint64_t span_ms = (to_us - from_us) / 1000u;
    uint64_t host_us = atomic_load(&fx->probe_max_ns) / 1000u;
    /* What the host itself stalled a sleeping thread by is not the
     * runtime's doing: the bound allows it on top. */
    uint64_t bound_us = GAP_MAX_US + host_us;

    print_message("[isolation] %s: ticker max gap %llu us, %llu ticks "
                  "in %llu ms (%u windows); host probe max gap %llu us\n",
                  what, (unsigned long long)st.max,
                  (unsigned long long)st.count, (unsigned long long)span_ms,
                  st.windows, (unsigned long long)host_us);
    if (st.windows < 2 || st.max >= bound_us)
        show_log(fx, name);
    /* Windows end every 50 ms while the ticker runs at all (a quarter of
     * them: under load its 1 ms sleeps last 3 ms and more). */
    assert_true(st.windows >= span_ms / 50u / 4u);
    assert_true(st.max < bound_us);
    /* It really ticked often, not just once a window. */
    assert_true(st.count >= span_ms / period_ms);
    return st;
}

/* Start a high-priority ticker and a low-priority spinner per worker, all
 * on `affinity` (or any worker); check the ticker over 1.5 s. */
static void
spinner_vs_ticker(fx_t *fx, int32_t affinity, uint32_t nspin,
                  const char *what)
{
    vmrt_manifest_t m;
    uint64_t t0, t1, cpu = 0;
    char name[16];
    stats_t base;
    uint32_t i;

    man_init(&m, "ticker", "tick");
    m.priority = 4;
    m.affinity = affinity;
    vm_go(fx, &m);
    /* Its gaps alone first: what the machine's load gives anyway. */
    pl_sleep_ns(100 * MS);
    t0 = mark(fx);
    pl_sleep_ns(500 * MS);
    base = window_stats(fx, "ticker", 'T', t0 + 50000u, now_us());
    print_message("[isolation] %s: baseline, ticker alone: max gap %llu us, "
                  "%llu ticks; host probe max gap %llu us\n", what,
                  (unsigned long long)base.max,
                  (unsigned long long)base.count,
                  (unsigned long long)(atomic_load(&fx->probe_max_ns) /
                                       1000u));
    for (i = 0; i < nspin; i++) {
        snprintf(name, sizeof(name), "spin%u", i);
        man_init(&m, name, "spin");
        m.priority = 20;
        m.affinity = affinity;
        m.slice_us = LONG_SLICE_US;
        vm_go(fx, &m);
    }
    pl_sleep_ns(200 * MS); /* everybody running */
    t0 = mark(fx);
    pl_sleep_ns(1500 * MS);
    t1 = now_us();
    (void)check_ticker(fx, "ticker", what, t0 + 50000u, t1, 10);
    for (i = 0; i < nspin; i++) {
        snprintf(name, sizeof(name), "spin%u", i);
        cpu += info_of(fx, name).cpu_ms;
        assert_int_equal(info_of(fx, name).state, VMRT_VM_RUNNING);
    }
    print_message("[isolation] %s: spinners used %llu ms of CPU\n", what,
                  (unsigned long long)cpu);
    /* The spinners did spin: the test would prove nothing otherwise.
     * (Loosely: the ticker and the machine's load take their part.) */
    assert_true(cpu >= 500u * nspin);
}

static void
test_isolation_spinner_cannot_delay_higher_prio_same_worker(void **state)
{
    spinner_vs_ticker(*state, 0, 1, "same worker, prio 4 vs 20");
}

static void
test_isolation_spinners_cannot_delay_higher_prio_two_workers(void **state)
{
    spinner_vs_ticker(*state, -1, 2, "2 workers both spinning");
}

/*
 * The control: the same pair at EQUAL priority may not preempt each
 * other, so the spinner's 1 s slice shows as a ~1 s gap.  This proves the
 * ticker's figures would catch a broken preemption; the bound is four
 * times smaller than what it catches here.
 */
static void
test_isolation_equal_prio_long_slice_shows_as_gap(void **state)
{
    fx_t *fx = *state;
    vmrt_manifest_t m;
    uint64_t t0, t1;
    stats_t st;

    man_init(&m, "ticker", "tick");
    m.affinity = 0;
    vm_go(fx, &m);
    man_init(&m, "spin0", "spin");
    m.affinity = 0;
    m.slice_us = LONG_SLICE_US;
    vm_go(fx, &m);
    t0 = mark(fx);
    pl_sleep_ns(2500 * MS);
    t1 = now_us();
    st = window_stats(fx, "ticker", 'T', t0, t1);
    print_message("[isolation] control, equal prio, 1 s slice: ticker max "
                  "gap %llu us, %llu ticks in %llu ms\n",
                  (unsigned long long)st.max, (unsigned long long)st.count,
                  (unsigned long long)((t1 - t0) / 1000u));
    assert_true(st.max >= 2 * GAP_MAX_US);
}

/* Equal priority: two spinners on one worker share it about evenly, and
 * a ticker at their priority waits no more than a slice or two. */
static void
test_isolation_equal_prio_spinners_share_worker(void **state)
{
    fx_t *fx = *state;
    vmrt_manifest_t m;
    uint64_t a0, b0, a1, b1, t0, t1, da, db, wall_ms;

    man_init(&m, "spinA", "spin");
    m.affinity = 0;
    m.slice_us = 5000;
    vm_go(fx, &m);
    man_init(&m, "spinB", "spin");
    m.affinity = 0;
    m.slice_us = 5000;
    vm_go(fx, &m);
    man_init(&m, "ticker", "tick");
    m.affinity = 0;
    m.slice_us = 5000;
    vm_go(fx, &m);
    pl_sleep_ns(200 * MS);
    t0 = mark(fx);
    a0 = info_of(fx, "spinA").cpu_ms;
    b0 = info_of(fx, "spinB").cpu_ms;
    pl_sleep_ns(2000 * MS);
    t1 = now_us();
    a1 = info_of(fx, "spinA").cpu_ms;
    b1 = info_of(fx, "spinB").cpu_ms;
    da = a1 - a0;
    db = b1 - b0;
    wall_ms = (t1 - t0) / 1000u;
    print_message("[isolation] equal prio, one worker: spinA %llu ms, "
                  "spinB %llu ms of %llu ms (shares %.0f%% / %.0f%%)\n",
                  (unsigned long long)da, (unsigned long long)db,
                  (unsigned long long)wall_ms,
                  da + db ? 100.0 * (double)da / (double)(da + db) : 0.0,
                  da + db ? 100.0 * (double)db / (double)(da + db) : 0.0);
    /* The worker was busy, and neither took more than ~2/3 of it. */
    assert_true(da + db >= wall_ms / 2u);
    assert_true(da * 3u <= (da + db) * 2u);
    assert_true(db * 3u <= (da + db) * 2u);
    /* Round robin: the ticker waits for two 5 ms slices at worst. */
    (void)check_ticker(fx, "ticker", "equal prio ticker beside 2 spinners",
                       t0 + 50000u, t1, 50);
}

/* A trapper, an out-of-memory VM and an IPC flooder, all at the victims'
 * priority, restarting on failure: a ticker keeps ticking and a client of
 * a third VM's service (the one being flooded) still gets its answers. */
static void
test_isolation_trap_oom_flood_harm_only_themselves(void **state)
{
    fx_t *fx = *state;
    vmrt_manifest_t m;
    vmrt_vm_info_t trap, oom;
    vmrt_event_t trap_ev, oom_ev;
    uint64_t t0, t1, host_us;
    unsigned long oom_kib;
    stats_t calls, flood;

    man_init(&m, "ticker", "tick");
    vm_go(fx, &m);
    man_init(&m, "server", "serve");
    snprintf(m.provides[0], sizeof(m.provides[0]), "net");
    m.nprovides = 1;
    vm_go(fx, &m);
    man_init(&m, "client", "call");
    snprintf(m.calls[0], sizeof(m.calls[0]), "net");
    m.ncalls = 1;
    vm_go(fx, &m);
    pl_sleep_ns(100 * MS);

    man_init(&m, "flooder", "flood");
    snprintf(m.calls[0], sizeof(m.calls[0]), "net");
    m.ncalls = 1;
    vm_go(fx, &m);
    man_init(&m, "trapper", "trap");
    m.restart = VMRT_RESTART_ON_FAILURE;
    m.max_retries = 1000000;
    m.backoff_ms = 5;
    m.backoff_max_ms = 5;
    vm_go(fx, &m);
    man_init(&m, "oom", "oom");
    m.memory_pages = 64; /* 4 MiB */
    m.restart = VMRT_RESTART_ON_FAILURE;
    m.max_retries = 1000000;
    m.backoff_ms = 5;
    m.backoff_max_ms = 5;
    vm_go(fx, &m);

    pl_sleep_ns(100 * MS);
    t0 = mark(fx);
    pl_sleep_ns(2000 * MS);
    t1 = now_us();

    (void)check_ticker(fx, "ticker", "trap+oom+flood", t0 + 50000u, t1, 10);
    calls = window_stats(fx, "client", 'C', t0 + 50000u, t1);
    flood = window_stats(fx, "flooder", 'F', t0 + 50000u, t1);
    trap = info_of(fx, "trapper");
    oom = info_of(fx, "oom");
    memset(&trap_ev, 0, sizeof(trap_ev));
    memset(&oom_ev, 0, sizeof(oom_ev));
    (void)count_events(fx, VMRT_EV_CRASH, "trapper", &trap_ev);
    (void)count_events(fx, VMRT_EV_CRASH, "oom", &oom_ev);
    oom_kib = oom_reached_kib(fx, "oom");
    print_message("[isolation] trap+oom+flood: trapper's last crash '%s'; "
                  "oom's '%s' after malloc got %lu KiB\n", trap_ev.detail,
                  oom_ev.detail, oom_kib);
    print_message("[isolation] trap+oom+flood: client %llu calls, worst "
                  "%llu us, %llu failed; flooder sent %llu, refused %llu; "
                  "trapper restarts %u, oom restarts %u\n",
                  (unsigned long long)calls.count,
                  (unsigned long long)calls.max,
                  (unsigned long long)calls.errors,
                  (unsigned long long)flood.count,
                  (unsigned long long)flood.max, trap.restarts,
                  oom.restarts);
    host_us = atomic_load(&fx->probe_max_ns) / 1000u;
    if (calls.errors != 0 || calls.max >= GAP_MAX_US + host_us ||
        flood.max == 0 ||
        trap.restarts < 5 || oom.restarts < 1 || oom_kib == 0 ||
        strstr(oom_ev.detail, "trap") == NULL ||
        getenv("ISO_VERBOSE") != NULL) {
        show_log(fx, "client");
        show_log(fx, "flooder");
        show_log(fx, "server");
        show_log(fx, "trapper");
        show_log(fx, "oom");
    }
    /* The misbehaviour happened and hurt the misbehaving VMs... */
    assert_true(flood.max > 0);      /* it hit its share of the queue */
    assert_true(trap.restarts >= 5); /* it trapped again and again */
    /* Filling 4 MiB a word at a time is slow under sanitizers: once is
     * enough to show the failure was its own. */
    assert_true(oom.restarts >= 1);
    assert_non_null(strstr(trap_ev.detail, "trap"));
    assert_non_null(strstr(oom_ev.detail, "trap")); /* abort() */
    /* malloc failed at the manifest's cap (4 MiB, less the program's own
     * data and stack), not before and not past it. */
    assert_true(oom_kib > 3u * 1024u && oom_kib <= 4u * 1024u);
    assert_true(oom.memory_bytes <= 64u * 65536u);
    /* ... and only them. */
    assert_true(calls.windows >= 10);
    assert_int_equal(calls.errors, 0);
    assert_true(calls.count >= 100);
    assert_true(calls.max < GAP_MAX_US + host_us);
    assert_int_equal(info_of(fx, "server").state, VMRT_VM_RUNNING);
    assert_int_equal(info_of(fx, "server").restarts, 0);
    assert_int_equal(info_of(fx, "client").state, VMRT_VM_RUNNING);
    assert_int_equal(info_of(fx, "ticker").restarts, 0);
}

/* A VM whose every run is costly (4 MiB touched) and ends in a trap,
 * restarted 5 ms later under on-failure, over and over; pinned to the
 * ticker's worker so that a restart that held the worker would show. */
static void
test_isolation_restarts_do_not_disturb_others(void **state)
{
    fx_t *fx = *state;
    vmrt_manifest_t m;
    vmrt_vm_info_t c;
    uint64_t t0, t1;
    int i;

    man_init(&m, "ticker", "tick");
    m.affinity = 0;
    vm_go(fx, &m);
    man_init(&m, "crasher", "crash");
    m.affinity = 0;
    m.restart = VMRT_RESTART_ON_FAILURE;
    m.max_retries = 1000000;
    m.backoff_ms = 5;
    m.backoff_max_ms = 5;
    vm_go(fx, &m);
    pl_sleep_ns(100 * MS);
    t0 = mark(fx);
    /* At least 2 s, and until 20 restarts happened (slow under
     * sanitizers on a loaded machine: each run touches 4 MiB), at most
     * 20 s; the ticker is checked over the whole of it. */
    pl_sleep_ns(2000 * MS);
    for (i = 0; i < 180 && info_of(fx, "crasher").restarts < 20; i++)
        pl_sleep_ns(100 * MS);
    t1 = now_us();
    c = info_of(fx, "crasher");
    print_message("[isolation] restart loop: crasher restarted %u times\n",
                  c.restarts);
    (void)check_ticker(fx, "ticker", "beside a restart loop", t0 + 50000u,
                       t1, 10);
    if (c.restarts < 20)
        show_log(fx, "crasher");
    assert_true(c.restarts >= 20);
    assert_true(count_events(fx, VMRT_EV_RESTART, "crasher", NULL) >= 20);
}

/* A crash loop ends in FAILED with a crash event; restarts are counted. */
static void
test_isolation_crash_loop_ends_failed_with_event(void **state)
{
    fx_t *fx = *state;
    vmrt_manifest_t m;
    vmrt_vm_info_t info;
    vmrt_event_t last;
    uint32_t ncrash, nrestart;
    int i;

    man_init(&m, "ticker", "tick");
    vm_go(fx, &m);
    man_init(&m, "looper", "trap");
    m.restart = VMRT_RESTART_ON_FAILURE;
    m.max_retries = 3;
    m.backoff_ms = 10;
    m.backoff_max_ms = 40;
    vm_go(fx, &m);
    for (i = 0; i < 5000; i++) {
        info = info_of(fx, "looper");
        if (info.state == VMRT_VM_FAILED)
            break;
        pl_sleep_ns(MS);
    }
    ncrash = count_events(fx, VMRT_EV_CRASH, "looper", &last);
    nrestart = count_events(fx, VMRT_EV_RESTART, "looper", NULL);
    print_message("[isolation] crash loop: state %s after %d ms, restarts "
                  "%u, %u crash events, last '%s'\n",
                  vmrt_vm_state_str(info.state), i, info.restarts, ncrash,
                  last.detail);
    if (info.state != VMRT_VM_FAILED)
        show_log(fx, "looper");
    assert_int_equal(info.state, VMRT_VM_FAILED);
    assert_int_equal(info.restarts, 3);
    assert_int_equal(nrestart, 3);
    /* One per failed run (4), then the crash loop itself. */
    assert_true(ncrash >= 4);
    assert_int_equal(last.state, VMRT_VM_FAILED);
    assert_non_null(strstr(last.detail, "crash loop"));
    assert_true(strstr(info.last_error, "trap") != NULL);
    /* It stays failed: no more restarts. */
    pl_sleep_ns(200 * MS);
    info = info_of(fx, "looper");
    assert_int_equal(info.state, VMRT_VM_FAILED);
    assert_int_equal(info.restarts, 3);
    assert_int_equal(count_events(fx, VMRT_EV_RESTART, "looper", NULL), 3);
    /* The bystander never noticed. */
    info = info_of(fx, "ticker");
    assert_int_equal(info.state, VMRT_VM_RUNNING);
    assert_int_equal(info.restarts, 0);
}

/* Watchdog 300 ms: a VM that kicks every 10 ms keeps running (a loaded
 * machine stalled VMs by 150 ms: 100 ms was too tight); one that stops
 * kicking (asleep, or spinning) is restarted, with an event. */
static void
test_isolation_watchdog_restarts_only_silent_vm(void **state)
{
    fx_t *fx = *state;
    static const char *const names[] = { "wdt-ok", "wdt-sleep",
                                         "wdt-spin" };
    vmrt_manifest_t m;
    vmrt_vm_info_t info[3];
    vmrt_event_t last;
    uint32_t nwdt[3];
    int i;

    for (i = 0; i < 3; i++) {
        man_init(&m, names[i], names[i]);
        m.watchdog_ms = 300;
        m.restart = VMRT_RESTART_ON_FAILURE;
        m.max_retries = 1000;
        m.backoff_ms = 10;
        m.backoff_max_ms = 10;
        if (i == 2)
            m.slice_us = LONG_SLICE_US;
        vm_go(fx, &m);
    }
    pl_sleep_ns(2000 * MS);
    for (i = 0; i < 3; i++) {
        info[i] = info_of(fx, names[i]);
        nwdt[i] = count_events(fx, VMRT_EV_WATCHDOG, names[i], &last);
        print_message("[isolation] watchdog: %s state %s, restarts %u, "
                      "%u watchdog events%s%s\n",
                      names[i], vmrt_vm_state_str(info[i].state),
                      info[i].restarts, nwdt[i], nwdt[i] ? ", last: " : "",
                      nwdt[i] ? last.detail : "");
    }
    /* Each silent run lasts 50 ms of kicks + 300 ms of silence, so ~5
     * runs in 2 s; at least 2 shows the restart happens and repeats. */
    for (i = 1; i < 3; i++) {
        if (info[i].restarts < 2 || nwdt[i] < 2)
            show_log(fx, names[i]);
        assert_true(info[i].restarts >= 2);
        assert_true(nwdt[i] >= 2);
        assert_true(count_events(fx, VMRT_EV_WATCHDOG, names[i], &last) >=
                    2);
        assert_non_null(strstr(last.detail, "watchdog"));
    }
    assert_int_equal(info[0].state, VMRT_VM_RUNNING);
    assert_int_equal(info[0].restarts, 0);
    assert_int_equal(nwdt[0], 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_isolation_spinner_cannot_delay_higher_prio_same_worker,
            setup2, teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_spinners_cannot_delay_higher_prio_two_workers,
            setup2, teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_equal_prio_long_slice_shows_as_gap, setup2,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_equal_prio_spinners_share_worker, setup1,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_trap_oom_flood_harm_only_themselves, setup2,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_restarts_do_not_disturb_others, setup2,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_crash_loop_ends_failed_with_event, setup2,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_isolation_watchdog_restarts_only_silent_vm, setup2,
            teardown),
    };

    /* ISO_FILTER=test_isolation_watchdog* runs only the matching tests. */
    if (getenv("ISO_FILTER") != NULL)
        cmocka_set_test_filter(getenv("ISO_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
