/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * VM manifests and the device config file, both JSON (docs/runtime.md).
 * This is the one file of the runtime that includes cJSON.  Every error
 * names the key it is about ("priority: must be 0..31"); the config loader
 * adds the line where that key appears.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "vm/core.h"

#define CONFIG_MAX_BYTES (1u << 20)

void
vmrt__err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void
vmrt_manifest_init(vmrt_manifest_t *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->version, sizeof(m->version), "0");
    m->priority = 16;
    m->slice_us = 1000;
    m->memory_pages = 256;
    m->storage_quota = 1024 * 1024;
    m->affinity = -1;
    m->restart = VMRT_RESTART_NEVER;
    m->max_retries = 5;
    m->backoff_ms = 100;
    m->backoff_max_ms = 10000;
}

/* Every character is a letter, a digit, '_', '-' or '.'. */
static bool
name_chars_ok(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              *s == '.'))
            return false;
    }
    return true;
}

/* A VM, device or service name: those characters, not starting with '.'. */
static bool
name_ok(const char *s)
{
    return *s != '\0' && *s != '.' && name_chars_ok(s);
}

/*
 * get_uint: read an integer in [min, max] from `it`.
 * Return: 0, or VMRT_EINVAL with err naming `key`.
 */
static int
get_uint(const cJSON *it, const char *key, uint64_t min, uint64_t max,
         uint64_t *out, char *err, size_t errlen)
{
    double d;

    if (!cJSON_IsNumber(it)) {
        vmrt__err(err, errlen, "%s: must be a number", key);
        return VMRT_EINVAL;
    }
    d = it->valuedouble;
    if (d < (double)min || d > (double)max || d != (double)(uint64_t)d) {
        vmrt__err(err, errlen, "%s: must be an integer %llu..%llu", key,
                  (unsigned long long)min, (unsigned long long)max);
        return VMRT_EINVAL;
    }
    *out = (uint64_t)d;
    return 0;
}

static int
get_str(const cJSON *it, const char *key, char *dst, size_t cap, bool isname,
        char *err, size_t errlen)
{
    if (!cJSON_IsString(it)) {
        vmrt__err(err, errlen, "%s: must be a string", key);
        return VMRT_EINVAL;
    }
    if (strlen(it->valuestring) >= cap) {
        vmrt__err(err, errlen, "%s: longer than %zu characters", key,
                  cap - 1);
        return VMRT_EINVAL;
    }
    if (isname && !name_ok(it->valuestring)) {
        vmrt__err(err, errlen,
                  "%s: '%s' is not a name (letters, digits, _ - .)", key,
                  it->valuestring);
        return VMRT_EINVAL;
    }
    snprintf(dst, cap, "%s", it->valuestring);
    return 0;
}

static int
get_bool(const cJSON *it, const char *key, bool *out, char *err,
         size_t errlen)
{
    if (!cJSON_IsBool(it)) {
        vmrt__err(err, errlen, "%s: must be true or false", key);
        return VMRT_EINVAL;
    }
    *out = cJSON_IsTrue(it);
    return 0;
}

/* A JSON array of up to `max` names into dst[max][VMRT_NAME_MAX]. */
static int
get_names(const cJSON *it, const char *key, char (*dst)[VMRT_NAME_MAX],
          uint32_t max, uint32_t *n, char *err, size_t errlen)
{
    const cJSON *e;
    char sub[64];
    int rc;

    if (!cJSON_IsArray(it)) {
        vmrt__err(err, errlen, "%s: must be an array of names", key);
        return VMRT_EINVAL;
    }
    *n = 0;
    cJSON_ArrayForEach(e, it) {
        if (*n == max) {
            vmrt__err(err, errlen, "%s: more than %u entries", key, max);
            return VMRT_EINVAL;
        }
        snprintf(sub, sizeof(sub), "%s[%u]", key, *n);
        if ((rc = get_str(e, sub, dst[*n], VMRT_NAME_MAX, true, err,
                          errlen)) != 0)
            return rc;
        (*n)++;
    }
    return 0;
}

static int
parse_grants(const cJSON *it, vmrt_manifest_t *m, char *err, size_t errlen)
{
    const cJSON *e, *f;
    char key[64];
    int rc;

    if (!cJSON_IsArray(it)) {
        vmrt__err(err, errlen, "grants: must be an array");
        return VMRT_EINVAL;
    }
    m->ngrants = 0;
    cJSON_ArrayForEach(e, it) {
        if (m->ngrants == VMRT_MAX_GRANTS) {
            vmrt__err(err, errlen, "grants: more than %d entries",
                      VMRT_MAX_GRANTS);
            return VMRT_EINVAL;
        }
        if (!cJSON_IsObject(e)) {
            vmrt__err(err, errlen, "grants[%u]: must be an object",
                      m->ngrants);
            return VMRT_EINVAL;
        }
        cJSON_ArrayForEach(f, e) {
            snprintf(key, sizeof(key), "grants[%u].%s", m->ngrants,
                     f->string);
            if (strcmp(f->string, "device") == 0)
                rc = get_str(f, key, m->grants[m->ngrants].name,
                             VMRT_NAME_MAX, true, err, errlen);
            else if (strcmp(f->string, "exclusive") == 0)
                rc = get_bool(f, key, &m->grants[m->ngrants].exclusive, err,
                              errlen);
            else {
                vmrt__err(err, errlen, "%s: unknown key", key);
                rc = VMRT_EINVAL;
            }
            if (rc != 0)
                return rc;
        }
        if (m->grants[m->ngrants].name[0] == '\0') {
            vmrt__err(err, errlen, "grants[%u].device: missing",
                      m->ngrants);
            return VMRT_EINVAL;
        }
        m->ngrants++;
    }
    return 0;
}

