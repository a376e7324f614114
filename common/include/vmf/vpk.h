/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * vpk: signed VM packages (.vpk), shared by the device and the server.
 * The container layout is in docs/package-format.md.  A package is made
 * with vpk_pack(), split into a view with vpk_parse() (no crypto), and
 * checked with vpk_verify() against the trusted public keys.
 */
#ifndef VMF_VPK_H
#define VMF_VPK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VPK_MAGIC           "VPK1"
#define VPK_FORMAT_VERSION  1u
#define VPK_MANIFEST_MAX    (64u * 1024u)           /* bytes */
#define VPK_MODULE_MAX      (64u * 1024u * 1024u)   /* bytes */
#define VPK_SIG_MAX         256u                    /* bytes */
/* The most a package can add to its module: the four length and magic
 * words, the largest manifest and the largest signature
 * (docs/package-format.md). */
#define VPK_OVERHEAD_MAX    (20u + VPK_MANIFEST_MAX + VPK_SIG_MAX)

#define VPK_NAME_MAX        64  /* vm_name, including the NUL */
#define VPK_VERSION_MAX     64  /* semver strings, including the NUL */
#define VPK_KEY_ID_LEN      16  /* hex digits, without the NUL */
#define VPK_SHA256_LEN      32
#define VPK_PEM_MAX         1024 /* enough for a P-256 key in PEM */

/* Error codes: negative, with a fixed text from vpk_strerror(). */
#define VPK_ERRORS(X)                                                     \
    X(VPK_EINVAL, -1, "invalid argument")                                \
    X(VPK_ENOMEM, -2, "out of memory")                                   \
    X(VPK_EFORMAT, -3, "malformed or truncated package")                 \
    X(VPK_ESIG, -4, "bad signature")                                     \
    X(VPK_EUNKNOWNKEY, -5, "signed by an untrusted key")                 \
    X(VPK_EHASH, -6, "module hash or size does not match the manifest")  \
    X(VPK_EKEY, -7, "invalid key")                                       \
    X(VPK_EVERSION, -8, "invalid semantic version")                      \
    X(VPK_ECRYPTO, -9, "crypto library failure")                         \
    X(VPK_ETOOBIG, -10, "field too large")

enum {
#define VPK_ERR_ENUM(name, val, text) name = (val),
    VPK_ERRORS(VPK_ERR_ENUM)
#undef VPK_ERR_ENUM
};

/* The manifest's fields (proto/vpk.proto Manifest), flattened. */
typedef struct vpk_manifest {
    char vm_name[VPK_NAME_MAX];
    char version[VPK_VERSION_MAX];          /* semver */
    char min_runtime_version[VPK_VERSION_MAX]; /* semver or "" */
    uint8_t module_sha256[VPK_SHA256_LEN];
    uint64_t module_size;
    uint32_t memory_pages;                  /* 0: device default */
    uint64_t storage_quota_bytes;           /* 0: device default */
    int32_t priority;
    bool allow_downgrade;
    int64_t created_unix;
    char key_id[VPK_KEY_ID_LEN + 1];
} vpk_manifest_t;

/*
 * A parsed package.  Every pointer borrows the buffer given to
 * vpk_parse(), and is valid as long as that buffer is; nothing in a view
 * needs freeing.
 */
typedef struct vpk_view {
    vpk_manifest_t manifest;
    const uint8_t *module;
    size_t module_len;
    const uint8_t *signed_data;     /* magic .. end of module */
    size_t signed_len;
    const uint8_t *sig;             /* DER ECDSA signature */
    size_t sig_len;
} vpk_view_t;

/**
 * Fixed text for a VPK_E* code.
 * @param err a VPK_E* code (or 0).
 * @return a static string; never NULL.
 */
const char *vpk_strerror(int err);

/**
 * Build a signed package.  module_sha256, module_size and key_id of `m`
 * are ignored and computed here; every other field is taken as is.
 * @param m manifest fields (borrowed).
 * @param module the module bytes (borrowed), at most VPK_MODULE_MAX.
 * @param module_len its length.
 * @param privkey_pem NUL-terminated PEM of an EC P-256 private key.
 * @param out on success, a malloc()ed package the caller frees with free().
 * @param out_len on success, its length.
 * @param err caller buffer for a human-readable reason (may be NULL).
 * @param errlen size of err.
 * @return 0, VPK_EINVAL, VPK_EVERSION, VPK_ETOOBIG, VPK_EKEY, VPK_ENOMEM or
 *         VPK_ECRYPTO.  Thread-safe.
 */
