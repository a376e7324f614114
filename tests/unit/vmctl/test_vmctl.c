/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctl's remote commands against a fake vmctld (fake_http.c): the
 * vmctl binary runs as a child process with a clean environment, its
 * exit status, stdout and stderr are checked, and so are the requests
 * the fake received.  A few pure helpers (vmctl_parse_count, the config
 * reader, relative times) are called directly from vmctl_lib.
 */

#define _XOPEN_SOURCE 700 /* nftw */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "fake_http.h"
#include "out.h"
#include "remote.h"

#ifndef VMCTL_BIN
#error "VMCTL_BIN: the vmctl binary under test"
#endif

#define OUT_MAX (256 * 1024)
#define SHA_A "aaaaaaaa11111111111111111111111111111111111111111111111111111111"
#define SHA_B "aaaaaaaa22222222222222222222222222222222222222222222222222222222"
#define SHA_C "cccccccc33333333333333333333333333333333333333333333333333333333"
#define SHA_P "9999999999999999999999999999999999999999999999999999999999999999"

extern char **environ;

typedef struct run {
    int status;              /* exit status, or -1 */
    char out[OUT_MAX];
    char err[OUT_MAX];
} run_t;

typedef struct fixture {
    char dir[64];            /* a fresh temporary directory */
    char url[64];            /* the fake's URL, once started */
    fake_http_t *fake;
    run_t run;
} fixture_t;

/* ---- helpers ------------------------------------------------------------ */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_vmctl.XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    fake_http_stop(f->fake);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void
serve(fixture_t *f, const fake_route_t *routes, size_t n)
{
    f->fake = fake_http_start(routes, n);
    assert_non_null(f->fake);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d",
             fake_http_port(f->fake));
}

static void
slurp(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "rb");
    size_t n = 0;

    if (fp != NULL) {
        n = fread(buf, 1, cap - 1, fp);
        fclose(fp);
    }
    buf[n] = '\0';
}

static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/*
 * vmctl: run the binary with `args` (NULL-terminated) and the
 * environment: PATH, HOME=<dir>/home, the sanitizer options, and
 * `env` (NULL-terminated "NAME=VALUE", may be NULL).
 * Return: the exit status (also in f->run).
 */
static int
vmctl_env(fixture_t *f, const char *const *env, const char *const *args)
{
    char outp[128], errp[128], home[128];
    char *argv[64], *envp[32];
    posix_spawn_file_actions_t fa;
    size_t na = 0, ne = 0, i;
    const char *keep[] = { "PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS",
                           "LSAN_OPTIONS" };
    pid_t pid;
    int st;

    snprintf(outp, sizeof(outp), "%s/stdout", f->dir);
    snprintf(errp, sizeof(errp), "%s/stderr", f->dir);
    snprintf(home, sizeof(home), "HOME=%s/home", f->dir);
    argv[na++] = (char *)VMCTL_BIN;
    for (i = 0; args[i] != NULL && na < 63; i++)
        argv[na++] = (char *)args[i];
    argv[na] = NULL;
    envp[ne++] = home;
    for (i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
        size_t n = strlen(keep[i]);
        char **e;

        for (e = environ; *e != NULL; e++)
            if (strncmp(*e, keep[i], n) == 0 && (*e)[n] == '=')
                envp[ne++] = *e;
    }
    for (i = 0; env != NULL && env[i] != NULL && ne < 31; i++)
        envp[ne++] = (char *)env[i];
    envp[ne] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outp,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(posix_spawn(&pid, VMCTL_BIN, &fa, NULL, argv, envp),
                     0);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    f->run.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    slurp(outp, f->run.out, sizeof(f->run.out));
    slurp(errp, f->run.err, sizeof(f->run.err));
    /* UBSan reports without failing; ASan and LSan change the status. */
    if (strstr(f->run.err, "runtime error:") != NULL)
        f->run.status = -1;
    if (f->run.status == -1 || getenv("TEST_VMCTL_VERBOSE") != NULL)
        fprintf(stderr, "vmctl %s ... -> %d\n--- stdout\n%s--- stderr\n%s",
                args[0] ? args[0] : "", f->run.status, f->run.out,
                f->run.err);
    return f->run.status;
}

#define VMCTL(f, ...)                                                     \
    vmctl_env((f), NULL, (const char *const[]){ __VA_ARGS__, NULL })
#define VMCTL_ENV(f, env, ...)                                            \
    vmctl_env((f), (env), (const char *const[]){ __VA_ARGS__, NULL })

static void
assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL) {
        fprintf(stderr, "expected to find:\n  %s\nin:\n%s\n", needle, hay);
        fail();
    }
}

static void
assert_lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle) != NULL) {
        fprintf(stderr, "did not expect:\n  %s\nin:\n%s\n", needle, hay);
        fail();
    }
}

