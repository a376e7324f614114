/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_ENGINE_MODULE_H
#define VMRT_ENGINE_MODULE_H

/*
 * The decoded module: what decode.c produces and compile.c / instance.c
 * consume.  decode.c checks the binary format and every module-level
 * validation rule (indices, limits, constant expressions, segments, exports,
 * start, C.refs); compile.c validates and translates function bodies.
 *
 * Everything here is immutable after vmrt_module_load() returns, so a module
 * may be shared between instances.
 */

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

#include "vmrt/vmrt.h"

/* Implementation limits (JS-API values where it defines them). */
#ifndef VMRT_MAX_TYPES
#define VMRT_MAX_TYPES 1000000u
#endif
#ifndef VMRT_MAX_FUNCS
#define VMRT_MAX_FUNCS 1000000u
#endif
#ifndef VMRT_MAX_IMPORTS
#define VMRT_MAX_IMPORTS 100000u
#endif
#ifndef VMRT_MAX_EXPORTS
#define VMRT_MAX_EXPORTS 100000u
#endif
#ifndef VMRT_MAX_GLOBALS
#define VMRT_MAX_GLOBALS 1000000u
#endif
#ifndef VMRT_MAX_SEGMENTS
#define VMRT_MAX_SEGMENTS 100000u
#endif
#ifndef VMRT_MAX_TABLES
#define VMRT_MAX_TABLES 100000u
#endif
#ifndef VMRT_MAX_PARAMS
#define VMRT_MAX_PARAMS 1000u
#endif
#ifndef VMRT_MAX_RESULTS
#define VMRT_MAX_RESULTS 1000u
#endif
#ifndef VMRT_MAX_LOCALS
#define VMRT_MAX_LOCALS 50000u
#endif
#ifndef VMRT_MAX_FUNC_SIZE
#define VMRT_MAX_FUNC_SIZE 7654321u
#endif
#ifndef VMRT_MAX_TABLE_SIZE
#define VMRT_MAX_TABLE_SIZE 10000000u
#endif
#define VMRT_PAGE_SIZE 65536u
#define VMRT_MAX_PAGES 65536u

typedef struct {
    uint32_t nparams;
    uint32_t nresults;
    uint8_t *types; /* nparams param types, then nresults result types */
} vmrt__functype_t;

#define VMRT__PARAMS(ft) ((ft)->types)
#define VMRT__RESULTS(ft) ((ft)->types + (ft)->nparams)

typedef struct {
    uint32_t min;
    uint32_t max;
    bool has_max;
} vmrt__limits_t;

typedef struct {
    uint8_t elemtype; /* VMRT_FUNCREF or VMRT_EXTERNREF */
    vmrt__limits_t limits;
} vmrt__tabletype_t;

typedef struct {
    uint8_t valtype;
    bool mutable_;
} vmrt__globaltype_t;

/*
 * A validated constant expression: one instruction (the decoder rejects
 * anything else).  op is the opcode: 0x41 i32.const, 0x42 i64.const,
 * 0x43 f32.const, 0x44 f64.const (val = bits), 0x23 global.get (val =
 * global index), 0xd0 ref.null (type = reftype), 0xd2 ref.func (val = func
 * index).  type is the expression's result type.
 */
typedef struct {
    uint8_t op;
    uint8_t type;
    uint64_t val;
} vmrt__constexpr_t;

typedef struct {
    const char *module; /* points into vmrt__module_t.bytes */
    uint32_t module_len;
    const char *name;
    uint32_t name_len;
    uint8_t kind; /* vmrt_extern_kind_t */
    union {
        uint32_t type_idx;          /* func */
        vmrt__tabletype_t table;    /* table */
        vmrt__limits_t mem;         /* memory */
        vmrt__globaltype_t global;  /* global */
    } desc;
} vmrt__import_t;

typedef struct {
    const char *name; /* points into vmrt__module_t.bytes */
    uint32_t name_len;
    uint8_t kind;
    uint32_t index;
} vmrt__export_t;

enum { VMRT__SEG_ACTIVE = 0, VMRT__SEG_PASSIVE = 1, VMRT__SEG_DECLARATIVE = 2 };

