/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fib: naive doubly recursive Fibonacci.  Measures call and return cost,
 * which dominates interpreters' overhead on small functions.
 */

#include <stdint.h>
#include <stdio.h>

#ifndef FIB_N
#define FIB_N 40
#endif

/* noinline keeps compilers from turning the recursion into a loop. */
static __attribute__((noinline)) uint32_t
fib(uint32_t n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

int
main(void)
{
    volatile uint32_t n = FIB_N;
    uint32_t r = fib(n);

    printf("fib(%u) checksum %08x\n", (unsigned)n, (unsigned)r);
    return 0;
}
