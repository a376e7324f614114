/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld packages and snapshots: the verified uploads and the snapshots
 * devices sent, as blobs in the store (by SHA-256) with a registry row
 * each.  A package is verified exactly as a device would (vpk_parse(),
 * then vpk_verify(): trusted key, signature, module hash) before it is
 * stored; the crypto runs without the core lock.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld_internal.h"

int
ctld_package_add(ctld_t *c, const uint8_t *buf, size_t len,
                 vmctld_reg_package_t *out, bool *created, char *err,
                 size_t errlen)
{
    vmctld_reg_package_t p;
    vpk_view_t view;
    uint8_t digest[32];
    char why[256], sha[CTLD_SHA_HEX];
    int rc;

    if (created != NULL)
        *created = false;
    if (c == NULL || (buf == NULL && len > 0))
        return ctld__err(err, errlen, CTLD_EINVAL, "no package");
    if (len > CTLD_PACKAGE_MAX)
        return ctld__err(err, errlen, CTLD_ETOOBIG,
                         "package: %zu bytes, more than the %zu a package "
                         "may have",
                         len, (size_t)CTLD_PACKAGE_MAX);
    if (len == 0)
        return ctld__err(err, errlen, CTLD_EPACKAGE, "package: empty");
    why[0] = '\0';
    if ((rc = vpk_parse(buf, len, &view, why, sizeof(why))) != 0)
        return ctld__err(err, errlen, CTLD_EPACKAGE, "package: %s%s%s",
                         vpk_strerror(rc), why[0] != '\0' ? ": " : "", why);
    /* The keys are read once at ctld_create() and never change. */
    if (c->nkeys == 0)
        return ctld__err(err, errlen, CTLD_EPACKAGE,
                         "package: no trusted keys are configured "
                         "(trust.keys), so no package can be verified");
    why[0] = '\0';
    if ((rc = vpk_verify(&view, (const char *const *)c->keys, c->nkeys, why,
                         sizeof(why))) != 0)
        return ctld__err(err, errlen, CTLD_EPACKAGE, "package: %s%s%s",
                         vpk_strerror(rc), why[0] != '\0' ? ": " : "", why);
    if (strlen(view.manifest.vm_name) >= VMF_NAME_MAX ||
        !vmf_device_id_valid(view.manifest.vm_name))
        return ctld__err(err, errlen, CTLD_EPACKAGE,
                         "package: VM name \"%s\" is not 1 to %d "
                         "characters of [A-Za-z0-9._-]",
                         view.manifest.vm_name, VMF_NAME_MAX - 1);
    if (vmf_sha256(buf, len, digest) != 0)
        return ctld__err(err, errlen, CTLD_EIO, "package: hashing failed");
    ctld__hex(digest, sizeof(digest), sha);

    pthread_mutex_lock(&c->lock);
    rc = vmctld_reg_package_get(c->reg, sha, &p);
    if (rc == 0) {
        /* Known: make sure its bytes are still there (a no-op if so). */
        if ((rc = vmctld_store_put(c->store, VMCTLD_STORE_PACKAGE, sha, buf,
                                   len, NULL, 0)) != 0) {
            rc = ctld__err(err, errlen, CTLD_EIO, "package: storing: %s",
                           vmctld_store_strerror(rc));
            goto out;
        }
        if (out != NULL)
            *out = p;
        goto out;
    }
    if (rc != VMCTLD_REG_ENOTFOUND) {
        rc = ctld__reg_err(c->reg, rc, err, errlen, "package");
        goto out;
    }
    memset(&p, 0, sizeof(p));
    ctld__copy(p.sha256, sizeof(p.sha256), sha);
    ctld__copy(p.vm, sizeof(p.vm), view.manifest.vm_name);
    ctld__copy(p.version, sizeof(p.version), view.manifest.version);
    p.size = len;
    ctld__copy(p.key_id, sizeof(p.key_id), view.manifest.key_id);
    p.created_ms = ctld__now_ms();
    if ((rc = vmctld_store_put(c->store, VMCTLD_STORE_PACKAGE, sha, buf, len,
                               p.path, sizeof(p.path))) != 0) {
        LOG_ERR("package %s: storing: %s", sha, vmctld_store_strerror(rc));
        rc = ctld__err(err, errlen, CTLD_EIO, "package: storing: %s",
                       vmctld_store_strerror(rc));
        goto out;
    }
    if ((rc = vmctld_reg_package_put(c->reg, &p)) != 0) {
        rc = ctld__reg_err(c->reg, rc, err, errlen, "package");
        goto out;
    }
    LOG_INFO("package %s %s stored as %.12s (%zu bytes, key %s)", p.vm,
             p.version, sha, len, p.key_id);
    if (created != NULL)
        *created = true;
    if (out != NULL)
        *out = p;
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/*
 * blob_list: the stored packages (of VM `key`) or snapshots (of device
 * `key`), read on the second connection; `out` is the `kind`'s
 * vmctld_reg_package_t ** or vmctld_reg_snapshot_t **.
 */
static int
blob_list(ctld_t *c, vmctld_store_kind_t kind, const char *key, void *out,
          size_t *n)
{
    vmctld_reg_t *reg;
    int rc;

    if (c == NULL || out == NULL || n == NULL)
        return CTLD_EINVAL;
    reg = ctld__rd_lock(c);
    if ((rc = kind == VMCTLD_STORE_PACKAGE
                  ? vmctld_reg_package_list(reg, key, out, n)
                  : vmctld_reg_snapshot_list(reg, key, out, n)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0,
                           kind == VMCTLD_STORE_PACKAGE
                               ? "listing packages"
                               : "listing snapshots");
    ctld__rd_unlock(c);
    return rc;
}

/*
 * blob_get: one stored package or snapshot by its SHA-256; `out` is the
 * `kind`'s vmctld_reg_package_t * or vmctld_reg_snapshot_t *.
 */
static int
blob_get(ctld_t *c, vmctld_store_kind_t kind, const char *sha, void *out)
{
    vmctld_reg_t *reg;
    int rc;

    if (c == NULL || out == NULL)
        return CTLD_EINVAL;
    if (!ctld__sha_ok(sha))
        return CTLD_ENOTFOUND;
    reg = ctld__rd_lock(c);
    if ((rc = kind == VMCTLD_STORE_PACKAGE
                  ? vmctld_reg_package_get(reg, sha, out)
                  : vmctld_reg_snapshot_get(reg, sha, out)) != 0)
        rc = ctld__reg_err(reg, rc, NULL, 0,
                           kind == VMCTLD_STORE_PACKAGE
                               ? "reading a package"
                               : "reading a snapshot");
    ctld__rd_unlock(c);
    /* The row keeps the path the blob was stored under, but the store
     * may have moved since (a restored backup, another
     * storage.store_dir): the blob is where the store is now. */
    if (rc == 0)
        (void)vmctld_store_path(c->store, kind, sha,
                                kind == VMCTLD_STORE_PACKAGE
                                    ? ((vmctld_reg_package_t *)out)->path
                                    : ((vmctld_reg_snapshot_t *)out)->path,
                                VMCTLD_REG_PATH_MAX);
    return rc;
}

int
ctld_package_list(ctld_t *c, const char *vm, vmctld_reg_package_t **out,
                  size_t *n)
{
    return blob_list(c, VMCTLD_STORE_PACKAGE, vm, out, n);
}

int
ctld_package_get(ctld_t *c, const char *sha256, vmctld_reg_package_t *out)
{
    return blob_get(c, VMCTLD_STORE_PACKAGE, sha256, out);
}

/* Does an unfinished command send this blob? */
static bool
blob_in_use(ctld_t *c, vmctld_store_kind_t kind, const char *sha)
{
    const ctld__cmd_t *k;

    for (k = c->cmd_head; k != NULL; k = k->anext)
        if (strcmp(kind == VMCTLD_STORE_PACKAGE ? k->r.package
                                                : k->r.snapshot,
                   sha) == 0 &&
            (kind == VMCTLD_STORE_PACKAGE || k->r.kind == VMF_CMD_RESTORE))
            return true;
    return false;
}

/* Delete a package or snapshot: its row, then its bytes. */
static int
blob_delete(ctld_t *c, vmctld_store_kind_t kind, const char *sha)
{
    const char *what = kind == VMCTLD_STORE_PACKAGE ? "package" : "snapshot";
    int rc;

    if (c == NULL)
        return CTLD_EINVAL;
    if (!ctld__sha_ok(sha))
        return CTLD_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    if (blob_in_use(c, kind, sha)) {
        rc = CTLD_EINUSE;
        goto out;
    }
    rc = kind == VMCTLD_STORE_PACKAGE
             ? vmctld_reg_package_delete(c->reg, sha)
             : vmctld_reg_snapshot_delete(c->reg, sha);
    if (rc != 0) {
        rc = ctld__reg_err(c->reg, rc, NULL, 0, what);
        goto out;
    }
    ctld__blob_drop(c, kind, sha);
    if ((rc = vmctld_store_delete(c->store, kind, sha)) != 0 &&
        rc != VMCTLD_STORE_ENOENT)
        LOG_WARN("%s %s: removing its file: %s", what, sha,
                 vmctld_store_strerror(rc));
    rc = 0;
    LOG_INFO("%s %.12s deleted", what, sha);
out:
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int
ctld_package_delete(ctld_t *c, const char *sha256)
{
    return blob_delete(c, VMCTLD_STORE_PACKAGE, sha256);
}

int
ctld_snapshot_list(ctld_t *c, const char *device,
                   vmctld_reg_snapshot_t **out, size_t *n)
{
    return blob_list(c, VMCTLD_STORE_SNAPSHOT, device, out, n);
}

int
ctld_snapshot_get(ctld_t *c, const char *sha256, vmctld_reg_snapshot_t *out)
{
    return blob_get(c, VMCTLD_STORE_SNAPSHOT, sha256, out);
}


int
ctld_snapshot_delete(ctld_t *c, const char *sha256)
{
    return blob_delete(c, VMCTLD_STORE_SNAPSHOT, sha256);
}
