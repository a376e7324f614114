/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_rollout_blob: the rollout blob that vmctld keeps in SQLite
 * (server/vmctl/vmctld/src/rollout.c) as a restart reads it back: any
 * bytes go through vmctld_rollout_load().  A load must fail with a
 * documented code and a reason, or give a rollout that
 *   - saves back to exactly the bytes it came from, and loads again
 *     into the same observable rollout (round trip);
 *   - holds the invariants of rollout.h (counts add up, a final state
 *     fits the device states);
 *   - stays loadable and consistent through a few state machine steps
 *     (next, report, tick, pause, resume, abort) chosen from a hash of
 *     the input, with a save and load after every step: whatever a
 *     loaded rollout can reach must survive the next restart too.
 * With VMF_FUZZ_ROLLOUT_SEEDS=DIR, LLVMFuzzerInitialize writes blobs of
 * real rollouts in every state into DIR (tests/fuzz/run.sh does this).
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollout.h"

#define STEPS_MAX 12   /* state machine steps after a load */
#define OUT_MAX 64     /* devices taken from one vmctld_rollout_next() */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop with a message: libFuzzer keeps the input as a crash. */
static void die(const char *what, const char *detail)
    __attribute__((noreturn));

static void
die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_rollout_blob: %s%s%s\n", what,
            detail != NULL ? ": " : "", detail != NULL ? detail : "");
    abort();
}

/* ---- invariants ------------------------------------------------------ */

/* What rollout.h promises about any rollout, loaded or stepped. */
static void
check_invariants(const vmctld_rollout_t *r)
{
    vmctld_rollout_counts_t c, k;
    vmctld_rollout_device_t d;
    vmctld_rollout_state_t st = vmctld_rollout_state(r);
    vmctld_rollout_pause_t pr = vmctld_rollout_pause_reason(r);
    size_t i, n = vmctld_rollout_device_count(r);

    if (st > VMCTLD_ROLLOUT_FAILED || pr > VMCTLD_ROLLOUT_PAUSE_THRESHOLD)
        die("state or pause reason out of range", NULL);
    if ((st == VMCTLD_ROLLOUT_PAUSED) != (pr != VMCTLD_ROLLOUT_PAUSE_NONE))
        die("pause reason does not fit the state",
            vmctld_rollout_state_name(st));
    if (vmctld_rollout_params_check(vmctld_rollout_params(r), NULL, 0) != 0)
        die("parameters do not pass their own check", NULL);
    vmctld_rollout_counts(r, &c);
    if (c.total != n || n == 0 || n > VMCTLD_ROLLOUT_DEVICES_MAX)
        die("total is not the device count", NULL);
    memset(&k, 0, sizeof(k));
    for (i = 0; i < n; i++) {
        if (vmctld_rollout_device(r, i, &d) != 0)
            die("device in range refused", NULL);
        if (d.id == NULL || d.id[0] == '\0' ||
            strlen(d.id) >= VMCTLD_ROLLOUT_ID_MAX)
            die("bad device id", NULL);
        switch (d.state) {
        case VMCTLD_ROLLOUT_DEV_WAITING:
            k.waiting++;
            break;
        case VMCTLD_ROLLOUT_DEV_SENT:
            k.in_flight++;
            break;
        case VMCTLD_ROLLOUT_DEV_SUCCEEDED:
            k.succeeded++;
            break;
        case VMCTLD_ROLLOUT_DEV_FAILED:
        case VMCTLD_ROLLOUT_DEV_OFFLINE:
        case VMCTLD_ROLLOUT_DEV_TIMED_OUT:
            k.failed++;
            break;
        default:
            die("device state out of range", d.id);
        }
    }
    if (vmctld_rollout_device(r, n, &d) != VMCTLD_ROLLOUT_EINVAL)
        die("device out of range accepted", NULL);
    if (k.waiting != c.waiting || k.in_flight != c.in_flight ||
        k.succeeded != c.succeeded || k.failed != c.failed)
        die("counts do not match the device states",
            vmctld_rollout_state_name(st));
    if (st == VMCTLD_ROLLOUT_PENDING && c.waiting != n)
        die("pending rollout has sent devices", NULL);
    if (st == VMCTLD_ROLLOUT_SUCCEEDED && c.succeeded != n)
        die("succeeded rollout with devices not succeeded", NULL);
    if (st == VMCTLD_ROLLOUT_FAILED &&
        (c.waiting + c.in_flight != 0 || c.failed == 0))
        die("failed rollout that has not ended or has no failure", NULL);
}

