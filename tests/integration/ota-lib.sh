# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
# shellcheck shell=bash
#
# Helpers for the OTA scripts (3x-ota-*.sh), on top of lib.sh and
# daemon-lib.sh: a private mosquitto on a free loopback port (its own
# config, persistence off; never the system service), signing keys and
# packages made with vmctl, a device config whose "ota" section makes
# `vmrt daemon` run and supervise vmrt-ota, and fleet-send (the test
# sender, tests/integration/tools/fleet-send.c) to talk to the device.
#
# The programs come from the environment (tests/integration/CMakeLists.txt
# sets them): FLEET_SEND, VMRT_OTA, VMCTL.  Everything started here is
# killed by the EXIT trap, whatever way the script ends.

fleet_send=${FLEET_SEND:?FLEET_SEND: path of fleet-send}
vmrt_ota=${VMRT_OTA:?VMRT_OTA: path of vmrt-ota}
vmctl=${VMCTL:?VMCTL: path of vmctl}
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || {
    echo "$(basename "$0"): mosquitto is not installed" \
        "(bash -c '. scripts/lib/deps.sh; vmf_deps mqtt')" >&2
    exit 1
}
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)

wasm=$(cd "$wasm" && pwd)
work=$(cd "$work" && pwd)
state=$work/state
sock=$state/vmrt.sock
dev=itest-$(basename "$0" .sh | cut -d- -f1)
port=""
broker=""
mosq_pid=""
bg_pids=""

say() {
    echo "--- $*"
}

# poll SECS CMD...: run CMD until it succeeds or SECS seconds pass.
poll() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# now_ms: wall clock in milliseconds (for figures only).
now_ms() {
    echo $(($(date +%s%N) / 1000000))
}

# ---- broker -----------------------------------------------------------

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

# broker_start: start mosquitto on $port (picked once, then kept, so that
# a restart comes back on the same port) and wait until it accepts.  The
# listener's extra lines (TLS) come from $broker_tls; with them the
# device URI is ssl://.  `set_tcp_nodelay` turns Nagle's algorithm off
# on the broker's side, as in deploy/mosquitto/mosquitto.conf: without it
# every chunk of a transfer waits for delayed ACKs (docs/performance.md,
# "OTA update").  `user` keeps a root mosquitto from switching to the
# "mosquitto" user, who could not read this test's files.
broker_start() {
    local try
    for try in 1 2 3; do
        [ -n "$port" ] || port=$(free_port)
        cat >"$work/mosquitto.conf" <<EOF
listener $port 127.0.0.1
${broker_tls:-}
allow_anonymous true
persistence false
max_queued_messages 10000
set_tcp_nodelay true
user $(id -un)
EOF
        "$mosquitto_bin" -c "$work/mosquitto.conf" >>"$work/mosquitto.log" 2>&1 &
        mosq_pid=$!
        if poll 10 port_open && kill -0 "$mosq_pid" 2>/dev/null; then
            broker=tcp://127.0.0.1:$port
            [ -z "${broker_tls:-}" ] || broker=ssl://127.0.0.1:$port
            return 0
        fi
        kill -KILL "$mosq_pid" 2>/dev/null
        wait "$mosq_pid" 2>/dev/null
        mosq_pid=""
        # A restart must keep its port; a first start may pick another.
        [ -n "$broker" ] && sleep 1 || port=""
    done
    echo "mosquitto did not start; log:" >&2
    tail -20 "$work/mosquitto.log" >&2
    return 1
}

broker_stop() {
    [ -n "$mosq_pid" ] || return 0
    kill -TERM "$mosq_pid" 2>/dev/null
    wait "$mosq_pid" 2>/dev/null
    mosq_pid=""
}

# ---- keys and packages ------------------------------------------------

# make_keys: $work/keys/fleet.{key,pub} (trusted) and other.{key,pub}
# (a second pair the device does not know).
make_keys() {
    rm -rf "$work/keys"
    mkdir -p "$work/keys"
    "$vmctl" keys gen -o "$work/keys/fleet" >/dev/null &&
        "$vmctl" keys gen -o "$work/keys/other" >/dev/null
}

# pack VM VERSION MODULE OUT [VMCTL-PACK-OPTIONS...]: a package signed
# with the trusted key (or the one given with --key).
pack() {
    local vm=$1 ver=$2 mod=$3 out=$4
    shift 4
    "$vmctl" pack --vm "$vm" --version "$ver" --key "$work/keys/fleet.key" \
        "$@" "$mod" -o "$out" >/dev/null
}

# ---- device -----------------------------------------------------------

# write_config [OTA-JSON-EXTRA]: the device config with VMs a and b
# (ota_tick 1.0.0), the VMs in $extra_vms if set (JSON objects, comma
# separated), and the "ota" section; OTA-JSON-EXTRA is appended inside
# the section (e.g. '"max_package": 300000,').
write_config() {
    cat >"$work/device.json" <<EOF
{
  "workers": 2,
  "state_dir": "$state",
  "log_ring_bytes": 262144,
  "vms": [
    { "name": "a", "module": "$wasm/ota_tick.wasm", "version": "1.0.0",
      "priority": 4, "args": ["--no-persist"] },
    { "name": "b", "module": "$wasm/ota_tick.wasm", "version": "1.0.0",
      "priority": 8 }${extra_vms:+,
    $extra_vms}
  ],
  "ota": {
    ${1:-}
    "exec": "$vmrt_ota",
    "device_id": "$dev",
    "broker": "$broker",
    "trusted_keys": ["$work/keys/fleet.pub"],
    "args": ["--verbose"]
  }
}
EOF
}

