/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vos_sem: a take on an empty semaphore times out after its timeout (not
 * before); a take succeeds when another thread gives within the timeout.
 */

#include <stdint.h>
#include <stdio.h>

#include "vos.h"

static int sem;

static void
giver(void *arg)
{
    (void)arg;
    vos_sleep_us(20000);
    vos_sem_give(sem);
}

int
main(void)
{
    uint64_t t0, dt;
    int th, rc;

    if ((sem = vos_sem_create(0, 1)) <= 0)
        return 10;
    if (vos_sem_take(sem, VOS_NO_WAIT) != VOS_EAGAIN)
        return 11;
    t0 = vos_time_mono_us();
    rc = vos_sem_take(sem, 50);
    dt = vos_time_mono_us() - t0;
    if (rc != VOS_ETIMEDOUT || dt < 50000)
        return 12;
    if ((th = vos_thread_spawn(giver, NULL, 5, 0)) <= 0)
        return 13;
    t0 = vos_time_mono_us();
    rc = vos_sem_take(sem, 2000);
    dt = vos_time_mono_us() - t0;
    if (rc != 0 || dt < 15000 || dt > 1900000)
        return 14;
    if (vos_thread_join(th, 1000) != 0)
        return 15;
    printf("sem ok\n");
    return 0;
}
