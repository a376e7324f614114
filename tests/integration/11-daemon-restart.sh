#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 11-daemon-restart: the VMs survive a daemon restart (which exist, their
# version, which were suspended); boot VMs from --config are created once
# and kept; -n checks a config; a bad config exits 2 naming file:line; a
# SIGHUP with a bad config keeps the running one, a good one applies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

ticker=$wasm/ctl_ticker.wasm
rm -rf "$state" "$work/daemon.log"
cp "$ticker" "$work/ticker.wasm"
cat >"$work/good.json" <<JSON
{
  "vms": [
    { "name": "boot1", "module": "ticker.wasm", "version": "3.0.0",
      "priority": 2 }
  ]
}
JSON
cat >"$work/bad.json" <<JSON
{
  "vms": [
    { "name": "boot1", "module": "ticker.wasm",
      "priority": 99 }
  ]
}
JSON

expect_rc 0 "-n good config" "$vmrt" daemon -n --config "$work/good.json"
expect_rc 2 "-n bad config" "$vmrt" daemon -n --config "$work/bad.json"
grep -q "bad.json:[0-9]*:.*priority" "$work/err" && ok ||
    fail "bad config error does not name file:line and key: $(cat "$work/err")"

cp "$work/good.json" "$work/live.json"
daemon_start --config "$work/live.json" || { fail "daemon start"; finish; }
wait_state boot1 running && ok || fail "boot VM not running"
[ "$(vm_field boot1 version)" = 3.0.0 ] && ok || fail "boot VM version"
expect_rc 0 "create a" ctl create a --module "$ticker" --version 1.0.0
expect_rc 0 "start a" ctl start a
expect_rc 0 "create b" ctl create b --module "$ticker" --version 2.0.0
expect_rc 0 "start b" ctl start b
expect_rc 0 "suspend b" ctl suspend b

# SIGHUP with a broken config: logged with file:line, nothing changes.
cp "$work/bad.json" "$work/live.json"
kill -HUP "$dpid"
sleep 0.3
kill -0 "$dpid" && ok || fail "daemon died on a bad SIGHUP"
grep -q "live.json:[0-9]*:.*priority" "$work/daemon.log" && ok ||
    fail "bad SIGHUP config not logged with file:line"
# A good one with a new boot VM: applied.
sed 's/"boot1", "module": "ticker.wasm", "version": "3.0.0"/"boot2", "module": "ticker.wasm", "version": "4.0.0"/' \
    "$work/good.json" >"$work/live.json"
kill -HUP "$dpid"
sleep 0.5
[ "$(vm_field boot2 version)" = 4.0.0 ] && ok ||
    fail "SIGHUP did not create the new boot VM"
daemon_stop && ok || fail "clean stop 1"

daemon_start --config "$work/live.json" || { fail "daemon restart"; finish; }
[ "$(vm_field a version)" = 1.0.0 ] && ok || fail "a lost its version"
[ "$(vm_field b state)" = suspended ] && ok ||
    fail "b not suspended after restart: $(vm_field b state)"
[ -n "$(vm_field boot1 state)" ] && ok || fail "boot1 missing"
n=$(ctl --json list | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 4 ] && ok || fail "want 4 VMs after restart, got $n"
grep -q "boot2: exists" "$work/daemon.log" && ok ||
    fail "existing boot VM not reported as kept"
expect_rc 0 "resume b" ctl resume b
expect_rc 0 "destroy needs stop: stop a" ctl stop a
expect_rc 0 "destroy a" ctl destroy a
daemon_stop && ok || fail "clean stop 2"
finish
