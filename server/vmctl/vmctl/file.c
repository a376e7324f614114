/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* vmctl: files (vmctl.h).  POSIX calls stay in this file. */

#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmctl.h"

bool
vmctl_file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

int
vmctl_file_read(const char *path, size_t max, uint8_t **out, size_t *len,
                char *err, size_t errlen)
{
    struct stat st;
    uint8_t *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        goto fail;
    }
    /* One byte more than the size, so that an empty file is not NULL. */
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", path,
                     n < 0 ? strerror(errno) : "shorter than its size");
            goto fail;
        }
        got += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = got;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

/* Write all of buf to fd.  Return: 0, or -1 with errno set. */
static int
write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    ssize_t n;

    while (len > 0) {
        n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync the directory holding `path`, so a rename in it is durable. */
static int
sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    int fd, rc;

    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == path)
        snprintf(dir, sizeof(dir), "/");
    else if ((size_t)(slash - path) < sizeof(dir))
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    else
        return -1;
    if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/*
 * write_file: tmp file with `mode`, fsync, then rename over `path` (or,
 * without `replace`, link to it, which fails if it exists: no window in
 * which another file could be overwritten), and fsync the directory if
 * `durable`.  Return: 0 or -1 with err set.
 */
static int
write_file(const char *path, const void *buf, size_t len, unsigned mode,
           bool replace, bool durable, char *err, size_t errlen)
{
    char tmp[4096 + 32];
    int fd;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
                         (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, errlen, "%s: path too long", path);
        return -1;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    /* The umask may have taken bits away; the caller's mode is meant. */
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, buf, len) != 0 ||
        fsync(fd) != 0) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 ||
        (replace ? rename(tmp, path) : link(tmp, path)) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    if (!replace)
        unlink(tmp);
    if (durable && sync_dir(path) != 0) {
        snprintf(err, errlen, "%s: fsync of its directory: %s", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

int
vmctl_file_write(const char *path, const void *buf, size_t len,
                 unsigned mode, bool replace, char *err, size_t errlen)
{
    return write_file(path, buf, len, mode, replace, false, err, errlen);
}

int
vmctl_file_write_atomic(const char *path, const void *buf, size_t len,
                        unsigned mode, char *err, size_t errlen)
{
    return write_file(path, buf, len, mode, true, true, err, errlen);
}
