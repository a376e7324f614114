/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * WASI preview1 layer, exercised the way a guest uses it: wasi_test.wat
 * imports every preview1 function and exports a wasm wrapper for each, so
 * each test writes guest memory, calls a wrapper and checks the errno, the
 * memory and the context (sinks, wake time, exit code).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pl/pl.h"
#include "vmrt/vmrt.h"
#include "vmrt/wasi.h"

extern const unsigned char wasi_test_wasm[];
extern const size_t wasi_test_wasm_len;

#define MEM_SIZE 65536u

typedef struct {
    vmrt_module_t *mod;
    vmrt_linker_t *lk;
    vmrt_wasi_t *wasi;
    vmrt_instance_t *inst;
    char out[256]; /* what the guest wrote, both fds, in order */
    size_t outlen;
    int last_fd;
    int32_t result;
} fx_t;

static long
capture(void *arg, int fd, const void *buf, size_t len)
{
    fx_t *f = arg;

    if (len > sizeof(f->out) - f->outlen)
        return -1;
    memcpy(f->out + f->outlen, buf, len);
    f->outlen += len;
    f->last_fd = fd;
    return (long)len;
}

static const char *const test_argv[] = { "prog", "a", "bc" };
static const char *const test_envp[] = { "HOME=/", "X=1", NULL };

static void
fx_open(fx_t *f, const vmrt_wasi_config_t *cfg)
{
    char err[256] = "";
    int rc;

    memset(f, 0, sizeof(*f));
    rc = vmrt_module_load(wasi_test_wasm, wasi_test_wasm_len, &f->mod, err,
                          sizeof(err));
    if (rc != 0)
        fail_msg("load: %s: %s", vmrt_strerror(rc), err);
    assert_non_null(f->wasi = vmrt_wasi_create(cfg));
    assert_non_null(f->lk = vmrt_linker_create());
    assert_int_equal(vmrt_wasi_link(f->wasi, f->lk), 0);
    rc = vmrt_instance_create(f->mod, f->lk, NULL, &f->inst, err, sizeof(err));
    if (rc != 0)
        fail_msg("instantiate: %s: %s", vmrt_strerror(rc), err);
}

static void
fx_open_default(fx_t *f)
{
    vmrt_wasi_config_t cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.argc = 3;
    cfg.argv = test_argv;
    cfg.envp = test_envp;
    cfg.out = capture;
    cfg.err = capture;
    cfg.sink_arg = f;
    fx_open(f, &cfg);
    /* fx_open cleared *f; the sink argument is the fixture itself. */
}

static void
fx_close(fx_t *f)
{
    vmrt_instance_free(f->inst);
    vmrt_linker_free(f->lk);
    vmrt_wasi_destroy(f->wasi);
    vmrt_module_free(f->mod);
}

static uint8_t *
fx_mem(fx_t *f)
{
    uint64_t size = 0;
    uint8_t *m = vmrt_instance_memory(f->inst, &size);

    assert_non_null(m);
    assert_int_equal(size, MEM_SIZE);
    return m;
}

static vmrt_val_t
I32(uint32_t v)
{
    vmrt_val_t x;

    memset(&x, 0, sizeof(x));
    x.type = VMRT_I32;
    x.of.i32 = (int32_t)v;
    return x;
}

static vmrt_val_t
I64(uint64_t v)
{
    vmrt_val_t x;

    memset(&x, 0, sizeof(x));
    x.type = VMRT_I64;
    x.of.i64 = (int64_t)v;
    return x;
}

/* Start a call of wrapper w_NAME; nothing runs yet. */
static void
fx_start(fx_t *f, const char *name, const vmrt_val_t *args, uint32_t n)
{
    char exp[64] = "w_";
    vmrt_extern_kind_t kind;
    uint32_t idx;

    strncat(exp, name, sizeof(exp) - 3);
    assert_int_equal(vmrt_instance_find_export(f->inst, exp, &kind, &idx), 0);
    assert_int_equal(kind, VMRT_EXTERN_FUNC);
    assert_int_equal(vmrt_instance_call(f->inst, idx, args, n), 0);
}