static int
parse_net(const cJSON *it, vmrt_manifest_t *m, char *err, size_t errlen)
{
    const cJSON *e, *f;
    char key[64];
    uint64_t v;
    int rc;

    if (!cJSON_IsArray(it)) {
        vmrt__err(err, errlen, "net_allow: must be an array");
        return VMRT_EINVAL;
    }
    m->nnet_allow = 0;
    cJSON_ArrayForEach(e, it) {
        uint32_t i = m->nnet_allow;

        if (i == VMRT_MAX_NET_ALLOW) {
            vmrt__err(err, errlen, "net_allow: more than %d entries",
                      VMRT_MAX_NET_ALLOW);
            return VMRT_EINVAL;
        }
        if (!cJSON_IsObject(e)) {
            vmrt__err(err, errlen, "net_allow[%u]: must be an object", i);
            return VMRT_EINVAL;
        }
        cJSON_ArrayForEach(f, e) {
            snprintf(key, sizeof(key), "net_allow[%u].%s", i, f->string);
            if (strcmp(f->string, "host") == 0) {
                rc = get_str(f, key, m->net_allow[i].host,
                             sizeof(m->net_allow[i].host), false, err,
                             errlen);
            } else if (strcmp(f->string, "port") == 0) {
                if ((rc = get_uint(f, key, 0, 65535, &v, err, errlen)) == 0)
                    m->net_allow[i].port = (uint16_t)v;
            } else if (strcmp(f->string, "proto") == 0) {
                rc = 0;
                if (cJSON_IsString(f) && strcmp(f->valuestring, "tcp") == 0)
                    m->net_allow[i].proto = 0;
                else if (cJSON_IsString(f) &&
                         strcmp(f->valuestring, "udp") == 0)
                    m->net_allow[i].proto = 1;
                else {
                    vmrt__err(err, errlen, "%s: must be \"tcp\" or \"udp\"",
                              key);
                    rc = VMRT_EINVAL;
                }
            } else {
                vmrt__err(err, errlen, "%s: unknown key", key);
                rc = VMRT_EINVAL;
            }
            if (rc != 0)
                return rc;
        }
        if (m->net_allow[i].host[0] == '\0') {
            vmrt__err(err, errlen, "net_allow[%u].host: missing", i);
            return VMRT_EINVAL;
        }
        m->nnet_allow++;
    }
    return 0;
}

static int parse_list(const cJSON *it, const char *what, char *base,
                      size_t stride, uint32_t max, uint32_t *n,
                      const char *cfgpath, char *err, size_t errlen);

static int
parse_args(const cJSON *it, vmrt_manifest_t *m, char *err, size_t errlen)
{
    return parse_list(it, "args", m->args[0], sizeof(m->args[0]),
                      VMRT_MAX_ARGS, &m->nargs, NULL, err, errlen);
}

/*
 * parse_obj: fill `m` (already defaulted) from a manifest object.
 * Return: 0, or VMRT_EINVAL with err naming the key (without a prefix).
 */
