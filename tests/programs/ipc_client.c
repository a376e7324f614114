/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ipc_client: calls the service "net" of ipc_server
 * (tests/unit/ipc/test_ipc_e2e.c).  Built twice:
 * - default: ROUNDS calls checked and timed (the mean round trip goes to
 *   the log as "rtt_ns=N"), a subscription that gets the server's three
 *   events, then the one-way "quit";
 * - IPC_CLIENT_RESET: the call "crash" kills the server; the call must
 *   fail with VOS_ECONNRESET, not hang.
 * Exit 0 when everything held, else a code naming the failed step.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vos.h"

#define ROUNDS 2000

#ifdef IPC_CLIENT_RESET
int
main(void)
{
    char resp[16];
    int i, rc;

    /* The server may not be up yet. */
    for (i = 0; i < 1000; i++) {
        rc = vos_ipc_call(VOS_STR("net"), "x", 1, resp, sizeof(resp), 1000);
        if (rc != VOS_ENOENT)
            break;
        vos_sleep_us(1000);
    }
    if (rc != 1 || resp[0] != 'y')
        return 20;
    rc = vos_ipc_call(VOS_STR("net"), "crash", 5, resp, sizeof(resp),
                      VOS_FOREVER);
    if (rc != VOS_ECONNRESET)
        return 21;
    /* Later calls fail at once too, while nobody serves the name. */
    rc = vos_ipc_call(VOS_STR("net"), "x", 1, resp, sizeof(resp),
                      VOS_FOREVER);
    if (rc != VOS_ECONNRESET)
        return 22;
    return 0;
}
#else
int
main(void)
{
    char req[64], resp[64], ev;
    uint64_t t0, t1;
    int sub, i, rc;

    for (i = 0; i < 1000; i++) {
        rc = vos_ipc_call(VOS_STR("net"), "x", 1, resp, sizeof(resp), 1000);
        if (rc != VOS_ENOENT)
            break;
        vos_sleep_us(1000);
    }
    if (rc != 1 || resp[0] != 'y')
        return 30;
    memset(req, 0, sizeof(req));
    t0 = vos_time_mono_us();
    for (i = 0; i < ROUNDS; i++) {
        req[0] = (char)i;
        rc = vos_ipc_call(VOS_STR("net"), req, 32, resp, sizeof(resp),
                          VOS_FOREVER);
        if (rc != 32 || resp[0] != (char)(i + 1))
            return 31;
    }
    t1 = vos_time_mono_us();
    printf("rtt_ns=%llu\n",
           (unsigned long long)((t1 - t0) * 1000u / ROUNDS));
    fflush(stdout);

    if ((sub = vos_ipc_subscribe(VOS_STR("evt"))) <= 0)
        return 32;
    if (vos_ipc_call(VOS_STR("net"), "pub", 3, resp, sizeof(resp),
                     VOS_FOREVER) != 3)
        return 33;
    for (i = 0; i < 3; i++) {
        if (vos_ipc_recv(sub, &ev, 1, 1000) != 1 || ev != 'a' + i)
            return 34;
    }
    if (vos_ipc_recv(sub, &ev, 1, VOS_NO_WAIT) != VOS_EAGAIN)
        return 35;
    if (vos_close(sub) != 0)
        return 36;
    if (vos_ipc_send(VOS_STR("net"), "quit", 4, VOS_FOREVER) != 0)
        return 37;
    return 0;
}
#endif
