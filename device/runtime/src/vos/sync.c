/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vOS synchronization objects and timers: mutexes, semaphores, event
 * flags, message queues, timers (docs/vos-api.md).  Every object is private
 * to its VM and reached through the handle table.
 *
 * Waiting follows vm_internal.h's retry model: a host function that cannot
 * finish blocks on the object's wait queue and returns VMRT_HOST_BLOCK; the
 * engine calls it again with the same arguments once the thread is woken,
 * and it re-checks its condition from the start.  Nothing about a wait is
 * kept but the queue and the deadline, so a snapshot taken mid-wait
 * restores into a spurious wake-up that simply re-blocks.
 */

#include <string.h>

#include "engine/module.h"
#include "engine/reader.h"
#include "vos/vos_internal.h"

#define LOCK(vm) pl_mutex_lock(&(vm)->rt->lock)
#define UNLOCK(vm) pl_mutex_unlock(&(vm)->rt->lock)

/* Section layout version inside the 'VOS ' section's sync part. */
enum { OBJ_END = 0 };

/*
 * finish: the call is complete with result `v` (a VOS_* code or value).
 * Return: 0, what the host function returns.
 */
static int
finish(vmrt__vthread_t *t, uint64_t *res, int v)
{
    if (t != NULL)
        vmrt__wait_end(t);
    res[0] = (uint64_t)(uint32_t)v;
    return 0;
}

/*
 * wait_on: the condition of a waiting call is not met.  With rt->lock held
 * (released here): block on `q` unless the wait is over.
 * Return: VMRT_HOST_BLOCK, or 0 with res[0] = VOS_EAGAIN (no wait allowed),
 * VOS_ETIMEDOUT (the deadline passed) or VOS_ECLOSED (object gone).
 */
static int
wait_on(vmrt_vm_t *vm, vmrt__vthread_t *t, vmrt__waitq_t *q,
        uint32_t timeout_ms, uint64_t *res)
{
    vmrt__wake_t w;
    uint64_t dl;
    int rc, err;

    if (t == NULL || timeout_ms == VOS_NO_WAIT) {
        err = VOS_EAGAIN;
    } else if ((w = vmrt__woken(t)) == VMRT__WAKE_TIMEOUT) {
        err = VOS_ETIMEDOUT;
    } else if (w == VMRT__WAKE_ABORTED) {
        err = VOS_ECLOSED;
    } else {
        dl = vmrt__deadline(t, vmrt__vos_timeout_ns(timeout_ms));
        if (dl != 0 && w != VMRT__WAKE_NONE && pl_time_mono_ns() >= dl) {
            /* A wake-up raced with the deadline. */
            err = VOS_ETIMEDOUT;
        } else {
            rc = vmrt__block(t, q, dl);
            UNLOCK(vm);
            return rc;
        }
    }
    UNLOCK(vm);
    return finish(t, res, err);
}

/*
 * begin: common start of a call on handle `h` of `type`.
 * Return: the object, or NULL with *rc set to what the host function
 * returns (res[0] = VOS_ECLOSED if the object went away while we waited,
 * VOS_EBADF for a bad handle).
 */
static void *
begin(vmrt_vm_t *vm, vmrt__vthread_t *t, int h, vmrt__htype_t type,
      uint64_t *res, int *rc)
{
    void *obj;

    if (t != NULL && vmrt__woken(t) == VMRT__WAKE_ABORTED) {
        *rc = finish(t, res, VOS_ECLOSED);
        return NULL;
    }
    if ((obj = vmrt__handle_get(vm, h, type)) == NULL)
        *rc = finish(t, res, VOS_EBADF);
    return obj;
}

/* New handle for obj, or obj freed and the error returned. */
static int
new_handle(vmrt_vm_t *vm, vmrt__htype_t type, void *obj,
           vmrt__hclose_fn_t close_fn, uint64_t *res)
{
    int h;

    if (obj == NULL)
        return finish(NULL, res, VOS_ENOMEM);
    if ((h = vmrt__handle_alloc(vm, type, obj, close_fn)) < 0)
        close_fn(vm, obj);
    return finish(NULL, res, h);
}

/* ---- mutex ------------------------------------------------------------ */

