#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# bench/ota/run.sh [-n RUNS] [--health-ms N] [--idle-s S] [--work DIR] BUILD
#
# The scenario of tests/integration/31-ota-update.sh, repeated: VMs a and
# b run ota_tick (tick every 1 ms, log the largest gap per 100 ms window)
# under `vmrt daemon` supervising vmrt-ota, with a private mosquitto and
# fleet-send standing in for vmctld.  Each of RUNS rounds (default 10)
# first measures a for S seconds with nothing going on (default 2), then
# updates b four times: packages whose module is 256 KiB and 4 MiB (the
# ota_tick image padded with a custom section), each with chunks of
# 16 KiB and 64 KiB (vmrt-ota's default window of 8 chunks in flight) and
# a health window of N ms (default 1000, as in 31).  During an update, a
# is measured from just before the command until 0.3 s after the result.
#
# Prints a table: per case, a's largest gap (max and median of the
# per-round largest), the p99 of all 100 ms window maxima, b's downtime
# (as the new image logs it: median, max), the end-to-end time (command
# sent .. final result, median) and the transfer throughput (package
# bytes / time from the first to the 100% progress event, median).
# Raw numbers go to WORK/raw.tsv.  Builds nothing: BUILD is a build dir
# with vmrt, vmrt-ota, vmctl, fleet-send and the guest programs (sdk/);
# VMRT=path runs another vmrt binary (e.g. a copy from before a change).
#
# Exit status: 0 all updates OK; 1 setup failed or an update did not end
# OK (the table still shows the rest); 2 usage.
set -uo pipefail

usage() {
    sed -n '5,28p' "$0" | sed 's/^# \{0,1\}//'
}

runs=10
health_ms=1000
idle_s=2
work=""
while [ $# -gt 0 ]; do
    case "$1" in
    -n | --runs | --health-ms | --idle-s | --work)
        [ $# -ge 2 ] || {
            echo "bench/ota/run.sh: $1 needs a value" >&2
            exit 2
        }
        case "$1" in
        -n | --runs)
            [[ "$2" =~ ^[1-9][0-9]*$ ]] || {
                echo "bench/ota/run.sh: $1: '$2' is not a count >= 1" >&2
                exit 2
            }
            runs=$2
            ;;
        --health-ms)
            [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] &&
                [ "$2" -le 600000 ] || {
                echo "bench/ota/run.sh: --health-ms: '$2' is not" \
                    "1..600000" >&2
                exit 2
            }
            health_ms=$2
            ;;
        --idle-s)
            [[ "$2" =~ ^[1-9][0-9]*$ ]] || {
                echo "bench/ota/run.sh: --idle-s: '$2' is not" \
                    "a number of seconds >= 1" >&2
                exit 2
            }
            idle_s=$2
            ;;
        --work) work=$2 ;;
        esac
        shift 2
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    -*)
        echo "bench/ota/run.sh: unknown option $1 (see --help)" >&2
        exit 2
        ;;
    *) break ;;
    esac
done
if [ $# -ne 1 ]; then
    echo "usage: bench/ota/run.sh [-n RUNS] [--health-ms N] [--idle-s S]" \
        "[--work DIR] BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" 2>/dev/null && pwd) || {
    echo "bench/ota/run.sh: BUILD_DIR '$1' does not exist" >&2
    exit 2
}
root=$(cd "$(dirname "$0")/../.." && pwd)
itest=$root/tests/integration
export FLEET_SEND=$build/tests/integration/tools/fleet-send
export VMRT_OTA=$build/bin/vmrt-ota
export VMCTL=$build/bin/vmctl
vmrt_bin=${VMRT:-$build/bin/vmrt}
for f in "$vmrt_bin" "$FLEET_SEND" "$VMRT_OTA" "$VMCTL" \
    "$build/sdk/ota_tick.wasm" "$build/sdk/ota_tick_v110.wasm"; do
    [ -x "$f" ] || [ -f "$f" ] || {
        echo "bench/ota/run.sh: $f is missing: build $build first" \
            "(cmake --build $build)" >&2
        exit 2
    }
done
[ -n "$work" ] || work=$build/bench-ota
mkdir -p "$work" || exit 2

# The integration helpers take VMRT WASM_DIR WORK_DIR as $1..$3 and give
# us the broker, keys, device and VM observations (ota-lib.sh), and an
# EXIT trap that kills whatever they started.
set -- "$vmrt_bin" "$build/sdk" "$work"
# shellcheck source=tests/integration/lib.sh
. "$itest/lib.sh"
# shellcheck source=tests/integration/daemon-lib.sh
. "$itest/daemon-lib.sh"
# shellcheck source=tests/integration/ota-lib.sh
. "$itest/ota-lib.sh"

