/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The inter-VM message bus (include/ipc/ipc.h).  Every table has a fixed
 * size chosen at ipc_bus_create, and every queue is a byte ring allocated
 * when its service or subscription is made, so the message path (send,
 * call, reply, publish, receive) never allocates.
 */

#include <stdlib.h>
#include <string.h>

#include "ipc/ipc.h"

#define DEF_MSG_MAX 4096u
#define DEF_DEPTH 16u
#define DEF_SERVICES 32u
#define DEF_TOPICS 32u
#define DEF_SUBS 16u
#define DEF_ENDPOINTS 64u
/* Limits that keep sizes far from overflow on 32-bit targets. */
#define LIM_MSG_MAX (1u << 20)
#define LIM_DEPTH 4096u
#define LIM_QUEUE_BYTES (1u << 24)
#define LIM_TABLE 4096u
#define LIM_ENDPOINTS 255u

/* A queued record: this header, then `len` body bytes, in the ring. */
typedef struct {
    uint32_t len;
    uint32_t tag;
    uint32_t sender; /* 0 = not accounted */
} rec_t;

/* What one sender holds in one queue. */
typedef struct {
    uint32_t sender; /* 0 = free entry */
    uint32_t count;
    uint32_t bytes;
} share_t;

/* A bounded FIFO of variable-size records in one byte ring. */
typedef struct {
    uint8_t *buf;
    uint32_t size;   /* ring bytes */
    uint32_t head;   /* offset of the oldest record */
    uint32_t used;   /* bytes in use */
    uint32_t count;  /* records */
    uint32_t depth;  /* max records */
    uint32_t pbytes; /* payload bytes queued */
    uint32_t pmax;   /* max payload bytes */
    /* Per-sender shares, so that one flooding sender cannot take the
     * whole queue from the others: at most depth entries are in use. */
    share_t *shares; /* depth entries */
    uint32_t smax;   /* messages per sender */
    uint32_t sbytes; /* payload bytes per sender */
} queue_t;

typedef enum { SVC_FREE = 0, SVC_LIVE, SVC_GONE } svc_state_t;

struct ipc_service {
    ipc_bus_t *bus;
    char name[IPC_NAME_MAX];
    svc_state_t state;
    void *user;
    queue_t q;
};

typedef enum { EP_IDLE = 0, EP_WAIT, EP_DONE, EP_RESET } ep_state_t;

struct ipc_endpoint {
    ipc_bus_t *bus;
    bool used;
    uint32_t sender;   /* whose share its requests count against */
    uint8_t idx;       /* index in bus->eps; tags carry idx + 1 */
    ep_state_t state;
    uint32_t tag;      /* of the call in flight */
    ipc_service_t *svc; /* the service called */
    void *user;
    uint8_t *reply;    /* msg_max bytes */
    uint32_t reply_len;
};

typedef struct topic {
    char name[IPC_NAME_MAX];
    uint32_t nsubs;    /* 0 = free slot */
    ipc_sub_t **subs;  /* max_subs entries */
} topic_t;

struct ipc_sub {
    ipc_bus_t *bus;
    topic_t *topic;
    void *user;
    queue_t q;
};

struct ipc_bus {
    ipc_config_t cfg;
    ipc_notify_fn_t notify;
    void *arg;
    uint32_t seq;      /* call sequence, the high 24 bits of tags */
    ipc_service_t *svcs;
    ipc_endpoint_t *eps;
    topic_t *topics;
};

static const char *const errtab[] = {
#define IPC_XX_(name, val, msg) [-(val)] = msg,
    IPC_ERRNO_MAP(IPC_XX_)
#undef IPC_XX_
};

const char *
ipc_strerror(int err)
{
    if (err == 0)
        return "success";
    if (err < 0 && (size_t)-err < sizeof(errtab) / sizeof(errtab[0]) &&
        errtab[-err] != NULL)
        return errtab[-err];
    return "unknown error";
}

