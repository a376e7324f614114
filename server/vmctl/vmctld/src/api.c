/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctld's HTTP API (api.h, docs/api.md): routes, bearer tokens, request
 * validation and the mapping of the core's errors to HTTP.
 *
 * Every request goes through two steps (http.h).  With the headers only:
 * shutting down (503), the token (401), the route (404, 405), the role
 * (403) and the body's size and type (413, 411, 415); a request that
 * fails here never has its body read.  With the body: the JSON document
 * is parsed and every field checked before the core is called once, so
 * that a request that fails changes nothing.
 *
 * Writes are logged with the name of the token that made them.
 */

#define _POSIX_C_SOURCE 200809L /* clock_gettime, strncasecmp */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api_internal.h"
#include "log.h"
#include "rollout.h"
#include "vmf/fleet.h"

#define API_PREFIX "/api/v1/"
#define SEGS_MAX 8
#define LABELS_MAX 16            /* label filters in one request */
#define WAIT_SLICE_MS 500        /* a long poll checks for stop this often */
#define VM_NAME_MAX 31           /* VMF_NAME_MAX - 1 */
#define EXPIRY_MAX_S 31536000u   /* a year */
#define TIMEOUT_MAX_S 86400u     /* a day */
#define HEALTH_MAX_MS 86400000u  /* a day */
#define DEV_TIMEOUT_MAX_S 2592000u /* 30 days */
#define COUNT_MAX 1000000u       /* canary, batch, max_failures */
#define LIST_LIMIT_MAX 1000u
#define OFFSET_MAX 100000000u    /* devices?offset= */

typedef enum body_kind {
    BODY_NONE = 0, /* no body accepted */
    BODY_JSON,     /* an optional or required JSON object */
    BODY_UPLOAD,   /* application/octet-stream, Content-Length needed */
} body_kind_t;

/* What a handler gets: the request, the path's variable segments, the
 * parsed body (NULL when empty) and who asked. */
typedef struct call {
    vmctld_api_t *api;
    vmctld_http_req_t *req;
    const char *p[3];   /* the '*' segments of the route, in order */
    char pathbuf[512];  /* where p[] point */
    cJSON *doc;
    const char *who;
    vmctld_role_t role; /* the token's role, for GET /info */
} call_t;

typedef void (*route_fn)(const call_t *call, vmctld_http_resp_t *resp);

typedef struct route {
    const char *method;
    const char *pattern; /* after /api/v1/; '*' is one segment */
    body_kind_t body;
    route_fn fn;
} route_t;

/* Kept from the headers to the body (req->user). */
typedef struct pending {
    int route;          /* index into routes[]; ROUTE_* below */
    vmctld_role_t role;
    char who[64];
    char path[160];     /* for the log line */
} pending_t;

#define ROUTE_HEALTHZ (-1)
#define ROUTE_STATIC (-2)

/* ---- responses --------------------------------------------------------- */

static void
error_resp(vmctld_http_resp_t *resp, int status, const char *code,
           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* {"error":{"code","message"}} with its status. */
static void
error_resp(vmctld_http_resp_t *resp, int status, const char *code,
           const char *fmt, ...)
{
    char msg[512];
    cJSON *o, *e;
    va_list ap;
    size_t i;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Messages quote request bytes (paths, keys), cut at a byte count:
     * keep them plain ASCII so that the body is always valid UTF-8. */
    for (i = 0; msg[i] != '\0'; i++)
        if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] >= 0x7f)
            msg[i] = '?';
    free(resp->body);
    resp->body = NULL;
    resp->len = 0;
    resp->status = status;
    resp->type = "application/json";
    if ((o = cJSON_CreateObject()) != NULL &&
        (e = cJSON_AddObjectToObject(o, "error")) != NULL) {
        cJSON_AddStringToObject(e, "code", code);
        cJSON_AddStringToObject(e, "message", msg);
        resp->body = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(o);
    if (resp->body != NULL)
        resp->len = strlen(resp->body);
    if (status >= 500)
        LOG_ERR("api: %d %s: %s", status, code, msg);
}

/* Send `doc` (consumed) with `status`. */
static void
json_resp(vmctld_http_resp_t *resp, int status, cJSON *doc)
{
    char *text = doc != NULL ? cJSON_PrintUnformatted(doc) : NULL;

    cJSON_Delete(doc);
    if (text == NULL) {
        error_resp(resp, 500, "E_INTERNAL", "out of memory");
        return;
    }
    resp->status = status;
    resp->type = "application/json";
    resp->body = text;
    resp->len = strlen(text);
}

static void
oom_resp(vmctld_http_resp_t *resp)
{
    error_resp(resp, 500, "E_INTERNAL", "out of memory");
}

/*
 * Map a core error to its answer.  `what` names the object ("device d1",
 * "rollout r3"); `err` is the core's message, used when it has one.
 */
static void
core_error(vmctld_http_resp_t *resp, int rc, const char *what,
           const char *err)
{
    const char *msg = err != NULL && err[0] != '\0' ? err
                                                    : ctld_strerror(rc);

    switch (rc) {
    case CTLD_ENOTFOUND:
        if (err != NULL && err[0] != '\0')
            error_resp(resp, 404, "E_NOT_FOUND", "%s", err);
        else
            error_resp(resp, 404, "E_NOT_FOUND", "%s: not found", what);
        break;
    case CTLD_EINVAL:
        error_resp(resp, 400, "E_INVALID", "%s", msg);
        break;
    case CTLD_EEXIST:
    case CTLD_EINUSE:
    case CTLD_ESTATE:
        error_resp(resp, 409, "E_CONFLICT", "%s: %s", what, msg);
        break;
    case CTLD_EPACKAGE:
        error_resp(resp, 422, "E_BAD_PACKAGE", "%s", msg);
        break;
    case CTLD_ETOOBIG:
        error_resp(resp, 413, "E_TOO_LARGE", "%s: %s", what, msg);
        break;
    case CTLD_ETIMEDOUT:
        error_resp(resp, 504, "E_TIMEOUT", "%s: %s", what, msg);
        break;
    default:
        error_resp(resp, 500, "E_INTERNAL", "%s: %s", what, msg);
        break;
    }
}

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- validation -------------------------------------------------------- */

/* 1..max characters of [A-Za-z0-9._-]. */
static bool
name_valid(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n >= 1 && n <= max &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789._-") == n;
}

static bool
vm_name_valid(const char *s)
{
    return name_valid(s, VM_NAME_MAX);
}

