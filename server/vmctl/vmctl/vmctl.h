/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMCTL_H
#define VMCTL_H

/*
 * vmctl's private helpers (file.c): the only place the CLI calls the
 * operating system for files.  Each fills `err` with "PATH: reason".
 * The other modules have their own headers: conf.h (options, config
 * file), client.h (HTTP), json.h, out.h (tables), remote.h (commands).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Whether `path` exists (as anything, a dangling symlink included). */
bool vmctl_file_exists(const char *path);

/**
 * Read a whole file of at most `max` bytes.
 * @param out receives a malloc()ed buffer (the caller frees it).
 * @return 0 or -1.
 */
int vmctl_file_read(const char *path, size_t max, uint8_t **out,
                    size_t *len, char *err, size_t errlen);

/**
 * Write a file with `mode`: to a temporary file next to it with that mode
 * from the start (so a private key is never readable by others), fsynced,
 * then renamed over `path` if `replace`, else linked to it (failing with
 * "File exists" if it does).
 * @return 0 or -1.
 */
int vmctl_file_write(const char *path, const void *buf, size_t len,
                     unsigned mode, bool replace, char *err, size_t errlen);

/** Replace `path` as vmctl_file_write() does, and fsync the directory
 *  too: the new file survives a crash once this returns.
 *  @return 0 or -1. */
int vmctl_file_write_atomic(const char *path, const void *buf, size_t len,
                            unsigned mode, char *err, size_t errlen);

/**
 * Run vmctl: the global options, then the command named by argv[1]
 * (main.c calls it; tests may too).  argv is rearranged in place.
 * @return the exit status: 0 ok, 1 failed, 2 usage, 3 partial.
 */
int vmctl_main(int argc, char **argv);

#endif /* VMCTL_H */
