#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 45-fleet-restart: vmctld dies (SIGKILL) in the middle of a rollout and
# comes back on the same data dir.  b 1.1.0 is rolled out to A and B
# (canary 1, then a batch of 1) with a 5 s health window; while the
# canary device is inside that window vmctld is killed and started
# again at once (the canary's vmrt-ota held with SIGSTOP meanwhile, so
# that no result can come in between).  It starts without error, says
# it has one active rollout, and `vmctl rollout show` right after the
# restart shows what it showed before the kill (state, counts, every
# device's row and command); the devices, the package and the commands
# (with their states) are still there.
# The rollout goes on by itself: the canary's result is taken and the
# second device is sent the update.  vmctld is killed again while that
# device is in its health window and started only after the device has
# sent its result: the result is not lost, the rollout ends succeeded
# with both devices on 1.1.0, and each device got the update once.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"
. "$(dirname "$0")/fleet-lib.sh"

fleet_setup || { fail "setup"; finish; }
say "devices A and B"
fdevice_start A '{"site": "a"}' || { fail "device A"; fleet_finish; }
fdevice_start B '{"site": "b"}' || { fail "device B"; fleet_finish; }
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b-1.1.0.vpk" ||
    { fail "pack"; fleet_finish; }

say "update A,B b 1.1.0, canary 1, batch 1, health window 5 s"
vc update A,B b "$work/b-1.1.0.vpk" --canary 1 --batch 1 \
    --health-window 5000 >"$work/update.out" 2>&1
rc=$?
cat "$work/update.out"
[ "$rc" -eq 0 ] && ok || fail "update: exit $rc"
ro=$(sed -n 's/^rollout \([^ ]*\) created.*/\1/p' "$work/update.out" | head -1)
[ -n "$ro" ] || ro=$(vc --json rollout ls | jq_py 'd["rollouts"][0]["id"]')
[ -n "$ro" ] && ok || { fail "no rollout id"; fleet_finish; }

# in_window: one device is in its health window; $canary says which.
in_window() {
    local d
    for d in A B; do
        grep -q "b 1.0.0 -> 1.1.0: swapping (health window 5000 ms)" \
            "$(fdir "$d")/daemon.log" && { canary=$d; return 0; }
    done
    return 1
}
canary=""
poll 60 in_window && ok || fail "no device reached its health window"
other=B
[ "$canary" = B ] && other=A
# The canary's vmrt-ota is stopped (SIGSTOP) across the restart, so that
# its result cannot arrive in between, however slow the machine: what
# the restarted vmctld shows comes from its registry alone.  (Its MQTT
# keepalive is 30 s; the stop lasts a second or two.)
ota_stopped=$(fota_pid "$canary")
kill -STOP "$ota_stopped" && ok || fail "cannot stop $canary's vmrt-ota"
grep -q "cmd .*: update b: ok" "$(fdir "$canary")/daemon.log" &&
    fail "the canary finished its health window before vmrt-ota was" \
        "stopped (the machine is too slow for this test)"
# The row that vmctld shows for it: sent, with its command accepted.
poll 10 eval '[ "$(rollout_dev "$ro" "$canary" state)" = sent ]' && ok ||
    fail "the canary's row is $(rollout_dev "$ro" "$canary" state), want sent"
vc --json rollout show "$ro" >"$work/before.json" 2>&1 && ok ||
    fail "rollout show before the kill: $(cat "$work/before.json")"
commands_before=$(vc --json commands | jq_py '",".join(sorted(
    x["id"] + ":" + x["kind"] + ":" + x["device"] + ":" + x["state"]
    for x in d["commands"]))')
say "SIGKILL vmctld (canary $canary in its health window), start it again"
vmctld_kill
vmctld_start && ok || { fail "vmctld did not start again"; fleet_finish; }
vc --json rollout show "$ro" >"$work/after.json" 2>&1 && ok ||
    fail "rollout show after the restart: $(cat "$work/after.json")"
