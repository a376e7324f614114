/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * tick-ref: the native reference for the OTA gap test (31-ota-update.sh).
 * It does what the guest ota_tick does, natively: sleeps 1 ms in a loop
 * and tracks the largest gap between two wake-ups, until SIGTERM or
 * SIGINT, then prints "maxgap_us=N ticks=M" and exits 0.  A gap this
 * native loop also saw is a stall of the machine (CPU competition, or a
 * virtual CPU the host did not run), not something the runtime did.
 *
 *   tick-ref [--help]
 */

#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop;

static void
on_sig(int sig)
{
    (void)sig;
    stop = 1;
}

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
main(int argc, char **argv)
{
    struct timespec nap = { 0, 1000L * 1000 };
    struct sigaction sa;
    uint64_t prev, t, maxgap = 0;
    unsigned long ticks = 0;

    if (argc > 1) {
        int help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

        fputs("usage: tick-ref\n  sleeps 1 ms in a loop until SIGTERM/SIGINT,"
              " then prints \"maxgap_us=N ticks=M\"\n  exit: 0, 2 usage\n",
              help ? stdout : stderr);
        return help ? 0 : 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sig;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    prev = now_us();
    while (!stop) {
        nanosleep(&nap, NULL); /* EINTR on the signal: the loop ends */
        if (stop)
            break;
        t = now_us();
        if (t - prev > maxgap)
            maxgap = t - prev;
        prev = t;
        ticks++;
    }
    printf("maxgap_us=%" PRIu64 " ticks=%lu\n", maxgap, ticks);
    return 0;
}
