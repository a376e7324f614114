/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The runtime core on a real runtime (2 workers): exit codes and the
 * restart policy, snapshots of a VM with several green threads, spawns
 * from several OS threads, and vmrt_vm_info / snapshots / spawns racing
 * with restarts (run it under ASan and TSan: the races show there).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "vm/vm_internal.h"
#include "vmrt/runtime.h"

#ifndef CORE_WASM_DIR
#error "CORE_WASM_DIR: where vmf_wasm_program put the guests"
#endif

extern const unsigned char core_spawn_wasm[];
extern const size_t core_spawn_wasm_len;

#define SPAWN_FN 1u /* core_spawn.wat: func 1 is "work" */

typedef struct {
    char dir[128];
    vmrt_rt_t *rt;
} fx_t;

static int
setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));
    vmrt_rt_config_t c;
    char err[160];

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_core.XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(fx->dir), 0);
    memset(&c, 0, sizeof(c));
    c.workers = 2;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", fx->dir);
    assert_int_equal(vmrt_rt_create(&c, &fx->rt, err, sizeof(err)), 0);
    assert_int_equal(vmrt_rt_start(fx->rt), 0);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *fx = *state;

    vmrt_rt_destroy(fx->rt);
    (void)pl_fs_remove_tree(fx->dir);
    free(fx);
    return 0;
}

static void
create(fx_t *fx, const char *name, const uint8_t *wasm, size_t len,
       vmrt_restart_t restart, uint32_t retries)
{
    vmrt_manifest_t m;
    char err[160];

    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.version, sizeof(m.version), "1.0.0");
    m.memory_pages = 32;
    m.restart = restart;
    m.max_retries = retries;
    m.backoff_ms = 1;
    m.backoff_max_ms = 2;
    if (vmrt_vm_create(fx->rt, &m, wasm, len, err, sizeof(err)) != 0)
        fail_msg("create %s: %s", name, err);
}

/* Create (and start) VM `name` from CORE_WASM_DIR/NAME.wasm. */
static void
create_file(fx_t *fx, const char *name, vmrt_restart_t restart,
            uint32_t retries)
{
    char path[512];
    uint8_t *wasm;
    size_t len;

    snprintf(path, sizeof(path), "%s/%s.wasm", CORE_WASM_DIR, name);
    assert_int_equal(pl_file_read_all(path, 16u << 20, &wasm, &len), 0);
    create(fx, name, wasm, len, restart, retries);
    pl_free_file(wasm);
}

static void
start(fx_t *fx, const char *name)
{
    char err[160];

    if (vmrt_vm_start(fx->rt, name, err, sizeof(err)) != 0)
        fail_msg("start %s: %s", name, err);
}

/* Wait (10 s at most) until VM `name` is neither running nor restarting;
 * print its log if it did not stop cleanly. */
static vmrt_vm_info_t
wait_end(fx_t *fx, const char *name)
{
    char log[4096];
    vmrt_vm_info_t info;
    uint64_t next;
    size_t n;
    int i;

    for (i = 0; i < 10000; i++) {
        assert_int_equal(vmrt_vm_info(fx->rt, name, &info), 0);
        if (info.state != VMRT_VM_RUNNING &&
            info.state != VMRT_VM_RESTARTING)
            break;
        pl_sleep_ns(1000000);
    }
    if (info.state != VMRT_VM_STOPPED || info.exit_code != 0) {
        n = vmrt_vm_log_read(fx->rt, name, 0, log, sizeof(log) - 1, &next);
        log[n] = '\0';
        print_message("%s: state %s exit %d error '%s'\nlog:\n%s\n", name,
                      vmrt_vm_state_str(info.state), (int)info.exit_code,
                      info.last_error, log);
    }
    return info;
}

