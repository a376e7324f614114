/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ipc_server: provides the service "net" (tests/unit/ipc/test_ipc_e2e.c).
 * A call's reply is its request with the first byte plus one; the request
 * "pub" first publishes three events on topic "evt"; "crash" traps the VM
 * with the call unanswered; the one-way message "quit" ends it (exit 0).
 * Other exit codes name the failed step.
 */

#include <stdint.h>
#include <string.h>

#include "vos.h"

int
main(void)
{
    char buf[256];
    uint32_t tag;
    int srv, n, i;

    if ((srv = vos_ipc_serve_open(VOS_STR("net"))) <= 0)
        return 10;
    for (;;) {
        n = vos_ipc_serve_next(srv, buf, sizeof(buf), &tag, VOS_FOREVER);
        if (n < 0)
            return 11;
        if (tag == 0) {
            if (n == 4 && memcmp(buf, "quit", 4) == 0)
                return 0;
            continue;
        }
        if (n == 5 && memcmp(buf, "crash", 5) == 0)
            __builtin_trap();
        if (n == 3 && memcmp(buf, "pub", 3) == 0) {
            for (i = 0; i < 3; i++) {
                char ev = (char)('a' + i);

                if (vos_ipc_publish(VOS_STR("evt"), &ev, 1, 1000) != 1)
                    return 12;
            }
        }
        if (n > 0)
            buf[0]++;
        if (vos_ipc_reply(srv, tag, buf, (uint32_t)n) != 0)
            return 13;
    }
}
