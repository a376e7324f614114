/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctld's HTTP API (server/vmctl/vmctld/src/api.c, http.c) for real: a
 * core (ctld_create on a fresh temporary data dir, two offline devices
 * seeded into its registry, an MQTT broker that is not there) and the
 * API on a loopback port, spoken to with plain sockets so that requests
 * can lie about their size.  Each test gets its own directory, core and
 * API.  Every failed write is followed by a look at the lists: nothing
 * changed.
 */

#define _GNU_SOURCE /* mkdtemp, nftw, strcasestr */

#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "api.h"
#include "api_internal.h" /* the event hub, tested alone */
#include "config.h"
#include "ctld.h"
#include "registry.h"
#include "vmf/vpk.h"

#define TOK_OP "op-0123456789abcdef0123456789abcdef"
#define TOK_VIEW "view-0123456789abcdef0123456789abc"
#define MAX_BODY 4096
#define MAX_UPLOAD (256 * 1024)
#define IO_TIMEOUT_MS 10000
#define NO_SHA                                                           \
    "0000000000000000000000000000000000000000000000000000000000000000"

typedef struct fixture {
    char dir[256];
    char web[300];
    vmctld_config_t cfg;
    ctld_t *core;
    vmctld_api_t *api;
    int port;
    char priv[VPK_PEM_MAX];
    char pub[VPK_PEM_MAX];
    char snap_sha[65];
    uint8_t snap[3000];
} fixture_t;

typedef struct hresp {
    int status;
    char *raw;          /* the whole response, NUL-terminated */
    size_t rawlen;
    char *body;         /* decoded body (owned), NUL-terminated */
    size_t len;
    cJSON *json;        /* the body, when it is JSON */
} hresp_t;

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void
to_hex(const uint8_t *b, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

/* ---- fixture ----------------------------------------------------------- */

/* More rows for the registry before the core opens it (setup_fleet). */
static void (*extra_seed)(fixture_t *f);

/* Two offline devices and one snapshot (with its file), before the core
 * opens the registry. */
static void
seed_registry(fixture_t *f)
{
    vmctld_reg_label_t l1 = { "site", "berlin" }, l2 = { "site", "paris" };
    vmctld_reg_vm_t vm;
    vmctld_reg_device_t d;
    vmctld_reg_snapshot_t s;
    vmctld_reg_t *reg;
    uint8_t digest[32];
    char err[256];
    size_t i;

    assert_int_equal(vmctld_reg_open(f->cfg.db_path, &reg, err,
                                     sizeof(err)),
                     0);
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
    assert_int_equal(vmctld_reg_device_upsert(reg, &d), 0);
    snprintf(d.id, sizeof(d.id), "d2");
    d.labels = &l2;
    assert_int_equal(vmctld_reg_device_upsert(reg, &d), 0);

    for (i = 0; i < sizeof(f->snap); i++)
        f->snap[i] = (uint8_t)(i * 7 + 3);
    assert_int_equal(vmf_sha256(f->snap, sizeof(f->snap), digest), 0);
    to_hex(digest, 32, f->snap_sha);
    memset(&s, 0, sizeof(s));
    snprintf(s.sha256, sizeof(s.sha256), "%s", f->snap_sha);
    snprintf(s.device, sizeof(s.device), "d1");
    snprintf(s.vm, sizeof(s.vm), "sensor");
    s.size = sizeof(f->snap);
    s.created_ms = 2000;
    /* Where the store keeps it: vmctld serves the blob from its store,
     * whatever path the row recorded. */
    snprintf(s.path, sizeof(s.path), "%s/store", f->dir);
    assert_int_equal(mkdir(s.path, 0700), 0);
    snprintf(s.path, sizeof(s.path), "%s/store/snapshots", f->dir);
    assert_int_equal(mkdir(s.path, 0700), 0);
    snprintf(s.path, sizeof(s.path), "%s/store/snapshots/%.2s", f->dir,
             f->snap_sha);
    assert_int_equal(mkdir(s.path, 0700), 0);
    snprintf(s.path, sizeof(s.path), "%s/store/snapshots/%.2s/%s", f->dir,
             f->snap_sha, f->snap_sha);
    write_file(s.path, f->snap, sizeof(f->snap));
    assert_int_equal(vmctld_reg_snapshot_put(reg, &s), 0);
    vmctld_reg_close(reg);
}

static void
add_token(vmctld_config_t *cfg, const char *name, const char *tok,
          vmctld_role_t role)
{
    vmctld_token_t *t;

    t = realloc(cfg->tokens, (cfg->ntokens + 1) * sizeof(*t));
    assert_non_null(t);
    cfg->tokens = t;
    t = &cfg->tokens[cfg->ntokens++];
    memset(t, 0, sizeof(*t));
    snprintf(t->name, sizeof(t->name), "%s", name);
    snprintf(t->token, sizeof(t->token), "%s", tok);
    t->role = role;
}

static int
setup_with(void **state, bool web)
{
    fixture_t *f = calloc(1, sizeof(*f));
    char path[512], err[512] = "";

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmf-test-api-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    vmctld_config_defaults(&f->cfg);
    snprintf(f->cfg.http_listen, sizeof(f->cfg.http_listen), "127.0.0.1:0");
    /* Nothing listens there: the core keeps retrying, quietly. */
    snprintf(f->cfg.mqtt_uri, sizeof(f->cfg.mqtt_uri), "tcp://127.0.0.1:1");
    snprintf(f->cfg.data_dir, sizeof(f->cfg.data_dir), "%s", f->dir);
    snprintf(f->cfg.db_path, sizeof(f->cfg.db_path), "%s/vmctld.db", f->dir);
    snprintf(f->cfg.store_dir, sizeof(f->cfg.store_dir), "%s/store", f->dir);
    f->cfg.http_max_body = MAX_BODY;
    f->cfg.http_max_upload = MAX_UPLOAD;
    f->cfg.http_max_clients = 64;
    add_token(&f->cfg, "alice", TOK_OP, VMCTLD_ROLE_OPERATOR);
    add_token(&f->cfg, "bob", TOK_VIEW, VMCTLD_ROLE_VIEWER);

    assert_int_equal(vpk_key_gen(f->priv, sizeof(f->priv), f->pub,
                                 sizeof(f->pub)),
                     0);
    snprintf(path, sizeof(path), "%s/trusted.pem", f->dir);
    write_file(path, f->pub, strlen(f->pub));
    f->cfg.trusted_keys = calloc(1, sizeof(*f->cfg.trusted_keys));
    assert_non_null(f->cfg.trusted_keys);
    snprintf(f->cfg.trusted_keys[0], sizeof(f->cfg.trusted_keys[0]), "%s",
             path);
    f->cfg.ntrusted_keys = 1;

    if (web) {
        snprintf(f->web, sizeof(f->web), "%s/web", f->dir);
        assert_int_equal(mkdir(f->web, 0755), 0);
        snprintf(path, sizeof(path), "%s/index.html", f->web);
        write_file(path, "<h1>vmfleet</h1>\n", 17);
        snprintf(path, sizeof(path), "%s/app.js", f->web);
        write_file(path, "let x = 1;\n", 11);
        snprintf(path, sizeof(path), "%s/secret.txt", f->dir);
        write_file(path, "secret\n", 7);
        snprintf(f->cfg.web_root, sizeof(f->cfg.web_root), "%s", f->web);
    }

    seed_registry(f);
    if (extra_seed != NULL)
        extra_seed(f);
    if (ctld_create(&f->cfg, &f->core, err, sizeof(err)) != 0)
        fail_msg("ctld_create: %s", err);
    if (ctld_start(f->core, err, sizeof(err)) != 0)
        fail_msg("ctld_start: %s", err);
    if (vmctld_api_start(f->core, &f->cfg, &f->api, err, sizeof(err)) != 0)
        fail_msg("vmctld_api_start: %s", err);
    f->port = vmctld_api_port(f->api);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int
setup(void **state)
{
    return setup_with(state, false);
}

static int
setup_web(void **state)
{
    return setup_with(state, true);
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    vmctld_api_stop(f->api);
    ctld_destroy(f->core);
    vmctld_config_free(&f->cfg);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* ---- a small HTTP client ----------------------------------------------- */

static int
connect_port(int family, int port)
{
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    int fd, one = 1;

    fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (family == AF_INET6) {
        memset(&a6, 0, sizeof(a6));
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)port);
        a6.sin6_addr = in6addr_loopback;
        assert_int_equal(connect(fd, (struct sockaddr *)&a6, sizeof(a6)), 0);
    } else {
        memset(&a4, 0, sizeof(a4));
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)port);
        a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(connect(fd, (struct sockaddr *)&a4, sizeof(a4)), 0);
    }
    return fd;
}

