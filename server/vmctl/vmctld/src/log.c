/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

#define _POSIX_C_SOURCE 200809L /* gmtime_r, write */

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_ 1024

static atomic_int log_level = VMCTLD_LOG_INFO;

static const char *const level_names[] = {
    [VMCTLD_LOG_ERROR] = "error",
    [VMCTLD_LOG_WARN] = "warn",
    [VMCTLD_LOG_INFO] = "info",
    [VMCTLD_LOG_DEBUG] = "debug",
};

void
vmctld_log_set_level(vmctld_log_level_t level)
{
    atomic_store(&log_level, (int)level);
}

int
vmctld_log_level_parse(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
        if (name != NULL && strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void
vmctld_log(vmctld_log_level_t level, const char *fmt, ...)
{
    char line[LINE_MAX_];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n;
    int w;

    if ((int)level > atomic_load(&log_level) || (int)level < 0 ||
        (int)level > VMCTLD_LOG_DEBUG)
        return;
    timespec_get(&ts, TIME_UTC);
    gmtime_r(&ts.tv_sec, &tm);
    w = snprintf(line, sizeof(line),
                 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                 level_names[level]);
    n = w > 0 ? (size_t)w : 0;
    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    va_start(ap, fmt);
    w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = w < 0 ? n : n + (size_t)w;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2; /* cut an over-long message, keep the \n */
    line[n++] = '\n';
    /* One write per line: lines from several threads never interleave. */
    if (write(STDERR_FILENO, line, n) < 0)
        return;
}
