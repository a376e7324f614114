/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The device-server protocol codec (common/src/fleet.c, fleet_pb.c):
 * round trips of every message with every field set, every truncation,
 * each cap, unknown fields and unknown kinds, topics, CRC-32 and the name
 * tables.  Hostile messages are written by hand on the wire format (a
 * few lines of protobuf encoding below), so this test needs no
 * protobuf-c and checks the codec against the format, not against
 * itself.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmf/fleet.h"

/* ---- a tiny protobuf writer ----------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct {
    uint8_t *b;
    size_t n, cap;
} raw_t;

static void
raw_byte(raw_t *r, uint8_t v)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 256;
        r->b = realloc(r->b, r->cap);
        assert_non_null(r->b);
    }
    r->b[r->n++] = v;
}

static void
raw_varint(raw_t *r, uint64_t v)
{
    while (v >= 0x80) {
        raw_byte(r, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    raw_byte(r, (uint8_t)v);
}

static void
raw_tag(raw_t *r, uint32_t field, unsigned wt)
{
    raw_varint(r, ((uint64_t)field << 3) | wt);
}

static void
raw_uint(raw_t *r, uint32_t field, uint64_t v)
{
    raw_tag(r, field, WT_VARINT);
    raw_varint(r, v);
}

static void
raw_bytes(raw_t *r, uint32_t field, const void *p, size_t n)
{
    const uint8_t *s = p;
    size_t i;

    raw_tag(r, field, WT_LEN);
    raw_varint(r, n);
    for (i = 0; i < n; i++)
        raw_byte(r, s[i]);
}

/* A string of n copies of c, as field `field`. */
static void
raw_fill(raw_t *r, uint32_t field, char c, size_t n)
{
    size_t i;

    raw_tag(r, field, WT_LEN);
    raw_varint(r, n);
    for (i = 0; i < n; i++)
        raw_byte(r, (uint8_t)c);
}

static void
raw_str(raw_t *r, uint32_t field, const char *s)
{
    raw_bytes(r, field, s, strlen(s));
}

/* A Transfer (fleet.proto) with a sha256 of sha_len bytes. */
static void
raw_xfer(raw_t *r, uint32_t field, size_t sha_len, uint32_t chunk_size)
{
    raw_t t = { 0 };
    uint8_t sha[64];

    memset(sha, 0xab, sizeof(sha));
    raw_str(&t, 1, "x1");
    raw_uint(&t, 2, 1000);
    raw_bytes(&t, 3, sha, sha_len);
    raw_uint(&t, 4, chunk_size);
    raw_bytes(r, field, t.b, t.n);
    free(t.b);
}

/* ---- messages with every field set ---------------------------------- */

static void
fill_xfer(vmf_xfer_t *x)
{
    int i;

    snprintf(x->id, sizeof(x->id), "xfer-0001");
    x->size = 10ull * 1024 * 1024 * 1024 + 7; /* over 32 bits */
    for (i = 0; i < 32; i++)
        x->sha256[i] = (uint8_t)(i * 13 + 1);
    x->chunk_size = VMF_CHUNK_MAX;
}

static void
fill_cmd(vmf_cmd_t *m)
{
    vmf_cmd_init(m);
    snprintf(m->id, sizeof(m->id), "c-%0*d", VMF_ID_MAX - 3, 7); /* full */
    m->kind = VMF_CMD_UPDATE;
    snprintf(m->device, sizeof(m->device), "dev-42.a_b");
    memset(m->vm, 'v', sizeof(m->vm) - 1); /* full */
    m->has_xfer = true;
    fill_xfer(&m->xfer);
    m->health_window_ms = 5000;
    m->snapshot_before = true;
    snprintf(m->cancel_id, sizeof(m->cancel_id), "c-0006");
    m->issued_ms = 1790000000123ull;
    m->log_bytes = VMF_RESULT_DATA_MAX; /* at the cap */
}

static void
fill_result(vmf_result_t *m)
{
    vmf_result_init(m);
    snprintf(m->cmd_id, sizeof(m->cmd_id), "c-0008");
    m->kind = VMF_CMD_SNAPSHOT;
    m->final = true;
    m->code = VMF_E_MIN_RUNTIME;
    memset(m->message, 'm', sizeof(m->message) - 1);
    snprintf(m->vm, sizeof(m->vm), "sensor");
    snprintf(m->version, sizeof(m->version), "2.1.0-rc.1+build.7");
    m->has_xfer = true;
    fill_xfer(&m->xfer);
    m->xfer.chunk_size = 1;
}

static void
fill_event(vmf_event_t *m)
{
    vmf_event_init(m);
    m->kind = VMF_EV_PROGRESS;
    snprintf(m->vm, sizeof(m->vm), "sensor");
    snprintf(m->cmd_id, sizeof(m->cmd_id), "c-0009");
    snprintf(m->detail, sizeof(m->detail), "transfer");
    m->done = 5000000000ull;
    m->total = 10000000000ull;
    m->percent = 50;
    m->time_ms = 1790000000456ull;
}

/* vms: caller storage for n VMs. */
static void
fill_state(vmf_state_t *m, vmf_vm_status_t *vms, uint32_t n)
{
    uint32_t i;

    vmf_state_init(m);
    snprintf(m->device, sizeof(m->device), "dev-42");
    m->online = true;
    snprintf(m->runtime_version, sizeof(m->runtime_version), "0.1.0");
    snprintf(m->ota_version, sizeof(m->ota_version), "0.1.1");
    for (i = 0; i < VMF_LABELS_MAX; i++) {
        snprintf(m->labels[i].key, sizeof(m->labels[i].key), "key%u", i);
        memset(m->labels[i].value, 'a' + (int)i, VMF_LABEL_MAX - 1);
    }
    m->nlabels = VMF_LABELS_MAX;
    memset(vms, 0, n * sizeof(*vms));
    for (i = 0; i < n; i++) {
        snprintf(vms[i].name, sizeof(vms[i].name), "vm%u", i);
        snprintf(vms[i].version, sizeof(vms[i].version), "1.%u.0", i);
        snprintf(vms[i].state, sizeof(vms[i].state), "%s",
                 i % 2 ? "suspended" : "running");
        vms[i].priority = i;
        vms[i].memory_bytes = 65536ull * (i + 1);
        vms[i].storage_quota = 1ull << 33;
        vms[i].cpu_ms = 123456789012ull + i;
        vms[i].uptime_ms = 98765ull * i;
        vms[i].restarts = i * 3;
        snprintf(vms[i].last_error, sizeof(vms[i].last_error), "err %u", i);
    }
    m->vms = vms;
    m->nvms = n;
    m->time_ms = 1790000000789ull;
    m->boot_id = 0xfeedfacecafebeefull;
}

