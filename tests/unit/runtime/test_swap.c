/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Stage-and-swap (vmrt_vm_swap): commit after a healthy window, rollback
 * on a trap, on a missing vos_ota_confirm() and after a vmrt restart in
 * the window, with and without the old state (snapshot_before).  Guests
 * log "fresh X" at each fresh start and "tick X" every 20 ms (swap_*.wat),
 * so the log shows which image runs and whether it started afresh.  A
 * second VM, "other", runs throughout and must keep ticking.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"

extern const unsigned char swap_a_wasm[], swap_b_wasm[], swap_c_wasm[],
    vm_trap_wasm[];
extern const size_t swap_a_wasm_len, swap_b_wasm_len, swap_c_wasm_len,
    vm_trap_wasm_len;

#define LOG_BYTES 16384

typedef struct {
    char dir[128];
    vmrt_rt_t *rt;
    pl_mutex_t lock;
    char swap_ev[4][96]; /* VMRT_EV_SWAP details, in order */
    int nswap_ev;
} fx_t;

static void wait_log(fx_t *fx, const char *name, uint64_t seq,
                     const char *text);

static void
on_event(void *arg, const vmrt_event_t *ev)
{
    fx_t *fx = arg;

    if (ev->kind != VMRT_EV_SWAP)
        return;
    pl_mutex_lock(&fx->lock);
    if (fx->nswap_ev < 4)
        snprintf(fx->swap_ev[fx->nswap_ev++], sizeof(fx->swap_ev[0]), "%s",
                 ev->detail);
    pl_mutex_unlock(&fx->lock);
}

static void
rt_open(fx_t *fx)
{
    vmrt_rt_config_t c;
    char err[160];

    memset(&c, 0, sizeof(c));
    c.workers = 2;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", fx->dir);
    assert_int_equal(vmrt_rt_create(&c, &fx->rt, err, sizeof(err)), 0);
    /* Before start: boot-time rollbacks are reported to us too. */
    assert_int_equal(vmrt_rt_subscribe(fx->rt, on_event, fx), 0);
    assert_int_equal(vmrt_rt_start(fx->rt), 0);
}

static void
create_vm(fx_t *fx, const char *name, bool confirm)
{
    vmrt_manifest_t m;
    char err[160];

    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.version, sizeof(m.version), "1.0");
    m.memory_pages = 2;
    m.ota_confirm = confirm;
    m.restart = VMRT_RESTART_ON_FAILURE;
    m.backoff_ms = 5;
    m.backoff_max_ms = 20;
    assert_int_equal(vmrt_vm_create(fx->rt, &m, swap_a_wasm, swap_a_wasm_len,
                                    err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_start(fx->rt, name, err, sizeof(err)), 0);
    wait_log(fx, name, 0, "tick a");
}

static int
setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    assert_int_equal(pl_mutex_init(&fx->lock), 0);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_swap.XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(fx->dir), 0);
    rt_open(fx);
    create_vm(fx, "other", false);
    *state = fx;
    return 0;
}

static int
teardown_fx(void **state)
{
    fx_t *fx = *state;

    vmrt_rt_destroy(fx->rt);
    pl_fs_remove_tree(fx->dir);
    pl_mutex_destroy(&fx->lock);
    free(fx);
    return 0;
}

/* The VM's log from `seq` into buf (NUL-terminated); *next if not NULL. */
static void
log_since(fx_t *fx, const char *name, uint64_t seq, char *buf,
          uint64_t *next)
{
    uint64_t nx = 0;
    size_t n;

    n = vmrt_vm_log_read(fx->rt, name, seq, buf, LOG_BYTES - 1, &nx);
    buf[n] = '\0';
    if (next != NULL)
        *next = nx;
}

static uint64_t
log_end(fx_t *fx, const char *name)
{
    static char buf[LOG_BYTES];
    uint64_t next;

    log_since(fx, name, 0, buf, &next);
    return next;
}

static vmrt_swap_state_t
swap_state(fx_t *fx, const char *name)
{
    vmrt_swap_status_t st;

    assert_int_equal(vmrt_vm_swap_status(fx->rt, name, &st), 0);
    return st.state;
}

