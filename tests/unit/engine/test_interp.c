/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of the interpreter (engine/interp.c).
 *
 * Code is assembled by hand from vmrt__op_cell() and operands, and the
 * module and instance are bare structs, so these tests need neither the
 * decoder, the translator nor instantiation.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "engine/exec.h"

#define NF 6      /* functions per test instance */
#define NCODE 128 /* cells per function */

/* One hand-built module + instance; every array lives in here. */
typedef struct {
    vmrt_module_t mod;
    vmrt__functype_t types[NF];
    uint8_t typebytes[NF][8];
    uint32_t func_types[NF];
    vmrt__func_code_t code[NF];
    vmrt__cell_t cells[NF][NCODE];
    uint32_t sites[NF][8];
    vmrt_instance_t inst;
    vmrt__funcinst_t own[NF];
    vmrt__funcinst_t *funcs[NF];
    vmrt__memory_t memory;
    uint8_t membytes[VMRT_PAGE_SIZE];
    vmrt__table_t table;
    vmrt__table_t *tables[1];
    uint64_t elems[4];
} fx_t;

/*
 * Set up `n` defined functions; function i gets the type "params->results"
 * given as a string of i/I/f/F such as "ii>i".
 */
static void
fx_init(fx_t *fx, uint32_t slots, uint32_t depth)
{
    memset(fx, 0, sizeof(*fx));
    fx->mod.types = fx->types;
    fx->mod.ntypes = NF;
    fx->mod.func_types = fx->func_types;
    fx->mod.nfuncs = NF;
    fx->mod.code = fx->code;
    fx->inst.mod = &fx->mod;
    fx->inst.funcs = fx->funcs;
    fx->inst.own_funcs = fx->own;
    fx->inst.limits.value_stack_slots = slots;
    fx->inst.limits.max_call_depth = depth;
    for (uint32_t i = 0; i < NF; i++) {
        fx->func_types[i] = i;
        fx->types[i].types = fx->typebytes[i];
        fx->code[i].code = fx->cells[i];
        fx->code[i].type = &fx->types[i];
        fx->code[i].call_cost = 1;
        fx->own[i].inst = &fx->inst;
        fx->own[i].index = i;
        fx->own[i].type = &fx->types[i];
        fx->funcs[i] = &fx->own[i];
    }
    fx->memory.data = fx->membytes;
    fx->memory.size = VMRT_PAGE_SIZE;
    fx->memory.pages = 1;
    fx->memory.max_pages = 1;
    fx->inst.mem = &fx->memory;
    fx->table.elems = fx->elems;
    fx->table.size = 4;
    fx->table.max = 4;
    fx->tables[0] = &fx->table;
    fx->inst.tables = fx->tables;
    fx->mod.ntables = 1;
    assert_int_equal(vmrt__exec_create(&fx->inst), 0);
}

static void
fx_free(fx_t *fx)
{
    vmrt__exec_free(&fx->inst);
}

static uint8_t
type_code(char c)
{
    switch (c) {
    case 'i':
        return VMRT_I32;
    case 'I':
        return VMRT_I64;
    case 'f':
        return VMRT_F32;
    default:
        return VMRT_F64;
    }
}

/* Declare function f: signature, locals beyond params, frame slots. */
static void
fx_func(fx_t *fx, uint32_t f, const char *sig, uint32_t extra_locals,
        uint32_t frame_slots)
{
    vmrt__functype_t *ft = &fx->types[f];
    const char *arrow = strchr(sig, '>');
    uint32_t np = (uint32_t)(arrow - sig), nr = (uint32_t)strlen(arrow + 1);

    for (uint32_t i = 0; i < np; i++)
        fx->typebytes[f][i] = type_code(sig[i]);
    for (uint32_t i = 0; i < nr; i++)
        fx->typebytes[f][np + i] = type_code(arrow[1 + i]);
    ft->nparams = np;
    ft->nresults = nr;
    fx->code[f].nparams = np;
    fx->code[f].nresults = nr;
    fx->code[f].nlocals = np + extra_locals;
    fx->code[f].frame_slots = frame_slots;
}

/* Append one instruction to function f; return its code offset. */
static uint32_t
emit_(fx_t *fx, uint32_t f, vmrt__op_t op, const uint32_t *ops, size_t n)
{
    vmrt__func_code_t *c = &fx->code[f];
    uint32_t at = c->ncode;

    assert_true(at + 1 + n <= NCODE);
    fx->cells[f][c->ncode++] = vmrt__op_cell(op);
    for (size_t i = 0; i < n; i++)
        fx->cells[f][c->ncode++] = ops[i];
    return at;
}

