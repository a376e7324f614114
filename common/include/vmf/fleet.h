/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fleet: the device-server protocol (proto/fleet.proto, docs/protocol.md)
 * as plain C structs, shared by the OTA VM (device/ota_vm), vmctld and the
 * test tools.  protobuf-c stays behind common/src/fleet_pb.c: nobody else
 * includes the generated code.
 *
 * Topics (MQTT v5), <dev> = the device id:
 *   vmfleet/v1/<dev>/cmd        server -> device  vmf_cmd_t        QoS 1
 *   vmfleet/v1/<dev>/result     device -> server  vmf_result_t     QoS 1
 *   vmfleet/v1/<dev>/event      device -> server  vmf_event_t      QoS 1
 *   vmfleet/v1/<dev>/state      device -> server  vmf_state_t      QoS 1,
 *                               retained; the Last Will is a state with
 *                               online = false
 *   vmfleet/v1/<dev>/xfer/req   device -> server  vmf_chunk_req_t  QoS 1
 *                               (pull: "send me chunks first..+count")
 *   vmfleet/v1/<dev>/xfer/data  server -> device  vmf_chunk_t      QoS 1
 *   vmfleet/v1/<dev>/xfer/up    device -> server  vmf_chunk_t      QoS 1
 *                               (snapshot upload)
 *   vmfleet/v1/<dev>/xfer/upreq server -> device  vmf_chunk_req_t  QoS 1
 *                               (re-send of upload chunks)
 * A command's MQTT correlation data is its id; results carry it back.
 *
 * Decoding ignores unknown fields; a string too long for its field, a
 * count over its cap or bytes that are not a valid message is an error,
 * never a truncation.  Every decode leaves the struct initialized (empty
 * on error); free what it owns with the matching *_free().
 */
#ifndef VMF_FLEET_H
#define VMF_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMF_TOPIC_PREFIX "vmfleet/v1/"
#define VMF_ID_MAX 64      /* device, command and transfer ids, incl. NUL */
#define VMF_NAME_MAX 32    /* VM names, incl. NUL (= VMRT_NAME_MAX) */
#define VMF_VERSION_MAX 64 /* semver strings, incl. NUL */
#define VMF_TEXT_MAX 256   /* messages and details, incl. NUL */
#define VMF_TOPIC_MAX 160
#define VMF_LABELS_MAX 16
#define VMF_LABEL_MAX 64   /* label keys and values, incl. NUL */
#define VMF_STATE_VMS_MAX 256
#define VMF_CHUNK_MAX (256u * 1024) /* largest chunk payload */
#define VMF_REQ_CHUNKS_MAX 64       /* largest count in one chunk request */
#define VMF_MSG_MAX (VMF_CHUNK_MAX + 4096) /* largest encoded message */
#define VMF_RESULT_DATA_MAX (64u * 1024) /* largest result.data (LOGS) */
#define VMF_LOG_BYTES_DEFAULT (16u * 1024) /* LOGS with log_bytes 0 */

/* Local errors of this module (negative). */
#define VMF_FLEET_EINVAL (-1)  /* bad argument, or a field out of range */
#define VMF_FLEET_ENOMEM (-2)
#define VMF_FLEET_EFORMAT (-3) /* not a valid message */
#define VMF_FLEET_ETOOBIG (-4) /* a field or count over its cap */

/* Commands (CmdKind in the .proto, same numbers). */
typedef enum {
    VMF_CMD_NONE = 0,
    VMF_CMD_CREATE = 1,   /* xfer: a package; the VM must not exist */
    VMF_CMD_START = 2,
    VMF_CMD_STOP = 3,
    VMF_CMD_SUSPEND = 4,
    VMF_CMD_RESUME = 5,
    VMF_CMD_RESTART = 6,
    VMF_CMD_DESTROY = 7,
    VMF_CMD_SNAPSHOT = 8, /* result.xfer describes the upload on xfer/up */
    VMF_CMD_RESTORE = 9,  /* xfer: a snapshot */
    VMF_CMD_UPDATE = 10,  /* xfer: a package */
    VMF_CMD_CANCEL = 11,  /* cancel_id: the command to cancel */
    VMF_CMD_INVENTORY = 12, /* publish /state now; result.ok */
    VMF_CMD_LOGS = 13,    /* result.data = the tail of the VM's log */
    VMF_CMD_MAX_
} vmf_cmd_kind_t;

