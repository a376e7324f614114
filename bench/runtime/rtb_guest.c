/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * rtb_guest: the one guest of bench/runtime/rtbench.c; argv[1] picks
 * what it does (the VM manifest's args):
 * - "sleep": block in vos_sleep_us forever (an idle VM);
 * - "recv TOPIC": block in vos_ipc_recv on a subscription to TOPIC forever
 *   (an idle VM waiting on IPC);
 * - "srv": serve "rtb": reply with the request; the message "quit" ends it;
 * - "cli BATCHES CALLS SIZE": call "rtb" CALLS times per batch with SIZE
 *   bytes and log "batch ns_per_call" per batch, then "done" and "quit";
 * - "touch KIB": fill KIB KiB of heap with non-zero bytes, log "ready",
 *   then sleep forever (the snapshot bench);
 * - "tick PERIOD_US COUNT": COUNT ticks at absolute deadlines PERIOD_US
 *   apart; log each tick's lateness in us ("late v v ..."), then "done",
 *   then sleep forever.
 * Exit codes other than 0 name the failed step.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vos.h"

#define FOREVER_US 3600000000ull

static void
sleep_forever(void)
{
    for (;;)
        vos_sleep_us(FOREVER_US);
}

static int
srv(void)
{
    char buf[4096];
    uint32_t tag;
    int s, n;

    if ((s = vos_ipc_serve_open(VOS_STR("rtb"))) <= 0)
        return 10;
    for (;;) {
        n = vos_ipc_serve_next(s, buf, sizeof(buf), &tag, VOS_FOREVER);
        if (n < 0)
            return 11;
        if (tag == 0) {
            if (n == 4 && memcmp(buf, "quit", 4) == 0)
                return 0;
            continue;
        }
        if (vos_ipc_reply(s, tag, buf, (uint32_t)n) != 0)
            return 12;
    }
}

static int
cli(int batches, int calls, uint32_t size)
{
    static char req[4096], resp[4096];
    uint64_t t0, t1;
    int b, i, rc = VOS_ENOENT;

    if (size < 1 || size > sizeof(req))
        return 20;
    /* The server may not be up yet. */
    for (i = 0; i < 2000 && rc == VOS_ENOENT; i++) {
        rc = vos_ipc_call(VOS_STR("rtb"), "x", 1, resp, sizeof(resp), 1000);
        if (rc == VOS_ENOENT)
            vos_sleep_us(1000);
    }
    if (rc != 1)
        return 21;
    memset(req, 'r', sizeof(req));
    for (b = 0; b < batches; b++) {
        t0 = vos_time_mono_us();
        for (i = 0; i < calls; i++) {
            if (vos_ipc_call(VOS_STR("rtb"), req, size, resp, sizeof(resp),
                             VOS_FOREVER) != (int)size)
                return 22;
        }
        t1 = vos_time_mono_us();
        printf("batch %llu\n",
               (unsigned long long)((t1 - t0) * 1000u / (uint64_t)calls));
    }
    printf("done\n");
    fflush(stdout);
    if (vos_ipc_send(VOS_STR("rtb"), "quit", 4, VOS_FOREVER) != 0)
        return 23;
    return 0;
}

static int
touch(uint32_t kib)
{
    uint8_t *p = malloc((size_t)kib * 1024u);
    uint32_t x = 2463534242u;

    if (p == NULL)
        return 30;
    for (size_t i = 0; i < (size_t)kib * 1024u; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)(x | 1u);
    }
    printf("ready %u\n", (unsigned)p[12345 % ((size_t)kib * 1024u)]);
    fflush(stdout);
    sleep_forever();
    return 0;
}

static int
tick(uint64_t period, int count)
{
    uint64_t next = vos_time_mono_us(), now;
    int i;

    printf("late");
    for (i = 0; i < count; i++) {
        next += period;
        now = vos_time_mono_us();
        if (now < next)
            vos_sleep_us(next - now);
        now = vos_time_mono_us();
        printf(" %llu", (unsigned long long)(now - next));
        if (i % 32 == 31)
            printf("\nlate");
    }
    printf("\ndone\n");
    fflush(stdout);
    sleep_forever();
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 2)
        return 1;
    if (strcmp(argv[1], "sleep") == 0) {
        sleep_forever();
    } else if (strcmp(argv[1], "recv") == 0 && argc == 3) {
        char b[16];
        int s = vos_ipc_subscribe(argv[2], (uint32_t)strlen(argv[2]));

        if (s <= 0)
            return 2;
        for (;;)
            vos_ipc_recv(s, b, sizeof(b), VOS_FOREVER);
    } else if (strcmp(argv[1], "srv") == 0) {
        return srv();
    } else if (strcmp(argv[1], "cli") == 0 && argc == 5) {
        return cli(atoi(argv[2]), atoi(argv[3]),
                   (uint32_t)strtoul(argv[4], NULL, 10));
    } else if (strcmp(argv[1], "touch") == 0 && argc == 3) {
        return touch((uint32_t)strtoul(argv[2], NULL, 10));
    } else if (strcmp(argv[1], "tick") == 0 && argc == 4) {
        return tick(strtoull(argv[2], NULL, 10), atoi(argv[3]));
    }
    return 1;
}
