/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * WASI preview1 over the public engine API.  Every guest pointer and
 * length is checked against linear memory before use (EFAULT, never a
 * host crash), and every multi-byte value is read and written explicitly
 * little-endian, since guest memory has no alignment guarantee.
 */

#include <string.h>

#include "engine/module.h" /* vmrt__malloc / vmrt__free only */
#include "pl/pl.h"
#include "vmrt/vmrt.h"
#include "vmrt/wasi.h"

/* Preview1 clock ids, subscription and event layout. */
#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_PROCESS_CPUTIME 2
#define CLOCK_THREAD_CPUTIME 3
#define SUB_SIZE 48
#define SUB_TAG 8
#define SUB_CLOCK_ID 16
#define SUB_CLOCK_TIMEOUT 24
#define SUB_CLOCK_FLAGS 40
#define SUBCLOCK_ABSTIME 1
#define EVENT_SIZE 32
#define EVENTTYPE_CLOCK 0
#define FILETYPE_BLOCK_DEVICE 1
#define FILETYPE_CHARACTER_DEVICE 2
#define FILETYPE_DIRECTORY 3
#define FILETYPE_REGULAR 4
#define FILETYPE_SOCKET_STREAM 6
#define FILETYPE_SYMLINK 7
#define RIGHT_FD_DATASYNC (1ull << 0)
#define RIGHT_FD_READ (1ull << 1)
#define RIGHT_FD_SEEK (1ull << 2)
#define RIGHT_FD_FDSTAT_SET (1ull << 3)
#define RIGHT_FD_SYNC (1ull << 4)
#define RIGHT_FD_TELL (1ull << 5)
#define RIGHT_FD_WRITE (1ull << 6)
#define RIGHT_FD_ADVISE (1ull << 7)
#define RIGHT_FD_ALLOCATE (1ull << 8)
#define RIGHT_FD_READDIR (1ull << 14)
#define RIGHT_FD_FILESTAT_GET (1ull << 21)
#define RIGHT_FD_FILESTAT_SET_SIZE (1ull << 22)
#define RIGHT_POLL_FD_READWRITE (1ull << 27)
#define OFLAG_CREAT 1u
#define OFLAG_DIRECTORY 2u
#define OFLAG_EXCL 4u
#define OFLAG_TRUNC 8u
#define FDFLAG_APPEND 1u
#define FDFLAG_NONBLOCK 4u
#define LOOKUP_SYMLINK_FOLLOW 1u
/* Preview1 errno values beyond the public ones in vmrt/wasi.h. */
#define WASI_EACCES 2
#define WASI_EAGAIN 6
#define WASI_EBUSY 10
#define WASI_EEXIST 20
#define WASI_EFBIG 22
#define WASI_EISDIR 31
#define WASI_ELOOP 32
#define WASI_EMFILE 33
#define WASI_ENAMETOOLONG 37
#define WASI_ENOENT 44
#define WASI_ENOMEM 48
#define WASI_ENOTDIR 54
#define WASI_ENOTEMPTY 55
#define WASI_EOVERFLOW 61
#define WASI_EROFS 69
#define WASI_EXDEV 75
/* The guest's file table: stdio, the root, then opened files. */
#ifndef VMRT_WASI_MAX_FDS
#define VMRT_WASI_MAX_FDS 32
#endif
#define WASI_MAX_FDS VMRT_WASI_MAX_FDS
#define WASI_ROOT_FD 3u
/* Longest path beneath the root (the port's own limit is larger). */
#define WASI_PATH_MAX 512
/* Like POSIX IOV_MAX: bounds the work of one fd_write call. */
#define WASI_IOV_MAX 1024
/* Bounds the work of one poll_oneoff call, which no fuel pays for. */
#define WASI_POLL_MAX 1024

/* An open file or directory beneath the root. */
enum { WFD_FILE = 0, WFD_DIR = 1 };
typedef struct wfd {
    pl_file_t f;
    pl_dir_t dir;       /* listing state for fd_readdir */
    uint64_t dir_pos;   /* entries consumed from `dir` */
    uint64_t rights, inherit; /* as the guest asked (kept for snapshots) */
    uint8_t kind;       /* WFD_FILE or WFD_DIR */
    uint8_t pflags;     /* PL_O_READ | PL_O_WRITE it was opened with */
    uint8_t append;     /* FDFLAG_APPEND: done here, not by the port */
    uint8_t dir_open;
    uint8_t preopen;    /* the root itself, fd 3 */
    char path[];        /* relative to the root; "." is the root */
} wfd_t;

struct vmrt_wasi {
    int is_static;
    /* Files: the root, its quota, the guest's table. */
    int has_root;
    pl_root_t root;
    uint64_t quota, usage; /* bytes; quota 0 = unlimited */
    wfd_t *fds[WASI_MAX_FDS];
    int (*block)(void *arg, vmrt_instance_t *inst, uint64_t deadline_ns);
    void (*wait_end)(void *arg, vmrt_instance_t *inst);
    void *block_arg;
    int yielding; /* sched_yield blocked once and is being retried */
    uint32_t argc, envc;
    const char *const *argv;
    const char *const *envp;
    void *copies; /* one block holding argv/envp copies, or NULL */
    vmrt_wasi_write_fn_t out, err;
    void *sink_arg;
    unsigned closed; /* bit n: guest closed stdio fd n */

    /* A poll_oneoff that blocked: its identity and timing. */
    int pending;
    uint32_t poll_in, poll_out, poll_n;
    uint64_t t0_mono, t0_real, deadline;

    int exited;
    uint32_t exit_code;
};

/* ------------------------------------------------------------------ */
/* Guest memory                                                       */
/* ------------------------------------------------------------------ */

/*
 * wasi_mem: the host address of guest range [ptr, ptr + len).
 * Return: the pointer, or NULL if the range is not all inside memory 0.
 */
static uint8_t *
wasi_mem(vmrt_instance_t *inst, uint32_t ptr, uint64_t len)
{
    uint64_t size = 0;
    uint8_t *base = vmrt_instance_memory(inst, &size);

    if (base == NULL || (uint64_t)ptr + len > size)
        return NULL;
    return base + ptr;
}

static void
put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
put_u64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t
get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/* Arguments are 64-bit slots; an i32 is the low half. */
#define ARG32(i) ((uint32_t)args[(i)])
#define ARG64(i) (args[(i)])
/* Store the errno result and finish the call. */
#define RET(e)                                                                 \
    do {                                                                       \
        results[0] = (uint32_t)(e);                                            \
        return 0;                                                              \
    } while (0)

/* ------------------------------------------------------------------ */
/* Arguments and environment                                          */
/* ------------------------------------------------------------------ */

/*
 * strings_sizes / strings_get: the shared body of args_* and environ_*.
 * Return: a WASI errno.
 */
static int
strings_sizes(vmrt_instance_t *inst, uint32_t n, const char *const *v,
              uint32_t count_ptr, uint32_t size_ptr)
{
    uint8_t *pc = wasi_mem(inst, count_ptr, 4);
    uint8_t *ps = wasi_mem(inst, size_ptr, 4);
    uint64_t total = 0;
    uint32_t i;

    if (pc == NULL || ps == NULL)
        return VMRT_WASI_EFAULT;
    for (i = 0; i < n; i++)
        total += strlen(v[i]) + 1;
    put_u32(pc, n);
    put_u32(ps, (uint32_t)total); /* bounded at create time */
    return VMRT_WASI_ESUCCESS;
}

static int
strings_get(vmrt_instance_t *inst, uint32_t n, const char *const *v,
            uint32_t ptrs, uint32_t buf)
{
    uint8_t *pp, *pb;
    uint64_t total = 0;
    uint32_t i;
    size_t len;

    for (i = 0; i < n; i++)
        total += strlen(v[i]) + 1;
    pp = wasi_mem(inst, ptrs, (uint64_t)n * 4);
    pb = wasi_mem(inst, buf, total);
    if (pp == NULL || pb == NULL)
        return VMRT_WASI_EFAULT;
    total = 0;
    for (i = 0; i < n; i++) {
        len = strlen(v[i]) + 1;
        put_u32(pp + 4 * (size_t)i, (uint32_t)(buf + total));
        memcpy(pb + total, v[i], len);
        total += len;
    }
    return VMRT_WASI_ESUCCESS;
}

static int
wasi_args_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    RET(strings_get(inst, w->argc, w->argv, ARG32(0), ARG32(1)));
}

static int
wasi_args_sizes_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                    uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    RET(strings_sizes(inst, w->argc, w->argv, ARG32(0), ARG32(1)));
}

static int
wasi_environ_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                 uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    RET(strings_get(inst, w->envc, w->envp, ARG32(0), ARG32(1)));
}

static int
wasi_environ_sizes_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                       uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    RET(strings_sizes(inst, w->envc, w->envp, ARG32(0), ARG32(1)));
}

/* ------------------------------------------------------------------ */
/* Clocks                                                             */
/* ------------------------------------------------------------------ */

/*
 * The CPU-time clocks have no port-layer equivalent; a VM's CPU time is
 * approximated by the monotonic clock, which is what programs use them
 * for (measuring intervals).
 */
