/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The rollout state machine (server/vmctl/vmctld/src/rollout.c): batch
 * sizes, thresholds, pause/resume/abort, timeouts, bad reports, and
 * save/load in the middle of scripted rollouts giving the same result
 * as an uninterrupted run.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rollout.h"

#define NDEV_MAX 32
#define OK       VMCTLD_ROLLOUT_OUTCOME_SUCCESS
#define FAIL     VMCTLD_ROLLOUT_OUTCOME_FAILED
#define OFF      VMCTLD_ROLLOUT_OUTCOME_OFFLINE

static char idbuf[NDEV_MAX][16];
static const char *ids[NDEV_MAX];

static void
make_ids(void)
{
    size_t i;

    for (i = 0; i < NDEV_MAX; i++) {
        snprintf(idbuf[i], sizeof(idbuf[i]), "dev-%02zu", i);
        ids[i] = idbuf[i];
    }
}

static vmctld_rollout_params_t
params(uint32_t canary, uint32_t batch, bool bpct, uint32_t maxf, bool mpct,
       uint64_t timeout_ms)
{
    vmctld_rollout_params_t p;

    vmctld_rollout_params_default(&p);
    p.canary = canary;
    p.batch = batch;
    p.batch_pct = bpct;
    p.max_failures = maxf;
    p.max_failures_pct = mpct;
    p.timeout_ms = timeout_ms;
    return p;
}

static vmctld_rollout_t *
create(const vmctld_rollout_params_t *p, size_t n)
{
    char err[128] = "";
    vmctld_rollout_t *r;

    make_ids();
    r = vmctld_rollout_create(p, ids, n, 1000, err, sizeof(err));
    if (r == NULL)
        fail_msg("create: %s", err);
    return r;
}

static vmctld_rollout_dev_state_t
dev_state(const vmctld_rollout_t *r, size_t i)
{
    vmctld_rollout_device_t d;

    assert_int_equal(vmctld_rollout_device(r, i, &d), 0);
    return d.state;
}

/* Hand out the next batch and check that it is devices [from, from+n). */
static void
expect_batch(vmctld_rollout_t *r, uint64_t now, size_t from, size_t n)
{
    const char *out[NDEV_MAX];
    size_t k, i;

    k = vmctld_rollout_next(r, now, out, NDEV_MAX);
    assert_int_equal(k, n);
    for (i = 0; i < n; i++)
        assert_string_equal(out[i], ids[from + i]);
}

/* Report `outcome` for devices [from, from+n). */
static void
report_range(vmctld_rollout_t *r, size_t from, size_t n,
             vmctld_rollout_outcome_t outcome)
{
    size_t i;

    for (i = from; i < from + n; i++)
        assert_int_equal(vmctld_rollout_report(r, ids[i], outcome, 7, 0), 0);
}

/*
 * Run a whole rollout where every device succeeds, recording the batch
 * sizes into `sizes`; return the number of batches.
 */
static size_t
batch_sizes(const vmctld_rollout_params_t *p, size_t n, size_t *sizes)
{
    vmctld_rollout_t *r = create(p, n);
    const char *out[NDEV_MAX];
    size_t k, nb = 0, sent = 0;

    while ((k = vmctld_rollout_next(r, 0, out, NDEV_MAX)) > 0) {
        /* Nothing more while the batch is in flight. */
        assert_int_equal(vmctld_rollout_next(r, 0, out, NDEV_MAX), 0);
        report_range(r, sent, k, OK);
        sent += k;
        sizes[nb++] = k;
    }
    assert_int_equal(sent, n);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_SUCCEEDED);
    vmctld_rollout_destroy(r);
    return nb;
}

