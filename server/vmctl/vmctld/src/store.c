/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The content-addressed blob store (store.h).  Every write goes through
 * a temporary file in tmp/ that is synced and renamed, and the directory
 * of the new name is synced too, so the rename itself survives a crash.
 * Temporary files are made with mkstemp() and are the only files in tmp/;
 * vmctld_store_open() removes those an earlier run left behind.
 */

#define _POSIX_C_SOURCE 200809L /* mkstemp, pread, pwrite, fsync, openat */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "vmf/vpk.h"

#define STORE_PATH_MAX 1024

struct vmctld_store {
    char dir[STORE_PATH_MAX];
};

struct vmctld_store_tmp {
    vmctld_store_t *s;
    int fd;
    uint64_t size;
    char path[STORE_PATH_MAX];
};

static const struct {
    int code;
    const char *text;
} errtab[] = {
#define VMCTLD_STORE_ERR_ROW(name, val, text) { (val), (text) },
    VMCTLD_STORE_ERRORS(VMCTLD_STORE_ERR_ROW)
#undef VMCTLD_STORE_ERR_ROW
};

static const char *const kind_dirs[] = {
    [VMCTLD_STORE_PACKAGE] = "packages",
    [VMCTLD_STORE_SNAPSHOT] = "snapshots",
};

const char *
vmctld_store_strerror(int err)
{
    size_t i;

    if (err == 0)
        return "success";
    for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].code == err)
            return errtab[i].text;
    return "unknown error";
}

__attribute__((format(printf, 3, 4))) static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* True for exactly 64 lowercase hex digits. */
static bool
sha_ok(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static bool
kind_ok(vmctld_store_kind_t kind)
{
    return (unsigned)kind < sizeof(kind_dirs) / sizeof(kind_dirs[0]);
}

static void
hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* snprintf into buf; @return 0, or VMCTLD_STORE_EINVAL if it did not fit. */
__attribute__((format(printf, 3, 4))) static int
path_fmt(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        if (len > 0)
            buf[0] = '\0';
        return VMCTLD_STORE_EINVAL;
    }
    return 0;
}

/* mkdir that accepts an existing directory. */
static int
mkdir_ok(const char *path)
{
    struct stat st;

    if (mkdir(path, 0750) == 0)
        return 0;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return -1;
}

/* fsync a directory, so that a rename or create in it is durable. */
static int
sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0)
        return VMCTLD_STORE_EIO;
    if (fsync(fd) != 0 && errno != EINVAL)
        rc = VMCTLD_STORE_EIO;
    close(fd);
    return rc;
}

