/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * rtbench: the runtime's figures through its public API
 * (docs/performance.md, "Runtime").  Every VM runs the guest rtb_guest.c.
 *
 *   rtbench ipc [WORKERS [SIZE]]   IPC round trip between two VMs
 *   rtbench idle [N [sleep|recv]]  heap per idle VM (glibc mallinfo2)
 *   rtbench snap [KIB [REPS]]      vmrt_vm_snapshot / vmrt_vm_restore
 *   rtbench fleet [N [PERIOD_MS [TICKS]]]  N ticker VMs on one vmrt
 *
 * RTBENCH_GUEST=FILE.wasm replaces the guest (e.g. one stripped of its
 * debug sections with wasm-strip).
 *
 * Bench code, Linux and glibc only: it reads /proc/self/status and calls
 * mallinfo2().
 */

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"

#ifndef RTB_GUEST
#error "RTB_GUEST: path of rtb_guest.wasm"
#endif

#define MS 1000000ull

static uint8_t *g_wasm;
static size_t g_wasm_len;
static char g_dir[128];

static void
die(const char *what, const char *err)
{
    fprintf(stderr, "rtbench: %s%s%s\n", what, err ? ": " : "",
            err ? err : "");
    exit(1);
}

static vmrt_rt_t *
rt_up(uint32_t workers)
{
    vmrt_rt_config_t c;
    vmrt_rt_t *rt;
    char err[160];

    snprintf(g_dir, sizeof(g_dir), "/tmp/rtbench.XXXXXX");
    if (pl_fs_mkdtemp(g_dir) != 0)
        die("mkdtemp", NULL);
    memset(&c, 0, sizeof(c));
    c.workers = workers;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", g_dir);
    if (vmrt_rt_create(&c, &rt, err, sizeof(err)) != 0)
        die("rt_create", err);
    if (vmrt_rt_start(rt) != 0)
        die("rt_start", NULL);
    return rt;
}

static void
rt_down(vmrt_rt_t *rt)
{
    vmrt_rt_destroy(rt);
    (void)pl_fs_remove_tree(g_dir);
}

/* Create VM `name` running the guest with `args` (space-separated). */
static void
vm_create(vmrt_rt_t *rt, const char *name, const char *args, uint32_t pages,
          const char *provides, const char *calls)
{
    vmrt_manifest_t m;
    char err[160], buf[256], *tok;

    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.version, sizeof(m.version), "1");
    m.memory_pages = pages;
    snprintf(buf, sizeof(buf), "%s", args);
    /* strtok: the bench is single-threaded. */
    for (tok = strtok(buf, " "); tok != NULL; tok = strtok(NULL, " "))
        snprintf(m.args[m.nargs++], sizeof(m.args[0]), "%s", tok);
    if (provides != NULL) {
        snprintf(m.provides[0], sizeof(m.provides[0]), "%s", provides);
        m.nprovides = 1;
    }
    if (calls != NULL) {
        snprintf(m.calls[0], sizeof(m.calls[0]), "%s", calls);
        m.ncalls = 1;
    }
    if (vmrt_vm_create(rt, &m, g_wasm, g_wasm_len, err, sizeof(err)) != 0)
        die("vm_create", err);
}

static void
vm_start(vmrt_rt_t *rt, const char *name)
{
    char err[160];

    if (vmrt_vm_start(rt, name, err, sizeof(err)) != 0)
        die("vm_start", err);
}

/* The VM's whole log into buf (NUL-terminated). */
static size_t
vm_log(vmrt_rt_t *rt, const char *name, char *buf, size_t cap)
{
    uint64_t next;
    size_t n = vmrt_vm_log_read(rt, name, 0, buf, cap - 1, &next);

    buf[n] = '\0';
    return n;
}

/* Wait up to `ms` for `word` in the VM's log; dies on timeout or if the VM
 * stops running. */
