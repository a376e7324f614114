/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctl: `update` (upload a package, start a rollout, optionally follow
 * it) and `rollout` (list, show, pause, resume, abort, wait).  The exit
 * status of a followed rollout: 0 every device succeeded; 3 some
 * succeeded and some failed; 1 anything else (failed, aborted, or paused
 * at its failure threshold with no success).
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "remote.h"

#define PATH_LEN 1024
#define MAX_LABELS 16
#define MAX_DEVICES 1024     /* in one TARGET argument */
#define POLL_MS 1000         /* GET /rollouts/{id} once a second */
#define HEALTH_WINDOW_MAX_MS 3600000u
#define DEVICE_TIMEOUT_MAX_S 604800u
#define THRESHOLD_REASON "failure threshold"

const vmctl_help_t vmctl__help_update = {
    "update",
    "vmctl update DEV[,DEV...] VM P.vpk [OPTIONS]\n"
    "       vmctl update --label KEY=VALUE... VM P.vpk [OPTIONS]\n"
    "       vmctl update --all VM P.vpk [OPTIONS]",
    "Uploads P.vpk (a package for VM; or the SHA-256 of a stored one),\n"
    "starts a rollout of it to the target devices and prints its id.\n"
    "  --label K=V          devices with this label (repeatable: all must "
    "match)\n"
    "  --all                every known device\n"
    "  --canary N           devices updated first, alone (default 1)\n"
    "  --batch N|P%         devices per batch after the canary (default "
    "10%)\n"
    "  --max-failures N|P%  failures that pause the rollout (default 0)\n"
    "  --health-window MS   how long the new version must stay healthy\n"
    "                       (default: vmctld's)\n"
    "  --device-timeout S   how long one device may take (default: "
    "vmctld's)\n"
    "  --wait               follow the rollout until it ends or pauses at\n"
    "                       its failure threshold (progress on stderr); the\n"
    "                       wait is bounded only when --timeout is given\n"
    "Exit status with --wait: 0 all devices succeeded, 1 failed, aborted or\n"
    "paused with no success, 3 some devices succeeded and some failed.\n"
};

const vmctl_help_t vmctl__help_rollout = {
    "rollout",
    "vmctl rollout ls\n"
    "       vmctl rollout show ID\n"
    "       vmctl rollout pause|resume|abort ID\n"
    "       vmctl rollout wait ID",
    "ls lists the rollouts, newest first; show prints one with the state of\n"
    "each device.  pause stops starting new devices (those in flight\n"
    "finish); resume continues a paused rollout (also one paused at its\n"
    "failure threshold); abort ends it for good.  wait follows a rollout as\n"
    "`update --wait` does, with the same exit status.\n"
};

/* The counts of a Rollout document. */
typedef struct counts {
    int64_t total, waiting, in_flight, succeeded, failed;
} counts_t;

static counts_t
get_counts(const vmctl_json_t *r)
{
    const vmctl_json_t *c = vmctl_json_get(r, "counts");
    counts_t n;

    n.total = vmctl_jint(c, "total");
    n.waiting = vmctl_jint(c, "waiting");
    n.in_flight = vmctl_jint(c, "in_flight");
    n.succeeded = vmctl_jint(c, "succeeded");
    n.failed = vmctl_jint(c, "failed");
    return n;
}

static bool
rollout_final(const char *state)
{
    return strcmp(state, "succeeded") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "aborted") == 0;
}

static bool
paused_by_threshold(const vmctl_json_t *r)
{
    return strcmp(vmctl_jstr(r, "state"), "paused") == 0 &&
           strcmp(vmctl_jstr(r, "pause_reason"), THRESHOLD_REASON) == 0;
}

/*
 * rollout_result: print how a rollout ended (or paused at its threshold).
 * Return: the exit status (see the top of this file).
 */
