/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Semantic versions (semver.org 2.0.0): strict parsing and precedence.
 * Parsing works on the caller's string in place: a version is at most
 * VPK_VERSION_MAX - 1 characters, so no allocation is needed.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vpk_internal.h"

typedef struct semver {
    uint64_t num[3];
    const char *pre; /* after '-', or NULL */
    size_t pre_len;
} semver_t;

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
is_ident_char(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           c == '-';
}

/*
 * parse_num: a numeric part: digits, no leading zero, fits in 63 bits.
 * Return: the number of characters used, or 0 if invalid.
 */
static size_t
parse_num(const char *s, uint64_t *out)
{
    size_t i = 0;
    uint64_t v = 0;

    while (is_digit(s[i])) {
        if (v > (UINT64_MAX / 2 - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == 0 || (i > 1 && s[0] == '0'))
        return 0;
    *out = v;
    return i;
}

/*
 * parse_idents: dot-separated identifiers up to '+' or the end; numeric
 * ones must have no leading zero when `numeric_rule` is set (pre-release;
 * build metadata allows "001").
 * Return: characters used, or 0 if invalid (empty identifier, bad char).
 */
static size_t
parse_idents(const char *s, int numeric_rule)
{
    size_t i = 0, start;
    int all_digits;

    for (;;) {
        start = i;
        all_digits = 1;
        while (is_ident_char(s[i])) {
            if (!is_digit(s[i]))
                all_digits = 0;
            i++;
        }
        if (i == start)
            return 0;
        if (numeric_rule && all_digits && i - start > 1 && s[start] == '0')
            return 0;
        if (s[i] != '.')
            return i;
        i++;
    }
}

/*
 * parse: strict semver.
 * Return: 0 or VPK_EVERSION.
 */
static int
parse(const char *s, semver_t *v)
{
    size_t i = 0, n;
    int k;

    if (strlen(s) >= VPK_VERSION_MAX)
        return VPK_EVERSION;
    for (k = 0; k < 3; k++) {
        if ((n = parse_num(s + i, &v->num[k])) == 0)
            return VPK_EVERSION;
        i += n;
        if (k < 2) {
            if (s[i] != '.')
                return VPK_EVERSION;
            i++;
        }
    }
    v->pre = NULL;
    v->pre_len = 0;
    if (s[i] == '-') {
        i++;
        if ((n = parse_idents(s + i, 1)) == 0)
            return VPK_EVERSION;
        v->pre = s + i;
        v->pre_len = n;
        i += n;
    }
    if (s[i] == '+') {
        i++;
        if ((n = parse_idents(s + i, 0)) == 0)
            return VPK_EVERSION;
        i += n;
    }
    return s[i] == '\0' ? 0 : VPK_EVERSION;
}

static int
cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : a > b;
}

/*
 * cmp_pre: compare pre-release strings identifier by identifier.
 * Return: -1, 0 or 1.
 */
static int
cmp_pre(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t i = 0, j = 0;

    while (i < alen && j < blen) {
        size_t ai = i, bj = j, an, bn;
        int ad = 1, bd = 1, c;

        while (i < alen && a[i] != '.')
            ad &= is_digit(a[i++]);
        while (j < blen && b[j] != '.')
            bd &= is_digit(b[j++]);
        an = i - ai;
        bn = j - bj;
        if (ad && bd) {
            /* No leading zeros, so the longer number is the larger. */
            if (an != bn)
                return an < bn ? -1 : 1;
            c = memcmp(a + ai, b + bj, an);
        } else if (ad != bd) {
            return ad ? -1 : 1; /* numeric < alphanumeric */
        } else {
            c = memcmp(a + ai, b + bj, an < bn ? an : bn);
            if (c == 0 && an != bn)
                c = an < bn ? -1 : 1;
        }
        if (c != 0)
            return c < 0 ? -1 : 1;
        i += i < alen; /* skip the dot */
        j += j < blen;
    }
    /* A larger set of identifiers wins when all before are equal. */
    if (i < alen)
        return 1;
    if (j < blen)
        return -1;
    return 0;
}

int
vpk_semver_check(const char *v)
{
    semver_t sv;

    if (v == NULL)
        return VPK_EVERSION;
    return parse(v, &sv);
}

int
vpk_semver_cmp(const char *a, const char *b, int *order, char *err,
               size_t errlen)
{
    semver_t va, vb;
    int k, c;

    if (a == NULL || b == NULL || order == NULL) {
        vpk__err(err, errlen, "vpk_semver_cmp: NULL argument");
        return VPK_EINVAL;
    }
    if (parse(a, &va) != 0) {
        vpk__err(err, errlen, "invalid semantic version \"%.*s\"",
                 VPK_VERSION_MAX, a);
        return VPK_EVERSION;
    }
    if (parse(b, &vb) != 0) {
        vpk__err(err, errlen, "invalid semantic version \"%.*s\"",
                 VPK_VERSION_MAX, b);
        return VPK_EVERSION;
    }
    for (k = 0; k < 3; k++) {
        if ((c = cmp_u64(va.num[k], vb.num[k])) != 0) {
            *order = c;
            return 0;
        }
    }
    if (va.pre == NULL || vb.pre == NULL)
        c = va.pre == vb.pre ? 0 : (va.pre == NULL ? 1 : -1);
    else
        c = cmp_pre(va.pre, va.pre_len, vb.pre, vb.pre_len);
    *order = c;
    return 0;
}
