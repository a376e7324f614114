/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_FS_H
#define PL_FS_H

/*
 * Files confined to a root directory.
 * Needed by: runtime vfs (each VM's quota'd file system, WASI preopens),
 * runtime state dirs and tests (pl_fs_mkdir_p, pl_fs_mkdtemp,
 * pl_fs_remove_tree).
 *
 * Every path operation takes a root handle and a path relative to it.  The
 * port guarantees the operation never touches anything outside the root:
 * absolute paths, ".." that would climb above the root, and symbolic links
 * whose target lies outside are refused with PL_EPERM.  ".." and symbolic
 * links that stay inside are allowed (symbolic links are refused with
 * PL_EPERM when the root was opened with PL_ROOT_NO_SYMLINKS).  Quotas are
 * the vfs's job; the port only reports sizes (pl_fs_usage()).
 *
 * Included by pl/pl.h; include that instead.
 */

#include <stddef.h>
#include <stdint.h>

#include "pl_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** pl_dir_open_root() flags. */
enum {
    PL_ROOT_NO_SYMLINKS = 1u << 0 /**< refuse every symbolic link */
};

/** pl_fs_open() flags; at least one of READ and WRITE. */
enum {
    PL_O_READ = 1u << 0,
    PL_O_WRITE = 1u << 1,
    PL_O_CREATE = 1u << 2,    /**< create if missing (mode 0644) */
    PL_O_TRUNC = 1u << 3,     /**< truncate to 0 (needs WRITE) */
    PL_O_APPEND = 1u << 4,    /**< every write goes to the end */
    PL_O_EXCL = 1u << 5,      /**< with CREATE: PL_EEXIST if it exists */
    PL_O_DIRECTORY = 1u << 6, /**< PL_ENOTDIR unless a directory */
    PL_O_NOFOLLOW = 1u << 7   /**< do not follow a final symlink */
};

/** File types in pl_stat_t and pl_dirent_t. */
typedef enum pl_ftype {
    PL_FT_UNKNOWN = 0,
    PL_FT_REG,
    PL_FT_DIR,
    PL_FT_SYMLINK,
    PL_FT_CHR,
    PL_FT_BLK,
    PL_FT_FIFO,
    PL_FT_SOCK
} pl_ftype_t;

/** Whence for pl_file_seek(). */
enum { PL_SEEK_SET = 0, PL_SEEK_CUR = 1, PL_SEEK_END = 2 };

/** pl_fs_stat() flags. */
enum { PL_STAT_NOFOLLOW = 1u << 0 };

/** What the vfs and WASI filestat need to know about a file. */
typedef struct pl_stat {
    uint64_t dev;
    uint64_t ino;
    uint64_t nlink;
    uint64_t size;
    uint64_t atime_ns; /**< wall clock, ns since the Unix epoch */
    uint64_t mtime_ns;
    uint64_t ctime_ns;
    pl_ftype_t type;
} pl_stat_t;

/** One directory entry from pl_dir_read(). */
typedef struct pl_dirent {
    uint64_t ino;
    pl_ftype_t type; /**< PL_FT_UNKNOWN if the OS does not say */
    char name[256];
} pl_dirent_t;

/* ---- roots ---------------------------------------------------------- */

/**
 * Open a directory as a root for the confined operations below.
 * @param path an ordinary (absolute or relative) path; not confined.
 * @param flags PL_ROOT_* bits.
 * @return 0, PL_ENOENT, PL_ENOTDIR, PL_EACCES, PL_EMFILE, ...
 */
int pl_dir_open_root(pl_root_t *root, const char *path, unsigned flags);

/** Close a root; files opened beneath it stay open.  NULL-safe. */
void pl_dir_close_root(pl_root_t *root);

/* ---- path operations, all confined to the root ---------------------- */

/**
 * Open or create a file (or, with PL_O_DIRECTORY and READ, a directory)
 * beneath the root.
 * @param f caller storage; closed with pl_file_close().
 * @return 0, PL_EPERM (escapes the root), PL_ENOENT, PL_EEXIST,
 *         PL_EISDIR, PL_ENOTDIR, PL_ELOOP, PL_EACCES, PL_EINVAL, ...
 */
int pl_fs_open(const pl_root_t *root, const char *path, unsigned flags,
               pl_file_t *f);

