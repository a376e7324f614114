/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_ENGINE_CODE_H
#define VMRT_ENGINE_CODE_H

/*
 * The internal code: what compile.c emits and interp.c executes.
 *
 * A register machine over 64-bit frame slots.  A function's frame is
 *
 *     fp[0 .. nparams)            parameters
 *     fp[nparams .. nlocals)      declared locals (zeroed on entry)
 *     fp[nlocals .. frame_slots)  operand temporaries
 *
 * Every wasm operand-stack position at every program point maps statically
 * to a slot, so instructions name their operands by slot index and nothing
 * is pushed or popped at run time.  local.get is usually elided: an operand
 * may name a local's slot directly.
 *
 * Slot contents: i32/f32 zero-extended into 64 bits (every op writes all 64
 * bits; readers of a 32-bit value look at the low half only), i64/f64 as 64
 * bits, references as in instance.h.
 *
 * Calls: the caller evaluates arguments into consecutive temporaries
 * fp[B .. B+nparams); the callee's frame starts there (callee fp = caller
 * fp + B).  The callee leaves its results in its fp[0 .. nresults), i.e. the
 * caller's fp[B .. B+nresults), where the caller's operand stack expects
 * them.  No argument or result is copied.
 *
 * Encoding: an array of 32-bit cells.  The first cell of an instruction is
 * its handler (vmrt__op_cell(op): an opcode number for the switch
 * interpreter, or a label offset for the threaded one), followed by its
 * operands.  Operand kinds (the shape letters below):
 *
 *     D  destination slot        A B C  source slots
 *     I  32-bit immediate        L      64-bit immediate (2 cells, low first)
 *     T  branch target: cell offset from the start of the function's code
 *     O  memory offset (u32)     F      function index
 *     G  global index            M      table index, K  second table index
 *     S  segment index           Y      type index
 *     N  count (br_table: N targets follow, then the default)
 *     Q  fuel cost charged by a back-edge
 *
 * The number of cells of an instruction does not depend on the host, so a
 * code offset means the same on every machine that translates the same
 * module: frames and snapshots store offsets, never pointers.
 *
 * Fuel: charged by back-edges (Q = the loop body's length in instructions,
 * at least 1) and by calls (the callee's call_cost).  When the budget would
 * go negative the interpreter stops *before* the charging instruction, so a
 * resumed run re-executes it.
 */

#include "module.h"

typedef uint32_t vmrt__cell_t;

/*
 * X(name, shape).  Comments give the semantics where the name does not.
 * Binary numeric ops are DAB (fp[D] = fp[A] op fp[B]); unary ops DA.
 */
