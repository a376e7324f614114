/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The per-VM key-value configuration (vos_config_get / vos_config_set).
 * It lives in the VM's state directory, next to (not inside) the root the
 * VM's files are confined to, so a program cannot reach it through WASI:
 * <vm->root>/../config.json, a flat JSON object of strings, rewritten
 * atomically at every change.  Keys and values are bytes: printable ASCII
 * is written as is and every other byte as \u00XX, which the loader maps
 * back to that byte.
 */

#include <stdio.h>
#include <string.h>

#include "engine/module.h"
#include "vos/vos_internal.h"

#define CFG_FILE_MAX (VOS__CFG_KEYS * (VOS__CFG_KEY_MAX + VOS__CFG_VAL_MAX) * 6 + 64)

static int
cfg_path(vmrt_vm_t *vm, char *buf, size_t len)
{
    int n;

    if (vm->root[0] == '\0')
        return -1; /* no state dir (tests): memory only */
    n = snprintf(buf, len, "%s/../config.json", vm->root);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

void
vmrt__vos_cfg_free(vos__vm_t *st)
{
    uint32_t i;

    for (i = 0; i < st->ncfg; i++) {
        vmrt__free(st->cfg[i].key);
        vmrt__free(st->cfg[i].val);
    }
    vmrt__free(st->cfg);
    st->cfg = NULL;
    st->ncfg = 0;
}

static vos__cfg_ent_t *
cfg_find(vos__vm_t *st, const char *key, uint32_t klen)
{
    uint32_t i;

    for (i = 0; i < st->ncfg; i++)
        if (st->cfg[i].klen == klen && memcmp(st->cfg[i].key, key, klen) == 0)
            return &st->cfg[i];
    return NULL;
}

static char *
dup_bytes(const char *p, uint32_t n)
{
    char *d = vmrt__malloc((size_t)n + 1);

    if (d != NULL) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

/*
 * cfg_put: set key to val in memory (vlen 0 deletes).
 * Return: 0, VOS_ENOSPC (too many keys), VOS_ENOMEM.
 */
static int
cfg_put(vos__vm_t *st, const char *key, uint32_t klen, const char *val,
        uint32_t vlen)
{
    vos__cfg_ent_t *e = cfg_find(st, key, klen), *n;
    char *v;

    if (vlen == 0) {
        if (e != NULL) {
            vmrt__free(e->key);
            vmrt__free(e->val);
            *e = st->cfg[--st->ncfg];
        }
        return 0;
    }
    if ((v = dup_bytes(val, vlen)) == NULL)
        return VOS_ENOMEM;
    if (e != NULL) {
        vmrt__free(e->val);
        e->val = v;
        e->vlen = vlen;
        return 0;
    }
    if (st->ncfg >= VOS__CFG_KEYS) {
        vmrt__free(v);
        return VOS_ENOSPC;
    }
    if ((n = vmrt__realloc(st->cfg, (st->ncfg + 1) * sizeof(*n))) == NULL) {
        vmrt__free(v);
        return VOS_ENOMEM;
    }
    st->cfg = n;
    e = &n[st->ncfg];
    if ((e->key = dup_bytes(key, klen)) == NULL) {
        vmrt__free(v);
        return VOS_ENOMEM;
    }
    e->klen = klen;
    e->val = v;
    e->vlen = vlen;
    st->ncfg++;
    return 0;
}

/* ---- the file --------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

static int
sb_putc(sbuf_t *b, char c)
{
    char *n;

    if (b->len == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        if ((n = vmrt__realloc(b->buf, b->cap)) == NULL)
            return -1;
        b->buf = n;
    }
    b->buf[b->len++] = c;
    return 0;
}

static int
sb_str(sbuf_t *b, const char *s, uint32_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char c;
    uint32_t i;
    int rc = sb_putc(b, '"');

    for (i = 0; i < n && rc == 0; i++) {
        c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            rc = sb_putc(b, (char)c);
        } else {
            rc |= sb_putc(b, '\\');
            rc |= sb_putc(b, 'u');
            rc |= sb_putc(b, '0');
            rc |= sb_putc(b, '0');
            rc |= sb_putc(b, hex[c >> 4]);
            rc |= sb_putc(b, hex[c & 15]);
        }
    }
    return rc | sb_putc(b, '"');
}

/*
 * cfg_store: write the whole store to its file.
 * Return: 0; VOS_ENOMEM; VOS_ENOSPC when the file cannot be written.
 */
static int
cfg_store(vmrt_vm_t *vm, vos__vm_t *st)
{
    char path[VMRT_PATH_MAX + 16];
    sbuf_t b = { NULL, 0, 0 };
    uint32_t i;
    int rc = 0;

    if (cfg_path(vm, path, sizeof(path)) != 0)
        return 0;
    rc |= sb_putc(&b, '{');
    for (i = 0; i < st->ncfg && rc == 0; i++) {
        if (i > 0)
            rc |= sb_putc(&b, ',');
        rc |= sb_putc(&b, '\n');
        rc |= sb_str(&b, st->cfg[i].key, st->cfg[i].klen);
        rc |= sb_putc(&b, ':');
        rc |= sb_str(&b, st->cfg[i].val, st->cfg[i].vlen);
    }
    rc |= sb_putc(&b, '\n');
    rc |= sb_putc(&b, '}');
    rc |= sb_putc(&b, '\n');
    if (rc != 0) {
        rc = VOS_ENOMEM;
    } else if ((rc = pl_file_write_atomic(path, b.buf, b.len)) != 0) {
        rc = rc == PL_ENOMEM ? VOS_ENOMEM : VOS_ENOSPC;
    }
    vmrt__free(b.buf);
    return rc;
}

static void
skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\n' || **p == '\t' ||
                        **p == '\r'))
        (*p)++;
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * parse_str: a JSON string at *p into out (at most cap bytes).
 * Return: its length, or -1 (malformed, too long, \u above 0xff).
 */