typedef struct {
    uint8_t mode;            /* VMRT__SEG_* */
    uint8_t reftype;         /* VMRT_FUNCREF / VMRT_EXTERNREF */
    uint32_t table_idx;      /* active only */
    vmrt__constexpr_t offset; /* active only, type i32 */
    uint32_t ninit;
    vmrt__constexpr_t *init; /* ninit reference-typed expressions */
} vmrt__elem_t;

typedef struct {
    uint8_t mode;            /* VMRT__SEG_ACTIVE or _PASSIVE */
    uint32_t mem_idx;        /* active only */
    vmrt__constexpr_t offset; /* active only, type i32 */
    uint32_t data_off;       /* offset of the bytes within module bytes */
    uint32_t data_len;
} vmrt__data_t;

typedef struct {
    uint32_t body_off; /* module offset of the body (its local decls) */
    uint32_t body_len; /* up to and including the final `end` */
} vmrt__body_t;

struct vmrt__func_code; /* translated code, defined by compile.c */

struct vmrt_module {
    uint8_t *bytes; /* owned copy of the binary */
    size_t len;
    uint8_t sha256[32]; /* of bytes, computed at load (snapshots name it) */

    uint32_t ntypes;
    vmrt__functype_t *types;

    uint32_t nimports;
    vmrt__import_t *imports;

    /* Index spaces: imported entries first, then defined ones. */
    uint32_t nfuncs, nfunc_imports;
    uint32_t *func_types; /* type index of every function */

    uint32_t ntables, ntable_imports;
    vmrt__tabletype_t *tables;

    uint32_t nmems, nmem_imports; /* at most 1 in Wasm 2.0 */
    vmrt__limits_t *mems;

    uint32_t nglobals, nglobal_imports;
    vmrt__globaltype_t *globals;     /* every global's type */
    vmrt__constexpr_t *global_inits; /* defined globals only: [i - nglobal_imports] */

    uint32_t nexports;
    vmrt__export_t *exports;

    bool has_start;
    uint32_t start;

    uint32_t nelems;
    vmrt__elem_t *elems;

    uint32_t ndatas;
    vmrt__data_t *datas;
    bool has_datacount;
    uint32_t datacount;

    /* C.refs: functions that ref.func may name inside function bodies. */
    uint8_t *func_declared; /* nfuncs bytes, 1 = declared */

    /* Defined functions: [i - nfunc_imports]. */
    vmrt__body_t *bodies;
    struct vmrt__func_code *code; /* filled by vmrt__module_compile() */
};

/*
 * vmrt__module_decode: parse `m->bytes` (already set) into `m`, checking
 * the binary format and all module-level validation rules.
 * Return: 0; VMRT_EMALFORMED, VMRT_EINVALID, VMRT_EUNSUPPORTED (SIMD),
 * VMRT_ELIMIT or VMRT_ENOMEM with a reason in err.  On failure `m` may be
 * partly filled; vmrt__module_release() frees it either way.
 */
int vmrt__module_decode(vmrt_module_t *m, char *err, size_t errlen);

/* Free everything vmrt__module_decode() allocated (not m->bytes, not m). */
void vmrt__module_release_decoded(vmrt_module_t *m);

/*
 * vmrt__module_compile: validate and translate every function body.
 * Return: 0; VMRT_EMALFORMED / VMRT_EINVALID / VMRT_EUNSUPPORTED with
 * "func N @0xOFF: reason" in err; VMRT_ELIMIT; VMRT_ENOMEM.
 */
int vmrt__module_compile(vmrt_module_t *m, char *err, size_t errlen);

/* Free what vmrt__module_compile() allocated. */
void vmrt__module_release_code(vmrt_module_t *m);

/* Allocation: every engine allocation goes through these (pool-able). */
void *vmrt__malloc(size_t n);
void *vmrt__calloc(size_t n, size_t size);
void *vmrt__realloc(void *p, size_t n);
void vmrt__free(void *p);

#endif /* VMRT_ENGINE_MODULE_H */