static void
test_rollout_canary_then_batches_of_n(void **state)
{
    vmctld_rollout_params_t p = params(1, 3, false, 0, false, 0);
    size_t sizes[NDEV_MAX], nb;
    vmctld_rollout_t *r;
    vmctld_rollout_device_t d;

    (void)state;
    nb = batch_sizes(&p, 8, sizes);
    assert_int_equal(nb, 4); /* 1 + 3 + 3 + 1 */
    assert_int_equal(sizes[0], 1);
    assert_int_equal(sizes[1], 3);
    assert_int_equal(sizes[2], 3);
    assert_int_equal(sizes[3], 1);

    /* A batch starts only when every device of the last one ended. */
    r = create(&p, 8);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PENDING);
    expect_batch(r, 10, 0, 1);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    report_range(r, 0, 1, OK);
    expect_batch(r, 20, 1, 3);
    report_range(r, 1, 2, OK);
    expect_batch(r, 30, 0, 0);
    report_range(r, 3, 1, OK);
    expect_batch(r, 40, 4, 3);
    assert_int_equal(vmctld_rollout_device(r, 5, &d), 0);
    assert_string_equal(d.id, "dev-05");
    assert_int_equal(d.state, VMCTLD_ROLLOUT_DEV_SENT);
    assert_int_equal(d.sent_ms, 40);
    assert_int_equal(d.batch, 2);
    assert_int_equal(dev_state(r, 7), VMCTLD_ROLLOUT_DEV_WAITING);
    vmctld_rollout_destroy(r);

    /* No canary: batches from the start; a canary larger than the list. */
    p.canary = 0;
    nb = batch_sizes(&p, 5, sizes);
    assert_int_equal(nb, 2);
    assert_int_equal(sizes[0], 3);
    p.canary = 9;
    nb = batch_sizes(&p, 5, sizes);
    assert_int_equal(nb, 1);
    assert_int_equal(sizes[0], 5);
}

static void
test_rollout_batches_of_percent_round_up(void **state)
{
    vmctld_rollout_params_t p = params(2, 25, true, 0, false, 0);
    size_t sizes[NDEV_MAX], nb;

    (void)state;
    /* 25% of 10 is 2.5: batches of 3 after a canary of 2. */
    nb = batch_sizes(&p, 10, sizes);
    assert_int_equal(nb, 4);
    assert_int_equal(sizes[0], 2);
    assert_int_equal(sizes[1], 3);
    assert_int_equal(sizes[2], 3);
    assert_int_equal(sizes[3], 2);
    /* 1% of 10 is 0.1: at least one device per batch. */
    p = params(1, 1, true, 0, false, 0);
    nb = batch_sizes(&p, 4, sizes);
    assert_int_equal(nb, 4);
    assert_int_equal(sizes[3], 1);
    /* 100%: everything after the canary at once. */
    p = params(1, 100, true, 0, false, 0);
    nb = batch_sizes(&p, 6, sizes);
    assert_int_equal(nb, 2);
    assert_int_equal(sizes[1], 5);
}

