/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vOS end to end: C guests built with vmf_wasm_program
 * (tests/programs/vos_*.c) run as VMs on a real runtime (2 workers); each
 * exits 0 when what it checked held, or with a code naming the failed
 * step.  The VM's log is printed on failure.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"

#ifndef VOS_WASM_DIR
#error "VOS_WASM_DIR: where vmf_wasm_program put the guests"
#endif

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
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_vos_e2e.XXXXXX");
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
start_guest(fx_t *fx, const char *name)
{
    char path[512], err[160];
    vmrt_manifest_t m;
    uint8_t *wasm;
    size_t len;

    snprintf(path, sizeof(path), "%s/%s.wasm", VOS_WASM_DIR, name);
    assert_int_equal(pl_file_read_all(path, 16u << 20, &wasm, &len), 0);
    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.version, sizeof(m.version), "1.0.0");
    m.memory_pages = 32;
    assert_int_equal(vmrt_vm_create(fx->rt, &m, wasm, len, err,
                                    sizeof(err)), 0);
    pl_free_file(wasm);
    if (vmrt_vm_start(fx->rt, name, err, sizeof(err)) != 0)
        fail_msg("start %s: %s", name, err);
}

/* Wait for guest `name` to end (10 s at most); return its exit code. */
static int32_t
wait_guest(fx_t *fx, const char *name)
{
    char log[4096];
    vmrt_vm_info_t info;
    size_t n;
    uint64_t next;
    int i;

    for (i = 0; i < 10000; i++) {
        assert_int_equal(vmrt_vm_info(fx->rt, name, &info), 0);
        if (info.state != VMRT_VM_RUNNING)
            break;
        pl_sleep_ns(1000000);
    }
    n = vmrt_vm_log_read(fx->rt, name, 0, log, sizeof(log) - 1, &next);
    log[n] = '\0';
    if (info.state != VMRT_VM_STOPPED || info.exit_code != 0 ||
        getenv("VOS_E2E_VERBOSE") != NULL)
        print_message("%s: state %s exit %d error '%s'\nlog:\n%s\n", name,
                      vmrt_vm_state_str(info.state), (int)info.exit_code,
                      info.last_error, log);
    assert_int_equal(info.state, VMRT_VM_STOPPED);
    return info.exit_code;
}

static int32_t
run_guest(fx_t *fx, const char *name)
{
    start_guest(fx, name);
    return wait_guest(fx, name);
}

static void
test_vos_e2e_queue_pingpong(void **state)
{
    assert_int_equal(run_guest(*state, "vos_pingpong"), 0);
}

static void
test_vos_e2e_mutex_counter_three_threads(void **state)
{
    assert_int_equal(run_guest(*state, "vos_mutex"), 0);
}

static void
test_vos_e2e_sem_timeout(void **state)
{
    assert_int_equal(run_guest(*state, "vos_sem"), 0);
}

static void
test_vos_e2e_periodic_timer_ten_ticks(void **state)
{
    assert_int_equal(run_guest(*state, "vos_timer"), 0);
}

/* Snapshot while timer, queue and a blocked receive are live; restore it
 * (the VM goes back to that point) and let it finish. */
static void
test_vos_e2e_snapshot_restore_continues(void **state)
{
    fx_t *fx = *state;
    char path[256], err[160];

    snprintf(path, sizeof(path), "%s/vos_snap.snap", fx->dir);
    start_guest(fx, "vos_snap");
    pl_sleep_ns(100000000);
    if (vmrt_vm_snapshot(fx->rt, "vos_snap", path, err, sizeof(err)) != 0)
        fail_msg("snapshot: %s", err);
    pl_sleep_ns(50000000);
    if (vmrt_vm_restore(fx->rt, "vos_snap", path, err, sizeof(err)) != 0)
        fail_msg("restore: %s", err);
    assert_int_equal(wait_guest(fx, "vos_snap"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_vos_e2e_queue_pingpong, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_vos_e2e_mutex_counter_three_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vos_e2e_sem_timeout, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_vos_e2e_periodic_timer_ten_ticks, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vos_e2e_snapshot_restore_continues, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
