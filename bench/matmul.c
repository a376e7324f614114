/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * matmul: dense f64 matrix multiply, repeated.  Measures f64 arithmetic,
 * loads and stores in tight loops.  The checksum is the exact bit pattern
 * of a sum, which both sides compute with IEEE double operations in the
 * same order (no FMA on either side by default).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 200
#define REPS 100

static void
matmul(const double *a, const double *b, double *c)
{
    int i, j, k;

    for (i = 0; i < N; i++) {
        for (j = 0; j < N; j++)
            c[i * N + j] = 0.0;
        for (k = 0; k < N; k++) {
            double aik = a[i * N + k];

            for (j = 0; j < N; j++)
                c[i * N + j] += aik * b[k * N + j];
        }
    }
}

int
main(void)
{
    double *a, *b, *c, sum = 0.0;
    uint32_t x = 42;
    uint64_t bits;
    int i, r;

    a = malloc(sizeof(double) * N * N);
    b = malloc(sizeof(double) * N * N);
    c = malloc(sizeof(double) * N * N);
    if (a == NULL || b == NULL || c == NULL)
        return 1;
    for (i = 0; i < N * N; i++) {
        x = x * 1664525u + 1013904223u;
        a[i] = (double)(x >> 8) / 16777216.0 - 0.5;
        x = x * 1664525u + 1013904223u;
        b[i] = (double)(x >> 8) / 16777216.0 - 0.5;
    }
    for (r = 0; r < REPS; r++) {
        matmul(a, b, c);
        /* Feed the result back so that every repetition is needed. */
        for (i = 0; i < N * N; i++)
            a[i] = c[i] * 0.25;
    }
    for (i = 0; i < N * N; i++)
        sum += c[i] * (double)(i % 7 + 1);
    memcpy(&bits, &sum, sizeof(bits));
    printf("matmul %dx%d x%d sum %.3e checksum %016llx\n", N, N, REPS, sum,
           (unsigned long long)bits);
    free(a);
    free(b);
    free(c);
    return 0;
}
