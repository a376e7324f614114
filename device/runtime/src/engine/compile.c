/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Function-body validation and translation, in one pass per body.
 *
 * Validation follows the algorithm of the spec's validation appendix: an
 * operand stack of value types (0 is the Unknown type of unreachable code)
 * and a control stack of frames with an `unreachable` flag.  Each operand
 * entry also says where its value lives, so that the same pass emits the
 * register code of code.h:
 *
 *   K_TEMP   the value is in the entry's own slot, nlocals + position;
 *   K_LOCAL  the value is local L's slot (local.get emits nothing);
 *   K_CONST  the value is a constant not yet written anywhere.
 *
 * An entry is materialized (written into its own slot) when its recorded
 * location would stop being right: before local L changes for entries that
 * name L, at block entry for everything below the block (so that all paths
 * reaching a label agree on where each value is), and when an instruction
 * needs it in a slot.  Labels keep their values in the slots of the frame's
 * base height.
 *
 * Peepholes, all local to the instruction just emitted (never across a
 * label): a result consumed at once by local.set/tee, br or return is
 * written straight into its final slot; an i32 compare (or eqz) consumed by
 * br_if/if becomes a fused br_if_i32_<cmp>[_ri] (or br_if/br_unless), and
 * consumed by a loop's br_if a fused back-edge br_if_back_i32_<cmp>[_ri]
 * (or br_unless_back); a binary op with a constant operand uses its _ri
 * form when one exists; an i32.add consumed by a load becomes a
 * load_aa/_ai; a load consumed by f64.add/sub/mul or i32.add becomes an
 * _m op; two consecutive movs become one mov2.
 *
 * Decoding of each instruction (decode_instr) is separate from its
 * validation (exec_instr).  Once a body is found invalid the remaining
 * bytes of the module's bodies are still decoded, so that a malformed
 * encoding later on is reported as malformed, as the spec's decode-then-
 * validate order requires.
 */

#include <stdio.h>
#include <string.h>

#include "code.h"
#include "reader.h"

#define NOPOS UINT32_MAX
#define T_UNK 0 /* the Unknown type of the validation algorithm */

/* Hard caps so that hostile input cannot make us allocate without end. */
#define MAX_CODE_CELLS (1u << 26)
#define MAX_STACK (1u << 22)
#define MAX_CALL_COST 64u
#define MAX_MARKS (1u << 24) /* funcref bookkeeping of stops, per function */

enum { K_TEMP = 0, K_LOCAL = 1, K_CONST = 2 };
enum { BT_EMPTY = 0, BT_VAL = 1, BT_TYPE = 2 };
enum { OP_FUNC = 0x00, OP_BLOCK = 0x02, OP_LOOP = 0x03, OP_IF = 0x04 };

typedef struct {
    uint8_t type;   /* value type or T_UNK */
    uint8_t kind;   /* K_* */
    uint32_t local; /* K_LOCAL */
    uint64_t val;   /* K_CONST: bits */
} opd_t;

typedef struct {
    uint8_t op;       /* OP_* */
    uint8_t bt_kind;  /* BT_* */
    uint8_t bt_val;   /* BT_VAL: the single result type */
    bool unreachable; /* validation: rest of the frame is unreachable */
    bool dead_in;     /* translation: entered in dead code */
    bool has_else;
    bool reached;     /* a forward branch targets the end label */
    uint32_t bt_idx;  /* BT_TYPE: type index */
    uint32_t height;  /* operand height below the frame's params */
    uint32_t header;  /* loop: code offset of the header */
    uint32_t header_ninstr;
    uint32_t patch;      /* chain of T cells to the end label, index + 1 */
    uint32_t else_patch; /* if: chain of T cells to the else label */
    uint32_t stub_serial; /* br_table stub sharing */
    uint32_t stub_off;
    uint32_t check_serial; /* br_table: label already type-checked */
} ctl_t;

/* One decoded instruction. */
typedef struct {
    uint32_t op;     /* opcode; 0xfc00 | sub for 0xfc-prefixed ones */
    uint32_t a, b;   /* indices, memarg alignment */
    uint64_t v;      /* constant bits, memarg offset */
    uint8_t bt_kind; /* block types */
    uint8_t bt_val;
    uint32_t bt_idx;
    uint8_t t;       /* select / ref.null type */
    uint32_t n;      /* br_table: labels in cx.labels[0..n] */
} ins_t;

typedef struct {
    vmrt_module_t *m;
    vmrt__reader_t rd;
    uint32_t func;    /* function index being compiled */
    size_t op_off;    /* module offset of the current instruction */
    int rc;
    size_t err_off;
    char reason[96];
    bool skim;        /* decode only: looking for malformed encodings */

    const vmrt__functype_t *ft;
    uint32_t nlocals;
    uint8_t *ltypes;
    uint32_t capl;
    uint32_t *pending; /* per local: K_LOCAL entries naming it */
    uint32_t cappend;
    uint8_t *lwritten; /* per local: some write to it was emitted */
    uint32_t capw;
    bool seen_loop;    /* a loop header was emitted: no more entry-only code */

    opd_t *vals;
    uint32_t nvals, capvals;
    uint32_t nclean; /* vals[0..nclean) are known K_TEMP */
    uint32_t maxh;

    ctl_t *ctls;
    uint32_t nctls, capctls;

    opd_t *buf; /* entries popped by pop_vals() */
    uint32_t capbuf, buf_base;

    uint32_t *labels; /* br_table labels; local declaration runs */
    uint32_t caplabels;

    vmrt__cell_t *code;
    uint32_t ncode, capcode, ninstr;
    uint32_t *sites; /* pairs */
    uint32_t nsites, capsites;
    vmrt__stop_t *stops; /* refmap: index in marks, until finish_func */
    uint32_t nstops, capstops;
    uint32_t *marks;     /* per stop with refs: count, then funcref slots */
    uint32_t nmarks, capmarks, lastmark;

    bool dead; /* translation: current code is unreachable, emit nothing */
    uint32_t last_start, last_end, last_pos; /* peephole window */
    vmrt__op_t last_op;
    uint32_t mov_at; /* offset of the last instruction if a plain mov */
    uint32_t serial;
} cx_t;

/* ------------------------------------------------------------------ */
/* Errors and buffers                                                 */
/* ------------------------------------------------------------------ */

static void
fail_at(cx_t *c, int rc, size_t off, const char *why)
{
    if (c->rc != 0)
        return;
    c->rc = rc;
    c->err_off = off;
    snprintf(c->reason, sizeof(c->reason), "%s", why);
}

static void
fail(cx_t *c, int rc, const char *why)
{
    fail_at(c, rc, c->op_off, why);
}

static void
fail_idx(cx_t *c, const char *why, uint32_t idx)
{
    char buf[80];

    snprintf(buf, sizeof(buf), "%s %u", why, (unsigned)idx);
    fail(c, VMRT_EINVALID, buf);
}

static void
mismatch(cx_t *c)
{
    fail(c, VMRT_EINVALID, "type mismatch");
}

/*
 * reserve: make room for `need` elements of `esz` bytes in the array whose
 * pointer is stored at `pp` (capacity *cap).
 * Return: true, or false with c->rc set (VMRT_ENOMEM / VMRT_ELIMIT).
 */
static bool
reserve(cx_t *c, void *pp, uint32_t *cap, uint64_t need, size_t esz,
        uint64_t limit)
{
    void *old, *p;
    uint64_t ncap;

    if (need <= *cap)
        return true;
    if (need > limit) {
        fail(c, VMRT_ELIMIT, "function too large");
        return false;
    }
    ncap = (uint64_t)*cap * 2;
    if (ncap < need)
        ncap = need;
    if (ncap < 16)
        ncap = 16;
    if (ncap > limit)
        ncap = limit;
    memcpy(&old, pp, sizeof(old));
    if ((p = vmrt__realloc(old, (size_t)ncap * esz)) == NULL) {
        fail(c, VMRT_ENOMEM, "out of memory");
        return false;
    }
    memcpy(pp, &p, sizeof(p));
    *cap = (uint32_t)ncap;
    return true;
}

#define RESERVE(c, arr, cap, need, limit)                                    \
    ((uint64_t)(need) <= (cap) ||                                            \
     reserve((c), &(arr), &(cap), (need), sizeof(*(arr)), (limit)))

/* ------------------------------------------------------------------ */
/* Emission                                                           */
/* ------------------------------------------------------------------ */

/*
 * emit: append instruction `op` with `n` operand cells.
 * Return: its code offset, or NOPOS in dead code or on error.
 */
static uint32_t
emit(cx_t *c, vmrt__op_t op, unsigned n, const uint32_t *a)
{
    uint32_t at;
    unsigned i;

    if (c->dead || c->rc != 0)
        return NOPOS;
    if (!RESERVE(c, c->code, c->capcode, (uint64_t)c->ncode + n + 1,
                 MAX_CODE_CELLS))
        return NOPOS;
    c->last_end = NOPOS;
    if (op == VMRT__OP_mov && c->mov_at != NOPOS &&
        c->mov_at + 3 == c->ncode) {
        /*
         * Two moves in a row (a loop's rotating locals, label values)
         * become one mov2, one dispatch.  No label lies between them:
         * bind_label() clears mov_at.
         */
        at = c->mov_at;
        c->code[at] = vmrt__op_cell(VMRT__OP_mov2);
        c->code[c->ncode++] = a[0];
        c->code[c->ncode++] = a[1];
        c->mov_at = NOPOS;
        return at;
    }
    at = c->ncode;
    c->code[c->ncode++] = vmrt__op_cell(op);
    for (i = 0; i < n; i++)
        c->code[c->ncode++] = a[i];
    c->ninstr++;
    c->mov_at = op == VMRT__OP_mov ? at : NOPOS;
    return at;
}