static void
test_rollout_threshold_count_pauses(void **state)
{
    vmctld_rollout_params_t p = params(1, 3, false, 1, false, 0);
    vmctld_rollout_t *r = create(&p, 10);
    vmctld_rollout_counts_t c;
    vmctld_rollout_device_t d;

    (void)state;
    expect_batch(r, 0, 0, 1);
    report_range(r, 0, 1, FAIL); /* 1 failure: tolerated */
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    expect_batch(r, 0, 1, 3);
    assert_int_equal(vmctld_rollout_report(r, "dev-01", OFF, 0, 0), 0);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PAUSED);
    assert_int_equal(vmctld_rollout_pause_reason(r),
                     VMCTLD_ROLLOUT_PAUSE_THRESHOLD);
    assert_string_equal(vmctld_rollout_pause_text(r), "failure threshold");
    /* Devices in flight still report; nothing new is sent. */
    report_range(r, 2, 2, OK);
    expect_batch(r, 0, 0, 0);
    vmctld_rollout_counts(r, &c);
    assert_int_equal(c.failed, 2);
    assert_int_equal(c.succeeded, 2);
    assert_int_equal(c.waiting, 6);
    assert_int_equal(vmctld_rollout_device(r, 0, &d), 0);
    assert_int_equal(d.state, VMCTLD_ROLLOUT_DEV_FAILED);
    assert_int_equal(d.code, 7);
    assert_int_equal(dev_state(r, 1), VMCTLD_ROLLOUT_DEV_OFFLINE);
    /* Resume continues with the next batch... */
    assert_int_equal(vmctld_rollout_resume(r), 0);
    assert_int_equal(vmctld_rollout_pause_reason(r),
                     VMCTLD_ROLLOUT_PAUSE_NONE);
    expect_batch(r, 0, 4, 3);
    report_range(r, 4, 2, OK);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    /* ...and the next failure above the threshold pauses again. */
    report_range(r, 6, 1, FAIL);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PAUSED);
    assert_int_equal(vmctld_rollout_pause_reason(r),
                     VMCTLD_ROLLOUT_PAUSE_THRESHOLD);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_threshold_percent_pauses(void **state)
{
    /* 20% of 10 devices: 2 failures tolerated, the third pauses. */
    vmctld_rollout_params_t p = params(1, 5, false, 20, true, 0);
    vmctld_rollout_t *r = create(&p, 10);

    (void)state;
    expect_batch(r, 0, 0, 1);
    report_range(r, 0, 1, OK);
    expect_batch(r, 0, 1, 5);
    report_range(r, 1, 2, FAIL);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    report_range(r, 3, 1, FAIL);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PAUSED);
    assert_int_equal(vmctld_rollout_pause_reason(r),
                     VMCTLD_ROLLOUT_PAUSE_THRESHOLD);
    vmctld_rollout_destroy(r);

    /* 0%: the first failure pauses. */
    p = params(1, 5, false, 0, true, 0);
    r = create(&p, 10);
    expect_batch(r, 0, 0, 1);
    report_range(r, 0, 1, FAIL);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PAUSED);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_operator_pause_resume(void **state)
{
    vmctld_rollout_params_t p = params(1, 2, false, 0, false, 0);
    vmctld_rollout_t *r = create(&p, 5);

    (void)state;
    assert_int_equal(vmctld_rollout_resume(r), VMCTLD_ROLLOUT_ESTATE);
    expect_batch(r, 0, 0, 1);
    assert_int_equal(vmctld_rollout_pause(r), 0);
    assert_int_equal(vmctld_rollout_pause(r), VMCTLD_ROLLOUT_ESTATE);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PAUSED);
    assert_string_equal(vmctld_rollout_pause_text(r), "operator");
    report_range(r, 0, 1, OK); /* in flight: still taken */
    expect_batch(r, 0, 0, 0);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_PAUSED);
    assert_int_equal(vmctld_rollout_resume(r), 0);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    expect_batch(r, 0, 1, 2);
    report_range(r, 1, 2, OK);
    expect_batch(r, 0, 3, 2);
    report_range(r, 3, 2, OK);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_SUCCEEDED);
    assert_int_equal(vmctld_rollout_pause(r), VMCTLD_ROLLOUT_ESTATE);
    assert_int_equal(vmctld_rollout_abort(r), VMCTLD_ROLLOUT_ESTATE);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_abort_leaves_rest_untouched(void **state)
{
    vmctld_rollout_params_t p = params(1, 2, false, 0, false, 0);
    vmctld_rollout_t *r = create(&p, 5);
    vmctld_rollout_counts_t c;
    size_t i;

    (void)state;
    expect_batch(r, 0, 0, 1);
    report_range(r, 0, 1, OK);
    expect_batch(r, 0, 1, 2);
    assert_int_equal(vmctld_rollout_abort(r), 0);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_ABORTED);
    assert_int_equal(vmctld_rollout_abort(r), VMCTLD_ROLLOUT_ESTATE);
    assert_int_equal(vmctld_rollout_resume(r), VMCTLD_ROLLOUT_ESTATE);
    expect_batch(r, 0, 0, 0);
    /* The devices in flight still end; the rollout stays aborted. */
    report_range(r, 1, 2, FAIL);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_ABORTED);
    for (i = 3; i < 5; i++)
        assert_int_equal(dev_state(r, i), VMCTLD_ROLLOUT_DEV_WAITING);
    vmctld_rollout_counts(r, &c);
    assert_int_equal(c.waiting, 2);
    assert_int_equal(c.failed, 2);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_timeout_counts_as_failure(void **state)
{
    vmctld_rollout_params_t p = params(2, 2, false, 1, false, 1000);
    vmctld_rollout_t *r = create(&p, 4);
    vmctld_rollout_counts_t c;

    (void)state;
    expect_batch(r, 5000, 0, 2);
    assert_int_equal(vmctld_rollout_tick(r, 5999), 0);
    report_range(r, 0, 1, OK);
    assert_int_equal(vmctld_rollout_tick(r, 6000), 1);
    assert_int_equal(dev_state(r, 1), VMCTLD_ROLLOUT_DEV_TIMED_OUT);
    vmctld_rollout_counts(r, &c);
    assert_int_equal(c.failed, 1);
    assert_int_equal(c.in_flight, 0);
    /* A late answer changes nothing. */
    assert_int_equal(vmctld_rollout_report(r, "dev-01", OK, 0, 6001),
                     VMCTLD_ROLLOUT_EALREADY);
    assert_int_equal(dev_state(r, 1), VMCTLD_ROLLOUT_DEV_TIMED_OUT);
    /* One failure is tolerated; a second timeout crosses the threshold. */
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    expect_batch(r, 7000, 2, 2);
    assert_int_equal(vmctld_rollout_tick(r, 8000), 2);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_FAILED);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_bad_reports_ignored(void **state)
{
    vmctld_rollout_params_t p = params(1, 2, false, 0, false, 0);
    vmctld_rollout_t *r = create(&p, 4);
    vmctld_rollout_counts_t c;

    (void)state;
    assert_int_equal(vmctld_rollout_report(r, "dev-00", OK, 0, 0),
                     VMCTLD_ROLLOUT_EALREADY); /* not sent yet */
    expect_batch(r, 0, 0, 1);
    assert_int_equal(vmctld_rollout_report(r, "nobody", FAIL, 1, 0),
                     VMCTLD_ROLLOUT_ENOENT);
    assert_int_equal(vmctld_rollout_report(r, "", FAIL, 1, 0),
                     VMCTLD_ROLLOUT_ENOENT);
    assert_int_equal(vmctld_rollout_report(r, "dev-01", FAIL, 1, 0),
                     VMCTLD_ROLLOUT_EALREADY); /* in a later batch */
    assert_int_equal(vmctld_rollout_report(r, "dev-00", 99, 1, 0),
                     VMCTLD_ROLLOUT_EINVAL);
    assert_int_equal(vmctld_rollout_report(r, "dev-00", OK, 0, 0), 0);
    assert_int_equal(vmctld_rollout_report(r, "dev-00", FAIL, 3, 0),
                     VMCTLD_ROLLOUT_EALREADY); /* duplicate */
    vmctld_rollout_counts(r, &c);
    assert_int_equal(c.succeeded, 1);
    assert_int_equal(c.failed, 0);
    assert_int_equal(c.waiting, 3);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    assert_int_equal(dev_state(r, 0), VMCTLD_ROLLOUT_DEV_SUCCEEDED);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_end_states(void **state)
{
    vmctld_rollout_params_t p = params(1, 100, true, 1, false, 0);
    vmctld_rollout_t *r = create(&p, 3);

    (void)state;
    expect_batch(r, 0, 0, 1);
    report_range(r, 0, 1, OK);
    expect_batch(r, 0, 1, 2);
    report_range(r, 1, 2, OK);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_SUCCEEDED);
    expect_batch(r, 0, 0, 0);
    vmctld_rollout_destroy(r);

    /* A tolerated failure: every device ended, the rollout failed. */
    r = create(&p, 3);
    expect_batch(r, 0, 0, 1);
    report_range(r, 0, 1, OK);
    expect_batch(r, 0, 1, 2);
    report_range(r, 1, 1, FAIL);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_RUNNING);
    report_range(r, 2, 1, OK);
    assert_int_equal(vmctld_rollout_state(r), VMCTLD_ROLLOUT_FAILED);
    vmctld_rollout_destroy(r);
}

