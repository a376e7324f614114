/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The HTTP server of vmctld (http.h) over libmicrohttpd 0.9.75; the only
 * file that includes microhttpd.h.
 *
 * We bind the listening socket ourselves (so that a bind error says why,
 * and port 0 works), then hand it to microhttpd, which runs one thread
 * per connection behind an internal accept thread.  That lets a handler
 * block: a long poll on a command, an event stream waiting for events.
 *
 * microhttpd calls the access handler several times per request: once
 * with the headers, then once per piece of the body, then once more
 * with no data.  A response queued in the first call goes out before the
 * body is read, and the body is then discarded unread, which is how
 * auth and size errors are answered.  A response can not be queued in
 * the middle of a body (microhttpd refuses), so bytes over the limit of
 * a body without a Content-Length are dropped as they come and the
 * handler answers at the end; a body still growing after DISCARD_MAX
 * more bytes gets the connection closed.
 */

#define _POSIX_C_SOURCE 200809L /* getaddrinfo, O_CLOEXEC */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "http.h"
#include "log.h"

#define PEM_MAX (1024 * 1024)      /* a certificate chain or a key */
#define DISCARD_MAX (1024 * 1024)  /* bytes dropped over a body's limit */
#define STREAM_BLOCK 4096          /* an event stream's write size */
#define LISTEN_BACKLOG 128

struct vmctld_http {
    struct MHD_Daemon *d;
    vmctld_http_handler_fn fn;
    void *arg;
    int port;
    bool tls;
    char *cert;          /* PEM, kept while microhttpd runs */
    char *key;
    /* While starting: microhttpd's last complaint, for the error (only
     * the starting thread writes it then). */
    atomic_bool starting;
    char start_err[256];
};

/* One request, from its first call to microhttpd's "completed". */
typedef struct request {
    vmctld_http_req_t req;
    uint8_t *buf;        /* the body being buffered */
    size_t len;
    size_t cap;
    bool overflow;       /* more than body_limit bytes came */
    size_t discarded;
} request_t;

/* An event stream's callbacks, as microhttpd's content reader. */
typedef struct stream {
    vmctld_http_stream_fn fn;
    void *arg;
    void (*free_fn)(void *arg);
} stream_t;

/* ---- small helpers ----------------------------------------------------- */

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * microhttpd's own messages (a bad request line, a client gone): debug
 * lines, except while starting, when the last one explains a failure.
 */
static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
    vmctld_http_t *h = cls;
    char line[256];
    size_t n;

    vsnprintf(line, sizeof(line), fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (atomic_load(&h->starting))
        snprintf(h->start_err, sizeof(h->start_err), "%s", line);
    LOG_DEBUG("http: %s", line);
}

/*
 * Read a whole PEM file into a NUL-terminated buffer.
 * Return: 0, or an errno value (EFBIG for a file over PEM_MAX).
 */
static int
read_pem(const char *path, char **out)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno;
    if (fstat(fd, &st) != 0) {
        rc = errno;
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = EISDIR;
        goto fail;
    }
    if (st.st_size > PEM_MAX) {
        rc = EFBIG;
        goto fail;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = ENOMEM;
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? errno : EIO;
            goto fail;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    close(fd);
    *out = buf;
    return 0;
fail:
    free(buf);
    close(fd);
    return rc;
}

/*
 * Split "HOST:PORT" or "[V6]:PORT" into host (may become "", any
 * address) and port.
 * Return: 0 or -1 (not of that form).
 */
static int
split_listen(const char *s, char *host, size_t hcap, char *port,
             size_t pcap)
{
    const char *colon, *end;
    size_t hl;

    if (s[0] == '[') {
        if ((end = strchr(s, ']')) == NULL || end[1] != ':')
            return -1;
        hl = (size_t)(end - s - 1);
        s++;
        colon = end + 1;
    } else {
        if ((colon = strrchr(s, ':')) == NULL)
            return -1;
        hl = (size_t)(colon - s);
        if (memchr(s, ':', hl) != NULL)
            return -1; /* a bare IPv6 address needs brackets */
    }
    if (hl >= hcap || strlen(colon + 1) >= pcap || colon[1] == '\0' ||
        strspn(colon + 1, "0123456789") != strlen(colon + 1))
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    snprintf(port, pcap, "%s", colon + 1);
    return 0;
}