static void
note(ipc_bus_t *bus, ipc_event_t ev, void *user)
{
    if (bus->notify != NULL)
        bus->notify(bus->arg, ev, user);
}

/*
 * name_ok: a name is 1..IPC_NAME_MAX-1 bytes without NUL.
 */
static bool
name_ok(const char *name, size_t len)
{
    return name != NULL && len > 0 && len < IPC_NAME_MAX &&
        memchr(name, '\0', len) == NULL;
}

static bool
name_eq(const char *stored, const char *name, size_t len)
{
    return strncmp(stored, name, len) == 0 && stored[len] == '\0';
}

/* ---- queues ----------------------------------------------------------- */

static int
queue_init(queue_t *q, const ipc_config_t *cfg)
{
    /* Room for queue_bytes of payload plus every record's header.  The
     * ring itself comes with the first message (queue_ready): a VM that
     * serves or subscribes and is never sent anything, the common idle
     * VM, does not pay for it (docs/performance.md). */
    q->size = cfg->queue_bytes + cfg->queue_depth * (uint32_t)sizeof(rec_t);
    q->buf = NULL;
    if ((q->shares = calloc(cfg->queue_depth, sizeof(share_t))) == NULL)
        return IPC_ENOMEM;
    q->head = q->used = q->count = q->pbytes = 0;
    q->depth = cfg->queue_depth;
    q->pmax = cfg->queue_bytes;
    q->smax = cfg->sender_max;
    /* The same fraction of the bytes, but always one largest message. */
    q->sbytes = (uint32_t)((uint64_t)cfg->queue_bytes * cfg->sender_max /
                           cfg->queue_depth);
    if (q->sbytes < cfg->msg_max)
        q->sbytes = cfg->msg_max;
    return 0;
}

/*
 * queue_ready: allocate the ring of a live queue before its first push.
 * Return: 0, or IPC_ENOMEM.
 */
static int
queue_ready(queue_t *q)
{
    if (q->buf == NULL && q->shares != NULL &&
        (q->buf = malloc(q->size)) == NULL)
        return IPC_ENOMEM;
    return 0;
}

static void
queue_fini(queue_t *q)
{
    free(q->buf);
    free(q->shares);
    /* shares == NULL marks it dead: queue_ready leaves it without a ring,
     * so queue_fits keeps refusing. */
    q->buf = NULL;
    q->shares = NULL;
    q->head = q->used = q->count = q->pbytes = 0;
}

static void
ring_put(queue_t *q, uint32_t off, const void *src, uint32_t n)
{
    uint32_t first;

    off %= q->size;
    first = q->size - off < n ? q->size - off : n;
    memcpy(q->buf + off, src, first);
    memcpy(q->buf, (const uint8_t *)src + first, n - first);
}

static void
ring_get(const queue_t *q, uint32_t off, void *dst, uint32_t n)
{
    uint32_t first;

    off %= q->size;
    first = q->size - off < n ? q->size - off : n;
    memcpy(dst, q->buf + off, first);
    memcpy((uint8_t *)dst + first, q->buf, n - first);
}

/* The share entry of `sender` in `q`, or NULL if it holds nothing. */
static share_t *
share_of(const queue_t *q, uint32_t sender)
{
    uint32_t i;

    for (i = 0; i < q->depth; i++)
        if (q->shares[i].sender == sender)
            return &q->shares[i];
    return NULL;
}

static bool
queue_fits(const queue_t *q, uint32_t sender, size_t len)
{
    const share_t *sh;

    /* The ring has room for pmax payload bytes plus depth headers, so
     * these bounds are all there is to check. */
    if (q->buf == NULL || q->count >= q->depth ||
        len > (size_t)(q->pmax - q->pbytes))
        return false;
    if (sender == 0 || (sh = share_of(q, sender)) == NULL)
        return true;
    return sh->count < q->smax && len <= (size_t)(q->sbytes - sh->bytes);
}

