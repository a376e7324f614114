/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vos subsystem: the core of the vOS API that VM programs import as
 * module "vos" (sdk/include/vos.h, docs/vos-api.md): handles and close,
 * threads, time, logs, watchdog, power and OTA confirmation here; sync
 * objects and timers in sync.c; configuration in config.c; the handle
 * table in handles.c.  Devices, IPC and sockets are other subsystems.
 *
 * Timer dispatch: a vOS timer fires on the scheduler's timer thread with
 * rt->lock held, where no green thread may be spawned (spawning takes the
 * lock and touches the engine).  The firing is queued for one
 * runtime-wide dispatcher thread, which spawns fn(arg) as a new
 * priority-0 green thread of the VM without the lock.  vm_fini waits out
 * a dispatch in progress for its VM.
 */

#include <string.h>

#include "engine/module.h"
#include "engine/reader.h"
#include "vos/vos_internal.h"

#define LOCK(vm) pl_mutex_lock(&(vm)->rt->lock)
#define UNLOCK(vm) pl_mutex_unlock(&(vm)->rt->lock)

/* Version of the 'VOS ' snapshot section. */
#define VOS_SNAP_VERSION 1u

/* ---- helpers ---------------------------------------------------------- */

void *
vmrt__vos_mem(vmrt_instance_t *inst, uint32_t ptr, uint32_t len)
{
    uint64_t size = 0;
    uint8_t *base = vmrt_instance_memory(inst, &size);

    if (base == NULL || (uint64_t)ptr + len > size)
        return NULL;
    return base + ptr;
}

uint64_t
vmrt__vos_timeout_ns(uint32_t timeout_ms)
{
    return timeout_ms == VOS_FOREVER ? UINT64_MAX
                                     : (uint64_t)timeout_ms * 1000000u;
}

static int
done(vmrt__vthread_t *t, uint64_t *res, int v)
{
    if (t != NULL)
        vmrt__wait_end(t);
    res[0] = (uint64_t)(uint32_t)v;
    return 0;
}

/*
 * spawn: vmrt__vthread_spawn for vos_thread_create and timer firings.
 * They run on different OS threads (a worker, the dispatcher); the core
 * serializes every spawn into a VM with its worker and other spawners
 * (vm_internal.h, "Instance ownership").  No lock of ours may be held
 * around it: the dispatcher waits there for the VM's worker to let go,
 * and that worker may itself be about to spawn.  Lock (rt->lock) not
 * held.
 */
static int
spawn(vmrt_vm_t *vm, uint32_t fn, uint32_t arg, uint8_t prio,
      vmrt__vthread_t **out)
{
    return vmrt__vthread_spawn(vm, true, fn, arg, prio, false, out);
}

/* ---- handles ---------------------------------------------------------- */

static int
h_close(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
        uint64_t *res)
{
    (void)inst;
    return done(NULL, res, vmrt__handle_close(ctx, (int)(uint32_t)args[0]));
}

/* ---- threads ---------------------------------------------------------- */

static vmrt__vthread_t *
thread_find(vmrt_vm_t *vm, uint32_t id)
{
    vmrt__vthread_t *t;

    for (t = vm->threads; t != NULL; t = t->next)
        if (t->id == id)
            return t;
    return NULL;
}

static void
thread_close(vmrt_vm_t *vm, void *obj)
{
    (void)vm;
    vmrt__free(obj);
}

/* The smallest stack vos_thread_create accepts. */
#define STACK_MIN 256u

