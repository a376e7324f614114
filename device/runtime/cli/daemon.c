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
            "config.\n",
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
    static const char *const kinds[] = { "state",    "crash",    "restart",
                                         "watchdog", "rollback", "power" };

    (void)arg;
    dlog("event %s: vm %s %s%s%s",
         (unsigned)ev->kind < 6 ? kinds[ev->kind] : "?", ev->vm,
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

/* SIGHUP: validate into a fresh struct; apply (new boot VMs) only then. */
static void
reload(vmrt_rt_t *rt, const daemon_opts_t *o)
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
     * boot VM list applies now. */
    boot_vms(rt, vms, nvms);
    vmrt_config_free_vms(vms);
    dlog("SIGHUP: config applied");
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
    pl_wakeup_t wake;
    char err[512] = "";
    unsigned sigs;
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
    if (o.check_only) {
        printf("%s: ok (%" PRIu32 " boot VMs, state in %s)\n",
               o.config ? o.config : "(no config)", nvms, cfg.state_dir);
        vmrt_config_free_vms(vms);
        return 0;
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
    if ((rc = pl_signal_install(PL_SIG_TERM | PL_SIG_INT | PL_SIG_HUP,
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

    for (;;) {
        pl_pollfd_t p = { pl_wakeup_fd(&wake), PL_POLLIN, 0 };

        pl_poll(&p, 1, -1);
        pl_wakeup_drain(&wake);
        sigs = pl_signal_take();
        if (sigs & (PL_SIG_TERM | PL_SIG_INT)) {
            dlog("%s: shutting down", sigs & PL_SIG_TERM ? "SIGTERM"
                                                         : "SIGINT");
            break;
        }
        if (sigs & PL_SIG_HUP)
            reload(rt, &o);
    }
    status = 0;
out_rt:
    /* The control thread goes first (it calls into the runtime); its
     * memory after the runtime (which may still post events to it). */
    vmrt_ctl_stop(ctl);
    vmrt_rt_destroy(rt);
    vmrt_ctl_free(ctl);
    if (status == 0)
        dlog("stopped");
out_sig:
    pl_signal_reset(PL_SIG_TERM | PL_SIG_INT | PL_SIG_HUP);
out_wake:
    pl_wakeup_destroy(&wake);
out:
    vmrt_config_free_vms(vms);
    return status;
}
