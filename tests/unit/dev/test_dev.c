/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The device subsystem at its seams: the src/dev sources linked directly with
 * fakes of the core (block/wake, irq thread spawn, timers), of the vos
 * handle table, and of the engine pieces it touches (linker, guest
 * memory, snapshot writer).  Host functions are called through what the
 * subsystem's `link` defined, as the engine would.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dev/dev_internal.h"
#include "engine/module.h"
#include "vos.h"
#include "vos/handles.h"

/* ---- fake engine ------------------------------------------------------- */

struct vmrt_instance {
    vmrt_vm_t *vm;
    vmrt__vthread_t *self;
    uint8_t mem[65536];
};

void *
vmrt__malloc(size_t n)
{
    return malloc(n);
}

void *
vmrt__calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

void *
vmrt__realloc(void *p, size_t n)
{
    return realloc(p, n);
}

void
vmrt__free(void *p)
{
    free(p);
}

uint8_t *
vmrt_instance_memory(vmrt_instance_t *inst, uint64_t *size)
{
    *size = sizeof(inst->mem);
    return inst->mem;
}

#define MAX_HOST 32
static struct {
    char name[32];
    vmrt_host_fn_t fn;
} hosts[MAX_HOST];
static int nhosts;

int
vmrt_linker_define_func(vmrt_linker_t *lk, const char *module, const char *name,
                        const char *sig, vmrt_host_fn_t fn, void *ctx)
{
    (void)lk;
    (void)sig;
    (void)ctx;
    assert_string_equal(module, "vos");
    assert_true(nhosts < MAX_HOST);
    snprintf(hosts[nhosts].name, sizeof(hosts[nhosts].name), "%s", name);
    hosts[nhosts].fn = fn;
    nhosts++;
    return 0;
}

struct vmrt_snap_writer {
    uint8_t buf[4096];
    size_t len;
};

