/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The device subsystem: the registry of simulated devices, grants and
 * arbitration, the "vos" host functions dev_* and irq_*, interrupt
 * delivery, snapshots of a VM's device state, and the control API of
 * dev.h.  The drivers are in the other files of this folder.
 *
 * Grants and arbitration (docs/vos-api.md, "Devices")
 * - A VM may open a device only if its manifest grants it (VOS_EPERM).
 * - An exclusive grant is refused while another VM has the device open,
 *   and while it is held, nobody else may open it (VOS_EBUSY).  Its I/O
 *   goes straight to the driver.
 * - A shared device: every operation is atomic (drivers run under the
 *   runtime lock), so concurrent writes never interleave.  Reads that must
 *   wait queue on the device in VM priority order (then thread priority,
 *   then arrival).  When data comes, the queue's head gets the "turn": it
 *   is served first, and a lower-priority reader arriving meanwhile waits
 *   behind it instead of stealing the data.
 *
 * Interrupts: irq 0 is the power line; device irqs are 1 + the device's
 * registry index.  A raised irq that is attached and unmasked becomes an
 * irq green thread running handler(irq, arg); a masked one stays pending
 * (raises coalesce) until unmasked.  A device event raises its irq on
 * every attached VM in VM priority order.
 */

#include <stdio.h>
#include <string.h>

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"
#include "vos/handles.h"

/* The devices every runtime has, in registry order. */
static const struct {
    const char *name;
    const vmrt__dev_ops_t *ops;
} devtab[] = {
    { "led0", &vmrt__drv_led },   { "led1", &vmrt__drv_led },
    { "led2", &vmrt__drv_led },   { "led3", &vmrt__drv_led },
    { "uart0", &vmrt__drv_uart }, { "uart1", &vmrt__drv_uart },
    { "temp0", &vmrt__drv_temp }, { "spi0", &vmrt__drv_spi },
    { "i2c0", &vmrt__drv_i2c },   { "flash0", &vmrt__drv_flash },
    { "lcd0", &vmrt__drv_lcd },
};

/* An open device: the object behind a VMRT__H_DEV handle. */
typedef struct {
    vmrt__dev_t *d;
    uint32_t sess[VMRT__DEV_SESS];
} devh_t;

/* A VM's device state (vm->sub[VMRT__SUB_DEV]); irq fields under
 * rt->lock, since vmrt__irq_raise reads them from other threads. */
typedef struct {
    struct {
        uint32_t elem; /* table-0 element of the handler */
        uint32_t arg;
        bool attached;
        bool masked;
        bool pending; /* raised while masked */
    } irq[VMRT__IRQ_MAX];
    uint32_t opens[VMRT__DEV_MAX]; /* its handles per device */
} devvm_t;

#define SNAP_VERSION 1u

/*
 * Spawning needs the scheduler: until it provides vmrt__vthread_spawn_irq
 * (vm_internal.h), interrupts cannot be delivered.  The strong definition
 * in sched.c replaces this one at link time.
 */
__attribute__((weak)) int
vmrt__vthread_spawn_irq(vmrt_vm_t *vm, uint32_t elem, uint32_t irq,
                        uint32_t arg)
{
    (void)vm;
    (void)elem;
    (void)irq;
    (void)arg;
    return VOS_ENOSYS;
}

/* ---- registry --------------------------------------------------------- */

static vmrt__devreg_t *
reg_of(vmrt_rt_t *rt)
{
    return rt->sub[VMRT__SUB_DEV];
}

vmrt__dev_t *
vmrt__dev_find(vmrt_rt_t *rt, const char *name, size_t len)
{
    vmrt__devreg_t *r = reg_of(rt);
    uint32_t i;

    if (r == NULL || len == 0 || len >= VMRT_NAME_MAX)
        return NULL;
    for (i = 0; i < r->ndev; i++)
        if (strlen(r->dev[i].name) == len &&
            memcmp(r->dev[i].name, name, len) == 0)
            return &r->dev[i];
    return NULL;
}

