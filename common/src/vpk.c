/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The .vpk container (docs/package-format.md): packing, parsing and
 * verification.  Parsing trusts nothing: every length is checked against
 * the bytes that remain and against its cap before it is used, and the
 * parser never allocates more than protobuf-c needs for one manifest of
 * at most VPK_MANIFEST_MAX bytes.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vpk_internal.h"

#define MAGIC_LEN 4
#define HEADER_LEN (MAGIC_LEN + 4) /* magic, format version */

static const struct {
    int code;
    const char *text;
} errtab[] = {
#define VPK_ERR_ROW(name, val, text) { (val), (text) },
    VPK_ERRORS(VPK_ERR_ROW)
#undef VPK_ERR_ROW
};

const char *
vpk_strerror(int err)
{
    size_t i;

    if (err == 0)
        return "success";
    for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].code == err)
            return errtab[i].text;
    return "unknown error";
}

void
vpk__err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/*
 * check_manifest: the manifest fields every package must have right,
 * whether being packed or parsed.
 * Return: 0, or `bad` (VPK_EVERSION when packing, VPK_EFORMAT when
 * parsing) with a reason in err.
 */
static int
check_manifest(const vpk_manifest_t *m, int bad, char *err, size_t errlen)
{
    size_t i;

    if (memchr(m->vm_name, '\0', sizeof(m->vm_name)) == NULL ||
        m->vm_name[0] == '\0') {
        vpk__err(err, errlen, "manifest vm_name is empty or too long");
        return bad == VPK_EVERSION ? VPK_EINVAL : bad;
    }
    if (memchr(m->version, '\0', sizeof(m->version)) == NULL ||
        vpk_semver_check(m->version) != 0) {
        vpk__err(err, errlen, "manifest version \"%.*s\" is not semver",
                 VPK_VERSION_MAX - 1, m->version);
        return bad;
    }
    if (memchr(m->min_runtime_version, '\0', sizeof(m->min_runtime_version)) ==
            NULL ||
        (m->min_runtime_version[0] != '\0' &&
         vpk_semver_check(m->min_runtime_version) != 0)) {
        vpk__err(err, errlen,
                 "manifest min_runtime_version \"%.*s\" is not semver",
                 VPK_VERSION_MAX - 1, m->min_runtime_version);
        return bad;
    }
    if (bad == VPK_EFORMAT) {
        for (i = 0; i < VPK_KEY_ID_LEN; i++) {
            char c = m->key_id[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                break;
        }
        if (i != VPK_KEY_ID_LEN || m->key_id[i] != '\0') {
            vpk__err(err, errlen, "manifest key_id is not %d hex digits",
                     VPK_KEY_ID_LEN);
            return bad;
        }
    }
    return 0;
}

int
vpk__pack_raw(const vpk_manifest_t *m, const uint8_t *module, size_t module_len,
              const char *privkey_pem, uint8_t **out, size_t *out_len,
              char *err, size_t errlen)
{
    uint8_t *man = NULL, *buf = NULL, *p;
    uint8_t sig[VPK_SIG_MAX], hash[VPK_SHA256_LEN];
    size_t man_len = 0, sig_len = 0, total, signed_len;
    int rc;

    if ((rc = vpk__manifest_encode(m, &man, &man_len)) != 0) {
        vpk__err(err, errlen, "cannot encode manifest: %s", vpk_strerror(rc));
        goto fail;
    }
    signed_len = HEADER_LEN + 4 + man_len + 4 + module_len;
    total = signed_len + 4 + VPK_SIG_MAX;
    if ((buf = malloc(total)) == NULL) {
        vpk__err(err, errlen, "out of memory for a %zu-byte package", total);
        rc = VPK_ENOMEM;
        goto fail;
    }
    p = buf;
    memcpy(p, VPK_MAGIC, MAGIC_LEN);
    put_u32(p + MAGIC_LEN, VPK_FORMAT_VERSION);
    p += HEADER_LEN;
    put_u32(p, (uint32_t)man_len);
    memcpy(p + 4, man, man_len);
    p += 4 + man_len;
    put_u32(p, (uint32_t)module_len);
    if (module_len > 0)
        memcpy(p + 4, module, module_len);
    p += 4 + module_len;
    if ((rc = vpk__sha256(buf, signed_len, hash)) != 0 ||
        (rc = vpk__crypto_sign(privkey_pem, hash, sig, &sig_len)) != 0) {
        vpk__err(err, errlen, "cannot sign package: %s", vpk_strerror(rc));
        goto fail;
    }
    put_u32(p, (uint32_t)sig_len);
    memcpy(p + 4, sig, sig_len);
    free(man);
    *out = buf;
    *out_len = signed_len + 4 + sig_len;
    return 0;
fail:
    free(buf);
    free(man);
    return rc;
}

int
vpk_pack(const vpk_manifest_t *m, const uint8_t *module, size_t module_len,
         const char *privkey_pem, uint8_t **out, size_t *out_len, char *err,
         size_t errlen)
{
    vpk_manifest_t mm;
    int rc;

    if (m == NULL || (module == NULL && module_len > 0) ||
        privkey_pem == NULL || out == NULL || out_len == NULL) {
        vpk__err(err, errlen, "vpk_pack: NULL argument");
        return VPK_EINVAL;
    }
    if (module_len > VPK_MODULE_MAX) {
        vpk__err(err, errlen, "module is %zu bytes, over the %u-byte cap",
                 module_len, VPK_MODULE_MAX);
        return VPK_ETOOBIG;
    }
    if ((rc = check_manifest(m, VPK_EVERSION, err, errlen)) != 0)
        return rc;
    mm = *m;
    if ((rc = vpk__sha256(module, module_len, mm.module_sha256)) != 0) {
        vpk__err(err, errlen, "cannot hash module");
        return rc;
    }
    mm.module_size = module_len;
    if ((rc = vpk__crypto_key_id(privkey_pem, mm.key_id)) != 0) {
        vpk__err(err, errlen, "private key is not an EC P-256 PEM key");
        return rc;
    }
    return vpk__pack_raw(&mm, module, module_len, privkey_pem, out, out_len,
                         err, errlen);
}

/*
 * take: one length-prefixed part at *off, checked against what remains of
 * the buffer and against `cap` before anything else looks at it.
 * Return: 0 or VPK_EFORMAT.
 */
static int
take(const uint8_t *buf, size_t len, size_t *off, uint32_t cap,
     const char *what, const uint8_t **part, size_t *part_len, char *err,
     size_t errlen)
{
    uint32_t n;

    if (len - *off < 4) {
        vpk__err(err, errlen, "truncated before the %s length", what);
        return VPK_EFORMAT;
    }
    n = get_u32(buf + *off);
    *off += 4;
    if (n > cap) {
        vpk__err(err, errlen, "%s length %u is over the %u-byte cap", what, n,
                 cap);
        return VPK_EFORMAT;
    }
    if (n > len - *off) {
        vpk__err(err, errlen, "%s length %u but only %zu bytes remain", what, n,
                 len - *off);
        return VPK_EFORMAT;
    }
    *part = buf + *off;
    *part_len = n;
    *off += n;
    return 0;
}

int
vpk_parse(const uint8_t *buf, size_t len, vpk_view_t *view, char *err,
          size_t errlen)
{
    const uint8_t *man;
    size_t man_len, off;
    uint32_t ver;
    int rc;

    if ((buf == NULL && len > 0) || view == NULL) {
        vpk__err(err, errlen, "vpk_parse: NULL argument");
        return VPK_EINVAL;
    }
    memset(view, 0, sizeof(*view));
    if (len < HEADER_LEN || memcmp(buf, VPK_MAGIC, MAGIC_LEN) != 0) {
        vpk__err(err, errlen, "not a package (no \"%s\" header)", VPK_MAGIC);
        return VPK_EFORMAT;
    }
    if ((ver = get_u32(buf + MAGIC_LEN)) != VPK_FORMAT_VERSION) {
        vpk__err(err, errlen, "package format version %u, expected %u", ver,
                 VPK_FORMAT_VERSION);
        return VPK_EFORMAT;
    }
    off = HEADER_LEN;
    if ((rc = take(buf, len, &off, VPK_MANIFEST_MAX, "manifest", &man, &man_len,
                   err, errlen)) != 0 ||
        (rc = take(buf, len, &off, VPK_MODULE_MAX, "module", &view->module,
                   &view->module_len, err, errlen)) != 0)
        return rc;
    view->signed_data = buf;
    view->signed_len = off;
    if ((rc = take(buf, len, &off, VPK_SIG_MAX, "signature", &view->sig,
                   &view->sig_len, err, errlen)) != 0)
        return rc;
    if (view->sig_len == 0) {
        vpk__err(err, errlen, "empty signature");
        return VPK_EFORMAT;
    }
    if (off != len) {
        vpk__err(err, errlen, "%zu trailing bytes after the signature",
                 len - off);
        return VPK_EFORMAT;
    }
    if ((rc = vpk__manifest_decode(man, man_len, &view->manifest, err,
                                   errlen)) != 0)
        return rc;
    return check_manifest(&view->manifest, VPK_EFORMAT, err, errlen);
}

int
vpk_verify(const vpk_view_t *view, const char *const *trusted_pem,
           size_t ntrusted, char *err, size_t errlen)
{
    const vpk_manifest_t *m;
    uint8_t hash[VPK_SHA256_LEN];
    char id[VPK_KEY_ID_LEN + 1];
    size_t i;
    int rc;

    if (view == NULL || view->signed_data == NULL || view->sig == NULL ||
        (trusted_pem == NULL && ntrusted > 0)) {
        vpk__err(err, errlen, "vpk_verify: NULL argument");
        return VPK_EINVAL;
    }
    m = &view->manifest;
    for (i = 0; i < ntrusted; i++) {
        if (trusted_pem[i] == NULL ||
            vpk__crypto_key_id(trusted_pem[i], id) != 0)
            continue;
        if (strcmp(id, m->key_id) == 0)
            break;
    }
    if (i == ntrusted) {
        vpk__err(err, errlen, "signed by key %s, which is not trusted",
                 m->key_id);
        return VPK_EUNKNOWNKEY;
    }
    if ((rc = vpk__sha256(view->signed_data, view->signed_len, hash)) != 0) {
        vpk__err(err, errlen, "cannot hash package");
        return rc;
    }
    if ((rc = vpk__crypto_verify(trusted_pem[i], hash, view->sig,
                                 view->sig_len)) != 0) {
        vpk__err(err, errlen, "signature does not verify with key %s",
                 m->key_id);
        return rc == VPK_EKEY ? VPK_ECRYPTO : rc;
    }
    if (m->module_size != view->module_len) {
        vpk__err(err, errlen, "module is %zu bytes, manifest says %llu",
                 view->module_len, (unsigned long long)m->module_size);
        return VPK_EHASH;
    }
    if ((rc = vpk__sha256(view->module, view->module_len, hash)) != 0) {
        vpk__err(err, errlen, "cannot hash module");
        return rc;
    }
    if (memcmp(hash, m->module_sha256, VPK_SHA256_LEN) != 0) {
        vpk__err(err, errlen, "module SHA-256 does not match the manifest");
        return VPK_EHASH;
    }
    return 0;
}

int
vpk_key_gen(char *priv_pem, size_t priv_cap, char *pub_pem, size_t pub_cap)
{
    if (priv_pem == NULL || pub_pem == NULL || priv_cap == 0 || pub_cap == 0)
        return VPK_EINVAL;
    return vpk__crypto_key_gen(priv_pem, priv_cap, pub_pem, pub_cap);
}

int
vpk_key_id(const char *pem, char out[VPK_KEY_ID_LEN + 1])
{
    if (pem == NULL || out == NULL)
        return VPK_EINVAL;
    return vpk__crypto_key_id(pem, out);
}
