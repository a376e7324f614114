#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 34-ota-kill-vmrt: a kill -9 of vmrt during an update's health window
# (3 s).  After vmrt starts again exactly one image of b runs: 1.0.0
# (rolled back, since vmrt restarted inside the window) or 1.1.0; b is
# running, its log since the restart shows ticks of that version only,
# no swap leftovers remain, and the result the sender got (from the
# restarted vmrt-ota, which resumes the command) agrees with it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

ota_setup || { fail "setup"; finish; }
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b.vpk" ||
    { fail "pack"; finish; }

say "update b with a 3 s health window; kill -9 vmrt inside it"
fs_bg "$work/update.out" --timeout 180 update --vm b --vpk "$work/b.vpk" \
    --health-ms 3000
swapped() {
    ctl logs b 2>/dev/null | grep >/dev/null 'downtime_us=.* version=1.1.0'
}
poll 60 swapped && ok || fail "b never started 1.1.0"
grep -q '^result' "$work/update.out" &&
    fail "the update finished before the kill"
opids=$(ota_pids)
kill -KILL "$dpid" && ok || fail "kill -9 vmrt"
wait "$dpid" 2>/dev/null
dpid=""
# --supervised vmrt-ota exits by itself when its parent is gone; make
# sure of it, so that no orphan holds the MQTT client id.
gone() { [ -z "$(ota_pids)" ]; }
if ! poll 5 gone; then
    echo "vmrt-ota survived its parent; killing $(ota_pids)"
    for p in $(ota_pids); do kill -KILL "$p" 2>/dev/null; done
fi
echo "killed vmrt (and vmrt-ota $opids)"

say "vmrt again"
rm -f "$sock" # stale: daemon_start waits for the socket to appear
daemon_start --config "$work/device.json" || { fail "daemon restart"; finish; }
wait_state b running && ok || fail "b not running after the restart"
ver=$(vm_field b version)
echo "b runs version $ver after the restart"
case "$ver" in
1.0.0 | 1.1.0) ok ;;
*) fail "b version '$ver', want 1.0.0 or 1.1.0" ;;
esac
n=$(ctl --json list | python3 -c '
import json, sys
print(sum(1 for v in json.load(sys.stdin) if v["name"] == "b"))')
[ "$n" = 1 ] && ok || fail "$n VMs named b"
img=$wasm/ota_tick.wasm
[ "$ver" = 1.1.0 ] && img=$wasm/ota_tick_v110.wasm
# Both builds have the same size but differ in their version string.
cmp -s "$state/vms/b/module.wasm" "$img" && ok ||
    fail "b's module.wasm is not the $ver image"
ticking b && ok || fail "b does not tick after the restart"
other=1.1.0
[ "$ver" = 1.1.0 ] && other=1.0.0
ctl logs b | grep >/dev/null "version=$ver" && ok || fail "no ticks of $ver"
ctl logs b | grep >/dev/null "version=$other" &&
    fail "b's log since the restart has ticks of $other" || ok
poll 15 eval '[ -z "$(ctl swap-status b | grep "^health")" ]' && ok ||
    fail "swap still open: $(ctl swap-status b)"
[ ! -e "$state/vms/b/swap.json" ] && [ ! -e "$state/vms/b/module.prev.wasm" ] &&
    ok || fail "swap leftovers in $state/vms/b"
[ "$(vm_field a state)" = running ] && ok || fail "a not running"

say "the sender's result (from the restarted vmrt-ota)"
wait "$fs_pid"
rc=$?
cat "$work/update.out"
want=OK
[ "$ver" = 1.0.0 ] && want=E_ROLLED_BACK
grep -q "^result $want" "$work/update.out" && ok ||
    fail "result does not match version $ver (want $want; exit $rc)"

ota_finish