static void
mutex_close(vmrt_vm_t *vm, void *obj)
{
    vos__mutex_t *m = obj;

    LOCK(vm);
    vmrt__wake_abort(&m->wq);
    UNLOCK(vm);
    vmrt__free(m);
}

static int
h_mutex_create(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    (void)inst;
    (void)args;
    return new_handle(ctx, VMRT__H_MUTEX,
                      vmrt__calloc(1, sizeof(vos__mutex_t)), mutex_close,
                      res);
}

/*
 * Mutexes are recursive: the owner may lock again and must unlock as many
 * times.  Only the owner may unlock (VOS_EPERM otherwise).
 */
static int
h_mutex_lock(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    int h = (int)(uint32_t)args[0], rc = 0;
    uint32_t tmo = (uint32_t)args[1], me;
    vos__mutex_t *m;

    if ((m = begin(vm, t, h, VMRT__H_MUTEX, res, &rc)) == NULL)
        return rc;
    me = t != NULL ? t->id + 1 : 1;
    LOCK(vm);
    if (m->owner == 0 || m->owner == me) {
        if (m->count == UINT32_MAX) {
            UNLOCK(vm);
            return finish(t, res, VOS_EAGAIN);
        }
        m->owner = me;
        m->count++;
        UNLOCK(vm);
        return finish(t, res, 0);
    }
    return wait_on(vm, t, &m->wq, tmo, res);
}

static int
h_mutex_unlock(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    vos__mutex_t *m;
    uint32_t me = t != NULL ? t->id + 1 : 1;
    int rc = 0;

    if ((m = vmrt__handle_get(vm, (int)(uint32_t)args[0],
                              VMRT__H_MUTEX)) == NULL)
        return finish(NULL, res, VOS_EBADF);
    LOCK(vm);
    if (m->owner != me) {
        rc = VOS_EPERM;
    } else if (--m->count == 0) {
        m->owner = 0;
        vmrt__wake(&m->wq, 1);
    }
    UNLOCK(vm);
    return finish(NULL, res, rc);
}

/* ---- semaphore -------------------------------------------------------- */

static void
sem_close(vmrt_vm_t *vm, void *obj)
{
    vos__sem_t *s = obj;

    LOCK(vm);
    vmrt__wake_abort(&s->wq);
    UNLOCK(vm);
    vmrt__free(s);
}

static int
h_sem_create(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    uint32_t initial = (uint32_t)args[0], max = (uint32_t)args[1];
    vos__sem_t *s;

    (void)inst;
    if (max == 0 || initial > max)
        return finish(NULL, res, VOS_EINVAL);
    if ((s = vmrt__calloc(1, sizeof(*s))) != NULL) {
        s->count = initial;
        s->max = max;
    }
    return new_handle(ctx, VMRT__H_SEM, s, sem_close, res);
}

static int
h_sem_take(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    vos__sem_t *s;
    int rc = 0;

    if ((s = begin(vm, t, (int)(uint32_t)args[0], VMRT__H_SEM, res,
                   &rc)) == NULL)
        return rc;
    LOCK(vm);
    if (s->count > 0) {
        s->count--;
        UNLOCK(vm);
        return finish(t, res, 0);
    }
    return wait_on(vm, t, &s->wq, (uint32_t)args[1], res);
}

static int
h_sem_give(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vos__sem_t *s;
    int rc = 0;

    (void)inst;
    if ((s = vmrt__handle_get(vm, (int)(uint32_t)args[0], VMRT__H_SEM)) ==
        NULL)
        return finish(NULL, res, VOS_EBADF);
    LOCK(vm);
    if (s->count >= s->max) {
        rc = VOS_EAGAIN;
    } else {
        s->count++;
        vmrt__wake(&s->wq, 1);
    }
    UNLOCK(vm);
    return finish(NULL, res, rc);
}

/* ---- event flags ------------------------------------------------------ */

/* Bit 31 is reserved: results carry the bits as a non-negative int. */
#define EV_BITS 0x7fffffffu

static void
event_close(vmrt_vm_t *vm, void *obj)
{
    vos__event_t *e = obj;

    LOCK(vm);
    vmrt__wake_abort(&e->wq);
    UNLOCK(vm);
    vmrt__free(e);
}

