/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * mqtt: an MQTT v5 client for the OTA VM, vmctld and the test tools.
 * Paho MQTT C (MQTTAsync) stays behind common/src/mqtt_paho.c: nobody
 * else includes its headers.
 *
 * The client connects in the background and keeps reconnecting with
 * exponential backoff (min_retry_ms doubling up to max_retry_ms) for as
 * long as it exists.  Subscriptions are remembered and made again after
 * every reconnect.  Publishing while disconnected is buffered (up to
 * max_buffered messages, oldest kept) and sent after the reconnect.
 *
 * Callbacks run on the client's own thread, one at a time and in arrival
 * order; they may call vmf_mqtt_publish() and vmf_mqtt_subscribe() but
 * never vmf_mqtt_destroy().  Message fields are borrowed for the call
 * only.
 */
#ifndef VMF_MQTT_H
#define VMF_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMF_MQTT_EINVAL (-1)   /* bad argument or config */
#define VMF_MQTT_ENOMEM (-2)
#define VMF_MQTT_ENOTCONN (-3) /* not connected (or the broker is not
                                  keeping up) and the buffer is full */
#define VMF_MQTT_EFAIL (-4)    /* the client library refused */
#define VMF_MQTT_ETIMEDOUT (-5)

typedef struct vmf_mqtt vmf_mqtt_t;

typedef struct {
    const char *uri;          /* "tcp://127.0.0.1:1883" or "ssl://...";
                                 "mqtt://" and "mqtts://" also accepted */
    const char *client_id;    /* required; the device id for a device */
    const char *username;     /* optional */
    const char *password;     /* optional */
    /* TLS (ssl:// or mqtts://): CA to verify the broker, and an optional
     * client certificate and key (mutual TLS). */
    const char *ca_file;
    const char *cert_file;
    const char *key_file;
    uint32_t keepalive_s;     /* 0 = 30 */
    uint32_t min_retry_ms;    /* 0 = 250 */
    uint32_t max_retry_ms;    /* 0 = 10000 */
    bool clean_start;         /* false: keep the session (QoS 1 messages
                                 queued by the broker while away) */
    uint32_t session_expiry_s; /* with clean_start false; 0 = 3600 */
    uint32_t max_inflight;    /* QoS 1 publishes awaiting PUBACK; 0 = 64 */
    uint32_t max_buffered;    /* while disconnected; 0 = 1024 */
    /* true: after a connect, do not search /proc/self/fd for this
     * client's socket to turn Nagle off (TCP_NODELAY, see mqtt_paho.c).
     * The search is O(descriptors) per connect, so a process with
     * thousands of clients (bench/fleet/fleet-sim) sets this and calls
     * vmf_mqtt_nodelay() now and then instead.  Default false. */
    bool no_nodelay_scan;
    /* Last Will (optional): published by the broker if we vanish. */
    const char *will_topic;
    const void *will_payload;
    size_t will_len;
    bool will_retain;
} vmf_mqtt_config_t;

typedef struct {
    const char *topic;
    const uint8_t *payload;
    size_t len;
    int qos;                  /* 0 or 1 (2 is accepted, not used by us) */
    bool retain;
    bool dup;                 /* received: a redelivery (informational) */
    const uint8_t *corr;      /* MQTT v5 correlation data, or NULL */
    size_t corr_len;
    const char *response_topic; /* MQTT v5 response topic, or NULL */
} vmf_mqtt_msg_t;

typedef void (*vmf_mqtt_msg_fn)(void *arg, const vmf_mqtt_msg_t *m);
/** connected: true after every (re)connect, after the re-subscribes were
 *  sent; false when the connection is lost (why says how). */
typedef void (*vmf_mqtt_conn_fn)(void *arg, bool connected,
                                 const char *why);

/**
 * Make a client (does not connect yet).  cfg's strings are copied.
 * @return 0, VMF_MQTT_EINVAL (err names the config field), VMF_MQTT_ENOMEM,
 *         VMF_MQTT_EFAIL.
 */
int vmf_mqtt_create(const vmf_mqtt_config_t *cfg, vmf_mqtt_msg_fn on_msg,
                    vmf_mqtt_conn_fn on_conn, void *arg, vmf_mqtt_t **out,
                    char *err, size_t errlen);

/** Remember a subscription (QoS 0 or 1) and make it now if connected. */
int vmf_mqtt_subscribe(vmf_mqtt_t *c, const char *filter, int qos);

/** Start connecting (in the background; retries forever). */
int vmf_mqtt_start(vmf_mqtt_t *c);

/** @return true while connected. */
bool vmf_mqtt_connected(vmf_mqtt_t *c);

/** @return true when the current (or last) connection resumed a session
 *  the broker had kept (MQTT "session present", clean_start false): the
 *  broker still holds our subscriptions and delivers what was sent to us
 *  while we were away. */
bool vmf_mqtt_session_resumed(vmf_mqtt_t *c);

/** Wait until connected, up to timeout_ms.  @return 0 or
 *  VMF_MQTT_ETIMEDOUT. */
int vmf_mqtt_wait_connected(vmf_mqtt_t *c, uint32_t timeout_ms);

/**
 * Publish (m->dup is ignored).  Returns once the library took the
 * message; QoS 1 completes later (see vmf_mqtt_pending()).  Messages
 * beyond the broker's in-flight window are queued in order, and count
 * against max_buffered like those published while disconnected.
 * @return 0, VMF_MQTT_EINVAL, VMF_MQTT_ENOTCONN, VMF_MQTT_EFAIL.
 */
int vmf_mqtt_publish(vmf_mqtt_t *c, const vmf_mqtt_msg_t *m);

/** @return QoS 1 publishes not yet acknowledged (buffered included). */
uint32_t vmf_mqtt_pending(vmf_mqtt_t *c);

/** Wait until vmf_mqtt_pending() is 0, up to timeout_ms.  @return 0 or
 *  VMF_MQTT_ETIMEDOUT. */
int vmf_mqtt_flush(vmf_mqtt_t *c, uint32_t timeout_ms);

/** Disconnect cleanly (the broker does NOT publish the Will) and free. */
void vmf_mqtt_destroy(vmf_mqtt_t *c);

/**
 * Send the library's own log lines ("connect to ... failed; retrying in
 * 500 ms") to fn instead of stderr, for every client of the process.
 * fn may be called from any client thread, concurrently; NULL restores
 * stderr.  Call it before the first vmf_mqtt_create().
 */
void vmf_mqtt_set_log(void (*fn)(const char *line));

/**
 * Turn Nagle's algorithm off (TCP_NODELAY) on every TCP socket of this
 * process whose peer is the port of c's broker: what each client does
 * after its connect unless no_nodelay_scan is set.  One call covers all
 * the clients of a process that talk to the same broker port.
 * @return how many such sockets have TCP_NODELAY now; VMF_MQTT_EINVAL
 *         (no port in the uri) or VMF_MQTT_EFAIL (/proc/self/fd cannot
 *         be read).
 */
int vmf_mqtt_nodelay(vmf_mqtt_t *c);

/** @return static text for a VMF_MQTT_E* code. */
const char *vmf_mqtt_strerror(int err);

#endif /* VMF_MQTT_H */
