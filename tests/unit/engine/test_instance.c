/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of linking and instantiation (engine/instance.c).
 *
 * Modules are built by hand as vmrt_module_t structs, the way decode.c
 * fills them, so these tests need neither the decoder nor the translator.
 * They define no functions of their own (no code to translate); functions
 * come from host imports.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/instance.h"

#define FM_MAX 8

/* A hand-built module and the storage its arrays point into. */
typedef struct {
    vmrt_module_t m;
    vmrt__functype_t types[2];
    uint8_t typebytes[4];
    vmrt__import_t imports[FM_MAX];
    vmrt__export_t exports[FM_MAX];
    uint32_t func_types[FM_MAX];
    vmrt__tabletype_t tables[FM_MAX];
    vmrt__limits_t mems[1];
    vmrt__globaltype_t globals[FM_MAX];
    vmrt__constexpr_t global_inits[FM_MAX];
    vmrt__elem_t elems[FM_MAX];
    vmrt__constexpr_t elem_init[FM_MAX][FM_MAX];
    vmrt__data_t datas[FM_MAX];
    uint8_t bytes[64];
} fake_mod_t;

/* Type 0 is (i32) -> i32; type 1 is () -> (). */
static void
fm_init(fake_mod_t *fm)
{
    memset(fm, 0, sizeof(*fm));
    fm->typebytes[0] = VMRT_I32;
    fm->typebytes[1] = VMRT_I32;
    fm->types[0].nparams = 1;
    fm->types[0].nresults = 1;
    fm->types[0].types = fm->typebytes;
    fm->types[1].types = fm->typebytes + 2;
    fm->m.ntypes = 2;
    fm->m.types = fm->types;
    fm->m.imports = fm->imports;
    fm->m.exports = fm->exports;
    fm->m.func_types = fm->func_types;
    fm->m.tables = fm->tables;
    fm->m.mems = fm->mems;
    fm->m.globals = fm->globals;
    fm->m.global_inits = fm->global_inits;
    fm->m.elems = fm->elems;
    fm->m.datas = fm->datas;
    fm->m.bytes = fm->bytes;
    fm->m.len = sizeof(fm->bytes);
}

static vmrt__import_t *
fm_import(fake_mod_t *fm, const char *module, const char *name, uint8_t kind)
{
    vmrt__import_t *im = &fm->imports[fm->m.nimports++];

    im->module = module;
    im->module_len = (uint32_t)strlen(module);
    im->name = name;
    im->name_len = (uint32_t)strlen(name);
    im->kind = kind;
    return im;
}

static void
fm_export(fake_mod_t *fm, const char *name, uint8_t kind, uint32_t index)
{
    vmrt__export_t *ex = &fm->exports[fm->m.nexports++];

    ex->name = name;
    ex->name_len = (uint32_t)strlen(name);
    ex->kind = kind;
    ex->index = index;
}

static void
fm_import_func(fake_mod_t *fm, const char *module, const char *name,
               uint32_t type_idx)
{
    fm_import(fm, module, name, VMRT_EXTERN_FUNC)->desc.type_idx = type_idx;
    fm->func_types[fm->m.nfuncs] = type_idx;
    fm->m.nfuncs++;
    fm->m.nfunc_imports++;
}

static void
fm_import_mem(fake_mod_t *fm, const char *module, const char *name,
              uint32_t min, bool has_max, uint32_t max)
{
    vmrt__import_t *im = fm_import(fm, module, name, VMRT_EXTERN_MEMORY);

    im->desc.mem.min = min;
    im->desc.mem.has_max = has_max;
    im->desc.mem.max = max;
    fm->mems[0] = im->desc.mem;
    fm->m.nmems = fm->m.nmem_imports = 1;
}

static void
fm_memory(fake_mod_t *fm, uint32_t min, bool has_max, uint32_t max)
{
    fm->mems[0].min = min;
    fm->mems[0].has_max = has_max;
    fm->mems[0].max = max;
    fm->m.nmems = 1;
}

static void
fm_import_table(fake_mod_t *fm, const char *module, const char *name,
                uint8_t elemtype, uint32_t min, bool has_max, uint32_t max)
{
    vmrt__import_t *im = fm_import(fm, module, name, VMRT_EXTERN_TABLE);

    im->desc.table.elemtype = elemtype;
    im->desc.table.limits.min = min;
    im->desc.table.limits.has_max = has_max;
    im->desc.table.limits.max = max;
    fm->tables[fm->m.ntables++] = im->desc.table;
    fm->m.ntable_imports++;
}

