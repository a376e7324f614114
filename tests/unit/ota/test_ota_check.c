/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ota_check(): one table row per case.  Rows where several checks fail
 * pin the order (signature, target VM, existence, version, hash, quota,
 * runtime): the first failing check's code must win.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ota_check.h"
#include "vpk_internal.h"

static char priv_a[VPK_PEM_MAX], pub_a[VPK_PEM_MAX];
static char priv_b[VPK_PEM_MAX], pub_b[VPK_PEM_MAX];
static const uint8_t module[] = { 0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
                                  1, 2, 3, 4, 5, 6, 7, 8 };

/* What a row does to the package or to the device's view. */
enum {
    P_TRUNCATE = 1 << 0,   /* cut the package short */
    P_KEY_B = 1 << 1,      /* signed by an untrusted key */
    P_FLIP_MODULE = 1 << 2, /* a module byte changed after signing */
    P_LIE_HASH = 1 << 3,   /* signed manifest with a wrong module hash */
    P_DOWNGRADE_OK = 1 << 4, /* manifest allow_downgrade */
    D_MISSING = 1 << 5,    /* the VM does not exist */
    D_ALLOW_CREATE = 1 << 6,
    D_KIND_CREATE = 1 << 7,
    D_SMALL = 1 << 8       /* device limits: 256 pages, 64 KiB storage */
};

typedef struct {
    const char *name;
    unsigned flags;
    const char *pkg_vm;
    const char *pkg_version;
    const char *running;
    uint64_t quota_bytes;     /* manifest storage_quota_bytes */
    uint32_t pages;           /* manifest memory_pages */
    const char *min_runtime;
    uint64_t vm_quota;        /* the device's view of the VM's quota */
    vmf_code_t want;
} row_t;

static const row_t rows[] = {
    { "good", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "", 0, VMF_OK },
    { "truncated", P_TRUNCATE, "sensor", "1.1.0", "1.0.0", 0, 0, "", 0,
      VMF_E_MALFORMED },
    { "unknown key", P_KEY_B, "sensor", "1.1.0", "1.0.0", 0, 0, "", 0,
      VMF_E_UNKNOWN_KEY },
    { "bad signature", P_FLIP_MODULE, "sensor", "1.1.0", "1.0.0", 0, 0, "",
      0, VMF_E_BAD_SIGNATURE },
    { "wrong vm", 0, "other", "1.1.0", "1.0.0", 0, 0, "", 0,
      VMF_E_WRONG_VM },
    { "create denied", D_MISSING, "sensor", "1.1.0", "", 0, 0, "", 0,
      VMF_E_CREATE_DENIED },
    { "create allowed", D_MISSING | D_ALLOW_CREATE, "sensor", "1.1.0", "",
      0, 0, "", 0, VMF_OK },
    { "create of existing", D_KIND_CREATE | D_ALLOW_CREATE, "sensor",
      "1.1.0", "1.0.0", 0, 0, "", 0, VMF_E_EXISTS },
    { "same version", 0, "sensor", "1.0.0", "1.0.0", 0, 0, "", 0,
      VMF_E_DOWNGRADE },
    { "older version", 0, "sensor", "0.9.0", "1.0.0", 0, 0, "", 0,
      VMF_E_DOWNGRADE },
    { "signed downgrade", P_DOWNGRADE_OK, "sensor", "0.9.0", "1.0.0", 0, 0,
      "", 0, VMF_OK },
    { "pre-release below release", 0, "sensor", "1.0.0-rc.1", "1.0.0", 0,
      0, "", 0, VMF_E_DOWNGRADE },
    { "hash lie", P_LIE_HASH, "sensor", "1.1.0", "1.0.0", 0, 0, "", 0,
      VMF_E_MODULE_HASH },
    /* An update is held against the VM's own quota only. */
    { "over vm quota", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "", 8,
      VMF_E_QUOTA },
    { "exactly the vm quota", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "", 16,
      VMF_OK },
    { "vm without a quota", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "", 0,
      VMF_OK },
    { "update ignores package quota", 0, "sensor", "1.1.0", "1.0.0", 8, 0,
      "", 0, VMF_OK },
    { "update ignores package pages", D_SMALL, "sensor", "1.1.0", "1.0.0",
      0, 70000, "", 0, VMF_OK },
    /* A create is held against the device's limits. */
    { "create over its own quota", D_MISSING | D_ALLOW_CREATE, "sensor",
      "1.1.0", "", 8, 0, "", 0, VMF_E_QUOTA },
    { "create too many pages", D_MISSING | D_ALLOW_CREATE, "sensor",
      "1.1.0", "", 0, 70000, "", 0, VMF_E_QUOTA },
    { "create over device pages", D_MISSING | D_ALLOW_CREATE | D_SMALL,
      "sensor", "1.1.0", "", 4096, 257, "", 0, VMF_E_QUOTA },
    { "create at device pages", D_MISSING | D_ALLOW_CREATE | D_SMALL,
      "sensor", "1.1.0", "", 4096, 256, "", 0, VMF_OK },
    { "create over device storage", D_MISSING | D_ALLOW_CREATE | D_SMALL,
      "sensor", "1.1.0", "", 65537, 0, "", 0, VMF_E_QUOTA },
    { "create default quota over device", D_MISSING | D_ALLOW_CREATE |
      D_SMALL, "sensor", "1.1.0", "", 0, 0, "", 0, VMF_E_QUOTA },
    { "create within device", D_MISSING | D_ALLOW_CREATE | D_SMALL,
      "sensor", "1.1.0", "", 65536, 16, "", 0, VMF_OK },
    { "needs newer runtime", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "9.0.0",
      0, VMF_E_MIN_RUNTIME },
    { "runtime new enough", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "0.1.0", 0,
      VMF_OK },
    /* Order: each row fails two checks; the earlier one must win. */
    { "bad signature before wrong vm", P_FLIP_MODULE, "other", "1.1.0",
      "1.0.0", 0, 0, "", 0, VMF_E_BAD_SIGNATURE },
    { "unknown key before downgrade", P_KEY_B, "sensor", "0.1.0", "1.0.0",
      0, 0, "", 0, VMF_E_UNKNOWN_KEY },
    { "wrong vm before downgrade", 0, "other", "0.1.0", "1.0.0", 0, 0, "",
      0, VMF_E_WRONG_VM },
    { "wrong vm before create denied", D_MISSING, "other", "1.1.0", "", 0,
      0, "", 0, VMF_E_WRONG_VM },
    { "downgrade before hash", P_LIE_HASH, "sensor", "0.1.0", "1.0.0", 0,
      0, "", 0, VMF_E_DOWNGRADE },
    { "hash before quota", P_LIE_HASH, "sensor", "1.1.0", "1.0.0", 0, 0,
      "", 8, VMF_E_MODULE_HASH },
    { "quota before runtime", 0, "sensor", "1.1.0", "1.0.0", 0, 0, "9.0.0",
      8, VMF_E_QUOTA },
    { "create denied before quota", D_MISSING, "sensor", "1.1.0", "", 8,
      0, "", 0, VMF_E_CREATE_DENIED },
};

