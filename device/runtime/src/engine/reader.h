/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_ENGINE_READER_H
#define VMRT_ENGINE_READER_H

/*
 * Bounds-checked reader over module bytes: the one place that decodes
 * LEB128 and fixed-width values.  Every read checks the end first and
 * reports failure through rd->err (sticky), so callers can read a run of
 * fields and check once.  Offsets reported in errors are absolute module
 * offsets (rd->base is the module start).
 */

#include <stdint.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    const uint8_t *base; /* module start, for absolute offsets */
    const uint8_t *p;    /* cursor */
    const uint8_t *end;  /* one past the readable range */
    const char *err;     /* first error ("unexpected end", ...), or NULL */
    size_t err_off;      /* absolute offset of that error */
} vmrt__reader_t;

static inline void
vmrt__rd_init(vmrt__reader_t *rd, const uint8_t *base, const uint8_t *p,
              const uint8_t *end)
{
    rd->base = base;
    rd->p = p;
    rd->end = end;
    rd->err = NULL;
    rd->err_off = 0;
}

static inline size_t
vmrt__rd_off(const vmrt__reader_t *rd)
{
    return (size_t)(rd->p - rd->base);
}

static inline size_t
vmrt__rd_left(const vmrt__reader_t *rd)
{
    return (size_t)(rd->end - rd->p);
}

/* Record the first error; later ones are dropped.  Returns 0 for chaining. */
static inline int
vmrt__rd_fail(vmrt__reader_t *rd, const char *msg)
{
    if (rd->err == NULL) {
        rd->err = msg;
        rd->err_off = vmrt__rd_off(rd);
    }
    rd->p = rd->end; /* stop further progress */
    return 0;
}

static inline uint8_t
vmrt__rd_u8(vmrt__reader_t *rd)
{
    if (rd->p >= rd->end) {
        vmrt__rd_fail(rd, "unexpected end");
        return 0;
    }
    return *rd->p++;
}

/*
 * Unsigned LEB128 of at most `bits` bits (32 or 64).  Enforces the spec's
 * limits: at most ceil(bits/7) bytes and unused bits of the last byte zero.
 */
static inline uint64_t
vmrt__rd_uleb(vmrt__reader_t *rd, unsigned bits)
{
    uint64_t v = 0;
    unsigned shift = 0;
    for (;;) {
        if (rd->p >= rd->end) {
            vmrt__rd_fail(rd, "unexpected end");
            return 0;
        }
        uint8_t b = *rd->p++;
        if (shift + 7 >= bits && shift < bits) {
            /* last permitted byte: no continuation, unused bits zero */
            unsigned used = bits - shift;
            if ((b & 0x80) != 0) {
                vmrt__rd_fail(rd, "integer representation too long");
                return 0;
            }
            if (used < 7 && (b >> used) != 0) {
                vmrt__rd_fail(rd, "integer too large");
                return 0;
            }
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0)
            return v;
        shift += 7;
        if (shift >= bits) {
            vmrt__rd_fail(rd, "integer representation too long");
            return 0;
        }
    }
}

/*
 * Signed LEB128 of at most `bits` bits (32, 33 or 64).  The unused bits of
 * the last byte must be a sign extension of the value.
 */
static inline int64_t
vmrt__rd_sleb(vmrt__reader_t *rd, unsigned bits)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    for (;;) {
        if (rd->p >= rd->end) {
            vmrt__rd_fail(rd, "unexpected end");
            return 0;
        }
        b = *rd->p++;
        if (shift + 7 >= bits) {
            /* last permitted byte */
            if ((b & 0x80) != 0) {
                vmrt__rd_fail(rd, "integer representation too long");
                return 0;
            }
            unsigned used = bits - shift;  /* 1..7 value bits incl. sign */
            int8_t sb = (int8_t)(b << 1) >> 1; /* sign-extend 7-bit group */
            int8_t hi = (int8_t)(sb >> (used - 1)); /* must be 0 or -1 */
            if (hi != 0 && hi != -1) {
                vmrt__rd_fail(rd, "integer too large");
                return 0;
            }
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) == 0)
            break;
    }
    if (shift < 64 && (b & 0x40) != 0)
        v |= ~(uint64_t)0 << shift;
    return (int64_t)v;
}

static inline uint32_t
vmrt__rd_u32(vmrt__reader_t *rd)
{
    return (uint32_t)vmrt__rd_uleb(rd, 32);
}

/* Little-endian fixed width, for f32/f64 immediates. */
static inline uint32_t
vmrt__rd_fixed32(vmrt__reader_t *rd)
{
    if (vmrt__rd_left(rd) < 4) {
        vmrt__rd_fail(rd, "unexpected end");
        return 0;
    }
    uint32_t v = (uint32_t)rd->p[0] | (uint32_t)rd->p[1] << 8 |
                 (uint32_t)rd->p[2] << 16 | (uint32_t)rd->p[3] << 24;
    rd->p += 4;
    return v;
}

static inline uint64_t
vmrt__rd_fixed64(vmrt__reader_t *rd)
{
    uint64_t lo = vmrt__rd_fixed32(rd);
    uint64_t hi = vmrt__rd_fixed32(rd);
    return lo | hi << 32;
}

#endif /* VMRT_ENGINE_READER_H */