#define E(fx, f, op, ...)                                                    \
    emit_((fx), (f), VMRT__OP_##op, (const uint32_t[]){__VA_ARGS__},         \
          sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))
#define E0(fx, f, op) emit_((fx), (f), VMRT__OP_##op, NULL, 0)

static vmrt_val_t
vi32(int32_t v)
{
    vmrt_val_t x = { .type = VMRT_I32 };

    x.of.i32 = v;
    return x;
}

static vmrt_val_t
vf32(float v)
{
    vmrt_val_t x = { .type = VMRT_F32 };

    memcpy(&x.of.f32, &v, sizeof(v));
    return x;
}

static vmrt_val_t
vf64(double v)
{
    vmrt_val_t x = { .type = VMRT_F64 };

    memcpy(&x.of.f64, &v, sizeof(v));
    return x;
}

/* Call f and run with unlimited fuel; return the run status. */
static int
call_run(vmrt_instance_t *inst, uint32_t f, const vmrt_val_t *args,
         uint32_t n, vmrt_val_t *res)
{
    int rc = vmrt_instance_call(inst, f, args, n);

    if (rc != 0)
        return rc;
    rc = vmrt_instance_run(inst, UINT64_MAX, NULL);
    if (rc == VMRT_RUN_DONE && res != NULL)
        assert_true(vmrt_instance_results(inst, res, 1) <= 1);
    return rc;
}

/* Result of a one-op unary function: fp[1] = op fp[0]; expects DONE. */
static vmrt_val_t
unary(vmrt__op_t op, const char *sig, vmrt_val_t arg, int *status)
{
    static fx_t fx;
    vmrt_val_t r = { 0 };

    fx_init(&fx, 64, 16);
    fx_func(&fx, 0, sig, 0, 2);
    emit_(&fx, 0, op, (const uint32_t[]){ 0, 0 }, 2);
    E0(&fx, 0, ret);
    *status = call_run(&fx.inst, 0, &arg, 1, &r);
    fx_free(&fx);
    return r;
}

static vmrt_val_t
binary(vmrt__op_t op, const char *sig, vmrt_val_t a, vmrt_val_t b,
       int *status)
{
    static fx_t fx;
    vmrt_val_t args[2] = { a, b }, r = { 0 };

    fx_init(&fx, 64, 16);
    fx_func(&fx, 0, sig, 0, 2);
    emit_(&fx, 0, op, (const uint32_t[]){ 0, 0, 1 }, 3);
    E0(&fx, 0, ret);
    *status = call_run(&fx.inst, 0, args, 2, &r);
    fx_free(&fx);
    return r;
}

static vmrt_trap_t
last_trap_code(const vmrt_instance_t *inst)
{
    vmrt_trap_info_t ti;

    vmrt_instance_trap(inst, &ti);
    return ti.code;
}

/* -------------------------------------------------------------------- */

static void
test_interp_op_cells_round_trip(void **state)
{
    (void)state;
    for (int op = 0; op < VMRT__OP_COUNT; op++) {
        vmrt__cell_t c = vmrt__op_cell((vmrt__op_t)op);

        assert_int_equal(vmrt__cell_op(c), op);
        assert_non_null(vmrt__op_name[op]);
        assert_non_null(vmrt__op_shape[op]);
    }
    assert_string_equal(vmrt__op_shape[VMRT__OP_call_indirect], "YMAB");
    assert_string_equal(vmrt__op_name[VMRT__OP_i32_add], "i32_add");
}

static void
test_interp_add_returns_sum(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t args[2] = { vi32(40), vi32(2) }, r;

    fx_func(fx, 0, "ii>i", 0, 2);
    E(fx, 0, i32_add, 0, 0, 1);
    E0(fx, 0, ret);
    assert_int_equal(call_run(&fx->inst, 0, args, 2, &r), VMRT_RUN_DONE);
    assert_int_equal(r.type, VMRT_I32);
    assert_int_equal(r.of.i32, 42);
}

static void
test_interp_call_checks_types_and_state(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t args[2] = { vi32(1), vf32(2.0f) };

    fx_func(fx, 0, "ii>i", 0, 2);
    E(fx, 0, i32_add, 0, 0, 1);
    E0(fx, 0, ret);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, args, 2), VMRT_ETYPE);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, args, 1), VMRT_ETYPE);
    assert_int_equal(vmrt_instance_run(&fx->inst, 10, NULL), VMRT_ESTATE);
    args[1] = vi32(2);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, args, 2), 0);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, args, 2), VMRT_ESTATE);
    vmrt_instance_reset(&fx->inst);
    assert_int_equal(vmrt_instance_run(&fx->inst, 10, NULL), VMRT_ESTATE);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, args, 2), 0);
}