static int
parse_str(const char **p, const char *end, char *out, uint32_t cap)
{
    uint32_t n = 0;
    int c, i, h, v;

    if (*p >= end || **p != '"')
        return -1;
    (*p)++;
    while (*p < end && **p != '"') {
        c = (unsigned char)*(*p)++;
        if (c == '\\') {
            if (*p >= end)
                return -1;
            switch (c = *(*p)++) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '"': case '\\': case '/': break;
            case 'u':
                if (end - *p < 4)
                    return -1;
                for (v = 0, i = 0; i < 4; i++) {
                    if ((h = hexval((*p)[i])) < 0)
                        return -1;
                    v = v * 16 + h;
                }
                *p += 4;
                if (v > 0xff)
                    return -1;
                c = v;
                break;
            default:
                return -1;
            }
        }
        if (n >= cap)
            return -1;
        out[n++] = (char)c;
    }
    if (*p >= end)
        return -1;
    (*p)++;
    return (int)n;
}

int
vmrt__vos_cfg_load(vmrt_vm_t *vm, vos__vm_t *st)
{
    char path[VMRT_PATH_MAX + 16];
    char key[VOS__CFG_KEY_MAX], val[VOS__CFG_VAL_MAX];
    const char *p, *end;
    uint8_t *data;
    size_t len;
    int kl, vl, rc;

    st->cfg_loaded = true;
    if (cfg_path(vm, path, sizeof(path)) != 0)
        return 0;
    rc = pl_file_read_all(path, CFG_FILE_MAX, &data, &len);
    if (rc == PL_ENOENT)
        return 0;
    if (rc != 0)
        return rc == PL_ENOMEM ? VMRT_ENOMEM : VMRT_EIO;
    p = (const char *)data;
    end = p + len;
    rc = VMRT_EIO;
    skip_ws(&p, end);
    if (p >= end || *p++ != '{')
        goto out;
    skip_ws(&p, end);
    if (p < end && *p == '}') {
        rc = 0;
        goto out;
    }
    for (;;) {
        skip_ws(&p, end);
        if ((kl = parse_str(&p, end, key, sizeof(key))) <= 0)
            goto out;
        skip_ws(&p, end);
        if (p >= end || *p++ != ':')
            goto out;
        skip_ws(&p, end);
        if ((vl = parse_str(&p, end, val, sizeof(val))) < 0)
            goto out;
        if (cfg_put(st, key, (uint32_t)kl, val, (uint32_t)vl) != 0)
            goto out;
        skip_ws(&p, end);
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '}') {
            rc = 0;
            break;
        }
        goto out;
    }
