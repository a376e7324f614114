/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* POSIX port: child processes (posix_spawn) and daemon signals. */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pl/pl.h"
#include "pl_internal.h"

extern char **environ;

/* The handler must only touch lock-free atomics (async-signal-safe). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "signal flags need lock-free int");

static atomic_uint sig_pending;
static atomic_int sig_wfd = -1;

static const struct {
    unsigned kind;
    int signo;
} sig_table[] = {
    { PL_SIG_TERM, SIGTERM }, { PL_SIG_INT, SIGINT },   { PL_SIG_HUP, SIGHUP },
    { PL_SIG_CHLD, SIGCHLD }, { PL_SIG_KILL, SIGKILL },
};

static unsigned
kind_of(int signo)
{
    size_t i;
    for (i = 0; i < sizeof(sig_table) / sizeof(sig_table[0]); i++)
        if (sig_table[i].signo == signo)
            return sig_table[i].kind;
    return 0;
}

int
pl_proc_spawn(char *const argv[], char *const envp[], pl_pid_t *pid)
{
    posix_spawnattr_t attr;
    sigset_t all, none;
    pid_t child;
    int rc;

    if (argv == NULL || argv[0] == NULL || pid == NULL)
        return PL_EINVAL;
    if ((rc = posix_spawnattr_init(&attr)) != 0)
        return pl__errno(rc);
    /*
     * The daemon ignores SIGPIPE and may block signals in threads; a
     * child such as vmrt-ota must start from defaults, not our state.
     */
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    sigemptyset(&none);
    if ((rc = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
        (rc = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
        (rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF |
                                                  POSIX_SPAWN_SETSIGMASK)) != 0)
        goto fail;
    if (strchr(argv[0], '/') != NULL)
        rc = posix_spawn(&child, argv[0], NULL, &attr, argv,
                         envp != NULL ? envp : environ);
    else
        rc = posix_spawnp(&child, argv[0], NULL, &attr, argv,
                          envp != NULL ? envp : environ);
    if (rc == 0)
        *pid = (pl_pid_t)child;
fail:
    posix_spawnattr_destroy(&attr);
    return rc == 0 ? 0 : pl__errno(rc);
}

int
pl_proc_wait(pl_pid_t pid, int *status, int nohang)
{
    pid_t r;
    int st;

    if (pid <= 0)
        return PL_EINVAL;
    do
        r = waitpid((pid_t)pid, &st, nohang ? WNOHANG : 0);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return pl__errno(errno);
    if (r == 0)
        return PL_EAGAIN;
    if (status != NULL) {
        if (WIFEXITED(st))
            *status = WEXITSTATUS(st);
        else if (WIFSIGNALED(st))
            *status = 128 + WTERMSIG(st);
        else
            *status = 255;
    }
    return 0;
}

int
pl_proc_kill(pl_pid_t pid, unsigned sig)
{
    size_t i;

    /* pid <= 0 would signal a whole process group: never intended. */
    if (pid <= 0)
        return PL_EINVAL;
    for (i = 0; i < sizeof(sig_table) / sizeof(sig_table[0]); i++)
        if (sig_table[i].kind == sig)
            return kill((pid_t)pid, sig_table[i].signo) == 0 ? 0
                                                             : pl__errno(errno);
    return PL_EINVAL;
}

/*
 * on_signal: records the signal and pokes the wakeup.  Only
 * async-signal-safe operations: lock-free atomics and write(2); errno is
 * preserved for the interrupted code.
 */
static void
on_signal(int signo)
{
    int saved = errno;
    int fd = atomic_load(&sig_wfd);
    char c = 1;

    atomic_fetch_or(&sig_pending, kind_of(signo));
    if (fd >= 0)
        (void)!write(fd, &c, 1);
    errno = saved;
}

int
pl_signal_install(unsigned sigs, pl_wakeup_t *w)
{
    struct sigaction act;
    size_t i;

    if (sigs & ~(unsigned)(PL_SIG_TERM | PL_SIG_INT | PL_SIG_HUP | PL_SIG_CHLD))
        return PL_EINVAL;
    atomic_store(&sig_wfd, w != NULL ? w->wfd : -1);
    memset(&act, 0, sizeof(act));
    act.sa_handler = on_signal;
    sigemptyset(&act.sa_mask);
    /*
     * SA_RESTART keeps ordinary reads going; poll() still returns EINTR,
     * and the wakeup makes the loop notice even without that.
     */
    act.sa_flags = SA_RESTART;
    for (i = 0; i < sizeof(sig_table) / sizeof(sig_table[0]); i++) {
        if (!(sigs & sig_table[i].kind))
            continue;
        if (sig_table[i].signo == SIGCHLD)
            act.sa_flags |= SA_NOCLDSTOP;
        if (sigaction(sig_table[i].signo, &act, NULL) != 0)
            return pl__errno(errno);
        act.sa_flags = SA_RESTART;
    }
    return 0;
}

unsigned
pl_signal_take(void)
{
    return atomic_exchange(&sig_pending, 0u);
}

void
pl_signal_reset(unsigned sigs)
{
    size_t i;

    for (i = 0; i < sizeof(sig_table) / sizeof(sig_table[0]); i++)
        if ((sigs & sig_table[i].kind) && sig_table[i].signo != SIGKILL)
            (void)signal(sig_table[i].signo, SIG_DFL);
    atomic_store(&sig_wfd, -1);
}

int
pl_signal_ignore_pipe(void)
{
    struct sigaction act;

    memset(&act, 0, sizeof(act));
    act.sa_handler = SIG_IGN;
    sigemptyset(&act.sa_mask);
    return sigaction(SIGPIPE, &act, NULL) == 0 ? 0 : pl__errno(errno);
}