static int
clock_now(uint32_t id, uint64_t *now)
{
    switch (id) {
    case CLOCK_REALTIME:
        *now = pl_time_real_ns();
        return 0;
    case CLOCK_MONOTONIC:
    case CLOCK_PROCESS_CPUTIME:
    case CLOCK_THREAD_CPUTIME:
        *now = pl_time_mono_ns();
        return 0;
    default:
        return -1;
    }
}

static int
wasi_clock_res_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                   uint64_t *results)
{
    uint32_t id = ARG32(0);
    uint8_t *p = wasi_mem(inst, ARG32(1), 8);
    uint64_t now;

    (void)ctx;
    if (clock_now(id, &now) != 0)
        RET(VMRT_WASI_EINVAL);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    put_u64(p, pl_time_res_ns());
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_clock_time_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                    uint64_t *results)
{
    uint32_t id = ARG32(0);
    uint8_t *p = wasi_mem(inst, ARG32(2), 8);
    uint64_t now;

    (void)ctx;
    if (clock_now(id, &now) != 0)
        RET(VMRT_WASI_EINVAL);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    put_u64(p, now);
    RET(VMRT_WASI_ESUCCESS);
}

/* ------------------------------------------------------------------ */
/* File descriptors: stdio, the preopened root, files beneath it       */
/* ------------------------------------------------------------------ */

/*
 * Map a port error to the guest's errno.  Escapes from the root come
 * back from the port as PL_EPERM and stay EPERM, as the issue asks
 * (wasi-libc would also accept ENOTCAPABLE, but EPERM is what a program
 * checks for).
 */
static int
errno_of(int pl)
{
    switch (pl) {
    case 0:
        return VMRT_WASI_ESUCCESS;
    case PL_ENOMEM:
        return WASI_ENOMEM;
    case PL_EINVAL:
        return VMRT_WASI_EINVAL;
    case PL_ENOENT:
        return WASI_ENOENT;
    case PL_EACCES:
        return WASI_EACCES;
    case PL_EFBIG:
        return WASI_EFBIG;
    case PL_EEXIST:
        return WASI_EEXIST;
    case PL_ENOTDIR:
        return WASI_ENOTDIR;
    case PL_EISDIR:
        return WASI_EISDIR;
    case PL_ENOSPC:
        return VMRT_WASI_ENOSPC;
    case PL_EPERM:
        return VMRT_WASI_EPERM;
    case PL_EAGAIN:
        return WASI_EAGAIN;
    case PL_ENOTEMPTY:
        return WASI_ENOTEMPTY;
    case PL_EBADF:
        return VMRT_WASI_EBADF;
    case PL_ENAMETOOLONG:
        return WASI_ENAMETOOLONG;
    case PL_ELOOP:
        return WASI_ELOOP;
    case PL_EBUSY:
        return WASI_EBUSY;
    case PL_EXDEV:
        return WASI_EXDEV;
    case PL_EMFILE:
        return WASI_EMFILE;
    case PL_EROFS:
        return WASI_EROFS;
    case PL_ESPIPE:
        return VMRT_WASI_ESPIPE;
    case PL_EOVERFLOW:
        return WASI_EOVERFLOW;
    case PL_ENOSYS:
        return VMRT_WASI_ENOSYS;
    default:
        return VMRT_WASI_EIO;
    }
}

static int
fd_is_stdio(const vmrt_wasi_t *w, uint32_t fd)
{
    return fd <= 2 && (w->closed & (1u << fd)) == 0;
}

/* The open file or directory behind guest fd `fd`, or NULL. */
static wfd_t *
fd_get(const vmrt_wasi_t *w, uint32_t fd)
{
    return fd < WASI_MAX_FDS ? w->fds[fd] : NULL;
}

static int
fd_is_open(const vmrt_wasi_t *w, uint32_t fd)
{
    return fd_is_stdio(w, fd) || fd_get(w, fd) != NULL;
}

static void
wfd_free(wfd_t *e)
{
    if (e == NULL)
        return;
    if (e->dir_open)
        pl_dir_close(&e->dir);
    pl_file_close(&e->f);
    vmrt__free(e);
}

/*
 * guest_path: copy guest path [ptr, ptr + len) into `buf` as the path
 * relative to the root, joined onto directory entry `dir`.
 * Return: a WASI errno.  Absolute guest paths are refused here (EPERM):
 * joined onto a subdirectory they would otherwise look relative.
 */
static int
guest_path(vmrt_instance_t *inst, const wfd_t *dir, uint32_t ptr,
           uint32_t len, char *buf)
{
    const uint8_t *p = wasi_mem(inst, ptr, len);
    size_t dl = 0;

    if (p == NULL)
        return VMRT_WASI_EFAULT;
    if (dir == NULL)
        return VMRT_WASI_EBADF;
    if (dir->kind != WFD_DIR)
        return WASI_ENOTDIR;
    if (len == 0)
        return WASI_ENOENT;
    if (memchr(p, '\0', len) != NULL)
        return VMRT_WASI_EINVAL;
    if (p[0] == '/')
        return VMRT_WASI_EPERM;
    if (strcmp(dir->path, ".") != 0)
        dl = strlen(dir->path) + 1;
    if (dl + len >= WASI_PATH_MAX)
        return WASI_ENAMETOOLONG;
    if (dl > 0) {
        memcpy(buf, dir->path, dl - 1);
        buf[dl - 1] = '/';
    }
    memcpy(buf + dl, p, len);
    buf[dl + len] = '\0';
    return VMRT_WASI_ESUCCESS;
}

/* The lowest free guest fd, or -1 if the table is full. */
static int
fd_alloc(const vmrt_wasi_t *w)
{
    uint32_t fd;

    for (fd = 3; fd < WASI_MAX_FDS; fd++)
        if (w->fds[fd] == NULL)
            return (int)fd;
    return -1;
}

/*
 * wfd_open: open `path` (relative to the root) with port flags `pf`,
 * making a table entry that remembers the path for snapshots.
 * Return: 0 with *out set, or a PL_E* code.
 */
static int
wfd_open(vmrt_wasi_t *w, const char *path, unsigned pf, wfd_t **out)
{
    size_t len = strlen(path);
    pl_stat_t st;
    wfd_t *e;
    int rc;

    if ((e = vmrt__malloc(sizeof(*e) + len + 1)) == NULL)
        return PL_ENOMEM;
    memset(e, 0, sizeof(*e));
    e->f.fd = -1; /* closed, whatever the port's PL_FILE_INIT says */
    memcpy(e->path, path, len + 1);
    if ((rc = pl_fs_open(&w->root, path, pf, &e->f)) != 0)
        goto fail;
    if ((rc = pl_file_stat(&e->f, &st)) != 0)
        goto fail;
    e->kind = st.type == PL_FT_DIR ? WFD_DIR : WFD_FILE;
    e->pflags = (uint8_t)(pf & (PL_O_READ | PL_O_WRITE));
    *out = e;
    return 0;
fail:
    wfd_free(e);
    return rc;
}

/* Rights a directory hands down: everything; the port confines paths. */
#define RIGHTS_ALL ((1ull << 30) - 1)
#define RIGHTS_FILE_RD                                                         \
    (RIGHT_FD_READ | RIGHT_FD_SEEK | RIGHT_FD_TELL | RIGHT_FD_ADVISE |         \
     RIGHT_FD_FILESTAT_GET | RIGHT_POLL_FD_READWRITE | RIGHT_FD_FDSTAT_SET |   \
     RIGHT_FD_SYNC | RIGHT_FD_DATASYNC)
#define RIGHTS_FILE_WR                                                         \
    (RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE | RIGHT_FD_FILESTAT_SET_SIZE)

static int
wasi_path_open(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint32_t lookup = ARG32(1), oflags = ARG32(4);
    uint64_t rights = ARG64(5), inherit = ARG64(6);
    uint32_t fdflags = ARG32(7);
    uint8_t *pfd = wasi_mem(inst, ARG32(8), 4);
    char path[WASI_PATH_MAX];
    unsigned pf = 0;
    uint64_t old = 0;
    pl_stat_t st;
    wfd_t *e = NULL;
    int rc, fd, truncated = 0;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(2), ARG32(3),
                         path)) != 0)
        RET(rc);
    if (pfd == NULL)
        RET(VMRT_WASI_EFAULT);
    if ((fd = fd_alloc(w)) < 0)
        RET(WASI_EMFILE);
    if (rights & (RIGHT_FD_READ | RIGHT_FD_READDIR))
        pf |= PL_O_READ;
    if (rights & (RIGHT_FD_WRITE | RIGHT_FD_ALLOCATE |
                  RIGHT_FD_FILESTAT_SET_SIZE))
        pf |= PL_O_WRITE;
    if ((oflags & OFLAG_DIRECTORY) || pf == 0)
        pf = PL_O_READ; /* a directory, or a handle for stat only */
    if (oflags & OFLAG_DIRECTORY)
        pf |= PL_O_DIRECTORY;
    if (oflags & OFLAG_CREAT)
        pf |= PL_O_CREATE;
    if (oflags & OFLAG_EXCL)
        pf |= PL_O_EXCL;
    if (oflags & OFLAG_TRUNC) {
        if (!(pf & PL_O_WRITE))
            RET(VMRT_WASI_EINVAL);
        pf |= PL_O_TRUNC;
        /* Truncation frees the old bytes: learn how many first. */
        if (pl_fs_stat(&w->root, path, 0, &st) == 0 && st.type == PL_FT_REG) {
            old = st.size;
            truncated = 1;
        }
    }
    if (!(lookup & LOOKUP_SYMLINK_FOLLOW))
        pf |= PL_O_NOFOLLOW;
    if ((rc = wfd_open(w, path, pf, &e)) != 0)
        RET(errno_of(rc));
    if ((oflags & OFLAG_DIRECTORY) && e->kind != WFD_DIR) {
        wfd_free(e);
        RET(WASI_ENOTDIR);
    }
    if (truncated)
        w->usage = w->usage > old ? w->usage - old : 0;
    e->append = (fdflags & FDFLAG_APPEND) != 0;
    e->rights = rights;
    e->inherit = inherit;
    w->fds[fd] = e;
    put_u32(pfd, (uint32_t)fd);
    RET(VMRT_WASI_ESUCCESS);
}

