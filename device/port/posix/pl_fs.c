/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * POSIX port: files confined to a root directory.
 *
 * Every confined path is resolved by the kernel with openat2(RESOLVE_BENEATH)
 * where Linux has it, and otherwise by walk(), which opens one component at
 * a time with O_NOFOLLOW and never hands the kernel a ".." or a symbolic
 * link to follow.  Operations that act on a name rather than a file (mkdir,
 * unlink, rename, ...) resolve the parent directory that way and then use
 * the *at() call on the last component, which the kernel does not follow.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/openat2.h>
#include <sys/syscall.h>
#endif

#include "pl/pl.h"
#include "pl_internal.h"

#define FS_PATH_MAX 4096
#define FS_MAX_LINKS 40  /* as Linux's MAXSYMLINKS */
#define FS_MAX_DEPTH 256 /* directory nesting pl_fs_usage() descends */

/*
 * O_PATH opens anything (even without read permission, even a FIFO)
 * without side effects; where it is missing, O_NONBLOCK keeps a FIFO open
 * from hanging.
 */
#ifdef O_PATH
#define FS_O_LOOKUP O_PATH
#else
#define FS_O_LOOKUP (O_RDONLY | O_NONBLOCK)
#endif

#if defined(__linux__) && defined(SYS_openat2)
#define FS_HAVE_OPENAT2 1
#else
#define FS_HAVE_OPENAT2 0
#endif

/* 1: try openat2(); 0: walk().  Cleared when the kernel lacks openat2. */
static atomic_int fs_openat2 = FS_HAVE_OPENAT2;
static atomic_int fs_probed = 0;

int
pl__fs_use_openat2(int on)
{
    return atomic_exchange(&fs_openat2, on && FS_HAVE_OPENAT2);
}

static int
is_dot_or_dotdot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/*
 * check_path: refuses what no resolver may see.
 * Return: 0 if the path may be resolved; PL_EPERM for an absolute path,
 * PL_ENOENT for an empty one, PL_ENAMETOOLONG, PL_EINVAL for NULLs.
 */
static int
check_path(const pl_root_t *r, const char *path)
{
    if (r == NULL || r->fd < 0 || path == NULL)
        return PL_EINVAL;
    if (path[0] == '/')
        return PL_EPERM;
    if (path[0] == '\0')
        return PL_ENOENT;
    if (strlen(path) >= FS_PATH_MAX)
        return PL_ENAMETOOLONG;
    return 0;
}

#if FS_HAVE_OPENAT2
/*
 * open_beneath: resolves with openat2().
 * Return: a descriptor; PL_ENOSYS if the kernel (or a seccomp filter)
 * refuses openat2 itself; PL_EPERM if the path leaves the root or meets a
 * symbolic link the root forbids; another PL_E* code.
 */
