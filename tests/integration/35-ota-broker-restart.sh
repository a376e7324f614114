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

slow_update_setup 5000 || finish

say "update b ($n chunks, $throttle ms each); restart the broker at 30%"
slow_update_until 30
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
