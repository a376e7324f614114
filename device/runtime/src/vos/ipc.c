/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The ipc subsystem: the vOS IPC calls (sdk/include/vos.h, "IPC between
 * VMs") on top of the bus of device/ipc.
 *
 * The bus is non-blocking and knows nothing of VMs; this file adds the
 * manifest's permissions, handles, and blocking through the core's retry
 * model (vm_internal.h): a call that cannot finish blocks on a wait queue
 * and is re-issued when the bus notifies that trying again may succeed.
 * Every service and subscription object carries two wait queues: `rd`
 * (its owner waits for a message) and `wr` (other VMs wait for room in
 * its queue); every call in flight has a slot whose `rd` waits for the
 * reply.  Those queues are the bus objects' user pointers, so the bus's
 * notification wakes exactly them.
 *
 * Locking: one bus per runtime, used only with rt->lock held, so the
 * notification (inside a bus call) runs with the lock held, as vmrt__wake
 * wants.
 *
 * Bounds: the bus bounds message size, queue depth and bytes; per VM at
 * most IPC__VM_CALLS calls in flight and IPC__VM_SUBS subscriptions, and
 * services only from the manifest, so no VM can fill the bus's tables
 * and starve the others.
 */

#include <stdlib.h>
#include <string.h>

#include "engine/module.h"
#include "ipc/ipc.h"
#include "vm/vm_internal.h"
#include "vos.h"
#include "vos/handles.h"

#define IPC__VM_CALLS 4u   /* calls in flight per VM */
#define IPC__VM_SUBS 8u    /* subscriptions per VM */
#define IPC__SNAP_VERSION 1u

/* The two directions one can wait for on a queue; a bus user pointer. */
typedef struct {
    vmrt__waitq_t rd;      /* a message / the reply */
    vmrt__waitq_t wr;      /* room in the queue */
} ipc__wq_t;

typedef struct {
    ipc__wq_t w;           /* first: the bus's user pointer */
    ipc_service_t *svc;
} ipc__svc_t;

typedef struct {
    ipc__wq_t w;           /* first: the bus's user pointer */
    ipc_sub_t *sub;
} ipc__sub_t;

typedef enum {
    CALL_FREE = 0,
    CALL_WAIT,             /* request queued; waiting for the reply */
    CALL_LOST              /* restored from a snapshot: the call is gone */
} ipc__call_state_t;

/* A call in flight, found again on every retry by its thread's id. */
typedef struct {
    ipc__wq_t w;           /* first: the endpoint's user pointer */
    ipc__call_state_t state;
    uint32_t tid;
    ipc_endpoint_t *ep;
} ipc__call_t;

/* vm->sub[VMRT__SUB_IPC]. */
typedef struct {
    ipc__call_t calls[IPC__VM_CALLS];
    uint32_t nsubs;
    uint32_t sender;       /* the VM's sender id on the bus, > 0 */
} ipc__vm_t;

/* rt->sub[VMRT__SUB_IPC]. */
typedef struct {
    ipc_bus_t *bus;
    uint32_t next_sender;  /* under rt->lock */
} ipc__rt_t;

/* ---- helpers ---------------------------------------------------------- */

static ipc_bus_t *
bus_of(vmrt_vm_t *vm)
{
    ipc__rt_t *r = vm->rt->sub[VMRT__SUB_IPC];

    return r != NULL ? r->bus : NULL;
}

/* The VM's state, created on first use (NULL on allocation failure). */
static ipc__vm_t *
state_of(vmrt_vm_t *vm)
{
    ipc__rt_t *r = vm->rt->sub[VMRT__SUB_IPC];
    ipc__vm_t *st;

    if (vm->sub[VMRT__SUB_IPC] == NULL &&
        (st = vmrt__calloc(1, sizeof(ipc__vm_t))) != NULL) {
        /* A fresh id per start: what a stopped VM left queued no longer
         * counts against the new run's share. */
        pl_mutex_lock(&vm->rt->lock);
        if (r != NULL && ++r->next_sender == 0)
            r->next_sender = 1;
        st->sender = r != NULL ? r->next_sender : 1;
        pl_mutex_unlock(&vm->rt->lock);
        vm->sub[VMRT__SUB_IPC] = st;
    }
    return vm->sub[VMRT__SUB_IPC];
}

static int
vos_err(int rc)
{
    switch (rc) {
    case IPC_EAGAIN:
        return VOS_EAGAIN;
    case IPC_ENOENT:
        return VOS_ENOENT;
    case IPC_EEXIST:
    case IPC_EBUSY:
        return VOS_EBUSY;
    case IPC_ENOSPC:
    case IPC_ENOMEM:
        return VOS_ENOMEM;
    case IPC_EMSGSIZE:
        return VOS_EMSGSIZE;
    case IPC_ECONNRESET:
        return VOS_ECONNRESET;
    default:
        return VOS_EINVAL;
    }
}

/* Guest memory [ptr, ptr + len) as a host pointer, or NULL (VOS_EFAULT).
 * A zero length is valid anywhere inside or at the end of memory. */
static uint8_t *
guest(vmrt_instance_t *inst, uint32_t ptr, uint32_t len)
{
    uint64_t size = 0;
    uint8_t *base = vmrt_instance_memory(inst, &size);

    if (base == NULL || (uint64_t)ptr + len > size)
        return NULL;
    return base + ptr;
}

static uint64_t
timeout_ns(uint32_t ms)
{
    return ms == VOS_FOREVER ? UINT64_MAX : (uint64_t)ms * 1000000u;
}

/* Is `name` listed in one of the manifest's name arrays? */
static bool
listed(const char (*names)[VMRT_NAME_MAX], uint32_t n, const char *name,
       size_t len)
{
    uint32_t i;

    for (i = 0; i < n && i < VMRT_MAX_SERVICES; i++)
        if (strncmp(names[i], name, len) == 0 && len < VMRT_NAME_MAX &&
            names[i][len] == '\0')
            return true;
    return false;
}

/*
 * finish: end a host call with `rc` as its i32 result.
 * Return: 0 (done), for the host function to return.
 */
static int
finish(vmrt__vthread_t *t, uint64_t *results, int rc)
{
    vmrt__wait_end(t);
    results[0] = (uint64_t)(uint32_t)rc;
    return 0;
}

/*
 * wait_or_fail: the operation would block.  Decide with rt->lock held:
 * a timeout already over or a closed object ends the call (result set);
 * else block on `q`.
 * Return: what the host function returns (0 or VMRT_HOST_BLOCK).
 */
static int
wait_or_fail(vmrt__vthread_t *t, vmrt__waitq_t *q, uint32_t timeout_ms,
             uint64_t *results)
{
    vmrt__wake_t why = vmrt__woken(t);

    if (why == VMRT__WAKE_ABORTED)
        return finish(t, results, VOS_ECLOSED);
    if (why == VMRT__WAKE_TIMEOUT)
        return finish(t, results, VOS_ETIMEDOUT);
    if (timeout_ms == VOS_NO_WAIT)
        return finish(t, results, VOS_EAGAIN);
    return vmrt__block(t, q, vmrt__deadline(t, timeout_ns(timeout_ms)));
}

/* Notification from the bus, with rt->lock held (see the top comment). */
static void
on_note(void *arg, ipc_event_t ev, void *user)
{
    ipc__wq_t *w = user;

    (void)arg;
    if (w == NULL)
        return;
    if (ev == IPC_EV_WRITABLE)
        vmrt__wake(&w->wr, UINT32_MAX);
    else
        vmrt__wake(&w->rd, UINT32_MAX);
}

/* ---- services --------------------------------------------------------- */

/* Close a service handle: the service goes away on the bus, so callers
 * get VOS_ECONNRESET; the owner's own waiters get VOS_ECLOSED. */
static void
svc_close(vmrt_vm_t *vm, void *obj)
{
    ipc__svc_t *s = obj;

    pl_mutex_lock(&vm->rt->lock);
    ipc_service_unregister(s->svc);
    vmrt__wake_abort(&s->w.rd);
    /* Senders were woken by the bus (IPC_EV_WRITABLE); anyone left is
     * woken again rather than left on a queue about to be freed. */
    vmrt__wake(&s->w.wr, UINT32_MAX);
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__free(s);
}

/* Register service `name` for `vm` as handle `at` (0: any handle).
 * Return: the handle, or a VOS_E* code. */
static int
svc_open(vmrt_vm_t *vm, const char *name, size_t len, int at)
{
    ipc_bus_t *bus = bus_of(vm);
    ipc__svc_t *s;
    int rc, h;

    if (bus == NULL)
        return VOS_ENOSYS;
    if (!listed(vm->man.provides, vm->man.nprovides, name, len))
        return VOS_EPERM;
    if ((s = vmrt__calloc(1, sizeof(*s))) == NULL)
        return VOS_ENOMEM;
    pl_mutex_lock(&vm->rt->lock);
    rc = ipc_service_register(bus, name, len, &s->w, &s->svc);
    pl_mutex_unlock(&vm->rt->lock);
    if (rc != 0) {
        vmrt__free(s);
        return vos_err(rc);
    }
    h = at > 0 ? vmrt__handle_alloc_at(vm, at, VMRT__H_IPC_SERVICE, s,
                                       svc_close)
               : vmrt__handle_alloc(vm, VMRT__H_IPC_SERVICE, s, svc_close);
    if (h < 0)
        svc_close(vm, s);
    return h;
}

static int
h_serve_open(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    uint32_t p = (uint32_t)args[0], n = (uint32_t)args[1];
    const char *name;

    (void)ctx;
    if ((name = (const char *)guest(inst, p, n)) == NULL)
        results[0] = (uint64_t)(uint32_t)VOS_EFAULT;
    else
        results[0] = (uint64_t)(uint32_t)svc_open(vm, name, n, 0);
    return 0;
}

static int
h_serve_next(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    vmrt__vthread_t *t = vmrt__self(inst);
    int srv = (int)(uint32_t)args[0];
    uint32_t p = (uint32_t)args[1], cap = (uint32_t)args[2];
    uint32_t tagp = (uint32_t)args[3], tmo = (uint32_t)args[4];
    ipc__svc_t *s;
    uint8_t *buf, *tagbuf;
    uint32_t tag = 0;
    size_t len = 0;
    int rc;

    (void)ctx;
    if ((s = vmrt__handle_get(vm, srv, VMRT__H_IPC_SERVICE)) == NULL)
        return finish(t, results,
                      vmrt__woken(t) == VMRT__WAKE_ABORTED ? VOS_ECLOSED
                                                           : VOS_EBADF);
    if ((buf = guest(inst, p, cap)) == NULL ||
        (tagbuf = guest(inst, tagp, 4)) == NULL)
        return finish(t, results, VOS_EFAULT);
    pl_mutex_lock(&vm->rt->lock);
    rc = ipc_service_recv(s->svc, buf, cap, &len, &tag);
    if (rc == IPC_EAGAIN) {
        rc = wait_or_fail(t, &s->w.rd, tmo, results);
        pl_mutex_unlock(&vm->rt->lock);
        return rc;
    }
    pl_mutex_unlock(&vm->rt->lock);
    if (rc == 0 || rc == IPC_EMSGSIZE) {
        /* The tag goes out even when the body was cut, so the server can
         * still answer the call (with an error of its own). */
        memcpy(tagbuf, &tag, 4);
        return finish(t, results, rc == 0 ? (int)len : VOS_EMSGSIZE);
    }
    return finish(t, results, vos_err(rc));
}

static int
h_reply(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
        uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    int srv = (int)(uint32_t)args[0];
    uint32_t tag = (uint32_t)args[1];
    uint32_t p = (uint32_t)args[2], n = (uint32_t)args[3];
    ipc__svc_t *s;
    uint8_t *data;
    int rc;

    (void)ctx;
    if ((s = vmrt__handle_get(vm, srv, VMRT__H_IPC_SERVICE)) == NULL) {
        rc = VOS_EBADF;
    } else if ((data = guest(inst, p, n)) == NULL) {
        rc = VOS_EFAULT;
    } else {
        pl_mutex_lock(&vm->rt->lock);
        rc = ipc_service_reply(s->svc, tag, data, n);
        pl_mutex_unlock(&vm->rt->lock);
        rc = rc == 0 ? VOS_OK : vos_err(rc);
    }
    results[0] = (uint64_t)(uint32_t)rc;
    return 0;
}

/* ---- calls and one-way messages --------------------------------------- */

static ipc__call_t *
call_of(ipc__vm_t *st, uint32_t tid)
{
    uint32_t i;

    for (i = 0; i < IPC__VM_CALLS; i++)
        if (st->calls[i].state != CALL_FREE && st->calls[i].tid == tid)
            return &st->calls[i];
    return NULL;
}

static ipc__call_t *
call_free_slot(ipc__vm_t *st)
{
    uint32_t i;

    for (i = 0; i < IPC__VM_CALLS; i++)
        if (st->calls[i].state == CALL_FREE)
            return &st->calls[i];
    return NULL;
}

/* With rt->lock held: end a call slot, freeing its endpoint. */
static void
call_release(ipc__call_t *c)
{
    if (c->ep != NULL) {
        ipc_call_cancel(c->ep);
        ipc_endpoint_close(c->ep);
    }
    c->ep = NULL;
    c->state = CALL_FREE;
    c->tid = 0;
}

/*
 * call_begin: the first phase of vos_ipc_call, with rt->lock held: take a
 * slot and queue the request.
 * Return: 0 (the slot waits for the reply), VMRT_HOST_BLOCK (no room yet:
 * blocked on the service's `wr`), or 1 with *res = the call's result.
 */
static int
call_begin(vmrt__vthread_t *t, ipc__vm_t *st, ipc_bus_t *bus,
           const char *name, uint32_t nlen, const uint8_t *req,
           uint32_t rlen, uint32_t tmo, uint64_t *results, int *res)
{
    ipc__call_t *c = call_free_slot(st);
    void *blocker = NULL;
    int rc;

    if (c == NULL) {
        /* Too many calls in flight in this VM: its own limit. */
        *res = VOS_EAGAIN;
        return -1;
    }
    if ((rc = ipc_endpoint_open(bus, st->sender, &c->w, &c->ep)) != 0) {
        c->ep = NULL;
        *res = vos_err(rc);
        return -1;
    }
    rc = ipc_call_start(c->ep, name, nlen, req, rlen, &blocker);
    if (rc == 0) {
        c->state = CALL_WAIT;
        c->tid = t->id;
        return 0;
    }
    ipc_endpoint_close(c->ep);
    c->ep = NULL;
    if (rc == IPC_EAGAIN && blocker != NULL) {
        rc = wait_or_fail(t, &((ipc__wq_t *)blocker)->wr, tmo, results);
        if (rc == VMRT_HOST_BLOCK)
            return rc;
        *res = (int)(uint32_t)results[0];
        return -1;
    }
    *res = vos_err(rc);
    return -1;
}

static int
h_call(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
       uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    vmrt__vthread_t *t = vmrt__self(inst);
    uint32_t np = (uint32_t)args[0], nlen = (uint32_t)args[1];
    uint32_t rp = (uint32_t)args[2], rlen = (uint32_t)args[3];
    uint32_t op = (uint32_t)args[4], cap = (uint32_t)args[5];
    uint32_t tmo = (uint32_t)args[6];
    ipc_bus_t *bus = bus_of(vm);
    ipc__vm_t *st = state_of(vm);
    ipc__call_t *c;
    const char *name;
    uint8_t *req, *out;
    size_t len = 0;
    int rc, res;

    (void)ctx;
    if (bus == NULL || st == NULL)
        return finish(t, results, bus == NULL ? VOS_ENOSYS : VOS_ENOMEM);
    if ((name = (const char *)guest(inst, np, nlen)) == NULL ||
        (req = guest(inst, rp, rlen)) == NULL ||
        (out = guest(inst, op, cap)) == NULL)
        return finish(t, results, VOS_EFAULT);
    if (!listed(vm->man.calls, vm->man.ncalls, name, nlen))
        return finish(t, results, VOS_EPERM);

    pl_mutex_lock(&vm->rt->lock);
    if ((c = call_of(st, t->id)) == NULL) {
        rc = call_begin(t, st, bus, name, nlen, req, rlen, tmo, results,
                        &res);
        if (rc != 0) {
            pl_mutex_unlock(&vm->rt->lock);
            return rc == VMRT_HOST_BLOCK ? rc : finish(t, results, res);
        }
        c = call_of(st, t->id);
    }
    if (c->state == CALL_LOST) {
        /* Snapshot restored mid-call: the server never saw us here. */
        call_release(c);
        pl_mutex_unlock(&vm->rt->lock);
        return finish(t, results, VOS_ECONNRESET);
    }
    rc = ipc_call_finish(c->ep, out, cap, &len);
    if (rc == IPC_EAGAIN) {
        if (vmrt__woken(t) == VMRT__WAKE_TIMEOUT || tmo == VOS_NO_WAIT ||
            vmrt__woken(t) == VMRT__WAKE_ABORTED) {
            res = vmrt__woken(t) == VMRT__WAKE_ABORTED ? VOS_ECLOSED
                                                       : VOS_ETIMEDOUT;
            call_release(c);
            pl_mutex_unlock(&vm->rt->lock);
            return finish(t, results, res);
        }
        rc = vmrt__block(t, &c->w.rd, vmrt__deadline(t, timeout_ns(tmo)));
        pl_mutex_unlock(&vm->rt->lock);
        return rc;
    }
    call_release(c);
    pl_mutex_unlock(&vm->rt->lock);
    if (rc == 0)
        return finish(t, results, (int)len);
    return finish(t, results, vos_err(rc));
}

static int
h_send(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
       uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    vmrt__vthread_t *t = vmrt__self(inst);
    uint32_t np = (uint32_t)args[0], nlen = (uint32_t)args[1];
    uint32_t mp = (uint32_t)args[2], mlen = (uint32_t)args[3];
    uint32_t tmo = (uint32_t)args[4];
    ipc_bus_t *bus = bus_of(vm);
    ipc__vm_t *st = state_of(vm);
    const char *name;
    uint8_t *msg;
    void *blocker = NULL;
    int rc;

    (void)ctx;
    if (bus == NULL || st == NULL)
        return finish(t, results, bus == NULL ? VOS_ENOSYS : VOS_ENOMEM);
    if ((name = (const char *)guest(inst, np, nlen)) == NULL ||
        (msg = guest(inst, mp, mlen)) == NULL)
        return finish(t, results, VOS_EFAULT);
    /* Sending is calling without an answer: the same permission. */
    if (!listed(vm->man.calls, vm->man.ncalls, name, nlen))
        return finish(t, results, VOS_EPERM);
    pl_mutex_lock(&vm->rt->lock);
    rc = ipc_send(bus, st->sender, name, nlen, msg, mlen, &blocker);
    if (rc == IPC_EAGAIN && blocker != NULL) {
        rc = wait_or_fail(t, &((ipc__wq_t *)blocker)->wr, tmo, results);
        pl_mutex_unlock(&vm->rt->lock);
        return rc;
    }
    pl_mutex_unlock(&vm->rt->lock);
    return finish(t, results, rc == 0 ? VOS_OK : vos_err(rc));
}

/* ---- publish / subscribe ---------------------------------------------- */

static void
sub_close(vmrt_vm_t *vm, void *obj)
{
    ipc__sub_t *s = obj;
    ipc__vm_t *st = vm->sub[VMRT__SUB_IPC];

    pl_mutex_lock(&vm->rt->lock);
    ipc_unsubscribe(s->sub);
    vmrt__wake_abort(&s->w.rd);
    vmrt__wake(&s->w.wr, UINT32_MAX);
    pl_mutex_unlock(&vm->rt->lock);
    if (st != NULL && st->nsubs > 0)
        st->nsubs--;
    vmrt__free(s);
}

/* Subscribe `vm` to `topic` as handle `at` (0: any).
 * Return: the handle, or a VOS_E* code. */
static int
sub_open(vmrt_vm_t *vm, const char *topic, size_t len, int at)
{
    ipc_bus_t *bus = bus_of(vm);
    ipc__vm_t *st = state_of(vm);
    ipc__sub_t *s;
    int rc, h;

    if (bus == NULL)
        return VOS_ENOSYS;
    if (st == NULL)
        return VOS_ENOMEM;
    if (st->nsubs >= IPC__VM_SUBS)
        return VOS_ENOMEM;
    if ((s = vmrt__calloc(1, sizeof(*s))) == NULL)
        return VOS_ENOMEM;
    pl_mutex_lock(&vm->rt->lock);
    rc = ipc_subscribe(bus, topic, len, &s->w, &s->sub);
    pl_mutex_unlock(&vm->rt->lock);
    if (rc != 0) {
        vmrt__free(s);
        return vos_err(rc);
    }
    st->nsubs++;
    h = at > 0 ? vmrt__handle_alloc_at(vm, at, VMRT__H_IPC_SUB, s, sub_close)
               : vmrt__handle_alloc(vm, VMRT__H_IPC_SUB, s, sub_close);
    if (h < 0)
        sub_close(vm, s);
    return h;
}

static int
h_subscribe(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    uint32_t p = (uint32_t)args[0], n = (uint32_t)args[1];
    const char *topic;

    (void)ctx;
    if ((topic = (const char *)guest(inst, p, n)) == NULL)
        results[0] = (uint64_t)(uint32_t)VOS_EFAULT;
    else
        results[0] = (uint64_t)(uint32_t)sub_open(vm, topic, n, 0);
    return 0;
}

static int
h_publish(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    vmrt__vthread_t *t = vmrt__self(inst);
    uint32_t tp = (uint32_t)args[0], tlen = (uint32_t)args[1];
    uint32_t dp = (uint32_t)args[2], dlen = (uint32_t)args[3];
    uint32_t tmo = (uint32_t)args[4];
    ipc_bus_t *bus = bus_of(vm);
    ipc__vm_t *st = state_of(vm);
    const char *topic;
    uint8_t *data;
    void *blocker = NULL;
    int rc;

    (void)ctx;
    if (bus == NULL || st == NULL)
        return finish(t, results, bus == NULL ? VOS_ENOSYS : VOS_ENOMEM);
    if ((topic = (const char *)guest(inst, tp, tlen)) == NULL ||
        (data = guest(inst, dp, dlen)) == NULL)
        return finish(t, results, VOS_EFAULT);
    pl_mutex_lock(&vm->rt->lock);
    rc = ipc_publish(bus, st->sender, topic, tlen, data, dlen, &blocker);
    if (rc == IPC_EAGAIN && blocker != NULL) {
        /* Backpressure: wait for the full subscriber to make room. */
        rc = wait_or_fail(t, &((ipc__wq_t *)blocker)->wr, tmo, results);
        pl_mutex_unlock(&vm->rt->lock);
        return rc;
    }
    pl_mutex_unlock(&vm->rt->lock);
    return finish(t, results, rc >= 0 ? rc : vos_err(rc));
}

static int
h_recv(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
       uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    vmrt__vthread_t *t = vmrt__self(inst);
    int sh = (int)(uint32_t)args[0];
    uint32_t p = (uint32_t)args[1], cap = (uint32_t)args[2];
    uint32_t tmo = (uint32_t)args[3];
    ipc__sub_t *s;
    uint8_t *buf;
    size_t len = 0;
    int rc;

    (void)ctx;
    if ((s = vmrt__handle_get(vm, sh, VMRT__H_IPC_SUB)) == NULL)
        return finish(t, results,
                      vmrt__woken(t) == VMRT__WAKE_ABORTED ? VOS_ECLOSED
                                                           : VOS_EBADF);
    if ((buf = guest(inst, p, cap)) == NULL)
        return finish(t, results, VOS_EFAULT);
    pl_mutex_lock(&vm->rt->lock);
    rc = ipc_sub_recv(s->sub, buf, cap, &len);
    if (rc == IPC_EAGAIN) {
        rc = wait_or_fail(t, &s->w.rd, tmo, results);
        pl_mutex_unlock(&vm->rt->lock);
        return rc;
    }
    pl_mutex_unlock(&vm->rt->lock);
    return finish(t, results, rc == 0 ? (int)len : vos_err(rc));
}

/* ---- the subsystem ---------------------------------------------------- */

static int
ipc_rt_init(vmrt_rt_t *rt)
{
    ipc__rt_t *r;
    /* Defaults of device/ipc, with room for a call in flight from every
     * VM's every slot up to the tag format's limit. */
    ipc_config_t cfg = { .max_services = 64, .max_topics = 32,
                         .max_subs = 16, .max_endpoints = 255 };

    if ((r = vmrt__calloc(1, sizeof(*r))) == NULL)
        return VMRT_ENOMEM;
    if ((r->bus = ipc_bus_create(&cfg, on_note, rt)) == NULL) {
        vmrt__free(r);
        return VMRT_ENOMEM;
    }
    rt->sub[VMRT__SUB_IPC] = r;
    return 0;
}

static void
ipc_rt_fini(vmrt_rt_t *rt)
{
    ipc__rt_t *r = rt->sub[VMRT__SUB_IPC];

    if (r == NULL)
        return;
    ipc_bus_destroy(r->bus);
    vmrt__free(r);
    rt->sub[VMRT__SUB_IPC] = NULL;
}

static int
ipc_vm_init(vmrt_vm_t *vm)
{
    return state_of(vm) != NULL ? 0 : VMRT_ENOMEM;
}

static const vmrt__hostfn_t fns[] = {
    { "ipc_serve_open", "(ii)i", h_serve_open },
    { "ipc_serve_next", "(iiiii)i", h_serve_next },
    { "ipc_reply", "(iiii)i", h_reply },
    { "ipc_call", "(iiiiiii)i", h_call },
    { "ipc_send", "(iiiii)i", h_send },
    { "ipc_subscribe", "(ii)i", h_subscribe },
    { "ipc_publish", "(iiiii)i", h_publish },
    { "ipc_recv", "(iiii)i", h_recv },
    { NULL, NULL, NULL },
};

static int
ipc_link(vmrt_vm_t *vm, vmrt_linker_t *lk)
{
    (void)vm;
    return vmrt__link_vos(lk, fns, NULL);
}

/* The VM stops: its services go away (callers get VOS_ECONNRESET), its
 * subscriptions and calls in flight end. */
static void
ipc_vm_fini(vmrt_vm_t *vm)
{
    ipc__vm_t *st = vm->sub[VMRT__SUB_IPC];
    uint32_t i;

    vmrt__handle_close_type(vm, VMRT__H_IPC_SERVICE);
    vmrt__handle_close_type(vm, VMRT__H_IPC_SUB);
    if (st == NULL)
        return;
    pl_mutex_lock(&vm->rt->lock);
    for (i = 0; i < IPC__VM_CALLS; i++) {
        vmrt__wake_abort(&st->calls[i].w.rd);
        call_release(&st->calls[i]);
    }
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__free(st);
    vm->sub[VMRT__SUB_IPC] = NULL;
}

/* ---- snapshots ---------------------------------------------------------
 *
 * Section 'IPC ' (little-endian):
 *   u32 version (1)
 *   u32 nsvc,  nsvc  x { i32 handle, u8 nlen, name, u32 nmsg,
 *                        nmsg x { u32 len, bytes } }
 *   u32 nsub,  nsub  x { the same, with the topic as name }
 *   u32 ncall, ncall x { u32 thread id }
 * Only one-way messages are saved: a queued call's caller is on this
 * device and learns of the restore through VOS_ECONNRESET.  Calls in
 * flight come back as lost, so their retry fails instead of resending.
 */

typedef struct {
    vmrt_snap_writer_t *w;
    uint32_t n;
    bool count_only;
} wctx_t;

static int
put32(vmrt_snap_writer_t *w, uint32_t v)
{
    uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 24) };

    return vmrt_snap_write(w, b, 4);
}

