/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The one wrapper around Paho MQTT C (MQTTAsync, MQTT v5) for the whole
 * project (STYLE.md: one wrapper per third-party library).  Written for
 * libpaho-mqtt 1.3.12 (Debian 12), linked as libpaho-mqtt3as so that
 * ssl:// works.
 *
 * Threads.  Paho runs its own send and receive threads and calls us back
 * on either.  Those callbacks never run user code and never call Paho:
 * they only update the state below under c->lock and queue events.  One
 * worker thread per client does everything else:
 *   - it runs the user's callbacks, one at a time, in arrival order,
 *     never while Paho or c->lock is held (so they may publish);
 *   - it (re)connects, with our own exponential backoff in milliseconds
 *     (Paho's automaticReconnect counts in whole seconds, too coarse for a
 *     250 ms first retry on loopback), so automaticReconnect is off;
 *   - after every connect it re-sends every remembered subscription and
 *     waits for the SUBACK, then reports on_conn(true); except when the
 *     broker resumed our session and that session already holds every
 *     filter (a full re-subscribe was acknowledged in it and nothing was
 *     added since): then it reports at once.  A resumed session's SUBACK
 *     queues behind whatever the broker kept for us while we were away,
 *     which on a slow link is minutes of data;
 *   - only then does it send the publishes held while disconnected, so a
 *     request buffered offline never goes out before the subscription
 *     that will receive its response.
 * c->lock is a leaf lock: nothing calls Paho or user code while holding
 * it, so no lock order can deadlock against Paho's internal mutexes.
 *
 * Buffering.  While we are not connected (or the re-subscribe has not been
 * acknowledged yet), publishes are copied into c->held, up to
 * max_buffered, and the newest are refused (VMF_MQTT_ENOTCONN): the oldest
 * are kept.  Paho's own sendWhileDisconnected buffer only covers the
 * short window where the connection drops between our check and Paho
 * taking the message.
 *
 * Flow control.  At most c->window QoS 1 publishes are handed to Paho
 * and not yet acknowledged (c->inflight); the rest wait in c->held and
 * the worker sends them as PUBACKs come back.  The window is the
 * broker's MQTT v5 Receive Maximum (mosquitto says 20), capped by
 * max_inflight.  Paho 1.3.12 does respect that limit, but when it is
 * reached it parks the message and only looks again on its one-second
 * housekeeping tick, which throttles a burst to ~20 messages a second;
 * keeping the excess ourselves avoids that (thousands a second on
 * loopback).
 *
 * Pending.  c->pending counts QoS 1 publishes from vmf_mqtt_publish() until
 * Paho reports them done: held ones, Paho-buffered ones and in-flight
 * ones.  Every QoS 1 send carries onSuccess5/onFailure5, and Paho calls
 * one of them exactly once if the send was accepted (on a lost clean
 * session it reports the in-flight ones failed with
 * MQTTASYNC_OPERATION_INCOMPLETE; with clean_start false they are resent
 * after the reconnect and succeed).
 *
 * Nagle.  After every connect the worker sets TCP_NODELAY on the
 * client's socket (set_nodelay()).  MQTT traffic is small packets that
 * answer each other (a chunk request, a PUBACK, the tail of a publish
 * shorter than one segment): with Nagle's algorithm on, such a packet
 * waits until the previous one is acknowledged, and the peer delays that
 * ACK by up to 40 ms.  With Nagle on in the clients and the broker, every
 * OTA chunk cost 4 to 11 ms on loopback whatever its size; each side alone
 * removed only part of it (docs/performance.md, "OTA update").  So the
 * broker must do the same (mosquitto: set_tcp_nodelay true).
 */

#define _POSIX_C_SOURCE 200809L /* pthread, clock_gettime, strdup */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <MQTTAsync.h>

#include "vmf/mqtt.h"

#define CLIENT_ID_MAX 64
/* MQTT's largest packet body; Paho takes payload lengths as int. */
#define PAYLOAD_MAX 268435455u
#define CORR_MAX 65535u
/* Received messages queued for the worker before Paho is told to hold
 * them back (messageArrived returns 0 and Paho retries later). */
#define RXQ_MAX 1024u
/* Paho's command queue limit (maxBufferedMessages).  Paho applies it to
 * every publish not yet written, connected or not, so it must not be
 * max_buffered: a burst while connected would be refused.  Our own held
 * queue enforces max_buffered; this only bounds memory. */
#define PAHO_QUEUE_MAX 65536
/* Bound on the CONNECT handshake (Paho's connectTimeout, in seconds). */
#define CONNECT_TIMEOUT_S 10
/* How long destroy waits for the DISCONNECT to go out. */
#define DISCONNECT_WAIT_MS 2000u

enum ev_kind { EV_MSG, EV_UP, EV_DOWN };

/* One event for the worker to hand to a user callback. */
typedef struct ev {
    struct ev *next;
    enum ev_kind kind;
    vmf_mqtt_msg_t m;         /* EV_MSG; its pointers point into data[] */
    char why[128];            /* EV_DOWN */
    unsigned char data[];
} ev_t;

/* A publish held while we are not connected; pointers into data[]. */
typedef struct held {
    struct held *next;
    vmf_mqtt_msg_t m;
    unsigned char data[];
} held_t;

typedef struct sub {
    struct sub *next;
    int qos;
    char filter[];
} sub_t;

enum conn_state {
    ST_IDLE,       /* created, vmf_mqtt_start() not called yet */
    ST_WAIT,       /* disconnected, next attempt at c->next_try */
    ST_CONNECTING, /* MQTTAsync_connect() outstanding */
    ST_RESUB,      /* connected, re-subscribe not acknowledged yet */
    ST_UP          /* connected and announced */
};

struct vmf_mqtt {
    MQTTAsync h;
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* any change below; CLOCK_MONOTONIC */
    pthread_t worker;

    /* Configuration, owned copies. */
    char *uri, *client_id, *username, *password;
    char *ca_file, *cert_file, *key_file;
    char *will_topic;
    void *will_payload;
    size_t will_len;
    bool will_retain, tls, clean_start, no_nodelay_scan;
    uint32_t keepalive_s, min_retry_ms, max_retry_ms;
    uint32_t session_expiry_s, max_inflight, max_buffered;
    vmf_mqtt_msg_fn on_msg;
    vmf_mqtt_conn_fn on_conn;
    void *arg;

