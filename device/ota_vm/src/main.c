/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmrt-ota: the device's OTA VM and only MQTT client (docs/ota.md).
 * Started and supervised by vmrt; drives vmrt through its local control
 * socket.  This file: options, start-up, the main loop (signals, the
 * supervisor watch, debounced /state) and shutdown.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_internal.h"
#include "ota_util.h"
#include "ota_xfer.h"
#include "vmf/vpk.h"

#define EXIT_FATAL 1
#define EXIT_USAGE 2
#define EXIT_ORPHAN 3

#define STATE_DEBOUNCE_MS 500u
#define PPID_CHECK_MS 200u

static void
usage(FILE *f)
{
    fprintf(f,
"usage: vmrt-ota --device ID --broker URI --trusted-key FILE\n"
"                [--trusted-key FILE...] --socket VMRT_SOCK --state-dir DIR\n"
"                [OPTIONS]\n"
"\n"
"The device's OTA VM: its only MQTT client.  Receives commands and signed\n"
"update packages on vmfleet/v1/<ID>/..., verifies them and drives vmrt\n"
"through its control socket (docs/ota.md).\n"
"\n"
"  --device ID            device id, also the MQTT client id\n"
"  --broker URI           tcp://HOST:PORT or ssl://HOST:PORT\n"
"  --trusted-key FILE     PEM public key that may sign packages (up to %d)\n"
"  --socket PATH          vmrt's control socket\n"
"  --state-dir DIR        transfers, command log, uploads (created)\n"
"  --allow-create         UPDATE/CREATE of a VM that does not exist creates it\n"
"  --health-ms N          default health window of a swap (10000)\n"
"  --window N             chunks in flight, 1..%d (8)\n"
"  --max-package BYTES    largest transfer accepted (16777216)\n"
"  --chunk-timeout-ms N   first chunk re-request timeout (2000)\n"
"  --keepalive S          MQTT keep-alive: a dead link is noticed after\n"
"                         about S seconds, by the broker after 1.5 S (30)\n"
"  --label KEY=VALUE      reported in /state (up to %d)\n"
"  --ca FILE --cert FILE --key FILE   TLS: broker CA, client cert and key\n"
"  --supervised           exit 3 when the parent (vmrt) goes away\n"
"  --verbose              log every chunk request and vmrt event\n"
"  --help                 this text\n"
"\n"
"Exit status: 0 stopped by TERM or INT; 1 fatal error (also: another\n"
"vmrt-ota holds DIR/lock); 2 usage or configuration error; 3 the\n"
"supervisor (parent process) is gone.\n",
            OTA_KEYS_MAX, OTA_XFER_WINDOW_MAX, VMF_LABELS_MAX);
}

static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    unsigned long long v;
    char *end;

    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/*
 * parse_args: fill the config.
 * Return: 0; 1 for --help (printed); EXIT_USAGE with a message naming
 *         the option.
 */
