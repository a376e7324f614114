#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 10-daemon-lifecycle: `vmrt daemon --state-dir` alone comes up with a
# socket in the state dir; `vmrt ctl` drives create/start/suspend/resume/
# stop/destroy, --json list parses and has every documented field, illegal
# transitions exit 1 and change nothing, usage errors exit 2, no daemon
# exits 3, logs show the program's stdout.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

ticker=$wasm/ctl_ticker.wasm
rm -rf "$state" "$work/daemon.log"

expect_rc 3 "ctl without a daemon" ctl list
expect_rc 0 "daemon --help" "$vmrt" daemon --help
expect_rc 2 "daemon bad option" "$vmrt" daemon --bogus

daemon_start || { fail "daemon start"; finish; }
if [ "$(stat -c %a "$sock")" = 600 ]; then ok; else
    fail "socket mode $(stat -c %a "$sock"), want 600"; fi

expect_rc 0 "empty list" ctl list
expect_rc 0 "create" ctl create t1 --module "$ticker" --priority 4 \
    --memory-pages 4 --slice-us 2000 --version 1.2.0 -- world
expect_rc 1 "create twice" ctl create t1 --module "$ticker"
grep -q EXISTS "$work/err" && ok || fail "create twice: no EXISTS code"
expect_rc 2 "create without --module" ctl create t2
expect_rc 1 "create from a missing file" ctl create t2 --module /nonexistent

[ "$(vm_field t1 state)" = created ] && ok || fail "t1 not created"
expect_rc 1 "suspend a created VM" ctl suspend t1
[ "$(vm_field t1 state)" = created ] && ok ||
    fail "illegal suspend changed the state"

expect_rc 0 "start" ctl start t1
wait_state t1 running && ok || fail "t1 not running"
sleep 0.3
# The JSON has every documented field with the right types.
if ctl --json list | python3 -c '
import json, sys
vms = json.load(sys.stdin)
v = [v for v in vms if v["name"] == "t1"][0]
for k, t in (("name", str), ("state", str), ("version", str),
             ("uptime_ms", int), ("memory_bytes", int), ("cpu_ms", int),
             ("restarts", int)):
    assert isinstance(v[k], t), k
assert v["version"] == "1.2.0", v
assert v["memory_bytes"] > 0, v
assert v["uptime_ms"] > 0, v
'; then ok; else fail "--json list fields"; fi

expect_rc 0 "suspend" ctl suspend t1
[ "$(vm_field t1 state)" = suspended ] && ok || fail "t1 not suspended"
expect_rc 1 "suspend twice" ctl suspend t1
expect_rc 0 "resume" ctl resume t1
[ "$(vm_field t1 state)" = running ] && ok || fail "t1 not resumed"

sleep 0.2
ctl logs t1 >"$work/logs" 2>&1
grep -q "hello world" "$work/logs" && ok || fail "logs: no 'hello world'"
grep -q "tick 1" "$work/logs" && ok || fail "logs: no ticks"

expect_rc 0 "stop" ctl stop t1
[ "$(vm_field t1 state)" = stopped ] && ok || fail "t1 not stopped"
expect_rc 0 "restart from stopped" ctl restart t1
wait_state t1 running && ok || fail "t1 not running after restart"
expect_rc 0 "stop again" ctl stop t1
expect_rc 0 "destroy" ctl destroy t1
[ -z "$(vm_field t1 state)" ] && ok || fail "t1 still listed"

expect_rc 1 "start unknown" ctl start nobody
grep -q NOT_FOUND "$work/err" && ok || fail "unknown VM: no NOT_FOUND"
expect_rc 1 "--json error" ctl --json start nobody
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["code"]=="NOT_FOUND"' \
    "$work/out" && ok || fail "--json error is not JSON with a code"
expect_rc 2 "unknown ctl command" ctl frobnicate
expect_rc 2 "missing NAME" ctl start

# Another uid cannot use the socket (mode 0600 and peer credentials).
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    expect_rc 3 "other uid refused" setpriv --reuid=65534 --regid=65534 \
        --clear-groups "$vmrt" ctl --socket "$sock" list
fi

daemon_stop && ok || fail "daemon did not exit cleanly on SIGTERM"
[ -e "$sock" ] && fail "socket left behind" || ok
finish