static int
rollout_result(const vmctl_ctx_t *c, const vmctl_json_t *r)
{
    counts_t n = get_counts(r);
    char id[80], st[32], vm[80], ver[64];
    int status;

    vmctl_clean(vmctl_jstr(r, "id"), id, sizeof(id));
    vmctl_clean(vmctl_jstr(r, "state"), st, sizeof(st));
    vmctl_clean(vmctl_jstr(r, "vm"), vm, sizeof(vm));
    vmctl_clean(vmctl_jstr(r, "version"), ver, sizeof(ver));
    if (n.succeeded > 0 && n.failed > 0)
        status = VMCTL_EXIT_PARTIAL;
    else if (strcmp(st, "succeeded") == 0)
        status = VMCTL_EXIT_OK;
    else
        status = VMCTL_EXIT_FAIL;
    if (c->g->json)
        return status;
    if (status == VMCTL_EXIT_OK) {
        printf("rollout %s succeeded: %" PRId64 " of %" PRId64
               " devices run %s %s\n", id, n.succeeded, n.total, vm, ver);
        return status;
    }
    vmctl_progress_end();
    if (paused_by_threshold(r))
        fprintf(stderr, "vmctl %s: rollout %s paused at its failure "
                        "threshold: %" PRId64 " succeeded, %" PRId64
                        " failed of %" PRId64 "; `vmctl rollout show %s` "
                        "says why, then `vmctl rollout resume %s` or "
                        "`vmctl rollout abort %s`\n",
                c->name, id, n.succeeded, n.failed, n.total, id, id, id);
    else
        fprintf(stderr, "vmctl %s: rollout %s %s: %" PRId64 " succeeded, %"
                        PRId64 " failed of %" PRId64 "; `vmctl rollout show "
                        "%s` lists the devices\n",
                c->name, id, st, n.succeeded, n.failed, n.total, id);
    return status;
}

/*
 * follow_rollout: poll a rollout once a second until it is final or
 * paused at its failure threshold; a bar on a terminal, a line per
 * change otherwise (both on stderr).
 * Return: the exit status.
 */
static int
follow_rollout(vmctl_ctx_t *c, vmctl_reply_t *r)
{
    int64_t deadline = 0;
    char path[PATH_LEN], id[80], last[160] = "", line[160], st[32];
    bool said_paused = false;
    int rc;

    snprintf(id, sizeof(id), "%s", vmctl_jstr(r->doc, "id"));
    if (id[0] == '\0')
        return vmctl_fail(c, "the reply is not a rollout (no id)");
    if (vmctl_path(path, sizeof(path), "/api/v1/rollouts/%s", id) != 0)
        return vmctl_fail(c, "rollout id too long");
    vmctl_clean(id, id, sizeof(id));
    if (c->g->timeout_set)
        deadline = vmctl_now_ms() + (int64_t)c->g->timeout_s * 1000;
    for (;;) {
        counts_t n = get_counts(r->doc);
        const char *state = vmctl_jstr(r->doc, "state");
        vmctl_reply_t next;

        vmctl_clean(state, st, sizeof(st));
        snprintf(line, sizeof(line), "%" PRId64 "/%" PRId64 " succeeded, %"
                 PRId64 " failed, %" PRId64 " in flight (%s)", n.succeeded,
                 n.total, n.failed, n.in_flight, st);
        if (c->tty)
            vmctl_progress(id, n.total > 0 ? (double)(n.succeeded +
                                                      n.failed) /
                                                 (double)n.total
                                           : 0.0,
                           line);
        else if (strcmp(line, last) != 0)
            fprintf(stderr, "rollout %s: %s\n", id, line);
        snprintf(last, sizeof(last), "%s", line);
        if (rollout_final(state) || paused_by_threshold(r->doc)) {
            vmctl_progress_end();
            if (c->g->json)
                vmctl_reply_print(r);
            return rollout_result(c, r->doc);
        }
        if (strcmp(state, "paused") == 0 && !said_paused) {
            vmctl_progress_end();
            char why[40];

            fprintf(stderr, "vmctl %s: rollout %s is paused (%s); waiting "
                            "for `vmctl rollout resume %s`\n", c->name, id,
                    vmctl_clean(vmctl_jstr(r->doc, "pause_reason"), why,
                                sizeof(why)),
                    id);
            said_paused = true;
        } else if (strcmp(state, "paused") != 0)
            said_paused = false;
        if (deadline != 0 && vmctl_now_ms() >= deadline) {
            vmctl_progress_end();
            if (c->g->json)
                vmctl_reply_print(r);
            return vmctl_fail(c, "rollout %s is still %s after %u s; follow "
                                 "it with `vmctl rollout wait %s`", id, st,
                              c->g->timeout_s, id);
        }
        vmctl_sleep_ms(POLL_MS);
        if ((rc = vmctl_call(c, "GET", path, NULL, &next)) != 0)
            return rc;
        vmctl_reply_clear(r);
        *r = next;
    }
}

