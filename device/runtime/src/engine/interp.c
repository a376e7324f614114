/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The interpreter: executes the internal code of code.h over an
 * engine-owned value stack and frame stack.
 *
 * A wasm-to-wasm call pushes a frame and jumps; it never recurses on the C
 * stack, so a run can stop anywhere (fuel, a blocking host call) and a
 * later run picks up from the saved frames.  While running, ip, fp, the
 * code base, the memory base and size and the fuel live in C locals; they
 * are written back to the current frame only at a call, a return, a yield,
 * a block or a trap.
 *
 * Dispatch is direct threading (GCC/Clang labels as values) with 32-bit
 * cells holding label offsets relative to one base label, or a portable
 * `switch` on opcode numbers when VMRT_ENGINE_SWITCH is defined.  Every
 * handler is written once, between OP() and NEXT(), for both modes.
 */

#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "exec.h"

#if !defined(VMRT_ENGINE_SWITCH) && !defined(__GNUC__)
#define VMRT_ENGINE_SWITCH 1
#endif

/*
 * Loads and stores memcpy host values to and from linear memory, which is
 * little-endian; a big-endian port needs a byte-swap path here.
 */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "interp.c assumes a little-endian host");
#endif
_Static_assert(sizeof(float) == 4 && sizeof(double) == 8,
               "IEEE-754 binary32/binary64 floats required");

#ifndef VMRT_DEFAULT_STACK_SLOTS
#define VMRT_DEFAULT_STACK_SLOTS 65536u
#endif
#ifndef VMRT_DEFAULT_CALL_DEPTH
#define VMRT_DEFAULT_CALL_DEPTH 10000u
#endif

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

const char *const vmrt__op_shape[VMRT__OP_COUNT] = {
#define X_(name, shape) shape,
    VMRT__OPS(X_)
#undef X_
};

const char *const vmrt__op_name[VMRT__OP_COUNT] = {
#define X_(name, shape) #name,
    VMRT__OPS(X_)
#undef X_
};

/* -------------------------------------------------------------------- */
/* Numeric helpers                                                      */
/* -------------------------------------------------------------------- */

static inline float
slot_to_f32(uint64_t s)
{
    uint32_t b = (uint32_t)s;
    float f;

    memcpy(&f, &b, sizeof(f));
    return f;
}

static inline uint64_t
f32_to_slot(float f)
{
    uint32_t b;

    memcpy(&b, &f, sizeof(b));
    return b;
}

static inline double
slot_to_f64(uint64_t s)
{
    double d;

    memcpy(&d, &s, sizeof(d));
    return d;
}

static inline uint64_t
f64_to_slot(double d)
{
    uint64_t b;

    memcpy(&b, &d, sizeof(b));
    return b;
}

/*
 * Wasm min/max: a NaN operand gives a NaN (a + b propagates it, quieted),
 * and -0 orders below +0, which C's comparisons do not see.
 */