/* f0() calls itself forever: the frame-depth limit must trap. */
static void
test_interp_recursion_exhausts_call_depth(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t args[2] = { vi32(5), vi32(6) }, r;
    vmrt_trap_info_t ti;

    fx_func(fx, 0, ">", 0, 1);
    E(fx, 0, call, 0, 0);
    E0(fx, 0, ret);
    fx_func(fx, 1, "ii>i", 0, 2);
    E(fx, 1, i32_mul, 0, 0, 1);
    E0(fx, 1, ret);
    assert_int_equal(call_run(&fx->inst, 0, NULL, 0, NULL), VMRT_RUN_TRAP);
    vmrt_instance_trap(&fx->inst, &ti);
    assert_int_equal(ti.code, VMRT_TRAP_STACK_EXHAUSTED);
    assert_int_equal(ti.func_index, 0);
    /* The instance stays usable after a trap. */
    assert_int_equal(call_run(&fx->inst, 1, args, 2, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 30);
}

/* Each recursion level moves fp by 3 of its 10 slots: slots run out. */
static void
test_interp_recursion_exhausts_value_stack(void **state)
{
    static fx_t fx;

    (void)state;
    fx_init(&fx, 200, 100000);
    fx_func(&fx, 0, ">", 0, 10);
    E(&fx, 0, call, 0, 3);
    E0(&fx, 0, ret);
    assert_int_equal(call_run(&fx.inst, 0, NULL, 0, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx.inst), VMRT_TRAP_STACK_EXHAUSTED);
    fx_free(&fx);
}

/* Deep but finite recursion within the limit returns the right value. */
static void
test_interp_recursion_sum_returns(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t arg = vi32(500), r;
    uint32_t at, skip;

    /* f0(n) = n == 0 ? 0 : n + f0(n - 1); frame: 0 n, 1 tmp(arg/ret). */
    fx_func(fx, 0, "i>i", 0, 3);
    skip = E(fx, 0, br_if, 0, 0);
    E0(fx, 0, ret); /* n == 0: fp[0] is already 0 */
    at = E(fx, 0, i32_sub_ri, 1, 0, 1);
    E(fx, 0, call, 0, 1);
    E(fx, 0, i32_add, 0, 0, 1);
    E0(fx, 0, ret);
    fx->cells[0][skip + 2] = at;
    assert_int_equal(call_run(&fx->inst, 0, &arg, 1, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 500 * 501 / 2);
}

/*
 * A loop adding 3 to an accumulator n times via a helper call: run it to
 * completion under many fuel budgets and check that the result and the
 * total fuel are the same as in one unlimited run.
 */
static void
build_counting_loop(fx_t *fx)
{
    uint32_t loop;

    /* f0(n): 0 n, 1 acc, 2-3 call temps. */
    fx_func(fx, 0, "i>i", 1, 4);
    fx->code[0].call_cost = 2;
    loop = E(fx, 0, mov, 2, 1);
    E(fx, 0, const32, 3, 3);
    E(fx, 0, call, 1, 2);
    E(fx, 0, mov, 1, 2);
    E(fx, 0, i32_sub_ri, 0, 0, 1);
    E(fx, 0, br_if_back, 0, loop, 5);
    E(fx, 0, mov, 0, 1);
    E0(fx, 0, ret);
    /* f1(a, b) = a + b, with a declared local that must start at 0. */
    fx_func(fx, 1, "ii>i", 1, 3);
    fx->code[1].call_cost = 3;
    E(fx, 1, i32_add, 0, 0, 1);
    E(fx, 1, i32_add, 0, 0, 2);
    E(fx, 1, const32, 2, 99); /* dirty the local for the next call */
    E0(fx, 1, ret);
}

static void
test_interp_fuel_yield_resumes_exactly(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t arg = vi32(37), r;
    uint64_t used, total_ref;

    build_counting_loop(fx);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, &arg, 1), 0);
    assert_int_equal(vmrt_instance_run(&fx->inst, UINT64_MAX, &total_ref),
                     VMRT_RUN_DONE);
    assert_int_equal(vmrt_instance_results(&fx->inst, &r, 1), 1);
    assert_int_equal(r.of.i32, 37 * 3);
    /* 2 (entry) + 37 * 3 (calls) + 36 * 5 (back-edges taken) */
    assert_int_equal(total_ref, 2 + 37 * 3 + 36 * 5);

    /*
     * Budgets below the largest charge (5) too: a run refuses a charge only
     * once its budget is spent, so every run makes progress and overdraws
     * by less than one charge.
     */
    for (uint64_t budget = 1; budget < 40; budget++) {
        uint64_t total = 0;
        int rc, runs = 0;

        assert_int_equal(vmrt_instance_call(&fx->inst, 0, &arg, 1), 0);
        do {
            rc = vmrt_instance_run(&fx->inst, budget, &used);
            assert_true(used < budget + 5);
            if (rc == VMRT_RUN_YIELD)
                assert_true(used >= budget);
            total += used;
            runs++;
            assert_true(runs < 10000);
        } while (rc == VMRT_RUN_YIELD);
        assert_int_equal(rc, VMRT_RUN_DONE);
        assert_int_equal(total, total_ref);
        assert_int_equal(vmrt_instance_results(&fx->inst, &r, 1), 1);
        assert_int_equal(r.of.i32, 37 * 3);
    }
}