static void
fm_table(fake_mod_t *fm, uint8_t elemtype, uint32_t min, bool has_max,
         uint32_t max)
{
    vmrt__tabletype_t *t = &fm->tables[fm->m.ntables++];

    t->elemtype = elemtype;
    t->limits.min = min;
    t->limits.has_max = has_max;
    t->limits.max = max;
}

static void
fm_import_global(fake_mod_t *fm, const char *module, const char *name,
                 uint8_t type, bool mut)
{
    vmrt__import_t *im = fm_import(fm, module, name, VMRT_EXTERN_GLOBAL);

    im->desc.global.valtype = type;
    im->desc.global.mutable_ = mut;
    fm->globals[fm->m.nglobals++] = im->desc.global;
    fm->m.nglobal_imports++;
}

static void
fm_global(fake_mod_t *fm, uint8_t type, bool mut, uint8_t op, uint64_t val)
{
    uint32_t i = fm->m.nglobals++;

    fm->globals[i].valtype = type;
    fm->globals[i].mutable_ = mut;
    fm->global_inits[i - fm->m.nglobal_imports].op = op;
    fm->global_inits[i - fm->m.nglobal_imports].type = type;
    fm->global_inits[i - fm->m.nglobal_imports].val = val;
}

/* An element segment of `n` ref.func `func` (or ref.null if func < 0). */
static vmrt__elem_t *
fm_elem(fake_mod_t *fm, uint8_t mode, uint32_t table, uint32_t offset,
        uint32_t n, int func)
{
    uint32_t i = fm->m.nelems++, j;
    vmrt__elem_t *el = &fm->elems[i];

    el->mode = mode;
    el->reftype = VMRT_FUNCREF;
    el->table_idx = table;
    el->offset.op = 0x41;
    el->offset.type = VMRT_I32;
    el->offset.val = offset;
    el->ninit = n;
    el->init = fm->elem_init[i];
    for (j = 0; j < n; j++) {
        el->init[j].op = func < 0 ? 0xd0 : 0xd2;
        el->init[j].type = VMRT_FUNCREF;
        el->init[j].val = func < 0 ? 0 : (uint64_t)func;
    }
    return el;
}

/* An active data segment at `offset` holding `s`, stored in fm->bytes. */
static void
fm_data(fake_mod_t *fm, uint8_t mode, uint32_t offset, const char *s)
{
    static const uint32_t at[FM_MAX] = {0, 8, 16, 24, 32, 40, 48, 56};
    uint32_t i = fm->m.ndatas++;
    vmrt__data_t *d = &fm->datas[i];

    d->mode = mode;
    d->offset.op = 0x41;
    d->offset.type = VMRT_I32;
    d->offset.val = offset;
    d->data_off = at[i];
    d->data_len = (uint32_t)strlen(s);
    memcpy(fm->bytes + at[i], s, d->data_len);
}

static int
host_add1(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    (void)inst;
    (void)ctx;
    results[0] = (uint32_t)args[0] + 1u;
    return 0;
}

static int
create(fake_mod_t *fm, vmrt_linker_t *lk, const vmrt_limits_t *lim,
       vmrt_instance_t **out, char *err, size_t errlen)
{
    return vmrt_instance_create(&fm->m, lk, lim, out, err, errlen);
}

/* ------------------------------------------------------------------ */

static void
test_linker_define_func_checks_signature(void **state)
{
    vmrt_linker_t *lk = vmrt_linker_create();
    static const char *const bad[] = {"", "i", "(i", "(x)", "()q",
                                      "ii)i", "(i)(i)"};
    size_t i;

    (void)state;
    assert_non_null(lk);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(vmrt_linker_define_func(lk, "m", "f", bad[i],
                                                 host_add1, NULL),
                         VMRT_EINVAL);
    assert_int_equal(vmrt_linker_define_func(lk, "m", "f", "(iIfFre)i",
                                             host_add1, NULL), 0);
    assert_int_equal(vmrt_linker_define_func(lk, "m", "g", "()", host_add1,
                                             NULL), 0);
    vmrt_linker_free(lk);
    vmrt_linker_free(NULL);
}

