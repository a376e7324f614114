/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vos subsystem at its seams: its host functions are called directly,
 * as the engine would, on a real instance (for guest memory) of a module
 * with one page of memory.  The core is faked here: vmrt__block / wake /
 * deadline follow vm_internal.h's retry model, "which thread is running" is
 * a variable the test sets, spawns and log lines are recorded, and
 * vmrt__timer_arm only records the deadline.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vos/vos_internal.h"

/* ---- fake core -------------------------------------------------------- */

static vmrt__vthread_t *g_cur;
static char g_log[4096];
static size_t g_loglen;
static _Atomic uint32_t g_spawned; /* polled by tests without a lock */
static uint32_t g_next_id = 1;
static pl_mutex_t g_spawn_lock;

vmrt_vm_t *
vmrt__vm_of(vmrt_instance_t *inst)
{
    return vmrt_instance_user(inst);
}

vmrt__vthread_t *
vmrt__self(vmrt_instance_t *inst)
{
    (void)inst;
    return g_cur;
}

uint64_t
vmrt__deadline(vmrt__vthread_t *t, uint64_t timeout_ns)
{
    if (t->waiting)
        return t->deadline_ns;
    return timeout_ns == UINT64_MAX ? 0 : pl_time_mono_ns() + timeout_ns;
}

static void
unlink_waitq(vmrt__vthread_t *t)
{
    vmrt__vthread_t **pp;

    if (t->waitq == NULL)
        return;
    for (pp = &t->waitq->head; *pp != NULL; pp = &(*pp)->wq_next)
        if (*pp == t) {
            *pp = t->wq_next;
            break;
        }
    t->waitq = NULL;
    t->wq_next = NULL;
}

int
vmrt__block(vmrt__vthread_t *t, vmrt__waitq_t *q, uint64_t deadline_ns)
{
    vmrt__vthread_t **pp;

    unlink_waitq(t);
    t->waiting = true;
    t->wake = VMRT__WAKE_NONE;
    t->deadline_ns = deadline_ns;
    t->state = VMRT__VT_BLOCKED;
    if (q != NULL) {
        for (pp = &q->head; *pp != NULL; pp = &(*pp)->wq_next)
            ;
        *pp = t;
        t->waitq = q;
    }
    return VMRT_HOST_BLOCK;
}

vmrt__wake_t
vmrt__woken(const vmrt__vthread_t *t)
{
    return t->waiting ? (vmrt__wake_t)t->wake : VMRT__WAKE_NONE;
}

void
vmrt__wait_end(vmrt__vthread_t *t)
{
    t->waiting = false;
    t->wake = VMRT__WAKE_NONE;
    t->deadline_ns = 0;
}

static void
wake_one(vmrt__vthread_t *t, vmrt__wake_t why)
{
    unlink_waitq(t);
    t->wake = (uint8_t)why;
    t->state = VMRT__VT_RUNNABLE;
}

void
vmrt__wake(vmrt__waitq_t *q, uint32_t n)
{
    while (n > 0 && q->head != NULL) {
        wake_one(q->head, VMRT__WAKE_SIGNALED);
        if (n != UINT32_MAX)
            n--;
    }
}

void
vmrt__wake_abort(vmrt__waitq_t *q)
{
    while (q->head != NULL)
        wake_one(q->head, VMRT__WAKE_ABORTED);
}

