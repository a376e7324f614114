/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of the IPC bus (device/ipc), without VMs: routing, bounds,
 * owner death and notifications.  Every test gets a small bus (tiny limits
 * make the bounds reachable) that records its notifications.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/ipc.h"

#define S(lit) (lit), (sizeof(lit) - 1)
#define MAXNOTES 64

typedef struct {
    ipc_event_t ev;
    void *user;
} note_t;

typedef struct {
    ipc_bus_t *bus;
    note_t notes[MAXNOTES];
    unsigned nnotes;
    /* Objects' user pointers: only their addresses matter. */
    int u_srv, u_srv2, u_ep, u_ep2, u_sub, u_sub2;
} fx_t;

static void
record(void *arg, ipc_event_t ev, void *user)
{
    fx_t *fx = arg;

    if (fx->nnotes < MAXNOTES) {
        fx->notes[fx->nnotes].ev = ev;
        fx->notes[fx->nnotes].user = user;
    }
    fx->nnotes++;
}

/* How many notifications `ev` for `user` were recorded. */
static unsigned
count(const fx_t *fx, ipc_event_t ev, void *user)
{
    unsigned i, n = 0;

    for (i = 0; i < fx->nnotes && i < MAXNOTES; i++)
        if (fx->notes[i].ev == ev && fx->notes[i].user == user)
            n++;
    return n;
}