/* ---- update -------------------------------------------------------------- */

typedef struct update_opts {
    const char *labels[MAX_LABELS];
    size_t nlabels;
    bool all, wait;
    const char *canary, *batch, *max_failures, *health, *dev_timeout;
    const char *target, *vm, *pkg;
} update_opts_t;

/* A decimal in [0, max] for option `opt`.  Return: 0, or -1. */
static int
parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    unsigned long long v = 0;

    if (*s == '\0' || strlen(s) > 10)
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* "N" or "P%" into the body as a number or the string as given. */
static int
add_count(vmctl_json_t *body, const char *key, uint32_t n, bool pct)
{
    char buf[16];

    if (pct) {
        snprintf(buf, sizeof(buf), "%" PRIu32 "%%", n);
        return vmctl_json_add_str(body, key, buf);
    }
    return vmctl_json_add_num(body, key, (double)n);
}

/*
 * update_body: the POST /api/v1/rollouts body from the options (all
 * checked here, before any request).
 * Return: 0 with *out, VMCTL_EXIT_USAGE (reported), VMCTL_EXIT_FAIL.
 */
static int
update_body(const vmctl_ctx_t *c, const update_opts_t *o, vmctl_json_t **out)
{
    vmctl_json_t *body, *target, *list;
    uint32_t n;
    bool pct;
    size_t i;
    int rc = VMCTL_EXIT_FAIL;

    *out = NULL;
    if ((body = vmctl_json_object()) == NULL ||
        vmctl_json_add_str(body, "vm", o->vm) != 0 ||
        (target = vmctl_json_add_object(body, "target")) == NULL)
        goto nomem;
    if (o->all) {
        if (vmctl_json_add_bool(target, "all", true) != 0)
            goto nomem;
    } else if (o->nlabels > 0) {
        if ((list = vmctl_json_add_object(target, "labels")) == NULL)
            goto nomem;
        for (i = 0; i < o->nlabels; i++) {
            const char *eq = strchr(o->labels[i], '=');
            char key[256];
            size_t klen = eq != NULL ? (size_t)(eq - o->labels[i]) : 0;

            if (eq == NULL || klen == 0 || klen >= sizeof(key) ||
                eq[1] == '\0') {
                rc = vmctl_usage_error(c, "--label '%s': expected "
                                          "KEY=VALUE", o->labels[i]);
                goto fail;
            }
            memcpy(key, o->labels[i], klen);
            key[klen] = '\0';
            if (vmctl_json_get(list, key) != NULL) {
                rc = vmctl_usage_error(c, "--label %s given twice", key);
                goto fail;
            }
            if (vmctl_json_add_str(list, key, eq + 1) != 0)
                goto nomem;
        }
    } else {
        const char *p = o->target;
        size_t ndev = 0;

        if ((list = vmctl_json_add_array(target, "devices")) == NULL)
            goto nomem;
        while (*p != '\0') {
            const char *comma = strchr(p, ',');
            size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
            char dev[256];

            if (len == 0 || len >= sizeof(dev) || ++ndev > MAX_DEVICES) {
                rc = vmctl_usage_error(c, "TARGET '%.64s': expected DEV or "
                                          "DEV,DEV,... (at most %u)",
                                       o->target, MAX_DEVICES);
                goto fail;
            }
            memcpy(dev, p, len);
            dev[len] = '\0';
            if (vmctl_json_push_str(list, dev) != 0)
                goto nomem;
            p += len;
            if (*p == ',' && *++p == '\0') {
                rc = vmctl_usage_error(c, "TARGET '%.64s': a trailing ','",
                                       o->target);
                goto fail;
            }
        }
    }
    if (o->canary != NULL) {
        if (parse_u32(o->canary, VMCTL_COUNT_MAX, &n) != 0) {
            rc = vmctl_usage_error(c, "--canary '%s': expected 0..%u",
                                   o->canary, VMCTL_COUNT_MAX);
            goto fail;
        }
        if (vmctl_json_add_num(body, "canary", (double)n) != 0)
            goto nomem;
    }
    if (o->batch != NULL) {
        if (vmctl_parse_count(o->batch, 1, &n, &pct) != 0) {
            rc = vmctl_usage_error(c, "--batch '%s': expected N (1..%u) or "
                                      "P%% (1..100)", o->batch,
                                   VMCTL_COUNT_MAX);
            goto fail;
        }
        if (add_count(body, "batch", n, pct) != 0)
            goto nomem;
    }
    if (o->max_failures != NULL) {
        if (vmctl_parse_count(o->max_failures, 0, &n, &pct) != 0) {
            rc = vmctl_usage_error(c, "--max-failures '%s': expected N "
                                      "(0..%u) or P%% (0..100)",
                                   o->max_failures, VMCTL_COUNT_MAX);
            goto fail;
        }
        if (add_count(body, "max_failures", n, pct) != 0)
            goto nomem;
    }
    if (o->health != NULL) {
        if (parse_u32(o->health, HEALTH_WINDOW_MAX_MS, &n) != 0) {
            rc = vmctl_usage_error(c, "--health-window '%s': expected "
                                      "milliseconds 0..%u", o->health,
                                   HEALTH_WINDOW_MAX_MS);
            goto fail;
        }
        if (vmctl_json_add_num(body, "health_window_ms", (double)n) != 0)
            goto nomem;
    }
    if (o->dev_timeout != NULL) {
        if (parse_u32(o->dev_timeout, DEVICE_TIMEOUT_MAX_S, &n) != 0) {
            rc = vmctl_usage_error(c, "--device-timeout '%s': expected "
                                      "seconds 0..%u", o->dev_timeout,
                                   DEVICE_TIMEOUT_MAX_S);
            goto fail;
        }
        if (vmctl_json_add_num(body, "device_timeout_s", (double)n) != 0)
            goto nomem;
    }
    *out = body;
    return 0;
nomem:
    fprintf(stderr, "vmctl %s: out of memory\n", c->name);
fail:
    vmctl_json_free(body);
    return rc;
}

