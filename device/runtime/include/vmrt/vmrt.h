/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_VMRT_H
#define VMRT_VMRT_H

/*
 * vmrt engine: a WebAssembly 2.0 (minus SIMD) interpreter with explicit,
 * restorable stacks and fuel-bounded, resumable execution.
 *
 * Life of a module:
 *   vmrt_module_load()        decode + validate + translate, once
 *   vmrt_linker_*()           describe what imports resolve to
 *   vmrt_instance_create()    instantiate (runs no code)
 *   vmrt_instance_start()     run the start function, if any
 *   vmrt_instance_call()      push a call to an export
 *   vmrt_instance_run()       execute with a fuel budget; may yield/block
 *
 * Thread context: a module is immutable after load and may be shared by
 * instances on any thread.  An instance and the linker are not thread-safe;
 * use each from one thread at a time.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes: 0 is success, failures are negative. */
#define VMRT_ERRNO_MAP(XX)                                                   \
    XX(ENOMEM, -1, "out of memory")                                          \
    XX(EINVAL, -2, "invalid argument")                                       \
    XX(EMALFORMED, -3, "malformed module")                                   \
    XX(EINVALID, -4, "invalid module")                                       \
    XX(EUNSUPPORTED, -5, "unsupported feature")                              \
    XX(EUNLINKABLE, -6, "unlinkable: import not satisfied")                  \
    XX(EUNINSTANTIABLE, -7, "instantiation trapped")                         \
    XX(ENOTFOUND, -8, "not found")                                           \
    XX(ELIMIT, -9, "implementation limit exceeded")                          \
    XX(ESTATE, -10, "operation not allowed in this state")                   \
    XX(EIO, -11, "i/o error")                                                \
    XX(ETYPE, -12, "type mismatch")                                          \
    XX(ECORRUPT, -13, "corrupt snapshot")                                    \
    XX(EMISMATCH, -14, "snapshot is of another module")                      \
    XX(EVERSION, -15, "unknown snapshot version")

enum {
#define VMRT_XX_(name, val, msg) VMRT_##name = (val),
    VMRT_ERRNO_MAP(VMRT_XX_)
#undef VMRT_XX_
};

/** @return a static, human-readable text for a VMRT_E* code. */
const char *vmrt_strerror(int err);

/* Value types, with their binary-format encodings. */
typedef enum {
    VMRT_I32 = 0x7f,
    VMRT_I64 = 0x7e,
    VMRT_F32 = 0x7d,
    VMRT_F64 = 0x7c,
    VMRT_V128 = 0x7b,
    VMRT_FUNCREF = 0x70,
    VMRT_EXTERNREF = 0x6f
} vmrt_valtype_t;

/*
 * A value.  Floats are carried as raw bits so that NaN payloads survive.
 * References: 0 is null.  A funcref is an opaque non-zero handle owned by
 * the engine; an externref is whatever non-zero value the embedder chose.
 */
typedef struct {
    uint8_t type; /* vmrt_valtype_t */
    union {
        int32_t i32;
        int64_t i64;
        uint32_t f32; /* IEEE-754 bits */
        uint64_t f64; /* IEEE-754 bits */
        uint64_t ref;
    } of;
} vmrt_val_t;

/* Kinds of import and export. */
typedef enum {
    VMRT_EXTERN_FUNC = 0,
    VMRT_EXTERN_TABLE = 1,
    VMRT_EXTERN_MEMORY = 2,
    VMRT_EXTERN_GLOBAL = 3
} vmrt_extern_kind_t;

typedef struct vmrt_module vmrt_module_t;
typedef struct vmrt_instance vmrt_instance_t;
typedef struct vmrt_linker vmrt_linker_t;

/* -------------------------------------------------------------------- */
/* Modules                                                              */
/* -------------------------------------------------------------------- */

/**
 * Decode, validate and translate a binary module.
 *
 * @param bytes  the module; borrowed, copied as needed (may be freed after).
 * @param len    its length.
 * @param out    receives the module on success.
 * @param err    caller buffer for a reason such as
 *               "func 3 @0x1a2: type mismatch in i32.add"; may be NULL.
 * @param errlen size of err.
 * @return 0; VMRT_EMALFORMED (binary format), VMRT_EINVALID (validation),
 *         VMRT_EUNSUPPORTED (e.g. SIMD; err names the feature and offset),
 *         VMRT_ELIMIT or VMRT_ENOMEM.
 */
int vmrt_module_load(const uint8_t *bytes, size_t len, vmrt_module_t **out,
                     char *err, size_t errlen);

