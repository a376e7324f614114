/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The vmctld blob store (server/vmctl/vmctld/src/store.c) on a fresh
 * temporary directory per test: the content-addressed layout, idempotent
 * puts, the size and hash checks, chunked temporary files that become
 * blobs only with the right SHA-256, and the clean-up of leftovers.
 */

#define _GNU_SOURCE /* mkdtemp, nftw */

#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "vmf/vpk.h"

typedef struct fixture {
    char dir[256];
    char err[512];
    vmctld_store_t *s;
} fixture_t;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/vmf-store-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    if (vmctld_store_open(f->dir, &f->s, f->err, sizeof(f->err)) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture_t *f = *state;

    vmctld_store_close(f->s);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void
sha_hex(const uint8_t *buf, size_t len, char out[65])
{
    static const char d[] = "0123456789abcdef";
    uint8_t h[32];
    size_t i;

    assert_int_equal(vmf_sha256(buf, len, h), 0);
    for (i = 0; i < 32; i++) {
        out[2 * i] = d[h[i] >> 4];
        out[2 * i + 1] = d[h[i] & 15];
    }
    out[64] = '\0';
}

static size_t
count_files(const char *dir)
{
    struct dirent *e;
    size_t n = 0;
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void
test_store_put_get_round_trip_at_its_address(void **state)
{
    fixture_t *f = *state;
    uint8_t data[5000], *got = NULL;
    char sha[65], path[1024], want[1100];
    struct stat st;
    size_t len = 0, i;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 3);
    sha_hex(data, sizeof(data), sha);
    assert_int_equal(vmctld_store_put(f->s, VMCTLD_STORE_PACKAGE, sha, data,
                                      sizeof(data), path, sizeof(path)),
                     0);
    snprintf(want, sizeof(want), "%s/packages/%.2s/%s", f->dir, sha, sha);
    assert_string_equal(path, want);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, sizeof(data));

    assert_int_equal(vmctld_store_get(f->s, VMCTLD_STORE_PACKAGE, sha,
                                      sizeof(data), &got, &len),
                     0);
    assert_int_equal(len, sizeof(data));
    assert_memory_equal(got, data, sizeof(data));
    free(got);

    /* Storing it again is a no-op; the other kind is another place. */
    assert_int_equal(vmctld_store_put(f->s, VMCTLD_STORE_PACKAGE, sha, data,
                                      sizeof(data), NULL, 0),
                     0);
    assert_int_equal(vmctld_store_get(f->s, VMCTLD_STORE_SNAPSHOT, sha,
                                      sizeof(data), &got, &len),
                     VMCTLD_STORE_ENOENT);
    /* Nothing is left in tmp/. */
    snprintf(want, sizeof(want), "%s/tmp", f->dir);
    assert_int_equal(count_files(want), 0);
}

static void
test_store_checks_hash_and_size(void **state)
{
    fixture_t *f = *state;
    uint8_t data[100], *got = NULL;
    char sha[65], other[65];
    size_t len = 0;

    memset(data, 0x5a, sizeof(data));
    sha_hex(data, sizeof(data), sha);
    sha_hex(data, sizeof(data) - 1, other);
    /* The name must be the bytes' SHA-256. */
    assert_int_equal(vmctld_store_put(f->s, VMCTLD_STORE_SNAPSHOT, other,
                                      data, sizeof(data), NULL, 0),
                     VMCTLD_STORE_EHASH);
    /* Not a SHA-256 at all. */
    assert_int_equal(vmctld_store_put(f->s, VMCTLD_STORE_SNAPSHOT,
                                      "../../etc/passwd", data, sizeof(data),
                                      NULL, 0),
                     VMCTLD_STORE_EINVAL);
    assert_int_equal(vmctld_store_put(f->s, VMCTLD_STORE_SNAPSHOT, sha, data,
                                      sizeof(data), NULL, 0),
                     0);
    /* The registry says another size: the read refuses. */
    assert_int_equal(vmctld_store_get(f->s, VMCTLD_STORE_SNAPSHOT, sha, 99,
                                      &got, &len),
                     VMCTLD_STORE_ESIZE);
    assert_null(got);
    assert_int_equal(vmctld_store_delete(f->s, VMCTLD_STORE_SNAPSHOT, sha), 0);
    assert_int_equal(vmctld_store_delete(f->s, VMCTLD_STORE_SNAPSHOT, sha),
                     VMCTLD_STORE_ENOENT);
    assert_int_equal(vmctld_store_get(f->s, VMCTLD_STORE_SNAPSHOT, sha,
                                      sizeof(data), &got, &len),
                     VMCTLD_STORE_ENOENT);
}