static bool
sha_valid(const char *s)
{
    return strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* Command and rollout ids. */
static bool
id_valid(const char *s)
{
    return name_valid(s, CTLD_ID_MAX - 1);
}

/* A label key: what a device may report (fleet.h), without '='. */
static bool
label_key_valid(const char *s)
{
    size_t n = strlen(s);

    return n >= 1 && n < VMF_LABEL_MAX && strchr(s, '=') == NULL;
}

static bool
label_value_valid(const char *s)
{
    return strlen(s) < VMF_LABEL_MAX;
}

/*
 * The path parameters, each checked: 0, or -1 with a 400 in resp.
 */
static int
check_device(const char *dev, vmctld_http_resp_t *resp)
{
    if (vmf_device_id_valid(dev))
        return 0;
    error_resp(resp, 400, "E_INVALID",
               "device: \"%.64s\" is not a device id (1 to %d characters "
               "of A-Z a-z 0-9 . _ -)",
               dev, VMF_ID_MAX - 1);
    return -1;
}

static int
check_vm(const char *field, const char *vm, vmctld_http_resp_t *resp)
{
    if (vm_name_valid(vm))
        return 0;
    error_resp(resp, 400, "E_INVALID",
               "%s: \"%.64s\" is not a VM name (1 to %d characters of "
               "A-Z a-z 0-9 . _ -)",
               field, vm, VM_NAME_MAX);
    return -1;
}

static int
check_sha(const char *field, const char *sha, vmctld_http_resp_t *resp)
{
    if (sha_valid(sha))
        return 0;
    error_resp(resp, 400, "E_INVALID",
               "%s: expected a SHA-256 (64 lowercase hex digits)", field);
    return -1;
}

static int
check_id(const char *field, const char *id, vmctld_http_resp_t *resp)
{
    if (id_valid(id))
        return 0;
    error_resp(resp, 400, "E_INVALID", "%s: \"%.64s\" is not an id", field,
               id);
    return -1;
}

/* ---- query arguments --------------------------------------------------- */

/*
 * Refuse arguments other than `allowed` (a NULL-terminated list) and
 * repeats of those not in `repeatable`: a typo must not widen a listing.
 */
static int
check_args(const vmctld_http_req_t *req, const char *const *allowed,
           const char *repeatable, vmctld_http_resp_t *resp)
{
    size_t i, j, k;

    if (req->args_truncated) {
        error_resp(resp, 400, "E_INVALID", "query: more than %d parameters",
                   VMCTLD_HTTP_ARGS_MAX);
        return -1;
    }
    for (i = 0; i < req->nargs; i++) {
        for (k = 0; allowed[k] != NULL; k++)
            if (strcmp(req->args[i].key, allowed[k]) == 0)
                break;
        if (allowed[k] == NULL) {
            error_resp(resp, 400, "E_INVALID",
                       "%.64s: unknown query parameter", req->args[i].key);
            return -1;
        }
        if (repeatable != NULL && strcmp(req->args[i].key, repeatable) == 0)
            continue;
        for (j = 0; j < i; j++)
            if (strcmp(req->args[j].key, req->args[i].key) == 0) {
                error_resp(resp, 400, "E_INVALID", "%s: given twice",
                           req->args[i].key);
                return -1;
            }
    }
    return 0;
}

static const char *
arg(const vmctld_http_req_t *req, const char *key)
{
    size_t i;

    for (i = 0; i < req->nargs; i++)
        if (strcmp(req->args[i].key, key) == 0)
            return req->args[i].value;
    return NULL;
}

/* A decimal number in [min, max]: 0, or -1 with a 400 naming `key`. */
static int
arg_uint(const vmctld_http_req_t *req, const char *key, uint32_t min,
         uint32_t max, uint32_t *out, vmctld_http_resp_t *resp)
{
    const char *v = arg(req, key);
    uint64_t n = 0;
    size_t i;

    if (v == NULL)
        return 0;
    for (i = 0; v[i] != '\0' && i < 10; i++) {
        if (v[i] < '0' || v[i] > '9')
            break;
        n = n * 10 + (uint64_t)(v[i] - '0');
    }
    if (i == 0 || v[i] != '\0' || n < min || n > max) {
        error_resp(resp, 400, "E_INVALID",
                   "%s: expected a number from %u to %u", key, min, max);
        return -1;
    }
    *out = (uint32_t)n;
    return 0;
}

/* ---- body fields ------------------------------------------------------- */

/*
 * Refuse fields other than `allowed`, and fields given twice (cJSON
 * keeps both; we would silently take the first).
 */
static int
check_fields(const cJSON *o, const char *prefix, const char *const *allowed,
             vmctld_http_resp_t *resp)
{
    const cJSON *f, *g;
    size_t k;

    cJSON_ArrayForEach(f, o)
    {
        for (k = 0; allowed[k] != NULL; k++)
            if (strcmp(f->string, allowed[k]) == 0)
                break;
        if (allowed[k] == NULL) {
            error_resp(resp, 400, "E_INVALID", "%s%.64s: unknown field",
                       prefix, f->string);
            return -1;
        }
        for (g = o->child; g != f; g = g->next)
            if (strcmp(g->string, f->string) == 0) {
                error_resp(resp, 400, "E_INVALID", "%s%s: given twice",
                           prefix, f->string);
                return -1;
            }
    }
    return 0;
}

/* An integral JSON number in [min, max]. */
static bool
num_in(const cJSON *v, uint32_t min, uint32_t max, uint32_t *out)
{
    double d;

    if (!cJSON_IsNumber(v))
        return false;
    d = v->valuedouble;
    if (!(d >= (double)min && d <= (double)max) || d != (double)(uint32_t)d)
        return false;
    *out = (uint32_t)d;
    return true;
}

/*
 * An optional number field: absent leaves *out; else it must be an
 * integer in [min, max].  Return: 0, or -1 with a 400 naming the field.
 */
static int
field_uint(const cJSON *doc, const char *key, uint32_t min, uint32_t max,
           uint32_t *out, vmctld_http_resp_t *resp)
{
    const cJSON *v = doc != NULL ? cJSON_GetObjectItemCaseSensitive(doc, key)
                                 : NULL;

    if (v == NULL)
        return 0;
    if (!num_in(v, min, max, out)) {
        error_resp(resp, 400, "E_INVALID",
                   "%s: expected a number from %u to %u", key, min, max);
        return -1;
    }
    return 0;
}

/*
 * A count or a percentage: N (min..COUNT_MAX) or "N%" (min..100).
 * Return: 0 (absent leaves the outputs), or -1 with a 400.
 */
static int
field_count_pct(const cJSON *doc, const char *key, uint32_t min,
                uint32_t *out, bool *pct, vmctld_http_resp_t *resp)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    const char *s;
    uint32_t n = 0;
    size_t i;

    if (v == NULL)
        return 0;
    if (num_in(v, min, COUNT_MAX, out)) {
        *pct = false;
        return 0;
    }
    if (cJSON_IsString(v)) {
        s = v->valuestring;
        for (i = 0; s[i] >= '0' && s[i] <= '9' && i < 3; i++)
            n = n * 10 + (uint32_t)(s[i] - '0');
        if (i > 0 && s[i] == '%' && s[i + 1] == '\0' && n >= min &&
            n <= 100) {
            *out = n;
            *pct = true;
            return 0;
        }
    }
    error_resp(resp, 400, "E_INVALID",
               "%s: expected a number from %u to %u or a percentage from "
               "\"%u%%\" to \"100%%\"",
               key, min, COUNT_MAX, min);
    return -1;
}

/*
 * A string field; `required` or NULL when absent.
 * Return: 0, or -1 with a 400 naming the field.
 */
