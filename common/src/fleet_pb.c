/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The one wrapper around protobuf-c for the device-server protocol
 * (proto/fleet.proto) to and from the plain structs of vmf/fleet.h.
 *
 * Decoding is the device's and the server's first contact with bytes from
 * the network, so it trusts nothing: the input is size-checked before
 * protobuf-c sees it, protobuf-c allocates from a budget (a message of
 * empty repeated entries would otherwise expand 256 KiB of input into
 * tens of MiB of structs), and every string, count and length is checked
 * against its fixed field before it is copied.  protobuf-c's objects are
 * freed before returning; only vmf_state_t.vms, vmf_chunk_t.data and
 * vmf_result_t.data are handed to the caller, as plain malloc() memory.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet.pb-c.h"
#include "vmf/fleet.h"

/*
 * What one decode may allocate in protobuf-c objects.  The largest valid
 * message (a State with VMF_STATE_VMS_MAX VMs, every string full, or one
 * full chunk) needs well under 1 MiB.
 */
#define DECODE_BUDGET (4u * 1024u * 1024u)

/* ---- allocation budget for protobuf-c ------------------------------ */

typedef struct {
    size_t used;
    bool over;  /* an allocation would have passed DECODE_BUDGET */
    bool nomem; /* malloc() failed */
} budget_t;

/* Each block is preceded by its size, padded to keep the alignment. */
typedef union {
    size_t size;
    max_align_t align;
} block_hdr_t;

static void *
budget_alloc(void *data, size_t size)
{
    budget_t *b = data;
    block_hdr_t *h;

    if (size > DECODE_BUDGET - b->used) {
        b->over = true;
        return NULL;
    }
    if ((h = malloc(sizeof(*h) + size)) == NULL) {
        b->nomem = true;
        return NULL;
    }
    h->size = size;
    b->used += size;
    return h + 1;
}

static void
budget_free(void *data, void *ptr)
{
    budget_t *b = data;
    block_hdr_t *h;

    if (ptr == NULL)
        return;
    h = (block_hdr_t *)ptr - 1;
    b->used -= h->size;
    free(h);
}

/*
 * unpack: size-check buf and let protobuf-c parse it with a budget.
 * Return: 0 with *out set (free it with protobuf_c_message_free_unpacked
 * and the same allocator); VMF_FLEET_ETOOBIG if buf is over VMF_MSG_MAX
 * or would need more than DECODE_BUDGET; VMF_FLEET_ENOMEM;
 * VMF_FLEET_EFORMAT if it is not a valid message.
 */
static int
unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
       ProtobufCAllocator *a, budget_t *b, ProtobufCMessage **out)
{
    static const uint8_t empty[1];

    *out = NULL;
    if (len > VMF_MSG_MAX)
        return VMF_FLEET_ETOOBIG;
    if (buf == NULL) {
        if (len != 0)
            return VMF_FLEET_EFORMAT;
        buf = empty;
    }
    memset(b, 0, sizeof(*b));
    a->alloc = budget_alloc;
    a->free = budget_free;
    a->allocator_data = b;
    if ((*out = protobuf_c_message_unpack(desc, a, len, buf)) == NULL) {
        if (b->over)
            return VMF_FLEET_ETOOBIG;
        return b->nomem ? VMF_FLEET_ENOMEM : VMF_FLEET_EFORMAT;
    }
    return 0;
}

/*
 * pack: encode pm into a new malloc()ed buffer.
 * Return: 0; VMF_FLEET_EINVAL if it would be over VMF_MSG_MAX;
 * VMF_FLEET_ENOMEM.
 */
static int
pack(const ProtobufCMessage *pm, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(pm);
    uint8_t *buf;

    if (n > VMF_MSG_MAX)
        return VMF_FLEET_EINVAL;
    if ((buf = malloc(n ? n : 1)) == NULL)
        return VMF_FLEET_ENOMEM;
    *len = protobuf_c_message_pack(pm, buf);
    *out = buf;
    return 0;
}

/* ---- field helpers ------------------------------------------------- */

