/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests for the binary decoder (decode.c): vmrt__module_decode() is
 * called directly on byte strings, so these tests do not depend on the
 * translator.  Modules are written like the spec suite's `module binary`.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "module.h"

#define HDR "\x00\x61\x73\x6d\x01\x00\x00\x00"

/* A string literal as (bytes, length), without the terminating NUL. */
#define MOD(s) (const uint8_t *)(s), (sizeof(s) - 1)

/*
 * The module below was made by wat2wasm from this text, plus a custom
 * section at the end:
 *
 *   (module
 *     (type $v (func))
 *     (type $ii (func (param i32) (result i32)))
 *     (import "env" "f" (func $imp (type $ii)))
 *     (import "env" "t" (table 2 10 funcref))
 *     (import "env" "m" (memory 1 2))
 *     (import "env" "g" (global $gi i32))
 *     (func $start (type $v))
 *     (func $a (type $ii) (local.get 0))
 *     (func $b (type $v))
 *     (func $c (type $v))
 *     (table $t2 4 externref)
 *     (global $g1 (mut i64) (i64.const -5))
 *     (global $g2 i32 (global.get $gi))
 *     (global $g3 funcref (ref.func $b))
 *     (export "a" (func $a))
 *     (export "mem" (memory 0))
 *     (start $start)
 *     (elem (i32.const 1) $a)
 *     (elem func $start)
 *     (elem declare func $imp)
 *     (data (i32.const 8) "hi")
 *     (data "passive")
 *     (func $d (type $v) (data.drop 1)))
 */
static const uint8_t full_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60,
    0x00, 0x00, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x02, 0x27, 0x04, 0x03, 0x65,
    0x6e, 0x76, 0x01, 0x66, 0x00, 0x01, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x74,
    0x01, 0x70, 0x01, 0x02, 0x0a, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x6d, 0x02,
    0x01, 0x01, 0x02, 0x03, 0x65, 0x6e, 0x76, 0x01, 0x67, 0x03, 0x7f, 0x00,
    0x03, 0x06, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x04, 0x01, 0x6f,
    0x00, 0x04, 0x06, 0x10, 0x03, 0x7e, 0x01, 0x42, 0x7b, 0x0b, 0x7f, 0x00,
    0x23, 0x00, 0x0b, 0x70, 0x00, 0xd2, 0x03, 0x0b, 0x07, 0x0b, 0x02, 0x01,
    0x61, 0x00, 0x02, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x08, 0x01, 0x01,
    0x09, 0x0f, 0x03, 0x00, 0x41, 0x01, 0x0b, 0x01, 0x02, 0x01, 0x00, 0x01,
    0x01, 0x03, 0x00, 0x01, 0x00, 0x0c, 0x01, 0x02, 0x0a, 0x15, 0x05, 0x02,
    0x00, 0x0b, 0x04, 0x00, 0x20, 0x00, 0x0b, 0x02, 0x00, 0x0b, 0x02, 0x00,
    0x0b, 0x05, 0x00, 0xfc, 0x09, 0x01, 0x0b, 0x0b, 0x11, 0x02, 0x00, 0x41,
    0x08, 0x0b, 0x02, 0x68, 0x69, 0x01, 0x07, 0x70, 0x61, 0x73, 0x73, 0x69,
    0x76, 0x65,
    /* custom section "cust" with a two-byte payload */
    0x00, 0x07, 0x04, 0x63, 0x75, 0x73, 0x74, 0x01, 0x02
};

/* The module under test plus its own heap copy of the bytes. */
typedef struct {
    vmrt_module_t m;
    char err[256];
} fixture_t;

/*
 * Decode `len` bytes from an exact-size heap copy, so that the address
 * sanitizer sees any read past the end.
 */
static int
decode(fixture_t *f, const uint8_t *bytes, size_t len)
{
    memset(f, 0, sizeof(*f));
    f->m.bytes = malloc(len == 0 ? 1 : len);
    assert_non_null(f->m.bytes);
    if (len > 0)
        memcpy(f->m.bytes, bytes, len);
    f->m.len = len;
    return vmrt__module_decode(&f->m, f->err, sizeof(f->err));
}

