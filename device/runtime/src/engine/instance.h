/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_ENGINE_INSTANCE_H
#define VMRT_ENGINE_INSTANCE_H

/*
 * Runtime objects: the contract between instance.c (linking and
 * instantiation) and interp.c (execution).
 *
 * Memories, tables and globals are separate reference-counted objects
 * because an import shares them between instances.  A function instance
 * (vmrt__funcinst_t) is what a funcref points at and what a function import
 * resolves to.
 *
 * Reference representation, everywhere (slots, tables, globals, vmrt_val_t):
 * a 64-bit value, 0 = null; funcref = (uint64_t)(uintptr_t)vmrt__funcinst_t*;
 * externref = the embedder's non-zero value.
 */

#include "module.h"

typedef struct vmrt__memory {
    uint8_t *data;      /* size bytes; NULL when size is 0 */
    uint64_t size;      /* bytes: pages * VMRT_PAGE_SIZE */
    uint32_t pages;
    uint32_t max_pages; /* effective limit: min(declared max, embedder cap) */
    bool has_max;       /* declared max, for import matching */
    uint32_t declared_max;
    uint32_t refs;
} vmrt__memory_t;

typedef struct vmrt__table {
    uint64_t *elems; /* size references */
    uint32_t size;
    uint32_t max;    /* effective limit */
    bool has_max;
    uint32_t declared_max;
    uint8_t elemtype; /* VMRT_FUNCREF / VMRT_EXTERNREF */
    uint32_t refs;
} vmrt__table_t;

typedef struct vmrt__global {
    uint64_t val;
    uint8_t type;
    bool mutable_;
    uint32_t refs;
} vmrt__global_t;

typedef struct vmrt__funcinst {
    vmrt_instance_t *inst; /* owner (NULL for a host function) */
    uint32_t index;        /* index in the owner's function space */
    const vmrt__functype_t *type;
    vmrt_host_fn_t host;   /* host function, or NULL for wasm */
    void *host_ctx;
    uint8_t *host_types;   /* host only: owned storage behind `type` */
} vmrt__funcinst_t;

/* An element segment after instantiation: its references, evaluated. */
typedef struct {
    uint32_t n;     /* 0 once dropped */
    uint64_t *refs;
} vmrt__elemseg_t;

struct vmrt__exec; /* execution state, defined by interp.c */

struct vmrt_instance {
    vmrt_module_t *mod;

    /* Function space: imports resolved, then this module's own. */
    vmrt__funcinst_t **funcs;   /* mod->nfuncs entries */
    vmrt__funcinst_t *own_funcs; /* defined functions, owned */

    vmrt__memory_t *mem;        /* memory 0 or NULL (refcounted) */
    vmrt__table_t **tables;     /* mod->ntables (refcounted) */
    vmrt__global_t **globals;   /* mod->nglobals (refcounted) */

    vmrt__elemseg_t *elemsegs;  /* mod->nelems */
    uint8_t *data_dropped;      /* mod->ndatas flags */

    vmrt_limits_t limits;       /* with defaults filled in */
    struct vmrt__exec *exec;    /* owned; made by vmrt__exec_create() */
    void *user;

    /* Threads by id (NULL = free id); threads[0] owns `exec`. */
    struct vmrt_thread **threads;
    uint32_t cap_threads;
    struct vmrt_thread *cur;    /* the thread inside vmrt_thread_run() */
};

/*
 * Provided by interp.c.  instance.c calls these while creating and freeing
 * an instance; they never run code.
 */
int vmrt__exec_create(vmrt_instance_t *inst);   /* 0 or VMRT_ENOMEM */
void vmrt__exec_free(vmrt_instance_t *inst);

/* Provided by instance.c: grow memory / table, shared by interp.c. */
/* Return: old size in pages / elements, or -1 if it cannot grow. */
int64_t vmrt__memory_grow(vmrt__memory_t *mem, uint32_t delta);
int64_t vmrt__table_grow(vmrt__table_t *tab, uint32_t delta, uint64_t init);

/* Structural equality of function types (call_indirect, import matching). */
bool vmrt__functype_eq(const vmrt__functype_t *a, const vmrt__functype_t *b);

#endif /* VMRT_ENGINE_INSTANCE_H */