int
vmctl_cmd_update(const vmctl_globals_t *g, int argc, char **argv)
{
    update_opts_t o;
    const vmctl_opt_t opts[] = {
        { "--label", NULL, NULL, o.labels, &o.nlabels, MAX_LABELS },
        { "--all", &o.all, NULL, NULL, NULL, 0 },
        { "--canary", NULL, &o.canary, NULL, NULL, 0 },
        { "--batch", NULL, &o.batch, NULL, NULL, 0 },
        { "--max-failures", NULL, &o.max_failures, NULL, NULL, 0 },
        { "--health-window", NULL, &o.health, NULL, NULL, 0 },
        { "--device-timeout", NULL, &o.dev_timeout, NULL, NULL, 0 },
        { "--wait", &o.wait, NULL, NULL, NULL, 0 },
    };
    const char *pos[3];
    char sha[65], id[80], tgt[160];
    vmctl_json_t *body = NULL;
    vmctl_reply_t r;
    vmctl_ctx_t c;
    size_t npos;
    int rc;

    memset(&o, 0, sizeof(o));
    vmctl_ctx_init(&c, g, &vmctl__help_update, "update");
    if ((rc = vmctl_args(&c, argc, argv, 1, opts, sizeof(opts) /
                                                     sizeof(opts[0]),
                         pos, 2, 3, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (o.all && o.nlabels > 0)
        return vmctl_usage_error(&c, "--all and --label exclude each other");
    if ((o.all || o.nlabels > 0) != (npos == 2))
        return vmctl_usage_error(&c, npos == 2
                                         ? "missing TARGET (a device, "
                                           "--label KEY=VALUE or --all)"
                                         : "give TARGET as DEV, or "
                                           "--label/--all, not both");
    if (npos == 3)
        o.target = pos[0];
    o.vm = pos[npos - 2];
    o.pkg = pos[npos - 1];
    if ((rc = update_body(&c, &o, &body)) != 0)
        return rc;
    if ((rc = vmctl_ctx_open(&c)) != 0 ||
        (rc = vmctl_package_arg(&c, o.pkg, o.vm, sha, NULL, 0)) != 0)
        goto out;
    if (vmctl_json_add_str(body, "package", sha) != 0) {
        rc = vmctl_fail(&c, "out of memory");
        goto out;
    }
    if ((rc = vmctl_call(&c, "POST", "/api/v1/rollouts", body, &r)) != 0)
        goto out;
    if (o.wait) {
        if (!g->json)
            fprintf(stderr, "rollout %s created\n",
                    vmctl_clean(vmctl_jstr(r.doc, "id"), id, sizeof(id)));
        rc = follow_rollout(&c, &r);
    } else if (g->json)
        vmctl_reply_print(&r);
    else {
        vmctl_clean(vmctl_jstr(r.doc, "id"), id, sizeof(id));
        printf("rollout %s created: %s %s to %" PRId64 " devices (%s)\n"
               "follow it with `vmctl rollout wait %s`\n", id,
               vmctl_jstr(r.doc, "vm"), vmctl_jstr(r.doc, "version"),
               get_counts(r.doc).total,
               vmctl_clean(vmctl_jstr(r.doc, "target"), tgt, sizeof(tgt)), id);
    }
    vmctl_reply_clear(&r);
out:
    vmctl_json_free(body);
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- rollout ------------------------------------------------------------ */

/* A row of `rollout ls`.  Return: 0, or -1 when out of memory. */
static int
rollout_row(vmctl_table_t *t, const vmctl_json_t *d)
{
    counts_t k = get_counts(d);
    bool paused = strcmp(vmctl_jstr(d, "state"), "paused") == 0 &&
                  vmctl_jstr(d, "pause_reason")[0] != '\0';
    char ago[32];

    if (vmctl_table_cell(t, "%s", vmctl_jstr(d, "id")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "vm")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "version")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "target")) != 0 ||
        vmctl_table_cell(t, "%s%s%s%s", vmctl_jstr(d, "state"),
                         paused ? " (" : "",
                         paused ? vmctl_jstr(d, "pause_reason") : "",
                         paused ? ")" : "") != 0 ||
        vmctl_table_cell(t, "%" PRId64 "/%" PRId64 " ok, %" PRId64
                         " failed", k.succeeded, k.total, k.failed) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_ago(vmctl_jint(d, "created_ms"),
                                            vmctl_now_ms(), ago,
                                            sizeof(ago))) != 0)
        return -1;
    return 0;
}

