/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctl: the remote commands' machinery (remote.h) and the commands for
 * devices, VMs, snapshots, commands and packages.  Each command parses
 * its arguments first (a usage error costs no request), then opens its
 * context, makes one or a few requests and prints either a table for
 * humans or, with --json, the last reply as the server sent it.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "out.h"
#include "remote.h"
#include "vmctl.h"
#include "vmf/vpk.h"

#define PATH_LEN 1024
#define SEG_LEN 512          /* one escaped path segment or query value */
#define MSG_LEN 512          /* a message from the server, as printed */
#define POLL_MIN_MS 1000     /* a non-final command: at most one GET/s */
#define LONG_POLL_MAX_S 30u  /* GET /commands/{id}?wait=..., at most */
#define MAX_LABELS 16
#define SHA_HEX 64
#define DEVICES_PAGE 1000    /* devices per request (the API's limit) */
#define LOG_BYTES_MAX 65536u /* vm logs --bytes, at most */

/* ---- context, arguments, help --------------------------------------- */

static const char global_help[] =
    "Global options (before or after the command):\n"
    "  --server URL   vmctld's URL (VMCTL_SERVER; default "
    VMCTL_DEFAULT_SERVER ")\n"
    "  --token TOKEN  API token (VMCTL_TOKEN)\n"
    "  --cacert FILE  CA certificate(s) for https (VMCTL_CACERT)\n"
    "  --insecure     do not verify the server's TLS certificate\n"
    "  --timeout S    wait at most S seconds (default 120)\n"
    "  --json         print the server's JSON reply as it is\n"
    "Exit status: 0 ok, 1 failed, 2 usage error, 3 partial (a rollout with"
    "\nsome devices succeeded and some failed).\n";

void
vmctl_help_print(const vmctl_help_t *h, FILE *f)
{
    fprintf(f, "usage: %s\n", h->usage);
    if (h->text[0] != '\0')
        fprintf(f, "\n%s", h->text);
    fprintf(f, "\n%s", global_help);
}

void
vmctl_ctx_init(vmctl_ctx_t *c, const vmctl_globals_t *g,
               const vmctl_help_t *help, const char *name)
{
    memset(c, 0, sizeof(*c));
    c->g = g;
    c->help = help;
    snprintf(c->name, sizeof(c->name), "%s", name);
}

int
vmctl_usage_error(const vmctl_ctx_t *c, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "vmctl %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n(vmctl %s --help for more)\n",
            c->help->usage, c->help->name);
    return VMCTL_EXIT_USAGE;
}

int
vmctl_fail(const vmctl_ctx_t *c, const char *fmt, ...)
{
    va_list ap;

    vmctl_progress_end();
    fprintf(stderr, "vmctl %s: ", c->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return VMCTL_EXIT_FAIL;
}

static bool
is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int
vmctl_args(const vmctl_ctx_t *c, int argc, char **argv, int first,
           const vmctl_opt_t *opts, size_t nopts, const char **pos,
           size_t minpos, size_t maxpos, size_t *npos)
{
    bool rest = false;
    size_t k;
    int i;

    *npos = 0;
    for (i = first; i < argc; i++) {
        const char *a = argv[i], *eq, *v;
        const vmctl_opt_t *o = NULL;
        size_t n;

        if (!rest && is_help(a)) {
            vmctl_help_print(c->help, stdout);
            return -1;
        }
        if (!rest && strcmp(a, "--") == 0) {
            rest = true;
            continue;
        }
        if (rest || a[0] != '-' || a[1] == '\0') {
            if (*npos == maxpos)
                return vmctl_usage_error(c, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        eq = strchr(a, '=');
        n = eq != NULL ? (size_t)(eq - a) : strlen(a);
        for (k = 0; k < nopts && o == NULL; k++)
            if (strlen(opts[k].name) == n &&
                strncmp(a, opts[k].name, n) == 0)
                o = &opts[k];
        if (o == NULL)
            return vmctl_usage_error(c, "unknown option '%s'", a);
        if (o->flag != NULL) {
            if (eq != NULL)
                return vmctl_usage_error(c, "%s takes no value",
                                         o->name);
            *o->flag = true;
            continue;
        }
        if (eq != NULL)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return vmctl_usage_error(c, "%s: missing value", o->name);
        if (o->value != NULL)
            *o->value = v;
        else {
            if (*o->nlist == o->max)
                return vmctl_usage_error(c, "%s: at most %zu", o->name,
                                         o->max);
            o->list[(*o->nlist)++] = v;
        }
    }
    if (*npos < minpos)
        return vmctl_usage_error(c, "missing arguments");
    return 0;
}

static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
    vmctl_ctx_t *c = arg;
    char a[32], b[32], text[80];

    vmctl_size(done, a, sizeof(a));
    if (total > 0) {
        vmctl_size(total, b, sizeof(b));
        snprintf(text, sizeof(text), "%s / %s", a, b);
    } else
        snprintf(text, sizeof(text), "%s", a);
    vmctl_progress(c->progress_label != NULL ? c->progress_label
                                             : "transfer",
                   total > 0 ? (double)done / (double)total : 0.0, text);
}

int
vmctl_ctx_open(vmctl_ctx_t *c)
{
    vmctl_http_opts_t o;
    char err[512];
    int rc;

    if (vmctl_conf_load(c->g, &c->conf, err, sizeof(err)) != 0)
        return vmctl_fail(c, "%s", err);
    c->tty = vmctl_stderr_tty();
    memset(&o, 0, sizeof(o));
    o.server = c->conf.server;
    o.token = c->conf.token;
    o.cacert = c->conf.cacert[0] != '\0' ? c->conf.cacert : NULL;
    o.insecure = c->g->insecure;
    o.timeout_s = c->g->timeout_s;
    if (c->tty) {
        o.progress = on_progress;
        o.progress_arg = c;
    }
    if ((rc = vmctl_http_create(&o, &c->http)) != 0)
        return vmctl_fail(c, "%s: %s", c->conf.server,
                          vmctl_http_strerror(rc));
    return 0;
}

void
vmctl_ctx_close(vmctl_ctx_t *c)
{
    vmctl_progress_end();
    vmctl_http_destroy(c->http);
    c->http = NULL;
}

void
vmctl_reply_clear(vmctl_reply_t *r)
{
    free(r->raw);
    vmctl_json_free(r->doc);
    memset(r, 0, sizeof(*r));
}

void
vmctl_reply_print(const vmctl_reply_t *r)
{
    if (r->raw == NULL || r->len == 0)
        return;
    fwrite(r->raw, 1, r->len, stdout);
    if (r->raw[r->len - 1] != '\n')
        fputc('\n', stdout);
}

int
vmctl_path(char *out, size_t len, const char *fmt, ...)
{
    char seg[SEG_LEN];
    size_t o = 0;
    va_list ap;
    int rc = 0;

    va_start(ap, fmt);
    for (; *fmt != '\0' && rc == 0; fmt++) {
        if (fmt[0] == '%' && fmt[1] == 's') {
            size_t n;

            fmt++;
            if (vmctl_http_escape(va_arg(ap, const char *), seg,
                                  sizeof(seg)) != 0 ||
                (n = strlen(seg)) >= len - o) {
                rc = -1;
                break;
            }
            memcpy(out + o, seg, n);
            o += n;
        } else if (o + 1 < len)
            out[o++] = *fmt;
        else
            rc = -1;
    }
    va_end(ap);
    if (len > 0)
        out[o < len ? o : len - 1] = '\0';
    return rc;
}

/*
 * report_transport: a request that got no HTTP answer, with what to do
 * next.
 */
static void
report_transport(const vmctl_ctx_t *c, int rc, const char *detail)
{
    const char *srv = c->conf.server;

    switch (rc) {
    case VMCTL_HTTP_EREFUSED:
        vmctl_fail(c, "cannot reach vmctld at %s: connection refused; is "
                      "vmctld running? set --server or VMCTL_SERVER", srv);
        break;
    case VMCTL_HTTP_ECONNECT:
    case VMCTL_HTTP_ERESOLVE:
        vmctl_fail(c, "cannot reach vmctld at %s: %s; set --server or "
                      "VMCTL_SERVER", srv, detail);
        break;
    case VMCTL_HTTP_ETIMEDOUT:
        vmctl_fail(c, "no answer from vmctld at %s in time (%s); is it "
                      "overloaded or the network down? raise --timeout to "
                      "wait longer", srv, detail);
        break;
    case VMCTL_HTTP_ETLS:
        vmctl_fail(c, "TLS with %s failed: %s; give the server's CA with "
                      "--cacert (or VMCTL_CACERT), or skip the check with "
                      "--insecure", srv, detail);
        break;
    case VMCTL_HTTP_EURL:
        vmctl_fail(c, "bad server URL '%s' (%s): expected "
                      "http://HOST:PORT or https://HOST:PORT", srv, detail);
        break;
    default:
        vmctl_fail(c, "%s: %s (%s)", srv, vmctl_http_strerror(rc), detail);
        break;
    }
}

/*
 * report_api_error: the one place where the API's error codes
 * (docs/api.md) become text, each with what to do next.
 */
static void
report_api_error(const vmctl_ctx_t *c, long status, const char *code,
                 const char *message)
{
    char msg[MSG_LEN], cd[64];

    vmctl_clean(message != NULL ? message : "", msg, sizeof(msg));
    vmctl_clean(code, cd, sizeof(cd));
    if (code == NULL)
        vmctl_fail(c, "unexpected reply from %s: HTTP %ld; is it vmctld? "
                      "set --server or VMCTL_SERVER", c->conf.server,
                   status);
    else if (strcmp(code, "E_UNAUTHORIZED") == 0) {
        if (c->conf.token[0] == '\0')
            vmctl_fail(c, "no token given (E_UNAUTHORIZED): set --token "
                          "or VMCTL_TOKEN, or `token` in %s",
                       c->conf.file[0] != '\0' ? c->conf.file
                                               : "~/.config/vmctl/config");
        else
            vmctl_fail(c, "token rejected (E_UNAUTHORIZED): set --token or "
                          "VMCTL_TOKEN (this one came from %s)",
                       strcmp(c->conf.token_from, "config") == 0
                           ? c->conf.file
                           : c->conf.token_from);
    } else if (strcmp(code, "E_FORBIDDEN") == 0)
        vmctl_fail(c, "%s (E_FORBIDDEN): this token may only read; use an "
                      "operator token", msg[0] ? msg : "not allowed");
    else if (strcmp(code, "E_BAD_PACKAGE") == 0)
        vmctl_fail(c, "package rejected: %s (E_BAD_PACKAGE); check it with "
                      "`vmctl inspect P.vpk --key KEY.pub` against a key "
                      "vmctld trusts", msg);
    else if (strcmp(code, "E_TOO_LARGE") == 0)
        vmctl_fail(c, "%s (E_TOO_LARGE): over vmctld's http.max_body or "
                      "http.max_upload", msg);
    else if (strcmp(code, "E_CONFLICT") == 0)
        vmctl_fail(c, "%s (E_CONFLICT): not allowed in its current state",
                   msg);
    else if (strcmp(code, "E_UNAVAILABLE") == 0)
        vmctl_fail(c, "vmctld is shutting down (E_UNAVAILABLE): try again "
                      "once it is back");
    else if (strcmp(code, "E_INTERNAL") == 0)
        vmctl_fail(c, "vmctld failed: %s (E_INTERNAL); its log says more",
                   msg);
    else if (strcmp(code, "E_METHOD") == 0 ||
             strcmp(code, "E_MEDIA_TYPE") == 0 ||
             strcmp(code, "E_LENGTH_REQUIRED") == 0 ||
             strcmp(code, "E_BAD_JSON") == 0)
        vmctl_fail(c, "%s (%s): vmctl and vmctld do not agree; are they "
                      "the same version?", msg, cd);
    else    /* E_INVALID, E_NOT_FOUND: the message names what. */
        vmctl_fail(c, "%s (%s)", msg[0] ? msg : "failed", cd);
}

int
vmctl_call_raw(vmctl_ctx_t *c, const char *method, const char *path,
               const char *ctype, const void *body, size_t len,
               unsigned wait_s, vmctl_reply_t *r)
{
    vmctl_http_resp_t resp;
    char err[VMCTL_HTTP_ERR_LEN];
    int rc;

    memset(r, 0, sizeof(*r));
    err[0] = '\0';
    rc = vmctl_http_request(c->http, method, path, ctype, body, len, wait_s,
                            VMCTL_REPLY_MAX, &resp, err, sizeof(err));
    /* An upload's bar ends with it; a rollout's or command's goes on. */
    if (c->progress_label != NULL)
        vmctl_progress_end();
    if (rc != 0) {
        report_transport(c, rc, err);
        return VMCTL_EXIT_FAIL;
    }
    r->status = resp.status;
    r->raw = resp.body;
    r->len = resp.len;
    if (r->len > 0)
        r->doc = vmctl_json_parse(r->raw, r->len);
    if (r->status >= 400) {
        const vmctl_json_t *e = vmctl_json_get(r->doc, "error");

        if (c->g->json && r->doc != NULL)
            vmctl_reply_print(r);
        report_api_error(c, r->status, vmctl_json_str(e, "code"),
                         vmctl_json_str(e, "message"));
        vmctl_reply_clear(r);
        return VMCTL_EXIT_FAIL;
    }
    if (r->status < 200 || r->status >= 300 ||
        (r->len > 0 && r->doc == NULL)) {
        report_api_error(c, r->status, NULL, NULL);
        vmctl_reply_clear(r);
        return VMCTL_EXIT_FAIL;
    }
    return 0;
}

int
vmctl_call(vmctl_ctx_t *c, const char *method, const char *path,
           const vmctl_json_t *body, vmctl_reply_t *r)
{
    char *text = NULL;
    int rc;

    memset(r, 0, sizeof(*r));
    if (body != NULL && (text = vmctl_json_print(body)) == NULL)
        return vmctl_fail(c, "out of memory");
    rc = vmctl_call_raw(c, method, path, text ? "application/json" : NULL,
                        text, text ? strlen(text) : 0, 0, r);
    free(text);
    return rc;
}

/* ---- small helpers -------------------------------------------------- */

bool
vmctl_is_hex(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
              (*s >= 'A' && *s <= 'F')))
            return false;
    return true;
}

