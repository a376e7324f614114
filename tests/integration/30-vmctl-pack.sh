#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 30-vmctl-pack: `vmctl keys gen` writes a 0600 private and a public key
# and refuses to overwrite them without --force; `vmctl keys id` agrees
# with it; `vmctl pack` makes a signed package that `vmctl inspect`
# prints and verifies with the right key, and refuses to verify with a
# foreign one; a bad --vm, --version or module is rejected with a message
# naming it.  The vmctl binary comes as $VMCTL (tests/integration/
# CMakeLists.txt).
. "$(dirname "$0")/lib.sh"

vmctl=${VMCTL:?VMCTL: path of the vmctl binary}
mod=$wasm/ctl_ticker.wasm
k=$work/keys
rm -rf "$k" "$work"/*.vpk "$work"/*.vpk.tmp.*
mkdir -p "$k"

# expect RC DESCRIPTION CMD...: run CMD, check its exit status; output in
# $work/out and $work/err.
expect() {
    local want=$1 what=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local rc=$?
    if [ "$rc" -eq "$want" ]; then ok; else
        fail "$what: exit $rc, want $want; stderr: $(head -c 300 "$work/err")"
    fi
}
# err_has TEXT DESCRIPTION: stderr of the last command contains TEXT.
err_has() {
    grep -qF -- "$1" "$work/err" && ok ||
        fail "$2: stderr lacks '$1': $(head -c 300 "$work/err")"
}

expect 0 "vmctl --help" "$vmctl" --help
grep -q "pack" "$work/out" && ok || fail "--help does not list pack"
expect 0 "pack --help" "$vmctl" pack --help
expect 2 "no command" "$vmctl"
expect 2 "unknown command" "$vmctl" frobnicate

# ---- keys ----
expect 0 "keys gen" "$vmctl" keys gen -o "$k/fleet"
id=$(sed -n 's/^key id \([0-9a-f]\{16\}\)$/\1/p' "$work/out")
[ -n "$id" ] && ok || fail "keys gen printed no key id: $(cat "$work/out")"
[ "$(stat -c %a "$k/fleet.key")" = 600 ] && ok ||
    fail "private key mode $(stat -c %a "$k/fleet.key"), want 600"
grep -q "BEGIN PUBLIC KEY" "$k/fleet.pub" && ok || fail "fleet.pub: no PEM"
cp "$k/fleet.key" "$k/fleet.key.orig"
expect 1 "keys gen over existing files" "$vmctl" keys gen -o "$k/fleet"
err_has "exists" "refusal to overwrite"
cmp -s "$k/fleet.key" "$k/fleet.key.orig" && ok ||
    fail "refused keys gen changed fleet.key"
expect 0 "keys id (public)" "$vmctl" keys id "$k/fleet.pub"
[ "$(cat "$work/out")" = "$id" ] && ok || fail "keys id of .pub != $id"
expect 0 "keys id (private)" "$vmctl" keys id "$k/fleet.key"
[ "$(cat "$work/out")" = "$id" ] && ok || fail "keys id of .key != $id"
expect 0 "keys gen --force" "$vmctl" keys gen -o "$k/fleet" --force
cmp -s "$k/fleet.key" "$k/fleet.key.orig" &&
    fail "--force did not replace fleet.key" || ok
id=$("$vmctl" keys id "$k/fleet.pub")
expect 0 "foreign key" "$vmctl" keys gen -o "$k/other"
expect 1 "keys id of a non-key" "$vmctl" keys id "$mod"

# ---- pack ----
out=$work/sensor.vpk
expect 0 "pack" "$vmctl" pack --vm sensor --version 2.1.0 --key "$k/fleet.key" \
    "$mod" -o "$out" --priority 3 --memory-pages 8 --storage-quota 65536 \
    --min-runtime 0.1.0
sha=$(sha256sum "$mod" | cut -d' ' -f1)
grep -q "sensor" "$work/out" && grep -q "2.1.0" "$work/out" &&
    grep -q "$sha" "$work/out" && grep -q "$id" "$work/out" &&
    grep -q "$(stat -c %s "$out") bytes" "$work/out" && ok ||
    fail "pack output lacks name/version/size/sha256/key id: $(cat "$work/out")"
[ "$(head -c 4 "$out")" = VPK1 ] && ok || fail "package has no VPK1 magic"
ls "$work"/*.tmp.* >/dev/null 2>&1 && fail "temporary file left behind" || ok

# ---- inspect ----
expect 0 "inspect" "$vmctl" inspect "$out"
for want in "vm               sensor" "version          2.1.0" \
    "min runtime      0.1.0" "memory pages     8" "storage quota    65536" \
    "priority         3" "module sha256    $sha" "key id           $id" \
    "not verified"; do
    grep -qF "$want" "$work/out" && ok || fail "inspect lacks '$want'"
done
expect 0 "inspect --key (right key)" "$vmctl" inspect "$out" --key "$k/fleet.pub"
grep -q "signature        OK" "$work/out" && ok || fail "no 'signature OK'"
expect 0 "inspect with two keys, one right" "$vmctl" inspect "$out" \
    --key "$k/other.pub" --key "$k/fleet.pub"
expect 1 "inspect --key (foreign key)" "$vmctl" inspect "$out" --key "$k/other.pub"
err_has "not trusted" "foreign key"
# A flipped module byte breaks the signature.
cp "$out" "$work/bad.vpk"
size=$(stat -c %s "$work/bad.vpk")
printf '\xff' | dd of="$work/bad.vpk" bs=1 seek=$((size - 80)) conv=notrunc \
    2>/dev/null
expect 1 "inspect a tampered package" "$vmctl" inspect "$work/bad.vpk" \
    --key "$k/fleet.pub"
expect 1 "inspect a non-package" "$vmctl" inspect "$mod"

# ---- pack: bad input is rejected and names what is wrong ----
expect 2 "bad version" "$vmctl" pack --vm sensor --version 2.1 \
    --key "$k/fleet.key" "$mod" -o "$work/x.vpk"
err_has "--version" "bad version"
expect 2 "bad name" "$vmctl" pack --vm "bad/name" --version 1.0.0 \
    --key "$k/fleet.key" "$mod" -o "$work/x.vpk"
err_has "--vm" "bad name"
expect 2 "name too long" "$vmctl" pack --vm "$(printf 'a%.0s' $(seq 32))" \
    --version 1.0.0 --key "$k/fleet.key" "$mod" -o "$work/x.vpk"
err_has "--vm" "long name"
expect 2 "bad min-runtime" "$vmctl" pack --vm sensor --version 1.0.0 \
    --min-runtime v1 --key "$k/fleet.key" "$mod" -o "$work/x.vpk"
err_has "--min-runtime" "bad min-runtime"
expect 2 "bad priority" "$vmctl" pack --vm sensor --version 1.0.0 \
    --priority 99 --key "$k/fleet.key" "$mod" -o "$work/x.vpk"
err_has "--priority" "bad priority"
expect 1 "module is not wasm" "$vmctl" pack --vm sensor --version 1.0.0 \
    --key "$k/fleet.key" "$k/fleet.pub" -o "$work/x.vpk"
err_has "MODULE" "not wasm"
expect 1 "public key to sign" "$vmctl" pack --vm sensor --version 1.0.0 \
    --key "$k/fleet.pub" "$mod" -o "$work/x.vpk"
err_has "--key" "public key to sign"
expect 2 "missing -o" "$vmctl" pack --vm sensor --version 1.0.0 \
    --key "$k/fleet.key" "$mod"
err_has "-o" "missing -o"
[ -e "$work/x.vpk" ] && fail "a rejected pack wrote x.vpk" || ok
finish
