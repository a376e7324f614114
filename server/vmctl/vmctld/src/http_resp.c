/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * http_resp: the parts of http.h that fill a response and need no
 * microhttpd, kept apart from http.c so that a harness standing in for
 * http.c (tests/fuzz/fuzz_api.c) links these same functions.
 */

#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http.h"

int
vmctld_http_resp_file(vmctld_http_resp_t *resp, const char *path)
{
    struct stat st;
    int fd, e;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno;
    if (fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
    }
    resp->fd = fd;
    resp->fd_size = (uint64_t)st.st_size;
    return 0;
}

void
vmctld_http_resp_header(vmctld_http_resp_t *resp, const char *name,
                        const char *fmt, ...)
{
    va_list ap;

    if (resp->nhdrs >= VMCTLD_HTTP_HDRS_MAX)
        return;
    resp->hdrs[resp->nhdrs].name = name;
    va_start(ap, fmt);
    vsnprintf(resp->hdrs[resp->nhdrs].value,
              sizeof(resp->hdrs[resp->nhdrs].value), fmt, ap);
    va_end(ap);
    resp->nhdrs++;
}
