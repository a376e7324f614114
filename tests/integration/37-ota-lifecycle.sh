#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 37-ota-lifecycle: lifecycle commands over MQTT, relayed by vmrt-ota to
# vmrt, with the state checked through `vmrt ctl`: stop, start, suspend,
# resume, restart; a wrong state (E_STATE) and an unknown VM
# (E_NOT_FOUND); an unknown command kind (E_UNKNOWN_COMMAND); a snapshot
# of b uploaded to a file (again with a lost chunk, asked for again) and
# restored into b (it goes on ticking); a VM created from a package and
# destroyed again; an update of b cancelled in mid-transfer (the update
# ends E_CANCELLED, the CANCEL itself OK, b untouched, the transfer's
# .part/.map removed) and a CANCEL of an unknown id (E_NOT_FOUND); the
# tail of b's log over MQTT (LOGS: the same text as `vmrt ctl logs`, cut
# to --bytes and said to be truncated; E_NOT_FOUND for an unknown VM).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

ota_setup '"allow_create": true,' || { fail "setup"; finish; }

# cmd NAME CODE STATE ARGS...: fleet-send ARGS ends with CODE and b is
# then in STATE ("" = do not check).
cmd() {
    local name=$1 code=$2 want=$3
    shift 3
    say "$name -> $code${want:+, b $want}"
    fs --timeout 60 --expect "$code" "$@" >"$work/$name.out" 2>&1
    local rc=$?
    cat "$work/$name.out"
    [ "$rc" -eq 0 ] && ok || fail "$name: exit $rc, want the code $code"
    if [ -n "$want" ]; then
        wait_state b "$want" && ok ||
            fail "$name: b is $(vm_field b state), want $want"
    fi
}

cmd stop OK stopped stop --vm b
cmd stop-again E_STATE stopped stop --vm b
cmd start OK running start --vm b
ticking b && ok || fail "b does not tick after start"
cmd suspend OK suspended suspend --vm b
n=$(ticks b)
sleep 0.5
[ "$(ticks b)" -le "$((n + 1))" ] && ok || fail "suspended b still ticks"
cmd resume OK running resume --vm b
ticking b && ok || fail "b does not tick after resume"
r0=$(vm_field b restarts)
cmd restart OK running restart --vm b
[ "$(vm_field b restarts)" -gt "$r0" ] && ok ||
    fail "restart did not count a restart"
cmd not-found E_NOT_FOUND "" start --vm nosuchvm
cmd unknown-kind E_UNKNOWN_COMMAND "" raw --kind 99 --vm b
[ "$(vm_field a state)" = running ] && ok || fail "a not running"

say "snapshot b over MQTT, then restore it into b"
cmd snapshot OK running snapshot --vm b -o "$work/b.snap"
[ -s "$work/b.snap" ] && ok || fail "no snapshot file"
grep -q '^upload: .* sha256 ok' "$work/snapshot.out" && ok ||
    fail "upload not verified"
echo "FIGURE ota_snapshot_bytes=$(stat -c %s "$work/b.snap" 2>/dev/null)"
# A lost upload chunk is asked for again on xfer/upreq.
cmd snapshot-lost OK running snapshot --vm b -o "$work/b2.snap" \
    --drop-up-chunk 0
grep -q '^upload: asked again for 1 missing chunks' \
    "$work/snapshot-lost.out" && ok || fail "lost chunk not asked again"
grep -q '^upload: .* sha256 ok' "$work/snapshot-lost.out" && ok ||
    fail "re-sent upload not verified"
cmd restore OK running restore --vm b --file "$work/b.snap"
ticking b && ok || fail "b does not tick after the restore"
ctl logs b | tail -1 | grep >/dev/null 'version=1.0.0' && ok ||
    fail "b after restore: $(ctl logs b | tail -1)"

say "the tail of b's log over MQTT (LOGS)"
cmd logs OK "" logs --vm b
grep -q 'maxgap_us=' "$work/logs.out" && ok ||
    fail "no tick line in b's log tail"
# The device's tail ends where vmrt's ring ended a moment before.
last=$(grep 'maxgap_us=' "$work/logs.out" | tail -1)
ctl logs b | grep -xF >/dev/null "$last" && ok ||
    fail "the tail's last line is not in vmrt's log: $last"
cmd logs-100 OK "" logs --vm b --bytes 100
[ "$(sed -n 's/^logs: \([0-9]*\) bytes$/\1/p' "$work/logs-100.out")" = 100 ] &&
    ok || fail "--bytes 100 did not give 100 bytes"
grep -q '^result OK: truncated' "$work/logs-100.out" && ok ||
    fail "a cut tail is not said to be truncated"
cmd logs-unknown E_NOT_FOUND "" logs --vm nosuchvm

say "create c from a package, destroy it"
pack c 1.0.0 "$wasm/ota_tick.wasm" "$work/c.vpk" || fail "pack c"
cmd create OK "" create --vm c --vpk "$work/c.vpk"
wait_state c running && ok || fail "c not running: $(vm_field c state)"
[ "$(vm_field c version)" = 1.0.0 ] && ok || fail "c version"
cmd create-again E_EXISTS "" create --vm c --vpk "$work/c.vpk"
cmd destroy OK "" destroy --vm c
[ -z "$(vm_field c state)" ] && ok || fail "c still exists"
[ "$(vm_field a restarts)" = 0 ] && ok || fail "a restarted"

say "cancel an update of b in mid-transfer"
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b.vpk" || fail "pack b"
# Chunks of 2 KiB, throttled so that the transfer takes about 4 s.
size=$(stat -c %s "$work/b.vpk")
throttle=$((4000 / ((size + 2047) / 2048)))
restarts_b=$(vm_field b restarts)
fs_bg "$work/cancelled.out" --timeout 120 --id upd-cancel \
    --expect E_CANCELLED update --vm b --vpk "$work/b.vpk" \
    --chunk-size 2048 --throttle-ms "$throttle"
poll 60 progress_at_least "$work/cancelled.out" 20 && ok ||
    fail "no progress >= 20%: $(tail -3 "$work/cancelled.out")"
ls "$state"/ota/xfer/upd-cancel.part "$state"/ota/xfer/upd-cancel.map \
    >/dev/null && ok || fail "no .part/.map during the transfer"
cmd cancel OK "" cancel --cancel-id upd-cancel
wait "$fs_pid"
rc=$?
cat "$work/cancelled.out"
[ "$rc" -eq 0 ] && ok || fail "cancelled update: exit $rc"
grep -q '^result E_CANCELLED: ' "$work/cancelled.out" && ok ||
    fail "the update did not end E_CANCELLED"
grep -q '^result OK: \(cancelling\|cancelled\)' "$work/cancel.out" && ok ||
    fail "the CANCEL was not answered OK"
[ "$(vm_field b version)" = 1.0.0 ] && [ "$(vm_field b state)" = running ] &&
    [ "$(vm_field b restarts)" = "$restarts_b" ] && ok ||
    fail "b touched: $(vm_field b version) $(vm_field b state)"
ticking b && ok || fail "b does not tick after the cancel"
# The worker removes the files right after it answers.
poll 10 eval '[ -z "$(ls "$state/ota/xfer" 2>/dev/null)" ]' && ok ||
    fail "transfer files left: $(ls "$state/ota/xfer")"
cmd cancel-unknown E_NOT_FOUND "" cancel --cancel-id no-such-command
cmd cancel-finished E_NOT_FOUND "" cancel --cancel-id upd-cancel

ota_finish
