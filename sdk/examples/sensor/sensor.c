/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * sensor: samples temp0 every 500 ms (argv[1] overrides the period in ms),
 * logs each reading, publishes it on the IPC topic "temp" and serves the
 * latest one as the service "sensor".
 *
 * Readings travel as decimal text in milli-degrees C ("25000"), so any
 * client can print them.  A sampler thread reads and publishes; the main
 * thread answers calls, so a slow caller never delays the samples.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vos.h"

#define SENSOR_PERIOD_MS 500
#define SENSOR_PUBLISH_WAIT_MS 100

static int period_ms = SENSOR_PERIOD_MS;
static int temp_dev;
/* The latest reading.  Green threads switch only at calls and loop
 * back-edges, so an aligned int store is seen whole. */
static volatile int32_t latest;
static volatile int have_reading;

static void
log_line(int level, const char *text)
{
    vos_log(level, text, (uint32_t)strlen(text));
}

static void
sampler(void *arg)
{
    char line[96], text[16];
    unsigned long n;
    int32_t mdeg;
    long mag;
    int rc, subs;

    (void)arg;
    for (n = 1;; n++) {
        rc = vos_dev_read(temp_dev, &mdeg, sizeof(mdeg), VOS_NO_WAIT);
        if (rc == (int)sizeof(mdeg)) {
            latest = mdeg;
            have_reading = 1;
            snprintf(text, sizeof(text), "%ld", (long)mdeg);
            /* Publishing waits at most a little for a slow subscriber;
             * a reading that does not get through is simply skipped. */
            subs = vos_ipc_publish(VOS_STR("temp"), text,
                                   (uint32_t)strlen(text),
                                   SENSOR_PUBLISH_WAIT_MS);
            mag = labs((long)mdeg);
            snprintf(line, sizeof(line),
                     "reading %lu: temp0 %s%ld.%03ld C (%d subscriber%s)", n,
                     mdeg < 0 ? "-" : "", mag / 1000, mag % 1000,
                     subs < 0 ? 0 : subs, subs == 1 ? "" : "s");
            log_line(VOS_LOG_INFO, line);
        } else {
            snprintf(line, sizeof(line), "temp0 read failed: error %d", rc);
            log_line(VOS_LOG_WARN, line);
        }
        vos_sleep_us((uint64_t)period_ms * 1000u);
    }
}

int
main(int argc, char **argv)
{
    char req[64], resp[16];
    uint32_t tag;
    int srv, th, n;

    if (argc > 1 && atoi(argv[1]) >= 10)
        period_ms = atoi(argv[1]);
    if ((temp_dev = vos_dev_open(VOS_STR("temp0"))) < 0) {
        fprintf(stderr, "sensor: cannot open temp0: error %d\n", temp_dev);
        return 1;
    }
    if ((srv = vos_ipc_serve_open(VOS_STR("sensor"))) < 0) {
        fprintf(stderr, "sensor: cannot serve 'sensor': error %d\n", srv);
        return 1;
    }
    if ((th = vos_thread_spawn(sampler, NULL, 4, 0)) < 0) {
        fprintf(stderr, "sensor: cannot start the sampler: error %d\n", th);
        return 1;
    }
    log_line(VOS_LOG_INFO, "sensor: serving 'sensor', publishing 'temp'");
    for (;;) {
        n = vos_ipc_serve_next(srv, req, sizeof(req), &tag, VOS_FOREVER);
        if (n < 0 && n != VOS_EMSGSIZE) {
            fprintf(stderr, "sensor: serve_next: error %d\n", n);
            return 1;
        }
        if (tag == 0)
            continue; /* one-way messages ask for nothing */
        if (have_reading)
            snprintf(resp, sizeof(resp), "%ld", (long)latest);
        else
            snprintf(resp, sizeof(resp), "none");
        /* VOS_ENOENT: the caller gave up meanwhile; nothing to do. */
        vos_ipc_reply(srv, tag, resp, (uint32_t)strlen(resp));
    }
}