static void
fill_req(vmf_chunk_req_t *m)
{
    vmf_chunk_req_init(m);
    snprintf(m->xfer_id, sizeof(m->xfer_id), "xfer-0001");
    m->first = 4000000000u;
    m->count = VMF_REQ_CHUNKS_MAX;
}

/* data: caller storage of len bytes. */
static void
fill_chunk(vmf_chunk_t *m, uint8_t *data, size_t len)
{
    size_t i;

    vmf_chunk_init(m);
    snprintf(m->xfer_id, sizeof(m->xfer_id), "xfer-0001");
    m->index = 77;
    for (i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 31 + 5);
    m->data = data;
    m->len = len;
    m->crc32 = vmf_crc32(data, len);
}

static void
assert_state_equal(const vmf_state_t *a, const vmf_state_t *b)
{
    uint32_t i;

    assert_string_equal(a->device, b->device);
    assert_int_equal(a->online, b->online);
    assert_string_equal(a->runtime_version, b->runtime_version);
    assert_string_equal(a->ota_version, b->ota_version);
    assert_int_equal(a->nlabels, b->nlabels);
    assert_memory_equal(a->labels, b->labels, sizeof(a->labels));
    assert_int_equal(a->nvms, b->nvms);
    for (i = 0; i < a->nvms; i++)
        assert_memory_equal(&a->vms[i], &b->vms[i], sizeof(a->vms[i]));
    assert_true(a->time_ms == b->time_ms);
    assert_true(a->boot_id == b->boot_id);
}

/* ---- round trips ---------------------------------------------------- */

static void
test_fleet_cmd_round_trip(void **state)
{
    vmf_cmd_t m, d;
    uint8_t *buf;
    size_t len;

    (void)state;
    fill_cmd(&m);
    assert_int_equal(vmf_cmd_encode(&m, &buf, &len), 0);
    assert_true(len > 0);
    assert_int_equal(vmf_cmd_decode(buf, len, &d), 0);
    /* Both were zeroed first, so the whole struct compares. */
    assert_memory_equal(&m, &d, sizeof(m));
    assert_int_equal(d.kind, VMF_CMD_UPDATE);
    assert_true(d.xfer.size == m.xfer.size);
    free(buf);
}

static void
test_fleet_result_round_trip(void **state)
{
    vmf_result_t m, d;
    uint8_t *buf;
    size_t len;

    (void)state;
    fill_result(&m);
    assert_int_equal(vmf_result_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_result_decode(buf, len, &d), 0);
    assert_memory_equal(&m, &d, sizeof(m));
    assert_int_equal(d.code, VMF_E_MIN_RUNTIME);
    assert_true(d.final);
    assert_null(d.data);
    free(buf);
}

/* A LOGS result: data at its cap comes back byte for byte, owned. */
static void
test_fleet_result_data_round_trip(void **state)
{
    vmf_result_t m, d;
    uint8_t *data, *buf;
    size_t len, i;

    (void)state;
    data = malloc(VMF_RESULT_DATA_MAX);
    assert_non_null(data);
    for (i = 0; i < VMF_RESULT_DATA_MAX; i++)
        data[i] = (uint8_t)(i * 7 + 3);
    fill_result(&m);
    m.kind = VMF_CMD_LOGS;
    m.code = VMF_OK;
    m.has_xfer = false;
    m.data = data;
    m.len = VMF_RESULT_DATA_MAX;
    assert_int_equal(vmf_result_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_result_decode(buf, len, &d), 0);
    assert_int_equal(d.kind, VMF_CMD_LOGS);
    assert_string_equal(d.cmd_id, m.cmd_id);
    assert_string_equal(d.message, m.message);
    assert_int_equal(d.len, VMF_RESULT_DATA_MAX);
    assert_non_null(d.data);
    assert_ptr_not_equal(d.data, data);
    assert_memory_equal(d.data, data, VMF_RESULT_DATA_MAX);
    vmf_result_free(&d);
    assert_null(d.data);
    assert_int_equal(d.len, 0);
    vmf_result_free(NULL);
    free(buf);
    free(data);
}

static void
test_fleet_event_round_trip(void **state)
{
    vmf_event_t m, d;
    uint8_t *buf;
    size_t len;

    (void)state;
    fill_event(&m);
    assert_int_equal(vmf_event_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_event_decode(buf, len, &d), 0);
    assert_memory_equal(&m, &d, sizeof(m));
    free(buf);
}

static void
test_fleet_state_round_trip_at_caps(void **state)
{
    static vmf_vm_status_t vms[VMF_STATE_VMS_MAX];
    vmf_state_t m, d;
    uint8_t *buf;
    size_t len;
    uint32_t i;

    (void)state;
    fill_state(&m, vms, VMF_STATE_VMS_MAX);
    /* Every string of every VM full: the largest State there can be. */
    for (i = 0; i < VMF_STATE_VMS_MAX; i++) {
        memset(vms[i].name, 'n', sizeof(vms[i].name) - 1);
        memset(vms[i].version, 'v', sizeof(vms[i].version) - 1);
        memset(vms[i].state, 's', sizeof(vms[i].state) - 1);
        memset(vms[i].last_error, 'e', sizeof(vms[i].last_error) - 1);
    }
    assert_int_equal(vmf_state_encode(&m, &buf, &len), 0);
    assert_true(len <= VMF_MSG_MAX);
    assert_int_equal(vmf_state_decode(buf, len, &d), 0);
    assert_non_null(d.vms);
    assert_true(d.vms != vms);
    assert_state_equal(&m, &d);
    vmf_state_free(&d);
    assert_null(d.vms);
    assert_int_equal(d.nvms, 0);
    vmf_state_free(NULL);
    free(buf);
}

