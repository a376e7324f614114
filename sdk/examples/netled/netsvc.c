/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * netsvc: the network-facing half of the netled example.  It listens on
 * TCP argv[1] (default "127.0.0.1:7070"; the manifest's net_allow must
 * allow the port), reads text commands one per line and forwards them
 * over IPC:
 *
 *   on | off | toggle | state   -> service "led" (ledapp), reply "led0 on"
 *   temp                        -> service "sensor", reply in milli-deg C
 *   last                        -> the latest reading published on the
 *                                  topic "temp" and how many came
 *
 * Each reply goes back to the client as one line.  One client is served
 * at a time; a client idle for 60 s is dropped so that others get a turn.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vos.h"

#define NETSVC_CALL_MS 2000u
#define NETSVC_IDLE_MS 60000u

/* What the topic "temp" brought last (milli-degrees C), and how many.
 * Green threads switch only at calls and loop back-edges, so these
 * aligned stores are seen whole. */
static volatile long last_temp;
static volatile unsigned long temp_events;

static void
log_line(int level, const char *text)
{
    vos_log(level, text, (uint32_t)strlen(text));
}

/* Send all of buf; stop quietly if the client went away. */
static void
send_all(int s, const char *buf, size_t len)
{
    int n;

    while (len > 0) {
        if ((n = vos_sock_send(s, buf, (uint32_t)len, NETSVC_CALL_MS)) <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* A thread that follows the topic "temp" (published by the sensor VM). */
static void
temp_follower(void *arg)
{
    char buf[16];
    int sub = *(int *)arg, n;

    for (;;) {
        n = vos_ipc_recv(sub, buf, sizeof(buf) - 1, VOS_FOREVER);
        if (n == VOS_EMSGSIZE)
            continue;
        if (n < 0)
            return;
        buf[n] = '\0';
        last_temp = strtol(buf, NULL, 10);
        temp_events++;
    }
}

/* Forward one command line (without its newline) and answer the client. */
static void
handle(int s, const char *cmd)
{
    char resp[128], out[160], line[200];
    const char *svc;
    int n;

    if (cmd[0] == '\0')
        return;
    if (strcmp(cmd, "last") == 0) {
        if (temp_events == 0)
            snprintf(out, sizeof(out), "none (no reading published yet)\n");
        else
            snprintf(out, sizeof(out), "%ld (%lu readings published)\n",
                     (long)last_temp, (unsigned long)temp_events);
        send_all(s, out, strlen(out));
        return;
    }
    svc = strcmp(cmd, "temp") == 0 ? "sensor" : "led";
    n = vos_ipc_call(svc, (uint32_t)strlen(svc), cmd, (uint32_t)strlen(cmd),
                     resp, sizeof(resp) - 1, NETSVC_CALL_MS);
    if (n >= 0) {
        resp[n] = '\0';
        snprintf(out, sizeof(out), "%s\n", resp);
    } else {
        snprintf(out, sizeof(out), "error: service '%s': error %d\n", svc,
                 n);
    }
    snprintf(line, sizeof(line), "%s -> %s: %.*s", cmd, svc,
             (int)strlen(out) - 1, out);
    log_line(n >= 0 ? VOS_LOG_INFO : VOS_LOG_WARN, line);
    send_all(s, out, strlen(out));
}

/* Serve one client until it closes, errs or stays idle too long. */
static void
serve_client(int s)
{
    char buf[256];
    size_t have = 0;
    char *nl;
    int n;

    for (;;) {
        n = vos_sock_recv(s, buf + have, (uint32_t)(sizeof(buf) - 1 - have),
                          NETSVC_IDLE_MS);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = '\0';
        while ((nl = strchr(buf, '\n')) != NULL) {
            *nl = '\0';
            if (nl > buf && nl[-1] == '\r')
                nl[-1] = '\0';
            handle(s, buf);
            have -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, have + 1);
        }
        if (have == sizeof(buf) - 1) {
            send_all(s, "error: line too long\n", 21);
            break;
        }
    }
    /* A last command without a newline still counts. */
    if (have > 0) {
        buf[have] = '\0';
        handle(s, buf);
    }
    vos_close(s);
}

int
main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : "127.0.0.1:7070";
    char line[128];
    static int sub;
    int ls, s, rc;

    if ((ls = vos_sock_open(VOS_SOCK_TCP)) < 0 ||
        (rc = vos_sock_bind(ls, addr, (uint32_t)strlen(addr))) < 0 ||
        (rc = vos_sock_listen(ls, 4)) < 0) {
        fprintf(stderr, "netsvc: cannot listen on %s: error %d\n", addr,
                ls < 0 ? ls : rc);
        return 1;
    }
    /* Without the topic netsvc still forwards commands; "last" says none. */
    if ((sub = vos_ipc_subscribe(VOS_STR("temp"))) > 0 &&
        (rc = vos_thread_spawn(temp_follower, &sub, 2, 0)) < 0)
        fprintf(stderr, "netsvc: cannot follow 'temp': error %d\n", rc);
    snprintf(line, sizeof(line), "netsvc: listening on tcp %s", addr);
    log_line(VOS_LOG_INFO, line);
    for (;;) {
        if ((s = vos_sock_accept(ls, VOS_FOREVER)) < 0) {
            fprintf(stderr, "netsvc: accept: error %d\n", s);
            return 1;
        }
        serve_client(s);
    }
}