/*
 * Stable result codes (Code in the .proto, same numbers): numbers never
 * change and are never reused.  The update rejections are listed in the
 * order the device checks them (docs/protocol.md).
 */
#define VMF_CODE_MAP(XX)                                                     \
    XX(OK, 0, "ok")                                                          \
    XX(E_INVALID, 1, "invalid command")                                      \
    XX(E_UNKNOWN_COMMAND, 2, "unknown command")                              \
    XX(E_WRONG_DEVICE, 3, "command for another device")                      \
    XX(E_NOT_FOUND, 4, "no such VM")                                         \
    XX(E_EXISTS, 5, "VM already exists")                                     \
    XX(E_STATE, 6, "not allowed in the VM's state")                          \
    XX(E_BUSY, 7, "another operation on this VM is in progress")             \
    XX(E_CANCELLED, 8, "cancelled")                                          \
    XX(E_TOO_LARGE, 9, "transfer larger than the device accepts")            \
    XX(E_TRANSFER, 10, "transfer failed")                                    \
    XX(E_CORRUPT_CHUNK, 11, "chunk failed its checksum")                     \
    XX(E_TRANSFER_HASH, 12, "transfer does not match its SHA-256")           \
    XX(E_MALFORMED, 13, "malformed or truncated package")                    \
    XX(E_UNKNOWN_KEY, 14, "package signed by an untrusted key")              \
    XX(E_BAD_SIGNATURE, 15, "bad package signature")                         \
    XX(E_WRONG_VM, 16, "package is for another VM")                          \
    XX(E_CREATE_DENIED, 17, "VM does not exist and creating it is not "      \
                            "allowed")                                       \
    XX(E_DOWNGRADE, 18, "version is not newer than the running one")         \
    XX(E_MODULE_HASH, 19, "module hash or size does not match the "          \
                          "manifest")                                        \
    XX(E_QUOTA, 20, "module exceeds the VM's quota")                         \
    XX(E_MIN_RUNTIME, 21, "package needs a newer runtime")                   \
    XX(E_ROLLED_BACK, 22, "new image failed its health window; rolled "      \
                          "back")                                            \
    XX(E_RUNTIME, 23, "the runtime refused the operation")                   \
    XX(E_SNAPSHOT, 24, "bad snapshot")                                       \
    XX(E_IO, 25, "i/o error on the device")                                  \
    XX(E_INTERNAL, 26, "internal error")

typedef enum {
#define VMF_CODE_ENUM_(name, val, text) VMF_##name = (val),
    VMF_CODE_MAP(VMF_CODE_ENUM_)
#undef VMF_CODE_ENUM_
    VMF_CODE_MAX_
} vmf_code_t;

/* Events (EventKind in the .proto, same numbers). */
typedef enum {
    VMF_EV_NONE = 0,
    VMF_EV_STATE = 1,    /* a VM changed state; detail = new state */
    VMF_EV_CRASH = 2,
    VMF_EV_RESTART = 3,
    VMF_EV_WATCHDOG = 4,
    VMF_EV_ROLLBACK = 5, /* a swap rolled back; detail = reason */
    VMF_EV_PROGRESS = 6, /* transfer or update progress of cmd_id */
    VMF_EV_COMMIT = 7,   /* a swap committed after its health window */
    VMF_EV_MAX_
} vmf_event_kind_t;

/* A transfer: a package or snapshot moved in chunks of chunk_size bytes
 * (the last may be shorter); index i covers [i*chunk_size, ...). */
typedef struct {
    char id[VMF_ID_MAX];
    uint64_t size;
    uint8_t sha256[32];       /* of all `size` bytes */
    uint32_t chunk_size;      /* 1 .. VMF_CHUNK_MAX */
} vmf_xfer_t;

