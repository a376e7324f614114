/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * http: a small HTTP/1.1 server over libmicrohttpd (the only file that
 * includes microhttpd.h).  One thread per connection, so a handler may
 * block (a long poll, an event stream) without holding up the others.
 *
 * A request reaches the handler in two phases.  HEAD: the request line
 * and headers are in, the body is not read yet; the handler answers at
 * once (an error: the body is then never read) or sets `body_limit` to
 * have the body buffered.  A Content-Length over the limit is the
 * handler's to refuse in HEAD; bytes beyond the limit (a chunked body)
 * are not buffered: the handler is called with OVERFLOW instead of BODY
 * at the end (or, if far more arrives, the connection is closed).  BODY:
 * the whole body is in `body`; the handler answers.
 *
 * A response is a status, a content type and one of: bytes (owned), a
 * file (streamed from its descriptor) or a stream (an event stream: a
 * read callback that may block, called until it says the end).
 */
#ifndef VMCTLD_HTTP_H
#define VMCTLD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VMCTLD_HTTP_ARGS_MAX 32     /* query arguments kept per request */
#define VMCTLD_HTTP_HDRS_MAX 4      /* extra response headers */
#define VMCTLD_HTTP_HDR_VALUE_MAX 128
#define VMCTLD_HTTP_TIMEOUT_S 60    /* an idle connection is closed */

typedef struct vmctld_http vmctld_http_t;

typedef enum vmctld_http_phase {
    VMCTLD_HTTP_HEAD = 0, /* headers only: answer, or set body_limit */
    VMCTLD_HTTP_BODY,     /* the body is in */
    VMCTLD_HTTP_OVERFLOW, /* more than body_limit bytes came: answer 413 */
} vmctld_http_phase_t;

typedef struct vmctld_http_arg {
    const char *key;
    const char *value;    /* "" for a key without '=' */
} vmctld_http_arg_t;

typedef struct vmctld_http_req {
    vmctld_http_phase_t phase;
    const char *method;   /* "GET", "POST", ... */
    const char *path;     /* percent-decoded, without the query */
    int64_t content_length; /* -1 when the request has none */
    vmctld_http_arg_t args[VMCTLD_HTTP_ARGS_MAX]; /* the query, in order */
    size_t nargs;
    bool args_truncated;  /* more than VMCTLD_HTTP_ARGS_MAX arguments */
    size_t body_limit;    /* HEAD: set to read the body (0: no body) */
    const uint8_t *body;  /* BODY: the bytes (NUL-terminated); else NULL */
    size_t body_len;
    void *user;           /* the handler's, kept from HEAD to the end;
                             free()d by http.c when the request is done */
    void *conn_;          /* private */
} vmctld_http_req_t;

/**
 * An event stream's reader.  May block (one thread per connection).
 * @return bytes written into buf (1..max), or -1 to end the stream.
 */
typedef ssize_t (*vmctld_http_stream_fn)(void *arg, char *buf, size_t max);

typedef struct vmctld_http_resp {
    int status;           /* 0: no answer yet (HEAD: read the body) */
    const char *type;     /* content type, static; NULL: none */
    char *body;           /* owned, malloc()ed; freed by http.c */
    size_t len;
    int fd;               /* >= 0: stream this file instead (owned) */
    uint64_t fd_size;
    vmctld_http_stream_fn stream; /* non-NULL: an endless stream */
    void *stream_arg;
    void (*stream_free)(void *arg); /* called once, whatever happens */
    struct {
        const char *name; /* static */
        char value[VMCTLD_HTTP_HDR_VALUE_MAX];
    } hdrs[VMCTLD_HTTP_HDRS_MAX];
    size_t nhdrs;
} vmctld_http_resp_t;

/**
 * The request handler; runs on the connection's thread, several at once.
 * @param req borrowed for the call (req->user is kept).
 * @param resp zeroed (fd -1) before each call; fill it.
 */
typedef void (*vmctld_http_handler_fn)(void *arg, vmctld_http_req_t *req,
                                       vmctld_http_resp_t *resp);

typedef struct vmctld_http_opts {
    const char *listen;    /* "HOST:PORT", "[V6]:PORT"; port 0: any */
    const char *cert_file; /* both set: HTTPS */
    const char *key_file;
    unsigned max_clients;  /* connections at once */
    unsigned timeout_s;    /* idle connections; 0: VMCTLD_HTTP_TIMEOUT_S */
} vmctld_http_opts_t;

/**
 * Bind, listen and serve.
 * @param opts borrowed for the call.
 * @param fn called for every request; fn and arg must outlive the server.
 * @param err "http.listen: 127.0.0.1:8080: Address already in use",
 *        "http.cert_file: /x.pem: No such file or directory".
 * @return 0 and *out, or -1 with err filled.
 */
int vmctld_http_start(const vmctld_http_opts_t *opts,
                      vmctld_http_handler_fn fn, void *arg,
                      vmctld_http_t **out, char *err, size_t errlen);

/**
 * Close every connection, wait for their threads and free.  Streams
 * whose reader blocks must be woken first (the reader returns -1).
 * NULL is a no-op.
 */
void vmctld_http_stop(vmctld_http_t *h);

/** @return the bound port. */
int vmctld_http_port(const vmctld_http_t *h);

/** @return true when serving HTTPS. */
bool vmctld_http_tls(const vmctld_http_t *h);

/** @return a request header's value, or NULL.  Case-insensitive name. */
const char *vmctld_http_req_header(const vmctld_http_req_t *req,
                                   const char *name);

/**
 * Answer with a file: open it read-only, check it is a regular file and
 * set resp->fd and fd_size (the caller still sets status and type).
 * @return 0, or an errno value (ENOENT, EISDIR, ...) with resp unchanged.
 */
int vmctld_http_resp_file(vmctld_http_resp_t *resp, const char *path);

/** Add a response header (ignored when the table is full). */
void vmctld_http_resp_header(vmctld_http_resp_t *resp, const char *name,
                             const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* VMCTLD_HTTP_H */