static int
parse_obj(const cJSON *o, vmrt_manifest_t *m, char *err, size_t errlen)
{
    const cJSON *it;
    uint64_t v;
    int rc = 0;

    if (!cJSON_IsObject(o)) {
        vmrt__err(err, errlen, "manifest: must be a JSON object");
        return VMRT_EINVAL;
    }
    cJSON_ArrayForEach(it, o) {
        const char *k = it->string;

        if (strcmp(k, "name") == 0)
            rc = get_str(it, k, m->name, sizeof(m->name), true, err, errlen);
        else if (strcmp(k, "module") == 0)
            rc = get_str(it, k, m->module, sizeof(m->module), false, err,
                         errlen);
        else if (strcmp(k, "version") == 0)
            rc = get_str(it, k, m->version, sizeof(m->version), false, err,
                         errlen);
        else if (strcmp(k, "priority") == 0) {
            if ((rc = get_uint(it, k, 0, VMRT_PRIO_LEVELS - 1, &v, err,
                               errlen)) == 0)
                m->priority = (uint8_t)v;
        } else if (strcmp(k, "slice_us") == 0) {
            if ((rc = get_uint(it, k, 50, 10000000, &v, err, errlen)) == 0)
                m->slice_us = (uint32_t)v;
        } else if (strcmp(k, "memory_pages") == 0) {
            if ((rc = get_uint(it, k, 1, 65536, &v, err, errlen)) == 0)
                m->memory_pages = (uint32_t)v;
        } else if (strcmp(k, "storage_quota") == 0) {
            rc = get_uint(it, k, 0, UINT64_C(1) << 50, &m->storage_quota, err,
                          errlen);
        } else if (strcmp(k, "affinity") == 0) {
            if (cJSON_IsString(it) && strcmp(it->valuestring, "any") == 0)
                m->affinity = -1;
            else if ((rc = get_uint(it, k, 0, 1023, &v, err, errlen)) == 0)
                m->affinity = (int32_t)v;
            else
                vmrt__err(err, errlen,
                          "affinity: must be a worker index 0..1023 or "
                          "\"any\"");
        } else if (strcmp(k, "grants") == 0)
            rc = parse_grants(it, m, err, errlen);
        else if (strcmp(k, "provides") == 0)
            rc = get_names(it, k, m->provides, VMRT_MAX_SERVICES,
                           &m->nprovides, err, errlen);
        else if (strcmp(k, "calls") == 0)
            rc = get_names(it, k, m->calls, VMRT_MAX_SERVICES, &m->ncalls,
                           err, errlen);
        else if (strcmp(k, "net_allow") == 0)
            rc = parse_net(it, m, err, errlen);
        else if (strcmp(k, "restart") == 0) {
            if (cJSON_IsString(it) && strcmp(it->valuestring, "never") == 0)
                m->restart = VMRT_RESTART_NEVER;
            else if (cJSON_IsString(it) &&
                     strcmp(it->valuestring, "on-failure") == 0)
                m->restart = VMRT_RESTART_ON_FAILURE;
            else {
                vmrt__err(err, errlen,
                          "restart: must be \"never\" or \"on-failure\"");
                rc = VMRT_EINVAL;
            }
        } else if (strcmp(k, "max_retries") == 0) {
            if ((rc = get_uint(it, k, 0, 1000000, &v, err, errlen)) == 0)
                m->max_retries = (uint32_t)v;
        } else if (strcmp(k, "backoff_ms") == 0) {
            if ((rc = get_uint(it, k, 0, 86400000, &v, err, errlen)) == 0)
                m->backoff_ms = (uint32_t)v;
        } else if (strcmp(k, "backoff_max_ms") == 0) {
            if ((rc = get_uint(it, k, 0, 86400000, &v, err, errlen)) == 0)
                m->backoff_max_ms = (uint32_t)v;
        } else if (strcmp(k, "watchdog_ms") == 0) {
            if ((rc = get_uint(it, k, 0, 86400000, &v, err, errlen)) == 0)
                m->watchdog_ms = (uint32_t)v;
        } else if (strcmp(k, "args") == 0)
            rc = parse_args(it, m, err, errlen);
        else if (strcmp(k, "ota_confirm") == 0)
            rc = get_bool(it, k, &m->ota_confirm, err, errlen);
        else {
            vmrt__err(err, errlen, "%s: unknown key", k);
            rc = VMRT_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    if (m->name[0] == '\0') {
        vmrt__err(err, errlen, "name: missing");
        return VMRT_EINVAL;
    }
    if (m->backoff_max_ms < m->backoff_ms) {
        vmrt__err(err, errlen, "backoff_max_ms: must be >= backoff_ms (%u)",
                  m->backoff_ms);
        return VMRT_EINVAL;
    }
    return 0;
}

/* 1-based line of byte offset `off` in text. */
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

int
vmrt_manifest_parse(const char *json, size_t len, vmrt_manifest_t *m,
                    char *err, size_t errlen)
{
    const char *end = NULL;
    cJSON *root;
    int rc;

    vmrt_manifest_init(m);
    root = cJSON_ParseWithLengthOpts(json, len, &end, false);
    if (root == NULL) {
        size_t off = end != NULL && end >= json ? (size_t)(end - json) : 0;

        vmrt__err(err, errlen, "manifest: JSON syntax error at line %u",
                  line_at(json, off));
        return VMRT_EINVAL;
    }
    rc = parse_obj(root, m, err, errlen);
    cJSON_Delete(root);
    return rc;
}

static bool
add_names(cJSON *o, const char *key, const char (*names)[VMRT_NAME_MAX],
          uint32_t n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);
    uint32_t i;

    if (a == NULL)
        return false;
    for (i = 0; i < n; i++) {
        cJSON *s = cJSON_CreateString(names[i]);

        if (s == NULL || !cJSON_AddItemToArray(a, s))
            return false;
    }
    return true;
}

/* Build the JSON object of a manifest; NULL on allocation failure. */
static cJSON *
manifest_obj(const vmrt_manifest_t *m)
{
    cJSON *o, *a, *e;
    uint32_t i;

    if ((o = cJSON_CreateObject()) == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "name", m->name);
    if (m->module[0] != '\0')
        cJSON_AddStringToObject(o, "module", m->module);
    cJSON_AddStringToObject(o, "version", m->version);
    cJSON_AddNumberToObject(o, "priority", m->priority);
    cJSON_AddNumberToObject(o, "slice_us", m->slice_us);
    cJSON_AddNumberToObject(o, "memory_pages", m->memory_pages);
    cJSON_AddNumberToObject(o, "storage_quota", (double)m->storage_quota);
    if (m->affinity < 0)
        cJSON_AddStringToObject(o, "affinity", "any");
    else
        cJSON_AddNumberToObject(o, "affinity", m->affinity);
    if ((a = cJSON_AddArrayToObject(o, "grants")) == NULL)
        goto fail;
    for (i = 0; i < m->ngrants && i < VMRT_MAX_GRANTS; i++) {
        if ((e = cJSON_CreateObject()) == NULL ||
            !cJSON_AddItemToArray(a, e))
            goto fail;
        cJSON_AddStringToObject(e, "device", m->grants[i].name);
        cJSON_AddBoolToObject(e, "exclusive", m->grants[i].exclusive);
    }
    if (!add_names(o, "provides", m->provides, m->nprovides) ||
        !add_names(o, "calls", m->calls, m->ncalls))
        goto fail;
    if ((a = cJSON_AddArrayToObject(o, "net_allow")) == NULL)
        goto fail;
    for (i = 0; i < m->nnet_allow && i < VMRT_MAX_NET_ALLOW; i++) {
        if ((e = cJSON_CreateObject()) == NULL ||
            !cJSON_AddItemToArray(a, e))
            goto fail;
        cJSON_AddStringToObject(e, "host", m->net_allow[i].host);
        cJSON_AddNumberToObject(e, "port", m->net_allow[i].port);
        cJSON_AddStringToObject(e, "proto",
                                m->net_allow[i].proto ? "udp" : "tcp");
    }
    cJSON_AddStringToObject(o, "restart",
                            m->restart == VMRT_RESTART_ON_FAILURE
                                ? "on-failure" : "never");
    cJSON_AddNumberToObject(o, "max_retries", m->max_retries);
    cJSON_AddNumberToObject(o, "backoff_ms", m->backoff_ms);
    cJSON_AddNumberToObject(o, "backoff_max_ms", m->backoff_max_ms);
    cJSON_AddNumberToObject(o, "watchdog_ms", m->watchdog_ms);
    if ((a = cJSON_AddArrayToObject(o, "args")) == NULL)
        goto fail;
    for (i = 0; i < m->nargs && i < VMRT_MAX_ARGS; i++) {
        if ((e = cJSON_CreateString(m->args[i])) == NULL ||
            !cJSON_AddItemToArray(a, e))
            goto fail;
    }
    cJSON_AddBoolToObject(o, "ota_confirm", m->ota_confirm);
    return o;
fail:
    cJSON_Delete(o);
    return NULL;
}

char *
vmrt_manifest_to_json(const vmrt_manifest_t *m)
{
    cJSON *o = manifest_obj(m);
    char *s;

    if (o == NULL)
        return NULL;
    s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

void
vmrt_json_free(char *s)
{
    if (s != NULL)
        cJSON_free(s);
}

/*
 * key_line: best-effort line of the key an error is about.  The error text
 * starts with the key path ("vms[1].priority: ..."); find the last path
 * component as "component" in the text, after the start of the i-th VM
 * object when the path is inside "vms".  Returns 0 if not found.
 */
static unsigned
key_line(const char *text, const char *errmsg, const char *from)
{
    char key[64];
    const char *p, *c, *hit;
    size_t n;

    p = strchr(errmsg, ':');
    if (p == NULL || (size_t)(p - errmsg) >= sizeof(key) - 2)
        return 0;
    memcpy(key, errmsg, (size_t)(p - errmsg));
    key[p - errmsg] = '\0';
    /* Last component, without an [index]. */
    c = strrchr(key, '.');
    c = c != NULL ? c + 1 : key;
    n = strcspn(c, "[");
    {
        char pat[72];

        snprintf(pat, sizeof(pat), "\"%.*s\"", (int)n, c);
        hit = strstr(from != NULL ? from : text, pat);
        if (hit == NULL)
            hit = strstr(text, pat);
    }
    return hit != NULL ? line_at(text, (size_t)(hit - text)) : 0;
}

/* Resolve a module path relative to the config file's directory. */
static void
resolve_module(vmrt_manifest_t *m, const char *cfgpath)
{
    const char *slash = strrchr(cfgpath, '/');
    char buf[VMRT_PATH_MAX];
    int n;

    if (m->module[0] == '/' || m->module[0] == '\0' || slash == NULL)
        return;
    n = snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - cfgpath),
                 cfgpath, m->module);
    if (n > 0 && (size_t)n < sizeof(buf))
        memcpy(m->module, buf, (size_t)n + 1);
}