/*
 * file_write: write `len` bytes of `buf` to file entry `e`, at `off` or,
 * if off is UINT64_MAX, at the file position (the end in append mode),
 * within the quota: a write that would grow the root's files past it is
 * cut short at the quota, and fails with ENOSPC if nothing fits.  Bytes
 * already in the file can always be overwritten.
 * Return: a WASI errno, with *n bytes written.
 */
static int
file_write(vmrt_wasi_t *w, wfd_t *e, const uint8_t *buf, size_t len,
           uint64_t off, size_t *n)
{
    uint64_t pos, room, end;
    pl_stat_t st;
    int rc;

    *n = 0;
    if ((rc = pl_file_stat(&e->f, &st)) != 0)
        return errno_of(rc);
    if (off != UINT64_MAX)
        pos = off;
    else if (e->append)
        rc = pl_file_seek(&e->f, 0, PL_SEEK_END, &pos);
    else
        rc = pl_file_seek(&e->f, 0, PL_SEEK_CUR, &pos);
    if (rc != 0)
        return errno_of(rc);
    if (w->quota != 0 && len > 0) {
        room = w->quota > w->usage ? w->quota - w->usage : 0;
        end = st.size + room; /* the file may grow up to here */
        if (pos >= end)
            return VMRT_WASI_ENOSPC;
        if (len > end - pos)
            len = (size_t)(end - pos);
    }
    if (off != UINT64_MAX)
        rc = pl_file_pwrite(&e->f, buf, len, off, n);
    else
        rc = pl_file_write(&e->f, buf, len, n);
    if (rc != 0)
        return errno_of(rc);
    if (pos + *n > st.size)
        w->usage += pos + *n - st.size;
    return VMRT_WASI_ESUCCESS;
}

/*
 * iovs_check: check an iovec array and every buffer it names.
 * Return: the array's host address, or NULL with *err set.
 */
static uint8_t *
iovs_check(vmrt_instance_t *inst, uint32_t iovs, uint32_t n, int *err)
{
    uint8_t *iov;
    uint32_t i;

    *err = VMRT_WASI_EINVAL;
    if (n > WASI_IOV_MAX)
        return NULL;
    *err = VMRT_WASI_EFAULT;
    if ((iov = wasi_mem(inst, iovs, (uint64_t)n * 8)) == NULL)
        return NULL;
    for (i = 0; i < n; i++)
        if (wasi_mem(inst, get_u32(iov + 8 * i), get_u32(iov + 8 * i + 4)) ==
            NULL)
            return NULL;
    *err = 0;
    return iov;
}

/*
 * file_rw: the body of fd_read/fd_pread/fd_write/fd_pwrite on a file:
 * one buffer after the other, stopping at the first short transfer.  An
 * error after some bytes moved is reported as the short count, as
 * readv(2)/writev(2) do.
 */
static int
file_rw(vmrt_instance_t *inst, vmrt_wasi_t *w, wfd_t *e, int wr,
        const uint8_t *iov, uint32_t n, uint64_t off, uint32_t *total)
{
    uint32_t i, len;
    uint8_t *buf;
    size_t got;
    int rc = 0;

    *total = 0;
    if (e->kind == WFD_DIR)
        return WASI_EISDIR;
    if (!(e->pflags & (wr ? PL_O_WRITE : PL_O_READ)))
        return VMRT_WASI_EBADF;
    for (i = 0; i < n; i++) {
        len = get_u32(iov + 8 * i + 4);
        if (len == 0)
            continue;
        if ((uint64_t)*total + len > UINT32_MAX)
            break;
        buf = wasi_mem(inst, get_u32(iov + 8 * i), len);
        got = 0;
        if (wr)
            rc = file_write(w, e, buf, len,
                            off == UINT64_MAX ? off : off + *total, &got);
        else if (off != UINT64_MAX)
            rc = errno_of(pl_file_pread(&e->f, buf, len, off + *total, &got));
        else
            rc = errno_of(pl_file_read(&e->f, buf, len, &got));
        *total += (uint32_t)got;
        if (rc != 0 || got < len)
            break;
    }
    return *total > 0 ? 0 : rc;
}

static int
wasi_fd_write(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint32_t fd = ARG32(0), n = ARG32(2);
    uint8_t *iov, *pn = wasi_mem(inst, ARG32(3), 4);
    vmrt_wasi_write_fn_t sink;
    uint32_t i, len, total32;
    uint64_t total = 0;
    uint8_t *buf;
    long rc;
    int err;

    if (!fd_is_open(w, fd) || fd == 0)
        RET(VMRT_WASI_EBADF);
    /* Check every buffer first so that a bad one writes nothing. */
    if ((iov = iovs_check(inst, ARG32(1), n, &err)) == NULL)
        RET(err);
    if (pn == NULL)
        RET(VMRT_WASI_EFAULT);
    if (fd > 2) {
        err = file_rw(inst, w, fd_get(w, fd), 1, iov, n, UINT64_MAX,
                      &total32);
        if (err == 0)
            put_u32(pn, total32);
        RET(err);
    }
    sink = fd == 1 ? w->out : w->err;
    for (i = 0; i < n; i++) {
        len = get_u32(iov + 8 * i + 4);
        if (len == 0)
            continue;
        if (total + len > UINT32_MAX)
            break; /* a short write: the count must fit the result */
        buf = wasi_mem(inst, get_u32(iov + 8 * i), len);
        rc = sink(w->sink_arg, (int)fd, buf, len);
        if (rc < 0)
            RET(VMRT_WASI_EIO);
        total += len;
    }
    put_u32(pn, (uint32_t)total);
    RET(VMRT_WASI_ESUCCESS);
}

/* fd_read, fd_pread, fd_pwrite: files only (stdin reads are ENOSYS). */
static int
rw_common(vmrt_instance_t *inst, vmrt_wasi_t *w, const uint64_t *args,
          int wr, int positioned)
{
    uint32_t fd = ARG32(0), n = ARG32(2), total;
    uint8_t *iov, *pn;
    uint64_t off = positioned ? ARG64(3) : UINT64_MAX;
    wfd_t *e = fd_get(w, fd);
    int err;

    pn = wasi_mem(inst, ARG32(positioned ? 4 : 3), 4);
    if (e == NULL) {
        if (fd_is_stdio(w, fd))
            return positioned ? VMRT_WASI_ESPIPE : VMRT_WASI_ENOSYS;
        return VMRT_WASI_EBADF;
    }
    if (positioned && off == UINT64_MAX)
        return VMRT_WASI_EINVAL;
    if ((iov = iovs_check(inst, ARG32(1), n, &err)) == NULL)
        return err;
    if (pn == NULL)
        return VMRT_WASI_EFAULT;
    if ((err = file_rw(inst, w, e, wr, iov, n, off, &total)) == 0)
        put_u32(pn, total);
    return err;
}

static int
wasi_fd_read(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *results)
{
    RET(rw_common(inst, ctx, args, 0, 0));
}

static int
wasi_fd_pread(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    RET(rw_common(inst, ctx, args, 0, 1));
}

static int
wasi_fd_pwrite(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *results)
{
    RET(rw_common(inst, ctx, args, 1, 1));
}