#define EMIT(c, op, ...)                                                     \
    emit((c), VMRT__OP_##op,                                                 \
         sizeof((uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t),               \
         (uint32_t[]){__VA_ARGS__})

static void
emit0(cx_t *c, vmrt__op_t op)
{
    (void)emit(c, op, 0, NULL);
}

/* Record that the instruction at `at` can trap. */
static void
trap_site(cx_t *c, uint32_t at)
{
    if (at == NOPOS)
        return;
    if (!RESERVE(c, c->sites, c->capsites, (uint64_t)c->nsites * 2 + 2,
                 MAX_CODE_CELLS))
        return;
    c->sites[c->nsites * 2] = at;
    c->sites[c->nsites * 2 + 1] = (uint32_t)c->op_off;
    c->nsites++;
}

/*
 * Remember that the instruction at `at` (just emitted) wrote the operand
 * at stack position `pos` through its D cell: a following local.set or
 * br_if may rewrite or fuse it.
 */
static void
result_at(cx_t *c, uint32_t at, uint32_t pos, vmrt__op_t op)
{
    if (at == NOPOS)
        return;
    c->last_start = at;
    c->last_end = c->ncode;
    c->last_pos = pos;
    c->last_op = op;
}

/* A label is bound here: the instruction before it is no longer fusable. */
static void
bind_label(cx_t *c)
{
    c->last_end = NOPOS;
    c->mov_at = NOPOS;
}

static void
patch_chain(cx_t *c, uint32_t head, uint32_t target)
{
    while (head != 0) {
        uint32_t cell = head - 1;
        head = c->code[cell];
        c->code[cell] = target;
    }
}

/* Link the T cell at `cell` into a chain whose head is *head. */
static void
link_cell(cx_t *c, uint32_t *head, uint32_t cell)
{
    c->code[cell] = *head;
    *head = cell + 1;
}

static bool
is_wide(uint8_t t)
{
    return t == VMRT_I64 || t == VMRT_F64;
}

static void
emit_const(cx_t *c, uint32_t dst, uint8_t type, uint64_t v)
{
    if (is_wide(type))
        (void)EMIT(c, const64, dst, (uint32_t)v, (uint32_t)(v >> 32));
    else
        (void)EMIT(c, const32, dst, (uint32_t)v);
}

static uint32_t
own_slot(const cx_t *c, uint32_t pos)
{
    return c->nlocals + pos;
}

/*
 * stop_note: record a stop point (code.h) of `kind` at code offset `at`
 * (NOPOS, i.e. dead code, records nothing), with the funcref operand
 * temporaries live there: the materialized funcref entries vals[0..height)
 * and nx values of types xt[0..nx) in the own slots of positions height,
 * height + 1, ... (call arguments, or a loop label's values just copied
 * into place).  Entries above `height` are not looked at, because a jump
 * may have overwritten their slots with label values.  Funcref locals are
 * live everywhere; finish_stops() adds them.
 *
 * Every translator site of a call (CALL at it, RET right after it) and of
 * a fuel-charging back-edge (BACK), fused or not, must call this.
 */
static void
stop_note(cx_t *c, uint32_t at, uint32_t kind, uint32_t height,
          const uint8_t *xt, uint32_t nx)
{
    vmrt__stop_t *s;
    uint32_t n = 0, first = c->nmarks, *list, i;

    if (at == NOPOS || c->rc != 0)
        return;
    if (height > c->nvals)
        height = c->nvals;
    if (!RESERVE(c, c->stops, c->capstops, (uint64_t)c->nstops + 1,
                 MAX_CODE_CELLS) ||
        !RESERVE(c, c->marks, c->capmarks,
                 (uint64_t)c->nmarks + 1 + height + nx, MAX_MARKS))
        return;
    list = &c->marks[first + 1];
    for (i = 0; i < height; i++) {
        if (c->vals[i].kind == K_TEMP && c->vals[i].type == VMRT_FUNCREF)
            list[n++] = own_slot(c, i);
    }
    for (i = 0; i < nx; i++) {
        if (xt[i] == VMRT_FUNCREF)
            list[n++] = own_slot(c, height + i);
    }
    if (n > 0) {
        /* Neighbouring stops mostly see the same funcrefs: share. */
        if (c->lastmark != NOPOS && c->marks[c->lastmark] == n &&
            memcmp(&c->marks[c->lastmark + 1], list, n * sizeof(*list)) ==
                0) {
            first = c->lastmark;
        } else {
            c->marks[first] = n;
            c->nmarks += 1 + n;
            c->lastmark = first;
        }
    }
    /* Keep (off, kind) order: a RET and the next CALL may share an off. */
    i = c->nstops++;
    while (i > 0 && (c->stops[i - 1].off > at ||
                     (c->stops[i - 1].off == at &&
                      c->stops[i - 1].kind > kind))) {
        c->stops[i] = c->stops[i - 1];
        i--;
    }
    s = &c->stops[i];
    s->off = at;
    s->kind = kind;
    s->refmap = n > 0 ? first : VMRT__NO_REFS;
}

/* Write the value of entry `e` (at stack position `pos`) into slot dst. */
static void
put_value(cx_t *c, uint32_t dst, const opd_t *e, uint32_t pos)
{
    switch (e->kind) {
    case K_TEMP:
        if (own_slot(c, pos) != dst)
            (void)EMIT(c, mov, dst, own_slot(c, pos));
        break;
    case K_LOCAL:
        if (e->local != dst)
            (void)EMIT(c, mov, dst, e->local);
        break;
    default:
        emit_const(c, dst, e->type, e->val);
        break;
    }
}

/*
 * src_slot: the slot an instruction reads entry `e` (position `pos`)
 * from; a constant is first written into the entry's own slot.
 */
static uint32_t
src_slot(cx_t *c, opd_t *e, uint32_t pos)
{
    if (e->kind == K_LOCAL)
        return e->local;
    if (e->kind == K_CONST) {
        emit_const(c, own_slot(c, pos), e->type, e->val);
        e->kind = K_TEMP;
    }
    return own_slot(c, pos);
}

/* ------------------------------------------------------------------ */
/* Operand and control stacks                                         */
/* ------------------------------------------------------------------ */

static ctl_t *
top_ctl(cx_t *c)
{
    return &c->ctls[c->nctls - 1];
}

static void
push_opd(cx_t *c, const opd_t *e)
{
    if (!RESERVE(c, c->vals, c->capvals, (uint64_t)c->nvals + 1, MAX_STACK))
        return;
    c->vals[c->nvals++] = *e;
    if (e->kind == K_LOCAL)
        c->pending[e->local]++;
    if (c->nvals > c->maxh)
        c->maxh = c->nvals;
}

/* Push a temporary of type t; returns its position. */
static uint32_t
push_temp(cx_t *c, uint8_t t)
{
    opd_t e = { t, K_TEMP, 0, 0 };
    uint32_t pos = c->nvals;

    push_opd(c, &e);
    return pos;
}

static void
push_const(cx_t *c, uint8_t t, uint64_t v)
{
    opd_t e = { t, K_CONST, 0, v };

    push_opd(c, &e);
}

/*
 * pop_opd: pop one operand into *e (position *pos).  In unreachable code
 * below the frame's height this yields an Unknown entry.
 * Return: false (with c->rc set) on underflow.
 */
static bool
pop_opd(cx_t *c, opd_t *e, uint32_t *pos)
{
    ctl_t *f = top_ctl(c);

    if (c->nvals == f->height) {
        if (f->unreachable) {
            memset(e, 0, sizeof(*e));
            *pos = c->nvals;
            return true;
        }
        mismatch(c);
        return false;
    }
    *e = c->vals[--c->nvals];
    *pos = c->nvals;
    if (c->nvals < c->nclean)
        c->nclean = c->nvals;
    if (e->kind == K_LOCAL)
        c->pending[e->local]--;
    return true;
}

static bool
pop_expect(cx_t *c, uint8_t t, opd_t *e, uint32_t *pos)
{
    if (!pop_opd(c, e, pos))
        return false;
    if (e->type != t && e->type != T_UNK && t != T_UNK) {
        mismatch(c);
        return false;
    }
    return true;
}

/* Pop operands of types[0..n) (types[n-1] on top) into c->buf. */
static bool
pop_vals(cx_t *c, const uint8_t *types, uint32_t n)
{
    uint32_t pos;

    if (!RESERVE(c, c->buf, c->capbuf, n, MAX_STACK))
        return false;
    for (uint32_t k = n; k-- > 0;) {
        if (!pop_expect(c, types[k], &c->buf[k], &pos))
            return false;
    }
    c->buf_base = c->nvals;
    return true;
}

/*
 * Push c->buf[0..n) back with the declared types, or with the types they
 * had (possibly Unknown) if types is NULL.
 */
static void
push_back(cx_t *c, const uint8_t *types, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        opd_t e = c->buf[k];
        if (types != NULL)
            e.type = types[k];
        push_opd(c, &e);
    }
}

/* Write stack entry i into its own slot. */
static void
materialize(cx_t *c, uint32_t i)
{
    opd_t *e = &c->vals[i];

    if (e->kind == K_LOCAL) {
        (void)EMIT(c, mov, own_slot(c, i), e->local);
        c->pending[e->local]--;
    } else if (e->kind == K_CONST) {
        emit_const(c, own_slot(c, i), e->type, e->val);
    }
    e->kind = K_TEMP;
}

static void
materialize_all(cx_t *c)
{
    for (uint32_t i = c->nclean; i < c->nvals; i++)
        materialize(c, i);
    c->nclean = c->nvals;
}

/* Materialize every pending entry that names local x. */
static void
materialize_local(cx_t *c, uint32_t x)
{
    for (uint32_t i = c->nvals; c->pending[x] > 0 && i-- > c->nclean;) {
        if (c->vals[i].kind == K_LOCAL && c->vals[i].local == x)
            materialize(c, i);
    }
}

static const uint8_t *
bt_params(const cx_t *c, const ctl_t *f, uint32_t *n)
{
    if (f->bt_kind == BT_TYPE && f->op != OP_FUNC) {
        const vmrt__functype_t *ft = &c->m->types[f->bt_idx];
        *n = ft->nparams;
        return VMRT__PARAMS(ft);
    }
    *n = 0;
    return NULL;
}

static const uint8_t *
bt_results(const cx_t *c, const ctl_t *f, uint32_t *n)
{
    const vmrt__functype_t *ft;

    switch (f->bt_kind) {
    case BT_EMPTY:
        *n = 0;
        return NULL;
    case BT_VAL:
        *n = 1;
        return &f->bt_val;
    default:
        ft = f->op == OP_FUNC ? c->ft : &c->m->types[f->bt_idx];
        *n = ft->nresults;
        return VMRT__RESULTS(ft);
    }
}

static const uint8_t *
label_types(const cx_t *c, const ctl_t *f, uint32_t *n)
{
    return f->op == OP_LOOP ? bt_params(c, f, n) : bt_results(c, f, n);
}

static ctl_t *
push_ctl(cx_t *c, uint8_t op, uint8_t bt_kind, uint8_t bt_val,
         uint32_t bt_idx, uint32_t height)
{
    ctl_t *f;

    if (!RESERVE(c, c->ctls, c->capctls, (uint64_t)c->nctls + 1, MAX_STACK))
        return NULL;
    f = &c->ctls[c->nctls++];
    memset(f, 0, sizeof(*f));
    f->op = op;
    f->bt_kind = bt_kind;
    f->bt_val = bt_val;
    f->bt_idx = bt_idx;
    f->height = height;
    f->dead_in = c->dead;
    return f;
}

/* The rest of the current frame is unreachable. */
static void
set_unreachable(cx_t *c)
{
    ctl_t *f = top_ctl(c);

    for (uint32_t i = f->height; i < c->nvals; i++) {
        if (c->vals[i].kind == K_LOCAL)
            c->pending[c->vals[i].local]--;
    }
    c->nvals = f->height;
    if (c->nclean > c->nvals)
        c->nclean = c->nvals;
    f->unreachable = true;
    c->dead = true;
}

/* ------------------------------------------------------------------ */
/* Branches                                                           */
/* ------------------------------------------------------------------ */

/*
 * Before a return that takes its values from c->buf: a value that names a
 * local whose slot an earlier result overwrites is copied out first.
 */
static void
prep_return(cx_t *c, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        opd_t *e = &c->buf[k];
        if (e->kind == K_LOCAL && e->local < k) {
            (void)EMIT(c, mov, own_slot(c, c->buf_base + k), e->local);
            e->kind = K_TEMP;
        }
    }
}

/* Does a branch to frame f with values c->buf need copies? */
static bool
needs_copies(const cx_t *c, const ctl_t *f, uint32_t n)
{
    for (uint32_t k = 0; k < n; k++) {
        if (c->buf[k].kind != K_TEMP || c->buf_base + k != f->height + k)
            return true;
    }
    return false;
}