static void
test_interp_zero_fuel_yields_before_first_call(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t arg = vi32(2), r;
    uint64_t used = 99;

    build_counting_loop(fx);
    assert_int_equal(vmrt_instance_call(&fx->inst, 0, &arg, 1), 0);
    assert_int_equal(vmrt_instance_run(&fx->inst, 0, &used), VMRT_RUN_YIELD);
    assert_int_equal(used, 0);
    assert_int_equal(vmrt_instance_run(&fx->inst, UINT64_MAX, &used),
                     VMRT_RUN_DONE);
    assert_int_equal(vmrt_instance_results(&fx->inst, &r, 1), 1);
    assert_int_equal(r.of.i32, 6);
}

static void
test_interp_trap_reports_code_and_offset(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t args[2] = { vi32(7), vi32(0) };
    vmrt_trap_info_t ti;
    uint32_t at;

    fx_func(fx, 0, ">", 0, 1);
    E0(fx, 0, ret);
    fx_func(fx, 3, "ii>i", 0, 2);
    E(fx, 3, i32_add_ri, 0, 0, 1);
    at = E(fx, 3, i32_div_s, 0, 0, 1);
    E0(fx, 3, ret);
    fx->sites[3][0] = 0;
    fx->sites[3][1] = 0x30;
    fx->sites[3][2] = at;
    fx->sites[3][3] = 0x42;
    fx->sites[3][4] = at + 4;
    fx->sites[3][5] = 0x50;
    fx->code[3].sites = fx->sites[3];
    fx->code[3].nsites = 3;
    assert_int_equal(call_run(&fx->inst, 3, args, 2, NULL), VMRT_RUN_TRAP);
    vmrt_instance_trap(&fx->inst, &ti);
    assert_int_equal(ti.code, VMRT_TRAP_DIV_ZERO);
    assert_int_equal(ti.func_index, 3);
    assert_int_equal(ti.offset, 0x42);
    assert_int_equal(vmrt_instance_results(&fx->inst, args, 1), 0);
}

