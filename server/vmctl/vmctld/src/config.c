/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctld's configuration (config.h).  Every scalar key is one row of
 * `keys` below (after redis config.c): its name in the file, its type and
 * range, its default as text, its environment variable, whether SIGHUP
 * applies it, and where it lives in the struct.  Defaults, the file, the
 * environment, --help-config and the reload diff all walk that table, so
 * a new key is one new row.  The two lists (tokens, trust.keys) have a
 * row each too, and their own code.
 *
 * Loading goes defaults -> file -> environment -> derived defaults ->
 * checks that span several keys, into a private struct that reaches the
 * caller only if everything passed.  Errors name the key, and the file
 * and line when the key came from the file: cJSON keeps no positions, so
 * path_line() finds the line again by walking the text.
 *
 * This file and api.c are vmctld's only users of cJSON.
 */

#define _POSIX_C_SOURCE 200809L /* open, fstat */

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "config.h"

#define CONFIG_MAX_BYTES (1024 * 1024) /* a config file, at most */
#define TOKEN_FILE_MAX 4096            /* a token file, at most */
#define TOKEN_MIN_LEN 16
#define TOKENS_MAX 64
#define TRUST_KEYS_MAX 32
#define SCAN_DEPTH 8 /* path_line() follows paths this deep */

typedef enum key_type {
    KT_STRING = 0, /* free text; min = the shortest allowed */
    KT_PATH,       /* a path; relative ones in the file are relative to
                      the file's directory */
    KT_URI,        /* mqtt.uri: SCHEME://HOST[:PORT] */
    KT_LISTEN,     /* HOST:PORT or [V6]:PORT */
    KT_LEVEL,      /* error|warn|info|debug */
    KT_U32,        /* integers in [min, max] */
    KT_U64,
    KT_TOKENS,     /* the token list (no field: own code) */
    KT_PATHS,      /* trust.keys (no field: own code) */
} key_type_t;

typedef struct key_row {
    const char *name;   /* "http.max_body" */
    key_type_t type;
    uint64_t min, max;  /* integers: range; strings: min is the min length */
    const char *def;    /* the default, as text; NULL: none */
    const char *env;    /* VMCTLD_HTTP_MAX_BODY */
    bool reloadable;    /* SIGHUP applies it */
    size_t off, size;   /* the struct member */
} key_row_t;

#define FIELD(f) offsetof(vmctld_config_t, f), sizeof(((vmctld_config_t *)0)->f)
#define NOFIELD 0, 0
#define KIB 1024ull
#define MIB (1024ull * 1024)
#define GIB (1024ull * 1024 * 1024)

