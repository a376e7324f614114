/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * interp: a small register bytecode interpreter (switch dispatch) running
 * a Collatz program.  Measures indirect branches and the load/dispatch
 * pattern of an interpreter inside an interpreter, a common VM workload
 * (scripting engines, protocol parsers).
 */

#include <stdint.h>
#include <stdio.h>

#ifndef LIMIT
#define LIMIT 250000
#endif

enum {
    OP_LI,   /* r[a] = imm */
    OP_MOV,  /* r[a] = r[b] */
    OP_ADD,  /* r[a] = r[b] + r[c] */
    OP_ADDI, /* r[a] = r[b] + imm */
    OP_MUL3, /* r[a] = r[b] * 3 + 1 */
    OP_SHR1, /* r[a] = r[b] >> 1 */
    OP_ANDI, /* r[a] = r[b] & imm */
    OP_MAX,  /* r[a] = max(r[a], r[b]) */
    OP_JZ,   /* if r[a] == 0 goto imm */
    OP_JNE,  /* if r[a] != r[b] goto imm */
    OP_JMP,  /* goto imm */
    OP_HALT
};

typedef struct {
    uint8_t op, a, b, c;
    int32_t imm;
} insn_t;

/*
 * r0 = n (outer counter), r1 = x, r2 = steps of x, r3 = total steps,
 * r4 = limit, r5 = scratch, r6 = constant 1, r7 = longest chain.
 */
static const insn_t program[] = {
    /* 0 */ { OP_LI, 0, 0, 0, 1 },
    /* 1 */ { OP_LI, 3, 0, 0, 0 },
    /* 2 */ { OP_LI, 4, 0, 0, LIMIT },
    /* 3 */ { OP_LI, 6, 0, 0, 1 },
    /* 4 */ { OP_LI, 7, 0, 0, 0 },
    /* 5 outer */ { OP_MOV, 1, 0, 0, 0 },
    /* 6 */ { OP_LI, 2, 0, 0, 0 },
    /* 7 inner */ { OP_JNE, 1, 6, 0, 9 },
    /* 8 */ { OP_JMP, 0, 0, 0, 16 },
    /* 9 */ { OP_ANDI, 5, 1, 0, 1 },
    /* 10 */ { OP_JZ, 5, 0, 0, 13 },
    /* 11 odd */ { OP_MUL3, 1, 1, 0, 0 },
    /* 12 */ { OP_JMP, 0, 0, 0, 14 },
    /* 13 even */ { OP_SHR1, 1, 1, 0, 0 },
    /* 14 */ { OP_ADDI, 2, 2, 0, 1 },
    /* 15 */ { OP_JMP, 0, 0, 0, 7 },
    /* 16 done */ { OP_ADD, 3, 3, 2, 0 },
    /* 17 */ { OP_MAX, 7, 2, 0, 0 },
    /* 18 */ { OP_ADDI, 0, 0, 0, 1 },
    /* 19 */ { OP_JNE, 0, 4, 0, 5 },
    /* 20 */ { OP_HALT, 0, 0, 0, 0 },
};

static void
run(const insn_t *code, uint64_t *r)
{
    const insn_t *ip = code;

    for (;;) {
        const insn_t *i = ip++;

        switch (i->op) {
        case OP_LI:
            r[i->a] = (uint64_t)(int64_t)i->imm;
            break;
        case OP_MOV:
            r[i->a] = r[i->b];
            break;
        case OP_ADD:
            r[i->a] = r[i->b] + r[i->c];
            break;
        case OP_ADDI:
            r[i->a] = r[i->b] + (uint64_t)(int64_t)i->imm;
            break;
        case OP_MUL3:
            r[i->a] = r[i->b] * 3 + 1;
            break;
        case OP_SHR1:
            r[i->a] = r[i->b] >> 1;
            break;
        case OP_ANDI:
            r[i->a] = r[i->b] & (uint64_t)(int64_t)i->imm;
            break;
        case OP_MAX:
            if (r[i->b] > r[i->a])
                r[i->a] = r[i->b];
            break;
        case OP_JZ:
            if (r[i->a] == 0)
                ip = code + i->imm;
            break;
        case OP_JNE:
            if (r[i->a] != r[i->b])
                ip = code + i->imm;
            break;
        case OP_JMP:
            ip = code + i->imm;
            break;
        default:
            return;
        }
    }
}

int
main(void)
{
    uint64_t r[8] = { 0 };

    run(program, r);
    printf("interp collatz(1..%d) checksum %llu/%llu\n", LIMIT - 1,
           (unsigned long long)r[3], (unsigned long long)r[7]);
    return 0;
}
