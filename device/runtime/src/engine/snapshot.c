/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Snapshots: an instance's execution state as one portable byte string
 * (docs/snapshot-format.md), and back.
 *
 * Save writes the frames as they are (they hold no pointers, see exec.h)
 * and the value stack slot by slot; the only host pointers in the state
 * are funcrefs, which become function indices.  Which stack slots hold a
 * funcref is known from the stop points the translator recorded for the
 * offset where each frame rests (code.h).
 *
 * Restore trusts nothing in the snapshot, checksum or not: it checks every
 * section completely, allocating what the new state needs, then lets the
 * host hooks check theirs, and only then changes the instance, by steps
 * that cannot fail.  A frame is accepted only if it could have been
 * produced by a run of this module: it rests at a recorded stop point of
 * the right kind and its base is where its caller's call instruction puts
 * it, so the interpreter never sees a state it could not reach itself.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exec.h"
#include "hash.h"
#include "reader.h"

#define SNAP_VERSION 2u
#define HDR_LEN 52u  /* magic, version, flags, SHA-256, code print */
#define SEC_HDR 12u  /* tag u32, length u64 */
#define SUM_LEN 8u   /* XXH64 of everything before it */
#define CHUNK 4096u  /* memory is stored in runs of non-zero chunks */
#define CHUNKS_PER_PAGE (VMRT_PAGE_SIZE / CHUNK)

static const uint8_t snap_magic[4] = { 'V', 'M', 'S', 'N' };

#define TAG_EXEC VMRT_SNAP_TAG('E', 'X', 'E', 'C')
#define TAG_MEMS VMRT_SNAP_TAG('M', 'E', 'M', 'S')
#define TAG_GLOB VMRT_SNAP_TAG('G', 'L', 'O', 'B')
#define TAG_TABL VMRT_SNAP_TAG('T', 'A', 'B', 'L')
#define TAG_SEGS VMRT_SNAP_TAG('S', 'E', 'G', 'S')
#define TAG_THRD VMRT_SNAP_TAG('T', 'H', 'R', 'D')

/* Execution states as the format numbers them (not vmrt__exec_state_t). */
enum { S_IDLE = 0, S_PENDING = 1, S_DONE = 2, S_TRAP = 3, S_EXIT = 4 };

/* The entry trampoline: `call F 0` is 3 cells, then `done`. */
#define TRAMP_RET 3u

struct vmrt_snap_writer {
    uint8_t *buf;
    size_t len;
    size_t cap;
    int rc; /* sticky: the first error of a put */
};

/* ------------------------------------------------------------------ */
/* Writing                                                            */
/* ------------------------------------------------------------------ */

static int
w_reserve(vmrt_snap_writer_t *w, size_t n)
{
    size_t ncap;
    uint8_t *p;

    if (w->rc != 0)
        return w->rc;
    if (n <= w->cap - w->len)
        return 0;
    if (n > SIZE_MAX / 2 - w->len) {
        w->rc = VMRT_ENOMEM;
        return w->rc;
    }
    ncap = w->cap * 2;
    if (ncap < w->len + n)
        ncap = w->len + n;
    if ((p = vmrt__realloc(w->buf, ncap)) == NULL) {
        w->rc = VMRT_ENOMEM;
        return w->rc;
    }
    w->buf = p;
    w->cap = ncap;
    return 0;
}

