/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * store: vmctld's content-addressed blob store on disk.  Packages and
 * snapshots live under the store directory as
 *   packages/<sha[0:2]>/<sha>    snapshots/<sha[0:2]>/<sha>
 * where <sha> is the 64 lowercase hex digits of the blob's SHA-256.  A
 * blob is written to a temporary file under tmp/, synced, renamed into
 * place and its directory synced, so a crash leaves either no blob or a
 * whole one.  Reading a blob back checks its size against the one the
 * caller expects.  Snapshot uploads arrive in chunks, in any order: they
 * are written at their offsets into a temporary file (vmctld_store_tmp_*)
 * that becomes a blob once its SHA-256 is checked.
 *
 * This file and registry.c/config.c are the only ones in vmctld that do
 * file I/O.
 *
 * Threading: a store holds only its directory name; every call may run
 * on any thread.  One temporary file is used by one thread at a time.
 */
#ifndef VMCTLD_STORE_H
#define VMCTLD_STORE_H

#include <stddef.h>
#include <stdint.h>

#define VMCTLD_STORE_ERRORS(X)                                            \
    X(VMCTLD_STORE_EINVAL, -1, "invalid argument")                       \
    X(VMCTLD_STORE_ENOMEM, -2, "out of memory")                          \
    X(VMCTLD_STORE_EIO, -3, "i/o error")                                 \
    X(VMCTLD_STORE_ENOENT, -4, "no such blob")                           \
    X(VMCTLD_STORE_ESIZE, -5, "blob has the wrong size")                 \
    X(VMCTLD_STORE_EHASH, -6, "blob does not match its SHA-256")         \
    X(VMCTLD_STORE_ETOOBIG, -7, "blob too large")

enum {
#define VMCTLD_STORE_ERR_ENUM(name, val, text) name = (val),
    VMCTLD_STORE_ERRORS(VMCTLD_STORE_ERR_ENUM)
#undef VMCTLD_STORE_ERR_ENUM
};

/* The largest blob the store reads into memory (a package, a snapshot). */
#define VMCTLD_STORE_BLOB_MAX (256u * 1024u * 1024u)

typedef enum vmctld_store_kind {
    VMCTLD_STORE_PACKAGE = 0,
    VMCTLD_STORE_SNAPSHOT,
} vmctld_store_kind_t;

typedef struct vmctld_store vmctld_store_t;     /* defined in store.c */
typedef struct vmctld_store_tmp vmctld_store_tmp_t;

/** @return fixed text for a VMCTLD_STORE_E* code. */
const char *vmctld_store_strerror(int err);

/**
 * Open the store in `dir`, creating it and its sub-directories as needed,
 * and remove temporary files left by an earlier run.
 * @param dir borrowed.
 * @param out receives the store on success only.
 * @param err filled with a reason naming the path on failure.
 * @return 0, VMCTLD_STORE_EINVAL (a path too long), VMCTLD_STORE_ENOMEM,
 *         VMCTLD_STORE_EIO.
 */
int vmctld_store_open(const char *dir, vmctld_store_t **out, char *err,
                      size_t errlen);

/** Close the store.  NULL is a no-op. */
void vmctld_store_close(vmctld_store_t *s);

/**
 * The path of a blob (whether it exists or not).
 * @return 0, or VMCTLD_STORE_EINVAL (bad sha or path too long).
 */
int vmctld_store_path(const vmctld_store_t *s, vmctld_store_kind_t kind,
                      const char *sha_hex, char *buf, size_t len);

/**
 * Store `len` bytes under `sha_hex`, which must be their SHA-256 (checked).
 * Storing a blob that is already there with the right size does nothing.
 * @param data borrowed.
 * @param path receives the blob's path (may be NULL).
 * @return 0, VMCTLD_STORE_EINVAL, VMCTLD_STORE_EHASH, VMCTLD_STORE_EIO.
 */
int vmctld_store_put(vmctld_store_t *s, vmctld_store_kind_t kind,
                     const char *sha_hex, const uint8_t *data, size_t len,
                     char *path, size_t pathlen);

/**
 * Read a whole blob into memory.
 * @param size the size the caller expects (from the registry).
 * @param out receives a malloc()ed copy the caller frees with free().
 * @return 0, VMCTLD_STORE_ENOENT, VMCTLD_STORE_ESIZE (the file has another
 *         size), VMCTLD_STORE_ETOOBIG (over VMCTLD_STORE_BLOB_MAX),
 *         VMCTLD_STORE_ENOMEM, VMCTLD_STORE_EIO.
 */
int vmctld_store_get(vmctld_store_t *s, vmctld_store_kind_t kind,
                     const char *sha_hex, uint64_t size, uint8_t **out,
                     size_t *len);

/** Remove a blob.  @return 0, VMCTLD_STORE_ENOENT, VMCTLD_STORE_EIO. */
int vmctld_store_delete(vmctld_store_t *s, vmctld_store_kind_t kind,
                        const char *sha_hex);

/**
 * Start a temporary file of exactly `size` bytes (1 ..
 * VMCTLD_STORE_BLOB_MAX) for a blob that arrives in pieces.
 * @param out receives it; end it with _commit() or _discard().
 * @return 0, VMCTLD_STORE_EINVAL, VMCTLD_STORE_ETOOBIG, VMCTLD_STORE_ENOMEM,
 *         VMCTLD_STORE_EIO.
 */
int vmctld_store_tmp_create(vmctld_store_t *s, uint64_t size,
                            vmctld_store_tmp_t **out);

/**
 * Write `len` bytes at `off` (the range must lie within the size).
 * @param data borrowed.
 * @return 0, VMCTLD_STORE_EINVAL, VMCTLD_STORE_EIO.
 */
int vmctld_store_tmp_write(vmctld_store_tmp_t *t, uint64_t off,
                           const void *data, size_t len);

/**
 * Check that the file's SHA-256 is `sha_hex`, then sync it and move it
 * into the store as that blob.  Frees `t` in every case.
 * @param path receives the blob's path (may be NULL).
 * @return 0, VMCTLD_STORE_EHASH (the file is removed), VMCTLD_STORE_EINVAL,
 *         VMCTLD_STORE_ENOMEM, VMCTLD_STORE_EIO.
 */
int vmctld_store_tmp_commit(vmctld_store_tmp_t *t, vmctld_store_kind_t kind,
                            const char *sha_hex, char *path, size_t pathlen);

/** Remove the temporary file and free `t`.  NULL is a no-op. */
void vmctld_store_tmp_discard(vmctld_store_tmp_t *t);

/**
 * Read a small file that is not a blob (a PEM key named in the config).
 * @param max the largest size accepted.
 * @param out receives a malloc()ed, NUL-terminated copy (free()).
 * @param err filled with a reason naming the path on failure.
 * @return 0, VMCTLD_STORE_ENOENT, VMCTLD_STORE_ETOOBIG, VMCTLD_STORE_ENOMEM,
 *         VMCTLD_STORE_EIO.
 */
int vmctld_store_read_file(const char *path, size_t max, char **out,
                           size_t *len, char *err, size_t errlen);

#endif /* VMCTLD_STORE_H */