static int
h_event_create(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    (void)inst;
    (void)args;
    return new_handle(ctx, VMRT__H_EVENT,
                      vmrt__calloc(1, sizeof(vos__event_t)), event_close,
                      res);
}

static int
h_event_set(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    uint32_t bits = (uint32_t)args[1];
    vos__event_t *e;

    (void)inst;
    if ((e = vmrt__handle_get(vm, (int)(uint32_t)args[0],
                              VMRT__H_EVENT)) == NULL)
        return finish(NULL, res, VOS_EBADF);
    if (bits & ~EV_BITS)
        return finish(NULL, res, VOS_EINVAL);
    LOCK(vm);
    e->bits |= bits;
    vmrt__wake(&e->wq, UINT32_MAX);
    UNLOCK(vm);
    return finish(NULL, res, 0);
}

static int
h_event_clear(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vos__event_t *e;

    (void)inst;
    if ((e = vmrt__handle_get(vm, (int)(uint32_t)args[0],
                              VMRT__H_EVENT)) == NULL)
        return finish(NULL, res, VOS_EBADF);
    LOCK(vm);
    e->bits &= ~(uint32_t)args[1];
    UNLOCK(vm);
    return finish(NULL, res, 0);
}

static int
h_event_wait(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    uint32_t bits = (uint32_t)args[1], flags = (uint32_t)args[2], now;
    vos__event_t *e;
    bool ok;
    int rc = 0;

    if ((e = begin(vm, t, (int)(uint32_t)args[0], VMRT__H_EVENT, res,
                   &rc)) == NULL)
        return rc;
    if (bits == 0 || (bits & ~EV_BITS) ||
        (flags & ~(VOS_EV_ALL | VOS_EV_CLEAR)))
        return finish(t, res, VOS_EINVAL);
    LOCK(vm);
    now = e->bits;
    ok = (flags & VOS_EV_ALL) ? (now & bits) == bits : (now & bits) != 0;
    if (ok) {
        if (flags & VOS_EV_CLEAR)
            e->bits &= ~bits;
        UNLOCK(vm);
        return finish(t, res, (int)now);
    }
    return wait_on(vm, t, &e->wq, (uint32_t)args[3], res);
}

/* ---- message queue ---------------------------------------------------- */

static void
queue_close(vmrt_vm_t *vm, void *obj)
{
    vos__queue_t *q = obj;

    LOCK(vm);
    vmrt__wake_abort(&q->send_wq);
    vmrt__wake_abort(&q->recv_wq);
    UNLOCK(vm);
    vmrt__free(q->buf);
    vmrt__free(q);
}

static vos__queue_t *
queue_new(uint32_t msg_size, uint32_t depth)
{
    vos__queue_t *q;

    if (msg_size == 0 || msg_size > VOS__QUEUE_MSG_MAX || depth == 0 ||
        depth > VOS__QUEUE_DEPTH_MAX ||
        (uint64_t)msg_size * depth > VOS__QUEUE_BYTES_MAX)
        return NULL;
    if ((q = vmrt__calloc(1, sizeof(*q))) == NULL)
        return NULL;
    if ((q->buf = vmrt__malloc((size_t)msg_size * depth)) == NULL) {
        vmrt__free(q);
        return NULL;
    }
    q->msg_size = msg_size;
    q->depth = depth;
    return q;
}

static int
h_queue_create(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    uint32_t msg_size = (uint32_t)args[0], depth = (uint32_t)args[1];

    (void)inst;
    if (msg_size == 0 || msg_size > VOS__QUEUE_MSG_MAX || depth == 0 ||
        depth > VOS__QUEUE_DEPTH_MAX ||
        (uint64_t)msg_size * depth > VOS__QUEUE_BYTES_MAX)
        return finish(NULL, res, VOS_EINVAL);
    return new_handle(ctx, VMRT__H_QUEUE, queue_new(msg_size, depth),
                      queue_close, res);
}

