/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of body validation and translation (engine/compile.c).
 *
 * Each test builds a one-function module around a hand-written body,
 * loads it with vmrt_module_load() and either checks the rejection or
 * looks at the translated code through vmrt__cell_op().  A few tests run
 * the code, for translations whose mistakes would only show as wrong
 * values (parallel moves, pending local reads, branch stubs).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine/code.h"
#include "engine/instance.h"

#define MOD_MAX 512

/* A body: local declarations then instructions, as a string literal. */
#define BODY(s) (const uint8_t *)(s), (sizeof(s) - 1)

typedef struct {
    const char *params;  /* value type bytes, e.g. "\x7f\x7f" */
    const char *results;
    bool memory;         /* add (memory 1) */
    bool datacount;      /* add a data count section of 1 (and 1 data) */
} sig_t;

static size_t
put_section(uint8_t *out, size_t n, uint8_t id, const uint8_t *p, size_t len)
{
    out[n++] = id;
    assert_true(len < 128);
    out[n++] = (uint8_t)len;
    memcpy(out + n, p, len);
    return n + len;
}

/* Assemble a module with one function of signature `s` and body `body`. */
static size_t
build(uint8_t *out, const sig_t *s, const uint8_t *body, size_t blen)
{
    uint8_t sec[MOD_MAX];
    size_t n = 0, k = 0;
    size_t np = strlen(s->params), nr = strlen(s->results);

    memcpy(out, "\0asm\x01\0\0\0", 8);
    n = 8;
    sec[k++] = 1;
    sec[k++] = 0x60;
    sec[k++] = (uint8_t)np;
    memcpy(sec + k, s->params, np);
    k += np;
    sec[k++] = (uint8_t)nr;
    memcpy(sec + k, s->results, nr);
    k += nr;
    n = put_section(out, n, 1, sec, k);
    n = put_section(out, n, 3, (const uint8_t *)"\x01\x00", 2);
    if (s->memory)
        n = put_section(out, n, 5, (const uint8_t *)"\x01\x00\x01", 3);
    if (s->datacount)
        n = put_section(out, n, 12, (const uint8_t *)"\x01", 1);
    assert_true(blen + 2 < 128);
    k = 0;
    sec[k++] = 1;
    sec[k++] = (uint8_t)blen;
    memcpy(sec + k, body, blen);
    k += blen;
    n = put_section(out, n, 10, sec, k);
    if (s->datacount)
        n = put_section(out, n, 11, (const uint8_t *)"\x01\x01\x00", 3);
    return n;
}

static int
load(const sig_t *s, const uint8_t *body, size_t blen, vmrt_module_t **mod,
     char *err, size_t errlen)
{
    uint8_t bin[MOD_MAX];
    size_t n = build(bin, s, body, blen);

    return vmrt_module_load(bin, n, mod, err, errlen);
}

/* Expect rejection with `rc` and `why` somewhere in the reason. */
static void
expect_reject(const sig_t *s, const uint8_t *body, size_t blen, int rc,
              const char *why)
{
    vmrt_module_t *mod = NULL;
    char err[160];

    assert_int_equal(load(s, body, blen, &mod, err, sizeof(err)), rc);
    assert_null(mod);
    if (strstr(err, why) == NULL)
        fail_msg("reason \"%s\" lacks \"%s\"", err, why);
    assert_non_null(strstr(err, "func 0 @0x"));
}

static const vmrt__func_code_t *
load_ok(const sig_t *s, const uint8_t *body, size_t blen, vmrt_module_t **mod)
{
    char err[160];

    if (load(s, body, blen, mod, err, sizeof(err)) != 0)
        fail_msg("load failed: %s", err);
    return &(*mod)->code[0];
}

/* Run function 0 with i32 arguments; return its first i32 result. */
static int32_t
run_i32(vmrt_module_t *mod, const int32_t *args, uint32_t nargs,
        vmrt_val_t *res, uint32_t nres)
{
    vmrt_instance_t *inst = NULL;
    vmrt_val_t a[4];
    char err[160];

    for (uint32_t i = 0; i < nargs; i++) {
        a[i].type = VMRT_I32;
        a[i].of.i32 = args[i];
    }
    assert_int_equal(vmrt_instance_create(mod, NULL, NULL, &inst, err,
                                          sizeof(err)), 0);
    assert_int_equal(vmrt_instance_call(inst, 0, a, nargs), 0);
    assert_int_equal(vmrt_instance_run(inst, UINT64_MAX, NULL),
                     VMRT_RUN_DONE);
    assert_int_equal(vmrt_instance_results(inst, res, nres), nres);
    vmrt_instance_free(inst);
    return res[0].of.i32;
}