/* Append a record; the caller checked queue_fits. */
static void
queue_push(queue_t *q, uint32_t sender, uint32_t tag, const void *data,
           uint32_t len)
{
    rec_t r = { len, tag, sender };
    uint32_t tail = q->head + q->used;
    share_t *sh;

    /* Fewer records than depth, so a free entry exists if needed. */
    if (sender != 0) {
        if ((sh = share_of(q, sender)) == NULL) {
            sh = share_of(q, 0);
            sh->sender = sender;
        }
        sh->count++;
        sh->bytes += len;
    }

    ring_put(q, tail, &r, sizeof(r));
    if (len > 0)
        ring_put(q, tail + (uint32_t)sizeof(r), data, len);
    q->used += (uint32_t)sizeof(r) + len;
    q->pbytes += len;
    q->count++;
}

/*
 * queue_pop: remove the oldest record, copying at most cap body bytes.
 * Return: 0 and *r filled, or IPC_EAGAIN if empty.
 */
static int
queue_pop(queue_t *q, rec_t *r, void *buf, size_t cap)
{
    uint32_t n;
    share_t *sh;

    if (q->count == 0)
        return IPC_EAGAIN;
    ring_get(q, q->head, r, sizeof(*r));
    if (r->sender != 0 && (sh = share_of(q, r->sender)) != NULL) {
        sh->bytes -= r->len;
        if (--sh->count == 0)
            sh->sender = 0;
    }
    n = (size_t)r->len < cap ? r->len : (uint32_t)cap;
    if (n > 0)
        ring_get(q, q->head + (uint32_t)sizeof(*r), buf, n);
    q->head = (q->head + (uint32_t)sizeof(*r) + r->len) % q->size;
    q->used -= (uint32_t)sizeof(*r) + r->len;
    q->pbytes -= r->len;
    q->count--;
    if (q->count == 0)
        q->head = q->used = 0;
    return 0;
}

/*
 * queue_walk: call fn for each record in order; the body is handed over
 * contiguously, so a wrapped body goes through `tmp` (msg_max bytes).
 */
static int
queue_walk(const queue_t *q, uint8_t *tmp,
           int (*fn)(void *, uint32_t, const void *, size_t), void *arg)
{
    uint32_t off = q->head, i;
    rec_t r;
    int rc;

    for (i = 0; i < q->count; i++) {
        ring_get(q, off, &r, sizeof(r));
        ring_get(q, off + (uint32_t)sizeof(r), tmp, r.len);
        if ((rc = fn(arg, r.tag, tmp, r.len)) != 0)
            return rc;
        off = (off + (uint32_t)sizeof(r) + r.len) % q->size;
    }
    return 0;
}

/* ---- the bus ---------------------------------------------------------- */

/*
 * fill_config: apply defaults and check ranges.
 * Return: 0, or IPC_EINVAL for a limit out of range.
 */
static int
fill_config(ipc_config_t *c)
{
    if (c->msg_max == 0)
        c->msg_max = DEF_MSG_MAX;
    if (c->queue_depth == 0)
        c->queue_depth = DEF_DEPTH;
    if (c->max_services == 0)
        c->max_services = DEF_SERVICES;
    if (c->max_topics == 0)
        c->max_topics = DEF_TOPICS;
    if (c->max_subs == 0)
        c->max_subs = DEF_SUBS;
    if (c->max_endpoints == 0)
        c->max_endpoints = DEF_ENDPOINTS;
    if (c->msg_max > LIM_MSG_MAX || c->queue_depth > LIM_DEPTH ||
        c->max_services > LIM_TABLE || c->max_topics > LIM_TABLE ||
        c->max_subs > LIM_TABLE || c->max_endpoints > LIM_ENDPOINTS)
        return IPC_EINVAL;
    if (c->queue_bytes == 0)
        c->queue_bytes = 4 * c->msg_max;
    if (c->sender_max == 0)
        c->sender_max = c->queue_depth >= 4 ? c->queue_depth / 4 : 1;
    if (c->sender_max > c->queue_depth)
        return IPC_EINVAL;
    /* A queue must hold at least one largest message. */
    if (c->queue_bytes < c->msg_max || c->queue_bytes > LIM_QUEUE_BYTES)
        return IPC_EINVAL;
    return 0;
}

