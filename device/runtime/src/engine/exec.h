/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_ENGINE_EXEC_H
#define VMRT_ENGINE_EXEC_H

/*
 * Execution state of one thread of an instance: what interp.c runs and
 * what a snapshot serializes.  An instance has one per thread (vmrt.h);
 * inst->exec is the main thread's.
 *
 * Everything that describes *where* execution is stands in small integers,
 * never host pointers: a frame is (function index, code offset, frame base
 * slot, instance number).  A snapshot can therefore write the frames as they
 * are and restore them in another process, as long as it rebuilds `insts`
 * (the instances the frames run in) in the same order.
 *
 * The bottom frame is always the entry trampoline: a three-instruction
 * function owned by the exec, `call F 0; done`, where F is the function
 * passed to vmrt_instance_call().  Running the entry call through an
 * ordinary call instruction gives host entry functions, foreign (imported)
 * entry functions, fuel and blocking one code path.
 */

#include "code.h"
#include "instance.h"

/* frame.func of the entry trampoline frame. */
#define VMRT__FRAME_ENTRY UINT32_MAX

typedef struct vmrt__frame {
    uint32_t func; /* index in the function space of insts[inst] */
    uint32_t ip;   /* cell offset where this frame continues */
    uint32_t fp;   /* slot index of the frame base in the value stack */
    uint32_t inst; /* index into vmrt__exec.insts */
} vmrt__frame_t;

typedef enum {
    VMRT__EXEC_IDLE = 0, /* no call */
    VMRT__EXEC_PENDING,  /* call prepared, yielded or blocked: run may go */
    VMRT__EXEC_RUNNING,  /* inside vmrt_instance_run() */
    VMRT__EXEC_DONE,     /* results at stack[0 .. nresults) */
    VMRT__EXEC_TRAP,     /* see trap */
    VMRT__EXEC_EXIT      /* a host function ended the call */
} vmrt__exec_state_t;

/*
 * The stacks grow on demand: a run that needs more slots or frames than
 * are allocated reallocates them (by doubling) up to the limits, and traps
 * with "call stack exhausted" only beyond the limits.  Nothing outside a
 * run holds a pointer into them (frames are indices), so an idle thread
 * costs only what it used.
 */
typedef struct vmrt__exec {
    uint64_t *stack;          /* value stack, nslots 64-bit slots */
    uint32_t nslots;          /* allocated slots, <= slot_limit */
    vmrt__frame_t *frames;    /* depth_cap + 1 (the trampoline) */
    uint32_t max_depth;       /* wasm frames allowed above the trampoline */
    uint32_t top;             /* index of the current frame when stopped */
    uint32_t slot_limit;      /* value_stack_slots limit */
    uint32_t depth_cap;       /* allocated frames - 1, <= max_depth */

    /* Instances the frames run in; insts[0] is the owner. */
    vmrt_instance_t **insts;
    uint32_t ninsts;
    uint32_t cap_insts;

    uint8_t state;            /* vmrt__exec_state_t */
    uint32_t entry_func;      /* function of the pending call */
    const vmrt__functype_t *entry_type;
    vmrt__cell_t tramp[4];    /* call entry_func 0; done */

    vmrt_trap_info_t trap;
} vmrt__exec_t;

/* Thread ids are indices into inst->threads: bound the table. */
#ifndef VMRT_ENGINE_MAX_THREADS
#define VMRT_ENGINE_MAX_THREADS 1024u
#endif

/*
 * A thread (vmrt.h): an exec plus its identity.  The main thread's exec is
 * also inst->exec, so code that knows only the main exec keeps working.
 */
struct vmrt_thread {
    vmrt__exec_t ex;
    vmrt_instance_t *inst;    /* owner */
    uint32_t id;              /* index in inst->threads */
    void *user;
};

/*
 * Provided by interp.c for snapshot.c.  vmrt__exec_reserve grows `ex` so
 * that it holds at least `slots` slots and `depth` frames above the
 * trampoline.  Return: 0, VMRT_ELIMIT (beyond the limits), VMRT_ENOMEM.
 * vmrt__thread_create_id makes a thread with a given free id.
 * Return: the thread, or NULL (id taken or too large, or no memory).
 */
int vmrt__exec_reserve(vmrt__exec_t *ex, uint64_t slots, uint32_t depth);
vmrt_thread_t *vmrt__thread_create_id(vmrt_instance_t *inst, uint32_t id);

#endif /* VMRT_ENGINE_EXEC_H */
