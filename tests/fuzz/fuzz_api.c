/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_api: vmctld's HTTP API (server/vmctl/vmctld/src/api*.c) without
 * sockets.  This file stands in for http.c (the microhttpd half of
 * http.h; the response helpers come from http_resp.c), so
 * vmctld_api_start() registers its handler here instead of with
 * microhttpd, and each input is one request driven through the same two
 * phases http.c uses (headers, then the body or an overflow), against a
 * real core (ctld_create() without ctld_start(), SQLite in a temporary
 * directory) seeded with two offline devices d1 and d2 running "sensor",
 * one package for "sensor" (signed by a fixed test key) and one snapshot.
 *
 * An input is a small HTTP request in text:
 *     METHOD TARGET            (TARGET = PATH[?QUERY], percent-encoded)
 *     Name: value              (headers, up to an empty line)
 *
 *     BODY                     (the rest)
 * Without an Authorization header the operator's token is added; without
 * Content-Length (and Transfer-Encoding) a non-empty body gets its length,
 * as a client would send it.  A Content-Length longer than the body means
 * the body never completes: only the header phase runs.
 *
 * Every answer must be:
 *   - a status the API documents (docs/api.md), never 500 or 503 here;
 *   - for 4xx (and 504), application/json {"error": {"code", "message"}}
 *     with the code that belongs to the status (E_INVALID for 400, ...),
 *     plus WWW-Authenticate on 401 and Allow on 405;
 *   - for 2xx, a JSON object (or a file, an event stream, nothing for 204),
 *     and a static file only from inside the web root;
 *   - and a write that fails must change nothing: the counts of commands,
 *     rollouts, packages and snapshots are the same after it.
 * After a write that succeeds, the harness cancels the commands and aborts
 * the rollouts it made (so that a long poll never waits), puts back a
 * deleted package, and starts a fresh core after a snapshot was deleted
 * or every RESET_EVERY successful writes.
 * With VMF_FUZZ_API_SEEDS=DIR, LLVMFuzzerInitialize writes requests for
 * every route, with the real package and snapshot hashes, into DIR
 * (tests/fuzz/run.sh does this).  VMF_FUZZ_API_VERBOSE=1 prints each
 * request's answer (to look at what a corpus reaches).
 */

#define _GNU_SOURCE /* mkdtemp, strcasecmp */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "config.h"
#include "ctld.h"
#include "http.h"
#include "log.h"
#include "pl/fs.h"
#include "registry.h"
#include "vmf/vpk.h"

#define TOK_OP "fuzz-operator-token-0123456789abcdef"
#define TOK_VIEW "fuzz-viewer-token-0123456789abcdef"
#define MAX_BODY 4096       /* http.max_body: small, to reach 413 */
#define MAX_UPLOAD 8192     /* http.max_upload */
#define HDRS_MAX 16
#define RESET_EVERY 500     /* successful writes before a fresh core */
#define SECRET "not-for-the-web"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The test-only key pair of fuzz_vpk: it signs the one seed package. */
static const char fuzz_priv_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEILiQo8kRABGjbdRwGG5rvXGoU/6DPXKyYsXPsR6tMrxHoAoGCCqGSM49\n"
    "AwEHoUQDQgAEe4LWXaLghrD1wnOnhGHKDE0GxOW6Ufvta8O9cuVhkbtDRnYVsHrQ\n"
    "FDPaJde5l0JHrf78OF488KyoEsH0WzgyiA==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char fuzz_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEe4LWXaLghrD1wnOnhGHKDE0GxOW6\n"
    "Ufvta8O9cuVhkbtDRnYVsHrQFDPaJde5l0JHrf78OF488KyoEsH0WzgyiA==\n"
    "-----END PUBLIC KEY-----\n";

