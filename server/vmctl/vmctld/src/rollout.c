/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The rollout state machine (rollout.h).  Devices are handed out in the
 * order of the target list, so the devices that have been sent always
 * form a prefix of it, [0, cursor), and only the current batch
 * [bs, be) can have devices in flight.  The blob therefore stores the
 * parameters, the rollout's state and each device's state only; batch
 * numbers, the cursor, the current batch and the counters are derived
 * again on load, and the blob is rejected if they do not fit together.
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollout.h"

#define BLOB_MAGIC   "VRO1"
#define BLOB_VERSION 1u
#define BLOB_HEADER  (4 + 4 + 4 + 1 + 4 + 1 + 8 + 8 + 1 + 1 + 8 + 8)
#define BLOB_DEVICE  (1 + 4 + 8) /* after the id: state, code, sent_ms */

typedef struct rdev {
    const char *id;            /* into the rollout's name arena */
    uint64_t sent_ms;
    int32_t code;
    uint32_t batch;
    uint8_t state;             /* vmctld_rollout_dev_state_t */
} rdev_t;

struct vmctld_rollout {
    vmctld_rollout_params_t params;
    uint64_t created_ms;
    vmctld_rollout_state_t state;
    vmctld_rollout_pause_t pause;
    size_t n;
    rdev_t *devs;
    char *names;
    size_t *slots;             /* id hash table: device index + 1, 0 empty */
    size_t nslots;             /* a power of two, at least 2n */
    size_t cursor;             /* devices [0, cursor) have been sent */
    size_t bs, be;             /* the current batch; be == 0: none yet */
    size_t waiting, in_flight, succeeded, failed;
    size_t failures_accepted;  /* failed count at the last resume */
};

static const struct {
    int code;
    const char *text;
} errtab[] = {
#define VMCTLD_ROLLOUT_ERR_ROW(name, val, text) { (val), (text) },
    VMCTLD_ROLLOUT_ERRORS(VMCTLD_ROLLOUT_ERR_ROW)
#undef VMCTLD_ROLLOUT_ERR_ROW
};

const char *
vmctld_rollout_strerror(int err)
{
    size_t i;

    if (err == 0)
        return "success";
    for (i = 0; i < sizeof(errtab) / sizeof(errtab[0]); i++)
        if (errtab[i].code == err)
            return errtab[i].text;
    return "unknown error";
}

