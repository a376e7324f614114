/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * MQTT glue: the client's callbacks only decode and enqueue (the worker
 * does the rest); publishing helpers for results, events, chunk requests
 * and the retained /state.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ota_internal.h"
#include "ota_util.h"

void
ota__on_msg(void *arg, const vmf_mqtt_msg_t *m)
{
    ota_t *o = arg;
    ota_item_t *it;
    int rc = 0;

    if ((it = calloc(1, sizeof(*it))) == NULL) {
        ota__log("mqtt: out of memory; message on %s dropped", m->topic);
        return;
    }
    vmf_chunk_init(&it->chunk);
    vmf_chunk_req_init(&it->req);
    if (strcmp(m->topic, o->t_cmd) == 0) {
        it->kind = OTA_ITEM_CMD;
        if (m->len > VMF_MSG_MAX ||
            (it->payload = malloc(m->len ? m->len : 1)) == NULL) {
            ota__log("mqtt: command of %zu bytes dropped", m->len);
            ota__item_free(it);
            return;
        }
        if (m->len > 0)
            memcpy(it->payload, m->payload, m->len);
        it->len = m->len;
        if (m->corr != NULL && m->corr_len <= sizeof(it->corr)) {
            memcpy(it->corr, m->corr, m->corr_len);
            it->corr_len = m->corr_len;
        }
        if (m->response_topic != NULL)
            ota__strlcpy(it->resp_topic, m->response_topic,
                         sizeof(it->resp_topic));
    } else if (strcmp(m->topic, o->t_data) == 0) {
        it->kind = OTA_ITEM_CHUNK;
        rc = vmf_chunk_decode(m->payload, m->len, &it->chunk);
    } else if (strcmp(m->topic, o->t_upreq) == 0) {
        it->kind = OTA_ITEM_UPREQ;
        rc = vmf_chunk_req_decode(m->payload, m->len, &it->req);
    } else {
        ota__debug("mqtt: ignoring a message on %s", m->topic);
        ota__item_free(it);
        return;
    }
    if (rc != 0) {
        ota__log("mqtt: undecodable message on %s (%d); dropped", m->topic,
                 rc);
        ota__item_free(it);
        return;
    }
    ota__enqueue(o, it);
}

void
ota__on_conn(void *arg, bool connected, const char *why)
{
    ota_t *o = arg;
    bool resumed;

    if (!connected) {
        ota__log("mqtt: connection lost (%s); reconnecting",
                 why ? why : "?");
        return;
    }
    resumed = vmf_mqtt_session_resumed(o->mqtt);
    ota__log("mqtt: connected to %s as %s%s", o->cfg.broker, o->cfg.device,
             resumed ? " (session resumed)" : "");
    pl_mutex_lock(&o->lock);
    o->rerequest = true;
    o->resumed = resumed;
    o->state_dirty = true;
    pl_cond_broadcast(&o->cond);
    pl_mutex_unlock(&o->lock);
}

void
ota__state_dirty(ota_t *o)
{
    pl_mutex_lock(&o->lock);
    o->state_dirty = true;
    pl_mutex_unlock(&o->lock);
}

static int
publish(ota_t *o, const char *topic, const uint8_t *buf, size_t len,
        const uint8_t *corr, size_t corr_len, bool retain, int qos)
{
    vmf_mqtt_msg_t m;
    int rc;

    memset(&m, 0, sizeof(m));
    m.topic = topic;
    m.payload = buf;
    m.len = len;
    m.qos = qos;
    m.retain = retain;
    m.corr = corr_len > 0 ? corr : NULL;
    m.corr_len = corr_len;
    if ((rc = vmf_mqtt_publish(o->mqtt, &m)) != 0)
        ota__log("mqtt: publish on %s: %s", topic, vmf_mqtt_strerror(rc));
    return rc;
}

int
ota__publish_raw(ota_t *o, const char *topic, const uint8_t *buf,
                 size_t len, const uint8_t *corr, size_t corr_len,
                 bool retain)
{
    return publish(o, topic, buf, len, corr, corr_len, retain, 1);
}

