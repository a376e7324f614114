/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld: vmctld's core.  It owns the registry, the package and snapshot
 * store, the MQTT connection to the fleet, the command queue and the
 * running rollouts.  The HTTP API (api.c) is its only other user: every
 * function here is thread-safe (one core lock) and returns plain records
 * the caller owns.  The core never calls back into the API except through
 * the event sink.
 *
 * Errors: 0 or a negative CTLD_E* code; calls that take `err` fill it
 * with a message for a human that names the field or the reason
 * ("package: signed by an untrusted key").
 *
 * Times are wall-clock milliseconds since the Unix epoch (they survive a
 * restart of vmctld).
 */
#ifndef VMCTLD_CTLD_H
#define VMCTLD_CTLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"

#define CTLD_ERRORS(X)                                                    \
    X(CTLD_EINVAL, -1, "invalid argument")                               \
    X(CTLD_ENOMEM, -2, "out of memory")                                  \
    X(CTLD_ENOTFOUND, -3, "not found")                                   \
    X(CTLD_EEXIST, -4, "already exists")                                 \
    X(CTLD_EINUSE, -5, "still in use")                                   \
    X(CTLD_ESTATE, -6, "not allowed in the current state")               \
    X(CTLD_EPACKAGE, -7, "package rejected")                             \
    X(CTLD_EIO, -8, "i/o error")                                         \
    X(CTLD_EDB, -9, "database error")                                    \
    X(CTLD_ETOOBIG, -10, "too large")                                    \
    X(CTLD_ETIMEDOUT, -11, "the device did not answer in time")

enum {
#define CTLD_ERR_ENUM(name, val, text) name = (val),
    CTLD_ERRORS(CTLD_ERR_ENUM)
#undef CTLD_ERR_ENUM
};

#define CTLD_ID_MAX 64       /* command and rollout ids, incl. NUL */
#define CTLD_SHA_HEX 65      /* 64 lowercase hex digits and NUL */

typedef struct ctld ctld_t;

/** @return fixed text for a CTLD_E* code. */
const char *ctld_strerror(int err);

/* ---- life ------------------------------------------------------------ */

/**
 * Open the registry and the store, load unfinished rollouts and commands.
 * Nothing is sent before ctld_start().
 * @param cfg borrowed for the call (copied).
 * @return 0 and *out, or a CTLD_E* code with err filled.
 */
int ctld_create(const vmctld_config_t *cfg, ctld_t **out, char *err,
                size_t errlen);

/** Connect to the broker (in the background, retrying forever) and start
 *  the ticker that expires commands and drives rollouts. */
int ctld_start(ctld_t *c, char *err, size_t errlen);

/** Stop everything and free.  NULL is a no-op.  Rollouts and commands in
 *  flight stay in the registry and continue after the next start. */
void ctld_destroy(ctld_t *c);

typedef struct ctld_info {
    char version[32];
    bool mqtt_connected;
    size_t devices;
    size_t devices_online;
    size_t rollouts_active;    /* pending, running or paused */
    size_t commands_pending;   /* queued, sent or accepted */
    int64_t started_ms;
} ctld_info_t;

int ctld_info(ctld_t *c, ctld_info_t *out);

/* ---- events ------------------------------------------------------------ */

typedef enum ctld_event_type {
    CTLD_EV_DEVICE = 0, /* what: "online", "offline", "state" */
    CTLD_EV_COMMAND,    /* what: the command's state name */
    CTLD_EV_ROLLOUT,    /* what: the rollout's state name; also on every
                           device result (counts changed) */
    CTLD_EV_VM,         /* a device Event; what: vmf_event_name() */
} ctld_event_type_t;

typedef struct ctld_event {
    ctld_event_type_t type;
    const char *device;  /* DEVICE, COMMAND, VM; else "" */
    const char *id;      /* COMMAND: command id; ROLLOUT: rollout id */
    const char *vm;      /* "" if none */
    const char *what;
    int32_t code;        /* COMMAND: final code; else 0 */
    const char *detail;  /* message, reason; "" if none */
    uint32_t percent;    /* VM progress events */
    int64_t time_ms;
} ctld_event_t;

/**
 * The one event sink (the API's SSE hub).  It is called with the core
 * lock held, from any core thread: it must copy what it needs and return
 * at once, and never call into ctld.  Strings are borrowed for the call.
 * fn NULL removes it.
 */
