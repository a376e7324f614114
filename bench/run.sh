#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# bench/run.sh [-n RUNS] [PROGRAM...]: native vs vmrt on CPU-bound programs.
#
# Builds each bench/*.c natively (gcc -O2) and for WebAssembly (clang
# --target=wasm32-wasi -O2, Debian's wasi-libc in /usr) into build/bench/,
# runs both RUNS times (default 3, best time kept), checks that the vmrt
# run prints the same checksum line as the native one, and prints a table
# of seconds and ratios plus the geometric mean ratio.  vmrt is
# build/bin/vmrt (override with VMRT=path); build it first (scripts/demo
# or scripts/test).  A vmrt run that fails or disagrees is reported and
# left out of the mean; the exit status is then 1.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/bench
vmrt=${VMRT:-$root/build/bin/vmrt}
runs=3
timeout_s=${VMF_BENCH_TIMEOUT:-600}
all=(fib sha256 matmul sort interp)

while [ $# -gt 0 ]; do
    case "$1" in
    -n)
        runs=${2:?-n needs a number}
        shift
        ;;
    -h | --help)
        sed -n '5,15p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "bench/run.sh: unknown option $1" >&2
        exit 2
        ;;
    *) break ;;
    esac
    shift
done
[ $# -gt 0 ] && progs=("$@") || progs=("${all[@]}")

if [ -f "$root/scripts/lib/deps.sh" ]; then
    # shellcheck source=scripts/lib/deps.sh
    . "$root/scripts/lib/deps.sh"
    vmf_deps bench || exit 1
fi
mkdir -p "$out"

now() {
    date +%s.%N
}

# best_time OUTFILE CMD...: run CMD $runs times; print the best wall time
# in seconds.  Fails (after the first run) if CMD fails.
best_time() {
    local outf=$1 best="" t0 t1 t i
    shift
    for ((i = 0; i < runs; i++)); do
        t0=$(now)
        timeout "$timeout_s" "$@" >"$outf" 2>"$outf.err" </dev/null
        echo $? >"$outf.rc"
        [ "$(cat "$outf.rc")" = 0 ] || return 1
        t1=$(now)
        t=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
        if [ -z "$best" ] ||
            awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$t
        fi
    done
    echo "$best"
}

status=0
ratios=()
printf '%-8s %10s %10s %8s  %s\n' program native_s vmrt_s ratio note
for p in "${progs[@]}"; do
    src=$root/bench/$p.c
    if [ ! -f "$src" ]; then
        echo "bench/run.sh: no such program: $p" >&2
        status=1
        continue
    fi
    if ! gcc -O2 -o "$out/$p" "$src" 2>"$out/$p.build.log"; then
        printf '%-8s %10s %10s %8s  %s\n' "$p" - - - "gcc failed"
        status=1
        continue
    fi
    if ! clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$out/$p.wasm" \
        "$src" 2>>"$out/$p.build.log"; then
        printf '%-8s %10s %10s %8s  %s\n' "$p" - - - "wasm build failed"
        status=1
        continue
    fi
    if ! nat=$(best_time "$out/$p.native.out" "$out/$p"); then
        printf '%-8s %10s %10s %8s  %s\n' "$p" - - - "native run failed"
        status=1
        continue
    fi
    note=""
    vm=-
    ratio=-
    if [ ! -x "$vmrt" ]; then
        note="no $vmrt"
    elif ! vm=$(best_time "$out/$p.vmrt.out" "$vmrt" run "$out/$p.wasm"); then
        vm=-
        note="vmrt failed (exit $(cat "$out/$p.vmrt.out.rc")):"
        note="$note $(head -n 1 "$out/$p.vmrt.out.err" | cut -c 1-60)"
        status=1
    elif ! cmp -s "$out/$p.native.out" "$out/$p.vmrt.out"; then
        note="checksum mismatch: $(head -n 1 "$out/$p.vmrt.out" | cut -c 1-60)"
        status=1
    else
        ratio=$(awk -v a="$vm" -v b="$nat" \
            'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
        ratios+=("$(awk -v a="$vm" -v b="$nat" \
            'BEGIN { printf "%.6f", (b > 0 ? a / b : 0) }')")
        note="ok"
    fi
    printf '%-8s %10s %10s %8s  %s\n' "$p" "$nat" "$vm" "$ratio" "$note"
done
if [ "${#ratios[@]}" -gt 0 ]; then
    printf '%s\n' "${ratios[@]}" | awk '
        $1 > 0 { s += log($1); n++ }
        END {
            if (n)
                printf "geomean ratio (vmrt/native, %d programs): %.1f\n",
                    n, exp(s / n)
        }'
else
    echo "geomean ratio: n/a (no successful vmrt run)"
fi
exit $status
