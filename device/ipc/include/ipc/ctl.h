/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef IPC_CTL_H
#define IPC_CTL_H

/*
 * vmrt's local control protocol (proto/vmrt_ctl.proto) on a Unix stream
 * socket: framing, message encoding and client helpers.  protobuf-c stays
 * behind this header: callers see plain C structs built from the public
 * runtime types (vmrt/runtime.h).
 *
 * A frame is a 4-byte little-endian body length, then the body (one
 * protobuf message).  Readers check the length against their limit BEFORE
 * reading or allocating the body.  The server accepts IPC_CTL_FRAME_BIG
 * (module images and snapshots); after decoding, any request but CREATE,
 * RESTORE and STAGE must fit IPC_CTL_FRAME_SMALL.
 *
 * Users: the runtime's control server (src/ctl), `vmrt ctl`, the OTA VM.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IPC_CTL_FRAME_SMALL (64u * 1024)        /* most messages */
#define IPC_CTL_FRAME_BIG (16u * 1024 * 1024)   /* images, snapshots */
#define IPC_CTL_HDR 4

/* Operations (Op in the .proto, same numbers). */
typedef enum {
    IPC_CTL_OP_NONE = 0,
    IPC_CTL_OP_LIST = 1,
    IPC_CTL_OP_INFO = 2,
    IPC_CTL_OP_CREATE = 3,
    IPC_CTL_OP_START = 4,
    IPC_CTL_OP_STOP = 5,
    IPC_CTL_OP_SUSPEND = 6,
    IPC_CTL_OP_RESUME = 7,
    IPC_CTL_OP_RESTART = 8,
    IPC_CTL_OP_DESTROY = 9,
    IPC_CTL_OP_SNAPSHOT = 10,
    IPC_CTL_OP_RESTORE = 11,
    IPC_CTL_OP_LOGS = 12,
    IPC_CTL_OP_DEV = 13,
    IPC_CTL_OP_STAGE = 14,
    IPC_CTL_OP_POWER = 15,
    IPC_CTL_OP_SUBSCRIBE = 16,
    IPC_CTL_OP_SWAP_STATUS = 17,  /* values[0] = vmrt_swap_state_t */
    IPC_CTL_OP_MAX_
} ipc_ctl_op_t;

/* Stable result codes (Code in the .proto, same numbers). */
#define IPC_CTL_CODE_MAP(XX)                                                 \
    XX(OK, 0, "ok")                                                          \
    XX(INVALID, 1, "invalid request")                                        \
    XX(NOT_FOUND, 2, "not found")                                            \
    XX(STATE, 3, "not allowed in this state")                                \
    XX(EXISTS, 4, "already exists")                                          \
    XX(TOO_LARGE, 5, "too large")                                            \
    XX(DENIED, 6, "permission denied")                                       \
    XX(IO, 7, "i/o error")                                                   \
    XX(NO_MEMORY, 8, "out of memory")                                        \
    XX(UNIMPLEMENTED, 9, "not implemented")                                  \
    XX(CORRUPT, 10, "corrupt data")                                          \
    XX(INTERNAL, 11, "internal error")

typedef enum {
#define IPC_CTL_XX_(name, val, msg) IPC_CTL_##name = (val),
    IPC_CTL_CODE_MAP(IPC_CTL_XX_)
#undef IPC_CTL_XX_
} ipc_ctl_code_t;

/** @return static text for an ipc_ctl_code_t ("not found"). */
const char *ipc_ctl_code_str(int code);
/** @return the code's name ("NOT_FOUND"), for --json output. */
const char *ipc_ctl_code_name(int code);
/** Map a VMRT_E* result of the runtime API (0 = OK) to a code. */
ipc_ctl_code_t ipc_ctl_code_of(int rc);
/** @return "created", "running", ... for a vmrt_vm_state_t (the same
 *  words as vmrt_vm_state_str, without linking the runtime). */
const char *ipc_ctl_state_name(int state);

/* Local errors of this module (framing, transport): negative PL_E* codes:
 * PL_EMSGSIZE (frame over the limit), PL_EIO (truncated or undecodable),
 * PL_ECONNRESET (peer closed mid-frame), PL_EPIPE, PL_ENOMEM, ... */

/* ---- messages ---------------------------------------------------------- */

typedef struct ipc_ctl_req {
    uint64_t id;
    ipc_ctl_op_t op;
    char name[VMRT_NAME_MAX];
    bool has_manifest;
    vmrt_manifest_t manifest;     /* CREATE, STAGE */
    uint8_t *data;                /* owned: module, snapshot, dev input */
    size_t len;
    char path[VMRT_PATH_MAX];     /* SNAPSHOT, RESTORE */
    bool want_bytes;              /* SNAPSHOT */
    uint64_t seq;                 /* LOGS */
    uint32_t max;                 /* LOGS */
    char device[VMRT_NAME_MAX];   /* DEV */
    char action[16];              /* DEV */
    int64_t args[4];              /* DEV */
    uint32_t nargs;
    uint32_t power;               /* POWER: vmrt_power_t */
    uint32_t deadline_ms;
    uint32_t health_ms;           /* STAGE */
    bool snapshot_before;         /* STAGE */
} ipc_ctl_req_t;

