/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_vmctld_config: vmctld's config file (server/vmctl/vmctld/src/
 * config.c) as `vmctld -c FILE` and SIGHUP read it: the input is written
 * to one file (same path every run) in a temporary directory that also
 * holds what the example config (deploy/vmctld/vmctld.json) points at:
 * admin.token, viewer.token, keys/fleet.pub, data/ and web/.  Every
 * VMCTLD_* variable is unset first, so only the file speaks.
 *
 * vmctld_config_load() must return 0 or -1.  On -1 the message starts
 * with the file's name ("FILE:LINE: key: reason") and the struct holds
 * nothing to free.  On 0 the struct must keep every rule of config.c
 * (ranges, at least one token and key, unique token names and secrets,
 * NUL-terminated strings), and loading the same file again and applying
 * it as a SIGHUP would (vmctld_config_reload()) must report no pending
 * change.
 * With VMF_FUZZ_CONFIG_SEEDS=DIR, LLVMFuzzerInitialize writes a few
 * configs into DIR (tests/fuzz/run.sh also copies the example there).
 */

#define _GNU_SOURCE /* mkdtemp, environ */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "pl/fs.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

extern char **environ;

static char dir[512];   /* the temporary directory */
static char path[600];  /* the config file in it */

static void die(const char *what, const char *detail)
    __attribute__((noreturn));

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_vmctld_config: %s%s%s\n", what,
            detail != NULL ? ": " : "", detail != NULL ? detail : "");
    abort();
}

/* ---- the directory --------------------------------------------------- */

static void
put_file(const char *name, const char *text)
{
    char p[700];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if ((f = fopen(p, "w")) == NULL ||
        fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0)
        die("cannot write", p);
}

static void
make_dir(const char *name)
{
    char p[700];

    snprintf(p, sizeof(p), "%s/%s", dir, name);
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        die("cannot make", p);
}

static void
cleanup(void)
{
    if (dir[0] != '\0')
        pl_fs_remove_tree(dir);
}

/* Unset every VMCTLD_* variable: the environment wins over the file. */
static void
clear_env(void)
{
    char name[256];
    size_t n;
    int again = 1;

    while (again) {
        char **e;

        again = 0;
        for (e = environ; e != NULL && *e != NULL; e++) {
            if (strncmp(*e, "VMCTLD_", 7) != 0)
                continue;
            n = strcspn(*e, "=");
            if (n >= sizeof(name))
                continue;
            memcpy(name, *e, n);
            name[n] = '\0';
            unsetenv(name);
            again = 1; /* environ changed under us: start over */
            break;
        }
    }
}

/* ---- seeds ----------------------------------------------------------- */

static const char seed_full[] =
    "{\n"
    "  \"mqtt\": {\"uri\": \"ssl://broker.example:8883\", \"client_id\": "
    "\"vmctld-2\",\n"
    "           \"username\": \"vmctld\", \"password\": \"s3cret\",\n"
    "           \"ca_file\": \"keys/fleet.pub\", \"cert_file\": "
    "\"keys/fleet.pub\",\n"
    "           \"key_file\": \"keys/fleet.pub\"},\n"
    "  \"http\": {\"listen\": \"[::1]:8443\", \"cert_file\": "
    "\"keys/fleet.pub\",\n"
    "           \"key_file\": \"keys/fleet.pub\", \"max_body\": 1024,\n"
    "           \"max_upload\": 1073741824, \"max_clients\": 65536,\n"
    "           \"web_root\": \"web\"},\n"
    "  \"tokens\": [\n"
    "    {\"name\": \"admin\", \"role\": \"operator\", \"token\": "
    "\"0123456789abcdef0123\"},\n"
    "    {\"name\": \"ci\", \"role\": \"operator\", \"token_file\": "
    "\"admin.token\"},\n"
    "    {\"name\": \"dash\", \"role\": \"viewer\", \"token_file\": "
    "\"viewer.token\"}\n"
    "  ],\n"
    "  \"storage\": {\"data_dir\": \"data/\", \"db_path\": \"data/x.db\", "
    "\"store_dir\": \"data/s\"},\n"
    "  \"trust\": {\"keys\": [\"keys/fleet.pub\", \"keys/fleet.pub\"]},\n"
    "  \"commands\": {\"expiry_s\": 31622400, \"timeout_s\": 1},\n"
    "  \"rollouts\": {\"health_window_ms\": 3600000, "
    "\"device_timeout_s\": 604800,\n"
    "               \"chunk_size\": 262144},\n"
    "  \"log\": {\"level\": \"debug\"}\n"
    "}\n";