int
vmctl_parse_count(const char *s, uint32_t min, uint32_t *n, bool *pct)
{
    unsigned long long v = 0;
    size_t len = strlen(s), i, digits;
    uint32_t max;

    *pct = len > 0 && s[len - 1] == '%';
    digits = *pct ? len - 1 : len;
    if (digits == 0 || digits > 7)
        return -1;
    for (i = 0; i < digits; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    max = *pct ? 100u : VMCTL_COUNT_MAX;
    if (v < min || v > max)
        return -1;
    *n = (uint32_t)v;
    return 0;
}

int64_t
vmctl_jint(const vmctl_json_t *o, const char *key)
{
    int64_t v = 0;

    return vmctl_json_int(o, key, &v) ? v : 0;
}

const char *
vmctl_jstr(const vmctl_json_t *o, const char *key)
{
    const char *s = vmctl_json_str(o, key);

    return s != NULL ? s : "";
}

int
vmctl_list(vmctl_ctx_t *c, const char *path, const char *key,
           const char *const *hdr, size_t ncols, vmctl_row_fn row)
{
    const vmctl_json_t *list;
    vmctl_table_t *t = NULL;
    vmctl_reply_t r;
    size_t i, n;
    int rc;

    if ((rc = vmctl_ctx_open(c)) != 0 ||
        (rc = vmctl_call(c, "GET", path, NULL, &r)) != 0)
        return rc;
    list = vmctl_json_get(r.doc, key);
    n = vmctl_json_len(list);
    if (c->g->json)
        vmctl_reply_print(&r);
    else if (n == 0)
        printf("no %s\n", key);
    else if ((t = vmctl_table_new(hdr, ncols)) == NULL)
        rc = vmctl_fail(c, "out of memory");
    for (i = 0; t != NULL && i < n; i++) {
        if (vmctl_table_row(t) != 0 ||
            row(t, vmctl_json_at(list, i, NULL)) != 0) {
            rc = vmctl_fail(c, "out of memory");
            break;
        }
    }
    if (t != NULL && rc == 0)
        vmctl_table_print(t, stdout);
    vmctl_table_free(t);
    vmctl_reply_clear(&r);
    return rc;
}


/* A scalar member as table text, `dflt` if it is missing or empty. */
static const char *
jtext(const vmctl_json_t *o, const char *key, const char *dflt, char *buf,
      size_t len)
{
    vmctl_json_text(vmctl_json_get(o, key), dflt, buf, len);
    if (buf[0] == '\0')
        snprintf(buf, len, "%s", dflt);
    return buf;
}

/* "k=v,k2=v2" from a labels object. */
static const char *
labels_text(const vmctl_json_t *labels, char *buf, size_t len)
{
    size_t i, n = vmctl_json_len(labels), o = 0;
    char val[256];

    buf[0] = '\0';
    if (!vmctl_json_is_object(labels) || n == 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    for (i = 0; i < n && o < len; i++) {
        const char *key;
        const vmctl_json_t *v = vmctl_json_at(labels, i, &key);
        int w;

        vmctl_json_text(v, "", val, sizeof(val));
        w = snprintf(buf + o, len - o, "%s%s=%s", i ? "," : "", key, val);
        if (w < 0)
            break;
        o += (size_t)w;
    }
    return buf;
}

static void
kv(const char *key, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One "key       value" line of a show command; control characters of
 * the value are shown as '?'. */
static void
kv(const char *key, const char *fmt, ...)
{
    char buf[1024], clean[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    printf("%-16s %s\n", key, vmctl_clean(buf, clean, sizeof(clean)));
}

/* ---- following a command -------------------------------------------- */

static bool
state_is(const vmctl_json_t *cmd, const char *state)
{
    return strcmp(vmctl_jstr(cmd, "state"), state) == 0;
}

static bool
cmd_final(const vmctl_json_t *cmd)
{
    bool fin = false;

    if (vmctl_json_bool(cmd, "final", &fin))
        return fin;
    return state_is(cmd, "succeeded") || state_is(cmd, "failed") ||
           state_is(cmd, "expired") || state_is(cmd, "timed_out") ||
           state_is(cmd, "cancelled");
}

static void
say_queued(const vmctl_ctx_t *c, const vmctl_json_t *cmd)
{
    char ago[32], when[32], id[80], dev[80];
    int64_t exp = vmctl_jint(cmd, "expires_ms");

    vmctl_clean(vmctl_jstr(cmd, "id"), id, sizeof(id));
    vmctl_clean(vmctl_jstr(cmd, "device"), dev, sizeof(dev));
    vmctl_progress_end();
    if (exp > 0)
        fprintf(stderr, "vmctl %s: %s is offline: command %s queued until "
                        "%s comes back (expires %s, %s)\n",
                c->name, dev, id, dev,
                vmctl_ago(exp, vmctl_now_ms(), ago, sizeof(ago)),
                vmctl_when(exp, when, sizeof(when)));
    else
        fprintf(stderr, "vmctl %s: %s is offline: command %s queued until "
                        "%s comes back\n", c->name, dev, id, dev);
}

/*
 * command_result: print a final command's outcome.
 * Return: VMCTL_EXIT_OK if it succeeded, else VMCTL_EXIT_FAIL.
 */
static int
command_result(const vmctl_ctx_t *c, const vmctl_json_t *cmd)
{
    char code[64], msg[MSG_LEN], id[80], dev[80], vm[80], kind[32];
    const char *state = vmctl_jstr(cmd, "state");

    jtext(cmd, "code", "-", code, sizeof(code));
    vmctl_clean(code, code, sizeof(code));
    vmctl_clean(vmctl_jstr(cmd, "message"), msg, sizeof(msg));
    vmctl_clean(vmctl_jstr(cmd, "id"), id, sizeof(id));
    vmctl_clean(vmctl_jstr(cmd, "device"), dev, sizeof(dev));
    vmctl_clean(vmctl_jstr(cmd, "vm"), vm, sizeof(vm));
    vmctl_clean(vmctl_jstr(cmd, "kind"), kind, sizeof(kind));
    if (strcmp(state, "succeeded") == 0) {
        if (c->g->json)
            return VMCTL_EXIT_OK;
        if (strcmp(kind, "snapshot") == 0) {
            char sha[80];

            printf("%s\n", vmctl_clean(vmctl_jstr(cmd, "snapshot"), sha,
                                       sizeof(sha)));
        } else if (vmctl_jstr(cmd, "version")[0] != '\0' &&
                   strcmp(kind, "destroy") != 0) {
            char ver[64];

            printf("%s %s: %s succeeded (version %s)\n", dev, vm, kind,
                   vmctl_clean(vmctl_jstr(cmd, "version"), ver, sizeof(ver)));
        } else
            printf("%s %s: %s succeeded\n", dev, vm, kind);
        return VMCTL_EXIT_OK;
    }
    if (strcmp(state, "expired") == 0)
        return vmctl_fail(c, "command %s expired: %s did not come back "
                             "before it expired", id, dev);
    if (strcmp(state, "timed_out") == 0)
        return vmctl_fail(c, "command %s timed out: no final result from "
                             "%s in time%s%s", id, dev, msg[0] ? ": " : "",
                          msg);
    if (strcmp(state, "cancelled") == 0)
        return vmctl_fail(c, "command %s was cancelled", id);
    return vmctl_fail(c, "%s %s: %s failed: %s%s%s", dev, vm, kind, code,
                      msg[0] ? ": " : "", msg);
}

int
vmctl_follow_command(vmctl_ctx_t *c, vmctl_reply_t *r, bool wait)
{
    int64_t start = vmctl_now_ms(), deadline;
    char path[PATH_LEN], id[80], st[32];
    bool said_queued = false;

    if (!vmctl_json_is_object(r->doc) || vmctl_jstr(r->doc, "id")[0] == '\0')
        return vmctl_fail(c, "the reply is not a command (no id)");
    snprintf(id, sizeof(id), "%s", vmctl_jstr(r->doc, "id"));
    deadline = start + (int64_t)c->g->timeout_s * 1000;
    for (;;) {
        vmctl_reply_t next;
        int64_t now = vmctl_now_ms(), t0;
        unsigned wait_s;
        int rc;

        if (cmd_final(r->doc)) {
            vmctl_progress_end();
            if (c->g->json)
                vmctl_reply_print(r);
            return command_result(c, r->doc);
        }
        if (state_is(r->doc, "queued") && !said_queued) {
            say_queued(c, r->doc);
            said_queued = true;
        }
        if (!wait) {
            if (c->g->json)
                vmctl_reply_print(r);
            else
                printf("command %s %s\n", vmctl_clean(id, id, sizeof(id)),
                       vmctl_clean(vmctl_jstr(r->doc, "state"), st,
                                   sizeof(st)));
            return VMCTL_EXIT_OK;
        }
        if (c->tty && state_is(r->doc, "accepted") &&
            vmctl_jint(r->doc, "percent") > 0) {
            char text[32], kind[32];
            int64_t pct = vmctl_jint(r->doc, "percent");

            snprintf(text, sizeof(text), "%" PRId64 "%%", pct);
            vmctl_progress(vmctl_clean(vmctl_jstr(r->doc, "kind"), kind,
                                       sizeof(kind)),
                           (double)pct / 100.0, text);
        }
        if (now >= deadline) {
            vmctl_progress_end();
            if (c->g->json)
                vmctl_reply_print(r);
            vmctl_clean(id, id, sizeof(id));
            if (state_is(r->doc, "queued")) {
                char dev[80];

                return vmctl_fail(c, "command %s is still queued until %s "
                                     "comes back; check it with `vmctl "
                                     "command show %s`", id,
                                  vmctl_clean(vmctl_jstr(r->doc, "device"), dev,
                                              sizeof(dev)), id);
            }
            return vmctl_fail(c, "command %s is still %s after %u s; check "
                                 "it with `vmctl command show %s`", id,
                              vmctl_clean(vmctl_jstr(r->doc, "state"), st,
                                          sizeof(st)),
                              c->g->timeout_s, id);
        }
        wait_s = (unsigned)((deadline - now + 999) / 1000);
        if (wait_s > LONG_POLL_MAX_S)
            wait_s = LONG_POLL_MAX_S;
        if (wait_s == 0)
            wait_s = 1;
        if (vmctl_path(path, sizeof(path), "/api/v1/commands/%s", id) != 0)
            return vmctl_fail(c, "command id too long");
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "?wait=%u", wait_s);
        t0 = vmctl_now_ms();
        if ((rc = vmctl_call_raw(c, "GET", path, NULL, NULL, 0, wait_s,
                                 &next)) != 0)
            return rc;
        vmctl_reply_clear(r);
        *r = next;
        /* The server answers at once when it cannot hold the request
         * (or when it changed); do not spin on it. */
        now = vmctl_now_ms();
        if (!cmd_final(r->doc) && now - t0 < POLL_MIN_MS &&
            now < deadline)
            vmctl_sleep_ms((unsigned)(POLL_MIN_MS - (now - t0)));
    }
}

/* ---- packages and snapshots by SHA-256 ------------------------------ */

/*
 * resolve_sha: a full SHA-256, or a unique prefix of at least 8 hex
 * digits looked up in the list at `list_path` (member `member`).
 * Return: 0 with sha filled, VMCTL_EXIT_USAGE, or VMCTL_EXIT_FAIL.
 */
static int
resolve_sha(vmctl_ctx_t *c, const char *arg, const char *what,
            const char *list_path, const char *member, char *sha)
{
    vmctl_reply_t r;
    const vmctl_json_t *list;
    size_t len = strlen(arg), i, n, found = 0;
    int rc;

    if (!vmctl_is_hex(arg) || len < 8 || len > SHA_HEX)
        return vmctl_usage_error(c, "%s '%s': expected a SHA-256 or a "
                                    "prefix of at least 8 hex digits",
                                 what, arg);
    if (len == SHA_HEX) {
        for (i = 0; i <= len; i++)
            sha[i] = (char)((arg[i] >= 'A' && arg[i] <= 'F')
                                ? arg[i] - 'A' + 'a' : arg[i]);
        return 0;
    }
    if ((rc = vmctl_call(c, "GET", list_path, NULL, &r)) != 0)
        return rc;
    list = vmctl_json_get(r.doc, member);
    n = vmctl_json_len(list);
    for (i = 0; i < n; i++) {
        const char *s = vmctl_json_str(vmctl_json_at(list, i, NULL),
                                       "sha256");
        size_t k;

        if (s == NULL || strlen(s) != SHA_HEX)
            continue;
        for (k = 0; k < len; k++)
            if ((arg[k] | 0x20) != s[k])
                break;
        if (k == len) {
            if (found++ == 0)
                memcpy(sha, s, SHA_HEX + 1);
        }
    }
    vmctl_reply_clear(&r);
    if (found == 0)
        return vmctl_fail(c, "no %s starts with %s (vmctl %s ls lists "
                             "them)", what, arg, member);
    if (found > 1)
        return vmctl_fail(c, "%s prefix %s is ambiguous: %zu match; give "
                             "more digits", what, arg, found);
    return 0;
}

int
vmctl_package_arg(vmctl_ctx_t *c, const char *arg, const char *want_vm,
                  char *sha, char *vm, size_t vmlen)
{
    char path[PATH_LEN], err[512] = "";
    vmctl_reply_t r;
    vpk_view_t view;
    uint8_t *buf = NULL;
    size_t len = 0;
    const char *s, *pvm;
    int rc;

    if (!vmctl_file_exists(arg)) {
        if (strlen(arg) != SHA_HEX || !vmctl_is_hex(arg))
            return vmctl_fail(c, "%s: no such file (and not a package's "
                                 "SHA-256)", arg);
        if ((rc = resolve_sha(c, arg, "package", "/api/v1/packages",
                              "packages", sha)) != 0)
            return rc;
        if (vmctl_path(path, sizeof(path), "/api/v1/packages/%s", sha) != 0)
            return vmctl_fail(c, "bad package id");
        if ((rc = vmctl_call(c, "GET", path, NULL, &r)) != 0)
            return rc;
    } else {
        if (vmctl_file_read(arg, (size_t)VPK_MODULE_MAX + VPK_MANIFEST_MAX +
                                     VPK_SIG_MAX + 64,
                            &buf, &len, err, sizeof(err)) != 0)
            return vmctl_fail(c, "%s", err);
        /* Checked here first: a wrong file costs no upload. */
        if ((rc = vpk_parse(buf, len, &view, err, sizeof(err))) != 0) {
            free(buf);
            return vmctl_fail(c, "%s: not a package: %s", arg,
                              err[0] ? err : vpk_strerror(rc));
        }
        if (want_vm != NULL && strcmp(view.manifest.vm_name, want_vm) != 0) {
            rc = vmctl_fail(c, "%s is a package for VM '%s', not '%s'", arg,
                            view.manifest.vm_name, want_vm);
            free(buf);
            return rc;
        }
        c->progress_label = "upload";
        rc = vmctl_call_raw(c, "POST", "/api/v1/packages",
                            "application/octet-stream", buf, len, 0, &r);
        c->progress_label = NULL;
        free(buf);
        if (rc != 0)
            return rc;
    }
    s = vmctl_json_str(r.doc, "sha256");
    pvm = vmctl_json_str(r.doc, "vm");
    if (s == NULL || strlen(s) != SHA_HEX || !vmctl_is_hex(s) ||
        pvm == NULL) {
        vmctl_reply_clear(&r);
        return vmctl_fail(c, "the reply is not a package (no sha256, vm)");
    }
    memcpy(sha, s, SHA_HEX + 1);
    if (want_vm != NULL && strcmp(pvm, want_vm) != 0) {
        char clean[80];

        rc = vmctl_fail(c, "package %.12s is for VM '%s', not '%s'", sha,
                        vmctl_clean(pvm, clean, sizeof(clean)), want_vm);
        vmctl_reply_clear(&r);
        return rc;
    }
    if (vm != NULL)
        snprintf(vm, vmlen, "%s", pvm);
    vmctl_reply_clear(&r);
    return 0;
}

/* ---- info ------------------------------------------------------------ */

static const vmctl_help_t help_info = {
    "info", "vmctl info",
    "Shows vmctld's version, its MQTT connection and what it manages.\n"
};

int
vmctl_cmd_info(const vmctl_globals_t *g, int argc, char **argv)
{
    vmctl_ctx_t c;
    vmctl_reply_t r;
    const char *pos[1];
    size_t npos;
    char ago[32], buf[64];
    bool mqtt = false;
    int rc;

    vmctl_ctx_init(&c, g, &help_info, "info");
    if ((rc = vmctl_args(&c, argc, argv, 1, NULL, 0, pos, 0, 0, &npos)) !=
        0)
        return rc < 0 ? 0 : rc;
    if ((rc = vmctl_ctx_open(&c)) != 0 ||
        (rc = vmctl_call(&c, "GET", "/api/v1/info", NULL, &r)) != 0)
        goto out;
    if (g->json)
        vmctl_reply_print(&r);
    else {
        vmctl_json_bool(r.doc, "mqtt_connected", &mqtt);
        kv("server", "%s", c.conf.server);
        kv("version", "%s", jtext(r.doc, "version", "-", buf, sizeof(buf)));
        kv("mqtt", "%s", mqtt ? "connected" : "NOT connected");
        kv("devices", "%" PRId64 " (%" PRId64 " online)",
           vmctl_jint(r.doc, "devices"), vmctl_jint(r.doc, "devices_online"));
        kv("rollouts", "%" PRId64 " active",
           vmctl_jint(r.doc, "rollouts_active"));
        kv("commands", "%" PRId64 " pending",
           vmctl_jint(r.doc, "commands_pending"));
        kv("started", "%s", vmctl_ago(vmctl_jint(r.doc, "started_ms"),
                                      vmctl_now_ms(), ago, sizeof(ago)));
    }
    vmctl_reply_clear(&r);
out:
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- devices ------------------------------------------------------------ */

static const vmctl_help_t help_devices = {
    "devices", "vmctl devices [--label KEY=VALUE]... [--online | --offline]",
    "Lists the devices: id, online, last seen, runtime version, VMs and\n"
    "labels (fetched in pages of 1000; --json asks for all at once).\n"
    "  --label K=V   only devices with this label (repeatable: all must "
    "match)\n"
    "  --online      only the devices online now\n"
    "  --offline     only the devices offline now\n"
};

static const vmctl_help_t help_device = {
    "device", "vmctl device show DEV",
    "Shows one device and its VMs.\n"
};

/* A device's VMs with their versions, "a@1.0.0,b@1.1.0", cut to fit a
 * table. */
static const char *
vm_names(const vmctl_json_t *vms, char *buf, size_t len)
{
    size_t i, n = vmctl_json_len(vms), o = 0;

    snprintf(buf, len, "-");
    for (i = 0; i < n; i++) {
        const vmctl_json_t *vm = vmctl_json_at(vms, i, NULL);
        const char *ver = vmctl_jstr(vm, "version");
        int w = snprintf(buf + o, len - o, "%s%s%s%s", i ? "," : "",
                         vmctl_jstr(vm, "name"), ver[0] != '\0' ? "@" : "",
                         ver);

        if (w < 0 || (size_t)w >= len - o) {
            if (len > 4)
                snprintf(buf + len - 4, 4, "...");
            break;
        }
        o += (size_t)w;
    }
    return buf;
}

static bool
label_ok(const char *s)
{
    const char *eq = strchr(s, '=');

    return eq != NULL && eq != s && eq[1] != '\0';
}

static int device_rows(const vmctl_ctx_t *c, vmctl_table_t *t,
                       const vmctl_json_t *list, int64_t now);

int
vmctl_cmd_devices(const vmctl_globals_t *g, int argc, char **argv)
{
    const char *labels[MAX_LABELS], *pos[1];
    size_t nlabels = 0, npos, i, n;
    bool online = false, offline = false;
    const vmctl_opt_t opts[] = {
        { "--label", NULL, NULL, labels, &nlabels, MAX_LABELS },
        { "--online", &online, NULL, NULL, NULL, 0 },
        { "--offline", &offline, NULL, NULL, NULL, 0 },
    };
    static const char *const hdr[] = { "ID", "ONLINE", "LAST SEEN",
                                       "RUNTIME", "VMS", "LABELS" };
    char path[PATH_LEN], seg[SEG_LEN];
    vmctl_table_t *t = NULL;
    const vmctl_json_t *list;
    int64_t now = vmctl_now_ms(), total = 0;
    size_t base, offset;
    vmctl_reply_t r;
    vmctl_ctx_t c;
    int rc;

    vmctl_ctx_init(&c, g, &help_devices, "devices");
    if ((rc = vmctl_args(&c, argc, argv, 1, opts, 3, pos, 0, 0, &npos)) !=
        0)
        return rc < 0 ? 0 : rc;
    if (online && offline)
        return vmctl_usage_error(&c, "--online and --offline exclude each "
                                     "other");
    snprintf(path, sizeof(path), "/api/v1/devices");
    for (i = 0; i < nlabels; i++) {
        if (!label_ok(labels[i]))
            return vmctl_usage_error(&c, "--label '%s': expected KEY=VALUE",
                                     labels[i]);
        /* Room is left for online, limit and offset. */
        if (vmctl_http_escape(labels[i], seg, sizeof(seg)) != 0 ||
            strlen(path) + strlen(seg) + 64 >= sizeof(path))
            return vmctl_usage_error(&c, "--label: too long");
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "%clabel=%s", i ? '&' : '?', seg);
    }
    if (online || offline)
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "%conline=%s", nlabels ? '&' : '?',
                 online ? "true" : "false");
    base = strlen(path);
    memset(&r, 0, sizeof(r));
    if ((rc = vmctl_ctx_open(&c)) != 0)
        goto out;
    if (g->json) {
        /* One document, as the server sent it. */
        if ((rc = vmctl_call(&c, "GET", path, NULL, &r)) == 0)
            vmctl_reply_print(&r);
        goto done;
    }
    if ((t = vmctl_table_new(hdr, 6)) == NULL) {
        rc = vmctl_fail(&c, "out of memory");
        goto out;
    }
    /* Page by page: ten thousand devices are not one reply. */
    for (offset = 0;; offset += n) {
        path[base] = '\0';
        snprintf(path + base, sizeof(path) - base, "%climit=%d",
                 strchr(path, '?') != NULL ? '&' : '?', DEVICES_PAGE);
        if (offset > 0)
            snprintf(path + strlen(path), sizeof(path) - strlen(path),
                     "&offset=%zu", offset);
        vmctl_reply_clear(&r);
        if ((rc = vmctl_call(&c, "GET", path, NULL, &r)) != 0)
            goto done;
        list = vmctl_json_get(r.doc, "devices");
        n = vmctl_json_len(list);
        if ((rc = device_rows(&c, t, list, now)) != 0)
            goto done;
        /* A server without "total" sent them all. */
        if (n == 0 || !vmctl_json_int(r.doc, "total", &total) ||
            (int64_t)(offset + n) >= total)
            break;
    }
    if (vmctl_table_rows(t) == 0)
        printf("no devices%s\n", nlabels || online || offline
                                     ? " match" : " yet");
    else
        vmctl_table_print(t, stdout);
done:
    vmctl_table_free(t);
    vmctl_reply_clear(&r);
out:
    vmctl_ctx_close(&c);
    return rc;
}

/*
 * device_rows: one table row per device of `list`.
 * Return: 0, or VMCTL_EXIT_FAIL (out of memory, reported).
 */
static int
device_rows(const vmctl_ctx_t *c, vmctl_table_t *t,
            const vmctl_json_t *list, int64_t now)
{
    size_t i, n = vmctl_json_len(list);
    char buf[256], ago[32];

    for (i = 0; i < n; i++) {
        const vmctl_json_t *d = vmctl_json_at(list, i, NULL);
        bool on = false;

        vmctl_json_bool(d, "online", &on);
        if (vmctl_table_row(t) != 0 ||
            vmctl_table_cell(t, "%s", vmctl_jstr(d, "id")) != 0 ||
            vmctl_table_cell(t, "%s", on ? "yes" : "no") != 0 ||
            vmctl_table_cell(t, "%s", vmctl_ago(vmctl_jint(d, "last_seen_ms"),
                                                now, ago, sizeof(ago))) != 0 ||
            vmctl_table_cell(t, "%s", jtext(d, "runtime_version", "-", buf,
                                            sizeof(buf))) != 0 ||
            vmctl_table_cell(t, "%s", vm_names(vmctl_json_get(d, "vms"), buf,
                                               48)) != 0 ||
            vmctl_table_cell(t, "%s", labels_text(vmctl_json_get(d,
                                                                 "labels"),
                                                  buf, sizeof(buf))) != 0)
            return vmctl_fail(c, "out of memory");
    }
    return 0;
}

/* A VM's uptime, short: "42s", "5m07s", "3h04m", "2d03h"; "-" for 0. */
static const char *
uptime_text(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;

    if (ms <= 0)
        snprintf(buf, len, "-");
    else if (s < 60)
        snprintf(buf, len, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600,
                 s % 3600 / 60);
    else
        snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400,
                 s % 86400 / 3600);
    return buf;
}

/* A VM's CPU share since it started, cpu_ms / uptime_ms: "12.5%". */
static const char *
cpu_text(int64_t cpu_ms, int64_t uptime_ms, char *buf, size_t len)
{
    if (uptime_ms <= 0 || cpu_ms < 0)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.1f%%",
                 (double)cpu_ms * 100.0 / (double)uptime_ms);
    return buf;
}

