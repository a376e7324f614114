/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * ctld VM logs: the tail of a VM's log, asked from its device now (a
 * LOGS command, docs/protocol.md) for GET .../vms/{vm}/logs.
 *
 * The command is an ordinary one (a registry row, sent, answered,
 * final), except that its answer carries up to 64 KiB of text that the
 * registry does not keep: the caller waits in ctld_vm_logs() with a
 * waiter on c->logws, and the result handler copies the text into it
 * (ctld__logs_on_result()) before the command is finished.  A waiter
 * lives on its caller's stack and is on the list only while the caller
 * holds or waits for the core lock.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctld_internal.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * seq_len: the length of the valid UTF-8 sequence at p[0..n), which is
 * not NUL (a NUL would end the text in every C string after us).
 * Return: 1..4, or 0 if p does not start a valid sequence (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or
 * cut short).
 */
static size_t
seq_len(const uint8_t *p, size_t n)
{
    uint8_t b = p[0];
    size_t len, i;
    uint32_t cp;

    if (b == 0)
        return 0;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        len = 2;
        cp = b & 0x1fu;
    } else if (b >= 0xe0 && b <= 0xef) {
        len = 3;
        cp = b & 0x0fu;
    } else if (b >= 0xf0 && b <= 0xf4) {
        len = 4;
        cp = b & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return len;
}

/*
 * to_text: the device's bytes as a NUL-terminated UTF-8 string: every
 * byte that does not belong to a valid sequence (and every NUL) becomes
 * U+FFFD.  A tail cut at the front starts with at most three bytes of a
 * character it does not have: those are dropped instead.
 * Return: 0, or CTLD_ENOMEM.
 */
static int
to_text(const uint8_t *in, size_t n, bool cut, char **out, size_t *outlen)
{
    size_t i = 0, k = 0, s;
    char *t;

    while (cut && i < n && i < 3 && (in[i] & 0xc0) == 0x80)
        i++;
    if ((t = malloc(3 * (n - i) + 1)) == NULL)
        return CTLD_ENOMEM;
    while (i < n) {
        if ((s = seq_len(in + i, n - i)) == 0) {
            memcpy(t + k, REPLACEMENT, 3);
            k += 3;
            i++;
            continue;
        }
        memcpy(t + k, in + i, s);
        k += s;
        i += s;
    }
    t[k] = '\0';
    *out = t;
    *outlen = k;
    return 0;
}

void
ctld__logs_on_result(ctld_t *c, const ctld__cmd_t *k, const vmf_result_t *r)
{
    ctld__logw_t *w;

    for (w = c->logws; w != NULL; w = w->next)
        if (strcmp(w->cmd, k->r.id) == 0)
            break;
    if (w == NULL || w->done || !r->final)
        return; /* nobody waits any more: the text is dropped */
    w->done = true;
    w->code = (int32_t)r->code;
    ctld__copy(w->message, sizeof(w->message), r->message);
    if (r->len > 0 && (w->data = malloc(r->len)) != NULL) {
        memcpy(w->data, r->data, r->len);
        w->len = r->len;
    } else if (r->len > 0) {
        w->nomem = true;
    }
}

static void
logw_unlink(ctld_t *c, ctld__logw_t *w)
{
    ctld__logw_t **pp;

    for (pp = &c->logws; *pp != NULL; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            return;
        }
}

/* Does the device's last reported state list VM `vm`?  Core lock held.
 * Return: 1 yes, 0 no, or a CTLD_E* code. */
static int
vm_known(ctld_t *c, const char *device, const char *vm)
{
    vmctld_reg_device_t d;
    size_t i;
    int rc, found = 0;

    memset(&d, 0, sizeof(d));
    if ((rc = vmctld_reg_device_get(c->reg, device, &d)) != 0)
        return rc == VMCTLD_REG_ENOTFOUND
                   ? 0
                   : ctld__reg_err(c->reg, rc, NULL, 0, "reading a device");
    for (i = 0; i < d.n_vms; i++)
        if (strcmp(d.vms[i].name, vm) == 0)
            found = 1;
    vmctld_reg_device_clear(&d);
    return found;
}

/*
 * wait_answer: wait (core lock held, released while waiting) until the
 * command `id` is no longer pending or `until` passed.
 * Return: true if it ended (answered, or finished otherwise), false on
 * timeout or stop (it is then still pending, or gone at a stop).
 */
static bool
wait_answer(ctld_t *c, const char *id, const ctld__logw_t *w,
            const struct timespec *until)
{
    while (!w->done && ctld__cmd_find(c, id) != NULL) {
        if (c->stopping ||
            pthread_cond_timedwait(&c->cmd_cond, &c->lock, until) != 0)
            return w->done || ctld__cmd_find(c, id) == NULL;
    }
    return true;
}

/*
 * ended_otherwise: the command ended without an answer for us (expired,
 * timed out by the ticker, cancelled by an operator).  Core lock held.
 * Return: the CTLD_E* code and err for the caller.
 */
static int
ended_otherwise(ctld_t *c, const char *id, char *err, size_t errlen)
{
    vmctld_reg_command_t g;
    ctld_command_t r;
    int rc;

    if ((rc = vmctld_reg_command_get(c->reg, id, &g)) != 0)
        return ctld__reg_err(c->reg, rc, err, errlen, "reading a command");
    ctld__cmd_rec_from_reg(&r, &g);
    vmctld_reg_command_clear(&g);
    if (r.state == CTLD_CMD_CANCELLED)
        return ctld__err(err, errlen, CTLD_ESTATE,
                         "the logs command %s was cancelled", id);
    return ctld__err(err, errlen, CTLD_ETIMEDOUT,
                     "the device did not answer (%s)",
                     ctld_cmd_state_name(r.state));
}

