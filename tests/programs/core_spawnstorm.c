/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * core_spawnstorm: a 1 ms periodic timer (its handler threads are spawned
 * by the vOS dispatcher thread) while main creates and joins threads as
 * fast as it can (spawned on the VM's worker): spawns from two OS threads
 * into one VM at once, for tests/unit/runtime/test_core.c.  Exit 0 when
 * every thread ran, else the number of the failed step.
 */

#include <stdio.h>

#include "vos.h"

#define ROUNDS 300

static volatile unsigned ran, ticks;

static void
tick(void *arg)
{
    (void)arg;
    ticks++;
}

static void
body(void *arg)
{
    (void)arg;
    ran++;
}

int
main(void)
{
    int t, th, i;

    if ((t = vos_timer_create(tick, NULL)) <= 0)
        return 10;
    if (vos_timer_start(t, 1, 1) != 0)
        return 11;
    for (i = 0; i < ROUNDS; i++) {
        if ((th = vos_thread_spawn(body, NULL, 5, 4096)) <= 0)
            return 12;
        if (vos_thread_join(th, 5000) != 0)
            return 13;
    }
    vos_timer_stop(t);
    printf("spawnstorm: %u threads, %u ticks\n", ran, ticks);
    return ran == ROUNDS ? 0 : 14;
}