    /* Everything below is guarded by lock. */
    enum conn_state state;
    bool stopping;
    bool resub_due;           /* worker must send the re-subscribe */
    bool resub_skip;          /* ... or only announce: the session has it */
    bool session_present;     /* the last connect resumed a session */
    uint32_t subs_gen;        /* bumped when a filter is added or changed */
    uint32_t resub_gen;       /* subs_gen of the re-subscribe in flight */
    uint32_t session_gen;     /* subs_gen the broker's session holds (0:
                               * not known to hold them) */
    bool announced;           /* on_conn(true) queued for this connection */
    bool draining;            /* worker is sending a held publish */
    uint64_t next_try;        /* ms, monotonic */
    uint32_t backoff_ms;
    uint32_t pending;
    uint32_t inflight;        /* QoS 1+ with Paho, not yet completed */
    uint32_t window;          /* most inflight allowed on this connection */
    uint32_t rxq_len;
    int paho_cbs;             /* Paho callbacks running in our code */
    bool disc_done;
    sub_t *subs;
    ev_t *evq, **evq_tail;
    held_t *held, **held_tail;
    uint32_t held_len;
};

static const char *const errtab[] = {
    "success",
    "bad argument or config",
    "out of memory",
    "not connected and the buffer is full",
    "the MQTT client library refused",
    "timed out",
};

const char *
vmf_mqtt_strerror(int err)
{
    if (err > 0 || -err >= (int)(sizeof(errtab) / sizeof(errtab[0])))
        return "unknown error";
    return errtab[-err];
}

static void (*log_fn)(const char *line);

void
vmf_mqtt_set_log(void (*fn)(const char *line))
{
    log_fn = fn;
}

__attribute__((format(printf, 1, 2))) static void
logf_(const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (log_fn != NULL)
        log_fn(line);
    else
        fprintf(stderr, "mqtt: %s\n", line);
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct timespec
abs_ms(uint64_t when_ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(when_ms / 1000u);
    ts.tv_nsec = (long)(when_ms % 1000u) * 1000000L;
    return ts;
}

/*
 * wait_until: wait on c->cond (lock held) until deadline_ms.
 * Return: false once the deadline has passed.
 */
static bool
wait_until(vmf_mqtt_t *c, uint64_t deadline_ms)
{
    struct timespec ts;

    if (now_ms() >= deadline_ms)
        return false;
    ts = abs_ms(deadline_ms);
    pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    return true;
}

/* Text for a Paho failure: the MQTT v5 reason code if the broker sent
 * one, else Paho's own error. */
static const char *
fail_text(const MQTTAsync_failureData5 *r)
{
    if (r == NULL)
        return "unknown failure";
    if (r->reasonCode != MQTTREASONCODE_SUCCESS)
        return MQTTReasonCode_toString(r->reasonCode);
    if (r->message != NULL)
        return r->message;
    return MQTTAsync_strerror(r->code);
}

__attribute__((format(printf, 3, 4))) static void
err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- Paho callbacks: Paho's threads, touch only our state ---- */

static void
cb_enter(vmf_mqtt_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->paho_cbs++;
}

static void
cb_leave(vmf_mqtt_t *c)
{
    c->paho_cbs--;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

static void
ev_push(vmf_mqtt_t *c, ev_t *e)
{
    e->next = NULL;
    *c->evq_tail = e;
    c->evq_tail = &e->next;
}

/* Connection gone (lock held): schedule a retry and tell the user if
 * they had been told it was up. */
static void
lost_locked(vmf_mqtt_t *c, const char *why)
{
    ev_t *e;

    if (c->state != ST_RESUB && c->state != ST_UP)
        return;
    logf_("connection to %s lost: %s; reconnecting in %u ms", c->uri, why,
          c->min_retry_ms);
    c->state = ST_WAIT;
    c->resub_due = false;
    c->backoff_ms = c->min_retry_ms;
    c->next_try = now_ms() + c->min_retry_ms;
    if (c->announced) {
        c->announced = false;
        /* Without memory for the event the user misses one "down"; the
         * next "up" still arrives. */
        if ((e = calloc(1, sizeof(*e))) != NULL) {
            e->kind = EV_DOWN;
            snprintf(e->why, sizeof(e->why), "%s", why);
            ev_push(c, e);
        }
    }
}

static void
on_connection_lost(void *ctx, char *cause)
{
    vmf_mqtt_t *c = ctx;

    cb_enter(c);
    lost_locked(c, cause != NULL && cause[0] != '\0' ? cause
                                                     : "connection lost");
    cb_leave(c);
}

/* MQTT v5 DISCONNECT from the broker (e.g. it is shutting down). */
static void
on_disconnected(void *ctx, MQTTProperties *props, enum MQTTReasonCodes rc)
{
    vmf_mqtt_t *c = ctx;
    char why[96];

    (void)props;
    snprintf(why, sizeof(why), "broker sent DISCONNECT: %s",
             MQTTReasonCode_toString(rc));
    cb_enter(c);
    lost_locked(c, why);
    cb_leave(c);
}

static void
on_connect_ok(void *ctx, MQTTAsync_successData5 *r)
{
    vmf_mqtt_t *c = ctx;

    cb_enter(c);
    if (c->state == ST_CONNECTING) {
        logf_("connected to %s%s", c->uri,
              r != NULL && r->alt.connect.sessionPresent
                  ? " (session resumed)" : "");
        c->state = ST_RESUB;
        c->resub_due = true;
        c->session_present = r != NULL && r->alt.connect.sessionPresent;
        c->resub_skip = c->session_present && c->session_gen != 0 &&
                        c->session_gen == c->subs_gen;
        if (!c->resub_skip)
            c->session_gen = 0; /* a new session, or not known to hold them */
        c->backoff_ms = c->min_retry_ms;
        c->window = c->max_inflight;
        if (r != NULL) {
            MQTTProperty *rm = MQTTProperties_getProperty(
                &r->properties, MQTTPROPERTY_CODE_RECEIVE_MAXIMUM);

            if (rm != NULL && rm->value.integer2 > 0 &&
                rm->value.integer2 < c->window)
                c->window = rm->value.integer2;
        }
    }
    cb_leave(c);
}

static void
on_connect_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    vmf_mqtt_t *c = ctx;

    cb_enter(c);
    if (c->state == ST_CONNECTING) {
        logf_("connect to %s failed: %s; retrying in %u ms", c->uri,
              fail_text(r), c->backoff_ms);
        c->state = ST_WAIT;
        c->next_try = now_ms() + c->backoff_ms;
        c->backoff_ms = c->backoff_ms > c->max_retry_ms / 2
                            ? c->max_retry_ms : c->backoff_ms * 2;
    }
    cb_leave(c);
}

/* The re-subscribe after a connect finished (lock held): announce. */
static void
resub_done_locked(vmf_mqtt_t *c)
{
    ev_t *e;

    if (c->state != ST_RESUB || c->resub_due)
        return;
    c->state = ST_UP;
    pthread_cond_broadcast(&c->cond); /* wait_connected(), the worker */
    /* Without memory for the event the user misses this "up" (and then
     * the matching "down"); vmf_mqtt_connected() still tells the truth. */
    if (!c->announced && (e = calloc(1, sizeof(*e))) != NULL) {
        c->announced = true;
        e->kind = EV_UP;
        ev_push(c, e);
    }
}

static void
on_resub_ok(void *ctx, MQTTAsync_successData5 *r)
{
    vmf_mqtt_t *c = ctx;
    bool all = true;
    int i;

    cb_enter(c);
    /* subscribeMany reports one reason code per filter; 0x80 and up
     * means the broker refused that filter.  Paho fills the array only
     * for two filters or more (with one, alt.sub.reasonCodes is garbage
     * and a refusal comes through on_resub_fail). */
    if (r != NULL && r->alt.sub.reasonCodeCount > 1 &&
        r->alt.sub.reasonCodes != NULL) {
        for (i = 0; i < r->alt.sub.reasonCodeCount; i++)
            if (r->alt.sub.reasonCodes[i] >=
                MQTTREASONCODE_UNSPECIFIED_ERROR) {
                logf_("re-subscribe: filter %d refused: %s", i,
                      MQTTReasonCode_toString(r->alt.sub.reasonCodes[i]));
                all = false;
            }
    } else if (r != NULL &&
               r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
        logf_("re-subscribe refused: %s",
              MQTTReasonCode_toString(r->reasonCode));
        all = false;
    }
    if (all)
        c->session_gen = c->resub_gen;
    resub_done_locked(c);
    cb_leave(c);
}

static void
on_resub_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    vmf_mqtt_t *c = ctx;

    cb_enter(c);
    logf_("re-subscribe failed: %s", fail_text(r));
    /* Still announce: a lost connection reports itself separately, and
     * a refused filter must not keep the rest of the client offline. */
    resub_done_locked(c);
    cb_leave(c);
}