/*
 * Make the listening socket for `listen` (numeric or a name).
 * Return: the socket, or -1 with err filled.
 */
static int
bind_listen(const char *listen_s, int *family, int *port, char *err,
            size_t errlen)
{
    struct addrinfo hints, *res = NULL, *ai;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[256], portstr[16];
    int fd = -1, rc, one = 1, e = 0;

    if (split_listen(listen_s, host, sizeof(host), portstr,
                     sizeof(portstr)) != 0 ||
        strtol(portstr, NULL, 10) > 65535) {
        set_err(err, errlen, "http.listen: \"%s\": expected HOST:PORT or "
                "[IPV6]:PORT", listen_s);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(host[0] != '\0' && strcmp(host, "*") != 0 ? host
                                                                : NULL,
                     portstr, &hints, &res);
    if (rc != 0) {
        set_err(err, errlen, "http.listen: %s: %s", listen_s,
                gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, LISTEN_BACKLOG) == 0) {
            *family = ai->ai_family;
            break;
        }
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        set_err(err, errlen, "http.listen: %s: %s", listen_s,
                strerror(e != 0 ? e : EADDRNOTAVAIL));
        return -1;
    }
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        set_err(err, errlen, "http.listen: %s: %s", listen_s,
                strerror(errno));
        close(fd);
        return -1;
    }
    if (ss.ss_family == AF_INET6)
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    else
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* ---- requests ---------------------------------------------------------- */

static enum MHD_Result
collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
            const char *value)
{
    request_t *r = cls;

    (void)kind;
    if (r->req.nargs >= VMCTLD_HTTP_ARGS_MAX) {
        r->req.args_truncated = true;
        return MHD_NO;
    }
    r->req.args[r->req.nargs].key = key;
    r->req.args[r->req.nargs].value = value != NULL ? value : "";
    r->req.nargs++;
    return MHD_YES;
}

/* Content-Length as a number; -1 if absent, -2 if not a number. */
static int64_t
content_length(struct MHD_Connection *conn)
{
    const char *v;
    uint64_t n = 0;

    v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                    MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (v == NULL)
        return -1;
    if (*v == '\0')
        return -2;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || n > (uint64_t)INT64_MAX / 10 - 1)
            return -2;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    return (int64_t)n;
}

static ssize_t
stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_t *s = cls;
    ssize_t n;

    (void)pos;
    n = s->fn(s->arg, buf, max);
    if (n <= 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return n;
}

static void
stream_free(void *cls)
{
    stream_t *s = cls;

    if (s->free_fn != NULL)
        s->free_fn(s->arg);
    free(s);
}

/* Release whatever a response owns when it can not be handed over. */
static void
resp_discard(vmctld_http_resp_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    if (resp->fd >= 0)
        close(resp->fd);
    resp->fd = -1;
    if (resp->stream_free != NULL)
        resp->stream_free(resp->stream_arg);
    resp->stream = NULL;
    resp->stream_free = NULL;
}

static void
resp_init(vmctld_http_resp_t *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->fd = -1;
}

/*
 * Hand a filled response to microhttpd, which then owns everything in it.
 * Return: microhttpd's verdict (MHD_NO closes the connection).
 */
