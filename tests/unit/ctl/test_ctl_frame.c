/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The control protocol's framing and codec (device/ipc ctl.c): size limits
 * decided from the header alone, truncated frames, garbage, field limits,
 * and round trips of every message shape.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/ctl.h"

static void
put_len(uint8_t *h, uint32_t n)
{
    h[0] = (uint8_t)n;
    h[1] = (uint8_t)(n >> 8);
    h[2] = (uint8_t)(n >> 16);
    h[3] = (uint8_t)(n >> 24);
}

static void
test_ctl_frame_parse_complete(void **state)
{
    uint8_t buf[16] = { 0 };
    const uint8_t *body;
    size_t blen, used;

    (void)state;
    put_len(buf, 3);
    memcpy(buf + 4, "abc", 3);
    assert_int_equal(ipc_ctl_frame_parse(buf, 7, 64, &body, &blen, &used),
                     0);
    assert_int_equal(blen, 3);
    assert_int_equal(used, 7);
    assert_memory_equal(body, "abc", 3);
}

static void
test_ctl_frame_parse_truncated_needs_more(void **state)
{
    uint8_t buf[16] = { 0 };
    const uint8_t *body;
    size_t blen, used, i;

    (void)state;
    put_len(buf, 5);
    /* Every prefix of the frame, header included, asks for more. */
    for (i = 0; i < 9; i++)
        assert_int_equal(
            ipc_ctl_frame_parse(buf, i, 64, &body, &blen, &used), PL_EAGAIN);
}

static void
test_ctl_frame_parse_oversize_from_header_alone(void **state)
{
    uint8_t buf[4];
    const uint8_t *body;
    size_t blen, used;

    (void)state;
    put_len(buf, IPC_CTL_FRAME_SMALL + 1);
    /* Only the header is there: the verdict must not wait for the body. */
    assert_int_equal(ipc_ctl_frame_parse(buf, 4, IPC_CTL_FRAME_SMALL, &body,
                                         &blen, &used),
                     PL_EMSGSIZE);
    put_len(buf, 0xffffffffu);
    assert_int_equal(ipc_ctl_frame_parse(buf, 4, IPC_CTL_FRAME_BIG, &body,
                                         &blen, &used),
                     PL_EMSGSIZE);
    put_len(buf, IPC_CTL_FRAME_SMALL);
    assert_int_equal(ipc_ctl_frame_parse(buf, 4, IPC_CTL_FRAME_SMALL, &body,
                                         &blen, &used),
                     PL_EAGAIN);
}

static void
test_ctl_req_roundtrip_create(void **state)
{
    ipc_ctl_req_t q, d;
    uint8_t *buf, mod[100];
    const uint8_t *body;
    size_t len, blen, used;

    (void)state;
    memset(mod, 0xab, sizeof(mod));
    ipc_ctl_req_init(&q);
    q.id = 42;
    q.op = IPC_CTL_OP_CREATE;
    strcpy(q.name, "sensor");
    q.has_manifest = true;
    strcpy(q.manifest.name, "sensor");
    strcpy(q.manifest.version, "1.2.3");
    q.manifest.priority = 7;
    q.manifest.slice_us = 500;
    q.manifest.memory_pages = 3;
    q.manifest.affinity = -1;
    q.manifest.ngrants = 1;
    strcpy(q.manifest.grants[0].name, "led0");
    q.manifest.grants[0].exclusive = true;
    q.manifest.nargs = 2;
    strcpy(q.manifest.args[0], "a");
    strcpy(q.manifest.args[1], "bb");
    q.manifest.restart = VMRT_RESTART_ON_FAILURE;
    q.manifest.nnet_allow = 1;
    strcpy(q.manifest.net_allow[0].host, "127.0.0.1");
    q.manifest.net_allow[0].port = 1883;
    q.data = mod;
    q.len = sizeof(mod);
    assert_int_equal(ipc_ctl_req_encode(&q, &buf, &len), 0);
    assert_int_equal(
        ipc_ctl_frame_parse(buf, len, IPC_CTL_FRAME_BIG, &body, &blen, &used),
        0);
    assert_int_equal(used, len);
    assert_int_equal(ipc_ctl_req_decode(body, blen, &d), 0);
    assert_int_equal(d.id, 42);
    assert_int_equal(d.op, IPC_CTL_OP_CREATE);
    assert_string_equal(d.name, "sensor");
    assert_true(d.has_manifest);
    assert_string_equal(d.manifest.version, "1.2.3");
    assert_int_equal(d.manifest.priority, 7);
    assert_int_equal(d.manifest.slice_us, 500);
    assert_int_equal(d.manifest.affinity, -1);
    assert_int_equal(d.manifest.ngrants, 1);
    assert_string_equal(d.manifest.grants[0].name, "led0");
    assert_true(d.manifest.grants[0].exclusive);
    assert_int_equal(d.manifest.nargs, 2);
    assert_string_equal(d.manifest.args[1], "bb");
    assert_int_equal(d.manifest.restart, VMRT_RESTART_ON_FAILURE);
    assert_int_equal(d.manifest.net_allow[0].port, 1883);
    assert_int_equal(d.len, sizeof(mod));
    assert_memory_equal(d.data, mod, sizeof(mod));
    ipc_ctl_req_free(&d);
    ipc_ctl_buf_free(buf);
}