static vmrt__dev_t *
find_kind(vmrt_rt_t *rt, const char *name, const vmrt__dev_ops_t *ops)
{
    vmrt__dev_t *d = vmrt__dev_find(rt, name, name ? strlen(name) : 0);

    return d != NULL && d->ops == ops ? d : NULL;
}

static void
dev_rt_fini(vmrt_rt_t *rt)
{
    vmrt__devreg_t *r = reg_of(rt);
    uint32_t i;

    if (r == NULL)
        return;
    pl_mutex_lock(&rt->lock);
    for (i = 0; i < r->ndev; i++)
        if (r->dev[i].ops->fini != NULL)
            r->dev[i].ops->fini(&r->dev[i]);
    pl_mutex_unlock(&rt->lock);
    vmrt__free(r);
    rt->sub[VMRT__SUB_DEV] = NULL;
}

static int
dev_rt_init(vmrt_rt_t *rt)
{
    vmrt__devreg_t *r;
    vmrt__dev_t *d;
    uint32_t i;
    int rc;

    if ((r = vmrt__calloc(1, sizeof(*r))) == NULL)
        return VMRT_ENOMEM;
    rt->sub[VMRT__SUB_DEV] = r;
    for (i = 0; i < sizeof(devtab) / sizeof(devtab[0]); i++) {
        d = &r->dev[i];
        snprintf(d->name, sizeof(d->name), "%s", devtab[i].name);
        d->ops = devtab[i].ops;
        d->rt = rt;
        d->idx = i;
        d->irq = i + 1;
        if ((rc = d->ops->init(d)) != 0) {
            r->ndev = i;
            dev_rt_fini(rt);
            return rc == VOS_ENOMEM ? VMRT_ENOMEM : VMRT_EIO;
        }
        r->ndev = i + 1;
    }
    return 0;
}

/* ---- arbitration ------------------------------------------------------ */

/* Hand the turn to the first waiting reader of a shared device.  Lock
 * held. */
static void
pass_turn(vmrt__dev_t *d)
{
    d->turn = NULL;
    d->turn_vm = NULL;
    if (d->readers.head == NULL)
        return;
    if (d->excl != NULL) {
        vmrt__wake(&d->readers, UINT32_MAX);
        return;
    }
    d->turn = d->readers.head;
    d->turn_vm = d->turn->vm;
    vmrt__wake(&d->readers, 1);
}

void
vmrt__dev_readable(vmrt__dev_t *d)
{
    if (d->turn == NULL)
        pass_turn(d);
}

static devvm_t *
devvm(vmrt_vm_t *vm)
{
    return vm->sub[VMRT__SUB_DEV];
}

void
vmrt__dev_raise(vmrt__dev_t *d)
{
    vmrt_vm_t *vm;
    devvm_t *dv;
    uint32_t p;

    /* At most 32 passes over the VM list: cheaper than sorting it, and
     * it keeps creation order among equal priorities. */
    for (p = 0; p < VMRT_PRIO_LEVELS; p++)
        for (vm = d->rt->vms; vm != NULL; vm = vm->next) {
            if (vm->man.priority != p || (dv = devvm(vm)) == NULL ||
                !dv->irq[d->irq].attached)
                continue;
            (void)vmrt__irq_raise(vm, d->irq);
        }
}

int
vmrt__irq_raise(vmrt_vm_t *vm, uint32_t irq)
{
    devvm_t *dv = devvm(vm);

    if (dv == NULL || irq >= VMRT__IRQ_MAX || !dv->irq[irq].attached)
        return VOS_ENOENT;
    if (dv->irq[irq].masked) {
        dv->irq[irq].pending = true;
        return 0;
    }
    return vmrt__vthread_spawn_irq(vm, dv->irq[irq].elem, irq,
                                   dv->irq[irq].arg);
}