/*
 * Emit an unconditional jump to frame index fi with the n label values in
 * c->buf: copies, then br / br_back, or the return sequence for the
 * function frame (prep_return() already done).
 */
static void
gen_jump(cx_t *c, uint32_t fi, uint32_t n)
{
    ctl_t *f = &c->ctls[fi];
    uint32_t at;

    if (n == 1 && c->buf[0].kind == K_TEMP && c->last_end == c->ncode &&
        c->last_pos == c->buf_base && !c->dead) {
        /*
         * The value was computed by the instruction just emitted and is
         * only read by this jump: let it write the label's slot directly.
         * Its operands are read before the write.
         */
        c->code[c->last_start + 1] = fi == 0 ? 0 : own_slot(c, f->height);
        c->last_end = NOPOS;
        c->buf[0].kind = K_LOCAL; /* now "in slot": put_value skips it */
        c->buf[0].local = fi == 0 ? 0 : own_slot(c, f->height);
    }
    if (fi == 0) {
        for (uint32_t k = 0; k < n; k++)
            put_value(c, k, &c->buf[k], c->buf_base + k);
        emit0(c, VMRT__OP_ret);
        return;
    }
    for (uint32_t k = 0; k < n; k++)
        put_value(c, own_slot(c, f->height + k), &c->buf[k],
                  c->buf_base + k);
    if (f->op == OP_LOOP) {
        const uint8_t *lt = bt_params(c, f, &n);
        at = EMIT(c, br_back, f->header, c->ninstr - f->header_ninstr + 1);
        stop_note(c, at, VMRT__STOP_BACK, f->height, lt, n);
    } else {
        at = EMIT(c, br, 0);
        if (at != NOPOS) {
            link_cell(c, &f->patch, at + 1);
            f->reached = true;
        }
    }
}

/*
 * Fusion of a just-emitted i32 compare (or eqz) producing the condition at
 * stack position pos: if possible, remove it and return its op and source
 * slots so that the branch can test them directly.
 * Return: true if fused.
 */
static bool
take_compare(cx_t *c, const opd_t *cond, uint32_t pos, vmrt__op_t *op,
             uint32_t *a, uint32_t *b)
{
    if (c->dead || cond->kind != K_TEMP || c->last_end != c->ncode ||
        c->last_pos != pos)
        return false;
    if (c->last_op != VMRT__OP_i32_eqz &&
        (c->last_op < VMRT__OP_i32_eq || c->last_op > VMRT__OP_i32_ge_u) &&
        (c->last_op < VMRT__OP_i32_eq_ri ||
         c->last_op > VMRT__OP_i32_ge_u_ri))
        return false;
    *op = c->last_op;
    *a = c->code[c->last_start + 2];
    *b = c->last_op == VMRT__OP_i32_eqz ? 0 : c->code[c->last_start + 3];
    c->ncode = c->last_start;
    c->ninstr--;
    c->last_end = NOPOS;
    return true;
}

/* The compare with the opposite outcome (i32 compares negate exactly). */
static vmrt__op_t
negate_cmp(vmrt__op_t op)
{
    static const uint8_t neg[10] = { 1, 0, 8, 9, 6, 7, 4, 5, 2, 3 };

    return (vmrt__op_t)(VMRT__OP_i32_eq + neg[op - VMRT__OP_i32_eq]);
}

/*
 * Emit a conditional forward branch whose T cell is linked into *head.
 * `when` selects the sense: jump if the condition is true (when) or false.
 */
static void
emit_cond_br(cx_t *c, bool fused, vmrt__op_t cop, uint32_t a, uint32_t b,
             bool when, uint32_t *head)
{
    uint32_t at, tcell;

    if (fused && cop == VMRT__OP_i32_eqz) {
        /* eqz(a) is true exactly when a is zero. */
        if (when)
            at = EMIT(c, br_unless, a, 0);
        else
            at = EMIT(c, br_if, a, 0);
        tcell = 2;
    } else if (fused) {
        /* An _ri compare (b is then its immediate) maps to an _ri branch. */
        bool ri = cop >= VMRT__OP_i32_eq_ri;
        vmrt__op_t o = ri ? (vmrt__op_t)(VMRT__OP_i32_eq +
                                         (cop - VMRT__OP_i32_eq_ri))
                          : cop;
        if (!when)
            o = negate_cmp(o);
        at = emit(c, (vmrt__op_t)((ri ? VMRT__OP_br_if_i32_eq_ri
                                      : VMRT__OP_br_if_i32_eq) +
                                  (o - VMRT__OP_i32_eq)),
                  3, (uint32_t[]){ a, b, 0 });
        tcell = 3;
    } else {
        if (when)
            at = EMIT(c, br_if, a, 0);
        else
            at = EMIT(c, br_unless, a, 0);
        tcell = 2;
    }
    if (at != NOPOS)
        link_cell(c, head, at + tcell);
}

/*
 * emit_back_br: the conditional back-edge to loop frame f, testing either
 * fp[a] != 0 or the compare taken by take_compare(), which the back-edge
 * then performs itself (one dispatch per iteration instead of two or
 * three).  The caller records the result as a BACK stop point.
 * Return: the code offset of the back-edge, or NOPOS.
 */
static uint32_t
emit_back_br(cx_t *c, bool fused, vmrt__op_t cop, uint32_t a, uint32_t b,
             const ctl_t *f)
{
    uint32_t q = c->ninstr - f->header_ninstr + 1;

    if (!fused)
        return EMIT(c, br_if_back, a, f->header, q);
    if (cop == VMRT__OP_i32_eqz)
        return EMIT(c, br_unless_back, a, f->header, q);
    if (cop >= VMRT__OP_i32_eq_ri)
        return emit(c, (vmrt__op_t)(VMRT__OP_br_if_back_i32_eq_ri +
                                    (cop - VMRT__OP_i32_eq_ri)),
                    4, (uint32_t[]){ a, b, f->header, q });
    return emit(c, (vmrt__op_t)(VMRT__OP_br_if_back_i32_eq +
                                (cop - VMRT__OP_i32_eq)),
                4, (uint32_t[]){ a, b, f->header, q });
}

/* ------------------------------------------------------------------ */
/* Decoding                                                           */
/* ------------------------------------------------------------------ */

static bool
is_valtype(uint8_t b)
{
    return b == VMRT_I32 || b == VMRT_I64 || b == VMRT_F32 ||
           b == VMRT_F64 || b == VMRT_FUNCREF || b == VMRT_EXTERNREF;
}

static bool
is_reftype(uint8_t t)
{
    return t == VMRT_FUNCREF || t == VMRT_EXTERNREF;
}

static uint8_t
read_valtype(cx_t *c)
{
    size_t off = vmrt__rd_off(&c->rd);
    uint8_t b = vmrt__rd_u8(&c->rd);

    if (c->rd.err != NULL || is_valtype(b))
        return b;
    if (b == VMRT_V128)
        fail_at(c, VMRT_EUNSUPPORTED, off, "v128 values are not supported");
    else
        fail_at(c, VMRT_EMALFORMED, off, "malformed value type");
    return 0;
}

static void
zero_byte(cx_t *c)
{
    size_t off = vmrt__rd_off(&c->rd);

    if (vmrt__rd_u8(&c->rd) != 0 && c->rd.err == NULL)
        fail_at(c, VMRT_EMALFORMED, off, "zero byte expected");
}

static void
need_datacount(cx_t *c)
{
    if (!c->m->has_datacount)
        fail(c, VMRT_EMALFORMED, "data count section required");
}

/*
 * decode_instr: read one instruction's opcode and immediates into *in.
 * Only binary-format (malformed) errors are reported here.
 */
static void
decode_instr(cx_t *c, ins_t *in)
{
    vmrt__reader_t *rd = &c->rd;
    uint8_t b;
    uint32_t sub;

    memset(in, 0, sizeof(*in));
    in->op = vmrt__rd_u8(rd);
    switch (in->op) {
    case 0x00: case 0x01: case 0x05: case 0x0b: case 0x0f:
    case 0x1a: case 0x1b: case 0xd1:
        break;
    case 0x02: case 0x03: case 0x04:
        if (vmrt__rd_left(rd) == 0) {
            (void)vmrt__rd_u8(rd);
            break;
        }
        b = *rd->p;
        if (b == 0x40) {
            rd->p++;
            in->bt_kind = BT_EMPTY;
        } else if (is_valtype(b) || b == VMRT_V128) {
            in->bt_kind = BT_VAL;
            in->bt_val = read_valtype(c);
        } else {
            int64_t v = vmrt__rd_sleb(rd, 33);
            if (rd->err == NULL && v < 0)
                fail(c, VMRT_EMALFORMED, "malformed block type");
            in->bt_kind = BT_TYPE;
            in->bt_idx = (uint32_t)v;
        }
        break;
    case 0x0c: case 0x0d: case 0x10: case 0x20: case 0x21: case 0x22:
    case 0x23: case 0x24: case 0x25: case 0x26: case 0xd2:
        in->a = vmrt__rd_u32(rd);
        break;
    case 0x0e:
        in->n = vmrt__rd_u32(rd);
        if (rd->err != NULL)
            break;
        /* Each label takes at least one byte: bounds the allocation. */
        if (in->n >= vmrt__rd_left(rd)) {
            vmrt__rd_fail(rd, "unexpected end");
            break;
        }
        if (!RESERVE(c, c->labels, c->caplabels, (uint64_t)in->n + 1,
                     MAX_CODE_CELLS))
            break;
        for (uint32_t i = 0; i <= in->n && rd->err == NULL; i++)
            c->labels[i] = vmrt__rd_u32(rd);
        break;
    case 0x11:
        in->a = vmrt__rd_u32(rd);
        in->b = vmrt__rd_u32(rd);
        break;
    case 0x1c:
        in->n = vmrt__rd_u32(rd);
        for (uint32_t i = 0; i < in->n && rd->err == NULL && c->rc == 0;
             i++) {
            uint8_t t = read_valtype(c);
            if (i == 0)
                in->t = t;
        }
        break;
    case 0x3f: case 0x40:
        zero_byte(c);
        break;
    case 0x41:
        in->v = (uint32_t)(int32_t)vmrt__rd_sleb(rd, 32);
        break;
    case 0x42:
        in->v = (uint64_t)vmrt__rd_sleb(rd, 64);
        break;
    case 0x43:
        in->v = vmrt__rd_fixed32(rd);
        break;
    case 0x44:
        in->v = vmrt__rd_fixed64(rd);
        break;
    case 0xd0: {
        size_t off = vmrt__rd_off(rd);
        in->t = vmrt__rd_u8(rd);
        if (rd->err == NULL && !is_reftype(in->t))
            fail_at(c, VMRT_EMALFORMED, off, "malformed reference type");
        break;
    }
    case 0xfc:
        sub = vmrt__rd_u32(rd);
        if (rd->err != NULL)
            break;
        if (sub > 17) {
            fail(c, VMRT_EMALFORMED, "illegal opcode");
            break;
        }
        in->op = 0xfc00 | sub;
        switch (sub) {
        case 8:
            in->a = vmrt__rd_u32(rd);
            zero_byte(c);
            need_datacount(c);
            break;
        case 9:
            in->a = vmrt__rd_u32(rd);
            need_datacount(c);
            break;
        case 10:
            zero_byte(c);
            zero_byte(c);
            break;
        case 11:
            zero_byte(c);
            break;
        case 12: case 14:
            in->a = vmrt__rd_u32(rd);
            in->b = vmrt__rd_u32(rd);
            break;
        case 13: case 15: case 16: case 17:
            in->a = vmrt__rd_u32(rd);
            break;
        default:
            break;
        }
        break;
    case 0xfd:
        if (rd->err == NULL)
            fail(c, VMRT_EUNSUPPORTED,
                 "SIMD instruction (0xfd prefix) is not supported");
        break;
    default:
        if (in->op >= 0x28 && in->op <= 0x3e) {
            size_t off = vmrt__rd_off(rd);
            in->a = vmrt__rd_u32(rd);
            in->v = vmrt__rd_u32(rd);
            if (rd->err == NULL && in->a >= 32)
                fail_at(c, VMRT_EMALFORMED, off, "malformed memop flags");
        } else if (in->op >= 0x45 && in->op <= 0xc4) {
            break;
        } else if (rd->err == NULL) {
            char buf[40];
            snprintf(buf, sizeof(buf), "illegal opcode 0x%02x",
                     (unsigned)in->op);
            fail(c, VMRT_EMALFORMED, buf);
        }
        break;
    }
    if (rd->err != NULL)
        fail_at(c, VMRT_EMALFORMED, rd->err_off, rd->err);
}