/*
 * str_ok: is a struct's fixed string field NUL-terminated inside it?
 * protobuf-c takes `char *`; it only reads the strings when packing, so
 * the callers cast const away.
 */
static bool
str_ok(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/*
 * copy_str: copy a decoded string into a fixed field.
 * Return: 0, or VMF_FLEET_ETOOBIG if it does not fit with its NUL.
 */
static int
copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src != NULL ? strlen(src) : 0;

    if (n >= cap)
        return VMF_FLEET_ETOOBIG;
    memcpy(dst, src != NULL ? src : "", n);
    dst[n] = '\0';
    return 0;
}

#define COPY_STR(dst, src) copy_str((dst), sizeof(dst), (src))

static bool
out_ok(uint8_t **out, size_t *len)
{
    if (out == NULL || len == NULL)
        return false;
    *out = NULL;
    *len = 0;
    return true;
}

/*
 * xfer_to_pb: fill pt from x; sha is caller storage for the hash.
 * Return: 0, or VMF_FLEET_EINVAL for an unterminated id or a chunk_size
 * outside 1..VMF_CHUNK_MAX.
 */
static int
xfer_to_pb(const vmf_xfer_t *x, Vmf__Fleet__Transfer *pt, uint8_t sha[32])
{
    if (!str_ok(x->id, sizeof(x->id)) || x->chunk_size == 0 ||
        x->chunk_size > VMF_CHUNK_MAX)
        return VMF_FLEET_EINVAL;
    memcpy(sha, x->sha256, 32);
    pt->id = (char *)x->id;
    pt->size = x->size;
    pt->sha256.data = sha;
    pt->sha256.len = 32;
    pt->chunk_size = x->chunk_size;
    return 0;
}

/*
 * xfer_from_pb: copy a decoded Transfer.
 * Return: 0; VMF_FLEET_ETOOBIG (id too long, chunk_size over
 * VMF_CHUNK_MAX); VMF_FLEET_EFORMAT (sha256 not 32 bytes, chunk_size 0).
 */
static int
xfer_from_pb(const Vmf__Fleet__Transfer *pt, vmf_xfer_t *x)
{
    int rc;

    if ((rc = COPY_STR(x->id, pt->id)) != 0)
        return rc;
    if (pt->sha256.len != 32)
        return VMF_FLEET_EFORMAT;
    if (pt->chunk_size > VMF_CHUNK_MAX)
        return VMF_FLEET_ETOOBIG;
    if (pt->chunk_size == 0)
        return VMF_FLEET_EFORMAT;
    x->size = pt->size;
    memcpy(x->sha256, pt->sha256.data, 32);
    x->chunk_size = pt->chunk_size;
    return 0;
}

/* ---- Command ------------------------------------------------------- */

void
vmf_cmd_init(vmf_cmd_t *m)
{
    memset(m, 0, sizeof(*m));
    m->kind = VMF_CMD_NONE;
}

int
vmf_cmd_encode(const vmf_cmd_t *m, uint8_t **out, size_t *len)
{
    Vmf__Fleet__Command pc = VMF__FLEET__COMMAND__INIT;
    Vmf__Fleet__Transfer pt = VMF__FLEET__TRANSFER__INIT;
    uint8_t sha[32];
    int rc;

    if (!out_ok(out, len) || m == NULL)
        return VMF_FLEET_EINVAL;
    if ((int)m->kind <= VMF_CMD_NONE || (int)m->kind >= VMF_CMD_MAX_ ||
        !str_ok(m->id, sizeof(m->id)) ||
        !str_ok(m->device, sizeof(m->device)) ||
        !str_ok(m->vm, sizeof(m->vm)) ||
        !str_ok(m->cancel_id, sizeof(m->cancel_id)) ||
        m->log_bytes > VMF_RESULT_DATA_MAX)
        return VMF_FLEET_EINVAL;
    if (m->has_xfer) {
        if ((rc = xfer_to_pb(&m->xfer, &pt, sha)) != 0)
            return rc;
        pc.xfer = &pt;
    }
    pc.id = (char *)m->id;
    pc.kind = (Vmf__Fleet__CmdKind)m->kind;
    pc.device = (char *)m->device;
    pc.vm = (char *)m->vm;
    pc.health_window_ms = m->health_window_ms;
    pc.snapshot_before = m->snapshot_before;
    pc.cancel_id = (char *)m->cancel_id;
    pc.issued_ms = m->issued_ms;
    pc.log_bytes = m->log_bytes;
    return pack(&pc.base, out, len);
}

