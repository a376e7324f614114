/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * core_exit13: main returns 13 (wasi-libc's _start then calls
 * proc_exit(13)); tests/unit/runtime/test_core.c checks that the runtime
 * reports exit code 13 and treats it as a failure.
 */

#include <stdio.h>

int
main(void)
{
    printf("core_exit13: bye\n");
    return 13;
}
