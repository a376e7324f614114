/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmrt daemon: the runtime as a service.  Loads the device config (or
 * works from --state-dir alone), creates the runtime, serves the control
 * socket, creates and starts the boot VMs that do not exist yet, and
 * waits for signals: SIGTERM/SIGINT shut down cleanly (the runtime stops
 * the VMs in priority order), SIGHUP re-reads the config into a fresh
 * struct and applies it only if it is valid.  Everything it does is logged
 * to stderr.
 *
 * With an "ota" section in the config it also runs the OTA process
 * (vmrt-ota) as a child and keeps it running: SIGCHLD wakes the poll
 * loop, the child is reaped without blocking, and restarted after a
 * backoff (500 ms doubling to 30 s, back to 500 ms once a run lasted
 * 60 s).  On TERM/INT the child gets TERM, then KILL after 5 s, before
 * the runtime stops; on HUP a changed "ota" section restarts it.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pl/pl.h"
#include "vmrt/ctl.h"
#include "vmrt/runtime.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define DAEMON_MAX_MODULE (256u * 1024 * 1024)

#define OTA_BACKOFF_MIN_MS 500u
#define OTA_BACKOFF_MAX_MS 30000u
#define OTA_STABLE_MS 60000u    /* a run this long resets the backoff */
#define OTA_STOP_GRACE_MS 5000u /* TERM, then KILL */
#define OTA_ARGV_MAX                                                      \
    (32 + 2 * VMRT_OTA_MAX_KEYS + 2 * VMRT_OTA_MAX_LABELS +              \
     VMRT_OTA_MAX_ARGS)

/*
 * The supervised OTA process: its command line (argv points into this
 * struct, so it is never copied) and where it is in its lifecycle.
 */
typedef struct {
    vmrt_ota_config_t conf;      /* conf.enabled: supervise at all */
    char exec[VMRT_PATH_MAX];    /* argv[0], resolved */
    char socket[VMRT_PATH_MAX];
    char state_dir[VMRT_PATH_MAX]; /* <state_dir>/ota */
    char num[3][24];             /* --health-ms, --window, --max-package */
    char labels[VMRT_OTA_MAX_LABELS][VMRT_NAME_MAX + 64];
    char *argv[OTA_ARGV_MAX];
    pl_pid_t pid;                /* 0: not running */
    uint64_t started_ms;         /* monotonic, of the current run */
    uint64_t restart_at_ms;      /* monotonic; 0: no restart pending */
    uint32_t backoff_ms;         /* the next restart's delay */
} ota_sup_t;

typedef struct {
    const char *config;
    const char *state_dir;
    const char *socket;
    const char *workers;
    bool check_only;
} daemon_opts_t;