static void
vm_wait_log(vmrt_rt_t *rt, const char *name, const char *word, uint32_t ms,
            char *buf, size_t cap)
{
    vmrt_vm_info_t info;

    for (uint32_t i = 0; i < ms; i++) {
        vm_log(rt, name, buf, cap);
        if (strstr(buf, word) != NULL)
            return;
        if (vmrt_vm_info(rt, name, &info) == 0 &&
            info.state != VMRT_VM_RUNNING && strstr(buf, word) == NULL) {
            fprintf(stderr, "%s: state %s exit %d '%s'\n%s\n", name,
                    vmrt_vm_state_str(info.state), (int)info.exit_code,
                    info.last_error, buf);
            die("VM ended early", name);
        }
        pl_sleep_ns(MS);
    }
    fprintf(stderr, "%s\n", buf);
    die("timeout waiting for", word);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static size_t
heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

static long
rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

static double
cpu_s(void)
{
    return (double)clock() / CLOCKS_PER_SEC;
}

static double
now_s(void)
{
    return (double)pl_time_mono_ns() / 1e9;
}

/* ---- IPC round trip ------------------------------------------------- */

static void
bench_ipc(uint32_t workers, uint32_t size)
{
    vmrt_rt_t *rt = rt_up(workers);
    static char log[16384];
    uint64_t v[64];
    char args[64], *p;
    size_t n = 0;

    snprintf(args, sizeof(args), "cli 21 20000 %u", (unsigned)size);
    vm_create(rt, "srv", "srv", 4, "rtb", NULL);
    vm_create(rt, "cli", args, 4, NULL, "rtb");
    vm_start(rt, "srv");
    vm_start(rt, "cli");
    vm_wait_log(rt, "cli", "done", 120000, log, sizeof(log));
    /* The first batch is warm-up. */
    for (p = strstr(log, "batch "); p != NULL && n < 64;
         p = strstr(p + 1, "batch "))
        v[n++] = strtoull(p + 6, NULL, 10);
    if (n < 2)
        die("ipc: no batches", NULL);
    qsort(v + 1, n - 1, sizeof(v[0]), cmp_u64);
    printf("ipc: workers %u, %u-byte request and reply, %zu batches of "
           "20000 calls: round trip min %llu ns, median %llu ns, "
           "max %llu ns\n", (unsigned)workers, (unsigned)size, n - 1,
           (unsigned long long)v[1], (unsigned long long)v[1 + (n - 1) / 2],
           (unsigned long long)v[n - 1]);
    rt_down(rt);
}

/* ---- idle VMs ------------------------------------------------------- */

static void
bench_idle(uint32_t n, const char *mode)
{
    vmrt_rt_t *rt = rt_up(2);
    vmrt_module_t **mods = calloc(n, sizeof(*mods));
    vmrt_vm_info_t info;
    size_t h0, h1, h2, h3, hm, linear = 0;
    char name[32], args[32], err[160];
    double cpu0, t0;

    /* N module loads alone: what each VM's own copy of it costs. */
    if (mods == NULL)
        die("out of memory", NULL);
    hm = heap_used();
    for (uint32_t i = 0; i < n; i++)
        if (vmrt_module_load(g_wasm, g_wasm_len, &mods[i], err,
                             sizeof(err)) != 0)
            die("module_load", err);
    hm = (heap_used() - hm) / n;
    for (uint32_t i = 0; i < n; i++)
        vmrt_module_free(mods[i]);
    free(mods);

    h0 = heap_used();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "idle%u", (unsigned)i);
        /* The bus takes 16 subscribers per topic by default. */
        snprintf(args, sizeof(args), "%s rtb.t%u", mode, (unsigned)i / 16);
        vm_create(rt, name, strcmp(mode, "recv") == 0 ? args : mode, 2,
                  NULL, NULL);
    }
    h1 = heap_used();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "idle%u", (unsigned)i);
        vm_start(rt, name);
    }
    pl_sleep_ns(500 * MS); /* all reach their blocking call */
    h2 = heap_used();
    for (uint32_t i = 0; i < n; i++) {
        snprintf(name, sizeof(name), "idle%u", (unsigned)i);
        if (vmrt_vm_info(rt, name, &info) != 0 ||
            info.state != VMRT_VM_RUNNING)
            die("idle VM not running", name);
        linear += info.memory_bytes;
    }
    cpu0 = cpu_s();
    t0 = now_s();
    pl_sleep_ns(2000 * MS);
    printf("idle (%s): %u VMs, module %zu B of wasm\n", mode, (unsigned)n,
           g_wasm_len);
    if (h2 < h0 + linear || hm == 0) {
        printf("idle: no heap figures (not glibc's allocator)\n");
        goto out;
    }
    printf("idle: per VM: created %zu B (module alone %zu B), started "
           "%zu B of which linear memory %zu B\n",
           (h1 - h0) / n, hm, (h2 - h1) / n, linear / n);
    printf("idle: per VM beyond linear memory: %zu B without its module "
           "(%zu B of it at start), %zu B with it\n",
           (h2 - h0 - linear) / n - hm, (h2 - h1 - linear) / n,
           (h2 - h0 - linear) / n);
out:
    printf("idle: process CPU while all %u VMs are blocked: %.2f%% of one "
           "core\n", (unsigned)n, 100.0 * (cpu_s() - cpu0) / (now_s() - t0));
    h3 = heap_used();
    if (h3 != h2)
        printf("idle: heap moved by %+ld B while idle\n",
               (long)h3 - (long)h2);
    rt_down(rt);
}

