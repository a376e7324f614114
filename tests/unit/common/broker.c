/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * A private mosquitto per test (see broker.h).  Readiness is "the port
 * accepts a TCP connection", polled with a deadline; the broker's own
 * output goes to DIR/mosquitto.log for post-mortems.
 */

#define _GNU_SOURCE /* mkdtemp, prctl */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "broker.h"

#define START_WAIT_MS 10000
#define STOP_WAIT_MS 5000

__attribute__((format(printf, 3, 4))) static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

uint16_t
test_broker_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    uint16_t port = 0;
    int fd;

    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* True once something accepts TCP connections on 127.0.0.1:port. */
static int
port_accepts(uint16_t port)
{
    struct sockaddr_in a;
    int fd, ok;

    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
        return 0;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

static const char *
mosquitto_path(void)
{
    const char *p = getenv("VMF_MOSQUITTO");

    return p != NULL && p[0] != '\0' ? p : "/usr/sbin/mosquitto";
}

/* Fork and exec mosquitto on b's config; wait until it accepts. */
static int
spawn(test_broker_t *b, char *err, size_t errlen)
{
    char conf[300], log[300];
    const char *exe = mosquitto_path();
    long long deadline;
    pid_t pid;
    int fd, st;

    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", b->dir);
    snprintf(log, sizeof(log), "%s/mosquitto.log", b->dir);
    if (access(exe, X_OK) != 0) {
        seterr(err, errlen, "broker: %s: %s (apt-get install mosquitto, "
               "or set VMF_MOSQUITTO)", exe, strerror(errno));
        return -1;
    }
    if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) <
        0) {
        seterr(err, errlen, "broker: %s: %s", log, strerror(errno));
        return -1;
    }
    if ((pid = fork()) < 0) {
        seterr(err, errlen, "broker: fork: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (pid == 0) {
        /* Never outlive the test, even when it crashes. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execl(exe, exe, "-c", conf, (char *)NULL);
        _exit(127);
    }
    close(fd);
    b->pid = pid;
    deadline = now_ms() + START_WAIT_MS;
    while (!port_accepts(b->port)) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            b->pid = 0;
            seterr(err, errlen, "broker: mosquitto exited (status %d) "
                   "before accepting on port %u; see %s", st, b->port, log);
            return -1;
        }
        if (now_ms() >= deadline) {
            test_broker_kill(b);
            seterr(err, errlen, "broker: port %u not accepting after %d ms;"
                   " see %s", b->port, START_WAIT_MS, log);
            return -1;
        }
        nap_ms(20);
    }
    return 0;
}

static int
start(test_broker_t *b, bool persistent, char *err, size_t errlen)
{
    struct passwd *pw = getpwuid(geteuid());
    char conf[300];
    FILE *f;

    memset(b, 0, sizeof(*b));
    snprintf(b->dir, sizeof(b->dir), "%s/vmf-broker-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(b->dir) == NULL) {
        seterr(err, errlen, "broker: mkdtemp %s: %s", b->dir,
               strerror(errno));
        return -1;
    }
    if ((b->port = test_broker_free_port()) == 0) {
        seterr(err, errlen, "broker: no free loopback port");
        return -1;
    }
    snprintf(b->uri, sizeof(b->uri), "tcp://127.0.0.1:%u", b->port);
    snprintf(conf, sizeof(conf), "%s/mosquitto.conf", b->dir);
    if ((f = fopen(conf, "w")) == NULL) {
        seterr(err, errlen, "broker: %s: %s", conf, strerror(errno));
        return -1;
    }
    fprintf(f, "# written by tests/unit/common/broker.c\n"
               "listener %u 127.0.0.1\n"
               "allow_anonymous true\n"
               "persistence %s\n"
               "persistence_location %s/\n"
               "log_dest stderr\n"
               "log_type error\nlog_type warning\nlog_type notice\n"
               "log_type information\nlog_type subscribe\n"
               "connection_messages true\n"
               /* Stay who we are: a root mosquitto would otherwise
                * switch to the "mosquitto" user, which also clears
                * PR_SET_PDEATHSIG. */
               "user %s\n",
            b->port, persistent ? "true" : "false", b->dir,
            pw != NULL ? pw->pw_name : "mosquitto");
    if (fclose(f) != 0) {
        seterr(err, errlen, "broker: %s: %s", conf, strerror(errno));
        return -1;
    }
    return spawn(b, err, errlen);
}

int
test_broker_start(test_broker_t *b, char *err, size_t errlen)
{
    return start(b, false, err, errlen);
}

int
test_broker_start_persistent(test_broker_t *b, char *err, size_t errlen)
{
    return start(b, true, err, errlen);
}

int
test_broker_restart(test_broker_t *b, char *err, size_t errlen)
{
    test_broker_stop(b);
    return spawn(b, err, errlen);
}

static void
reap(test_broker_t *b, int sig, long wait_ms)
{
    long long deadline = now_ms() + wait_ms;

    kill(b->pid, sig);
    for (;;) {
        if (waitpid(b->pid, NULL, WNOHANG) == b->pid) {
            b->pid = 0;
            return;
        }
        if (now_ms() >= deadline)
            return;
        nap_ms(10);
    }
}

void
test_broker_stop(test_broker_t *b)
{
    if (b->pid <= 0)
        return;
    reap(b, SIGTERM, STOP_WAIT_MS);
    if (b->pid > 0)
        reap(b, SIGKILL, STOP_WAIT_MS);
}

void
test_broker_kill(test_broker_t *b)
{
    if (b->pid > 0)
        reap(b, SIGKILL, STOP_WAIT_MS);
}

void
test_broker_cleanup(test_broker_t *b)
{
    char path[300];

    test_broker_stop(b);
    if (b->dir[0] == '\0')
        return;
    snprintf(path, sizeof(path), "%s/mosquitto.conf", b->dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/mosquitto.log", b->dir);
    /* Keep the log when asked to, for post-mortems. */
    if (getenv("VMF_KEEP_BROKER_LOG") == NULL) {
        unlink(path);
        rmdir(b->dir);
    } else {
        fprintf(stderr, "broker: log kept in %s\n", path);
    }
    b->dir[0] = '\0';
}
