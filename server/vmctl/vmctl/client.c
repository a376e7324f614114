/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctl: the HTTP client (client.h), the only file that includes
 * libcurl.  One easy handle, reset before each request so that options
 * never leak from one request into the next, while the connection stays
 * open for the next one.
 */

#define _POSIX_C_SOURCE 200809L /* strdup */

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define CONNECT_TIMEOUT_MAX 10L  /* seconds */
#define STREAM_MIN (64u * 1024)  /* bodies from here on are uploads */

struct vmctl_http {
    CURL *curl;
    struct curl_slist *auth;     /* "Authorization: Bearer ..." or NULL */
    char *base;                  /* the server URL without a final '/' */
    vmctl_http_opts_t o;
    char errbuf[CURL_ERROR_SIZE];
};

/* Where a reply body goes: memory (capped), or a file for a 2xx reply of
 * a download. */
typedef struct sink {
    CURL *curl;
    char *buf;
    size_t len, cap, max;
    bool toobig;
    FILE *file;                 /* downloads only */
    uint64_t written;
    bool file_err;
    int file_errno;
} sink_t;

const char *
vmctl_http_strerror(int err)
{
    switch (err) {
#define VMCTL_HTTP_ERR_CASE(name, val, text)                              \
    case name:                                                            \
        return text;
        VMCTL_HTTP_ERRORS(VMCTL_HTTP_ERR_CASE)
#undef VMCTL_HTTP_ERR_CASE
    default:
        return "unknown error";
    }
}

int
vmctl_http_create(const vmctl_http_opts_t *o, vmctl_http_t **out)
{
    static bool global_done;
    vmctl_http_t *h;
    size_t n;
    char *hdr = NULL;

    *out = NULL;
    if (o->server == NULL || (strncmp(o->server, "http://", 7) != 0 &&
                              strncmp(o->server, "https://", 8) != 0))
        return VMCTL_HTTP_EURL;
    /* vmctl has one thread: global init once, and for the process. */
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return VMCTL_HTTP_ENOMEM;
        global_done = true;
    }
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return VMCTL_HTTP_ENOMEM;
    h->o = *o;
    if ((h->base = strdup(o->server)) == NULL)
        goto fail;
    n = strlen(h->base);
    while (n > 0 && h->base[n - 1] == '/')
        h->base[--n] = '\0';
    if (o->token != NULL && o->token[0] != '\0') {
        n = strlen(o->token) + sizeof("Authorization: Bearer ");
        if ((hdr = malloc(n)) == NULL)
            goto fail;
        snprintf(hdr, n, "Authorization: Bearer %s", o->token);
        h->auth = curl_slist_append(NULL, hdr);
        memset(hdr, 0, n);
        free(hdr);
        if (h->auth == NULL)
            goto fail;
    }
    if ((h->curl = curl_easy_init()) == NULL)
        goto fail;
    *out = h;
    return 0;
fail:
    vmctl_http_destroy(h);
    return VMCTL_HTTP_ENOMEM;
}

void
vmctl_http_destroy(vmctl_http_t *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->auth);
    free(h->base);
    free(h);
}

void
vmctl_http_resp_clear(vmctl_http_resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->status = 0;
}

int
vmctl_http_escape(const char *s, char *out, size_t outlen)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                     c == '_' || c == '~';

        if (o + (plain ? 1 : 3) >= outlen)
            return -1;
        if (plain)
            out[o++] = (char)c;
        else {
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 15];
        }
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* libcurl's write callback: returning less than n aborts the transfer. */
static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nmemb;
    long status = 0;

    if (s->file != NULL) {
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            if (fwrite(p, 1, n, s->file) != n) {
                s->file_err = true;
                s->file_errno = errno;
                return 0;
            }
            s->written += n;
            return n;
        }
    }
    if (n > s->max - s->len) {
        s->toobig = true;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        char *b;

        while (cap < s->len + n + 1)
            cap *= 2;
        if ((b = realloc(s->buf, cap)) == NULL)
            return 0;
        s->buf = b;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow,
            curl_off_t ultotal, curl_off_t ulnow)
{
    vmctl_http_t *h = arg;

    if (ultotal > 0)
        h->o.progress(h->o.progress_arg, (uint64_t)ulnow,
                      (uint64_t)ultotal);
    else if (dlnow > 0)
        h->o.progress(h->o.progress_arg, (uint64_t)dlnow,
                      dltotal > 0 ? (uint64_t)dltotal : 0);
    return 0;
}

