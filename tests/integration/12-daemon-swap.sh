#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 12-daemon-swap: `vmrt ctl swap` stages a new image with a health window:
# a good one is committed (--wait exits 0, the version changes), one that
# exits 13 is rolled back at once (--wait exits 1, the old version runs),
# a second swap inside a window is refused (STATE), and a daemon restart
# inside a window rolls back.  Another VM keeps running throughout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

ticker=$wasm/ctl_ticker.wasm
bad=$wasm/core_exit13.wasm
rm -rf "$state" "$work/daemon.log"

daemon_start || { fail "daemon start"; finish; }
expect_rc 0 "create app" ctl create app --module "$ticker" --version 1.0
expect_rc 0 "create other" ctl create other --module "$ticker"
expect_rc 0 "start app" ctl start app
expect_rc 0 "start other" ctl start other
wait_state app running && ok || fail "app not running"

expect_rc 2 "swap without --version" ctl swap app "$ticker"
expect_rc 0 "swap-status before any swap" ctl swap-status app
grep -q '^none' "$work/out" && ok || fail "status: $(cat "$work/out")"

expect_rc 0 "good swap commits" ctl swap app "$ticker" --version 2.0 \
    --health-ms 300 --wait
grep -q '^committed 1.0 -> 2.0' "$work/out" && ok ||
    fail "swap --wait said: $(cat "$work/out")"
[ "$(vm_field app version)" = 2.0 ] && ok || fail "version not 2.0"

expect_rc 1 "bad swap rolls back" ctl swap app "$bad" --version 3.0 \
    --health-ms 20000 --wait
grep -q '^rolled-back 2.0 -> 3.0: exited with code 13' "$work/out" && ok ||
    fail "swap --wait said: $(cat "$work/out")"
[ "$(vm_field app version)" = 2.0 ] && ok || fail "version not back at 2.0"
[ "$(vm_field app state)" = running ] && ok || fail "app not running"

expect_rc 0 "swap with a long window" ctl swap app "$ticker" --version 4.0 \
    --health-ms 60000 --snapshot
expect_rc 1 "second swap in the window" ctl swap app "$ticker" \
    --version 5.0
grep -q STATE "$work/err" && ok || fail "no STATE code"
ctl swap-status app | grep -q '^health 2.0 -> 4.0' && ok ||
    fail "status not health"

daemon_stop || fail "daemon stop"
daemon_start || { fail "daemon restart"; finish; }
wait_state app running && ok || fail "app not running after restart"
[ "$(vm_field app version)" = 2.0 ] && ok ||
    fail "restart in the window did not roll back"
ctl swap-status app | grep -q 'vmrt restarted during health window' &&
    ok || fail "status: $(ctl swap-status app)"
[ "$(vm_field other state)" = running ] && ok || fail "other not running"
daemon_stop || fail "daemon stop"
finish
