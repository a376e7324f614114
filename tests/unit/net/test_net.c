/* SPDX-License-Identifier: Apache-2.0 */
/* Copyright (c) 2026 the vmfleet authors */

/* The network allowlist: which peers and ports a manifest lets a VM use. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/net.h"

static void
allow(vmrt_manifest_t *m, const char *host, uint16_t port, uint8_t proto)
{
    uint32_t i = m->nnet_allow++;

    strncpy(m->net_allow[i].host, host, sizeof(m->net_allow[i].host) - 1);
    m->net_allow[i].port = port;
    m->net_allow[i].proto = proto;
}

static int
peer_ok(const vmrt_manifest_t *m, int proto, const char *addr)
{
    pl_sockaddr_t a;

    assert_int_equal(pl_sockaddr_parse(&a, addr), 0);
    return vmrt__net_allow_peer(m, proto, &a);
}

static void
test_net_allow_peer_matches_host_port_and_proto(void **state)
{
    vmrt_manifest_t m;

    (void)state;
    memset(&m, 0, sizeof(m));
    allow(&m, "127.0.0.1", 1883, VMRT__NET_TCP);
    assert_true(peer_ok(&m, VMRT__NET_TCP, "127.0.0.1:1883"));
    assert_false(peer_ok(&m, VMRT__NET_TCP, "127.0.0.1:1884"));
    assert_false(peer_ok(&m, VMRT__NET_TCP, "127.0.0.2:1883"));
    assert_false(peer_ok(&m, VMRT__NET_UDP, "127.0.0.1:1883"));
}

static void
test_net_allow_peer_port_zero_is_any_port(void **state)
{
    vmrt_manifest_t m;

    (void)state;
    memset(&m, 0, sizeof(m));
    allow(&m, "10.1.2.3", 0, VMRT__NET_UDP);
    assert_true(peer_ok(&m, VMRT__NET_UDP, "10.1.2.3:53"));
    assert_true(peer_ok(&m, VMRT__NET_UDP, "10.1.2.3:9999"));
    assert_false(peer_ok(&m, VMRT__NET_UDP, "10.1.2.4:53"));
}

static void
test_net_allow_peer_resolves_names_and_ipv6(void **state)
{
    vmrt_manifest_t m;

    (void)state;
    memset(&m, 0, sizeof(m));
    allow(&m, "localhost", 8080, VMRT__NET_TCP);
    allow(&m, "::1", 8081, VMRT__NET_TCP);
    assert_true(peer_ok(&m, VMRT__NET_TCP, "127.0.0.1:8080"));
    assert_true(peer_ok(&m, VMRT__NET_TCP, "[::1]:8081"));
    assert_false(peer_ok(&m, VMRT__NET_TCP, "[::1]:8080"));
}

static void
test_net_allow_peer_empty_list_refuses_everything(void **state)
{
    vmrt_manifest_t m;

    (void)state;
    memset(&m, 0, sizeof(m));
    assert_false(peer_ok(&m, VMRT__NET_TCP, "127.0.0.1:80"));
    allow(&m, "no-such-host.invalid", 0, VMRT__NET_TCP);
    assert_false(peer_ok(&m, VMRT__NET_TCP, "127.0.0.1:80"));
}

static void
test_net_allow_bind_only_listed_ports(void **state)
{
    vmrt_manifest_t m;

    (void)state;
    memset(&m, 0, sizeof(m));
    assert_true(vmrt__net_allow_bind(&m, VMRT__NET_UDP, 0));
    assert_false(vmrt__net_allow_bind(&m, VMRT__NET_TCP, 0));
    assert_false(vmrt__net_allow_bind(&m, VMRT__NET_TCP, 8080));
    allow(&m, "0.0.0.0", 8080, VMRT__NET_TCP);
    assert_true(vmrt__net_allow_bind(&m, VMRT__NET_TCP, 8080));
    assert_false(vmrt__net_allow_bind(&m, VMRT__NET_TCP, 8081));
    assert_false(vmrt__net_allow_bind(&m, VMRT__NET_UDP, 8080));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_allow_peer_matches_host_port_and_proto),
        cmocka_unit_test(test_net_allow_peer_port_zero_is_any_port),
        cmocka_unit_test(test_net_allow_peer_resolves_names_and_ipv6),
        cmocka_unit_test(test_net_allow_peer_empty_list_refuses_everything),
        cmocka_unit_test(test_net_allow_bind_only_listed_ports),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
