/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The per-VM handle table (handles.h).  A growable array indexed by
 * handle - 1; allocation starts at a rotating cursor so that a closed
 * number is not handed out again at once (a stale handle then reads as
 * VOS_EBADF rather than as somebody else's object).
 */

#include <string.h>

#include "engine/module.h"
#include "vos/vos_internal.h"

vos__vm_t *
vmrt__vos_state(vmrt_vm_t *vm)
{
    if (vm->sub[VMRT__SUB_VOS] == NULL)
        vm->sub[VMRT__SUB_VOS] = vmrt__calloc(1, sizeof(vos__vm_t));
    return vm->sub[VMRT__SUB_VOS];
}

/*
 * grow: make room for handle numbers up to `need`.
 * Return: 0 or VOS_ENOMEM.
 */
static int
grow(vos__vm_t *st, uint32_t need)
{
    vos__hent_t *n;
    uint32_t cap;

    if (need <= st->hcap)
        return 0;
    if (need > VMRT_VOS_MAX_HANDLES)
        return VOS_ENOMEM;
    cap = st->hcap ? st->hcap : 8;
    while (cap < need)
        cap *= 2;
    if (cap > VMRT_VOS_MAX_HANDLES)
        cap = VMRT_VOS_MAX_HANDLES;
    if ((n = vmrt__realloc(st->htab, cap * sizeof(*n))) == NULL)
        return VOS_ENOMEM;
    memset(n + st->hcap, 0, (cap - st->hcap) * sizeof(*n));
    st->htab = n;
    st->hcap = cap;
    return 0;
}

int
vmrt__handle_alloc_at(vmrt_vm_t *vm, int h, vmrt__htype_t type, void *obj,
                      vmrt__hclose_fn_t close_fn)
{
    vos__vm_t *st;
    int rc;

    if (h <= 0 || h > VMRT_VOS_MAX_HANDLES || type <= VMRT__H_NONE ||
        type >= VMRT__H_MAX || obj == NULL)
        return VOS_EINVAL;
    if ((st = vmrt__vos_state(vm)) == NULL)
        return VOS_ENOMEM;
    if ((rc = grow(st, (uint32_t)h)) != 0)
        return rc;
    if (st->htab[h - 1].type != VMRT__H_NONE)
        return VOS_EBUSY;
    st->htab[h - 1].type = type;
    st->htab[h - 1].obj = obj;
    st->htab[h - 1].close_fn = close_fn;
    return h;
}

int
vmrt__handle_alloc(vmrt_vm_t *vm, vmrt__htype_t type, void *obj,
                   vmrt__hclose_fn_t close_fn)
{
    vos__vm_t *st;
    uint32_t i, idx = 0;

    if (type <= VMRT__H_NONE || type >= VMRT__H_MAX || obj == NULL)
        return VOS_EINVAL;
    if ((st = vmrt__vos_state(vm)) == NULL)
        return VOS_ENOMEM;
    /* Rotate within the current capacity; grow only when it is full, so
     * the table stays as small as the VM's peak handle count. */
    for (i = 0; i < st->hcap; i++) {
        idx = (st->hcursor + i) % st->hcap;
        if (st->htab[idx].type == VMRT__H_NONE)
            break;
    }
    if (i == st->hcap) {
        idx = st->hcap;
        if (grow(st, idx + 1) != 0)
            return VOS_ENOMEM;
    }
    st->hcursor = idx + 1;
    return vmrt__handle_alloc_at(vm, (int)idx + 1, type, obj, close_fn);
}

static vos__hent_t *
entry(vmrt_vm_t *vm, int h)
{
    vos__vm_t *st = vm->sub[VMRT__SUB_VOS];

    if (st == NULL || h <= 0 || (uint32_t)h > st->hcap ||
        st->htab[h - 1].type == VMRT__H_NONE)
        return NULL;
    return &st->htab[h - 1];
}

void *
vmrt__handle_get(vmrt_vm_t *vm, int h, vmrt__htype_t type)
{
    vos__hent_t *e = entry(vm, h);

    if (e == NULL || e->type != (int)type)
        return NULL;
    return e->obj;
}

vmrt__htype_t
vmrt__handle_type(vmrt_vm_t *vm, int h)
{
    vos__hent_t *e = entry(vm, h);

    return e == NULL ? VMRT__H_NONE : (vmrt__htype_t)e->type;
}

int
vmrt__handle_free(vmrt_vm_t *vm, int h)
{
    vos__hent_t *e = entry(vm, h);

    if (e == NULL)
        return VOS_EBADF;
    memset(e, 0, sizeof(*e));
    return 0;
}

int
vmrt__handle_close(vmrt_vm_t *vm, int h)
{
    vos__hent_t *e = entry(vm, h), copy;

    if (e == NULL)
        return VOS_EBADF;
    /* Clear the entry first: close_fn may allocate or close handles. */
    copy = *e;
    memset(e, 0, sizeof(*e));
    if (copy.close_fn != NULL)
        copy.close_fn(vm, copy.obj);
    return 0;
}

void
vmrt__handle_close_type(vmrt_vm_t *vm, vmrt__htype_t type)
{
    int h = 0;

    while ((h = vmrt__handle_next(vm, h, type, NULL)) > 0)
        (void)vmrt__handle_close(vm, h);
}

int
vmrt__handle_next(vmrt_vm_t *vm, int after, vmrt__htype_t type, void **obj)
{
    vos__vm_t *st = vm->sub[VMRT__SUB_VOS];
    uint32_t i;

    if (st == NULL || after < 0)
        return 0;
    for (i = (uint32_t)after; i < st->hcap; i++) {
        if (st->htab[i].type == VMRT__H_NONE)
            continue;
        if (type != VMRT__H_NONE && st->htab[i].type != (int)type)
            continue;
        if (obj != NULL)
            *obj = st->htab[i].obj;
        return (int)i + 1;
    }
    return 0;
}
