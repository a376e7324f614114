/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Linking and instantiation: the linker (host functions and registered
 * instances), import resolution and matching, allocation of memories,
 * tables and globals, constant expressions, element and data segments, the
 * start function, and the small accessors of vmrt.h's "Instances" section.
 *
 * Execution (call/run/results/trap/reset) lives in interp.c.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "instance.h"

#if defined(__GNUC__) || defined(__clang__)
#define VMRT__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VMRT__PRINTF(f, a)
#endif

/* Defaults for zero fields of vmrt_limits_t. */
#define DEFAULT_VALUE_STACK_SLOTS 65536u
#define DEFAULT_MAX_CALL_DEPTH 10000u

/* Longest import name quoted in an error message. */
#define ERR_NAME_MAX 48

/*
 * A retained instance, with the counts needed to free it: its module may
 * be gone by the time the linker is freed.
 */
struct retained {
    vmrt_instance_t *inst;
    uint32_t ntables, nglobals, nelems;
};

/*
 * A linker entry: one importable (module, name).  Names are owned,
 * counted byte strings because wasm names may contain NUL.
 */
typedef struct {
    char *module;
    uint32_t module_len;
    char *name;
    uint32_t name_len;
    uint8_t kind;     /* vmrt_extern_kind_t */
    bool owns_func;   /* func is a host function owned by the linker */
    union {
        vmrt__funcinst_t *func;
        vmrt__table_t *table;
        vmrt__memory_t *mem;
        vmrt__global_t *global;
    } u;
} lk_entry_t;

struct vmrt_linker {
    lk_entry_t *entries;
    uint32_t n, cap;