static const sig_t ii_v = { "\x7f\x7f", "", false, false };
static const sig_t ii_i = { "\x7f\x7f", "\x7f", false, false };
static const sig_t i_i = { "\x7f", "\x7f", false, false };
static const sig_t v_v = { "", "", false, false };

/* ------------------------------------------------------------------ */

static void
test_compile_add_into_local_is_one_instruction(void **state)
{
    vmrt_module_t *mod = NULL;
    /* (local i32) local.get 0 local.get 1 i32.add local.set 2 */
    const vmrt__func_code_t *fc =
        load_ok(&ii_v, BODY("\x01\x01\x7f\x20\x00\x20\x01\x6a\x21\x02\x0b"),
                &mod);

    (void)state;
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_i32_add);
    assert_int_equal(fc->code[1], 2); /* D */
    assert_int_equal(fc->code[2], 0); /* A */
    assert_int_equal(fc->code[3], 1); /* B */
    assert_int_equal(vmrt__cell_op(fc->code[4]), VMRT__OP_ret);
    assert_int_equal(fc->ncode, 5);
    assert_int_equal(fc->nlocals, 3);
    assert_int_equal(fc->call_cost, 2);
    vmrt_module_free(mod);
}

static void
test_compile_const_operand_uses_ri_form(void **state)
{
    vmrt_module_t *mod = NULL;
    /* local.get 0 i32.const 5 i32.add */
    const vmrt__func_code_t *fc =
        load_ok(&i_i, BODY("\x00\x20\x00\x41\x05\x6a\x0b"), &mod);

    (void)state;
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_i32_add_ri);
    /* The only result is written straight into the return slot. */
    assert_int_equal(fc->code[1], 0);
    assert_int_equal(fc->code[2], 0);
    assert_int_equal(fc->code[3], 5);
    assert_int_equal(vmrt__cell_op(fc->code[4]), VMRT__OP_ret);
    assert_int_equal(fc->ncode, 5);
    vmrt_module_free(mod);
}

static void
test_compile_compare_and_br_if_fuse(void **state)
{
    vmrt_module_t *mod = NULL;
    /* block local.get 0 local.get 1 i32.lt_s br_if 0 end */
    const vmrt__func_code_t *fc = load_ok(
        &ii_v, BODY("\x00\x02\x40\x20\x00\x20\x01\x48\x0d\x00\x0b\x0b"),
        &mod);

    (void)state;
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_br_if_i32_lt_s);
    assert_int_equal(fc->code[1], 0);
    assert_int_equal(fc->code[2], 1);
    assert_int_equal(fc->code[3], 4); /* the end of the block */
    assert_int_equal(vmrt__cell_op(fc->code[4]), VMRT__OP_ret);
    vmrt_module_free(mod);
}

static void
test_compile_loop_branch_charges_fuel(void **state)
{
    vmrt_module_t *mod = NULL;
    /* loop local.get 0 br_if 0 end */
    const vmrt__func_code_t *fc =
        load_ok(&ii_v, BODY("\x00\x03\x40\x20\x00\x0d\x00\x0b\x0b"), &mod);

    (void)state;
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_br_if_back);
    assert_int_equal(fc->code[1], 0); /* condition: local 0 */
    assert_int_equal(fc->code[2], 0); /* the loop header */
    assert_int_equal(fc->code[3], 1); /* Q: one instruction */
    vmrt_module_free(mod);
}

