/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* The dedup log: persistence across reopen, torn tails, ring wrap. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ota_dedup.h"

typedef struct {
    char dir[64];
    pl_root_t root;
} fx_t;

static int
setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ota-dedup-XXXXXX");
    if (pl_fs_mkdtemp(f->dir) != 0 ||
        pl_dir_open_root(&f->root, f->dir, 0) != 0)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *f = *state;

    pl_dir_close_root(&f->root);
    pl_fs_remove_tree(f->dir);
    free(f);
    return 0;
}

static void
put(ota_dedup_t *d, const char *id, const char *res)
{
    assert_int_equal(ota_dedup_put(d, id, (const uint8_t *)res,
                                   strlen(res)), 0);
}

static void
want(ota_dedup_t *d, const char *id, const char *res)
{
    const uint8_t *r;
    size_t len;

    if (res == NULL) {
        assert_int_equal(ota_dedup_find(d, id, &r, &len), 0);
        return;
    }
    assert_int_equal(ota_dedup_find(d, id, &r, &len), 1);
    assert_int_equal(len, strlen(res));
    assert_memory_equal(r, res, len);
}

/* Append raw bytes to the log, as a crash mid-append leaves them. */
static void
append_raw(fx_t *f, const void *buf, size_t len)
{
    char path[96];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/cmds", f->dir);
    assert_non_null(fp = fopen(path, "ab"));
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

static void
test_dedup_survives_reopen(void **state)
{
    fx_t *f = *state;
    ota_dedup_t *d;

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    want(d, "c1", NULL);
    put(d, "c1", "result one");
    put(d, "c2", "result two");
    put(d, "c3", "");
    ota_dedup_close(d);

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    assert_int_equal(ota_dedup_count(d), 3);
    want(d, "c1", "result one");
    want(d, "c2", "result two");
    want(d, "c3", "");
    want(d, "c4", NULL);
    ota_dedup_close(d);
}

static void
test_dedup_torn_tail_is_cut(void **state)
{
    fx_t *f = *state;
    /* A header announcing 40 bytes, then only 5 of them. */
    static const uint8_t torn[] = { 40, 0, 0, 0, 1, 2, 3, 4, 2, 'x', 'y',
                                    'z', 'w' };
    ota_dedup_t *d;

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    put(d, "a", "A");
    put(d, "b", "B");
    ota_dedup_close(d);
    append_raw(f, torn, sizeof(torn));

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    assert_int_equal(ota_dedup_count(d), 2);
    want(d, "a", "A");
    want(d, "b", "B");
    /* The next record follows the good ones, not the garbage. */
    put(d, "c", "C");
    ota_dedup_close(d);

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    assert_int_equal(ota_dedup_count(d), 3);
    want(d, "c", "C");
    ota_dedup_close(d);
}

static void
test_dedup_bad_crc_tail_is_cut(void **state)
{
    fx_t *f = *state;
    /* A whole record whose CRC is wrong. */
    static const uint8_t bad[] = { 3, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef,
                                   1, 'z', 'Z' };
    ota_dedup_t *d;

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    put(d, "a", "A");
    ota_dedup_close(d);
    append_raw(f, bad, sizeof(bad));
    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    assert_int_equal(ota_dedup_count(d), 1);
    want(d, "z", NULL);
    ota_dedup_close(d);
}

static void
test_dedup_ring_wraps_and_compacts(void **state)
{
    fx_t *f = *state;
    char id[32], res[32];
    ota_dedup_t *d;
    pl_stat_t st;
    int i;

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    for (i = 0; i < 3 * OTA_DEDUP_KEEP + 17; i++) {
        snprintf(id, sizeof(id), "cmd-%d", i);
        snprintf(res, sizeof(res), "res-%d", i);
        put(d, id, res);
    }
    assert_int_equal(ota_dedup_count(d), OTA_DEDUP_KEEP);
    ota_dedup_close(d);

    /* Compaction bounded the file: under two rings' worth of records. */
    assert_int_equal(pl_fs_stat(&f->root, "cmds", 0, &st), 0);
    assert_true(st.size < 2u * OTA_DEDUP_KEEP * (8 + 1 + 8 + 8));

    assert_int_equal(ota_dedup_open(&f->root, "cmds", &d), 0);
    assert_int_equal(ota_dedup_count(d), OTA_DEDUP_KEEP);
    i = 3 * OTA_DEDUP_KEEP + 16;
    snprintf(id, sizeof(id), "cmd-%d", i);
    snprintf(res, sizeof(res), "res-%d", i);
    want(d, id, res);
    i = 3 * OTA_DEDUP_KEEP + 17 - OTA_DEDUP_KEEP; /* oldest kept */
    snprintf(id, sizeof(id), "cmd-%d", i);
    snprintf(res, sizeof(res), "res-%d", i);
    want(d, id, res);
    snprintf(id, sizeof(id), "cmd-%d", i - 1); /* just forgotten */
    want(d, id, NULL);
    want(d, "cmd-0", NULL);
    ota_dedup_close(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup_survives_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dedup_torn_tail_is_cut, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_dedup_bad_crc_tail_is_cut,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dedup_ring_wraps_and_compacts,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
