/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_VM_INTERNAL_H
#define VMRT_VM_INTERNAL_H

/*
 * The runtime's internal contract: the core (src/vm: VMs, lifecycle,
 * scheduler, timers) and the subsystems that plug into it (src/vos: threads
 * and sync; src/dev: devices and interrupts; src/vfs and src/net: files and
 * sockets; device/ipc: inter-VM IPC).  Read docs/runtime.md first.
 *
 * Execution model
 * - A VM runs on at most one worker at a time.  Inside it, green threads
 *   (vmrt__vthread_t, one engine vmrt_thread_t each) are multiplexed by the
 *   core: a worker runs the VM's highest-priority runnable thread; pending
 *   interrupt handlers first.
 * - Blocking: a host function that must wait calls vmrt__block() and
 *   returns what it returns (VMRT_HOST_BLOCK).  The engine stops with the
 *   thread's ip AT the host call; when the thread is woken (vmrt__wake*,
 *   its deadline passes, or the VM is stopped) the core runs it again and
 *   the engine calls the same host function again with the same arguments.
 *   The host function then re-checks its condition: done -> vmrt__wait_end()
 *   and return 0; still not -> vmrt__block() again.  So a wait survives a
 *   snapshot: nothing but the wait object and deadline must be saved.
 * - Locking: one runtime lock (rt->lock) guards scheduling state, every
 *   wait queue and every object shared between VMs.  Host functions run
 *   WITHOUT it held; take it around touching shared state and around
 *   vmrt__block / vmrt__wake*.  Never call into the engine with it held.
 *   Objects private to one VM (its vOS mutexes, ...) are touched only by
 *   that VM's threads, one at a time, but their wait queues still need it.
 * - Instance ownership: an engine instance (and its thread table, globals,
 *   memory) is not thread-safe.  At any moment at most one OS thread owns
 *   a VM's instance and only the owner calls into it:
 *     - the worker running the VM (vm->on_worker, set under rt->lock; it
 *       stays set until vmrt__vm_ended has returned for an ended run);
 *     - else a thread holding the VM's claim (sched.c; taken under rt->lock
 *       only while no worker runs the VM and no other claim is held):
 *       vmrt__vthread_spawn from any non-worker thread claims the VM, and
 *       so do the lifecycle operations of vm.c (snapshot save) through
 *       vmrt__sched_park + vmrt__sched_claim;
 *     - else the lifecycle holder (rt->ext->ops) while the VM has no
 *       scheduling record (vm->sch == NULL: before vmrt__sched_add, after
 *       vmrt__sched_remove), e.g. instantiate, restore, teardown.
 *   vmrt__vthread_spawn refuses (VMRT_ESTATE) a VM without a scheduling
 *   record, so nothing can race with instantiate or teardown.
 *
 * Subsystems
 * - Each subsystem is a const vmrt__subsys_t listed in rt.c.  At every VM
 *   start the core makes a linker for that VM and each subsystem's `link`
 *   defines its host functions on it (module "vos", or the WASI layer for
 *   "wasi_snapshot_preview1", configured per VM: stdout/stderr into the log
 *   ring, files in the VM root, blocking through vmrt__block).  A host
 *   function finds its VM and thread with vmrt__vm_of(inst) /
 *   vmrt__self(inst).
 * - Any callback may be NULL (nothing to do).
 * - Per-VM state lives in vm->sub[id], made by vm_init (at VM start) and
 *   freed by vm_fini (at stop: it must release handles and wake anything
 *   waiting on objects the VM owns, with an error to the waiter).
 * - Host state for snapshots: `save`/`load` append/read a section (tag =
 *   the subsystem's) of the VM snapshot.
 */

#include <stdatomic.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"
#include "vmrt/vmrt.h"

typedef struct vmrt_vm vmrt_vm_t;
typedef struct vmrt__vthread vmrt__vthread_t;

/* ---- wait queues ----------------------------------------------------- */

/* A list of blocked threads, woken in VM priority, then thread priority,
 * then FIFO order.  Zero-initialized is empty. */
typedef struct vmrt__waitq {
    vmrt__vthread_t *head;
} vmrt__waitq_t;

/* Why a blocked thread became runnable. */
typedef enum {
    VMRT__WAKE_NONE = 0,    /* still waiting */
    VMRT__WAKE_SIGNALED,    /* vmrt__wake* */
    VMRT__WAKE_TIMEOUT,     /* its deadline passed */
    VMRT__WAKE_ABORTED      /* the object went away (owner VM stopped) */
} vmrt__wake_t;