static int
write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    ssize_t w;

    while (len > 0) {
        w = pwrite(fd, p, len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return VMCTLD_STORE_EIO;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int
read_all(int fd, uint8_t *p, size_t len)
{
    uint64_t off = 0;
    ssize_t r;

    while (len > 0) {
        r = pread(fd, p, len, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return VMCTLD_STORE_EIO;
        }
        if (r == 0)
            return VMCTLD_STORE_ESIZE; /* shrank under us */
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Remove every file in dir (not recursive: tmp/ has no sub-directories). */
static void
clean_dir(const char *dir)
{
    char path[STORE_PATH_MAX + 64];
    struct dirent *e;
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (path_fmt(path, sizeof(path), "%s/%s", dir, e->d_name) == 0)
            unlink(path);
    }
    closedir(d);
}

int
vmctld_store_open(const char *dir, vmctld_store_t **out, char *err,
                  size_t errlen)
{
    char path[STORE_PATH_MAX + 32];
    vmctld_store_t *s;
    size_t i;

    if (dir == NULL || dir[0] == '\0' || out == NULL) {
        seterr(err, errlen, "store: no directory given");
        return VMCTLD_STORE_EINVAL;
    }
    /* Room for "/snapshots/ab/" + 64 digits after the directory. */
    if (strlen(dir) + 96 >= STORE_PATH_MAX) {
        seterr(err, errlen, "store: directory name too long (%zu bytes)",
               strlen(dir));
        return VMCTLD_STORE_EINVAL;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        seterr(err, errlen, "store: out of memory");
        return VMCTLD_STORE_ENOMEM;
    }
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    if (mkdir_ok(s->dir) != 0) {
        seterr(err, errlen, "store: %s: %s", s->dir, strerror(errno));
        goto fail;
    }
    for (i = 0; i < sizeof(kind_dirs) / sizeof(kind_dirs[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", s->dir, kind_dirs[i]);
        if (mkdir_ok(path) != 0) {
            seterr(err, errlen, "store: %s: %s", path, strerror(errno));
            goto fail;
        }
    }
    snprintf(path, sizeof(path), "%s/tmp", s->dir);
    if (mkdir_ok(path) != 0) {
        seterr(err, errlen, "store: %s: %s", path, strerror(errno));
        goto fail;
    }
    clean_dir(path);
    *out = s;
    return 0;
fail:
    free(s);
    return VMCTLD_STORE_EIO;
}

void
vmctld_store_close(vmctld_store_t *s)
{
    free(s);
}

int
vmctld_store_path(const vmctld_store_t *s, vmctld_store_kind_t kind,
                  const char *sha_hex, char *buf, size_t len)
{
    if (s == NULL || buf == NULL || !kind_ok(kind) || !sha_ok(sha_hex))
        return VMCTLD_STORE_EINVAL;
    return path_fmt(buf, len, "%s/%s/%.2s/%s", s->dir, kind_dirs[kind],
                    sha_hex, sha_hex);
}

/* Make a temporary file in tmp/; @return its fd or -1. */
static int
tmp_open(const vmctld_store_t *s, char *path, size_t len)
{
    int fd;

    if (path_fmt(path, len, "%s/tmp/blob-XXXXXX", s->dir) != 0)
        return -1;
    if ((fd = mkstemp(path)) < 0)
        return -1;
    return fd;
}

/*
 * place: move the synced temporary file `tmp` into the store as
 * kind/sha, creating the fan-out directory, and sync the directories.
 * Return: 0 or VMCTLD_STORE_EIO (the temporary file is then removed).
 */
static int
place(vmctld_store_t *s, vmctld_store_kind_t kind, const char *sha,
      const char *tmp, char *out, size_t outlen)
{
    char sub[STORE_PATH_MAX], top[STORE_PATH_MAX], dst[STORE_PATH_MAX];
    struct stat st;
    bool made = false;

    if (path_fmt(top, sizeof(top), "%s/%s", s->dir, kind_dirs[kind]) != 0 ||
        path_fmt(sub, sizeof(sub), "%s/%.2s", top, sha) != 0 ||
        vmctld_store_path(s, kind, sha, dst, sizeof(dst)) != 0)
        goto fail;
    if (stat(sub, &st) != 0) {
        if (mkdir_ok(sub) != 0)
            goto fail;
        made = true;
    }
    if (rename(tmp, dst) != 0)
        goto fail;
    if (sync_dir(sub) != 0 || (made && sync_dir(top) != 0))
        return VMCTLD_STORE_EIO;
    if (out != NULL && path_fmt(out, outlen, "%s", dst) != 0)
        return VMCTLD_STORE_EINVAL;
    return 0;
fail:
    unlink(tmp);
    return VMCTLD_STORE_EIO;
}

int
vmctld_store_put(vmctld_store_t *s, vmctld_store_kind_t kind,
                 const char *sha_hex, const uint8_t *data, size_t len,
                 char *path, size_t pathlen)
{
    char dst[STORE_PATH_MAX], tmp[STORE_PATH_MAX], got[65];
    uint8_t digest[32];
    struct stat st;
    int fd, rc;

    if (s == NULL || (data == NULL && len > 0) || !kind_ok(kind) ||
        !sha_ok(sha_hex))
        return VMCTLD_STORE_EINVAL;
    if (vmf_sha256(data, len, digest) != 0)
        return VMCTLD_STORE_EINVAL;
    hex(digest, sizeof(digest), got);
    if (strcmp(got, sha_hex) != 0)
        return VMCTLD_STORE_EHASH;
    if ((rc = vmctld_store_path(s, kind, sha_hex, dst, sizeof(dst))) != 0)
        return rc;
    /* Content-addressed: the same name holds the same bytes. */
    if (stat(dst, &st) == 0 && S_ISREG(st.st_mode) &&
        (uint64_t)st.st_size == (uint64_t)len) {
        if (path != NULL)
            return path_fmt(path, pathlen, "%s", dst);
        return 0;
    }
    if ((fd = tmp_open(s, tmp, sizeof(tmp))) < 0)
        return VMCTLD_STORE_EIO;
    rc = write_all(fd, data, len, 0);
    if (rc == 0 && fsync(fd) != 0)
        rc = VMCTLD_STORE_EIO;
    if (close(fd) != 0 && rc == 0)
        rc = VMCTLD_STORE_EIO;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return place(s, kind, sha_hex, tmp, path, pathlen);
}

int
vmctld_store_get(vmctld_store_t *s, vmctld_store_kind_t kind,
                 const char *sha_hex, uint64_t size, uint8_t **out,
                 size_t *len)
{
    char path[STORE_PATH_MAX];
    struct stat st;
    uint8_t *buf;
    int fd, rc;

    if (s == NULL || out == NULL || len == NULL)
        return VMCTLD_STORE_EINVAL;
    if ((rc = vmctld_store_path(s, kind, sha_hex, path, sizeof(path))) != 0)
        return rc;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? VMCTLD_STORE_ENOENT : VMCTLD_STORE_EIO;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return VMCTLD_STORE_EIO;
    }
    if ((uint64_t)st.st_size != size) {
        close(fd);
        return VMCTLD_STORE_ESIZE;
    }
    if (size > VMCTLD_STORE_BLOB_MAX) {
        close(fd);
        return VMCTLD_STORE_ETOOBIG;
    }
    /* malloc(0) may return NULL: keep one byte for an empty blob. */
    if ((buf = malloc(size > 0 ? (size_t)size : 1)) == NULL) {
        close(fd);
        return VMCTLD_STORE_ENOMEM;
    }
    rc = read_all(fd, buf, (size_t)size);
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *len = (size_t)size;
    return 0;
}

int
vmctld_store_delete(vmctld_store_t *s, vmctld_store_kind_t kind,
                    const char *sha_hex)
{
    char path[STORE_PATH_MAX];
    int rc;

    if (s == NULL)
        return VMCTLD_STORE_EINVAL;
    if ((rc = vmctld_store_path(s, kind, sha_hex, path, sizeof(path))) != 0)
        return rc;
    if (unlink(path) != 0)
        return errno == ENOENT ? VMCTLD_STORE_ENOENT : VMCTLD_STORE_EIO;
    return 0;
}

int
vmctld_store_tmp_create(vmctld_store_t *s, uint64_t size,
                        vmctld_store_tmp_t **out)
{
    vmctld_store_tmp_t *t;

    if (s == NULL || out == NULL || size == 0)
        return VMCTLD_STORE_EINVAL;
    if (size > VMCTLD_STORE_BLOB_MAX)
        return VMCTLD_STORE_ETOOBIG;
    if ((t = calloc(1, sizeof(*t))) == NULL)
        return VMCTLD_STORE_ENOMEM;
    t->s = s;
    t->size = size;
    if ((t->fd = tmp_open(s, t->path, sizeof(t->path))) < 0) {
        free(t);
        return VMCTLD_STORE_EIO;
    }
    /* The full size now: chunks land at any offset, in any order. */
    if (ftruncate(t->fd, (off_t)size) != 0) {
        vmctld_store_tmp_discard(t);
        return VMCTLD_STORE_EIO;
    }
    *out = t;
    return 0;
}

int
vmctld_store_tmp_write(vmctld_store_tmp_t *t, uint64_t off, const void *data,
                       size_t len)
{
    if (t == NULL || (data == NULL && len > 0) || off > t->size ||
        len > t->size - off)
        return VMCTLD_STORE_EINVAL;
    return write_all(t->fd, data, len, off);
}

int
vmctld_store_tmp_commit(vmctld_store_tmp_t *t, vmctld_store_kind_t kind,
                        const char *sha_hex, char *path, size_t pathlen)
{
    char got[65], tmp[STORE_PATH_MAX];
    uint8_t digest[32];
    uint8_t *buf = NULL;
    int rc;

    if (t == NULL)
        return VMCTLD_STORE_EINVAL;
    if (!kind_ok(kind) || !sha_ok(sha_hex)) {
        rc = VMCTLD_STORE_EINVAL;
        goto fail;
    }
    /* Hash what is on disk, not what was meant to be written. */
    if ((buf = malloc((size_t)t->size)) == NULL) {
        rc = VMCTLD_STORE_ENOMEM;
        goto fail;
    }
    if ((rc = read_all(t->fd, buf, (size_t)t->size)) != 0)
        goto fail;
    if (vmf_sha256(buf, (size_t)t->size, digest) != 0) {
        rc = VMCTLD_STORE_EIO;
        goto fail;
    }
    free(buf);
    buf = NULL;
    hex(digest, sizeof(digest), got);
    if (strcmp(got, sha_hex) != 0) {
        rc = VMCTLD_STORE_EHASH;
        goto fail;
    }
    if (fsync(t->fd) != 0) {
        rc = VMCTLD_STORE_EIO;
        goto fail;
    }
    close(t->fd);
    t->fd = -1;
    snprintf(tmp, sizeof(tmp), "%s", t->path);
    rc = place(t->s, kind, sha_hex, tmp, path, pathlen);
    free(t);
    return rc;
fail:
    free(buf);
    vmctld_store_tmp_discard(t);
    return rc;
}

void
vmctld_store_tmp_discard(vmctld_store_tmp_t *t)
{
    if (t == NULL)
        return;
    if (t->fd >= 0)
        close(t->fd);
    unlink(t->path);
    free(t);
}

int
vmctld_store_read_file(const char *path, size_t max, char **out,
                       size_t *len, char *err, size_t errlen)
{
    struct stat st;
    char *buf;
    int fd, rc;

    if (path == NULL || out == NULL) {
        seterr(err, errlen, "no path given");
        return VMCTLD_STORE_EINVAL;
    }
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        seterr(err, errlen, "%s: %s", path, strerror(errno));
        return errno == ENOENT ? VMCTLD_STORE_ENOENT : VMCTLD_STORE_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        seterr(err, errlen, "%s: not a regular file", path);
        close(fd);
        return VMCTLD_STORE_EIO;
    }
    if ((uint64_t)st.st_size > max) {
        seterr(err, errlen, "%s: %lld bytes, more than %zu", path,
               (long long)st.st_size, max);
        close(fd);
        return VMCTLD_STORE_ETOOBIG;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        seterr(err, errlen, "%s: out of memory", path);
        close(fd);
        return VMCTLD_STORE_ENOMEM;
    }
    rc = read_all(fd, (uint8_t *)buf, (size_t)st.st_size);
    close(fd);
    if (rc != 0) {
        seterr(err, errlen, "%s: read error", path);
        free(buf);
        return rc;
    }
    buf[st.st_size] = '\0';
    *out = buf;
    if (len != NULL)
        *len = (size_t)st.st_size;
    return 0;
}
