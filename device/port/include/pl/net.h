/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_NET_H
#define PL_NET_H

/*
 * Sockets.
 * Needed by: vOS network API (TCP, UDP, poll), runtime control API (Unix
 * stream sockets with peer credentials), daemon main loop (pl_poll with a
 * pl_wakeup_t).  MQTT is Paho's business and does not come through here.
 *
 * Sockets are plain descriptors (pl_socket_t).  Unless stated, calls block;
 * on a socket made non-blocking they return PL_EAGAIN instead of waiting.
 * Sending never raises SIGPIPE: a closed peer gives PL_EPIPE.
 *
 * Included by pl/pl.h; include that instead.
 */

#include <stddef.h>
#include <stdint.h>

#include "pl_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- addresses ------------------------------------------------------ */

/** Longest text pl_sockaddr_format() writes, with its NUL. */
#define PL_SOCKADDR_STRLEN 64

/** Address families, as reported by pl_sockaddr_family(). */
enum { PL_AF_UNSPEC = 0, PL_AF_INET = 4, PL_AF_INET6 = 6, PL_AF_UNIX = 1 };

/**
 * Parse "1.2.3.4:80", "[::1]:80" or "name:80" (name resolved with the
 * system resolver; the first address wins, IPv4 preferred for a name).
 * Port 0 asks for an ephemeral port when binding.
 * @return 0, PL_EADDRFORMAT (malformed), PL_ENOHOST (name not found).
 */
int pl_sockaddr_parse(pl_sockaddr_t *a, const char *str);

/**
 * Format as "1.2.3.4:80" or "[::1]:80" into buf (PL_SOCKADDR_STRLEN is
 * always enough).  @return 0, PL_ENAMETOOLONG, PL_EAFNOSUPPORT.
 */
int pl_sockaddr_format(const pl_sockaddr_t *a, char *buf, size_t len);

/** @return the port of an IP address, or 0. */
uint16_t pl_sockaddr_port(const pl_sockaddr_t *a);

/** @return PL_AF_INET, PL_AF_INET6, PL_AF_UNIX or PL_AF_UNSPEC. */
int pl_sockaddr_family(const pl_sockaddr_t *a);

/* ---- TCP ------------------------------------------------------------ */

/**
 * Connect, giving up after timeout_ms (negative: the OS's own timeout).
 * The returned socket is blocking.
 * @return 0, PL_ETIMEDOUT, PL_ECONNREFUSED, PL_ENETUNREACH, ...
 */
int pl_tcp_connect(const pl_sockaddr_t *a, int timeout_ms, pl_socket_t *s);

/**
 * Bind (with address reuse) and listen.  Use pl_sock_local_addr() to learn
 * an ephemeral port.  @return 0, PL_EADDRINUSE, PL_EACCES, ...
 */
int pl_tcp_listen(const pl_sockaddr_t *a, int backlog, pl_socket_t *s);

/**
 * Accept one connection on a TCP or Unix listener.
 * @param peer where to store the peer's address; may be NULL.
 * @return 0, PL_EAGAIN (non-blocking, nobody waiting), ...
 */
int pl_sock_accept(pl_socket_t l, pl_socket_t *s, pl_sockaddr_t *peer);

/* ---- UDP ------------------------------------------------------------ */

/** Open a UDP socket bound to a (port 0: ephemeral; "0.0.0.0:0": any). */
int pl_udp_bind(const pl_sockaddr_t *a, pl_socket_t *s);

/** Send one datagram.  @return 0 with *n bytes sent, PL_EMSGSIZE, ... */
int pl_sock_sendto(pl_socket_t s, const void *buf, size_t len,
                   const pl_sockaddr_t *to, size_t *n);

/**
 * Receive one datagram (excess bytes of a longer one are dropped).
 * @param from the sender; may be NULL.
 */
int pl_sock_recvfrom(pl_socket_t s, void *buf, size_t len, pl_sockaddr_t *from,
                     size_t *n);