/* ---- snapshot and restore ------------------------------------------- */

static void
bench_snap(uint32_t kib, int reps)
{
    vmrt_rt_t *rt = rt_up(2);
    static char log[16384];
    double *ts = calloc((size_t)reps, sizeof(double));
    double *tr = calloc((size_t)reps, sizeof(double));
    double *tw = calloc((size_t)reps, sizeof(double));
    char args[64], path[256], err[160];
    vmrt_vm_info_t info;
    uint8_t *buf;
    size_t len;

    if (ts == NULL || tr == NULL || tw == NULL)
        die("out of memory", NULL);
    snprintf(args, sizeof(args), "touch %u", (unsigned)kib);
    vm_create(rt, "snap", args, kib / 64 + 16, NULL, NULL);
    vm_start(rt, "snap");
    vm_wait_log(rt, "snap", "ready", 60000, log, sizeof(log));
    pl_sleep_ns(20 * MS); /* into its sleep */
    snprintf(path, sizeof(path), "%s/snap.bin", g_dir);
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();

        if (vmrt_vm_snapshot(rt, "snap", path, err, sizeof(err)) != 0)
            die("snapshot", err);
        ts[i] = now_s() - t0;
        t0 = now_s();
        if (vmrt_vm_restore(rt, "snap", path, err, sizeof(err)) != 0)
            die("restore", err);
        tr[i] = now_s() - t0;
    }
    if (vmrt_vm_info(rt, "snap", &info) != 0 ||
        info.state != VMRT_VM_RUNNING)
        die("restored VM not running", NULL);
    if (pl_file_read_all(path, 1u << 30, &buf, &len) != 0)
        die("read snapshot", NULL);
    /* The file part alone: the same bytes written as vmrt writes them
     * (temporary file, fsync, rename). */
    snprintf(path, sizeof(path), "%s/copy.bin", g_dir);
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();

        if (pl_file_write_atomic(path, buf, len) != 0)
            die("write", path);
        tw[i] = now_s() - t0;
    }
    pl_free_file(buf);
    qsort(ts, (size_t)reps, sizeof(double), cmp_double);
    qsort(tr, (size_t)reps, sizeof(double), cmp_double);
    qsort(tw, (size_t)reps, sizeof(double), cmp_double);
    printf("snap: %u KiB touched, linear memory %llu B, file %zu B, "
           "%d reps\n", (unsigned)kib, (unsigned long long)info.memory_bytes,
           len, reps);
    printf("snap: vmrt_vm_snapshot (file written): min %.3f ms, median "
           "%.3f ms, p90 %.3f ms\n", ts[0] * 1e3, ts[reps / 2] * 1e3,
           ts[reps * 9 / 10] * 1e3);
    printf("snap: vmrt_vm_restore (file read, new instance): min %.3f ms, "
           "median %.3f ms, p90 %.3f ms\n", tr[0] * 1e3, tr[reps / 2] * 1e3,
           tr[reps * 9 / 10] * 1e3);
    printf("snap: of which the file write alone (pl_file_write_atomic: "
           "fsync, rename): min %.3f ms, median %.3f ms, p90 %.3f ms\n",
           tw[0] * 1e3, tw[reps / 2] * 1e3, tw[reps * 9 / 10] * 1e3);
    free(ts);
    free(tr);
    free(tw);
    rt_down(rt);
}

/* ---- many ticker VMs ------------------------------------------------ */