raw=$work/raw.tsv
failed=0

# pad_module IN OUT BYTES: IN with a custom section "bench-pad" of random
# bytes appended, so that OUT is exactly BYTES long.
pad_module() {
    python3 - "$1" "$2" "$3" <<'EOF'
import os, sys

def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

src, dst, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
mod = open(src, "rb").read()
name = b"bench-pad"
pad = want - len(mod) - 1 - 5 - 1 - len(name)
if pad < 0:
    sys.exit("%s is already %d bytes" % (src, len(mod)))
for _ in range(4):  # the size's LEB length settles in a step or two
    body = leb(len(name)) + name + bytes(pad)
    total = len(mod) + 1 + len(leb(len(body))) + len(body)
    pad += want - total
body = leb(len(name)) + name + os.urandom(pad)
out = mod + b"\x00" + leb(len(body)) + body
assert len(out) == want, len(out)
open(dst, "wb").write(out)
EOF
}

# stamp: copy stdin to stdout, each line prefixed with the wall clock in
# microseconds at which it arrived (fleet-send's stdout is line buffered).
stamp() {
    local l
    while IFS= read -r l; do
        printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"
    done
}

# gaps VM FROM TO: the maxgap_us values of the VM's windows FROM+1 .. TO.
gaps() {
    ctl logs "$1" | grep "maxgap_us=" | sed -n "$(($2 + 1)),$3p" |
        sed 's/.*maxgap_us=\([0-9]*\).*/\1/'
}

# record CASE RUN FROM TO: a's windows FROM+1 .. TO as "win" rows; prints
# their largest value.
record_windows() {
    local v mx=""
    for v in $(gaps a "$3" "$4"); do
        printf 'win\t%s\t%s\t%s\n' "$1" "$2" "$v" >>"$raw"
        if [ -z "$mx" ] || [ "$v" -gt "$mx" ]; then mx=$v; fi
    done
    echo "${mx:-}"
}

version_n=0

# update_case CASE RUN MODULE CHUNK: pack MODULE as the next version of
# b, update b with it and record a's gaps, b's downtime and the timings.
update_case() {
    local name=$1 run=$2 mod=$3 chunk=$4 vpk from to mx down n0 rc
    local t_sent t_first t_full t_result bytes

    version_n=$((version_n + 1))
    vpk=$work/b.vpk
    pack b "1.$version_n.0" "$mod" "$vpk" || {
        echo "run $run $name: vmctl pack failed" >&2
        failed=1
        return
    }
    bytes=$(stat -c %s "$vpk")
    n0=$(ctl logs b | grep -c 'downtime_us=')
    from=$(ticks a)
    fs --timeout 300 update --vm b --vpk "$vpk" --health-ms "$health_ms" \
        --chunk-size "$chunk" 2>&1 | stamp >"$work/update.out"
    rc=${PIPESTATUS[0]}
    sleep 0.3 # let a log the window in progress at the result
    to=$(ticks a)
    if [ "$rc" -ne 0 ] || ! grep -q ' result OK' "$work/update.out"; then
        echo "run $run $name: update exit $rc, want 0 (OK):" >&2
        sed 's/^[0-9]* //' "$work/update.out" | tail -5 >&2
        failed=1
        return
    fi
    mx=$(record_windows "$name" "$run" "$from" "$to")
    # b's new image logs its downtime at start; it may take a moment.
    poll 10 eval '[ "$(ctl logs b | grep -c downtime_us=)" -gt "$n0" ]'
    down=$(ctl logs b | sed -n 's/.*downtime_us=\([0-9]*\).*/\1/p' | tail -1)
    [ "$(ctl logs b | grep -c 'downtime_us=')" -gt "$n0" ] || down=""
    t_sent=$(awk '$2 == "sent" { print $1; exit }' "$work/update.out")
    t_first=$(awk '$2 == "event" && $3 == "progress" { print $1; exit }' \
        "$work/update.out")
    t_full=$(awk '$2 == "event" && $3 == "progress" && $4 == "100%" {
        print $1; exit }' "$work/update.out")
    t_result=$(awk '$2 == "result" { print $1; exit }' "$work/update.out")
    if [ -z "$t_sent" ] || [ -z "$t_first" ] || [ -z "$t_full" ] ||
        [ -z "$t_result" ]; then
        echo "run $run $name: fleet-send's output lacks sent, progress" \
            "or result lines" >&2
        failed=1
        return
    fi
    printf 'upd\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$run" "${mx:--}" \
        "${down:--}" "$(((t_result - t_sent) / 1000))" \
        "$((t_full - t_first))" "$bytes" >>"$raw"
    echo "run $run $name: gap ${mx:-?} us, b down ${down:-?} us," \
        "end-to-end $(((t_result - t_sent) / 1000)) ms, transfer" \
        "$(((t_full - t_first) / 1000)) ms for $bytes bytes"
    rm -f "$vpk"
}

