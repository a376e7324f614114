#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# bench/ota/sleep.sh [-n SLEEPS] [--work DIR] BUILD_DIR
#
# How late a 1 ms sleep wakes up, natively and inside vmrt: the question
# behind the OTA ticker's largest gap (bench/ota/run.sh).  Runs the probe
# sleep_lat (bench/ota/sleep_lat.c) SLEEPS times (default 5000) in each of
# these set-ups and prints its line per set-up:
#
#   native        BUILD/bin/sleep_lat, straight on the host OS
#   vm            sleep_lat.wasm as the only VM of a `vmrt daemon`
#   vm+pwrite     the same, storing a timestamp per tick as ota_tick does
#   vm+ticker     next to ota_tick in a second VM at a lower priority (the
#                 OTA tests' device: its 1 ms ticks and log lines)
#
# Then, per CPU, `sleep_lat spin`: a busy loop's stalls over 1 s.
# Lateness = wake-up time minus the 1 ms asked for, in microseconds.
# Builds nothing: BUILD_DIR needs bin/vmrt, bin/sleep_lat and sdk/ with
# sleep_lat.wasm and ota_tick.wasm.
#
# Exit status: 0 all set-ups ran; 1 one failed; 2 usage.
set -uo pipefail

n=5000
work=""
while [ $# -gt 0 ]; do
    case "$1" in
    -n)
        [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] && [ "$2" -le 200000 ] || {
            echo "bench/ota/sleep.sh: -n: '${2:-}' is not 1..200000" >&2
            exit 2
        }
        n=$2
        shift 2
        ;;
    --work)
        [ $# -ge 2 ] || {
            echo "bench/ota/sleep.sh: --work needs a directory" >&2
            exit 2
        }
        work=$2
        shift 2
        ;;
    -h | --help)
        sed -n '5,23p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "bench/ota/sleep.sh: unknown option $1 (see --help)" >&2
        exit 2
        ;;
    *) break ;;
    esac
done
if [ $# -ne 1 ]; then
    echo "usage: bench/ota/sleep.sh [-n SLEEPS] [--work DIR] BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || {
    echo "bench/ota/sleep.sh: BUILD_DIR '$1' does not exist" >&2
    exit 2
}
vmrt=$build/bin/vmrt
for f in "$vmrt" "$build/bin/sleep_lat" "$build/sdk/sleep_lat.wasm" \
    "$build/sdk/ota_tick.wasm"; do
    [ -f "$f" ] || {
        echo "bench/ota/sleep.sh: $f is missing: build $build first" >&2
        exit 2
    }
done
[ -n "$work" ] || work=$build/bench-sleep
mkdir -p "$work" || exit 2
work=$(cd "$work" && pwd)
dpid=""
trap '[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null' EXIT

ctl() {
    "$vmrt" ctl --socket "$work/state/vmrt.sock" "$@"
}

# daemon_up: a fresh `vmrt daemon` on $work/state; wait for its socket.
daemon_up() {
    local i
    rm -rf "$work/state"
    "$vmrt" daemon --state-dir "$work/state" --workers 2 \
        >"$work/daemon.log" 2>&1 &
    dpid=$!
    for i in $(seq 1 100); do
        [ -S "$work/state/vmrt.sock" ] && return 0
        sleep 0.05
    done
    echo "bench/ota/sleep.sh: the daemon did not come up:" >&2
    tail -5 "$work/daemon.log" >&2
    return 1
}

daemon_down() {
    kill -TERM "$dpid" 2>/dev/null
    wait "$dpid" 2>/dev/null
    dpid=""
}

# in_vm SETUP [ARG...]: run the probe as VM "lat" (priority 4) with ARGs
# after SLEEPS and 1000 us; with SETUP "ticker", ota_tick runs as VM "b"
# (priority 8) beside it.  Prints the probe's line.
in_vm() {
    local setup=$1 end line
    shift
    daemon_up || return 1
    if [ "$setup" = ticker ]; then
        ctl create b --module "$build/sdk/ota_tick.wasm" --priority 8 \
            >/dev/null && ctl start b >/dev/null || return 1
    fi
    ctl create lat --module "$build/sdk/sleep_lat.wasm" --priority 4 \
        -- "$n" 1000 "$@" >/dev/null && ctl start lat >/dev/null || return 1
    end=$((SECONDS + n / 100 + 60))
    while [ "$SECONDS" -lt "$end" ]; do
        line=$(ctl logs lat | grep '^sleep_lat ')
        [ -n "$line" ] && break
        sleep 0.5
    done
    daemon_down
    [ -n "$line" ] || {
        echo "bench/ota/sleep.sh: $setup: no result from the probe" >&2
        return 1
    }
    echo "$line"
}

# show SETUP LINE: the probe's figures as one table row.
show() {
    echo "$2" | awk -v s="$1" '{
        for (i = 1; i <= NF; i++) {
            split($i, kv, "=")
            v[kv[1]] = kv[2]
        }
        printf "%-11s %6s %6s %6s %7s %6s %6s %6s %6s\n", s, v["p50"],
            v["p90"], v["p99"], v["p99.9"], v["max"], v["over_1ms"],
            v["over_2ms"], v["over_10ms"]
    }'
}

echo "machine: $(nproc) cores, load average" \
    "$(uptime | sed 's/.*load average: //'), $n sleeps of 1 ms per set-up"
printf "%-11s %6s %6s %6s %7s %6s %6s %6s %6s\n" set-up p50 p90 p99 p99.9 \
    max '>1ms' '>2ms' '>10ms'
st=0
line=$(cd "$work" && "$build/bin/sleep_lat" "$n" 1000) && show native "$line" ||
    st=1
line=$(in_vm alone) && show vm "$line" || st=1
line=$(in_vm alone pwrite) && show vm+pwrite "$line" || st=1
line=$(in_vm ticker) && show vm+ticker "$line" || st=1
echo "(late by, in us; >Nms: how many of the sleeps)"
# What the machine itself does to a thread that never sleeps: a busy loop
# per CPU counting the steps of the clock over 100 us (see sleep_lat.c).
for cpu in $(seq 0 $(($(nproc) - 1))); do
    line=$(taskset -c "$cpu" "$build/bin/sleep_lat" spin 1000) || st=1
    echo "cpu $cpu busy loop, 1 s: ${line#sleep_lat spin ms=1000 }"
done
exit "$st"