static void
test_instance_host_import_matches_type_and_outlives_linker(void **state)
{
    fake_mod_t fm;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *inst = NULL;
    char err[128];
    int ctx = 7;
    uint64_t a[1] = {41}, r[1] = {0};

    (void)state;
    assert_int_equal(vmrt_linker_define_func(lk, "env", "add1", "(i)i",
                                             host_add1, &ctx), 0);
    fm_init(&fm);
    fm_import_func(&fm, "env", "add1", 1); /* () -> (): wrong type */
    assert_int_equal(create(&fm, lk, NULL, &inst, err, sizeof(err)),
                     VMRT_EUNLINKABLE);
    assert_null(inst);
    assert_non_null(strstr(err, "incompatible import type"));

    fm.imports[0].desc.type_idx = fm.func_types[0] = 0;
    assert_int_equal(create(&fm, lk, NULL, &inst, err, sizeof(err)), 0);
    vmrt_linker_free(lk);
    /* The host function stays usable after the linker is gone. */
    assert_null(inst->funcs[0]->inst);
    assert_ptr_equal(inst->funcs[0]->host_ctx, &ctx);
    assert_int_equal(inst->funcs[0]->host(inst, &ctx, a, r), 0);
    assert_int_equal(r[0], 42);
    assert_int_equal(inst->funcs[0]->type->nparams, 1);
    vmrt_instance_free(inst);
}

static void
test_instance_unknown_import_is_unlinkable(void **state)
{
    fake_mod_t fm;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *inst = NULL;
    char err[128];

    (void)state;
    fm_init(&fm);
    fm_import_global(&fm, "nowhere", "g", VMRT_I32, false);
    assert_int_equal(create(&fm, lk, NULL, &inst, err, sizeof(err)),
                     VMRT_EUNLINKABLE);
    assert_non_null(strstr(err, "unknown import"));
    assert_non_null(strstr(err, "\"nowhere\".\"g\""));
    /* Without a linker every import is unknown too. */
    assert_int_equal(create(&fm, NULL, NULL, &inst, err, sizeof(err)),
                     VMRT_EUNLINKABLE);
    assert_null(inst);
    vmrt_linker_free(lk);
}

static void
test_instance_imports_globals_from_registered_instance(void **state)
{
    fake_mod_t fa, fb;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *a = NULL, *b = NULL;
    vmrt_val_t v;
    char err[128];

    (void)state;
    fm_init(&fa);
    fm_global(&fa, VMRT_I32, false, 0x41, (uint64_t)(int64_t)-5);
    fm_global(&fa, VMRT_I64, true, 0x42, 1234567890123ull);
    fm_export(&fa, "g", VMRT_EXTERN_GLOBAL, 0);
    fm_export(&fa, "mg", VMRT_EXTERN_GLOBAL, 1);
    assert_int_equal(create(&fa, NULL, NULL, &a, err, sizeof(err)), 0);
    assert_int_equal(vmrt_instance_global_get(a, 0, &v), 0);
    assert_int_equal(v.type, VMRT_I32);
    assert_int_equal(v.of.i32, -5);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", a), 0);

    fm_init(&fb);
    fm_import_global(&fb, "A", "g", VMRT_I32, false);
    fm_import_global(&fb, "A", "mg", VMRT_I64, true);
    fm_global(&fb, VMRT_I32, false, 0x23, 0); /* global.get 0 */
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)), 0);
    assert_int_equal(vmrt_instance_global_get(b, 2, &v), 0);
    assert_int_equal(v.of.i32, -5);
    /* The mutable global is shared, not copied. */
    assert_ptr_equal(b->globals[1], a->globals[1]);
    b->globals[1]->val = 99;
    assert_int_equal(vmrt_instance_global_get(a, 1, &v), 0);
    assert_int_equal(v.of.i64, 99);
    vmrt_instance_free(b);

    /* Mutability and type must match exactly. */
    fm_init(&fb);
    fm_import_global(&fb, "A", "mg", VMRT_I64, false);
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)),
                     VMRT_EUNLINKABLE);
    assert_non_null(strstr(err, "incompatible import type"));
    fm_init(&fb);
    fm_import_global(&fb, "A", "g", VMRT_I64, false);
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)),
                     VMRT_EUNLINKABLE);
    /* A kind mismatch is incompatible, not unknown. */
    fm_init(&fb);
    fm_import_mem(&fb, "A", "g", 0, false, 0);
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)),
                     VMRT_EUNLINKABLE);
    assert_non_null(strstr(err, "incompatible import type"));

    /* Registered objects survive the exporter while the linker holds
     * them. */
    vmrt_instance_free(a);
    fm_init(&fb);
    fm_import_global(&fb, "A", "mg", VMRT_I64, true);
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)), 0);
    assert_int_equal(vmrt_instance_global_get(b, 0, &v), 0);
    assert_int_equal(v.of.i64, 99);
    vmrt_instance_free(b);
    vmrt_linker_free(lk);
}