ipc_bus_t *
ipc_bus_create(const ipc_config_t *cfg, ipc_notify_fn_t notify, void *arg)
{
    ipc_bus_t *bus;
    uint32_t i;

    if ((bus = calloc(1, sizeof(*bus))) == NULL)
        return NULL;
    if (cfg != NULL)
        bus->cfg = *cfg;
    if (fill_config(&bus->cfg) != 0)
        goto fail;
    bus->notify = notify;
    bus->arg = arg;
    bus->svcs = calloc(bus->cfg.max_services, sizeof(*bus->svcs));
    bus->eps = calloc(bus->cfg.max_endpoints, sizeof(*bus->eps));
    bus->topics = calloc(bus->cfg.max_topics, sizeof(*bus->topics));
    if (bus->svcs == NULL || bus->eps == NULL || bus->topics == NULL)
        goto fail;
    for (i = 0; i < bus->cfg.max_topics; i++) {
        bus->topics[i].subs = calloc(bus->cfg.max_subs, sizeof(ipc_sub_t *));
        if (bus->topics[i].subs == NULL)
            goto fail;
    }
    for (i = 0; i < bus->cfg.max_services; i++)
        bus->svcs[i].bus = bus;
    for (i = 0; i < bus->cfg.max_endpoints; i++) {
        bus->eps[i].bus = bus;
        bus->eps[i].idx = (uint8_t)i;
    }
    return bus;
fail:
    ipc_bus_destroy(bus);
    return NULL;
}

void
ipc_bus_destroy(ipc_bus_t *bus)
{
    uint32_t i, j;

    if (bus == NULL)
        return;
    if (bus->svcs != NULL)
        for (i = 0; i < bus->cfg.max_services; i++)
            queue_fini(&bus->svcs[i].q);
    if (bus->eps != NULL)
        for (i = 0; i < bus->cfg.max_endpoints; i++)
            free(bus->eps[i].reply);
    if (bus->topics != NULL) {
        for (i = 0; i < bus->cfg.max_topics; i++) {
            if (bus->topics[i].subs == NULL)
                continue;
            for (j = 0; j < bus->topics[i].nsubs; j++) {
                queue_fini(&bus->topics[i].subs[j]->q);
                free(bus->topics[i].subs[j]);
            }
            free(bus->topics[i].subs);
        }
    }
    free(bus->topics);
    free(bus->eps);
    free(bus->svcs);
    free(bus);
}

const ipc_config_t *
ipc_bus_config(const ipc_bus_t *bus)
{
    return &bus->cfg;
}

/* ---- services --------------------------------------------------------- */

/* The service slot named `name`, live or gone, or NULL. */
static ipc_service_t *
svc_find(ipc_bus_t *bus, const char *name, size_t len)
{
    uint32_t i;

    for (i = 0; i < bus->cfg.max_services; i++)
        if (bus->svcs[i].state != SVC_FREE &&
            name_eq(bus->svcs[i].name, name, len))
            return &bus->svcs[i];
    return NULL;
}

int
ipc_service_register(ipc_bus_t *bus, const char *name, size_t len,
                     void *user, ipc_service_t **out)
{
    ipc_service_t *s, *gone = NULL;
    uint32_t i;
    int rc;

    if (bus == NULL || out == NULL || !name_ok(name, len))
        return IPC_EINVAL;
    if ((s = svc_find(bus, name, len)) != NULL) {
        if (s->state == SVC_LIVE)
            return IPC_EEXIST;
    } else {
        /* A free slot, else recycle the slot of some gone service: its
         * callers then see IPC_ENOENT instead of IPC_ECONNRESET. */
        for (i = 0; i < bus->cfg.max_services && s == NULL; i++) {
            if (bus->svcs[i].state == SVC_FREE)
                s = &bus->svcs[i];
            else if (bus->svcs[i].state == SVC_GONE && gone == NULL)
                gone = &bus->svcs[i];
        }
        if (s == NULL)
            s = gone;
        if (s == NULL)
            return IPC_ENOSPC;
    }
    if ((rc = queue_init(&s->q, &bus->cfg)) != 0)
        return rc;
    memcpy(s->name, name, len);
    s->name[len] = '\0';
    s->state = SVC_LIVE;
    s->user = user;
    *out = s;
    return 0;
}