static const key_row_t keys[] = {
    { "mqtt.uri", KT_URI, 1, 0, "tcp://127.0.0.1:1883", "VMCTLD_MQTT_URI",
      false, FIELD(mqtt_uri) },
    { "mqtt.client_id", KT_STRING, 1, 0, "vmctld", "VMCTLD_MQTT_CLIENT_ID",
      false, FIELD(mqtt_client_id) },
    { "mqtt.username", KT_STRING, 0, 0, "", "VMCTLD_MQTT_USERNAME", false,
      FIELD(mqtt_username) },
    { "mqtt.password", KT_STRING, 0, 0, "", "VMCTLD_MQTT_PASSWORD", false,
      FIELD(mqtt_password) },
    { "mqtt.ca_file", KT_PATH, 0, 0, "", "VMCTLD_MQTT_CA_FILE", false,
      FIELD(mqtt_ca_file) },
    { "mqtt.cert_file", KT_PATH, 0, 0, "", "VMCTLD_MQTT_CERT_FILE", false,
      FIELD(mqtt_cert_file) },
    { "mqtt.key_file", KT_PATH, 0, 0, "", "VMCTLD_MQTT_KEY_FILE", false,
      FIELD(mqtt_key_file) },
    { "http.listen", KT_LISTEN, 1, 0, "127.0.0.1:8080", "VMCTLD_HTTP_LISTEN",
      false, FIELD(http_listen) },
    { "http.cert_file", KT_PATH, 0, 0, "", "VMCTLD_HTTP_CERT_FILE", false,
      FIELD(http_cert_file) },
    { "http.key_file", KT_PATH, 0, 0, "", "VMCTLD_HTTP_KEY_FILE", false,
      FIELD(http_key_file) },
    { "http.max_body", KT_U64, KIB, GIB, "65536", "VMCTLD_HTTP_MAX_BODY",
      false, FIELD(http_max_body) },
    { "http.max_upload", KT_U64, KIB, GIB, "67108864",
      "VMCTLD_HTTP_MAX_UPLOAD", false, FIELD(http_max_upload) },
    { "http.max_clients", KT_U32, 1, 65536, "256", "VMCTLD_HTTP_MAX_CLIENTS",
      false, FIELD(http_max_clients) },
    { "http.web_root", KT_PATH, 0, 0, "", "VMCTLD_HTTP_WEB_ROOT", false,
      FIELD(web_root) },
    { "tokens", KT_TOKENS, 1, TOKENS_MAX, NULL,
      "VMCTLD_OPERATOR_TOKEN VMCTLD_VIEWER_TOKEN", true, NOFIELD },
    { "storage.data_dir", KT_PATH, 1, 0, "/var/lib/vmctld",
      "VMCTLD_STORAGE_DATA_DIR", false, FIELD(data_dir) },
    { "storage.db_path", KT_PATH, 0, 0, "", "VMCTLD_STORAGE_DB_PATH", false,
      FIELD(db_path) },
    { "storage.store_dir", KT_PATH, 0, 0, "", "VMCTLD_STORAGE_STORE_DIR",
      false, FIELD(store_dir) },
    { "trust.keys", KT_PATHS, 1, TRUST_KEYS_MAX, NULL, "VMCTLD_TRUST_KEYS",
      false, NOFIELD },
    { "commands.expiry_s", KT_U32, 1, 366 * 86400, "86400",
      "VMCTLD_COMMANDS_EXPIRY_S", false, FIELD(cmd_expiry_s) },
    { "commands.timeout_s", KT_U32, 1, 7 * 86400, "600",
      "VMCTLD_COMMANDS_TIMEOUT_S", false, FIELD(cmd_timeout_s) },
    { "rollouts.health_window_ms", KT_U32, 0, 3600000, "0",
      "VMCTLD_ROLLOUTS_HEALTH_WINDOW_MS", false,
      FIELD(rollout_health_window_ms) },
    { "rollouts.device_timeout_s", KT_U32, 1, 7 * 86400, "900",
      "VMCTLD_ROLLOUTS_DEVICE_TIMEOUT_S", false,
      FIELD(rollout_device_timeout_s) },
    { "rollouts.chunk_size", KT_U32, KIB, 256 * KIB, "65536",
      "VMCTLD_ROLLOUTS_CHUNK_SIZE", false, FIELD(chunk_size) },
    { "log.level", KT_LEVEL, 1, 0, "info", "VMCTLD_LOG_LEVEL", true,
      FIELD(log_level) },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* The top-level members of the file: each is an object of keys, except
 * "tokens" (an array of token objects). */
static const char *const sections[] = {
    "mqtt", "http", "tokens", "storage", "trust", "commands", "rollouts",
    "log",
};

#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

static const char *const levels[] = { "error", "warn", "info", "debug" };

static const char *const uri_schemes[] = { "tcp", "ssl", "mqtt", "mqtts",
                                           "ws",  "wss" };

/* Where a key's value came from: errors point there. */
typedef enum { SRC_DEFAULT = 0, SRC_FILE, SRC_ENV } src_t;

/* Where each token came from (for errors about duplicates). */
typedef struct token_src {
    src_t src;
    const char *env; /* SRC_ENV: its variable */
} token_src_t;

typedef struct load_ctx {
    const char *path;     /* the file, or NULL */
    const char *text;     /* its text, NUL-terminated, or NULL */
    char dir[VMCTLD_CFG_PATH_MAX]; /* its directory with a '/', or "" */
    src_t src[NKEYS];     /* where each row's value came from */
    token_src_t tsrc[TOKENS_MAX];
    char msg[768];        /* the error: "key: reason" */
    char where[128];      /* its JSON path, for the line ("" none) */
    const char *env;      /* the variable at fault, or NULL */
} load_ctx_t;

/*
 * fail: record an error about `where` (a JSON path such as
 * "tokens[1].role", also the start of the message), with the message
 * "where: reason".  Return: -1, for `return fail(...)`.
 */
__attribute__((format(printf, 3, 4))) static int
fail(load_ctx_t *x, const char *where, const char *fmt, ...)
{
    va_list ap;
    int n;

    snprintf(x->where, sizeof(x->where), "%s", where);
    n = snprintf(x->msg, sizeof(x->msg), "%s: ", where);
    if (n < 0 || (size_t)n >= sizeof(x->msg))
        return -1;
    va_start(ap, fmt);
    vsnprintf(x->msg + n, sizeof(x->msg) - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static const key_row_t *
find_key(const char *name, size_t *idx)
{
    size_t i;

    for (i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0) {
            if (idx != NULL)
                *idx = i;
            return &keys[i];
        }
    return NULL;
}

static size_t
key_index(const key_row_t *r)
{
    return (size_t)(r - keys);
}

/* Record where the value of key `name` came from. */
static void
set_src(load_ctx_t *x, const char *name, src_t src)
{
    size_t idx;

    if (find_key(name, &idx) != NULL)
        x->src[idx] = src;
}

/* Levenshtein distance of two short strings (longer ones: "far"). */
static size_t
edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i, j;
    size_t row[65];

    if (la > 64 || lb > 64)
        return 99;
    for (j = 0; j <= lb; j++)
        row[j] = j;
    for (i = 1; i <= la; i++) {
        size_t diag = row[0];

        row[0] = i;
        for (j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);

            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/*
 * unknown_key: the error for a key nobody knows, with a suggestion when a
 * known name is close (a typo).  `full` is the whole path
 * ("http.max_bodyy"); names are looked for among keys and sections.
 * Return: -1.
 */
static int
unknown_key(load_ctx_t *x, const char *full)
{
    const char *best = NULL;
    size_t bestd = 3, d, i;

    for (i = 0; i < NKEYS; i++)
        if ((d = edit_distance(full, keys[i].name)) < bestd) {
            bestd = d;
            best = keys[i].name;
        }
    for (i = 0; i < NSECTIONS; i++)
        if ((d = edit_distance(full, sections[i])) < bestd) {
            bestd = d;
            best = sections[i];
        }
    if (best != NULL)
        return fail(x, full, "unknown key (did you mean %s?)", best);
    return fail(x, full, "unknown key (vmctld --help-config lists them)");
}

/* ---- values ------------------------------------------------------------ */

/* Whether s holds a control character (they would garble the log). */
static bool
has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* "HOST:PORT" with a non-empty host (or [IPv6]) and a port 0..65535. */
static bool
listen_valid(const char *s)
{
    const char *colon, *p;
    unsigned long port = 0;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close == s + 1 || close[1] != ':')
            return false;
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL || colon == s || memchr(s, ':', (size_t)(colon - s)))
            return false;
    }
    if (colon[1] == '\0' || strlen(colon + 1) > 5)
        return false;
    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    for (p = s; p < colon; p++)
        if (*p == ' ' || *p == '/')
            return false;
    return port <= 65535;
}

/* SCHEME://HOST[:PORT][/PATH] with a scheme Paho speaks. */
static bool
uri_valid(const char *s)
{
    const char *sep = strstr(s, "://");
    size_t i, n;

    if (sep == NULL || sep[3] == '\0' || sep[3] == '/' || sep[3] == ':' ||
        strchr(sep + 3, ' ') != NULL)
        return false;
    n = (size_t)(sep - s);
    for (i = 0; i < sizeof(uri_schemes) / sizeof(uri_schemes[0]); i++)
        if (strlen(uri_schemes[i]) == n && strncmp(s, uri_schemes[i], n) == 0)
            return true;
    return false;
}

/* Whether the URI's scheme is one with TLS. */
static bool
uri_tls(const char *s)
{
    return strncmp(s, "ssl://", 6) == 0 || strncmp(s, "mqtts://", 8) == 0 ||
           strncmp(s, "wss://", 6) == 0;
}

/*
 * token_check: a bearer token: 16 to VMCTLD_TOKEN_MAX - 1 printable ASCII
 * characters without spaces (what fits an Authorization header as is).
 * Return: NULL if fine, else the reason.
 */
static const char *
token_check(const char *t)
{
    size_t n = strlen(t), i;

    if (n < TOKEN_MIN_LEN)
        return "too short: a token has at least 16 characters (e.g. "
               "`openssl rand -hex 24`)";
    if (n >= VMCTLD_TOKEN_MAX)
        return "too long: at most 127 characters";
    for (i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return "only printable characters without spaces are allowed";
    return NULL;
}

/*
 * join_path: `s` into dst (cap bytes), relative to dir when from_file and
 * s is relative.  Return: 0, or -1 if it does not fit.
 */
static int
join_path(char *dst, size_t cap, const char *dir, const char *s,
          bool from_file)
{
    int n;

    if (from_file && s[0] != '/' && s[0] != '\0')
        n = snprintf(dst, cap, "%s%s", dir, s);
    else
        n = snprintf(dst, cap, "%s", s);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* The describing part of an integer row's error. */
static int
bad_int(load_ctx_t *x, const key_row_t *r, const char *where)
{
    return fail(x, where, "expected an integer %llu..%llu",
                (unsigned long long)r->min, (unsigned long long)r->max);
}

static void
store_int(vmctld_config_t *c, const key_row_t *r, uint64_t v)
{
    char *p = (char *)c + r->off;

    if (r->type == KT_U32) {
        uint32_t v32 = (uint32_t)v;

        memcpy(p, &v32, sizeof(v32));
    } else {
        memcpy(p, &v, sizeof(v));
    }
}

static uint64_t
load_int(const vmctld_config_t *c, const key_row_t *r)
{
    const char *p = (const char *)c + r->off;

    if (r->type == KT_U32) {
        uint32_t v32;

        memcpy(&v32, p, sizeof(v32));
        return v32;
    } else {
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
    }
}

/*
 * set_text: the value `s` (from the file when from_file, else from the
 * environment or the default) for scalar row r, checked for its type.
 * Return: 0, or -1 with the error recorded about `where`.
 */
static int
set_text(load_ctx_t *x, vmctld_config_t *c, const key_row_t *r,
         const char *s, bool from_file, const char *where)
{
    char *dst = (char *)c + r->off;
    size_t i;

    switch (r->type) {
    case KT_U32:
    case KT_U64: {
        uint64_t v = 0;
        const char *p;

        if (*s == '\0' || strlen(s) > 20)
            return bad_int(x, r, where);
        for (p = s; *p != '\0'; p++) {
            if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
                return bad_int(x, r, where);
            v = v * 10 + (uint64_t)(*p - '0');
        }
        if (v < r->min || v > r->max)
            return bad_int(x, r, where);
        store_int(c, r, v);
        return 0;
    }
    case KT_LEVEL:
        for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
            if (strcmp(s, levels[i]) == 0)
                break;
        if (i == sizeof(levels) / sizeof(levels[0]))
            return fail(x, where, "expected one of error, warn, info, debug");
        break;
    case KT_URI:
        if (!uri_valid(s))
            return fail(x, where,
                        "expected SCHEME://HOST[:PORT] with a scheme of "
                        "tcp, ssl, mqtt, mqtts, ws, wss");
        break;
    case KT_LISTEN:
        if (!listen_valid(s))
            return fail(x, where,
                        "expected HOST:PORT (e.g. 127.0.0.1:8080, "
                        "0.0.0.0:8443, [::1]:8080; port 0..65535)");
        break;
    default:
        break;
    }
    if (strlen(s) < r->min)
        return fail(x, where, "must not be empty");
    if (has_control(s))
        return fail(x, where, "contains a control character");
    if (r->type == KT_PATH) {
        if (join_path(dst, r->size, x->dir, s, from_file) != 0)
            return fail(x, where, "too long (at most %zu characters)",
                        r->size - 1);
        return 0;
    }
    if (strlen(s) >= r->size)
        return fail(x, where, "too long (at most %zu characters)",
                    r->size - 1);
    memcpy(dst, s, strlen(s) + 1);
    return 0;
}

/*
 * set_json: the file's value `v` for scalar row r.  Return: 0 or -1.
 */
static int
set_json(load_ctx_t *x, vmctld_config_t *c, const key_row_t *r,
         const cJSON *v)
{
    if (r->type == KT_U32 || r->type == KT_U64) {
        double d;

        if (!cJSON_IsNumber(v))
            return bad_int(x, r, r->name);
        d = v->valuedouble;
        /* Within range first, so that the cast below is defined. */
        if (!(d >= (double)r->min && d <= (double)r->max) ||
            (double)(uint64_t)d != d)
            return bad_int(x, r, r->name);
        store_int(c, r, (uint64_t)d);
        return 0;
    }
    if (!cJSON_IsString(v) || v->valuestring == NULL) {
        if (r->type == KT_PATH)
            return fail(x, r->name, "expected a path (a string)");
        return fail(x, r->name, "expected a string");
    }
    return set_text(x, c, r, v->valuestring, true, r->name);
}

/* ---- lists --------------------------------------------------------------- */

static int
token_add(load_ctx_t *x, vmctld_config_t *c, const vmctld_token_t *t,
          src_t src, const char *env, const char *where)
{
    vmctld_token_t *n;

    if (c->ntokens >= TOKENS_MAX)
        return fail(x, where, "too many tokens (at most %d)", TOKENS_MAX);
    n = realloc(c->tokens, (c->ntokens + 1) * sizeof(*n));
    if (n == NULL)
        return fail(x, where, "out of memory");
    c->tokens = n;
    x->tsrc[c->ntokens].src = src;
    x->tsrc[c->ntokens].env = env;
    n[c->ntokens++] = *t;
    return 0;
}

/*
 * read_token_file: the token in file `path`: its first line, without
 * trailing white space.  Return: 0, or -1 with the error about `where`.
 */
static int
read_token_file(load_ctx_t *x, const char *path, const char *where,
                char *out, size_t cap)
{
    char buf[TOKEN_FILE_MAX + 1];
    struct stat st;
    ssize_t n;
    size_t len;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return fail(x, where, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return fail(x, where, "%s: not a regular file", path);
    }
    n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0)
        return fail(x, where, "%s: %s", path, strerror(errno));
    if ((size_t)n > TOKEN_FILE_MAX)
        return fail(x, where, "%s: larger than %d bytes", path,
                    TOKEN_FILE_MAX);
    buf[n] = '\0';
    len = strcspn(buf, "\r\n");
    while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
        len--;
    buf[len] = '\0';
    if (len >= cap)
        return fail(x, where, "%s: too long: at most %zu characters", path,
                    cap - 1);
    memcpy(out, buf, len + 1);
    return 0;
}

/* Whether object `o` has member `name` more than once (cJSON keeps both;
 * a config must not say two things). */
static const cJSON *
duplicate_member(const cJSON *o)
{
    const cJSON *a, *b;

    for (a = o->child; a != NULL; a = a->next)
        for (b = a->next; b != NULL; b = b->next)
            if (a->string != NULL && b->string != NULL &&
                strcmp(a->string, b->string) == 0)
                return b;
    return NULL;
}

/*
 * parse_tokens: "tokens": [{"name", "role", "token" | "token_file"}].
 * Return: 0 or -1.
 */
static int
parse_tokens(load_ctx_t *x, vmctld_config_t *c, const cJSON *arr)
{
    static const char *const tkeys[] = { "name", "role", "token",
                                         "token_file" };
    const cJSON *e, *m, *d;
    char where[96];
    size_t i = 0, k;

    if (!cJSON_IsArray(arr))
        return fail(x, "tokens",
                    "expected an array of {\"name\", \"role\", \"token\" or "
                    "\"token_file\"}");
    for (e = arr->child; e != NULL; e = e->next, i++) {
        const cJSON *name, *role, *tok, *tfile;
        vmctld_token_t t;

        memset(&t, 0, sizeof(t));
        snprintf(where, sizeof(where), "tokens[%zu]", i);
        if (!cJSON_IsObject(e))
            return fail(x, where,
                        "expected an object {\"name\", \"role\", \"token\" "
                        "or \"token_file\"}");
        if ((d = duplicate_member(e)) != NULL) {
            snprintf(where, sizeof(where), "tokens[%zu].%.32s", i,
                     d->string);
            return fail(x, where, "given twice");
        }
        for (m = e->child; m != NULL; m = m->next) {
            for (k = 0; k < sizeof(tkeys) / sizeof(tkeys[0]); k++)
                if (strcmp(m->string, tkeys[k]) == 0)
                    break;
            if (k == sizeof(tkeys) / sizeof(tkeys[0])) {
                snprintf(where, sizeof(where), "tokens[%zu].%.48s", i,
                         m->string);
                return fail(x, where,
                            "unknown key (expected name, role, token, "
                            "token_file)");
            }
        }
        name = cJSON_GetObjectItemCaseSensitive(e, "name");
        role = cJSON_GetObjectItemCaseSensitive(e, "role");
        tok = cJSON_GetObjectItemCaseSensitive(e, "token");
        tfile = cJSON_GetObjectItemCaseSensitive(e, "token_file");

        if (name == NULL)
            return fail(x, where, "\"name\" is required (it names the "
                                  "token's user in the log)");
        snprintf(where, sizeof(where), "tokens[%zu].name", i);
        if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
            strlen(name->valuestring) >= sizeof(t.name) ||
            strpbrk(name->valuestring, " \t") != NULL ||
            has_control(name->valuestring))
            return fail(x, where,
                        "expected a name of 1 to %zu characters without "
                        "spaces",
                        sizeof(t.name) - 1);
        memcpy(t.name, name->valuestring, strlen(name->valuestring) + 1);

        snprintf(where, sizeof(where), "tokens[%zu]", i);
        if (role == NULL)
            return fail(x, where, "\"role\" is required: \"viewer\" or "
                                  "\"operator\"");
        snprintf(where, sizeof(where), "tokens[%zu].role", i);
        if (cJSON_IsString(role) && strcmp(role->valuestring, "viewer") == 0)
            t.role = VMCTLD_ROLE_VIEWER;
        else if (cJSON_IsString(role) &&
                 strcmp(role->valuestring, "operator") == 0)
            t.role = VMCTLD_ROLE_OPERATOR;
        else
            return fail(x, where, "expected \"viewer\" or \"operator\"");

        snprintf(where, sizeof(where), "tokens[%zu]", i);
        if ((tok == NULL) == (tfile == NULL))
            return fail(x, where,
                        "exactly one of \"token\" and \"token_file\" is "
                        "required");
        if (tok != NULL) {
            const char *why;

            snprintf(where, sizeof(where), "tokens[%zu].token", i);
            if (!cJSON_IsString(tok))
                return fail(x, where, "expected a string");
            if ((why = token_check(tok->valuestring)) != NULL)
                return fail(x, where, "%s", why);
            memcpy(t.token, tok->valuestring, strlen(tok->valuestring) + 1);
        } else {
            char path[VMCTLD_CFG_PATH_MAX];
            const char *why;

            snprintf(where, sizeof(where), "tokens[%zu].token_file", i);
            if (!cJSON_IsString(tfile) || tfile->valuestring[0] == '\0')
                return fail(x, where, "expected a path (a string)");
            if (join_path(path, sizeof(path), x->dir, tfile->valuestring,
                          true) != 0)
                return fail(x, where, "too long");
            if (read_token_file(x, path, where, t.token, sizeof(t.token)) !=
                0)
                return -1;
            if ((why = token_check(t.token)) != NULL)
                return fail(x, where, "%s: %s", path, why);
        }
        if (token_add(x, c, &t, SRC_FILE, NULL, "tokens") != 0)
            return -1;
    }
    return 0;
}

static int
trust_add(load_ctx_t *x, vmctld_config_t *c, const char *path,
          bool from_file, const char *where)
{
    char(*n)[VMCTLD_CFG_PATH_MAX];

    if (c->ntrusted_keys >= TRUST_KEYS_MAX)
        return fail(x, "trust.keys", "too many keys (at most %d)",
                    TRUST_KEYS_MAX);
    if (path[0] == '\0')
        return fail(x, where, "expected a path, not \"\"");
    if (has_control(path))
        return fail(x, where, "contains a control character");
    n = realloc(c->trusted_keys, (c->ntrusted_keys + 1) * sizeof(*n));
    if (n == NULL)
        return fail(x, where, "out of memory");
    c->trusted_keys = n;
    if (join_path(n[c->ntrusted_keys], sizeof(n[0]), x->dir, path,
                  from_file) != 0)
        return fail(x, where, "too long (at most %zu characters)",
                    sizeof(n[0]) - 1);
    c->ntrusted_keys++;
    return 0;
}

/* "trust": {"keys": ["a.pem", ...]}.  Return: 0 or -1. */
static int
parse_trust(load_ctx_t *x, vmctld_config_t *c, const cJSON *sec)
{
    const cJSON *m, *keyv = NULL;
    char where[64];
    size_t i = 0;

    for (m = sec->child; m != NULL; m = m->next) {
        char full[96];

        if (strcmp(m->string, "keys") == 0) {
            keyv = m;
            continue;
        }
        snprintf(full, sizeof(full), "trust.%.64s", m->string);
        return unknown_key(x, full);
    }
    if (keyv == NULL)
        return 0;
    if (!cJSON_IsArray(keyv))
        return fail(x, "trust.keys",
                    "expected an array of paths to PEM public keys");
    set_src(x, "trust.keys", SRC_FILE);
    for (m = keyv->child; m != NULL; m = m->next, i++) {
        snprintf(where, sizeof(where), "trust.keys[%zu]", i);
        if (!cJSON_IsString(m))
            return fail(x, where, "expected a path (a string)");
        if (trust_add(x, c, m->valuestring, true, where) != 0)
            return -1;
    }
    return 0;
}

/*
 * parse_file: the members of the top-level object into c.  Unknown keys
 * and keys given twice are errors.  Return: 0 or -1.
 */
static int
parse_file(load_ctx_t *x, vmctld_config_t *c, const cJSON *root)
{
    const cJSON *sec, *m, *d;
    char full[160];
    size_t i, idx;

    if (!cJSON_IsObject(root))
        return fail(x, "(top level)", "expected a JSON object {...}");
    if ((d = duplicate_member(root)) != NULL) {
        snprintf(full, sizeof(full), "%.64s", d->string);
        return fail(x, full, "given twice");
    }
    for (sec = root->child; sec != NULL; sec = sec->next) {
        for (i = 0; i < NSECTIONS; i++)
            if (strcmp(sec->string, sections[i]) == 0)
                break;
        if (i == NSECTIONS) {
            snprintf(full, sizeof(full), "%.64s", sec->string);
            return unknown_key(x, full);
        }
        if (strcmp(sec->string, "tokens") == 0) {
            set_src(x, "tokens", SRC_FILE);
            if (parse_tokens(x, c, sec) != 0)
                return -1;
            continue;
        }
        if (!cJSON_IsObject(sec))
            return fail(x, sec->string, "expected an object {...}");
        if ((d = duplicate_member(sec)) != NULL) {
            snprintf(full, sizeof(full), "%s.%.64s", sec->string, d->string);
            return fail(x, full, "given twice");
        }
        if (strcmp(sec->string, "trust") == 0) {
            if (parse_trust(x, c, sec) != 0)
                return -1;
            continue;
        }
        for (m = sec->child; m != NULL; m = m->next) {
            const key_row_t *r;

            snprintf(full, sizeof(full), "%s.%.64s", sec->string, m->string);
            r = find_key(full, &idx);
            if (r == NULL || r->type == KT_TOKENS || r->type == KT_PATHS)
                return unknown_key(x, full);
            x->src[idx] = SRC_FILE;
            if (set_json(x, c, r, m) != 0)
                return -1;
        }
    }
    return 0;
}

/*
 * apply_env: every VMCTLD_* variable that is set and not empty over what
 * the file said.  Return: 0 or -1 (x->env names the variable).
 */
static int
apply_env(load_ctx_t *x, vmctld_config_t *c)
{
    static const struct {
        const char *env;
        const char *name;
        vmctld_role_t role;
    } env_tokens[] = {
        { "VMCTLD_OPERATOR_TOKEN", "env-operator", VMCTLD_ROLE_OPERATOR },
        { "VMCTLD_VIEWER_TOKEN", "env-viewer", VMCTLD_ROLE_VIEWER },
    };
    const char *v;
    size_t i;

    for (i = 0; i < NKEYS; i++) {
        const key_row_t *r = &keys[i];

        if (r->type == KT_TOKENS || r->type == KT_PATHS)
            continue;
        if ((v = getenv(r->env)) == NULL || v[0] == '\0')
            continue;
        x->env = r->env;
        if (set_text(x, c, r, v, false, r->name) != 0)
            return -1;
        x->src[i] = SRC_ENV;
    }
    x->env = NULL;

    if ((v = getenv("VMCTLD_TRUST_KEYS")) != NULL && v[0] != '\0') {
        const char *p = v;
        char path[VMCTLD_CFG_PATH_MAX];
        char where[64];
        size_t n = 0;

        /* The variable replaces the file's list. */
        x->env = "VMCTLD_TRUST_KEYS";
        free(c->trusted_keys);
        c->trusted_keys = NULL;
        c->ntrusted_keys = 0;
        set_src(x, "trust.keys", SRC_ENV);
        while (*p != '\0') {
            size_t len = strcspn(p, ":");

            if (len > 0) {
                snprintf(where, sizeof(where), "trust.keys[%zu]", n++);
                if (len >= sizeof(path))
                    return fail(x, where, "too long (at most %zu "
                                          "characters)",
                                sizeof(path) - 1);
                memcpy(path, p, len);
                path[len] = '\0';
                if (trust_add(x, c, path, false, where) != 0)
                    return -1;
            }
            p += len;
            if (*p == ':')
                p++;
        }
        x->env = NULL;
    }

    for (i = 0; i < sizeof(env_tokens) / sizeof(env_tokens[0]); i++) {
        vmctld_token_t t;
        const char *why;

        if ((v = getenv(env_tokens[i].env)) == NULL || v[0] == '\0')
            continue;
        x->env = env_tokens[i].env;
        if ((why = token_check(v)) != NULL)
            return fail(x, "tokens", "%s", why);
        memset(&t, 0, sizeof(t));
        snprintf(t.name, sizeof(t.name), "%s", env_tokens[i].name);
        memcpy(t.token, v, strlen(v) + 1);
        t.role = env_tokens[i].role;
        if (token_add(x, c, &t, SRC_ENV, env_tokens[i].env, "tokens") != 0)
            return -1;
        set_src(x, "tokens", SRC_ENV);
    }
    x->env = NULL;
    return 0;
}

/* ---- checks across keys ----------------------------------------------- */

/*
 * row_fail: an error about row `name` whose message names its source:
 * the variable when the value came from the environment.  Return: -1.
 */
__attribute__((format(printf, 3, 4))) static int
row_fail(load_ctx_t *x, const char *name, const char *fmt, ...)
{
    char reason[512];
    size_t idx;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (find_key(name, &idx) != NULL && x->src[idx] == SRC_ENV)
        x->env = keys[idx].env;
    return fail(x, name, "%s", reason);
}

/* A file that must exist and be readable: 0, or the errno-ish reason. */
static const char *
file_check(const char *path, bool want_dir)
{
    struct stat st;
    int fd;

    if (want_dir) {
        if (stat(path, &st) != 0)
            return strerror(errno);
        return S_ISDIR(st.st_mode) ? NULL : "not a directory";
    }
    /* Opening it tells readable for the user we run as, ACLs included. */
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return strerror(errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return "not a regular file";
    }
    close(fd);
    return NULL;
}

/* Optional file keys: if set, readable. */
static int
check_file_key(load_ctx_t *x, const char *name, const char *path)
{
    const char *why;

    if (path[0] != '\0' && (why = file_check(path, false)) != NULL)
        return row_fail(x, name, "%s: %s", path, why);
    return 0;
}

/*
 * check_all: derived defaults, then what spans several keys.
 * Return: 0 or -1.
 */
static int
check_all(load_ctx_t *x, vmctld_config_t *c)
{
    const char *why;
    size_t i, j, dl;
    struct stat st;

    /* Derived paths, without doubling a trailing '/' of data_dir. */
    dl = strlen(c->data_dir);
    while (dl > 1 && c->data_dir[dl - 1] == '/')
        dl--;
    if (c->db_path[0] == '\0' &&
        snprintf(c->db_path, sizeof(c->db_path), "%.*s/vmctld.db", (int)dl,
                 c->data_dir) >= (int)sizeof(c->db_path))
        return row_fail(x, "storage.data_dir",
                        "too long to derive storage.db_path");
    if (c->store_dir[0] == '\0' &&
        snprintf(c->store_dir, sizeof(c->store_dir), "%.*s/store", (int)dl,
                 c->data_dir) >= (int)sizeof(c->store_dir))
        return row_fail(x, "storage.data_dir",
                        "too long to derive storage.store_dir");
    if (stat(c->data_dir, &st) == 0 && !S_ISDIR(st.st_mode))
        return row_fail(x, "storage.data_dir", "%s: not a directory",
                        c->data_dir);

    /* Tokens: at least one, names and secrets unique. */
    if (c->ntokens == 0)
        return fail(x, "tokens",
                    "no API token: add one to \"tokens\" ([{\"name\": "
                    "\"admin\", \"role\": \"operator\", \"token_file\": "
                    "\"...\"}]) or set VMCTLD_OPERATOR_TOKEN");
    for (i = 0; i < c->ntokens; i++)
        for (j = 0; j < i; j++) {
            char where[64];
            bool same_name =
                strcmp(c->tokens[i].name, c->tokens[j].name) == 0;

            if (!same_name && strcmp(c->tokens[i].token,
                                     c->tokens[j].token) != 0)
                continue;
            if (x->tsrc[i].src == SRC_ENV) {
                x->env = x->tsrc[i].env;
                snprintf(where, sizeof(where), "tokens");
            } else {
                snprintf(where, sizeof(where), "tokens[%zu].%s", i,
                         same_name ? "name" : "token");
            }
            if (same_name)
                return fail(x, where, "the name \"%s\" is used twice",
                            c->tokens[i].name);
            return fail(x, where,
                        "the same secret as token \"%s\": each user gets "
                        "their own",
                        c->tokens[j].name);
        }

    /* Trusted keys: at least one, each readable. */
    if (c->ntrusted_keys == 0)
        return fail(x, "trust.keys",
                    "no trusted key: list the PEM public keys that sign "
                    "packages (\"trust\": {\"keys\": [\"fleet.pub\"]}) or "
                    "set VMCTLD_TRUST_KEYS");
    for (i = 0; i < c->ntrusted_keys; i++) {
        const key_row_t *r = find_key("trust.keys", NULL);
        char where[64];

        if ((why = file_check(c->trusted_keys[i], false)) == NULL)
            continue;
        if (r != NULL && x->src[key_index(r)] == SRC_ENV)
            x->env = r->env;
        snprintf(where, sizeof(where), "trust.keys[%zu]", i);
        return fail(x, where, "%s: %s", c->trusted_keys[i], why);
    }

    /* HTTPS: certificate and key together. */
    if ((c->http_cert_file[0] != '\0') != (c->http_key_file[0] != '\0')) {
        if (c->http_cert_file[0] == '\0')
            return row_fail(x, "http.key_file",
                            "set without http.cert_file (HTTPS needs both)");
        return row_fail(x, "http.cert_file",
                        "set without http.key_file (HTTPS needs both)");
    }
    if (check_file_key(x, "http.cert_file", c->http_cert_file) != 0 ||
        check_file_key(x, "http.key_file", c->http_key_file) != 0)
        return -1;
    if (c->web_root[0] != '\0' &&
        (why = file_check(c->web_root, true)) != NULL)
        return row_fail(x, "http.web_root", "%s: %s", c->web_root, why);

    /* MQTT over TLS: files only with a TLS scheme, cert and key together. */
    if ((c->mqtt_cert_file[0] != '\0') != (c->mqtt_key_file[0] != '\0')) {
        if (c->mqtt_cert_file[0] == '\0')
            return row_fail(x, "mqtt.key_file",
                            "set without mqtt.cert_file (a client "
                            "certificate needs both)");
        return row_fail(x, "mqtt.cert_file",
                        "set without mqtt.key_file (a client certificate "
                        "needs both)");
    }
    if (!uri_tls(c->mqtt_uri)) {
        static const char *const tls_keys[] = {
            "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file"
        };
        const char *vals[] = { c->mqtt_ca_file, c->mqtt_cert_file,
                               c->mqtt_key_file };

        for (i = 0; i < 3; i++)
            if (vals[i][0] != '\0')
                return row_fail(x, tls_keys[i],
                                "set, but mqtt.uri \"%s\" does not use "
                                "TLS (ssl://, mqtts:// or wss://)",
                                c->mqtt_uri);
    }
    if (check_file_key(x, "mqtt.ca_file", c->mqtt_ca_file) != 0 ||
        check_file_key(x, "mqtt.cert_file", c->mqtt_cert_file) != 0 ||
        check_file_key(x, "mqtt.key_file", c->mqtt_key_file) != 0)
        return -1;
    return 0;
}

/* ---- file and lines ------------------------------------------------------ */

/*
 * path_is: whether the scanner's position (frames st[0..depth)) is the
 * JSON path `want` ("http.max_body", "tokens[1].role", "trust.keys[0]").
 */
typedef struct scan_frame {
    bool obj;      /* an object (else an array) */
    bool key_next; /* in an object: the next string is a key */
    size_t idx;    /* in an array: the current element */
    char key[64];  /* in an object: the current key */
} scan_frame_t;

static bool
path_is(const scan_frame_t *st, int depth, const char *want)
{
    char path[256];
    size_t n = 0;
    int i, w;

    if (depth <= 0 || depth > SCAN_DEPTH)
        return false;
    for (i = 0; i < depth; i++) {
        if (st[i].obj)
            w = snprintf(path + n, sizeof(path) - n, "%s%s",
                         i > 0 ? "." : "", st[i].key);
        else
            w = snprintf(path + n, sizeof(path) - n, "[%zu]", st[i].idx);
        if (w < 0 || (size_t)w >= sizeof(path) - n)
            return false;
        n += (size_t)w;
    }
    return strcmp(path, want) == 0;
}

/*
 * path_line: the line of the member or array element `want` in `text`, a
 * JSON document cJSON has accepted.  Return: the 1-based line, or 0 if
 * the path does not occur (a key that is missing).
 */
static unsigned
path_line(const char *text, const char *want)
{
    scan_frame_t st[SCAN_DEPTH];
    unsigned line = 1;
    const char *p = text;
    int depth = 0;

    while (*p != '\0') {
        scan_frame_t *top =
            depth > 0 && depth <= SCAN_DEPTH ? &st[depth - 1] : NULL;
        bool elem = top != NULL && !top->obj; /* a value in an array */
        char c = *p;

        switch (c) {
        case '\n':
            line++;
            p++;
            break;
        case ' ':
        case '\t':
        case '\r':
            p++;
            break;
        case '{':
        case '[':
            if (elem && path_is(st, depth, want))
                return line;
            if (depth < SCAN_DEPTH) {
                memset(&st[depth], 0, sizeof(st[depth]));
                st[depth].obj = c == '{';
                st[depth].key_next = true;
            }
            depth++;
            p++;
            break;
        case '}':
        case ']':
            /* Never below the top level, whatever the text says. */
            if (depth > 0)
                depth--;
            p++;
            break;
        case ',':
            if (top != NULL && top->obj)
                top->key_next = true;
            else if (top != NULL)
                top->idx++;
            p++;
            break;
        case ':':
            if (top != NULL)
                top->key_next = false;
            p++;
            break;
        case '"': {
            char buf[64];
            size_t n = 0;
            unsigned start = line;

            for (p++; *p != '\0' && *p != '"'; p++) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (*p == '\n')
                    line++;
                if (n < sizeof(buf) - 1)
                    buf[n++] = *p;
            }
            buf[n] = '\0';
            if (*p == '"')
                p++;
            if (top != NULL && top->obj && top->key_next) {
                memcpy(top->key, buf, n + 1);
                if (path_is(st, depth, want))
                    return start;
            } else if (elem && path_is(st, depth, want)) {
                return start;
            }
            break;
        }
        default:
            /* cJSON skips every byte below 0x20 as white space. */
            if ((unsigned char)c < 0x20) {
                p++;
                break;
            }
            /* A number, true, false or null. */
            if (elem && path_is(st, depth, want))
                return line;
            while (*p != '\0' && strchr(",]} \t\r\n", *p) == NULL)
                p++;
            break;
        }
    }
    return 0;
}