static int
wasi_fd_close(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint32_t fd = ARG32(0);

    (void)inst;
    if (fd_get(w, fd) != NULL) {
        wfd_free(w->fds[fd]);
        w->fds[fd] = NULL;
        RET(VMRT_WASI_ESUCCESS);
    }
    if (!fd_is_stdio(w, fd))
        RET(VMRT_WASI_EBADF);
    w->closed |= 1u << fd;
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_fd_seek(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));
    uint32_t whence = ARG32(2);
    uint8_t *p = wasi_mem(inst, ARG32(3), 8);
    uint64_t pos;
    int rc;

    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_ESPIPE : VMRT_WASI_EBADF);
    if (e->kind == WFD_DIR)
        RET(WASI_EISDIR);
    if (whence > 2)
        RET(VMRT_WASI_EINVAL);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    /* WASI whence values are the port's. */
    if ((rc = pl_file_seek(&e->f, (int64_t)ARG64(1), (int)whence, &pos)) != 0)
        RET(errno_of(rc));
    put_u64(p, pos);
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_fd_tell(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));
    uint8_t *p = wasi_mem(inst, ARG32(1), 8);
    uint64_t pos;
    int rc;

    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_ESPIPE : VMRT_WASI_EBADF);
    if (e->kind == WFD_DIR)
        RET(WASI_EISDIR);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    if ((rc = pl_file_seek(&e->f, 0, PL_SEEK_CUR, &pos)) != 0)
        RET(errno_of(rc));
    put_u64(p, pos);
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_fd_fdstat_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                   uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint32_t fd = ARG32(0);
    uint8_t *p = wasi_mem(inst, ARG32(1), 24);
    wfd_t *e = fd_get(w, fd);
    uint64_t rights;

    if (!fd_is_open(w, fd))
        RET(VMRT_WASI_EBADF);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    memset(p, 0, 24);
    if (e != NULL) {
        /*
         * wasi-libc opens files with the rights a directory says it
         * hands down (rights_inheriting), so a directory reports all.
         */
        p[0] = e->kind == WFD_DIR ? FILETYPE_DIRECTORY : FILETYPE_REGULAR;
        put_u16(p + 2, e->append ? FDFLAG_APPEND : 0);
        if (e->kind == WFD_DIR) {
            put_u64(p + 8, RIGHTS_ALL);
            put_u64(p + 16, RIGHTS_ALL);
        } else {
            rights = (e->pflags & PL_O_READ ? RIGHTS_FILE_RD : 0) |
                     (e->pflags & PL_O_WRITE ? RIGHTS_FILE_WR : 0) |
                     RIGHT_FD_SEEK | RIGHT_FD_TELL | RIGHT_FD_FILESTAT_GET;
            put_u64(p + 8, rights);
        }
        RET(VMRT_WASI_ESUCCESS);
    }
    /*
     * A character device without seek/tell rights: wasi-libc's isatty()
     * answers from exactly these fields.
     */
    rights =
        (fd == 0 ? RIGHT_FD_READ : RIGHT_FD_WRITE) | RIGHT_POLL_FD_READWRITE;
    p[0] = FILETYPE_CHARACTER_DEVICE;
    put_u16(p + 2, 0);
    put_u64(p + 8, rights);
    put_u64(p + 16, 0);
    RET(VMRT_WASI_ESUCCESS);
}

/* Only APPEND can change; append is done here, not by the port. */
static int
wasi_fd_fdstat_set_flags(vmrt_instance_t *inst, void *ctx,
                         const uint64_t *args, uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));
    uint32_t flags = ARG32(1);

    (void)inst;
    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_ENOTSUP : VMRT_WASI_EBADF);
    if ((flags & ~(uint32_t)(FDFLAG_APPEND | FDFLAG_NONBLOCK)) != 0)
        RET(VMRT_WASI_ENOTSUP);
    e->append = (flags & FDFLAG_APPEND) != 0;
    RET(VMRT_WASI_ESUCCESS);
}

/* The WASI filetype of a port file type. */
static uint8_t
ftype_of(pl_ftype_t t)
{
    switch (t) {
    case PL_FT_REG:
        return FILETYPE_REGULAR;
    case PL_FT_DIR:
        return FILETYPE_DIRECTORY;
    case PL_FT_SYMLINK:
        return FILETYPE_SYMLINK;
    case PL_FT_CHR:
        return FILETYPE_CHARACTER_DEVICE;
    case PL_FT_BLK:
        return FILETYPE_BLOCK_DEVICE;
    case PL_FT_SOCK:
        return FILETYPE_SOCKET_STREAM;
    default:
        return 0; /* unknown (FIFOs have no WASI type) */
    }
}

static void
put_filestat(uint8_t *p, const pl_stat_t *st)
{
    memset(p, 0, 64);
    put_u64(p, st->dev);
    put_u64(p + 8, st->ino);
    p[16] = ftype_of(st->type);
    put_u64(p + 24, st->nlink);
    put_u64(p + 32, st->size);
    put_u64(p + 40, st->atime_ns);
    put_u64(p + 48, st->mtime_ns);
    put_u64(p + 56, st->ctime_ns);
}

static int
wasi_fd_filestat_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                     uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));
    uint8_t *p = wasi_mem(inst, ARG32(1), 64);
    pl_stat_t st;
    int rc;

    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    if (e == NULL) {
        if (!fd_is_stdio(w, ARG32(0)))
            RET(VMRT_WASI_EBADF);
        memset(&st, 0, sizeof(st));
        st.type = PL_FT_CHR;
        put_filestat(p, &st);
        RET(VMRT_WASI_ESUCCESS);
    }
    if ((rc = pl_file_stat(&e->f, &st)) != 0)
        RET(errno_of(rc));
    put_filestat(p, &st);
    RET(VMRT_WASI_ESUCCESS);
}

/*
 * file_resize: set the size of file entry `e` to `size`, within the
 * quota, keeping the usage count.
 * Return: a WASI errno.
 */
static int
file_resize(vmrt_wasi_t *w, wfd_t *e, uint64_t size)
{
    pl_stat_t st;
    int rc;

    if (e->kind == WFD_DIR)
        return WASI_EISDIR;
    if (!(e->pflags & PL_O_WRITE))
        return VMRT_WASI_EBADF;
    if ((rc = pl_file_stat(&e->f, &st)) != 0)
        return errno_of(rc);
    if (size > st.size && w->quota != 0 &&
        (w->usage > w->quota || size - st.size > w->quota - w->usage))
        return VMRT_WASI_ENOSPC;
    if ((rc = pl_file_truncate(&e->f, size)) != 0)
        return errno_of(rc);
    if (size > st.size)
        w->usage += size - st.size;
    else
        w->usage = w->usage > st.size - size ? w->usage - (st.size - size) : 0;
    return VMRT_WASI_ESUCCESS;
}

static int
wasi_fd_filestat_set_size(vmrt_instance_t *inst, void *ctx,
                          const uint64_t *args, uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));

    (void)inst;
    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_EINVAL : VMRT_WASI_EBADF);
    RET(file_resize(w, e, ARG64(1)));
}

/* fd_allocate: grow to offset + len (a no-op if already that long). */
static int
wasi_fd_allocate(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                 uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));
    uint64_t end = ARG64(1) + ARG64(2);
    pl_stat_t st;
    int rc;

    (void)inst;
    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_EINVAL : VMRT_WASI_EBADF);
    if (end < ARG64(1))
        RET(VMRT_WASI_EINVAL);
    if (e->kind == WFD_DIR)
        RET(WASI_EISDIR);
    if ((rc = pl_file_stat(&e->f, &st)) != 0)
        RET(errno_of(rc));
    RET(end > st.size ? file_resize(w, e, end) : VMRT_WASI_ESUCCESS);
}

/* fd_advise: advice only; accepted and ignored. */
static int
wasi_fd_advise(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    (void)inst;
    if (fd_get(w, ARG32(0)) == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_ESPIPE : VMRT_WASI_EBADF);
    RET(ARG32(3) > 5 ? VMRT_WASI_EINVAL : VMRT_WASI_ESUCCESS);
}

/* fd_sync and fd_datasync: the port has one flush for both. */
static int
wasi_fd_sync(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));

    (void)inst;
    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? VMRT_WASI_EINVAL : VMRT_WASI_EBADF);
    RET(errno_of(pl_file_sync(&e->f)));
}

/*
 * entry_type: the type of entry `name` of directory `e`, for file systems
 * whose listings do not say.  Return: PL_FT_UNKNOWN if it cannot tell
 * (the entry vanished, or the path is too long).
 */
static pl_ftype_t
entry_type(vmrt_wasi_t *w, const wfd_t *e, const char *name)
{
    char p[WASI_PATH_MAX];
    size_t dl = strcmp(e->path, ".") == 0 ? 0 : strlen(e->path) + 1;
    size_t nl = strlen(name);
    pl_stat_t st;

    if (dl + nl >= sizeof(p))
        return PL_FT_UNKNOWN;
    if (dl > 0) {
        memcpy(p, e->path, dl - 1);
        p[dl - 1] = '/';
    }
    memcpy(p + dl, name, nl + 1);
    if (pl_fs_stat(&w->root, p, PL_STAT_NOFOLLOW, &st) != 0)
        return PL_FT_UNKNOWN;
    return st.type;
}

/*
 * fd_readdir: entries from index `cookie` on, as many as fit; the last
 * one may be cut, which tells wasi-libc to call again with a larger
 * buffer.  The listing position is kept so that the usual sequential
 * calls cost one pass; any other cookie restarts from the top.
 */
