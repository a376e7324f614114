/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* Shared plumbing for the subsystems (vm_internal.h). */

#include "vm_internal.h"

int
vmrt__link_vos(vmrt_linker_t *lk, const vmrt__hostfn_t *fns, void *ctx)
{
    const vmrt__hostfn_t *f;
    int rc;

    for (f = fns; f->name != NULL; f++)
        if ((rc = vmrt_linker_define_func(lk, "vos", f->name, f->sig, f->fn,
                                          ctx)) != 0)
            return rc;
    return 0;
}