static int
parse_args(int argc, char **argv, ota_cfg_t *c)
{
    uint64_t v;
    int i;

    c->health_ms = 10000;
    c->window = 8;
    c->max_package = 16u * 1024 * 1024;
    c->chunk_timeout_ms = 2000;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = true;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--allow-create") == 0) {
            c->allow_create = true;
            takes = false;
        } else if (strcmp(a, "--supervised") == 0) {
            c->supervised = true;
            takes = false;
        } else if (strcmp(a, "--verbose") == 0) {
            ota__verbose = true;
            takes = false;
        } else if (val == NULL) {
            if (strncmp(a, "--", 2) == 0)
                fprintf(stderr, "vmrt-ota: %s: needs a value\n", a);
            else
                fprintf(stderr, "vmrt-ota: unexpected argument '%s'\n", a);
            return EXIT_USAGE;
        } else if (strcmp(a, "--device") == 0) {
            if (!vmf_device_id_valid(val)) {
                fprintf(stderr, "vmrt-ota: --device: '%s' is not 1..%d of "
                        "[A-Za-z0-9._-]\n", val, VMF_ID_MAX - 1);
                return EXIT_USAGE;
            }
            c->device = val;
        } else if (strcmp(a, "--broker") == 0) {
            c->broker = val;
        } else if (strcmp(a, "--trusted-key") == 0) {
            if (c->nkeys == OTA_KEYS_MAX) {
                fprintf(stderr, "vmrt-ota: --trusted-key: at most %d\n",
                        OTA_KEYS_MAX);
                return EXIT_USAGE;
            }
            c->key_files[c->nkeys++] = val;
        } else if (strcmp(a, "--socket") == 0) {
            c->socket = val;
        } else if (strcmp(a, "--state-dir") == 0) {
            c->state_dir = val;
        } else if (strcmp(a, "--ca") == 0) {
            c->ca = val;
        } else if (strcmp(a, "--cert") == 0) {
            c->cert = val;
        } else if (strcmp(a, "--key") == 0) {
            c->key = val;
        } else if (strcmp(a, "--health-ms") == 0) {
            if (!parse_u64(val, 1, 3600000, &v)) {
                fprintf(stderr, "vmrt-ota: --health-ms: '%s' is not "
                        "1..3600000\n", val);
                return EXIT_USAGE;
            }
            c->health_ms = (uint32_t)v;
        } else if (strcmp(a, "--window") == 0) {
            if (!parse_u64(val, 1, OTA_XFER_WINDOW_MAX, &v)) {
                fprintf(stderr, "vmrt-ota: --window: '%s' is not 1..%d\n",
                        val, OTA_XFER_WINDOW_MAX);
                return EXIT_USAGE;
            }
            c->window = (uint32_t)v;
        } else if (strcmp(a, "--max-package") == 0) {
            if (!parse_u64(val, 1, VPK_MODULE_MAX, &v)) {
                fprintf(stderr, "vmrt-ota: --max-package: '%s' is not "
                        "1..%u\n", val, (unsigned)VPK_MODULE_MAX);
                return EXIT_USAGE;
            }
            c->max_package = v;
        } else if (strcmp(a, "--chunk-timeout-ms") == 0) {
            if (!parse_u64(val, 10, 600000, &v)) {
                fprintf(stderr, "vmrt-ota: --chunk-timeout-ms: '%s' is not "
                        "10..600000\n", val);
                return EXIT_USAGE;
            }
            c->chunk_timeout_ms = (uint32_t)v;
        } else if (strcmp(a, "--keepalive") == 0) {
            if (!parse_u64(val, 2, 65535, &v)) {
                fprintf(stderr, "vmrt-ota: --keepalive: '%s' is not "
                        "2..65535\n", val);
                return EXIT_USAGE;
            }
            c->keepalive_s = (uint32_t)v;
        } else if (strcmp(a, "--label") == 0) {
            const char *eq = strchr(val, '=');
            vmf_label_t *l = &c->labels[c->nlabels];

            if (c->nlabels == VMF_LABELS_MAX || eq == NULL || eq == val ||
                (size_t)(eq - val) >= sizeof(l->key) ||
                strlen(eq + 1) >= sizeof(l->value)) {
                fprintf(stderr, "vmrt-ota: --label: '%s' is not KEY=VALUE "
                        "(at most %d, each under %d characters)\n", val,
                        VMF_LABELS_MAX, VMF_LABEL_MAX);
                return EXIT_USAGE;
            }
            memcpy(l->key, val, (size_t)(eq - val));
            l->key[eq - val] = '\0';
            ota__strlcpy(l->value, eq + 1, sizeof(l->value));
            c->nlabels++;
        } else {
            fprintf(stderr, "vmrt-ota: unknown option '%s' (see --help)\n",
                    a);
            return EXIT_USAGE;
        }
        if (takes)
            i++;
    }
    if (c->device == NULL || c->broker == NULL || c->nkeys == 0 ||
        c->socket == NULL || c->state_dir == NULL) {
        fprintf(stderr, "vmrt-ota: missing %s (see --help)\n",
                c->device == NULL   ? "--device"
                : c->broker == NULL ? "--broker"
                : c->nkeys == 0     ? "--trusted-key"
                : c->socket == NULL ? "--socket"
                                    : "--state-dir");
        return EXIT_USAGE;
    }
    if ((c->cert != NULL) != (c->key != NULL)) {
        fprintf(stderr, "vmrt-ota: %s: needs %s too\n",
                c->cert ? "--cert" : "--key", c->cert ? "--key" : "--cert");
        return EXIT_USAGE;
    }
    return 0;
}