static void
on_sub_ok(void *ctx, MQTTAsync_successData5 *r)
{
    (void)ctx;
    if (r != NULL && r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
        logf_("subscribe refused: %s",
              MQTTReasonCode_toString(r->reasonCode));
}

static void
on_sub_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)ctx;
    logf_("subscribe failed: %s", fail_text(r));
}

static void
pub_done(vmf_mqtt_t *c)
{
    cb_enter(c);
    if (c->pending > 0)
        c->pending--;
    if (c->inflight > 0)
        c->inflight--;
    cb_leave(c);
}

static void
on_pub_ok(void *ctx, MQTTAsync_successData5 *r)
{
    if (r != NULL && r->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR)
        logf_("publish refused by the broker: %s",
              MQTTReasonCode_toString(r->reasonCode));
    pub_done(ctx);
}

static void
on_pub_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    logf_("publish not delivered: %s", fail_text(r));
    pub_done(ctx);
}

static void
on_disc_done(void *ctx)
{
    vmf_mqtt_t *c = ctx;

    cb_enter(c);
    c->disc_done = true;
    cb_leave(c);
}

static void
on_disc_ok(void *ctx, MQTTAsync_successData5 *r)
{
    (void)r;
    on_disc_done(ctx);
}

static void
on_disc_fail(void *ctx, MQTTAsync_failureData5 *r)
{
    (void)r;
    on_disc_done(ctx);
}

/*
 * on_message: copy the message into an event for the worker.
 * Return: 1 if taken (Paho frees nothing; we free its copy here), 0 to
 * make Paho keep it and offer it again later (queue full or no memory).
 */
static int
on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *pm)
{
    vmf_mqtt_t *c = ctx;
    MQTTProperty *corr, *resp;
    size_t tlen, plen, clen = 0, rlen = 0;
    ev_t *e;
    unsigned char *p;

    tlen = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    plen = pm->payloadlen > 0 ? (size_t)pm->payloadlen : 0;
    corr = MQTTProperties_getProperty(&pm->properties,
                                      MQTTPROPERTY_CODE_CORRELATION_DATA);
    resp = MQTTProperties_getProperty(&pm->properties,
                                      MQTTPROPERTY_CODE_RESPONSE_TOPIC);
    if (corr != NULL && corr->value.data.len > 0)
        clen = (size_t)corr->value.data.len;
    if (resp != NULL && resp->value.data.len > 0)
        rlen = (size_t)resp->value.data.len;

    cb_enter(c);
    /* topic NUL, payload, correlation data, response topic NUL */
    if (c->rxq_len >= RXQ_MAX ||
        (e = calloc(1, sizeof(*e) + tlen + 1 + plen + clen + rlen + 1)) ==
            NULL) {
        cb_leave(c);
        return 0;
    }
    e->kind = EV_MSG;
    p = e->data;
    memcpy(p, topic, tlen);
    e->m.topic = (const char *)p;
    p += tlen + 1;
    if (plen > 0)
        memcpy(p, pm->payload, plen);
    e->m.payload = p;
    e->m.len = plen;
    p += plen;
    if (corr != NULL) {
        if (clen > 0)
            memcpy(p, corr->value.data.data, clen);
        e->m.corr = p;
        e->m.corr_len = clen;
        p += clen;
    }
    if (resp != NULL) {
        if (rlen > 0)
            memcpy(p, resp->value.data.data, rlen);
        e->m.response_topic = (const char *)p;
    }
    e->m.qos = pm->qos;
    e->m.retain = pm->retained != 0;
    e->m.dup = pm->dup != 0;
    ev_push(c, e);
    c->rxq_len++;
    cb_leave(c);
    MQTTAsync_freeMessage(&pm);
    MQTTAsync_free(topic);
    return 1;
}

/* OpenSSL's reasons for a failed handshake (bad CA, expired or
 * mismatched certificate); Paho's own code only says "TCP/TLS connect
 * failure". */