static int
wasi_fd_readdir(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    wfd_t *e = fd_get(w, ARG32(0));
    uint32_t len = ARG32(2), used = 0, nl, k;
    uint8_t *buf = wasi_mem(inst, ARG32(1), len);
    uint8_t *pu = wasi_mem(inst, ARG32(4), 4);
    uint64_t cookie = ARG64(3);
    uint8_t hdr[24];
    pl_dirent_t de;
    int rc;

    if (e == NULL)
        RET(fd_is_stdio(w, ARG32(0)) ? WASI_ENOTDIR : VMRT_WASI_EBADF);
    if (e->kind != WFD_DIR)
        RET(WASI_ENOTDIR);
    if (buf == NULL || pu == NULL)
        RET(VMRT_WASI_EFAULT);
    if (!e->dir_open) {
        if ((rc = pl_dir_open_file(&e->f, &e->dir)) != 0)
            RET(errno_of(rc));
        e->dir_open = 1;
        e->dir_pos = 0;
    }
    if (cookie != e->dir_pos) {
        pl_dir_rewind(&e->dir);
        e->dir_pos = 0;
    }
    while (e->dir_pos < cookie) {
        if ((rc = pl_dir_read(&e->dir, &de)) < 0)
            RET(errno_of(rc));
        if (rc == 0)
            break;
        e->dir_pos++;
    }
    while (used < len) {
        if ((rc = pl_dir_read(&e->dir, &de)) < 0)
            RET(errno_of(rc));
        if (rc == 0)
            break;
        e->dir_pos++;
        if (de.type == PL_FT_UNKNOWN)
            de.type = entry_type(w, e, de.name);
        nl = (uint32_t)strlen(de.name);
        put_u64(hdr, e->dir_pos);
        put_u64(hdr + 8, de.ino);
        put_u32(hdr + 16, nl);
        memset(hdr + 20, 0, 4);
        hdr[20] = ftype_of(de.type);
        k = len - used < 24 ? len - used : 24;
        memcpy(buf + used, hdr, k);
        used += k;
        k = len - used < nl ? len - used : nl;
        memcpy(buf + used, de.name, k);
        used += k;
    }
    put_u32(pu, used);
    RET(VMRT_WASI_ESUCCESS);
}

/* The root is preopened as fd 3, named "/" for wasi-libc. */
static int
wasi_fd_prestat_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                    uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint8_t *p = wasi_mem(inst, ARG32(1), 8);

    if (!w->has_root || ARG32(0) != WASI_ROOT_FD ||
        fd_get(w, WASI_ROOT_FD) == NULL || !w->fds[WASI_ROOT_FD]->preopen)
        RET(VMRT_WASI_EBADF);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    memset(p, 0, 8);
    put_u32(p + 4, 1);
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_fd_prestat_dir_name(vmrt_instance_t *inst, void *ctx,
                         const uint64_t *args, uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint8_t *p = wasi_mem(inst, ARG32(1), ARG32(2));

    if (!w->has_root || ARG32(0) != WASI_ROOT_FD ||
        fd_get(w, WASI_ROOT_FD) == NULL || !w->fds[WASI_ROOT_FD]->preopen)
        RET(VMRT_WASI_EBADF);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    if (ARG32(2) < 1)
        RET(WASI_ENAMETOOLONG);
    p[0] = '/';
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_path_filestat_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                       uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint8_t *p = wasi_mem(inst, ARG32(4), 64);
    char path[WASI_PATH_MAX];
    pl_stat_t st;
    int rc;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(2), ARG32(3),
                         path)) != 0)
        RET(rc);
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    rc = pl_fs_stat(&w->root, path,
                    ARG32(1) & LOOKUP_SYMLINK_FOLLOW ? 0 : PL_STAT_NOFOLLOW,
                    &st);
    if (rc != 0)
        RET(errno_of(rc));
    put_filestat(p, &st);
    RET(VMRT_WASI_ESUCCESS);
}

/*
 * forget_file: the usage of `path` (a regular file with one link) is
 * about to go away: return its size, or 0.
 */
static uint64_t
file_bytes(vmrt_wasi_t *w, const char *path)
{
    pl_stat_t st;

    if (pl_fs_stat(&w->root, path, PL_STAT_NOFOLLOW, &st) != 0 ||
        st.type != PL_FT_REG || st.nlink > 1)
        return 0;
    return st.size;
}

static void
usage_sub(vmrt_wasi_t *w, uint64_t n)
{
    w->usage = w->usage > n ? w->usage - n : 0;
}

static int
wasi_path_unlink_file(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                      uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    char path[WASI_PATH_MAX];
    pl_stat_t st;
    uint64_t bytes;
    int rc;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(1), ARG32(2),
                         path)) != 0)
        RET(rc);
    if ((rc = pl_fs_stat(&w->root, path, PL_STAT_NOFOLLOW, &st)) != 0)
        RET(errno_of(rc));
    if (st.type == PL_FT_DIR)
        RET(WASI_EISDIR);
    bytes = file_bytes(w, path);
    if ((rc = pl_fs_unlink(&w->root, path)) != 0)
        RET(errno_of(rc));
    usage_sub(w, bytes);
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_path_create_directory(vmrt_instance_t *inst, void *ctx,
                           const uint64_t *args, uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    char path[WASI_PATH_MAX];
    int rc;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(1), ARG32(2),
                         path)) != 0)
        RET(rc);
    RET(errno_of(pl_fs_mkdir(&w->root, path)));
}

static int
wasi_path_remove_directory(vmrt_instance_t *inst, void *ctx,
                           const uint64_t *args, uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    char path[WASI_PATH_MAX];
    int rc;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(1), ARG32(2),
                         path)) != 0)
        RET(rc);
    RET(errno_of(pl_fs_rmdir(&w->root, path)));
}

static int
wasi_path_rename(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                 uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    char from[WASI_PATH_MAX], to[WASI_PATH_MAX];
    uint64_t bytes;
    int rc;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(1), ARG32(2),
                         from)) != 0 ||
        (rc = guest_path(inst, fd_get(w, ARG32(3)), ARG32(4), ARG32(5), to)) !=
            0)
        RET(rc);
    /* A file replaced at `to` frees its bytes. */
    bytes = strcmp(from, to) == 0 ? 0 : file_bytes(w, to);
    if ((rc = pl_fs_rename(&w->root, from, to)) != 0)
        RET(errno_of(rc));
    usage_sub(w, bytes);
    RET(VMRT_WASI_ESUCCESS);
}

static int
wasi_path_symlink(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                  uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    const uint8_t *t = wasi_mem(inst, ARG32(0), ARG32(1));
    char target[WASI_PATH_MAX], path[WASI_PATH_MAX];
    int rc;

    if (t == NULL)
        RET(VMRT_WASI_EFAULT);
    if (ARG32(1) >= sizeof(target))
        RET(WASI_ENAMETOOLONG);
    if (ARG32(1) == 0 || memchr(t, '\0', ARG32(1)) != NULL)
        RET(VMRT_WASI_EINVAL);
    memcpy(target, t, ARG32(1));
    target[ARG32(1)] = '\0';
    if ((rc = guest_path(inst, fd_get(w, ARG32(2)), ARG32(3), ARG32(4),
                         path)) != 0)
        RET(rc);
    /* The link may point anywhere; following it is confined. */
    RET(errno_of(pl_fs_symlink(&w->root, target, path)));
}

static int
wasi_path_readlink(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                   uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint32_t cap = ARG32(4);
    uint8_t *buf = wasi_mem(inst, ARG32(3), cap);
    uint8_t *pn = wasi_mem(inst, ARG32(5), 4);
    char path[WASI_PATH_MAX], text[WASI_PATH_MAX];
    size_t n;
    int rc;

    if ((rc = guest_path(inst, fd_get(w, ARG32(0)), ARG32(1), ARG32(2),
                         path)) != 0)
        RET(rc);
    if (buf == NULL || pn == NULL)
        RET(VMRT_WASI_EFAULT);
    if ((rc = pl_fs_readlink(&w->root, path, text, sizeof(text))) != 0)
        RET(errno_of(rc));
    n = strlen(text);
    if (n > cap)
        n = cap; /* truncated, as readlink(2) does */
    memcpy(buf, text, n);
    put_u32(pn, (uint32_t)n);
    RET(VMRT_WASI_ESUCCESS);
}

/* ------------------------------------------------------------------ */
/* poll_oneoff: sleeping                                              */
/* ------------------------------------------------------------------ */

/*
 * sub_deadline: the monotonic deadline of clock subscription `s`, timed
 * from the first attempt of the call (t0), so that retries after
 * VMRT_HOST_BLOCK do not move it.
 * Return: 0, or -1 for an unknown clock id.
 */
static int
sub_deadline(const vmrt_wasi_t *w, const uint8_t *s, uint64_t *dl)
{
    uint32_t id = get_u32(s + SUB_CLOCK_ID);
    uint64_t timeout = get_u64(s + SUB_CLOCK_TIMEOUT), now;
    int abs = (get_u16(s + SUB_CLOCK_FLAGS) & SUBCLOCK_ABSTIME) != 0;

    if (clock_now(id, &now) != 0)
        return -1;
    if (!abs)
        *dl = timeout > UINT64_MAX - w->t0_mono ? UINT64_MAX
                                                : w->t0_mono + timeout;
    else if (id == CLOCK_REALTIME)
        *dl = timeout <= w->t0_real ? w->t0_mono
              : timeout - w->t0_real > UINT64_MAX - w->t0_mono
                  ? UINT64_MAX
                  : w->t0_mono + (timeout - w->t0_real);
    else
        *dl = timeout;
    return 0;
}