static void dlog(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
dlog(const char *fmt, ...)
{
    va_list ap;

    fputs("vmrt daemon: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void
daemon_usage(FILE *f)
{
    fprintf(f,
            "usage: vmrt daemon [--config FILE] [--state-dir DIR] "
            "[--workers N] [--socket PATH] [-n]\n\n"
            "  --config FILE    device config (JSON: runtime settings and "
            "boot VMs)\n"
            "  --state-dir DIR  VM files and persisted state (default %s,\n"
            "                   or the config's state_dir)\n"
            "  --workers N      worker threads (0 = number of cores)\n"
            "  --socket PATH    control socket (default DIR/vmrt.sock)\n"
            "  -n               check the config and exit\n\n"
            "Signals: TERM/INT stop the VMs and exit; HUP re-reads the "
            "config.\n\n"
            "ota: with an \"ota\" section in the config (docs/runtime.md) "
            "the daemon\n"
            "runs the OTA process once the boot VMs are up:\n"
            "  EXEC --device ID --broker URI --trusted-key F... "
            "--socket SOCK\n"
            "       --state-dir DIR/ota [--allow-create] --health-ms N "
            "--window N\n"
            "       --max-package N [--label K=V...] [--ca F [--cert F "
            "--key F]]\n"
            "       --supervised [ARGS...]\n"
            "and restarts it when it exits (backoff 500 ms doubling to "
            "30 s; reset\n"
            "after a 60 s run).  TERM/INT stop it first (TERM, KILL after "
            "5 s); HUP\n"
            "restarts it if the section changed.  A bare EXEC name is "
            "looked up next\n"
            "to the vmrt binary, then in PATH.\n\n"
            "Exit status: 0 stopped cleanly (or -n: config ok), 1 failure, "
            "2 usage or\n"
            "invalid config.\n",
            CLI_DEFAULT_STATE_DIR);
}

static int
copy_opt(char *dst, size_t cap, const char *src, const char *what)
{
    if (strlen(src) >= cap) {
        dlog("%s: too long (at most %zu characters)", what, cap - 1);
        return EXIT_USAGE;
    }
    strcpy(dst, src);
    return 0;
}

/* Runtime events, logged as they happen (crashes, restarts, states). */
static void
log_event(void *arg, const vmrt_event_t *ev)
{
    static const char *const kinds[] = { "state",    "crash",
                                         "restart",  "watchdog",
                                         "rollback", "power",
                                         "swap" };
    const size_t nkinds = sizeof(kinds) / sizeof(kinds[0]);

    (void)arg;
    dlog("event %s: vm %s %s%s%s",
         (size_t)ev->kind < nkinds ? kinds[ev->kind] : "?", ev->vm,
         vmrt_vm_state_str(ev->state), ev->detail[0] ? ": " : "",
         ev->detail);
}

/*
 * load_config: the config file (if any) plus the command-line overrides
 * into cfg/vms.  Return: 0, or an exit status (already logged).
 */
static int
load_config(const daemon_opts_t *o, vmrt_rt_config_t *cfg,
            vmrt_manifest_t **vms, uint32_t *nvms)
{
    char err[512] = "";
    uint32_t w;
    char *end;
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    *vms = NULL;
    *nvms = 0;
    if (o->config != NULL) {
        rc = vmrt_config_load(o->config, cfg, vms, nvms, err, sizeof(err));
        if (rc != 0) {
            /* err names the file, the line and the key. */
            dlog("%s", err[0] ? err : vmrt_strerror(rc));
            return rc == VMRT_EINVAL ? EXIT_USAGE : EXIT_FAIL;
        }
    }
    if (o->state_dir != NULL &&
        copy_opt(cfg->state_dir, sizeof(cfg->state_dir), o->state_dir,
                 "--state-dir") != 0)
        goto usage;
    if (cfg->state_dir[0] == '\0')
        strcpy(cfg->state_dir, CLI_DEFAULT_STATE_DIR);
    if (o->socket != NULL &&
        copy_opt(cfg->socket, sizeof(cfg->socket), o->socket, "--socket") !=
            0)
        goto usage;
    if (o->workers != NULL) {
        unsigned long v = strtoul(o->workers, &end, 10);

        if (end == o->workers || *end != '\0' || v > 1024) {
            dlog("--workers: must be 0..1024");
            goto usage;
        }
        w = (uint32_t)v;
        cfg->workers = w;
    }
    return 0;
usage:
    vmrt_config_free_vms(*vms);
    *vms = NULL;
    return EXIT_USAGE;
}

/* Create and start the boot VMs that do not exist yet. */
static void
boot_vms(vmrt_rt_t *rt, const vmrt_manifest_t *vms, uint32_t nvms)
{
    char err[256];
    vmrt_vm_info_t info;
    uint8_t *mod;
    size_t len;
    uint32_t i;
    int rc;

    for (i = 0; i < nvms; i++) {
        const vmrt_manifest_t *m = &vms[i];

        if (vmrt_vm_info(rt, m->name, &info) == 0) {
            dlog("vm %s: exists (%s), kept", m->name,
                 vmrt_vm_state_str(info.state));
            continue;
        }
        /* vmrt_config_load made the path relative to the config file. */
        rc = pl_file_read_all(m->module, DAEMON_MAX_MODULE, &mod, &len);
        if (rc != 0) {
            dlog("vm %s: %s: %s", m->name, m->module, pl_strerror(rc));
            continue;
        }
        err[0] = '\0';
        rc = vmrt_vm_create(rt, m, mod, len, err, sizeof(err));
        pl_free_file(mod);
        if (rc != 0) {
            dlog("vm %s: create: %s", m->name,
                 err[0] ? err : vmrt_strerror(rc));
            continue;
        }
        err[0] = '\0';
        if ((rc = vmrt_vm_start(rt, m->name, err, sizeof(err))) != 0)
            dlog("vm %s: start: %s", m->name,
                 err[0] ? err : vmrt_strerror(rc));
        else
            dlog("vm %s: created and started (priority %u)", m->name,
                 (unsigned)m->priority);
    }
}

/* ---- the OTA process ---------------------------------------------------- */

static uint64_t
now_ms(void)
{
    return pl_time_mono_ns() / 1000000u;
}

/*
 * resolve_exec: argv[0] for ota.exec.  A path (with a '/', already made
 * relative to the config file) is used as is; a bare name is taken from
 * the directory of the vmrt binary if it is there, else left for
 * pl_proc_spawn() to find in PATH.
 */
static void
resolve_exec(const char *exec, char *out, size_t cap)
{
    const char *slash = strrchr(cli_argv0, '/');
    char dir[VMRT_PATH_MAX];
    pl_root_t root;
    pl_stat_t st;
    int n, found = 0;

    snprintf(out, cap, "%s", exec);
    if (strchr(exec, '/') != NULL || slash == NULL)
        return;
    n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash - cli_argv0) + 1,
                 cli_argv0);
    if (n < 0 || (size_t)n >= sizeof(dir))
        return;
    if (pl_dir_open_root(&root, dir, 0) == 0) {
        found = pl_fs_stat(&root, exec, 0, &st) == 0 &&
                st.type == PL_FT_REG;
        pl_dir_close_root(&root);
    }
    if (found && strlen(dir) + strlen(exec) < cap) {
        memcpy(out, dir, strlen(dir));
        memcpy(out + strlen(dir), exec, strlen(exec) + 1);
    }
}

/*
 * ota_build: the command line for config `c` into s (its lifecycle
 * fields are not touched).  `sock` is the control socket the child is to
 * use, `state_dir` the daemon's (the child gets state_dir/ota).
 * Return: 0, or -1 if a path gets too long (logged).
 */
static int
ota_build(ota_sup_t *s, const vmrt_ota_config_t *c, const char *sock,
          const char *state_dir)
{
    size_t n = 0;
    uint32_t i;

    s->conf = *c;
    resolve_exec(c->exec, s->exec, sizeof(s->exec));
    if (copy_opt(s->socket, sizeof(s->socket), sock, "ota: socket") != 0 ||
        strlen(state_dir) + sizeof("/ota") > sizeof(s->state_dir)) {
        dlog("ota: state dir %s: too long", state_dir);
        return -1;
    }
    snprintf(s->state_dir, sizeof(s->state_dir), "%s/ota", state_dir);
    snprintf(s->num[0], sizeof(s->num[0]), "%" PRIu32, c->health_window_ms);
    snprintf(s->num[1], sizeof(s->num[1]), "%" PRIu32, c->window);
    snprintf(s->num[2], sizeof(s->num[2]), "%" PRIu64, c->max_package);
    s->argv[n++] = s->exec;
    s->argv[n++] = "--device";
    s->argv[n++] = s->conf.device_id;
    s->argv[n++] = "--broker";
    s->argv[n++] = s->conf.broker;
    for (i = 0; i < c->ntrusted_keys && i < VMRT_OTA_MAX_KEYS; i++) {
        s->argv[n++] = "--trusted-key";
        s->argv[n++] = s->conf.trusted_keys[i];
    }
    s->argv[n++] = "--socket";
    s->argv[n++] = s->socket;
    s->argv[n++] = "--state-dir";
    s->argv[n++] = s->state_dir;
    if (c->allow_create)
        s->argv[n++] = "--allow-create";
    s->argv[n++] = "--health-ms";
    s->argv[n++] = s->num[0];
    s->argv[n++] = "--window";
    s->argv[n++] = s->num[1];
    s->argv[n++] = "--max-package";
    s->argv[n++] = s->num[2];
    for (i = 0; i < c->nlabels && i < VMRT_OTA_MAX_LABELS; i++) {
        snprintf(s->labels[i], sizeof(s->labels[i]), "%s=%s",
                 c->labels[i].key, c->labels[i].value);
        s->argv[n++] = "--label";
        s->argv[n++] = s->labels[i];
    }
    if (c->tls_ca[0] != '\0') {
        s->argv[n++] = "--ca";
        s->argv[n++] = s->conf.tls_ca;
    }
    if (c->tls_cert[0] != '\0') {
        s->argv[n++] = "--cert";
        s->argv[n++] = s->conf.tls_cert;
        s->argv[n++] = "--key";
        s->argv[n++] = s->conf.tls_key;
    }
    s->argv[n++] = "--supervised";
    for (i = 0; i < c->nargs && i < VMRT_OTA_MAX_ARGS; i++)
        s->argv[n++] = s->conf.args[i];
    s->argv[n] = NULL;
    return 0;
}

/* Whether two built command lines are the same. */
static bool
ota_same(const ota_sup_t *a, const ota_sup_t *b)
{
    size_t i;

    for (i = 0; a->argv[i] != NULL && b->argv[i] != NULL; i++)
        if (strcmp(a->argv[i], b->argv[i]) != 0)
            return false;
    return a->argv[i] == NULL && b->argv[i] == NULL;
}

/* The command line as one string, for the log. */
static void
ota_cmdline(const ota_sup_t *s, char *buf, size_t cap)
{
    size_t i, n = 0;

    buf[0] = '\0';
    for (i = 0; s->argv[i] != NULL && n < cap; i++) {
        int k = snprintf(buf + n, cap - n, "%s%s", i ? " " : "", s->argv[i]);

        if (k < 0)
            break;
        n += (size_t)k;
    }
}

/* Plan the next start after the current backoff, and double it. */
static void
ota_schedule(ota_sup_t *s)
{
    s->restart_at_ms = now_ms() + s->backoff_ms;
    dlog("ota: restarting in %" PRIu32 " ms", s->backoff_ms);
    s->backoff_ms = s->backoff_ms * 2 > OTA_BACKOFF_MAX_MS
                        ? OTA_BACKOFF_MAX_MS : s->backoff_ms * 2;
}

/* Start the child now; a failure to start counts like an exit. */
static void
ota_start(ota_sup_t *s)
{
    char line[1024];
    int rc;

    s->restart_at_ms = 0;
    if ((rc = pl_fs_mkdir_p(s->state_dir, 0700)) != 0)
        dlog("ota: %s: %s", s->state_dir, pl_strerror(rc));
    if ((rc = pl_proc_spawn(s->argv, NULL, &s->pid)) != 0) {
        s->pid = 0;
        dlog("ota: cannot start %s: %s", s->exec, pl_strerror(rc));
        ota_schedule(s);
        return;
    }
    s->started_ms = now_ms();
    ota_cmdline(s, line, sizeof(line));
    dlog("ota: started pid %ld: %s", (long)s->pid, line);
}

/* Log how the child ended (pl_proc_wait's status). */
static void
ota_log_exit(int status)
{
    if (status >= 128)
        dlog("ota: killed by signal %d", status - 128);
    else
        dlog("ota: exited with status %d", status);
}

/* Reap the child if it ended, and plan its restart. */
static void
ota_reap(ota_sup_t *s)
{
    int rc, status = 255;

    if (s->pid == 0)
        return;
    rc = pl_proc_wait(s->pid, &status, 1);
    if (rc == PL_EAGAIN)
        return;
    if (rc == 0)
        ota_log_exit(status);
    else
        dlog("ota: pid %ld: %s", (long)s->pid, pl_strerror(rc));
    s->pid = 0;
    if (now_ms() - s->started_ms >= OTA_STABLE_MS)
        s->backoff_ms = OTA_BACKOFF_MIN_MS;
    ota_schedule(s);
}

/* Start the child if its restart time has come. */
static void
ota_tick(ota_sup_t *s)
{
    if (s->conf.enabled && s->pid == 0 && s->restart_at_ms != 0 &&
        now_ms() >= s->restart_at_ms)
        ota_start(s);
}

/* How long the poll loop may sleep: until the next restart, or forever. */
static int
ota_timeout(const ota_sup_t *s)
{
    uint64_t now = now_ms();

    if (!s->conf.enabled || s->pid != 0 || s->restart_at_ms == 0)
        return -1;
    if (s->restart_at_ms <= now)
        return 0;
    return s->restart_at_ms - now > 60000 ? 60000
                                          : (int)(s->restart_at_ms - now);
}

/*
 * ota_stop: TERM the child, wait up to OTA_STOP_GRACE_MS for it, then
 * KILL it; no restart is planned.  Signals that arrive meanwhile are added
 * to *pending for the main loop.
 */
static void
ota_stop(ota_sup_t *s, pl_wakeup_t *wake, unsigned *pending)
{
    uint64_t deadline;
    int rc, status = 255;

    s->restart_at_ms = 0;
    if (s->pid == 0)
        return;
    dlog("ota: stopping pid %ld", (long)s->pid);
    pl_proc_kill(s->pid, PL_SIG_TERM);
    deadline = now_ms() + OTA_STOP_GRACE_MS;
    for (;;) {
        pl_pollfd_t p = { pl_wakeup_fd(wake), PL_POLLIN, 0 };

        rc = pl_proc_wait(s->pid, &status, 1);
        if (rc != PL_EAGAIN)
            break;
        if (now_ms() >= deadline) {
            dlog("ota: pid %ld still running after %u ms: killing it",
                 (long)s->pid, OTA_STOP_GRACE_MS);
            pl_proc_kill(s->pid, PL_SIG_KILL);
            rc = pl_proc_wait(s->pid, &status, 0);
            break;
        }
        /* SIGCHLD wakes this early; 50 ms bounds the wait otherwise. */
        pl_poll(&p, 1, 50);
        pl_wakeup_drain(wake);
        *pending |= pl_signal_take() & ~PL_SIG_CHLD;
    }
    if (rc == 0)
        ota_log_exit(status);
    s->pid = 0;
}

/*
 * reload_ota: apply a re-read "ota" section: start, stop or restart the
 * child (with a fresh backoff) if its command line changed; keep it
 * running otherwise.
 */
static void
reload_ota(ota_sup_t *sup, const vmrt_ota_config_t *c, const char *sock,
           const char *state_dir, pl_wakeup_t *wake, unsigned *pending)
{
    ota_sup_t *next;

    if (!c->enabled) {
        if (sup->conf.enabled) {
            dlog("SIGHUP: ota section removed: stopping the OTA process");
            ota_stop(sup, wake, pending);
            sup->conf.enabled = false;
        }
        return;
    }
    if ((next = calloc(1, sizeof(*next))) == NULL) {
        dlog("SIGHUP: ota: out of memory; the OTA process is unchanged");
        return;
    }
    if (ota_build(next, c, sock, state_dir) != 0) {
        dlog("SIGHUP: ota: the OTA process is unchanged");
    } else if (sup->conf.enabled && ota_same(sup, next)) {
        dlog("SIGHUP: ota: unchanged");
    } else {
        if (sup->conf.enabled)
            dlog("SIGHUP: ota section changed: restarting the OTA process");
        ota_stop(sup, wake, pending);
        ota_build(sup, c, sock, state_dir);
        sup->backoff_ms = OTA_BACKOFF_MIN_MS;
        ota_start(sup);
    }
    free(next);
}

/* SIGHUP: validate into a fresh struct; apply (new boot VMs) only then. */
static void
reload(vmrt_rt_t *rt, const daemon_opts_t *o, ota_sup_t *sup,
       const char *sock, const char *state_dir, pl_wakeup_t *wake,
       unsigned *pending)
{
    vmrt_rt_config_t cfg;
    vmrt_manifest_t *vms;
    uint32_t nvms;

    if (o->config == NULL) {
        dlog("SIGHUP: no config file to re-read");
        return;
    }
    dlog("SIGHUP: re-reading %s", o->config);
    if (load_config(o, &cfg, &vms, &nvms) != 0) {
        dlog("SIGHUP: config not applied; the running one stays");
        return;
    }
    /* Runtime settings (workers, socket, state dir) need a restart; the
     * boot VM list and the ota section apply now. */
    boot_vms(rt, vms, nvms);
    vmrt_config_free_vms(vms);
    reload_ota(sup, &cfg.ota, sock, state_dir, wake, pending);
    dlog("SIGHUP: config applied");
}

/*
 * check_only: `vmrt daemon -n`: the config has been validated; print a
 * summary and, with an "ota" section, the command line it would run.
 * Return: the exit status.
 */
static int
check_only(const daemon_opts_t *o, const vmrt_rt_config_t *cfg,
           uint32_t nvms, ota_sup_t *sup)
{
    char sock[VMRT_PATH_MAX + 16], line[2048];

    printf("%s: ok (%" PRIu32 " boot VMs, state in %s)\n",
           o->config ? o->config : "(no config)", nvms, cfg->state_dir);
    if (!cfg->ota.enabled)
        return 0;
    if (cfg->socket[0] != '\0')
        snprintf(sock, sizeof(sock), "%s", cfg->socket);
    else
        snprintf(sock, sizeof(sock), "%s/vmrt.sock", cfg->state_dir);
    if (ota_build(sup, &cfg->ota, sock, cfg->state_dir) != 0)
        return EXIT_USAGE;
    ota_cmdline(sup, line, sizeof(line));
    printf("ota: %s\n", line);
    return 0;
}

int
cli_daemon(int argc, char **argv)
{
    daemon_opts_t o;
    vmrt_rt_config_t cfg;
    vmrt_manifest_t *vms = NULL;
    uint32_t nvms = 0;
    vmrt_rt_t *rt = NULL;
    vmrt_ctl_t *ctl = NULL;
    ota_sup_t *sup = NULL;
    pl_wakeup_t wake;
    char err[512] = "";
    unsigned sigs, pending = 0;
    int i, rc, status = EXIT_FAIL;

    memset(&o, 0, sizeof(o));
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            daemon_usage(stdout);
            return 0;
        } else if (strcmp(a, "-n") == 0) {
            o.check_only = true;
            continue;
        }
        if (v == NULL) {
            daemon_usage(stderr);
            return EXIT_USAGE;
        }
        if (strcmp(a, "--config") == 0)
            o.config = v;
        else if (strcmp(a, "--state-dir") == 0)
            o.state_dir = v;
        else if (strcmp(a, "--socket") == 0)
            o.socket = v;
        else if (strcmp(a, "--workers") == 0)
            o.workers = v;
        else {
            daemon_usage(stderr);
            return EXIT_USAGE;
        }
        i++;
    }
    if ((rc = load_config(&o, &cfg, &vms, &nvms)) != 0)
        return rc;
    if ((sup = calloc(1, sizeof(*sup))) == NULL) {
        dlog("out of memory");
        goto out;
    }
    sup->backoff_ms = OTA_BACKOFF_MIN_MS;
    if (o.check_only) {
        status = check_only(&o, &cfg, nvms, sup);
        goto out;
    }
    if ((rc = pl_fs_mkdir_p(cfg.state_dir, 0700)) != 0) {
        dlog("%s: %s", cfg.state_dir, pl_strerror(rc));
        goto out;
    }
    if ((rc = pl_wakeup_init(&wake)) != 0) {
        dlog("wakeup: %s", pl_strerror(rc));
        goto out;
    }
    pl_signal_ignore_pipe();
    if ((rc = pl_signal_install(PL_SIG_TERM | PL_SIG_INT | PL_SIG_HUP |
                                    PL_SIG_CHLD,
                                &wake)) != 0) {
        dlog("signals: %s", pl_strerror(rc));
        goto out_wake;
    }
    if ((rc = vmrt_rt_create(&cfg, &rt, err, sizeof(err))) != 0) {
        dlog("runtime: %s", err[0] ? err : vmrt_strerror(rc));
        goto out_sig;
    }
    vmrt_rt_subscribe(rt, log_event, NULL);
    err[0] = '\0';
    if ((rc = vmrt_ctl_start(rt, NULL, &ctl, err, sizeof(err))) != 0) {
        dlog("control socket: %s", err);
        goto out_rt;
    }
    if ((rc = vmrt_rt_start(rt)) != 0) {
        dlog("runtime start: %s", vmrt_strerror(rc));
        goto out_rt;
    }
    dlog("running: state %s, control socket %s, %" PRIu32 " VMs",
         cfg.state_dir, vmrt_ctl_path(ctl), vmrt_vm_list(rt, NULL, 0));
    boot_vms(rt, vms, nvms);
    if (cfg.ota.enabled) {
        if (ota_build(sup, &cfg.ota, vmrt_ctl_path(ctl), cfg.state_dir) != 0)
            goto out_stop;
        ota_start(sup);
    }

    for (;;) {
        pl_pollfd_t p = { pl_wakeup_fd(&wake), PL_POLLIN, 0 };

        /* Signals taken while waiting for the child in ota_stop() are
         * in `pending`: handle them before sleeping again. */
        if (pending == 0) {
            pl_poll(&p, 1, ota_timeout(sup));
            pl_wakeup_drain(&wake);
        }
        sigs = pending | pl_signal_take();
        pending = 0;
        /* Reap on every wakeup, not only on SIGCHLD: cheap, and a
         * coalesced signal cannot leave a zombie behind. */
        ota_reap(sup);
        if (sigs & (PL_SIG_TERM | PL_SIG_INT)) {
            dlog("%s: shutting down", sigs & PL_SIG_TERM ? "SIGTERM"
                                                         : "SIGINT");
            break;
        }
        if (sigs & PL_SIG_HUP)
            reload(rt, &o, sup, vmrt_ctl_path(ctl), cfg.state_dir, &wake,
                   &pending);
        ota_tick(sup);
    }
    status = 0;
out_stop:
    /* The OTA process talks to the runtime: it goes first. */
    ota_stop(sup, &wake, &pending);
out_rt:
    /* The control thread goes first (it calls into the runtime); its
     * memory after the runtime (which may still post events to it). */
    vmrt_ctl_stop(ctl);
    vmrt_rt_destroy(rt);
    vmrt_ctl_free(ctl);
    if (status == 0)
        dlog("stopped");
out_sig:
    pl_signal_reset(PL_SIG_TERM | PL_SIG_INT | PL_SIG_HUP | PL_SIG_CHLD);
out_wake:
    pl_wakeup_destroy(&wake);
out:
    free(sup);
    vmrt_config_free_vms(vms);
    return status;
}