/*
 * vm_table: the VMs of a device as a table on stdout.
 * Return: 0 or -1 (out of memory).
 */
static int
vm_table(const vmctl_json_t *vms)
{
    static const char *const hdr[] = { "NAME",   "VERSION", "STATE",
                                       "MEMORY", "QUOTA",   "UPTIME",
                                       "CPU%",   "RESTARTS", "LAST ERROR" };
    size_t i, n = vmctl_json_len(vms);
    char a[32], b[32], e[256];
    vmctl_table_t *t;

    if (n == 0) {
        printf("no VMs\n");
        return 0;
    }
    if ((t = vmctl_table_new(hdr, 9)) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        const vmctl_json_t *v = vmctl_json_at(vms, i, NULL);
        int64_t mem = vmctl_jint(v, "memory_bytes");
        int64_t q = vmctl_jint(v, "storage_quota");
        int64_t up = vmctl_jint(v, "uptime_ms"), cpu = vmctl_jint(v, "cpu_ms");

        if (vmctl_table_row(t) != 0 ||
            vmctl_table_cell(t, "%s", vmctl_jstr(v, "name")) != 0 ||
            vmctl_table_cell(t, "%s", jtext(v, "version", "-", e,
                                            sizeof(e))) != 0 ||
            vmctl_table_cell(t, "%s", jtext(v, "state", "-", e,
                                            sizeof(e))) != 0 ||
            vmctl_table_cell(t, "%s", mem > 0 ? vmctl_size((uint64_t)mem, a,
                                                           sizeof(a))
                                              : "-") != 0 ||
            vmctl_table_cell(t, "%s", q > 0 ? vmctl_size((uint64_t)q, b,
                                                         sizeof(b))
                                            : "-") != 0 ||
            vmctl_table_cell(t, "%s", uptime_text(up, a, sizeof(a))) != 0 ||
            vmctl_table_cell(t, "%s", cpu_text(cpu, up, b, sizeof(b))) !=
                0 ||
            vmctl_table_cell(t, "%" PRId64, vmctl_jint(v, "restarts")) != 0 ||
            vmctl_table_cell(t, "%s", jtext(v, "last_error", "-", e,
                                            sizeof(e))) != 0) {
            vmctl_table_free(t);
            return -1;
        }
    }
    vmctl_table_print(t, stdout);
    vmctl_table_free(t);
    return 0;
}

