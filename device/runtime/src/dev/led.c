/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * led0..: a gpio output driving a led.  write: one byte, 0 = off, any
 * other value = on (only the last byte of a longer write counts, as if
 * the pin were driven byte by byte); read: one byte, the state;
 * VOS_IOC_LED_TOGGLE flips it and returns the new state.
 */

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"

typedef struct {
    uint8_t on;
} led_t;

static int
led_init(vmrt__dev_t *d)
{
    if ((d->drv = vmrt__calloc(1, sizeof(led_t))) == NULL)
        return VOS_ENOMEM;
    return 0;
}

static void
led_fini(vmrt__dev_t *d)
{
    vmrt__free(d->drv);
    d->drv = NULL;
}

static int
led_read(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len)
{
    led_t *l = d->drv;

    (void)sess;
    if (len == 0)
        return 0;
    buf[0] = l->on;
    return 1;
}

static int
led_write(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf, uint32_t len)
{
    led_t *l = d->drv;

    (void)sess;
    if (len == 0)
        return 0;
    l->on = buf[len - 1] != 0;
    return (int)len;
}

static int
led_ioctl(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
          uint32_t arg_len)
{
    led_t *l = d->drv;

    (void)sess;
    (void)arg;
    (void)arg_len;
    if (cmd != VOS_IOC_LED_TOGGLE)
        return VOS_EINVAL;
    l->on = !l->on;
    return l->on;
}

int
vmrt__led_get(vmrt__dev_t *d)
{
    return ((led_t *)d->drv)->on;
}

const vmrt__dev_ops_t vmrt__drv_led = {
    .kind = "gpio",
    .init = led_init,
    .fini = led_fini,
    .read = led_read,
    .write = led_write,
    .ioctl = led_ioctl,
};