say "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
say "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo ?)" \
    "$(git -C "$root" status --porcelain 2>/dev/null | grep -q . &&
        echo '(with uncommitted changes)')"
pad_module "$wasm/ota_tick_v110.wasm" "$work/pad-256k.wasm" 262144 &&
    pad_module "$wasm/ota_tick_v110.wasm" "$work/pad-4m.wasm" 4194304 || {
    echo "bench/ota/run.sh: cannot make the padded modules" >&2
    exit 1
}
rm -rf "$state" "$work/daemon.log" "$work/mosquitto.log"
: >"$raw"
say "broker, keys, device $dev"
broker_start || exit 1
make_keys || {
    echo "vmctl keys gen failed" >&2
    exit 1
}
write_config
# A ring big enough for every window of a long benchmark (ticks counts
# lines from the start of the ring).
sed -i 's/"log_ring_bytes": [0-9]*/"log_ring_bytes": 16777216/' \
    "$work/device.json"
# An update must fit b's storage quota (ota_check): room for 4 MiB.
sed -i 's/"priority": 8 }/"priority": 8, "storage_quota": 16777216 }/' \
    "$work/device.json"
grep -q '"storage_quota": 16777216' "$work/device.json" || {
    echo "bench/ota/run.sh: cannot set b's storage quota in" \
        "$work/device.json (has write_config changed?)" >&2
    exit 1
}
device_start || exit 1
ticking a || {
    echo "bench/ota/run.sh: a does not tick" >&2
    exit 1
}

for ((run = 1; run <= runs; run++)); do
    from=$(ticks a)
    sleep "$idle_s"
    mx=$(record_windows idle "$run" "$from" "$(ticks a)")
    printf 'upd\tidle\t%s\t%s\t-\t-\t-\t-\n' "$run" "${mx:--}" >>"$raw"
    echo "run $run idle: gap ${mx:-?} us"
    update_case 256K/16K "$run" "$work/pad-256k.wasm" 16384
    update_case 256K/64K "$run" "$work/pad-256k.wasm" 65536
    update_case 4M/16K "$run" "$work/pad-4m.wasm" 16384
    update_case 4M/64K "$run" "$work/pad-4m.wasm" 65536
done
daemon_stop || {
    echo "bench/ota/run.sh: the daemon did not stop cleanly" >&2
    failed=1
}
broker_stop

echo
echo "load average at the end: $(uptime | sed 's/.*load average: //')"
python3 - "$raw" "$runs" <<'EOF'
import sys, statistics

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
cases = []
for r in rows:
    if r[1] not in cases:
        cases.append(r[1])

def num(v):
    return None if v == "-" else int(v)

def pct(vals, p):
    # nearest-rank percentile
    s = sorted(vals)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[k]

def ms(v):
    return "-" if v is None else "%.1f" % (v / 1000.0)

print("%-9s %4s %8s %8s %8s %6s %8s %8s %8s %8s" % (
    "case", "runs", "gap_max", "gap_med", "win_p99", "wins",
    "down_med", "down_max", "e2e_med", "MiB/s"))
print("%-9s %4s %8s %8s %8s %6s %8s %8s %8s %8s" % (
    "", "", "ms", "ms", "ms", "", "ms", "ms", "ms", "med"))
for c in cases:
    up = [r for r in rows if r[0] == "upd" and r[1] == c]
    wins = [int(r[3]) for r in rows if r[0] == "win" and r[1] == c]
    gmax = [num(r[3]) for r in up if num(r[3]) is not None]
    down = [num(r[4]) for r in up if num(r[4]) is not None]
    e2e = [num(r[5]) for r in up if num(r[5]) is not None]
    tput = [int(r[7]) / 1048576.0 / (int(r[6]) / 1e6)
            for r in up if r[6] != "-" and int(r[6]) > 0]
    print("%-9s %4d %8s %8s %8s %6d %8s %8s %8s %8s" % (
        c, len(up),
        ms(max(gmax)) if gmax else "-",
        ms(statistics.median(gmax)) if gmax else "-",
        ms(pct(wins, 99)) if wins else "-", len(wins),
        ms(statistics.median(down)) if down else "-",
        ms(max(down)) if down else "-",
        "%.0f" % statistics.median(e2e) if e2e else "-",
        "%.1f" % statistics.median(tput) if tput else "-"))
EOF
echo "(gap: a's largest tick gap per run; win_p99: over all 100 ms windows;" \
    "e2e: command sent .. final result, includes the ${health_ms} ms health" \
    "window; MiB/s: package bytes / first .. 100% progress event)"
exit "$failed"