out:
    pl_free_file(data);
    if (rc != 0) {
        /* A damaged file must not keep the VM from starting: start with
         * what was read and say so in its log. */
        static const char msg[] = "[WARN] vos: config.json is damaged; "
                                  "keys after the damage are lost\n";
        vmrt__log_append(vm, msg, sizeof(msg) - 1);
        rc = 0;
    }
    return rc;
}

/* ---- host functions --------------------------------------------------- */

static int
h_config_get(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vos__vm_t *st = vmrt__vos_state(vm);
    uint32_t klen = (uint32_t)args[1], cap = (uint32_t)args[3];
    const char *key;
    char *val;
    vos__cfg_ent_t *e;
    int rc;

    if (st == NULL) {
        rc = VOS_ENOMEM;
    } else if (klen == 0 || klen > VOS__CFG_KEY_MAX) {
        rc = VOS_EINVAL;
    } else if ((key = vmrt__vos_mem(inst, (uint32_t)args[0], klen)) ==
                   NULL ||
               (val = vmrt__vos_mem(inst, (uint32_t)args[2], cap)) == NULL) {
        rc = VOS_EFAULT;
    } else if ((e = cfg_find(st, key, klen)) == NULL) {
        rc = VOS_ENOENT;
    } else {
        memcpy(val, e->val, e->vlen < cap ? e->vlen : cap);
        rc = (int)e->vlen;
    }
    res[0] = (uint64_t)(uint32_t)rc;
    return 0;
}

static int
h_config_set(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = ctx;
    vos__vm_t *st = vmrt__vos_state(vm);
    uint32_t klen = (uint32_t)args[1], vlen = (uint32_t)args[3];
    const char *key, *val;
    vos__cfg_ent_t *e, old = { 0 };
    int rc;

    if (st == NULL) {
        rc = VOS_ENOMEM;
    } else if (klen == 0 || klen > VOS__CFG_KEY_MAX) {
        rc = VOS_EINVAL;
    } else if (vlen > VOS__CFG_VAL_MAX) {
        rc = VOS_EMSGSIZE;
    } else if ((key = vmrt__vos_mem(inst, (uint32_t)args[0], klen)) ==
                   NULL ||
               (val = vmrt__vos_mem(inst, (uint32_t)args[2], vlen)) == NULL) {
        rc = VOS_EFAULT;
    } else {
        /* Keep the old value so that a failed write changes nothing. */
        if ((e = cfg_find(st, key, klen)) != NULL &&
            (old.val = dup_bytes(e->val, e->vlen)) == NULL) {
            rc = VOS_ENOMEM;
            goto out;
        }
        old.vlen = e != NULL ? e->vlen : 0;
        if ((rc = cfg_put(st, key, klen, val, vlen)) == 0 &&
            (rc = cfg_store(vm, st)) != 0)
            (void)cfg_put(st, key, klen, old.val, old.vlen);
        vmrt__free(old.val);
    }
out:
    res[0] = (uint64_t)(uint32_t)rc;
    return 0;
}

const vmrt__vos_fn_t vmrt__vos_cfg_fns[] = {
    { "config_get", "(iiii)i", h_config_get },
    { "config_set", "(iiii)i", h_config_set },
    { NULL, NULL, NULL }
};
