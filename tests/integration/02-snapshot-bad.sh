#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 02-snapshot-bad: restoring a damaged snapshot or one of another module
# exits 125 with a clear message (the engine's reason), never a crash.
#
# usage: 02-snapshot-bad.sh VMRT WASM_DIR WORK_DIR

. "$(dirname "$0")/lib.sh"

d=$work/bad
mod=$wasm/snap_tree.wasm
mkdir -p "$d"
rm -f "$d/good.snap"
"$vmrt" run --stop-after 200000 --save "$d/good.snap" "$mod" >/dev/null 2>&1
if [ ! -s "$d/good.snap" ]; then
    fail "no snapshot to damage"
    finish
fi
size=$(stat -c %s "$d/good.snap")

# expect_125 NAME SNAP MODULE REGEX: restore must fail cleanly, saying REGEX.
expect_125() {
    local name=$1 snap=$2 m=$3 pat=$4 rc
    "$vmrt" run --restore "$snap" "$m" >"$d/$name.out" 2>"$d/$name.err"
    rc=$?
    if [ "$rc" -ne 125 ]; then
        fail "$name: exit $rc, want 125: $(head -c 300 "$d/$name.err")"
    elif ! grep -q "$pat" "$d/$name.err"; then
        fail "$name: unclear message: $(head -c 300 "$d/$name.err")"
    elif [ -s "$d/$name.out" ]; then
        fail "$name: the program ran anyway"
    else
        ok
    fi
}

# flip OFFSET: a copy with the byte at OFFSET inverted.
flip() {
    local off=$1 out=$d/flip$1.snap byte
    cp "$d/good.snap" "$out"
    byte=$(od -An -tu1 -j "$off" -N1 "$out" | tr -d ' ')
    printf "$(printf '\\%03o' $((byte ^ 0xff)))" |
        dd of="$out" bs=1 seek="$off" conv=notrunc status=none
    echo "$out"
}

# Damage at the start (header), in the middle and at the end.
for off in 0 9 $((size / 2)) $((size - 1)); do
    expect_125 "flip$off" "$(flip "$off")" "$mod" "cannot restore.*snapshot"
done
for n in 0 16 $((size / 2)) $((size - 1)); do
    head -c "$n" "$d/good.snap" >"$d/trunc$n.snap"
    expect_125 "trunc$n" "$d/trunc$n.snap" "$mod" "cannot restore.*snapshot"
done
expect_125 other "$d/good.snap" "$wasm/snap_sha.wasm" \
    "cannot restore.*another module"
expect_125 missing "$d/does-not-exist.snap" "$mod" "cannot read"
finish