static void
test_fleet_state_without_vms(void **state)
{
    vmf_state_t m, d;
    uint8_t *buf;
    size_t len;

    (void)state;
    vmf_state_init(&m);
    snprintf(m.device, sizeof(m.device), "dev-1");
    m.online = false; /* the Last Will */
    assert_int_equal(vmf_state_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_state_decode(buf, len, &d), 0);
    assert_string_equal(d.device, "dev-1");
    assert_false(d.online);
    assert_null(d.vms);
    assert_int_equal(d.nvms, 0);
    assert_int_equal(d.nlabels, 0);
    vmf_state_free(&d);
    free(buf);
}

static void
test_fleet_chunk_req_round_trip(void **state)
{
    vmf_chunk_req_t m, d;
    uint8_t *buf;
    size_t len;

    (void)state;
    fill_req(&m);
    assert_int_equal(vmf_chunk_req_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_chunk_req_decode(buf, len, &d), 0);
    assert_memory_equal(&m, &d, sizeof(m));
    free(buf);
}

static void
test_fleet_chunk_round_trip_full_size(void **state)
{
    vmf_chunk_t m, d;
    uint8_t *data, *buf;
    size_t len;

    (void)state;
    data = malloc(VMF_CHUNK_MAX);
    assert_non_null(data);
    fill_chunk(&m, data, VMF_CHUNK_MAX);
    assert_int_equal(vmf_chunk_encode(&m, &buf, &len), 0);
    assert_true(len <= VMF_MSG_MAX);
    assert_int_equal(vmf_chunk_decode(buf, len, &d), 0);
    assert_string_equal(d.xfer_id, m.xfer_id);
    assert_int_equal(d.index, 77);
    assert_int_equal(d.len, VMF_CHUNK_MAX);
    assert_true(d.data != data);
    assert_memory_equal(d.data, data, VMF_CHUNK_MAX);
    assert_int_equal(d.crc32, vmf_crc32(d.data, d.len));
    vmf_chunk_free(&d);
    assert_null(d.data);
    vmf_chunk_free(NULL);
    free(buf);

    /* An empty chunk is valid and owns nothing. */
    m.len = 0;
    m.data = NULL;
    assert_int_equal(vmf_chunk_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_chunk_decode(buf, len, &d), 0);
    assert_null(d.data);
    assert_int_equal(d.len, 0);
    free(buf);
    free(data);
}

/* A chunk whose checksum is wrong still decodes: the device re-requests. */
static void
test_fleet_chunk_bad_crc_still_decodes(void **state)
{
    uint8_t data[100], *buf;
    vmf_chunk_t m, d;
    size_t len;

    (void)state;
    fill_chunk(&m, data, sizeof(data));
    m.crc32 ^= 1;
    assert_int_equal(vmf_chunk_encode(&m, &buf, &len), 0);
    assert_int_equal(vmf_chunk_decode(buf, len, &d), 0);
    assert_int_equal(d.crc32, m.crc32);
    assert_true(d.crc32 != vmf_crc32(d.data, d.len));
    vmf_chunk_free(&d);
    free(buf);
}

/* ---- truncation ----------------------------------------------------- */

typedef enum { T_CMD, T_RESULT, T_EVENT, T_STATE, T_REQ, T_CHUNK } msg_t;

/*
 * Decode buf[0..n) from a fresh exact-size copy (so ASan sees any
 * overread) as message type t.
 * Return: the decoder's return code, checked to be a documented one.
 */
static int
decode_copy(msg_t t, const uint8_t *buf, size_t n)
{
    uint8_t *cut = malloc(n ? n : 1);
    union {
        vmf_cmd_t cmd;
        vmf_result_t result;
        vmf_event_t event;
        vmf_state_t state;
        vmf_chunk_req_t req;
        vmf_chunk_t chunk;
    } u;
    int rc = -100;

    assert_non_null(cut);
    memcpy(cut, buf, n);
    switch (t) {
    case T_CMD: rc = vmf_cmd_decode(cut, n, &u.cmd); break;
    case T_RESULT:
        rc = vmf_result_decode(cut, n, &u.result);
        if (rc != 0)
            assert_null(u.result.data);
        vmf_result_free(&u.result);
        break;
    case T_EVENT: rc = vmf_event_decode(cut, n, &u.event); break;
    case T_STATE:
        rc = vmf_state_decode(cut, n, &u.state);
        if (rc != 0)
            assert_null(u.state.vms);
        vmf_state_free(&u.state);
        break;
    case T_REQ: rc = vmf_chunk_req_decode(cut, n, &u.req); break;
    case T_CHUNK:
        rc = vmf_chunk_decode(cut, n, &u.chunk);
        if (rc != 0)
            assert_null(u.chunk.data);
        vmf_chunk_free(&u.chunk);
        break;
    }
    free(cut);
    assert_true(rc == 0 || rc == VMF_FLEET_EFORMAT ||
                rc == VMF_FLEET_ETOOBIG);
    return rc;
}

/*
 * Every prefix must fail or decode to a valid message, never crash; a
 * cut inside a field always fails, so some prefixes must fail.
 */
static void
check_truncations(msg_t t, const uint8_t *buf, size_t len)
{
    size_t n, failed = 0;

    for (n = 0; n < len; n++)
        if (decode_copy(t, buf, n) != 0)
            failed++;
    assert_int_equal(decode_copy(t, buf, len), 0);
    assert_true(failed > len / 2);
}

