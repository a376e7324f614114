/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * The control protocol's one wrapper around protobuf-c: conversions between
 * the C structs of ipc/ctl.h and the generated messages, framing, and the
 * client helpers.  Everything that arrives here comes from another process:
 * sizes are checked before anything is allocated, and strings that do not
 * fit their field are refused rather than truncated.
 */

#include <stdlib.h>
#include <string.h>

#include "ipc/ctl.h"
#include "vmrt_ctl.pb-c.h"

typedef Vmrt__Ctl__Request pb_req_t;
typedef Vmrt__Ctl__Response pb_resp_t;
typedef Vmrt__Ctl__Manifest pb_man_t;

static const char *const code_text[] = {
#define IPC_CTL_XX_(name, val, msg) [val] = msg,
    IPC_CTL_CODE_MAP(IPC_CTL_XX_)
#undef IPC_CTL_XX_
};

static const char *const code_names[] = {
#define IPC_CTL_XX_(name, val, msg) [val] = #name,
    IPC_CTL_CODE_MAP(IPC_CTL_XX_)
#undef IPC_CTL_XX_
};

#define NCODES (sizeof(code_text) / sizeof(code_text[0]))

static const char *const state_names[] = {
    "created", "running", "suspended", "stopped", "restarting", "failed"
};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *
ipc_ctl_code_str(int code)
{
    if (code < 0 || (size_t)code >= NCODES)
        return "unknown error";
    return code_text[code];
}

const char *
ipc_ctl_code_name(int code)
{
    if (code < 0 || (size_t)code >= NCODES)
        return "UNKNOWN";
    return code_names[code];
}

ipc_ctl_code_t
ipc_ctl_code_of(int rc)
{
    /* VMRT_E* and PL_E* overlap in value; the runtime API returns VMRT_E*,
     * so that table wins.  Only the VMRT codes the runtime API documents
     * get their own mapping. */
    switch (rc) {
    case 0:
        return IPC_CTL_OK;
    case VMRT_ENOMEM:
        return IPC_CTL_NO_MEMORY;
    case VMRT_EINVAL:
    case VMRT_ETYPE:
        return IPC_CTL_INVALID;
    case VMRT_EMALFORMED:
    case VMRT_EINVALID:
    case VMRT_EUNSUPPORTED:
    case VMRT_EUNLINKABLE:
    case VMRT_EUNINSTANTIABLE:
    case VMRT_ECORRUPT:
    case VMRT_EMISMATCH:
    case VMRT_EVERSION:
        return IPC_CTL_CORRUPT;
    case VMRT_ENOTFOUND:
        return IPC_CTL_NOT_FOUND;
    case VMRT_ELIMIT:
        return IPC_CTL_TOO_LARGE;
    case VMRT_ESTATE:
        return IPC_CTL_STATE;
    case VMRT_EIO:
        return IPC_CTL_IO;
    default:
        return IPC_CTL_INTERNAL;
    }
}

const char *
ipc_ctl_state_name(int state)
{
    if (state < 0 || (size_t)state >= NSTATES)
        return "unknown";
    return state_names[state];
}