/** Free a module.  All instances made from it must be gone.  NULL is a no-op. */
void vmrt_module_free(vmrt_module_t *mod);

typedef struct {
    const char *module; /* import only; not NUL-terminated, see *_len */
    uint32_t module_len;
    const char *name;
    uint32_t name_len;
    vmrt_extern_kind_t kind;
    uint32_t index; /* export: index in its index space */
} vmrt_extern_info_t;

/** Number of imports / exports. */
uint32_t vmrt_module_import_count(const vmrt_module_t *mod);
uint32_t vmrt_module_export_count(const vmrt_module_t *mod);
/** Fill `info` for import/export `i`.  Strings valid until module_free. */
int vmrt_module_import_info(const vmrt_module_t *mod, uint32_t i,
                            vmrt_extern_info_t *info);
int vmrt_module_export_info(const vmrt_module_t *mod, uint32_t i,
                            vmrt_extern_info_t *info);

/* -------------------------------------------------------------------- */
/* Host functions and linking                                           */
/* -------------------------------------------------------------------- */

/* Return values of a host function, besides 0 (done). */
#define VMRT_HOST_BLOCK 1 /* not done: call me again on the next run */
#define VMRT_HOST_EXIT 2  /* end the whole call; run returns VMRT_RUN_EXIT */
/* A negative return traps with VMRT_TRAP_HOST. */

/*
 * A host function.  `args` holds the parameters and `results` receives the
 * results, both as raw 64-bit slots: i32 in the low 32 bits (upper bits
 * undefined on input, ignored on output), f32 as bits in the low 32 bits,
 * i64/f64 as 64 bits, references as in vmrt_val_t.  `results` may alias
 * `args`: read every argument before writing a result.
 *
 * Blocking: a host function that cannot finish now returns VMRT_HOST_BLOCK.
 * The run returns VMRT_RUN_BLOCKED and the next run calls it again with
 * the same arguments.  Whatever it must remember across the retry (e.g. a
 * wake-up time) it keeps in its own context, reachable from `inst`.
 *
 * Thread context: called on the thread that runs the instance.
 */
typedef int (*vmrt_host_fn_t)(vmrt_instance_t *inst, void *ctx,
                              const uint64_t *args, uint64_t *results);

/** Create / free a linker.  NULL on allocation failure.  free(NULL) no-op. */
vmrt_linker_t *vmrt_linker_create(void);
void vmrt_linker_free(vmrt_linker_t *lk);

/**
 * Define host function `module`.`name` with signature `sig`, written as
 * params and results in parentheses with i/I/f/F/r/e for
 * i32/i64/f32/f64/funcref/externref: "(iiii)i", "(I)", "()".
 * Names are copied.  `ctx` is borrowed and passed to every call.
 * @return 0, VMRT_EINVAL for a bad signature, VMRT_ENOMEM.
 */
int vmrt_linker_define_func(vmrt_linker_t *lk, const char *module,
                            const char *name, const char *sig,
                            vmrt_host_fn_t fn, void *ctx);

/**
 * Make every export of `inst` importable under module name `module`
 * (the spec suite's `register`).  Borrows `inst`: it must outlive every
 * instance linked against it.
 */
int vmrt_linker_define_instance(vmrt_linker_t *lk, const char *module,
                                vmrt_instance_t *inst);

/* -------------------------------------------------------------------- */
/* Instances                                                            */
/* -------------------------------------------------------------------- */

typedef struct {
    uint32_t max_memory_pages; /* cap for every memory; 0 = spec max 65536 */
    uint32_t value_stack_slots; /* 64-bit slots; 0 = default (64 Ki) */
    uint32_t max_call_depth;    /* frames; 0 = default (10,000) */
} vmrt_limits_t;

/**
 * Instantiate `mod`: resolve imports through `lk` by (module, name, type),
 * allocate memories, tables and globals, apply active element and data
 * segments.  Does not run the start function: see vmrt_instance_start().
 *
 * @param mod    borrowed; must outlive the instance.
 * @param lk     borrowed for the call only; may be NULL if nothing imported.
 * @param limits may be NULL for defaults.
 * @return 0; VMRT_EUNLINKABLE (err names the import),
 *         VMRT_EUNINSTANTIABLE (a segment out of bounds), VMRT_ELIMIT,
 *         VMRT_ENOMEM.
 */
int vmrt_instance_create(vmrt_module_t *mod, vmrt_linker_t *lk,
                         const vmrt_limits_t *limits, vmrt_instance_t **out,
                         char *err, size_t errlen);