/* Map the device's final code to ours; err says what happened. */
static int
answer_rc(const ctld__logw_t *w, const char *device, const char *vm,
          char *err, size_t errlen)
{
    char cn[16];

    switch (w->code) {
    case VMF_OK:
        return 0;
    case VMF_E_NOT_FOUND:
        return ctld__err(err, errlen, CTLD_ENOTFOUND,
                         "device %s has no VM %s", device, vm);
    case VMF_E_UNKNOWN_COMMAND:
        return ctld__err(err, errlen, CTLD_ESTATE,
                         "device %s does not support logs (update "
                         "vmrt-ota)",
                         device);
    default:
        return ctld__err(err, errlen, CTLD_ESTATE, "device %s: %s: %s",
                         device, ctld__code_name(w->code, cn, sizeof(cn)),
                         w->message);
    }
}

int
ctld_vm_logs(ctld_t *c, const char *device, const char *vm, uint32_t bytes,
             uint32_t timeout_ms, ctld_logs_t *out, char *err, size_t errlen)
{
    ctld__cmd_new_t n;
    ctld__logw_t w;
    ctld__cmd_t *k;
    ctld__dev_t *d;
    struct timespec until;
    bool answered;
    int rc;

    if (c == NULL || out == NULL)
        return ctld__err(err, errlen, CTLD_EINVAL, "no request");
    memset(out, 0, sizeof(*out));
    if (device == NULL || !vmf_device_id_valid(device))
        return ctld__err(err, errlen, CTLD_ENOTFOUND, "no device %s",
                         device != NULL ? device : "(none)");
    if (vm == NULL || vm[0] == '\0' || strlen(vm) >= VMF_NAME_MAX)
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "vm: expected 1 to %d characters", VMF_NAME_MAX - 1);
    if (bytes > VMF_RESULT_DATA_MAX)
        return ctld__err(err, errlen, CTLD_EINVAL,
                         "bytes: at most %u", (unsigned)VMF_RESULT_DATA_MAX);
    if (timeout_ms == 0)
        timeout_ms = CTLD_LOGS_TIMEOUT_MS;
    memset(&w, 0, sizeof(w));
    pthread_mutex_lock(&c->lock);
    if ((d = ctld__dev_find(c, device)) == NULL) {
        rc = ctld__err(err, errlen, CTLD_ENOTFOUND, "no device %s", device);
        goto out;
    }
    /* A VM the device never reported is not found, online or not. */
    if ((rc = vm_known(c, device, vm)) <= 0) {
        if (rc == 0)
            rc = ctld__err(err, errlen, CTLD_ENOTFOUND,
                           "device %s has no VM %s", device, vm);
        goto out;
    }
    if (!d->online) {
        rc = ctld__err(err, errlen, CTLD_ESTATE, "device %s is offline",
                       device);
        goto out;
    }
    memset(&n, 0, sizeof(n));
    n.dev = d;
    n.kind = VMF_CMD_LOGS;
    n.vm = vm;
    n.log_bytes = bytes;
    /* The ticker's deadline is a little later than our wait, so that
     * the wait decides and says so. */
    n.expiry_s = timeout_ms / 1000 + 2;
    n.timeout_s = n.expiry_s;
    if ((rc = ctld__cmd_create(c, &n, ctld__now_ms(), &k, err, errlen)) != 0)
        goto out;
    ctld__copy(w.cmd, sizeof(w.cmd), k->r.id);
    ctld__copy(out->command, sizeof(out->command), k->r.id);
    w.next = c->logws;
    c->logws = &w;
    until = ctld__mono_after(timeout_ms);
    answered = wait_answer(c, w.cmd, &w, &until);
    logw_unlink(c, &w);
    if (!answered) {
        if (c->stopping) {
            rc = ctld__err(err, errlen, CTLD_ESTATE, "shutting down");
            goto out;
        }
        /* Nobody reads a late answer: end the command now. */
        if ((k = ctld__cmd_find(c, w.cmd)) != NULL)
            ctld__cmd_finish(c, k,
                             k->r.state == CTLD_CMD_QUEUED
                                 ? CTLD_CMD_EXPIRED
                                 : CTLD_CMD_TIMED_OUT,
                             0, "no answer in time", ctld__now_ms());
        rc = ctld__err(err, errlen, CTLD_ETIMEDOUT,
                       "device %s did not answer within %u ms", device,
                       (unsigned)timeout_ms);
        goto out;
    }
    if (!w.done) {
        rc = ended_otherwise(c, w.cmd, err, errlen);
        goto out;
    }
    if ((rc = answer_rc(&w, device, vm, err, errlen)) != 0)
        goto out;
    if (w.nomem) {
        rc = ctld__err(err, errlen, CTLD_ENOMEM, "out of memory");
        goto out;
    }
    out->truncated = strcmp(w.message, "truncated") == 0;
    if ((rc = to_text(w.data, w.len, out->truncated, &out->text,
                      &out->len)) != 0)
        rc = ctld__err(err, errlen, rc, "out of memory");
out:
    pthread_mutex_unlock(&c->lock);
    free(w.data);
    return rc;
}

void
ctld_logs_clear(ctld_logs_t *l)
{
    if (l == NULL)
        return;
    free(l->text);
    memset(l, 0, sizeof(*l));
}