/** Create a directory (mode 0755).  @return 0, PL_EEXIST, PL_EPERM, ... */
int pl_fs_mkdir(const pl_root_t *root, const char *path);

/** Remove a non-directory (a symlink itself, not its target). */
int pl_fs_unlink(const pl_root_t *root, const char *path);

/** Remove an empty directory.  @return 0, PL_ENOTEMPTY, PL_ENOTDIR, ... */
int pl_fs_rmdir(const pl_root_t *root, const char *path);

/**
 * Rename within one root; both paths are confined.  Replaces `to` if it
 * exists, as rename(2) does.
 */
int pl_fs_rename(const pl_root_t *root, const char *from, const char *to);

/**
 * Create a symbolic link at `path` holding `target`.  The target text is
 * not checked here: following the link later is confined like any path.
 */
int pl_fs_symlink(const pl_root_t *root, const char *target, const char *path);

/**
 * Read a symbolic link's text into buf (NUL-terminated).
 * @return 0, PL_ENAMETOOLONG if it does not fit, PL_EINVAL if not a link.
 */
int pl_fs_readlink(const pl_root_t *root, const char *path, char *buf,
                   size_t len);

/** Stat by path; PL_STAT_NOFOLLOW describes a final symlink itself. */
int pl_fs_stat(const pl_root_t *root, const char *path, unsigned flags,
               pl_stat_t *st);

/**
 * Sum the sizes of all regular files beneath the root (symbolic links are
 * not followed), for quota accounting at start-up.
 */
int pl_fs_usage(const pl_root_t *root, uint64_t *bytes);

/* ---- open files ------------------------------------------------------ */

/** Close a file; NULL-safe and idempotent (f is reset to closed). */
int pl_file_close(pl_file_t *f);

/** Read up to len bytes; *n == 0 at end of file. */
int pl_file_read(pl_file_t *f, void *buf, size_t len, size_t *n);
/** Write up to len bytes; *n may be short. */
int pl_file_write(pl_file_t *f, const void *buf, size_t len, size_t *n);
/** Read at an offset without moving the file position. */
int pl_file_pread(pl_file_t *f, void *buf, size_t len, uint64_t off, size_t *n);
/** Write at an offset without moving the file position. */
int pl_file_pwrite(pl_file_t *f, const void *buf, size_t len, uint64_t off,
                   size_t *n);
/** Move the position; the new position goes to *pos if not NULL. */
int pl_file_seek(pl_file_t *f, int64_t off, int whence, uint64_t *pos);
/** Flush data and metadata to stable storage. */
int pl_file_sync(pl_file_t *f);
/** Describe an open file. */
int pl_file_stat(pl_file_t *f, pl_stat_t *st);
/** Set the size (grow with zeros or cut). */
int pl_file_truncate(pl_file_t *f, uint64_t size);
/**
 * Take an exclusive advisory lock on the whole file without waiting
 * (flock); it lasts until the file is closed or the process ends.
 * Needed by: vmrt-ota (one instance per state dir).
 * @return 0, PL_EBUSY (another open file holds it), PL_ENOSYS, ...
 */
int pl_file_lock(pl_file_t *f);

/* ---- directory listing ---------------------------------------------- */

/** Start listing a directory beneath the root. */
int pl_dir_open(const pl_root_t *root, const char *path, pl_dir_t *d);
/** Start listing a directory opened with pl_fs_open(); f stays open. */
int pl_dir_open_file(pl_file_t *f, pl_dir_t *d);
/**
 * Next entry ("." and ".." are skipped).
 * @return 1 with *e filled, 0 at the end, or a negative PL_E* code.
 */
int pl_dir_read(pl_dir_t *d, pl_dirent_t *e);
/** Start again from the first entry. */
void pl_dir_rewind(pl_dir_t *d);
/** Finish a listing; NULL-safe. */
void pl_dir_close(pl_dir_t *d);

/* ---- unconfined helpers (daemon state dirs, tests) ------------------- */

/** mkdir -p: create path and missing parents with `mode`. */
int pl_fs_mkdir_p(const char *path, unsigned mode);

/**
 * Create a fresh private directory from a template ending in "XXXXXX",
 * which is replaced in place (mkdtemp).
 */
int pl_fs_mkdtemp(char *tmpl);

/** rm -rf: remove path and everything beneath it, never following links. */
int pl_fs_remove_tree(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* PL_FS_H */
