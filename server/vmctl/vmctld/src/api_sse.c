/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The event hub behind GET /api/v1/events (Server-Sent Events).
 *
 * The core calls api__sse_sink() with its lock held, from any of its
 * threads.  The sink formats the event once, as a reference-counted
 * message, and appends a reference to every client's queue (at most
 * API_SSE_QUEUE); a client whose queue is full is marked dropped and its
 * stream ends, so a slow reader never slows the core down or grows
 * memory.  Each client's reader runs on its connection's thread and
 * blocks on the client's condition variable until there is something to
 * write, API_SSE_KEEPALIVE_MS passed (": keepalive"), or the API stops.
 *
 * Everything here is under api->sse_lock, which is never held while
 * calling anything else.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"

/* One formatted event ("id: 7\nevent: vm\ndata: {...}\n\n"), shared. */
typedef struct sse_msg {
    size_t refs;
    size_t len;
    char text[];
} sse_msg_t;

struct api_sse_client {
    api_sse_client_t *next;
    api_sse_client_t *prev;
    vmctld_api_t *api;
    cnd_t cv;
    sse_msg_t *q[API_SSE_QUEUE]; /* a ring */
    size_t head;
    size_t count;
    bool dropped;                /* fell behind: the stream ends */
    sse_msg_t *cur;              /* being written */
    size_t off;
    char pre[64];                /* a comment or the greeting */
    size_t prelen;
    size_t preoff;
};

static const char greeting[] = "retry: 2000\n: ok\n\n";
static const char keepalive[] = ": keepalive\n\n";

static void
msg_unref(sse_msg_t *m)
{
    if (m != NULL && --m->refs == 0)
        free(m);
}

void
api__sse_sink(void *arg, const ctld_event_t *ev)
{
    vmctld_api_t *api = arg;
    api_sse_client_t *c;
    sse_msg_t *m = NULL;
    const char *type;
    char *data = NULL;
    size_t cap;
    uint64_t seq;
    int n;

    mtx_lock(&api->sse_lock);
    seq = ++api->seq;
    c = api->clients;
    mtx_unlock(&api->sse_lock);
    if (c == NULL)
        return; /* nobody listens: not even worth formatting */
    if ((data = api__json_event(ev)) == NULL)
        return;
    type = api__event_type_name(ev->type);
    cap = strlen(data) + strlen(type) + 64;
    if ((m = malloc(sizeof(*m) + cap)) == NULL) {
        free(data);
        return;
    }
    n = snprintf(m->text, cap, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n",
                 seq, type, data);
    free(data);
    if (n < 0 || (size_t)n >= cap) {
        free(m);
        return;
    }
    m->len = (size_t)n;
    m->refs = 1; /* ours, until the loop is done */
    mtx_lock(&api->sse_lock);
    for (c = api->clients; c != NULL; c = c->next) {
        if (c->dropped)
            continue;
        if (c->count == API_SSE_QUEUE) {
            c->dropped = true;
        } else {
            c->q[(c->head + c->count) % API_SSE_QUEUE] = m;
            c->count++;
            m->refs++;
        }
        cnd_signal(&c->cv);
    }
    msg_unref(m);
    mtx_unlock(&api->sse_lock);
}

static void
deadline_in(struct timespec *ts, long ms)
{
    timespec_get(ts, TIME_UTC);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static size_t
copy_out(char *buf, size_t max, const char *src, size_t len, size_t *off)
{
    size_t n = len - *off;

    if (n > max)
        n = max;
    memcpy(buf, src + *off, n);
    *off += n;
    return n;
}

/*
 * The stream's reader (http.h): blocks until there is something to
 * write.  Return: bytes written, or -1 when the stream ends (stop, or
 * the client fell behind).
 */
static ssize_t
sse_read(void *arg, char *buf, size_t max)
{
    api_sse_client_t *c = arg;
    vmctld_api_t *api = c->api;
    struct timespec until;
    bool waiting = false;
    size_t n;

    mtx_lock(&api->sse_lock);
    for (;;) {
        if (api->sse_closed || c->dropped)
            break;
        if (c->preoff < c->prelen) {
            n = copy_out(buf, max, c->pre, c->prelen, &c->preoff);
            mtx_unlock(&api->sse_lock);
            return (ssize_t)n;
        }
        if (c->cur != NULL) {
            n = copy_out(buf, max, c->cur->text, c->cur->len, &c->off);
            if (c->off == c->cur->len) {
                msg_unref(c->cur);
                c->cur = NULL;
            }
            mtx_unlock(&api->sse_lock);
            return (ssize_t)n;
        }
        if (c->count > 0) {
            c->cur = c->q[c->head];
            c->off = 0;
            c->head = (c->head + 1) % API_SSE_QUEUE;
            c->count--;
            continue;
        }
        if (!waiting) {
            deadline_in(&until, API_SSE_KEEPALIVE_MS);
            waiting = true;
        }
        if (cnd_timedwait(&c->cv, &api->sse_lock, &until) ==
            thrd_timedout) {
            memcpy(c->pre, keepalive, sizeof(keepalive) - 1);
            c->prelen = sizeof(keepalive) - 1;
            c->preoff = 0;
        }
    }
    mtx_unlock(&api->sse_lock);
    return -1;
}

/* The stream is over (its connection closed, or the API stops). */
static void
sse_free(void *arg)
{
    api_sse_client_t *c = arg;
    vmctld_api_t *api = c->api;

    mtx_lock(&api->sse_lock);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        api->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    api->nclients--;
    msg_unref(c->cur);
    while (c->count > 0) {
        msg_unref(c->q[c->head]);
        c->head = (c->head + 1) % API_SSE_QUEUE;
        c->count--;
    }
    mtx_unlock(&api->sse_lock);
    cnd_destroy(&c->cv);
    free(c);
}

int
api__sse_open(vmctld_api_t *api, vmctld_http_resp_t *resp)
{
    api_sse_client_t *c;

    if ((c = calloc(1, sizeof(*c))) == NULL)
        return -1;
    if (cnd_init(&c->cv) != thrd_success) {
        free(c);
        return -1;
    }
    c->api = api;
    /* The greeting goes out at once: the client sees the headers, and
     * knows it is subscribed, before the first event. */
    memcpy(c->pre, greeting, sizeof(greeting) - 1);
    c->prelen = sizeof(greeting) - 1;
    mtx_lock(&api->sse_lock);
    c->next = api->clients;
    if (c->next != NULL)
        c->next->prev = c;
    api->clients = c;
    api->nclients++;
    mtx_unlock(&api->sse_lock);
    resp->status = 200;
    resp->type = "text/event-stream";
    resp->stream = sse_read;
    resp->stream_arg = c;
    resp->stream_free = sse_free;
    vmctld_http_resp_header(resp, "Cache-Control", "no-cache");
    vmctld_http_resp_header(resp, "X-Accel-Buffering", "no");
    return 0;
}

void
api__sse_close_all(vmctld_api_t *api)
{
    api_sse_client_t *c;

    mtx_lock(&api->sse_lock);
    api->sse_closed = true;
    for (c = api->clients; c != NULL; c = c->next)
        cnd_broadcast(&c->cv);
    mtx_unlock(&api->sse_lock);
}