/*
 * read_file: the whole file into a NUL-terminated buffer (caller frees).
 * Return: 0, or -1 with x->msg set.
 */
static int
read_file(load_ctx_t *x, const char *path, char **out)
{
    struct stat st;
    char *buf = NULL;
    size_t got = 0;
    ssize_t n;
    int fd;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        snprintf(x->msg, sizeof(x->msg), "%s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(x->msg, sizeof(x->msg), "not a regular file");
        goto fail;
    }
    if (st.st_size > CONFIG_MAX_BYTES) {
        snprintf(x->msg, sizeof(x->msg), "larger than %d bytes",
                 CONFIG_MAX_BYTES);
        goto fail;
    }
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        snprintf(x->msg, sizeof(x->msg), "out of memory");
        goto fail;
    }
    while (got < (size_t)st.st_size) {
        n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(x->msg, sizeof(x->msg), "%s", strerror(errno));
            goto fail;
        }
        if (n == 0)
            break; /* shrank meanwhile: take what is there */
        got += (size_t)n;
    }
    buf[got] = '\0';
    if (strlen(buf) != got) {
        snprintf(x->msg, sizeof(x->msg), "contains a NUL byte (not text)");
        goto fail;
    }
    /* A UTF-8 byte order mark, as some editors write: not JSON, skip it. */
    if (got >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        memmove(buf, buf + 3, got - 2);
    close(fd);
    *out = buf;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}