static int
setup(void **state)
{
    static fx_t fx;
    ipc_config_t cfg = {
        .msg_max = 64, .queue_depth = 4, .queue_bytes = 128,
        .max_services = 4, .max_topics = 2, .max_subs = 2,
        .max_endpoints = 4
    };

    memset(&fx, 0, sizeof(fx));
    if ((fx.bus = ipc_bus_create(&cfg, record, &fx)) == NULL)
        return -1;
    *state = &fx;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *fx = *state;

    ipc_bus_destroy(fx->bus);
    return 0;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_ipc_bus_config_defaults_and_limits(void **state)
{
    ipc_config_t bad = { .msg_max = 4096, .queue_bytes = 100 };
    ipc_config_t eps = { .max_endpoints = 256 };
    ipc_bus_t *bus;
    const ipc_config_t *c;

    (void)state;
    assert_non_null(bus = ipc_bus_create(NULL, NULL, NULL));
    c = ipc_bus_config(bus);
    assert_int_equal(c->msg_max, 4096);
    assert_int_equal(c->queue_depth, 16);
    assert_int_equal(c->queue_bytes, 4 * 4096);
    ipc_bus_destroy(bus);
    /* A queue that cannot hold one largest message is refused. */
    assert_null(ipc_bus_create(&bad, NULL, NULL));
    /* Tags carry 8 bits of endpoint index. */
    assert_null(ipc_bus_create(&eps, NULL, NULL));
    ipc_bus_destroy(NULL);
    assert_string_equal(ipc_strerror(IPC_ECONNRESET), "the service went away");
    assert_string_equal(ipc_strerror(-999), "unknown error");
}

static void
test_ipc_call_reply_routes_to_caller(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    ipc_endpoint_t *a, *b;
    char buf[64];
    size_t len;
    uint32_t ta, tb;

    assert_int_equal(ipc_service_register(fx->bus, S("net"), &fx->u_srv,
                                          &srv), 0);
    assert_string_equal(ipc_service_name(srv), "net");
    assert_ptr_equal(ipc_service_lookup(fx->bus, S("net")), srv);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep, &a), 0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep2, &b), 0);

    assert_int_equal(ipc_call_start(a, S("net"), "ping-a", 6, NULL), 0);
    assert_int_equal(ipc_call_start(b, S("net"), "ping-b", 6, NULL), 0);
    assert_int_equal(count(fx, IPC_EV_READABLE, &fx->u_srv), 2);
    assert_true(ipc_call_active(a));
    /* One call in flight per endpoint. */
    assert_int_equal(ipc_call_start(a, S("net"), "x", 1, NULL), IPC_EBUSY);
    assert_int_equal(ipc_call_finish(a, buf, sizeof(buf), &len), IPC_EAGAIN);

    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &ta), 0);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "ping-a", 6);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tb), 0);
    assert_memory_equal(buf, "ping-b", 6);
    assert_int_not_equal(ta, 0);
    assert_int_not_equal(tb, 0);
    assert_int_not_equal(ta, tb);

    /* Answer out of order: each reply reaches its own caller. */
    assert_int_equal(ipc_service_reply(srv, tb, "pong-b", 6), 0);
    assert_int_equal(count(fx, IPC_EV_REPLY, &fx->u_ep2), 1);
    assert_int_equal(count(fx, IPC_EV_REPLY, &fx->u_ep), 0);
    assert_int_equal(ipc_service_reply(srv, ta, "pong-a!", 7), 0);
    assert_int_equal(ipc_call_finish(a, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(buf, "pong-a!", 7);
    assert_int_equal(ipc_call_finish(b, buf, sizeof(buf), &len), 0);
    assert_memory_equal(buf, "pong-b", 6);
    assert_false(ipc_call_active(a));
    /* A tag is answered once. */
    assert_int_equal(ipc_service_reply(srv, ta, "again", 5), IPC_ENOENT);
    assert_int_equal(ipc_call_finish(a, buf, sizeof(buf), &len), IPC_ENOENT);
    ipc_endpoint_close(a);
    ipc_endpoint_close(b);
}

static void
test_ipc_reply_from_other_service_is_refused(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *s1, *s2;
    ipc_endpoint_t *ep;
    char buf[8];
    size_t len;
    uint32_t tag;

    assert_int_equal(ipc_service_register(fx->bus, S("a"), &fx->u_srv, &s1),
                     0);
    assert_int_equal(ipc_service_register(fx->bus, S("b"), &fx->u_srv2, &s2),
                     0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep, &ep), 0);
    assert_int_equal(ipc_call_start(ep, S("a"), "q", 1, NULL), 0);
    assert_int_equal(ipc_service_recv(s1, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(ipc_service_reply(s2, tag, "forged", 6), IPC_ENOENT);
    assert_int_equal(ipc_service_reply(s1, tag ^ 0x100, "x", 1), IPC_ENOENT);
    assert_int_equal(ipc_call_finish(ep, buf, sizeof(buf), &len), IPC_EAGAIN);
    assert_int_equal(ipc_service_reply(s1, tag, "ok", 2), 0);
    assert_int_equal(ipc_call_finish(ep, buf, sizeof(buf), &len), 0);
}

static void
test_ipc_one_way_has_tag_zero(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    char buf[16];
    size_t len;
    uint32_t tag = 99;

    assert_int_equal(ipc_send(fx->bus, 0, S("log"), "x", 1, NULL), IPC_ENOENT);
    assert_int_equal(ipc_service_register(fx->bus, S("log"), &fx->u_srv,
                                          &srv), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("log"), "hello", 5, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("log"), NULL, 0, NULL), 0);
    assert_int_equal(ipc_service_pending(srv), 2);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(tag, 0);
    assert_int_equal(len, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(len, 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag),
                     IPC_EAGAIN);
    /* A reply to a one-way message makes no sense. */
    assert_int_equal(ipc_service_reply(srv, 0, "x", 1), IPC_ENOENT);
}

static void
test_ipc_queue_full_is_eagain_then_writable(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    ipc_endpoint_t *ep;
    char buf[64];
    void *blocker = NULL;
    size_t len;
    uint32_t tag;
    int i;

    assert_int_equal(ipc_service_register(fx->bus, S("s"), &fx->u_srv, &srv),
                     0);
    /* Depth bound: 4 messages. */
    for (i = 0; i < 4; i++)
        assert_int_equal(ipc_send(fx->bus, 0, S("s"), "m", 1, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), "m", 1, &blocker),
                     IPC_EAGAIN);
    assert_ptr_equal(blocker, &fx->u_srv);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep, &ep), 0);
    assert_int_equal(ipc_call_start(ep, S("s"), "c", 1, NULL), IPC_EAGAIN);
    /* Nothing was sent: the endpoint is still free. */
    assert_false(ipc_call_active(ep));

    assert_int_equal(count(fx, IPC_EV_WRITABLE, &fx->u_srv), 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(count(fx, IPC_EV_WRITABLE, &fx->u_srv), 1);
    assert_int_equal(ipc_call_start(ep, S("s"), "c", 1, NULL), 0);

    /* Byte bound: 128 payload bytes even below the depth. */
    while (ipc_service_recv(srv, buf, sizeof(buf), &len, &tag) == 0)
        ;
    ipc_call_cancel(ep);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), buf, 64, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), buf, 64, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), buf, 1, NULL), IPC_EAGAIN);
    /* Size bound. */
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), buf, 65, NULL), IPC_EMSGSIZE);
}

