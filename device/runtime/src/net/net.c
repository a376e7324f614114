/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The net subsystem: vos_sock_* (sdk/include/vos.h) on the port's sockets.
 *
 * Sockets are non-blocking underneath.  A call that would block puts its
 * green thread on the socket's wait queue (vmrt__block) and records what
 * it waits for; one poll thread per runtime pl_poll()s every socket that
 * someone waits on, plus a pl_wakeup to learn about new waiters, and
 * wakes the queue of each socket that became ready.  The woken call is
 * retried by the engine and simply tries again.
 *
 * Limits (docs/vos-api.md): connect runs the port's blocking connect on
 * the worker, for at most the guest's timeout capped at NET_CONNECT_MAX_MS
 * (loopback and LAN connects finish at once); allowlist names are
 * resolved with the system resolver on the worker too.  Sockets do not
 * survive a snapshot: a restored VM gets its socket handles back, but
 * every call on them returns VOS_ECONNRESET.
 *
 * Locking: rt->lock guards the runtime's socket list, each socket's
 * `want` bits and wait queue.  A socket's descriptor is used only by its
 * own VM's host calls and, read-only, by the poll thread.
 */

#include <string.h>

#include "engine/module.h" /* vmrt__malloc / vmrt__free */
#include "net/net.h"
#include "vm/vm_internal.h"
#include "vos.h"
#include "vos/handles.h"

#define NET_CONNECT_MAX_MS 10000u
#define NET_ADDR_MAX 128u
#define NET_IO_MAX (1u << 20) /* bytes moved by one call */
#define NET_POLL_MAX 256u     /* sockets polled at once */

typedef struct sock {
    vmrt_vm_t *vm;
    pl_socket_t fd;     /* PL_SOCKET_INVALID until bound or connected */
    uint8_t type;       /* VOS_SOCK_TCP / VOS_SOCK_UDP */
    bool listening;
    bool dead;          /* restored from a snapshot: ECONNRESET */
    bool has_local;     /* TCP bind() seen, listen() pending */
    pl_sockaddr_t local;
    unsigned want;      /* PL_POLLIN | PL_POLLOUT someone waits for */
    vmrt__waitq_t wq;
    struct sock *next;  /* runtime list (rt->lock) */
} sock_t;

typedef struct net_rt {
    vmrt_rt_t *rt;
    pl_wakeup_t wake;
    pl_thread_t thread;
    bool running;
    bool quit;          /* rt->lock */
    sock_t *socks;      /* rt->lock */
} net_rt_t;

/* ---- helpers --------------------------------------------------------- */

static net_rt_t *
net_of(vmrt_vm_t *vm)
{
    return vm->rt->sub[VMRT__SUB_NET];
}

static uint8_t *
guest_mem(vmrt_instance_t *inst, uint32_t ptr, uint32_t len)
{
    uint64_t size = 0;
    uint8_t *base = vmrt_instance_memory(inst, &size);

    if (base == NULL || (uint64_t)ptr + len > size)
        return NULL;
    return base + ptr;
}

static int
vos_err(int pl)
{
    switch (pl) {
    case PL_EAGAIN:
        return VOS_EAGAIN;
    case PL_ENOMEM:
    case PL_EMFILE:
        return VOS_ENOMEM;
    case PL_ETIMEDOUT:
        return VOS_ETIMEDOUT;
    case PL_ECONNREFUSED:
        return VOS_ECONNREFUSED;
    case PL_EPIPE:
    case PL_ECONNRESET:
    case PL_ECONNABORTED:
    case PL_ENOTCONN:
    case PL_ENETUNREACH:
    case PL_EHOSTUNREACH:
        return VOS_ECONNRESET;
    case PL_EMSGSIZE:
        return VOS_EMSGSIZE;
    case PL_EADDRINUSE:
        return VOS_EBUSY;
    case PL_EACCES:
    case PL_EPERM:
        return VOS_EPERM;
    case PL_ENOHOST:
        return VOS_ENOENT;
    default:
        return VOS_EINVAL;
    }
}

/*
 * guest_addr: parse the guest's "host:port" text.
 * Return: 0, VOS_EFAULT, VOS_EINVAL (malformed, too long) or VOS_ENOENT
 * (a name that does not resolve).
 */
