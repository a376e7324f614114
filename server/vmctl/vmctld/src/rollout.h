/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * rollout: the state machine of one rollout (an update of package P to
 * VM V over a list of devices), as pure logic.  It does no I/O and never
 * reads a clock: the caller passes the time into every call, sends the
 * update commands that vmctld_rollout_next() hands out, feeds each
 * device's final result back with vmctld_rollout_report(), calls
 * vmctld_rollout_tick() now and then for timeouts, and stores the blob
 * of vmctld_rollout_save() (in SQLite) after every change.
 *
 * Batches: a canary batch of `canary` devices goes first, then batches of
 * `batch` devices or `batch`% of all targets (rounded up, at least 1), in
 * the order of the target list.  A batch starts only when the previous
 * one has fully ended: every device succeeded, failed, went offline or
 * timed out.
 *
 * Threshold: when the failures (FAILED, OFFLINE and timeouts together)
 * exceed `max_failures` (a count, or a percentage of all targets), the
 * rollout pauses by itself with the reason "failure threshold".  Devices
 * already sent stay in flight and their results are still taken.  A
 * resume continues with the next batch; after it, each further failure
 * above the threshold pauses again.  An abort ends the rollout: devices
 * not started yet stay untouched.
 *
 * End: once every device has ended, the rollout is SUCCEEDED if all of
 * them succeeded and FAILED otherwise (tolerated failures included),
 * even if it was paused meanwhile; an aborted rollout stays ABORTED.
 *
 * Restart: vmctld_rollout_load() restores a saved rollout exactly.  A
 * device that was "sent" stays in flight with its old deadline: the
 * command is redelivered (or already was) and the device answers again,
 * so no command is re-sent here.  Times are therefore milliseconds of a
 * clock that survives a restart (wall clock), not a monotonic one.
 *
 * Not thread-safe: the caller serialises calls on one rollout.
 */
#ifndef VMCTLD_ROLLOUT_H
#define VMCTLD_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMCTLD_ROLLOUT_ID_MAX      128  /* device id, including the NUL */
#define VMCTLD_ROLLOUT_DEVICES_MAX 1000000u
#define VMCTLD_ROLLOUT_CANARY_DEFAULT 1u

/* Error codes: negative, with a fixed text from vmctld_rollout_strerror(). */
#define VMCTLD_ROLLOUT_ERRORS(X)                                          \
    X(VMCTLD_ROLLOUT_EINVAL, -1, "invalid argument")                     \
    X(VMCTLD_ROLLOUT_ENOMEM, -2, "out of memory")                        \
    X(VMCTLD_ROLLOUT_ENOENT, -3, "device is not a target of the rollout") \
    X(VMCTLD_ROLLOUT_EALREADY, -4, "device is not in flight")            \
    X(VMCTLD_ROLLOUT_ESTATE, -5, "not allowed in the rollout's state")   \
    X(VMCTLD_ROLLOUT_EFORMAT, -6, "malformed or truncated rollout blob")

enum {
#define VMCTLD_ROLLOUT_ERR_ENUM(name, val, text) name = (val),
    VMCTLD_ROLLOUT_ERRORS(VMCTLD_ROLLOUT_ERR_ENUM)
#undef VMCTLD_ROLLOUT_ERR_ENUM
};

typedef struct vmctld_rollout vmctld_rollout_t; /* defined in rollout.c */

/* The rollout's state.  ABORTED, SUCCEEDED and FAILED are final. */
typedef enum vmctld_rollout_state {
    VMCTLD_ROLLOUT_PENDING = 0, /* created, nothing sent yet */
    VMCTLD_ROLLOUT_RUNNING,
    VMCTLD_ROLLOUT_PAUSED,      /* see vmctld_rollout_pause_reason() */
    VMCTLD_ROLLOUT_ABORTED,
    VMCTLD_ROLLOUT_SUCCEEDED,   /* every device succeeded */
    VMCTLD_ROLLOUT_FAILED,      /* every device ended, some failed */
} vmctld_rollout_state_t;

typedef enum vmctld_rollout_pause {
    VMCTLD_ROLLOUT_PAUSE_NONE = 0,
    VMCTLD_ROLLOUT_PAUSE_OPERATOR,
    VMCTLD_ROLLOUT_PAUSE_THRESHOLD,
} vmctld_rollout_pause_t;