int
vmf_cmd_decode(const uint8_t *buf, size_t len, vmf_cmd_t *m)
{
    ProtobufCAllocator a;
    ProtobufCMessage *pm;
    const Vmf__Fleet__Command *pc;
    budget_t b;
    int rc;

    if (m == NULL)
        return VMF_FLEET_EINVAL;
    vmf_cmd_init(m);
    if ((rc = unpack(&vmf__fleet__command__descriptor, buf, len, &a, &b,
                     &pm)) != 0)
        return rc;
    pc = (const Vmf__Fleet__Command *)pm;
    if ((rc = COPY_STR(m->id, pc->id)) != 0 ||
        (rc = COPY_STR(m->device, pc->device)) != 0 ||
        (rc = COPY_STR(m->vm, pc->vm)) != 0 ||
        (rc = COPY_STR(m->cancel_id, pc->cancel_id)) != 0)
        goto out;
    if (pc->xfer != NULL) {
        if ((rc = xfer_from_pb(pc->xfer, &m->xfer)) != 0)
            goto out;
        m->has_xfer = true;
    }
    if (pc->log_bytes > VMF_RESULT_DATA_MAX) {
        rc = VMF_FLEET_ETOOBIG;
        goto out;
    }
    m->log_bytes = pc->log_bytes;
    /* Unknown kinds pass through: the device answers E_UNKNOWN_COMMAND. */
    m->kind = (vmf_cmd_kind_t)pc->kind;
    m->health_window_ms = pc->health_window_ms;
    m->snapshot_before = pc->snapshot_before != 0;
    m->issued_ms = pc->issued_ms;
out:
    protobuf_c_message_free_unpacked(pm, &a);
    if (rc != 0)
        vmf_cmd_init(m);
    return rc;
}

/* ---- Result -------------------------------------------------------- */

void
vmf_result_init(vmf_result_t *m)
{
    memset(m, 0, sizeof(*m));
    m->kind = VMF_CMD_NONE;
    m->code = VMF_OK;
    m->data = NULL;
}

void
vmf_result_free(vmf_result_t *m)
{
    if (m == NULL)
        return;
    free(m->data);
    vmf_result_init(m);
}

int
vmf_result_encode(const vmf_result_t *m, uint8_t **out, size_t *len)
{
    Vmf__Fleet__Result pr = VMF__FLEET__RESULT__INIT;
    Vmf__Fleet__Transfer pt = VMF__FLEET__TRANSFER__INIT;
    uint8_t sha[32];
    int rc;

    if (!out_ok(out, len) || m == NULL)
        return VMF_FLEET_EINVAL;
    /*
     * kind is not checked: a result echoes the command's kind, including
     * one this side does not know (the E_UNKNOWN_COMMAND answer).
     */
    if ((int)m->code < 0 || (int)m->code >= VMF_CODE_MAX_ ||
        !str_ok(m->cmd_id, sizeof(m->cmd_id)) ||
        !str_ok(m->message, sizeof(m->message)) ||
        !str_ok(m->vm, sizeof(m->vm)) ||
        !str_ok(m->version, sizeof(m->version)) ||
        m->len > VMF_RESULT_DATA_MAX || (m->len > 0 && m->data == NULL))
        return VMF_FLEET_EINVAL;
    if (m->has_xfer) {
        if ((rc = xfer_to_pb(&m->xfer, &pt, sha)) != 0)
            return rc;
        pr.xfer = &pt;
    }
    pr.cmd_id = (char *)m->cmd_id;
    pr.kind = (Vmf__Fleet__CmdKind)m->kind;
    pr.final = m->final;
    pr.code = (Vmf__Fleet__Code)m->code;
    pr.message = (char *)m->message;
    pr.vm = (char *)m->vm;
    pr.version = (char *)m->version;
    pr.data.data = m->data;
    pr.data.len = m->len;
    return pack(&pr.base, out, len);
}