/* The 1-based line of byte offset `off` in text. */
static unsigned
line_at(const char *text, size_t off)
{
    unsigned line = 1;
    size_t i;

    for (i = 0; i < off && text[i] != '\0'; i++)
        if (text[i] == '\n')
            line++;
    return line;
}

/*
 * format_error: x's error into err, with its origin in front:
 *   "vmctld.json:12: http.max_body: expected an integer ..."
 *   "environment VMCTLD_HTTP_MAX_BODY: http.max_body: expected ..."
 */
static void
format_error(const load_ctx_t *x, char *err, size_t errlen)
{
    unsigned line = 0;

    if (err == NULL || errlen == 0)
        return;
    if (x->env != NULL) {
        snprintf(err, errlen, "environment %s: %s", x->env, x->msg);
        return;
    }
    if (x->path == NULL) {
        snprintf(err, errlen, "%s", x->msg);
        return;
    }
    if (x->text != NULL && x->where[0] != '\0') {
        char where[sizeof(x->where)];
        char *cut;

        /* The key itself, else the closest enclosing one that is there
         * (a missing "token" is reported at its token object). */
        snprintf(where, sizeof(where), "%s", x->where);
        while ((line = path_line(x->text, where)) == 0) {
            cut = strrchr(where, '.');
            if (cut == NULL || (strrchr(where, '[') > cut))
                cut = strrchr(where, '[');
            if (cut == NULL)
                break;
            *cut = '\0';
        }
    }
    if (line > 0)
        snprintf(err, errlen, "%s:%u: %s", x->path, line, x->msg);
    else
        snprintf(err, errlen, "%s: %s", x->path, x->msg);
}

