/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The runtime core, lifecycle half: manifests, the device config, the VM
 * state machine, persistence across vmrt restarts, the restart policy, VM
 * snapshots and the log ring.  Guests are tiny WAT modules (vm_*.wat).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vm/core.h"
#include "vmrt/runtime.h"

extern const unsigned char vm_loop_wasm[], vm_trap_wasm[], vm_exit_wasm[],
    vm_nostart_wasm[];
extern const size_t vm_loop_wasm_len, vm_trap_wasm_len, vm_exit_wasm_len,
    vm_nostart_wasm_len;

/* ---- helpers ---------------------------------------------------------- */

typedef struct {
    char dir[128];
    vmrt_rt_t *rt;
} fx_t;

static vmrt_rt_config_t
cfg_for(const char *dir)
{
    vmrt_rt_config_t c;

    memset(&c, 0, sizeof(c));
    c.workers = 2;
    snprintf(c.state_dir, sizeof(c.state_dir), "%s", dir);
    return c;
}

static vmrt_rt_t *
rt_open(const char *dir)
{
    vmrt_rt_config_t c = cfg_for(dir);
    vmrt_rt_t *rt = NULL;
    char err[160];

    assert_int_equal(vmrt_rt_create(&c, &rt, err, sizeof(err)), 0);
    assert_int_equal(vmrt_rt_start(rt), 0);
    return rt;
}

static int
setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_vm.XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(fx->dir), 0);
    fx->rt = rt_open(fx->dir);
    *state = fx;
    return 0;
}

static int
teardown_fx(void **state)
{
    fx_t *fx = *state;

    vmrt_rt_destroy(fx->rt);
    pl_fs_remove_tree(fx->dir);
    free(fx);
    return 0;
}

static void
create_vm(vmrt_rt_t *rt, const char *name, const unsigned char *wasm,
          size_t len, vmrt_restart_t restart)
{
    vmrt_manifest_t m;
    char err[160];

    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "%s", name);
    snprintf(m.version, sizeof(m.version), "1.2.3");
    m.memory_pages = 4;
    m.restart = restart;
    m.max_retries = 2;
    m.backoff_ms = 5;
    m.backoff_max_ms = 20;
    assert_int_equal(vmrt_vm_create(rt, &m, wasm, len, err, sizeof(err)), 0);
}

static vmrt_vm_state_t
state_of(vmrt_rt_t *rt, const char *name)
{
    vmrt_vm_info_t info;

    assert_int_equal(vmrt_vm_info(rt, name, &info), 0);
    return info.state;
}

/* Wait up to 5 s for a state. */
static bool
wait_state(vmrt_rt_t *rt, const char *name, vmrt_vm_state_t want)
{
    int i;

    for (i = 0; i < 5000; i++) {
        if (state_of(rt, name) == want)
            return true;
        pl_sleep_ns(1000000);
    }
    return false;
}

/* The loop guest's counter (memory[0]); the VM must be parked. */
static uint32_t
counter_of(vmrt_rt_t *rt, const char *name)
{
    vmrt_vm_t *vm;
    uint8_t *mem;
    uint64_t size = 0;
    uint32_t v = 0;

    pl_mutex_lock(&rt->lock);
    vm = vmrt__vm_find(rt, name);
    assert_non_null(vm);
    assert_non_null(vm->inst);
    mem = vmrt_instance_memory(vm->inst, &size);
    assert_non_null(mem);
    memcpy(&v, mem, sizeof(v));
    pl_mutex_unlock(&rt->lock);
    return v;
}

/*
 * Let a running loop VM run until its counter passes `above`: suspend,
 * look, resume, for up to 5 s (CI machines are slow and shared).  Returns
 * with the VM suspended and its counter.
 */
static uint32_t
run_past(vmrt_rt_t *rt, const char *name, uint32_t above)
{
    char err[160];
    uint32_t c = 0;
    int i;

    for (i = 0; i < 250; i++) {
        pl_sleep_ns(20000000);
        assert_int_equal(vmrt_vm_suspend(rt, name, err, sizeof(err)), 0);
        c = counter_of(rt, name);
        if (c > above)
            return c;
        assert_int_equal(vmrt_vm_resume(rt, name, err, sizeof(err)), 0);
    }
    fail_msg("'%s' made no progress past %u", name, above);
    return c;
}

/* ---- manifests --------------------------------------------------------- */