int
vmrt_snap_write(vmrt_snap_writer_t *w, const void *data, size_t len)
{
    if (w->len + len > sizeof(w->buf))
        return VMRT_ENOMEM;
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

/* ---- fake core ------------------------------------------------------- */

vmrt_vm_t *
vmrt__vm_of(vmrt_instance_t *inst)
{
    return inst->vm;
}

vmrt__vthread_t *
vmrt__self(vmrt_instance_t *inst)
{
    return inst->self;
}

uint64_t
vmrt__deadline(vmrt__vthread_t *t, uint64_t timeout_ns)
{
    if (t->waiting)
        return t->deadline_ns;
    return timeout_ns == UINT64_MAX ? 0 : pl_time_mono_ns() + timeout_ns;
}

/* Queue order: VM priority, then thread priority, then FIFO. */
static bool
before(const vmrt__vthread_t *a, const vmrt__vthread_t *b)
{
    if (a->vm->man.priority != b->vm->man.priority)
        return a->vm->man.priority < b->vm->man.priority;
    return a->prio < b->prio;
}

int
vmrt__block(vmrt__vthread_t *t, vmrt__waitq_t *q, uint64_t deadline_ns)
{
    vmrt__vthread_t **pp = &q->head;

    while (*pp != NULL && !before(t, *pp))
        pp = &(*pp)->wq_next;
    t->wq_next = *pp;
    *pp = t;
    t->waitq = q;
    t->waiting = true;
    t->wake = VMRT__WAKE_NONE;
    t->deadline_ns = deadline_ns;
    t->state = VMRT__VT_BLOCKED;
    return VMRT_HOST_BLOCK;
}

vmrt__wake_t
vmrt__woken(const vmrt__vthread_t *t)
{
    return (vmrt__wake_t)t->wake;
}

void
vmrt__wait_end(vmrt__vthread_t *t)
{
    t->waiting = false;
    t->wake = VMRT__WAKE_NONE;
    t->deadline_ns = 0;
}

static void
wake_one(vmrt__waitq_t *q, vmrt__wake_t why)
{
    vmrt__vthread_t *t = q->head;

    q->head = t->wq_next;
    t->wq_next = NULL;
    t->waitq = NULL;
    t->wake = (uint8_t)why;
    t->state = VMRT__VT_RUNNABLE;
}

void
vmrt__wake(vmrt__waitq_t *q, uint32_t n)
{
    while (n-- > 0 && q->head != NULL)
        wake_one(q, VMRT__WAKE_SIGNALED);
}

void
vmrt__wake_abort(vmrt__waitq_t *q)
{
    while (q->head != NULL)
        wake_one(q, VMRT__WAKE_ABORTED);
}

/* Simulate a deadline passing for a blocked thread. */
static void
expire(vmrt__vthread_t *t)
{
    vmrt__vthread_t **pp = &t->waitq->head;

    while (*pp != t)
        pp = &(*pp)->wq_next;
    *pp = t->wq_next;
    t->waitq = NULL;
    t->wake = VMRT__WAKE_TIMEOUT;
    t->state = VMRT__VT_RUNNABLE;
}

#define MAX_SPAWN 16
static struct {
    vmrt_vm_t *vm;
    uint32_t elem, irq, arg;
} spawns[MAX_SPAWN];
static int nspawns;

int
vmrt__vthread_spawn_irq(vmrt_vm_t *vm, uint32_t elem, uint32_t irq,
                        uint32_t arg)
{
    assert_true(nspawns < MAX_SPAWN);
    spawns[nspawns].vm = vm;
    spawns[nspawns].elem = elem;
    spawns[nspawns].irq = irq;
    spawns[nspawns].arg = arg;
    nspawns++;
    return 0;
}

static vmrt__timer_t *last_timer;

void
vmrt__timer_arm(vmrt_rt_t *rt, vmrt__timer_t *t, uint64_t deadline_ns)
{
    (void)rt;
    t->deadline_ns = deadline_ns;
    t->armed = true;
    last_timer = t;
}

void
vmrt__timer_cancel(vmrt_rt_t *rt, vmrt__timer_t *t)
{
    (void)rt;
    t->armed = false;
}

/* ---- fake handle table ------------------------------------------------- */

#define MAX_H 64
static struct {
    vmrt_vm_t *vm;
    int h;
    vmrt__htype_t type;
    void *obj;
    vmrt__hclose_fn_t close_fn;
} htab[MAX_H];
static int next_h = 1;

static int
h_slot(vmrt_vm_t *vm, int h)
{
    int i;

    for (i = 0; i < MAX_H; i++)
        if (htab[i].vm == vm && htab[i].h == h && h != 0)
            return i;
    return -1;
}

int
vmrt__handle_alloc_at(vmrt_vm_t *vm, int h, vmrt__htype_t type, void *obj,
                      vmrt__hclose_fn_t close_fn)
{
    int i;

    if (h_slot(vm, h) >= 0)
        return VOS_EBUSY;
    for (i = 0; i < MAX_H; i++)
        if (htab[i].vm == NULL) {
            htab[i].vm = vm;
            htab[i].h = h;
            htab[i].type = type;
            htab[i].obj = obj;
            htab[i].close_fn = close_fn;
            return h;
        }
    return VOS_ENOMEM;
}

int
vmrt__handle_alloc(vmrt_vm_t *vm, vmrt__htype_t type, void *obj,
                   vmrt__hclose_fn_t close_fn)
{
    return vmrt__handle_alloc_at(vm, next_h++, type, obj, close_fn);
}

void *
vmrt__handle_get(vmrt_vm_t *vm, int h, vmrt__htype_t type)
{
    int i = h_slot(vm, h);

    return i >= 0 && htab[i].type == type ? htab[i].obj : NULL;
}

int
vmrt__handle_close(vmrt_vm_t *vm, int h)
{
    int i = h_slot(vm, h);
    vmrt__hclose_fn_t fn;
    void *obj;

    if (i < 0)
        return VOS_EBADF;
    fn = htab[i].close_fn;
    obj = htab[i].obj;
    memset(&htab[i], 0, sizeof(htab[i]));
    if (fn != NULL)
        fn(vm, obj);
    return 0;
}

void
vmrt__handle_close_type(vmrt_vm_t *vm, vmrt__htype_t type)
{
    int i;

    for (i = 0; i < MAX_H; i++)
        if (htab[i].vm == vm && (type == VMRT__H_NONE || htab[i].type == type))
            vmrt__handle_close(vm, htab[i].h);
}

int
vmrt__handle_next(vmrt_vm_t *vm, int after, vmrt__htype_t type, void **obj)
{
    int i, best = -1;

    for (i = 0; i < MAX_H; i++)
        if (htab[i].vm == vm && htab[i].h > after &&
            (type == VMRT__H_NONE || htab[i].type == type) &&
            (best < 0 || htab[i].h < htab[best].h))
            best = i;
    if (best < 0)
        return 0;
    if (obj != NULL)
        *obj = htab[best].obj;
    return htab[best].h;
}

/* ---- fixture ------------------------------------------------------------- */

#define NVM 3

typedef struct {
    vmrt_rt_t rt;
    vmrt_vm_t vm[NVM];
    vmrt__vthread_t th[NVM][2];
    vmrt_instance_t *inst[NVM];
    char dir[64];
} fx_t;

static int
setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    int i;

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_dev.XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(f->dir), 0);
    snprintf(f->rt.cfg.state_dir, sizeof(f->rt.cfg.state_dir), "%s", f->dir);
    assert_int_equal(pl_mutex_init(&f->rt.lock), 0);
    nhosts = 0;
    nspawns = 0;
    last_timer = NULL;
    assert_int_equal(vmrt__sub_dev.rt_init(&f->rt), 0);
    for (i = 0; i < NVM; i++) {
        vmrt_vm_t *vm = &f->vm[i];

        vm->rt = &f->rt;
        snprintf(vm->man.name, sizeof(vm->man.name), "vm%d", i);
        vm->man.priority = 16;
        f->inst[i] = calloc(1, sizeof(vmrt_instance_t));
        assert_non_null(f->inst[i]);
        f->inst[i]->vm = vm;
        f->inst[i]->self = &f->th[i][0];
        f->th[i][0].vm = vm;
        f->th[i][1].vm = vm;
        f->th[i][1].id = 1;
        assert_int_equal(vmrt__sub_dev.vm_init(vm), 0);
        if (i == 0)
            assert_int_equal(vmrt__sub_dev.link(vm, NULL), 0);
        vm->next = i + 1 < NVM ? &f->vm[i + 1] : NULL;
    }
    f->rt.vms = &f->vm[0];
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *f = *state;
    int i;

    for (i = 0; i < NVM; i++) {
        vmrt__sub_dev.vm_fini(&f->vm[i]);
        free(f->inst[i]);
    }
    vmrt__sub_dev.rt_fini(&f->rt);
    pl_mutex_destroy(&f->rt.lock);
    pl_fs_remove_tree(f->dir);
    free(f);
    return 0;
}