/* Try importing A's memory (1 page, max 5) with limits {min, max?}. */
static int
import_mem(vmrt_linker_t *lk, uint32_t min, bool has_max, uint32_t max)
{
    fake_mod_t fb;
    vmrt_instance_t *b = NULL;
    char err[128];
    int rc;

    fm_init(&fb);
    fm_import_mem(&fb, "A", "mem", min, has_max, max);
    rc = create(&fb, lk, NULL, &b, err, sizeof(err));
    if (rc == VMRT_EUNLINKABLE)
        assert_non_null(strstr(err, "incompatible import type"));
    vmrt_instance_free(b);
    return rc;
}

static void
test_instance_memory_import_limits_subtyping(void **state)
{
    fake_mod_t fa, fc;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *a = NULL, *c = NULL;

    (void)state;
    fm_init(&fa);
    fm_memory(&fa, 1, true, 5);
    fm_export(&fa, "mem", VMRT_EXTERN_MEMORY, 0);
    assert_int_equal(create(&fa, NULL, NULL, &a, NULL, 0), 0);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", a), 0);

    assert_int_equal(import_mem(lk, 0, false, 0), 0);
    assert_int_equal(import_mem(lk, 1, false, 0), 0);
    assert_int_equal(import_mem(lk, 1, true, 5), 0);
    assert_int_equal(import_mem(lk, 1, true, 8), 0);
    assert_int_equal(import_mem(lk, 2, false, 0), VMRT_EUNLINKABLE);
    assert_int_equal(import_mem(lk, 1, true, 4), VMRT_EUNLINKABLE);
    /* The current size counts, not the declared minimum. */
    assert_int_equal(vmrt__memory_grow(a->mem, 1), 1);
    assert_int_equal(import_mem(lk, 2, true, 5), 0);

    /* An actual memory without a maximum cannot satisfy one. */
    fm_init(&fc);
    fm_memory(&fc, 1, false, 0);
    fm_export(&fc, "mem", VMRT_EXTERN_MEMORY, 0);
    assert_int_equal(create(&fc, NULL, NULL, &c, NULL, 0), 0);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", c), 0);
    assert_int_equal(import_mem(lk, 1, true, 65536), VMRT_EUNLINKABLE);
    assert_int_equal(import_mem(lk, 1, false, 0), 0);

    vmrt_linker_free(lk);
    vmrt_instance_free(c);
    vmrt_instance_free(a);
}

static void
test_instance_table_import_checks_elemtype_and_limits(void **state)
{
    fake_mod_t fa, fb;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *a = NULL, *b = NULL;

    (void)state;
    fm_init(&fa);
    fm_table(&fa, VMRT_FUNCREF, 10, true, 20);
    fm_table(&fa, VMRT_EXTERNREF, 1, false, 0);
    fm_export(&fa, "tab", VMRT_EXTERN_TABLE, 0);
    fm_export(&fa, "ext", VMRT_EXTERN_TABLE, 1);
    assert_int_equal(create(&fa, NULL, NULL, &a, NULL, 0), 0);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", a), 0);

    fm_init(&fb);
    fm_import_table(&fb, "A", "tab", VMRT_FUNCREF, 10, true, 20);
    fm_import_table(&fb, "A", "ext", VMRT_EXTERNREF, 0, false, 0);
    assert_int_equal(create(&fb, lk, NULL, &b, NULL, 0), 0);
    assert_ptr_equal(b->tables[0], a->tables[0]);
    vmrt_instance_free(b);

    fm_init(&fb);
    fm_import_table(&fb, "A", "ext", VMRT_FUNCREF, 1, false, 0);
    assert_int_equal(create(&fb, lk, NULL, &b, NULL, 0), VMRT_EUNLINKABLE);
    fm_init(&fb);
    fm_import_table(&fb, "A", "tab", VMRT_FUNCREF, 11, false, 0);
    assert_int_equal(create(&fb, lk, NULL, &b, NULL, 0), VMRT_EUNLINKABLE);
    fm_init(&fb);
    fm_import_table(&fb, "A", "tab", VMRT_FUNCREF, 5, true, 19);
    assert_int_equal(create(&fb, lk, NULL, &b, NULL, 0), VMRT_EUNLINKABLE);
    fm_init(&fb);
    fm_import_table(&fb, "A", "ext", VMRT_EXTERNREF, 0, true, 100);
    assert_int_equal(create(&fb, lk, NULL, &b, NULL, 0), VMRT_EUNLINKABLE);
    assert_null(b);

    vmrt_linker_free(lk);
    vmrt_instance_free(a);
}