static int
h_thread_create(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    uint32_t entry = (uint32_t)args[0], arg = (uint32_t)args[1];
    int32_t prio = (int32_t)(uint32_t)args[2];
    uint32_t stack = (uint32_t)args[3], size = (uint32_t)args[4];
    vos__thread_t *th;
    vmrt__vthread_t *vt = NULL;
    int h, rc;

    (void)inst;
    if (entry == 0 || prio < 0 || prio >= VMRT_PRIO_LEVELS ||
        size < STACK_MIN)
        return done(NULL, res, VOS_EINVAL);
    if (vmrt__vos_mem(inst, stack, size) == NULL)
        return done(NULL, res, VOS_EFAULT);
    if ((th = vmrt__calloc(1, sizeof(*th))) == NULL)
        return done(NULL, res, VOS_ENOMEM);
    if ((h = vmrt__handle_alloc(vm, VMRT__H_THREAD, th, thread_close)) < 0) {
        vmrt__free(th);
        return done(NULL, res, h);
    }
    rc = spawn(vm, entry, arg, (uint8_t)prio, &vt);
    if (rc != 0 || vt == NULL) {
        (void)vmrt__handle_close(vm, h);
        return done(NULL, res,
                    rc == VMRT_ENOTFOUND || rc == VMRT_ETYPE ? VOS_EINVAL
                                                             : VOS_ENOMEM);
    }
    th->id = vt->id;
    /* The shadow stack grows down from the top, 16-byte aligned (the
     * wasm32 C ABI).  The scheduler installs it before the thread runs:
     * this VM is on this worker until this host call returns. */
    vt->stack_top = (stack + size) & ~15u;
    return done(NULL, res, h);
}

static int
h_thread_join(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst), *target;
    int h = (int)(uint32_t)args[0];
    uint32_t tmo = (uint32_t)args[1];
    vos__thread_t *th;
    vmrt__wake_t w = t != NULL ? vmrt__woken(t) : VMRT__WAKE_NONE;
    uint64_t dl;
    int rc, err;

    if (w == VMRT__WAKE_ABORTED)
        return done(t, res, VOS_ECLOSED);
    if ((th = vmrt__handle_get(vm, h, VMRT__H_THREAD)) == NULL)
        return done(t, res, VOS_EBADF);
    if (t != NULL && th->id == t->id)
        return done(t, res, VOS_EINVAL); /* joining itself */
    LOCK(vm);
    target = thread_find(vm, th->id);
    if (target == NULL || target->state == VMRT__VT_DONE) {
        UNLOCK(vm);
        (void)vmrt__handle_close(vm, h);
        return done(t, res, 0);
    }
    if (t == NULL || tmo == VOS_NO_WAIT) {
        err = VOS_EAGAIN;
    } else if (w == VMRT__WAKE_TIMEOUT) {
        err = VOS_ETIMEDOUT;
    } else {
        dl = vmrt__deadline(t, vmrt__vos_timeout_ns(tmo));
        rc = vmrt__block(t, &target->joiners, dl);
        UNLOCK(vm);
        return rc;
    }
    UNLOCK(vm);
    return done(t, res, err);
}

/* The caller's thread handle, or 0 if it has none (the main thread, timer
 * and interrupt handler threads). */
static int
h_thread_self(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *res)
{
    vmrt__vthread_t *t = vmrt__self(inst);
    void *obj;
    int h = 0;

    (void)args;
    if (t != NULL)
        while ((h = vmrt__handle_next(ctx, h, VMRT__H_THREAD, &obj)) > 0)
            if (((vos__thread_t *)obj)->id == t->id)
                break;
    return done(NULL, res, h);
}

/*
 * yield: let the VM's other runnable threads (and other VMs) run.  It
 * blocks with a deadline that has already passed, so the thread goes back
 * to the end of its priority's round-robin at once.
 */
static int
h_yield(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
        uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    int rc;

    (void)args;
    (void)res;
    if (t == NULL)
        return 0;
    if (vmrt__woken(t) != VMRT__WAKE_NONE) {
        vmrt__wait_end(t);
        return 0;
    }
    LOCK(vm);
    rc = vmrt__block(t, NULL, vmrt__deadline(t, 1));
    UNLOCK(vm);
    return rc;
}

/* ---- time ------------------------------------------------------------- */

static int
h_sleep_us(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t = vmrt__self(inst);
    uint64_t us = args[0], ns, dl;
    int rc;

    if (us == 0 || t == NULL)
        return done(t, res, 0);
    ns = us > UINT64_MAX / 1000u ? UINT64_MAX : us * 1000u;
    dl = vmrt__deadline(t, ns);
    /* Done when the deadline passed; any other wake-up (e.g. after a
     * restore) sleeps again until the same deadline. */
    if (vmrt__woken(t) == VMRT__WAKE_TIMEOUT ||
        (dl != 0 && pl_time_mono_ns() >= dl))
        return done(t, res, 0);
    LOCK(vm);
    rc = vmrt__block(t, NULL, dl);
    UNLOCK(vm);
    return rc;
}

