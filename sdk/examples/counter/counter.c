/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * counter: counts every 100 ms, keeping the count both in memory and in
 * the file counter.txt in the VM's own root, and prints each value.  On
 * start it continues from the file.  That makes the two kinds of state
 * survival visible in its log:
 *
 * - after `vmrt ctl restore` the count continues from the value in the
 *   snapshot (memory came back; the file is only read at start);
 * - after `vmrt ctl restart` (or a vmrt restart) it continues from the
 *   file: the start line says "from counter.txt".
 *
 * The first line it prints is "counter: version V", V being
 * COUNTER_VERSION, a compile-time define: the build makes counter.wasm
 * (1.0.0) and counter_v110.wasm (1.1.0) from this one source, so that
 * scripts/demo can update the VM over the air and show the new image
 * continuing the count from its file.
 */

#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */

#include <stdio.h>
#include <time.h>

/* -DCOUNTER_VERSION=1.1.0 (a pp-number, so that no quotes have to
 * survive the build's command line). */
#ifndef COUNTER_VERSION
#define COUNTER_VERSION 1.0.0
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

#define COUNTER_FILE "counter.txt"
#define COUNTER_PERIOD_NS (100L * 1000 * 1000)

/* Return the count stored in the file, or 0 if there is none yet. */
static unsigned long
counter_load(void)
{
    unsigned long v = 0;
    FILE *f;

    if ((f = fopen(COUNTER_FILE, "r")) == NULL)
        return 0;
    if (fscanf(f, "%lu", &v) != 1)
        v = 0;
    fclose(f);
    return v;
}

/*
 * Write the count to a temporary file and rename it over the old one, so
 * that a VM stopped in the middle leaves either value, never a torn one.
 * Return: 0, or -1 if the file could not be written (quota, I/O).
 */
static int
counter_store(unsigned long v)
{
    FILE *f;
    int bad;

    if ((f = fopen(COUNTER_FILE ".tmp", "w")) == NULL)
        return -1;
    bad = fprintf(f, "%lu\n", v) < 0;
    bad |= fclose(f) != 0;
    if (bad || rename(COUNTER_FILE ".tmp", COUNTER_FILE) != 0)
        return -1;
    return 0;
}

int
main(void)
{
    struct timespec nap = { 0, COUNTER_PERIOD_NS };
    unsigned long count = counter_load();
    int warned = 0;

    printf("counter: version %s\n", STR(COUNTER_VERSION));
    printf("counter: starting at %lu (from %s)\n", count,
           count ? COUNTER_FILE : "scratch");
    fflush(stdout);
    for (;;) {
        count++;
        if (counter_store(count) != 0 && !warned) {
            fprintf(stderr, "counter: cannot write %s\n", COUNTER_FILE);
            warned = 1;
        }
        printf("count %lu\n", count);
        fflush(stdout);
        nanosleep(&nap, NULL);
    }
}
