/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_vmctl_conf: the operator CLI's settings (server/vmctl/vmctl/
 * conf.c).  Each input is used twice:
 *   - as the config file ($XDG_CONFIG_HOME/vmctl/config in a temporary
 *     directory, same path every run): vmctl_conf_read() must return 0
 *     or -1 with "FILE:LINE: reason", fill only terminated strings, and
 *     vmctl_conf_load() must agree with it (fail with the same message
 *     when the file does not read; else succeed exactly when the server
 *     is an http(s) URL and the token has no space or control character);
 *   - split at newlines into the arguments of `vmctl ARGS...`:
 *     vmctl_globals_parse() must keep the other arguments in order, end
 *     argv with NULL, give a timeout in range, and vmctl_conf_load() with
 *     those flags must hold the same rules.
 * VMCTL_SERVER, VMCTL_TOKEN and VMCTL_CACERT are unset first.
 * With VMF_FUZZ_VMCTL_SEEDS=DIR, LLVMFuzzerInitialize writes a few
 * config files and argument lists into DIR (tests/fuzz/run.sh does this).
 */

#define _GNU_SOURCE /* mkdtemp */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "pl/fs.h"

#define ARGS_MAX 32

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[512];  /* the temporary $XDG_CONFIG_HOME */
static char path[600]; /* its vmctl/config */

static void die(const char *what, const char *detail)
    __attribute__((noreturn));

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_vmctl_conf: %s%s%s\n", what,
            detail != NULL ? ": " : "", detail != NULL ? detail : "");
    abort();
}

static void
cleanup(void)
{
    if (dir[0] != '\0')
        pl_fs_remove_tree(dir);
}

/* ---- seeds ----------------------------------------------------------- */

static const char *const seeds[] = {
    "# vmctl config\n"
    "server = https://vmctld.example:8443\n"
    "token = \"op-0123456789abcdef\"\n"
    "cacert = /etc/vmfleet/ca.pem\n",
    "server=http://127.0.0.1:8080\r\ntoken=abc\r\n",
    "  server =   \"http://[::1]:8080\"  \n\n\t# comment\n",
    "server = ftp://x\n",
    "token = a b\n",
    "server = http://a\nserver = http://b\n",
    "colour = blue\n",
    "server\n",
    "--server=http://127.0.0.1:9\n--json\nvm\nlist\n--timeout\n30\n",
    "--token\nop-0123456789abcdef\n--insecure\n--\n--cacert\nx\n",
    "--timeout=0\n",
    "devices\n--server\n",
};

static void
write_seeds(const char *sdir)
{
    char p[4096];
    size_t i;
    FILE *f;

    for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        snprintf(p, sizeof(p), "%s/seed-%zu", sdir, i);
        if ((f = fopen(p, "w")) != NULL) {
            fwrite(seeds[i], 1, strlen(seeds[i]), f);
            fclose(f);
        }
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *sdir = getenv("VMF_FUZZ_VMCTL_SEEDS");
    const char *tmp = getenv("TMPDIR");
    char sub[600];

    (void)argc;
    (void)argv;
    unsetenv("VMCTL_SERVER");
    unsetenv("VMCTL_TOKEN");
    unsetenv("VMCTL_CACERT");
    if (access("/dev/shm", W_OK) == 0)
        tmp = "/dev/shm";
    else if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    snprintf(dir, sizeof(dir), "%s/vmf-fuzz-vmctl-XXXXXX", tmp);
    if (mkdtemp(dir) == NULL)
        die("mkdtemp", strerror(errno));
    atexit(cleanup);
    snprintf(sub, sizeof(sub), "%s/vmctl", dir);
    if (mkdir(sub, 0700) != 0)
        die("mkdir", strerror(errno));
    snprintf(path, sizeof(path), "%s/vmctl/config", dir);
    if (setenv("XDG_CONFIG_HOME", dir, 1) != 0)
        die("setenv", strerror(errno));
    if (sdir != NULL && *sdir != '\0')
        write_seeds(sdir);
    return 0;
}

/* ---- checks ---------------------------------------------------------- */

static bool
printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

static void
check_terminated(const vmctl_conf_t *c)
{
    if (memchr(c->server, '\0', sizeof(c->server)) == NULL ||
        memchr(c->token, '\0', sizeof(c->token)) == NULL ||
        memchr(c->cacert, '\0', sizeof(c->cacert)) == NULL ||
        memchr(c->file, '\0', sizeof(c->file)) == NULL)
        die("a setting is not terminated", NULL);
}

/* A resolved config that loaded: what conf.h promises. */
static void
check_loaded(const vmctl_conf_t *c)
{
    check_terminated(c);
    if ((strncmp(c->server, "http://", 7) != 0 &&
         strncmp(c->server, "https://", 8) != 0) ||
        !printable(c->server) || !printable(c->token))
        die("load accepted a bad server or token", c->server);
    if (c->server_from == NULL || c->token_from == NULL)
        die("load left a source NULL", NULL);
    if (strcmp(c->file, path) != 0)
        die("load did not read the config file", c->file);
}