static int
field_str(const cJSON *doc, const char *key, bool required,
          const char **out, vmctld_http_resp_t *resp)
{
    const cJSON *v = doc != NULL ? cJSON_GetObjectItemCaseSensitive(doc, key)
                                 : NULL;

    *out = NULL;
    if (v == NULL) {
        if (!required)
            return 0;
        error_resp(resp, 400, "E_INVALID", "%s: missing", key);
        return -1;
    }
    if (!cJSON_IsString(v)) {
        error_resp(resp, 400, "E_INVALID", "%s: expected a string", key);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

/* The body a route requires: 0, or -1 with a 400 E_BAD_JSON. */
static int
need_doc(const call_t *call, vmctld_http_resp_t *resp)
{
    if (call->doc != NULL)
        return 0;
    error_resp(resp, 400, "E_BAD_JSON", "body: expected a JSON object");
    return -1;
}

/* ---- server and devices ------------------------------------------------ */

static void
h_info(const call_t *call, vmctld_http_resp_t *resp)
{
    ctld_info_t info;
    cJSON *o;
    int rc;

    memset(&info, 0, sizeof(info));
    if ((rc = ctld_info(call->api->core, &info)) != 0) {
        core_error(resp, rc, "info", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL) {
        oom_resp(resp);
        return;
    }
    api__json_info(o, &info);
    /* The caller's own role, so that a client (the dashboard) can hide
     * what the token may not do. */
    cJSON_AddStringToObject(o, "role", call->role == VMCTLD_ROLE_OPERATOR
                                           ? "operator"
                                           : "viewer");
    json_resp(resp, 200, o);
}

/*
 * The sort of GET devices: "id", "-id", "last_seen", "-last_seen".
 * Return: 0, or -1 with a 400.
 */
static int
arg_sort(const vmctld_http_req_t *req, vmctld_reg_dev_sort_t *out,
         vmctld_http_resp_t *resp)
{
    static const struct {
        const char *name;
        vmctld_reg_dev_sort_t sort;
    } sorts[] = {
        { "id", VMCTLD_REG_SORT_ID },
        { "-id", VMCTLD_REG_SORT_ID_DESC },
        { "last_seen", VMCTLD_REG_SORT_SEEN },
        { "-last_seen", VMCTLD_REG_SORT_SEEN_DESC },
    };
    const char *v = arg(req, "sort");
    size_t i;

    *out = VMCTLD_REG_SORT_ID;
    if (v == NULL)
        return 0;
    for (i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
        if (strcmp(v, sorts[i].name) == 0) {
            *out = sorts[i].sort;
            return 0;
        }
    error_resp(resp, 400, "E_INVALID",
               "sort: expected id, -id, last_seen or -last_seen");
    return -1;
}

/*
 * GET devices: filters (label, online, q), an order and a page; "total"
 * counts every match, so that a client pages through ten thousand
 * devices without fetching them all.
 */
static void
h_devices(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "label",  "online", "q",
                                           "sort",   "limit",  "offset",
                                           NULL };
    const vmctld_http_req_t *req = call->req;
    const char *labels[LABELS_MAX], *v, *eq;
    vmctld_reg_device_query_t dq;
    vmctld_reg_device_t *devs = NULL;
    size_t i, n = 0, nl = 0, total = 0;
    uint32_t limit = 0, offset = 0;
    cJSON *o, *arr, *d;
    int online = -1, rc;
    char key[VMF_LABEL_MAX + 1];

    if (check_args(req, allowed, "label", resp) != 0)
        return;
    for (i = 0; i < req->nargs; i++) {
        if (strcmp(req->args[i].key, "label") != 0)
            continue;
        v = req->args[i].value;
        eq = strchr(v, '=');
        if (eq == NULL || (size_t)(eq - v) > VMF_LABEL_MAX) {
            error_resp(resp, 400, "E_INVALID",
                       "label: expected KEY=VALUE, got \"%.64s\"", v);
            return;
        }
        memcpy(key, v, (size_t)(eq - v));
        key[eq - v] = '\0';
        if (!label_key_valid(key) || !label_value_valid(eq + 1)) {
            error_resp(resp, 400, "E_INVALID",
                       "label: \"%.64s\": key of 1 to %d characters, value "
                       "of at most %d",
                       v, VMF_LABEL_MAX - 1, VMF_LABEL_MAX - 1);
            return;
        }
        if (nl == LABELS_MAX) {
            error_resp(resp, 400, "E_INVALID", "label: more than %d",
                       LABELS_MAX);
            return;
        }
        labels[nl++] = v;
    }
    if ((v = arg(req, "online")) != NULL) {
        if (strcmp(v, "true") == 0) {
            online = 1;
        } else if (strcmp(v, "false") == 0) {
            online = 0;
        } else {
            error_resp(resp, 400, "E_INVALID",
                       "online: expected true or false");
            return;
        }
    }
    if ((v = arg(req, "q")) != NULL && strlen(v) >= VMF_ID_MAX) {
        error_resp(resp, 400, "E_INVALID", "q: at most %d characters",
                   VMF_ID_MAX - 1);
        return;
    }
    memset(&dq, 0, sizeof(dq));
    if (arg_sort(req, &dq.sort, resp) != 0 ||
        arg_uint(req, "limit", 1, LIST_LIMIT_MAX, &limit, resp) != 0 ||
        arg_uint(req, "offset", 0, OFFSET_MAX, &offset, resp) != 0)
        return;
    dq.labels = labels;
    dq.nlabels = nl;
    dq.online = online < 0    ? VMCTLD_REG_ONLINE_ANY
                : online > 0 ? VMCTLD_REG_ONLINE_ONLY
                             : VMCTLD_REG_OFFLINE_ONLY;
    dq.q = v;
    dq.limit = limit;
    dq.offset = offset;
    rc = ctld_devices_query(call->api->core, &dq, &devs, &n, &total);
    if (rc != 0) {
        core_error(resp, rc, "devices", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "devices")) == NULL ||
        cJSON_AddNumberToObject(o, "total", (double)total) == NULL)
        goto oom;
    for (i = 0; i < n; i++) {
        if ((d = cJSON_CreateObject()) == NULL)
            goto oom;
        api__json_device(d, &devs[i]);
        cJSON_AddItemToArray(arr, d);
    }
    vmctld_reg_devices_free(devs, n);
    json_resp(resp, 200, o);
    return;
oom:
    cJSON_Delete(o);
    vmctld_reg_devices_free(devs, n);
    oom_resp(resp);
}

/* GET devices/{dev} and devices/{dev}/vms. */
static void
device_get(const call_t *call, vmctld_http_resp_t *resp, bool vms_only)
{
    static const char *const none[] = { NULL };
    vmctld_reg_device_t dev;
    char what[160];
    cJSON *o, *arr, *vm;
    size_t i;
    int rc;

    if (check_args(call->req, none, NULL, resp) != 0 ||
        check_device(call->p[0], resp) != 0)
        return;
    memset(&dev, 0, sizeof(dev));
    if ((rc = ctld_device_get(call->api->core, call->p[0], &dev)) != 0) {
        snprintf(what, sizeof(what), "device %s", call->p[0]);
        core_error(resp, rc, what, NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL)
        goto oom;
    if (!vms_only) {
        api__json_device(o, &dev);
    } else {
        if ((arr = cJSON_AddArrayToObject(o, "vms")) == NULL)
            goto oom;
        for (i = 0; i < dev.n_vms; i++) {
            if ((vm = cJSON_CreateObject()) == NULL)
                goto oom;
            api__json_vm(vm, &dev.vms[i]);
            cJSON_AddItemToArray(arr, vm);
        }
    }
    vmctld_reg_device_clear(&dev);
    json_resp(resp, 200, o);
    return;
oom:
    cJSON_Delete(o);
    vmctld_reg_device_clear(&dev);
    oom_resp(resp);
}

static void
h_device(const call_t *call, vmctld_http_resp_t *resp)
{
    device_get(call, resp, false);
}

/* GET fleet: the overview page's numbers, from SQL aggregates. */
static void
h_fleet(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const none[] = { NULL };
    ctld_fleet_t f;
    cJSON *o;
    int rc;

    if (check_args(call->req, none, NULL, resp) != 0)
        return;
    if ((rc = ctld_fleet_summary(call->api->core, &f)) != 0) {
        core_error(resp, rc, "fleet", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL) {
        ctld_fleet_clear(&f);
        oom_resp(resp);
        return;
    }
    api__json_fleet(o, &f);
    ctld_fleet_clear(&f);
    json_resp(resp, 200, o);
}

/*
 * GET devices/{dev}/vms/{vm}/logs[?bytes=N]: asks the device now and
 * waits for it (at most CTLD_LOGS_TIMEOUT_MS; a stop ends the wait).
 */
static void
h_vm_logs(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "bytes", NULL };
    const char *dev = call->p[0], *vm = call->p[1];
    ctld_logs_t logs;
    uint32_t bytes = 0;
    char err[256] = "", what[200];
    cJSON *o;
    int rc;

    if (check_args(call->req, allowed, NULL, resp) != 0 ||
        check_device(dev, resp) != 0 || check_vm("vm", vm, resp) != 0 ||
        arg_uint(call->req, "bytes", 1, VMF_RESULT_DATA_MAX, &bytes,
                 resp) != 0)
        return;
    if (strcmp(call->req->method, "HEAD") == 0) {
        resp->status = 200; /* no need to bother the device */
        resp->type = "application/json";
        return;
    }
    rc = ctld_vm_logs(call->api->core, dev, vm, bytes, 0, &logs, err,
                      sizeof(err));
    if (rc != 0) {
        snprintf(what, sizeof(what), "logs of %s on device %s", vm, dev);
        core_error(resp, rc, what, err);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        cJSON_AddStringToObject(o, "device", dev) == NULL ||
        cJSON_AddStringToObject(o, "vm", vm) == NULL ||
        cJSON_AddStringToObject(o, "text", logs.text) == NULL ||
        cJSON_AddBoolToObject(o, "truncated", logs.truncated) == NULL) {
        cJSON_Delete(o);
        ctld_logs_clear(&logs);
        oom_resp(resp);
        return;
    }
    ctld_logs_clear(&logs);
    json_resp(resp, 200, o);
}

static void
h_device_vms(const call_t *call, vmctld_http_resp_t *resp)
{
    device_get(call, resp, true);
}

/* ---- commands ---------------------------------------------------------- */

static void
command_resp(vmctld_http_resp_t *resp, int status, const ctld_command_t *c)
{
    cJSON *o;

    if ((o = cJSON_CreateObject()) == NULL) {
        oom_resp(resp);
        return;
    }
    api__json_command(o, c);
    json_resp(resp, status, o);
}

/*
 * Every VM lifecycle route: the device and VM from the path (VM from the
 * body for create), the optional expiry_s and timeout_s, then one
 * ctld_command_submit().
 */
static void
lifecycle(const call_t *call, vmctld_http_resp_t *resp, int kind)
{
    static const char *const f_plain[] = { "expiry_s", "timeout_s", NULL };
    static const char *const f_create[] = { "name", "package", "expiry_s",
                                            "timeout_s", NULL };
    static const char *const f_restore[] = { "snapshot", "expiry_s",
                                             "timeout_s", NULL };
    ctld_cmd_req_t cr;
    ctld_command_t cmd;
    char err[256] = "", what[200];
    const char *s;
    int rc;

    memset(&cr, 0, sizeof(cr));
    cr.kind = kind;
    cr.device = call->p[0];
    cr.vm = call->p[1];
    if (check_device(cr.device, resp) != 0)
        return;
    if (kind == VMF_CMD_CREATE) {
        if (need_doc(call, resp) != 0 ||
            check_fields(call->doc, "", f_create, resp) != 0 ||
            field_str(call->doc, "name", true, &cr.vm, resp) != 0 ||
            check_vm("name", cr.vm, resp) != 0 ||
            field_str(call->doc, "package", true, &cr.package, resp) != 0 ||
            check_sha("package", cr.package, resp) != 0)
            return;
    } else if (kind == VMF_CMD_RESTORE) {
        if (check_vm("vm", cr.vm, resp) != 0 || need_doc(call, resp) != 0 ||
            check_fields(call->doc, "", f_restore, resp) != 0 ||
            field_str(call->doc, "snapshot", true, &cr.snapshot, resp) != 0 ||
            check_sha("snapshot", cr.snapshot, resp) != 0)
            return;
    } else {
        if (check_vm("vm", cr.vm, resp) != 0)
            return;
        if (call->doc != NULL &&
            check_fields(call->doc, "", f_plain, resp) != 0)
            return;
    }
    if (field_uint(call->doc, "expiry_s", 0, EXPIRY_MAX_S, &cr.expiry_s,
                   resp) != 0 ||
        field_uint(call->doc, "timeout_s", 0, TIMEOUT_MAX_S, &cr.timeout_s,
                   resp) != 0)
        return;
    memset(&cmd, 0, sizeof(cmd));
    rc = ctld_command_submit(call->api->core, &cr, &cmd, err, sizeof(err));
    if (rc != 0) {
        snprintf(what, sizeof(what), "%s %s on device %s",
                 vmf_cmd_name(kind), cr.vm, cr.device);
        core_error(resp, rc, what, err);
        return;
    }
    s = vmf_cmd_name(kind);
    LOG_INFO("api: %s: %s %s on %s: command %s", call->who, s, cr.vm,
             cr.device, cmd.id);
    command_resp(resp, 202, &cmd);
}

static void
h_vm_create(const call_t *call, vmctld_http_resp_t *resp)
{
    lifecycle(call, resp, VMF_CMD_CREATE);
}

static void
h_vm_destroy(const call_t *call, vmctld_http_resp_t *resp)
{
    lifecycle(call, resp, VMF_CMD_DESTROY);
}

/* POST devices/{dev}/vms/{vm}/{action}: the action is the last segment. */
static void
h_vm_action(const call_t *call, vmctld_http_resp_t *resp)
{
    const char *action = strrchr(call->req->path, '/') + 1;
    int kind = vmf_cmd_parse(action);

    if (kind < 0) { /* the route table lists only known actions */
        error_resp(resp, 404, "E_NOT_FOUND", "%s: no such action", action);
        return;
    }
    lifecycle(call, resp, kind);
}

static void
h_commands(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "device", "limit", NULL };
    const char *dev = arg(call->req, "device");
    ctld_command_t *cmds = NULL;
    uint32_t limit = 100;
    cJSON *o, *arr, *c;
    size_t i, n = 0;
    int rc;

    if (check_args(call->req, allowed, NULL, resp) != 0 ||
        (dev != NULL && check_device(dev, resp) != 0) ||
        arg_uint(call->req, "limit", 1, LIST_LIMIT_MAX, &limit, resp) != 0)
        return;
    rc = ctld_command_list(call->api->core, dev, limit, &cmds, &n);
    if (rc != 0) {
        core_error(resp, rc, "commands", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "commands")) == NULL)
        goto oom;
    for (i = 0; i < n; i++) {
        if ((c = cJSON_CreateObject()) == NULL)
            goto oom;
        api__json_command(c, &cmds[i]);
        cJSON_AddItemToArray(arr, c);
    }
    free(cmds);
    json_resp(resp, 200, o);
    return;
oom:
    cJSON_Delete(o);
    free(cmds);
    oom_resp(resp);
}

/*
 * GET commands/{id}[?wait=S]: the wait is cut into slices so that a stop
 * ends it within WAIT_SLICE_MS.
 */
static void
h_command(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "wait", NULL };
    vmctld_api_t *api = call->api;
    const char *id = call->p[0];
    ctld_command_t cmd;
    uint32_t wait_s = 0;
    int64_t deadline, left;
    char what[100];
    int rc;

    if (check_args(call->req, allowed, NULL, resp) != 0 ||
        check_id("command", id, resp) != 0 ||
        arg_uint(call->req, "wait", 1, 60, &wait_s, resp) != 0)
        return;
    snprintf(what, sizeof(what), "command %s", id);
    memset(&cmd, 0, sizeof(cmd));
    if ((rc = ctld_command_get(api->core, id, &cmd)) != 0) {
        core_error(resp, rc, what, NULL);
        return;
    }
    deadline = mono_ms() + (int64_t)wait_s * 1000;
    while (!ctld_cmd_state_final(cmd.state) &&
           !atomic_load(&api->stopping) && (left = deadline - mono_ms()) > 0) {
        if (left > WAIT_SLICE_MS)
            left = WAIT_SLICE_MS;
        rc = ctld_command_wait(api->core, id, (uint32_t)left, &cmd);
        if (rc != 0) {
            core_error(resp, rc, what, NULL);
            return;
        }
    }
    command_resp(resp, 200, &cmd);
}