# device_start: vmrt daemon with the config; wait for the boot VMs and
# for the OTA VM's retained state online=true.
device_start() {
    daemon_start --config "$work/device.json" || return 1
    poll 10 eval '[ "$(vm_field a state)" = running ] &&
                  [ "$(vm_field b state)" = running ]' || {
        echo "boot VMs not running: $(ctl list)" >&2
        return 1
    }
    fs state --online --timeout 30 >"$work/state.out" 2>&1 || {
        echo "device $dev not online; state: $(cat "$work/state.out")" >&2
        tail -20 "$work/daemon.log" >&2
        return 1
    }
}

# ota_pids: pids of the vmrt-ota processes of this test's state dir.
ota_pids() {
    pgrep -f -- "--state-dir $state/ota" || true
}

# fs ARGS...: fleet-send against this test's broker and device (with
# the options in $fs_tls, e.g. --ca/--cert/--key, when set).
fs() {
    # shellcheck disable=SC2086 # $fs_tls is a list of options
    "$fleet_send" --broker "$broker" --device "$dev" ${fs_tls:-} "$@"
}

# fs_bg OUT ARGS...: fleet-send in the background, output to OUT; its pid
# is in $fs_pid.
fs_bg() {
    local out=$1
    shift
    fs "$@" >"$out" 2>&1 &
    fs_pid=$!
    bg_pids="$bg_pids $fs_pid"
}

# ---- VM observations --------------------------------------------------

# ticks VM: how many tick windows the VM has logged so far.
ticks() {
    ctl logs "$1" | grep -c "maxgap_us="
}

# ticking VM: the VM logs new tick windows (within 10 s).
ticking() {
    local n
    n=$(ticks "$1")
    poll 10 eval '[ "$(ticks '"$1"')" -gt "$((n + 2))" ]'
}

# max_gap VM FROM TO: the largest maxgap_us of the VM's tick windows
# FROM+1 .. TO (numbers as counted by ticks).
max_gap() {
    ctl logs "$1" | grep "maxgap_us=" | sed -n "$(($2 + 1)),$3p" |
        sed 's/.*maxgap_us=\([0-9]*\).*/\1/' | sort -n | tail -1
}

# progress_at_least OUT PCT: fleet-send's output shows progress >= PCT.
progress_at_least() {
    local p
    p=$(sed -n 's/^event progress \([0-9]*\)%.*/\1/p' "$1" | sort -n |
        tail -1)
    [ -n "$p" ] && [ "$p" -ge "$2" ]
}

# served_count OUT: N of fleet-send's "served N chunks (...)".
served_count() {
    sed -n 's/^served \([0-9]*\) chunks.*/\1/p' "$1" | tail -1
}

# chunk_count OUT: the number of chunks fleet-send said it sent.
chunk_count() {
    sed -n 's/^sent .* in \([0-9]*\) chunks of.*/\1/p' "$1" | head -1
}

cleanup_ota() {
    local p
    for p in $bg_pids; do
        kill -KILL "$p" 2>/dev/null
    done
    [ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null
    for p in $(ota_pids); do
        kill -KILL "$p" 2>/dev/null
    done
    [ -n "$mosq_pid" ] && kill -KILL "$mosq_pid" 2>/dev/null
    return 0
}
trap cleanup_ota EXIT

# ota_finish: stop the device (cleanly: vmrt stops vmrt-ota) and the
# broker, fail on sanitizer reports of vmrt or vmrt-ota (in the daemon's
# log, printed when they exit) or of fleet-send (in the *.out files), and
# finish.
ota_finish() {
    daemon_stop || fail "daemon stop"
    broker_stop
    local f
    for f in "$work/daemon.log" "$work"/*.out; do
        [ -f "$f" ] && grep -q "Sanitizer\|runtime error:" "$f" || continue
        fail "sanitizer report in $f:"
        grep -A12 "Sanitizer\|runtime error:" "$f" | head -40 >&2
    done
    finish
}

# ota_setup [OTA-JSON-EXTRA]: fresh state, broker, keys, config, device.
ota_setup() {
    rm -rf "$state" "$work/daemon.log" "$work/mosquitto.log"
    say "broker, keys, device $dev"
    broker_start || return 1
    make_keys || { echo "vmctl keys gen failed" >&2; return 1; }
    write_config "${1:-}"
    device_start
}

# ---- slow updates (the kill and restart tests) --------------------------

# slow_update_setup MS: ota_setup, b 1.1.0 packed into $work/b.vpk, and
# cs (512-byte chunks: about 70), n (their number) and throttle (ms per
# chunk served) set so that the transfer takes about MS.  Return 1
# (failure recorded) if setup or packing fails.
slow_update_setup() {
    ota_setup || { fail "setup"; return 1; }
    pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b.vpk" ||
        { fail "pack"; return 1; }
    cs=512
    n=$((($(stat -c %s "$work/b.vpk") + cs - 1) / cs))
    throttle=$(($1 / n))
}

# slow_update_until PERCENT: start that update in the background (output
# in $work/update.out) and wait until its progress reaches PERCENT; it must
# not have finished by then.
slow_update_until() {
    fs_bg "$work/update.out" --timeout 180 update --vm b --vpk "$work/b.vpk" \
        --chunk-size "$cs" --throttle-ms "$throttle" --health-ms 500
    poll 60 progress_at_least "$work/update.out" "$1" && ok ||
        fail "no progress >= $1% seen: $(tail -3 "$work/update.out")"
    grep -q '^result' "$work/update.out" &&
        fail "the update finished before $1% could be acted on (too fast)"
}
