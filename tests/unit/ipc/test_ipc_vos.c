/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * Unit tests of the vOS IPC glue (device/runtime/src/vos/ipc.c) at its
 * seams: the core's block/wake API, the handle table, the engine's memory
 * and linker are faked here, so host functions run without VMs.  A
 * blocked host call is "retried" by calling it again with the same
 * arguments, as the core would after a wake-up.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine/module.h"
#include "vm/vm_internal.h"
#include "vos.h"
#include "vos/handles.h"

/* ---- fakes ------------------------------------------------------------ */

#define MEM 4096
#define NH 32

struct vmrt_instance {
    vmrt_vm_t *vm;
    vmrt__vthread_t *t;
    uint8_t mem[MEM];
};

struct vmrt_snap_writer {
    uint8_t buf[8192];
    size_t len;
};

typedef struct {
    int type;
    void *obj;
    vmrt__hclose_fn_t close_fn;
} fh_t;

typedef struct {
    fh_t h[NH];
} ftab_t;

static uint64_t fake_now;

void *
vmrt__malloc(size_t n)
{
    return malloc(n);
}

void *
vmrt__calloc(size_t n, size_t size)
{
    return calloc(n, size);
}

void *
vmrt__realloc(void *p, size_t n)
{
    return realloc(p, n);
}

void
vmrt__free(void *p)
{
    free(p);
}

vmrt_vm_t *
vmrt__vm_of(vmrt_instance_t *inst)
{
    return inst->vm;
}

vmrt__vthread_t *
vmrt__self(vmrt_instance_t *inst)
{
    return inst->t;
}

uint64_t
vmrt__deadline(vmrt__vthread_t *t, uint64_t timeout_ns)
{
    if (!t->waiting) {
        t->waiting = true;
        t->deadline_ns = timeout_ns == UINT64_MAX ? 0 : fake_now + timeout_ns;
    }
    return t->deadline_ns;
}

int
vmrt__block(vmrt__vthread_t *t, vmrt__waitq_t *q, uint64_t deadline_ns)
{
    vmrt__vthread_t **pp;

    t->waiting = true;
    t->deadline_ns = deadline_ns;
    t->state = VMRT__VT_BLOCKED;
    t->wake = VMRT__WAKE_NONE;
    t->waitq = q;
    t->wq_next = NULL;
    if (q != NULL) {
        for (pp = &q->head; *pp != NULL; pp = &(*pp)->wq_next)
            ;
        *pp = t;
    }
    return VMRT_HOST_BLOCK;
}

vmrt__wake_t
vmrt__woken(const vmrt__vthread_t *t)
{
    return t->waiting ? (vmrt__wake_t)t->wake : VMRT__WAKE_NONE;
}

void
vmrt__wait_end(vmrt__vthread_t *t)
{
    t->waiting = false;
    t->wake = VMRT__WAKE_NONE;
    t->deadline_ns = 0;
}

static void
wake_n(vmrt__waitq_t *q, uint32_t n, vmrt__wake_t why)
{
    vmrt__vthread_t *t;

    while (n-- > 0 && (t = q->head) != NULL) {
        q->head = t->wq_next;
        t->wq_next = NULL;
        t->waitq = NULL;
        t->wake = (uint8_t)why;
        t->state = VMRT__VT_RUNNABLE;
    }
}

void
vmrt__wake(vmrt__waitq_t *q, uint32_t n)
{
    wake_n(q, n, VMRT__WAKE_SIGNALED);
}

void
vmrt__wake_abort(vmrt__waitq_t *q)
{
    wake_n(q, UINT32_MAX, VMRT__WAKE_ABORTED);
}

/* The deadline of a blocked thread passes. */
static void
expire(vmrt__vthread_t *t)
{
    vmrt__vthread_t **pp;

    if (t->waitq != NULL) {
        for (pp = &t->waitq->head; *pp != t; pp = &(*pp)->wq_next)
            ;
        *pp = t->wq_next;
    }
    t->waitq = NULL;
    t->wake = VMRT__WAKE_TIMEOUT;
    t->state = VMRT__VT_RUNNABLE;
}