static void
h_command_cancel(const call_t *call, vmctld_http_resp_t *resp)
{
    const char *id = call->p[0];
    ctld_command_t cmd;
    char what[200];
    int rc;

    if (check_id("command", id, resp) != 0)
        return;
    if (call->doc != NULL) {
        static const char *const none[] = { NULL };

        if (check_fields(call->doc, "", none, resp) != 0)
            return;
    }
    memset(&cmd, 0, sizeof(cmd));
    if ((rc = ctld_command_cancel(call->api->core, id, &cmd)) != 0) {
        if (rc == CTLD_ESTATE &&
            ctld_command_get(call->api->core, id, &cmd) == 0)
            snprintf(what, sizeof(what), "command %s is already %s", id,
                     ctld_cmd_state_name(cmd.state));
        else
            snprintf(what, sizeof(what), "command %s", id);
        core_error(resp, rc, what, NULL);
        return;
    }
    LOG_INFO("api: %s: cancel command %s", call->who, id);
    command_resp(resp, 200, &cmd);
}

/* ---- packages and snapshots ------------------------------------------ */

static void
package_resp(vmctld_http_resp_t *resp, int status,
             const vmctld_reg_package_t *p)
{
    cJSON *o;

    if ((o = cJSON_CreateObject()) == NULL) {
        oom_resp(resp);
        return;
    }
    api__json_package(o, p);
    json_resp(resp, status, o);
}

static void
h_package_upload(const call_t *call, vmctld_http_resp_t *resp)
{
    vmctld_reg_package_t pkg;
    bool created = false;
    char err[256] = "";
    int rc;

    memset(&pkg, 0, sizeof(pkg));
    rc = ctld_package_add(call->api->core, call->req->body,
                          call->req->body_len, &pkg, &created, err,
                          sizeof(err));
    if (rc != 0) {
        core_error(resp, rc, "package", err);
        if (rc == CTLD_EPACKAGE)
            LOG_INFO("api: %s: package refused: %s", call->who,
                     err[0] != '\0' ? err : ctld_strerror(rc));
        return;
    }
    LOG_INFO("api: %s: package %s %s %s (%s)", call->who,
             created ? "stored" : "already stored", pkg.vm, pkg.version,
             pkg.sha256);
    package_resp(resp, created ? 201 : 200, &pkg);
}

static void
h_packages(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "vm", NULL };
    const char *vm = arg(call->req, "vm");
    vmctld_reg_package_t *pkgs = NULL;
    cJSON *o, *arr, *p;
    size_t i, n = 0;
    int rc;

    if (check_args(call->req, allowed, NULL, resp) != 0 ||
        (vm != NULL && check_vm("vm", vm, resp) != 0))
        return;
    if ((rc = ctld_package_list(call->api->core, vm, &pkgs, &n)) != 0) {
        core_error(resp, rc, "packages", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "packages")) == NULL)
        goto oom;
    for (i = 0; i < n; i++) {
        if ((p = cJSON_CreateObject()) == NULL)
            goto oom;
        api__json_package(p, &pkgs[i]);
        cJSON_AddItemToArray(arr, p);
    }
    free(pkgs);
    json_resp(resp, 200, o);
    return;
oom:
    cJSON_Delete(o);
    free(pkgs);
    oom_resp(resp);
}

static void
h_package(const call_t *call, vmctld_http_resp_t *resp)
{
    vmctld_reg_package_t pkg;
    char what[100];
    int rc;

    if (check_sha("sha256", call->p[0], resp) != 0)
        return;
    memset(&pkg, 0, sizeof(pkg));
    if ((rc = ctld_package_get(call->api->core, call->p[0], &pkg)) != 0) {
        snprintf(what, sizeof(what), "package %s", call->p[0]);
        core_error(resp, rc, what, NULL);
        return;
    }
    package_resp(resp, 200, &pkg);
}

static void
h_package_delete(const call_t *call, vmctld_http_resp_t *resp)
{
    char what[100];
    int rc;

    if (check_sha("sha256", call->p[0], resp) != 0)
        return;
    if ((rc = ctld_package_delete(call->api->core, call->p[0])) != 0) {
        snprintf(what, sizeof(what), "package %s", call->p[0]);
        core_error(resp, rc, what, NULL);
        return;
    }
    LOG_INFO("api: %s: package %s deleted", call->who, call->p[0]);
    resp->status = 204;
}