/* Two rollouts look the same through every accessor. */
static void
check_same(const vmctld_rollout_t *a, const vmctld_rollout_t *b)
{
    vmctld_rollout_device_t da, db;
    vmctld_rollout_counts_t ca, cb;
    const vmctld_rollout_params_t *pa, *pb;
    size_t i, n = vmctld_rollout_device_count(a);

    pa = vmctld_rollout_params(a);
    pb = vmctld_rollout_params(b);
    if (pa->canary != pb->canary || pa->batch != pb->batch ||
        pa->batch_pct != pb->batch_pct ||
        pa->max_failures != pb->max_failures ||
        pa->max_failures_pct != pb->max_failures_pct ||
        pa->timeout_ms != pb->timeout_ms)
        die("round trip changed the parameters", NULL);
    if (vmctld_rollout_state(a) != vmctld_rollout_state(b) ||
        vmctld_rollout_pause_reason(a) != vmctld_rollout_pause_reason(b) ||
        strcmp(vmctld_rollout_pause_text(a),
               vmctld_rollout_pause_text(b)) != 0)
        die("round trip changed the state", NULL);
    vmctld_rollout_counts(a, &ca);
    vmctld_rollout_counts(b, &cb);
    if (memcmp(&ca, &cb, sizeof(ca)) != 0 ||
        vmctld_rollout_device_count(b) != n)
        die("round trip changed the counts", NULL);
    for (i = 0; i < n; i++) {
        (void)vmctld_rollout_device(a, i, &da);
        (void)vmctld_rollout_device(b, i, &db);
        if (strcmp(da.id, db.id) != 0 || da.state != db.state ||
            da.code != db.code || da.sent_ms != db.sent_ms ||
            da.batch != db.batch)
            die("round trip changed a device", da.id);
    }
}

/*
 * Save `r`, load the blob, save again: both blobs must be the same bytes
 * and the two rollouts the same.  With `orig`, the first blob must also
 * be exactly `orig` (r was loaded from it).
 */
static void
round_trip(const vmctld_rollout_t *r, const uint8_t *orig, size_t orig_len)
{
    vmctld_rollout_t *r2 = NULL;
    uint8_t *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    char err[256] = "";

    if (vmctld_rollout_save(r, &b1, &l1) != 0)
        die("save of a valid rollout failed", NULL);
    if (orig != NULL && (l1 != orig_len || memcmp(b1, orig, l1) != 0))
        die("save does not give back the loaded blob", NULL);
    if (vmctld_rollout_load(b1, l1, &r2, err, sizeof(err)) != 0)
        die("a saved blob does not load", err);
    check_invariants(r2);
    check_same(r, r2);
    if (vmctld_rollout_save(r2, &b2, &l2) != 0 || l2 != l1 ||
        memcmp(b1, b2, l1) != 0)
        die("second save differs from the first", NULL);
    free(b2);
    free(b1);
    vmctld_rollout_destroy(r2);
}

/* ---- steps --------------------------------------------------------- */

/* splitmix64: a few steps chosen by the input, reproducibly. */
static uint64_t
next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The latest send time of any device: steps start after it. */
static uint64_t
latest_sent(const vmctld_rollout_t *r)
{
    vmctld_rollout_device_t d;
    uint64_t t = 0;
    size_t i;

    for (i = 0; i < vmctld_rollout_device_count(r); i++)
        if (vmctld_rollout_device(r, i, &d) == 0 && d.sent_ms > t)
            t = d.sent_ms;
    return t;
}

/* The outcome for the i-th report of a step: two bits of x. */
static vmctld_rollout_outcome_t
outcome(uint64_t x, size_t i)
{
    return (vmctld_rollout_outcome_t)((x >> (2 * (i % 24))) % 3);
}

