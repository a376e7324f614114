/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_WASI_H
#define VMRT_WASI_H

/*
 * WASI preview1 (module "wasi_snapshot_preview1") for vmrt instances.
 *
 * Implemented: args_*, environ_*, clock_time_get / clock_res_get,
 * fd_write (stdout, stderr, files), poll_oneoff (clock subscriptions:
 * sleeping), proc_exit, random_get, sched_yield, and files: with a root
 * configured, fd 3 is a preopened directory "/" and path_open,
 * fd_read/pread/write/pwrite/seek/tell/close/readdir, fd_filestat_get/
 * set_size, fd_fdstat_get/set_flags (APPEND), fd_sync/datasync,
 * fd_advise (ignored), fd_allocate, path_filestat_get, path_unlink_file,
 * path_create_directory, path_remove_directory, path_rename,
 * path_symlink, path_readlink work beneath it, on the port's confined
 * file API.  Paths that leave the root (absolute, "..", symbolic links)
 * give EPERM (63); a write or truncation past the quota gives ENOSPC
 * (51) and changes nothing already stored.  Every other preview1
 * function exists with its proper signature and returns ERRNO_NOSYS
 * (52), so any wasi-libc program links.
 *
 * Sleeping never blocks the thread: poll_oneoff returns VMRT_HOST_BLOCK
 * until its deadline, so vmrt_instance_run() returns VMRT_RUN_BLOCKED and
 * the embedder decides how to wait (vmrt_wasi_wake_time()) before it runs
 * the instance again.  proc_exit ends the run with VMRT_RUN_EXIT; read the
 * code with vmrt_wasi_exit_code().
 *
 * Thread context: a context belongs to one instance; its host functions
 * run on the thread that runs that instance.
 */

#include <stddef.h>
#include <stdint.h>

#include "vmrt/vmrt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vmrt_wasi vmrt_wasi_t; /* defined in src/wasi/wasi.c */

/*
 * An output sink: write all of `buf` for guest fd `fd` (1 or 2).
 * @return bytes written (== len) or a negative code (the guest sees EIO).
 */
typedef long (*vmrt_wasi_write_fn_t)(void *arg, int fd, const void *buf,
                                     size_t len);

typedef struct {
    int argc;                 /* number of argv strings */
    const char *const *argv;  /* argv[0] is the program name */
    const char *const *envp;  /* "NAME=value" strings, NULL-terminated;
                                 NULL for an empty environment */
    vmrt_wasi_write_fn_t out; /* fd 1; NULL = pl_stdio_write(1, ...) */
    vmrt_wasi_write_fn_t err; /* fd 2; NULL = pl_stdio_write(2, ...) */
    void *sink_arg;           /* passed to out and err */
    /*
     * Files (all optional; zero = none).  `root` is a host directory the
     * guest sees as its preopened "/" (fd 3); every path the guest uses is
     * confined to it (escapes: EPERM).  It is opened at create time, so
     * the string is borrowed for the call only.
     */
    const char *root;
    /* Bytes the regular files beneath root may hold (0 = unlimited);
     * writes and truncations past it fail with ENOSPC. */
    uint64_t quota;
    /*
     * How poll_oneoff and sched_yield wait: when set, instead of
     * returning VMRT_HOST_BLOCK with vmrt_wasi_wake_time() as the
     * deadline, they return block(block_arg, inst, deadline_ns) (0 = no
     * deadline), which must arrange for the call to be retried (e.g. the
     * runtime's vmrt__block) and return VMRT_HOST_BLOCK.
     */
    int (*block)(void *arg, vmrt_instance_t *inst, uint64_t deadline_ns);
    void *block_arg;
    /* With block: called (same arg) when a call that may have blocked
     * completes, so the embedder can end the wait (vmrt__wait_end). */
    void (*wait_end)(void *arg, vmrt_instance_t *inst);
} vmrt_wasi_config_t;