static void
grant(vmrt_vm_t *vm, const char *name, bool exclusive)
{
    uint32_t n = vm->man.ngrants++;

    snprintf(vm->man.grants[n].name, sizeof(vm->man.grants[n].name), "%s",
             name);
    vm->man.grants[n].exclusive = exclusive;
}

/* Call host function `name` for VM i; return its status, *out the i32. */
static int
hcall(fx_t *f, int i, const char *name, int32_t *out, int nargs, ...)
{
    uint64_t a[8] = { 0 };
    va_list ap;
    int k, rc;

    va_start(ap, nargs);
    for (k = 0; k < nargs; k++)
        a[k] = (uint64_t)va_arg(ap, uint32_t);
    va_end(ap);
    for (k = 0; k < nhosts; k++)
        if (strcmp(hosts[k].name, name) == 0) {
            rc = hosts[k].fn(f->inst[i], NULL, a, a);
            *out = (int32_t)(uint32_t)a[0];
            return rc;
        }
    fail_msg("no host function %s", name);
    return -1;
}

/* Put a string into VM i's memory at `at`; returns at. */
static uint32_t
gstr(fx_t *f, int i, uint32_t at, const char *s)
{
    memcpy(f->inst[i]->mem + at, s, strlen(s));
    return at;
}

static int32_t
dopen(fx_t *f, int i, const char *name)
{
    int32_t r;

    assert_int_equal(hcall(f, i, "dev_open", &r, 2, gstr(f, i, 0, name),
                           (uint32_t)strlen(name)),
                     0);
    return r;
}

static int32_t
ioctl32(fx_t *f, int i, int32_t h, uint32_t cmd, uint32_t v0, uint32_t v1)
{
    int32_t r;

    vmrt__dev_put32(f->inst[i]->mem + 512, v0);
    vmrt__dev_put32(f->inst[i]->mem + 516, v1);
    assert_int_equal(
        hcall(f, i, "dev_ioctl", &r, 4, (uint32_t)h, cmd, 512u, 8u), 0);
    return r;
}

static int32_t
dwrite(fx_t *f, int i, int32_t h, const void *data, uint32_t len)
{
    int32_t r;

    memcpy(f->inst[i]->mem + 1024, data, len);
    assert_int_equal(hcall(f, i, "dev_write", &r, 3, (uint32_t)h, 1024u, len),
                     0);
    return r;
}

/* dev_read into memory at 2048; returns the host status. */
static int
dread(fx_t *f, int i, int32_t h, uint32_t len, uint32_t tmo, int32_t *r)
{
    return hcall(f, i, "dev_read", r, 4, (uint32_t)h, 2048u, len, tmo);
}

/* ---- tests ------------------------------------------------------------- */

static void
test_dev_registry_lists_every_device(void **state)
{
    fx_t *f = *state;
    vmrt_dev_info_t info[16];
    uint32_t n = vmrt_dev_list(&f->rt, info, 16);

    assert_int_equal(n, 11);
    assert_string_equal(info[0].name, "led0");
    assert_string_equal(info[0].kind, "gpio");
    assert_int_equal(info[0].irq, 1);
    assert_string_equal(info[4].name, "uart0");
    assert_string_equal(info[6].kind, "temp");
    assert_string_equal(info[9].kind, "flash");
    assert_string_equal(info[10].name, "lcd0");
    assert_int_equal(vmrt_dev_list(&f->rt, NULL, 0), 11);
}

static void
test_dev_open_grants(void **state)
{
    fx_t *f = *state;

    grant(&f->vm[0], "led0", false);
    assert_int_equal(dopen(f, 0, "led1"), VOS_EPERM);
    assert_int_equal(dopen(f, 0, "nope0"), VOS_ENOENT);
    assert_int_equal(dopen(f, 0, ""), VOS_ENOENT);
    assert_true(dopen(f, 0, "led0") > 0);
    {
        int32_t r;

        /* The length counts: a name with a NUL inside is another name. */
        memcpy(f->inst[0]->mem + 300, "led0\0x", 6);
        assert_int_equal(hcall(f, 0, "dev_open", &r, 2, 300u, 6u), 0);
        assert_int_equal(r, VOS_ENOENT);
    }
}

