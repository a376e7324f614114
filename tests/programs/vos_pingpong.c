/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vos_pingpong: two threads ping-pong a counter through two queues of
 * depth 1, ROUNDS times.  Exit 0 if every reply was the request + 1.
 */

#include <stdint.h>
#include <stdio.h>

#include "vos.h"

#define ROUNDS 1000

static int ping_q, pong_q;

static void
ponger(void *arg)
{
    uint32_t v;
    int i;

    (void)arg;
    for (i = 0; i < ROUNDS; i++) {
        if (vos_queue_recv(ping_q, &v, VOS_FOREVER) != 4)
            return;
        v++;
        if (vos_queue_send(pong_q, &v, VOS_FOREVER) != 0)
            return;
    }
}

int
main(void)
{
    uint32_t v = 0, r;
    int th, i;

    ping_q = vos_queue_create(4, 1);
    pong_q = vos_queue_create(4, 1);
    if (ping_q <= 0 || pong_q <= 0)
        return 10;
    if ((th = vos_thread_spawn(ponger, NULL, 10, 0)) <= 0)
        return 11;
    for (i = 0; i < ROUNDS; i++) {
        if (vos_queue_send(ping_q, &v, VOS_FOREVER) != 0)
            return 12;
        if (vos_queue_recv(pong_q, &r, 2000) != 4 || r != v + 1)
            return 13;
        v = r;
    }
    if (vos_thread_join(th, 2000) != 0)
        return 14;
    printf("pingpong %u\n", (unsigned)v);
    return v == ROUNDS ? 0 : 15;
}
