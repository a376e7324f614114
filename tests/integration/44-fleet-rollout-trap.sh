#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 44-fleet-rollout-trap: a rollout whose new version traps at start.  b
# 1.1.0 is ota_trap (it traps right after it starts); `vmctl update --all
# b b-trap.vpk --canary 1 --max-failures 0 --wait` over devices A and B:
# the canary device rolls b back inside its health window (its row
# failed with E_ROLLED_BACK; b on 1.0.0 and running, ticking again), the
# rollout pauses by itself with the reason "failure threshold", the other
# device was never sent the update (b still 1.0.0, its row waiting, no
# command for it), and vmctl exits 1 saying so.  `vmctl rollout abort`
# then ends the rollout (aborted), still without touching the other
# device; aborting it again is a conflict (exit 1, E_CONFLICT).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"
. "$(dirname "$0")/fleet-lib.sh"

fleet_setup || { fail "setup"; finish; }
say "devices A and B"
fdevice_start A '{"site": "a"}' || { fail "device A"; fleet_finish; }
fdevice_start B '{"site": "b"}' || { fail "device B"; fleet_finish; }
pack b 1.1.0 "$wasm/ota_trap.wasm" "$work/b-trap.vpk" ||
    { fail "pack"; fleet_finish; }

say "vmctl update --all b b-trap.vpk --canary 1 --max-failures 0 --wait"
vc --timeout 120 update --all b "$work/b-trap.vpk" --canary 1 \
    --max-failures 0 --health-window 2000 --wait >"$work/update.out" \
    2>"$work/update.err"
rc=$?
cat "$work/update.out" "$work/update.err"
[ "$rc" -eq 1 ] && ok || fail "update --wait: exit $rc, want 1"
grep -q "paused at its failure threshold: 0 succeeded, 1 failed of 2" \
    "$work/update.err" && ok || fail "vmctl did not report the pause"
ro=$(sed -n 's/^rollout \([^ ]*\) created.*/\1/p' "$work/update.err" |
    head -1)
[ -n "$ro" ] && ok || fail "no rollout id in vmctl's output"

vc --json rollout show "$ro" >"$work/show.out" 2>&1 && ok ||
    fail "rollout show: $(cat "$work/show.out")"
state=$(jq_py 'd["state"] + "/" + d["pause_reason"]' <"$work/show.out")
[ "$state" = "paused/failure threshold" ] && ok ||
    fail "rollout state '$state', want 'paused/failure threshold'"
canary=$(jq_py '[x["device"] for x in d["devices"] if x["batch"] == 0][0]' \
    <"$work/show.out")
case $canary in
A) other=B ;;
B) other=A ;;
*) fail "no canary row: $(cat "$work/show.out")"; fleet_finish ;;
esac
echo "canary $canary, other $other"
[ "$(rollout_dev "$ro" "$canary" state)/$(rollout_dev "$ro" "$canary" code)" \
    = failed/E_ROLLED_BACK ] && ok ||
    fail "canary row: $(rollout_dev "$ro" "$canary" state)" \
        "$(rollout_dev "$ro" "$canary" code), want failed E_ROLLED_BACK"
[ "$(rollout_dev "$ro" "$other" state)" = waiting ] && ok ||
    fail "other row: $(rollout_dev "$ro" "$other" state), want waiting"
counts=$(jq_py '("%(total)d %(succeeded)d %(failed)d %(waiting)d" %
    d["counts"])' <"$work/show.out")
[ "$counts" = "2 0 1 1" ] && ok ||
    fail "counts (total succeeded failed waiting) '$counts', want '2 0 1 1'"

# The canary rolled back: b on 1.0.0, running, ticking; the trap ran.
fwait_state "$canary" b running && ok ||
    fail "canary's b is $(fvm_field "$canary" b state), want running"
[ "$(fvm_field "$canary" b version)" = 1.0.0 ] && ok ||
    fail "canary's b is at $(fvm_field "$canary" b version), want 1.0.0"
fticking "$canary" b && ok || fail "canary's b does not tick after rollback"
grep -q "event crash: vm b .*trap" "$(fdir "$canary")/daemon.log" && ok ||
    fail "the trapping image never ran on the canary"
grep -q "event swap: vm b .*rolled back to 1.0.0" \
    "$(fdir "$canary")/daemon.log" && ok ||
    fail "the canary's log does not show the rollback to 1.0.0"
[ "$(fvm_field "$canary" a restarts)" = 0 ] && ok ||
    fail "canary's a restarted"

# check_other: the other device never got the update.
check_other() {
    [ "$(fvm_field "$other" b version)" = 1.0.0 ] &&
        [ "$(fvm_field "$other" b restarts)" = 0 ] && ok ||
        fail "$other's b: $(fvm_field "$other" b version)," \
            "$(fvm_field "$other" b restarts) restarts; want 1.0.0, 0"
    n=$(vc --json commands --device "$other" | jq_py 'len(d["commands"])')
    [ "$n" = 0 ] && ok || fail "vmctld sent $other $n commands, want none"
    ! grep -q "vm b .*trap\|update b" "$(fdir "$other")/daemon.log" && ok ||
        fail "$other's log shows an update of b"
}
check_other

say "vmctl rollout abort $ro"
vc rollout abort "$ro" >"$work/abort.out" 2>&1
rc=$?
cat "$work/abort.out"
[ "$rc" -eq 0 ] && ok || fail "rollout abort: exit $rc"
[ "$(rollout_field "$ro" 'd["state"]')" = aborted ] && ok ||
    fail "rollout state $(rollout_field "$ro" 'd["state"]'), want aborted"
vc rollout abort "$ro" >"$work/abort2.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && grep -q E_CONFLICT "$work/abort2.out" && ok ||
    fail "a second abort: exit $rc, $(cat "$work/abort2.out")"
vc --timeout 10 rollout wait "$ro" >"$work/wait.out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && ok || fail "rollout wait on an aborted rollout: exit $rc"
sleep 1 # nothing must start after the abort; give it the chance
check_other

fleet_finish
