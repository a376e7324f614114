/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_VOS_HANDLES_H
#define VMRT_VOS_HANDLES_H

/*
 * The per-VM handle table: every object a VM program holds (vOS mutexes,
 * queues, timers, threads, devices, IPC endpoints, sockets) is an integer
 * handle > 0, private to the VM, typed, and closed by vos_close().  Every
 * subsystem allocates its handles here so that vos_close() can dispatch on
 * the handle's type.
 *
 * Thread context: a VM's table is touched only by that VM's own host calls
 * (one at a time: a VM runs on at most one worker) and by the subsystems'
 * vm_init / vm_fini / save / load, which run while the VM is not running.
 * No lock is taken; do not touch another VM's table.
 *
 * Lifetime: the table is created lazily on first use (or by the vos
 * subsystem's vm_init, which runs first) and freed by the vos subsystem's
 * vm_fini, which runs LAST (fini order: net, vfs, ipc, dev, vos).  So each
 * subsystem's own vm_fini must close its handles (vmrt__handle_close_type)
 * while its per-VM state still exists; vos's vm_fini then closes whatever
 * is left (its own objects).
 *
 * Snapshots: each subsystem saves its own handles (number + object state)
 * in its own section and re-creates them on load with
 * vmrt__handle_alloc_at(), keeping the numbers the program holds.
 */

#include <stdbool.h>
#include <stdint.h>

#include "vm/vm_internal.h"

typedef enum {
    VMRT__H_NONE = 0,
    VMRT__H_MUTEX,
    VMRT__H_SEM,
    VMRT__H_EVENT,
    VMRT__H_QUEUE,
    VMRT__H_TIMER,
    VMRT__H_THREAD,
    VMRT__H_DEV,
    VMRT__H_IPC_SERVICE,
    VMRT__H_IPC_SUB,
    VMRT__H_SOCK,
    VMRT__H_MAX
} vmrt__htype_t;

/* Handles per VM; numbers are 1..VMRT_VOS_MAX_HANDLES. */
#ifndef VMRT_VOS_MAX_HANDLES
#define VMRT_VOS_MAX_HANDLES 256
#endif

/*
 * Releases `obj` when its handle is closed (vos_close, vmrt__handle_close*,
 * vm_fini).  The entry is already gone from the table when it runs.  Wake
 * waiters with vmrt__wake_abort() (taking rt->lock) before freeing.
 */
typedef void (*vmrt__hclose_fn_t)(vmrt_vm_t *vm, void *obj);

/**
 * Allocate a handle for `obj` of `type`.
 * @param obj      borrowed; the table keeps the pointer (non-NULL).
 * @param close_fn called when the handle is closed; may be NULL.
 * @return the handle (> 0); VOS_ENOMEM when the table is full or
 *         allocation fails; VOS_EINVAL for a bad type or NULL obj.
 */
int vmrt__handle_alloc(vmrt_vm_t *vm, vmrt__htype_t type, void *obj,
                       vmrt__hclose_fn_t close_fn);

/**
 * Allocate handle number `h` exactly (snapshot load).
 * @return h; VOS_EINVAL (out of range, bad type); VOS_EBUSY (in use);
 *         VOS_ENOMEM.
 */
int vmrt__handle_alloc_at(vmrt_vm_t *vm, int h, vmrt__htype_t type,
                          void *obj, vmrt__hclose_fn_t close_fn);

/** @return the object of handle `h` if it exists and has `type`, else
 *  NULL (the caller answers VOS_EBADF). */
void *vmrt__handle_get(vmrt_vm_t *vm, int h, vmrt__htype_t type);

/** @return the type of handle `h`, VMRT__H_NONE if it is not open. */
vmrt__htype_t vmrt__handle_type(vmrt_vm_t *vm, int h);

/** Remove `h` from the table WITHOUT calling close_fn (the caller frees
 *  the object itself).  @return 0 or VOS_EBADF. */
int vmrt__handle_free(vmrt_vm_t *vm, int h);

/** Remove `h` and call its close_fn (what vos_close does).
 *  @return 0 or VOS_EBADF. */
int vmrt__handle_close(vmrt_vm_t *vm, int h);

/** Close every handle of `type` (VMRT__H_NONE: every handle), calling
 *  their close_fn.  For vm_fini. */
void vmrt__handle_close_type(vmrt_vm_t *vm, vmrt__htype_t type);

/**
 * Iterate: the first open handle > `after` of `type` (VMRT__H_NONE: any).
 * @param obj receives its object; may be NULL.
 * @return the handle, or 0 when there is none.
 */
int vmrt__handle_next(vmrt_vm_t *vm, int after, vmrt__htype_t type,
                      void **obj);

#endif /* VMRT_VOS_HANDLES_H */