/* Wait up to ms for the swap to end; return the state it ended in. */
static vmrt_swap_state_t
wait_swap(fx_t *fx, const char *name, uint32_t ms)
{
    vmrt_swap_state_t s = VMRT_SWAP_HEALTH;
    uint32_t i;

    for (i = 0; i < ms && s == VMRT_SWAP_HEALTH; i += 5) {
        pl_sleep_ns(5000000);
        s = swap_state(fx, name);
    }
    return s;
}

static int
swap(fx_t *fx, const unsigned char *wasm, size_t len, const char *version,
     uint32_t window_ms, bool snap)
{
    vmrt_swap_opts_t o;
    char err[160];

    memset(&o, 0, sizeof(o));
    o.health_window_ms = window_ms;
    o.snapshot_before = snap;
    return vmrt_vm_swap(fx->rt, "app", wasm, len, version, &o, err,
                        sizeof(err));
}

static void
assert_version(fx_t *fx, const char *name, const char *v)
{
    vmrt_vm_info_t info;

    assert_int_equal(vmrt_vm_info(fx->rt, name, &info), 0);
    assert_string_equal(info.version, v);
}

static bool
file_exists(fx_t *fx, const char *file)
{
    char path[256];
    uint8_t *buf;
    size_t len;

    snprintf(path, sizeof(path), "%s/vms/app/%s", fx->dir, file);
    if (pl_file_read_all(path, 1u << 20, &buf, &len) != 0)
        return false;
    pl_free_file(buf);
    return true;
}

/* manifest.json on disk holds version v. */
static void
assert_disk_version(fx_t *fx, const char *v)
{
    char path[256], want[64];
    uint8_t *buf;
    size_t len;
    char *text;

    snprintf(path, sizeof(path), "%s/vms/app/manifest.json", fx->dir);
    assert_int_equal(pl_file_read_all(path, 1u << 20, &buf, &len), 0);
    text = calloc(1, len + 1);
    assert_non_null(text);
    memcpy(text, buf, len);
    pl_free_file(buf);
    snprintf(want, sizeof(want), "\"%s\"", v);
    assert_non_null(strstr(text, want));
    free(text);
}

/* "other" logs at least two ticks since seq (waiting up to 5 s). */
static void
assert_other_ticks(fx_t *fx, uint64_t seq)
{
    static char buf[LOG_BYTES];
    const char *p;
    int i;

    for (i = 0; i < 1000; i++) {
        log_since(fx, "other", seq, buf, NULL);
        if ((p = strstr(buf, "tick a")) != NULL &&
            strstr(p + 1, "tick a") != NULL)
            return;
        pl_sleep_ns(5000000);
    }
    fail_msg("\"other\" stopped ticking: \"%s\"", buf);
}

/*
 * The last VMRT_EV_SWAP event starts with prefix, waiting up to 5 s for it:
 * the swap state changes just before the event is sent, on another
 * thread.  Never asserts while holding fx->lock (an assertion longjmps).
 */
static void
assert_last_event(fx_t *fx, const char *prefix)
{
    char last[sizeof(fx->swap_ev[0])];
    int i;

    for (i = 0; i < 1000; i++) {
        last[0] = '\0';
        pl_mutex_lock(&fx->lock);
        if (fx->nswap_ev > 0)
            memcpy(last, fx->swap_ev[fx->nswap_ev - 1], sizeof(last));
        pl_mutex_unlock(&fx->lock);
        if (strncmp(last, prefix, strlen(prefix)) == 0)
            return;
        pl_sleep_ns(5000000);
    }
    fail_msg("last swap event \"%s\", want \"%s...\"", last, prefix);
}

/* Wait up to 5 s for `text` in the VM's log since seq. */
static void
wait_log(fx_t *fx, const char *name, uint64_t seq, const char *text)
{
    static char buf[LOG_BYTES];
    int i;

    for (i = 0; i < 1000; i++) {
        log_since(fx, name, seq, buf, NULL);
        if (strstr(buf, text) != NULL)
            return;
        pl_sleep_ns(5000000);
    }
    fail_msg("%s never logged \"%s\"", name, text);
}

