/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* POSIX port: threads, mutexes, condition variables (pthreads). */

#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#include "pl/pl.h"
#include "pl_internal.h"

/*
 * trampoline: adapts pthread's entry signature and applies what can only
 * be applied from inside the new thread (its Linux name, nice value and
 * timer slack).
 */
static void *
trampoline(void *p)
{
    pl_thread_t *t = p;

#ifdef __linux__
    if (t->name[0] != '\0')
        (void)pthread_setname_np(pthread_self(), t->name);
    /*
     * Linux keeps a nice value per thread.  Raising priority needs
     * privilege; failing to do so is not an error, prio is a hint.
     */
    if (t->prio != 0) {
        int nice = t->prio > 20 ? -20 : t->prio < -19 ? 19 : -t->prio;
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
    }
    /*
     * Linux may delay a timed wait's wake-up by the thread's timer slack
     * (50 us by default) to batch it with others.  A more important
     * thread (the runtime's timer thread, whose waits end guest sleeps)
     * wants its deadlines as exact as the OS can; this needs no
     * privilege.
     */
    if (t->prio > 0)
        (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
#endif
    t->entry(t->arg);
    return NULL;
}

int
pl_thread_create(pl_thread_t *t, const pl_thread_opts_t *o,
                 void (*entry)(void *), void *arg)
{
    pthread_attr_t attr;
    int rc;

    if (t == NULL || entry == NULL)
        return PL_EINVAL;
    memset(t, 0, sizeof(*t));
    t->entry = entry;
    t->arg = arg;
    if (o != NULL) {
        t->prio = o->prio;
        if (o->name != NULL) {
            strncpy(t->name, o->name, sizeof(t->name) - 1);
            t->name[sizeof(t->name) - 1] = '\0';
        }
    }
    if ((rc = pthread_attr_init(&attr)) != 0)
        return pl__errno(rc);
    if (o != NULL && o->stack_size != 0) {
        size_t sz = o->stack_size;
        if (sz < (size_t)PTHREAD_STACK_MIN)
            sz = (size_t)PTHREAD_STACK_MIN;
        if ((rc = pthread_attr_setstacksize(&attr, sz)) != 0)
            goto fail;
    }
    rc = pthread_create(&t->tid, &attr, trampoline, t);
fail:
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : pl__errno(rc);
}

int
pl_thread_join(pl_thread_t *t)
{
    int rc;

    if (pthread_equal(t->tid, pthread_self()))
        return PL_EINVAL;
    if ((rc = pthread_join(t->tid, NULL)) != 0)
        return pl__errno(rc);
    return 0;
}

uint64_t
pl_thread_self_id(void)
{
#ifdef __linux__
    return (uint64_t)syscall(SYS_gettid);
#else
    /* pthread_t is opaque; its bytes still identify the thread. */
    pthread_t self = pthread_self();
    uint64_t id = 0;
    memcpy(&id, &self, sizeof(self) < sizeof(id) ? sizeof(self) : sizeof(id));
    return id;
#endif
}

void
pl_thread_yield(void)
{
    sched_yield();
}

int
pl_mutex_init(pl_mutex_t *m)
{
    int rc;
    pthread_mutexattr_t attr;

    if ((rc = pthread_mutexattr_init(&attr)) != 0)
        return pl__errno(rc);
#ifndef NDEBUG
    /* Debug builds catch unlocks by the wrong thread. */
    (void)pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
#endif
    rc = pthread_mutex_init(&m->m, &attr);
    pthread_mutexattr_destroy(&attr);
    return rc == 0 ? 0 : pl__errno(rc);
}

void
pl_mutex_lock(pl_mutex_t *m)
{
    (void)pthread_mutex_lock(&m->m);
}

int
pl_mutex_trylock(pl_mutex_t *m)
{
    int rc = pthread_mutex_trylock(&m->m);
    if (rc == 0)
        return 0;
    return rc == EBUSY ? PL_EBUSY : pl__errno(rc);
}

void
pl_mutex_unlock(pl_mutex_t *m)
{
    (void)pthread_mutex_unlock(&m->m);
}

void
pl_mutex_destroy(pl_mutex_t *m)
{
    (void)pthread_mutex_destroy(&m->m);
}

int
pl_cond_init(pl_cond_t *c)
{
    pthread_condattr_t attr;
    int rc;

    if ((rc = pthread_condattr_init(&attr)) != 0)
        return pl__errno(rc);
    /*
     * Deadlines are on the monotonic clock so that setting the wall clock
     * (NTP, an operator) neither fires nor stalls timers.
     */
    if ((rc = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)) == 0)
        rc = pthread_cond_init(&c->c, &attr);
    pthread_condattr_destroy(&attr);
    return rc == 0 ? 0 : pl__errno(rc);
}

void
pl_cond_wait(pl_cond_t *c, pl_mutex_t *m)
{
    (void)pthread_cond_wait(&c->c, &m->m);
}

int
pl_cond_timedwait(pl_cond_t *c, pl_mutex_t *m, uint64_t deadline_ns)
{
    struct timespec ts;
    int rc;

    /* Clamp so that a "forever" deadline does not overflow time_t. */
    if (deadline_ns / 1000000000u > (uint64_t)INT32_MAX)
        deadline_ns = (uint64_t)INT32_MAX * 1000000000u;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts.tv_nsec = (long)(deadline_ns % 1000000000u);
    rc = pthread_cond_timedwait(&c->c, &m->m, &ts);
    if (rc == ETIMEDOUT)
        return PL_ETIMEDOUT;
    return rc == 0 ? 0 : pl__errno(rc);
}

void
pl_cond_signal(pl_cond_t *c)
{
    (void)pthread_cond_signal(&c->c);
}

void
pl_cond_broadcast(pl_cond_t *c)
{
    (void)pthread_cond_broadcast(&c->c);
}

void
pl_cond_destroy(pl_cond_t *c)
{
    (void)pthread_cond_destroy(&c->c);
}

void
pl_once(pl_once_t *o, void (*fn)(void))
{
    (void)pthread_once(&o->o, fn);
}
