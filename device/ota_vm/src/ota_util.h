/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef OTA_UTIL_H
#define OTA_UTIL_H

/* Small helpers shared by the OTA VM's files (ota_util.c). */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pl/pl.h"

/** Copy a string, always NUL-terminated.  @return true if it fit. */
bool ota__strlcpy(char *dst, const char *src, size_t cap);

void ota__put_le32(uint8_t *p, uint32_t v);
uint32_t ota__get_le32(const uint8_t *p);
void ota__put_le64(uint8_t *p, uint64_t v);
uint64_t ota__get_le64(const uint8_t *p);

/** Monotonic milliseconds. */
uint64_t ota__now_ms(void);
/** Wall-clock milliseconds since the Unix epoch. */
uint64_t ota__real_ms(void);

/**
 * Read a whole open file into a new malloc()ed buffer (free with free()).
 * @param max refuse a file larger than this with PL_EFBIG (0: no limit).
 * @return 0 or a PL_E* code.
 */
int ota__file_read(pl_file_t *f, size_t max, uint8_t **out, size_t *len);
/** pwrite all of buf at off.  @return 0 or a PL_E* code. */
int ota__file_pwrite(pl_file_t *f, const void *buf, size_t len,
                     uint64_t off);
/** Write a file beneath root atomically: tmp, fsync, rename, dir sync. */
int ota__write_atomic(const pl_root_t *root, const char *name,
                      const void *buf, size_t len);
/** Read a whole file beneath root.  @return 0, PL_ENOENT, ... */
int ota__read_file(const pl_root_t *root, const char *name, size_t max,
                   uint8_t **out, size_t *len);
/** fsync the directory that holds `name` (a path beneath root), so that
 *  a rename or unlink of it is durable. */
void ota__dir_sync(const pl_root_t *root, const char *name);

/** Log one line to stderr, prefixed "ota: ". */
void ota__log(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/** As ota__log, only with --verbose. */
void ota__debug(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
extern bool ota__verbose;

#endif /* OTA_UTIL_H */