static void
test_manifest_defaults(void **state)
{
    vmrt_manifest_t m;
    char err[128];
    const char *j = "{\"name\":\"sensor\"}";

    (void)state;
    assert_int_equal(vmrt_manifest_parse(j, strlen(j), &m, err, sizeof(err)),
                     0);
    assert_string_equal(m.name, "sensor");
    assert_int_equal(m.priority, 16);
    assert_int_equal(m.slice_us, 1000);
    assert_int_equal(m.memory_pages, 256);
    assert_int_equal(m.storage_quota, 1024 * 1024);
    assert_int_equal(m.affinity, -1);
    assert_int_equal(m.restart, VMRT_RESTART_NEVER);
    assert_int_equal(m.backoff_ms, 100);
    assert_int_equal(m.backoff_max_ms, 10000);
    assert_int_equal(m.watchdog_ms, 0);
    assert_false(m.ota_confirm);
}

static void
test_manifest_every_key_round_trips(void **state)
{
    const char *j =
        "{\"name\":\"netled\",\"module\":\"netled.wasm\",\"version\":\"2.1\","
        "\"priority\":3,\"slice_us\":500,\"memory_pages\":17,"
        "\"storage_quota\":4096,\"affinity\":1,"
        "\"grants\":[{\"device\":\"led0\",\"exclusive\":true},"
        "{\"device\":\"uart0\",\"exclusive\":false}],"
        "\"provides\":[\"net\"],\"calls\":[\"log\",\"time\"],"
        "\"net_allow\":[{\"host\":\"127.0.0.1\",\"port\":1883,"
        "\"proto\":\"tcp\"},{\"host\":\"10.0.0.1\",\"proto\":\"udp\"}],"
        "\"restart\":\"on-failure\",\"max_retries\":7,\"backoff_ms\":50,"
        "\"backoff_max_ms\":800,\"watchdog_ms\":2000,"
        "\"args\":[\"-v\",\"x\"],\"ota_confirm\":true}";
    vmrt_manifest_t m, m2;
    char err[128], *out;

    (void)state;
    assert_int_equal(vmrt_manifest_parse(j, strlen(j), &m, err, sizeof(err)),
                     0);
    assert_string_equal(m.module, "netled.wasm");
    assert_string_equal(m.version, "2.1");
    assert_int_equal(m.priority, 3);
    assert_int_equal(m.slice_us, 500);
    assert_int_equal(m.memory_pages, 17);
    assert_int_equal(m.storage_quota, 4096);
    assert_int_equal(m.affinity, 1);
    assert_int_equal(m.ngrants, 2);
    assert_string_equal(m.grants[1].name, "uart0");
    assert_true(m.grants[0].exclusive);
    assert_false(m.grants[1].exclusive);
    assert_int_equal(m.nprovides, 1);
    assert_string_equal(m.provides[0], "net");
    assert_int_equal(m.ncalls, 2);
    assert_string_equal(m.calls[1], "time");
    assert_int_equal(m.nnet_allow, 2);
    assert_int_equal(m.net_allow[0].port, 1883);
    assert_int_equal(m.net_allow[1].proto, 1);
    assert_int_equal(m.restart, VMRT_RESTART_ON_FAILURE);
    assert_int_equal(m.max_retries, 7);
    assert_int_equal(m.backoff_ms, 50);
    assert_int_equal(m.backoff_max_ms, 800);
    assert_int_equal(m.watchdog_ms, 2000);
    assert_int_equal(m.nargs, 2);
    assert_string_equal(m.args[1], "x");
    assert_true(m.ota_confirm);

    out = vmrt_manifest_to_json(&m);
    assert_non_null(out);
    assert_int_equal(
        vmrt_manifest_parse(out, strlen(out), &m2, err, sizeof(err)), 0);
    vmrt_json_free(out);
    assert_memory_equal(&m, &m2, sizeof(m));
}

