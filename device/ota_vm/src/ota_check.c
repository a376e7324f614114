/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The update checks.  vpk_verify() checks key, signature and module hash
 * in one call; the issue puts the target, existence and version checks
 * between the signature and the hash, so a hash failure reported by
 * vpk_verify() (which means the signature was good) is held back until
 * its turn comes.
 */

#include <stdio.h>
#include <string.h>

#include "ota_check.h"

/* Fill msg and return code, in one statement for the checks below. */
#define FAIL(code, ...) (snprintf(msg, msglen, __VA_ARGS__), (code))

vmf_code_t
ota_check(const uint8_t *pkg, size_t len, const ota_check_ctx_t *ctx,
          vpk_view_t *view, char *msg, size_t msglen)
{
    const vpk_manifest_t *m = &view->manifest;
    uint64_t quota;
    uint32_t max_pages, pages;
    char err[160] = "";
    bool hash_bad = false;
    int rc, order;

    /* 0. It must be a package at all (truncated ones stop here). */
    if ((rc = vpk_parse(pkg, len, view, err, sizeof(err))) != 0)
        return FAIL(VMF_E_MALFORMED, "package: %s", err);

    /* 1. The signature, against the trusted keys. */
    rc = vpk_verify(view, ctx->keys, ctx->nkeys, err, sizeof(err));
    if (rc == VPK_EUNKNOWNKEY)
        return FAIL(VMF_E_UNKNOWN_KEY,
                    "package signed by key %s, which is not trusted",
                    m->key_id);
    if (rc == VPK_EHASH)
        hash_bad = true;
    else if (rc != 0)
        return FAIL(VMF_E_BAD_SIGNATURE, "signature: %s", err);

    /* 2. The target VM, and whether it exists or may be created. */
    if (strcmp(m->vm_name, ctx->cmd_vm) != 0)
        return FAIL(VMF_E_WRONG_VM,
                    "package is for VM '%s', the command for '%s'",
                    m->vm_name, ctx->cmd_vm);
    if (ctx->kind == VMF_CMD_CREATE && ctx->vm_exists)
        return FAIL(VMF_E_EXISTS, "VM '%s' already exists",
                    ctx->cmd_vm);
    if (!ctx->vm_exists && !ctx->allow_create)
        return FAIL(VMF_E_CREATE_DENIED,
                    "VM '%s' does not exist and this device does not "
                    "create VMs (--allow-create)",
                    ctx->cmd_vm);

    /* 3. Newer than the running version, unless the signed manifest
     * allows a downgrade.  A running version that is not semver (a VM
     * made by hand) counts as older than any package. */
    if (ctx->vm_exists && ctx->running_version != NULL &&
        ctx->running_version[0] != '\0' && !m->allow_downgrade &&
        vpk_semver_cmp(m->version, ctx->running_version, &order, NULL, 0) ==
            0 &&
        order <= 0)
        return FAIL(VMF_E_DOWNGRADE,
                    "version %s is not newer than the running %s",
                    m->version, ctx->running_version);

    /* 4. The module's hash and size (the signature covered both). */
    if (hash_bad)
        return FAIL(VMF_E_MODULE_HASH, "module: %s", err);

    /* 5. Quota.  An update keeps the VM's manifest (STAGE swaps only
     * the image), so the module must fit the quota the VM has now; the
     * package's own resources apply only to a VM it creates, and must
     * then be within what this device allows. */
    if (ctx->vm_exists) {
        if (ctx->vm_quota != 0 && m->module_size > ctx->vm_quota)
            return FAIL(VMF_E_QUOTA,
                        "module of %llu bytes exceeds VM %s's storage "
                        "quota of %llu",
                        (unsigned long long)m->module_size, ctx->cmd_vm,
                        (unsigned long long)ctx->vm_quota);
    } else {
        max_pages = ctx->max_memory_pages ? ctx->max_memory_pages
                                          : OTA_MAX_MEMORY_PAGES;
        quota = m->storage_quota_bytes ? m->storage_quota_bytes
                                       : OTA_DEFAULT_QUOTA;
        pages = m->memory_pages ? m->memory_pages : OTA_DEFAULT_PAGES;
        if (ctx->max_storage_quota != 0 && quota > ctx->max_storage_quota)
            return FAIL(VMF_E_QUOTA,
                        "storage quota of %llu bytes over the device's "
                        "%llu",
                        (unsigned long long)quota,
                        (unsigned long long)ctx->max_storage_quota);
        if (pages > max_pages)
            return FAIL(VMF_E_QUOTA, "memory_pages %u over the device's %u",
                        (unsigned)pages, (unsigned)max_pages);
        if (m->module_size > quota)
            return FAIL(VMF_E_QUOTA,
                        "module of %llu bytes exceeds the storage quota "
                        "of %llu it asks for",
                        (unsigned long long)m->module_size,
                        (unsigned long long)quota);
    }

    /* 6. The runtime must be new enough. */
    if (m->min_runtime_version[0] != '\0' &&
        (vpk_semver_cmp(m->min_runtime_version, ctx->runtime_version,
                        &order, NULL, 0) != 0 ||
         order > 0))
        return FAIL(VMF_E_MIN_RUNTIME,
                    "package needs runtime %s, this is %s",
                    m->min_runtime_version, ctx->runtime_version);

    snprintf(msg, msglen, "ok");
    return VMF_OK;
}
