/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Devices end to end: a real runtime runs dev_e2e.wat, which drives led0
 * and uart0 through the "vos" host functions; the test watches and feeds
 * the devices through the control API (src/dev/dev.h), as `vmrt ctl dev`
 * does.  The guest's blocking uart read must give up its worker and be
 * woken by the injection.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dev/dev.h"
#include "pl/pl.h"
#include "vmrt/runtime.h"

extern const unsigned char dev_e2e_wasm[];
extern const size_t dev_e2e_wasm_len;

/* Poll uart0's output until it has collected `want` (5 s at most). */
static bool
uart_wait(vmrt_rt_t *rt, char *acc, size_t cap, const char *want)
{
    size_t have = strlen(acc);
    int i, n;

    for (i = 0; i < 5000; i++) {
        n = vmrt_dev_uart_output(rt, "uart0", acc + have, cap - 1 - have);
        if (n > 0) {
            have += (size_t)n;
            acc[have] = '\0';
        }
        if (strcmp(acc, want) == 0)
            return true;
        pl_sleep_ns(1000000);
    }
    return false;
}

static void
run_echo(bool snap)
{
    char dir[64], err[160], acc[64] = "";
    vmrt_rt_config_t c;
    vmrt_manifest_t m;
    vmrt_vm_info_t info;
    vmrt_rt_t *rt = NULL;
    int i;

    snprintf(dir, sizeof(dir), "/tmp/test_dev_e2e.XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(dir), 0);
    memset(&c, 0, sizeof(c));
    c.workers = 1;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
    assert_int_equal(vmrt_rt_create(&c, &rt, err, sizeof(err)), 0);
    assert_int_equal(vmrt_rt_start(rt), 0);
    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "echo");
    snprintf(m.version, sizeof(m.version), "1");
    m.memory_pages = 1;
    snprintf(m.grants[0].name, sizeof(m.grants[0].name), "led0");
    m.grants[0].exclusive = true;
    snprintf(m.grants[1].name, sizeof(m.grants[1].name), "uart0");
    m.ngrants = 2;
    assert_int_equal(vmrt_vm_create(rt, &m, dev_e2e_wasm, dev_e2e_wasm_len, err,
                                    sizeof(err)),
                     0);
    assert_int_equal(vmrt_dev_led_get(rt, "led0"), 0);
    assert_int_equal(vmrt_vm_start(rt, "echo", err, sizeof(err)), 0);
    assert_true(uart_wait(rt, acc, sizeof(acc), "ok"));
    assert_int_equal(vmrt_dev_led_get(rt, "led0"), 1);
    /* It now waits in dev_read.  A snapshot and a restore keep its device
     * handles: the restored VM still waits on uart0 and echoes. */
    if (snap) {
        char path[96];

        snprintf(path, sizeof(path), "%s/echo.snap", dir);
        for (i = 0; i < 100; i++) /* let it reach the read */
            pl_sleep_ns(1000000);
        assert_int_equal(vmrt_vm_snapshot(rt, "echo", path, err, sizeof(err)),
                         0);
        assert_int_equal(vmrt_vm_restore(rt, "echo", path, err, sizeof(err)),
                         0);
        assert_int_equal(vmrt_dev_led_get(rt, "led0"), 1);
    }
    assert_int_equal(vmrt_dev_uart_inject(rt, "uart0", "ping", 4), 4);
    assert_true(uart_wait(rt, acc, sizeof(acc), "okping"));
    for (i = 0; i < 5000; i++) {
        assert_int_equal(vmrt_vm_info(rt, "echo", &info), 0);
        if (info.state == VMRT_VM_STOPPED)
            break;
        pl_sleep_ns(1000000);
    }
    assert_int_equal(info.state, VMRT_VM_STOPPED);
    assert_int_equal(info.exit_code, 0);
    vmrt_rt_destroy(rt);
    pl_fs_remove_tree(dir);
}

static void
test_dev_e2e_led_and_uart_echo(void **state)
{
    (void)state;
    run_echo(false);
}

static void
test_dev_e2e_snapshot_keeps_device_handles(void **state)
{
    (void)state;
    run_echo(true);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dev_e2e_led_and_uart_echo),
        cmocka_unit_test(test_dev_e2e_snapshot_keeps_device_handles),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