/* ---- one input ------------------------------------------------------- */

/* The input as the config file. */
static void
as_file(const uint8_t *data, size_t size)
{
    vmctl_globals_t g;
    vmctl_conf_t c, l;
    char err[2048], lerr[2048];
    size_t w = 0;
    ssize_t n;
    int fd, rc, lrc;

    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) <
        0)
        die("cannot write the config", strerror(errno));
    while (w < size) {
        if ((n = write(fd, data + w, size - w)) <= 0)
            die("cannot write the config", strerror(errno));
        w += (size_t)n;
    }
    close(fd);

    memset(&c, 0, sizeof(c));
    err[0] = '\0';
    rc = vmctl_conf_read(path, &c, err, sizeof(err));
    check_terminated(&c);
    if (rc != 0 && rc != -1)
        die("read: neither 0 nor -1", NULL);
    if (rc != 0 && (strncmp(err, path, strlen(path)) != 0 ||
                    err[strlen(path)] != ':'))
        die("read error does not start with FILE:", err);
    if (rc == 0 && ((c.server_from != NULL &&
                     strcmp(c.server_from, "config") != 0) ||
                    (c.token_from != NULL &&
                     strcmp(c.token_from, "config") != 0)))
        die("read set a source other than config", NULL);

    memset(&g, 0, sizeof(g));
    g.timeout_s = VMCTL_DEFAULT_TIMEOUT_S;
    lerr[0] = '\0';
    lrc = vmctl_conf_load(&g, &l, lerr, sizeof(lerr));
    if (rc != 0) {
        if (lrc == 0 || strcmp(err, lerr) != 0)
            die("load does not fail like read", lerr);
        return;
    }
    /* The file read: load fails only on the server or token check. */
    if (lrc == 0) {
        check_loaded(&l);
        if (c.server[0] != '\0' && strcmp(l.server, c.server) != 0)
            die("load did not take the file's server", l.server);
        if (strcmp(l.token, c.token) != 0 || strcmp(l.cacert, c.cacert) != 0)
            die("load did not take the file's token or cacert", NULL);
    } else if (strstr(lerr, "server") == NULL &&
               strstr(lerr, "token") == NULL) {
        die("load failed on a file that reads", lerr);
    }
}

/* The input as command line arguments, one per line. */
static void
as_args(const uint8_t *data, size_t size)
{
    char *buf, *p, *nl, *argv[ARGS_MAX + 2], *orig[ARGS_MAX + 2];
    vmctl_globals_t g;
    vmctl_conf_t l;
    char err[2048];
    int argc = 1, oargc, i, j, rc;

    if ((buf = malloc(size + 1)) == NULL)
        return;
    memcpy(buf, data, size);
    buf[size] = '\0';
    argv[0] = "vmctl";
    for (p = buf; argc <= ARGS_MAX && p < buf + size; p = nl + 1) {
        if ((nl = memchr(p, '\n', (size_t)(buf + size - p))) == NULL)
            nl = buf + size;
        *nl = '\0';
        argv[argc++] = p;
    }
    argv[argc] = NULL;
    oargc = argc;
    memcpy(orig, argv, sizeof(argv));

    err[0] = '\0';
    rc = vmctl_globals_parse(&argc, argv, &g, err, sizeof(err));
    if (rc != 0) {
        if (rc != -1 || err[0] == '\0')
            die("globals: failure without a message", NULL);
        free(buf);
        return;
    }
    if (argc < 1 || argc > oargc || argv[argc] != NULL || argv[0] != orig[0])
        die("globals: argv not shrunk in place", NULL);
    /* What is left is a subsequence of the original, in order. */
    for (i = 1, j = 1; i < argc; i++, j++) {
        while (j < oargc && orig[j] != argv[i])
            j++;
        if (j == oargc)
            die("globals: an argument was reordered or invented", argv[i]);
    }
    if (g.timeout_s < 1 || g.timeout_s > VMCTL_TIMEOUT_MAX_S ||
        (!g.timeout_set && g.timeout_s != VMCTL_DEFAULT_TIMEOUT_S))
        die("globals: timeout out of range", NULL);

    /* No config file now: the flags alone. */
    (void)unlink(path);
    err[0] = '\0';
    rc = vmctl_conf_load(&g, &l, err, sizeof(err));
    if (rc == 0) {
        check_terminated(&l);
        if ((strncmp(l.server, "http://", 7) != 0 &&
             strncmp(l.server, "https://", 8) != 0) ||
            !printable(l.server) || !printable(l.token) || l.file[0] != '\0')
            die("load with flags accepted a bad server or token", l.server);
        if (g.server != NULL && strcmp(l.server, g.server) != 0)
            die("--server not taken", g.server);
        if (g.token != NULL && strcmp(l.token, g.token) != 0)
            die("--token not taken", g.token);
    } else if (rc != -1 || err[0] == '\0') {
        die("load with flags: failure without a message", NULL);
    }
    free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    as_file(data, size);
    as_args(data, size);
    return 0;
}