/** Free an instance.  NULL is a no-op. */
void vmrt_instance_free(vmrt_instance_t *inst);

/** The module an instance was made from. */
vmrt_module_t *vmrt_instance_module(const vmrt_instance_t *inst);

/** Embedder data slot (e.g. the owning VM or the WASI context). */
void vmrt_instance_set_user(vmrt_instance_t *inst, void *user);
void *vmrt_instance_user(const vmrt_instance_t *inst);

/* Run status, returned by vmrt_instance_run(). */
typedef enum {
    VMRT_RUN_DONE = 0,    /* the call returned; read the results */
    VMRT_RUN_YIELD = 1,   /* fuel spent; run again to continue */
    VMRT_RUN_BLOCKED = 2, /* a host call blocked; run again to retry it */
    VMRT_RUN_TRAP = 3,    /* trapped; see vmrt_instance_trap() */
    VMRT_RUN_EXIT = 4     /* a host function ended the call (proc_exit) */
} vmrt_run_status_t;

/* Trap codes. */
#define VMRT_TRAP_MAP(XX)                                                    \
    XX(UNREACHABLE, 1, "unreachable")                                        \
    XX(MEMORY_OOB, 2, "out of bounds memory access")                         \
    XX(TABLE_OOB, 3, "out of bounds table access")                           \
    XX(DIV_ZERO, 4, "integer divide by zero")                                \
    XX(INT_OVERFLOW, 5, "integer overflow")                                  \
    XX(INVALID_CONVERSION, 6, "invalid conversion to integer")               \
    XX(INDIRECT_TYPE, 7, "indirect call type mismatch")                      \
    XX(NULL_REF, 8, "null reference")                                        \
    XX(UNINIT_ELEM, 9, "uninitialized element")                              \
    XX(STACK_EXHAUSTED, 10, "call stack exhausted")                          \
    XX(HOST, 11, "host function failed")                                     \
    XX(UNDEFINED_ELEM, 12, "undefined element")

typedef enum {
    VMRT_TRAP_NONE = 0,
#define VMRT_XX_(name, val, msg) VMRT_TRAP_##name = (val),
    VMRT_TRAP_MAP(VMRT_XX_)
#undef VMRT_XX_
} vmrt_trap_t;

/** @return static text for a trap code, as the spec suite words it. */
const char *vmrt_trap_str(vmrt_trap_t code);

typedef struct {
    vmrt_trap_t code;
    uint32_t func_index; /* function that trapped */
    uint32_t offset;     /* byte offset of the instruction in the module */
} vmrt_trap_info_t;

/**
 * Run the start function (if any) to completion with unlimited fuel.
 * @return 0, or VMRT_EUNINSTANTIABLE with `info` (may be NULL) filled when
 *         it traps.
 */
int vmrt_instance_start(vmrt_instance_t *inst, vmrt_trap_info_t *info);

/**
 * Find an export by name.
 * @return 0 and fills kind and index, or VMRT_ENOTFOUND.
 */
int vmrt_instance_find_export(const vmrt_instance_t *inst, const char *name,
                              vmrt_extern_kind_t *kind, uint32_t *index);

/** Parameter and result types of function `func_index`. */
int vmrt_instance_func_type(const vmrt_instance_t *inst, uint32_t func_index,
                            uint32_t *nparams, const uint8_t **params,
                            uint32_t *nresults, const uint8_t **results);

/**
 * Prepare a call of function `func_index` with `args` (types must match).
 * Nothing runs until vmrt_instance_run().
 * @return 0; VMRT_ESTATE if a call is already in progress; VMRT_ETYPE.
 */
int vmrt_instance_call(vmrt_instance_t *inst, uint32_t func_index,
                       const vmrt_val_t *args, uint32_t nargs);

/**
 * Execute the pending call until it returns, traps, blocks, exits or has
 * used about `fuel` units.  Fuel is charged at calls and loop back-edges,
 * roughly one unit per internal instruction executed; UINT64_MAX means
 * unlimited.  A charge is refused only once the budget is spent, so every
 * run with fuel > 0 makes progress, and `used` may exceed `fuel` by less
 * than one charge.  A later run continues exactly where this one stopped.
 * @param used  receives the fuel used by this run; may be NULL.
 * @return a vmrt_run_status_t, or VMRT_ESTATE if no call is pending.
 */
int vmrt_instance_run(vmrt_instance_t *inst, uint64_t fuel, uint64_t *used);