static int
h_queue_send(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    vos__queue_t *q;
    const uint8_t *msg;
    uint32_t slot;
    int rc = 0;

    if ((q = begin(vm, t, (int)(uint32_t)args[0], VMRT__H_QUEUE, res,
                   &rc)) == NULL)
        return rc;
    if ((msg = vmrt__vos_mem(inst, (uint32_t)args[1], q->msg_size)) ==
        NULL)
        return finish(t, res, VOS_EFAULT);
    LOCK(vm);
    if (q->count < q->depth) {
        slot = (q->head + q->count) % q->depth;
        memcpy(q->buf + (size_t)slot * q->msg_size, msg, q->msg_size);
        q->count++;
        vmrt__wake(&q->recv_wq, 1);
        UNLOCK(vm);
        return finish(t, res, 0);
    }
    return wait_on(vm, t, &q->send_wq, (uint32_t)args[2], res);
}

static int
h_queue_recv(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    vos__queue_t *q;
    uint8_t *msg;
    int rc = 0;

    if ((q = begin(vm, t, (int)(uint32_t)args[0], VMRT__H_QUEUE, res,
                   &rc)) == NULL)
        return rc;
    if ((msg = vmrt__vos_mem(inst, (uint32_t)args[1], q->msg_size)) ==
        NULL)
        return finish(t, res, VOS_EFAULT);
    LOCK(vm);
    if (q->count > 0) {
        memcpy(msg, q->buf + (size_t)q->head * q->msg_size, q->msg_size);
        q->head = (q->head + 1) % q->depth;
        q->count--;
        vmrt__wake(&q->send_wq, 1);
        UNLOCK(vm);
        return finish(t, res, (int)q->msg_size);
    }
    return wait_on(vm, t, &q->recv_wq, (uint32_t)args[2], res);
}

/* ---- timers ----------------------------------------------------------- */

/*
 * A firing, on the scheduler's timer thread with rt->lock held: count it,
 * re-arm a periodic timer, and hand the timer to the dispatcher, which
 * spawns fn(arg) threads without the lock.
 */
void
vmrt__vos_timer_fire(vmrt__timer_t *t)
{
    vos__timer_t *tm = t->arg;
    uint64_t now = pl_time_mono_ns(), next;

    if (tm->pending < VOS__TIMER_PENDING_MAX)
        tm->pending++;
    else
        tm->overruns++;
    if (tm->period_ns != 0) {
        /* Keep the period's phase; skip firings that are already late. */
        next = t->deadline_ns + tm->period_ns;
        if (next <= now)
            next = now + tm->period_ns;
        vmrt__timer_arm(tm->vm->rt, &tm->t, next);
    }
    vmrt__vos_dispatch_push(tm->vm->rt, tm);
}

static void
timer_close(vmrt_vm_t *vm, void *obj)
{
    vos__timer_t *tm = obj;

    LOCK(vm);
    if (tm->t.armed)
        vmrt__timer_cancel(vm->rt, &tm->t);
    vmrt__vos_dispatch_forget(vm->rt, tm);
    UNLOCK(vm);
    vmrt__free(tm);
}

static vos__timer_t *
timer_new(vmrt_vm_t *vm, uint32_t fn, uint32_t arg)
{
    vos__timer_t *tm;

    if ((tm = vmrt__calloc(1, sizeof(*tm))) == NULL)
        return NULL;
    tm->t.fn = vmrt__vos_timer_fire;
    tm->t.arg = tm;
    tm->vm = vm;
    tm->fn = fn;
    tm->arg = arg;
    return tm;
}

static int
h_timer_create(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    (void)inst;
    if ((uint32_t)args[0] == 0)
        return finish(NULL, res, VOS_EINVAL);
    return new_handle(ctx, VMRT__H_TIMER,
                      timer_new(ctx, (uint32_t)args[0], (uint32_t)args[1]),
                      timer_close, res);
}

static int
h_timer_start(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vos__timer_t *tm;
    uint32_t first = (uint32_t)args[1], period = (uint32_t)args[2];

    (void)inst;
    if ((tm = vmrt__handle_get(vm, (int)(uint32_t)args[0],
                               VMRT__H_TIMER)) == NULL)
        return finish(NULL, res, VOS_EBADF);
    LOCK(vm);
    if (tm->t.armed)
        vmrt__timer_cancel(vm->rt, &tm->t);
    tm->pending = 0;
    vmrt__vos_dispatch_forget(vm->rt, tm);
    tm->period_ns = (uint64_t)period * 1000000u;
    vmrt__timer_arm(vm->rt, &tm->t,
                    pl_time_mono_ns() + (uint64_t)first * 1000000u);
    UNLOCK(vm);
    return finish(NULL, res, 0);
}