static void
test_compile_loop_compare_fuses_into_back_edge(void **state)
{
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[1];
    bool back = false;
    /*
     * loop local.get 0 i32.const 1 i32.sub local.tee 0 i32.const 0 i32.ne
     * br_if 0 end local.get 0
     */
    const vmrt__func_code_t *fc = load_ok(
        &i_i,
        BODY("\x00\x03\x40\x20\x00\x41\x01\x6b\x22\x00\x41\x00\x47\x0d"
             "\x00\x0b\x20\x00\x0b"),
        &mod);

    (void)state;
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_i32_sub_ri);
    assert_int_equal(vmrt__cell_op(fc->code[4]),
                     VMRT__OP_br_if_back_i32_ne_ri);
    assert_int_equal(fc->code[5], 0); /* A: local 0 */
    assert_int_equal(fc->code[6], 0); /* I */
    assert_int_equal(fc->code[7], 0); /* T: the loop header */
    assert_int_equal(fc->code[8], 2); /* Q: two instructions */
    /* It charges fuel, so it must be a BACK stop point. */
    for (uint32_t i = 0; i < fc->nstops; i++)
        back |= fc->stops[i].off == 4 && fc->stops[i].kind == VMRT__STOP_BACK;
    assert_true(back);
    assert_int_equal(run_i32(mod, (int32_t[]){ 5 }, 1, res, 1), 0);
    vmrt_module_free(mod);
}

static void
test_compile_load_address_add_wraps(void **state)
{
    static const sig_t i_i_mem = { "\x7f", "\x7f", true, false };
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[1];
    /* local.get 0 i32.const 8 i32.add i32.load offset=4 */
    const vmrt__func_code_t *fc = load_ok(
        &i_i_mem, BODY("\x00\x20\x00\x41\x08\x6a\x28\x02\x04\x0b"), &mod);

    (void)state;
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_i32_load_ai);
    assert_int_equal(fc->code[3], 8); /* I */
    assert_int_equal(fc->code[4], 4); /* O */
    /* 0xfffffffc + 8 wraps to 4: in bounds, as the i32.add would give. */
    assert_int_equal(run_i32(mod, (int32_t[]){ -4 }, 1, res, 1), 0);
    vmrt_module_free(mod);
}

static void
test_compile_trap_sites_name_wasm_offsets(void **state)
{
    vmrt_module_t *mod = NULL;
    /* local.get 0 local.get 1 i32.div_s */
    const vmrt__func_code_t *fc =
        load_ok(&ii_i, BODY("\x00\x20\x00\x20\x01\x6d\x0b"), &mod);
    uint32_t code_off = 0;

    (void)state;
    assert_int_equal(fc->nsites, 1);
    assert_int_equal(fc->sites[0], code_off);
    /* The div opcode sits 5 bytes into the body. */
    assert_int_equal(fc->sites[1], mod->bodies[0].body_off + 5);
    vmrt_module_free(mod);
}

static void
test_compile_rejects_type_mismatch(void **state)
{
    (void)state;
    /* i32.const 0 i64.const 0 i32.add drop */
    expect_reject(&v_v, BODY("\x00\x41\x00\x42\x00\x6a\x1a\x0b"),
                  VMRT_EINVALID, "type mismatch");
    /* missing result */
    expect_reject(&i_i, BODY("\x00\x0b"), VMRT_EINVALID, "type mismatch");
    /* value left over in a block */
    expect_reject(&v_v, BODY("\x00\x02\x40\x41\x00\x0b\x0b"), VMRT_EINVALID,
                  "type mismatch");
}

static void
test_compile_rejects_unknown_indices(void **state)
{
    (void)state;
    expect_reject(&v_v, BODY("\x00\x0c\x01\x0b"), VMRT_EINVALID,
                  "unknown label");
    expect_reject(&v_v, BODY("\x00\x20\x00\x1a\x0b"), VMRT_EINVALID,
                  "unknown local");
    expect_reject(&v_v, BODY("\x00\x10\x05\x0b"), VMRT_EINVALID,
                  "unknown function 5");
    expect_reject(&v_v, BODY("\x00\x23\x00\x1a\x0b"), VMRT_EINVALID,
                  "unknown global");
    expect_reject(&v_v, BODY("\x00\x41\x00\x28\x02\x00\x1a\x0b"),
                  VMRT_EINVALID, "unknown memory");
    expect_reject(&v_v, BODY("\x00\x02\x07\x0b\x0b"), VMRT_EINVALID,
                  "unknown type");
}

