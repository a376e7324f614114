# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
# shellcheck shell=bash
#
# Helpers for the fleet scripts (4x-fleet-*.sh), on top of lib.sh,
# daemon-lib.sh and ota-lib.sh (broker, keys, packages, poll): the real
# server vmctld with its own data dir and config, several devices (each
# a `vmrt daemon` with its own state dir, supervising its vmrt-ota), and
# vmctl talking to vmctld's HTTP API.  Everything runs on loopback; the
# EXIT trap kills what is left, by pid.
#
# Programs from the environment: VMCTLD (and FLEET_SEND, VMRT_OTA, VMCTL
# as ota-lib.sh wants them).

vmctld=${VMCTLD:?VMCTLD: path of vmctld}
api=""          # http://127.0.0.1:PORT
token=operator-token-0123456789
viewer_token=viewer-token-0123456789
ctld_pid=""
dev_pids=""
# The VMs of a device started by fdevice_start (JSON objects, comma
# separated); the default is a and b, ota_tick 1.0.0, both --no-persist.
fleet_vms=""

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

# fvm_field DEV VM FIELD: a field of a VM from `vmrt ctl --json list`
# (nothing if there is no such VM).
fvm_field() {
    fctl "$1" --json list 2>/dev/null | python3 -c '
import json, sys
for v in json.load(sys.stdin):
    if v["name"] == sys.argv[1]:
        print(v[sys.argv[2]])
' "$2" "$3" 2>/dev/null
}

# fwait_state DEV VM STATE [SECS]: until the VM is in STATE (default
# 10 s).
fwait_state() {
    local fw_d=$1 fw_vm=$2 fw_st=$3
    poll "${4:-10}" eval '[ "$(fvm_field "$fw_d" "$fw_vm" state)" = "$fw_st" ]'
}

# fticks DEV VM: how many tick windows (ota_tick) the VM logged so far.
fticks() {
    fctl "$1" logs "$2" | grep -c "maxgap_us="
}

# fticking DEV VM: the VM logs new tick windows (within 10 s).
fticking() {
    local ft_d=$1 ft_vm=$2 ft_n
    ft_n=$(fticks "$1" "$2")
    poll 10 eval '[ "$(fticks "$ft_d" "$ft_vm")" -gt "$((ft_n + 2))" ]'
}

# fota_pid DEV: the pid of the device's current vmrt-ota (from vmrt's
# log line "ota: started pid N").
fota_pid() {
    sed -n 's/.*ota: started pid \([0-9]*\):.*/\1/p' \
        "$(fdir "$1")/daemon.log" 2>/dev/null | tail -1
}