static void
test_dev_exclusive_grant_is_busy_for_others(void **state)
{
    fx_t *f = *state;
    int32_t a, b, r;
    vmrt_dev_info_t info[16];

    grant(&f->vm[0], "led0", true);
    grant(&f->vm[1], "led0", false);
    grant(&f->vm[2], "led0", true);
    a = dopen(f, 0, "led0");
    assert_true(a > 0);
    assert_true(dopen(f, 0, "led0") > 0); /* the holder may open again */
    assert_int_equal(dopen(f, 1, "led0"), VOS_EBUSY);
    assert_int_equal(dopen(f, 2, "led0"), VOS_EBUSY);
    vmrt_dev_list(&f->rt, info, 16);
    assert_string_equal(info[0].holder, "vm0");
    /* Released when the holder's last handle goes (vm_fini). */
    vmrt__sub_dev.vm_fini(&f->vm[0]);
    assert_int_equal(vmrt__sub_dev.vm_init(&f->vm[0]), 0);
    b = dopen(f, 1, "led0");
    assert_true(b > 0);
    /* Now a shared user has it: an exclusive open must wait. */
    assert_int_equal(dopen(f, 2, "led0"), VOS_EBUSY);
    assert_int_equal(vmrt__handle_close(&f->vm[1], b), 0);
    assert_true(dopen(f, 2, "led0") > 0);
    (void)r;
}

static void
test_dev_shared_two_vms_serialized_writes(void **state)
{
    fx_t *f = *state;
    int32_t a, b;
    char out[32];
    int n;

    grant(&f->vm[0], "uart0", false);
    grant(&f->vm[1], "uart0", false);
    a = dopen(f, 0, "uart0");
    b = dopen(f, 1, "uart0");
    assert_true(a > 0 && b > 0);
    assert_int_equal(dwrite(f, 0, a, "abc", 3), 3);
    assert_int_equal(dwrite(f, 1, b, "XYZ", 3), 3);
    n = vmrt_dev_uart_output(&f->rt, "uart0", out, sizeof(out));
    assert_int_equal(n, 6);
    assert_memory_equal(out, "abcXYZ", 6);
    assert_int_equal(vmrt_dev_uart_output(&f->rt, "uart0", out, 32), 0);
    assert_int_equal(vmrt_dev_uart_output(&f->rt, "led0", out, 32), VOS_ENOENT);
}

static void
test_led_write_read_toggle(void **state)
{
    fx_t *f = *state;
    int32_t h, r;
    uint8_t one = 1;

    grant(&f->vm[0], "led2", false);
    h = dopen(f, 0, "led2");
    assert_int_equal(vmrt_dev_led_get(&f->rt, "led2"), 0);
    assert_int_equal(dwrite(f, 0, h, &one, 1), 1);
    assert_int_equal(vmrt_dev_led_get(&f->rt, "led2"), 1);
    assert_int_equal(dread(f, 0, h, 1, 0, &r), 0);
    assert_int_equal(r, 1);
    assert_int_equal(f->inst[0]->mem[2048], 1);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_LED_TOGGLE, 0, 0), 0);
    assert_int_equal(vmrt_dev_led_get(&f->rt, "led2"), 0);
    assert_int_equal(ioctl32(f, 0, h, 0x9999, 0, 0), VOS_EINVAL);
    assert_int_equal(vmrt_dev_led_get(&f->rt, "uart0"), VOS_ENOENT);
}

static void
test_dev_bad_handle_and_pointer(void **state)
{
    fx_t *f = *state;
    int32_t r, h;

    assert_int_equal(dread(f, 0, 99, 1, 0, &r), 0);
    assert_int_equal(r, VOS_EBADF);
    grant(&f->vm[0], "led0", false);
    h = dopen(f, 0, "led0");
    assert_int_equal(hcall(f, 0, "dev_write", &r, 3, (uint32_t)h, 65535u, 2u),
                     0);
    assert_int_equal(r, VOS_EFAULT);
    assert_int_equal(hcall(f, 0, "dev_open", &r, 2, 65530u, 10u), 0);
    assert_int_equal(r, VOS_EFAULT);
}

static void
test_uart_inject_wakes_blocked_reader(void **state)
{
    fx_t *f = *state;
    vmrt__vthread_t *t = &f->th[0][0];
    int32_t h, r;

    grant(&f->vm[0], "uart0", false);
    h = dopen(f, 0, "uart0");
    assert_int_equal(dread(f, 0, h, 16, 0, &r), 0);
    assert_int_equal(r, VOS_EAGAIN);
    assert_int_equal(dread(f, 0, h, 16, 1000, &r), VMRT_HOST_BLOCK);
    assert_int_equal(t->state, VMRT__VT_BLOCKED);
    assert_int_equal(vmrt_dev_uart_inject(&f->rt, "uart0", "hi", 2), 2);
    assert_int_equal(t->state, VMRT__VT_RUNNABLE);
    assert_int_equal(t->wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(dread(f, 0, h, 16, 1000, &r), 0); /* the retry */
    assert_int_equal(r, 2);
    assert_memory_equal(f->inst[0]->mem + 2048, "hi", 2);
    assert_false(t->waiting);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_UART_AVAIL, 0, 0), 0);
    assert_int_equal(vmrt_dev_uart_inject(&f->rt, "nope", "x", 1), VOS_ENOENT);
}

static void
test_uart_read_times_out(void **state)
{
    fx_t *f = *state;
    int32_t h, r;

    grant(&f->vm[0], "uart1", false);
    h = dopen(f, 0, "uart1");
    assert_int_equal(dread(f, 0, h, 4, 10, &r), VMRT_HOST_BLOCK);
    expire(&f->th[0][0]);
    assert_int_equal(dread(f, 0, h, 4, 10, &r), 0);
    assert_int_equal(r, VOS_ETIMEDOUT);
}