void ctld_set_event_sink(ctld_t *c,
                         void (*fn)(void *arg, const ctld_event_t *ev),
                         void *arg);

/* ---- devices ----------------------------------------------------------- */

/**
 * Devices ordered by id, filtered by every "key=value" in `labels`
 * (AND); `online` < 0 any, 0 offline only, 1 online only.
 * @param out caller owns; vmctld_reg_devices_free().
 */
int ctld_devices_list(ctld_t *c, const char *const *labels, size_t nlabels,
                      int online, vmctld_reg_device_t **out, size_t *n);
/** @param out caller owns; vmctld_reg_device_clear(). @return ENOTFOUND */
int ctld_device_get(ctld_t *c, const char *id, vmctld_reg_device_t *out);

/**
 * One page of devices (the API's list with q, sort, limit and offset),
 * read on the API's registry connection; last_seen_ms as fresh as the
 * core knows it (a last_seen sort uses the stored one, which may lag by
 * up to 5 s).  Any thread.
 * @param q borrowed for the call; labels are "key=value".
 * @param out caller owns; vmctld_reg_devices_free().
 * @param total all the matches, ignoring limit and offset (may be NULL).
 * @return 0, EINVAL (a bad label, q or sort), EDB.
 */
int ctld_devices_query(ctld_t *c, const vmctld_reg_device_query_t *q,
                       vmctld_reg_device_t **out, size_t *n, size_t *total);

#define CTLD_FLEET_FAILING_MAX 100 /* failing VMs listed in a summary */

typedef struct ctld_fleet {
    vmctld_reg_fleet_t reg;        /* counts, versions, failing VMs */
    size_t rollouts_active;        /* pending, running or paused */
} ctld_fleet_t;

/**
 * The fleet at a glance (GET /api/v1/fleet), from SQL aggregates on the
 * API's registry connection.  Any thread.
 * @param out filled on success; release with ctld_fleet_clear().
 * @return 0 or EDB.
 */
int ctld_fleet_summary(ctld_t *c, ctld_fleet_t *out);
/** Free what a summary owns; NULL-safe. */
void ctld_fleet_clear(ctld_fleet_t *f);

/* ---- VM logs ----------------------------------------------------------- */

#define CTLD_LOGS_TIMEOUT_MS 10000 /* a device's answer to LOGS, at most */

typedef struct ctld_logs {
    char command[CTLD_ID_MAX];     /* the LOGS command (in the registry) */
    char *text;                    /* owned: the tail as valid UTF-8 (bytes
                                      that are not are U+FFFD), NUL-ended */
    size_t len;                    /* strlen(text) */
    bool truncated;                /* older bytes were left out */
} ctld_logs_t;

/**
 * Ask an online device for the tail of a VM's log (a LOGS command, docs/
 * protocol.md) and wait for its answer, without the core lock.  The text
 * is handed over here only; the command's row keeps its usual fields.
 * Any thread but the core's own (it blocks up to timeout_ms).
 * @param bytes 1..VMF_RESULT_DATA_MAX; 0: VMF_LOG_BYTES_DEFAULT.
 * @param timeout_ms 0: CTLD_LOGS_TIMEOUT_MS.
 * @param out filled on success; release with ctld_logs_clear().
 * @return 0; EINVAL (err names the field); ENOTFOUND (no such device, or
 *         the device has no such VM); ESTATE (the device is offline,
 *         too old for LOGS, or answered with another error: err says
 *         which); ETIMEDOUT (no answer in time).
 */
int ctld_vm_logs(ctld_t *c, const char *device, const char *vm,
                 uint32_t bytes, uint32_t timeout_ms, ctld_logs_t *out,
                 char *err, size_t errlen);
/** Free what `l` owns; NULL-safe. */
void ctld_logs_clear(ctld_logs_t *l);

/* ---- commands ---------------------------------------------------------- */

