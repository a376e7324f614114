/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * sleep_lat: how late does a 1 ms sleep wake up?  The probe of
 * bench/ota/sleep.sh, built twice from this file: as a VM program
 * (sleep_lat.wasm, whose nanosleep is WASI poll_oneoff and goes through
 * the runtime's scheduler and timer thread) and natively (sleep_lat, the
 * same loop straight on the host OS), so that the two distributions tell
 * what the runtime adds to what the OS does anyway.
 *
 *   sleep_lat [N [SLEEP_US [pwrite]]]
 *
 * sleeps N times (default 5000) for SLEEP_US (default 1000) and prints
 * one line with percentiles of the lateness (wake-up time minus the time
 * asked for, in microseconds) and how many sleeps were over 1, 2, 5 and
 * 10 ms late.  With "pwrite", every tick also stores its timestamp in the
 * file "last_tick", as ota_tick does, to see what that I/O costs.
 *
 *   sleep_lat spin [MS]
 *
 * instead reads the clock in a busy loop for MS milliseconds (default
 * 300) and counts the stalls: steps between two readings over 100 us,
 * 1, 2 and 5 ms.  Natively, pinned to a CPU under a real-time policy
 * (`chrt -f 99 taskset -c 0 sleep_lat spin`), nothing in the guest OS but
 * interrupts can take the CPU away, so what remains are the stalls of the
 * machine itself (a virtual CPU that the host does not run).
 */

#define _POSIX_C_SOURCE 200809L /* nanosleep, pwrite under -std=c11 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N_MAX 200000u

static uint32_t late[N_MAX];

static uint64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

/* The value below which a fraction `per_mille`/1000 of the n sorted
 * samples lie (nearest rank). */
static uint32_t
rank(uint32_t n, uint32_t per_mille)
{
    uint64_t k = ((uint64_t)n * per_mille + 999) / 1000;

    return late[k == 0 ? 0 : k - 1];
}

/* The "spin" mode: see the top of the file. */
static int
spin(uint32_t ms)
{
    static const uint64_t limit_ns[4] = { 100000, 1000000, 2000000,
                                          5000000 };
    uint64_t t, prev = now_ns(), end = prev + (uint64_t)ms * 1000000u,
               step, worst = 0;
    uint32_t stalls[4] = { 0, 0, 0, 0 };
    int k;

    do {
        t = now_ns();
        step = t - prev;
        prev = t;
        if (step > worst)
            worst = step;
        for (k = 0; k < 4; k++)
            if (step > limit_ns[k])
                stalls[k]++;
    } while (t < end);
    printf("sleep_lat spin ms=%" PRIu32 " stalls over_100us=%" PRIu32
           " over_1ms=%" PRIu32 " over_2ms=%" PRIu32 " over_5ms=%" PRIu32
           " max_us=%" PRIu64 "\n",
           ms, stalls[0], stalls[1], stalls[2], stalls[3], worst / 1000u);
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    uint32_t n = 5000, sleep_us = 1000, i, over[4] = { 0, 0, 0, 0 };
    static const uint32_t limit_us[4] = { 1000, 2000, 5000, 10000 };
    struct timespec nap;
    uint64_t t0, t1, want;
    int fd = -1, k;

    if (argc > 1 && strcmp(argv[1], "spin") == 0) {
        uint32_t ms = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 300;

        if (ms == 0 || ms > 600000) {
            fprintf(stderr, "usage: sleep_lat spin [MS (1..600000)]\n");
            return 2;
        }
        return spin(ms);
    }
    if (argc > 1)
        n = (uint32_t)strtoul(argv[1], NULL, 10);
    if (argc > 2)
        sleep_us = (uint32_t)strtoul(argv[2], NULL, 10);
    if (n == 0 || n > N_MAX || sleep_us == 0 || sleep_us > 1000000) {
        fprintf(stderr, "usage: sleep_lat [N (1..%u) [SLEEP_US (1..1000000) "
                        "[pwrite]]] | sleep_lat spin [MS]\n", N_MAX);
        return 2;
    }
    if (argc > 3 && strcmp(argv[3], "pwrite") == 0 &&
        (fd = open("last_tick", O_RDWR | O_CREAT, 0644)) < 0) {
        fprintf(stderr, "sleep_lat: cannot open last_tick\n");
        return 1;
    }
    nap.tv_sec = sleep_us / 1000000u;
    nap.tv_nsec = (long)(sleep_us % 1000000u) * 1000L;
    want = (uint64_t)sleep_us * 1000u;
    for (i = 0; i < n; i++) {
        t0 = now_ns();
        nanosleep(&nap, NULL);
        t1 = now_ns();
        late[i] = t1 - t0 > want ? (uint32_t)((t1 - t0 - want) / 1000u) : 0;
        if (fd >= 0 && pwrite(fd, &t1, sizeof(t1), 0) != (ssize_t)sizeof(t1)) {
            fprintf(stderr, "sleep_lat: cannot write last_tick\n");
            return 1;
        }
    }
    for (i = 0; i < n; i++)
        for (k = 0; k < 4; k++)
            if (late[i] > limit_us[k])
                over[k]++;
    qsort(late, n, sizeof(late[0]), cmp_u32);
    printf("sleep_lat n=%" PRIu32 " sleep_us=%" PRIu32 "%s late_us p50=%" PRIu32
           " p90=%" PRIu32 " p99=%" PRIu32 " p99.9=%" PRIu32 " max=%" PRIu32
           " over_1ms=%" PRIu32 " over_2ms=%" PRIu32 " over_5ms=%" PRIu32
           " over_10ms=%" PRIu32 "\n",
           n, sleep_us, fd >= 0 ? " pwrite" : "", rank(n, 500), rank(n, 900),
           rank(n, 990), rank(n, 999), late[n - 1], over[0], over[1],
           over[2], over[3]);
    fflush(stdout);
    if (fd >= 0)
        close(fd);
    return 0;
}