const char *
vmctld_rollout_state_name(vmctld_rollout_state_t s)
{
    static const char *const names[] = {
        "pending", "running", "paused", "aborted", "succeeded", "failed",
    };

    if ((size_t)s >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[s];
}

const char *
vmctld_rollout_dev_state_name(vmctld_rollout_dev_state_t s)
{
    static const char *const names[] = {
        "waiting", "sent", "succeeded", "failed", "offline", "timed_out",
    };

    if ((size_t)s >= sizeof(names) / sizeof(names[0]))
        return "unknown";
    return names[s];
}

__attribute__((format(printf, 3, 4))) static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void
vmctld_rollout_params_default(vmctld_rollout_params_t *p)
{
    if (p == NULL)
        return;
    memset(p, 0, sizeof(*p));
    p->canary = VMCTLD_ROLLOUT_CANARY_DEFAULT;
    p->batch = 10;
    p->batch_pct = true;
    p->max_failures = 0;
    p->max_failures_pct = false;
    p->timeout_ms = 10u * 60u * 1000u;
}

int
vmctld_rollout_params_check(const vmctld_rollout_params_t *p, char *err,
                            size_t errlen)
{
    if (p == NULL) {
        seterr(err, errlen, "no parameters");
        return VMCTLD_ROLLOUT_EINVAL;
    }
    if (p->batch == 0 || (p->batch_pct && p->batch > 100)) {
        seterr(err, errlen, "batch: must be %s, not %u",
               p->batch_pct ? "1..100%" : "at least 1", p->batch);
        return VMCTLD_ROLLOUT_EINVAL;
    }
    if (p->max_failures_pct && p->max_failures > 100) {
        seterr(err, errlen, "max_failures: must be 0..100%%, not %u%%",
               p->max_failures);
        return VMCTLD_ROLLOUT_EINVAL;
    }
    return 0;
}

/* FNV-1a: device ids are short and not chosen to collide. */
static size_t
hash_id(const char *s)
{
    uint64_t h = 14695981039346656037ull;

    while (*s != '\0') {
        h ^= (uint8_t)*s++;
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

/*
 * find: the index of device `id`, or n if it is not a target.
 */
static size_t
find(const vmctld_rollout_t *r, const char *id)
{
    size_t mask = r->nslots - 1;
    size_t i = hash_id(id) & mask;

    while (r->slots[i] != 0) {
        if (strcmp(r->devs[r->slots[i] - 1].id, id) == 0)
            return r->slots[i] - 1;
        i = (i + 1) & mask;
    }
    return r->n;
}

/*
 * Size of the batch starting at device `start` when it is batch number
 * `k`: the canary first, then N or P% of all targets (rounded up, at
 * least 1), cut at the end of the list.
 */
static size_t
batch_size(const vmctld_rollout_params_t *p, size_t n, uint32_t k,
           size_t start)
{
    size_t sz;

    if (k == 0 && p->canary > 0) {
        sz = p->canary;
    } else if (p->batch_pct) {
        sz = (n * p->batch + 99) / 100;
        if (sz == 0)
            sz = 1;
    } else {
        sz = p->batch;
    }
    if (sz > n - start)
        sz = n - start;
    return sz;
}

/* Give every device its batch number, which depends on params and n only. */
static void
assign_batches(vmctld_rollout_t *r)
{
    size_t i = 0, sz, j;
    uint32_t k = 0;

    while (i < r->n) {
        sz = batch_size(&r->params, r->n, k, i);
        for (j = 0; j < sz; j++)
            r->devs[i + j].batch = k;
        i += sz;
        k++;
    }
}

/*
 * Allocate a rollout for `n` devices whose ids take `names_len` bytes
 * with their NULs, and its hash table.  Return: the rollout, or NULL.
 */
static vmctld_rollout_t *
alloc_rollout(size_t n, size_t names_len)
{
    vmctld_rollout_t *r;

    if ((r = calloc(1, sizeof(*r))) == NULL)
        return NULL;
    r->n = n;
    r->nslots = 16;
    while (r->nslots < 2 * n)
        r->nslots *= 2;
    r->devs = calloc(n, sizeof(*r->devs));
    r->names = malloc(names_len);
    r->slots = calloc(r->nslots, sizeof(*r->slots));
    if (r->devs == NULL || r->names == NULL || r->slots == NULL) {
        vmctld_rollout_destroy(r);
        return NULL;
    }
    return r;
}

/*
 * Insert device i into the hash table.  Return: 0, or
 * VMCTLD_ROLLOUT_EINVAL if its id is already there.
 */
static int
insert(vmctld_rollout_t *r, size_t i)
{
    size_t mask = r->nslots - 1;
    size_t s = hash_id(r->devs[i].id) & mask;

    while (r->slots[s] != 0) {
        if (strcmp(r->devs[r->slots[s] - 1].id, r->devs[i].id) == 0)
            return VMCTLD_ROLLOUT_EINVAL;
        s = (s + 1) & mask;
    }
    r->slots[s] = i + 1;
    return 0;
}

/*
 * Check one id and return its length, or 0 with `err` filled if it is
 * empty or too long.
 */
static size_t
id_len(const char *id, size_t i, char *err, size_t errlen)
{
    size_t len;

    if (id == NULL || id[0] == '\0') {
        seterr(err, errlen, "device %zu: empty id", i);
        return 0;
    }
    for (len = 0; len < VMCTLD_ROLLOUT_ID_MAX && id[len] != '\0'; len++)
        ;
    if (len >= VMCTLD_ROLLOUT_ID_MAX) {
        seterr(err, errlen, "device %zu: id longer than %d bytes", i,
               VMCTLD_ROLLOUT_ID_MAX - 1);
        return 0;
    }
    return len;
}

vmctld_rollout_t *
vmctld_rollout_create(const vmctld_rollout_params_t *p,
                      const char *const *ids, size_t n, uint64_t now_ms,
                      char *err, size_t errlen)
{
    vmctld_rollout_t *r;
    size_t i, len, total = 0, off = 0;

    if (vmctld_rollout_params_check(p, err, errlen) != 0)
        return NULL;
    if (ids == NULL || n == 0 || n > VMCTLD_ROLLOUT_DEVICES_MAX) {
        seterr(err, errlen, "devices: need 1..%u, got %zu",
               VMCTLD_ROLLOUT_DEVICES_MAX, ids == NULL ? 0 : n);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        if ((len = id_len(ids[i], i, err, errlen)) == 0)
            return NULL;
        total += len + 1;
    }
    if ((r = alloc_rollout(n, total)) == NULL) {
        seterr(err, errlen, "out of memory for %zu devices", n);
        return NULL;
    }
    r->params = *p;
    r->created_ms = now_ms;
    r->state = VMCTLD_ROLLOUT_PENDING;
    for (i = 0; i < n; i++) {
        len = strlen(ids[i]) + 1;
        memcpy(r->names + off, ids[i], len);
        r->devs[i].id = r->names + off;
        off += len;
        if (insert(r, i) != 0) {
            seterr(err, errlen, "device %zu: duplicate id \"%s\"", i, ids[i]);
            vmctld_rollout_destroy(r);
            return NULL;
        }
    }
    assign_batches(r);
    r->waiting = n;
    return r;
}

void
vmctld_rollout_destroy(vmctld_rollout_t *r)
{
    if (r == NULL)
        return;
    free(r->slots);
    free(r->names);
    free(r->devs);
    free(r);
}

static bool
threshold_exceeded(const vmctld_rollout_t *r)
{
    if (r->params.max_failures_pct)
        return (uint64_t)r->failed * 100u >
               (uint64_t)r->params.max_failures * r->n;
    return r->failed > r->params.max_failures;
}

static bool
is_final(vmctld_rollout_state_t s)
{
    return s == VMCTLD_ROLLOUT_ABORTED || s == VMCTLD_ROLLOUT_SUCCEEDED ||
           s == VMCTLD_ROLLOUT_FAILED;
}

/*
 * After a device ended: end the rollout once every device has ended, or
 * pause it if a failure not yet accepted by a resume crosses the
 * threshold.  A threshold pause replaces an operator pause, as the more
 * urgent reason.
 */
static void
settle(vmctld_rollout_t *r)
{
    if (is_final(r->state))
        return;
    if (r->waiting == 0 && r->in_flight == 0) {
        r->state = r->failed == 0 ? VMCTLD_ROLLOUT_SUCCEEDED
                                  : VMCTLD_ROLLOUT_FAILED;
        r->pause = VMCTLD_ROLLOUT_PAUSE_NONE;
        return;
    }
    if (threshold_exceeded(r) && r->failed > r->failures_accepted) {
        r->state = VMCTLD_ROLLOUT_PAUSED;
        r->pause = VMCTLD_ROLLOUT_PAUSE_THRESHOLD;
    }
}

/* Move device i out of flight into final state `st`. */
static void
end_device(vmctld_rollout_t *r, size_t i, vmctld_rollout_dev_state_t st,
           int32_t code)
{
    r->devs[i].state = (uint8_t)st;
    r->devs[i].code = code;
    r->in_flight--;
    if (st == VMCTLD_ROLLOUT_DEV_SUCCEEDED)
        r->succeeded++;
    else
        r->failed++;
}

size_t
vmctld_rollout_next(vmctld_rollout_t *r, uint64_t now_ms, const char **out,
                    size_t cap)
{
    size_t k = 0;

    if (r == NULL || out == NULL || cap == 0)
        return 0;
    if (r->state == VMCTLD_ROLLOUT_PENDING)
        r->state = VMCTLD_ROLLOUT_RUNNING;
    if (r->state != VMCTLD_ROLLOUT_RUNNING)
        return 0;
    /* The current batch has ended: start the next one. */
    if (r->cursor == r->be && r->in_flight == 0 && r->be < r->n) {
        r->bs = r->be;
        while (r->be < r->n && r->devs[r->be].batch == r->devs[r->bs].batch)
            r->be++;
    }
    while (r->cursor < r->be && k < cap) {
        rdev_t *d = &r->devs[r->cursor++];

        d->state = VMCTLD_ROLLOUT_DEV_SENT;
        d->sent_ms = now_ms;
        r->waiting--;
        r->in_flight++;
        out[k++] = d->id;
    }
    return k;
}

int
vmctld_rollout_report(vmctld_rollout_t *r, const char *id,
                      vmctld_rollout_outcome_t outcome, int32_t code,
                      uint64_t now_ms)
{
    size_t i;

    (void)now_ms; /* kept in the API for a future per-device end time */
    if (r == NULL || id == NULL)
        return VMCTLD_ROLLOUT_EINVAL;
    if ((i = find(r, id)) == r->n)
        return VMCTLD_ROLLOUT_ENOENT;
    if (r->devs[i].state != VMCTLD_ROLLOUT_DEV_SENT)
        return VMCTLD_ROLLOUT_EALREADY;
    switch (outcome) {
    case VMCTLD_ROLLOUT_OUTCOME_SUCCESS:
        end_device(r, i, VMCTLD_ROLLOUT_DEV_SUCCEEDED, 0);
        break;
    case VMCTLD_ROLLOUT_OUTCOME_FAILED:
        end_device(r, i, VMCTLD_ROLLOUT_DEV_FAILED, code);
        break;
    case VMCTLD_ROLLOUT_OUTCOME_OFFLINE:
        end_device(r, i, VMCTLD_ROLLOUT_DEV_OFFLINE, 0);
        break;
    default:
        return VMCTLD_ROLLOUT_EINVAL;
    }
    settle(r);
    return 0;
}

size_t
vmctld_rollout_tick(vmctld_rollout_t *r, uint64_t now_ms)
{
    size_t i, k = 0;
    uint64_t t;

    if (r == NULL || r->params.timeout_ms == 0 || r->in_flight == 0)
        return 0;
    t = r->params.timeout_ms;
    for (i = r->bs; i < r->cursor; i++) {
        rdev_t *d = &r->devs[i];

        /* Written as a subtraction so that a huge timeout never wraps. */
        if (d->state == VMCTLD_ROLLOUT_DEV_SENT && now_ms >= d->sent_ms &&
            now_ms - d->sent_ms >= t) {
            end_device(r, i, VMCTLD_ROLLOUT_DEV_TIMED_OUT, 0);
            k++;
        }
    }
    if (k > 0)
        settle(r);
    return k;
}

int
vmctld_rollout_pause(vmctld_rollout_t *r)
{
    if (r == NULL)
        return VMCTLD_ROLLOUT_EINVAL;
    if (r->state != VMCTLD_ROLLOUT_PENDING &&
        r->state != VMCTLD_ROLLOUT_RUNNING)
        return VMCTLD_ROLLOUT_ESTATE;
    r->state = VMCTLD_ROLLOUT_PAUSED;
    r->pause = VMCTLD_ROLLOUT_PAUSE_OPERATOR;
    return 0;
}

int
vmctld_rollout_resume(vmctld_rollout_t *r)
{
    if (r == NULL)
        return VMCTLD_ROLLOUT_EINVAL;
    if (r->state != VMCTLD_ROLLOUT_PAUSED)
        return VMCTLD_ROLLOUT_ESTATE;
    r->state = VMCTLD_ROLLOUT_RUNNING;
    r->pause = VMCTLD_ROLLOUT_PAUSE_NONE;
    r->failures_accepted = r->failed;
    return 0;
}

int
vmctld_rollout_abort(vmctld_rollout_t *r)
{
    if (r == NULL)
        return VMCTLD_ROLLOUT_EINVAL;
    if (is_final(r->state))
        return VMCTLD_ROLLOUT_ESTATE;
    r->state = VMCTLD_ROLLOUT_ABORTED;
    r->pause = VMCTLD_ROLLOUT_PAUSE_NONE;
    return 0;
}

vmctld_rollout_state_t
vmctld_rollout_state(const vmctld_rollout_t *r)
{
    return r->state;
}

vmctld_rollout_pause_t
vmctld_rollout_pause_reason(const vmctld_rollout_t *r)
{
    return r->pause;
}

const char *
vmctld_rollout_pause_text(const vmctld_rollout_t *r)
{
    switch (r->pause) {
    case VMCTLD_ROLLOUT_PAUSE_OPERATOR:
        return "operator";
    case VMCTLD_ROLLOUT_PAUSE_THRESHOLD:
        return "failure threshold";
    default:
        return "";
    }
}

const vmctld_rollout_params_t *
vmctld_rollout_params(const vmctld_rollout_t *r)
{
    return &r->params;
}

void
vmctld_rollout_counts(const vmctld_rollout_t *r, vmctld_rollout_counts_t *c)
{
    c->total = r->n;
    c->waiting = r->waiting;
    c->in_flight = r->in_flight;
    c->succeeded = r->succeeded;
    c->failed = r->failed;
}

size_t
vmctld_rollout_device_count(const vmctld_rollout_t *r)
{
    return r->n;
}

int
vmctld_rollout_device(const vmctld_rollout_t *r, size_t i,
                      vmctld_rollout_device_t *d)
{
    if (r == NULL || d == NULL || i >= r->n)
        return VMCTLD_ROLLOUT_EINVAL;
    d->id = r->devs[i].id;
    d->state = (vmctld_rollout_dev_state_t)r->devs[i].state;
    d->code = r->devs[i].code;
    d->sent_ms = r->devs[i].sent_ms;
    d->batch = r->devs[i].batch;
    return 0;
}

/* ---- the blob ---- */

static uint8_t *
put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
    return p + 4;
}

static uint8_t *
put_u64(uint8_t *p, uint64_t v)
{
    p = put_u32(p, (uint32_t)v);
    return put_u32(p, (uint32_t)(v >> 32));
}

static uint32_t
get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
get_u64(const uint8_t *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

/*
 * Layout, little-endian: "VRO1", u32 version, u32 canary, u8 batch_pct,
 * u32 batch, u8 max_failures_pct, u64 max_failures (at most 2^32 - 1),
 * u64 timeout_ms, u8 state, u8 pause, u64 created_ms, u64
 * failures_accepted; u32 n; then per device: u8 id length, the id
 * (no NUL), u8 state, i32 code, u64 sent_ms.
 */
int
vmctld_rollout_save(const vmctld_rollout_t *r, uint8_t **out, size_t *len)
{
    size_t i, total = BLOB_HEADER + 4;
    uint8_t *buf, *p;

    if (r == NULL || out == NULL || len == NULL)
        return VMCTLD_ROLLOUT_EINVAL;
    for (i = 0; i < r->n; i++)
        total += 1 + strlen(r->devs[i].id) + BLOB_DEVICE;
    if ((buf = malloc(total)) == NULL)
        return VMCTLD_ROLLOUT_ENOMEM;
    p = buf;
    memcpy(p, BLOB_MAGIC, 4);
    p = put_u32(p + 4, BLOB_VERSION);
    p = put_u32(p, r->params.canary);
    *p++ = r->params.batch_pct ? 1 : 0;
    p = put_u32(p, r->params.batch);
    *p++ = r->params.max_failures_pct ? 1 : 0;
    p = put_u64(p, r->params.max_failures);
    p = put_u64(p, r->params.timeout_ms);
    *p++ = (uint8_t)r->state;
    *p++ = (uint8_t)r->pause;
    p = put_u64(p, r->created_ms);
    p = put_u64(p, r->failures_accepted);
    p = put_u32(p, (uint32_t)r->n);
    for (i = 0; i < r->n; i++) {
        const rdev_t *d = &r->devs[i];
        size_t l = strlen(d->id);

        *p++ = (uint8_t)l;
        memcpy(p, d->id, l);
        p += l;
        *p++ = d->state;
        p = put_u32(p, (uint32_t)d->code);
        p = put_u64(p, d->sent_ms);
    }
    *out = buf;
    *len = (size_t)(p - buf);
    return 0;
}

/*
 * Derive the cursor, the current batch and the counters from the device
 * states, and check that they fit the rollout's state.  Return: 0, or
 * VMCTLD_ROLLOUT_EFORMAT with `err` filled.
 */
static int
derive(vmctld_rollout_t *r, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < r->n; i++) {
        switch (r->devs[i].state) {
        case VMCTLD_ROLLOUT_DEV_WAITING:
            r->waiting++;
            break;
        case VMCTLD_ROLLOUT_DEV_SENT:
            r->in_flight++;
            break;
        case VMCTLD_ROLLOUT_DEV_SUCCEEDED:
            r->succeeded++;
            break;
        default:
            r->failed++;
            break;
        }
        if (r->devs[i].state != VMCTLD_ROLLOUT_DEV_WAITING) {
            if (i != r->cursor) {
                seterr(err, errlen, "device %zu: sent after a waiting one",
                       i);
                return VMCTLD_ROLLOUT_EFORMAT;
            }
            r->cursor++;
        }
    }
    if (r->cursor > 0) {
        uint32_t k = r->devs[r->cursor - 1].batch;

        r->bs = r->cursor - 1;
        while (r->bs > 0 && r->devs[r->bs - 1].batch == k)
            r->bs--;
        r->be = r->cursor;
        while (r->be < r->n && r->devs[r->be].batch == k)
            r->be++;
    }
    for (i = 0; i < r->bs; i++) {
        if (r->devs[i].state == VMCTLD_ROLLOUT_DEV_SENT) {
            seterr(err, errlen, "device %zu: in flight in an ended batch", i);
            return VMCTLD_ROLLOUT_EFORMAT;
        }
    }
    if ((r->state == VMCTLD_ROLLOUT_PENDING && r->cursor != 0) ||
        (r->state == VMCTLD_ROLLOUT_SUCCEEDED && r->succeeded != r->n) ||
        (r->state == VMCTLD_ROLLOUT_FAILED &&
         (r->waiting + r->in_flight != 0 || r->failed == 0)) ||
        ((r->state == VMCTLD_ROLLOUT_PAUSED) !=
         (r->pause != VMCTLD_ROLLOUT_PAUSE_NONE)) ||
        r->failures_accepted > r->failed) {
        seterr(err, errlen, "state \"%s\" does not fit the device states",
               vmctld_rollout_state_name(r->state));
        return VMCTLD_ROLLOUT_EFORMAT;
    }
    return 0;
}

int
vmctld_rollout_load(const uint8_t *buf, size_t len, vmctld_rollout_t **out,
                    char *err, size_t errlen)
{
    vmctld_rollout_params_t p;
    vmctld_rollout_t *r = NULL;
    const uint8_t *q, *end;
    size_t n, i, l, names_len, off = 0;
    uint64_t maxf;
    uint8_t state, pause, bpct, mpct;
    int rc = VMCTLD_ROLLOUT_EFORMAT;

    if (buf == NULL || out == NULL)
        return VMCTLD_ROLLOUT_EINVAL;
    end = buf + len;
    if (len < BLOB_HEADER + 4 || memcmp(buf, BLOB_MAGIC, 4) != 0) {
        seterr(err, errlen, "not a rollout blob (%zu bytes)", len);
        return VMCTLD_ROLLOUT_EFORMAT;
    }
    if (get_u32(buf + 4) != BLOB_VERSION) {
        seterr(err, errlen, "blob version %u, expected %u", get_u32(buf + 4),
               BLOB_VERSION);
        return VMCTLD_ROLLOUT_EFORMAT;
    }
    memset(&p, 0, sizeof(p));
    q = buf + 8;
    p.canary = get_u32(q);
    bpct = q[4];
    p.batch = get_u32(q + 5);
    mpct = q[9];
    maxf = get_u64(q + 10);
    p.timeout_ms = get_u64(q + 18);
    state = q[26];
    pause = q[27];
    q += 28;
    if (bpct > 1 || mpct > 1 || maxf > UINT32_MAX ||
        state > VMCTLD_ROLLOUT_FAILED ||
        pause > VMCTLD_ROLLOUT_PAUSE_THRESHOLD) {
        seterr(err, errlen, "bad flag, state or max_failures in the header");
        return VMCTLD_ROLLOUT_EFORMAT;
    }
    p.batch_pct = bpct != 0;
    p.max_failures_pct = mpct != 0;
    p.max_failures = (uint32_t)maxf;
    if (vmctld_rollout_params_check(&p, err, errlen) != 0)
        return VMCTLD_ROLLOUT_EFORMAT;
    q += 16; /* created_ms, failures_accepted: read below */
    n = get_u32(q);
    q += 4;
    if (n == 0 || n > VMCTLD_ROLLOUT_DEVICES_MAX ||
        n > (size_t)(end - q) / (1 + 1 + BLOB_DEVICE)) {
        seterr(err, errlen, "bad device count %zu", n);
        return VMCTLD_ROLLOUT_EFORMAT;
    }
    /* First pass: check the lengths and size the name arena. */
    names_len = 0;
    for (i = 0; i < n; i++) {
        if ((size_t)(end - q) < 1 || (l = q[0]) == 0 ||
            l >= VMCTLD_ROLLOUT_ID_MAX ||
            (size_t)(end - q) < 1 + l + BLOB_DEVICE) {
            seterr(err, errlen, "device %zu: truncated or bad id", i);
            return VMCTLD_ROLLOUT_EFORMAT;
        }
        if (memchr(q + 1, '\0', l) != NULL) {
            seterr(err, errlen, "device %zu: NUL in id", i);
            return VMCTLD_ROLLOUT_EFORMAT;
        }
        if (q[1 + l] > VMCTLD_ROLLOUT_DEV_TIMED_OUT) {
            seterr(err, errlen, "device %zu: bad state %u", i, q[1 + l]);
            return VMCTLD_ROLLOUT_EFORMAT;
        }
        names_len += l + 1;
        q += 1 + l + BLOB_DEVICE;
    }
    if (q != end) {
        seterr(err, errlen, "%zu trailing bytes", (size_t)(end - q));
        return VMCTLD_ROLLOUT_EFORMAT;
    }
    if ((r = alloc_rollout(n, names_len)) == NULL) {
        seterr(err, errlen, "out of memory for %zu devices", n);
        return VMCTLD_ROLLOUT_ENOMEM;
    }
    r->params = p;
    r->state = (vmctld_rollout_state_t)state;
    r->pause = (vmctld_rollout_pause_t)pause;
    r->created_ms = get_u64(buf + 8 + 28);
    r->failures_accepted = (size_t)get_u64(buf + 8 + 36);
    q = buf + BLOB_HEADER + 4;
    for (i = 0; i < n; i++) {
        rdev_t *d = &r->devs[i];

        l = q[0];
        memcpy(r->names + off, q + 1, l);
        r->names[off + l] = '\0';
        d->id = r->names + off;
        off += l + 1;
        q += 1 + l;
        d->state = q[0];
        d->code = (int32_t)get_u32(q + 1);
        d->sent_ms = get_u64(q + 5);
        q += BLOB_DEVICE;
        if (insert(r, i) != 0) {
            seterr(err, errlen, "device %zu: duplicate id \"%s\"", i, d->id);
            goto fail;
        }
    }
    assign_batches(r);
    if ((rc = derive(r, err, errlen)) != 0)
        goto fail;
    *out = r;
    return 0;
fail:
    vmctld_rollout_destroy(r);
    return rc;
}
