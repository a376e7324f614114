#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 41-fleet-update: an update through the real server.  A private
# mosquitto, vmctld, and devices A (site=a) and B (site=b), each a
# `vmrt daemon` supervising its vmrt-ota, with VMs a and b (ota_tick
# 1.0.0).  `vmctl devices` lists both online with their labels and VMs;
# `vmctl update A b b-1.1.0.vpk --wait` exits 0; on A, b runs 1.1.0 and a
# kept ticking through it (more tick windows, its uptime went on, no
# restart); B is untouched; the rollout is succeeded with A's row
# succeeded, and its --json output parses.  Then `vmctl update --label
# site=b` (1.1.1) reaches only B, and A stays on 1.1.0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"
. "$(dirname "$0")/fleet-lib.sh"

fleet_setup || { fail "setup"; finish; }
say "devices A (site=a) and B (site=b)"
fdevice_start A '{"site": "a"}' || { fail "device A"; fleet_finish; }
fdevice_start B '{"site": "b"}' || { fail "device B"; fleet_finish; }
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b-1.1.0.vpk" ||
    { fail "pack 1.1.0"; fleet_finish; }
pack b 1.1.1 "$wasm/ota_tick_v110.wasm" "$work/b-1.1.1.vpk" ||
    { fail "pack 1.1.1"; fleet_finish; }

# ---- vmctl devices -------------------------------------------------------
vc devices >"$work/devices.out" 2>&1 && ok ||
    fail "vmctl devices: $(cat "$work/devices.out")"
cat "$work/devices.out"
for row in "A +yes +.* +a@1\.0\.0,b@1\.0\.0 +site=a" "B +yes +.* +a@1\.0\.0,b@1\.0\.0 +site=b"; do
    grep -Eq "^$row *\$" "$work/devices.out" && ok ||
        fail "vmctl devices: no row matching '$row'"
done
vc --json devices >"$work/devices-json.out" 2>&1 && ok ||
    fail "vmctl --json devices: $(cat "$work/devices-json.out")"
jq_py '",".join("%s:%s:%s:%s" % (x["id"], x["online"], x["labels"],
    "/".join(v["name"] + "@" + v["version"] for v in x["vms"]))
    for x in sorted(d["devices"], key=lambda x: x["id"]))' \
    <"$work/devices-json.out" >"$work/devices-sum.out"
want="A:True:{'site': 'a'}:a@1.0.0/b@1.0.0,B:True:{'site': 'b'}:a@1.0.0/b@1.0.0"
[ "$(cat "$work/devices-sum.out")" = "$want" ] && ok ||
    fail "--json devices: $(cat "$work/devices-sum.out"), want $want"
vc devices --label site=b >"$work/devices-b.out" 2>&1
grep -q '^B ' "$work/devices-b.out" && ! grep -q '^A ' "$work/devices-b.out" &&
    ok || fail "devices --label site=b: $(cat "$work/devices-b.out")"

# ---- update A -----------------------------------------------------------
fticking A a && ok || fail "A's a does not tick"
restarts_a=$(fvm_field A a restarts)
uptime_a=$(fvm_field A a uptime_ms)
ticks_a=$(fticks A a)
restarts_bb=$(fvm_field B b restarts)
say "vmctl update A b b-1.1.0.vpk --wait"
vc --timeout 120 update A b "$work/b-1.1.0.vpk" --health-window 1000 --wait \
    >"$work/update.out" 2>"$work/update.err"
rc=$?
cat "$work/update.out" "$work/update.err"
[ "$rc" -eq 0 ] && ok || fail "update --wait: exit $rc, want 0"
grep -q "^rollout .* succeeded: 1 of 1 devices run b 1.1.0" \
    "$work/update.out" && ok || fail "update: no 'succeeded' line"
ro=$(sed -n 's/^rollout \([^ ]*\) succeeded.*/\1/p' "$work/update.out")
[ "$(fvm_field A b version)" = 1.1.0 ] && ok ||
    fail "A's b is at $(fvm_field A b version), want 1.1.0"
[ "$(fvm_field A b state)" = running ] && ok ||
    fail "A's b is $(fvm_field A b state), want running"
fticking A b && ok || fail "A's b does not tick after the update"
# (grep -c reads all: with pipefail, grep -q could make logs die of
# SIGPIPE and the pipeline fail.)
fctl A logs b | grep -c 'maxgap_us=.* version=1.1.0' >/dev/null && ok ||
    fail "A's b does not run the 1.1.0 image"