typedef enum ctld_cmd_state {
    CTLD_CMD_QUEUED = 0, /* device offline: waits until expires_ms */
    CTLD_CMD_SENT,       /* published, no answer yet */
    CTLD_CMD_ACCEPTED,   /* the device answered "accepted" (long ones) */
    CTLD_CMD_SUCCEEDED,  /* final: code OK */
    CTLD_CMD_FAILED,     /* final: the device's code */
    CTLD_CMD_EXPIRED,    /* final: never delivered before expires_ms */
    CTLD_CMD_TIMED_OUT,  /* final: no final result before deadline_ms */
    CTLD_CMD_CANCELLED,  /* final: cancelled by the operator */
} ctld_cmd_state_t;

/** "queued", "sent", "accepted", "succeeded", "failed", "expired",
 *  "timed_out", "cancelled". */
const char *ctld_cmd_state_name(ctld_cmd_state_t s);
/** @return true for the final states. */
bool ctld_cmd_state_final(ctld_cmd_state_t s);

typedef struct ctld_command {
    char id[CTLD_ID_MAX];
    char device[VMCTLD_REG_ID_MAX];
    int kind;                      /* vmf_cmd_kind_t */
    char vm[VMCTLD_REG_NAME_MAX];
    ctld_cmd_state_t state;
    int32_t code;                  /* vmf_code_t once final, else 0 */
    char message[VMCTLD_REG_MSG_MAX];
    char version[VMCTLD_REG_VERSION_MAX]; /* the VM's version after */
    char package[CTLD_SHA_HEX];    /* CREATE/UPDATE: the package */
    char snapshot[CTLD_SHA_HEX];   /* SNAPSHOT: the stored snapshot once
                                      succeeded; RESTORE: the one sent */
    char rollout[CTLD_ID_MAX];     /* the rollout that sent it, or "" */
    uint32_t percent;              /* transfer progress, 0..100 */
    int64_t created_ms;
    int64_t updated_ms;
    int64_t expires_ms;            /* queued until then at most */
    int64_t deadline_ms;           /* once sent: final result by then */
} ctld_command_t;

typedef struct ctld_cmd_req {
    const char *device;
    int kind;            /* VMF_CMD_START .. VMF_CMD_INVENTORY, except
                            UPDATE (that is a rollout) and CANCEL (use
                            ctld_command_cancel) */
    const char *vm;      /* all but INVENTORY */
    const char *package; /* CREATE: sha256 of a stored package */
    const char *snapshot; /* RESTORE: sha256 of a stored snapshot */
    uint32_t expiry_s;   /* 0: the configured default */
    uint32_t timeout_s;  /* 0: the configured default */
} ctld_cmd_req_t;

/**
 * Queue a command; it is sent at once if the device is online.  The
 * device must be known (ENOTFOUND otherwise); a CREATE's package must be
 * for `vm`.
 * @param out the new command (may be NULL).
 */
int ctld_command_submit(ctld_t *c, const ctld_cmd_req_t *req,
                        ctld_command_t *out, char *err, size_t errlen);
/** @return 0 or ENOTFOUND. */
int ctld_command_get(ctld_t *c, const char *id, ctld_command_t *out);
/**
 * Wait until the command is final or timeout_ms passed, then get it.
 * Does not hold the core lock while waiting.
 */
int ctld_command_wait(ctld_t *c, const char *id, uint32_t timeout_ms,
                      ctld_command_t *out);
/** Newest first, at most `limit` (0: 100); device NULL for all.
 *  @param out caller frees with free(). */
int ctld_command_list(ctld_t *c, const char *device, size_t limit,
                      ctld_command_t **out, size_t *n);
/** Cancel a command that is not final (a CANCEL goes to the device if it
 *  was sent).  @return 0, ENOTFOUND, ESTATE (already final). */
int ctld_command_cancel(ctld_t *c, const char *id, ctld_command_t *out);

/* ---- packages and snapshots ------------------------------------------ */

/**
 * Verify a .vpk (parse, trusted key, signature, module hash) and store
 * it by SHA-256.  Storing the same bytes again is not an error.
 * @param buf borrowed.
 * @param out the stored package's record.
 * @param created set true if it was new.
 * @return 0, CTLD_EPACKAGE (err says why: the vpk error text), ETOOBIG,
 *         EIO, EDB.
 */
int ctld_package_add(ctld_t *c, const uint8_t *buf, size_t len,
                     vmctld_reg_package_t *out, bool *created, char *err,
                     size_t errlen);
/** @param vm NULL for all. @param out caller frees with free(). */
int ctld_package_list(ctld_t *c, const char *vm, vmctld_reg_package_t **out,
                      size_t *n);
