/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * fuzz_fleet: the device-server protocol codec (common/src/fleet_pb.c) as
 * both sides see it: any bytes are decoded as every message type.  A
 * decode must return a documented code; what decodes must re-encode
 * (or be refused with VMF_FLEET_EINVAL only for an enum value this side
 * cannot send), and decoding the re-encoding must give the same struct.
 * With VMF_FUZZ_FLEET_SEEDS=DIR, LLVMFuzzerInitialize writes one valid
 * message of each type into DIR (tests/fuzz/run.sh does this), so that
 * the fuzzer starts from real field layouts.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmf/fleet.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decode result must be one of the documented codes. */
static void
check_rc(int rc)
{
    if (rc != 0 && rc != VMF_FLEET_EFORMAT && rc != VMF_FLEET_ETOOBIG &&
        rc != VMF_FLEET_ENOMEM)
        abort();
}

/* ---- seeds ---------------------------------------------------------- */

static void
write_seed(const char *dir, const char *name, uint8_t *buf, size_t len,
           int rc)
{
    char path[4096];
    FILE *f;

    if (rc != 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((f = fopen(path, "wb")) != NULL) {
        fwrite(buf, 1, len, f);
        fclose(f);
    }
    free(buf);
}

static void
write_seeds(const char *dir)
{
    vmf_vm_status_t vms[2];
    uint8_t data[64], *buf = NULL;
    vmf_cmd_t c;
    vmf_result_t r;
    vmf_event_t e;
    vmf_state_t s;
    vmf_chunk_req_t q;
    vmf_chunk_t k;
    size_t len = 0, i;
    int rc;

    vmf_cmd_init(&c);
    snprintf(c.id, sizeof(c.id), "c-0001");
    c.kind = VMF_CMD_UPDATE;
    snprintf(c.device, sizeof(c.device), "dev-1");
    snprintf(c.vm, sizeof(c.vm), "sensor");
    c.has_xfer = true;
    snprintf(c.xfer.id, sizeof(c.xfer.id), "x-0001");
    c.xfer.size = 300000;
    memset(c.xfer.sha256, 0x5a, sizeof(c.xfer.sha256));
    c.xfer.chunk_size = 65536;
    c.health_window_ms = 3000;
    c.snapshot_before = true;
    c.issued_ms = 1790000000000ull;
    rc = vmf_cmd_encode(&c, &buf, &len);
    write_seed(dir, "cmd", buf, len, rc);

    vmf_result_init(&r);
    snprintf(r.cmd_id, sizeof(r.cmd_id), "c-0001");
    r.kind = VMF_CMD_SNAPSHOT;
    r.final = true;
    r.code = VMF_E_DOWNGRADE;
    snprintf(r.message, sizeof(r.message), "2.0.0 is not newer than 2.1.0");
    snprintf(r.vm, sizeof(r.vm), "sensor");
    snprintf(r.version, sizeof(r.version), "2.1.0");
    r.has_xfer = true;
    r.xfer = c.xfer;
    rc = vmf_result_encode(&r, &buf, &len);
    write_seed(dir, "result", buf, len, rc);

    vmf_event_init(&e);
    e.kind = VMF_EV_PROGRESS;
    snprintf(e.vm, sizeof(e.vm), "sensor");
    snprintf(e.cmd_id, sizeof(e.cmd_id), "c-0001");
    e.done = 150000;
    e.total = 300000;
    e.percent = 50;
    e.time_ms = 1790000000001ull;
    rc = vmf_event_encode(&e, &buf, &len);
    write_seed(dir, "event", buf, len, rc);

    vmf_state_init(&s);
    snprintf(s.device, sizeof(s.device), "dev-1");
    s.online = true;
    snprintf(s.runtime_version, sizeof(s.runtime_version), "0.1.0");
    snprintf(s.ota_version, sizeof(s.ota_version), "0.1.0");
    snprintf(s.labels[0].key, sizeof(s.labels[0].key), "site");
    snprintf(s.labels[0].value, sizeof(s.labels[0].value), "berlin");
    s.nlabels = 1;
    memset(vms, 0, sizeof(vms));
    for (i = 0; i < 2; i++) {
        snprintf(vms[i].name, sizeof(vms[i].name), "vm%zu", i);
        snprintf(vms[i].version, sizeof(vms[i].version), "1.0.%zu", i);
        snprintf(vms[i].state, sizeof(vms[i].state), "running");
        vms[i].memory_bytes = 65536;
        vms[i].cpu_ms = 1234;
    }
    s.vms = vms;
    s.nvms = 2;
    s.boot_id = 7;
    rc = vmf_state_encode(&s, &buf, &len);
    write_seed(dir, "state", buf, len, rc);

    vmf_chunk_req_init(&q);
    snprintf(q.xfer_id, sizeof(q.xfer_id), "x-0001");
    q.first = 3;
    q.count = 8;
    rc = vmf_chunk_req_encode(&q, &buf, &len);
    write_seed(dir, "chunk_req", buf, len, rc);

    vmf_chunk_init(&k);
    snprintf(k.xfer_id, sizeof(k.xfer_id), "x-0001");
    k.index = 3;
    for (i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    k.data = data;
    k.len = sizeof(data);
    k.crc32 = vmf_crc32(data, sizeof(data));
    rc = vmf_chunk_encode(&k, &buf, &len);
    write_seed(dir, "chunk", buf, len, rc);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *dir = getenv("VMF_FUZZ_FLEET_SEEDS");

    (void)argc;
    (void)argv;
    if (dir != NULL && *dir != '\0')
        write_seeds(dir);
    return 0;
}

/* ---- one input as every message type -------------------------------- */

/*
 * Re-encoding may be refused only for what this side cannot send: a
 * command or event kind outside the known ones, an unknown result code.
 */
static void
check_encode(int rc, int enum_ok)
{
    if (rc == 0)
        return;
    if (rc == VMF_FLEET_ENOMEM || (rc == VMF_FLEET_EINVAL && !enum_ok))
        return;
    abort();
}

static void
fuzz_cmd(const uint8_t *data, size_t size)
{
    vmf_cmd_t a, b;
    uint8_t *buf;
    size_t len;
    int rc;

    check_rc(rc = vmf_cmd_decode(data, size, &a));
    if (rc != 0)
        return;
    rc = vmf_cmd_encode(&a, &buf, &len);
    check_encode(rc, (int)a.kind > 0 && (int)a.kind < VMF_CMD_MAX_);
    if (rc != 0)
        return;
    if (vmf_cmd_decode(buf, len, &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
        abort();
    free(buf);
}

static void
fuzz_result(const uint8_t *data, size_t size)
{
    vmf_result_t a, b;
    uint8_t *buf;
    size_t len;
    int rc;

    uint8_t *da, *db;

    check_rc(rc = vmf_result_decode(data, size, &a));
    if (rc != 0)
        return;
    rc = vmf_result_encode(&a, &buf, &len);
    check_encode(rc, (int)a.code >= 0 && (int)a.code < VMF_CODE_MAX_);
    if (rc != 0) {
        vmf_result_free(&a);
        return;
    }
    if (vmf_result_decode(buf, len, &b) != 0 || a.len != b.len ||
        (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
        abort();
    /* The owned data pointers differ; the rest compares whole. */
    da = a.data;
    db = b.data;
    a.data = b.data = NULL;
    if (memcmp(&a, &b, sizeof(a)) != 0)
        abort();
    free(da);
    free(db);
    free(buf);
}

static void
fuzz_event(const uint8_t *data, size_t size)
{
    vmf_event_t a, b;
    uint8_t *buf;
    size_t len;
    int rc;

    check_rc(rc = vmf_event_decode(data, size, &a));
    if (rc != 0)
        return;
    if (a.percent > 100)
        abort();
    rc = vmf_event_encode(&a, &buf, &len);
    check_encode(rc, (int)a.kind > 0 && (int)a.kind < VMF_EV_MAX_);
    if (rc != 0)
        return;
    if (vmf_event_decode(buf, len, &b) != 0 || memcmp(&a, &b, sizeof(a)) != 0)
        abort();
    free(buf);
}

static void
fuzz_state(const uint8_t *data, size_t size)
{
    vmf_state_t a, b;
    vmf_vm_status_t *bvms;
    uint8_t *buf;
    size_t len;
    int rc;

    check_rc(rc = vmf_state_decode(data, size, &a));
    if (rc != 0) {
        if (a.vms != NULL || a.nvms != 0)
            abort();
        return;
    }
    if (a.nvms > VMF_STATE_VMS_MAX || a.nlabels > VMF_LABELS_MAX ||
        (a.nvms > 0) != (a.vms != NULL))
        abort();
    rc = vmf_state_encode(&a, &buf, &len);
    check_encode(rc, 1);
    if (rc == 0) {
        if (vmf_state_decode(buf, len, &b) != 0 || a.nvms != b.nvms ||
            (a.nvms > 0 &&
             memcmp(a.vms, b.vms, a.nvms * sizeof(*a.vms)) != 0))
            abort();
        /* The vms pointers differ; nothing else may. */
        bvms = b.vms;
        b.vms = a.vms;
        if (memcmp(&a, &b, sizeof(a)) != 0)
            abort();
        b.vms = bvms;
        vmf_state_free(&b);
        free(buf);
    }
    vmf_state_free(&a);
}

static void
fuzz_chunk_req(const uint8_t *data, size_t size)
{
    vmf_chunk_req_t a, b;
    uint8_t *buf;
    size_t len;
    int rc;

    check_rc(rc = vmf_chunk_req_decode(data, size, &a));
    if (rc != 0)
        return;
    if (a.count == 0 || a.count > VMF_REQ_CHUNKS_MAX)
        abort();
    rc = vmf_chunk_req_encode(&a, &buf, &len);
    check_encode(rc, 1);
    if (rc != 0)
        return;
    if (vmf_chunk_req_decode(buf, len, &b) != 0 ||
        memcmp(&a, &b, sizeof(a)) != 0)
        abort();
    free(buf);
}

static void
fuzz_chunk(const uint8_t *data, size_t size)
{
    vmf_chunk_t a, b;
    uint8_t *buf;
    size_t len;
    int rc;

    check_rc(rc = vmf_chunk_decode(data, size, &a));
    if (rc != 0) {
        if (a.data != NULL || a.len != 0)
            abort();
        return;
    }
    if (a.len > VMF_CHUNK_MAX || a.len > size)
        abort();
    /* Touch every byte so that ASan checks the length. */
    (void)vmf_crc32(a.data, a.len);
    rc = vmf_chunk_encode(&a, &buf, &len);
    check_encode(rc, 1);
    if (rc == 0) {
        if (vmf_chunk_decode(buf, len, &b) != 0 || b.len != a.len ||
            b.index != a.index || b.crc32 != a.crc32 ||
            strcmp(a.xfer_id, b.xfer_id) != 0 ||
            (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
            abort();
        vmf_chunk_free(&b);
        free(buf);
    }
    vmf_chunk_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_cmd(data, size);
    fuzz_result(data, size);
    fuzz_event(data, size);
    fuzz_state(data, size);
    fuzz_chunk_req(data, size);
    fuzz_chunk(data, size);
    return 0;
}
