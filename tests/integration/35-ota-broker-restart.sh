#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 35-ota-broker-restart: mosquitto restarts in the middle of a transfer
# (stopped at 30-50% progress, started again 2 s later on the same port,
# with no persistence: every session is gone).  vmrt-ota and the sender
# reconnect and subscribe again, the device asks again for what it is
# missing, and the update completes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

ota_setup || { fail "setup"; finish; }
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b.vpk" ||
    { fail "pack"; finish; }
size=$(stat -c %s "$work/b.vpk")
cs=2048
n=$(((size + cs - 1) / cs))
throttle=$((5000 / n))

say "update b ($n chunks, $throttle ms each); restart the broker at 30%"
fs_bg "$work/update.out" --timeout 180 update --vm b --vpk "$work/b.vpk" \
    --chunk-size "$cs" --throttle-ms "$throttle" --health-ms 500
poll 60 progress_at_least "$work/update.out" 30 && ok ||
    fail "no progress >= 30% seen: $(tail -3 "$work/update.out")"
grep -q '^result' "$work/update.out" &&
    fail "the update finished before the broker restart"
echo "stopping the broker at $(grep '^event progress' "$work/update.out" | tail -1)"
broker_stop
sleep 2
broker_start && ok || { fail "broker restart on port $port"; finish; }
echo "broker back on port $port"

wait "$fs_pid"
rc=$?
cat "$work/update.out"
[ "$rc" -eq 0 ] && ok || fail "update across the broker restart: exit $rc"
grep -q '^result OK' "$work/update.out" && ok || fail "no final OK"
[ "$(grep -c '^ota: mqtt: connected' "$work/daemon.log")" -ge 2 ] && ok ||
    fail "vmrt-ota did not log a reconnect"
echo "FIGURE ota_broker_restart_served_chunks=$(served_count "$work/update.out") of $n"
[ "$(vm_field b version)" = 1.1.0 ] && ok ||
    fail "b version $(vm_field b version), want 1.1.0"
ticking b && ok || fail "b does not tick"
fs state --online --timeout 30 >"$work/state.out" 2>&1 && ok ||
    fail "device not online after the broker restart: $(cat "$work/state.out")"
grep -q 'state: vm=b version=1.1.0' "$work/state.out" && ok ||
    fail "state does not show b 1.1.0: $(cat "$work/state.out")"

ota_finish