int
vmrt__vthread_spawn(vmrt_vm_t *vm, bool by_elem, uint32_t fn, uint32_t arg,
                    uint8_t prio, bool irq, vmrt__vthread_t **out)
{
    vmrt__vthread_t *t, **pp;

    (void)by_elem;
    (void)fn;
    (void)arg;
    (void)irq;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return VMRT_ENOMEM;
    pl_mutex_lock(&g_spawn_lock);
    t->vm = vm;
    t->id = g_next_id++;
    t->prio = prio;
    g_spawned++;
    pl_mutex_unlock(&g_spawn_lock);
    pl_mutex_lock(&vm->rt->lock);
    for (pp = &vm->threads; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = t;
    pl_mutex_unlock(&vm->rt->lock);
    *out = t;
    return 0;
}

void
vmrt__log_append(vmrt_vm_t *vm, const char *data, size_t len)
{
    (void)vm;
    if (len > sizeof(g_log) - g_loglen)
        len = sizeof(g_log) - g_loglen;
    memcpy(g_log + g_loglen, data, len);
    g_loglen += len;
}

void
vmrt__timer_arm(vmrt_rt_t *rt, vmrt__timer_t *t, uint64_t deadline_ns)
{
    (void)rt;
    t->deadline_ns = deadline_ns;
    t->armed = true;
}

void
vmrt__timer_cancel(vmrt_rt_t *rt, vmrt__timer_t *t)
{
    (void)rt;
    t->armed = false;
}

/* ---- fixture ---------------------------------------------------------- */

/* A module with one page of memory and nothing else. */
static const uint8_t k_guest[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x05, 0x03, 0x01, 0x00, 0x01
};

typedef struct {
    vmrt_rt_t rt;
    vmrt_vm_t vm;
    vmrt_module_t *mod;
    vmrt_instance_t *inst;
    vmrt__vthread_t a, b;  /* two "threads" of the VM */
    char dir[64];
} fix_t;

static int
setup(void **state)
{
    fix_t *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    assert_int_equal(pl_mutex_init(&f->rt.lock), 0);
    assert_int_equal(pl_mutex_init(&g_spawn_lock), 0);
    f->vm.rt = &f->rt;
    assert_int_equal(vmrt_module_load(k_guest, sizeof(k_guest), &f->mod,
                                      NULL, 0), 0);
    assert_int_equal(vmrt_instance_create(f->mod, NULL, NULL, &f->inst,
                                          NULL, 0), 0);
    vmrt_instance_set_user(f->inst, &f->vm);
    f->vm.inst = f->inst;
    f->a.id = 0;
    f->a.vm = &f->vm;
    f->b.id = 7;
    f->b.vm = &f->vm;
    f->a.next = &f->b;
    f->vm.threads = &f->a;
    assert_int_equal(vmrt__sub_vos.vm_init(&f->vm), 0);
    g_cur = &f->a;
    g_loglen = 0;
    g_spawned = 0;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fix_t *f = *state;
    vmrt__vthread_t *t, *n;

    vmrt__sub_vos.vm_fini(&f->vm);
    assert_null(f->vm.sub[VMRT__SUB_VOS]);
    /* Threads the fake spawn made sit after a and b. */
    for (t = f->b.next; t != NULL; t = n) {
        n = t->next;
        free(t);
    }
    vmrt_instance_free(f->inst);
    vmrt_module_free(f->mod);
    pl_mutex_destroy(&f->rt.lock);
    pl_mutex_destroy(&g_spawn_lock);
    free(f);
    return 0;
}

/* Call host function `name` as thread t with up to 5 i32/i64 args. */
static int
call(fix_t *f, vmrt__vthread_t *t, const char *name, uint64_t *res,
     int nargs, ...)
{
    vmrt_host_fn_t fn = vmrt__vos_fn(name);
    uint64_t args[6] = { 0 };
    va_list ap;
    int i;

    assert_non_null(fn);
    va_start(ap, nargs);
    for (i = 0; i < nargs; i++)
        args[i] = va_arg(ap, uint64_t);
    va_end(ap);
    g_cur = t;
    *res = 0xdeadbeef;
    return fn(f->inst, &f->vm, args, res);
}

/* Call and expect completion; return the i32 result. */
static int32_t
done(fix_t *f, vmrt__vthread_t *t, const char *name, int nargs,
     uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
    uint64_t r;

    assert_int_equal(call(f, t, name, &r, nargs, a0, a1, a2, a3), 0);
    assert_false(t->waiting);
    return (int32_t)(uint32_t)r;
}

#define D0(f, t, n) done(f, t, n, 0, 0, 0, 0, 0)
#define D1(f, t, n, a) done(f, t, n, 1, (uint64_t)(a), 0, 0, 0)
#define D2(f, t, n, a, b) done(f, t, n, 2, (uint64_t)(a), (uint64_t)(b), 0, 0)
#define D3(f, t, n, a, b, c)                                                 \
    done(f, t, n, 3, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), 0)
#define D4(f, t, n, a, b, c, d)                                              \
    done(f, t, n, 4, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c),            \
         (uint64_t)(d))

static uint8_t *
mem(fix_t *f)
{
    uint64_t size;

    return vmrt_instance_memory(f->inst, &size);
}

/* ---- handles ---------------------------------------------------------- */

static void
dummy_close(vmrt_vm_t *vm, void *obj)
{
    (void)vm;
    (*(int *)obj)++;
}

