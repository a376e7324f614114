/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vfs subsystem: each VM's WASI context (files in its own quota'd
 * root, stdout/stderr into its log ring, sleeping through the core's
 * block/wake model).  The WASI layer (src/wasi) does the work; this file
 * only configures it per VM and plugs its snapshot hook into the VM's.
 */

#include <string.h>

#include "engine/module.h" /* vmrt__malloc / vmrt__free */
#include "vfs/vfs.h"

/* Per-VM state: the context and its snapshot hook. */
typedef struct vfs_vm {
    vmrt_wasi_t *wasi;
    vmrt_snap_hook_t hook;
} vfs_vm_t;

/* Guest stdout and stderr land in the VM's log ring. */
static long
vfs_sink(void *arg, int fd, const void *buf, size_t len)
{
    (void)fd;
    vmrt__log_append(arg, buf, len);
    return (long)len;
}

/*
 * vfs_block: a sleeping poll_oneoff or a sched_yield waits like every
 * other blocking host call: on no queue, until its deadline.
 * Return: VMRT_HOST_BLOCK.
 */
static int
vfs_block(void *arg, vmrt_instance_t *inst, uint64_t deadline_ns)
{
    vmrt_vm_t *vm = arg;
    vmrt__vthread_t *t = vmrt__self(inst);
    int rc;

    pl_mutex_lock(&vm->rt->lock);
    rc = vmrt__block(t, NULL, deadline_ns);
    pl_mutex_unlock(&vm->rt->lock);
    return rc;
}

static void
vfs_wait_end(void *arg, vmrt_instance_t *inst)
{
    (void)arg;
    vmrt__wait_end(vmrt__self(inst));
}

/*
 * vfs_vm_init: make the VM's WASI context.  argv[0] is the VM name, then
 * the manifest's args; the root is vm->root (created by the core).
 * Return: 0, VMRT_ENOMEM, or VMRT_EIO if the root cannot be opened.
 */
static int
vfs_vm_init(vmrt_vm_t *vm)
{
    const char *argv[VMRT_MAX_ARGS + 1];
    vmrt_wasi_config_t cfg;
    vfs_vm_t *v;
    uint32_t i;

    if ((v = vmrt__malloc(sizeof(*v))) == NULL)
        return VMRT_ENOMEM;
    memset(v, 0, sizeof(*v));
    argv[0] = vm->man.name;
    for (i = 0; i < vm->man.nargs && i < VMRT_MAX_ARGS; i++)
        argv[i + 1] = vm->man.args[i];
    memset(&cfg, 0, sizeof(cfg));
    cfg.argc = (int)i + 1;
    cfg.argv = argv;
    cfg.out = vfs_sink;
    cfg.err = vfs_sink;
    cfg.sink_arg = vm;
    cfg.root = vm->root[0] != '\0' ? vm->root : NULL;
    cfg.quota = vm->man.storage_quota;
    cfg.block = vfs_block;
    cfg.wait_end = vfs_wait_end;
    cfg.block_arg = vm;
    if ((v->wasi = vmrt_wasi_create(&cfg)) == NULL) {
        vmrt__free(v);
        return cfg.root != NULL ? VMRT_EIO : VMRT_ENOMEM;
    }
    v->hook = vmrt_wasi_snapshot_hook(v->wasi);
    vm->sub[VMRT__SUB_VFS] = v;
    return 0;
}

vmrt_wasi_t *
vmrt__vfs_wasi(vmrt_vm_t *vm)
{
    vfs_vm_t *v = vm != NULL ? vm->sub[VMRT__SUB_VFS] : NULL;

    return v != NULL ? v->wasi : NULL;
}

static int
vfs_link(vmrt_vm_t *vm, vmrt_linker_t *lk)
{
    vfs_vm_t *v = vm->sub[VMRT__SUB_VFS];

    if (v == NULL)
        return VMRT_ESTATE;
    return vmrt_wasi_link(v->wasi, lk);
}

static void
vfs_vm_fini(vmrt_vm_t *vm)
{
    vfs_vm_t *v = vm->sub[VMRT__SUB_VFS];

    if (v == NULL)
        return;
    vmrt_wasi_destroy(v->wasi);
    vmrt__free(v);
    vm->sub[VMRT__SUB_VFS] = NULL;
}

static int
vfs_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w)
{
    vfs_vm_t *v = vm->sub[VMRT__SUB_VFS];

    if (v == NULL)
        return VMRT_ESTATE;
    return v->hook.save(v->hook.ctx, vm->inst, w);
}

static int
vfs_load(vmrt_vm_t *vm, const uint8_t *data, size_t len)
{
    vfs_vm_t *v = vm->sub[VMRT__SUB_VFS];

    if (v == NULL)
        return VMRT_ESTATE;
    return v->hook.load(v->hook.ctx, vm->inst, data, len);
}

const vmrt__subsys_t vmrt__sub_vfs = {
    .name = "vfs",
    .snap_tag = VMRT_SNAP_TAG('W', 'A', 'S', 'I'),
    .vm_init = vfs_vm_init,
    .link = vfs_link,
    .vm_fini = vfs_vm_fini,
    .save = vfs_save,
    .load = vfs_load,
};