static fake_req_t *
req(fixture_t *f, size_t i)
{
    static fake_req_t r;

    assert_int_equal(fake_http_req(f->fake, i, &r), 0);
    return &r;
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A small package for VM `vm`, made with `vmctl keys gen` and `pack`. */
static void
make_package(fixture_t *f, const char *vm, char *path, size_t len)
{
    char key[128], keyprefix[128], wasm[128];
    FILE *fp;

    snprintf(keyprefix, sizeof(keyprefix), "%s/k", f->dir);
    snprintf(key, sizeof(key), "%s/k.key", f->dir);
    snprintf(wasm, sizeof(wasm), "%s/m.wasm", f->dir);
    snprintf(path, len, "%s/%s.vpk", f->dir, vm);
    fp = fopen(wasm, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite("\0asm\1\0\0\0", 1, 8, fp), 8);
    assert_int_equal(fclose(fp), 0);
    assert_int_equal(VMCTL(f, "keys", "gen", "-o", keyprefix, "--force"), 0);
    assert_int_equal(VMCTL(f, "pack", "--vm", vm, "--version", "2.0.0",
                           "--key", key, wasm, "-o", path),
                     0);
}

/* ---- pure helpers ------------------------------------------------------- */

static void
test_vmctl_parse_count_numbers_and_percent(void **state)
{
    uint32_t n = 0;
    bool pct = true;

    (void)state;
    assert_int_equal(vmctl_parse_count("10", 1, &n, &pct), 0);
    assert_int_equal(n, 10);
    assert_false(pct);
    assert_int_equal(vmctl_parse_count("25%", 1, &n, &pct), 0);
    assert_int_equal(n, 25);
    assert_true(pct);
    assert_int_equal(vmctl_parse_count("100%", 1, &n, &pct), 0);
    assert_int_equal(vmctl_parse_count("0", 0, &n, &pct), 0);
    assert_int_equal(n, 0);
    assert_int_equal(vmctl_parse_count("0%", 0, &n, &pct), 0);
    assert_int_equal(vmctl_parse_count("1000000", 1, &n, &pct), 0);
    assert_int_equal(n, 1000000);
    /* Out of range or not a count. */
    assert_int_equal(vmctl_parse_count("0", 1, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("0%", 1, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("101%", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("1000001", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("%", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("5%%", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("-1", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("1e3", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count(" 5", 0, &n, &pct), -1);
    assert_int_equal(vmctl_parse_count("99999999999999999999", 0, &n, &pct),
                     -1);
}

static void
test_vmctl_ago_is_relative(void **state)
{
    char buf[32];
    int64_t now = 1700000000000;

    (void)state;
    assert_string_equal(vmctl_ago(now - 3000, now, buf, sizeof(buf)),
                        "3s ago");
    assert_string_equal(vmctl_ago(now - 5 * 60000 - 10, now, buf,
                                  sizeof(buf)), "5m ago");
    assert_string_equal(vmctl_ago(now - 2 * 3600000, now, buf, sizeof(buf)),
                        "2h ago");
    assert_string_equal(vmctl_ago(now - 4 * 86400000LL, now, buf,
                                  sizeof(buf)), "4d ago");
    assert_string_equal(vmctl_ago(now + 5 * 60000, now, buf, sizeof(buf)),
                        "in 5m");
    assert_string_equal(vmctl_ago(0, now, buf, sizeof(buf)), "-");
}

static void
test_vmctl_conf_read_keys_and_errors(void **state)
{
    fixture_t *f = *state;
    char path[128], err[512];
    vmctl_conf_t c;

    snprintf(path, sizeof(path), "%s/config", f->dir);
    write_file(path, "# a comment\n\n  server = https://h:1  \n"
                     "token=\"tok en\"\ncacert = /x/ca.pem\n");
    memset(&c, 0, sizeof(c));
    assert_int_equal(vmctl_conf_read(path, &c, err, sizeof(err)), 0);
    assert_string_equal(c.server, "https://h:1");
    assert_string_equal(c.token, "tok en");
    assert_string_equal(c.cacert, "/x/ca.pem");

    write_file(path, "server = http://h:1\n\nsevrer = x\n");
    assert_int_equal(vmctl_conf_read(path, &c, err, sizeof(err)), -1);
    assert_contains(err, ":3: unknown key 'sevrer'");
    assert_contains(err, path);

    write_file(path, "token\n");
    assert_int_equal(vmctl_conf_read(path, &c, err, sizeof(err)), -1);
    assert_contains(err, ":1: expected 'key = value'");

    write_file(path, "token = a\ntoken = b\n");
    assert_int_equal(vmctl_conf_read(path, &c, err, sizeof(err)), -1);
    assert_contains(err, ":2: 'token' given twice");

    write_file(path, "server =\n");
    assert_int_equal(vmctl_conf_read(path, &c, err, sizeof(err)), -1);
    assert_contains(err, ":1: server: empty value");
}

/* ---- usage and help ---------------------------------------------------- */

static void
test_vmctl_usage_errors_exit_2(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/*", 200, "{}", 0 },
    };
    const char *env[2] = { NULL, NULL };
    char srv[96];

    serve(f, routes, 1);
    snprintf(srv, sizeof(srv), "VMCTL_SERVER=%s", f->url);
    env[0] = srv;
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--bogus"), 2);
    assert_contains(f->run.err, "unknown option '--bogus'");
    assert_contains(f->run.err, "usage: vmctl devices");
    assert_int_equal(VMCTL_ENV(f, env, "vm", "start", "dev-a"), 2);
    assert_contains(f->run.err, "usage: vmctl vm ls DEV");
    assert_int_equal(VMCTL_ENV(f, env, "vm", "explode", "dev-a", "x"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "nosuchcommand"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--timeout", "soon"), 2);
    assert_contains(f->run.err, "--timeout");
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--server"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--online", "--offline"),
                     2);
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--label", "novalue"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "restore", "d", "vm", "abc"), 2);
    assert_contains(f->run.err, "at least 8 hex digits");
    assert_int_equal(VMCTL_ENV(f, env, "update", "sensor", "p.vpk"), 2);
    assert_contains(f->run.err, "missing TARGET");
    assert_int_equal(VMCTL_ENV(f, env, "update", "--all", "d1", "sensor",
                               "p.vpk"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "update", "--all", "sensor", "p.vpk",
                               "--batch", "0"), 2);
    assert_contains(f->run.err, "--batch '0'");
    assert_int_equal(VMCTL_ENV(f, env, "update", "--all", "sensor", "p.vpk",
                               "--batch", "150%"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "update", "--all", "sensor", "p.vpk",
                               "--max-failures", "x%"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "update", "--all", "sensor", "p.vpk",
                               "--canary", "-1"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "vm", "start", "d", "v", "--expiry",
                               "0"), 2);
    assert_int_equal(VMCTL_ENV(f, env, "snapshot", "get", SHA_A), 2);
    assert_contains(f->run.err, "missing -o FILE");
    /* None of them got as far as a request. */
    assert_int_equal(fake_http_nreqs(f->fake), 0);
}

static void
test_vmctl_help_for_every_command(void **state)
{
    fixture_t *f = *state;
    static const char *const cmds[] = {
        "info",     "devices", "device",  "vm",       "snapshot",
        "snapshots", "restore", "command", "commands", "update",
        "rollout",  "rollouts", "packages", "package", "keys",
        "pack",     "inspect",
    };
    size_t i;

    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        assert_int_equal(VMCTL(f, cmds[i], "--help"), 0);
        assert_contains(f->run.out, "usage: vmctl ");
    }
    assert_int_equal(VMCTL(f, "--help"), 0);
    assert_contains(f->run.out, "Exit status: 0 ok, 1 failed, 2 usage "
                                "error, 3 partial");
    assert_int_equal(VMCTL(f, "help", "update"), 0);
    assert_contains(f->run.out, "--max-failures N|P%");
}

/* ---- config precedence ------------------------------------------------- */

static void
test_vmctl_config_precedence_flag_env_file(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/devices*", 200, "{\"devices\":[]}", 0 },
    };
    char cfgdir[128], cfg[160], text[256], dead[64], xdg[160];
    char env_srv[96], env_dead[96];
    const char *env[4];
    int port = fake_http_closed_port();

    serve(f, routes, 1);
    assert_true(port > 0);
    snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", port);
    snprintf(cfgdir, sizeof(cfgdir), "%s/xdg/vmctl", f->dir);
    snprintf(text, sizeof(text), "%s/xdg", f->dir);
    assert_int_equal(mkdir(text, 0700), 0);
    assert_int_equal(mkdir(cfgdir, 0700), 0);
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/xdg", f->dir);
    snprintf(cfg, sizeof(cfg), "%s/config", cfgdir);
    snprintf(env_srv, sizeof(env_srv), "VMCTL_SERVER=%s", f->url);
    snprintf(env_dead, sizeof(env_dead), "VMCTL_SERVER=%s", dead);

    /* The file alone: its server and token. */
    snprintf(text, sizeof(text), "server = %s\ntoken = ftok\n", f->url);
    write_file(cfg, text);
    env[0] = xdg;
    env[1] = NULL;
    assert_int_equal(VMCTL_ENV(f, env, "devices"), 0);
    assert_string_equal(req(f, 0)->auth, "Bearer ftok");
    /* The environment beats the file. */
    env[1] = "VMCTL_TOKEN=etok";
    env[2] = NULL;
    assert_int_equal(VMCTL_ENV(f, env, "devices"), 0);
    assert_string_equal(req(f, 1)->auth, "Bearer etok");
    /* A flag beats both, before or after the command. */
    assert_int_equal(VMCTL_ENV(f, env, "--token", "xtok", "devices"), 0);
    assert_string_equal(req(f, 2)->auth, "Bearer xtok");
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--token=ytok"), 0);
    assert_string_equal(req(f, 3)->auth, "Bearer ytok");

    /* Server: the file says a dead port, the environment the fake. */
    snprintf(text, sizeof(text), "server = %s\n", dead);
    write_file(cfg, text);
    env[1] = env_srv;
    env[2] = NULL;
    assert_int_equal(VMCTL_ENV(f, env, "devices"), 0);
    assert_string_equal(req(f, 4)->auth, "");
    /* The environment says a dead port, the flag the fake. */
    env[1] = env_dead;
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--server", f->url), 0);
    assert_int_equal(fake_http_nreqs(f->fake), 6);
    /* And without the flag, the dead port it is. */
    assert_int_equal(VMCTL_ENV(f, env, "devices"), 1);
    assert_contains(f->run.err, dead);
}

static void
test_vmctl_config_errors_name_file_and_line(void **state)
{
    fixture_t *f = *state;
    char dir[128], cfg[160], xdg[160], msg[256];
    const char *env[2];

    snprintf(dir, sizeof(dir), "%s/home", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/home/.config", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/home/.config/vmctl", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(cfg, sizeof(cfg), "%s/config", dir);
    write_file(cfg, "server = http://127.0.0.1:1\n# ok\ntokn = abc\n");
    /* ~/.config/vmctl/config when $XDG_CONFIG_HOME is not set. */
    assert_int_equal(VMCTL(f, "devices"), 1);
    snprintf(msg, sizeof(msg), "%s:3: unknown key 'tokn'", cfg);
    assert_contains(f->run.err, msg);
    /* A local command does not read it. */
    assert_int_equal(VMCTL(f, "version"), 0);

    /* A bad server URL names where it came from. */
    write_file(cfg, "server = ftp://x\n");
    assert_int_equal(VMCTL(f, "devices"), 1);
    assert_contains(f->run.err, cfg);
    assert_contains(f->run.err, "expected http://HOST:PORT");

    /* $XDG_CONFIG_HOME wins over ~/.config. */
    snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/xdg", f->dir);
    snprintf(dir, sizeof(dir), "%s/xdg", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(dir, sizeof(dir), "%s/xdg/vmctl", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(cfg, sizeof(cfg), "%s/config", dir);
    write_file(cfg, "token\n");
    env[0] = xdg;
    env[1] = NULL;
    assert_int_equal(VMCTL_ENV(f, env, "devices"), 1);
    snprintf(msg, sizeof(msg), "%s:1: expected 'key = value'", cfg);
    assert_contains(f->run.err, msg);
}

/* ---- output ----------------------------------------------------------- */

static char devices_body[2048];

static void
test_vmctl_devices_table_and_filters(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/devices*", 200, devices_body, 0 },
    };
    int64_t now = now_ms();
    char *line2, *line3;
    size_t col;

    snprintf(devices_body, sizeof(devices_body),
             "{\"devices\":["
             "{\"id\":\"dev-a\",\"online\":true,\"last_seen_ms\":%lld,"
             "\"runtime_version\":\"0.1.0\",\"labels\":{\"site\":\"berlin\","
             "\"rack\":\"r1\"},\"vms\":[{\"name\":\"sensor\"},"
             "{\"name\":\"counter\"}]},"
             "{\"id\":\"device-long-name-b\",\"online\":false,"
             "\"last_seen_ms\":%lld,\"runtime_version\":\"0.1.0\","
             "\"labels\":{},\"vms\":[]}]}",
             (long long)(now - 5 * 60000 - 10000),
             (long long)(now - 3 * 3600000 - 10000));
    serve(f, routes, 1);
    assert_int_equal(VMCTL(f, "--server", f->url, "devices", "--label",
                           "site=berlin", "--online"),
                     0);
    /* Pages of 1000: one is enough here (no "total": all of them). */
    assert_string_equal(
        req(f, 0)->target,
        "/api/v1/devices?label=site%3Dberlin&online=true&limit=1000");
    assert_int_equal(fake_http_nreqs(f->fake), 1);
    assert_string_equal(req(f, 0)->method, "GET");
    /* Header, then one line per device, columns aligned. */
    assert_true(strncmp(f->run.out, "ID  ", 4) == 0);
    assert_contains(f->run.out, "ONLINE");
    assert_contains(f->run.out, "LAST SEEN");
    assert_contains(f->run.out, "LABELS");
    line2 = strchr(f->run.out, '\n');
    assert_non_null(line2);
    line2++;
    line3 = strchr(line2, '\n');
    assert_non_null(line3);
    line3++;
    col = (size_t)(strstr(f->run.out, "ONLINE") - f->run.out);
    assert_true(strncmp(line2 + col, "yes ", 4) == 0);
    assert_true(strncmp(line3 + col, "no ", 3) == 0);
    col = (size_t)(strstr(f->run.out, "LAST SEEN") - f->run.out);
    assert_true(strncmp(line2 + col, "5m ago", 6) == 0);
    assert_true(strncmp(line3 + col, "3h ago", 6) == 0);
    assert_contains(line2, "sensor,counter");
    assert_contains(line2, "site=berlin,rack=r1");
    assert_true(strncmp(line3, "device-long-name-b  ", 20) == 0);

    /* --json: the reply as it came, one document. */
    assert_int_equal(VMCTL(f, "devices", "--json", "--server", f->url), 0);
    assert_int_equal(strlen(f->run.out), strlen(devices_body) + 1);
    assert_true(strncmp(f->run.out, devices_body, strlen(devices_body)) ==
                0);
    assert_string_equal(req(f, 1)->target, "/api/v1/devices");
}

static void
test_vmctl_show_commands_print_key_values(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/devices/dev-a", 200,
          "{\"id\":\"dev-a\",\"online\":false,\"last_seen_ms\":0,"
          "\"runtime_version\":\"0.1.0\",\"ota_version\":\"0.1.0\","
          "\"boot_id\":\"b1\",\"labels\":{\"site\":\"x\"},\"vms\":["
          "{\"name\":\"sensor\",\"version\":\"1.0.0\",\"state\":\"running\","
          "\"memory_bytes\":131072,\"storage_quota\":0,\"restarts\":2,"
          "\"last_error\":\"\"}]}", 0 },
        { "GET", "/api/v1/rollouts/r1", 200,
          "{\"id\":\"r1\",\"vm\":\"sensor\",\"version\":\"2.0.0\","
          "\"target\":\"all\",\"state\":\"paused\",\"pause_reason\":"
          "\"failure threshold\",\"canary\":1,\"batch\":\"10%\","
          "\"max_failures\":0,\"counts\":{\"total\":2,\"waiting\":0,"
          "\"in_flight\":0,\"succeeded\":0,\"failed\":1},\"devices\":["
          "{\"device\":\"dev-a\",\"batch\":0,\"state\":\"failed\",\"code\":"
          "\"E_ROLLED_BACK\",\"message\":\"trap\\u001b[2J\",\"command\":\"c9\","
          "\"updated_ms\":0}]}", 0 },
        { "GET", "/api/v1/rollouts", 200,
          "{\"rollouts\":[{\"id\":\"r1\",\"vm\":\"sensor\",\"version\":"
          "\"2.0.0\",\"target\":\"all\",\"state\":\"running\",\"counts\":"
          "{\"total\":4,\"succeeded\":1,\"failed\":0}}]}", 0 },
        { "GET", "/api/v1/packages", 200,
          "{\"packages\":[{\"sha256\":\"" SHA_P "\",\"vm\":\"sensor\","
          "\"version\":\"2.0.0\",\"size\":3000000,\"key_id\":"
          "\"e16ed7a2fb531c52\",\"created_ms\":0}]}", 0 },
        { "DELETE", "/api/v1/packages/" SHA_P, 204, NULL, 0 },
        { "GET", "/api/v1/commands?device=dev-a&limit=5", 200,
          "{\"commands\":[{\"id\":\"c9\",\"device\":\"dev-a\",\"kind\":"
          "\"update\",\"vm\":\"sensor\",\"state\":\"failed\",\"final\":"
          "true,\"code\":\"E_ROLLED_BACK\",\"message\":\"trap\"}]}", 0 },
    };

    serve(f, routes, 6);
    assert_int_equal(VMCTL(f, "device", "show", "dev-a", "--server", f->url),
                     0);
    assert_contains(f->run.out, "online           no");
    assert_contains(f->run.out, "labels           site=x");
    assert_contains(f->run.out, "sensor  1.0.0    running  128.0 KiB");
    assert_int_equal(VMCTL(f, "rollout", "show", "r1", "--server", f->url),
                     0);
    assert_contains(f->run.out, "paused (failure threshold)");
    assert_contains(f->run.out, "batch 10%");
    assert_contains(f->run.out, "E_ROLLED_BACK");
    /* A device's message cannot send escape sequences to the terminal. */
    assert_contains(f->run.out, "trap?[2J");
    assert_lacks(f->run.out, "\033");
    assert_int_equal(VMCTL(f, "rollouts", "--server", f->url), 0);
    assert_contains(f->run.out, "1/4 ok, 0 failed");
    assert_int_equal(VMCTL(f, "packages", "--server", f->url), 0);
    assert_contains(f->run.out, "9999999999999999  sensor  2.0.0    2.9 MiB");
    /* A prefix is resolved through the list; 204 has no body. */
    assert_int_equal(VMCTL(f, "package", "rm", "99999999", "--server",
                           f->url), 0);
    assert_contains(f->run.out, "package " SHA_P " deleted");
    assert_int_equal(VMCTL(f, "commands", "--device", "dev-a", "--limit",
                           "5", "--server", f->url), 0);
    assert_contains(f->run.out, "c9  dev-a   update  sensor  failed  "
                                "E_ROLLED_BACK");
}

/* ---- errors ----------------------------------------------------------- */

static void
test_vmctl_connection_refused_says_what_to_do(void **state)
{
    fixture_t *f = *state;
    char url[64], msg[160];
    int port = fake_http_closed_port();

    assert_true(port > 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    assert_int_equal(VMCTL(f, "devices", "--server", url), 1);
    snprintf(msg, sizeof(msg), "cannot reach vmctld at %s: connection "
                               "refused; is vmctld running? set --server or "
                               "VMCTL_SERVER", url);
    assert_contains(f->run.err, msg);
    /* The default server when nothing says otherwise (something may
     * listen there on a shared machine: then only the status counts). */
    assert_int_equal(VMCTL(f, "info", "--timeout", "2"), 1);
    if (strstr(f->run.err, "cannot reach") != NULL)
        assert_contains(f->run.err, "http://127.0.0.1:8080");
}

static void
test_vmctl_api_errors_map_to_hints(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/devices/nope", 404,
          "{\"error\":{\"code\":\"E_NOT_FOUND\",\"message\":\"no device "
          "'nope'\"}}", 0 },
        { "GET", "/api/v1/devices*", 401,
          "{\"error\":{\"code\":\"E_UNAUTHORIZED\",\"message\":\"bad "
          "token\"}}", 0 },
        { "POST", "/api/v1/rollouts/r1/pause", 403,
          "{\"error\":{\"code\":\"E_FORBIDDEN\",\"message\":\"viewer may "
          "not\"}}", 0 },
        { "POST", "/api/v1/rollouts/r2/resume", 409,
          "{\"error\":{\"code\":\"E_CONFLICT\",\"message\":\"rollout r2 is "
          "running\"}}", 0 },
        { "GET", "/api/v1/info", 200, "<html>hello</html>", 0 },
    };
    const char *env[] = { "VMCTL_TOKEN=sekrit", NULL };

    serve(f, routes, 5);
    assert_int_equal(VMCTL_ENV(f, env, "devices", "--server", f->url), 1);
    assert_contains(f->run.err, "token rejected (E_UNAUTHORIZED): set "
                                "--token or VMCTL_TOKEN");
    assert_contains(f->run.err, "came from VMCTL_TOKEN");
    assert_string_equal(req(f, 0)->auth, "Bearer sekrit");
    assert_int_equal(VMCTL(f, "devices", "--server", f->url), 1);
    assert_contains(f->run.err, "no token given (E_UNAUTHORIZED)");
    /* --json: the error document on stdout too. */
    assert_int_equal(VMCTL(f, "devices", "--json", "--server", f->url), 1);
    assert_contains(f->run.out, "\"E_UNAUTHORIZED\"");
    assert_int_equal(VMCTL(f, "rollout", "pause", "r1", "--server", f->url),
                     1);
    assert_contains(f->run.err, "viewer may not (E_FORBIDDEN)");
    assert_contains(f->run.err, "operator token");
    assert_int_equal(VMCTL(f, "device", "show", "nope", "--server", f->url),
                     1);
    assert_contains(f->run.err, "no device 'nope' (E_NOT_FOUND)");
    assert_int_equal(VMCTL(f, "rollout", "resume", "r2", "--server", f->url),
                     1);
    assert_contains(f->run.err, "rollout r2 is running (E_CONFLICT)");
    assert_int_equal(VMCTL(f, "info", "--server", f->url), 1);
    assert_contains(f->run.err, "is it vmctld?");
}

/* ---- lifecycle commands ----------------------------------------------- */

static void
test_vmctl_vm_start_waits_for_the_result(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "POST", "/api/v1/devices/dev-a/vms/sensor/start", 202,
          "{\"id\":\"c1\",\"device\":\"dev-a\",\"kind\":\"start\",\"vm\":"
          "\"sensor\",\"state\":\"sent\",\"final\":false}", 0 },
        { "GET", "/api/v1/commands/c1?wait=*", 200,
          "{\"id\":\"c1\",\"device\":\"dev-a\",\"kind\":\"start\",\"vm\":"
          "\"sensor\",\"state\":\"accepted\",\"final\":false}", 1 },
        { "GET", "/api/v1/commands/c1?wait=*", 200,
          "{\"id\":\"c1\",\"device\":\"dev-a\",\"kind\":\"start\",\"vm\":"
          "\"sensor\",\"state\":\"succeeded\",\"final\":true,\"code\":"
          "\"OK\",\"version\":\"1.0.0\"}", 0 },
        { "DELETE", "/api/v1/devices/dev-a/vms/sensor", 202,
          "{\"id\":\"c2\",\"device\":\"dev-a\",\"kind\":\"destroy\",\"vm\":"
          "\"sensor\",\"state\":\"failed\",\"final\":true,\"code\":"
          "\"E_STATE\",\"message\":\"not stopped\"}", 0 },
    };

    serve(f, routes, 4);
    assert_int_equal(VMCTL(f, "vm", "start", "dev-a", "sensor", "--server",
                           f->url), 0);
    assert_contains(f->run.out, "dev-a sensor: start succeeded (version "
                                "1.0.0)");
    assert_int_equal(fake_http_nreqs(f->fake), 3);
    assert_string_equal(req(f, 0)->method, "POST");
    assert_string_equal(req(f, 0)->body, "{}");
    assert_string_equal(req(f, 0)->ctype, "application/json");
    assert_true(strncmp(req(f, 1)->target, "/api/v1/commands/c1?wait=",
                        25) == 0);
    assert_int_equal(VMCTL(f, "vm", "destroy", "dev-a", "sensor",
                           "--server", f->url), 1);
    assert_contains(f->run.err, "dev-a sensor: destroy failed: E_STATE: "
                                "not stopped");
    assert_string_equal(req(f, 3)->method, "DELETE");
    assert_int_equal(req(f, 3)->body_len, 0);
    /* --json: the last document only. */
    assert_int_equal(VMCTL(f, "vm", "start", "dev-a", "sensor", "--json",
                           "--server", f->url), 0);
    assert_true(strncmp(f->run.out, "{\"id\":\"c1\"", 10) == 0);
    assert_contains(f->run.out, "\"succeeded\"");
    assert_lacks(f->run.out, "\"sent\"");
    assert_lacks(f->run.out, "\"accepted\"");
}

static char queued_body[512];

static void
test_vmctl_queued_command_for_offline_device(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "POST", "/api/v1/devices/dev-b/vms/sensor/stop", 202, queued_body,
          0 },
        { "GET", "/api/v1/commands/c7?wait=*", 200, queued_body, 0 },
    };
    int64_t t0;

    snprintf(queued_body, sizeof(queued_body),
             "{\"id\":\"c7\",\"device\":\"dev-b\",\"kind\":\"stop\",\"vm\":"
             "\"sensor\",\"state\":\"queued\",\"final\":false,"
             "\"expires_ms\":%lld}",
             (long long)(now_ms() + 2 * 3600000 + 60000));
    serve(f, routes, 2);
    assert_int_equal(VMCTL(f, "vm", "stop", "dev-b", "sensor", "--no-wait",
                           "--expiry", "7200", "--server", f->url), 0);
    assert_contains(f->run.err, "queued until dev-b comes back (expires in "
                                "2h");
    assert_contains(f->run.out, "command c7 queued");
    assert_string_equal(req(f, 0)->body, "{\"expiry_s\":7200}");
    assert_int_equal(fake_http_nreqs(f->fake), 1);

    t0 = now_ms();
    assert_int_equal(VMCTL(f, "vm", "stop", "dev-b", "sensor", "--timeout",
                           "2", "--server", f->url), 1);
    assert_true(now_ms() - t0 >= 1500);
    assert_contains(f->run.err, "queued until dev-b comes back");
    assert_contains(f->run.err, "command c7 is still queued");
    assert_contains(f->run.err, "`vmctl command show c7`");
    /* It polled, but not in a busy loop. */
    assert_true(fake_http_nreqs(f->fake) >= 2);
    assert_true(fake_http_nreqs(f->fake) <= 6);
}

static void
test_vmctl_snapshot_prints_sha_and_restore_resolves_prefix(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "POST", "/api/v1/devices/dev-a/vms/sensor/snapshot", 202,
          "{\"id\":\"c3\",\"device\":\"dev-a\",\"kind\":\"snapshot\","
          "\"vm\":\"sensor\",\"state\":\"succeeded\",\"final\":true,"
          "\"code\":\"OK\",\"snapshot\":\"" SHA_C "\"}", 0 },
        { "GET", "/api/v1/snapshots", 200,
          "{\"snapshots\":[{\"sha256\":\"" SHA_A "\",\"device\":\"dev-a\","
          "\"vm\":\"sensor\",\"size\":2048,\"created_ms\":1},"
          "{\"sha256\":\"" SHA_B "\",\"device\":\"dev-a\",\"vm\":\"sensor\","
          "\"size\":4096,\"created_ms\":1},"
          "{\"sha256\":\"" SHA_C "\",\"device\":\"dev-a\",\"vm\":\"sensor\","
          "\"size\":4096,\"created_ms\":1}]}", 0 },
        { "GET", "/api/v1/snapshots/" SHA_C "/content", 200,
          "SNAPSHOT-BYTES", 0 },
        { "POST", "/api/v1/devices/dev-b/vms/sensor/restore", 202,
          "{\"id\":\"c4\",\"device\":\"dev-b\",\"kind\":\"restore\","
          "\"vm\":\"sensor\",\"state\":\"succeeded\",\"final\":true,"
          "\"code\":\"OK\"}", 0 },
    };
    char body[160], file[128], got[64], part[160];

    serve(f, routes, 4);
    assert_int_equal(VMCTL(f, "snapshot", "dev-a", "sensor", "--server",
                           f->url), 0);
    assert_string_equal(f->run.out, SHA_C "\n");
    /* A unique prefix becomes the full SHA-256; migration to dev-b. */
    assert_int_equal(VMCTL(f, "restore", "dev-b", "sensor", "aaaaaaaa1",
                           "--server", f->url), 0);
    assert_contains(f->run.out, "dev-b sensor: restore succeeded");
    snprintf(body, sizeof(body), "{\"snapshot\":\"%s\"}", SHA_A);
    assert_string_equal(req(f, 2)->body, body);
    assert_int_equal(VMCTL(f, "restore", "dev-b", "sensor", "AAAAAAAA",
                           "--server", f->url), 1);
    assert_contains(f->run.err, "ambiguous: 2 match");
    assert_int_equal(VMCTL(f, "restore", "dev-b", "sensor", "dddddddd",
                           "--server", f->url), 1);
    assert_contains(f->run.err, "no snapshot starts with dddddddd");
    /* No restore was sent for either. */
    assert_int_equal(fake_http_nreqs(f->fake), 5);
    assert_int_equal(VMCTL(f, "snapshots", "--server", f->url), 0);
    assert_contains(f->run.out, "aaaaaaaa11111111  dev-a");
    assert_contains(f->run.out, "2.0 KiB");

    /* Download by prefix; a failed one leaves no file behind. */
    snprintf(file, sizeof(file), "%s/snap.bin", f->dir);
    assert_int_equal(VMCTL(f, "snapshot", "get", "cccccccc", "-o", file,
                           "--server", f->url), 0);
    slurp(file, got, sizeof(got));
    assert_string_equal(got, "SNAPSHOT-BYTES");
    assert_contains(f->run.out, "14 B");
    snprintf(file, sizeof(file), "%s/none.bin", f->dir);
    assert_int_equal(VMCTL(f, "snapshot", "get", SHA_A, "-o", file,
                           "--server", f->url), 1);
    assert_contains(f->run.err, "E_NOT_FOUND");
    assert_int_equal(access(file, F_OK), -1);
    snprintf(part, sizeof(part), "%s.part", file);
    assert_int_equal(access(part, F_OK), -1);
}