static void
test_fleet_every_truncation_is_safe(void **state)
{
    vmf_vm_status_t vms[3];
    vmf_cmd_t cmd;
    vmf_result_t res;
    vmf_event_t ev;
    vmf_state_t st;
    vmf_chunk_req_t req;
    vmf_chunk_t ch;
    uint8_t data[300], *buf;
    size_t len;

    (void)state;
    fill_cmd(&cmd);
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), 0);
    check_truncations(T_CMD, buf, len);
    free(buf);
    fill_result(&res);
    assert_int_equal(vmf_result_encode(&res, &buf, &len), 0);
    check_truncations(T_RESULT, buf, len);
    free(buf);
    res.data = data;
    res.len = sizeof(data);
    memset(data, 'L', sizeof(data));
    assert_int_equal(vmf_result_encode(&res, &buf, &len), 0);
    check_truncations(T_RESULT, buf, len);
    free(buf);
    fill_event(&ev);
    assert_int_equal(vmf_event_encode(&ev, &buf, &len), 0);
    check_truncations(T_EVENT, buf, len);
    free(buf);
    fill_state(&st, vms, 3);
    assert_int_equal(vmf_state_encode(&st, &buf, &len), 0);
    check_truncations(T_STATE, buf, len);
    free(buf);
    fill_req(&req);
    assert_int_equal(vmf_chunk_req_encode(&req, &buf, &len), 0);
    check_truncations(T_REQ, buf, len);
    free(buf);
    fill_chunk(&ch, data, sizeof(data));
    assert_int_equal(vmf_chunk_encode(&ch, &buf, &len), 0);
    check_truncations(T_CHUNK, buf, len);
    free(buf);
}

static void
test_fleet_garbage_is_eformat(void **state)
{
    /* Field 0, a truncated varint, a length past the end, wire type 7. */
    static const uint8_t zero_field[] = { 0x00, 0x01 };
    static const uint8_t open_varint[] = { 0x08, 0xff, 0xff };
    static const uint8_t long_len[] = { 0x0a, 0x7f, 'a' };
    static const uint8_t bad_wt[] = { 0x0f, 0x00 };
    vmf_cmd_t m;

    (void)state;
    assert_int_equal(vmf_cmd_decode(zero_field, sizeof(zero_field), &m),
                     VMF_FLEET_EFORMAT);
    assert_int_equal(vmf_cmd_decode(open_varint, sizeof(open_varint), &m),
                     VMF_FLEET_EFORMAT);
    assert_int_equal(vmf_cmd_decode(long_len, sizeof(long_len), &m),
                     VMF_FLEET_EFORMAT);
    assert_int_equal(vmf_cmd_decode(bad_wt, sizeof(bad_wt), &m),
                     VMF_FLEET_EFORMAT);
    /* The empty message is valid: every field at its default. */
    assert_int_equal(vmf_cmd_decode(NULL, 0, &m), 0);
    assert_int_equal(m.kind, VMF_CMD_NONE);
    assert_string_equal(m.id, "");
}

/* ---- caps ----------------------------------------------------------- */

static void
test_fleet_oversize_string_is_etoobig(void **state)
{
    raw_t r = { 0 };
    vmf_cmd_t m;
    vmf_state_t st;
    vmf_result_t res;

    (void)state;
    /* id: 63 bytes fit, 64 do not. */
    raw_fill(&r, 1, 'i', VMF_ID_MAX - 1);
    raw_uint(&r, 2, VMF_CMD_START);
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), 0);
    assert_int_equal(strlen(m.id), VMF_ID_MAX - 1);
    r.n = 0;
    raw_fill(&r, 1, 'i', VMF_ID_MAX);
    raw_uint(&r, 2, VMF_CMD_START);
    memset(&m, 0x5a, sizeof(m));
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), VMF_FLEET_ETOOBIG);
    /* On error the struct is left empty, not half-filled. */
    assert_string_equal(m.id, "");
    assert_int_equal(m.kind, VMF_CMD_NONE);
    /* vm: 32 bytes is one over VMF_NAME_MAX - 1. */
    r.n = 0;
    raw_fill(&r, 4, 'v', VMF_NAME_MAX);
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), VMF_FLEET_ETOOBIG);
    /* A Result message of 256 bytes. */
    r.n = 0;
    raw_fill(&r, 5, 'm', VMF_TEXT_MAX);
    assert_int_equal(vmf_result_decode(r.b, r.n, &res), VMF_FLEET_ETOOBIG);
    /* A VM's state string inside a State: 16 bytes. */
    r.n = 0;
    {
        raw_t v = { 0 };

        raw_str(&v, 1, "sensor");
        raw_fill(&v, 3, 's', 16);
        raw_bytes(&r, 6, v.b, v.n);
        free(v.b);
    }
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), VMF_FLEET_ETOOBIG);
    assert_null(st.vms);
    free(r.b);
}

