/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* Small helpers shared by the OTA VM's files (ota_util.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_util.h"

bool ota__verbose;

bool
ota__strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = strlen(src);

    if (cap == 0)
        return false;
    if (n >= cap) {
        memcpy(dst, src, cap - 1);
        dst[cap - 1] = '\0';
        return false;
    }
    memcpy(dst, src, n + 1);
    return true;
}

void
ota__put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

uint32_t
ota__get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

void
ota__put_le64(uint8_t *p, uint64_t v)
{
    ota__put_le32(p, (uint32_t)v);
    ota__put_le32(p + 4, (uint32_t)(v >> 32));
}

uint64_t
ota__get_le64(const uint8_t *p)
{
    return (uint64_t)ota__get_le32(p) | (uint64_t)ota__get_le32(p + 4) << 32;
}

uint64_t
ota__now_ms(void)
{
    return pl_time_mono_ns() / 1000000u;
}

uint64_t
ota__real_ms(void)
{
    return pl_time_real_ns() / 1000000u;
}

int
ota__file_read(pl_file_t *f, size_t max, uint8_t **out, size_t *len)
{
    pl_stat_t st;
    uint8_t *buf;
    size_t off = 0, n;
    int rc;

    if ((rc = pl_file_stat(f, &st)) != 0)
        return rc;
    if (st.size > SIZE_MAX - 1 || (max != 0 && st.size > max))
        return PL_EFBIG;
    if ((buf = malloc((size_t)st.size + 1)) == NULL)
        return PL_ENOMEM;
    while (off < st.size) {
        if ((rc = pl_file_pread(f, buf + off, (size_t)st.size - off, off,
                                &n)) != 0) {
            free(buf);
            return rc;
        }
        if (n == 0)
            break; /* shrank meanwhile */
        off += n;
    }
    *out = buf;
    *len = off;
    return 0;
}

int
ota__file_pwrite(pl_file_t *f, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    size_t n;
    int rc;

    while (len > 0) {
        if ((rc = pl_file_pwrite(f, p, len, off, &n)) != 0)
            return rc;
        if (n == 0)
            return PL_EIO;
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

int
ota__write_atomic(const pl_root_t *root, const char *name, const void *buf,
                  size_t len)
{
    pl_file_t f = PL_FILE_INIT;
    char tmp[160];
    int rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", name) >= sizeof(tmp))
        return PL_ENAMETOOLONG;
    rc = pl_fs_open(root, tmp, PL_O_WRITE | PL_O_CREATE | PL_O_TRUNC, &f);
    if (rc == 0)
        rc = ota__file_pwrite(&f, buf, len, 0);
    if (rc == 0)
        rc = pl_file_sync(&f);
    if (pl_file_close(&f) != 0 && rc == 0)
        rc = PL_EIO;
    if (rc == 0)
        rc = pl_fs_rename(root, tmp, name);
    if (rc != 0) {
        pl_fs_unlink(root, tmp);
        return rc;
    }
    ota__dir_sync(root, name);
    return 0;
}

int
ota__read_file(const pl_root_t *root, const char *name, size_t max,
               uint8_t **out, size_t *len)
{
    pl_file_t f = PL_FILE_INIT;
    int rc;

    if ((rc = pl_fs_open(root, name, PL_O_READ, &f)) != 0)
        return rc;
    rc = ota__file_read(&f, max, out, len);
    pl_file_close(&f);
    return rc;
}

void
ota__dir_sync(const pl_root_t *root, const char *name)
{
    pl_file_t d = PL_FILE_INIT;
    const char *slash = strrchr(name, '/');
    char dir[160] = ".";

    if (slash != NULL && (size_t)(slash - name) < sizeof(dir)) {
        memcpy(dir, name, (size_t)(slash - name));
        dir[slash - name] = '\0';
    }
    if (pl_fs_open(root, dir, PL_O_READ | PL_O_DIRECTORY, &d) == 0) {
        pl_file_sync(&d);
        pl_file_close(&d);
    }
}

static void vlog(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static void
vlog(const char *fmt, va_list ap)
{
    char line[1024];
    int n;

    memcpy(line, "ota: ", 5);
    n = vsnprintf(line + 5, sizeof(line) - 6, fmt, ap);
    if (n < 0)
        return;
    n = 5 + (n < (int)sizeof(line) - 6 ? n : (int)sizeof(line) - 7);
    line[n++] = '\n';
    /* One write per line, so lines of different threads never mix. */
    pl_stdio_write(2, line, (size_t)n);
}

void
ota__log(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void
ota__debug(const char *fmt, ...)
{
    va_list ap;

    if (!ota__verbose)
        return;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}
