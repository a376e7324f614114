#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 31-ota-update: an update over MQTT swaps only its target VM.  VMs a and
# b run ota_tick 1.0.0 (tick every 1 ms, log the largest gap per 100 ms);
# b is updated to 1.1.0 with a 1 s health window through the supervised
# vmrt-ota.  Expect OK, b at 1.1.0, b's new image logging its downtime,
# and a kept ticking: its largest gap from before the command until the
# result is printed with a native 1 ms sleeper's (tick-ref) over the same
# time, and must stay under 1 s (a was never stopped for b's swap or its
# 1 s health window).  The gap itself is a speed goal (under 20 ms):
# bench/ota measures it and docs/performance.md records it; a test
# asserting it failed on machine stalls alone.  Prints
# "FIGURE ota_gap_max_us=N", "FIGURE ota_b_downtime_us=N" and
# "FIGURE ota_native_gap_max_us=N".  a runs with --no-persist (no file
# write per tick, so its gaps are the scheduler's, not the file system's).
# The same gap over 2 s without an update is printed for comparison
# ("FIGURE ota_gap_idle_max_us=N").  Then an update to 1.2.0 with --twice:
# the repeated command id gets the same final result and nothing runs or
# transfers again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

ota_setup || { fail "setup"; finish; }
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b-1.1.0.vpk" ||
    { fail "pack 1.1.0"; finish; }
pack b 1.2.0 "$wasm/ota_tick_v110.wasm" "$work/b-1.2.0.vpk" ||
    { fail "pack 1.2.0"; finish; }

ticking a && ok || fail "a does not tick"
ticking b && ok || fail "b does not tick"
restarts_a=$(vm_field a restarts)

# The same measure with nothing going on, for comparison.
idle_from=$(ticks a)
sleep 2
idle_gap=$(max_gap a "$idle_from" "$(ticks a)")
echo "FIGURE ota_gap_idle_max_us=${idle_gap:-none}"

# measured_update VERSION: update b to VERSION (an ota_tick 1.1.0 image)
# with a native 1 ms sleeper (tick-ref) running over the same period (on
# a virtual machine, vCPU stalls of 10-30 ms happen: a stall it sees too
# is the machine's, not the runtime's).  Checks the update, prints the
# figures and sets gap (a's largest, us) and ref_gap (tick-ref's).
measured_update() {
    local ver=$1 rc t0 t1 from to ref_pid
    say "update b to $ver (health 1000 ms)"
    "$TICK_REF" >"$work/tick-ref.out" 2>&1 &
    ref_pid=$!
    from=$(ticks a)
    t0=$(now_ms)
    fs --timeout 120 update --vm b --vpk "$work/b-$ver.vpk" --health-ms 1000 \
        >"$work/update.out" 2>&1
    rc=$?
    t1=$(now_ms)
    sleep 0.3 # let a log the window in progress at the result
    to=$(($(ticks a) + 0))
    kill -TERM "$ref_pid" 2>/dev/null
    wait "$ref_pid" 2>/dev/null
    ref_gap=$(sed -n 's/^maxgap_us=\([0-9]*\).*/\1/p' "$work/tick-ref.out")
    cat "$work/update.out"
    [ "$rc" -eq 0 ] && ok || fail "update: exit $rc, want 0 (OK)"
    grep -q '^result OK' "$work/update.out" && ok || fail "no final OK result"
    grep -q '^event progress 100%' "$work/update.out" && ok ||
        fail "no progress 100% event"
    [ "$(vm_field b version)" = "$ver" ] && ok ||
        fail "b version $(vm_field b version), want $ver"
    [ "$(vm_field b state)" = running ] && ok || fail "b not running"
    ticking b && ok || fail "b does not tick after the update"
    ctl logs b | grep >/dev/null 'maxgap_us=.* version=1.1.0' && ok ||
        fail "b's new image does not tick"
    downtime=$(ctl logs b |
        sed -n 's/.*downtime_us=\([0-9]*\) version=1.1.0.*/\1/p' | tail -1)
    [ -n "$downtime" ] && ok || fail "b did not log downtime_us for 1.1.0"
    gap=$(max_gap a "$from" "$to")
    echo "update took $((t1 - t0)) ms; a's tick windows $from..$to, largest" \
        "gaps (us): $(ctl logs a | grep "maxgap_us=" |
            sed -n "$((from + 1)),${to}p" |
            sed 's/.*maxgap_us=\([0-9]*\).*/\1/' | tr '\n' ' ')"
    echo "FIGURE ota_gap_max_us=${gap:-none}"
    echo "FIGURE ota_b_downtime_us=${downtime:-none}"
    echo "FIGURE ota_native_gap_max_us=${ref_gap:-none}"
    [ -n "$gap" ] && [ "$((to - from))" -ge 3 ] && ok ||
        fail "a logged too few tick windows during the update ($from..$to)"
    [ -n "$ref_gap" ] && ok || fail "tick-ref printed no gap"
}

measured_update 1.1.0
echo "a's largest gap ${gap:-?} us during the update (native reference" \
    "${ref_gap:-?} us; idle ${idle_gap:-?} us)"
[ -n "$gap" ] && [ "$gap" -lt 1000000 ] && ok ||
    fail "a stood still ${gap:-?} us while b was updated: it was stopped"
[ "$(vm_field a state)" = running ] && ok || fail "a not running"
[ "$(vm_field a restarts)" = "$restarts_a" ] && ok || fail "a restarted"
[ "$(vm_field a version)" = 1.0.0 ] && ok || fail "a version changed"

say "update b to 1.2.0 with the command sent twice"
fs --timeout 120 --id twice-1 update --vm b --vpk "$work/b-1.2.0.vpk" \
    --health-ms 500 --twice >"$work/twice.out" 2>&1
rc=$?
cat "$work/twice.out"
[ "$rc" -eq 0 ] && ok || fail "--twice: exit $rc, want 0"
[ "$(grep -c '^result OK' "$work/twice.out")" -eq 2 ] && ok ||
    fail "--twice: want two final OK results"
grep -q '^twice: same final result, no chunk requested again' \
    "$work/twice.out" && ok || fail "--twice: the repeat was not idempotent"
[ "$(vm_field b version)" = 1.2.0 ] && ok ||
    fail "b version $(vm_field b version), want 1.2.0"
n=$(ctl logs b | grep -c 'downtime_us=')
# One start per update: 1.1.0, then 1.2.0 (once, not twice).
[ "$n" -eq 2 ] && ok || fail "b started $n times after updates, want 2"
grep -q 'ota: started pid' "$work/daemon.log" && ok ||
    fail "vmrt did not report starting vmrt-ota"

ota_finish