static void
h_snapshots(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "device", NULL };
    const char *dev = arg(call->req, "device");
    vmctld_reg_snapshot_t *snaps = NULL;
    cJSON *o, *arr, *s;
    size_t i, n = 0;
    int rc;

    if (check_args(call->req, allowed, NULL, resp) != 0 ||
        (dev != NULL && check_device(dev, resp) != 0))
        return;
    if ((rc = ctld_snapshot_list(call->api->core, dev, &snaps, &n)) != 0) {
        core_error(resp, rc, "snapshots", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "snapshots")) == NULL)
        goto oom;
    for (i = 0; i < n; i++) {
        if ((s = cJSON_CreateObject()) == NULL)
            goto oom;
        api__json_snapshot(s, &snaps[i]);
        cJSON_AddItemToArray(arr, s);
    }
    free(snaps);
    json_resp(resp, 200, o);
    return;
oom:
    cJSON_Delete(o);
    free(snaps);
    oom_resp(resp);
}

/* GET snapshots/{sha} and snapshots/{sha}/content. */
static void
snapshot_get(const call_t *call, vmctld_http_resp_t *resp, bool content)
{
    vmctld_reg_snapshot_t snap;
    char what[100];
    cJSON *o;
    int rc;

    if (check_sha("sha256", call->p[0], resp) != 0)
        return;
    snprintf(what, sizeof(what), "snapshot %s", call->p[0]);
    memset(&snap, 0, sizeof(snap));
    if ((rc = ctld_snapshot_get(call->api->core, call->p[0], &snap)) != 0) {
        core_error(resp, rc, what, NULL);
        return;
    }
    if (content) {
        if ((rc = vmctld_http_resp_file(resp, snap.path)) != 0) {
            error_resp(resp, 500, "E_INTERNAL", "%s: %s: %s", what,
                       snap.path, strerror(rc));
            return;
        }
        resp->status = 200;
        resp->type = "application/octet-stream";
        vmctld_http_resp_header(resp, "Content-Disposition",
                                "attachment; filename=\"%s-%.12s.snap\"",
                                snap.vm, snap.sha256);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL) {
        oom_resp(resp);
        return;
    }
    api__json_snapshot(o, &snap);
    json_resp(resp, 200, o);
}

static void
h_snapshot(const call_t *call, vmctld_http_resp_t *resp)
{
    snapshot_get(call, resp, false);
}

static void
h_snapshot_content(const call_t *call, vmctld_http_resp_t *resp)
{
    snapshot_get(call, resp, true);
}

static void
h_snapshot_delete(const call_t *call, vmctld_http_resp_t *resp)
{
    char what[100];
    int rc;

    if (check_sha("sha256", call->p[0], resp) != 0)
        return;
    if ((rc = ctld_snapshot_delete(call->api->core, call->p[0])) != 0) {
        snprintf(what, sizeof(what), "snapshot %s", call->p[0]);
        core_error(resp, rc, what, NULL);
        return;
    }
    LOG_INFO("api: %s: snapshot %s deleted", call->who, call->p[0]);
    resp->status = 204;
}

/* ---- rollouts ---------------------------------------------------------- */

static void
rollout_resp(vmctld_http_resp_t *resp, int status, const ctld_rollout_t *r,
             bool devices)
{
    cJSON *o;

    if ((o = cJSON_CreateObject()) == NULL) {
        oom_resp(resp);
        return;
    }
    api__json_rollout(o, r, devices);
    json_resp(resp, status, o);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The rollout's target, into req: exactly one of devices, labels, all.
 * The lists point into `doc`, or into *labelbuf (caller frees).
 * Return: 0, or -1 with a 400 (500 out of memory).
 */
static int
parse_target(const cJSON *doc, ctld_rollout_req_t *rr, const char ***devs,
             char **labelbuf, const char ***labels, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = { "devices", "labels", "all",
                                           NULL };
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "target");
    const cJSON *v, *e;
    const char **sorted = NULL;
    size_t n, i;
    char *p;

    if (t == NULL) {
        error_resp(resp, 400, "E_INVALID", "target: missing");
        return -1;
    }
    if (!cJSON_IsObject(t)) {
        error_resp(resp, 400, "E_INVALID",
                   "target: expected an object with one of devices, "
                   "labels, all");
        return -1;
    }
    if (check_fields(t, "target.", allowed, resp) != 0)
        return -1;
    if (cJSON_GetArraySize(t) != 1) {
        error_resp(resp, 400, "E_INVALID",
                   "target: expected exactly one of devices, labels, all");
        return -1;
    }
    v = t->child;
    if (strcmp(v->string, "all") == 0) {
        if (!cJSON_IsTrue(v)) {
            error_resp(resp, 400, "E_INVALID", "target.all: expected true");
            return -1;
        }
        rr->all = true;
        return 0;
    }
    if (strcmp(v->string, "devices") == 0) {
        if (!cJSON_IsArray(v) || (n = (size_t)cJSON_GetArraySize(v)) == 0) {
            error_resp(resp, 400, "E_INVALID",
                       "target.devices: expected a non-empty array of "
                       "device ids");
            return -1;
        }
        if ((*devs = calloc(n, sizeof(**devs))) == NULL ||
            (sorted = calloc(n, sizeof(*sorted))) == NULL)
            goto oom;
        i = 0;
        cJSON_ArrayForEach(e, v)
        {
            if (!cJSON_IsString(e) || !vmf_device_id_valid(e->valuestring)) {
                error_resp(resp, 400, "E_INVALID",
                           "target.devices[%zu]: expected a device id (1 to "
                           "%d characters of A-Z a-z 0-9 . _ -)",
                           i, VMF_ID_MAX - 1);
                goto fail;
            }
            (*devs)[i] = sorted[i] = e->valuestring;
            i++;
        }
        qsort(sorted, n, sizeof(*sorted), cmp_str);
        for (i = 1; i < n; i++)
            if (strcmp(sorted[i - 1], sorted[i]) == 0) {
                error_resp(resp, 400, "E_INVALID",
                           "target.devices: %s given twice", sorted[i]);
                goto fail;
            }
        free(sorted);
        rr->devices = *devs;
        rr->ndevices = n;
        return 0;
    }
    /* labels: {"k": "v", ...} -> "k=v" strings in one buffer. */
    if (!cJSON_IsObject(v) || (n = (size_t)cJSON_GetArraySize(v)) == 0 ||
        n > LABELS_MAX) {
        error_resp(resp, 400, "E_INVALID",
                   "target.labels: expected an object of 1 to %d labels "
                   "(\"key\": \"value\")",
                   LABELS_MAX);
        return -1;
    }
    if ((*labels = calloc(n, sizeof(**labels))) == NULL ||
        (*labelbuf = malloc(n * 2 * VMF_LABEL_MAX)) == NULL)
        goto oom;
    p = *labelbuf;
    i = 0;
    cJSON_ArrayForEach(e, v)
    {
        if (!label_key_valid(e->string) || !cJSON_IsString(e) ||
            !label_value_valid(e->valuestring)) {
            error_resp(resp, 400, "E_INVALID",
                       "target.labels.%.64s: expected a key of 1 to %d "
                       "characters without '=' and a string value of at "
                       "most %d",
                       e->string, VMF_LABEL_MAX - 1, VMF_LABEL_MAX - 1);
            return -1;
        }
        for (const cJSON *g = v->child; g != e; g = g->next)
            if (strcmp(g->string, e->string) == 0) {
                error_resp(resp, 400, "E_INVALID",
                           "target.labels.%s: given twice", e->string);
                return -1;
            }
        /* Each fits in 2 * VMF_LABEL_MAX: both parts were checked. */
        (*labels)[i++] = p;
        p += snprintf(p, 2 * VMF_LABEL_MAX, "%s=%s", e->string,
                      e->valuestring) + 1;
    }
    rr->labels = *labels;
    rr->nlabels = n;
    return 0;
oom:
    oom_resp(resp);
fail:
    free(sorted);
    return -1;
}

