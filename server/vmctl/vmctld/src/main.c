/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* Placeholder: being written (issue 6). */
#include <stdio.h>

int
main(void)
{
    fputs("vmctld: not built yet\n", stderr);
    return 1;
}