static const char seed_min[] =
    "{\"tokens\": [{\"name\": \"a\", \"role\": \"viewer\", "
    "\"token_file\": \"viewer.token\"}],\n"
    " \"trust\": {\"keys\": [\"keys/fleet.pub\"]},\n"
    " \"storage\": {\"data_dir\": \"data\"}}\n";

/* Errors of each kind, so that the fuzzer starts at every message. */
static const char *const seed_bad[] = {
    "{\"http\": {\"listen\": \"127.0.0.1\"}}",
    "{\"http\": {\"max_body\": 1e99}, \"http\": {}}",
    "{\"mqtt\": {\"uri\": \"tcp://h:1\", \"urj\": 1}}",
    ("{\"tokens\": [{\"name\": \"a b\", \"role\": \"viewer\", "
     "\"token\": \"short\"}]}"),
    "\xef\xbb\xbf{\"log\": {\"level\": \"verbose\"}}",
    "{\"trust\": {\"keys\": [\"\", 3]}}",
    "{\"storage\": {\"data_dir\": \"admin.token\"}}\n",
    "{\"mqtt\": {\"ca_file\": \"keys/fleet.pub\"}}",
    "[1, 2",
};

static void
write_seed(const char *sdir, const char *name, const char *text)
{
    char p[4096];
    FILE *f;

    snprintf(p, sizeof(p), "%s/%s", sdir, name);
    if ((f = fopen(p, "w")) != NULL) {
        fwrite(text, 1, strlen(text), f);
        fclose(f);
    }
}