commands_after=$(vc --json commands | jq_py '",".join(sorted(
    x["id"] + ":" + x["kind"] + ":" + x["device"] + ":" + x["state"]
    for x in d["commands"]))')
kill -CONT "$ota_stopped" && ok || fail "cannot continue $canary's vmrt-ota"

# summary FILE: what must survive: state, counts, rows with commands.
summary() {
    jq_py '"%s %s %s | %s" % (d["id"], d["state"],
        " ".join("%s=%d" % (k, d["counts"][k]) for k in sorted(d["counts"])),
        " ".join("%s:%s:%s:%s" % (x["device"], x["batch"], x["state"],
                                  x["command"])
                 for x in sorted(d["devices"], key=lambda x: x["device"])))' \
        <"$1"
}
before=$(summary "$work/before.json")
after=$(summary "$work/after.json")
echo "before the kill:    $before"
echo "after the restart:  $after"
[ -n "$before" ] && [ "$before" = "$after" ] && ok ||
    fail "the rollout changed across the restart"
case $before in
"$ro running "*"$canary:0:sent:c"*) ok ;;
*) fail "before the kill the canary was not in flight: $before" ;;
esac
grep -q "active rollouts: 1" "$work/vmctld.log" && ok ||
    fail "vmctld does not report the active rollout at its restart"
grep -E " (error|warn) " "$work/vmctld.log" | grep -v "mqtt" >"$work/errs.out"
[ ! -s "$work/errs.out" ] && ok ||
    fail "vmctld logged errors: $(head -5 "$work/errs.out")"
[ -n "$commands_before" ] && [ "$commands_after" = "$commands_before" ] &&
    ok || fail "commands before '$commands_before', after '$commands_after'"
vc --json devices | jq_py '" ".join(sorted(x["id"] for x in d["devices"]))' |
    grep -qx "A B" && ok || fail "the devices are not both known"
vc --json packages | jq_py '[x["vm"] + "@" + x["version"]
    for x in d["packages"]]' | grep -qx '\["b@1.1.0"\]' && ok ||
    fail "the package is not listed"

# A second kill, while the other device is in its health window; vmctld
# stays down until that device has sent its result: the result is not
# lost (the broker keeps it for vmctld's session, or the device sends it
# again).
say "SIGKILL vmctld again (device $other in its health window)"
poll 60 grep -q "b 1.0.0 -> 1.1.0: swapping (health window 5000 ms)" \
    "$(fdir "$other")/daemon.log" && ok ||
    fail "$other did not reach its health window"
vmctld_kill
poll 30 grep -q "cmd .*: update b: ok" "$(fdir "$other")/daemon.log" && ok ||
    fail "$other did not finish its update"
vmctld_start && ok || { fail "vmctld did not start again"; fleet_finish; }

say "vmctl rollout wait $ro"
vc --timeout 60 rollout wait "$ro" >"$work/wait.out" 2>&1
rc=$?
cat "$work/wait.out"
[ "$rc" -eq 0 ] && ok || fail "rollout wait: exit $rc, want 0"
vc --json rollout show "$ro" >"$work/final.json" 2>&1
final=$(jq_py '"%s %d %s" % (d["state"], d["counts"]["succeeded"],
    " ".join(x["device"] + "=" + x["state"] for x in
             sorted(d["devices"], key=lambda x: x["device"])))' \
    <"$work/final.json")
[ "$final" = "succeeded 2 A=succeeded B=succeeded" ] && ok ||
    fail "the rollout ended '$final'"
for d in A B; do
    [ "$(fvm_field "$d" b version)" = 1.1.0 ] &&
        [ "$(fvm_field "$d" b state)" = running ] && ok ||
        fail "$d's b: $(fvm_field "$d" b version) $(fvm_field "$d" b state)"
    [ "$(fvm_field "$d" a restarts)" = 0 ] && ok || fail "$d's a restarted"
done
[ "$(grep -c "cmd .*: update b: accepted" "$(fdir "$other")/daemon.log")" \
    = 1 ] && ok || fail "$other was sent the update more than once"

fleet_finish
