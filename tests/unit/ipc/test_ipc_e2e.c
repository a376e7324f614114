/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * IPC end to end: C guests built with vmf_wasm_program
 * (tests/programs/ipc_*.c) run as VMs on a real runtime (2 workers).  The
 * client exits 0 when what it checked held, or with a code naming the
 * failed step; the VMs' logs are printed on failure.
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

#ifndef IPC_WASM_DIR
#error "IPC_WASM_DIR: where vmf_wasm_program put the guests"
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
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_ipc_e2e.XXXXXX");
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

/* Create and start VM `name` from guest `prog`; `provides` / `calls` is
 * its one IPC name (or NULL). */
static void
start_vm(fx_t *fx, const char *name, const char *prog, const char *provides,
         const char *calls)
{
    char path[512], err[160];
    vmrt_manifest_t m;
    uint8_t *wasm;
    size_t len;

    snprintf(path, sizeof(path), "%s/%s.wasm", IPC_WASM_DIR, prog);
    assert_int_equal(pl_file_read_all(path, 16u << 20, &wasm, &len), 0);
    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.version, sizeof(m.version), "1.0.0");
    m.memory_pages = 32;
    if (provides != NULL) {
        snprintf(m.provides[0], sizeof(m.provides[0]), "%s", provides);
        m.nprovides = 1;
    }
    if (calls != NULL) {
        snprintf(m.calls[0], sizeof(m.calls[0]), "%s", calls);
        m.ncalls = 1;
    }
    assert_int_equal(vmrt_vm_create(fx->rt, &m, wasm, len, err,
                                    sizeof(err)), 0);
    pl_free_file(wasm);
    if (vmrt_vm_start(fx->rt, name, err, sizeof(err)) != 0)
        fail_msg("start %s: %s", name, err);
}

/* Wait (20 s at most) until VM `name` is no longer running; print its log
 * if `show` or it did not exit 0.  @return its info. */
static vmrt_vm_info_t
wait_vm(fx_t *fx, const char *name, bool show, char *log, size_t cap)
{
    vmrt_vm_info_t info;
    uint64_t next;
    size_t n;
    int i;

    for (i = 0; i < 20000; i++) {
        assert_int_equal(vmrt_vm_info(fx->rt, name, &info), 0);
        if (info.state != VMRT_VM_RUNNING)
            break;
        pl_sleep_ns(1000000);
    }
    n = vmrt_vm_log_read(fx->rt, name, 0, log, cap - 1, &next);
    log[n] = '\0';
    if (show || info.state != VMRT_VM_STOPPED || info.exit_code != 0 ||
        getenv("IPC_E2E_VERBOSE") != NULL)
        print_message("%s: state %s exit %d error '%s'\nlog:\n%s\n", name,
                      vmrt_vm_state_str(info.state), (int)info.exit_code,
                      info.last_error, log);
    return info;
}

static void
test_ipc_e2e_call_pubsub_between_vms(void **state)
{
    fx_t *fx = *state;
    char log[4096];
    vmrt_vm_info_t c, s;
    const char *rtt;

    start_vm(fx, "server", "ipc_server", "net", NULL);
    start_vm(fx, "client", "ipc_client", NULL, "net");
    c = wait_vm(fx, "client", false, log, sizeof(log));
    assert_int_equal(c.state, VMRT_VM_STOPPED);
    assert_int_equal(c.exit_code, 0);
    if ((rtt = strstr(log, "rtt_ns=")) != NULL)
        print_message("IPC round trip between two VMs: %ld ns\n",
                      strtol(rtt + 7, NULL, 10));
    /* The client's one-way "quit" ends the server. */
    s = wait_vm(fx, "server", false, log, sizeof(log));
    assert_int_equal(s.state, VMRT_VM_STOPPED);
    assert_int_equal(s.exit_code, 0);
}

static void
test_ipc_e2e_server_crash_resets_caller(void **state)
{
    fx_t *fx = *state;
    char log[4096];
    vmrt_vm_info_t c, s;

    start_vm(fx, "server", "ipc_server", "net", NULL);
    start_vm(fx, "client", "ipc_client_reset", NULL, "net");
    c = wait_vm(fx, "client", false, log, sizeof(log));
    assert_int_equal(c.state, VMRT_VM_STOPPED);
    assert_int_equal(c.exit_code, 0);
    assert_int_equal(vmrt_vm_info(fx->rt, "server", &s), 0);
    assert_int_not_equal(s.state, VMRT_VM_RUNNING);
}

static void
test_ipc_e2e_restored_server_serves(void **state)
{
    fx_t *fx = *state;
    char log[4096], path[256], err[160];
    vmrt_vm_info_t c, s;
    int i;

    start_vm(fx, "server", "ipc_server", "net", NULL);
    /* Let it block in vos_ipc_serve_next, then snapshot and restore it:
     * its service and handle come back, and its wait resumes. */
    pl_sleep_ns(50000000);
    snprintf(path, sizeof(path), "%s/server.snap", fx->dir);
    if (vmrt_vm_snapshot(fx->rt, "server", path, err, sizeof(err)) != 0)
        fail_msg("snapshot: %s", err);
    if (vmrt_vm_restore(fx->rt, "server", path, err, sizeof(err)) != 0)
        fail_msg("restore: %s", err);
    for (i = 0; i < 100; i++) {
        assert_int_equal(vmrt_vm_info(fx->rt, "server", &s), 0);
        if (s.state == VMRT_VM_RUNNING)
            break;
        pl_sleep_ns(1000000);
    }
    assert_int_equal(s.state, VMRT_VM_RUNNING);
    start_vm(fx, "client", "ipc_client", NULL, "net");
    c = wait_vm(fx, "client", false, log, sizeof(log));
    assert_int_equal(c.state, VMRT_VM_STOPPED);
    assert_int_equal(c.exit_code, 0);
    s = wait_vm(fx, "server", false, log, sizeof(log));
    assert_int_equal(s.exit_code, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ipc_e2e_call_pubsub_between_vms,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ipc_e2e_server_crash_resets_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipc_e2e_restored_server_serves,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