static void
test_fleet_too_many_vms_or_labels_is_etoobig(void **state)
{
    raw_t r = { 0 }, l = { 0 };
    vmf_state_t st;
    uint32_t i;

    (void)state;
    raw_str(&l, 1, "k");
    raw_str(&l, 2, "v");
    for (i = 0; i < VMF_LABELS_MAX; i++)
        raw_bytes(&r, 5, l.b, l.n);
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), 0);
    assert_int_equal(st.nlabels, VMF_LABELS_MAX);
    raw_bytes(&r, 5, l.b, l.n);
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), VMF_FLEET_ETOOBIG);
    assert_int_equal(st.nlabels, 0);

    r.n = 0;
    for (i = 0; i < VMF_STATE_VMS_MAX; i++)
        raw_bytes(&r, 6, NULL, 0);
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), 0);
    assert_int_equal(st.nvms, VMF_STATE_VMS_MAX);
    vmf_state_free(&st);
    raw_bytes(&r, 6, NULL, 0);
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), VMF_FLEET_ETOOBIG);
    assert_null(st.vms);

    /*
     * As many empty VMs as fit in VMF_MSG_MAX (two bytes each) would be
     * tens of MiB of protobuf-c structs: the allocation budget stops it.
     */
    r.n = 0;
    while (r.n + 2 <= VMF_MSG_MAX)
        raw_bytes(&r, 6, NULL, 0);
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), VMF_FLEET_ETOOBIG);
    assert_null(st.vms);
    /* And a message over VMF_MSG_MAX is refused before parsing. */
    raw_bytes(&r, 6, NULL, 0);
    raw_bytes(&r, 6, NULL, 0);
    assert_true(r.n > VMF_MSG_MAX);
    assert_int_equal(vmf_state_decode(r.b, r.n, &st), VMF_FLEET_ETOOBIG);
    free(l.b);
    free(r.b);
}

static void
test_fleet_bad_sha_length_is_eformat(void **state)
{
    static const size_t lens[] = { 0, 1, 31, 33, 64 };
    raw_t r = { 0 };
    vmf_cmd_t m;
    vmf_result_t res;
    size_t i;

    (void)state;
    raw_uint(&r, 2, VMF_CMD_UPDATE);
    raw_xfer(&r, 5, 32, 1024);
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), 0);
    assert_true(m.has_xfer);
    assert_int_equal(m.xfer.sha256[31], 0xab);
    assert_int_equal(m.xfer.chunk_size, 1024);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        r.n = 0;
        raw_uint(&r, 2, VMF_CMD_UPDATE);
        raw_xfer(&r, 5, lens[i], 1024);
        assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), VMF_FLEET_EFORMAT);
        assert_false(m.has_xfer);
        r.n = 0;
        raw_xfer(&r, 8, lens[i], 1024);
        assert_int_equal(vmf_result_decode(r.b, r.n, &res),
                         VMF_FLEET_EFORMAT);
    }
    free(r.b);
}

static void
test_fleet_oversized_chunk_is_etoobig(void **state)
{
    raw_t r = { 0 };
    vmf_chunk_t ch;
    vmf_cmd_t m;
    vmf_chunk_req_t q;
    uint8_t *big;

    (void)state;
    big = calloc(1, VMF_CHUNK_MAX + 1);
    assert_non_null(big);
    raw_str(&r, 1, "x1");
    raw_bytes(&r, 4, big, VMF_CHUNK_MAX + 1);
    assert_true(r.n <= VMF_MSG_MAX);
    assert_int_equal(vmf_chunk_decode(r.b, r.n, &ch), VMF_FLEET_ETOOBIG);
    assert_null(ch.data);
    assert_int_equal(ch.len, 0);

    /* A transfer's chunk_size: over the cap, and zero. */
    r.n = 0;
    raw_xfer(&r, 5, 32, VMF_CHUNK_MAX + 1);
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), VMF_FLEET_ETOOBIG);
    r.n = 0;
    raw_xfer(&r, 5, 32, 0);
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), VMF_FLEET_EFORMAT);

    /* A chunk request's count: 0, over the cap, at the cap. */
    r.n = 0;
    raw_str(&r, 1, "x1");
    assert_int_equal(vmf_chunk_req_decode(r.b, r.n, &q), VMF_FLEET_EFORMAT);
    raw_uint(&r, 3, VMF_REQ_CHUNKS_MAX + 1);
    assert_int_equal(vmf_chunk_req_decode(r.b, r.n, &q), VMF_FLEET_ETOOBIG);
    raw_uint(&r, 3, VMF_REQ_CHUNKS_MAX); /* the last one wins */
    assert_int_equal(vmf_chunk_req_decode(r.b, r.n, &q), 0);
    assert_int_equal(q.count, VMF_REQ_CHUNKS_MAX);
    free(big);
    free(r.b);
}

/* LOGS: Command.log_bytes (field 10) and Result.data (field 9) caps. */
static void
test_fleet_logs_caps_on_the_wire(void **state)
{
    raw_t r = { 0 };
    vmf_cmd_t m;
    vmf_result_t res;
    uint8_t *big;

    (void)state;
    raw_str(&r, 1, "c-1");
    raw_uint(&r, 2, VMF_CMD_LOGS);
    raw_str(&r, 4, "sensor");
    raw_uint(&r, 10, VMF_RESULT_DATA_MAX);
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), 0);
    assert_int_equal(m.kind, VMF_CMD_LOGS);
    assert_int_equal(m.log_bytes, VMF_RESULT_DATA_MAX);
    raw_uint(&r, 10, VMF_RESULT_DATA_MAX + 1); /* the last one wins */
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), VMF_FLEET_ETOOBIG);
    assert_int_equal(m.log_bytes, 0);
    assert_string_equal(m.id, "");

    big = malloc(VMF_RESULT_DATA_MAX + 1);
    assert_non_null(big);
    memset(big, 'x', VMF_RESULT_DATA_MAX + 1);
    r.n = 0;
    raw_str(&r, 1, "c-1");
    raw_uint(&r, 2, VMF_CMD_LOGS);
    raw_uint(&r, 3, 1);
    raw_bytes(&r, 9, big, VMF_RESULT_DATA_MAX);
    assert_int_equal(vmf_result_decode(r.b, r.n, &res), 0);
    assert_int_equal(res.len, VMF_RESULT_DATA_MAX);
    assert_int_equal(res.data[VMF_RESULT_DATA_MAX - 1], 'x');
    assert_true(res.final);
    vmf_result_free(&res);
    r.n = 0;
    raw_str(&r, 1, "c-1");
    raw_bytes(&r, 9, big, VMF_RESULT_DATA_MAX + 1);
    assert_int_equal(vmf_result_decode(r.b, r.n, &res), VMF_FLEET_ETOOBIG);
    assert_null(res.data);
    assert_int_equal(res.len, 0);
    assert_string_equal(res.cmd_id, "");
    free(big);
    free(r.b);
}

