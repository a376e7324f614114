/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Registry internals for tests only (tests/unit/vmctld): a seam that runs
 * raw SQL on a database file without the migrations, so that a test can
 * build an old schema by hand while sqlite3.h stays inside registry.c.
 */
#ifndef VMCTLD_REGISTRY_INTERNAL_H
#define VMCTLD_REGISTRY_INTERNAL_H

#include <stddef.h>

/**
 * Open `path` (creating it), run `sql` (several statements allowed) and
 * close it.  Not for vmctld itself.
 * @return 0, or VMCTLD_REG_EDB with `err` filled.
 */
int vmctld_reg__exec_raw(const char *path, const char *sql, char *err,
                         size_t errlen);

#endif /* VMCTLD_REGISTRY_INTERNAL_H */