int
vmf_result_decode(const uint8_t *buf, size_t len, vmf_result_t *m)
{
    ProtobufCAllocator a;
    ProtobufCMessage *pm;
    const Vmf__Fleet__Result *pr;
    budget_t b;
    int rc;

    if (m == NULL)
        return VMF_FLEET_EINVAL;
    vmf_result_init(m);
    if ((rc = unpack(&vmf__fleet__result__descriptor, buf, len, &a, &b,
                     &pm)) != 0)
        return rc;
    pr = (const Vmf__Fleet__Result *)pm;
    if ((rc = COPY_STR(m->cmd_id, pr->cmd_id)) != 0 ||
        (rc = COPY_STR(m->message, pr->message)) != 0 ||
        (rc = COPY_STR(m->vm, pr->vm)) != 0 ||
        (rc = COPY_STR(m->version, pr->version)) != 0)
        goto out;
    if (pr->xfer != NULL) {
        if ((rc = xfer_from_pb(pr->xfer, &m->xfer)) != 0)
            goto out;
        m->has_xfer = true;
    }
    if (pr->data.len > VMF_RESULT_DATA_MAX) {
        rc = VMF_FLEET_ETOOBIG;
        goto out;
    }
    if (pr->data.len > 0) {
        if ((m->data = malloc(pr->data.len)) == NULL) {
            rc = VMF_FLEET_ENOMEM;
            goto out;
        }
        memcpy(m->data, pr->data.data, pr->data.len);
        m->len = pr->data.len;
    }
    /* A newer peer's kinds and codes pass through as numbers. */
    m->kind = (vmf_cmd_kind_t)pr->kind;
    m->final = pr->final != 0;
    m->code = (vmf_code_t)pr->code;
out:
    protobuf_c_message_free_unpacked(pm, &a);
    if (rc != 0)
        vmf_result_free(m);
    return rc;
}

/* ---- Event --------------------------------------------------------- */

void
vmf_event_init(vmf_event_t *m)
{
    memset(m, 0, sizeof(*m));
    m->kind = VMF_EV_NONE;
}

int
vmf_event_encode(const vmf_event_t *m, uint8_t **out, size_t *len)
{
    Vmf__Fleet__Event pe = VMF__FLEET__EVENT__INIT;

    if (!out_ok(out, len) || m == NULL)
        return VMF_FLEET_EINVAL;
    if ((int)m->kind <= VMF_EV_NONE || (int)m->kind >= VMF_EV_MAX_ ||
        m->percent > 100 || !str_ok(m->vm, sizeof(m->vm)) ||
        !str_ok(m->cmd_id, sizeof(m->cmd_id)) ||
        !str_ok(m->detail, sizeof(m->detail)))
        return VMF_FLEET_EINVAL;
    pe.kind = (Vmf__Fleet__EventKind)m->kind;
    pe.vm = (char *)m->vm;
    pe.cmd_id = (char *)m->cmd_id;
    pe.detail = (char *)m->detail;
    pe.done = m->done;
    pe.total = m->total;
    pe.percent = m->percent;
    pe.time_ms = m->time_ms;
    return pack(&pe.base, out, len);
}