static void
test_compile_rejects_overaligned_access(void **state)
{
    const sig_t s = { "", "", true, false };

    (void)state;
    /* i32.const 0 i32.load align=3 */
    expect_reject(&s, BODY("\x00\x41\x00\x28\x03\x00\x1a\x0b"),
                  VMRT_EINVALID, "alignment must not be larger than natural");
}

static void
test_compile_rejects_malformed_bodies(void **state)
{
    const sig_t mem = { "", "", true, false };

    (void)state;
    expect_reject(&v_v, BODY("\x00\xff\x0b"), VMRT_EMALFORMED,
                  "illegal opcode");
    expect_reject(&mem, BODY("\x00\x3f\x01\x1a\x0b"), VMRT_EMALFORMED,
                  "zero byte expected");
    /* memory.init without a data count section */
    expect_reject(&mem,
                  BODY("\x00\x41\x00\x41\x00\x41\x00\xfc\x08\x00\x00\x0b"),
                  VMRT_EMALFORMED, "data count section required");
    /* no final end */
    expect_reject(&v_v, BODY("\x00\x01"), VMRT_EMALFORMED, "unexpected end");
    /* else outside if */
    expect_reject(&v_v, BODY("\x00\x05\x0b"), VMRT_EMALFORMED,
                  "END opcode expected");
    /* a later malformed encoding wins over an earlier type error */
    expect_reject(&v_v, BODY("\x00\x6a\x1a\xff\x0b"), VMRT_EMALFORMED,
                  "illegal opcode");
}

static void
test_compile_too_many_locals(void **state)
{
    (void)state;
    expect_reject(&v_v, BODY("\x01\xc0\x84\x3d\x7f\x0b"), VMRT_ELIMIT,
                  "too many locals"); /* 1000000 */
    expect_reject(&v_v,
                  BODY("\x02\xff\xff\xff\xff\x0f\x7f\x02\x7e\x0b"),
                  VMRT_EMALFORMED, "too many locals");
}

static void
test_compile_simd_is_unsupported(void **state)
{
    (void)state;
    expect_reject(&v_v, BODY("\x00\xfd\x0c\x0b"), VMRT_EUNSUPPORTED,
                  "SIMD instruction (0xfd prefix) is not supported");
}

static void
test_compile_rejects_undeclared_ref_and_select_arity(void **state)
{
    (void)state;
    /* ref.func 0 is not declared in an element segment */
    expect_reject(&v_v, BODY("\x00\xd2\x00\x1a\x0b"), VMRT_EINVALID,
                  "undeclared function reference");
    /* typed select with two types */
    expect_reject(&v_v,
                  BODY("\x00\x41\x00\x41\x00\x41\x00\x1c\x02\x7f\x7f\x1a\x0b"),
                  VMRT_EINVALID, "invalid result arity");
}

static void
test_compile_unreachable_code_is_validated_not_emitted(void **state)
{
    vmrt_module_t *mod = NULL;
    /* unreachable i32.add drop (valid: polymorphic stack) */
    const vmrt__func_code_t *fc =
        load_ok(&v_v, BODY("\x00\x00\x6a\x1a\x0b"), &mod);

    (void)state;
    assert_int_equal(fc->ncode, 1);
    assert_int_equal(vmrt__cell_op(fc->code[0]), VMRT__OP_unreachable);
    vmrt_module_free(mod);
    /* ...but still type-checked */
    expect_reject(&v_v, BODY("\x00\x00\x42\x00\x6a\x1a\x0b"), VMRT_EINVALID,
                  "type mismatch");
}

static void
test_compile_return_swaps_without_clobbering(void **state)
{
    const sig_t s = { "\x7f\x7f", "\x7f\x7f", false, false };
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[2];
    const int32_t args[2] = { 3, 4 };

    (void)state;
    /* local.get 1 local.get 0 return */
    (void)load_ok(&s, BODY("\x00\x20\x01\x20\x00\x0f\x0b"), &mod);
    run_i32(mod, args, 2, res, 2);
    assert_int_equal(res[0].of.i32, 4);
    assert_int_equal(res[1].of.i32, 3);
    vmrt_module_free(mod);
}