void
ipc_service_unregister(ipc_service_t *svc)
{
    ipc_bus_t *bus;
    void *user;
    uint32_t i;

    if (svc == NULL || svc->state != SVC_LIVE)
        return;
    bus = svc->bus;
    user = svc->user;
    queue_fini(&svc->q);
    svc->state = SVC_GONE;
    svc->user = NULL;
    for (i = 0; i < bus->cfg.max_endpoints; i++) {
        ipc_endpoint_t *ep = &bus->eps[i];

        if (ep->used && ep->state == EP_WAIT && ep->svc == svc) {
            ep->state = EP_RESET;
            note(bus, IPC_EV_REPLY, ep->user);
        }
    }
    /* Senders blocked on the full queue retry and learn it is gone. */
    note(bus, IPC_EV_WRITABLE, user);
}

ipc_service_t *
ipc_service_lookup(ipc_bus_t *bus, const char *name, size_t len)
{
    ipc_service_t *s;

    if (bus == NULL || !name_ok(name, len))
        return NULL;
    s = svc_find(bus, name, len);
    return s != NULL && s->state == SVC_LIVE ? s : NULL;
}

const char *
ipc_service_name(const ipc_service_t *svc)
{
    return svc->name;
}

/* The endpoint waiting for call `tag` on `svc`, or NULL. */
static ipc_endpoint_t *
ep_of_tag(ipc_service_t *svc, uint32_t tag)
{
    ipc_bus_t *bus = svc->bus;
    uint32_t idx = tag & 0xff;
    ipc_endpoint_t *ep;

    if (idx == 0 || idx > bus->cfg.max_endpoints)
        return NULL;
    ep = &bus->eps[idx - 1];
    if (!ep->used || ep->state != EP_WAIT || ep->tag != tag || ep->svc != svc)
        return NULL;
    return ep;
}

int
ipc_service_recv(ipc_service_t *svc, void *buf, size_t cap, size_t *len,
                 uint32_t *tag)
{
    rec_t r;
    bool took = false;
    int rc;

    if (svc == NULL || svc->state != SVC_LIVE || (buf == NULL && cap > 0))
        return IPC_EINVAL;
    for (;;) {
        if ((rc = queue_pop(&svc->q, &r, buf, cap)) != 0)
            break;
        took = true;
        /* A call whose caller gave up (timeout) is not worth serving. */
        if (r.tag != 0 && ep_of_tag(svc, r.tag) == NULL)
            continue;
        if (len != NULL)
            *len = r.len;
        if (tag != NULL)
            *tag = r.tag;
        rc = r.len > cap ? IPC_EMSGSIZE : 0;
        break;
    }
    if (took)
        note(svc->bus, IPC_EV_WRITABLE, svc->user);
    return rc;
}

int
ipc_service_reply(ipc_service_t *svc, uint32_t tag, const void *data,
                  size_t len)
{
    ipc_endpoint_t *ep;

    if (svc == NULL || svc->state != SVC_LIVE || (data == NULL && len > 0))
        return IPC_EINVAL;
    if ((ep = ep_of_tag(svc, tag)) == NULL)
        return IPC_ENOENT;
    if (len > svc->bus->cfg.msg_max)
        return IPC_EMSGSIZE;
    if (len > 0)
        memcpy(ep->reply, data, len);
    ep->reply_len = (uint32_t)len;
    ep->state = EP_DONE;
    note(svc->bus, IPC_EV_REPLY, ep->user);
    return 0;
}

