/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * registry: vmctld's persistent state (issue 6) in one SQLite database.
 * registry.c is the only file that includes sqlite3.h.  The schema is
 * versioned with PRAGMA user_version and brought up to date by
 * vmctld_reg_open(); a database written by a newer vmctld is refused.
 *
 * Threading: a vmctld_reg_t is used by one thread at a time (vmctld is the
 * only writer, see STYLE.md); callers serialize access.  vmctld's core
 * opens two on one file: one for all writes, one for the API's reads,
 * which in WAL mode never wait for the writer.
 *
 * Ownership: strings and blobs passed in are borrowed for the call only.
 * Arrays and records returned are owned by the caller and released with
 * the matching *_free() function, which accepts NULL.
 */
#ifndef VMCTLD_REGISTRY_H
#define VMCTLD_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this code writes; older databases are migrated. */
#define VMCTLD_REG_SCHEMA_VERSION 4

#define VMCTLD_REG_ID_MAX      128  /* ids, device ids, including NUL */
#define VMCTLD_REG_NAME_MAX    64   /* VM names, label keys, kinds */
#define VMCTLD_REG_VERSION_MAX 64   /* version strings */
#define VMCTLD_REG_STATE_MAX   32   /* state words */
#define VMCTLD_REG_LABEL_MAX   256  /* label values */
#define VMCTLD_REG_MSG_MAX     256  /* messages and last errors */
#define VMCTLD_REG_PATH_MAX    1024 /* store paths */
#define VMCTLD_REG_SHA_HEX     65   /* 64 lowercase hex digits and NUL */

/* Error codes: negative, with a fixed text from vmctld_reg_strerror(). */
#define VMCTLD_REG_ERRORS(X)                                              \
    X(VMCTLD_REG_EINVAL, -1, "invalid argument")                         \
    X(VMCTLD_REG_ENOMEM, -2, "out of memory")                            \
    X(VMCTLD_REG_EDB, -3, "database error")                              \
    X(VMCTLD_REG_ENOTDB, -4, "file is not a vmctld database")            \
    X(VMCTLD_REG_ENEWER, -5, "database schema is newer than this vmctld") \
    X(VMCTLD_REG_ENOTFOUND, -6, "no such record")                        \
    X(VMCTLD_REG_EEXIST, -7, "record already exists")                    \
    X(VMCTLD_REG_EINUSE, -8, "record is still referenced")               \
    X(VMCTLD_REG_ESTATE, -9, "record is in a final state")               \
    X(VMCTLD_REG_EBUSY, -10, "database is locked by another process")

enum {
#define VMCTLD_REG_ERR_ENUM(name, val, text) name = (val),
    VMCTLD_REG_ERRORS(VMCTLD_REG_ERR_ENUM)
#undef VMCTLD_REG_ERR_ENUM
};

typedef struct vmctld_reg vmctld_reg_t; /* defined in registry.c */

typedef struct vmctld_reg_label {
    char key[VMCTLD_REG_NAME_MAX];
    char value[VMCTLD_REG_LABEL_MAX];
} vmctld_reg_label_t;

typedef struct vmctld_reg_vm {
    char name[VMCTLD_REG_NAME_MAX];
    char version[VMCTLD_REG_VERSION_MAX];
    char state[VMCTLD_REG_STATE_MAX];
    uint64_t memory_bytes;
    uint64_t storage_quota;
    uint32_t restarts;
    char last_error[VMCTLD_REG_MSG_MAX];
    /* Schema 4: as the device last reported them (vmf_vm_status_t). */
    uint32_t priority;
    uint64_t cpu_ms;             /* CPU time used since it started */
    uint64_t uptime_ms;          /* time since it started */
} vmctld_reg_vm_t;

