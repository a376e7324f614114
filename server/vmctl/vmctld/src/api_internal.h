/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * api_internal: what api.c (routes, auth), api_json.c (documents) and
 * api_sse.c (the event stream) share.  Not for anybody else.
 */
#ifndef VMCTLD_API_INTERNAL_H
#define VMCTLD_API_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <threads.h>

#include <cjson/cJSON.h>

#include "api.h"
#include "config.h"
#include "ctld.h"
#include "http.h"

#define API_SSE_QUEUE 1024         /* events a client may fall behind */
#define API_SSE_KEEPALIVE_MS 15000 /* ": keepalive" when idle this long */

typedef struct api_sse_client api_sse_client_t; /* api_sse.c */

struct vmctld_api {
    ctld_t *core;
    vmctld_http_t *http;
    uint64_t max_body;
    uint64_t max_upload;
    char web_root[VMCTLD_CFG_PATH_MAX];

    mtx_t tok_lock;            /* guards tokens, ntokens */
    vmctld_token_t *tokens;    /* owned copy, each zero-padded */
    size_t ntokens;

    atomic_bool stopping;

    /* The event hub (api_sse.c), under sse_lock. */
    mtx_t sse_lock;
    api_sse_client_t *clients;
    size_t nclients;
    uint64_t seq;              /* last event id */
    bool sse_closed;           /* stopping: every stream ends */
};

/* ---- api_json.c: records to documents ---------------------------------- */

/* Each adds the record's fields to `o` (an object); NULL-safe on o. */
void api__json_device(cJSON *o, const vmctld_reg_device_t *d);
void api__json_vm(cJSON *o, const vmctld_reg_vm_t *vm);
/* GET /api/v1/fleet (docs/api.md). */
void api__json_fleet(cJSON *o, const ctld_fleet_t *f);
void api__json_command(cJSON *o, const ctld_command_t *c);
void api__json_package(cJSON *o, const vmctld_reg_package_t *p);
void api__json_snapshot(cJSON *o, const vmctld_reg_snapshot_t *s);
void api__json_rollout(cJSON *o, const ctld_rollout_t *r, bool devices);
void api__json_info(cJSON *o, const ctld_info_t *i);
/** @return the event's data line (malloc()ed, one line) or NULL. */
char *api__json_event(const ctld_event_t *ev);
/** @return "device", "command", "rollout" or "vm". */
const char *api__event_type_name(ctld_event_type_t t);

/* ---- api_sse.c: the event hub ------------------------------------------ */

/** The core's event sink: copy into every client's queue.  Core lock
 *  held; never blocks on anything but sse_lock. */
void api__sse_sink(void *arg, const ctld_event_t *ev);
/**
 * A new event stream for GET /api/v1/events, filled into resp.
 * @return 0, or -1 (out of memory; resp untouched).
 */
int api__sse_open(vmctld_api_t *api, vmctld_http_resp_t *resp);
/** End every stream now (stop); they return at once from their wait. */
void api__sse_close_all(vmctld_api_t *api);

#endif /* VMCTLD_API_INTERNAL_H */