static void
test_ipc_ring_wraps_without_corruption(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    uint8_t msg[64], got[64];
    size_t len;
    uint32_t tag;
    unsigned i, j, sent = 0, recvd = 0;

    assert_int_equal(ipc_service_register(fx->bus, S("w"), &fx->u_srv, &srv),
                     0);
    /* Odd sizes walk the ring's wrap point through every offset. */
    for (i = 0; i < 200; i++) {
        size_t n = 1 + (i * 7) % 63;

        for (j = 0; j < n; j++)
            msg[j] = (uint8_t)(sent + j);
        if (ipc_send(fx->bus, 0, S("w"), msg, n, NULL) == 0)
            sent++;
        if (i % 3 != 0) {
            if (ipc_service_recv(srv, got, sizeof(got), &len, &tag) == 0) {
                for (j = 0; j < len; j++)
                    assert_int_equal(got[j], (uint8_t)(recvd + j));
                recvd++;
            }
        }
    }
    while (ipc_service_recv(srv, got, sizeof(got), &len, &tag) == 0) {
        for (j = 0; j < len; j++)
            assert_int_equal(got[j], (uint8_t)(recvd + j));
        recvd++;
    }
    assert_int_equal(sent, recvd);
    assert_true(sent > 100);
}

static void
test_ipc_owner_death_resets_pending_and_later_calls(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv, *srv2;
    ipc_endpoint_t *a, *b;
    char buf[16];
    size_t len;
    uint32_t tag;

    assert_int_equal(ipc_service_register(fx->bus, S("net"), &fx->u_srv,
                                          &srv), 0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep, &a), 0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep2, &b), 0);
    /* a's request is taken (in service), b's still queued. */
    assert_int_equal(ipc_call_start(a, S("net"), "1", 1, NULL), 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(ipc_call_start(b, S("net"), "2", 1, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("net"), "3", 1, NULL), 0);

    fx->nnotes = 0;
    ipc_service_unregister(srv);
    assert_int_equal(count(fx, IPC_EV_REPLY, &fx->u_ep), 1);
    assert_int_equal(count(fx, IPC_EV_REPLY, &fx->u_ep2), 1);
    assert_int_equal(count(fx, IPC_EV_WRITABLE, &fx->u_srv), 1);
    assert_int_equal(ipc_call_finish(a, buf, sizeof(buf), &len),
                     IPC_ECONNRESET);
    assert_int_equal(ipc_call_finish(b, buf, sizeof(buf), &len),
                     IPC_ECONNRESET);
    assert_null(ipc_service_lookup(fx->bus, S("net")));
    /* Later calls and sends fail at once, never hang. */
    assert_int_equal(ipc_call_start(a, S("net"), "4", 1, NULL),
                     IPC_ECONNRESET);
    assert_int_equal(ipc_send(fx->bus, 0, S("net"), "5", 1, NULL),
                     IPC_ECONNRESET);
    assert_int_equal(ipc_call_start(a, S("nope"), "4", 1, NULL), IPC_ENOENT);

    /* Restarted: a fresh, empty queue; old tags are dead. */
    assert_int_equal(ipc_service_register(fx->bus, S("net"), &fx->u_srv2,
                                          &srv2), 0);
    assert_int_equal(ipc_service_pending(srv2), 0);
    assert_int_equal(ipc_service_reply(srv2, tag, "late", 4), IPC_ENOENT);
    assert_int_equal(ipc_call_start(a, S("net"), "6", 1, NULL), 0);
    assert_int_equal(ipc_service_recv(srv2, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(ipc_service_reply(srv2, tag, "ok", 2), 0);
    assert_int_equal(ipc_call_finish(a, buf, sizeof(buf), &len), 0);
    assert_memory_equal(buf, "ok", 2);
}

static void
test_ipc_register_twice_is_eexist(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *s, *t;
    char big[IPC_NAME_MAX];

    assert_int_equal(ipc_service_register(fx->bus, S("x"), NULL, &s), 0);
    assert_int_equal(ipc_service_register(fx->bus, S("x"), NULL, &t),
                     IPC_EEXIST);
    assert_int_equal(ipc_service_register(fx->bus, "", 0, NULL, &t),
                     IPC_EINVAL);
    assert_int_equal(ipc_service_register(fx->bus, "a\0b", 3, NULL, &t),
                     IPC_EINVAL);
    memset(big, 'n', sizeof(big));
    assert_int_equal(ipc_service_register(fx->bus, big, sizeof(big), NULL,
                                          &t), IPC_EINVAL);
    assert_int_equal(ipc_service_register(fx->bus, big, sizeof(big) - 1,
                                          NULL, &t), 0);
    assert_int_equal(ipc_service_register(fx->bus, S("y"), NULL, &t), 0);
    assert_int_equal(ipc_service_register(fx->bus, S("z"), NULL, &t), 0);
    /* Table of 4 full. */
    assert_int_equal(ipc_service_register(fx->bus, S("w"), NULL, &t),
                     IPC_ENOSPC);
    /* A gone service's slot is recycled when the table is full. */
    ipc_service_unregister(s);
    assert_int_equal(ipc_send(fx->bus, 0, S("x"), "m", 1, NULL),
                     IPC_ECONNRESET);
    assert_int_equal(ipc_service_register(fx->bus, S("w"), NULL, &t), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("x"), "m", 1, NULL), IPC_ENOENT);
    ipc_service_unregister(NULL);
}

static void
test_ipc_cancelled_call_is_skipped_and_reply_refused(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    ipc_endpoint_t *ep;
    char buf[16];
    size_t len;
    uint32_t tag, old;

    assert_int_equal(ipc_service_register(fx->bus, S("s"), &fx->u_srv, &srv),
                     0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep, &ep), 0);
    /* Timed out while still queued: the server never sees it. */
    assert_int_equal(ipc_call_start(ep, S("s"), "stale", 5, NULL), 0);
    ipc_call_cancel(ep);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), "oneway", 6, NULL), 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(tag, 0);
    assert_memory_equal(buf, "oneway", 6);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag),
                     IPC_EAGAIN);
    /* Timed out after the server took it: the late reply is refused and
     * does not land in the endpoint's next call. */
    assert_int_equal(ipc_call_start(ep, S("s"), "q1", 2, NULL), 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &old), 0);
    ipc_call_cancel(ep);
    assert_int_equal(ipc_call_start(ep, S("s"), "q2", 2, NULL), 0);
    assert_int_equal(ipc_service_reply(srv, old, "late", 4), IPC_ENOENT);
    assert_int_equal(ipc_call_finish(ep, buf, sizeof(buf), &len), IPC_EAGAIN);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_int_equal(ipc_service_reply(srv, tag, "r2", 2), 0);
    assert_int_equal(ipc_call_finish(ep, buf, sizeof(buf), &len), 0);
    assert_memory_equal(buf, "r2", 2);
}