static int
h_time_mono_us(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    (void)inst;
    (void)ctx;
    (void)args;
    res[0] = pl_time_mono_ns() / 1000u;
    return 0;
}

static int
h_time_real_us(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *res)
{
    (void)inst;
    (void)ctx;
    (void)args;
    res[0] = pl_time_real_ns() / 1000u;
    return 0;
}

/* ---- log, watchdog, power, OTA ----------------------------------------- */

static int
h_log(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
      uint64_t *res)
{
    static const char *const prefix[8] = {
        "[EMERG] ", "[ALERT] ", "[CRIT] ", "[ERR] ",
        "[WARN] ", "[NOTICE] ", "[INFO] ", "[DEBUG] "
    };
    int32_t level = (int32_t)(uint32_t)args[0];
    uint32_t len = (uint32_t)args[2];
    char line[VOS__LOG_MAX + 16];
    const char *msg;
    size_t n;

    if (level < 0 || level > 7)
        return done(NULL, res, VOS_EINVAL);
    if ((msg = vmrt__vos_mem(inst, (uint32_t)args[1], len)) == NULL)
        return done(NULL, res, VOS_EFAULT);
    if (len > VOS__LOG_MAX)
        len = VOS__LOG_MAX; /* the ring is small: long texts are cut */
    n = strlen(prefix[level]);
    memcpy(line, prefix[level], n);
    memcpy(line + n, msg, len);
    n += len;
    if (len == 0 || msg[len - 1] != '\n')
        line[n++] = '\n';
    vmrt__log_append(ctx, line, n);
    return done(NULL, res, 0);
}

static int
h_wdt_kick(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    vmrt_vm_t *vm = ctx;

    (void)inst;
    (void)args;
    LOCK(vm);
    if (vm->man.watchdog_ms != 0)
        vm->wdt_deadline_ns =
            pl_time_mono_ns() + (uint64_t)vm->man.watchdog_ms * 1000000u;
    UNLOCK(vm);
    return done(NULL, res, 0);
}

static int
h_power_event(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    int ev;

    (void)inst;
    (void)args;
    LOCK(vm);
    ev = vm->power_event;
    UNLOCK(vm);
    return done(NULL, res, ev);
}

static int
h_power_ack(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    int ev = (int)(uint32_t)args[0], rc = 0;

    (void)inst;
    LOCK(vm);
    if (vm->power_event == 0 || ev != vm->power_event)
        rc = VOS_EINVAL;
    else
        vm->power_acked = true;
    UNLOCK(vm);
    return done(NULL, res, rc);
}

static int
h_ota_confirm(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *res)
{
    vmrt_vm_t *vm = ctx;

    (void)inst;
    (void)args;
    LOCK(vm);
    vm->ota_confirmed = true;
    UNLOCK(vm);
    return done(NULL, res, 0);
}

const vmrt__vos_fn_t vmrt__vos_core_fns[] = {
    { "close", "(i)i", h_close },
    { "thread_create", "(iiiii)i", h_thread_create },
    { "thread_join", "(ii)i", h_thread_join },
    { "thread_self", "()i", h_thread_self },
    { "yield", "()", h_yield },
    { "sleep_us", "(I)i", h_sleep_us },
    { "time_mono_us", "()I", h_time_mono_us },
    { "time_real_us", "()I", h_time_real_us },
    { "log", "(iii)i", h_log },
    { "wdt_kick", "()i", h_wdt_kick },
    { "power_event", "()i", h_power_event },
    { "power_ack", "(i)i", h_power_ack },
    { "ota_confirm", "()i", h_ota_confirm },
    { NULL, NULL, NULL }
};

static const vmrt__vos_fn_t *const fn_tables[] = {
    vmrt__vos_core_fns, vmrt__vos_sync_fns, vmrt__vos_cfg_fns
};

