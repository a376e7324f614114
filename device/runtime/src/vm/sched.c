/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The scheduler: worker threads ("virtual CPUs"), run queues, green-thread
 * switching inside a VM, wait queues and timers.
 *
 * Across VMs: priority-preemptive, round-robin with one time slice each
 * among equal priorities.  A VM pinned to a worker sits in that worker's
 * run queue, the others in the global one; each queue has 32 levels and a
 * bitmap of the non-empty ones, readable without the lock, so that a worker
 * can see between two fuel chunks whether a better VM waits.
 *
 * Preemption uses fuel: a worker runs a thread in chunks of fuel sized to
 * take CHUNK_TARGET_NS (measured online per worker), and between chunks
 * checks the slice, vm->preempt and the queues' best priority.  A VM in an
 * infinite loop thus delays a better VM by at most one chunk.
 *
 * Everything here is guarded by rt->lock except what the worker that runs
 * a VM touches alone while it runs it (the current thread's stack-pointer
 * swap, the chunk loop); see vm_internal.h for the locking rules.
 */

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "engine/module.h"
#include "vm/vm_internal.h"

/* A fuel chunk should take about this long: short enough that a better VM
 * waits little, long enough that the checks between chunks cost nothing. */
#define CHUNK_TARGET_NS 75000u
#define CHUNK_FUEL_INIT 20000u
#define CHUNK_FUEL_MIN 500u
#define CHUNK_FUEL_MAX 50000000u
#define SLICE_DEFAULT_US 1000u
#define NO_PRIO VMRT_PRIO_LEVELS
#define SP_NONE UINT32_MAX
#define IRQ_QUEUE 32 /* interrupts raised but not yet given a thread */

/* One run queue: a FIFO per priority level and a bitmap of non-empty
 * levels (bit p = level p). */
typedef struct {
    vmrt_vm_t *head[VMRT_PRIO_LEVELS];
    vmrt_vm_t *tail[VMRT_PRIO_LEVELS];
    atomic_uint bits;
} runq_t;

struct vmrt__sched;

typedef struct {
    struct vmrt__sched *s;
    uint32_t idx;
    pl_thread_t th;
    pl_cond_t cond;      /* idle worker waits here */
    bool idle;           /* waiting on cond, not yet signalled */
    bool started;
    runq_t rq;           /* VMs pinned to this worker */
    uint64_t chunk_fuel; /* adapted online */
} worker_t;

/* Per-VM scheduling state (vm->sch). */
struct vmrt__vmsched {
    vmrt__timer_t timer;      /* earliest thread deadline or watchdog */
    bool parked;
    uint32_t hold;            /* claims wanted or held (spawns from other
                                 threads, snapshots): kept off the workers
                                 like a park */
    bool claimed;             /* a non-worker thread owns the instance
                                 (see "Instance ownership") */
    bool ended;               /* the program is over (vm_end): never
                                 queued again, whatever unparks it */
    int end_status;           /* pending end (watchdog), 0 = none */
    atomic_bool resched;      /* a thread woke: pick threads again */
    uint32_t rr_id;           /* thread run last, for round robin */
    vmrt__vthread_t *cur;     /* whose stack pointer the global holds */
    bool sp_known;
    uint32_t sp_idx;          /* __stack_pointer global, or SP_NONE */
    uint64_t worker_tid;      /* OS thread running it, 0 = none */
    /* Interrupts raised from any thread; their handler threads are made
     * on the VM's worker, where touching the instance is safe. */
    struct {
        uint32_t elem, irq, arg;
    } irqq[IRQ_QUEUE];
    uint32_t nirq;
};

struct vmrt__sched {
    vmrt_rt_t *rt;
    uint32_t nworkers;
    worker_t *w;
    runq_t global;
    pl_cond_t park_cond;  /* a worker let go of a parked VM */
    pl_cond_t timer_cond; /* the earliest timer changed, or stop */
    pl_thread_t timer_th;
    bool timer_started;
    bool stop;
    vmrt__timer_t **heap; /* min-heap on deadline_ns */
    uint32_t nheap;
    uint32_t capheap;
};

typedef struct vmrt__sched sched_t;
typedef struct vmrt__vmsched vmsched_t;

/* ---- run queues ------------------------------------------------------ */

static uint32_t
rq_best(runq_t *q)
{
    unsigned b = atomic_load_explicit(&q->bits, memory_order_relaxed);

    return b == 0 ? NO_PRIO : (uint32_t)__builtin_ctz(b);
}

static runq_t *
rq_of(sched_t *s, vmrt_vm_t *vm)
{
    int32_t a = vm->man.affinity;

    if (a >= 0 && (uint32_t)a < s->nworkers)
        return &s->w[a].rq;
    return &s->global;
}

static uint32_t
vm_prio(const vmrt_vm_t *vm)
{
    return vm->man.priority < VMRT_PRIO_LEVELS ? vm->man.priority
                                               : VMRT_PRIO_LEVELS - 1;
}

static void
rq_push(runq_t *q, vmrt_vm_t *vm, bool at_head)
{
    uint32_t p = vm_prio(vm);

    if (at_head) {
        vm->rq_next = q->head[p];
        q->head[p] = vm;
        if (q->tail[p] == NULL)
            q->tail[p] = vm;
    } else {
        vm->rq_next = NULL;
        if (q->tail[p] != NULL)
            q->tail[p]->rq_next = vm;
        else
            q->head[p] = vm;
        q->tail[p] = vm;
    }
    atomic_fetch_or(&q->bits, 1u << p);
}