static int
wasi_poll_oneoff(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                 uint64_t *results)
{
    vmrt_wasi_t *w = ctx;
    uint32_t in = ARG32(0), out = ARG32(1), n = ARG32(2), i, nev = 0;
    uint8_t *subs, *evs, *pn = wasi_mem(inst, ARG32(3), 4);
    uint64_t now, dl, min = UINT64_MAX;
    int immediate = 0;
    uint16_t err;

    if (n == 0 || n > WASI_POLL_MAX)
        RET(VMRT_WASI_EINVAL);
    subs = wasi_mem(inst, in, (uint64_t)n * SUB_SIZE);
    evs = wasi_mem(inst, out, (uint64_t)n * EVENT_SIZE);
    if (subs == NULL || evs == NULL || pn == NULL) {
        w->pending = 0;
        RET(VMRT_WASI_EFAULT);
    }
    now = pl_time_mono_ns();
    if (!w->pending || w->poll_in != in || w->poll_out != out ||
        w->poll_n != n) {
        /* A new call (not the retry of a blocked one): start timing. */
        w->pending = 1;
        w->poll_in = in;
        w->poll_out = out;
        w->poll_n = n;
        w->t0_mono = now;
        w->t0_real = pl_time_real_ns();
    }
    for (i = 0; i < n; i++) {
        const uint8_t *s = subs + (size_t)i * SUB_SIZE;

        if (s[SUB_TAG] != EVENTTYPE_CLOCK || sub_deadline(w, s, &dl) != 0)
            immediate = 1; /* answered at once, with an error event */
        else if (dl < min)
            min = dl;
    }
    if (!immediate && min > now) {
        w->deadline = min;
        if (w->block != NULL)
            return w->block(w->block_arg, inst, min);
        return VMRT_HOST_BLOCK;
    }
    for (i = 0; i < n; i++) {
        const uint8_t *s = subs + (size_t)i * SUB_SIZE;
        uint8_t *e;

        if (s[SUB_TAG] != EVENTTYPE_CLOCK)
            err = VMRT_WASI_ENOTSUP; /* fd readiness: not supported */
        else if (sub_deadline(w, s, &dl) != 0)
            err = VMRT_WASI_EINVAL;
        else if (dl <= now)
            err = VMRT_WASI_ESUCCESS;
        else
            continue;
        e = evs + (size_t)nev * EVENT_SIZE;
        memset(e, 0, EVENT_SIZE);
        memcpy(e, s, 8); /* userdata */
        put_u16(e + 8, err);
        e[10] = s[SUB_TAG] <= 2 ? s[SUB_TAG] : EVENTTYPE_CLOCK;
        nev++;
    }
    w->pending = 0;
    w->deadline = 0;
    if (w->wait_end != NULL)
        w->wait_end(w->block_arg, inst);
    put_u32(pn, nev);
    RET(VMRT_WASI_ESUCCESS);
}

/* ------------------------------------------------------------------ */
/* Process, randomness, scheduling                                    */
/* ------------------------------------------------------------------ */

static int
wasi_proc_exit(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    (void)inst;
    (void)results;
    w->exit_code = ARG32(0);
    w->exited = 1;
    return VMRT_HOST_EXIT;
}

static int
wasi_random_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                uint64_t *results)
{
    uint32_t len = ARG32(1);
    uint8_t *p = wasi_mem(inst, ARG32(0), len);

    (void)ctx;
    if (p == NULL)
        RET(VMRT_WASI_EFAULT);
    if (len > 0 && pl_random(p, len) != 0)
        RET(VMRT_WASI_EIO);
    RET(VMRT_WASI_ESUCCESS);
}

/*
 * sched_yield: with a block callback, give up the CPU once (a wait whose
 * deadline is already due), then succeed on the retry; without one there
 * is nobody to yield to.
 */
static int
wasi_sched_yield(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                 uint64_t *results)
{
    vmrt_wasi_t *w = ctx;

    (void)args;
    if (w->block != NULL && !w->yielding) {
        w->yielding = 1;
        return w->block(w->block_arg, inst, pl_time_mono_ns());
    }
    if (w->yielding && w->wait_end != NULL)
        w->wait_end(w->block_arg, inst);
    w->yielding = 0;
    RET(VMRT_WASI_ESUCCESS);
}

/* Everything else in preview1: present, typed, and not implemented. */
static int
wasi_nosys(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *results)
{
    (void)inst;
    (void)ctx;
    (void)args;
    RET(VMRT_WASI_ENOSYS);
}

/* The whole wasi_snapshot_preview1 module, with signatures as in witx. */
static const struct {
    const char *name;
    const char *sig;
    vmrt_host_fn_t fn;
} wasi_funcs[] = {
    { "args_get", "(ii)i", wasi_args_get },
    { "args_sizes_get", "(ii)i", wasi_args_sizes_get },
    { "environ_get", "(ii)i", wasi_environ_get },
    { "environ_sizes_get", "(ii)i", wasi_environ_sizes_get },
    { "clock_res_get", "(ii)i", wasi_clock_res_get },
    { "clock_time_get", "(iIi)i", wasi_clock_time_get },
    { "fd_advise", "(iIIi)i", wasi_fd_advise },
    { "fd_allocate", "(iII)i", wasi_fd_allocate },
    { "fd_close", "(i)i", wasi_fd_close },
    { "fd_datasync", "(i)i", wasi_fd_sync },
    { "fd_fdstat_get", "(ii)i", wasi_fd_fdstat_get },
    { "fd_fdstat_set_flags", "(ii)i", wasi_fd_fdstat_set_flags },
    { "fd_fdstat_set_rights", "(iII)i", wasi_nosys },
    { "fd_filestat_get", "(ii)i", wasi_fd_filestat_get },
    { "fd_filestat_set_size", "(iI)i", wasi_fd_filestat_set_size },
    { "fd_filestat_set_times", "(iIIi)i", wasi_nosys },
    { "fd_pread", "(iiiIi)i", wasi_fd_pread },
    { "fd_prestat_get", "(ii)i", wasi_fd_prestat_get },
    { "fd_prestat_dir_name", "(iii)i", wasi_fd_prestat_dir_name },
    { "fd_pwrite", "(iiiIi)i", wasi_fd_pwrite },
    { "fd_read", "(iiii)i", wasi_fd_read },
    { "fd_readdir", "(iiiIi)i", wasi_fd_readdir },
    { "fd_renumber", "(ii)i", wasi_nosys },
    { "fd_seek", "(iIii)i", wasi_fd_seek },
    { "fd_sync", "(i)i", wasi_fd_sync },
    { "fd_tell", "(ii)i", wasi_fd_tell },
    { "fd_write", "(iiii)i", wasi_fd_write },
    { "path_create_directory", "(iii)i", wasi_path_create_directory },
    { "path_filestat_get", "(iiiii)i", wasi_path_filestat_get },
    { "path_filestat_set_times", "(iiiiIIi)i", wasi_nosys },
    { "path_link", "(iiiiiii)i", wasi_nosys },
    { "path_open", "(iiiiiIIii)i", wasi_path_open },
    { "path_readlink", "(iiiiii)i", wasi_path_readlink },
    { "path_remove_directory", "(iii)i", wasi_path_remove_directory },
    { "path_rename", "(iiiiii)i", wasi_path_rename },
    { "path_symlink", "(iiiii)i", wasi_path_symlink },
    { "path_unlink_file", "(iii)i", wasi_path_unlink_file },
    { "poll_oneoff", "(iiii)i", wasi_poll_oneoff },
    { "proc_exit", "(i)", wasi_proc_exit },
    { "proc_raise", "(i)i", wasi_nosys },
    { "sched_yield", "()i", wasi_sched_yield },
    { "random_get", "(ii)i", wasi_random_get },
    { "sock_accept", "(iii)i", wasi_nosys },
    { "sock_recv", "(iiiiii)i", wasi_nosys },
    { "sock_send", "(iiiii)i", wasi_nosys },
    { "sock_shutdown", "(ii)i", wasi_nosys },
};

/* ------------------------------------------------------------------ */
/* Contexts                                                           */
/* ------------------------------------------------------------------ */

static long
wasi_stdio_sink(void *arg, int fd, const void *buf, size_t len)
{
    (void)arg;
    return pl_stdio_write(fd, buf, len);
}

/*
 * config_check: count the environment and check that argv/envp fit the
 * guest's 32-bit sizes.
 * Return: 0 with *envc set, or -1 if the configuration is unusable.
 */
static int
config_check(const vmrt_wasi_config_t *cfg, uint32_t *envc, size_t *bytes)
{
    uint64_t total = 0;
    size_t n = 0;
    int i;

    *envc = 0;
    *bytes = 0;
    if (cfg == NULL)
        return 0;
    if (cfg->argc < 0 || (cfg->argc > 0 && cfg->argv == NULL))
        return -1;
    for (i = 0; i < cfg->argc; i++) {
        if (cfg->argv[i] == NULL)
            return -1;
        total += strlen(cfg->argv[i]) + 1;
    }
    for (; cfg->envp != NULL && cfg->envp[n] != NULL; n++)
        total += strlen(cfg->envp[n]) + 1;
    /* Both the strings and their pointer arrays must fit guest memory. */
    total += ((uint64_t)cfg->argc + n) * 4;
    if (total > UINT32_MAX / 2)
        return -1;
    *envc = (uint32_t)n;
    *bytes = (size_t)total;
    return 0;
}

