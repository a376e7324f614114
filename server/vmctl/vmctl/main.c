/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* vmctl's entry point; everything else is in the vmctl_lib library. */

#include "vmctl.h"

int
main(int argc, char **argv)
{
    return vmctl_main(argc, argv);
}
