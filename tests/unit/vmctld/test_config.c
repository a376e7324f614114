/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctld's config (server/vmctl/vmctld/src/config.c) on real files in a
 * fresh temporary directory per test: defaults, a full file, the
 * environment over the file, every kind of error naming its key (and the
 * file and line), token files, and a reload as two loads.  Every test
 * starts with no VMCTLD_* variable set.
 */

#define _GNU_SOURCE /* mkdtemp, setenv, open_memstream */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

extern char **environ;

#define TOK_A "0123456789abcdef-operator"
#define TOK_B "fedcba9876543210-viewer"

typedef struct fixture {
    char dir[256];
    char path[300]; /* dir/vmctld.json */
    char err[1024];
    char files[16][300];
    size_t nfiles;
    vmctld_config_t cfg;
} fixture_t;

/* Unset every VMCTLD_* variable: the tests set their own. */
static void
clear_env(void)
{
    char name[128];
    size_t i;

    for (i = 0; environ[i] != NULL;) {
        const char *eq = strchr(environ[i], '=');
        size_t n = eq != NULL ? (size_t)(eq - environ[i]) : 0;

        if (strncmp(environ[i], "VMCTLD_", 7) == 0 && n < sizeof(name)) {
            memcpy(name, environ[i], n);
            name[n] = '\0';
            unsetenv(name); /* environ shifted: look at i again */
            continue;
        }
        i++;
    }
}

/* Write `text` to dir/name (mode 0600) and remember it for teardown. */
static void
put(fixture_t *f, const char *name, const char *text)
{
    char p[300];
    size_t i;
    FILE *fp;

    snprintf(p, sizeof(p), "%s/%s", f->dir, name);
    assert_non_null(fp = fopen(p, "w"));
    fputs(text, fp);
    fclose(fp);
    for (i = 0; i < f->nfiles; i++)
        if (strcmp(f->files[i], p) == 0)
            return; /* written again */
    assert_true(f->nfiles < 16);
    snprintf(f->files[f->nfiles++], sizeof(f->files[0]), "%s", p);
}

