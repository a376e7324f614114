/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Sockets and files end to end: the guest tests/programs/net_echo.c runs
 * as a VM on a real runtime against a TCP echo server on 127.0.0.1 that
 * its manifest allows (and nothing else); see the guest for the steps.
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

#ifndef NET_WASM_DIR
#error "NET_WASM_DIR: where vmf_wasm_program put the guests"
#endif

typedef struct {
    pl_socket_t l;
    pl_thread_t th;
} echo_t;

/* Accept one connection and echo it until the peer closes. */
static void
echo_main(void *arg)
{
    echo_t *e = arg;
    pl_socket_t c;
    char buf[256];
    size_t n, w;

    if (pl_sock_accept(e->l, &c, NULL) != 0)
        return;
    while (pl_sock_recv(c, buf, sizeof(buf), &n) == 0 && n > 0)
        if (pl_sock_send(c, buf, n, &w) != 0)
            break;
    pl_sock_close(c);
}

static void
test_net_e2e_echo_allowlist_and_files(void **state)
{
    char dir[64] = "/tmp/test_net_e2e.XXXXXX", path[512], err[160];
    char log[4096];
    vmrt_rt_config_t c;
    vmrt_manifest_t m;
    vmrt_vm_info_t info;
    pl_sockaddr_t a;
    vmrt_rt_t *rt;
    uint8_t *wasm;
    uint64_t next;
    size_t len, n;
    echo_t e;
    int i;

    (void)state;
    assert_int_equal(pl_sockaddr_parse(&a, "127.0.0.1:0"), 0);
    assert_int_equal(pl_tcp_listen(&a, 4, &e.l), 0);
    assert_int_equal(pl_sock_local_addr(e.l, &a), 0);
    assert_int_equal(pl_thread_create(&e.th, NULL, echo_main, &e), 0);

    assert_int_equal(pl_fs_mkdtemp(dir), 0);
    memset(&c, 0, sizeof(c));
    c.workers = 2;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
    assert_int_equal(vmrt_rt_create(&c, &rt, err, sizeof(err)), 0);
    assert_int_equal(vmrt_rt_start(rt), 0);

    snprintf(path, sizeof(path), "%s/net_echo.wasm", NET_WASM_DIR);
    assert_int_equal(pl_file_read_all(path, 16u << 20, &wasm, &len), 0);
    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "net_echo");
    snprintf(m.version, sizeof(m.version), "1.0.0");
    m.memory_pages = 32;
    snprintf(m.net_allow[0].host, sizeof(m.net_allow[0].host), "localhost");
    m.net_allow[0].port = pl_sockaddr_port(&a);
    m.net_allow[0].proto = 0;
    m.nnet_allow = 1;
    snprintf(m.args[0], sizeof(m.args[0]), "%u", pl_sockaddr_port(&a));
    m.nargs = 1;
    assert_int_equal(vmrt_vm_create(rt, &m, wasm, len, err, sizeof(err)), 0);
    pl_free_file(wasm);
    if (vmrt_vm_start(rt, "net_echo", err, sizeof(err)) != 0)
        fail_msg("start: %s", err);
    for (i = 0; i < 10000; i++) {
        assert_int_equal(vmrt_vm_info(rt, "net_echo", &info), 0);
        if (info.state != VMRT_VM_RUNNING)
            break;
        pl_sleep_ns(1000000);
    }
    n = vmrt_vm_log_read(rt, "net_echo", 0, log, sizeof(log) - 1, &next);
    log[n] = '\0';
    if (info.state != VMRT_VM_STOPPED || info.exit_code != 0)
        print_message("state %s exit %d error '%s'\nlog:\n%s\n",
                      vmrt_vm_state_str(info.state), (int)info.exit_code,
                      info.last_error, log);
    assert_int_equal(info.state, VMRT_VM_STOPPED);
    assert_int_equal(info.exit_code, 0);
    assert_non_null(strstr(log, "net_echo ok"));

    vmrt_rt_destroy(rt);
    pl_thread_join(&e.th);
    pl_sock_close(e.l);
    (void)pl_fs_remove_tree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_e2e_echo_allowlist_and_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
