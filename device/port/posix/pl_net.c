/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* POSIX port: BSD sockets, poll(), Unix-domain sockets, wakeups. */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pl/pl.h"
#include "pl_internal.h"

_Static_assert(sizeof(((pl_sockaddr_t *)0)->u) >=
                   sizeof(struct sockaddr_storage),
               "pl_sockaddr_t must hold any socket address");

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* callers use pl_signal_ignore_pipe() there */
#endif

static struct sockaddr *
sa(pl_sockaddr_t *a)
{
    return (struct sockaddr *)(void *)a->u.bytes;
}

static const struct sockaddr *
csa(const pl_sockaddr_t *a)
{
    return (const struct sockaddr *)(const void *)a->u.bytes;
}

static int
set_cloexec_nonblock(int fd, int nonblock)
{
    int fl;

    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
        return pl__errno(errno);
    if ((fl = fcntl(fd, F_GETFL)) < 0)
        return pl__errno(errno);
    fl = nonblock ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) == 0 ? 0 : pl__errno(errno);
}

/* ---- addresses ------------------------------------------------------ */

int
pl_sockaddr_parse(pl_sockaddr_t *a, const char *str)
{
    struct addrinfo hints, *res = NULL;
    char host[256];
    const char *port, *end;
    size_t hlen;
    char *num_end;
    long pnum;
    int rc;

    if (a == NULL || str == NULL)
        return PL_EINVAL;
    memset(a, 0, sizeof(*a));
    if (str[0] == '[') {
        if ((end = strchr(str, ']')) == NULL || end[1] != ':')
            return PL_EADDRFORMAT;
        hlen = (size_t)(end - str - 1);
        port = end + 2;
        str++;
    } else {
        /* The last colon: a bare IPv6 address must use brackets. */
        if ((end = strrchr(str, ':')) == NULL || strchr(str, ':') != end)
            return PL_EADDRFORMAT;
        hlen = (size_t)(end - str);
        port = end + 1;
    }
    if (hlen == 0 || hlen >= sizeof(host))
        return PL_EADDRFORMAT;
    memcpy(host, str, hlen);
    host[hlen] = '\0';
    errno = 0;
    pnum = strtol(port, &num_end, 10);
    if (port[0] < '0' || port[0] > '9' || *num_end != '\0' || pnum < 0 ||
        pnum > 65535)
        return PL_EADDRFORMAT;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = AI_NUMERICSERV;
    hints.ai_socktype = SOCK_STREAM; /* one row per address, not per type */
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        if (rc == EAI_MEMORY)
            return PL_ENOMEM;
        if (rc == EAI_SYSTEM)
            return pl__errno(errno);
        return PL_ENOHOST;
    }
    {
        /* Prefer IPv4 for names: "localhost" must mean 127.0.0.1 here. */
        struct addrinfo *ai, *pick = res;
        for (ai = res; ai != NULL; ai = ai->ai_next)
            if (ai->ai_family == AF_INET) {
                pick = ai;
                break;
            }
        if (pick->ai_addrlen > sizeof(a->u)) {
            freeaddrinfo(res);
            return PL_EAFNOSUPPORT;
        }
        memcpy(a->u.bytes, pick->ai_addr, pick->ai_addrlen);
        a->len = (uint32_t)pick->ai_addrlen;
    }
    freeaddrinfo(res);
    return 0;
}

int
pl_sockaddr_format(const pl_sockaddr_t *a, char *buf, size_t len)
{
    char host[INET6_ADDRSTRLEN];
    int n;

    if (a == NULL || buf == NULL || len == 0)
        return PL_EINVAL;
    buf[0] = '\0';
    switch (csa(a)->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *in = (const void *)a->u.bytes;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        n = snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const void *)a->u.bytes;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        n = snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const void *)a->u.bytes;
        n = snprintf(buf, len, "%.*s", (int)sizeof(un->sun_path), un->sun_path);
        break;
    }
    default:
        return PL_EAFNOSUPPORT;
    }
    return n >= 0 && (size_t)n < len ? 0 : PL_ENAMETOOLONG;
}