static void
put_config(fixture_t *f, const char *text)
{
    put(f, "vmctld.json", text);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    clear_env();
    snprintf(f->dir, sizeof(f->dir), "%s/vmf-cfg-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof(f->path), "%s/vmctld.json", f->dir);
    *state = f;
    /* A trusted key that exists (its content is ctld's business). */
    put(f, "fleet.pub", "-----BEGIN PUBLIC KEY-----\n");
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;
    size_t i;

    vmctld_config_free(&f->cfg);
    for (i = 0; i < f->nfiles; i++)
        remove(f->files[i]);
    remove(f->dir);
    free(f);
    clear_env();
    return 0;
}

static void
load_ok(fixture_t *f)
{
    if (vmctld_config_load(f->path, &f->cfg, f->err, sizeof(f->err)) != 0)
        fail_msg("load: %s", f->err);
}

/* Load must fail with exactly `want` after the directory prefix. */
static void
load_fails(fixture_t *f, const char *want)
{
    char full[1200];

    assert_int_equal(
        vmctld_config_load(f->path, &f->cfg, f->err, sizeof(f->err)), -1);
    /* Nothing to free after a failure. */
    assert_null(f->cfg.tokens);
    assert_int_equal(f->cfg.ntokens, 0);
    assert_null(f->cfg.trusted_keys);
    if (strncmp(want, "environment ", 12) == 0 || want[0] == '/')
        snprintf(full, sizeof(full), "%s", want);
    else
        snprintf(full, sizeof(full), "%s/%s", f->dir, want);
    assert_string_equal(f->err, full);
}

/* The smallest valid file: one token, one key. */
#define MINIMAL                                                           \
    "{\n"                                                                 \
    "  \"tokens\": [{\"name\": \"admin\", \"role\": \"operator\",\n"      \
    "              \"token\": \"" TOK_A "\"}],\n"                         \
    "  \"trust\": {\"keys\": [\"fleet.pub\"]}\n"                          \
    "}\n"

static void
test_config_defaults(void **state)
{
    fixture_t *f = *state;
    vmctld_config_t d;
    char keyp[300];

    vmctld_config_defaults(&d);
    assert_string_equal(d.mqtt_uri, "tcp://127.0.0.1:1883");
    assert_string_equal(d.mqtt_client_id, "vmctld");
    assert_string_equal(d.mqtt_username, "");
    assert_string_equal(d.http_listen, "127.0.0.1:8080");
    assert_int_equal(d.http_max_body, 65536);
    assert_int_equal(d.http_max_upload, 64 * 1024 * 1024);
    assert_int_equal(d.http_max_clients, 256);
    assert_string_equal(d.web_root, "");
    assert_null(d.tokens);
    assert_null(d.trusted_keys);
    assert_string_equal(d.data_dir, "/var/lib/vmctld");
    assert_string_equal(d.db_path, "");
    assert_int_equal(d.cmd_expiry_s, 86400);
    assert_int_equal(d.cmd_timeout_s, 600);
    assert_int_equal(d.rollout_health_window_ms, 0);
    assert_int_equal(d.rollout_device_timeout_s, 900);
    assert_int_equal(d.chunk_size, 65536);
    assert_string_equal(d.log_level, "info");
    vmctld_config_free(&d);

    /* The smallest file: everything else is the default, and the paths
     * are derived from data_dir (a trailing '/' is not doubled). */
    put_config(f, MINIMAL);
    load_ok(f);
    assert_string_equal(f->cfg.file, f->path);
    assert_string_equal(f->cfg.http_listen, "127.0.0.1:8080");
    assert_string_equal(f->cfg.db_path, "/var/lib/vmctld/vmctld.db");
    assert_string_equal(f->cfg.store_dir, "/var/lib/vmctld/store");
    assert_int_equal(f->cfg.ntokens, 1);
    assert_string_equal(f->cfg.tokens[0].name, "admin");
    assert_string_equal(f->cfg.tokens[0].token, TOK_A);
    assert_int_equal(f->cfg.tokens[0].role, VMCTLD_ROLE_OPERATOR);
    assert_int_equal(f->cfg.ntrusted_keys, 1);
    /* Relative to the file's directory, not to the working directory. */
    snprintf(keyp, sizeof(keyp), "%s/fleet.pub", f->dir);
    assert_string_equal(f->cfg.trusted_keys[0], keyp);
    vmctld_config_free(&f->cfg);

    /* No file at all: the environment alone. */
    setenv("VMCTLD_OPERATOR_TOKEN", TOK_A, 1);
    setenv("VMCTLD_TRUST_KEYS", keyp, 1);
    setenv("VMCTLD_STORAGE_DATA_DIR", "/srv/vmctld/", 1);
    assert_int_equal(vmctld_config_load(NULL, &f->cfg, f->err,
                                        sizeof(f->err)),
                     0);
    assert_string_equal(f->cfg.file, "");
    assert_string_equal(f->cfg.db_path, "/srv/vmctld/vmctld.db");
    assert_string_equal(f->cfg.store_dir, "/srv/vmctld/store");
    assert_string_equal(f->cfg.tokens[0].name, "env-operator");
}

static void
test_config_full_file(void **state)
{
    fixture_t *f = *state;
    char p[300];

    put(f, "ca.pem", "ca\n");
    put(f, "cert.pem", "cert\n");
    put(f, "key.pem", "key\n");
    put(f, "second.pub", "k2\n");
    put(f, "viewer.token", TOK_B "\n\n");
    put_config(f,
               "{\n"
               "  \"mqtt\": {\"uri\": \"mqtts://broker.example:8883\",\n"
               "           \"client_id\": \"vmctld-1\", \"username\": "
               "\"u\",\n"
               "           \"password\": \"p w\", \"ca_file\": "
               "\"ca.pem\",\n"
               "           \"cert_file\": \"cert.pem\", \"key_file\": "
               "\"key.pem\"},\n"
               "  \"http\": {\"listen\": \"[::1]:8443\", \"cert_file\": "
               "\"cert.pem\",\n"
               "           \"key_file\": \"key.pem\", \"max_body\": 1024,\n"
               "           \"max_upload\": 1073741824, \"max_clients\": "
               "16,\n"
               "           \"web_root\": \"/\"},\n"
               "  \"tokens\": [\n"
               "    {\"name\": \"alice\", \"role\": \"operator\", "
               "\"token\": \"" TOK_A "\"},\n"
               "    {\"name\": \"bob\", \"role\": \"viewer\", "
               "\"token_file\": \"viewer.token\"}\n"
               "  ],\n"
               "  \"storage\": {\"data_dir\": \"data\", \"db_path\": "
               "\"/tmp/x.db\",\n"
               "              \"store_dir\": \"/abs/store\"},\n"
               "  \"trust\": {\"keys\": [\"fleet.pub\", \"second.pub\"]},\n"
               "  \"commands\": {\"expiry_s\": 3600, \"timeout_s\": 1e2},\n"
               "  \"rollouts\": {\"health_window_ms\": 2000,\n"
               "               \"device_timeout_s\": 60, \"chunk_size\": "
               "262144},\n"
               "  \"log\": {\"level\": \"debug\"}\n"
               "}\n");
    load_ok(f);
    assert_string_equal(f->cfg.mqtt_uri, "mqtts://broker.example:8883");
    assert_string_equal(f->cfg.mqtt_client_id, "vmctld-1");
    assert_string_equal(f->cfg.mqtt_username, "u");
    assert_string_equal(f->cfg.mqtt_password, "p w");
    snprintf(p, sizeof(p), "%s/ca.pem", f->dir);
    assert_string_equal(f->cfg.mqtt_ca_file, p);
    snprintf(p, sizeof(p), "%s/cert.pem", f->dir);
    assert_string_equal(f->cfg.mqtt_cert_file, p);
    assert_string_equal(f->cfg.http_cert_file, p);
    snprintf(p, sizeof(p), "%s/key.pem", f->dir);
    assert_string_equal(f->cfg.mqtt_key_file, p);
    assert_string_equal(f->cfg.http_key_file, p);
    assert_string_equal(f->cfg.http_listen, "[::1]:8443");
    assert_int_equal(f->cfg.http_max_body, 1024);
    assert_int_equal(f->cfg.http_max_upload, 1073741824);
    assert_int_equal(f->cfg.http_max_clients, 16);
    assert_string_equal(f->cfg.web_root, "/");
    assert_int_equal(f->cfg.ntokens, 2);
    assert_string_equal(f->cfg.tokens[1].name, "bob");
    assert_int_equal(f->cfg.tokens[1].role, VMCTLD_ROLE_VIEWER);
    /* The file's first line, without its newline. */
    assert_string_equal(f->cfg.tokens[1].token, TOK_B);
    snprintf(p, sizeof(p), "%s/data", f->dir);
    assert_string_equal(f->cfg.data_dir, p);
    assert_string_equal(f->cfg.db_path, "/tmp/x.db");
    assert_string_equal(f->cfg.store_dir, "/abs/store");
    assert_int_equal(f->cfg.ntrusted_keys, 2);
    snprintf(p, sizeof(p), "%s/second.pub", f->dir);
    assert_string_equal(f->cfg.trusted_keys[1], p);
    assert_int_equal(f->cfg.cmd_expiry_s, 3600);
    assert_int_equal(f->cfg.cmd_timeout_s, 100);
    assert_int_equal(f->cfg.rollout_health_window_ms, 2000);
    assert_int_equal(f->cfg.rollout_device_timeout_s, 60);
    assert_int_equal(f->cfg.chunk_size, 262144);
    assert_string_equal(f->cfg.log_level, "debug");
}

static void
test_config_env_overrides_file(void **state)
{
    fixture_t *f = *state;
    char p[300];

    put(f, "other.pub", "k\n");
    put_config(f, "{\n"
                  "  \"http\": {\"max_body\": 4096, \"listen\": "
                  "\"127.0.0.1:1\"},\n"
                  "  \"log\": {\"level\": \"warn\"},\n"
                  "  \"tokens\": [{\"name\": \"admin\", \"role\": "
                  "\"operator\", \"token\": \"" TOK_A "\"}],\n"
                  "  \"trust\": {\"keys\": [\"fleet.pub\"]}\n"
                  "}\n");
    setenv("VMCTLD_HTTP_MAX_BODY", "2048", 1);
    setenv("VMCTLD_HTTP_LISTEN", "0.0.0.0:0", 1);
    setenv("VMCTLD_LOG_LEVEL", "error", 1);
    setenv("VMCTLD_MQTT_URI", "ws://b:80/mqtt", 1);
    setenv("VMCTLD_VIEWER_TOKEN", TOK_B, 1);
    /* Empty means unset (compose files pass unset variables as ""). */
    setenv("VMCTLD_ROLLOUTS_CHUNK_SIZE", "", 1);
    /* Replaces the file's list; relative to the working directory. */
    snprintf(p, sizeof(p), ":%s/other.pub::", f->dir);
    setenv("VMCTLD_TRUST_KEYS", p, 1);
    load_ok(f);
    assert_int_equal(f->cfg.http_max_body, 2048);
    assert_string_equal(f->cfg.http_listen, "0.0.0.0:0");
    assert_string_equal(f->cfg.log_level, "error");
    assert_string_equal(f->cfg.mqtt_uri, "ws://b:80/mqtt");
    assert_int_equal(f->cfg.chunk_size, 65536);
    assert_int_equal(f->cfg.ntokens, 2);
    assert_string_equal(f->cfg.tokens[0].name, "admin");
    assert_string_equal(f->cfg.tokens[1].name, "env-viewer");
    assert_string_equal(f->cfg.tokens[1].token, TOK_B);
    assert_int_equal(f->cfg.tokens[1].role, VMCTLD_ROLE_VIEWER);
    assert_int_equal(f->cfg.ntrusted_keys, 1);
    snprintf(p, sizeof(p), "%s/other.pub", f->dir);
    assert_string_equal(f->cfg.trusted_keys[0], p);
    vmctld_config_free(&f->cfg);

    /* A bad value in the environment names the variable and the key. */
    setenv("VMCTLD_HTTP_MAX_BODY", "12k", 1);
    load_fails(f, "environment VMCTLD_HTTP_MAX_BODY: http.max_body: "
                  "expected an integer 1024..1073741824");
    setenv("VMCTLD_HTTP_MAX_BODY", "99999999999999999999999", 1);
    load_fails(f, "environment VMCTLD_HTTP_MAX_BODY: http.max_body: "
                  "expected an integer 1024..1073741824");
    unsetenv("VMCTLD_HTTP_MAX_BODY");
    setenv("VMCTLD_OPERATOR_TOKEN", "short", 1);
    load_fails(f, "environment VMCTLD_OPERATOR_TOKEN: tokens: too short: a "
                  "token has at least 16 characters (e.g. `openssl rand "
                  "-hex 24`)");
    /* The same secret twice is ambiguous: refused. */
    setenv("VMCTLD_OPERATOR_TOKEN", TOK_A, 1);
    load_fails(f, "environment VMCTLD_OPERATOR_TOKEN: tokens: the same "
                  "secret as token \"admin\": each user gets their own");
    unsetenv("VMCTLD_OPERATOR_TOKEN");
    setenv("VMCTLD_TRUST_KEYS", "/nonexistent/a.pub", 1);
    load_fails(f, "environment VMCTLD_TRUST_KEYS: trust.keys[0]: "
                  "/nonexistent/a.pub: No such file or directory");
}

/* One bad file and the exact error it must give. */
typedef struct bad_case {
    const char *json;
    const char *err; /* after "<dir>/" */
} bad_case_t;

static void
test_config_errors_name_key_and_line(void **state)
{
    fixture_t *f = *state;
    /* Lines 1-3 of every case are a valid start: tokens on line 2 and
     * trust on line 3, then the case's line 4. */
#define HEAD                                                              \
    "{\n"                                                                 \
    "\"tokens\": [{\"name\": \"admin\", \"role\": \"operator\", "         \
    "\"token\": \"" TOK_A "\"}],\n"                                       \
    "\"trust\": {\"keys\": [\"fleet.pub\"]},\n"
    static const bad_case_t cases[] = {
        /* wrong type */
        { HEAD "\"http\": {\"max_body\": \"64k\"}}\n",
          "vmctld.json:4: http.max_body: expected an integer "
          "1024..1073741824" },
        /* out of range, and not an integer */
        { HEAD "\"http\": {\n\"max_body\": 1073741825}}\n",
          "vmctld.json:5: http.max_body: expected an integer "
          "1024..1073741824" },
        { HEAD "\"http\": {\"max_body\": 4096.5}}\n",
          "vmctld.json:4: http.max_body: expected an integer "
          "1024..1073741824" },
        { HEAD "\"http\": {\"max_body\": -1}}\n",
          "vmctld.json:4: http.max_body: expected an integer "
          "1024..1073741824" },
        { HEAD "\"rollouts\": {\"chunk_size\": 512}}\n",
          "vmctld.json:4: rollouts.chunk_size: expected an integer "
          "1024..262144" },
        { HEAD "\"rollouts\": {\"chunk_size\": 262145}}\n",
          "vmctld.json:4: rollouts.chunk_size: expected an integer "
          "1024..262144" },
        { HEAD "\"http\": {\"listen\": 8080}}\n",
          "vmctld.json:4: http.listen: expected a string" },
        { HEAD "\"http\": [1]}\n",
          "vmctld.json:4: http: expected an object {...}" },
        /* unknown keys, with a suggestion for a typo */
        { HEAD "\"http\": {\"max_bdy\": 4096}}\n",
          "vmctld.json:4: http.max_bdy: unknown key (did you mean "
          "http.max_body?)" },
        { HEAD "\"htpp\": {}}\n",
          "vmctld.json:4: htpp: unknown key (did you mean http?)" },
        { HEAD "\"zzz\": 1}\n",
          "vmctld.json:4: zzz: unknown key (vmctld --help-config lists "
          "them)" },
        { HEAD "\"http\": {\"listen\": \"a:1\",\n\"listen\": \"b:2\"}}\n",
          "vmctld.json:4: http.listen: given twice" },
        /* values checked for their kind */
        { HEAD "\"http\": {\"listen\": \"8080\"}}\n",
          "vmctld.json:4: http.listen: expected HOST:PORT (e.g. "
          "127.0.0.1:8080, 0.0.0.0:8443, [::1]:8080; port 0..65535)" },
        { HEAD "\"http\": {\"listen\": \"host:65536\"}}\n",
          "vmctld.json:4: http.listen: expected HOST:PORT (e.g. "
          "127.0.0.1:8080, 0.0.0.0:8443, [::1]:8080; port 0..65535)" },
        { HEAD "\"mqtt\": {\"uri\": \"http://b:1883\"}}\n",
          "vmctld.json:4: mqtt.uri: expected SCHEME://HOST[:PORT] with a "
          "scheme of tcp, ssl, mqtt, mqtts, ws, wss" },
        { HEAD "\"log\": {\"level\": \"verbose\"}}\n",
          "vmctld.json:4: log.level: expected one of error, warn, info, "
          "debug" },
        { HEAD "\"mqtt\": {\"client_id\": \"\"}}\n",
          "vmctld.json:4: mqtt.client_id: must not be empty" },
        /* keys that only make sense together */
        { HEAD "\"http\": {\"cert_file\": \"fleet.pub\"}}\n",
          "vmctld.json:4: http.cert_file: set without http.key_file "
          "(HTTPS needs both)" },
        { HEAD "\"mqtt\": {\"ca_file\": \"fleet.pub\"}}\n",
          "vmctld.json:4: mqtt.ca_file: set, but mqtt.uri "
          "\"tcp://127.0.0.1:1883\" does not use TLS (ssl://, mqtts:// or "
          "wss://)" },
        /* tokens */
        { "{\n\"trust\": {\"keys\": [\"fleet.pub\"]}\n}\n",
          "vmctld.json: tokens: no API token: add one to \"tokens\" "
          "([{\"name\": \"admin\", \"role\": \"operator\", \"token_file\": "
          "\"...\"}]) or set VMCTLD_OPERATOR_TOKEN" },
        { "{\n\"trust\": {\"keys\": [\"fleet.pub\"]},\n\"tokens\": []\n}\n",
          "vmctld.json:3: tokens: no API token: add one to \"tokens\" "
          "([{\"name\": \"admin\", \"role\": \"operator\", \"token_file\": "
          "\"...\"}]) or set VMCTLD_OPERATOR_TOKEN" },
        { HEAD "\"log\": {}, \"tokens\": []}\n",
          "vmctld.json:2: tokens: given twice" },
        { "{\"trust\": {\"keys\": [\"fleet.pub\"]}, \"tokens\": [\n"
          "{\"name\": \"a\", \"role\": \"operator\", \"token\": \"" TOK_A
          "\"},\n"
          "{\"name\": \"b\",\n"
          " \"role\": \"admin\", \"token\": \"" TOK_B "\"}]}\n",
          "vmctld.json:4: tokens[1].role: expected \"viewer\" or "
          "\"operator\"" },
        { "{\"trust\": {\"keys\": [\"fleet.pub\"]}, \"tokens\": [\n"
          "{\"name\": \"a\", \"role\": \"operator\"}]}\n",
          "vmctld.json:2: tokens[0]: exactly one of \"token\" and "
          "\"token_file\" is required" },
        { "{\"trust\": {\"keys\": [\"fleet.pub\"]}, \"tokens\": [\n"
          "{\"name\": \"a\", \"role\": \"operator\",\n"
          "\"token\": \"0123456789\"}]}\n",
          "vmctld.json:3: tokens[0].token: too short: a token has at "
          "least 16 characters (e.g. `openssl rand -hex 24`)" },
        { "{\"trust\": {\"keys\": [\"fleet.pub\"]}, \"tokens\": [\n"
          "{\"name\": \"a\", \"role\": \"operator\", \"token\": \"" TOK_A
          "\"},\n"
          "{\"name\": \"a\", \"role\": \"viewer\", \"token\": \"" TOK_B
          "\"}]}\n",
          "vmctld.json:3: tokens[1].name: the name \"a\" is used twice" },
        { "{\"trust\": {\"keys\": [\"fleet.pub\"]}, \"tokens\": [\n"
          "{\"name\": \"a\", \"role\": \"operator\", \"tokn\": \"x\"}]}\n",
          "vmctld.json:2: tokens[0].tokn: unknown key (expected name, "
          "role, token, token_file)" },
        /* trusted keys */
        { "{\"tokens\": [{\"name\": \"a\", \"role\": \"operator\", "
          "\"token\": \"" TOK_A "\"}]}\n",
          "vmctld.json: trust.keys: no trusted key: list the PEM public "
          "keys that sign packages (\"trust\": {\"keys\": "
          "[\"fleet.pub\"]}) or set VMCTLD_TRUST_KEYS" },
        { HEAD "\"log\": {\"level\": \"info\"},\n"
               "\"storage\": {}, \"trust\": {\"keys\": 1}}\n",
          "vmctld.json:3: trust: given twice" },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        put_config(f, cases[i].json);
        if (vmctld_config_load(f->path, &f->cfg, f->err, sizeof(f->err)) ==
            0)
            fail_msg("case %zu: loaded", i);
        load_fails(f, cases[i].err);
    }
#undef HEAD
}

static void
test_config_missing_files(void **state)
{
    fixture_t *f = *state;
    char want[600];

    /* The config file itself. */
    load_fails(f, "vmctld.json: No such file or directory");

    /* A trusted key that is not there: its line in the file. */
    put_config(f, "{\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
                  "\"token\": \"" TOK_A "\"}],\n"
                  "\"trust\": {\"keys\": [\"fleet.pub\",\n"
                  "  \"gone.pub\"]}}\n");
    snprintf(want, sizeof(want),
             "vmctld.json:3: trust.keys[1]: %s/gone.pub: No such file or "
             "directory",
             f->dir);
    load_fails(f, want);

    /* A token file that is not there. */
    put_config(f, "{\"trust\": {\"keys\": [\"fleet.pub\"]},\n"
                  "\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\",\n"
                  "  \"token_file\": \"/nonexistent/t\"}]}\n");
    load_fails(f, "vmctld.json:3: tokens[0].token_file: /nonexistent/t: No "
                  "such file or directory");

    /* A token file whose token is too short. */
    put(f, "t.txt", "abc\n");
    put_config(f, "{\"trust\": {\"keys\": [\"fleet.pub\"]},\n"
                  "\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\",\n"
                  "  \"token_file\": \"t.txt\"}]}\n");
    snprintf(want, sizeof(want),
             "vmctld.json:3: tokens[0].token_file: %s/t.txt: too short: a "
             "token has at least 16 characters (e.g. `openssl rand -hex "
             "24`)",
             f->dir);
    load_fails(f, want);

    /* A directory where a file belongs. */
    put_config(f, "{\"trust\": {\"keys\": [\"/\"]},\n"
                  "\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
                  "\"token\": \"" TOK_A "\"}]}\n");
    load_fails(f, "vmctld.json:1: trust.keys[0]: /: not a regular file");
}

static void
test_config_syntax_error_has_line(void **state)
{
    fixture_t *f = *state;

    put_config(f, "{\n"
                  "  \"http\": {\n"
                  "    \"listen\": \"127.0.0.1:8080\"\n"
                  "    \"max_body\": 1024\n"
                  "  }\n"
                  "}\n");
    load_fails(f, "vmctld.json:4: JSON syntax error near \"\"max_body\": "
                  "1024\"");
    put_config(f, "{\n\"http\": {\n");
    load_fails(f, "vmctld.json:2: JSON syntax error: unexpected end of "
                  "file");
    /* Nothing may follow the object. */
    put_config(f, "{\"log\": {\"level\": \"info\"}}\n\n}\n");
    load_fails(f, "vmctld.json:3: JSON syntax error near \"}\"");
    put_config(f, "\n\n");
    load_fails(f, "vmctld.json:1: JSON syntax error: unexpected end of "
                  "file");
    /* Not text at all. */
    put_config(f, "{\"log\": {}}\n");
    {
        FILE *fp = fopen(f->path, "ab");

        assert_non_null(fp);
        fputc('\0', fp);
        fclose(fp);
    }
    load_fails(f, "vmctld.json: contains a NUL byte (not text)");
    /* A byte order mark is skipped. */
    put_config(f, "\xef\xbb\xbf" MINIMAL);
    load_ok(f);
    vmctld_config_free(&f->cfg);
    put_config(f, "[]");
    load_fails(f, "vmctld.json: (top level): expected a JSON object {...}");
}

static void
test_config_reload_is_two_loads(void **state)
{
    fixture_t *f = *state;
    vmctld_config_t fresh;
    char pending[256];

    put_config(f, MINIMAL);
    load_ok(f);
    assert_string_equal(f->cfg.log_level, "info");

    /* A broken file: the load fails, the running config is untouched. */
    put_config(f, "{\"http\": {\"max_body\": 1}}");
    assert_int_equal(
        vmctld_config_load(f->path, &fresh, f->err, sizeof(f->err)), -1);
    assert_null(fresh.tokens);
    assert_int_equal(f->cfg.ntokens, 1);
    assert_string_equal(f->cfg.tokens[0].token, TOK_A);

    /* A good one: tokens and log level apply, the listen address waits
     * for a restart and the running config keeps the old one. */
    put_config(f, "{\n"
                  "  \"tokens\": [{\"name\": \"carol\", \"role\": "
                  "\"viewer\", \"token\": \"" TOK_B "\"}],\n"
                  "  \"trust\": {\"keys\": [\"fleet.pub\"]},\n"
                  "  \"http\": {\"listen\": \"127.0.0.1:9\"},\n"
                  "  \"commands\": {\"timeout_s\": 5},\n"
                  "  \"log\": {\"level\": \"debug\"}\n"
                  "}\n");
    assert_int_equal(
        vmctld_config_load(f->path, &fresh, f->err, sizeof(f->err)), 0);
    assert_int_equal(vmctld_config_reload(&f->cfg, &fresh, pending,
                                          sizeof(pending)),
                     2);
    assert_string_equal(pending, "http.listen, commands.timeout_s");
    assert_null(fresh.tokens);
    assert_int_equal(f->cfg.ntokens, 1);
    assert_string_equal(f->cfg.tokens[0].name, "carol");
    assert_int_equal(f->cfg.tokens[0].role, VMCTLD_ROLE_VIEWER);
    assert_string_equal(f->cfg.log_level, "debug");
    assert_string_equal(f->cfg.http_listen, "127.0.0.1:8080");
    assert_int_equal(f->cfg.cmd_timeout_s, 600);

    /* The same file again: nothing pending. */
    assert_int_equal(
        vmctld_config_load(f->path, &fresh, f->err, sizeof(f->err)), 0);
    strcpy(fresh.http_listen, f->cfg.http_listen);
    fresh.cmd_timeout_s = f->cfg.cmd_timeout_s;
    assert_int_equal(vmctld_config_reload(&f->cfg, &fresh, pending,
                                          sizeof(pending)),
                     0);
    assert_string_equal(pending, "");
    assert_int_equal(f->cfg.ntokens, 1);
}

static void
test_config_print_keys_lists_every_key(void **state)
{
    static const char *const names[] = {
        "mqtt.uri",          "mqtt.client_id",
        "mqtt.username",     "mqtt.password",
        "mqtt.ca_file",      "mqtt.cert_file",
        "mqtt.key_file",     "http.listen",
        "http.cert_file",    "http.key_file",
        "http.max_body",     "http.max_upload",
        "http.max_clients",  "http.web_root",
        "tokens",            "storage.data_dir",
        "storage.db_path",   "storage.store_dir",
        "trust.keys",        "commands.expiry_s",
        "commands.timeout_s", "rollouts.health_window_ms",
        "rollouts.device_timeout_s", "rollouts.chunk_size",
        "log.level",
    };
    char *buf = NULL;
    size_t len = 0, i;
    FILE *mem;

    (void)state;
    assert_non_null(mem = open_memstream(&buf, &len));
    vmctld_config_print_keys(mem);
    fclose(mem);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char env[64], *p;

        assert_non_null(strstr(buf, names[i]));
        if (strcmp(names[i], "tokens") == 0)
            continue;
        /* Every key's variable is VMCTLD_ + its name in capitals. */
        snprintf(env, sizeof(env), "VMCTLD_%s", names[i]);
        for (p = env; *p != '\0'; p++)
            *p = *p == '.' ? '_' : (char)(*p >= 'a' && *p <= 'z'
                                              ? *p - 'a' + 'A'
                                              : *p);
        assert_non_null(strstr(buf, env));
    }
    assert_non_null(strstr(buf, "VMCTLD_OPERATOR_TOKEN"));
    assert_non_null(strstr(buf, "VMCTLD_VIEWER_TOKEN"));
    assert_non_null(strstr(buf, "int 1024..1073741824"));
    free(buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_defaults, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_full_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_env_overrides_file,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_config_errors_name_key_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_missing_files, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_config_syntax_error_has_line,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_reload_is_two_loads,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_config_print_keys_lists_every_key, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
