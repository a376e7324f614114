# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
# shellcheck shell=bash
#
# Helpers for the fleet scripts (4x-fleet-*.sh), on top of lib.sh,
# daemon-lib.sh and ota-lib.sh (broker, keys, packages, poll): the real
# server vmctld with its own data dir and config, several devices (each
# a `vmrt daemon` with its own state dir, supervising its vmrt-ota), and
# vmctl talking to vmctld's HTTP API.  Everything runs on loopback; the
# EXIT trap kills what is left.
#
# Programs from the environment: VMCTLD (and FLEET_SEND, VMRT_OTA, VMCTL
# as ota-lib.sh wants them).

vmctld=${VMCTLD:?VMCTLD: path of vmctld}
api=""          # http://127.0.0.1:PORT
token=operator-token-0123456789
viewer_token=viewer-token-0123456789
ctld_pid=""
dev_pids=""

# fdir DEV: a device's directory under $work.
fdir() {
    echo "$work/dev-$1"
}

# fctl DEV ARGS...: `vmrt ctl` on that device.
fctl() {
    local d=$1
    shift
    "$vmrt" ctl --socket "$(fdir "$d")/state/vmrt.sock" "$@"
}

# fvm_field DEV VM FIELD: a field of a VM from `vmrt ctl --json list`.
fvm_field() {
    fctl "$1" --json list | python3 -c '
import json, sys
for v in json.load(sys.stdin):
    if v["name"] == sys.argv[1]:
        print(v[sys.argv[2]])
' "$2" "$3"
}

# fdevice_start DEV [LABELS-JSON] [OTA-JSON-EXTRA]: a device running VMs
# a and b (ota_tick 1.0.0, a with --no-persist) and its OTA VM, whose
# state reports the labels (default {"site": "lab"}).
fdevice_start() {
    local d=$1 labels=${2:-'{"site": "lab"}'} extra=${3:-} dir
    dir=$(fdir "$d")
    rm -rf "$dir"
    mkdir -p "$dir"
    cat >"$dir/device.json" <<EOF2
{
  "workers": 2,
  "state_dir": "$dir/state",
  "log_ring_bytes": 262144,
  "vms": [
    { "name": "a", "module": "$wasm/ota_tick.wasm", "version": "1.0.0",
      "priority": 4, "args": ["--no-persist"] },
    { "name": "b", "module": "$wasm/ota_tick.wasm", "version": "1.0.0",
      "priority": 8, "args": ["--no-persist"] }
  ],
  "ota": {
    $extra
    "exec": "$vmrt_ota",
    "device_id": "$d",
    "broker": "$broker",
    "labels": $labels,
    "trusted_keys": ["$work/keys/fleet.pub"],
    "args": ["--verbose"]
  }
}
EOF2
    "$vmrt" daemon --config "$dir/device.json" >>"$dir/daemon.log" 2>&1 &
    local pid=$!
    dev_pids="$dev_pids $pid"
    echo "$pid" >"$dir/pid"
    poll 10 test -S "$dir/state/vmrt.sock" || {
        echo "device $d did not come up:" >&2
        tail -20 "$dir/daemon.log" >&2
        return 1
    }
}

# fdevice_stop DEV: SIGTERM the device's vmrt (which stops its vmrt-ota).
fdevice_stop() {
    local pid
    pid=$(cat "$(fdir "$1")/pid" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null
    poll 10 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    rm -f "$(fdir "$1")/pid"
}

# vmctld_start: write $work/vmctld.json and start vmctld; wait until its
# API answers.  Its log is $work/vmctld.log.
vmctld_start() {
    mkdir -p "$work/ctld"
    [ -f "$work/vmctld.json" ] || cat >"$work/vmctld.json" <<EOF2
{
  "mqtt": { "uri": "$broker", "client_id": "vmctld-$$" },
  "http": { "listen": "127.0.0.1:0" },
  "tokens": [ { "name": "ops", "role": "operator", "token": "$token" },
              { "name": "watch", "role": "viewer",
                "token": "$viewer_token" } ],
  "storage": { "data_dir": "$work/ctld" },
  "trust": { "keys": ["$work/keys/fleet.pub"] },
  "rollouts": { "health_window_ms": 2000, "device_timeout_s": 120 },
  "log": { "level": "debug" }
}
EOF2
    : >"$work/vmctld.port"
    "$vmctld" -c "$work/vmctld.json" >>"$work/vmctld.log" 2>&1 &
    ctld_pid=$!
    # The port is in the startup line: "... listening on http://HOST:PORT".
    poll 15 eval 'grep -q "listening on http" "$work/vmctld.log"' || {
        echo "vmctld did not start:" >&2
        tail -20 "$work/vmctld.log" >&2
        return 1
    }
    api=$(grep -o 'listening on https\?://[^ ]*' "$work/vmctld.log" |
        tail -1 | sed 's/^listening on //')
    poll 10 curl -sf "$api/healthz" -o /dev/null
}

# vmctld_stop: SIGTERM, wait for a clean exit; return its status.
vmctld_stop() {
    [ -n "$ctld_pid" ] || return 0
    kill -TERM "$ctld_pid" 2>/dev/null
    local st=0
    poll 15 eval "! kill -0 $ctld_pid 2>/dev/null" ||
        { kill -KILL "$ctld_pid"; st=1; }
    wait "$ctld_pid" 2>/dev/null || st=$?
    ctld_pid=""
    return "$st"
}

# vc ARGS...: vmctl against this vmctld as the operator.
vc() {
    "$vmctl" --server "$api" --token "$token" "$@"
}

# device_online DEV: vmctld reports the device online.
device_online() {
    vc --json device show "$1" 2>/dev/null |
        python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["online"] else 1)'
}

cleanup_fleet() {
    local p
    [ -n "$ctld_pid" ] && kill -KILL "$ctld_pid" 2>/dev/null
    for p in $dev_pids; do
        kill -KILL "$p" 2>/dev/null
    done
    pkill -KILL -f -- "--state-dir $work/dev-" 2>/dev/null
    cleanup_ota
}
trap cleanup_fleet EXIT

# fleet_finish: stop vmctld and the devices cleanly, fail on sanitizer
# reports in any log, and finish.
fleet_finish() {
    vmctld_stop || fail "vmctld did not stop cleanly"
    local d f
    for d in "$work"/dev-*; do
        [ -d "$d" ] && fdevice_stop "${d##*/dev-}"
    done
    broker_stop
    for f in "$work/vmctld.log" "$work"/dev-*/daemon.log "$work"/*.out; do
        [ -f "$f" ] && grep -q "Sanitizer\|runtime error:" "$f" || continue
        fail "sanitizer report in $f:"
        grep -A12 "Sanitizer\|runtime error:" "$f" | head -40 >&2
    done
    finish
}