static enum MHD_Result
queue(struct MHD_Connection *conn, vmctld_http_resp_t *resp)
{
    struct MHD_Response *mr = NULL;
    enum MHD_Result ret;
    stream_t *s;
    size_t i;

    if (resp->stream != NULL) {
        if ((s = malloc(sizeof(*s))) == NULL) {
            resp_discard(resp);
            return MHD_NO;
        }
        s->fn = resp->stream;
        s->arg = resp->stream_arg;
        s->free_fn = resp->stream_free;
        mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN,
                                               STREAM_BLOCK, stream_read, s,
                                               stream_free);
        if (mr == NULL) {
            free(s);
            resp_discard(resp);
            return MHD_NO;
        }
        resp->stream_free = NULL; /* microhttpd's now */
    } else if (resp->fd >= 0) {
        mr = MHD_create_response_from_fd(resp->fd_size, resp->fd);
        if (mr == NULL) {
            resp_discard(resp);
            return MHD_NO;
        }
        resp->fd = -1;
    } else {
        static char empty[1];

        mr = MHD_create_response_from_buffer_with_free_callback(
            resp->body != NULL ? resp->len : 0,
            resp->body != NULL ? resp->body : empty,
            resp->body != NULL ? free : NULL);
        if (mr == NULL) {
            resp_discard(resp);
            return MHD_NO;
        }
        resp->body = NULL;
    }
    if (resp->type != NULL)
        (void)MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      resp->type);
    for (i = 0; i < resp->nhdrs; i++)
        (void)MHD_add_response_header(mr, resp->hdrs[i].name,
                                      resp->hdrs[i].value);
    ret = MHD_queue_response(conn, (unsigned)resp->status, mr);
    MHD_destroy_response(mr);
    return ret;
}

/* Call the handler for the end of the request and send its answer. */
static enum MHD_Result
finish(vmctld_http_t *h, struct MHD_Connection *conn, request_t *r)
{
    vmctld_http_resp_t resp;

    r->req.phase = r->overflow ? VMCTLD_HTTP_OVERFLOW : VMCTLD_HTTP_BODY;
    if (!r->overflow) {
        r->req.body = r->buf != NULL ? r->buf : (const uint8_t *)"";
        r->req.body_len = r->len;
    }
    resp_init(&resp);
    h->fn(h->arg, &r->req, &resp);
    if (resp.status == 0) {
        resp_discard(&resp);
        resp.status = 500;
    }
    return queue(conn, &resp);
}

/*
 * Keep one piece of the body, or drop it when over the limit.
 * Return: MHD_YES, or MHD_NO to close the connection (out of memory, or
 * a body that goes on far beyond its limit).
 */
static enum MHD_Result
take_body(request_t *r, const char *data, size_t n)
{
    size_t cap;
    uint8_t *p;

    if (r->overflow || n > r->req.body_limit - r->len) {
        if (!r->overflow) {
            r->overflow = true;
            free(r->buf);
            r->buf = NULL;
            r->discarded = r->len;
            r->len = 0;
        }
        r->discarded += n;
        return r->discarded - r->req.body_limit > DISCARD_MAX ? MHD_NO
                                                              : MHD_YES;
    }
    if (r->len + n + 1 > r->cap) {
        cap = r->cap != 0 ? r->cap : 4096;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > r->req.body_limit + 1)
            cap = r->req.body_limit + 1;
        if ((p = realloc(r->buf, cap)) == NULL)
            return MHD_NO;
        r->buf = p;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, n);
    r->len += n;
    r->buf[r->len] = '\0';
    return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
    vmctld_http_t *h = cls;
    request_t *r = *con_cls;
    vmctld_http_resp_t resp;
    size_t n;

    (void)version;
    if (r == NULL) {
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return MHD_NO;
        *con_cls = r;
        r->req.phase = VMCTLD_HTTP_HEAD;
        r->req.method = method;
        r->req.path = url;
        r->req.conn_ = conn;
        r->req.content_length = content_length(conn);
        (void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND,
                                        collect_arg, r);
        resp_init(&resp);
        h->fn(h->arg, &r->req, &resp);
        if (resp.status != 0)
            return queue(conn, &resp);
        resp_discard(&resp);
        /* The body's size is known: take it in one allocation. */
        if (r->req.content_length > 0 &&
            (uint64_t)r->req.content_length <= r->req.body_limit) {
            r->cap = (size_t)r->req.content_length + 1;
            if ((r->buf = malloc(r->cap)) == NULL)
                return MHD_NO;
        }
        return MHD_YES;
    }
    if (*upload_size != 0) {
        n = *upload_size;
        *upload_size = 0;
        return take_body(r, upload, n);
    }
    return finish(h, conn, r);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    request_t *r = *con_cls;

    (void)cls;
    (void)conn;
    (void)toe;
    if (r == NULL)
        return;
    free(r->buf);
    free(r->req.user);
    free(r);
    *con_cls = NULL;
}