static int
guest_addr(vmrt_instance_t *inst, uint32_t ptr, uint32_t len,
           pl_sockaddr_t *a)
{
    char buf[NET_ADDR_MAX];
    const uint8_t *p;
    int rc;

    if (len == 0 || len >= sizeof(buf))
        return VOS_EINVAL;
    if ((p = guest_mem(inst, ptr, len)) == NULL)
        return VOS_EFAULT;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (strlen(buf) != len)
        return VOS_EINVAL;
    if ((rc = pl_sockaddr_parse(a, buf)) != 0)
        return rc == PL_ENOHOST ? VOS_ENOENT : VOS_EINVAL;
    return 0;
}

static int
proto_of(const sock_t *s)
{
    return s->type == VOS_SOCK_UDP ? VMRT__NET_UDP : VMRT__NET_TCP;
}

/*
 * sock_get: the socket behind handle h.
 * Return: 0 with *out set, VOS_EBADF, or VOS_ECONNRESET for a socket
 * that did not survive a snapshot.
 */
static int
sock_get(vmrt_vm_t *vm, int h, sock_t **out)
{
    sock_t *s = vmrt__handle_get(vm, h, VMRT__H_SOCK);

    if (s == NULL)
        return VOS_EBADF;
    if (s->dead)
        return VOS_ECONNRESET;
    *out = s;
    return 0;
}

/* Make a fresh descriptor non-blocking and let the poll thread see it. */
static int
sock_adopt(sock_t *s, pl_socket_t fd)
{
    int rc;

    if ((rc = pl_sock_set_nonblock(fd, 1)) != 0) {
        pl_sock_close(fd);
        return vos_err(rc);
    }
    s->fd = fd;
    return 0;
}

/*
 * sock_wait: the operation on `s` would block.  On a retry whose wait
 * timed out (or whose socket went away) finish the call; otherwise wait
 * for `ev` until the call's deadline.
 * Return: VMRT_HOST_BLOCK to return from the host function, or a VOS_E*
 * code (VOS_EAGAIN for a zero timeout, VOS_ETIMEDOUT, VOS_ECLOSED) to
 * hand the guest.
 */
static int
sock_wait(vmrt_instance_t *inst, sock_t *s, unsigned ev, uint32_t timeout_ms)
{
    vmrt__vthread_t *t = vmrt__self(inst);
    net_rt_t *n = net_of(s->vm);
    vmrt__wake_t why = vmrt__woken(t);
    uint64_t dl;
    int rc;

    if (timeout_ms == VOS_NO_WAIT) {
        vmrt__wait_end(t);
        return VOS_EAGAIN;
    }
    if (why == VMRT__WAKE_TIMEOUT || why == VMRT__WAKE_ABORTED) {
        vmrt__wait_end(t);
        return why == VMRT__WAKE_TIMEOUT ? VOS_ETIMEDOUT : VOS_ECLOSED;
    }
    dl = vmrt__deadline(t, timeout_ms == VOS_FOREVER
                               ? UINT64_MAX
                               : (uint64_t)timeout_ms * 1000000u);
    pl_mutex_lock(&s->vm->rt->lock);
    s->want |= ev;
    rc = vmrt__block(t, &s->wq, dl);
    pl_mutex_unlock(&s->vm->rt->lock);
    pl_wakeup_signal(&n->wake);
    return rc;
}

/* A call that completed (possibly after waiting) ends its wait. */
static int
done(vmrt_instance_t *inst, uint64_t *results, int v)
{
    vmrt__wait_end(vmrt__self(inst));
    results[0] = (uint32_t)v;
    return 0;
}

/* ---- the poll thread ------------------------------------------------- */