static vmrt_vm_t *
rq_pop(runq_t *q, uint32_t p)
{
    vmrt_vm_t *vm = q->head[p];

    if (vm == NULL)
        return NULL;
    q->head[p] = vm->rq_next;
    if (q->head[p] == NULL) {
        q->tail[p] = NULL;
        atomic_fetch_and(&q->bits, ~(1u << p));
    }
    vm->rq_next = NULL;
    vm->queued = false;
    return vm;
}

static void
rq_remove(sched_t *s, vmrt_vm_t *vm)
{
    runq_t *q = rq_of(s, vm);
    uint32_t p = vm_prio(vm);
    vmrt_vm_t **pp, *prev = NULL;

    if (!vm->queued)
        return;
    for (pp = &q->head[p]; *pp != NULL; prev = *pp, pp = &(*pp)->rq_next) {
        if (*pp != vm)
            continue;
        *pp = vm->rq_next;
        if (q->tail[p] == vm)
            q->tail[p] = prev;
        if (q->head[p] == NULL)
            atomic_fetch_and(&q->bits, ~(1u << p));
        break;
    }
    vm->rq_next = NULL;
    vm->queued = false;
}

/*
 * vm_enqueue: make `vm` wait for a worker, unless it is parked, already
 * queued or on a worker.  Wakes an idle worker that may run it.
 */
static void
vm_enqueue(sched_t *s, vmrt_vm_t *vm, bool at_head)
{
    runq_t *q;
    uint32_t i;

    if (vm->sch == NULL || vm->sch->parked || vm->sch->hold != 0 ||
        vm->sch->ended || vm->queued || vm->on_worker)
        return;
    q = rq_of(s, vm);
    rq_push(q, vm, at_head);
    vm->queued = true;
    if (q != &s->global) {
        worker_t *w = &s->w[vm->man.affinity];

        w->idle = false;
        pl_cond_signal(&w->cond);
        return;
    }
    for (i = 0; i < s->nworkers; i++) {
        if (s->w[i].idle) {
            s->w[i].idle = false;
            pl_cond_signal(&s->w[i].cond);
            return;
        }
    }
}

/* The highest-priority queued VM for worker w; its own queue wins ties. */
static vmrt_vm_t *
rq_pick(sched_t *s, worker_t *w)
{
    uint32_t own = rq_best(&w->rq), glob = rq_best(&s->global);

    if (own == NO_PRIO && glob == NO_PRIO)
        return NULL;
    if (own <= glob)
        return rq_pop(&w->rq, own);
    return rq_pop(&s->global, glob);
}

/* Best priority waiting for worker w (its own queue and the global one). */
static uint32_t
waiting_best(sched_t *s, worker_t *w)
{
    uint32_t own = rq_best(&w->rq), glob = rq_best(&s->global);

    return own < glob ? own : glob;
}

/* ---- timers: a binary min-heap ------------------------------------- */

static void
heap_set(sched_t *s, uint32_t i, vmrt__timer_t *t)
{
    s->heap[i] = t;
    t->heap_idx = i;
}

static void
heap_up(sched_t *s, uint32_t i)
{
    vmrt__timer_t *t = s->heap[i];

    while (i > 0) {
        uint32_t p = (i - 1) / 2;

        if (s->heap[p]->deadline_ns <= t->deadline_ns)
            break;
        heap_set(s, i, s->heap[p]);
        i = p;
    }
    heap_set(s, i, t);
}

static void
heap_down(sched_t *s, uint32_t i)
{
    vmrt__timer_t *t = s->heap[i];

    for (;;) {
        uint32_t c = 2 * i + 1;

        if (c >= s->nheap)
            break;
        if (c + 1 < s->nheap &&
            s->heap[c + 1]->deadline_ns < s->heap[c]->deadline_ns)
            c++;
        if (t->deadline_ns <= s->heap[c]->deadline_ns)
            break;
        heap_set(s, i, s->heap[c]);
        i = c;
    }
    heap_set(s, i, t);
}

static void
heap_del(sched_t *s, uint32_t i)
{
    vmrt__timer_t *last = s->heap[--s->nheap];

    if (i < s->nheap) {
        heap_set(s, i, last);
        heap_down(s, i);
        heap_up(s, last->heap_idx);
    }
}

void
vmrt__timer_cancel(vmrt_rt_t *rt, vmrt__timer_t *t)
{
    sched_t *s = rt->sched;

    if (!t->armed)
        return;
    t->armed = false;
    if (s != NULL && t->heap_idx < s->nheap && s->heap[t->heap_idx] == t)
        heap_del(s, t->heap_idx);
}

void
vmrt__timer_arm(vmrt_rt_t *rt, vmrt__timer_t *t, uint64_t deadline_ns)
{
    sched_t *s = rt->sched;

    vmrt__timer_cancel(rt, t);
    if (s == NULL)
        return;
    if (s->nheap == s->capheap) {
        uint32_t cap = s->capheap ? s->capheap * 2 : 64;
        vmrt__timer_t **h = vmrt__realloc(s->heap, cap * sizeof(*h));

        /* Out of memory: the timer stays unarmed, as if cancelled. */
        if (h == NULL)
            return;
        s->heap = h;
        s->capheap = cap;
    }
    t->deadline_ns = deadline_ns;
    t->armed = true;
    heap_set(s, s->nheap, t);
    s->nheap++;
    heap_up(s, s->nheap - 1);
    if (t->heap_idx == 0)
        pl_cond_signal(&s->timer_cond);
}

