/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The SDK library's thread helpers, compiled into every VM program by
 * vmf_wasm_program(): vos_thread_spawn() allocates a thread's shadow stack
 * with malloc and vos_thread_join() frees it once the thread has ended.
 *
 * Green threads are preempted at calls and loop back-edges, so the list
 * of stacks is guarded by a vOS mutex.  malloc itself is not
 * preemption-safe in wasi-libc, so the allocation and the free happen
 * under that mutex too.  Programs that never spawn import nothing from
 * here (the linker drops unused functions and their imports).
 */

#include <stdint.h>
#include <stdlib.h>

#include "vos.h"

#define STACK_DEFAULT (16u * 1024u)
#define STACK_ALIGN 16u

struct stack_node {
    struct stack_node *next;
    int handle;            /* thread handle; -1 = detached (leaked) */
};

static struct stack_node *stacks;
static int lib_mutex;      /* > 0 once made */

/*
 * The mutex is made on first use.  Two threads racing here both make one;
 * the check-and-store after the call has no call or loop in it, so no
 * switch can fall between them, and the loser closes its own.
 */
static void
lib_lock(void)
{
    int m;

    if (lib_mutex <= 0) {
        m = vos_mutex_create();
        if (lib_mutex <= 0)
            lib_mutex = m;
        else if (m > 0)
            (void)vos_close(m);
    }
    if (lib_mutex > 0)
        (void)vos_mutex_lock(lib_mutex, VOS_FOREVER);
}

static void
lib_unlock(void)
{
    if (lib_mutex > 0)
        (void)vos_mutex_unlock(lib_mutex);
}

int
vos_thread_spawn(void (*entry)(void *), void *arg, int prio,
                 uint32_t stack_size)
{
    struct stack_node *n, *p;
    uintptr_t lo;
    int h;

    if (stack_size == 0)
        stack_size = STACK_DEFAULT;
    if (stack_size > UINT32_MAX - 2 * STACK_ALIGN - sizeof(*n))
        return VOS_EINVAL;
    stack_size = (stack_size + STACK_ALIGN - 1) & ~(STACK_ALIGN - 1);
    lib_lock();
    n = malloc(sizeof(*n) + STACK_ALIGN + stack_size);
    if (n == NULL) {
        lib_unlock();
        return VOS_ENOMEM;
    }
    /* The stack sits after the node, aligned; it grows down from its top
     * and never reaches the node. */
    lo = ((uintptr_t)(n + 1) + STACK_ALIGN - 1) & ~(uintptr_t)(STACK_ALIGN - 1);
    h = vos_thread_create(entry, arg, prio, (void *)lo, stack_size);
    if (h < 0) {
        free(n);
        lib_unlock();
        return h;
    }
    /* A stale node with the same number belongs to a thread whose handle
     * was closed without a join: its stack may still be in use. */
    for (p = stacks; p != NULL; p = p->next)
        if (p->handle == h)
            p->handle = -1;
    n->handle = h;
    n->next = stacks;
    stacks = n;
    lib_unlock();
    return h;
}

int
vos_thread_join(int th, uint32_t timeout_ms)
{
    struct stack_node **pp, *n = NULL;
    int rc;

    if ((rc = vos_thread_join_raw(th, timeout_ms)) != 0)
        return rc;
    /* The thread has ended: its stack is free. */
    lib_lock();
    for (pp = &stacks; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->handle == th) {
            n = *pp;
            *pp = n->next;
            break;
        }
    }
    free(n);
    lib_unlock();
    return 0;
}