/* Read the trusted keys.  Return: 0 or EXIT_USAGE (message printed). */
static int
load_keys(ota_cfg_t *c)
{
    char kid[VPK_KEY_ID_LEN + 1];
    uint8_t *buf;
    size_t len, i;
    int rc;

    for (i = 0; i < c->nkeys; i++) {
        if ((rc = pl_file_read_all(c->key_files[i], 4 * VPK_PEM_MAX, &buf,
                                   &len)) != 0) {
            fprintf(stderr, "vmrt-ota: --trusted-key %s: %s\n",
                    c->key_files[i], pl_strerror(rc));
            return EXIT_USAGE;
        }
        if ((c->keys[i] = malloc(len + 1)) == NULL) {
            pl_free_file(buf);
            fprintf(stderr, "vmrt-ota: out of memory\n");
            return EXIT_FATAL;
        }
        memcpy(c->keys[i], buf, len);
        c->keys[i][len] = '\0';
        pl_free_file(buf);
        if (vpk_key_id(c->keys[i], kid) != 0) {
            fprintf(stderr, "vmrt-ota: --trusted-key %s: not a PEM P-256 "
                    "key\n", c->key_files[i]);
            return EXIT_USAGE;
        }
        ota__log("trusted key %s (%s)", kid, c->key_files[i]);
    }
    return 0;
}

static int
make_topics(ota_t *o)
{
    const char *d = o->cfg.device;

    return vmf_topic(o->t_cmd, sizeof(o->t_cmd), d, "cmd") |
           vmf_topic(o->t_result, sizeof(o->t_result), d, "result") |
           vmf_topic(o->t_event, sizeof(o->t_event), d, "event") |
           vmf_topic(o->t_state, sizeof(o->t_state), d, "state") |
           vmf_topic(o->t_req, sizeof(o->t_req), d, "xfer/req") |
           vmf_topic(o->t_data, sizeof(o->t_data), d, "xfer/data") |
           vmf_topic(o->t_up, sizeof(o->t_up), d, "xfer/up") |
           vmf_topic(o->t_upreq, sizeof(o->t_upreq), d, "xfer/upreq");
}

/* Make the MQTT client, its Will (retained State online=false) and its
 * subscriptions.  Return: 0 or EXIT_USAGE / EXIT_FATAL (logged). */
