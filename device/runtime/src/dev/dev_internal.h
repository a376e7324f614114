/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_DEV_INTERNAL_H
#define VMRT_DEV_INTERNAL_H

/*
 * Inside src/dev: the device framework (dev.c: registry, grants,
 * arbitration, handles, interrupts, snapshots) and the simulated drivers
 * (led.c, uart.c, temp.c, bus.c for spi and i2c, flash.c, lcd.c).
 *
 * A driver is a table of operations on one device.  Every operation runs
 * WITH rt->lock held (the framework takes it), so a driver never locks and
 * every operation is atomic with respect to all others on the runtime:
 * that is what serializes concurrent writes to a shared device.  An
 * operation must not block: a read that has nothing to return says
 * VOS_EAGAIN and the framework makes the caller wait (vmrt__block on the
 * device's reader queue) until the driver calls vmrt__dev_readable().
 *
 * Per-open state (the "session": an lcd's write position, the selected
 * spi/i2c slave, a flash offset) is four u32 words kept in the handle, so
 * the framework can save and restore it without knowing what it means.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev/dev.h"
#include "vm/vm_internal.h"

#define VMRT__DEV_MAX 16 /* devices per runtime */
#define VMRT__IRQ_MAX 32 /* interrupt lines per VM; 0 = power */
#define VMRT__DEV_SESS 4 /* u32 words of per-open state */

typedef struct vmrt__dev vmrt__dev_t;

typedef struct {
    const char *kind; /* "gpio", "uart", ... (vmrt_dev_info_t.kind) */
    /* Make d->drv.  Return 0 or a negative VOS_E* code. */
    int (*init)(vmrt__dev_t *d);
    void (*fini)(vmrt__dev_t *d);
    /* Return bytes moved (>= 0) or a negative VOS_E* (VOS_EAGAIN: nothing
     * to read yet).  `sess` is the handle's per-open state. */
    int (*read)(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len);
    int (*write)(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf,
                 uint32_t len);
    /* `arg` is in/out (guest memory, bounds-checked already).  Return
     * >= 0 (command-specific) or a negative VOS_E*. */
    int (*ioctl)(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
                 uint32_t arg_len);
    /* Fill a fresh session (may be NULL: all zero). */
    void (*sess_init)(vmrt__dev_t *d, uint32_t *sess);
} vmrt__dev_ops_t;

struct vmrt__dev {
    char name[VMRT_NAME_MAX];
    const vmrt__dev_ops_t *ops;
    vmrt_rt_t *rt;
    uint32_t idx; /* in the registry */
    uint32_t irq; /* its interrupt line: idx + 1 */
    void *drv;    /* the driver's state */
    /* Arbitration (dev.c), guarded by rt->lock. */
    vmrt_vm_t *excl;       /* VM holding it exclusively, or NULL */
    uint32_t nopen;        /* handles open, all VMs */
    vmrt__waitq_t readers; /* threads waiting for something to read */
    vmrt__vthread_t *turn; /* shared: the woken reader served next */
    vmrt_vm_t *turn_vm;    /* its VM (compared, never dereferenced) */
};

/* The registry (rt->sub[VMRT__SUB_DEV]). */
typedef struct {
    vmrt__dev_t dev[VMRT__DEV_MAX];
    uint32_t ndev;
} vmrt__devreg_t;

extern const vmrt__dev_ops_t vmrt__drv_led;
extern const vmrt__dev_ops_t vmrt__drv_uart;
extern const vmrt__dev_ops_t vmrt__drv_temp;
extern const vmrt__dev_ops_t vmrt__drv_spi;
extern const vmrt__dev_ops_t vmrt__drv_i2c;
extern const vmrt__dev_ops_t vmrt__drv_flash;
extern const vmrt__dev_ops_t vmrt__drv_lcd;

/* Find a device by name (length-delimited); NULL if none. */
vmrt__dev_t *vmrt__dev_find(vmrt_rt_t *rt, const char *name, size_t len);

/*
 * A driver says it has something to read (uart bytes, a temperature
 * sample): wake the reader served next.  Lock held.
 */
void vmrt__dev_readable(vmrt__dev_t *d);

/*
 * A device event: raise d's irq on every VM attached to it, in VM
 * priority order (0 first; equal priorities in creation order).  Lock
 * held.
 */
void vmrt__dev_raise(vmrt__dev_t *d);

/* Little-endian helpers for ioctl arguments and snapshots. */
static inline uint32_t
vmrt__dev_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline void
vmrt__dev_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* Driver internals the ctl API (dev.c) reaches. */
int vmrt__uart_inject(vmrt__dev_t *d, const uint8_t *data, size_t len);
size_t vmrt__uart_output(vmrt__dev_t *d, uint8_t *buf, size_t len);
int vmrt__temp_set(vmrt__dev_t *d, const vmrt_temp_cfg_t *cfg);
int32_t vmrt__temp_now(vmrt__dev_t *d);
/* The waveform's value at sample k (pure; for temp.c and tests). */
int32_t vmrt__temp_value(const vmrt_temp_cfg_t *c, uint64_t k,
                         uint32_t period_ms);
int vmrt__led_get(vmrt__dev_t *d);
int vmrt__lcd_dump(vmrt__dev_t *d, const char *path);

#endif /* VMRT_DEV_INTERNAL_H */
