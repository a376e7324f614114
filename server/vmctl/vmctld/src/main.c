/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctld: the fleet daemon (issue 6).  Reads the config (config.h),
 * takes the data directory's lock, starts the core (ctld.h) and the HTTP
 * API (api.h), and then waits for signals in the main thread.
 *
 * Signals: SIGINT, SIGTERM and SIGHUP are blocked before any other thread
 * exists, so every thread inherits the mask and the signals are only ever
 * taken by sigwait() below, in ordinary code: no handler, nothing to keep
 * async-signal-safe.  TERM/INT stop the API first (no new requests), then
 * the core, and exit 0.  HUP re-reads the config into a fresh struct and
 * applies it only if it is valid (tokens, log level); otherwise it logs
 * why and keeps the running one (vmd, mosquitto).
 *
 * One vmctld per data directory and per database: an flock(2) on
 * DATA_DIR/vmctld.lock and one on DB_PATH.lock, held for the life of the
 * process; the kernel drops it on any exit, even SIGKILL, so
 * a stale file never blocks a start.
 */

#define _GNU_SOURCE /* getopt_long, flock */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "config.h"
#include "ctld.h"
#include "log.h"

#ifndef VMF_VERSION
#define VMF_VERSION "0.0.0"
#endif

#define EXIT_OK 0
#define EXIT_FAIL 1  /* runtime: port in use, data dir locked, ... */
#define EXIT_USAGE 2 /* bad options or an invalid config */

#define LOCK_NAME "vmctld.lock"

typedef struct opts {
    const char *config; /* -c, else $VMCTLD_CONFIG, else NULL */
    bool check_only;    /* -n */
    bool verbose;       /* -v: log level debug, whatever the config says */
} opts_t;

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: vmctld [-c FILE] [-n] [-v] [--help] [--help-config] "
            "[--version]\n"
            "\n"
            "The vmfleet server: tracks devices over MQTT, keeps packages,\n"
            "snapshots and rollouts, and serves the HTTP API (and the web\n"
            "dashboard) that vmctl uses.\n"
            "\n"
            "  -c, --config FILE  JSON config (default: $VMCTLD_CONFIG; "
            "without\n"
            "                     either, the VMCTLD_* variables alone)\n"
            "  -n, --check        check the config, print \"config ok\" "
            "and exit\n"
            "  -v, --verbose      log at level debug\n"
            "  -h, --help         this text\n"
            "      --help-config  every config key, its variable and "
            "default\n"
            "  -V, --version      print the version\n"
            "\n"
            "Signals: TERM/INT stop cleanly; HUP re-reads the config "
            "(tokens and\n"
            "log.level apply at once; other keys at the next start).\n"
            "\n"
            "Exit status: 0 stopped cleanly (or -n: config ok), 1 failure "
            "(e.g. the\n"
            "port is in use, another vmctld uses the data directory), 2 "
            "usage error\n"
            "or invalid config.  See docs/operations.md, \"vmctld\".\n");
}

/*
 * parse_opts: argv into o.  Return: -1 to go on, else the exit status
 * (--help, --version, or a usage error already reported).
 */
static int
parse_opts(int argc, char **argv, opts_t *o)
{
    enum { OPT_HELP_CONFIG = 256 };
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "check", no_argument, NULL, 'n' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "help-config", no_argument, NULL, OPT_HELP_CONFIG },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    const char *env;
    int ch;

    memset(o, 0, sizeof(*o));
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":c:nvhV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'n':
            o->check_only = true;
            break;
        case 'v':
            o->verbose = true;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case OPT_HELP_CONFIG:
            vmctld_config_print_keys(stdout);
            return EXIT_OK;
        case 'V':
            printf("vmctld %s\n", VMF_VERSION);
            return EXIT_OK;
        case ':':
            fprintf(stderr, "vmctld: %s: needs an argument\n",
                    argv[optind - 1]);
            fputs("usage: vmctld [-c FILE] [-n] [-v] (vmctld --help)\n",
                  stderr);
            return EXIT_USAGE;
        default:
            fprintf(stderr, "vmctld: %s: unknown option\n",
                    argv[optind - 1]);
            fputs("usage: vmctld [-c FILE] [-n] [-v] (vmctld --help)\n",
                  stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vmctld: %s: unexpected argument (the config is "
                        "given with -c FILE)\n",
                argv[optind]);
        return EXIT_USAGE;
    }
    if (o->config == NULL && (env = getenv("VMCTLD_CONFIG")) != NULL &&
        env[0] != '\0')
        o->config = env;
    if (o->config != NULL && o->config[0] == '\0') {
        fputs("vmctld: -c: the config file name is empty\n", stderr);
        return EXIT_USAGE;
    }
    return -1;
}