static int
on_tls_error(const char *str, size_t len, void *ctx)
{
    (void)ctx;
    while (len > 0 && (str[len - 1] == '\n' || str[len - 1] == '\r'))
        len--;
    logf_("tls: %.*s", (int)len, str);
    return 1;
}

/* ---- the worker ---- */

/*
 * start_connect: issue one MQTTAsync_connect() with the configured
 * options.  Called by the worker without the lock.
 * Return: the Paho return code (callbacks follow only on success).
 */
static int
start_connect(vmf_mqtt_t *c)
{
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty p;
    int rc;

    o.keepAliveInterval = (int)c->keepalive_s;
    o.cleanstart = c->clean_start;
    o.maxInflight = (int)c->max_inflight;
    o.username = c->username;
    o.password = c->password;
    o.connectTimeout = CONNECT_TIMEOUT_S;
    o.automaticReconnect = 0;
    o.onSuccess5 = on_connect_ok;
    o.onFailure5 = on_connect_fail;
    o.context = c;
    if (!c->clean_start) {
        p.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL;
        p.value.integer4 = c->session_expiry_s;
        if (MQTTProperties_add(&props, &p) != 0)
            return MQTTASYNC_FAILURE;
        o.connectProperties = &props;
    }
    if (c->will_topic != NULL) {
        will.topicName = c->will_topic;
        will.message = ""; /* used by Paho when the payload is empty */
        will.payload.data = c->will_payload;
        will.payload.len = (int)c->will_len;
        will.qos = 1;
        will.retained = c->will_retain;
        o.will = &will;
    }
    if (c->tls) {
        ssl.trustStore = c->ca_file;
        ssl.keyStore = c->cert_file;
        ssl.privateKey = c->key_file;
        ssl.enableServerCertAuth = 1;
        ssl.verify = 1;
        ssl.ssl_error_cb = on_tls_error;
        o.ssl = &ssl;
    }
    rc = MQTTAsync_connect(c->h, &o);
    MQTTProperties_free(&props);
    return rc;
}

/*
 * send_now: hand one publish to Paho.  For QoS 1 the caller has already
 * counted it in c->pending and c->inflight; on failure both are given
 * back here.
 * Return: the Paho return code.
 */
static int
send_now(vmf_mqtt_t *c, const vmf_mqtt_msg_t *m)
{
    MQTTAsync_message pm = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTProperty p;
    int rc = MQTTASYNC_SUCCESS;

    pm.payload = (void *)m->payload;
    pm.payloadlen = (int)m->len;
    pm.qos = m->qos;
    pm.retained = m->retain;
    if (m->corr != NULL) {
        p.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA;
        p.value.data.data = (char *)m->corr;
        p.value.data.len = (int)m->corr_len;
        rc = MQTTProperties_add(&pm.properties, &p);
    }
    if (rc == 0 && m->response_topic != NULL) {
        p.identifier = MQTTPROPERTY_CODE_RESPONSE_TOPIC;
        p.value.data.data = (char *)m->response_topic;
        p.value.data.len = (int)strlen(m->response_topic);
        rc = MQTTProperties_add(&pm.properties, &p);
    }
    if (rc == 0) {
        if (m->qos > 0) {
            ro.onSuccess5 = on_pub_ok;
            ro.onFailure5 = on_pub_fail;
            ro.context = c;
        }
        rc = MQTTAsync_sendMessage(c->h, m->topic, &pm, &ro);
    } else {
        rc = MQTTASYNC_FAILURE;
    }
    MQTTProperties_free(&pm.properties);
    if (rc != MQTTASYNC_SUCCESS && m->qos > 0) {
        pthread_mutex_lock(&c->lock);
        c->pending--;
        c->inflight--;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    return rc;
}

/*
 * broker_port: the TCP port of c->uri ("tcp://host:port",
 * "ssl://[v6]:port"; without a port, Paho's defaults 1883 and 8883).
 * Return: the port, or 0 if the uri has none that parses.
 */
static unsigned
broker_port(const vmf_mqtt_t *c)
{
    const char *host = strstr(c->uri, "://") + 3, *colon = NULL, *p;
    unsigned long v;
    char *end;

    p = host;
    if (*p == '[' && (p = strchr(p, ']')) == NULL)
        return 0;
    for (; *p != '\0' && *p != '/'; p++)
        if (*p == ':')
            colon = p;
    if (colon == NULL)
        return c->tls ? 8883u : 1883u;
    v = strtoul(colon + 1, &end, 10);
    if (end == colon + 1 || (*end != '\0' && *end != '/') || v == 0 ||
        v > 65535)
        return 0;
    return (unsigned)v;
}

/*
 * nodelay_port: TCP_NODELAY on every TCP socket of this process whose
 * peer port is `port`.  Paho 1.3.12 has no option for TCP_NODELAY and
 * does not hand out its socket, so this looks through the process's
 * descriptors (/proc/self/fd).  Another connection of this process to
 * the same port is an MQTT connection too and gains from it just the
 * same.
 * Return: how many such sockets have TCP_NODELAY now, or -1 with errno
 * set when /proc/self/fd cannot be read.
 */
static int
nodelay_port(unsigned port)
{
    struct sockaddr_storage peer;
    socklen_t len;
    struct dirent *de;
    unsigned got;
    int fd, self, type, on, n = 0;
    DIR *d;

    if ((d = opendir("/proc/self/fd")) == NULL)
        return -1;
    self = dirfd(d);
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
            (fd = atoi(de->d_name)) == self)
            continue;
        len = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 ||
            type != SOCK_STREAM)
            continue;
        len = sizeof(peer);
        if (getpeername(fd, (struct sockaddr *)&peer, &len) != 0)
            continue;
        if (peer.ss_family == AF_INET)
            got = ntohs(((struct sockaddr_in *)&peer)->sin_port);
        else if (peer.ss_family == AF_INET6)
            got = ntohs(((struct sockaddr_in6 *)&peer)->sin6_port);
        else
            continue;
        len = sizeof(on);
        if (got != port ||
            getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) != 0)
            continue;
        if (on == 0) {
            on = 1;
            if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
                           sizeof(on)) != 0)
                continue;
        }
        n++;
    }
    closedir(d);
    return n;
}

int
vmf_mqtt_nodelay(vmf_mqtt_t *c)
{
    unsigned port;
    int n;

    if (c == NULL || (port = broker_port(c)) == 0)
        return VMF_MQTT_EINVAL;
    if ((n = nodelay_port(port)) < 0)
        return VMF_MQTT_EFAIL;
    return n;
}