/* Send what the peer takes; it may close early (that is the point of
 * some tests), so errors end the sending quietly. */
static void
send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    ssize_t n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

/*
 * Read into *buf (grown) until `needle` appears, EOF, or the deadline.
 * Return: 1 found (or EOF when needle is NULL), 0 EOF without it,
 * -1 timeout.
 */
static int
read_until(int fd, char **buf, size_t *len, const char *needle,
           int64_t deadline)
{
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    char tmp[16384];
    ssize_t n;
    char *p;

    for (;;) {
        if (needle != NULL && *buf != NULL && strstr(*buf, needle) != NULL)
            return 1;
        if (now_ms() >= deadline)
            return -1;
        if (poll(&pfd, 1, (int)(deadline - now_ms())) <= 0)
            continue;
        n = recv(fd, tmp, sizeof(tmp), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* EOF, or a reset after the server answered */
            return needle == NULL ? 1 : 0;
        p = realloc(*buf, *len + (size_t)n + 1);
        assert_non_null(p);
        memcpy(p + *len, tmp, (size_t)n);
        *len += (size_t)n;
        p[*len] = '\0';
        *buf = p;
    }
}

/* Undo chunked transfer coding. */
static void
dechunk(const char *in, size_t inlen, hresp_t *r)
{
    const char *p = in, *end = in + inlen;
    size_t sz;
    char *e;

    r->body = calloc(1, inlen + 1);
    assert_non_null(r->body);
    r->len = 0;
    while (p < end) {
        sz = strtoul(p, &e, 16);
        if (e == p || (e = strstr(e, "\r\n")) == NULL)
            break;
        p = e + 2;
        if (sz == 0 || sz > (size_t)(end - p))
            break;
        memcpy(r->body + r->len, p, sz);
        r->len += sz;
        p += sz + 2;
    }
}

static void
parse_resp(hresp_t *r)
{
    const char *hend;
    size_t hlen;

    assert_non_null(r->raw);
    assert_int_equal(sscanf(r->raw, "HTTP/1.%*d %d", &r->status), 1);
    hend = strstr(r->raw, "\r\n\r\n");
    assert_non_null(hend);
    hlen = (size_t)(hend - r->raw) + 4;
    if (strcasestr(r->raw, "\r\nTransfer-Encoding: chunked") != NULL &&
        strcasestr(r->raw, "\r\nTransfer-Encoding: chunked") < hend) {
        dechunk(r->raw + hlen, r->rawlen - hlen, r);
    } else {
        r->len = r->rawlen - hlen;
        r->body = malloc(r->len + 1);
        assert_non_null(r->body);
        memcpy(r->body, r->raw + hlen, r->len);
        r->body[r->len] = '\0';
    }
    r->json = cJSON_ParseWithLength(r->body, r->len);
}

/* Send a complete request text (+ body) and read the whole answer. */
static hresp_t
raw_req(const fixture_t *f, const char *head, const void *body, size_t len)
{
    hresp_t r;
    int fd;

    memset(&r, 0, sizeof(r));
    fd = connect_port(AF_INET, f->port);
    send_all(fd, head, strlen(head));
    if (len > 0)
        send_all(fd, body, len);
    assert_int_equal(read_until(fd, &r.raw, &r.rawlen, NULL,
                                now_ms() + IO_TIMEOUT_MS),
                     1);
    close(fd);
    parse_resp(&r);
    return r;
}

static hresp_t
req(const fixture_t *f, const char *method, const char *path,
    const char *token, const char *ctype, const void *body, size_t len)
{
    char head[2048], auth[256] = "", type[128] = "", clen[64] = "";

    if (token != NULL)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    if (ctype != NULL)
        snprintf(type, sizeof(type), "Content-Type: %s\r\n", ctype);
    if (body != NULL)
        snprintf(clen, sizeof(clen), "Content-Length: %zu\r\n", len);
    snprintf(head, sizeof(head),
             "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
             "%s%s%s\r\n",
             method, path, auth, type, clen);
    return raw_req(f, head, body, body != NULL ? len : 0);
}

static hresp_t
get(const fixture_t *f, const char *path, const char *token)
{
    return req(f, "GET", path, token, NULL, NULL, 0);
}

static hresp_t
post_json(const fixture_t *f, const char *path, const char *token,
          const char *json)
{
    return req(f, "POST", path, token, "application/json", json,
               strlen(json));
}

static void
hresp_free(hresp_t *r)
{
    free(r->raw);
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof(*r));
}

static const char *
jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *
jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* The answer is the error `code` with `status`; its message contains
 * `needle` (the field it names), if given.  Frees r. */
