/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * lcd0: a 128x64 RGB565 display with a back buffer that VMs draw into and
 * a front buffer that is "on the glass".  A write stores pixels (2 bytes
 * each, little-endian RGB565, row-major) from the handle's position
 * (VOS_IOC_LCD_SEEK {x, y}) on, advancing it; it stops at the end of the
 * screen and ignores a trailing odd byte.  A read returns back-buffer
 * pixels the same way.  VOS_IOC_LCD_FLUSH copies the back buffer to the
 * front, which vmrt_dev_lcd_dump() writes out as a PPM image.
 */

#include <stdio.h>
#include <string.h>

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"

#define LCD_W 128u
#define LCD_H 64u
#define LCD_PIX (LCD_W * LCD_H)

typedef struct {
    uint8_t back[LCD_PIX * 2];
    uint8_t front[LCD_PIX * 2];
} lcd_t;

enum { SESS_POS = 0 };

static int
lcd_init(vmrt__dev_t *d)
{
    if ((d->drv = vmrt__calloc(1, sizeof(lcd_t))) == NULL)
        return VOS_ENOMEM;
    return 0;
}

static void
lcd_fini(vmrt__dev_t *d)
{
    vmrt__free(d->drv);
    d->drv = NULL;
}

static int
lcd_read(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len)
{
    lcd_t *l = d->drv;
    uint32_t pos = sess[SESS_POS], n = len / 2;

    if (pos >= LCD_PIX)
        return 0;
    if (n > LCD_PIX - pos)
        n = LCD_PIX - pos;
    memcpy(buf, l->back + pos * 2, n * 2);
    sess[SESS_POS] = pos + n;
    return (int)(n * 2);
}

static int
lcd_write(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf, uint32_t len)
{
    lcd_t *l = d->drv;
    uint32_t pos = sess[SESS_POS], n = len / 2;

    if (pos >= LCD_PIX)
        return 0;
    if (n > LCD_PIX - pos)
        n = LCD_PIX - pos;
    memcpy(l->back + pos * 2, buf, n * 2);
    sess[SESS_POS] = pos + n;
    return (int)(n * 2);
}

static int
lcd_ioctl(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
          uint32_t arg_len)
{
    lcd_t *l = d->drv;
    uint32_t x, y;

    switch (cmd) {
    case VOS_IOC_LCD_INFO:
        if (arg_len < 12)
            return VOS_EINVAL;
        vmrt__dev_put32(arg, LCD_W);
        vmrt__dev_put32(arg + 4, LCD_H);
        vmrt__dev_put32(arg + 8, VOS_LCD_RGB565);
        return 0;
    case VOS_IOC_LCD_SEEK:
        if (arg_len < 8)
            return VOS_EINVAL;
        x = vmrt__dev_get32(arg);
        y = vmrt__dev_get32(arg + 4);
        if (x >= LCD_W || y >= LCD_H)
            return VOS_EINVAL;
        sess[SESS_POS] = y * LCD_W + x;
        return 0;
    case VOS_IOC_LCD_FLUSH:
        memcpy(l->front, l->back, sizeof(l->front));
        return 0;
    default:
        return VOS_EINVAL;
    }
}

int
vmrt__lcd_dump(vmrt__dev_t *d, const char *path)
{
    lcd_t *l = d->drv;
    char hdr[32];
    uint8_t *out, *p;
    size_t hlen, i;
    int rc;

    hlen = (size_t)snprintf(hdr, sizeof(hdr), "P6\n%u %u\n255\n", LCD_W, LCD_H);
    if ((out = vmrt__malloc(hlen + LCD_PIX * 3)) == NULL)
        return VOS_ENOMEM;
    memcpy(out, hdr, hlen);
    p = out + hlen;
    for (i = 0; i < LCD_PIX; i++) {
        uint32_t px = (uint32_t)l->front[i * 2] | (uint32_t)l->front[i * 2 + 1]
                                                      << 8;
        uint32_t r = px >> 11 & 0x1f, g = px >> 5 & 0x3f, b = px & 0x1f;

        /* Widen 5/6 bits to 8 by repeating the top bits, so full scale
         * maps to 255. */
        *p++ = (uint8_t)(r << 3 | r >> 2);
        *p++ = (uint8_t)(g << 2 | g >> 4);
        *p++ = (uint8_t)(b << 3 | b >> 2);
    }
    rc = pl_file_write_atomic(path, out, hlen + LCD_PIX * 3);
    vmrt__free(out);
    return rc == 0 ? 0 : VOS_EINVAL;
}

const vmrt__dev_ops_t vmrt__drv_lcd = {
    .kind = "lcd",
    .init = lcd_init,
    .fini = lcd_fini,
    .read = lcd_read,
    .write = lcd_write,
    .ioctl = lcd_ioctl,
};