static void
test_instance_data_oob_keeps_earlier_writes(void **state)
{
    fake_mod_t fa, fb;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *a = NULL, *b = NULL;
    uint8_t *mem;
    uint64_t size;
    char err[128];

    (void)state;
    fm_init(&fa);
    fm_memory(&fa, 1, false, 0);
    fm_export(&fa, "mem", VMRT_EXTERN_MEMORY, 0);
    assert_int_equal(create(&fa, NULL, NULL, &a, NULL, 0), 0);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", a), 0);

    fm_init(&fb);
    fm_import_mem(&fb, "A", "mem", 1, false, 0);
    fm_data(&fb, VMRT__SEG_ACTIVE, 0, "abc");
    fm_data(&fb, VMRT__SEG_ACTIVE, 65535, "zz"); /* one byte too far */
    fm_data(&fb, VMRT__SEG_ACTIVE, 100, "never");
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)),
                     VMRT_EUNINSTANTIABLE);
    assert_null(b);
    assert_non_null(strstr(err, "out of bounds memory access"));

    mem = vmrt_instance_memory(a, &size);
    assert_int_equal(size, 65536);
    assert_memory_equal(mem, "abc", 3);
    assert_int_equal(mem[65535], 0);
    assert_int_equal(mem[100], 0);

    /* A segment ending exactly at the end fits; an empty one at the end
     * too. */
    fm_init(&fb);
    fm_import_mem(&fb, "A", "mem", 1, false, 0);
    fm_data(&fb, VMRT__SEG_ACTIVE, 65534, "zz");
    fm_data(&fb, VMRT__SEG_ACTIVE, 65536, "");
    fm_data(&fb, VMRT__SEG_PASSIVE, 0, "p");
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)), 0);
    assert_int_equal(mem[65535], 'z');
    assert_int_equal(b->data_dropped[0], 1);
    assert_int_equal(b->data_dropped[2], 0);
    vmrt_instance_free(b);

    vmrt_linker_free(lk);
    vmrt_instance_free(a);
}

static void
test_instance_elem_oob_keeps_earlier_writes(void **state)
{
    fake_mod_t fa, fb, fc;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *a = NULL, *b = NULL;
    const vmrt__funcinst_t *fi;
    uint64_t args[1] = {1}, res[1];
    char err[128];

    (void)state;
    fm_init(&fa);
    fm_table(&fa, VMRT_FUNCREF, 10, false, 0);
    fm_export(&fa, "tab", VMRT_EXTERN_TABLE, 0);
    assert_int_equal(create(&fa, NULL, NULL, &a, NULL, 0), 0);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", a), 0);
    assert_int_equal(vmrt_linker_define_func(lk, "env", "add1", "(i)i",
                                             host_add1, NULL), 0);

    fm_init(&fb);
    fm_import_func(&fb, "env", "add1", 0);
    fm_import_table(&fb, "A", "tab", VMRT_FUNCREF, 10, false, 0);
    fm_elem(&fb, VMRT__SEG_ACTIVE, 0, 7, 1, 0);
    fm_elem(&fb, VMRT__SEG_ACTIVE, 0, 8, 5, 0); /* partly out of bounds */
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)),
                     VMRT_EUNINSTANTIABLE);
    assert_null(b);
    assert_non_null(strstr(err, "out of bounds table access"));

    /* Element 7 stays set and callable (the failed instance's function
     * copy is kept alive by the linker); the failed segment wrote
     * nothing. */
    assert_int_not_equal(a->tables[0]->elems[7], 0);
    assert_int_equal(a->tables[0]->elems[8], 0);
    assert_int_equal(a->tables[0]->elems[9], 0);
    fi = (const vmrt__funcinst_t *)(uintptr_t)a->tables[0]->elems[7];
    assert_int_equal(fi->host(NULL, fi->host_ctx, args, res), 0);
    assert_int_equal(res[0], 2);

    /* An empty segment may sit at the end, not past it. */
    fm_init(&fc);
    fm_import_table(&fc, "A", "tab", VMRT_FUNCREF, 10, false, 0);
    fm_elem(&fc, VMRT__SEG_ACTIVE, 0, 10, 0, -1);
    assert_int_equal(create(&fc, lk, NULL, &b, NULL, 0), 0);
    vmrt_instance_free(b);
    fc.elems[0].offset.val = 11;
    assert_int_equal(create(&fc, lk, NULL, &b, NULL, 0), VMRT_EUNINSTANTIABLE);
    assert_null(b);

    /* The retained instance is freed without reading its module, which
     * embedders typically free before the linker. */
    memset(&fb, 0xff, sizeof(fb));
    vmrt_linker_free(lk);
    vmrt_instance_free(a);
}