/* ------------------------------------------------------------------ */
/* Numeric instructions                                               */
/* ------------------------------------------------------------------ */

#define I32 VMRT_I32
#define I64 VMRT_I64
#define F32 VMRT_F32
#define F64 VMRT_F64

/*
 * numeric_sig: internal op and types of numeric opcode `wop` (0x45..0xc4,
 * or 0xfc00..0xfc07).  tb is 0 for unary ops.  *op is VMRT__OP_COUNT for
 * the reinterpretations, which emit nothing.
 */
static void
numeric_sig(uint32_t wop, vmrt__op_t *op, uint8_t *ta, uint8_t *tb,
            uint8_t *tr, bool *traps)
{
    /* Conversions 0xa7..0xc4: operand type, result type. */
    static const uint8_t conv[][2] = {
        { I64, I32 },                                         /* wrap */
        { F32, I32 }, { F32, I32 }, { F64, I32 }, { F64, I32 }, /* trunc */
        { I32, I64 }, { I32, I64 },                           /* extend */
        { F32, I64 }, { F32, I64 }, { F64, I64 }, { F64, I64 }, /* trunc */
        { I32, F32 }, { I32, F32 }, { I64, F32 }, { I64, F32 }, /* conv */
        { F64, F32 },                                         /* demote */
        { I32, F64 }, { I32, F64 }, { I64, F64 }, { I64, F64 }, /* conv */
        { F32, F64 },                                         /* promote */
        { F32, I32 }, { F64, I64 }, { I32, F32 }, { I64, F64 }, /* reint */
        { I32, I32 }, { I32, I32 },                           /* ext i32 */
        { I64, I64 }, { I64, I64 }, { I64, I64 },             /* ext i64 */
    };
    static const uint8_t sat[8][2] = {
        { F32, I32 }, { F32, I32 }, { F64, I32 }, { F64, I32 },
        { F32, I64 }, { F32, I64 }, { F64, I64 }, { F64, I64 },
    };

    *tb = 0;
    *traps = false;
    if (wop >= 0xfc00) {
        *op = (vmrt__op_t)(VMRT__OP_i32_trunc_sat_f32_s + (wop - 0xfc00));
        *ta = sat[wop - 0xfc00][0];
        *tr = sat[wop - 0xfc00][1];
    } else if (wop == 0x45 || wop == 0x50) {
        *op = wop == 0x45 ? VMRT__OP_i32_eqz : VMRT__OP_i64_eqz;
        *ta = wop == 0x45 ? I32 : I64;
        *tr = I32;
    } else if (wop <= 0x66) {
        /* Comparisons. */
        if (wop <= 0x4f) {
            *op = (vmrt__op_t)(VMRT__OP_i32_eq + (wop - 0x46));
            *ta = I32;
        } else if (wop <= 0x5a) {
            *op = (vmrt__op_t)(VMRT__OP_i64_eq + (wop - 0x51));
            *ta = I64;
        } else if (wop <= 0x60) {
            *op = (vmrt__op_t)(VMRT__OP_f32_eq + (wop - 0x5b));
            *ta = F32;
        } else {
            *op = (vmrt__op_t)(VMRT__OP_f64_eq + (wop - 0x61));
            *ta = F64;
        }
        *tb = *ta;
        *tr = I32;
    } else if (wop <= 0x78 || (wop >= 0x79 && wop <= 0x8a)) {
        /* Integer arithmetic: 3 unary ops, then 15 binary ones. */
        bool w = wop >= 0x79;
        uint32_t i = wop - (w ? 0x79 : 0x67);
        *op = (vmrt__op_t)((w ? VMRT__OP_i64_clz : VMRT__OP_i32_clz) + i);
        *ta = *tr = w ? I64 : I32;
        if (i >= 3)
            *tb = *ta;
        /* div_s, div_u, rem_s, rem_u */
        *traps = i >= 6 && i <= 9;
    } else if (wop <= 0xa6) {
        /* Float arithmetic: 7 unary ops, then 7 binary ones. */
        bool w = wop >= 0x99;
        uint32_t i = wop - (w ? 0x99 : 0x8b);
        *op = (vmrt__op_t)((w ? VMRT__OP_f64_abs : VMRT__OP_f32_abs) + i);
        *ta = *tr = w ? F64 : F32;
        if (i >= 7)
            *tb = *ta;
    } else {
        uint32_t i = wop - 0xa7;
        *ta = conv[i][0];
        *tr = conv[i][1];
        if (wop >= 0xbc && wop <= 0xbf) {
            *op = VMRT__OP_COUNT;
        } else if (wop >= 0xc0) {
            *op = (vmrt__op_t)(VMRT__OP_i32_extend8_s + (wop - 0xc0));
        } else {
            *op = (vmrt__op_t)(VMRT__OP_i32_wrap_i64 + i);
            *traps = (wop >= 0xa8 && wop <= 0xab) ||
                     (wop >= 0xae && wop <= 0xb1);
        }
    }
}

/* The _ri form of a binary op, or VMRT__OP_COUNT. */
static vmrt__op_t
ri_form(vmrt__op_t op)
{
    switch (op) {
    case VMRT__OP_i32_add: return VMRT__OP_i32_add_ri;
    case VMRT__OP_i32_sub: return VMRT__OP_i32_sub_ri;
    case VMRT__OP_i32_mul: return VMRT__OP_i32_mul_ri;
    case VMRT__OP_i32_and: return VMRT__OP_i32_and_ri;
    case VMRT__OP_i32_or: return VMRT__OP_i32_or_ri;
    case VMRT__OP_i32_xor: return VMRT__OP_i32_xor_ri;
    case VMRT__OP_i32_shl: return VMRT__OP_i32_shl_ri;
    case VMRT__OP_i32_shr_s: return VMRT__OP_i32_shr_s_ri;
    case VMRT__OP_i32_shr_u: return VMRT__OP_i32_shr_u_ri;
    case VMRT__OP_i32_rotl: return VMRT__OP_i32_rotl_ri;
    case VMRT__OP_i32_rotr: return VMRT__OP_i32_rotr_ri;
    case VMRT__OP_i64_add: return VMRT__OP_i64_add_ri;
    case VMRT__OP_i64_sub: return VMRT__OP_i64_sub_ri;
    case VMRT__OP_i64_mul: return VMRT__OP_i64_mul_ri;
    case VMRT__OP_i64_and: return VMRT__OP_i64_and_ri;
    case VMRT__OP_i64_or: return VMRT__OP_i64_or_ri;
    case VMRT__OP_i64_xor: return VMRT__OP_i64_xor_ri;
    case VMRT__OP_i64_shl: return VMRT__OP_i64_shl_ri;
    case VMRT__OP_i64_shr_s: return VMRT__OP_i64_shr_s_ri;
    case VMRT__OP_i64_shr_u: return VMRT__OP_i64_shr_u_ri;
    case VMRT__OP_i64_rotl: return VMRT__OP_i64_rotl_ri;
    case VMRT__OP_i64_rotr: return VMRT__OP_i64_rotr_ri;
    default:
        if (op >= VMRT__OP_i32_eq && op <= VMRT__OP_i32_ge_u)
            return (vmrt__op_t)(VMRT__OP_i32_eq_ri + (op - VMRT__OP_i32_eq));
        return VMRT__OP_COUNT;
    }
}

/*
 * fits_ri: can entry e be the immediate of op's _ri form?  i64 immediates
 * are sign-extended from 32 bits; shift counts only use their low bits.
 */
static bool
fits_ri(vmrt__op_t op, const opd_t *e)
{
    if (e->kind != K_CONST)
        return false;
    switch (op) {
    case VMRT__OP_i64_add: case VMRT__OP_i64_sub: case VMRT__OP_i64_mul:
    case VMRT__OP_i64_and: case VMRT__OP_i64_or: case VMRT__OP_i64_xor:
        return (int64_t)e->val == (int64_t)(int32_t)(uint32_t)e->val;
    default:
        return true;
    }
}

/*
 * swap_form: the op computing the same with its operands swapped, so that
 * a constant on the left can use the _ri form; VMRT__OP_COUNT if none.
 */
static vmrt__op_t
swap_form(vmrt__op_t op)
{
    switch (op) {
    case VMRT__OP_i32_add: case VMRT__OP_i32_mul: case VMRT__OP_i32_and:
    case VMRT__OP_i32_or: case VMRT__OP_i32_xor: case VMRT__OP_i32_eq:
    case VMRT__OP_i32_ne: case VMRT__OP_i64_add: case VMRT__OP_i64_mul:
    case VMRT__OP_i64_and: case VMRT__OP_i64_or: case VMRT__OP_i64_xor:
        return op;
    case VMRT__OP_i32_lt_s: return VMRT__OP_i32_gt_s;
    case VMRT__OP_i32_lt_u: return VMRT__OP_i32_gt_u;
    case VMRT__OP_i32_gt_s: return VMRT__OP_i32_lt_s;
    case VMRT__OP_i32_gt_u: return VMRT__OP_i32_lt_u;
    case VMRT__OP_i32_le_s: return VMRT__OP_i32_ge_s;
    case VMRT__OP_i32_le_u: return VMRT__OP_i32_ge_u;
    case VMRT__OP_i32_ge_s: return VMRT__OP_i32_le_s;
    case VMRT__OP_i32_ge_u: return VMRT__OP_i32_le_u;
    default: return VMRT__OP_COUNT;
    }
}

/*
 * fuse_mem_operand: if the right operand eb (position pb) of binary op
 * `op` was loaded by the plain load just emitted, replace that load with
 * one _m op that loads and computes.  The load's trap site stays valid:
 * the fused op starts where the load did and traps as it would.
 * Return: the code offset of the fused op, or NOPOS if not fused.
 */