static void
bench_fleet(uint32_t n, uint32_t period_ms, uint32_t ticks)
{
    static char log[16384];
    vmrt_rt_t *rt;
    uint64_t *late;
    size_t nl = 0, cap = (size_t)n * ticks;
    char name[32], args[64];
    double t0, t1, c0, c1, w0, tcreate = 0, trt;
    long rss0, rss1, rss2;

    if ((late = calloc(cap, sizeof(*late))) == NULL)
        die("out of memory", NULL);
    rss0 = rss_kib();
    t0 = now_s();
    rt = rt_up(0);
    trt = now_s() - t0;
    snprintf(args, sizeof(args), "tick %u %u", (unsigned)period_ms * 1000u,
             (unsigned)ticks);
    for (uint32_t i = 0; i < n; i++) {
        double tc = now_s();

        snprintf(name, sizeof(name), "tick%u", (unsigned)i);
        vm_create(rt, name, args, 2, NULL, NULL);
        tcreate += now_s() - tc;
        vm_start(rt, name);
    }
    t1 = now_s();
    rss1 = rss_kib();
    /* CPU over the middle of the ticking phase. */
    pl_sleep_ns((uint64_t)period_ms * ticks * MS / 4);
    c0 = cpu_s();
    w0 = now_s();
    pl_sleep_ns((uint64_t)period_ms * ticks * MS / 2);
    c1 = cpu_s();
    printf("fleet: %u ticker VMs, %u ms period, %u ticks each\n",
           (unsigned)n, (unsigned)period_ms, (unsigned)ticks);
    printf("fleet: runtime up + create + start all: %.1f ms (runtime "
           "%.1f ms; per VM: vmrt_vm_create %.2f ms, vmrt_vm_start %.2f "
           "ms)\n", (t1 - t0) * 1e3, trt * 1e3, tcreate * 1e3 / n,
           (t1 - t0 - trt - tcreate) * 1e3 / n);
    printf("fleet: process CPU while ticking: %.2f%% of one core\n",
           100.0 * (c1 - c0) / (now_s() - w0));
    for (uint32_t i = 0; i < n; i++) {
        char *p;

        snprintf(name, sizeof(name), "tick%u", (unsigned)i);
        vm_wait_log(rt, name, "done", 60000, log, sizeof(log));
        for (p = strstr(log, "late"); p != NULL; p = strstr(p, "late")) {
            char *e;

            p += 4;
            while (*p == ' ' && nl < cap) {
                late[nl++] = strtoull(p, &e, 10);
                p = e;
            }
        }
    }
    /* All sleep for an hour now: the idle runtime. */
    pl_sleep_ns(200 * MS);
    c0 = cpu_s();
    w0 = now_s();
    pl_sleep_ns(3000 * MS);
    c1 = cpu_s();
    rss2 = rss_kib();
    qsort(late, nl, sizeof(*late), cmp_u64);
    printf("fleet: RSS %ld KiB before, %ld KiB after start (%+ld KiB, "
           "%.1f KiB per VM), %ld KiB at the end\n", rss0, rss1, rss1 - rss0,
           (double)(rss1 - rss0) / n, rss2);
    printf("fleet: process CPU, all VMs asleep: %.2f%% of one core\n",
           100.0 * (c1 - c0) / (now_s() - w0));
    if (nl > 0)
        printf("fleet: tick lateness over %zu ticks: median %llu us, p99 "
               "%llu us, p99.9 %llu us, max %llu us\n", nl,
               (unsigned long long)late[nl / 2],
               (unsigned long long)late[nl * 99 / 100],
               (unsigned long long)late[nl * 999 / 1000],
               (unsigned long long)late[nl - 1]);
    free(late);
    rt_down(rt);
}

int
main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "all";
    bool all = strcmp(what, "all") == 0;
    const char *guest = getenv("RTBENCH_GUEST");

#define ARG(i, d) (argc > (i) && !all ? (uint32_t)strtoul(argv[i], NULL, 10) \
                                      : (uint32_t)(d))
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* One malloc arena: mallinfo2() reports the main arena only, and the
     * workers allocate too (IPC queues, thread stacks, memory.grow). */
    /* And no mmap()ed chunks: they are rounded to pages, and glibc moves
     * its threshold as they are freed, which blurs small deltas.  (Under
     * a sanitizer's allocator both fail: heap figures mean nothing.) */
    if (mallopt(M_ARENA_MAX, 1) != 1 ||
        mallopt(M_MMAP_THRESHOLD, 32 << 20) != 1)
        fprintf(stderr, "rtbench: mallopt failed: heap figures are "
                "not glibc's\n");
    if (guest == NULL)
        guest = RTB_GUEST;
    if (pl_file_read_all(guest, 16u << 20, &g_wasm, &g_wasm_len) != 0)
        die("cannot read", guest);
    if (all || strcmp(what, "ipc") == 0) {
        if (all || argc > 2) {
            bench_ipc(ARG(2, 1), ARG(3, 32));
        } else {
            bench_ipc(1, 32);
            bench_ipc(2, 32);
        }
        if (all)
            bench_ipc(2, 32);
    }
    if (all || strcmp(what, "idle") == 0) {
        bench_idle(ARG(2, 100), argc > 3 && !all ? argv[3] : "sleep");
        if (all)
            bench_idle(100, "recv");
    }
    if (all || strcmp(what, "snap") == 0)
        bench_snap(ARG(2, 1024), (int)ARG(3, 50));
    if (all || strcmp(what, "fleet") == 0)
        bench_fleet(ARG(2, 100), ARG(3, 10), ARG(4, 300));
    pl_free_file(g_wasm);
    return 0;
}