/* ---- the "ota" section -------------------------------------------------- */

#define OTA_KEYFILE_MAX (64u * 1024)

/*
 * resolve_path: make `p` (a path from the config) relative to the config
 * file's directory unless it is absolute.
 * Return: 0, or VMRT_EINVAL with err naming `key` if it gets too long.
 */
static int
resolve_path(char *p, size_t cap, const char *cfgpath, const char *key,
             char *err, size_t errlen)
{
    const char *slash = strrchr(cfgpath, '/');
    char buf[VMRT_PATH_MAX];
    int n;

    if (p[0] == '/' || p[0] == '\0' || slash == NULL)
        return 0;
    n = snprintf(buf, sizeof(buf), "%.*s/%s", (int)(slash - cfgpath),
                 cfgpath, p);
    if (n < 0 || (size_t)n >= sizeof(buf) || (size_t)n >= cap) {
        vmrt__err(err, errlen, "%s: path too long after joining it to the "
                  "config's directory", key);
        return VMRT_EINVAL;
    }
    memcpy(p, buf, (size_t)n + 1);
    return 0;
}

/*
 * get_file: a string naming a file that must be readable now (a key or a
 * certificate), resolved against the config file's directory.
 * Return: 0, or VMRT_EINVAL with err naming `key` and the file.
 */