/* ---- public ------------------------------------------------------------ */

void
vmctld_config_defaults(vmctld_config_t *cfg)
{
    load_ctx_t x;
    size_t i;

    memset(cfg, 0, sizeof(*cfg));
    memset(&x, 0, sizeof(x));
    for (i = 0; i < NKEYS; i++)
        if (keys[i].def != NULL)
            (void)set_text(&x, cfg, &keys[i], keys[i].def, false,
                           keys[i].name);
}

int
vmctld_config_load(const char *path, vmctld_config_t *cfg, char *err,
                   size_t errlen)
{
    /* Large (paths are arrays): not on the stack of a small thread. */
    load_ctx_t *x = NULL;
    vmctld_config_t *c = NULL;
    cJSON *root = NULL;
    char *text = NULL;
    int rc = -1;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if ((x = calloc(1, sizeof(*x))) == NULL ||
        (c = calloc(1, sizeof(*c))) == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "out of memory");
        goto out;
    }
    vmctld_config_defaults(c);
    x->path = path;
    if (path != NULL) {
        const char *slash = strrchr(path, '/');
        const char *end = NULL;

        if (strlen(path) >= sizeof(c->file)) {
            snprintf(x->msg, sizeof(x->msg), "path too long");
            goto fail;
        }
        memcpy(c->file, path, strlen(path) + 1);
        if (slash != NULL)
            snprintf(x->dir, sizeof(x->dir), "%.*s/", (int)(slash - path),
                     path);
        if (read_file(x, path, &text) != 0)
            goto fail;
        x->text = text;
        /* The whole text must be one value: with the terminating NUL in
         * the length, cJSON refuses anything after it. */
        root = cJSON_ParseWithLengthOpts(text, strlen(text) + 1, &end, true);
        if (root == NULL) {
            size_t off =
                end != NULL && end >= text ? (size_t)(end - text) : 0;
            char near[24];
            size_t i, n = 0;

            /* What cJSON stopped at, printable, for the message. */
            for (i = off; text[i] != '\0' && n < 16; i++)
                near[n++] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
            while (n > 0 && near[n - 1] == ' ')
                n--;
            near[n] = '\0';
            if (err != NULL && n > 0)
                snprintf(err, errlen, "%s:%u: JSON syntax error near \"%s\"",
                         path, line_at(text, off), near);
            else if (err != NULL) {
                /* At the end: the line of the last thing there is. */
                while (off > 0 && strchr(" \t\r\n", text[off - 1]) != NULL)
                    off--;
                snprintf(err, errlen,
                         "%s:%u: JSON syntax error: unexpected end of file",
                         path, line_at(text, off));
            }
            goto out;
        }
        if (parse_file(x, c, root) != 0)
            goto fail;
    }
    if (apply_env(x, c) != 0 || check_all(x, c) != 0)
        goto fail;
    *cfg = *c;
    c->tokens = NULL;
    c->trusted_keys = NULL;
    rc = 0;
    goto out;
