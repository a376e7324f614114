/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* The network allowlist matcher (rules in net.h). */

#include <stdio.h>
#include <string.h>

#include "net/net.h"

/*
 * host_of: format `a` and cut the ":port", leaving "1.2.3.4" or "[::1]",
 * so that two addresses compare by text whatever their ports.
 * Return: 0, or -1 if `a` cannot be formatted.
 */
static int
host_of(const pl_sockaddr_t *a, char buf[PL_SOCKADDR_STRLEN])
{
    char *colon;

    if (pl_sockaddr_format(a, buf, PL_SOCKADDR_STRLEN) != 0)
        return -1;
    if ((colon = strrchr(buf, ':')) == NULL)
        return -1;
    *colon = '\0';
    return 0;
}

/*
 * entry_addr: resolve an allowlist host.  IPv6 literals are written
 * without brackets in manifests; the parser wants them.
 * Return: 0 or -1 (malformed, or the name does not resolve).
 */
static int
entry_addr(const char *host, pl_sockaddr_t *a)
{
    char buf[96];
    int n;

    if (strchr(host, ':') != NULL && host[0] != '[')
        n = snprintf(buf, sizeof(buf), "[%s]:1", host);
    else
        n = snprintf(buf, sizeof(buf), "%s:1", host);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -1;
    return pl_sockaddr_parse(a, buf) == 0 ? 0 : -1;
}

int
vmrt__net_allow_peer(const vmrt_manifest_t *m, int proto,
                     const pl_sockaddr_t *dst)
{
    char want[PL_SOCKADDR_STRLEN], have[PL_SOCKADDR_STRLEN];
    uint16_t port = pl_sockaddr_port(dst);
    pl_sockaddr_t a;
    uint32_t i;

    if (m == NULL || dst == NULL || host_of(dst, want) != 0)
        return 0;
    for (i = 0; i < m->nnet_allow && i < VMRT_MAX_NET_ALLOW; i++) {
        if (m->net_allow[i].proto != proto)
            continue;
        if (m->net_allow[i].port != 0 && m->net_allow[i].port != port)
            continue;
        if (entry_addr(m->net_allow[i].host, &a) != 0 ||
            host_of(&a, have) != 0)
            continue;
        if (strcmp(want, have) == 0)
            return 1;
    }
    return 0;
}

int
vmrt__net_allow_bind(const vmrt_manifest_t *m, int proto, uint16_t port)
{
    uint32_t i;

    if (m == NULL)
        return 0;
    if (port == 0 && proto == VMRT__NET_UDP)
        return 1;
    for (i = 0; i < m->nnet_allow && i < VMRT_MAX_NET_ALLOW; i++)
        if (m->net_allow[i].proto == proto &&
            (m->net_allow[i].port == 0 || m->net_allow[i].port == port))
            return 1;
    return 0;
}