typedef struct ipc_ctl_resp {
    uint64_t id;
    int code;                     /* ipc_ctl_code_t */
    char message[256];
    vmrt_vm_info_t *vms;          /* owned; LIST, INFO */
    uint32_t nvms;
    uint8_t *data;                /* owned; LOGS, SNAPSHOT, DEV */
    size_t len;
    uint64_t next_seq;            /* LOGS */
    bool has_event;
    vmrt_event_t event;           /* pushed after SUBSCRIBE */
    int64_t values[8];            /* DEV */
    uint32_t nvalues;
} ipc_ctl_resp_t;

/** Zero a request (op NONE).  Never fails. */
void ipc_ctl_req_init(ipc_ctl_req_t *r);
/** Free what a request owns (data) and zero it; NULL-safe. */
void ipc_ctl_req_free(ipc_ctl_req_t *r);
void ipc_ctl_resp_init(ipc_ctl_resp_t *r);
void ipc_ctl_resp_free(ipc_ctl_resp_t *r);

/**
 * Encode a message into a new buffer holding a whole frame (header and
 * body); free it with ipc_ctl_buf_free().  Borrows `r`.
 * @return 0, PL_ENOMEM, PL_EMSGSIZE (over IPC_CTL_FRAME_BIG).
 */
int ipc_ctl_req_encode(const ipc_ctl_req_t *r, uint8_t **out, size_t *len);
int ipc_ctl_resp_encode(const ipc_ctl_resp_t *r, uint8_t **out,
                        size_t *len);
void ipc_ctl_buf_free(uint8_t *buf);

/**
 * Decode one message body (no header).  Unknown fields are ignored;
 * strings too long for their field are errors, never truncated.
 * On success `r` owns copies of every byte field (free with *_free).
 * @return 0, PL_EIO (not a valid message), PL_EMSGSIZE (a field over its
 *         limit), PL_ENOMEM.  On error `r` is left initialized and empty.
 */
int ipc_ctl_req_decode(const uint8_t *body, size_t len, ipc_ctl_req_t *r);
int ipc_ctl_resp_decode(const uint8_t *body, size_t len, ipc_ctl_resp_t *r);

/** @return the largest body a request with this op may have. */
size_t ipc_ctl_req_limit(ipc_ctl_op_t op);

/* ---- framing ----------------------------------------------------------- */

/**
 * Parse a frame at the start of buf[0..len).
 * @return 0 with body/blen set and *used = header + body; PL_EAGAIN if
 *         buf holds only part of a frame; PL_EMSGSIZE if the header
 *         announces more than `max` (decided from the 4 header bytes).
 */
int ipc_ctl_frame_parse(const uint8_t *buf, size_t len, size_t max,
                        const uint8_t **body, size_t *blen, size_t *used);

/* Incremental reader for a non-blocking socket in a poll loop. */
typedef struct ipc_ctl_reader {
    uint8_t hdr[IPC_CTL_HDR];
    size_t have;                  /* bytes of hdr, then of body */
    uint8_t *body;                /* owned while reading */
    size_t blen;
    bool in_body;
} ipc_ctl_reader_t;

void ipc_ctl_reader_init(ipc_ctl_reader_t *rd);
void ipc_ctl_reader_free(ipc_ctl_reader_t *rd);

/**
 * Read what is available.  When a frame is complete, *body (owned by the
 * caller now: free with ipc_ctl_buf_free) and *blen are set and the reader
 * starts over.
 * @return 1 frame complete; 0 need more (would block); PL_EMSGSIZE (over
 *         max: checked before the body is allocated); PL_ECONNRESET (peer
 *         closed; mid-frame or not); another PL_E* socket error.
 */
int ipc_ctl_reader_step(ipc_ctl_reader_t *rd, pl_socket_t s, size_t max,
                        uint8_t **body, size_t *blen);

/**
 * Write all of buf on s (blocking or not: on PL_EAGAIN it polls up to
 * timeout_ms in all, negative = forever).  @return 0, PL_ETIMEDOUT, ...
 */
int ipc_ctl_write_all(pl_socket_t s, const uint8_t *buf, size_t len,
                      int timeout_ms);

/**
 * Read one whole frame from a blocking socket.  The body is a new buffer
 * (free with ipc_ctl_buf_free).
 * @return 0, PL_EMSGSIZE, PL_ECONNRESET (closed, even mid-frame), ...
 */
int ipc_ctl_frame_read(pl_socket_t s, size_t max, uint8_t **body,
                       size_t *blen);

/* ---- client ------------------------------------------------------------ */

/** Connect to the daemon's socket.  @return 0 or PL_E* (ENOENT, ...). */
int ipc_ctl_connect(const char *path, pl_socket_t *s);

/**
 * Send `req`, then read its response (pushed events that arrive first are
 * skipped).  `max` bounds the response (IPC_CTL_FRAME_SMALL, or BIG when
 * asking for snapshot bytes).  `resp` is initialized here; free it with
 * ipc_ctl_resp_free() even on error.
 * @return 0 (check resp->code), or a PL_E* transport error.
 */
int ipc_ctl_call(pl_socket_t s, const ipc_ctl_req_t *req,
                 ipc_ctl_resp_t *resp, size_t max);

/** Send a request without waiting (SUBSCRIBE's acknowledgement and the
 *  events then come through ipc_ctl_recv). */
int ipc_ctl_send(pl_socket_t s, const ipc_ctl_req_t *req);
/** Receive the next response or pushed event. */
int ipc_ctl_recv(pl_socket_t s, ipc_ctl_resp_t *resp, size_t max);

#ifdef __cplusplus
}
#endif
#endif /* IPC_CTL_H */
