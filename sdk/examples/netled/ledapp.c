/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ledapp: provides the service "led" and owns a led exclusively (argv[1],
 * default "led0").  Requests are the text commands "on", "off", "toggle"
 * and "state"; a call's reply is the led's new state ("led0 on"), or
 * "error: ..." for anything else.  One-way messages are applied without a
 * reply.  Every change is logged.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vos.h"

static int
is_cmd(const char *req, int n, const char *cmd)
{
    return (size_t)n == strlen(cmd) && memcmp(req, cmd, (size_t)n) == 0;
}

/*
 * apply: carry out one command on the led.
 * Return: the led's state afterwards (0 or 1), VOS_EINVAL for an unknown
 * command, or the device's error.
 */
static int
apply(int led, const char *req, int n)
{
    uint8_t b;
    int rc;

    if (is_cmd(req, n, "on") || is_cmd(req, n, "off")) {
        b = is_cmd(req, n, "on") ? 1 : 0;
        if ((rc = vos_dev_write(led, &b, 1)) < 0)
            return rc;
        return b;
    }
    if (is_cmd(req, n, "toggle"))
        return vos_dev_ioctl(led, VOS_IOC_LED_TOGGLE, NULL, 0);
    if (is_cmd(req, n, "state")) {
        if ((rc = vos_dev_read(led, &b, 1, VOS_NO_WAIT)) < 0)
            return rc;
        return b != 0;
    }
    return VOS_EINVAL;
}

int
main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "led0";
    char req[64], resp[96];
    uint32_t tag;
    int led, srv, n, st;

    if ((led = vos_dev_open(name, (uint32_t)strlen(name))) < 0) {
        fprintf(stderr, "ledapp: cannot open %s: error %d\n", name, led);
        return 1;
    }
    if ((srv = vos_ipc_serve_open(VOS_STR("led"))) < 0) {
        fprintf(stderr, "ledapp: cannot serve 'led': error %d\n", srv);
        return 1;
    }
    snprintf(resp, sizeof(resp), "ledapp: serving 'led' on %s", name);
    vos_log(VOS_LOG_INFO, resp, (uint32_t)strlen(resp));
    for (;;) {
        n = vos_ipc_serve_next(srv, req, sizeof(req), &tag, VOS_FOREVER);
        if (n == VOS_EMSGSIZE) {
            st = VOS_EMSGSIZE;
        } else if (n < 0) {
            fprintf(stderr, "ledapp: serve_next: error %d\n", n);
            return 1;
        } else {
            /* Clients may send a line; the newline is not part of it. */
            while (n > 0 && (req[n - 1] == '\n' || req[n - 1] == '\r'))
                n--;
            st = apply(led, req, n);
        }
        if (st >= 0) {
            snprintf(resp, sizeof(resp), "%s %s", name, st ? "on" : "off");
            if (!is_cmd(req, n, "state"))
                vos_log(VOS_LOG_INFO, resp, (uint32_t)strlen(resp));
        } else if (st == VOS_EINVAL) {
            snprintf(resp, sizeof(resp),
                     "error: unknown command (on, off, toggle, state)");
        } else {
            snprintf(resp, sizeof(resp), "error: %s: error %d", name, st);
        }
        if (tag != 0)
            vos_ipc_reply(srv, tag, resp, (uint32_t)strlen(resp));
    }
}
