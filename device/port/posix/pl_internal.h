/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef PL_POSIX_INTERNAL_H
#define PL_POSIX_INTERNAL_H

/* Cross-file helpers of the POSIX port; not part of the port contract. */

/** @return the PL_E* code for an errno value (PL_EIO if unknown). */
int pl__errno(int e);

/**
 * Choose how confined paths are resolved: 1 lets the port use openat2()
 * when the kernel has it (the default), 0 forces the portable
 * component-by-component walk.  Tests use it to cover both.
 * @return the previous setting.
 */
int pl__fs_use_openat2(int on);

#endif /* PL_POSIX_INTERNAL_H */