static int
h_timer_stop(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vos__timer_t *tm;

    (void)inst;
    if ((tm = vmrt__handle_get(vm, (int)(uint32_t)args[0],
                               VMRT__H_TIMER)) == NULL)
        return finish(NULL, res, VOS_EBADF);
    LOCK(vm);
    if (tm->t.armed)
        vmrt__timer_cancel(vm->rt, &tm->t);
    tm->pending = 0;
    vmrt__vos_dispatch_forget(vm->rt, tm);
    UNLOCK(vm);
    return finish(NULL, res, 0);
}

const vmrt__vos_fn_t vmrt__vos_sync_fns[] = {
    { "mutex_create", "()i", h_mutex_create },
    { "mutex_lock", "(ii)i", h_mutex_lock },
    { "mutex_unlock", "(i)i", h_mutex_unlock },
    { "sem_create", "(ii)i", h_sem_create },
    { "sem_take", "(ii)i", h_sem_take },
    { "sem_give", "(i)i", h_sem_give },
    { "event_create", "()i", h_event_create },
    { "event_set", "(ii)i", h_event_set },
    { "event_clear", "(ii)i", h_event_clear },
    { "event_wait", "(iiii)i", h_event_wait },
    { "queue_create", "(ii)i", h_queue_create },
    { "queue_send", "(iii)i", h_queue_send },
    { "queue_recv", "(iii)i", h_queue_recv },
    { "timer_create", "(ii)i", h_timer_create },
    { "timer_start", "(iii)i", h_timer_start },
    { "timer_stop", "(i)i", h_timer_stop },
    { NULL, NULL, NULL }
};

/* ---- snapshots -------------------------------------------------------- */

/*
 * Layout (little-endian), after vos.c's header: records of
 *   u32 handle, u8 type, type-specific fields
 * ended by a record with handle 0.  MUTEX: u32 owner, u32 count.  SEM: u32
 * count, u32 max.  EVENT: u32 bits.  QUEUE: u32 msg_size, u32 depth, u32
 * count, count * msg_size bytes oldest first.  TIMER: u32 fn, u32 arg,
 * u8 armed, u64 remaining_ns, u64 period_ns, u32 pending.  THREAD: u32 id.
 * Wait queues are not saved: restored waiters retry and re-block.
 */

static int
put32(vmrt_snap_writer_t *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };

    return vmrt_snap_write(w, b, 4);
}

static int
put64(vmrt_snap_writer_t *w, uint64_t v)
{
    int rc;

    if ((rc = put32(w, (uint32_t)v)) != 0)
        return rc;
    return put32(w, (uint32_t)(v >> 32));
}

static int
put8(vmrt_snap_writer_t *w, uint8_t v)
{
    return vmrt_snap_write(w, &v, 1);
}

static int
save_obj(vmrt_vm_t *vm, vmrt_snap_writer_t *w, int h, int type, void *obj)
{
    uint64_t now = pl_time_mono_ns(), rem;
    uint32_t i;
    int rc = 0;

    if ((rc = put32(w, (uint32_t)h)) != 0 ||
        (rc = put8(w, (uint8_t)type)) != 0)
        return rc;
    switch (type) {
    case VMRT__H_MUTEX: {
        vos__mutex_t *m = obj;
        if ((rc = put32(w, m->owner)) == 0)
            rc = put32(w, m->count);
        break;
    }
    case VMRT__H_SEM: {
        vos__sem_t *s = obj;
        if ((rc = put32(w, s->count)) == 0)
            rc = put32(w, s->max);
        break;
    }
    case VMRT__H_EVENT:
        rc = put32(w, ((vos__event_t *)obj)->bits);
        break;
    case VMRT__H_QUEUE: {
        vos__queue_t *q = obj;
        if ((rc = put32(w, q->msg_size)) != 0 ||
            (rc = put32(w, q->depth)) != 0 || (rc = put32(w, q->count)) != 0)
            break;
        for (i = 0; i < q->count && rc == 0; i++)
            rc = vmrt_snap_write(w,
                                 q->buf + (size_t)((q->head + i) % q->depth) *
                                              q->msg_size,
                                 q->msg_size);
        break;
    }
    case VMRT__H_TIMER: {
        vos__timer_t *tm = obj;
        LOCK(vm);
        rem = tm->t.armed && tm->t.deadline_ns > now
                  ? tm->t.deadline_ns - now : 0;
        if ((rc = put32(w, tm->fn)) == 0 && (rc = put32(w, tm->arg)) == 0 &&
            (rc = put8(w, tm->t.armed ? 1 : 0)) == 0 &&
            (rc = put64(w, rem)) == 0 && (rc = put64(w, tm->period_ns)) == 0)
            rc = put32(w, tm->pending);
        UNLOCK(vm);
        break;
    }
    case VMRT__H_THREAD:
        rc = put32(w, ((vos__thread_t *)obj)->id);
        break;
    default:
        break;
    }
    return rc;
}