static const char *
grant_of(const vmrt_vm_t *vm, const char *name, bool *exclusive)
{
    uint32_t i;

    for (i = 0; i < vm->man.ngrants && i < VMRT_MAX_GRANTS; i++)
        if (strncmp(vm->man.grants[i].name, name, VMRT_NAME_MAX) == 0) {
            *exclusive = vm->man.grants[i].exclusive;
            return vm->man.grants[i].name;
        }
    return NULL;
}

/*
 * claim: may `vm` open `d` now?  Counts the open on success.  Lock held.
 * Return: 0; VOS_EPERM (not granted); VOS_EBUSY (exclusive conflict).
 */
static int
claim(vmrt_vm_t *vm, devvm_t *dv, vmrt__dev_t *d)
{
    bool excl = false;

    if (grant_of(vm, d->name, &excl) == NULL)
        return VOS_EPERM;
    if (d->excl != NULL && d->excl != vm)
        return VOS_EBUSY;
    if (excl && d->nopen - dv->opens[d->idx] > 0)
        return VOS_EBUSY;
    if (excl)
        d->excl = vm;
    d->nopen++;
    dv->opens[d->idx]++;
    return 0;
}

/* Undo claim().  Lock held. */
static void
unclaim(vmrt_vm_t *vm, devvm_t *dv, vmrt__dev_t *d)
{
    d->nopen--;
    if (--dv->opens[d->idx] == 0 && d->excl == vm)
        d->excl = NULL;
    if (d->turn_vm == vm)
        pass_turn(d);
}

/* close_fn of a device handle (vos_close, vm_fini). */
static void
devh_close(vmrt_vm_t *vm, void *obj)
{
    devh_t *h = obj;
    devvm_t *dv = devvm(vm);

    pl_mutex_lock(&vm->rt->lock);
    if (dv != NULL)
        unclaim(vm, dv, h->d);
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__free(h);
}

/* ---- host functions --------------------------------------------------- */

/* Guest memory [ptr, ptr + len), or NULL if out of bounds. */
static uint8_t *
mem_at(vmrt_instance_t *inst, uint32_t ptr, uint32_t len)
{
    static uint8_t none[1];
    uint64_t size = 0;
    uint8_t *base = vmrt_instance_memory(inst, &size);

    if ((uint64_t)ptr + len > size)
        return NULL;
    if (base == NULL)
        return len == 0 ? none : NULL;
    return base + ptr;
}

#define A32(i) ((uint32_t)args[i])
#define RET(v)                                                                 \
    do {                                                                       \
        res[0] = (uint64_t)(uint32_t)(int32_t)(v);                             \
        return 0;                                                              \
    } while (0)

/* dev_open(name, len) -> handle */
static int
h_dev_open(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    devvm_t *dv = devvm(vm);
    uint32_t len = A32(1);
    const uint8_t *name = mem_at(inst, A32(0), len);
    vmrt__dev_t *d;
    devh_t *h;
    int rc;

    (void)ctx;
    if (name == NULL)
        RET(VOS_EFAULT);
    if (dv == NULL)
        RET(VOS_ENOSYS);
    if ((h = vmrt__calloc(1, sizeof(*h))) == NULL)
        RET(VOS_ENOMEM);
    pl_mutex_lock(&vm->rt->lock);
    if ((d = vmrt__dev_find(vm->rt, (const char *)name, len)) == NULL)
        rc = VOS_ENOENT;
    else
        rc = claim(vm, dv, d);
    pl_mutex_unlock(&vm->rt->lock);
    if (rc != 0) {
        vmrt__free(h);
        RET(rc);
    }
    h->d = d;
    if (d->ops->sess_init != NULL)
        d->ops->sess_init(d, h->sess);
    if ((rc = vmrt__handle_alloc(vm, VMRT__H_DEV, h, devh_close)) < 0)
        devh_close(vm, h);
    RET(rc);
}

