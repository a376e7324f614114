/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef OTA_CHECK_H
#define OTA_CHECK_H

/*
 * ota_check: the update checks, in the order the issue and
 * docs/protocol.md give them.  Pure: no I/O, so a table-driven unit test
 * (tests/unit/ota/test_ota_check.c) pins the order.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmf/fleet.h"
#include "vmf/vpk.h"

/* wasm32 linear memory cannot exceed 4 GiB = 65536 pages. */
#define OTA_MAX_MEMORY_PAGES 65536u
/* What a created VM gets when its package asks for 0 (as vmrt's
 * manifest defaults). */
#define OTA_DEFAULT_PAGES 256u
#define OTA_DEFAULT_QUOTA (UINT64_C(1024) * 1024)

/* What the device knows about the target when it checks a package. */
typedef struct {
    vmf_cmd_kind_t kind;         /* VMF_CMD_UPDATE or VMF_CMD_CREATE */
    const char *cmd_vm;          /* the command's VM name */
    bool vm_exists;
    const char *running_version; /* the running image's version, or "" */
    uint64_t vm_quota;           /* the VM's storage quota; 0 = none */
    bool allow_create;           /* --allow-create */
    const char *runtime_version; /* this runtime's semver */
    uint32_t max_memory_pages;   /* device max; 0 = OTA_MAX_MEMORY_PAGES */
    uint64_t max_storage_quota;  /* device max for a new VM; 0 = none */
    const char *const *keys;     /* trusted PEM public keys (borrowed) */
    size_t nkeys;
} ota_check_ctx_t;

/**
 * Check a package (a whole .vpk) for the command described by `ctx`:
 * parse (E_MALFORMED); key and signature (E_UNKNOWN_KEY, E_BAD_SIGNATURE);
 * target VM (E_WRONG_VM); exists or may be created (E_EXISTS for a CREATE
 * of an existing VM, E_CREATE_DENIED); newer version (E_DOWNGRADE unless
 * the signed manifest allows it); module hash and size (E_MODULE_HASH);
 * quota (E_QUOTA: an existing VM's module over the VM's own storage
 * quota; a VM to be created asking for more memory or storage than the
 * device allows, or with a module over the quota it asks for); runtime
 * version (E_MIN_RUNTIME).
 * @param pkg the package (borrowed; `view` points into it).
 * @param view filled when the package parses.
 * @param msg receives a reason naming what failed (or "ok").
 * @return VMF_OK or the first failing check's code.
 */
vmf_code_t ota_check(const uint8_t *pkg, size_t len,
                     const ota_check_ctx_t *ctx, vpk_view_t *view, char *msg,
                     size_t msglen);

#endif /* OTA_CHECK_H */