static int
rollout_ls(vmctl_ctx_t *c, int argc, char **argv, int first)
{
    static const char *const hdr[] = { "ID",     "VM",    "VERSION",
                                       "TARGET", "STATE", "PROGRESS",
                                       "CREATED" };
    const char *pos[1];
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, first, NULL, 0, pos, 0, 0,
                         &npos)) != 0)
        return rc < 0 ? 0 : rc;
    return vmctl_list(c, "/api/v1/rollouts", "rollouts", hdr, 7,
                      rollout_row);
}

static void
kv(const char *key, const char *value)
{
    char clean[512];

    printf("%-16s %s\n", key, vmctl_clean(value, clean, sizeof(clean)));
}

/* A rollout and its devices, for `rollout show`.  Return: 0 or -1. */
static int
rollout_show(const vmctl_json_t *d)
{
    static const char *const hdr[] = { "DEVICE", "BATCH",   "STATE", "CODE",
                                       "UPDATED", "MESSAGE" };
    const vmctl_json_t *devs = vmctl_json_get(d, "devices");
    char buf[256], a[32], b[32], m[32];
    counts_t k = get_counts(d);
    int64_t now = vmctl_now_ms();
    vmctl_table_t *t;
    size_t i, n = vmctl_json_len(devs);

    kv("id", vmctl_jstr(d, "id"));
    kv("vm", vmctl_jstr(d, "vm"));
    kv("version", vmctl_jstr(d, "version"));
    kv("package", vmctl_jstr(d, "package"));
    kv("target", vmctl_jstr(d, "target"));
    snprintf(buf, sizeof(buf), "%s%s%s%s", vmctl_jstr(d, "state"),
             vmctl_jstr(d, "pause_reason")[0] ? " (" : "",
             vmctl_jstr(d, "pause_reason"),
             vmctl_jstr(d, "pause_reason")[0] ? ")" : "");
    kv("state", buf);
    snprintf(buf, sizeof(buf), "canary %s, batch %s, max failures %s",
             vmctl_json_text(vmctl_json_get(d, "canary"), "-", a, sizeof(a)),
             vmctl_json_text(vmctl_json_get(d, "batch"), "-", b, sizeof(b)),
             vmctl_json_text(vmctl_json_get(d, "max_failures"), "-", m,
                             sizeof(m)));
    kv("batches", buf);
    snprintf(buf, sizeof(buf), "%" PRId64 " total: %" PRId64
             " succeeded, %" PRId64 " failed, %" PRId64 " in flight, %"
             PRId64 " waiting", k.total, k.succeeded, k.failed, k.in_flight,
             k.waiting);
    kv("devices", buf);
    kv("created", vmctl_ago(vmctl_jint(d, "created_ms"), now, a, sizeof(a)));
    kv("updated", vmctl_ago(vmctl_jint(d, "updated_ms"), now, a, sizeof(a)));
    if (n == 0)
        return 0;
    printf("\n");
    if ((t = vmctl_table_new(hdr, 6)) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const vmctl_json_t *v = vmctl_json_at(devs, i, NULL);
        const char *msg = vmctl_jstr(v, "message");

        vmctl_json_text(vmctl_json_get(v, "code"), "-", buf, sizeof(buf));
        if (vmctl_table_row(t) != 0 ||
            vmctl_table_cell(t, "%s", vmctl_jstr(v, "device")) != 0 ||
            vmctl_table_cell(t, "%" PRId64, vmctl_jint(v, "batch")) != 0 ||
            vmctl_table_cell(t, "%s", vmctl_jstr(v, "state")) != 0 ||
            vmctl_table_cell(t, "%s", buf) != 0 ||
            vmctl_table_cell(t, "%s", vmctl_ago(vmctl_jint(v, "updated_ms"),
                                                now, a, sizeof(a))) != 0 ||
            vmctl_table_cell(t, "%s", msg[0] ? msg : "-") != 0) {
            vmctl_table_free(t);
            return -1;
        }
    }
    vmctl_table_print(t, stdout);
    vmctl_table_free(t);
    return 0;
}