typedef struct vmctld_reg_device {
    char id[VMCTLD_REG_ID_MAX];
    bool online;
    int64_t last_seen_ms;
    char runtime_version[VMCTLD_REG_VERSION_MAX];
    char ota_version[VMCTLD_REG_VERSION_MAX];
    char boot_id[VMCTLD_REG_ID_MAX];
    vmctld_reg_label_t *labels; /* n_labels entries */
    size_t n_labels;
    vmctld_reg_vm_t *vms;       /* n_vms entries */
    size_t n_vms;
} vmctld_reg_device_t;

/* One stored blob: a package (.vpk) or a snapshot, named by SHA-256. */
typedef struct vmctld_reg_package {
    char sha256[VMCTLD_REG_SHA_HEX];
    char vm[VMCTLD_REG_NAME_MAX];
    char version[VMCTLD_REG_VERSION_MAX];
    uint64_t size;
    char key_id[VMCTLD_REG_NAME_MAX];
    int64_t created_ms;
    char path[VMCTLD_REG_PATH_MAX];
} vmctld_reg_package_t;

typedef struct vmctld_reg_snapshot {
    char sha256[VMCTLD_REG_SHA_HEX];
    char device[VMCTLD_REG_ID_MAX];
    char vm[VMCTLD_REG_NAME_MAX];
    uint64_t size;
    int64_t created_ms;
    char path[VMCTLD_REG_PATH_MAX];
} vmctld_reg_snapshot_t;

/*
 * queued -> sent -> accepted -> done; queued -> expired; sent or accepted
 * -> timed_out; any of the first three -> cancelled.  done (succeeded when
 * code is 0, failed otherwise), expired, timed_out and cancelled are
 * final.  The numbers are not stored (the database holds the names).
 */
typedef enum vmctld_reg_cmd_state {
    VMCTLD_REG_CMD_QUEUED = 0,
    VMCTLD_REG_CMD_SENT = 1,
    VMCTLD_REG_CMD_DONE = 2,
    VMCTLD_REG_CMD_EXPIRED = 3,
    VMCTLD_REG_CMD_ACCEPTED = 4,  /* schema 3 */
    VMCTLD_REG_CMD_TIMED_OUT = 5, /* schema 3 */
    VMCTLD_REG_CMD_CANCELLED = 6, /* schema 3 */
} vmctld_reg_cmd_state_t;

typedef struct vmctld_reg_command {
    char id[VMCTLD_REG_ID_MAX];
    char device[VMCTLD_REG_ID_MAX];
    char kind[VMCTLD_REG_NAME_MAX];
    char vm[VMCTLD_REG_NAME_MAX];    /* "" when the command has no VM */
    uint8_t *body;                   /* encoded command; may be NULL */
    size_t body_len;
    vmctld_reg_cmd_state_t state;
    int32_t code;
    char message[VMCTLD_REG_MSG_MAX];
    int64_t created_ms;
    int64_t expires_ms;
    int64_t updated_ms;
    /* Schema 3. */
    char version[VMCTLD_REG_VERSION_MAX]; /* the VM's version after */
    char package[VMCTLD_REG_SHA_HEX];  /* "" or the package sent */
    char snapshot[VMCTLD_REG_SHA_HEX]; /* "" or the snapshot sent/stored */
    char rollout[VMCTLD_REG_ID_MAX];   /* "" or the rollout that sent it */
    uint32_t percent;                  /* transfer progress, 0..100 */
    uint32_t timeout_s;                /* from sending to a final result */
    int64_t deadline_ms;               /* once sent; 0 before */
} vmctld_reg_command_t;

typedef struct vmctld_reg_rollout {
    char id[VMCTLD_REG_ID_MAX];
    char vm[VMCTLD_REG_NAME_MAX];
    char package_sha[VMCTLD_REG_SHA_HEX]; /* must name a stored package */
    char *target;                /* target spec text, NUL-terminated */
    char *params;                /* parameters as JSON text */
    char state[VMCTLD_REG_STATE_MAX];
    int64_t created_ms;
    int64_t updated_ms;
    /* Schema 3. */
    char version[VMCTLD_REG_VERSION_MAX]; /* the package's version */
    uint32_t health_window_ms;
    uint32_t device_timeout_s;
    uint8_t *blob;               /* vmctld_rollout_save(); may be NULL */
    size_t blob_len;
} vmctld_reg_rollout_t;