/* ---- update and rollouts ---------------------------------------------- */

static void
test_vmctl_update_uploads_creates_and_follows(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "POST", "/api/v1/packages", 201,
          "{\"sha256\":\"" SHA_P "\",\"vm\":\"sensor\",\"version\":"
          "\"2.0.0\",\"size\":176}", 0 },
        { "POST", "/api/v1/rollouts", 201,
          "{\"id\":\"r1\",\"vm\":\"sensor\",\"version\":\"2.0.0\",\"target\":"
          "\"label site=berlin\",\"state\":\"running\",\"counts\":{\"total\""
          ":4,\"waiting\":3,\"in_flight\":1,\"succeeded\":0,\"failed\":0}}",
          0 },
        { "GET", "/api/v1/rollouts/r1", 200,
          "{\"id\":\"r1\",\"state\":\"running\",\"counts\":{\"total\":4,"
          "\"waiting\":1,\"in_flight\":1,\"succeeded\":1,\"failed\":1}}", 1 },
        { "GET", "/api/v1/rollouts/r1", 200,
          "{\"id\":\"r1\",\"vm\":\"sensor\",\"state\":\"succeeded\","
          "\"counts\":{\"total\":4,\"waiting\":0,\"in_flight\":0,"
          "\"succeeded\":3,\"failed\":1}}", 0 },
    };
    char pkg[160];
    const char *b;

    make_package(f, "sensor", pkg, sizeof(pkg));
    serve(f, routes, 4);
    assert_int_equal(VMCTL(f, "update", "--label", "site=berlin", "sensor",
                           pkg, "--canary", "1", "--batch", "25%",
                           "--max-failures", "2", "--health-window", "500",
                           "--wait", "--server", f->url),
                     3);
    assert_string_equal(req(f, 0)->method, "POST");
    assert_string_equal(req(f, 0)->target, "/api/v1/packages");
    assert_string_equal(req(f, 0)->ctype, "application/octet-stream");
    {
        struct stat st;

        assert_int_equal(stat(pkg, &st), 0);
        assert_int_equal(req(f, 0)->body_len, (size_t)st.st_size);
    }
    b = req(f, 1)->body;
    assert_string_equal(req(f, 1)->target, "/api/v1/rollouts");
    assert_contains(b, "\"vm\":\"sensor\"");
    assert_contains(b, "\"target\":{\"labels\":{\"site\":\"berlin\"}}");
    assert_contains(b, "\"canary\":1");
    assert_contains(b, "\"batch\":\"25%\"");
    assert_contains(b, "\"max_failures\":2");
    assert_contains(b, "\"health_window_ms\":500");
    assert_contains(b, "\"package\":\"" SHA_P "\"");
    /* Not a terminal: plain progress lines, then the outcome. */
    assert_contains(f->run.err, "rollout r1: 1/4 succeeded, 1 failed");
    assert_contains(f->run.err, "rollout r1: 3/4 succeeded, 1 failed");
    assert_contains(f->run.err, "rollout r1 succeeded: 3 succeeded, 1 failed "
                                "of 4");
    assert_int_equal(fake_http_nreqs(f->fake), 4);
}

