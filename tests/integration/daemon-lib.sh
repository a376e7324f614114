# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
# shellcheck shell=bash
#
# Helpers for the daemon scripts (1x-daemon-*.sh), on top of lib.sh:
# start/stop a `vmrt daemon` on a state dir under $work and run `vmrt ctl`
# against it.  The daemon's stderr goes to $work/daemon.log.

state=$work/state
sock=$state/vmrt.sock
dpid=""

# daemon_start [ARGS...]: start the daemon and wait for its socket.
daemon_start() {
    "$vmrt" daemon --state-dir "$state" --workers 2 "$@" \
        >>"$work/daemon.log" 2>&1 &
    dpid=$!
    local i
    for i in $(seq 1 100); do
        [ -S "$sock" ] && return 0
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.05
    done
    echo "daemon did not come up; log:" >&2
    tail -20 "$work/daemon.log" >&2
    return 1
}

# daemon_stop: SIGTERM and wait (at most 10 s) for a clean exit.
daemon_stop() {
    [ -n "$dpid" ] || return 0
    kill -TERM "$dpid" 2>/dev/null
    local i
    for i in $(seq 1 200); do
        kill -0 "$dpid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$dpid" 2>/dev/null; then
        kill -KILL "$dpid" 2>/dev/null
        wait "$dpid" 2>/dev/null
        dpid=""
        return 1
    fi
    wait "$dpid"
    local st=$?
    dpid=""
    return "$st"
}

ctl() {
    "$vmrt" ctl --socket "$sock" "$@"
}

# expect_rc WANT DESCRIPTION CMD...: run CMD, check its exit status.
expect_rc() {
    local want=$1 what=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then
        ok
    else
        fail "$what: exit $rc, want $want; stderr: $(head -c 300 "$work/err")"
    fi
}

# vm_field NAME FIELD: a field of a VM from `ctl --json list`.
vm_field() {
    ctl --json list | python3 -c '
import json, sys
for v in json.load(sys.stdin):
    if v["name"] == sys.argv[1]:
        print(v[sys.argv[2]])
' "$1" "$2"
}

# wait_state NAME STATE: poll up to 5 s.
wait_state() {
    local i
    for i in $(seq 1 100); do
        [ "$(vm_field "$1" state)" = "$2" ] && return 0
        sleep 0.05
    done
    return 1
}

cleanup_daemon() {
    [ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null
    return 0
}
trap cleanup_daemon EXIT
