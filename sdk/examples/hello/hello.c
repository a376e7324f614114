/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * hello: the smallest useful VM program.  It greets its arguments, does a
 * little arithmetic, sleeps 100 ms (which reaches the runtime as a WASI
 * poll_oneoff that blocks the VM, not the host thread), reads the clock
 * and exits with HELLO_EXIT_CODE, so a runner can check all of it:
 *
 *   vmrt run build/sdk/hello.wasm world        (exit status 3)
 *   vmrt run --invoke count_primes build/sdk/hello.wasm 1000   (168)
 */

#define _POSIX_C_SOURCE 200809L /* clock_gettime, nanosleep under -std=c11 */

#include <stdio.h>
#include <time.h>

#define HELLO_EXIT_CODE 3

/* Exported for `vmrt run --invoke`: the number of primes below n. */
__attribute__((export_name("count_primes"))) int
count_primes(int n)
{
    int i, d, count = 0;

    for (i = 2; i < n; i++) {
        for (d = 2; d * d <= i; d++)
            if (i % d == 0)
                break;
        if (d * d > i)
            count++;
    }
    return count;
}

static double
elapsed_ms(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 +
           (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

int
main(int argc, char **argv)
{
    struct timespec t0, t1, nap = { 0, 100 * 1000 * 1000 };
    int i;

    printf("hello from a vmfleet VM:");
    for (i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("%s\n", argc > 1 ? "!" : " (no arguments)");

    printf("primes below 100: %d, below 10000: %d\n", count_primes(100),
           count_primes(10000));

    clock_gettime(CLOCK_MONOTONIC, &t0);
    nanosleep(&nap, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("slept %.1f ms\n", elapsed_ms(&t0, &t1));

    clock_gettime(CLOCK_REALTIME, &t1);
    printf("wall clock: %lld s since the epoch\n", (long long)t1.tv_sec);
    printf("exiting with %d\n", HELLO_EXIT_CODE);
    return HELLO_EXIT_CODE;
}
