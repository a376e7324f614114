/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Tests of the MQTT v5 client (common/src/mqtt_paho.c) against a real
 * mosquitto that the test starts on its own loopback port (broker.c).
 * Every wait polls a condition with a generous deadline; the only timing
 * asserted is that destroy returns within 5 s while connecting to a dead
 * port.  The Last Will test runs the dying client in a child process
 * (this same executable, re-run with --will-child) and SIGKILLs it.
 */

#define _GNU_SOURCE /* pipe2 */

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker.h"
#include "vmf/mqtt.h"

#define WAIT_MS 15000u
#define MAX_MSGS 256

/* What one client saw, filled by its callbacks (the client's thread). */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int nmsg;
    struct {
        char topic[128];
        uint8_t payload[256];
        size_t len;
        uint8_t corr[64];
        size_t corr_len;
        bool has_corr;
        char resp[128];
        bool has_resp;
        bool retain;
        int qos;
    } msg[MAX_MSGS];
    int nconn;
    bool conn[16];            /* on_conn() values, in order */
} sink_t;

static test_broker_t broker;

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sink_init(sink_t *s)
{
    memset(s, 0, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
}

static void
sink_fini(sink_t *s)
{
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
}

static void
on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    sink_t *s = arg;
    int i;

    pthread_mutex_lock(&s->lock);
    if ((i = s->nmsg) < MAX_MSGS && m->len <= sizeof(s->msg[i].payload) &&
        m->corr_len <= sizeof(s->msg[i].corr)) {
        snprintf(s->msg[i].topic, sizeof(s->msg[i].topic), "%s", m->topic);
        if (m->len > 0)
            memcpy(s->msg[i].payload, m->payload, m->len);
        s->msg[i].len = m->len;
        s->msg[i].has_corr = m->corr != NULL;
        if (m->corr_len > 0)
            memcpy(s->msg[i].corr, m->corr, m->corr_len);
        s->msg[i].corr_len = m->corr_len;
        s->msg[i].has_resp = m->response_topic != NULL;
        if (m->response_topic != NULL)
            snprintf(s->msg[i].resp, sizeof(s->msg[i].resp), "%s",
                     m->response_topic);
        s->msg[i].retain = m->retain;
        s->msg[i].qos = m->qos;
        s->nmsg++;
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void
on_conn(void *arg, bool up, const char *why)
{
    sink_t *s = arg;

    assert_non_null(why);
    pthread_mutex_lock(&s->lock);
    if (s->nconn < (int)(sizeof(s->conn) / sizeof(s->conn[0])))
        s->conn[s->nconn++] = up;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* Index of the first message on topic at or after from, or -1 once
 * WAIT_MS have passed without one. */
static int
sink_wait_topic(sink_t *s, const char *topic, int from)
{
    long long deadline = now_ms() + WAIT_MS;
    struct timespec ts;
    int i, found = -1;

    pthread_mutex_lock(&s->lock);
    for (;;) {
        for (i = from; i < s->nmsg && found < 0; i++)
            if (strcmp(s->msg[i].topic, topic) == 0)
                found = i;
        if (found >= 0 || now_ms() >= deadline)
            break;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

/* Wait until on_conn() has been called n times; true if it was. */
static bool
sink_wait_conn(sink_t *s, int n)
{
    long long deadline = now_ms() + WAIT_MS;
    bool ok;

    pthread_mutex_lock(&s->lock);
    while (s->nconn < n && now_ms() < deadline) {
        pthread_mutex_unlock(&s->lock);
        poll(NULL, 0, 20);
        pthread_mutex_lock(&s->lock);
    }
    ok = s->nconn >= n;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static void
base_cfg(vmf_mqtt_config_t *cfg, const char *id)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->uri = broker.uri;
    cfg->client_id = id;
    cfg->keepalive_s = 5;
    cfg->min_retry_ms = 50;
    cfg->max_retry_ms = 400;
    cfg->clean_start = true;
}

/* A client on the test broker, subscribed to filter (if any) and up. */
static vmf_mqtt_t *
client_up(const char *id, sink_t *s, const char *filter)
{
    vmf_mqtt_config_t cfg;
    vmf_mqtt_t *c = NULL;
    char err[200];

    base_cfg(&cfg, id);
    assert_int_equal(vmf_mqtt_create(&cfg, on_msg, on_conn, s, &c, err,
                                     sizeof(err)), 0);
    if (filter != NULL)
        assert_int_equal(vmf_mqtt_subscribe(c, filter, 1), 0);
    assert_int_equal(vmf_mqtt_start(c), 0);
    /* on_conn(true) comes after the SUBACK, so the filter is live. */
    assert_int_equal(vmf_mqtt_wait_connected(c, WAIT_MS), 0);
    assert_true(sink_wait_conn(s, 1));
    return c;
}

/* ---- config ------------------------------------------------------- */

static void
expect_bad(const vmf_mqtt_config_t *cfg, const char *field)
{
    vmf_mqtt_t *c = (vmf_mqtt_t *)&c;
    char err[200];

    err[0] = '\0';
    assert_int_equal(vmf_mqtt_create(cfg, NULL, NULL, NULL, &c, err,
                                     sizeof(err)), VMF_MQTT_EINVAL);
    assert_null(c);
    if (strncmp(err, field, strlen(field)) != 0)
        fail_msg("want an error naming '%s', got '%s'", field, err);
}

static void
test_mqtt_bad_config_names_field(void **state)
{
    vmf_mqtt_config_t cfg;
    char id65[66];
    uint8_t will[2] = { 1, 2 };

    (void)state;
    base_cfg(&cfg, "x");
    cfg.uri = NULL;
    expect_bad(&cfg, "uri:");
    cfg.uri = "http://127.0.0.1:1883";
    expect_bad(&cfg, "uri:");
    cfg.uri = "tcp://";
    expect_bad(&cfg, "uri:");
    base_cfg(&cfg, NULL);
    expect_bad(&cfg, "client_id: required");
    memset(id65, 'a', 65);
    id65[65] = '\0';
    base_cfg(&cfg, id65);
    expect_bad(&cfg, "client_id:");
    base_cfg(&cfg, "x");
    cfg.ca_file = "/etc/hostname";
    expect_bad(&cfg, "ca_file:"); /* TLS file with a tcp:// uri */
    cfg.uri = "ssl://127.0.0.1:8883";
    cfg.ca_file = "/nonexistent/ca.pem";
    expect_bad(&cfg, "ca_file:");
    cfg.ca_file = NULL;
    cfg.key_file = "/etc/hostname";
    expect_bad(&cfg, "key_file:");
    base_cfg(&cfg, "x");
    cfg.min_retry_ms = 500;
    cfg.max_retry_ms = 100;
    expect_bad(&cfg, "min_retry_ms:");
    base_cfg(&cfg, "x");
    cfg.keepalive_s = 70000;
    expect_bad(&cfg, "keepalive_s:");
    base_cfg(&cfg, "x");
    cfg.will_payload = will;
    cfg.will_len = sizeof(will);
    expect_bad(&cfg, "will_topic:");
    cfg.will_topic = "a/+";
    expect_bad(&cfg, "will_topic:");
    base_cfg(&cfg, "x");
    cfg.password = "pw";
    expect_bad(&cfg, "password:");
    expect_bad(NULL, "config:");
    assert_string_equal(vmf_mqtt_strerror(VMF_MQTT_ETIMEDOUT), "timed out");
    assert_string_equal(vmf_mqtt_strerror(-99), "unknown error");
}

static void
test_mqtt_bad_arguments_are_einval(void **state)
{
    vmf_mqtt_config_t cfg;
    vmf_mqtt_msg_t m;
    vmf_mqtt_t *c;
    char err[200];

    (void)state;
    base_cfg(&cfg, "args");
    cfg.uri = "mqtt://127.0.0.1:1"; /* alias accepted; never started */
    assert_int_equal(vmf_mqtt_create(&cfg, NULL, NULL, NULL, &c, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_subscribe(c, "", 1), VMF_MQTT_EINVAL);
    assert_int_equal(vmf_mqtt_subscribe(c, "a/#", 3), VMF_MQTT_EINVAL);
    memset(&m, 0, sizeof(m));
    m.topic = "a/+";
    assert_int_equal(vmf_mqtt_publish(c, &m), VMF_MQTT_EINVAL);
    m.topic = "a";
    m.len = 3; /* no payload */
    assert_int_equal(vmf_mqtt_publish(c, &m), VMF_MQTT_EINVAL);
    m.len = 0;
    m.qos = 3;
    assert_int_equal(vmf_mqtt_publish(c, &m), VMF_MQTT_EINVAL);
    assert_int_equal(vmf_mqtt_pending(c), 0);
    assert_false(vmf_mqtt_connected(c));
    vmf_mqtt_destroy(c);
    vmf_mqtt_destroy(NULL);
}

/* ---- against the broker -------------------------------------------- */

static void
test_mqtt_roundtrip_qos1_keeps_v5_properties(void **state)
{
    static const uint8_t corr[] = { 0x00, 0xff, 0x10, 0x00, 0x7f };
    static const uint8_t body[] = "hello\0world";
    sink_t sa, sb;
    vmf_mqtt_t *a, *b;
    vmf_mqtt_msg_t m;
    int i;

    (void)state;
    sink_init(&sa);
    sink_init(&sb);
    a = client_up("rt-a", &sa, "rt/req/#");
    b = client_up("rt-b", &sb, NULL);
    assert_true(vmf_mqtt_connected(a));

    memset(&m, 0, sizeof(m));
    m.topic = "rt/req/dev1";
    m.payload = body;
    m.len = sizeof(body);
    m.qos = 1;
    m.corr = corr;
    m.corr_len = sizeof(corr);
    m.response_topic = "rt/resp/dev1";
    assert_int_equal(vmf_mqtt_publish(b, &m), 0);
    assert_int_equal(vmf_mqtt_flush(b, WAIT_MS), 0);
    assert_int_equal(vmf_mqtt_pending(b), 0);

    i = sink_wait_topic(&sa, "rt/req/dev1", 0);
    assert_true(i >= 0);
    assert_int_equal(sa.msg[i].len, sizeof(body));
    assert_memory_equal(sa.msg[i].payload, body, sizeof(body));
    assert_int_equal(sa.msg[i].qos, 1);
    assert_false(sa.msg[i].retain);
    assert_true(sa.msg[i].has_corr);
    assert_int_equal(sa.msg[i].corr_len, sizeof(corr));
    assert_memory_equal(sa.msg[i].corr, corr, sizeof(corr));
    assert_true(sa.msg[i].has_resp);
    assert_string_equal(sa.msg[i].resp, "rt/resp/dev1");

    /* A plain QoS 0 message carries no v5 properties. */
    memset(&m, 0, sizeof(m));
    m.topic = "rt/req/dev2";
    assert_int_equal(vmf_mqtt_publish(b, &m), 0);
    i = sink_wait_topic(&sa, "rt/req/dev2", 0);
    assert_true(i >= 0);
    assert_int_equal(sa.msg[i].len, 0);
    assert_false(sa.msg[i].has_corr);
    assert_false(sa.msg[i].has_resp);

    vmf_mqtt_destroy(a);
    vmf_mqtt_destroy(b);
    sink_fini(&sa);
    sink_fini(&sb);
}

static void
test_mqtt_retained_seen_by_later_subscriber(void **state)
{
    sink_t sa, sb;
    vmf_mqtt_t *a, *b;
    vmf_mqtt_msg_t m;
    int i;

    (void)state;
    sink_init(&sa);
    sink_init(&sb);
    a = client_up("ret-a", &sa, NULL);
    memset(&m, 0, sizeof(m));
    m.topic = "ret/status";
    m.payload = (const uint8_t *)"v2";
    m.len = 2;
    m.qos = 1;
    m.retain = true;
    assert_int_equal(vmf_mqtt_publish(a, &m), 0);
    assert_int_equal(vmf_mqtt_flush(a, WAIT_MS), 0);

    b = client_up("ret-b", &sb, "ret/#");
    i = sink_wait_topic(&sb, "ret/status", 0);
    assert_true(i >= 0);
    assert_true(sb.msg[i].retain);
    assert_int_equal(sb.msg[i].len, 2);
    assert_memory_equal(sb.msg[i].payload, "v2", 2);

    /* Clear it so that later tests start clean. */
    m.payload = NULL;
    m.len = 0;
    assert_int_equal(vmf_mqtt_publish(a, &m), 0);
    assert_int_equal(vmf_mqtt_flush(a, WAIT_MS), 0);
    vmf_mqtt_destroy(a);
    vmf_mqtt_destroy(b);
    sink_fini(&sa);
    sink_fini(&sb);
}

/* The --will-child process: connect with a Will, say 'R', then hang
 * until killed. */
static int
will_child(const char *uri, const char *will_topic)
{
    vmf_mqtt_config_t cfg;
    vmf_mqtt_t *c;
    char err[200];

    memset(&cfg, 0, sizeof(cfg));
    cfg.uri = uri;
    cfg.client_id = "will-child";
    cfg.keepalive_s = 2;
    cfg.clean_start = true;
    cfg.will_topic = will_topic;
    cfg.will_payload = "gone";
    cfg.will_len = 4;
    if (vmf_mqtt_create(&cfg, NULL, NULL, NULL, &c, err, sizeof(err)) != 0) {
        fprintf(stderr, "will-child: %s\n", err);
        return 1;
    }
    vmf_mqtt_start(c);
    if (vmf_mqtt_wait_connected(c, WAIT_MS) != 0)
        return 2;
    if (write(STDOUT_FILENO, "R", 1) != 1)
        return 3;
    for (;;)
        pause();
}

static char self_exe[4096];

static void
test_mqtt_will_published_when_client_dies(void **state)
{
    sink_t s;
    vmf_mqtt_t *b, *c;
    vmf_mqtt_config_t cfg;
    vmf_mqtt_msg_t m;
    int fds[2], i, st;
    char ready = 0, err[200];
    struct pollfd pfd;
    pid_t pid;

    (void)state;
    sink_init(&s);
    b = client_up("will-watch", &s, "will/#");

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        execl(self_exe, self_exe, "--will-child", broker.uri, "will/dead",
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    pfd.fd = fds[0];
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, (int)WAIT_MS), 1);
    assert_int_equal(read(fds[0], &ready, 1), 1);
    assert_int_equal(ready, 'R');
    close(fds[0]);
    /* Nothing published on the will topic while the child lives. */
    assert_int_equal(s.nmsg, 0);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &st, 0), pid);

    i = sink_wait_topic(&s, "will/dead", 0);
    assert_true(i >= 0);
    assert_int_equal(s.msg[i].len, 4);
    assert_memory_equal(s.msg[i].payload, "gone", 4);

    /* A clean destroy sends DISCONNECT: no Will.  A marker published
     * afterwards proves the broker has moved on. */
    base_cfg(&cfg, "will-clean");
    cfg.will_topic = "will/clean";
    cfg.will_payload = "gone";
    cfg.will_len = 4;
    assert_int_equal(vmf_mqtt_create(&cfg, NULL, NULL, NULL, &c, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_start(c), 0);
    assert_int_equal(vmf_mqtt_wait_connected(c, WAIT_MS), 0);
    vmf_mqtt_destroy(c);
    memset(&m, 0, sizeof(m));
    m.topic = "will/marker";
    m.qos = 1;
    assert_int_equal(vmf_mqtt_publish(b, &m), 0);
    assert_true(sink_wait_topic(&s, "will/marker", 0) >= 0);
    pthread_mutex_lock(&s.lock);
    for (i = 0; i < s.nmsg; i++)
        assert_string_not_equal(s.msg[i].topic, "will/clean");
    pthread_mutex_unlock(&s.lock);

    vmf_mqtt_destroy(b);
    sink_fini(&s);
}

static void
test_mqtt_reconnects_after_broker_restart(void **state)
{
    sink_t s;
    vmf_mqtt_t *a;
    vmf_mqtt_msg_t m;
    char err[200];
    int i;

    (void)state;
    sink_init(&s);
    a = client_up("rs-a", &s, "rs/#");

    test_broker_stop(&broker);
    assert_true(sink_wait_conn(&s, 2));
    assert_false(s.conn[1]);
    assert_false(vmf_mqtt_connected(a));

    /* Published while the broker is down: held, counted, sent later. */
    memset(&m, 0, sizeof(m));
    m.topic = "rs/buffered";
    m.payload = (const uint8_t *)"late";
    m.len = 4;
    m.qos = 1;
    assert_int_equal(vmf_mqtt_publish(a, &m), 0);
    assert_int_equal(vmf_mqtt_pending(a), 1);
    assert_int_equal(vmf_mqtt_flush(a, 50), VMF_MQTT_ETIMEDOUT);

    assert_int_equal(test_broker_restart(&broker, err, sizeof(err)), 0);
    assert_true(sink_wait_conn(&s, 3));
    assert_true(s.conn[0]);
    assert_false(s.conn[1]);
    assert_true(s.conn[2]);
    assert_int_equal(vmf_mqtt_wait_connected(a, WAIT_MS), 0);

    /* The broker lost every subscription; the held publish reaches us
     * only because we re-subscribed before sending it. */
    i = sink_wait_topic(&s, "rs/buffered", 0);
    assert_true(i >= 0);
    assert_memory_equal(s.msg[i].payload, "late", 4);
    assert_int_equal(vmf_mqtt_flush(a, WAIT_MS), 0);

    /* And the re-made subscription keeps working for new traffic. */
    m.topic = "rs/after";
    assert_int_equal(vmf_mqtt_publish(a, &m), 0);
    assert_true(sink_wait_topic(&s, "rs/after", 0) >= 0);
    vmf_mqtt_destroy(a);
    sink_fini(&s);
}

/* How many times the broker logged filter's subscription by id. */
static int
subscribes_logged(const test_broker_t *b, const char *id, const char *filter)
{
    char path[300], line[512], want[200];
    int n = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/mosquitto.log", b->dir);
    snprintf(want, sizeof(want), " %s 1 %s", id, filter);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line) >= strlen(want) &&
            strcmp(line + strlen(line) - strlen(want), want) == 0)
            n++;
    }
    fclose(f);
    return n;
}

/* A broker that resumes our session already holds our subscriptions:
 * the client reports "up" at once, without a re-subscribe whose SUBACK
 * could queue behind what the broker kept for it (minutes on a slow
 * link), and the session's subscription still delivers. */
static void
test_mqtt_resumed_session_skips_resubscribe(void **state)
{
    test_broker_t pb;
    vmf_mqtt_config_t cfg;
    vmf_mqtt_t *a = NULL, *b;
    vmf_mqtt_msg_t m;
    sink_t s, sb;
    char err[200];

    (void)state;
    assert_int_equal(test_broker_start_persistent(&pb, err, sizeof(err)),
                     0);
    sink_init(&s);
    sink_init(&sb);
    base_cfg(&cfg, "ps-a");
    cfg.uri = pb.uri;
    cfg.clean_start = false;
    assert_int_equal(vmf_mqtt_create(&cfg, on_msg, on_conn, &s, &a, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_subscribe(a, "ps/#", 1), 0);
    assert_int_equal(vmf_mqtt_start(a), 0);
    assert_int_equal(vmf_mqtt_wait_connected(a, WAIT_MS), 0);
    assert_true(sink_wait_conn(&s, 1));
    assert_int_equal(subscribes_logged(&pb, "ps-a", "ps/#"), 1);

    /* Stopped cleanly, the broker saves the session; restarted, it
     * resumes it. */
    assert_int_equal(test_broker_restart(&pb, err, sizeof(err)), 0);
    assert_true(sink_wait_conn(&s, 3));
    assert_false(s.conn[1]);
    assert_true(s.conn[2]);
    assert_int_equal(vmf_mqtt_wait_connected(a, WAIT_MS), 0);
    assert_int_equal(subscribes_logged(&pb, "ps-a", "ps/#"), 1);

    base_cfg(&cfg, "ps-b");
    cfg.uri = pb.uri;
    assert_int_equal(vmf_mqtt_create(&cfg, on_msg, on_conn, &sb, &b, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_start(b), 0);
    assert_int_equal(vmf_mqtt_wait_connected(b, WAIT_MS), 0);
    memset(&m, 0, sizeof(m));
    m.topic = "ps/after";
    m.payload = (const uint8_t *)"kept";
    m.len = 4;
    m.qos = 1;
    assert_int_equal(vmf_mqtt_publish(b, &m), 0);
    assert_true(sink_wait_topic(&s, "ps/after", 0) >= 0);

    /* A filter added since: the next resumed session re-subscribes. */
    assert_int_equal(vmf_mqtt_subscribe(a, "ps2/#", 1), 0);
    assert_int_equal(test_broker_restart(&pb, err, sizeof(err)), 0);
    assert_true(sink_wait_conn(&s, 5));
    assert_int_equal(vmf_mqtt_wait_connected(a, WAIT_MS), 0);
    assert_int_equal(subscribes_logged(&pb, "ps-a", "ps/#"), 2);
    vmf_mqtt_destroy(b);
    vmf_mqtt_destroy(a);
    test_broker_cleanup(&pb);
    sink_fini(&sb);
    sink_fini(&s);
}

static void
test_mqtt_pending_and_flush(void **state)
{
    vmf_mqtt_config_t cfg;
    vmf_mqtt_msg_t m;
    vmf_mqtt_t *c;
    sink_t s;
    char err[200], body[16];
    int i;

    (void)state;
    sink_init(&s);
    base_cfg(&cfg, "pend");
    cfg.max_buffered = 3;
    assert_int_equal(vmf_mqtt_create(&cfg, on_msg, on_conn, &s, &c, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_subscribe(c, "pend/#", 1), 0);
    memset(&m, 0, sizeof(m));
    m.topic = "pend/x";
    m.qos = 1;
    /* Not started: held; the fourth does not fit (oldest kept). */
    for (i = 0; i < 3; i++)
        assert_int_equal(vmf_mqtt_publish(c, &m), 0);
    assert_int_equal(vmf_mqtt_publish(c, &m), VMF_MQTT_ENOTCONN);
    m.qos = 0;
    assert_int_equal(vmf_mqtt_publish(c, &m), VMF_MQTT_ENOTCONN);
    assert_int_equal(vmf_mqtt_pending(c), 3);
    assert_int_equal(vmf_mqtt_flush(c, 20), VMF_MQTT_ETIMEDOUT);

    assert_int_equal(vmf_mqtt_start(c), 0);
    assert_int_equal(vmf_mqtt_flush(c, WAIT_MS), 0);
    assert_int_equal(vmf_mqtt_pending(c), 0);
    assert_true(sink_wait_conn(&s, 1));
    assert_true(s.conn[0]);
    /* The three held ones reach our own subscription, which was made
     * before they were sent. */
    assert_int_equal(sink_wait_topic(&s, "pend/x", 2), 2);
    vmf_mqtt_destroy(c);

    /* A burst while connected, past the broker's in-flight window (20
     * for mosquitto): all delivered, in order. */
    cfg.max_buffered = 0;
    cfg.client_id = "pend-burst";
    assert_int_equal(vmf_mqtt_create(&cfg, on_msg, on_conn, &s, &c, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_subscribe(c, "pend/#", 1), 0);
    assert_int_equal(vmf_mqtt_start(c), 0);
    assert_int_equal(vmf_mqtt_wait_connected(c, WAIT_MS), 0);
    m.qos = 1;
    m.payload = (const uint8_t *)body;
    for (i = 0; i < 200; i++) {
        m.len = (size_t)snprintf(body, sizeof(body), "%d", i);
        assert_int_equal(vmf_mqtt_publish(c, &m), 0);
    }
    assert_int_equal(vmf_mqtt_flush(c, WAIT_MS), 0);
    assert_int_equal(vmf_mqtt_pending(c), 0);
    {
        long long deadline = now_ms() + WAIT_MS;

        while (now_ms() < deadline) {
            pthread_mutex_lock(&s.lock);
            i = s.nmsg;
            pthread_mutex_unlock(&s.lock);
            if (i >= 203)
                break;
            poll(NULL, 0, 20);
        }
    }
    assert_int_equal(s.nmsg, 203);
    for (i = 0; i < 200; i++) {
        m.len = (size_t)snprintf(body, sizeof(body), "%d", i);
        assert_int_equal(s.msg[3 + i].len, m.len);
        assert_memory_equal(s.msg[3 + i].payload, body, m.len);
    }
    vmf_mqtt_destroy(c);
    sink_fini(&s);
}

/* Count this process's TCP sockets connected to the test broker, and
 * those of them with TCP_NODELAY set. */
static void
broker_sockets(int *total, int *nodelay)
{
    struct sockaddr_in peer;
    struct dirent *de;
    socklen_t len;
    int fd, on;
    DIR *d;

    *total = *nodelay = 0;
    assert_non_null(d = opendir("/proc/self/fd"));
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
            (fd = atoi(de->d_name)) == dirfd(d))
            continue;
        len = sizeof(peer);
        if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0 ||
            peer.sin_family != AF_INET || ntohs(peer.sin_port) != broker.port)
            continue;
        (*total)++;
        len = sizeof(on);
        if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 &&
            on != 0)
            (*nodelay)++;
    }
    closedir(d);
}

/* Nagle's algorithm is off on the client's socket, also after a
 * reconnect (small packets must not wait for delayed ACKs). */
static void
test_mqtt_socket_has_tcp_nodelay(void **state)
{
    vmf_mqtt_t *c;
    sink_t s;
    char err[300];
    int total, nodelay;

    (void)state;
    sink_init(&s);
    c = client_up("nodelay", &s, NULL);
    broker_sockets(&total, &nodelay);
    assert_int_equal(total, 1);
    assert_int_equal(nodelay, 1);

    /* A new connection after the broker came back gets it too. */
    test_broker_stop(&broker);
    assert_int_equal(test_broker_restart(&broker, err, sizeof(err)), 0);
    assert_true(sink_wait_conn(&s, 3)); /* up, down, up */
    assert_true(s.conn[2]);
    broker_sockets(&total, &nodelay);
    assert_int_equal(total, 1);
    assert_int_equal(nodelay, 1);
    vmf_mqtt_destroy(c);
    broker_sockets(&total, &nodelay);
    assert_int_equal(total, 0);
    sink_fini(&s);
}

static void
test_mqtt_destroy_while_connecting_is_prompt(void **state)
{
    vmf_mqtt_config_t cfg;
    vmf_mqtt_t *c;
    char uri[64], err[200];
    long long t0;

    (void)state;
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%u",
             test_broker_free_port());
    base_cfg(&cfg, "dead");
    cfg.uri = uri;
    assert_int_equal(vmf_mqtt_create(&cfg, NULL, NULL, NULL, &c, err,
                                     sizeof(err)), 0);
    assert_int_equal(vmf_mqtt_start(c), 0);
    assert_int_equal(vmf_mqtt_wait_connected(c, 300), VMF_MQTT_ETIMEDOUT);
    assert_false(vmf_mqtt_connected(c));
    t0 = now_ms();
    vmf_mqtt_destroy(c);
    assert_true(now_ms() - t0 < 5000);
}