static void
test_vmctl_update_exit_status_by_outcome(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "POST", "/api/v1/packages", 200,
          "{\"sha256\":\"" SHA_P "\",\"vm\":\"sensor\",\"version\":"
          "\"2.0.0\"}", 0 },
        { "POST", "/api/v1/rollouts", 201,
          "{\"id\":\"r2\",\"state\":\"running\",\"counts\":{\"total\":2}}",
          0 },
        /* r2: all devices succeed. */
        { "GET", "/api/v1/rollouts/r2", 200,
          "{\"id\":\"r2\",\"state\":\"succeeded\",\"vm\":\"sensor\","
          "\"version\":\"2.0.0\",\"counts\":{\"total\":2,\"succeeded\":2,"
          "\"failed\":0}}", 1 },
        /* Then the canary fails: paused at the threshold. */
        { "GET", "/api/v1/rollouts/r2", 200,
          "{\"id\":\"r2\",\"state\":\"paused\",\"pause_reason\":\"failure "
          "threshold\",\"counts\":{\"total\":2,\"succeeded\":0,"
          "\"failed\":1}}", 0 },
    };
    char pkg[160], other[160];

    make_package(f, "sensor", pkg, sizeof(pkg));
    serve(f, routes, 4);
    assert_int_equal(VMCTL(f, "update", "dev-a,dev-b", "sensor", pkg,
                           "--wait", "--server", f->url), 0);
    assert_contains(f->run.out, "rollout r2 succeeded: 2 of 2 devices run "
                                "sensor 2.0.0");
    assert_contains(req(f, 1)->body,
                    "\"target\":{\"devices\":[\"dev-a\",\"dev-b\"]}");
    assert_int_equal(VMCTL(f, "update", "--all", "sensor", pkg, "--wait",
                           "--server", f->url), 1);
    assert_contains(f->run.err, "paused at its failure threshold: 0 "
                                "succeeded, 1 failed of 2");
    assert_contains(req(f, 4)->body, "\"target\":{\"all\":true}");
    /* Without --wait: the id, exit 0. */
    assert_int_equal(VMCTL(f, "update", "dev-a", "sensor", pkg, "--server",
                           f->url), 0);
    assert_contains(f->run.out, "rollout r2 created");
    /* A package for another VM: refused before any upload. */
    make_package(f, "counter", other, sizeof(other));
    assert_int_equal(VMCTL(f, "update", "dev-a", "sensor", other,
                           "--server", f->url), 1);
    assert_contains(f->run.err, "a package for VM 'counter', not 'sensor'");
    assert_int_equal(fake_http_nreqs(f->fake), 8);
}

