/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_VFS_H
#define VMRT_VFS_H

/* What the core may ask the vfs subsystem (src/vfs/vfs.c). */

#include "vm/vm_internal.h"
#include "vmrt/wasi.h"

/*
 * The VM's WASI context (e.g. for vmrt_wasi_exit_code() after a run ended
 * with VMRT_RUN_EXIT), or NULL when the VM is not started.
 */
vmrt_wasi_t *vmrt__vfs_wasi(vmrt_vm_t *vm);

#endif /* VMRT_VFS_H */
