/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef OTA_DEDUP_H
#define OTA_DEDUP_H

/*
 * ota_dedup: the final results of the last OTA_DEDUP_KEEP commands, by
 * command id, persisted in one append log (DIR/cmds) so that a command
 * redelivered after a crash is answered again and never run twice.
 *
 * Record: u32 body length (LE), u32 crc32 of the body, body = u8 id
 * length, id, result bytes.  A torn or corrupt tail (kill -9 or power
 * loss mid-append) is cut off at open.  When the log holds twice the
 * records it keeps, it is compacted: the kept ones are written to a new
 * file that replaces it atomically (write, fsync, rename).
 *
 * Not thread-safe: the OTA worker thread is its only user.
 */

#include <stddef.h>
#include <stdint.h>

#include "pl/pl.h"

#define OTA_DEDUP_KEEP 256

typedef struct ota_dedup ota_dedup_t;

/**
 * Open (or create) the log `name` beneath `root` and load it.
 * @param root borrowed; must stay open until ota_dedup_close().
 * @return 0 or a PL_E* code.
 */
int ota_dedup_open(const pl_root_t *root, const char *name,
                   ota_dedup_t **out);

/**
 * Look up a command id.
 * @param res receives a pointer to the stored result bytes, valid until
 *        the next ota_dedup_put() or ota_dedup_close().
 * @return 1 found, 0 not found.
 */
int ota_dedup_find(ota_dedup_t *d, const char *id, const uint8_t **res,
                   size_t *len);

/**
 * Remember a command's final result (copied) and make it durable
 * (fsync'ed) before returning.  The oldest entry beyond OTA_DEDUP_KEEP
 * is forgotten.  @return 0 or a PL_E* code (the entry is then kept in
 * memory only).
 */
int ota_dedup_put(ota_dedup_t *d, const char *id, const uint8_t *res,
                  size_t len);

/** @return the number of ids remembered. */
size_t ota_dedup_count(const ota_dedup_t *d);

/** Close and free; NULL-safe. */
void ota_dedup_close(ota_dedup_t *d);

#endif /* OTA_DEDUP_H */