static void
test_fleet_encode_validates(void **state)
{
    static vmf_vm_status_t vms[VMF_STATE_VMS_MAX + 1];
    vmf_cmd_t cmd;
    vmf_result_t res;
    vmf_event_t ev;
    vmf_state_t st;
    vmf_chunk_req_t req;
    vmf_chunk_t ch;
    uint8_t *buf = (uint8_t *)&buf, one = 1;
    size_t len = 1;

    (void)state;
    fill_cmd(&cmd);
    cmd.kind = VMF_CMD_NONE;
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), VMF_FLEET_EINVAL);
    /* A failed encode leaves nothing to free. */
    assert_null(buf);
    assert_int_equal(len, 0);
    cmd.kind = VMF_CMD_MAX_;
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), VMF_FLEET_EINVAL);
    fill_cmd(&cmd);
    memset(cmd.vm, 'v', sizeof(cmd.vm)); /* no NUL */
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), VMF_FLEET_EINVAL);
    fill_cmd(&cmd);
    cmd.xfer.chunk_size = VMF_CHUNK_MAX + 1;
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), VMF_FLEET_EINVAL);
    cmd.xfer.chunk_size = 0;
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), VMF_FLEET_EINVAL);
    cmd.has_xfer = false; /* then the transfer is not looked at */
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), 0);
    free(buf);
    cmd.log_bytes = VMF_RESULT_DATA_MAX + 1;
    assert_int_equal(vmf_cmd_encode(&cmd, &buf, &len), VMF_FLEET_EINVAL);
    assert_int_equal(vmf_cmd_encode(NULL, &buf, &len), VMF_FLEET_EINVAL);
    assert_int_equal(vmf_cmd_encode(&cmd, NULL, &len), VMF_FLEET_EINVAL);

    fill_result(&res);
    res.code = VMF_CODE_MAX_;
    assert_int_equal(vmf_result_encode(&res, &buf, &len), VMF_FLEET_EINVAL);
    fill_result(&res);
    memset(res.message, 'm', sizeof(res.message));
    assert_int_equal(vmf_result_encode(&res, &buf, &len), VMF_FLEET_EINVAL);
    fill_result(&res);
    res.data = &one;
    res.len = VMF_RESULT_DATA_MAX + 1;
    assert_int_equal(vmf_result_encode(&res, &buf, &len), VMF_FLEET_EINVAL);
    res.len = 1;
    res.data = NULL;
    assert_int_equal(vmf_result_encode(&res, &buf, &len), VMF_FLEET_EINVAL);

    fill_event(&ev);
    ev.percent = 101;
    assert_int_equal(vmf_event_encode(&ev, &buf, &len), VMF_FLEET_EINVAL);
    fill_event(&ev);
    ev.kind = VMF_EV_MAX_;
    assert_int_equal(vmf_event_encode(&ev, &buf, &len), VMF_FLEET_EINVAL);

    fill_state(&st, vms, VMF_STATE_VMS_MAX + 1);
    assert_int_equal(vmf_state_encode(&st, &buf, &len), VMF_FLEET_EINVAL);
    fill_state(&st, vms, 1);
    st.nlabels = VMF_LABELS_MAX + 1;
    assert_int_equal(vmf_state_encode(&st, &buf, &len), VMF_FLEET_EINVAL);
    fill_state(&st, vms, 1);
    memset(vms[0].state, 's', sizeof(vms[0].state));
    assert_int_equal(vmf_state_encode(&st, &buf, &len), VMF_FLEET_EINVAL);
    fill_state(&st, vms, 1);
    st.vms = NULL;
    assert_int_equal(vmf_state_encode(&st, &buf, &len), VMF_FLEET_EINVAL);

    fill_req(&req);
    req.count = 0;
    assert_int_equal(vmf_chunk_req_encode(&req, &buf, &len), VMF_FLEET_EINVAL);
    req.count = VMF_REQ_CHUNKS_MAX + 1;
    assert_int_equal(vmf_chunk_req_encode(&req, &buf, &len), VMF_FLEET_EINVAL);

    fill_chunk(&ch, &one, 1);
    ch.len = VMF_CHUNK_MAX + 1;
    assert_int_equal(vmf_chunk_encode(&ch, &buf, &len), VMF_FLEET_EINVAL);
    ch.len = 1;
    ch.data = NULL;
    assert_int_equal(vmf_chunk_encode(&ch, &buf, &len), VMF_FLEET_EINVAL);
}

/* ---- forward compatibility ------------------------------------------ */

static void
test_fleet_unknown_fields_are_ignored(void **state)
{
    vmf_cmd_t m, d;
    raw_t r = { 0 };
    uint8_t *buf;
    size_t len, i;

    (void)state;
    fill_cmd(&m);
    assert_int_equal(vmf_cmd_encode(&m, &buf, &len), 0);
    for (i = 0; i < len; i++)
        raw_byte(&r, buf[i]);
    /* Fields a newer server might add, of every wire type. */
    raw_uint(&r, 100, 12345);
    raw_str(&r, 101, "from the future");
    raw_tag(&r, 102, WT_I64);
    for (i = 0; i < 8; i++)
        raw_byte(&r, (uint8_t)i);
    raw_tag(&r, 103, WT_I32);
    for (i = 0; i < 4; i++)
        raw_byte(&r, (uint8_t)i);
    /* And an unknown field inside the Transfer. */
    {
        raw_t t = { 0 };

        raw_str(&t, 1, m.xfer.id);
        raw_uint(&t, 2, m.xfer.size);
        raw_bytes(&t, 3, m.xfer.sha256, 32);
        raw_uint(&t, 4, m.xfer.chunk_size);
        raw_uint(&t, 99, 1);
        raw_bytes(&r, 5, t.b, t.n);
        free(t.b);
    }
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &d), 0);
    assert_memory_equal(&m, &d, sizeof(m));
    free(buf);
    free(r.b);
}