vmrt_host_fn_t
vmrt__vos_fn(const char *name)
{
    const vmrt__vos_fn_t *f;
    size_t i;

    for (i = 0; i < sizeof(fn_tables) / sizeof(fn_tables[0]); i++)
        for (f = fn_tables[i]; f->name != NULL; f++)
            if (strcmp(f->name, name) == 0)
                return f->fn;
    return NULL;
}

/* ---- timer dispatcher ------------------------------------------------- */

/* With rt->lock held. */
void
vmrt__vos_dispatch_push(vmrt_rt_t *rt, vos__timer_t *tm)
{
    vos__rt_t *d = rt->sub[VMRT__SUB_VOS];

    if (d == NULL || tm->queued)
        return;
    tm->queued = true;
    tm->dnext = NULL;
    if (d->tail != NULL)
        d->tail->dnext = tm;
    else
        d->head = tm;
    d->tail = tm;
    pl_cond_broadcast(&d->cond);
}

/* With rt->lock held: take tm off the dispatcher's list. */
void
vmrt__vos_dispatch_forget(vmrt_rt_t *rt, vos__timer_t *tm)
{
    vos__rt_t *d = rt->sub[VMRT__SUB_VOS];
    vos__timer_t **pp, *prev = NULL;

    if (d == NULL || !tm->queued)
        return;
    for (pp = &d->head; *pp != NULL; prev = *pp, pp = &(*pp)->dnext) {
        if (*pp == tm) {
            *pp = tm->dnext;
            if (d->tail == tm)
                d->tail = prev;
            break;
        }
    }
    tm->queued = false;
    tm->dnext = NULL;
}

static void
dispatcher(void *arg)
{
    vmrt_rt_t *rt = arg;
    vos__rt_t *d = rt->sub[VMRT__SUB_VOS];
    vos__timer_t *tm;
    vos__vm_t *st;
    vmrt_vm_t *vm;
    vmrt__vthread_t *vt;
    uint32_t n, fn, targ, i;

    pl_mutex_lock(&rt->lock);
    while (!d->stop) {
        if ((tm = d->head) == NULL) {
            pl_cond_wait(&d->cond, &rt->lock);
            continue;
        }
        vmrt__vos_dispatch_forget(rt, tm);
        vm = tm->vm;
        st = vm->sub[VMRT__SUB_VOS];
        n = tm->pending;
        tm->pending = 0;
        if (st == NULL || st->dying || n == 0)
            continue;
        /* Copy what the spawn needs: the timer may be closed meanwhile,
         * but the VM stays until vm_fini has seen dispatching drop. */
        fn = tm->fn;
        targ = tm->arg;
        st->dispatching++;
        pl_mutex_unlock(&rt->lock);
        for (i = 0; i < n; i++)
            if (spawn(vm, fn, targ, 0, &vt) != 0)
                break;
        pl_mutex_lock(&rt->lock);
        st->dispatching--;
        pl_cond_broadcast(&d->cond);
    }
    pl_mutex_unlock(&rt->lock);
}

static int
vos_rt_init(vmrt_rt_t *rt)
{
    pl_thread_opts_t o = { 0, 1, "vos-timers" };
    vos__rt_t *d;
    int rc;

    if ((d = vmrt__calloc(1, sizeof(*d))) == NULL)
        return VMRT_ENOMEM;
    if ((rc = pl_cond_init(&d->cond)) != 0)
        goto fail;
    if ((rc = pl_mutex_init(&d->spawn_lock)) != 0) {
        pl_cond_destroy(&d->cond);
        goto fail;
    }
    rt->sub[VMRT__SUB_VOS] = d;
    if ((rc = pl_thread_create(&d->thread, &o, dispatcher, rt)) != 0) {
        rt->sub[VMRT__SUB_VOS] = NULL;
        pl_mutex_destroy(&d->spawn_lock);
        pl_cond_destroy(&d->cond);
        goto fail;
    }
    d->running = true;
    return 0;
fail:
    vmrt__free(d);
    return rc == PL_ENOMEM ? VMRT_ENOMEM : VMRT_EIO;
}