/*
 * set_nodelay: turn Nagle's algorithm off on the socket of the connection
 * just made (worker, lock not held; see "Nagle" at the top).
 * Return: how many sockets to the broker now have TCP_NODELAY (0: none
 * found, or no way to look: logged).
 */
static int
set_nodelay(vmf_mqtt_t *c)
{
    int n = vmf_mqtt_nodelay(c);

    if (n < 0) {
        logf_("cannot look for the socket to %s (%s); Nagle stays on, so "
              "small packets may wait for delayed ACKs", c->uri,
              n == VMF_MQTT_EINVAL ? "no port in the uri" : strerror(errno));
        return 0;
    }
    if (n == 0)
        logf_("found no socket to %s to set TCP_NODELAY on; small packets "
              "may wait for delayed ACKs", c->uri);
    return n;
}

/* Re-send every remembered subscription (worker, lock not held). */
static void
resubscribe(vmf_mqtt_t *c)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    char **filters = NULL;
    int *qos = NULL, n = 0, i = 0, rc;
    sub_t *s;

    pthread_mutex_lock(&c->lock);
    c->resub_gen = c->subs_gen;
    for (s = c->subs; s != NULL; s = s->next)
        n++;
    if (n > 0) {
        filters = calloc((size_t)n, sizeof(*filters));
        qos = calloc((size_t)n, sizeof(*qos));
    }
    for (s = c->subs; s != NULL && filters != NULL && qos != NULL;
         s = s->next) {
        if ((filters[i] = strdup(s->filter)) == NULL)
            break;
        qos[i++] = s->qos;
    }
    pthread_mutex_unlock(&c->lock);

    if (n == 0) {
        pthread_mutex_lock(&c->lock);
        resub_done_locked(c);
        pthread_mutex_unlock(&c->lock);
        return;
    }
    if (i < n) {
        logf_("re-subscribe: out of memory");
        rc = MQTTASYNC_FAILURE;
    } else {
        ro.onSuccess5 = on_resub_ok;
        ro.onFailure5 = on_resub_fail;
        ro.context = c;
        rc = MQTTAsync_subscribeMany(c->h, n, filters, qos, &ro);
        if (rc != MQTTASYNC_SUCCESS)
            logf_("re-subscribe failed: %s", MQTTAsync_strerror(rc));
    }
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&c->lock);
        resub_done_locked(c);
        pthread_mutex_unlock(&c->lock);
    }
    while (i > 0)
        free(filters[--i]);
    free(filters);
    free(qos);
}

/* Run one event's user callback (worker, lock not held) and free it. */
static void
dispatch(vmf_mqtt_t *c, ev_t *e)
{
    switch (e->kind) {
    case EV_MSG:
        if (c->on_msg != NULL)
            c->on_msg(c->arg, &e->m);
        break;
    case EV_UP:
        if (c->on_conn != NULL)
            c->on_conn(c->arg, true, "connected");
        break;
    case EV_DOWN:
        if (c->on_conn != NULL)
            c->on_conn(c->arg, false, e->why);
        break;
    }
    free(e);
}