static void
test_rollout_create_rejects_bad_input(void **state)
{
    vmctld_rollout_params_t p = params(1, 2, false, 0, false, 0);
    const char *dup[] = { "a", "b", "a" };
    const char *empty[] = { "a", "" };
    char longid[VMCTLD_ROLLOUT_ID_MAX + 1];
    const char *toolong[] = { longid };
    char err[128];

    (void)state;
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    assert_null(vmctld_rollout_create(&p, dup, 3, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "duplicate id \"a\""));
    assert_null(vmctld_rollout_create(&p, empty, 2, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "device 1: empty id"));
    assert_null(vmctld_rollout_create(&p, toolong, 1, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "longer than"));
    assert_null(vmctld_rollout_create(&p, dup, 0, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "devices"));
    p.batch = 0;
    assert_null(vmctld_rollout_create(&p, dup, 2, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "batch"));
    p = params(1, 101, true, 0, false, 0);
    assert_null(vmctld_rollout_create(&p, dup, 2, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "batch"));
    p = params(1, 10, true, 101, true, 0);
    assert_null(vmctld_rollout_create(&p, dup, 2, 0, err, sizeof(err)));
    assert_non_null(strstr(err, "max_failures"));
}

/* ---- save/load: scripted scenarios ---- */

enum op_kind { NEXT, REP, TICK, PAUSE, RESUME, ABORT, END };

typedef struct op {
    enum op_kind kind;
    uint64_t t;          /* NEXT, TICK: time; REP: device index */
    int outcome;         /* REP */
} op_t;

typedef struct scenario {
    const char *name;
    vmctld_rollout_params_t p;
    size_t n;
    op_t ops[40];
} scenario_t;

