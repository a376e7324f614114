/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_PROC_H
#define PL_PROC_H

/*
 * Child processes and signals.
 * Needed by: the vmrt daemon, which supervises the OTA process (vmrt-ota)
 * and must stop cleanly on TERM/INT, reload on HUP and reap on CHLD.
 * A microcontroller port returns PL_ENOSYS from the process calls and
 * makes pl_signal_install() a no-op.
 *
 * Included by pl/pl.h; include that instead.
 */

#include <stddef.h>
#include <stdint.h>

#include "pl_types.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Signal kinds, as bits so that sets can be passed and returned. */
enum {
    PL_SIG_TERM = 1u << 0,
    PL_SIG_INT = 1u << 1,
    PL_SIG_HUP = 1u << 2,
    PL_SIG_CHLD = 1u << 3,
    PL_SIG_KILL = 1u << 4 /**< pl_proc_kill() only: cannot be caught */
};

/**
 * Start argv[0] (a path; without a '/' it is searched in PATH) with
 * arguments argv (NULL-terminated) and environment envp (NULL: this
 * process's environment).  The child starts with default signal handling
 * and an empty signal mask, whatever the daemon installed.
 * @return 0 with *pid set, PL_ENOENT, PL_EACCES, PL_EAGAIN, ...
 */
int pl_proc_spawn(char *const argv[], char *const envp[], pl_pid_t *pid);

/**
 * Reap a child.
 * @param status exit code (0..255) if it exited, or 128 + the signal
 *        number if a signal killed it (the shell's convention).
 * @param nohang non-zero: do not wait; PL_EAGAIN if it is still running.
 * @return 0, PL_EAGAIN, PL_ECHILD (not our child or already reaped).
 */
int pl_proc_wait(pl_pid_t pid, int *status, int nohang);

/**
 * Send PL_SIG_TERM, PL_SIG_INT, PL_SIG_HUP or PL_SIG_KILL to a process.
 * @return 0, PL_ESRCH, PL_EPERM, PL_EINVAL.
 */
int pl_proc_kill(pl_pid_t pid, unsigned sig);

/**
 * Catch the signals in `sigs` (PL_SIG_TERM | INT | HUP | CHLD).  The
 * handler only records the signal and, if w is not NULL, signals the
 * wakeup, so a poll loop sees it; read the record with pl_signal_take().
 * One process-wide installation: a later call replaces `w` for all.
 * @param w borrowed; must stay valid until pl_signal_reset().
 */
int pl_signal_install(unsigned sigs, pl_wakeup_t *w);

/** @return the set of signals seen since the last call, and clear it. */
unsigned pl_signal_take(void);

/** Restore default handling of `sigs` and forget the wakeup. */
void pl_signal_reset(unsigned sigs);

/** Ignore SIGPIPE for the whole process (sockets report PL_EPIPE). */
int pl_signal_ignore_pipe(void);

#ifdef __cplusplus
}
#endif
#endif /* PL_PROC_H */