static void
die(const char *what, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

/* Stop with a message: libFuzzer keeps the input as a crash. */
static void
die(const char *what, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "fuzz_api: %s: ", what);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

/* ---- http.h, without microhttpd ---------------------------------------- */

struct vmctld_http {
    vmctld_http_handler_fn fn;
    void *arg;
};

/* What req->conn_ points at here: the request's headers. */
typedef struct fake_conn {
    size_t n;
    const char *name[HDRS_MAX + 1];
    const char *value[HDRS_MAX + 1];
} fake_conn_t;

static vmctld_http_t *the_http; /* the one the API started */

int
vmctld_http_start(const vmctld_http_opts_t *opts, vmctld_http_handler_fn fn,
                  void *arg, vmctld_http_t **out, char *err, size_t errlen)
{
    vmctld_http_t *h;

    (void)opts;
    if ((h = calloc(1, sizeof(*h))) == NULL) {
        snprintf(err, errlen, "http: out of memory");
        return -1;
    }
    h->fn = fn;
    h->arg = arg;
    the_http = h;
    *out = h;
    return 0;
}

void
vmctld_http_stop(vmctld_http_t *h)
{
    if (h == the_http)
        the_http = NULL;
    free(h);
}

int
vmctld_http_port(const vmctld_http_t *h)
{
    (void)h;
    return 8080;
}

bool
vmctld_http_tls(const vmctld_http_t *h)
{
    (void)h;
    return false;
}

/* A header's first value (as microhttpd gives it), or NULL. */
static const char *
conn_header(const fake_conn_t *c, const char *name)
{
    size_t i;

    for (i = 0; c != NULL && i < c->n; i++)
        if (strcasecmp(c->name[i], name) == 0)
            return c->value[i];
    return NULL;
}

const char *
vmctld_http_req_header(const vmctld_http_req_t *req, const char *name)
{
    return conn_header(req->conn_, name);
}

/* ---- the core ---------------------------------------------------------- */

static char base[512];          /* the temporary directory */
static char run_dir[600];       /* the current core's, inside base */
static unsigned run_no;
static vmctld_config_t cfg;
static ctld_t *core;
static vmctld_api_t *api;
static uint8_t *pkg;            /* the package, as uploaded */
static size_t pkg_len;
static char pkg_sha[65];
static char snap_sha[65];
static uint8_t snap[2000];
static unsigned writes_ok;      /* since the last fresh core */
static bool verbose;            /* VMF_FUZZ_API_VERBOSE: log each answer */

static void
write_file(const char *p, const void *data, size_t len)
{
    FILE *f = fopen(p, "wb");

    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        die("setup", "cannot write %s", p);
}

static void
to_hex(const uint8_t *b, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* Two offline devices and one snapshot, before the core opens the
 * registry (as tests/unit/vmctld/test_api.c does). */
static void
seed_registry(void)
{
    vmctld_reg_label_t l1 = { "site", "berlin" }, l2 = { "site", "paris" };
    vmctld_reg_vm_t vm;
    vmctld_reg_device_t d;
    vmctld_reg_snapshot_t s;
    vmctld_reg_t *reg;
    char err[256];

    if (vmctld_reg_open(cfg.db_path, &reg, err, sizeof(err)) != 0)
        die("setup", "registry: %s", err);
    memset(&vm, 0, sizeof(vm));
    snprintf(vm.name, sizeof(vm.name), "sensor");
    snprintf(vm.version, sizeof(vm.version), "1.0.0");
    snprintf(vm.state, sizeof(vm.state), "running");
    memset(&d, 0, sizeof(d));
    snprintf(d.id, sizeof(d.id), "d1");
    d.labels = &l1;
    d.n_labels = 1;
    d.vms = &vm;
    d.n_vms = 1;
    d.last_seen_ms = 1000;
    if (vmctld_reg_device_upsert(reg, &d) != 0)
        die("setup", "device d1");
    snprintf(d.id, sizeof(d.id), "d2");
    d.labels = &l2;
    if (vmctld_reg_device_upsert(reg, &d) != 0)
        die("setup", "device d2");
    memset(&s, 0, sizeof(s));
    snprintf(s.sha256, sizeof(s.sha256), "%s", snap_sha);
    snprintf(s.device, sizeof(s.device), "d1");
    snprintf(s.vm, sizeof(s.vm), "sensor");
    s.size = sizeof(snap);
    s.created_ms = 2000;
    /* Where the store keeps it: vmctld serves the blob from its store,
     * whatever path the row recorded. */
    snprintf(s.path, sizeof(s.path), "%s/store", run_dir);
    if (mkdir(s.path, 0700) != 0)
        die("setup", "mkdir %s: %s", s.path, strerror(errno));
    snprintf(s.path, sizeof(s.path), "%s/store/snapshots", run_dir);
    if (mkdir(s.path, 0700) != 0)
        die("setup", "mkdir %s: %s", s.path, strerror(errno));
    snprintf(s.path, sizeof(s.path), "%s/store/snapshots/%.2s", run_dir,
             snap_sha);
    if (mkdir(s.path, 0700) != 0)
        die("setup", "mkdir %s: %s", s.path, strerror(errno));
    snprintf(s.path, sizeof(s.path), "%s/store/snapshots/%.2s/%s", run_dir,
             snap_sha, snap_sha);
    write_file(s.path, snap, sizeof(snap));
    if (vmctld_reg_snapshot_put(reg, &s) != 0)
        die("setup", "snapshot");
    vmctld_reg_close(reg);
}

static void
add_package(void)
{
    vmctld_reg_package_t p;
    bool created;
    char err[256];

    if (ctld_package_add(core, pkg, pkg_len, &p, &created, err,
                         sizeof(err)) != 0)
        die("setup", "package: %s", err);
    snprintf(pkg_sha, sizeof(pkg_sha), "%s", p.sha256);
}

/* A fresh directory, registry, core and API. */
static void
core_up(void)
{
    char err[512] = "";

    snprintf(run_dir, sizeof(run_dir), "%s/run-%u", base, run_no++);
    if (mkdir(run_dir, 0700) != 0)
        die("setup", "mkdir %s: %s", run_dir, strerror(errno));
    snprintf(cfg.data_dir, sizeof(cfg.data_dir), "%s", run_dir);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s/vmctld.db", run_dir);
    snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/store", run_dir);
    seed_registry();
    if (ctld_create(&cfg, &core, err, sizeof(err)) != 0)
        die("setup", "ctld_create: %s", err);
    if (vmctld_api_start(core, &cfg, &api, err, sizeof(err)) != 0 ||
        the_http == NULL)
        die("setup", "vmctld_api_start: %s", err);
    add_package();
    writes_ok = 0;
}

static void
core_down(void)
{
    vmctld_api_stop(api);
    api = NULL;
    ctld_destroy(core);
    core = NULL;
    if (run_dir[0] != '\0')
        pl_fs_remove_tree(run_dir);
    run_dir[0] = '\0';
}

static void
at_exit(void)
{
    core_down();
    vmctld_config_free(&cfg);
    free(pkg);
    if (base[0] != '\0')
        pl_fs_remove_tree(base);
}

static void
make_package(void)
{
    static const uint8_t wasm[] = { 0x00, 0x61, 0x73, 0x6d,
                                    0x01, 0x00, 0x00, 0x00 };
    vpk_manifest_t m;
    char err[256];

    memset(&m, 0, sizeof(m));
    snprintf(m.vm_name, sizeof(m.vm_name), "sensor");
    snprintf(m.version, sizeof(m.version), "2.0.0");
    snprintf(m.min_runtime_version, sizeof(m.min_runtime_version), "0.1.0");
    m.memory_pages = 1;
    if (vpk_pack(&m, wasm, sizeof(wasm), fuzz_priv_pem, &pkg, &pkg_len, err,
                 sizeof(err)) != 0)
        die("setup", "vpk_pack: %s", err);
}

static void
setup(void)
{
    const char *tmp = getenv("TMPDIR");
    uint8_t digest[32];
    char p[700];
    size_t i;

    if (access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm";
    else if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(base, sizeof(base), "%s/vmf-fuzz-api-XXXXXX", tmp);
    if (mkdtemp(base) == NULL)
        die("setup", "mkdtemp: %s", strerror(errno));
    atexit(at_exit);
    vmctld_log_set_level(VMCTLD_LOG_ERROR);

    vmctld_config_defaults(&cfg);
    snprintf(cfg.http_listen, sizeof(cfg.http_listen), "127.0.0.1:0");
    snprintf(cfg.mqtt_uri, sizeof(cfg.mqtt_uri), "tcp://127.0.0.1:1");
    cfg.http_max_body = MAX_BODY;
    cfg.http_max_upload = MAX_UPLOAD;
    if ((cfg.tokens = calloc(2, sizeof(*cfg.tokens))) == NULL)
        die("setup", "out of memory");
    snprintf(cfg.tokens[0].name, sizeof(cfg.tokens[0].name), "alice");
    snprintf(cfg.tokens[0].token, sizeof(cfg.tokens[0].token), TOK_OP);
    cfg.tokens[0].role = VMCTLD_ROLE_OPERATOR;
    snprintf(cfg.tokens[1].name, sizeof(cfg.tokens[1].name), "bob");
    snprintf(cfg.tokens[1].token, sizeof(cfg.tokens[1].token), TOK_VIEW);
    cfg.tokens[1].role = VMCTLD_ROLE_VIEWER;
    cfg.ntokens = 2;
    snprintf(p, sizeof(p), "%s/trusted.pem", base);
    write_file(p, fuzz_pub_pem, strlen(fuzz_pub_pem));
    if ((cfg.trusted_keys = calloc(1, sizeof(*cfg.trusted_keys))) == NULL)
        die("setup", "out of memory");
    snprintf(cfg.trusted_keys[0], sizeof(cfg.trusted_keys[0]), "%s", p);
    cfg.ntrusted_keys = 1;

    /* The web root, and a file next to it that must never be served. */
    snprintf(cfg.web_root, sizeof(cfg.web_root), "%s/web", base);
    if (mkdir(cfg.web_root, 0700) != 0 ||
        snprintf(p, sizeof(p), "%s/sub", cfg.web_root) < 0 ||
        mkdir(p, 0700) != 0)
        die("setup", "mkdir web: %s", strerror(errno));
    snprintf(p, sizeof(p), "%s/index.html", cfg.web_root);
    write_file(p, "<h1>vmfleet</h1>\n", 17);
    snprintf(p, sizeof(p), "%s/app.js", cfg.web_root);
    write_file(p, "let x = 1;\n", 11);
    snprintf(p, sizeof(p), "%s/sub/index.html", cfg.web_root);
    write_file(p, "<p>sub</p>\n", 11);
    snprintf(p, sizeof(p), "%s/secret.txt", base);
    write_file(p, SECRET, strlen(SECRET));

    for (i = 0; i < sizeof(snap); i++)
        snap[i] = (uint8_t)(i * 7 + 3);
    if (vmf_sha256(snap, sizeof(snap), digest) != 0)
        die("setup", "sha256");
    to_hex(digest, 32, snap_sha);
    make_package();
    core_up();
}

/* ---- seeds ------------------------------------------------------------- */

static void
seed(const char *dir, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seed(const char *dir, int *n, const char *fmt, ...)
{
    static char text[2 * MAX_BODY];
    char p[4096];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (len < 0 || (size_t)len >= sizeof(text))
        return;
    snprintf(p, sizeof(p), "%s/req-%03d", dir, (*n)++);
    write_file(p, text, (size_t)len);
}

static void
write_seeds(const char *dir)
{
    static const char *const actions[] = { "start",   "stop",    "suspend",
                                           "resume",  "restart", "snapshot" };
    char p[4096], big[MAX_BODY + 64];
    uint8_t *up;
    size_t i, hl;
    int n = 0;

    seed(dir, &n, "GET /healthz\n");
    seed(dir, &n, "GET /api/v1/info\n");
    seed(dir, &n, "GET /api/v1/devices?label=site=berlin&online=false\n");
    seed(dir, &n, "GET /api/v1/devices?label=site%%3Dparis&label=a=b\n");
    seed(dir, &n, "GET /api/v1/devices/d1\n");
    seed(dir, &n, "GET /api/v1/devices/d2/vms\n");
    seed(dir, &n, "GET /api/v1/devices/d1/vms/sensor/logs?bytes=100\n");
    seed(dir, &n, "HEAD /api/v1/devices/d2/vms/sensor/logs\n");
    seed(dir, &n, "GET /api/v1/fleet\n");
    seed(dir, &n,
         "POST /api/v1/devices/d1/vms\nContent-Type: application/json\n\n"
         "{\"name\": \"sensor\", \"package\": \"%s\"}",
         pkg_sha);
    for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        seed(dir, &n,
             "POST /api/v1/devices/d1/vms/sensor/%s\n"
             "Content-Type: application/json\n\n"
             "{\"expiry_s\": 60, \"timeout_s\": 30}",
             actions[i]);
    seed(dir, &n, "POST /api/v1/devices/d2/vms/sensor/stop\n");
    seed(dir, &n, "DELETE /api/v1/devices/d2/vms/sensor\n");
    seed(dir, &n,
         "POST /api/v1/devices/d2/vms/sensor/restore\n\n"
         "{\"snapshot\": \"%s\", \"expiry_s\": 0}",
         snap_sha);
    seed(dir, &n, "GET /api/v1/commands?device=d1&limit=5\n");
    seed(dir, &n, "GET /api/v1/commands/c1?wait=1\n");
    seed(dir, &n, "POST /api/v1/commands/c1/cancel\n\n{}");
    seed(dir, &n, "GET /api/v1/packages?vm=sensor\n");
    seed(dir, &n, "GET /api/v1/packages/%s\n", pkg_sha);
    seed(dir, &n, "DELETE /api/v1/packages/%s\n", pkg_sha);
    seed(dir, &n, "GET /api/v1/snapshots?device=d1\n");
    seed(dir, &n, "GET /api/v1/snapshots/%s\n", snap_sha);
    seed(dir, &n, "GET /api/v1/snapshots/%s/content\n", snap_sha);
    seed(dir, &n, "DELETE /api/v1/snapshots/%s\n", snap_sha);
    seed(dir, &n,
         "POST /api/v1/rollouts\nContent-Type: application/json\n\n"
         "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
         "{\"devices\": [\"d1\", \"d2\"]}, \"canary\": 1, \"batch\": 5, "
         "\"max_failures\": 0, \"health_window_ms\": 0, "
         "\"device_timeout_s\": 0}",
         pkg_sha);
    seed(dir, &n,
         "POST /api/v1/rollouts\n\n"
         "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
         "{\"labels\": {\"site\": \"berlin\"}}, \"batch\": \"10%%\", "
         "\"max_failures\": \"20%%\"}",
         pkg_sha);
    seed(dir, &n,
         "POST /api/v1/rollouts\n\n"
         "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
         "{\"all\": true}}",
         pkg_sha);
    seed(dir, &n, "GET /api/v1/rollouts\n");
    seed(dir, &n, "GET /api/v1/rollouts/r1\n");
    seed(dir, &n, "POST /api/v1/rollouts/r1/pause\n");
    seed(dir, &n, "POST /api/v1/rollouts/r1/resume\n\n{}");
    seed(dir, &n, "POST /api/v1/rollouts/r1/abort\n");
    seed(dir, &n, "GET /api/v1/events\n");
    seed(dir, &n, "HEAD /api/v1/events\n");
    /* Auth, methods, sizes and types. */
    seed(dir, &n, "GET /api/v1/info\nAuthorization: Bearer " TOK_VIEW "\n");
    seed(dir, &n,
         "POST /api/v1/rollouts\nAuthorization: Bearer " TOK_VIEW "\n\n{}");
    seed(dir, &n, "GET /api/v1/info\nAuthorization: Basic Zm9vOmJhcg==\n");
    seed(dir, &n, "PUT /api/v1/rollouts\n");
    seed(dir, &n, "POST /api/v1/rollouts\nContent-Length: 999999\n\n");
    seed(dir, &n, "POST /api/v1/rollouts\nContent-Length: 12x\n\n{}");
    seed(dir, &n, "POST /api/v1/rollouts\nContent-Type: text/plain\n\n{}");
    seed(dir, &n, "POST /api/v1/rollouts\n\n[1, 2]");
    seed(dir, &n, "POST /api/v1/rollouts\n\n{\"vm\": 1} x");
    seed(dir, &n, "GET /api/v1/devices/d1\nContent-Length: 2\n\n{}");
    seed(dir, &n, "GET /api/v1/devices//vms\n");
    seed(dir, &n, "GET /\n");
    seed(dir, &n, "GET /app.js\n");
    seed(dir, &n, "GET /sub/\n");
    seed(dir, &n, "GET /../secret.txt\n");
    seed(dir, &n, "GET /%%2e%%2e/secret.txt\n");
    seed(dir, &n, "POST /index.html\n");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    seed(dir, &n,
         "POST /api/v1/rollouts\nTransfer-Encoding: chunked\n\n\"%s\"", big);
    /* The package upload, with its binary body. */
    hl = (size_t)snprintf(p, sizeof(p),
                          "POST /api/v1/packages\n"
                          "Content-Type: application/octet-stream\n\n");
    if ((up = malloc(hl + pkg_len)) != NULL) {
        memcpy(up, p, hl);
        memcpy(up + hl, pkg, pkg_len);
        snprintf(p, sizeof(p), "%s/req-%03d", dir, n++);
        write_file(p, up, hl + pkg_len);
        free(up);
    }
    seed(dir, &n, "POST /api/v1/packages\n\nnot a package");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VMF_FUZZ_API_SEEDS");

    (void)argc;
    (void)argv;
    verbose = getenv("VMF_FUZZ_API_VERBOSE") != NULL;
    setup();
    if (dir != NULL && *dir != '\0')
        write_seeds(dir);
    return 0;
}

/* ---- parsing an input into a request ------------------------------------ */

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode s in place, '+' as a space when `plus` (query). */
static void
unescape(char *s, bool plus)
{
    char *w = s;
    int h, l;

    for (; *s != '\0'; s++) {
        if (*s == '%' && (h = hexval(s[1])) >= 0 && (l = hexval(s[2])) >= 0) {
            *w++ = (char)(h * 16 + l);
            s += 2;
        } else if (plus && *s == '+') {
            *w++ = ' ';
        } else {
            *w++ = *s;
        }
    }
    *w = '\0';
}

/* Content-Length as http.c reads it: -1 absent, -2 not a number. */
static int64_t
content_length(const char *v)
{
    uint64_t n = 0;

    if (v == NULL)
        return -1;
    if (*v == '\0')
        return -2;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9' || n > (uint64_t)INT64_MAX / 10 - 1)
            return -2;
        n = n * 10 + (uint64_t)(*v - '0');
    }
    return (int64_t)n;
}

typedef struct request {
    char *text;           /* the input, NUL-terminated, cut in place */
    char *method;
    char *path;
    vmctld_http_arg_t args[VMCTLD_HTTP_ARGS_MAX];
    size_t nargs;
    bool args_truncated;
    fake_conn_t hdrs;
    const uint8_t *body;  /* into text */
    size_t body_len;
    int64_t content_length;
    bool complete;        /* the whole body arrives */
} request_t;

/* Split the query into arguments as microhttpd does. */
static void
parse_query(request_t *r, char *q)
{
    char *amp, *eq;

    while (q != NULL && *q != '\0') {
        if ((amp = strchr(q, '&')) != NULL)
            *amp++ = '\0';
        if (r->nargs >= VMCTLD_HTTP_ARGS_MAX) {
            r->args_truncated = true;
            return;
        }
        if ((eq = strchr(q, '=')) != NULL)
            *eq++ = '\0';
        unescape(q, true);
        if (eq != NULL)
            unescape(eq, true);
        r->args[r->nargs].key = q;
        r->args[r->nargs].value = eq != NULL ? eq : "";
        r->nargs++;
        q = amp;
    }
}

/* Return: 0, or -1 for an input that is no request at all. */
static int
parse_request(request_t *r, const uint8_t *data, size_t size)
{
    char *p, *end, *nl, *sp, *colon, *q;
    const char *te;
    bool body_next = false;

    memset(r, 0, sizeof(*r));
    if ((r->text = malloc(size + 1)) == NULL)
        return -1;
    memcpy(r->text, data, size);
    r->text[size] = '\0';
    end = r->text + size;
    p = r->text;

    /* The request line. */
    if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
        nl = end;
    *nl = '\0';
    if (nl > p && nl[-1] == '\r')
        nl[-1] = '\0';
    if ((sp = strchr(p, ' ')) == NULL || sp == p)
        return -1;
    *sp = '\0';
    r->method = p;
    r->path = sp + 1;
    if ((q = strchr(r->path, '?')) != NULL)
        *q++ = '\0';
    unescape(r->path, false);
    parse_query(r, q);
    p = nl < end ? nl + 1 : end;

    /* Headers, up to an empty line. */
    while (p < end) {
        if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
            nl = end;
        *nl = '\0';
        if (nl > p && nl[-1] == '\r')
            nl[-1] = '\0';
        if (*p == '\0') {
            p = nl < end ? nl + 1 : end;
            body_next = true;
            break;
        }
        if ((colon = strchr(p, ':')) != NULL && r->hdrs.n < HDRS_MAX) {
            *colon++ = '\0';
            while (*colon == ' ' || *colon == '\t')
                colon++;
            r->hdrs.name[r->hdrs.n] = p;
            r->hdrs.value[r->hdrs.n] = colon;
            r->hdrs.n++;
        }
        p = nl < end ? nl + 1 : end;
    }
    if (body_next) {
        r->body = (const uint8_t *)p;
        r->body_len = (size_t)(end - p);
    } else {
        r->body = (const uint8_t *)"";
    }

    /* Authorization and Content-Length, as a client would send them. */
    if (conn_header(&r->hdrs, "Authorization") == NULL) {
        r->hdrs.name[r->hdrs.n] = "Authorization";
        r->hdrs.value[r->hdrs.n] = "Bearer " TOK_OP;
        r->hdrs.n++;
    }
    r->content_length =
        content_length(conn_header(&r->hdrs, "Content-Length"));
    te = conn_header(&r->hdrs, "Transfer-Encoding");
    r->complete = true;
    if (r->content_length >= 0) {
        if ((uint64_t)r->content_length > r->body_len)
            r->complete = false;
        else
            r->body_len = (size_t)r->content_length;
    } else if (r->content_length == -1 && te == NULL && r->body_len > 0) {
        r->content_length = (int64_t)r->body_len;
    }
    return 0;
}

/* ---- checking an answer ------------------------------------------------- */

typedef struct state {
    size_t commands_pending, rollouts_active, devices;
    size_t packages, snapshots, rollouts, commands;
    char newest_command[CTLD_ID_MAX];
} state_t;

static void
get_state(state_t *s)
{
    vmctld_reg_package_t *pkgs = NULL;
    vmctld_reg_snapshot_t *snaps = NULL;
    ctld_rollout_t *ros = NULL;
    ctld_command_t *cmds = NULL;
    ctld_info_t info;

    memset(s, 0, sizeof(*s));
    if (ctld_info(core, &info) != 0 ||
        ctld_package_list(core, NULL, &pkgs, &s->packages) != 0 ||
        ctld_snapshot_list(core, NULL, &snaps, &s->snapshots) != 0 ||
        ctld_rollout_list(core, &ros, &s->rollouts) != 0 ||
        ctld_command_list(core, NULL, 1, &cmds, &s->commands) != 0)
        die("state", "the core does not answer");
    s->commands_pending = info.commands_pending;
    s->rollouts_active = info.rollouts_active;
    s->devices = info.devices;
    if (s->commands > 0)
        snprintf(s->newest_command, sizeof(s->newest_command), "%s",
                 cmds[0].id);
    free(pkgs);
    free(snaps);
    free(ros);
    free(cmds);
}

static const char *
resp_header(const vmctld_http_resp_t *resp, const char *name)
{
    size_t i;

    for (i = 0; i < resp->nhdrs; i++)
        if (strcasecmp(resp->hdrs[i].name, name) == 0)
            return resp->hdrs[i].value;
    return NULL;
}

/* The error code that belongs to each error status (docs/api.md). */
static bool
code_fits(int status, const char *code)
{
    static const struct {
        int status;
        const char *code;
    } table[] = {
        { 400, "E_BAD_JSON" },   { 400, "E_INVALID" },
        { 401, "E_UNAUTHORIZED" }, { 403, "E_FORBIDDEN" },
        { 404, "E_NOT_FOUND" },  { 405, "E_METHOD" },
        { 409, "E_CONFLICT" },   { 411, "E_LENGTH_REQUIRED" },
        { 413, "E_TOO_LARGE" },  { 415, "E_MEDIA_TYPE" },
        { 422, "E_BAD_PACKAGE" }, { 504, "E_TIMEOUT" },
    };
    size_t i;

    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].status == status && strcmp(table[i].code, code) == 0)
            return true;
    return false;
}

/* The body of a response as text, for messages. */
static const char *
body_text(const vmctld_http_resp_t *resp)
{
    return resp->body != NULL ? resp->body : "(no body)";
}

static void
check_error(const request_t *r, const vmctld_http_resp_t *resp)
{
    const cJSON *e, *code = NULL, *msg = NULL;
    cJSON *doc;

    if (resp->type == NULL || strcmp(resp->type, "application/json") != 0 ||
        resp->body == NULL || resp->fd >= 0 || resp->stream != NULL)
        die("error", "%d for %s %s is not a JSON document", resp->status,
            r->method, r->path);
    if ((doc = cJSON_ParseWithLength(resp->body, resp->len)) == NULL ||
        !cJSON_IsObject(doc) ||
        !cJSON_IsObject(e = cJSON_GetObjectItemCaseSensitive(doc, "error")) ||
        !cJSON_IsString(code = cJSON_GetObjectItemCaseSensitive(e, "code")) ||
        !cJSON_IsString(msg = cJSON_GetObjectItemCaseSensitive(e, "message")) ||
        msg->valuestring[0] == '\0')
        die("error", "%d: bad error document %s", resp->status,
            body_text(resp));
    if (!code_fits(resp->status, code->valuestring))
        die("error", "%d with code %s (%s %s)", resp->status,
            code->valuestring, r->method, r->path);
    cJSON_Delete(doc);
    if (resp->status == 401 && resp_header(resp, "WWW-Authenticate") == NULL)
        die("error", "401 without WWW-Authenticate");
    if (resp->status == 405 &&
        (resp_header(resp, "Allow") == NULL ||
         resp_header(resp, "Allow")[0] == '\0'))
        die("error", "405 without Allow");
}

static void
check_success(const request_t *r, const vmctld_http_resp_t *resp)
{
    char buf[256];
    ssize_t n;
    cJSON *doc;

    if (resp->status == 204) {
        if (resp->body != NULL && resp->len > 0)
            die("success", "204 with a body");
        return;
    }
    if (resp->stream != NULL) {
        if (resp->type == NULL || strcmp(resp->type, "text/event-stream") != 0)
            die("success", "a stream that is not an event stream");
        /* The greeting is there at once; more would block. */
        if ((n = resp->stream(resp->stream_arg, buf, sizeof(buf))) <= 0)
            die("success", "event stream without its greeting");
        return;
    }
    if (resp->fd >= 0) {
        /* A static file or a snapshot: never from outside the web root. */
        n = read(resp->fd, buf, sizeof(buf) - 1);
        if (n < 0)
            die("success", "file not readable: %s", strerror(errno));
        buf[n] = '\0';
        if (strstr(buf, SECRET) != NULL)
            die("success", "%s %s served a file outside the web root",
                r->method, r->path);
        return;
    }
    if (strcmp(r->method, "HEAD") == 0 && resp->body == NULL)
        return;
    if (resp->body == NULL || resp->type == NULL ||
        strcmp(resp->type, "application/json") != 0)
        die("success", "%d for %s %s without a JSON body", resp->status,
            r->method, r->path);
    if ((doc = cJSON_ParseWithLength(resp->body, resp->len)) == NULL ||
        !cJSON_IsObject(doc))
        die("success", "%d: body is not a JSON object: %s", resp->status,
            body_text(resp));
    cJSON_Delete(doc);
}

/* Release what a response owns, as http.c does after sending it. */
static void
resp_release(vmctld_http_resp_t *resp)
{
    free(resp->body);
    resp->body = NULL;
    if (resp->fd >= 0)
        close(resp->fd);
    resp->fd = -1;
    if (resp->stream_free != NULL)
        resp->stream_free(resp->stream_arg);
    resp->stream = NULL;
    resp->stream_free = NULL;
}

static void
check_answer(const request_t *r, const vmctld_http_resp_t *resp)
{
    switch (resp->status) {
    case 200:
    case 201:
    case 202:
    case 204:
        check_success(r, resp);
        break;
    case 400:
    case 401:
    case 403:
    case 404:
    case 405:
    case 409:
    case 411:
    case 413:
    case 415:
    case 422:
    case 504: /* VM logs: the device did not answer in time */
        check_error(r, resp);
        break;
    default:
        die("status", "%d for %s %s: %s", resp->status, r->method, r->path,
            body_text(resp));
    }
}

/* ---- after a write ----------------------------------------------------- */

/* Cancel what is not final, abort what runs: the next input starts from
 * a quiet core, and a long poll never waits.  One request makes a few
 * commands at most, and they are the newest. */
static void
quiet_core(void)
{
    ctld_command_t *cmds = NULL;
    ctld_rollout_t *ros = NULL;
    size_t n = 0, i;

    if (ctld_rollout_list(core, &ros, &n) == 0) {
        for (i = 0; i < n; i++)
            if (strcmp(ros[i].state, "pending") == 0 ||
                strcmp(ros[i].state, "running") == 0 ||
                strcmp(ros[i].state, "paused") == 0)
                (void)ctld_rollout_abort(core, ros[i].id, NULL);
        free(ros);
    }
    if (ctld_command_list(core, NULL, 50, &cmds, &n) == 0) {
        for (i = 0; i < n; i++)
            if (!ctld_cmd_state_final(cmds[i].state))
                (void)ctld_command_cancel(core, cmds[i].id, NULL);
        free(cmds);
    }
}

static void
after_write(const request_t *r, const vmctld_http_resp_t *resp)
{
    vmctld_reg_package_t p;

    if (strcmp(r->method, "DELETE") == 0 && resp->status == 204 &&
        strncmp(r->path, "/api/v1/snapshots/", 18) == 0) {
        core_down();
        core_up();
        return;
    }
    if (++writes_ok >= RESET_EVERY) {
        core_down();
        core_up();
        return;
    }
    quiet_core();
    if (ctld_package_get(core, pkg_sha, &p) != 0)
        add_package();
}

/* ---- one input --------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmctld_http_resp_t resp;
    vmctld_http_req_t req;
    state_t before, after;
    request_t r;
    bool is_write;
    uint8_t *body = NULL;

    if (parse_request(&r, data, size) != 0) {
        free(r.text);
        return 0;
    }
    is_write =
        strcmp(r.method, "GET") != 0 && strcmp(r.method, "HEAD") != 0;
    if (is_write)
        get_state(&before);

    memset(&req, 0, sizeof(req));
    req.phase = VMCTLD_HTTP_HEAD;
    req.method = r.method;
    req.path = r.path;
    req.content_length = r.content_length;
    memcpy(req.args, r.args, sizeof(req.args));
    req.nargs = r.nargs;
    req.args_truncated = r.args_truncated;
    req.conn_ = &r.hdrs;
    memset(&resp, 0, sizeof(resp));
    resp.fd = -1;
    the_http->fn(the_http->arg, &req, &resp);
    if (resp.status == 0) {
        resp_release(&resp);
        if (!r.complete) /* the client never sends the rest */
            goto done;
        /* http.c: bytes over body_limit make an overflow. */
        if (r.body_len > req.body_limit) {
            req.phase = VMCTLD_HTTP_OVERFLOW;
        } else {
            req.phase = VMCTLD_HTTP_BODY;
            if ((body = malloc(r.body_len + 1)) == NULL)
                goto done;
            memcpy(body, r.body, r.body_len);
            body[r.body_len] = '\0';
            req.body = body;
            req.body_len = r.body_len;
        }
        memset(&resp, 0, sizeof(resp));
        resp.fd = -1;
        the_http->fn(the_http->arg, &req, &resp);
        if (resp.status == 0)
            die("answer", "no answer after the body of %s %s", r.method,
                r.path);
    }
    if (verbose)
        fprintf(stderr, "fuzz_api: %s %s -> %d %.200s\n", r.method, r.path,
                resp.status, resp.body != NULL ? resp.body : "");
    check_answer(&r, &resp);
    if (is_write) {
        if (resp.status >= 400) {
            get_state(&after);
            if (memcmp(&before, &after, sizeof(before)) != 0)
                die("state", "%s %s failed with %d but changed the core",
                    r.method, r.path, resp.status);
        } else {
            after_write(&r, &resp);
        }
    }
    resp_release(&resp);
done:
    free(req.user);
    free(body);
    free(r.text);
    return 0;
}
