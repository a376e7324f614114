/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * iso_guest: the guests of the isolation tests
 * (tests/unit/runtime/test_isolation.c).  One program, many behaviours,
 * picked by the manifest's first argument, so that every VM of a test runs
 * the same module:
 *
 *   tick            sleep 1 ms in a loop; every WINDOW_US print
 *                   "T <mono_us> <ticks> <max_gap_us>" for that window
 *   spin            an infinite loop with no host call at all
 *   trap            trap at once
 *   crash           malloc and touch 4 MiB (a costly start), then trap
 *   oom             malloc 64 KiB blocks until malloc fails, then abort()
 *   serve           provide "net": answer calls with the request, first
 *                   byte plus one; ignore one-way messages
 *   call            call "net" in a loop; every WINDOW_US print
 *                   "C <mono_us> <calls> <max_rtt_us> <errors>"
 *   flood           send one-way messages to "net" as fast as it can;
 *                   every WINDOW_US print "F <mono_us> <sent> <full>"
 *   wdt-ok          vos_wdt_kick() every 10 ms, forever
 *   wdt-sleep       kick 5 times every 10 ms, then sleep without kicking
 *   wdt-spin        kick 5 times every 10 ms, then spin without kicking
 *
 * The lines go to stdout, i.e. the VM's log ring, where the test reads
 * them; a timestamp is vos_time_mono_us(), the clock of pl_time_mono_ns().
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vos.h"

#define WINDOW_US 50000u

static volatile uint32_t sink;
/* Blocks escape through here: else clang may drop the mallocs, assume they
 * succeed, and turn the endless loop into unreachable code. */
static void *volatile keep;

static int
do_tick(void)
{
    uint64_t prev, now, win_start, max_gap = 0;
    uint32_t ticks = 0;

    prev = win_start = vos_time_mono_us();
    for (;;) {
        if (vos_sleep_us(1000) < 0)
            return 2;
        now = vos_time_mono_us();
        if (now - prev > max_gap)
            max_gap = now - prev;
        prev = now;
        ticks++;
        if (now - win_start >= WINDOW_US) {
            printf("T %llu %u %llu\n", (unsigned long long)now, ticks,
                   (unsigned long long)max_gap);
            fflush(stdout);
            win_start = now;
            ticks = 0;
            max_gap = 0;
        }
    }
}

static int
do_spin(void)
{
    for (;;)
        sink++;
}

static int
do_crash(void)
{
    size_t n = 4u << 20;
    char *p = malloc(n);

    /* Touching every page makes each run cost something to set up and to
     * tear down, as a real program's start would. */
    if (p != NULL)
        memset(p, 0x5a, n);
    keep = p;
    sink = p != NULL ? (uint32_t)p[n - 1] : 0;
    __builtin_trap();
}

static int
do_oom(void)
{
    size_t total = 0;
    char *p;

    while ((p = malloc(64u << 10)) != NULL) {
        memset(p, 1, 64u << 10);
        *(void **)p = keep; /* a list, so that all stay reachable */
        keep = p;
        total += 64u << 10;
    }
    printf("oom after %zu KiB\n", total >> 10);
    fflush(stdout);
    abort();
}

static int
do_serve(void)
{
    char buf[256];
    uint32_t tag;
    int srv, n;

    if ((srv = vos_ipc_serve_open(VOS_STR("net"))) <= 0)
        return 10;
    for (;;) {
        n = vos_ipc_serve_next(srv, buf, sizeof(buf), &tag, VOS_FOREVER);
        if (n < 0)
            return 11;
        if (tag == 0)
            continue; /* one-way: the flooder's junk */
        if (n > 0)
            buf[0]++;
        if (vos_ipc_reply(srv, tag, buf, (uint32_t)n) != 0)
            return 12;
    }
}

static int
do_call(void)
{
    uint64_t t0, t1, win_start, max_rtt = 0;
    uint32_t calls = 0, errors = 0;
    char req[32], resp[32];
    int rc;

    /* The server may not be up yet. */
    do {
        rc = vos_ipc_call(VOS_STR("net"), "x", 1, resp, sizeof(resp), 1000);
        if (rc == VOS_ENOENT)
            vos_sleep_us(1000);
    } while (rc == VOS_ENOENT);
    memset(req, 0, sizeof(req));
    win_start = vos_time_mono_us();
    for (;;) {
        req[0] = (char)calls;
        t0 = vos_time_mono_us();
        rc = vos_ipc_call(VOS_STR("net"), req, sizeof(req), resp,
                          sizeof(resp), 1000);
        t1 = vos_time_mono_us();
        if (rc != (int)sizeof(req) || resp[0] != (char)(calls + 1))
            errors++;
        calls++;
        if (t1 - t0 > max_rtt)
            max_rtt = t1 - t0;
        if (t1 - win_start >= WINDOW_US) {
            printf("C %llu %u %llu %u\n", (unsigned long long)t1, calls,
                   (unsigned long long)max_rtt, errors);
            fflush(stdout);
            win_start = t1;
            calls = errors = 0;
            max_rtt = 0;
        }
        /* A client with work to do between calls, not a second flooder. */
        vos_sleep_us(500);
    }
}

static int
do_flood(void)
{
    uint64_t now, win_start;
    uint32_t sent = 0, full = 0, i;
    char msg[64];
    int rc;

    memset(msg, 'j', sizeof(msg));
    win_start = vos_time_mono_us();
    for (i = 0;; i++) {
        rc = vos_ipc_send(VOS_STR("net"), msg, sizeof(msg), VOS_NO_WAIT);
        if (rc == 0)
            sent++;
        else if (rc == VOS_EAGAIN)
            full++;
        else if (rc != VOS_ENOENT)
            return 30;
        if ((i & 255) == 0 && (now = vos_time_mono_us()) - win_start >=
                                  WINDOW_US) {
            printf("F %llu %u %u\n", (unsigned long long)now, sent, full);
            fflush(stdout);
            win_start = now;
            sent = full = 0;
        }
    }
}

static int
do_wdt(const char *how)
{
    int i;

    for (i = 0; strcmp(how, "wdt-ok") == 0 || i < 5; i++) {
        if (vos_wdt_kick() != 0)
            return 40;
        vos_sleep_us(10000);
    }
    printf("stopped kicking\n");
    fflush(stdout);
    if (strcmp(how, "wdt-spin") == 0)
        return do_spin();
    for (;;)
        vos_sleep_us(1000000);
}

int
main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";

    if (strcmp(mode, "tick") == 0)
        return do_tick();
    if (strcmp(mode, "spin") == 0)
        return do_spin();
    if (strcmp(mode, "trap") == 0)
        __builtin_trap();
    if (strcmp(mode, "crash") == 0)
        return do_crash();
    if (strcmp(mode, "oom") == 0)
        return do_oom();
    if (strcmp(mode, "serve") == 0)
        return do_serve();
    if (strcmp(mode, "call") == 0)
        return do_call();
    if (strcmp(mode, "flood") == 0)
        return do_flood();
    if (strncmp(mode, "wdt-", 4) == 0)
        return do_wdt(mode);
    printf("unknown mode '%s'\n", mode);
    return 1;
}