    /*
     * Instances whose instantiation failed after they had stored references
     * to their own functions in an imported (shared) table.  Wasm 2.0 keeps
     * those writes, so the functions must stay callable: the linker keeps
     * such instances until vmrt_linker_free().
     */
    struct retained *retained;
    uint32_t nretained, cap_retained;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    VMRT__PRINTF(3, 4);
/* Free an instance without reading its module (see struct retained). */
static void instance_release(vmrt_instance_t *inst, uint32_t ntables,
                             uint32_t nglobals, uint32_t nelems);

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * quote_name: copy up to ERR_NAME_MAX bytes of a wasm name into `buf`
 * (ERR_NAME_MAX + 4 bytes) for an error message, replacing bytes that are
 * not printable ASCII so that hostile names cannot garble a log line.
 */
static const char *
quote_name(char *buf, const char *s, uint32_t len)
{
    uint32_t i, n;

    n = len > ERR_NAME_MAX ? ERR_NAME_MAX : len;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        buf[i] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (n < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

static const char *
kind_str(uint8_t kind)
{
    switch (kind) {
    case VMRT_EXTERN_FUNC:
        return "func";
    case VMRT_EXTERN_TABLE:
        return "table";
    case VMRT_EXTERN_MEMORY:
        return "memory";
    case VMRT_EXTERN_GLOBAL:
        return "global";
    default:
        return "?";
    }
}

/* -------------------------------------------------------------------- */
/* Shared objects                                                       */
/* -------------------------------------------------------------------- */

static void
memory_unref(vmrt__memory_t *mem)
{
    if (mem == NULL || --mem->refs > 0)
        return;
    vmrt__free(mem->data);
    vmrt__free(mem);
}

static void
table_unref(vmrt__table_t *tab)
{
    if (tab == NULL || --tab->refs > 0)
        return;
    vmrt__free(tab->elems);
    vmrt__free(tab);
}

static void
global_unref(vmrt__global_t *g)
{
    if (g == NULL || --g->refs > 0)
        return;
    vmrt__free(g);
}

bool
vmrt__functype_eq(const vmrt__functype_t *a, const vmrt__functype_t *b)
{
    if (a == b)
        return true;
    if (a == NULL || b == NULL)
        return false;
    if (a->nparams != b->nparams || a->nresults != b->nresults)
        return false;
    if (a->nparams + (size_t)a->nresults == 0)
        return true;
    return memcmp(a->types, b->types,
                  a->nparams + (size_t)a->nresults) == 0;
}

int64_t
vmrt__memory_grow(vmrt__memory_t *mem, uint32_t delta)
{
    uint32_t old, npages;
    uint64_t nsize;
    uint8_t *p;

    if (mem == NULL)
        return -1;
    old = mem->pages;
    if (delta == 0)
        return old;
    if (old > mem->max_pages || delta > mem->max_pages - old)
        return -1;
    npages = old + delta;
    nsize = (uint64_t)npages * VMRT_PAGE_SIZE;
    /* On a 32-bit host 65536 pages do not fit in size_t. */
    if (nsize > SIZE_MAX)
        return -1;
    if ((p = vmrt__realloc(mem->data, (size_t)nsize)) == NULL)
        return -1;
    memset(p + mem->size, 0, (size_t)(nsize - mem->size));
    mem->data = p;
    mem->size = nsize;
    mem->pages = npages;
    return old;
}

int64_t
vmrt__table_grow(vmrt__table_t *tab, uint32_t delta, uint64_t init)
{
    uint32_t old, nsize, i;
    uint64_t *p;

    if (tab == NULL)
        return -1;
    old = tab->size;
    if (delta == 0)
        return old;
    if (old > tab->max || delta > tab->max - old)
        return -1;
    nsize = old + delta;
    if (nsize > VMRT_MAX_TABLE_SIZE ||
        (uint64_t)nsize * sizeof(uint64_t) > SIZE_MAX)
        return -1;
    p = vmrt__realloc(tab->elems, (size_t)nsize * sizeof(uint64_t));
    if (p == NULL)
        return -1;
    for (i = old; i < nsize; i++)
        p[i] = init;
    tab->elems = p;
    tab->size = nsize;
    return old;
}

/*
 * memory_new: a memory of `lim` with the embedder's page cap.
 * Return: 0; VMRT_ELIMIT if the initial size exceeds the cap;
 * VMRT_ENOMEM.
 */
static int
memory_new(const vmrt__limits_t *lim, uint32_t cap, vmrt__memory_t **out)
{
    vmrt__memory_t *mem;
    uint32_t max;
    uint64_t size;

    max = cap;
    if (lim->has_max && lim->max < max)
        max = lim->max;
    if (max > VMRT_MAX_PAGES)
        max = VMRT_MAX_PAGES;
    if (lim->min > max)
        return VMRT_ELIMIT;
    size = (uint64_t)lim->min * VMRT_PAGE_SIZE;
    if (size > SIZE_MAX)
        return VMRT_ELIMIT;
    if ((mem = vmrt__calloc(1, sizeof(*mem))) == NULL)
        return VMRT_ENOMEM;
    if (size > 0 && (mem->data = vmrt__calloc(1, (size_t)size)) == NULL) {
        vmrt__free(mem);
        return VMRT_ENOMEM;
    }
    mem->size = size;
    mem->pages = lim->min;
    mem->max_pages = max;
    mem->has_max = lim->has_max;
    mem->declared_max = lim->has_max ? lim->max : 0;
    mem->refs = 1;
    *out = mem;
    return 0;
}

/*
 * table_new: a table of `tt`, every element null.
 * Return: 0; VMRT_ELIMIT if the initial size exceeds VMRT_MAX_TABLE_SIZE;
 * VMRT_ENOMEM.
 */
static int
table_new(const vmrt__tabletype_t *tt, vmrt__table_t **out)
{
    vmrt__table_t *tab;
    uint32_t max;

    max = VMRT_MAX_TABLE_SIZE;
    if (tt->limits.has_max && tt->limits.max < max)
        max = tt->limits.max;
    if (tt->limits.min > max)
        return VMRT_ELIMIT;
    if ((uint64_t)tt->limits.min * sizeof(uint64_t) > SIZE_MAX)
        return VMRT_ELIMIT;
    if ((tab = vmrt__calloc(1, sizeof(*tab))) == NULL)
        return VMRT_ENOMEM;
    if (tt->limits.min > 0 &&
        (tab->elems = vmrt__calloc(tt->limits.min, sizeof(uint64_t))) ==
            NULL) {
        vmrt__free(tab);
        return VMRT_ENOMEM;
    }
    tab->size = tt->limits.min;
    tab->max = max;
    tab->has_max = tt->limits.has_max;
    tab->declared_max = tt->limits.has_max ? tt->limits.max : 0;
    tab->elemtype = tt->elemtype;
    tab->refs = 1;
    *out = tab;
    return 0;
}

/* -------------------------------------------------------------------- */
/* Linker                                                               */
/* -------------------------------------------------------------------- */

vmrt_linker_t *
vmrt_linker_create(void)
{
    return vmrt__calloc(1, sizeof(vmrt_linker_t));
}

static void
entry_release(lk_entry_t *e)
{
    vmrt__free(e->module);
    vmrt__free(e->name);
    switch (e->kind) {
    case VMRT_EXTERN_FUNC:
        if (e->owns_func && e->u.func != NULL) {
            vmrt__free(e->u.func->host_types);
            vmrt__free(e->u.func);
        }
        break;
    case VMRT_EXTERN_TABLE:
        table_unref(e->u.table);
        break;
    case VMRT_EXTERN_MEMORY:
        memory_unref(e->u.mem);
        break;
    case VMRT_EXTERN_GLOBAL:
        global_unref(e->u.global);
        break;
    default:
        break;
    }
}

void
vmrt_linker_free(vmrt_linker_t *lk)
{
    uint32_t i;

    if (lk == NULL)
        return;
    for (i = 0; i < lk->nretained; i++) {
        struct retained *r = &lk->retained[i];
        instance_release(r->inst, r->ntables, r->nglobals, r->nelems);
    }
    vmrt__free(lk->retained);
    for (i = 0; i < lk->n; i++)
        entry_release(&lk->entries[i]);
    vmrt__free(lk->entries);
    vmrt__free(lk);
}

/*
 * grow_array: make room for one more element of `size` bytes in `*arr`
 * holding `n` of `*cap`.  Return: 0 or VMRT_ENOMEM (array unchanged).
 */
static int
grow_array(void **arr, uint32_t n, uint32_t *cap, size_t size)
{
    uint32_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    if (*cap >= UINT32_MAX / 2)
        return VMRT_ENOMEM;
    ncap = *cap == 0 ? 8 : *cap * 2;
    if ((uint64_t)ncap * size > SIZE_MAX)
        return VMRT_ENOMEM;
    if ((p = vmrt__realloc(*arr, (size_t)ncap * size)) == NULL)
        return VMRT_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static char *
dup_bytes(const char *s, size_t len)
{
    char *p;

    if ((p = vmrt__malloc(len + 1)) == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/*
 * entry_add: append an entry named (module, name) of `kind`; the caller
 * fills its payload.  Return: the entry, or NULL when out of memory.
 */
static lk_entry_t *
entry_add(vmrt_linker_t *lk, const char *module, size_t module_len,
          const char *name, size_t name_len, uint8_t kind)
{
    lk_entry_t *e;
    void *arr = lk->entries;

    if (module_len > UINT32_MAX || name_len > UINT32_MAX)
        return NULL;
    if (grow_array(&arr, lk->n, &lk->cap, sizeof(lk_entry_t)) != 0)
        return NULL;
    lk->entries = arr;
    e = &lk->entries[lk->n];
    memset(e, 0, sizeof(*e));
    if ((e->module = dup_bytes(module, module_len)) == NULL)
        goto fail;
    if ((e->name = dup_bytes(name, name_len)) == NULL)
        goto fail;
    e->module_len = (uint32_t)module_len;
    e->name_len = (uint32_t)name_len;
    e->kind = kind;
    lk->n++;
    return e;
fail:
    vmrt__free(e->module);
    vmrt__free(e->name);
    return NULL;
}

/*
 * sig_type: the value type of signature letter `c`, or 0 if `c` is not
 * one of i I f F r e.
 */
static uint8_t
sig_type(char c)
{
    switch (c) {
    case 'i':
        return VMRT_I32;
    case 'I':
        return VMRT_I64;
    case 'f':
        return VMRT_F32;
    case 'F':
        return VMRT_F64;
    case 'r':
        return VMRT_FUNCREF;
    case 'e':
        return VMRT_EXTERNREF;
    default:
        return 0;
    }
}

/*
 * sig_parse: parse "(params)results" into a host function type whose
 * storage (functype header followed by the type bytes) is one allocation
 * returned in *storage.  Return: 0, VMRT_EINVAL or VMRT_ENOMEM.
 */
static int
sig_parse(const char *sig, uint8_t **storage)
{
    const char *close;
    size_t np, nr, i;
    vmrt__functype_t *ft;
    uint8_t *p;

    if (sig == NULL || sig[0] != '(' ||
        (close = strchr(sig + 1, ')')) == NULL)
        return VMRT_EINVAL;
    np = (size_t)(close - (sig + 1));
    nr = strlen(close + 1);
    if (np > VMRT_MAX_PARAMS || nr > VMRT_MAX_RESULTS)
        return VMRT_EINVAL;
    for (i = 0; i < np; i++)
        if (sig_type(sig[1 + i]) == 0)
            return VMRT_EINVAL;
    for (i = 0; i < nr; i++)
        if (sig_type(close[1 + i]) == 0)
            return VMRT_EINVAL;
    /* malloc's alignment suits the functype header at the start. */
    if ((p = vmrt__malloc(sizeof(*ft) + np + nr)) == NULL)
        return VMRT_ENOMEM;
    ft = (vmrt__functype_t *)(void *)p;
    ft->nparams = (uint32_t)np;
    ft->nresults = (uint32_t)nr;
    ft->types = p + sizeof(*ft);
    for (i = 0; i < np; i++)
        ft->types[i] = sig_type(sig[1 + i]);
    for (i = 0; i < nr; i++)
        ft->types[np + i] = sig_type(close[1 + i]);
    *storage = p;
    return 0;
}

int
vmrt_linker_define_func(vmrt_linker_t *lk, const char *module,
                        const char *name, const char *sig,
                        vmrt_host_fn_t fn, void *ctx)
{
    vmrt__funcinst_t *fi = NULL;
    uint8_t *storage = NULL;
    lk_entry_t *e;
    int rc;

    if (lk == NULL || module == NULL || name == NULL || fn == NULL)
        return VMRT_EINVAL;
    if ((rc = sig_parse(sig, &storage)) != 0)
        return rc;
    if ((fi = vmrt__calloc(1, sizeof(*fi))) == NULL) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    fi->inst = NULL;
    fi->index = 0;
    fi->type = (const vmrt__functype_t *)(void *)storage;
    fi->host = fn;
    fi->host_ctx = ctx;
    fi->host_types = storage;
    e = entry_add(lk, module, strlen(module), name, strlen(name),
                  VMRT_EXTERN_FUNC);
    if (e == NULL) {
        rc = VMRT_ENOMEM;
        goto fail;
    }
    e->owns_func = true;
    e->u.func = fi;
    return 0;
fail:
    vmrt__free(fi);
    vmrt__free(storage);
    return rc;
}

int
vmrt_linker_define_instance(vmrt_linker_t *lk, const char *module,
                            vmrt_instance_t *inst)
{
    const vmrt_module_t *m;
    const vmrt__export_t *ex;
    lk_entry_t *e;
    uint32_t i;

    if (lk == NULL || module == NULL || inst == NULL)
        return VMRT_EINVAL;
    m = inst->mod;
    /* Check every index first so that a failure adds nothing bad. */
    for (i = 0; i < m->nexports; i++) {
        ex = &m->exports[i];
        if ((ex->kind == VMRT_EXTERN_FUNC && ex->index >= m->nfuncs) ||
            (ex->kind == VMRT_EXTERN_TABLE && ex->index >= m->ntables) ||
            (ex->kind == VMRT_EXTERN_MEMORY &&
             (ex->index != 0 || inst->mem == NULL)) ||
            (ex->kind == VMRT_EXTERN_GLOBAL && ex->index >= m->nglobals) ||
            ex->kind > VMRT_EXTERN_GLOBAL)
            return VMRT_EINVAL;
    }
    for (i = 0; i < m->nexports; i++) {
        ex = &m->exports[i];
        e = entry_add(lk, module, strlen(module), ex->name, ex->name_len,
                      ex->kind);
        if (e == NULL)
            return VMRT_ENOMEM;
        switch (ex->kind) {
        case VMRT_EXTERN_FUNC:
            /* funcs[i], not own_funcs: a re-exported import keeps its
             * identity for ref.func comparisons and call_indirect. */
            e->u.func = inst->funcs[ex->index];
            break;
        case VMRT_EXTERN_TABLE:
            e->u.table = inst->tables[ex->index];
            e->u.table->refs++;
            break;
        case VMRT_EXTERN_MEMORY:
            e->u.mem = inst->mem;
            e->u.mem->refs++;
            break;
        default:
            e->u.global = inst->globals[ex->index];
            e->u.global->refs++;
            break;
        }
    }
    return 0;
}

/* memcmp that tolerates NULL when there is nothing to compare. */
static bool
bytes_eq(const char *a, const char *b, size_t len)
{
    return len == 0 || memcmp(a, b, len) == 0;
}

/*
 * linker_find: the most recent entry named (module, name), so that a later
 * definition or registration shadows an earlier one.  NULL if none.
 */
static const lk_entry_t *
linker_find(const vmrt_linker_t *lk, const char *module, uint32_t module_len,
            const char *name, uint32_t name_len)
{
    uint32_t i;

    if (lk == NULL)
        return NULL;
    for (i = lk->n; i-- > 0;) {
        const lk_entry_t *e = &lk->entries[i];
        if (e->module_len == module_len && e->name_len == name_len &&
            bytes_eq(e->module, module, module_len) &&
            bytes_eq(e->name, name, name_len))
            return e;
    }
    return NULL;
}

/* -------------------------------------------------------------------- */
/* Instantiation                                                        */
/* -------------------------------------------------------------------- */

/*
 * limits_match: the spec's limits subtyping, actual <= imported:
 * the actual minimum covers the import's, and if the import states a
 * maximum the actual object has one no larger.
 */
static bool
limits_match(uint32_t act_min, bool act_has_max, uint32_t act_max,
             const vmrt__limits_t *imp)
{
    if (act_min < imp->min)
        return false;
    if (!imp->has_max)
        return true;
    return act_has_max && act_max <= imp->max;
}

/*
 * resolve_imports: fill inst->funcs / tables / mem / globals for every
 * import.  Host functions defined on the linker are copied into
 * own_funcs[ndefined + h] so the instance does not depend on the linker
 * after creation.  Return: 0 or VMRT_EUNLINKABLE with err set.
 */
static int
resolve_imports(vmrt_instance_t *inst, const vmrt_linker_t *lk, char *err,
                size_t errlen)
{
    vmrt_module_t *m = inst->mod;
    uint32_t i, nf = 0, nt = 0, ng = 0, nm = 0, nhost = 0;
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    char mb[ERR_NAME_MAX + 4], nb[ERR_NAME_MAX + 4];
    const char *why;

    for (i = 0; i < m->nimports; i++) {
        const vmrt__import_t *im = &m->imports[i];
        const lk_entry_t *e;

        e = linker_find(lk, im->module, im->module_len, im->name,
                        im->name_len);
        if (e == NULL) {
            why = "unknown import";
            goto fail;
        }
        why = "incompatible import type";
        if (e->kind != im->kind)
            goto fail;
        switch (im->kind) {
        case VMRT_EXTERN_FUNC:
            if (nf >= m->nfunc_imports || im->desc.type_idx >= m->ntypes)
                goto fail;
            if (!vmrt__functype_eq(&m->types[im->desc.type_idx],
                                   e->u.func->type))
                goto fail;
            if (e->owns_func) {
                vmrt__funcinst_t *fi = &inst->own_funcs[ndef + nhost++];
                fi->inst = NULL;
                fi->index = nf;
                /* Structurally equal to the host's: the module outlives
                 * the instance, the linker may not. */
                fi->type = &m->types[im->desc.type_idx];
                fi->host = e->u.func->host;
                fi->host_ctx = e->u.func->host_ctx;
                fi->host_types = NULL;
                inst->funcs[nf++] = fi;
            } else {
                inst->funcs[nf++] = e->u.func;
            }
            break;
        case VMRT_EXTERN_TABLE:
            if (nt >= m->ntable_imports ||
                e->u.table->elemtype != im->desc.table.elemtype ||
                !limits_match(e->u.table->size, e->u.table->has_max,
                              e->u.table->declared_max,
                              &im->desc.table.limits))
                goto fail;
            inst->tables[nt] = e->u.table;
            inst->tables[nt++]->refs++;
            break;
        case VMRT_EXTERN_MEMORY:
            if (nm >= m->nmem_imports || nm >= 1 ||
                !limits_match(e->u.mem->pages, e->u.mem->has_max,
                              e->u.mem->declared_max, &im->desc.mem))
                goto fail;
            inst->mem = e->u.mem;
            inst->mem->refs++;
            nm++;
            break;
        case VMRT_EXTERN_GLOBAL:
            if (ng >= m->nglobal_imports ||
                e->u.global->type != im->desc.global.valtype ||
                e->u.global->mutable_ != im->desc.global.mutable_)
                goto fail;
            inst->globals[ng] = e->u.global;
            inst->globals[ng++]->refs++;
            break;
        default:
            goto fail;
        }
    }
    return 0;
fail:
    {
        const vmrt__import_t *im = &m->imports[i];
        set_err(err, errlen, "%s: import %u \"%s\".\"%s\" (%s)", why,
                (unsigned)i, quote_name(mb, im->module, im->module_len),
                quote_name(nb, im->name, im->name_len), kind_str(im->kind));
    }
    return VMRT_EUNLINKABLE;
}

/*
 * eval_const: evaluate a validated constant expression against the parts
 * of `inst` built so far (functions and globals below `nglobals_ready`).
 * i32 and f32 results are zero-extended, as in frame slots.
 * Return: 0, or VMRT_EINVALID for an expression the decoder should have
 * rejected (never trusted blindly).
 */
static int
eval_const(const vmrt_instance_t *inst, const vmrt__constexpr_t *ce,
           uint32_t nglobals_ready, uint64_t *out)
{
    const vmrt_module_t *m = inst->mod;

    switch (ce->op) {
    case 0x41: /* i32.const */
    case 0x43: /* f32.const */
        *out = (uint32_t)ce->val;
        return 0;
    case 0x42: /* i64.const */
    case 0x44: /* f64.const */
        *out = ce->val;
        return 0;
    case 0x23: /* global.get */
        if (ce->val >= nglobals_ready || ce->val >= m->nglobals ||
            inst->globals[ce->val] == NULL)
            return VMRT_EINVALID;
        *out = inst->globals[ce->val]->val;
        return 0;
    case 0xd0: /* ref.null */
        *out = 0;
        return 0;
    case 0xd2: /* ref.func */
        if (ce->val >= m->nfuncs || inst->funcs[ce->val] == NULL)
            return VMRT_EINVALID;
        *out = (uint64_t)(uintptr_t)inst->funcs[ce->val];
        return 0;
    default:
        return VMRT_EINVALID;
    }
}

/*
 * alloc_parts: allocate the index-space arrays, this module's functions,
 * memories, tables and globals, and evaluate element segments.
 * Return: 0; VMRT_ELIMIT; VMRT_ENOMEM; VMRT_EINVALID.  err is set.
 */
static int
alloc_parts(vmrt_instance_t *inst, char *err, size_t errlen)
{
    vmrt_module_t *m = inst->mod;
    uint32_t i, ndef;
    int rc;

    ndef = m->nfuncs - m->nfunc_imports;
    for (i = 0; i < ndef; i++) {
        uint32_t fidx = m->nfunc_imports + i;
        vmrt__funcinst_t *fi = &inst->own_funcs[i];
        if (m->func_types[fidx] >= m->ntypes) {
            set_err(err, errlen, "func %u: bad type index", (unsigned)fidx);
            return VMRT_EINVALID;
        }
        fi->inst = inst;
        fi->index = fidx;
        fi->type = &m->types[m->func_types[fidx]];
        inst->funcs[fidx] = fi;
    }
    if (m->nmems > m->nmem_imports) {
        if (m->nmems - m->nmem_imports > 1 || inst->mem != NULL) {
            set_err(err, errlen, "multiple memories");
            return VMRT_EUNSUPPORTED;
        }
        rc = memory_new(&m->mems[m->nmem_imports],
                        inst->limits.max_memory_pages, &inst->mem);
        if (rc != 0) {
            set_err(err, errlen, "memory of %u pages: %s",
                    (unsigned)m->mems[m->nmem_imports].min,
                    rc == VMRT_ELIMIT ? "above the page limit"
                                      : "out of memory");
            return rc;
        }
    }
    for (i = m->ntable_imports; i < m->ntables; i++) {
        if ((rc = table_new(&m->tables[i], &inst->tables[i])) != 0) {
            set_err(err, errlen, "table %u of %u elements: %s", (unsigned)i,
                    (unsigned)m->tables[i].limits.min,
                    rc == VMRT_ELIMIT ? "above the size limit"
                                      : "out of memory");
            return rc;
        }
    }
    for (i = m->nglobal_imports; i < m->nglobals; i++) {
        vmrt__global_t *g;
        if ((g = vmrt__calloc(1, sizeof(*g))) == NULL)
            return VMRT_ENOMEM;
        g->type = m->globals[i].valtype;
        g->mutable_ = m->globals[i].mutable_;
        g->refs = 1;
        inst->globals[i] = g;
        rc = eval_const(inst, &m->global_inits[i - m->nglobal_imports], i,
                        &g->val);
        if (rc != 0) {
            set_err(err, errlen, "global %u: bad initializer", (unsigned)i);
            return rc;
        }
    }
    for (i = 0; i < m->nelems; i++) {
        const vmrt__elem_t *el = &m->elems[i];
        vmrt__elemseg_t *es = &inst->elemsegs[i];
        uint32_t j;

        if (el->ninit == 0)
            continue;
        if ((es->refs = vmrt__calloc(el->ninit, sizeof(uint64_t))) == NULL)
            return VMRT_ENOMEM;
        es->n = el->ninit;
        for (j = 0; j < el->ninit; j++) {
            rc = eval_const(inst, &el->init[j], m->nglobals, &es->refs[j]);
            if (rc != 0) {
                set_err(err, errlen, "elem %u: bad initializer %u",
                        (unsigned)i, (unsigned)j);
                return rc;
            }
        }
    }
    return 0;
}

static void
elemseg_drop(vmrt__elemseg_t *es)
{
    vmrt__free(es->refs);
    es->refs = NULL;
    es->n = 0;
}

/*
 * apply_segments: Wasm 2.0 instantiation steps after allocation: active
 * element segments in order (table.init + elem.drop), then active data
 * segments (memory.init + data.drop), then drop declarative segments.
 * A segment out of bounds stops here; writes of earlier segments remain.
 * *shared_write is set once this module's references were stored in an
 * imported table.
 * Return: 0 or VMRT_EUNINSTANTIABLE with err set.
 */
static int
apply_segments(vmrt_instance_t *inst, bool *shared_write, char *err,
               size_t errlen)
{
    vmrt_module_t *m = inst->mod;
    const char *what = "table", *seg = "elem";
    uint32_t i;
    uint64_t off;

    for (i = 0; i < m->nelems; i++) {
        const vmrt__elem_t *el = &m->elems[i];
        vmrt__elemseg_t *es = &inst->elemsegs[i];
        vmrt__table_t *tab;

        if (el->mode != VMRT__SEG_ACTIVE)
            continue;
        if (el->table_idx >= m->ntables ||
            eval_const(inst, &el->offset, m->nglobals, &off) != 0)
            goto fail;
        tab = inst->tables[el->table_idx];
        off = (uint32_t)off;
        if (off + es->n > tab->size)
            goto fail;
        if (es->n > 0) {
            memcpy(tab->elems + off, es->refs, es->n * sizeof(uint64_t));
            if (el->table_idx < m->ntable_imports)
                *shared_write = true;
        }
        elemseg_drop(es);
    }
    what = "memory";
    seg = "data";
    for (i = 0; i < m->ndatas; i++) {
        const vmrt__data_t *d = &m->datas[i];

        if (d->mode != VMRT__SEG_ACTIVE)
            continue;
        if (inst->mem == NULL || d->mem_idx != 0 ||
            eval_const(inst, &d->offset, m->nglobals, &off) != 0)
            goto fail;
        off = (uint32_t)off;
        if ((uint64_t)d->data_off + d->data_len > m->len ||
            off + d->data_len > inst->mem->size)
            goto fail;
        if (d->data_len > 0)
            memcpy(inst->mem->data + off, m->bytes + d->data_off,
                   d->data_len);
        inst->data_dropped[i] = 1;
    }
    for (i = 0; i < m->nelems; i++)
        if (m->elems[i].mode == VMRT__SEG_DECLARATIVE)
            elemseg_drop(&inst->elemsegs[i]);
    return 0;
fail:
    /* The spec suite's words first: runners match on them. */
    set_err(err, errlen, "out of bounds %s access (%s segment %u)", what,
            seg, (unsigned)i);
    return VMRT_EUNINSTANTIABLE;
}

/* Host function imports that the linker owns (copied per instance). */
static uint32_t
count_host_imports(const vmrt_module_t *m, const vmrt_linker_t *lk)
{
    uint32_t i, n = 0;

    for (i = 0; i < m->nimports; i++) {
        const vmrt__import_t *im = &m->imports[i];
        const lk_entry_t *e;
        if (im->kind != VMRT_EXTERN_FUNC)
            continue;
        e = linker_find(lk, im->module, im->module_len, im->name,
                        im->name_len);
        if (e != NULL && e->kind == VMRT_EXTERN_FUNC && e->owns_func)
            n++;
    }
    return n;
}

/*
 * check_module: refuse a module whose counts are inconsistent, so that
 * the rest of this file can index without re-checking.
 */
static bool
check_module(const vmrt_module_t *m)
{
    return m->nfunc_imports <= m->nfuncs &&
           m->ntable_imports <= m->ntables && m->nmem_imports <= m->nmems &&
           m->nglobal_imports <= m->nglobals && m->nmems <= 1 &&
           m->nimports == m->nfunc_imports + m->ntable_imports +
                              m->nmem_imports + m->nglobal_imports &&
           (m->nfuncs == 0 || m->func_types != NULL) &&
           (m->nglobals == m->nglobal_imports || m->global_inits != NULL);
}

int
vmrt_instance_create(vmrt_module_t *mod, vmrt_linker_t *lk,
                     const vmrt_limits_t *limits, vmrt_instance_t **out,
                     char *err, size_t errlen)
{
    vmrt_instance_t *inst = NULL;
    uint32_t ndef, nhost;
    bool shared_write = false;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (out == NULL || mod == NULL)
        return VMRT_EINVAL;
    *out = NULL;
    if (!check_module(mod)) {
        set_err(err, errlen, "inconsistent module");
        return VMRT_EINVAL;
    }
    if ((inst = vmrt__calloc(1, sizeof(*inst))) == NULL)
        return VMRT_ENOMEM;
    inst->mod = mod;
    if (limits != NULL)
        inst->limits = *limits;
    if (inst->limits.max_memory_pages == 0 ||
        inst->limits.max_memory_pages > VMRT_MAX_PAGES)
        inst->limits.max_memory_pages = VMRT_MAX_PAGES;
    if (inst->limits.value_stack_slots == 0)
        inst->limits.value_stack_slots = DEFAULT_VALUE_STACK_SLOTS;
    if (inst->limits.max_call_depth == 0)
        inst->limits.max_call_depth = DEFAULT_MAX_CALL_DEPTH;

    ndef = mod->nfuncs - mod->nfunc_imports;
    nhost = count_host_imports(mod, lk);
    rc = VMRT_ENOMEM;
    /* calloc checks n * size for overflow; the counts are bounded by the
     * decoder's limits anyway. */
    if ((inst->funcs = vmrt__calloc(mod->nfuncs, sizeof(*inst->funcs))) ==
            NULL ||
        (inst->own_funcs = vmrt__calloc((size_t)ndef + nhost,
                                        sizeof(*inst->own_funcs))) == NULL ||
        (inst->tables = vmrt__calloc(mod->ntables,
                                     sizeof(*inst->tables))) == NULL ||
        (inst->globals = vmrt__calloc(mod->nglobals,
                                      sizeof(*inst->globals))) == NULL ||
        (inst->elemsegs = vmrt__calloc(mod->nelems,
                                       sizeof(*inst->elemsegs))) == NULL ||
        (inst->data_dropped = vmrt__calloc(mod->ndatas, 1)) == NULL)
        goto fail;

    if ((rc = resolve_imports(inst, lk, err, errlen)) != 0)
        goto fail;
    if ((rc = alloc_parts(inst, err, errlen)) != 0)
        goto fail;
    if ((rc = vmrt__exec_create(inst)) != 0)
        goto fail;
    /*
     * Make room to retain this instance before any segment can store its
     * references in a shared table: after that, failing must not free it.
     */
    if (lk != NULL && mod->ntable_imports > 0) {
        void *arr = lk->retained;
        rc = grow_array(&arr, lk->nretained, &lk->cap_retained,
                        sizeof(*lk->retained));
        lk->retained = arr;
        if (rc != 0)
            goto fail;
    }
    if ((rc = apply_segments(inst, &shared_write, err, errlen)) != 0)
        goto fail;
    *out = inst;
    return 0;
fail:
    if (shared_write) {
        struct retained *r = &lk->retained[lk->nretained++];
        r->inst = inst;
        r->ntables = mod->ntables;
        r->nglobals = mod->nglobals;
        r->nelems = mod->nelems;
    } else
        vmrt_instance_free(inst);
    if (rc == VMRT_ENOMEM && err != NULL && errlen > 0 && err[0] == '\0')
        set_err(err, errlen, "out of memory");
    return rc;
}

void
vmrt_instance_free(vmrt_instance_t *inst)
{
    if (inst == NULL)
        return;
    instance_release(inst, inst->mod->ntables, inst->mod->nglobals,
                     inst->mod->nelems);
}

static void
instance_release(vmrt_instance_t *inst, uint32_t ntables, uint32_t nglobals,
                 uint32_t nelems)
{
    uint32_t i;

    if (inst->exec != NULL)
        vmrt__exec_free(inst);
    if (inst->elemsegs != NULL)
        for (i = 0; i < nelems; i++)
            vmrt__free(inst->elemsegs[i].refs);
    if (inst->globals != NULL)
        for (i = 0; i < nglobals; i++)
            global_unref(inst->globals[i]);
    if (inst->tables != NULL)
        for (i = 0; i < ntables; i++)
            table_unref(inst->tables[i]);
    memory_unref(inst->mem);
    vmrt__free(inst->data_dropped);
    vmrt__free(inst->elemsegs);
    vmrt__free(inst->globals);
    vmrt__free(inst->tables);
    vmrt__free(inst->own_funcs);
    vmrt__free(inst->funcs);
    vmrt__free(inst);
}

int
vmrt_instance_start(vmrt_instance_t *inst, vmrt_trap_info_t *info)
{
    int rc;

    if (info != NULL)
        memset(info, 0, sizeof(*info));
    if (inst == NULL)
        return VMRT_EINVAL;
    if (!inst->mod->has_start)
        return 0;
    if ((rc = vmrt_instance_call(inst, inst->mod->start, NULL, 0)) != 0)
        return rc;
    /* Unlimited fuel still yields if the interpreter chooses to. */
    do
        rc = vmrt_instance_run(inst, UINT64_MAX, NULL);
    while (rc == VMRT_RUN_YIELD);
    switch (rc) {
    case VMRT_RUN_DONE:
    case VMRT_RUN_EXIT:
        /* An exit from the start function ends it normally. */
        return 0;
    case VMRT_RUN_TRAP:
        if (info != NULL)
            vmrt_instance_trap(inst, info);
        return VMRT_EUNINSTANTIABLE;
    case VMRT_RUN_BLOCKED:
        /* Nothing will unblock it while we spin here: give up. */
        vmrt_instance_reset(inst);
        return VMRT_ESTATE;
    default:
        return rc < 0 ? rc : VMRT_ESTATE;
    }
}

vmrt_module_t *
vmrt_instance_module(const vmrt_instance_t *inst)
{
    return inst == NULL ? NULL : inst->mod;
}

void
vmrt_instance_set_user(vmrt_instance_t *inst, void *user)
{
    if (inst != NULL)
        inst->user = user;
}

void *
vmrt_instance_user(const vmrt_instance_t *inst)
{
    return inst == NULL ? NULL : inst->user;
}

int
vmrt_instance_find_export(const vmrt_instance_t *inst, const char *name,
                          vmrt_extern_kind_t *kind, uint32_t *index)
{
    const vmrt_module_t *m;
    size_t len;
    uint32_t i;

    if (inst == NULL || name == NULL)
        return VMRT_EINVAL;
    m = inst->mod;
    len = strlen(name);
    for (i = 0; i < m->nexports; i++) {
        const vmrt__export_t *ex = &m->exports[i];
        if (ex->name_len == len && bytes_eq(ex->name, name, len)) {
            if (kind != NULL)
                *kind = (vmrt_extern_kind_t)ex->kind;
            if (index != NULL)
                *index = ex->index;
            return 0;
        }
    }
    return VMRT_ENOTFOUND;
}

int
vmrt_instance_func_type(const vmrt_instance_t *inst, uint32_t func_index,
                        uint32_t *nparams, const uint8_t **params,
                        uint32_t *nresults, const uint8_t **results)
{
    const vmrt__functype_t *ft;

    if (inst == NULL)
        return VMRT_EINVAL;
    if (func_index >= inst->mod->nfuncs)
        return VMRT_ENOTFOUND;
    ft = inst->funcs[func_index]->type;
    if (nparams != NULL)
        *nparams = ft->nparams;
    if (params != NULL)
        *params = VMRT__PARAMS(ft);
    if (nresults != NULL)
        *nresults = ft->nresults;
    if (results != NULL)
        *results = VMRT__RESULTS(ft);
    return 0;
}

int
vmrt_instance_global_get(const vmrt_instance_t *inst, uint32_t index,
                         vmrt_val_t *out)
{
    const vmrt__global_t *g;

    if (inst == NULL || out == NULL)
        return VMRT_EINVAL;
    if (index >= inst->mod->nglobals)
        return VMRT_ENOTFOUND;
    g = inst->globals[index];
    memset(out, 0, sizeof(*out));
    out->type = g->type;
    switch (g->type) {
    case VMRT_I32:
        out->of.i32 = (int32_t)(uint32_t)g->val;
        break;
    case VMRT_F32:
        out->of.f32 = (uint32_t)g->val;
        break;
    case VMRT_I64:
        out->of.i64 = (int64_t)g->val;
        break;
    default:
        /* f64 bits and references share the 64-bit representation. */
        out->of.f64 = g->val;
        break;
    }
    return 0;
}

/*
 * The value's type must be the global's exactly: a host that swaps
 * __stack_pointer per thread must not be able to widen or retag it.
 */
int
vmrt_instance_global_set(vmrt_instance_t *inst, uint32_t index,
                         const vmrt_val_t *val)
{
    vmrt__global_t *g;

    if (inst == NULL || val == NULL)
        return VMRT_EINVAL;
    if (index >= inst->mod->nglobals)
        return VMRT_ENOTFOUND;
    g = inst->globals[index];
    if (!g->mutable_ || val->type != g->type)
        return VMRT_ETYPE;
    switch (g->type) {
    case VMRT_I32:
        g->val = (uint32_t)val->of.i32;
        break;
    case VMRT_F32:
        g->val = val->of.f32;
        break;
    case VMRT_I64:
        g->val = (uint64_t)val->of.i64;
        break;
    default:
        /* f64 bits and references share the 64-bit representation. */
        g->val = val->of.f64;
        break;
    }
    return 0;
}

uint8_t *
vmrt_instance_memory(vmrt_instance_t *inst, uint64_t *size)
{
    if (inst == NULL || inst->mem == NULL) {
        if (size != NULL)
            *size = 0;
        return NULL;
    }
    if (size != NULL)
        *size = inst->mem->size;
    return inst->mem->data;
}