static void *
worker_main(void *arg)
{
    vmf_mqtt_t *c = arg;
    ev_t *e;
    held_t *hm;
    int rc;

    pthread_mutex_lock(&c->lock);
    while (!c->stopping) {
        if ((e = c->evq) != NULL) {
            if ((c->evq = e->next) == NULL)
                c->evq_tail = &c->evq;
            if (e->kind == EV_MSG)
                c->rxq_len--;
            pthread_mutex_unlock(&c->lock);
            dispatch(c, e);
            pthread_mutex_lock(&c->lock);
            continue;
        }
        if (c->state == ST_RESUB && c->resub_due) {
            bool skip = c->resub_skip;

            c->resub_due = false;
            pthread_mutex_unlock(&c->lock);
            if (!c->no_nodelay_scan)
                set_nodelay(c);
            if (!skip)
                resubscribe(c);
            pthread_mutex_lock(&c->lock);
            if (skip)
                resub_done_locked(c);
            continue;
        }
        if (c->state == ST_UP && (hm = c->held) != NULL &&
            (hm->m.qos == 0 || c->inflight < c->window)) {
            if ((c->held = hm->next) == NULL)
                c->held_tail = &c->held;
            c->held_len--;
            if (hm->m.qos > 0)
                c->inflight++;
            c->draining = true;
            pthread_mutex_unlock(&c->lock);
            rc = send_now(c, &hm->m);
            if (rc != MQTTASYNC_SUCCESS)
                logf_("publish to %s dropped: %s", hm->m.topic,
                      MQTTAsync_strerror(rc));
            free(hm);
            pthread_mutex_lock(&c->lock);
            c->draining = false;
            pthread_cond_broadcast(&c->cond);
            continue;
        }
        if (c->state == ST_WAIT && now_ms() >= c->next_try) {
            c->state = ST_CONNECTING;
            pthread_mutex_unlock(&c->lock);
            rc = start_connect(c);
            pthread_mutex_lock(&c->lock);
            if (rc != MQTTASYNC_SUCCESS && c->state == ST_CONNECTING) {
                logf_("connect to %s failed: %s; retrying in %u ms", c->uri,
                      MQTTAsync_strerror(rc), c->backoff_ms);
                c->state = ST_WAIT;
                c->next_try = now_ms() + c->backoff_ms;
                c->backoff_ms = c->backoff_ms > c->max_retry_ms / 2
                                    ? c->max_retry_ms : c->backoff_ms * 2;
            }
            continue;
        }
        if (c->state == ST_WAIT) {
            struct timespec ts = abs_ms(c->next_try);
            pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        } else {
            pthread_cond_wait(&c->cond, &c->lock);
        }
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* ---- configuration ---- */

static int
dup_opt(char **dst, const char *src)
{
    if (src == NULL || src[0] == '\0')
        return 0;
    return (*dst = strdup(src)) == NULL ? VMF_MQTT_ENOMEM : 0;
}

static bool
has_wildcard(const char *topic)
{
    return strpbrk(topic, "+#") != NULL;
}

static int
check_file(const char *name, const char *path, char *err, size_t errlen)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    if (access(path, R_OK) != 0) {
        err_set(err, errlen, "%s: cannot read %s: %s", name, path,
                strerror(errno));
        return VMF_MQTT_EINVAL;
    }
    return 0;
}

/*
 * check_config: validate cfg; *tls says whether the uri asks for TLS.
 * Return: 0, or VMF_MQTT_EINVAL with err naming the field.
 */
static int
check_config(const vmf_mqtt_config_t *cfg, bool *tls, char *err,
             size_t errlen)
{
    static const struct { const char *scheme; bool tls; } schemes[] = {
        { "tcp://", false }, { "mqtt://", false },
        { "ssl://", true },  { "mqtts://", true },
    };
    size_t i, n = 0;
    bool any_tls_file;

    if (cfg == NULL) {
        err_set(err, errlen, "config: required");
        return VMF_MQTT_EINVAL;
    }
    if (cfg->uri == NULL || cfg->uri[0] == '\0') {
        err_set(err, errlen, "uri: required");
        return VMF_MQTT_EINVAL;
    }
    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        n = strlen(schemes[i].scheme);
        if (strncmp(cfg->uri, schemes[i].scheme, n) == 0)
            break;
    }
    if (i == sizeof(schemes) / sizeof(schemes[0])) {
        err_set(err, errlen,
                "uri: '%s' must start with tcp://, mqtt://, ssl:// or "
                "mqtts://", cfg->uri);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->uri[n] == '\0' || cfg->uri[n] == ':' || cfg->uri[n] == '/') {
        err_set(err, errlen, "uri: '%s' has no host", cfg->uri);
        return VMF_MQTT_EINVAL;
    }
    *tls = schemes[i].tls;
    if (cfg->client_id == NULL || cfg->client_id[0] == '\0') {
        err_set(err, errlen, "client_id: required");
        return VMF_MQTT_EINVAL;
    }
    if (strlen(cfg->client_id) > CLIENT_ID_MAX) {
        err_set(err, errlen, "client_id: longer than %d characters",
                CLIENT_ID_MAX);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->password != NULL && cfg->password[0] != '\0' &&
        (cfg->username == NULL || cfg->username[0] == '\0')) {
        err_set(err, errlen, "password: needs username");
        return VMF_MQTT_EINVAL;
    }
    any_tls_file = (cfg->ca_file != NULL && cfg->ca_file[0] != '\0') ||
                   (cfg->cert_file != NULL && cfg->cert_file[0] != '\0') ||
                   (cfg->key_file != NULL && cfg->key_file[0] != '\0');
    if (any_tls_file && !*tls) {
        err_set(err, errlen, "%s: only with an ssl:// or mqtts:// uri",
                cfg->ca_file != NULL && cfg->ca_file[0] != '\0' ? "ca_file"
                : cfg->cert_file != NULL && cfg->cert_file[0] != '\0'
                    ? "cert_file" : "key_file");
        return VMF_MQTT_EINVAL;
    }
    if (cfg->key_file != NULL && cfg->key_file[0] != '\0' &&
        (cfg->cert_file == NULL || cfg->cert_file[0] == '\0')) {
        err_set(err, errlen, "key_file: needs cert_file");
        return VMF_MQTT_EINVAL;
    }
    if (check_file("ca_file", cfg->ca_file, err, errlen) != 0 ||
        check_file("cert_file", cfg->cert_file, err, errlen) != 0 ||
        check_file("key_file", cfg->key_file, err, errlen) != 0)
        return VMF_MQTT_EINVAL;
    if (cfg->keepalive_s > 65535) {
        err_set(err, errlen, "keepalive_s: %u is over 65535",
                cfg->keepalive_s);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->max_retry_ms > 3600000u) {
        err_set(err, errlen, "max_retry_ms: %u is over 3600000",
                cfg->max_retry_ms);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->min_retry_ms != 0 && cfg->max_retry_ms != 0 &&
        cfg->min_retry_ms > cfg->max_retry_ms) {
        err_set(err, errlen, "min_retry_ms: %u is over max_retry_ms %u",
                cfg->min_retry_ms, cfg->max_retry_ms);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->max_inflight > 65535) {
        err_set(err, errlen, "max_inflight: %u is over 65535",
                cfg->max_inflight);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->max_buffered > (uint32_t)INT_MAX) {
        err_set(err, errlen, "max_buffered: %u is too large",
                cfg->max_buffered);
        return VMF_MQTT_EINVAL;
    }
    if (cfg->will_topic != NULL && cfg->will_topic[0] != '\0') {
        if (has_wildcard(cfg->will_topic)) {
            err_set(err, errlen, "will_topic: '%s' has a wildcard",
                    cfg->will_topic);
            return VMF_MQTT_EINVAL;
        }
        if (cfg->will_len > PAYLOAD_MAX ||
            (cfg->will_len > 0 && cfg->will_payload == NULL)) {
            err_set(err, errlen, "will_len: %zu bytes without a payload or "
                    "over %u", cfg->will_len, PAYLOAD_MAX);
            return VMF_MQTT_EINVAL;
        }
    } else if (cfg->will_len > 0 || cfg->will_retain) {
        err_set(err, errlen, "will_topic: required with a will payload "
                "or will_retain");
        return VMF_MQTT_EINVAL;
    }
    return 0;
}

static void
free_client(vmf_mqtt_t *c)
{
    sub_t *s;
    ev_t *e;
    held_t *hm;

    while ((s = c->subs) != NULL) {
        c->subs = s->next;
        free(s);
    }
    while ((e = c->evq) != NULL) {
        c->evq = e->next;
        free(e);
    }
    while ((hm = c->held) != NULL) {
        c->held = hm->next;
        free(hm);
    }
    free(c->uri);
    free(c->client_id);
    free(c->username);
    free(c->password);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->will_topic);
    free(c->will_payload);
    free(c);
}

