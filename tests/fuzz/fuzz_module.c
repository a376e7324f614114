/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_module: libFuzzer target for the whole engine pipeline.
 *
 * Each input is treated as a module binary: load it (decode, validate,
 * translate); if that succeeds, satisfy every import, instantiate with
 * tight limits, run the start function and then every exported function
 * whose parameters are all numeric, with zero arguments and a fuel budget,
 * so that an infinite loop ends the run instead of hanging the fuzzer.
 *
 * Imports are satisfied through one "provider" instance per import module
 * name, built here as a small binary module: it exports a memory, table or
 * global of exactly the imported type and re-exports trivial host functions
 * (defined in the linker under PROVIDER_HOST) of the imported signatures.
 * Going through one instance per name keeps linking unambiguous even when a
 * module imports functions and a memory from the same module name.
 *
 * Like the unit tests this reaches into device/runtime/src on purpose: the
 * public API does not expose the type of an imported function.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmrt/vmrt.h"
#include "engine/module.h"

#define FUZZ_FUEL 100000u
#define FUZZ_SLICE 97u
#define FUZZ_MEMORY_PAGES 16u
#define FUZZ_STACK_SLOTS 4096u
#define FUZZ_CALL_DEPTH 200u
/* Tables are arrays of 8-byte references; bigger ones only cost time. */
#define FUZZ_MAX_TABLE 65536u

#define PROVIDER_HOST "\x01fuzz-host"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A growable byte buffer; `failed` sticks once an allocation fails. */
typedef struct {
    uint8_t *p;
    size_t len;
    size_t cap;
    int failed;
} buf_t;

static void
buf_put(buf_t *b, const void *src, size_t n)
{
    uint8_t *np;
    size_t ncap;

    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n)
            ncap *= 2;
        if ((np = realloc(b->p, ncap)) == NULL) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void
buf_byte(buf_t *b, uint8_t v)
{
    buf_put(b, &v, 1);
}

static void
buf_uleb(buf_t *b, uint32_t v)
{
    do {
        uint8_t byte = v & 0x7f;

        v >>= 7;
        buf_byte(b, v ? (uint8_t)(byte | 0x80) : byte);
    } while (v);
}

static void
buf_name(buf_t *b, const char *s, uint32_t len)
{
    buf_uleb(b, len);
    buf_put(b, s, len);
}

/* Append section `id` whose contents are `body`, then empty `body`. */
static void
buf_section(buf_t *b, uint8_t id, buf_t *body)
{
    if (body->failed)
        b->failed = 1;
    buf_byte(b, id);
    buf_uleb(b, (uint32_t)body->len);
    buf_put(b, body->p, body->len);
    body->len = 0;
}

static void
buf_limits(buf_t *b, const vmrt__limits_t *l)
{
    buf_byte(b, l->has_max ? 1 : 0);
    buf_uleb(b, l->min);
    if (l->has_max)
        buf_uleb(b, l->max);
}

/* A host function that returns zeros of whatever results it has. */
static int
host_zero(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    const vmrt__functype_t *ft = ctx;
    uint32_t i;

    (void)inst;
    (void)args;
    for (i = 0; i < ft->nresults; i++)
        results[i] = 0;
    return 0;
}

/*
 * sig_of: write the linker signature of `ft`, e.g. "(iI)f", into a new
 * string.  Return: the string, or NULL when a type has no signature letter
 * (v128) or memory runs out.
 */
static char *
sig_of(const vmrt__functype_t *ft)
{
    size_t n = (size_t)ft->nparams + ft->nresults, i, o = 0;
    char *s;

    if ((s = malloc(n + 3)) == NULL)
        return NULL;
    s[o++] = '(';
    for (i = 0; i < n; i++) {
        if (i == ft->nparams)
            s[o++] = ')';
        switch (ft->types[i]) {
        case VMRT_I32:
            s[o++] = 'i';
            break;
        case VMRT_I64:
            s[o++] = 'I';
            break;
        case VMRT_F32:
            s[o++] = 'f';
            break;
        case VMRT_F64:
            s[o++] = 'F';
            break;
        case VMRT_FUNCREF:
            s[o++] = 'r';
            break;
        case VMRT_EXTERNREF:
            s[o++] = 'e';
            break;
        default:
            free(s);
            return NULL;
        }
    }
    if (n == ft->nparams)
        s[o++] = ')';
    s[o] = '\0';
    return s;
}