typedef struct vmctld_reg_rollout_device {
    char rollout[VMCTLD_REG_ID_MAX];
    char device[VMCTLD_REG_ID_MAX];
    int32_t batch;
    char state[VMCTLD_REG_STATE_MAX];
    int32_t code;
    char message[VMCTLD_REG_MSG_MAX];
    int64_t updated_ms;
    char command[VMCTLD_REG_ID_MAX]; /* schema 3: its command, or "" */
} vmctld_reg_rollout_device_t;

/**
 * Fixed text for a VMCTLD_REG_E* code.
 * @param err a VMCTLD_REG_E* code (or 0).
 * @return a static string.
 */
const char *vmctld_reg_strerror(int err);

/**
 * Open (creating if needed) the registry at `path` and migrate its schema
 * to VMCTLD_REG_SCHEMA_VERSION, each step in its own transaction.  Turns
 * on WAL mode, a busy timeout and foreign keys.
 * @param path database file; ":memory:" for a private in-memory one.
 * @param out receives the handle on success only.
 * @param err filled with a readable reason on failure (may be NULL).
 * @return 0; VMCTLD_REG_ENOTDB for a file that is not a SQLite database
 *         or belongs to another application; VMCTLD_REG_ENEWER when the
 *         schema is newer than this code; VMCTLD_REG_EDB otherwise.
 */
int vmctld_reg_open(const char *path, vmctld_reg_t **out, char *err,
                    size_t errlen);

/** Close the handle; NULL is a no-op. */
void vmctld_reg_close(vmctld_reg_t *reg);

/**
 * The reason for the last failure on this handle.
 * @return a string valid until the next call on `reg`.
 */
const char *vmctld_reg_errmsg(const vmctld_reg_t *reg);

/**
 * Start a batch: the writes that follow, until vmctld_reg_batch_end(),
 * are one transaction, committed together (one commit instead of one
 * per call, for the many small writes of a rollout step).  Functions
 * that are all-or-nothing on their own stay so inside (a savepoint).
 * Reads on other connections see the batch only once it has ended.
 * @return 0, EINVAL (already in a batch), EBUSY or EDB.
 */
int vmctld_reg_batch_begin(vmctld_reg_t *reg);

/**
 * Commit the batch.  If the commit fails, everything in the batch is
 * rolled back.
 * @return 0, EINVAL (no batch), EBUSY or EDB.
 */
int vmctld_reg_batch_end(vmctld_reg_t *reg);

/** @return the schema version of the open database (PRAGMA user_version),
 *          or a negative VMCTLD_REG_E* code. */
int vmctld_reg_schema_version(vmctld_reg_t *reg);

/** @return the journal mode ("wal", "memory", ...) copied into `buf`,
 *          0 on success or a negative VMCTLD_REG_E* code. */
int vmctld_reg_journal_mode(vmctld_reg_t *reg, char *buf, size_t len);

/* ---- devices ---------------------------------------------------------- */

/**
 * Insert or update a device from its full reported state.  Its labels and
 * VM rows are replaced by those in `dev`, all in one transaction: readers
 * see either the old state or the new one.
 * @param dev borrowed.
 * @return 0 or a negative VMCTLD_REG_E* code (nothing changed).
 */
int vmctld_reg_device_upsert(vmctld_reg_t *reg,
                             const vmctld_reg_device_t *dev);

/**
 * Look up one device with its labels and VMs.
 * @param out filled on success; release with vmctld_reg_device_clear().
 * @return 0, VMCTLD_REG_ENOTFOUND or another VMCTLD_REG_E* code.
 */
