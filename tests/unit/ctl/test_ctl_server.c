/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The control server (src/ctl/server.c) over a real Unix socket, against
 * a fake runtime (fake_rt.c): lifecycle dispatch and error codes, size
 * limits before parsing, garbage, peer credentials, the event stream,
 * snapshot bytes, logs and device injection.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_rt.h"
#include "ipc/ctl.h"
#include "vm/vm_internal.h"
#include "vmrt/ctl.h"

typedef struct {
    char dir[128];
    struct vmrt_rt rt;
    vmrt_ctl_t *ctl;
    pl_socket_t s;
} fx_t;

static int
setup(void **state)
{
    fx_t *f = calloc(1, sizeof(*f));
    char err[256] = "";

    if (f == NULL)
        return -1;
    memset(fake_vms, 0, sizeof(fake_vms));
    snprintf(f->dir, sizeof(f->dir), "/tmp/vmf-ctl-XXXXXX");
    if (pl_fs_mkdtemp(f->dir) != 0)
        return -1;
    snprintf(f->rt.cfg.state_dir, sizeof(f->rt.cfg.state_dir), "%s", f->dir);
    if (vmrt_ctl_start(&f->rt, NULL, &f->ctl, err, sizeof(err)) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    if (ipc_ctl_connect(vmrt_ctl_path(f->ctl), &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *f = *state;

    pl_sock_close(f->s);
    vmrt_ctl_stop(f->ctl);
    vmrt_ctl_free(f->ctl);
    pl_fs_remove_tree(f->dir);
    free(f);
    return 0;
}

/* One request on the fixture's connection; returns the response code. */
static int
req(fx_t *f, ipc_ctl_req_t *q, ipc_ctl_resp_t *r)
{
    static uint64_t id;

    q->id = ++id;
    assert_int_equal(ipc_ctl_call(f->s, q, r, IPC_CTL_FRAME_BIG), 0);
    assert_int_equal(r->id, q->id);
    return r->code;
}

static int
op(fx_t *f, ipc_ctl_op_t o, const char *name)
{
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int code;

    ipc_ctl_req_init(&q);
    q.op = o;
    snprintf(q.name, sizeof(q.name), "%s", name);
    code = req(f, &q, &r);
    ipc_ctl_resp_free(&r);
    return code;
}

static int
create(fx_t *f, const char *name)
{
    static const uint8_t mod[8] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int code;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_CREATE;
    snprintf(q.name, sizeof(q.name), "%s", name);
    q.has_manifest = true;
    snprintf(q.manifest.version, sizeof(q.manifest.version), "1.0");
    q.manifest.priority = 3;
    q.data = (uint8_t *)mod;
    q.len = sizeof(mod);
    code = req(f, &q, &r);
    ipc_ctl_resp_free(&r);
    return code;
}

static void
test_ctl_server_lifecycle(void **state)
{
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;

    assert_int_equal(create(f, "app"), IPC_CTL_OK);
    assert_int_equal(create(f, "app"), IPC_CTL_EXISTS);
    assert_int_equal(op(f, IPC_CTL_OP_START, "app"), IPC_CTL_OK);
    assert_int_equal(op(f, IPC_CTL_OP_SUSPEND, "app"), IPC_CTL_OK);
    assert_int_equal(op(f, IPC_CTL_OP_SUSPEND, "app"), IPC_CTL_STATE);
    assert_int_equal(op(f, IPC_CTL_OP_RESUME, "app"), IPC_CTL_OK);
    assert_int_equal(op(f, IPC_CTL_OP_DESTROY, "app"), IPC_CTL_STATE);

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_LIST;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.nvms, 1);
    assert_string_equal(r.vms[0].name, "app");
    assert_string_equal(r.vms[0].version, "1.0");
    assert_int_equal(r.vms[0].state, VMRT_VM_RUNNING);
    assert_int_equal(r.vms[0].priority, 3);
    ipc_ctl_resp_free(&r);

    assert_int_equal(op(f, IPC_CTL_OP_STOP, "app"), IPC_CTL_OK);
    assert_int_equal(op(f, IPC_CTL_OP_DESTROY, "app"), IPC_CTL_OK);
    assert_int_equal(op(f, IPC_CTL_OP_START, "app"), IPC_CTL_NOT_FOUND);
    /* STAGE without module bytes and a version is refused. */
    assert_int_equal(op(f, IPC_CTL_OP_STAGE, "app"), IPC_CTL_INVALID);
    assert_int_equal(op(f, IPC_CTL_OP_SWAP_STATUS, "app"),
                     IPC_CTL_NOT_FOUND);
}

static void
test_ctl_server_stage_and_swap_status(void **state)
{
    static const uint8_t mod[8] = { 0, 'a', 's', 'm', 1, 0, 0, 0 };
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;

    assert_int_equal(create(f, "app"), IPC_CTL_OK);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_STAGE;
    strcpy(q.name, "app");
    q.has_manifest = true;
    strcpy(q.manifest.version, "2.0");
    q.data = (uint8_t *)mod;
    q.len = sizeof(mod);
    q.health_ms = 100;
    /* Not running yet: the runtime's ESTATE comes back as STATE. */
    assert_int_equal(req(f, &q, &r), IPC_CTL_STATE);
    ipc_ctl_resp_free(&r);
    assert_int_equal(op(f, IPC_CTL_OP_START, "app"), IPC_CTL_OK);
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    ipc_ctl_resp_free(&r);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SWAP_STATUS;
    strcpy(q.name, "app");
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.nvalues, 1);
    assert_int_equal(r.values[0], VMRT_SWAP_COMMITTED);
    assert_string_equal(r.message, "committed 1.0 -> 2.0");
    ipc_ctl_resp_free(&r);
}

static void
test_ctl_server_create_bad_module_is_corrupt(void **state)
{
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_CREATE;
    strcpy(q.name, "x");
    q.has_manifest = true;
    q.data = (uint8_t *)"notwasm!";
    q.len = 8;
    assert_int_equal(req(f, &q, &r), IPC_CTL_CORRUPT);
    assert_string_equal(r.message, "not a wasm module");
    ipc_ctl_resp_free(&r);
    /* Without module bytes: refused before reaching the runtime. */
    q.len = 0;
    assert_int_equal(req(f, &q, &r), IPC_CTL_INVALID);
    ipc_ctl_resp_free(&r);
}

static void
send_raw(fx_t *f, const void *buf, size_t len)
{
    assert_int_equal(ipc_ctl_write_all(f->s, buf, len, 2000), 0);
}

static void
test_ctl_server_oversize_frame_refused_and_closed(void **state)
{
    fx_t *f = *state;
    static const uint8_t hdr[4] = { 0xff, 0xff, 0xff, 0x7f };
    ipc_ctl_resp_t r;
    uint8_t *body;
    size_t blen;

    send_raw(f, hdr, 4);
    assert_int_equal(ipc_ctl_recv(f->s, &r, IPC_CTL_FRAME_SMALL), 0);
    assert_int_equal(r.code, IPC_CTL_TOO_LARGE);
    ipc_ctl_resp_free(&r);
    /* The stream cannot be resynchronized: the server hangs up. */
    assert_int_equal(ipc_ctl_frame_read(f->s, 64, &body, &blen),
                     PL_ECONNRESET);
}

static void
test_ctl_server_small_op_over_64k_refused(void **state)
{
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    uint8_t *pad = calloc(1, IPC_CTL_FRAME_SMALL + 10);

    assert_non_null(pad);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_LIST;
    q.data = pad;
    q.len = IPC_CTL_FRAME_SMALL + 10;
    assert_int_equal(req(f, &q, &r), IPC_CTL_TOO_LARGE);
    ipc_ctl_resp_free(&r);
    free(pad);
    /* The connection is still in sync and usable. */
    assert_int_equal(op(f, IPC_CTL_OP_INFO, "nobody"), IPC_CTL_NOT_FOUND);
}

static void
test_ctl_server_garbage_is_invalid_and_connection_survives(void **state)
{
    fx_t *f = *state;
    static const uint8_t junk[] = { 5, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff };
    ipc_ctl_resp_t r;

    send_raw(f, junk, sizeof(junk));
    assert_int_equal(ipc_ctl_recv(f->s, &r, IPC_CTL_FRAME_SMALL), 0);
    assert_int_equal(r.code, IPC_CTL_INVALID);
    ipc_ctl_resp_free(&r);
    assert_int_equal(op(f, IPC_CTL_OP_LIST, ""), IPC_CTL_OK);
}

static void
test_ctl_server_peer_of_other_uid_denied(void **state)
{
    fx_t *f = *state;
    pl_socket_t s;
    ipc_ctl_resp_t r;

    vmrt_ctl_set_allowed_uid(f->ctl, pl_getuid() + 1, false);
    assert_int_equal(ipc_ctl_connect(vmrt_ctl_path(f->ctl), &s), 0);
    assert_int_equal(ipc_ctl_recv(s, &r, IPC_CTL_FRAME_SMALL), 0);
    assert_int_equal(r.code, IPC_CTL_DENIED);
    ipc_ctl_resp_free(&r);
    pl_sock_close(s);
    vmrt_ctl_set_allowed_uid(f->ctl, pl_getuid(), true);
}

static void
test_ctl_server_subscribe_pushes_events(void **state)
{
    fx_t *f = *state;
    pl_socket_t s;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    int i;

    assert_int_equal(ipc_ctl_connect(vmrt_ctl_path(f->ctl), &s), 0);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SUBSCRIBE;
    q.id = 1000;
    assert_int_equal(ipc_ctl_call(s, &q, &r, IPC_CTL_FRAME_SMALL), 0);
    assert_int_equal(r.code, IPC_CTL_OK);
    ipc_ctl_resp_free(&r);

    assert_int_equal(create(f, "ev"), IPC_CTL_OK);
    assert_int_equal(op(f, IPC_CTL_OP_START, "ev"), IPC_CTL_OK);
    /* created, then running */
    for (i = 0; i < 2; i++) {
        assert_int_equal(ipc_ctl_recv(s, &r, IPC_CTL_FRAME_SMALL), 0);
        assert_true(r.has_event);
        assert_int_equal(r.event.kind, VMRT_EV_STATE);
        assert_string_equal(r.event.vm, "ev");
        assert_int_equal(r.event.state,
                         i == 0 ? VMRT_VM_CREATED : VMRT_VM_RUNNING);
        ipc_ctl_resp_free(&r);
    }
    pl_sock_close(s);
}

static void
test_ctl_server_snapshot_bytes_roundtrip(void **state)
{
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    uint8_t *snap;
    size_t len;

    assert_int_equal(create(f, "s"), IPC_CTL_OK);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_SNAPSHOT;
    strcpy(q.name, "s");
    q.want_bytes = true;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.len, 8);
    assert_memory_equal(r.data, "SNAP:s:0", 8);
    snap = r.data;
    len = r.len;
    r.data = NULL;
    ipc_ctl_resp_free(&r);

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_RESTORE;
    strcpy(q.name, "s");
    q.data = snap;
    q.len = len;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    ipc_ctl_resp_free(&r);
    q.data = (uint8_t *)"garbage!";
    assert_int_equal(req(f, &q, &r), IPC_CTL_CORRUPT);
    assert_string_equal(r.message, "bad magic");
    ipc_ctl_resp_free(&r);
    free(snap);
}