/*
 * map_error: a failed transfer's CURLcode as a VMCTL_HTTP_E* code, with
 * libcurl's details (or the code's text) in err.
 */
static int
map_error(vmctl_http_t *h, CURLcode cc, const sink_t *s, char *err,
          size_t errlen)
{
    long oserr = 0;
    int rc;

    snprintf(err, errlen, "%s",
             h->errbuf[0] != '\0' ? h->errbuf : curl_easy_strerror(cc));
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        curl_easy_getinfo(h->curl, CURLINFO_OS_ERRNO, &oserr);
        rc = oserr == ECONNREFUSED ? VMCTL_HTTP_EREFUSED
                                   : VMCTL_HTTP_ECONNECT;
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        rc = VMCTL_HTTP_ERESOLVE;
        break;
    case CURLE_OPERATION_TIMEDOUT:
        rc = VMCTL_HTTP_ETIMEDOUT;
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        rc = VMCTL_HTTP_ETLS;
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        rc = VMCTL_HTTP_EURL;
        break;
    case CURLE_OUT_OF_MEMORY:
        rc = VMCTL_HTTP_ENOMEM;
        break;
    case CURLE_WRITE_ERROR:
        rc = s->toobig     ? VMCTL_HTTP_ETOOBIG
             : s->file_err ? VMCTL_HTTP_EFILE
                           : VMCTL_HTTP_ENOMEM;
        if (rc == VMCTL_HTTP_ETOOBIG)
            snprintf(err, errlen, "reply larger than %zu bytes", s->max);
        else if (rc == VMCTL_HTTP_EFILE)
            snprintf(err, errlen, "%s", strerror(s->file_errno));
        break;
    default:
        rc = VMCTL_HTTP_EIO;
        break;
    }
    return rc;
}

/*
 * perform: set the options shared by every request on a freshly reset
 * handle, run it, and collect the status.  `stream` (uploads and
 * downloads) trades the overall timeout for a minimum speed, so that a
 * large transfer over a slow link may take as long as it needs.
 * Return: 0 or a VMCTL_HTTP_E* code.
 */
static int
perform(vmctl_http_t *h, const char *method, const char *path,
        const char *ctype, const void *body, size_t len, unsigned wait_s,
        bool stream, sink_t *s, long *status, char *err, size_t errlen)
{
    struct curl_slist *hdrs = NULL, *l;
    char ctbuf[160];
    size_t urllen = strlen(h->base) + strlen(path) + 1;
    char *url = NULL;
    long connect_s;
    CURLcode cc;
    int rc;

    *status = 0;
    if ((url = malloc(urllen)) == NULL)
        return VMCTL_HTTP_ENOMEM;
    snprintf(url, urllen, "%s%s", h->base, path);
    for (l = h->auth; l != NULL; l = l->next)
        if ((hdrs = curl_slist_append(hdrs, l->data)) == NULL)
            goto nomem;
    if ((hdrs = curl_slist_append(hdrs, "Accept: application/json")) ==
        NULL)
        goto nomem;
    if (ctype != NULL) {
        snprintf(ctbuf, sizeof(ctbuf), "Content-Type: %s", ctype);
        if ((hdrs = curl_slist_append(hdrs, ctbuf)) == NULL)
            goto nomem;
        /* A small body goes at once; a large one waits for the server's
         * "100 Continue", so that a refusal (size, auth) costs nothing. */
        if (len < STREAM_MIN &&
            (hdrs = curl_slist_append(hdrs, "Expect:")) == NULL)
            goto nomem;
    }

    curl_easy_reset(h->curl);
    h->errbuf[0] = '\0';
    s->curl = h->curl;
    curl_easy_setopt(h->curl, CURLOPT_URL, url);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS,
                     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "vmctl/" VMF_VERSION);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, s);
    connect_s = h->o.timeout_s < CONNECT_TIMEOUT_MAX ? (long)h->o.timeout_s
                                                     : CONNECT_TIMEOUT_MAX;
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT,
                     connect_s > 0 ? connect_s : 1L);
    if (stream) {
        curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h->curl, CURLOPT_LOW_SPEED_TIME,
                         (long)h->o.timeout_s + 1);
    } else
        curl_easy_setopt(h->curl, CURLOPT_TIMEOUT,
                         (long)h->o.timeout_s + (long)wait_s + 1);
    if (h->o.cacert != NULL && h->o.cacert[0] != '\0')
        curl_easy_setopt(h->curl, CURLOPT_CAINFO, h->o.cacert);
    if (h->o.insecure) {
        curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (stream && h->o.progress != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h->curl, CURLOPT_XFERINFODATA, h);
    }
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") == 0 || body != NULL) {
        curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body ? len : 0));
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);
    } else
        curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, method);

    cc = curl_easy_perform(h->curl);
    if (cc != CURLE_OK)
        rc = map_error(h, cc, s, err, errlen);
    else {
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, status);
        rc = 0;
    }
    /* The handle keeps pointers to these until the next reset. */
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    free(url);
    return rc;
