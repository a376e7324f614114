/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * sort: quicksort (median of three, insertion sort for small ranges) of
 * pseudo-random ints from an LCG.  Measures branches, compares and memory
 * traffic through i32 loads and stores.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (3u << 20)

static void
insertion(int32_t *v, long lo, long hi)
{
    long i, j;

    for (i = lo + 1; i <= hi; i++) {
        int32_t t = v[i];

        for (j = i - 1; j >= lo && v[j] > t; j--)
            v[j + 1] = v[j];
        v[j + 1] = t;
    }
}

static void
swap(int32_t *v, long a, long b)
{
    int32_t t = v[a];

    v[a] = v[b];
    v[b] = t;
}

static void
quicksort(int32_t *v, long lo, long hi)
{
    while (hi - lo > 16) {
        long mid = lo + (hi - lo) / 2, i = lo, j = hi;
        int32_t p;

        if (v[mid] < v[lo])
            swap(v, mid, lo);
        if (v[hi] < v[lo])
            swap(v, hi, lo);
        if (v[hi] < v[mid])
            swap(v, hi, mid);
        p = v[mid];
        while (i <= j) {
            while (v[i] < p)
                i++;
            while (v[j] > p)
                j--;
            if (i <= j)
                swap(v, i++, j--);
        }
        /* Recurse into the smaller part to bound the stack depth. */
        if (j - lo < hi - i) {
            quicksort(v, lo, j);
            lo = i;
        } else {
            quicksort(v, i, hi);
            hi = j;
        }
    }
    insertion(v, lo, hi);
}

int
main(void)
{
    int32_t *v;
    uint32_t x = 7, i, h = 2166136261u;

    if ((v = malloc(sizeof(*v) * COUNT)) == NULL)
        return 1;
    for (i = 0; i < COUNT; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = (int32_t)(x ^ (x >> 15));
    }
    quicksort(v, 0, (long)COUNT - 1);
    for (i = 1; i < COUNT; i++)
        if (v[i - 1] > v[i]) {
            printf("sort: not sorted at %u\n", (unsigned)i);
            return 1;
        }
    /* FNV-1a over a sample of the sorted array. */
    for (i = 0; i < COUNT; i += 97)
        h = (h ^ (uint32_t)v[i]) * 16777619u;
    printf("sort %u ints checksum %08x\n", (unsigned)COUNT, (unsigned)h);
    free(v);
    return 0;
}