static void
test_handles_typed_and_closed(void **state)
{
    fix_t *f = *state;
    int closed = 0, h1, h2, h;
    void *obj;

    h1 = vmrt__handle_alloc(&f->vm, VMRT__H_DEV, &closed, dummy_close);
    h2 = vmrt__handle_alloc(&f->vm, VMRT__H_SOCK, &closed, dummy_close);
    assert_true(h1 > 0 && h2 > 0 && h1 != h2);
    assert_ptr_equal(vmrt__handle_get(&f->vm, h1, VMRT__H_DEV), &closed);
    assert_null(vmrt__handle_get(&f->vm, h1, VMRT__H_SOCK));
    assert_null(vmrt__handle_get(&f->vm, 0, VMRT__H_DEV));
    assert_null(vmrt__handle_get(&f->vm, 9999, VMRT__H_DEV));
    assert_int_equal(vmrt__handle_type(&f->vm, h2), VMRT__H_SOCK);
    /* vos_close dispatches to the owner's close function. */
    assert_int_equal(D1(f, &f->a, "close", h1), 0);
    assert_int_equal(closed, 1);
    assert_int_equal(D1(f, &f->a, "close", h1), VOS_EBADF);
    /* A closed number is not handed out again at once. */
    h = vmrt__handle_alloc(&f->vm, VMRT__H_DEV, &closed, dummy_close);
    assert_int_not_equal(h, h1);
    assert_int_equal(vmrt__handle_alloc_at(&f->vm, h, VMRT__H_DEV, &closed,
                                           NULL), VOS_EBUSY);
    assert_int_equal(vmrt__handle_free(&f->vm, h), 0);
    assert_int_equal(closed, 1); /* free does not close */
    assert_int_equal(vmrt__handle_next(&f->vm, 0, VMRT__H_SOCK, &obj), h2);
    vmrt__handle_close_type(&f->vm, VMRT__H_SOCK);
    assert_int_equal(closed, 2);
    assert_int_equal(vmrt__handle_next(&f->vm, 0, VMRT__H_NONE, NULL), 0);
}

static void
test_handles_table_full_is_enomem(void **state)
{
    fix_t *f = *state;
    int x = 0, i, h = 0;

    for (i = 0; i < VMRT_VOS_MAX_HANDLES; i++)
        assert_true((h = vmrt__handle_alloc(&f->vm, VMRT__H_DEV, &x,
                                            NULL)) > 0);
    assert_int_equal(h, VMRT_VOS_MAX_HANDLES);
    assert_int_equal(vmrt__handle_alloc(&f->vm, VMRT__H_DEV, &x, NULL),
                     VOS_ENOMEM);
    assert_int_equal(vmrt__handle_free(&f->vm, 5), 0);
    assert_int_equal(vmrt__handle_alloc(&f->vm, VMRT__H_DEV, &x, NULL), 5);
}

/* ---- mutex ------------------------------------------------------------ */

static void
test_mutex_recursive_owner_and_handoff(void **state)
{
    fix_t *f = *state;
    uint64_t r;
    int m = D0(f, &f->a, "mutex_create");

    assert_true(m > 0);
    assert_int_equal(D2(f, &f->a, "mutex_lock", m, VOS_FOREVER), 0);
    assert_int_equal(D2(f, &f->a, "mutex_lock", m, VOS_FOREVER), 0);
    assert_int_equal(D2(f, &f->b, "mutex_lock", m, VOS_NO_WAIT), VOS_EAGAIN);
    /* b waits; it is not the owner, so it may not unlock. */
    assert_int_equal(call(f, &f->b, "mutex_lock", &r, 2, (uint64_t)m,
                          (uint64_t)VOS_FOREVER), VMRT_HOST_BLOCK);
    assert_int_equal(f->b.state, VMRT__VT_BLOCKED);
    assert_int_equal(D1(f, &f->a, "mutex_unlock", m), 0);
    assert_int_equal(f->b.state, VMRT__VT_BLOCKED); /* still held once */
    assert_int_equal(D1(f, &f->a, "mutex_unlock", m), 0);
    assert_int_equal(f->b.state, VMRT__VT_RUNNABLE);
    /* The retry takes it. */
    assert_int_equal(D2(f, &f->b, "mutex_lock", m, VOS_FOREVER), 0);
    assert_int_equal(D1(f, &f->a, "mutex_unlock", m), VOS_EPERM);
    assert_int_equal(D1(f, &f->b, "mutex_unlock", m), 0);
    assert_int_equal(D1(f, &f->b, "mutex_unlock", m), VOS_EPERM);
}

static void
test_mutex_timeout_and_close_while_waiting(void **state)
{
    fix_t *f = *state;
    uint64_t r;
    int m = D0(f, &f->a, "mutex_create");

    assert_int_equal(D2(f, &f->a, "mutex_lock", m, VOS_FOREVER), 0);
    assert_int_equal(call(f, &f->b, "mutex_lock", &r, 2, (uint64_t)m,
                          (uint64_t)50), VMRT_HOST_BLOCK);
    assert_true(f->b.deadline_ns > pl_time_mono_ns());
    /* The deadline passes (the core wakes it with TIMEOUT). */
    wake_one(&f->b, VMRT__WAKE_TIMEOUT);
    assert_int_equal(D2(f, &f->b, "mutex_lock", m, 50), VOS_ETIMEDOUT);
    /* Closing the object aborts a waiter: VOS_ECLOSED. */
    assert_int_equal(call(f, &f->b, "mutex_lock", &r, 2, (uint64_t)m,
                          (uint64_t)VOS_FOREVER), VMRT_HOST_BLOCK);
    assert_int_equal(D1(f, &f->a, "close", m), 0);
    assert_int_equal(f->b.wake, VMRT__WAKE_ABORTED);
    assert_int_equal(D2(f, &f->b, "mutex_lock", m, VOS_FOREVER),
                     VOS_ECLOSED);
    assert_int_equal(D2(f, &f->b, "mutex_lock", m, VOS_FOREVER), VOS_EBADF);
}