static void
test_instance_elem_segments_modes(void **state)
{
    fake_mod_t fb;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *b = NULL;
    char err[128];

    (void)state;
    assert_int_equal(vmrt_linker_define_func(lk, "env", "f", "(i)i",
                                             host_add1, NULL), 0);
    fm_init(&fb);
    fm_import_func(&fb, "env", "f", 0);
    fm_table(&fb, VMRT_FUNCREF, 4, false, 0);
    fm_elem(&fb, VMRT__SEG_ACTIVE, 0, 1, 2, 0);
    fm_elem(&fb, VMRT__SEG_PASSIVE, 0, 0, 3, 0);
    fm_elem(&fb, VMRT__SEG_DECLARATIVE, 0, 0, 1, 0);
    fm_elem(&fb, VMRT__SEG_PASSIVE, 0, 0, 2, -1);
    fm_global(&fb, VMRT_FUNCREF, false, 0xd2, 0);
    assert_int_equal(create(&fb, lk, NULL, &b, err, sizeof(err)), 0);
    vmrt_linker_free(lk);

    assert_int_equal(b->tables[0]->elems[0], 0);
    assert_int_equal(b->tables[0]->elems[1], (uintptr_t)b->funcs[0]);
    assert_int_equal(b->tables[0]->elems[2], (uintptr_t)b->funcs[0]);
    assert_int_equal(b->tables[0]->elems[3], 0);
    assert_int_equal(b->elemsegs[0].n, 0);  /* active: dropped */
    assert_int_equal(b->elemsegs[1].n, 3);  /* passive: kept */
    assert_int_equal(b->elemsegs[1].refs[2], (uintptr_t)b->funcs[0]);
    assert_int_equal(b->elemsegs[2].n, 0);  /* declarative: dropped */
    assert_int_equal(b->elemsegs[3].n, 2);
    assert_int_equal(b->elemsegs[3].refs[0], 0);
    assert_int_equal(b->globals[0]->val, (uintptr_t)b->funcs[0]);
    vmrt_instance_free(b);
}

static void
test_instance_reexported_func_keeps_identity(void **state)
{
    fake_mod_t fa, fb;
    vmrt_linker_t *lk = vmrt_linker_create();
    vmrt_instance_t *a = NULL, *b = NULL;

    (void)state;
    assert_int_equal(vmrt_linker_define_func(lk, "env", "f", "(i)i",
                                             host_add1, NULL), 0);
    fm_init(&fa);
    fm_import_func(&fa, "env", "f", 0);
    fm_export(&fa, "f", VMRT_EXTERN_FUNC, 0);
    assert_int_equal(create(&fa, lk, NULL, &a, NULL, 0), 0);
    assert_int_equal(vmrt_linker_define_instance(lk, "A", a), 0);

    fm_init(&fb);
    fm_import_func(&fb, "A", "f", 0);
    assert_int_equal(create(&fb, lk, NULL, &b, NULL, 0), 0);
    assert_ptr_equal(b->funcs[0], a->funcs[0]);

    vmrt_instance_free(b);
    vmrt_linker_free(lk);
    vmrt_instance_free(a);
}

