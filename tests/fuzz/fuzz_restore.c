/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_restore: libFuzzer target for vmrt_snapshot_restore().
 *
 * The input is a snapshot WITHOUT its trailing checksum: the harness
 * appends a correct XXH64, so that mutations reach the section parsers
 * and the frame checks instead of dying at the checksum.  It restores into
 * a fresh instance of a fixed module (tests/unit/engine/snap_test.wat,
 * embedded at build time) and, if accepted, runs it with bounded fuel and
 * saves it again.  Nothing may crash, leak or hang.
 *
 * Seeds: with VMF_FUZZ_RESTORE_SEEDS=DIR set and DIR empty,
 * LLVMFuzzerInitialize writes snapshots of that module there, taken in
 * every execution state and at many points of loops, recursion, funcref
 * traffic and blocked host calls (tests/fuzz/run.sh does this).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/hash.h"
#include "vmrt/vmrt.h"

extern const unsigned char snap_test_wasm[];
extern const size_t snap_test_wasm_len;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vmrt_module_t *mod;
static vmrt_linker_t *lk;
static unsigned host_calls; /* reset per input: runs are deterministic */

/* Blocks on every other call; the result depends on the argument only. */
static int
host_slow(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
          uint64_t *results)
{
    (void)inst;
    (void)ctx;
    if (host_calls++ % 2 == 0)
        return VMRT_HOST_BLOCK;
    results[0] = (uint32_t)args[0] * 3u + 1u;
    return 0;
}

/* A host section 'TEST' of any content: exercises the hook path. */
static int
hook_save(void *ctx, vmrt_instance_t *inst, vmrt_snap_writer_t *w)
{
    (void)ctx;
    (void)inst;
    return vmrt_snap_write(w, "hook", 4);
}

static int
hook_load(void *ctx, vmrt_instance_t *inst, const uint8_t *data, size_t len)
{
    (void)ctx;
    (void)inst;
    (void)data;
    return len <= 64 ? 0 : VMRT_ECORRUPT;
}

static const vmrt_snap_hook_t hook = { VMRT_SNAP_TAG('T', 'E', 'S', 'T'),
                                       NULL, hook_save, hook_load };

static void
setup(void)
{
    if (mod != NULL)
        return;
    if (vmrt_module_load(snap_test_wasm, snap_test_wasm_len, &mod, NULL,
                         0) != 0 ||
        (lk = vmrt_linker_create()) == NULL ||
        vmrt_linker_define_func(lk, "host", "slow", "(i)i", host_slow,
                                NULL) != 0)
        abort();
}

static vmrt_instance_t *
fresh(void)
{
    vmrt_instance_t *inst;
    vmrt_limits_t lim = { 32, 4096, 200 };

    if (vmrt_instance_create(mod, lk, &lim, &inst, NULL, 0) != 0)
        abort();
    return inst;
}

/* Write one seed: the snapshot of `inst` without its checksum. */
static void
seed_write(const char *dir, unsigned n, vmrt_instance_t *inst)
{
    uint8_t *snap;
    size_t len;
    char path[4096];
    FILE *f;

    if (vmrt_snapshot_save(inst, &hook, 1, &snap, &len) != 0)
        return;
    snprintf(path, sizeof(path), "%s/snap-%03u", dir, n);
    if ((f = fopen(path, "wb")) != NULL) {
        (void)fwrite(snap, 1, len - 8, f);
        fclose(f);
    }
    vmrt_snapshot_free(snap);
}