static void
test_ctl_resp_roundtrip_list_and_event(void **state)
{
    ipc_ctl_resp_t r, d;
    vmrt_vm_info_t v[2];
    uint8_t *buf;
    size_t len;

    (void)state;
    memset(v, 0, sizeof(v));
    strcpy(v[0].name, "a");
    v[0].state = VMRT_VM_RUNNING;
    v[0].uptime_ms = 1234;
    v[0].memory_bytes = 65536;
    v[0].restarts = 3;
    v[0].memory_pages = 300;
    v[0].storage_quota = UINT64_C(5) << 32; /* needs all 64 bits */
    strcpy(v[1].name, "b");
    v[1].state = VMRT_VM_FAILED;
    v[1].exit_code = -1;
    strcpy(v[1].last_error, "unreachable");
    ipc_ctl_resp_init(&r);
    r.id = 9;
    r.code = IPC_CTL_STATE;
    strcpy(r.message, "vm a: running");
    r.vms = v;
    r.nvms = 2;
    r.has_event = true;
    r.event.kind = VMRT_EV_CRASH;
    strcpy(r.event.vm, "b");
    r.event.state = VMRT_VM_RESTARTING;
    r.event.time_ms = 77;
    assert_int_equal(ipc_ctl_resp_encode(&r, &buf, &len), 0);
    assert_int_equal(ipc_ctl_resp_decode(buf + 4, len - 4, &d), 0);
    assert_int_equal(d.id, 9);
    assert_int_equal(d.code, IPC_CTL_STATE);
    assert_string_equal(d.message, "vm a: running");
    assert_int_equal(d.nvms, 2);
    assert_int_equal(d.vms[0].state, VMRT_VM_RUNNING);
    assert_int_equal(d.vms[0].uptime_ms, 1234);
    assert_int_equal(d.vms[0].restarts, 3);
    assert_int_equal(d.vms[0].memory_pages, 300);
    assert_true(d.vms[0].storage_quota == UINT64_C(5) << 32);
    assert_int_equal(d.vms[1].storage_quota, 0);
    assert_int_equal(d.vms[1].state, VMRT_VM_FAILED);
    assert_int_equal(d.vms[1].exit_code, -1);
    assert_string_equal(d.vms[1].last_error, "unreachable");
    assert_true(d.has_event);
    assert_int_equal(d.event.kind, VMRT_EV_CRASH);
    assert_int_equal(d.event.state, VMRT_VM_RESTARTING);
    assert_int_equal(d.event.time_ms, 77);
    ipc_ctl_resp_free(&d);
    ipc_ctl_buf_free(buf);
}

static void
test_ctl_req_decode_garbage_is_clean_error(void **state)
{
    static const uint8_t junk[][8] = {
        { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
        { 0x1a, 0x7f, 'x' },     /* name: length past the end */
        { 0x10, 0x80, 0x80 },    /* op: truncated varint */
        { 0x07 },                /* wire type 7 */
        { 0x10, 0x63 },          /* op 99: not an operation */
    };
    static const size_t lens[] = { 8, 3, 3, 1, 2 };
    ipc_ctl_req_t d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        assert_int_equal(ipc_ctl_req_decode(junk[i], lens[i], &d), PL_EIO);
        assert_null(d.data);
    }
}

static void
test_ctl_req_decode_long_name_refused(void **state)
{
    uint8_t msg[64];
    ipc_ctl_req_t d;

    (void)state;
    /* field 3 (name), 40 bytes: longer than VMRT_NAME_MAX - 1. */
    msg[0] = 0x1a;
    msg[1] = 40;
    memset(msg + 2, 'n', 40);
    assert_int_equal(ipc_ctl_req_decode(msg, 42, &d), PL_EMSGSIZE);
    msg[1] = VMRT_NAME_MAX - 1;
    assert_int_equal(ipc_ctl_req_decode(msg, 2 + VMRT_NAME_MAX - 1, &d), 0);
    assert_int_equal(strlen(d.name), VMRT_NAME_MAX - 1);
    ipc_ctl_req_free(&d);
}

static void
test_ctl_req_limit_small_unless_bulk(void **state)
{
    (void)state;
    assert_int_equal(ipc_ctl_req_limit(IPC_CTL_OP_LIST), IPC_CTL_FRAME_SMALL);
    assert_int_equal(ipc_ctl_req_limit(IPC_CTL_OP_DEV), IPC_CTL_FRAME_SMALL);
    assert_int_equal(ipc_ctl_req_limit(IPC_CTL_OP_CREATE), IPC_CTL_FRAME_BIG);
    assert_int_equal(ipc_ctl_req_limit(IPC_CTL_OP_RESTORE),
                     IPC_CTL_FRAME_BIG);
}