static void
timer_main(void *arg)
{
    sched_t *s = arg;
    vmrt_rt_t *rt = s->rt;

    pl_mutex_lock(&rt->lock);
    while (!s->stop) {
        vmrt__timer_t *t;

        if (s->nheap == 0) {
            pl_cond_wait(&s->timer_cond, &rt->lock);
            continue;
        }
        t = s->heap[0];
        if (t->deadline_ns > pl_time_mono_ns()) {
            (void)pl_cond_timedwait(&s->timer_cond, &rt->lock,
                                    t->deadline_ns);
            continue;
        }
        heap_del(s, 0);
        t->armed = false;
        t->fn(t);
    }
    pl_mutex_unlock(&rt->lock);
}

/* ---- wait queues ----------------------------------------------------- */

static void
waitq_unlink(vmrt__vthread_t *t)
{
    vmrt__vthread_t **pp;

    if (t->waitq == NULL)
        return;
    for (pp = &t->waitq->head; *pp != NULL; pp = &(*pp)->wq_next) {
        if (*pp == t) {
            *pp = t->wq_next;
            break;
        }
    }
    t->waitq = NULL;
    t->wq_next = NULL;
}

/* Order in a wait queue: VM priority, then thread priority; FIFO after. */
static bool
waits_before(const vmrt__vthread_t *a, const vmrt__vthread_t *b)
{
    if (vm_prio(a->vm) != vm_prio(b->vm))
        return vm_prio(a->vm) < vm_prio(b->vm);
    return a->prio < b->prio;
}

/*
 * wake_one: make a blocked thread runnable with reason `why` and get its
 * VM scheduled (or, if a worker runs the VM, tell it to pick threads
 * again).  A parked VM keeps the wake-up until vmrt__sched_unpark.
 */
static void
wake_one(vmrt__vthread_t *t, vmrt__wake_t why)
{
    vmrt_vm_t *vm = t->vm;

    waitq_unlink(t);
    if (t->state != VMRT__VT_BLOCKED)
        return;
    t->wake = (uint8_t)why;
    t->state = VMRT__VT_RUNNABLE;
    if (vm->sch == NULL)
        return;
    if (vm->on_worker)
        atomic_store(&vm->sch->resched, true);
    else
        vm_enqueue(vm->rt->sched, vm, false);
}

uint64_t
vmrt__deadline(vmrt__vthread_t *t, uint64_t timeout_ns)
{
    uint64_t now;

    if (t->waiting)
        return t->deadline_ns;
    if (timeout_ns == UINT64_MAX)
        return 0;
    now = pl_time_mono_ns();
    return timeout_ns > UINT64_MAX - now - 1 ? 0 : now + timeout_ns;
}