int
vmrt__vos_sync_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w)
{
    void *obj;
    int h = 0, type, rc;

    while ((h = vmrt__handle_next(vm, h, VMRT__H_NONE, &obj)) > 0) {
        type = vmrt__handle_type(vm, h);
        if (type < VMRT__H_MUTEX || type > VMRT__H_THREAD)
            continue; /* other subsystems save their own */
        if ((rc = save_obj(vm, w, h, type, obj)) != 0)
            return rc;
    }
    return put32(w, OBJ_END);
}

static void
thread_close(vmrt_vm_t *vm, void *obj)
{
    (void)vm;
    vmrt__free(obj);
}

static const vmrt__hclose_fn_t close_fns[VMRT__H_MAX] = {
    [VMRT__H_MUTEX] = mutex_close,
    [VMRT__H_SEM] = sem_close,
    [VMRT__H_EVENT] = event_close,
    [VMRT__H_QUEUE] = queue_close,
    [VMRT__H_TIMER] = timer_close,
    [VMRT__H_THREAD] = thread_close,
};

/*
 * load_obj: parse one object of `type` from rd.
 * Return: the new object, or NULL (rd->err set, or allocation failed
 * with *nomem set).
 */
static void *
load_obj(vmrt_vm_t *vm, vmrt__reader_t *rd, int type, bool *nomem)
{
    uint32_t a, b, c, i;
    uint64_t rem, period;
    uint8_t armed;

    switch (type) {
    case VMRT__H_MUTEX: {
        vos__mutex_t *m;
        a = vmrt__rd_fixed32(rd);
        b = vmrt__rd_fixed32(rd);
        if (rd->err != NULL || (a == 0) != (b == 0)) {
            (void)vmrt__rd_fail(rd, "vos: bad mutex");
            return NULL;
        }
        if ((m = vmrt__calloc(1, sizeof(*m))) == NULL)
            break;
        m->owner = a;
        m->count = b;
        return m;
    }
    case VMRT__H_SEM: {
        vos__sem_t *s;
        a = vmrt__rd_fixed32(rd);
        b = vmrt__rd_fixed32(rd);
        if (rd->err != NULL || b == 0 || a > b) {
            (void)vmrt__rd_fail(rd, "vos: bad semaphore");
            return NULL;
        }
        if ((s = vmrt__calloc(1, sizeof(*s))) == NULL)
            break;
        s->count = a;
        s->max = b;
        return s;
    }
    case VMRT__H_EVENT: {
        vos__event_t *e;
        a = vmrt__rd_fixed32(rd);
        if (rd->err != NULL || (a & ~EV_BITS)) {
            (void)vmrt__rd_fail(rd, "vos: bad event");
            return NULL;
        }
        if ((e = vmrt__calloc(1, sizeof(*e))) == NULL)
            break;
        e->bits = a;
        return e;
    }
    case VMRT__H_QUEUE: {
        vos__queue_t *q;
        a = vmrt__rd_fixed32(rd);
        b = vmrt__rd_fixed32(rd);
        c = vmrt__rd_fixed32(rd);
        if (rd->err != NULL || c > b ||
            (q = queue_new(a, b)) == NULL) {
            /* queue_new refuses bad sizes; treat as corrupt (a real
             * allocation failure is indistinguishable and as fatal). */
            (void)vmrt__rd_fail(rd, "vos: bad queue");
            return NULL;
        }
        if (vmrt__rd_left(rd) / a < c) {
            queue_close(vm, q);
            (void)vmrt__rd_fail(rd, "vos: truncated queue");
            return NULL;
        }
        for (i = 0; i < c; i++) {
            memcpy(q->buf + (size_t)i * a, rd->p, a);
            rd->p += a;
        }
        q->count = c;
        return q;
    }
    case VMRT__H_TIMER: {
        vos__timer_t *tm;
        a = vmrt__rd_fixed32(rd);
        b = vmrt__rd_fixed32(rd);
        armed = vmrt__rd_u8(rd);
        rem = vmrt__rd_fixed64(rd);
        period = vmrt__rd_fixed64(rd);
        c = vmrt__rd_fixed32(rd);
        if (rd->err != NULL || a == 0 || armed > 1 ||
            period > (uint64_t)UINT32_MAX * 1000000u ||
            rem > (uint64_t)UINT32_MAX * 1000000u ||
            c > VOS__TIMER_PENDING_MAX) {
            (void)vmrt__rd_fail(rd, "vos: bad timer");
            return NULL;
        }
        if ((tm = timer_new(vm, a, b)) == NULL)
            break;
        tm->period_ns = period;
        tm->pending = c;
        /* Stash the arming for the apply step in deadline_ns. */
        tm->t.deadline_ns = armed ? rem + 1 : 0;
        return tm;
    }
    case VMRT__H_THREAD: {
        vos__thread_t *th;
        a = vmrt__rd_fixed32(rd);
        if (rd->err != NULL)
            return NULL;
        if ((th = vmrt__calloc(1, sizeof(*th))) == NULL)
            break;
        th->id = a;
        return th;
    }
    default:
        (void)vmrt__rd_fail(rd, "vos: bad handle type");
        return NULL;
    }
    *nomem = true;
    return NULL;
}