static int
save_msg(void *arg, uint32_t tag, const void *data, size_t len)
{
    wctx_t *c = arg;
    int rc;

    if (tag != 0)
        return 0;
    c->n++;
    if (c->count_only)
        return 0;
    if ((rc = put32(c->w, (uint32_t)len)) != 0)
        return rc;
    return len > 0 ? vmrt_snap_write(c->w, data, len) : 0;
}

/* Write one queue: count, then the messages.  Lock held. */
static int
save_queue(vmrt_snap_writer_t *w, const char *name, int h,
           const ipc_service_t *svc, const ipc_sub_t *sub)
{
    wctx_t c = { w, 0, true };
    uint8_t nlen = (uint8_t)strlen(name);
    int rc;

    if ((rc = put32(w, (uint32_t)h)) != 0 ||
        (rc = vmrt_snap_write(w, &nlen, 1)) != 0 ||
        (rc = vmrt_snap_write(w, name, nlen)) != 0)
        return rc;
    /* Two walks: the count goes before the messages.  Any failure is an
     * allocation failure (the walk's scratch buffer or the writer). */
    rc = svc != NULL ? ipc_service_foreach(svc, save_msg, &c)
                     : ipc_sub_foreach(sub, save_msg, &c);
    if (rc != 0 || put32(w, c.n) != 0)
        return VMRT_ENOMEM;
    c.count_only = false;
    c.n = 0;
    rc = svc != NULL ? ipc_service_foreach(svc, save_msg, &c)
                     : ipc_sub_foreach(sub, save_msg, &c);
    return rc != 0 ? VMRT_ENOMEM : 0;
}