static int
get_file(const cJSON *it, const char *key, char *dst, size_t cap,
         const char *cfgpath, char *err, size_t errlen)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if ((rc = get_str(it, key, dst, cap, false, err, errlen)) != 0)
        return rc;
    if (dst[0] == '\0') {
        vmrt__err(err, errlen, "%s: must not be empty", key);
        return VMRT_EINVAL;
    }
    if ((rc = resolve_path(dst, cap, cfgpath, key, err, errlen)) != 0)
        return rc;
    if ((rc = pl_file_read_all(dst, OTA_KEYFILE_MAX, &buf, &len)) != 0) {
        vmrt__err(err, errlen, "%s: %s: %s", key, dst, pl_strerror(rc));
        return VMRT_EINVAL;
    }
    pl_free_file(buf);
    return 0;
}

/* A device id: [A-Za-z0-9._-]{1,63} (a topic level, so no '/', '+', '#'). */
static bool
device_id_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < VMRT_OTA_ID_MAX && name_chars_ok(s);
}

/* A broker URI as Paho takes it: scheme://host[:port]. */
static bool
broker_ok(const char *s)
{
    static const char *const schemes[] = { "tcp://", "ssl://", "mqtt://",
                                           "mqtts://", "ws://", "wss://" };
    size_t i, n;

    for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0)
            return s[n] != '\0' && strpbrk(s + n, " \t\r\n") == NULL;
    }
    return false;
}

/*
 * parse_list: a JSON array of strings into `max` fields of `stride` bytes
 * from `base`, counted in *n; with cfgpath, each is a file path made
 * relative to the config file and checked (get_file).  Errors name the
 * entry ("what[2]: ...").
 */
static int
parse_list(const cJSON *it, const char *what, char *base, size_t stride,
           uint32_t max, uint32_t *n, const char *cfgpath, char *err,
           size_t errlen)
{
    const cJSON *e;
    char key[48];
    int rc;

    if (!cJSON_IsArray(it)) {
        vmrt__err(err, errlen, "%s: must be an array of %s", what,
                  cfgpath != NULL ? "file paths" : "strings");
        return VMRT_EINVAL;
    }
    *n = 0;
    cJSON_ArrayForEach(e, it) {
        char *dst = base + (size_t)*n * stride;

        if (*n == max) {
            vmrt__err(err, errlen, "%s: more than %u entries", what,
                      (unsigned)max);
            return VMRT_EINVAL;
        }
        snprintf(key, sizeof(key), "%.24s[%u]", what, (unsigned)*n);
        rc = cfgpath != NULL
                 ? get_file(e, key, dst, stride, cfgpath, err, errlen)
                 : get_str(e, key, dst, stride, false, err, errlen);
        if (rc != 0)
            return rc;
        (*n)++;
    }
    return 0;
}

static int
parse_ota_keys(const cJSON *it, vmrt_ota_config_t *o, const char *cfgpath,
               char *err, size_t errlen)
{
    return parse_list(it, "ota.trusted_keys", o->trusted_keys[0],
                      sizeof(o->trusted_keys[0]), VMRT_OTA_MAX_KEYS,
                      &o->ntrusted_keys, cfgpath, err, errlen);
}

static int
parse_ota_labels(const cJSON *it, vmrt_ota_config_t *o, char *err,
                 size_t errlen)
{
    const cJSON *e;
    char key[96];
    int rc;

    if (!cJSON_IsObject(it)) {
        vmrt__err(err, errlen,
                  "ota.labels: must be an object of string values");
        return VMRT_EINVAL;
    }
    o->nlabels = 0;
    cJSON_ArrayForEach(e, it) {
        uint32_t i = o->nlabels;

        snprintf(key, sizeof(key), "ota.labels.%.40s", e->string);
        if (i == VMRT_OTA_MAX_LABELS) {
            vmrt__err(err, errlen, "ota.labels: more than %d entries",
                      VMRT_OTA_MAX_LABELS);
            return VMRT_EINVAL;
        }
        if (strlen(e->string) >= sizeof(o->labels[i].key) ||
            !name_ok(e->string)) {
            vmrt__err(err, errlen,
                      "%s: a label name is 1..%zu letters, digits, _ - .",
                      key, sizeof(o->labels[i].key) - 1);
            return VMRT_EINVAL;
        }
        snprintf(o->labels[i].key, sizeof(o->labels[i].key), "%s",
                 e->string);
        if ((rc = get_str(e, key, o->labels[i].value,
                          sizeof(o->labels[i].value), false, err,
                          errlen)) != 0)
            return rc;
        o->nlabels++;
    }
    return 0;
}