#define VMRT__OPS(X)                                                         \
    /* --- control ------------------------------------------------------ */ \
    X(unreachable, "")        /* trap UNREACHABLE */                         \
    X(br, "T")                                                               \
    X(br_if, "AT")            /* if fp[A].i32 != 0 goto T */                 \
    X(br_unless, "AT")        /* if fp[A].i32 == 0 goto T */                 \
    X(br_back, "TQ")          /* charge Q fuel, goto T (loop header) */      \
    X(br_if_back, "ATQ")      /* if fp[A].i32: charge Q, goto T */           \
    X(br_table, "AN")         /* N+1 T cells follow: targets, default */     \
    X(ret, "")                /* results already in fp[0..nresults) */       \
    X(call, "FB")             /* call function F with callee fp = fp+B */    \
    X(call_indirect, "YMAB")  /* type Y, table M, element index fp[A] */     \
    /* --- moves and constants ------------------------------------------ */ \
    X(mov, "DA")              /* fp[D] = fp[A], all 64 bits */               \
    X(const32, "DI")          /* fp[D] = zero-extended I */                  \
    X(const64, "DL")                                                         \
    X(select, "DCAB")         /* fp[D] = fp[C].i32 ? fp[A] : fp[B] */        \
    X(global_get, "DG")                                                      \
    X(global_set, "GA")                                                      \
    /* --- memory (address fp[A], effective address A + O) -------------- */ \
    X(i32_load, "DAO")        /* also f32.load */                            \
    X(i64_load, "DAO")        /* also f64.load */                            \
    X(i32_load8_s, "DAO")                                                    \
    X(i32_load8_u, "DAO")                                                    \
    X(i32_load16_s, "DAO")                                                   \
    X(i32_load16_u, "DAO")                                                   \
    X(i64_load8_s, "DAO")                                                    \
    X(i64_load8_u, "DAO")                                                    \
    X(i64_load16_s, "DAO")                                                   \
    X(i64_load16_u, "DAO")                                                   \
    X(i64_load32_s, "DAO")                                                   \
    X(i64_load32_u, "DAO")                                                   \
    X(store8, "ABO")          /* mem[fp[A]+O] = low 8 bits of fp[B] */       \
    X(store16, "ABO")                                                        \
    X(store32, "ABO")         /* i32.store, f32.store, i64.store32 */        \
    X(store64, "ABO")         /* i64.store, f64.store */                     \
    X(memory_size, "D")                                                      \
    X(memory_grow, "DA")                                                     \
    X(memory_fill, "ABC")     /* dest fp[A], value fp[B], count fp[C] */     \
    X(memory_copy, "ABC")     /* dest fp[A], src fp[B], count fp[C] */       \
    X(memory_init, "SABC")    /* dest fp[A], src offset fp[B], count fp[C] */\
    X(data_drop, "S")                                                        \
    /* --- tables and references ---------------------------------------- */ \
    X(table_get, "DMA")                                                      \
    X(table_set, "MAB")       /* table[fp[A]] = fp[B] */                     \
    X(table_size, "DM")                                                      \
    X(table_grow, "DMAB")     /* init fp[A], delta fp[B] */                  \
    X(table_fill, "MABC")     /* index fp[A], value fp[B], count fp[C] */    \
    X(table_copy, "MKABC")    /* dst table M, src table K */                 \
    X(table_init, "MSABC")                                                   \
    X(elem_drop, "S")                                                        \
    X(ref_func, "DF")                                                        \
    X(ref_is_null, "DA")                                                     \
    /* --- i32 ----------------------------------------------------------- */\
    X(i32_eqz, "DA")                                                         \
    X(i32_eq, "DAB") X(i32_ne, "DAB")                                        \
    X(i32_lt_s, "DAB") X(i32_lt_u, "DAB") X(i32_gt_s, "DAB")                 \
    X(i32_gt_u, "DAB") X(i32_le_s, "DAB") X(i32_le_u, "DAB")                 \
    X(i32_ge_s, "DAB") X(i32_ge_u, "DAB")                                    \
    X(i32_clz, "DA") X(i32_ctz, "DA") X(i32_popcnt, "DA")                    \
    X(i32_add, "DAB") X(i32_sub, "DAB") X(i32_mul, "DAB")                    \
    X(i32_div_s, "DAB") X(i32_div_u, "DAB")                                  \
    X(i32_rem_s, "DAB") X(i32_rem_u, "DAB")                                  \
    X(i32_and, "DAB") X(i32_or, "DAB") X(i32_xor, "DAB")                     \
    X(i32_shl, "DAB") X(i32_shr_s, "DAB") X(i32_shr_u, "DAB")                \
    X(i32_rotl, "DAB") X(i32_rotr, "DAB")                                    \
    /* --- i64 ----------------------------------------------------------- */\
    X(i64_eqz, "DA")                                                         \
    X(i64_eq, "DAB") X(i64_ne, "DAB")                                        \
    X(i64_lt_s, "DAB") X(i64_lt_u, "DAB") X(i64_gt_s, "DAB")                 \
    X(i64_gt_u, "DAB") X(i64_le_s, "DAB") X(i64_le_u, "DAB")                 \
    X(i64_ge_s, "DAB") X(i64_ge_u, "DAB")                                    \
    X(i64_clz, "DA") X(i64_ctz, "DA") X(i64_popcnt, "DA")                    \
    X(i64_add, "DAB") X(i64_sub, "DAB") X(i64_mul, "DAB")                    \
    X(i64_div_s, "DAB") X(i64_div_u, "DAB")                                  \
    X(i64_rem_s, "DAB") X(i64_rem_u, "DAB")                                  \
    X(i64_and, "DAB") X(i64_or, "DAB") X(i64_xor, "DAB")                     \
    X(i64_shl, "DAB") X(i64_shr_s, "DAB") X(i64_shr_u, "DAB")                \
    X(i64_rotl, "DAB") X(i64_rotr, "DAB")                                    \
    /* --- f32 ----------------------------------------------------------- */\
    X(f32_eq, "DAB") X(f32_ne, "DAB") X(f32_lt, "DAB")                       \
    X(f32_gt, "DAB") X(f32_le, "DAB") X(f32_ge, "DAB")                       \
    X(f32_abs, "DA") X(f32_neg, "DA") X(f32_ceil, "DA")                      \
    X(f32_floor, "DA") X(f32_trunc, "DA") X(f32_nearest, "DA")               \
    X(f32_sqrt, "DA")                                                        \
    X(f32_add, "DAB") X(f32_sub, "DAB") X(f32_mul, "DAB")                    \
    X(f32_div, "DAB") X(f32_min, "DAB") X(f32_max, "DAB")                    \
    X(f32_copysign, "DAB")                                                   \
    /* --- f64 ----------------------------------------------------------- */\
    X(f64_eq, "DAB") X(f64_ne, "DAB") X(f64_lt, "DAB")                       \
    X(f64_gt, "DAB") X(f64_le, "DAB") X(f64_ge, "DAB")                       \
    X(f64_abs, "DA") X(f64_neg, "DA") X(f64_ceil, "DA")                      \
    X(f64_floor, "DA") X(f64_trunc, "DA") X(f64_nearest, "DA")               \
    X(f64_sqrt, "DA")                                                        \
    X(f64_add, "DAB") X(f64_sub, "DAB") X(f64_mul, "DAB")                    \
    X(f64_div, "DAB") X(f64_min, "DAB") X(f64_max, "DAB")                    \
    X(f64_copysign, "DAB")                                                   \
    /* --- conversions --------------------------------------------------- */\
    X(i32_wrap_i64, "DA")                                                    \
    X(i32_trunc_f32_s, "DA") X(i32_trunc_f32_u, "DA")                        \
    X(i32_trunc_f64_s, "DA") X(i32_trunc_f64_u, "DA")                        \
    X(i64_extend_i32_s, "DA") X(i64_extend_i32_u, "DA")                      \
    X(i64_trunc_f32_s, "DA") X(i64_trunc_f32_u, "DA")                        \
    X(i64_trunc_f64_s, "DA") X(i64_trunc_f64_u, "DA")                        \
    X(f32_convert_i32_s, "DA") X(f32_convert_i32_u, "DA")                    \
    X(f32_convert_i64_s, "DA") X(f32_convert_i64_u, "DA")                    \
    X(f32_demote_f64, "DA")                                                  \
    X(f64_convert_i32_s, "DA") X(f64_convert_i32_u, "DA")                    \
    X(f64_convert_i64_s, "DA") X(f64_convert_i64_u, "DA")                    \
    X(f64_promote_f32, "DA")                                                 \
    /* reinterpret is a mov (f32<->i32 bits share the zero-extended slot) */ \
    X(i32_extend8_s, "DA") X(i32_extend16_s, "DA")                           \
    X(i64_extend8_s, "DA") X(i64_extend16_s, "DA") X(i64_extend32_s, "DA")   \
    X(i32_trunc_sat_f32_s, "DA") X(i32_trunc_sat_f32_u, "DA")                \
    X(i32_trunc_sat_f64_s, "DA") X(i32_trunc_sat_f64_u, "DA")                \
    X(i64_trunc_sat_f32_s, "DA") X(i64_trunc_sat_f32_u, "DA")                \
    X(i64_trunc_sat_f64_s, "DA") X(i64_trunc_sat_f64_u, "DA")                \
    /* --- fused forms (speed; the translator may emit them) ------------ */ \
    X(i32_add_ri, "DAI")      /* fp[D] = fp[A] + I */                        \
    X(i32_sub_ri, "DAI")                                                     \
    X(i32_and_ri, "DAI")                                                     \
    X(i32_shl_ri, "DAI")                                                     \
    X(i32_shr_s_ri, "DAI")                                                   \
    X(i32_shr_u_ri, "DAI")                                                   \
    X(i64_add_ri, "DAI")      /* I sign-extended to 64 bits */               \
    X(br_if_i32_eq, "ABT") X(br_if_i32_ne, "ABT")                            \
    X(br_if_i32_lt_s, "ABT") X(br_if_i32_lt_u, "ABT")                        \
    X(br_if_i32_gt_s, "ABT") X(br_if_i32_gt_u, "ABT")                        \
    X(br_if_i32_le_s, "ABT") X(br_if_i32_le_u, "ABT")                        \
    X(br_if_i32_ge_s, "ABT") X(br_if_i32_ge_u, "ABT")                        \
    X(i32_mul_ri, "DAI") X(i32_or_ri, "DAI") X(i32_xor_ri, "DAI")            \
    X(i32_rotl_ri, "DAI") X(i32_rotr_ri, "DAI")                              \
    X(i64_sub_ri, "DAI") X(i64_mul_ri, "DAI") X(i64_and_ri, "DAI")           \
    X(i64_or_ri, "DAI") X(i64_xor_ri, "DAI") X(i64_shl_ri, "DAI")            \
    X(i64_shr_s_ri, "DAI") X(i64_shr_u_ri, "DAI")                            \
    X(i64_rotl_ri, "DAI") X(i64_rotr_ri, "DAI")                              \
    /* i32 compares against I, in the order of i32_eq .. i32_ge_u */         \
    X(i32_eq_ri, "DAI") X(i32_ne_ri, "DAI")                                  \
    X(i32_lt_s_ri, "DAI") X(i32_lt_u_ri, "DAI")                              \
    X(i32_gt_s_ri, "DAI") X(i32_gt_u_ri, "DAI")                              \
    X(i32_le_s_ri, "DAI") X(i32_le_u_ri, "DAI")                              \
    X(i32_ge_s_ri, "DAI") X(i32_ge_u_ri, "DAI")                              \
    /* if fp[A].i32 <cmp> I goto T */                                        \
    X(br_if_i32_eq_ri, "AIT") X(br_if_i32_ne_ri, "AIT")                      \
    X(br_if_i32_lt_s_ri, "AIT") X(br_if_i32_lt_u_ri, "AIT")                  \
    X(br_if_i32_gt_s_ri, "AIT") X(br_if_i32_gt_u_ri, "AIT")                  \
    X(br_if_i32_le_s_ri, "AIT") X(br_if_i32_le_u_ri, "AIT")                  \
    X(br_if_i32_ge_s_ri, "AIT") X(br_if_i32_ge_u_ri, "AIT")                  \
    /* fused back-edges: if the test holds, charge Q and goto T */           \
    X(br_unless_back, "ATQ")  /* test: fp[A].i32 == 0 */                     \
    X(br_if_back_i32_eq, "ABTQ") X(br_if_back_i32_ne, "ABTQ")                \
    X(br_if_back_i32_lt_s, "ABTQ") X(br_if_back_i32_lt_u, "ABTQ")            \
    X(br_if_back_i32_gt_s, "ABTQ") X(br_if_back_i32_gt_u, "ABTQ")            \
    X(br_if_back_i32_le_s, "ABTQ") X(br_if_back_i32_le_u, "ABTQ")            \
    X(br_if_back_i32_ge_s, "ABTQ") X(br_if_back_i32_ge_u, "ABTQ")            \
    X(br_if_back_i32_eq_ri, "AITQ") X(br_if_back_i32_ne_ri, "AITQ")          \
    X(br_if_back_i32_lt_s_ri, "AITQ") X(br_if_back_i32_lt_u_ri, "AITQ")      \
    X(br_if_back_i32_gt_s_ri, "AITQ") X(br_if_back_i32_gt_u_ri, "AITQ")      \
    X(br_if_back_i32_le_s_ri, "AITQ") X(br_if_back_i32_le_u_ri, "AITQ")      \
    X(br_if_back_i32_ge_s_ri, "AITQ") X(br_if_back_i32_ge_u_ri, "AITQ")      \
    /*                                                                       \
     * Loads whose address is an i32 add: effective address                 \
     * (u32)(fp[A] + fp[B]) + O, or (u32)(fp[A] + I) + O.  The add wraps     \
     * as wasm's i32.add does; only the offset is added without wrapping.    \
     */                                                                      \
    X(i32_load_aa, "DABO") X(i64_load_aa, "DABO")                            \
    X(i32_load8_u_aa, "DABO")                                                \
    X(i32_load_ai, "DAIO") X(i64_load_ai, "DAIO")                            \
    X(i32_load8_u_ai, "DAIO")                                                \
    /* fp[D] = fp[A] op the value loaded from fp[B] + O (as i64/i32.load) */ \
    X(f64_add_m, "DABO") X(f64_sub_m, "DABO") X(f64_mul_m, "DABO")           \
    X(i32_add_m, "DABO")                                                     \
    X(mov2, "DADA")           /* two movs, in order */

