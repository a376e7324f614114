/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Module lifecycle glue: load = copy + decode + compile; introspection;
 * error texts; the allocation hooks.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "module.h"

void *
vmrt__malloc(size_t n)
{
    return malloc(n == 0 ? 1 : n);
}

void *
vmrt__calloc(size_t n, size_t size)
{
    return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *
vmrt__realloc(void *p, size_t n)
{
    return realloc(p, n == 0 ? 1 : n);
}

void
vmrt__free(void *p)
{
    free(p);
}

const char *
vmrt_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define VMRT_XX_(name, val, msg)                                             \
    case VMRT_##name:                                                        \
        return msg;
        VMRT_ERRNO_MAP(VMRT_XX_)
#undef VMRT_XX_
    default:
        return "unknown error";
    }
}

const char *
vmrt_trap_str(vmrt_trap_t code)
{
    switch (code) {
    case VMRT_TRAP_NONE:
        return "no trap";
#define VMRT_XX_(name, val, msg)                                             \
    case VMRT_TRAP_##name:                                                   \
        return msg;
        VMRT_TRAP_MAP(VMRT_XX_)
#undef VMRT_XX_
    default:
        return "unknown trap";
    }
}

int
vmrt_module_load(const uint8_t *bytes, size_t len, vmrt_module_t **out,
                 char *err, size_t errlen)
{
    vmrt_module_t *m;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || (bytes == NULL && len > 0))
        return VMRT_EINVAL;
    *out = NULL;
    if (len > UINT32_MAX) {
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "module larger than 4 GiB");
        return VMRT_ELIMIT;
    }
    if ((m = vmrt__calloc(1, sizeof(*m))) == NULL)
        return VMRT_ENOMEM;
    if ((m->bytes = vmrt__malloc(len)) == NULL) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    if (len > 0)
        memcpy(m->bytes, bytes, len);
    m->len = len;
    vmrt__sha256(m->bytes, len, m->sha256);
    if ((rc = vmrt__module_decode(m, err, errlen)) != 0)
        goto fail;
    if ((rc = vmrt__module_compile(m, err, errlen)) != 0)
        goto fail;
    *out = m;
    return 0;
fail:
    vmrt_module_free(m);
    return rc;
}

void
vmrt_module_free(vmrt_module_t *m)
{
    if (m == NULL)
        return;
    vmrt__module_release_code(m);
    vmrt__module_release_decoded(m);
    vmrt__free(m->bytes);
    vmrt__free(m);
}

uint32_t
vmrt_module_import_count(const vmrt_module_t *m)
{
    return m->nimports;
}

uint32_t
vmrt_module_export_count(const vmrt_module_t *m)
{
    return m->nexports;
}

int
vmrt_module_import_info(const vmrt_module_t *m, uint32_t i,
                        vmrt_extern_info_t *info)
{
    if (i >= m->nimports)
        return VMRT_ENOTFOUND;
    const vmrt__import_t *im = &m->imports[i];
    memset(info, 0, sizeof(*info));
    info->module = im->module;
    info->module_len = im->module_len;
    info->name = im->name;
    info->name_len = im->name_len;
    info->kind = (vmrt_extern_kind_t)im->kind;
    info->index = im->kind == VMRT_EXTERN_FUNC ? im->desc.type_idx : 0;
    return 0;
}

int
vmrt_module_export_info(const vmrt_module_t *m, uint32_t i,
                        vmrt_extern_info_t *info)
{
    if (i >= m->nexports)
        return VMRT_ENOTFOUND;
    const vmrt__export_t *ex = &m->exports[i];
    memset(info, 0, sizeof(*info));
    info->name = ex->name;
    info->name_len = ex->name_len;
    info->kind = (vmrt_extern_kind_t)ex->kind;
    info->index = ex->index;
    return 0;
}

const uint8_t *
vmrt_module_sha256(const vmrt_module_t *m)
{
    return m->sha256;
}
