#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 42-fleet-lifecycle: every lifecycle operation through vmctl, vmctld,
# the broker and a real device's OTA VM, each checked on the device with
# `vmrt ctl`: stop, start, suspend, resume, restart of b on A; a VM c
# created from a package (`vmctl vm create A --package c.vpk`, the
# device allowing it) and destroyed again.  Errors: starting a running
# VM exits 1 with the device's E_STATE in the message, a VM the device
# does not have gives E_NOT_FOUND; a was never touched.  A command for an
# offline device: B's vmrt is stopped, vmctld sees B offline, `vmctl vm
# suspend B b --no-wait` says queued; B starts again (same state dir) and
# the command is delivered: B's b ends suspended, the command succeeded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"
. "$(dirname "$0")/fleet-lib.sh"

fleet_setup || { fail "setup"; finish; }
say "devices A and B (allow_create)"
fdevice_start A '{"site": "a"}' '"allow_create": true,' ||
    { fail "device A"; fleet_finish; }
fdevice_start B '{"site": "b"}' '"allow_create": true,' ||
    { fail "device B"; fleet_finish; }
restarts_a=$(fvm_field A a restarts)

# op NAME WANT-STATE VMCTL-ARGS...: vmctl ARGS exits 0 and says the
# command succeeded; b on A then is in WANT-STATE ("" = do not check).
op() {
    local name=$1 want=$2 rc
    shift 2
    say "vmctl $*"
    vc "$@" >"$work/$name.out" 2>&1
    rc=$?
    cat "$work/$name.out"
    [ "$rc" -eq 0 ] && ok || fail "$name: exit $rc, want 0"
    grep -q "succeeded" "$work/$name.out" && ok ||
        fail "$name: vmctl did not say succeeded"
    if [ -n "$want" ]; then
        fwait_state A b "$want" && ok ||
            fail "$name: A's b is $(fvm_field A b state), want $want"
    fi
}

# vmctld_state DEV VM STATE: vmctld's view of the VM reaches STATE.
vmctld_state() {
    [ "$(device_vm_field "$1" "$2" state)" = "$3" ]
}

op stop stopped vm stop A b
poll 10 vmctld_state A b stopped && ok ||
    fail "vmctld shows A's b $(device_vm_field A b state), want stopped"
op start running vm start A b
fticking A b && ok || fail "b does not tick after start"
op suspend suspended vm suspend A b
n=$(fticks A b)
sleep 0.5
[ "$(fticks A b)" -le "$((n + 1))" ] && ok || fail "suspended b still ticks"
poll 10 vmctld_state A b suspended && ok ||
    fail "vmctld shows A's b $(device_vm_field A b state), want suspended"
op resume running vm resume A b
fticking A b && ok || fail "b does not tick after resume"
r0=$(fvm_field A b restarts)
op restart running vm restart A b
[ "$(fvm_field A b restarts)" -gt "$r0" ] && ok ||
    fail "restart did not count a restart ($r0 -> $(fvm_field A b restarts))"
fticking A b && ok || fail "b does not tick after restart"

say "errors: start a running VM, stop a VM A does not have"
vc vm start A b >"$work/start-running.out" 2>&1
rc=$?
cat "$work/start-running.out"
[ "$rc" -eq 1 ] && ok || fail "start a running VM: exit $rc, want 1"
grep -q "E_STATE" "$work/start-running.out" && ok ||
    fail "start a running VM: no E_STATE in the message"
[ "$(fvm_field A b state)" = running ] && ok || fail "b not running"
vc vm stop A nosuchvm >"$work/not-found.out" 2>&1
rc=$?
cat "$work/not-found.out"
[ "$rc" -eq 1 ] && ok || fail "stop an unknown VM: exit $rc, want 1"
grep -q "E_NOT_FOUND" "$work/not-found.out" && ok ||
    fail "stop an unknown VM: no E_NOT_FOUND in the message"

say "create c from a package, destroy it"
pack c 1.0.0 "$wasm/ota_tick.wasm" "$work/c.vpk" || fail "pack c"
op create "" vm create A --package "$work/c.vpk"
fwait_state A c running && ok || fail "c not running: $(fvm_field A c state)"
[ "$(fvm_field A c version)" = 1.0.0 ] && ok ||
    fail "c version $(fvm_field A c version), want 1.0.0"
fticking A c && ok || fail "c does not tick"
poll 10 vmctld_state A c running && ok ||
    fail "vmctld does not show A's c running"
op destroy "" vm destroy A c
[ -z "$(fvm_field A c state)" ] && ok ||
    fail "c still exists: $(fvm_field A c state)"
poll 10 eval '[ -z "$(device_vm_field A c state)" ]' && ok ||
    fail "vmctld still lists A's c"
[ "$(fvm_field A a state)" = running ] && ok || fail "A's a not running"
[ "$(fvm_field A a restarts)" = "$restarts_a" ] && ok || fail "A's a restarted"

say "a command for an offline device: B stopped, suspend queued"
fdevice_stop B && ok || fail "B did not stop cleanly"
poll 30 eval '! device_online B' && ok || fail "vmctld still shows B online"
vc vm suspend B b --no-wait >"$work/queued.out" 2>&1
rc=$?
cat "$work/queued.out"
[ "$rc" -eq 0 ] && ok || fail "suspend --no-wait: exit $rc, want 0"
grep -q "is offline: command .* queued" "$work/queued.out" && ok ||
    fail "suspend --no-wait: not reported queued"
cid=$(sed -n 's/^command \([^ ]*\) queued$/\1/p' "$work/queued.out")
[ -n "$cid" ] && ok || fail "no command id in the output"
[ "$(vc --json command show "$cid" | jq_py 'd["state"]')" = queued ] && ok ||
    fail "command $cid is not queued"
say "B back"
fdevice_run B || fail "B does not start again"
vc --timeout 60 --json command show "$cid" --wait >"$work/delivered.out" \
    2>"$work/delivered.err" && ok ||
    fail "command show --wait: $(cat "$work/delivered.err")"
[ "$(jq_py 'd["state"] + " " + str(d["code"])' <"$work/delivered.out")" = \
    "succeeded OK" ] && ok ||
    fail "queued command ended $(jq_py 'd["state"], d["code"], d["message"]' \
        <"$work/delivered.out"), want succeeded OK"
fwait_state B b suspended && ok ||
    fail "B's b is $(fvm_field B b state), want suspended"
[ "$(fvm_field B a state)" = running ] && ok || fail "B's a not running"
poll 10 vmctld_state B b suspended && ok ||
    fail "vmctld shows B's b $(device_vm_field B b state), want suspended"

fleet_finish