int
vmf_event_decode(const uint8_t *buf, size_t len, vmf_event_t *m)
{
    ProtobufCAllocator a;
    ProtobufCMessage *pm;
    const Vmf__Fleet__Event *pe;
    budget_t b;
    int rc;

    if (m == NULL)
        return VMF_FLEET_EINVAL;
    vmf_event_init(m);
    if ((rc = unpack(&vmf__fleet__event__descriptor, buf, len, &a, &b,
                     &pm)) != 0)
        return rc;
    pe = (const Vmf__Fleet__Event *)pm;
    if ((rc = COPY_STR(m->vm, pe->vm)) != 0 ||
        (rc = COPY_STR(m->cmd_id, pe->cmd_id)) != 0 ||
        (rc = COPY_STR(m->detail, pe->detail)) != 0)
        goto out;
    if (pe->percent > 100) {
        rc = VMF_FLEET_EFORMAT;
        goto out;
    }
    m->kind = (vmf_event_kind_t)pe->kind;
    m->done = pe->done;
    m->total = pe->total;
    m->percent = pe->percent;
    m->time_ms = pe->time_ms;
out:
    protobuf_c_message_free_unpacked(pm, &a);
    if (rc != 0)
        vmf_event_init(m);
    return rc;
}

/* ---- State --------------------------------------------------------- */

void
vmf_state_init(vmf_state_t *m)
{
    memset(m, 0, sizeof(*m));
    m->vms = NULL;
}

void
vmf_state_free(vmf_state_t *m)
{
    if (m == NULL)
        return;
    free(m->vms);
    vmf_state_init(m);
}

/* Return: true if every string of v fits its field. */
static bool
vm_status_ok(const vmf_vm_status_t *v)
{
    return str_ok(v->name, sizeof(v->name)) &&
           str_ok(v->version, sizeof(v->version)) &&
           str_ok(v->state, sizeof(v->state)) &&
           str_ok(v->last_error, sizeof(v->last_error));
}

int
vmf_state_encode(const vmf_state_t *m, uint8_t **out, size_t *len)
{
    Vmf__Fleet__State ps = VMF__FLEET__STATE__INIT;
    Vmf__Fleet__Label pl[VMF_LABELS_MAX], *plp[VMF_LABELS_MAX];
    Vmf__Fleet__VmStatus *pv = NULL, **pvp = NULL;
    uint32_t i;
    int rc;

    if (!out_ok(out, len) || m == NULL)
        return VMF_FLEET_EINVAL;
    if (m->nlabels > VMF_LABELS_MAX || m->nvms > VMF_STATE_VMS_MAX ||
        (m->nvms > 0 && m->vms == NULL) ||
        !str_ok(m->device, sizeof(m->device)) ||
        !str_ok(m->runtime_version, sizeof(m->runtime_version)) ||
        !str_ok(m->ota_version, sizeof(m->ota_version)))
        return VMF_FLEET_EINVAL;
    for (i = 0; i < m->nlabels; i++) {
        const vmf_label_t *l = &m->labels[i];

        if (!str_ok(l->key, sizeof(l->key)) ||
            !str_ok(l->value, sizeof(l->value)))
            return VMF_FLEET_EINVAL;
        vmf__fleet__label__init(&pl[i]);
        pl[i].key = (char *)l->key;
        pl[i].value = (char *)l->value;
        plp[i] = &pl[i];
    }
    for (i = 0; i < m->nvms; i++)
        if (!vm_status_ok(&m->vms[i]))
            return VMF_FLEET_EINVAL;
    if (m->nvms > 0) {
        if ((pv = calloc(m->nvms, sizeof(*pv))) == NULL ||
            (pvp = calloc(m->nvms, sizeof(*pvp))) == NULL) {
            rc = VMF_FLEET_ENOMEM;
            goto out;
        }
    }
    for (i = 0; i < m->nvms; i++) {
        const vmf_vm_status_t *v = &m->vms[i];

        vmf__fleet__vm_status__init(&pv[i]);
        pv[i].name = (char *)v->name;
        pv[i].version = (char *)v->version;
        pv[i].state = (char *)v->state;
        pv[i].priority = v->priority;
        pv[i].memory_bytes = v->memory_bytes;
        pv[i].storage_quota = v->storage_quota;
        pv[i].cpu_ms = v->cpu_ms;
        pv[i].uptime_ms = v->uptime_ms;
        pv[i].restarts = v->restarts;
        pv[i].last_error = (char *)v->last_error;
        pvp[i] = &pv[i];
    }
    ps.device = (char *)m->device;
    ps.online = m->online;
    ps.runtime_version = (char *)m->runtime_version;
    ps.ota_version = (char *)m->ota_version;
    ps.n_labels = m->nlabels;
    ps.labels = m->nlabels > 0 ? plp : NULL;
    ps.n_vms = m->nvms;
    ps.vms = pvp;
    ps.time_ms = m->time_ms;
    ps.boot_id = m->boot_id;
    rc = pack(&ps.base, out, len);
out:
    free(pvp);
    free(pv);
    return rc;
}

