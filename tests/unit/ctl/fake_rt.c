/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * A fake runtime for the control server's unit test: the public runtime
 * API and the device API over a table of VMs with a tiny state machine, so
 * that src/ctl/server.c can be tested without the core.  Linked instead of
 * the vmrt library.
 */

#include <stdio.h>
#include <string.h>

#include "dev/dev.h"
#include "fake_rt.h"
#include "vm/vm_internal.h"
#include "vos.h"

fake_vm_t fake_vms[FAKE_MAX_VMS];
vmrt_event_fn_t fake_event_fn;
void *fake_event_arg;
char fake_uart_in[256];
size_t fake_uart_in_len;

const char *
vmrt_strerror(int err)
{
    return err == VMRT_ENOTFOUND ? "not found"
           : err == VMRT_ESTATE  ? "operation not allowed in this state"
                                 : "error";
}

static fake_vm_t *
find(const char *name)
{
    size_t i;

    for (i = 0; i < FAKE_MAX_VMS; i++)
        if (fake_vms[i].used && strcmp(fake_vms[i].name, name) == 0)
            return &fake_vms[i];
    return NULL;
}

static void
post(vmrt_rt_t *rt, fake_vm_t *v)
{
    vmrt_event_t ev;

    (void)rt;
    memset(&ev, 0, sizeof(ev));
    ev.kind = VMRT_EV_STATE;
    snprintf(ev.vm, sizeof(ev.vm), "%s", v->name);
    ev.state = v->state;
    if (fake_event_fn != NULL)
        fake_event_fn(fake_event_arg, &ev);
}

int
vmrt_rt_subscribe(vmrt_rt_t *rt, vmrt_event_fn_t fn, void *arg)
{
    (void)rt;
    fake_event_fn = fn;
    fake_event_arg = arg;
    return 0;
}

int
vmrt_vm_create(vmrt_rt_t *rt, const vmrt_manifest_t *m,
               const uint8_t *module, size_t len, char *err, size_t errlen)
{
    size_t i;

    if (find(m->name) != NULL) {
        snprintf(err, errlen, "vm %s exists", m->name);
        return VMRT_ESTATE;
    }
    if (len < 8 || memcmp(module, "\0asm", 4) != 0) {
        snprintf(err, errlen, "not a wasm module");
        return VMRT_EMALFORMED;
    }
    for (i = 0; i < FAKE_MAX_VMS; i++) {
        if (!fake_vms[i].used) {
            memset(&fake_vms[i], 0, sizeof(fake_vms[i]));
            fake_vms[i].used = true;
            snprintf(fake_vms[i].name, sizeof(fake_vms[i].name), "%s",
                     m->name);
            fake_vms[i].man = *m;
            fake_vms[i].state = VMRT_VM_CREATED;
            post(rt, &fake_vms[i]);
            return 0;
        }
    }
    return VMRT_ELIMIT;
}

/* Legal transitions of the real state machine, enough for the test. */
static int
move(vmrt_rt_t *rt, const char *name, vmrt_vm_state_t from1,
     vmrt_vm_state_t from2, vmrt_vm_state_t to, char *err, size_t errlen)
{
    fake_vm_t *v = find(name);

    if (v == NULL)
        return VMRT_ENOTFOUND;
    if (v->state != from1 && v->state != from2) {
        snprintf(err, errlen, "vm %s is %s", name,
                 v->state == VMRT_VM_RUNNING ? "running" : "not running");
        return VMRT_ESTATE;
    }
    v->state = to;
    post(rt, v);
    return 0;
}

int
vmrt_vm_start(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    return move(rt, name, VMRT_VM_CREATED, VMRT_VM_STOPPED, VMRT_VM_RUNNING,
                err, errlen);
}

int
vmrt_vm_stop(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    return move(rt, name, VMRT_VM_RUNNING, VMRT_VM_SUSPENDED,
                VMRT_VM_STOPPED, err, errlen);
}

