/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_DEV_H
#define VMRT_DEV_H

/*
 * The virtual devices' internal API for the control server (`vmrt ctl dev
 * NAME ...`): list the devices, inject and read uart bytes, set the
 * temperature waveform, read the leds, dump the lcd.  Every function takes
 * the runtime lock itself: call it WITHOUT rt->lock held, from any thread.
 * Devices exist from vmrt_rt_create to vmrt_rt_destroy.  Names are the
 * device names VMs open ("uart0", "lcd0", ...).  Errors are VOS_E* codes
 * (sdk/include/vos.h): VOS_ENOENT for an unknown name or a device of
 * another kind, VOS_EINVAL for bad arguments.
 */

#include <stddef.h>
#include <stdint.h>

#include "vmrt/runtime.h"

/** One row of vmrt_dev_list(). */
typedef struct {
    char name[VMRT_NAME_MAX];   /* "led0" */
    char kind[8];               /* "gpio", "uart", "temp", "spi", "i2c",
                                   "flash", "lcd" */
    uint32_t irq;               /* its interrupt line (vos_dev_irq) */
    uint32_t nopen;             /* handles open on it, all VMs */
    char holder[VMRT_NAME_MAX]; /* VM holding it exclusively, or "" */
} vmrt_dev_info_t;

/**
 * List the devices in registry order.
 * @param out  caller storage for up to `max` rows (may be NULL if max 0).
 * @return the number of devices (may exceed max).
 */
uint32_t vmrt_dev_list(vmrt_rt_t *rt, vmrt_dev_info_t *out, uint32_t max);

/**
 * Feed bytes into a uart's receive side, as if they came down the wire.
 * Wakes a VM blocked in vos_dev_read() on it and raises the uart's irq on
 * every VM attached to it (in VM priority order).  Bytes beyond the receive
 * buffer's free space (1 KiB) are dropped.
 * @return the number of bytes accepted, or VOS_ENOENT.
 */
int vmrt_dev_uart_inject(vmrt_rt_t *rt, const char *name, const void *data,
                         size_t len);

/**
 * Take (and remove) what VMs wrote to a uart, oldest first.  The transmit
 * buffer keeps the newest 4 KiB; older bytes are lost.
 * @return the number of bytes copied into buf, or VOS_ENOENT.
 */
int vmrt_dev_uart_output(vmrt_rt_t *rt, const char *name, void *buf,
                         size_t len);

/** Temperature waveforms (values in milli-degrees C, times in ms). */
typedef enum {
    VMRT_TEMP_CONST = 0, /* base */
    VMRT_TEMP_SINE,      /* base + amplitude * sin(2 pi t / period) */
    VMRT_TEMP_RAMP,      /* base + amplitude * (t mod period) / period */
    VMRT_TEMP_SCRIPT     /* points[0], points[1], ... one per sample, then
                            repeats */
} vmrt_temp_wave_t;

#define VMRT_TEMP_SCRIPT_MAX 64

typedef struct {
    vmrt_temp_wave_t wave;
    int32_t base;
    int32_t amplitude;
    uint32_t period_ms;                   /* sine and ramp; > 0 */
    int32_t points[VMRT_TEMP_SCRIPT_MAX]; /* script */
    uint32_t npoints;                     /* script: 1..VMRT_TEMP_SCRIPT_MAX */
} vmrt_temp_cfg_t;

/**
 * Set a temperature sensor's waveform; time restarts at 0.  The default
 * is constant 25000 (25.000 C).  `cfg` is copied.
 * @return 0, VOS_ENOENT, VOS_EINVAL (zero period, bad point count).
 */
int vmrt_dev_temp_set(vmrt_rt_t *rt, const char *name,
                      const vmrt_temp_cfg_t *cfg);

/**
 * A temperature sensor's current reading (what vos_dev_read returns now).
 * @return 0 and *mdeg, or VOS_ENOENT.
 */
int vmrt_dev_temp_read(vmrt_rt_t *rt, const char *name, int32_t *mdeg);

/**
 * A led's state.
 * @return 0 (off), 1 (on), or VOS_ENOENT.
 */
int vmrt_dev_led_get(vmrt_rt_t *rt, const char *name);

/**
 * Write an lcd's visible frame (the last one flushed) to `path` as a
 * binary PPM (P6, 8 bits per channel) image.
 * @return 0, VOS_ENOENT, or VOS_EINVAL if the file cannot be written.
 */
int vmrt_dev_lcd_dump(vmrt_rt_t *rt, const char *name, const char *path);

#endif /* VMRT_DEV_H */
