/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/*
 * api: vmctld's HTTP API (docs/api.md, docs/openapi.yaml) over the core
 * (ctld.h).  http.c is the only file that includes microhttpd.h; api.c
 * holds the routes, authentication and JSON.
 */
#ifndef VMCTLD_API_H
#define VMCTLD_API_H

#include <stddef.h>

#include "config.h"
#include "ctld.h"

typedef struct vmctld_api vmctld_api_t;

/**
 * Listen on cfg->http_listen (HTTPS when cert and key are set) and serve.
 * Registers itself as the core's event sink (for /api/v1/events).
 * @param core borrowed; must outlive the API.
 * @param cfg borrowed for the call (copied).
 * @return 0 and *out, or -1 with err filled ("http.listen: address in
 *         use").
 */
int vmctld_api_start(ctld_t *core, const vmctld_config_t *cfg,
                     vmctld_api_t **out, char *err, size_t errlen);

/**
 * Take the reloadable part of a new config (tokens) after SIGHUP.
 * @param cfg borrowed for the call (copied).
 * @return 0.
 */
int vmctld_api_reload(vmctld_api_t *api, const vmctld_config_t *cfg);

/** Close every connection (event streams included) and free.  NULL ok. */
void vmctld_api_stop(vmctld_api_t *api);

/** The port actually bound (useful with http.listen port 0). */
int vmctld_api_port(const vmctld_api_t *api);

#endif /* VMCTLD_API_H */