static void
test_ctl_server_logs_from_sequence(void **state)
{
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;

    assert_int_equal(create(f, "l"), IPC_CTL_OK);
    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_LOGS;
    strcpy(q.name, "l");
    q.seq = 6;
    q.max = 4;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.len, 4);
    assert_memory_equal(r.data, "from", 4);
    assert_int_equal(r.next_seq, 10);
    ipc_ctl_resp_free(&r);
    strcpy(q.name, "none");
    assert_int_equal(req(f, &q, &r), IPC_CTL_NOT_FOUND);
    ipc_ctl_resp_free(&r);
}

static void
test_ctl_server_dev_injection(void **state)
{
    fx_t *f = *state;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_DEV;
    strcpy(q.device, "uart0");
    strcpy(q.action, "inject");
    q.data = (uint8_t *)"ping";
    q.len = 4;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.values[0], 4);
    assert_int_equal(fake_uart_in_len, 4);
    assert_memory_equal(fake_uart_in, "ping", 4);
    ipc_ctl_resp_free(&r);

    ipc_ctl_req_init(&q);
    q.op = IPC_CTL_OP_DEV;
    strcpy(q.device, "led0");
    strcpy(q.action, "led");
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.nvalues, 1);
    assert_int_equal(r.values[0], 1);
    ipc_ctl_resp_free(&r);

    strcpy(q.device, "nope0");
    assert_int_equal(req(f, &q, &r), IPC_CTL_NOT_FOUND);
    ipc_ctl_resp_free(&r);

    strcpy(q.device, "temp0");
    strcpy(q.action, "sine");
    q.args[0] = 25000;
    q.args[1] = 5000;
    q.args[2] = 0;
    q.nargs = 3;
    assert_int_equal(req(f, &q, &r), IPC_CTL_INVALID);
    ipc_ctl_resp_free(&r);
    q.args[2] = 10000;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    ipc_ctl_resp_free(&r);

    strcpy(q.device, "lcd0");
    strcpy(q.action, "dump");
    q.want_bytes = true;
    assert_int_equal(req(f, &q, &r), IPC_CTL_OK);
    assert_int_equal(r.len, 14);
    assert_memory_equal(r.data, "P6\n", 3);
    ipc_ctl_resp_free(&r);
}

static void
test_ctl_server_second_daemon_refused(void **state)
{
    fx_t *f = *state;
    vmrt_ctl_t *c2 = NULL;
    char err[256] = "";

    assert_int_equal(vmrt_ctl_start(&f->rt, NULL, &c2, err, sizeof(err)),
                     PL_EADDRINUSE);
    assert_null(c2);
    assert_non_null(strstr(err, "another vmrt daemon"));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ctl_server_lifecycle),
        T(test_ctl_server_stage_and_swap_status),
        T(test_ctl_server_create_bad_module_is_corrupt),
        T(test_ctl_server_oversize_frame_refused_and_closed),
        T(test_ctl_server_small_op_over_64k_refused),
        T(test_ctl_server_garbage_is_invalid_and_connection_survives),
        T(test_ctl_server_peer_of_other_uid_denied),
        T(test_ctl_server_subscribe_pushes_events),
        T(test_ctl_server_snapshot_bytes_roundtrip),
        T(test_ctl_server_logs_from_sequence),
        T(test_ctl_server_dev_injection),
        T(test_ctl_server_second_daemon_refused),
    };
#undef T

    pl_signal_ignore_pipe();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
