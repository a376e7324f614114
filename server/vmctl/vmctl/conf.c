/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* vmctl: global options and the config file (conf.h). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "vmctl.h"

#define CONF_FILE_MAX (64u * 1024)

/*
 * take_value: the value of global option argv[*i], either "--opt=VALUE"
 * (`eq` points at '=') or the next argument, which is then consumed.
 * Return: the value, or NULL if it is missing.
 */
static const char *
take_value(int argc, char **argv, int *i, const char *eq)
{
    if (eq != NULL)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

int
vmctl_globals_parse(int *argc, char **argv, vmctl_globals_t *g, char *err,
                    size_t errlen)
{
    static const char *const with_value[] = { "--server", "--token",
                                              "--cacert", "--timeout" };
    int i, o = 1;
    bool rest = false;

    memset(g, 0, sizeof(*g));
    g->timeout_s = VMCTL_DEFAULT_TIMEOUT_S;
    for (i = 1; i < *argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '='), *v;
        size_t k, n = eq != NULL ? (size_t)(eq - a) : strlen(a);
        int which = -1;

        if (rest || strncmp(a, "--", 2) != 0) {
            argv[o++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            /* Kept: a command may use it too. */
            rest = true;
            argv[o++] = argv[i];
            continue;
        }
        if (strcmp(a, "--json") == 0) {
            g->json = true;
            continue;
        }
        if (strcmp(a, "--insecure") == 0) {
            g->insecure = true;
            continue;
        }
        for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++)
            if (strlen(with_value[k]) == n &&
                strncmp(a, with_value[k], n) == 0)
                which = (int)k;
        if (which < 0) {
            argv[o++] = argv[i];
            continue;
        }
        if ((v = take_value(*argc, argv, &i, eq)) == NULL) {
            snprintf(err, errlen, "%s: missing value", with_value[which]);
            return -1;
        }
        switch (which) {
        case 0:
            g->server = v;
            break;
        case 1:
            g->token = v;
            break;
        case 2:
            g->cacert = v;
            break;
        default: {
            char *end;
            unsigned long t;

            t = (*v >= '0' && *v <= '9') ? strtoul(v, &end, 10) : 0;
            if (*v < '0' || *v > '9' || *end != '\0' || t == 0 ||
                t > VMCTL_TIMEOUT_MAX_S) {
                snprintf(err, errlen, "--timeout: '%s' is not a number of "
                                      "seconds from 1 to %u", v,
                         VMCTL_TIMEOUT_MAX_S);
                return -1;
            }
            g->timeout_s = (unsigned)t;
            g->timeout_set = true;
            break;
        }
        }
    }
    argv[o] = NULL;
    *argc = o;
    return 0;
}

int
vmctl_conf_path(char *out, size_t len)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    int n;

    /* The XDG spec: an empty or relative $XDG_CONFIG_HOME is ignored. */
    if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, len, "%s/vmctl/config", xdg);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(out, len, "%s/.config/vmctl/config", home);
    else
        return -1;
    return n > 0 && (size_t)n < len ? 0 : -1;
}

static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int
vmctl_conf_read(const char *path, vmctl_conf_t *c, char *err, size_t errlen)
{
    static const char *const keys[] = { "server", "token", "cacert" };
    bool seen[3] = { false, false, false };
    uint8_t *buf = NULL;
    char *p, *next;
    size_t len, lineno = 0;

    if (vmctl_file_read(path, CONF_FILE_MAX, &buf, &len, err, errlen) != 0)
        return -1;
    buf[len] = '\0';    /* vmctl_file_read() leaves room for it */
    if (strlen((char *)buf) != len) {
        snprintf(err, errlen, "%s: not a text file (a NUL byte)", path);
        goto fail;
    }
    for (p = (char *)buf; p != NULL && *p != '\0'; p = next) {
        char *line, *eq, *key, *val, *dst;
        size_t k, cap, vlen;

        lineno++;
        if ((next = strchr(p, '\n')) != NULL)
            *next++ = '\0';
        line = trim(p);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if ((eq = strchr(line, '=')) == NULL) {
            snprintf(err, errlen, "%s:%zu: expected 'key = value'", path,
                     lineno);
            goto fail;
        }
        *eq = '\0';
        key = trim(line);
        val = trim(eq + 1);
        vlen = strlen(val);
        /* A value may be quoted: "value". */
        if (vlen >= 2 && val[0] == '"' && val[vlen - 1] == '"') {
            val[vlen - 1] = '\0';
            val++;
            vlen -= 2;
        }
        for (k = 0; k < 3; k++)
            if (strcmp(key, keys[k]) == 0)
                break;
        if (k == 3) {
            snprintf(err, errlen, "%s:%zu: unknown key '%.64s' (known: "
                                  "server, token, cacert)", path, lineno,
                     key);
            goto fail;
        }
        if (seen[k]) {
            snprintf(err, errlen, "%s:%zu: '%s' given twice", path, lineno,
                     key);
            goto fail;
        }
        seen[k] = true;
        dst = k == 0 ? c->server : k == 1 ? c->token : c->cacert;
        cap = k == 2 ? sizeof(c->cacert) : sizeof(c->server);
        if (vlen == 0 || vlen >= cap) {
            snprintf(err, errlen, "%s:%zu: %s: %s", path, lineno, key,
                     vlen == 0 ? "empty value" : "value too long");
            goto fail;
        }
        memcpy(dst, val, vlen + 1);
        if (k == 0)
            c->server_from = "config";
        else if (k == 1)
            c->token_from = "config";
    }
    free(buf);
    return 0;
fail:
    free(buf);
    return -1;
}