void
ota__publish_event(ota_t *o, vmf_event_t *ev)
{
    uint8_t *buf;
    size_t len;

    ev->time_ms = ota__real_ms();
    if (vmf_event_encode(ev, &buf, &len) != 0) {
        ota__log("event %s for %s: cannot encode", vmf_event_name(ev->kind),
                 ev->vm);
        return;
    }
    ota__publish_raw(o, o->t_event, buf, len, (const uint8_t *)ev->cmd_id,
                     strlen(ev->cmd_id), false);
    free(buf);
}

int
ota__send_req(void *arg, const char *xfer_id, uint32_t first,
              uint32_t count)
{
    ota_t *o = arg;
    vmf_chunk_req_t q;
    uint8_t *buf;
    size_t len;
    int rc;

    vmf_chunk_req_init(&q);
    ota__strlcpy(q.xfer_id, xfer_id, sizeof(q.xfer_id));
    q.first = first;
    q.count = count;
    if ((rc = vmf_chunk_req_encode(&q, &buf, &len)) != 0)
        return rc;
    ota__debug("transfer %s: asking for chunks %u..%u", xfer_id,
               (unsigned)first, (unsigned)(first + count - 1));
    /* QoS 0: a request is idempotent and asked again on its timeout
     * (ota_xfer.c), so a PUBACK buys nothing; and as QoS 1 requests
     * would fill the client's in-flight window while their PUBACKs queue
     * behind the chunks on a slow downlink, holding up this device's
     * State and Results (docs/protocol.md, "MQTT rules"). */
    rc = publish(o, o->t_req, buf, len, NULL, 0, false, 0);
    free(buf);
    return rc;
}

/* Fill one VM's status from vmrt's info. */
static void
vm_status(vmf_vm_status_t *s, const vmrt_vm_info_t *i)
{
    memset(s, 0, sizeof(*s));
    ota__strlcpy(s->name, i->name, sizeof(s->name));
    ota__strlcpy(s->version, i->version, sizeof(s->version));
    ota__strlcpy(s->state, ipc_ctl_state_name((int)i->state),
                 sizeof(s->state));
    s->priority = i->priority;
    s->memory_bytes = i->memory_bytes;
    s->cpu_ms = i->cpu_ms;
    s->uptime_ms = i->uptime_ms;
    s->restarts = i->restarts;
    ota__strlcpy(s->last_error, i->last_error, sizeof(s->last_error));
}

int
ota__publish_state(ota_t *o, bool online)
{
    vmf_vm_status_t *vms = NULL;
    ipc_ctl_req_t q;
    ipc_ctl_resp_t r;
    vmf_state_t st;
    uint8_t *buf;
    size_t len;
    uint32_t i;
    int rc;

    vmf_state_init(&st);
    ota__strlcpy(st.device, o->cfg.device, sizeof(st.device));
    st.online = online;
    ota__strlcpy(st.runtime_version, VMF_VERSION, sizeof(st.runtime_version));
    ota__strlcpy(st.ota_version, VMF_VERSION, sizeof(st.ota_version));
    memcpy(st.labels, o->cfg.labels, sizeof(st.labels));
    st.nlabels = o->cfg.nlabels;
    st.time_ms = ota__real_ms();
    st.boot_id = o->boot_id;
    ipc_ctl_resp_init(&r);
    if (online) {
        ipc_ctl_req_init(&q);
        q.op = IPC_CTL_OP_LIST;
        if (ota__ctl(o, &q, &r, IPC_CTL_FRAME_BIG) == 0 &&
            r.code == IPC_CTL_OK && r.nvms > 0) {
            uint32_t n = r.nvms < VMF_STATE_VMS_MAX ? r.nvms
                                                    : VMF_STATE_VMS_MAX;

            if ((vms = calloc(n, sizeof(*vms))) != NULL) {
                for (i = 0; i < n; i++)
                    vm_status(&vms[i], &r.vms[i]);
                st.vms = vms;
                st.nvms = n;
            }
        }
    }
    rc = vmf_state_encode(&st, &buf, &len);
    ipc_ctl_resp_free(&r);
    free(vms);
    if (rc != 0) {
        ota__log("state: cannot encode (%d)", rc);
        return rc;
    }
    rc = ota__publish_raw(o, o->t_state, buf, len, NULL, 0, true);
    if (rc == 0)
        ota__debug("state published (%s, %u VMs)",
                   online ? "online" : "offline", (unsigned)st.nvms);
    free(buf);
    return rc;
}