static void
test_uart_shared_serves_higher_priority_first(void **state)
{
    fx_t *f = *state;
    vmrt__vthread_t *lo = &f->th[0][0], *hi = &f->th[1][0];
    int32_t a, b, c, r;

    f->vm[0].man.priority = 20;
    f->vm[1].man.priority = 3;
    f->vm[2].man.priority = 10;
    grant(&f->vm[0], "uart0", false);
    grant(&f->vm[1], "uart0", false);
    grant(&f->vm[2], "uart0", false);
    a = dopen(f, 0, "uart0");
    b = dopen(f, 1, "uart0");
    c = dopen(f, 2, "uart0");
    /* The low-priority VM waits first, then the high-priority one. */
    assert_int_equal(dread(f, 0, a, 1, VOS_FOREVER, &r), VMRT_HOST_BLOCK);
    assert_int_equal(dread(f, 1, b, 1, VOS_FOREVER, &r), VMRT_HOST_BLOCK);
    assert_int_equal(vmrt_dev_uart_inject(&f->rt, "uart0", "Q", 1), 1);
    assert_int_equal(hi->state, VMRT__VT_RUNNABLE);
    assert_int_equal(lo->state, VMRT__VT_BLOCKED);
    /* Another VM polling meanwhile cannot take the byte. */
    assert_int_equal(dread(f, 2, c, 1, VOS_NO_WAIT, &r), 0);
    assert_int_equal(r, VOS_EAGAIN);
    assert_int_equal(dread(f, 1, b, 1, VOS_FOREVER, &r), 0);
    assert_int_equal(r, 1);
    assert_int_equal(f->inst[1]->mem[2048], 'Q');
    /* The turn went on to the low-priority reader, which finds nothing
     * and waits again. */
    assert_int_equal(lo->state, VMRT__VT_RUNNABLE);
    assert_int_equal(dread(f, 0, a, 1, VOS_FOREVER, &r), VMRT_HOST_BLOCK);
    assert_int_equal(vmrt_dev_uart_inject(&f->rt, "uart0", "R", 1), 1);
    assert_int_equal(dread(f, 0, a, 1, VOS_FOREVER, &r), 0);
    assert_int_equal(r, 1);
    assert_int_equal(f->inst[0]->mem[2048], 'R');
}

static void
test_temp_waveforms(void **state)
{
    vmrt_temp_cfg_t c;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.wave = VMRT_TEMP_CONST;
    c.base = 21500;
    assert_int_equal(vmrt__temp_value(&c, 7, 100), 21500);
    c.wave = VMRT_TEMP_SINE;
    c.base = 20000;
    c.amplitude = 5000;
    c.period_ms = 1000;
    assert_int_equal(vmrt__temp_value(&c, 0, 100), 20000);
    /* sample 25 at 10 ms = 250 ms: a quarter period, the crest */
    assert_int_equal(vmrt__temp_value(&c, 25, 10), 25000);
    assert_int_equal(vmrt__temp_value(&c, 75, 10), 15000);
    c.wave = VMRT_TEMP_RAMP;
    assert_int_equal(vmrt__temp_value(&c, 5, 100), 22500);
    assert_int_equal(vmrt__temp_value(&c, 10, 100), 20000); /* wraps */
    c.wave = VMRT_TEMP_SCRIPT;
    c.points[0] = 1;
    c.points[1] = -2;
    c.points[2] = 3;
    c.npoints = 3;
    assert_int_equal(vmrt__temp_value(&c, 0, 100), 1);
    assert_int_equal(vmrt__temp_value(&c, 4, 100), -2);
}

static void
test_temp_read_and_irq_per_sample(void **state)
{
    fx_t *f = *state;
    vmrt_temp_cfg_t c;
    int32_t h, r, v;

    memset(&c, 0, sizeof(c));
    c.wave = VMRT_TEMP_CONST;
    c.base = -4250;
    assert_int_equal(vmrt_dev_temp_set(&f->rt, "temp0", &c), 0);
    c.wave = VMRT_TEMP_SINE;
    c.period_ms = 0;
    assert_int_equal(vmrt_dev_temp_set(&f->rt, "temp0", &c), VOS_EINVAL);
    assert_int_equal(vmrt_dev_temp_set(&f->rt, "led0", &c), VOS_ENOENT);
    assert_int_equal(vmrt_dev_temp_read(&f->rt, "temp0", &v), 0);
    assert_int_equal(v, -4250);
    grant(&f->vm[0], "temp0", false);
    h = dopen(f, 0, "temp0");
    assert_int_equal(dread(f, 0, h, 4, 0, &r), 0);
    assert_int_equal(r, 4);
    assert_int_equal((int32_t)vmrt__dev_get32(f->inst[0]->mem + 2048), -4250);
    assert_int_equal(dread(f, 0, h, 2, 0, &r), 0);
    assert_int_equal(r, VOS_EINVAL);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_TEMP_SET_RATE, 5, 0), VOS_EINVAL);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_TEMP_SET_RATE, 50, 0), 0);
    /* irq per sample: the driver arms a timer; each tick raises. */
    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 7u, 42u, 9u), 0);
    assert_int_equal(r, 0);
    assert_null(last_timer);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_TEMP_IRQ, 1, 0), 0);
    assert_non_null(last_timer);
    assert_true(last_timer->armed);
    pl_mutex_lock(&f->rt.lock);
    last_timer->fn(last_timer);
    last_timer->fn(last_timer);
    pl_mutex_unlock(&f->rt.lock);
    assert_int_equal(nspawns, 2);
    assert_int_equal(spawns[0].irq, 7);
    assert_int_equal(spawns[0].elem, 42);
    assert_int_equal(spawns[0].arg, 9);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_TEMP_IRQ, 0, 0), 0);
    assert_false(last_timer->armed);
}

