/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMCTL_CLIENT_H
#define VMCTL_CLIENT_H

/*
 * vmctl's HTTP client (client.c, the only file that includes libcurl):
 * one connection to vmctld, requests one at a time.  Single-threaded.
 *
 * Errors: 0, or a negative VMCTL_HTTP_E* code for a request that got no
 * HTTP answer (refused, timed out, TLS...); `err` then holds libcurl's
 * details.  Any HTTP status, 4xx and 5xx included, is a success here:
 * the caller reads the status and the body.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMCTL_HTTP_ERRORS(X)                                              \
    X(VMCTL_HTTP_EREFUSED, -1, "connection refused")                     \
    X(VMCTL_HTTP_ECONNECT, -2, "cannot connect")                         \
    X(VMCTL_HTTP_ERESOLVE, -3, "cannot resolve the host name")           \
    X(VMCTL_HTTP_ETIMEDOUT, -4, "timed out")                             \
    X(VMCTL_HTTP_ETLS, -5, "TLS handshake or certificate check failed")  \
    X(VMCTL_HTTP_EURL, -6, "bad server URL")                             \
    X(VMCTL_HTTP_ETOOBIG, -7, "reply too large")                         \
    X(VMCTL_HTTP_ENOMEM, -8, "out of memory")                            \
    X(VMCTL_HTTP_EIO, -9, "transfer failed")                             \
    X(VMCTL_HTTP_EFILE, -10, "cannot write the file")

enum {
#define VMCTL_HTTP_ERR_ENUM(name, val, text) name = (val),
    VMCTL_HTTP_ERRORS(VMCTL_HTTP_ERR_ENUM)
#undef VMCTL_HTTP_ERR_ENUM
};

#define VMCTL_HTTP_ERR_LEN 256  /* enough for libcurl's details */

typedef struct vmctl_http vmctl_http_t;

typedef struct vmctl_http_opts {
    const char *server;  /* base URL, "http://host:port" (no path) */
    const char *token;   /* bearer token; NULL or "" for none */
    const char *cacert;  /* CA bundle for https; NULL: the system's */
    bool insecure;       /* do not verify the server's certificate */
    unsigned timeout_s;  /* a request (without its body) in seconds */
    /* Called during uploads and downloads with bytes done and the total
     * (0 if unknown); NULL for none. */
    void (*progress)(void *arg, uint64_t done, uint64_t total);
    void *progress_arg;
} vmctl_http_opts_t;

typedef struct vmctl_http_resp {
    long status;       /* the HTTP status */
    char *body;        /* malloc()ed, NUL-terminated (len excludes it) */
    size_t len;
    uint64_t written;  /* vmctl_http_download(): bytes in the file */
} vmctl_http_resp_t;

/** @return fixed text for a VMCTL_HTTP_E* code. */
const char *vmctl_http_strerror(int err);

/**
 * A client for one server.
 * @param o borrowed: its strings must outlive the client.
 * @return 0 and *out (free with vmctl_http_destroy()), or an error.
 */
int vmctl_http_create(const vmctl_http_opts_t *o, vmctl_http_t **out);

/** Close and free.  NULL is a no-op. */
void vmctl_http_destroy(vmctl_http_t *h);

/**
 * One request.
 * @param path "/api/v1/..." with its query, already escaped.
 * @param ctype the body's Content-Type, NULL without a body.
 * @param body borrowed for the call.
 * @param wait_s extra seconds the server may take (a long poll).
 * @param max_reply a longer reply body fails with ETOOBIG.
 * @param resp filled on success; clear with vmctl_http_resp_clear().
 * @return 0 (any HTTP status), or a VMCTL_HTTP_E* code with err set.
 */
int vmctl_http_request(vmctl_http_t *h, const char *method, const char *path,
                       const char *ctype, const void *body, size_t len,
                       unsigned wait_s, size_t max_reply,
                       vmctl_http_resp_t *resp, char *err, size_t errlen);

/**
 * GET `path` into the file `dest`: written to "DEST.part", renamed over
 * DEST on a 2xx status, removed otherwise (resp then holds the error
 * reply, at most max_reply bytes of it).
 * @return as vmctl_http_request(); EFILE if DEST cannot be written.
 */
int vmctl_http_download(vmctl_http_t *h, const char *path, const char *dest,
                        size_t max_reply, vmctl_http_resp_t *resp, char *err,
                        size_t errlen);

/** Free a reply's body.  Safe on a zeroed or cleared reply. */
void vmctl_http_resp_clear(vmctl_http_resp_t *r);

/**
 * Percent-encode `s` for a path segment or a query value.
 * @return 0, or -1 if it does not fit in `out`.
 */
int vmctl_http_escape(const char *s, char *out, size_t outlen);

#endif /* VMCTL_CLIENT_H */