static void
poll_main(void *arg)
{
    net_rt_t *n = arg;
    pl_pollfd_t fds[NET_POLL_MAX + 1];
    sock_t *who[NET_POLL_MAX + 1];
    size_t cnt, i;
    sock_t *s;

    for (;;) {
        pl_mutex_lock(&n->rt->lock);
        if (n->quit) {
            pl_mutex_unlock(&n->rt->lock);
            return;
        }
        fds[0].fd = pl_wakeup_fd(&n->wake);
        fds[0].events = PL_POLLIN;
        fds[0].revents = 0;
        cnt = 1;
        for (s = n->socks; s != NULL && cnt <= NET_POLL_MAX; s = s->next) {
            if (s->want == 0 || s->fd == PL_SOCKET_INVALID)
                continue;
            fds[cnt].fd = s->fd;
            fds[cnt].events = s->want;
            fds[cnt].revents = 0;
            who[cnt++] = s;
        }
        pl_mutex_unlock(&n->rt->lock);

        if (pl_poll(fds, cnt, -1) < 0)
            continue; /* EINTR; anything else shows up on the next round */
        if (fds[0].revents != 0)
            pl_wakeup_drain(&n->wake);

        pl_mutex_lock(&n->rt->lock);
        for (i = 1; i < cnt; i++) {
            if (fds[i].revents == 0)
                continue;
            /* The socket may have closed meanwhile: find it again. */
            for (s = n->socks; s != NULL && s != who[i]; s = s->next)
                ;
            if (s == NULL || s->fd != fds[i].fd)
                continue;
            s->want = 0; /* the retried calls ask again if need be */
            vmrt__wake(&s->wq, UINT32_MAX);
        }
        pl_mutex_unlock(&n->rt->lock);
    }
}

static int
net_rt_init(vmrt_rt_t *rt)
{
    pl_thread_opts_t o;
    net_rt_t *n;
    int rc;

    if ((n = vmrt__malloc(sizeof(*n))) == NULL)
        return VMRT_ENOMEM;
    memset(n, 0, sizeof(*n));
    n->rt = rt;
    if ((rc = pl_wakeup_init(&n->wake)) != 0)
        goto fail;
    memset(&o, 0, sizeof(o));
    o.name = "vmrt-net";
    if ((rc = pl_thread_create(&n->thread, &o, poll_main, n)) != 0) {
        pl_wakeup_destroy(&n->wake);
        goto fail;
    }
    n->running = true;
    rt->sub[VMRT__SUB_NET] = n;
    return 0;
fail:
    vmrt__free(n);
    return VMRT_EIO;
}

static void
net_rt_fini(vmrt_rt_t *rt)
{
    net_rt_t *n = rt->sub[VMRT__SUB_NET];

    if (n == NULL)
        return;
    pl_mutex_lock(&rt->lock);
    n->quit = true;
    pl_mutex_unlock(&rt->lock);
    pl_wakeup_signal(&n->wake);
    if (n->running)
        pl_thread_join(&n->thread);
    pl_wakeup_destroy(&n->wake);
    vmrt__free(n);
    rt->sub[VMRT__SUB_NET] = NULL;
}

/* ---- handles --------------------------------------------------------- */

