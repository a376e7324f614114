/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vos_mutex: three threads of equal priority add to one counter with a
 * read, a yield and a write: without the mutex updates would be lost.
 * Exit 0 if the counter is exactly THREADS * ADDS.
 */

#include <stdio.h>

#include "vos.h"

#define THREADS 3
#define ADDS 300

static int mtx;
static volatile unsigned counter;

static void
adder(void *arg)
{
    unsigned v;
    int i;

    (void)arg;
    for (i = 0; i < ADDS; i++) {
        if (vos_mutex_lock(mtx, VOS_FOREVER) != 0)
            return;
        v = counter;
        vos_yield(); /* let the others try to get in */
        counter = v + 1;
        if (vos_mutex_unlock(mtx) != 0)
            return;
    }
}

int
main(void)
{
    int th[THREADS], i;

    if ((mtx = vos_mutex_create()) <= 0)
        return 10;
    for (i = 0; i < THREADS; i++)
        if ((th[i] = vos_thread_spawn(adder, NULL, 5, 0)) <= 0)
            return 11;
    for (i = 0; i < THREADS; i++)
        if (vos_thread_join(th[i], 10000) != 0)
            return 12;
    printf("counter %u\n", counter);
    return counter == THREADS * ADDS ? 0 : 13;
}
