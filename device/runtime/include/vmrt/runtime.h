/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_RUNTIME_H
#define VMRT_RUNTIME_H

/*
 * vmrt runtime: many isolated VMs on one device.  Each VM is a WebAssembly
 * module with its own CPU share, memory, storage, devices, IPC names and
 * interrupts, scheduled on N worker threads ("virtual CPUs").
 *
 * Every operation names a VM by its name.  All functions are thread-safe
 * (the control server, the OTA agent and the workers call them
 * concurrently) unless said otherwise.  Lifecycle: docs/runtime.md.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "vmrt/vmrt.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VMRT_NAME_MAX 32     /* VM, device and service names, incl. NUL */
#define VMRT_VERSION_MAX 32
#define VMRT_PATH_MAX 256
#define VMRT_MAX_GRANTS 8
#define VMRT_MAX_SERVICES 8
#define VMRT_MAX_NET_ALLOW 8
#define VMRT_MAX_ARGS 16
#define VMRT_PRIO_LEVELS 32  /* 0 highest .. 31 lowest */

typedef struct vmrt_rt vmrt_rt_t;

typedef enum {
    VMRT_VM_CREATED = 0, /* loaded, never started */
    VMRT_VM_RUNNING,     /* started: runnable, running or blocked */
    VMRT_VM_SUSPENDED,   /* parked by an operator or a power event */
    VMRT_VM_STOPPED,     /* stopped, or its program exited */
    VMRT_VM_RESTARTING,  /* failed; waiting out its restart backoff */
    VMRT_VM_FAILED       /* crash loop: restart policy exhausted */
} vmrt_vm_state_t;

/** @return "created", "running", ... */
const char *vmrt_vm_state_str(vmrt_vm_state_t s);

typedef enum {
    VMRT_RESTART_NEVER = 0,
    VMRT_RESTART_ON_FAILURE = 1
} vmrt_restart_t;

/* What a VM is: written by people (JSON, docs/runtime.md) or sent by OTA. */
typedef struct {
    char name[VMRT_NAME_MAX];
    char module[VMRT_PATH_MAX]; /* path of the .wasm */
    char version[VMRT_VERSION_MAX];
    uint8_t priority;           /* 0 (highest) .. 31 */
    uint32_t slice_us;          /* time slice; default 1000 */
    uint32_t memory_pages;      /* linear-memory cap, 64 KiB pages */
    uint64_t storage_quota;     /* bytes of files in its root */
    int32_t affinity;           /* worker index, or -1 for any */
    struct {
        char name[VMRT_NAME_MAX]; /* "led0" */
        bool exclusive;
    } grants[VMRT_MAX_GRANTS];
    uint32_t ngrants;
    char provides[VMRT_MAX_SERVICES][VMRT_NAME_MAX]; /* IPC services */
    uint32_t nprovides;
    char calls[VMRT_MAX_SERVICES][VMRT_NAME_MAX];    /* may call these */
    uint32_t ncalls;
    struct {
        char host[64];          /* numeric address or name */
        uint16_t port;          /* 0 = any port */
        uint8_t proto;          /* 0 tcp, 1 udp */
    } net_allow[VMRT_MAX_NET_ALLOW];
    uint32_t nnet_allow;
    vmrt_restart_t restart;
    uint32_t max_retries;       /* on-failure: then state FAILED */
    uint32_t backoff_ms;        /* first delay; doubles each retry */
    uint32_t backoff_max_ms;
    uint32_t watchdog_ms;       /* 0 = none; else vos_wdt_kick() in time */
    char args[VMRT_MAX_ARGS][64];
    uint32_t nargs;
    bool ota_confirm;           /* a new image must call vos_ota_confirm() */
} vmrt_manifest_t;

/** Fill `m` with defaults (priority 16, slice 1000 us, 256 pages, 1 MiB
 *  quota, affinity -1, restart never, backoff 100..10000 ms). */
void vmrt_manifest_init(vmrt_manifest_t *m);

/**
 * Parse one manifest from JSON text and validate it.  Unknown keys are
 * errors.  `err` names the key: "priority: must be 0..31".
 * @return 0 or VMRT_EINVAL.
 */
int vmrt_manifest_parse(const char *json, size_t len, vmrt_manifest_t *m,
                        char *err, size_t errlen);

/** Write `m` as JSON into a new string (free with vmrt_json_free()). */
char *vmrt_manifest_to_json(const vmrt_manifest_t *m);
void vmrt_json_free(char *s);

#define VMRT_OTA_MAX_KEYS 8    /* trusted_keys entries */
#define VMRT_OTA_MAX_LABELS 8
#define VMRT_OTA_MAX_ARGS 8    /* extra args */
#define VMRT_OTA_ID_MAX 64     /* device_id, incl. NUL */

/*
 * The device config's "ota" section: how `vmrt daemon` starts and
 * supervises the OTA process (vmrt-ota), docs/runtime.md.  The runtime
 * library only parses it; the daemon turns it into a command line.
 * Relative paths are already resolved against the config file's
 * directory, except a bare `exec` name ("vmrt-ota"), which the daemon
 * looks up next to its own binary, then in PATH.
 */