int
vmrt_vm_suspend(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    return move(rt, name, VMRT_VM_RUNNING, VMRT_VM_RUNNING,
                VMRT_VM_SUSPENDED, err, errlen);
}

int
vmrt_vm_resume(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    return move(rt, name, VMRT_VM_SUSPENDED, VMRT_VM_SUSPENDED,
                VMRT_VM_RUNNING, err, errlen);
}

int
vmrt_vm_restart(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    fake_vm_t *v = find(name);

    (void)err;
    (void)errlen;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    v->state = VMRT_VM_RUNNING;
    v->restarts++;
    post(rt, v);
    return 0;
}

int
vmrt_vm_destroy(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    fake_vm_t *v = find(name);

    (void)rt;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    if (v->state == VMRT_VM_RUNNING) {
        snprintf(err, errlen, "vm %s is running: stop it first", name);
        return VMRT_ESTATE;
    }
    v->used = false;
    return 0;
}

int
vmrt_vm_snapshot(vmrt_rt_t *rt, const char *name, const char *path,
                 char *err, size_t errlen)
{
    fake_vm_t *v = find(name);
    char data[64];
    int n;

    (void)rt;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    n = snprintf(data, sizeof(data), "SNAP:%s:%u", name, v->restarts);
    if (pl_file_write_atomic(path, data, (size_t)n) != 0) {
        snprintf(err, errlen, "cannot write %s", path);
        return VMRT_EIO;
    }
    return 0;
}

int
vmrt_vm_restore(vmrt_rt_t *rt, const char *name, const char *path,
                char *err, size_t errlen)
{
    fake_vm_t *v = find(name);
    uint8_t *buf;
    size_t len;

    (void)rt;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    if (pl_file_read_all(path, 1024, &buf, &len) != 0)
        return VMRT_EIO;
    if (len < 5 || memcmp(buf, "SNAP:", 5) != 0) {
        pl_free_file(buf);
        snprintf(err, errlen, "bad magic");
        return VMRT_ECORRUPT;
    }
    pl_free_file(buf);
    v->state = VMRT_VM_SUSPENDED;
    return 0;
}

static void
info_of(const fake_vm_t *v, vmrt_vm_info_t *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", v->name);
    snprintf(out->version, sizeof(out->version), "%s", v->man.version);
    out->state = v->state;
    out->priority = v->man.priority;
    out->memory_bytes = 65536;
    out->restarts = v->restarts;
    out->exit_code = -1;
}

/* A swap of a running VM commits at once: the server only relays. */
int
vmrt_vm_swap(vmrt_rt_t *rt, const char *name, const uint8_t *module,
             size_t len, const char *version, const vmrt_swap_opts_t *opts,
             char *err, size_t errlen)
{
    fake_vm_t *v = find(name);

    (void)rt;
    (void)module;
    (void)opts;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    if (v->state != VMRT_VM_RUNNING) {
        snprintf(err, errlen, "cannot swap '%s'", name);
        return VMRT_ESTATE;
    }
    if (len == 0 || version == NULL)
        return VMRT_EINVAL;
    memcpy(v->swap.old_version, v->man.version, sizeof(v->man.version));
    snprintf(v->swap.new_version, sizeof(v->swap.new_version), "%s",
             version);
    snprintf(v->man.version, sizeof(v->man.version), "%s", version);
    v->swap.state = VMRT_SWAP_COMMITTED;
    return 0;
}

int
vmrt_vm_swap_status(vmrt_rt_t *rt, const char *name,
                    vmrt_swap_status_t *out)
{
    fake_vm_t *v = find(name);

    (void)rt;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    *out = v->swap;
    return 0;
}

int
vmrt_vm_info(vmrt_rt_t *rt, const char *name, vmrt_vm_info_t *out)
{
    fake_vm_t *v = find(name);

    (void)rt;
    if (v == NULL)
        return VMRT_ENOTFOUND;
    info_of(v, out);
    return 0;
}

