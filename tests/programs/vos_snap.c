/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vos_snap: a periodic timer numbers its ticks into a queue; main checks
 * that they arrive in order, without a gap, TICKS times.  Snapshotted and
 * restored while it runs (test_vos_e2e), it must go on from the saved
 * tick: the queue's messages, the timer and the blocked receive all come
 * back.  Exit 0 if the sequence held.
 */

#include <stdint.h>
#include <stdio.h>

#include "vos.h"

#define TICKS 60
#define PERIOD_MS 5

static int q;
static uint32_t seq;

static void
tick(void *arg)
{
    (void)arg;
    seq++;
    /* Never block in a timer handler: drop the tick if the queue is full
     * (main then sees a gap and fails). */
    (void)vos_queue_send(q, &seq, VOS_NO_WAIT);
}

int
main(void)
{
    uint32_t v, want = 1;
    int t, i;

    if ((q = vos_queue_create(4, 16)) <= 0)
        return 10;
    if ((t = vos_timer_create(tick, NULL)) <= 0)
        return 11;
    if (vos_timer_start(t, PERIOD_MS, PERIOD_MS) != 0)
        return 12;
    for (i = 0; i < TICKS; i++) {
        if (vos_queue_recv(q, &v, 2000) != 4)
            return 13;
        if (v != want) {
            printf("tick %u, wanted %u\n", (unsigned)v, (unsigned)want);
            return 14;
        }
        want++;
    }
    printf("snap ticks %u\n", (unsigned)(want - 1));
    return 0;
}