int
vmrt__vos_sync_load(vmrt_vm_t *vm, const uint8_t *p, size_t len,
                    size_t *used)
{
    vmrt__reader_t rd;
    uint32_t h;
    uint8_t type;
    void *obj;
    bool nomem = false;
    int rc = VMRT_ECORRUPT, n = 0;
    uint64_t now = pl_time_mono_ns(), arm;
    vos__timer_t *tm;

    vmrt__rd_init(&rd, p, p, p + len);
    for (;;) {
        h = vmrt__rd_fixed32(&rd);
        if (rd.err != NULL)
            goto fail;
        if (h == OBJ_END)
            break;
        type = vmrt__rd_u8(&rd);
        if (rd.err != NULL || h > VMRT_VOS_MAX_HANDLES ||
            type < VMRT__H_MUTEX || type > VMRT__H_THREAD)
            goto fail;
        if ((obj = load_obj(vm, &rd, type, &nomem)) == NULL) {
            rc = nomem ? VMRT_ENOMEM : VMRT_ECORRUPT;
            goto fail;
        }
        if (vmrt__handle_alloc_at(vm, (int)h, type, obj, close_fns[type]) <
            0) {
            close_fns[type](vm, obj);
            goto fail; /* a duplicate number: corrupt */
        }
        n++;
    }
    if (vmrt__rd_left(&rd) != 0)
        goto fail; /* trailing bytes */
    /* Everything parsed: now let the timers run. */
    h = 0;
    LOCK(vm);
    while ((h = (uint32_t)vmrt__handle_next(vm, (int)h, VMRT__H_TIMER,
                                            &obj)) > 0) {
        tm = obj;
        arm = tm->t.deadline_ns;
        tm->t.deadline_ns = 0;
        if (arm != 0)
            vmrt__timer_arm(vm->rt, &tm->t, now + arm - 1);
        if (tm->pending != 0)
            vmrt__vos_dispatch_push(vm->rt, tm);
    }
    UNLOCK(vm);
    *used = vmrt__rd_off(&rd);
    return 0;
fail:
    /* Undo: close what this load created (vos types only). */
    (void)n;
    for (type = VMRT__H_MUTEX; type <= VMRT__H_THREAD; type++)
        vmrt__handle_close_type(vm, type);
    return rc;
}