static void
test_fleet_unknown_kind_passes_through(void **state)
{
    raw_t r = { 0 };
    vmf_cmd_t m;
    vmf_result_t res, d;
    vmf_event_t ev;
    uint8_t *buf;
    size_t len;

    (void)state;
    raw_str(&r, 1, "c-99");
    raw_uint(&r, 2, 99);
    raw_str(&r, 3, "dev-1");
    assert_int_equal(vmf_cmd_decode(r.b, r.n, &m), 0);
    assert_int_equal((int)m.kind, 99);
    assert_string_equal(m.id, "c-99");
    assert_string_equal(vmf_cmd_name((int)m.kind), "?");

    /* The device answers, echoing the kind it does not know. */
    vmf_result_init(&res);
    snprintf(res.cmd_id, sizeof(res.cmd_id), "%s", m.id);
    res.kind = m.kind;
    res.final = true;
    res.code = VMF_E_UNKNOWN_COMMAND;
    assert_int_equal(vmf_result_encode(&res, &buf, &len), 0);
    assert_int_equal(vmf_result_decode(buf, len, &d), 0);
    assert_int_equal((int)d.kind, 99);
    assert_int_equal(d.code, VMF_E_UNKNOWN_COMMAND);
    free(buf);

    /* A newer device's code and event kind reach the server as numbers. */
    r.n = 0;
    raw_uint(&r, 4, 77);
    assert_int_equal(vmf_result_decode(r.b, r.n, &d), 0);
    assert_int_equal((int)d.code, 77);
    assert_string_equal(vmf_code_name((int)d.code), "?");
    r.n = 0;
    raw_uint(&r, 1, 42);
    assert_int_equal(vmf_event_decode(r.b, r.n, &ev), 0);
    assert_int_equal((int)ev.kind, 42);
    free(r.b);
}

/* ---- topics --------------------------------------------------------- */

static void
test_fleet_topic_build_and_parse(void **state)
{
    static const char *const leaves[] = { "cmd",       "result",
                                          "event",     "state",
                                          "xfer/req",  "xfer/data",
                                          "xfer/up",   "xfer/upreq" };
    char t[VMF_TOPIC_MAX], dev[VMF_ID_MAX], leaf[32], id63[VMF_ID_MAX];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
        assert_int_equal(vmf_topic(t, sizeof(t), "dev-42.a_B", leaves[i]), 0);
        assert_int_equal(strncmp(t, "vmfleet/v1/dev-42.a_B/", 22), 0);
        assert_string_equal(t + 22, leaves[i]);
        assert_int_equal(
            vmf_topic_parse(t, dev, sizeof(dev), leaf, sizeof(leaf)), 0);
        assert_string_equal(dev, "dev-42.a_B");
        assert_string_equal(leaf, leaves[i]);
    }
    /* The longest id fits VMF_TOPIC_MAX with the longest leaf. */
    memset(id63, 'd', VMF_ID_MAX - 1);
    id63[VMF_ID_MAX - 1] = '\0';
    assert_true(vmf_device_id_valid(id63));
    assert_int_equal(vmf_topic(t, sizeof(t), id63, "xfer/upreq"), 0);
    assert_int_equal(vmf_topic_parse(t, dev, sizeof(dev), leaf, sizeof(leaf)),
                     0);
    assert_string_equal(dev, id63);
    /* buf too small: an error and an empty string, never a cut topic. */
    assert_int_equal(vmf_topic(t, 20, "dev-42", "cmd"), VMF_FLEET_EINVAL);
    assert_string_equal(t, "");
    assert_int_equal(vmf_topic(t, sizeof(t), "dev-42", ""), VMF_FLEET_EINVAL);
    assert_int_equal(vmf_topic(t, sizeof(t), "dev-42", "#"), VMF_FLEET_EINVAL);
    assert_int_equal(vmf_topic(t, sizeof(t), "dev-42", "xfer//up"),
                     VMF_FLEET_EINVAL);
    assert_int_equal(vmf_topic(t, sizeof(t), "dev-42", NULL),
                     VMF_FLEET_EINVAL);
}

static void
test_fleet_invalid_device_ids(void **state)
{
    static const char *const bad[] = { "a/b", "+", "#", "", "a b", "dev+1",
                                       "dév", "a\tb" };
    char t[VMF_TOPIC_MAX], id64[VMF_ID_MAX + 1];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_false(vmf_device_id_valid(bad[i]));
        assert_int_equal(vmf_topic(t, sizeof(t), bad[i], "cmd"),
                         VMF_FLEET_EINVAL);
    }
    assert_false(vmf_device_id_valid(NULL));
    memset(id64, 'd', VMF_ID_MAX);
    id64[VMF_ID_MAX] = '\0';
    assert_false(vmf_device_id_valid(id64));
    assert_int_equal(vmf_topic(t, sizeof(t), id64, "cmd"), VMF_FLEET_EINVAL);
    id64[VMF_ID_MAX - 1] = '\0';
    assert_true(vmf_device_id_valid(id64));
    assert_true(vmf_device_id_valid("A.z_0-9"));
}