static uint32_t
fuse_mem_operand(cx_t *c, vmrt__op_t *opp, opd_t *ea, uint32_t pa,
                 const opd_t *eb, uint32_t pb)
{
    vmrt__op_t mop, lop, op = *opp;
    uint32_t addr, off, d = own_slot(c, pa);
    opd_t t;

    switch (op) {
    case VMRT__OP_f64_add: mop = VMRT__OP_f64_add_m; break;
    case VMRT__OP_f64_sub: mop = VMRT__OP_f64_sub_m; break;
    case VMRT__OP_f64_mul: mop = VMRT__OP_f64_mul_m; break;
    case VMRT__OP_i32_add: mop = VMRT__OP_i32_add_m; break;
    default: return NOPOS;
    }
    lop = op == VMRT__OP_i32_add ? VMRT__OP_i32_load : VMRT__OP_i64_load;
    if (c->last_op != lop || c->last_end != c->ncode)
        return NOPOS;
    if (op != VMRT__OP_f64_sub && ea->kind == K_TEMP && c->last_pos == pa &&
        eb->kind == K_LOCAL) {
        /*
         * Commutative, the left operand loaded: swap.  (For f64 only the
         * payload of a NaN result could differ, which wasm leaves open.)
         */
        t = *ea;
        *ea = *eb;
        eb = &t;
        pb = pa;
        pa = pb + 1;
    }
    /* A constant ea would be written after the load: not fusable. */
    if (eb->kind != K_TEMP || ea->kind == K_CONST || c->last_pos != pb)
        return NOPOS;
    addr = c->code[c->last_start + 2];
    off = c->code[c->last_start + 3];
    c->ncode = c->last_start;
    c->ninstr--;
    c->last_end = NOPOS;
    *opp = mop;
    return emit(c, mop, 4, (uint32_t[]){ d, src_slot(c, ea, pa), addr, off });
}

static void
op_numeric(cx_t *c, uint32_t wop)
{
    vmrt__op_t op, ri;
    uint8_t ta, tb, tr;
    bool traps;
    opd_t ea, eb;
    uint32_t pa, pb, at = NOPOS;

    numeric_sig(wop, &op, &ta, &tb, &tr, &traps);
    if (tb != 0) {
        if (!pop_expect(c, tb, &eb, &pb) || !pop_expect(c, ta, &ea, &pa))
            return;
        if (!c->dead) {
            uint32_t d = own_slot(c, pa);
            vmrt__op_t sw = swap_form(op);
            ri = ri_form(op);
            if ((at = fuse_mem_operand(c, &op, &ea, pa, &eb, pb)) != NOPOS) {
                /* op is now the _m op. */
            } else if (ri != VMRT__OP_COUNT && fits_ri(op, &eb)) {
                at = emit(c, ri, 3, (uint32_t[]){ d, src_slot(c, &ea, pa),
                                                  (uint32_t)eb.val });
                op = ri;
            } else if (sw != VMRT__OP_COUNT && fits_ri(sw, &ea) &&
                       eb.kind != K_CONST) {
                /* Swapped, the constant goes on the right. */
                op = ri_form(sw);
                at = emit(c, op, 3, (uint32_t[]){ d, src_slot(c, &eb, pb),
                                                  (uint32_t)ea.val });
            } else {
                uint32_t a = src_slot(c, &ea, pa);
                uint32_t b = src_slot(c, &eb, pb);
                at = emit(c, op, 3, (uint32_t[]){ d, a, b });
            }
        }
        (void)push_temp(c, tr);
        /* The op actually emitted: take_compare() fuses _ri compares. */
        result_at(c, at, pa, op);
    } else {
        if (!pop_expect(c, ta, &ea, &pa))
            return;
        if (op == VMRT__OP_COUNT) {
            /* A reinterpretation keeps the bits where they are. */
            ea.type = tr;
            push_opd(c, &ea);
            return;
        }
        if (!c->dead) {
            uint32_t a = src_slot(c, &ea, pa);
            at = emit(c, op, 2, (uint32_t[]){ own_slot(c, pa), a });
        }
        (void)push_temp(c, tr);
        result_at(c, at, pa, op);
    }
    if (traps)
        trap_site(c, at);
}

/* ------------------------------------------------------------------ */
/* Memory                                                             */
/* ------------------------------------------------------------------ */

static bool
need_memory(cx_t *c)
{
    if (c->m->nmems == 0) {
        fail_idx(c, "unknown memory", 0);
        return false;
    }
    return true;
}

typedef struct {
    uint8_t op;    /* vmrt__op_t */
    uint8_t align; /* natural alignment, log2 */
    uint8_t type;  /* loaded or stored value type */
} memop_t;

/* 0x28..0x35. */
static const memop_t loads[] = {
    { VMRT__OP_i32_load, 2, I32 },     { VMRT__OP_i64_load, 3, I64 },
    { VMRT__OP_i32_load, 2, F32 },     { VMRT__OP_i64_load, 3, F64 },
    { VMRT__OP_i32_load8_s, 0, I32 },  { VMRT__OP_i32_load8_u, 0, I32 },
    { VMRT__OP_i32_load16_s, 1, I32 }, { VMRT__OP_i32_load16_u, 1, I32 },
    { VMRT__OP_i64_load8_s, 0, I64 },  { VMRT__OP_i64_load8_u, 0, I64 },
    { VMRT__OP_i64_load16_s, 1, I64 }, { VMRT__OP_i64_load16_u, 1, I64 },
    { VMRT__OP_i64_load32_s, 2, I64 }, { VMRT__OP_i64_load32_u, 2, I64 },
};

/* 0x36..0x3e. */
static const memop_t stores[] = {
    { VMRT__OP_store32, 2, I32 }, { VMRT__OP_store64, 3, I64 },
    { VMRT__OP_store32, 2, F32 }, { VMRT__OP_store64, 3, F64 },
    { VMRT__OP_store8, 0, I32 },  { VMRT__OP_store16, 1, I32 },
    { VMRT__OP_store8, 0, I64 },  { VMRT__OP_store16, 1, I64 },
    { VMRT__OP_store32, 2, I64 },
};

/*
 * fuse_address: if the address of a load (entry e at position pos) was
 * computed by the i32.add (or its _ri form) just emitted, replace that add
 * with one load_aa / load_ai that does the (wrapping) add itself.
 * Return: the code offset of the fused load, or NOPOS if not fused.
 */
static uint32_t
fuse_address(cx_t *c, const opd_t *e, uint32_t pos, vmrt__op_t *lop,
             uint32_t off)
{
    vmrt__op_t op;
    uint32_t a, b;

    if (e->kind != K_TEMP || c->last_end != c->ncode || c->last_pos != pos ||
        (c->last_op != VMRT__OP_i32_add && c->last_op != VMRT__OP_i32_add_ri))
        return NOPOS;
    switch (*lop) {
    case VMRT__OP_i32_load: op = VMRT__OP_i32_load_aa; break;
    case VMRT__OP_i64_load: op = VMRT__OP_i64_load_aa; break;
    case VMRT__OP_i32_load8_u: op = VMRT__OP_i32_load8_u_aa; break;
    default: return NOPOS;
    }
    /* The _ai ops follow the _aa ones in the same order. */
    if (c->last_op == VMRT__OP_i32_add_ri)
        op = (vmrt__op_t)(op + (VMRT__OP_i32_load_ai - VMRT__OP_i32_load_aa));
    a = c->code[c->last_start + 2];
    b = c->code[c->last_start + 3];
    c->ncode = c->last_start;
    c->ninstr--;
    c->last_end = NOPOS;
    *lop = op;
    return emit(c, op, 4, (uint32_t[]){ own_slot(c, pos), a, b, off });
}

static void
op_memaccess(cx_t *c, const ins_t *in)
{
    bool load = in->op <= 0x35;
    const memop_t *l = load ? &loads[in->op - 0x28] : &stores[in->op - 0x36];
    opd_t ea, ev;
    uint32_t pa, pv, at = NOPOS;

    if (!need_memory(c))
        return;
    if (in->a > l->align) {
        fail(c, VMRT_EINVALID, "alignment must not be larger than natural");
        return;
    }
    if (load) {
        if (!pop_expect(c, I32, &ea, &pa))
            return;
        vmrt__op_t lop = (vmrt__op_t)l->op;
        if (!c->dead && (at = fuse_address(c, &ea, pa, &lop,
                                           (uint32_t)in->v)) != NOPOS) {
            /* The address add was folded into the load. */
        } else if (!c->dead) {
            uint32_t a = src_slot(c, &ea, pa);
            at = emit(c, (vmrt__op_t)l->op, 3,
                      (uint32_t[]){ own_slot(c, pa), a, (uint32_t)in->v });
        }
        (void)push_temp(c, l->type);
        /* The op actually emitted: fuse_mem_operand() wants plain loads. */
        result_at(c, at, pa, lop);
    } else {
        if (!pop_expect(c, l->type, &ev, &pv) ||
            !pop_expect(c, I32, &ea, &pa))
            return;
        if (!c->dead) {
            uint32_t a = src_slot(c, &ea, pa);
            uint32_t v = src_slot(c, &ev, pv);
            at = emit(c, (vmrt__op_t)l->op, 3,
                      (uint32_t[]){ a, v, (uint32_t)in->v });
        }
    }
    trap_site(c, at);
}

/* ------------------------------------------------------------------ */
/* Other plain instructions                                           */
/* ------------------------------------------------------------------ */

/*
 * simple_op: pop operands of types[0..n), emit `op` with cells
 * [D] pre[0..npre) then the operands' slots, and push a result of type
 * rtype unless it is 0.
 */
static void
simple_op(cx_t *c, vmrt__op_t op, const uint8_t *types, uint32_t n,
          const uint32_t *pre, unsigned npre, uint8_t rtype, bool traps)
{
    uint32_t cells[8], nc = 0, at = NOPOS, base;

    if (!pop_vals(c, types, n))
        return;
    base = c->buf_base;
    if (!c->dead) {
        if (rtype != 0)
            cells[nc++] = own_slot(c, base);
        for (unsigned i = 0; i < npre; i++)
            cells[nc++] = pre[i];
        for (uint32_t k = 0; k < n; k++)
            cells[nc++] = src_slot(c, &c->buf[k], base + k);
        at = emit(c, op, nc, cells);
    }
    if (rtype != 0) {
        (void)push_temp(c, rtype);
        result_at(c, at, base, op);
    }
    if (traps)
        trap_site(c, at);
}

static bool
need_table(cx_t *c, uint32_t x)
{
    if (x >= c->m->ntables) {
        fail_idx(c, "unknown table", x);
        return false;
    }
    return true;
}

static bool
need_elem(cx_t *c, uint32_t x)
{
    if (x >= c->m->nelems) {
        fail_idx(c, "unknown elem segment", x);
        return false;
    }
    return true;
}

static bool
need_data(cx_t *c, uint32_t x)
{
    if (!c->m->has_datacount || x >= c->m->datacount) {
        fail_idx(c, "unknown data segment", x);
        return false;
    }
    return true;
}

static const uint8_t i32x3[3] = { I32, I32, I32 };

