/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The one wrapper around protobuf-c for the vpk module: the manifest
 * (proto/vpk.proto) to and from vpk_manifest_t.  Decoding copies every
 * field into the caller's fixed-size struct and frees protobuf-c's
 * objects at once, so a view never owns heap memory.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vpk.pb-c.h"
#include "vpk_internal.h"

int
vpk__manifest_encode(const vpk_manifest_t *m, uint8_t **out, size_t *out_len)
{
    Vmf__Vpk__Manifest pm = VMF__VPK__MANIFEST__INIT;
    Vmf__Vpk__Resources pr = VMF__VPK__RESOURCES__INIT;
    uint8_t sha[VPK_SHA256_LEN];
    size_t n;
    uint8_t *buf;

    /* protobuf-c takes non-const pointers; it only reads them here. */
    memcpy(sha, m->module_sha256, sizeof(sha));
    pm.vm_name = (char *)m->vm_name;
    pm.version = (char *)m->version;
    pm.module_sha256.data = sha;
    pm.module_sha256.len = sizeof(sha);
    pm.module_size = m->module_size;
    pm.min_runtime_version = (char *)m->min_runtime_version;
    pr.memory_pages = m->memory_pages;
    pr.storage_quota_bytes = m->storage_quota_bytes;
    pr.priority = m->priority;
    pm.resources = &pr;
    pm.allow_downgrade = m->allow_downgrade;
    pm.created_unix = m->created_unix;
    pm.key_id = (char *)m->key_id;
    n = vmf__vpk__manifest__get_packed_size(&pm);
    if (n > VPK_MANIFEST_MAX)
        return VPK_ETOOBIG;
    if ((buf = malloc(n ? n : 1)) == NULL)
        return VPK_ENOMEM;
    *out_len = vmf__vpk__manifest__pack(&pm, buf);
    *out = buf;
    return 0;
}

/*
 * copy_str: copy a decoded string into a fixed field.
 * Return: 0, or VPK_EFORMAT if it does not fit.
 */
static int
copy_str(char *dst, size_t cap, const char *src, const char *what, char *err,
         size_t errlen)
{
    size_t n = src ? strlen(src) : 0;

    if (n >= cap) {
        vpk__err(err, errlen, "manifest %s is %zu bytes, over %zu", what, n,
                 cap - 1);
        return VPK_EFORMAT;
    }
    memcpy(dst, src ? src : "", n + 1);
    return 0;
}

int
vpk__manifest_decode(const uint8_t *buf, size_t len, vpk_manifest_t *m,
                     char *err, size_t errlen)
{
    Vmf__Vpk__Manifest *pm;
    int rc;

    memset(m, 0, sizeof(*m));
    if ((pm = vmf__vpk__manifest__unpack(NULL, len, buf)) == NULL) {
        vpk__err(err, errlen, "manifest is not a valid protobuf message");
        return VPK_EFORMAT;
    }
    if ((rc = copy_str(m->vm_name, sizeof(m->vm_name), pm->vm_name, "vm_name",
                       err, errlen)) != 0 ||
        (rc = copy_str(m->version, sizeof(m->version), pm->version, "version",
                       err, errlen)) != 0 ||
        (rc = copy_str(m->min_runtime_version, sizeof(m->min_runtime_version),
                       pm->min_runtime_version, "min_runtime_version", err,
                       errlen)) != 0 ||
        (rc = copy_str(m->key_id, sizeof(m->key_id), pm->key_id, "key_id", err,
                       errlen)) != 0)
        goto fail;
    if (pm->module_sha256.len != VPK_SHA256_LEN) {
        vpk__err(err, errlen, "manifest module_sha256 is %zu bytes, not %d",
                 pm->module_sha256.len, VPK_SHA256_LEN);
        rc = VPK_EFORMAT;
        goto fail;
    }
    memcpy(m->module_sha256, pm->module_sha256.data, VPK_SHA256_LEN);
    m->module_size = pm->module_size;
    if (pm->resources != NULL) {
        m->memory_pages = pm->resources->memory_pages;
        m->storage_quota_bytes = pm->resources->storage_quota_bytes;
        m->priority = pm->resources->priority;
    }
    m->allow_downgrade = pm->allow_downgrade != 0;
    m->created_unix = pm->created_unix;
    rc = 0;
fail:
    vmf__vpk__manifest__free_unpacked(pm, NULL);
    return rc;
}