# a went on through the update: more windows, no restart, uptime on.
[ "$(fticks A a)" -gt "$((ticks_a + 5))" ] && ok ||
    fail "A's a did not tick during the update ($ticks_a -> $(fticks A a))"
[ "$(fvm_field A a restarts)" = "$restarts_a" ] && ok ||
    fail "A's a restarted ($restarts_a -> $(fvm_field A a restarts))"
up=$(fvm_field A a uptime_ms)
[ -n "$up" ] && [ "$up" -gt "$uptime_a" ] && ok ||
    fail "A's a uptime went from $uptime_a to $up"
[ "$(fvm_field A a version)" = 1.0.0 ] && ok || fail "A's a version changed"
# a (--no-persist) logs "first start" each time it starts.
n=$(fctl A logs a | grep -c 'first start')
[ "$n" = 1 ] && ok || fail "A's a logged 'first start' $n times, want 1"
# B untouched.
[ "$(fvm_field B b version)" = 1.0.0 ] && ok ||
    fail "B's b is at $(fvm_field B b version), want 1.0.0"
[ "$(fvm_field B b restarts)" = "$restarts_bb" ] && ok ||
    fail "B's b restarted"
n=$(vc --json commands --device B | jq_py 'len(d["commands"])')
[ "$n" = 0 ] && ok || fail "vmctld sent B $n commands, want none"

# ---- the rollout as vmctl shows it ---------------------------------------
[ -n "$ro" ] && ok || fail "no rollout id in the update's output"
vc rollout show "$ro" >"$work/show.out" 2>&1 && ok ||
    fail "rollout show: $(cat "$work/show.out")"
cat "$work/show.out"
grep -q "succeeded" "$work/show.out" && grep -q "^ *A .*succeeded" \
    "$work/show.out" && ok || fail "rollout show: no succeeded row for A"
vc --json rollout show "$ro" >"$work/show-json.out" 2>&1 && ok ||
    fail "rollout show --json: exit $?"
sum=$(jq_py '"%s %s %s %s %s %s" % (d["state"], d["vm"], d["version"],
    d["counts"]["total"], d["counts"]["succeeded"],
    ",".join(x["device"] + "=" + x["state"] + "/" + str(x["code"])
             for x in d["devices"]))' <"$work/show-json.out")
[ "$sum" = "succeeded b 1.1.0 1 1 A=succeeded/OK" ] && ok ||
    fail "rollout --json: '$sum', want 'succeeded b 1.1.0 1 1 A=succeeded/OK'"
vc --json rollout ls | jq_py '[x["id"] for x in d["rollouts"]]' |
    grep -q "\"$ro\"" && ok || fail "rollout ls --json lacks $ro"
[ "$(device_vm_field A b version)" = 1.1.0 ] && ok ||
    fail "vmctld shows A's b at $(device_vm_field A b version), want 1.1.0"

# ---- update by label: only B ---------------------------------------------
say "vmctl update --label site=b b b-1.1.1.vpk --wait"
restarts_ab=$(fvm_field A b restarts)
vc --timeout 120 --json update --label site=b b "$work/b-1.1.1.vpk" \
    --health-window 500 --wait >"$work/update-b.out" 2>"$work/update-b.err"
rc=$?
cat "$work/update-b.err"
[ "$rc" -eq 0 ] && ok || fail "update --label site=b: exit $rc, want 0"
sum=$(jq_py '"%s %s %s" % (d["state"], d["counts"]["total"],
    ",".join(x["device"] + "=" + x["state"] for x in d["devices"]))' \
    <"$work/update-b.out")
[ "$sum" = "succeeded 1 B=succeeded" ] && ok ||
    fail "update --label --json: '$sum', want 'succeeded 1 B=succeeded'"
[ "$(fvm_field B b version)" = 1.1.1 ] && ok ||
    fail "B's b is at $(fvm_field B b version), want 1.1.1"
[ "$(fvm_field B b state)" = running ] && ok || fail "B's b not running"
[ "$(fvm_field A b version)" = 1.1.0 ] && ok ||
    fail "A's b is at $(fvm_field A b version), want 1.1.0 (untouched)"
[ "$(fvm_field A b restarts)" = "$restarts_ab" ] && ok ||
    fail "A's b restarted during B's update"

fleet_finish