uint16_t
pl_sockaddr_port(const pl_sockaddr_t *a)
{
    switch (csa(a)->sa_family) {
    case AF_INET:
        return ntohs(
            ((const struct sockaddr_in *)(const void *)a->u.bytes)->sin_port);
    case AF_INET6:
        return ntohs(
            ((const struct sockaddr_in6 *)(const void *)a->u.bytes)->sin6_port);
    default:
        return 0;
    }
}

int
pl_sockaddr_family(const pl_sockaddr_t *a)
{
    switch (csa(a)->sa_family) {
    case AF_INET:
        return PL_AF_INET;
    case AF_INET6:
        return PL_AF_INET6;
    case AF_UNIX:
        return PL_AF_UNIX;
    default:
        return PL_AF_UNSPEC;
    }
}

/* ---- sockets -------------------------------------------------------- */

/*
 * new_socket: a close-on-exec socket of the address's family.
 * Return: a descriptor or a negative PL_E* code.
 */
static int
new_socket(int family, int type)
{
    int fd, rc;

#ifdef SOCK_CLOEXEC
    if ((fd = socket(family, type | SOCK_CLOEXEC, 0)) < 0)
        return pl__errno(errno);
#else
    if ((fd = socket(family, type, 0)) < 0)
        return pl__errno(errno);
#endif
    if ((rc = set_cloexec_nonblock(fd, 0)) != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static int
check_addr(const pl_sockaddr_t *a)
{
    if (a == NULL || a->len == 0 || a->len > sizeof(a->u))
        return PL_EINVAL;
    return 0;
}

int
pl_tcp_connect(const pl_sockaddr_t *a, int timeout_ms, pl_socket_t *s)
{
    struct pollfd pfd;
    socklen_t elen = sizeof(int);
    int fd, rc, err = 0;

    if ((rc = check_addr(a)) != 0 || s == NULL)
        return rc != 0 ? rc : PL_EINVAL;
    *s = PL_SOCKET_INVALID;
    if ((fd = new_socket(csa(a)->sa_family, SOCK_STREAM)) < 0)
        return fd;
    /* Non-blocking so that the timeout is ours, not the kernel's. */
    if (timeout_ms >= 0 && (rc = set_cloexec_nonblock(fd, 1)) != 0)
        goto fail;
    if (connect(fd, csa(a), (socklen_t)a->len) != 0) {
        if (errno != EINPROGRESS && errno != EINTR) {
            rc = pl__errno(errno);
            goto fail;
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        for (;;) {
            int n = poll(&pfd, 1, timeout_ms);
            if (n < 0 && errno == EINTR)
                continue; /* restarts the full timeout; good enough */
            if (n < 0) {
                rc = pl__errno(errno);
                goto fail;
            }
            if (n == 0) {
                rc = PL_ETIMEDOUT;
                goto fail;
            }
            break;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0) {
            rc = pl__errno(errno);
            goto fail;
        }
        if (err != 0) {
            rc = pl__errno(err);
            goto fail;
        }
    }
    if ((rc = set_cloexec_nonblock(fd, 0)) != 0)
        goto fail;
    *s = fd;
    return 0;
fail:
    close(fd);
    return rc;
}

int
pl_tcp_listen(const pl_sockaddr_t *a, int backlog, pl_socket_t *s)
{
    int fd, rc, one = 1;

    if ((rc = check_addr(a)) != 0 || s == NULL)
        return rc != 0 ? rc : PL_EINVAL;
    *s = PL_SOCKET_INVALID;
    if ((fd = new_socket(csa(a)->sa_family, SOCK_STREAM)) < 0)
        return fd;
    /* A restarted daemon must not wait for TIME_WAIT to end. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, csa(a), (socklen_t)a->len) != 0 ||
        listen(fd, backlog > 0 ? backlog : 16) != 0) {
        rc = pl__errno(errno);
        close(fd);
        return rc;
    }
    *s = fd;
    return 0;
}

int
pl_sock_accept(pl_socket_t l, pl_socket_t *s, pl_sockaddr_t *peer)
{
    pl_sockaddr_t tmp;
    socklen_t len = sizeof(tmp.u);
    int fd, rc;

    if (s == NULL)
        return PL_EINVAL;
    *s = PL_SOCKET_INVALID;
    memset(&tmp, 0, sizeof(tmp));
    do
        fd = accept(l, sa(&tmp), &len);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0)
        return pl__errno(errno);
    /* Accepted sockets do not inherit O_NONBLOCK on Linux; be explicit. */
    if ((rc = set_cloexec_nonblock(fd, 0)) != 0) {
        close(fd);
        return rc;
    }
    if (peer != NULL) {
        tmp.len = (uint32_t)len;
        *peer = tmp;
    }
    *s = fd;
    return 0;
}

int
pl_udp_bind(const pl_sockaddr_t *a, pl_socket_t *s)
{
    int fd, rc;

    if ((rc = check_addr(a)) != 0 || s == NULL)
        return rc != 0 ? rc : PL_EINVAL;
    *s = PL_SOCKET_INVALID;
    if ((fd = new_socket(csa(a)->sa_family, SOCK_DGRAM)) < 0)
        return fd;
    if (bind(fd, csa(a), (socklen_t)a->len) != 0) {
        rc = pl__errno(errno);
        close(fd);
        return rc;
    }
    *s = fd;
    return 0;
}

int
pl_sock_sendto(pl_socket_t s, const void *buf, size_t len,
               const pl_sockaddr_t *to, size_t *n)
{
    ssize_t r;
    int rc;

    if ((rc = check_addr(to)) != 0)
        return rc;
    do
        r = sendto(s, buf, len, MSG_NOSIGNAL, csa(to), (socklen_t)to->len);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_sock_recvfrom(pl_socket_t s, void *buf, size_t len, pl_sockaddr_t *from,
                 size_t *n)
{
    pl_sockaddr_t tmp;
    socklen_t alen = sizeof(tmp.u);
    ssize_t r;

    memset(&tmp, 0, sizeof(tmp));
    do
        r = recvfrom(s, buf, len, 0, sa(&tmp), &alen);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    if (from != NULL) {
        tmp.len = (uint32_t)alen;
        *from = tmp;
    }
    *n = (size_t)r;
    return 0;
}

int
pl_sock_send(pl_socket_t s, const void *buf, size_t len, size_t *n)
{
    ssize_t r;

    do
        r = send(s, buf, len, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_sock_recv(pl_socket_t s, void *buf, size_t len, size_t *n)
{
    ssize_t r;

    do
        r = recv(s, buf, len, 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    *n = (size_t)r;
    return 0;
}

int
pl_sock_shutdown(pl_socket_t s, int how)
{
    int h;

    switch (how) {
    case PL_SHUT_RD:
        h = SHUT_RD;
        break;
    case PL_SHUT_WR:
        h = SHUT_WR;
        break;
    case PL_SHUT_RDWR:
        h = SHUT_RDWR;
        break;
    default:
        return PL_EINVAL;
    }
    return shutdown(s, h) == 0 ? 0 : pl__errno(errno);
}

int
pl_sock_close(pl_socket_t s)
{
    if (s < 0)
        return 0;
    if (close(s) != 0 && errno != EINTR)
        return pl__errno(errno);
    return 0;
}

int
pl_sock_set_nonblock(pl_socket_t s, int on)
{
    int fl;

    if ((fl = fcntl(s, F_GETFL)) < 0)
        return pl__errno(errno);
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(s, F_SETFL, fl) == 0 ? 0 : pl__errno(errno);
}

int
pl_sock_local_addr(pl_socket_t s, pl_sockaddr_t *a)
{
    socklen_t len = sizeof(a->u);

    memset(a, 0, sizeof(*a));
    if (getsockname(s, sa(a), &len) != 0)
        return pl__errno(errno);
    a->len = (uint32_t)len;
    return 0;
}

/* ---- readiness ------------------------------------------------------ */

int
pl_poll(pl_pollfd_t *fds, size_t n, int timeout_ms)
{
    struct pollfd stackbuf[32], *p = stackbuf;
    size_t i;
    int r, rc;

    if (n > 0 && fds == NULL)
        return PL_EINVAL;
    /* Most loops poll a handful of fds; only big sets allocate. */
    if (n > sizeof(stackbuf) / sizeof(stackbuf[0]) &&
        (p = calloc(n, sizeof(*p))) == NULL)
        return PL_ENOMEM;
    for (i = 0; i < n; i++) {
        p[i].fd = fds[i].fd;
        p[i].events = (short)(((fds[i].events & PL_POLLIN) ? POLLIN : 0) |
                              ((fds[i].events & PL_POLLOUT) ? POLLOUT : 0));
        p[i].revents = 0;
    }
    r = poll(p, (nfds_t)n, timeout_ms < 0 ? -1 : timeout_ms);
    if (r < 0) {
        rc = pl__errno(errno);
        goto out;
    }
    for (i = 0; i < n; i++) {
        unsigned ev = 0;
        if (p[i].revents & POLLIN)
            ev |= PL_POLLIN;
        if (p[i].revents & POLLOUT)
            ev |= PL_POLLOUT;
        if (p[i].revents & (POLLERR | POLLNVAL))
            ev |= PL_POLLERR;
        if (p[i].revents & POLLHUP)
            ev |= PL_POLLHUP;
        fds[i].revents = ev;
    }
    rc = r;
out:
    if (p != stackbuf)
        free(p);
    return rc;
}

/* ---- Unix-domain sockets -------------------------------------------- */

static int
unix_addr(struct sockaddr_un *un, const char *path)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    if (path == NULL || path[0] == '\0')
        return PL_EINVAL;
    if (strlen(path) >= sizeof(un->sun_path))
        return PL_ENAMETOOLONG;
    strcpy(un->sun_path, path);
    return 0;
}

int
pl_unix_connect(const char *path, pl_socket_t *s)
{
    struct sockaddr_un un;
    int fd, rc;

    if (s == NULL)
        return PL_EINVAL;
    *s = PL_SOCKET_INVALID;
    if ((rc = unix_addr(&un, path)) != 0)
        return rc;
    if ((fd = new_socket(AF_UNIX, SOCK_STREAM)) < 0)
        return fd;
    do
        rc = connect(fd, (struct sockaddr *)&un, sizeof(un));
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        rc = pl__errno(errno);
        close(fd);
        return rc;
    }
    *s = fd;
    return 0;
}

/*
 * check_stale: decides whether an existing path may be replaced.
 * Return: 0 if nothing is there or it is a socket nobody listens on;
 * PL_EADDRINUSE if a live listener answers; PL_EEXIST if it is not a
 * socket (never delete a user's file).
 */
static int
check_stale(const char *path)
{
    struct stat st;
    pl_socket_t probe;
    int rc;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : pl__errno(errno);
    if (!S_ISSOCK(st.st_mode))
        return PL_EEXIST;
    rc = pl_unix_connect(path, &probe);
    if (rc == 0) {
        pl_sock_close(probe);
        return PL_EADDRINUSE;
    }
    return rc == PL_ECONNREFUSED || rc == PL_ENOENT ? 0 : rc;
}

int
pl_unix_listen(const char *path, int backlog, pl_socket_t *s)
{
    static atomic_uint seq;
    struct sockaddr_un un, tmp;
    char tpath[sizeof(un.sun_path) + 32];
    int fd, rc, direct;

    if (s == NULL)
        return PL_EINVAL;
    *s = PL_SOCKET_INVALID;
    if ((rc = unix_addr(&un, path)) != 0)
        return rc;
    if ((rc = check_stale(path)) != 0)
        return rc;
    /*
     * Bind to a temporary name, restrict it to 0600, then rename it into
     * place: the socket is never reachable with a wider mode, and no
     * process-wide umask() change races with other threads.
     */
    snprintf(tpath, sizeof(tpath), "%s.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&seq, 1u));
    if ((direct = unix_addr(&tmp, tpath) != 0) != 0) {
        /*
         * No room for the temporary name: bind in place.  Until chmod()
         * the socket has the umask's mode, which callers avoid by keeping
         * socket paths short.
         */
        tmp = un;
        snprintf(tpath, sizeof(tpath), "%s", path);
    }
    if ((fd = new_socket(AF_UNIX, SOCK_STREAM)) < 0)
        return fd;
    (void)unlink(tpath);
    if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) != 0) {
        rc = pl__errno(errno);
        close(fd);
        return rc;
    }
    if (chmod(tpath, 0600) != 0 ||
        listen(fd, backlog > 0 ? backlog : 16) != 0 ||
        (!direct && rename(tpath, path) != 0)) {
        rc = pl__errno(errno);
        unlink(tpath);
        close(fd);
        return rc;
    }
    *s = fd;
    return 0;
}

int
pl_sock_peer_cred(pl_socket_t s, uint32_t *uid, uint32_t *gid, pl_pid_t *pid)
{
#if defined(SO_PEERCRED) && defined(__linux__)
    struct ucred cr;
    socklen_t len = sizeof(cr);

    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return pl__errno(errno);
    if (uid != NULL)
        *uid = (uint32_t)cr.uid;
    if (gid != NULL)
        *gid = (uint32_t)cr.gid;
    if (pid != NULL)
        *pid = (pl_pid_t)cr.pid;
    return 0;
#else
    uid_t u;
    gid_t g;

    /* BSDs and macOS: getpeereid() has no pid. */
    if (getpeereid(s, &u, &g) != 0)
        return pl__errno(errno);
    if (uid != NULL)
        *uid = (uint32_t)u;
    if (gid != NULL)
        *gid = (uint32_t)g;
    if (pid != NULL)
        *pid = -1;
    return 0;
#endif
}

/* ---- wakeups -------------------------------------------------------- */

int
pl_wakeup_init(pl_wakeup_t *w)
{
    int fds[2], rc;

    if (w == NULL)
        return PL_EINVAL;
    w->rfd = w->wfd = -1;
    /* A pipe, not eventfd: portable, and write() is async-signal-safe. */
    if (pipe(fds) != 0)
        return pl__errno(errno);
    if ((rc = set_cloexec_nonblock(fds[0], 1)) != 0 ||
        (rc = set_cloexec_nonblock(fds[1], 1)) != 0) {
        close(fds[0]);
        close(fds[1]);
        return rc;
    }
    w->rfd = fds[0];
    w->wfd = fds[1];
    return 0;
}

void
pl_wakeup_signal(pl_wakeup_t *w)
{
    int saved = errno;
    char c = 1;
    ssize_t r;

    /*
     * A full pipe (EAGAIN) already means "wake up"; errno is preserved
     * because this runs inside signal handlers.
     */
    do
        r = write(w->wfd, &c, 1);
    while (r < 0 && errno == EINTR);
    errno = saved;
}

pl_socket_t
pl_wakeup_fd(const pl_wakeup_t *w)
{
    return w->rfd;
}

void
pl_wakeup_drain(pl_wakeup_t *w)
{
    char buf[64];
    ssize_t r;

    do
        r = read(w->rfd, buf, sizeof(buf));
    while (r > 0 || (r < 0 && errno == EINTR));
}

void
pl_wakeup_destroy(pl_wakeup_t *w)
{
    if (w == NULL)
        return;
    if (w->rfd >= 0)
        close(w->rfd);
    if (w->wfd >= 0)
        close(w->wfd);
    w->rfd = w->wfd = -1;
}