fail:
    format_error(x, err, errlen);
out:
    if (rc != 0) {
        vmctld_config_defaults(cfg);
        snprintf(cfg->file, sizeof(cfg->file), "%s",
                 path != NULL ? path : "");
    }
    if (c != NULL)
        vmctld_config_free(c);
    cJSON_Delete(root);
    free(text);
    free(c);
    free(x);
    return rc;
}

void
vmctld_config_free(vmctld_config_t *cfg)
{
    if (cfg == NULL)
        return;
    if (cfg->tokens != NULL)
        /* The secrets do not linger in freed memory. */
        memset(cfg->tokens, 0, cfg->ntokens * sizeof(cfg->tokens[0]));
    free(cfg->tokens);
    free(cfg->trusted_keys);
    cfg->tokens = NULL;
    cfg->ntokens = 0;
    cfg->trusted_keys = NULL;
    cfg->ntrusted_keys = 0;
}

/* Append `name` to the comma-separated list in buf. */
static void
list_add(char *buf, size_t len, const char *name)
{
    size_t n;

    if (buf == NULL || len == 0)
        return;
    n = strlen(buf);
    snprintf(buf + n, len - n, "%s%s", n > 0 ? ", " : "", name);
}

size_t
vmctld_config_reload(vmctld_config_t *run, vmctld_config_t *fresh,
                     char *pending, size_t len)
{
    size_t i, n = 0;
    bool same;

    if (pending != NULL && len > 0)
        pending[0] = '\0';
    for (i = 0; i < NKEYS; i++) {
        const key_row_t *r = &keys[i];

        if (r->type == KT_TOKENS) {
            continue; /* reloadable: moved below */
        } else if (r->type == KT_PATHS) {
            size_t k;

            same = run->ntrusted_keys == fresh->ntrusted_keys;
            for (k = 0; same && k < run->ntrusted_keys; k++)
                same = strcmp(run->trusted_keys[k],
                              fresh->trusted_keys[k]) == 0;
        } else if (r->type == KT_U32 || r->type == KT_U64) {
            same = load_int(run, r) == load_int(fresh, r);
        } else {
            same = strcmp((const char *)run + r->off,
                          (const char *)fresh + r->off) == 0;
        }
        if (same)
            continue;
        if (r->reloadable) {
            memcpy((char *)run + r->off, (const char *)fresh + r->off,
                   r->size);
        } else {
            list_add(pending, len, r->name);
            n++;
        }
    }
    /* The tokens: the new list replaces the old one. */
    if (run->tokens != NULL)
        memset(run->tokens, 0, run->ntokens * sizeof(run->tokens[0]));
    free(run->tokens);
    run->tokens = fresh->tokens;
    run->ntokens = fresh->ntokens;
    fresh->tokens = NULL;
    fresh->ntokens = 0;
    vmctld_config_free(fresh);
    return n;
}