int
vmrt_snap_write(vmrt_snap_writer_t *w, const void *data, size_t len)
{
    if (w == NULL || (data == NULL && len > 0))
        return VMRT_EINVAL;
    if (w_reserve(w, len) != 0)
        return w->rc;
    if (len > 0)
        memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

static void
put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
w_le(vmrt_snap_writer_t *w, uint64_t v, unsigned n)
{
    if (w_reserve(w, n) != 0)
        return;
    put_le(w->buf + w->len, v, n);
    w->len += n;
}

#define W8(w, v) w_le((w), (v), 1)
#define W32(w, v) w_le((w), (v), 4)
#define W64(w, v) w_le((w), (v), 8)

/* Start a section; returns where its length goes (patched by sec_end). */
static size_t
sec_begin(vmrt_snap_writer_t *w, uint32_t tag)
{
    W32(w, tag);
    W64(w, 0);
    return w->len;
}

static void
sec_end(vmrt_snap_writer_t *w, size_t body)
{
    if (w->rc == 0)
        put_le(w->buf + body - 8, w->len - body, 8);
}

/* ------------------------------------------------------------------ */
/* Shared helpers                                                     */
/* ------------------------------------------------------------------ */

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/*
 * find_stop: the stop point of `fc` at code offset `off` whose kind is in
 * the bit set `kinds` (1 << VMRT__STOP_*).
 * Return: the stop, or NULL if there is none.
 */
static const vmrt__stop_t *
find_stop(const vmrt__func_code_t *fc, uint32_t off, unsigned kinds)
{
    uint32_t lo = 0, hi = fc->nstops;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;

        if (fc->stops[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < fc->nstops && fc->stops[lo].off == off; lo++) {
        if ((kinds >> fc->stops[lo].kind) & 1u)
            return &fc->stops[lo];
    }
    return NULL;
}

/* The refmap bitmap of a stop, or NULL if it marks no slot. */
static const uint32_t *
stop_refs(const vmrt__func_code_t *fc, const vmrt__stop_t *s)
{
    uint64_t words = ((uint64_t)fc->frame_slots + 31) / 32;

    if (s->refmap == VMRT__NO_REFS || s->refmap > fc->nrefbits ||
        words > fc->nrefbits - s->refmap)
        return NULL;
    return &fc->refbits[s->refmap];
}

static uint32_t
tramp_slots(const vmrt__functype_t *ft)
{
    return ft->nparams > ft->nresults ? ft->nparams : ft->nresults;
}

/*
 * The engine does not model state that reaches into another wasm
 * instance: the linker gives memories, tables and globals only from one.
 */
static bool
has_shared_imports(const vmrt_module_t *m)
{
    return m->nmem_imports > 0 || m->ntable_imports > 0 ||
           m->nglobal_imports > 0;
}

/*
 * ref_index: the snapshot form of funcref `ref` of `inst`: 0 for null,
 * else 1 + its index in the instance's function space.
 * Return: 0, or VMRT_EUNSUPPORTED for a function this instance cannot
 * name (one of another instance that it does not import).
 */
static int
ref_index(const vmrt_instance_t *inst, uint64_t ref, uint32_t *out)
{
    const vmrt_module_t *m = inst->mod;
    uint32_t ndef = m->nfuncs - m->nfunc_imports;
    uintptr_t p = (uintptr_t)ref, base = (uintptr_t)inst->own_funcs;

    *out = 0;
    if (ref == 0)
        return 0;
    if (p >= base && p - base < (uintptr_t)ndef * sizeof(vmrt__funcinst_t) &&
        (p - base) % sizeof(vmrt__funcinst_t) == 0) {
        uint32_t i = m->nfunc_imports +
                     (uint32_t)((p - base) / sizeof(vmrt__funcinst_t));
        if ((uintptr_t)inst->funcs[i] == p) {
            *out = i + 1;
            return 0;
        }
    }
    for (uint32_t i = 0; i < m->nfunc_imports; i++) {
        if ((uintptr_t)inst->funcs[i] == p) {
            *out = i + 1;
            return 0;
        }
    }
    return VMRT_EUNSUPPORTED;
}

static uint64_t
index_ref(const vmrt_instance_t *inst, uint64_t v)
{
    return v == 0 ? 0 : (uint64_t)(uintptr_t)inst->funcs[v - 1];
}

/*
 * code_print: a fingerprint of how this engine translated the module: the
 * shape of every function's code and its stop points.  Frames store code
 * offsets, so a snapshot only restores where the module translates to the
 * same offsets; an engine whose translator differs says so up front.
 */
static uint64_t
code_print(const vmrt_module_t *m)
{
    uint64_t h = SNAP_VERSION;

    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
        const vmrt__func_code_t *fc = &m->code[i];
        uint32_t rec[7] = { fc->ncode, fc->nparams, fc->nresults,
                            fc->nlocals, fc->frame_slots, fc->nstops,
                            fc->nrefbits };

        h = vmrt__xxh64(rec, sizeof(rec), h);
        if (fc->nstops > 0)
            h = vmrt__xxh64(fc->stops, fc->nstops * sizeof(*fc->stops), h);
        if (fc->nrefbits > 0)
            h = vmrt__xxh64(fc->refbits,
                            fc->nrefbits * sizeof(*fc->refbits), h);
    }
    return h;
}

/* Is the chunk of CHUNK bytes at p all zero? */
static bool
chunk_zero(const uint8_t *p)
{
    uint64_t acc = 0, v;

    for (unsigned i = 0; i < CHUNK; i += 8) {
        memcpy(&v, p + i, 8);
        acc |= v;
    }
    return acc == 0;
}

/* ------------------------------------------------------------------ */
/* Save                                                               */
/* ------------------------------------------------------------------ */

/*
 * Write the body of an EXEC or THRD section for the thread `ex`: state,
 * entry, trap, frames, value stack.  All frames run in `inst` (the caller
 * checked).
 * Return: 0, VMRT_EUNSUPPORTED (a funcref this instance cannot name, or a
 * frame at no stop point), VMRT_ENOMEM.
 */
static int
save_exec(vmrt_instance_t *inst, const vmrt__exec_t *ex,
          vmrt_snap_writer_t *w)
{
    const vmrt_module_t *m = inst->mod;
    uint32_t state, nframes = 0, nslots = 0, i;
    const vmrt__functype_t *et = NULL;
    size_t slots_at;

    switch (ex->state) {
    case VMRT__EXEC_PENDING:
        state = S_PENDING;
        break;
    case VMRT__EXEC_DONE:
        state = S_DONE;
        break;
    case VMRT__EXEC_TRAP:
        state = S_TRAP;
        break;
    case VMRT__EXEC_EXIT:
        state = S_EXIT;
        break;
    default:
        state = S_IDLE;
        break;
    }
    if (state == S_PENDING || state == S_DONE)
        et = ex->entry_type;
    if (state == S_PENDING) {
        const vmrt__frame_t *top = &ex->frames[ex->top];

        nframes = ex->top + 1;
        nslots = top->fp + (top->func == VMRT__FRAME_ENTRY
                                ? tramp_slots(et)
                                : m->code[top->func - m->nfunc_imports]
                                      .frame_slots);
    } else if (state == S_DONE) {
        nslots = et->nresults;
    }

    W8(w, state);
    W8(w, 0);
    W8(w, 0);
    W8(w, 0);
    W32(w, et != NULL ? ex->entry_func : 0);
    W32(w, state == S_TRAP ? (uint32_t)ex->trap.code : 0);
    W32(w, state == S_TRAP ? ex->trap.func_index : 0);
    W32(w, state == S_TRAP ? ex->trap.offset : 0);
    W32(w, nframes);
    W32(w, nslots);
    for (i = 0; i < nframes; i++) {
        W32(w, ex->frames[i].func);
        W32(w, ex->frames[i].ip);
        W32(w, ex->frames[i].fp);
    }
    if (w_reserve(w, (size_t)nslots * 8) != 0)
        return w->rc;
    slots_at = w->len;
    for (i = 0; i < nslots; i++)
        put_le(w->buf + slots_at + 8 * (size_t)i, ex->stack[i], 8);
    w->len += (size_t)nslots * 8;

    /* Funcref slots become function indices. */
    if (state == S_DONE) {
        for (i = 0; i < nslots; i++) {
            uint32_t x;
            if (VMRT__RESULTS(et)[i] != VMRT_FUNCREF)
                continue;
            if (ref_index(inst, ex->stack[i], &x) != 0)
                return VMRT_EUNSUPPORTED;
            put_le(w->buf + slots_at + 8 * (size_t)i, x, 8);
        }
    }
    for (i = 0; i < nframes; i++) {
        const vmrt__frame_t *f = &ex->frames[i];
        bool is_top = i + 1 == nframes;

        if (f->func == VMRT__FRAME_ENTRY) {
            /* At its call the trampoline holds the entry's arguments. */
            if (!is_top)
                continue;
            for (uint32_t k = 0; k < et->nparams; k++) {
                uint32_t x;
                if (VMRT__PARAMS(et)[k] != VMRT_FUNCREF)
                    continue;
                if (ref_index(inst, ex->stack[k], &x) != 0)
                    return VMRT_EUNSUPPORTED;
                put_le(w->buf + slots_at + 8 * (size_t)k, x, 8);
            }
            continue;
        }
        const vmrt__func_code_t *fc = &m->code[f->func - m->nfunc_imports];
        const vmrt__stop_t *s = find_stop(
            fc, f->ip,
            is_top ? (1u << VMRT__STOP_CALL | 1u << VMRT__STOP_BACK)
                   : 1u << VMRT__STOP_RET);
        const uint32_t *map;

        /* A frame resting elsewhere means the translator missed a stop. */
        if (s == NULL)
            return VMRT_EUNSUPPORTED;
        if ((map = stop_refs(fc, s)) == NULL)
            continue;
        for (uint32_t k = 0; k < fc->frame_slots; k++) {
            uint32_t x;
            if (!((map[k / 32] >> (k % 32)) & 1u))
                continue;
            if ((uint64_t)f->fp + k >= nslots ||
                ref_index(inst, ex->stack[f->fp + k], &x) != 0)
                return VMRT_EUNSUPPORTED;
            put_le(w->buf + slots_at + 8 * ((size_t)f->fp + k), x, 8);
        }
    }
    return w->rc;
}

/*
 * Write EXEC (the main thread) and one THRD section per other thread, in
 * increasing id order.
 * Return: as save_exec.
 */
static int
save_threads(vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    size_t body = sec_begin(w, TAG_EXEC);
    int rc;

    if ((rc = save_exec(inst, inst->exec, w)) != 0)
        return rc;
    sec_end(w, body);
    for (uint32_t id = 1; id < inst->cap_threads; id++) {
        const vmrt_thread_t *th = inst->threads[id];

        if (th == NULL)
            continue;
        body = sec_begin(w, TAG_THRD);
        W32(w, id);
        if ((rc = save_exec(inst, &th->ex, w)) != 0)
            return rc;
        sec_end(w, body);
    }
    return w->rc;
}

static void
save_memory(vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    const vmrt__memory_t *mem = inst->mem;
    size_t body = sec_begin(w, TAG_MEMS), nat;
    uint32_t nchunks, i, nruns = 0;

    W32(w, mem != NULL ? 1 : 0);
    if (mem == NULL) {
        sec_end(w, body);
        return;
    }
    W32(w, mem->pages);
    nat = w->len;
    W32(w, 0);
    nchunks = mem->pages * CHUNKS_PER_PAGE;
    for (i = 0; i < nchunks && w->rc == 0;) {
        uint32_t first;

        if (chunk_zero(mem->data + (size_t)i * CHUNK)) {
            i++;
            continue;
        }
        first = i;
        while (i < nchunks && !chunk_zero(mem->data + (size_t)i * CHUNK))
            i++;
        W32(w, first);
        W32(w, i - first);
        (void)vmrt_snap_write(w, mem->data + (size_t)first * CHUNK,
                              (size_t)(i - first) * CHUNK);
        nruns++;
    }
    if (w->rc == 0)
        put_le(w->buf + nat, nruns, 4);
    sec_end(w, body);
}

static int
save_globals(vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    const vmrt_module_t *m = inst->mod;
    size_t body = sec_begin(w, TAG_GLOB);

    W32(w, m->nglobals);
    for (uint32_t i = 0; i < m->nglobals; i++) {
        const vmrt__global_t *g = inst->globals[i];
        uint64_t v = g->val;

        if (g->type == VMRT_FUNCREF) {
            uint32_t x;
            if (ref_index(inst, v, &x) != 0)
                return VMRT_EUNSUPPORTED;
            v = x;
        }
        W8(w, g->type);
        W8(w, g->mutable_ ? 1 : 0);
        W64(w, v);
    }
    sec_end(w, body);
    return w->rc;
}

static int
save_tables(vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    const vmrt_module_t *m = inst->mod;
    size_t body = sec_begin(w, TAG_TABL);

    W32(w, m->ntables);
    for (uint32_t i = 0; i < m->ntables; i++) {
        const vmrt__table_t *t = inst->tables[i];
        bool fref = t->elemtype == VMRT_FUNCREF;

        W8(w, t->elemtype);
        W32(w, t->size);
        if (w_reserve(w, (size_t)t->size * (fref ? 4 : 8)) != 0)
            return w->rc;
        for (uint32_t k = 0; k < t->size; k++) {
            uint32_t x;
            if (!fref) {
                put_le(w->buf + w->len, t->elems[k], 8);
                w->len += 8;
                continue;
            }
            if (ref_index(inst, t->elems[k], &x) != 0)
                return VMRT_EUNSUPPORTED;
            put_le(w->buf + w->len, x, 4);
            w->len += 4;
        }
    }
    sec_end(w, body);
    return w->rc;
}

static void
save_segments(vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    const vmrt_module_t *m = inst->mod;
    size_t body = sec_begin(w, TAG_SEGS);

    W32(w, m->nelems);
    for (uint32_t i = 0; i < m->nelems; i++)
        W8(w, inst->elemsegs[i].n == 0 ? 1 : 0);
    W32(w, m->ndatas);
    for (uint32_t i = 0; i < m->ndatas; i++)
        W8(w, inst->data_dropped[i] ? 1 : 0);
    sec_end(w, body);
}

/* Bytes the engine sections will take, so that one allocation suffices. */
static size_t
save_estimate(const vmrt_instance_t *inst)
{
    const vmrt_module_t *m = inst->mod;
    size_t n = HDR_LEN + SUM_LEN + 5 * SEC_HDR + 64;

    if (inst->mem != NULL) {
        uint32_t nchunks = inst->mem->pages * CHUNKS_PER_PAGE, runs = 0;
        bool in_run = false;

        for (uint32_t i = 0; i < nchunks; i++) {
            bool z = chunk_zero(inst->mem->data + (size_t)i * CHUNK);
            if (!z)
                n += CHUNK;
            runs += !z && !in_run;
            in_run = !z;
        }
        n += (size_t)runs * 8;
    }
    n += (size_t)m->nglobals * 10 + m->nelems + m->ndatas;
    for (uint32_t i = 0; i < m->ntables; i++)
        n += 5 + (size_t)inst->tables[i]->size * 8;
    for (uint32_t id = 0; id < inst->cap_threads; id++) {
        const vmrt__exec_t *ex;

        if (inst->threads[id] == NULL)
            continue;
        ex = &inst->threads[id]->ex;
        n += SEC_HDR + 4 + 28;
        if (ex->state == VMRT__EXEC_PENDING) {
            const vmrt__frame_t *top = &ex->frames[ex->top];
            uint32_t slots = top->func == VMRT__FRAME_ENTRY
                                 ? tramp_slots(ex->entry_type)
                                 : m->code[top->func - m->nfunc_imports]
                                       .frame_slots;
            n += (size_t)(ex->top + 1) * 12 +
                 ((size_t)top->fp + slots) * 8;
        } else if (ex->state == VMRT__EXEC_DONE) {
            n += (size_t)ex->entry_type->nresults * 8;
        }
    }
    return n;
}

int
vmrt_snapshot_save(vmrt_instance_t *inst, const vmrt_snap_hook_t *hooks,
                   uint32_t nhooks, uint8_t **out, size_t *len)
{
    vmrt_snap_writer_t w;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (len != NULL)
        *len = 0;
    if (inst == NULL || out == NULL || len == NULL ||
        (hooks == NULL && nhooks > 0))
        return VMRT_EINVAL;
    if (inst->exec == NULL || inst->cur != NULL ||
        inst->exec->state == VMRT__EXEC_RUNNING)
        return VMRT_ESTATE;
    if (has_shared_imports(inst->mod))
        return VMRT_EUNSUPPORTED;
    /* Frames in another instance index another module's code. */
    for (uint32_t id = 0; id < inst->cap_threads; id++) {
        const vmrt__exec_t *ex;

        if (inst->threads[id] == NULL)
            continue;
        ex = &inst->threads[id]->ex;
        if (ex->state == VMRT__EXEC_RUNNING)
            return VMRT_ESTATE;
        if (ex->state != VMRT__EXEC_PENDING)
            continue;
        for (uint32_t i = 0; i <= ex->top; i++) {
            if (ex->frames[i].inst != 0)
                return VMRT_EUNSUPPORTED;
        }
    }
    memset(&w, 0, sizeof(w));
    if (w_reserve(&w, save_estimate(inst)) != 0)
        return w.rc;

    (void)vmrt_snap_write(&w, snap_magic, sizeof(snap_magic));
    W32(&w, SNAP_VERSION);
    W32(&w, 0); /* flags, none defined */
    (void)vmrt_snap_write(&w, inst->mod->sha256, 32);
    W64(&w, code_print(inst->mod));
    if ((rc = save_threads(inst, &w)) != 0)
        goto fail;
    save_memory(inst, &w);
    if ((rc = save_globals(inst, &w)) != 0 ||
        (rc = save_tables(inst, &w)) != 0)
        goto fail;
    save_segments(inst, &w);
    for (uint32_t i = 0; i < nhooks && w.rc == 0; i++) {
        size_t body = sec_begin(&w, hooks[i].tag);

        if (w.rc != 0)
            break;
        if (hooks[i].save != NULL &&
            (rc = hooks[i].save(hooks[i].ctx, inst, &w)) != 0)
            goto fail;
        sec_end(&w, body);
    }
    if ((rc = w.rc) != 0)
        goto fail;
    W64(&w, vmrt__xxh64(w.buf, w.len, 0));
    if ((rc = w.rc) != 0)
        goto fail;
    *out = w.buf;
    *len = w.len;
    return 0;
fail:
    vmrt__free(w.buf);
    return rc != 0 ? rc : VMRT_ENOMEM;
}

void
vmrt_snapshot_free(uint8_t *buf)
{
    vmrt__free(buf);
}

/* ------------------------------------------------------------------ */
/* Restore: checking                                                  */
/* ------------------------------------------------------------------ */

/* A section's bytes, found by the section walk. */
typedef struct {
    const uint8_t *p;
    size_t len;
    bool seen;
} sec_t;

/* One thread's EXEC or THRD section, checked. */
typedef struct {
    sec_t sec;             /* THRD: the body after the id */
    uint32_t id;
    uint32_t state, entry, nframes, nslots;
    vmrt_trap_info_t trap;
    const uint8_t *frames; /* nframes * 12 bytes */
    const uint8_t *slots;  /* nslots * 8 bytes */
    vmrt__exec_t *ex;      /* where it goes, once prepared */
} xplan_t;

/* Everything restore checked and prepared before changing the instance. */
typedef struct {
    sec_t mems, glob, tabl, segs;

    /* EXEC, then THRD sections in snapshot order (increasing ids). */
    xplan_t main;
    xplan_t *thr;
    uint32_t nthr, cap_thr;

    /* MEMS: a new zeroed buffer that the runs are copied into. */
    bool has_mem;
    uint32_t pages;
    uint8_t *mem_data;
    const uint8_t *runs;
    uint32_t nruns;

    /* TABL: a new elems array per table (NULL for size 0). */
    uint64_t **elems;
    uint32_t *sizes;
} plan_t;

typedef struct {
    const vmrt_instance_t *inst;
    char *err;
    size_t errlen;
} ck_t;

#define CORRUPT(ck, ...)                                                     \
    (set_err((ck)->err, (ck)->errlen, __VA_ARGS__), VMRT_ECORRUPT)
#define LIMIT(ck, ...)                                                       \
    (set_err((ck)->err, (ck)->errlen, __VA_ARGS__), VMRT_ELIMIT)

static uint32_t
le32_at(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
le64_at(const uint8_t *p)
{
    return le32_at(p) | (uint64_t)le32_at(p + 4) << 32;
}

static void
rd_sec(vmrt__reader_t *rd, const sec_t *s)
{
    vmrt__rd_init(rd, s->p, s->p, s->p + s->len);
}

/* Every byte of a section read, none missing? */
static int
rd_done(ck_t *ck, const vmrt__reader_t *rd, const char *what)
{
    if (rd->err != NULL)
        return CORRUPT(ck, "%s section truncated", what);
    if (rd->p != rd->end)
        return CORRUPT(ck, "%s section has %zu trailing bytes", what,
                       vmrt__rd_left(rd));
    return 0;
}

/*
 * check_frame_call: for caller frame `cf` (resting at a RET stop) and
 * callee frame `f`, check that cf's call instruction made f.
 * Return: 0 or VMRT_ECORRUPT.
 */
static int
check_call(ck_t *ck, const xplan_t *pl, const vmrt__frame_t *cf,
           const vmrt__frame_t *f, uint32_t k)
{
    const vmrt_module_t *m = ck->inst->mod;
    const vmrt__func_code_t *cc, *fc = &m->code[f->func - m->nfunc_imports];
    uint32_t r = cf->ip, b;

    if (cf->func == VMRT__FRAME_ENTRY) {
        /* `call entry 0` */
        if (f->func != pl->entry || f->fp != cf->fp)
            return CORRUPT(ck, "frame %u: not called by the entry", k);
        return 0;
    }
    cc = &m->code[cf->func - m->nfunc_imports];
    if (r >= 3 && find_stop(cc, r - 3, 1u << VMRT__STOP_CALL) != NULL &&
        cc->code[r - 3] == vmrt__op_cell(VMRT__OP_call)) {
        if (cc->code[r - 2] != f->func)
            return CORRUPT(ck, "frame %u: func %u, but the call is to %u", k,
                           (unsigned)f->func, (unsigned)cc->code[r - 2]);
        b = cc->code[r - 1];
    } else if (r >= 5 &&
               find_stop(cc, r - 5, 1u << VMRT__STOP_CALL) != NULL &&
               cc->code[r - 5] == vmrt__op_cell(VMRT__OP_call_indirect)) {
        uint32_t y = cc->code[r - 4];
        if (y >= m->ntypes || !vmrt__functype_eq(&m->types[y], fc->type))
            return CORRUPT(ck, "frame %u: type differs from call_indirect",
                           k);
        b = cc->code[r - 1];
    } else {
        return CORRUPT(ck, "frame %u: caller ip %u follows no call", k,
                       (unsigned)r);
    }
    if ((uint64_t)cf->fp + b != f->fp)
        return CORRUPT(ck, "frame %u: fp %u, but the call puts it at %llu",
                       k, (unsigned)f->fp,
                       (unsigned long long)((uint64_t)cf->fp + b));
    return 0;
}

/* Check that slot value v may be a funcref of this instance. */
static int
check_ref(ck_t *ck, uint64_t v, const char *what, uint32_t at)
{
    if (v > ck->inst->mod->nfuncs)
        return CORRUPT(ck, "%s %u: funcref %llu out of range", what,
                       (unsigned)at, (unsigned long long)v);
    return 0;
}

/*
 * Apply `fn` to every funcref slot of the PENDING stack in `pl`: the
 * slots the stop point of each frame marks.  Frames must be checked.
 */
typedef int (*slot_fn_t)(ck_t *ck, const xplan_t *pl, uint64_t *stack,
                         uint32_t slot);

static int
each_ref_slot(ck_t *ck, const xplan_t *pl, uint64_t *stack, slot_fn_t fn)
{
    const vmrt_module_t *m = ck->inst->mod;
    const vmrt__functype_t *et = ck->inst->funcs[pl->entry]->type;
    int rc;

    for (uint32_t k = 0; k < pl->nframes; k++) {
        const uint8_t *q = pl->frames + 12 * (size_t)k;
        uint32_t func = le32_at(q), ip = le32_at(q + 4), fp = le32_at(q + 8);
        bool is_top = k + 1 == pl->nframes;

        if (func == VMRT__FRAME_ENTRY) {
            if (!is_top)
                continue;
            for (uint32_t i = 0; i < et->nparams; i++) {
                if (VMRT__PARAMS(et)[i] == VMRT_FUNCREF &&
                    (rc = fn(ck, pl, stack, i)) != 0)
                    return rc;
            }
            continue;
        }
        const vmrt__func_code_t *fc = &m->code[func - m->nfunc_imports];
        const vmrt__stop_t *s = find_stop(
            fc, ip,
            is_top ? (1u << VMRT__STOP_CALL | 1u << VMRT__STOP_BACK)
                   : 1u << VMRT__STOP_RET);
        const uint32_t *map = s != NULL ? stop_refs(fc, s) : NULL;

        if (map == NULL)
            continue;
        for (uint32_t i = 0; i < fc->frame_slots; i++) {
            if (!((map[i / 32] >> (i % 32)) & 1u))
                continue;
            if ((uint64_t)fp + i >= pl->nslots)
                return CORRUPT(ck, "frame %u: funcref slot beyond stack", k);
            if ((rc = fn(ck, pl, stack, fp + i)) != 0)
                return rc;
        }
    }
    return 0;
}

static int
slot_check(ck_t *ck, const xplan_t *pl, uint64_t *stack, uint32_t slot)
{
    (void)stack;
    return check_ref(ck, le64_at(pl->slots + 8 * (size_t)slot), "slot",
                     slot);
}

/* Reads the snapshot's value, not the stack's: applying twice is harmless. */
static int
slot_apply(ck_t *ck, const xplan_t *pl, uint64_t *stack, uint32_t slot)
{
    stack[slot] = index_ref(ck->inst, le64_at(pl->slots + 8 * (size_t)slot));
    return 0;
}

/*
 * check_exec: check one thread's section.  Every thread has the limits of
 * the main one (the instance's), whatever it has allocated so far.
 * Return: 0, VMRT_ECORRUPT or VMRT_ELIMIT with err set.
 */
static int
check_exec(ck_t *ck, xplan_t *pl)
{
    const vmrt_instance_t *inst = ck->inst;
    const vmrt_module_t *m = inst->mod;
    const vmrt__exec_t *ex = inst->exec;
    const vmrt__functype_t *et = NULL;
    vmrt__reader_t rd;
    uint32_t want_slots = 0;
    int rc;

    rd_sec(&rd, &pl->sec);
    pl->state = vmrt__rd_u8(&rd);
    if (vmrt__rd_u8(&rd) != 0 || vmrt__rd_u8(&rd) != 0 ||
        vmrt__rd_u8(&rd) != 0)
        return CORRUPT(ck, "EXEC: reserved bytes not zero");
    pl->entry = vmrt__rd_fixed32(&rd);
    pl->trap.code = (vmrt_trap_t)vmrt__rd_fixed32(&rd);
    pl->trap.func_index = vmrt__rd_fixed32(&rd);
    pl->trap.offset = vmrt__rd_fixed32(&rd);
    pl->nframes = vmrt__rd_fixed32(&rd);
    pl->nslots = vmrt__rd_fixed32(&rd);
    if (rd.err != NULL)
        return CORRUPT(ck, "EXEC section truncated");
    if (pl->state > S_EXIT)
        return CORRUPT(ck, "EXEC: unknown state %u", (unsigned)pl->state);
    if (pl->state == S_TRAP &&
        (pl->trap.code <= VMRT_TRAP_NONE ||
         pl->trap.code > VMRT_TRAP_UNDEFINED_ELEM))
        return CORRUPT(ck, "EXEC: unknown trap code");
    if (pl->state != S_TRAP &&
        (pl->trap.code != 0 || pl->trap.func_index != 0 ||
         pl->trap.offset != 0))
        return CORRUPT(ck, "EXEC: trap without a trap state");
    if (pl->state == S_PENDING || pl->state == S_DONE) {
        if (pl->entry >= m->nfuncs)
            return CORRUPT(ck, "EXEC: entry function %u out of range",
                           (unsigned)pl->entry);
        et = inst->funcs[pl->entry]->type;
        if (tramp_slots(et) > ex->slot_limit)
            return LIMIT(ck, "EXEC: entry needs more stack than allowed");
    } else if (pl->entry != 0) {
        return CORRUPT(ck, "EXEC: entry function without a call");
    }
    if (pl->state != S_PENDING && pl->nframes != 0)
        return CORRUPT(ck, "EXEC: frames without a pending call");
    if (pl->state == S_DONE)
        want_slots = et->nresults;
    if (pl->state == S_PENDING && pl->nframes == 0)
        return CORRUPT(ck, "EXEC: pending call without frames");
    if (pl->nframes > (uint64_t)ex->max_depth + 1)
        return LIMIT(ck, "EXEC: %u frames exceed the call depth limit",
                     (unsigned)pl->nframes);
    if ((uint64_t)pl->nframes * 12 > vmrt__rd_left(&rd))
        return CORRUPT(ck, "EXEC section truncated in frames");
    pl->frames = rd.p;
    rd.p += (size_t)pl->nframes * 12;

    for (uint32_t k = 0; k < pl->nframes; k++) {
        const uint8_t *q = pl->frames + 12 * (size_t)k;
        vmrt__frame_t f = { le32_at(q), le32_at(q + 4), le32_at(q + 8), 0 };
        bool is_top = k + 1 == pl->nframes;
        uint32_t fslots;

        if (k == 0) {
            if (f.func != VMRT__FRAME_ENTRY || f.fp != 0 ||
                f.ip != (is_top ? 0 : TRAMP_RET))
                return CORRUPT(ck, "frame 0: not the entry trampoline");
            fslots = tramp_slots(et);
        } else {
            const vmrt__func_code_t *fc;
            const uint8_t *cq = q - 12;
            vmrt__frame_t cf = { le32_at(cq), le32_at(cq + 4),
                                 le32_at(cq + 8), 0 };

            if (f.func < m->nfunc_imports || f.func >= m->nfuncs)
                return CORRUPT(ck, "frame %u: func %u is not defined", k,
                               (unsigned)f.func);
            fc = &m->code[f.func - m->nfunc_imports];
            if (find_stop(fc, f.ip,
                          is_top ? (1u << VMRT__STOP_CALL |
                                    1u << VMRT__STOP_BACK)
                                 : 1u << VMRT__STOP_RET) == NULL)
                return CORRUPT(ck, "frame %u: func %u ip %u is no %s stop",
                               k, (unsigned)f.func, (unsigned)f.ip,
                               is_top ? "call or back-edge" : "return");
            if ((rc = check_call(ck, pl, &cf, &f, k)) != 0)
                return rc;
            fslots = fc->frame_slots;
        }
        if ((uint64_t)f.fp + fslots > ex->slot_limit)
            return LIMIT(ck, "frame %u: beyond the value stack limit", k);
        if (is_top)
            want_slots = f.fp + fslots;
    }
    if (pl->nslots != want_slots)
        return CORRUPT(ck, "EXEC: %u stack slots, expected %u",
                       (unsigned)pl->nslots, (unsigned)want_slots);
    if ((uint64_t)pl->nslots * 8 > vmrt__rd_left(&rd))
        return CORRUPT(ck, "EXEC section truncated in the stack");
    pl->slots = rd.p;
    rd.p += (size_t)pl->nslots * 8;
    if ((rc = rd_done(ck, &rd, "EXEC")) != 0)
        return rc;

    if (pl->state == S_DONE) {
        for (uint32_t i = 0; i < pl->nslots; i++) {
            if (VMRT__RESULTS(et)[i] == VMRT_FUNCREF &&
                (rc = check_ref(ck, le64_at(pl->slots + 8 * (size_t)i),
                                "result", i)) != 0)
                return rc;
        }
    }
    if (pl->state == S_PENDING)
        return each_ref_slot(ck, pl, NULL, slot_check);
    return 0;
}

static int
check_memory(ck_t *ck, plan_t *pl)
{
    const vmrt_instance_t *inst = ck->inst;
    const vmrt_module_t *m = inst->mod;
    vmrt__reader_t rd;
    uint32_t n, nchunks, next = 0;
    uint64_t size;

    rd_sec(&rd, &pl->mems);
    n = vmrt__rd_fixed32(&rd);
    if (rd.err == NULL && n != (inst->mem != NULL ? 1u : 0u))
        return CORRUPT(ck, "MEMS: %u memories, the module has %u",
                       (unsigned)n, (unsigned)m->nmems);
    if (n == 0)
        return rd_done(ck, &rd, "MEMS");
    pl->has_mem = true;
    pl->pages = vmrt__rd_fixed32(&rd);
    pl->nruns = vmrt__rd_fixed32(&rd);
    if (rd.err != NULL)
        return CORRUPT(ck, "MEMS section truncated");
    if (pl->pages < m->mems[0].min)
        return CORRUPT(ck, "MEMS: %u pages, below the minimum %u",
                       (unsigned)pl->pages, (unsigned)m->mems[0].min);
    if (pl->pages > inst->mem->max_pages)
        return LIMIT(ck, "MEMS: %u pages exceed the limit %u",
                     (unsigned)pl->pages, (unsigned)inst->mem->max_pages);
    nchunks = pl->pages * CHUNKS_PER_PAGE;
    pl->runs = rd.p;
    for (uint32_t i = 0; i < pl->nruns; i++) {
        uint32_t first = vmrt__rd_fixed32(&rd), cnt = vmrt__rd_fixed32(&rd);

        if (rd.err != NULL)
            return CORRUPT(ck, "MEMS section truncated");
        if (cnt == 0 || first < next || first > nchunks ||
            cnt > nchunks - first)
            return CORRUPT(ck, "MEMS: run %u out of order or bounds",
                           (unsigned)i);
        if ((uint64_t)cnt * CHUNK > vmrt__rd_left(&rd))
            return CORRUPT(ck, "MEMS section truncated");
        rd.p += (size_t)cnt * CHUNK;
        next = first + cnt;
    }
    if (rd_done(ck, &rd, "MEMS") != 0)
        return VMRT_ECORRUPT;
    size = (uint64_t)pl->pages * VMRT_PAGE_SIZE;
    if (size > SIZE_MAX)
        return LIMIT(ck, "MEMS: memory too large for this host");
    if (size > 0 && (pl->mem_data = vmrt__calloc(1, (size_t)size)) == NULL)
        return VMRT_ENOMEM;
    return 0;
}

static int
check_globals(ck_t *ck, plan_t *pl)
{
    const vmrt_instance_t *inst = ck->inst;
    const vmrt_module_t *m = inst->mod;
    vmrt__reader_t rd;
    uint32_t n;

    rd_sec(&rd, &pl->glob);
    n = vmrt__rd_fixed32(&rd);
    if (rd.err == NULL && n != m->nglobals)
        return CORRUPT(ck, "GLOB: %u globals, the module has %u",
                       (unsigned)n, (unsigned)m->nglobals);
    for (uint32_t i = 0; i < n && rd.err == NULL; i++) {
        const vmrt__global_t *g = inst->globals[i];
        uint8_t t = vmrt__rd_u8(&rd), mut = vmrt__rd_u8(&rd);
        uint64_t v = vmrt__rd_fixed64(&rd);

        if (rd.err != NULL)
            break;
        if (t != g->type || mut != (g->mutable_ ? 1 : 0))
            return CORRUPT(ck, "GLOB: global %u has another type",
                           (unsigned)i);
        if (t == VMRT_FUNCREF) {
            if (check_ref(ck, v, "global", i) != 0)
                return VMRT_ECORRUPT;
            v = index_ref(inst, v);
        }
        /* An immutable global cannot have changed since instantiation. */
        if (!g->mutable_ && v != g->val)
            return CORRUPT(ck, "GLOB: immutable global %u differs",
                           (unsigned)i);
    }
    return rd_done(ck, &rd, "GLOB");
}

static int
check_tables(ck_t *ck, plan_t *pl)
{
    const vmrt_instance_t *inst = ck->inst;
    const vmrt_module_t *m = inst->mod;
    vmrt__reader_t rd;
    uint32_t n;

    rd_sec(&rd, &pl->tabl);
    n = vmrt__rd_fixed32(&rd);
    if (rd.err == NULL && n != m->ntables)
        return CORRUPT(ck, "TABL: %u tables, the module has %u",
                       (unsigned)n, (unsigned)m->ntables);
    if (rd.err != NULL)
        return CORRUPT(ck, "TABL section truncated");
    if (m->ntables > 0 &&
        ((pl->elems = vmrt__calloc(m->ntables, sizeof(*pl->elems))) ==
             NULL ||
         (pl->sizes = vmrt__calloc(m->ntables, sizeof(*pl->sizes))) == NULL))
        return VMRT_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const vmrt__table_t *t = inst->tables[i];
        uint8_t et = vmrt__rd_u8(&rd);
        uint32_t size = vmrt__rd_fixed32(&rd);
        bool fref = et == VMRT_FUNCREF;
        uint64_t *e;

        if (rd.err != NULL)
            return CORRUPT(ck, "TABL section truncated");
        if (et != t->elemtype)
            return CORRUPT(ck, "TABL: table %u has another type",
                           (unsigned)i);
        if (size < m->tables[i].limits.min)
            return CORRUPT(ck, "TABL: table %u below its minimum size",
                           (unsigned)i);
        if (size > t->max || size > VMRT_MAX_TABLE_SIZE)
            return LIMIT(ck, "TABL: table %u size %u exceeds its limit",
                         (unsigned)i, (unsigned)size);
        if ((uint64_t)size * (fref ? 4 : 8) > vmrt__rd_left(&rd))
            return CORRUPT(ck, "TABL section truncated");
        if (size > 0 &&
            (pl->elems[i] = vmrt__malloc((size_t)size * sizeof(*e))) == NULL)
            return VMRT_ENOMEM;
        pl->sizes[i] = size;
        e = pl->elems[i];
        for (uint32_t k = 0; k < size; k++) {
            uint64_t v;
            if (!fref) {
                e[k] = vmrt__rd_fixed64(&rd);
                continue;
            }
            v = vmrt__rd_fixed32(&rd);
            if (check_ref(ck, v, "table element", k) != 0)
                return VMRT_ECORRUPT;
            e[k] = index_ref(inst, v);
        }
    }
    return rd_done(ck, &rd, "TABL");
}

static int
check_segments(ck_t *ck, plan_t *pl)
{
    const vmrt_instance_t *inst = ck->inst;
    const vmrt_module_t *m = inst->mod;
    vmrt__reader_t rd;
    uint32_t n;

    rd_sec(&rd, &pl->segs);
    n = vmrt__rd_fixed32(&rd);
    if (rd.err == NULL && n != m->nelems)
        return CORRUPT(ck, "SEGS: %u element segments, the module has %u",
                       (unsigned)n, (unsigned)m->nelems);
    for (uint32_t i = 0; i < n && rd.err == NULL; i++) {
        uint8_t d = vmrt__rd_u8(&rd);
        if (rd.err == NULL &&
            (d > 1 || (d == 0 && inst->elemsegs[i].n == 0 &&
                       m->elems[i].ninit > 0)))
            return CORRUPT(ck, "SEGS: element segment %u flag %u",
                           (unsigned)i, (unsigned)d);
    }
    n = vmrt__rd_fixed32(&rd);
    if (rd.err == NULL && n != m->ndatas)
        return CORRUPT(ck, "SEGS: %u data segments, the module has %u",
                       (unsigned)n, (unsigned)m->ndatas);
    for (uint32_t i = 0; i < n && rd.err == NULL; i++) {
        uint8_t d = vmrt__rd_u8(&rd);
        if (rd.err == NULL &&
            (d > 1 || (d == 0 && inst->data_dropped[i])))
            return CORRUPT(ck, "SEGS: data segment %u flag %u",
                           (unsigned)i, (unsigned)d);
    }
    return rd_done(ck, &rd, "SEGS");
}

static void
plan_free(const vmrt_module_t *m, plan_t *pl)
{
    vmrt__free(pl->thr);
    vmrt__free(pl->mem_data);
    if (pl->elems != NULL) {
        for (uint32_t i = 0; i < m->ntables; i++)
            vmrt__free(pl->elems[i]);
    }
    vmrt__free(pl->elems);
    vmrt__free(pl->sizes);
}

/*
 * check_header: the checks that need only the module: size, magic,
 * version, checksum, flags, module hash and translation fingerprint.
 * Return: 0; VMRT_ECORRUPT, VMRT_EVERSION, VMRT_EMISMATCH with err set.
 */
static int
check_header(const vmrt_module_t *mod, const uint8_t *buf, size_t len,
             char *err, size_t errlen)
{
    const ck_t ck = { NULL, err, errlen };
    uint32_t version, flags;
    size_t end;

    if (len < HDR_LEN + SUM_LEN)
        return CORRUPT(&ck, "snapshot truncated: %zu bytes", len);
    if (memcmp(buf, snap_magic, sizeof(snap_magic)) != 0)
        return CORRUPT(&ck, "not a snapshot (bad magic)");
    version = le32_at(buf + 4);
    /* Before the checksum: another version may check differently. */
    if (version != SNAP_VERSION) {
        set_err(err, errlen, "snapshot version %u, expected %u",
                (unsigned)version, SNAP_VERSION);
        return VMRT_EVERSION;
    }
    end = len - SUM_LEN;
    if (vmrt__xxh64(buf, end, 0) != le64_at(buf + end))
        return CORRUPT(&ck, "checksum mismatch");
    flags = le32_at(buf + 8);
    if (flags != 0)
        return CORRUPT(&ck, "unknown flags 0x%x", (unsigned)flags);
    if (memcmp(buf + 12, mod->sha256, 32) != 0) {
        set_err(err, errlen, "snapshot is of another module (SHA-256 differs)");
        return VMRT_EMISMATCH;
    }
    if (le64_at(buf + 44) != code_print(mod)) {
        set_err(err, errlen, "snapshot of an engine that translates this "
                "module differently");
        return VMRT_EVERSION;
    }
    return 0;
}

int
vmrt_snapshot_check(const vmrt_module_t *mod, const uint8_t *buf,
                    size_t len, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (mod == NULL || buf == NULL)
        return VMRT_EINVAL;
    return check_header(mod, buf, len, err, errlen);
}

/*
 * walk: check the header, then index every section of `buf` into `pl`.
 * Return: 0; VMRT_ECORRUPT, VMRT_EVERSION, VMRT_EMISMATCH with err set.
 */
static int
walk(ck_t *ck, plan_t *pl, const uint8_t *buf, size_t len,
     const vmrt_snap_hook_t *hooks, uint32_t nhooks)
{
    size_t off, end;
    int rc;

    if ((rc = check_header(ck->inst->mod, buf, len, ck->err, ck->errlen)) != 0)
        return rc;
    end = len - SUM_LEN;
    for (off = HDR_LEN; off < end;) {
        uint32_t tag;
        uint64_t slen;
        sec_t *s = NULL;

        if (end - off < SEC_HDR)
            return CORRUPT(ck, "section header truncated at %zu", off);
        tag = le32_at(buf + off);
        slen = le64_at(buf + off + 4);
        off += SEC_HDR;
        if (slen > end - off)
            return CORRUPT(ck, "section at %zu overruns the snapshot",
                           off - SEC_HDR);
        switch (tag) {
        case TAG_EXEC:
            s = &pl->main.sec;
            break;
        case TAG_THRD:
            if (pl->nthr == pl->cap_thr) {
                uint32_t cap = pl->cap_thr == 0 ? 4 : pl->cap_thr * 2;
                xplan_t *n;

                if (pl->nthr >= VMRT_ENGINE_MAX_THREADS)
                    return LIMIT(ck, "more than %u threads",
                                 (unsigned)VMRT_ENGINE_MAX_THREADS);
                if ((n = vmrt__realloc(pl->thr, cap * sizeof(*n))) == NULL)
                    return VMRT_ENOMEM;
                pl->thr = n;
                pl->cap_thr = cap;
            }
            memset(&pl->thr[pl->nthr], 0, sizeof(pl->thr[0]));
            /* Several THRD sections: not "seen", so not "twice". */
            s = &pl->thr[pl->nthr++].sec;
            break;
        case TAG_MEMS:
            s = &pl->mems;
            break;
        case TAG_GLOB:
            s = &pl->glob;
            break;
        case TAG_TABL:
            s = &pl->tabl;
            break;
        case TAG_SEGS:
            s = &pl->segs;
            break;
        default: {
            uint32_t h;
            for (h = 0; h < nhooks && hooks[h].tag != tag; h++)
                ;
            if (h == nhooks)
                return CORRUPT(ck, "no hook for host section 0x%08x",
                               (unsigned)tag);
            break;
        }
        }
        if (s != NULL) {
            if (s->seen)
                return CORRUPT(ck, "section 0x%08x twice", (unsigned)tag);
            s->seen = true;
            s->p = buf + off;
            s->len = (size_t)slen;
        }
        off += (size_t)slen;
    }
    if (!pl->main.sec.seen || !pl->mems.seen || !pl->glob.seen ||
        !pl->tabl.seen || !pl->segs.seen)
        return CORRUPT(ck, "an engine section is missing");
    return 0;
}

/*
 * check_threads: check EXEC and every THRD section.  THRD ids must be
 * non-zero, below the engine's thread limit and strictly increasing (so
 * unique).
 * Return: 0, VMRT_ECORRUPT or VMRT_ELIMIT with err set.
 */
static int
check_threads(ck_t *ck, plan_t *pl)
{
    uint32_t last = 0;
    int rc;

    pl->main.id = 0;
    if ((rc = check_exec(ck, &pl->main)) != 0)
        return rc;
    for (uint32_t t = 0; t < pl->nthr; t++) {
        xplan_t *xp = &pl->thr[t];

        if (xp->sec.len < 4)
            return CORRUPT(ck, "THRD section truncated");
        xp->id = le32_at(xp->sec.p);
        xp->sec.p += 4;
        xp->sec.len -= 4;
        if (xp->id <= last)
            return CORRUPT(ck, "THRD: thread id %u out of order",
                           (unsigned)xp->id);
        if (xp->id >= VMRT_ENGINE_MAX_THREADS)
            return LIMIT(ck, "THRD: thread id %u beyond the limit %u",
                         (unsigned)xp->id,
                         (unsigned)VMRT_ENGINE_MAX_THREADS);
        last = xp->id;
        if ((rc = check_exec(ck, xp)) != 0) {
            /* Say which thread: check_exec's text names only EXEC. */
            if (ck->err != NULL && ck->errlen > 0) {
                char tmp[160];

                snprintf(tmp, sizeof(tmp), "%s", ck->err);
                set_err(ck->err, ck->errlen, "thread %u: %s",
                        (unsigned)xp->id, tmp);
            }
            return rc;
        }
    }
    return 0;
}

/* Stack room that applying `xp` needs in its exec. */
static int
reserve_exec(const xplan_t *xp)
{
    return vmrt__exec_reserve(xp->ex, xp->nslots,
                              xp->nframes > 0 ? xp->nframes - 1 : 0);
}

/*
 * prepare_threads: create the snapshot's other threads (idle, so that the
 * hooks may find them by id) and grow every thread's stacks to what its
 * state needs.  Growing changes nothing a run could see.
 * Return: 0 or VMRT_ENOMEM; on error the caller frees the new threads.
 */
static int
prepare_threads(ck_t *ck, plan_t *pl)
{
    vmrt_instance_t *inst = (vmrt_instance_t *)ck->inst;

    pl->main.ex = inst->exec;
    if (reserve_exec(&pl->main) != 0)
        return VMRT_ENOMEM;
    for (uint32_t t = 0; t < pl->nthr; t++) {
        vmrt_thread_t *th = vmrt__thread_create_id(inst, pl->thr[t].id);

        if (th == NULL)
            return VMRT_ENOMEM;
        pl->thr[t].ex = &th->ex;
        if (reserve_exec(&pl->thr[t]) != 0)
            return VMRT_ENOMEM;
    }
    return 0;
}

/* Undo prepare_threads: free the threads it made. */
static void
unprepare_threads(vmrt_instance_t *inst, plan_t *pl)
{
    for (uint32_t t = 0; t < pl->nthr; t++) {
        if (pl->thr[t].ex != NULL)
            vmrt_thread_free(vmrt_thread_by_id(inst, pl->thr[t].id));
    }
}

/* ------------------------------------------------------------------ */
/* Restore: applying                                                  */
/* ------------------------------------------------------------------ */

/* Apply one thread's checked section to its prepared exec. */
static void
apply_exec(ck_t *ck, const xplan_t *pl)
{
    vmrt_instance_t *inst = (vmrt_instance_t *)ck->inst;
    vmrt__exec_t *ex = pl->ex;

    ex->insts[0] = inst;
    ex->ninsts = 1;
    ex->top = 0;
    memset(&ex->trap, 0, sizeof(ex->trap));
    for (uint32_t i = 0; i < pl->nslots; i++)
        ex->stack[i] = le64_at(pl->slots + 8 * (size_t)i);
    switch (pl->state) {
    case S_IDLE:
        ex->state = VMRT__EXEC_IDLE;
        return;
    case S_TRAP:
        ex->trap = pl->trap;
        ex->state = VMRT__EXEC_TRAP;
        return;
    case S_EXIT:
        ex->state = VMRT__EXEC_EXIT;
        return;
    default:
        break;
    }
    ex->entry_func = pl->entry;
    ex->entry_type = inst->funcs[pl->entry]->type;
    ex->tramp[0] = vmrt__op_cell(VMRT__OP_call);
    ex->tramp[1] = pl->entry;
    ex->tramp[2] = 0;
    /* The `done` cell is the handler one past the public ops. */
    ex->tramp[3] = vmrt__op_cell(VMRT__OP_COUNT);
    if (pl->state == S_DONE) {
        const vmrt__functype_t *et = ex->entry_type;
        for (uint32_t i = 0; i < pl->nslots; i++) {
            if (VMRT__RESULTS(et)[i] == VMRT_FUNCREF)
                ex->stack[i] = index_ref(inst, ex->stack[i]);
        }
        ex->state = VMRT__EXEC_DONE;
        return;
    }
    for (uint32_t k = 0; k < pl->nframes; k++) {
        const uint8_t *q = pl->frames + 12 * (size_t)k;
        ex->frames[k].func = le32_at(q);
        ex->frames[k].ip = le32_at(q + 4);
        ex->frames[k].fp = le32_at(q + 8);
        ex->frames[k].inst = 0;
    }
    ex->top = pl->nframes - 1;
    (void)each_ref_slot(ck, pl, ex->stack, slot_apply);
    ex->state = VMRT__EXEC_PENDING;
}

static void
apply(ck_t *ck, plan_t *pl)
{
    vmrt_instance_t *inst = (vmrt_instance_t *)ck->inst;
    const vmrt_module_t *m = inst->mod;
    const uint8_t *p;

    if (pl->has_mem) {
        vmrt__memory_t *mem = inst->mem;

        p = pl->runs;
        for (uint32_t i = 0; i < pl->nruns; i++) {
            uint32_t first = le32_at(p), cnt = le32_at(p + 4);
            memcpy(pl->mem_data + (size_t)first * CHUNK, p + 8,
                   (size_t)cnt * CHUNK);
            p += 8 + (size_t)cnt * CHUNK;
        }
        vmrt__free(mem->data);
        mem->data = pl->mem_data;
        mem->pages = pl->pages;
        mem->size = (uint64_t)pl->pages * VMRT_PAGE_SIZE;
        pl->mem_data = NULL;
    }
    p = pl->glob.p + 4;
    for (uint32_t i = 0; i < m->nglobals; i++, p += 10) {
        uint64_t v = le64_at(p + 2);
        inst->globals[i]->val =
            inst->globals[i]->type == VMRT_FUNCREF ? index_ref(inst, v) : v;
    }
    for (uint32_t i = 0; i < m->ntables; i++) {
        vmrt__table_t *t = inst->tables[i];
        vmrt__free(t->elems);
        t->elems = pl->elems[i];
        t->size = pl->sizes[i];
        pl->elems[i] = NULL;
    }
    p = pl->segs.p + 4;
    for (uint32_t i = 0; i < m->nelems; i++) {
        if (p[i] != 0) {
            vmrt__free(inst->elemsegs[i].refs);
            inst->elemsegs[i].refs = NULL;
            inst->elemsegs[i].n = 0;
        }
    }
    p += m->nelems + 4;
    for (uint32_t i = 0; i < m->ndatas; i++)
        inst->data_dropped[i] = p[i];

    /* The execution state of every thread. */
    apply_exec(ck, &pl->main);
    for (uint32_t t = 0; t < pl->nthr; t++)
        apply_exec(ck, &pl->thr[t]);
}

int
vmrt_snapshot_restore(vmrt_instance_t *inst, const uint8_t *buf, size_t len,
                      const vmrt_snap_hook_t *hooks, uint32_t nhooks,
                      char *err, size_t errlen)
{
    ck_t ck = { inst, err, errlen };
    plan_t pl;
    int rc;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (inst == NULL || (buf == NULL && len > 0) ||
        (hooks == NULL && nhooks > 0))
        return VMRT_EINVAL;
    if (inst->exec == NULL || inst->cur != NULL ||
        inst->exec->state == VMRT__EXEC_RUNNING)
        return VMRT_ESTATE;
    /* Threads come from the snapshot only: refuse to guess about others. */
    for (uint32_t id = 1; id < inst->cap_threads; id++) {
        if (inst->threads[id] != NULL) {
            set_err(err, errlen, "instance already has thread %u",
                    (unsigned)id);
            return VMRT_ESTATE;
        }
    }
    if (has_shared_imports(inst->mod)) {
        set_err(err, errlen, "instance imports memory, table or global");
        return VMRT_EUNSUPPORTED;
    }
    memset(&pl, 0, sizeof(pl));
    if (buf == NULL)
        return CORRUPT(&ck, "snapshot truncated: 0 bytes");
    if ((rc = walk(&ck, &pl, buf, len, hooks, nhooks)) != 0 ||
        (rc = check_threads(&ck, &pl)) != 0 ||
        (rc = check_memory(&ck, &pl)) != 0 ||
        (rc = check_globals(&ck, &pl)) != 0 ||
        (rc = check_tables(&ck, &pl)) != 0 ||
        (rc = check_segments(&ck, &pl)) != 0)
        goto out;
    if ((rc = prepare_threads(&ck, &pl)) != 0) {
        set_err(err, errlen, "no memory for the threads' stacks");
        goto out;
    }
    /* Host sections, in snapshot order, after the engine's were checked. */
    for (size_t off = HDR_LEN; off < len - SUM_LEN;) {
        uint32_t tag = le32_at(buf + off);
        size_t slen = (size_t)le64_at(buf + off + 4);

        off += SEC_HDR;
        for (uint32_t h = 0; h < nhooks; h++) {
            if (hooks[h].tag != tag || hooks[h].load == NULL)
                continue;
            if ((rc = hooks[h].load(hooks[h].ctx, inst, buf + off,
                                    slen)) != 0) {
                set_err(err, errlen, "host section 0x%08x: %s",
                        (unsigned)tag, vmrt_strerror(rc));
                goto out;
            }
            break;
        }
        off += slen;
    }
    apply(&ck, &pl);
out:
    if (rc != 0)
        unprepare_threads(inst, &pl);
    plan_free(inst->mod, &pl);
    return rc;
}