static void
release(fixture_t *f)
{
    vmrt__module_release_decoded(&f->m);
    free(f->m.bytes);
    f->m.bytes = NULL;
}

/* Decode, expect `rc` and an error text containing `text`, release. */
static void
expect(const uint8_t *bytes, size_t len, int rc, const char *text)
{
    fixture_t f;
    int got = decode(&f, bytes, len);

    if (got != rc || strstr(f.err, text) == NULL)
        print_error("want %d \"%s\", got %d \"%s\"\n", rc, text, got, f.err);
    assert_int_equal(got, rc);
    assert_non_null(strstr(f.err, text));
    /* Every message carries the offset. */
    assert_true(strncmp(f.err, "@0x", 3) == 0);
    release(&f);
}

static void
test_decode_full_module_fields(void **state)
{
    fixture_t f;
    const vmrt_module_t *m = &f.m;

    (void)state;
    assert_int_equal(decode(&f, full_wasm, sizeof(full_wasm)), 0);
    assert_string_equal(f.err, "");

    assert_int_equal(m->ntypes, 2);
    assert_int_equal(m->types[1].nparams, 1);
    assert_int_equal(m->types[1].nresults, 1);
    assert_int_equal(VMRT__PARAMS(&m->types[1])[0], VMRT_I32);
    assert_int_equal(VMRT__RESULTS(&m->types[1])[0], VMRT_I32);

    assert_int_equal(m->nimports, 4);
    assert_int_equal(m->imports[0].module_len, 3);
    assert_memory_equal(m->imports[0].module, "env", 3);
    assert_int_equal(m->imports[1].kind, VMRT_EXTERN_TABLE);
    assert_int_equal(m->imports[1].desc.table.limits.max, 10);

    assert_int_equal(m->nfuncs, 6);
    assert_int_equal(m->nfunc_imports, 1);
    assert_int_equal(m->func_types[0], 1);
    assert_int_equal(m->func_types[2], 1);
    assert_int_equal(m->func_types[5], 0);

    assert_int_equal(m->ntables, 2);
    assert_int_equal(m->ntable_imports, 1);
    assert_int_equal(m->tables[0].elemtype, VMRT_FUNCREF);
    assert_int_equal(m->tables[1].elemtype, VMRT_EXTERNREF);
    assert_int_equal(m->tables[1].limits.min, 4);
    assert_false(m->tables[1].limits.has_max);

    assert_int_equal(m->nmems, 1);
    assert_int_equal(m->nmem_imports, 1);
    assert_int_equal(m->mems[0].min, 1);
    assert_int_equal(m->mems[0].max, 2);

    assert_int_equal(m->nglobals, 4);
    assert_int_equal(m->nglobal_imports, 1);
    assert_true(m->globals[1].mutable_);
    assert_int_equal(m->globals[1].valtype, VMRT_I64);
    assert_int_equal(m->global_inits[0].op, 0x42);
    assert_int_equal((int64_t)m->global_inits[0].val, -5);
    assert_int_equal(m->global_inits[1].op, 0x23);
    assert_int_equal(m->global_inits[1].val, 0);
    assert_int_equal(m->global_inits[1].type, VMRT_I32);
    assert_int_equal(m->global_inits[2].op, 0xd2);
    assert_int_equal(m->global_inits[2].val, 3);

    assert_int_equal(m->nexports, 2);
    assert_int_equal(m->exports[1].kind, VMRT_EXTERN_MEMORY);
    assert_int_equal(m->exports[1].name_len, 3);
    assert_memory_equal(m->exports[1].name, "mem", 3);
    assert_true(m->has_start);
    assert_int_equal(m->start, 1);

    assert_int_equal(m->nelems, 3);
    assert_int_equal(m->elems[0].mode, VMRT__SEG_ACTIVE);
    assert_int_equal(m->elems[0].table_idx, 0);
    assert_int_equal(m->elems[0].offset.val, 1);
    assert_int_equal(m->elems[0].ninit, 1);
    assert_int_equal(m->elems[0].init[0].op, 0xd2);
    assert_int_equal(m->elems[0].init[0].val, 2);
    assert_int_equal(m->elems[1].mode, VMRT__SEG_PASSIVE);
    assert_int_equal(m->elems[2].mode, VMRT__SEG_DECLARATIVE);

    assert_true(m->has_datacount);
    assert_int_equal(m->datacount, 2);
    assert_int_equal(m->ndatas, 2);
    assert_int_equal(m->datas[0].mode, VMRT__SEG_ACTIVE);
    assert_int_equal(m->datas[0].offset.val, 8);
    assert_int_equal(m->datas[0].data_len, 2);
    assert_memory_equal(m->bytes + m->datas[0].data_off, "hi", 2);
    assert_int_equal(m->datas[1].mode, VMRT__SEG_PASSIVE);
    assert_memory_equal(m->bytes + m->datas[1].data_off, "passive", 7);

    /* Body of $a: no locals, local.get 0, end. */
    assert_int_equal(m->bodies[1].body_len, 4);
    assert_memory_equal(m->bytes + m->bodies[1].body_off,
                        "\x00\x20\x00\x0b", 4);
    assert_int_equal(m->bodies[4].body_len, 5);

    /* C.refs: elem segments, global inits and exports, nothing else. */
    assert_int_equal(m->func_declared[0], 1); /* elem declare */
    assert_int_equal(m->func_declared[1], 1); /* passive elem */
    assert_int_equal(m->func_declared[2], 1); /* export, active elem */
    assert_int_equal(m->func_declared[3], 1); /* global init */
    assert_int_equal(m->func_declared[4], 0);
    assert_int_equal(m->func_declared[5], 0);
    release(&f);
}