static int
state_parse(const char *s)
{
    size_t i;

    for (i = 0; i < NSTATES; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (int)i;
    return -1;
}

/* ---- structs ----------------------------------------------------------- */

void
ipc_ctl_req_init(ipc_ctl_req_t *r)
{
    memset(r, 0, sizeof(*r));
}

void
ipc_ctl_req_free(ipc_ctl_req_t *r)
{
    if (r == NULL)
        return;
    free(r->data);
    ipc_ctl_req_init(r);
}

void
ipc_ctl_resp_init(ipc_ctl_resp_t *r)
{
    memset(r, 0, sizeof(*r));
}

void
ipc_ctl_resp_free(ipc_ctl_resp_t *r)
{
    if (r == NULL)
        return;
    free(r->vms);
    free(r->data);
    ipc_ctl_resp_init(r);
}

void
ipc_ctl_buf_free(uint8_t *buf)
{
    free(buf);
}

size_t
ipc_ctl_req_limit(ipc_ctl_op_t op)
{
    switch (op) {
    case IPC_CTL_OP_CREATE:
    case IPC_CTL_OP_RESTORE:
    case IPC_CTL_OP_STAGE:
        return IPC_CTL_FRAME_BIG;
    default:
        return IPC_CTL_FRAME_SMALL;
    }
}

/*
 * cpy: copy a decoded string into a fixed field.
 * Return: 0, or PL_EMSGSIZE when it does not fit (never truncated: a
 * truncated VM name would silently address another VM).
 */
static int
cpy(char *dst, size_t cap, const char *src)
{
    size_t n;

    if (src == NULL) {
        dst[0] = '\0';
        return 0;
    }
    n = strlen(src);
    if (n >= cap)
        return PL_EMSGSIZE;
    memcpy(dst, src, n + 1);
    return 0;
}

/* Copy for encoding: the caller's fixed fields are NUL-terminated by
 * contract, but a missing NUL must not run off the field. */
static char *
enc_str(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL ? (char *)s : (char *)"";
}

static int
dup_bytes(const ProtobufCBinaryData *b, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    if (b->len == 0)
        return 0;
    if ((*out = malloc(b->len)) == NULL)
        return PL_ENOMEM;
    memcpy(*out, b->data, b->len);
    *len = b->len;
    return 0;
}

/* ---- encoding ---------------------------------------------------------- */

/* Everything the manifest conversion allocates, freed in one place. */
typedef struct {
    pb_man_t man;
    Vmrt__Ctl__Grant grants[VMRT_MAX_GRANTS];
    Vmrt__Ctl__Grant *grantp[VMRT_MAX_GRANTS];
    Vmrt__Ctl__NetAllow net[VMRT_MAX_NET_ALLOW];
    Vmrt__Ctl__NetAllow *netp[VMRT_MAX_NET_ALLOW];
    char *provides[VMRT_MAX_SERVICES];
    char *calls[VMRT_MAX_SERVICES];
    char *args[VMRT_MAX_ARGS];
} man_enc_t;

static void
man_to_pb(const vmrt_manifest_t *m, man_enc_t *e)
{
    uint32_t i, n;

    vmrt__ctl__manifest__init(&e->man);
    e->man.name = enc_str(m->name, sizeof(m->name));
    e->man.version = enc_str(m->version, sizeof(m->version));
    e->man.module = enc_str(m->module, sizeof(m->module));
    e->man.priority = m->priority;
    e->man.slice_us = m->slice_us;
    e->man.memory_pages = m->memory_pages;
    e->man.storage_quota = m->storage_quota;
    e->man.affinity = m->affinity;
    n = m->ngrants < VMRT_MAX_GRANTS ? m->ngrants : VMRT_MAX_GRANTS;
    for (i = 0; i < n; i++) {
        vmrt__ctl__grant__init(&e->grants[i]);
        e->grants[i].name = enc_str(m->grants[i].name, VMRT_NAME_MAX);
        e->grants[i].exclusive = m->grants[i].exclusive;
        e->grantp[i] = &e->grants[i];
    }
    e->man.n_grants = n;
    e->man.grants = e->grantp;
    n = m->nprovides < VMRT_MAX_SERVICES ? m->nprovides : VMRT_MAX_SERVICES;
    for (i = 0; i < n; i++)
        e->provides[i] = enc_str(m->provides[i], VMRT_NAME_MAX);
    e->man.n_provides = n;
    e->man.provides = e->provides;
    n = m->ncalls < VMRT_MAX_SERVICES ? m->ncalls : VMRT_MAX_SERVICES;
    for (i = 0; i < n; i++)
        e->calls[i] = enc_str(m->calls[i], VMRT_NAME_MAX);
    e->man.n_calls = n;
    e->man.calls = e->calls;
    n = m->nnet_allow < VMRT_MAX_NET_ALLOW ? m->nnet_allow
                                           : VMRT_MAX_NET_ALLOW;
    for (i = 0; i < n; i++) {
        vmrt__ctl__net_allow__init(&e->net[i]);
        e->net[i].host = enc_str(m->net_allow[i].host,
                                 sizeof(m->net_allow[i].host));
        e->net[i].port = m->net_allow[i].port;
        e->net[i].proto = m->net_allow[i].proto;
        e->netp[i] = &e->net[i];
    }
    e->man.n_net_allow = n;
    e->man.net_allow = e->netp;
    e->man.restart = (uint32_t)m->restart;
    e->man.max_retries = m->max_retries;
    e->man.backoff_ms = m->backoff_ms;
    e->man.backoff_max_ms = m->backoff_max_ms;
    e->man.watchdog_ms = m->watchdog_ms;
    n = m->nargs < VMRT_MAX_ARGS ? m->nargs : VMRT_MAX_ARGS;
    for (i = 0; i < n; i++)
        e->args[i] = enc_str(m->args[i], sizeof(m->args[i]));
    e->man.n_args = n;
    e->man.args = e->args;
    e->man.ota_confirm = m->ota_confirm;
}

static int
man_from_pb(const pb_man_t *p, vmrt_manifest_t *m)
{
    size_t i;
    int rc = 0;

    memset(m, 0, sizeof(*m));
    if (p->n_grants > VMRT_MAX_GRANTS || p->n_provides > VMRT_MAX_SERVICES ||
        p->n_calls > VMRT_MAX_SERVICES ||
        p->n_net_allow > VMRT_MAX_NET_ALLOW || p->n_args > VMRT_MAX_ARGS ||
        p->priority > 255 || p->restart > 1 || p->affinity < -1)
        return PL_EMSGSIZE;
    rc |= cpy(m->name, sizeof(m->name), p->name);
    rc |= cpy(m->version, sizeof(m->version), p->version);
    rc |= cpy(m->module, sizeof(m->module), p->module);
    m->priority = (uint8_t)p->priority;
    m->slice_us = p->slice_us;
    m->memory_pages = p->memory_pages;
    m->storage_quota = p->storage_quota;
    m->affinity = p->affinity;
    for (i = 0; i < p->n_grants; i++) {
        rc |= cpy(m->grants[i].name, VMRT_NAME_MAX, p->grants[i]->name);
        m->grants[i].exclusive = p->grants[i]->exclusive;
    }
    m->ngrants = (uint32_t)p->n_grants;
    for (i = 0; i < p->n_provides; i++)
        rc |= cpy(m->provides[i], VMRT_NAME_MAX, p->provides[i]);
    m->nprovides = (uint32_t)p->n_provides;
    for (i = 0; i < p->n_calls; i++)
        rc |= cpy(m->calls[i], VMRT_NAME_MAX, p->calls[i]);
    m->ncalls = (uint32_t)p->n_calls;
    for (i = 0; i < p->n_net_allow; i++) {
        if (p->net_allow[i]->port > 65535 || p->net_allow[i]->proto > 1)
            return PL_EMSGSIZE;
        rc |= cpy(m->net_allow[i].host, sizeof(m->net_allow[i].host),
                  p->net_allow[i]->host);
        m->net_allow[i].port = (uint16_t)p->net_allow[i]->port;
        m->net_allow[i].proto = (uint8_t)p->net_allow[i]->proto;
    }
    m->nnet_allow = (uint32_t)p->n_net_allow;
    m->restart = p->restart ? VMRT_RESTART_ON_FAILURE : VMRT_RESTART_NEVER;
    m->max_retries = p->max_retries;
    m->backoff_ms = p->backoff_ms;
    m->backoff_max_ms = p->backoff_max_ms;
    m->watchdog_ms = p->watchdog_ms;
    for (i = 0; i < p->n_args; i++)
        rc |= cpy(m->args[i], sizeof(m->args[i]), p->args[i]);
    m->nargs = (uint32_t)p->n_args;
    m->ota_confirm = p->ota_confirm;
    /* cpy() returns 0 or PL_EMSGSIZE, so an OR of them is one of those. */
    return rc != 0 ? PL_EMSGSIZE : 0;
}

/*
 * frame: pack a message behind a 4-byte little-endian length.
 * Return: 0, PL_EMSGSIZE (over the largest frame), PL_ENOMEM.
 */
static int
frame(const ProtobufCMessage *msg, uint8_t **out, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf;

    *out = NULL;
    *len = 0;
    if (n > IPC_CTL_FRAME_BIG)
        return PL_EMSGSIZE;
    if ((buf = malloc(IPC_CTL_HDR + n)) == NULL)
        return PL_ENOMEM;
    buf[0] = (uint8_t)n;
    buf[1] = (uint8_t)(n >> 8);
    buf[2] = (uint8_t)(n >> 16);
    buf[3] = (uint8_t)(n >> 24);
    protobuf_c_message_pack(msg, buf + IPC_CTL_HDR);
    *out = buf;
    *len = IPC_CTL_HDR + n;
    return 0;
}

int
ipc_ctl_req_encode(const ipc_ctl_req_t *r, uint8_t **out, size_t *len)
{
    pb_req_t p = VMRT__CTL__REQUEST__INIT;
    man_enc_t *me = NULL;
    int rc;

    p.id = r->id;
    p.op = (Vmrt__Ctl__Op)r->op;
    p.name = enc_str(r->name, sizeof(r->name));
    if (r->has_manifest) {
        /* About 3 KiB of pointers: keep it off small device stacks. */
        if ((me = calloc(1, sizeof(*me))) == NULL)
            return PL_ENOMEM;
        man_to_pb(&r->manifest, me);
        p.manifest = &me->man;
    }
    p.data.data = r->data;
    p.data.len = r->len;
    p.path = enc_str(r->path, sizeof(r->path));
    p.want_bytes = r->want_bytes;
    p.seq = r->seq;
    p.max = r->max;
    p.device = enc_str(r->device, sizeof(r->device));
    p.action = enc_str(r->action, sizeof(r->action));
    p.n_args = r->nargs < 4 ? r->nargs : 4;
    p.args = (int64_t *)r->args;
    p.power = r->power;
    p.deadline_ms = r->deadline_ms;
    p.health_ms = r->health_ms;
    p.snapshot_before = r->snapshot_before;
    rc = frame(&p.base, out, len);
    free(me);
    return rc;
}

int
ipc_ctl_resp_encode(const ipc_ctl_resp_t *r, uint8_t **out, size_t *len)
{
    pb_resp_t p = VMRT__CTL__RESPONSE__INIT;
    Vmrt__Ctl__VmInfo *infos = NULL, **infop = NULL;
    Vmrt__Ctl__Event ev = VMRT__CTL__EVENT__INIT;
    uint32_t i;
    int rc;

    p.id = r->id;
    p.code = (Vmrt__Ctl__Code)r->code;
    p.message = enc_str(r->message, sizeof(r->message));
    if (r->nvms > 0) {
        infos = calloc(r->nvms, sizeof(*infos));
        infop = calloc(r->nvms, sizeof(*infop));
        if (infos == NULL || infop == NULL) {
            rc = PL_ENOMEM;
            goto out;
        }
        for (i = 0; i < r->nvms; i++) {
            const vmrt_vm_info_t *v = &r->vms[i];

            vmrt__ctl__vm_info__init(&infos[i]);
            infos[i].name = enc_str(v->name, sizeof(v->name));
            infos[i].version = enc_str(v->version, sizeof(v->version));
            infos[i].state = (char *)ipc_ctl_state_name((int)v->state);
            infos[i].priority = v->priority;
            infos[i].uptime_ms = v->uptime_ms;
            infos[i].memory_bytes = v->memory_bytes;
            infos[i].cpu_ms = v->cpu_ms;
            infos[i].restarts = v->restarts;
            infos[i].exit_code = v->exit_code;
            infos[i].last_error = enc_str(v->last_error,
                                          sizeof(v->last_error));
            infos[i].memory_pages = v->memory_pages;
            infos[i].storage_quota = v->storage_quota;
            infop[i] = &infos[i];
        }
        p.n_vms = r->nvms;
        p.vms = infop;
    }
    p.data.data = r->data;
    p.data.len = r->len;
    p.next_seq = r->next_seq;
    if (r->has_event) {
        ev.kind = (uint32_t)r->event.kind;
        ev.vm = enc_str(r->event.vm, sizeof(r->event.vm));
        ev.state = (char *)ipc_ctl_state_name((int)r->event.state);
        ev.detail = enc_str(r->event.detail, sizeof(r->event.detail));
        ev.time_ms = r->event.time_ms;
        p.event = &ev;
    }
    p.n_values = r->nvalues < 8 ? r->nvalues : 8;
    p.values = (int64_t *)r->values;
    rc = frame(&p.base, out, len);
out:
    free(infop);
    free(infos);
    return rc;
}

/* ---- decoding ---------------------------------------------------------- */

int
ipc_ctl_req_decode(const uint8_t *body, size_t len, ipc_ctl_req_t *r)
{
    pb_req_t *p;
    size_t i;
    int rc = 0;

    ipc_ctl_req_init(r);
    if (len > IPC_CTL_FRAME_BIG)
        return PL_EMSGSIZE;
    if ((p = vmrt__ctl__request__unpack(NULL, len, body)) == NULL)
        return PL_EIO;
    /* proto3 keeps unknown enum values: refuse them here, once. */
    if ((unsigned)p->op >= IPC_CTL_OP_MAX_ || p->n_args > 4) {
        rc = PL_EIO;
        goto out;
    }
    r->id = p->id;
    r->op = (ipc_ctl_op_t)p->op;
    if (cpy(r->name, sizeof(r->name), p->name) != 0 ||
        cpy(r->path, sizeof(r->path), p->path) != 0 ||
        cpy(r->device, sizeof(r->device), p->device) != 0 ||
        cpy(r->action, sizeof(r->action), p->action) != 0) {
        rc = PL_EMSGSIZE;
        goto out;
    }
    if (p->manifest != NULL) {
        if ((rc = man_from_pb(p->manifest, &r->manifest)) != 0)
            goto out;
        r->has_manifest = true;
    }
    r->want_bytes = p->want_bytes;
    r->seq = p->seq;
    r->max = p->max;
    for (i = 0; i < p->n_args; i++)
        r->args[i] = p->args[i];
    r->nargs = (uint32_t)p->n_args;
    r->power = p->power;
    r->deadline_ms = p->deadline_ms;
    r->health_ms = p->health_ms;
    r->snapshot_before = p->snapshot_before;
    rc = dup_bytes(&p->data, &r->data, &r->len);
out:
    vmrt__ctl__request__free_unpacked(p, NULL);
    if (rc != 0)
        ipc_ctl_req_free(r);
    return rc;
}

int
ipc_ctl_resp_decode(const uint8_t *body, size_t len, ipc_ctl_resp_t *r)
{
    pb_resp_t *p;
    size_t i;
    int rc = 0;

    ipc_ctl_resp_init(r);
    if (len > IPC_CTL_FRAME_BIG)
        return PL_EMSGSIZE;
    if ((p = vmrt__ctl__response__unpack(NULL, len, body)) == NULL)
        return PL_EIO;
    if (p->n_values > 8 || p->n_vms > UINT32_MAX / 2) {
        rc = PL_EMSGSIZE;
        goto out;
    }
    r->id = p->id;
    r->code = (int)p->code;
    if (cpy(r->message, sizeof(r->message), p->message) != 0) {
        /* A long message is still worth showing: cut it. */
        memcpy(r->message, p->message, sizeof(r->message) - 1);
        r->message[sizeof(r->message) - 1] = '\0';
    }
    if (p->n_vms > 0) {
        if ((r->vms = calloc(p->n_vms, sizeof(*r->vms))) == NULL) {
            rc = PL_ENOMEM;
            goto out;
        }
        for (i = 0; i < p->n_vms; i++) {
            const Vmrt__Ctl__VmInfo *s = p->vms[i];
            vmrt_vm_info_t *v = &r->vms[i];
            int st = state_parse(s->state);

            if (cpy(v->name, sizeof(v->name), s->name) != 0 ||
                cpy(v->version, sizeof(v->version), s->version) != 0 ||
                cpy(v->last_error, sizeof(v->last_error),
                    s->last_error) != 0 || st < 0 || s->priority > 255) {
                rc = PL_EMSGSIZE;
                goto out;
            }
            v->state = (vmrt_vm_state_t)st;
            v->priority = (uint8_t)s->priority;
            v->uptime_ms = s->uptime_ms;
            v->memory_bytes = s->memory_bytes;
            v->cpu_ms = s->cpu_ms;
            v->restarts = s->restarts;
            v->exit_code = s->exit_code;
            v->memory_pages = s->memory_pages;
            v->storage_quota = s->storage_quota;
        }
        r->nvms = (uint32_t)p->n_vms;
    }
    r->next_seq = p->next_seq;
    if (p->event != NULL) {
        int st = state_parse(p->event->state);

        if (cpy(r->event.vm, sizeof(r->event.vm), p->event->vm) != 0 ||
            cpy(r->event.detail, sizeof(r->event.detail),
                p->event->detail) != 0 || p->event->kind > VMRT_EV_SWAP) {
            rc = PL_EMSGSIZE;
            goto out;
        }
        r->event.kind = (vmrt_event_kind_t)p->event->kind;
        r->event.state = st < 0 ? VMRT_VM_CREATED : (vmrt_vm_state_t)st;
        r->event.time_ms = p->event->time_ms;
        r->has_event = true;
    }
    for (i = 0; i < p->n_values; i++)
        r->values[i] = p->values[i];
    r->nvalues = (uint32_t)p->n_values;
    rc = dup_bytes(&p->data, &r->data, &r->len);
out:
    vmrt__ctl__response__free_unpacked(p, NULL);
    if (rc != 0)
        ipc_ctl_resp_free(r);
    return rc;
}

/* ---- framing ----------------------------------------------------------- */

static size_t
hdr_len(const uint8_t *h)
{
    return (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 |
           (size_t)h[3] << 24;
}

int
ipc_ctl_frame_parse(const uint8_t *buf, size_t len, size_t max,
                    const uint8_t **body, size_t *blen, size_t *used)
{
    size_t n;

    *body = NULL;
    *blen = 0;
    *used = 0;
    if (len < IPC_CTL_HDR)
        return PL_EAGAIN;
    n = hdr_len(buf);
    if (n > max)
        return PL_EMSGSIZE;
    if (len - IPC_CTL_HDR < n)
        return PL_EAGAIN;
    *body = buf + IPC_CTL_HDR;
    *blen = n;
    *used = IPC_CTL_HDR + n;
    return 0;
}

void
ipc_ctl_reader_init(ipc_ctl_reader_t *rd)
{
    memset(rd, 0, sizeof(*rd));
}

void
ipc_ctl_reader_free(ipc_ctl_reader_t *rd)
{
    if (rd == NULL)
        return;
    free(rd->body);
    ipc_ctl_reader_init(rd);
}

int
ipc_ctl_reader_step(ipc_ctl_reader_t *rd, pl_socket_t s, size_t max,
                    uint8_t **body, size_t *blen)
{
    size_t n;
    int rc;

    *body = NULL;
    *blen = 0;
    for (;;) {
        if (!rd->in_body) {
            rc = pl_sock_recv(s, rd->hdr + rd->have, IPC_CTL_HDR - rd->have,
                              &n);
            if (rc == PL_EAGAIN || rc == PL_EINTR)
                return 0;
            if (rc != 0)
                return rc;
            if (n == 0)
                return PL_ECONNRESET;
            if ((rd->have += n) < IPC_CTL_HDR)
                continue;
            /* The limit is applied before a byte of body is allocated. */
            rd->blen = hdr_len(rd->hdr);
            if (rd->blen > max)
                return PL_EMSGSIZE;
            /* One spare byte so that an empty body is not malloc(0). */
            if ((rd->body = malloc(rd->blen + 1)) == NULL)
                return PL_ENOMEM;
            rd->have = 0;
            rd->in_body = true;
        }
        if (rd->have < rd->blen) {
            rc = pl_sock_recv(s, rd->body + rd->have, rd->blen - rd->have,
                              &n);
            if (rc == PL_EAGAIN || rc == PL_EINTR)
                return 0;
            if (rc != 0)
                return rc;
            if (n == 0)
                return PL_ECONNRESET;
            rd->have += n;
            if (rd->have < rd->blen)
                continue;
        }
        *body = rd->body;
        *blen = rd->blen;
        rd->body = NULL;
        rd->have = 0;
        rd->blen = 0;
        rd->in_body = false;
        return 1;
    }
}

int
ipc_ctl_write_all(pl_socket_t s, const uint8_t *buf, size_t len,
                  int timeout_ms)
{
    uint64_t deadline = timeout_ms < 0
                            ? 0
                            : pl_time_mono_ns() +
                                  (uint64_t)timeout_ms * 1000000u;
    size_t n;
    int rc;

    while (len > 0) {
        rc = pl_sock_send(s, buf, len, &n);
        if (rc == 0) {
            buf += n;
            len -= n;
            continue;
        }
        if (rc == PL_EINTR)
            continue;
        if (rc != PL_EAGAIN)
            return rc;
        {
            pl_pollfd_t pfd = { s, PL_POLLOUT, 0 };
            int wait = -1;

            if (deadline != 0) {
                uint64_t now = pl_time_mono_ns();

                if (now >= deadline)
                    return PL_ETIMEDOUT;
                wait = (int)((deadline - now) / 1000000u) + 1;
            }
            rc = pl_poll(&pfd, 1, wait);
            if (rc < 0 && rc != PL_EINTR)
                return rc;
        }
    }
    return 0;
}

int
ipc_ctl_frame_read(pl_socket_t s, size_t max, uint8_t **body, size_t *blen)
{
    ipc_ctl_reader_t rd;
    int rc;

    ipc_ctl_reader_init(&rd);
    /* On a blocking socket each step either completes or fails; a step
     * that returns 0 was interrupted and is simply repeated. */
    while ((rc = ipc_ctl_reader_step(&rd, s, max, body, blen)) == 0)
        ;
    ipc_ctl_reader_free(&rd);
    return rc == 1 ? 0 : rc;
}

/* ---- client ------------------------------------------------------------ */

int
ipc_ctl_connect(const char *path, pl_socket_t *s)
{
    return pl_unix_connect(path, s);
}

int
ipc_ctl_send(pl_socket_t s, const ipc_ctl_req_t *req)
{
    uint8_t *buf;
    size_t len;
    int rc;

    if ((rc = ipc_ctl_req_encode(req, &buf, &len)) != 0)
        return rc;
    rc = ipc_ctl_write_all(s, buf, len, -1);
    ipc_ctl_buf_free(buf);
    return rc;
}

int
ipc_ctl_recv(pl_socket_t s, ipc_ctl_resp_t *resp, size_t max)
{
    uint8_t *body;
    size_t blen;
    int rc;

    ipc_ctl_resp_init(resp);
    if ((rc = ipc_ctl_frame_read(s, max, &body, &blen)) != 0)
        return rc;
    rc = ipc_ctl_resp_decode(body, blen, resp);
    ipc_ctl_buf_free(body);
    return rc;
}

int
ipc_ctl_call(pl_socket_t s, const ipc_ctl_req_t *req, ipc_ctl_resp_t *resp,
             size_t max)
{
    int rc;

    ipc_ctl_resp_init(resp);
    if ((rc = ipc_ctl_send(s, req)) != 0)
        return rc;
    for (;;) {
        if ((rc = ipc_ctl_recv(s, resp, max)) != 0)
            return rc;
        if (!resp->has_event || resp->id == req->id)
            return 0;
        ipc_ctl_resp_free(resp);
    }
}
