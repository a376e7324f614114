/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * e2e_power: a guest for tests/integration/22-power.sh.  It attaches a
 * handler to VOS_IRQ_POWER that reads vos_power_event() and, unless
 * argv[1] is "noack", acknowledges it with vos_power_ack().  The main
 * thread logs "tick N" every 100 ms so that the test can see when the VM
 * is parked and when it runs again.  Everything goes through vos_log, a
 * single host call per line, because the handler may interrupt the main
 * thread in the middle of a stdio call.
 */

#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "vos.h"

static int power_ack = 1;

static void
say(const char *msg)
{
    vos_log(VOS_LOG_INFO, msg, (uint32_t)strlen(msg));
}

static void
on_power(uint32_t irq, void *arg)
{
    char line[64];
    int ev, rc = 0;

    (void)irq;
    (void)arg;
    ev = vos_power_event();
    if (power_ack)
        rc = vos_power_ack(ev);
    snprintf(line, sizeof(line), "power event %d %s rc %d", ev,
             power_ack ? "acked" : "ignored", rc);
    say(line);
}

int
main(int argc, char **argv)
{
    struct timespec nap = { 0, 100L * 1000 * 1000 };
    unsigned long n = 0;
    char line[32];

    if (argc > 1 && strcmp(argv[1], "noack") == 0)
        power_ack = 0;
    if (vos_irq_attach(VOS_IRQ_POWER, on_power, NULL) != 0) {
        say("e2e_power: cannot attach VOS_IRQ_POWER");
        return 1;
    }
    say(power_ack ? "e2e_power: attached (ack)" :
                    "e2e_power: attached (noack)");
    for (;;) {
        snprintf(line, sizeof(line), "tick %lu", ++n);
        say(line);
        nanosleep(&nap, NULL);
    }
}
