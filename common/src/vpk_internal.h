/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Cross-file internals of the vpk module.  crypto_mbedtls.c is the only
 * file that includes mbedTLS, manifest_pb.c the only one that includes
 * protobuf-c; everything else goes through these prototypes.
 */
#ifndef VMF_VPK_INTERNAL_H
#define VMF_VPK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vmf/vpk.h"

/* Format a reason into a caller buffer (NULL or 0 size allowed). */
void vpk__err(char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* crypto_mbedtls.c */
int vpk__sha256(const uint8_t *data, size_t len,
                uint8_t out[VPK_SHA256_LEN]);
int vpk__crypto_key_gen(char *priv_pem, size_t priv_cap, char *pub_pem,
                        size_t pub_cap);
int vpk__crypto_key_id(const char *pem, char out[VPK_KEY_ID_LEN + 1]);
/* Sign a SHA-256 digest; sig must hold VPK_SIG_MAX bytes. */
int vpk__crypto_sign(const char *priv_pem,
                     const uint8_t hash[VPK_SHA256_LEN], uint8_t *sig,
                     size_t *sig_len);
/* Return: 0 if valid, VPK_ESIG if not, VPK_EKEY if the key is unusable. */
int vpk__crypto_verify(const char *pub_pem,
                       const uint8_t hash[VPK_SHA256_LEN], const uint8_t *sig,
                       size_t sig_len);

/* manifest_pb.c: *out is malloc()ed. */
int vpk__manifest_encode(const vpk_manifest_t *m, uint8_t **out,
                         size_t *out_len);
int vpk__manifest_decode(const uint8_t *buf, size_t len, vpk_manifest_t *m,
                         char *err, size_t errlen);

/*
 * vpk.c: vpk_pack() without computing the hash, size and key id, so that
 * tests can sign a manifest that lies about its module.
 */
int vpk__pack_raw(const vpk_manifest_t *m, const uint8_t *module,
                  size_t module_len, const char *privkey_pem, uint8_t **out,
                  size_t *out_len, char *err, size_t errlen);

#endif /* VMF_VPK_INTERNAL_H */