typedef struct {
    bool enabled;                  /* the section is present */
    char exec[VMRT_PATH_MAX];      /* default "vmrt-ota" */
    char device_id[VMRT_OTA_ID_MAX];
    char broker[VMRT_PATH_MAX];    /* "tcp://host:1883" */
    char trusted_keys[VMRT_OTA_MAX_KEYS][VMRT_PATH_MAX]; /* PEM files */
    uint32_t ntrusted_keys;        /* >= 1 */
    bool allow_create;             /* updates may create new VMs */
    uint32_t health_window_ms;     /* default 10000 */
    uint32_t window;               /* chunks in flight; default 8 */
    uint64_t max_package;          /* bytes; default 16 MiB */
    struct {
        char key[VMRT_NAME_MAX];   /* a name: letters, digits, _ - . */
        char value[64];
    } labels[VMRT_OTA_MAX_LABELS];
    uint32_t nlabels;
    char tls_ca[VMRT_PATH_MAX];    /* "" = no TLS options */
    char tls_cert[VMRT_PATH_MAX];  /* cert and key come together */
    char tls_key[VMRT_PATH_MAX];
    char args[VMRT_OTA_MAX_ARGS][128]; /* appended as they are */
    uint32_t nargs;
} vmrt_ota_config_t;

typedef struct {
    uint32_t workers;        /* 0 = number of cores */
    char state_dir[VMRT_PATH_MAX]; /* VM files and persisted state */
    char socket[VMRT_PATH_MAX];    /* control socket; "" = state_dir/vmrt.sock */
    uint32_t log_ring_bytes; /* per VM; 0 = 16 KiB */
    vmrt_ota_config_t ota;   /* the OTA process; not used by the runtime */
} vmrt_rt_config_t;

/**
 * Load the device config file (JSON: runtime settings, the VMs to create
 * at boot and the optional "ota" section, docs/runtime.md).  `err` names
 * the key and the line.  The files named in "ota" (trusted keys, TLS)
 * must be readable.
 * @param vms      receives an array (free with vmrt_config_free_vms) of
 *                 *nvms manifests; may be NULL to check only.
 * @return 0, VMRT_EINVAL, VMRT_EIO.
 */
int vmrt_config_load(const char *path, vmrt_rt_config_t *cfg,
                     vmrt_manifest_t **vms, uint32_t *nvms, char *err,
                     size_t errlen);
void vmrt_config_free_vms(vmrt_manifest_t *vms);

/**
 * Create the runtime: workers, devices, IPC bus.  Restores the persisted
 * VM set from state_dir (which VMs exist, their image version, and which
 * were suspended).  Nothing runs until vmrt_rt_start().
 */
int vmrt_rt_create(const vmrt_rt_config_t *cfg, vmrt_rt_t **out, char *err,
                   size_t errlen);
int vmrt_rt_start(vmrt_rt_t *rt);
/** Stop every VM (priority order), join the workers, free everything. */
void vmrt_rt_destroy(vmrt_rt_t *rt);

/* ---- lifecycle: 0, VMRT_ENOTFOUND, VMRT_ESTATE (illegal transition:
 *      nothing changes; err says from which state), VMRT_EINVAL ... ---- */

/**
 * Create a VM from a manifest and module bytes (copied into state_dir).
 * @return 0; VMRT_EINVAL (manifest); VMRT_ESTATE (name exists); load errors.
 */
int vmrt_vm_create(vmrt_rt_t *rt, const vmrt_manifest_t *m,
                   const uint8_t *module, size_t len, char *err,
                   size_t errlen);
int vmrt_vm_start(vmrt_rt_t *rt, const char *name, char *err, size_t errlen);
int vmrt_vm_stop(vmrt_rt_t *rt, const char *name, char *err, size_t errlen);
int vmrt_vm_suspend(vmrt_rt_t *rt, const char *name, char *err,
                    size_t errlen);
int vmrt_vm_resume(vmrt_rt_t *rt, const char *name, char *err,
                   size_t errlen);
int vmrt_vm_restart(vmrt_rt_t *rt, const char *name, char *err,
                    size_t errlen);
int vmrt_vm_destroy(vmrt_rt_t *rt, const char *name, char *err,
                    size_t errlen);
/** Snapshot a VM (engine state + host state) to a file; the VM keeps its
 *  lifecycle state. */
int vmrt_vm_snapshot(vmrt_rt_t *rt, const char *name, const char *path,
                     char *err, size_t errlen);
/** Restore a VM from a snapshot file made here or on another device; the
 *  VM must exist with the same module; it ends SUSPENDED or RUNNING as it
 *  was when saved. */
int vmrt_vm_restore(vmrt_rt_t *rt, const char *name, const char *path,
                    char *err, size_t errlen);

