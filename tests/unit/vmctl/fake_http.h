/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef TEST_FAKE_HTTP_H
#define TEST_FAKE_HTTP_H

/*
 * A tiny HTTP/1.1 server on a free loopback port that stands in for
 * vmctld in vmctl's tests: it answers canned replies by method and
 * target, and records every request.  One connection at a time (vmctl
 * makes one request at a time), "Connection: close" on every reply.
 */

#include <stddef.h>

typedef struct fake_route {
    const char *method;   /* "GET" */
    const char *target;   /* path and query, exact; a final '*' matches
                             any rest */
    int status;
    const char *body;     /* the reply (JSON), or NULL for none */
    int times;            /* 0: always; else only the first `times`
                             matches, then the next route is tried */
} fake_route_t;

#define FAKE_BODY_MAX 8192

typedef struct fake_req {
    char method[16];
    char target[1024];
    char auth[256];       /* the Authorization header, "" if none */
    char ctype[128];      /* the Content-Type header, "" if none */
    size_t body_len;      /* the whole body's length */
    char body[FAKE_BODY_MAX]; /* its first bytes, NUL-terminated */
} fake_req_t;

typedef struct fake_http fake_http_t;

/**
 * Start serving.  Routes and their strings are borrowed: they must
 * outlive the server.  Unmatched requests get 404 E_NOT_FOUND.
 * @return the server, or NULL.
 */
fake_http_t *fake_http_start(const fake_route_t *routes, size_t n);

/** The port it listens on (127.0.0.1). */
int fake_http_port(const fake_http_t *f);

/** The number of requests answered so far. */
size_t fake_http_nreqs(fake_http_t *f);

/** Request i (a copy). @return 0, or -1 if there is no such request. */
int fake_http_req(fake_http_t *f, size_t i, fake_req_t *out);

/** Stop and free.  NULL is a no-op. */
void fake_http_stop(fake_http_t *f);

/** A loopback port nothing listens on (bound, then closed). */
int fake_http_closed_port(void);

#endif /* TEST_FAKE_HTTP_H */