/* One step; its return code must be one the header documents. */
static void
step(vmctld_rollout_t *r, uint64_t *rnd, uint64_t *now)
{
    const char *out[OUT_MAX];
    vmctld_rollout_device_t d;
    vmctld_rollout_counts_t before, after;
    uint64_t x = next_rand(rnd);
    size_t n = vmctld_rollout_device_count(r), got, i;
    int rc;

    *now += x % 5000;
    vmctld_rollout_counts(r, &before);
    switch (x >> 61) {
    case 0:
    case 1:
        got = vmctld_rollout_next(r, *now, out, 1 + (x >> 8) % OUT_MAX);
        vmctld_rollout_counts(r, &after);
        if (got != before.waiting - after.waiting ||
            after.in_flight != before.in_flight + got)
            die("next: counts do not follow the devices handed out", NULL);
        for (i = 0; i < got; i++)
            if (vmctld_rollout_report(r, out[i], outcome(x, i),
                                      (int32_t)(x >> 32), *now) != 0)
                die("report of a device just sent refused", out[i]);
        break;
    case 2:
    case 3:
        i = (size_t)((x >> 8) % n);
        (void)vmctld_rollout_device(r, i, &d);
        rc = vmctld_rollout_report(r, d.id, outcome(x, 20),
                                   (int32_t)(x >> 32), *now);
        if (rc != 0 && rc != VMCTLD_ROLLOUT_EALREADY)
            die("report: undocumented code", vmctld_rollout_strerror(rc));
        if ((rc == 0) != (d.state == VMCTLD_ROLLOUT_DEV_SENT))
            die("report taken from a device not in flight, or refused",
                d.id);
        break;
    case 4:
        *now += vmctld_rollout_params(r)->timeout_ms;
        got = vmctld_rollout_tick(r, *now);
        vmctld_rollout_counts(r, &after);
        if (got > before.in_flight || after.in_flight != before.in_flight -
                                                             got)
            die("tick: counts do not follow the timeouts", NULL);
        break;
    case 5:
        rc = vmctld_rollout_pause(r);
        if (rc != 0 && rc != VMCTLD_ROLLOUT_ESTATE)
            die("pause: undocumented code", NULL);
        break;
    case 6:
        rc = vmctld_rollout_resume(r);
        if (rc != 0 && rc != VMCTLD_ROLLOUT_ESTATE)
            die("resume: undocumented code", NULL);
        break;
    default:
        if ((x & 0xff) == 0) { /* rarely: an abort ends everything */
            rc = vmctld_rollout_abort(r);
            if (rc != 0 && rc != VMCTLD_ROLLOUT_ESTATE)
                die("abort: undocumented code", NULL);
        }
        rc = vmctld_rollout_report(r, "no-such-device-in-any-rollout",
                                   VMCTLD_ROLLOUT_OUTCOME_SUCCESS, 0, *now);
        if (rc != VMCTLD_ROLLOUT_ENOENT)
            die("report of an unknown device not ENOENT", NULL);
        break;
    }
}

/* ---- seeds ----------------------------------------------------------- */

static void
write_seed(const char *dir, const char *name, const vmctld_rollout_t *r)
{
    char path[4096];
    uint8_t *buf;
    size_t len;
    FILE *f;

    if (r == NULL || vmctld_rollout_save(r, &buf, &len) != 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) != NULL) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    free(buf);
}

/*
 * Real rollouts, each saved after every step of its life: `fail_every`
 * makes every so many results a failure (0: none, so it succeeds), and
 * `end` stops it with an operator pause after step 2 (1) or an abort
 * after step 3 (2).
 */