static void
test_ipc_truncation_is_emsgsize(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    ipc_endpoint_t *ep;
    char buf[4];
    size_t len;
    uint32_t tag;

    assert_int_equal(ipc_service_register(fx->bus, S("s"), &fx->u_srv, &srv),
                     0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, &fx->u_ep, &ep), 0);
    assert_int_equal(ipc_call_start(ep, S("s"), "abcdefgh", 8, NULL), 0);
    /* The request is consumed; the tag still lets the server answer. */
    assert_int_equal(ipc_service_recv(srv, buf, 4, &len, &tag),
                     IPC_EMSGSIZE);
    assert_int_equal(len, 8);
    assert_memory_equal(buf, "abcd", 4);
    assert_int_equal(ipc_service_pending(srv), 0);
    {
        char big[65] = { 0 };

        assert_int_equal(ipc_service_reply(srv, tag, big, 65), IPC_EMSGSIZE);
    }
    assert_int_equal(ipc_service_reply(srv, tag, "123456", 6), 0);
    assert_int_equal(ipc_call_finish(ep, buf, 4, &len), IPC_EMSGSIZE);
    assert_int_equal(len, 6);
    assert_memory_equal(buf, "1234", 4);
    assert_false(ipc_call_active(ep));
}

static void
test_ipc_endpoints_are_bounded(void **state)
{
    fx_t *fx = *state;
    ipc_endpoint_t *ep[5];
    int i;

    for (i = 0; i < 4; i++)
        assert_int_equal(ipc_endpoint_open(fx->bus, 0, NULL, &ep[i]), 0);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, NULL, &ep[4]), IPC_ENOSPC);
    ipc_endpoint_close(ep[2]);
    assert_int_equal(ipc_endpoint_open(fx->bus, 0, NULL, &ep[4]), 0);
    ipc_endpoint_close(NULL);
}