static void
write_seeds(const char *sdir)
{
    char name[32];
    size_t i;

    write_seed(sdir, "full.json", seed_full);
    write_seed(sdir, "min.json", seed_min);
    for (i = 0; i < sizeof(seed_bad) / sizeof(seed_bad[0]); i++) {
        snprintf(name, sizeof(name), "bad-%zu.json", i);
        write_seed(sdir, name, seed_bad[i]);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *sdir = getenv("VMF_FUZZ_CONFIG_SEEDS");
    const char *tmp = getenv("TMPDIR");

    (void)argc;
    (void)argv;
    clear_env();
    if (access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm";
    else if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(dir, sizeof(dir), "%s/vmf-fuzz-config-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", strerror(errno));
    atexit(cleanup);
    make_dir("keys");
    make_dir("data");
    make_dir("web");
    put_file("admin.token", "fuzz-admin-token-0123456789abcdef\n");
    put_file("viewer.token", "fuzz-viewer-token-0123456789abcdef \r\n#\n");
    /* config.c checks that a key is a readable file; ctld parses it. */
    put_file("keys/fleet.pub", "-----BEGIN PUBLIC KEY-----\n");
    snprintf(path, sizeof(path), "%s/vmctld.json", dir);
    if (sdir != NULL && *sdir != '\0')
        write_seeds(sdir);
    return 0;
}

/* ---- checks ---------------------------------------------------------- */

static void
check_str(const char *s, size_t cap, const char *field)
{
    if (memchr(s, '\0', cap) == NULL)
        die("string not terminated", field);
}

/* What a loaded config promises (config.h and the key table). */
static void
check_loaded(const vmctld_config_t *c)
{
    static const char *const levels[] = { "error", "warn", "info", "debug" };
    size_t i, j;

#define STR(f) check_str(c->f, sizeof(c->f), #f)
    STR(file);
    STR(mqtt_uri);
    STR(mqtt_client_id);
    STR(mqtt_username);
    STR(mqtt_password);
    STR(mqtt_ca_file);
    STR(mqtt_cert_file);
    STR(mqtt_key_file);
    STR(http_listen);
    STR(http_cert_file);
    STR(http_key_file);
    STR(web_root);
    STR(data_dir);
    STR(db_path);
    STR(store_dir);
    STR(log_level);
#undef STR
    if (strcmp(c->file, path) != 0)
        die("file is not the path loaded", c->file);
    if (c->mqtt_uri[0] == '\0' || c->mqtt_client_id[0] == '\0' ||
        c->http_listen[0] == '\0' || c->data_dir[0] == '\0' ||
        c->db_path[0] == '\0' || c->store_dir[0] == '\0')
        die("a required string is empty", NULL);
    if (c->http_max_body < 1024 || c->http_max_body > (1ull << 30) ||
        c->http_max_upload < 1024 || c->http_max_upload > (1ull << 30) ||
        c->http_max_clients < 1 || c->http_max_clients > 65536 ||
        c->cmd_expiry_s < 1 || c->cmd_expiry_s > 366u * 86400 ||
        c->cmd_timeout_s < 1 || c->cmd_timeout_s > 7u * 86400 ||
        c->rollout_health_window_ms > 3600000 ||
        c->rollout_device_timeout_s < 1 ||
        c->rollout_device_timeout_s > 7u * 86400 ||
        c->chunk_size < 1024 || c->chunk_size > 256u * 1024)
        die("an integer key is out of its range", NULL);
    for (i = 0; i < 4; i++)
        if (strcmp(c->log_level, levels[i]) == 0)
            break;
    if (i == 4)
        die("log.level is not a level", c->log_level);
    if ((c->http_cert_file[0] != '\0') != (c->http_key_file[0] != '\0'))
        die("HTTPS with only one of cert and key", NULL);
    if (c->ntokens < 1 || c->ntokens > 64 || c->tokens == NULL)
        die("token count out of range", NULL);
    if (c->ntrusted_keys < 1 || c->ntrusted_keys > 32 ||
        c->trusted_keys == NULL)
        die("trusted key count out of range", NULL);
    for (i = 0; i < c->ntrusted_keys; i++) {
        check_str(c->trusted_keys[i], sizeof(c->trusted_keys[i]),
                  "trusted_keys");
        if (c->trusted_keys[i][0] == '\0')
            die("empty trusted key path", NULL);
    }
    for (i = 0; i < c->ntokens; i++) {
        const vmctld_token_t *t = &c->tokens[i];

        check_str(t->name, sizeof(t->name), "token name");
        check_str(t->token, sizeof(t->token), "token");
        if (t->name[0] == '\0' || strlen(t->token) < 16 ||
            (t->role != VMCTLD_ROLE_VIEWER && t->role != VMCTLD_ROLE_OPERATOR))
            die("a token breaks the rules", t->name);
        for (j = 0; j < strlen(t->token); j++)
            if ((unsigned char)t->token[j] <= 0x20 ||
                (unsigned char)t->token[j] >= 0x7f)
                die("token with a space or control character", t->name);
        for (j = 0; j < i; j++)
            if (strcmp(t->name, c->tokens[j].name) == 0 ||
                strcmp(t->token, c->tokens[j].token) == 0)
                die("two tokens share a name or a secret", t->name);
    }
}

/* ---- one input ------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmctld_config_t cfg, again;
    char err[1024], pending[1024];
    size_t w = 0;
    ssize_t n;
    int fd, rc;

    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
        0)
        die("cannot write the config", strerror(errno));
    while (w < size) {
        if ((n = write(fd, data + w, size - w)) <= 0)
            die("cannot write the config", strerror(errno));
        w += (size_t)n;
    }
    close(fd);

    memset(err, 0x5a, sizeof(err));
    rc = vmctld_config_load(path, &cfg, err, sizeof(err));
    if (rc != 0 && rc != -1)
        die("load: neither 0 nor -1", NULL);
    if (memchr(err, '\0', sizeof(err)) == NULL)
        die("err not terminated", NULL);
    if (rc != 0) {
        if (strncmp(err, path, strlen(path)) != 0 ||
            (err[strlen(path)] != ':') || strlen(err) < strlen(path) + 3)
            die("error does not start with FILE: and a reason", err);
        if (cfg.tokens != NULL || cfg.ntokens != 0 ||
            cfg.trusted_keys != NULL || cfg.ntrusted_keys != 0)
            die("a failed load left something to free", err);
        return 0;
    }
    if (err[0] != '\0')
        die("a load that succeeded left an error", err);
    check_loaded(&cfg);

    /* SIGHUP with the same file: it loads again, and nothing is pending. */
    if (vmctld_config_load(path, &again, err, sizeof(err)) != 0)
        die("the same file does not load twice", err);
    pending[0] = '\0';
    if (vmctld_config_reload(&cfg, &again, pending, sizeof(pending)) != 0 ||
        pending[0] != '\0')
        die("reload of the same file reports a change", pending);
    check_loaded(&cfg);
    vmctld_config_free(&cfg);
    return 0;
}