/* Constant initializer of a zero value of `t`, ending with `end`. */
static void
buf_zero_init(buf_t *b, uint8_t t)
{
    static const uint8_t zeros[8];

    switch (t) {
    case VMRT_I32:
        buf_byte(b, 0x41);
        buf_byte(b, 0);
        break;
    case VMRT_I64:
        buf_byte(b, 0x42);
        buf_byte(b, 0);
        break;
    case VMRT_F32:
        buf_byte(b, 0x43);
        buf_put(b, zeros, 4);
        break;
    case VMRT_F64:
        buf_byte(b, 0x44);
        buf_put(b, zeros, 8);
        break;
    default:
        buf_byte(b, 0xd0);
        buf_byte(b, t);
        break;
    }
    buf_byte(b, 0x0b);
}

static int
same_name(const char *a, uint32_t alen, const char *b, uint32_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/*
 * provider_build: the binary of a module that exports, under their own
 * names, every import of `mod` whose module name is that of import `first`.
 * Functions come from PROVIDER_HOST "f<N>" (N = import index).  Imports
 * that cannot be provided (a duplicate export name, an oversized table)
 * are left out: instantiation then reports them unlinkable, which is fine.
 * Return: 0, or -1 if memory ran out.
 */
static int
provider_build(const vmrt_module_t *mod, uint32_t first, buf_t *out)
{
    const vmrt__import_t *im, *f = &mod->imports[first];
    buf_t sec = { 0 };
    uint8_t *take;
    uint32_t i, j, n[4] = { 0 }, idx[4] = { 0 }, nexp = 0;
    char fname[16];
    int k;

    if ((take = calloc(mod->nimports, 1)) == NULL)
        return -1;
    for (i = first; i < mod->nimports; i++) {
        im = &mod->imports[i];
        if (!same_name(im->module, im->module_len, f->module, f->module_len))
            continue;
        if (im->kind == VMRT_EXTERN_TABLE &&
            im->desc.table.limits.min > FUZZ_MAX_TABLE)
            continue;
        if (im->kind == VMRT_EXTERN_MEMORY && n[VMRT_EXTERN_MEMORY] > 0)
            continue;
        for (j = first; j < i; j++)
            if (take[j] &&
                same_name(mod->imports[j].name, mod->imports[j].name_len,
                          im->name, im->name_len))
                break;
        if (j < i)
            continue;
        take[i] = 1;
        n[im->kind]++;
        nexp++;
    }

    buf_put(out, "\0asm\1\0\0\0", 8);
    /* Types: one per function import, in order. */
    buf_uleb(&sec, n[VMRT_EXTERN_FUNC]);
    for (i = first; i < mod->nimports; i++) {
        const vmrt__functype_t *ft;

        if (!take[i] || mod->imports[i].kind != VMRT_EXTERN_FUNC)
            continue;
        ft = &mod->types[mod->imports[i].desc.type_idx];
        buf_byte(&sec, 0x60);
        buf_uleb(&sec, ft->nparams);
        buf_put(&sec, VMRT__PARAMS(ft), ft->nparams);
        buf_uleb(&sec, ft->nresults);
        buf_put(&sec, VMRT__RESULTS(ft), ft->nresults);
    }
    buf_section(out, 1, &sec);
    buf_uleb(&sec, n[VMRT_EXTERN_FUNC]);
    for (i = first, j = 0; i < mod->nimports; i++) {
        if (!take[i] || mod->imports[i].kind != VMRT_EXTERN_FUNC)
            continue;
        buf_name(&sec, PROVIDER_HOST, sizeof(PROVIDER_HOST) - 1);
        k = snprintf(fname, sizeof(fname), "f%u", (unsigned)i);
        buf_name(&sec, fname, (uint32_t)k);
        buf_byte(&sec, 0x00);
        buf_uleb(&sec, j++);
    }
    buf_section(out, 2, &sec);
    buf_uleb(&sec, n[VMRT_EXTERN_TABLE]);
    for (i = first; i < mod->nimports; i++) {
        if (!take[i] || mod->imports[i].kind != VMRT_EXTERN_TABLE)
            continue;
        buf_byte(&sec, mod->imports[i].desc.table.elemtype);
        buf_limits(&sec, &mod->imports[i].desc.table.limits);
    }
    buf_section(out, 4, &sec);
    buf_uleb(&sec, n[VMRT_EXTERN_MEMORY]);
    for (i = first; i < mod->nimports; i++)
        if (take[i] && mod->imports[i].kind == VMRT_EXTERN_MEMORY)
            buf_limits(&sec, &mod->imports[i].desc.mem);
    buf_section(out, 5, &sec);
    buf_uleb(&sec, n[VMRT_EXTERN_GLOBAL]);
    for (i = first; i < mod->nimports; i++) {
        if (!take[i] || mod->imports[i].kind != VMRT_EXTERN_GLOBAL)
            continue;
        buf_byte(&sec, mod->imports[i].desc.global.valtype);
        buf_byte(&sec, mod->imports[i].desc.global.mutable_ ? 1 : 0);
        buf_zero_init(&sec, mod->imports[i].desc.global.valtype);
    }
    buf_section(out, 6, &sec);
    buf_uleb(&sec, nexp);
    for (i = first; i < mod->nimports; i++) {
        im = &mod->imports[i];
        if (!take[i])
            continue;
        buf_name(&sec, im->name, im->name_len);
        buf_byte(&sec, im->kind);
        buf_uleb(&sec, idx[im->kind]++);
    }
    buf_section(out, 7, &sec);

    free(sec.p);
    free(take);
    return out->failed ? -1 : 0;
}

/*
 * link_imports: define a zero-returning host function for every function
 * import and register one provider instance per import module name.
 * Providers are appended to `prov` (the caller frees them after the
 * instance that links against them).  Return: 0, or -1 when the module's
 * imports cannot all be offered (the input is then simply not run).
 */
static int
link_imports(vmrt_module_t *mod, vmrt_linker_t *lk, const vmrt_limits_t *lim,
             vmrt_instance_t **prov, vmrt_module_t **provmod, uint32_t *nprov)
{
    const vmrt__import_t *im;
    const vmrt__functype_t *ft;
    buf_t bin = { 0 };
    char fname[16], *sig, *mname;
    uint32_t i, j;
    int rc;

    for (i = 0; i < mod->nimports; i++) {
        im = &mod->imports[i];
        if (im->kind != VMRT_EXTERN_FUNC)
            continue;
        ft = &mod->types[im->desc.type_idx];
        if ((sig = sig_of(ft)) == NULL)
            return -1;
        snprintf(fname, sizeof(fname), "f%u", (unsigned)i);
        rc = vmrt_linker_define_func(lk, PROVIDER_HOST, fname, sig, host_zero,
                                     (void *)ft);
        free(sig);
        if (rc != 0)
            return -1;
    }
    for (i = 0; i < mod->nimports; i++) {
        im = &mod->imports[i];
        for (j = 0; j < i; j++)
            if (same_name(mod->imports[j].module, mod->imports[j].module_len,
                          im->module, im->module_len))
                break;
        if (j < i)
            continue; /* this module name already has its provider */
        /* The linker takes C strings: a name with a NUL stays unlinkable. */
        if (memchr(im->module, '\0', im->module_len) != NULL)
            continue;
        bin.len = 0;
        if (provider_build(mod, i, &bin) != 0)
            goto fail;
        if (vmrt_module_load(bin.p, bin.len, &provmod[*nprov], NULL, 0) != 0)
            continue;
        if (vmrt_instance_create(provmod[*nprov], lk, lim, &prov[*nprov], NULL,
                                 0) != 0) {
            vmrt_module_free(provmod[*nprov]);
            continue;
        }
        if ((mname = malloc(im->module_len + 1)) == NULL)
            goto fail_inst;
        memcpy(mname, im->module, im->module_len);
        mname[im->module_len] = '\0';
        rc = vmrt_linker_define_instance(lk, mname, prov[*nprov]);
        free(mname);
        if (rc != 0)
            goto fail_inst;
        (*nprov)++;
    }
    free(bin.p);
    return 0;
fail_inst:
    vmrt_instance_free(prov[*nprov]);
    vmrt_module_free(provmod[*nprov]);
fail:
    free(bin.p);
    return -1;
}

/*
 * run_bounded: run the pending call with at most FUZZ_FUEL fuel in slices of
 * `slice`, abandoning it if unfinished.  Small slices exercise yielding and
 * resuming at arbitrary points, which a snapshot or the scheduler relies on.
 * Return: the last run status.
 */
static int
run_bounded(vmrt_instance_t *inst, uint64_t slice)
{
    uint64_t spent = 0, used;
    int st;

    do {
        used = 0;
        st = vmrt_instance_run(inst, slice, &used);
        /* A run that makes no progress would loop forever here. */
        spent += used ? used : slice;
    } while (st == VMRT_RUN_YIELD && spent < FUZZ_FUEL);
    if (st == VMRT_RUN_YIELD || st == VMRT_RUN_BLOCKED)
        vmrt_instance_reset(inst);
    return st;
}

static int
all_numeric(const uint8_t *types, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++)
        if (types[i] != VMRT_I32 && types[i] != VMRT_I64 &&
            types[i] != VMRT_F32 && types[i] != VMRT_F64)
            return 0;
    return 1;
}