uint32_t
ipc_service_pending(const ipc_service_t *svc)
{
    return svc->state == SVC_LIVE ? svc->q.count : 0;
}

/*
 * enqueue: the common path of send, call and inject.
 * Return: 0, IPC_EAGAIN (full; *blocker = svc->user), IPC_EMSGSIZE.
 */
static int
enqueue(ipc_service_t *svc, uint32_t sender, uint32_t tag, const void *data,
        size_t len, void **blocker)
{
    if (len > svc->bus->cfg.msg_max)
        return IPC_EMSGSIZE;
    if (queue_ready(&svc->q) != 0)
        return IPC_ENOMEM;
    if (!queue_fits(&svc->q, sender, len)) {
        if (blocker != NULL)
            *blocker = svc->user;
        return IPC_EAGAIN;
    }
    queue_push(&svc->q, sender, tag, data, (uint32_t)len);
    note(svc->bus, IPC_EV_READABLE, svc->user);
    return 0;
}

int
ipc_service_inject(ipc_service_t *svc, uint32_t tag, const void *data,
                   size_t len)
{
    if (svc == NULL || svc->state != SVC_LIVE || (data == NULL && len > 0))
        return IPC_EINVAL;
    return enqueue(svc, 0, tag, data, len, NULL);
}

int
ipc_service_foreach(const ipc_service_t *svc,
                    int (*fn)(void *arg, uint32_t tag, const void *data,
                              size_t len),
                    void *arg)
{
    uint8_t *tmp;
    int rc;

    if (svc == NULL || svc->state != SVC_LIVE || fn == NULL)
        return IPC_EINVAL;
    if (svc->q.count == 0)
        return 0;
    if ((tmp = malloc(svc->bus->cfg.msg_max)) == NULL)
        return IPC_ENOMEM;
    rc = queue_walk(&svc->q, tmp, fn, arg);
    free(tmp);
    return rc;
}

/*
 * svc_target: resolve a destination name.
 * Return: 0 and *out, IPC_EINVAL, IPC_ENOENT, IPC_ECONNRESET (gone).
 */
static int
svc_target(ipc_bus_t *bus, const char *name, size_t nlen,
           ipc_service_t **out)
{
    ipc_service_t *s;

    if (!name_ok(name, nlen))
        return IPC_EINVAL;
    if ((s = svc_find(bus, name, nlen)) == NULL)
        return IPC_ENOENT;
    if (s->state != SVC_LIVE)
        return IPC_ECONNRESET;
    *out = s;
    return 0;
}

int
ipc_send(ipc_bus_t *bus, uint32_t sender, const char *name, size_t nlen,
         const void *data, size_t len, void **blocker)
{
    ipc_service_t *s;
    int rc;

    if (bus == NULL || (data == NULL && len > 0))
        return IPC_EINVAL;
    if ((rc = svc_target(bus, name, nlen, &s)) != 0)
        return rc;
    return enqueue(s, sender, 0, data, len, blocker);
}

/* ---- calls ------------------------------------------------------------ */

int
ipc_endpoint_open(ipc_bus_t *bus, uint32_t sender, void *user,
                  ipc_endpoint_t **out)
{
    ipc_endpoint_t *ep = NULL;
    uint32_t i;

    if (bus == NULL || out == NULL)
        return IPC_EINVAL;
    for (i = 0; i < bus->cfg.max_endpoints && ep == NULL; i++)
        if (!bus->eps[i].used)
            ep = &bus->eps[i];
    if (ep == NULL)
        return IPC_ENOSPC;
    if (ep->reply == NULL && (ep->reply = malloc(bus->cfg.msg_max)) == NULL)
        return IPC_ENOMEM;
    ep->used = true;
    ep->sender = sender;
    ep->state = EP_IDLE;
    ep->tag = 0;
    ep->svc = NULL;
    ep->user = user;
    *out = ep;
    return 0;
}