static void
test_memory_grow_stops_at_the_cap(void **state)
{
    fake_mod_t fm;
    vmrt_instance_t *inst = NULL;
    vmrt_limits_t lim = {.max_memory_pages = 4};
    uint8_t *mem;
    uint64_t size;

    (void)state;
    fm_init(&fm);
    fm_memory(&fm, 1, false, 0);
    assert_int_equal(create(&fm, NULL, &lim, &inst, NULL, 0), 0);
    assert_int_equal(inst->limits.max_call_depth, 10000);
    assert_int_equal(inst->limits.value_stack_slots, 65536);
    assert_int_equal(inst->mem->max_pages, 4);

    mem = vmrt_instance_memory(inst, &size);
    mem[65535] = 0xaa;
    assert_int_equal(vmrt__memory_grow(inst->mem, 0), 1);
    assert_int_equal(vmrt__memory_grow(inst->mem, 2), 1);
    assert_int_equal(vmrt__memory_grow(inst->mem, 1), 3);
    assert_int_equal(vmrt__memory_grow(inst->mem, 1), -1);
    assert_int_equal(vmrt__memory_grow(inst->mem, UINT32_MAX), -1);
    mem = vmrt_instance_memory(inst, &size);
    assert_int_equal(size, 4 * 65536);
    assert_int_equal(mem[65535], 0xaa);
    assert_int_equal(mem[65536], 0);
    assert_int_equal(mem[4 * 65536 - 1], 0);
    vmrt_instance_free(inst);

    /* The declared maximum wins when it is lower than the cap. */
    fm_init(&fm);
    fm_memory(&fm, 0, true, 2);
    assert_int_equal(create(&fm, NULL, &lim, &inst, NULL, 0), 0);
    assert_null(vmrt_instance_memory(inst, &size));
    assert_int_equal(size, 0);
    assert_int_equal(vmrt__memory_grow(inst->mem, 3), -1);
    assert_int_equal(vmrt__memory_grow(inst->mem, 2), 0);
    assert_int_equal(vmrt__memory_grow(inst->mem, 1), -1);
    vmrt_instance_free(inst);
}

static void
test_instance_memory_above_cap_is_elimit(void **state)
{
    fake_mod_t fm;
    vmrt_instance_t *inst = NULL;
    vmrt_limits_t lim = {.max_memory_pages = 2};
    char err[128];

    (void)state;
    fm_init(&fm);
    fm_memory(&fm, 3, false, 0);
    assert_int_equal(create(&fm, NULL, &lim, &inst, err, sizeof(err)),
                     VMRT_ELIMIT);
    assert_null(inst);
    assert_non_null(strstr(err, "memory"));
}

static void
test_table_grow_respects_max(void **state)
{
    fake_mod_t fm;
    vmrt_instance_t *inst = NULL;

    (void)state;
    fm_init(&fm);
    fm_table(&fm, VMRT_EXTERNREF, 1, true, 3);
    assert_int_equal(create(&fm, NULL, NULL, &inst, NULL, 0), 0);
    assert_int_equal(vmrt__table_grow(inst->tables[0], 2, 77), 1);
    assert_int_equal(inst->tables[0]->size, 3);
    assert_int_equal(inst->tables[0]->elems[0], 0);
    assert_int_equal(inst->tables[0]->elems[2], 77);
    assert_int_equal(vmrt__table_grow(inst->tables[0], 1, 0), -1);
    assert_int_equal(vmrt__table_grow(inst->tables[0], 0, 0), 3);
    vmrt_instance_free(inst);

    fm_init(&fm);
    fm_table(&fm, VMRT_FUNCREF, 0, false, 0);
    assert_int_equal(create(&fm, NULL, NULL, &inst, NULL, 0), 0);
    assert_int_equal(vmrt__table_grow(inst->tables[0], UINT32_MAX, 0), -1);
    assert_int_equal(vmrt__table_grow(inst->tables[0], 5, 0), 0);
    vmrt_instance_free(inst);

    fm_init(&fm);
    fm_table(&fm, VMRT_FUNCREF, VMRT_MAX_TABLE_SIZE + 1, false, 0);
    assert_int_equal(create(&fm, NULL, NULL, &inst, NULL, 0), VMRT_ELIMIT);
}