static void
call_exports(vmrt_instance_t *inst, const vmrt_module_t *mod, uint64_t slice)
{
    vmrt_extern_info_t info;
    vmrt_val_t args[16];
    const uint8_t *params, *results;
    uint32_t i, j, np, nr;

    for (i = 0; i < vmrt_module_export_count(mod); i++) {
        if (vmrt_module_export_info(mod, i, &info) != 0 ||
            info.kind != VMRT_EXTERN_FUNC)
            continue;
        if (vmrt_instance_func_type(inst, info.index, &np, &params, &nr,
                                    &results) != 0)
            continue;
        if (np > 16 || !all_numeric(params, np))
            continue;
        memset(args, 0, sizeof(args));
        for (j = 0; j < np; j++)
            args[j].type = params[j];
        if (vmrt_instance_call(inst, info.index, args, np) != 0)
            continue;
        run_bounded(inst, slice);
    }
}

/*
 * Does instantiating `mod` only cost time?  Huge tables are legal but a
 * fuzzer that allocates 80 MB per input finds nothing faster.
 */
static int
too_costly(const vmrt_module_t *mod)
{
    uint32_t i;

    for (i = mod->ntable_imports; i < mod->ntables; i++)
        if (mod->tables[i].limits.min > FUZZ_MAX_TABLE)
            return 1;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmrt_limits_t lim = { FUZZ_MEMORY_PAGES, FUZZ_STACK_SLOTS,
                          FUZZ_CALL_DEPTH };
    vmrt_module_t *mod = NULL, **provmod = NULL;
    vmrt_instance_t *inst = NULL, **prov = NULL;
    vmrt_linker_t *lk = NULL;
    uint32_t i, nprov = 0;
    uint64_t slice;
    char err[256];

    if (vmrt_module_load(data, size, &mod, err, sizeof(err)) != 0)
        return 0;
    /*
     * Half the inputs run in one go, half in small slices; the choice comes
     * from the input so that a crash reproduces.
     */
    slice = size > 0 && (data[size - 1] & 1) ? FUZZ_FUEL : FUZZ_SLICE;
    if (too_costly(mod))
        goto out;
    if ((lk = vmrt_linker_create()) == NULL)
        goto out;
    prov = calloc(mod->nimports + 1, sizeof(*prov));
    provmod = calloc(mod->nimports + 1, sizeof(*provmod));
    if (prov == NULL || provmod == NULL)
        goto out;
    if (link_imports(mod, lk, &lim, prov, provmod, &nprov) != 0)
        goto out;
    if (vmrt_instance_create(mod, lk, &lim, &inst, err, sizeof(err)) != 0)
        goto out;
    /*
     * vmrt_instance_start() runs with unlimited fuel, so a start function
     * that loops forever would hang the fuzzer: run it ourselves, bounded.
     */
    if (mod->has_start) {
        if (vmrt_instance_call(inst, mod->start, NULL, 0) != 0)
            goto out;
        if (run_bounded(inst, slice) != VMRT_RUN_DONE)
            goto out;
    } else if (vmrt_instance_start(inst, NULL) != 0) {
        goto out;
    }
    call_exports(inst, mod, slice);
out:
    vmrt_instance_free(inst);
    vmrt_linker_free(lk);
    for (i = nprov; i > 0; i--) {
        vmrt_instance_free(prov[i - 1]);
        vmrt_module_free(provmod[i - 1]);
    }
    free(prov);
    free(provmod);
    vmrt_module_free(mod);
    return 0;
}