static void
test_bus_register_files(void **state)
{
    fx_t *f = *state;
    int32_t h, r;
    const uint8_t wr[] = { 0x10, 1, 2, 3 };
    const uint8_t ptr[] = { 0x10 };

    grant(&f->vm[0], "i2c0", false);
    h = dopen(f, 0, "i2c0");
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_BUS_SELECT, 0x50, 0), 0);
    assert_int_equal(dwrite(f, 0, h, wr, 4), 4);
    assert_int_equal(dwrite(f, 0, h, ptr, 1), 1);
    assert_int_equal(dread(f, 0, h, 3, 0, &r), 0);
    assert_int_equal(r, 3);
    assert_memory_equal(f->inst[0]->mem + 2048, wr + 1, 3);
    /* Another slave has its own registers. */
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_BUS_SELECT, 0x51, 0), 0);
    assert_int_equal(dwrite(f, 0, h, ptr, 1), 1);
    assert_int_equal(dread(f, 0, h, 3, 0, &r), 0);
    assert_int_equal(f->inst[0]->mem[2048], 0);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_BUS_SELECT, 200, 0),
                     VOS_EINVAL); /* i2c: 7-bit addresses */
    grant(&f->vm[0], "spi0", false);
    h = dopen(f, 0, "spi0");
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_BUS_SELECT, 200, 0), 0);
    /* The register pointer wraps at 256. */
    {
        const uint8_t w2[] = { 0xff, 0xaa, 0xbb };
        const uint8_t p2[] = { 0xff };

        assert_int_equal(dwrite(f, 0, h, w2, 3), 3);
        assert_int_equal(dwrite(f, 0, h, p2, 1), 1);
        assert_int_equal(dread(f, 0, h, 2, 0, &r), 0);
        assert_int_equal(f->inst[0]->mem[2048], 0xaa);
        assert_int_equal(f->inst[0]->mem[2049], 0xbb);
    }
}

static void
test_flash_nor_semantics_and_persistence(void **state)
{
    fx_t *f = *state;
    int32_t h, r;
    const uint8_t d1[] = { 0xf0, 0x0f };
    const uint8_t d2[] = { 0x3c, 0xff };
    uint8_t *m = f->inst[0]->mem;

    grant(&f->vm[0], "flash0", true);
    h = dopen(f, 0, "flash0");
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_INFO, 0, 0), 0);
    assert_int_equal(vmrt__dev_get32(m + 512), 4096);
    assert_int_equal(vmrt__dev_get32(m + 516), 64);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 8192, 0), 0);
    assert_int_equal(dread(f, 0, h, 2, 0, &r), 0);
    assert_int_equal(m[2048], 0xff); /* erased */
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 8192, 0), 0);
    assert_int_equal(dwrite(f, 0, h, d1, 2), 2);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 8192, 0), 0);
    assert_int_equal(dwrite(f, 0, h, d2, 2), 2); /* only clears bits */
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 8192, 0), 0);
    assert_int_equal(dread(f, 0, h, 2, 0, &r), 0);
    assert_int_equal(m[2048], 0x30);
    assert_int_equal(m[2049], 0x0f);
    /* Survives a runtime restart through its backing file. */
    vmrt__sub_dev.vm_fini(&f->vm[0]);
    vmrt__sub_dev.rt_fini(&f->rt);
    assert_int_equal(vmrt__sub_dev.rt_init(&f->rt), 0);
    assert_int_equal(vmrt__sub_dev.vm_init(&f->vm[0]), 0);
    h = dopen(f, 0, "flash0");
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 8192, 0), 0);
    assert_int_equal(dread(f, 0, h, 2, 0, &r), 0);
    assert_int_equal(m[2048], 0x30);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_ERASE, 2, 0), 0);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 8192, 0), 0);
    assert_int_equal(dread(f, 0, h, 2, 0, &r), 0);
    assert_int_equal(m[2048], 0xff);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_ERASE, 64, 0), VOS_EINVAL);
    /* The end of the flash. */
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_FLASH_SEEK, 262143, 0), 0);
    assert_int_equal(dwrite(f, 0, h, d1, 2), 1);
    assert_int_equal(dwrite(f, 0, h, d1, 2), VOS_ENOSPC);
}