/* close_fn of a socket handle: wake its waiters, unlink, close. */
static void
sock_close(vmrt_vm_t *vm, void *obj)
{
    sock_t *s = obj, **pp;
    net_rt_t *n = net_of(vm);

    pl_mutex_lock(&vm->rt->lock);
    for (pp = &n->socks; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    vmrt__wake_abort(&s->wq);
    pl_mutex_unlock(&vm->rt->lock);
    pl_wakeup_signal(&n->wake);
    pl_sock_close(s->fd);
    vmrt__free(s);
}

/*
 * sock_new: a socket object with handle number `at` (0: any).
 * Return: the handle (> 0) or a VOS_E* code.
 */
static int
sock_new(vmrt_vm_t *vm, int type, bool dead, int at)
{
    net_rt_t *n = net_of(vm);
    sock_t *s;
    int h;

    if (n == NULL)
        return VOS_ENOSYS;
    if ((s = vmrt__malloc(sizeof(*s))) == NULL)
        return VOS_ENOMEM;
    memset(s, 0, sizeof(*s));
    s->vm = vm;
    s->fd = PL_SOCKET_INVALID;
    s->type = (uint8_t)type;
    s->dead = dead;
    h = at > 0 ? vmrt__handle_alloc_at(vm, at, VMRT__H_SOCK, s, sock_close)
               : vmrt__handle_alloc(vm, VMRT__H_SOCK, s, sock_close);
    if (h < 0) {
        vmrt__free(s);
        return h;
    }
    pl_mutex_lock(&vm->rt->lock);
    s->next = n->socks;
    n->socks = s;
    pl_mutex_unlock(&vm->rt->lock);
    return h;
}

/* ---- host functions -------------------------------------------------- */

#define ARG(i) ((uint32_t)args[(i)])
#define RES(v)                                                                 \
    do {                                                                       \
        results[0] = (uint32_t)(v);                                            \
        return 0;                                                              \
    } while (0)

static int
h_sock_open(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *results)
{
    int type = (int)ARG(0);

    (void)ctx;
    if (type != VOS_SOCK_TCP && type != VOS_SOCK_UDP)
        RES(VOS_EINVAL);
    RES(sock_new(vmrt__vm_of(inst), type, false, 0));
}

static int
h_sock_connect(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
               uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    uint32_t timeout = ARG(3);
    pl_sockaddr_t a;
    pl_socket_t fd;
    sock_t *s;
    int rc;

    (void)ctx;
    if ((rc = sock_get(vm, (int)ARG(0), &s)) != 0)
        RES(rc);
    if ((rc = guest_addr(inst, ARG(1), ARG(2), &a)) != 0)
        RES(rc);
    if (!vmrt__net_allow_peer(&vm->man, proto_of(s), &a))
        RES(VOS_EPERM);
    if (s->type == VOS_SOCK_UDP) {
        /* A UDP "connect" only checks: sendto names the peer each time. */
        RES(0);
    }
    if (s->fd != PL_SOCKET_INVALID || s->listening)
        RES(VOS_EINVAL);
    if (timeout > NET_CONNECT_MAX_MS)
        timeout = NET_CONNECT_MAX_MS;
    if ((rc = pl_tcp_connect(&a, timeout == 0 ? 1 : (int)timeout, &fd)) != 0)
        RES(vos_err(rc));
    RES(sock_adopt(s, fd));
}

static int
h_sock_bind(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    pl_sockaddr_t a;
    pl_socket_t fd;
    sock_t *s;
    int rc;

    (void)ctx;
    if ((rc = sock_get(vm, (int)ARG(0), &s)) != 0)
        RES(rc);
    if ((rc = guest_addr(inst, ARG(1), ARG(2), &a)) != 0)
        RES(rc);
    if (!vmrt__net_allow_bind(&vm->man, proto_of(s), pl_sockaddr_port(&a)))
        RES(VOS_EPERM);
    if (s->fd != PL_SOCKET_INVALID || s->has_local)
        RES(VOS_EINVAL);
    if (s->type == VOS_SOCK_TCP) {
        /* The port binds and listens in one call: keep it for listen. */
        s->local = a;
        s->has_local = true;
        RES(0);
    }
    if ((rc = pl_udp_bind(&a, &fd)) != 0)
        RES(vos_err(rc));
    RES(sock_adopt(s, fd));
}

static int
h_sock_listen(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    int backlog = (int)ARG(1);
    pl_socket_t fd;
    sock_t *s;
    int rc;

    (void)ctx;
    if ((rc = sock_get(vm, (int)ARG(0), &s)) != 0)
        RES(rc);
    if (s->type != VOS_SOCK_TCP || !s->has_local ||
        s->fd != PL_SOCKET_INVALID)
        RES(VOS_EINVAL);
    if (backlog <= 0 || backlog > 128)
        backlog = 16;
    if ((rc = pl_tcp_listen(&s->local, backlog, &fd)) != 0)
        RES(vos_err(rc));
    if ((rc = sock_adopt(s, fd)) != 0)
        RES(rc);
    s->listening = true;
    RES(0);
}

static int
h_sock_accept(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    pl_socket_t fd;
    sock_t *s, *c;
    int rc, h;

    (void)ctx;
    if ((rc = sock_get(vm, (int)ARG(0), &s)) != 0)
        return done(inst, results, rc);
    if (!s->listening)
        return done(inst, results, VOS_EINVAL);
    rc = pl_sock_accept(s->fd, &fd, NULL);
    if (rc == PL_EAGAIN) {
        rc = sock_wait(inst, s, PL_POLLIN, ARG(1));
        if (rc == VMRT_HOST_BLOCK)
            return rc;
        RES(rc);
    }
    if (rc != 0)
        return done(inst, results, vos_err(rc));
    if ((h = sock_new(vm, VOS_SOCK_TCP, false, 0)) < 0) {
        pl_sock_close(fd);
        return done(inst, results, h);
    }
    c = vmrt__handle_get(vm, h, VMRT__H_SOCK);
    if ((rc = sock_adopt(c, fd)) != 0) {
        vmrt__handle_close(vm, h);
        return done(inst, results, rc);
    }
    return done(inst, results, h);
}

/*
 * io_common: send / recv / sendto / recvfrom.  `addr` / `addr_len` name
 * the peer (sendto) or where to write it (recvfrom; cap in addr_len).
 */
static int
io_common(vmrt_instance_t *inst, uint64_t *results, int h, int wr,
          uint32_t ptr, uint32_t len, uint32_t addr, uint32_t addr_len,
          bool with_addr, uint32_t timeout)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    char text[PL_SOCKADDR_STRLEN];
    pl_sockaddr_t a;
    uint8_t *buf, *pa = NULL;
    pl_socket_t fd;
    size_t n = 0;
    sock_t *s;
    int rc;

    if ((rc = sock_get(vm, h, &s)) != 0)
        return done(inst, results, rc);
    if (len > NET_IO_MAX)
        len = NET_IO_MAX;
    if ((buf = guest_mem(inst, ptr, len)) == NULL)
        return done(inst, results, VOS_EFAULT);
    if (with_addr && wr) {
        if ((rc = guest_addr(inst, addr, addr_len, &a)) != 0)
            return done(inst, results, rc);
        if (!vmrt__net_allow_peer(&vm->man, proto_of(s), &a))
            return done(inst, results, VOS_EPERM);
        if (s->type != VOS_SOCK_UDP)
            return done(inst, results, VOS_EINVAL);
        if (s->fd == PL_SOCKET_INVALID) {
            /* First datagram: bind an ephemeral port of a's family. */
            pl_sockaddr_t any;

            rc = pl_sockaddr_parse(&any, pl_sockaddr_family(&a) ==
                                                 PL_AF_INET6
                                             ? "[::]:0"
                                             : "0.0.0.0:0");
            if (rc == 0)
                rc = pl_udp_bind(&any, &fd);
            if (rc != 0)
                return done(inst, results, vos_err(rc));
            if ((rc = sock_adopt(s, fd)) != 0)
                return done(inst, results, rc);
        }
    } else if (with_addr &&
               (pa = guest_mem(inst, addr, addr_len)) == NULL) {
        return done(inst, results, VOS_EFAULT);
    }
    if (s->fd == PL_SOCKET_INVALID || s->listening)
        return done(inst, results, VOS_EINVAL);
    if (with_addr && wr)
        rc = pl_sock_sendto(s->fd, buf, len, &a, &n);
    else if (with_addr)
        rc = pl_sock_recvfrom(s->fd, buf, len, &a, &n);
    else if (wr)
        rc = pl_sock_send(s->fd, buf, len, &n);
    else
        rc = pl_sock_recv(s->fd, buf, len, &n);
    if (rc == PL_EAGAIN) {
        if (with_addr && wr)
            return done(inst, results, VOS_EAGAIN); /* UDP: no waiting */
        rc = sock_wait(inst, s, wr ? PL_POLLOUT : PL_POLLIN, timeout);
        if (rc == VMRT_HOST_BLOCK)
            return rc;
        RES(rc);
    }
    if (rc != 0)
        return done(inst, results, vos_err(rc));
    if (pa != NULL && addr_len > 0) {
        if (pl_sockaddr_format(&a, text, sizeof(text)) != 0)
            text[0] = '\0';
        strncpy((char *)pa, text, addr_len - 1);
        pa[addr_len - 1] = '\0';
    }
    return done(inst, results, (int)n);
}