static void
test_manifest_errors_name_the_key(void **state)
{
    static const struct {
        const char *json, *prefix;
    } cases[] = {
        {"{}", "name: missing"},
        {"{\"name\":\"a b\"}", "name:"},
        {"{\"name\":\"a\",\"priority\":32}", "priority:"},
        {"{\"name\":\"a\",\"priority\":1.5}", "priority:"},
        {"{\"name\":\"a\",\"slice_us\":\"x\"}", "slice_us:"},
        {"{\"name\":\"a\",\"memory_pages\":0}", "memory_pages:"},
        {"{\"name\":\"a\",\"storage_quota\":-1}", "storage_quota:"},
        {"{\"name\":\"a\",\"affinity\":\"one\"}", "affinity:"},
        {"{\"name\":\"a\",\"grants\":[{\"exclusive\":true}]}",
         "grants[0].device:"},
        {"{\"name\":\"a\",\"grants\":[{\"device\":\"x\",\"mode\":1}]}",
         "grants[0].mode:"},
        {"{\"name\":\"a\",\"provides\":[\"ok\",7]}", "provides[1]:"},
        {"{\"name\":\"a\",\"calls\":{}}", "calls:"},
        {"{\"name\":\"a\",\"net_allow\":[{\"host\":\"h\",\"port\":70000}]}",
         "net_allow[0].port:"},
        {"{\"name\":\"a\",\"net_allow\":[{\"host\":\"h\",\"proto\":\"x\"}]}",
         "net_allow[0].proto:"},
        {"{\"name\":\"a\",\"restart\":\"always\"}", "restart:"},
        {"{\"name\":\"a\",\"max_retries\":-2}", "max_retries:"},
        {"{\"name\":\"a\",\"backoff_ms\":500,\"backoff_max_ms\":100}",
         "backoff_max_ms:"},
        {"{\"name\":\"a\",\"watchdog_ms\":true}", "watchdog_ms:"},
        {"{\"name\":\"a\",\"args\":[1]}", "args[0]:"},
        {"{\"name\":\"a\",\"ota_confirm\":1}", "ota_confirm:"},
        {"{\"name\":\"a\",\"colour\":1}", "colour: unknown key"},
        {"{\"name\":\"a\",\n\"priority\":}", "manifest: JSON syntax error"},
    };
    vmrt_manifest_t m;
    char err[160];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        assert_int_equal(vmrt_manifest_parse(cases[i].json,
                                             strlen(cases[i].json), &m, err,
                                             sizeof(err)),
                         VMRT_EINVAL);
        if (strncmp(err, cases[i].prefix, strlen(cases[i].prefix)) != 0)
            fail_msg("case %zu: err \"%s\" does not start with \"%s\"", i,
                     err, cases[i].prefix);
    }
}

static void
write_file(const char *path, const char *text)
{
    assert_int_equal(pl_file_write_atomic(path, text, strlen(text)), 0);
}

static void
test_config_load(void **state)
{
    fx_t *fx = *state;
    char path[192], err[256];
    vmrt_rt_config_t cfg;
    vmrt_manifest_t *vms = NULL;
    uint32_t n = 0;

    snprintf(path, sizeof(path), "%s/device.json", fx->dir);
    write_file(path, "{\n"
                     "  \"workers\": 3,\n"
                     "  \"state_dir\": \"/var/lib/vmrt\",\n"
                     "  \"log_ring_bytes\": 4096,\n"
                     "  \"vms\": [\n"
                     "    {\"name\": \"blinky\", \"module\": \"b.wasm\"},\n"
                     "    {\"name\": \"sensor\", \"module\": \"/abs/s.wasm\",\n"
                     "     \"priority\": 2}\n"
                     "  ]\n"
                     "}\n");
    assert_int_equal(
        vmrt_config_load(path, &cfg, &vms, &n, err, sizeof(err)), 0);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.state_dir, "/var/lib/vmrt");
    assert_int_equal(cfg.log_ring_bytes, 4096);
    assert_int_equal(n, 2);
    assert_string_equal(vms[0].name, "blinky");
    /* Relative module paths are relative to the config file. */
    assert_non_null(strstr(vms[0].module, fx->dir));
    assert_non_null(strstr(vms[0].module, "/b.wasm"));
    assert_string_equal(vms[1].module, "/abs/s.wasm");
    assert_int_equal(vms[1].priority, 2);
    vmrt_config_free_vms(vms);

    /* An error names the key and its line. */
    write_file(path, "{\n"
                     "  \"vms\": [\n"
                     "    {\"name\": \"blinky\", \"module\": \"b.wasm\"},\n"
                     "    {\"name\": \"sensor\", \"module\": \"s.wasm\",\n"
                     "     \"priority\": 99}\n"
                     "  ]\n"
                     "}\n");
    assert_int_equal(vmrt_config_load(path, &cfg, NULL, NULL, err,
                                      sizeof(err)),
                     VMRT_EINVAL);
    assert_non_null(strstr(err, ":5: vms[1].priority:"));
    write_file(path, "{\n  \"workers\": \"many\"\n}\n");
    assert_int_equal(vmrt_config_load(path, &cfg, NULL, NULL, err,
                                      sizeof(err)),
                     VMRT_EINVAL);
    assert_non_null(strstr(err, ":2: workers:"));
    write_file(path, "{\n  \"vms\": [{\"name\": \"x\"}]\n}\n");
    assert_int_equal(vmrt_config_load(path, &cfg, NULL, NULL, err,
                                      sizeof(err)),
                     VMRT_EINVAL);
    assert_non_null(strstr(err, "vms[0].module: missing"));
    write_file(path, "{\n  \"workers\": 1,\n  oops\n}\n");
    assert_int_equal(vmrt_config_load(path, &cfg, NULL, NULL, err,
                                      sizeof(err)),
                     VMRT_EINVAL);
    assert_non_null(strstr(err, ":3: JSON syntax error"));
    snprintf(path, sizeof(path), "%s/none.json", fx->dir);
    assert_int_equal(vmrt_config_load(path, &cfg, NULL, NULL, err,
                                      sizeof(err)),
                     VMRT_EIO);
}