/* dev_read(d, buf, len, timeout_ms) -> bytes */
static int
h_dev_read(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    vmrt__vthread_t *t = vmrt__self(inst);
    devh_t *h = vmrt__handle_get(vm, (int)A32(0), VMRT__H_DEV);
    uint32_t len = A32(2), tmo = A32(3);
    uint8_t *buf = mem_at(inst, A32(1), len);
    vmrt__wake_t why;
    vmrt__dev_t *d;
    int rc;

    (void)ctx;
    if (t == NULL)
        tmo = VOS_NO_WAIT; /* not a green thread: it cannot wait */
    why = t != NULL ? vmrt__woken(t) : VMRT__WAKE_NONE;
    if (h == NULL || buf == NULL) {
        if (t != NULL)
            vmrt__wait_end(t);
        RET(h == NULL ? VOS_EBADF : VOS_EFAULT);
    }
    d = h->d;
    pl_mutex_lock(&vm->rt->lock);
    if (d->turn == t) {
        /* Our turn is being used now. */
        d->turn = NULL;
        d->turn_vm = NULL;
    }
    if (d->excl == NULL && d->turn != NULL)
        rc = VOS_EAGAIN; /* a higher-priority reader is served first */
    else
        rc = d->ops->read(d, h->sess, buf, len);
    if (rc == VOS_EAGAIN && tmo != VOS_NO_WAIT && why != VMRT__WAKE_TIMEOUT &&
        why != VMRT__WAKE_ABORTED) {
        uint64_t ns =
            tmo == VOS_FOREVER ? UINT64_MAX : (uint64_t)tmo * 1000000u;

        rc = vmrt__block(t, &d->readers, vmrt__deadline(t, ns));
        pl_mutex_unlock(&vm->rt->lock);
        return rc;
    }
    if (rc >= 0 && d->excl == NULL && d->turn == NULL)
        pass_turn(d); /* the next reader may want what is left */
    pl_mutex_unlock(&vm->rt->lock);
    if (t != NULL)
        vmrt__wait_end(t);
    if (rc == VOS_EAGAIN && tmo != VOS_NO_WAIT)
        rc = why == VMRT__WAKE_ABORTED ? VOS_ECLOSED : VOS_ETIMEDOUT;
    RET(rc);
}

/* dev_write(d, buf, len) -> bytes */
static int
h_dev_write(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *res)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    devh_t *h = vmrt__handle_get(vm, (int)A32(0), VMRT__H_DEV);
    uint32_t len = A32(2);
    const uint8_t *buf = mem_at(inst, A32(1), len);
    int rc;

    (void)ctx;
    if (h == NULL)
        RET(VOS_EBADF);
    if (buf == NULL)
        RET(VOS_EFAULT);
    pl_mutex_lock(&vm->rt->lock);
    rc = h->d->ops->write(h->d, h->sess, buf, len);
    pl_mutex_unlock(&vm->rt->lock);
    RET(rc);
}

/* dev_ioctl(d, cmd, arg, arg_len) -> command-specific */
static int
h_dev_ioctl(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
            uint64_t *res)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    devh_t *h = vmrt__handle_get(vm, (int)A32(0), VMRT__H_DEV);
    uint32_t len = A32(3);
    uint8_t *arg = mem_at(inst, A32(2), len);
    int rc;

    (void)ctx;
    if (h == NULL)
        RET(VOS_EBADF);
    if (arg == NULL)
        RET(VOS_EFAULT);
    pl_mutex_lock(&vm->rt->lock);
    rc = h->d->ops->ioctl(h->d, h->sess, A32(1), arg, len);
    pl_mutex_unlock(&vm->rt->lock);
    RET(rc);
}

/* dev_irq(d) -> irq line */
static int
h_dev_irq(vmrt_instance_t *inst, void *ctx, const uint64_t *args, uint64_t *res)
{
    devh_t *h = vmrt__handle_get(vmrt__vm_of(inst), (int)A32(0), VMRT__H_DEV);

    (void)ctx;
    if (h == NULL)
        RET(VOS_EBADF);
    RET((int)h->d->irq);
}

/*
 * irq_check: may this VM use line `irq`?  The power line always; a device
 * line if the device is granted to it.  Return 0, VOS_EINVAL, VOS_EPERM.
 */