static void
test_decode_release_twice_is_harmless(void **state)
{
    fixture_t f;

    (void)state;
    assert_int_equal(decode(&f, full_wasm, sizeof(full_wasm)), 0);
    vmrt__module_release_decoded(&f.m);
    assert_null(f.m.types);
    assert_int_equal(f.m.nfuncs, 0);
    release(&f);
}

/*
 * Every truncation of a real module must fail cleanly, except those that
 * end exactly between sections before the function section (the header
 * alone, + types, + imports) or just before the trailing custom section:
 * those are valid modules.
 */
static void
test_decode_every_prefix_fails_cleanly(void **state)
{
    fixture_t f;
    size_t len;
    int rc, ok = 0;

    (void)state;
    for (len = 0; len < sizeof(full_wasm); len++) {
        rc = decode(&f, full_wasm, len);
        if (rc == 0)
            ok++;
        else
            assert_int_equal(rc, VMRT_EMALFORMED);
        release(&f);
    }
    assert_int_equal(ok, 4);
}

/* Random byte mutations: any result but a crash, leak or hang. */
static void
test_decode_mutations_never_crash(void **state)
{
    uint8_t buf[sizeof(full_wasm)];
    uint32_t x = 0x12345678;
    fixture_t f;
    int i, k, rc;

    (void)state;
    for (i = 0; i < 20000; i++) {
        memcpy(buf, full_wasm, sizeof(buf));
        for (k = 0; k < 1 + i % 4; k++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[8 + (x >> 8) % (sizeof(buf) - 8)] = (uint8_t)x;
        }
        rc = decode(&f, buf, sizeof(buf));
        assert_true(rc == 0 || rc == VMRT_EMALFORMED || rc == VMRT_EINVALID ||
                    rc == VMRT_EUNSUPPORTED || rc == VMRT_ELIMIT);
        release(&f);
    }
}

