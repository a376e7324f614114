/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* vmctl: tables, times, sizes and progress bars (out.h). */

#define _POSIX_C_SOURCE 200809L /* isatty, nanosleep, clock_gettime */

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "out.h"

#define CELL_MAX 1024
#define BAR_WIDTH 30

struct vmctl_table {
    const char *const *headers;
    size_t ncols;
    char **cells;       /* rows * ncols, NULL for an empty cell */
    size_t rows, cap;   /* cap in rows */
    size_t col;         /* the next cell of the current row */
};

static bool bar_drawn;        /* a bar is on the current line */
static char bar_line[256];    /* what it shows */

vmctl_table_t *
vmctl_table_new(const char *const *headers, size_t ncols)
{
    vmctl_table_t *t;

    if (ncols == 0 || (t = calloc(1, sizeof(*t))) == NULL)
        return NULL;
    t->headers = headers;
    t->ncols = ncols;
    return t;
}

int
vmctl_table_row(vmctl_table_t *t)
{
    if (t->rows == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));

        if (c == NULL)
            return -1;
        memset(c + t->cap * t->ncols, 0,
               (cap - t->cap) * t->ncols * sizeof(*c));
        t->cells = c;
        t->cap = cap;
    }
    t->rows++;
    t->col = 0;
    return 0;
}

int
vmctl_table_cell(vmctl_table_t *t, const char *fmt, ...)
{
    char buf[CELL_MAX], *p;
    va_list ap;

    if (t->rows == 0 || t->col >= t->ncols)
        return 0;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* A device's message must not move the cursor or ring the bell. */
    for (p = buf; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    if ((p = strdup(buf)) == NULL)
        return -1;
    t->cells[(t->rows - 1) * t->ncols + t->col++] = p;
    return 0;
}

/* The width of a cell in columns: UTF-8 continuation bytes take none. */
static size_t
width(const char *s)
{
    size_t w = 0;

    for (; *s != '\0'; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void
print_cell(FILE *f, const char *s, size_t w, bool last)
{
    size_t n = width(s);

    fputs(s, f);
    if (!last)
        for (; n < w + 2; n++)
            fputc(' ', f);
}

void
vmctl_table_print(const vmctl_table_t *t, FILE *f)
{
    size_t *w, r, c;

    if ((w = calloc(t->ncols, sizeof(*w))) == NULL)
        return;
    for (c = 0; c < t->ncols; c++)
        w[c] = width(t->headers[c]);
    for (r = 0; r < t->rows; r++)
        for (c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t n = s != NULL ? width(s) : 0;

            if (n > w[c])
                w[c] = n;
        }
    for (c = 0; c < t->ncols; c++)
        print_cell(f, t->headers[c], w[c], c + 1 == t->ncols);
    fputc('\n', f);
    for (r = 0; r < t->rows; r++) {
        for (c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];

            print_cell(f, s != NULL ? s : "", w[c], c + 1 == t->ncols);
        }
        fputc('\n', f);
    }
    free(w);
}

size_t
vmctl_table_rows(const vmctl_table_t *t)
{
    return t->rows;
}

void
vmctl_table_free(vmctl_table_t *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

int64_t
vmctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
vmctl_ago(int64_t ms, int64_t now_ms, char *buf, size_t len)
{
    int64_t d = now_ms - ms, s;
    bool future = d < 0;

    if (ms <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    s = (future ? -d : d) / 1000;
    if (future && (-d) % 1000 != 0)
        s++;    /* "in 1s" rather than "in 0s" for 0.5 s ahead */
    if (s < 1 && !future)
        snprintf(buf, len, "just now");
    else if (s < 60)
        snprintf(buf, len, future ? "in %" PRId64 "s" : "%" PRId64 "s ago",
                 s);
    else if (s < 3600)
        snprintf(buf, len, future ? "in %" PRId64 "m" : "%" PRId64 "m ago",
                 s / 60);
    else if (s < 86400)
        snprintf(buf, len, future ? "in %" PRId64 "h" : "%" PRId64 "h ago",
                 s / 3600);
    else
        snprintf(buf, len, future ? "in %" PRId64 "d" : "%" PRId64 "d ago",
                 s / 86400);
    return buf;
}

const char *
vmctl_when(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;

    if (ms <= 0 || localtime_r(&t, &tm) == NULL ||
        strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, len, "-");
    return buf;
}

const char *
vmctl_clean(const char *s, char *buf, size_t len)
{
    char *p;

    /* In place (s == buf) is fine. */
    if (s != buf)
        snprintf(buf, len, "%s", s != NULL ? s : "");
    for (p = buf; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return buf;
}

const char *
vmctl_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
    double v = (double)bytes;
    size_t u = 0;

    if (bytes < 1024) {
        snprintf(buf, len, "%" PRIu64 " B", bytes);
        return buf;
    }
    v /= 1024.0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}

bool
vmctl_stderr_tty(void)
{
    return isatty(STDERR_FILENO) == 1;
}

void
vmctl_progress(const char *label, double frac, const char *text)
{
    char bar[BAR_WIDTH + 1], line[sizeof(bar_line)];
    size_t i, fill;

    if (frac < 0.0 || frac != frac)
        frac = 0.0;
    if (frac > 1.0)
        frac = 1.0;
    fill = (size_t)(frac * BAR_WIDTH + 0.5);
    for (i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : ' ';
    bar[BAR_WIDTH] = '\0';
    snprintf(line, sizeof(line), "%s [%s] %s", label, bar, text);
    /* libcurl reports progress many times a second: draw changes only. */
    if (bar_drawn && strcmp(line, bar_line) == 0)
        return;
    snprintf(bar_line, sizeof(bar_line), "%s", line);
    /* \r back to the start, \033[K clears what a longer text left. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    bar_drawn = true;
}

void
vmctl_progress_end(void)
{
    if (bar_drawn) {
        fputc('\n', stderr);
        bar_drawn = false;
    }
}

void
vmctl_sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000),
                           (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}
