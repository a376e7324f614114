/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The runtime object: subsystems, the reaper thread that applies restart
 * policies, event subscribers and power events.  VM lifecycle is vm.c; the
 * scheduler is sched.c.
 */

#include <stdio.h>
#include <string.h>

#include "engine/module.h"
#include "vm/core.h"

/* VOS_IRQ_POWER and VOS_POWER_* of sdk/include/vos.h (guest header). */
#define POWER_IRQ 0u

const vmrt__subsys_t *const vmrt__subsys[VMRT__SUB_MAX] = {
    [VMRT__SUB_VOS] = &vmrt__sub_vos,
    [VMRT__SUB_DEV] = &vmrt__sub_dev,
    [VMRT__SUB_IPC] = &vmrt__sub_ipc,
    [VMRT__SUB_VFS] = &vmrt__sub_vfs,
    [VMRT__SUB_NET] = &vmrt__sub_net,
};

/*
 * Until the dev subsystem provides interrupts, raising one fails: power
 * events then go unacknowledged and the deadline applies.  The dev
 * subsystem's strong definition replaces this one at link time.
 */
__attribute__((weak)) int
vmrt__irq_raise(vmrt_vm_t *vm, uint32_t irq)
{
    (void)vm;
    (void)irq;
    return VMRT_ENOTFOUND;
}

/* The reaper: applies restart policies outside the workers' and the timer
 * thread's context, since that needs the ops lock and engine calls. */
static void
reaper_main(void *arg)
{
    vmrt__vm_reap(arg);
}

int
vmrt_rt_create(const vmrt_rt_config_t *cfg, vmrt_rt_t **out, char *err,
               size_t errlen)
{
    struct vmrt__rtext *x = NULL;
    vmrt_rt_t *rt;
    pl_thread_opts_t topts;
    int inited = 0, i, rc;
    bool lock = false, ops = false, ev = false, cond = false, sched = false;

    *out = NULL;
    if ((rt = vmrt__calloc(1, sizeof(*rt))) == NULL ||
        (x = vmrt__calloc(1, sizeof(*x))) == NULL) {
        vmrt__free(rt);
        vmrt__err(err, errlen, "out of memory");
        return VMRT_ENOMEM;
    }
    rt->ext = x;
    rt->cfg = *cfg;
    if (rt->cfg.log_ring_bytes == 0)
        rt->cfg.log_ring_bytes = 16 * 1024;
    if (rt->cfg.socket[0] == '\0' && rt->cfg.state_dir[0] != '\0')
        snprintf(rt->cfg.socket, sizeof(rt->cfg.socket), "%.*s/vmrt.sock",
                 VMRT_PATH_MAX - 11, rt->cfg.state_dir);
    rc = VMRT_ENOMEM;
    if (pl_mutex_init(&rt->lock) != 0)
        goto fail;
    lock = true;
    if (pl_mutex_init(&x->ops) != 0)
        goto fail;
    ops = true;
    if (pl_mutex_init(&x->ev_lock) != 0)
        goto fail;
    ev = true;
    if (pl_cond_init(&x->reap_cond) != 0)
        goto fail;
    cond = true;
    if (rt->cfg.state_dir[0] != '\0' &&
        pl_fs_mkdir_p(rt->cfg.state_dir, 0700) != 0) {
        vmrt__err(err, errlen, "state_dir %s: cannot create",
                  rt->cfg.state_dir);
        rc = VMRT_EIO;
        goto fail;
    }
    if ((rc = vmrt__sched_create(rt)) != 0) {
        vmrt__err(err, errlen, "scheduler: %s", vmrt_strerror(rc));
        goto fail;
    }
    sched = true;
    for (inited = 0; inited < VMRT__SUB_MAX; inited++) {
        const vmrt__subsys_t *s = vmrt__subsys[inited];

        if (s->rt_init != NULL && (rc = s->rt_init(rt)) != 0) {
            vmrt__err(err, errlen, "subsystem %s: %s", s->name,
                      vmrt_strerror(rc));
            goto fail;
        }
    }
    if ((rc = vmrt__vm_reload_all(rt, err, errlen)) != 0)
        goto fail;
    memset(&topts, 0, sizeof(topts));
    topts.name = "vmrt-reaper";
    if ((rc = pl_thread_create(&x->reaper, &topts, reaper_main, rt)) != 0) {
        vmrt__err(err, errlen, "reaper thread: %s", pl_strerror(rc));
        rc = VMRT_ENOMEM;
        goto fail;
    }
    x->reaper_up = true;
    *out = rt;
    return 0;
fail:
    vmrt__vm_free_all(rt);
    for (i = inited - 1; i >= 0; i--)
        if (vmrt__subsys[i]->rt_fini != NULL)
            vmrt__subsys[i]->rt_fini(rt);
    if (sched)
        vmrt__sched_destroy(rt);
    if (cond)
        pl_cond_destroy(&x->reap_cond);
    if (ev)
        pl_mutex_destroy(&x->ev_lock);
    if (ops)
        pl_mutex_destroy(&x->ops);
    if (lock)
        pl_mutex_destroy(&rt->lock);
    vmrt__free(x);
    vmrt__free(rt);
    return rc;
}