/* Run the pending call once; on DONE keep its errno in f->result. */
static int
fx_run(fx_t *f)
{
    vmrt_val_t r;
    int st = vmrt_instance_run(f->inst, UINT64_MAX, NULL);

    if (st == VMRT_RUN_DONE) {
        assert_int_equal(vmrt_instance_results(f->inst, &r, 1), 1);
        f->result = r.of.i32;
    }
    return st;
}

/* Call w_NAME to completion and return its WASI errno. */
static int32_t
fx_call(fx_t *f, const char *name, const vmrt_val_t *args, uint32_t n)
{
    fx_start(f, name, args, n);
    assert_int_equal(fx_run(f), VMRT_RUN_DONE);
    return f->result;
}

static uint32_t
rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void
wr32(uint8_t *p, uint32_t v)
{
    int i;

    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void
wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------ */

static void
test_wasi_args_sizes_and_layout(void **state)
{
    vmrt_val_t a[2] = { I32(0x10), I32(0x14) };
    fx_t f;
    uint8_t *m;

    (void)state;
    fx_open_default(&f);
    assert_int_equal(fx_call(&f, "args_sizes_get", a, 2), 0);
    m = fx_mem(&f);
    assert_int_equal(rd32(m + 0x10), 3);
    assert_int_equal(rd32(m + 0x14), 10); /* "prog\0a\0bc\0" */

    a[0] = I32(0x100);
    a[1] = I32(0x200);
    assert_int_equal(fx_call(&f, "args_get", a, 2), 0);
    m = fx_mem(&f);
    assert_int_equal(rd32(m + 0x100), 0x200);
    assert_int_equal(rd32(m + 0x104), 0x205);
    assert_int_equal(rd32(m + 0x108), 0x207);
    assert_memory_equal(m + 0x200, "prog\0a\0bc\0", 10);
    assert_int_equal(m[0x20a], 0); /* nothing written past the end */
    fx_close(&f);
}

static void
test_wasi_environ_sizes_and_layout(void **state)
{
    vmrt_val_t a[2] = { I32(0x10), I32(0x14) };
    fx_t f;
    uint8_t *m;

    (void)state;
    fx_open_default(&f);
    assert_int_equal(fx_call(&f, "environ_sizes_get", a, 2), 0);
    m = fx_mem(&f);
    assert_int_equal(rd32(m + 0x10), 2);
    assert_int_equal(rd32(m + 0x14), 11); /* "HOME=/\0X=1\0" */

    a[0] = I32(0x300);
    a[1] = I32(0x400);
    assert_int_equal(fx_call(&f, "environ_get", a, 2), 0);
    m = fx_mem(&f);
    assert_int_equal(rd32(m + 0x300), 0x400);
    assert_int_equal(rd32(m + 0x304), 0x407);
    assert_memory_equal(m + 0x400, "HOME=/\0X=1\0", 11);
    fx_close(&f);
}

static void
test_wasi_empty_config_has_no_args(void **state)
{
    vmrt_val_t a[2] = { I32(0x10), I32(0x14) };
    fx_t f;

    (void)state;
    fx_open(&f, NULL);
    assert_int_equal(fx_call(&f, "environ_sizes_get", a, 2), 0);
    assert_int_equal(rd32(fx_mem(&f) + 0x10), 0);
    assert_int_equal(rd32(fx_mem(&f) + 0x14), 0);
    assert_int_equal(fx_call(&f, "args_sizes_get", a, 2), 0);
    assert_int_equal(rd32(fx_mem(&f) + 0x10), 0);
    fx_close(&f);
}

static void
test_wasi_efault_on_out_of_range_pointers(void **state)
{
    vmrt_val_t a[4];
    fx_t f;
    uint8_t *m;

    (void)state;
    fx_open_default(&f);

    /* A 4-byte result straddling the end of memory. */
    a[0] = I32(MEM_SIZE - 2);
    a[1] = I32(0x10);
    assert_int_equal(fx_call(&f, "args_sizes_get", a, 2), 21);
    /* The string buffer runs past the end (10 bytes at MEM_SIZE - 4). */
    a[0] = I32(0x100);
    a[1] = I32(MEM_SIZE - 4);
    assert_int_equal(fx_call(&f, "args_get", a, 2), 21);
    /* Pointer arithmetic must not wrap: 0xfffffffc + 8. */
    a[0] = I32(1);
    a[1] = I64(0);
    a[2] = I32(0xfffffffcu);
    assert_int_equal(fx_call(&f, "clock_time_get", a, 3), 21);
    a[0] = I32(MEM_SIZE - 8);
    a[1] = I32(9);
    assert_int_equal(fx_call(&f, "random_get", a, 2), 21);

    /* fd_write: the iov array itself, then one buffer, out of range. */
    m = fx_mem(&f);
    a[0] = I32(1);
    a[1] = I32(MEM_SIZE - 4);
    a[2] = I32(1);
    a[3] = I32(0x20);
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 21);
    wr32(m + 0x40, 0x80); /* iov 0: fine */
    wr32(m + 0x44, 4);
    wr32(m + 0x48, MEM_SIZE - 1); /* iov 1: 2 bytes from the last one */
    wr32(m + 0x4c, 2);
    a[1] = I32(0x40);
    a[2] = I32(2);
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 21);
    assert_int_equal(f.outlen, 0); /* a bad iov writes nothing at all */
    /* poll_oneoff's nevents result pointer. */
    a[0] = I32(0x400);
    a[1] = I32(0x800);
    a[2] = I32(1);
    a[3] = I32(MEM_SIZE);
    assert_int_equal(fx_call(&f, "poll_oneoff", a, 4), 21);
    fx_close(&f);
}