static void
test_ipc_publish_fans_out_to_all_subscribers(void **state)
{
    fx_t *fx = *state;
    ipc_sub_t *a, *b, *c;
    char buf[16];
    size_t len;

    /* Nobody listens: delivered to nobody, no error. */
    assert_int_equal(ipc_publish(fx->bus, 0, S("temp"), "20", 2, NULL), 0);
    assert_int_equal(ipc_subscribe(fx->bus, S("temp"), &fx->u_sub, &a), 0);
    assert_int_equal(ipc_subscribe(fx->bus, S("temp"), &fx->u_sub2, &b), 0);
    assert_string_equal(ipc_sub_topic(a), "temp");
    /* max_subs = 2 per topic. */
    assert_int_equal(ipc_subscribe(fx->bus, S("temp"), NULL, &c), IPC_ENOSPC);
    assert_int_equal(ipc_publish(fx->bus, 0, S("temp"), "21", 2, NULL), 2);
    assert_int_equal(count(fx, IPC_EV_READABLE, &fx->u_sub), 1);
    assert_int_equal(count(fx, IPC_EV_READABLE, &fx->u_sub2), 1);
    assert_int_equal(ipc_sub_recv(a, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "21", 2);
    assert_int_equal(ipc_sub_recv(b, buf, sizeof(buf), &len), 0);
    assert_memory_equal(buf, "21", 2);
    assert_int_equal(ipc_sub_recv(b, buf, sizeof(buf), &len), IPC_EAGAIN);
    /* Other topics are separate. */
    assert_int_equal(ipc_publish(fx->bus, 0, S("hum"), "5", 1, NULL), 0);
    assert_int_equal(ipc_sub_pending(a), 0);
    ipc_unsubscribe(a);
    assert_int_equal(ipc_publish(fx->bus, 0, S("temp"), "22", 2, NULL), 1);
    ipc_unsubscribe(b);
    /* The last subscriber gone frees the topic slot. */
    assert_int_equal(ipc_subscribe(fx->bus, S("t1"), NULL, &a), 0);
    assert_int_equal(ipc_subscribe(fx->bus, S("t2"), NULL, &b), 0);
    assert_int_equal(ipc_subscribe(fx->bus, S("t3"), NULL, &c), IPC_ENOSPC);
    ipc_unsubscribe(NULL);
}

static void
test_ipc_publish_backpressure_is_all_or_nothing(void **state)
{
    fx_t *fx = *state;
    ipc_sub_t *fast, *slow;
    char buf[16];
    void *blocker = NULL;
    size_t len;
    int i;

    assert_int_equal(ipc_subscribe(fx->bus, S("t"), &fx->u_sub, &fast), 0);
    assert_int_equal(ipc_subscribe(fx->bus, S("t"), &fx->u_sub2, &slow), 0);
    for (i = 0; i < 4; i++) {
        assert_int_equal(ipc_publish(fx->bus, 0, S("t"), "m", 1, NULL), 2);
        assert_int_equal(ipc_sub_recv(fast, buf, sizeof(buf), &len), 0);
    }
    /* slow is full: nobody gets the message, the publisher learns whom
     * to wait for. */
    assert_int_equal(ipc_publish(fx->bus, 0, S("t"), "x", 1, &blocker),
                     IPC_EAGAIN);
    assert_ptr_equal(blocker, &fx->u_sub2);
    assert_int_equal(ipc_sub_pending(fast), 0);
    fx->nnotes = 0;
    assert_int_equal(ipc_sub_recv(slow, buf, sizeof(buf), &len), 0);
    assert_int_equal(count(fx, IPC_EV_WRITABLE, &fx->u_sub2), 1);
    assert_int_equal(ipc_publish(fx->bus, 0, S("t"), "x", 1, NULL), 2);
    assert_int_equal(ipc_sub_pending(fast), 1);
    assert_int_equal(ipc_sub_pending(slow), 4);
    /* A subscriber leaving also unblocks publishers. */
    fx->nnotes = 0;
    ipc_unsubscribe(slow);
    assert_int_equal(count(fx, IPC_EV_WRITABLE, &fx->u_sub2), 1);
    assert_int_equal(ipc_publish(fx->bus, 0, S("t"), buf, 65, NULL),
                     IPC_EMSGSIZE);
}

static void
test_ipc_sender_share_stops_a_flooder(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    ipc_sub_t *sub;
    ipc_endpoint_t *ep;
    char buf[64];
    size_t len;
    uint32_t tag;

    /* depth 4: each sender may hold 1 message (and 64 bytes) per queue. */
    assert_int_equal(ipc_bus_config(fx->bus)->sender_max, 1);
    assert_int_equal(ipc_service_register(fx->bus, S("s"), &fx->u_srv, &srv),
                     0);
    assert_int_equal(ipc_send(fx->bus, 7, S("s"), "a", 1, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 7, S("s"), "b", 1, NULL), IPC_EAGAIN);
    /* Its calls count against the same share. */
    assert_int_equal(ipc_endpoint_open(fx->bus, 7, &fx->u_ep, &ep), 0);
    assert_int_equal(ipc_call_start(ep, S("s"), "c", 1, NULL), IPC_EAGAIN);
    /* Others still get through. */
    assert_int_equal(ipc_send(fx->bus, 8, S("s"), "d", 1, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 9, S("s"), "e", 1, NULL), 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_memory_equal(buf, "a", 1);
    /* Its share is free again. */
    assert_int_equal(ipc_call_start(ep, S("s"), "c", 1, NULL), 0);
    ipc_endpoint_close(ep);

    /* Same rule on a subscriber's queue. */
    assert_int_equal(ipc_subscribe(fx->bus, S("t"), &fx->u_sub, &sub), 0);
    assert_int_equal(ipc_publish(fx->bus, 7, S("t"), "x", 1, NULL), 1);
    assert_int_equal(ipc_publish(fx->bus, 7, S("t"), "x", 1, NULL),
                     IPC_EAGAIN);
    assert_int_equal(ipc_publish(fx->bus, 8, S("t"), "y", 1, NULL), 1);
    assert_int_equal(ipc_sub_recv(sub, buf, sizeof(buf), &len), 0);
    assert_int_equal(ipc_publish(fx->bus, 7, S("t"), "x", 1, NULL), 1);
}

static int
collect(void *arg, uint32_t tag, const void *data, size_t len)
{
    char *out = arg;

    (void)tag;
    strncat(out, data, len);
    strcat(out, "|");
    return 0;
}

static void
test_ipc_foreach_and_inject_preserve_queues(void **state)
{
    fx_t *fx = *state;
    ipc_service_t *srv;
    ipc_sub_t *sub;
    char seen[128] = "";
    char buf[16];
    size_t len;
    uint32_t tag;

    assert_int_equal(ipc_service_register(fx->bus, S("s"), &fx->u_srv, &srv),
                     0);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), "one", 3, NULL), 0);
    assert_int_equal(ipc_send(fx->bus, 0, S("s"), "two", 3, NULL), 0);
    assert_int_equal(ipc_service_foreach(srv, collect, seen), 0);
    assert_string_equal(seen, "one|two|");
    /* Re-queued after a restore. */
    ipc_service_unregister(srv);
    assert_int_equal(ipc_service_register(fx->bus, S("s"), &fx->u_srv, &srv),
                     0);
    assert_int_equal(ipc_service_inject(srv, 0, "one", 3), 0);
    assert_int_equal(ipc_service_recv(srv, buf, sizeof(buf), &len, &tag), 0);
    assert_memory_equal(buf, "one", 3);

    assert_int_equal(ipc_subscribe(fx->bus, S("t"), &fx->u_sub, &sub), 0);
    assert_int_equal(ipc_sub_inject(sub, "ev", 2), 0);
    seen[0] = '\0';
    assert_int_equal(ipc_sub_foreach(sub, collect, seen), 0);
    assert_string_equal(seen, "ev|");
    assert_int_equal(ipc_sub_recv(sub, buf, sizeof(buf), &len), 0);
    assert_memory_equal(buf, "ev", 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipc_bus_config_defaults_and_limits),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_ipc_call_reply_routes_to_caller),
        T(test_ipc_reply_from_other_service_is_refused),
        T(test_ipc_one_way_has_tag_zero),
        T(test_ipc_queue_full_is_eagain_then_writable),
        T(test_ipc_ring_wraps_without_corruption),
        T(test_ipc_owner_death_resets_pending_and_later_calls),
        T(test_ipc_register_twice_is_eexist),
        T(test_ipc_cancelled_call_is_skipped_and_reply_refused),
        T(test_ipc_truncation_is_emsgsize),
        T(test_ipc_endpoints_are_bounded),
        T(test_ipc_publish_fans_out_to_all_subscribers),
        T(test_ipc_publish_backpressure_is_all_or_nothing),
        T(test_ipc_foreach_and_inject_preserve_queues),
        T(test_ipc_sender_share_stops_a_flooder),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