static int
setup_keys(void **state)
{
    (void)state;
    if (vpk_key_gen(priv_a, sizeof(priv_a), pub_a, sizeof(pub_a)) != 0 ||
        vpk_key_gen(priv_b, sizeof(priv_b), pub_b, sizeof(pub_b)) != 0)
        return -1;
    return 0;
}

/* Build the row's package (malloc()ed). */
static uint8_t *
make_pkg(const row_t *r, size_t *len)
{
    const char *key = (r->flags & P_KEY_B) ? priv_b : priv_a;
    vpk_manifest_t m;
    uint8_t *pkg = NULL;
    char err[128];

    memset(&m, 0, sizeof(m));
    snprintf(m.vm_name, sizeof(m.vm_name), "%s", r->pkg_vm);
    snprintf(m.version, sizeof(m.version), "%s", r->pkg_version);
    snprintf(m.min_runtime_version, sizeof(m.min_runtime_version), "%s",
             r->min_runtime);
    m.storage_quota_bytes = r->quota_bytes;
    m.memory_pages = r->pages;
    m.allow_downgrade = (r->flags & P_DOWNGRADE_OK) != 0;
    if (r->flags & P_LIE_HASH) {
        assert_int_equal(vpk__sha256(module, sizeof(module),
                                     m.module_sha256), 0);
        m.module_sha256[3] ^= 0x40;
        m.module_size = sizeof(module);
        assert_int_equal(vpk_key_id(key, m.key_id), 0);
        assert_int_equal(vpk__pack_raw(&m, module, sizeof(module), key, &pkg,
                                       len, err, sizeof(err)), 0);
    } else {
        assert_int_equal(vpk_pack(&m, module, sizeof(module), key, &pkg, len,
                                  err, sizeof(err)), 0);
    }
    if (r->flags & P_FLIP_MODULE) {
        /* The module is just before the signature: find it by content. */
        size_t off;

        for (off = 0; off + sizeof(module) <= *len; off++)
            if (memcmp(pkg + off, module, sizeof(module)) == 0)
                break;
        assert_true(off + sizeof(module) <= *len);
        pkg[off + 9] ^= 0xff;
    }
    if (r->flags & P_TRUNCATE)
        *len -= 10;
    return pkg;
}

static void
test_ota_check_table(void **state)
{
    const char *keys[] = { pub_a };
    ota_check_ctx_t ctx;
    vpk_view_t view;
    char msg[256];
    size_t i, len;

    (void)state;
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const row_t *r = &rows[i];
        uint8_t *pkg = make_pkg(r, &len);
        vmf_code_t got;

        memset(&ctx, 0, sizeof(ctx));
        ctx.kind = (r->flags & D_KIND_CREATE) ? VMF_CMD_CREATE
                                              : VMF_CMD_UPDATE;
        ctx.cmd_vm = "sensor";
        ctx.vm_exists = !(r->flags & D_MISSING);
        ctx.running_version = r->running;
        ctx.vm_quota = r->vm_quota;
        if (r->flags & D_SMALL) {
            ctx.max_memory_pages = 256;
            ctx.max_storage_quota = 65536;
        }
        ctx.allow_create = (r->flags & D_ALLOW_CREATE) != 0;
        ctx.runtime_version = "0.1.0";
        ctx.keys = keys;
        ctx.nkeys = 1;
        got = ota_check(pkg, len, &ctx, &view, msg, sizeof(msg));
        if (got != r->want)
            fail_msg("row '%s': got %s (%s), want %s", r->name,
                     vmf_code_name(got), msg, vmf_code_name(r->want));
        assert_true(msg[0] != '\0');
        free(pkg);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ota_check_table),
    };

    return cmocka_run_group_tests(tests, setup_keys, NULL);
}
