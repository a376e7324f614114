/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_vpk: the .vpk container as the device sees it (common/src/vpk.c):
 * any bytes go through vpk_parse(), and whatever parses goes through
 * vpk_verify() against one fixed trusted key.  Parsing must fail cleanly
 * or yield a view inside the input; verification must return one of its
 * documented codes.
 * With VMF_FUZZ_VPK_SEEDS=DIR, LLVMFuzzerInitialize writes a few valid
 * packages signed by the trusted key into DIR (tests/fuzz/run.sh does
 * this), so that the fuzzer starts past the magic and the key id check.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmf/vpk.h"

/*
 * A fixed test-only P-256 key pair (openssl ecparam -name prime256v1
 * -genkey): it signs nothing but these seeds.
 */
static const char fuzz_priv_pem[] =
    "-----BEGIN EC PRIVATE KEY-----\n"
    "MHcCAQEEILiQo8kRABGjbdRwGG5rvXGoU/6DPXKyYsXPsR6tMrxHoAoGCCqGSM49\n"
    "AwEHoUQDQgAEe4LWXaLghrD1wnOnhGHKDE0GxOW6Ufvta8O9cuVhkbtDRnYVsHrQ\n"
    "FDPaJde5l0JHrf78OF488KyoEsH0WzgyiA==\n"
    "-----END EC PRIVATE KEY-----\n";
static const char fuzz_pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEe4LWXaLghrD1wnOnhGHKDE0GxOW6\n"
    "Ufvta8O9cuVhkbtDRnYVsHrQFDPaJde5l0JHrf78OF488KyoEsH0WzgyiA==\n"
    "-----END PUBLIC KEY-----\n";

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Write one seed package; failures only cost a seed. */
static void
write_seed(const char *dir, int n, const char *version, size_t module_len)
{
    static const uint8_t wasm[] = { 0x00, 0x61, 0x73, 0x6d,
                                    0x01, 0x00, 0x00, 0x00 };
    uint8_t module[64];
    vpk_manifest_t m;
    uint8_t *pkg;
    size_t len, i;
    char path[4096];
    FILE *f;

    for (i = 0; i < sizeof(module); i++)
        module[i] = i < sizeof(wasm) ? wasm[i] : (uint8_t)i;
    memset(&m, 0, sizeof(m));
    snprintf(m.vm_name, sizeof(m.vm_name), "sensor");
    snprintf(m.version, sizeof(m.version), "%s", version);
    snprintf(m.min_runtime_version, sizeof(m.min_runtime_version), "0.1.0");
    m.memory_pages = 1;
    m.allow_downgrade = n % 2;
    if (vpk_pack(&m, module, module_len, fuzz_priv_pem, &pkg, &len, NULL, 0) !=
        0)
        return;
    snprintf(path, sizeof(path), "%s/seed-%d.vpk", dir, n);
    if ((f = fopen(path, "wb")) != NULL) {
        fwrite(pkg, 1, len, f);
        fclose(f);
    }
    free(pkg);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VMF_FUZZ_VPK_SEEDS");

    (void)argc;
    (void)argv;
    if (dir == NULL || *dir == '\0')
        return 0;
    write_seed(dir, 0, "1.0.0", 64);
    write_seed(dir, 1, "2.1.0-rc.1+build.7", 8);
    write_seed(dir, 2, "0.0.1", 0);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *keys[] = { fuzz_pub_pem };
    vpk_view_t v;
    char err[256];
    int rc, o;

    if (vpk_parse(data, size, &v, err, sizeof(err)) != 0)
        return 0;
    if (v.module_len > size || v.sig_len > size || v.signed_len > size)
        abort();
    /* A parsed manifest's version is valid semver by contract. */
    if (vpk_semver_cmp(v.manifest.version, "1.0.0", &o, NULL, 0) != 0)
        abort();
    rc = vpk_verify(&v, keys, 1, err, sizeof(err));
    if (rc != 0 && rc != VPK_EUNKNOWNKEY && rc != VPK_ESIG && rc != VPK_EHASH &&
        rc != VPK_ECRYPTO)
        abort();
    return 0;
}
