/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * e2e_udp: a guest for tests/integration/23-udp.sh.  argv[1] is a UDP
 * port on 127.0.0.1 that the manifest allows (a listener that answers
 * "pong <what it got>").  The guest sends "ping" there and waits for the
 * reply, then checks that a datagram to the next port, which is not
 * allowed, gets VOS_EPERM.  It logs what it saw and exits 0 if all held,
 * else the number of the failed step.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vos.h"

int
main(int argc, char **argv)
{
    char addr[64], from[64], buf[64];
    int port, s, n, rc;

    if (argc < 2)
        return 1;
    port = atoi(argv[1]);
    if ((s = vos_sock_open(VOS_SOCK_UDP)) <= 0) {
        printf("udp: sock_open %d\n", s);
        return 2;
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    rc = vos_sock_sendto(s, "ping", 4, addr, (uint32_t)strlen(addr));
    printf("udp: sendto %s -> %d\n", addr, rc);
    if (rc != 4)
        return 3;
    n = vos_sock_recvfrom(s, buf, sizeof(buf) - 1, from, sizeof(from) - 1,
                          10000);
    if (n < 0) {
        printf("udp: recvfrom -> %d\n", n);
        return 4;
    }
    buf[n] = '\0';
    from[sizeof(from) - 1] = '\0';
    printf("udp: reply '%s' (%d bytes)\n", buf, n);
    if (strcmp(buf, "pong ping") != 0)
        return 5;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port + 1);
    rc = vos_sock_sendto(s, "ping", 4, addr, (uint32_t)strlen(addr));
    printf("udp: sendto %s (not allowed) -> %d\n", addr, rc);
    if (rc != VOS_EPERM)
        return 6;
    vos_close(s);
    printf("udp: ok\n");
    return 0;
}
