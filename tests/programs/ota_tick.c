/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ota_tick: the guest of the OTA integration tests
 * (tests/integration/3x-ota-*.sh).  It ticks every 1 ms and measures, with
 * the monotonic clock, the largest gap between two successive ticks; every
 * 100 ms it logs "maxgap_us=N ticks=M version=V" for that window, so that
 * a test can tell whether this VM was paused or slowed while another VM
 * was updated.
 *
 * Every tick also stores its monotonic timestamp (8 bytes, native order)
 * in "last_tick" in the VM's own root.  At start the program reads that
 * file, if present, and logs "downtime_us=N version=V" (N = now - the last
 * tick of the previous run): across an image swap, the new image itself
 * measures how long the VM was down.  The host's monotonic clock is
 * shared by all VMs and survives a vmrt restart (it is CLOCK_MONOTONIC).
 *
 * V is OTA_TICK_VERSION, a compile-time define, so that the same source
 * builds as versions 1.0.0 and 1.1.0 (tests/programs/CMakeLists.txt).
 * Lines go through vos_log, one host call each.
 */

#define _POSIX_C_SOURCE 200809L /* nanosleep, pread under -std=c11 */

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vos.h"

/* -DOTA_TICK_VERSION=1.1.0 (a pp-number, so that no quotes have to
 * survive the build's command line). */
#ifndef OTA_TICK_VERSION
#define OTA_TICK_VERSION 1.0.0
#endif
#define STR_(x) #x
#define STR(x) STR_(x)
#define VERSION STR(OTA_TICK_VERSION)

#define WINDOW_US 100000u

static void
say(const char *msg)
{
    vos_log(VOS_LOG_INFO, msg, (uint32_t)strlen(msg));
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
    /* "--no-persist": no last_tick file, no host I/O per tick (the VM
     * whose gaps are measured must not wait on the file system). */
    int persist = !(argc > 1 && strcmp(argv[1], "--no-persist") == 0);
    uint64_t start, prev, t, gap, maxgap = 0, last = 0, window_start;
    unsigned long ticks = 0;
    char line[96];
    int fd;

    start = now_us();
    fd = persist ? open("last_tick", O_RDWR | O_CREAT, 0644) : -2;
    if (fd == -1) {
        say("ota_tick: cannot open last_tick");
        return 1;
    }
    if (persist && pread(fd, &last, sizeof(last), 0) == (ssize_t)sizeof(last) &&
        last != 0 && last <= start)
        snprintf(line, sizeof(line), "downtime_us=%" PRIu64 " version=%s",
                 start - last, VERSION);
    else
        snprintf(line, sizeof(line), "first start version=%s",
                 VERSION);
    say(line);

    prev = window_start = start;
    for (;;) {
        nanosleep(&nap, NULL);
        t = now_us();
        gap = t - prev;
        if (gap > maxgap)
            maxgap = gap;
        prev = t;
        ticks++;
        if (persist && pwrite(fd, &t, sizeof(t), 0) != (ssize_t)sizeof(t)) {
            say("ota_tick: cannot write last_tick");
            return 1;
        }
        if (t - window_start >= WINDOW_US) {
            snprintf(line, sizeof(line),
                     "maxgap_us=%" PRIu64 " ticks=%lu version=%s", maxgap,
                     ticks, VERSION);
            say(line);
            maxgap = 0;
            ticks = 0;
            window_start = t;
        }
    }
}
