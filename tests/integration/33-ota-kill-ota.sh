#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 33-ota-kill-ota: a kill -9 of vmrt-ota in the middle of a transfer.  The
# sender is throttled so that the transfer takes about 4 s; at >= 50%
# progress vmrt-ota is killed; vmrt restarts it, it resumes the transfer
# from its persisted bitmap and completes the update.  Fewer than
# 1.5 x the chunk count may be served (it resumed rather than starting
# over).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

slow_update_setup 4000 || finish

pid1=$(ota_pids)
[ "$(echo "$pid1" | wc -w)" -eq 1 ] && ok ||
    fail "want one vmrt-ota, found: $pid1"

say "update b ($n chunks, $throttle ms each); kill -9 vmrt-ota at 50%"
slow_update_until 50
kill -KILL "$pid1" 2>/dev/null && ok || fail "kill -9 vmrt-ota $pid1"
echo "killed vmrt-ota pid $pid1 at $(grep '^event progress' "$work/update.out" | tail -1)"

newpid() {
    local p
    p=$(ota_pids)
    [ -n "$p" ] && [ "$p" != "$pid1" ]
}
poll 30 newpid && ok || fail "vmrt did not restart vmrt-ota"
echo "vmrt-ota restarted as pid $(ota_pids)"

wait "$fs_pid"
rc=$?
cat "$work/update.out"
[ "$rc" -eq 0 ] && ok || fail "update after the kill: exit $rc, want 0"
grep -q '^result OK' "$work/update.out" && ok || fail "no final OK"
served=$(served_count "$work/update.out")
chunks=$(chunk_count "$work/update.out")
echo "FIGURE ota_kill_served_chunks=${served:-?} of ${chunks:-?}"
[ -n "$served" ] && [ -n "$chunks" ] &&
    [ "$((served * 2))" -lt "$((chunks * 3))" ] && ok ||
    fail "served ${served:-?} chunks for ${chunks:-?}: it started over"
[ "$(vm_field b version)" = 1.1.0 ] && ok ||
    fail "b version $(vm_field b version), want 1.1.0"
ticking b && ok || fail "b does not tick"
[ "$(vm_field a restarts)" = 0 ] && ok || fail "a restarted"
grep -q 'ota: killed by signal' "$work/daemon.log" && ok ||
    fail "vmrt did not log the kill of vmrt-ota"

ota_finish