int
vmctl_cmd_rollout(const vmctl_globals_t *g, int argc, char **argv)
{
    static const char *const subs[] = { "show", "pause", "resume", "abort",
                                        "wait" };
    const char *pos[1], *sub;
    char path[PATH_LEN], id[80], st[32];
    vmctl_reply_t r;
    vmctl_ctx_t c;
    size_t npos, i;
    bool get;
    int rc;

    vmctl_ctx_init(&c, g, &vmctl__help_rollout, argv[0]);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "--help") == 0)) {
        vmctl_help_print(&vmctl__help_rollout, stdout);
        return 0;
    }
    sub = argc >= 2 && argv[1][0] != '-' ? argv[1] : NULL;
    if (sub == NULL || strcmp(sub, "ls") == 0) {
        if (sub == NULL && strcmp(argv[0], "rollouts") != 0)
            return vmctl_usage_error(&c, "missing subcommand");
        snprintf(c.name, sizeof(c.name), "rollout ls");
        rc = rollout_ls(&c, argc, argv, sub != NULL ? 2 : 1);
        goto out;
    }
    for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (strcmp(sub, subs[i]) == 0)
            break;
    if (i == sizeof(subs) / sizeof(subs[0]))
        return vmctl_usage_error(&c, "unknown subcommand '%s'", sub);
    snprintf(c.name, sizeof(c.name), "rollout %s", sub);
    if ((rc = vmctl_args(&c, argc, argv, 2, NULL, 0, pos, 1, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    get = strcmp(sub, "show") == 0 || strcmp(sub, "wait") == 0;
    if ((get ? vmctl_path(path, sizeof(path), "/api/v1/rollouts/%s", pos[0])
             : vmctl_path(path, sizeof(path), "/api/v1/rollouts/%s/%s",
                          pos[0], sub)) != 0)
        return vmctl_usage_error(&c, "ID: too long");
    if ((rc = vmctl_ctx_open(&c)) != 0 ||
        (rc = vmctl_call(&c, get ? "GET" : "POST", path, NULL, &r)) != 0)
        goto out;
    if (strcmp(sub, "wait") == 0)
        rc = follow_rollout(&c, &r);
    else if (g->json)
        vmctl_reply_print(&r);
    else if (strcmp(sub, "show") == 0) {
        if (rollout_show(r.doc) != 0)
            rc = vmctl_fail(&c, "out of memory");
    } else
        printf("rollout %s: %s\n",
               vmctl_clean(vmctl_jstr(r.doc, "id"), id, sizeof(id)),
               vmctl_clean(vmctl_jstr(r.doc, "state"), st, sizeof(st)));
    vmctl_reply_clear(&r);
out:
    vmctl_ctx_close(&c);
    return rc;
}
