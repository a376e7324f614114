#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 43-fleet-migrate: a VM moves from device A to device B through vmctld.
# Both devices run a (ota_tick, untouched throughout) and b, the same
# ctl_ticker module: it logs "tick N" every 50 ms with N counted in its
# memory (ota_tick's ticks=M restarts every 100 ms window, so it cannot
# show a count that carries over).  B's b is stopped early, A's b counts
# on.  Then A's b is suspended (its count frozen at S), `vmctl snapshot
# A b` prints the snapshot's SHA-256, `vmctl snapshots ls` lists it for
# A/b, `vmctl snapshot get` downloads the same bytes, and `vmctl restore
# B b SHA` (migration: another device) brings B's b back in A's state:
# suspended, as A's was; resumed, its first tick is S+1 (not 0 and not
# B's own count), and it keeps counting.  The restore of a snapshot that
# does not exist fails with E_NOT_FOUND and changes nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"
. "$(dirname "$0")/fleet-lib.sh"

fleet_setup || { fail "setup"; finish; }
fleet_vms="{ \"name\": \"a\", \"module\": \"$wasm/ota_tick.wasm\",
      \"version\": \"1.0.0\", \"priority\": 4, \"args\": [\"--no-persist\"] },
    { \"name\": \"b\", \"module\": \"$wasm/ctl_ticker.wasm\",
      \"version\": \"1.0.0\", \"priority\": 8 }"
say "devices A and B"
fdevice_start A '{"site": "a"}' || { fail "device A"; fleet_finish; }
fdevice_start B '{"site": "b"}' || { fail "device B"; fleet_finish; }

# tick_list DEV: the counts b logged on DEV, in order.
tick_list() {
    fctl "$1" logs b | sed -n 's/^tick \([0-9]*\)$/\1/p'
}
last_tick() {
    tick_list "$1" | tail -1
}
tick_above() {
    [ "$(last_tick "$1")" -gt "$2" ] 2>/dev/null
}

say "B's b stopped early; A's b counts on"
vc vm stop B b >"$work/stop-b.out" 2>&1 && ok ||
    fail "stop B's b: $(cat "$work/stop-b.out")"
b_own=$(last_tick B)
b_lines=$(tick_list B | wc -l)
poll 30 tick_above A "$((${b_own:-0} + 40))" && ok ||
    fail "A's b does not count past B's own $b_own: $(last_tick A)"

say "suspend A's b, snapshot it"
vc vm suspend A b >"$work/suspend.out" 2>&1 && ok ||
    fail "suspend A's b: $(cat "$work/suspend.out")"
fwait_state A b suspended && ok || fail "A's b not suspended"
s=$(last_tick A)
sleep 0.3
[ "$(last_tick A)" = "$s" ] && ok || fail "suspended A's b still counts"
vc snapshot A b >"$work/snapshot.out" 2>"$work/snapshot.err"
rc=$?
cat "$work/snapshot.out" "$work/snapshot.err"
[ "$rc" -eq 0 ] && ok || fail "vmctl snapshot A b: exit $rc"
sha=$(grep -Ex '[0-9a-f]{64}' "$work/snapshot.out" | head -1)
[ -n "$sha" ] && ok || fail "vmctl snapshot printed no SHA-256"
echo "A's b frozen at tick $s, snapshot ${sha:0:16}"

vc snapshots ls >"$work/ls.out" 2>&1 && ok ||
    fail "snapshots ls: $(cat "$work/ls.out")"
cat "$work/ls.out"
grep -Eq "^${sha:0:16} +A +b +" "$work/ls.out" && ok ||
    fail "snapshots ls: no row for ${sha:0:16} from A/b"
vc --json snapshots ls --device A | jq_py '[(x["device"], x["vm"])
    for x in d["snapshots"] if x["sha256"] == "'"$sha"'"]' |
    grep -qx '\[\["A", "b"\]\]' && ok || fail "snapshots ls --json --device A"
vc snapshot get "${sha:0:12}" -o "$work/b.snap" >"$work/get.out" 2>&1 && ok ||
    fail "snapshot get: $(cat "$work/get.out")"
[ "$(sha256sum <"$work/b.snap" | cut -d' ' -f1)" = "$sha" ] && ok ||
    fail "the downloaded snapshot's SHA-256 is not $sha"

say "restore an unknown snapshot on B: refused"
vc restore B b "$(printf '0%.0s' $(seq 64))" >"$work/bad.out" 2>&1
rc=$?
cat "$work/bad.out"
[ "$rc" -eq 1 ] && ok || fail "restore of an unknown snapshot: exit $rc"
grep -q E_NOT_FOUND "$work/bad.out" && ok ||
    fail "restore of an unknown snapshot: no E_NOT_FOUND"
[ "$(fvm_field B b state)" = stopped ] && ok || fail "B's b changed state"

say "vmctl restore B b ${sha:0:16}"
vc restore B b "$sha" >"$work/restore.out" 2>&1
rc=$?
cat "$work/restore.out"
[ "$rc" -eq 0 ] && ok || fail "vmctl restore B b: exit $rc"
grep -q "B b: restore succeeded" "$work/restore.out" && ok ||
    fail "restore: vmctl did not say succeeded"
# The snapshot holds the VM's state too: B's b comes back suspended, as
# A's was, and has not counted yet.
fwait_state B b suspended && ok ||
    fail "B's b is $(fvm_field B b state) after the restore, want suspended"
[ "$(tick_list B | wc -l)" = "$b_lines" ] && ok ||
    fail "B's b counted before it was resumed"
vc vm resume B b >"$work/resume.out" 2>&1 && ok ||
    fail "resume B's b: $(cat "$work/resume.out")"
fwait_state B b running && ok ||
    fail "B's b is $(fvm_field B b state) after resume, want running"
poll 20 tick_above B "$((s + 10))" && ok ||
    fail "B's b does not count on after the restore: $(last_tick B)"
# The counts B's b logged after its own (stopped) run.
tick_list B | sed -n "$((b_lines + 1)),\$p" >"$work/b-after.out"
first=$(head -1 "$work/b-after.out")
echo "B's b: own count up to ${b_own:-?}, after the restore from $first"
[ "$first" = "$((s + 1))" ] && ok ||
    fail "B's b's first tick after the restore is '$first', want $((s + 1))"
python3 -c '
import sys
n = [int(x) for x in open(sys.argv[1])]
sys.exit(0 if n == list(range(n[0], n[0] + len(n))) else 1)
' "$work/b-after.out" && ok || fail "B's b's counts after the restore skip" \
    "or go back: $(tr '\n' ' ' <"$work/b-after.out" | head -c 300)"
[ "$(fvm_field A b state)" = suspended ] && ok ||
    fail "A's b is $(fvm_field A b state), want suspended (untouched)"
for d in A B; do
    [ "$(fvm_field "$d" a state)" = running ] && [ "$(fvm_field "$d" a \
        restarts)" = 0 ] && ok || fail "$d's a was disturbed"
done

fleet_finish