static void
wasi_init(vmrt_wasi_t *w, const vmrt_wasi_config_t *cfg, uint32_t envc)
{
    memset(w, 0, sizeof(*w));
    w->out = wasi_stdio_sink;
    w->err = wasi_stdio_sink;
    w->envc = envc;
    if (cfg == NULL)
        return;
    w->argc = (uint32_t)cfg->argc;
    w->argv = cfg->argv;
    w->envp = cfg->envp;
    if (cfg->out != NULL)
        w->out = cfg->out;
    if (cfg->err != NULL)
        w->err = cfg->err;
    w->sink_arg = cfg->sink_arg;
    w->quota = cfg->quota;
    w->block = cfg->block;
    w->block_arg = cfg->block_arg;
    w->wait_end = cfg->wait_end;
}

/* Close every file and the root. */
static void
files_fini(vmrt_wasi_t *w)
{
    uint32_t fd;

    for (fd = 0; fd < WASI_MAX_FDS; fd++) {
        wfd_free(w->fds[fd]);
        w->fds[fd] = NULL;
    }
    if (w->has_root)
        pl_dir_close_root(&w->root);
    w->has_root = 0;
}

/*
 * files_init: open the configured root, count what it holds for the
 * quota, and preopen it as fd 3.
 * Return: 0, or -1 (nothing left open) if the root cannot be used.
 */
static int
files_init(vmrt_wasi_t *w, const vmrt_wasi_config_t *cfg)
{
    wfd_t *e;

    if (cfg == NULL || cfg->root == NULL)
        return 0;
    if (pl_dir_open_root(&w->root, cfg->root, 0) != 0)
        return -1;
    w->has_root = 1;
    if (pl_fs_usage(&w->root, &w->usage) != 0 ||
        wfd_open(w, ".", PL_O_READ | PL_O_DIRECTORY, &e) != 0) {
        files_fini(w);
        return -1;
    }
    e->preopen = 1;
    e->rights = RIGHTS_ALL;
    e->inherit = RIGHTS_ALL;
    w->fds[WASI_ROOT_FD] = e;
    return 0;
}

size_t
vmrt_wasi_size(void)
{
    return sizeof(struct vmrt_wasi);
}

vmrt_wasi_t *
vmrt_wasi_create_static(void *mem, size_t size, const vmrt_wasi_config_t *cfg)
{
    vmrt_wasi_t *w = mem;
    uint32_t envc;
    size_t bytes;

    if (w == NULL || size < sizeof(*w) || config_check(cfg, &envc, &bytes) != 0)
        return NULL;
    wasi_init(w, cfg, envc);
    w->is_static = 1;
    if (files_init(w, cfg) != 0)
        return NULL;
    return w;
}

/*
 * Copy argv and envp into one block: the two pointer arrays, then the
 * strings, so that the context owns everything it hands the guest.
 */
vmrt_wasi_t *
vmrt_wasi_create(const vmrt_wasi_config_t *cfg)
{
    vmrt_wasi_t *w;
    const char **ptrs;
    char *s;
    uint32_t envc, i;
    size_t bytes, len;

    if (config_check(cfg, &envc, &bytes) != 0)
        return NULL;
    if ((w = vmrt__malloc(sizeof(*w))) == NULL)
        return NULL;
    wasi_init(w, cfg, envc);
    if (files_init(w, cfg) != 0)
        goto fail;
    if (w->argc + envc == 0)
        return w;
    /* Host pointers are wider than the 4 bytes counted per string. */
    bytes += ((size_t)w->argc + envc) * sizeof(char *);
    if ((w->copies = vmrt__malloc(bytes)) == NULL)
        goto fail;
    ptrs = w->copies;
    s = (char *)(ptrs + w->argc + envc);
    for (i = 0; i < w->argc + envc; i++) {
        const char *src = i < w->argc ? cfg->argv[i] : cfg->envp[i - w->argc];

        len = strlen(src) + 1;
        memcpy(s, src, len);
        ptrs[i] = s;
        s += len;
    }
    w->argv = ptrs;
    w->envp = ptrs + w->argc;
    return w;
fail:
    files_fini(w);
    vmrt__free(w);
    return NULL;
}

void
vmrt_wasi_destroy(vmrt_wasi_t *w)
{
    if (w == NULL)
        return;
    files_fini(w);
    if (w->is_static) {
        w->pending = 0;
        return;
    }
    vmrt__free(w->copies);
    vmrt__free(w);
}

int
vmrt_wasi_link(vmrt_wasi_t *w, vmrt_linker_t *lk)
{
    size_t i;
    int rc;

    if (w == NULL || lk == NULL)
        return VMRT_EINVAL;
    for (i = 0; i < sizeof(wasi_funcs) / sizeof(wasi_funcs[0]); i++) {
        rc = vmrt_linker_define_func(lk, "wasi_snapshot_preview1",
                                     wasi_funcs[i].name, wasi_funcs[i].sig,
                                     wasi_funcs[i].fn, w);
        if (rc != 0)
            return rc;
    }
    return 0;
}

uint64_t
vmrt_wasi_usage(const vmrt_wasi_t *w)
{
    return w != NULL && w->has_root ? w->usage : 0;
}

uint64_t
vmrt_wasi_wake_time(const vmrt_wasi_t *w)
{
    return w != NULL && w->pending ? w->deadline : 0;
}