static int
irq_check(vmrt_vm_t *vm, uint32_t irq)
{
    vmrt__devreg_t *r = reg_of(vm->rt);
    bool excl;

    if (irq == VOS_IRQ_POWER)
        return 0;
    if (r == NULL || irq > r->ndev)
        return VOS_EINVAL;
    return grant_of(vm, r->dev[irq - 1].name, &excl) ? 0 : VOS_EPERM;
}

/* irq_attach(irq, handler, arg) */
static int
h_irq_attach(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    devvm_t *dv = devvm(vm);
    uint32_t irq = A32(0);
    int rc;

    (void)ctx;
    if (dv == NULL)
        RET(VOS_ENOSYS);
    if ((rc = irq_check(vm, irq)) != 0)
        RET(rc);
    if (A32(1) == 0)
        RET(VOS_EINVAL); /* a NULL function pointer */
    pl_mutex_lock(&vm->rt->lock);
    dv->irq[irq].elem = A32(1);
    dv->irq[irq].arg = A32(2);
    dv->irq[irq].attached = true;
    dv->irq[irq].masked = false;
    dv->irq[irq].pending = false;
    pl_mutex_unlock(&vm->rt->lock);
    RET(0);
}

enum { IRQ_DETACH, IRQ_MASK, IRQ_UNMASK };

static int
irq_op(vmrt_instance_t *inst, uint32_t irq, int op)
{
    vmrt_vm_t *vm = vmrt__vm_of(inst);
    devvm_t *dv = devvm(vm);
    int rc = 0;

    if (dv == NULL)
        return VOS_ENOSYS;
    if (irq >= VMRT__IRQ_MAX)
        return VOS_EINVAL;
    pl_mutex_lock(&vm->rt->lock);
    if (!dv->irq[irq].attached) {
        rc = VOS_ENOENT;
    } else if (op == IRQ_DETACH) {
        memset(&dv->irq[irq], 0, sizeof(dv->irq[irq]));
    } else if (op == IRQ_MASK) {
        dv->irq[irq].masked = true;
    } else {
        dv->irq[irq].masked = false;
        if (dv->irq[irq].pending) {
            dv->irq[irq].pending = false;
            rc = vmrt__irq_raise(vm, irq);
        }
    }
    pl_mutex_unlock(&vm->rt->lock);
    return rc;
}

static int
h_irq_detach(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    (void)ctx;
    RET(irq_op(inst, A32(0), IRQ_DETACH));
}

static int
h_irq_mask(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
           uint64_t *res)
{
    (void)ctx;
    RET(irq_op(inst, A32(0), IRQ_MASK));
}

static int
h_irq_unmask(vmrt_instance_t *inst, void *ctx, const uint64_t *args,
             uint64_t *res)
{
    (void)ctx;
    RET(irq_op(inst, A32(0), IRQ_UNMASK));
}

static const vmrt__hostfn_t hosttab[] = {
    { "dev_open", "(ii)i", h_dev_open },
    { "dev_read", "(iiii)i", h_dev_read },
    { "dev_write", "(iii)i", h_dev_write },
    { "dev_ioctl", "(iiii)i", h_dev_ioctl },
    { "dev_irq", "(i)i", h_dev_irq },
    { "irq_attach", "(iii)i", h_irq_attach },
    { "irq_detach", "(i)i", h_irq_detach },
    { "irq_mask", "(i)i", h_irq_mask },
    { "irq_unmask", "(i)i", h_irq_unmask },
    { NULL, NULL, NULL },
};

/* ---- per-VM lifetime ---------------------------------------------------- */

static int
dev_vm_init(vmrt_vm_t *vm)
{
    if ((vm->sub[VMRT__SUB_DEV] = vmrt__calloc(1, sizeof(devvm_t))) == NULL)
        return VMRT_ENOMEM;
    return 0;
}

static int
dev_link(vmrt_vm_t *vm, vmrt_linker_t *lk)
{
    (void)vm;
    return vmrt__link_vos(lk, hosttab, NULL);
}

