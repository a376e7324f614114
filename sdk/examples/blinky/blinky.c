/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * blinky: toggles a led every 250 ms with a vOS timer and logs each
 * toggle.  The led is argv[1] (default "led0"); the manifest must grant
 * it.
 *
 * The timer handler only flips the led and gives a semaphore: handlers
 * run ahead of every thread on a borrowed stack and must stay short
 * (docs/vos-api.md, "Timers").  The main thread does the logging.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vos.h"

#define BLINK_PERIOD_MS 250

static int led = -1;
static int tick_sem = -1;
static volatile int led_state;

static void
on_tick(void *arg)
{
    int st;

    (void)arg;
    if ((st = vos_dev_ioctl(led, VOS_IOC_LED_TOGGLE, NULL, 0)) >= 0)
        led_state = st;
    /* A full semaphore means main is behind; the led blinks anyway. */
    vos_sem_give(tick_sem);
}

int
main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "led0";
    char line[96];
    unsigned long n;
    int timer, rc;

    if ((led = vos_dev_open(name, (uint32_t)strlen(name))) < 0) {
        fprintf(stderr, "blinky: cannot open %s: error %d\n", name, led);
        return 1;
    }
    if ((tick_sem = vos_sem_create(0, 64)) < 0 ||
        (timer = vos_timer_create(on_tick, NULL)) < 0) {
        fprintf(stderr, "blinky: out of vOS handles\n");
        return 1;
    }
    if ((rc = vos_timer_start(timer, BLINK_PERIOD_MS, BLINK_PERIOD_MS)) < 0) {
        fprintf(stderr, "blinky: timer_start: error %d\n", rc);
        return 1;
    }
    snprintf(line, sizeof(line), "blinky: toggling %s every %d ms", name,
             BLINK_PERIOD_MS);
    vos_log(VOS_LOG_INFO, line, (uint32_t)strlen(line));
    for (n = 1;; n++) {
        if (vos_sem_take(tick_sem, VOS_FOREVER) < 0)
            return 1;
        snprintf(line, sizeof(line), "toggle %lu: %s %s", n, name,
                 led_state ? "on" : "off");
        vos_log(VOS_LOG_INFO, line, (uint32_t)strlen(line));
    }
}