static int
parse_ota_tls(const cJSON *it, vmrt_ota_config_t *o, const char *cfgpath,
              char *err, size_t errlen)
{
    const cJSON *e;
    char key[64];
    int rc;

    if (!cJSON_IsObject(it)) {
        vmrt__err(err, errlen, "ota.tls: must be an object (ca, cert, key)");
        return VMRT_EINVAL;
    }
    cJSON_ArrayForEach(e, it) {
        snprintf(key, sizeof(key), "ota.tls.%.40s", e->string);
        if (strcmp(e->string, "ca") == 0)
            rc = get_file(e, key, o->tls_ca, sizeof(o->tls_ca), cfgpath, err,
                          errlen);
        else if (strcmp(e->string, "cert") == 0)
            rc = get_file(e, key, o->tls_cert, sizeof(o->tls_cert), cfgpath,
                          err, errlen);
        else if (strcmp(e->string, "key") == 0)
            rc = get_file(e, key, o->tls_key, sizeof(o->tls_key), cfgpath,
                          err, errlen);
        else {
            vmrt__err(err, errlen, "%s: unknown key", key);
            rc = VMRT_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    if (o->tls_ca[0] == '\0') {
        vmrt__err(err, errlen, "ota.tls.ca: missing");
        return VMRT_EINVAL;
    }
    if ((o->tls_cert[0] == '\0') != (o->tls_key[0] == '\0')) {
        vmrt__err(err, errlen, "ota.tls.%s: missing (cert and key come "
                  "together)", o->tls_cert[0] == '\0' ? "cert" : "key");
        return VMRT_EINVAL;
    }
    return 0;
}

static int
parse_ota_args(const cJSON *it, vmrt_ota_config_t *o, char *err,
               size_t errlen)
{
    return parse_list(it, "ota.args", o->args[0], sizeof(o->args[0]),
                      VMRT_OTA_MAX_ARGS, &o->nargs, NULL, err, errlen);
}

/*
 * parse_ota: the "ota" object into `o`, with defaults for what it omits.
 * Return: 0, or VMRT_EINVAL with err = "ota.key: reason".
 */
static int
parse_ota(const cJSON *obj, vmrt_ota_config_t *o, const char *cfgpath,
          char *err, size_t errlen)
{
    const cJSON *it;
    char key[64];
    uint64_t v;
    int rc = 0;

    memset(o, 0, sizeof(*o));
    if (!cJSON_IsObject(obj)) {
        vmrt__err(err, errlen, "ota: must be an object");
        return VMRT_EINVAL;
    }
    o->enabled = true;
    snprintf(o->exec, sizeof(o->exec), "vmrt-ota");
    o->health_window_ms = 10000;
    o->window = 8;
    o->max_package = 16u * 1024 * 1024;
    cJSON_ArrayForEach(it, obj) {
        const char *k = it->string;

        snprintf(key, sizeof(key), "ota.%.40s", k);
        if (strcmp(k, "exec") == 0) {
            if ((rc = get_str(it, key, o->exec, sizeof(o->exec), false, err,
                              errlen)) == 0 && o->exec[0] == '\0') {
                vmrt__err(err, errlen, "%s: must not be empty", key);
                rc = VMRT_EINVAL;
            }
            /* A bare name is looked up by the daemon; a path with a '/'
             * is relative to the config file, like the modules. */
            if (rc == 0 && strchr(o->exec, '/') != NULL)
                rc = resolve_path(o->exec, sizeof(o->exec), cfgpath, key,
                                  err, errlen);
        } else if (strcmp(k, "device_id") == 0) {
            if ((rc = get_str(it, key, o->device_id, sizeof(o->device_id),
                              false, err, errlen)) == 0 &&
                !device_id_ok(o->device_id)) {
                vmrt__err(err, errlen,
                          "%s: '%s' is not a device id (1..%d letters, "
                          "digits, _ - .)", key, o->device_id,
                          VMRT_OTA_ID_MAX - 1);
                rc = VMRT_EINVAL;
            }
        } else if (strcmp(k, "broker") == 0) {
            if ((rc = get_str(it, key, o->broker, sizeof(o->broker), false,
                              err, errlen)) == 0 && !broker_ok(o->broker)) {
                vmrt__err(err, errlen,
                          "%s: '%s' is not a broker URI (tcp://HOST:PORT, "
                          "ssl://, mqtt://, mqtts://, ws://, wss://)", key,
                          o->broker);
                rc = VMRT_EINVAL;
            }
        } else if (strcmp(k, "trusted_keys") == 0)
            rc = parse_ota_keys(it, o, cfgpath, err, errlen);
        else if (strcmp(k, "allow_create") == 0)
            rc = get_bool(it, key, &o->allow_create, err, errlen);
        else if (strcmp(k, "health_window_ms") == 0) {
            if ((rc = get_uint(it, key, 100, 3600000, &v, err, errlen)) == 0)
                o->health_window_ms = (uint32_t)v;
        } else if (strcmp(k, "window") == 0) {
            if ((rc = get_uint(it, key, 1, 256, &v, err, errlen)) == 0)
                o->window = (uint32_t)v;
        } else if (strcmp(k, "max_package") == 0) {
            rc = get_uint(it, key, 1024, UINT64_C(1) << 32, &o->max_package,
                          err, errlen);
        } else if (strcmp(k, "labels") == 0)
            rc = parse_ota_labels(it, o, err, errlen);
        else if (strcmp(k, "tls") == 0)
            rc = parse_ota_tls(it, o, cfgpath, err, errlen);
        else if (strcmp(k, "args") == 0)
            rc = parse_ota_args(it, o, err, errlen);
        else {
            vmrt__err(err, errlen, "%s: unknown key", key);
            rc = VMRT_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    if (o->device_id[0] == '\0') {
        vmrt__err(err, errlen, "ota.device_id: missing");
        return VMRT_EINVAL;
    }
    if (o->broker[0] == '\0') {
        vmrt__err(err, errlen, "ota.broker: missing");
        return VMRT_EINVAL;
    }
    if (o->ntrusted_keys == 0) {
        vmrt__err(err, errlen,
                  "ota.trusted_keys: missing (at least one PEM file)");
        return VMRT_EINVAL;
    }
    return 0;
}

/*
 * parse_config: the config object into cfg and (if vms) a manifest array.
 * Return: 0 or VMRT_EINVAL/ENOMEM with err = "key: reason" (no line yet);
 * *vmstart points at the text of the VM object the error is in, if any.
 */
static int
parse_config(const cJSON *root, const char *text, const char *path,
             vmrt_rt_config_t *cfg, vmrt_manifest_t **vms, uint32_t *nvms,
             const char **vmstart, char *err, size_t errlen)
{
    const cJSON *it, *e;
    vmrt_manifest_t *arr = NULL;
    uint32_t n = 0, i;
    uint64_t v;
    int rc = 0;

    if (!cJSON_IsObject(root)) {
        vmrt__err(err, errlen, "config: must be a JSON object");
        return VMRT_EINVAL;
    }
    cJSON_ArrayForEach(it, root) {
        const char *k = it->string;

        if (strcmp(k, "workers") == 0) {
            if ((rc = get_uint(it, k, 0, 1024, &v, err, errlen)) == 0)
                cfg->workers = (uint32_t)v;
        } else if (strcmp(k, "state_dir") == 0)
            rc = get_str(it, k, cfg->state_dir, sizeof(cfg->state_dir), false,
                         err, errlen);
        else if (strcmp(k, "socket") == 0)
            rc = get_str(it, k, cfg->socket, sizeof(cfg->socket), false, err,
                         errlen);
        else if (strcmp(k, "log_ring_bytes") == 0) {
            if ((rc = get_uint(it, k, 0, 64u << 20, &v, err, errlen)) == 0)
                cfg->log_ring_bytes = (uint32_t)v;
        } else if (strcmp(k, "ota") == 0) {
            /* Errors inside the section get the line of a key after the
             * "ota" key, not of a same-named key elsewhere. */
            if ((rc = parse_ota(it, &cfg->ota, path, err, errlen)) != 0)
                *vmstart = strstr(text, "\"ota\"");
        } else if (strcmp(k, "vms") == 0) {
            if (!cJSON_IsArray(it)) {
                vmrt__err(err, errlen, "vms: must be an array of manifests");
                rc = VMRT_EINVAL;
            } else
                n = (uint32_t)cJSON_GetArraySize(it);
        } else {
            vmrt__err(err, errlen, "%s: unknown key", k);
            rc = VMRT_EINVAL;
        }
        if (rc != 0)
            return rc;
    }
    if (n > 0 && (arr = calloc(n, sizeof(*arr))) == NULL)
        return VMRT_ENOMEM;
    i = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "vms")) {
        char sub[160];
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(e, "name");
        uint32_t j;

        if (cJSON_IsString(nm)) {
            char pat[VMRT_NAME_MAX + 8];

            snprintf(pat, sizeof(pat), "\"%.*s\"", VMRT_NAME_MAX,
                     nm->valuestring);
            *vmstart = strstr(text, pat);
        }
        vmrt_manifest_init(&arr[i]);
        if ((rc = parse_obj(e, &arr[i], sub, sizeof(sub))) == 0 &&
            arr[i].module[0] == '\0') {
            snprintf(sub, sizeof(sub), "module: missing");
            rc = VMRT_EINVAL;
        }
        for (j = 0; rc == 0 && j < i; j++) {
            if (strcmp(arr[j].name, arr[i].name) == 0) {
                snprintf(sub, sizeof(sub), "name: '%s' is used twice",
                         arr[i].name);
                rc = VMRT_EINVAL;
            }
        }
        if (rc != 0) {
            vmrt__err(err, errlen, "vms[%u].%s", i, sub);
            free(arr);
            return rc;
        }
        resolve_module(&arr[i], path);
        i++;
    }
    *vmstart = NULL;
    if (vms != NULL) {
        *vms = arr;
        *nvms = n;
    } else
        free(arr);
    return 0;
}

int
vmrt_config_load(const char *path, vmrt_rt_config_t *cfg,
                 vmrt_manifest_t **vms, uint32_t *nvms, char *err,
                 size_t errlen)
{
    vmrt_rt_config_t c;
    uint8_t *buf = NULL;
    char *text = NULL;
    const char *end = NULL, *vmstart = NULL;
    cJSON *root = NULL;
    size_t len;
    char msg[400];
    int rc;

    memset(&c, 0, sizeof(c));
    if (vms != NULL) {
        *vms = NULL;
        *nvms = 0;
    }
    if ((rc = pl_file_read_all(path, CONFIG_MAX_BYTES, &buf, &len)) != 0) {
        vmrt__err(err, errlen, "%s: %s", path, pl_strerror(rc));
        return rc == PL_ENOMEM ? VMRT_ENOMEM : VMRT_EIO;
    }
    /* A NUL-terminated copy, for line numbers. */
    if ((text = malloc(len + 1)) == NULL) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    memcpy(text, buf, len);
    text[len] = '\0';
    root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (root == NULL) {
        size_t off = end != NULL && end >= text ? (size_t)(end - text) : 0;

        vmrt__err(err, errlen, "%s:%u: JSON syntax error", path,
                  line_at(text, off));
        rc = VMRT_EINVAL;
        goto fail;
    }
    rc = parse_config(root, text, path, &c, vms, nvms, &vmstart, msg,
                      sizeof(msg));
    if (rc != 0) {
        unsigned line = key_line(text, msg, vmstart);

        if (line > 0)
            vmrt__err(err, errlen, "%s:%u: %s", path, line, msg);
        else
            vmrt__err(err, errlen, "%s: %s", path, msg);
        goto fail;
    }
    if (cfg != NULL)
        *cfg = c;
fail:
    cJSON_Delete(root);
    free(text);
    pl_free_file(buf);
    return rc;
}

void
vmrt_config_free_vms(vmrt_manifest_t *vms)
{
    free(vms);
}

/* ---- state_dir/vmrt-state.json ------------------------------------------ */

char *
vmrt__state_to_json(vmrt_rt_t *rt)
{
    cJSON *root, *arr, *o;
    vmrt_vm_t *vm;
    char *text = NULL;

    if ((root = cJSON_CreateObject()) == NULL)
        return NULL;
    cJSON_AddNumberToObject(root, "format", 1);
    if ((arr = cJSON_AddArrayToObject(root, "vms")) == NULL)
        goto out;
    pl_mutex_lock(&rt->lock);
    for (vm = rt->vms; vm != NULL; vm = vm->next) {
        /* A VM waiting out its backoff comes back running. */
        vmrt_vm_state_t st = vm->state == VMRT_VM_RESTARTING
                                 ? VMRT_VM_RUNNING : vm->state;

        if ((o = cJSON_CreateObject()) == NULL ||
            !cJSON_AddItemToArray(arr, o)) {
            pl_mutex_unlock(&rt->lock);
            goto out;
        }
        cJSON_AddStringToObject(o, "name", vm->man.name);
        cJSON_AddStringToObject(o, "version", vm->man.version);
        cJSON_AddStringToObject(o, "state", vmrt_vm_state_str(st));
    }
    pl_mutex_unlock(&rt->lock);
    text = cJSON_Print(root);
out:
    cJSON_Delete(root);
    return text;
}

int
vmrt__state_parse(vmrt_rt_t *rt, const char *json, size_t len,
                  void (*fn)(vmrt_rt_t *rt, const char *name,
                             const char *state))
{
    const cJSON *arr, *o;
    cJSON *root;

    root = cJSON_ParseWithLength(json, len);
    arr = cJSON_GetObjectItemCaseSensitive(root, "vms");
    if (root == NULL || !cJSON_IsArray(arr)) {
        cJSON_Delete(root);
        return VMRT_EINVAL;
    }
    cJSON_ArrayForEach(o, arr) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "state");

        if (cJSON_IsString(nm) && name_ok(nm->valuestring))
            fn(rt, nm->valuestring,
               cJSON_IsString(st) ? st->valuestring : "stopped");
    }
    cJSON_Delete(root);
    return 0;
}