/** After VMRT_RUN_DONE: copy up to `n` results.  @return count copied. */
uint32_t vmrt_instance_results(const vmrt_instance_t *inst, vmrt_val_t *out,
                               uint32_t n);

/** After VMRT_RUN_TRAP: details of the trap. */
void vmrt_instance_trap(const vmrt_instance_t *inst, vmrt_trap_info_t *info);

/** Abandon a pending (yielded, blocked) call. */
void vmrt_instance_reset(vmrt_instance_t *inst);

/* Globals, for `get` in the spec suite and for embedders. */
int vmrt_instance_global_get(const vmrt_instance_t *inst, uint32_t index,
                             vmrt_val_t *out);
/** Set a mutable global (the runtime swaps __stack_pointer per thread).
 *  @return 0; VMRT_ENOTFOUND; VMRT_ETYPE (immutable or wrong type). */
int vmrt_instance_global_set(vmrt_instance_t *inst, uint32_t index,
                             const vmrt_val_t *val);

/*
 * Linear memory 0, for host functions.  The pointer is valid until the
 * memory grows (i.e. until the instance runs wasm code again).
 * @return base pointer (NULL if the instance has no memory) and *size.
 */
uint8_t *vmrt_instance_memory(vmrt_instance_t *inst, uint64_t *size);

/* -------------------------------------------------------------------- */
/* Threads: more execution states of one instance                       */
/* -------------------------------------------------------------------- */

/*
 * An instance has one main thread (what vmrt_instance_call/run use).  A
 * thread is another value stack + frame stack over the same memory, tables
 * and globals: the runtime's green threads.  Threads of one instance never
 * run at the same time; the embedder switches between them by running one
 * or another.  Thread ids are small integers, 0 = main, stable across a
 * snapshot: vmrt_snapshot_save() saves every thread and restore recreates
 * them with the same ids.
 */
typedef struct vmrt_thread vmrt_thread_t;

/**
 * Create a thread with its own stacks (sizes from the instance limits).
 * Owned by the instance: freed by vmrt_thread_free or with the instance.
 * The stacks start small (about 1.3 KiB) and grow on demand up to the
 * limits.  The id is the lowest free one (ids of freed threads are reused).
 * @return NULL on allocation failure or beyond the engine's thread limit.
 */
vmrt_thread_t *vmrt_thread_create(vmrt_instance_t *inst);
/** Free a thread.  No-op for NULL, the main thread and a running thread. */
void vmrt_thread_free(vmrt_thread_t *th);

/** The main thread; never NULL. */
vmrt_thread_t *vmrt_instance_main_thread(vmrt_instance_t *inst);
/** The thread whose run is in progress (for host functions), or NULL. */
vmrt_thread_t *vmrt_instance_current_thread(const vmrt_instance_t *inst);
/** Small id: 0 for main; others unique per instance. */
uint32_t vmrt_thread_id(const vmrt_thread_t *th);
vmrt_thread_t *vmrt_thread_by_id(vmrt_instance_t *inst, uint32_t id);
vmrt_instance_t *vmrt_thread_instance(const vmrt_thread_t *th);
void vmrt_thread_set_user(vmrt_thread_t *th, void *user);
void *vmrt_thread_user(const vmrt_thread_t *th);

/* The per-thread twins of vmrt_instance_call/run/results/trap/reset. */
int vmrt_thread_call(vmrt_thread_t *th, uint32_t func_index,
                     const vmrt_val_t *args, uint32_t nargs);
/**
 * Prepare a call through table `table` element `elem` (a C function
 * pointer in wasm32 is a table-0 index), checking the function's type
 * against `nparams` i32 params and no or one i32 result.
 * @return 0; VMRT_ENOTFOUND (null/out of range, no such table);
 *         VMRT_ETYPE; VMRT_ESTATE (a call is in progress);
 *         VMRT_EUNSUPPORTED (a function of another instance that this one
 *         does not import).
 */
int vmrt_thread_call_indirect(vmrt_thread_t *th, uint32_t table,
                              uint32_t elem, const vmrt_val_t *args,
                              uint32_t nargs);
/** As vmrt_instance_run; also VMRT_ESTATE while another thread of the
 *  instance is running (e.g. when called from a host function). */
int vmrt_thread_run(vmrt_thread_t *th, uint64_t fuel, uint64_t *used);
uint32_t vmrt_thread_results(const vmrt_thread_t *th, vmrt_val_t *out,
                             uint32_t n);