static void
dev_vm_fini(vmrt_vm_t *vm)
{
    devvm_t *dv = devvm(vm);

    if (dv == NULL)
        return;
    /* Closing the handles releases exclusive holds and turns. */
    vmrt__handle_close_type(vm, VMRT__H_DEV);
    pl_mutex_lock(&vm->rt->lock);
    vm->sub[VMRT__SUB_DEV] = NULL;
    pl_mutex_unlock(&vm->rt->lock);
    vmrt__free(dv);
}

/* ---- snapshots ---------------------------------------------------------- */

/*
 * Section 'DEV ' (all integers u32 little-endian):
 *   version (1)
 *   nirq, then per attached line: irq, elem, arg, flags (1 masked,
 *     2 pending)
 *   nhandle, then per open device: handle, name length, name bytes,
 *     VMRT__DEV_SESS session words
 * Device contents (led states, uart buffers, flash) belong to the runtime,
 * not the VM, and are not in it.
 */

static int
put32(vmrt_snap_writer_t *w, uint32_t v)
{
    uint8_t b[4];

    vmrt__dev_put32(b, v);
    return vmrt_snap_write(w, b, 4);
}

static int
dev_save(vmrt_vm_t *vm, vmrt_snap_writer_t *w)
{
    devvm_t *dv = devvm(vm);
    devh_t *h;
    void *obj;
    uint32_t i, n = 0;
    int hn, rc;

    if (dv == NULL)
        return VMRT_ESTATE;
    pl_mutex_lock(&vm->rt->lock);
    for (i = 0; i < VMRT__IRQ_MAX; i++)
        n += dv->irq[i].attached;
    rc = put32(w, SNAP_VERSION);
    if (rc == 0)
        rc = put32(w, n);
    for (i = 0; i < VMRT__IRQ_MAX && rc == 0; i++) {
        if (!dv->irq[i].attached)
            continue;
        if ((rc = put32(w, i)) == 0 && (rc = put32(w, dv->irq[i].elem)) == 0 &&
            (rc = put32(w, dv->irq[i].arg)) == 0)
            rc = put32(w, (dv->irq[i].masked ? 1u : 0u) |
                              (dv->irq[i].pending ? 2u : 0u));
    }
    pl_mutex_unlock(&vm->rt->lock);
    if (rc != 0)
        return rc;
    n = 0;
    for (hn = 0; (hn = vmrt__handle_next(vm, hn, VMRT__H_DEV, NULL)) > 0;)
        n++;
    if ((rc = put32(w, n)) != 0)
        return rc;
    for (hn = 0; (hn = vmrt__handle_next(vm, hn, VMRT__H_DEV, &obj)) > 0;) {
        size_t nl;

        h = obj;
        nl = strlen(h->d->name);
        if ((rc = put32(w, (uint32_t)hn)) != 0 ||
            (rc = put32(w, (uint32_t)nl)) != 0 ||
            (rc = vmrt_snap_write(w, h->d->name, nl)) != 0)
            return rc;
        for (i = 0; i < VMRT__DEV_SESS; i++)
            if ((rc = put32(w, h->sess[i])) != 0)
                return rc;
    }
    return 0;
}

typedef struct {
    const uint8_t *p;
    size_t left;
} rd_t;

static bool
get32(rd_t *r, uint32_t *v)
{
    if (r->left < 4)
        return false;
    *v = vmrt__dev_get32(r->p);
    r->p += 4;
    r->left -= 4;
    return true;
}

/* Forget every irq attachment and device handle of the VM. */
static void
dev_reset(vmrt_vm_t *vm, devvm_t *dv)
{
    vmrt__handle_close_type(vm, VMRT__H_DEV);
    pl_mutex_lock(&vm->rt->lock);
    memset(dv->irq, 0, sizeof(dv->irq));
    pl_mutex_unlock(&vm->rt->lock);
}

/*
 * load_handle: re-open one saved device handle.  Return 0; VMRT_ECORRUPT
 * (malformed); VMRT_ENOTFOUND (no such device here); VMRT_ESTATE (not
 * granted, or held exclusively by another VM); VMRT_ENOMEM.
 */