/* ---- semaphore, events ------------------------------------------------ */

static void
test_sem_counts_bounded(void **state)
{
    fix_t *f = *state;
    uint64_t r;
    int s;

    assert_int_equal(D2(f, &f->a, "sem_create", 3, 2), VOS_EINVAL);
    assert_int_equal(D2(f, &f->a, "sem_create", 0, 0), VOS_EINVAL);
    s = D2(f, &f->a, "sem_create", 0, 2);
    assert_true(s > 0);
    assert_int_equal(D2(f, &f->a, "sem_take", s, VOS_NO_WAIT), VOS_EAGAIN);
    assert_int_equal(call(f, &f->b, "sem_take", &r, 2, (uint64_t)s,
                          (uint64_t)100), VMRT_HOST_BLOCK);
    assert_int_equal(D1(f, &f->a, "sem_give", s), 0);
    assert_int_equal(f->b.wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(D2(f, &f->b, "sem_take", s, 100), 0);
    assert_int_equal(D1(f, &f->a, "sem_give", s), 0);
    assert_int_equal(D1(f, &f->a, "sem_give", s), 0);
    assert_int_equal(D1(f, &f->a, "sem_give", s), VOS_EAGAIN);
    assert_int_equal(D2(f, &f->a, "sem_take", s, 0), 0);
    assert_int_equal(D2(f, &f->a, "sem_take", s, 0), 0);
    assert_int_equal(D2(f, &f->a, "sem_take", s, 0), VOS_EAGAIN);
    /* Another kind of handle is VOS_EBADF. */
    assert_int_equal(D1(f, &f->a, "mutex_unlock", s), VOS_EBADF);
}

static void
test_event_any_all_clear(void **state)
{
    fix_t *f = *state;
    uint64_t r;
    int e = D0(f, &f->a, "event_create");

    assert_int_equal(D2(f, &f->a, "event_set", e, 0x5), 0);
    assert_int_equal(D4(f, &f->a, "event_wait", e, 0x4, VOS_EV_ANY, 0), 0x5);
    assert_int_equal(D4(f, &f->a, "event_wait", e, 0x6, VOS_EV_ALL, 0),
                     VOS_EAGAIN);
    assert_int_equal(call(f, &f->b, "event_wait", &r, 4, (uint64_t)e,
                          (uint64_t)0x6, (uint64_t)(VOS_EV_ALL | VOS_EV_CLEAR),
                          (uint64_t)VOS_FOREVER), VMRT_HOST_BLOCK);
    assert_int_equal(D2(f, &f->a, "event_set", e, 0x2), 0);
    assert_int_equal(f->b.state, VMRT__VT_RUNNABLE);
    assert_int_equal(D4(f, &f->b, "event_wait", e, 0x6,
                        VOS_EV_ALL | VOS_EV_CLEAR, VOS_FOREVER), 0x7);
    /* CLEAR cleared the bits that satisfied the wait only. */
    assert_int_equal(D4(f, &f->a, "event_wait", e, 0x7, VOS_EV_ANY, 0), 0x1);
    assert_int_equal(D2(f, &f->a, "event_clear", e, 0x1), 0);
    assert_int_equal(D4(f, &f->a, "event_wait", e, 0x1, VOS_EV_ANY, 0),
                     VOS_EAGAIN);
    assert_int_equal(D2(f, &f->a, "event_set", e, 0x80000000u), VOS_EINVAL);
    assert_int_equal(D4(f, &f->a, "event_wait", e, 0, 0, 0), VOS_EINVAL);
}

/* ---- queue ------------------------------------------------------------ */

static void
test_queue_fifo_bounded_and_blocking(void **state)
{
    fix_t *f = *state;
    uint8_t *m = mem(f);
    uint64_t r;
    int q;

    assert_int_equal(D2(f, &f->a, "queue_create", 0, 4), VOS_EINVAL);
    assert_int_equal(D2(f, &f->a, "queue_create", 8, 0), VOS_EINVAL);
    q = D2(f, &f->a, "queue_create", 8, 2);
    assert_true(q > 0);
    memcpy(m + 100, "message1", 8);
    memcpy(m + 200, "message2", 8);
    memcpy(m + 300, "message3", 8);
    assert_int_equal(D3(f, &f->a, "queue_send", q, 100, 0), 0);
    assert_int_equal(D3(f, &f->a, "queue_send", q, 200, 0), 0);
    assert_int_equal(D3(f, &f->a, "queue_send", q, 300, 0), VOS_EAGAIN);
    /* A full queue blocks the sender until a receive makes room. */
    assert_int_equal(call(f, &f->b, "queue_send", &r, 3, (uint64_t)q,
                          (uint64_t)300, (uint64_t)VOS_FOREVER),
                     VMRT_HOST_BLOCK);
    assert_int_equal(D3(f, &f->a, "queue_recv", q, 400, 0), 8);
    assert_memory_equal(m + 400, "message1", 8);
    assert_int_equal(f->b.state, VMRT__VT_RUNNABLE);
    assert_int_equal(D3(f, &f->b, "queue_send", q, 300, VOS_FOREVER), 0);
    assert_int_equal(D3(f, &f->a, "queue_recv", q, 400, 0), 8);
    assert_memory_equal(m + 400, "message2", 8);
    assert_int_equal(D3(f, &f->a, "queue_recv", q, 400, 0), 8);
    assert_memory_equal(m + 400, "message3", 8);
    /* Empty: the receiver blocks until a send. */
    assert_int_equal(call(f, &f->b, "queue_recv", &r, 3, (uint64_t)q,
                          (uint64_t)500, (uint64_t)VOS_FOREVER),
                     VMRT_HOST_BLOCK);
    assert_int_equal(D3(f, &f->a, "queue_send", q, 100, 0), 0);
    assert_int_equal(D3(f, &f->b, "queue_recv", q, 500, VOS_FOREVER), 8);
    assert_memory_equal(m + 500, "message1", 8);
    /* Pointers outside memory. */
    assert_int_equal(D3(f, &f->a, "queue_send", q, 65536 - 4, 0),
                     VOS_EFAULT);
    assert_int_equal(D3(f, &f->a, "queue_recv", q, 0xfffffff0u, 0),
                     VOS_EFAULT);
}

/* ---- threads, time ---------------------------------------------------- */

static void
test_thread_create_join_self(void **state)
{
    fix_t *f = *state;
    vmrt__vthread_t *t;
    uint64_t r;
    int h;

    assert_int_equal(D0(f, &f->a, "thread_self"), 0);
    assert_int_equal(D4(f, &f->a, "thread_create", 0, 0, 3, 4096),
                     VOS_EINVAL);
    {
        vmrt_host_fn_t fn = vmrt__vos_fn("thread_create");
        uint64_t args[5] = { 3, 42, 5, 65536 - 1024, 4096 };

        g_cur = &f->a;
        assert_int_equal(fn(f->inst, &f->vm, args, &r), 0);
        assert_int_equal((int32_t)r, VOS_EFAULT);
        args[3] = 8192;
        args[4] = 4100;
        assert_int_equal(fn(f->inst, &f->vm, args, &r), 0);
        h = (int32_t)r;
    }
    assert_true(h > 0);
    assert_int_equal(g_spawned, 1);
    t = f->b.next;
    assert_non_null(t);
    assert_int_equal(t->prio, 5);
    assert_int_equal(t->stack_top, (8192 + 4100) & ~15u);
    assert_int_equal(D0(f, t, "thread_self"), h);
    /* Join waits while the thread runs... */
    assert_int_equal(D2(f, &f->a, "thread_join", h, 0), VOS_EAGAIN);
    assert_int_equal(call(f, &f->a, "thread_join", &r, 2, (uint64_t)h,
                          (uint64_t)VOS_FOREVER), VMRT_HOST_BLOCK);
    assert_ptr_equal(f->a.waitq, &t->joiners);
    /* ...and ends when it is done; the handle is closed then. */
    t->state = VMRT__VT_DONE;
    vmrt__wake(&t->joiners, UINT32_MAX);
    assert_int_equal(D2(f, &f->a, "thread_join", h, VOS_FOREVER), 0);
    assert_int_equal(D2(f, &f->a, "thread_join", h, VOS_FOREVER), VOS_EBADF);
}

static void
test_sleep_blocks_until_deadline(void **state)
{
    fix_t *f = *state;
    uint64_t r, t0 = pl_time_mono_ns();

    assert_int_equal(D1(f, &f->a, "sleep_us", 0), 0);
    assert_int_equal(call(f, &f->a, "sleep_us", &r, 1, (uint64_t)5000),
                     VMRT_HOST_BLOCK);
    assert_true(f->a.deadline_ns >= t0 + 5000000u);
    assert_null(f->a.waitq);
    /* A spurious wake-up (e.g. after a restore) sleeps on. */
    wake_one(&f->a, VMRT__WAKE_SIGNALED);
    assert_int_equal(call(f, &f->a, "sleep_us", &r, 1, (uint64_t)5000),
                     VMRT_HOST_BLOCK);
    assert_true(f->a.deadline_ns >= t0 + 5000000u);
    wake_one(&f->a, VMRT__WAKE_TIMEOUT);
    assert_int_equal(D1(f, &f->a, "sleep_us", 5000), 0);
    /* Clocks in microseconds. */
    assert_int_equal(call(f, &f->a, "time_mono_us", &r, 0), 0);
    assert_true(r >= t0 / 1000u && r <= pl_time_mono_ns() / 1000u);
    assert_int_equal(call(f, &f->a, "time_real_us", &r, 0), 0);
    assert_true(r > 1600000000ull * 1000000ull);
    /* yield blocks once and completes on the retry. */
    assert_int_equal(call(f, &f->a, "yield", &r, 0), VMRT_HOST_BLOCK);
    wake_one(&f->a, VMRT__WAKE_TIMEOUT);
    assert_int_equal(call(f, &f->a, "yield", &r, 0), 0);
    assert_false(f->a.waiting);
}

/* ---- timers ----------------------------------------------------------- */

static void
test_timer_periodic_spawns_per_firing(void **state)
{
    fix_t *f = *state;
    vos__timer_t *tm;
    uint64_t t0 = pl_time_mono_ns(), dl;
    int h, i;

    assert_int_equal(vmrt__sub_vos.rt_init(&f->rt), 0);
    assert_int_equal(D2(f, &f->a, "timer_create", 0, 1), VOS_EINVAL);
    h = D2(f, &f->a, "timer_create", 9, 1234);
    assert_true(h > 0);
    tm = vmrt__handle_get(&f->vm, h, VMRT__H_TIMER);
    assert_int_equal(D3(f, &f->a, "timer_start", h, 20, 5), 0);
    assert_true(tm->t.armed);
    assert_true(tm->t.deadline_ns >= t0 + 20000000u);
    /* Fire it ten times as the timer thread would: lock held. */
    for (i = 0; i < 10; i++) {
        pl_mutex_lock(&f->rt.lock);
        dl = tm->t.deadline_ns;
        tm->t.armed = false;
        tm->t.fn(&tm->t);
        assert_true(tm->t.armed);
        assert_true(tm->t.deadline_ns > dl);
        pl_mutex_unlock(&f->rt.lock);
        while (g_spawned < (uint32_t)i + 1)
            pl_sleep_ns(100000);
    }
    assert_int_equal(g_spawned, 10);
    assert_int_equal(D1(f, &f->a, "timer_stop", h), 0);
    assert_false(tm->t.armed);
    /* One-shot: not re-armed. */
    assert_int_equal(D3(f, &f->a, "timer_start", h, 0, 0), 0);
    pl_mutex_lock(&f->rt.lock);
    tm->t.armed = false;
    tm->t.fn(&tm->t);
    assert_false(tm->t.armed);
    pl_mutex_unlock(&f->rt.lock);
    while (g_spawned < 11)
        pl_sleep_ns(100000);
    vmrt__sub_vos.vm_fini(&f->vm);
    vmrt__sub_vos.rt_fini(&f->rt);
    assert_int_equal(vmrt__sub_vos.vm_init(&f->vm), 0);
}

/* ---- log, config, wdt, power ------------------------------------------ */

static void
test_log_prefixes_level(void **state)
{
    fix_t *f = *state;

    memcpy(mem(f) + 10, "hello", 5);
    assert_int_equal(D3(f, &f->a, "log", VOS_LOG_WARN, 10, 5), 0);
    assert_int_equal(D3(f, &f->a, "log", VOS_LOG_DEBUG, 10, 2), 0);
    g_log[g_loglen] = '\0';
    assert_string_equal(g_log, "[WARN] hello\n[DEBUG] he\n");
    assert_int_equal(D3(f, &f->a, "log", 9, 10, 5), VOS_EINVAL);
    assert_int_equal(D3(f, &f->a, "log", 6, 65530, 100), VOS_EFAULT);
}

static void
test_config_persists_with_limits(void **state)
{
    fix_t *f = *state;
    uint8_t *m = mem(f);
    char path[128];
    uint8_t *file;
    size_t flen;
    char text[4096];
    int i;

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_vos_XXXXXX");
    assert_int_equal(pl_fs_mkdtemp(f->dir), 0);
    snprintf(f->vm.root, sizeof(f->vm.root), "%s/root", f->dir);
    assert_int_equal(pl_fs_mkdir_p(f->vm.root, 0700), 0);
    memcpy(m, "wifi.ssid", 9);
    memcpy(m + 100, "home\"net\n\x01\xff", 12);
    assert_int_equal(D4(f, &f->a, "config_get", 0, 9, 200, 64), VOS_ENOENT);
    assert_int_equal(D4(f, &f->a, "config_set", 0, 9, 100, 12), 0);
    assert_int_equal(D4(f, &f->a, "config_get", 0, 9, 200, 64), 12);
    assert_memory_equal(m + 200, "home\"net\n\x01\xff", 12);
    /* A small buffer gets a prefix and the full length. */
    memset(m + 300, 0, 16);
    assert_int_equal(D4(f, &f->a, "config_get", 0, 9, 300, 4), 12);
    assert_memory_equal(m + 300, "home\0", 5);
    /* Limits. */
    assert_int_equal(D4(f, &f->a, "config_set", 0, 65, 100, 1), VOS_EINVAL);
    assert_int_equal(D4(f, &f->a, "config_set", 0, 0, 100, 1), VOS_EINVAL);
    assert_int_equal(D4(f, &f->a, "config_set", 0, 9, 100, 1025),
                     VOS_EMSGSIZE);
    assert_int_equal(D4(f, &f->a, "config_set", 65530, 9, 100, 1),
                     VOS_EFAULT);
    for (i = 1; i < 64; i++) {
        m[1000] = (uint8_t)('A' + i / 26);
        m[1001] = (uint8_t)('a' + i % 26);
        assert_int_equal(D4(f, &f->a, "config_set", 1000, 2, 100, 1), 0);
    }
    m[1000] = 'z';
    assert_int_equal(D4(f, &f->a, "config_set", 1000, 2, 100, 1),
                     VOS_ENOSPC);
    /* Deleting (empty value) makes room. */
    m[1000] = 'A';
    m[1001] = 'b';
    assert_int_equal(D4(f, &f->a, "config_set", 1000, 2, 100, 0), 0);
    assert_int_equal(D4(f, &f->a, "config_get", 1000, 2, 200, 8),
                     VOS_ENOENT);
    /* It persists: a restarted VM reads it back. */
    vmrt__sub_vos.vm_fini(&f->vm);
    assert_int_equal(vmrt__sub_vos.vm_init(&f->vm), 0);
    memset(m + 200, 0, 16);
    assert_int_equal(D4(f, &f->a, "config_get", 0, 9, 200, 64), 12);
    assert_memory_equal(m + 200, "home\"net\n\x01\xff", 12);
    m[1000] = 'B';
    m[1001] = 'a';
    assert_int_equal(D4(f, &f->a, "config_get", 1000, 2, 200, 64), 1);
    snprintf(path, sizeof(path), "%s/config.json", f->dir);
    assert_int_equal(pl_file_read_all(path, 1 << 20, &file, &flen), 0);
    flen = flen < sizeof(text) - 1 ? flen : sizeof(text) - 1;
    memcpy(text, file, flen);
    text[flen] = '\0';
    pl_free_file(file);
    /* Bytes outside printable ASCII are escaped. */
    assert_non_null(strstr(text, "home\\u0022net\\u000a"));
    assert_int_equal(pl_fs_remove_tree(f->dir), 0);
}

static void
test_wdt_power_ota_set_vm_fields(void **state)
{
    fix_t *f = *state;
    uint64_t t0 = pl_time_mono_ns();

    assert_int_equal(D0(f, &f->a, "wdt_kick"), 0);
    assert_int_equal(f->vm.wdt_deadline_ns, 0); /* no watchdog */
    f->vm.man.watchdog_ms = 500;
    assert_int_equal(D0(f, &f->a, "wdt_kick"), 0);
    assert_true(f->vm.wdt_deadline_ns >= t0 + 500000000u);
    assert_int_equal(D0(f, &f->a, "power_event"), 0);
    assert_int_equal(D1(f, &f->a, "power_ack", VOS_POWER_SUSPEND),
                     VOS_EINVAL);
    f->vm.power_event = VOS_POWER_SUSPEND;
    assert_int_equal(D0(f, &f->a, "power_event"), VOS_POWER_SUSPEND);
    assert_int_equal(D1(f, &f->a, "power_ack", VOS_POWER_RESUME),
                     VOS_EINVAL);
    assert_false(f->vm.power_acked);
    assert_int_equal(D1(f, &f->a, "power_ack", VOS_POWER_SUSPEND), 0);
    assert_true(f->vm.power_acked);
    assert_int_equal(D0(f, &f->a, "ota_confirm"), 0);
    assert_true(f->vm.ota_confirmed);
}

/* ---- snapshots -------------------------------------------------------- */

static uint8_t *g_sect;
static size_t g_sectlen;

static int
hook_save(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    (void)inst;
    return vmrt__sub_vos.save(ctx, w);
}

static int
hook_load(void *ctx, vmrt_instance_t *inst, const uint8_t *data, size_t len)
{
    (void)inst;
    free(g_sect);
    g_sect = malloc(len);
    memcpy(g_sect, data, len);
    g_sectlen = len;
    return vmrt__sub_vos.load(ctx, data, len);
}

static void
test_snapshot_restores_objects_and_rejects_garbage(void **state)
{
    fix_t *f = *state;
    vmrt_snap_hook_t hk = { VMRT_SNAP_TAG('V', 'O', 'S', ' '), &f->vm,
                            hook_save, hook_load };
    uint8_t *m = mem(f), *snap;
    size_t len, i;
    vmrt_instance_t *inst2;
    vmrt_vm_t vm2;
    vos__timer_t *tm;
    int mx, sm, ev, q, t, rc;

    mx = D0(f, &f->a, "mutex_create");
    assert_int_equal(D2(f, &f->b, "mutex_lock", mx, 0), 0);
    sm = D2(f, &f->a, "sem_create", 2, 5);
    ev = D0(f, &f->a, "event_create");
    assert_int_equal(D2(f, &f->a, "event_set", ev, 0x30), 0);
    q = D2(f, &f->a, "queue_create", 4, 3);
    memcpy(m, "abcdwxyz", 8);
    assert_int_equal(D3(f, &f->a, "queue_send", q, 0, 0), 0);
    assert_int_equal(D3(f, &f->a, "queue_send", q, 4, 0), 0);
    t = D2(f, &f->a, "timer_create", 3, 77);
    assert_int_equal(D3(f, &f->a, "timer_start", t, 1000, 250), 0);
    assert_int_equal(vmrt_snapshot_save(f->inst, &hk, 1, &snap, &len), 0);

    /* Restore into another VM with a fresh instance. */
    memset(&vm2, 0, sizeof(vm2));
    vm2.rt = &f->rt;
    vm2.threads = &f->a;
    assert_int_equal(vmrt_instance_create(f->mod, NULL, NULL, &inst2, NULL,
                                          0), 0);
    vmrt_instance_set_user(inst2, &vm2);
    vm2.inst = inst2;
    assert_int_equal(vmrt__sub_vos.vm_init(&vm2), 0);
    hk.ctx = &vm2;
    assert_int_equal(vmrt_snapshot_restore(inst2, snap, len, &hk, 1, NULL,
                                           0), 0);
    {
        /* Use vm2 through the fixture's call helper. */
        vmrt_instance_t *keep = f->inst;
        vmrt_vm_t keepvm = f->vm;
        f->inst = inst2;
        f->vm = vm2;
        assert_int_equal(D1(f, &f->a, "mutex_unlock", mx), VOS_EPERM);
        assert_int_equal(D2(f, &f->b, "mutex_lock", mx, 0), 0); /* recursive */
        assert_int_equal(D2(f, &f->a, "sem_take", sm, 0), 0);
        assert_int_equal(D2(f, &f->a, "sem_take", sm, 0), 0);
        assert_int_equal(D2(f, &f->a, "sem_take", sm, 0), VOS_EAGAIN);
        assert_int_equal(D4(f, &f->a, "event_wait", ev, 0x10, 0, 0), 0x30);
        assert_int_equal(D3(f, &f->a, "queue_recv", q, 100, 0), 4);
        assert_memory_equal(mem(f) + 100, "abcd", 4);
        assert_int_equal(D3(f, &f->a, "queue_recv", q, 100, 0), 4);
        assert_memory_equal(mem(f) + 100, "wxyz", 4);
        tm = vmrt__handle_get(&f->vm, t, VMRT__H_TIMER);
        assert_non_null(tm);
        assert_true(tm->t.armed);
        assert_int_equal(tm->period_ns, 250000000u);
        assert_true(tm->t.deadline_ns > pl_time_mono_ns() + 900000000u);
        assert_int_equal(tm->fn, 3);
        assert_int_equal(tm->arg, 77);
        vm2 = f->vm;
        f->inst = keep;
        f->vm = keepvm;
    }
    vmrt__sub_vos.vm_fini(&vm2);

    /* Hostile bytes: every truncation and every single-byte change either
     * loads or fails cleanly (ASan checks the "cleanly"). */
    assert_non_null(g_sect);
    for (i = 0; i < g_sectlen; i++) {
        assert_int_equal(vmrt__sub_vos.vm_init(&vm2), 0);
        rc = vmrt__sub_vos.load(&vm2, g_sect, i);
        assert_true(rc < 0);
        vmrt__sub_vos.vm_fini(&vm2);
    }
    for (i = 0; i < g_sectlen; i++) {
        uint8_t save = g_sect[i];

        g_sect[i] ^= 0xa5;
        assert_int_equal(vmrt__sub_vos.vm_init(&vm2), 0);
        (void)vmrt__sub_vos.load(&vm2, g_sect, g_sectlen);
        vmrt__sub_vos.vm_fini(&vm2);
        g_sect[i] = save;
    }
    free(g_sect);
    g_sect = NULL;
    vmrt_instance_free(inst2);
    vmrt_snapshot_free(snap);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handles_typed_and_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_handles_table_full_is_enomem,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_mutex_recursive_owner_and_handoff, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_mutex_timeout_and_close_while_waiting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sem_counts_bounded, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_event_any_all_clear, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_fifo_bounded_and_blocking,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_create_join_self, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sleep_blocks_until_deadline,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_periodic_spawns_per_firing,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_prefixes_level, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_persists_with_limits,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_wdt_power_ota_set_vm_fields,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_snapshot_restores_objects_and_rejects_garbage, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