int
vmrt__block(vmrt__vthread_t *t, vmrt__waitq_t *q, uint64_t deadline_ns)
{
    vmrt__vthread_t **pp;

    waitq_unlink(t);
    t->waiting = true;
    t->wake = VMRT__WAKE_NONE;
    t->deadline_ns = deadline_ns;
    t->state = VMRT__VT_BLOCKED;
    if (deadline_ns != 0 && deadline_ns <= pl_time_mono_ns()) {
        /* Already late: the retry sees the timeout at once. */
        t->wake = VMRT__WAKE_TIMEOUT;
        t->state = VMRT__VT_RUNNABLE;
        return VMRT_HOST_BLOCK;
    }
    if (q != NULL) {
        for (pp = &q->head; *pp != NULL && !waits_before(t, *pp);
             pp = &(*pp)->wq_next)
            ;
        t->wq_next = *pp;
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

/* ---- per-VM timer: thread deadlines and the watchdog ----------------- */

static bool
wdt_armed(const vmrt_vm_t *vm)
{
    return vm->man.watchdog_ms != 0 && vm->wdt_deadline_ns != 0;
}

/* Arm the VM's timer for its earliest deadline, or cancel it.  Lock held. */
static void
vm_timer_update(vmrt_vm_t *vm)
{
    vmsched_t *vs = vm->sch;
    vmrt__vthread_t *t;
    uint64_t min = UINT64_MAX;

    if (vs == NULL)
        return;
    if (!vs->parked) {
        for (t = vm->threads; t != NULL; t = t->next)
            if (t->state == VMRT__VT_BLOCKED && t->deadline_ns != 0 &&
                t->deadline_ns < min)
                min = t->deadline_ns;
        if (wdt_armed(vm) && vs->end_status == 0 &&
            vm->wdt_deadline_ns < min)
            min = vm->wdt_deadline_ns;
    }
    if (min == UINT64_MAX)
        vmrt__timer_cancel(vm->rt, &vs->timer);
    else if (!vs->timer.armed || vs->timer.deadline_ns != min)
        vmrt__timer_arm(vm->rt, &vs->timer, min);
}

/* Timer thread, lock held: expire deadlines, fire the watchdog. */
static void
vm_timer_fire(vmrt__timer_t *tm)
{
    vmrt_vm_t *vm = tm->arg;
    vmsched_t *vs = vm->sch;
    uint64_t now = pl_time_mono_ns();
    vmrt__vthread_t *t;

    if (vs == NULL || vs->parked)
        return;
    for (t = vm->threads; t != NULL; t = t->next)
        if (t->state == VMRT__VT_BLOCKED && t->deadline_ns != 0 &&
            t->deadline_ns <= now)
            wake_one(t, VMRT__WAKE_TIMEOUT);
    if (wdt_armed(vm) && vm->wdt_deadline_ns <= now && vs->end_status == 0) {
        /* A worker ends the VM: the one running it at its next chunk
         * boundary, or any, by queueing it with the end pending. */
        vs->end_status = VMRT__END_WATCHDOG;
        atomic_store(&vm->preempt, true);
        vm_enqueue(vm->rt->sched, vm, true);
    }
    vm_timer_update(vm);
}

/* ---- green threads --------------------------------------------------- */

static bool has_runnable(const vmrt_vm_t *vm);

vmrt__vthread_t *
vmrt__self(vmrt_instance_t *inst)
{
    vmrt_thread_t *th = vmrt_instance_current_thread(inst);

    return th != NULL ? vmrt_thread_user(th) : NULL;
}

/*
 * claim_locked: the engine's instance is not thread-safe (vm_internal.h,
 * "Instance ownership"), so a thread other than the VM's worker that must
 * touch it (a spawn from a vOS timer dispatcher or an interrupt source, a
 * snapshot) first keeps the VM off the workers, like a park that vm.c
 * does not see, then waits until no worker runs it and no other claim is
 * held, and takes the claim.  Lock held on entry and on return.
 * Return: whether a claim was taken (false on the VM's own worker, which
 * owns the instance already); pass it to unclaim_locked.
 */
static bool
claim_locked(vmrt_vm_t *vm, vmsched_t *vs)
{
    sched_t *s = vm->rt->sched;

    if (s == NULL || (vm->on_worker && vs->worker_tid == pl_thread_self_id()))
        return false;
    vs->hold++;
    atomic_store(&vm->preempt, true);
    rq_remove(s, vm);
    /* vmrt__sched_remove waits for hold == 0, so vs stays valid here. */
    while (vm->on_worker || vs->claimed)
        pl_cond_wait(&s->park_cond, &vm->rt->lock);
    vs->claimed = true;
    return true;
}

/* Give the claim back and let the VM run again if nothing else holds it.
 * Lock held. */
static void
unclaim_locked(vmrt_vm_t *vm, vmsched_t *vs, bool claimed)
{
    if (!claimed)
        return;
    vs->claimed = false;
    if (--vs->hold == 0 && !vs->parked) {
        atomic_store(&vm->preempt, false);
        if (has_runnable(vm) || vs->end_status != 0)
            vm_enqueue(vm->rt->sched, vm, false);
    }
    /* Other claimants and vmrt__sched_remove wait for this. */
    pl_cond_broadcast(&vm->rt->sched->park_cond);
}

static void sp_sync(vmrt_vm_t *vm, vmsched_t *vs);

bool
vmrt__sched_claim(vmrt_vm_t *vm)
{
    vmsched_t *vs = vm->sch;
    bool claimed;

    if (vs == NULL)
        return false;
    claimed = claim_locked(vm, vs);
    /* We own the instance now: these are plain accessors, no host
     * function runs, so calling them with the lock held is safe. */
    sp_sync(vm, vs);
    return claimed;
}

void
vmrt__sched_unclaim(vmrt_vm_t *vm, bool claimed)
{
    if (vm->sch != NULL)
        unclaim_locked(vm, vm->sch, claimed);
}

int
vmrt__vthread_spawn(vmrt_vm_t *vm, bool by_elem, uint32_t fn, uint32_t arg,
                    uint8_t prio, bool irq, vmrt__vthread_t **out)
{
    vmrt__vthread_t *t, **pp;
    vmrt_val_t a;
    vmsched_t *vs;
    bool held;
    int rc;

    if ((t = vmrt__calloc(1, sizeof(*t))) == NULL)
        return VMRT_ENOMEM;
    pl_mutex_lock(&vm->rt->lock);
    /* No scheduling record: not started, or being torn down (the
     * lifecycle holder owns the instance then). */
    if ((vs = vm->sch) == NULL || vm->inst == NULL || vs->ended) {
        pl_mutex_unlock(&vm->rt->lock);
        vmrt__free(t);
        return VMRT_ESTATE;
    }
    held = claim_locked(vm, vs);
    pl_mutex_unlock(&vm->rt->lock);
    if ((t->th = vmrt_thread_create(vm->inst)) == NULL) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    memset(&a, 0, sizeof(a));
    a.type = VMRT_I32;
    a.of.i32 = (int32_t)arg;
    rc = by_elem ? vmrt_thread_call_indirect(t->th, 0, fn, &a, 1)
                 : vmrt_thread_call(t->th, fn, &a, 1);
    if (rc != 0)
        goto fail;
    t->vm = vm;
    t->id = vmrt_thread_id(t->th);
    t->prio = prio < VMRT_PRIO_LEVELS ? prio : VMRT_PRIO_LEVELS - 1;
    t->irq = irq;
    t->state = VMRT__VT_RUNNABLE;
    vmrt_thread_set_user(t->th, t);

    pl_mutex_lock(&vm->rt->lock);
    for (pp = &vm->threads; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = t;
    /* vs is still vm->sch: vmrt__sched_remove waits for our claim. */
    if (vm->on_worker)
        atomic_store(&vs->resched, true);
    else
        vm_enqueue(vm->rt->sched, vm, false);
    unclaim_locked(vm, vs, held);
    pl_mutex_unlock(&vm->rt->lock);
    *out = t;
    return 0;
fail:
    if (t->th != NULL)
        vmrt_thread_free(t->th);
    pl_mutex_lock(&vm->rt->lock);
    unclaim_locked(vm, vs, held);
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__free(t);
    return rc;
}

int
vmrt__vthread_spawn_irq(vmrt_vm_t *vm, uint32_t elem, uint32_t irq,
                        uint32_t arg)
{
    vmsched_t *vs = vm->sch;

    if (vs == NULL)
        return VMRT_ESTATE;
    if (vs->nirq == IRQ_QUEUE)
        return VMRT_ELIMIT;
    vs->irqq[vs->nirq].elem = elem;
    vs->irqq[vs->nirq].irq = irq;
    vs->irqq[vs->nirq].arg = arg;
    vs->nirq++;
    if (vm->on_worker)
        atomic_store(&vs->resched, true);
    else
        vm_enqueue(vm->rt->sched, vm, false);
    return 0;
}

/*
 * irq_threads: on the VM's worker, make a handler thread for each pending
 * interrupt.  Lock held on entry and on return, dropped around the
 * engine.  A handler that cannot be made (out of memory, a bad table
 * element) is dropped and noted in last_error.
 */
static void
irq_threads(vmrt_vm_t *vm, vmsched_t *vs)
{
    vmrt_rt_t *rt = vm->rt;
    vmrt__vthread_t *made[IRQ_QUEUE], *t, **pp;
    uint32_t n = vs->nirq, i, k = 0;
    vmrt_val_t a[2];
    struct {
        uint32_t elem, irq, arg;
    } q[IRQ_QUEUE];
    int rc = 0;

    memcpy(q, vs->irqq, n * sizeof(q[0]));
    vs->nirq = 0;
    pl_mutex_unlock(&rt->lock);
    for (i = 0; i < n; i++) {
        if ((t = vmrt__calloc(1, sizeof(*t))) == NULL) {
            rc = VMRT_ENOMEM;
            continue;
        }
        if ((t->th = vmrt_thread_create(vm->inst)) == NULL) {
            vmrt__free(t);
            rc = VMRT_ENOMEM;
            continue;
        }
        memset(a, 0, sizeof(a));
        a[0].type = a[1].type = VMRT_I32;
        a[0].of.i32 = (int32_t)q[i].irq;
        a[1].of.i32 = (int32_t)q[i].arg;
        if ((rc = vmrt_thread_call_indirect(t->th, 0, q[i].elem, a, 2)) !=
            0) {
            vmrt_thread_free(t->th);
            vmrt__free(t);
            continue;
        }
        t->vm = vm;
        t->id = vmrt_thread_id(t->th);
        t->irq = true;
        t->state = VMRT__VT_RUNNABLE;
        vmrt_thread_set_user(t->th, t);
        made[k++] = t;
    }
    pl_mutex_lock(&rt->lock);
    for (pp = &vm->threads; *pp != NULL; pp = &(*pp)->next)
        ;
    for (i = 0; i < k; i++) {
        *pp = made[i];
        pp = &made[i]->next;
    }
    if (rc != 0)
        (void)snprintf(vm->last_error, sizeof(vm->last_error),
                       "interrupt handler: %s", vmrt_strerror(rc));
}

/*
 * pick_thread: the VM's next thread: a runnable interrupt handler first,
 * then the best thread priority, round-robin among equals (the first one
 * after the thread run last).  Lock held.  Return: NULL if none runnable.
 */
static vmrt__vthread_t *
pick_thread(vmrt_vm_t *vm)
{
    vmsched_t *vs = vm->sch;
    vmrt__vthread_t *t, *best = NULL;
    uint32_t i, rr_pos = UINT32_MAX, best_pos = 0, best_key = UINT32_MAX;

    for (t = vm->threads, i = 0; t != NULL; t = t->next, i++)
        if (t->id == vs->rr_id)
            rr_pos = i;
    for (t = vm->threads, i = 0; t != NULL; t = t->next, i++) {
        uint32_t key;

        if (t->state != VMRT__VT_RUNNABLE)
            continue;
        key = (t->irq ? 0u : 256u) + t->prio;
        if (key < best_key ||
            (key == best_key && best_pos <= rr_pos && i > rr_pos &&
             rr_pos != UINT32_MAX)) {
            best = t;
            best_key = key;
            best_pos = i;
        }
    }
    return best;
}

static bool
has_runnable(const vmrt_vm_t *vm)
{
    const vmrt__vthread_t *t;

    if (vm->sch != NULL && vm->sch->nirq != 0)
        return true;
    for (t = vm->threads; t != NULL; t = t->next)
        if (t->state == VMRT__VT_RUNNABLE)
            return true;
    return false;
}

/* The guest's shadow-stack pointer: the mutable i32 global exported as
 * "__stack_pointer", else global 0 if it is a mutable i32. */
static uint32_t
find_sp(vmrt_instance_t *inst)
{
    vmrt_extern_kind_t kind;
    uint32_t idx;
    vmrt_val_t v;

    if (vmrt_instance_find_export(inst, "__stack_pointer", &kind, &idx) !=
            0 ||
        kind != VMRT_EXTERN_GLOBAL)
        idx = 0;
    if (vmrt_instance_global_get(inst, idx, &v) != 0 || v.type != VMRT_I32)
        return SP_NONE;
    /* Setting the value it has is how we learn it is mutable. */
    if (vmrt_instance_global_set(inst, idx, &v) != 0)
        return SP_NONE;
    return idx;
}

/* On the worker, lock not held: make `t` the thread whose stack pointer
 * the guest global holds. */
static void
switch_to(vmrt_vm_t *vm, vmsched_t *vs, vmrt__vthread_t *t)
{
    vmrt_val_t v;

    if (!vs->sp_known) {
        vs->sp_idx = find_sp(vm->inst);
        vs->sp_known = true;
    }
    if (vmrt_thread_user(t->th) != t)
        vmrt_thread_set_user(t->th, t);
    if (vs->cur == t)
        return;
    if (vs->sp_idx != SP_NONE) {
        if (vs->cur != NULL &&
            vmrt_instance_global_get(vm->inst, vs->sp_idx, &v) == 0) {
            vs->cur->sp = (uint32_t)v.of.i32;
            vs->cur->sp_valid = true;
        }
        memset(&v, 0, sizeof(v));
        v.type = VMRT_I32;
        if (t->sp_valid || t->stack_top != 0) {
            v.of.i32 = (int32_t)(t->sp_valid ? t->sp : t->stack_top);
            (void)vmrt_instance_global_set(vm->inst, vs->sp_idx, &v);
        }
    }
    vs->cur = t;
}

/*
 * sp_sync: store the live __stack_pointer into the current thread's
 * record, so that every green thread's record holds its own value (a
 * snapshot saves the records; the global alone holds only the current
 * thread's).  The caller owns the instance.
 */
static void
sp_sync(vmrt_vm_t *vm, vmsched_t *vs)
{
    vmrt_val_t v;

    if (vm->inst == NULL || vs->cur == NULL)
        return;
    if (!vs->sp_known) {
        vs->sp_idx = find_sp(vm->inst);
        vs->sp_known = true;
    }
    if (vs->sp_idx != SP_NONE &&
        vmrt_instance_global_get(vm->inst, vs->sp_idx, &v) == 0) {
        vs->cur->sp = (uint32_t)v.of.i32;
        vs->cur->sp_valid = true;
    }
}

/* ---- workers ---------------------------------------------------------- */

static void irq_reap(vmrt_vm_t *vm, vmrt__vthread_t *t);

static void
chunk_adapt(worker_t *w, uint64_t used, uint64_t ns)
{
    uint64_t want;

    /* Too short to measure well (clock granularity, a host call). */
    if (ns < 5000 || used == 0)
        return;
    want = used * CHUNK_TARGET_NS / ns;
    want = (w->chunk_fuel * 3 + want) / 4;
    if (want < CHUNK_FUEL_MIN)
        want = CHUNK_FUEL_MIN;
    if (want > CHUNK_FUEL_MAX)
        want = CHUNK_FUEL_MAX;
    w->chunk_fuel = want;
}

/*
 * vm_leave: the worker lets go of `vm`, requeueing it if it can still run.
 * Lock held.
 */
static void
vm_leave(sched_t *s, vmrt_vm_t *vm, bool requeue, bool at_head)
{
    vmsched_t *vs = vm->sch;

    vm->on_worker = false;
    vs->worker_tid = 0;
    if (vs->parked || vs->hold != 0) {
        pl_cond_broadcast(&s->park_cond);
        return;
    }
    if (requeue && (has_runnable(vm) || vs->end_status != 0))
        vm_enqueue(s, vm, at_head);
    vm_timer_update(vm);
}

/*
 * vm_end: the VM's program is over (main thread ended, a thread trapped,
 * the watchdog fired): park it and tell vm.c, without the lock.  The
 * worker keeps owning the VM (on_worker) until vmrt__vm_ended returned, so
 * that a stop or restart, which waits for the worker to let go, cannot
 * finish before the report landed: a report thus never reaches the next
 * run.  The VM must not be touched after this returns (vm.c may restart
 * it).  Lock held on entry and on return.
 */
static void
vm_end(sched_t *s, vmrt_vm_t *vm, int status, const vmrt_trap_info_t *trap)
{
    vmsched_t *vs = vm->sch;
    vmrt__vthread_t *t;

    vs->parked = true;
    vs->ended = true;
    vs->end_status = 0;
    atomic_store(&vm->preempt, true);
    rq_remove(s, vm);
    vmrt__timer_cancel(vm->rt, &vs->timer);
    for (t = vm->threads; t != NULL; t = t->next)
        if (t->id == 0)
            t->state = VMRT__VT_DONE;
    pl_mutex_unlock(&s->rt->lock);
    /* The exit code is the WASI layer's (vmrt__vm_ended reads it while
     * this worker still owns the instance). */
    vmrt__vm_ended(vm, status, -1, trap);
    pl_mutex_lock(&s->rt->lock);
    vm->on_worker = false;
    vs->worker_tid = 0;
    pl_cond_broadcast(&s->park_cond);
}

/*
 * vm_run: run `vm` on worker w until it blocks, is parked or preempted,
 * its slice ends with an equal VM waiting, or it ends.  Lock held on entry
 * and on return; dropped around the engine.
 */
static void
vm_run(sched_t *s, worker_t *w, vmrt_vm_t *vm)
{
    vmrt_rt_t *rt = s->rt;
    vmsched_t *vs = vm->sch;
    uint32_t prio = vm_prio(vm);
    uint64_t slice_ns, slice_end, now;

    vm->on_worker = true;
    vs->worker_tid = pl_thread_self_id();
    slice_ns = (uint64_t)(vm->man.slice_us ? vm->man.slice_us
                                           : SLICE_DEFAULT_US) * 1000u;
    slice_end = pl_time_mono_ns() + slice_ns;
    for (;;) {
        vmrt__vthread_t *t;
        vmrt_trap_info_t trap;
        uint64_t used, t0, cpu = 0, msz;
        int st;

        if (vs->end_status != 0) {
            vm_end(s, vm, vs->end_status, NULL);
            return;
        }
        if (vs->parked || vs->hold != 0 || s->stop) {
            vm_leave(s, vm, true, true);
            return;
        }
        if (atomic_exchange(&vm->preempt, false)) {
            vm_leave(s, vm, true, false);
            return;
        }
        if (vs->nirq != 0) {
            irq_threads(vm, vs);
            continue;
        }
        if ((t = pick_thread(vm)) == NULL) {
            vm_leave(s, vm, false, false);
            return;
        }
        atomic_store(&vs->resched, false);
        pl_mutex_unlock(&rt->lock);

        switch_to(vm, vs, t);
        t0 = pl_time_mono_ns();
        for (;;) {
            st = vmrt_thread_run(t->th, w->chunk_fuel, &used);
            now = pl_time_mono_ns();
            cpu += now - t0;
            if (st != VMRT_RUN_YIELD)
                break;
            chunk_adapt(w, used, now - t0);
            t0 = now;
            if (now >= slice_end || atomic_load(&vm->preempt) ||
                atomic_load(&vs->resched) || waiting_best(s, w) < prio)
                break;
        }
        if (st == VMRT_RUN_TRAP)
            vmrt_thread_trap(t->th, &trap);
        msz = 0;
        (void)vmrt_instance_memory(vm->inst, &msz);

        pl_mutex_lock(&rt->lock);
        vm->cpu_ns += cpu;
        vm->mem_bytes = msz; /* for vmrt_vm_info, which must not ask */
        switch (st) {
        case VMRT_RUN_YIELD:
            if (waiting_best(s, w) < prio) {
                /* Preempted by a better VM: keep our place in line. */
                vm_leave(s, vm, true, true);
                return;
            }
            if (now >= slice_end) {
                vs->rr_id = t->id;
                if (waiting_best(s, w) <= prio) {
                    vm_leave(s, vm, true, false);
                    return;
                }
                slice_end = now + slice_ns;
            }
            break;
        case VMRT_RUN_BLOCKED:
            /* vmrt__block set the state (or a wake-up already undid it);
             * a host function that blocked without it is simply retried. */
            vs->rr_id = t->id;
            vm_timer_update(vm);
            break;
        case VMRT_RUN_DONE:
            if (t->id != 0) {
                t->state = VMRT__VT_DONE;
                vs->rr_id = t->id;
                if (vs->cur == t)
                    vs->cur = NULL;
                vmrt__wake(&t->joiners, UINT32_MAX);
                if (t->irq)
                    irq_reap(vm, t); /* nobody joins a handler */
                break;
            }
            vm_end(s, vm, st, NULL);
            return;
        case VMRT_RUN_TRAP:
            t->state = VMRT__VT_DONE;
            vm_end(s, vm, st, &trap);
            return;
        default: /* VMRT_RUN_EXIT, or a negative engine error */
            t->state = VMRT__VT_DONE;
            vm_end(s, vm, st, NULL);
            return;
        }
    }
}

/*
 * irq_reap: free a finished interrupt-handler thread.  On the VM's worker;
 * lock held on entry and on return, dropped around the engine.
 */
static void
irq_reap(vmrt_vm_t *vm, vmrt__vthread_t *t)
{
    vmrt__vthread_t **pp;

    for (pp = &vm->threads; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    waitq_unlink(t);
    pl_mutex_unlock(&vm->rt->lock);
    vmrt_thread_free(t->th);
    vmrt__free(t);
    pl_mutex_lock(&vm->rt->lock);
}

static void
worker_main(void *arg)
{
    worker_t *w = arg;
    sched_t *s = w->s;
    vmrt_vm_t *vm;

    pl_mutex_lock(&s->rt->lock);
    while (!s->stop) {
        if ((vm = rq_pick(s, w)) == NULL) {
            w->idle = true;
            pl_cond_wait(&w->cond, &s->rt->lock);
            w->idle = false;
            continue;
        }
        vm_run(s, w, vm);
    }
    pl_mutex_unlock(&s->rt->lock);
}

/* ---- VMs in and out of scheduling ----------------------------------- */

void
vmrt__sched_add(vmrt_vm_t *vm)
{
    sched_t *s = vm->rt->sched;
    vmsched_t *vs = vm->sch;
    vmrt__vthread_t *t;

    if (vs == NULL) {
        if ((vs = vmrt__calloc(1, sizeof(*vs))) == NULL) {
            /* Nothing to report through: the VM simply does not run. */
            (void)snprintf(vm->last_error, sizeof(vm->last_error),
                           "scheduler: out of memory");
            return;
        }
        vs->timer.fn = vm_timer_fire;
        vs->timer.arg = vm;
        vm->sch = vs;
    }
    vs->parked = false;
    vs->ended = false;
    vs->end_status = 0;
    vs->nirq = 0;
    atomic_store(&vs->resched, false);
    vs->rr_id = 0;
    vs->sp_known = false;
    vs->cur = NULL;
    /* A fresh run: the global holds the main thread's value.  A restored
     * one: every thread that ran has its own value in its record
     * (vmrt__sched_claim stored the current one before the save), so
     * nobody "owns" the global and switch_to loads the record. */
    for (t = vm->threads; t != NULL; t = t->next)
        if (t->id == 0 && !t->sp_valid)
            vs->cur = t;
    atomic_store(&vm->preempt, false);
    if (vm->man.watchdog_ms != 0 && vm->wdt_deadline_ns == 0)
        vm->wdt_deadline_ns =
            pl_time_mono_ns() + (uint64_t)vm->man.watchdog_ms * 1000000u;
    if (s == NULL)
        return;
    if (has_runnable(vm))
        vm_enqueue(s, vm, false);
    vm_timer_update(vm);
}

void
vmrt__sched_park(vmrt_vm_t *vm)
{
    sched_t *s = vm->rt->sched;
    vmsched_t *vs = vm->sch;

    if (vs == NULL || s == NULL)
        return;
    vs->parked = true;
    atomic_store(&vm->preempt, true);
    rq_remove(s, vm);
    vmrt__timer_cancel(vm->rt, &vs->timer);
    /* On its own worker (a host function of this VM parks it) there is
     * nothing to wait for: the worker sees `parked` after the call.  A
     * claim (a spawn from another thread) ends soon: wait for it too, so
     * the caller finds the instance idle. */
    while ((vm->on_worker && vs->worker_tid != pl_thread_self_id()) ||
           vs->claimed)
        pl_cond_wait(&s->park_cond, &vm->rt->lock);
}

void
vmrt__sched_unpark(vmrt_vm_t *vm)
{
    sched_t *s = vm->rt->sched;
    vmsched_t *vs = vm->sch;

    if (vs == NULL || s == NULL || !vs->parked)
        return;
    vs->parked = false;
    if (vs->hold == 0)
        atomic_store(&vm->preempt, false);
    if (has_runnable(vm) || vs->end_status != 0)
        vm_enqueue(s, vm, false);
    vm_timer_update(vm);
}

void
vmrt__sched_remove(vmrt_vm_t *vm)
{
    vmsched_t *vs = vm->sch;
    vmrt__vthread_t *t;

    for (t = vm->threads; t != NULL; t = t->next)
        waitq_unlink(t);
    if (vs == NULL)
        return;
    vmrt__sched_park(vm);
    /* Claimants hold a pointer to vs: let them finish (they may add a
     * thread, which the caller frees with the others). */
    while (vs->hold != 0 && vm->rt->sched != NULL)
        pl_cond_wait(&vm->rt->sched->park_cond, &vm->rt->lock);
    for (t = vm->threads; t != NULL; t = t->next)
        waitq_unlink(t);
    vmrt__timer_cancel(vm->rt, &vs->timer);
    vs->nirq = 0;
    vm->sch = NULL;
    vmrt__free(vs);
}

/* ---- create, start, destroy ----------------------------------------- */

int
vmrt__sched_create(vmrt_rt_t *rt)
{
    sched_t *s;
    uint32_t i, n;
    int rc;

    n = rt->cfg.workers ? rt->cfg.workers : (uint32_t)pl_cpu_count();
    if (n == 0)
        n = 1;
    if ((s = vmrt__calloc(1, sizeof(*s))) == NULL)
        return VMRT_ENOMEM;
    s->rt = rt;
    if ((s->w = vmrt__calloc(n, sizeof(*s->w))) == NULL) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    if (pl_cond_init(&s->park_cond) != 0) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    if (pl_cond_init(&s->timer_cond) != 0) {
        pl_cond_destroy(&s->park_cond);
        rc = VMRT_ENOMEM;
        goto fail;
    }
    for (i = 0; i < n; i++) {
        s->w[i].s = s;
        s->w[i].idx = i;
        s->w[i].chunk_fuel = CHUNK_FUEL_INIT;
        if (pl_cond_init(&s->w[i].cond) != 0) {
            rc = VMRT_ENOMEM;
            s->nworkers = i;
            goto fail_conds;
        }
    }
    s->nworkers = n;
    rt->sched = s;
    return 0;
fail_conds:
    for (i = 0; i < s->nworkers; i++)
        pl_cond_destroy(&s->w[i].cond);
    pl_cond_destroy(&s->timer_cond);
    pl_cond_destroy(&s->park_cond);
fail:
    vmrt__free(s->w);
    vmrt__free(s);
    return rc;
}

int
vmrt__sched_start(vmrt_rt_t *rt)
{
    sched_t *s = rt->sched;
    pl_thread_opts_t o;
    uint32_t i;
    int rc;

    if (s == NULL)
        return VMRT_ESTATE;
    memset(&o, 0, sizeof(o));
    o.name = "vmrt-timer";
    /* Its timed waits end the guests' sleeps: a positive prio asks the
     * port for exact wake-ups (on Linux, no 50 us timer slack). */
    o.prio = 1;
    if (!s->timer_started) {
        if ((rc = pl_thread_create(&s->timer_th, &o, timer_main, s)) != 0)
            return VMRT_ENOMEM;
        s->timer_started = true;
    }
    o.name = "vmrt-worker";
    o.prio = 0;
    for (i = 0; i < s->nworkers; i++) {
        if (s->w[i].started)
            continue;
        rc = pl_thread_create(&s->w[i].th, &o, worker_main, &s->w[i]);
        if (rc != 0)
            return VMRT_ENOMEM; /* destroy joins the ones started */
        s->w[i].started = true;
    }
    return 0;
}

void
vmrt__sched_destroy(vmrt_rt_t *rt)
{
    sched_t *s = rt->sched;
    vmrt_vm_t *vm;
    uint32_t i;

    if (s == NULL)
        return;
    pl_mutex_lock(&rt->lock);
    s->stop = true;
    for (i = 0; i < s->nworkers; i++)
        pl_cond_signal(&s->w[i].cond);
    pl_cond_signal(&s->timer_cond);
    pl_mutex_unlock(&rt->lock);
    for (i = 0; i < s->nworkers; i++)
        if (s->w[i].started)
            (void)pl_thread_join(&s->w[i].th);
    if (s->timer_started)
        (void)pl_thread_join(&s->timer_th);
    /* VMs still known: forget them (vm.c normally removed them). */
    pl_mutex_lock(&rt->lock);
    for (vm = rt->vms; vm != NULL; vm = vm->next) {
        vm->queued = false;
        vm->on_worker = false;
        if (vm->sch != NULL) {
            vmrt__timer_cancel(rt, &vm->sch->timer);
            vmrt__free(vm->sch);
            vm->sch = NULL;
        }
    }
    pl_mutex_unlock(&rt->lock);
    for (i = 0; i < s->nworkers; i++)
        pl_cond_destroy(&s->w[i].cond);
    pl_cond_destroy(&s->timer_cond);
    pl_cond_destroy(&s->park_cond);
    rt->sched = NULL;
    vmrt__free(s->heap);
    vmrt__free(s->w);
    vmrt__free(s);
}