int
vmf_state_decode(const uint8_t *buf, size_t len, vmf_state_t *m)
{
    ProtobufCAllocator a;
    ProtobufCMessage *pm;
    const Vmf__Fleet__State *ps;
    budget_t b;
    size_t i;
    int rc;

    if (m == NULL)
        return VMF_FLEET_EINVAL;
    vmf_state_init(m);
    if ((rc = unpack(&vmf__fleet__state__descriptor, buf, len, &a, &b,
                     &pm)) != 0)
        return rc;
    ps = (const Vmf__Fleet__State *)pm;
    if (ps->n_labels > VMF_LABELS_MAX || ps->n_vms > VMF_STATE_VMS_MAX) {
        rc = VMF_FLEET_ETOOBIG;
        goto out;
    }
    if ((rc = COPY_STR(m->device, ps->device)) != 0 ||
        (rc = COPY_STR(m->runtime_version, ps->runtime_version)) != 0 ||
        (rc = COPY_STR(m->ota_version, ps->ota_version)) != 0)
        goto out;
    for (i = 0; i < ps->n_labels; i++) {
        if ((rc = COPY_STR(m->labels[i].key, ps->labels[i]->key)) != 0 ||
            (rc = COPY_STR(m->labels[i].value, ps->labels[i]->value)) != 0)
            goto out;
    }
    m->nlabels = (uint32_t)ps->n_labels;
    if (ps->n_vms > 0 &&
        (m->vms = calloc(ps->n_vms, sizeof(*m->vms))) == NULL) {
        rc = VMF_FLEET_ENOMEM;
        goto out;
    }
    m->nvms = (uint32_t)ps->n_vms;
    for (i = 0; i < ps->n_vms; i++) {
        const Vmf__Fleet__VmStatus *pv = ps->vms[i];
        vmf_vm_status_t *v = &m->vms[i];

        if ((rc = COPY_STR(v->name, pv->name)) != 0 ||
            (rc = COPY_STR(v->version, pv->version)) != 0 ||
            (rc = COPY_STR(v->state, pv->state)) != 0 ||
            (rc = COPY_STR(v->last_error, pv->last_error)) != 0)
            goto out;
        v->priority = pv->priority;
        v->memory_bytes = pv->memory_bytes;
        v->storage_quota = pv->storage_quota;
        v->cpu_ms = pv->cpu_ms;
        v->uptime_ms = pv->uptime_ms;
        v->restarts = pv->restarts;
    }
    m->online = ps->online != 0;
    m->time_ms = ps->time_ms;
    m->boot_id = ps->boot_id;
out:
    protobuf_c_message_free_unpacked(pm, &a);
    if (rc != 0)
        vmf_state_free(m);
    return rc;
}

/* ---- ChunkRequest -------------------------------------------------- */

void
vmf_chunk_req_init(vmf_chunk_req_t *m)
{
    memset(m, 0, sizeof(*m));
}

int
vmf_chunk_req_encode(const vmf_chunk_req_t *m, uint8_t **out, size_t *len)
{
    Vmf__Fleet__ChunkRequest pq = VMF__FLEET__CHUNK_REQUEST__INIT;

    if (!out_ok(out, len) || m == NULL)
        return VMF_FLEET_EINVAL;
    if (m->count == 0 || m->count > VMF_REQ_CHUNKS_MAX ||
        !str_ok(m->xfer_id, sizeof(m->xfer_id)))
        return VMF_FLEET_EINVAL;
    pq.xfer_id = (char *)m->xfer_id;
    pq.first = m->first;
    pq.count = m->count;
    return pack(&pq.base, out, len);
}

