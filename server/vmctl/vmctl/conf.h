/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMCTL_CONF_H
#define VMCTL_CONF_H

/*
 * vmctl's global options and where the server, token and CA come from
 * (conf.c): a flag, else the environment (VMCTL_SERVER, VMCTL_TOKEN,
 * VMCTL_CACERT), else the config file ($XDG_CONFIG_HOME/vmctl/config,
 * else ~/.config/vmctl/config), else the default.  Single-threaded.
 */

#include <stdbool.h>
#include <stddef.h>

#define VMCTL_DEFAULT_SERVER "http://127.0.0.1:8080"
#define VMCTL_DEFAULT_TIMEOUT_S 120u
#define VMCTL_TIMEOUT_MAX_S 86400u
#define VMCTL_CONF_STR_MAX 1024   /* server URL, token */
#define VMCTL_CONF_PATH_MAX 4096  /* cacert, the config file's path */

/** The global options, valid before or after the command. */
typedef struct vmctl_globals {
    const char *server;    /* --server URL, or NULL (borrowed from argv) */
    const char *token;     /* --token TOKEN, or NULL */
    const char *cacert;    /* --cacert FILE, or NULL */
    bool json;             /* --json */
    bool insecure;         /* --insecure */
    unsigned timeout_s;    /* --timeout S, else VMCTL_DEFAULT_TIMEOUT_S */
    bool timeout_set;      /* --timeout was given */
} vmctl_globals_t;

/** The resolved settings of a remote command. */
typedef struct vmctl_conf {
    char server[VMCTL_CONF_STR_MAX];
    char token[VMCTL_CONF_STR_MAX];
    char cacert[VMCTL_CONF_PATH_MAX];
    const char *server_from;  /* "--server", "VMCTL_SERVER", "config",
                                 "default" */
    const char *token_from;   /* "--token", "VMCTL_TOKEN", "config", "" */
    char file[VMCTL_CONF_PATH_MAX]; /* the config file, "" if none */
} vmctl_conf_t;

/**
 * Take the global options out of argv[1..] (in place; *argc shrinks).
 * Arguments after "--" are left alone.
 * @param g filled; its strings are borrowed from argv.
 * @return 0, or -1 with err set (a usage error: missing or bad value).
 */
int vmctl_globals_parse(int *argc, char **argv, vmctl_globals_t *g,
                        char *err, size_t errlen);

/**
 * The config file's path from $XDG_CONFIG_HOME or $HOME.
 * @return 0, or -1 if neither is set (or the path is too long).
 */
int vmctl_conf_path(char *out, size_t len);

/**
 * Read a config file of `key = value` lines (server, token, cacert;
 * '#' starts a comment line) into c, leaving keys it lacks untouched.
 * @return 0, or -1 with err = "FILE:LINE: reason" (or "FILE: reason").
 */
int vmctl_conf_read(const char *path, vmctl_conf_t *c, char *err,
                    size_t errlen);

/**
 * Resolve the settings: defaults, then the config file (if it exists),
 * then the environment, then the flags in g; then check them (a URL of
 * http or https, a token without spaces or control characters).
 * @return 0, or -1 with err set.
 */
int vmctl_conf_load(const vmctl_globals_t *g, vmctl_conf_t *c, char *err,
                    size_t errlen);

#endif /* VMCTL_CONF_H */
