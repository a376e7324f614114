/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vmctl: JSON (json.h), the only file that includes cJSON.  A
 * vmctl_json_t pointer is a cJSON pointer under another name, so that
 * nothing else needs cJSON's header.
 */

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static const cJSON *
cj(const vmctl_json_t *v)
{
    return (const cJSON *)v;
}

static cJSON *
cjw(vmctl_json_t *v)
{
    return (cJSON *)v;
}

vmctl_json_t *
vmctl_json_parse(const char *buf, size_t len)
{
    const char *end = NULL;
    cJSON *root;

    if (buf == NULL)
        return NULL;
    root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
    if (root == NULL)
        return NULL;
    /* Trailing whitespace is fine (a newline after the document), any
     * other trailing byte means this was not one JSON document. */
    while (end != NULL && end < buf + len &&
           (*end == ' ' || *end == '\n' || *end == '\r' || *end == '\t'))
        end++;
    if (end == NULL || end != buf + len) {
        cJSON_Delete(root);
        return NULL;
    }
    return (vmctl_json_t *)root;
}

void
vmctl_json_free(vmctl_json_t *root)
{
    cJSON_Delete(cjw(root));
}

const vmctl_json_t *
vmctl_json_get(const vmctl_json_t *obj, const char *key)
{
    if (obj == NULL || !cJSON_IsObject(cj(obj)))
        return NULL;
    return (const vmctl_json_t *)cJSON_GetObjectItemCaseSensitive(cj(obj),
                                                                  key);
}

const char *
vmctl_json_str(const vmctl_json_t *obj, const char *key)
{
    const cJSON *v = cj(vmctl_json_get(obj, key));

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool
vmctl_json_num(const vmctl_json_t *obj, const char *key, double *out)
{
    const cJSON *v = cj(vmctl_json_get(obj, key));

    if (!cJSON_IsNumber(v))
        return false;
    *out = v->valuedouble;
    return true;
}

bool
vmctl_json_int(const vmctl_json_t *obj, const char *key, int64_t *out)
{
    double d;

    /* 2^53: beyond it a double no longer holds every integer. */
    if (!vmctl_json_num(obj, key, &d) || !isfinite(d) ||
        fabs(d) > 9007199254740992.0)
        return false;
    *out = (int64_t)d;
    return true;
}

bool
vmctl_json_bool(const vmctl_json_t *obj, const char *key, bool *out)
{
    const cJSON *v = cj(vmctl_json_get(obj, key));

    if (!cJSON_IsBool(v))
        return false;
    *out = cJSON_IsTrue(v);
    return true;
}

size_t
vmctl_json_len(const vmctl_json_t *v)
{
    const cJSON *c = cj(v);
    int n;

    if (!cJSON_IsArray(c) && !cJSON_IsObject(c))
        return 0;
    n = cJSON_GetArraySize(c);
    return n > 0 ? (size_t)n : 0;
}

const vmctl_json_t *
vmctl_json_at(const vmctl_json_t *v, size_t i, const char **key)
{
    const cJSON *c = cj(v), *e;
    size_t k = 0;

    if (key != NULL)
        *key = NULL;
    if (!cJSON_IsArray(c) && !cJSON_IsObject(c))
        return NULL;
    /* Walk the list: cJSON_GetArrayItem() takes an int. */
    for (e = c->child; e != NULL && k < i; e = e->next)
        k++;
    if (e != NULL && key != NULL)
        *key = e->string;
    return (const vmctl_json_t *)e;
}

bool
vmctl_json_is_object(const vmctl_json_t *v)
{
    return cJSON_IsObject(cj(v));
}

bool
vmctl_json_is_array(const vmctl_json_t *v)
{
    return cJSON_IsArray(cj(v));
}

const char *
vmctl_json_text(const vmctl_json_t *v, const char *dflt, char *buf,
                size_t len)
{
    const cJSON *c = cj(v);

    if (len == 0)
        return buf;
    if (cJSON_IsString(c))
        snprintf(buf, len, "%s", c->valuestring);
    else if (cJSON_IsNumber(c)) {
        double d = c->valuedouble;

        if (isfinite(d) && d == floor(d) && fabs(d) < 9007199254740992.0)
            snprintf(buf, len, "%" PRId64, (int64_t)d);
        else
            snprintf(buf, len, "%g", d);
    } else if (cJSON_IsBool(c))
        snprintf(buf, len, "%s", cJSON_IsTrue(c) ? "true" : "false");
    else
        snprintf(buf, len, "%s", dflt);
    return buf;
}

vmctl_json_t *
vmctl_json_object(void)
{
    return (vmctl_json_t *)cJSON_CreateObject();
}

int
vmctl_json_add_str(vmctl_json_t *obj, const char *key, const char *v)
{
    return cJSON_AddStringToObject(cjw(obj), key, v) != NULL ? 0 : -1;
}

int
vmctl_json_add_num(vmctl_json_t *obj, const char *key, double v)
{
    return cJSON_AddNumberToObject(cjw(obj), key, v) != NULL ? 0 : -1;
}

int
vmctl_json_add_bool(vmctl_json_t *obj, const char *key, bool v)
{
    return cJSON_AddBoolToObject(cjw(obj), key, v) != NULL ? 0 : -1;
}

vmctl_json_t *
vmctl_json_add_object(vmctl_json_t *obj, const char *key)
{
    return (vmctl_json_t *)cJSON_AddObjectToObject(cjw(obj), key);
}

vmctl_json_t *
vmctl_json_add_array(vmctl_json_t *obj, const char *key)
{
    return (vmctl_json_t *)cJSON_AddArrayToObject(cjw(obj), key);
}

int
vmctl_json_push_str(vmctl_json_t *arr, const char *v)
{
    cJSON *s;

    if (!cJSON_IsArray(cjw(arr)) || (s = cJSON_CreateString(v)) == NULL)
        return -1;
    if (!cJSON_AddItemToArray(cjw(arr), s)) {
        cJSON_Delete(s);
        return -1;
    }
    return 0;
}

char *
vmctl_json_print(const vmctl_json_t *v)
{
    return cJSON_PrintUnformatted(cj(v));
}
