/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The binary decoder: turns module bytes into a struct vmrt_module and
 * applies every module-level validation rule of WebAssembly 2.0 (without
 * SIMD).  Function bodies are only delimited here; compile.c validates and
 * translates them.
 *
 * Error precedence follows the reference interpreter, which decodes the
 * whole module before validating it: a format error anywhere wins over a
 * validation error found earlier.  So validation failures are recorded
 * (the first one only) and decoding goes on; the recorded one is reported
 * if the rest of the module turns out well formed.  The only exception is
 * a non-constant instruction with nested structure inside a constant
 * expression, whose end cannot be found without a full body decoder.
 *
 * Hostile input: every count and length is checked against the bytes left
 * in the module before anything is allocated (each element takes at least
 * one byte), so allocation is bounded by a small multiple of the module
 * size, and the implementation limits of module.h bound it further.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module.h"
#include "reader.h"

#if defined(__GNUC__) || defined(__clang__)
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#else
#define PRINTF_LIKE(f, a)
#endif

/* Section ids and their required order (custom sections go anywhere). */
enum {
    SEC_CUSTOM = 0,
    SEC_TYPE = 1,
    SEC_IMPORT = 2,
    SEC_FUNCTION = 3,
    SEC_TABLE = 4,
    SEC_MEMORY = 5,
    SEC_GLOBAL = 6,
    SEC_EXPORT = 7,
    SEC_START = 8,
    SEC_ELEMENT = 9,
    SEC_CODE = 10,
    SEC_DATA = 11,
    SEC_DATACOUNT = 12
};

/* Position of each section id in the module; the data count section
 * sits between the element and code sections. */
static const uint8_t section_order[13] = {
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 10
};
#define ORDER_END 13

/* Opcodes that may appear in constant expressions. */
enum {
    OP_END = 0x0b,
    OP_GLOBAL_GET = 0x23,
    OP_I32_CONST = 0x41,
    OP_I64_CONST = 0x42,
    OP_F32_CONST = 0x43,
    OP_F64_CONST = 0x44,
    OP_REF_NULL = 0xd0,
    OP_REF_FUNC = 0xd2,
    OP_PREFIX_FC = 0xfc,
    OP_PREFIX_SIMD = 0xfd
};

struct dec {
    vmrt_module_t *m;
    vmrt__reader_t rd; /* the current section (see decode_module) */
    char *err;
    size_t errlen;

    bool inv;          /* a validation error has been recorded */
    char inv_msg[160]; /* "@0xOFF: reason" of the first one */

    bool funcs_done, tables_done, mems_done, globals_done;
    bool has_code;
    bool has_data;
    bool in_custom; /* reading a custom section */
};

static int fail(struct dec *, int, size_t, const char *, ...) PRINTF_LIKE(4, 5);
static void invalid(struct dec *, size_t, const char *, ...) PRINTF_LIKE(3, 4);

/*
 * fail: put "@0xOFF: reason" in the caller's buffer.
 * Return: rc, so that callers can `return fail(...)`.
 */
