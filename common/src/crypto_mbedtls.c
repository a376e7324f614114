/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The one wrapper around mbedTLS for the vpk module (STYLE.md: one
 * wrapper per third-party library): SHA-256, EC P-256 key generation,
 * key ids, and ECDSA signing and verification of SHA-256 digests.
 * Written for mbedTLS 2.28 (Debian 12) and 3.x; the API differences are
 * kept to the few #if blocks below.
 */

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecp.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "vpk_internal.h"

/* Personalisation string for the DRBG, as mbedTLS recommends. */
static const char drbg_pers[] = "vmfleet-vpk";

/* Big enough for the DER of any P-256 SubjectPublicKeyInfo (91 bytes). */
#define PUB_DER_MAX 160

typedef struct rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
} rng_t;

/*
 * rng_init: seed a DRBG from the platform entropy source.
 * Return: 0 or VPK_ECRYPTO; on failure r is already freed.
 */
static int
rng_init(rng_t *r)
{
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    if (mbedtls_ctr_drbg_seed(&r->drbg, mbedtls_entropy_func, &r->entropy,
                              (const unsigned char *)drbg_pers,
                              sizeof(drbg_pers) - 1) != 0) {
        mbedtls_ctr_drbg_free(&r->drbg);
        mbedtls_entropy_free(&r->entropy);
        return VPK_ECRYPTO;
    }
    return 0;
}

static void
rng_free(rng_t *r)
{
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
}

/* True if pk holds an EC key on P-256: the only kind a package may use. */
static int
is_p256(mbedtls_pk_context *pk)
{
    if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_ECKEY)
        return 0;
    return mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

/*
 * parse_priv: parse a PEM private key (mbedTLS wants the NUL counted).
 * Return: 0, or VPK_EKEY if it is not a P-256 private key.
 */
static int
parse_priv(mbedtls_pk_context *pk, const char *pem, rng_t *r)
{
    int rc;

#if MBEDTLS_VERSION_MAJOR >= 3
    rc = mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1,
                              NULL, 0, mbedtls_ctr_drbg_random, &r->drbg);
#else
    (void)r;
    rc = mbedtls_pk_parse_key(pk, (const unsigned char *)pem, strlen(pem) + 1,
                              NULL, 0);
#endif
    if (rc != 0 || !is_p256(pk))
        return VPK_EKEY;
    return 0;
}

/*
 * parse_any: parse a PEM public key, or else a private key.
 * Return: 0, or VPK_EKEY if it is neither or not on P-256.
 */
static int
parse_any(mbedtls_pk_context *pk, const char *pem)
{
    rng_t r;
    int rc;

    if (mbedtls_pk_parse_public_key(pk, (const unsigned char *)pem,
                                    strlen(pem) + 1) == 0)
        return is_p256(pk) ? 0 : VPK_EKEY;
    mbedtls_pk_free(pk);
    mbedtls_pk_init(pk);
    if ((rc = rng_init(&r)) != 0)
        return rc;
    rc = parse_priv(pk, pem, &r);
    rng_free(&r);
    return rc;
}

int
vpk__sha256(const uint8_t *data, size_t len, uint8_t out[VPK_SHA256_LEN])
{
#if MBEDTLS_VERSION_MAJOR >= 3
    if (mbedtls_sha256(data, len, out, 0) != 0)
        return VPK_ECRYPTO;
#else
    if (mbedtls_sha256_ret(data, len, out, 0) != 0)
        return VPK_ECRYPTO;
#endif
    return 0;
}

int
vmf_sha256(const void *data, size_t len, uint8_t out[32])
{
    if (data == NULL && len > 0)
        return VPK_EINVAL;
    return vpk__sha256(data, len, out);
}

int
vpk__crypto_key_gen(char *priv_pem, size_t priv_cap, char *pub_pem,
                    size_t pub_cap)
{
    mbedtls_pk_context pk;
    rng_t r;
    int rc;

    if ((rc = rng_init(&r)) != 0)
        return rc;
    mbedtls_pk_init(&pk);
    rc = VPK_ECRYPTO;
    if (mbedtls_pk_setup(&pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0)
        goto fail;
    if (mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(pk),
                            mbedtls_ctr_drbg_random, &r.drbg) != 0)
        goto fail;
    if (mbedtls_pk_write_key_pem(&pk, (unsigned char *)priv_pem, priv_cap) != 0)
        goto fail;
    if (mbedtls_pk_write_pubkey_pem(&pk, (unsigned char *)pub_pem, pub_cap) !=
        0)
        goto fail;
    rc = 0;
fail:
    mbedtls_pk_free(&pk);
    rng_free(&r);
    return rc;
}

int
vpk__crypto_key_id(const char *pem, char out[VPK_KEY_ID_LEN + 1])
{
    mbedtls_pk_context pk;
    unsigned char der[PUB_DER_MAX];
    uint8_t h[VPK_SHA256_LEN];
    int n, rc, i;

    mbedtls_pk_init(&pk);
    if ((rc = parse_any(&pk, pem)) != 0)
        goto fail;
    /* The DER is written at the end of the buffer. */
    if ((n = mbedtls_pk_write_pubkey_der(&pk, der, sizeof(der))) <= 0) {
        rc = VPK_EKEY;
        goto fail;
    }
    if ((rc = vpk__sha256(der + sizeof(der) - (size_t)n, (size_t)n, h)) != 0)
        goto fail;
    for (i = 0; i < VPK_KEY_ID_LEN / 2; i++)
        snprintf(out + 2 * i, 3, "%02x", (unsigned)h[i]);
    rc = 0;
fail:
    mbedtls_pk_free(&pk);
    return rc;
}

int
vpk__crypto_sign(const char *priv_pem, const uint8_t hash[VPK_SHA256_LEN],
                 uint8_t *sig, size_t *sig_len)
{
    mbedtls_pk_context pk;
    unsigned char buf[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t n = 0;
    rng_t r;
    int rc;

    if ((rc = rng_init(&r)) != 0)
        return rc;
    mbedtls_pk_init(&pk);
    if ((rc = parse_priv(&pk, priv_pem, &r)) != 0)
        goto fail;
    rc = VPK_ECRYPTO;
#if MBEDTLS_VERSION_MAJOR >= 3
    if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, VPK_SHA256_LEN, buf,
                        sizeof(buf), &n, mbedtls_ctr_drbg_random, &r.drbg) != 0)
        goto fail;
#else
    if (mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, hash, VPK_SHA256_LEN, buf, &n,
                        mbedtls_ctr_drbg_random, &r.drbg) != 0)
        goto fail;
#endif
    if (n == 0 || n > VPK_SIG_MAX)
        goto fail;
    memcpy(sig, buf, n);
    *sig_len = n;
    rc = 0;
fail:
    mbedtls_pk_free(&pk);
    rng_free(&r);
    return rc;
}

int
vpk__crypto_verify(const char *pub_pem, const uint8_t hash[VPK_SHA256_LEN],
                   const uint8_t *sig, size_t sig_len)
{
    mbedtls_pk_context pk;
    int rc;

    mbedtls_pk_init(&pk);
    if ((rc = parse_any(&pk, pub_pem)) != 0)
        goto fail;
    rc = mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, hash, VPK_SHA256_LEN, sig,
                           sig_len) == 0
             ? 0
             : VPK_ESIG;
fail:
    mbedtls_pk_free(&pk);
    return rc;
}