/* main returning 13 is exit code 13, a failure: "exited with code 13". */
static void
test_core_exit_code_from_main(void **state)
{
    fx_t *fx = *state;
    vmrt_vm_info_t info;

    create_file(fx, "core_exit13", VMRT_RESTART_NEVER, 0);
    start(fx, "core_exit13");
    info = wait_end(fx, "core_exit13");
    assert_int_equal(info.state, VMRT_VM_STOPPED);
    assert_int_equal(info.exit_code, 13);
    assert_string_equal(info.last_error, "exited with code 13");
}

/* With restart-on-failure, exit 13 is retried, then the VM ends FAILED. */
static void
test_core_nonzero_exit_is_restarted_then_failed(void **state)
{
    fx_t *fx = *state;
    vmrt_vm_info_t info;

    create_file(fx, "core_exit13", VMRT_RESTART_ON_FAILURE, 2);
    start(fx, "core_exit13");
    info = wait_end(fx, "core_exit13");
    assert_int_equal(info.state, VMRT_VM_FAILED);
    assert_int_equal(info.restarts, 2);
    assert_int_equal(info.exit_code, 13);
    assert_non_null(strstr(info.last_error, "exited with code 13"));
}

/*
 * Three green threads (blocked on a queue, sleeping, computing), each deep
 * in frames on its own shadow stack, snapshotted and restored: every
 * thread must get its own __stack_pointer back, or a canary breaks.
 */
static void
test_core_snapshot_three_threads(void **state)
{
    fx_t *fx = *state;
    char path[256], err[160];
    vmrt_vm_info_t info;
    int round;

    snprintf(path, sizeof(path), "%s/core_threads.snap", fx->dir);
    create_file(fx, "core_threads", VMRT_RESTART_NEVER, 0);
    for (round = 0; round < 2; round++) {
        start(fx, "core_threads");
        /* Let the threads reach their waits (the sleep lasts 500 ms). */
        pl_sleep_ns(150000000);
        if (vmrt_vm_snapshot(fx->rt, "core_threads", path, err,
                             sizeof(err)) != 0)
            fail_msg("snapshot: %s", err);
        pl_sleep_ns(50000000);
        if (vmrt_vm_restore(fx->rt, "core_threads", path, err,
                            sizeof(err)) != 0)
            fail_msg("restore: %s", err);
        info = wait_end(fx, "core_threads");
        assert_int_equal(info.state, VMRT_VM_STOPPED);
        assert_int_equal(info.exit_code, 0);
    }
}

/* ---- spawns from several OS threads ----------------------------------- */

typedef struct {
    vmrt_vm_t *vm;
    uint32_t n;          /* spawns to make (args 1..n) */
    atomic_int *stop;    /* race mode: spawn until set, ignore errors */
    int failures;
} spawner_t;

static void
spawner_main(void *arg)
{
    spawner_t *sp = arg;
    vmrt__vthread_t *t;
    uint32_t i;

    if (sp->stop != NULL) {
        while (!atomic_load(sp->stop)) {
            (void)vmrt__vthread_spawn(sp->vm, false, SPAWN_FN, 0, 0, false,
                                      &t);
            pl_sleep_ns(200000);
        }
        return;
    }
    for (i = 1; i <= sp->n; i++)
        if (vmrt__vthread_spawn(sp->vm, false, SPAWN_FN, i, 0, false, &t) !=
            0)
            sp->failures++;
}

static vmrt_vm_t *
find(fx_t *fx, const char *name)
{
    vmrt_vm_t *vm;

    pl_mutex_lock(&fx->rt->lock);
    vm = vmrt__vm_find(fx->rt, name);
    pl_mutex_unlock(&fx->rt->lock);
    assert_non_null(vm);
    return vm;
}

/* Two OS threads spawn 20 green threads each into a running VM; the
 * guest counts 40 runs with the right argument sum, then exits 0. */