static void
test_decode_header_errors(void **state)
{
    (void)state;
    expect(MOD(""), VMRT_EMALFORMED, "unexpected end");
    expect(MOD("\x00\x61\x73"), VMRT_EMALFORMED, "unexpected end");
    expect(MOD("\x00\x61\x73\x6e\x01\x00\x00\x00"), VMRT_EMALFORMED,
           "magic header not detected");
    expect(MOD("\x00\x61\x73\x6d\x01\x00"), VMRT_EMALFORMED,
           "unexpected end");
    expect(MOD("\x00\x61\x73\x6d\x02\x00\x00\x00"), VMRT_EMALFORMED,
           "unknown binary version");
    expect(MOD(HDR "\x0d\x00"), VMRT_EMALFORMED, "malformed section id");
}

static void
test_decode_bad_leb128(void **state)
{
    (void)state;
    /* Type index with a sixth byte. */
    expect(MOD(HDR "\x01\x04\x01\x60\x00\x00"
               "\x03\x07\x01\x80\x80\x80\x80\x80\x00"
               "\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EMALFORMED, "integer representation too long");
    /* Unused bits set in the last byte of a u32. */
    expect(MOD(HDR "\x01\x04\x01\x60\x00\x00"
               "\x03\x06\x01\x80\x80\x80\x80\x10"
               "\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EMALFORMED, "integer too large");
    /* i32.const with unused bits that are not a sign extension. */
    expect(MOD(HDR "\x06\x0a\x01\x7f\x00\x41\x80\x80\x80\x80\x70\x0b"),
           VMRT_EMALFORMED, "integer too large");
}

static void
test_decode_section_sizes(void **state)
{
    (void)state;
    expect(MOD(HDR "\x01\x07\x01\x60\x00\x00"), VMRT_EMALFORMED,
           "length out of bounds");
    /* Declared one type, but the section holds two. */
    expect(MOD(HDR "\x01\x07\x01\x60\x00\x00\x60\x00\x00"), VMRT_EMALFORMED,
           "section size mismatch");
    /* Section shorter than its contents, more sections follow. */
    expect(MOD(HDR "\x01\x03\x01\x60\x00\x00\x03\x01\x00"), VMRT_EMALFORMED,
           "section size mismatch");
    /* Vector running into the end of the module. */
    expect(MOD(HDR "\x05\x01\x01"), VMRT_EMALFORMED,
           "unexpected end of section or function");
    /* A custom section's name longer than the section. */
    expect(MOD(HDR "\x00\x02\x05\x61"), VMRT_EMALFORMED,
           "length out of bounds");
}

static void
test_decode_huge_count_fails_fast(void **state)
{
    (void)state;
    /* 2^32-1 types with 10 bytes left: no allocation, no loop. */
    expect(MOD(HDR "\x01\x0f\xff\xff\xff\xff\x0f"
               "\x60\x00\x00\x60\x00\x00\x60\x00\x00\x60"),
           VMRT_EMALFORMED, "unexpected end");
    expect(MOD(HDR "\x0b\x06\xff\xff\xff\xff\x0f\x01"), VMRT_EMALFORMED,
           "unexpected end");
    /* A data segment claiming 2^32-1 bytes. */
    expect(MOD(HDR "\x05\x03\x01\x00\x00"
               "\x0b\x0a\x01\x01\xff\xff\xff\xff\x0f\x00\x00\x00"),
           VMRT_EMALFORMED, "unexpected end");
}

static void
test_decode_utf8_names(void **state)
{
    fixture_t f;

    (void)state;
    /* Overlong NUL, a surrogate, a lone continuation, beyond U+10FFFF. */
    expect(MOD(HDR "\x00\x03\x02\xc0\x80"), VMRT_EMALFORMED,
           "malformed UTF-8 encoding");
    expect(MOD(HDR "\x00\x04\x03\xed\xa0\x80"), VMRT_EMALFORMED,
           "malformed UTF-8 encoding");
    expect(MOD(HDR "\x00\x02\x01\x80"), VMRT_EMALFORMED,
           "malformed UTF-8 encoding");
    expect(MOD(HDR "\x00\x05\x04\xf4\x90\x80\x80"), VMRT_EMALFORMED,
           "malformed UTF-8 encoding");
    /* Import field name truncated in the middle of a sequence. */
    expect(MOD(HDR "\x02\x08\x01\x00\x02\x61\xe2\x03\x7f\x00"),
           VMRT_EMALFORMED, "malformed UTF-8 encoding");
    /* A four-byte character is fine. */
    assert_int_equal(decode(&f, MOD(HDR "\x00\x05\x04\xf0\x9f\x98\x80")), 0);
    release(&f);
}

static void
test_decode_duplicate_export_is_invalid(void **state)
{
    (void)state;
    expect(MOD(HDR "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"
               "\x07\x09\x02\x01\x61\x00\x00\x01\x61\x00\x00"
               "\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EINVALID, "duplicate export name");
}

static void
test_decode_two_memories_are_invalid(void **state)
{
    (void)state;
    expect(MOD(HDR "\x05\x05\x02\x00\x00\x00\x00"), VMRT_EINVALID,
           "multiple memories");
    /* One imported, one defined. */
    expect(MOD(HDR "\x02\x06\x01\x00\x00\x02\x00\x00"
               "\x05\x03\x01\x00\x00"),
           VMRT_EINVALID, "multiple memories");
}

static void
test_decode_bad_limits(void **state)
{
    (void)state;
    expect(MOD(HDR "\x05\x04\x01\x01\x02\x01"), VMRT_EINVALID,
           "size minimum must not be greater than maximum");
    expect(MOD(HDR "\x05\x05\x01\x00\x81\x80\x04"), VMRT_EINVALID,
           "memory size must be at most 65536 pages (4GiB)");
    expect(MOD(HDR "\x04\x05\x01\x70\x01\x03\x02"), VMRT_EINVALID,
           "size minimum must not be greater than maximum");
    expect(MOD(HDR "\x05\x03\x01\x02\x00"), VMRT_EMALFORMED,
           "integer too large");
    /* 65536 pages is allowed, and so is a full u32 table. */
    fixture_t f;
    assert_int_equal(decode(&f, MOD(HDR "\x05\x05\x01\x00\x80\x80\x04")), 0);
    release(&f);
    assert_int_equal(
        decode(&f, MOD(HDR "\x04\x08\x01\x70\x00\xff\xff\xff\xff\x0f")), 0);
    release(&f);
}

static void
test_decode_bad_const_exprs(void **state)
{
    (void)state;
    /* (global i32 (i32.add (i32.const 0) (i32.const 1))) */
    expect(MOD(HDR "\x06\x09\x01\x7f\x00\x41\x00\x41\x01\x6a\x0b"),
           VMRT_EINVALID, "constant expression required");
    /* (global i32 (nop)) */
    expect(MOD(HDR "\x06\x05\x01\x7f\x00\x01\x0b"), VMRT_EINVALID,
           "constant expression required");
    /* (global i32 (f32.const 0)) */
    expect(MOD(HDR "\x06\x09\x01\x7f\x00\x43\x00\x00\x00\x00\x0b"),
           VMRT_EINVALID, "type mismatch");
    /* (global i32) with an empty expression */
    expect(MOD(HDR "\x06\x04\x01\x7f\x00\x0b"), VMRT_EINVALID,
           "type mismatch");
    /* Two constants. */
    expect(MOD(HDR "\x06\x08\x01\x7f\x00\x41\x00\x41\x00\x0b"),
           VMRT_EINVALID, "type mismatch");
    /* global.get of a defined global: only imports are visible. */
    expect(MOD(HDR "\x06\x0b\x02\x7f\x00\x41\x00\x0b\x7f\x00\x23\x00\x0b"),
           VMRT_EINVALID, "unknown global 0");
    /* global.get of a mutable imported global. */
    expect(MOD(HDR "\x02\x06\x01\x00\x00\x03\x7f\x01"
               "\x06\x06\x01\x7f\x00\x23\x00\x0b"),
           VMRT_EINVALID, "constant expression required");
    /* An opcode that does not exist is a format error. */
    expect(MOD(HDR "\x06\x06\x01\x7f\x00\xf3\x00\x0b"), VMRT_EMALFORMED,
           "illegal opcode");
    /* ref.func of an unknown function. */
    expect(MOD(HDR "\x06\x06\x01\x70\x00\xd2\x00\x0b"), VMRT_EINVALID,
           "unknown function 0");
    /* Missing end. */
    expect(MOD(HDR "\x06\x05\x01\x7f\x00\x41\x00"), VMRT_EMALFORMED,
           "unexpected end");
}

static void
test_decode_simd_is_unsupported(void **state)
{
    fixture_t f;

    (void)state;
    /* (type (func (param v128))): the v128 byte is at offset 0x0d. */
    assert_int_equal(decode(&f, MOD(HDR "\x01\x05\x01\x60\x01\x7b\x00")),
                     VMRT_EUNSUPPORTED);
    assert_string_equal(f.err, "@0xd: SIMD (v128) is not supported");
    release(&f);
    /* (global v128 (v128.const ...)) */
    expect(MOD(HDR "\x06\x16\x01\x7b\x00\xfd\x0c"
               "\x00\x00\x00\x00\x00\x00\x00\x00"
               "\x00\x00\x00\x00\x00\x00\x00\x00\x0b"),
           VMRT_EUNSUPPORTED, "SIMD");
}

static void
test_decode_count_consistency(void **state)
{
    (void)state;
    /* Function section without a code section. */
    expect(MOD(HDR "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"),
           VMRT_EMALFORMED,
           "function and code section have inconsistent lengths");
    /* Code section without a function section. */
    expect(MOD(HDR "\x0a\x04\x01\x02\x00\x0b"), VMRT_EMALFORMED,
           "function and code section have inconsistent lengths");
    /* Data count 1 without a data section. */
    expect(MOD(HDR "\x0c\x01\x01"), VMRT_EMALFORMED,
           "data count and data section have inconsistent lengths");
    /* Data count 2, one segment. */
    expect(MOD(HDR "\x05\x03\x01\x00\x01\x0c\x01\x02"
               "\x0b\x04\x01\x01\x01\x61"),
           VMRT_EMALFORMED,
           "data count and data section have inconsistent lengths");
}

static void
test_decode_section_order(void **state)
{
    (void)state;
    /* Two start sections. */
    expect(MOD(HDR "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"
               "\x08\x01\x00\x08\x01\x00\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EMALFORMED, "unexpected content after last section");
    /* Data count after the code section. */
    expect(MOD(HDR "\x0a\x01\x00\x0c\x01\x00"), VMRT_EMALFORMED,
           "unexpected content after last section");
}

static void
test_decode_index_checks(void **state)
{
    (void)state;
    /* Function of an unknown type. */
    expect(MOD(HDR "\x03\x02\x01\x00\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EINVALID, "unknown type 0");
    /* Export of an unknown function, global and table. */
    expect(MOD(HDR "\x07\x05\x01\x01\x61\x00\x00"), VMRT_EINVALID,
           "unknown function 0");
    expect(MOD(HDR "\x07\x05\x01\x01\x61\x03\x02"), VMRT_EINVALID,
           "unknown global 2");
    expect(MOD(HDR "\x07\x05\x01\x01\x61\x01\x00"), VMRT_EINVALID,
           "unknown table 0");
    /* Active data segment without a memory. */
    expect(MOD(HDR "\x0b\x06\x01\x00\x41\x00\x0b\x00"), VMRT_EINVALID,
           "unknown memory 0");
    /* Element segment for an externref table with function indices. */
    expect(MOD(HDR "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"
               "\x04\x04\x01\x6f\x00\x01"
               "\x09\x07\x01\x00\x41\x00\x0b\x01\x00"
               "\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EINVALID, "type mismatch");
    /* Bad import and export kinds are format errors. */
    expect(MOD(HDR "\x02\x04\x01\x00\x00\x04"), VMRT_EMALFORMED,
           "malformed import kind");
    expect(MOD(HDR "\x07\x05\x01\x01\x61\x04\x00"), VMRT_EMALFORMED,
           "malformed export kind");
    expect(MOD(HDR "\x06\x06\x01\x7f\x02\x41\x00\x0b"), VMRT_EMALFORMED,
           "malformed mutability");
    expect(MOD(HDR "\x04\x04\x01\x71\x00\x00"), VMRT_EMALFORMED,
           "malformed reference type");
}

static void
test_decode_start_function_type(void **state)
{
    (void)state;
    expect(MOD(HDR "\x01\x05\x01\x60\x01\x7f\x00\x03\x02\x01\x00"
               "\x08\x01\x00\x0a\x04\x01\x02\x00\x0b"),
           VMRT_EINVALID, "start function");
    expect(MOD(HDR "\x08\x01\x00"), VMRT_EINVALID, "unknown function 0");
}

/* Format errors win over validation errors found earlier. */
static void
test_decode_malformed_wins_over_invalid(void **state)
{
    (void)state;
    /* Unknown type 0, then a missing code section. */
    expect(MOD(HDR "\x03\x02\x01\x00"), VMRT_EMALFORMED,
           "function and code section have inconsistent lengths");
    /* Two memories, then a bad section id. */
    expect(MOD(HDR "\x05\x05\x02\x00\x00\x00\x00\x0e\x00"), VMRT_EMALFORMED,
           "malformed section id");
}

static void
test_decode_elem_encodings(void **state)
{
    fixture_t f;
    const vmrt_module_t *m = &f.m;

    (void)state;
    /*
     * One function, two tables; segments with flags 2 (table 1, funcref
     * by elemkind), 5 (passive externref expressions) and 6 (table 1,
     * funcref expressions).
     */
    assert_int_equal(
        decode(&f, MOD(HDR "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"
                       "\x04\x07\x02\x6f\x00\x01\x70\x00\x01"
                       "\x09\x19\x03"
                       "\x02\x01\x41\x00\x0b\x00\x01\x00"
                       "\x05\x6f\x01\xd0\x6f\x0b"
                       "\x06\x01\x41\x00\x0b\x70\x01\xd2\x00\x0b"
                       "\x0a\x04\x01\x02\x00\x0b")),
        0);
    assert_int_equal(m->nelems, 3);
    assert_int_equal(m->elems[0].table_idx, 1);
    assert_int_equal(m->elems[0].reftype, VMRT_FUNCREF);
    assert_int_equal(m->elems[1].mode, VMRT__SEG_PASSIVE);
    assert_int_equal(m->elems[1].reftype, VMRT_EXTERNREF);
    assert_int_equal(m->elems[1].init[0].op, 0xd0);
    assert_int_equal(m->elems[2].init[0].op, 0xd2);
    assert_int_equal(m->func_declared[0], 1);
    release(&f);
    /* Flags 8 do not exist. */
    expect(MOD(HDR "\x09\x02\x01\x08"), VMRT_EMALFORMED,
           "malformed elements segment kind");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_full_module_fields),
        cmocka_unit_test(test_decode_release_twice_is_harmless),
        cmocka_unit_test(test_decode_every_prefix_fails_cleanly),
        cmocka_unit_test(test_decode_mutations_never_crash),
        cmocka_unit_test(test_decode_header_errors),
        cmocka_unit_test(test_decode_bad_leb128),
        cmocka_unit_test(test_decode_section_sizes),
        cmocka_unit_test(test_decode_huge_count_fails_fast),
        cmocka_unit_test(test_decode_utf8_names),
        cmocka_unit_test(test_decode_duplicate_export_is_invalid),
        cmocka_unit_test(test_decode_two_memories_are_invalid),
        cmocka_unit_test(test_decode_bad_limits),
        cmocka_unit_test(test_decode_bad_const_exprs),
        cmocka_unit_test(test_decode_simd_is_unsupported),
        cmocka_unit_test(test_decode_count_consistency),
        cmocka_unit_test(test_decode_section_order),
        cmocka_unit_test(test_decode_index_checks),
        cmocka_unit_test(test_decode_start_function_type),
        cmocka_unit_test(test_decode_malformed_wins_over_invalid),
        cmocka_unit_test(test_decode_elem_encodings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
