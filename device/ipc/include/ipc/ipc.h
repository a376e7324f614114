/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef IPC_IPC_H
#define IPC_IPC_H

/*
 * ipc: a message bus between isolated parties (VMs in vmrt, but the bus
 * knows nothing of VMs or schedulers).
 *
 * - Services: a party registers a named service and takes requests from its
 *   bounded queue.  A request is a call (a non-zero tag; the service
 *   answers it with ipc_service_reply) or a one-way message (tag 0).
 * - Endpoints: a caller makes calls through an endpoint, one call in flight
 *   per endpoint; the reply lands in the endpoint's preallocated reply slot.
 * - Topics: publish/subscribe, with one bounded queue per subscriber.
 *
 * Every operation is non-blocking: IPC_EAGAIN means "not now" (queue full,
 * queue empty, reply not there yet).  The embedder blocks its callers
 * itself and learns from the notification callback when trying again may
 * succeed.  Everything is bounded (message size, queue depth and bytes,
 * number of services, topics, subscribers and endpoints), and the message
 * path does not allocate: queues and reply slots are allocated when a
 * service, subscription or endpoint is created.
 *
 * Senders: every send, call and publish names its sender (a non-zero id
 * the embedder picks, e.g. one per VM; 0 = unaccounted).  A sender may
 * hold only a share of any one queue (ipc_config_t.sender_max), so a
 * flooding sender gets IPC_EAGAIN on its own share while the others still
 * get through.
 *
 * When a service goes away (ipc_service_unregister: its owner stopped,
 * crashed or restarts), its queued requests are dropped, every call in
 * flight to it fails with IPC_ECONNRESET, and later calls and sends to that
 * name fail with IPC_ECONNRESET until someone registers it again (a name
 * never registered is IPC_ENOENT).
 *
 * Thread context: the bus is NOT thread-safe.  The embedder serializes
 * every call on one bus (vmrt holds its runtime lock).  Notifications run
 * synchronously inside the bus call that caused them, in that context; a
 * notification must not call back into the bus.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: 0 is success, failures are negative. */
#define IPC_ERRNO_MAP(XX)                                                    \
    XX(ENOMEM, -1, "out of memory")                                          \
    XX(EINVAL, -2, "invalid argument")                                       \
    XX(EAGAIN, -3, "try again: queue full or empty, reply not yet there")   \
    XX(ENOENT, -4, "no such service, topic or call")                         \
    XX(EEXIST, -5, "service name already registered")                        \
    XX(ENOSPC, -6, "table full")                                             \
    XX(EMSGSIZE, -7, "message too large")                                    \
    XX(ECONNRESET, -8, "the service went away")                              \
    XX(EBUSY, -9, "a call is already in flight on this endpoint")

enum {
#define IPC_XX_(name, val, msg) IPC_##name = (val),
    IPC_ERRNO_MAP(IPC_XX_)
#undef IPC_XX_
};

/** @return a static, human-readable text for an IPC_E* code. */
const char *ipc_strerror(int err);

#define IPC_NAME_MAX 32 /* service and topic names, incl. NUL */

/* Limits of one bus; 0 in a field picks the default in brackets. */
typedef struct {
    uint32_t msg_max;       /* bytes per message or reply [4096] */
    uint32_t queue_depth;   /* messages per queue [16] */
    uint32_t queue_bytes;   /* payload bytes per queue [4 * msg_max] */
    uint32_t max_services;  /* registered services, incl. gone ones [32] */
    uint32_t max_topics;    /* [32] */
    uint32_t max_subs;      /* subscribers per topic [16] */
    uint32_t max_endpoints; /* caller endpoints, at most 255 [64] */
    uint32_t sender_max;    /* messages one sender may have in one queue
                               [queue_depth / 4, at least 1]; its bytes
                               are capped at the same fraction of
                               queue_bytes (at least msg_max) */
} ipc_config_t;

typedef struct ipc_bus ipc_bus_t;
typedef struct ipc_service ipc_service_t;
typedef struct ipc_endpoint ipc_endpoint_t;
typedef struct ipc_sub ipc_sub_t;

/* What became possible; `user` is the object's user pointer. */
typedef enum {
    IPC_EV_READABLE = 1, /* a service or subscriber queue got a message */
    IPC_EV_WRITABLE,     /* a service or subscriber queue has room again,
                            or went away (senders retry and learn it) */
    IPC_EV_REPLY         /* an endpoint's call completed or was reset */
} ipc_event_t;