static void
vos_rt_fini(vmrt_rt_t *rt)
{
    vos__rt_t *d = rt->sub[VMRT__SUB_VOS];

    if (d == NULL)
        return;
    pl_mutex_lock(&rt->lock);
    d->stop = true;
    pl_cond_broadcast(&d->cond);
    pl_mutex_unlock(&rt->lock);
    if (d->running)
        (void)pl_thread_join(&d->thread);
    pl_mutex_destroy(&d->spawn_lock);
    pl_cond_destroy(&d->cond);
    rt->sub[VMRT__SUB_VOS] = NULL;
    vmrt__free(d);
}

/* ---- per VM ----------------------------------------------------------- */

static int
vos_vm_init(vmrt_vm_t *vm)
{
    vos__vm_t *st;

    if ((st = vmrt__vos_state(vm)) == NULL)
        return VMRT_ENOMEM;
    st->dying = false;
    if (!st->cfg_loaded)
        return vmrt__vos_cfg_load(vm, st);
    return 0;
}

static int
vos_link(vmrt_vm_t *vm, vmrt_linker_t *lk)
{
    size_t i;
    int rc;

    for (i = 0; i < sizeof(fn_tables) / sizeof(fn_tables[0]); i++)
        if ((rc = vmrt__link_vos(lk, fn_tables[i], vm)) != 0)
            return rc;
    return 0;
}

static void
vos_vm_fini(vmrt_vm_t *vm)
{
    vos__vm_t *st = vm->sub[VMRT__SUB_VOS];
    vos__rt_t *d = vm->rt->sub[VMRT__SUB_VOS];
    vos__timer_t *tm;
    void *obj;
    int h = 0;

    if (st == NULL)
        return;
    /* Stop the timers first, then wait out a spawn in progress. */
    LOCK(vm);
    st->dying = true;
    while ((h = vmrt__handle_next(vm, h, VMRT__H_TIMER, &obj)) > 0) {
        tm = obj;
        if (tm->t.armed)
            vmrt__timer_cancel(vm->rt, &tm->t);
        vmrt__vos_dispatch_forget(vm->rt, tm);
    }
    while (d != NULL && st->dispatching > 0)
        pl_cond_wait(&d->cond, &vm->rt->lock);
    UNLOCK(vm);
    /* Every handle left (other subsystems closed theirs in their own
     * vm_fini, which runs before this one); close functions wake
     * waiters with VMRT__WAKE_ABORTED. */
    vmrt__handle_close_type(vm, VMRT__H_NONE);
    vmrt__vos_cfg_free(st);
    vmrt__free(st->htab);
    vmrt__free(st);
    vm->sub[VMRT__SUB_VOS] = NULL;
}

/*
 * Snapshot section 'VOS ': u32 version, then sync.c's object records.
 * The configuration is not in it: it is on disk already.
 */
static int
vos_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w)
{
    uint8_t v[4] = { VOS_SNAP_VERSION, 0, 0, 0 };
    int rc;

    if ((rc = vmrt_snap_write(w, v, sizeof(v))) != 0)
        return rc;
    return vmrt__vos_sync_save(vm, w);
}

static int
vos_load(vmrt_vm_t *vm, const uint8_t *data, size_t len)
{
    vmrt__reader_t rd;
    size_t used = 0;

    vmrt__rd_init(&rd, data, data, data + len);
    if (vmrt__rd_fixed32(&rd) != VOS_SNAP_VERSION || rd.err != NULL)
        return VMRT_ECORRUPT;
    if (vmrt__vos_state(vm) == NULL)
        return VMRT_ENOMEM;
    return vmrt__vos_sync_load(vm, rd.p, vmrt__rd_left(&rd), &used);
}

const vmrt__subsys_t vmrt__sub_vos = {
    .name = "vos",
    .snap_tag = VMRT_SNAP_TAG('V', 'O', 'S', ' '),
    .rt_init = vos_rt_init,
    .rt_fini = vos_rt_fini,
    .vm_init = vos_vm_init,
    .link = vos_link,
    .vm_fini = vos_vm_fini,
    .save = vos_save,
    .load = vos_load,
};