int
vmf_chunk_req_decode(const uint8_t *buf, size_t len, vmf_chunk_req_t *m)
{
    ProtobufCAllocator a;
    ProtobufCMessage *pm;
    const Vmf__Fleet__ChunkRequest *pq;
    budget_t b;
    int rc;

    if (m == NULL)
        return VMF_FLEET_EINVAL;
    vmf_chunk_req_init(m);
    if ((rc = unpack(&vmf__fleet__chunk_request__descriptor, buf, len, &a, &b,
                     &pm)) != 0)
        return rc;
    pq = (const Vmf__Fleet__ChunkRequest *)pm;
    if ((rc = COPY_STR(m->xfer_id, pq->xfer_id)) != 0)
        goto out;
    if (pq->count == 0)
        rc = VMF_FLEET_EFORMAT;
    else if (pq->count > VMF_REQ_CHUNKS_MAX)
        rc = VMF_FLEET_ETOOBIG;
    else {
        m->first = pq->first;
        m->count = pq->count;
    }
out:
    protobuf_c_message_free_unpacked(pm, &a);
    if (rc != 0)
        vmf_chunk_req_init(m);
    return rc;
}

/* ---- Chunk --------------------------------------------------------- */

void
vmf_chunk_init(vmf_chunk_t *m)
{
    memset(m, 0, sizeof(*m));
    m->data = NULL;
}

void
vmf_chunk_free(vmf_chunk_t *m)
{
    if (m == NULL)
        return;
    free(m->data);
    vmf_chunk_init(m);
}

int
vmf_chunk_encode(const vmf_chunk_t *m, uint8_t **out, size_t *len)
{
    Vmf__Fleet__Chunk pk = VMF__FLEET__CHUNK__INIT;

    if (!out_ok(out, len) || m == NULL)
        return VMF_FLEET_EINVAL;
    if (m->len > VMF_CHUNK_MAX || (m->len > 0 && m->data == NULL) ||
        !str_ok(m->xfer_id, sizeof(m->xfer_id)))
        return VMF_FLEET_EINVAL;
    pk.xfer_id = (char *)m->xfer_id;
    pk.index = m->index;
    pk.crc32 = m->crc32;
    pk.data.data = m->data;
    pk.data.len = m->len;
    return pack(&pk.base, out, len);
}

/*
 * The checksum is not verified here: a chunk that fails it is a protocol
 * event (re-request, then E_CORRUPT_CHUNK), not a malformed message.
 */
int
vmf_chunk_decode(const uint8_t *buf, size_t len, vmf_chunk_t *m)
{
    ProtobufCAllocator a;
    ProtobufCMessage *pm;
    const Vmf__Fleet__Chunk *pk;
    budget_t b;
    int rc;

    if (m == NULL)
        return VMF_FLEET_EINVAL;
    vmf_chunk_init(m);
    if ((rc = unpack(&vmf__fleet__chunk__descriptor, buf, len, &a, &b,
                     &pm)) != 0)
        return rc;
    pk = (const Vmf__Fleet__Chunk *)pm;
    if ((rc = COPY_STR(m->xfer_id, pk->xfer_id)) != 0)
        goto out;
    if (pk->data.len > VMF_CHUNK_MAX) {
        rc = VMF_FLEET_ETOOBIG;
        goto out;
    }
    if (pk->data.len > 0) {
        if ((m->data = malloc(pk->data.len)) == NULL) {
            rc = VMF_FLEET_ENOMEM;
            goto out;
        }
        memcpy(m->data, pk->data.data, pk->data.len);
        m->len = pk->data.len;
    }
    m->index = pk->index;
    m->crc32 = pk->crc32;
out:
    protobuf_c_message_free_unpacked(pm, &a);
    if (rc != 0)
        vmf_chunk_free(m);
    return rc;
}