/* Copy a setting from the environment.  Return: 0, or -1 (too long). */
static int
from_env(const char *name, char *dst, size_t cap, const char **from,
         char *err, size_t errlen)
{
    const char *v = getenv(name);

    if (v == NULL || v[0] == '\0')
        return 0;
    if (strlen(v) >= cap) {
        snprintf(err, errlen, "%s: value too long", name);
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    if (from != NULL)
        *from = name;
    return 0;
}

static int
from_flag(const char *flag, const char *v, char *dst, size_t cap,
          const char **from, char *err, size_t errlen)
{
    if (v == NULL)
        return 0;
    if (v[0] == '\0' || strlen(v) >= cap) {
        snprintf(err, errlen, "%s: %s", flag,
                 v[0] == '\0' ? "empty value" : "value too long");
        return -1;
    }
    snprintf(dst, cap, "%s", v);
    if (from != NULL)
        *from = flag;
    return 0;
}

/* Printable ASCII without spaces: a token goes into a header line. */
static bool
token_ok(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

int
vmctl_conf_load(const vmctl_globals_t *g, vmctl_conf_t *c, char *err,
                size_t errlen)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->server, sizeof(c->server), "%s", VMCTL_DEFAULT_SERVER);
    c->server_from = "default";
    c->token_from = "";
    if (vmctl_conf_path(c->file, sizeof(c->file)) == 0) {
        if (!vmctl_file_exists(c->file))
            c->file[0] = '\0';
        else if (vmctl_conf_read(c->file, c, err, errlen) != 0)
            return -1;
    } else
        c->file[0] = '\0';
    if (from_env("VMCTL_SERVER", c->server, sizeof(c->server),
                 &c->server_from, err, errlen) != 0 ||
        from_env("VMCTL_TOKEN", c->token, sizeof(c->token), &c->token_from,
                 err, errlen) != 0 ||
        from_env("VMCTL_CACERT", c->cacert, sizeof(c->cacert), NULL, err,
                 errlen) != 0)
        return -1;
    if (from_flag("--server", g->server, c->server, sizeof(c->server),
                  &c->server_from, err, errlen) != 0 ||
        from_flag("--token", g->token, c->token, sizeof(c->token),
                  &c->token_from, err, errlen) != 0 ||
        from_flag("--cacert", g->cacert, c->cacert, sizeof(c->cacert), NULL,
                  err, errlen) != 0)
        return -1;
    if ((strncmp(c->server, "http://", 7) != 0 &&
         strncmp(c->server, "https://", 8) != 0) ||
        !token_ok(c->server)) {
        snprintf(err, errlen, "server '%.200s' (from %s): expected "
                              "http://HOST:PORT or https://HOST:PORT",
                 c->server, strcmp(c->server_from, "config") == 0
                                ? c->file : c->server_from);
        return -1;
    }
    if (!token_ok(c->token)) {
        snprintf(err, errlen, "token (from %s): spaces or control "
                              "characters are not allowed",
                 strcmp(c->token_from, "config") == 0 ? c->file
                                                       : c->token_from);
        return -1;
    }
    return 0;
}
