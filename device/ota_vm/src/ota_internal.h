/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef OTA_INTERNAL_H
#define OTA_INTERNAL_H

/*
 * The OTA VM's shared state.  Threads:
 *   main     signals, the supervisor watch, debounced /state publishing
 *   mqtt     the client library's callback thread: decodes and enqueues
 *   worker   runs commands from the queue, one at a time (ota_cmd.c)
 *   events   reads vmrt's event stream (ota_vmrt.c)
 * `lock` guards the queue and every flag below it.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipc/ctl.h"
#include "ota_dedup.h"
#include "pl/pl.h"
#include "vmf/fleet.h"
#include "vmf/mqtt.h"

#ifndef VMF_VERSION
#define VMF_VERSION "0.1.0"
#endif

#define OTA_KEYS_MAX 8
#define OTA_CORR_MAX 256
#define OTA_QUEUE_MAX 4096  /* items; beyond, chunks are dropped */
#define OTA_SNAP_CHUNK (64u * 1024)
#define OTA_UPLOADS_KEEP 4

typedef struct {
    const char *device;
    const char *broker;
    const char *socket;
    const char *state_dir;
    const char *ca, *cert, *key;
    const char *key_files[OTA_KEYS_MAX];
    char *keys[OTA_KEYS_MAX];   /* PEM text, owned */
    size_t nkeys;
    vmf_label_t labels[VMF_LABELS_MAX];
    uint32_t nlabels;
    bool allow_create;
    bool supervised;
    uint32_t health_ms;
    uint32_t window;
    uint32_t chunk_timeout_ms;
    uint32_t keepalive_s;       /* 0 = the MQTT wrapper's default */
    uint64_t max_package;
} ota_cfg_t;

typedef enum { OTA_ITEM_CMD, OTA_ITEM_CHUNK, OTA_ITEM_UPREQ } ota_item_kind_t;

/* One message from the broker, decoded as far as the callback goes. */
typedef struct ota_item {
    struct ota_item *next;
    ota_item_kind_t kind;
    uint8_t *payload;          /* CMD: the encoded command (owned) */
    size_t len;
    uint8_t corr[OTA_CORR_MAX];
    size_t corr_len;
    char resp_topic[VMF_TOPIC_MAX]; /* "" = the result topic */
    vmf_chunk_t chunk;         /* CHUNK (owns its data) */
    vmf_chunk_req_t req;       /* UPREQ */
} ota_item_t;

typedef struct ota {
    ota_cfg_t cfg;
    pl_root_t root;
    bool root_open;
    pl_file_t lockf;
    vmf_mqtt_t *mqtt;
    uint64_t boot_id;
    char t_cmd[VMF_TOPIC_MAX], t_result[VMF_TOPIC_MAX];
    char t_event[VMF_TOPIC_MAX], t_state[VMF_TOPIC_MAX];
    char t_req[VMF_TOPIC_MAX], t_data[VMF_TOPIC_MAX];
    char t_up[VMF_TOPIC_MAX], t_upreq[VMF_TOPIC_MAX];

    /* vmrt link (ota_vmrt.c). */
    pl_mutex_t ctl_lock;       /* serializes requests on `ctl` */
    pl_socket_t ctl;
    bool ctl_open;
    uint64_t ctl_next_id;
    pl_thread_t ev_thread;
    pl_mutex_t ev_lock;        /* guards ev_sock for shutdown */
    pl_socket_t ev_sock;
    bool ev_open;

    pl_thread_t worker;
    ota_dedup_t *dedup;        /* worker only */

    pl_mutex_t lock;
    pl_cond_t cond;
    ota_item_t *head, *tail;
    size_t nitems;
    bool stop;
    bool rerequest;            /* reconnected: ask for in-flight chunks */
    bool resumed;              /* ... on a session the broker kept */
    bool state_dirty;          /* publish /state when the debounce allows */
    bool vmrt_up;              /* event stream connected */
    /* The active long command, for CANCEL and duplicate answers. */
    char active_id[VMF_ID_MAX];
    vmf_cmd_kind_t active_kind;
    bool cancel;
    /* The last swap outcome seen on the event stream. */
    char swap_vm[VMF_NAME_MAX];
    char swap_detail[96];
    bool swap_seen;
} ota_t;

/* ---- ota_vmrt.c: the link to vmrt ---------------------------------- */

/**
 * One request on the control connection, reconnecting if vmrt restarted
 * (the socket path stays).  Safe from any thread.  `resp` is initialized
 * here; free it with ipc_ctl_resp_free() even on error.
 * @return 0 (check resp->code) or a PL_E* transport error.
 */
int ota__ctl(ota_t *o, ipc_ctl_req_t *req, ipc_ctl_resp_t *resp,
             size_t max);
/** Start the event reader thread. */
int ota__events_start(ota_t *o);
/** Stop and join it. */
void ota__events_stop(ota_t *o);
/** Close the control connection. */
void ota__ctl_close(ota_t *o);
/**
 * The last `want` (1..VMF_RESULT_DATA_MAX) bytes of a VM's log ring,
 * read from vmrt in pieces.  Worker thread (any thread is safe).
 * @param out receives a new malloc()ed buffer the caller frees, or NULL
 *        when the log is empty (*len 0).
 * @param truncated set when older bytes were left out (by `want`, or
 *        already dropped from vmrt's ring).
 * @return VMF_OK, or E_NOT_FOUND, E_RUNTIME, ... with msg saying why
 *         (*out is then NULL).
 */
vmf_code_t ota__vm_logs(ota_t *o, const char *vm, size_t want,
                        uint8_t **out, size_t *len, bool *truncated,
                        char *msg, size_t msglen);

/* ---- ota_mqtt.c: publishing ------------------------------------------ */

/** MQTT callbacks (vmf_mqtt_create). */
void ota__on_msg(void *arg, const vmf_mqtt_msg_t *m);
void ota__on_conn(void *arg, bool connected, const char *why);
/** Publish the retained /state (online or not), built from ctl LIST. */
int ota__publish_state(ota_t *o, bool online);
/** Publish an event; fills time_ms. */
void ota__publish_event(ota_t *o, vmf_event_t *ev);
/** Publish encoded bytes with QoS 1 on a topic, with correlation data. */
int ota__publish_raw(ota_t *o, const char *topic, const uint8_t *buf,
                     size_t len, const uint8_t *corr, size_t corr_len,
                     bool retain);
/** Publish a chunk request for a pulled transfer. */
int ota__send_req(void *arg, const char *xfer_id, uint32_t first,
                  uint32_t count);
/** Mark /state for publishing (debounced by the main loop). */
void ota__state_dirty(ota_t *o);

/* ---- ota_cmd.c: the worker --------------------------------------------- */

int ota__worker_start(ota_t *o);
void ota__worker_stop(ota_t *o);
/** Queue an item (takes ownership); drops chunks when the queue is full. */
void ota__enqueue(ota_t *o, ota_item_t *it);
void ota__item_free(ota_item_t *it);

/** Map a ctl code to a fleet code (restore: CORRUPT is E_SNAPSHOT). */
vmf_code_t ota__code_of_ctl(int ctl_code, bool restore);

#endif /* OTA_INTERNAL_H */