/* ---- green threads ---------------------------------------------------- */

typedef enum {
    VMRT__VT_RUNNABLE = 0,
    VMRT__VT_BLOCKED,
    VMRT__VT_DONE
} vmrt__vt_state_t;

struct vmrt__vthread {
    vmrt_vm_t *vm;
    vmrt_thread_t *th;         /* engine thread */
    uint32_t id;               /* == vmrt_thread_id(th) */
    uint8_t prio;              /* inside the VM: 0 highest */
    uint8_t state;             /* vmrt__vt_state_t */
    bool irq;                  /* an interrupt handler thread */
    /* Wait state, valid while blocked or being retried. */
    bool waiting;              /* a wait is in progress (retry pending) */
    uint8_t wake;              /* vmrt__wake_t of the last wake-up */
    uint64_t deadline_ns;      /* monotonic; 0 = none */
    vmrt__waitq_t *waitq;      /* queue it sits on, or NULL */
    vmrt__vthread_t *wq_next;  /* link in that queue */
    vmrt__vthread_t *next;     /* link in the VM's thread list */
    /* Added for the scheduler and vos (additive). */
    uint32_t stack_top;        /* initial __stack_pointer of a spawned
                                  thread: the spawner sets it right after
                                  vmrt__vthread_spawn, before its host call
                                  returns; 0 = inherit the current value */
    vmrt__waitq_t joiners;     /* threads in vos_thread_join on this one;
                                  woken when it becomes DONE */
    uint32_t sp;               /* sched.c: saved __stack_pointer while
                                  switched out (valid if sp_valid) */
    bool sp_valid;
};

/* ---- VMs ------------------------------------------------------------- */

enum {
    VMRT__SUB_VOS = 0, /* threads, sync, timers, logs, config, wdt, power */
    VMRT__SUB_DEV,     /* devices and interrupts */
    VMRT__SUB_IPC,     /* services, messages, pub/sub */
    VMRT__SUB_VFS,     /* WASI files in the VM root */
    VMRT__SUB_NET,     /* sockets */
    VMRT__SUB_MAX
};

struct vmrt_vm {
    vmrt_rt_t *rt;
    vmrt_manifest_t man;
    vmrt_vm_state_t state;
    vmrt_module_t *mod;
    vmrt_instance_t *inst;     /* NULL unless started */
    void *sub[VMRT__SUB_MAX];  /* per-subsystem state */
    char root[VMRT_PATH_MAX];  /* its files: state_dir/vms/NAME/root */
    /* Threads; the main thread runs _start. */
    vmrt__vthread_t *threads;
    /* Scheduling (guarded by rt->lock). */
    bool queued;               /* in a run queue */
    bool on_worker;            /* a worker runs it now */
    atomic_bool preempt;       /* a worker should stop it at the next slice
                                  boundary (suspend, stop, higher prio) */
    vmrt_vm_t *rq_next;
    /* Accounting. */
    uint64_t cpu_ns;
    uint64_t started_ns;
    uint32_t restarts;
    int32_t exit_code;
    char last_error[96];
    uint64_t wdt_deadline_ns;  /* 0 = not armed (vos_wdt_kick re-arms) */
    int power_event;           /* pending VOS_POWER_*, 0 = none */
    bool power_acked;
    bool ota_confirmed;        /* vos_ota_confirm() since the last start */
    struct vmrt__vmext *ext;   /* private to vm.c (log ring, backoff, ...) */
    struct vmrt__vmsched *sch; /* private to sched.c */
    vmrt_vm_t *next;           /* rt's VM list, creation order */
    /* Added by "fixcore" (additive): the instance's linear memory size,
     * mirrored under rt->lock by whoever owns the instance (see "Instance
     * ownership" above), so that vmrt_vm_info never calls into it. */
    uint64_t mem_bytes;
};

/* ---- runtime ---------------------------------------------------------- */

struct vmrt_rt {
    vmrt_rt_config_t cfg;
    pl_mutex_t lock;
    vmrt_vm_t *vms;
    void *sub[VMRT__SUB_MAX];  /* runtime-wide subsystem state */
    struct vmrt__sched *sched; /* src/vm/sched.c */
    struct vmrt__rtext *ext;   /* private to rt.c / vm.c */
};

/* ---- the core's API for subsystems ------------------------------------ */

