#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 38-ota-tls: MQTT over TLS with client certificates.  A throwaway CA
# (openssl CLI) signs a server certificate for 127.0.0.1 (subjectAltName
# IP:127.0.0.1) and client certificates for the device and the sender;
# mosquitto listens with TLS and `require_certificate true`.  With the
# "ota" "tls" section (ca, cert, key) the device comes online and an
# update of b succeeds over TLS.  Then the same device configured without
# a client certificate, and with a client certificate from another CA,
# never comes online, and vmrt-ota logs the TLS failure.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

command -v openssl >/dev/null || {
    echo "$(basename "$0"): openssl is not installed" \
        "(bash -c '. scripts/lib/deps.sh; vmf_deps mqtt')" >&2
    exit 1
}

tls=$work/tls
rm -rf "$tls"
mkdir -p "$tls"

# new_ca NAME: a self-signed CA, $tls/NAME.{key,crt}.
new_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tls/$1.key" -out "$tls/$1.crt" -days 2 \
        -subj "/CN=vmfleet test $1" 2>>"$tls/openssl.log"
}

# new_cert CA NAME CN [EXTFILE]: $tls/NAME.{key,crt} signed by CA.
new_cert() {
    local ca=$1 name=$2 cn=$3 ext=${4:-}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tls/$name.key" -out "$tls/$name.csr" -subj "/CN=$cn" \
        2>>"$tls/openssl.log" &&
        openssl x509 -req -in "$tls/$name.csr" -CA "$tls/$ca.crt" \
            -CAkey "$tls/$ca.key" -CAcreateserial -out "$tls/$name.crt" \
            -days 2 ${ext:+-extfile "$ext"} 2>>"$tls/openssl.log"
}

say "throwaway CAs and certificates"
printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n' \
    >"$tls/server.ext"
printf 'extendedKeyUsage = clientAuth\n' >"$tls/client.ext"
{ new_ca ca && new_ca rogue &&
    new_cert ca server 127.0.0.1 "$tls/server.ext" &&
    new_cert ca device "$dev" "$tls/client.ext" &&
    new_cert ca sender fleet-send "$tls/client.ext" &&
    new_cert rogue intruder "$dev" "$tls/client.ext"; } && ok ||
    { fail "openssl: $(tail -5 "$tls/openssl.log")"; finish; }
openssl verify -CAfile "$tls/ca.crt" "$tls/server.crt" >/dev/null && ok ||
    fail "server certificate does not verify"
openssl verify -CAfile "$tls/ca.crt" "$tls/intruder.crt" >/dev/null 2>&1 &&
    fail "the rogue CA's certificate verifies against ours" || ok

broker_tls="cafile $tls/ca.crt
certfile $tls/server.crt
keyfile $tls/server.key
require_certificate true"
fs_tls="--ca $tls/ca.crt --cert $tls/sender.crt --key $tls/sender.key"

say "device with its client certificate"
ota_setup '"tls": { "ca": "'"$tls"'/ca.crt", "cert": "'"$tls"'/device.crt",
             "key": "'"$tls"'/device.key" },' ||
    { fail "setup: the device did not come online over TLS"; finish; }
case "$broker" in
ssl://*) ok ;;
*) fail "broker URI $broker is not ssl://" ;;
esac
grep -q "mqtt: connected to ssl://" "$work/daemon.log" && ok ||
    fail "vmrt-ota did not log a connection to ssl://"

# The sender, too, is refused without a certificate of our CA.
"$fleet_send" --broker "$broker" --device "$dev" --timeout 5 \
    --ca "$tls/ca.crt" state >"$work/sender-nocert.out" 2>&1 &&
    fail "a sender without a client certificate got the state" || ok

pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b.vpk" ||
    { fail "pack"; finish; }
say "update b over TLS"
fs --timeout 120 update --vm b --vpk "$work/b.vpk" --health-ms 300 \
    >"$work/update.out" 2>&1
rc=$?
cat "$work/update.out"
[ "$rc" -eq 0 ] && ok || fail "update over TLS: exit $rc"
grep -q '^result OK' "$work/update.out" && ok || fail "no final OK"
[ "$(vm_field b version)" = 1.1.0 ] && ok ||
    fail "b version $(vm_field b version), want 1.1.0"
ticking b && ok || fail "b does not tick after the update"
daemon_stop || fail "daemon stop"

# tls_failed FROM: vmrt-ota's log after line FROM shows a failed connect
# to the ssl:// broker (Paho says "TCP/TLS connect failure" or, when the
# server ends the handshake, "TCP connect completion failure"; OpenSSL's
# own reason, "mqtt: tls: ...", when the client side rejects).  That it
# is the TLS layer is pinned by mosquitto's log, checked next.
tls_failed() {
    tail -n +"$(($1 + 1))" "$work/daemon.log" |
        grep -q "^mqtt: connect to ssl://.* failed: \|^mqtt: tls: "
}

# refused NAME REASON OTA-TLS-JSON: the device, under its own id,
# configured with OTA-TLS-JSON, must not come online within 8 s;
# vmrt-ota must log a TLS failure, and mosquitto the OpenSSL REASON.
refused() {
    local name=$1 reason=$2 json=$3 log mlog
    say "device $name: must stay offline"
    dev=itest-38-$name
    write_config "$json"
    log=$(wc -l <"$work/daemon.log")
    mlog=$(wc -l <"$work/mosquitto.log")
    daemon_start --config "$work/device.json" ||
        { fail "$name: daemon start"; return; }
    wait_state a running || fail "$name: a not running"
    fs state --online --timeout 8 >"$work/$name.out" 2>&1 &&
        fail "$name: the device came online: $(cat "$work/$name.out")" ||
        ok
    poll 10 tls_failed "$log" && ok ||
        fail "$name: no TLS failure in vmrt-ota's log"
    tail -n +"$((log + 1))" "$work/daemon.log" | grep "^mqtt: " | head -3
    tail -n +"$((mlog + 1))" "$work/mosquitto.log" | grep -q "$reason" &&
        ok || fail "$name: mosquitto did not log '$reason'"
    tail -n +"$((log + 1))" "$work/daemon.log" |
        grep -q "^ota: mqtt: connected" &&
        fail "$name: vmrt-ota logged a connection" || ok
    [ -n "$(ota_pids)" ] && ok ||
        fail "$name: vmrt-ota is not running (it should keep retrying)"
    daemon_stop || fail "$name: daemon stop"
}

refused nocert "peer did not return a certificate" \
    '"tls": { "ca": "'"$tls"'/ca.crt" },'
refused rogue "certificate verify failed" '"tls": { "ca": "'"$tls"'/ca.crt",
         "cert": "'"$tls"'/intruder.crt", "key": "'"$tls"'/intruder.key" },'

ota_finish
