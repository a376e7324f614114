/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* The POSIX port: Linux and other Unix-like hosts. */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pl/pl.h"
#include "pl_internal.h"

const char *
pl_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define PL_XX_(name, val, msg)                                               \
    case PL_##name:                                                          \
        return msg;
        PL_ERRNO_MAP(PL_XX_)
#undef PL_XX_
    default:
        return "unknown error";
    }
}

int
pl__errno(int e)
{
    switch (e) {
    case ENOENT:
        return PL_ENOENT;
    case ENOTDIR:
        return PL_ENOTDIR;
    case EACCES:
        return PL_EACCES;
    case EPERM:
        return PL_EPERM;
    case ENOMEM:
    case ENOBUFS:
        return PL_ENOMEM;
    case EFBIG:
        return PL_EFBIG;
    case EINTR:
        return PL_EINTR;
    case EINVAL:
        return PL_EINVAL;
    case EEXIST:
        return PL_EEXIST;
    case EISDIR:
        return PL_EISDIR;
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
        return PL_ENOSPC;
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return PL_EAGAIN;
    case ETIMEDOUT:
        return PL_ETIMEDOUT;
    case ECONNREFUSED:
        return PL_ECONNREFUSED;
    case EADDRINUSE:
        return PL_EADDRINUSE;
    case ENOTEMPTY:
        return PL_ENOTEMPTY;
    case EBADF:
        return PL_EBADF;
    case ENAMETOOLONG:
        return PL_ENAMETOOLONG;
    case ELOOP:
        return PL_ELOOP;
    case EBUSY:
        return PL_EBUSY;
    case EXDEV:
        return PL_EXDEV;
    case EPIPE:
        return PL_EPIPE;
    case ECONNRESET:
        return PL_ECONNRESET;
    case ECONNABORTED:
        return PL_ECONNABORTED;
    case ENOTCONN:
        return PL_ENOTCONN;
    case EADDRNOTAVAIL:
        return PL_EADDRNOTAVAIL;
    case ENETUNREACH:
    case ENETDOWN:
        return PL_ENETUNREACH;
    case EHOSTUNREACH:
        return PL_EHOSTUNREACH;
    case EAFNOSUPPORT:
        return PL_EAFNOSUPPORT;
    case EMSGSIZE:
        return PL_EMSGSIZE;
    case EMFILE:
    case ENFILE:
        return PL_EMFILE;
    case ECHILD:
        return PL_ECHILD;
    case ESRCH:
        return PL_ESRCH;
    case ENOSYS:
    case EOPNOTSUPP:
        return PL_ENOSYS;
    case EROFS:
        return PL_EROFS;
    case ESPIPE:
        return PL_ESPIPE;
    case EINPROGRESS:
        return PL_EINPROGRESS;
    case EOVERFLOW:
        return PL_EOVERFLOW;
    default:
        return PL_EIO;
    }
}

static uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
pl_time_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t
pl_time_real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

uint64_t
pl_time_res_ns(void)
{
    struct timespec ts;
    if (clock_getres(CLOCK_MONOTONIC, &ts) != 0)
        return 1000;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
pl_sleep_ns(uint64_t ns)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    nanosleep(&ts, NULL);
}

int
pl_random(void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return PL_EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
pl_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
    struct stat st;
    uint8_t *buf;
    size_t off = 0;
    int fd, rc;

    *out = NULL;
    *len = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return pl__errno(errno);
    if (fstat(fd, &st) != 0) {
        rc = pl__errno(errno);
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = PL_EINVAL;
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        rc = PL_EFBIG;
        goto fail;
    }
    if ((buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
        rc = PL_ENOMEM;
        goto fail;
    }
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? pl__errno(errno) : PL_EIO;
            free(buf);
            goto fail;
        }
        off += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = off;
    return 0;
fail:
    close(fd);
    return rc;
}

void
pl_free_file(uint8_t *buf)
{
    free(buf);
}

static int
write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return pl__errno(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
pl_file_write_atomic(const char *path, const void *buf, size_t len)
{
    char tmp[4096];
    int fd, rc;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return PL_EINVAL;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return pl__errno(errno);
    if ((rc = write_all(fd, buf, len)) != 0 || fsync(fd) != 0) {
        if (rc == 0)
            rc = pl__errno(errno);
        close(fd);
        unlink(tmp);
        return rc;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        rc = pl__errno(errno);
        unlink(tmp);
        return rc;
    }
    return 0;
}

long
pl_stdio_write(int stream, const void *buf, size_t len)
{
    int rc;
    if (stream != 1 && stream != 2)
        return PL_EINVAL;
    if ((rc = write_all(stream, buf, len)) != 0)
        return rc;
    return (long)len;
}

int
pl_stdio_isatty(int stream)
{
    return isatty(stream);
}

int
pl_cpu_count(void)
{
    long n;
#ifdef CPU_COUNT
    cpu_set_t set;

    /* The affinity mask, not the machine, is what a container gets. */
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
#endif
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

pl_pid_t
pl_getpid(void)
{
    return (pl_pid_t)getpid();
}

pl_pid_t
pl_getppid(void)
{
    return (pl_pid_t)getppid();
}

uint32_t
pl_getuid(void)
{
    return (uint32_t)getuid();
}

uint32_t
pl_getgid(void)
{
    return (uint32_t)getgid();
}

int
pl_hostname(char *buf, size_t len)
{
    char name[256];

    if (len == 0)
        return PL_EINVAL;
    if (gethostname(name, sizeof(name)) != 0)
        return pl__errno(errno);
    /* POSIX leaves truncated names unterminated. */
    name[sizeof(name) - 1] = '\0';
    if (strlen(name) >= len) {
        memcpy(buf, name, len - 1);
        buf[len - 1] = '\0';
        return PL_ENAMETOOLONG;
    }
    strcpy(buf, name);
    return 0;
}
