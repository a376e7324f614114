/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * e2e_migrate: a guest for tests/integration/21-migrate.sh.  It holds
 * state of every kind a migration must carry: a count in memory, a file
 * kept open for the whole run (trail.txt, appended each tick) and a
 * periodic vOS timer that paces the main loop through a semaphore.  Each
 * tick logs "count N fires F file ok" so that the test can see, after a
 * restore on another daemon, that the count continues, that the timer
 * still fires and that the open file still takes writes.
 */

#include <stdio.h>

#include "vos.h"

#define MIGRATE_PERIOD_MS 100u

static volatile unsigned long fires;
static int tick_sem;

/* Runs in a thread of this VM; the main loop waits for its signal. */
static void
on_timer(void *arg)
{
    (void)arg;
    fires++;
    vos_sem_give(tick_sem);
}

int
main(void)
{
    unsigned long count = 0;
    FILE *trail;
    int t, bad;

    if ((trail = fopen("trail.txt", "a")) == NULL) {
        fprintf(stderr, "e2e_migrate: cannot open trail.txt\n");
        return 1;
    }
    if ((tick_sem = vos_sem_create(0, 1000)) <= 0 ||
        (t = vos_timer_create(on_timer, NULL)) <= 0 ||
        vos_timer_start(t, MIGRATE_PERIOD_MS, MIGRATE_PERIOD_MS) != 0) {
        fprintf(stderr, "e2e_migrate: cannot set up the timer\n");
        return 2;
    }
    printf("e2e_migrate: started\n");
    fflush(stdout);
    for (;;) {
        if (vos_sem_take(tick_sem, 5000) != 0) {
            printf("e2e_migrate: timer silent\n");
            fflush(stdout);
            continue;
        }
        count++;
        /* A write through the handle opened at start: after a migration
         * it only works if the runtime reopened the file. */
        bad = fprintf(trail, "count %lu\n", count) < 0;
        bad |= fflush(trail) != 0;
        printf("count %lu fires %lu file %s\n", count, fires,
               bad ? "error" : "ok");
        fflush(stdout);
    }
}