/** Called inside the bus call that caused it; must not call the bus. */
typedef void (*ipc_notify_fn_t)(void *arg, ipc_event_t ev, void *user);

/**
 * Create a bus.  `cfg` may be NULL (all defaults); it is copied.
 * @param notify   may be NULL; borrowed `arg` is passed to every call.
 * @return the bus, or NULL (allocation failure or a limit out of range).
 */
ipc_bus_t *ipc_bus_create(const ipc_config_t *cfg, ipc_notify_fn_t notify,
                          void *arg);
/** Free the bus and every object still on it.  NULL is a no-op. */
void ipc_bus_destroy(ipc_bus_t *bus);
/** The bus's effective limits (defaults filled in). */
const ipc_config_t *ipc_bus_config(const ipc_bus_t *bus);

/* ---- services --------------------------------------------------------- */

/**
 * Register service `name` (1..IPC_NAME_MAX-1 bytes, no NUL needed).
 * Allocates its queue.  `user` is borrowed, passed to notifications.
 * @return 0; IPC_EINVAL; IPC_EEXIST (registered and alive); IPC_ENOSPC;
 *         IPC_ENOMEM.
 */
int ipc_service_register(ipc_bus_t *bus, const char *name, size_t len,
                         void *user, ipc_service_t **out);

/**
 * The service goes away: queued requests are dropped, calls in flight fail
 * with IPC_ECONNRESET (IPC_EV_REPLY for each), and senders waiting for room
 * get IPC_EV_WRITABLE.  The name stays known as gone.  NULL is a no-op.
 */
void ipc_service_unregister(ipc_service_t *svc);

/** The live service called `name`, or NULL. */
ipc_service_t *ipc_service_lookup(ipc_bus_t *bus, const char *name,
                                  size_t len);
/** @return the service's name (NUL-terminated, valid while registered). */
const char *ipc_service_name(const ipc_service_t *svc);

/**
 * Take the next request.  Calls whose caller gave up are skipped.
 * @param buf, cap  receive the body; a longer body is truncated to cap,
 *                  the request is consumed and IPC_EMSGSIZE returned.
 * @param len       receives the full body length.
 * @param tag       receives the call's tag, 0 for a one-way message.
 * @return 0, IPC_EAGAIN (empty), IPC_EMSGSIZE.
 */
int ipc_service_recv(ipc_service_t *svc, void *buf, size_t cap, size_t *len,
                     uint32_t *tag);

/**
 * Answer the call `tag` taken from this service.  The body is copied into
 * the caller's reply slot.
 * @return 0; IPC_ENOENT (no such call waits here: wrong tag, or the caller
 *         gave up); IPC_EMSGSIZE (len > msg_max; the call is untouched).
 */
int ipc_service_reply(ipc_service_t *svc, uint32_t tag, const void *data,
                      size_t len);

/** Requests queued now. */
uint32_t ipc_service_pending(const ipc_service_t *svc);

/**
 * Queue a message into a service as if sent, bypassing nothing but the
 * caller (restoring a saved queue).  Same bounds as ipc_send.
 * @return 0, IPC_EAGAIN (full), IPC_EMSGSIZE, IPC_ENOMEM.
 */
int ipc_service_inject(ipc_service_t *svc, uint32_t tag, const void *data,
                       size_t len);

/** Visit every queued request in order (saving a queue).  A non-zero
 *  return from fn stops the walk and is returned. */
int ipc_service_foreach(const ipc_service_t *svc,
                        int (*fn)(void *arg, uint32_t tag, const void *data,
                                  size_t len),
                        void *arg);

/* ---- one-way messages ------------------------------------------------- */

/**
 * Send a one-way message (tag 0) to service `name` from `sender`.
 * @return 0; IPC_ENOENT (never registered); IPC_ECONNRESET (gone);
 *         IPC_EAGAIN (queue, or the sender's share of it, full);
 *         IPC_EMSGSIZE; IPC_ENOMEM (a queue's ring is allocated at its
 *         first message).
 * @param blocker  if not NULL, receives on IPC_EAGAIN the user pointer of
 *                 the full service (wait for its IPC_EV_WRITABLE).
 */
int ipc_send(ipc_bus_t *bus, uint32_t sender, const char *name, size_t nlen,
             const void *data, size_t len, void **blocker);

/* ---- calls ------------------------------------------------------------ */