static int
group_setup(void **state)
{
    char err[300];

    (void)state;
    if (test_broker_start(&broker, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    test_broker_cleanup(&broker);
    return 0;
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mqtt_bad_config_names_field),
        cmocka_unit_test(test_mqtt_bad_arguments_are_einval),
        cmocka_unit_test(test_mqtt_roundtrip_qos1_keeps_v5_properties),
        cmocka_unit_test(test_mqtt_retained_seen_by_later_subscriber),
        cmocka_unit_test(test_mqtt_will_published_when_client_dies),
        cmocka_unit_test(test_mqtt_pending_and_flush),
        cmocka_unit_test(test_mqtt_reconnects_after_broker_restart),
        cmocka_unit_test(test_mqtt_resumed_session_skips_resubscribe),
        cmocka_unit_test(test_mqtt_destroy_while_connecting_is_prompt),
        cmocka_unit_test(test_mqtt_socket_has_tcp_nodelay),
    };
    ssize_t n;

    if (argc == 4 && strcmp(argv[1], "--will-child") == 0)
        return will_child(argv[2], argv[3]);
    n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (n <= 0) {
        fprintf(stderr, "test_mqtt: /proc/self/exe: %s\n", strerror(errno));
        return 1;
    }
    self_exe[n] = '\0';
    signal(SIGPIPE, SIG_IGN);
    /* e.g. VMF_TEST_FILTER='*restart*' to run one test */
    if (getenv("VMF_TEST_FILTER") != NULL)
        cmocka_set_test_filter(getenv("VMF_TEST_FILTER"));
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