int
vmrt_rt_start(vmrt_rt_t *rt)
{
    int rc;

    pl_mutex_lock(&rt->ext->ops);
    if (rt->ext->started) {
        pl_mutex_unlock(&rt->ext->ops);
        return VMRT_ESTATE;
    }
    if ((rc = vmrt__sched_start(rt)) == 0) {
        rt->ext->started = true;
        rc = vmrt__vm_boot_all(rt);
    }
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

void
vmrt_rt_destroy(vmrt_rt_t *rt)
{
    struct vmrt__rtext *x;
    int i;

    if (rt == NULL)
        return;
    x = rt->ext;
    pl_mutex_lock(&x->ops);
    /* Read under ops (lifecycle code) or rt->lock (the reaper's loop):
     * written under both. */
    pl_mutex_lock(&rt->lock);
    x->destroying = true;
    pl_mutex_unlock(&rt->lock);
    vmrt__vm_shutdown_all(rt);
    pl_mutex_unlock(&x->ops);

    pl_mutex_lock(&rt->lock);
    x->quit = true;
    pl_cond_broadcast(&x->reap_cond);
    pl_mutex_unlock(&rt->lock);
    if (x->reaper_up)
        pl_thread_join(&x->reaper);

    vmrt__sched_destroy(rt);
    for (i = VMRT__SUB_MAX - 1; i >= 0; i--)
        if (vmrt__subsys[i]->rt_fini != NULL)
            vmrt__subsys[i]->rt_fini(rt);
    vmrt__vm_free_all(rt);
    pl_cond_destroy(&x->reap_cond);
    pl_mutex_destroy(&x->ev_lock);
    pl_mutex_destroy(&x->ops);
    pl_mutex_destroy(&rt->lock);
    vmrt__free(x);
    vmrt__free(rt);
}

/* ---- events ----------------------------------------------------------- */

int
vmrt_rt_subscribe(vmrt_rt_t *rt, vmrt_event_fn_t fn, void *arg)
{
    struct vmrt__rtext *x = rt->ext;
    int rc = 0;

    if (fn == NULL)
        return VMRT_EINVAL;
    pl_mutex_lock(&x->ev_lock);
    if (x->nsubs == VMRT__MAX_SUBSCRIBERS)
        rc = VMRT_ELIMIT;
    else {
        x->subs[x->nsubs].fn = fn;
        x->subs[x->nsubs].arg = arg;
        x->nsubs++;
    }
    pl_mutex_unlock(&x->ev_lock);
    return rc;
}

void
vmrt__event(vmrt_rt_t *rt, vmrt_event_kind_t kind, vmrt_vm_t *vm,
            const char *detail)
{
    struct vmrt__rtext *x = rt->ext;
    vmrt_event_t ev;
    uint32_t i;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    if (vm != NULL) {
        vmrt__strcpy(ev.vm, sizeof(ev.vm), vm->man.name);
        ev.state = vm->state;
    }
    if (detail != NULL)
        vmrt__strcpy(ev.detail, sizeof(ev.detail), detail);
    ev.time_ms = pl_time_real_ns() / 1000000u;
    pl_mutex_lock(&x->ev_lock);
    for (i = 0; i < x->nsubs; i++)
        x->subs[i].fn(x->subs[i].arg, &ev);
    pl_mutex_unlock(&x->ev_lock);
}

/* ---- power ------------------------------------------------------------ */

static const char *
power_str(vmrt_power_t ev)
{
    switch (ev) {
    case VMRT_POWER_SUSPEND_ALL:
        return "suspend-all";
    case VMRT_POWER_RESUME_ALL:
        return "resume-all";
    case VMRT_POWER_SHUTDOWN:
        return "shutdown";
    }
    return "?";
}

/*
 * notify: deliver power event `ev` to `vm` and wait until it acknowledges
 * or the deadline passes.  Ops held, rt->lock not.
 * Return: true if it acknowledged in time.
 */
static bool
notify(vmrt_vm_t *vm, vmrt_power_t ev, uint32_t deadline_ms)
{
    vmrt_rt_t *rt = vm->rt;
    uint64_t until = pl_time_mono_ns() + (uint64_t)deadline_ms * 1000000u;
    bool acked;
    int rc;

    pl_mutex_lock(&rt->lock);
    vm->power_event = (int)ev;
    vm->power_acked = false;
    rc = vmrt__irq_raise(vm, POWER_IRQ);
    pl_mutex_unlock(&rt->lock);
    if (rc != 0)
        return false; /* no handler attached: nobody can acknowledge */
    for (;;) {
        pl_mutex_lock(&rt->lock);
        acked = vm->power_acked;
        pl_mutex_unlock(&rt->lock);
        if (acked || pl_time_mono_ns() >= until)
            break;
        pl_sleep_ns(500000);
    }
    pl_mutex_lock(&rt->lock);
    vm->power_event = 0;
    pl_mutex_unlock(&rt->lock);
    return acked;
}

static void
append(char *buf, size_t cap, const char *name)
{
    size_t n = strlen(buf);

    if (n + strlen(name) + 2 < cap)
        snprintf(buf + n, cap - n, "%s%s", n > 0 ? "," : "", name);
}

int
vmrt_rt_power(vmrt_rt_t *rt, vmrt_power_t ev, uint32_t deadline_ms,
              char *err, size_t errlen)
{
    vmrt_vm_t *order[256], *vm;
    uint32_t n = 0, i, j;
    char acked[40] = "", late[40] = "", detail[128];
    int rc = 0;

    if (ev != VMRT_POWER_SUSPEND_ALL && ev != VMRT_POWER_RESUME_ALL &&
        ev != VMRT_POWER_SHUTDOWN) {
        vmrt__err(err, errlen, "unknown power event %d", (int)ev);
        return VMRT_EINVAL;
    }
    pl_mutex_lock(&rt->ext->ops);
    pl_mutex_lock(&rt->lock);
    /* The VMs it concerns, highest priority first, creation order among
     * equals (insertion sort keeps it stable). */
    for (vm = rt->vms; vm != NULL && n < 256; vm = vm->next) {
        bool take = ev == VMRT_POWER_RESUME_ALL
                        ? vm->state == VMRT_VM_SUSPENDED
                        : vm->state == VMRT_VM_RUNNING ||
                              (ev == VMRT_POWER_SHUTDOWN &&
                               vm->state == VMRT_VM_SUSPENDED);
        if (!take)
            continue;
        for (j = n; j > 0 && order[j - 1]->man.priority > vm->man.priority;
             j--)
            order[j] = order[j - 1];
        order[j] = vm;
        n++;
    }
    pl_mutex_unlock(&rt->lock);
    for (i = 0; i < n; i++) {
        bool ok;
        int r;

        vm = order[i];
        if (ev == VMRT_POWER_RESUME_ALL) {
            /* It must run to see the event. */
            if ((r = vmrt__vm_resume_op(vm, NULL, 0)) != 0 && rc == 0)
                rc = r;
            ok = notify(vm, ev, deadline_ms);
        } else {
            ok = vm->state == VMRT_VM_RUNNING && notify(vm, ev, deadline_ms);
            if (ev == VMRT_POWER_SUSPEND_ALL)
                r = vmrt__vm_suspend_op(vm, NULL, 0);
            else
                r = vmrt__vm_stop_locked(vm, true);
            if (r != 0 && rc == 0)
                rc = r;
        }
        append(ok ? acked : late, ok ? sizeof(acked) : sizeof(late),
               vm->man.name);
    }
    pl_mutex_unlock(&rt->ext->ops);
    snprintf(detail, sizeof(detail), "%s: acked [%s] late [%s]",
             power_str(ev), acked, late);
    vmrt__event(rt, VMRT_EV_POWER, NULL, detail);
    if (rc != 0)
        vmrt__err(err, errlen, "%s: %s", power_str(ev), vmrt_strerror(rc));
    return rc;
}