/* One device's state.  Everything after SENT is final. */
typedef enum vmctld_rollout_dev_state {
    VMCTLD_ROLLOUT_DEV_WAITING = 0, /* not sent (yet) */
    VMCTLD_ROLLOUT_DEV_SENT,        /* in flight */
    VMCTLD_ROLLOUT_DEV_SUCCEEDED,
    VMCTLD_ROLLOUT_DEV_FAILED,      /* with the device's code */
    VMCTLD_ROLLOUT_DEV_OFFLINE,     /* the command expired, device away */
    VMCTLD_ROLLOUT_DEV_TIMED_OUT,   /* no final result within timeout_ms */
} vmctld_rollout_dev_state_t;

/* A device's final result, as the caller learned it. */
typedef enum vmctld_rollout_outcome {
    /* The device reported the new version healthy after its health
     * window (the command's final result OK), not mere delivery. */
    VMCTLD_ROLLOUT_OUTCOME_SUCCESS = 0,
    VMCTLD_ROLLOUT_OUTCOME_FAILED,  /* final result not OK, with a code */
    VMCTLD_ROLLOUT_OUTCOME_OFFLINE, /* the command expired while offline */
} vmctld_rollout_outcome_t;

typedef struct vmctld_rollout_params {
    uint32_t canary;          /* devices in the canary batch; 0: none */
    uint32_t batch;           /* devices per batch, or a percentage */
    bool batch_pct;           /* `batch` is 1..100 % of all targets */
    uint32_t max_failures;    /* tolerated failures, or a percentage */
    bool max_failures_pct;    /* `max_failures` is 0..100 % of targets */
    uint64_t timeout_ms;      /* per device, from sending; 0: none */
} vmctld_rollout_params_t;

typedef struct vmctld_rollout_device {
    const char *id;           /* valid until the rollout is destroyed */
    vmctld_rollout_dev_state_t state;
    int32_t code;             /* FAILED: the device's code; else 0 */
    uint64_t sent_ms;         /* when handed out by _next(); 0: never */
    uint32_t batch;           /* 0-based batch number (0 is the canary) */
} vmctld_rollout_device_t;

typedef struct vmctld_rollout_counts {
    size_t total;
    size_t waiting;
    size_t in_flight;
    size_t succeeded;
    size_t failed;            /* FAILED + OFFLINE + TIMED_OUT */
} vmctld_rollout_counts_t;

/**
 * Fixed text for a VMCTLD_ROLLOUT_E* code.
 * @return a static string; never NULL.
 */
const char *vmctld_rollout_strerror(int err);

/** Names: "pending", "running", ... and "waiting", "sent", ... */
const char *vmctld_rollout_state_name(vmctld_rollout_state_t s);
const char *vmctld_rollout_dev_state_name(vmctld_rollout_dev_state_t s);

/**
 * The defaults: canary 1, batches of 10%, no failure tolerated,
 * 10 minutes per device.
 * @param p filled.
 */
void vmctld_rollout_params_default(vmctld_rollout_params_t *p);

/**
 * Check parameters: a batch of at least 1 (1..100 as a percentage),
 * max_failures at most 100 as a percentage.
 * @param p the parameters (borrowed).
 * @param err caller buffer for a reason naming the field (may be NULL).
 * @param errlen size of err.
 * @return 0 or VMCTLD_ROLLOUT_EINVAL.
 */
int vmctld_rollout_params_check(const vmctld_rollout_params_t *p, char *err,
                                size_t errlen);

/**
 * Create a PENDING rollout.
 * @param p parameters (copied; checked by vmctld_rollout_params_check()).
 * @param ids the target devices, in rollout order (copied): 1 to
 *        VMCTLD_ROLLOUT_DEVICES_MAX distinct non-empty ids shorter than
 *        VMCTLD_ROLLOUT_ID_MAX.
 * @param n their number.
 * @param now_ms the creation time.
 * @param err caller buffer for a human-readable reason (may be NULL).
 * @param errlen size of err.
 * @return a rollout the caller frees with vmctld_rollout_destroy(), or
 *         NULL (bad parameters or ids, or out of memory).
 */
vmctld_rollout_t *vmctld_rollout_create(const vmctld_rollout_params_t *p,
                                        const char *const *ids, size_t n,
                                        uint64_t now_ms, char *err,
                                        size_t errlen);

/** Free a rollout.  NULL is a no-op. */
void vmctld_rollout_destroy(vmctld_rollout_t *r);

/**
 * The devices to send the update to now.  A PENDING rollout starts
 * RUNNING here.  If the current batch has ended, the next one starts.
 * Every device returned is SENT from now_ms; its deadline is
 * now_ms + timeout_ms.  If `cap` is smaller than the batch, the rest of
 * the batch comes with the next calls.  Nothing is handed out unless
 * the rollout is RUNNING.
 * @param r the rollout.
 * @param now_ms the time.
 * @param out receives device ids, valid until the rollout is destroyed.
 * @param cap room in `out`.
 * @return the number of devices put in `out` (0: nothing to do now).
 */
