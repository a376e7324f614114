/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctl_ticker: runs until stopped, printing "tick N" every 50 ms, so that
 * the daemon tests (tests/integration/1x-daemon-*.sh) have a VM to
 * suspend, resume, stop and read logs from.  With an argument, it prints
 * that first ("hello ARG"), to check that manifest args arrive.
 */

#define _DEFAULT_SOURCE /* usleep under -std=c11 */

#include <stdio.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    unsigned long n;

    if (argc > 1)
        printf("hello %s\n", argv[1]);
    for (n = 0;; n++) {
        printf("tick %lu\n", n);
        fflush(stdout);
        usleep(50000);
    }
}