#define N(t)     { NEXT, (t), 0 }
#define S(d)     { REP, (d), OK }
#define F(d)     { REP, (d), FAIL }
#define O(d)     { REP, (d), OFF }
#define T(t)     { TICK, (t), 0 }
#define P        { PAUSE, 0, 0 }
#define R        { RESUME, 0, 0 }
#define A        { ABORT, 0, 0 }
#define E        { END, 0, 0 }

static const scenario_t scenarios[] = {
    { "all succeed in batches of 2",
      { 1, 2, false, 0, false, 0 }, 5,
      { N(1), S(0), N(2), S(1), S(2), N(3), S(4), S(3), N(4), E } },
    { "threshold pause, resume, end failed",
      { 1, 40, true, 1, false, 0 }, 6,
      { N(1), F(0), N(2), O(1), S(2), N(3), R, N(4), S(3), N(5), S(4),
        S(5), N(6), E } },
    { "timeouts with devices in flight",
      { 2, 2, false, 2, false, 100 }, 6,
      { N(10), S(0), T(109), T(110), N(120), T(150), S(3), T(220),
        N(230), S(4), S(5), E } },
    { "operator pause, then abort",
      { 1, 3, false, 0, false, 0 }, 8,
      { N(1), S(0), N(2), P, S(1), N(3), R, S(2), N(4), S(3), N(5), A,
        S(4), N(6), E } },
    { "threshold by percent, resume, tolerated end",
      { 1, 50, true, 25, true, 50 }, 4,
      { N(1), O(0), N(2), F(1), T(60), R, N(70), S(3), E } },
};

/*
 * Run ops [from, to) of a scenario on `r`, appending what _next hands
 * out, and every return code, to the transcript `tr`.
 */
static void
run_ops(vmctld_rollout_t *r, const scenario_t *sc, size_t from, size_t to,
        char *tr, size_t trcap)
{
    const char *out[NDEV_MAX];
    size_t i, k, j;
    int rc;

    for (i = from; i < to; i++) {
        const op_t *o = &sc->ops[i];
        size_t len = strlen(tr);

        rc = 0;
        switch (o->kind) {
        case NEXT:
            k = vmctld_rollout_next(r, o->t, out, NDEV_MAX);
            snprintf(tr + len, trcap - len, "next:");
            for (j = 0; j < k; j++) {
                len = strlen(tr);
                snprintf(tr + len, trcap - len, "%s,", out[j]);
            }
            break;
        case REP:
            rc = vmctld_rollout_report(r, ids[o->t], o->outcome, 5, 0);
            break;
        case TICK:
            rc = (int)vmctld_rollout_tick(r, o->t);
            break;
        case PAUSE:
            rc = vmctld_rollout_pause(r);
            break;
        case RESUME:
            rc = vmctld_rollout_resume(r);
            break;
        case ABORT:
            rc = vmctld_rollout_abort(r);
            break;
        case END:
            break;
        }
        len = strlen(tr);
        snprintf(tr + len, trcap - len, "%d/%s;", rc,
                 vmctld_rollout_state_name(vmctld_rollout_state(r)));
    }
}

static size_t
nops(const scenario_t *sc)
{
    size_t i = 0;

    while (sc->ops[i].kind != END)
        i++;
    return i;
}

static void
test_rollout_save_load_same_outcome(void **state)
{
    size_t s, cut, n;

    (void)state;
    for (s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
        const scenario_t *sc = &scenarios[s];
        char tr_ref[2048] = "", tr[2048];
        uint8_t *ref_blob, *blob, *blob2;
        size_t ref_len, len, len2;
        vmctld_rollout_t *r, *r2;
        char err[128];

        n = nops(sc);
        r = create(&sc->p, sc->n);
        run_ops(r, sc, 0, n, tr_ref, sizeof(tr_ref));
        assert_int_equal(vmctld_rollout_save(r, &ref_blob, &ref_len), 0);
        vmctld_rollout_destroy(r);

        for (cut = 0; cut <= n; cut++) {
            tr[0] = '\0';
            r = create(&sc->p, sc->n);
            run_ops(r, sc, 0, cut, tr, sizeof(tr));
            assert_int_equal(vmctld_rollout_save(r, &blob, &len), 0);
            vmctld_rollout_destroy(r);
            if (vmctld_rollout_load(blob, len, &r2, err, sizeof(err)) != 0)
                fail_msg("%s, cut %zu: load: %s", sc->name, cut, err);
            /* Load then save gives the same bytes. */
            assert_int_equal(vmctld_rollout_save(r2, &blob2, &len2), 0);
            assert_int_equal(len2, len);
            assert_memory_equal(blob2, blob, len);
            free(blob2);
            free(blob);
            run_ops(r2, sc, cut, n, tr, sizeof(tr));
            if (strcmp(tr, tr_ref) != 0)
                fail_msg("%s, cut %zu:\n got %s\nwant %s", sc->name, cut,
                         tr, tr_ref);
            assert_int_equal(vmctld_rollout_save(r2, &blob, &len), 0);
            assert_int_equal(len, ref_len);
            assert_memory_equal(blob, ref_blob, len);
            free(blob);
            vmctld_rollout_destroy(r2);
        }
        free(ref_blob);
    }
}