int
vmrt_wasi_exit_code(const vmrt_wasi_t *w, uint32_t *code)
{
    if (w == NULL || !w->exited)
        return 0;
    if (code != NULL)
        *code = w->exit_code;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Snapshot hook                                                      */
/* ------------------------------------------------------------------ */

/*
 * Section 'WASI', version 1, all integers little-endian:
 *
 *   u8  version (1)
 *   u8  fd count (3: stdin, stdout, stderr)
 *   u8  per fd: flags, bit 0 = open
 *   u8  flags: bit 0 = a poll_oneoff is pending, bit 1 = the guest exited
 *   if pending: u32 in, u32 out, u32 n (the call's identity), u64 ns
 *               remaining to the deadline, u64 ns elapsed since the call
 *               began, u64 wall-clock time at which it began
 *   if exited:  u32 exit code
 *   version 2 and later, then the open files beneath the root:
 *   u8  count
 *   per file: u8 fd (3..), u8 kind (0 file, 1 directory), u8 flags
 *             (bit 0 read, bit 1 write, bit 2 append, bit 3 the preopened
 *             root), u64 rights, u64 inheriting rights, u64 position,
 *             u16 path length, the path relative to the root (no NUL)
 *
 * A restore reopens each file by its path beneath the restoring
 * context's own root (which may be on another device) and seeks to the
 * saved position; a file that is missing there fails the restore.
 *
 * Times are relative because monotonic clocks have no common epoch
 * across processes or devices; the wall-clock start is absolute, as the
 * guest's own realtime deadlines are.
 */
#define WSNAP_VERSION 2
#define WSNAP_NFDS 3
#define WSNAP_FD_OPEN 1u
#define WSNAP_PENDING 1u
#define WSNAP_EXITED 2u
#define WSNAP_POLL_BYTES (3 * 4 + 3 * 8)
#define WSNAP_MAX (4 + WSNAP_NFDS + WSNAP_POLL_BYTES + 4)
#define WSNAP_FILE_READ 1u
#define WSNAP_FILE_WRITE 2u
#define WSNAP_FILE_APPEND 4u
#define WSNAP_FILE_PREOPEN 8u
#define WSNAP_FILE_HDR (3 + 3 * 8 + 2)

/*
 * files_save: append the open-file list.
 * Return: 0 or a vmrt_snap_write() / port error as a VMRT_E* code.
 */
static int
files_save(const vmrt_wasi_t *w, vmrt_snap_writer_t *wr)
{
    uint8_t hdr[WSNAP_FILE_HDR], count = 0;
    uint64_t pos;
    uint32_t fd;
    size_t pl;
    wfd_t *e;
    int rc;

    for (fd = 0; fd < WASI_MAX_FDS; fd++)
        count += w->fds[fd] != NULL;
    if ((rc = vmrt_snap_write(wr, &count, 1)) != 0)
        return rc;
    for (fd = 0; fd < WASI_MAX_FDS; fd++) {
        if ((e = w->fds[fd]) == NULL)
            continue;
        pos = 0;
        if (e->kind == WFD_FILE &&
            pl_file_seek(&e->f, 0, PL_SEEK_CUR, &pos) != 0)
            return VMRT_EIO;
        pl = strlen(e->path);
        hdr[0] = (uint8_t)fd;
        hdr[1] = e->kind;
        hdr[2] = (uint8_t)((e->pflags & PL_O_READ ? WSNAP_FILE_READ : 0) |
                           (e->pflags & PL_O_WRITE ? WSNAP_FILE_WRITE : 0) |
                           (e->append ? WSNAP_FILE_APPEND : 0) |
                           (e->preopen ? WSNAP_FILE_PREOPEN : 0));
        put_u64(hdr + 3, e->rights);
        put_u64(hdr + 11, e->inherit);
        put_u64(hdr + 19, pos);
        put_u16(hdr + 27, (uint16_t)pl); /* pl < WASI_PATH_MAX */
        if ((rc = vmrt_snap_write(wr, hdr, sizeof(hdr))) != 0 ||
            (rc = vmrt_snap_write(wr, e->path, pl)) != 0)
            return rc;
    }
    return 0;
}

/*
 * files_load: parse the open-file list at [p, p + len) and reopen every
 * file into `fds` (all NULL on entry).
 * Return: 0; VMRT_ECORRUPT for a malformed list; VMRT_ENOTFOUND if a
 * file is missing (or there is no root); VMRT_EIO or VMRT_ENOMEM.  On
 * failure nothing stays open.
 */
static int
files_load(vmrt_wasi_t *w, const uint8_t *p, size_t len,
           wfd_t *fds[WASI_MAX_FDS])
{
    char path[WASI_PATH_MAX];
    uint32_t i, count, fd, kind, flags;
    unsigned pf;
    uint64_t pos;
    size_t pl;
    wfd_t *e;
    int rc;

    if (len < 1)
        return VMRT_ECORRUPT;
    count = *p++;
    len--;
    for (i = 0; i < count; i++) {
        rc = VMRT_ECORRUPT;
        if (len < WSNAP_FILE_HDR)
            goto fail;
        fd = p[0];
        kind = p[1];
        flags = p[2];
        pl = get_u16(p + 27);
        if (fd < WASI_ROOT_FD || fd >= WASI_MAX_FDS || fds[fd] != NULL ||
            kind > WFD_DIR || (flags & ~0xfu) != 0 ||
            (flags & (WSNAP_FILE_READ | WSNAP_FILE_WRITE)) == 0 ||
            pl == 0 || pl >= WASI_PATH_MAX || len - WSNAP_FILE_HDR < pl ||
            memchr(p + WSNAP_FILE_HDR, '\0', pl) != NULL ||
            p[WSNAP_FILE_HDR] == '/')
            goto fail;
        memcpy(path, p + WSNAP_FILE_HDR, pl);
        path[pl] = '\0';
        if ((flags & WSNAP_FILE_PREOPEN) &&
            (fd != WASI_ROOT_FD || kind != WFD_DIR || strcmp(path, ".") != 0))
            goto fail;
        rc = VMRT_ENOTFOUND;
        if (!w->has_root)
            goto fail;
        pf = (flags & WSNAP_FILE_READ ? PL_O_READ : 0) |
             (flags & WSNAP_FILE_WRITE ? PL_O_WRITE : 0) |
             (kind == WFD_DIR ? PL_O_DIRECTORY : 0);
        if ((rc = wfd_open(w, path, pf, &e)) != 0) {
            rc = rc == PL_ENOENT   ? VMRT_ENOTFOUND
                 : rc == PL_ENOMEM ? VMRT_ENOMEM
                                   : VMRT_EIO;
            goto fail;
        }
        fds[fd] = e;
        if (e->kind != kind) {
            rc = VMRT_ENOTFOUND; /* replaced by another kind of file */
            goto fail;
        }
        e->append = (flags & WSNAP_FILE_APPEND) != 0;
        e->preopen = (flags & WSNAP_FILE_PREOPEN) != 0;
        e->rights = get_u64(p + 3);
        e->inherit = get_u64(p + 11);
        pos = get_u64(p + 19);
        if (kind == WFD_FILE && (pos > INT64_MAX ||
                                 pl_file_seek(&e->f, (int64_t)pos, PL_SEEK_SET,
                                              NULL) != 0)) {
            rc = VMRT_EIO;
            goto fail;
        }
        p += WSNAP_FILE_HDR + pl;
        len -= WSNAP_FILE_HDR + pl;
    }
    rc = VMRT_ECORRUPT;
    if (len != 0)
        goto fail;
    return 0;
fail:
    for (fd = 0; fd < WASI_MAX_FDS; fd++) {
        wfd_free(fds[fd]);
        fds[fd] = NULL;
    }
    return rc;
}

static int
wasi_snap_save(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *wr)
{
    const vmrt_wasi_t *w = ctx;
    uint8_t buf[WSNAP_MAX], *p = buf;
    uint64_t now = pl_time_mono_ns();
    uint32_t fd;
    int rc;

    (void)inst;
    if (w == NULL)
        return VMRT_EINVAL;
    *p++ = WSNAP_VERSION;
    *p++ = WSNAP_NFDS;
    for (fd = 0; fd < WSNAP_NFDS; fd++)
        *p++ = fd_is_stdio(w, fd) ? WSNAP_FD_OPEN : 0;
    *p++ = (uint8_t)((w->pending ? WSNAP_PENDING : 0) |
                     (w->exited ? WSNAP_EXITED : 0));
    if (w->pending) {
        put_u32(p, w->poll_in);
        put_u32(p + 4, w->poll_out);
        put_u32(p + 8, w->poll_n);
        put_u64(p + 12, w->deadline > now ? w->deadline - now : 0);
        put_u64(p + 20, now > w->t0_mono ? now - w->t0_mono : 0);
        put_u64(p + 28, w->t0_real);
        p += WSNAP_POLL_BYTES;
    }
    if (w->exited) {
        put_u32(p, w->exit_code);
        p += 4;
    }
    if ((rc = vmrt_snap_write(wr, buf, (size_t)(p - buf))) != 0)
        return rc;
    return files_save(w, wr);
}

/*
 * wasi_snap_load: check the whole section, then apply it.
 * Return: 0; VMRT_ECORRUPT if any byte is out of place (the context is
 * then unchanged); VMRT_EVERSION for a later section version.
 */
static int
wasi_snap_load(void *ctx, vmrt_instance_t *inst, const uint8_t *data,
               size_t len)
{
    vmrt_wasi_t *w = ctx;
    const uint8_t *p = data;
    unsigned closed = 0, flags;
    uint64_t now, remaining = 0, elapsed = 0;
    wfd_t *fds[WASI_MAX_FDS] = { NULL };
    size_t need;
    uint32_t fd, n = 0;
    int rc;

    (void)inst;
    if (w == NULL || (data == NULL && len > 0))
        return VMRT_EINVAL;
    if (len < 3 + WSNAP_NFDS)
        return VMRT_ECORRUPT;
    if (p[0] == 0 || p[0] > WSNAP_VERSION)
        return p[0] > WSNAP_VERSION ? VMRT_EVERSION : VMRT_ECORRUPT;
    if (p[1] != WSNAP_NFDS)
        return VMRT_ECORRUPT;
    p += 2;
    for (fd = 0; fd < WSNAP_NFDS; fd++, p++) {
        if ((*p & ~WSNAP_FD_OPEN) != 0)
            return VMRT_ECORRUPT;
        if ((*p & WSNAP_FD_OPEN) == 0)
            closed |= 1u << fd;
    }
    flags = *p++;
    if ((flags & ~(WSNAP_PENDING | WSNAP_EXITED)) != 0)
        return VMRT_ECORRUPT;
    need = 3 + WSNAP_NFDS + (flags & WSNAP_PENDING ? WSNAP_POLL_BYTES : 0) +
           (flags & WSNAP_EXITED ? 4 : 0);
    if (data[0] == 1 ? len != need : len < need)
        return VMRT_ECORRUPT;
    if (flags & WSNAP_PENDING) {
        /* Exactly what poll_oneoff itself would have accepted. */
        n = get_u32(p + 8);
        if (n == 0 || n > WASI_POLL_MAX)
            return VMRT_ECORRUPT;
        remaining = get_u64(p + 12);
        elapsed = get_u64(p + 20);
    }
    /* Version 1 had no files: then the guest has none open either. */
    if (data[0] >= 2 &&
        (rc = files_load(w, data + need, len - need, fds)) != 0)
        return rc;

    /* Everything checked: apply. */
    for (fd = 0; data[0] >= 2 && fd < WASI_MAX_FDS; fd++) {
        wfd_free(w->fds[fd]);
        w->fds[fd] = fds[fd];
    }
    w->closed = closed;
    w->pending = 0;
    w->deadline = 0;
    if (flags & WSNAP_PENDING) {
        now = pl_time_mono_ns();
        w->pending = 1;
        w->poll_in = get_u32(p);
        w->poll_out = get_u32(p + 4);
        w->poll_n = n;
        w->deadline = remaining > UINT64_MAX - now ? UINT64_MAX
                                                   : now + remaining;
        /*
         * The retry recomputes each deadline as start + timeout, so the
         * start moves with the deadline.  On a clock younger than the
         * elapsed time, start at 0: the sleep may then end early, never
         * late.
         */
        w->t0_mono = now > elapsed ? now - elapsed : 0;
        w->t0_real = get_u64(p + 28);
        p += WSNAP_POLL_BYTES;
    }
    w->exited = (flags & WSNAP_EXITED) != 0;
    w->exit_code = w->exited ? get_u32(p) : 0;
    return 0;
}

vmrt_snap_hook_t
vmrt_wasi_snapshot_hook(vmrt_wasi_t *w)
{
    vmrt_snap_hook_t h;

    memset(&h, 0, sizeof(h));
    h.tag = VMRT_SNAP_TAG('W', 'A', 'S', 'I');
    h.ctx = w;
    h.save = wasi_snap_save;
    h.load = wasi_snap_load;
    return h;
}