static int
mqtt_setup(ota_t *o)
{
    vmf_mqtt_config_t mc;
    vmf_state_t will;
    uint8_t *wbuf = NULL;
    size_t wlen = 0;
    char err[256] = "";
    int rc;

    vmf_state_init(&will);
    ota__strlcpy(will.device, o->cfg.device, sizeof(will.device));
    will.online = false;
    ota__strlcpy(will.runtime_version, VMF_VERSION,
                 sizeof(will.runtime_version));
    ota__strlcpy(will.ota_version, VMF_VERSION, sizeof(will.ota_version));
    memcpy(will.labels, o->cfg.labels, sizeof(will.labels));
    will.nlabels = o->cfg.nlabels;
    will.boot_id = o->boot_id;
    if (vmf_state_encode(&will, &wbuf, &wlen) != 0) {
        ota__log("cannot encode the Last Will");
        return EXIT_FATAL;
    }
    memset(&mc, 0, sizeof(mc));
    mc.uri = o->cfg.broker;
    mc.client_id = o->cfg.device;
    mc.ca_file = o->cfg.ca;
    mc.cert_file = o->cfg.cert;
    mc.key_file = o->cfg.key;
    mc.keepalive_s = o->cfg.keepalive_s; /* 0: the wrapper's 30 s */
    mc.clean_start = false;
    mc.session_expiry_s = 3600;
    mc.will_topic = o->t_state;
    mc.will_payload = wbuf;
    mc.will_len = wlen;
    mc.will_retain = true;
    rc = vmf_mqtt_create(&mc, ota__on_msg, ota__on_conn, o, &o->mqtt, err,
                         sizeof(err));
    free(wbuf);
    if (rc != 0) {
        fprintf(stderr, "vmrt-ota: --broker %s: %s\n", o->cfg.broker,
                err[0] ? err : vmf_mqtt_strerror(rc));
        return rc == VMF_MQTT_EINVAL ? EXIT_USAGE : EXIT_FATAL;
    }
    if (vmf_mqtt_subscribe(o->mqtt, o->t_cmd, 1) != 0 ||
        vmf_mqtt_subscribe(o->mqtt, o->t_data, 1) != 0 ||
        vmf_mqtt_subscribe(o->mqtt, o->t_upreq, 1) != 0 ||
        vmf_mqtt_start(o->mqtt) != 0) {
        ota__log("mqtt: cannot subscribe or start");
        return EXIT_FATAL;
    }
    return 0;
}

/* Open DIR and take DIR/lock.  Return: 0 or an exit status (logged). */
static int
state_dir_open(ota_t *o)
{
    int rc;

    if ((rc = pl_fs_mkdir_p(o->cfg.state_dir, 0700)) != 0 &&
        rc != PL_EEXIST) {
        fprintf(stderr, "vmrt-ota: --state-dir %s: %s\n", o->cfg.state_dir,
                pl_strerror(rc));
        return EXIT_USAGE;
    }
    if ((rc = pl_dir_open_root(&o->root, o->cfg.state_dir,
                               PL_ROOT_NO_SYMLINKS)) != 0) {
        fprintf(stderr, "vmrt-ota: --state-dir %s: %s\n", o->cfg.state_dir,
                pl_strerror(rc));
        return EXIT_USAGE;
    }
    o->root_open = true;
    if ((rc = pl_fs_open(&o->root, "lock", PL_O_READ | PL_O_WRITE |
                         PL_O_CREATE, &o->lockf)) != 0 ||
        (rc = pl_file_lock(&o->lockf)) != 0) {
        ota__log("%s/lock: %s", o->cfg.state_dir,
                 rc == PL_EBUSY ? "another vmrt-ota runs on this state dir"
                                : pl_strerror(rc));
        return EXIT_FATAL;
    }
    return 0;
}

/*
 * run: the main loop until a signal or the supervisor's death.
 * Return: the exit status.
 */
static int
run(ota_t *o, pl_wakeup_t *wk)
{
    pl_pid_t ppid = pl_getppid();
    uint64_t last_state = 0, now;
    pl_pollfd_t p;
    unsigned sigs;
    bool dirty;

    for (;;) {
        p.fd = pl_wakeup_fd(wk);
        p.events = PL_POLLIN;
        p.revents = 0;
        pl_poll(&p, 1, 100);
        pl_wakeup_drain(wk);
        sigs = pl_signal_take();
        if (sigs & (PL_SIG_TERM | PL_SIG_INT)) {
            ota__log("stopping (%s)",
                     sigs & PL_SIG_TERM ? "SIGTERM" : "SIGINT");
            return 0;
        }
        /* An orphan must not fight its successor for the client id. */
        if (o->cfg.supervised && pl_getppid() != ppid) {
            ota__log("supervisor (pid %ld) is gone; exiting", (long)ppid);
            return EXIT_ORPHAN;
        }
        now = ota__now_ms();
        pl_mutex_lock(&o->lock);
        dirty = o->state_dirty && now >= last_state + STATE_DEBOUNCE_MS;
        if (dirty)
            o->state_dirty = false;
        pl_mutex_unlock(&o->lock);
        if (dirty) {
            last_state = now;
            ota__publish_state(o, true);
        }
    }
}