uint8_t *
vmrt_instance_memory(vmrt_instance_t *inst, uint64_t *size)
{
    *size = MEM;
    return inst->mem;
}

int
vmrt_snap_write(vmrt_snap_writer_t *w, const void *data, size_t len)
{
    if (w->len + len > sizeof(w->buf))
        return VMRT_ENOMEM;
    memcpy(w->buf + w->len, data, len);
    w->len += len;
    return 0;
}

static struct {
    const char *name;
    vmrt_host_fn_t fn;
} linked[16];
static unsigned nlinked;

int
vmrt_linker_define_func(vmrt_linker_t *lk, const char *module,
                        const char *name, const char *sig, vmrt_host_fn_t fn,
                        void *ctx)
{
    (void)lk;
    (void)sig;
    (void)ctx;
    assert_string_equal(module, "vos");
    if (nlinked < 16) {
        linked[nlinked].name = name;
        linked[nlinked].fn = fn;
        nlinked++;
    }
    return 0;
}

static ftab_t *
tab(vmrt_vm_t *vm)
{
    if (vm->sub[VMRT__SUB_VOS] == NULL)
        vm->sub[VMRT__SUB_VOS] = calloc(1, sizeof(ftab_t));
    return vm->sub[VMRT__SUB_VOS];
}

int
vmrt__handle_alloc_at(vmrt_vm_t *vm, int h, vmrt__htype_t type, void *obj,
                      vmrt__hclose_fn_t close_fn)
{
    ftab_t *tb = tab(vm);

    if (h < 1 || h > NH || obj == NULL)
        return VOS_EINVAL;
    if (tb->h[h - 1].type != VMRT__H_NONE)
        return VOS_EBUSY;
    tb->h[h - 1].type = (int)type;
    tb->h[h - 1].obj = obj;
    tb->h[h - 1].close_fn = close_fn;
    return h;
}

int
vmrt__handle_alloc(vmrt_vm_t *vm, vmrt__htype_t type, void *obj,
                   vmrt__hclose_fn_t close_fn)
{
    int h;

    for (h = 1; h <= NH; h++)
        if (tab(vm)->h[h - 1].type == VMRT__H_NONE)
            return vmrt__handle_alloc_at(vm, h, type, obj, close_fn);
    return VOS_ENOMEM;
}

void *
vmrt__handle_get(vmrt_vm_t *vm, int h, vmrt__htype_t type)
{
    if (h < 1 || h > NH || tab(vm)->h[h - 1].type != (int)type)
        return NULL;
    return tab(vm)->h[h - 1].obj;
}

int
vmrt__handle_close(vmrt_vm_t *vm, int h)
{
    fh_t e;

    if (h < 1 || h > NH || tab(vm)->h[h - 1].type == VMRT__H_NONE)
        return VOS_EBADF;
    e = tab(vm)->h[h - 1];
    memset(&tab(vm)->h[h - 1], 0, sizeof(fh_t));
    if (e.close_fn != NULL)
        e.close_fn(vm, e.obj);
    return 0;
}

void
vmrt__handle_close_type(vmrt_vm_t *vm, vmrt__htype_t type)
{
    int h;

    for (h = 1; h <= NH; h++)
        if (tab(vm)->h[h - 1].type == (int)type)
            vmrt__handle_close(vm, h);
}

int
vmrt__handle_next(vmrt_vm_t *vm, int after, vmrt__htype_t type, void **obj)
{
    int h;

    for (h = after + 1; h <= NH; h++) {
        if (tab(vm)->h[h - 1].type == (int)type) {
            if (obj != NULL)
                *obj = tab(vm)->h[h - 1].obj;
            return h;
        }
    }
    return 0;
}

/* ---- fixture ---------------------------------------------------------- */