typedef struct {
    char name[VMRT_NAME_MAX];
    char version[VMRT_VERSION_MAX];
    vmrt_vm_state_t state;
    uint8_t priority;
    uint64_t uptime_ms;    /* since the last start; 0 unless running */
    uint64_t memory_bytes; /* linear memory */
    uint64_t cpu_ms;       /* CPU time used */
    uint32_t restarts;
    int32_t exit_code;     /* last exit, or -1 */
    char last_error[96];   /* last trap / failure, or "" */
    uint32_t memory_pages; /* the manifest's linear-memory cap */
    uint64_t storage_quota; /* the manifest's storage quota, bytes */
} vmrt_vm_info_t;

int vmrt_vm_info(vmrt_rt_t *rt, const char *name, vmrt_vm_info_t *out);
/** Fill up to `max` entries, in creation order.  @return the VM count. */
uint32_t vmrt_vm_list(vmrt_rt_t *rt, vmrt_vm_info_t *out, uint32_t max);

/**
 * Read a VM's log ring (its stdout/stderr and vos_log) from sequence `seq`
 * (0 = oldest kept).  @return bytes copied; *next = the sequence to read
 * from next time (for --follow).
 */
size_t vmrt_vm_log_read(vmrt_rt_t *rt, const char *name, uint64_t seq,
                        char *buf, size_t len, uint64_t *next);

/* Events for the OTA agent and the control API's subscribers. */
typedef enum {
    VMRT_EV_STATE = 0, /* state changed */
    VMRT_EV_CRASH,     /* trapped or failed; detail = reason */
    VMRT_EV_RESTART,
    VMRT_EV_WATCHDOG,
    VMRT_EV_ROLLBACK,
    VMRT_EV_POWER,
    VMRT_EV_SWAP       /* stage-and-swap ended: detail "committed 2.1.0" or
                          "rolled back to 2.0.0: <reason>" */
} vmrt_event_kind_t;

typedef struct {
    vmrt_event_kind_t kind;
    char vm[VMRT_NAME_MAX];
    vmrt_vm_state_t state;
    char detail[96];
    uint64_t time_ms; /* realtime */
} vmrt_event_t;

/** Called on the thread where the event happens; must not block long nor
 *  call back into the runtime. */
typedef void (*vmrt_event_fn_t)(void *arg, const vmrt_event_t *ev);
int vmrt_rt_subscribe(vmrt_rt_t *rt, vmrt_event_fn_t fn, void *arg);

/* ---- stage-and-swap: a new image for one VM (the OTA agent's tool) ---- */

typedef struct {
    uint32_t health_window_ms; /* 0 = 10000 */
    bool snapshot_before;      /* roll back the VM's state too, not only its
                                  image (a snapshot taken just before) */
} vmrt_swap_opts_t;

typedef enum {
    VMRT_SWAP_NONE = 0,     /* no swap ever, or the last one is reported */
    VMRT_SWAP_HEALTH,       /* new image running, health window open */
    VMRT_SWAP_COMMITTED,    /* new image kept */
    VMRT_SWAP_ROLLED_BACK   /* old image (and state) back */
} vmrt_swap_state_t;

typedef struct {
    vmrt_swap_state_t state;
    char old_version[VMRT_VERSION_MAX];
    char new_version[VMRT_VERSION_MAX];
    char reason[96];        /* why it rolled back */
} vmrt_swap_status_t;

/**
 * Stage `module` as version `version` of VM `name` and swap it in: write it
 * next to the current image (write, fsync, rename), stop only this VM,
 * switch the image, start it, and open the health window.  Returns once
 * the new image runs; the outcome comes later as VMRT_EV_SWAP and through
 * vmrt_vm_swap_status().  The VM is healthy when, for the whole window, it
 * stays running without a trap, a crash or a missed watchdog and, if its
 * manifest says ota_confirm, it called vos_ota_confirm().  Otherwise the
 * previous image (and, with snapshot_before, its state) is put back.
 * Crash-safe: after a crash of vmrt at any point, exactly the old or the
 * new image runs (an unfinished health window rolls back).
 * @return 0; VMRT_ENOTFOUND; VMRT_ESTATE (another swap in progress, or
 *         the VM is not running); VMRT_EINVAL; load errors for the module.
 */
int vmrt_vm_swap(vmrt_rt_t *rt, const char *name, const uint8_t *module,
                 size_t len, const char *version,
                 const vmrt_swap_opts_t *opts, char *err, size_t errlen);
int vmrt_vm_swap_status(vmrt_rt_t *rt, const char *name,
                        vmrt_swap_status_t *out);

/* Power events, delivered to VMs in priority order, each with a deadline
 * to acknowledge (vos_power_ack). */
typedef enum {
    VMRT_POWER_SUSPEND_ALL = 1,
    VMRT_POWER_RESUME_ALL = 2,
    VMRT_POWER_SHUTDOWN = 3
} vmrt_power_t;
int vmrt_rt_power(vmrt_rt_t *rt, vmrt_power_t ev, uint32_t deadline_ms,
                  char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif /* VMRT_RUNTIME_H */