static void
test_core_spawn_from_two_os_threads(void **state)
{
    fx_t *fx = *state;
    spawner_t sp[2];
    pl_thread_t th[2];
    pl_thread_opts_t o;
    vmrt_vm_info_t info;
    int i;

    create(fx, "spawn", core_spawn_wasm, core_spawn_wasm_len,
           VMRT_RESTART_NEVER, 0);
    start(fx, "spawn");
    memset(&o, 0, sizeof(o));
    o.name = "spawner";
    for (i = 0; i < 2; i++) {
        memset(&sp[i], 0, sizeof(sp[i]));
        sp[i].vm = find(fx, "spawn");
        sp[i].n = 20;
        assert_int_equal(pl_thread_create(&th[i], &o, spawner_main, &sp[i]),
                         0);
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(pl_thread_join(&th[i]), 0);
        assert_int_equal(sp[i].failures, 0);
    }
    info = wait_end(fx, "spawn");
    assert_int_equal(info.state, VMRT_VM_STOPPED);
    assert_int_equal(info.exit_code, 0);
}

/* A vOS timer's handler spawns (dispatcher thread) while main spawns on
 * the worker: no deadlock, no lost thread. */
static void
test_core_timer_and_worker_spawns_interleave(void **state)
{
    fx_t *fx = *state;
    vmrt_vm_info_t info;

    create_file(fx, "core_spawnstorm", VMRT_RESTART_NEVER, 0);
    start(fx, "core_spawnstorm");
    info = wait_end(fx, "core_spawnstorm");
    assert_int_equal(info.state, VMRT_VM_STOPPED);
    assert_int_equal(info.exit_code, 0);
}

/* ---- info, snapshots and spawns racing with restarts ------------------ */

typedef struct {
    fx_t *fx;
    atomic_int *stop;
    uint32_t reads;
} reader_t;

static void
reader_main(void *arg)
{
    reader_t *r = arg;
    vmrt_vm_info_t info[4];

    while (!atomic_load(r->stop)) {
        (void)vmrt_vm_info(r->fx->rt, "spawn", &info[0]);
        (void)vmrt_vm_list(r->fx->rt, info, 4);
        r->reads++;
    }
}

static void
test_core_info_and_spawns_race_restarts(void **state)
{
    fx_t *fx = *state;
    atomic_int stop = 0;
    char path[256], err[160];
    reader_t rd;
    spawner_t sp;
    pl_thread_t th[2];
    pl_thread_opts_t o;
    int i;

    snprintf(path, sizeof(path), "%s/spawn.snap", fx->dir);
    create(fx, "spawn", core_spawn_wasm, core_spawn_wasm_len,
           VMRT_RESTART_NEVER, 0);
    start(fx, "spawn");
    memset(&o, 0, sizeof(o));
    o.name = "race";
    rd.fx = fx;
    rd.stop = &stop;
    rd.reads = 0;
    memset(&sp, 0, sizeof(sp));
    sp.vm = find(fx, "spawn");
    sp.stop = &stop;
    assert_int_equal(pl_thread_create(&th[0], &o, reader_main, &rd), 0);
    assert_int_equal(pl_thread_create(&th[1], &o, spawner_main, &sp), 0);
    for (i = 0; i < 40; i++) {
        if (vmrt_vm_restart(fx->rt, "spawn", err, sizeof(err)) != 0)
            fail_msg("restart %d: %s", i, err);
        pl_sleep_ns((uint64_t)(i % 4) * 500000u);
        /* It may have ended already (40 spawns): then ESTATE. */
        (void)vmrt_vm_snapshot(fx->rt, "spawn", path, err, sizeof(err));
    }
    atomic_store(&stop, 1);
    assert_int_equal(pl_thread_join(&th[0]), 0);
    assert_int_equal(pl_thread_join(&th[1]), 0);
    assert_true(rd.reads > 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_core_exit_code_from_main, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_core_nonzero_exit_is_restarted_then_failed, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_core_snapshot_three_threads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_core_spawn_from_two_os_threads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_core_timer_and_worker_spawns_interleave, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_core_info_and_spawns_race_restarts, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
