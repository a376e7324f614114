/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_VOS_INTERNAL_H
#define VMRT_VOS_INTERNAL_H

/*
 * Private to src/vos (vos.c, handles.c, sync.c, config.c): the vos
 * subsystem's per-VM state and objects.  Other subsystems use handles.h.
 */

#include <stdbool.h>
#include <stdint.h>

#include "vm/vm_internal.h"
#include "vos.h"
#include "vos/handles.h"

/* Limits (docs/vos-api.md). */
#define VOS__QUEUE_MSG_MAX 4096u       /* bytes per message */
#define VOS__QUEUE_DEPTH_MAX 1024u
#define VOS__QUEUE_BYTES_MAX (256u * 1024u)
#define VOS__LOG_MAX 1024u             /* bytes of text per vos_log */
#define VOS__CFG_KEY_MAX 64u
#define VOS__CFG_VAL_MAX 1024u
#define VOS__CFG_KEYS 64u
#define VOS__TIMER_PENDING_MAX 4u      /* firings queued before overrun */

typedef struct {
    int type;              /* vmrt__htype_t, VMRT__H_NONE = free */
    void *obj;
    vmrt__hclose_fn_t close_fn;
} vos__hent_t;

typedef struct {
    char *key;             /* NUL-terminated copy */
    uint32_t klen;
    char *val;
    uint32_t vlen;
} vos__cfg_ent_t;

typedef struct vos__timer vos__timer_t;

/* vm->sub[VMRT__SUB_VOS]. */
typedef struct vos__vm {
    vos__hent_t *htab;     /* htab[h - 1] */
    uint32_t hcap;
    uint32_t hcursor;      /* where the next allocation starts looking */
    /* Config: loaded at vm_init from <root>/../config.json. */
    vos__cfg_ent_t *cfg;
    uint32_t ncfg;
    bool cfg_loaded;
    /* Timer dispatch (guarded by rt->lock): spawns in progress for this
     * VM, which vm_fini waits out. */
    uint32_t dispatching;
    bool dying;
} vos__vm_t;

typedef struct {
    uint32_t owner;        /* vthread id + 1; 0 = unlocked */
    uint32_t count;        /* recursion depth */
    vmrt__waitq_t wq;
} vos__mutex_t;

typedef struct {
    uint32_t count;
    uint32_t max;
    vmrt__waitq_t wq;
} vos__sem_t;

typedef struct {
    uint32_t bits;
    vmrt__waitq_t wq;
} vos__event_t;

typedef struct {
    uint32_t msg_size;
    uint32_t depth;
    uint32_t head;         /* index of the oldest message */
    uint32_t count;
    uint8_t *buf;          /* depth * msg_size */
    vmrt__waitq_t send_wq; /* waiting while full */
    vmrt__waitq_t recv_wq; /* waiting while empty */
} vos__queue_t;

struct vos__timer {
    vmrt__timer_t t;       /* t.arg = this */
    vmrt_vm_t *vm;
    uint32_t fn;           /* table-0 element */
    uint32_t arg;
    uint64_t period_ns;    /* 0 = one-shot */
    uint32_t pending;      /* firings not yet dispatched */
    uint32_t overruns;     /* firings dropped: VM too slow */
    bool queued;           /* on the dispatcher's list */
    vos__timer_t *dnext;   /* dispatcher list link */
};

typedef struct {
    uint32_t id;           /* vthread id; the vthread may be gone */
} vos__thread_t;

/* Runtime-wide: rt->sub[VMRT__SUB_VOS]. */
typedef struct {
    pl_thread_t thread;    /* timer dispatcher */
    pl_cond_t cond;        /* with rt->lock: work, stop, dispatch done */
    pl_mutex_t spawn_lock; /* unused: the core serializes spawns */
    bool running;
    bool stop;
    vos__timer_t *head;    /* timers with pending firings */
    vos__timer_t *tail;
} vos__rt_t;

/* The VM's vos state, created if missing (NULL on allocation failure). */
vos__vm_t *vmrt__vos_state(vmrt_vm_t *vm);

/* Guest memory: a host pointer to [ptr, ptr + len) or NULL (VOS_EFAULT). */
void *vmrt__vos_mem(vmrt_instance_t *inst, uint32_t ptr, uint32_t len);

/* Timeout in ms (VOS_FOREVER = none) to ns for vmrt__deadline. */
uint64_t vmrt__vos_timeout_ns(uint32_t timeout_ms);

/* A host function: the subsystems' shared table entry (vm_internal.h). */
typedef vmrt__hostfn_t vmrt__vos_fn_t;

/* The host functions of each file (NULL-name terminated tables). */
extern const vmrt__vos_fn_t vmrt__vos_sync_fns[];
extern const vmrt__vos_fn_t vmrt__vos_core_fns[];

/* Find a host function by import name (tests).  NULL if unknown. */
vmrt_host_fn_t vmrt__vos_fn(const char *name);

/* sync.c: snapshots and teardown of sync objects and timers. */
int vmrt__vos_sync_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w);
int vmrt__vos_sync_load(vmrt_vm_t *vm, const uint8_t *p, size_t len,
                        size_t *used);
/* With rt->lock held: a timer fired (vmrt__timer_t callback). */
void vmrt__vos_timer_fire(vmrt__timer_t *t);
/* The dispatcher thread's body (vos.c) and the hand-off from a firing. */
void vmrt__vos_dispatch_push(vmrt_rt_t *rt, vos__timer_t *tm);
void vmrt__vos_dispatch_forget(vmrt_rt_t *rt, vos__timer_t *tm);

/* config.c */
int vmrt__vos_cfg_load(vmrt_vm_t *vm, vos__vm_t *st);
void vmrt__vos_cfg_free(vos__vm_t *st);
extern const vmrt__vos_fn_t vmrt__vos_cfg_fns[];

#endif /* VMRT_VOS_INTERNAL_H */
