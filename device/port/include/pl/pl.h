/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_PL_H
#define PL_PL_H

/*
 * The port layer: everything vmfleet's device side needs from the OS.
 * Only code under device/port includes OS headers.  A new port is a new
 * folder beside posix/ implementing these prototypes (docs/porting.md).
 *
 * This header holds errors, time, randomness, whole-file helpers, standard
 * streams and host facts, and includes the other sections: pl/thread.h,
 * pl/fs.h, pl/net.h, pl/proc.h.  Include "pl/pl.h" only.
 */

#include <stddef.h>
#include <stdint.h>

#include "pl_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Error codes: 0 success, negative failure.  The values are part of the
 * contract (snapshots and logs may carry them), so new codes are only ever
 * appended.
 */
#define PL_ERRNO_MAP(XX)                                                     \
    XX(ENOMEM, -1, "out of memory")                                          \
    XX(EINVAL, -2, "invalid argument")                                       \
    XX(EIO, -3, "i/o error")                                                 \
    XX(ENOENT, -4, "no such file or directory")                              \
    XX(EACCES, -5, "permission denied")                                      \
    XX(EFBIG, -6, "file too large")                                          \
    XX(EINTR, -7, "interrupted")                                             \
    XX(EEXIST, -8, "file exists")                                            \
    XX(ENOTDIR, -9, "not a directory")                                       \
    XX(EISDIR, -10, "is a directory")                                        \
    XX(ENOSPC, -11, "no space left on device")                               \
    XX(EPERM, -12, "operation not permitted")                                \
    XX(EAGAIN, -13, "resource temporarily unavailable")                      \
    XX(ETIMEDOUT, -14, "timed out")                                          \
    XX(ECONNREFUSED, -15, "connection refused")                              \
    XX(EADDRINUSE, -16, "address already in use")                            \
    XX(ENOTEMPTY, -17, "directory not empty")                                \
    XX(EBADF, -18, "bad file descriptor")                                    \
    XX(ENAMETOOLONG, -19, "name too long")                                   \
    XX(ELOOP, -20, "too many symbolic links")                                \
    XX(EBUSY, -21, "resource busy")                                          \
    XX(EXDEV, -22, "cross-device link")                                      \
    XX(EPIPE, -23, "broken pipe")                                            \
    XX(ECONNRESET, -24, "connection reset")                                  \
    XX(ECONNABORTED, -25, "connection aborted")                              \
    XX(ENOTCONN, -26, "not connected")                                       \
    XX(EADDRNOTAVAIL, -27, "address not available")                          \
    XX(ENETUNREACH, -28, "network unreachable")                              \
    XX(EHOSTUNREACH, -29, "host unreachable")                                \
    XX(EAFNOSUPPORT, -30, "address family not supported")                    \
    XX(EMSGSIZE, -31, "message too long")                                    \
    XX(EMFILE, -32, "too many open files")                                   \
    XX(ECHILD, -33, "no child process")                                      \
    XX(ESRCH, -34, "no such process")                                        \
    XX(ENOSYS, -35, "not supported by this port")                            \
    XX(EROFS, -36, "read-only file system")                                  \
    XX(ESPIPE, -37, "illegal seek")                                          \
    XX(EINPROGRESS, -38, "operation in progress")                            \
    XX(EOVERFLOW, -39, "value too large")                                    \
    XX(EADDRFORMAT, -40, "malformed address")                                \
    XX(ENOHOST, -41, "host name not found")

enum {
#define PL_XX_(name, val, msg) PL_##name = (val),
    PL_ERRNO_MAP(PL_XX_)
#undef PL_XX_
};

/** @return static text for a PL_E* code. */
const char *pl_strerror(int err);

/* ---- time (engine: WASI clocks, sleep; runtime: scheduler) ---------- */

/** Monotonic clock in nanoseconds, arbitrary epoch. */
uint64_t pl_time_mono_ns(void);
/** Wall clock in nanoseconds since the Unix epoch. */
uint64_t pl_time_real_ns(void);
/** Resolution of the monotonic clock in nanoseconds. */
uint64_t pl_time_res_ns(void);
/** Sleep at least `ns` nanoseconds (may return early on a signal). */
void pl_sleep_ns(uint64_t ns);

/* ---- randomness (WASI random_get) ---------------------------------- */

/** Fill `buf` with `len` cryptographically strong random bytes.  @return 0 or PL_EIO. */
int pl_random(void *buf, size_t len);

/* ---- files (CLI: loading modules; later vfs) ----------------------- */

/**
 * Read a whole file into a new buffer (free with pl_free_file()).
 * @param max refuse files larger than this with PL_EFBIG.
 * @return 0, PL_ENOENT, PL_EACCES, PL_EFBIG, PL_EIO, PL_ENOMEM.
 */
int pl_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len);
void pl_free_file(uint8_t *buf);

/**
 * Write a whole buffer to a file, atomically: write a temporary file,
 * fsync, rename over `path`.  @return 0 or a PL_E* code.
 */
int pl_file_write_atomic(const char *path, const void *buf, size_t len);

/* ---- standard streams (WASI fd_write to stdout/stderr) -------------- */

/**
 * Write all of buf to the process's stdout (stream 1) or stderr (2).
 * @return bytes written (== len) or a negative PL_E* code.
 */
long pl_stdio_write(int stream, const void *buf, size_t len);

/** @return non-zero if the stream (0, 1, 2) is a terminal. */
int pl_stdio_isatty(int stream);

/* ---- process and host facts (runtime: worker count, ipc, logs) ------ */

/** @return the number of CPUs this process may run on (at least 1). */
int pl_cpu_count(void);

/** @return this process's id. */
pl_pid_t pl_getpid(void);
/** @return the parent process's id (changes to 1 or a subreaper when the
 *  parent dies: vmrt-ota --supervised watches it). */
pl_pid_t pl_getppid(void);

/** @return the real user id (0 on ports without users). */
uint32_t pl_getuid(void);

/** @return the real group id (0 on ports without users). */
uint32_t pl_getgid(void);

/**
 * Copy the host name into buf, always NUL-terminated.
 * @return 0, PL_ENAMETOOLONG if it does not fit (buf then holds a prefix),
 *         PL_EINVAL if len is 0.
 */
int pl_hostname(char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#include "pl/fs.h"
#include "pl/net.h"
#include "pl/proc.h"
#include "pl/thread.h"

#endif /* PL_PL_H */