static void
expect_error(hresp_t *r, int status, const char *code, const char *needle)
{
    const cJSON *e;
    const char *msg;

    if (r->status != status)
        fail_msg("expected %d %s, got %d: %s", status, code, r->status,
                 r->body != NULL ? r->body : "");
    assert_non_null(r->json);
    e = jget(r->json, "error");
    assert_non_null(e);
    assert_string_equal(jstr(e, "code"), code);
    msg = jstr(e, "message");
    assert_non_null(msg);
    if (needle != NULL && strstr(msg, needle) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", msg, needle);
    hresp_free(r);
}

static bool
has_header(const hresp_t *r, const char *line)
{
    const char *hend = strstr(r->raw, "\r\n\r\n");
    const char *p = strcasestr(r->raw, line);

    return p != NULL && p < hend;
}

/* The number of items in a list endpoint's array. */
static int
list_count(const fixture_t *f, const char *path, const char *key)
{
    hresp_t r = get(f, path, TOK_VIEW);
    int n;

    assert_int_equal(r.status, 200);
    assert_non_null(r.json);
    assert_true(cJSON_IsArray(jget(r.json, key)));
    n = cJSON_GetArraySize(jget(r.json, key));
    hresp_free(&r);
    return n;
}

static void
expect_nothing_new(const fixture_t *f, int packages, int rollouts,
                   int commands)
{
    assert_int_equal(list_count(f, "/api/v1/packages", "packages"),
                     packages);
    assert_int_equal(list_count(f, "/api/v1/rollouts", "rollouts"),
                     rollouts);
    assert_int_equal(list_count(f, "/api/v1/commands", "commands"),
                     commands);
}

/* A signed package for `vm` (caller frees). */
static uint8_t *
make_pkg(const fixture_t *f, const char *vm, const char *version,
         size_t *len)
{
    static const uint8_t module[] = { 0x00, 0x61, 0x73, 0x6d,
                                      0x01, 0x00, 0x00, 0x00 };
    vpk_manifest_t m;
    uint8_t *out = NULL;
    char err[256] = "";

    memset(&m, 0, sizeof(m));
    snprintf(m.vm_name, sizeof(m.vm_name), "%s", vm);
    snprintf(m.version, sizeof(m.version), "%s", version);
    m.created_unix = 1700000000;
    if (vpk_pack(&m, module, sizeof(module), f->priv, &out, len, err,
                 sizeof(err)) != 0)
        fail_msg("vpk_pack: %s", err);
    return out;
}

/* Upload a good package; returns its sha256 in `sha`. */
static void
upload_pkg(const fixture_t *f, const char *vm, const char *version,
           char sha[65])
{
    size_t len;
    uint8_t *pkg = make_pkg(f, vm, version, &len);
    hresp_t r = req(f, "POST", "/api/v1/packages", TOK_OP,
                    "application/octet-stream", pkg, len);

    if (r.status != 201)
        fail_msg("upload: %d %s", r.status, r.body);
    snprintf(sha, 65, "%s", jstr(r.json, "sha256"));
    assert_int_equal(strlen(sha), 64);
    hresp_free(&r);
    free(pkg);
}

/* ---- basics and auth --------------------------------------------------- */

static void
test_api_healthz_needs_no_token(void **state)
{
    fixture_t *f = *state;
    hresp_t r = get(f, "/healthz", NULL);

    assert_int_equal(r.status, 200);
    assert_true(cJSON_IsTrue(jget(r.json, "ok")));
    hresp_free(&r);
    r = req(f, "POST", "/healthz", NULL, NULL, NULL, 0);
    expect_error(&r, 405, "E_METHOD", NULL);
}

static void
test_api_no_token_is_401(void **state)
{
    fixture_t *f = *state;
    hresp_t r = get(f, "/api/v1/info", NULL);

    assert_true(has_header(&r, "WWW-Authenticate: Bearer"));
    expect_error(&r, 401, "E_UNAUTHORIZED", "token");
    /* An unknown route is not revealed without a token either. */
    r = get(f, "/api/v1/nope", NULL);
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
}

static void
test_api_bad_token_is_401(void **state)
{
    fixture_t *f = *state;
    hresp_t r = get(f, "/api/v1/info", "nope");

    expect_error(&r, 401, "E_UNAUTHORIZED", "unknown token");
    /* A prefix of a real token, or a real token with more after it. */
    r = get(f, "/api/v1/info", "op-0123456789abcdef0123456789abcde");
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
    r = get(f, "/api/v1/info", TOK_OP "x");
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
    r = req(f, "GET", "/api/v1/info", NULL, NULL, NULL, 0);
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
}

static void
test_api_viewer_reads_but_may_not_write(void **state)
{
    fixture_t *f = *state;
    hresp_t r = get(f, "/api/v1/info", TOK_VIEW);
    char sha[65];

    assert_int_equal(r.status, 200);
    assert_non_null(jstr(r.json, "version"));
    assert_int_equal(jget(r.json, "devices")->valueint, 2);
    assert_true(cJSON_IsBool(jget(r.json, "mqtt_connected")));
    assert_string_equal(jstr(r.json, "role"), "viewer");
    hresp_free(&r);

    r = post_json(f, "/api/v1/devices/d1/vms/sensor/start", TOK_VIEW, "{}");
    expect_error(&r, 403, "E_FORBIDDEN", "operator");
    upload_pkg(f, "sensor", "1.1.0", sha);
    r = req(f, "DELETE", "/api/v1/packages/", TOK_VIEW, NULL, NULL, 0);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    {
        char path[128];

        snprintf(path, sizeof(path), "/api/v1/packages/%s", sha);
        r = req(f, "DELETE", path, TOK_VIEW, NULL, NULL, 0);
        expect_error(&r, 403, "E_FORBIDDEN", NULL);
    }
    expect_nothing_new(f, 1, 0, 0);
}

static void
test_api_unknown_route_404_wrong_method_405(void **state)
{
    fixture_t *f = *state;
    hresp_t r = get(f, "/api/v1/nope", TOK_OP);

    expect_error(&r, 404, "E_NOT_FOUND", "/api/v1/nope");
    r = get(f, "/api/v2/info", TOK_OP);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    r = get(f, "/api/v1/devices/d1/vms/sensor/explode", TOK_OP);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    r = get(f, "/", NULL); /* no web_root configured */
    expect_error(&r, 404, "E_NOT_FOUND", NULL);

    r = req(f, "DELETE", "/api/v1/info", TOK_OP, NULL, NULL, 0);
    assert_true(has_header(&r, "Allow: GET"));
    expect_error(&r, 405, "E_METHOD", NULL);
    r = req(f, "PUT", "/api/v1/rollouts", TOK_OP, NULL, NULL, 0);
    assert_true(has_header(&r, "Allow: GET, POST"));
    expect_error(&r, 405, "E_METHOD", NULL);
}

static void
test_api_reload_swaps_tokens(void **state)
{
    fixture_t *f = *state;
    vmctld_config_t cfg = f->cfg;
    hresp_t r;

    cfg.tokens = NULL;
    cfg.ntokens = 0;
    add_token(&cfg, "carol", "carol-token-0123456789abcdef",
              VMCTLD_ROLE_OPERATOR);
    assert_int_equal(vmctld_api_reload(f->api, &cfg), 0);
    free(cfg.tokens);
    r = get(f, "/api/v1/info", TOK_OP);
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
    r = get(f, "/api/v1/info", "carol-token-0123456789abcdef");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "role"), "operator");
    hresp_free(&r);
}

/* ---- bodies ------------------------------------------------------------ */

static void
test_api_bad_json_is_400(void **state)
{
    fixture_t *f = *state;
    hresp_t r = post_json(f, "/api/v1/rollouts", TOK_OP, "{\"vm\": ");

    expect_error(&r, 400, "E_BAD_JSON", "body");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, "[1, 2]");
    expect_error(&r, 400, "E_BAD_JSON", "object");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, "{} {}");
    expect_error(&r, 400, "E_BAD_JSON", NULL);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, "");
    expect_error(&r, 400, "E_BAD_JSON", NULL);
    r = post_json(f, "/api/v1/devices/d1/vms", TOK_OP, "not json");
    expect_error(&r, 400, "E_BAD_JSON", NULL);
    r = req(f, "POST", "/api/v1/rollouts", TOK_OP, "text/plain", "{}", 2);
    expect_error(&r, 415, "E_MEDIA_TYPE", "application/json");
    expect_nothing_new(f, 0, 0, 0);
}

static void
test_api_wrong_typed_field_is_400_naming_it(void **state)
{
    fixture_t *f = *state;
    char sha[65], body[512];
    hresp_t r;

    upload_pkg(f, "sensor", "1.1.0", sha);
    snprintf(body, sizeof(body),
             "{\"vm\": 5, \"package\": \"%s\", \"target\": {\"all\": true}}",
             sha);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "vm");
    snprintf(body, sizeof(body),
             "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
             "{\"all\": true}, \"canary\": \"one\"}",
             sha);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "canary");
    snprintf(body, sizeof(body),
             "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
             "{\"all\": true}, \"canary\": 1.5}",
             sha);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "canary");
    snprintf(body, sizeof(body),
             "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
             "{\"all\": true}, \"canery\": 1}",
             sha);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "canery: unknown field");
    r = post_json(f, "/api/v1/devices/d1/vms/sensor/start", TOK_OP,
                  "{\"timeout_s\": -1}");
    expect_error(&r, 400, "E_INVALID", "timeout_s");
    r = post_json(f, "/api/v1/devices/d1/vms/sensor/start", TOK_OP,
                  "{\"expiry_s\": \"60\"}");
    expect_error(&r, 400, "E_INVALID", "expiry_s");
    r = post_json(f, "/api/v1/devices/d1/vms", TOK_OP,
                  "{\"name\": \"sensor\", \"package\": \"ABC\"}");
    expect_error(&r, 400, "E_INVALID", "package");
    r = post_json(f, "/api/v1/devices/d1/vms", TOK_OP,
                  "{\"name\": \"has space\", \"package\": \"" NO_SHA "\"}");
    expect_error(&r, 400, "E_INVALID", "name");
    r = post_json(f, "/api/v1/devices/d1/vms/sensor/restore", TOK_OP, "{}");
    expect_error(&r, 400, "E_INVALID", "snapshot");
    r = get(f, "/api/v1/devices?online=maybe", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "online");
    r = get(f, "/api/v1/devices?lable=site=berlin", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "lable");
    r = get(f, "/api/v1/commands?limit=0", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "limit");
    r = get(f, "/api/v1/packages/XYZ", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "sha256");
    expect_nothing_new(f, 1, 0, 0);
}