static int
open_beneath(const pl_root_t *r, const char *path, int oflags, mode_t mode,
             int follow)
{
    struct open_how how;
    int fd, e, tries;

    memset(&how, 0, sizeof(how));
    how.flags = (uint64_t)(oflags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
    if (oflags & O_CREAT)
        how.mode = mode;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if (r->flags & PL_ROOT_NO_SYMLINKS)
        how.resolve |= RESOLVE_NO_SYMLINKS;
    for (tries = 0;; tries++) {
        fd = (int)syscall(SYS_openat2, r->fd, path, &how, sizeof(how));
        if (fd >= 0)
            return fd;
        e = errno;
        /*
         * EAGAIN means a concurrent rename made ".." resolution unsafe to
         * verify; the kernel asks us to retry.
         */
        if (e == EINTR || (e == EAGAIN && tries < 16))
            continue;
        break;
    }
    if (e == ENOSYS || e == E2BIG)
        return PL_ENOSYS;
    if (e == EXDEV)
        return PL_EPERM;
    if (e == ELOOP && (r->flags & PL_ROOT_NO_SYMLINKS))
        return PL_EPERM;
    return pl__errno(e);
}
#endif

static int
is_symlink_at(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISLNK(st.st_mode);
}

/*
 * reopen_chain: opens the directory "a/b/c" below the root, where every
 * component is known to have been a real directory; O_NOFOLLOW makes a
 * component swapped for a link since then fail instead of escaping.
 * Return: a descriptor or a negative PL_E* code.
 */
static int
reopen_chain(const pl_root_t *r, const char *chain)
{
    char buf[FS_PATH_MAX];
    char *comp, *save = NULL;
    int cur, fd;

    if ((cur = openat(r->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return pl__errno(errno);
    snprintf(buf, sizeof(buf), "%s", chain);
    for (comp = strtok_r(buf, "/", &save); comp != NULL;
         comp = strtok_r(NULL, "/", &save)) {
        fd = openat(cur, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        close(cur);
        if (fd < 0)
            return errno == ELOOP ? PL_EPERM : pl__errno(errno);
        cur = fd;
    }
    return cur;
}

/*
 * walk: the portable resolver.  `pend` holds what is left to resolve and
 * `done` the chain of real directories opened so far; `cur` is the last of
 * them.  ".." pops `done` (refused when it is empty: that would leave the
 * root), and a symbolic link is read and spliced in front of the rest, to
 * be resolved from the directory that holds it.  The kernel is only ever
 * asked to open a single name with O_NOFOLLOW.
 * Return: a descriptor or a negative PL_E* code.
 */
static int
walk(const pl_root_t *r, const char *path, int oflags, mode_t mode, int follow)
{
    char pend[FS_PATH_MAX], done[FS_PATH_MAX], name[NAME_MAX + 1];
    char link[FS_PATH_MAX];
    size_t donelen = 0, len;
    int cur, fd, e, rc, nlinks = 0;

    snprintf(pend, sizeof(pend), "%s", path);
    done[0] = '\0';
    if ((cur = openat(r->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return pl__errno(errno);
    for (;;) {
        const char *p = pend, *rest;
        int last, slash;

        while (*p == '/')
            p++;
        if (*p == '\0') {
            /* The path named a directory already open (e.g. "a/.."). */
            fd = openat(cur, ".", oflags | O_CLOEXEC, mode);
            rc = fd >= 0 ? fd : pl__errno(errno);
            close(cur);
            return rc;
        }
        len = strcspn(p, "/");
        if (len > NAME_MAX) {
            rc = PL_ENAMETOOLONG;
            goto fail;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        rest = p + len;
        slash = *rest == '/';
        last = rest[strspn(rest, "/")] == '\0';
        memmove(pend, rest, strlen(rest) + 1);

        if (strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            char *cut;
            if (donelen == 0) {
                rc = PL_EPERM;
                goto fail;
            }
            cut = strrchr(done, '/');
            donelen = cut != NULL ? (size_t)(cut - done) : 0;
            done[donelen] = '\0';
            close(cur);
            if ((cur = reopen_chain(r, done)) < 0)
                return cur;
            continue;
        }
        if (!last) {
            fd = openat(cur, name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd >= 0) {
                if (donelen + 1 + len + 1 > sizeof(done)) {
                    close(fd);
                    rc = PL_ENAMETOOLONG;
                    goto fail;
                }
                if (donelen > 0)
                    done[donelen++] = '/';
                memcpy(done + donelen, name, len + 1);
                donelen += len;
                close(cur);
                cur = fd;
                continue;
            }
        } else {
            int fl = oflags | O_NOFOLLOW | O_CLOEXEC;
            struct stat st;

            if (slash)
                fl |= O_DIRECTORY;
            fd = openat(cur, name, fl, mode);
            if (fd >= 0) {
                /* O_PATH|O_NOFOLLOW opens the link itself: follow it. */
                if (!(follow && (oflags & FS_O_LOOKUP) == FS_O_LOOKUP &&
                      fstat(fd, &st) == 0 && S_ISLNK(st.st_mode))) {
                    close(cur);
                    return fd;
                }
                close(fd);
                errno = ELOOP;
            }
            if (!follow && !slash) {
                e = errno;
                if (e == ELOOP && (r->flags & PL_ROOT_NO_SYMLINKS))
                    rc = PL_EPERM;
                else
                    rc = pl__errno(e);
                goto fail;
            }
        }
        e = errno;
        if ((e != ELOOP && e != ENOTDIR && e != EMLINK) ||
            !is_symlink_at(cur, name)) {
            rc = pl__errno(e);
            goto fail;
        }
        if ((r->flags & PL_ROOT_NO_SYMLINKS) != 0) {
            rc = PL_EPERM;
            goto fail;
        }
        if (++nlinks > FS_MAX_LINKS) {
            rc = PL_ELOOP;
            goto fail;
        }
        {
            ssize_t n = readlinkat(cur, name, link, sizeof(link) - 1);
            size_t plen = strlen(pend);
            if (n < 0) {
                rc = pl__errno(errno);
                goto fail;
            }
            if (n == 0) {
                rc = PL_ENOENT;
                goto fail;
            }
            if (link[0] == '/') {
                rc = PL_EPERM; /* RESOLVE_BENEATH refuses these too */
                goto fail;
            }
            if ((size_t)n + plen + 1 > sizeof(pend)) {
                rc = PL_ENAMETOOLONG;
                goto fail;
            }
            /* The rest starts with '/' (or is empty), so just prepend. */
            memmove(pend + n, pend, plen + 1);
            memcpy(pend, link, (size_t)n);
        }
    }
fail:
    close(cur);
    return rc;
}

/*
 * resolve: opens path beneath the root with open(2) flags, following a
 * final symbolic link only if `follow`.
 * Return: a descriptor or a negative PL_E* code.
 */
static int
resolve(const pl_root_t *r, const char *path, int oflags, mode_t mode,
        int follow)
{
    int rc;

    if ((rc = check_path(r, path)) != 0)
        return rc;
#if FS_HAVE_OPENAT2
    if (atomic_load(&fs_openat2)) {
        rc = open_beneath(r, path, oflags, mode, follow);
        if (rc != PL_ENOSYS)
            return rc;
        atomic_store(&fs_openat2, 0);
    }
#endif
    return walk(r, path, oflags, mode, follow);
}

/*
 * open_parent: resolves the directory holding the last component of path
 * and copies that component into name (NAME_MAX + 1 bytes).
 * Return: a descriptor; PL_EINVAL if the last component is "." or "..",
 * which no name operation may act on; another PL_E* code.
 */
static int
open_parent(const pl_root_t *r, const char *path, char *name)
{
    char buf[FS_PATH_MAX];
    char *slash, *base;
    size_t len;
    int rc;

    if ((rc = check_path(r, path)) != 0)
        return rc;
    len = strlen(path);
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = '\0';
    if ((slash = strrchr(buf, '/')) != NULL) {
        *slash = '\0';
        base = slash + 1;
    } else {
        base = buf;
    }
    if (is_dot_or_dotdot(base))
        return PL_EINVAL;
    if (strlen(base) > NAME_MAX)
        return PL_ENAMETOOLONG;
    strcpy(name, base);
    return resolve(r, slash != NULL ? buf : ".", O_RDONLY | O_DIRECTORY, 0, 1);
}

static int
probe_openat2(int dfd)
{
#if FS_HAVE_OPENAT2
    struct open_how how;
    int fd;

    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH;
    fd = (int)syscall(SYS_openat2, dfd, ".", &how, sizeof(how));
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    /* Old container seccomp profiles answer EPERM for unknown calls. */
    return 0;
#else
    (void)dfd;
    return 0;
#endif
}

int
pl_dir_open_root(pl_root_t *root, const char *path, unsigned flags)
{
    int fd;

    if (root == NULL || path == NULL)
        return PL_EINVAL;
    root->fd = -1;
    if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return pl__errno(errno);
    if (!atomic_exchange(&fs_probed, 1) && !probe_openat2(fd))
        atomic_store(&fs_openat2, 0);
    root->fd = fd;
    root->flags = flags;
    return 0;
}

void
pl_dir_close_root(pl_root_t *root)
{
    if (root == NULL || root->fd < 0)
        return;
    close(root->fd);
    root->fd = -1;
}

int
pl_fs_open(const pl_root_t *root, const char *path, unsigned flags,
           pl_file_t *f)
{
    int of, fd;

    if (f == NULL)
        return PL_EINVAL;
    f->fd = -1;
    switch (flags & (PL_O_READ | PL_O_WRITE)) {
    case PL_O_READ:
        of = O_RDONLY;
        break;
    case PL_O_WRITE:
        of = O_WRONLY;
        break;
    case PL_O_READ | PL_O_WRITE:
        of = O_RDWR;
        break;
    default:
        return PL_EINVAL;
    }
    if (flags & PL_O_CREATE)
        of |= O_CREAT;
    if (flags & PL_O_TRUNC)
        of |= O_TRUNC;
    if (flags & PL_O_APPEND)
        of |= O_APPEND;
    if (flags & PL_O_EXCL)
        of |= O_EXCL;
    if (flags & PL_O_DIRECTORY)
        of |= O_DIRECTORY;
    fd = resolve(root, path, of, 0644, !(flags & PL_O_NOFOLLOW));
    if (fd < 0)
        return fd;
    f->fd = fd;
    return 0;
}

int
pl_fs_mkdir(const pl_root_t *root, const char *path)
{
    char name[NAME_MAX + 1];
    int dfd, rc = 0;

    if ((dfd = open_parent(root, path, name)) < 0)
        return dfd;
    if (mkdirat(dfd, name, 0755) != 0)
        rc = pl__errno(errno);
    close(dfd);
    return rc;
}

static int
unlink_common(const pl_root_t *root, const char *path, int atflags)
{
    char name[NAME_MAX + 1];
    int dfd, rc = 0;

    if ((dfd = open_parent(root, path, name)) < 0)
        return dfd;
    if (unlinkat(dfd, name, atflags) != 0)
        rc = errno == EEXIST ? PL_ENOTEMPTY : pl__errno(errno);
    close(dfd);
    return rc;
}

int
pl_fs_unlink(const pl_root_t *root, const char *path)
{
    return unlink_common(root, path, 0);
}

int
pl_fs_rmdir(const pl_root_t *root, const char *path)
{
    return unlink_common(root, path, AT_REMOVEDIR);
}

int
pl_fs_rename(const pl_root_t *root, const char *from, const char *to)
{
    char n1[NAME_MAX + 1], n2[NAME_MAX + 1];
    int d1, d2, rc = 0;

    if ((d1 = open_parent(root, from, n1)) < 0)
        return d1;
    if ((d2 = open_parent(root, to, n2)) < 0) {
        close(d1);
        return d2;
    }
    if (renameat(d1, n1, d2, n2) != 0)
        rc = errno == EEXIST ? PL_ENOTEMPTY : pl__errno(errno);
    close(d2);
    close(d1);
    return rc;
}

int
pl_fs_symlink(const pl_root_t *root, const char *target, const char *path)
{
    char name[NAME_MAX + 1];
    int dfd, rc = 0;

    if (target == NULL || target[0] == '\0')
        return PL_EINVAL;
    if ((dfd = open_parent(root, path, name)) < 0)
        return dfd;
    if (symlinkat(target, dfd, name) != 0)
        rc = pl__errno(errno);
    close(dfd);
    return rc;
}

int
pl_fs_readlink(const pl_root_t *root, const char *path, char *buf, size_t len)
{
    char name[NAME_MAX + 1];
    ssize_t n;
    int dfd, rc = 0;

    if (buf == NULL || len == 0)
        return PL_EINVAL;
    if ((dfd = open_parent(root, path, name)) < 0)
        return dfd;
    n = readlinkat(dfd, name, buf, len);
    if (n < 0) {
        rc = pl__errno(errno);
        buf[0] = '\0';
    } else if ((size_t)n >= len) {
        rc = PL_ENAMETOOLONG;
        buf[len - 1] = '\0';
    } else {
        buf[n] = '\0';
    }
    close(dfd);
    return rc;
}

static uint64_t
ts_ns(const struct timespec *ts)
{
    if (ts->tv_sec < 0)
        return 0;
    return (uint64_t)ts->tv_sec * 1000000000u + (uint64_t)ts->tv_nsec;
}

static pl_ftype_t
mode_type(mode_t m)
{
    if (S_ISREG(m))
        return PL_FT_REG;
    if (S_ISDIR(m))
        return PL_FT_DIR;
    if (S_ISLNK(m))
        return PL_FT_SYMLINK;
    if (S_ISCHR(m))
        return PL_FT_CHR;
    if (S_ISBLK(m))
        return PL_FT_BLK;
    if (S_ISFIFO(m))
        return PL_FT_FIFO;
    if (S_ISSOCK(m))
        return PL_FT_SOCK;
    return PL_FT_UNKNOWN;
}

static void
fill_stat(const struct stat *s, pl_stat_t *st)
{
    st->dev = (uint64_t)s->st_dev;
    st->ino = (uint64_t)s->st_ino;
    st->nlink = (uint64_t)s->st_nlink;
    st->size = s->st_size > 0 ? (uint64_t)s->st_size : 0;
    st->atime_ns = ts_ns(&s->st_atim);
    st->mtime_ns = ts_ns(&s->st_mtim);
    st->ctime_ns = ts_ns(&s->st_ctim);
    st->type = mode_type(s->st_mode);
}

int
pl_fs_stat(const pl_root_t *root, const char *path, unsigned flags,
           pl_stat_t *st)
{
    char name[NAME_MAX + 1];
    struct stat s;
    int fd, rc = 0;

    if (st == NULL)
        return PL_EINVAL;
    if (flags & PL_STAT_NOFOLLOW) {
        fd = open_parent(root, path, name);
        if (fd >= 0) {
            if (fstatat(fd, name, &s, AT_SYMLINK_NOFOLLOW) != 0)
                rc = pl__errno(errno);
            else
                fill_stat(&s, st);
            close(fd);
            return rc;
        }
        /* "." and ".." are never links: stat them like any directory. */
        if (fd != PL_EINVAL)
            return fd;
    }
    if ((fd = resolve(root, path, FS_O_LOOKUP, 0, 1)) < 0)
        return fd;
    if (fstat(fd, &s) != 0)
        rc = pl__errno(errno);
    else
        fill_stat(&s, st);
    close(fd);
    return rc;
}

/*
 * usage_dir: adds the sizes of regular files beneath the directory dfd,
 * which it owns and closes.  Links are not followed, so neither a cycle
 * nor a link to a large file outside can inflate the count.
 * Return: 0 or a negative PL_E* code.
 */
static int
usage_dir(int dfd, uint64_t *sum, int depth)
{
    struct dirent *de;
    struct stat st;
    DIR *d;
    int rc = 0, fd;

    if (depth > FS_MAX_DEPTH) {
        close(dfd);
        return PL_ELOOP;
    }
    if ((d = fdopendir(dfd)) == NULL) {
        rc = pl__errno(errno);
        close(dfd);
        return rc;
    }
    for (;;) {
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno != 0)
                rc = pl__errno(errno);
            break;
        }
        if (is_dot_or_dotdot(de->d_name))
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* removed while we looked */
            rc = pl__errno(errno);
            break;
        }
        if (S_ISREG(st.st_mode)) {
            *sum += st.st_size > 0 ? (uint64_t)st.st_size : 0;
        } else if (S_ISDIR(st.st_mode)) {
            fd = openat(dirfd(d), de->d_name,
                        O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                rc = pl__errno(errno);
                break;
            }
            if ((rc = usage_dir(fd, sum, depth + 1)) != 0)
                break;
        }
    }
    closedir(d);
    return rc;
}

int
pl_fs_usage(const pl_root_t *root, uint64_t *bytes)
{
    uint64_t sum = 0;
    int fd, rc;

    if (root == NULL || root->fd < 0 || bytes == NULL)
        return PL_EINVAL;
    if ((fd = openat(root->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return pl__errno(errno);
    if ((rc = usage_dir(fd, &sum, 0)) != 0)
        return rc;
    *bytes = sum;
    return 0;
}

/* ---- open files ------------------------------------------------------ */

int
pl_file_close(pl_file_t *f)
{
    int rc = 0;

    if (f == NULL || f->fd < 0)
        return 0;
    /* Linux releases the descriptor even when close() says EINTR. */
    if (close(f->fd) != 0 && errno != EINTR)
        rc = pl__errno(errno);
    f->fd = -1;
    return rc;
}

int
pl_file_read(pl_file_t *f, void *buf, size_t len, size_t *n)
{
    ssize_t r;

    do
        r = read(f->fd, buf, len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_file_write(pl_file_t *f, const void *buf, size_t len, size_t *n)
{
    ssize_t r;

    do
        r = write(f->fd, buf, len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_file_pread(pl_file_t *f, void *buf, size_t len, uint64_t off, size_t *n)
{
    ssize_t r;

    if (off > (uint64_t)INT64_MAX)
        return PL_EINVAL;
    do
        r = pread(f->fd, buf, len, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_file_pwrite(pl_file_t *f, const void *buf, size_t len, uint64_t off,
               size_t *n)
{
    ssize_t r;

    if (off > (uint64_t)INT64_MAX)
        return PL_EINVAL;
    do
        r = pwrite(f->fd, buf, len, (off_t)off);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_file_seek(pl_file_t *f, int64_t off, int whence, uint64_t *pos)
{
    off_t r;
    int w;

    switch (whence) {
    case PL_SEEK_SET:
        w = SEEK_SET;
        break;
    case PL_SEEK_CUR:
        w = SEEK_CUR;
        break;
    case PL_SEEK_END:
        w = SEEK_END;
        break;
    default:
        return PL_EINVAL;
    }
    if ((r = lseek(f->fd, (off_t)off, w)) < 0)
        return pl__errno(errno);
    if (pos != NULL)
        *pos = (uint64_t)r;
    return 0;
}

int
pl_file_sync(pl_file_t *f)
{
    return fsync(f->fd) == 0 ? 0 : pl__errno(errno);
}

int
pl_file_stat(pl_file_t *f, pl_stat_t *st)
{
    struct stat s;

    if (fstat(f->fd, &s) != 0)
        return pl__errno(errno);
    fill_stat(&s, st);
    return 0;
}

int
pl_file_truncate(pl_file_t *f, uint64_t size)
{
    if (size > (uint64_t)INT64_MAX)
        return PL_EFBIG;
    return ftruncate(f->fd, (off_t)size) == 0 ? 0 : pl__errno(errno);
}

int
pl_file_lock(pl_file_t *f)
{
    if (flock(f->fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    return errno == EWOULDBLOCK ? PL_EBUSY : pl__errno(errno);
}

/* ---- directory listing ---------------------------------------------- */

static int
dir_from_fd(int fd, pl_dir_t *d)
{
    int rc;

    if ((d->dirp = fdopendir(fd)) == NULL) {
        rc = pl__errno(errno);
        close(fd);
        return rc;
    }
    return 0;
}

int
pl_dir_open(const pl_root_t *root, const char *path, pl_dir_t *d)
{
    int fd;

    if (d == NULL)
        return PL_EINVAL;
    d->dirp = NULL;
    if ((fd = resolve(root, path, O_RDONLY | O_DIRECTORY, 0, 1)) < 0)
        return fd;
    return dir_from_fd(fd, d);
}

int
pl_dir_open_file(pl_file_t *f, pl_dir_t *d)
{
    int fd;

    if (f == NULL || d == NULL)
        return PL_EINVAL;
    d->dirp = NULL;
    /* A fresh open, not dup(): the listing gets its own position. */
    if ((fd = openat(f->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return pl__errno(errno);
    return dir_from_fd(fd, d);
}

static pl_ftype_t
dirent_type(const struct dirent *de)
{
#ifdef DT_UNKNOWN
    switch (de->d_type) {
    case DT_REG:
        return PL_FT_REG;
    case DT_DIR:
        return PL_FT_DIR;
    case DT_LNK:
        return PL_FT_SYMLINK;
    case DT_CHR:
        return PL_FT_CHR;
    case DT_BLK:
        return PL_FT_BLK;
    case DT_FIFO:
        return PL_FT_FIFO;
    case DT_SOCK:
        return PL_FT_SOCK;
    default:
        return PL_FT_UNKNOWN;
    }
#else
    (void)de;
    return PL_FT_UNKNOWN;
#endif
}

int
pl_dir_read(pl_dir_t *d, pl_dirent_t *e)
{
    struct dirent *de;

    for (;;) {
        errno = 0;
        if ((de = readdir(d->dirp)) == NULL)
            return errno != 0 ? pl__errno(errno) : 0;
        if (!is_dot_or_dotdot(de->d_name))
            break;
    }
    e->ino = (uint64_t)de->d_ino;
    e->type = dirent_type(de);
    snprintf(e->name, sizeof(e->name), "%s", de->d_name);
    return 1;
}

void
pl_dir_rewind(pl_dir_t *d)
{
    rewinddir(d->dirp);
}

void
pl_dir_close(pl_dir_t *d)
{
    if (d == NULL || d->dirp == NULL)
        return;
    closedir(d->dirp);
    d->dirp = NULL;
}

/* ---- unconfined helpers ---------------------------------------------- */

int
pl_fs_mkdir_p(const char *path, unsigned mode)
{
    char buf[FS_PATH_MAX];
    struct stat st;
    size_t len, i;

    if (path == NULL || path[0] == '\0')
        return PL_EINVAL;
    if ((len = strlen(path)) >= sizeof(buf))
        return PL_ENAMETOOLONG;
    memcpy(buf, path, len + 1);
    for (i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
            return pl__errno(errno);
        if (i < len)
            buf[i] = '/';
    }
    if (stat(path, &st) != 0)
        return pl__errno(errno);
    return S_ISDIR(st.st_mode) ? 0 : PL_ENOTDIR;
}

int
pl_fs_mkdtemp(char *tmpl)
{
    if (tmpl == NULL)
        return PL_EINVAL;
    return mkdtemp(tmpl) != NULL ? 0 : pl__errno(errno);
}

/*
 * remove_at: removes name in directory dfd and, for a directory,
 * everything beneath it.  Links are removed, never followed.
 * Return: 0 or a negative PL_E* code.
 */
static int
remove_at(int dfd, const char *name, int depth)
{
    struct dirent *de;
    struct stat st;
    DIR *d;
    int fd, rc = 0;

    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : pl__errno(errno);
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dfd, name, 0) == 0 ? 0 : pl__errno(errno);
    if (depth > FS_MAX_DEPTH)
        return PL_ELOOP;
    fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return pl__errno(errno);
    if ((d = fdopendir(fd)) == NULL) {
        rc = pl__errno(errno);
        close(fd);
        return rc;
    }
    while (rc == 0) {
        errno = 0;
        if ((de = readdir(d)) == NULL) {
            if (errno != 0)
                rc = pl__errno(errno);
            break;
        }
        if (!is_dot_or_dotdot(de->d_name))
            rc = remove_at(dirfd(d), de->d_name, depth + 1);
    }
    closedir(d);
    if (rc == 0 && unlinkat(dfd, name, AT_REMOVEDIR) != 0)
        rc = pl__errno(errno);
    return rc;
}

int
pl_fs_remove_tree(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return PL_EINVAL;
    return remove_at(AT_FDCWD, path, 0);
}