void vmrt_thread_trap(const vmrt_thread_t *th, vmrt_trap_info_t *info);
void vmrt_thread_reset(vmrt_thread_t *th);

/* -------------------------------------------------------------------- */
/* Snapshots                                                            */
/* -------------------------------------------------------------------- */

/*
 * A snapshot is an instance's complete execution state in one portable,
 * versioned, checksummed byte string (docs/snapshot-format.md): memory,
 * globals, tables, dropped segments, the value stack and every frame, a
 * pending blocked host call, the module's SHA-256, and sections that host
 * hooks add for state the embedder holds (WASI fds, device handles, ...).
 */

/* A growable buffer that a save hook appends its section to. */
typedef struct vmrt_snap_writer vmrt_snap_writer_t;

/** Append `len` bytes.  @return 0 or VMRT_ENOMEM. */
int vmrt_snap_write(vmrt_snap_writer_t *w, const void *data, size_t len);

/* Four-character tag of a host section, e.g. VMRT_SNAP_TAG('W','A','S','I'). */
#define VMRT_SNAP_TAG(a, b, c, d)                                            \
    ((uint32_t)(uint8_t)(a) | (uint32_t)(uint8_t)(b) << 8 |                   \
     (uint32_t)(uint8_t)(c) << 16 | (uint32_t)(uint8_t)(d) << 24)

/*
 * A host-state hook.  On save, `save` appends the host state of `inst` as
 * the section `tag`.  On restore, `load` gets that section's bytes
 * (borrowed for the call) after the engine's own sections were checked and
 * before they are applied; it must validate them itself.  Both return 0 or
 * a negative VMRT_E* code, which fails the save or restore.
 */
typedef struct {
    uint32_t tag;
    void *ctx;
    int (*save)(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *w);
    int (*load)(void *ctx, vmrt_instance_t *inst, const uint8_t *data,
                size_t len);
} vmrt_snap_hook_t;

/**
 * Serialize the complete execution state of `inst`.  Allowed whenever no
 * run is in progress: idle, yielded, blocked in a host call, or finished.
 *
 * @param hooks   host sections to add, may be NULL if nhooks is 0.
 * @param out     receives the snapshot; free it with vmrt_snapshot_free().
 * @return 0; VMRT_ESTATE (inside a run); VMRT_EUNSUPPORTED (the state
 *         reaches into another wasm instance: shared imported memory,
 *         table or global, or a cross-instance call in progress);
 *         VMRT_ENOMEM; or a hook's error.
 */
int vmrt_snapshot_save(vmrt_instance_t *inst, const vmrt_snap_hook_t *hooks,
                       uint32_t nhooks, uint8_t **out, size_t *len);

/**
 * Check what can be checked of a snapshot without an instance: format,
 * version, checksum, and that it is of `mod` as this engine translates it.
 * Lets an embedder refuse a bad snapshot before it stops anything.
 * @return 0; VMRT_ECORRUPT; VMRT_EVERSION; VMRT_EMISMATCH; VMRT_EINVAL.
 */
int vmrt_snapshot_check(const vmrt_module_t *mod, const uint8_t *buf,
                        size_t len, char *err, size_t errlen);

/** Free a buffer from vmrt_snapshot_save().  NULL is a no-op. */
void vmrt_snapshot_free(uint8_t *buf);

/**
 * Restore `buf` into `inst`: a fresh instance of the same module bytes,
 * linked the same way, whose start function has NOT been run, with no
 * thread but the main one.  Every section is checked before anything is
 * changed; on an error in the engine's sections `inst` is unchanged.  Each
 * host section goes to the hook with its tag; a host section without a
 * hook is an error.  The snapshot's threads already exist (idle, with
 * their ids) when the hooks' `load` runs, and are freed again on error.
 *
 * @return 0; VMRT_ECORRUPT (bad checksum, truncated, inconsistent: err
 *         says what); VMRT_EVERSION; VMRT_EMISMATCH (another module);
 *         VMRT_ELIMIT (exceeds this instance's limits); VMRT_ESTATE;
 *         VMRT_ENOMEM; or a hook's error.
 */
int vmrt_snapshot_restore(vmrt_instance_t *inst, const uint8_t *buf,
                          size_t len, const vmrt_snap_hook_t *hooks,
                          uint32_t nhooks, char *err, size_t errlen);

/** The module's SHA-256 (32 bytes, computed at load). */
const uint8_t *vmrt_module_sha256(const vmrt_module_t *mod);

#ifdef __cplusplus
}
#endif
#endif /* VMRT_VMRT_H */