static int
h_sock_send(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *results)
{
    (void)ctx;
    return io_common(inst, results, (int)ARG(0), 1, ARG(1), ARG(2), 0, 0,
                     false, ARG(3));
}

static int
h_sock_recv(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *results)
{
    (void)ctx;
    return io_common(inst, results, (int)ARG(0), 0, ARG(1), ARG(2), 0, 0,
                     false, ARG(3));
}

static int
h_sock_sendto(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
              uint64_t *results)
{
    (void)ctx;
    return io_common(inst, results, (int)ARG(0), 1, ARG(1), ARG(2), ARG(3),
                     ARG(4), true, VOS_NO_WAIT);
}

static int
h_sock_recvfrom(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                uint64_t *results)
{
    (void)ctx;
    return io_common(inst, results, (int)ARG(0), 0, ARG(1), ARG(2), ARG(3),
                     ARG(4), true, ARG(5));
}

static const vmrt__hostfn_t net_funcs[] = {
    { "sock_open", "(i)i", h_sock_open },
    { "sock_connect", "(iiii)i", h_sock_connect },
    { "sock_bind", "(iii)i", h_sock_bind },
    { "sock_listen", "(ii)i", h_sock_listen },
    { "sock_accept", "(ii)i", h_sock_accept },
    { "sock_send", "(iiii)i", h_sock_send },
    { "sock_recv", "(iiii)i", h_sock_recv },
    { "sock_sendto", "(iiiii)i", h_sock_sendto },
    { "sock_recvfrom", "(iiiiii)i", h_sock_recvfrom },
    { NULL, NULL, NULL },
};