/* ---- the state machine ------------------------------------------------- */

typedef int (*op_fn)(vmrt_rt_t *, const char *, char *, size_t);

static const struct {
    const char *name;
    op_fn fn;
    /* Bit per vmrt_vm_state_t: legal from that state. */
    unsigned legal;
} ops[] = {
#define B(s) (1u << (s))
    {"start", vmrt_vm_start,
     B(VMRT_VM_CREATED) | B(VMRT_VM_STOPPED) | B(VMRT_VM_FAILED)},
    {"stop", vmrt_vm_stop,
     B(VMRT_VM_RUNNING) | B(VMRT_VM_SUSPENDED) | B(VMRT_VM_RESTARTING)},
    {"suspend", vmrt_vm_suspend, B(VMRT_VM_RUNNING)},
    {"resume", vmrt_vm_resume, B(VMRT_VM_SUSPENDED)},
    {"restart", vmrt_vm_restart,
     B(VMRT_VM_RUNNING) | B(VMRT_VM_SUSPENDED) | B(VMRT_VM_RESTARTING) |
         B(VMRT_VM_STOPPED) | B(VMRT_VM_FAILED)},
#undef B
};

/* Every illegal operation from the VM's current state: VMRT_ESTATE, an
 * error naming the operation and the state, and no change. */
static void
check_illegal(vmrt_rt_t *rt, const char *name)
{
    vmrt_vm_state_t s = state_of(rt, name);
    char err[160], want[96];
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (ops[i].legal & (1u << s))
            continue;
        err[0] = '\0';
        assert_int_equal(ops[i].fn(rt, name, err, sizeof(err)), VMRT_ESTATE);
        snprintf(want, sizeof(want), "cannot %s '%s': it is %s", ops[i].name,
                 name, vmrt_vm_state_str(s));
        assert_string_equal(err, want);
        assert_int_equal(state_of(rt, name), s);
    }
}

typedef struct {
    int nstate, ncrash, nrestart;
} evcount_t;

static void
count_ev(void *arg, const vmrt_event_t *ev)
{
    evcount_t *c = arg;

    if (ev->kind == VMRT_EV_STATE)
        c->nstate++;
    else if (ev->kind == VMRT_EV_CRASH)
        c->ncrash++;
    else if (ev->kind == VMRT_EV_RESTART)
        c->nrestart++;
}