static void
test_lcd_dump_is_valid_ppm(void **state)
{
    fx_t *f = *state;
    int32_t h;
    const uint8_t red[] = { 0x00, 0xf8 }; /* RGB565 0xf800, LE */
    const uint8_t blue[] = { 0x1f, 0x00 };
    char path[96];
    uint8_t *img;
    size_t len;
    const char hdr[] = "P6\n128 64\n255\n";
    size_t hl = sizeof(hdr) - 1;

    grant(&f->vm[0], "lcd0", false);
    h = dopen(f, 0, "lcd0");
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_LCD_INFO, 0, 0), VOS_EINVAL);
    assert_int_equal(dwrite(f, 0, h, red, 2), 2);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_LCD_SEEK, 127, 63), 0);
    assert_int_equal(dwrite(f, 0, h, blue, 2), 2);
    assert_int_equal(dwrite(f, 0, h, blue, 2), 0); /* end of screen */
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_LCD_SEEK, 128, 0), VOS_EINVAL);
    snprintf(path, sizeof(path), "%s/lcd.ppm", f->dir);
    /* Nothing is visible before a flush. */
    assert_int_equal(vmrt_dev_lcd_dump(&f->rt, "lcd0", path), 0);
    assert_int_equal(pl_file_read_all(path, 1 << 20, &img, &len), 0);
    assert_int_equal(len, hl + 128 * 64 * 3);
    assert_int_equal(img[hl], 0);
    pl_free_file(img);
    assert_int_equal(ioctl32(f, 0, h, VOS_IOC_LCD_FLUSH, 0, 0), 0);
    assert_int_equal(vmrt_dev_lcd_dump(&f->rt, "lcd0", path), 0);
    assert_int_equal(pl_file_read_all(path, 1 << 20, &img, &len), 0);
    assert_memory_equal(img, hdr, hl);
    assert_int_equal(img[hl], 255);
    assert_int_equal(img[hl + 1], 0);
    assert_int_equal(img[hl + 2], 0);
    assert_int_equal(img[len - 3], 0);
    assert_int_equal(img[len - 1], 255);
    pl_free_file(img);
    assert_int_equal(vmrt_dev_lcd_dump(&f->rt, "led0", path), VOS_ENOENT);
}

static void
test_irq_delivery_in_priority_order(void **state)
{
    fx_t *f = *state;
    int32_t r;
    int i;
    const uint8_t prio[NVM] = { 10, 2, 5 };

    for (i = 0; i < NVM; i++) {
        f->vm[i].man.priority = prio[i];
        grant(&f->vm[i], "uart0", false);
        assert_int_equal(hcall(f, i, "irq_attach", &r, 3, 5u, 100u + i, 0u), 0);
        assert_int_equal(r, 0);
    }
    assert_int_equal(vmrt_dev_uart_inject(&f->rt, "uart0", "x", 1), 1);
    assert_int_equal(nspawns, 3);
    assert_ptr_equal(spawns[0].vm, &f->vm[1]);
    assert_ptr_equal(spawns[1].vm, &f->vm[2]);
    assert_ptr_equal(spawns[2].vm, &f->vm[0]);
    assert_int_equal(spawns[0].elem, 101);
    assert_int_equal(spawns[0].irq, 5);
}

static void
test_irq_mask_keeps_pending_until_unmask(void **state)
{
    fx_t *f = *state;
    int32_t r, h;

    grant(&f->vm[0], "uart1", false);
    h = dopen(f, 0, "uart1");
    assert_int_equal(hcall(f, 0, "dev_irq", &r, 1, (uint32_t)h), 0);
    assert_int_equal(r, 6);
    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 6u, 77u, 1u), 0);
    assert_int_equal(hcall(f, 0, "irq_mask", &r, 1, 6u), 0);
    assert_int_equal(r, 0);
    vmrt_dev_uart_inject(&f->rt, "uart1", "a", 1);
    vmrt_dev_uart_inject(&f->rt, "uart1", "b", 1);
    assert_int_equal(nspawns, 0);
    assert_int_equal(hcall(f, 0, "irq_unmask", &r, 1, 6u), 0);
    assert_int_equal(r, 0);
    assert_int_equal(nspawns, 1); /* raises coalesce while masked */
    assert_int_equal(hcall(f, 0, "irq_unmask", &r, 1, 6u), 0);
    assert_int_equal(nspawns, 1);
    assert_int_equal(hcall(f, 0, "irq_detach", &r, 1, 6u), 0);
    vmrt_dev_uart_inject(&f->rt, "uart1", "c", 1);
    assert_int_equal(nspawns, 1);
    assert_int_equal(hcall(f, 0, "irq_mask", &r, 1, 6u), 0);
    assert_int_equal(r, VOS_ENOENT);
}

static void
test_irq_attach_rules_and_power_line(void **state)
{
    fx_t *f = *state;
    int32_t r;

    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 5u, 1u, 0u), 0);
    assert_int_equal(r, VOS_EPERM); /* uart0 not granted */
    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 31u, 1u, 0u), 0);
    assert_int_equal(r, VOS_EINVAL); /* no such line */
    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 0u, 0u, 0u), 0);
    assert_int_equal(r, VOS_EINVAL); /* NULL handler */
    assert_int_equal(vmrt__irq_raise(&f->vm[0], VOS_IRQ_POWER), VOS_ENOENT);
    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 0u, 3u, 4u), 0);
    assert_int_equal(r, 0);
    pl_mutex_lock(&f->rt.lock);
    assert_int_equal(vmrt__irq_raise(&f->vm[0], VOS_IRQ_POWER), 0);
    pl_mutex_unlock(&f->rt.lock);
    assert_int_equal(nspawns, 1);
    assert_int_equal(spawns[0].irq, 0);
    assert_int_equal(spawns[0].elem, 3);
}