/* ---- device pages, VM figures and logs ----------------------------------- */

static void
test_vmctl_devices_pages_through_the_total(void **state)
{
    fixture_t *f = *state;
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/devices?limit=1000", 200,
          "{\"devices\":[{\"id\":\"d-1\",\"online\":true},"
          "{\"id\":\"d-2\",\"online\":true}],\"total\":3}", 0 },
        { "GET", "/api/v1/devices?limit=1000&offset=2", 200,
          "{\"devices\":[{\"id\":\"d-3\",\"online\":false}],\"total\":3}",
          0 },
    };

    serve(f, routes, 2);
    assert_int_equal(VMCTL(f, "devices", "--server", f->url), 0);
    assert_int_equal(fake_http_nreqs(f->fake), 2);
    assert_string_equal(req(f, 1)->target,
                        "/api/v1/devices?limit=1000&offset=2");
    assert_contains(f->run.out, "\nd-1 ");
    assert_contains(f->run.out, "\nd-2 ");
    assert_contains(f->run.out, "\nd-3 ");
}

static void
test_vmctl_vm_logs_and_figures(void **state)
{
    fixture_t *f = *state;
    static const char logs[] =
        "{\"device\":\"dev-a\",\"vm\":\"sensor\",\"text\":\"boot ok\\n"
        "tick\\tx=1\\n\\u001b[2Jno escape\",\"truncated\":true}";
    static const fake_route_t routes[] = {
        { "GET", "/api/v1/devices/dev-a/vms/sensor/logs*", 200, logs, 0 },
        { "GET", "/api/v1/devices/dev-b/vms/sensor/logs", 409,
          "{\"error\":{\"code\":\"E_CONFLICT\",\"message\":\"device dev-b "
          "is offline\"}}", 0 },
        { "GET", "/api/v1/devices/dev-a/vms", 200,
          "{\"vms\":[{\"name\":\"sensor\",\"version\":\"1.0.0\","
          "\"state\":\"running\",\"priority\":1,\"memory_bytes\":65536,"
          "\"storage_quota\":0,\"cpu_ms\":372300,\"uptime_ms\":3723000,"
          "\"restarts\":0,\"last_error\":\"\"},"
          "{\"name\":\"idle\",\"version\":\"0.1.0\",\"state\":\"stopped\","
          "\"memory_bytes\":0,\"storage_quota\":0,\"cpu_ms\":0,"
          "\"uptime_ms\":0,\"restarts\":0,\"last_error\":\"\"}]}", 0 },
    };
    const char *line;
    size_t col;

    serve(f, routes, 3);
    /* The text as it came, with a final newline, and no escapes. */
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-a", "sensor", "--server",
                           f->url),
                     0);
    assert_string_equal(f->run.out, "boot ok\ntick\tx=1\n?[2Jno escape\n");
    assert_string_equal(req(f, 0)->target,
                        "/api/v1/devices/dev-a/vms/sensor/logs");
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-a", "sensor", "--bytes",
                           "100", "--server", f->url),
                     0);
    assert_string_equal(req(f, 1)->target,
                        "/api/v1/devices/dev-a/vms/sensor/logs?bytes=100");
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-a", "sensor", "--json",
                           "--server", f->url),
                     0);
    assert_contains(f->run.out, "\"truncated\":true");
    /* Bad --bytes: a usage error, no request. */
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-a", "sensor", "--bytes",
                           "0", "--server", f->url),
                     2);
    assert_contains(f->run.err, "--bytes '0'");
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-a", "sensor", "--bytes",
                           "65537", "--server", f->url),
                     2);
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-a", "--server", f->url), 2);
    assert_int_equal(fake_http_nreqs(f->fake), 3);
    assert_int_equal(VMCTL(f, "vm", "logs", "dev-b", "sensor", "--server",
                           f->url),
                     1);
    assert_contains(f->run.err, "device dev-b is offline (E_CONFLICT)");

    /* UPTIME and CPU% (CPU time over uptime) in vm ls. */
    assert_int_equal(VMCTL(f, "vm", "ls", "dev-a", "--server", f->url), 0);
    assert_contains(f->run.out, "UPTIME");
    col = (size_t)(strstr(f->run.out, "UPTIME") - f->run.out);
    line = strstr(f->run.out, "\nsensor ");
    assert_non_null(line);
    assert_true(strncmp(line + 1 + col, "1h02m   10.0%  0 ", 17) == 0);
    line = strstr(f->run.out, "\nidle ");
    assert_non_null(line);
    assert_true(strncmp(line + 1 + col, "-       -      0 ", 17) == 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vmctl_parse_count_numbers_and_percent),
        cmocka_unit_test(test_vmctl_ago_is_relative),
        cmocka_unit_test_setup_teardown(test_vmctl_conf_read_keys_and_errors,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmctl_usage_errors_exit_2,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmctl_help_for_every_command,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_config_precedence_flag_env_file, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_config_errors_name_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmctl_devices_table_and_filters,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_show_commands_print_key_values, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_connection_refused_says_what_to_do, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmctl_api_errors_map_to_hints,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_vm_start_waits_for_the_result, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_queued_command_for_offline_device, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_snapshot_prints_sha_and_restore_resolves_prefix,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_update_uploads_creates_and_follows, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_update_exit_status_by_outcome, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_vmctl_devices_pages_through_the_total, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmctl_vm_logs_and_figures,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