int
main(int argc, char **argv)
{
    static ota_t o; /* large; and the signal wakeup outlives nothing */
    pl_wakeup_t wk;
    int rc, st = EXIT_FATAL;
    bool threads = false, events = false;
    size_t i;

    memset(&o, 0, sizeof(o));
    o.lockf = (pl_file_t)PL_FILE_INIT;
    if ((rc = parse_args(argc, argv, &o.cfg)) != 0)
        return rc == 1 ? 0 : rc;
    if ((rc = load_keys(&o.cfg)) != 0) {
        st = rc;
        goto out_keys;
    }
    if (make_topics(&o) != 0) {
        fprintf(stderr, "vmrt-ota: --device %s: topics too long\n",
                o.cfg.device);
        st = EXIT_USAGE;
        goto out_keys;
    }
    if ((rc = state_dir_open(&o)) != 0) {
        st = rc;
        goto out_root;
    }
    if (pl_random(&o.boot_id, sizeof(o.boot_id)) != 0)
        o.boot_id = pl_time_real_ns();
    if (pl_mutex_init(&o.lock) != 0 || pl_cond_init(&o.cond) != 0 ||
        pl_mutex_init(&o.ctl_lock) != 0 || pl_mutex_init(&o.ev_lock) != 0 ||
        pl_wakeup_init(&wk) != 0) {
        ota__log("cannot initialize locks");
        goto out_root;
    }
    pl_signal_ignore_pipe();
    pl_signal_install(PL_SIG_TERM | PL_SIG_INT, &wk);
    ota__log("starting: device %s, broker %s, vmrt %s, state %s%s",
             o.cfg.device, o.cfg.broker, o.cfg.socket, o.cfg.state_dir,
             o.cfg.supervised ? ", supervised" : "");
    if ((rc = mqtt_setup(&o)) != 0) {
        st = rc;
        goto out_sync;
    }
    if ((rc = ota__events_start(&o)) != 0) {
        ota__log("cannot start the event thread: %s", pl_strerror(rc));
        goto out_mqtt;
    }
    events = true;
    if ((rc = ota__worker_start(&o)) != 0) {
        ota__log("cannot start the worker in %s: %s", o.cfg.state_dir,
                 pl_strerror(rc));
        goto out_mqtt;
    }
    threads = true;
    st = run(&o, &wk);
out_mqtt:
    if (threads)
        ota__worker_stop(&o);
    if (events)
        ota__events_stop(&o);
    if (st == 0 && o.mqtt != NULL) {
        /* A clean stop publishes no Will: say offline ourselves. */
        ota__publish_state(&o, false);
        vmf_mqtt_flush(o.mqtt, 1000);
    }
    if (o.mqtt != NULL)
        vmf_mqtt_destroy(o.mqtt);
    ota__ctl_close(&o);
out_sync:
    pl_signal_reset(PL_SIG_TERM | PL_SIG_INT);
    pl_wakeup_destroy(&wk);
    pl_mutex_destroy(&o.ev_lock);
    pl_mutex_destroy(&o.ctl_lock);
    pl_cond_destroy(&o.cond);
    pl_mutex_destroy(&o.lock);
out_root:
    pl_file_close(&o.lockf);
    if (o.root_open)
        pl_dir_close_root(&o.root);
out_keys:
    for (i = 0; i < o.cfg.nkeys; i++)
        free(o.cfg.keys[i]);
    ota__log("exit %d", st);
    return st;
}