static void
h_rollout_create(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const allowed[] = {
        "vm", "package", "target", "canary", "batch", "max_failures",
        "health_window_ms", "device_timeout_s", NULL
    };
    const cJSON *doc = call->doc;
    ctld_rollout_req_t rr;
    ctld_rollout_t ro;
    const char **devs = NULL, **labels = NULL;
    char *labelbuf = NULL, err[256] = "";
    int rc;

    memset(&rr, 0, sizeof(rr));
    memset(&ro, 0, sizeof(ro));
    rr.canary = VMCTLD_ROLLOUT_CANARY_DEFAULT;
    if (need_doc(call, resp) != 0 ||
        check_fields(doc, "", allowed, resp) != 0 ||
        field_str(doc, "vm", true, &rr.vm, resp) != 0 ||
        check_vm("vm", rr.vm, resp) != 0 ||
        field_str(doc, "package", true, &rr.package, resp) != 0 ||
        check_sha("package", rr.package, resp) != 0 ||
        parse_target(doc, &rr, &devs, &labelbuf, &labels, resp) != 0 ||
        field_uint(doc, "canary", 0, COUNT_MAX, &rr.canary, resp) != 0 ||
        field_count_pct(doc, "batch", 1, &rr.batch, &rr.batch_pct, resp) !=
            0 ||
        field_count_pct(doc, "max_failures", 0, &rr.max_failures,
                        &rr.max_failures_pct, resp) != 0 ||
        field_uint(doc, "health_window_ms", 0, HEALTH_MAX_MS,
                   &rr.health_window_ms, resp) != 0 ||
        field_uint(doc, "device_timeout_s", 0, DEV_TIMEOUT_MAX_S,
                   &rr.device_timeout_s, resp) != 0)
        goto done;
    rc = ctld_rollout_create(call->api->core, &rr, &ro, err, sizeof(err));
    if (rc != 0) {
        core_error(resp, rc,
                   rc == CTLD_ENOTFOUND ? "package" : "rollout", err);
        goto done;
    }
    LOG_INFO("api: %s: rollout %s created: %s %s to %s", call->who, ro.id,
             ro.vm, ro.version, ro.target);
    rollout_resp(resp, 201, &ro, ro.devices != NULL);
done:
    ctld_rollout_clear(&ro);
    free(devs);
    free(labels);
    free(labelbuf);
}

static void
h_rollouts(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const none[] = { NULL };
    ctld_rollout_t *ros = NULL;
    cJSON *o, *arr, *r;
    size_t i, n = 0;
    int rc;

    if (check_args(call->req, none, NULL, resp) != 0)
        return;
    if ((rc = ctld_rollout_list(call->api->core, &ros, &n)) != 0) {
        core_error(resp, rc, "rollouts", NULL);
        return;
    }
    if ((o = cJSON_CreateObject()) == NULL ||
        (arr = cJSON_AddArrayToObject(o, "rollouts")) == NULL)
        goto oom;
    for (i = 0; i < n; i++) {
        if ((r = cJSON_CreateObject()) == NULL)
            goto oom;
        api__json_rollout(r, &ros[i], false);
        cJSON_AddItemToArray(arr, r);
    }
    free(ros);
    json_resp(resp, 200, o);
    return;
oom:
    cJSON_Delete(o);
    free(ros);
    oom_resp(resp);
}

static void
h_rollout(const call_t *call, vmctld_http_resp_t *resp)
{
    ctld_rollout_t ro;
    char what[100];
    int rc;

    if (check_id("rollout", call->p[0], resp) != 0)
        return;
    memset(&ro, 0, sizeof(ro));
    if ((rc = ctld_rollout_get(call->api->core, call->p[0], &ro)) != 0) {
        snprintf(what, sizeof(what), "rollout %s", call->p[0]);
        core_error(resp, rc, what, NULL);
        return;
    }
    rollout_resp(resp, 200, &ro, true);
    ctld_rollout_clear(&ro);
}

/* POST rollouts/{id}/pause|resume|abort. */
static void
h_rollout_action(const call_t *call, vmctld_http_resp_t *resp)
{
    const char *id = call->p[0];
    const char *action = strrchr(call->req->path, '/') + 1;
    ctld_rollout_t ro;
    char what[160];
    int rc;

    if (check_id("rollout", id, resp) != 0)
        return;
    if (call->doc != NULL) {
        static const char *const none[] = { NULL };

        if (check_fields(call->doc, "", none, resp) != 0)
            return;
    }
    memset(&ro, 0, sizeof(ro));
    if (strcmp(action, "pause") == 0)
        rc = ctld_rollout_pause(call->api->core, id, &ro);
    else if (strcmp(action, "resume") == 0)
        rc = ctld_rollout_resume(call->api->core, id, &ro);
    else
        rc = ctld_rollout_abort(call->api->core, id, &ro);
    if (rc != 0) {
        ctld_rollout_clear(&ro);
        memset(&ro, 0, sizeof(ro));
        if (rc == CTLD_ESTATE &&
            ctld_rollout_get(call->api->core, id, &ro) == 0)
            snprintf(what, sizeof(what), "rollout %s is %s, cannot %s", id,
                     ro.state, action);
        else
            snprintf(what, sizeof(what), "rollout %s", id);
        ctld_rollout_clear(&ro);
        core_error(resp, rc, what, NULL);
        return;
    }
    LOG_INFO("api: %s: rollout %s: %s", call->who, id, action);
    rollout_resp(resp, 200, &ro, ro.devices != NULL);
    ctld_rollout_clear(&ro);
}

/* ---- events ------------------------------------------------------------ */

static void
h_events(const call_t *call, vmctld_http_resp_t *resp)
{
    static const char *const none[] = { NULL };

    if (check_args(call->req, none, NULL, resp) != 0)
        return;
    if (strcmp(call->req->method, "HEAD") == 0) {
        resp->status = 200; /* the headers only: no stream to hold open */
        resp->type = "text/event-stream";
        return;
    }
    if (api__sse_open(call->api, resp) != 0)
        oom_resp(resp);
}

/* ---- the route table --------------------------------------------------- */