/* ---- the swap record (vm.c: stage-and-swap) -------------------------- */

char *
vmrt__swaprec_to_json(const vmrt__swaprec_t *r)
{
    cJSON *o;
    char *text = NULL;

    if ((o = cJSON_CreateObject()) == NULL)
        return NULL;
    if (cJSON_AddNumberToObject(o, "format", 1) != NULL &&
        cJSON_AddStringToObject(o, "phase", r->phase) != NULL &&
        cJSON_AddStringToObject(o, "old_version", r->old_version) != NULL &&
        cJSON_AddStringToObject(o, "new_version", r->new_version) != NULL &&
        cJSON_AddNumberToObject(o, "window_end_ms",
                                (double)r->window_end_ms) != NULL &&
        cJSON_AddBoolToObject(o, "snapshot", r->snapshot) != NULL)
        text = cJSON_Print(o);
    cJSON_Delete(o);
    return text;
}

/* A record that does not parse is treated by vm.c as an open window. */
int
vmrt__swaprec_parse(const char *json, size_t len, vmrt__swaprec_t *r)
{
    const cJSON *ph, *ov, *nv, *we, *sn;
    cJSON *root;
    int rc = VMRT_EINVAL;

    memset(r, 0, sizeof(*r));
    if ((root = cJSON_ParseWithLength(json, len)) == NULL)
        return VMRT_EINVAL;
    ph = cJSON_GetObjectItemCaseSensitive(root, "phase");
    ov = cJSON_GetObjectItemCaseSensitive(root, "old_version");
    nv = cJSON_GetObjectItemCaseSensitive(root, "new_version");
    we = cJSON_GetObjectItemCaseSensitive(root, "window_end_ms");
    sn = cJSON_GetObjectItemCaseSensitive(root, "snapshot");
    if (cJSON_IsString(ph) && cJSON_IsString(ov) && cJSON_IsString(nv) &&
        strlen(ph->valuestring) < sizeof(r->phase) &&
        strlen(ov->valuestring) < sizeof(r->old_version) &&
        strlen(nv->valuestring) < sizeof(r->new_version)) {
        vmrt__strcpy(r->phase, sizeof(r->phase), ph->valuestring);
        vmrt__strcpy(r->old_version, sizeof(r->old_version),
                     ov->valuestring);
        vmrt__strcpy(r->new_version, sizeof(r->new_version),
                     nv->valuestring);
        if (cJSON_IsNumber(we) && we->valuedouble > 0)
            r->window_end_ms = (uint64_t)we->valuedouble;
        r->snapshot = cJSON_IsTrue(sn);
        rc = 0;
    }
    cJSON_Delete(root);
    return rc;
}