static void
test_compile_local_set_keeps_pending_reads(void **state)
{
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[1];
    const int32_t args[1] = { 7 };

    (void)state;
    /* local.get 0 (local.set 0 (i32.add (local.get 0) (i32.const 1))) */
    (void)load_ok(&i_i,
                  BODY("\x00\x20\x00\x20\x00\x41\x01\x6a\x21\x00\x0b"),
                  &mod);
    assert_int_equal(run_i32(mod, args, 1, res, 1), 7);
    vmrt_module_free(mod);
}

static void
test_compile_loop_sums(void **state)
{
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[1];
    const int32_t args[1] = { 10 };

    (void)state;
    /*
     * (local i32) loop
     *   local.get 1 local.get 0 i32.add local.set 1
     *   local.get 0 i32.const 1 i32.sub local.tee 0 br_if 0
     * end local.get 1
     */
    (void)load_ok(&i_i,
                  BODY("\x01\x01\x7f\x03\x40\x20\x01\x20\x00\x6a\x21\x01"
                       "\x20\x00\x41\x01\x6b\x22\x00\x0d\x00\x0b\x20\x01"
                       "\x0b"),
                  &mod);
    assert_int_equal(run_i32(mod, args, 1, res, 1), 55);
    vmrt_module_free(mod);
}

static void
test_compile_br_table_stubs_copy_values(void **state)
{
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[1];
    int32_t arg;

    (void)state;
    /*
     * block (result i32)
     *   block (result i32)
     *     i32.const 10 local.get 0 br_table 0 1 0
     *   end
     *   i32.const 100 i32.add
     * end
     */
    (void)load_ok(&i_i,
                  BODY("\x00\x02\x7f\x02\x7f\x41\x0a\x20\x00\x0e\x02\x00\x01"
                       "\x00\x0b\x41\xe4\x00\x6a\x0b\x0b"),
                  &mod);
    arg = 0;
    assert_int_equal(run_i32(mod, &arg, 1, res, 1), 110);
    arg = 1;
    assert_int_equal(run_i32(mod, &arg, 1, res, 1), 10);
    arg = 9;
    assert_int_equal(run_i32(mod, &arg, 1, res, 1), 110);
    vmrt_module_free(mod);
}

static void
test_compile_if_else_merges_results(void **state)
{
    vmrt_module_t *mod = NULL;
    vmrt_val_t res[1];
    int32_t arg;

    (void)state;
    /* local.get 0 i32.eqz if (result i32) i32.const 5 else local.get 0 end */
    (void)load_ok(&i_i,
                  BODY("\x00\x20\x00\x45\x04\x7f\x41\x05\x05\x20\x00\x0b"
                       "\x0b"),
                  &mod);
    arg = 0;
    assert_int_equal(run_i32(mod, &arg, 1, res, 1), 5);
    arg = 42;
    assert_int_equal(run_i32(mod, &arg, 1, res, 1), 42);
    vmrt_module_free(mod);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compile_add_into_local_is_one_instruction),
        cmocka_unit_test(test_compile_const_operand_uses_ri_form),
        cmocka_unit_test(test_compile_compare_and_br_if_fuse),
        cmocka_unit_test(test_compile_loop_branch_charges_fuel),
        cmocka_unit_test(test_compile_loop_compare_fuses_into_back_edge),
        cmocka_unit_test(test_compile_load_address_add_wraps),
        cmocka_unit_test(test_compile_trap_sites_name_wasm_offsets),
        cmocka_unit_test(test_compile_rejects_type_mismatch),
        cmocka_unit_test(test_compile_rejects_unknown_indices),
        cmocka_unit_test(test_compile_rejects_overaligned_access),
        cmocka_unit_test(test_compile_rejects_malformed_bodies),
        cmocka_unit_test(test_compile_too_many_locals),
        cmocka_unit_test(test_compile_simd_is_unsupported),
        cmocka_unit_test(test_compile_rejects_undeclared_ref_and_select_arity),
        cmocka_unit_test(
            test_compile_unreachable_code_is_validated_not_emitted),
        cmocka_unit_test(test_compile_return_swaps_without_clobbering),
        cmocka_unit_test(test_compile_local_set_keeps_pending_reads),
        cmocka_unit_test(test_compile_loop_sums),
        cmocka_unit_test(test_compile_br_table_stubs_copy_values),
        cmocka_unit_test(test_compile_if_else_merges_results),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
