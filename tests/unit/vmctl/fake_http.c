/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* A canned-reply HTTP server for vmctl's tests (fake_http.h). */

#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fake_http.h"

#define HEAD_MAX (64 * 1024)
#define MAX_REQS 256
#define IO_TIMEOUT_MS 10000

struct fake_http {
    const fake_route_t *routes;
    int *hits;
    size_t nroutes;
    int lfd;
    int port;
    int stop[2];            /* a pipe: written to stop the thread */
    pthread_t thread;
    pthread_mutex_t lock;
    fake_req_t *reqs;       /* MAX_REQS */
    size_t nreqs;
};

static bool
wait_fd(int fd, short ev)
{
    struct pollfd p = { fd, ev, 0 };

    return poll(&p, 1, IO_TIMEOUT_MS) == 1;
}

static int
write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The value of header `name` in the head, copied into out. */
static void
header(const char *head, const char *name, char *out, size_t len)
{
    size_t n = strlen(name);
    const char *p = strstr(head, "\r\n");

    out[0] = '\0';
    while (p != NULL && p[2] != '\0') {
        const char *line = p + 2, *end = strstr(line, "\r\n");

        if (end == NULL)
            break;
        if ((size_t)(end - line) > n + 1 &&
            strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;

            while (*v == ' ')
                v++;
            snprintf(out, len, "%.*s", (int)(end - v), v);
            return;
        }
        p = end;
    }
}

static const fake_route_t *
match(fake_http_t *f, const char *method, const char *target)
{
    size_t i;

    for (i = 0; i < f->nroutes; i++) {
        const fake_route_t *r = &f->routes[i];
        size_t n = strlen(r->target);
        bool ok;

        if (strcmp(r->method, method) != 0)
            continue;
        if (n > 0 && r->target[n - 1] == '*')
            ok = strncmp(r->target, target, n - 1) == 0;
        else
            ok = strcmp(r->target, target) == 0;
        if (!ok || (r->times > 0 && f->hits[i] >= r->times))
            continue;
        f->hits[i]++;
        return r;
    }
    return NULL;
}

static void
serve(fake_http_t *f, int fd)
{
    char *head = malloc(HEAD_MAX + 1), *end = NULL, cl[32], expect[64];
    char reply[512];
    fake_req_t *req = calloc(1, sizeof(*req));
    size_t got = 0, rest = 0, want;
    const fake_route_t *r;
    const char *body;
    int status;

    if (head == NULL || req == NULL)
        goto out;
    while (end == NULL && got < HEAD_MAX) {
        ssize_t n;

        if (!wait_fd(fd, POLLIN))
            goto out;
        n = recv(fd, head + got, HEAD_MAX - got, 0);
        if (n <= 0)
            goto out;
        got += (size_t)n;
        head[got] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    if (end == NULL)
        goto out;
    rest = got - (size_t)(end + 4 - head);
    end[2] = '\0';
    if (sscanf(head, "%15s %1023s", req->method, req->target) != 2)
        goto out;
    header(head, "Authorization", req->auth, sizeof(req->auth));
    header(head, "Content-Type", req->ctype, sizeof(req->ctype));
    header(head, "Content-Length", cl, sizeof(cl));
    header(head, "Expect", expect, sizeof(expect));
    want = (size_t)strtoull(cl, NULL, 10);
    if (strcasecmp(expect, "100-continue") == 0 &&
        write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25) != 0)
        goto out;
    /* The body: what came with the head, then the rest. */
    req->body_len = 0;
    {
        const char *b = end + 4;
        size_t take = rest < want ? rest : want;

        if (take > FAKE_BODY_MAX - 1)
            memcpy(req->body, b, FAKE_BODY_MAX - 1);
        else
            memcpy(req->body, b, take);
        req->body_len = take;
    }
    while (req->body_len < want) {
        char buf[16384];
        ssize_t n;

        if (!wait_fd(fd, POLLIN))
            goto out;
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0)
            goto out;
        if (req->body_len < FAKE_BODY_MAX - 1) {
            size_t room = FAKE_BODY_MAX - 1 - req->body_len;

            memcpy(req->body + req->body_len, buf,
                   (size_t)n < room ? (size_t)n : room);
        }
        req->body_len += (size_t)n;
    }
    req->body[req->body_len < FAKE_BODY_MAX ? req->body_len
                                            : FAKE_BODY_MAX - 1] = '\0';

    pthread_mutex_lock(&f->lock);
    r = match(f, req->method, req->target);
    if (f->nreqs < MAX_REQS)
        f->reqs[f->nreqs++] = *req;
    pthread_mutex_unlock(&f->lock);
    status = r != NULL ? r->status : 404;
    body = r != NULL ? r->body
                     : "{\"error\":{\"code\":\"E_NOT_FOUND\",\"message\":"
                       "\"fake: no such route\"}}";
    snprintf(reply, sizeof(reply),
             "HTTP/1.1 %d Fake\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             status, body != NULL ? strlen(body) : 0);
    if (write_all(fd, reply, strlen(reply)) == 0 && body != NULL)
        write_all(fd, body, strlen(body));
out:
    free(req);
    free(head);
    close(fd);
}

static void *
run(void *arg)
{
    fake_http_t *f = arg;

    for (;;) {
        struct pollfd p[2] = { { f->lfd, POLLIN, 0 },
                               { f->stop[0], POLLIN, 0 } };
        int fd;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents != 0)
            break;
        if ((fd = accept(f->lfd, NULL, NULL)) < 0)
            continue;
        serve(f, fd);
    }
    return NULL;
}

static int
listen_any(int *port)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

fake_http_t *
fake_http_start(const fake_route_t *routes, size_t n)
{
    fake_http_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return NULL;
    f->routes = routes;
    f->nroutes = n;
    f->hits = calloc(n + 1, sizeof(*f->hits));
    f->reqs = calloc(MAX_REQS, sizeof(*f->reqs));
    f->stop[0] = f->stop[1] = -1;
    if (f->hits == NULL || f->reqs == NULL)
        goto fail;
    if ((f->lfd = listen_any(&f->port)) < 0)
        goto fail;
    if (pipe(f->stop) != 0)
        goto fail_fd;
    pthread_mutex_init(&f->lock, NULL);
    if (pthread_create(&f->thread, NULL, run, f) != 0)
        goto fail_pipe;
    return f;
fail_pipe:
    pthread_mutex_destroy(&f->lock);
    close(f->stop[0]);
    close(f->stop[1]);
fail_fd:
    close(f->lfd);
fail:
    free(f->reqs);
    free(f->hits);
    free(f);
    return NULL;
}

int
fake_http_port(const fake_http_t *f)
{
    return f->port;
}

size_t
fake_http_nreqs(fake_http_t *f)
{
    size_t n;

    pthread_mutex_lock(&f->lock);
    n = f->nreqs;
    pthread_mutex_unlock(&f->lock);
    return n;
}

int
fake_http_req(fake_http_t *f, size_t i, fake_req_t *out)
{
    int rc = -1;

    pthread_mutex_lock(&f->lock);
    if (i < f->nreqs) {
        *out = f->reqs[i];
        rc = 0;
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

void
fake_http_stop(fake_http_t *f)
{
    if (f == NULL)
        return;
    if (write(f->stop[1], "x", 1) != 1)
        perror("fake_http_stop");
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->lock);
    close(f->stop[0]);
    close(f->stop[1]);
    close(f->lfd);
    free(f->reqs);
    free(f->hits);
    free(f);
}

int
fake_http_closed_port(void)
{
    int port = 0, fd = listen_any(&port);

    if (fd < 0)
        return -1;
    close(fd);
    return port;
}