/* The VM / green thread a host function runs for. */
vmrt_vm_t *vmrt__vm_of(vmrt_instance_t *inst);
vmrt__vthread_t *vmrt__self(vmrt_instance_t *inst);
vmrt_vm_t *vmrt__vm_find(vmrt_rt_t *rt, const char *name); /* lock held */

/*
 * vmrt__deadline: the deadline of the current wait.  On the first call of
 * a host function (no wait in progress) it is now + timeout_ns (UINT64_MAX
 * timeout = none -> 0); on a retry it is the deadline set the first time.
 */
uint64_t vmrt__deadline(vmrt__vthread_t *t, uint64_t timeout_ns);

/*
 * vmrt__block: with rt->lock held, queue `t` on `q` (may be NULL: wait for
 * the deadline only) until woken or `deadline_ns` (0 = none).
 * Return: VMRT_HOST_BLOCK, for the host function to return.
 */
int vmrt__block(vmrt__vthread_t *t, vmrt__waitq_t *q, uint64_t deadline_ns);

/* Why the last wait ended (on a retry), VMRT__WAKE_NONE on a first call. */
vmrt__wake_t vmrt__woken(const vmrt__vthread_t *t);

/* The host call completed: clear the wait state.  Lock not needed. */
void vmrt__wait_end(vmrt__vthread_t *t);

/* With rt->lock held: wake up to n threads on q (UINT32_MAX = all). */
void vmrt__wake(vmrt__waitq_t *q, uint32_t n);
/* With rt->lock held: wake all with VMRT__WAKE_ABORTED (object gone). */
void vmrt__wake_abort(vmrt__waitq_t *q);

/* Spawn a green thread running `func_index` (or table-0 element `elem` if
 * by_elem) with one i32 argument.  Lock not held.  Callable from any OS
 * thread: off the VM's worker it waits for, and takes, the VM's claim (see
 * "Instance ownership"), so spawns are serialized with each other, with
 * the worker and with snapshots.  VMRT_ESTATE if the VM is not scheduled
 * (not started, or being torn down). */
int vmrt__vthread_spawn(vmrt_vm_t *vm, bool by_elem, uint32_t fn,
                        uint32_t arg, uint8_t prio, bool irq,
                        vmrt__vthread_t **out);

/* Append to the VM's log ring (stdout/stderr/vos_log land here). */
void vmrt__log_append(vmrt_vm_t *vm, const char *data, size_t len);

/* Post an event to subscribers. */
void vmrt__event(vmrt_rt_t *rt, vmrt_event_kind_t kind, vmrt_vm_t *vm,
                 const char *detail);

/* ---- scheduler (src/vm/sched.c) <-> lifecycle (src/vm/vm.c) ---------- */

/* Workers, run queues, timers.  Created by vmrt_rt_create, workers started
 * by vmrt_rt_start. */
int vmrt__sched_create(vmrt_rt_t *rt);
int vmrt__sched_start(vmrt_rt_t *rt);
void vmrt__sched_destroy(vmrt_rt_t *rt); /* stops and joins the workers */

/* A started VM (threads set up, main thread called _start) joins the run
 * queues.  Lock held. */
void vmrt__sched_add(vmrt_vm_t *vm);
/* Take a VM out of scheduling and wait until no worker runs it (it is
 * stopped at the next fuel-chunk boundary, or already blocked).  Lock
 * held on entry and on return (it waits on a condition). */
void vmrt__sched_park(vmrt_vm_t *vm);
/* Make a parked VM schedulable again (runnable threads get queued). */
void vmrt__sched_unpark(vmrt_vm_t *vm);
/* Forget a VM (stop / destroy / before a restart frees its threads): park
 * it, unlink its threads from every wait queue (theirs or other VMs'),
 * cancel its timers and free vm->sch.  Call it before freeing the VM's
 * threads or the VM; vmrt__sched_add makes it schedulable again.  Lock
 * held.  (Additive.) */
void vmrt__sched_remove(vmrt_vm_t *vm);
/* With the VM parked (vmrt__sched_park) and rt->lock held: wait for any
 * claim (a spawn from another thread) to end and take the claim, so the
 * caller may use the instance until vmrt__sched_unclaim.  Also stores the
 * live __stack_pointer into the current green thread's record (sp), so
 * that every thread's record holds its own stack pointer for a snapshot.
 * Return: whether a claim was taken (pass it to vmrt__sched_unclaim).
 * (Additive, "fixcore".) */
bool vmrt__sched_claim(vmrt_vm_t *vm);
void vmrt__sched_unclaim(vmrt_vm_t *vm, bool claimed);