static void
op_prefixed(cx_t *c, const ins_t *in)
{
    vmrt_module_t *m = c->m;
    uint32_t sub = in->op & 0xff;
    uint8_t et, ty[3];

    if (sub <= 7) {
        op_numeric(c, in->op);
        return;
    }
    switch (sub) {
    case 8: /* memory.init */
        if (!need_memory(c) || !need_data(c, in->a))
            return;
        simple_op(c, VMRT__OP_memory_init, i32x3, 3, &in->a, 1, 0, true);
        break;
    case 9: /* data.drop */
        if (need_data(c, in->a))
            (void)EMIT(c, data_drop, in->a);
        break;
    case 10: /* memory.copy */
    case 11: /* memory.fill */
        if (!need_memory(c))
            return;
        simple_op(c, sub == 10 ? VMRT__OP_memory_copy : VMRT__OP_memory_fill,
                  i32x3, 3, NULL, 0, 0, true);
        break;
    case 12: /* table.init elem table */
        if (!need_table(c, in->b) || !need_elem(c, in->a))
            return;
        if (m->elems[in->a].reftype != m->tables[in->b].elemtype) {
            mismatch(c);
            return;
        }
        simple_op(c, VMRT__OP_table_init, i32x3, 3,
                  (uint32_t[]){ in->b, in->a }, 2, 0, true);
        break;
    case 13: /* elem.drop */
        if (need_elem(c, in->a))
            (void)EMIT(c, elem_drop, in->a);
        break;
    case 14: /* table.copy dst src */
        if (!need_table(c, in->a) || !need_table(c, in->b))
            return;
        if (m->tables[in->a].elemtype != m->tables[in->b].elemtype) {
            mismatch(c);
            return;
        }
        simple_op(c, VMRT__OP_table_copy, i32x3, 3,
                  (uint32_t[]){ in->a, in->b }, 2, 0, true);
        break;
    case 15: /* table.grow */
        if (!need_table(c, in->a))
            return;
        et = m->tables[in->a].elemtype;
        ty[0] = et;
        ty[1] = I32;
        simple_op(c, VMRT__OP_table_grow, ty, 2, &in->a, 1, I32, false);
        break;
    case 16: /* table.size */
        if (!need_table(c, in->a))
            return;
        simple_op(c, VMRT__OP_table_size, NULL, 0, &in->a, 1, I32, false);
        break;
    default: /* 17: table.fill */
        if (!need_table(c, in->a))
            return;
        et = m->tables[in->a].elemtype;
        ty[0] = I32;
        ty[1] = et;
        ty[2] = I32;
        simple_op(c, VMRT__OP_table_fill, ty, 3, &in->a, 1, 0, true);
        break;
    }
}

static void
op_select(cx_t *c, const ins_t *in)
{
    opd_t ec, ea, eb;
    uint32_t pc, pa, pb, at = NOPOS;
    uint8_t t;

    if (in->op == 0x1c && in->n != 1) {
        fail(c, VMRT_EINVALID, "invalid result arity");
        return;
    }
    if (!pop_expect(c, I32, &ec, &pc))
        return;
    if (in->op == 0x1c) {
        t = in->t;
        if (!pop_expect(c, t, &eb, &pb) || !pop_expect(c, t, &ea, &pa))
            return;
    } else {
        if (!pop_opd(c, &eb, &pb) || !pop_opd(c, &ea, &pa))
            return;
        if (is_reftype(ea.type) || is_reftype(eb.type) ||
            (ea.type != eb.type && ea.type != T_UNK && eb.type != T_UNK)) {
            mismatch(c);
            return;
        }
        t = ea.type == T_UNK ? eb.type : ea.type;
    }
    if (!c->dead) {
        uint32_t a = src_slot(c, &ea, pa);
        uint32_t b = src_slot(c, &eb, pb);
        uint32_t s = src_slot(c, &ec, pc);
        at = EMIT(c, select, own_slot(c, pa), s, a, b);
    }
    (void)push_temp(c, t);
    result_at(c, at, pa, VMRT__OP_select);
}

static void
op_local(cx_t *c, const ins_t *in)
{
    uint32_t x = in->a, p;
    opd_t e;

    if (x >= c->nlocals) {
        fail_idx(c, "unknown local", x);
        return;
    }
    if (in->op == 0x20) {
        opd_t l = { c->ltypes[x], K_LOCAL, x, 0 };
        push_opd(c, &l);
        return;
    }
    if (!pop_expect(c, c->ltypes[x], &e, &p))
        return;
    if (!c->dead && c->pending[x] == 0 && e.kind == K_TEMP &&
        c->last_end == c->ncode && c->last_pos == p) {
        /* The producer writes straight into the local. */
        c->code[c->last_start + 1] = x;
        c->last_end = NOPOS;
        c->lwritten[x] = 1;
        e.kind = K_LOCAL;
        e.local = x;
    } else if (e.kind == K_CONST && e.val == 0 && !c->seen_loop &&
               !c->lwritten[x] && x >= c->ft->nparams) {
        /*
         * Code before the first loop header runs once, in order: a
         * declared local nothing wrote yet still holds its entry zero.
         */
    } else {
        materialize_local(c, x);
        put_value(c, x, &e, p);
        if (e.kind == K_LOCAL)
            e.local = x;
        c->lwritten[x] = 1;
    }
    if (in->op == 0x22) {
        e.type = c->ltypes[x];
        push_opd(c, &e);
    }
}

static void
op_global(cx_t *c, const ins_t *in)
{
    const vmrt__globaltype_t *g;
    uint8_t t;

    if (in->a >= c->m->nglobals) {
        fail_idx(c, "unknown global", in->a);
        return;
    }
    g = &c->m->globals[in->a];
    t = g->valtype;
    if (in->op == 0x23) {
        simple_op(c, VMRT__OP_global_get, NULL, 0, &in->a, 1, t, false);
        return;
    }
    if (!g->mutable_) {
        fail(c, VMRT_EINVALID, "global is immutable");
        return;
    }
    simple_op(c, VMRT__OP_global_set, &t, 1, &in->a, 1, 0, false);
}

static void
op_call(cx_t *c, const ins_t *in)
{
    vmrt_module_t *m = c->m;
    const vmrt__functype_t *ft;
    opd_t ei;
    uint32_t pi = 0, idx = 0, at = NOPOS, base;

    if (in->op == 0x10) {
        if (in->a >= m->nfuncs) {
            fail_idx(c, "unknown function", in->a);
            return;
        }
        ft = &m->types[m->func_types[in->a]];
    } else {
        if (!need_table(c, in->b))
            return;
        if (m->tables[in->b].elemtype != VMRT_FUNCREF) {
            mismatch(c);
            return;
        }
        if (in->a >= m->ntypes) {
            fail_idx(c, "unknown type", in->a);
            return;
        }
        ft = &m->types[in->a];
        if (!pop_expect(c, I32, &ei, &pi))
            return;
    }
    if (!pop_vals(c, VMRT__PARAMS(ft), ft->nparams))
        return;
    base = c->buf_base;
    if (!c->dead) {
        /* Arguments go to consecutive temporaries: the callee's frame. */
        if (in->op == 0x11)
            idx = src_slot(c, &ei, pi);
        for (uint32_t k = 0; k < ft->nparams; k++)
            put_value(c, own_slot(c, base + k), &c->buf[k], base + k);
        if (in->op == 0x10)
            at = EMIT(c, call, in->a, own_slot(c, base));
        else
            at = EMIT(c, call_indirect, in->a, in->b, idx,
                      own_slot(c, base));
        stop_note(c, at, VMRT__STOP_CALL, base, VMRT__PARAMS(ft),
                  ft->nparams);
        stop_note(c, at == NOPOS ? NOPOS : c->ncode, VMRT__STOP_RET, base,
                  NULL, 0);
    }
    trap_site(c, at);
    for (uint32_t k = 0; k < ft->nresults; k++)
        (void)push_temp(c, VMRT__RESULTS(ft)[k]);
}

/* ------------------------------------------------------------------ */
/* Control                                                            */
/* ------------------------------------------------------------------ */

static bool
blocktype_ok(cx_t *c, const ins_t *in)
{
    if (in->bt_kind == BT_TYPE && in->bt_idx >= c->m->ntypes) {
        fail_idx(c, "unknown type", in->bt_idx);
        return false;
    }
    return true;
}

static void
op_block(cx_t *c, const ins_t *in)
{
    ctl_t tmp, *f;
    const uint8_t *pt;
    uint32_t np, pc = 0, a = 0, b = 0;
    opd_t ec;
    bool fused = false;
    vmrt__op_t cop = VMRT__OP_COUNT;

    if (!blocktype_ok(c, in))
        return;
    if (in->op == OP_IF) {
        if (!pop_expect(c, I32, &ec, &pc))
            return;
        fused = take_compare(c, &ec, pc, &cop, &a, &b);
    }
    memset(&tmp, 0, sizeof(tmp));
    tmp.op = (uint8_t)in->op;
    tmp.bt_kind = in->bt_kind;
    tmp.bt_val = in->bt_val;
    tmp.bt_idx = in->bt_idx;
    pt = bt_params(c, &tmp, &np);
    if (!pop_vals(c, pt, np))
        return;
    if ((f = push_ctl(c, tmp.op, tmp.bt_kind, tmp.bt_val, tmp.bt_idx,
                      c->nvals)) == NULL)
        return;
    push_back(c, pt, np);
    /* All paths into the block's labels must agree on where values are. */
    materialize_all(c);
    if (in->op == OP_LOOP) {
        bind_label(c);
        f->header = c->ncode;
        c->seen_loop = true;
        f->header_ninstr = c->ninstr;
    } else if (in->op == OP_IF && !c->dead) {
        if (!fused)
            a = src_slot(c, &ec, pc);
        f = top_ctl(c);
        emit_cond_br(c, fused, cop, a, b, false, &f->else_patch);
    }
}

/* Check and pop the frame's results at else/end into c->buf. */
static bool
pop_results(cx_t *c, ctl_t *f, uint32_t *n)
{
    const uint8_t *rt = bt_results(c, f, n);

    if (!pop_vals(c, rt, *n))
        return false;
    if (c->nvals != f->height) {
        mismatch(c);
        return false;
    }
    return true;
}

static void
op_else(cx_t *c)
{
    ctl_t *f = top_ctl(c);
    uint32_t n, np;
    const uint8_t *pt;

    if (f->op != OP_IF || f->has_else) {
        fail(c, VMRT_EMALFORMED, "END opcode expected");
        return;
    }
    if (!pop_results(c, f, &n))
        return;
    if (!c->dead) {
        for (uint32_t k = 0; k < n; k++)
            put_value(c, own_slot(c, f->height + k), &c->buf[k],
                      c->buf_base + k);
        uint32_t at = EMIT(c, br, 0);
        if (at != NOPOS) {
            link_cell(c, &f->patch, at + 1);
            f->reached = true;
        }
    }
    bind_label(c);
    patch_chain(c, f->else_patch, c->ncode);
    f->else_patch = 0;
    c->dead = f->dead_in;
    f->has_else = true;
    f->unreachable = false;
    pt = bt_params(c, f, &np);
    for (uint32_t k = 0; k < np; k++)
        (void)push_temp(c, pt[k]);
}

/* Emit the return sequence with the function's results in c->buf. */
static void
gen_return(cx_t *c, uint32_t n)
{
    prep_return(c, n);
    gen_jump(c, 0, n);
}