/* ---- public ------------------------------------------------------------ */

int
vmctld_http_start(const vmctld_http_opts_t *opts, vmctld_http_handler_fn fn,
                  void *arg, vmctld_http_t **out, char *err, size_t errlen)
{
    struct MHD_OptionItem ops[12];
    vmctld_http_t *h;
    unsigned flags, timeout;
    int fd = -1, family = AF_INET, rc;
    size_t k = 0;

    if ((h = calloc(1, sizeof(*h))) == NULL) {
        set_err(err, errlen, "http: out of memory");
        return -1;
    }
    h->fn = fn;
    h->arg = arg;
    flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_POLL) == MHD_YES)
        flags |= MHD_USE_POLL;
    if (opts->cert_file != NULL && opts->cert_file[0] != '\0') {
        if (opts->key_file == NULL || opts->key_file[0] == '\0') {
            set_err(err, errlen, "http.key_file: required with "
                    "http.cert_file");
            goto fail;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            set_err(err, errlen, "http.cert_file: this libmicrohttpd has "
                    "no TLS support");
            goto fail;
        }
        if ((rc = read_pem(opts->cert_file, &h->cert)) != 0) {
            set_err(err, errlen, "http.cert_file: %s: %s", opts->cert_file,
                    strerror(rc));
            goto fail;
        }
        if ((rc = read_pem(opts->key_file, &h->key)) != 0) {
            set_err(err, errlen, "http.key_file: %s: %s", opts->key_file,
                    strerror(rc));
            goto fail;
        }
        flags |= MHD_USE_TLS;
        h->tls = true;
        ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
                                            h->cert };
        ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
                                            h->key };
    } else if (opts->key_file != NULL && opts->key_file[0] != '\0') {
        set_err(err, errlen, "http.cert_file: required with http.key_file");
        goto fail;
    }
    if ((fd = bind_listen(opts->listen, &family, &h->port, err, errlen)) < 0)
        goto fail;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    timeout = opts->timeout_s != 0 ? opts->timeout_s : VMCTLD_HTTP_TIMEOUT_S;
    ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
    ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
                                        (intptr_t)opts->max_clients, NULL };
    ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
                                        (intptr_t)timeout, NULL };
    ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
                                        (intptr_t)on_completed, h };
    ops[k++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
    atomic_store(&h->starting, true);
    /* The logger goes first, so that MHD logs nothing before it. */
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h,
                            MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    atomic_store(&h->starting, false);
    if (h->d == NULL) {
        if (h->tls)
            set_err(err, errlen, "http.cert_file, http.key_file: not a "
                    "usable certificate and private key (%s)",
                    h->start_err[0] != '\0' ? h->start_err
                                            : "microhttpd refused them");
        else
            set_err(err, errlen, "http.listen: %s: %s", opts->listen,
                    h->start_err[0] != '\0' ? h->start_err
                                            : "microhttpd did not start");
        goto fail;
    }
    *out = h;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    free(h->cert);
    free(h->key);
    free(h);
    return -1;
}

void
vmctld_http_stop(vmctld_http_t *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->d); /* closes the listening socket too */
    free(h->cert);
    free(h->key);
    free(h);
}

int
vmctld_http_port(const vmctld_http_t *h)
{
    return h->port;
}

bool
vmctld_http_tls(const vmctld_http_t *h)
{
    return h->tls;
}

const char *
vmctld_http_req_header(const vmctld_http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_HEADER_KIND, name);
}