static int
load_handle(vmrt_vm_t *vm, devvm_t *dv, rd_t *r)
{
    uint32_t hn, nl, i;
    vmrt__dev_t *d;
    devh_t *h;
    int rc;

    if (!get32(r, &hn) || !get32(r, &nl) || hn == 0 || hn > INT32_MAX ||
        nl == 0 || nl >= VMRT_NAME_MAX || r->left < nl)
        return VMRT_ECORRUPT;
    d = vmrt__dev_find(vm->rt, (const char *)r->p, nl);
    r->p += nl;
    r->left -= nl;
    if ((h = vmrt__calloc(1, sizeof(*h))) == NULL)
        return VMRT_ENOMEM;
    for (i = 0; i < VMRT__DEV_SESS; i++)
        if (!get32(r, &h->sess[i])) {
            vmrt__free(h);
            return VMRT_ECORRUPT;
        }
    if (d == NULL) {
        vmrt__free(h);
        return VMRT_ENOTFOUND;
    }
    h->d = d;
    pl_mutex_lock(&vm->rt->lock);
    rc = claim(vm, dv, d);
    pl_mutex_unlock(&vm->rt->lock);
    if (rc != 0) {
        vmrt__free(h);
        return VMRT_ESTATE;
    }
    if ((rc = vmrt__handle_alloc_at(vm, (int)hn, VMRT__H_DEV, h, devh_close)) <
        0) {
        devh_close(vm, h);
        return rc == VOS_ENOMEM ? VMRT_ENOMEM : VMRT_ECORRUPT;
    }
    return 0;
}

static int
dev_load(vmrt_vm_t *vm, const uint8_t *data, size_t len)
{
    devvm_t *dv = devvm(vm);
    rd_t r = { data, len };
    uint32_t ver, n, i, irq, elem, arg, flags;
    int rc;

    if (dv == NULL)
        return VMRT_ESTATE;
    if (!get32(&r, &ver))
        return VMRT_ECORRUPT;
    if (ver != SNAP_VERSION)
        return VMRT_EVERSION;
    dev_reset(vm, dv);
    if (!get32(&r, &n) || n > VMRT__IRQ_MAX)
        return VMRT_ECORRUPT;
    for (i = 0; i < n; i++) {
        if (!get32(&r, &irq) || !get32(&r, &elem) || !get32(&r, &arg) ||
            !get32(&r, &flags) || irq >= VMRT__IRQ_MAX || elem == 0 ||
            flags > 3) {
            rc = VMRT_ECORRUPT;
            goto fail;
        }
        if (irq_check(vm, irq) != 0) {
            rc = VMRT_ESTATE;
            goto fail;
        }
        pl_mutex_lock(&vm->rt->lock);
        dv->irq[irq].attached = true;
        dv->irq[irq].elem = elem;
        dv->irq[irq].arg = arg;
        dv->irq[irq].masked = (flags & 1) != 0;
        dv->irq[irq].pending = (flags & 2) != 0;
        pl_mutex_unlock(&vm->rt->lock);
    }
    if (!get32(&r, &n) || n > VMRT_VOS_MAX_HANDLES) {
        rc = VMRT_ECORRUPT;
        goto fail;
    }
    for (i = 0; i < n; i++)
        if ((rc = load_handle(vm, dv, &r)) != 0)
            goto fail;
    if (r.left != 0) {
        rc = VMRT_ECORRUPT;
        goto fail;
    }
    return 0;
fail:
    dev_reset(vm, dv);
    return rc;
}

const vmrt__subsys_t vmrt__sub_dev = {
    .name = "dev",
    .snap_tag = VMRT_SNAP_TAG('D', 'E', 'V', ' '),
    .rt_init = dev_rt_init,
    .rt_fini = dev_rt_fini,
    .vm_init = dev_vm_init,
    .link = dev_link,
    .vm_fini = dev_vm_fini,
    .save = dev_save,
    .load = dev_load,
};

