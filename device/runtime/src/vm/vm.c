/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * VM lifecycle: the state machine of docs/runtime.md, the restart policy,
 * persistence of the VM set across vmrt restarts, and VM snapshots (the
 * engine's snapshot plus every subsystem's host state plus the "VMRT"
 * section with the green threads).
 *
 * Locking (see core.h): every operation holds rt->ext->ops for its whole
 * length and rt->lock only around state flips and scheduler calls; engine
 * and subsystem calls run without rt->lock.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/module.h"
#include "vfs/vfs.h"
#include "vm/core.h"
#include "vmrt/wasi.h"

#define MODULE_MAX_BYTES (64u << 20)
#define SNAP_MAX_BYTES (1u << 30)
#define MAIN_THREAD_PRIO 16
#define VMRT_SEC_TAG VMRT_SNAP_TAG('V', 'M', 'R', 'T')
#define VMRT_SEC_VERSION 1u
/* A run that stays up this long resets the consecutive-failure count. */
#define HEALTHY_MAX_NS (UINT64_C(60) * 1000000000u)

static const char *const state_names[] = {
    [VMRT_VM_CREATED] = "created",       [VMRT_VM_RUNNING] = "running",
    [VMRT_VM_SUSPENDED] = "suspended",   [VMRT_VM_STOPPED] = "stopped",
    [VMRT_VM_RESTARTING] = "restarting", [VMRT_VM_FAILED] = "failed",
};

const char *
vmrt_vm_state_str(vmrt_vm_state_t s)
{
    if ((unsigned)s < sizeof(state_names) / sizeof(state_names[0]))
        return state_names[s];
    return "unknown";
}

static int
state_parse(const char *s, vmrt_vm_state_t *out)
{
    unsigned i;

    for (i = 0; i < sizeof(state_names) / sizeof(state_names[0]); i++) {
        if (strcmp(s, state_names[i]) == 0) {
            *out = (vmrt_vm_state_t)i;
            return 0;
        }
    }
    return VMRT_EINVAL;
}

vmrt_vm_t *
vmrt__vm_of(vmrt_instance_t *inst)
{
    return vmrt_instance_user(inst);
}

vmrt_vm_t *
vmrt__vm_find(vmrt_rt_t *rt, const char *name)
{
    vmrt_vm_t *vm;

    for (vm = rt->vms; vm != NULL; vm = vm->next)
        if (strcmp(vm->man.name, name) == 0)
            return vm;
    return NULL;
}

/* Set the state and tell subscribers.  rt->lock not needed by callers that
 * hold ops: readers take rt->lock, and a torn read is impossible for an
 * enum, but we flip under rt->lock anyway for the scheduler's sake. */
static void
set_state(vmrt_vm_t *vm, vmrt_vm_state_t s, const char *detail)
{
    pl_mutex_lock(&vm->rt->lock);
    vm->state = s;
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__event(vm->rt, VMRT_EV_STATE, vm, detail);
}

/* The fields vmrt_vm_info reads change under rt->lock only (core.h). */
static void
set_error(vmrt_vm_t *vm, const char *msg)
{
    pl_mutex_lock(&vm->rt->lock);
    vmrt__strcpy(vm->last_error, sizeof(vm->last_error), msg);
    pl_mutex_unlock(&vm->rt->lock);
}

static void
set_exit_code(vmrt_vm_t *vm, int32_t code)
{
    pl_mutex_lock(&vm->rt->lock);
    vm->exit_code = code;
    pl_mutex_unlock(&vm->rt->lock);
}

static void
count_restart(vmrt_vm_t *vm)
{
    pl_mutex_lock(&vm->rt->lock);
    vm->restarts++;
    pl_mutex_unlock(&vm->rt->lock);
}

static int
estate(vmrt_vm_t *vm, const char *op, char *err, size_t errlen)
{
    vmrt__err(err, errlen, "cannot %s '%s': it is %s", op, vm->man.name,
              vmrt_vm_state_str(vm->state));
    return VMRT_ESTATE;
}

/* ---- paths and persistence -------------------------------------------- */

static bool
persistent(const vmrt_rt_t *rt)
{
    return rt->cfg.state_dir[0] != '\0';
}

/* state_dir/vms/NAME[/file] into buf; false if it does not fit. */
static bool
vm_path(const vmrt_vm_t *vm, const char *file, char *buf, size_t cap)
{
    int n;

    if (file != NULL)
        n = snprintf(buf, cap, "%s/vms/%s/%s", vm->rt->cfg.state_dir,
                     vm->man.name, file);
    else
        n = snprintf(buf, cap, "%s/vms/%s", vm->rt->cfg.state_dir,
                     vm->man.name);
    return n > 0 && (size_t)n < cap;
}

/*
 * persist_state: write state_dir/vmrt-state.json (every VM with its version
 * and state).  Ops held.  Return: 0 or a VMRT_E* code.
 */
static int
persist_state(vmrt_rt_t *rt)
{
    char path[VMRT_PATH_MAX + 32];
    char *text;
    int rc;

    if (!persistent(rt) || rt->ext->destroying)
        return 0;
    if ((text = vmrt__state_to_json(rt)) == NULL)
        return VMRT_ENOMEM;
    snprintf(path, sizeof(path), "%s/vmrt-state.json", rt->cfg.state_dir);
    rc = pl_file_write_atomic(path, text, strlen(text));
    vmrt_json_free(text);
    return rc == 0 ? 0 : VMRT_EIO;
}

/* Write the VM's manifest.json and module.wasm, and make its root. */
static int
persist_vm(vmrt_vm_t *vm, const uint8_t *module, size_t len, char *err,
           size_t errlen)
{
    char path[VMRT_PATH_MAX + 64];
    char *json;
    int rc;

    if (!persistent(vm->rt))
        return 0;
    if (!vm_path(vm, "root", path, sizeof(path)) ||
        pl_fs_mkdir_p(path, 0700) != 0) {
        vmrt__err(err, errlen, "%s: cannot create", path);
        return VMRT_EIO;
    }
    if ((json = vmrt_manifest_to_json(&vm->man)) == NULL)
        return VMRT_ENOMEM;
    vm_path(vm, "manifest.json", path, sizeof(path));
    rc = pl_file_write_atomic(path, json, strlen(json));
    vmrt_json_free(json);
    if (rc == 0) {
        vm_path(vm, "module.wasm", path, sizeof(path));
        rc = pl_file_write_atomic(path, module, len);
    }
    if (rc != 0) {
        vmrt__err(err, errlen, "%s: %s", path, pl_strerror(rc));
        return VMRT_EIO;
    }
    return 0;
}

/* ---- VM objects ------------------------------------------------------- */

static void
vm_free(vmrt_vm_t *vm)
{
    if (vm == NULL)
        return;
    vmrt_module_free(vm->mod);
    if (vm->ext != NULL) {
        vmrt__log_fini(vm);
        vmrt_module_free(vm->ext->prev_mod);
        vmrt_snapshot_free(vm->ext->swap_snap);
        vmrt__free(vm->ext->snap_sec);
        vmrt__free(vm->ext);
    }
    vmrt__free(vm);
}

static void
backoff_fired(vmrt__timer_t *t)
{
    vmrt_vm_t *vm = t->arg;

    /* Timer thread, rt->lock held: hand over to the reaper. */
    vm->ext->restart_pending = true;
    pl_cond_broadcast(&vm->rt->ext->reap_cond);
}

static void
swap_fired(vmrt__timer_t *t)
{
    vmrt_vm_t *vm = t->arg;

    /* Timer thread, rt->lock held: the health window is over; the reaper
     * decides (commit or roll back) under ops. */
    vm->ext->swap_pending = true;
    pl_cond_broadcast(&vm->rt->ext->reap_cond);
}

/*
 * vm_new: a VM object (not linked into rt) with its module loaded.
 * Return: 0 or a VMRT_E* code with err filled.
 */
static int
vm_new(vmrt_rt_t *rt, const vmrt_manifest_t *m, const uint8_t *module,
       size_t len, vmrt_vm_t **out, char *err, size_t errlen)
{
    vmrt_vm_t *vm;
    int rc;

    if ((vm = vmrt__calloc(1, sizeof(*vm))) == NULL ||
        (vm->ext = vmrt__calloc(1, sizeof(*vm->ext))) == NULL) {
        vmrt__free(vm);
        vmrt__err(err, errlen, "out of memory");
        return VMRT_ENOMEM;
    }
    vm->rt = rt;
    vm->man = *m;
    vm->state = VMRT_VM_CREATED;
    vm->exit_code = -1;
    vm->ext->backoff.fn = backoff_fired;
    vm->ext->backoff.arg = vm;
    vm->ext->swap_timer.fn = swap_fired;
    vm->ext->swap_timer.arg = vm;
    if ((rc = vmrt__log_init(vm, rt->cfg.log_ring_bytes)) != 0) {
        vmrt__err(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = vmrt_module_load(module, len, &vm->mod, err, errlen)) != 0)
        goto fail;
    if (persistent(rt) && !vm_path(vm, "root", vm->root, sizeof(vm->root))) {
        vmrt__err(err, errlen, "state_dir: path too long");
        rc = VMRT_EINVAL;
        goto fail;
    }
    *out = vm;
    return 0;
fail:
    vm_free(vm);
    return rc;
}

