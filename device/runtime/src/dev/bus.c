/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * spi0 and i2c0: a bus of simulated slaves, each a file of 256 byte
 * registers with a register pointer, as most sensors and eeproms have.
 * VOS_IOC_BUS_SELECT picks the slave for this handle (i2c: 7-bit address
 * 0..127; spi: chip select 0..255; default 0).  A write is [reg, data...]:
 * it sets the slave's register pointer to reg and stores data there,
 * incrementing the pointer (wrapping at 256); a write of [reg] alone only
 * sets the pointer.  A read returns registers from the pointer on, also
 * incrementing it.  The pointer belongs to the slave, not the handle, as
 * on real hardware.
 */

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"

#define BUS_SLAVES 256u
#define BUS_REGS 256u

typedef struct {
    uint32_t max_addr;
    uint8_t ptr[BUS_SLAVES];
    uint8_t regs[BUS_SLAVES][BUS_REGS];
} bus_t;

enum { SESS_ADDR = 0 };

static int
bus_init_max(vmrt__dev_t *d, uint32_t max_addr)
{
    bus_t *b;

    if ((b = vmrt__calloc(1, sizeof(*b))) == NULL)
        return VOS_ENOMEM;
    b->max_addr = max_addr;
    d->drv = b;
    return 0;
}

static int
spi_init(vmrt__dev_t *d)
{
    return bus_init_max(d, 255);
}

static int
i2c_init(vmrt__dev_t *d)
{
    return bus_init_max(d, 127);
}

static void
bus_fini(vmrt__dev_t *d)
{
    vmrt__free(d->drv);
    d->drv = NULL;
}

static int
bus_read(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len)
{
    bus_t *b = d->drv;
    uint32_t a = sess[SESS_ADDR] & 0xff, i;

    for (i = 0; i < len; i++)
        buf[i] = b->regs[a][b->ptr[a]++];
    return (int)len;
}

static int
bus_write(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf, uint32_t len)
{
    bus_t *b = d->drv;
    uint32_t a = sess[SESS_ADDR] & 0xff, i;

    if (len == 0)
        return 0;
    b->ptr[a] = buf[0];
    for (i = 1; i < len; i++)
        b->regs[a][b->ptr[a]++] = buf[i];
    return (int)len;
}

static int
bus_ioctl(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
          uint32_t arg_len)
{
    bus_t *b = d->drv;
    uint32_t a;

    if (cmd != VOS_IOC_BUS_SELECT || arg_len < 4)
        return VOS_EINVAL;
    a = vmrt__dev_get32(arg);
    if (a > b->max_addr)
        return VOS_EINVAL;
    sess[SESS_ADDR] = a;
    return 0;
}

const vmrt__dev_ops_t vmrt__drv_spi = {
    .kind = "spi",
    .init = spi_init,
    .fini = bus_fini,
    .read = bus_read,
    .write = bus_write,
    .ioctl = bus_ioctl,
};

const vmrt__dev_ops_t vmrt__drv_i2c = {
    .kind = "i2c",
    .init = i2c_init,
    .fini = bus_fini,
    .read = bus_read,
    .write = bus_write,
    .ioctl = bus_ioctl,
};
