/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * uart0..: a serial line whose far end is the control API.  Bytes a VM
 * writes go to a transmit ring that vmrt_dev_uart_output() drains (the
 * newest 4 KiB are kept: a wire does not wait for a listener).  Bytes the
 * control API injects go to a 1 KiB receive ring (excess is dropped, as a
 * real uart overruns), wake a blocked reader and raise the uart's irq.
 */

#include <string.h>

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"

#define UART_RX 1024u
#define UART_TX 4096u

typedef struct {
    uint8_t rx[UART_RX];
    uint32_t rx_head, rx_len; /* oldest byte at rx_head */
    uint8_t tx[UART_TX];
    uint32_t tx_head, tx_len;
} uart_t;

static int
uart_init(vmrt__dev_t *d)
{
    if ((d->drv = vmrt__calloc(1, sizeof(uart_t))) == NULL)
        return VOS_ENOMEM;
    return 0;
}

static void
uart_fini(vmrt__dev_t *d)
{
    vmrt__free(d->drv);
    d->drv = NULL;
}

static int
uart_read(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len)
{
    uart_t *u = d->drv;
    uint32_t n, i;

    (void)sess;
    if (len == 0)
        return 0;
    if (u->rx_len == 0)
        return VOS_EAGAIN;
    n = len < u->rx_len ? len : u->rx_len;
    for (i = 0; i < n; i++)
        buf[i] = u->rx[(u->rx_head + i) % UART_RX];
    u->rx_head = (u->rx_head + n) % UART_RX;
    u->rx_len -= n;
    return (int)n;
}

static int
uart_write(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf, uint32_t len)
{
    uart_t *u = d->drv;
    uint32_t i;

    (void)sess;
    for (i = 0; i < len; i++) {
        u->tx[(u->tx_head + u->tx_len) % UART_TX] = buf[i];
        if (u->tx_len < UART_TX)
            u->tx_len++;
        else
            u->tx_head = (u->tx_head + 1) % UART_TX; /* lose the oldest */
    }
    return (int)len;
}

static int
uart_ioctl(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
           uint32_t arg_len)
{
    uart_t *u = d->drv;

    (void)sess;
    (void)arg;
    (void)arg_len;
    if (cmd != VOS_IOC_UART_AVAIL)
        return VOS_EINVAL;
    return (int)u->rx_len;
}

int
vmrt__uart_inject(vmrt__dev_t *d, const uint8_t *data, size_t len)
{
    uart_t *u = d->drv;
    size_t n, i;

    n = UART_RX - u->rx_len;
    if (len < n)
        n = len;
    for (i = 0; i < n; i++)
        u->rx[(u->rx_head + u->rx_len + i) % UART_RX] = data[i];
    u->rx_len += (uint32_t)n;
    if (n > 0) {
        vmrt__dev_readable(d);
        vmrt__dev_raise(d);
    }
    return (int)n;
}

size_t
vmrt__uart_output(vmrt__dev_t *d, uint8_t *buf, size_t len)
{
    uart_t *u = d->drv;
    size_t n, i;

    n = len < u->tx_len ? len : u->tx_len;
    for (i = 0; i < n; i++)
        buf[i] = u->tx[(u->tx_head + i) % UART_TX];
    u->tx_head = (uint32_t)((u->tx_head + n) % UART_TX);
    u->tx_len -= (uint32_t)n;
    return n;
}

const vmrt__dev_ops_t vmrt__drv_uart = {
    .kind = "uart",
    .init = uart_init,
    .fini = uart_fini,
    .read = uart_read,
    .write = uart_write,
    .ioctl = uart_ioctl,
};