/* Copy cfg into c, applying the documented defaults. */
static int
copy_config(vmf_mqtt_t *c, const vmf_mqtt_config_t *cfg, bool tls)
{
    const char *uri = cfg->uri;

    /* Paho 1.3.12 knows tcp:// and ssl://; map the mqtt(s):// aliases. */
    if (strncmp(uri, "mqtt://", 7) == 0 || strncmp(uri, "mqtts://", 8) == 0) {
        const char *rest = strstr(uri, "://") + 3;
        size_t len = strlen(rest) + sizeof("ssl://");

        if ((c->uri = malloc(len)) == NULL)
            return VMF_MQTT_ENOMEM;
        snprintf(c->uri, len, "%s%s", tls ? "ssl://" : "tcp://", rest);
    } else if ((c->uri = strdup(uri)) == NULL) {
        return VMF_MQTT_ENOMEM;
    }
    if (dup_opt(&c->client_id, cfg->client_id) != 0 ||
        dup_opt(&c->username, cfg->username) != 0 ||
        dup_opt(&c->password, cfg->password) != 0 ||
        dup_opt(&c->ca_file, cfg->ca_file) != 0 ||
        dup_opt(&c->cert_file, cfg->cert_file) != 0 ||
        dup_opt(&c->key_file, cfg->key_file) != 0 ||
        dup_opt(&c->will_topic, cfg->will_topic) != 0)
        return VMF_MQTT_ENOMEM;
    if (c->will_topic != NULL && cfg->will_len > 0) {
        if ((c->will_payload = malloc(cfg->will_len)) == NULL)
            return VMF_MQTT_ENOMEM;
        memcpy(c->will_payload, cfg->will_payload, cfg->will_len);
        c->will_len = cfg->will_len;
    }
    c->will_retain = cfg->will_retain;
    c->tls = tls;
    c->clean_start = cfg->clean_start;
    c->no_nodelay_scan = cfg->no_nodelay_scan;
    c->keepalive_s = cfg->keepalive_s != 0 ? cfg->keepalive_s : 30;
    c->min_retry_ms = cfg->min_retry_ms != 0 ? cfg->min_retry_ms : 250;
    c->max_retry_ms = cfg->max_retry_ms != 0 ? cfg->max_retry_ms : 10000;
    if (c->max_retry_ms < c->min_retry_ms)
        c->max_retry_ms = c->min_retry_ms;
    c->session_expiry_s =
        cfg->session_expiry_s != 0 ? cfg->session_expiry_s : 3600;
    c->max_inflight = cfg->max_inflight != 0 ? cfg->max_inflight : 64;
    c->max_buffered = cfg->max_buffered != 0 ? cfg->max_buffered : 1024;
    return 0;
}

/* ---- public API ---- */

int
vmf_mqtt_create(const vmf_mqtt_config_t *cfg, vmf_mqtt_msg_fn on_msg,
                vmf_mqtt_conn_fn on_conn, void *arg, vmf_mqtt_t **out,
                char *err, size_t errlen)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
    pthread_condattr_t ca;
    vmf_mqtt_t *c;
    bool tls = false;
    int rc;

    err_set(err, errlen, "%s", "");
    if (out == NULL) {
        err_set(err, errlen, "out: required");
        return VMF_MQTT_EINVAL;
    }
    *out = NULL;
    if ((rc = check_config(cfg, &tls, err, errlen)) != 0)
        return rc;
    if ((c = calloc(1, sizeof(*c))) == NULL)
        goto nomem;
    c->evq_tail = &c->evq;
    c->held_tail = &c->held;
    c->on_msg = on_msg;
    c->on_conn = on_conn;
    c->arg = arg;
    c->state = ST_IDLE;
    if ((rc = copy_config(c, cfg, tls)) != 0) {
        free_client(c);
        goto nomem;
    }
    c->backoff_ms = c->min_retry_ms;

    co.sendWhileDisconnected = 1;
    co.maxBufferedMessages = PAHO_QUEUE_MAX;
    co.MQTTVersion = MQTTVERSION_5;
    co.deleteOldestMessages = 0;
    rc = MQTTAsync_createWithOptions(&c->h, c->uri, c->client_id,
                                     MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        err_set(err, errlen, "uri: the MQTT library refused '%s': %s",
                cfg->uri, MQTTAsync_strerror(rc));
        free_client(c);
        return rc == MQTTASYNC_BAD_PROTOCOL ? VMF_MQTT_EINVAL
                                            : VMF_MQTT_EFAIL;
    }
    if (MQTTAsync_setCallbacks(c->h, c, on_connection_lost, on_message,
                               NULL) != MQTTASYNC_SUCCESS ||
        MQTTAsync_setDisconnected(c->h, c, on_disconnected) !=
            MQTTASYNC_SUCCESS) {
        err_set(err, errlen, "the MQTT library refused the callbacks");
        MQTTAsync_destroy(&c->h);
        free_client(c);
        return VMF_MQTT_EFAIL;
    }
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        goto fail_paho;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        goto fail_cond;
    if (pthread_create(&c->worker, NULL, worker_main, c) != 0)
        goto fail_mutex;
    *out = c;
    return 0;

fail_mutex:
    pthread_mutex_destroy(&c->lock);
fail_cond:
    pthread_cond_destroy(&c->cond);
fail_paho:
    MQTTAsync_destroy(&c->h);
    free_client(c);
nomem:
    err_set(err, errlen, "out of memory");
    return VMF_MQTT_ENOMEM;
}

int
vmf_mqtt_subscribe(vmf_mqtt_t *c, const char *filter, int qos)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    size_t len;
    sub_t *s;
    bool now;
    int rc;

    if (c == NULL || filter == NULL || filter[0] == '\0' || qos < 0 ||
        qos > 2)
        return VMF_MQTT_EINVAL;
    len = strlen(filter);
    if (len > 65535)
        return VMF_MQTT_EINVAL;
    pthread_mutex_lock(&c->lock);
    for (s = c->subs; s != NULL; s = s->next)
        if (strcmp(s->filter, filter) == 0)
            break;
    if (s == NULL) {
        if ((s = malloc(sizeof(*s) + len + 1)) == NULL) {
            pthread_mutex_unlock(&c->lock);
            return VMF_MQTT_ENOMEM;
        }
        memcpy(s->filter, filter, len + 1);
        s->next = c->subs;
        c->subs = s;
    }
    s->qos = qos;
    c->subs_gen++; /* the session holds it only after a full re-subscribe */
    if (c->subs_gen == 0)
        c->subs_gen = 1;
    /* While connecting, the re-subscribe after the connect covers it. */
    now = c->state == ST_RESUB || c->state == ST_UP;
    pthread_mutex_unlock(&c->lock);
    if (!now)
        return 0;
    ro.onSuccess5 = on_sub_ok;
    ro.onFailure5 = on_sub_fail;
    ro.context = c;
    rc = MQTTAsync_subscribe(c->h, filter, qos, &ro);
    if (rc != MQTTASYNC_SUCCESS && rc != MQTTASYNC_DISCONNECTED) {
        logf_("subscribe to %s failed: %s", filter, MQTTAsync_strerror(rc));
        return rc == MQTTASYNC_BAD_UTF8_STRING ? VMF_MQTT_EINVAL
                                               : VMF_MQTT_EFAIL;
    }
    /* Disconnected in between: it is remembered for the reconnect. */
    return 0;
}