typedef struct {
    vmrt_vm_t vm;
    vmrt__vthread_t t[2];
    vmrt_instance_t inst[2];   /* one per thread, same VM */
} fvm_t;

typedef struct {
    vmrt_rt_t rt;
    fvm_t srv, cli;
} fx_t;

static vmrt_host_fn_t
fn(const char *name)
{
    unsigned i;

    for (i = 0; i < nlinked; i++)
        if (strcmp(linked[i].name, name) == 0)
            return linked[i].fn;
    fail_msg("no host function %s", name);
    return NULL;
}

static void
vm_setup(fx_t *fx, fvm_t *v, const char *name)
{
    int i;

    v->vm.rt = &fx->rt;
    strcpy(v->vm.man.name, name);
    for (i = 0; i < 2; i++) {
        v->t[i].vm = &v->vm;
        v->t[i].id = (uint32_t)i + 1;
        v->inst[i].vm = &v->vm;
        v->inst[i].t = &v->t[i];
    }
    assert_int_equal(vmrt__sub_ipc.vm_init(&v->vm), 0);
}

static void
vm_teardown(fvm_t *v)
{
    vmrt__sub_ipc.vm_fini(&v->vm);
    free(v->vm.sub[VMRT__SUB_VOS]);
    v->vm.sub[VMRT__SUB_VOS] = NULL;
}

static int
setup(void **state)
{
    fx_t *fx = calloc(1, sizeof(*fx));

    if (fx == NULL || pl_mutex_init(&fx->rt.lock) != 0)
        return -1;
    if (vmrt__sub_ipc.rt_init(&fx->rt) != 0)
        return -1;
    vm_setup(fx, &fx->srv, "server");
    strcpy(fx->srv.vm.man.provides[0], "net");
    fx->srv.vm.man.nprovides = 1;
    vm_setup(fx, &fx->cli, "client");
    strcpy(fx->cli.vm.man.calls[0], "net");
    fx->cli.vm.man.ncalls = 1;
    nlinked = 0;
    if (vmrt__sub_ipc.link(&fx->srv.vm, NULL) != 0)
        return -1;
    fake_now = 1000;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    fx_t *fx = *state;

    vm_teardown(&fx->cli);
    vm_teardown(&fx->srv);
    vmrt__sub_ipc.rt_fini(&fx->rt);
    pl_mutex_destroy(&fx->rt.lock);
    free(fx);
    return 0;
}

/* Guest memory layout used by the tests. */
#define P_NAME 0      /* service / topic name */
#define P_REQ 64
#define P_OUT 256
#define P_TAG 512

/* Run host function `name` with up to 7 i32 arguments; *rv = its result.
 * @return 0 (done) or VMRT_HOST_BLOCK. */
static int
run(vmrt_instance_t *inst, const char *name, int *rv, uint32_t a0,
    uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5,
    uint32_t a6)
{
    uint64_t args[7] = { a0, a1, a2, a3, a4, a5, a6 };
    int rc = fn(name)(inst, NULL, args, args);

    *rv = (int)(uint32_t)args[0];
    return rc;
}

static void
put(vmrt_instance_t *inst, uint32_t p, const char *s)
{
    memcpy(inst->mem + p, s, strlen(s));
}

/* vos_ipc_serve_open("net") in the server; returns the handle. */
static int
serve_open(fx_t *fx, const char *svc)
{
    int h;

    put(&fx->srv.inst[0], P_NAME, svc);
    assert_int_equal(run(&fx->srv.inst[0], "ipc_serve_open", &h, P_NAME,
                         (uint32_t)strlen(svc), 0, 0, 0, 0, 0), 0);
    return h;
}

static int
call(fx_t *fx, int th, const char *req, uint32_t cap, uint32_t tmo, int *rv)
{
    vmrt_instance_t *in = &fx->cli.inst[th];

    put(in, P_NAME, "net");
    put(in, P_REQ, req);
    return run(in, "ipc_call", rv, P_NAME, 3, P_REQ, (uint32_t)strlen(req),
               P_OUT, cap, tmo);
}

