/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The per-VM log ring: the VM's stdout, stderr and vos_log, plus the
 * runtime's own lines about it ("[vmrt] ...").  Each byte has a sequence
 * number, counted from the VM's creation; the ring keeps the newest
 * log_cap bytes, so a reader that falls behind skips to the oldest byte
 * kept rather than reading overwritten text.
 *
 * The ring starts small and doubles up to log_cap: most VMs log a few
 * lines, and a full ring per VM was the largest item of an idle VM's
 * memory (docs/performance.md).  While it grows it has never wrapped
 * (log_end <= log_alloc < log_cap), so byte `seq` sits at seq % log_cap
 * == seq in both phases and readers need not know which one it is in.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/module.h"
#include "vm/core.h"

/* The ring's first allocation; it doubles from there up to log_cap. */
#define LOG_FIRST_BYTES 256u

int
vmrt__log_init(vmrt_vm_t *vm, size_t cap)
{
    struct vmrt__vmext *x = vm->ext;

    /* The ring itself is allocated at the first append: an idle VM that
     * never logs costs no ring. */
    if (pl_mutex_init(&x->log_lock) != 0)
        return VMRT_ENOMEM;
    x->log_ready = true;
    x->log = NULL;
    x->log_cap = cap;
    x->log_alloc = 0;
    x->log_end = 0;
    return 0;
}

/*
 * log_grow: make room for `len` more bytes while the ring is still
 * growing.  log_lock held.
 * Return: false if out of memory (the ring is left as it was).
 */
static bool
log_grow(struct vmrt__vmext *x, size_t len)
{
    size_t want = x->log_alloc ? x->log_alloc : LOG_FIRST_BYTES;
    char *p;

    if (x->log_alloc >= x->log_cap || x->log_end + len <= x->log_alloc)
        return true;
    while (want < x->log_cap && want < x->log_end + len)
        want *= 2;
    if (want > x->log_cap)
        want = x->log_cap;
    if ((p = vmrt__realloc(x->log, want)) == NULL)
        return false;
    x->log = p;
    x->log_alloc = want;
    return true;
}

void
vmrt__log_fini(vmrt_vm_t *vm)
{
    struct vmrt__vmext *x = vm->ext;

    if (x == NULL || !x->log_ready)
        return;
    pl_mutex_destroy(&x->log_lock);
    vmrt__free(x->log);
    x->log = NULL;
    x->log_alloc = 0;
    x->log_ready = false;
}

void
vmrt__log_append(vmrt_vm_t *vm, const char *data, size_t len)
{
    struct vmrt__vmext *x = vm->ext;
    size_t pos, first;

    if (x == NULL || !x->log_ready || len == 0)
        return;
    pl_mutex_lock(&x->log_lock);
    if (!log_grow(x, len)) {
        /* Out of memory: the bytes are lost.  While the ring grows their
         * sequence numbers cannot be counted (seq must stay below
         * log_alloc), so readers just miss them; a ring already full
         * never gets here. */
        pl_mutex_unlock(&x->log_lock);
        return;
    }
    /* Only the newest log_cap bytes can survive: skip the rest. */
    if (len > x->log_cap) {
        x->log_end += len - x->log_cap;
        data += len - x->log_cap;
        len = x->log_cap;
    }
    pos = (size_t)(x->log_end % x->log_cap);
    first = x->log_cap - pos < len ? x->log_cap - pos : len;
    memcpy(x->log + pos, data, first);
    memcpy(x->log, data + first, len - first);
    x->log_end += len;
    pl_mutex_unlock(&x->log_lock);
}

void
vmrt__log_sys(vmrt_vm_t *vm, const char *fmt, ...)
{
    char line[192];
    va_list ap;
    int n;

    n = snprintf(line, sizeof(line), "[vmrt] ");
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    vmrt__log_append(vm, line, (size_t)n);
}

size_t
vmrt_vm_log_read(vmrt_rt_t *rt, const char *name, uint64_t seq, char *buf,
                 size_t len, uint64_t *next)
{
    struct vmrt__vmext *x;
    vmrt_vm_t *vm;
    uint64_t oldest;
    size_t n = 0, pos, first;

    pl_mutex_lock(&rt->lock);
    if ((vm = vmrt__vm_find(rt, name)) == NULL || vm->ext == NULL ||
        !vm->ext->log_ready) {
        pl_mutex_unlock(&rt->lock);
        if (next != NULL)
            *next = seq;
        return 0;
    }
    x = vm->ext;
    /* The ring lives as long as the VM; rt->lock keeps it from being
     * destroyed while we copy. */
    pl_mutex_lock(&x->log_lock);
    oldest = x->log_end > x->log_cap ? x->log_end - x->log_cap : 0;
    if (seq < oldest)
        seq = oldest;
    if (seq > x->log_end)
        seq = x->log_end;
    if (x->log_end - seq < len)
        n = (size_t)(x->log_end - seq);
    else
        n = len;
    if (n > 0 && x->log == NULL)
        n = 0; /* never allocated: everything was lost */
    if (n > 0) {
        pos = (size_t)(seq % x->log_cap);
        first = x->log_cap - pos < n ? x->log_cap - pos : n;
        memcpy(buf, x->log + pos, first);
        memcpy(buf + first, x->log, n - first);
    }
    pl_mutex_unlock(&x->log_lock);
    pl_mutex_unlock(&rt->lock);
    if (next != NULL)
        *next = seq + n;
    return n;
}