void
ipc_endpoint_close(ipc_endpoint_t *ep)
{
    if (ep == NULL)
        return;
    /* The reply slot stays allocated for the next user of this slot, so a
     * busy embedder does not churn the allocator. */
    ep->used = false;
    ep->state = EP_IDLE;
    ep->svc = NULL;
    ep->user = NULL;
}

int
ipc_call_start(ipc_endpoint_t *ep, const char *name, size_t nlen,
               const void *req, size_t len, void **blocker)
{
    ipc_bus_t *bus;
    ipc_service_t *s;
    uint32_t tag;
    int rc;

    if (ep == NULL || !ep->used || (req == NULL && len > 0))
        return IPC_EINVAL;
    if (ep->state != EP_IDLE)
        return IPC_EBUSY;
    bus = ep->bus;
    if ((rc = svc_target(bus, name, nlen, &s)) != 0)
        return rc;
    /* 24 bits of sequence over 8 bits of endpoint index + 1, never 0. */
    bus->seq = (bus->seq + 1) & 0xffffffu;
    tag = bus->seq << 8 | (uint32_t)(ep->idx + 1);
    if ((rc = enqueue(s, ep->sender, tag, req, len, blocker)) != 0)
        return rc;
    ep->tag = tag;
    ep->svc = s;
    ep->state = EP_WAIT;
    ep->reply_len = 0;
    return 0;
}

int
ipc_call_finish(ipc_endpoint_t *ep, void *buf, size_t cap, size_t *len)
{
    int rc;

    if (ep == NULL || !ep->used || (buf == NULL && cap > 0))
        return IPC_EINVAL;
    switch (ep->state) {
    case EP_IDLE:
        return IPC_ENOENT;
    case EP_WAIT:
        return IPC_EAGAIN;
    case EP_RESET:
        rc = IPC_ECONNRESET;
        break;
    case EP_DONE:
    default:
        if (len != NULL)
            *len = ep->reply_len;
        if (ep->reply_len > 0)
            memcpy(buf, ep->reply,
                   ep->reply_len < cap ? ep->reply_len : cap);
        rc = ep->reply_len > cap ? IPC_EMSGSIZE : 0;
        break;
    }
    ep->state = EP_IDLE;
    ep->svc = NULL;
    ep->tag = 0;
    return rc;
}

void
ipc_call_cancel(ipc_endpoint_t *ep)
{
    if (ep == NULL || !ep->used)
        return;
    ep->state = EP_IDLE;
    ep->svc = NULL;
    ep->tag = 0;
}

bool
ipc_call_active(const ipc_endpoint_t *ep)
{
    return ep != NULL && ep->used && ep->state != EP_IDLE;
}

/* ---- publish / subscribe ---------------------------------------------- */

static topic_t *
topic_find(ipc_bus_t *bus, const char *name, size_t len)
{
    uint32_t i;

    for (i = 0; i < bus->cfg.max_topics; i++)
        if (bus->topics[i].nsubs > 0 &&
            name_eq(bus->topics[i].name, name, len))
            return &bus->topics[i];
    return NULL;
}