static int
ipc_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w)
{
    ipc__vm_t *st = vm->sub[VMRT__SUB_IPC];
    uint32_t n, i;
    void *obj;
    int h, rc = 0;

    pl_mutex_lock(&vm->rt->lock);
    if ((rc = put32(w, IPC__SNAP_VERSION)) != 0)
        goto out;
    for (n = 0, h = 0; (h = vmrt__handle_next(vm, h, VMRT__H_IPC_SERVICE,
                                               NULL)) > 0;)
        n++;
    if ((rc = put32(w, n)) != 0)
        goto out;
    for (h = 0; (h = vmrt__handle_next(vm, h, VMRT__H_IPC_SERVICE,
                                       &obj)) > 0;) {
        ipc__svc_t *s = obj;

        if ((rc = save_queue(w, ipc_service_name(s->svc), h, s->svc,
                             NULL)) != 0)
            goto out;
    }
    for (n = 0, h = 0; (h = vmrt__handle_next(vm, h, VMRT__H_IPC_SUB,
                                               NULL)) > 0;)
        n++;
    if ((rc = put32(w, n)) != 0)
        goto out;
    for (h = 0; (h = vmrt__handle_next(vm, h, VMRT__H_IPC_SUB, &obj)) > 0;) {
        ipc__sub_t *s = obj;

        if ((rc = save_queue(w, ipc_sub_topic(s->sub), h, NULL,
                             s->sub)) != 0)
            goto out;
    }
    n = 0;
    if (st != NULL)
        for (i = 0; i < IPC__VM_CALLS; i++)
            n += st->calls[i].state != CALL_FREE;
    if ((rc = put32(w, n)) != 0)
        goto out;
    if (st != NULL)
        for (i = 0; i < IPC__VM_CALLS && rc == 0; i++)
            if (st->calls[i].state != CALL_FREE)
                rc = put32(w, st->calls[i].tid);
out:
    pl_mutex_unlock(&vm->rt->lock);
    return rc;
}