/**
 * Create a WASI context.
 * @param cfg  borrowed for the call: argv and envp strings are copied.
 *             NULL means no arguments, no environment, process stdio.
 * @return the context, or NULL when out of memory or cfg is inconsistent
 *         (argc < 0, or argc > 0 with argv NULL).
 */
vmrt_wasi_t *vmrt_wasi_create(const vmrt_wasi_config_t *cfg);

/** Bytes of caller storage vmrt_wasi_create_static() needs. */
size_t vmrt_wasi_size(void);

/**
 * Create a WASI context in caller storage (no allocation).
 * @param mem   at least vmrt_wasi_size() bytes, aligned for any type;
 *              owned by the caller, must outlive the context.
 * @param cfg   as for vmrt_wasi_create(), except that the argv and envp
 *              arrays and strings are BORROWED and must outlive the context.
 * @return the context (== mem), or NULL if size is too small or cfg is
 *         inconsistent.
 */
vmrt_wasi_t *vmrt_wasi_create_static(void *mem, size_t size,
                                     const vmrt_wasi_config_t *cfg);

/** Destroy a context.  NULL is a no-op; static contexts only reset. */
void vmrt_wasi_destroy(vmrt_wasi_t *ctx);

/**
 * Bytes of regular files beneath the context's root, as counted at create
 * time and kept up to date by the guest's writes, truncations, renames
 * and unlinks.  @return the usage, 0 without a root.
 */
uint64_t vmrt_wasi_usage(const vmrt_wasi_t *ctx);

/**
 * Define every wasi_snapshot_preview1 function in `lk`, bound to `ctx`.
 * @param ctx  borrowed: must outlive every instance linked with it.
 * @return 0, or the first vmrt_linker_define_func() error.
 */
int vmrt_wasi_link(vmrt_wasi_t *ctx, vmrt_linker_t *lk);

/**
 * The monotonic time (pl_time_mono_ns() clock) at which a blocked
 * poll_oneoff can complete.
 * @return that deadline in ns, or 0 if no call is pending.
 */
uint64_t vmrt_wasi_wake_time(const vmrt_wasi_t *ctx);

/**
 * Did the guest call proc_exit?
 * @param code  receives the exit code when it did; may be NULL.
 * @return 1 if it did, 0 if not.
 */
int vmrt_wasi_exit_code(const vmrt_wasi_t *ctx, uint32_t *code);

/**
 * The snapshot hook of a WASI context: section VMRT_SNAP_TAG('W','A','S','I')
 * with the layer's own state: which stdio fds are open, a pending
 * poll_oneoff (as the REMAINING time to its deadline, since monotonic
 * clocks differ between processes: restore sets deadline = now +
 * remaining) and the exit code if the guest called proc_exit.  Arguments
 * and environment are not saved: after args_get they live in guest memory,
 * and the restoring context serves its own.  Load validates every byte
 * (VMRT_ECORRUPT for anything malformed) and changes `ctx` only on success.
 *
 * @param ctx  borrowed: must outlive every save or restore using the hook.
 * @return the hook, to pass to vmrt_snapshot_save() / _restore().
 */
vmrt_snap_hook_t vmrt_wasi_snapshot_hook(vmrt_wasi_t *ctx);

/* WASI errno values the layer returns to guests (preview1 numbering). */
#define VMRT_WASI_ESUCCESS 0
#define VMRT_WASI_EBADF 8
#define VMRT_WASI_EFAULT 21
#define VMRT_WASI_EINVAL 28
#define VMRT_WASI_EIO 29
#define VMRT_WASI_ENOSPC 51
#define VMRT_WASI_ENOSYS 52
#define VMRT_WASI_ENOTSUP 58
#define VMRT_WASI_EPERM 63
#define VMRT_WASI_ESPIPE 70

#ifdef __cplusplus
}
#endif
#endif /* VMRT_WASI_H */
