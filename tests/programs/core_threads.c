/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * core_threads: three green threads with live shadow-stack frames, one
 * blocked on a queue, one sleeping, one computing, for a snapshot/restore
 * test (tests/unit/runtime/test_core.c).  Each thread recurses a few
 * levels with a canary array in every frame, waits or computes at the
 * bottom while calling a helper that uses the shadow stack too, and checks
 * every canary on the way back up.  If a thread resumes after a restore
 * with another thread's (or a stale) __stack_pointer, new frames land on
 * live ones and a canary breaks.  Exit 0 if every check held, else a code
 * naming the failed one.
 */

#include <stdint.h>
#include <stdio.h>

#include "vos.h"

#define DEPTH 6
#define SLEEP_US 500000u

static int q;
static volatile int b_done;
static volatile uint32_t bad[4];
static volatile uint32_t result[4];

/* Uses 256 bytes of shadow stack, so a wrong stack pointer overwrites
 * live frames below it. */
static __attribute__((noinline)) uint32_t
helper(uint32_t k)
{
    volatile uint8_t scratch[256];
    uint32_t i, s = 0;

    for (i = 0; i < sizeof(scratch); i++)
        scratch[i] = (uint8_t)(k + i);
    for (i = 0; i < sizeof(scratch); i += 37)
        s += scratch[i];
    return s;
}

/* Where the shadow stack pointer is now: the address of a local of a
 * callee.  The same call site must always see the same address; after a
 * restore with a wrong __stack_pointer it does not. */
static __attribute__((noinline)) uintptr_t
probe(void)
{
    volatile uint8_t here[16];
    volatile uintptr_t at = (uintptr_t)&here[0];

    here[0] = 1;
    return at;
}

/* The bottom of each thread: what it does while the snapshot is taken. */
static uint32_t
bottom(int who)
{
    uint32_t local[64], k = 0, i, sum = 0, want = 0, v = 0;
    uintptr_t sp = probe();

    switch (who) {
    case 0: /* blocked on the queue until thread 1 sends */
        if (vos_queue_recv(q, &v, VOS_FOREVER) != 4)
            bad[0] = 100;
        if (probe() != sp)
            bad[0] = 105;
        return v + helper(v);
    case 1: /* sleeping, then wakes thread 0 and stops thread 2 */
        if (vos_sleep_us(SLEEP_US) != 0)
            bad[1] = 101;
        if (probe() != sp)
            bad[1] = 105;
        v = 4242;
        if (vos_queue_send(q, &v, 1000) != 0)
            bad[1] = 102;
        b_done = 1;
        return helper(1);
    default: /* computing until thread 1 is done */
        for (i = 0; i < 64; i++)
            local[i] = 0;
        while (!b_done) {
            k++;
            local[k & 63] += k;
            if (helper(k) != helper(k)) /* never: keeps helper called */
                bad[2] = 103;
            if (probe() != sp)
                bad[2] = 105;
        }
        for (i = 0; i < 64; i++)
            sum += local[i];
        for (i = 1; i <= k; i++)
            want += i;
        if (sum != want)
            bad[2] = 104;
        return k != 0 ? 7 : 0;
    }
}

static __attribute__((noinline)) uint32_t
frame(int who, int depth)
{
    volatile uint32_t canary[16];
    uint32_t i, r, tag = 0x5a000000u | (uint32_t)who << 16 |
                         (uint32_t)depth << 8;

    for (i = 0; i < 16; i++)
        canary[i] = tag | i;
    r = depth == 0 ? bottom(who) : frame(who, depth - 1);
    for (i = 0; i < 16; i++)
        if (canary[i] != (tag | i))
            bad[who] = 200 + (uint32_t)depth;
    return r;
}

static void
entry(void *arg)
{
    int who = (int)(intptr_t)arg;

    result[who] = frame(who, DEPTH);
}

int
main(void)
{
    int th[3], i;
    volatile uint32_t canary[8];
    uintptr_t sp = probe();

    for (i = 0; i < 8; i++)
        canary[i] = 0xc0de0000u | (uint32_t)i;
    if ((q = vos_queue_create(4, 2)) <= 0)
        return 10;
    for (i = 0; i < 3; i++)
        if ((th[i] = vos_thread_spawn(entry, (void *)(intptr_t)i, 5,
                                      16384)) <= 0)
            return 11;
    printf("core_threads: started\n");
    /* The import itself, so that no wrapper's epilogue re-sets the stack
     * pointer before we look at it. */
    for (i = 0; i < 3; i++) {
        if (vos_thread_join_raw(th[i], 20000) != 0)
            return 12;
        if (probe() != sp)
            return 14;
    }
    for (i = 0; i < 8; i++)
        if (canary[i] != (0xc0de0000u | (uint32_t)i))
            return 13;
    for (i = 0; i < 3; i++) {
        if (bad[i] != 0) {
            printf("thread %d: check %u failed\n", i, (unsigned)bad[i]);
            return 20 + i;
        }
    }
    if (result[0] != 4242 + helper(4242) || result[1] != helper(1) ||
        result[2] != 7)
        return 30;
    printf("core_threads: ok\n");
    return 0;
}