static void
test_wasi_fd_write_goes_to_the_sinks(void **state)
{
    vmrt_val_t a[4] = { I32(1), I32(0x40), I32(2), I32(0x20) };
    fx_t f;
    uint8_t *m;

    (void)state;
    fx_open_default(&f);
    m = fx_mem(&f);
    memcpy(m + 0x80, "hello, ", 7);
    memcpy(m + 0x90, "world\n", 6);
    wr32(m + 0x40, 0x80);
    wr32(m + 0x44, 7);
    wr32(m + 0x48, 0x90);
    wr32(m + 0x4c, 6);
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 0);
    assert_int_equal(rd32(fx_mem(&f) + 0x20), 13);
    assert_int_equal(f.outlen, 13);
    assert_memory_equal(f.out, "hello, world\n", 13);
    assert_int_equal(f.last_fd, 1);

    a[0] = I32(2);
    a[2] = I32(1);
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 0);
    assert_int_equal(f.last_fd, 2);
    assert_int_equal(f.outlen, 20);

    a[0] = I32(0); /* stdin is not writable */
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 8);
    a[0] = I32(3);
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 8);
    /* After fd_close, fd 1 is gone. */
    a[0] = I32(1);
    assert_int_equal(fx_call(&f, "fd_close", a, 1), 0);
    assert_int_equal(fx_call(&f, "fd_write", a, 4), 8);
    assert_int_equal(f.outlen, 20);
    fx_close(&f);
}

static void
test_wasi_stdio_fdstat_and_seek(void **state)
{
    vmrt_val_t a[4] = { I32(1), I32(0x60) };
    fx_t f;
    uint8_t *m;

    (void)state;
    fx_open_default(&f);
    assert_int_equal(fx_call(&f, "fd_fdstat_get", a, 2), 0);
    m = fx_mem(&f);
    assert_int_equal(m[0x60], 2);            /* character device */
    assert_true(rd64(m + 0x68) & (1u << 6)); /* FD_WRITE */
    assert_false(rd64(m + 0x68) & ((1u << 2) | (1u << 5))); /* seek, tell */
    a[0] = I32(5);
    assert_int_equal(fx_call(&f, "fd_fdstat_get", a, 2), 8);

    a[0] = I32(1);
    a[1] = I64(0);
    a[2] = I32(0);
    a[3] = I32(0x70);
    assert_int_equal(fx_call(&f, "fd_seek", a, 4), 70); /* ESPIPE */
    a[0] = I32(9);
    assert_int_equal(fx_call(&f, "fd_seek", a, 4), 8);
    fx_close(&f);
}