typedef struct {
    char id[VMF_ID_MAX];      /* unique per command; = correlation data */
    vmf_cmd_kind_t kind;
    char device[VMF_ID_MAX];  /* must equal the receiving device's id */
    char vm[VMF_NAME_MAX];
    bool has_xfer;
    vmf_xfer_t xfer;          /* CREATE, UPDATE, RESTORE */
    uint32_t health_window_ms; /* UPDATE: 0 = the device's default */
    bool snapshot_before;     /* UPDATE: roll the VM's state back too */
    char cancel_id[VMF_ID_MAX]; /* CANCEL */
    uint64_t issued_ms;       /* server's realtime clock, informational */
    uint32_t log_bytes;       /* LOGS: 0 = VMF_LOG_BYTES_DEFAULT; at most
                                 VMF_RESULT_DATA_MAX */
} vmf_cmd_t;

typedef struct {
    char name[VMF_NAME_MAX];
    char version[VMF_VERSION_MAX];
    char state[16];           /* "running", ... (vmrt_vm_state_str) */
    uint32_t priority;
    uint64_t memory_bytes;
    uint64_t storage_quota;
    uint64_t cpu_ms;
    uint64_t uptime_ms;
    uint32_t restarts;
    char last_error[VMF_TEXT_MAX];
} vmf_vm_status_t;

typedef struct {
    char cmd_id[VMF_ID_MAX];
    vmf_cmd_kind_t kind;      /* echoed */
    bool final;               /* false: accepted, still working */
    vmf_code_t code;
    char message[VMF_TEXT_MAX];
    char vm[VMF_NAME_MAX];
    char version[VMF_VERSION_MAX]; /* the VM's version after the command */
    bool has_xfer;
    vmf_xfer_t xfer;          /* SNAPSHOT: the upload on xfer/up */
    uint8_t *data;            /* LOGS: the log's tail; owned after decode,
                                 borrowed by encode; NULL when len is 0 */
    size_t len;               /* at most VMF_RESULT_DATA_MAX */
} vmf_result_t;

typedef struct {
    vmf_event_kind_t kind;
    char vm[VMF_NAME_MAX];
    char cmd_id[VMF_ID_MAX];  /* PROGRESS, ROLLBACK, COMMIT: the command */
    char detail[VMF_TEXT_MAX];
    uint64_t done;            /* PROGRESS: bytes so far */
    uint64_t total;           /* PROGRESS: bytes in all */
    uint32_t percent;         /* PROGRESS: 0..100 */
    uint64_t time_ms;         /* device's realtime clock */
} vmf_event_t;

typedef struct {
    char key[VMF_LABEL_MAX];
    char value[VMF_LABEL_MAX];
} vmf_label_t;

/* Hello / inventory, retained on /state. */
typedef struct {
    char device[VMF_ID_MAX];
    bool online;
    char runtime_version[VMF_VERSION_MAX];
    char ota_version[VMF_VERSION_MAX];
    vmf_label_t labels[VMF_LABELS_MAX];
    uint32_t nlabels;
    vmf_vm_status_t *vms;     /* owned after decode; borrowed by encode */
    uint32_t nvms;            /* at most VMF_STATE_VMS_MAX */
    uint64_t time_ms;
    uint64_t boot_id;         /* changes at every start of vmrt-ota */
} vmf_state_t;

/* "Send me chunks first .. first+count-1 of transfer xfer_id." */
typedef struct {
    char xfer_id[VMF_ID_MAX];
    uint32_t first;
    uint32_t count;           /* 1 .. VMF_REQ_CHUNKS_MAX */
} vmf_chunk_req_t;

typedef struct {
    char xfer_id[VMF_ID_MAX];
    uint32_t index;
    uint32_t crc32;           /* vmf_crc32() of data, set by the sender */
    uint8_t *data;            /* owned after decode; borrowed by encode */
    size_t len;               /* at most VMF_CHUNK_MAX */
} vmf_chunk_t;

/* ---- codes and names ---------------------------------------------- */