static void
apply_log_level(const vmctld_config_t *cfg, bool verbose)
{
    int level = vmctld_log_level_parse(cfg->log_level);

    if (verbose)
        level = VMCTLD_LOG_DEBUG;
    vmctld_log_set_level(level >= 0 ? (vmctld_log_level_t)level
                                    : VMCTLD_LOG_INFO);
}

/*
 * make_dirs: `path` and its missing parents, mode 0700 for the ones made.
 * Return: 0, or -1 with errno set.
 */
static int
make_dirs(const char *path)
{
    char buf[VMCTLD_CFG_PATH_MAX];
    struct stat st;
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        buf[i] = i < n ? '/' : '\0';
    }
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

/*
 * take_lock: an exclusive flock(2) on `path` (created 0600), with our pid
 * in it.  `what` names the thing it guards, for the message when another
 * vmctld holds it.  Return: the lock's fd (kept open until exit), or -1
 * (logged).
 */
static int
take_lock(const char *path, const char *what, const char *key)
{
    char pid[32];
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        LOG_ERR("%s: %s: %s", key, path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;

        if (e == EWOULDBLOCK) {
            n = pread(fd, pid, sizeof(pid) - 1, 0);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            LOG_ERR("%s is in use by another vmctld%s%s%s: stop it first, "
                    "or give this one its own %s",
                    what, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "",
                    key);
        } else {
            LOG_ERR("%s: %s: lock: %s", key, path, strerror(e));
        }
        close(fd);
        return -1;
    }
    /* Our pid, for the message above in a second vmctld. */
    n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
        LOG_WARN("%s: cannot write the pid: %s", path, strerror(errno));
    return fd;
}

/*
 * lock_data_dir: create the data directory if it is missing and take its
 * lock, and the database's (DB_PATH.lock): storage.db_path may put the
 * database elsewhere, and two vmctld must never share one registry.
 * Return: 0 with the locks' fds in locks[0..1], or -1 (logged).
 */
