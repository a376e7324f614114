#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 21-migrate: a VM moves between two daemons (two state dirs, two
# sockets), as it would between two devices.  The e2e_migrate guest runs
# on A with a count in memory, a file it keeps open and a periodic vOS
# timer; `ctl snapshot` on A, the same VM (same module and options)
# created on B with A's root files copied over, `ctl restore` on B: B's
# count continues from A's snapshot, the timer still fires and the open
# file still takes writes.  Restoring that snapshot into a VM of another
# module on B fails with a clear error and leaves that VM running as it
# was.  Polls have generous limits; nothing asserts on exact timing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

wasm=$(cd "$wasm" && pwd)
mig=$wasm/e2e_migrate.wasm
ticker=$wasm/ctl_ticker.wasm
rm -rf "$work/a" "$work/b" "$work/daemon.log" "$work/mig.snap"
mkdir -p "$work/a" "$work/b"

# use_a / use_b: point daemon-lib's state, sock and dpid at one daemon.
pid_a="" pid_b=""
use_a() { state=$work/a; sock=$state/vmrt.sock; dpid=$pid_a; }
use_b() { state=$work/b; sock=$state/vmrt.sock; dpid=$pid_b; }
start_in() { # start_in a|b
    "use_$1"
    daemon_start || return 1
    eval "pid_$1=\$dpid"
}
stop_in() {
    "use_$1"
    daemon_stop
    local st=$?
    eval "pid_$1=\"\""
    return $st
}
cleanup_both() {
    [ -n "$pid_a" ] && kill -KILL "$pid_a" 2>/dev/null
    [ -n "$pid_b" ] && kill -KILL "$pid_b" 2>/dev/null
    return 0
}
trap cleanup_both EXIT

poll() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}
# counts_of VM: the counts it logged, in order.
counts_of() { ctl logs "$1" | sed -n 's/^count \([0-9]*\) .*/\1/p'; }
last_count() { counts_of "$1" | tail -1; }
count_above() { [ "$(last_count "$1")" -gt "$2" ] 2>/dev/null; }

start_in a || { fail "daemon A start"; finish; }
start_in b || { fail "daemon B start"; finish; }

# ---- A: run, let it count, snapshot ----------------------------------
use_a
expect_rc 0 "create on A" ctl create mig --module "$mig" --memory-pages 4
expect_rc 0 "start on A" ctl start mig
poll 30 count_above mig 20 && ok ||
    fail "A: mig does not count: $(ctl logs mig | tail -3)"
s_lo=$(last_count mig)
expect_rc 0 "snapshot on A" ctl snapshot mig "$work/mig.snap"
s_hi=$(last_count mig)
echo "A: snapshot taken between count $s_lo and $s_hi" \
    "($(stat -c %s "$work/mig.snap") bytes)"
# A migration moves the VM: its copy on A stops.
expect_rc 0 "stop on A" ctl stop mig

# ---- B: same VM, A's files, restore ----------------------------------
use_b
expect_rc 0 "create on B" ctl create mig --module "$mig" --memory-pages 4
# The restore reopens open files by path in B's root; a migration takes
# the VM's files along.
mkdir -p "$work/b/vms/mig/root"
cp -a "$work/a/vms/mig/root/." "$work/b/vms/mig/root/" && ok ||
    fail "cannot copy A's root to B"
lines_before=$(wc -l <"$work/b/vms/mig/root/trail.txt" 2>/dev/null || echo 0)
t0=$(date +%s%N)
expect_rc 0 "restore on B" ctl restore mig "$work/mig.snap"
t1=$(date +%s%N)
echo "B: restore took $(((t1 - t0) / 1000000)) ms (ctl round trip)"
[ "$(vm_field mig state)" = running ] && ok ||
    fail "B: mig is '$(vm_field mig state)' after restore, want running"
poll 30 count_above mig "$((s_hi + 10))" && ok ||
    fail "B: mig does not count after restore: $(ctl logs mig | tail -3)"
first=$(counts_of mig | head -1)
echo "B: first count after restore $first (snapshot $s_lo..$s_hi)"
if [ -n "$first" ] && [ "$first" -gt "$s_lo" ] &&
    [ "$first" -le "$((s_hi + 1))" ]; then ok; else
    fail "B: first count '$first', want $((s_lo + 1))..$((s_hi + 1))"
fi
# The timer re-attached: it keeps firing (the loop waits on it) and the
# fire count continues from A's instead of restarting.
fires=$(ctl logs mig |
    sed -n 's/^count [0-9]* fires \([0-9]*\) .*/\1/p' | head -1)
[ "${fires:-0}" -ge "$s_lo" ] && ok ||
    fail "B: timer fires '$fires' after restore, want >= $s_lo"
# The file handle re-attached: every write through it worked and landed
# in B's copy of the file.
if ctl logs mig | grep >/dev/null "file error"; then
    fail "B: writes to the open file fail"
else ok; fi
lines_after=$(wc -l <"$work/b/vms/mig/root/trail.txt")
echo "B: trail.txt $lines_before -> $lines_after lines"
[ "$lines_after" -gt "$((lines_before + 5))" ] && ok ||
    fail "B: trail.txt did not grow ($lines_before -> $lines_after)"
last=$(last_count mig)
grep -Eq "^count ($last|$((last - 1))|$((last + 1)))$" \
    "$work/b/vms/mig/root/trail.txt" && ok ||
    fail "B: trail.txt lacks the latest count $last"

# ---- B: a snapshot of another module is refused ----------------------
expect_rc 0 "create other on B" ctl create other --module "$ticker" -- x
expect_rc 0 "start other on B" ctl start other
ticks() { ctl logs other | grep -c "tick"; }
tick_above() { [ "$(ticks)" -gt "$1" ]; }
poll 20 tick_above 2 && ok || fail "B: other does not tick"
expect_rc 1 "restore another module's snapshot" \
    ctl restore other "$work/mig.snap"
echo "B: wrong-module restore said: $(head -c 200 "$work/err")"
grep -qi "module" "$work/err" && ok ||
    fail "wrong-module error does not name the module: $(cat "$work/err")"
# A refused restore leaves the running VM running (vmrt_vm_restore checks
# the snapshot with vmrt_snapshot_check before it stops anything).
st=$(vm_field other state)
if [ "$st" = running ]; then
    ok
    n=$(ticks)
    poll 20 tick_above "$((n + 2))" && ok || fail "B: other stopped ticking"
else
    fail "B: other is '$st' after the refused restore, want running"
fi
if ctl logs other | grep >/dev/null "^count "; then
    fail "B: other logs mig's counts"
else ok; fi
# mig on B is untouched by the refused restore.
c=$(last_count mig)
poll 20 count_above mig "$((c + 3))" && ok || fail "B: mig stalled"

stop_in b && ok || fail "daemon B did not exit cleanly"
stop_in a && ok || fail "daemon A did not exit cleanly"
finish