static void
write_life(const char *dir, int k, unsigned fail_every, int end)
{
    static const char *const ids[] = { "d1",     "d2",       "d3",  "dev-04",
                                       "dev-05", "sensor.6", "x_7", "d8" };
    const uint64_t t0 = 1790000000000ull;
    vmctld_rollout_params_t p;
    vmctld_rollout_t *r;
    const char *out[8], *held = NULL;
    char name[64];
    size_t got, i, sent = 0;
    int s;

    vmctld_rollout_params_default(&p);
    p.canary = (uint32_t)k % 3;
    p.batch = k % 2 == 0 ? 3 : 25;
    p.batch_pct = k % 2 != 0;
    p.max_failures = k == 3 ? 50 : (uint32_t)k;
    p.max_failures_pct = k == 3;
    p.timeout_ms = k == 0 ? 0 : 60000;
    r = vmctld_rollout_create(&p, ids, sizeof(ids) / sizeof(ids[0]) - (size_t)k,
                              t0, NULL, 0);
    if (r == NULL)
        return;
    snprintf(name, sizeof(name), "ro%d-0-pending", k);
    write_seed(dir, name, r);
    for (s = 1; s <= 8; s++) {
        /* A device held in flight last step answers now. */
        if (held != NULL)
            (void)vmctld_rollout_report(r, held,
                                        fail_every != 0
                                            ? VMCTLD_ROLLOUT_OUTCOME_OFFLINE
                                            : VMCTLD_ROLLOUT_OUTCOME_SUCCESS,
                                        0, t0 + 1000u * (unsigned)s);
        held = NULL;
        got = vmctld_rollout_next(r, t0 + 1000u * (unsigned)s, out, 8);
        for (i = 0; i < got; i++, sent++) {
            /* The last device of a batch stays in flight for one step. */
            if (i + 1 == got && s % 3 == 2) {
                held = out[i];
                continue;
            }
            (void)vmctld_rollout_report(
                r, out[i],
                fail_every != 0 && sent % fail_every == 0
                    ? VMCTLD_ROLLOUT_OUTCOME_FAILED
                    : VMCTLD_ROLLOUT_OUTCOME_SUCCESS,
                -7, t0 + 1000u * (unsigned)s + 1);
        }
        (void)vmctld_rollout_tick(r, t0 + 1000u * (unsigned)s + 500);
        snprintf(name, sizeof(name), "ro%d-%d-%s", k, s,
                 vmctld_rollout_state_name(vmctld_rollout_state(r)));
        write_seed(dir, name, r);
        if (vmctld_rollout_state(r) == VMCTLD_ROLLOUT_PAUSED)
            (void)vmctld_rollout_resume(r);
        if (s == 2 && end == 1 && vmctld_rollout_pause(r) == 0) {
            snprintf(name, sizeof(name), "ro%d-paused", k);
            write_seed(dir, name, r);
            break;
        }
        if (s == 3 && end == 2 && vmctld_rollout_abort(r) == 0) {
            snprintf(name, sizeof(name), "ro%d-aborted", k);
            write_seed(dir, name, r);
            break;
        }
    }
    vmctld_rollout_destroy(r);
}

static void
write_seeds(const char *dir)
{
    write_life(dir, 0, 0, 0);
    write_life(dir, 1, 3, 0);
    write_life(dir, 2, 0, 1);
    write_life(dir, 3, 2, 2);
    write_life(dir, 4, 5, 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VMF_FUZZ_ROLLOUT_SEEDS");

    (void)argc;
    (void)argv;
    if (dir != NULL && *dir != '\0')
        write_seeds(dir);
    return 0;
}

/* ---- one input ------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vmctld_rollout_t *r = NULL;
    char err[256];
    uint64_t rnd = 0xcbf29ce484222325ull, now;
    size_t i, steps;
    int rc;

    err[0] = '\0';
    rc = vmctld_rollout_load(data, size, &r, err, sizeof(err));
    if (rc != 0) {
        if (rc != VMCTLD_ROLLOUT_EFORMAT && rc != VMCTLD_ROLLOUT_ENOMEM)
            die("load: undocumented code", vmctld_rollout_strerror(rc));
        if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
            die("load failed without a reason", NULL);
        if (r != NULL)
            die("load failed but gave a rollout", NULL);
        return 0;
    }
    check_invariants(r);
    round_trip(r, data, size);

    /* The steps: how many and which come from the input's hash. */
    for (i = 0; i < size; i++)
        rnd = (rnd ^ data[i]) * 0x100000001b3ull;
    steps = (size_t)(next_rand(&rnd) % (STEPS_MAX + 1));
    now = latest_sent(r);
    for (i = 0; i < steps; i++) {
        step(r, &rnd, &now);
        check_invariants(r);
        round_trip(r, NULL, 0);
    }
    vmctld_rollout_destroy(r);
    return 0;
}