static void
op_end(cx_t *c)
{
    ctl_t *f = top_ctl(c);
    uint32_t n, np;
    const uint8_t *rt, *pt;
    bool live;

    if (!pop_results(c, f, &n))
        return;
    if (f->op == OP_IF && !f->has_else) {
        pt = bt_params(c, f, &np);
        rt = bt_results(c, f, &n);
        if (np != n || (n > 0 && memcmp(pt, rt, n) != 0)) {
            mismatch(c);
            return;
        }
    }
    if (f->op == OP_FUNC) {
        if (!c->dead)
            gen_return(c, n);
        c->nctls--;
        return;
    }
    if (!c->dead) {
        for (uint32_t k = 0; k < n; k++)
            put_value(c, own_slot(c, f->height + k), &c->buf[k],
                      c->buf_base + k);
    }
    live = !c->dead || f->reached ||
           (f->op == OP_IF && !f->has_else && !f->dead_in);
    bind_label(c);
    patch_chain(c, f->patch, c->ncode);
    patch_chain(c, f->else_patch, c->ncode);
    c->dead = !live;
    rt = bt_results(c, f, &n);
    /* Copy: rt may point into the frame that is popped next. */
    uint8_t one = n == 1 ? rt[0] : 0;
    if (n == 1)
        rt = &one;
    c->nctls--;
    for (uint32_t k = 0; k < n; k++)
        (void)push_temp(c, rt[k]);
    c->nclean = c->nvals;
}

static bool
label_ok(cx_t *c, uint32_t l)
{
    if (l >= c->nctls) {
        fail_idx(c, "unknown label", l);
        return false;
    }
    return true;
}

static void
op_br(cx_t *c, const ins_t *in)
{
    uint32_t fi, n;
    const uint8_t *lt;

    if (!label_ok(c, in->a))
        return;
    fi = c->nctls - 1 - in->a;
    lt = label_types(c, &c->ctls[fi], &n);
    if (!pop_vals(c, lt, n))
        return;
    if (!c->dead) {
        if (fi == 0)
            gen_return(c, n);
        else
            gen_jump(c, fi, n);
    }
    set_unreachable(c);
}

static void
op_return(cx_t *c)
{
    uint32_t n;
    const uint8_t *lt = bt_results(c, &c->ctls[0], &n);

    if (!pop_vals(c, lt, n))
        return;
    if (!c->dead)
        gen_return(c, n);
    set_unreachable(c);
}

static void
op_br_if(cx_t *c, const ins_t *in)
{
    uint32_t fi, n, pc, a = 0, b = 0;
    const uint8_t *lt;
    opd_t ec;
    bool fused;
    vmrt__op_t cop = VMRT__OP_COUNT;
    ctl_t *f;

    if (!label_ok(c, in->a))
        return;
    fi = c->nctls - 1 - in->a;
    f = &c->ctls[fi];
    if (!pop_expect(c, I32, &ec, &pc))
        return;
    lt = label_types(c, f, &n);
    if (!pop_vals(c, lt, n))
        return;
    if (!c->dead) {
        bool direct = fi != 0 && !needs_copies(c, f, n);
        if (direct && f->op == OP_LOOP) {
            uint32_t at;
            fused = take_compare(c, &ec, pc, &cop, &a, &b);
            if (!fused)
                a = src_slot(c, &ec, pc);
            at = emit_back_br(c, fused, cop, a, b, f);
            stop_note(c, at, VMRT__STOP_BACK, c->nvals, lt, n);
        } else {
            fused = take_compare(c, &ec, pc, &cop, &a, &b);
            if (fi == 0)
                prep_return(c, n);
            if (!fused)
                a = src_slot(c, &ec, pc);
            if (direct) {
                emit_cond_br(c, fused, cop, a, b, true, &f->patch);
                f->reached = true;
            } else {
                uint32_t skip = 0;
                emit_cond_br(c, fused, cop, a, b, false, &skip);
                gen_jump(c, fi, n);
                bind_label(c);
                patch_chain(c, skip, c->ncode);
            }
        }
    }
    push_back(c, lt, n);
}

static void
op_br_table(cx_t *c, const ins_t *in)
{
    uint32_t *labels = c->labels, n = in->n, arity, k, pi, idx, at;
    const uint8_t *lt;
    opd_t ei;
    bool to_func = false;

    for (uint32_t j = 0; j <= n; j++) {
        if (!label_ok(c, labels[j]))
            return;
    }
    if (!pop_expect(c, I32, &ei, &pi))
        return;
    (void)label_types(c, &c->ctls[c->nctls - 1 - labels[n]], &arity);
    c->serial++;
    for (uint32_t j = 0; j < n; j++) {
        ctl_t *f = &c->ctls[c->nctls - 1 - labels[j]];
        /* Checking a label twice changes nothing: bound the work. */
        if (f->check_serial == c->serial)
            continue;
        f->check_serial = c->serial;
        lt = label_types(c, f, &k);
        if (k != arity) {
            mismatch(c);
            return;
        }
        if (!pop_vals(c, lt, k))
            return;
        /* The spec pushes back what it popped: Unknown stays Unknown. */
        push_back(c, NULL, k);
    }
    lt = label_types(c, &c->ctls[c->nctls - 1 - labels[n]], &k);
    if (!pop_vals(c, lt, k))
        return;
    if (!c->dead) {
        for (uint32_t j = 0; j <= n; j++)
            to_func |= labels[j] == c->nctls - 1;
        /* Copies made here run on every path, before the dispatch. */
        if (to_func)
            prep_return(c, arity);
        idx = src_slot(c, &ei, pi);
        at = EMIT(c, br_table, idx, n);
        if (at == NOPOS ||
            !RESERVE(c, c->code, c->capcode, (uint64_t)c->ncode + n + 1,
                     MAX_CODE_CELLS))
            goto out;
        memset(&c->code[c->ncode], 0, (size_t)(n + 1) * sizeof(*c->code));
        c->ncode += n + 1;
        c->serial++;
        for (uint32_t j = 0; j <= n; j++) {
            uint32_t fi = c->nctls - 1 - labels[j];
            uint32_t cell = at + 3 + j;
            ctl_t *f = &c->ctls[fi];
            if (fi != 0 && f->op != OP_LOOP && !needs_copies(c, f, arity)) {
                link_cell(c, &f->patch, cell);
                f->reached = true;
            } else if (f->stub_serial == c->serial) {
                c->code[cell] = f->stub_off;
            } else {
                /* A stub: copies, then the jump, the fuel or the return. */
                f->stub_serial = c->serial;
                f->stub_off = c->ncode;
                c->code[cell] = c->ncode;
                gen_jump(c, fi, arity);
                if (c->rc != 0)
                    return;
            }
        }
    }
out:
    set_unreachable(c);
}

/* ------------------------------------------------------------------ */
/* One instruction                                                    */
/* ------------------------------------------------------------------ */

static void
exec_instr(cx_t *c, const ins_t *in)
{
    vmrt_module_t *m = c->m;
    uint32_t op = in->op, at;
    opd_t e;
    uint32_t p;

    if (op >= 0x45 && op <= 0xc4) {
        op_numeric(c, op);
        return;
    }
    if (op >= 0x28 && op <= 0x3e) {
        op_memaccess(c, in);
        return;
    }
    switch (op) {
    case 0x00: /* unreachable */
        at = emit(c, VMRT__OP_unreachable, 0, NULL);
        trap_site(c, at);
        set_unreachable(c);
        break;
    case 0x01: /* nop */
        break;
    case 0x02: case 0x03: case 0x04:
        op_block(c, in);
        break;
    case 0x05:
        op_else(c);
        break;
    case 0x0b:
        op_end(c);
        break;
    case 0x0c:
        op_br(c, in);
        break;
    case 0x0d:
        op_br_if(c, in);
        break;
    case 0x0e:
        op_br_table(c, in);
        break;
    case 0x0f:
        op_return(c);
        break;
    case 0x10: case 0x11:
        op_call(c, in);
        break;
    case 0x1a: /* drop */
        (void)pop_opd(c, &e, &p);
        break;
    case 0x1b: case 0x1c:
        op_select(c, in);
        break;
    case 0x20: case 0x21: case 0x22:
        op_local(c, in);
        break;
    case 0x23: case 0x24:
        op_global(c, in);
        break;
    case 0x25: /* table.get */
        if (!need_table(c, in->a))
            return;
        simple_op(c, VMRT__OP_table_get, i32x3, 1, &in->a, 1,
                  m->tables[in->a].elemtype, true);
        break;
    case 0x26: { /* table.set */
        uint8_t ty[2];
        if (!need_table(c, in->a))
            return;
        ty[0] = I32;
        ty[1] = m->tables[in->a].elemtype;
        simple_op(c, VMRT__OP_table_set, ty, 2, &in->a, 1, 0, true);
        break;
    }
    case 0x3f: /* memory.size */
        if (need_memory(c))
            simple_op(c, VMRT__OP_memory_size, NULL, 0, NULL, 0, I32,
                      false);
        break;
    case 0x40: /* memory.grow */
        if (need_memory(c))
            simple_op(c, VMRT__OP_memory_grow, i32x3, 1, NULL, 0, I32,
                      false);
        break;
    case 0x41:
        push_const(c, I32, in->v);
        break;
    case 0x42:
        push_const(c, I64, in->v);
        break;
    case 0x43:
        push_const(c, F32, in->v);
        break;
    case 0x44:
        push_const(c, F64, in->v);
        break;
    case 0xd0: /* ref.null */
        push_const(c, in->t, 0);
        break;
    case 0xd1: /* ref.is_null */
        if (!pop_opd(c, &e, &p))
            return;
        if (e.type != T_UNK && !is_reftype(e.type)) {
            mismatch(c);
            return;
        }
        if (!c->dead) {
            uint32_t a = src_slot(c, &e, p);
            at = EMIT(c, ref_is_null, own_slot(c, p), a);
            (void)push_temp(c, I32);
            result_at(c, at, p, VMRT__OP_ref_is_null);
        } else {
            (void)push_temp(c, I32);
        }
        break;
    case 0xd2: /* ref.func */
        if (in->a >= m->nfuncs) {
            fail_idx(c, "unknown function", in->a);
            return;
        }
        if (m->func_declared == NULL || !m->func_declared[in->a]) {
            fail(c, VMRT_EINVALID, "undeclared function reference");
            return;
        }
        simple_op(c, VMRT__OP_ref_func, NULL, 0, &in->a, 1, VMRT_FUNCREF,
                  false);
        break;
    default:
        op_prefixed(c, in);
        break;
    }
}

/*
 * skim_instr: structure only, for decoding after a validation error has
 * been found: keeps the control stack so that the end of the body is
 * recognized.
 */