/* ---- stream I/O and options ----------------------------------------- */

/** Send up to len bytes; *n may be short.  @return 0, PL_EPIPE, ... */
int pl_sock_send(pl_socket_t s, const void *buf, size_t len, size_t *n);

/** Receive up to len bytes; *n == 0 means the peer closed. */
int pl_sock_recv(pl_socket_t s, void *buf, size_t len, size_t *n);

/** Shut down one or both directions. */
enum { PL_SHUT_RD = 1, PL_SHUT_WR = 2, PL_SHUT_RDWR = 3 };
int pl_sock_shutdown(pl_socket_t s, int how);

/** Close a socket; PL_SOCKET_INVALID is ignored. */
int pl_sock_close(pl_socket_t s);

/** Switch non-blocking mode on (on != 0) or off. */
int pl_sock_set_nonblock(pl_socket_t s, int on);

/** The address a socket is bound to (learn an ephemeral port). */
int pl_sock_local_addr(pl_socket_t s, pl_sockaddr_t *a);

/* ---- readiness ------------------------------------------------------ */

enum {
    PL_POLLIN = 1u << 0,  /**< readable, or a listener has a connection */
    PL_POLLOUT = 1u << 1, /**< writable, or a connect finished */
    PL_POLLERR = 1u << 2, /**< (revents only) error pending */
    PL_POLLHUP = 1u << 3  /**< (revents only) peer hung up */
};

typedef struct pl_pollfd {
    pl_socket_t fd;   /**< a socket or pl_wakeup_fd(); negative: ignored */
    unsigned events;  /**< PL_POLLIN | PL_POLLOUT */
    unsigned revents; /**< filled by pl_poll() */
} pl_pollfd_t;

/**
 * Wait until one of n descriptors is ready or timeout_ms passes
 * (negative: forever, 0: just look).
 * @return the number of entries with revents != 0 (0 on timeout),
 *         PL_EINTR if a signal arrived, or another PL_E* code.
 */
int pl_poll(pl_pollfd_t *fds, size_t n, int timeout_ms);

/* ---- Unix-domain stream sockets (local control API) ----------------- */

/**
 * Listen on a filesystem path with mode 0600.  A stale socket file left by
 * a dead process is replaced; a path owned by a live listener gives
 * PL_EADDRINUSE, and a path that is not a socket gives PL_EEXIST.
 * @return 0, PL_ENAMETOOLONG (path longer than the OS allows), ...
 */
int pl_unix_listen(const char *path, int backlog, pl_socket_t *s);

/** Connect to a Unix stream socket.  @return 0, PL_ECONNREFUSED, ... */
int pl_unix_connect(const char *path, pl_socket_t *s);

/**
 * Credentials of the process at the other end of a connected Unix socket,
 * as the kernel recorded them at connect time (SO_PEERCRED).
 * @param pid may be NULL; set to -1 where the OS does not tell.
 * @return 0, PL_ENOSYS on ports that cannot tell, ...
 */
int pl_sock_peer_cred(pl_socket_t s, uint32_t *uid, uint32_t *gid,
                      pl_pid_t *pid);

/* ---- waking a poll loop --------------------------------------------- */

/** Create a wakeup: an fd that pl_poll() sees readable once signalled. */
int pl_wakeup_init(pl_wakeup_t *w);

/**
 * Make the wakeup readable.  Safe from any thread and from a signal
 * handler (async-signal-safe); signalling twice before a drain is fine.
 */
void pl_wakeup_signal(pl_wakeup_t *w);

/** The descriptor to put into a pl_pollfd_t with PL_POLLIN. */
pl_socket_t pl_wakeup_fd(const pl_wakeup_t *w);

/** Consume all pending signals so the fd is no longer readable. */
void pl_wakeup_drain(pl_wakeup_t *w);

/** Release a wakeup; NULL-safe. */
void pl_wakeup_destroy(pl_wakeup_t *w);

#ifdef __cplusplus
}
#endif
#endif /* PL_NET_H */
