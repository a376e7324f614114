/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * net_echo: a VM guest for tests/unit/net/test_net_e2e.c.  argv[1] is the
 * port of a TCP echo server on 127.0.0.1 that the manifest allows.  The
 * guest checks the allowlist (another port and another host: VOS_EPERM),
 * echoes "ping" through the server, then uses its files (WASI in the VM
 * root) and sleeps (poll_oneoff through the runtime).  Exit 0 if all
 * held, else the number of the failed step.
 */

#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vos.h"

int
main(int argc, char **argv)
{
    char addr[64], buf[16], line[32];
    struct timespec ts = { 0, 2000000 };
    int port, s, n, got = 0;
    FILE *f;

    if (argc < 2)
        return 1;
    port = atoi(argv[1]);
    if ((s = vos_sock_open(VOS_SOCK_TCP)) <= 0)
        return 2;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port + 1);
    if (vos_sock_connect(s, addr, (uint32_t)strlen(addr), 1000) != VOS_EPERM)
        return 3;
    snprintf(addr, sizeof(addr), "127.0.0.2:%d", port);
    if (vos_sock_connect(s, addr, (uint32_t)strlen(addr), 1000) != VOS_EPERM)
        return 4;
    if (vos_sock_bind(s, "0.0.0.0:7", 9) != VOS_EPERM)
        return 5;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    if (vos_sock_connect(s, addr, (uint32_t)strlen(addr), 1000) != 0)
        return 6;
    /* Nothing to read yet: a zero timeout does not wait. */
    if (vos_sock_recv(s, buf, sizeof(buf), VOS_NO_WAIT) != VOS_EAGAIN)
        return 7;
    if (vos_sock_send(s, "ping", 4, 1000) != 4)
        return 8;
    while (got < 4) {
        n = vos_sock_recv(s, buf + got, (uint32_t)(4 - got), 5000);
        if (n <= 0)
            return 9;
        got += n;
    }
    if (memcmp(buf, "ping", 4) != 0)
        return 10;
    if (vos_close(s) != 0 || vos_sock_send(s, "x", 1, 0) != VOS_EBADF)
        return 11;

    if ((f = fopen("note.txt", "w")) == NULL || fputs("kept\n", f) < 0 ||
        fclose(f) != 0)
        return 12;
    nanosleep(&ts, NULL);
    if ((f = fopen("/note.txt", "r")) == NULL ||
        fgets(line, sizeof(line), f) == NULL || strcmp(line, "kept\n") != 0)
        return 13;
    fclose(f);
    if (fopen("../escape.txt", "w") != NULL)
        return 14;
    printf("net_echo ok\n");
    return 0;
}