static int
fail(struct dec *d, int rc, size_t off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (d->err == NULL || d->errlen == 0)
        return rc;
    n = snprintf(d->err, d->errlen, "@0x%zx: ", off);
    if (n >= 0 && (size_t)n < d->errlen) {
        va_start(ap, fmt);
        vsnprintf(d->err + n, d->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Record a validation error; only the first one is kept (see top). */
static void
invalid(struct dec *d, size_t off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (d->inv)
        return;
    d->inv = true;
    n = snprintf(d->inv_msg, sizeof(d->inv_msg), "@0x%zx: ", off);
    if (n >= 0 && (size_t)n < sizeof(d->inv_msg)) {
        va_start(ap, fmt);
        vsnprintf(d->inv_msg + n, sizeof(d->inv_msg) - (size_t)n, fmt, ap);
        va_end(ap);
    }
}

/*
 * Give up with a validation error: the first recorded one if any, else
 * this one.  Return: VMRT_EINVALID.
 */
static int
invalid_now(struct dec *d, size_t off, const char *msg)
{
    invalid(d, off, "%s", msg);
    return VMRT_EINVALID;
}

static size_t
here(const struct dec *d)
{
    return vmrt__rd_off(&d->rd);
}

/*
 * rd_check: turn a sticky reader error into a decode error.
 * Return: 0 if the reader is fine; VMRT_EMALFORMED otherwise.
 */
static int
rd_check(struct dec *d)
{
    const char *msg = d->rd.err;

    if (msg == NULL)
        return 0;
    if (!d->in_custom && strcmp(msg, "unexpected end") == 0)
        msg = "unexpected end of section or function";
    return fail(d, VMRT_EMALFORMED, d->rd.err_off, "%s", msg);
}

static int
rd_u32(struct dec *d, uint32_t *v)
{
    *v = vmrt__rd_u32(&d->rd);
    return rd_check(d);
}

static int
rd_byte(struct dec *d, uint8_t *v)
{
    *v = vmrt__rd_u8(&d->rd);
    return rd_check(d);
}

/*
 * need: check that `n` more bytes exist before anything sized by n is
 * read or allocated; `msg` is the reference interpreter's complaint.
 * Return: 0 or VMRT_EMALFORMED.
 */
static int
need(struct dec *d, uint64_t n, const char *msg)
{
    if (n <= vmrt__rd_left(&d->rd))
        return 0;
    return fail(d, VMRT_EMALFORMED, here(d), "%s", msg);
}

/*
 * rd_count: read a vector length and bound it by the bytes left (every
 * element takes at least one byte) and by `limit`.  A tighter minimum per
 * element would report a truncated vector before the malformed element
 * the reference interpreter finds first.
 * Return: 0; VMRT_EMALFORMED; VMRT_ELIMIT.
 */
static int
rd_count(struct dec *d, uint32_t *n, uint32_t limit, const char *what)
{
    size_t off = here(d);
    int rc;

    if ((rc = rd_u32(d, n)) != 0)
        return rc;
    /* Reading would fail at the end: say so, like the reference. */
    if (*n > vmrt__rd_left(&d->rd))
        return fail(d, VMRT_EMALFORMED, off,
                    "unexpected end of section or function");
    if (*n > limit)
        return fail(d, VMRT_ELIMIT, off, "too many %s (%" PRIu32
                    ", limit %" PRIu32 ")", what, *n, limit);
    return 0;
}

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
static bool
utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0, len, k;
    uint32_t cp, min;

    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (uint32_t)(s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* A name: u32 length, then that many bytes of valid UTF-8. */
static int
rd_name(struct dec *d, const char **s, uint32_t *len)
{
    size_t off;
    int rc;

    if ((rc = rd_u32(d, len)) != 0)
        return rc;
    off = here(d);
    if ((rc = need(d, *len, "length out of bounds")) != 0)
        return rc;
    if (!utf8_valid(d->rd.p, *len))
        return fail(d, VMRT_EMALFORMED, off, "malformed UTF-8 encoding");
    *s = (const char *)d->rd.p;
    d->rd.p += *len;
    return 0;
}

static int
rd_valtype(struct dec *d, uint8_t *t)
{
    size_t off = here(d);
    int rc;

    if ((rc = rd_byte(d, t)) != 0)
        return rc;
    switch (*t) {
    case VMRT_I32:
    case VMRT_I64:
    case VMRT_F32:
    case VMRT_F64:
    case VMRT_FUNCREF:
    case VMRT_EXTERNREF:
        return 0;
    case VMRT_V128:
        return fail(d, VMRT_EUNSUPPORTED, off,
                    "SIMD (v128) is not supported");
    default:
        return fail(d, VMRT_EMALFORMED, off, "malformed value type");
    }
}

static int
rd_reftype(struct dec *d, uint8_t *t)
{
    size_t off = here(d);
    int rc;

    if ((rc = rd_byte(d, t)) != 0)
        return rc;
    if (*t != VMRT_FUNCREF && *t != VMRT_EXTERNREF)
        return fail(d, VMRT_EMALFORMED, off, "malformed reference type");
    return 0;
}

static int
rd_limits(struct dec *d, vmrt__limits_t *l)
{
    uint8_t flags;
    int rc;

    /* The flags are a one-bit LEB128 number, as the reference reads them:
     * 0x02 is "integer too large", 0x81 0x00 "representation too long". */
    flags = (uint8_t)vmrt__rd_uleb(&d->rd, 1);
    if ((rc = rd_check(d)) != 0)
        return rc;
    if ((rc = rd_u32(d, &l->min)) != 0)
        return rc;
    l->has_max = flags == 1;
    l->max = 0;
    if (l->has_max && (rc = rd_u32(d, &l->max)) != 0)
        return rc;
    return 0;
}

static void
check_table_limits(struct dec *d, const vmrt__limits_t *l, size_t off)
{
    if (l->has_max && l->min > l->max)
        invalid(d, off, "size minimum must not be greater than maximum");
}

static void
check_mem_limits(struct dec *d, const vmrt__limits_t *l, size_t off)
{
    if (l->min > VMRT_MAX_PAGES || (l->has_max && l->max > VMRT_MAX_PAGES))
        invalid(d, off, "memory size must be at most 65536 pages (4GiB)");
    else if (l->has_max && l->min > l->max)
        invalid(d, off, "size minimum must not be greater than maximum");
}

static int
rd_globaltype(struct dec *d, vmrt__globaltype_t *g)
{
    size_t off;
    uint8_t mut;
    int rc;

    if ((rc = rd_valtype(d, &g->valtype)) != 0)
        return rc;
    off = here(d);
    if ((rc = rd_byte(d, &mut)) != 0)
        return rc;
    if (mut > 1)
        return fail(d, VMRT_EMALFORMED, off, "malformed mutability");
    g->mutable_ = mut == 1;
    return 0;
}

/*
 * Whether `op` is an instruction of Wasm 2.0 (without SIMD) at all; used
 * to tell "illegal opcode" (malformed) from "constant expression required"
 * (invalid).
 */
static bool
opcode_exists(uint8_t op)
{
    return op <= 0x05 || (op >= 0x0b && op <= 0x11) ||
           (op >= 0x1a && op <= 0x1c) || (op >= 0x20 && op <= 0x26) ||
           (op >= 0x28 && op <= 0xc4) || (op >= 0xd0 && op <= 0xd2) ||
           op == OP_PREFIX_FC;
}

/*
 * skip_nonconst: a legal but non-constant instruction `op` (at `off`) in
 * a constant expression.  Record the validation error and step over its
 * immediates when they are simple, so that decoding can go on and a later
 * format error still wins.
 * Return: 0 to continue; VMRT_EINVALID when the instruction has structure
 * we do not follow here (blocks, br_table, ...); VMRT_EMALFORMED.
 */
static int
skip_nonconst(struct dec *d, uint8_t op, size_t off)
{
    uint32_t a;
    uint8_t b;
    int rc;

    invalid(d, off, "constant expression required");
    if (op == 0x00 || op == 0x01 || op == 0x0f || op == 0x1a ||
        op == 0x1b || (op >= 0x45 && op <= 0xc4) || op == 0xd1)
        return 0;
    if (op == 0x0c || op == 0x0d || op == 0x10 ||
        (op >= 0x20 && op <= 0x26))
        return rd_u32(d, &a);
    if (op == 0x3f || op == 0x40)
        return rd_byte(d, &b);
    if (op >= 0x28 && op <= 0x3e) {
        if ((rc = rd_u32(d, &a)) != 0)
            return rc;
        return rd_u32(d, &a);
    }
    if (op == OP_PREFIX_FC) {
        if ((rc = rd_u32(d, &a)) != 0)
            return rc;
        if (a <= 7)
            return 0;
    }
    return invalid_now(d, off, "constant expression required");
}

/*
 * rd_constexpr: a constant expression of type `want` (2.0 rules: one
 * const, ref.null, ref.func or global.get of an immutable imported global,
 * then `end`).  ref.func indices join C.refs.
 * Return: 0 (validation problems are recorded, see top); VMRT_EMALFORMED;
 * VMRT_EUNSUPPORTED; VMRT_EINVALID.
 */
static int
rd_constexpr(struct dec *d, uint8_t want, vmrt__constexpr_t *ce)
{
    vmrt_module_t *m = d->m;
    size_t start = here(d), off;
    uint32_t ninstr = 0, idx;
    vmrt__constexpr_t c;
    uint8_t op;
    int rc;

    memset(ce, 0, sizeof(*ce));
    for (;;) {
        off = here(d);
        if ((rc = rd_byte(d, &op)) != 0)
            return rc;
        if (op == OP_END)
            break;
        memset(&c, 0, sizeof(c));
        c.op = op;
        switch (op) {
        case OP_I32_CONST:
            c.type = VMRT_I32;
            c.val = (uint32_t)vmrt__rd_sleb(&d->rd, 32);
            break;
        case OP_I64_CONST:
            c.type = VMRT_I64;
            c.val = (uint64_t)vmrt__rd_sleb(&d->rd, 64);
            break;
        case OP_F32_CONST:
            c.type = VMRT_F32;
            c.val = vmrt__rd_fixed32(&d->rd);
            break;
        case OP_F64_CONST:
            c.type = VMRT_F64;
            c.val = vmrt__rd_fixed64(&d->rd);
            break;
        case OP_REF_NULL:
            if ((rc = rd_reftype(d, &c.type)) != 0)
                return rc;
            break;
        case OP_REF_FUNC:
            c.type = VMRT_FUNCREF;
            if ((rc = rd_u32(d, &idx)) != 0)
                return rc;
            c.val = idx;
            if (idx >= m->nfuncs)
                invalid(d, off, "unknown function %" PRIu32, idx);
            else
                m->func_declared[idx] = 1;
            break;
        case OP_GLOBAL_GET:
            if ((rc = rd_u32(d, &idx)) != 0)
                return rc;
            c.val = idx;
            /* Only imported globals are visible here (the spec's C'). */
            if (idx >= m->nglobal_imports) {
                invalid(d, off, "unknown global %" PRIu32, idx);
            } else {
                c.type = m->globals[idx].valtype;
                if (m->globals[idx].mutable_)
                    invalid(d, off, "constant expression required");
            }
            break;
        case OP_PREFIX_SIMD:
            return fail(d, VMRT_EUNSUPPORTED, off,
                        "SIMD instruction (0xfd prefix) is not supported");
        default:
            if (!opcode_exists(op))
                return fail(d, VMRT_EMALFORMED, off, "illegal opcode");
            if ((rc = skip_nonconst(d, op, off)) != 0)
                return rc;
            break;
        }
        if ((rc = rd_check(d)) != 0)
            return rc;
        if (ninstr++ == 0)
            *ce = c;
    }
    if (ninstr != 1 || ce->type != want)
        invalid(d, start, "type mismatch");
    return 0;
}

/* ------------------------------------------------------------------ */
/* Index spaces                                                        */
/* ------------------------------------------------------------------ */

/*
 * The space_* functions size an index space once its defining section
 * (or the point where it would have been) is reached: imported entries
 * first, then `ndef` defined ones.
 * Return: 0; VMRT_ELIMIT; VMRT_ENOMEM.
 */
static int
space_funcs(struct dec *d, uint32_t ndef)
{
    vmrt_module_t *m = d->m;
    uint64_t total = (uint64_t)m->nfunc_imports + ndef;
    uint32_t i, k = 0;

    d->funcs_done = true;
    if (total > VMRT_MAX_FUNCS)
        return fail(d, VMRT_ELIMIT, here(d), "too many functions");
    m->func_types = vmrt__calloc((size_t)total, sizeof(*m->func_types));
    m->func_declared = vmrt__calloc((size_t)total, 1);
    if (m->func_types == NULL || m->func_declared == NULL)
        return VMRT_ENOMEM;
    m->nfuncs = (uint32_t)total;
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VMRT_EXTERN_FUNC)
            m->func_types[k++] = m->imports[i].desc.type_idx;
    return 0;
}

static int
space_tables(struct dec *d, uint32_t ndef)
{
    vmrt_module_t *m = d->m;
    uint64_t total = (uint64_t)m->ntable_imports + ndef;
    uint32_t i, k = 0;

    d->tables_done = true;
    if (total > VMRT_MAX_TABLES)
        return fail(d, VMRT_ELIMIT, here(d), "too many tables");
    m->tables = vmrt__calloc((size_t)total, sizeof(*m->tables));
    if (m->tables == NULL)
        return VMRT_ENOMEM;
    m->ntables = (uint32_t)total;
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VMRT_EXTERN_TABLE)
            m->tables[k++] = m->imports[i].desc.table;
    return 0;
}

static int
space_mems(struct dec *d, uint32_t ndef)
{
    vmrt_module_t *m = d->m;
    uint64_t total = (uint64_t)m->nmem_imports + ndef;
    uint32_t i, k = 0;

    d->mems_done = true;
    if (total > 1)
        invalid(d, here(d), "multiple memories");
    m->mems = vmrt__calloc((size_t)total, sizeof(*m->mems));
    if (m->mems == NULL)
        return VMRT_ENOMEM;
    m->nmems = (uint32_t)total;
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VMRT_EXTERN_MEMORY)
            m->mems[k++] = m->imports[i].desc.mem;
    return 0;
}

static int
space_globals(struct dec *d, uint32_t ndef)
{
    vmrt_module_t *m = d->m;
    uint64_t total = (uint64_t)m->nglobal_imports + ndef;
    uint32_t i, k = 0;

    d->globals_done = true;
    if (total > VMRT_MAX_GLOBALS)
        return fail(d, VMRT_ELIMIT, here(d), "too many globals");
    m->globals = vmrt__calloc((size_t)total, sizeof(*m->globals));
    m->global_inits = vmrt__calloc(ndef, sizeof(*m->global_inits));
    if (m->globals == NULL || m->global_inits == NULL)
        return VMRT_ENOMEM;
    m->nglobals = (uint32_t)total;
    for (i = 0; i < m->nimports; i++)
        if (m->imports[i].kind == VMRT_EXTERN_GLOBAL)
            m->globals[k++] = m->imports[i].desc.global;
    return 0;
}

/* Size every index space whose section lies before position `order`. */
static int
spaces_before(struct dec *d, unsigned order)
{
    int rc;

    if (order > section_order[SEC_FUNCTION] && !d->funcs_done &&
        (rc = space_funcs(d, 0)) != 0)
        return rc;
    if (order > section_order[SEC_TABLE] && !d->tables_done &&
        (rc = space_tables(d, 0)) != 0)
        return rc;
    if (order > section_order[SEC_MEMORY] && !d->mems_done &&
        (rc = space_mems(d, 0)) != 0)
        return rc;
    if (order > section_order[SEC_GLOBAL] && !d->globals_done &&
        (rc = space_globals(d, 0)) != 0)
        return rc;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sections                                                            */
/* ------------------------------------------------------------------ */

static int
sec_custom(struct dec *d)
{
    const char *name;
    uint32_t len;
    int rc;

    if ((rc = rd_name(d, &name, &len)) != 0)
        return rc;
    /* The payload is not interpreted (no name section support yet). */
    d->rd.p = d->rd.end;
    (void)name;
    (void)len;
    return 0;
}

/*
 * A vector of value types; `first` receives where it starts.  The bytes
 * are checked here and copied by the caller.
 */
static int
rd_valtypes(struct dec *d, uint32_t *n, const uint8_t **first,
            uint32_t limit, const char *what)
{
    uint32_t i;
    uint8_t t;
    int rc;

    if ((rc = rd_count(d, n, limit, what)) != 0)
        return rc;
    *first = d->rd.p;
    for (i = 0; i < *n; i++)
        if ((rc = rd_valtype(d, &t)) != 0)
            return rc;
    return 0;
}

static int
sec_type(struct dec *d)
{
    vmrt_module_t *m = d->m;
    const uint8_t *params, *results;
    uint32_t n, i, np, nr;
    size_t off;
    int64_t form;
    int rc;

    if ((rc = rd_count(d, &n, VMRT_MAX_TYPES, "types")) != 0)
        return rc;
    if ((m->types = vmrt__calloc(n, sizeof(*m->types))) == NULL)
        return VMRT_ENOMEM;
    m->ntypes = n;
    for (i = 0; i < n; i++) {
        vmrt__functype_t *ft = &m->types[i];
        off = here(d);
        /* The form is a signed 7-bit LEB128 number (-0x20). */
        form = vmrt__rd_sleb(&d->rd, 7);
        if ((rc = rd_check(d)) != 0)
            return rc;
        if (form != -0x20)
            return fail(d, VMRT_EMALFORMED, off, "malformed function type");
        if ((rc = rd_valtypes(d, &np, &params, VMRT_MAX_PARAMS,
                              "parameters")) != 0 ||
            (rc = rd_valtypes(d, &nr, &results, VMRT_MAX_RESULTS,
                              "results")) != 0)
            return rc;
        if ((ft->types = vmrt__malloc((size_t)np + nr)) == NULL)
            return VMRT_ENOMEM;
        if (np > 0)
            memcpy(ft->types, params, np);
        if (nr > 0)
            memcpy(ft->types + np, results, nr);
        ft->nparams = np;
        ft->nresults = nr;
    }
    return 0;
}

static int
sec_import(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i;
    size_t off;
    uint8_t kind;
    int rc;

    /* module name, field name, kind and a one-byte descriptor at least */
    if ((rc = rd_count(d, &n, VMRT_MAX_IMPORTS, "imports")) != 0)
        return rc;
    if ((m->imports = vmrt__calloc(n, sizeof(*m->imports))) == NULL)
        return VMRT_ENOMEM;
    m->nimports = n;
    for (i = 0; i < n; i++) {
        vmrt__import_t *im = &m->imports[i];
        if ((rc = rd_name(d, &im->module, &im->module_len)) != 0 ||
            (rc = rd_name(d, &im->name, &im->name_len)) != 0)
            return rc;
        if ((rc = rd_byte(d, &kind)) != 0)
            return rc;
        im->kind = kind;
        off = here(d);
        switch (kind) {
        case VMRT_EXTERN_FUNC:
            if ((rc = rd_u32(d, &im->desc.type_idx)) != 0)
                return rc;
            if (im->desc.type_idx >= m->ntypes)
                invalid(d, off, "unknown type %" PRIu32, im->desc.type_idx);
            m->nfunc_imports++;
            break;
        case VMRT_EXTERN_TABLE:
            if ((rc = rd_reftype(d, &im->desc.table.elemtype)) != 0 ||
                (rc = rd_limits(d, &im->desc.table.limits)) != 0)
                return rc;
            check_table_limits(d, &im->desc.table.limits, off);
            m->ntable_imports++;
            break;
        case VMRT_EXTERN_MEMORY:
            if ((rc = rd_limits(d, &im->desc.mem)) != 0)
                return rc;
            check_mem_limits(d, &im->desc.mem, off);
            m->nmem_imports++;
            break;
        case VMRT_EXTERN_GLOBAL:
            if ((rc = rd_globaltype(d, &im->desc.global)) != 0)
                return rc;
            m->nglobal_imports++;
            break;
        default:
            return fail(d, VMRT_EMALFORMED, off - 1, "malformed import kind");
        }
    }
    if (m->ntable_imports > VMRT_MAX_TABLES)
        return fail(d, VMRT_ELIMIT, here(d), "too many tables");
    return 0;
}

static int
sec_function(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i, t;
    size_t off;
    int rc;

    if ((rc = rd_count(d, &n, VMRT_MAX_FUNCS, "functions")) != 0)
        return rc;
    if ((rc = space_funcs(d, n)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        off = here(d);
        if ((rc = rd_u32(d, &t)) != 0)
            return rc;
        if (t >= m->ntypes)
            invalid(d, off, "unknown type %" PRIu32, t);
        m->func_types[m->nfunc_imports + i] = t;
    }
    return 0;
}

static int
sec_table(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i;
    size_t off;
    int rc;

    if ((rc = rd_count(d, &n, VMRT_MAX_TABLES, "tables")) != 0)
        return rc;
    if ((rc = space_tables(d, n)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        vmrt__tabletype_t *tt = &m->tables[m->ntable_imports + i];
        off = here(d);
        if ((rc = rd_reftype(d, &tt->elemtype)) != 0 ||
            (rc = rd_limits(d, &tt->limits)) != 0)
            return rc;
        check_table_limits(d, &tt->limits, off);
    }
    return 0;
}

static int
sec_memory(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i;
    size_t off;
    int rc;

    if ((rc = rd_count(d, &n, UINT32_MAX, "memories")) != 0)
        return rc;
    if ((rc = space_mems(d, n)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        vmrt__limits_t *l = &m->mems[m->nmem_imports + i];
        off = here(d);
        if ((rc = rd_limits(d, l)) != 0)
            return rc;
        check_mem_limits(d, l, off);
    }
    return 0;
}

static int
sec_global(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i;
    int rc;

    if ((rc = rd_count(d, &n, VMRT_MAX_GLOBALS, "globals")) != 0)
        return rc;
    if ((rc = space_globals(d, n)) != 0)
        return rc;
    for (i = 0; i < n; i++) {
        vmrt__globaltype_t *g = &m->globals[m->nglobal_imports + i];
        if ((rc = rd_globaltype(d, g)) != 0 ||
            (rc = rd_constexpr(d, g->valtype, &m->global_inits[i])) != 0)
            return rc;
    }
    return 0;
}

static int
cmp_export(const void *a, const void *b)
{
    const vmrt__export_t *x = *(const vmrt__export_t *const *)a;
    const vmrt__export_t *y = *(const vmrt__export_t *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = n > 0 ? memcmp(x->name, y->name, n) : 0;

    if (c != 0)
        return c;
    if (x->name_len != y->name_len)
        return x->name_len < y->name_len ? -1 : 1;
    /* Equal names: order by position so the later one is reported. */
    return x->name < y->name ? -1 : x->name > y->name;
}

/* Duplicate export names, found by sorting (n may be 100,000). */
static int
check_export_names(struct dec *d)
{
    vmrt_module_t *m = d->m;
    const vmrt__export_t **v;
    uint32_t i;

    if (m->nexports < 2)
        return 0;
    if ((v = vmrt__calloc(m->nexports, sizeof(*v))) == NULL)
        return VMRT_ENOMEM;
    for (i = 0; i < m->nexports; i++)
        v[i] = &m->exports[i];
    qsort(v, m->nexports, sizeof(*v), cmp_export);
    for (i = 1; i < m->nexports; i++) {
        if (v[i]->name_len == v[i - 1]->name_len &&
            memcmp(v[i]->name, v[i - 1]->name, v[i]->name_len) == 0) {
            invalid(d, (size_t)((const uint8_t *)v[i]->name - m->bytes),
                    "duplicate export name");
            break;
        }
    }
    vmrt__free(v);
    return 0;
}

static int
sec_export(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i, space;
    size_t off;
    int rc;
    static const char *const what[] = {
        "function", "table", "memory", "global"
    };

    if ((rc = rd_count(d, &n, VMRT_MAX_EXPORTS, "exports")) != 0)
        return rc;
    if ((m->exports = vmrt__calloc(n, sizeof(*m->exports))) == NULL)
        return VMRT_ENOMEM;
    m->nexports = n;
    for (i = 0; i < n; i++) {
        vmrt__export_t *ex = &m->exports[i];
        if ((rc = rd_name(d, &ex->name, &ex->name_len)) != 0)
            return rc;
        off = here(d);
        if ((rc = rd_byte(d, &ex->kind)) != 0)
            return rc;
        if (ex->kind > VMRT_EXTERN_GLOBAL)
            return fail(d, VMRT_EMALFORMED, off, "malformed export kind");
        off = here(d);
        if ((rc = rd_u32(d, &ex->index)) != 0)
            return rc;
        switch (ex->kind) {
        case VMRT_EXTERN_FUNC:
            space = m->nfuncs;
            break;
        case VMRT_EXTERN_TABLE:
            space = m->ntables;
            break;
        case VMRT_EXTERN_MEMORY:
            space = m->nmems;
            break;
        default:
            space = m->nglobals;
            break;
        }
        if (ex->index >= space)
            invalid(d, off, "unknown %s %" PRIu32, what[ex->kind], ex->index);
        else if (ex->kind == VMRT_EXTERN_FUNC)
            m->func_declared[ex->index] = 1;
    }
    return check_export_names(d);
}

static int
sec_start(struct dec *d)
{
    vmrt_module_t *m = d->m;
    size_t off = here(d);
    uint32_t t;
    int rc;

    if ((rc = rd_u32(d, &m->start)) != 0)
        return rc;
    m->has_start = true;
    if (m->start >= m->nfuncs) {
        invalid(d, off, "unknown function %" PRIu32, m->start);
        return 0;
    }
    t = m->func_types[m->start];
    if (t < m->ntypes && (m->types[t].nparams != 0 ||
                          m->types[t].nresults != 0))
        invalid(d, off, "start function");
    return 0;
}

/*
 * One element segment.  The flags select among the eight 2.0 encodings:
 * bit 0 passive or declarative, bit 1 explicit table index (active) or
 * declarative (otherwise), bit 2 expressions instead of function indices.
 */
static int
rd_elem(struct dec *d, vmrt__elem_t *e)
{
    vmrt_module_t *m = d->m;
    uint32_t flags, n, i, idx;
    size_t off = here(d), toff = off;
    uint8_t kind;
    int rc;

    if ((rc = rd_u32(d, &flags)) != 0)
        return rc;
    if (flags > 7)
        return fail(d, VMRT_EMALFORMED, off,
                    "malformed elements segment kind");
    e->reftype = VMRT_FUNCREF;
    if ((flags & 1) == 0) {
        e->mode = VMRT__SEG_ACTIVE;
        e->table_idx = 0;
        toff = here(d);
        if ((flags & 2) != 0 && (rc = rd_u32(d, &e->table_idx)) != 0)
            return rc;
        if ((rc = rd_constexpr(d, VMRT_I32, &e->offset)) != 0)
            return rc;
    } else {
        e->mode = (flags & 2) != 0 ? VMRT__SEG_DECLARATIVE
                                   : VMRT__SEG_PASSIVE;
    }
    /* Flags 0 and 4 imply funcref; the others say it explicitly. */
    if (flags != 0 && flags != 4) {
        if ((flags & 4) != 0) {
            if ((rc = rd_reftype(d, &e->reftype)) != 0)
                return rc;
        } else {
            off = here(d);
            if ((rc = rd_byte(d, &kind)) != 0)
                return rc;
            if (kind != 0x00)
                return fail(d, VMRT_EMALFORMED, off,
                            "malformed elements segment kind");
        }
    }
    if (e->mode == VMRT__SEG_ACTIVE) {
        if (e->table_idx >= m->ntables)
            invalid(d, toff, "unknown table %" PRIu32, e->table_idx);
        else if (m->tables[e->table_idx].elemtype != e->reftype)
            invalid(d, toff, "type mismatch");
    }
    if ((rc = rd_count(d, &n, VMRT_MAX_TABLE_SIZE,
                       "segment elements")) != 0)
        return rc;
    if ((e->init = vmrt__calloc(n, sizeof(*e->init))) == NULL)
        return VMRT_ENOMEM;
    e->ninit = n;
    for (i = 0; i < n; i++) {
        if ((flags & 4) != 0) {
            if ((rc = rd_constexpr(d, e->reftype, &e->init[i])) != 0)
                return rc;
            continue;
        }
        off = here(d);
        if ((rc = rd_u32(d, &idx)) != 0)
            return rc;
        e->init[i].op = OP_REF_FUNC;
        e->init[i].type = VMRT_FUNCREF;
        e->init[i].val = idx;
        if (idx >= m->nfuncs)
            invalid(d, off, "unknown function %" PRIu32, idx);
        else
            m->func_declared[idx] = 1;
    }
    return 0;
}

static int
sec_element(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i;
    int rc;

    if ((rc = rd_count(d, &n, VMRT_MAX_SEGMENTS, "element segments")) != 0)
        return rc;
    if ((m->elems = vmrt__calloc(n, sizeof(*m->elems))) == NULL)
        return VMRT_ENOMEM;
    m->nelems = n;
    for (i = 0; i < n; i++)
        if ((rc = rd_elem(d, &m->elems[i])) != 0)
            return rc;
    return 0;
}

static int
sec_datacount(struct dec *d)
{
    int rc;

    if ((rc = rd_u32(d, &d->m->datacount)) != 0)
        return rc;
    d->m->has_datacount = true;
    return 0;
}

static int
sec_code(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i, size;
    size_t off = here(d);
    int rc;

    d->has_code = true;
    if ((rc = rd_count(d, &n, VMRT_MAX_FUNCS, "functions")) != 0)
        return rc;
    if (n != m->nfuncs - m->nfunc_imports)
        return fail(d, VMRT_EMALFORMED, off,
                    "function and code section have inconsistent lengths");
    if ((m->bodies = vmrt__calloc(n, sizeof(*m->bodies))) == NULL)
        return VMRT_ENOMEM;
    for (i = 0; i < n; i++) {
        off = here(d);
        if ((rc = rd_u32(d, &size)) != 0)
            return rc;
        if ((rc = need(d, size, "length out of bounds")) != 0)
            return rc;
        if (size > VMRT_MAX_FUNC_SIZE)
            return fail(d, VMRT_ELIMIT, off, "function body too large");
        m->bodies[i].body_off = (uint32_t)here(d);
        m->bodies[i].body_len = size;
        d->rd.p += size;
    }
    return 0;
}

static int
rd_data(struct dec *d, vmrt__data_t *s)
{
    vmrt_module_t *m = d->m;
    uint32_t flags, len;
    size_t off = here(d), moff;
    int rc;

    if ((rc = rd_u32(d, &flags)) != 0)
        return rc;
    if (flags > 2)
        return fail(d, VMRT_EMALFORMED, off, "malformed data segment kind");
    s->mode = flags == 1 ? VMRT__SEG_PASSIVE : VMRT__SEG_ACTIVE;
    moff = here(d);
    if (flags == 2 && (rc = rd_u32(d, &s->mem_idx)) != 0)
        return rc;
    if (s->mode == VMRT__SEG_ACTIVE) {
        if (s->mem_idx >= m->nmems)
            invalid(d, moff, "unknown memory %" PRIu32, s->mem_idx);
        if ((rc = rd_constexpr(d, VMRT_I32, &s->offset)) != 0)
            return rc;
    }
    if ((rc = rd_u32(d, &len)) != 0)
        return rc;
    if ((rc = need(d, len, "unexpected end of section or function")) != 0)
        return rc;
    s->data_off = (uint32_t)here(d);
    s->data_len = len;
    d->rd.p += len;
    return 0;
}

static int
sec_data(struct dec *d)
{
    vmrt_module_t *m = d->m;
    uint32_t n, i;
    size_t off = here(d);
    int rc;

    d->has_data = true;
    if ((rc = rd_count(d, &n, VMRT_MAX_SEGMENTS, "data segments")) != 0)
        return rc;
    if (m->has_datacount && n != m->datacount)
        return fail(d, VMRT_EMALFORMED, off,
                    "data count and data section have inconsistent lengths");
    if ((m->datas = vmrt__calloc(n, sizeof(*m->datas))) == NULL)
        return VMRT_ENOMEM;
    m->ndatas = n;
    for (i = 0; i < n; i++)
        if ((rc = rd_data(d, &m->datas[i])) != 0)
            return rc;
    return 0;
}

static int (*const section_fn[13])(struct dec *) = {
    sec_custom, sec_type, sec_import, sec_function, sec_table, sec_memory,
    sec_global, sec_export, sec_start, sec_element, sec_code, sec_data,
    sec_datacount
};

/*
 * decode_module: magic, version, then the sections in order.
 * Return: 0 (possibly with a recorded validation error); any VMRT_E*.
 */
static int
decode_module(struct dec *d)
{
    vmrt_module_t *m = d->m;
    static const uint8_t magic[4] = { 0x00, 0x61, 0x73, 0x6d };
    static const uint8_t version[4] = { 0x01, 0x00, 0x00, 0x00 };
    vmrt__reader_t top;
    unsigned last = 0, order;
    size_t off;
    uint32_t size;
    uint8_t id;
    int rc;

    if (m->len < 4)
        return fail(d, VMRT_EMALFORMED, m->len, "unexpected end");
    if (memcmp(m->bytes, magic, 4) != 0)
        return fail(d, VMRT_EMALFORMED, 0, "magic header not detected");
    if (m->len < 8)
        return fail(d, VMRT_EMALFORMED, m->len, "unexpected end");
    if (memcmp(m->bytes + 4, version, 4) != 0)
        return fail(d, VMRT_EMALFORMED, 4, "unknown binary version");

    vmrt__rd_init(&top, m->bytes, m->bytes + 8, m->bytes + m->len);
    while (vmrt__rd_left(&top) > 0) {
        off = vmrt__rd_off(&top);
        id = vmrt__rd_u8(&top);
        if (id > SEC_DATACOUNT)
            return fail(d, VMRT_EMALFORMED, off, "malformed section id");
        size = vmrt__rd_u32(&top);
        if (top.err != NULL)
            return fail(d, VMRT_EMALFORMED, top.err_off, "%s", top.err);
        if (size > vmrt__rd_left(&top))
            return fail(d, VMRT_EMALFORMED, off + 1, "length out of bounds");
        if (id != SEC_CUSTOM) {
            order = section_order[id];
            if (order <= last)
                return fail(d, VMRT_EMALFORMED, off,
                            "unexpected content after last section");
            last = order;
            if ((rc = spaces_before(d, order)) != 0)
                return rc;
        }
        /*
         * Like the reference interpreter, read a section on into the
         * rest of the module and compare positions afterwards: a section
         * that is too short then fails as "section size mismatch", or
         * with whatever its overrun hits first.  Custom sections stay
         * within their size, which delimits their payload.
         */
        d->in_custom = id == SEC_CUSTOM;
        vmrt__rd_init(&d->rd, m->bytes, top.p,
                      d->in_custom ? top.p + size : top.end);
        if ((rc = section_fn[id](d)) != 0)
            return rc;
        if (d->rd.p != top.p + size)
            return fail(d, VMRT_EMALFORMED, off, "section size mismatch");
        top.p += size;
    }
    if ((rc = spaces_before(d, ORDER_END)) != 0)
        return rc;
    if (!d->has_code && m->nfuncs != m->nfunc_imports)
        return fail(d, VMRT_EMALFORMED, m->len,
                    "function and code section have inconsistent lengths");
    if (m->has_datacount && !d->has_data && m->datacount != 0)
        return fail(d, VMRT_EMALFORMED, m->len,
                    "data count and data section have inconsistent lengths");
    return 0;
}

int
vmrt__module_decode(vmrt_module_t *m, char *err, size_t errlen)
{
    struct dec d;
    int rc;

    memset(&d, 0, sizeof(d));
    d.m = m;
    d.err = err;
    d.errlen = errlen;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (m == NULL || (m->bytes == NULL && m->len > 0))
        return VMRT_EINVAL;
    if (m->len > UINT32_MAX)
        return fail(&d, VMRT_ELIMIT, 0, "module larger than 4 GiB");

    rc = decode_module(&d);
    if (rc == VMRT_ENOMEM)
        fail(&d, rc, here(&d), "out of memory");
    if ((rc == 0 && d.inv) || rc == VMRT_EINVALID) {
        rc = VMRT_EINVALID;
        if (err != NULL && errlen > 0)
            snprintf(err, errlen, "%s", d.inv_msg);
    }
    return rc;
}

void
vmrt__module_release_decoded(vmrt_module_t *m)
{
    uint32_t i;

    if (m == NULL)
        return;
    if (m->types != NULL)
        for (i = 0; i < m->ntypes; i++)
            vmrt__free(m->types[i].types);
    vmrt__free(m->types);
    vmrt__free(m->imports);
    vmrt__free(m->func_types);
    vmrt__free(m->tables);
    vmrt__free(m->mems);
    vmrt__free(m->globals);
    vmrt__free(m->global_inits);
    vmrt__free(m->exports);
    if (m->elems != NULL)
        for (i = 0; i < m->nelems; i++)
            vmrt__free(m->elems[i].init);
    vmrt__free(m->elems);
    vmrt__free(m->datas);
    vmrt__free(m->func_declared);
    vmrt__free(m->bodies);

    m->ntypes = 0;
    m->types = NULL;
    m->nimports = 0;
    m->imports = NULL;
    m->nfuncs = m->nfunc_imports = 0;
    m->func_types = NULL;
    m->ntables = m->ntable_imports = 0;
    m->tables = NULL;
    m->nmems = m->nmem_imports = 0;
    m->mems = NULL;
    m->nglobals = m->nglobal_imports = 0;
    m->globals = NULL;
    m->global_inits = NULL;
    m->nexports = 0;
    m->exports = NULL;
    m->has_start = false;
    m->start = 0;
    m->nelems = 0;
    m->elems = NULL;
    m->ndatas = 0;
    m->datas = NULL;
    m->has_datacount = false;
    m->datacount = 0;
    m->func_declared = NULL;
    m->bodies = NULL;
}