static void
vm_link_tail(vmrt_rt_t *rt, vmrt_vm_t *vm)
{
    vmrt_vm_t **pp;

    pl_mutex_lock(&rt->lock);
    for (pp = &rt->vms; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = vm;
    pl_mutex_unlock(&rt->lock);
}

/* ---- instances, threads ------------------------------------------------ */

/* Take a thread off whatever wait queue it sits on.  rt->lock held. */
static void
waitq_remove(vmrt__vthread_t *t)
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

/*
 * teardown: end the VM's current run, if any: park it, finalize the
 * subsystems (reverse order), free threads and instance.  Ops held, rt->lock
 * not.  The caller sets the new state.
 */
static void
teardown(vmrt_vm_t *vm)
{
    vmrt_rt_t *rt = vm->rt;
    vmrt__vthread_t *t, *nt;
    vmrt_instance_t *inst;
    int i;

    pl_mutex_lock(&rt->lock);
    vmrt__timer_cancel(rt, &vm->ext->backoff);
    vm->ext->restart_pending = false;
    /* Out of scheduling, off every wait queue, its timers cancelled. */
    if (vm->inst != NULL)
        vmrt__sched_remove(vm);
    /* After the park: an end reported while we waited belongs to the run
     * we are tearing down, not to the next one. */
    vm->ext->end_pending = false;
    pl_mutex_unlock(&rt->lock);
    if (vm->inst == NULL)
        return;
    for (i = VMRT__SUB_MAX - 1; i >= 0; i--)
        if (vmrt__subsys[i]->vm_fini != NULL)
            vmrt__subsys[i]->vm_fini(vm);
    pl_mutex_lock(&rt->lock);
    for (t = vm->threads; t != NULL; t = nt) {
        nt = t->next;
        waitq_remove(t); /* in case a vm_fini queued it again */
        vmrt__free(t);
    }
    vm->threads = NULL;
    vm->ext->need_add = false;
    /* Readers (vmrt_vm_info) look at vm->inst under rt->lock: unhook it
     * there before it is freed. */
    inst = vm->inst;
    vm->inst = NULL;
    vm->mem_bytes = 0;
    pl_mutex_unlock(&rt->lock);
    vmrt_instance_free(inst);
    memset(vm->sub, 0, sizeof(vm->sub));
}

/*
 * instantiate: subsystems' vm_init + link on a fresh linker, then a new
 * instance with the VM as its user.  Ops held, rt->lock not.
 * Return: 0 or a VMRT_E* code with err filled; on error nothing is left.
 */
static int
instantiate(vmrt_vm_t *vm, char *err, size_t errlen)
{
    vmrt_limits_t lim;
    vmrt_linker_t *lk;
    vmrt_instance_t *inst;
    uint64_t msz = 0;
    int inited = 0, i, rc;

    if ((lk = vmrt_linker_create()) == NULL) {
        vmrt__err(err, errlen, "out of memory");
        return VMRT_ENOMEM;
    }
    for (inited = 0; inited < VMRT__SUB_MAX; inited++) {
        const vmrt__subsys_t *s = vmrt__subsys[inited];

        if (s->vm_init != NULL && (rc = s->vm_init(vm)) != 0) {
            vmrt__err(err, errlen, "%s: %s", s->name, vmrt_strerror(rc));
            goto fail;
        }
    }
    for (i = 0; i < VMRT__SUB_MAX; i++) {
        const vmrt__subsys_t *s = vmrt__subsys[i];

        if (s->link != NULL && (rc = s->link(vm, lk)) != 0) {
            vmrt__err(err, errlen, "%s: link: %s", s->name,
                      vmrt_strerror(rc));
            goto fail;
        }
    }
    memset(&lim, 0, sizeof(lim));
    lim.max_memory_pages = vm->man.memory_pages;
    if ((rc = vmrt_instance_create(vm->mod, lk, &lim, &inst, err,
                                   errlen)) != 0)
        goto fail;
    vmrt_instance_set_user(inst, vm);
    (void)vmrt_instance_memory(inst, &msz);
    vmrt_linker_free(lk);
    /* Published under rt->lock for vmrt_vm_info (core.h). */
    pl_mutex_lock(&vm->rt->lock);
    vm->inst = inst;
    vm->mem_bytes = msz;
    pl_mutex_unlock(&vm->rt->lock);
    return 0;
fail:
    vmrt_linker_free(lk);
    for (i = inited - 1; i >= 0; i--)
        if (vmrt__subsys[i]->vm_fini != NULL)
            vmrt__subsys[i]->vm_fini(vm);
    memset(vm->sub, 0, sizeof(vm->sub));
    return rc;
}

static vmrt__vthread_t *
vthread_new(vmrt_vm_t *vm, vmrt_thread_t *th)
{
    vmrt__vthread_t *t, **pp;

    if ((t = vmrt__calloc(1, sizeof(*t))) == NULL)
        return NULL;
    t->vm = vm;
    t->th = th;
    t->id = vmrt_thread_id(th);
    t->prio = MAIN_THREAD_PRIO;
    t->state = VMRT__VT_RUNNABLE;
    vmrt_thread_set_user(th, t);
    for (pp = &vm->threads; *pp != NULL; pp = &(*pp)->next)
        ;
    *pp = t;
    return t;
}

/* Mark a fresh run: accounting and watchdog.  rt->lock held. */
static void
run_begin(vmrt_vm_t *vm)
{
    uint64_t now = pl_time_mono_ns();

    vm->started_ns = now;
    vm->wdt_deadline_ns =
        vm->man.watchdog_ms ? now + (uint64_t)vm->man.watchdog_ms * 1000000u
                            : 0;
    vm->power_event = 0;
    vm->power_acked = false;
    vm->ota_confirmed = false;
    atomic_store(&vm->preempt, false);
}

/*
 * run_fresh: a new instance whose main thread is about to call _start, and
 * hand it to the scheduler.  Ops held, rt->lock not.
 */
static int
run_fresh(vmrt_vm_t *vm, char *err, size_t errlen)
{
    vmrt_trap_info_t trap;
    vmrt_extern_kind_t kind;
    uint32_t idx;
    vmrt_thread_t *th;
    int rc;

    if ((rc = instantiate(vm, err, errlen)) != 0)
        return rc;
    if ((rc = vmrt_instance_start(vm->inst, &trap)) != 0) {
        vmrt__err(err, errlen, "start function trapped: %s",
                  vmrt_trap_str(trap.code));
        goto fail;
    }
    if (vmrt_instance_find_export(vm->inst, "_start", &kind, &idx) != 0 ||
        kind != VMRT_EXTERN_FUNC) {
        vmrt__err(err, errlen, "module has no _start function export");
        rc = VMRT_ENOTFOUND;
        goto fail;
    }
    th = vmrt_instance_main_thread(vm->inst);
    if ((rc = vmrt_thread_call(th, idx, NULL, 0)) != 0) {
        vmrt__err(err, errlen, "_start: %s", vmrt_strerror(rc));
        goto fail;
    }
    pl_mutex_lock(&vm->rt->lock);
    if (vthread_new(vm, th) == NULL) {
        pl_mutex_unlock(&vm->rt->lock);
        vmrt__err(err, errlen, "out of memory");
        rc = VMRT_ENOMEM;
        goto fail;
    }
    run_begin(vm);
    vm->exit_code = -1;
    vm->last_error[0] = '\0';
    vm->state = VMRT_VM_RUNNING;
    vmrt__sched_add(vm);
    pl_mutex_unlock(&vm->rt->lock);
    return 0;
fail:
    teardown(vm);
    return rc;
}

/* ---- lifecycle operations ---------------------------------------------- */

/*
 * with_vm: find `name` and take the ops lock.
 * Return: the VM (ops held) or NULL (ops not held, err filled).
 */
static vmrt_vm_t *
with_vm(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm;

    pl_mutex_lock(&rt->ext->ops);
    pl_mutex_lock(&rt->lock);
    vm = vmrt__vm_find(rt, name);
    pl_mutex_unlock(&rt->lock);
    if (vm == NULL) {
        pl_mutex_unlock(&rt->ext->ops);
        vmrt__err(err, errlen, "no VM named '%s'", name);
    }
    return vm;
}

int
vmrt_vm_create(vmrt_rt_t *rt, const vmrt_manifest_t *m,
               const uint8_t *module, size_t len, char *err, size_t errlen)
{
    vmrt_manifest_t chk;
    vmrt_vm_t *vm = NULL;
    char *json;
    int rc;

    /* Validate through the parser, so the rules live in one place. */
    if ((json = vmrt_manifest_to_json(m)) == NULL)
        return VMRT_ENOMEM;
    rc = vmrt_manifest_parse(json, strlen(json), &chk, err, errlen);
    vmrt_json_free(json);
    if (rc != 0)
        return VMRT_EINVAL;
    pl_mutex_lock(&rt->ext->ops);
    pl_mutex_lock(&rt->lock);
    vm = vmrt__vm_find(rt, m->name);
    pl_mutex_unlock(&rt->lock);
    if (vm != NULL) {
        vmrt__err(err, errlen, "cannot create '%s': it exists", m->name);
        rc = VMRT_ESTATE;
        vm = NULL;
        goto out;
    }
    if ((rc = vm_new(rt, m, module, len, &vm, err, errlen)) != 0)
        goto out;
    if ((rc = persist_vm(vm, module, len, err, errlen)) != 0) {
        vm_free(vm);
        goto out;
    }
    vm_link_tail(rt, vm);
    persist_state(rt);
    vmrt__log_sys(vm, "created, version %s", vm->man.version);
    vmrt__event(rt, VMRT_EV_STATE, vm, "created");
out:
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

/* start from CREATED/STOPPED/FAILED.  Ops held. */
static int
start_op(vmrt_vm_t *vm, char *err, size_t errlen)
{
    int rc;

    if (vm->state != VMRT_VM_CREATED && vm->state != VMRT_VM_STOPPED &&
        vm->state != VMRT_VM_FAILED)
        return estate(vm, "start", err, errlen);
    vm->ext->failures = 0;
    if ((rc = run_fresh(vm, err, errlen)) != 0) {
        vmrt__log_sys(vm, "start failed: %s", err != NULL ? err : "");
        return rc;
    }
    persist_state(vm->rt);
    vmrt__log_sys(vm, "started");
    vmrt__event(vm->rt, VMRT_EV_STATE, vm, "started");
    return 0;
}

int
vmrt_vm_start(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen);
    int rc;

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    rc = start_op(vm, err, errlen);
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

int
vmrt__vm_stop_locked(vmrt_vm_t *vm, bool persist)
{
    if (vm->state != VMRT_VM_RUNNING && vm->state != VMRT_VM_SUSPENDED &&
        vm->state != VMRT_VM_RESTARTING)
        return VMRT_ESTATE;
    teardown(vm);
    set_state(vm, VMRT_VM_STOPPED, "stopped");
    vmrt__log_sys(vm, "stopped");
    if (persist)
        persist_state(vm->rt);
    return 0;
}

int
vmrt_vm_stop(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen);
    int rc;

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    if ((rc = vmrt__vm_stop_locked(vm, true)) == VMRT_ESTATE)
        estate(vm, "stop", err, errlen);
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t
get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/*
 * The VMRT section: u32 version, name[32], version[32], u8 state,
 * u32 nthreads, then per thread u32 id, u8 prio, u8 irq, u8 state,
 * u8 waiting, u8 wake, u64 remaining ns to its deadline (0 = none),
 * u32 saved __stack_pointer, u8 its valid flag, u32 stack_top.
 */
#define SEC_HDR (4 + VMRT_NAME_MAX + VMRT_VERSION_MAX + 1 + 4)
#define SEC_THR (4 + 5 + 8 + 4 + 1 + 4)

/* The state to save: what an operator sees, not the transient park. */
static vmrt_vm_state_t
snap_state(const vmrt_vm_t *vm)
{
    return vm->state == VMRT_VM_SUSPENDED ? VMRT_VM_SUSPENDED
                                          : VMRT_VM_RUNNING;
}

static int
sec_save(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    vmrt_vm_t *vm = ctx;
    vmrt__vthread_t *t;
    uint8_t hdr[SEC_HDR], rec[SEC_THR];
    uint64_t now = pl_time_mono_ns();
    uint32_t n = 0;
    int rc;

    (void)inst;
    for (t = vm->threads; t != NULL; t = t->next)
        n++;
    memset(hdr, 0, sizeof(hdr));
    put32(hdr, VMRT_SEC_VERSION);
    vmrt__strcpy((char *)hdr + 4, VMRT_NAME_MAX, vm->man.name);
    vmrt__strcpy((char *)hdr + 4 + VMRT_NAME_MAX, VMRT_VERSION_MAX,
                 vm->man.version);
    hdr[4 + VMRT_NAME_MAX + VMRT_VERSION_MAX] = (uint8_t)snap_state(vm);
    put32(hdr + SEC_HDR - 4, n);
    if ((rc = vmrt_snap_write(w, hdr, sizeof(hdr))) != 0)
        return rc;
    for (t = vm->threads; t != NULL; t = t->next) {
        uint64_t rem = 0;

        if (t->deadline_ns != 0)
            rem = t->deadline_ns > now ? t->deadline_ns - now : 1;
        put32(rec, t->id);
        rec[4] = t->prio;
        rec[5] = t->irq;
        rec[6] = t->state;
        rec[7] = t->waiting;
        rec[8] = t->wake;
        put64(rec + 9, rem);
        put32(rec + 17, t->sp);
        rec[21] = t->sp_valid;
        put32(rec + 22, t->stack_top);
        if ((rc = vmrt_snap_write(w, rec, sizeof(rec))) != 0)
            return rc;
    }
    return 0;
}

static int
sec_load(void *ctx, vmrt_instance_t *inst, const uint8_t *data, size_t len)
{
    vmrt_vm_t *vm = ctx;
    uint32_t n;

    (void)inst;
    if (len < SEC_HDR || get32(data) != VMRT_SEC_VERSION)
        return VMRT_ECORRUPT;
    n = get32(data + SEC_HDR - 4);
    if (n == 0 || (len - SEC_HDR) / SEC_THR < n ||
        len != SEC_HDR + (size_t)n * SEC_THR)
        return VMRT_ECORRUPT;
    if (data[4 + VMRT_NAME_MAX + VMRT_VERSION_MAX] != VMRT_VM_RUNNING &&
        data[4 + VMRT_NAME_MAX + VMRT_VERSION_MAX] != VMRT_VM_SUSPENDED)
        return VMRT_ECORRUPT;
    vmrt__free(vm->ext->snap_sec);
    if ((vm->ext->snap_sec = vmrt__malloc(len)) == NULL)
        return VMRT_ENOMEM;
    memcpy(vm->ext->snap_sec, data, len);
    vm->ext->snap_len = len;
    return 0;
}

static int
sub_save(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    vmrt__hookctx_t *h = ctx;

    (void)inst;
    return h->sub->save(h->vm, w);
}

static int
sub_load(void *ctx, vmrt_instance_t *inst, const uint8_t *data, size_t len)
{
    vmrt__hookctx_t *h = ctx;

    (void)inst;
    return h->sub->load(h->vm, data, len);
}

/* Fill hooks[] (VMRT first, then each subsystem with save/load). */
static uint32_t
make_hooks(vmrt_vm_t *vm, vmrt_snap_hook_t *hooks, vmrt__hookctx_t *hc)
{
    uint32_t n = 0;
    int i;

    hooks[n].tag = VMRT_SEC_TAG;
    hooks[n].ctx = vm;
    hooks[n].save = sec_save;
    hooks[n].load = sec_load;
    n++;
    for (i = 0; i < VMRT__SUB_MAX; i++) {
        const vmrt__subsys_t *s = vmrt__subsys[i];

        if (s->save == NULL && s->load == NULL)
            continue;
        hc[i].vm = vm;
        hc[i].sub = s;
        hooks[n].tag = s->snap_tag;
        hooks[n].ctx = &hc[i];
        hooks[n].save = s->save != NULL ? sub_save : NULL;
        hooks[n].load = s->load != NULL ? sub_load : NULL;
        n++;
    }
    return n;
}

/*
 * snap_take: snapshot the (parked or suspended) VM into a new buffer
 * (*out, free with vmrt_snapshot_free).  Ops held, rt->lock not.  The
 * VM is claimed meanwhile (vm_internal.h, "Instance ownership"): a spawn
 * from another thread would otherwise touch the instance during the save.
 * The claim also stores the current green thread's __stack_pointer into
 * its record, which the VMRT section saves.
 */
static int
snap_take(vmrt_vm_t *vm, uint8_t **out, size_t *outlen, char *err,
          size_t errlen)
{
    vmrt_snap_hook_t hooks[VMRT__SUB_MAX + 1];
    vmrt__hookctx_t hc[VMRT__SUB_MAX];
    uint8_t *buf = NULL;
    size_t len = 0;
    uint32_t n;
    bool claimed;
    int rc;

    n = make_hooks(vm, hooks, hc);
    pl_mutex_lock(&vm->rt->lock);
    claimed = vmrt__sched_claim(vm);
    pl_mutex_unlock(&vm->rt->lock);
    rc = vmrt_snapshot_save(vm->inst, hooks, n, &buf, &len);
    pl_mutex_lock(&vm->rt->lock);
    vmrt__sched_unclaim(vm, claimed);
    pl_mutex_unlock(&vm->rt->lock);
    if (rc != 0) {
        vmrt__err(err, errlen, "snapshot of '%s': %s", vm->man.name,
                  vmrt_strerror(rc));
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* snap_take into `path`, atomically.  Same context as snap_take. */
static int
save_file(vmrt_vm_t *vm, const char *path, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    if ((rc = snap_take(vm, &buf, &len, err, errlen)) != 0)
        return rc;
    if ((rc = pl_file_write_atomic(path, buf, len)) != 0) {
        vmrt__err(err, errlen, "%s: %s", path, pl_strerror(rc));
        rc = VMRT_EIO;
    }
    vmrt_snapshot_free(buf);
    return rc;
}

/* Park a RUNNING VM for a moment (snapshot).  Ops held. */
static void
hold(vmrt_vm_t *vm)
{
    pl_mutex_lock(&vm->rt->lock);
    if (vm->state == VMRT_VM_RUNNING)
        vmrt__sched_park(vm);
    pl_mutex_unlock(&vm->rt->lock);
}

static void
release(vmrt_vm_t *vm)
{
    pl_mutex_lock(&vm->rt->lock);
    if (vm->state == VMRT_VM_RUNNING)
        vmrt__sched_unpark(vm);
    pl_mutex_unlock(&vm->rt->lock);
}

int
vmrt_vm_snapshot(vmrt_rt_t *rt, const char *name, const char *path,
                 char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen);
    int rc;

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    if (vm->state != VMRT_VM_RUNNING && vm->state != VMRT_VM_SUSPENDED) {
        rc = estate(vm, "snapshot", err, errlen);
        goto out;
    }
    hold(vm);
    rc = save_file(vm, path, err, errlen);
    release(vm);
out:
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

/*
 * rebuild_threads: green threads from the VMRT section (in ext->snap_sec)
 * over the engine threads the restore recreated.  A thread that was
 * blocked becomes runnable with a spurious SIGNALED wake: its host
 * function re-checks and re-blocks on the right object.  rt->lock held.
 */
static int
rebuild_threads(vmrt_vm_t *vm, vmrt_vm_state_t *state)
{
    const uint8_t *p = vm->ext->snap_sec;
    uint64_t now = pl_time_mono_ns();
    uint32_t n, i;

    if (p == NULL)
        return VMRT_ECORRUPT;
    *state = (vmrt_vm_state_t)p[4 + VMRT_NAME_MAX + VMRT_VERSION_MAX];
    n = get32(p + SEC_HDR - 4);
    for (i = 0; i < n; i++) {
        const uint8_t *r = p + SEC_HDR + (size_t)i * SEC_THR;
        vmrt_thread_t *th = vmrt_thread_by_id(vm->inst, get32(r));
        vmrt__vthread_t *t;
        uint64_t rem = get64(r + 9);

        if (th == NULL || r[6] > VMRT__VT_DONE)
            return VMRT_ECORRUPT;
        if ((t = vthread_new(vm, th)) == NULL)
            return VMRT_ENOMEM;
        t->prio = r[4];
        t->irq = r[5] != 0;
        t->state = r[6];
        t->waiting = r[7] != 0;
        t->wake = r[8];
        t->deadline_ns = rem != 0 ? now + rem : 0;
        t->sp = get32(r + 17);
        t->sp_valid = r[21] != 0;
        t->stack_top = get32(r + 22);
        if (t->state == VMRT__VT_BLOCKED) {
            t->state = VMRT__VT_RUNNABLE;
            t->wake = VMRT__WAKE_SIGNALED;
        }
    }
    if (vmrt_thread_by_id(vm->inst, 0) == NULL || vm->threads == NULL ||
        vm->threads->id != 0)
        return VMRT_ECORRUPT;
    return 0;
}

/*
 * restore_buf: replace the VM's run with the snapshot in buf.  The VM must
 * have no instance (stopped before).  Ops held, rt->lock not.
 * Return: 0 (state RUNNING or SUSPENDED as saved), or an error with the VM
 * left without an instance.
 */
static int
restore_buf(vmrt_vm_t *vm, const uint8_t *buf, size_t len, char *err,
            size_t errlen)
{
    vmrt_snap_hook_t hooks[VMRT__SUB_MAX + 1];
    vmrt__hookctx_t hc[VMRT__SUB_MAX];
    vmrt_vm_state_t st = VMRT_VM_RUNNING;
    uint32_t n;
    int rc;

    if ((rc = instantiate(vm, err, errlen)) != 0)
        return rc;
    n = make_hooks(vm, hooks, hc);
    rc = vmrt_snapshot_restore(vm->inst, buf, len, hooks, n, err, errlen);
    if (rc == 0) {
        uint64_t msz = 0;

        (void)vmrt_instance_memory(vm->inst, &msz);
        pl_mutex_lock(&vm->rt->lock);
        vm->mem_bytes = msz;
        if ((rc = rebuild_threads(vm, &st)) == 0) {
            run_begin(vm);
            vm->exit_code = -1;
            vm->last_error[0] = '\0';
            vm->state = st;
            /* A suspended one is known to the scheduler but parked, as
             * if suspended here: spawns into it (a vOS timer) are then
             * serialized like any other, and resume unparks it. */
            vmrt__sched_add(vm);
            if (st == VMRT_VM_SUSPENDED)
                vmrt__sched_park(vm);
        } else
            vmrt__err(err, errlen, "snapshot: bad VMRT section");
        pl_mutex_unlock(&vm->rt->lock);
    } else if (rc == VMRT_EMISMATCH)
        vmrt__err(err, errlen,
                  "snapshot is of another module than '%s' runs",
                  vm->man.name);
    vmrt__free(vm->ext->snap_sec);
    vm->ext->snap_sec = NULL;
    if (rc != 0)
        teardown(vm);
    return rc;
}

int
vmrt_vm_restore(vmrt_rt_t *rt, const char *name, const char *path,
                char *err, size_t errlen)
{
    vmrt_vm_t *vm;
    uint8_t *buf = NULL;
    size_t len;
    int rc;

    if ((rc = pl_file_read_all(path, SNAP_MAX_BYTES, &buf, &len)) != 0) {
        vmrt__err(err, errlen, "%s: %s", path, pl_strerror(rc));
        return VMRT_EIO;
    }
    if ((vm = with_vm(rt, name, err, errlen)) == NULL) {
        pl_free_file(buf);
        return VMRT_ENOTFOUND;
    }
    /*
     * Refuse what can be refused without an instance (another module, a
     * corrupt or foreign-version file) before stopping anything: a bad
     * snapshot must leave a running VM running.
     */
    if (vm->mod != NULL &&
        (rc = vmrt_snapshot_check(vm->mod, buf, len, err, errlen)) != 0) {
        pl_free_file(buf);
        pl_mutex_unlock(&rt->ext->ops);
        return rc;
    }
    if (vm->inst != NULL || vm->state == VMRT_VM_RESTARTING)
        teardown(vm);
    rc = restore_buf(vm, buf, len, err, errlen);
    pl_free_file(buf);
    if (rc != 0) {
        if (vm->state != VMRT_VM_CREATED && vm->state != VMRT_VM_FAILED)
            set_state(vm, VMRT_VM_STOPPED, "restore failed");
    } else {
        vmrt__log_sys(vm, "restored from %s", path);
        vmrt__event(rt, VMRT_EV_STATE, vm, "restored");
        if (vm->state == VMRT_VM_SUSPENDED) {
            char sp[VMRT_PATH_MAX + 32];

            /* Keep the suspended image for a vmrt restart. */
            if (persistent(rt) &&
                vm_path(vm, "suspended.snap", sp, sizeof(sp)))
                save_file(vm, sp, NULL, 0);
        }
    }
    persist_state(rt);
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

/* ---- stage-and-swap ----------------------------------------------------- */

#define SWAP_WINDOW_DEFAULT_MS 10000u
#define SWAP_BOOT_REASON "vmrt restarted during health window"

/* Set the swap status (read by vmrt_vm_swap_status under rt->lock). */
static void
swap_set(vmrt_vm_t *vm, vmrt_swap_state_t st, const char *reason)
{
    pl_mutex_lock(&vm->rt->lock);
    vm->ext->swap.state = st;
    vmrt__strcpy(vm->ext->swap.reason, sizeof(vm->ext->swap.reason),
                 reason);
    pl_mutex_unlock(&vm->rt->lock);
}

static void
swap_rm(const vmrt_vm_t *vm, const char *file)
{
    char path[VMRT_PATH_MAX + 32];

    if (persistent(vm->rt) && vm_path(vm, file, path, sizeof(path)))
        pl_fs_remove_tree(path);
}

/*
 * swap_write: write `len` bytes of `data` as the VM's `file`, atomically.
 * Return: 0 (also when nothing persists) or VMRT_EIO.
 */
static int
swap_write(const vmrt_vm_t *vm, const char *file, const void *data,
           size_t len)
{
    char path[VMRT_PATH_MAX + 32];

    if (!persistent(vm->rt))
        return 0;
    if (!vm_path(vm, file, path, sizeof(path)) ||
        pl_file_write_atomic(path, data, len) != 0)
        return VMRT_EIO;
    return 0;
}

/* Write the swap record in `phase`.  Return: 0 or VMRT_E*. */
static int
swap_record(const vmrt_vm_t *vm, const char *phase, uint64_t window_end_ms,
            bool snapshot)
{
    vmrt__swaprec_t r;
    char *text;
    int rc;

    if (!persistent(vm->rt))
        return 0;
    memset(&r, 0, sizeof(r));
    vmrt__strcpy(r.phase, sizeof(r.phase), phase);
    vmrt__strcpy(r.old_version, sizeof(r.old_version),
                 vm->ext->swap.old_version);
    vmrt__strcpy(r.new_version, sizeof(r.new_version),
                 vm->ext->swap.new_version);
    r.window_end_ms = window_end_ms;
    r.snapshot = snapshot;
    if ((text = vmrt__swaprec_to_json(&r)) == NULL)
        return VMRT_ENOMEM;
    rc = swap_write(vm, "swap.json", text, strlen(text));
    vmrt_json_free(text);
    return rc;
}

/* Copy the VM's file `from` to `to` (atomically).  Return: 0 or VMRT_EIO. */
static int
swap_copy(const vmrt_vm_t *vm, const char *from, const char *to)
{
    char path[VMRT_PATH_MAX + 32];
    uint8_t *buf;
    size_t len;
    int rc;

    if (!persistent(vm->rt))
        return 0;
    if (!vm_path(vm, from, path, sizeof(path)) ||
        pl_file_read_all(path, MODULE_MAX_BYTES, &buf, &len) != 0)
        return VMRT_EIO;
    rc = swap_write(vm, to, buf, len);
    pl_free_file(buf);
    return rc;
}

/* Write manifest.json from vm->man.  Return: 0 or VMRT_E*. */
static int
write_manifest(const vmrt_vm_t *vm)
{
    char *json;
    int rc;

    if (!persistent(vm->rt))
        return 0;
    if ((json = vmrt_manifest_to_json(&vm->man)) == NULL)
        return VMRT_ENOMEM;
    rc = swap_write(vm, "manifest.json", json, strlen(json));
    vmrt_json_free(json);
    return rc;
}

/* Drop what only an open window needs.  Ops held. */
static void
swap_forget(vmrt_vm_t *vm)
{
    pl_mutex_lock(&vm->rt->lock);
    vmrt__timer_cancel(vm->rt, &vm->ext->swap_timer);
    vm->ext->swap_pending = false;
    pl_mutex_unlock(&vm->rt->lock);
    vmrt_module_free(vm->ext->prev_mod);
    vm->ext->prev_mod = NULL;
    vmrt_snapshot_free(vm->ext->swap_snap);
    vm->ext->swap_snap = NULL;
    vm->ext->swap_snap_len = 0;
}

/*
 * swap_rollback: the window failed for `reason`: stop the new image, put
 * the old image (and, with snapshot_before, its state) back and run it.
 * The restart policy does not apply to a failure inside the window.  Ops
 * held; the window is open (prev_mod set).
 */
static void
swap_rollback(vmrt_vm_t *vm, const char *reason)
{
    vmrt_rt_t *rt = vm->rt;
    vmrt_module_t *nmod;
    char err[128], detail[sizeof(vm->ext->swap.reason) + 48];
    int rc = VMRT_ENOTFOUND;

    pl_mutex_lock(&rt->lock);
    vmrt__timer_cancel(rt, &vm->ext->swap_timer);
    vm->ext->swap_pending = false;
    pl_mutex_unlock(&rt->lock);
    teardown(vm);
    /* The old image back on disk first: a crash from here on finds the
     * record still open and finishes the same rollback at boot. */
    if (swap_copy(vm, "module.prev.wasm", "module.wasm") != 0)
        vmrt__log_sys(vm, "rollback: could not rewrite module.wasm");
    pl_mutex_lock(&rt->lock);
    nmod = vm->mod;
    vm->mod = vm->ext->prev_mod;
    vm->ext->prev_mod = NULL;
    vmrt__strcpy(vm->man.version, sizeof(vm->man.version),
                 vm->ext->swap.old_version);
    pl_mutex_unlock(&rt->lock);
    vmrt_module_free(nmod);
    write_manifest(vm);
    vm->ext->failures = 0;
    err[0] = '\0';
    if (vm->ext->swap_snap != NULL)
        rc = restore_buf(vm, vm->ext->swap_snap, vm->ext->swap_snap_len,
                         err, sizeof(err));
    if (rc != 0 && (rc = run_fresh(vm, err, sizeof(err))) != 0) {
        set_state(vm, VMRT_VM_STOPPED, "rollback failed");
        set_error(vm, err);
    } else
        vmrt__event(rt, VMRT_EV_STATE, vm, "rolled back");
    snprintf(detail, sizeof(detail), "rolled back to %s: %s",
             vm->ext->swap.old_version, reason);
    swap_set(vm, VMRT_SWAP_ROLLED_BACK, reason);
    swap_forget(vm);
    swap_rm(vm, "swap.json");
    swap_rm(vm, "module.prev.wasm");
    swap_rm(vm, "swap.snap");
    vmrt__log_sys(vm, "%s", detail);
    vmrt__event(rt, VMRT_EV_SWAP, vm, detail);
    persist_state(rt);
}

/* The window passed and the VM is healthy: keep the new image.  Ops held. */
static void
swap_commit(vmrt_vm_t *vm)
{
    char detail[64];

    /* "committed" first: a crash after it finishes the commit at boot. */
    if (swap_record(vm, "committed", 0, false) != 0 ||
        write_manifest(vm) != 0)
        vmrt__log_sys(vm, "commit: could not write the swap record");
    swap_forget(vm);
    swap_rm(vm, "module.prev.wasm");
    swap_rm(vm, "swap.snap");
    swap_rm(vm, "swap.json");
    swap_set(vm, VMRT_SWAP_COMMITTED, "");
    snprintf(detail, sizeof(detail), "committed %s",
             vm->ext->swap.new_version);
    vmrt__log_sys(vm, "%s", detail);
    vmrt__event(vm->rt, VMRT_EV_SWAP, vm, detail);
    persist_state(vm->rt);
}

/* The window's timer fired (reaper).  Ops held. */
static void
handle_swap(vmrt_vm_t *vm)
{
    vmrt_rt_t *rt = vm->rt;
    bool go, running, confirmed;

    pl_mutex_lock(&rt->lock);
    go = vm->ext->swap_pending && vm->ext->swap.state == VMRT_SWAP_HEALTH;
    vm->ext->swap_pending = false;
    running = vm->state == VMRT_VM_RUNNING && vm->inst != NULL;
    confirmed = !vm->man.ota_confirm || vm->ota_confirmed;
    pl_mutex_unlock(&rt->lock);
    if (!go)
        return;
    if (!running)
        swap_rollback(vm, "not running at the end of the health window");
    else if (!confirmed)
        swap_rollback(vm, "no vos_ota_confirm() within the health window");
    else
        swap_commit(vm);
}

int
vmrt_vm_swap(vmrt_rt_t *rt, const char *name, const uint8_t *module,
             size_t len, const char *version, const vmrt_swap_opts_t *opts,
             char *err, size_t errlen)
{
    vmrt_module_t *nmod = NULL, *omod;
    vmrt_swap_status_t last;
    uint8_t *snap = NULL;
    size_t snaplen = 0;
    uint32_t window;
    uint64_t end_ms;
    bool want_snap;
    vmrt_vm_t *vm;
    char why[128];
    int rc;

    if (name == NULL || module == NULL || len == 0 || version == NULL ||
        version[0] == '\0' || strlen(version) >= VMRT_VERSION_MAX) {
        vmrt__err(err, errlen, "swap: need a module and a version of 1..%d "
                  "characters", VMRT_VERSION_MAX - 1);
        return VMRT_EINVAL;
    }
    window = opts != NULL && opts->health_window_ms != 0
                 ? opts->health_window_ms : SWAP_WINDOW_DEFAULT_MS;
    want_snap = opts != NULL && opts->snapshot_before;
    if ((vm = with_vm(rt, name, err, errlen)) == NULL)
        return VMRT_ENOTFOUND;
    if (vm->ext->swap.state == VMRT_SWAP_HEALTH) {
        vmrt__err(err, errlen, "cannot swap '%s': a swap to %s is in its "
                  "health window", name, vm->ext->swap.new_version);
        rc = VMRT_ESTATE;
        goto out;
    }
    if (vm->state != VMRT_VM_RUNNING) {
        rc = estate(vm, "swap", err, errlen);
        goto out;
    }
    if ((rc = vmrt_module_load(module, len, &nmod, err, errlen)) != 0)
        goto out;
    if (want_snap) {
        hold(vm);
        rc = snap_take(vm, &snap, &snaplen, err, errlen);
        release(vm);
        if (rc != 0)
            goto out;
    }
    /* On disk, in an order a crash at any point can resolve (reload_one):
     * the old image kept as module.prev.wasm, the old state as swap.snap,
     * then the record, and only then the new image as module.wasm. */
    pl_mutex_lock(&rt->lock);
    last = vm->ext->swap;
    vmrt__strcpy(vm->ext->swap.old_version,
                 sizeof(vm->ext->swap.old_version), vm->man.version);
    vmrt__strcpy(vm->ext->swap.new_version,
                 sizeof(vm->ext->swap.new_version), version);
    pl_mutex_unlock(&rt->lock);
    end_ms = pl_time_real_ns() / 1000000u + window;
    if (swap_copy(vm, "module.wasm", "module.prev.wasm") != 0 ||
        (snap != NULL && swap_write(vm, "swap.snap", snap, snaplen) != 0) ||
        swap_record(vm, "health", end_ms, snap != NULL) != 0 ||
        swap_write(vm, "module.wasm", module, len) != 0) {
        vmrt__err(err, errlen, "swap '%s': cannot write its files", name);
        rc = VMRT_EIO;
        /* The current image still runs; put its file back. */
        swap_rm(vm, "swap.json");
        swap_copy(vm, "module.prev.wasm", "module.wasm");
        swap_rm(vm, "module.prev.wasm");
        swap_rm(vm, "swap.snap");
        pl_mutex_lock(&rt->lock);
        vm->ext->swap = last; /* the status still tells the last swap */
        pl_mutex_unlock(&rt->lock);
        goto out;
    }
    /* Only this VM stops; the others keep their workers. */
    teardown(vm);
    pl_mutex_lock(&rt->lock);
    omod = vm->mod;
    vm->mod = nmod;
    nmod = NULL;
    vm->ext->prev_mod = omod;
    vm->ext->swap_snap = snap;
    vm->ext->swap_snap_len = snaplen;
    snap = NULL;
    vmrt__strcpy(vm->man.version, sizeof(vm->man.version), version);
    vm->ext->swap.state = VMRT_SWAP_HEALTH;
    vm->ext->swap.reason[0] = '\0';
    vm->ext->swap_pending = false;
    pl_mutex_unlock(&rt->lock);
    vm->ext->failures = 0;
    why[0] = '\0';
    if ((rc = run_fresh(vm, why, sizeof(why))) != 0) {
        vmrt__err(err, errlen, "%s", why);
        swap_rollback(vm, why);
        goto out;
    }
    pl_mutex_lock(&rt->lock);
    vmrt__timer_arm(rt, &vm->ext->swap_timer,
                    pl_time_mono_ns() + (uint64_t)window * 1000000u);
    pl_mutex_unlock(&rt->lock);
    vmrt__log_sys(vm, "swapped to version %s (health window %u ms)",
                  version, window);
    vmrt__event(rt, VMRT_EV_STATE, vm, "swapped");
    persist_state(rt);
out:
    pl_mutex_unlock(&rt->ext->ops);
    vmrt_module_free(nmod);
    vmrt_snapshot_free(snap);
    return rc;
}

int
vmrt_vm_swap_status(vmrt_rt_t *rt, const char *name, vmrt_swap_status_t *out)
{
    vmrt_vm_t *vm;

    pl_mutex_lock(&rt->lock);
    if ((vm = vmrt__vm_find(rt, name)) != NULL)
        *out = vm->ext->swap;
    pl_mutex_unlock(&rt->lock);
    return vm != NULL ? 0 : VMRT_ENOTFOUND;
}

/* ---- suspend / resume / restart / destroy ------------------------------ */

int
vmrt__vm_suspend_op(vmrt_vm_t *vm, char *err, size_t errlen)
{
    char path[VMRT_PATH_MAX + 32];

    if (vm->state != VMRT_VM_RUNNING)
        return estate(vm, "suspend", err, errlen);
    pl_mutex_lock(&vm->rt->lock);
    vmrt__sched_park(vm);
    vm->state = VMRT_VM_SUSPENDED;
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__event(vm->rt, VMRT_EV_STATE, vm, "suspended");
    vmrt__log_sys(vm, "suspended");
    /* The image that lets it stay suspended across a vmrt restart.  A
     * failure here leaves it suspended in memory; the next vmrt restart
     * then starts it afresh. */
    if (persistent(vm->rt) && vm_path(vm, "suspended.snap", path,
                                      sizeof(path)) &&
        save_file(vm, path, NULL, 0) != 0)
        vmrt__log_sys(vm, "could not save its suspended image");
    persist_state(vm->rt);
    return 0;
}

int
vmrt__vm_resume_op(vmrt_vm_t *vm, char *err, size_t errlen)
{
    char path[VMRT_PATH_MAX + 32];

    if (vm->state != VMRT_VM_SUSPENDED)
        return estate(vm, "resume", err, errlen);
    pl_mutex_lock(&vm->rt->lock);
    vm->state = VMRT_VM_RUNNING;
    if (vm->ext->need_add) {
        vm->ext->need_add = false;
        vmrt__sched_add(vm);
    } else
        vmrt__sched_unpark(vm);
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__event(vm->rt, VMRT_EV_STATE, vm, "resumed");
    vmrt__log_sys(vm, "resumed");
    if (persistent(vm->rt) && vm_path(vm, "suspended.snap", path,
                                      sizeof(path)))
        pl_fs_remove_tree(path);
    persist_state(vm->rt);
    return 0;
}

int
vmrt_vm_suspend(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen);
    int rc;

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    rc = vmrt__vm_suspend_op(vm, err, errlen);
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

int
vmrt_vm_resume(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen);
    int rc;

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    rc = vmrt__vm_resume_op(vm, err, errlen);
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

int
vmrt_vm_restart(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen);
    int rc;

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    if (vm->state == VMRT_VM_CREATED) {
        rc = estate(vm, "restart", err, errlen);
        goto out;
    }
    teardown(vm);
    count_restart(vm);
    vm->ext->failures = 0;
    if ((rc = run_fresh(vm, err, errlen)) != 0) {
        set_state(vm, VMRT_VM_STOPPED, "restart failed");
        set_error(vm, err != NULL ? err : vmrt_strerror(rc));
    } else {
        vmrt__log_sys(vm, "restarted");
        vmrt__event(rt, VMRT_EV_RESTART, vm, "operator");
        vmrt__event(rt, VMRT_EV_STATE, vm, "restarted");
    }
    persist_state(rt);
out:
    pl_mutex_unlock(&rt->ext->ops);
    return rc;
}

int
vmrt_vm_destroy(vmrt_rt_t *rt, const char *name, char *err, size_t errlen)
{
    vmrt_vm_t *vm = with_vm(rt, name, err, errlen), **pp;
    char path[VMRT_PATH_MAX + 16];

    if (vm == NULL)
        return VMRT_ENOTFOUND;
    /* A running or suspended VM is stopped first: destroy is the one
     * operation legal in every state.  An open swap window just ends. */
    swap_forget(vm);
    teardown(vm);
    pl_mutex_lock(&rt->lock);
    for (pp = &rt->vms; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == vm) {
            *pp = vm->next;
            break;
        }
    }
    vm->state = VMRT_VM_STOPPED;
    pl_mutex_unlock(&rt->lock);
    vmrt__event(rt, VMRT_EV_STATE, vm, "destroyed");
    if (persistent(rt) && vm_path(vm, NULL, path, sizeof(path)))
        pl_fs_remove_tree(path);
    persist_state(rt);
    /* Free what is big now; keep the record (see rtext->dead). */
    vmrt__log_fini(vm);
    vmrt_module_free(vm->mod);
    vm->mod = NULL;
    pl_mutex_lock(&rt->lock);
    vm->next = rt->ext->dead;
    rt->ext->dead = vm;
    pl_mutex_unlock(&rt->lock);
    pl_mutex_unlock(&rt->ext->ops);
    return 0;
}

/* ---- info ----------------------------------------------------------- */

static void
fill_info(vmrt_vm_t *vm, vmrt_vm_info_t *o)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->name, sizeof(o->name), "%s", vm->man.name);
    snprintf(o->version, sizeof(o->version), "%s", vm->man.version);
    o->state = vm->state;
    o->priority = vm->man.priority;
    if (vm->state == VMRT_VM_RUNNING)
        o->uptime_ms = (pl_time_mono_ns() - vm->started_ns) / 1000000u;
    /* Never call into vm->inst here: its owner may be running it or
     * freeing it; the owner mirrors the size into mem_bytes. */
    if (vm->inst != NULL)
        o->memory_bytes = vm->mem_bytes;
    o->cpu_ms = vm->cpu_ns / 1000000u;
    o->restarts = vm->restarts;
    o->exit_code = vm->exit_code;
    snprintf(o->last_error, sizeof(o->last_error), "%s", vm->last_error);
    o->memory_pages = vm->man.memory_pages;
    o->storage_quota = vm->man.storage_quota;
}

int
vmrt_vm_info(vmrt_rt_t *rt, const char *name, vmrt_vm_info_t *out)
{
    vmrt_vm_t *vm;

    pl_mutex_lock(&rt->lock);
    if ((vm = vmrt__vm_find(rt, name)) != NULL)
        fill_info(vm, out);
    pl_mutex_unlock(&rt->lock);
    return vm != NULL ? 0 : VMRT_ENOTFOUND;
}

uint32_t
vmrt_vm_list(vmrt_rt_t *rt, vmrt_vm_info_t *out, uint32_t max)
{
    vmrt_vm_t *vm;
    uint32_t n = 0;

    pl_mutex_lock(&rt->lock);
    for (vm = rt->vms; vm != NULL; vm = vm->next, n++)
        if (n < max && out != NULL)
            fill_info(vm, &out[n]);
    pl_mutex_unlock(&rt->lock);
    return n;
}

/* ---- run ends and the restart policy -------------------------------- */

void
vmrt__vm_ended(vmrt_vm_t *vm, int status, int32_t exit_code,
               const vmrt_trap_info_t *trap)
{
    vmrt_rt_t *rt = vm->rt;
    uint32_t code;

    /* proc_exit's code is in the VM's WASI context (wasi-libc's _start
     * calls proc_exit with main's result when it is not 0).  The worker
     * calling us still owns the instance and its subsystems, so reading
     * it here is safe; the reaper, later, could race with a teardown. */
    if (status == VMRT_RUN_EXIT && exit_code < 0 &&
        vmrt_wasi_exit_code(vmrt__vfs_wasi(vm), &code))
        exit_code = (int32_t)code;
    pl_mutex_lock(&rt->lock);
    vm->ext->end_pending = true;
    vm->ext->end_status = status;
    vm->ext->end_code = exit_code;
    if (trap != NULL)
        vm->ext->end_trap = *trap;
    else
        memset(&vm->ext->end_trap, 0, sizeof(vm->ext->end_trap));
    pl_cond_broadcast(&rt->ext->reap_cond);
    pl_mutex_unlock(&rt->lock);
}

static uint64_t
backoff_ns(const vmrt_vm_t *vm)
{
    uint64_t ms = vm->man.backoff_ms;
    uint32_t i;

    for (i = 1; i < vm->ext->failures && ms < vm->man.backoff_max_ms; i++)
        ms *= 2;
    if (ms > vm->man.backoff_max_ms)
        ms = vm->man.backoff_max_ms;
    return ms * 1000000u;
}

/*
 * failed: a run failed with `reason`; apply the policy.  The run is torn
 * down already.  Ops held.
 */
static void
failed(vmrt_vm_t *vm, vmrt_event_kind_t kind, const char *reason,
       uint64_t ran_ns)
{
    vmrt_rt_t *rt = vm->rt;
    uint64_t healthy = (uint64_t)vm->man.backoff_max_ms * 10u * 1000000u;
    char detail[128];

    if (healthy > HEALTHY_MAX_NS)
        healthy = HEALTHY_MAX_NS;
    if (ran_ns >= healthy)
        vm->ext->failures = 0;
    vm->ext->failures++;
    set_error(vm, reason);
    vmrt__log_sys(vm, "failed: %s", reason);
    vmrt__event(rt, kind, vm, reason);
    if (vm->man.restart == VMRT_RESTART_NEVER) {
        set_state(vm, VMRT_VM_STOPPED, reason);
    } else if (vm->ext->failures > vm->man.max_retries) {
        snprintf(detail, sizeof(detail),
                 "crash loop: %u consecutive failures, last: %s",
                 vm->ext->failures, reason);
        set_state(vm, VMRT_VM_FAILED, detail);
        vmrt__event(rt, VMRT_EV_CRASH, vm, detail);
        vmrt__log_sys(vm, "%s", detail);
    } else {
        uint64_t d = backoff_ns(vm);

        pl_mutex_lock(&rt->lock);
        vm->state = VMRT_VM_RESTARTING;
        vmrt__timer_arm(rt, &vm->ext->backoff, pl_time_mono_ns() + d);
        pl_mutex_unlock(&rt->lock);
        snprintf(detail, sizeof(detail), "restart in %llu ms",
                 (unsigned long long)(d / 1000000u));
        vmrt__event(rt, VMRT_EV_STATE, vm, detail);
        vmrt__log_sys(vm, "%s", detail);
    }
    persist_state(rt);
}

/* A run ended inside a swap's health window.  Ops held. */
static void
swap_end(vmrt_vm_t *vm, int status, int32_t code,
         const vmrt_trap_info_t *trap)
{
    vmrt_event_kind_t kind = VMRT_EV_CRASH;
    char reason[96];

    if (status == VMRT_RUN_DONE)
        snprintf(reason, sizeof(reason), "exited with code 0");
    else if (status == VMRT_RUN_EXIT)
        snprintf(reason, sizeof(reason), "exited with code %d", (int)code);
    else if (status == VMRT_RUN_TRAP)
        snprintf(reason, sizeof(reason), "trap: %s in func %u at 0x%x",
                 vmrt_trap_str(trap->code), trap->func_index, trap->offset);
    else if (status == VMRT__END_WATCHDOG) {
        kind = VMRT_EV_WATCHDOG;
        snprintf(reason, sizeof(reason),
                 "watchdog: no vos_wdt_kick within %u ms",
                 vm->man.watchdog_ms);
    } else
        snprintf(reason, sizeof(reason), "host failure: %s",
                 vmrt_strerror(status));
    set_error(vm, reason);
    vmrt__log_sys(vm, "failed: %s", reason);
    vmrt__event(vm->rt, kind, vm, reason);
    swap_rollback(vm, reason);
}

/* Handle a pending end of run.  Ops held. */
static void
handle_end(vmrt_vm_t *vm)
{
    vmrt_rt_t *rt = vm->rt;
    int status;
    int32_t code;
    vmrt_trap_info_t trap;
    uint64_t ran;
    char reason[96];

    pl_mutex_lock(&rt->lock);
    if (!vm->ext->end_pending ||
        (vm->state != VMRT_VM_RUNNING && vm->state != VMRT_VM_SUSPENDED)) {
        vm->ext->end_pending = false;
        pl_mutex_unlock(&rt->lock);
        return;
    }
    vm->ext->end_pending = false;
    status = vm->ext->end_status;
    code = vm->ext->end_code;
    trap = vm->ext->end_trap;
    ran = pl_time_mono_ns() - vm->started_ns;
    pl_mutex_unlock(&rt->lock);

    if (vm->ext->swap.state == VMRT_SWAP_HEALTH) {
        /* Any end inside the health window, even exit 0 (the VM must
         * stay running), rolls back at once, instead of the policy. */
        swap_end(vm, status, code, &trap);
        return;
    }
    teardown(vm);
    if (status == VMRT_RUN_DONE || (status == VMRT_RUN_EXIT && code == 0)) {
        set_exit_code(vm, 0);
        vm->ext->failures = 0;
        vmrt__log_sys(vm, "exited with code 0");
        set_state(vm, VMRT_VM_STOPPED, "exited");
        persist_state(rt);
        return;
    }
    if (status == VMRT_RUN_EXIT) {
        set_exit_code(vm, code);
        snprintf(reason, sizeof(reason), "exited with code %d", (int)code);
        failed(vm, VMRT_EV_CRASH, reason, ran);
    } else if (status == VMRT_RUN_TRAP) {
        snprintf(reason, sizeof(reason), "trap: %s in func %u at 0x%x",
                 vmrt_trap_str(trap.code), trap.func_index, trap.offset);
        failed(vm, VMRT_EV_CRASH, reason, ran);
    } else if (status == VMRT__END_WATCHDOG) {
        snprintf(reason, sizeof(reason),
                 "watchdog: no vos_wdt_kick within %u ms",
                 vm->man.watchdog_ms);
        failed(vm, VMRT_EV_WATCHDOG, reason, ran);
    } else {
        snprintf(reason, sizeof(reason), "host failure: %s",
                 vmrt_strerror(status));
        failed(vm, VMRT_EV_CRASH, reason, ran);
    }
}

/* Backoff over: start it again.  Ops held. */
static void
handle_restart(vmrt_vm_t *vm)
{
    vmrt_rt_t *rt = vm->rt;
    char err[96];
    bool go;

    pl_mutex_lock(&rt->lock);
    go = vm->ext->restart_pending && vm->state == VMRT_VM_RESTARTING;
    vm->ext->restart_pending = false;
    pl_mutex_unlock(&rt->lock);
    if (!go)
        return;
    count_restart(vm);
    err[0] = '\0';
    if (run_fresh(vm, err, sizeof(err)) != 0) {
        /* Counts as a failed run: the policy ends in FAILED eventually. */
        failed(vm, VMRT_EV_CRASH, err, 0);
        return;
    }
    vmrt__log_sys(vm, "restarted (attempt %u)", vm->ext->failures);
    vmrt__event(rt, VMRT_EV_RESTART, vm, "policy");
    vmrt__event(rt, VMRT_EV_STATE, vm, "restarted");
    persist_state(rt);
}

void
vmrt__vm_reap(vmrt_rt_t *rt)
{
    struct vmrt__rtext *x = rt->ext;
    vmrt_vm_t *vm;

    pl_mutex_lock(&rt->lock);
    while (!x->quit) {
        for (vm = rt->vms; vm != NULL; vm = vm->next)
            if (vm->ext->end_pending || vm->ext->restart_pending ||
                vm->ext->swap_pending)
                break;
        if (vm == NULL) {
            pl_cond_wait(&x->reap_cond, &rt->lock);
            continue;
        }
        /* Lock order is ops, then rt->lock.  The VM cannot go away
         * meanwhile: only destroy frees VMs, and it runs under ops and
         * clears the flags first (teardown), so re-find it. */
        pl_mutex_unlock(&rt->lock);
        pl_mutex_lock(&x->ops);
        pl_mutex_lock(&rt->lock);
        for (vm = rt->vms; vm != NULL; vm = vm->next)
            if (vm->ext->end_pending || vm->ext->restart_pending ||
                vm->ext->swap_pending)
                break;
        pl_mutex_unlock(&rt->lock);
        if (vm != NULL && !x->destroying) {
            if (vm->ext->end_pending)
                handle_end(vm);
            else if (vm->ext->restart_pending)
                handle_restart(vm);
            else
                handle_swap(vm);
        }
        pl_mutex_unlock(&x->ops);
        pl_mutex_lock(&rt->lock);
        if (x->destroying) {
            /* rt_destroy tears everything down itself. */
            for (vm = rt->vms; vm != NULL; vm = vm->next)
                vm->ext->end_pending = vm->ext->restart_pending =
                    vm->ext->swap_pending = false;
        }
    }
    pl_mutex_unlock(&rt->lock);
}

/* ---- the VM set across vmrt restarts --------------------------------- */

/* Remove state_dir/vms/NAME/file. */
static void
boot_rm(vmrt_rt_t *rt, const char *name, const char *file)
{
    char path[VMRT_PATH_MAX + 64];

    snprintf(path, sizeof(path), "%s/vms/%s/%s", rt->cfg.state_dir, name,
             file);
    pl_fs_remove_tree(path);
}

/*
 * swap_resolve: finish a swap that vmrt did not (it stopped or crashed):
 * a committed one is cleaned up (the manifest gets the new version), one
 * in its health window is rolled back (module.prev.wasm becomes
 * module.wasm again, the manifest keeps the old version; swap.snap stays
 * for vmrt__vm_boot_all if the record says so).  Every step can be
 * repeated, so a crash in here is resolved by the next boot the same way.
 * Return: 0 no swap record, 1 rolled back, 2 committed; *rec filled.
 */
static int
swap_resolve(vmrt_rt_t *rt, const char *name, vmrt_manifest_t *m,
             vmrt__swaprec_t *rec)
{
    char path[VMRT_PATH_MAX + 64], dst[VMRT_PATH_MAX + 64];
    uint8_t *buf;
    size_t len;
    char *json;
    int rc;

    snprintf(path, sizeof(path), "%s/vms/%s/swap.json", rt->cfg.state_dir,
             name);
    if (pl_file_read_all(path, 1u << 16, &buf, &len) != 0) {
        /* No record: a copy of the old image made just before a crash
         * has no use. */
        boot_rm(rt, name, "module.prev.wasm");
        return 0;
    }
    rc = vmrt__swaprec_parse((const char *)buf, len, rec);
    pl_free_file(buf);
    if (rc != 0) {
        /* Unreadable: treat it as an open window (the safe side). */
        memset(rec, 0, sizeof(*rec));
        vmrt__strcpy(rec->phase, sizeof(rec->phase), "health");
        vmrt__strcpy(rec->old_version, sizeof(rec->old_version),
                     m->version);
    }
    if (strcmp(rec->phase, "committed") == 0) {
        if (rec->new_version[0] != '\0')
            vmrt__strcpy(m->version, sizeof(m->version), rec->new_version);
        rc = 2;
    } else {
        snprintf(path, sizeof(path), "%s/vms/%s/module.prev.wasm",
                 rt->cfg.state_dir, name);
        snprintf(dst, sizeof(dst), "%s/vms/%s/module.wasm",
                 rt->cfg.state_dir, name);
        if (pl_file_read_all(path, MODULE_MAX_BYTES, &buf, &len) == 0) {
            rc = pl_file_write_atomic(dst, buf, len);
            pl_free_file(buf);
            if (rc != 0)
                return VMRT_EIO; /* keep everything for the next boot */
        }
        if (rec->old_version[0] != '\0')
            vmrt__strcpy(m->version, sizeof(m->version), rec->old_version);
        rc = 1;
    }
    snprintf(path, sizeof(path), "%s/vms/%s/manifest.json",
             rt->cfg.state_dir, name);
    if ((json = vmrt_manifest_to_json(m)) == NULL)
        return VMRT_ENOMEM;
    if (pl_file_write_atomic(path, json, strlen(json)) != 0) {
        vmrt_json_free(json);
        return VMRT_EIO;
    }
    vmrt_json_free(json);
    boot_rm(rt, name, "module.prev.wasm");
    if (rc == 2 || !rec->snapshot)
        boot_rm(rt, name, "swap.snap");
    boot_rm(rt, name, "swap.json");
    return rc;
}

/* Load one persisted VM (manifest.json + module.wasm). */
static int
reload_one(vmrt_rt_t *rt, const char *name, vmrt_vm_state_t st)
{
    char path[VMRT_PATH_MAX + 64];
    vmrt_manifest_t m;
    vmrt__swaprec_t rec;
    uint8_t *buf = NULL, *mod = NULL;
    size_t len, mlen;
    vmrt_vm_t *vm;
    char err[160];
    int rc, swapped;

    snprintf(path, sizeof(path), "%s/vms/%s/manifest.json",
             rt->cfg.state_dir, name);
    if ((rc = pl_file_read_all(path, 1u << 20, &buf, &len)) != 0)
        return VMRT_EIO;
    rc = vmrt_manifest_parse((const char *)buf, len, &m, err, sizeof(err));
    pl_free_file(buf);
    if (rc != 0 || strcmp(m.name, name) != 0)
        return VMRT_EINVAL;
    if ((swapped = swap_resolve(rt, name, &m, &rec)) < 0)
        return swapped;
    snprintf(path, sizeof(path), "%s/vms/%s/module.wasm", rt->cfg.state_dir,
             name);
    if ((rc = pl_file_read_all(path, MODULE_MAX_BYTES, &mod, &mlen)) != 0)
        return VMRT_EIO;
    rc = vm_new(rt, &m, mod, mlen, &vm, err, sizeof(err));
    pl_free_file(mod);
    if (rc != 0)
        return rc;
    /* It comes back stopped; vmrt_rt_start brings running and suspended
     * ones back.  A VM that never ran stays CREATED, a failed one FAILED. */
    vm->ext->boot_state = st;
    if (swapped != 0) {
        vm->ext->swap.state = swapped == 1 ? VMRT_SWAP_ROLLED_BACK
                                           : VMRT_SWAP_COMMITTED;
        vmrt__strcpy(vm->ext->swap.old_version,
                     sizeof(vm->ext->swap.old_version), rec.old_version);
        vmrt__strcpy(vm->ext->swap.new_version,
                     sizeof(vm->ext->swap.new_version), rec.new_version);
        if (swapped == 1) {
            vmrt__strcpy(vm->ext->swap.reason,
                         sizeof(vm->ext->swap.reason), SWAP_BOOT_REASON);
            vm->ext->swap_boot_rb = true;
            vm->ext->swap_boot_snap = rec.snapshot;
        }
    }
    if (st == VMRT_VM_CREATED || st == VMRT_VM_FAILED)
        vm->state = st;
    else
        vm->state = VMRT_VM_STOPPED;
    vm_link_tail(rt, vm);
    return 0;
}

/* vmrt__state_parse callback: one VM of vmrt-state.json. */
static void
reload_cb(vmrt_rt_t *rt, const char *name, const char *state)
{
    vmrt_vm_state_t s = VMRT_VM_STOPPED;

    state_parse(state, &s);
    /* One broken VM directory must not keep the others down. */
    (void)reload_one(rt, name, s);
}

int
vmrt__vm_reload_all(vmrt_rt_t *rt, char *err, size_t errlen)
{
    char path[VMRT_PATH_MAX + 32];
    uint8_t *buf;
    size_t len;
    int rc;

    if (!persistent(rt))
        return 0;
    snprintf(path, sizeof(path), "%s/vmrt-state.json", rt->cfg.state_dir);
    rc = pl_file_read_all(path, 4u << 20, &buf, &len);
    if (rc == PL_ENOENT)
        return 0; /* a fresh state dir */
    if (rc != 0) {
        vmrt__err(err, errlen, "%s: %s", path, pl_strerror(rc));
        return VMRT_EIO;
    }
    rc = vmrt__state_parse(rt, (const char *)buf, len, reload_cb);
    pl_free_file(buf);
    if (rc != 0)
        vmrt__err(err, errlen, "%s: corrupt", path);
    return rc;
}

/*
 * swap_boot: bring back a VM whose health window a vmrt restart cut short
 * (swap_resolve put its old image back): from swap.snap if it was taken,
 * else as recorded; then tell subscribers.  Ops held.
 */
static void
swap_boot(vmrt_vm_t *vm, vmrt_vm_state_t st)
{
    char path[VMRT_PATH_MAX + 32], err[160], detail[160];
    uint8_t *buf;
    size_t len;
    int rc = VMRT_ENOTFOUND;

    vm->ext->swap_boot_rb = false;
    err[0] = '\0';
    if (vm->ext->swap_boot_snap && st != VMRT_VM_STOPPED &&
        vm_path(vm, "swap.snap", path, sizeof(path)) &&
        pl_file_read_all(path, SNAP_MAX_BYTES, &buf, &len) == 0) {
        rc = restore_buf(vm, buf, len, err, sizeof(err));
        pl_free_file(buf);
        if (rc == 0)
            persist_state(vm->rt);
    }
    vm->ext->swap_boot_snap = false;
    swap_rm(vm, "swap.snap");
    if (rc != 0 && (st == VMRT_VM_RUNNING || st == VMRT_VM_SUSPENDED) &&
        start_op(vm, err, sizeof(err)) != 0)
        set_error(vm, err);
    snprintf(detail, sizeof(detail), "rolled back to %s: %s",
             vm->ext->swap.old_version, SWAP_BOOT_REASON);
    vmrt__log_sys(vm, "%s", detail);
    vmrt__event(vm->rt, VMRT_EV_SWAP, vm, detail);
}

int
vmrt__vm_boot_all(vmrt_rt_t *rt)
{
    char path[VMRT_PATH_MAX + 32], err[160];
    vmrt_vm_t *vm;

    for (vm = rt->vms; vm != NULL; vm = vm->next) {
        vmrt_vm_state_t st = vm->ext->boot_state;

        vm->ext->boot_state = VMRT_VM_CREATED;
        err[0] = '\0';
        if (vm->ext->swap_boot_rb) {
            swap_boot(vm, st);
            continue;
        }
        if (st == VMRT_VM_SUSPENDED && vm_path(vm, "suspended.snap", path,
                                               sizeof(path))) {
            uint8_t *buf;
            size_t len;

            if (pl_file_read_all(path, SNAP_MAX_BYTES, &buf, &len) == 0) {
                int rc = restore_buf(vm, buf, len, err, sizeof(err));

                pl_free_file(buf);
                if (rc == 0) {
                    vmrt__log_sys(vm, "restored suspended");
                    continue;
                }
                vmrt__log_sys(vm, "suspended image unusable: %s", err);
            }
            st = VMRT_VM_RUNNING; /* no image: start it afresh */
        }
        if (st == VMRT_VM_RUNNING && start_op(vm, err, sizeof(err)) != 0)
            set_error(vm, err);
    }
    return 0;
}

void
vmrt__vm_shutdown_all(vmrt_rt_t *rt)
{
    vmrt_vm_t *vm;
    uint8_t p;

    /* Highest priority first: the VMs others depend on usually are. */
    for (p = 0; p < VMRT_PRIO_LEVELS; p++)
        for (vm = rt->vms; vm != NULL; vm = vm->next)
            if (vm->man.priority == p) {
                /* An open window stays open on disk: the next boot
                 * rolls it back. */
                pl_mutex_lock(&rt->lock);
                vmrt__timer_cancel(rt, &vm->ext->swap_timer);
                vm->ext->swap_pending = false;
                pl_mutex_unlock(&rt->lock);
                teardown(vm);
            }
}

void
vmrt__vm_free_all(vmrt_rt_t *rt)
{
    vmrt_vm_t *vm, *next;

    for (vm = rt->vms; vm != NULL; vm = next) {
        next = vm->next;
        vm_free(vm);
    }
    rt->vms = NULL;
    for (vm = rt->ext->dead; vm != NULL; vm = next) {
        next = vm->next;
        vm_free(vm);
    }
    rt->ext->dead = NULL;
}