size_t vmctld_rollout_next(vmctld_rollout_t *r, uint64_t now_ms,
                           const char **out, size_t cap);

/**
 * Take a device's final result.  Only a device in flight (SENT) takes
 * one, in any rollout state: a duplicate, late or unknown report changes
 * nothing.  May pause (threshold) or end the rollout.
 * @param r the rollout.
 * @param id the device (borrowed).
 * @param outcome its final result.
 * @param code for OUTCOME_FAILED, the device's code (kept); else ignored.
 * @param now_ms the time.
 * @return 0, VMCTLD_ROLLOUT_ENOENT (not a target), VMCTLD_ROLLOUT_EALREADY
 *         (not in flight: never sent, or already ended) or
 *         VMCTLD_ROLLOUT_EINVAL.
 */
int vmctld_rollout_report(vmctld_rollout_t *r, const char *id,
                          vmctld_rollout_outcome_t outcome, int32_t code,
                          uint64_t now_ms);

/**
 * Time out the devices in flight whose deadline (sent + timeout_ms) is
 * at or before now_ms; a timeout counts as a failure.
 * @return the number of devices timed out now.
 */
size_t vmctld_rollout_tick(vmctld_rollout_t *r, uint64_t now_ms);

/**
 * Operator pause (of a PENDING or RUNNING rollout): nothing new is sent;
 * devices in flight still report.
 * @return 0 or VMCTLD_ROLLOUT_ESTATE.
 */
int vmctld_rollout_pause(vmctld_rollout_t *r);

/**
 * Resume a PAUSED rollout, whatever paused it: it continues with the
 * next batch, and the failures so far are accepted.
 * @return 0 or VMCTLD_ROLLOUT_ESTATE.
 */
int vmctld_rollout_resume(vmctld_rollout_t *r);

/**
 * Abort a rollout that has not ended: nothing more is sent; devices not
 * started stay WAITING; devices in flight still report.
 * @return 0 or VMCTLD_ROLLOUT_ESTATE.
 */
int vmctld_rollout_abort(vmctld_rollout_t *r);

/** The rollout's state. */
vmctld_rollout_state_t vmctld_rollout_state(const vmctld_rollout_t *r);

/** Why a PAUSED rollout is paused; PAUSE_NONE otherwise. */
vmctld_rollout_pause_t vmctld_rollout_pause_reason(const vmctld_rollout_t *r);

/** The reason as text: "operator", "failure threshold", or "". */
const char *vmctld_rollout_pause_text(const vmctld_rollout_t *r);

/** The parameters the rollout was created with. */
const vmctld_rollout_params_t *
vmctld_rollout_params(const vmctld_rollout_t *r);

/** Counts of devices by state. */
void vmctld_rollout_counts(const vmctld_rollout_t *r,
                           vmctld_rollout_counts_t *c);

/** The number of target devices. */
size_t vmctld_rollout_device_count(const vmctld_rollout_t *r);

/**
 * One device's state, by its position in the target list.
 * @return 0 or VMCTLD_ROLLOUT_EINVAL (i out of range).
 */
int vmctld_rollout_device(const vmctld_rollout_t *r, size_t i,
                          vmctld_rollout_device_t *d);

/**
 * Serialise the whole rollout into a compact, versioned, little-endian
 * binary blob (for SQLite).
 * @param r the rollout.
 * @param out receives a malloc()ed blob the caller frees with free().
 * @param len receives its length.
 * @return 0, VMCTLD_ROLLOUT_EINVAL or VMCTLD_ROLLOUT_ENOMEM.
 */
int vmctld_rollout_save(const vmctld_rollout_t *r, uint8_t **out,
                        size_t *len);

/**
 * Restore a rollout from a blob of vmctld_rollout_save().  The blob is
 * checked field by field before use and not trusted.  Devices that were
 * SENT stay in flight with their saved deadlines (see the top comment).
 * @param buf the blob (borrowed).
 * @param len its length.
 * @param out receives the rollout (free with vmctld_rollout_destroy()).
 * @param err caller buffer for a human-readable reason (may be NULL).
 * @param errlen size of err.
 * @return 0, VMCTLD_ROLLOUT_EINVAL, VMCTLD_ROLLOUT_EFORMAT or
 *         VMCTLD_ROLLOUT_ENOMEM.
 */
int vmctld_rollout_load(const uint8_t *buf, size_t len,
                        vmctld_rollout_t **out, char *err, size_t errlen);

#endif /* VMCTLD_ROLLOUT_H */
