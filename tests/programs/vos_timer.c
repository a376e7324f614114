/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vos_timer: a periodic 10 ms timer counts 10 ticks; each tick gives a
 * semaphore that main takes.  Exit 0 if 10 ticks came, no sooner than
 * their period allows, and none after vos_timer_stop.
 */

#include <stdint.h>
#include <stdio.h>

#include "vos.h"

#define TICKS 10
#define PERIOD_MS 10

static volatile int ticks;
static int sem;

static void
tick(void *arg)
{
    (void)arg;
    ticks++;
    vos_sem_give(sem);
}

int
main(void)
{
    uint64_t t0, dt;
    int t, i, n;

    if ((sem = vos_sem_create(0, 100)) <= 0)
        return 10;
    if ((t = vos_timer_create(tick, NULL)) <= 0)
        return 11;
    t0 = vos_time_mono_us();
    if (vos_timer_start(t, PERIOD_MS, PERIOD_MS) != 0)
        return 12;
    for (i = 0; i < TICKS; i++)
        if (vos_sem_take(sem, 1000) != 0)
            return 13;
    if (vos_timer_stop(t) != 0)
        return 14;
    dt = vos_time_mono_us() - t0;
    n = ticks;
    vos_sleep_us(3 * PERIOD_MS * 1000);
    printf("ticks %d in %u us\n", n, (unsigned)dt);
    /* A slow main (a sanitizer build on a loaded machine) may reach
     * vos_timer_stop after one more period: that tick came before the
     * stop and counts; none may come after it. */
    if (n < TICKS || ticks != n || dt < (TICKS * PERIOD_MS - 2) * 1000)
        return 15;
    return vos_close(t);
}