int vmctld_reg_device_get(vmctld_reg_t *reg, const char *id,
                          vmctld_reg_device_t *out);

/**
 * List devices, ordered by id.
 * @param label_filter NULL for all, or "key=value" to keep only devices
 *        with that label.
 * @param out receives a caller-owned array (NULL when empty); release it
 *        with vmctld_reg_devices_free().
 * @return 0 or a negative VMCTLD_REG_E* code (EINVAL for a bad filter).
 */
int vmctld_reg_device_list(vmctld_reg_t *reg, const char *label_filter,
                           vmctld_reg_device_t **out, size_t *n);

/* The orders of vmctld_reg_device_query(). */
typedef enum vmctld_reg_dev_sort {
    VMCTLD_REG_SORT_ID = 0,       /* id ascending (the default) */
    VMCTLD_REG_SORT_ID_DESC,
    VMCTLD_REG_SORT_SEEN,         /* last_seen_ms ascending, then id */
    VMCTLD_REG_SORT_SEEN_DESC,    /* most recently seen first */
} vmctld_reg_dev_sort_t;

/* The online filter of vmctld_reg_device_query(); 0 is "any". */
typedef enum vmctld_reg_online {
    VMCTLD_REG_ONLINE_ANY = 0,
    VMCTLD_REG_ONLINE_ONLY,
    VMCTLD_REG_OFFLINE_ONLY,
} vmctld_reg_online_t;

/* A page of devices: every filter set is AND-ed; all zero is every
 * device, by id. */
typedef struct vmctld_reg_device_query {
    const char *const *labels;    /* "key=value" each; may be NULL */
    size_t nlabels;
    vmctld_reg_online_t online;
    const char *q;                /* NULL or "": any; else ids containing
                                     it, ignoring ASCII case */
    vmctld_reg_dev_sort_t sort;
    size_t limit;                 /* 0: all */
    size_t offset;
} vmctld_reg_device_query_t;

/**
 * One page of the devices that match `q`, in its order, with their
 * labels and VMs, and how many match in all.  The count and the page
 * come from one read transaction, so they agree.
 * @param out caller-owned array (NULL when empty); release it with
 *        vmctld_reg_devices_free().
 * @param total receives the number of matches, ignoring limit and offset
 *        (may be NULL).
 * @return 0 or a negative VMCTLD_REG_E* code (EINVAL for a bad label
 *         filter or sort).
 */
int vmctld_reg_device_query(vmctld_reg_t *reg,
                            const vmctld_reg_device_query_t *q,
                            vmctld_reg_device_t **out, size_t *n,
                            size_t *total);

/* One VM version across the fleet (vmctld_reg_fleet_t). */
typedef struct vmctld_reg_vm_version {
    char name[VMCTLD_REG_NAME_MAX];
    char version[VMCTLD_REG_VERSION_MAX];
    size_t devices;               /* devices that report it */
    size_t running;               /* ... in state "running" */
    size_t failing;               /* ... failing (see below) */
} vmctld_reg_vm_version_t;

/* A VM that is failing: its state is "crashed" or "failed", or it has
 * a last error. */
typedef struct vmctld_reg_failing_vm {
    char device[VMCTLD_REG_ID_MAX];
    char vm[VMCTLD_REG_NAME_MAX];
    char state[VMCTLD_REG_STATE_MAX];
    char last_error[VMCTLD_REG_MSG_MAX];
    uint32_t restarts;
} vmctld_reg_failing_vm_t;

typedef struct vmctld_reg_fleet {
    size_t devices;
    size_t online;
    vmctld_reg_vm_version_t *vms; /* by name, then version; owned */
    size_t n_vms;
    vmctld_reg_failing_vm_t *failing; /* by device, then VM; owned */
    size_t n_failing;
} vmctld_reg_fleet_t;

