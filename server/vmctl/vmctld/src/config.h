/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * config: vmctld's configuration.  One table of keys (name, type, min,
 * max, default, environment variable), read from a JSON file, then from
 * the environment (which wins), then checked.  Every error names the key
 * ("http.listen: expected HOST:PORT").  See docs/operations.md.
 *
 * The struct is plain data: copy it, pass it around; strings are fixed
 * arrays and the two lists are owned (vmctld_config_free()).
 */
#ifndef VMCTLD_CONFIG_H
#define VMCTLD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMCTLD_CFG_PATH_MAX 1024
#define VMCTLD_CFG_STR_MAX 256
#define VMCTLD_TOKEN_MAX 128 /* a bearer token, incl. NUL */

typedef enum vmctld_role {
    VMCTLD_ROLE_NONE = 0,
    VMCTLD_ROLE_VIEWER,   /* GET only */
    VMCTLD_ROLE_OPERATOR, /* everything */
} vmctld_role_t;

typedef struct vmctld_token {
    char name[64];                 /* for logs: who did it */
    char token[VMCTLD_TOKEN_MAX];  /* the secret */
    vmctld_role_t role;
} vmctld_token_t;

typedef struct vmctld_config {
    char file[VMCTLD_CFG_PATH_MAX];      /* the file read, "" if none */

    /* mqtt.* */
    char mqtt_uri[VMCTLD_CFG_STR_MAX];   /* tcp://127.0.0.1:1883 */
    char mqtt_client_id[64];             /* vmctld */
    char mqtt_username[VMCTLD_CFG_STR_MAX];
    char mqtt_password[VMCTLD_CFG_STR_MAX];
    char mqtt_ca_file[VMCTLD_CFG_PATH_MAX];
    char mqtt_cert_file[VMCTLD_CFG_PATH_MAX];
    char mqtt_key_file[VMCTLD_CFG_PATH_MAX];

    /* http.* */
    char http_listen[VMCTLD_CFG_STR_MAX]; /* 127.0.0.1:8080 */
    char http_cert_file[VMCTLD_CFG_PATH_MAX]; /* both set: HTTPS */
    char http_key_file[VMCTLD_CFG_PATH_MAX];
    uint64_t http_max_body;              /* JSON bodies; 64 KiB */
    uint64_t http_max_upload;            /* .vpk uploads; 64 MiB */
    uint32_t http_max_clients;           /* connections; 256 */
    char web_root[VMCTLD_CFG_PATH_MAX];  /* static dashboard; "" none */
    vmctld_token_t *tokens;              /* owned; at least one */
    size_t ntokens;

    /* storage.* */
    char data_dir[VMCTLD_CFG_PATH_MAX];  /* /var/lib/vmctld */
    char db_path[VMCTLD_CFG_PATH_MAX];   /* default data_dir/vmctld.db */
    char store_dir[VMCTLD_CFG_PATH_MAX]; /* default data_dir/store */

    /* trust.* : PEM public keys; an upload must be signed by one */
    char (*trusted_keys)[VMCTLD_CFG_PATH_MAX]; /* owned; at least one */
    size_t ntrusted_keys;

    /* commands.* */
    uint32_t cmd_expiry_s;   /* a queued command waits this long; 86400 */
    uint32_t cmd_timeout_s;  /* sent -> final result; 600 */

    /* rollouts.* */
    uint32_t rollout_health_window_ms; /* sent to devices; 0 = theirs */
    uint32_t rollout_device_timeout_s; /* per device; 900 */
    uint32_t chunk_size;               /* transfers; 65536 */

    char log_level[16];                /* error|warn|info|debug; info */
} vmctld_config_t;

/** Defaults for every key (no tokens, no keys: those are required). */
void vmctld_config_defaults(vmctld_config_t *cfg);

/**
 * Read `path` (NULL: no file), apply VMCTLD_* environment variables,
 * fill derived defaults and check everything.
 * @param cfg filled on success; on failure it holds nothing to free.
 * @param err "file:key: reason" on failure.
 * @return 0 or -1.
 */
int vmctld_config_load(const char *path, vmctld_config_t *cfg, char *err,
                       size_t errlen);

/** Free the owned lists; the struct may be loaded again. */
void vmctld_config_free(vmctld_config_t *cfg);

/**
 * SIGHUP, after a successful vmctld_config_load() into `fresh`: move the
 * reloadable keys (tokens, log.level) into the running config `run`, and
 * name in `pending` the other keys whose value changed, which take effect
 * only at the next start ("http.listen, mqtt.uri"; "" if none).  `run`
 * thus always describes what is in effect.
 * @param fresh consumed: freed on return.
 * @return the number of keys named in `pending`.
 */
size_t vmctld_config_reload(vmctld_config_t *run, vmctld_config_t *fresh,
                            char *pending, size_t len);

/** Print every key, its type, default and variable (vmctld --help-config). */
void vmctld_config_print_keys(void *stdio_file);

#endif /* VMCTLD_CONFIG_H */