static inline float
wasm_fminf(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline float
wasm_fmaxf(float a, float b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

static inline double
wasm_fmin(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? a : b;
    return a < b ? a : b;
}

static inline double
wasm_fmax(double a, double b)
{
    if (isnan(a) || isnan(b))
        return a + b;
    if (a == b)
        return signbit(a) ? b : a;
    return a > b ? a : b;
}

/*
 * Rounding to an integral value: the inline expansions of floorf() and
 * friends may hand back a signalling NaN unchanged, but wasm wants an
 * arithmetic (quiet) NaN, which x + x makes.
 */
#define ROUND_FN(name, T, fn)                                                \
    static inline T name(T x)                                                \
    {                                                                        \
        return isnan(x) ? x + x : fn(x);                                     \
    }
ROUND_FN(wasm_ceilf, float, ceilf)
ROUND_FN(wasm_floorf, float, floorf)
ROUND_FN(wasm_truncf, float, truncf)
ROUND_FN(wasm_nearestf, float, nearbyintf)
ROUND_FN(wasm_ceil, double, ceil)
ROUND_FN(wasm_floor, double, floor)
ROUND_FN(wasm_trunc, double, trunc)
ROUND_FN(wasm_nearest, double, nearbyint)

#if defined(__GNUC__)
static inline uint32_t
clz32(uint32_t x)
{
    return x == 0 ? 32 : (uint32_t)__builtin_clz(x);
}

static inline uint32_t
ctz32(uint32_t x)
{
    return x == 0 ? 32 : (uint32_t)__builtin_ctz(x);
}

static inline uint32_t
popcnt32(uint32_t x)
{
    return (uint32_t)__builtin_popcount(x);
}

static inline uint64_t
clz64(uint64_t x)
{
    return x == 0 ? 64 : (uint64_t)__builtin_clzll(x);
}

static inline uint64_t
ctz64(uint64_t x)
{
    return x == 0 ? 64 : (uint64_t)__builtin_ctzll(x);
}

static inline uint64_t
popcnt64(uint64_t x)
{
    return (uint64_t)__builtin_popcountll(x);
}
#else
static inline uint64_t
clz64(uint64_t x)
{
    uint64_t n = 0;

    if (x == 0)
        return 64;
    while ((x & ((uint64_t)1 << 63)) == 0) {
        x <<= 1;
        n++;
    }
    return n;
}

static inline uint64_t
ctz64(uint64_t x)
{
    uint64_t n = 0;

    if (x == 0)
        return 64;
    while ((x & 1) == 0) {
        x >>= 1;
        n++;
    }
    return n;
}

static inline uint64_t
popcnt64(uint64_t x)
{
    uint64_t n = 0;

    while (x != 0) {
        x &= x - 1;
        n++;
    }
    return n;
}

static inline uint32_t
clz32(uint32_t x)
{
    return (uint32_t)clz64(x) - 32;
}

static inline uint32_t
ctz32(uint32_t x)
{
    return x == 0 ? 32 : (uint32_t)ctz64(x);
}

static inline uint32_t
popcnt32(uint32_t x)
{
    return (uint32_t)popcnt64(x);
}
#endif

static inline uint32_t
rotl32(uint32_t a, uint32_t n)
{
    n &= 31;
    return (a << n) | (a >> ((32 - n) & 31));
}

static inline uint32_t
rotr32(uint32_t a, uint32_t n)
{
    n &= 31;
    return (a >> n) | (a << ((32 - n) & 31));
}

static inline uint64_t
rotl64(uint64_t a, uint64_t n)
{
    n &= 63;
    return (a << n) | (a >> ((64 - n) & 63));
}

static inline uint64_t
rotr64(uint64_t a, uint64_t n)
{
    n &= 63;
    return (a >> n) | (a << ((64 - n) & 63));
}

/*
 * Bit-exact sign operations: they must keep NaN payloads, which float
 * arithmetic would not promise.
 */
#define F32_SIGN 0x80000000u
#define F64_SIGN 0x8000000000000000u

/*
 * Trap sites: find the module offset of the instruction at code offset
 * `off`.  Return: the offset of the last site at or before `off`, or 0 if
 * the function has none.
 */
static uint32_t
site_lookup(const vmrt__func_code_t *fc, uint32_t off)
{
    uint32_t lo = 0, hi = fc->nsites;

    if (fc->sites == NULL || hi == 0)
        return 0;
    /* Invariant: sites before lo are <= off, sites from hi on are > off. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (fc->sites[2 * mid] <= off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? fc->sites[1] : fc->sites[2 * (lo - 1) + 1];
}

/*
 * exec_grow: make room for `slots` value slots and `depth` frames above
 * the trampoline, doubling what is allocated so that a deepening
 * recursion reallocates only log(n) times.  New slots are zeroed, so a
 * snapshot never writes uninitialised bytes.
 * Return: 0, VMRT_ELIMIT (beyond the limits) or VMRT_ENOMEM.
 */
static int
exec_grow(vmrt__exec_t *ex, uint64_t slots, uint32_t depth)
{
    if (slots > ex->slot_limit || depth > ex->max_depth)
        return VMRT_ELIMIT;
    if (slots > ex->nslots) {
        uint64_t n = (uint64_t)ex->nslots * 2;
        uint64_t *p;

        if (n < slots)
            n = slots;
        if (n > ex->slot_limit)
            n = ex->slot_limit;
        if (n > SIZE_MAX / sizeof(*p))
            return VMRT_ENOMEM;
        if ((p = vmrt__realloc(ex->stack, (size_t)n * sizeof(*p))) == NULL)
            return VMRT_ENOMEM;
        memset(p + ex->nslots, 0, (size_t)(n - ex->nslots) * sizeof(*p));
        ex->stack = p;
        ex->nslots = (uint32_t)n;
    }
    if (depth > ex->depth_cap) {
        uint64_t n = (uint64_t)ex->depth_cap * 2;
        vmrt__frame_t *p;

        if (n < depth)
            n = depth;
        if (n > ex->max_depth)
            n = ex->max_depth;
        if (n + 1 > SIZE_MAX / sizeof(*p))
            return VMRT_ENOMEM;
        if ((p = vmrt__realloc(ex->frames,
                               (size_t)(n + 1) * sizeof(*p))) == NULL)
            return VMRT_ENOMEM;
        ex->frames = p;
        ex->depth_cap = (uint32_t)n;
    }
    return 0;
}

int
vmrt__exec_reserve(vmrt__exec_t *ex, uint64_t slots, uint32_t depth)
{
    return exec_grow(ex, slots, depth);
}

/*
 * Index of `inst` in the exec's instance table, adding it if new.
 * Return: 0 and *idx, or VMRT_ENOMEM / VMRT_ELIMIT.
 */
static int
exec_inst_index(vmrt__exec_t *ex, vmrt_instance_t *inst, uint32_t *idx)
{
    uint32_t i;

    for (i = 0; i < ex->ninsts; i++) {
        if (ex->insts[i] == inst) {
            *idx = i;
            return 0;
        }
    }
    if (ex->ninsts == ex->cap_insts) {
        uint32_t cap = ex->cap_insts * 2;
        vmrt_instance_t **n;

        if (cap > 65536u)
            return VMRT_ELIMIT;
        n = vmrt__realloc(ex->insts, cap * sizeof(*n));
        if (n == NULL)
            return VMRT_ENOMEM;
        ex->insts = n;
        ex->cap_insts = cap;
    }
    ex->insts[ex->ninsts] = inst;
    *idx = ex->ninsts++;
    return 0;
}

/* Stands in for a missing memory so that handlers need no NULL test. */
static vmrt__memory_t no_memory;

/* -------------------------------------------------------------------- */
/* The interpreter                                                      */
/* -------------------------------------------------------------------- */

#ifdef VMRT_ENGINE_SWITCH
#define OP(name) case VMRT__OP_##name:
#define OP_DONE case VMRT__OP_COUNT:
#define NEXT() goto dispatch
#else
#define LABEL_OFF(l) ((int32_t)((char *)&&l - (char *)&&L_unreachable))
#define OP(name) L_##name:
#define OP_DONE L_done_:
#define NEXT() goto *(void *)((char *)&&L_unreachable + (int32_t)*ip)
#endif

#define TRAP(code)                                                           \
    do {                                                                     \
        tc = VMRT_TRAP_##code;                                               \
        goto trap;                                                           \
    } while (0)

/*
 * A call needs `need` slots or one more frame than are allocated: grow
 * the stacks (up to the limits, else trap) and reload every local that
 * points into them.  The caller then retries the call from the top.
 */
#define GROW_STACKS(need)                                                    \
    do {                                                                     \
        uint32_t d_ = (uint32_t)(fr - ex->frames);                           \
        if (exec_grow(ex, (need), d_ + 1) != 0)                              \
            TRAP(STACK_EXHAUSTED);                                           \
        stack = ex->stack;                                                   \
        nslots = ex->nslots;                                                 \
        fr = ex->frames + d_;                                                \
        frlim = ex->frames + ex->depth_cap;                                  \
        fp = stack + fr->fp;                                                 \
    } while (0)

/* Operand access by cell position. */
#define U32(k) ((uint32_t)fp[ip[k]])
#define S32(k) ((int32_t)(uint32_t)fp[ip[k]])
#define U64(k) (fp[ip[k]])
#define S64(k) ((int64_t)fp[ip[k]])
#define F32(k) (slot_to_f32(fp[ip[k]]))
#define F64(k) (slot_to_f64(fp[ip[k]]))
#define DST fp[ip[1]]

/* Handler bodies: DAB binary, DA unary; the result expression uses a, b. */
#define BIN(T, RD, WR)                                                       \
    {                                                                        \
        T a = RD(2), b = RD(3);                                              \
        DST = WR;                                                            \
        ip += 4;                                                             \
        NEXT();                                                              \
    }
#define UN(T, RD, WR)                                                        \
    {                                                                        \
        T a = RD(2);                                                         \
        DST = WR;                                                            \
        ip += 3;                                                             \
        NEXT();                                                              \
    }
#define BIN_I32(e) BIN(uint32_t, U32, (uint32_t)(e))
#define BIN_I64(e) BIN(uint64_t, U64, (uint64_t)(e))
#define CMP_F32(e) BIN(float, F32, (uint64_t)(e))
#define CMP_F64(e) BIN(double, F64, (uint64_t)(e))
#define BIN_F32(e) BIN(float, F32, f32_to_slot(e))
#define BIN_F64(e) BIN(double, F64, f64_to_slot(e))
#define UN_F32(e) UN(float, F32, f32_to_slot(e))
#define UN_F64(e) UN(double, F64, f64_to_slot(e))

/*
 * Handlers that may call into C (libm, memset, helpers) reload mem and
 * msize afterwards.  They are then never live across a call, so the
 * compiler can keep them in caller-saved registers instead of spilling
 * them for every load and store.
 */
#define UN_CALL(T, RD, WR)                                                   \
    {                                                                        \
        T a = RD(2);                                                         \
        DST = WR;                                                            \
        RELOAD_MEM();                                                        \
        ip += 3;                                                             \
        NEXT();                                                              \
    }
#define UN_F32C(e) UN_CALL(float, F32, f32_to_slot(e))
#define UN_F64C(e) UN_CALL(double, F64, f64_to_slot(e))

/* Loads: address fp[A] + O, bounds-checked in 64 bits. */
#define LOAD(T, conv)                                                        \
    {                                                                        \
        uint64_t ea = (uint64_t)U32(2) + ip[3];                              \
        T v;                                                                 \
        if (UNLIKELY(ea + sizeof(T) > msize))                                \
            TRAP(MEMORY_OOB);                                                \
        memcpy(&v, mem + ea, sizeof(T));                                     \
        DST = (conv);                                                        \
        ip += 4;                                                             \
        NEXT();                                                              \
    }
#define STORE(T)                                                             \
    {                                                                        \
        uint64_t ea = (uint64_t)U32(1) + ip[3];                              \
        T v = (T)U64(2);                                                     \
        if (UNLIKELY(ea + sizeof(T) > msize))                                \
            TRAP(MEMORY_OOB);                                                \
        memcpy(mem + ea, &v, sizeof(T));                                     \
        ip += 4;                                                             \
        NEXT();                                                              \
    }

/*
 * Float to integer.  lo and hi are the nearest values of the source type
 * just outside the target range, so the test is exact; NaN fails both.
 */
#define TRUNC(FT, RD, IT, lo, hi)                                            \
    {                                                                        \
        FT x = RD(2);                                                        \
        if (UNLIKELY(!(x > (lo) && x < (hi)))) {                             \
            if (isnan(x))                                                    \
                TRAP(INVALID_CONVERSION);                                    \
            TRAP(INT_OVERFLOW);                                              \
        }                                                                    \
        DST = (uint64_t)(IT)x;                                               \
        ip += 3;                                                             \
        NEXT();                                                              \
    }
#define TRUNC_SAT(FT, RD, IT, lo, hi, min, max)                              \
    {                                                                        \
        FT x = RD(2);                                                        \
        IT r;                                                                \
        if (isnan(x))                                                        \
            r = 0;                                                           \
        else if (x <= (lo))                                                  \
            r = (min);                                                       \
        else if (x >= (hi))                                                  \
            r = (max);                                                       \
        else                                                                 \
            r = (IT)x;                                                       \
        DST = (uint64_t)r;                                                   \
        ip += 3;                                                             \
        NEXT();                                                              \
    }

/* Fused compare-and-branch, ABT. */
#define BR_CMP(T, RD, op)                                                    \
    {                                                                        \
        T a = RD(1), b = RD(2);                                              \
        ip = (a op b) ? code_base + ip[3] : ip + 4;                          \
        NEXT();                                                              \
    }

/* The same against an immediate, AIT. */
#define BR_CMP_RI(T, RD, op)                                                 \
    {                                                                        \
        T a = RD(1), b = (T)ip[2];                                           \
        ip = (a op b) ? code_base + ip[3] : ip + 4;                          \
        NEXT();                                                              \
    }

/*
 * Fused back-edges, ABTQ and AITQ: the test of a br_if_back made by a
 * compare.  As br_if_back, they charge only when taken and stop before
 * charging when the fuel is spent, so a resumed run re-tests.
 */
#define BACK_CMP_(a, b, op)                                                  \
    {                                                                        \
        if ((a)op(b)) {                                                      \
            uint32_t q = ip[4];                                              \
            if (UNLIKELY(fuel <= 0))                                         \
                goto yield;                                                  \
            fuel -= q;                                                       \
            ip = code_base + ip[3];                                          \
        } else {                                                             \
            ip += 5;                                                         \
        }                                                                    \
        NEXT();                                                              \
    }
#define BACK_CMP(T, RD, op) BACK_CMP_((T)RD(1), (T)RD(2), op)
#define BACK_CMP_RI(T, RD, op) BACK_CMP_((T)RD(1), (T)ip[2], op)

/* Immediate forms, DAI; I is sign-extended for i64. */
#define RI_I32(e)                                                            \
    {                                                                        \
        uint32_t a = U32(2), b = ip[3];                                      \
        DST = (uint32_t)(e);                                                 \
        ip += 4;                                                             \
        NEXT();                                                              \
    }
#define RI_I64(e)                                                            \
    {                                                                        \
        uint64_t a = U64(2), b = (uint64_t)(int64_t)(int32_t)ip[3];          \
        DST = (uint64_t)(e);                                                 \
        ip += 4;                                                             \
        NEXT();                                                              \
    }

/*
 * Loads whose address is an add, DABO (fp[A] + fp[B]) and DAIO
 * (fp[A] + I): the 32-bit sum wraps exactly as the i32.add it replaces.
 */
#define LOAD_X(T, conv, addend)                                              \
    {                                                                        \
        uint64_t ea = (uint64_t)(uint32_t)(U32(2) + (addend)) + ip[4];       \
        T v;                                                                 \
        if (UNLIKELY(ea + sizeof(T) > msize))                                \
            TRAP(MEMORY_OOB);                                                \
        memcpy(&v, mem + ea, sizeof(T));                                     \
        DST = (conv);                                                        \
        ip += 5;                                                             \
        NEXT();                                                              \
    }

/*
 * Binary ops whose right operand is loaded, DABO: v is the value at
 * fp[B] + O, read as the load it replaces would (same bounds check).
 */
#define BIN_M(T, e)                                                          \
    {                                                                        \
        uint64_t ea = (uint64_t)U32(3) + ip[4];                              \
        T v;                                                                 \
        if (UNLIKELY(ea + sizeof(T) > msize))                                \
            TRAP(MEMORY_OOB);                                                \
        memcpy(&v, mem + ea, sizeof(T));                                     \
        DST = (e);                                                           \
        ip += 5;                                                             \
        NEXT();                                                              \
    }

/*
 * The memory object is not kept in a local: fewer long-lived locals leave
 * registers for mem and msize, which loads and stores use.
 */
#define MEMO (ci->mem != NULL ? ci->mem : &no_memory)
#define RELOAD_MEM()                                                         \
    do {                                                                     \
        const vmrt__memory_t *m_ = MEMO;                                     \
        mem = m_->data;                                                      \
        msize = m_->size;                                                    \
    } while (0)

/* Switch every cached view of the running instance. */
#define LOAD_INST(in, idx)                                                   \
    do {                                                                     \
        ci = (in);                                                           \
        cidx = (idx);                                                        \
        funcs = ci->funcs;                                                   \
        globals = ci->globals;                                               \
        tables = ci->tables;                                                 \
        RELOAD_MEM();                                                        \
        mcode = ci->mod->code;                                               \
        nimp = ci->mod->nfunc_imports;                                       \
    } while (0)

#define FRAME_CODE(f)                                                        \
    ((f)->func == VMRT__FRAME_ENTRY ? ex->tramp                              \
                                    : mcode[(f)->func - nimp].code)

/*
 * interp: run `ex` from its top frame with `budget` fuel.  With `table`
 * non-NULL it only returns the label-offset table of the threaded
 * dispatcher (the labels exist only inside this function) and runs nothing.
 * Return: a vmrt_run_status_t; *used receives the fuel spent.
 *
 * noinline/noclone: the label offsets handed out must be those of the one
 * copy of this function that runs.
 */
#if defined(__clang__)
__attribute__((noinline))
#elif defined(__GNUC__)
__attribute__((noinline, noclone))
#endif
static int
interp(vmrt__exec_t *ex, uint64_t budget, uint64_t *used,
       const int32_t **table)
{
#ifndef VMRT_ENGINE_SWITCH
    static const int32_t labels[VMRT__OP_COUNT + 1] = {
#define X_(name, shape) [VMRT__OP_##name] = LABEL_OFF(L_##name),
        VMRT__OPS(X_)
#undef X_
        [VMRT__OP_COUNT] = LABEL_OFF(L_done_),
    };

    if (table != NULL) {
        *table = labels;
        return 0;
    }
#else
    (void)table;
#endif
    vmrt_instance_t *ci;
    uint32_t cidx;
    vmrt__funcinst_t **funcs;
    vmrt__global_t **globals;
    vmrt__table_t **tables;
    uint8_t *mem;
    uint64_t msize;
    const vmrt__func_code_t *mcode;
    uint32_t nimp;
    /* The stacks may be reallocated by a call that grows them. */
    uint64_t *stack = ex->stack;
    uint32_t nslots = ex->nslots;
    vmrt__frame_t *fr = ex->frames + ex->top;
    vmrt__frame_t *frlim = ex->frames + ex->depth_cap;
    uint64_t *fp;
    const vmrt__cell_t *ip, *code_base;
    /*
     * Signed, so that a charge may overdraw it once: a run refuses a charge
     * only when the budget is already spent, so every run with fuel > 0
     * makes progress and overshoots by less than one charge.
     */
    const int64_t start = budget > (uint64_t)INT64_MAX ? INT64_MAX
                                                       : (int64_t)budget;
    int64_t fuel = start;
    vmrt_trap_t tc;
    /* Call in progress: callee, its code, callee base, caller's op size. */
    const vmrt__funcinst_t *fi;
    const vmrt__func_code_t *fc;
    uint32_t cb, clen, cfunc, nidx;
    uint32_t nfpi; /* callee frame base, slot index */

    LOAD_INST(ex->insts[fr->inst], fr->inst);
    fp = stack + fr->fp;
    code_base = FRAME_CODE(fr);
    ip = code_base + fr->ip;

#ifdef VMRT_ENGINE_SWITCH
dispatch:
    switch ((vmrt__op_t)*ip) {
#else
    NEXT();
    {
#endif

    /* --- control ------------------------------------------------------ */
    OP(unreachable)
        TRAP(UNREACHABLE);

    OP(br)
        ip = code_base + ip[1];
        NEXT();

    OP(br_if)
        ip = U32(1) != 0 ? code_base + ip[2] : ip + 3;
        NEXT();

    OP(br_unless)
        ip = U32(1) == 0 ? code_base + ip[2] : ip + 3;
        NEXT();

    OP(br_back)
    {
        uint32_t q = ip[2];
        if (UNLIKELY(fuel <= 0))
            goto yield;
        fuel -= q;
        ip = code_base + ip[1];
        NEXT();
    }

    OP(br_if_back)
        if (U32(1) != 0) {
            uint32_t q = ip[3];
            if (UNLIKELY(fuel <= 0))
                goto yield;
            fuel -= q;
            ip = code_base + ip[2];
        } else {
            ip += 4;
        }
        NEXT();

    OP(br_table)
    {
        uint32_t i = U32(1), n = ip[2];
        if (i > n)
            i = n;
        ip = code_base + ip[3 + i];
        NEXT();
    }

    OP(ret)
        fr--;
        if (UNLIKELY(fr->inst != cidx)) {
            LOAD_INST(ex->insts[fr->inst], fr->inst);
        } else {
            /* The callee (or a host function it called) may have grown it. */
            RELOAD_MEM();
        }
        fp = stack + fr->fp;
        code_base = FRAME_CODE(fr);
        ip = code_base + fr->ip;
        NEXT();

    OP(call)
        cfunc = ip[1];
        cb = ip[2];
        clen = 3;
        if (LIKELY(cfunc >= nimp)) {
            fc = &mcode[cfunc - nimp];
            goto call_own;
        }
        fi = funcs[cfunc];
        goto call_any;

    OP(call_indirect)
    {
        const vmrt__table_t *t = tables[ip[2]];
        const vmrt__functype_t *want = &ci->mod->types[ip[1]];
        uint32_t i = U32(3);
        if (UNLIKELY(i >= t->size))
            TRAP(UNDEFINED_ELEM);
        fi = (const vmrt__funcinst_t *)(uintptr_t)t->elems[i];
        if (UNLIKELY(fi == NULL))
            TRAP(UNINIT_ELEM);
        if (fi->type != want) {
            if (!vmrt__functype_eq(fi->type, want))
                TRAP(INDIRECT_TYPE);
            RELOAD_MEM();
        }
        cb = ip[4];
        clen = 5;
        goto call_any;
    }

    /* --- moves and constants ------------------------------------------ */
    OP(mov)
        DST = U64(2);
        ip += 3;
        NEXT();

    OP(const32)
        DST = ip[2];
        ip += 3;
        NEXT();

    OP(const64)
        DST = (uint64_t)ip[2] | ((uint64_t)ip[3] << 32);
        ip += 4;
        NEXT();

    OP(select)
        DST = U32(2) != 0 ? U64(3) : U64(4);
        ip += 5;
        NEXT();

    OP(global_get)
        DST = globals[ip[2]]->val;
        ip += 3;
        NEXT();

    OP(global_set)
        globals[ip[1]]->val = U64(2);
        ip += 3;
        NEXT();

    /* --- memory ------------------------------------------------------- */
    OP(i32_load) LOAD(uint32_t, v)
    OP(i64_load) LOAD(uint64_t, v)
    OP(i32_load8_s) LOAD(int8_t, (uint32_t)(int32_t)v)
    OP(i32_load8_u) LOAD(uint8_t, (uint64_t)v)
    OP(i32_load16_s) LOAD(int16_t, (uint32_t)(int32_t)v)
    OP(i32_load16_u) LOAD(uint16_t, (uint64_t)v)
    OP(i64_load8_s) LOAD(int8_t, (uint64_t)(int64_t)v)
    OP(i64_load8_u) LOAD(uint8_t, (uint64_t)v)
    OP(i64_load16_s) LOAD(int16_t, (uint64_t)(int64_t)v)
    OP(i64_load16_u) LOAD(uint16_t, (uint64_t)v)
    OP(i64_load32_s) LOAD(int32_t, (uint64_t)(int64_t)v)
    OP(i64_load32_u) LOAD(uint32_t, (uint64_t)v)
    OP(store8) STORE(uint8_t)
    OP(store16) STORE(uint16_t)
    OP(store32) STORE(uint32_t)
    OP(store64) STORE(uint64_t)

    OP(memory_size)
        DST = MEMO->pages;
        ip += 2;
        NEXT();

    OP(memory_grow)
    {
        int64_t r = -1;
        if (ci->mem != NULL)
            r = vmrt__memory_grow(ci->mem, U32(2));
        RELOAD_MEM();
        DST = (uint32_t)r;
        ip += 3;
        NEXT();
    }

    OP(memory_fill)
    {
        uint32_t d = U32(1), n = U32(3);
        if ((uint64_t)d + n > msize)
            TRAP(MEMORY_OOB);
        if (n != 0)
            memset(mem + d, (int)(uint8_t)U64(2), n);
        RELOAD_MEM();
        ip += 4;
        NEXT();
    }

    OP(memory_copy)
    {
        uint32_t d = U32(1), s = U32(2), n = U32(3);
        if ((uint64_t)d + n > msize || (uint64_t)s + n > msize)
            TRAP(MEMORY_OOB);
        if (n != 0)
            memmove(mem + d, mem + s, n);
        RELOAD_MEM();
        ip += 4;
        NEXT();
    }

    OP(memory_init)
    {
        const vmrt__data_t *seg = &ci->mod->datas[ip[1]];
        uint32_t d = U32(2), s = U32(3), n = U32(4);
        uint32_t len = ci->data_dropped[ip[1]] ? 0 : seg->data_len;
        if ((uint64_t)s + n > len || (uint64_t)d + n > msize)
            TRAP(MEMORY_OOB);
        if (n != 0)
            memcpy(mem + d, ci->mod->bytes + seg->data_off + s, n);
        RELOAD_MEM();
        ip += 5;
        NEXT();
    }

    OP(data_drop)
        ci->data_dropped[ip[1]] = 1;
        ip += 2;
        NEXT();

    /* --- tables and references ---------------------------------------- */
    OP(table_get)
    {
        const vmrt__table_t *t = tables[ip[2]];
        uint32_t i = U32(3);
        if (i >= t->size)
            TRAP(TABLE_OOB);
        DST = t->elems[i];
        ip += 4;
        NEXT();
    }

    OP(table_set)
    {
        vmrt__table_t *t = tables[ip[1]];
        uint32_t i = U32(2);
        if (i >= t->size)
            TRAP(TABLE_OOB);
        t->elems[i] = U64(3);
        ip += 4;
        NEXT();
    }

    OP(table_size)
        DST = tables[ip[2]]->size;
        ip += 3;
        NEXT();

    OP(table_grow)
    {
        int64_t r = vmrt__table_grow(tables[ip[2]], U32(4), U64(3));
        DST = (uint32_t)r;
        RELOAD_MEM();
        ip += 5;
        NEXT();
    }

    OP(table_fill)
    {
        vmrt__table_t *t = tables[ip[1]];
        uint32_t i = U32(2), n = U32(4);
        uint64_t v = U64(3);
        if ((uint64_t)i + n > t->size)
            TRAP(TABLE_OOB);
        while (n-- > 0)
            t->elems[i++] = v;
        ip += 5;
        NEXT();
    }

    OP(table_copy)
    {
        vmrt__table_t *dt = tables[ip[1]];
        const vmrt__table_t *st = tables[ip[2]];
        uint32_t d = U32(3), s = U32(4), n = U32(5);
        if ((uint64_t)d + n > dt->size || (uint64_t)s + n > st->size)
            TRAP(TABLE_OOB);
        if (n != 0)
            memmove(dt->elems + d, st->elems + s, n * sizeof(uint64_t));
        RELOAD_MEM();
        ip += 6;
        NEXT();
    }

    OP(table_init)
    {
        vmrt__table_t *t = tables[ip[1]];
        const vmrt__elemseg_t *seg = &ci->elemsegs[ip[2]];
        uint32_t d = U32(3), s = U32(4), n = U32(5);
        if ((uint64_t)s + n > seg->n || (uint64_t)d + n > t->size)
            TRAP(TABLE_OOB);
        if (n != 0)
            memcpy(t->elems + d, seg->refs + s, n * sizeof(uint64_t));
        RELOAD_MEM();
        ip += 6;
        NEXT();
    }

    OP(elem_drop)
        ci->elemsegs[ip[1]].n = 0;
        ip += 2;
        NEXT();

    OP(ref_func)
        DST = (uint64_t)(uintptr_t)funcs[ip[2]];
        ip += 3;
        NEXT();

    OP(ref_is_null)
        DST = U64(2) == 0;
        ip += 3;
        NEXT();

    /* --- i32 ---------------------------------------------------------- */
    OP(i32_eqz) UN(uint32_t, U32, (uint64_t)(a == 0))
    OP(i32_eq) BIN_I32(a == b)
    OP(i32_ne) BIN_I32(a != b)
    OP(i32_lt_s) BIN_I32((int32_t)a < (int32_t)b)
    OP(i32_lt_u) BIN_I32(a < b)
    OP(i32_gt_s) BIN_I32((int32_t)a > (int32_t)b)
    OP(i32_gt_u) BIN_I32(a > b)
    OP(i32_le_s) BIN_I32((int32_t)a <= (int32_t)b)
    OP(i32_le_u) BIN_I32(a <= b)
    OP(i32_ge_s) BIN_I32((int32_t)a >= (int32_t)b)
    OP(i32_ge_u) BIN_I32(a >= b)
    OP(i32_clz) UN(uint32_t, U32, (uint64_t)clz32(a))
    OP(i32_ctz) UN(uint32_t, U32, (uint64_t)ctz32(a))
    OP(i32_popcnt) UN(uint32_t, U32, (uint64_t)popcnt32(a))
    OP(i32_add) BIN_I32(a + b)
    OP(i32_sub) BIN_I32(a - b)
    OP(i32_mul) BIN_I32(a * b)

    OP(i32_div_s)
    {
        int32_t a = S32(2), b = S32(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        if (UNLIKELY(b == -1 && a == INT32_MIN))
            TRAP(INT_OVERFLOW);
        DST = (uint32_t)(a / b);
        ip += 4;
        NEXT();
    }

    OP(i32_div_u)
    {
        uint32_t a = U32(2), b = U32(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        DST = a / b;
        ip += 4;
        NEXT();
    }

    OP(i32_rem_s)
    {
        int32_t a = S32(2), b = S32(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        /* INT32_MIN % -1 is undefined in C; wasm defines it as 0. */
        DST = b == -1 ? 0 : (uint32_t)(a % b);
        ip += 4;
        NEXT();
    }

    OP(i32_rem_u)
    {
        uint32_t a = U32(2), b = U32(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        DST = a % b;
        ip += 4;
        NEXT();
    }

    OP(i32_and) BIN_I32(a & b)
    OP(i32_or) BIN_I32(a | b)
    OP(i32_xor) BIN_I32(a ^ b)
    OP(i32_shl) BIN_I32(a << (b & 31))
    OP(i32_shr_s) BIN_I32((int32_t)a >> (b & 31))
    OP(i32_shr_u) BIN_I32(a >> (b & 31))
    OP(i32_rotl) BIN_I32(rotl32(a, b))
    OP(i32_rotr) BIN_I32(rotr32(a, b))

    /* --- i64 ---------------------------------------------------------- */
    OP(i64_eqz) UN(uint64_t, U64, (uint64_t)(a == 0))
    OP(i64_eq) BIN_I64(a == b)
    OP(i64_ne) BIN_I64(a != b)
    OP(i64_lt_s) BIN_I64((int64_t)a < (int64_t)b)
    OP(i64_lt_u) BIN_I64(a < b)
    OP(i64_gt_s) BIN_I64((int64_t)a > (int64_t)b)
    OP(i64_gt_u) BIN_I64(a > b)
    OP(i64_le_s) BIN_I64((int64_t)a <= (int64_t)b)
    OP(i64_le_u) BIN_I64(a <= b)
    OP(i64_ge_s) BIN_I64((int64_t)a >= (int64_t)b)
    OP(i64_ge_u) BIN_I64(a >= b)
    OP(i64_clz) UN(uint64_t, U64, clz64(a))
    OP(i64_ctz) UN(uint64_t, U64, ctz64(a))
    OP(i64_popcnt) UN(uint64_t, U64, popcnt64(a))
    OP(i64_add) BIN_I64(a + b)
    OP(i64_sub) BIN_I64(a - b)
    OP(i64_mul) BIN_I64(a * b)

    OP(i64_div_s)
    {
        int64_t a = S64(2), b = S64(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        if (UNLIKELY(b == -1 && a == INT64_MIN))
            TRAP(INT_OVERFLOW);
        DST = (uint64_t)(a / b);
        ip += 4;
        NEXT();
    }

    OP(i64_div_u)
    {
        uint64_t a = U64(2), b = U64(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        DST = a / b;
        ip += 4;
        NEXT();
    }

    OP(i64_rem_s)
    {
        int64_t a = S64(2), b = S64(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        DST = b == -1 ? 0 : (uint64_t)(a % b);
        ip += 4;
        NEXT();
    }

    OP(i64_rem_u)
    {
        uint64_t a = U64(2), b = U64(3);
        if (UNLIKELY(b == 0))
            TRAP(DIV_ZERO);
        DST = a % b;
        ip += 4;
        NEXT();
    }

    OP(i64_and) BIN_I64(a & b)
    OP(i64_or) BIN_I64(a | b)
    OP(i64_xor) BIN_I64(a ^ b)
    OP(i64_shl) BIN_I64(a << (b & 63))
    OP(i64_shr_s) BIN_I64((int64_t)a >> (b & 63))
    OP(i64_shr_u) BIN_I64(a >> (b & 63))
    OP(i64_rotl) BIN_I64(rotl64(a, b))
    OP(i64_rotr) BIN_I64(rotr64(a, b))

    /* --- f32 ---------------------------------------------------------- */
    OP(f32_eq) CMP_F32(a == b)
    OP(f32_ne) CMP_F32(a != b)
    OP(f32_lt) CMP_F32(a < b)
    OP(f32_gt) CMP_F32(a > b)
    OP(f32_le) CMP_F32(a <= b)
    OP(f32_ge) CMP_F32(a >= b)
    OP(f32_abs) UN(uint32_t, U32, (uint64_t)(a & ~F32_SIGN))
    OP(f32_neg) UN(uint32_t, U32, (uint64_t)(a ^ F32_SIGN))
    OP(f32_ceil) UN_F32C(wasm_ceilf(a))
    OP(f32_floor) UN_F32C(wasm_floorf(a))
    OP(f32_trunc) UN_F32C(wasm_truncf(a))
    /* Round half to even: the default rounding mode, which we never change. */
    OP(f32_nearest) UN_F32C(wasm_nearestf(a))
    OP(f32_sqrt) UN_F32C(sqrtf(a))
    OP(f32_add) BIN_F32(a + b)
    OP(f32_sub) BIN_F32(a - b)
    OP(f32_mul) BIN_F32(a * b)
    OP(f32_div) BIN_F32(a / b)
    OP(f32_min) BIN_F32(wasm_fminf(a, b))
    OP(f32_max) BIN_F32(wasm_fmaxf(a, b))
    OP(f32_copysign)
        BIN(uint32_t, U32, (uint64_t)((a & ~F32_SIGN) | (b & F32_SIGN)))

    /* --- f64 ---------------------------------------------------------- */
    OP(f64_eq) CMP_F64(a == b)
    OP(f64_ne) CMP_F64(a != b)
    OP(f64_lt) CMP_F64(a < b)
    OP(f64_gt) CMP_F64(a > b)
    OP(f64_le) CMP_F64(a <= b)
    OP(f64_ge) CMP_F64(a >= b)
    OP(f64_abs) UN(uint64_t, U64, a & ~F64_SIGN)
    OP(f64_neg) UN(uint64_t, U64, a ^ F64_SIGN)
    OP(f64_ceil) UN_F64C(wasm_ceil(a))
    OP(f64_floor) UN_F64C(wasm_floor(a))
    OP(f64_trunc) UN_F64C(wasm_trunc(a))
    OP(f64_nearest) UN_F64C(wasm_nearest(a))
    OP(f64_sqrt) UN_F64C(sqrt(a))
    OP(f64_add) BIN_F64(a + b)
    OP(f64_sub) BIN_F64(a - b)
    OP(f64_mul) BIN_F64(a * b)
    OP(f64_div) BIN_F64(a / b)
    OP(f64_min) BIN_F64(wasm_fmin(a, b))
    OP(f64_max) BIN_F64(wasm_fmax(a, b))
    OP(f64_copysign) BIN(uint64_t, U64, (a & ~F64_SIGN) | (b & F64_SIGN))

    /* --- conversions -------------------------------------------------- */
    OP(i32_wrap_i64) UN(uint64_t, U64, (uint32_t)a)
    OP(i32_trunc_f32_s)
        TRUNC(float, F32, int32_t, -0x1.000002p+31f, 0x1p+31f)
    OP(i32_trunc_f32_u)
        TRUNC(float, F32, uint32_t, -1.0f, 0x1p+32f)
    OP(i32_trunc_f64_s)
        TRUNC(double, F64, int32_t, -0x1.00000002p+31, 0x1p+31)
    OP(i32_trunc_f64_u)
        TRUNC(double, F64, uint32_t, -1.0, 0x1p+32)
    OP(i64_extend_i32_s) UN(int32_t, S32, (uint64_t)(int64_t)a)
    OP(i64_extend_i32_u) UN(uint32_t, U32, (uint64_t)a)
    OP(i64_trunc_f32_s)
        TRUNC(float, F32, int64_t, -0x1.000002p+63f, 0x1p+63f)
    OP(i64_trunc_f32_u)
        TRUNC(float, F32, uint64_t, -1.0f, 0x1p+64f)
    OP(i64_trunc_f64_s)
        TRUNC(double, F64, int64_t, -0x1.0000000000001p+63, 0x1p+63)
    OP(i64_trunc_f64_u)
        TRUNC(double, F64, uint64_t, -1.0, 0x1p+64)
    OP(f32_convert_i32_s) UN(int32_t, S32, f32_to_slot((float)a))
    OP(f32_convert_i32_u) UN(uint32_t, U32, f32_to_slot((float)a))
    OP(f32_convert_i64_s) UN(int64_t, S64, f32_to_slot((float)a))
    OP(f32_convert_i64_u) UN(uint64_t, U64, f32_to_slot((float)a))
    OP(f32_demote_f64) UN(double, F64, f32_to_slot((float)a))
    OP(f64_convert_i32_s) UN(int32_t, S32, f64_to_slot((double)a))
    OP(f64_convert_i32_u) UN(uint32_t, U32, f64_to_slot((double)a))
    OP(f64_convert_i64_s) UN(int64_t, S64, f64_to_slot((double)a))
    OP(f64_convert_i64_u) UN(uint64_t, U64, f64_to_slot((double)a))
    OP(f64_promote_f32) UN(float, F32, f64_to_slot((double)a))
    OP(i32_extend8_s) UN(uint32_t, U32, (uint32_t)(int32_t)(int8_t)a)
    OP(i32_extend16_s) UN(uint32_t, U32, (uint32_t)(int32_t)(int16_t)a)
    OP(i64_extend8_s) UN(uint64_t, U64, (uint64_t)(int64_t)(int8_t)a)
    OP(i64_extend16_s) UN(uint64_t, U64, (uint64_t)(int64_t)(int16_t)a)
    OP(i64_extend32_s) UN(uint64_t, U64, (uint64_t)(int64_t)(int32_t)a)
    OP(i32_trunc_sat_f32_s)
        TRUNC_SAT(float, F32, int32_t, -0x1.000002p+31f, 0x1p+31f,
                  INT32_MIN, INT32_MAX)
    OP(i32_trunc_sat_f32_u)
        TRUNC_SAT(float, F32, uint32_t, -1.0f, 0x1p+32f, 0, UINT32_MAX)
    OP(i32_trunc_sat_f64_s)
        TRUNC_SAT(double, F64, int32_t, -0x1.00000002p+31, 0x1p+31,
                  INT32_MIN, INT32_MAX)
    OP(i32_trunc_sat_f64_u)
        TRUNC_SAT(double, F64, uint32_t, -1.0, 0x1p+32, 0, UINT32_MAX)
    OP(i64_trunc_sat_f32_s)
        TRUNC_SAT(float, F32, int64_t, -0x1.000002p+63f, 0x1p+63f,
                  INT64_MIN, INT64_MAX)
    OP(i64_trunc_sat_f32_u)
        TRUNC_SAT(float, F32, uint64_t, -1.0f, 0x1p+64f, 0, UINT64_MAX)
    OP(i64_trunc_sat_f64_s)
        TRUNC_SAT(double, F64, int64_t, -0x1.0000000000001p+63, 0x1p+63,
                  INT64_MIN, INT64_MAX)
    OP(i64_trunc_sat_f64_u)
        TRUNC_SAT(double, F64, uint64_t, -1.0, 0x1p+64, 0, UINT64_MAX)

    /* --- fused forms -------------------------------------------------- */
    OP(i32_add_ri)
        DST = (uint32_t)(U32(2) + ip[3]);
        ip += 4;
        NEXT();
    OP(i32_sub_ri)
        DST = (uint32_t)(U32(2) - ip[3]);
        ip += 4;
        NEXT();
    OP(i32_and_ri)
        DST = U32(2) & ip[3];
        ip += 4;
        NEXT();
    OP(i32_shl_ri)
        DST = (uint32_t)(U32(2) << (ip[3] & 31));
        ip += 4;
        NEXT();
    OP(i32_shr_s_ri)
        DST = (uint32_t)(S32(2) >> (ip[3] & 31));
        ip += 4;
        NEXT();
    OP(i32_shr_u_ri)
        DST = U32(2) >> (ip[3] & 31);
        ip += 4;
        NEXT();
    OP(i64_add_ri)
        DST = U64(2) + (uint64_t)(int64_t)(int32_t)ip[3];
        ip += 4;
        NEXT();
    OP(br_if_i32_eq) BR_CMP(uint32_t, U32, ==)
    OP(br_if_i32_ne) BR_CMP(uint32_t, U32, !=)
    OP(br_if_i32_lt_s) BR_CMP(int32_t, S32, <)
    OP(br_if_i32_lt_u) BR_CMP(uint32_t, U32, <)
    OP(br_if_i32_gt_s) BR_CMP(int32_t, S32, >)
    OP(br_if_i32_gt_u) BR_CMP(uint32_t, U32, >)
    OP(br_if_i32_le_s) BR_CMP(int32_t, S32, <=)
    OP(br_if_i32_le_u) BR_CMP(uint32_t, U32, <=)
    OP(br_if_i32_ge_s) BR_CMP(int32_t, S32, >=)
    OP(br_if_i32_ge_u) BR_CMP(uint32_t, U32, >=)
    OP(i32_mul_ri) RI_I32(a * b)
    OP(i32_or_ri) RI_I32(a | b)
    OP(i32_xor_ri) RI_I32(a ^ b)
    OP(i32_rotl_ri) RI_I32(rotl32(a, b))
    OP(i32_rotr_ri) RI_I32(rotr32(a, b))
    OP(i64_sub_ri) RI_I64(a - b)
    OP(i64_mul_ri) RI_I64(a * b)
    OP(i64_and_ri) RI_I64(a & b)
    OP(i64_or_ri) RI_I64(a | b)
    OP(i64_xor_ri) RI_I64(a ^ b)
    OP(i64_shl_ri) RI_I64(a << (b & 63))
    OP(i64_shr_s_ri) RI_I64((int64_t)a >> (b & 63))
    OP(i64_shr_u_ri) RI_I64(a >> (b & 63))
    OP(i64_rotl_ri) RI_I64(rotl64(a, b))
    OP(i64_rotr_ri) RI_I64(rotr64(a, b))
    OP(i32_eq_ri) RI_I32(a == b)
    OP(i32_ne_ri) RI_I32(a != b)
    OP(i32_lt_s_ri) RI_I32((int32_t)a < (int32_t)b)
    OP(i32_lt_u_ri) RI_I32(a < b)
    OP(i32_gt_s_ri) RI_I32((int32_t)a > (int32_t)b)
    OP(i32_gt_u_ri) RI_I32(a > b)
    OP(i32_le_s_ri) RI_I32((int32_t)a <= (int32_t)b)
    OP(i32_le_u_ri) RI_I32(a <= b)
    OP(i32_ge_s_ri) RI_I32((int32_t)a >= (int32_t)b)
    OP(i32_ge_u_ri) RI_I32(a >= b)
    OP(br_if_i32_eq_ri) BR_CMP_RI(uint32_t, U32, ==)
    OP(br_if_i32_ne_ri) BR_CMP_RI(uint32_t, U32, !=)
    OP(br_if_i32_lt_s_ri) BR_CMP_RI(int32_t, S32, <)
    OP(br_if_i32_lt_u_ri) BR_CMP_RI(uint32_t, U32, <)
    OP(br_if_i32_gt_s_ri) BR_CMP_RI(int32_t, S32, >)
    OP(br_if_i32_gt_u_ri) BR_CMP_RI(uint32_t, U32, >)
    OP(br_if_i32_le_s_ri) BR_CMP_RI(int32_t, S32, <=)
    OP(br_if_i32_le_u_ri) BR_CMP_RI(uint32_t, U32, <=)
    OP(br_if_i32_ge_s_ri) BR_CMP_RI(int32_t, S32, >=)
    OP(br_if_i32_ge_u_ri) BR_CMP_RI(uint32_t, U32, >=)
    OP(br_unless_back)
        if (U32(1) == 0) {
            uint32_t q = ip[3];
            if (UNLIKELY(fuel <= 0))
                goto yield;
            fuel -= q;
            ip = code_base + ip[2];
        } else {
            ip += 4;
        }
        NEXT();
    OP(br_if_back_i32_eq) BACK_CMP(uint32_t, U32, ==)
    OP(br_if_back_i32_ne) BACK_CMP(uint32_t, U32, !=)
    OP(br_if_back_i32_lt_s) BACK_CMP(int32_t, S32, <)
    OP(br_if_back_i32_lt_u) BACK_CMP(uint32_t, U32, <)
    OP(br_if_back_i32_gt_s) BACK_CMP(int32_t, S32, >)
    OP(br_if_back_i32_gt_u) BACK_CMP(uint32_t, U32, >)
    OP(br_if_back_i32_le_s) BACK_CMP(int32_t, S32, <=)
    OP(br_if_back_i32_le_u) BACK_CMP(uint32_t, U32, <=)
    OP(br_if_back_i32_ge_s) BACK_CMP(int32_t, S32, >=)
    OP(br_if_back_i32_ge_u) BACK_CMP(uint32_t, U32, >=)
    OP(br_if_back_i32_eq_ri) BACK_CMP_RI(uint32_t, U32, ==)
    OP(br_if_back_i32_ne_ri) BACK_CMP_RI(uint32_t, U32, !=)
    OP(br_if_back_i32_lt_s_ri) BACK_CMP_RI(int32_t, S32, <)
    OP(br_if_back_i32_lt_u_ri) BACK_CMP_RI(uint32_t, U32, <)
    OP(br_if_back_i32_gt_s_ri) BACK_CMP_RI(int32_t, S32, >)
    OP(br_if_back_i32_gt_u_ri) BACK_CMP_RI(uint32_t, U32, >)
    OP(br_if_back_i32_le_s_ri) BACK_CMP_RI(int32_t, S32, <=)
    OP(br_if_back_i32_le_u_ri) BACK_CMP_RI(uint32_t, U32, <=)
    OP(br_if_back_i32_ge_s_ri) BACK_CMP_RI(int32_t, S32, >=)
    OP(br_if_back_i32_ge_u_ri) BACK_CMP_RI(uint32_t, U32, >=)
    OP(i32_load_aa) LOAD_X(uint32_t, v, U32(3))
    OP(i64_load_aa) LOAD_X(uint64_t, v, U32(3))
    OP(i32_load8_u_aa) LOAD_X(uint8_t, (uint64_t)v, U32(3))
    OP(i32_load_ai) LOAD_X(uint32_t, v, ip[3])
    OP(i64_load_ai) LOAD_X(uint64_t, v, ip[3])
    OP(i32_load8_u_ai) LOAD_X(uint8_t, (uint64_t)v, ip[3])
    OP(f64_add_m) BIN_M(uint64_t, f64_to_slot(F64(2) + slot_to_f64(v)))
    OP(f64_sub_m) BIN_M(uint64_t, f64_to_slot(F64(2) - slot_to_f64(v)))
    OP(f64_mul_m) BIN_M(uint64_t, f64_to_slot(F64(2) * slot_to_f64(v)))
    OP(i32_add_m) BIN_M(uint32_t, (uint32_t)(U32(2) + v))
    OP(mov2)
        fp[ip[1]] = U64(2);
        fp[ip[3]] = U64(4);
        ip += 5;
        NEXT();

    /* The entry trampoline's second instruction: the call returned. */
    OP_DONE
        ex->state = VMRT__EXEC_DONE;
        ex->top = 0;
        *used = (uint64_t)(start - fuel);
        return VMRT_RUN_DONE;

#ifdef VMRT_ENGINE_SWITCH
    default:
        /* Not produced by the translator: treat corrupt code as a trap. */
        TRAP(UNREACHABLE);
#endif
    }

    /*
     * Calls.  call_any: any function instance `fi`; call_own: a function
     * `cfunc` defined by the running instance, with code `fc`.  Both need
     * cb (callee base slot) and clen (the calling instruction's cells).
     */
call_any:
    if (fi->host != NULL)
        goto call_host;
    if (LIKELY(fi->inst == ci)) {
        cfunc = fi->index;
        fc = &mcode[cfunc - nimp];
        goto call_own;
    }
    {
        const vmrt_module_t *cm = fi->inst->mod;

        fc = &cm->code[fi->index - cm->nfunc_imports];
    }
    if (UNLIKELY(fuel <= 0))
        goto yield;
    nfpi = fr->fp + cb;
    if (UNLIKELY(fr == frlim ||
                 (uint64_t)nfpi + fc->frame_slots > nslots)) {
        GROW_STACKS((uint64_t)nfpi + fc->frame_slots);
        goto call_any;
    }
    /* No room to record one more instance: a resource limit, like depth. */
    if (exec_inst_index(ex, fi->inst, &nidx) != 0)
        TRAP(STACK_EXHAUSTED);
    fuel -= fc->call_cost;
    fr->ip = (uint32_t)(ip - code_base) + clen;
    fr++;
    fr->func = fi->index;
    fr->fp = nfpi;
    fr->inst = nidx;
    fp += cb;
    for (uint32_t i = fc->nparams; i < fc->nlocals; i++)
        fp[i] = 0;
    LOAD_INST(fi->inst, nidx);
    code_base = fc->code;
    ip = code_base;
    NEXT();

call_own:
    if (UNLIKELY(fuel <= 0))
        goto yield;
    nfpi = fr->fp + cb;
    if (UNLIKELY(fr == frlim ||
                 (uint64_t)nfpi + fc->frame_slots > nslots)) {
        GROW_STACKS((uint64_t)nfpi + fc->frame_slots);
        goto call_own;
    }
    fuel -= fc->call_cost;
    fr->ip = (uint32_t)(ip - code_base) + clen;
    fr++;
    fr->func = cfunc;
    fr->fp = nfpi;
    fr->inst = cidx;
    fp += cb;
    if (fc->nlocals > fc->nparams) {
        for (uint32_t i = fc->nparams; i < fc->nlocals; i++)
            fp[i] = 0;
        RELOAD_MEM();
    }
    code_base = fc->code;
    ip = code_base;
    NEXT();

call_host:
    {
        int rc;

        if (UNLIKELY(fuel <= 0))
            goto yield;
        fuel -= 1;
        /*
         * Spill with ip AT the call: a blocked call is re-issued by the next
         * run, and the host may look at the exec (e.g. a snapshot).
         */
        fr->ip = (uint32_t)(ip - code_base);
        ex->top = (uint32_t)(fr - ex->frames);
        rc = fi->host(ci, fi->host_ctx, fp + cb, fp + cb);
        if (LIKELY(rc == 0)) {
            RELOAD_MEM();
            ip += clen;
            NEXT();
        }
        if (rc == VMRT_HOST_BLOCK) {
            ex->state = VMRT__EXEC_PENDING;
            *used = (uint64_t)(start - fuel);
            return VMRT_RUN_BLOCKED;
        }
        if (rc == VMRT_HOST_EXIT) {
            ex->state = VMRT__EXEC_EXIT;
            ex->top = 0;
            *used = (uint64_t)(start - fuel);
            return VMRT_RUN_EXIT;
        }
        TRAP(HOST);
    }

yield:
    fr->ip = (uint32_t)(ip - code_base);
    ex->top = (uint32_t)(fr - ex->frames);
    ex->state = VMRT__EXEC_PENDING;
    *used = (uint64_t)(start - fuel);
    return VMRT_RUN_YIELD;

trap:
    ex->trap.code = tc;
    if (fr->func == VMRT__FRAME_ENTRY) {
        ex->trap.func_index = ex->entry_func;
        ex->trap.offset = 0;
    } else {
        ex->trap.func_index = fr->func;
        ex->trap.offset = site_lookup(&mcode[fr->func - nimp],
                                      (uint32_t)(ip - code_base));
    }
    ex->state = VMRT__EXEC_TRAP;
    ex->top = 0;
    *used = (uint64_t)(start - fuel);
    return VMRT_RUN_TRAP;
}

/* -------------------------------------------------------------------- */
/* Cells                                                                */
/* -------------------------------------------------------------------- */

#ifndef VMRT_ENGINE_SWITCH
/*
 * The label table, fetched from interp() once.  Every thread computes the
 * same pointer, so a racing first use only stores the same value twice.
 */
static const int32_t *
label_table(void)
{
    static _Atomic(const int32_t *) cache;
    const int32_t *t = atomic_load_explicit(&cache, memory_order_acquire);

    if (t == NULL) {
        (void)interp(NULL, 0, NULL, &t);
        atomic_store_explicit(&cache, t, memory_order_release);
    }
    return t;
}
#endif

vmrt__cell_t
vmrt__op_cell(vmrt__op_t op)
{
#ifdef VMRT_ENGINE_SWITCH
    return (vmrt__cell_t)op;
#else
    return (vmrt__cell_t)label_table()[op];
#endif
}

vmrt__op_t
vmrt__cell_op(vmrt__cell_t cell)
{
#ifdef VMRT_ENGINE_SWITCH
    return cell < VMRT__OP_COUNT ? (vmrt__op_t)cell : VMRT__OP_COUNT;
#else
    const int32_t *t = label_table();
    int op;

    for (op = 0; op < VMRT__OP_COUNT; op++) {
        if ((vmrt__cell_t)t[op] == cell)
            return (vmrt__op_t)op;
    }
    return VMRT__OP_COUNT;
#endif
}

/* The entry trampoline's `done` cell: one past the public ops. */
static vmrt__cell_t
cell_done(void)
{
#ifdef VMRT_ENGINE_SWITCH
    return (vmrt__cell_t)VMRT__OP_COUNT;
#else
    return (vmrt__cell_t)label_table()[VMRT__OP_COUNT];
#endif
}

/* -------------------------------------------------------------------- */
/* Exec lifecycle and the public execution API                          */
/* -------------------------------------------------------------------- */

/*
 * Stacks start small and grow on demand (exec_grow), so an idle thread
 * costs about (slots * 8 + (frames + 1) * 16) bytes plus its struct.
 */
#ifndef VMRT_THREAD_INIT_SLOTS
#define VMRT_THREAD_INIT_SLOTS 128u
#endif
#ifndef VMRT_THREAD_INIT_FRAMES
#define VMRT_THREAD_INIT_FRAMES 8u
#endif

static void
thread_destroy(vmrt_thread_t *th)
{
    if (th == NULL)
        return;
    vmrt__free(th->ex.insts);
    vmrt__free(th->ex.frames);
    vmrt__free(th->ex.stack);
    vmrt__free(th);
}

/* A new idle thread of `inst` with id `id`, not yet in inst->threads. */
static vmrt_thread_t *
thread_new(vmrt_instance_t *inst, uint32_t id)
{
    vmrt_thread_t *th;
    vmrt__exec_t *ex;
    uint32_t nslots = inst->limits.value_stack_slots;
    uint32_t depth = inst->limits.max_call_depth;

    if (nslots == 0)
        nslots = VMRT_DEFAULT_STACK_SLOTS;
    if (depth == 0)
        depth = VMRT_DEFAULT_CALL_DEPTH;
    if (depth == UINT32_MAX)
        depth--;
    if ((th = vmrt__calloc(1, sizeof(*th))) == NULL)
        return NULL;
    th->inst = inst;
    th->id = id;
    ex = &th->ex;
    ex->slot_limit = nslots;
    ex->max_depth = depth;
    ex->nslots = nslots < VMRT_THREAD_INIT_SLOTS ? nslots
                                                 : VMRT_THREAD_INIT_SLOTS;
    ex->depth_cap = depth < VMRT_THREAD_INIT_FRAMES ? depth
                                                    : VMRT_THREAD_INIT_FRAMES;
    ex->cap_insts = 4;
    if ((ex->stack = vmrt__calloc(ex->nslots, sizeof(*ex->stack))) == NULL)
        goto fail;
    if ((ex->frames = vmrt__calloc((size_t)ex->depth_cap + 1,
                                   sizeof(*ex->frames))) == NULL)
        goto fail;
    if ((ex->insts = vmrt__calloc(ex->cap_insts,
                                  sizeof(*ex->insts))) == NULL)
        goto fail;
    ex->insts[0] = inst;
    ex->ninsts = 1;
    return th;
fail:
    thread_destroy(th);
    return NULL;
}

/* Make inst->threads hold index `id`.  Return: 0, ELIMIT or ENOMEM. */
static int
threads_reserve(vmrt_instance_t *inst, uint32_t id)
{
    vmrt_thread_t **n;
    uint32_t cap = inst->cap_threads;

    if (id >= VMRT_ENGINE_MAX_THREADS)
        return VMRT_ELIMIT;
    if (id < cap)
        return 0;
    if (cap == 0)
        cap = 1;
    while (cap <= id)
        cap *= 2;
    if (cap > VMRT_ENGINE_MAX_THREADS)
        cap = VMRT_ENGINE_MAX_THREADS;
    if ((n = vmrt__realloc(inst->threads, cap * sizeof(*n))) == NULL)
        return VMRT_ENOMEM;
    memset(n + inst->cap_threads, 0,
           (cap - inst->cap_threads) * sizeof(*n));
    inst->threads = n;
    inst->cap_threads = cap;
    return 0;
}

int
vmrt__exec_create(vmrt_instance_t *inst)
{
    vmrt_thread_t *th;

    if (threads_reserve(inst, 0) != 0)
        return VMRT_ENOMEM;
    if ((th = thread_new(inst, 0)) == NULL) {
        vmrt__free(inst->threads);
        inst->threads = NULL;
        inst->cap_threads = 0;
        return VMRT_ENOMEM;
    }
    inst->threads[0] = th;
    inst->exec = &th->ex;
    inst->cur = NULL;
    return 0;
}

void
vmrt__exec_free(vmrt_instance_t *inst)
{
    for (uint32_t i = 0; i < inst->cap_threads; i++)
        thread_destroy(inst->threads[i]);
    vmrt__free(inst->threads);
    inst->threads = NULL;
    inst->cap_threads = 0;
    inst->exec = NULL;
    inst->cur = NULL;
}

vmrt_thread_t *
vmrt__thread_create_id(vmrt_instance_t *inst, uint32_t id)
{
    vmrt_thread_t *th;

    if (inst == NULL || inst->threads == NULL ||
        threads_reserve(inst, id) != 0 || inst->threads[id] != NULL)
        return NULL;
    if ((th = thread_new(inst, id)) == NULL)
        return NULL;
    inst->threads[id] = th;
    return th;
}

/* Ids are reused: the lowest free one, so the table stays dense. */
vmrt_thread_t *
vmrt_thread_create(vmrt_instance_t *inst)
{
    uint32_t id;

    if (inst == NULL || inst->threads == NULL)
        return NULL;
    for (id = 1; id < inst->cap_threads && inst->threads[id] != NULL; id++)
        ;
    return vmrt__thread_create_id(inst, id);
}

void
vmrt_thread_free(vmrt_thread_t *th)
{
    vmrt_instance_t *inst;

    /* The main thread goes with the instance; a running one stays. */
    if (th == NULL || th->id == 0 || th->inst->cur == th)
        return;
    inst = th->inst;
    inst->threads[th->id] = NULL;
    thread_destroy(th);
}

vmrt_thread_t *
vmrt_instance_main_thread(vmrt_instance_t *inst)
{
    return inst != NULL && inst->threads != NULL ? inst->threads[0] : NULL;
}

vmrt_thread_t *
vmrt_instance_current_thread(const vmrt_instance_t *inst)
{
    return inst != NULL ? inst->cur : NULL;
}

uint32_t
vmrt_thread_id(const vmrt_thread_t *th)
{
    return th != NULL ? th->id : 0;
}

vmrt_thread_t *
vmrt_thread_by_id(vmrt_instance_t *inst, uint32_t id)
{
    if (inst == NULL || id >= inst->cap_threads)
        return NULL;
    return inst->threads[id];
}

vmrt_instance_t *
vmrt_thread_instance(const vmrt_thread_t *th)
{
    return th != NULL ? th->inst : NULL;
}

void
vmrt_thread_set_user(vmrt_thread_t *th, void *user)
{
    if (th != NULL)
        th->user = user;
}

void *
vmrt_thread_user(const vmrt_thread_t *th)
{
    return th != NULL ? th->user : NULL;
}

int
vmrt_thread_call(vmrt_thread_t *th, uint32_t func_index,
                 const vmrt_val_t *args, uint32_t nargs)
{
    vmrt__exec_t *ex;
    vmrt_instance_t *inst;
    const vmrt__functype_t *ft;
    uint32_t i, need;
    int rc;

    if (th == NULL)
        return VMRT_ESTATE;
    ex = &th->ex;
    inst = th->inst;
    if (ex->state == VMRT__EXEC_PENDING || ex->state == VMRT__EXEC_RUNNING)
        return VMRT_ESTATE;
    if (func_index >= inst->mod->nfuncs)
        return VMRT_ENOTFOUND;
    ft = inst->funcs[func_index]->type;
    if (nargs != ft->nparams || (nargs > 0 && args == NULL))
        return VMRT_ETYPE;
    for (i = 0; i < nargs; i++) {
        if (args[i].type != VMRT__PARAMS(ft)[i])
            return VMRT_ETYPE;
    }
    /* The trampoline frame holds the arguments, then the results. */
    need = ft->nparams > ft->nresults ? ft->nparams : ft->nresults;
    if ((rc = exec_grow(ex, need, 0)) != 0)
        return rc;
    for (i = 0; i < nargs; i++) {
        switch (args[i].type) {
        case VMRT_I32:
        case VMRT_F32:
            ex->stack[i] = (uint32_t)args[i].of.i32;
            break;
        default:
            ex->stack[i] = (uint64_t)args[i].of.i64;
            break;
        }
    }
    ex->insts[0] = inst;
    ex->ninsts = 1;
    ex->tramp[0] = vmrt__op_cell(VMRT__OP_call);
    ex->tramp[1] = func_index;
    ex->tramp[2] = 0;
    ex->tramp[3] = cell_done();
    ex->frames[0].func = VMRT__FRAME_ENTRY;
    ex->frames[0].ip = 0;
    ex->frames[0].fp = 0;
    ex->frames[0].inst = 0;
    ex->top = 0;
    ex->entry_func = func_index;
    ex->entry_type = ft;
    memset(&ex->trap, 0, sizeof(ex->trap));
    ex->state = VMRT__EXEC_PENDING;
    return 0;
}

/*
 * The trampoline calls by index in the instance's own function space, so
 * a table element is turned back into that index: its own function, or
 * one of its imports.  A function that the instance can reach only
 * through a shared table has no index here: VMRT_EUNSUPPORTED.
 */
int
vmrt_thread_call_indirect(vmrt_thread_t *th, uint32_t table, uint32_t elem,
                          const vmrt_val_t *args, uint32_t nargs)
{
    vmrt_instance_t *inst;
    const vmrt__table_t *t;
    const vmrt__funcinst_t *fi;
    const vmrt__functype_t *ft;
    uint32_t i, idx;

    if (th == NULL)
        return VMRT_ESTATE;
    inst = th->inst;
    if (table >= inst->mod->ntables)
        return VMRT_ENOTFOUND;
    t = inst->tables[table];
    if (t->elemtype != VMRT_FUNCREF)
        return VMRT_ETYPE;
    if (elem >= t->size || t->elems[elem] == 0)
        return VMRT_ENOTFOUND;
    fi = (const vmrt__funcinst_t *)(uintptr_t)t->elems[elem];
    ft = fi->type;
    if (ft->nparams != nargs || ft->nresults > 1 ||
        (ft->nresults == 1 && VMRT__RESULTS(ft)[0] != VMRT_I32))
        return VMRT_ETYPE;
    for (i = 0; i < nargs; i++) {
        if (VMRT__PARAMS(ft)[i] != VMRT_I32 ||
            (args != NULL && args[i].type != VMRT_I32))
            return VMRT_ETYPE;
    }
    if (fi->inst == inst) {
        idx = fi->index;
    } else {
        for (idx = 0; idx < inst->mod->nfuncs && inst->funcs[idx] != fi;
             idx++)
            ;
        if (idx == inst->mod->nfuncs)
            return VMRT_EUNSUPPORTED;
    }
    return vmrt_thread_call(th, idx, args, nargs);
}

int
vmrt_thread_run(vmrt_thread_t *th, uint64_t fuel, uint64_t *used)
{
    vmrt__exec_t *ex;
    vmrt_instance_t *inst;
    uint64_t u = 0;
    int rc;

    if (used != NULL)
        *used = 0;
    if (th == NULL || th->ex.state != VMRT__EXEC_PENDING)
        return VMRT_ESTATE;
    ex = &th->ex;
    inst = th->inst;
    /* Threads of one instance share globals and memory: one at a time. */
    if (inst->cur != NULL)
        return VMRT_ESTATE;
    ex->state = VMRT__EXEC_RUNNING;
    inst->cur = th;
    rc = interp(ex, fuel, &u, NULL);
    inst->cur = NULL;
    if (used != NULL)
        *used = u;
    return rc;
}

uint32_t
vmrt_thread_results(const vmrt_thread_t *th, vmrt_val_t *out, uint32_t n)
{
    const vmrt__exec_t *ex;
    const vmrt__functype_t *ft;
    uint32_t i;

    if (th == NULL || th->ex.state != VMRT__EXEC_DONE)
        return 0;
    ex = &th->ex;
    ft = ex->entry_type;
    if (n > ft->nresults)
        n = ft->nresults;
    for (i = 0; i < n; i++) {
        uint8_t t = VMRT__RESULTS(ft)[i];

        memset(&out[i], 0, sizeof(out[i]));
        out[i].type = t;
        switch (t) {
        case VMRT_I32:
            out[i].of.i32 = (int32_t)(uint32_t)ex->stack[i];
            break;
        case VMRT_F32:
            out[i].of.f32 = (uint32_t)ex->stack[i];
            break;
        default:
            out[i].of.i64 = (int64_t)ex->stack[i];
            break;
        }
    }
    return n;
}

void
vmrt_thread_trap(const vmrt_thread_t *th, vmrt_trap_info_t *info)
{
    memset(info, 0, sizeof(*info));
    if (th != NULL && th->ex.state == VMRT__EXEC_TRAP)
        *info = th->ex.trap;
}

void
vmrt_thread_reset(vmrt_thread_t *th)
{
    vmrt__exec_t *ex;

    if (th == NULL || th->ex.state == VMRT__EXEC_RUNNING)
        return;
    ex = &th->ex;
    ex->state = VMRT__EXEC_IDLE;
    ex->top = 0;
    ex->ninsts = 1;
}

/* The instance calls are the main thread's. */

int
vmrt_instance_call(vmrt_instance_t *inst, uint32_t func_index,
                   const vmrt_val_t *args, uint32_t nargs)
{
    return vmrt_thread_call(vmrt_instance_main_thread(inst), func_index,
                            args, nargs);
}

int
vmrt_instance_run(vmrt_instance_t *inst, uint64_t fuel, uint64_t *used)
{
    return vmrt_thread_run(vmrt_instance_main_thread(inst), fuel, used);
}

uint32_t
vmrt_instance_results(const vmrt_instance_t *inst, vmrt_val_t *out,
                      uint32_t n)
{
    return vmrt_thread_results(
        vmrt_instance_main_thread((vmrt_instance_t *)inst), out, n);
}

void
vmrt_instance_trap(const vmrt_instance_t *inst, vmrt_trap_info_t *info)
{
    vmrt_thread_trap(vmrt_instance_main_thread((vmrt_instance_t *)inst),
                     info);
}

void
vmrt_instance_reset(vmrt_instance_t *inst)
{
    vmrt_thread_reset(vmrt_instance_main_thread(inst));
}
