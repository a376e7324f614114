/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * snap_sleep: print, compute a little, sleep 2 ms, many times, so that
 * a stop can land either while the program computes (a yield) or while
 * it sleeps (blocked in poll_oneoff).  Exits with SNAP_SLEEP_EXIT.
 */

#define _DEFAULT_SOURCE /* usleep under -std=c11 */

#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#define SNAP_SLEEP_EXIT 5
#define SLEEP_TICKS 40
#define SLEEP_WORK 3000

int
main(void)
{
    uint32_t x = 1;
    int i, j;

    for (i = 0; i < SLEEP_TICKS; i++) {
        for (j = 0; j < SLEEP_WORK; j++)
            x = x * 1103515245u + 12345u;
        printf("tick %d %08x\n", i, (unsigned)x);
        usleep(2000);
    }
    return SNAP_SLEEP_EXIT;
}
