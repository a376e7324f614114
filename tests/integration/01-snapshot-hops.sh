#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 01-snapshot-hops: stop a program at many fuel points with
# `vmrt run --stop-after N --save F`, resume each in a new process with
# `--restore F`, and check that the two outputs together are byte for byte
# the uninterrupted run's, with the same exit status.  Then hop one run
# through 100 saves in a row.  Programs: deep recursion (snap_tree), a
# loop (snap_sha) and a sleeper (snap_sleep, of which at least one stop
# must land while it is blocked in poll_oneoff).  A stop saves a blocked
# run only when the budget runs out exactly at the call that blocks, so
# the sleeper also gets stop points at the fuel figures where
# `vmrt run --stats` reports a block.
#
# usage: 01-snapshot-hops.sh VMRT WASM_DIR WORK_DIR

. "$(dirname "$0")/lib.sh"

npoints=${VMF_SNAP_POINTS:-30}
nhops=${VMF_SNAP_HOPS:-100}

# stops PROG: one stop-and-resume per fuel point.
stops() {
    local prog=$1 mod=$wasm/$1.wasm d=$work/$1 total k stop rc rc2 blocked=0
    local points
    mkdir -p "$d"
    "$vmrt" run "$mod" >"$d/ref.out" 2>"$d/ref.err"
    rc=$?
    echo "$rc" >"$d/ref.rc"
    total=$(fuel_of "$mod")
    if [ -z "$total" ] || [ "$total" -lt "$npoints" ]; then
        fail "$prog: no fuel figure from --stats ($total)"
        return
    fi
    # Spread over the whole run, skewed off round numbers.
    points=$(for k in $(seq 1 "$npoints"); do
        echo $((total * k / (npoints + 1) + k * 7))
    done)
    if [ "$prog" = snap_sleep ]; then
        points="$points $("$vmrt" run --stats "$mod" 2>&1 >/dev/null |
            sed -n 's/^vmrt: blocked at fuel \([0-9]*\)$/\1/p' |
            awk 'NR % 8 == 1')"
    fi
    for stop in $points; do
        rm -f "$d/s.snap"
        "$vmrt" run --stop-after "$stop" --save "$d/s.snap" "$mod" \
            >"$d/a.out" 2>"$d/a.err"
        rc=$?
        if [ ! -f "$d/s.snap" ]; then
            fail "$prog@$stop: no snapshot (exit $rc): $(cat "$d/a.err")"
            continue
        fi
        if [ "$rc" -ne 0 ]; then
            fail "$prog@$stop: saving run exited $rc"
            continue
        fi
        grep -q "blocked in a host call" "$d/a.err" && blocked=$((blocked + 1))
        "$vmrt" run --restore "$d/s.snap" "$mod" >"$d/b.out" 2>"$d/b.err"
        rc2=$?
        if [ "$rc2" -ne "$(cat "$d/ref.rc")" ]; then
            fail "$prog@$stop: resumed run exited $rc2, want" \
                "$(cat "$d/ref.rc"): $(cat "$d/b.err")"
        elif ! cat "$d/a.out" "$d/b.out" | cmp -s - "$d/ref.out"; then
            fail "$prog@$stop: output differs from the uninterrupted run"
        else
            ok
        fi
    done
    echo "$prog: $(echo $points | wc -w) stops over $total fuel," \
        "$blocked blocked"
    if [ "$prog" = snap_sleep ]; then
        if [ "$blocked" -gt 0 ]; then ok; else
            fail "$prog: no stop landed while blocked in poll_oneoff"
        fi
    fi
}

# chain PROG: one run hopped through $nhops saves, each a new process.
chain() {
    local prog=$1 mod=$wasm/$1.wasm d=$work/$1 total step i rc saves=0
    total=$(fuel_of "$mod")
    step=$((total / (nhops + 1) + 1))
    : >"$d/chain.out"
    rm -f "$d/c.snap" "$d/c2.snap"
    "$vmrt" run --stop-after "$step" --save "$d/c.snap" "$mod" \
        >>"$d/chain.out" 2>"$d/chain.err"
    rc=$?
    for i in $(seq 1 $((nhops * 2))); do
        [ -f "$d/c.snap" ] || break
        saves=$((saves + 1))
        "$vmrt" run --restore "$d/c.snap" --stop-after "$step" \
            --save "$d/c2.snap" "$mod" >>"$d/chain.out" 2>"$d/chain.err"
        rc=$?
        rm -f "$d/c.snap"
        [ -f "$d/c2.snap" ] && mv "$d/c2.snap" "$d/c.snap"
    done
    if [ "$saves" -lt "$nhops" ]; then
        fail "$prog chain: only $saves saves, want $nhops"
    elif [ "$rc" -ne "$(cat "$d/ref.rc")" ]; then
        fail "$prog chain: exit $rc, want $(cat "$d/ref.rc")"
    elif ! cmp -s "$d/chain.out" "$d/ref.out"; then
        fail "$prog chain: output differs after $saves hops"
    else
        ok
    fi
    echo "$prog: chain of $saves hops"
}

for p in snap_tree snap_sha snap_sleep; do
    stops "$p"
done
for p in snap_tree snap_sha; do
    chain "$p"
done
finish
