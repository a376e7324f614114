/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_VM_CORE_H
#define VMRT_VM_CORE_H

/*
 * Private to the lifecycle half of the core (rt.c, vm.c, log.c): the
 * runtime's and each VM's extension records.  The scheduler (sched.c) and
 * the subsystems never look inside.
 *
 * Locking: rtext->ops serializes lifecycle operations (control API, the
 * reaper thread, power events); it is always taken BEFORE rt->lock.  State
 * flips, sched calls and the pending flags below are under rt->lock.  Work
 * that calls into the engine or a subsystem runs with ops held and rt->lock
 * released, so host functions can take rt->lock.
 *
 * What vmrt_vm_info / vmrt_vm_list read, and who guards it: they hold
 * rt->lock ALONE (not ops), so every field they read is written under
 * rt->lock: vm->state, started_ns, cpu_ns (the worker), restarts,
 * exit_code, last_error, mem_bytes and the vm->inst pointer itself
 * (published by instantiate and unhooked by teardown under rt->lock
 * before the instance is freed).  The manifest (man) changes only while
 * the VM is unlinked from rt->vms.  Info never calls into vm->inst: its
 * owner (vm_internal.h, "Instance ownership") may be running or freeing
 * it; the memory size comes from vm->mem_bytes, which the owner mirrors.
 * rtext->destroying is written under ops and rt->lock, read under either.
 */

#include <string.h>

#include "vm/vm_internal.h"

#define VMRT__MAX_SUBSCRIBERS 8

/* One subsystem hook for a snapshot (ctx of vmrt_snap_hook_t). */
typedef struct {
    vmrt_vm_t *vm;
    const vmrt__subsys_t *sub;
} vmrt__hookctx_t;

struct vmrt__vmext {
    /* Log ring (log.c), under its own lock: host functions append to it
     * without rt->lock. */
    pl_mutex_t log_lock;
    bool log_ready;            /* log_lock initialized */
    char *log;                 /* allocated at the first append */
    size_t log_cap;
    size_t log_alloc;          /* bytes of log; below log_cap it grows
                                  and has never wrapped (log.c) */
    uint64_t log_end;          /* sequence of the next byte */
    /* Restart policy. */
    uint32_t failures;         /* consecutive failed runs */
    vmrt__timer_t backoff;
    bool restart_pending;      /* backoff over: the reaper restarts it */
    /* A run ended (vmrt__vm_ended): the reaper applies the policy. */
    bool end_pending;
    int end_status;
    int32_t end_code;
    vmrt_trap_info_t end_trap;
    /* Persistence. */
    vmrt_vm_state_t boot_state; /* state found in vmrt-state.json */
    bool need_add;             /* resume adds, not unparks (no longer
                                  set: a restored SUSPENDED VM is added
                                  and parked at once) */
    /* During a restore: the VMRT section, copied by its load hook. */
    uint8_t *snap_sec;
    size_t snap_len;
    /* Stage-and-swap (vm.c; docs/runtime.md "Stage-and-swap").  `swap`
     * is written under ops AND rt->lock, so vmrt_vm_swap_status reads it
     * under rt->lock alone; the rest is under ops. */
    vmrt_swap_status_t swap;
    vmrt_module_t *prev_mod;   /* the old image while the window is open */
    uint8_t *swap_snap;        /* snapshot_before, taken just before */
    size_t swap_snap_len;
    vmrt__timer_t swap_timer;  /* the window's end */
    bool swap_pending;         /* window over: the reaper decides */
    bool swap_boot_rb;         /* boot rolled back an open window: tell
                                  subscribers at vmrt_rt_start */
    bool swap_boot_snap;       /* ... and swap.snap holds the old state */
};

struct vmrt__rtext {
    pl_mutex_t ops;
    pl_cond_t reap_cond;       /* with rt->lock */
    pl_thread_t reaper;
    bool reaper_up;
    bool quit;
    bool started;
    bool destroying;           /* rt_destroy: stops are not persisted */
    pl_mutex_t ev_lock;        /* subscribers; events fire from anywhere */
    struct {
        vmrt_event_fn_t fn;
        void *arg;
    } subs[VMRT__MAX_SUBSCRIBERS];
    uint32_t nsubs;
    /* Destroyed VMs: their small records stay until rt_destroy, so that a
     * worker's late vmrt__vm_ended() never touches freed memory. */
    vmrt_vm_t *dead;
};

/* The subsystems in init order (rt.c). */
extern const vmrt__subsys_t *const vmrt__subsys[VMRT__SUB_MAX];

/* manifest.c: state_dir/vmrt-state.json (the one cJSON user). */
char *vmrt__state_to_json(vmrt_rt_t *rt); /* free: vmrt_json_free */
int vmrt__state_parse(vmrt_rt_t *rt, const char *json, size_t len,
                      void (*fn)(vmrt_rt_t *rt, const char *name,
                                 const char *state));

/* The swap record, vms/NAME/swap.json (manifest.c writes the JSON). */
typedef struct {
    char phase[16];            /* "health" or "committed" */
    char old_version[VMRT_VERSION_MAX];
    char new_version[VMRT_VERSION_MAX];
    uint64_t window_end_ms;    /* realtime */
    bool snapshot;             /* swap.snap holds the old state */
} vmrt__swaprec_t;
char *vmrt__swaprec_to_json(const vmrt__swaprec_t *r); /* vmrt_json_free */
int vmrt__swaprec_parse(const char *json, size_t len, vmrt__swaprec_t *r);

/* log.c */
int vmrt__log_init(vmrt_vm_t *vm, size_t cap);
void vmrt__log_fini(vmrt_vm_t *vm);
/* printf-style line into the VM's ring, prefixed "[vmrt] ". */
void vmrt__log_sys(vmrt_vm_t *vm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* vm.c, for rt.c. */
int vmrt__vm_reload_all(vmrt_rt_t *rt, char *err, size_t errlen);
int vmrt__vm_boot_all(vmrt_rt_t *rt);         /* ops held */
void vmrt__vm_shutdown_all(vmrt_rt_t *rt);    /* ops held */
void vmrt__vm_free_all(vmrt_rt_t *rt);
void vmrt__vm_reap(vmrt_rt_t *rt);            /* reaper loop body */
int vmrt__vm_stop_locked(vmrt_vm_t *vm, bool persist); /* ops held */
int vmrt__vm_suspend_op(vmrt_vm_t *vm, char *err, size_t errlen);
int vmrt__vm_resume_op(vmrt_vm_t *vm, char *err, size_t errlen);

/* Copy a C string, truncating to fit cap (> 0) bytes. */
static inline void
vmrt__strcpy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Fill err (may be NULL) printf-style. */
void vmrt__err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VMRT_VM_CORE_H */