int
ipc_subscribe(ipc_bus_t *bus, const char *topic, size_t len, void *user,
              ipc_sub_t **out)
{
    topic_t *t;
    ipc_sub_t *s;
    uint32_t i;
    int rc;

    if (bus == NULL || out == NULL || !name_ok(topic, len))
        return IPC_EINVAL;
    if ((t = topic_find(bus, topic, len)) == NULL) {
        for (i = 0; i < bus->cfg.max_topics && t == NULL; i++)
            if (bus->topics[i].nsubs == 0)
                t = &bus->topics[i];
        if (t == NULL)
            return IPC_ENOSPC;
    } else if (t->nsubs >= bus->cfg.max_subs) {
        return IPC_ENOSPC;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return IPC_ENOMEM;
    if ((rc = queue_init(&s->q, &bus->cfg)) != 0) {
        free(s);
        return rc;
    }
    s->bus = bus;
    s->topic = t;
    s->user = user;
    if (t->nsubs == 0) {
        memcpy(t->name, topic, len);
        t->name[len] = '\0';
    }
    t->subs[t->nsubs++] = s;
    *out = s;
    return 0;
}

void
ipc_unsubscribe(ipc_sub_t *sub)
{
    topic_t *t;
    uint32_t i;
    void *user;

    if (sub == NULL)
        return;
    t = sub->topic;
    user = sub->user;
    for (i = 0; i < t->nsubs; i++) {
        if (t->subs[i] == sub) {
            /* Keep delivery order stable: shift, don't swap. */
            memmove(&t->subs[i], &t->subs[i + 1],
                    (t->nsubs - i - 1) * sizeof(t->subs[0]));
            t->nsubs--;
            break;
        }
    }
    queue_fini(&sub->q);
    note(sub->bus, IPC_EV_WRITABLE, user);
    free(sub);
}

const char *
ipc_sub_topic(const ipc_sub_t *sub)
{
    return sub->topic->name;
}

int
ipc_publish(ipc_bus_t *bus, uint32_t sender, const char *topic, size_t tlen,
            const void *data, size_t len, void **blocker)
{
    topic_t *t;
    uint32_t i;

    if (bus == NULL || !name_ok(topic, tlen) || (data == NULL && len > 0))
        return IPC_EINVAL;
    if (len > bus->cfg.msg_max)
        return IPC_EMSGSIZE;
    if ((t = topic_find(bus, topic, tlen)) == NULL)
        return 0;
    /* All or nothing, so that a blocked publisher's retry never delivers
     * the same message twice to the subscribers that had room. */
    for (i = 0; i < t->nsubs; i++) {
        if (queue_ready(&t->subs[i]->q) != 0)
            return IPC_ENOMEM;
        if (!queue_fits(&t->subs[i]->q, sender, len)) {
            if (blocker != NULL)
                *blocker = t->subs[i]->user;
            return IPC_EAGAIN;
        }
    }
    for (i = 0; i < t->nsubs; i++)
        queue_push(&t->subs[i]->q, sender, 0, data, (uint32_t)len);
    for (i = 0; i < t->nsubs; i++)
        note(bus, IPC_EV_READABLE, t->subs[i]->user);
    return (int)t->nsubs;
}

int
ipc_sub_recv(ipc_sub_t *sub, void *buf, size_t cap, size_t *len)
{
    rec_t r;
    int rc;

    if (sub == NULL || (buf == NULL && cap > 0))
        return IPC_EINVAL;
    if ((rc = queue_pop(&sub->q, &r, buf, cap)) != 0)
        return rc;
    if (len != NULL)
        *len = r.len;
    note(sub->bus, IPC_EV_WRITABLE, sub->user);
    return r.len > cap ? IPC_EMSGSIZE : 0;
}

uint32_t
ipc_sub_pending(const ipc_sub_t *sub)
{
    return sub->q.count;
}

int
ipc_sub_inject(ipc_sub_t *sub, const void *data, size_t len)
{
    if (sub == NULL || (data == NULL && len > 0))
        return IPC_EINVAL;
    if (len > sub->bus->cfg.msg_max)
        return IPC_EMSGSIZE;
    if (queue_ready(&sub->q) != 0)
        return IPC_ENOMEM;
    if (!queue_fits(&sub->q, 0, len))
        return IPC_EAGAIN;
    queue_push(&sub->q, 0, 0, data, (uint32_t)len);
    note(sub->bus, IPC_EV_READABLE, sub->user);
    return 0;
}

int
ipc_sub_foreach(const ipc_sub_t *sub,
                int (*fn)(void *arg, uint32_t tag, const void *data,
                          size_t len),
                void *arg)
{
    uint8_t *tmp;
    int rc;

    if (sub == NULL || fn == NULL)
        return IPC_EINVAL;
    if (sub->q.count == 0)
        return 0;
    if ((tmp = malloc(sub->bus->cfg.msg_max)) == NULL)
        return IPC_ENOMEM;
    rc = queue_walk(&sub->q, tmp, fn, arg);
    free(tmp);
    return rc;
}
