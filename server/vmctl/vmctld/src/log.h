/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * log: vmctld's log, one line per event on stderr:
 *   2026-11-21T22:59:34.123Z info  rollout r3: batch 2 started (5 devices)
 * Thread-safe (one write(2) per line).  Messages say what happened and to
 * what: ids of devices, commands, rollouts, and who asked (token name).
 */
#ifndef VMCTLD_LOG_H
#define VMCTLD_LOG_H

typedef enum vmctld_log_level {
    VMCTLD_LOG_ERROR = 0,
    VMCTLD_LOG_WARN,
    VMCTLD_LOG_INFO,
    VMCTLD_LOG_DEBUG,
} vmctld_log_level_t;

/** Set the threshold; lines above it are dropped.  Default INFO. */
void vmctld_log_set_level(vmctld_log_level_t level);
/** "error", "warn", "info", "debug" -> level; @return -1 if unknown. */
int vmctld_log_level_parse(const char *name);

void vmctld_log(vmctld_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define LOG_ERR(...) vmctld_log(VMCTLD_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) vmctld_log(VMCTLD_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) vmctld_log(VMCTLD_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) vmctld_log(VMCTLD_LOG_DEBUG, __VA_ARGS__)

#endif /* VMCTLD_LOG_H */