/**
 * Open a caller endpoint for `sender`; allocates its reply slot (msg_max
 * bytes) the first time its table slot is used, never again.
 * `user` is borrowed, passed to IPC_EV_REPLY.
 * @return 0, IPC_ENOSPC, IPC_ENOMEM.
 */
int ipc_endpoint_open(ipc_bus_t *bus, uint32_t sender, void *user,
                      ipc_endpoint_t **out);
/** Close an endpoint; a call in flight is abandoned.  NULL is a no-op. */
void ipc_endpoint_close(ipc_endpoint_t *ep);

/**
 * Start a call: queue the request to service `name` with a fresh tag.
 * @return 0; IPC_EBUSY (a call is in flight here); IPC_ENOENT;
 *         IPC_ECONNRESET (gone); IPC_EAGAIN (queue or the sender's share
 *         of it full: nothing sent);
 *         IPC_EMSGSIZE; IPC_ENOMEM (as for ipc_send).
 * @param blocker  as for ipc_send.
 */
int ipc_call_start(ipc_endpoint_t *ep, const char *name, size_t nlen,
                   const void *req, size_t len, void **blocker);

/**
 * Collect the reply of the call in flight.  On any return but IPC_EAGAIN
 * the call is over and the endpoint free for the next one.
 * @param buf, cap  receive the reply, truncated to cap (IPC_EMSGSIZE).
 * @param len       receives the full reply length.
 * @return 0; IPC_EAGAIN (no reply yet); IPC_ECONNRESET (the service went
 *         away); IPC_EMSGSIZE; IPC_ENOENT (no call in flight).
 */
int ipc_call_finish(ipc_endpoint_t *ep, void *buf, size_t cap, size_t *len);

/** Give up the call in flight (timeout); a later reply is refused with
 *  IPC_ENOENT.  No-op without a call. */
void ipc_call_cancel(ipc_endpoint_t *ep);

/** True while a call is in flight on `ep` (started, not finished). */
bool ipc_call_active(const ipc_endpoint_t *ep);

/* ---- publish / subscribe ---------------------------------------------- */

/**
 * Subscribe to `topic` (created on first use); allocates the queue.
 * @return 0; IPC_EINVAL; IPC_ENOSPC (too many topics or subscribers);
 *         IPC_ENOMEM.
 */
int ipc_subscribe(ipc_bus_t *bus, const char *topic, size_t len, void *user,
                  ipc_sub_t **out);
/** Drop the subscription and its queue; publishers waiting on it get
 *  IPC_EV_WRITABLE.  NULL is a no-op. */
void ipc_unsubscribe(ipc_sub_t *sub);
/** @return the subscription's topic name. */
const char *ipc_sub_topic(const ipc_sub_t *sub);

/**
 * Publish to every subscriber of `topic`, all or nothing: if any queue is
 * full nothing is delivered and IPC_EAGAIN returned (backpressure).
 * @param blocker  if not NULL, receives on IPC_EAGAIN the user pointer of
 *                 a full subscriber (wait for its IPC_EV_WRITABLE).
 * @return the number of subscribers reached (0 if none); IPC_EAGAIN;
 *         IPC_EMSGSIZE; IPC_EINVAL; IPC_ENOMEM (as for ipc_send: nothing
 *         delivered).
 */
int ipc_publish(ipc_bus_t *bus, uint32_t sender, const char *topic,
                size_t tlen, const void *data, size_t len, void **blocker);

/**
 * Take the next message of a subscription.
 * @return 0 (*len = full length; truncated to cap: IPC_EMSGSIZE, consumed);
 *         IPC_EAGAIN (empty).
 */
int ipc_sub_recv(ipc_sub_t *sub, void *buf, size_t cap, size_t *len);

/** Messages queued now. */
uint32_t ipc_sub_pending(const ipc_sub_t *sub);

/** Queue a message into one subscription (restoring a saved queue).
 *  @return 0, IPC_EAGAIN, IPC_EMSGSIZE, IPC_ENOMEM. */
int ipc_sub_inject(ipc_sub_t *sub, const void *data, size_t len);

/** Visit every queued message in order; see ipc_service_foreach. */
int ipc_sub_foreach(const ipc_sub_t *sub,
                    int (*fn)(void *arg, uint32_t tag, const void *data,
                              size_t len),
                    void *arg);

#ifdef __cplusplus
}
#endif
#endif /* IPC_IPC_H */