/*
 * Called by a worker, WITHOUT the lock, when a VM's main thread ended:
 * status is VMRT_RUN_DONE / VMRT_RUN_EXIT (exit_code -1: vm.c reads the
 * proc_exit code from the VM's WASI context) / VMRT_RUN_TRAP
 * (trap filled), or VMRT_EUNSUPPORTED-style negative for a host failure;
 * also for a watchdog expiry (status VMRT__END_WATCHDOG).  vm.c applies the
 * restart policy.  The VM is parked already, and the worker keeps owning
 * it (vm->on_worker) until this returns: a stop or restart waits for the
 * report, which therefore always belongs to the run being torn down.
 */
#define VMRT__END_WATCHDOG (-1000)
void vmrt__vm_ended(vmrt_vm_t *vm, int status, int32_t exit_code,
                    const vmrt_trap_info_t *trap);

/* One-shot timers on the monotonic clock (restart backoff, vOS timers).
 * fn runs on the timer thread WITH the lock held; it must not block. */
typedef struct vmrt__timer {
    uint64_t deadline_ns;
    void (*fn)(struct vmrt__timer *t);
    void *arg;
    uint32_t heap_idx;     /* owned by sched.c */
    bool armed;
} vmrt__timer_t;
void vmrt__timer_arm(vmrt_rt_t *rt, vmrt__timer_t *t, uint64_t deadline_ns);
void vmrt__timer_cancel(vmrt_rt_t *rt, vmrt__timer_t *t);

/* Interrupts (src/dev): queue irq for the VM's attached handler and make it
 * runnable; returns VOS_ENOENT-like negative if nothing is attached.  Lock
 * held. */
int vmrt__irq_raise(vmrt_vm_t *vm, uint32_t irq);

/*
 * Interrupt delivery (src/dev -> src/vm/sched.c; additive, helper "dev"):
 * called by vmrt__irq_raise WITH rt->lock held, from any thread (a device
 * event on the control thread or the timer thread, a power event).  Make
 * a green thread with irq = true that calls table-0 element `elem` as
 * handler(irq, arg) (two i32 params, no result; vmrt_thread_call_indirect
 * with nargs 2) and runs ahead of the VM's other threads.  As the VM may
 * be running on a worker right now, the scheduler may create the engine
 * thread later, on the VM's worker, before it runs another thread.
 * Return 0 or a negative VOS_E* / VMRT_E* code.  Until sched.c defines
 * it, a weak fallback in src/dev/dev.c returns VOS_ENOSYS.
 */
int vmrt__vthread_spawn_irq(vmrt_vm_t *vm, uint32_t elem, uint32_t irq,
                            uint32_t arg);

/* ---- subsystems ------------------------------------------------------- */

/* One host function of module "vos": tables end with a NULL name. */
typedef struct {
    const char *name;   /* import name, as in sdk/include/vos.h */
    const char *sig;    /* vmrt_linker_define_func() signature */
    vmrt_host_fn_t fn;
} vmrt__hostfn_t;

/*
 * vmrt__link_vos: define every function of the NULL-name-terminated table
 * `fns` on module "vos", each with context `ctx`.
 * Return: 0, or the linker's error.
 */
int vmrt__link_vos(vmrt_linker_t *lk, const vmrt__hostfn_t *fns, void *ctx);

typedef struct {
    const char *name;
    uint32_t snap_tag;                         /* VMRT_SNAP_TAG(...) */
    int (*rt_init)(vmrt_rt_t *rt);             /* once, before any VM */
    void (*rt_fini)(vmrt_rt_t *rt);
    int (*vm_init)(vmrt_vm_t *vm);             /* at start, before link */
    int (*link)(vmrt_vm_t *vm, vmrt_linker_t *lk); /* define host funcs */
    void (*vm_fini)(vmrt_vm_t *vm);            /* at stop / before restart */
    int (*save)(vmrt_vm_t *vm, vmrt_snap_writer_t *w);
    int (*load)(vmrt_vm_t *vm, const uint8_t *data, size_t len);
} vmrt__subsys_t;

extern const vmrt__subsys_t vmrt__sub_vos;
extern const vmrt__subsys_t vmrt__sub_dev;
extern const vmrt__subsys_t vmrt__sub_ipc;
extern const vmrt__subsys_t vmrt__sub_vfs;
extern const vmrt__subsys_t vmrt__sub_net;

#endif /* VMRT_VM_INTERNAL_H */