static int
serve_next(fx_t *fx, int srv, uint32_t tmo, int *rv, uint32_t *tag)
{
    vmrt_instance_t *in = &fx->srv.inst[0];
    int rc = run(in, "ipc_serve_next", rv, (uint32_t)srv, P_REQ, 64, P_TAG,
                 tmo, 0, 0);

    memcpy(tag, in->mem + P_TAG, 4);
    return rc;
}

static int
reply(fx_t *fx, int srv, uint32_t tag, const char *resp)
{
    vmrt_instance_t *in = &fx->srv.inst[0];
    int rv;

    put(in, P_OUT, resp);
    assert_int_equal(run(in, "ipc_reply", &rv, (uint32_t)srv, tag, P_OUT,
                         (uint32_t)strlen(resp), 0, 0, 0), 0);
    return rv;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_ipc_vos_links_every_import(void **state)
{
    (void)state;
    assert_int_equal(nlinked, 8);
    assert_int_equal(vmrt__sub_ipc.snap_tag, VMRT_SNAP_TAG('I', 'P', 'C',
                                                            ' '));
}

static void
test_ipc_vos_call_blocks_until_reply(void **state)
{
    fx_t *fx = *state;
    int srv, rv;
    uint32_t tag;

    srv = serve_open(fx, "net");
    assert_true(srv > 0);
    /* The server waits for a request. */
    assert_int_equal(serve_next(fx, srv, VOS_FOREVER, &rv, &tag),
                     VMRT_HOST_BLOCK);
    /* The client's call queues it, wakes the server and blocks. */
    assert_int_equal(call(fx, 0, "ping", 64, VOS_FOREVER, &rv),
                     VMRT_HOST_BLOCK);
    assert_int_equal(fx->srv.t[0].wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(serve_next(fx, srv, VOS_FOREVER, &rv, &tag), 0);
    assert_int_equal(rv, 4);
    assert_memory_equal(fx->srv.inst[0].mem + P_REQ, "ping", 4);
    assert_int_not_equal(tag, 0);
    /* A retry before the reply blocks again. */
    assert_int_equal(call(fx, 0, "ping", 64, VOS_FOREVER, &rv),
                     VMRT_HOST_BLOCK);
    assert_int_equal(reply(fx, srv, tag, "pong!"), 0);
    assert_int_equal(fx->cli.t[0].wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(call(fx, 0, "ping", 64, VOS_FOREVER, &rv), 0);
    assert_int_equal(rv, 5);
    assert_memory_equal(fx->cli.inst[0].mem + P_OUT, "pong!", 5);
    assert_false(fx->cli.t[0].waiting);
}

static void
test_ipc_vos_manifest_is_enforced(void **state)
{
    fx_t *fx = *state;
    vmrt_instance_t *in = &fx->cli.inst[0];
    int rv;

    /* The client does not provide "net". */
    put(in, P_NAME, "net");
    assert_int_equal(run(in, "ipc_serve_open", &rv, P_NAME, 3, 0, 0, 0, 0,
                         0), 0);
    assert_int_equal(rv, VOS_EPERM);
    /* The server may not call "net"; nobody may call "log". */
    assert_true(serve_open(fx, "net") > 0);
    put(&fx->srv.inst[0], P_NAME, "net");
    assert_int_equal(run(&fx->srv.inst[0], "ipc_call", &rv, P_NAME, 3, P_REQ,
                         1, P_OUT, 8, 0), 0);
    assert_int_equal(rv, VOS_EPERM);
    put(in, P_NAME, "log");
    assert_int_equal(run(in, "ipc_send", &rv, P_NAME, 3, P_REQ, 1, 0, 0, 0),
                     0);
    assert_int_equal(rv, VOS_EPERM);
    /* Twice is busy; a bad pointer is EFAULT; a bad handle EBADF. */
    assert_int_equal(serve_open(fx, "net"), VOS_EBUSY);
    assert_int_equal(run(in, "ipc_call", &rv, MEM - 2, 3, P_REQ, 1, P_OUT, 8,
                         0), 0);
    assert_int_equal(rv, VOS_EFAULT);
    assert_int_equal(run(in, "ipc_recv", &rv, 7, P_OUT, 8, 0, 0, 0, 0), 0);
    assert_int_equal(rv, VOS_EBADF);
}

static void
test_ipc_vos_server_stop_resets_callers(void **state)
{
    fx_t *fx = *state;
    int srv, rv;

    /* Not there yet: ENOENT at once. */
    assert_int_equal(call(fx, 0, "x", 8, VOS_FOREVER, &rv), 0);
    assert_int_equal(rv, VOS_ENOENT);
    srv = serve_open(fx, "net");
    assert_int_equal(call(fx, 0, "a", 8, VOS_FOREVER, &rv), VMRT_HOST_BLOCK);
    assert_int_equal(call(fx, 1, "b", 8, VOS_FOREVER, &rv), VMRT_HOST_BLOCK);
    (void)srv;
    /* The server VM stops (crash, stop or restart). */
    vmrt__sub_ipc.vm_fini(&fx->srv.vm);
    assert_int_equal(fx->cli.t[0].state, VMRT__VT_RUNNABLE);
    assert_int_equal(fx->cli.t[1].state, VMRT__VT_RUNNABLE);
    assert_int_equal(call(fx, 0, "a", 8, VOS_FOREVER, &rv), 0);
    assert_int_equal(rv, VOS_ECONNRESET);
    assert_int_equal(call(fx, 1, "b", 8, VOS_FOREVER, &rv), 0);
    assert_int_equal(rv, VOS_ECONNRESET);
    /* And later calls, until it is back. */
    assert_int_equal(call(fx, 0, "c", 8, VOS_FOREVER, &rv), 0);
    assert_int_equal(rv, VOS_ECONNRESET);
    assert_int_equal(vmrt__sub_ipc.vm_init(&fx->srv.vm), 0);
    assert_true(serve_open(fx, "net") > 0);
    assert_int_equal(call(fx, 0, "d", 8, VOS_FOREVER, &rv), VMRT_HOST_BLOCK);
}

static void
test_ipc_vos_call_timeout_then_late_reply(void **state)
{
    fx_t *fx = *state;
    int srv, rv;
    uint32_t tag;

    srv = serve_open(fx, "net");
    assert_int_equal(call(fx, 0, "slow", 8, 10, &rv), VMRT_HOST_BLOCK);
    assert_int_equal(fx->cli.t[0].deadline_ns, fake_now + 10 * 1000000u);
    assert_int_equal(serve_next(fx, srv, 0, &rv, &tag), 0);
    expire(&fx->cli.t[0]);
    assert_int_equal(call(fx, 0, "slow", 8, 10, &rv), 0);
    assert_int_equal(rv, VOS_ETIMEDOUT);
    assert_int_equal(reply(fx, srv, tag, "late"), VOS_ENOENT);
    /* Polling an empty queue is EAGAIN. */
    assert_int_equal(serve_next(fx, srv, VOS_NO_WAIT, &rv, &tag), 0);
    assert_int_equal(rv, VOS_EAGAIN);
}

static void
test_ipc_vos_send_blocks_while_full(void **state)
{
    fx_t *fx = *state;
    vmrt_instance_t *in = &fx->cli.inst[0];
    int srv, rv, i;
    uint32_t tag;

    srv = serve_open(fx, "net");
    put(in, P_NAME, "net");
    /* One VM's share of a 16-deep queue is 4 messages. */
    for (i = 0; i < 4; i++) {
        assert_int_equal(run(in, "ipc_send", &rv, P_NAME, 3, P_REQ, 8, 0, 0,
                             0), 0);
        assert_int_equal(rv, 0);
    }
    /* A flooder only blocks itself, or gets EAGAIN... */
    assert_int_equal(run(in, "ipc_send", &rv, P_NAME, 3, P_REQ, 8, 0, 0, 0),
                     0);
    assert_int_equal(rv, VOS_EAGAIN);
    /* ...while another VM still gets through. */
    strcpy(fx->srv.vm.man.calls[0], "net");
    fx->srv.vm.man.ncalls = 1;
    put(&fx->srv.inst[1], P_NAME, "net");
    assert_int_equal(run(&fx->srv.inst[1], "ipc_send", &rv, P_NAME, 3, P_REQ,
                         8, 0, 0, 0), 0);
    assert_int_equal(rv, 0);
    assert_int_equal(run(in, "ipc_send", &rv, P_NAME, 3, P_REQ, 8,
                         VOS_FOREVER, 0, 0), VMRT_HOST_BLOCK);
    assert_int_equal(serve_next(fx, srv, 0, &rv, &tag), 0);
    assert_int_equal(tag, 0);
    assert_int_equal(fx->cli.t[0].wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(run(in, "ipc_send", &rv, P_NAME, 3, P_REQ, 8,
                         VOS_FOREVER, 0, 0), 0);
    assert_int_equal(rv, 0);
}

static void
test_ipc_vos_publish_backpressure(void **state)
{
    fx_t *fx = *state;
    vmrt_instance_t *pub = &fx->srv.inst[0], *sub = &fx->cli.inst[0];
    int sh, rv, i;

    put(sub, P_NAME, "temp");
    assert_int_equal(run(sub, "ipc_subscribe", &sh, P_NAME, 4, 0, 0, 0, 0,
                         0), 0);
    assert_true(sh > 0);
    assert_int_equal(run(sub, "ipc_recv", &rv, (uint32_t)sh, P_OUT, 64,
                         VOS_FOREVER, 0, 0, 0), VMRT_HOST_BLOCK);
    put(pub, P_NAME, "temp");
    put(pub, P_REQ, "21.5");
    assert_int_equal(run(pub, "ipc_publish", &rv, P_NAME, 4, P_REQ, 4, 0, 0,
                         0), 0);
    assert_int_equal(rv, 1);
    assert_int_equal(fx->cli.t[0].wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(run(sub, "ipc_recv", &rv, (uint32_t)sh, P_OUT, 64,
                         VOS_FOREVER, 0, 0, 0), 0);
    assert_int_equal(rv, 4);
    assert_memory_equal(sub->mem + P_OUT, "21.5", 4);
    /* The publisher's share of the subscriber's queue: 4. */
    for (i = 0; i < 4; i++)
        assert_int_equal(run(pub, "ipc_publish", &rv, P_NAME, 4, P_REQ, 4,
                             0, 0, 0), 0);
    assert_int_equal(run(pub, "ipc_publish", &rv, P_NAME, 4, P_REQ, 4, 5, 0,
                         0), VMRT_HOST_BLOCK);
    assert_int_equal(run(sub, "ipc_recv", &rv, (uint32_t)sh, P_OUT, 64, 0, 0,
                         0, 0), 0);
    assert_int_equal(fx->srv.t[0].wake, VMRT__WAKE_SIGNALED);
    assert_int_equal(run(pub, "ipc_publish", &rv, P_NAME, 4, P_REQ, 4, 5, 0,
                         0), 0);
    assert_int_equal(rv, 1);
    /* Full again: the wait times out. */
    assert_int_equal(run(pub, "ipc_publish", &rv, P_NAME, 4, P_REQ, 4, 5, 0,
                         0), VMRT_HOST_BLOCK);
    expire(&fx->srv.t[0]);
    assert_int_equal(run(pub, "ipc_publish", &rv, P_NAME, 4, P_REQ, 4, 5, 0,
                         0), 0);
    assert_int_equal(rv, VOS_ETIMEDOUT);
}

static void
test_ipc_vos_snapshot_restores_queues(void **state)
{
    fx_t *fx = *state;
    vmrt_instance_t *in = &fx->cli.inst[0];
    vmrt_snap_writer_t *w = calloc(1, sizeof(*w));
    int srv, sh, rv;
    uint32_t tag;

    srv = serve_open(fx, "net");
    put(in, P_NAME, "net");
    put(in, P_REQ, "hello");
    assert_int_equal(run(in, "ipc_send", &rv, P_NAME, 3, P_REQ, 5, 0, 0, 0),
                     0);
    put(&fx->srv.inst[0], P_NAME, "evt");
    assert_int_equal(run(&fx->srv.inst[0], "ipc_subscribe", &sh, P_NAME, 3,
                         0, 0, 0, 0, 0), 0);
    put(in, P_NAME, "evt");
    assert_int_equal(run(in, "ipc_publish", &rv, P_NAME, 3, P_REQ, 5, 0, 0,
                         0), 0);
    assert_int_equal(rv, 1);
    assert_int_equal(vmrt__sub_ipc.save(&fx->srv.vm, w), 0);

    /* Restart the server VM and restore it. */
    vmrt__sub_ipc.vm_fini(&fx->srv.vm);
    free(fx->srv.vm.sub[VMRT__SUB_VOS]);
    fx->srv.vm.sub[VMRT__SUB_VOS] = NULL;
    assert_int_equal(vmrt__sub_ipc.vm_init(&fx->srv.vm), 0);
    /* Hostile bytes change nothing. */
    assert_int_equal(vmrt__sub_ipc.load(&fx->srv.vm, w->buf, w->len - 1),
                     VMRT_ECORRUPT);
    assert_null(vmrt__handle_get(&fx->srv.vm, srv, VMRT__H_IPC_SERVICE));
    w->buf[0] = 9;
    assert_int_equal(vmrt__sub_ipc.load(&fx->srv.vm, w->buf, w->len),
                     VMRT_ECORRUPT);
    w->buf[0] = 1;
    assert_int_equal(vmrt__sub_ipc.load(&fx->srv.vm, w->buf, w->len), 0);
    assert_int_equal(serve_next(fx, srv, 0, &rv, &tag), 0);
    assert_int_equal(rv, 5);
    assert_memory_equal(fx->srv.inst[0].mem + P_REQ, "hello", 5);
    assert_int_equal(run(&fx->srv.inst[0], "ipc_recv", &rv, (uint32_t)sh,
                         P_OUT, 64, 0, 0, 0, 0), 0);
    assert_int_equal(rv, 5);
    free(w);
}

static void
test_ipc_vos_restored_call_is_reset(void **state)
{
    fx_t *fx = *state;
    vmrt_snap_writer_t *w = calloc(1, sizeof(*w));
    int rv;

    assert_true(serve_open(fx, "net") > 0);
    assert_int_equal(call(fx, 0, "a", 8, VOS_FOREVER, &rv), VMRT_HOST_BLOCK);
    assert_int_equal(vmrt__sub_ipc.save(&fx->cli.vm, w), 0);
    vmrt__sub_ipc.vm_fini(&fx->cli.vm);
    assert_int_equal(vmrt__sub_ipc.vm_init(&fx->cli.vm), 0);
    assert_int_equal(vmrt__sub_ipc.load(&fx->cli.vm, w->buf, w->len), 0);
    /* The retry after the restore must not send the request again. */
    fx->cli.t[0].wake = VMRT__WAKE_SIGNALED;
    assert_int_equal(call(fx, 0, "a", 8, VOS_FOREVER, &rv), 0);
    assert_int_equal(rv, VOS_ECONNRESET);
    free(w);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_ipc_vos_links_every_import),
        T(test_ipc_vos_call_blocks_until_reply),
        T(test_ipc_vos_manifest_is_enforced),
        T(test_ipc_vos_server_stop_resets_callers),
        T(test_ipc_vos_call_timeout_then_late_reply),
        T(test_ipc_vos_send_blocks_while_full),
        T(test_ipc_vos_publish_backpressure),
        T(test_ipc_vos_snapshot_restores_queues),
        T(test_ipc_vos_restored_call_is_reset),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