void
vmctld_config_print_keys(void *stdio_file)
{
    FILE *f = stdio_file;
    size_t i;

    fprintf(f, "%-26s %-22s %-6s %-32s %s\n", "KEY", "TYPE", "RELOAD",
            "ENVIRONMENT", "DEFAULT");
    for (i = 0; i < NKEYS; i++) {
        const key_row_t *r = &keys[i];
        char type[48];
        const char *def = r->def;

        switch (r->type) {
        case KT_U32:
        case KT_U64:
            snprintf(type, sizeof(type), "int %llu..%llu",
                     (unsigned long long)r->min, (unsigned long long)r->max);
            break;
        case KT_PATH:
            snprintf(type, sizeof(type), "path");
            break;
        case KT_URI:
            snprintf(type, sizeof(type), "uri");
            break;
        case KT_LISTEN:
            snprintf(type, sizeof(type), "host:port");
            break;
        case KT_LEVEL:
            snprintf(type, sizeof(type), "error|warn|info|debug");
            break;
        case KT_TOKENS:
            snprintf(type, sizeof(type), "list of tokens");
            break;
        case KT_PATHS:
            snprintf(type, sizeof(type), "list of paths");
            break;
        default:
            snprintf(type, sizeof(type), "string");
            break;
        }
        if (strcmp(r->name, "storage.db_path") == 0)
            def = "DATA_DIR/vmctld.db";
        else if (strcmp(r->name, "storage.store_dir") == 0)
            def = "DATA_DIR/store";
        else if (def == NULL)
            def = "(required)";
        else if (def[0] == '\0')
            def = "\"\" (none)";
        if (r->type == KT_TOKENS) {
            /* Two variables, one per role. */
            fprintf(f, "%-26s %-22s %-6s %-32s %s\n", r->name, type, "yes",
                    "VMCTLD_OPERATOR_TOKEN", def);
            fprintf(f, "%-26s %-22s %-6s %s\n", "", "", "",
                    "VMCTLD_VIEWER_TOKEN");
            continue;
        }
        fprintf(f, "%-26s %-22s %-6s %-32s %s\n", r->name, type,
                r->reloadable ? "yes" : "no", r->env, def);
    }
    fprintf(f,
            "\n"
            "The file is JSON, keys grouped by their prefix: {\"http\": "
            "{\"listen\": \"0.0.0.0:8080\"}}.\n"
            "tokens: [{\"name\": \"alice\", \"role\": \"operator\" | "
            "\"viewer\", \"token\": \"...\" | \"token_file\": \"F\"}]\n"
            "  (a token has 16..127 printable characters; "
            "VMCTLD_OPERATOR_TOKEN and\n"
            "  VMCTLD_VIEWER_TOKEN each add one, named env-operator and "
            "env-viewer).\n"
            "trust.keys: [\"fleet.pub\", ...]; VMCTLD_TRUST_KEYS=a.pub:b.pub "
            "replaces the list.\n"
            "A variable that is set and not empty wins over the file.  "
            "Relative paths in the\n"
            "file are relative to the file's directory.  Sizes are in "
            "bytes.\n");
}