/**
 * The fleet at a glance, from SQL aggregates: device counts, every VM
 * version with its counts, and the first `failing_max` failing VMs (0:
 * none listed).  One read transaction.
 * @param out filled on success; release with vmctld_reg_fleet_clear().
 * @return 0 or a negative VMCTLD_REG_E* code (out is then empty).
 */
int vmctld_reg_fleet_summary(vmctld_reg_t *reg, size_t failing_max,
                             vmctld_reg_fleet_t *out);
/** Free the arrays inside a summary (not the struct); NULL-safe. */
void vmctld_reg_fleet_clear(vmctld_reg_fleet_t *f);

/** Mark a device offline (Last Will); @return 0 or ENOTFOUND. */
int vmctld_reg_device_mark_offline(vmctld_reg_t *reg, const char *id,
                                   int64_t now_ms);

/** Move a device's last_seen_ms forward to `seen_ms` (never back);
 *  @return 0 or ENOTFOUND. */
int vmctld_reg_device_touch(vmctld_reg_t *reg, const char *id,
                            int64_t seen_ms);

/** Free the labels and VMs inside one device record (not the record). */
void vmctld_reg_device_clear(vmctld_reg_device_t *dev);
void vmctld_reg_devices_free(vmctld_reg_device_t *devs, size_t n);

/* ---- packages and snapshots ------------------------------------------ */

/** Store a package row; @return 0, EEXIST (same sha256) or EINVAL. */
int vmctld_reg_package_put(vmctld_reg_t *reg,
                           const vmctld_reg_package_t *pkg);
int vmctld_reg_package_get(vmctld_reg_t *reg, const char *sha256,
                           vmctld_reg_package_t *out);
/** @param vm NULL for all packages, else only that VM's, newest first. */
int vmctld_reg_package_list(vmctld_reg_t *reg, const char *vm,
                            vmctld_reg_package_t **out, size_t *n);
/** @return 0, ENOTFOUND, or EINUSE while an unfinished rollout (pending,
 *  running, paused) or command (queued, sent, accepted) refers to it. */
int vmctld_reg_package_delete(vmctld_reg_t *reg, const char *sha256);

int vmctld_reg_snapshot_put(vmctld_reg_t *reg,
                            const vmctld_reg_snapshot_t *snap);
int vmctld_reg_snapshot_get(vmctld_reg_t *reg, const char *sha256,
                            vmctld_reg_snapshot_t *out);
/** @param device NULL for all snapshots, else only that device's. */
int vmctld_reg_snapshot_list(vmctld_reg_t *reg, const char *device,
                             vmctld_reg_snapshot_t **out, size_t *n);
/** @return 0, ENOTFOUND, or EINUSE while an unfinished command refers to
 *  it (a restore). */
int vmctld_reg_snapshot_delete(vmctld_reg_t *reg, const char *sha256);

/* Arrays of fixed-size records: plain free(); here for symmetry. */
void vmctld_reg_packages_free(vmctld_reg_package_t *pkgs);
void vmctld_reg_snapshots_free(vmctld_reg_snapshot_t *snaps);

/* ---- commands --------------------------------------------------------- */

/** Queue a new command (its state is stored as given, normally QUEUED);
 *  @return 0 or EEXIST for a duplicate id. */
int vmctld_reg_command_put(vmctld_reg_t *reg,
                           const vmctld_reg_command_t *cmd);
/** @param out release with vmctld_reg_command_clear(). */
int vmctld_reg_command_get(vmctld_reg_t *reg, const char *id,
                           vmctld_reg_command_t *out);
/**
 * Move a command to `state` with its result.
 * @param message borrowed; NULL keeps the stored one.
 * @return 0; ENOTFOUND; ESTATE when it is already in a final state.
 */
int vmctld_reg_command_update(vmctld_reg_t *reg, const char *id,
                              vmctld_reg_cmd_state_t state, int32_t code,
                              const char *message, int64_t now_ms);