typedef enum {
#define VMRT__X_(name, shape) VMRT__OP_##name,
    VMRT__OPS(VMRT__X_)
#undef VMRT__X_
    VMRT__OP_COUNT
} vmrt__op_t;

/* Shape string of each op, indexed by vmrt__op_t (for dumps and checks). */
extern const char *const vmrt__op_shape[VMRT__OP_COUNT];
extern const char *const vmrt__op_name[VMRT__OP_COUNT];

/*
 * Stop points: every code offset where a frame's ip can rest while no run
 * is in progress, recorded by the translator.  Snapshots use them to check
 * restored frames (a frame may only resume at one of these) and to find the
 * slots that hold funcrefs, which are host pointers and must be translated.
 *
 *   CALL  ip at a call / call_indirect: the top frame yielded before the
 *         call's fuel charge, or blocked in the host function it calls.
 *   RET   ip just after a call / call_indirect: a caller frame.
 *   BACK  ip at a fuel-charging back-edge (br_back, br_if_back and any
 *         fused form of them): the top frame yielded.
 *
 * refmap: VMRT__NO_REFS, or the index in func_code.refbits of a bitmap of
 * frame_slots bits (32 per word, slot i = bit i % 32 of word i / 32) marking
 * the slots that hold a live funcref at that point: funcref locals, and
 * materialized funcref operand temporaries (for RET: those below the call's
 * arguments only; the callee's frame covers the rest).
 */
