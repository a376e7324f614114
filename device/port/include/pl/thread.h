/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_THREAD_H
#define PL_THREAD_H

/*
 * Threads and synchronisation.
 * Needed by: runtime (VM worker threads, scheduler), vOS (guest threads,
 * mutexes, condition variables, timers).  Atomics come from C11
 * <stdatomic.h>, so the port has no atomics API.
 *
 * Included by pl/pl.h; include that instead.
 */

#include <stddef.h>
#include <stdint.h>

#include "pl_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options for pl_thread_create(); a NULL pointer means all defaults. */
typedef struct pl_thread_opts {
    /** Stack size in bytes; 0 for the port's default. */
    size_t stack_size;
    /**
     * Priority hint: 0 is normal, negative is less important, positive
     * more.  POSIX applies it as a nice value to the thread when allowed
     * and ignores it otherwise (on Linux a positive prio also sets the
     * thread's timer slack to the minimum, so that its timed waits end
     * on time); an RTOS maps it onto task priorities.
     */
    int prio;
    /** Name for debuggers and `top` (truncated to 15 bytes); may be NULL. */
    const char *name;
} pl_thread_opts_t;

/**
 * Start a thread running entry(arg).
 * @param t caller storage; it must stay valid and must not move until
 *        pl_thread_join() returns, because the new thread reads it.
 * @param o options or NULL; borrowed for the call only.
 * @return 0 (entry will run), PL_EAGAIN (no resources), PL_EINVAL (bad
 *         stack size).  On failure entry never runs.
 */
int pl_thread_create(pl_thread_t *t, const pl_thread_opts_t *o,
                     void (*entry)(void *), void *arg);

/**
 * Wait for a thread started by pl_thread_create() to return.  Every
 * thread must be joined exactly once.
 * @return 0, or PL_EINVAL if t is the calling thread.
 */
int pl_thread_join(pl_thread_t *t);

/** @return a number identifying the calling thread (OS thread id). */
uint64_t pl_thread_self_id(void);

/** Give up the CPU to another ready thread. */
void pl_thread_yield(void);

/**
 * Initialise a non-recursive mutex.
 * @return 0, PL_ENOMEM or PL_EAGAIN.
 */
int pl_mutex_init(pl_mutex_t *m);
/** Lock; blocks.  Locking a mutex the caller holds is undefined. */
void pl_mutex_lock(pl_mutex_t *m);
/** @return 0 if locked, PL_EBUSY if another thread holds it. */
int pl_mutex_trylock(pl_mutex_t *m);
/** Unlock a mutex the calling thread holds. */
void pl_mutex_unlock(pl_mutex_t *m);
/** Destroy an unlocked mutex. */
void pl_mutex_destroy(pl_mutex_t *m);

/**
 * Initialise a condition variable whose timed waits use the monotonic
 * clock of pl_time_mono_ns().
 * @return 0, PL_ENOMEM or PL_EAGAIN.
 */
int pl_cond_init(pl_cond_t *c);
/** Wait; m must be locked by the caller.  May wake spuriously. */
void pl_cond_wait(pl_cond_t *c, pl_mutex_t *m);
/**
 * Wait until signalled or until pl_time_mono_ns() reaches deadline_ns.
 * May wake spuriously; callers re-check their predicate.
 * @return 0 if woken, PL_ETIMEDOUT if the deadline passed.
 */
int pl_cond_timedwait(pl_cond_t *c, pl_mutex_t *m, uint64_t deadline_ns);
/** Wake one waiter. */
void pl_cond_signal(pl_cond_t *c);
/** Wake all waiters. */
void pl_cond_broadcast(pl_cond_t *c);
/** Destroy a condition variable nobody waits on. */
void pl_cond_destroy(pl_cond_t *c);

/**
 * Run fn exactly once per `o` (initialised with PL_ONCE_INIT), however
 * many threads call this; all callers return after fn has finished.
 */
void pl_once(pl_once_t *o, void (*fn)(void));

#ifdef __cplusplus
}
#endif
#endif /* PL_THREAD_H */
