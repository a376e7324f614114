/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * temp0: a temperature sensor sampled every period_ms (default 100 ms).
 * read returns the latest sample as a little-endian int32 in milli-degrees
 * C: sample k (k = time since the waveform was set / period) has the
 * waveform's value at k * period_ms (a scripted waveform gives point k mod
 * npoints).  With VOS_IOC_TEMP_IRQ on, every new sample raises the
 * sensor's irq, from a runtime timer.
 */

#include <math.h>
#include <string.h>

#include "dev/dev_internal.h"

#include "engine/module.h"
#include "vos.h"

#define TEMP_PERIOD_MIN 10u
#define TEMP_PERIOD_MAX 60000u

typedef struct {
    vmrt_temp_cfg_t cfg;
    uint64_t t0_ns;     /* when the waveform (re)started */
    uint32_t period_ms; /* sample period */
    bool irq_on;
    vmrt__timer_t timer; /* next sample, while irq_on */
} temp_t;

int32_t
vmrt__temp_value(const vmrt_temp_cfg_t *c, uint64_t k, uint32_t period_ms)
{
    const double two_pi = 6.283185307179586;
    uint64_t t_ms = k * period_ms;
    double v;

    switch (c->wave) {
    case VMRT_TEMP_SINE:
        v = (double)c->amplitude *
            sin(two_pi * (double)(t_ms % c->period_ms) / (double)c->period_ms);
        return c->base + (int32_t)lround(v);
    case VMRT_TEMP_RAMP:
        v = (double)c->amplitude * (double)(t_ms % c->period_ms) /
            (double)c->period_ms;
        return c->base + (int32_t)lround(v);
    case VMRT_TEMP_SCRIPT:
        return c->points[k % c->npoints];
    case VMRT_TEMP_CONST:
    default:
        return c->base;
    }
}

static uint64_t
temp_sample_index(const temp_t *t)
{
    uint64_t now = pl_time_mono_ns();

    if (now < t->t0_ns)
        return 0;
    return (now - t->t0_ns) / ((uint64_t)t->period_ms * 1000000u);
}

/* The next sample boundary after now, on the monotonic clock. */
static uint64_t
temp_next_ns(const temp_t *t)
{
    uint64_t per = (uint64_t)t->period_ms * 1000000u;

    return t->t0_ns + (temp_sample_index(t) + 1) * per;
}

/* The sample timer: runs on the timer thread with rt->lock held. */
static void
temp_tick(vmrt__timer_t *tm)
{
    vmrt__dev_t *d = tm->arg;
    temp_t *t = d->drv;

    if (!t->irq_on)
        return;
    vmrt__dev_raise(d);
    vmrt__timer_arm(d->rt, &t->timer, temp_next_ns(t));
}

static void
temp_rearm(vmrt__dev_t *d)
{
    temp_t *t = d->drv;

    if (t->timer.armed)
        vmrt__timer_cancel(d->rt, &t->timer);
    if (t->irq_on)
        vmrt__timer_arm(d->rt, &t->timer, temp_next_ns(t));
}

static int
temp_init(vmrt__dev_t *d)
{
    temp_t *t;

    if ((t = vmrt__calloc(1, sizeof(*t))) == NULL)
        return VOS_ENOMEM;
    t->cfg.wave = VMRT_TEMP_CONST;
    t->cfg.base = 25000;
    t->cfg.period_ms = 1000;
    t->cfg.npoints = 1;
    t->period_ms = 100;
    t->t0_ns = pl_time_mono_ns();
    t->timer.fn = temp_tick;
    t->timer.arg = d;
    d->drv = t;
    return 0;
}

static void
temp_fini(vmrt__dev_t *d)
{
    temp_t *t = d->drv;

    if (t == NULL)
        return;
    if (t->timer.armed)
        vmrt__timer_cancel(d->rt, &t->timer);
    vmrt__free(t);
    d->drv = NULL;
}

int32_t
vmrt__temp_now(vmrt__dev_t *d)
{
    temp_t *t = d->drv;

    return vmrt__temp_value(&t->cfg, temp_sample_index(t), t->period_ms);
}

static int
temp_read(vmrt__dev_t *d, uint32_t *sess, uint8_t *buf, uint32_t len)
{
    (void)sess;
    if (len < 4)
        return VOS_EINVAL;
    vmrt__dev_put32(buf, (uint32_t)vmrt__temp_now(d));
    return 4;
}

static int
temp_write(vmrt__dev_t *d, uint32_t *sess, const uint8_t *buf, uint32_t len)
{
    (void)d;
    (void)sess;
    (void)buf;
    (void)len;
    return VOS_EINVAL; /* a sensor has nothing to write to */
}

static int
temp_ioctl(vmrt__dev_t *d, uint32_t *sess, uint32_t cmd, uint8_t *arg,
           uint32_t arg_len)
{
    temp_t *t = d->drv;
    uint32_t v;

    (void)sess;
    if (cmd != VOS_IOC_TEMP_SET_RATE && cmd != VOS_IOC_TEMP_IRQ)
        return VOS_EINVAL;
    if (arg_len < 4)
        return VOS_EINVAL;
    v = vmrt__dev_get32(arg);
    if (cmd == VOS_IOC_TEMP_SET_RATE) {
        if (v < TEMP_PERIOD_MIN || v > TEMP_PERIOD_MAX)
            return VOS_EINVAL;
        /* Sample k is at k * period from t0, so a new period restarts
         * the waveform from now; otherwise the sample index would jump. */
        t->period_ms = v;
        t->t0_ns = pl_time_mono_ns();
    } else {
        t->irq_on = v != 0;
    }
    temp_rearm(d);
    return 0;
}

int
vmrt__temp_set(vmrt__dev_t *d, const vmrt_temp_cfg_t *cfg)
{
    temp_t *t = d->drv;

    if (cfg->wave > VMRT_TEMP_SCRIPT)
        return VOS_EINVAL;
    if ((cfg->wave == VMRT_TEMP_SINE || cfg->wave == VMRT_TEMP_RAMP) &&
        cfg->period_ms == 0)
        return VOS_EINVAL;
    if (cfg->wave == VMRT_TEMP_SCRIPT &&
        (cfg->npoints == 0 || cfg->npoints > VMRT_TEMP_SCRIPT_MAX))
        return VOS_EINVAL;
    memcpy(&t->cfg, cfg, sizeof(t->cfg));
    if (t->cfg.period_ms == 0)
        t->cfg.period_ms = 1000;
    if (t->cfg.npoints == 0)
        t->cfg.npoints = 1;
    t->t0_ns = pl_time_mono_ns();
    temp_rearm(d);
    return 0;
}

const vmrt__dev_ops_t vmrt__drv_temp = {
    .kind = "temp",
    .init = temp_init,
    .fini = temp_fini,
    .read = temp_read,
    .write = temp_write,
    .ioctl = temp_ioctl,
};