static void
test_vm_state_machine(void **state)
{
    fx_t *fx = *state;
    vmrt_rt_t *rt = fx->rt;
    static evcount_t ev;
    char err[160];
    vmrt_vm_info_t info;
    uint32_t c1, c2;
    vmrt_manifest_t m;

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(vmrt_rt_subscribe(rt, count_ev, &ev), 0);
    create_vm(rt, "sensor", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(ev.nstate, 1);
    /* A second VM of that name is refused. */
    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "sensor");
    assert_int_equal(vmrt_vm_create(rt, &m, vm_loop_wasm, vm_loop_wasm_len,
                                    err, sizeof(err)),
                     VMRT_ESTATE);
    assert_int_equal(vmrt_vm_start(rt, "nope", err, sizeof(err)),
                     VMRT_ENOTFOUND);

    assert_int_equal(state_of(rt, "sensor"), VMRT_VM_CREATED);
    check_illegal(rt, "sensor");
    assert_int_equal(vmrt_vm_start(rt, "sensor", err, sizeof(err)), 0);
    assert_int_equal(state_of(rt, "sensor"), VMRT_VM_RUNNING);
    check_illegal(rt, "sensor");
    c1 = run_past(rt, "sensor", 0);
    assert_int_equal(state_of(rt, "sensor"), VMRT_VM_SUSPENDED);
    check_illegal(rt, "sensor");
    /* Suspended means it does not run. */
    pl_sleep_ns(20000000);
    assert_int_equal(counter_of(rt, "sensor"), c1);
    assert_int_equal(vmrt_vm_info(rt, "sensor", &info), 0);
    assert_int_equal(info.memory_bytes, 65536);
    assert_string_equal(info.version, "1.2.3");
    assert_int_equal(vmrt_vm_resume(rt, "sensor", err, sizeof(err)), 0);
    c2 = run_past(rt, "sensor", c1);
    assert_true(c2 > c1);
    assert_int_equal(vmrt_vm_resume(rt, "sensor", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_stop(rt, "sensor", err, sizeof(err)), 0);
    assert_int_equal(state_of(rt, "sensor"), VMRT_VM_STOPPED);
    check_illegal(rt, "sensor");
    assert_int_equal(vmrt_vm_restart(rt, "sensor", err, sizeof(err)), 0);
    assert_int_equal(state_of(rt, "sensor"), VMRT_VM_RUNNING);
    assert_int_equal(vmrt_vm_info(rt, "sensor", &info), 0);
    assert_int_equal(info.restarts, 1);
    assert_int_equal(vmrt_vm_restart(rt, "sensor", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_info(rt, "sensor", &info), 0);
    assert_int_equal(info.restarts, 2);
    assert_true(ev.nrestart >= 2);
    /* Destroy is legal while running: it stops first. */
    assert_int_equal(vmrt_vm_destroy(rt, "sensor", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_info(rt, "sensor", &info), VMRT_ENOTFOUND);
    assert_int_equal(vmrt_vm_list(rt, NULL, 0), 0);
    assert_true(ev.nstate >= 9);
}

static void
test_vm_start_without_start_export_fails(void **state)
{
    fx_t *fx = *state;
    char err[160];

    create_vm(fx->rt, "bad", vm_nostart_wasm, vm_nostart_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(vmrt_vm_start(fx->rt, "bad", err, sizeof(err)),
                     VMRT_ENOTFOUND);
    assert_non_null(strstr(err, "_start"));
    assert_int_equal(state_of(fx->rt, "bad"), VMRT_VM_CREATED);
}

static void
test_vm_exit_zero_stops(void **state)
{
    fx_t *fx = *state;
    vmrt_vm_info_t info;
    char err[160];

    create_vm(fx->rt, "once", vm_exit_wasm, vm_exit_wasm_len,
              VMRT_RESTART_ON_FAILURE);
    assert_int_equal(vmrt_vm_start(fx->rt, "once", err, sizeof(err)), 0);
    assert_true(wait_state(fx->rt, "once", VMRT_VM_STOPPED));
    assert_int_equal(vmrt_vm_info(fx->rt, "once", &info), 0);
    assert_int_equal(info.exit_code, 0);
    assert_int_equal(info.restarts, 0);
    assert_string_equal(info.last_error, "");
}

/* ---- restart policy ------------------------------------------------------ */

static void
test_vm_crash_loop_ends_failed(void **state)
{
    fx_t *fx = *state;
    static evcount_t ev;
    vmrt_vm_info_t info;
    char err[160];

    memset(&ev, 0, sizeof(ev));
    assert_int_equal(vmrt_rt_subscribe(fx->rt, count_ev, &ev), 0);
    create_vm(fx->rt, "crashy", vm_trap_wasm, vm_trap_wasm_len,
              VMRT_RESTART_ON_FAILURE);
    create_vm(fx->rt, "steady", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(vmrt_vm_start(fx->rt, "steady", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_start(fx->rt, "crashy", err, sizeof(err)), 0);
    assert_true(wait_state(fx->rt, "crashy", VMRT_VM_FAILED));
    assert_int_equal(vmrt_vm_info(fx->rt, "crashy", &info), 0);
    /* max_retries 2: the first run and two restarts all failed. */
    assert_int_equal(info.restarts, 2);
    assert_non_null(strstr(info.last_error, "unreachable"));
    assert_int_equal(ev.nrestart, 2);
    assert_int_equal(ev.ncrash, 4); /* three traps + the crash loop */
    /* The neighbour was not disturbed. */
    assert_int_equal(state_of(fx->rt, "steady"), VMRT_VM_RUNNING);
    /* From FAILED an operator may start it again. */
    check_illegal(fx->rt, "crashy");
}

static void
test_vm_never_policy_stops_with_error(void **state)
{
    fx_t *fx = *state;
    vmrt_vm_info_t info;
    char err[160];

    create_vm(fx->rt, "once", vm_trap_wasm, vm_trap_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(vmrt_vm_start(fx->rt, "once", err, sizeof(err)), 0);
    assert_true(wait_state(fx->rt, "once", VMRT_VM_STOPPED));
    assert_int_equal(vmrt_vm_info(fx->rt, "once", &info), 0);
    assert_int_equal(info.restarts, 0);
    assert_non_null(strstr(info.last_error, "trap: unreachable"));
}

/* ---- persistence and snapshots ----------------------------------------- */

static void
test_vm_persist_across_rt_restart(void **state)
{
    fx_t *fx = *state;
    vmrt_vm_info_t info[4];
    char err[160];
    uint32_t c1, c2;

    create_vm(fx->rt, "runner", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    create_vm(fx->rt, "sleeper", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    create_vm(fx->rt, "idle", vm_exit_wasm, vm_exit_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(vmrt_vm_start(fx->rt, "runner", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_start(fx->rt, "sleeper", err, sizeof(err)), 0);
    c1 = run_past(fx->rt, "sleeper", 0);

    vmrt_rt_destroy(fx->rt);
    fx->rt = rt_open(fx->dir);

    assert_int_equal(vmrt_vm_list(fx->rt, info, 4), 3);
    assert_string_equal(info[0].name, "runner");
    assert_string_equal(info[0].version, "1.2.3");
    assert_int_equal(info[0].state, VMRT_VM_RUNNING);
    assert_string_equal(info[1].name, "sleeper");
    assert_int_equal(info[1].state, VMRT_VM_SUSPENDED);
    assert_string_equal(info[2].name, "idle");
    assert_int_equal(info[2].state, VMRT_VM_CREATED);
    /* The suspended VM kept its memory and continues from it. */
    assert_int_equal(counter_of(fx->rt, "sleeper"), c1);
    assert_int_equal(vmrt_vm_resume(fx->rt, "sleeper", err, sizeof(err)),
                     0);
    c2 = run_past(fx->rt, "sleeper", c1);
    assert_true(c2 > c1);
}

static void
test_vm_snapshot_restore_continues_counting(void **state)
{
    fx_t *fx = *state;
    char err[160], path[192];
    uint32_t c1, c2;

    snprintf(path, sizeof(path), "%s/counter.snap", fx->dir);
    create_vm(fx->rt, "counter", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    create_vm(fx->rt, "other", vm_trap_wasm, vm_trap_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(vmrt_vm_snapshot(fx->rt, "counter", path, err,
                                      sizeof(err)),
                     VMRT_ESTATE);
    assert_int_equal(vmrt_vm_start(fx->rt, "counter", err, sizeof(err)), 0);
    c1 = run_past(fx->rt, "counter", 0);
    assert_int_equal(vmrt_vm_snapshot(fx->rt, "counter", path, err,
                                      sizeof(err)),
                     0);
    /* Snapshot keeps the state. */
    assert_int_equal(state_of(fx->rt, "counter"), VMRT_VM_SUSPENDED);
    assert_int_equal(vmrt_vm_stop(fx->rt, "counter", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_restore(fx->rt, "counter", path, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(state_of(fx->rt, "counter"), VMRT_VM_SUSPENDED);
    assert_int_equal(counter_of(fx->rt, "counter"), c1);
    assert_int_equal(vmrt_vm_resume(fx->rt, "counter", err, sizeof(err)), 0);
    c2 = run_past(fx->rt, "counter", c1);
    assert_true(c2 > c1);
    /* Another module's VM refuses it. */
    assert_int_equal(vmrt_vm_restore(fx->rt, "other", path, err,
                                     sizeof(err)),
                     VMRT_EMISMATCH);
    assert_int_equal(state_of(fx->rt, "other"), VMRT_VM_CREATED);
    /* A running snapshot comes back running. */
    assert_int_equal(vmrt_vm_resume(fx->rt, "counter", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_snapshot(fx->rt, "counter", path, err,
                                      sizeof(err)),
                     0);
    assert_int_equal(state_of(fx->rt, "counter"), VMRT_VM_RUNNING);
    assert_int_equal(vmrt_vm_restore(fx->rt, "counter", path, err,
                                     sizeof(err)),
                     0);
    assert_int_equal(state_of(fx->rt, "counter"), VMRT_VM_RUNNING);
}

static void
test_vm_watchdog_expiry_is_a_failure(void **state)
{
    fx_t *fx = *state;
    vmrt_manifest_t m;
    vmrt_vm_info_t info;
    char err[160];

    /* The loop guest never calls vos_wdt_kick(). */
    vmrt_manifest_init(&m);
    snprintf(m.name, sizeof(m.name), "hung");
    m.memory_pages = 1;
    m.watchdog_ms = 30;
    assert_int_equal(vmrt_vm_create(fx->rt, &m, vm_loop_wasm,
                                    vm_loop_wasm_len, err, sizeof(err)),
                     0);
    assert_int_equal(vmrt_vm_start(fx->rt, "hung", err, sizeof(err)), 0);
    assert_true(wait_state(fx->rt, "hung", VMRT_VM_STOPPED));
    assert_int_equal(vmrt_vm_info(fx->rt, "hung", &info), 0);
    assert_non_null(strstr(info.last_error, "watchdog"));
}

typedef struct {
    int npower;
    char detail[96];
} powerev_t;

static void
power_ev(void *arg, const vmrt_event_t *ev)
{
    powerev_t *p = arg;

    if (ev->kind == VMRT_EV_POWER) {
        p->npower++;
        snprintf(p->detail, sizeof(p->detail), "%s", ev->detail);
    }
}

static void
test_rt_power_suspends_and_resumes_all(void **state)
{
    fx_t *fx = *state;
    static powerev_t pe;
    char err[160];

    memset(&pe, 0, sizeof(pe));
    assert_int_equal(vmrt_rt_subscribe(fx->rt, power_ev, &pe), 0);
    create_vm(fx->rt, "a", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    create_vm(fx->rt, "b", vm_loop_wasm, vm_loop_wasm_len,
              VMRT_RESTART_NEVER);
    create_vm(fx->rt, "c", vm_exit_wasm, vm_exit_wasm_len,
              VMRT_RESTART_NEVER);
    assert_int_equal(vmrt_vm_start(fx->rt, "a", err, sizeof(err)), 0);
    assert_int_equal(vmrt_vm_start(fx->rt, "b", err, sizeof(err)), 0);
    /* Nobody handles VOS_IRQ_POWER here: nobody acknowledges in time, and
     * the deadline still bounds the wait. */
    assert_int_equal(vmrt_rt_power(fx->rt, VMRT_POWER_SUSPEND_ALL, 10, err,
                                   sizeof(err)),
                     0);
    assert_int_equal(state_of(fx->rt, "a"), VMRT_VM_SUSPENDED);
    assert_int_equal(state_of(fx->rt, "b"), VMRT_VM_SUSPENDED);
    assert_int_equal(state_of(fx->rt, "c"), VMRT_VM_CREATED);
    assert_int_equal(pe.npower, 1);
    assert_non_null(strstr(pe.detail, "suspend-all"));
    assert_non_null(strstr(pe.detail, "late [a,b]"));
    assert_int_equal(vmrt_rt_power(fx->rt, VMRT_POWER_RESUME_ALL, 10, err,
                                   sizeof(err)),
                     0);
    assert_int_equal(state_of(fx->rt, "a"), VMRT_VM_RUNNING);
    assert_int_equal(state_of(fx->rt, "b"), VMRT_VM_RUNNING);
    assert_int_equal(vmrt_rt_power(fx->rt, VMRT_POWER_SHUTDOWN, 10, err,
                                   sizeof(err)),
                     0);
    assert_int_equal(state_of(fx->rt, "a"), VMRT_VM_STOPPED);
    assert_int_equal(state_of(fx->rt, "b"), VMRT_VM_STOPPED);
    assert_int_equal(pe.npower, 3);
}

/* ---- log ring ------------------------------------------------------------ */

static void
test_log_ring_wraps_with_sequence(void **state)
{
    fx_t *fx = *state;
    vmrt_rt_config_t c = cfg_for("");
    vmrt_rt_t *rt = NULL;
    vmrt_vm_t *vm;
    char err[160], buf[128];
    uint64_t next = 0;
    size_t n;

    (void)fx;
    c.log_ring_bytes = 64;
    assert_int_equal(vmrt_rt_create(&c, &rt, err, sizeof(err)), 0);
    create_vm(rt, "chatty", vm_exit_wasm, vm_exit_wasm_len,
              VMRT_RESTART_NEVER);
    pl_mutex_lock(&rt->lock);
    vm = vmrt__vm_find(rt, "chatty");
    pl_mutex_unlock(&rt->lock);
    assert_non_null(vm);
    /* Read what is there (the runtime's "created" line), then follow. */
    n = vmrt_vm_log_read(rt, "chatty", 0, buf, sizeof(buf), &next);
    assert_true(n > 0);
    assert_int_equal(next, n);
    vmrt__log_append(vm, "hello\n", 6);
    n = vmrt_vm_log_read(rt, "chatty", next, buf, sizeof(buf), &next);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "hello\n", 6);
    /* Nothing new: zero bytes, same sequence. */
    assert_int_equal(vmrt_vm_log_read(rt, "chatty", next, buf, sizeof(buf),
                                      &next),
                     0);
    /* Overflow the 64-byte ring: a stale reader skips to the oldest. */
    {
        uint64_t before = next;
        char line[40];
        int i;

        for (i = 0; i < 10; i++) {
            snprintf(line, sizeof(line), "line %02d abcdefgh\n", i);
            vmrt__log_append(vm, line, strlen(line));
        }
        n = vmrt_vm_log_read(rt, "chatty", before, buf, sizeof(buf), &next);
        assert_int_equal(n, 64);
        assert_int_equal(next, before + 10 * 17);
        assert_memory_equal(buf + 64 - 17, "line 09 abcdefgh\n", 17);
        /* Small reads continue exactly. */
        n = vmrt_vm_log_read(rt, "chatty", next - 17, buf, 5, &next);
        assert_int_equal(n, 5);
        assert_memory_equal(buf, "line ", 5);
        n = vmrt_vm_log_read(rt, "chatty", next, buf, sizeof(buf), &next);
        assert_int_equal(n, 12);
        assert_memory_equal(buf, "09 abcdefgh\n", 12);
    }
    /* Bigger than the ring in one append: the tail is kept. */
    {
        char big[200];

        memset(big, 'x', sizeof(big));
        big[sizeof(big) - 1] = 'y';
        vmrt__log_append(vm, big, sizeof(big));
        n = vmrt_vm_log_read(rt, "chatty", 0, buf, sizeof(buf), &next);
        assert_int_equal(n, 64);
        assert_int_equal(buf[63], 'y');
    }
    assert_int_equal(vmrt_vm_log_read(rt, "nope", 0, buf, sizeof(buf),
                                      &next),
                     0);
    vmrt_rt_destroy(rt);
}

/* The ring starts small and grows to its cap: every byte written while it
 * grows reads back, in order, across each growth and into the wrap. */
static void
test_log_ring_grows_then_wraps(void **state)
{
    fx_t *fx = *state;
    vmrt_rt_config_t c = cfg_for("");
    vmrt_rt_t *rt = NULL;
    vmrt_vm_t *vm;
    char err[160], line[64], all[4096 + 64], buf[4096];
    uint64_t next = 0, total;
    size_t n, k;
    int i;

    (void)fx;
    c.log_ring_bytes = 4096;
    assert_int_equal(vmrt_rt_create(&c, &rt, err, sizeof(err)), 0);
    create_vm(rt, "grow", vm_exit_wasm, vm_exit_wasm_len,
              VMRT_RESTART_NEVER);
    pl_mutex_lock(&rt->lock);
    vm = vmrt__vm_find(rt, "grow");
    pl_mutex_unlock(&rt->lock);
    assert_non_null(vm);
    /* The runtime's "created" line alone does not take the whole ring. */
    total = vmrt_vm_log_read(rt, "grow", 0, all, sizeof(all), &next);
    assert_true(total > 0);
    assert_true(vm->ext->log_alloc < 4096);
    /* Fill to just under the cap, checking every line as it comes. */
    for (i = 0; total + 40 < 4096; i++) {
        k = (size_t)snprintf(line, sizeof(line), "line %03d %.*s\n", i,
                             i % 29, "abcdefghijklmnopqrstuvwxyz0123");
        vmrt__log_append(vm, line, k);
        memcpy(all + total, line, k);
        total += k;
        n = vmrt_vm_log_read(rt, "grow", next, buf, sizeof(buf), &next);
        assert_int_equal(n, k);
        assert_memory_equal(buf, line, k);
    }
    n = vmrt_vm_log_read(rt, "grow", 0, buf, sizeof(buf), &next);
    assert_int_equal(n, total);
    assert_memory_equal(buf, all, total);
    /* Past the cap it wraps: the newest 4096 bytes are kept. */
    k = (size_t)snprintf(line, sizeof(line), "%s", "0123456789abcdef"
                         "0123456789abcdef0123456789abcdef0123456789\n");
    vmrt__log_append(vm, line, k);
    memcpy(all + total, line, k);
    total += k;
    assert_true(total > 4096);
    assert_int_equal(vm->ext->log_alloc, 4096);
    n = vmrt_vm_log_read(rt, "grow", 0, buf, sizeof(buf), &next);
    assert_int_equal(n, 4096);
    assert_int_equal(next, total);
    assert_memory_equal(buf, all + total - 4096, 4096);
    vmrt_rt_destroy(rt);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_defaults),
        cmocka_unit_test(test_manifest_every_key_round_trips),
        cmocka_unit_test(test_manifest_errors_name_the_key),
        cmocka_unit_test_setup_teardown(test_config_load, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_vm_state_machine, setup,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_vm_start_without_start_export_fails, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_vm_exit_zero_stops, setup,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_vm_crash_loop_ends_failed, setup,
                                        teardown_fx),
        cmocka_unit_test_setup_teardown(test_vm_never_policy_stops_with_error,
                                        setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_vm_persist_across_rt_restart,
                                        setup, teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_vm_snapshot_restore_continues_counting, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_vm_watchdog_expiry_is_a_failure,
                                        setup, teardown_fx),
        cmocka_unit_test_setup_teardown(
            test_rt_power_suspends_and_resumes_all, setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_log_ring_wraps_with_sequence,
                                        setup, teardown_fx),
        cmocka_unit_test_setup_teardown(test_log_ring_grows_then_wraps,
                                        setup, teardown_fx),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