# fdevice_config DEV [LABELS-JSON] [OTA-JSON-EXTRA]: write the device's
# config (VMs from $fleet_vms, else a and b running ota_tick 1.0.0 with
# --no-persist) whose OTA VM reports the labels (default
# {"site": "lab"}).  Keeps an existing state dir.
fdevice_config() {
    local d=$1 labels=${2:-'{"site": "lab"}'} extra=${3:-} dir vms
    dir=$(fdir "$d")
    mkdir -p "$dir"
    vms=${fleet_vms:-"{ \"name\": \"a\", \"module\": \"$wasm/ota_tick.wasm\",
      \"version\": \"1.0.0\", \"priority\": 4, \"args\": [\"--no-persist\"] },
    { \"name\": \"b\", \"module\": \"$wasm/ota_tick.wasm\",
      \"version\": \"1.0.0\", \"priority\": 8, \"args\": [\"--no-persist\"] }"}
    cat >"$dir/device.json" <<EOF2
{
  "workers": 2,
  "state_dir": "$dir/state",
  "log_ring_bytes": 262144,
  "vms": [
    $vms
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
}

# fdevice_run DEV: start the device from its config (and its existing
# state) and wait for its socket.
fdevice_run() {
    local d=$1 dir pid
    dir=$(fdir "$d")
    # A socket left from an earlier run would look like this one's.
    rm -f "$dir/state/vmrt.sock"
    "$vmrt" daemon --config "$dir/device.json" >>"$dir/daemon.log" 2>&1 &
    pid=$!
    dev_pids="$dev_pids $pid"
    echo "$pid" >"$dir/pid"
    poll 10 eval '[ -S "$dir/state/vmrt.sock" ] ||
                  ! kill -0 '"$pid"' 2>/dev/null' &&
        kill -0 "$pid" 2>/dev/null || {
        echo "device $d did not come up:" >&2
        tail -20 "$dir/daemon.log" >&2
        return 1
    }
}

# fdevice_start DEV [LABELS-JSON] [OTA-JSON-EXTRA]: a fresh device (new
# state dir) from fdevice_config; wait until its boot VMs run and, when
# vmctld runs, until vmctld reports it online.
fdevice_start() {
    local d=$1 dir names n
    dir=$(fdir "$d")
    rm -rf "$dir"
    fdevice_config "$@"
    fdevice_run "$d" || return 1
    names=$(python3 -c '
import json, sys
print(" ".join(v["name"] for v in json.load(open(sys.argv[1]))["vms"]))
' "$dir/device.json")
    for n in $names; do
        fwait_state "$d" "$n" running || {
            echo "device $d: VM $n not running: $(fctl "$d" list)" >&2
            return 1
        }
    done
    [ -z "$ctld_pid" ] || fdevice_wait_online "$d"
}

# fdevice_wait_online DEV [SECS]: until vmctld reports the device online
# with all its VMs (default 30 s).
fdevice_wait_online() {
    local n
    n=$(python3 -c 'import json, sys
print(len(json.load(open(sys.argv[1]))["vms"]))' "$(fdir "$1")/device.json")
    poll "${2:-30}" device_online "$1" "$n" || {
        echo "vmctld does not see device $1 online:" \
            "$(vc --json device show "$1" 2>&1 | head -c 600)" >&2
        return 1
    }
}

# fdevice_stop DEV: SIGTERM the device's vmrt (which stops its vmrt-ota)
# and wait for both; return 1 if it had to be killed.
fdevice_stop() {
    local pid opid st=0
    pid=$(cat "$(fdir "$1")/pid" 2>/dev/null) || return 0
    opid=$(fota_pid "$1")
    kill -TERM "$pid" 2>/dev/null
    poll 15 eval "! kill -0 $pid 2>/dev/null" ||
        { kill -KILL "$pid" 2>/dev/null; st=1; }
    wait "$pid" 2>/dev/null
    # vmrt stops its vmrt-ota on the way out; make sure.
    if [ -n "$opid" ] && kill -0 "$opid" 2>/dev/null; then
        poll 5 eval "! kill -0 $opid 2>/dev/null" ||
            { kill -KILL "$opid" 2>/dev/null; st=1; }
    fi
    rm -f "$(fdir "$1")/pid"
    return "$st"
}

# ---- vmctld -------------------------------------------------------------

# ctld_started: how many times vmctld logged its start.
ctld_started() {
    grep -c " started (pid " "$work/vmctld.log" 2>/dev/null
}

# ctld_up: vmctld logged one more start since $ctld_starts (and runs).
ctld_up() {
    kill -0 "$ctld_pid" 2>/dev/null &&
        [ "$(ctld_started)" -gt "${ctld_starts:-0}" ]
}

# vmctld_start: write $work/vmctld.json (unless it exists: a restart
# keeps it) and start vmctld on the data dir $work/ctld; wait until its
# API answers.  Its log is $work/vmctld.log; $api is its URL.
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
  "rollouts": { "health_window_ms": 1000, "device_timeout_s": 120 },
  "log": { "level": "debug" }
}
EOF2
    ctld_starts=$(ctld_started)
    "$vmctld" -c "$work/vmctld.json" >>"$work/vmctld.log" 2>&1 &
    ctld_pid=$!
    # The URL is in the startup line: "... started (pid N): api URL, ...".
    poll 20 ctld_up || {
        echo "vmctld did not start:" >&2
        tail -20 "$work/vmctld.log" >&2
        return 1
    }
    api=$(sed -n 's/.* started (pid [0-9]*): api \(https\?:[^,]*\),.*/\1/p' \
        "$work/vmctld.log" | tail -1)
    [ -n "$api" ] || { echo "no API URL in vmctld's log" >&2; return 1; }
    poll 10 eval 'vc info >/dev/null 2>&1'
}

# vmctld_stop: SIGTERM, wait for a clean exit; return its status (1 if
# it had to be killed).
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

# vmctld_kill: SIGKILL vmctld (no clean stop) and reap it.
vmctld_kill() {
    [ -n "$ctld_pid" ] || return 0
    kill -KILL "$ctld_pid" 2>/dev/null
    wait "$ctld_pid" 2>/dev/null
    ctld_pid=""
}

# vc ARGS...: vmctl against this vmctld as the operator.  In a sanitizer
# build its reports go to $work/san/vmctl.PID (fleet_finish looks there),
# as its stderr is often captured or piped away.
vc() {
    local lp=log_path=$work/san/vmctl
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$lp" \
        UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}$lp" \
        "$vmctl" --server "$api" --token "$token" "$@"
}

# jq_py EXPR: evaluate the Python expression EXPR on the JSON document on
# stdin (as `d`) and print the result (JSON for lists and objects, else
# as text); exit 1 if the input is not JSON or EXPR fails.
jq_py() {
    python3 -c '
import json, sys
d = json.load(sys.stdin)
r = eval(sys.argv[1])
print(json.dumps(r) if isinstance(r, (dict, list)) else r)
' "$1" 2>/dev/null
}

# device_online DEV [NVMS]: vmctld reports the device online (with at
# least NVMS VMs, when given).
device_online() {
    vc --json device show "$1" 2>/dev/null |
        jq_py 'd["online"] is True and len(d.get("vms") or []) >= '"${2:-0}" |
        grep -qx True
}

# device_vm_field DEV VM FIELD: a VM's field as vmctld knows it.
device_vm_field() {
    vc --json device show "$1" 2>/dev/null |
        jq_py '[v for v in d["vms"] if v["name"] == "'"$2"'"][0]["'"$3"'"]'
}

# rollout_field ID EXPR: EXPR on `vmctl --json rollout show ID` (as d).
rollout_field() {
    vc --json rollout show "$1" 2>/dev/null | jq_py "$2"
}

# rollout_dev ID DEV FIELD: a field of one device's row in a rollout.
rollout_dev() {
    rollout_field "$1" '[x["'"$3"'"] for x in d["devices"]
                         if x["device"] == "'"$2"'"][0]'
}

cleanup_fleet() {
    local p d
    [ -n "$ctld_pid" ] && kill -KILL "$ctld_pid" 2>/dev/null
    for d in "$work"/dev-*; do
        [ -d "$d" ] || continue
        p=$(fota_pid "${d##*/dev-}")
        [ -n "$p" ] && kill -KILL "$p" 2>/dev/null
    done
    for p in $dev_pids; do
        kill -KILL "$p" 2>/dev/null
    done
    cleanup_ota
}
trap cleanup_fleet EXIT

# fleet_setup: fresh work dir contents, broker, keys, vmctld.
fleet_setup() {
    rm -rf "$work"/dev-* "$work/ctld" "$work/vmctld.json" "$work/san" \
        "$work/vmctld.log" "$work/mosquitto.log" "$work"/*.out \
        "$work"/*.err
    mkdir -p "$work/san"
    say "broker, keys, vmctld"
    broker_start || return 1
    make_keys || { echo "vmctl keys gen failed" >&2; return 1; }
    vmctld_start
}

# fleet_finish: stop vmctld and the devices cleanly, fail on sanitizer
# reports in any log (vmctld's, vmrt's with vmrt-ota's, vmctl's in
# $work/san and in the *.out and *.err files), and finish.
fleet_finish() {
    vmctld_stop || fail "vmctld did not stop cleanly"
    local d f
    for d in "$work"/dev-*; do
        [ -d "$d" ] || continue
        fdevice_stop "${d##*/dev-}" || fail "device ${d##*/dev-} did not" \
            "stop cleanly"
    done
    broker_stop
    for f in "$work/vmctld.log" "$work"/dev-*/daemon.log "$work"/*.out \
        "$work"/*.err "$work"/san/*; do
        [ -f "$f" ] && grep -q "Sanitizer\|runtime error:" "$f" || continue
        fail "sanitizer report in $f:"
        grep -A12 "Sanitizer\|runtime error:" "$f" | head -40 >&2
    done
    finish
}