static int
lock_data_dir(const vmctld_config_t *cfg, int locks[2])
{
    char path[VMCTLD_CFG_PATH_MAX + sizeof(LOCK_NAME) + 1];
    char what[VMCTLD_CFG_PATH_MAX + 32];

    locks[0] = locks[1] = -1;
    if (make_dirs(cfg->data_dir) != 0) {
        LOG_ERR("storage.data_dir: cannot create %s: %s", cfg->data_dir,
                strerror(errno));
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", cfg->data_dir, LOCK_NAME);
    snprintf(what, sizeof(what), "data directory %s", cfg->data_dir);
    if ((locks[0] = take_lock(path, what, "storage.data_dir")) < 0)
        return -1;
    snprintf(path, sizeof(path), "%s.lock", cfg->db_path);
    snprintf(what, sizeof(what), "database %s", cfg->db_path);
    if ((locks[1] = take_lock(path, what, "storage.db_path")) < 0) {
        close(locks[0]);
        locks[0] = -1;
        return -1;
    }
    return 0;
}

/* The API's URL for the log: scheme, the listen host, the bound port. */
static void
api_url(const vmctld_config_t *cfg, int port, char *buf, size_t len)
{
    const char *colon = strrchr(cfg->http_listen, ':');
    int hostlen = colon != NULL ? (int)(colon - cfg->http_listen) : 0;

    snprintf(buf, len, "%s://%.*s:%d",
             cfg->http_cert_file[0] != '\0' ? "https" : "http", hostlen,
             cfg->http_listen, port);
}

/*
 * reload: SIGHUP.  A config that does not load changes nothing; one that
 * does gives the API its tokens and the log its level at once, and the
 * keys that need a restart are named.
 */
static void
reload(const opts_t *o, vmctld_config_t *run, vmctld_api_t *api)
{
    vmctld_config_t fresh;
    char err[1024], pending[512];
    size_t n;

    if (vmctld_config_load(o->config, &fresh, err, sizeof(err)) != 0) {
        LOG_ERR("SIGHUP: %s; keeping the running config", err);
        return;
    }
    n = vmctld_config_reload(run, &fresh, pending, sizeof(pending));
    apply_log_level(run, o->verbose);
    vmctld_api_reload(api, run);
    LOG_INFO("SIGHUP: reloaded %s: %zu token%s, log level %s",
             o->config != NULL ? o->config : "the environment",
             run->ntokens, run->ntokens == 1 ? "" : "s",
             o->verbose ? "debug (-v)" : run->log_level);
    if (n > 0)
        LOG_WARN("SIGHUP: %s changed; that takes a restart of vmctld",
                 pending);
}

/*
 * serve: everything after the config: lock, core, API, the signal loop.
 * `sigs` are blocked in every thread.  Return: the exit status.
 */
static int
serve(const opts_t *o, vmctld_config_t *cfg, const sigset_t *sigs)
{
    ctld_t *core = NULL;
    vmctld_api_t *api = NULL;
    ctld_info_t info;
    char err[1024] = "", url[VMCTLD_CFG_STR_MAX + 16];
    int locks[2], sig, rc = EXIT_FAIL;

    if (lock_data_dir(cfg, locks) != 0)
        return EXIT_FAIL;
    if (ctld_create(cfg, &core, err, sizeof(err)) != 0) {
        LOG_ERR("cannot start: %s", err);
        goto fail;
    }
    if (ctld_start(core, err, sizeof(err)) != 0) {
        LOG_ERR("cannot start: %s", err);
        goto fail;
    }
    if (vmctld_api_start(core, cfg, &api, err, sizeof(err)) != 0) {
        LOG_ERR("cannot start: %s", err);
        goto fail;
    }
    memset(&info, 0, sizeof(info));
    (void)ctld_info(core, &info);
    api_url(cfg, vmctld_api_port(api), url, sizeof(url));
    LOG_INFO("vmctld %s started (pid %ld): api %s, broker %s, db %s, "
             "devices known: %zu (%zu online), active rollouts: %zu, "
             "tokens: %zu, trusted keys: %zu",
             VMF_VERSION, (long)getpid(), url, cfg->mqtt_uri, cfg->db_path,
             info.devices, info.devices_online, info.rollouts_active,
             cfg->ntokens, cfg->ntrusted_keys);

    for (;;) {
        if (sigwait(sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            reload(o, cfg, api);
            continue;
        }
        LOG_INFO("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        break;
    }
    rc = EXIT_OK;
fail:
    /* The API first: no request reaches a core that is going away. */
    vmctld_api_stop(api);
    ctld_destroy(core);
    close(locks[1]);
    close(locks[0]);
    if (rc == EXIT_OK)
        LOG_INFO("stopped");
    return rc;
}

int
main(int argc, char **argv)
{
    vmctld_config_t cfg;
    char err[1024];
    sigset_t sigs;
    opts_t o;
    int rc;

    if ((rc = parse_opts(argc, argv, &o)) >= 0)
        return rc;
    if (vmctld_config_load(o.config, &cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "vmctld: %s\n", err);
        return EXIT_USAGE;
    }
    if (o.check_only) {
        printf("config ok: %s: api %s, broker %s, data %s, %zu token%s, "
               "%zu trusted key%s\n",
               o.config != NULL ? o.config : "(environment only)",
               cfg.http_listen, cfg.mqtt_uri, cfg.data_dir, cfg.ntokens,
               cfg.ntokens == 1 ? "" : "s", cfg.ntrusted_keys,
               cfg.ntrusted_keys == 1 ? "" : "s");
        vmctld_config_free(&cfg);
        return EXIT_OK;
    }
    apply_log_level(&cfg, o.verbose);

    /* Before any thread exists: every thread inherits the mask, so only
     * sigwait() in serve() ever takes these. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    if ((rc = pthread_sigmask(SIG_BLOCK, &sigs, NULL)) != 0) {
        LOG_ERR("pthread_sigmask: %s", strerror(rc));
        vmctld_config_free(&cfg);
        return EXIT_FAIL;
    }
    /* A client that goes away mid-response is an error on that socket,
     * not the end of the daemon. */
    signal(SIGPIPE, SIG_IGN);

    rc = serve(&o, &cfg, &sigs);
    vmctld_config_free(&cfg);
    return rc;
}
