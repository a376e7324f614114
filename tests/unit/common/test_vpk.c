/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The .vpk package format (common/src/vpk.c): round trips, every
 * truncation, tampering, untrusted keys, lying manifests, and semver
 * precedence.  Keys are generated once per run (P-256 is cheap).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmf/vpk.h"
#include "vpk_internal.h"

static char priv_a[VPK_PEM_MAX], pub_a[VPK_PEM_MAX];
static char priv_b[VPK_PEM_MAX], pub_b[VPK_PEM_MAX];
static uint8_t module[4096];

static int
setup_keys(void **state)
{
    size_t i;

    (void)state;
    if (vpk_key_gen(priv_a, sizeof(priv_a), pub_a, sizeof(pub_a)) != 0 ||
        vpk_key_gen(priv_b, sizeof(priv_b), pub_b, sizeof(pub_b)) != 0)
        return -1;
    for (i = 0; i < sizeof(module); i++)
        module[i] = (uint8_t)(i * 7 + 3);
    return 0;
}

static void
fill_manifest(vpk_manifest_t *m)
{
    memset(m, 0, sizeof(*m));
    snprintf(m->vm_name, sizeof(m->vm_name), "sensor");
    snprintf(m->version, sizeof(m->version), "2.1.0-rc.1");
    snprintf(m->min_runtime_version, sizeof(m->min_runtime_version), "0.1.0");
    m->memory_pages = 4;
    m->storage_quota_bytes = 65536;
    m->priority = -2;
    m->allow_downgrade = true;
    m->created_unix = 1790000000;
}

static uint8_t *
pack_ok(const char *priv, size_t *len)
{
    vpk_manifest_t m;
    uint8_t *pkg = NULL;
    char err[128];

    fill_manifest(&m);
    assert_int_equal(
        vpk_pack(&m, module, sizeof(module), priv, &pkg, len, err, sizeof(err)),
        0);
    assert_non_null(pkg);
    return pkg;
}

static void
test_vpk_round_trip_verifies(void **state)
{
    const char *trusted[] = { pub_b, pub_a };
    vpk_view_t v;
    char err[128], id[VPK_KEY_ID_LEN + 1];
    uint8_t *pkg;
    size_t len;

    (void)state;
    pkg = pack_ok(priv_a, &len);
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    assert_string_equal(v.manifest.vm_name, "sensor");
    assert_string_equal(v.manifest.version, "2.1.0-rc.1");
    assert_string_equal(v.manifest.min_runtime_version, "0.1.0");
    assert_int_equal(v.manifest.module_size, sizeof(module));
    assert_int_equal(v.manifest.memory_pages, 4);
    assert_int_equal(v.manifest.storage_quota_bytes, 65536);
    assert_int_equal(v.manifest.priority, -2);
    assert_true(v.manifest.allow_downgrade);
    assert_int_equal(v.manifest.created_unix, 1790000000);
    assert_int_equal(v.module_len, sizeof(module));
    assert_memory_equal(v.module, module, sizeof(module));
    assert_int_equal(vpk_key_id(pub_a, id), 0);
    assert_string_equal(v.manifest.key_id, id);
    /* The private key names the same key as its public half. */
    assert_int_equal(vpk_key_id(priv_a, id), 0);
    assert_string_equal(v.manifest.key_id, id);
    assert_int_equal(vpk_verify(&v, trusted, 2, err, sizeof(err)), 0);
    free(pkg);
}

static void
test_vpk_every_truncation_is_eformat(void **state)
{
    vpk_view_t v;
    char err[128];
    uint8_t *pkg, *cut;
    size_t len, n;

    (void)state;
    pkg = pack_ok(priv_a, &len);
    for (n = 0; n < len; n++) {
        /* A fresh, exact-size copy lets ASan catch any overread. */
        cut = malloc(n ? n : 1);
        assert_non_null(cut);
        memcpy(cut, pkg, n);
        err[0] = '\0';
        assert_int_equal(vpk_parse(cut, n, &v, err, sizeof(err)), VPK_EFORMAT);
        assert_true(err[0] != '\0');
        free(cut);
    }
    free(pkg);
}

static void
test_vpk_caps_checked_before_use(void **state)
{
    uint8_t buf[64];
    vpk_view_t v;
    char err[128];

    (void)state;
    memset(buf, 0, sizeof(buf));
    memcpy(buf, "VPK1", 4);
    buf[4] = 1;
    /* Manifest length 0xffffffff: over the cap and over the buffer. */
    memset(buf + 8, 0xff, 4);
    assert_int_equal(vpk_parse(buf, sizeof(buf), &v, err, sizeof(err)),
                     VPK_EFORMAT);
    assert_non_null(strstr(err, "cap"));
    /* Wrong magic and wrong format version. */
    memcpy(buf, "VPK2", 4);
    assert_int_equal(vpk_parse(buf, sizeof(buf), &v, err, sizeof(err)),
                     VPK_EFORMAT);
    memcpy(buf, "VPK1", 4);
    buf[4] = 2;
    assert_int_equal(vpk_parse(buf, sizeof(buf), &v, err, sizeof(err)),
                     VPK_EFORMAT);
}