static void
test_functype_eq_is_structural(void **state)
{
    uint8_t t1[] = {VMRT_I32, VMRT_I64, VMRT_F32};
    uint8_t t2[] = {VMRT_I32, VMRT_I64, VMRT_F32};
    vmrt__functype_t a = {2, 1, t1}, b = {2, 1, t2}, c = {1, 2, t2};
    vmrt__functype_t e1 = {0, 0, NULL}, e2 = {0, 0, t1};

    (void)state;
    assert_true(vmrt__functype_eq(&a, &b));
    assert_false(vmrt__functype_eq(&a, &c));
    assert_true(vmrt__functype_eq(&e1, &e2));
    t2[1] = VMRT_F64;
    assert_false(vmrt__functype_eq(&a, &b));
}

static void
test_instance_accessors(void **state)
{
    fake_mod_t fm;
    vmrt_instance_t *inst = NULL;
    vmrt_extern_kind_t kind;
    uint32_t idx, np, nr;
    const uint8_t *p, *r;
    vmrt_linker_t *lk = vmrt_linker_create();
    int user;

    (void)state;
    assert_int_equal(vmrt_linker_define_func(lk, "env", "f", "(i)i",
                                             host_add1, NULL), 0);
    fm_init(&fm);
    fm_import_func(&fm, "env", "f", 0);
    fm_global(&fm, VMRT_F32, false, 0x43, 0x3f800000u);
    fm_export(&fm, "one", VMRT_EXTERN_GLOBAL, 0);
    fm_export(&fm, "f", VMRT_EXTERN_FUNC, 0);
    assert_int_equal(create(&fm, lk, NULL, &inst, NULL, 0), 0);
    vmrt_linker_free(lk);

    assert_ptr_equal(vmrt_instance_module(inst), &fm.m);
    vmrt_instance_set_user(inst, &user);
    assert_ptr_equal(vmrt_instance_user(inst), &user);
    assert_int_equal(vmrt_instance_find_export(inst, "f", &kind, &idx), 0);
    assert_int_equal(kind, VMRT_EXTERN_FUNC);
    assert_int_equal(idx, 0);
    assert_int_equal(vmrt_instance_find_export(inst, "on", &kind, &idx),
                     VMRT_ENOTFOUND);
    assert_int_equal(vmrt_instance_func_type(inst, 0, &np, &p, &nr, &r), 0);
    assert_int_equal(np, 1);
    assert_int_equal(nr, 1);
    assert_int_equal(p[0], VMRT_I32);
    assert_int_equal(r[0], VMRT_I32);
    assert_int_equal(vmrt_instance_func_type(inst, 1, &np, &p, &nr, &r),
                     VMRT_ENOTFOUND);
    {
        vmrt_val_t v;
        assert_int_equal(vmrt_instance_global_get(inst, 0, &v), 0);
        assert_int_equal(v.type, VMRT_F32);
        assert_int_equal(v.of.f32, 0x3f800000u);
        assert_int_equal(vmrt_instance_global_get(inst, 1, &v),
                         VMRT_ENOTFOUND);
    }
    /* No start function: nothing to run. */
    assert_int_equal(vmrt_instance_start(inst, NULL), 0);
    vmrt_instance_free(inst);
    vmrt_instance_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linker_define_func_checks_signature),
        cmocka_unit_test(
            test_instance_host_import_matches_type_and_outlives_linker),
        cmocka_unit_test(test_instance_unknown_import_is_unlinkable),
        cmocka_unit_test(
            test_instance_imports_globals_from_registered_instance),
        cmocka_unit_test(test_instance_memory_import_limits_subtyping),
        cmocka_unit_test(
            test_instance_table_import_checks_elemtype_and_limits),
        cmocka_unit_test(test_instance_data_oob_keeps_earlier_writes),
        cmocka_unit_test(test_instance_elem_oob_keeps_earlier_writes),
        cmocka_unit_test(test_instance_elem_segments_modes),
        cmocka_unit_test(test_instance_reexported_func_keeps_identity),
        cmocka_unit_test(test_memory_grow_stops_at_the_cap),
        cmocka_unit_test(test_instance_memory_above_cap_is_elimit),
        cmocka_unit_test(test_table_grow_respects_max),
        cmocka_unit_test(test_functype_eq_is_structural),
        cmocka_unit_test(test_instance_accessors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