int ctld_package_get(ctld_t *c, const char *sha256,
                     vmctld_reg_package_t *out);
/** @return 0, ENOTFOUND, EINUSE (an unfinished rollout or command uses
 *  it). */
int ctld_package_delete(ctld_t *c, const char *sha256);

/** @param device NULL for all. @param out caller frees with free(). */
int ctld_snapshot_list(ctld_t *c, const char *device,
                       vmctld_reg_snapshot_t **out, size_t *n);
/** out->path is the file to serve for a download. */
int ctld_snapshot_get(ctld_t *c, const char *sha256,
                      vmctld_reg_snapshot_t *out);
int ctld_snapshot_delete(ctld_t *c, const char *sha256);

/* ---- rollouts ---------------------------------------------------------- */

typedef struct ctld_rollout_req {
    const char *vm;
    const char *package;           /* sha256 of a stored package for vm */
    /* Target: exactly one of devices, labels, all. */
    const char *const *devices;
    size_t ndevices;
    const char *const *labels;     /* "key=value", all must match */
    size_t nlabels;
    bool all;
    uint32_t canary;               /* VMCTLD_ROLLOUT_CANARY_DEFAULT */
    uint32_t batch;                /* 0: the default (10%) */
    bool batch_pct;
    uint32_t max_failures;
    bool max_failures_pct;
    uint32_t health_window_ms;     /* 0: the configured default */
    uint32_t device_timeout_s;     /* 0: the configured default */
} ctld_rollout_req_t;

typedef struct ctld_rollout_dev {
    char device[VMCTLD_REG_ID_MAX];
    uint32_t batch;
    char state[VMCTLD_REG_STATE_MAX]; /* vmctld_rollout_dev_state_name() */
    int32_t code;                  /* the device's vmf_code_t */
    char message[VMCTLD_REG_MSG_MAX];
    char command[CTLD_ID_MAX];     /* the UPDATE command, "" if none */
    int64_t updated_ms;
} ctld_rollout_dev_t;

typedef struct ctld_rollout {
    char id[CTLD_ID_MAX];          /* "r1", "r2", ... */
    char vm[VMCTLD_REG_NAME_MAX];
    char package[CTLD_SHA_HEX];
    char version[VMCTLD_REG_VERSION_MAX];
    char target[VMCTLD_REG_MSG_MAX]; /* "all", "label site=berlin",
                                      "devices d1,d2" (for display) */
    char state[VMCTLD_REG_STATE_MAX]; /* vmctld_rollout_state_name() */
    char pause_reason[32];          /* "", "operator", "failure threshold" */
    uint32_t canary, batch, max_failures;
    bool batch_pct, max_failures_pct;
    uint32_t health_window_ms, device_timeout_s;
    size_t total, waiting, in_flight, succeeded, failed;
    int64_t created_ms;
    int64_t updated_ms;
    ctld_rollout_dev_t *devices;   /* owned; only from ctld_rollout_get */
    size_t ndevices;
} ctld_rollout_t;

/**
 * Create and start a rollout.  The target is resolved now, against the
 * known devices (online or not), ordered by id.
 * @return 0; EINVAL (err names the field; also a target matching no
 *         device); ENOTFOUND (package); EINUSE (another unfinished
 *         rollout of the same VM overlaps these devices).
 */
int ctld_rollout_create(ctld_t *c, const ctld_rollout_req_t *req,
                        ctld_rollout_t *out, char *err, size_t errlen);
/** Newest first; out[i].devices is NULL. Caller frees the array. */
int ctld_rollout_list(ctld_t *c, ctld_rollout_t **out, size_t *n);
/** With the per-device rows; free with ctld_rollout_clear(). */
int ctld_rollout_get(ctld_t *c, const char *id, ctld_rollout_t *out);
/** @return 0, ENOTFOUND, ESTATE. out (may be NULL) without devices. */
int ctld_rollout_pause(ctld_t *c, const char *id, ctld_rollout_t *out);
int ctld_rollout_resume(ctld_t *c, const char *id, ctld_rollout_t *out);
int ctld_rollout_abort(ctld_t *c, const char *id, ctld_rollout_t *out);
void ctld_rollout_clear(ctld_rollout_t *r);

#endif /* VMCTLD_CTLD_H */