static void
test_interp_unreachable_traps(void **state)
{
    fx_t *fx = *state;

    fx_func(fx, 0, ">", 0, 1);
    E0(fx, 0, unreachable);
    assert_int_equal(call_run(&fx->inst, 0, NULL, 0, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_UNREACHABLE);
}

static void
test_interp_division_edge_cases(void **state)
{
    int st;
    vmrt_val_t r;
    vmrt_val_t imin = vi32(INT32_MIN), m1 = vi32(-1);
    vmrt_val_t lmin = { .type = VMRT_I64, .of.i64 = INT64_MIN };
    vmrt_val_t lm1 = { .type = VMRT_I64, .of.i64 = -1 };
    vmrt_val_t l0 = { .type = VMRT_I64, .of.i64 = 0 };

    (void)state;
    binary(VMRT__OP_i32_div_s, "ii>i", imin, m1, &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = binary(VMRT__OP_i32_rem_s, "ii>i", imin, m1, &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0);
    r = binary(VMRT__OP_i32_div_u, "ii>i", imin, m1, &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0);
    r = binary(VMRT__OP_i32_rem_s, "ii>i", vi32(-7), vi32(2), &st);
    assert_int_equal(r.of.i32, -1);
    binary(VMRT__OP_i64_div_s, "II>I", lmin, lm1, &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = binary(VMRT__OP_i64_rem_s, "II>I", lmin, lm1, &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(r.of.i64, 0);
    binary(VMRT__OP_i64_rem_u, "II>I", lmin, l0, &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = binary(VMRT__OP_i32_shl, "ii>i", vi32(1), vi32(33), &st);
    assert_int_equal(r.of.i32, 2);
    r = binary(VMRT__OP_i32_rotr, "ii>i", vi32(1), vi32(1), &st);
    assert_int_equal(r.of.i32, INT32_MIN);
    r = unary(VMRT__OP_i32_clz, "i>i", vi32(0), &st);
    assert_int_equal(r.of.i32, 32);
    r = unary(VMRT__OP_i32_ctz, "i>i", vi32(INT32_MIN), &st);
    assert_int_equal(r.of.i32, 31);
}

static void
test_interp_division_traps_have_codes(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t args[2] = { vi32(INT32_MIN), vi32(-1) };

    fx_func(fx, 0, "ii>i", 0, 2);
    E(fx, 0, i32_div_s, 0, 0, 1);
    E0(fx, 0, ret);
    assert_int_equal(call_run(&fx->inst, 0, args, 2, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_INT_OVERFLOW);
    args[1] = vi32(0);
    assert_int_equal(call_run(&fx->inst, 0, args, 2, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_DIV_ZERO);
}

static uint32_t
f32_bits_of(vmrt_val_t v)
{
    return v.of.f32;
}

static void
test_interp_float_min_max_nearest(void **state)
{
    int st;
    vmrt_val_t r;
    uint32_t qnan = 0x7fc00000u;
    vmrt_val_t nan = { .type = VMRT_F32, .of.f32 = 0x7fa00000u };

    (void)state;
    r = binary(VMRT__OP_f32_min, "ff>f", vf32(0.0f), vf32(-0.0f), &st);
    assert_int_equal(f32_bits_of(r), 0x80000000u);
    r = binary(VMRT__OP_f32_min, "ff>f", vf32(-0.0f), vf32(0.0f), &st);
    assert_int_equal(f32_bits_of(r), 0x80000000u);
    r = binary(VMRT__OP_f32_max, "ff>f", vf32(-0.0f), vf32(0.0f), &st);
    assert_int_equal(f32_bits_of(r), 0);
    r = binary(VMRT__OP_f32_max, "ff>f", vf32(0.0f), vf32(-0.0f), &st);
    assert_int_equal(f32_bits_of(r), 0);
    r = binary(VMRT__OP_f32_min, "ff>f", vf32(1.0f), nan, &st);
    assert_true((f32_bits_of(r) & qnan) == qnan);
    r = binary(VMRT__OP_f32_max, "ff>f", nan, vf32(1.0f), &st);
    assert_true((f32_bits_of(r) & qnan) == qnan);
    r = binary(VMRT__OP_f64_min, "FF>F", vf64(-0.0), vf64(0.0), &st);
    assert_true(r.of.f64 == 0x8000000000000000u);
    r = binary(VMRT__OP_f64_max, "FF>F", vf64(-0.0), vf64(0.0), &st);
    assert_true(r.of.f64 == 0);

    r = unary(VMRT__OP_f32_nearest, "f>f", vf32(2.5f), &st);
    assert_int_equal(f32_bits_of(r), f32_bits_of(vf32(2.0f)));
    r = unary(VMRT__OP_f32_nearest, "f>f", vf32(3.5f), &st);
    assert_int_equal(f32_bits_of(r), f32_bits_of(vf32(4.0f)));
    r = unary(VMRT__OP_f32_nearest, "f>f", vf32(-0.5f), &st);
    assert_int_equal(f32_bits_of(r), 0x80000000u);
    r = unary(VMRT__OP_f64_nearest, "F>F", vf64(-4.5), &st);
    assert_true(r.of.f64 == vf64(-4.0).of.f64);
    /* neg and abs keep a NaN payload bit for bit. */
    r = unary(VMRT__OP_f32_neg, "f>f", nan, &st);
    assert_int_equal(f32_bits_of(r), 0xffa00000u);
    /* f32 arithmetic rounds to single precision. */
    r = binary(VMRT__OP_f32_add, "ff>f", vf32(16777216.0f), vf32(1.0f), &st);
    assert_int_equal(f32_bits_of(r), f32_bits_of(vf32(16777216.0f)));
}

static void
test_interp_trunc_bounds_are_exact(void **state)
{
    int st;
    vmrt_val_t r;
    vmrt_val_t nan = { .type = VMRT_F32, .of.f32 = 0x7fc00000u };
    static fx_t fx;

    (void)state;
    r = unary(VMRT__OP_i32_trunc_f32_s, "f>i", vf32(-2147483648.0f), &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, INT32_MIN);
    unary(VMRT__OP_i32_trunc_f32_s, "f>i", vf32(2147483648.0f), &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = unary(VMRT__OP_i32_trunc_f64_s, "F>i", vf64(-2147483648.9), &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, INT32_MIN);
    unary(VMRT__OP_i32_trunc_f64_s, "F>i", vf64(-2147483649.0), &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = unary(VMRT__OP_i32_trunc_f64_s, "F>i", vf64(2147483647.9), &st);
    assert_int_equal(r.of.i32, INT32_MAX);
    r = unary(VMRT__OP_i32_trunc_f64_u, "F>i", vf64(-0.9), &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0);
    unary(VMRT__OP_i32_trunc_f64_u, "F>i", vf64(-1.0), &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = unary(VMRT__OP_i32_trunc_f64_u, "F>i", vf64(4294967295.9), &st);
    assert_int_equal((uint32_t)r.of.i32, UINT32_MAX);
    r = unary(VMRT__OP_i64_trunc_f64_u, "F>I", vf64(18446744073709549568.0),
              &st);
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_true((uint64_t)r.of.i64 == 18446744073709549568u);
    unary(VMRT__OP_i64_trunc_f64_u, "F>I", vf64(18446744073709551616.0), &st);
    assert_int_equal(st, VMRT_RUN_TRAP);
    r = unary(VMRT__OP_i64_trunc_f32_s, "f>I", vf32(-9223372036854775808.0f),
              &st);
    assert_true(r.of.i64 == INT64_MIN);
    unary(VMRT__OP_i64_trunc_f32_s, "f>I", vf32(9223372036854775808.0f), &st);
    assert_int_equal(st, VMRT_RUN_TRAP);

    r = unary(VMRT__OP_i32_trunc_sat_f32_s, "f>i", nan, &st);
    assert_int_equal(r.of.i32, 0);
    r = unary(VMRT__OP_i32_trunc_sat_f32_s, "f>i", vf32(1e10f), &st);
    assert_int_equal(r.of.i32, INT32_MAX);
    r = unary(VMRT__OP_i32_trunc_sat_f32_u, "f>i", vf32(-5.0f), &st);
    assert_int_equal(r.of.i32, 0);
    r = unary(VMRT__OP_i64_trunc_sat_f64_s, "F>I", vf64(-1e300), &st);
    assert_true(r.of.i64 == INT64_MIN);

    /* NaN and out-of-range trap with distinct codes. */
    fx_init(&fx, 64, 16);
    fx_func(&fx, 0, "f>i", 0, 1);
    E(&fx, 0, i32_trunc_f32_u, 0, 0);
    E0(&fx, 0, ret);
    assert_int_equal(call_run(&fx.inst, 0, &nan, 1, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx.inst),
                     VMRT_TRAP_INVALID_CONVERSION);
    r = vf32(4294967296.0f);
    assert_int_equal(call_run(&fx.inst, 0, &r, 1, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx.inst), VMRT_TRAP_INT_OVERFLOW);
    fx_free(&fx);
}

static void
test_interp_memory_bounds(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t args[2] = { vi32(65532), vi32(0x11223344) }, r;

    /* f0(addr, v): store32 [addr] = v; return load8_u [addr + 1]. */
    fx_func(fx, 0, "ii>i", 0, 2);
    E(fx, 0, store32, 0, 1, 0);
    E(fx, 0, i32_load8_u, 0, 0, 1);
    E0(fx, 0, ret);
    assert_int_equal(call_run(&fx->inst, 0, args, 2, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0x33);
    args[0] = vi32(65533);
    assert_int_equal(call_run(&fx->inst, 0, args, 2, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_MEMORY_OOB);
    /* The address is unsigned: -1 is 4 GiB - 1, far out of bounds. */
    args[0] = vi32(-1);
    assert_int_equal(call_run(&fx->inst, 0, args, 2, NULL), VMRT_RUN_TRAP);
}

static int host_calls;

static int
host_block_once(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
                uint64_t *results)
{
    uint32_t a = (uint32_t)args[0];

    (void)inst;
    (void)ctx;
    if (host_calls++ == 0)
        return VMRT_HOST_BLOCK;
    results[0] = a * 10;
    return 0;
}

static int
host_exit(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    (void)inst;
    (void)ctx;
    (void)args;
    (void)results;
    return VMRT_HOST_EXIT;
}

static int
host_fail(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    (void)inst;
    (void)ctx;
    (void)args;
    (void)results;
    return -1;
}

/*
 * Function 0 is an import of a host function; f1 calls it.  mod.code is
 * indexed by defined function, so it starts at code[nfunc_imports].
 */
static void
import_host(fx_t *fx, vmrt_host_fn_t fn)
{
    fx->mod.nfunc_imports = 1;
    fx->mod.code = fx->code + 1;
    fx->own[0].inst = NULL;
    fx->own[0].host = fn;
    fx_func(fx, 0, "i>i", 0, 0);
    fx_func(fx, 1, "i>i", 0, 3);
    E(fx, 1, i32_add_ri, 1, 0, 1);
    E(fx, 1, call, 0, 1);
    E(fx, 1, i32_add_ri, 0, 1, 5);
    E0(fx, 1, ret);
}

static void
test_interp_host_block_reissues_call(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t arg = vi32(4), r;

    import_host(fx, host_block_once);
    host_calls = 0;
    assert_int_equal(vmrt_instance_call(&fx->inst, 1, &arg, 1), 0);
    assert_int_equal(vmrt_instance_run(&fx->inst, UINT64_MAX, NULL),
                     VMRT_RUN_BLOCKED);
    assert_int_equal(host_calls, 1);
    assert_int_equal(vmrt_instance_run(&fx->inst, UINT64_MAX, NULL),
                     VMRT_RUN_DONE);
    assert_int_equal(host_calls, 2);
    assert_int_equal(vmrt_instance_results(&fx->inst, &r, 1), 1);
    assert_int_equal(r.of.i32, 55);
    /* Calling the host import directly as the entry function works too. */
    host_calls = 1;
    assert_int_equal(call_run(&fx->inst, 0, &arg, 1, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 40);
}

static void
test_interp_host_exit_and_failure(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t arg = vi32(4);

    import_host(fx, host_exit);
    assert_int_equal(call_run(&fx->inst, 1, &arg, 1, NULL), VMRT_RUN_EXIT);
    assert_int_equal(vmrt_instance_run(&fx->inst, 1, NULL), VMRT_ESTATE);
    fx->own[0].host = host_fail;
    assert_int_equal(call_run(&fx->inst, 1, &arg, 1, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_HOST);
}

static void
test_interp_call_indirect_checks(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t arg, r;

    /* f0(i) = call_indirect type 1 table 0 [i] (5) */
    fx_func(fx, 0, "i>i", 0, 2);
    E(fx, 0, const32, 1, 5);
    E(fx, 0, call_indirect, 1, 0, 0, 1);
    E(fx, 0, mov, 0, 1);
    E0(fx, 0, ret);
    fx_func(fx, 1, "i>i", 0, 1);
    E(fx, 1, i32_add_ri, 0, 0, 100);
    E0(fx, 1, ret);
    fx_func(fx, 2, "I>I", 0, 1);
    E0(fx, 2, ret);
    fx->elems[0] = (uint64_t)(uintptr_t)&fx->own[1];
    fx->elems[1] = (uint64_t)(uintptr_t)&fx->own[2];
    fx->elems[2] = 0;
    arg = vi32(0);
    assert_int_equal(call_run(&fx->inst, 0, &arg, 1, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 105);
    arg = vi32(1);
    assert_int_equal(call_run(&fx->inst, 0, &arg, 1, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_INDIRECT_TYPE);
    arg = vi32(2);
    assert_int_equal(call_run(&fx->inst, 0, &arg, 1, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_UNINIT_ELEM);
    arg = vi32(4);
    assert_int_equal(call_run(&fx->inst, 0, &arg, 1, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_UNDEFINED_ELEM);
}

/* Instance A calls a function of instance B that uses B's memory. */
static void
test_interp_cross_instance_call_switches_state(void **state)
{
    static fx_t b;
    fx_t *a = *state;
    vmrt_val_t arg = vi32(8), r;
    vmrt_trap_info_t ti;

    fx_init(&b, 64, 16);
    /* b.f0(addr) = load32 [addr]; b.f1() traps. */
    fx_func(&b, 0, "i>i", 0, 1);
    E(&b, 0, i32_load, 0, 0, 0);
    E0(&b, 0, ret);
    fx_func(&b, 1, ">", 0, 1);
    E0(&b, 1, unreachable);
    b.membytes[8] = 0x2a;
    a->inst.mem = NULL;

    /* a: function 0 imports b.f0, function 1 imports b.f1. */
    a->mod.nfunc_imports = 2;
    a->funcs[0] = &b.own[0];
    a->funcs[1] = &b.own[1];
    fx_func(a, 0, "i>i", 0, 0);
    fx_func(a, 1, ">", 0, 0);
    fx_func(a, 2, "i>i", 0, 2);
    /* a.f2(x) = 2 * b.f0(x); a has no memory, b's is used inside b. */
    a->mod.code = a->code + 2;
    E(a, 2, mov, 1, 0);
    E(a, 2, call, 0, 1);
    E(a, 2, i32_add, 0, 1, 1);
    E0(a, 2, ret);
    fx_func(a, 3, ">", 0, 1);
    E(a, 3, call, 1, 0);
    E0(a, 3, ret);
    assert_int_equal(call_run(&a->inst, 2, &arg, 1, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0x54);
    assert_int_equal(call_run(&a->inst, 3, NULL, 0, NULL), VMRT_RUN_TRAP);
    vmrt_instance_trap(&a->inst, &ti);
    assert_int_equal(ti.code, VMRT_TRAP_UNREACHABLE);
    assert_int_equal(ti.func_index, 1); /* in b's function space */
    /* The entry can itself be the import. */
    assert_int_equal(call_run(&a->inst, 0, &arg, 1, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0x2a);
    fx_free(&b);
}

static void
test_interp_bulk_memory_and_tables(void **state)
{
    fx_t *fx = *state;
    vmrt_val_t r;

    /* fill [10..14) with 7, copy [10..14) to [12..16); return load32 [12] */
    fx_func(fx, 0, ">i", 0, 4);
    E(fx, 0, const32, 0, 10);
    E(fx, 0, const32, 1, 7);
    E(fx, 0, const32, 2, 4);
    E(fx, 0, memory_fill, 0, 1, 2);
    E(fx, 0, const32, 1, 12);
    E(fx, 0, memory_copy, 1, 0, 2);
    E(fx, 0, i32_load, 0, 1, 0);
    E0(fx, 0, ret);
    assert_int_equal(call_run(&fx->inst, 0, NULL, 0, &r), VMRT_RUN_DONE);
    assert_int_equal(r.of.i32, 0x07070707);

    /* table.fill past the end traps before writing anything. */
    fx_func(fx, 1, ">", 0, 3);
    E(fx, 1, const32, 0, 2);
    E(fx, 1, const64, 1, 0x1234, 0);
    E(fx, 1, const32, 2, 3);
    E(fx, 1, table_fill, 0, 0, 1, 2);
    E0(fx, 1, ret);
    assert_int_equal(call_run(&fx->inst, 1, NULL, 0, NULL), VMRT_RUN_TRAP);
    assert_int_equal(last_trap_code(&fx->inst), VMRT_TRAP_TABLE_OOB);
    assert_true(fx->elems[2] == 0 && fx->elems[3] == 0);
}

static int
setup(void **state)
{
    static fx_t fx;

    fx_init(&fx, 1024, 1000);
    *state = &fx;
    return 0;
}

static int
teardown(void **state)
{
    fx_free(*state);
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interp_op_cells_round_trip),
        cmocka_unit_test_setup_teardown(test_interp_add_returns_sum, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_call_checks_types_and_state, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_recursion_exhausts_call_depth, setup, teardown),
        cmocka_unit_test(test_interp_recursion_exhausts_value_stack),
        cmocka_unit_test_setup_teardown(test_interp_recursion_sum_returns,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_fuel_yield_resumes_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_zero_fuel_yields_before_first_call, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_trap_reports_code_and_offset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interp_unreachable_traps, setup,
                                        teardown),
        cmocka_unit_test(test_interp_division_edge_cases),
        cmocka_unit_test_setup_teardown(
            test_interp_division_traps_have_codes, setup, teardown),
        cmocka_unit_test(test_interp_float_min_max_nearest),
        cmocka_unit_test(test_interp_trunc_bounds_are_exact),
        cmocka_unit_test_setup_teardown(test_interp_memory_bounds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_host_block_reissues_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interp_host_exit_and_failure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_interp_call_indirect_checks,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_interp_cross_instance_call_switches_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interp_bulk_memory_and_tables,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
