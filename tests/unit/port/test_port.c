/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of the POSIX port layer, run against the real OS.  Only the
 * pl_* API is used, except <sys/stat.h> to check a socket file's mode,
 * which the contract promises but pl_stat_t does not carry.  The confined
 * file tests run twice: with openat2() and with the portable walk.
 */

#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "pl_internal.h"

#define MS (1000000ull)

/* ---- threads and sync ------------------------------------------------ */

struct counter {
    pl_mutex_t lock;
    long value;
    uint64_t tid;
};

static void
count_up(void *arg)
{
    struct counter *c = arg;
    int i;

    for (i = 0; i < 20000; i++) {
        pl_mutex_lock(&c->lock);
        c->value++;
        pl_mutex_unlock(&c->lock);
    }
}

static void
test_port_thread_mutex_counts_exactly(void **state)
{
    pl_thread_opts_t o = { 256 * 1024, 0, "vmf-count" };
    struct counter c = { .value = 0 };
    pl_thread_t t[4];
    int i;

    (void)state;
    assert_int_equal(pl_mutex_init(&c.lock), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(pl_thread_create(&t[i], &o, count_up, &c), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(pl_thread_join(&t[i]), 0);
    assert_int_equal(c.value, 4 * 20000);
    pl_mutex_destroy(&c.lock);
}

static void
record_tid(void *arg)
{
    struct counter *c = arg;
    c->tid = pl_thread_self_id();
}

static void
try_lock(void *arg)
{
    struct counter *c = arg;
    c->value = pl_mutex_trylock(&c->lock);
    if (c->value == 0)
        pl_mutex_unlock(&c->lock);
}

static void
test_port_thread_has_own_id_and_trylock_busy(void **state)
{
    struct counter c = { .value = 0 };
    pl_thread_t t;

    (void)state;
    assert_int_equal(pl_mutex_init(&c.lock), 0);
    assert_int_equal(pl_thread_create(&t, NULL, record_tid, &c), 0);
    assert_int_equal(pl_thread_join(&t), 0);
    assert_true(c.tid != 0);
    assert_true(c.tid != pl_thread_self_id());
    /* Held here, so another thread's trylock must fail, not block. */
    assert_int_equal(pl_mutex_trylock(&c.lock), 0);
    assert_int_equal(pl_thread_create(&t, NULL, try_lock, &c), 0);
    assert_int_equal(pl_thread_join(&t), 0);
    assert_int_equal(c.value, PL_EBUSY);
    pl_mutex_unlock(&c.lock);
    pl_mutex_destroy(&c.lock);
}

/* A bounded queue: the producer/consumer of the scheduler in small. */
struct queue {
    pl_mutex_t lock;
    pl_cond_t not_empty;
    pl_cond_t not_full;
    int items[4];
    int head, count, done;
    long sum;
};

static void
producer(void *arg)
{
    struct queue *q = arg;
    int i;

    for (i = 1; i <= 200; i++) {
        pl_mutex_lock(&q->lock);
        while (q->count == 4)
            pl_cond_wait(&q->not_full, &q->lock);
        q->items[(q->head + q->count) % 4] = i;
        q->count++;
        pl_cond_signal(&q->not_empty);
        pl_mutex_unlock(&q->lock);
    }
    pl_mutex_lock(&q->lock);
    q->done = 1;
    pl_cond_broadcast(&q->not_empty);
    pl_mutex_unlock(&q->lock);
}

static void
test_port_cond_producer_consumer(void **state)
{
    struct queue q;
    pl_thread_t t;

    (void)state;
    memset(&q, 0, sizeof(q));
    assert_int_equal(pl_mutex_init(&q.lock), 0);
    assert_int_equal(pl_cond_init(&q.not_empty), 0);
    assert_int_equal(pl_cond_init(&q.not_full), 0);
    assert_int_equal(pl_thread_create(&t, NULL, producer, &q), 0);
    pl_mutex_lock(&q.lock);
    for (;;) {
        while (q.count == 0 && !q.done) {
            /* A long deadline: timing out here would mean a lost wakeup. */
            int rc = pl_cond_timedwait(&q.not_empty, &q.lock,
                                       pl_time_mono_ns() + 5000 * MS);
            assert_int_equal(rc, 0);
        }
        if (q.count == 0)
            break;
        q.sum += q.items[q.head];
        q.head = (q.head + 1) % 4;
        q.count--;
        pl_cond_signal(&q.not_full);
    }
    pl_mutex_unlock(&q.lock);
    assert_int_equal(pl_thread_join(&t), 0);
    assert_int_equal(q.sum, 200 * 201 / 2);
    pl_cond_destroy(&q.not_full);
    pl_cond_destroy(&q.not_empty);
    pl_mutex_destroy(&q.lock);
}

static void
test_port_cond_timedwait_times_out(void **state)
{
    pl_mutex_t m;
    pl_cond_t c;
    uint64_t start, deadline;
    int rc;

    (void)state;
    assert_int_equal(pl_mutex_init(&m), 0);
    assert_int_equal(pl_cond_init(&c), 0);
    pl_mutex_lock(&m);
    start = pl_time_mono_ns();
    deadline = start + 50 * MS;
    /* Nobody signals: loop over spurious wakeups until the deadline. */
    while ((rc = pl_cond_timedwait(&c, &m, deadline)) == 0)
        ;
    pl_mutex_unlock(&m);
    assert_int_equal(rc, PL_ETIMEDOUT);
    assert_true(pl_time_mono_ns() >= deadline);
    assert_true(pl_time_mono_ns() - start < 2000 * MS);
    /* A deadline in the past times out at once. */
    pl_mutex_lock(&m);
    assert_int_equal(pl_cond_timedwait(&c, &m, start), PL_ETIMEDOUT);
    pl_mutex_unlock(&m);
    pl_cond_destroy(&c);
    pl_mutex_destroy(&m);
}

static int once_calls;

static void
once_fn(void)
{
    once_calls++;
}

static void
test_port_once_runs_once(void **state)
{
    static pl_once_t once = PL_ONCE_INIT;

    (void)state;
    pl_once(&once, once_fn);
    pl_once(&once, once_fn);
    assert_int_equal(once_calls, 1);
}

/* ---- confined files -------------------------------------------------- */

/*
 * Layout: <tmp>/root is the root; <tmp>/outside/secret must stay out of
 * reach.  *state points at a mode (1 openat2, 0 walk).
 */
struct fsfix {
    char tmp[64];
    char rootpath[96];
    pl_root_t root;
    int prev_mode;
};

static struct fsfix fx;

static void
put(const char *path, const char *text)
{
    pl_file_t f;
    size_t n;

    assert_int_equal(
        pl_fs_open(&fx.root, path, PL_O_WRITE | PL_O_CREATE | PL_O_TRUNC, &f),
        0);
    assert_int_equal(pl_file_write(&f, text, strlen(text), &n), 0);
    assert_int_equal(n, strlen(text));
    assert_int_equal(pl_file_close(&f), 0);
}

static int
fs_setup(void **state)
{
    char outside[128];
    pl_root_t top;
    pl_file_t f;
    size_t n;

    fx.prev_mode = pl__fs_use_openat2(*(int *)*state);
    snprintf(fx.tmp, sizeof(fx.tmp), "/tmp/vmf-port-XXXXXX");
    if (pl_fs_mkdtemp(fx.tmp) != 0)
        return -1;
    snprintf(fx.rootpath, sizeof(fx.rootpath), "%s/root", fx.tmp);
    snprintf(outside, sizeof(outside), "%s/outside", fx.tmp);
    if (pl_fs_mkdir_p(fx.rootpath, 0700) != 0 ||
        pl_fs_mkdir_p(outside, 0700) != 0)
        return -1;
    /* The secret is written through an unconfined root over <tmp>. */
    if (pl_dir_open_root(&top, fx.tmp, 0) != 0)
        return -1;
    if (pl_fs_open(&top, "outside/secret", PL_O_WRITE | PL_O_CREATE, &f) != 0 ||
        pl_file_write(&f, "secret", 6, &n) != 0)
        return -1;
    pl_file_close(&f);
    pl_dir_close_root(&top);
    return pl_dir_open_root(&fx.root, fx.rootpath, 0);
}

static int
fs_teardown(void **state)
{
    (void)state;
    pl_dir_close_root(&fx.root);
    pl_dir_close_root(&fx.root); /* idempotent */
    pl__fs_use_openat2(fx.prev_mode);
    return pl_fs_remove_tree(fx.tmp);
}

static void
test_port_fs_file_roundtrip(void **state)
{
    char buf[32];
    pl_stat_t st;
    pl_file_t f;
    uint64_t pos;
    size_t n;

    (void)state;
    assert_int_equal(
        pl_fs_open(&fx.root, "f.txt", PL_O_READ | PL_O_WRITE | PL_O_CREATE, &f),
        0);
    assert_int_equal(pl_file_write(&f, "hello world", 11, &n), 0);
    assert_int_equal(n, 11);
    assert_int_equal(pl_file_pread(&f, buf, 5, 6, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(pl_file_pwrite(&f, "W", 1, 6, &n), 0);
    assert_int_equal(pl_file_seek(&f, 0, PL_SEEK_SET, &pos), 0);
    assert_int_equal(pos, 0);
    assert_int_equal(pl_file_read(&f, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "hello World", 11);
    assert_int_equal(pl_file_read(&f, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0); /* end of file */
    assert_int_equal(pl_file_sync(&f), 0);
    assert_int_equal(pl_file_truncate(&f, 5), 0);
    assert_int_equal(pl_file_stat(&f, &st), 0);
    assert_int_equal(st.size, 5);
    assert_int_equal(st.type, PL_FT_REG);
    assert_true(st.mtime_ns > 0);
    assert_int_equal(pl_file_seek(&f, -2, PL_SEEK_END, &pos), 0);
    assert_int_equal(pos, 3);
    assert_int_equal(pl_file_close(&f), 0);
    assert_int_equal(pl_file_close(&f), 0); /* closed: no-op */

    /* Append writes at the end whatever the position. */
    assert_int_equal(
        pl_fs_open(&fx.root, "f.txt", PL_O_WRITE | PL_O_APPEND, &f), 0);
    assert_int_equal(pl_file_write(&f, "!", 1, &n), 0);
    pl_file_close(&f);
    assert_int_equal(pl_fs_stat(&fx.root, "f.txt", 0, &st), 0);
    assert_int_equal(st.size, 6);

    assert_int_equal(
        pl_fs_open(&fx.root, "f.txt", PL_O_WRITE | PL_O_CREATE | PL_O_EXCL, &f),
        PL_EEXIST);
    assert_int_equal(pl_fs_open(&fx.root, "missing", PL_O_READ, &f), PL_ENOENT);
    assert_int_equal(pl_fs_open(&fx.root, "f.txt", 0, &f), PL_EINVAL);
    assert_int_equal(pl_fs_open(&fx.root, "f.txt/x", PL_O_READ, &f),
                     PL_ENOTDIR);
    assert_int_equal(pl_fs_unlink(&fx.root, "f.txt"), 0);
    assert_int_equal(pl_fs_unlink(&fx.root, "f.txt"), PL_ENOENT);
}

static void
test_port_fs_dirs_and_errors(void **state)
{
    pl_stat_t st;
    pl_file_t f;

    (void)state;
    assert_int_equal(pl_fs_mkdir(&fx.root, "d"), 0);
    assert_int_equal(pl_fs_mkdir(&fx.root, "d"), PL_EEXIST);
    assert_int_equal(pl_fs_mkdir(&fx.root, "d/e/"), 0);
    put("d/e/file", "x");
    assert_int_equal(pl_fs_rmdir(&fx.root, "d"), PL_ENOTEMPTY);
    assert_int_equal(pl_fs_rmdir(&fx.root, "d/e/file"), PL_ENOTDIR);
    assert_int_equal(pl_fs_unlink(&fx.root, "d/e"), PL_EISDIR);
    assert_int_equal(pl_fs_open(&fx.root, "d", PL_O_WRITE, &f), PL_EISDIR);
    assert_int_equal(
        pl_fs_open(&fx.root, "d/e/file", PL_O_READ | PL_O_DIRECTORY, &f),
        PL_ENOTDIR);
    assert_int_equal(pl_fs_open(&fx.root, "d", PL_O_READ | PL_O_DIRECTORY, &f),
                     0);
    pl_file_close(&f);
    /* ".." that stays inside the root is fine. */
    assert_int_equal(pl_fs_stat(&fx.root, "d/e/../e/./file", 0, &st), 0);
    assert_int_equal(st.type, PL_FT_REG);
    assert_int_equal(pl_fs_stat(&fx.root, "d/..", 0, &st), 0);
    assert_int_equal(st.type, PL_FT_DIR);
    assert_int_equal(pl_fs_stat(&fx.root, ".", PL_STAT_NOFOLLOW, &st), 0);
    assert_int_equal(st.type, PL_FT_DIR);
    assert_int_equal(pl_fs_rmdir(&fx.root, "."), PL_EINVAL);
    assert_int_equal(pl_fs_unlink(&fx.root, "d/e/file"), 0);
    assert_int_equal(pl_fs_rmdir(&fx.root, "d/e"), 0);
    assert_int_equal(pl_fs_rmdir(&fx.root, "d"), 0);
    assert_int_equal(pl_fs_stat(&fx.root, "d", 0, &st), PL_ENOENT);
}

static void
test_port_fs_refuses_escapes(void **state)
{
    pl_stat_t st;
    pl_file_t f;
    pl_dir_t d;

    (void)state;
    assert_int_equal(pl_fs_open(&fx.root, "../x", PL_O_READ, &f), PL_EPERM);
    assert_int_equal(pl_fs_open(&fx.root, "../outside/secret", PL_O_READ, &f),
                     PL_EPERM);
    assert_int_equal(pl_fs_open(&fx.root, "/etc/passwd", PL_O_READ, &f),
                     PL_EPERM);
    assert_int_equal(pl_fs_mkdir(&fx.root, "sub"), 0);
    assert_int_equal(
        pl_fs_open(&fx.root, "sub/../../outside/secret", PL_O_READ, &f),
        PL_EPERM);
    assert_int_equal(pl_fs_open(&fx.root, "..", PL_O_READ | PL_O_DIRECTORY, &f),
                     PL_EPERM);
    assert_int_equal(
        pl_fs_open(&fx.root, "../new", PL_O_WRITE | PL_O_CREATE, &f), PL_EPERM);
    assert_int_equal(pl_fs_mkdir(&fx.root, "../newdir"), PL_EPERM);
    assert_int_equal(pl_fs_unlink(&fx.root, "../outside/secret"), PL_EPERM);
    assert_int_equal(pl_fs_stat(&fx.root, "../outside/secret", 0, &st),
                     PL_EPERM);
    assert_int_equal(pl_dir_open(&fx.root, "..", &d), PL_EPERM);

    /* Symbolic links that point outside, relative and absolute. */
    assert_int_equal(pl_fs_symlink(&fx.root, "../outside", "rel"), 0);
    assert_int_equal(pl_fs_symlink(&fx.root, "/etc/passwd", "abs"), 0);
    assert_int_equal(
        pl_fs_symlink(&fx.root, "sub/../../outside/secret", "sneaky"), 0);
    assert_int_equal(pl_fs_open(&fx.root, "rel/secret", PL_O_READ, &f),
                     PL_EPERM);
    assert_int_equal(pl_fs_open(&fx.root, "abs", PL_O_READ, &f), PL_EPERM);
    assert_int_equal(pl_fs_open(&fx.root, "sneaky", PL_O_READ, &f), PL_EPERM);
    assert_int_equal(pl_fs_stat(&fx.root, "abs", 0, &st), PL_EPERM);
    assert_int_equal(pl_fs_mkdir(&fx.root, "rel/made"), PL_EPERM);
    /* Creating through a dangling link to outside must not create it. */
    assert_int_equal(pl_fs_symlink(&fx.root, "../outside/planted", "plant"), 0);
    assert_int_equal(
        pl_fs_open(&fx.root, "plant", PL_O_WRITE | PL_O_CREATE, &f), PL_EPERM);
    /* The links themselves may be inspected and removed. */
    assert_int_equal(pl_fs_stat(&fx.root, "abs", PL_STAT_NOFOLLOW, &st), 0);
    assert_int_equal(st.type, PL_FT_SYMLINK);
    assert_int_equal(pl_fs_unlink(&fx.root, "abs"), 0);

    {
        /* Nothing appeared next to the root. */
        pl_root_t top;
        assert_int_equal(pl_dir_open_root(&top, fx.tmp, 0), 0);
        assert_int_equal(pl_fs_stat(&top, "outside/planted", 0, &st),
                         PL_ENOENT);
        assert_int_equal(pl_fs_stat(&top, "new", 0, &st), PL_ENOENT);
        assert_int_equal(pl_fs_stat(&top, "newdir", 0, &st), PL_ENOENT);
        assert_int_equal(pl_fs_stat(&top, "outside/secret", 0, &st), 0);
        pl_dir_close_root(&top);
    }
}

static void
test_port_fs_symlink_inside_allowed_unless_nosymlinks(void **state)
{
    char buf[32];
    pl_root_t strict;
    pl_file_t f;
    size_t n;

    (void)state;
    assert_int_equal(pl_fs_mkdir(&fx.root, "d"), 0);
    put("d/target", "inside");
    assert_int_equal(pl_fs_symlink(&fx.root, "d/target", "link"), 0);
    assert_int_equal(pl_fs_symlink(&fx.root, "../d", "d/self"), 0);
    assert_int_equal(pl_fs_readlink(&fx.root, "link", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "d/target");
    assert_int_equal(pl_fs_open(&fx.root, "link", PL_O_READ, &f), 0);
    assert_int_equal(pl_file_read(&f, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 6);
    assert_memory_equal(buf, "inside", 6);
    pl_file_close(&f);
    assert_int_equal(pl_fs_open(&fx.root, "d/self/self/target", PL_O_READ, &f),
                     0);
    pl_file_close(&f);
    assert_int_equal(
        pl_fs_open(&fx.root, "link", PL_O_READ | PL_O_NOFOLLOW, &f), PL_ELOOP);
    /* A loop ends in PL_ELOOP, not a hang. */
    assert_int_equal(pl_fs_symlink(&fx.root, "loop", "loop"), 0);
    assert_int_equal(pl_fs_open(&fx.root, "loop", PL_O_READ, &f), PL_ELOOP);

    assert_int_equal(
        pl_dir_open_root(&strict, fx.rootpath, PL_ROOT_NO_SYMLINKS), 0);
    assert_int_equal(pl_fs_open(&strict, "link", PL_O_READ, &f), PL_EPERM);
    assert_int_equal(pl_fs_open(&strict, "d/self/target", PL_O_READ, &f),
                     PL_EPERM);
    assert_int_equal(pl_fs_open(&strict, "d/target", PL_O_READ, &f), 0);
    pl_file_close(&f);
    pl_dir_close_root(&strict);
}

static void
test_port_fs_rename_stays_in_root(void **state)
{
    pl_stat_t st;

    (void)state;
    put("a", "12345");
    assert_int_equal(pl_fs_mkdir(&fx.root, "d"), 0);
    assert_int_equal(pl_fs_rename(&fx.root, "a", "../a"), PL_EPERM);
    assert_int_equal(pl_fs_rename(&fx.root, "a", "/tmp/a"), PL_EPERM);
    assert_int_equal(pl_fs_rename(&fx.root, "../outside/secret", "stolen"),
                     PL_EPERM);
    assert_int_equal(pl_fs_symlink(&fx.root, "../outside", "out"), 0);
    assert_int_equal(pl_fs_rename(&fx.root, "a", "out/a"), PL_EPERM);
    assert_int_equal(pl_fs_rename(&fx.root, "a", "d/b"), 0);
    assert_int_equal(pl_fs_stat(&fx.root, "d/b", 0, &st), 0);
    assert_int_equal(st.size, 5);
    assert_int_equal(pl_fs_stat(&fx.root, "a", 0, &st), PL_ENOENT);
}

static void
test_port_fs_readdir_lists_created(void **state)
{
    pl_dirent_t e;
    pl_dir_t d;
    pl_file_t f;
    int seen = 0, rc, pass;

    (void)state;
    put("one", "1");
    put("two", "22");
    assert_int_equal(pl_fs_mkdir(&fx.root, "sub"), 0);
    assert_int_equal(pl_dir_open(&fx.root, ".", &d), 0);
    for (pass = 0; pass < 2; pass++) {
        seen = 0;
        while ((rc = pl_dir_read(&d, &e)) == 1) {
            if (strcmp(e.name, "one") == 0 && e.type != PL_FT_DIR)
                seen |= 1;
            else if (strcmp(e.name, "two") == 0)
                seen |= 2;
            else if (strcmp(e.name, "sub") == 0 &&
                     (e.type == PL_FT_DIR || e.type == PL_FT_UNKNOWN))
                seen |= 4;
            else
                fail_msg("unexpected entry %s", e.name);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(seen, 7);
        pl_dir_rewind(&d);
    }
    pl_dir_close(&d);
    pl_dir_close(&d);

    /* Listing an open directory handle (WASI fd_readdir). */
    assert_int_equal(
        pl_fs_open(&fx.root, "sub", PL_O_READ | PL_O_DIRECTORY, &f), 0);
    put("sub/x", "x");
    assert_int_equal(pl_dir_open_file(&f, &d), 0);
    assert_int_equal(pl_dir_read(&d, &e), 1);
    assert_string_equal(e.name, "x");
    assert_int_equal(pl_dir_read(&d, &e), 0);
    pl_dir_close(&d);
    pl_file_close(&f);
}

static void
test_port_fs_usage_sums_regular_files(void **state)
{
    char big[2000];
    uint64_t bytes = 1;
    pl_file_t f;
    size_t n;

    (void)state;
    assert_int_equal(pl_fs_usage(&fx.root, &bytes), 0);
    assert_int_equal(bytes, 0);
    memset(big, 'b', sizeof(big));
    put("small", "0123456789");
    assert_int_equal(pl_fs_mkdir(&fx.root, "a"), 0);
    assert_int_equal(pl_fs_mkdir(&fx.root, "a/b"), 0);
    assert_int_equal(
        pl_fs_open(&fx.root, "a/b/big", PL_O_WRITE | PL_O_CREATE, &f), 0);
    assert_int_equal(pl_file_write(&f, big, sizeof(big), &n), 0);
    pl_file_close(&f);
    /* Links are not followed: neither to a file nor out of the root. */
    assert_int_equal(pl_fs_symlink(&fx.root, "a/b/big", "alias"), 0);
    assert_int_equal(pl_fs_symlink(&fx.root, "../outside", "out"), 0);
    assert_int_equal(pl_fs_usage(&fx.root, &bytes), 0);
    assert_int_equal(bytes, 10 + 2000);
}

static void
test_port_fs_mkdir_p_and_remove_tree(void **state)
{
    char path[160];
    pl_root_t r;
    pl_stat_t st;

    (void)state;
    snprintf(path, sizeof(path), "%s/state/a/b/c", fx.tmp);
    assert_int_equal(pl_fs_mkdir_p(path, 0700), 0);
    assert_int_equal(pl_fs_mkdir_p(path, 0700), 0); /* exists: fine */
    assert_int_equal(pl_dir_open_root(&r, path, 0), 0);
    pl_dir_close_root(&r);
    snprintf(path, sizeof(path), "%s/state", fx.tmp);
    assert_int_equal(pl_fs_remove_tree(path), 0);
    assert_int_equal(pl_fs_remove_tree(path), 0); /* gone: fine */
    assert_int_equal(pl_dir_open_root(&r, path, 0), PL_ENOENT);
    /* remove_tree must not follow a link out of the tree. */
    assert_int_equal(pl_fs_symlink(&fx.root, "../outside", "out"), 0);
    assert_int_equal(pl_fs_remove_tree(fx.rootpath), 0);
    assert_int_equal(pl_dir_open_root(&r, fx.tmp, 0), 0);
    assert_int_equal(pl_fs_stat(&r, "outside/secret", 0, &st), 0);
    pl_dir_close_root(&r);
    assert_int_equal(pl_fs_mkdir_p(fx.rootpath, 0700), 0);
}

/* ---- sockets --------------------------------------------------------- */

static void
test_port_net_sockaddr_parse_format(void **state)
{
    static const struct {
        const char *in, *out;
    } ok[] = {
        { "1.2.3.4:80", "1.2.3.4:80" },
        { "[::1]:8080", "[::1]:8080" },
        { "localhost:443", "127.0.0.1:443" },
        { "0.0.0.0:0", "0.0.0.0:0" },
    };
    static const char *bad[] = { "1.2.3.4",   "::1:80",  "1.2.3.4:99999",
                                 "1.2.3.4:",  "[::1]80", ":80",
                                 "1.2.3.4:8x" };
    char buf[PL_SOCKADDR_STRLEN];
    pl_sockaddr_t a;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(pl_sockaddr_parse(&a, ok[i].in), 0);
        assert_int_equal(pl_sockaddr_format(&a, buf, sizeof(buf)), 0);
        assert_string_equal(buf, ok[i].out);
    }
    assert_int_equal(pl_sockaddr_parse(&a, "[::1]:5"), 0);
    assert_int_equal(pl_sockaddr_family(&a), PL_AF_INET6);
    assert_int_equal(pl_sockaddr_port(&a), 5);
    assert_int_equal(pl_sockaddr_format(&a, buf, 4), PL_ENAMETOOLONG);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pl_sockaddr_parse(&a, bad[i]), PL_EADDRFORMAT);
}

static void
test_port_net_tcp_echo(void **state)
{
    char buf[16];
    pl_sockaddr_t any, at, peer;
    pl_socket_t l, c, s, s2;
    size_t n;

    (void)state;
    assert_int_equal(pl_sockaddr_parse(&any, "127.0.0.1:0"), 0);
    assert_int_equal(pl_tcp_listen(&any, 4, &l), 0);
    assert_int_equal(pl_sock_local_addr(l, &at), 0);
    assert_true(pl_sockaddr_port(&at) != 0);
    assert_int_equal(pl_tcp_connect(&at, 2000, &c), 0);
    assert_int_equal(pl_sock_accept(l, &s, &peer), 0);
    assert_int_equal(pl_sockaddr_family(&peer), PL_AF_INET);
    assert_int_equal(pl_sock_send(c, "ping", 4, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(pl_sock_recv(s, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(pl_sock_send(s, buf, n, &n), 0);
    assert_int_equal(pl_sock_recv(c, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(buf, "ping", 4);
    /* Non-blocking: nothing to read is PL_EAGAIN, not a hang. */
    assert_int_equal(pl_sock_set_nonblock(c, 1), 0);
    assert_int_equal(pl_sock_recv(c, buf, sizeof(buf), &n), PL_EAGAIN);
    assert_int_equal(pl_sock_set_nonblock(l, 1), 0);
    assert_int_equal(pl_sock_accept(l, &s2, NULL), PL_EAGAIN);
    assert_int_equal(s2, PL_SOCKET_INVALID);
    /* Orderly close: the peer reads 0 bytes. */
    assert_int_equal(pl_sock_shutdown(s, PL_SHUT_WR), 0);
    assert_int_equal(pl_sock_set_nonblock(c, 0), 0);
    assert_int_equal(pl_sock_recv(c, buf, sizeof(buf), &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(pl_sock_close(s), 0);
    assert_int_equal(pl_sock_close(c), 0);
    assert_int_equal(pl_sock_close(l), 0);
    /* Nobody listens any more. */
    assert_int_equal(pl_tcp_connect(&at, 2000, &c), PL_ECONNREFUSED);
    assert_int_equal(pl_sock_close(PL_SOCKET_INVALID), 0);
}

static void
test_port_net_udp_echo(void **state)
{
    char buf[16];
    pl_sockaddr_t any, at, from;
    pl_socket_t a, b;
    size_t n;

    (void)state;
    assert_int_equal(pl_sockaddr_parse(&any, "127.0.0.1:0"), 0);
    assert_int_equal(pl_udp_bind(&any, &a), 0);
    assert_int_equal(pl_udp_bind(&any, &b), 0);
    assert_int_equal(pl_sock_local_addr(a, &at), 0);
    assert_int_equal(pl_sock_sendto(b, "dgram", 5, &at, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(pl_sock_recvfrom(a, buf, sizeof(buf), &from, &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(pl_sock_sendto(a, buf, n, &from, &n), 0);
    assert_int_equal(pl_sock_recvfrom(b, buf, sizeof(buf), NULL, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "dgram", 5);
    pl_sock_close(a);
    pl_sock_close(b);
}

static void
test_port_net_unix_peer_cred(void **state)
{
    char path[256];
    struct stat st;
    pl_socket_t l, l2, c, s;
    uint32_t uid = 1, gid = 1;
    pl_pid_t pid = 0;
    size_t n;
    char b;

    (void)state;
    snprintf(path, sizeof(path), "%s/ctl.sock", fx.tmp);
    assert_int_equal(pl_unix_listen(path, 4, &l), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pl_unix_connect(path, &c), 0);
    assert_int_equal(pl_sock_accept(l, &s, NULL), 0);
    assert_int_equal(pl_sock_peer_cred(s, &uid, &gid, &pid), 0);
    assert_int_equal(uid, pl_getuid());
    assert_int_equal(gid, pl_getgid());
    assert_int_equal(pid, pl_getpid());
    assert_int_equal(pl_sock_send(c, "k", 1, &n), 0);
    assert_int_equal(pl_sock_recv(s, &b, 1, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(b, 'k');
    /* A live listener is never replaced. */
    assert_int_equal(pl_unix_listen(path, 4, &l2), PL_EADDRINUSE);
    pl_sock_close(s);
    pl_sock_close(c);
    pl_sock_close(l);
    /* The file left behind is stale now: listening again replaces it. */
    assert_int_equal(pl_unix_connect(path, &c), PL_ECONNREFUSED);
    assert_int_equal(pl_unix_listen(path, 4, &l), 0);
    pl_sock_close(l);
    /* A path too long for the temporary name is bound in place. */
    snprintf(path, sizeof(path), "%s/%0*d.sock", fx.tmp, 80, 7);
    assert_int_equal(pl_unix_listen(path, 4, &l), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(pl_unix_connect(path, &c), 0);
    pl_sock_close(c);
    pl_sock_close(l);
    snprintf(path, sizeof(path), "%s/%0*d.sock", fx.tmp, 100, 7);
    assert_int_equal(pl_unix_listen(path, 4, &l), PL_ENAMETOOLONG);
    /* A regular file is never taken for a stale socket. */
    snprintf(path, sizeof(path), "%s/root/plain", fx.tmp);
    put("plain", "data");
    assert_int_equal(pl_unix_listen(path, 4, &l), PL_EEXIST);
}

struct waker {
    pl_wakeup_t w;
};

static void
wake_later(void *arg)
{
    struct waker *k = arg;
    pl_sleep_ns(20 * MS);
    pl_wakeup_signal(&k->w);
}

static void
test_port_net_wakeup_wakes_poll(void **state)
{
    struct waker k;
    pl_pollfd_t p;
    pl_thread_t t;
    uint64_t start;

    (void)state;
    assert_int_equal(pl_wakeup_init(&k.w), 0);
    p.fd = pl_wakeup_fd(&k.w);
    p.events = PL_POLLIN;
    assert_int_equal(pl_poll(&p, 1, 0), 0);
    assert_int_equal(pl_thread_create(&t, NULL, wake_later, &k), 0);
    start = pl_time_mono_ns();
    assert_int_equal(pl_poll(&p, 1, 5000), 1);
    assert_true(p.revents & PL_POLLIN);
    assert_true(pl_time_mono_ns() - start < 4000 * MS);
    assert_int_equal(pl_thread_join(&t), 0);
    /* Many signals collapse into one readable state; drain clears it. */
    pl_wakeup_signal(&k.w);
    pl_wakeup_signal(&k.w);
    pl_wakeup_drain(&k.w);
    assert_int_equal(pl_poll(&p, 1, 10), 0);
    pl_wakeup_destroy(&k.w);
    pl_wakeup_destroy(&k.w);
}

/* ---- processes and signals ------------------------------------------ */

static void
test_port_proc_spawn_exit_status(void **state)
{
    char *exit3[] = { "/bin/sh", "-c", "exit 3", NULL };
    char *sleeper[] = { "/bin/sh", "-c", "exec sleep 10", NULL };
    char *missing[] = { "/nonexistent/vmf-no-such-program", NULL };
    char *envtest[] = { "sh", "-c", "test \"$VMF_X\" = yes", NULL };
    char *env[] = { "VMF_X=yes", "PATH=/bin:/usr/bin", NULL };
    pl_pid_t pid;
    int status = -1;

    (void)state;
    assert_int_equal(pl_proc_spawn(exit3, NULL, &pid), 0);
    assert_int_equal(pl_proc_wait(pid, &status, 0), 0);
    assert_int_equal(status, 3);
    assert_int_equal(pl_proc_wait(pid, &status, 0), PL_ECHILD);

    assert_int_equal(pl_proc_spawn(envtest, env, &pid), 0);
    assert_int_equal(pl_proc_wait(pid, &status, 0), 0);
    assert_int_equal(status, 0);

    assert_int_equal(pl_proc_spawn(sleeper, NULL, &pid), 0);
    assert_int_equal(pl_proc_wait(pid, &status, 1), PL_EAGAIN);
    assert_int_equal(pl_proc_kill(pid, PL_SIG_TERM), 0);
    assert_int_equal(pl_proc_wait(pid, &status, 0), 0);
    assert_true(status > 128); /* killed by a signal */

    assert_int_equal(pl_proc_spawn(missing, NULL, &pid), PL_ENOENT);
    assert_int_equal(pl_proc_kill(0, PL_SIG_TERM), PL_EINVAL);
}

static void
test_port_signal_sets_flag_and_wakes(void **state)
{
    pl_wakeup_t w;
    pl_pollfd_t p;

    (void)state;
    assert_int_equal(pl_signal_ignore_pipe(), 0);
    assert_int_equal(pl_wakeup_init(&w), 0);
    assert_int_equal(pl_signal_install(PL_SIG_HUP | PL_SIG_CHLD, &w), 0);
    assert_int_equal(pl_signal_install(PL_SIG_KILL, &w), PL_EINVAL);
    (void)pl_signal_take();
    assert_int_equal(pl_proc_kill(pl_getpid(), PL_SIG_HUP), 0);
    p.fd = pl_wakeup_fd(&w);
    p.events = PL_POLLIN;
    while (pl_poll(&p, 1, 5000) == PL_EINTR)
        ;
    assert_true(p.revents & PL_POLLIN);
    assert_true(pl_signal_take() & PL_SIG_HUP);
    assert_int_equal(pl_signal_take(), 0);
    pl_signal_reset(PL_SIG_HUP | PL_SIG_CHLD);
    pl_wakeup_destroy(&w);
}

/* ---- host facts ------------------------------------------------------ */

static void
test_port_misc_host_facts(void **state)
{
    char name[256], tiny[2];

    (void)state;
    assert_true(pl_cpu_count() >= 1);
    assert_true(pl_getpid() > 0);
    assert_int_equal(pl_hostname(name, sizeof(name)), 0);
    assert_true(name[0] != '\0');
    assert_int_equal(pl_hostname(tiny, sizeof(tiny)), PL_ENAMETOOLONG);
    assert_int_equal(tiny[1], '\0');
    assert_string_equal(pl_strerror(PL_EPERM), "operation not permitted");
    assert_string_equal(pl_strerror(PL_ENOHOST), "host name not found");
    assert_string_equal(pl_strerror(0), "success");
}

static int mode_openat2 = 1;
static int mode_walk = 0;

#define FS_TEST(fn, mode)                                                      \
    cmocka_unit_test_prestate_setup_teardown(fn, fs_setup, fs_teardown, &(mode))
#define FS_TESTS(mode)                                                         \
    FS_TEST(test_port_fs_file_roundtrip, mode),                                \
        FS_TEST(test_port_fs_dirs_and_errors, mode),                           \
        FS_TEST(test_port_fs_refuses_escapes, mode),                           \
        FS_TEST(test_port_fs_symlink_inside_allowed_unless_nosymlinks, mode),  \
        FS_TEST(test_port_fs_rename_stays_in_root, mode),                      \
        FS_TEST(test_port_fs_readdir_lists_created, mode),                     \
        FS_TEST(test_port_fs_usage_sums_regular_files, mode),                  \
        FS_TEST(test_port_fs_mkdir_p_and_remove_tree, mode)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_port_thread_mutex_counts_exactly),
        cmocka_unit_test(test_port_thread_has_own_id_and_trylock_busy),
        cmocka_unit_test(test_port_cond_producer_consumer),
        cmocka_unit_test(test_port_cond_timedwait_times_out),
        cmocka_unit_test(test_port_once_runs_once),
        FS_TESTS(mode_openat2),
        FS_TESTS(mode_walk),
        cmocka_unit_test(test_port_net_sockaddr_parse_format),
        cmocka_unit_test(test_port_net_tcp_echo),
        cmocka_unit_test(test_port_net_udp_echo),
        FS_TEST(test_port_net_unix_peer_cred, mode_openat2),
        cmocka_unit_test(test_port_net_wakeup_wakes_poll),
        cmocka_unit_test(test_port_proc_spawn_exit_status),
        cmocka_unit_test(test_port_signal_sets_flag_and_wakes),
        cmocka_unit_test(test_port_misc_host_facts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