static int
net_link(vmrt_vm_t *vm, vmrt_linker_t *lk)
{
    return vmrt__link_vos(lk, net_funcs, vm);
}

static void
net_vm_fini(vmrt_vm_t *vm)
{
    vmrt__handle_close_type(vm, VMRT__H_SOCK);
}

/* ---- snapshots ------------------------------------------------------- */

/*
 * Section 'NET ', version 1: u8 version, u16 count, then per socket u32
 * handle and u8 type.  Only the numbers survive (see the file comment).
 */
#define NSNAP_VERSION 1

static int
net_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w)
{
    uint8_t hdr[3] = { NSNAP_VERSION, 0, 0 }, rec[5];
    uint32_t count = 0;
    void *obj;
    int h, rc;

    for (h = vmrt__handle_next(vm, 0, VMRT__H_SOCK, NULL); h > 0;
         h = vmrt__handle_next(vm, h, VMRT__H_SOCK, NULL))
        count++;
    hdr[1] = (uint8_t)count;
    hdr[2] = (uint8_t)(count >> 8);
    if ((rc = vmrt_snap_write(w, hdr, sizeof(hdr))) != 0)
        return rc;
    for (h = vmrt__handle_next(vm, 0, VMRT__H_SOCK, &obj); h > 0;
         h = vmrt__handle_next(vm, h, VMRT__H_SOCK, &obj)) {
        rec[0] = (uint8_t)h;
        rec[1] = (uint8_t)(h >> 8);
        rec[2] = (uint8_t)(h >> 16);
        rec[3] = (uint8_t)(h >> 24);
        rec[4] = ((sock_t *)obj)->type;
        if ((rc = vmrt_snap_write(w, rec, sizeof(rec))) != 0)
            return rc;
    }
    return 0;
}

static int
net_load(vmrt_vm_t *vm, const uint8_t *data, size_t len)
{
    uint32_t count, i, h;
    int rc;

    if (len < 3 || data[0] != NSNAP_VERSION)
        return len >= 1 && data[0] > NSNAP_VERSION ? VMRT_EVERSION
                                                   : VMRT_ECORRUPT;
    count = (uint32_t)data[1] | (uint32_t)data[2] << 8;
    if (len != 3 + (size_t)count * 5)
        return VMRT_ECORRUPT;
    for (i = 0; i < count; i++) {
        const uint8_t *r = data + 3 + (size_t)i * 5;

        h = (uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 |
            (uint32_t)r[3] << 24;
        if (h == 0 || h > VMRT_VOS_MAX_HANDLES || r[4] > VOS_SOCK_UDP)
            return VMRT_ECORRUPT;
    }
    for (i = 0; i < count; i++) {
        const uint8_t *r = data + 3 + (size_t)i * 5;

        h = (uint32_t)r[0] | (uint32_t)r[1] << 8 | (uint32_t)r[2] << 16 |
            (uint32_t)r[3] << 24;
        if ((rc = sock_new(vm, r[4], true, (int)h)) < 0) {
            vmrt__handle_close_type(vm, VMRT__H_SOCK);
            return rc == VOS_ENOMEM ? VMRT_ENOMEM : VMRT_ECORRUPT;
        }
    }
    return 0;
}

const vmrt__subsys_t vmrt__sub_net = {
    .name = "net",
    .snap_tag = VMRT_SNAP_TAG('N', 'E', 'T', ' '),
    .rt_init = net_rt_init,
    .rt_fini = net_rt_fini,
    .link = net_link,
    .vm_fini = net_vm_fini,
    .save = net_save,
    .load = net_load,
};