static void
test_api_oversize_body_is_413(void **state)
{
    fixture_t *f = *state;
    char head[512], *big;
    hresp_t r;
    int64_t t0;
    size_t i;

    big = malloc(3 * MAX_BODY);
    assert_non_null(big);
    big[0] = '{';
    for (i = 1; i < 3 * MAX_BODY; i++)
        big[i] = ' ';

    /* Honest: the Content-Length is over the limit. */
    r = req(f, "POST", "/api/v1/rollouts", TOK_OP, "application/json", big,
            MAX_BODY + 1);
    expect_error(&r, 413, "E_TOO_LARGE", "http.max_body");

    /* A lie: a huge Content-Length and a tiny body.  The answer comes
     * at once: the server does not wait for the body. */
    snprintf(head, sizeof(head),
             "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Authorization: Bearer " TOK_OP "\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: 1000000000\r\n\r\n");
    t0 = now_ms();
    r = raw_req(f, head, "{}", 2);
    expect_error(&r, 413, "E_TOO_LARGE", NULL);
    assert_true(now_ms() - t0 < 5000);

    /* No Content-Length at all (chunked): the bytes are counted. */
    snprintf(head, sizeof(head),
             "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Authorization: Bearer " TOK_OP "\r\n"
             "Content-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n");
    {
        char chunked[3 * MAX_BODY + 64];
        int n = snprintf(chunked, sizeof(chunked), "%x\r\n", 2 * MAX_BODY);

        memcpy(chunked + n, big, 2 * MAX_BODY);
        n += 2 * MAX_BODY;
        n += snprintf(chunked + n, sizeof(chunked) - (size_t)n,
                      "\r\n0\r\n\r\n");
        r = raw_req(f, head, chunked, (size_t)n);
        expect_error(&r, 413, "E_TOO_LARGE", NULL);
    }

    /* A short Content-Length with more bytes after it: only the bytes
     * it announces are the body (here, not JSON); the rest is noise. */
    snprintf(head, sizeof(head),
             "POST /api/v1/rollouts HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Authorization: Bearer " TOK_OP "\r\n"
             "Content-Type: application/json\r\n"
             "Content-Length: 10\r\n\r\n");
    r = raw_req(f, head, big, 2 * MAX_BODY);
    expect_error(&r, 400, "E_BAD_JSON", NULL);

    /* A body where none is taken. */
    r = req(f, "GET", "/api/v1/info", TOK_OP, "application/json", "{}", 2);
    expect_error(&r, 413, "E_TOO_LARGE", NULL);

    /* An upload over http.max_upload, and with no token at all: refused
     * on the headers, the 100 MB never sent. */
    snprintf(head, sizeof(head),
             "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Authorization: Bearer " TOK_OP "\r\n"
             "Content-Type: application/octet-stream\r\n"
             "Content-Length: %d\r\n\r\n",
             MAX_UPLOAD + 1);
    r = raw_req(f, head, NULL, 0);
    expect_error(&r, 413, "E_TOO_LARGE", "http.max_upload");
    snprintf(head, sizeof(head),
             "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Content-Type: application/octet-stream\r\n"
             "Content-Length: 100000000\r\n\r\n");
    r = raw_req(f, head, NULL, 0);
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
    free(big);
    expect_nothing_new(f, 0, 0, 0);
}

/* ---- packages ---------------------------------------------------------- */