int
vmctl_cmd_device(const vmctl_globals_t *g, int argc, char **argv)
{
    const char *pos[1];
    size_t npos;
    char path[PATH_LEN], ago[32], buf[256];
    vmctl_reply_t r;
    vmctl_ctx_t c;
    bool on = false;
    int rc;

    vmctl_ctx_init(&c, g, &help_device, "device");
    if (argc >= 2 && is_help(argv[1])) {
        vmctl_help_print(&help_device, stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "show") != 0)
        return vmctl_usage_error(&c, argc < 2 ? "missing subcommand"
                                              : "unknown subcommand");
    snprintf(c.name, sizeof(c.name), "device show");
    if ((rc = vmctl_args(&c, argc, argv, 2, NULL, 0, pos, 1, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (vmctl_path(path, sizeof(path), "/api/v1/devices/%s", pos[0]) != 0)
        return vmctl_usage_error(&c, "DEV: too long");
    if ((rc = vmctl_ctx_open(&c)) != 0 ||
        (rc = vmctl_call(&c, "GET", path, NULL, &r)) != 0)
        goto out;
    if (g->json)
        vmctl_reply_print(&r);
    else {
        vmctl_json_bool(r.doc, "online", &on);
        kv("id", "%s", vmctl_jstr(r.doc, "id"));
        kv("online", "%s (last seen %s)", on ? "yes" : "no",
           vmctl_ago(vmctl_jint(r.doc, "last_seen_ms"), vmctl_now_ms(), ago,
                     sizeof(ago)));
        kv("runtime", "%s", jtext(r.doc, "runtime_version", "-", buf,
                                  sizeof(buf)));
        kv("ota", "%s", jtext(r.doc, "ota_version", "-", buf, sizeof(buf)));
        kv("boot id", "%s", jtext(r.doc, "boot_id", "-", buf, sizeof(buf)));
        kv("labels", "%s", labels_text(vmctl_json_get(r.doc, "labels"), buf,
                                       sizeof(buf)));
        printf("\n");
        if (vm_table(vmctl_json_get(r.doc, "vms")) != 0)
            rc = vmctl_fail(&c, "out of memory");
    }
    vmctl_reply_clear(&r);
out:
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- vm ------------------------------------------------------------------ */

static const vmctl_help_t help_vm = {
    "vm",
    "vmctl vm ls DEV\n"
    "       vmctl vm create DEV --package P.vpk|SHA256 [--no-wait] "
    "[--expiry S]\n"
    "       vmctl vm start|stop|suspend|resume|restart|destroy DEV VM\n"
    "                [--no-wait] [--expiry S]\n"
    "       vmctl vm logs DEV VM [--bytes N]",
    "ls lists the VMs of a device (CPU% is CPU time over uptime).  create\n"
    "uploads P.vpk first (when it is a file) and creates the VM it was\n"
    "packed for.  The others change a VM's state; each waits for the\n"
    "device's final result, at most --timeout seconds (default 120).  logs\n"
    "prints the tail of the VM's log, asked from the device now (it must\n"
    "be online; vmctld waits 10 s for it).\n"
    "  --package P   a .vpk file, or the SHA-256 of a stored package\n"
    "  --no-wait     return once the command is queued (exit 0)\n"
    "  --expiry S    how long a command for an offline device waits for it\n"
    "                (default: vmctld's commands.expiry)\n"
    "  --bytes N     logs: the last N bytes, 1 to 65536 (default 16384)\n"
    "A command for an offline device stays queued until the device comes\n"
    "back or the command expires; `vmctl command show ID` shows it.\n"
};

static const char *const vm_verbs[] = { "start",  "stop",    "suspend",
                                        "resume", "restart", "destroy" };

/* The optional body of a lifecycle request: {"expiry_s": S} or {}. */
static int
expiry_body(vmctl_ctx_t *c, const char *expiry, vmctl_json_t **out)
{
    uint64_t v;
    char *end;

    *out = vmctl_json_object();
    if (*out == NULL)
        return vmctl_fail(c, "out of memory");
    if (expiry == NULL)
        return 0;
    v = (*expiry >= '0' && *expiry <= '9') ? strtoull(expiry, &end, 10) : 0;
    if (*expiry < '0' || *expiry > '9' || *end != '\0' || v == 0 ||
        v > 365u * 86400u) {
        vmctl_json_free(*out);
        *out = NULL;
        return vmctl_usage_error(c, "--expiry '%s': expected seconds from "
                                    "1 to %u", expiry, 365u * 86400u);
    }
    if (vmctl_json_add_num(*out, "expiry_s", (double)v) != 0) {
        vmctl_json_free(*out);
        *out = NULL;
        return vmctl_fail(c, "out of memory");
    }
    return 0;
}

static int
vm_ls(vmctl_ctx_t *c, int argc, char **argv)
{
    const char *pos[1];
    char path[PATH_LEN];
    vmctl_reply_t r;
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, 2, NULL, 0, pos, 1, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (vmctl_path(path, sizeof(path), "/api/v1/devices/%s/vms", pos[0]) !=
        0)
        return vmctl_usage_error(c, "DEV: too long");
    if ((rc = vmctl_ctx_open(c)) != 0 ||
        (rc = vmctl_call(c, "GET", path, NULL, &r)) != 0)
        return rc;
    if (c->g->json)
        vmctl_reply_print(&r);
    else if (vm_table(vmctl_json_get(r.doc, "vms")) != 0)
        rc = vmctl_fail(c, "out of memory");
    vmctl_reply_clear(&r);
    return rc;
}

static int
vm_create(vmctl_ctx_t *c, int argc, char **argv)
{
    const char *pos[1], *pkg = NULL, *expiry = NULL;
    bool nowait = false;
    const vmctl_opt_t opts[] = {
        { "--package", NULL, &pkg, NULL, NULL, 0 },
        { "--no-wait", &nowait, NULL, NULL, NULL, 0 },
        { "--expiry", NULL, &expiry, NULL, NULL, 0 },
    };
    char path[PATH_LEN], sha[SHA_HEX + 1], vm[64];
    vmctl_json_t *body = NULL;
    vmctl_reply_t r;
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, 2, opts, 3, pos, 1, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (pkg == NULL)
        return vmctl_usage_error(c, "missing --package P.vpk|SHA256");
    if (vmctl_path(path, sizeof(path), "/api/v1/devices/%s/vms", pos[0]) !=
        0)
        return vmctl_usage_error(c, "DEV: too long");
    if ((rc = expiry_body(c, expiry, &body)) != 0)
        return rc;
    if ((rc = vmctl_ctx_open(c)) != 0 ||
        (rc = vmctl_package_arg(c, pkg, NULL, sha, vm, sizeof(vm))) != 0)
        goto out;
    if (vmctl_json_add_str(body, "name", vm) != 0 ||
        vmctl_json_add_str(body, "package", sha) != 0) {
        rc = vmctl_fail(c, "out of memory");
        goto out;
    }
    if ((rc = vmctl_call(c, "POST", path, body, &r)) != 0)
        goto out;
    rc = vmctl_follow_command(c, &r, !nowait);
    vmctl_reply_clear(&r);
out:
    vmctl_json_free(body);
    return rc;
}

static int
vm_verb(vmctl_ctx_t *c, const char *verb, int argc, char **argv)
{
    const char *pos[2], *expiry = NULL;
    bool nowait = false;
    const vmctl_opt_t opts[] = {
        { "--no-wait", &nowait, NULL, NULL, NULL, 0 },
        { "--expiry", NULL, &expiry, NULL, NULL, 0 },
    };
    bool destroy = strcmp(verb, "destroy") == 0;
    vmctl_json_t *body = NULL;
    char path[PATH_LEN];
    vmctl_reply_t r;
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, 2, opts, 2, pos, 2, 2, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if ((destroy ? vmctl_path(path, sizeof(path),
                              "/api/v1/devices/%s/vms/%s", pos[0], pos[1])
                 : vmctl_path(path, sizeof(path),
                              "/api/v1/devices/%s/vms/%s/%s", pos[0],
                              pos[1], verb)) != 0)
        return vmctl_usage_error(c, "DEV or VM: too long");
    if ((rc = expiry_body(c, expiry, &body)) != 0)
        return rc;
    if ((rc = vmctl_ctx_open(c)) != 0)
        goto out;
    /* DELETE carries a body only when it has something to say. */
    rc = vmctl_call(c, destroy ? "DELETE" : "POST", path,
                    destroy && expiry == NULL ? NULL : body, &r);
    if (rc != 0)
        goto out;
    rc = vmctl_follow_command(c, &r, !nowait);
    vmctl_reply_clear(&r);
out:
    vmctl_json_free(body);
    return rc;
}

/*
 * vm_logs: print the log's tail.  The text is the VM's own output: it
 * may not move the terminal's cursor or change its colours, so control
 * characters other than newline and tab are shown as '?'.
 */
static int
vm_logs(vmctl_ctx_t *c, int argc, char **argv)
{
    const char *pos[2], *bytes = NULL, *text;
    const vmctl_opt_t opts[] = {
        { "--bytes", NULL, &bytes, NULL, NULL, 0 },
    };
    char path[PATH_LEN];
    unsigned long long v = 0;
    vmctl_reply_t r;
    size_t npos, n;
    char *end;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, 2, opts, 1, pos, 2, 2, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (bytes != NULL) {
        v = bytes[0] >= '0' && bytes[0] <= '9' ? strtoull(bytes, &end, 10)
                                               : 0;
        if (bytes[0] < '0' || bytes[0] > '9' || *end != '\0' || v == 0 ||
            v > LOG_BYTES_MAX)
            return vmctl_usage_error(c, "--bytes '%s': expected a number "
                                        "from 1 to %u",
                                     bytes, LOG_BYTES_MAX);
    }
    if (vmctl_path(path, sizeof(path), "/api/v1/devices/%s/vms/%s/logs",
                   pos[0], pos[1]) != 0)
        return vmctl_usage_error(c, "DEV or VM: too long");
    if (bytes != NULL)
        snprintf(path + strlen(path), sizeof(path) - strlen(path),
                 "?bytes=%llu", v);
    if ((rc = vmctl_ctx_open(c)) != 0 ||
        (rc = vmctl_call(c, "GET", path, NULL, &r)) != 0)
        return rc;
    if (c->g->json) {
        vmctl_reply_print(&r);
    } else if ((text = vmctl_json_str(r.doc, "text")) != NULL) {
        for (n = 0; text[n] != '\0'; n++) {
            unsigned char ch = (unsigned char)text[n];

            putchar((ch < 0x20 && ch != '\n' && ch != '\t') || ch == 0x7f
                        ? '?'
                        : ch);
        }
        if (n > 0 && text[n - 1] != '\n')
            putchar('\n');
    } else {
        rc = vmctl_fail(c, "the reply has no text");
    }
    vmctl_reply_clear(&r);
    return rc;
}

int
vmctl_cmd_vm(const vmctl_globals_t *g, int argc, char **argv)
{
    vmctl_ctx_t c;
    size_t i;
    int rc;

    vmctl_ctx_init(&c, g, &help_vm, "vm");
    if (argc >= 2 && is_help(argv[1])) {
        vmctl_help_print(&help_vm, stdout);
        return 0;
    }
    if (argc < 2)
        return vmctl_usage_error(&c, "missing subcommand");
    snprintf(c.name, sizeof(c.name), "vm %s", argv[1]);
    if (strcmp(argv[1], "ls") == 0)
        rc = vm_ls(&c, argc, argv);
    else if (strcmp(argv[1], "create") == 0)
        rc = vm_create(&c, argc, argv);
    else if (strcmp(argv[1], "logs") == 0)
        rc = vm_logs(&c, argc, argv);
    else {
        for (i = 0; i < sizeof(vm_verbs) / sizeof(vm_verbs[0]); i++)
            if (strcmp(argv[1], vm_verbs[i]) == 0)
                break;
        if (i == sizeof(vm_verbs) / sizeof(vm_verbs[0])) {
            snprintf(c.name, sizeof(c.name), "vm");
            return vmctl_usage_error(&c, "unknown subcommand '%s'",
                                     argv[1]);
        }
        rc = vm_verb(&c, vm_verbs[i], argc, argv);
    }
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- snapshots ---------------------------------------------------------- */

static const vmctl_help_t help_snapshot = {
    "snapshot",
    "vmctl snapshot DEV VM [--no-wait] [--expiry S]\n"
    "       vmctl snapshot get SHA256 -o FILE",
    "The first form snapshots a VM (its complete state), waits until vmctld\n"
    "has stored it and prints the snapshot's SHA-256.  The second downloads\n"
    "a stored snapshot.  SHA256 may be a unique prefix of at least 8 hex\n"
    "digits.\n"
    "  --no-wait     return once the command is queued (exit 0)\n"
    "  --expiry S    how long a command for an offline device waits for it\n"
    "  -o FILE       where to write the snapshot (replaced atomically)\n"
};

static const vmctl_help_t help_snapshots = {
    "snapshots", "vmctl snapshots [ls] [--device DEV]",
    "Lists the stored snapshots, newest first: SHA-256 (a prefix), the\n"
    "device and VM they were taken from, size and age.\n"
};

static const vmctl_help_t help_restore = {
    "restore", "vmctl restore DEV VM SNAPSHOT [--no-wait] [--expiry S]",
    "Restores VM on DEV from a stored snapshot, and waits for the result.\n"
    "DEV may be another device than the snapshot's: that migrates the VM.\n"
    "SNAPSHOT is a SHA-256 or a unique prefix of at least 8 hex digits.\n"
    "  --no-wait     return once the command is queued (exit 0)\n"
    "  --expiry S    how long a command for an offline device waits for it\n"
};

static int
snapshot_get(vmctl_ctx_t *c, int argc, char **argv)
{
    const char *pos[1], *dest = NULL;
    const vmctl_opt_t opts[] = { { "-o", NULL, &dest, NULL, NULL, 0 } };
    char path[PATH_LEN], sha[SHA_HEX + 1], err[VMCTL_HTTP_ERR_LEN] = "", sz[32];
    vmctl_http_resp_t resp;
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, 2, opts, 1, pos, 1, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (dest == NULL || dest[0] == '\0')
        return vmctl_usage_error(c, "missing -o FILE");
    if (!vmctl_is_hex(pos[0]) || strlen(pos[0]) < 8 ||
        strlen(pos[0]) > SHA_HEX)
        return vmctl_usage_error(c, "'%s': expected a SHA-256 or a prefix "
                                    "of at least 8 hex digits", pos[0]);
    if ((rc = vmctl_ctx_open(c)) != 0 ||
        (rc = resolve_sha(c, pos[0], "snapshot", "/api/v1/snapshots",
                          "snapshots", sha)) != 0)
        return rc;
    if (vmctl_path(path, sizeof(path), "/api/v1/snapshots/%s/content", sha) !=
        0)
        return vmctl_fail(c, "bad snapshot id");
    c->progress_label = "download";
    rc = vmctl_http_download(c->http, path, dest, 64u * 1024, &resp, err,
                             sizeof(err));
    vmctl_progress_end();
    if (rc == VMCTL_HTTP_EFILE)
        return vmctl_fail(c, "-o: %s", err);
    if (rc != 0) {
        report_transport(c, rc, err);
        return VMCTL_EXIT_FAIL;
    }
    if (resp.status < 200 || resp.status >= 300) {
        vmctl_json_t *doc = vmctl_json_parse(resp.body, resp.len);
        const vmctl_json_t *e = vmctl_json_get(doc, "error");

        if (c->g->json && doc != NULL)
            fprintf(stdout, "%s\n", resp.body);
        report_api_error(c, resp.status, vmctl_json_str(e, "code"),
                         vmctl_json_str(e, "message"));
        vmctl_json_free(doc);
        vmctl_http_resp_clear(&resp);
        return VMCTL_EXIT_FAIL;
    }
    if (c->g->json) {
        /* No JSON reply to print: say what was written, as JSON. */
        vmctl_json_t *o = vmctl_json_object();
        char *text = NULL;

        if (o == NULL || vmctl_json_add_str(o, "sha256", sha) != 0 ||
            vmctl_json_add_str(o, "file", dest) != 0 ||
            vmctl_json_add_num(o, "size", (double)resp.written) != 0 ||
            (text = vmctl_json_print(o)) == NULL)
            rc = vmctl_fail(c, "out of memory");
        else
            printf("%s\n", text);
        free(text);
        vmctl_json_free(o);
    } else
        printf("%s: snapshot %.16s, %s\n", dest, sha,
               vmctl_size(resp.written, sz, sizeof(sz)));
    vmctl_http_resp_clear(&resp);
    return rc;
}

static int
snapshot_take(vmctl_ctx_t *c, int argc, char **argv)
{
    const char *pos[2], *expiry = NULL;
    bool nowait = false;
    const vmctl_opt_t opts[] = {
        { "--no-wait", &nowait, NULL, NULL, NULL, 0 },
        { "--expiry", NULL, &expiry, NULL, NULL, 0 },
    };
    vmctl_json_t *body = NULL;
    char path[PATH_LEN];
    vmctl_reply_t r;
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, 1, opts, 2, pos, 2, 2, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (vmctl_path(path, sizeof(path), "/api/v1/devices/%s/vms/%s/snapshot",
                   pos[0], pos[1]) != 0)
        return vmctl_usage_error(c, "DEV or VM: too long");
    if ((rc = expiry_body(c, expiry, &body)) != 0)
        return rc;
    if ((rc = vmctl_ctx_open(c)) == 0 &&
        (rc = vmctl_call(c, "POST", path, body, &r)) == 0) {
        rc = vmctl_follow_command(c, &r, !nowait);
        vmctl_reply_clear(&r);
    }
    vmctl_json_free(body);
    return rc;
}

int
vmctl_cmd_snapshot(const vmctl_globals_t *g, int argc, char **argv)
{
    vmctl_ctx_t c;
    int rc;

    vmctl_ctx_init(&c, g, &help_snapshot, "snapshot");
    /* `snapshot get X -o F` downloads; a device named "get" still works
     * as `snapshot -- get VM`. */
    if (argc >= 2 && strcmp(argv[1], "get") == 0) {
        snprintf(c.name, sizeof(c.name), "snapshot get");
        rc = snapshot_get(&c, argc, argv);
    } else
        rc = snapshot_take(&c, argc, argv);
    vmctl_ctx_close(&c);
    return rc;
}

/* A row of `snapshots`.  Return: 0, or -1 when out of memory. */
static int
snapshot_row(vmctl_table_t *t, const vmctl_json_t *s)
{
    char sz[32], ago[32];
    int64_t size = vmctl_jint(s, "size");

    if (vmctl_table_cell(t, "%.16s", vmctl_jstr(s, "sha256")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(s, "device")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(s, "vm")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_size(size > 0 ? (uint64_t)size : 0,
                                             sz, sizeof(sz))) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_ago(vmctl_jint(s, "created_ms"),
                                            vmctl_now_ms(), ago,
                                            sizeof(ago))) != 0)
        return -1;
    return 0;
}

int
vmctl_cmd_snapshots(const vmctl_globals_t *g, int argc, char **argv)
{
    const char *pos[1], *dev = NULL;
    const vmctl_opt_t opts[] = { { "--device", NULL, &dev, NULL, NULL, 0 } };
    static const char *const hdr[] = { "SHA256", "DEVICE", "VM", "SIZE",
                                       "CREATED" };
    char path[PATH_LEN];
    vmctl_ctx_t c;
    size_t npos;
    int rc;

    vmctl_ctx_init(&c, g, &help_snapshots, "snapshots");
    if ((rc = vmctl_args(&c, argc, argv, 1, opts, 1, pos, 0, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (npos == 1 && strcmp(pos[0], "ls") != 0)
        return vmctl_usage_error(&c, "unknown subcommand '%s'", pos[0]);
    if (dev != NULL)
        rc = vmctl_path(path, sizeof(path), "/api/v1/snapshots?device=%s",
                        dev);
    else
        rc = vmctl_path(path, sizeof(path), "/api/v1/snapshots");
    if (rc != 0)
        return vmctl_usage_error(&c, "--device: too long");
    rc = vmctl_list(&c, path, "snapshots", hdr, 5, snapshot_row);
    vmctl_ctx_close(&c);
    return rc;
}

int
vmctl_cmd_restore(const vmctl_globals_t *g, int argc, char **argv)
{
    const char *pos[3], *expiry = NULL;
    bool nowait = false;
    const vmctl_opt_t opts[] = {
        { "--no-wait", &nowait, NULL, NULL, NULL, 0 },
        { "--expiry", NULL, &expiry, NULL, NULL, 0 },
    };
    char path[PATH_LEN], sha[SHA_HEX + 1];
    vmctl_json_t *body = NULL;
    vmctl_reply_t r;
    vmctl_ctx_t c;
    size_t npos;
    int rc;

    vmctl_ctx_init(&c, g, &help_restore, "restore");
    if ((rc = vmctl_args(&c, argc, argv, 1, opts, 2, pos, 3, 3, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (!vmctl_is_hex(pos[2]) || strlen(pos[2]) < 8 ||
        strlen(pos[2]) > SHA_HEX)
        return vmctl_usage_error(&c, "SNAPSHOT '%s': expected a SHA-256 or "
                                     "a prefix of at least 8 hex digits",
                                 pos[2]);
    if (vmctl_path(path, sizeof(path), "/api/v1/devices/%s/vms/%s/restore",
                   pos[0], pos[1]) != 0)
        return vmctl_usage_error(&c, "DEV or VM: too long");
    if ((rc = expiry_body(&c, expiry, &body)) != 0)
        return rc;
    if ((rc = vmctl_ctx_open(&c)) != 0 ||
        (rc = resolve_sha(&c, pos[2], "snapshot", "/api/v1/snapshots",
                          "snapshots", sha)) != 0)
        goto out;
    if (vmctl_json_add_str(body, "snapshot", sha) != 0) {
        rc = vmctl_fail(&c, "out of memory");
        goto out;
    }
    if ((rc = vmctl_call(&c, "POST", path, body, &r)) != 0)
        goto out;
    rc = vmctl_follow_command(&c, &r, !nowait);
    vmctl_reply_clear(&r);
out:
    vmctl_json_free(body);
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- commands ----------------------------------------------------------- */

static const vmctl_help_t help_command = {
    "command",
    "vmctl command show ID [--wait]\n"
    "       vmctl command cancel ID\n"
    "       vmctl commands [ls] [--device DEV] [--limit N]",
    "show prints a command (with --wait: follows it to its end, at most\n"
    "--timeout seconds).  cancel cancels one that is not final yet.  ls\n"
    "lists the newest commands (default 50).\n"
};

static void
command_show(const vmctl_json_t *d)
{
    char a[32], b[32], code[64];
    int64_t now = vmctl_now_ms();

    kv("id", "%s", vmctl_jstr(d, "id"));
    kv("device", "%s", vmctl_jstr(d, "device"));
    kv("kind", "%s", vmctl_jstr(d, "kind"));
    kv("vm", "%s", vmctl_jstr(d, "vm")[0] ? vmctl_jstr(d, "vm") : "-");
    kv("state", "%s", vmctl_jstr(d, "state"));
    if (cmd_final(d))
        kv("code", "%s", jtext(d, "code", "-", code, sizeof(code)));
    if (vmctl_jstr(d, "message")[0] != '\0')
        kv("message", "%s", vmctl_jstr(d, "message"));
    if (vmctl_jstr(d, "version")[0] != '\0')
        kv("version", "%s", vmctl_jstr(d, "version"));
    if (vmctl_jstr(d, "package")[0] != '\0')
        kv("package", "%s", vmctl_jstr(d, "package"));
    if (vmctl_jstr(d, "snapshot")[0] != '\0')
        kv("snapshot", "%s", vmctl_jstr(d, "snapshot"));
    if (vmctl_jstr(d, "rollout")[0] != '\0')
        kv("rollout", "%s", vmctl_jstr(d, "rollout"));
    if (vmctl_jint(d, "percent") > 0 && !cmd_final(d))
        kv("progress", "%" PRId64 "%%", vmctl_jint(d, "percent"));
    kv("created", "%s (%s)", vmctl_ago(vmctl_jint(d, "created_ms"), now, a,
                                       sizeof(a)),
       vmctl_when(vmctl_jint(d, "created_ms"), b, sizeof(b)));
    kv("updated", "%s",
       vmctl_ago(vmctl_jint(d, "updated_ms"), now, a, sizeof(a)));
    if (state_is(d, "queued"))
        kv("expires", "%s (%s)", vmctl_ago(vmctl_jint(d, "expires_ms"), now, a,
                                           sizeof(a)),
           vmctl_when(vmctl_jint(d, "expires_ms"), b, sizeof(b)));
    else if (!cmd_final(d) && vmctl_jint(d, "deadline_ms") > 0)
        kv("deadline", "%s", vmctl_ago(vmctl_jint(d, "deadline_ms"), now, a,
                                       sizeof(a)));
}

/* A row of `commands ls`.  Return: 0, or -1 when out of memory. */
static int
command_row(vmctl_table_t *t, const vmctl_json_t *d)
{
    char ago[32], code[64];

    if (vmctl_table_cell(t, "%s", vmctl_jstr(d, "id")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "device")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "kind")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "vm")[0]
                                      ? vmctl_jstr(d, "vm") : "-") != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "state")) != 0 ||
        vmctl_table_cell(t, "%s", cmd_final(d)
                                      ? jtext(d, "code", "-", code,
                                              sizeof(code))
                                      : "-") != 0 ||
        vmctl_table_cell(t, "%s", vmctl_ago(vmctl_jint(d, "created_ms"),
                                            vmctl_now_ms(), ago,
                                            sizeof(ago))) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(d, "message")[0]
                                      ? vmctl_jstr(d, "message")
                                      : "-") != 0)
        return -1;
    return 0;
}

static int
commands_ls(vmctl_ctx_t *c, int argc, char **argv, int first)
{
    const char *pos[1], *dev = NULL, *limit = NULL;
    const vmctl_opt_t opts[] = {
        { "--device", NULL, &dev, NULL, NULL, 0 },
        { "--limit", NULL, &limit, NULL, NULL, 0 },
    };
    static const char *const hdr[] = { "ID",    "DEVICE", "KIND",   "VM",
                                       "STATE", "CODE",   "CREATED",
                                       "MESSAGE" };
    char path[PATH_LEN];
    unsigned long lim = 50;
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, first, opts, 2, pos, 0, 0,
                         &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (limit != NULL) {
        char *end;

        lim = (*limit >= '0' && *limit <= '9') ? strtoul(limit, &end, 10)
                                               : 0;
        if (*limit < '0' || *limit > '9' || *end != '\0' || lim == 0 ||
            lim > 10000)
            return vmctl_usage_error(c, "--limit '%s': expected 1..10000",
                                     limit);
    }
    if ((dev != NULL ? vmctl_path(path, sizeof(path),
                                  "/api/v1/commands?device=%s", dev)
                     : vmctl_path(path, sizeof(path), "/api/v1/commands")) !=
        0)
        return vmctl_usage_error(c, "--device: too long");
    snprintf(path + strlen(path), sizeof(path) - strlen(path), "%climit=%lu",
             dev != NULL ? '&' : '?', lim);
    return vmctl_list(c, path, "commands", hdr, 8, command_row);
}

int
vmctl_cmd_command(const vmctl_globals_t *g, int argc, char **argv)
{
    const char *pos[1];
    bool wait = false;
    const vmctl_opt_t opts[] = { { "--wait", &wait, NULL, NULL, NULL, 0 } };
    bool plural = strcmp(argv[0], "commands") == 0;
    char path[PATH_LEN];
    vmctl_reply_t r;
    vmctl_ctx_t c;
    size_t npos;
    int rc;

    vmctl_ctx_init(&c, g, &help_command, argv[0]);
    if (argc >= 2 && is_help(argv[1])) {
        vmctl_help_print(&help_command, stdout);
        return 0;
    }
    if (plural && (argc < 2 || argv[1][0] == '-' ||
                   strcmp(argv[1], "ls") == 0)) {
        snprintf(c.name, sizeof(c.name), "commands ls");
        rc = commands_ls(&c, argc, argv, argc >= 2 && argv[1][0] != '-' ? 2
                                                                        : 1);
        goto out;
    }
    if (argc < 2 || (strcmp(argv[1], "show") != 0 &&
                     strcmp(argv[1], "cancel") != 0 &&
                     strcmp(argv[1], "ls") != 0))
        return vmctl_usage_error(&c, argc < 2 ? "missing subcommand"
                                              : "unknown subcommand");
    snprintf(c.name, sizeof(c.name), "command %s", argv[1]);
    if (strcmp(argv[1], "ls") == 0) {
        rc = commands_ls(&c, argc, argv, 2);
        goto out;
    }
    if ((rc = vmctl_args(&c, argc, argv, 2,
                         opts, strcmp(argv[1], "show") == 0 ? 1 : 0, pos, 1,
                         1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (vmctl_path(path, sizeof(path),
                   strcmp(argv[1], "show") == 0 ? "/api/v1/commands/%s"
                                                : "/api/v1/commands/%s/cancel",
                   pos[0]) != 0)
        return vmctl_usage_error(&c, "ID: too long");
    if ((rc = vmctl_ctx_open(&c)) != 0 ||
        (rc = vmctl_call(&c, strcmp(argv[1], "show") == 0 ? "GET" : "POST",
                         path, NULL, &r)) != 0)
        goto out;
    if (wait)
        rc = vmctl_follow_command(&c, &r, true);
    else if (g->json)
        vmctl_reply_print(&r);
    else
        command_show(r.doc);
    vmctl_reply_clear(&r);
out:
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- packages --------------------------------------------------------- */

static const vmctl_help_t help_package = {
    "package",
    "vmctl packages [ls] [--vm NAME]\n"
    "       vmctl package add P.vpk\n"
    "       vmctl package show SHA256\n"
    "       vmctl package rm SHA256",
    "ls lists the stored packages; add uploads one (vmctld verifies it);\n"
    "rm deletes one that no unfinished rollout or command uses.  SHA256 may\n"
    "be a unique prefix of at least 8 hex digits.\n"
};

static void
package_show(const vmctl_json_t *d)
{
    char sz[32], a[32];
    int64_t size = vmctl_jint(d, "size");

    kv("sha256", "%s", vmctl_jstr(d, "sha256"));
    kv("vm", "%s", vmctl_jstr(d, "vm"));
    kv("version", "%s", vmctl_jstr(d, "version"));
    kv("size", "%s", vmctl_size(size > 0 ? (uint64_t)size : 0, sz,
                                sizeof(sz)));
    kv("key id", "%s", vmctl_jstr(d, "key_id"));
    kv("created", "%s", vmctl_ago(vmctl_jint(d, "created_ms"),
                                  vmctl_now_ms(), a, sizeof(a)));
}

/* A row of `packages ls`.  Return: 0, or -1 when out of memory. */
static int
package_row(vmctl_table_t *t, const vmctl_json_t *p)
{
    char sz[32], ago[32];
    int64_t size = vmctl_jint(p, "size");

    if (vmctl_table_cell(t, "%.16s", vmctl_jstr(p, "sha256")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(p, "vm")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(p, "version")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_size(size > 0 ? (uint64_t)size : 0,
                                             sz, sizeof(sz))) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_jstr(p, "key_id")) != 0 ||
        vmctl_table_cell(t, "%s", vmctl_ago(vmctl_jint(p, "created_ms"),
                                            vmctl_now_ms(), ago,
                                            sizeof(ago))) != 0)
        return -1;
    return 0;
}

static int
packages_ls(vmctl_ctx_t *c, int argc, char **argv, int first)
{
    const char *pos[1], *vm = NULL;
    const vmctl_opt_t opts[] = { { "--vm", NULL, &vm, NULL, NULL, 0 } };
    static const char *const hdr[] = { "SHA256", "VM",  "VERSION",
                                       "SIZE",   "KEY", "CREATED" };
    char path[PATH_LEN];
    size_t npos;
    int rc;

    if ((rc = vmctl_args(c, argc, argv, first, opts, 1, pos, 0, 0,
                         &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if ((vm != NULL
             ? vmctl_path(path, sizeof(path), "/api/v1/packages?vm=%s", vm)
             : vmctl_path(path, sizeof(path), "/api/v1/packages")) != 0)
        return vmctl_usage_error(c, "--vm: too long");
    return vmctl_list(c, path, "packages", hdr, 6, package_row);
}

int
vmctl_cmd_package(const vmctl_globals_t *g, int argc, char **argv)
{
    const char *pos[1], *sub;
    char path[PATH_LEN], sha[SHA_HEX + 1];
    vmctl_reply_t r;
    vmctl_ctx_t c;
    size_t npos;
    int rc;

    vmctl_ctx_init(&c, g, &help_package, argv[0]);
    if (argc >= 2 && is_help(argv[1])) {
        vmctl_help_print(&help_package, stdout);
        return 0;
    }
    sub = argc >= 2 && argv[1][0] != '-' ? argv[1] : NULL;
    if (sub == NULL || strcmp(sub, "ls") == 0) {
        if (sub == NULL && strcmp(argv[0], "packages") != 0)
            return vmctl_usage_error(&c, "missing subcommand");
        snprintf(c.name, sizeof(c.name), "packages ls");
        rc = packages_ls(&c, argc, argv, sub != NULL ? 2 : 1);
        goto out;
    }
    if (strcmp(sub, "add") != 0 && strcmp(sub, "show") != 0 &&
        strcmp(sub, "rm") != 0)
        return vmctl_usage_error(&c, "unknown subcommand '%s'", sub);
    snprintf(c.name, sizeof(c.name), "package %s", sub);
    if ((rc = vmctl_args(&c, argc, argv, 2, NULL, 0, pos, 1, 1, &npos)) != 0)
        return rc < 0 ? 0 : rc;
    if (strcmp(sub, "add") != 0 &&
        (!vmctl_is_hex(pos[0]) || strlen(pos[0]) < 8 ||
         strlen(pos[0]) > SHA_HEX))
        return vmctl_usage_error(&c, "'%s': expected a SHA-256 or a prefix "
                                     "of at least 8 hex digits", pos[0]);
    if ((rc = vmctl_ctx_open(&c)) != 0)
        goto out;
    if (strcmp(sub, "add") == 0) {
        uint8_t *buf = NULL;
        size_t len = 0;
        char err[512];

        if (vmctl_file_read(pos[0], (size_t)VPK_MODULE_MAX +
                                        VPK_MANIFEST_MAX + VPK_SIG_MAX + 64,
                            &buf, &len, err, sizeof(err)) != 0) {
            rc = vmctl_fail(&c, "%s", err);
            goto out;
        }
        c.progress_label = "upload";
        rc = vmctl_call_raw(&c, "POST", "/api/v1/packages",
                            "application/octet-stream", buf, len, 0, &r);
        free(buf);
    } else {
        if ((rc = resolve_sha(&c, pos[0], "package", "/api/v1/packages",
                              "packages", sha)) != 0)
            goto out;
        if (vmctl_path(path, sizeof(path), "/api/v1/packages/%s", sha) !=
            0) {
            rc = vmctl_fail(&c, "bad package id");
            goto out;
        }
        rc = vmctl_call(&c, strcmp(sub, "rm") == 0 ? "DELETE" : "GET", path,
                        NULL, &r);
    }
    if (rc != 0)
        goto out;
    if (g->json)
        vmctl_reply_print(&r);
    else if (strcmp(sub, "rm") == 0)
        printf("package %s deleted\n", sha);
    else
        package_show(r.doc);
    vmctl_reply_clear(&r);
out:
    vmctl_ctx_close(&c);
    return rc;
}

/* ---- help ------------------------------------------------------------- */

const vmctl_help_t *
vmctl_remote_help(const char *name)
{
    static const vmctl_help_t *const all[] = {
        &help_info,     &help_devices,   &help_device,  &help_vm,
        &help_snapshot, &help_snapshots, &help_restore, &help_command,
        &help_package,  &vmctl__help_update, &vmctl__help_rollout,
    };
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}