static void
test_wasi_without_root_prestat_and_path_open_are_ebadf(void **state)
{
    vmrt_val_t a[9];
    fx_t f;
    int i;

    (void)state;
    fx_open_default(&f);
    a[0] = I32(3);
    a[1] = I32(0x10);
    assert_int_equal(fx_call(&f, "fd_prestat_get", a, 2), 8);
    for (i = 0; i < 9; i++)
        a[i] = I32(0);
    a[5] = I64(0);
    a[6] = I64(0);
    assert_int_equal(fx_call(&f, "path_open", a, 9), 8); /* no root: EBADF */
    assert_int_equal(fx_call(&f, "fd_read", a, 4), 52);
    assert_int_equal(fx_call(&f, "sock_shutdown", a, 2), 52);
    fx_close(&f);
}

static void
test_wasi_clocks_advance_and_reject_bad_ids(void **state)
{
    vmrt_val_t a[3] = { I32(1), I64(0), I32(0x10) };
    uint64_t t1, t2;
    fx_t f;

    (void)state;
    fx_open_default(&f);
    assert_int_equal(fx_call(&f, "clock_time_get", a, 3), 0);
    t1 = rd64(fx_mem(&f) + 0x10);
    pl_sleep_ns(1000000);
    assert_int_equal(fx_call(&f, "clock_time_get", a, 3), 0);
    t2 = rd64(fx_mem(&f) + 0x10);
    assert_true(t2 >= t1 + 1000000);
    a[0] = I32(0); /* realtime: after 2020 */
    assert_int_equal(fx_call(&f, "clock_time_get", a, 3), 0);
    assert_true(rd64(fx_mem(&f) + 0x10) > 1577836800ull * 1000000000ull);
    a[0] = I32(7);
    assert_int_equal(fx_call(&f, "clock_time_get", a, 3), 28);
    a[0] = I32(1);
    a[1] = I32(0x18);
    assert_int_equal(fx_call(&f, "clock_res_get", a, 2), 0);
    assert_true(rd64(fx_mem(&f) + 0x18) > 0);
    fx_close(&f);
}

static void
test_wasi_poll_oneoff_blocks_then_completes(void **state)
{
    vmrt_val_t a[4] = { I32(0x400), I32(0x800), I32(1), I32(0x900) };
    uint64_t t0, wake, now;
    uint8_t *m;
    fx_t f;
    int st, runs = 0;

    (void)state;
    fx_open_default(&f);
    m = fx_mem(&f);
    memset(m + 0x400, 0, 48);
    wr64(m + 0x400, 0x1122334455667788ull); /* userdata */
    m[0x408] = 0;                           /* clock */
    wr32(m + 0x410, 1);                     /* monotonic */
    wr64(m + 0x418, 20000000);              /* 20 ms, relative */
    assert_int_equal(vmrt_wasi_wake_time(f.wasi), 0);

    t0 = pl_time_mono_ns();
    fx_start(&f, "poll_oneoff", a, 4);
    assert_int_equal(fx_run(&f), VMRT_RUN_BLOCKED);
    wake = vmrt_wasi_wake_time(f.wasi);
    assert_true(wake >= t0 + 20000000);
    assert_true(wake <= pl_time_mono_ns() + 20000000);
    /* A retry before the deadline blocks again, with the same deadline. */
    assert_int_equal(fx_run(&f), VMRT_RUN_BLOCKED);
    assert_int_equal(vmrt_wasi_wake_time(f.wasi), wake);
    for (;;) {
        now = pl_time_mono_ns();
        if (now < wake)
            pl_sleep_ns(wake - now);
        st = fx_run(&f);
        if (st != VMRT_RUN_BLOCKED || ++runs > 100)
            break;
    }
    assert_int_equal(st, VMRT_RUN_DONE);
    assert_int_equal(f.result, 0);
    assert_true(pl_time_mono_ns() >= t0 + 20000000);
    m = fx_mem(&f);
    assert_int_equal(rd32(m + 0x900), 1); /* one event */
    assert_int_equal(rd64(m + 0x800), 0x1122334455667788ull);
    assert_int_equal(m[0x808] | m[0x809] << 8, 0); /* error */
    assert_int_equal(m[0x80a], 0);                 /* type: clock */
    assert_int_equal(vmrt_wasi_wake_time(f.wasi), 0);

    /* A deadline already past completes without blocking. */
    wr64(m + 0x418, 0);
    assert_int_equal(fx_call(&f, "poll_oneoff", a, 4), 0);
    a[2] = I32(0); /* no subscriptions */
    assert_int_equal(fx_call(&f, "poll_oneoff", a, 4), 28);
    fx_close(&f);
}

