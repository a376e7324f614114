#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 22-power: power events end to end on a `vmrt daemon`.  Two e2e_power
# guests attach VOS_IRQ_POWER: "pa" acknowledges with vos_power_ack(),
# "pn" never does; a plain ctl_ticker "pt" has no handler.  `ctl power
# suspend-all` suspends all three (pn and pt after the deadline), the
# power event reported by `ctl events` lists pa as acked and pn, pt as
# late, pa's log shows the event it read; `resume-all` runs them again.
# Polls have generous limits; nothing asserts on exact timing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

wasm=$(cd "$wasm" && pwd)
pw=$wasm/e2e_power.wasm
rm -rf "$state" "$work/daemon.log" "$work/events"

poll() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}
ticks() { ctl logs "$1" | grep -c "tick"; }
ticking() { # ticking VM: its tick count grows within 10 s
    local n
    n=$(ticks "$1")
    poll 10 eval '[ "$(ticks '"$1"')" -gt "$((n + 2))" ]'
}
still() { # still VM: no new tick over 0.6 s
    local n
    n=$(ticks "$1")
    sleep 0.6
    [ "$(ticks "$1")" -eq "$n" ]
}

daemon_start || { fail "daemon start"; finish; }
# pa first in priority, so it is told first; pn and pt after it.
expect_rc 0 "create pa" ctl create pa --module "$pw" --priority 2 -- ack
expect_rc 0 "create pn" ctl create pn --module "$pw" --priority 4 -- noack
expect_rc 0 "create pt" ctl create pt --module "$wasm/ctl_ticker.wasm" \
    --priority 6
for v in pa pn pt; do expect_rc 0 "start $v" ctl start "$v"; done
for v in pa pn pt; do
    ticking "$v" && ok || fail "$v does not tick: $(ctl logs "$v" | tail -2)"
done
ctl logs pa | grep >/dev/null "attached (ack)" && ok || fail "pa did not attach"
ctl logs pn | grep >/dev/null "attached (noack)" && ok || fail "pn did not attach"

timeout 60 "$vmrt" ctl --socket "$sock" events >"$work/events" 2>&1 &
evpid=$!
sleep 0.5

t0=$(date +%s%N)
expect_rc 0 "power suspend-all" ctl power suspend-all
t1=$(date +%s%N)
echo "suspend-all took $(((t1 - t0) / 1000000)) ms" \
    "(pn waits out the 1 s deadline; pt has no handler)"
for v in pa pn pt; do
    [ "$(vm_field "$v" state)" = suspended ] && ok ||
        fail "$v is '$(vm_field "$v" state)' after suspend-all"
done
for v in pa pn pt; do still "$v" && ok || fail "$v ticks while suspended"; done
ctl logs pa | grep >/dev/null "power event 1 acked rc 0" && ok ||
    fail "pa did not ack the suspend: $(ctl logs pa | grep power)"

expect_rc 0 "power resume-all" ctl power resume-all
for v in pa pn pt; do
    [ "$(vm_field "$v" state)" = running ] && ok ||
        fail "$v is '$(vm_field "$v" state)' after resume-all"
    ticking "$v" && ok || fail "$v does not tick after resume-all"
done
ctl logs pa | grep >/dev/null "power event 2 acked rc 0" && ok ||
    fail "pa did not see the resume: $(ctl logs pa | grep power)"
ctl logs pn | grep >/dev/null "power event 1 ignored" && ok ||
    fail "pn never saw the suspend: $(ctl logs pn | grep power)"

sleep 0.5
kill "$evpid" 2>/dev/null
wait "$evpid" 2>/dev/null
echo "events:"
grep -i "power" "$work/events" | sed 's/^/  /'
line=$(grep -i "suspend-all" "$work/events" | head -1)
case $line in *"acked [pa]"*) ok ;; *) fail "suspend-all event: '$line'" ;; esac
case $line in
*"late [pn,pt]"*) ok ;;
*) fail "suspend-all late list: '$line'" ;;
esac
line=$(grep -i "resume-all" "$work/events" | head -1)
case $line in *"acked [pa]"*) ok ;; *) fail "resume-all event: '$line'" ;; esac

daemon_stop && ok || fail "daemon did not exit cleanly on SIGTERM"
finish