static void
seeds(const char *dir)
{
    static const struct {
        const char *name;
        int32_t arg;
    } calls[] = { { "loop", 40 }, { "rec", 25 }, { "refs", 6 },
                  { "host", 4 }, { "segs", 0 }, { "touch", 64 } };
    static const uint64_t fuel[] = { 1, 7, 40, 150, 600 };
    unsigned n = 0;
    char probe[4096];
    FILE *f;

    /* Only into an empty directory: never overwrite a corpus. */
    snprintf(probe, sizeof(probe), "%s/snap-000", dir);
    if ((f = fopen(probe, "rb")) != NULL) {
        fclose(f);
        return;
    }
    for (size_t c = 0; c < sizeof(calls) / sizeof(calls[0]); c++) {
        for (size_t k = 0; k < sizeof(fuel) / sizeof(fuel[0]); k++) {
            vmrt_instance_t *inst = fresh();
            vmrt_extern_kind_t kind;
            uint32_t idx;
            vmrt_val_t a = { .type = VMRT_I32 };
            int rc;

            if (k == 0)
                seed_write(dir, n++, inst); /* idle */
            a.of.i32 = calls[c].arg;
            if (vmrt_instance_find_export(inst, calls[c].name, &kind,
                                          &idx) != 0 ||
                vmrt_instance_call(inst, idx, &a,
                                   strcmp(calls[c].name, "segs") ? 1 : 0) !=
                    0)
                abort();
            rc = vmrt_instance_run(inst, fuel[k], NULL);
            seed_write(dir, n++, inst); /* pending, done or trap */
            while (rc == VMRT_RUN_YIELD || rc == VMRT_RUN_BLOCKED)
                rc = vmrt_instance_run(inst, UINT64_MAX, NULL);
            if (k == 0)
                seed_write(dir, n++, inst); /* done */
            vmrt_instance_free(inst);
        }
    }
    /* Threads: main and threads 1 and 3 stopped in several calls. */
    for (size_t k = 0; k < sizeof(fuel) / sizeof(fuel[0]); k++) {
        vmrt_instance_t *inst = fresh();
        vmrt_thread_t *th[4];

        for (int t = 1; t < 4; t++) {
            if ((th[t] = vmrt_thread_create(inst)) == NULL)
                abort();
        }
        vmrt_thread_free(th[2]);
        th[0] = vmrt_instance_main_thread(inst);
        th[2] = NULL;
        for (int t = 0; t < 4; t++) {
            size_t c = (k + (size_t)t) % 4; /* loop, rec, refs, host */
            vmrt_extern_kind_t kind;
            uint32_t idx;
            vmrt_val_t a = { .type = VMRT_I32 };

            if (th[t] == NULL)
                continue;
            a.of.i32 = calls[c].arg;
            if (vmrt_instance_find_export(inst, calls[c].name, &kind,
                                          &idx) != 0 ||
                vmrt_thread_call(th[t], idx, &a, 1) != 0)
                abort();
            (void)vmrt_thread_run(th[t], fuel[(k + (size_t)t) % 5], NULL);
        }
        seed_write(dir, n++, inst);
        vmrt_instance_free(inst);
    }
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VMF_FUZZ_RESTORE_SEEDS");

    (void)argc;
    (void)argv;
    setup();
    if (dir != NULL && *dir != '\0')
        seeds(dir);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmrt_instance_t *inst;
    uint8_t *buf, *again;
    size_t len;
    uint64_t h;
    char err[256];
    int rc;

    setup();
    host_calls = 0;
    if (size > (1u << 22) || (buf = malloc(size + 8)) == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);
    h = vmrt__xxh64(buf, size, 0);
    for (int i = 0; i < 8; i++)
        buf[size + i] = (uint8_t)(h >> (8 * i));
    inst = fresh();
    rc = vmrt_snapshot_restore(inst, buf, size + 8, &hook, 1, err,
                               sizeof(err));
    if (rc == 0) {
        /* Accepted: every thread must run and save like any state. */
        for (uint32_t id = 0; id < 8; id++) {
            vmrt_thread_t *th = vmrt_thread_by_id(inst, id);

            for (int i = 0; th != NULL && i < 8; i++) {
                int st = vmrt_thread_run(th, 2000, NULL);
                if (st != VMRT_RUN_YIELD && st != VMRT_RUN_BLOCKED)
                    break;
            }
        }
        if (vmrt_snapshot_save(inst, &hook, 1, &again, &len) == 0)
            vmrt_snapshot_free(again);
    } else if (rc != VMRT_ENOMEM && err[0] == '\0') {
        abort(); /* every rejection of the snapshot says why */
    }
    vmrt_instance_free(inst);
    free(buf);
    return 0;
}