static const route_t routes[] = {
    { "GET", "info", BODY_NONE, h_info },
    { "GET", "devices", BODY_NONE, h_devices },
    { "GET", "devices/*", BODY_NONE, h_device },
    { "GET", "devices/*/vms", BODY_NONE, h_device_vms },
    { "GET", "devices/*/vms/*/logs", BODY_NONE, h_vm_logs },
    { "GET", "fleet", BODY_NONE, h_fleet },
    { "POST", "devices/*/vms", BODY_JSON, h_vm_create },
    { "DELETE", "devices/*/vms/*", BODY_JSON, h_vm_destroy },
    { "POST", "devices/*/vms/*/start", BODY_JSON, h_vm_action },
    { "POST", "devices/*/vms/*/stop", BODY_JSON, h_vm_action },
    { "POST", "devices/*/vms/*/suspend", BODY_JSON, h_vm_action },
    { "POST", "devices/*/vms/*/resume", BODY_JSON, h_vm_action },
    { "POST", "devices/*/vms/*/restart", BODY_JSON, h_vm_action },
    { "POST", "devices/*/vms/*/snapshot", BODY_JSON, h_vm_action },
    { "POST", "devices/*/vms/*/restore", BODY_JSON, h_vm_action },
    { "GET", "commands", BODY_NONE, h_commands },
    { "GET", "commands/*", BODY_NONE, h_command },
    { "POST", "commands/*/cancel", BODY_JSON, h_command_cancel },
    { "GET", "packages", BODY_NONE, h_packages },
    { "POST", "packages", BODY_UPLOAD, h_package_upload },
    { "GET", "packages/*", BODY_NONE, h_package },
    { "DELETE", "packages/*", BODY_NONE, h_package_delete },
    { "GET", "snapshots", BODY_NONE, h_snapshots },
    { "GET", "snapshots/*", BODY_NONE, h_snapshot },
    { "DELETE", "snapshots/*", BODY_NONE, h_snapshot_delete },
    { "GET", "snapshots/*/content", BODY_NONE, h_snapshot_content },
    { "GET", "rollouts", BODY_NONE, h_rollouts },
    { "POST", "rollouts", BODY_JSON, h_rollout_create },
    { "GET", "rollouts/*", BODY_NONE, h_rollout },
    { "POST", "rollouts/*/pause", BODY_JSON, h_rollout_action },
    { "POST", "rollouts/*/resume", BODY_JSON, h_rollout_action },
    { "POST", "rollouts/*/abort", BODY_JSON, h_rollout_action },
    { "GET", "events", BODY_NONE, h_events },
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/*
 * Does `path` (after the prefix) match `pattern`?  The '*' segments go
 * into p[] as pointers into `segs`.
 */
static bool
route_match(const char *pattern, char *const *segs, size_t nsegs,
            const char **p)
{
    size_t i = 0, k = 0, len;
    const char *s = pattern, *slash;

    while (*s != '\0') {
        if (i == nsegs)
            return false;
        slash = strchr(s, '/');
        len = slash != NULL ? (size_t)(slash - s) : strlen(s);
        if (len == 1 && s[0] == '*') {
            if (k < 3)
                p[k++] = segs[i];
        } else if (strlen(segs[i]) != len || memcmp(segs[i], s, len) != 0) {
            return false;
        }
        i++;
        s += len;
        if (*s == '/')
            s++;
    }
    return i == nsegs;
}

/* Split `path` (copied into buf) into non-empty segments; -1 if any is
 * empty or there are too many. */
static int
split_path(const char *path, char *buf, size_t cap, char **segs,
           size_t *nsegs)
{
    char *s, *slash;
    size_t n = 0;

    if (strlen(path) >= cap || path[0] == '\0' ||
        path[strlen(path) - 1] == '/')
        return -1;
    strcpy(buf, path);
    for (s = buf; *s != '\0'; s = slash + 1) {
        if (n == SEGS_MAX)
            return -1;
        slash = strchr(s, '/');
        if (slash != NULL)
            *slash = '\0';
        if (*s == '\0')
            return -1;
        segs[n++] = s;
        if (slash == NULL)
            break;
    }
    *nsegs = n;
    return n > 0 ? 0 : -1;
}

/*
 * Find the route for method and path (after API_PREFIX); p[] receives
 * the '*' segments, NUL-terminated in buf (cap bytes).
 * Return: its index; -1 no such path (404); -2 the path exists with
 * other methods, listed in `allow` (405).
 */
static int
route_find(const char *method, const char *path, char *buf, size_t cap,
           const char **p, char *allow, size_t allowlen)
{
    char *segs[SEGS_MAX];
    size_t nsegs, i;
    bool path_known = false;

    allow[0] = '\0';
    if (split_path(path, buf, cap, segs, &nsegs) != 0)
        return -1;
    if (strcmp(method, "HEAD") == 0)
        method = "GET";
    for (i = 0; i < NROUTES; i++) {
        memset(p, 0, 3 * sizeof(*p));
        if (!route_match(routes[i].pattern, segs, nsegs, p))
            continue;
        path_known = true;
        if (strcmp(routes[i].method, method) == 0)
            return (int)i;
        if (allow[0] != '\0')
            strncat(allow, ", ", allowlen - strlen(allow) - 1);
        strncat(allow, routes[i].method, allowlen - strlen(allow) - 1);
    }
    return path_known ? -2 : -1;
}

/* ---- auth -------------------------------------------------------------- */

/*
 * The role of the request's bearer token, and its name for the logs.
 * Every configured token is compared in full, in constant time, whether
 * or not an earlier one matched.
 */
static vmctld_role_t
authenticate(vmctld_api_t *api, const char *hdr, char *who, size_t wholen)
{
    char given[VMCTLD_TOKEN_MAX];
    vmctld_role_t role = VMCTLD_ROLE_NONE;
    unsigned char diff;
    const char *t;
    size_t len, i, k;

    if (hdr == NULL || strncasecmp(hdr, "Bearer ", 7) != 0)
        return VMCTLD_ROLE_NONE;
    for (t = hdr + 7; *t == ' '; t++)
        ;
    len = strlen(t);
    while (len > 0 && (t[len - 1] == ' ' || t[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(given))
        return VMCTLD_ROLE_NONE;
    memset(given, 0, sizeof(given));
    memcpy(given, t, len);
    mtx_lock(&api->tok_lock);
    for (k = 0; k < api->ntokens; k++) {
        diff = 0;
        for (i = 0; i < VMCTLD_TOKEN_MAX; i++)
            diff |= (unsigned char)(given[i] ^ api->tokens[k].token[i]);
        if (diff == 0 && role == VMCTLD_ROLE_NONE) {
            role = api->tokens[k].role;
            snprintf(who, wholen, "%s", api->tokens[k].name);
        }
    }
    mtx_unlock(&api->tok_lock);
    return role;
}

static int
copy_tokens(const vmctld_config_t *cfg, vmctld_token_t **out, size_t *n)
{
    vmctld_token_t *t = NULL;
    size_t i;

    if (cfg->ntokens > 0 &&
        (t = calloc(cfg->ntokens, sizeof(*t))) == NULL)
        return -1;
    /* calloc'ed: each token is zero-padded to VMCTLD_TOKEN_MAX, which the
     * constant-time compare relies on. */
    for (i = 0; i < cfg->ntokens; i++) {
        snprintf(t[i].name, sizeof(t[i].name), "%s", cfg->tokens[i].name);
        memcpy(t[i].token, cfg->tokens[i].token,
               strnlen(cfg->tokens[i].token, VMCTLD_TOKEN_MAX - 1));
        t[i].role = cfg->tokens[i].role;
    }
    *out = t;
    *n = cfg->ntokens;
    return 0;
}

/* The secrets do not linger in freed memory. */
static void
free_tokens(vmctld_token_t *t, size_t n)
{
    if (t != NULL)
        memset(t, 0, n * sizeof(*t));
    free(t);
}

/* ---- static files ------------------------------------------------------ */

static const char *
mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".mjs", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" },
        { ".wasm", "application/wasm" },
        { ".woff2", "font/woff2" },
    };
    const char *dot = strrchr(path, '.');
    size_t i;

    for (i = 0; dot != NULL && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return "application/octet-stream";
}

/* GET of a file under web_root; "/" and "dir/" serve index.html. */
static void
serve_static(vmctld_api_t *api, const char *path, vmctld_http_resp_t *resp)
{
    char full[VMCTLD_CFG_PATH_MAX + 512];
    int n, rc;

    if (path[0] != '/' || strstr(path, "..") != NULL ||
        strchr(path, '\\') != NULL) {
        error_resp(resp, 404, "E_NOT_FOUND", "no such file");
        return;
    }
    n = snprintf(full, sizeof(full), "%s%s%s", api->web_root, path,
                 path[strlen(path) - 1] == '/' ? "index.html" : "");
    if (n < 0 || (size_t)n >= sizeof(full)) {
        error_resp(resp, 404, "E_NOT_FOUND", "no such file");
        return;
    }
    if ((rc = vmctld_http_resp_file(resp, full)) != 0) {
        if (rc == ENOENT || rc == EISDIR || rc == ENOTDIR || rc == EINVAL ||
            rc == ENAMETOOLONG || rc == ELOOP)
            error_resp(resp, 404, "E_NOT_FOUND", "%.200s: no such file",
                       path);
        else
            error_resp(resp, 500, "E_INTERNAL", "%.200s: %s", path,
                       strerror(rc));
        return;
    }
    resp->status = 200;
    resp->type = mime_type(full);
}

/* ---- the handler ------------------------------------------------------- */

static bool
is_read(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
}

/* Does the request's Content-Type name `want` (parameters ignored)? */
static bool
type_is(const vmctld_http_req_t *req, const char *want)
{
    const char *ct = vmctld_http_req_header(req, "Content-Type");
    size_t n = strlen(want);

    return ct != NULL && strncasecmp(ct, want, n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * The headers are in: everything that can be refused without the body.
 * Return: with resp->status set, the answer; else req->user holds the
 * pending call and req->body_limit the body's limit.
 */
static void
on_head(vmctld_api_t *api, vmctld_http_req_t *req, vmctld_http_resp_t *resp)
{
    const char *path = req->path, *p[3];
    char allow[64], buf[512];
    pending_t *pc;
    const route_t *rt;
    vmctld_role_t role;
    char who[64] = "";
    int64_t cl = req->content_length;
    uint64_t limit = 0;
    int ri;

    if (atomic_load(&api->stopping)) {
        error_resp(resp, 503, "E_UNAVAILABLE", "vmctld is shutting down");
        return;
    }
    if ((pc = calloc(1, sizeof(*pc))) == NULL) {
        oom_resp(resp);
        return;
    }
    req->user = pc;
    snprintf(pc->path, sizeof(pc->path), "%s", path);
    if (cl == -2) {
        error_resp(resp, 400, "E_INVALID", "Content-Length: not a number");
        return;
    }
    if (strcmp(path, "/healthz") == 0 || strncmp(path, "/api/", 5) != 0) {
        pc->route = strcmp(path, "/healthz") == 0 ? ROUTE_HEALTHZ
                                                  : ROUTE_STATIC;
        if (pc->route == ROUTE_STATIC && api->web_root[0] == '\0') {
            error_resp(resp, 404, "E_NOT_FOUND", "%.200s: no such route",
                       path);
        } else if (!is_read(req->method)) {
            vmctld_http_resp_header(resp, "Allow", "GET");
            error_resp(resp, 405, "E_METHOD", "%s %.200s: only GET",
                       req->method, path);
        } else if (cl > 0) {
            error_resp(resp, 413, "E_TOO_LARGE", "body: %s takes none",
                       req->method);
        }
        return;
    }
    role = authenticate(api, vmctld_http_req_header(req, "Authorization"),
                        who, sizeof(who));
    if (role == VMCTLD_ROLE_NONE) {
        vmctld_http_resp_header(resp, "WWW-Authenticate",
                                "Bearer realm=\"vmctld\"");
        error_resp(resp, 401, "E_UNAUTHORIZED",
                   vmctld_http_req_header(req, "Authorization") == NULL
                       ? "no token: send Authorization: Bearer TOKEN"
                       : "unknown token");
        return;
    }
    memset(p, 0, sizeof(p));
    ri = strncmp(path, API_PREFIX, strlen(API_PREFIX)) == 0
             ? route_find(req->method, path + strlen(API_PREFIX), buf,
                          sizeof(buf), p, allow, sizeof(allow))
             : -1;
    if (ri == -1) {
        error_resp(resp, 404, "E_NOT_FOUND", "%.200s: no such route", path);
        return;
    }
    if (ri == -2) {
        vmctld_http_resp_header(resp, "Allow", "%s", allow);
        error_resp(resp, 405, "E_METHOD", "%s %.200s: allowed: %s",
                   req->method, path, allow);
        return;
    }
    rt = &routes[ri];
    if (role != VMCTLD_ROLE_OPERATOR && !is_read(req->method)) {
        LOG_INFO("api: %s: %s %.200s refused: viewer token", who,
                 req->method, path);
        error_resp(resp, 403, "E_FORBIDDEN",
                   "%s %.200s: needs an operator token (this one is a "
                   "viewer's)",
                   req->method, path);
        return;
    }
    pc->route = ri;
    pc->role = role;
    snprintf(pc->who, sizeof(pc->who), "%s", who);
    switch (rt->body) {
    case BODY_NONE:
        if (cl > 0) {
            error_resp(resp, 413, "E_TOO_LARGE", "body: %s %s takes none",
                       req->method, rt->pattern);
            return;
        }
        break;
    case BODY_JSON:
        limit = api->max_body;
        if (cl > 0 && (uint64_t)cl > limit) {
            error_resp(resp, 413, "E_TOO_LARGE",
                       "body: %lld bytes, the limit is %llu (http.max_body)",
                       (long long)cl, (unsigned long long)limit);
            return;
        }
        if (cl != 0 && vmctld_http_req_header(req, "Content-Type") != NULL &&
            !type_is(req, "application/json")) {
            error_resp(resp, 415, "E_MEDIA_TYPE",
                       "Content-Type: expected application/json");
            return;
        }
        break;
    case BODY_UPLOAD:
        limit = api->max_upload;
        if (cl < 0) {
            error_resp(resp, 411, "E_LENGTH_REQUIRED",
                       "Content-Length: required for an upload");
            return;
        }
        if ((uint64_t)cl > limit) {
            error_resp(resp, 413, "E_TOO_LARGE",
                       "package: %lld bytes, the limit is %llu "
                       "(http.max_upload)",
                       (long long)cl, (unsigned long long)limit);
            return;
        }
        if (!type_is(req, "application/octet-stream")) {
            error_resp(resp, 415, "E_MEDIA_TYPE",
                       "Content-Type: expected application/octet-stream");
            return;
        }
        break;
    }
    req->body_limit = (size_t)limit;
}

/* The body is in: parse it and run the route. */
static void
on_body(vmctld_api_t *api, vmctld_http_req_t *req, vmctld_http_resp_t *resp)
{
    pending_t *pc = req->user;
    const route_t *rt;
    const char *end = NULL;
    char allow[64];
    call_t call;

    if (pc->route == ROUTE_HEALTHZ) {
        resp->status = 200;
        resp->type = "application/json";
        resp->body = strdup("{\"ok\":true}");
        resp->len = resp->body != NULL ? strlen(resp->body) : 0;
        if (resp->body == NULL)
            oom_resp(resp);
        return;
    }
    if (pc->route == ROUTE_STATIC) {
        serve_static(api, req->path, resp);
        return;
    }
    rt = &routes[pc->route];
    memset(&call, 0, sizeof(call));
    (void)route_find(req->method, req->path + strlen(API_PREFIX),
                     call.pathbuf, sizeof(call.pathbuf), call.p, allow,
                     sizeof(allow));
    call.api = api;
    call.req = req;
    call.who = pc->who;
    call.role = pc->role;
    if (rt->body == BODY_JSON && req->body_len > 0) {
        call.doc = cJSON_ParseWithLengthOpts((const char *)req->body,
                                             req->body_len, &end, false);
        if (call.doc == NULL) {
            error_resp(resp, 400, "E_BAD_JSON",
                       "body: not valid JSON (at byte %zu)",
                       end != NULL ? (size_t)(end - (const char *)req->body)
                                   : (size_t)0);
            return;
        }
        while (end != NULL && end < (const char *)req->body + req->body_len &&
               (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
            end++;
        if (end != (const char *)req->body + req->body_len) {
            error_resp(resp, 400, "E_BAD_JSON",
                       "body: trailing bytes after the JSON value");
            cJSON_Delete(call.doc);
            return;
        }
        if (!cJSON_IsObject(call.doc)) {
            error_resp(resp, 400, "E_BAD_JSON",
                       "body: expected a JSON object");
            cJSON_Delete(call.doc);
            return;
        }
    }
    rt->fn(&call, resp);
    cJSON_Delete(call.doc);
}

static void
handle(void *arg, vmctld_http_req_t *req, vmctld_http_resp_t *resp)
{
    vmctld_api_t *api = arg;
    pending_t *pc;

    switch (req->phase) {
    case VMCTLD_HTTP_HEAD:
        on_head(api, req, resp);
        break;
    case VMCTLD_HTTP_OVERFLOW:
        error_resp(resp, 413, "E_TOO_LARGE",
                   "body: over the limit of %zu bytes", req->body_limit);
        break;
    case VMCTLD_HTTP_BODY:
        if (atomic_load(&api->stopping))
            error_resp(resp, 503, "E_UNAVAILABLE",
                       "vmctld is shutting down");
        else
            on_body(api, req, resp);
        break;
    }
    pc = req->user;
    if (resp->status != 0 && pc != NULL && !is_read(req->method))
        LOG_DEBUG("api: %s: %s %s -> %d", pc->who[0] != '\0' ? pc->who : "-",
                  req->method, pc->path, resp->status);
}

/* ---- public ------------------------------------------------------------ */

int
vmctld_api_start(ctld_t *core, const vmctld_config_t *cfg,
                 vmctld_api_t **out, char *err, size_t errlen)
{
    vmctld_http_opts_t opts;
    vmctld_api_t *api;

    if ((api = calloc(1, sizeof(*api))) == NULL) {
        snprintf(err, errlen, "http: out of memory");
        return -1;
    }
    api->core = core;
    api->max_body = cfg->http_max_body;
    api->max_upload = cfg->http_max_upload;
    snprintf(api->web_root, sizeof(api->web_root), "%s", cfg->web_root);
    atomic_init(&api->stopping, false);
    if (mtx_init(&api->tok_lock, mtx_plain) != thrd_success) {
        free(api);
        snprintf(err, errlen, "http: cannot make a mutex");
        return -1;
    }
    if (mtx_init(&api->sse_lock, mtx_plain) != thrd_success) {
        mtx_destroy(&api->tok_lock);
        free(api);
        snprintf(err, errlen, "http: cannot make a mutex");
        return -1;
    }
    if (copy_tokens(cfg, &api->tokens, &api->ntokens) != 0) {
        snprintf(err, errlen, "http: out of memory");
        goto fail;
    }
    memset(&opts, 0, sizeof(opts));
    opts.listen = cfg->http_listen;
    opts.cert_file = cfg->http_cert_file;
    opts.key_file = cfg->http_key_file;
    opts.max_clients = cfg->http_max_clients != 0 ? cfg->http_max_clients
                                                  : 256;
    if (vmctld_http_start(&opts, handle, api, &api->http, err, errlen) != 0)
        goto fail;
    ctld_set_event_sink(core, api__sse_sink, api);
    LOG_INFO("api: listening on %s (port %d, %s)", cfg->http_listen,
             vmctld_http_port(api->http),
             vmctld_http_tls(api->http) ? "https" : "http");
    *out = api;
    return 0;
fail:
    free_tokens(api->tokens, api->ntokens);
    mtx_destroy(&api->sse_lock);
    mtx_destroy(&api->tok_lock);
    free(api);
    return -1;
}

int
vmctld_api_reload(vmctld_api_t *api, const vmctld_config_t *cfg)
{
    vmctld_token_t *t, *old;
    size_t n, old_n;

    if (copy_tokens(cfg, &t, &n) != 0) {
        LOG_ERR("api: reload: out of memory; keeping the old tokens");
        return 0;
    }
    mtx_lock(&api->tok_lock);
    old = api->tokens;
    old_n = api->ntokens;
    api->tokens = t;
    api->ntokens = n;
    mtx_unlock(&api->tok_lock);
    free_tokens(old, old_n);
    LOG_INFO("api: reloaded: %zu tokens", n);
    return 0;
}

void
vmctld_api_stop(vmctld_api_t *api)
{
    if (api == NULL)
        return;
    atomic_store(&api->stopping, true);
    ctld_set_event_sink(api->core, NULL, NULL);
    api__sse_close_all(api);
    vmctld_http_stop(api->http);
    free_tokens(api->tokens, api->ntokens);
    mtx_destroy(&api->sse_lock);
    mtx_destroy(&api->tok_lock);
    free(api);
}

int
vmctld_api_port(const vmctld_api_t *api)
{
    return vmctld_http_port(api->http);
}