/* ---- control API (dev.h) ------------------------------------------------ */

uint32_t
vmrt_dev_list(vmrt_rt_t *rt, vmrt_dev_info_t *out, uint32_t max)
{
    vmrt__devreg_t *r = reg_of(rt);
    vmrt__dev_t *d;
    uint32_t i, n;

    if (r == NULL)
        return 0;
    pl_mutex_lock(&rt->lock);
    n = r->ndev;
    for (i = 0; i < n && i < max; i++) {
        d = &r->dev[i];
        memset(&out[i], 0, sizeof(out[i]));
        snprintf(out[i].name, sizeof(out[i].name), "%s", d->name);
        snprintf(out[i].kind, sizeof(out[i].kind), "%s", d->ops->kind);
        out[i].irq = d->irq;
        out[i].nopen = d->nopen;
        if (d->excl != NULL)
            snprintf(out[i].holder, sizeof(out[i].holder), "%s",
                     d->excl->man.name);
    }
    pl_mutex_unlock(&rt->lock);
    return n;
}

int
vmrt_dev_uart_inject(vmrt_rt_t *rt, const char *name, const void *data,
                     size_t len)
{
    vmrt__dev_t *d;
    int rc = VOS_ENOENT;

    pl_mutex_lock(&rt->lock);
    if ((d = find_kind(rt, name, &vmrt__drv_uart)) != NULL)
        rc = vmrt__uart_inject(d, data, len);
    pl_mutex_unlock(&rt->lock);
    return rc;
}

int
vmrt_dev_uart_output(vmrt_rt_t *rt, const char *name, void *buf, size_t len)
{
    vmrt__dev_t *d;
    int rc = VOS_ENOENT;

    if (len > INT32_MAX)
        len = INT32_MAX;
    pl_mutex_lock(&rt->lock);
    if ((d = find_kind(rt, name, &vmrt__drv_uart)) != NULL)
        rc = (int)vmrt__uart_output(d, buf, len);
    pl_mutex_unlock(&rt->lock);
    return rc;
}

int
vmrt_dev_temp_set(vmrt_rt_t *rt, const char *name, const vmrt_temp_cfg_t *cfg)
{
    vmrt__dev_t *d;
    int rc = VOS_ENOENT;

    if (cfg == NULL)
        return VOS_EINVAL;
    pl_mutex_lock(&rt->lock);
    if ((d = find_kind(rt, name, &vmrt__drv_temp)) != NULL)
        rc = vmrt__temp_set(d, cfg);
    pl_mutex_unlock(&rt->lock);
    return rc;
}

int
vmrt_dev_temp_read(vmrt_rt_t *rt, const char *name, int32_t *mdeg)
{
    vmrt__dev_t *d;
    int rc = VOS_ENOENT;

    pl_mutex_lock(&rt->lock);
    if ((d = find_kind(rt, name, &vmrt__drv_temp)) != NULL) {
        *mdeg = vmrt__temp_now(d);
        rc = 0;
    }
    pl_mutex_unlock(&rt->lock);
    return rc;
}

int
vmrt_dev_led_get(vmrt_rt_t *rt, const char *name)
{
    vmrt__dev_t *d;
    int rc = VOS_ENOENT;

    pl_mutex_lock(&rt->lock);
    if ((d = find_kind(rt, name, &vmrt__drv_led)) != NULL)
        rc = vmrt__led_get(d);
    pl_mutex_unlock(&rt->lock);
    return rc;
}

int
vmrt_dev_lcd_dump(vmrt_rt_t *rt, const char *name, const char *path)
{
    vmrt__dev_t *d;
    int rc = VOS_ENOENT;

    if (path == NULL)
        return VOS_EINVAL;
    pl_mutex_lock(&rt->lock);
    if ((d = find_kind(rt, name, &vmrt__drv_lcd)) != NULL)
        rc = vmrt__lcd_dump(d, path);
    pl_mutex_unlock(&rt->lock);
    return rc;
}