/* ---- tests ---------------------------------------------------------- */

static void
test_swap_good_image_commits(void **state)
{
    fx_t *fx = *state;
    static char buf[LOG_BYTES];
    uint64_t other0, seq;

    create_vm(fx, "app", false);
    other0 = log_end(fx, "other");
    seq = log_end(fx, "app");
    assert_int_equal(swap(fx, swap_b_wasm, swap_b_wasm_len, "2.0", 200,
                          false), 0);
    assert_int_equal(swap_state(fx, "app"), VMRT_SWAP_HEALTH);
    assert_version(fx, "app", "2.0");
    assert_true(file_exists(fx, "module.prev.wasm"));
    assert_true(file_exists(fx, "swap.json"));
    assert_int_equal(wait_swap(fx, "app", 5000), VMRT_SWAP_COMMITTED);
    assert_version(fx, "app", "2.0");
    assert_disk_version(fx, "2.0");
    assert_false(file_exists(fx, "module.prev.wasm"));
    assert_false(file_exists(fx, "swap.json"));
    assert_last_event(fx, "committed 2.0");
    log_since(fx, "app", seq, buf, NULL);
    assert_non_null(strstr(buf, "tick b"));
    assert_null(strstr(buf, "fresh a"));
    assert_other_ticks(fx, other0);
}

static void
test_swap_trap_rolls_back_within_window(void **state)
{
    fx_t *fx = *state;
    static char buf[LOG_BYTES];
    vmrt_swap_status_t st;
    vmrt_vm_info_t info;
    uint64_t other0, seq, t0;
    const char *p;

    create_vm(fx, "app", false);
    other0 = log_end(fx, "other");
    seq = log_end(fx, "app");
    t0 = pl_time_mono_ns();
    assert_int_equal(swap(fx, vm_trap_wasm, vm_trap_wasm_len, "2.0", 10000,
                          false), 0);
    assert_int_equal(wait_swap(fx, "app", 5000), VMRT_SWAP_ROLLED_BACK);
    /* At once, not at the end of the 10 s window. */
    assert_true(pl_time_mono_ns() - t0 < UINT64_C(5000000000));
    assert_int_equal(vmrt_vm_swap_status(fx->rt, "app", &st), 0);
    assert_string_equal(st.old_version, "1.0");
    assert_string_equal(st.new_version, "2.0");
    assert_non_null(strstr(st.reason, "trap"));
    assert_version(fx, "app", "1.0");
    assert_disk_version(fx, "1.0");
    assert_last_event(fx, "rolled back to 1.0: trap");
    assert_int_equal(vmrt_vm_info(fx->rt, "app", &info), 0);
    assert_int_equal(info.state, VMRT_VM_RUNNING);
    /* The old image started afresh and ticks again. */
    pl_sleep_ns(100000000);
    log_since(fx, "app", seq, buf, NULL);
    assert_non_null(p = strstr(buf, "fresh a"));
    assert_non_null(strstr(p, "tick a"));
    assert_false(file_exists(fx, "module.prev.wasm"));
    assert_false(file_exists(fx, "swap.json"));
    assert_other_ticks(fx, other0);
}

static void
test_swap_ota_confirm_required(void **state)
{
    fx_t *fx = *state;
    vmrt_swap_status_t st;

    create_vm(fx, "app", true);
    /* b never calls vos_ota_confirm(): rolled back at the window's end. */
    assert_int_equal(swap(fx, swap_b_wasm, swap_b_wasm_len, "2.0", 150,
                          false), 0);
    assert_int_equal(wait_swap(fx, "app", 5000), VMRT_SWAP_ROLLED_BACK);
    assert_int_equal(vmrt_vm_swap_status(fx->rt, "app", &st), 0);
    assert_non_null(strstr(st.reason, "vos_ota_confirm"));
    assert_version(fx, "app", "1.0");
    /* c calls it: committed. */
    assert_int_equal(swap(fx, swap_c_wasm, swap_c_wasm_len, "3.0", 150,
                          false), 0);
    assert_int_equal(wait_swap(fx, "app", 5000), VMRT_SWAP_COMMITTED);
    assert_version(fx, "app", "3.0");
    assert_last_event(fx, "committed 3.0");
}