static void
test_vpk_trailing_byte_is_eformat(void **state)
{
    vpk_view_t v;
    char err[128];
    uint8_t *pkg, *big;
    size_t len;

    (void)state;
    pkg = pack_ok(priv_a, &len);
    big = calloc(1, len + 1);
    assert_non_null(big);
    memcpy(big, pkg, len);
    assert_int_equal(vpk_parse(big, len + 1, &v, err, sizeof(err)),
                     VPK_EFORMAT);
    free(big);
    free(pkg);
}

static void
test_vpk_flipped_module_byte_is_rejected(void **state)
{
    const char *trusted[] = { pub_a };
    vpk_view_t v;
    char err[128];
    uint8_t *pkg;
    size_t len;
    int rc;

    (void)state;
    pkg = pack_ok(priv_a, &len);
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    ((uint8_t *)v.module)[100] ^= 0x40;
    rc = vpk_verify(&v, trusted, 1, err, sizeof(err));
    assert_true(rc == VPK_ESIG || rc == VPK_EHASH);
    free(pkg);
}

static void
test_vpk_flipped_signature_byte_is_esig(void **state)
{
    const char *trusted[] = { pub_a };
    vpk_view_t v;
    char err[128];
    uint8_t *pkg;
    size_t len;

    (void)state;
    pkg = pack_ok(priv_a, &len);
    pkg[len - 5] ^= 0x01;
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    assert_int_equal(vpk_verify(&v, trusted, 1, err, sizeof(err)), VPK_ESIG);
    free(pkg);
}

static void
test_vpk_other_key_is_eunknownkey(void **state)
{
    const char *trusted[] = { pub_a };
    vpk_view_t v;
    char err[128];
    uint8_t *pkg;
    size_t len;

    (void)state;
    pkg = pack_ok(priv_b, &len);
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    assert_int_equal(vpk_verify(&v, trusted, 1, err, sizeof(err)),
                     VPK_EUNKNOWNKEY);
    assert_non_null(strstr(err, v.manifest.key_id));
    assert_int_equal(vpk_verify(&v, NULL, 0, err, sizeof(err)),
                     VPK_EUNKNOWNKEY);
    free(pkg);
}

/* A package claiming key A's id but signed by key B: the signature fails. */
static void
test_vpk_forged_key_id_is_esig(void **state)
{
    const char *trusted[] = { pub_a };
    vpk_manifest_t m;
    vpk_view_t v;
    char err[128];
    uint8_t *pkg;
    size_t len;

    (void)state;
    fill_manifest(&m);
    assert_int_equal(vpk__sha256(module, sizeof(module), m.module_sha256), 0);
    m.module_size = sizeof(module);
    assert_int_equal(vpk_key_id(pub_a, m.key_id), 0);
    assert_int_equal(vpk__pack_raw(&m, module, sizeof(module), priv_b, &pkg,
                                   &len, err, sizeof(err)),
                     0);
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    assert_int_equal(vpk_verify(&v, trusted, 1, err, sizeof(err)), VPK_ESIG);
    free(pkg);
}

/* Correctly signed, but the manifest lies about the module: EHASH. */
static void
test_vpk_lying_manifest_is_ehash(void **state)
{
    const char *trusted[] = { pub_a };
    vpk_manifest_t m;
    vpk_view_t v;
    char err[128];
    uint8_t *pkg;
    size_t len;

    (void)state;
    fill_manifest(&m);
    assert_int_equal(vpk__sha256(module, sizeof(module), m.module_sha256), 0);
    m.module_sha256[0] ^= 1;
    m.module_size = sizeof(module);
    assert_int_equal(vpk_key_id(pub_a, m.key_id), 0);
    assert_int_equal(vpk__pack_raw(&m, module, sizeof(module), priv_a, &pkg,
                                   &len, err, sizeof(err)),
                     0);
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    assert_int_equal(vpk_verify(&v, trusted, 1, err, sizeof(err)), VPK_EHASH);
    free(pkg);

    m.module_sha256[0] ^= 1;
    m.module_size = sizeof(module) + 1;
    assert_int_equal(vpk__pack_raw(&m, module, sizeof(module), priv_a, &pkg,
                                   &len, err, sizeof(err)),
                     0);
    assert_int_equal(vpk_parse(pkg, len, &v, err, sizeof(err)), 0);
    assert_int_equal(vpk_verify(&v, trusted, 1, err, sizeof(err)), VPK_EHASH);
    free(pkg);
}