/** @return fixed text for a vmf_code_t ("bad package signature"). */
const char *vmf_code_str(int code);
/** @return the code's stable name ("E_BAD_SIGNATURE"; "?" if unknown). */
const char *vmf_code_name(int code);
/** @return the code for a name as vmf_code_name() gives it, or -1. */
int vmf_code_parse(const char *name);
/** @return "update", "snapshot", ... ; "?" if unknown. */
const char *vmf_cmd_name(int kind);
/** @return the kind for a name as vmf_cmd_name() gives it, or -1. */
int vmf_cmd_parse(const char *name);
/** @return "state", "crash", ..., "progress", "commit"; "?" if unknown. */
const char *vmf_event_name(int kind);

/* ---- topics ------------------------------------------------------- */

/** A device id is 1..VMF_ID_MAX-1 of [A-Za-z0-9._-]. */
bool vmf_device_id_valid(const char *id);
/**
 * "vmfleet/v1/<device>/<leaf>" into buf.  leaf: "cmd", "xfer/data", ...
 * (levels of [a-z0-9_-] joined by single '/'; no wildcards).
 * @return 0, or VMF_FLEET_EINVAL (bad id or leaf, or buf too small;
 *         buf is then "").
 */
int vmf_topic(char *buf, size_t cap, const char *device, const char *leaf);
/**
 * Split a topic made by vmf_topic(): device id and leaf ("xfer/req").
 * @return 0, or VMF_FLEET_EINVAL if it is not one of ours (or dcap or
 *         lcap is too small); device and leaf are then "".
 */
int vmf_topic_parse(const char *topic, char *device, size_t dcap,
                    char *leaf, size_t lcap);

/** CRC-32 (IEEE 802.3, as zlib's crc32()) of buf. */
uint32_t vmf_crc32(const void *buf, size_t len);

/* ---- messages ----------------------------------------------------- */

/*
 * Encode into a new malloc()ed buffer (free with free()); borrows `m`.
 * On error *out is NULL and *len 0.
 * @return 0, VMF_FLEET_EINVAL (a field out of range, e.g. an unknown
 *         kind, a chunk over VMF_CHUNK_MAX or a result's data over
 *         VMF_RESULT_DATA_MAX), VMF_FLEET_ENOMEM.
 *         A result's kind is not checked: it echoes the command's, even
 *         an unknown one; its code must be known.
 * Decode: @return 0, VMF_FLEET_EFORMAT, VMF_FLEET_ETOOBIG,
 *         VMF_FLEET_ENOMEM.  Unknown enum values decode as they are
 *         (the receiver answers E_UNKNOWN_COMMAND for an unknown kind).
 */
void vmf_cmd_init(vmf_cmd_t *m);
int vmf_cmd_encode(const vmf_cmd_t *m, uint8_t **out, size_t *len);
int vmf_cmd_decode(const uint8_t *buf, size_t len, vmf_cmd_t *m);

void vmf_result_init(vmf_result_t *m);
void vmf_result_free(vmf_result_t *m); /* frees data; NULL-safe; re-inits */
int vmf_result_encode(const vmf_result_t *m, uint8_t **out, size_t *len);
int vmf_result_decode(const uint8_t *buf, size_t len, vmf_result_t *m);

void vmf_event_init(vmf_event_t *m);
int vmf_event_encode(const vmf_event_t *m, uint8_t **out, size_t *len);
int vmf_event_decode(const uint8_t *buf, size_t len, vmf_event_t *m);

void vmf_state_init(vmf_state_t *m);
void vmf_state_free(vmf_state_t *m); /* frees vms; NULL-safe; re-inits */
int vmf_state_encode(const vmf_state_t *m, uint8_t **out, size_t *len);
int vmf_state_decode(const uint8_t *buf, size_t len, vmf_state_t *m);

void vmf_chunk_req_init(vmf_chunk_req_t *m);
int vmf_chunk_req_encode(const vmf_chunk_req_t *m, uint8_t **out,
                         size_t *len);
int vmf_chunk_req_decode(const uint8_t *buf, size_t len, vmf_chunk_req_t *m);

void vmf_chunk_init(vmf_chunk_t *m);
void vmf_chunk_free(vmf_chunk_t *m); /* frees data; NULL-safe; re-inits */
int vmf_chunk_encode(const vmf_chunk_t *m, uint8_t **out, size_t *len);
int vmf_chunk_decode(const uint8_t *buf, size_t len, vmf_chunk_t *m);

#endif /* VMF_FLEET_H */