static void
test_fleet_foreign_topics_are_einval(void **state)
{
    static const char *const foreign[] = {
        "vmfleet/v2/dev-1/cmd", "vmfleet/v1/dev-1",  "vmfleet/v1/dev-1/",
        "vmfleet/v1//cmd",      "vmfleet/v1/+/cmd",  "vmfleet/v1/#",
        "vmfleet/v1/dev-1/#",   "vmfleet/v1/d v/cmd", "other/v1/dev-1/cmd",
        "vmfleet/v1",           "",                  "vmfleet/v1/dev-1//cmd",
        "/vmfleet/v1/dev-1/cmd", "vmfleet/v1/dev-1/xfer/",
    };
    char dev[VMF_ID_MAX], leaf[32], t[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
        memset(dev, 'x', sizeof(dev));
        assert_int_equal(
            vmf_topic_parse(foreign[i], dev, sizeof(dev), leaf, sizeof(leaf)),
            VMF_FLEET_EINVAL);
        assert_string_equal(dev, "");
    }
    /* A 64-character device id is not ours either. */
    snprintf(t, sizeof(t), "vmfleet/v1/%0*d/cmd", VMF_ID_MAX, 1);
    assert_int_equal(vmf_topic_parse(t, dev, sizeof(dev), leaf, sizeof(leaf)),
                     VMF_FLEET_EINVAL);
    /* Output buffers too small. */
    assert_int_equal(vmf_topic_parse("vmfleet/v1/dev-1/xfer/data", dev, 5,
                                     leaf, sizeof(leaf)),
                     VMF_FLEET_EINVAL);
    assert_int_equal(vmf_topic_parse("vmfleet/v1/dev-1/xfer/data", dev,
                                     sizeof(dev), leaf, 9),
                     VMF_FLEET_EINVAL);
    assert_int_equal(vmf_topic_parse("vmfleet/v1/dev-1/xfer/data", dev,
                                     sizeof(dev), leaf, 10),
                     0);
}

/* ---- CRC-32 and names ----------------------------------------------- */

static void
test_fleet_crc32_matches_zlib(void **state)
{
    uint8_t zeros[32];

    (void)state;
    assert_int_equal(vmf_crc32("123456789", 9), 0xcbf43926u);
    assert_int_equal(vmf_crc32("", 0), 0);
    assert_int_equal(vmf_crc32("a", 1), 0xe8b7be43u);
    memset(zeros, 0, sizeof(zeros));
    assert_int_equal(vmf_crc32(zeros, sizeof(zeros)), 0x190a55adu);
    assert_int_equal(
        vmf_crc32("The quick brown fox jumps over the lazy dog", 43),
        0x414fa339u);
}

static void
test_fleet_name_tables_are_total(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < VMF_CODE_MAX_; i++) {
        assert_string_not_equal(vmf_code_name(i), "?");
        assert_string_not_equal(vmf_code_str(i), "unknown result code");
        assert_int_equal(vmf_code_parse(vmf_code_name(i)), i);
    }
    for (i = 0; i < VMF_CMD_MAX_; i++) {
        assert_string_not_equal(vmf_cmd_name(i), "?");
        assert_int_equal(vmf_cmd_parse(vmf_cmd_name(i)), i);
    }
    for (i = 0; i < VMF_EV_MAX_; i++)
        assert_string_not_equal(vmf_event_name(i), "?");
    assert_string_equal(vmf_code_name(VMF_E_DOWNGRADE), "E_DOWNGRADE");
    assert_string_equal(vmf_code_name(VMF_OK), "OK");
    assert_string_equal(vmf_code_str(VMF_E_BAD_SIGNATURE),
                        "bad package signature");
    assert_string_equal(vmf_cmd_name(VMF_CMD_UPDATE), "update");
    assert_string_equal(vmf_event_name(VMF_EV_COMMIT), "commit");
    assert_int_equal(vmf_code_parse("e_downgrade"), VMF_E_DOWNGRADE);
    assert_int_equal(vmf_cmd_parse("SNAPSHOT"), VMF_CMD_SNAPSHOT);
    assert_string_equal(vmf_cmd_name(VMF_CMD_LOGS), "logs");
    assert_int_equal(vmf_cmd_parse("logs"), VMF_CMD_LOGS);
    assert_int_equal(VMF_CMD_LOGS, 13);
    assert_int_equal(vmf_code_parse("E_NOPE"), -1);
    assert_int_equal(vmf_code_parse(""), -1);
    assert_int_equal(vmf_code_parse(NULL), -1);
    assert_int_equal(vmf_cmd_parse("updat"), -1);
    assert_string_equal(vmf_code_name(-1), "?");
    assert_string_equal(vmf_code_name(VMF_CODE_MAX_), "?");
    assert_string_equal(vmf_cmd_name(VMF_CMD_MAX_), "?");
    assert_string_equal(vmf_event_name(-3), "?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fleet_cmd_round_trip),
        cmocka_unit_test(test_fleet_result_round_trip),
        cmocka_unit_test(test_fleet_result_data_round_trip),
        cmocka_unit_test(test_fleet_event_round_trip),
        cmocka_unit_test(test_fleet_state_round_trip_at_caps),
        cmocka_unit_test(test_fleet_state_without_vms),
        cmocka_unit_test(test_fleet_chunk_req_round_trip),
        cmocka_unit_test(test_fleet_chunk_round_trip_full_size),
        cmocka_unit_test(test_fleet_chunk_bad_crc_still_decodes),
        cmocka_unit_test(test_fleet_every_truncation_is_safe),
        cmocka_unit_test(test_fleet_garbage_is_eformat),
        cmocka_unit_test(test_fleet_oversize_string_is_etoobig),
        cmocka_unit_test(test_fleet_too_many_vms_or_labels_is_etoobig),
        cmocka_unit_test(test_fleet_bad_sha_length_is_eformat),
        cmocka_unit_test(test_fleet_oversized_chunk_is_etoobig),
        cmocka_unit_test(test_fleet_logs_caps_on_the_wire),
        cmocka_unit_test(test_fleet_encode_validates),
        cmocka_unit_test(test_fleet_unknown_fields_are_ignored),
        cmocka_unit_test(test_fleet_unknown_kind_passes_through),
        cmocka_unit_test(test_fleet_topic_build_and_parse),
        cmocka_unit_test(test_fleet_invalid_device_ids),
        cmocka_unit_test(test_fleet_foreign_topics_are_einval),
        cmocka_unit_test(test_fleet_crc32_matches_zlib),
        cmocka_unit_test(test_fleet_name_tables_are_total),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