typedef struct {
    const uint8_t *p;
    size_t left;
} rd_t;

static bool
get32(rd_t *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    *v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 |
        (uint32_t)r->p[2] << 16 | (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return true;
}

static bool
getn(rd_t *r, size_t n, const uint8_t **out)
{
    if (r->left < n)
        return false;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return true;
}

/*
 * load_queues: read `count` queue records; with `apply`, re-create them
 * (services if `svc`, else subscriptions) and re-queue their messages.
 * Return: 0; VMRT_ECORRUPT (malformed, or a service the manifest does not
 * provide); VMRT_ESTATE (a service another VM holds now); VMRT_ENOMEM.
 */
static int
load_queues(vmrt_vm_t *vm, rd_t *r, bool svc, bool apply)
{
    uint32_t count, i, j, h, nmsg, len;
    const uint8_t *name, *body, *nl;
    ipc_bus_t *bus = bus_of(vm);
    void *obj;
    int rc;

    if (!get32(r, &count) || count > VMRT_VOS_MAX_HANDLES)
        return VMRT_ECORRUPT;
    for (i = 0; i < count; i++) {
        if (!get32(r, &h) || h == 0 || h > VMRT_VOS_MAX_HANDLES ||
            !getn(r, 1, &nl) || nl[0] == 0 || nl[0] >= IPC_NAME_MAX ||
            !getn(r, nl[0], &name) || memchr(name, '\0', nl[0]) != NULL ||
            !get32(r, &nmsg))
            return VMRT_ECORRUPT;
        if (svc && !listed(vm->man.provides, vm->man.nprovides,
                           (const char *)name, nl[0]))
            return VMRT_ECORRUPT;
        obj = NULL;
        if (apply) {
            rc = svc ? svc_open(vm, (const char *)name, nl[0], (int)h)
                     : sub_open(vm, (const char *)name, nl[0], (int)h);
            if (rc < 0)
                return rc == VOS_EBUSY ? VMRT_ESTATE
                    : rc == VOS_ENOMEM ? VMRT_ENOMEM : VMRT_ECORRUPT;
            obj = vmrt__handle_get(vm, (int)h, svc ? VMRT__H_IPC_SERVICE
                                                   : VMRT__H_IPC_SUB);
        }
        for (j = 0; j < nmsg; j++) {
            if (!get32(r, &len) || len > ipc_bus_config(bus)->msg_max ||
                !getn(r, len, &body))
                return VMRT_ECORRUPT;
            if (obj == NULL)
                continue;
            pl_mutex_lock(&vm->rt->lock);
            /* A bus with smaller queues than the saving one drops the
             * excess rather than failing the restore. */
            if (svc)
                (void)ipc_service_inject(((ipc__svc_t *)obj)->svc, 0, body,
                                         len);
            else
                (void)ipc_sub_inject(((ipc__sub_t *)obj)->sub, body, len);
            pl_mutex_unlock(&vm->rt->lock);
        }
    }
    return 0;
}

static int
ipc_load(vmrt_vm_t *vm, const uint8_t *data, size_t len)
{
    ipc__vm_t *st;
    ipc__call_t *c;
    rd_t r;
    uint32_t ver, ncall, tid, i;
    int rc, pass;

    if (bus_of(vm) == NULL)
        return VMRT_ESTATE;
    if ((st = state_of(vm)) == NULL)
        return VMRT_ENOMEM;
    /* Pass 0 checks everything, pass 1 applies: hostile bytes change
     * nothing. */
    for (pass = 0; pass < 2; pass++) {
        r.p = data;
        r.left = len;
        if (!get32(&r, &ver) || ver != IPC__SNAP_VERSION)
            return VMRT_ECORRUPT;
        if ((rc = load_queues(vm, &r, true, pass == 1)) != 0 ||
            (rc = load_queues(vm, &r, false, pass == 1)) != 0)
            goto fail;
        if (!get32(&r, &ncall) || ncall > IPC__VM_CALLS) {
            rc = VMRT_ECORRUPT;
            goto fail;
        }
        for (i = 0; i < ncall; i++) {
            if (!get32(&r, &tid)) {
                rc = VMRT_ECORRUPT;
                goto fail;
            }
            if (pass == 1 && call_of(st, tid) == NULL &&
                (c = call_free_slot(st)) != NULL) {
                c->state = CALL_LOST;
                c->tid = tid;
                c->ep = NULL;
            }
        }
        if (r.left != 0) {
            rc = VMRT_ECORRUPT;
            goto fail;
        }
    }
    return 0;
fail:
    if (pass == 1) {
        vmrt__handle_close_type(vm, VMRT__H_IPC_SERVICE);
        vmrt__handle_close_type(vm, VMRT__H_IPC_SUB);
    }
    return rc;
}

const vmrt__subsys_t vmrt__sub_ipc = {
    .name = "ipc",
    .snap_tag = VMRT_SNAP_TAG('I', 'P', 'C', ' '),
    .rt_init = ipc_rt_init,
    .rt_fini = ipc_rt_fini,
    .vm_init = ipc_vm_init,
    .link = ipc_link,
    .vm_fini = ipc_vm_fini,
    .save = ipc_save,
    .load = ipc_load,
};
