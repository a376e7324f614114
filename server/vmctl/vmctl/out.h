/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMCTL_OUT_H
#define VMCTL_OUT_H

/*
 * vmctl's output for humans (out.c): aligned tables, relative times,
 * sizes and progress bars.  Single-threaded.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct vmctl_table vmctl_table_t;

/**
 * A table with `ncols` columns named by `headers` (borrowed; they must
 * outlive the table).
 * @return the table (free with vmctl_table_free()), or NULL.
 */
vmctl_table_t *vmctl_table_new(const char *const *headers, size_t ncols);

/** Start a new row.  @return 0 or -1 (out of memory). */
int vmctl_table_row(vmctl_table_t *t);

/** Append a cell to the current row, printf-style.  A cell beyond the
 *  last column is dropped.  Control characters are shown as '?'.
 *  @return 0 or -1 (out of memory). */
int vmctl_table_cell(vmctl_table_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Print the header and rows, columns padded to their widest cell with
 *  two spaces between them (the last column is not padded). */
void vmctl_table_print(const vmctl_table_t *t, FILE *f);

/** @return the number of rows. */
size_t vmctl_table_rows(const vmctl_table_t *t);

/** NULL is a no-op. */
void vmctl_table_free(vmctl_table_t *t);

/** @return the wall clock in milliseconds since the Unix epoch. */
int64_t vmctl_now_ms(void);

/**
 * `ms` relative to `now_ms`: "3s ago", "5m ago", "2h ago", "4d ago", or
 * "in 5m" for the future; "-" for 0 (never).
 * @return buf.
 */
const char *vmctl_ago(int64_t ms, int64_t now_ms, char *buf, size_t len);

/** `ms` as local time, "2026-01-02 10:00:00"; "-" for 0. @return buf. */
const char *vmctl_when(int64_t ms, char *buf, size_t len);

/** `s` with control characters shown as '?' (text from the network
 *  must not drive the terminal), cut to fit; s may be buf itself.
 *  @return buf. */
const char *vmctl_clean(const char *s, char *buf, size_t len);

/** "512 B", "1.5 KiB", "20.0 MiB". @return buf. */
const char *vmctl_size(uint64_t bytes, char *buf, size_t len);

/** @return whether stderr is a terminal (progress bars go there). */
bool vmctl_stderr_tty(void);

/**
 * Draw (redraw) a progress bar on stderr: "LABEL [#####     ] TEXT".
 * Call vmctl_progress_end() before printing anything else.
 * @param frac 0..1.
 */
void vmctl_progress(const char *label, double frac, const char *text);

/** End the current progress bar's line, if one is drawn. */
void vmctl_progress_end(void);

/** Sleep `ms` milliseconds (restarted on signals). */
void vmctl_sleep_ms(unsigned ms);

#endif /* VMCTL_OUT_H */