/**
 * Write every field that changes during a command's life (state, code,
 * message, version, snapshot, percent, deadline_ms, updated_ms) of a
 * command that is not final yet.
 * @param cmd borrowed; its id names the row, its other fields are kept.
 * @return 0; ENOTFOUND; ESTATE when the stored one is already final.
 */
int vmctld_reg_command_save(vmctld_reg_t *reg,
                            const vmctld_reg_command_t *cmd);
/**
 * Commands newest first (created_ms, then id, descending).
 * @param device NULL for all, else only that device's.
 * @param limit at most this many (0: no limit).
 * @param out free with vmctld_reg_commands_free().
 */
int vmctld_reg_command_list(vmctld_reg_t *reg, const char *device,
                            size_t limit, vmctld_reg_command_t **out,
                            size_t *n);
/** Every command not final yet (queued, sent, accepted), oldest first. */
int vmctld_reg_command_list_unfinished(vmctld_reg_t *reg,
                                       vmctld_reg_command_t **out,
                                       size_t *n);
/** Commands of a device still queued, sent or accepted, oldest first
 *  (those past their expiry included until vmctld_reg_command_expire()
 *  runs). */
int vmctld_reg_command_list_pending(vmctld_reg_t *reg, const char *device,
                                    vmctld_reg_command_t **out, size_t *n);
/**
 * Expire every queued or sent command whose expires_ms <= now_ms.
 * @param n_expired receives the number of commands changed (may be NULL).
 */
int vmctld_reg_command_expire(vmctld_reg_t *reg, int64_t now_ms,
                              size_t *n_expired);
void vmctld_reg_command_clear(vmctld_reg_command_t *cmd);
void vmctld_reg_commands_free(vmctld_reg_command_t *cmds, size_t n);

/* ---- rollouts --------------------------------------------------------- */

/** Insert or replace a rollout (state changes go through here too).
 *  @return 0, EINVAL, or ENOTFOUND when a new rollout's package_sha is
 *  not stored. */
int vmctld_reg_rollout_put(vmctld_reg_t *reg,
                           const vmctld_reg_rollout_t *ro);
/**
 * Store a new rollout and all its device rows in one transaction: either
 * all of it is stored or nothing.
 * @return 0, EINVAL, EEXIST (the id), ENOTFOUND (package_sha).
 */
int vmctld_reg_rollout_create(vmctld_reg_t *reg,
                              const vmctld_reg_rollout_t *ro,
                              const vmctld_reg_rollout_device_t *rds,
                              size_t n);
/** @param out release with vmctld_reg_rollout_clear(). */
int vmctld_reg_rollout_get(vmctld_reg_t *reg, const char *id,
                           vmctld_reg_rollout_t *out);
/** All rollouts, oldest first. */
int vmctld_reg_rollout_list(vmctld_reg_t *reg, vmctld_reg_rollout_t **out,
                            size_t *n);
void vmctld_reg_rollout_clear(vmctld_reg_rollout_t *ro);
void vmctld_reg_rollouts_free(vmctld_reg_rollout_t *ros, size_t n);

/** Insert or replace one device's row in a rollout; @return 0 or
 *  ENOTFOUND when the rollout does not exist. */
int vmctld_reg_rollout_device_put(vmctld_reg_t *reg,
                                  const vmctld_reg_rollout_device_t *rd);
/** Update state and result of an existing row; @return 0 or ENOTFOUND. */
int vmctld_reg_rollout_device_update(vmctld_reg_t *reg, const char *rollout,
                                     const char *device, const char *state,
                                     int32_t code, const char *message,
                                     int64_t now_ms);
/** Rows of one rollout ordered by batch, then device; free with
 *  vmctld_reg_rollout_devices_free(). */
int vmctld_reg_rollout_device_list(vmctld_reg_t *reg, const char *rollout,
                                   vmctld_reg_rollout_device_t **out,
                                   size_t *n);
void vmctld_reg_rollout_devices_free(vmctld_reg_rollout_device_t *rds);

#endif /* VMCTLD_REGISTRY_H */