static void
test_wasi_proc_exit_stores_the_code(void **state)
{
    vmrt_val_t a[1] = { I32(7) };
    uint32_t code = 0;
    fx_t f;

    (void)state;
    fx_open_default(&f);
    assert_int_equal(vmrt_wasi_exit_code(f.wasi, &code), 0);
    fx_start(&f, "proc_exit", a, 1);
    assert_int_equal(fx_run(&f), VMRT_RUN_EXIT);
    assert_int_equal(vmrt_wasi_exit_code(f.wasi, &code), 1);
    assert_int_equal(code, 7);
    fx_close(&f);
}

static void
test_wasi_random_get_fills_the_buffer(void **state)
{
    vmrt_val_t a[2] = { I32(0x100), I32(64) };
    uint8_t zero[64];
    fx_t f;

    (void)state;
    fx_open_default(&f);
    memset(zero, 0, sizeof(zero));
    assert_int_equal(fx_call(&f, "random_get", a, 2), 0);
    assert_memory_not_equal(fx_mem(&f) + 0x100, zero, sizeof(zero));
    assert_int_equal(fx_mem(&f)[0x140], 0);
    fx_close(&f);
}

static void
test_wasi_create_checks_its_config(void **state)
{
    static uint64_t storage[64];
    vmrt_wasi_config_t cfg;
    vmrt_wasi_t *w;
    uint32_t code;

    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.argc = 2; /* without argv */
    assert_null(vmrt_wasi_create(&cfg));
    cfg.argc = -1;
    assert_null(vmrt_wasi_create(&cfg));
    cfg.argc = 3;
    cfg.argv = test_argv;
    assert_true(vmrt_wasi_size() <= sizeof(storage));
    assert_null(vmrt_wasi_create_static(storage, 8, &cfg));
    w = vmrt_wasi_create_static(storage, sizeof(storage), &cfg);
    assert_ptr_equal(w, storage);
    assert_int_equal(vmrt_wasi_exit_code(w, &code), 0);
    assert_int_equal(vmrt_wasi_wake_time(w), 0);
    vmrt_wasi_destroy(w);
    vmrt_wasi_destroy(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wasi_args_sizes_and_layout),
        cmocka_unit_test(test_wasi_environ_sizes_and_layout),
        cmocka_unit_test(test_wasi_empty_config_has_no_args),
        cmocka_unit_test(test_wasi_efault_on_out_of_range_pointers),
        cmocka_unit_test(test_wasi_fd_write_goes_to_the_sinks),
        cmocka_unit_test(test_wasi_stdio_fdstat_and_seek),
        cmocka_unit_test(test_wasi_without_root_prestat_and_path_open_are_ebadf),
        cmocka_unit_test(test_wasi_clocks_advance_and_reject_bad_ids),
        cmocka_unit_test(test_wasi_poll_oneoff_blocks_then_completes),
        cmocka_unit_test(test_wasi_proc_exit_stores_the_code),
        cmocka_unit_test(test_wasi_random_get_fills_the_buffer),
        cmocka_unit_test(test_wasi_create_checks_its_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