int
vmf_mqtt_start(vmf_mqtt_t *c)
{
    if (c == NULL)
        return VMF_MQTT_EINVAL;
    pthread_mutex_lock(&c->lock);
    if (c->state == ST_IDLE) {
        c->state = ST_WAIT;
        c->next_try = now_ms();
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

bool
vmf_mqtt_connected(vmf_mqtt_t *c)
{
    bool up;

    if (c == NULL)
        return false;
    pthread_mutex_lock(&c->lock);
    up = c->state == ST_UP;
    pthread_mutex_unlock(&c->lock);
    return up;
}

bool
vmf_mqtt_session_resumed(vmf_mqtt_t *c)
{
    bool r;

    if (c == NULL)
        return false;
    pthread_mutex_lock(&c->lock);
    r = c->session_present;
    pthread_mutex_unlock(&c->lock);
    return r;
}

int
vmf_mqtt_wait_connected(vmf_mqtt_t *c, uint32_t timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    int rc = 0;

    if (c == NULL)
        return VMF_MQTT_EINVAL;
    pthread_mutex_lock(&c->lock);
    while (c->state != ST_UP) {
        if (!wait_until(c, deadline)) {
            rc = VMF_MQTT_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Copy m into a held publish (NULL if out of memory). */
static held_t *
held_new(const vmf_mqtt_msg_t *m)
{
    size_t tlen = strlen(m->topic), rlen = 0;
    unsigned char *p;
    held_t *hm;

    if (m->response_topic != NULL)
        rlen = strlen(m->response_topic) + 1;
    hm = calloc(1, sizeof(*hm) + tlen + 1 + m->len + m->corr_len + rlen);
    if (hm == NULL)
        return NULL;
    hm->m = *m;
    p = hm->data;
    memcpy(p, m->topic, tlen + 1);
    hm->m.topic = (const char *)p;
    p += tlen + 1;
    if (m->len > 0)
        memcpy(p, m->payload, m->len);
    hm->m.payload = p;
    p += m->len;
    if (m->corr != NULL) {
        if (m->corr_len > 0)
            memcpy(p, m->corr, m->corr_len);
        hm->m.corr = p;
        p += m->corr_len;
    }
    if (m->response_topic != NULL) {
        memcpy(p, m->response_topic, rlen);
        hm->m.response_topic = (const char *)p;
    }
    return hm;
}

int
vmf_mqtt_publish(vmf_mqtt_t *c, const vmf_mqtt_msg_t *m)
{
    held_t *hm;
    int rc;

    if (c == NULL || m == NULL || m->topic == NULL || m->topic[0] == '\0' ||
        has_wildcard(m->topic) || m->qos < 0 || m->qos > 2 ||
        m->len > PAYLOAD_MAX || (m->len > 0 && m->payload == NULL) ||
        m->corr_len > CORR_MAX || (m->corr_len > 0 && m->corr == NULL) ||
        (m->response_topic != NULL &&
         (m->response_topic[0] == '\0' || has_wildcard(m->response_topic))))
        return VMF_MQTT_EINVAL;

    pthread_mutex_lock(&c->lock);
    if (m->qos > 0)
        c->pending++;
    if (c->state == ST_UP && c->held == NULL && !c->draining &&
        (m->qos == 0 || c->inflight < c->window)) {
        if (m->qos > 0)
            c->inflight++;
        pthread_mutex_unlock(&c->lock);
        rc = send_now(c, m);
        if (rc == MQTTASYNC_SUCCESS)
            return 0;
        if (rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ||
            rc == MQTTASYNC_DISCONNECTED)
            return VMF_MQTT_ENOTCONN;
        return rc == MQTTASYNC_BAD_UTF8_STRING ? VMF_MQTT_EINVAL
                                               : VMF_MQTT_EFAIL;
    }
    /* Not up, window full or older publishes still held: hold it, in
     * order. */
    rc = 0;
    if (c->held_len >= c->max_buffered)
        rc = VMF_MQTT_ENOTCONN;
    else if ((hm = held_new(m)) == NULL)
        rc = VMF_MQTT_ENOMEM;
    if (rc != 0) {
        if (m->qos > 0)
            c->pending--;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    hm->next = NULL;
    *c->held_tail = hm;
    c->held_tail = &hm->next;
    c->held_len++;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return 0;
}

uint32_t
vmf_mqtt_pending(vmf_mqtt_t *c)
{
    uint32_t n;

    if (c == NULL)
        return 0;
    pthread_mutex_lock(&c->lock);
    n = c->pending;
    pthread_mutex_unlock(&c->lock);
    return n;
}

int
vmf_mqtt_flush(vmf_mqtt_t *c, uint32_t timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    int rc = 0;

    if (c == NULL)
        return VMF_MQTT_EINVAL;
    pthread_mutex_lock(&c->lock);
    while (c->pending > 0) {
        if (!wait_until(c, deadline)) {
            rc = VMF_MQTT_ETIMEDOUT;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

void
vmf_mqtt_destroy(vmf_mqtt_t *c)
{
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    uint64_t deadline;

    if (c == NULL)
        return;
    /* No user callback runs once the worker is gone, and it starts no
     * new connect. */
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->worker, NULL);

    /* A normal DISCONNECT (reason 0) tells the broker to drop the Will. */
    d.timeout = 200;
    d.reasonCode = MQTTREASONCODE_NORMAL_DISCONNECTION;
    d.onSuccess5 = on_disc_ok;
    d.onFailure5 = on_disc_fail;
    d.context = c;
    if (MQTTAsync_isConnected(c->h) &&
        MQTTAsync_disconnect(c->h, &d) == MQTTASYNC_SUCCESS) {
        deadline = now_ms() + DISCONNECT_WAIT_MS;
        pthread_mutex_lock(&c->lock);
        while (!c->disc_done && wait_until(c, deadline))
            ;
        pthread_mutex_unlock(&c->lock);
    }
    MQTTAsync_destroy(&c->h);
    /* Paho may still be inside one of our callbacks that it entered
     * before the destroy; wait it out before freeing what it uses. */
    pthread_mutex_lock(&c->lock);
    while (c->paho_cbs > 0)
        pthread_cond_wait(&c->cond, &c->lock);
    if (c->held_len > 0)
        logf_("%s: dropping %u unsent publishes", c->client_id, c->held_len);
    pthread_mutex_unlock(&c->lock);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
    free_client(c);
}