enum { VMRT__STOP_CALL = 0, VMRT__STOP_RET = 1, VMRT__STOP_BACK = 2 };
#define VMRT__NO_REFS UINT32_MAX

typedef struct {
    uint32_t off;
    uint32_t kind;   /* VMRT__STOP_* */
    uint32_t refmap; /* index into refbits, or VMRT__NO_REFS */
} vmrt__stop_t;

/* Translated code of one defined function. */
typedef struct vmrt__func_code {
    vmrt__cell_t *code;
    uint32_t ncode;         /* cells */
    uint32_t nparams;
    uint32_t nresults;
    uint32_t nlocals;       /* params + declared locals */
    uint32_t frame_slots;   /* nlocals + maximum operand temporaries */
    uint32_t call_cost;     /* fuel charged per call, >= 1 */
    const vmrt__functype_t *type;
    /*
     * Trap sites: nsites pairs (code offset of an instruction, module byte
     * offset of the wasm instruction it came from), sorted by code offset.
     * Read only to report a trap.
     */
    uint32_t nsites;
    uint32_t *sites;
    /* Stop points, sorted by (off, kind); see vmrt__stop_t. */
    uint32_t nstops;
    vmrt__stop_t *stops;
    uint32_t nrefbits; /* words */
    uint32_t *refbits;
} vmrt__func_code_t;

/*
 * The first cell of an instruction for `op`, as interp.c dispatches it.
 * Provided by interp.c.
 */
vmrt__cell_t vmrt__op_cell(vmrt__op_t op);

/* Inverse, for dumps and tests: the op of a first cell. */
vmrt__op_t vmrt__cell_op(vmrt__cell_t cell);

#endif /* VMRT_ENGINE_CODE_H */
