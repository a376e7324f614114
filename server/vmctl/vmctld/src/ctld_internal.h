/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld internals, shared by ctld.c (life, MQTT, ticker, events, maps),
 * ctld_cmd.c (commands, transfers, uploads), ctld_dev.c (devices),
 * ctld_pkg.c (packages, snapshots) and ctld_ro.c (rollouts).
 *
 * Locking: everything below is guarded by ctld_t.lock, taken by every
 * public ctld_* function, by the MQTT callbacks (the client's thread) and
 * by the ticker.  Functions named ctld__* expect it held.  The MQTT
 * client's own lock is a leaf (vmf_mqtt_publish() never waits), so
 * publishing with our lock held is safe; vmf_mqtt_destroy() is called
 * without it, because it waits for a callback that may be waiting for it.
 * The API's list reads go to a second registry connection under its own
 * lock (ctld__rd_lock()), never held together with the core lock.  The
 * ticker's writes of one tick are one transaction (a registry batch).
 *
 * What lives where: the registry holds everything that must survive a
 * restart.  In memory are every known device (for O(1) lookups per
 * message), every unfinished command (they change often and need their
 * transfer state), every unfinished rollout's state machine, and a
 * bounded cache of package and snapshot bytes being served.
 */
#ifndef VMCTLD_CTLD_INTERNAL_H
#define VMCTLD_CTLD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "ctld.h"
#include "log.h"
#include "registry.h"
#include "rollout.h"
#include "store.h"
#include "vmf/fleet.h"
#include "vmf/mqtt.h"
#include "vmf/vpk.h"

#define CTLD_TICK_MS 200               /* the ticker's period */
#define CTLD_TOUCH_MS 5000             /* last_seen written at most this
                                          often per device */
#define CTLD_UPREQ_IDLE_MS 2000        /* upload idle: ask for the rest */
#define CTLD_UPREQ_MAX 16              /* chunk requests per ask */
#define CTLD_CACHE_MAX (256u << 20)    /* bytes of blobs kept in memory */
#define CTLD_HANDOUT_MAX 256           /* rollout devices sent per tick */
#define CTLD_PACKAGE_MAX                                                  \
    ((size_t)VPK_MODULE_MAX + VPK_MANIFEST_MAX + VPK_SIG_MAX + 4096)

/* ---- a string-keyed hash map (keys borrowed from the values) -------- */

typedef struct ctld__ment {
    const char *key;
    void *val;
    struct ctld__ment *next;
} ctld__ment_t;

typedef struct ctld__map {
    ctld__ment_t **b;
    size_t nb;                 /* a power of two, or 0 before the first put */
    size_t n;
} ctld__map_t;

/** @return 0 or CTLD_ENOMEM; replaces the value of an existing key. */
int ctld__map_put(ctld__map_t *m, const char *key, void *val);
void *ctld__map_get(const ctld__map_t *m, const char *key);
/** @return the removed value, or NULL. */
void *ctld__map_del(ctld__map_t *m, const char *key);
/** Free the map (not the values). */
void ctld__map_free(ctld__map_t *m);
/** Call fn on every value; fn must not change the map. */
void ctld__map_each(const ctld__map_t *m, void (*fn)(void *arg, void *val),
                    void *arg);

/* ---- the objects ------------------------------------------------------- */

struct ctld__cmd;

typedef struct ctld__dev {
    char id[VMF_ID_MAX];
    bool online;               /* as last heard; false until heard */
    bool heard;                /* a state arrived since ctld_create() */
    char boot_id[24];
    int64_t last_seen_ms;
    int64_t saved_seen_ms;     /* the last_seen_ms in the registry */
    struct ctld__cmd *cmd_head; /* its unfinished commands, oldest first */
    struct ctld__cmd *cmd_tail;
} ctld__dev_t;

/* A snapshot being uploaded by a device (SNAPSHOT, after its OK). */
typedef struct ctld__upload {
    vmctld_store_tmp_t *tmp;
    char xfer_id[VMF_ID_MAX];
    uint64_t size;
    uint32_t chunk_size;
    uint32_t nchunks;
    uint32_t have;
    uint8_t *bits;             /* one bit per chunk received */
    uint8_t sha[32];
    int64_t last_rx_ms;
    int64_t last_req_ms;
} ctld__upload_t;

typedef struct ctld__cmd {
    ctld_command_t r;          /* what ctld_command_get() returns */
    uint32_t timeout_s;
    uint8_t *body;             /* the encoded Command, sent as is */
    size_t body_len;
    bool has_xfer;             /* a download: CREATE, UPDATE, RESTORE */
    vmf_xfer_t xfer;
    vmctld_store_kind_t xfer_kind;
    ctld__upload_t *up;        /* SNAPSHOT: the upload, once announced */
    int64_t retry_ms;          /* a failed send is tried again then */
    ctld__dev_t *dev;
    struct ctld__cmd *dnext, *dprev; /* the device's list */
    struct ctld__cmd *anext, *aprev; /* all unfinished commands */
} ctld__cmd_t;

typedef struct ctld__ro {
    char id[CTLD_ID_MAX];
    char vm[VMCTLD_REG_NAME_MAX];
    char package[CTLD_SHA_HEX];
    char version[VMCTLD_REG_VERSION_MAX];
    char target[VMCTLD_REG_MSG_MAX];
    char params[256];          /* JSON, for the registry's params column */
    uint32_t health_window_ms;
    uint32_t device_timeout_s;
    int64_t created_ms;
    int64_t updated_ms;
    vmctld_rollout_t *sm;
    ctld__map_t idx;           /* device id -> index + 1 in sm */
    uint8_t *known;            /* per device: the state in the registry */
    uint32_t batch_sent;       /* highest batch handed out, + 1 */
    bool dirty;                /* sm changed since the last save */
    struct ctld__ro *next;
} ctld__ro_t;

/* Someone waiting in ctld_vm_logs() for a LOGS answer (ctld_logs.c). */
typedef struct ctld__logw {
    char cmd[CTLD_ID_MAX];     /* the LOGS command */
    bool done;                 /* its final result came */
    bool nomem;                /* ... but its text could not be kept */
    int32_t code;
    char message[VMF_TEXT_MAX];
    uint8_t *data;             /* the result's data, copied; owned */
    size_t len;
    struct ctld__logw *next;
} ctld__logw_t;

/* A package or snapshot held in memory to serve chunks. */
typedef struct ctld__blob {
    char xfer_id[VMF_ID_MAX];
    uint8_t *data;
    size_t len;
    struct ctld__blob *prev, *next; /* most recently used first */
} ctld__blob_t;

struct ctld {
    vmctld_config_t cfg;       /* a copy; its owned lists are not kept */
    pthread_mutex_t lock;
    pthread_cond_t cmd_cond;   /* a command changed (CLOCK_MONOTONIC) */
    pthread_cond_t tick_cond;  /* wakes the ticker (CLOCK_MONOTONIC) */
    pthread_t ticker;
    bool ticker_on;
    bool stopping;

    vmctld_reg_t *reg;         /* the core's connection: all writes */
    vmctld_reg_t *rd;          /* a second one for the API's lists */
    pthread_mutex_t rdlock;    /* guards rd; never held with lock */
    vmctld_store_t *store;
    vmf_mqtt_t *mqtt;
    char **keys;               /* trusted PEM public keys */
    size_t nkeys;

    void (*sink)(void *arg, const ctld_event_t *ev);
    void *sink_arg;

    ctld__map_t devs;          /* id -> ctld__dev_t */
    size_t online;
    ctld__map_t cmds;          /* id -> ctld__cmd_t, unfinished only */
    ctld__cmd_t *cmd_head, *cmd_tail;
    ctld__ro_t *ros;           /* rollouts with a state machine loaded */
    uint32_t ro_seq;           /* the last rollout number given */

    ctld__map_t blobs;         /* xfer id -> ctld__blob_t */
    ctld__blob_t *blob_head, *blob_tail;
    size_t blob_bytes;

    int64_t started_ms;
    int64_t last_touch_ms;

    ctld__logw_t *logws;       /* waiters of ctld_vm_logs() */
};

typedef struct ctld ctld_t;

/* ---- ctld.c ------------------------------------------------------------ */

/** Copy a string into a fixed array, cutting it to fit (always ends in a
 *  NUL).  Ids and names were checked against their fields before. */
static inline void
ctld__copy(char *dst, size_t cap, const char *src)
{
    size_t n = 0;

    if (cap == 0)
        return;
    while (src != NULL && n + 1 < cap && src[n] != '\0')
        n++;
    if (n > 0)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/** Wall-clock milliseconds since the Unix epoch. */
int64_t ctld__now_ms(void);
/** The CLOCK_MONOTONIC time `ms` from now (for the condition waits). */
struct timespec ctld__mono_after(uint32_t ms);
/** snprintf into err when it is not NULL; @return rc. */
int ctld__err(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/** A registry error of `reg` as a CTLD_E* code, with its message. */
int ctld__reg_err(vmctld_reg_t *reg, int rc, char *err, size_t errlen,
                  const char *what);
/**
 * The registry for a read that needs no core state: the second
 * connection under its own lock (WAL readers do not wait for the core's
 * writes, nor the core for them), or, for an in-memory database, the
 * core's connection under the core lock.  Release with ctld__rd_unlock();
 * take no other lock in between.
 */
vmctld_reg_t *ctld__rd_lock(ctld_t *c);
void ctld__rd_unlock(ctld_t *c);
/** "c" or "r"... + 16 random hex digits. */
void ctld__rand_id(char *buf, size_t len, char prefix);
/** Lowercase hex of n bytes into out (2n + 1 bytes). */
void ctld__hex(const uint8_t *b, size_t n, char *out);
/** True for 64 lowercase hex digits. */
bool ctld__sha_ok(const char *s);
/** Send an event to the sink, if any. */
void ctld__emit(ctld_t *c, ctld_event_type_t type, const char *device,
                const char *id, const char *vm, const char *what,
                int32_t code, const char *detail, uint32_t percent);
/** Publish on vmfleet/v1/<device>/<leaf>, QoS 1.  @return 0 or < 0. */
int ctld__publish(ctld_t *c, const char *device, const char *leaf,
                  const uint8_t *buf, size_t len, const char *corr);
/** A code for humans: "E_ROLLED_BACK", or the number if unknown. */
const char *ctld__code_name(int32_t code, char *buf, size_t len);

/* ---- ctld_dev.c -------------------------------------------------------- */

int ctld__devs_load(ctld_t *c, char *err, size_t errlen);
void ctld__devs_free(ctld_t *c);
ctld__dev_t *ctld__dev_find(ctld_t *c, const char *id);
/** A message from the device: it is alive. */
void ctld__dev_touch(ctld_t *c, ctld__dev_t *d, int64_t now);
/** A State (or Last Will) on vmfleet/v1/<id>/state. */
void ctld__dev_on_state(ctld_t *c, const char *id, const vmf_state_t *st,
                        int64_t now);
/** Devices of `reg` matching every "key=value" label (AND), ordered by
 *  id; online < 0 any, 0 offline, 1 online.  Reads no core state.
 *  @return 0 or CTLD_E*. */
int ctld__devs_select(vmctld_reg_t *reg, const char *const *labels,
                      size_t nlabels, int online, vmctld_reg_device_t **out,
                      size_t *n);
/** Write last_seen of the devices that moved on; every CTLD_TOUCH_MS. */
void ctld__devs_flush_seen(ctld_t *c, int64_t now, bool all);

/* ---- ctld_cmd.c -------------------------------------------------------- */

/* What a new command is; see ctld_cmd_req_t. */
typedef struct ctld__cmd_new {
    ctld__dev_t *dev;
    vmf_cmd_kind_t kind;
    const char *vm;
    const vmctld_reg_package_t *pkg;   /* CREATE, UPDATE */
    const vmctld_reg_snapshot_t *snap; /* RESTORE */
    uint32_t health_window_ms;         /* UPDATE */
    uint32_t expiry_s;
    uint32_t timeout_s;
    const char *rollout;               /* "" or NULL: none */
    uint32_t log_bytes;                /* LOGS: 0 = the device's default */
} ctld__cmd_new_t;

int ctld__cmds_load(ctld_t *c, char *err, size_t errlen);
void ctld__cmds_free(ctld_t *c);
/** Create, store and (if the device is online) send a command. */
int ctld__cmd_create(ctld_t *c, const ctld__cmd_new_t *n, int64_t now,
                     ctld__cmd_t **out, char *err, size_t errlen);
ctld__cmd_t *ctld__cmd_find(ctld_t *c, const char *id);
/** A command record from its registry row. */
void ctld__cmd_rec_from_reg(ctld_command_t *r,
                            const vmctld_reg_command_t *g);
/** Send (or re-send) every unfinished command of a device that came
 *  online. */
void ctld__cmds_flush(ctld_t *c, ctld__dev_t *d, int64_t now);
/** End a command in a final state (persisted, events, rollout). */
void ctld__cmd_finish(ctld_t *c, ctld__cmd_t *k, ctld_cmd_state_t st,
                      int32_t code, const char *msg, int64_t now);
/** Best-effort CANCEL of command `id` on a device (not stored). */
void ctld__cmd_send_cancel(ctld_t *c, const char *device, const char *id);
void ctld__cmd_on_result(ctld_t *c, const char *dev, const vmf_result_t *r,
                         int64_t now);
void ctld__cmd_on_event(ctld_t *c, const char *dev, const vmf_event_t *e,
                        int64_t now);
void ctld__cmd_on_chunk_req(ctld_t *c, const char *dev,
                            const vmf_chunk_req_t *q, int64_t now);
void ctld__cmd_on_upload(ctld_t *c, const char *dev, const vmf_chunk_t *ch,
                         int64_t now);
/** Expiry, timeouts, upload re-requests, retries of failed sends. */
void ctld__cmds_tick(ctld_t *c, int64_t now);
/** Drop a cached blob (deleted from the store). */
void ctld__blob_drop(ctld_t *c, vmctld_store_kind_t kind, const char *sha);
void ctld__blobs_free(ctld_t *c);
/** The transfer id of a blob: "p"/"s" + 40 hex digits of its SHA-256. */
void ctld__xfer_id(vmctld_store_kind_t kind, const char *sha, char *buf,
                   size_t len);

/* ---- ctld_logs.c ------------------------------------------------------- */

/** The final result of LOGS command k: hand its text to the waiter, if
 *  one still waits (before k is finished). */
void ctld__logs_on_result(ctld_t *c, const ctld__cmd_t *k,
                          const vmf_result_t *r);

/* ---- ctld_ro.c --------------------------------------------------------- */

int ctld__ros_load(ctld_t *c, char *err, size_t errlen);
void ctld__ros_free(ctld_t *c);
/** A command of rollout `k->r.rollout` ended in its final state. */
void ctld__ro_on_cmd_final(ctld_t *c, const ctld__cmd_t *k, int64_t now);
/** Timeouts, hand-outs, saves. */
void ctld__ros_tick(ctld_t *c, int64_t now);
/** Save every rollout that changed (at shutdown). */
void ctld__ros_save_all(ctld_t *c, int64_t now);
size_t ctld__ros_active(const ctld_t *c);

#endif /* VMCTLD_CTLD_INTERNAL_H */