static void
skim_instr(cx_t *c, const ins_t *in)
{
    ctl_t *f;

    switch (in->op) {
    case 0x02: case 0x03: case 0x04:
        (void)push_ctl(c, (uint8_t)in->op, BT_EMPTY, 0, 0, 0);
        break;
    case 0x05:
        f = top_ctl(c);
        if (f->op != OP_IF || f->has_else)
            fail(c, VMRT_EMALFORMED, "END opcode expected");
        f->has_else = true;
        break;
    case 0x0b:
        c->nctls--;
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------ */
/* Bodies                                                             */
/* ------------------------------------------------------------------ */

/* Read the local declarations and set up the local slots. */
static void
decode_locals(cx_t *c)
{
    vmrt__reader_t *rd = &c->rd;
    uint32_t nd, np = c->ft->nparams, i, k, j;
    uint64_t total = 0;

    nd = vmrt__rd_u32(rd);
    /* Each declaration takes at least two bytes. */
    if (rd->err == NULL && nd > vmrt__rd_left(rd) / 2)
        vmrt__rd_fail(rd, "unexpected end");
    if (rd->err == NULL &&
        !RESERVE(c, c->labels, c->caplabels, (uint64_t)nd * 2,
                 MAX_CODE_CELLS))
        return;
    for (i = 0; i < nd && rd->err == NULL && c->rc == 0; i++) {
        c->labels[2 * i] = vmrt__rd_u32(rd);
        c->labels[2 * i + 1] = read_valtype(c);
        total += c->labels[2 * i];
    }
    if (rd->err != NULL) {
        fail_at(c, VMRT_EMALFORMED, rd->err_off, rd->err);
        return;
    }
    if (c->rc != 0)
        return;
    if (total > UINT32_MAX) {
        fail(c, VMRT_EMALFORMED, "too many locals");
        return;
    }
    if (total > VMRT_MAX_LOCALS) {
        fail(c, VMRT_ELIMIT, "too many locals");
        return;
    }
    c->nlocals = np + (uint32_t)total;
    if (!RESERVE(c, c->ltypes, c->capl, c->nlocals, MAX_STACK) ||
        !RESERVE(c, c->pending, c->cappend, c->nlocals, MAX_STACK) ||
        !RESERVE(c, c->lwritten, c->capw, c->nlocals, MAX_STACK))
        return;
    if (np > 0)
        memcpy(c->ltypes, VMRT__PARAMS(c->ft), np);
    if (c->nlocals > 0) {
        memset(c->pending, 0, (size_t)c->nlocals * sizeof(*c->pending));
        memset(c->lwritten, 0, c->nlocals);
    }
    for (i = 0, k = np; i < nd; i++) {
        for (j = 0; j < c->labels[2 * i]; j++)
            c->ltypes[k++] = (uint8_t)c->labels[2 * i + 1];
    }
}

static void
begin_func(cx_t *c, uint32_t i)
{
    vmrt_module_t *m = c->m;
    const vmrt__body_t *body = &m->bodies[i];
    uint32_t ti;

    c->func = m->nfunc_imports + i;
    ti = m->func_types[c->func];
    c->ft = &m->types[ti];
    vmrt__rd_init(&c->rd, m->bytes, m->bytes + body->body_off,
                  m->bytes + body->body_off + body->body_len);
    c->op_off = body->body_off;
    c->nvals = c->nctls = c->ncode = c->ninstr = c->nsites = 0;
    c->nstops = c->nmarks = 0;
    c->lastmark = NOPOS;
    c->nclean = c->maxh = 0;
    c->nlocals = 0;
    c->dead = false;
    c->seen_loop = false;
    c->last_end = NOPOS;
    c->mov_at = NOPOS;
    decode_locals(c);
    if (c->rc == 0)
        (void)push_ctl(c, OP_FUNC, BT_TYPE, 0, ti, 0);
}

/*
 * After exec_instr() failed on `in`, redo its effect on the control stack
 * so that skimming the rest of the body sees the right structure.
 */
static void
fix_structure(cx_t *c, const ins_t *in, uint32_t nctls_before)
{
    if ((in->op == OP_BLOCK || in->op == OP_LOOP || in->op == OP_IF) &&
        c->nctls == nctls_before)
        (void)push_ctl(c, (uint8_t)in->op, BT_EMPTY, 0, 0, 0);
    else if (in->op == 0x0b && c->nctls == nctls_before)
        c->nctls--;
    else if (in->op == 0x05 && c->nctls > 0)
        top_ctl(c)->has_else = true;
}

/*
 * run_body: decode (and unless skimming, validate and translate)
 * instructions up to the end of the body.
 */
static void
run_body(cx_t *c)
{
    const vmrt_module_t *m = c->m;
    ins_t in;

    while (c->rc == 0 && c->nctls > 0) {
        if (c->rd.p >= c->rd.end) {
            c->op_off = vmrt__rd_off(&c->rd);
            if ((size_t)(c->rd.end - m->bytes) >= m->len)
                fail(c, VMRT_EMALFORMED,
                     "unexpected end of section or function");
            else
                fail(c, VMRT_EMALFORMED, "END opcode expected");
            return;
        }
        c->op_off = vmrt__rd_off(&c->rd);
        decode_instr(c, &in);
        if (c->rc != 0)
            return;
        if (c->skim) {
            skim_instr(c, &in);
        } else {
            uint32_t before = c->nctls;
            exec_instr(c, &in);
            if (c->rc != 0) {
                fix_structure(c, &in, before);
                return;
            }
        }
    }
    if (c->rc == 0 && c->rd.p != c->rd.end) {
        c->op_off = vmrt__rd_off(&c->rd);
        fail(c, VMRT_EMALFORMED, "section size mismatch");
    }
}

/*
 * finish_stops: copy the stop points into fc, turning each stop's list of
 * funcref temporaries, plus the funcref locals, into a bitmap of
 * frame_slots bits.  A stop's refmap is the index of its bitmap's first
 * word in fc->refbits; consecutive stops with equal bitmaps share one.
 * Return: 0, VMRT_ELIMIT (bitmaps beyond MAX_MARKS words), VMRT_ENOMEM.
 */
static int
finish_stops(cx_t *c, vmrt__func_code_t *fc)
{
    uint32_t words = (fc->frame_slots + 31) / 32, last = NOPOS, cap = 0;
    uint32_t *locals, *map;
    bool any_local = false;
    int rc = 0;

    fc->nstops = 0;
    fc->nrefbits = 0;
    fc->stops = vmrt__malloc((size_t)c->nstops * sizeof(*fc->stops));
    locals = vmrt__calloc((size_t)words * 2, sizeof(*locals));
    if (fc->stops == NULL || locals == NULL) {
        rc = VMRT_ENOMEM;
        goto out;
    }
    map = locals + words;
    for (uint32_t i = 0; i < c->nlocals; i++) {
        if (c->ltypes[i] == VMRT_FUNCREF) {
            locals[i / 32] |= (uint32_t)1 << (i % 32);
            any_local = true;
        }
    }
    fc->nstops = c->nstops;
    for (uint32_t i = 0; i < c->nstops; i++) {
        vmrt__stop_t *s = &fc->stops[i];
        uint32_t m = c->stops[i].refmap;

        *s = c->stops[i];
        if (m == VMRT__NO_REFS && !any_local)
            continue;
        memcpy(map, locals, (size_t)words * sizeof(*map));
        for (uint32_t k = 0; m != VMRT__NO_REFS && k < c->marks[m]; k++) {
            uint32_t slot = c->marks[m + 1 + k];
            map[slot / 32] |= (uint32_t)1 << (slot % 32);
        }
        if (last != NOPOS && memcmp(map, &fc->refbits[last],
                                    (size_t)words * sizeof(*map)) == 0) {
            s->refmap = last;
            continue;
        }
        if ((uint64_t)fc->nrefbits + words > MAX_MARKS) {
            fail(c, VMRT_ELIMIT, "too many live funcrefs at calls");
            rc = VMRT_ELIMIT;
            goto out;
        }
        if (fc->nrefbits + words > cap) {
            uint32_t ncap = cap * 2 > fc->nrefbits + words
                                ? cap * 2
                                : fc->nrefbits + words;
            uint32_t *p = vmrt__realloc(fc->refbits,
                                        (size_t)ncap * sizeof(*p));
            if (p == NULL) {
                rc = VMRT_ENOMEM;
                goto out;
            }
            fc->refbits = p;
            cap = ncap;
        }
        memcpy(&fc->refbits[fc->nrefbits], map,
               (size_t)words * sizeof(*map));
        s->refmap = last = fc->nrefbits;
        fc->nrefbits += words;
    }
out:
    vmrt__free(locals);
    return rc;
}

static int
finish_func(cx_t *c, vmrt__func_code_t *fc)
{
    uint32_t slots = c->nlocals + c->maxh;

    if (slots < c->ft->nresults)
        slots = c->ft->nresults;
    fc->code = vmrt__malloc((size_t)c->ncode * sizeof(*fc->code));
    fc->sites = vmrt__malloc((size_t)c->nsites * 2 * sizeof(*fc->sites));
    if (fc->code == NULL || fc->sites == NULL)
        return VMRT_ENOMEM;
    if (c->ncode > 0)
        memcpy(fc->code, c->code, (size_t)c->ncode * sizeof(*fc->code));
    if (c->nsites > 0)
        memcpy(fc->sites, c->sites,
               (size_t)c->nsites * 2 * sizeof(*fc->sites));
    fc->ncode = c->ncode;
    fc->nsites = c->nsites;
    fc->nparams = c->ft->nparams;
    fc->nresults = c->ft->nresults;
    fc->nlocals = c->nlocals;
    fc->frame_slots = slots;
    fc->call_cost = c->ninstr < 1 ? 1
                    : c->ninstr > MAX_CALL_COST ? MAX_CALL_COST
                                                : c->ninstr;
    fc->type = c->ft;
    return finish_stops(c, fc);
}

/*
 * Having found a body invalid, decode the rest of it and every later
 * body: a malformed encoding anywhere takes precedence, as the spec
 * decodes the whole module before validating it.
 * Return: true if a malformed error replaced the invalid one.
 */
static bool
skim_rest(cx_t *c, uint32_t i, uint32_t ndef)
{
    c->rc = 0;
    c->skim = true;
    run_body(c);
    for (i = i + 1; c->rc == 0 && i < ndef; i++) {
        begin_func(c, i);
        if (c->rc == 0)
            run_body(c);
    }
    c->skim = false;
    return c->rc == VMRT_EMALFORMED;
}

int
vmrt__module_compile(vmrt_module_t *m, char *err, size_t errlen)
{
    cx_t c;
    uint32_t ndef, i;
    int rc = 0;

    memset(&c, 0, sizeof(c));
    c.m = m;
    c.last_end = NOPOS;
    ndef = m->nfuncs - m->nfunc_imports;
    if ((m->code = vmrt__calloc(ndef, sizeof(*m->code))) == NULL)
        return VMRT_ENOMEM;
    for (i = 0; i < ndef; i++) {
        begin_func(&c, i);
        if (c.rc == 0)
            run_body(&c);
        if (c.rc == 0)
            c.rc = finish_func(&c, &m->code[i]);
        if ((rc = c.rc) != 0)
            break;
    }
    if (rc == VMRT_EINVALID) {
        cx_t saved = c;
        if (!skim_rest(&c, i, ndef)) {
            c.rc = saved.rc;
            c.func = saved.func;
            c.err_off = saved.err_off;
            memcpy(c.reason, saved.reason, sizeof(c.reason));
        }
        rc = c.rc;
    }
    if (rc != 0 && err != NULL && errlen > 0)
        snprintf(err, errlen, "func %u @0x%zx: %s", (unsigned)c.func,
                 c.err_off, c.reason);
    vmrt__free(c.ltypes);
    vmrt__free(c.pending);
    vmrt__free(c.lwritten);
    vmrt__free(c.vals);
    vmrt__free(c.ctls);
    vmrt__free(c.buf);
    vmrt__free(c.labels);
    vmrt__free(c.code);
    vmrt__free(c.sites);
    vmrt__free(c.stops);
    vmrt__free(c.marks);
    if (rc != 0)
        vmrt__module_release_code(m);
    return rc;
}

void
vmrt__module_release_code(vmrt_module_t *m)
{
    if (m->code == NULL)
        return;
    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
        vmrt__free(m->code[i].code);
        vmrt__free(m->code[i].sites);
        vmrt__free(m->code[i].stops);
        vmrt__free(m->code[i].refbits);
    }
    vmrt__free(m->code);
    m->code = NULL;
}