static void
test_store_tmp_chunks_out_of_order_become_a_blob(void **state)
{
    fixture_t *f = *state;
    uint8_t data[10000], *got = NULL;
    vmctld_store_tmp_t *t = NULL;
    char sha[65], path[1024], tmpdir[512];
    size_t len = 0, i;

    for (i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i ^ (i >> 8));
    sha_hex(data, sizeof(data), sha);
    assert_int_equal(vmctld_store_tmp_create(f->s, sizeof(data), &t), 0);
    /* Chunks of 4096 in the order 2, 0, 1; one past the end refused. */
    assert_int_equal(vmctld_store_tmp_write(t, 8192, data + 8192, 1808), 0);
    assert_int_equal(vmctld_store_tmp_write(t, 0, data, 4096), 0);
    assert_int_equal(vmctld_store_tmp_write(t, 9000, data, 2000),
                     VMCTLD_STORE_EINVAL);
    assert_int_equal(vmctld_store_tmp_write(t, 4096, data + 4096, 4096), 0);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->dir);
    assert_int_equal(count_files(tmpdir), 1);
    assert_int_equal(vmctld_store_tmp_commit(t, VMCTLD_STORE_SNAPSHOT, sha,
                                             path, sizeof(path)),
                     0);
    assert_int_equal(count_files(tmpdir), 0);
    assert_int_equal(vmctld_store_get(f->s, VMCTLD_STORE_SNAPSHOT, sha,
                                      sizeof(data), &got, &len),
                     0);
    assert_memory_equal(got, data, sizeof(data));
    free(got);
}

static void
test_store_tmp_with_wrong_hash_is_removed(void **state)
{
    fixture_t *f = *state;
    uint8_t data[300];
    vmctld_store_tmp_t *t = NULL;
    char sha[65], tmpdir[512];
    uint8_t *got = NULL;
    size_t len = 0;

    memset(data, 1, sizeof(data));
    sha_hex(data, sizeof(data), sha);
    assert_int_equal(vmctld_store_tmp_create(f->s, sizeof(data), &t), 0);
    /* Only the first half written: the rest reads as zeros. */
    assert_int_equal(vmctld_store_tmp_write(t, 0, data, 150), 0);
    assert_int_equal(vmctld_store_tmp_commit(t, VMCTLD_STORE_SNAPSHOT, sha,
                                             NULL, 0),
                     VMCTLD_STORE_EHASH);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->dir);
    assert_int_equal(count_files(tmpdir), 0);
    assert_int_equal(vmctld_store_get(f->s, VMCTLD_STORE_SNAPSHOT, sha,
                                      sizeof(data), &got, &len),
                     VMCTLD_STORE_ENOENT);
    /* Sizes out of range. */
    assert_int_equal(vmctld_store_tmp_create(f->s, 0, &t),
                     VMCTLD_STORE_EINVAL);
    assert_int_equal(vmctld_store_tmp_create(f->s,
                                             (uint64_t)VMCTLD_STORE_BLOB_MAX +
                                                 1,
                                             &t),
                     VMCTLD_STORE_ETOOBIG);
    /* Discard leaves nothing. */
    assert_int_equal(vmctld_store_tmp_create(f->s, 10, &t), 0);
    vmctld_store_tmp_discard(t);
    assert_int_equal(count_files(tmpdir), 0);
}

static void
test_store_open_removes_leftovers(void **state)
{
    fixture_t *f = *state;
    vmctld_store_tmp_t *t = NULL;
    char tmpdir[512];

    /* A crash mid-upload leaves a temporary file behind. */
    assert_int_equal(vmctld_store_tmp_create(f->s, 64, &t), 0);
    snprintf(tmpdir, sizeof(tmpdir), "%s/tmp", f->dir);
    assert_int_equal(count_files(tmpdir), 1);
    vmctld_store_close(f->s);
    f->s = NULL;
    assert_int_equal(vmctld_store_open(f->dir, &f->s, f->err,
                                       sizeof(f->err)),
                     0);
    assert_int_equal(count_files(tmpdir), 0);
    vmctld_store_tmp_discard(t); /* its file is already gone */
}

static void
test_store_read_file_limits(void **state)
{
    fixture_t *f = *state;
    char path[512], *buf = NULL;
    size_t len = 0;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/key.pem", f->dir);
    assert_non_null(fp = fopen(path, "w"));
    fputs("-----BEGIN PUBLIC KEY-----\nabc\n", fp);
    fclose(fp);
    assert_int_equal(vmctld_store_read_file(path, 1024, &buf, &len, f->err,
                                            sizeof(f->err)),
                     0);
    assert_int_equal(len, strlen(buf));
    assert_non_null(strstr(buf, "BEGIN PUBLIC KEY"));
    free(buf);
    assert_int_equal(vmctld_store_read_file(path, 8, &buf, &len, f->err,
                                            sizeof(f->err)),
                     VMCTLD_STORE_ETOOBIG);
    assert_non_null(strstr(f->err, path));
    snprintf(path, sizeof(path), "%s/missing.pem", f->dir);
    assert_int_equal(vmctld_store_read_file(path, 1024, &buf, &len, f->err,
                                            sizeof(f->err)),
                     VMCTLD_STORE_ENOENT);
    assert_non_null(strstr(f->err, "missing.pem"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_store_put_get_round_trip_at_its_address, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_checks_hash_and_size,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_store_tmp_chunks_out_of_order_become_a_blob, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_store_tmp_with_wrong_hash_is_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_open_removes_leftovers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_read_file_limits, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