static void
test_dev_snapshot_roundtrip(void **state)
{
    fx_t *f = *state;
    vmrt_snap_writer_t *w = calloc(1, sizeof(*w));
    int32_t hl, hi, r;
    vmrt_vm_t *vm = &f->vm[0];

    assert_non_null(w);
    grant(vm, "lcd0", true);
    grant(vm, "i2c0", false);
    hl = dopen(f, 0, "lcd0");
    hi = dopen(f, 0, "i2c0");
    assert_int_equal(ioctl32(f, 0, hl, VOS_IOC_LCD_SEEK, 3, 2), 0);
    assert_int_equal(ioctl32(f, 0, hi, VOS_IOC_BUS_SELECT, 0x42, 0), 0);
    assert_int_equal(hcall(f, 0, "irq_attach", &r, 3, 9u, 55u, 66u), 0);
    assert_int_equal(hcall(f, 0, "irq_mask", &r, 1, 9u), 0);
    assert_int_equal(vmrt__sub_dev.save(vm, w), 0);
    /* A fresh start of the VM, then restore. */
    vmrt__sub_dev.vm_fini(vm);
    assert_int_equal(vmrt__sub_dev.vm_init(vm), 0);
    assert_int_equal(vmrt__sub_dev.load(vm, w->buf, w->len), 0);
    assert_non_null(vmrt__handle_get(vm, hl, VMRT__H_DEV));
    assert_non_null(vmrt__handle_get(vm, hi, VMRT__H_DEV));
    /* Sessions continue: the lcd position and the selected slave. */
    {
        const uint8_t px[] = { 0x1f, 0x00 };
        const uint8_t wr[] = { 0x01, 0xee };
        const uint8_t p[] = { 0x01 };

        assert_int_equal(dwrite(f, 0, hl, px, 2), 2);
        assert_int_equal(dwrite(f, 0, hi, wr, 2), 2);
        assert_int_equal(ioctl32(f, 0, hi, VOS_IOC_BUS_SELECT, 0x42, 0), 0);
        assert_int_equal(dwrite(f, 0, hi, p, 1), 1);
        assert_int_equal(dread(f, 0, hi, 1, 0, &r), 0);
        assert_int_equal(f->inst[0]->mem[2048], 0xee);
    }
    /* The exclusive hold came back. */
    assert_int_equal(dopen(f, 1, "lcd0"), VOS_EPERM);
    grant(&f->vm[1], "lcd0", false);
    assert_int_equal(dopen(f, 1, "lcd0"), VOS_EBUSY);
    /* The irq is attached and still masked. */
    pl_mutex_lock(&f->rt.lock);
    assert_int_equal(vmrt__irq_raise(vm, 9), 0);
    pl_mutex_unlock(&f->rt.lock);
    assert_int_equal(nspawns, 0);
    assert_int_equal(hcall(f, 0, "irq_unmask", &r, 1, 9u), 0);
    assert_int_equal(nspawns, 1);
    assert_int_equal(spawns[0].arg, 66);
    /* Hostile bytes: truncated, trailing garbage, bad version. */
    vmrt__sub_dev.vm_fini(vm);
    assert_int_equal(vmrt__sub_dev.vm_init(vm), 0);
    assert_int_equal(vmrt__sub_dev.load(vm, w->buf, w->len - 3), VMRT_ECORRUPT);
    assert_null(vmrt__handle_get(vm, hl, VMRT__H_DEV));
    w->buf[w->len] = 0;
    assert_int_equal(vmrt__sub_dev.load(vm, w->buf, w->len + 1), VMRT_ECORRUPT);
    w->buf[0] = 9;
    assert_int_equal(vmrt__sub_dev.load(vm, w->buf, w->len), VMRT_EVERSION);
    w->buf[0] = 1;
    /* A device no longer granted cannot be re-attached. */
    vm->man.ngrants = 1; /* only lcd0 */
    assert_int_equal(vmrt__sub_dev.load(vm, w->buf, w->len), VMRT_ESTATE);
    assert_null(vmrt__handle_get(vm, hl, VMRT__H_DEV));
    free(w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_dev_registry_lists_every_device),
        T(test_dev_open_grants),
        T(test_dev_exclusive_grant_is_busy_for_others),
        T(test_dev_shared_two_vms_serialized_writes),
        T(test_led_write_read_toggle),
        T(test_dev_bad_handle_and_pointer),
        T(test_uart_inject_wakes_blocked_reader),
        T(test_uart_read_times_out),
        T(test_uart_shared_serves_higher_priority_first),
        T(test_temp_waveforms),
        T(test_temp_read_and_irq_per_sample),
        T(test_bus_register_files),
        T(test_flash_nor_semantics_and_persistence),
        T(test_lcd_dump_is_valid_ppm),
        T(test_irq_delivery_in_priority_order),
        T(test_irq_mask_keeps_pending_until_unmask),
        T(test_irq_attach_rules_and_power_line),
        T(test_dev_snapshot_roundtrip),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