int vpk_pack(const vpk_manifest_t *m, const uint8_t *module,
             size_t module_len, const char *privkey_pem, uint8_t **out,
             size_t *out_len, char *err, size_t errlen);

/**
 * Split a package into its parts and decode the manifest, checking every
 * length against the remaining bytes and the caps before use.  Does not
 * check the signature or the hash: call vpk_verify() before trusting it.
 * @param buf the package (borrowed; the view points into it).
 * @param len its length.
 * @param view filled on success.
 * @param err caller buffer for a human-readable reason (may be NULL).
 * @param errlen size of err.
 * @return 0, VPK_EINVAL or VPK_EFORMAT.  Thread-safe.
 */
int vpk_parse(const uint8_t *buf, size_t len, vpk_view_t *view, char *err,
              size_t errlen);

/**
 * Check a parsed package: the key named by the manifest must be one of
 * the trusted keys, the signature must verify with it, and the module
 * must have the manifest's size and SHA-256, in that order.
 * @param view a view from vpk_parse() (borrowed).
 * @param trusted_pem NUL-terminated PEM public keys (borrowed).
 * @param ntrusted their number.
 * @param err caller buffer for a human-readable reason (may be NULL).
 * @param errlen size of err.
 * @return 0, VPK_EINVAL, VPK_EUNKNOWNKEY, VPK_ESIG, VPK_EHASH or
 *         VPK_ECRYPTO.  A trusted key that does not parse is skipped.
 */
int vpk_verify(const vpk_view_t *view, const char *const *trusted_pem,
               size_t ntrusted, char *err, size_t errlen);

/**
 * Make a new EC P-256 key pair, seeded from the platform's entropy.
 * @param priv_pem receives the NUL-terminated PEM private key.
 * @param priv_cap its size (VPK_PEM_MAX is enough).
 * @param pub_pem receives the NUL-terminated PEM public key.
 * @param pub_cap its size (VPK_PEM_MAX is enough).
 * @return 0, VPK_EINVAL or VPK_ECRYPTO.
 */
int vpk_key_gen(char *priv_pem, size_t priv_cap, char *pub_pem,
                size_t pub_cap);

/**
 * Key id of a key: the first 8 bytes, in lower-case hex, of the SHA-256
 * of the public key's DER (SubjectPublicKeyInfo).  Accepts a PEM public
 * or private key.
 * @param pem NUL-terminated PEM key (borrowed).
 * @param out receives VPK_KEY_ID_LEN hex digits and a NUL.
 * @return 0, VPK_EINVAL or VPK_EKEY.
 */
int vpk_key_id(const char *pem, char out[VPK_KEY_ID_LEN + 1]);

/**
 * Compare two semantic versions (semver 2.0.0) by precedence: build
 * metadata is ignored, a pre-release is lower than its release, and
 * pre-release identifiers compare numerically or in ASCII order.
 * Parsing is strict: three numeric parts without leading zeros, no "v",
 * no empty identifiers, at most VPK_VERSION_MAX - 1 characters.
 * @param a first version (NUL-terminated).
 * @param b second version (NUL-terminated).
 * @param order receives -1, 0 or 1 for a < b, a == b, a > b.
 * @param err caller buffer for a human-readable reason (may be NULL).
 * @param errlen size of err.
 * @return 0 or VPK_EVERSION (with order untouched) or VPK_EINVAL.
 */
int vpk_semver_cmp(const char *a, const char *b, int *order, char *err,
                   size_t errlen);

/**
 * Check a semantic version string as vpk_semver_cmp() parses it.
 * @param v the version (NUL-terminated).
 * @return 0 or VPK_EVERSION.
 */
int vpk_semver_check(const char *v);

/**
 * SHA-256 of a buffer (the one vpk uses), for transfers that are checked
 * against a digest before they are parsed (the OTA VM).
 * @param data the bytes (borrowed); may be NULL when len is 0.
 * @param len their number.
 * @param out receives the 32-byte digest.
 * @return 0, VPK_EINVAL or VPK_ECRYPTO.  Thread-safe.
 */
int vmf_sha256(const void *data, size_t len, uint8_t out[32]);

#endif /* VMF_VPK_H */
