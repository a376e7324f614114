/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef OTA_XFER_H
#define OTA_XFER_H

/*
 * ota_xfer: one pulled transfer (a package or a snapshot), resumable.
 * Knows nothing of MQTT: requests go out through ops->send_req and the
 * clock is passed in, so tests drive it with a fake clock.
 *
 * Files beneath the state dir:
 *   xfer/<id>.part  pre-sized to the transfer; chunk i at i*chunk_size
 *   xfer/<id>.map   the chunks known to be on disk: written (tmp, fsync,
 *                   rename) only after the .part was fsync'ed, at most
 *                   every OTA_XFER_SYNC_CHUNKS chunks or
 *                   OTA_XFER_SYNC_MS ms; a crash loses at most the
 *                   chunks since, which are fetched again
 *   xfer/<id>.done  the whole transfer, hash-checked and fsync'ed, then
 *                   renamed from .part (atomic staging)
 * A map that does not match the transfer (or is torn) is ignored and the
 * transfer starts over.
 *
 * Window: at most cfg.window chunks are requested and unanswered.  A
 * request not answered within its timeout is repeated.  The timeout
 * counts from the request or from the last chunk that arrived, whichever
 * is later (a stream that moves is alive, only slow); it starts at
 * cfg.timeout_ms, or at the measured round trip (srtt + 4 rttvar, as
 * TCP's RTO) when that is longer, and doubles per repeat of a chunk up to
 * OTA_XFER_TIMEOUT_MAX_MS.  A chunk whose CRC
 * does not match is asked for again; the third bad copy of one chunk
 * fails the transfer with E_CORRUPT_CHUNK.
 *
 * Not thread-safe: one thread (the OTA worker) drives a transfer.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pl/pl.h"
#include "vmf/fleet.h"

#define OTA_XFER_SYNC_CHUNKS 64
#define OTA_XFER_SYNC_MS 250
#define OTA_XFER_TIMEOUT_MAX_MS 30000u
#define OTA_XFER_BAD_MAX 3
#define OTA_XFER_CHUNKS_MAX (1u << 18)
#define OTA_XFER_WINDOW_MAX 1024

typedef struct ota_xfer ota_xfer_t;

typedef struct {
    /** Ask for chunks first .. first+count-1 (count <= VMF_REQ_CHUNKS_MAX).
     *  @return 0, or non-zero if it could not be sent (the chunks then
     *  time out and are asked for again). */
    int (*send_req)(void *arg, const char *xfer_id, uint32_t first,
                    uint32_t count);
    void *arg;
} ota_xfer_ops_t;

typedef struct {
    uint32_t window;     /* 1 .. OTA_XFER_WINDOW_MAX */
    uint32_t timeout_ms; /* first per-chunk timeout */
    uint64_t max_size;   /* larger transfers: E_TOO_LARGE */
} ota_xfer_cfg_t;

/**
 * Open a transfer: resume it from its files, or start it.  Nothing is
 * requested until ota_xfer_pump().
 * @param root the state dir (borrowed; must stay open).
 * @param x the transfer (copied).
 * @param ops borrowed; must stay valid until ota_xfer_close().
 * @return VMF_OK; E_TOO_LARGE (before anything is asked or written);
 *         E_INVALID (a bad chunk size or id); E_IO.  msg says why.
 */
vmf_code_t ota_xfer_open(const pl_root_t *root, const vmf_xfer_t *x,
                         const ota_xfer_cfg_t *cfg,
                         const ota_xfer_ops_t *ops, ota_xfer_t **out,
                         char *msg, size_t msglen);

/**
 * Send what is due: new requests while the window has room, repeats of
 * timed-out ones; persist the map when its time has come.
 * @param next_ms receives when to call again at the latest (mono ms).
 * @return VMF_OK or E_IO.
 */
vmf_code_t ota_xfer_pump(ota_xfer_t *x, uint64_t now_ms, uint64_t *next_ms);

/**
 * Take one chunk (borrowed).  Chunks of other transfers, duplicates and
 * out-of-range indices are ignored.
 * @return VMF_OK; E_CORRUPT_CHUNK (third bad copy); E_IO.
 */
vmf_code_t ota_xfer_on_chunk(ota_xfer_t *x, const vmf_chunk_t *c,
                             uint64_t now_ms, char *msg, size_t msglen);

/**
 * After a reconnect.  On a new session what was in flight is lost: the
 * next pump asks for it again at once.  On a resumed session the broker
 * still delivers what was sent meanwhile: every chunk in flight gets a
 * fresh first timeout from now instead, so that copies are not queued
 * behind the originals (a slow link takes seconds per chunk).
 */
void ota_xfer_reconnected(ota_xfer_t *x, bool resumed, uint64_t now_ms);

/** While disconnected: nothing times out (a request now could not leave;
 *  it would only come out later as a copy). */
void ota_xfer_offline(ota_xfer_t *x, uint64_t now_ms);

bool ota_xfer_complete(const ota_xfer_t *x);
/** @return bytes received so far. */
uint64_t ota_xfer_done_bytes(const ota_xfer_t *x);
/** @return chunks requested and unanswered. */
uint32_t ota_xfer_inflight(const ota_xfer_t *x);

/**
 * After the last chunk: fsync, check the SHA-256 of the whole, rename
 * .part to .done and read it.
 * @param data receives a malloc()ed copy (free with free()).
 * @return VMF_OK; E_TRANSFER_HASH (the files are removed, so a retry
 *         starts over); E_IO.
 */
vmf_code_t ota_xfer_finish(ota_xfer_t *x, uint8_t **data, size_t *len,
                           char *msg, size_t msglen);

/** Persist the map and free (the files stay for a resume); NULL-safe. */
void ota_xfer_close(ota_xfer_t *x);

/** Remove a transfer's files (.part, .map, .done). */
void ota_xfer_remove(const pl_root_t *root, const char *id);

#endif /* OTA_XFER_H */