nomem:
    curl_slist_free_all(hdrs);
    free(url);
    return VMCTL_HTTP_ENOMEM;
}

/*
 * sink_take: after perform() returned `rc`, hand the sink's reply to
 * `resp` (an empty reply as "").
 * Return: 0; or `rc` or VMCTL_HTTP_ENOMEM with the sink's buffer freed.
 */
static int
sink_take(sink_t *s, int rc, vmctl_http_resp_t *resp)
{
    if (rc != 0) {
        free(s->buf);
        return rc;
    }
    if (s->buf == NULL && (s->buf = calloc(1, 1)) == NULL)
        return VMCTL_HTTP_ENOMEM;
    resp->body = s->buf;
    resp->len = s->len;
    resp->written = s->written;
    return 0;
}

int
vmctl_http_request(vmctl_http_t *h, const char *method, const char *path,
                   const char *ctype, const void *body, size_t len,
                   unsigned wait_s, size_t max_reply,
                   vmctl_http_resp_t *resp, char *err, size_t errlen)
{
    sink_t s;
    int rc;

    memset(resp, 0, sizeof(*resp));
    memset(&s, 0, sizeof(s));
    s.max = max_reply;
    rc = perform(h, method, path, ctype, body, len, wait_s,
                 body != NULL && len >= STREAM_MIN, &s, &resp->status, err,
                 errlen);
    return sink_take(&s, rc, resp);
}

int
vmctl_http_download(vmctl_http_t *h, const char *path, const char *dest,
                    size_t max_reply, vmctl_http_resp_t *resp, char *err,
                    size_t errlen)
{
    size_t n = strlen(dest) + sizeof(".part");
    char *part;
    sink_t s;
    int rc;

    memset(resp, 0, sizeof(*resp));
    memset(&s, 0, sizeof(s));
    s.max = max_reply;
    if ((part = malloc(n)) == NULL)
        return VMCTL_HTTP_ENOMEM;
    snprintf(part, n, "%s.part", dest);
    if ((s.file = fopen(part, "wb")) == NULL) {
        snprintf(err, errlen, "%s: %s", part, strerror(errno));
        free(part);
        return VMCTL_HTTP_EFILE;
    }
    rc = perform(h, "GET", path, NULL, NULL, 0, 0, true, &s, &resp->status,
                 err, errlen);
    if (fclose(s.file) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: %s", part, strerror(errno));
        rc = VMCTL_HTTP_EFILE;
    }
    if (rc == 0 && resp->status >= 200 && resp->status < 300 &&
        rename(part, dest) != 0) {
        snprintf(err, errlen, "%s: %s", dest, strerror(errno));
        rc = VMCTL_HTTP_EFILE;
    }
    if (rc != 0 || resp->status < 200 || resp->status >= 300)
        remove(part);
    free(part);
    return sink_take(&s, rc, resp);
}