static void
test_swap_second_during_window_is_estate(void **state)
{
    fx_t *fx = *state;
    char err[160];

    create_vm(fx, "app", false);
    assert_int_equal(swap(fx, swap_b_wasm, swap_b_wasm_len, "2.0", 60000,
                          false), 0);
    assert_int_equal(swap(fx, swap_c_wasm, swap_c_wasm_len, "3.0", 100,
                          false), VMRT_ESTATE);
    assert_int_equal(swap_state(fx, "app"), VMRT_SWAP_HEALTH);
    assert_version(fx, "app", "2.0");
    /* Not running, bad arguments, no such VM. */
    assert_int_equal(vmrt_vm_stop(fx->rt, "other", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_swap(fx->rt, "other", swap_b_wasm,
                                  swap_b_wasm_len, "2.0", NULL, err,
                                  sizeof(err)), VMRT_ESTATE);
    assert_int_equal(vmrt_vm_swap(fx->rt, "app", swap_b_wasm,
                                  swap_b_wasm_len, "", NULL, err,
                                  sizeof(err)), VMRT_EINVAL);
    assert_int_equal(vmrt_vm_swap(fx->rt, "nope", swap_b_wasm,
                                  swap_b_wasm_len, "2.0", NULL, err,
                                  sizeof(err)), VMRT_ENOTFOUND);
}

static void
test_swap_rollback_restores_snapshot(void **state)
{
    fx_t *fx = *state;
    static char buf[LOG_BYTES];
    uint64_t seq;

    create_vm(fx, "app", false);
    pl_sleep_ns(50000000);
    seq = log_end(fx, "app");
    assert_int_equal(swap(fx, vm_trap_wasm, vm_trap_wasm_len, "2.0", 10000,
                          true), 0);
    assert_int_equal(wait_swap(fx, "app", 5000), VMRT_SWAP_ROLLED_BACK);
    pl_sleep_ns(100000000);
    /* The old run continued from its loop: ticks, but no fresh start. */
    log_since(fx, "app", seq, buf, NULL);
    assert_non_null(strstr(buf, "tick a"));
    assert_null(strstr(buf, "fresh a"));
    assert_version(fx, "app", "1.0");
    assert_false(file_exists(fx, "swap.snap"));
}

static void
test_swap_vmrt_restart_in_window_rolls_back(void **state)
{
    fx_t *fx = *state;
    static char buf[LOG_BYTES];
    vmrt_swap_status_t st;
    uint64_t other0;

    create_vm(fx, "app", false);
    assert_int_equal(swap(fx, swap_b_wasm, swap_b_wasm_len, "2.0", 60000,
                          false), 0);
    pl_sleep_ns(50000000);
    /* "Crash": vmrt goes away in the window; a new one on the same dir. */
    vmrt_rt_destroy(fx->rt);
    fx->rt = NULL;
    fx->nswap_ev = 0;
    rt_open(fx);
    assert_int_equal(vmrt_vm_swap_status(fx->rt, "app", &st), 0);
    assert_int_equal(st.state, VMRT_SWAP_ROLLED_BACK);
    assert_string_equal(st.reason, "vmrt restarted during health window");
    assert_version(fx, "app", "1.0");
    assert_disk_version(fx, "1.0");
    assert_last_event(fx, "rolled back to 1.0: vmrt restarted during "
                          "health window");
    assert_false(file_exists(fx, "module.prev.wasm"));
    assert_false(file_exists(fx, "swap.json"));
    other0 = log_end(fx, "other");
    pl_sleep_ns(100000000);
    log_since(fx, "app", 0, buf, NULL);
    assert_non_null(strstr(buf, "tick a"));
    assert_null(strstr(buf, "tick b"));
    assert_other_ticks(fx, other0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_swap_good_image_commits, setup,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_swap_trap_rolls_back_within_window, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_swap_ota_confirm_required,
                                        setup, teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_swap_second_during_window_is_estate, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_swap_rollback_restores_snapshot, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_swap_vmrt_restart_in_window_rolls_back, setup,
            teardown_fx),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