/* The scenarios end where the test above expects; pin the end states. */
static void
test_rollout_scenarios_end_states(void **state)
{
    static const vmctld_rollout_state_t want[] = {
        VMCTLD_ROLLOUT_SUCCEEDED, VMCTLD_ROLLOUT_FAILED,
        VMCTLD_ROLLOUT_FAILED, VMCTLD_ROLLOUT_ABORTED,
        VMCTLD_ROLLOUT_FAILED,
    };
    size_t s;

    (void)state;
    for (s = 0; s < sizeof(scenarios) / sizeof(scenarios[0]); s++) {
        char tr[2048] = "";
        vmctld_rollout_t *r = create(&scenarios[s].p, scenarios[s].n);

        run_ops(r, &scenarios[s], 0, nops(&scenarios[s]), tr, sizeof(tr));
        if (vmctld_rollout_state(r) != want[s])
            fail_msg("%s: ended %s: %s", scenarios[s].name,
                     vmctld_rollout_state_name(vmctld_rollout_state(r)), tr);
        vmctld_rollout_destroy(r);
    }
}

static void
test_rollout_load_rejects_damaged_blob(void **state)
{
    vmctld_rollout_params_t p = params(1, 2, false, 0, false, 0);
    vmctld_rollout_t *r = create(&p, 5), *r2;
    uint8_t *blob;
    size_t len, i;
    char err[128];

    (void)state;
    expect_batch(r, 0, 0, 1);
    assert_int_equal(vmctld_rollout_save(r, &blob, &len), 0);
    /* Every truncation fails cleanly. */
    for (i = 0; i < len; i++)
        assert_int_equal(vmctld_rollout_load(blob, i, &r2, err, sizeof(err)),
                         VMCTLD_ROLLOUT_EFORMAT);
    /* A device state out of range.  The devices start after the 52-byte
     * header and the count; a record is a length byte, the 6-byte id,
     * the state, the code and the time (20 bytes). */
    blob[52 + 4 + 1 + 6] = 9;
    assert_int_equal(vmctld_rollout_load(blob, len, &r2, err, sizeof(err)),
                     VMCTLD_ROLLOUT_EFORMAT);
    assert_non_null(strstr(err, "bad state"));
    /* A waiting device before a sent one. */
    blob[52 + 4 + 1 + 6] = VMCTLD_ROLLOUT_DEV_WAITING;
    blob[52 + 4 + 20 + 1 + 6] = VMCTLD_ROLLOUT_DEV_SUCCEEDED;
    assert_int_equal(vmctld_rollout_load(blob, len, &r2, err, sizeof(err)),
                     VMCTLD_ROLLOUT_EFORMAT);
    blob[0] = 'X';
    assert_int_equal(vmctld_rollout_load(blob, len, &r2, err, sizeof(err)),
                     VMCTLD_ROLLOUT_EFORMAT);
    free(blob);
    vmctld_rollout_destroy(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rollout_canary_then_batches_of_n),
        cmocka_unit_test(test_rollout_batches_of_percent_round_up),
        cmocka_unit_test(test_rollout_threshold_count_pauses),
        cmocka_unit_test(test_rollout_threshold_percent_pauses),
        cmocka_unit_test(test_rollout_operator_pause_resume),
        cmocka_unit_test(test_rollout_abort_leaves_rest_untouched),
        cmocka_unit_test(test_rollout_timeout_counts_as_failure),
        cmocka_unit_test(test_rollout_bad_reports_ignored),
        cmocka_unit_test(test_rollout_end_states),
        cmocka_unit_test(test_rollout_create_rejects_bad_input),
        cmocka_unit_test(test_rollout_save_load_same_outcome),
        cmocka_unit_test(test_rollout_scenarios_end_states),
        cmocka_unit_test(test_rollout_load_rejects_damaged_blob),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