static void
test_ctl_code_text_is_stable(void **state)
{
    (void)state;
    assert_string_equal(ipc_ctl_code_name(IPC_CTL_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(ipc_ctl_code_name(99), "UNKNOWN");
    assert_int_equal(ipc_ctl_code_of(VMRT_ESTATE), IPC_CTL_STATE);
    assert_int_equal(ipc_ctl_code_of(VMRT_ENOTFOUND), IPC_CTL_NOT_FOUND);
    assert_int_equal(ipc_ctl_code_of(0), IPC_CTL_OK);
    assert_string_equal(ipc_ctl_state_name(VMRT_VM_SUSPENDED), "suspended");
}

/* The reader over a real socket pair: split writes, then a short close. */
static void
test_ctl_reader_split_and_truncated(void **state)
{
    char path[128];
    pl_socket_t l, a, b;
    ipc_ctl_reader_t rd;
    uint8_t frame[10], *body;
    size_t blen, n;
    int rc, tries;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/vmf-ctl-test-%u.sock",
             (unsigned)pl_getuid() ^ (unsigned)(pl_time_mono_ns() & 0xffff));
    assert_int_equal(pl_unix_listen(path, 1, &l), 0);
    assert_int_equal(pl_unix_connect(path, &a), 0);
    assert_int_equal(pl_sock_accept(l, &b, NULL), 0);
    assert_int_equal(pl_sock_set_nonblock(b, 1), 0);
    ipc_ctl_reader_init(&rd);

    put_len(frame, 6);
    memcpy(frame + 4, "hello!", 6);
    assert_int_equal(pl_sock_send(a, frame, 3, &n), 0);
    assert_int_equal(ipc_ctl_reader_step(&rd, b, 64, &body, &blen), 0);
    assert_int_equal(pl_sock_send(a, frame + 3, 7, &n), 0);
    for (tries = 0; tries < 100; tries++) {
        rc = ipc_ctl_reader_step(&rd, b, 64, &body, &blen);
        if (rc != 0)
            break;
        pl_sleep_ns(1000000);
    }
    assert_int_equal(rc, 1);
    assert_int_equal(blen, 6);
    assert_memory_equal(body, "hello!", 6);
    ipc_ctl_buf_free(body);

    /* Half a frame, then the peer goes away. */
    assert_int_equal(pl_sock_send(a, frame, 7, &n), 0);
    pl_sock_close(a);
    for (tries = 0; tries < 100; tries++) {
        rc = ipc_ctl_reader_step(&rd, b, 64, &body, &blen);
        if (rc != 0)
            break;
        pl_sleep_ns(1000000);
    }
    assert_int_equal(rc, PL_ECONNRESET);
    ipc_ctl_reader_free(&rd);
    pl_sock_close(b);
    pl_sock_close(l);
    pl_fs_remove_tree(path);
}

static void
test_ctl_reader_oversize_before_body(void **state)
{
    char path[128];
    pl_socket_t l, a, b;
    ipc_ctl_reader_t rd;
    uint8_t hdr[4], *body;
    size_t blen, n;

    (void)state;
    snprintf(path, sizeof(path), "/tmp/vmf-ctl-test2-%u.sock",
             (unsigned)(pl_time_mono_ns() & 0xffffff));
    assert_int_equal(pl_unix_listen(path, 1, &l), 0);
    assert_int_equal(pl_unix_connect(path, &a), 0);
    assert_int_equal(pl_sock_accept(l, &b, NULL), 0);
    ipc_ctl_reader_init(&rd);
    /* A 4 GiB announcement with no body: refused from the header. */
    put_len(hdr, 0xfffffff0u);
    assert_int_equal(pl_sock_send(a, hdr, 4, &n), 0);
    assert_int_equal(ipc_ctl_frame_read(b, IPC_CTL_FRAME_BIG, &body, &blen),
                     PL_EMSGSIZE);
    assert_null(body);
    ipc_ctl_reader_free(&rd);
    pl_sock_close(a);
    pl_sock_close(b);
    pl_sock_close(l);
    pl_fs_remove_tree(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctl_frame_parse_complete),
        cmocka_unit_test(test_ctl_frame_parse_truncated_needs_more),
        cmocka_unit_test(test_ctl_frame_parse_oversize_from_header_alone),
        cmocka_unit_test(test_ctl_req_roundtrip_create),
        cmocka_unit_test(test_ctl_resp_roundtrip_list_and_event),
        cmocka_unit_test(test_ctl_req_decode_garbage_is_clean_error),
        cmocka_unit_test(test_ctl_req_decode_long_name_refused),
        cmocka_unit_test(test_ctl_req_limit_small_unless_bulk),
        cmocka_unit_test(test_ctl_code_text_is_stable),
        cmocka_unit_test(test_ctl_reader_split_and_truncated),
        cmocka_unit_test(test_ctl_reader_oversize_before_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