static void
test_api_package_upload(void **state)
{
    fixture_t *f = *state;
    uint8_t garbage[300], *pkg;
    char path[200], head[512];
    size_t len, i;
    hresp_t r;

    for (i = 0; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(i * 31);
    r = req(f, "POST", "/api/v1/packages", TOK_OP,
            "application/octet-stream", garbage, sizeof(garbage));
    expect_error(&r, 422, "E_BAD_PACKAGE", NULL);
    r = req(f, "POST", "/api/v1/packages", TOK_OP,
            "application/octet-stream", "", 0);
    expect_error(&r, 422, "E_BAD_PACKAGE", NULL);

    pkg = make_pkg(f, "sensor", "2.0.0", &len);
    /* Flip one module byte: the signature no longer holds. */
    pkg[len - 80] ^= 0x01;
    r = req(f, "POST", "/api/v1/packages", TOK_OP,
            "application/octet-stream", pkg, len);
    expect_error(&r, 422, "E_BAD_PACKAGE", NULL);
    pkg[len - 80] ^= 0x01;
    r = req(f, "POST", "/api/v1/packages", TOK_OP, "application/json", pkg,
            len);
    expect_error(&r, 415, "E_MEDIA_TYPE", "application/octet-stream");
    snprintf(head, sizeof(head),
             "POST /api/v1/packages HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Authorization: Bearer " TOK_OP "\r\n"
             "Content-Type: application/octet-stream\r\n"
             "Transfer-Encoding: chunked\r\n\r\n");
    r = raw_req(f, head, "0\r\n\r\n", 5);
    expect_error(&r, 411, "E_LENGTH_REQUIRED", NULL);
    expect_nothing_new(f, 0, 0, 0);

    r = req(f, "POST", "/api/v1/packages", TOK_OP,
            "application/octet-stream", pkg, len);
    assert_int_equal(r.status, 201);
    assert_string_equal(jstr(r.json, "vm"), "sensor");
    assert_string_equal(jstr(r.json, "version"), "2.0.0");
    assert_int_equal(jget(r.json, "size")->valuedouble, (double)len);
    snprintf(path, sizeof(path), "/api/v1/packages/%s",
             jstr(r.json, "sha256"));
    hresp_free(&r);
    r = req(f, "POST", "/api/v1/packages", TOK_OP,
            "application/octet-stream", pkg, len);
    assert_int_equal(r.status, 200);
    hresp_free(&r);
    free(pkg);

    assert_int_equal(list_count(f, "/api/v1/packages", "packages"), 1);
    assert_int_equal(list_count(f, "/api/v1/packages?vm=sensor", "packages"),
                     1);
    assert_int_equal(list_count(f, "/api/v1/packages?vm=other", "packages"),
                     0);
    r = get(f, path, TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "vm"), "sensor");
    hresp_free(&r);
    r = get(f, "/api/v1/packages/" NO_SHA, TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    r = req(f, "DELETE", path, TOK_OP, NULL, NULL, 0);
    assert_int_equal(r.status, 204);
    assert_int_equal(r.len, 0);
    hresp_free(&r);
    r = req(f, "DELETE", path, TOK_OP, NULL, NULL, 0);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    assert_int_equal(list_count(f, "/api/v1/packages", "packages"), 0);
}

/* ---- devices, commands, snapshots ------------------------------------- */

static void
test_api_devices(void **state)
{
    fixture_t *f = *state;
    const cJSON *devs, *d;
    hresp_t r = get(f, "/api/v1/devices", TOK_VIEW);

    assert_int_equal(r.status, 200);
    devs = jget(r.json, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 2);
    d = cJSON_GetArrayItem(devs, 0);
    assert_string_equal(jstr(d, "id"), "d1");
    assert_true(cJSON_IsFalse(jget(d, "online")));
    assert_string_equal(jstr(jget(d, "labels"), "site"), "berlin");
    assert_string_equal(
        jstr(cJSON_GetArrayItem(jget(d, "vms"), 0), "name"), "sensor");
    hresp_free(&r);

    r = get(f, "/api/v1/devices?label=site=paris", TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(jget(r.json, "devices")), 1);
    assert_string_equal(
        jstr(cJSON_GetArrayItem(jget(r.json, "devices"), 0), "id"), "d2");
    hresp_free(&r);
    assert_int_equal(
        list_count(f, "/api/v1/devices?label=site=paris&label=site=berlin",
                   "devices"),
        0);
    assert_int_equal(list_count(f, "/api/v1/devices?online=true", "devices"),
                     0);
    assert_int_equal(list_count(f, "/api/v1/devices?online=false",
                                "devices"),
                     2);
    r = get(f, "/api/v1/devices?label=nonsense", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "label");

    r = get(f, "/api/v1/devices/d2", TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "id"), "d2");
    hresp_free(&r);
    r = get(f, "/api/v1/devices/d2/vms", TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(jget(r.json, "vms")), 1);
    hresp_free(&r);
    r = get(f, "/api/v1/devices/d9", TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", "d9");
    r = get(f, "/api/v1/devices/bad!id", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "device");
}

static void
test_api_commands(void **state)
{
    fixture_t *f = *state;
    char path[200], id[64];
    hresp_t r;
    int64_t t0;

    /* An unknown device: 404, nothing queued. */
    r = post_json(f, "/api/v1/devices/d9/vms/sensor/stop", TOK_OP, "{}");
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    r = post_json(f, "/api/v1/devices/d1/vms/bad!vm/stop", TOK_OP, "{}");
    expect_error(&r, 400, "E_INVALID", "vm");
    expect_nothing_new(f, 0, 0, 0);

    /* d1 is offline: the command waits in the queue. */
    r = post_json(f, "/api/v1/devices/d1/vms/sensor/start", TOK_OP,
                  "{\"expiry_s\": 600}");
    assert_int_equal(r.status, 202);
    assert_string_equal(jstr(r.json, "kind"), "start");
    assert_string_equal(jstr(r.json, "device"), "d1");
    assert_string_equal(jstr(r.json, "vm"), "sensor");
    assert_string_equal(jstr(r.json, "state"), "queued");
    assert_true(cJSON_IsFalse(jget(r.json, "final")));
    assert_true(cJSON_IsNull(jget(r.json, "code")));
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    hresp_free(&r);
    /* No body at all is fine too. */
    r = req(f, "POST", "/api/v1/devices/d2/vms/sensor/suspend", TOK_OP, NULL,
            NULL, 0);
    assert_int_equal(r.status, 202);
    hresp_free(&r);
    r = req(f, "DELETE", "/api/v1/devices/d2/vms/sensor", TOK_OP, NULL, NULL,
            0);
    assert_int_equal(r.status, 202);
    assert_string_equal(jstr(r.json, "kind"), "destroy");
    hresp_free(&r);
    assert_int_equal(list_count(f, "/api/v1/commands", "commands"), 3);
    assert_int_equal(list_count(f, "/api/v1/commands?device=d1", "commands"),
                     1);
    assert_int_equal(
        list_count(f, "/api/v1/commands?device=d2&limit=1", "commands"), 1);

    /* A long poll on a command that does not move ends on time. */
    snprintf(path, sizeof(path), "/api/v1/commands/%s?wait=1", id);
    t0 = now_ms();
    r = get(f, path, TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "queued");
    assert_true(now_ms() - t0 >= 900);
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/commands/%s?wait=61", id);
    r = get(f, path, TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "wait");
    r = get(f, "/api/v1/commands/c0000000000000000", TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);

    snprintf(path, sizeof(path), "/api/v1/commands/%s/cancel", id);
    r = req(f, "POST", path, TOK_OP, NULL, NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "cancelled");
    assert_true(cJSON_IsTrue(jget(r.json, "final")));
    hresp_free(&r);
    r = req(f, "POST", path, TOK_OP, NULL, NULL, 0);
    expect_error(&r, 409, "E_CONFLICT", id);
}

static void
test_api_snapshots(void **state)
{
    fixture_t *f = *state;
    char path[200];
    hresp_t r;

    assert_int_equal(list_count(f, "/api/v1/snapshots", "snapshots"), 1);
    assert_int_equal(list_count(f, "/api/v1/snapshots?device=d2",
                                "snapshots"),
                     0);
    snprintf(path, sizeof(path), "/api/v1/snapshots/%s", f->snap_sha);
    r = get(f, path, TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "device"), "d1");
    assert_null(jget(r.json, "path")); /* server paths stay private */
    hresp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/snapshots/%s/content",
             f->snap_sha);
    r = get(f, path, TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: application/octet-stream"));
    assert_int_equal(r.len, sizeof(f->snap));
    assert_memory_equal(r.body, f->snap, sizeof(f->snap));
    hresp_free(&r);

    r = get(f, "/api/v1/snapshots/" NO_SHA "/content", TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    snprintf(path, sizeof(path), "/api/v1/snapshots/%s", f->snap_sha);
    r = req(f, "DELETE", path, TOK_VIEW, NULL, NULL, 0);
    expect_error(&r, 403, "E_FORBIDDEN", NULL);
    assert_int_equal(list_count(f, "/api/v1/snapshots", "snapshots"), 1);
    r = req(f, "DELETE", path, TOK_OP, NULL, NULL, 0);
    assert_int_equal(r.status, 204);
    hresp_free(&r);
    assert_int_equal(list_count(f, "/api/v1/snapshots", "snapshots"), 0);
}

/* ---- rollouts ---------------------------------------------------------- */

static void
test_api_rollout_validation(void **state)
{
    fixture_t *f = *state;
    char sha[65], body[512];
    hresp_t r;

    upload_pkg(f, "sensor", "1.1.0", sha);
#define ROLLOUT(extra, target)                                           \
    snprintf(body, sizeof(body),                                         \
             "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": %s%s}", \
             sha, target, extra)
    ROLLOUT(", \"batch\": \"150%\"", "{\"all\": true}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "batch");
    ROLLOUT(", \"batch\": 0", "{\"all\": true}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "batch");
    ROLLOUT(", \"max_failures\": \"101%\"", "{\"all\": true}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "max_failures");
    ROLLOUT(", \"max_failures\": \"5 %\"", "{\"all\": true}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "max_failures");
    ROLLOUT("", "{}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target");
    ROLLOUT("", "{\"devices\": []}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target.devices");
    ROLLOUT("", "{\"devices\": [\"d1\", \"d1\"]}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target.devices");
    ROLLOUT("", "{\"all\": true, \"devices\": [\"d1\"]}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target");
    ROLLOUT("", "{\"all\": false}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target.all");
    ROLLOUT("", "{\"labels\": {\"site\": 1}}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target.labels.site");
    ROLLOUT("", "\"all\"");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", "target");
    /* A label nobody has: the core refuses an empty target. */
    ROLLOUT("", "{\"labels\": {\"site\": \"tokyo\"}}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 400, "E_INVALID", NULL);
    ROLLOUT("", "{\"devices\": [\"d9\"]}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    assert_true(r.status == 400 || r.status == 404);
    hresp_free(&r);
#undef ROLLOUT
    snprintf(body, sizeof(body),
             "{\"vm\": \"sensor\", \"package\": \"" NO_SHA "\", "
             "\"target\": {\"all\": true}}");
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    r = post_json(f, "/api/v1/rollouts/r99/pause", TOK_OP, "");
    expect_error(&r, 404, "E_NOT_FOUND", "r99");
    r = get(f, "/api/v1/rollouts/r99", TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", "r99");
    expect_nothing_new(f, 1, 0, 0);
}

static void
test_api_rollout_lifecycle(void **state)
{
    fixture_t *f = *state;
    char sha[65], body[512], path[200], id[64], pkgpath[200];
    const cJSON *devs;
    hresp_t r;

    upload_pkg(f, "sensor", "1.1.0", sha);
    snprintf(body, sizeof(body),
             "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
             "{\"labels\": {\"site\": \"berlin\"}}, \"canary\": 0, "
             "\"batch\": \"50%%\", \"max_failures\": 1, "
             "\"health_window_ms\": 2000, \"device_timeout_s\": 60}",
             sha);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    if (r.status != 201)
        fail_msg("create: %d %s", r.status, r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    assert_string_equal(jstr(r.json, "vm"), "sensor");
    assert_string_equal(jstr(r.json, "package"), sha);
    assert_string_equal(jstr(r.json, "version"), "1.1.0");
    assert_string_equal(jstr(r.json, "batch"), "50%");
    assert_int_equal(jget(r.json, "max_failures")->valueint, 1);
    assert_int_equal(jget(r.json, "canary")->valueint, 0);
    assert_int_equal(jget(jget(r.json, "counts"), "total")->valueint, 1);
    hresp_free(&r);

    r = get(f, "/api/v1/rollouts", TOK_VIEW);
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(jget(r.json, "rollouts")), 1);
    assert_null(jget(cJSON_GetArrayItem(jget(r.json, "rollouts"), 0),
                     "devices"));
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s", id);
    r = get(f, path, TOK_VIEW);
    assert_int_equal(r.status, 200);
    devs = jget(r.json, "devices");
    assert_int_equal(cJSON_GetArraySize(devs), 1);
    assert_string_equal(jstr(cJSON_GetArrayItem(devs, 0), "device"), "d1");
    hresp_free(&r);

    /* The package is in use now. */
    snprintf(pkgpath, sizeof(pkgpath), "/api/v1/packages/%s", sha);
    r = req(f, "DELETE", pkgpath, TOK_OP, NULL, NULL, 0);
    expect_error(&r, 409, "E_CONFLICT", NULL);
    assert_int_equal(list_count(f, "/api/v1/packages", "packages"), 1);

    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/pause", id);
    r = post_json(f, path, TOK_OP, "");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "paused");
    assert_string_equal(jstr(r.json, "pause_reason"), "operator");
    hresp_free(&r);
    r = post_json(f, path, TOK_OP, "");
    expect_error(&r, 409, "E_CONFLICT", id);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/resume", id);
    r = post_json(f, path, TOK_VIEW, "");
    expect_error(&r, 403, "E_FORBIDDEN", NULL);
    r = post_json(f, path, TOK_OP, "{\"x\": 1}");
    expect_error(&r, 400, "E_INVALID", "x");
    r = post_json(f, path, TOK_OP, "{}");
    assert_int_equal(r.status, 200);
    assert_string_not_equal(jstr(r.json, "state"), "paused");
    hresp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/rollouts/%s/abort", id);
    r = post_json(f, path, TOK_OP, "");
    assert_int_equal(r.status, 200);
    assert_string_equal(jstr(r.json, "state"), "aborted");
    hresp_free(&r);
    r = post_json(f, path, TOK_OP, "");
    expect_error(&r, 409, "E_CONFLICT", NULL);
}

/* ---- events ------------------------------------------------------------ */

static int
open_events(const fixture_t *f, int family, char **buf, size_t *len)
{
    char head[256];
    int fd = connect_port(family, f->port);

    snprintf(head, sizeof(head),
             "GET /api/v1/events HTTP/1.1\r\nHost: x\r\n"
             "Connection: close\r\n"
             "Authorization: Bearer " TOK_VIEW "\r\n\r\n");
    send_all(fd, head, strlen(head));
    assert_int_equal(read_until(fd, buf, len, ": ok\n",
                                now_ms() + IO_TIMEOUT_MS),
                     1);
    assert_non_null(strstr(*buf, "HTTP/1.1 200"));
    assert_non_null(strcasestr(*buf, "Content-Type: text/event-stream"));
    return fd;
}

static void
test_api_events_stream(void **state)
{
    fixture_t *f = *state;
    char sha[65], body[512], needle[128], *buf = NULL, *ev;
    size_t len = 0;
    hresp_t r;
    int fd;

    fd = open_events(f, AF_INET, &buf, &len);
    upload_pkg(f, "sensor", "1.1.0", sha);
    snprintf(body, sizeof(body),
             "{\"vm\": \"sensor\", \"package\": \"%s\", \"target\": "
             "{\"devices\": [\"d2\"]}}",
             sha);
    r = post_json(f, "/api/v1/rollouts", TOK_OP, body);
    assert_int_equal(r.status, 201);
    snprintf(needle, sizeof(needle), "\"id\":\"%s\"", jstr(r.json, "id"));
    hresp_free(&r);
    assert_int_equal(read_until(fd, &buf, &len, needle,
                                now_ms() + IO_TIMEOUT_MS),
                     1);
    /* id:, event:, one data: line with the event's JSON. */
    ev = strstr(buf, "event: rollout\ndata: {");
    assert_non_null(ev);
    assert_non_null(strstr(buf, "\nid: "));
    assert_non_null(strstr(ev, "\"type\":\"rollout\""));
    assert_non_null(strstr(ev, "\"time_ms\":"));

    /* Another request is served while the stream is open. */
    r = get(f, "/api/v1/info", TOK_VIEW);
    assert_int_equal(r.status, 200);
    hresp_free(&r);
    close(fd);
    free(buf);
}

/* Stop ends every stream promptly, and new requests meanwhile get 503
 * or a closed connection, never a hang. */
static void
test_api_stop_ends_streams(void **state)
{
    fixture_t *f = *state;
    char *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    int64_t t0;
    int fd1, fd2;

    fd1 = open_events(f, AF_INET, &b1, &l1);
    fd2 = open_events(f, AF_INET, &b2, &l2);
    t0 = now_ms();
    vmctld_api_stop(f->api);
    f->api = NULL;
    assert_true(now_ms() - t0 < 5000);
    assert_int_equal(read_until(fd1, &b1, &l1, NULL, now_ms() + 5000), 1);
    assert_int_equal(read_until(fd2, &b2, &l2, NULL, now_ms() + 5000), 1);
    close(fd1);
    close(fd2);
    free(b1);
    free(b2);
}

/* ---- listening --------------------------------------------------------- */

static void
test_api_listen_errors_name_the_key(void **state)
{
    fixture_t *f = *state;
    vmctld_config_t cfg = f->cfg;
    vmctld_api_t *api = NULL;
    char err[512] = "";

    snprintf(cfg.http_listen, sizeof(cfg.http_listen), "127.0.0.1:%d",
             f->port);
    assert_int_equal(vmctld_api_start(f->core, &cfg, &api, err, sizeof(err)),
                     -1);
    assert_null(api);
    assert_non_null(strstr(err, "http.listen"));
    assert_non_null(strstr(err, "in use"));

    snprintf(cfg.http_listen, sizeof(cfg.http_listen), "nonsense");
    assert_int_equal(vmctld_api_start(f->core, &cfg, &api, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "http.listen"));

    snprintf(cfg.http_listen, sizeof(cfg.http_listen), "127.0.0.1:0");
    snprintf(cfg.http_cert_file, sizeof(cfg.http_cert_file),
             "%s/no-such-cert.pem", f->dir);
    snprintf(cfg.http_key_file, sizeof(cfg.http_key_file), "%s/key.pem",
             f->dir);
    assert_int_equal(vmctld_api_start(f->core, &cfg, &api, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "http.cert_file"));
    assert_non_null(strstr(err, "no-such-cert.pem"));

    /* The running API is untouched by the failed starts. */
    {
        hresp_t r = get(f, "/healthz", NULL);

        assert_int_equal(r.status, 200);
        hresp_free(&r);
    }
}

static void
test_api_listens_on_ipv6(void **state)
{
    fixture_t *f = *state;
    vmctld_config_t cfg = f->cfg;
    vmctld_api_t *api = NULL;
    fixture_t f6;
    char err[512] = "";
    int probe;
    hresp_t r;

    probe = socket(AF_INET6, SOCK_STREAM, 0);
    if (probe < 0)
        skip();
    close(probe);
    snprintf(cfg.http_listen, sizeof(cfg.http_listen), "[::1]:0");
    if (vmctld_api_start(f->core, &cfg, &api, err, sizeof(err)) != 0) {
        if (strstr(err, "Cannot assign") != NULL ||
            strstr(err, "not supported") != NULL)
            skip(); /* no IPv6 loopback here */
        fail_msg("start on [::1]:0: %s", err);
    }
    memset(&f6, 0, sizeof(f6));
    f6.port = vmctld_api_port(api);
    {
        int fd = connect_port(AF_INET6, f6.port);
        const char *head = "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n";

        memset(&r, 0, sizeof(r));
        send_all(fd, head, strlen(head));
        assert_int_equal(read_until(fd, &r.raw, &r.rawlen, NULL,
                                    now_ms() + IO_TIMEOUT_MS),
                         1);
        close(fd);
        parse_resp(&r);
        assert_int_equal(r.status, 200);
        hresp_free(&r);
    }
    vmctld_api_stop(api);
}

/* ---- static files ------------------------------------------------------ */

static void
test_api_web_root(void **state)
{
    fixture_t *f = *state;
    hresp_t r = get(f, "/", NULL);

    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/html"));
    assert_string_equal(r.body, "<h1>vmfleet</h1>\n");
    hresp_free(&r);
    r = get(f, "/app.js", NULL);
    assert_int_equal(r.status, 200);
    assert_true(has_header(&r, "Content-Type: text/javascript"));
    assert_string_equal(r.body, "let x = 1;\n");
    hresp_free(&r);
    r = get(f, "/missing.js", NULL);
    expect_error(&r, 404, "E_NOT_FOUND", NULL);
    r = get(f, "/../secret.txt", NULL);
    assert_int_equal(r.status, 404);
    assert_null(strstr(r.body, "secret"));
    hresp_free(&r);
    r = get(f, "/%2e%2e/secret.txt", NULL);
    assert_int_equal(r.status, 404);
    hresp_free(&r);
    r = get(f, "/a/..%2f..%2fsecret.txt", NULL);
    assert_int_equal(r.status, 404);
    hresp_free(&r);
    r = req(f, "POST", "/index.html", NULL, "text/plain", "x", 1);
    expect_error(&r, 405, "E_METHOD", NULL);
    /* The API is still the API. */
    r = get(f, "/api/v1/info", NULL);
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
}

/* ---- the event hub alone (api_sse.c) ----------------------------------- */

/* Read from a stream until `needle` has come, followed by `then` (the
 * reader blocks when there is nothing, so only read what is there). */
static void
hub_read_until(vmctld_http_resp_t *resp, char *buf, size_t cap,
               size_t *len, const char *needle, const char *then)
{
    const char *p;
    ssize_t n;

    while ((p = strstr(buf, needle)) == NULL || strstr(p, then) == NULL) {
        assert_true(*len + 101 < cap);
        /* Small reads: events are cut across calls. */
        n = resp->stream(resp->stream_arg, buf + *len, 100);
        assert_true(n > 0 && n <= 100);
        *len += (size_t)n;
        buf[*len] = '\0';
    }
}

static void
test_api_sse_hub_queues_then_drops_a_slow_client(void **state)
{
    ctld_event_t ev = { .type = CTLD_EV_VM, .device = "d1", .id = "",
                        .vm = "sensor", .what = "progress", .code = 0,
                        .detail = "line\nbreak", .percent = 50,
                        .time_ms = 1234 };
    static char buf[1024 * 1024];
    vmctld_http_resp_t resp;
    vmctld_api_t api;
    char needle[64];
    size_t len = 0, i;
    const char *p;

    (void)state;
    memset(&api, 0, sizeof(api));
    assert_int_equal(mtx_init(&api.sse_lock, mtx_plain), thrd_success);
    api__sse_sink(&api, &ev); /* nobody listens: dropped, id 1 used */
    memset(&resp, 0, sizeof(resp));
    resp.fd = -1;
    assert_int_equal(api__sse_open(&api, &resp), 0);
    assert_int_equal(resp.status, 200);
    assert_string_equal(resp.type, "text/event-stream");
    assert_non_null(resp.stream);

    /* A full queue is kept, in order, every event on one data: line. */
    buf[0] = '\0';
    for (i = 0; i < API_SSE_QUEUE; i++)
        api__sse_sink(&api, &ev);
    snprintf(needle, sizeof(needle), "id: %d\n", API_SSE_QUEUE + 1);
    hub_read_until(&resp, buf, sizeof(buf), &len, needle, "}\n\n");
    assert_true(strncmp(buf, "retry: 2000\n: ok\n\n", 18) == 0);
    assert_non_null(strstr(buf, "id: 2\nevent: vm\ndata: {\"type\":\"vm\","
                                "\"device\":\"d1\",\"id\":\"\",\"vm\":"
                                "\"sensor\",\"what\":\"progress\",\"code\""
                                ":null,\"detail\":\"line\\nbreak\","
                                "\"percent\":50,\"time_ms\":1234}\n\n"));
    for (i = 2, p = buf; i <= API_SSE_QUEUE + 1; i++) {
        snprintf(needle, sizeof(needle), "\nid: %zu\n", i);
        p = strstr(p, needle);
        if (p == NULL)
            fail_msg("event %zu missing or out of order", i);
    }

    /* One more than the queue holds: the client is dropped, its stream
     * ends at once (it reconnects and re-reads the state). */
    for (i = 0; i < API_SSE_QUEUE + 1; i++)
        api__sse_sink(&api, &ev);
    assert_int_equal(resp.stream(resp.stream_arg, buf, 100), -1);
    resp.stream_free(resp.stream_arg);
    assert_null(api.clients);

    /* A stream open at stop ends at once too. */
    memset(&resp, 0, sizeof(resp));
    resp.fd = -1;
    assert_int_equal(api__sse_open(&api, &resp), 0);
    api__sse_sink(&api, &ev);
    api__sse_close_all(&api);
    assert_int_equal(resp.stream(resp.stream_arg, buf, 100), -1);
    resp.stream_free(resp.stream_arg);
    assert_int_equal(api.nclients, 0);
    mtx_destroy(&api.sse_lock);
}

/* ---- device pages, the fleet summary, VM logs -------------------------- */

/* 25 more devices f-00..f-24 (see test_api_device_pages_and_fleet). */
static void
seed_fleet(fixture_t *f)
{
    vmctld_reg_vm_t vm;
    vmctld_reg_device_t d;
    vmctld_reg_t *reg;
    char err[256];
    int i;

    assert_int_equal(vmctld_reg_open(f->cfg.db_path, &reg, err,
                                     sizeof(err)),
                     0);
    for (i = 0; i < 25; i++) {
        memset(&vm, 0, sizeof(vm));
        snprintf(vm.name, sizeof(vm.name), "sensor");
        snprintf(vm.version, sizeof(vm.version), "%s",
                 i < 10 ? "1.0.0" : "2.0.0");
        snprintf(vm.state, sizeof(vm.state), "%s",
                 i == 4 ? "failed" : "running");
        if (i == 7)
            snprintf(vm.last_error, sizeof(vm.last_error), "watchdog");
        vm.priority = 2;
        vm.cpu_ms = 250;
        vm.uptime_ms = 1000;
        memset(&d, 0, sizeof(d));
        snprintf(d.id, sizeof(d.id), "f-%02d", i);
        d.online = i % 3 == 0; /* as stored; the core has not heard them */
        d.last_seen_ms = 5000 + i;
        d.vms = &vm;
        d.n_vms = 1;
        assert_int_equal(vmctld_reg_device_upsert(reg, &d), 0);
    }
    vmctld_reg_close(reg);
}

static int
setup_fleet(void **state)
{
    int rc;

    extra_seed = seed_fleet;
    rc = setup_with(state, false);
    extra_seed = NULL;
    return rc;
}

/* The ids of a GET devices answer, joined by ',', and its total. */
static void
page(const fixture_t *f, const char *path, char *ids, size_t len,
     int *total)
{
    hresp_t r = get(f, path, TOK_VIEW);
    const cJSON *d, *t;
    size_t k = 0;

    if (r.status != 200)
        fail_msg("%s: %d %s", path, r.status, r.body);
    ids[0] = '\0';
    cJSON_ArrayForEach(d, jget(r.json, "devices"))
    {
        k += (size_t)snprintf(ids + k, len - k, "%s%s", k ? "," : "",
                              jstr(d, "id"));
        assert_true(k < len);
    }
    t = jget(r.json, "total");
    assert_true(cJSON_IsNumber(t));
    *total = t->valueint;
    hresp_free(&r);
}

static void
test_api_device_pages_and_fleet(void **state)
{
    fixture_t *f = *state;
    const cJSON *vm, *v, *fl;
    char ids[1024];
    int total;
    hresp_t r;

    /* Pages of 27 devices, in id order by default. */
    page(f, "/api/v1/devices?limit=3", ids, sizeof(ids), &total);
    assert_string_equal(ids, "d1,d2,f-00");
    assert_int_equal(total, 27);
    page(f, "/api/v1/devices?limit=10&offset=20", ids, sizeof(ids), &total);
    assert_string_equal(ids, "f-18,f-19,f-20,f-21,f-22,f-23,f-24");
    assert_int_equal(total, 27);
    page(f, "/api/v1/devices?offset=30", ids, sizeof(ids), &total);
    assert_string_equal(ids, "");
    assert_int_equal(total, 27);
    /* Search (ASCII case ignored), sort, and filters with a total. */
    page(f, "/api/v1/devices?q=F-1&sort=-id&limit=2", ids, sizeof(ids),
         &total);
    assert_string_equal(ids, "f-19,f-18");
    assert_int_equal(total, 10);
    page(f, "/api/v1/devices?sort=-last_seen&limit=2", ids, sizeof(ids),
         &total);
    assert_string_equal(ids, "f-24,f-23");
    page(f, "/api/v1/devices?sort=last_seen&limit=1", ids, sizeof(ids),
         &total);
    assert_string_equal(ids, "d1"); /* seen at 1000, before d2's tie */
    page(f, "/api/v1/devices?online=true&q=f-2", ids, sizeof(ids), &total);
    assert_string_equal(ids, "f-21,f-24");
    assert_int_equal(total, 2);
    page(f, "/api/v1/devices?label=site=paris&q=d", ids, sizeof(ids),
         &total);
    assert_string_equal(ids, "d2");
    assert_int_equal(total, 1);
    r = get(f, "/api/v1/devices?sort=name", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "sort");
    r = get(f, "/api/v1/devices?limit=0", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "limit");
    r = get(f, "/api/v1/devices?limit=1001", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "limit");
    r = get(f, "/api/v1/devices?offset=-1", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "offset");
    r = get(f, "/api/v1/devices?q="
               "0123456789012345678901234567890123456789012345678901234567890"
               "123",
            TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "q");
    r = get(f, "/api/v1/devices?limit=2&limit=3", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "limit");

    /* A VM's figures. */
    r = get(f, "/api/v1/devices/f-03/vms", TOK_VIEW);
    assert_int_equal(r.status, 200);
    vm = cJSON_GetArrayItem(jget(r.json, "vms"), 0);
    assert_int_equal(jget(vm, "priority")->valueint, 2);
    assert_int_equal(jget(vm, "cpu_ms")->valueint, 250);
    assert_int_equal(jget(vm, "uptime_ms")->valueint, 1000);
    hresp_free(&r);

    /* The fleet at a glance. */
    r = get(f, "/api/v1/fleet", TOK_VIEW);
    assert_int_equal(r.status, 200);
    fl = jget(r.json, "devices");
    assert_int_equal(jget(fl, "total")->valueint, 27);
    assert_int_equal(jget(fl, "online")->valueint, 9);
    assert_int_equal(jget(fl, "offline")->valueint, 18);
    assert_int_equal(cJSON_GetArraySize(jget(r.json, "vms")), 2);
    v = cJSON_GetArrayItem(jget(r.json, "vms"), 0);
    assert_string_equal(jstr(v, "name"), "sensor");
    assert_string_equal(jstr(v, "version"), "1.0.0");
    assert_int_equal(jget(v, "devices")->valueint, 12); /* d1, d2 too */
    assert_int_equal(jget(v, "running")->valueint, 11);
    assert_int_equal(jget(v, "failing")->valueint, 2);
    v = cJSON_GetArrayItem(jget(r.json, "vms"), 1);
    assert_string_equal(jstr(v, "version"), "2.0.0");
    assert_int_equal(jget(v, "devices")->valueint, 15);
    assert_int_equal(jget(v, "failing")->valueint, 0);
    assert_int_equal(cJSON_GetArraySize(jget(r.json, "failing")), 2);
    v = cJSON_GetArrayItem(jget(r.json, "failing"), 0);
    assert_string_equal(jstr(v, "device"), "f-04");
    assert_string_equal(jstr(v, "vm"), "sensor");
    assert_string_equal(jstr(v, "state"), "failed");
    v = cJSON_GetArrayItem(jget(r.json, "failing"), 1);
    assert_string_equal(jstr(v, "device"), "f-07");
    assert_string_equal(jstr(v, "last_error"), "watchdog");
    assert_int_equal(jget(r.json, "rollouts_active")->valueint, 0);
    hresp_free(&r);
    r = get(f, "/api/v1/fleet?all=1", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "all");
}

static void
test_api_vm_logs_refusals(void **state)
{
    fixture_t *f = *state;
    hresp_t r;

    /* The devices are offline (no broker): a known VM is a conflict, an
     * unknown one is not found, and nothing is sent or stored. */
    r = get(f, "/api/v1/devices/d1/vms/sensor/logs", TOK_VIEW);
    expect_error(&r, 409, "E_CONFLICT", "offline");
    r = get(f, "/api/v1/devices/d1/vms/sensor/logs?bytes=100", TOK_VIEW);
    expect_error(&r, 409, "E_CONFLICT", "offline");
    r = get(f, "/api/v1/devices/d1/vms/nope/logs", TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", "nope");
    r = get(f, "/api/v1/devices/d9/vms/sensor/logs", TOK_VIEW);
    expect_error(&r, 404, "E_NOT_FOUND", "d9");
    r = get(f, "/api/v1/devices/d1/vms/sensor/logs?bytes=0", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "bytes");
    r = get(f, "/api/v1/devices/d1/vms/sensor/logs?bytes=65537", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "bytes");
    r = get(f, "/api/v1/devices/d1/vms/sensor/logs?lines=5", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "lines");
    r = get(f, "/api/v1/devices/d1/vms/bad!vm/logs", TOK_VIEW);
    expect_error(&r, 400, "E_INVALID", "vm");
    r = post_json(f, "/api/v1/devices/d1/vms/sensor/logs", TOK_OP, "{}");
    expect_error(&r, 405, "E_METHOD", NULL);
    r = get(f, "/api/v1/devices/d1/vms/sensor/logs", NULL);
    expect_error(&r, 401, "E_UNAUTHORIZED", NULL);
    expect_nothing_new(f, 0, 0, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_api_healthz_needs_no_token),
        T(test_api_no_token_is_401),
        T(test_api_bad_token_is_401),
        T(test_api_viewer_reads_but_may_not_write),
        T(test_api_unknown_route_404_wrong_method_405),
        T(test_api_reload_swaps_tokens),
        T(test_api_bad_json_is_400),
        T(test_api_wrong_typed_field_is_400_naming_it),
        T(test_api_oversize_body_is_413),
        T(test_api_package_upload),
        T(test_api_devices),
        T(test_api_commands),
        T(test_api_snapshots),
        T(test_api_rollout_validation),
        T(test_api_rollout_lifecycle),
        T(test_api_events_stream),
        T(test_api_stop_ends_streams),
        T(test_api_listen_errors_name_the_key),
        T(test_api_listens_on_ipv6),
        T(test_api_vm_logs_refusals),
        cmocka_unit_test_setup_teardown(test_api_device_pages_and_fleet,
                                        setup_fleet, teardown),
        cmocka_unit_test_setup_teardown(test_api_web_root, setup_web,
                                        teardown),
        cmocka_unit_test(test_api_sse_hub_queues_then_drops_a_slow_client),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
