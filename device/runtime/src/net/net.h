/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */
#ifndef VMRT_NET_H
#define VMRT_NET_H

/*
 * The network allowlist (allow.c), separate from the socket host
 * functions (net.c) so that it can be tested without a runtime.
 *
 * Rules (docs/vos-api.md, "Network"):
 * - connect / sendto to D (protocol P) is allowed if an entry of the
 *   manifest's net_allow has protocol P, port 0 or D's port, and a host
 *   that names D's address: numeric, or a name resolved now (every entry
 *   is resolved at each check, so a name follows DNS changes).
 * - bind / listen on port N (protocol P) is allowed if N is 0 and P is
 *   UDP (an ephemeral client port), or an entry of protocol P has port N
 *   or port 0, whatever its host.
 */

#include <stdint.h>

#include "pl/pl.h"
#include "vmrt/runtime.h"

#define VMRT__NET_TCP 0
#define VMRT__NET_UDP 1

/* @return 1 if `m` allows talking to `dst` with proto, else 0. */
int vmrt__net_allow_peer(const vmrt_manifest_t *m, int proto,
                         const pl_sockaddr_t *dst);

/* @return 1 if `m` allows binding `port` with proto, else 0. */
int vmrt__net_allow_bind(const vmrt_manifest_t *m, int proto, uint16_t port);

#endif /* VMRT_NET_H */
