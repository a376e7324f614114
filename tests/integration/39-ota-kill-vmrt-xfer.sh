#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 39-ota-kill-vmrt-xfer: a kill -9 of vmrt (not vmrt-ota) in the middle of
# a transfer.  The sender is throttled so that the transfer takes about
# 4 s; at >= 50% progress vmrt is killed.  Its supervised vmrt-ota sees
# its parent gone and exits by itself (status 3): no orphan may remain.
# vmrt is started again; the new vmrt-ota resumes the transfer from its
# persisted bitmap and the update completes OK, with fewer than 1.5 x the
# chunk count served (it resumed rather than starting over).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

slow_update_setup 4000 || finish

pid1=$(ota_pids)
[ "$(echo "$pid1" | wc -w)" -eq 1 ] && ok ||
    fail "want one vmrt-ota, found: $pid1"

say "update b ($n chunks, $throttle ms each); kill -9 vmrt at 50%"
slow_update_until 50
kill -KILL "$dpid" && ok || fail "kill -9 vmrt $dpid"
wait "$dpid" 2>/dev/null
dpid=""
echo "killed vmrt at $(grep '^event progress' "$work/update.out" | tail -1)"

# --supervised: vmrt-ota polls its parent every ~100 ms and exits 3.
gone() { ! kill -0 "$pid1" 2>/dev/null; }
if poll 10 gone; then
    ok
else
    fail "vmrt-ota $pid1 survived its parent (orphan)"
    kill -KILL "$pid1" 2>/dev/null
fi
[ -z "$(ota_pids)" ] && ok || fail "orphan vmrt-ota left: $(ota_pids)"
grep -q 'ota: supervisor (pid [0-9]*) is gone; exiting' \
    "$work/daemon.log" && ok ||
    fail "vmrt-ota did not log that its supervisor is gone"
# Part of the transfer is on disk, with its map.
ls "$state"/ota/xfer/*.part "$state"/ota/xfer/*.map >/dev/null 2>&1 && ok ||
    fail "no .part/.map kept for the resume: $(ls -l "$state/ota/xfer" 2>&1)
$(grep "^ota: .*\(transfer\|resum\|interrupted\|supervisor\|exit\)" \
        "$work/daemon.log" | tail -8)"

say "vmrt again"
rm -f "$sock" # stale: daemon_start waits for the socket to appear
daemon_start --config "$work/device.json" || { fail "daemon restart"; finish; }
newpid() {
    local p
    p=$(ota_pids)
    [ -n "$p" ] && [ "$p" != "$pid1" ]
}
poll 30 newpid && ok || fail "vmrt did not start vmrt-ota again"
echo "vmrt-ota started again as pid $(ota_pids)"

wait "$fs_pid"
rc=$?
cat "$work/update.out"
[ "$rc" -eq 0 ] && ok || fail "update after the kill: exit $rc, want 0"
grep -q '^result OK' "$work/update.out" && ok || fail "no final OK"
grep -q 'ota: update b: resuming transfer at [1-9]' "$work/daemon.log" &&
    ok || fail "vmrt-ota did not resume the transfer from its bitmap"
served=$(served_count "$work/update.out")
chunks=$(chunk_count "$work/update.out")
echo "FIGURE ota_kill_vmrt_served_chunks=${served:-?} of ${chunks:-?}"
[ -n "$served" ] && [ -n "$chunks" ] &&
    [ "$((served * 2))" -lt "$((chunks * 3))" ] && ok ||
    fail "served ${served:-?} chunks for ${chunks:-?}: it started over"
wait_state b running && ok || fail "b not running"
[ "$(vm_field b version)" = 1.1.0 ] && ok ||
    fail "b version $(vm_field b version), want 1.1.0"
ticking b && ok || fail "b does not tick"
[ "$(vm_field a state)" = running ] && ok || fail "a not running"
[ -z "$(ls "$state/ota/xfer" 2>/dev/null)" ] && ok ||
    fail "transfer files left: $(ls "$state/ota/xfer")"

ota_finish