uint32_t
vmrt_vm_list(vmrt_rt_t *rt, vmrt_vm_info_t *out, uint32_t max)
{
    uint32_t n = 0;
    size_t i;

    (void)rt;
    for (i = 0; i < FAKE_MAX_VMS; i++) {
        if (!fake_vms[i].used)
            continue;
        if (n < max)
            info_of(&fake_vms[i], &out[n]);
        n++;
    }
    return n;
}

size_t
vmrt_vm_log_read(vmrt_rt_t *rt, const char *name, uint64_t seq, char *buf,
                 size_t len, uint64_t *next)
{
    static const char text[] = "hello from the log\n";
    size_t n;

    (void)rt;
    (void)name;
    if (seq >= sizeof(text) - 1) {
        *next = seq;
        return 0;
    }
    n = sizeof(text) - 1 - (size_t)seq;
    if (n > len)
        n = len;
    memcpy(buf, text + seq, n);
    *next = seq + n;
    return n;
}

int
vmrt_rt_power(vmrt_rt_t *rt, vmrt_power_t ev, uint32_t deadline_ms,
              char *err, size_t errlen)
{
    size_t i;

    (void)rt;
    (void)deadline_ms;
    (void)err;
    (void)errlen;
    for (i = 0; i < FAKE_MAX_VMS; i++)
        if (fake_vms[i].used && ev == VMRT_POWER_SUSPEND_ALL &&
            fake_vms[i].state == VMRT_VM_RUNNING)
            fake_vms[i].state = VMRT_VM_SUSPENDED;
    return 0;
}

uint32_t
vmrt_dev_list(vmrt_rt_t *rt, vmrt_dev_info_t *out, uint32_t max)
{
    (void)rt;
    if (max > 0) {
        memset(out, 0, sizeof(*out));
        strcpy(out->name, "uart0");
        strcpy(out->kind, "uart");
    }
    return 1;
}

int
vmrt_dev_uart_inject(vmrt_rt_t *rt, const char *name, const void *data,
                     size_t len)
{
    (void)rt;
    if (strcmp(name, "uart0") != 0)
        return VOS_ENOENT;
    if (len > sizeof(fake_uart_in))
        len = sizeof(fake_uart_in);
    memcpy(fake_uart_in, data, len);
    fake_uart_in_len = len;
    return (int)len;
}

int
vmrt_dev_uart_output(vmrt_rt_t *rt, const char *name, void *buf, size_t len)
{
    (void)rt;
    if (strcmp(name, "uart0") != 0)
        return VOS_ENOENT;
    if (len < 3)
        return 0;
    memcpy(buf, "out", 3);
    return 3;
}

int
vmrt_dev_temp_set(vmrt_rt_t *rt, const char *name,
                  const vmrt_temp_cfg_t *cfg)
{
    (void)rt;
    if (strcmp(name, "temp0") != 0)
        return VOS_ENOENT;
    return cfg->wave != VMRT_TEMP_CONST && cfg->period_ms == 0 ? VOS_EINVAL
                                                               : 0;
}

int
vmrt_dev_temp_read(vmrt_rt_t *rt, const char *name, int32_t *mdeg)
{
    (void)rt;
    if (strcmp(name, "temp0") != 0)
        return VOS_ENOENT;
    *mdeg = 25000;
    return 0;
}

int
vmrt_dev_led_get(vmrt_rt_t *rt, const char *name)
{
    (void)rt;
    return strcmp(name, "led0") == 0 ? 1 : VOS_ENOENT;
}

int
vmrt_dev_lcd_dump(vmrt_rt_t *rt, const char *name, const char *path)
{
    (void)rt;
    if (strcmp(name, "lcd0") != 0)
        return VOS_ENOENT;
    return pl_file_write_atomic(path, "P6\n1 1\n255\n\0\0\0", 14) == 0
               ? 0
               : VOS_EINVAL;
}
