/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * snapbench: how long vmrt_snapshot_save() and vmrt_snapshot_restore()
 * take, and how big a snapshot is, for an instance whose memory is
 * 1 MiB and 16 MiB of non-zero bytes (touch.wat, embedded), stopped by
 * fuel in the middle of a loop.
 *
 *   snapbench [-n ITERATIONS] [MIB...]      (default: -n 200 1 16)
 *
 * Prints one line per size: mean and p99 of each operation in ms, and
 * the snapshot size.  Each restore goes into a fresh instance, as
 * restore requires; creating that instance is not timed.  The first
 * restored memory is compared with the original, so that a fast but
 * wrong restore cannot pass.
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pl/pl.h"
#include "vmrt/vmrt.h"

extern const unsigned char touch_wasm[];
extern const size_t touch_wasm_len;

#define BENCH_DEFAULT_ITERS 200
#define BENCH_FILL_FUEL 200000000ull /* well past the fill loop of 16 MiB */

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Mean and 99th percentile (nearest rank) of `n` samples, in ms. */
static void
stats(uint64_t *ns, int n, double *mean, double *p99)
{
    uint64_t sum = 0;
    int i, rank;

    qsort(ns, (size_t)n, sizeof(*ns), cmp_u64);
    for (i = 0; i < n; i++)
        sum += ns[i];
    rank = (99 * n + 99) / 100; /* ceil(0.99 n), 1-based */
    *mean = (double)sum / n / 1e6;
    *p99 = (double)ns[rank - 1] / 1e6;
}

/*
 * bench_size: run touch(`mib` * 16 pages) to a yield, then time `iters`
 * saves and `iters` restores.
 * Return: 0, or 1 after printing what failed.
 */
static int
bench_size(vmrt_module_t *mod, uint32_t mib, int iters)
{
    char err[256] = "";
    vmrt_instance_t *inst = NULL, *copy = NULL;
    vmrt_val_t arg;
    vmrt_extern_kind_t kind;
    uint64_t *save_ns = NULL, *rest_ns = NULL, t0, size = 0, csize = 0;
    uint8_t *snap = NULL, *buf, *mem, *cmem;
    size_t len = 0, blen;
    uint32_t func;
    double sm, sp, rm, rp;
    int i, rc, st, ret = 1;

    save_ns = calloc((size_t)iters, sizeof(*save_ns));
    rest_ns = calloc((size_t)iters, sizeof(*rest_ns));
    if (save_ns == NULL || rest_ns == NULL) {
        fprintf(stderr, "snapbench: out of memory\n");
        goto out;
    }
    if ((rc = vmrt_instance_create(mod, NULL, NULL, &inst, err,
                                   sizeof(err))) != 0 ||
        (rc = vmrt_instance_find_export(inst, "touch", &kind, &func)) != 0) {
        fprintf(stderr, "snapbench: instance: %s %s\n", vmrt_strerror(rc),
                err);
        inst = NULL;
        goto out;
    }
    memset(&arg, 0, sizeof(arg));
    arg.type = VMRT_I32;
    arg.of.i32 = (int32_t)(mib * 16);
    if ((rc = vmrt_instance_call(inst, func, &arg, 1)) != 0 ||
        (st = vmrt_instance_run(inst, BENCH_FILL_FUEL, NULL)) !=
            VMRT_RUN_YIELD) {
        fprintf(stderr, "snapbench: touch(%" PRIu32 ") did not yield\n",
                mib * 16);
        goto out;
    }
    mem = vmrt_instance_memory(inst, &size);
    if (size != (uint64_t)mib << 20) {
        fprintf(stderr, "snapbench: memory is %" PRIu64 " bytes\n", size);
        goto out;
    }

    for (i = 0; i < iters; i++) {
        vmrt_snapshot_free(snap);
        snap = NULL;
        t0 = pl_time_mono_ns();
        rc = vmrt_snapshot_save(inst, NULL, 0, &snap, &len);
        save_ns[i] = pl_time_mono_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "snapbench: save: %s\n", vmrt_strerror(rc));
            goto out;
        }
    }
    for (i = 0; i < iters; i++) {
        if ((rc = vmrt_instance_create(mod, NULL, NULL, &copy, err,
                                       sizeof(err))) != 0) {
            fprintf(stderr, "snapbench: instance: %s\n", err);
            copy = NULL;
            goto out;
        }
        buf = snap;
        blen = len;
        t0 = pl_time_mono_ns();
        rc = vmrt_snapshot_restore(copy, buf, blen, NULL, 0, err,
                                   sizeof(err));
        rest_ns[i] = pl_time_mono_ns() - t0;
        if (rc != 0) {
            fprintf(stderr, "snapbench: restore: %s: %s\n", vmrt_strerror(rc),
                    err);
            goto out;
        }
        if (i == 0) {
            cmem = vmrt_instance_memory(copy, &csize);
            mem = vmrt_instance_memory(inst, &size);
            if (csize != size || memcmp(cmem, mem, (size_t)size) != 0) {
                fprintf(stderr, "snapbench: restored memory differs\n");
                goto out;
            }
        }
        vmrt_instance_free(copy);
        copy = NULL;
    }
    stats(save_ns, iters, &sm, &sp);
    stats(rest_ns, iters, &rm, &rp);
    printf("%4" PRIu32 " MiB  %8.3f %8.3f  %8.3f %8.3f  %10zu\n", mib, sm, sp,
           rm, rp, len);
    ret = 0;
out:
    vmrt_snapshot_free(snap);
    vmrt_instance_free(copy);
    vmrt_instance_free(inst);
    free(rest_ns);
    free(save_ns);
    return ret;
}

int
main(int argc, char **argv)
{
    static const char *defaults[] = { "1", "16" };
    const char *const *sizes = defaults;
    char err[256] = "";
    vmrt_module_t *mod = NULL;
    int iters = BENCH_DEFAULT_ITERS, nsizes = 2, i, ret = 0;
    unsigned long v;
    char *end;

    if (argc >= 3 && strcmp(argv[1], "-n") == 0) {
        iters = atoi(argv[2]);
        argc -= 2;
        argv += 2;
    }
    if (iters < 1 || iters > 1000000 ||
        (argc > 1 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: snapbench [-n ITERATIONS] [MIB...]\n");
        return 2;
    }
    if (argc > 1) {
        sizes = (const char *const *)(argv + 1);
        nsizes = argc - 1;
    }
    if (vmrt_module_load(touch_wasm, touch_wasm_len, &mod, err,
                         sizeof(err)) != 0) {
        fprintf(stderr, "snapbench: cannot load touch.wasm: %s\n", err);
        return 1;
    }
    printf("%d iterations each; times in ms\n", iters);
    printf("  memory  save mean  save p99  rest mean  rest p99  snap bytes\n");
    for (i = 0; i < nsizes; i++) {
        v = strtoul(sizes[i], &end, 10);
        if (*end != '\0' || v == 0 || v > 4095) {
            fprintf(stderr, "snapbench: bad size %s (MiB, 1-4095)\n",
                    sizes[i]);
            ret = 2;
            break;
        }
        ret |= bench_size(mod, (uint32_t)v, iters);
    }
    vmrt_module_free(mod);
    return ret;
}
