/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * broker: a private mosquitto for tests.  Each broker gets its own config
 * in a fresh temporary directory and its own free loopback port (never
 * the system service's 1883), with persistence off (unless asked) and
 * anonymous access.
 * Test helper only: it forks and execs /usr/sbin/mosquitto (or
 * $VMF_MOSQUITTO), and is not thread-safe.
 *
 *     test_broker_t b;
 *     if (test_broker_start(&b, err, sizeof(err)) != 0) ... err says why
 *     ... connect to b.uri ("tcp://127.0.0.1:PORT") ...
 *     test_broker_stop(&b);       // the port stays reserved for:
 *     test_broker_restart(&b);    // same port, fresh (empty) broker
 *     test_broker_cleanup(&b);    // stop and remove the directory
 */
#ifndef VMF_TEST_BROKER_H
#define VMF_TEST_BROKER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;          /* 0 while stopped */
    uint16_t port;
    char uri[64];       /* "tcp://127.0.0.1:PORT" */
    char dir[256];      /* holds mosquitto.conf and mosquitto.log */
} test_broker_t;

/** Pick a free port, write the config, start mosquitto and wait (up to
 *  10 s) until the port accepts.  @return 0, or -1 with err set. */
int test_broker_start(test_broker_t *b, char *err, size_t errlen);

/** The same, with persistence on: a stop (SIGTERM) saves the sessions
 *  and retained messages, and a restart loads them. */
int test_broker_start_persistent(test_broker_t *b, char *err,
                                 size_t errlen);

/** SIGTERM, then SIGKILL after 5 s; waits for the process.  Idempotent. */
void test_broker_stop(test_broker_t *b);

/** SIGKILL at once (no clean shutdown); waits for the process. */
void test_broker_kill(test_broker_t *b);

/** Start again on the same port and config.  @return 0 or -1 (err). */
int test_broker_restart(test_broker_t *b, char *err, size_t errlen);

/** Stop it and remove its directory. */
void test_broker_cleanup(test_broker_t *b);

/** A loopback port that nothing listens on right now (0 on failure). */
uint16_t test_broker_free_port(void);

#endif /* VMF_TEST_BROKER_H */
