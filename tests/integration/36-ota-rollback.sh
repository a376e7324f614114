#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 36-ota-rollback: an update to an image that traps at start is rolled
# back inside its health window (20 s; the result must come well before
# its end), the failure is reported (event rollback, final E_ROLLED_BACK)
# and b runs 1.0.0 again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

ota_setup || { fail "setup"; finish; }
pack b 1.1.0 "$wasm/ota_trap.wasm" "$work/trap.vpk" ||
    { fail "pack"; finish; }
ticking b && ok || fail "b does not tick"

say "update b to an image that traps (health window 20 s)"
t0=$(now_ms)
fs --timeout 120 --expect E_ROLLED_BACK update --vm b \
    --vpk "$work/trap.vpk" --health-ms 20000 >"$work/update.out" 2>&1
rc=$?
t1=$(now_ms)
cat "$work/update.out"
echo "FIGURE ota_rollback_result_ms=$((t1 - t0))"
[ "$rc" -eq 0 ] && ok || fail "exit $rc, want 0 (E_ROLLED_BACK)"
grep -q '^result E_ROLLED_BACK: .' "$work/update.out" && ok ||
    fail "no E_ROLLED_BACK result with a reason"
grep -q '^event rollback b: .' "$work/update.out" && ok ||
    fail "no rollback event for b"
[ "$((t1 - t0))" -lt 15000 ] && ok ||
    fail "result after $((t1 - t0)) ms: not well inside the 20 s window"
[ "$(vm_field b version)" = 1.0.0 ] && ok ||
    fail "b version $(vm_field b version), want 1.0.0"
[ "$(vm_field b state)" = running ] && ok || fail "b not running"
ctl logs b | grep >/dev/null 'ota_trap: trapping now' && ok ||
    fail "the new image never ran"
ticking b && ok || fail "b does not tick after the rollback"
ctl logs b | tail -3 | grep >/dev/null 'version=1.0.0' && ok ||
    fail "b's latest ticks are not 1.0.0: $(ctl logs b | tail -2)"
ctl swap-status b | grep -q 'rolled' && ok ||
    fail "swap-status: $(ctl swap-status b)"

ota_finish