static void
test_vpk_pack_rejects_bad_input(void **state)
{
    vpk_manifest_t m;
    char err[128];
    uint8_t *pkg = NULL;
    size_t len;

    (void)state;
    fill_manifest(&m);
    snprintf(m.version, sizeof(m.version), "1.0");
    assert_int_equal(vpk_pack(&m, module, sizeof(module), priv_a, &pkg, &len,
                              err, sizeof(err)),
                     VPK_EVERSION);
    fill_manifest(&m);
    m.vm_name[0] = '\0';
    assert_int_equal(vpk_pack(&m, module, sizeof(module), priv_a, &pkg, &len,
                              err, sizeof(err)),
                     VPK_EINVAL);
    fill_manifest(&m);
    assert_int_equal(vpk_pack(&m, module, sizeof(module), pub_a, &pkg, &len,
                              err, sizeof(err)),
                     VPK_EKEY);
    assert_int_equal(vpk_pack(&m, module, sizeof(module), "garbage", &pkg, &len,
                              err, sizeof(err)),
                     VPK_EKEY);
    assert_null(pkg);
    assert_string_equal(vpk_strerror(VPK_EUNKNOWNKEY),
                        "signed by an untrusted key");
}

static const struct {
    const char *a, *b;
    int order;
} semver_table[] = {
    { "1.0.0", "1.0.0", 0 },
    { "1.0.0", "2.0.0", -1 },
    { "2.0.0", "2.1.0", -1 },
    { "2.1.0", "2.1.1", -1 },
    { "1.0.0-rc.1", "1.0.0", -1 },
    { "1.0.0-alpha", "1.0.0-alpha.1", -1 },
    { "1.0.0-alpha.1", "1.0.0-alpha.beta", -1 },
    { "1.0.0-alpha.beta", "1.0.0-beta", -1 },
    { "1.0.0-beta", "1.0.0-beta.2", -1 },
    { "1.0.0-beta.2", "1.0.0-beta.11", -1 },
    { "1.0.0-beta.11", "1.0.0-rc.1", -1 },
    { "1.0.0-rc.1", "1.0.0-rc.1+build.5", 0 },
    { "1.0.0+a", "1.0.0+b", 0 },
    { "10.0.0", "9.99.99", 1 },
    { "1.0.0-1", "1.0.0-a", -1 },
    { "1.0.0-a-b", "1.0.0-a", 1 },
};

static void
test_vpk_semver_ordering(void **state)
{
    size_t i;
    int o;

    (void)state;
    for (i = 0; i < sizeof(semver_table) / sizeof(semver_table[0]); i++) {
        o = 42;
        assert_int_equal(
            vpk_semver_cmp(semver_table[i].a, semver_table[i].b, &o, NULL, 0),
            0);
        assert_int_equal(o, semver_table[i].order);
        assert_int_equal(
            vpk_semver_cmp(semver_table[i].b, semver_table[i].a, &o, NULL, 0),
            0);
        assert_int_equal(o, -semver_table[i].order);
    }
}

static void
test_vpk_semver_invalid(void **state)
{
    static const char *bad[] = {
        "",
        "1",
        "1.0",
        "1.0.0.0",
        "v1.0.0",
        "01.0.0",
        "1.00.0",
        "1.0.00",
        "1.0.0-",
        "1.0.0-01",
        "1.0.0-a..b",
        "1.0.0-a.",
        "1.0.0+",
        "1.0.0+a..b",
        "1.0.0-a_b",
        " 1.0.0",
        "1.0.0 ",
        "1.-1.0",
        "1.0.x",
        "99999999999999999999.0.0",
        "1.0.0-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    char err[128];
    size_t i;
    int o = 42;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(vpk_semver_cmp(bad[i], "1.0.0", &o, err, sizeof(err)),
                         VPK_EVERSION);
        assert_non_null(strstr(err, "invalid semantic version"));
        assert_int_equal(vpk_semver_cmp("1.0.0", bad[i], &o, err, sizeof(err)),
                         VPK_EVERSION);
        assert_int_equal(o, 42);
    }
    assert_int_equal(vpk_semver_check("1.0.0-0.3.7+001"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vpk_round_trip_verifies),
        cmocka_unit_test(test_vpk_every_truncation_is_eformat),
        cmocka_unit_test(test_vpk_caps_checked_before_use),
        cmocka_unit_test(test_vpk_trailing_byte_is_eformat),
        cmocka_unit_test(test_vpk_flipped_module_byte_is_rejected),
        cmocka_unit_test(test_vpk_flipped_signature_byte_is_esig),
        cmocka_unit_test(test_vpk_other_key_is_eunknownkey),
        cmocka_unit_test(test_vpk_forged_key_id_is_esig),
        cmocka_unit_test(test_vpk_lying_manifest_is_ehash),
        cmocka_unit_test(test_vpk_pack_rejects_bad_input),
        cmocka_unit_test(test_vpk_semver_ordering),
        cmocka_unit_test(test_vpk_semver_invalid),
    };

    return cmocka_run_group_tests(tests, setup_keys, NULL);
}
