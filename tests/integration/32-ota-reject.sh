#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 32-ota-reject: every bad update is refused with its own code, and the
# running VM is untouched: a corrupt chunk (E_CORRUPT_CHUNK), a truncated
# package (E_MALFORMED), a flipped signature byte (E_BAD_SIGNATURE), a
# package signed by a key the device does not trust (E_UNKNOWN_KEY), a
# command for another device (E_WRONG_DEVICE), a package for VM c sent
# to b (E_WRONG_VM), a downgrade to 0.9.0 (E_DOWNGRADE) and a package over
# the device's max_package (E_TOO_LARGE).  After each one b still runs
# 1.0.0, its restart count is unchanged and it keeps ticking.  VM q has a
# storage_quota (20000) below the module (~35 KB, under max_package):
# its update ends E_QUOTA, checked against q's real quota as vmrt
# reports it, and q is untouched.  A package for q bigger than its quota
# plus the largest manifest and signature is refused E_QUOTA before any
# chunk is asked for (no progress event).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"

# The good packages (~36 KB) fit; the padded one (~236 KB) does not.
extra_vms='{ "name": "q", "module": "'$wasm'/ota_tick.wasm", "version": "1.0.0",
      "priority": 12, "storage_quota": 20000 }'
ota_setup '"max_package": 150000,' || { fail "setup"; finish; }
new=$wasm/ota_tick_v110.wasm
pack b 1.1.0 "$new" "$work/good.vpk" || { fail "pack"; finish; }
pack b 1.1.0 "$new" "$work/foreign.vpk" --key "$work/keys/other.key" ||
    { fail "pack foreign"; finish; }
pack c 1.1.0 "$new" "$work/for-c.vpk" || { fail "pack c"; finish; }
pack q 1.1.0 "$new" "$work/for-q.vpk" || { fail "pack q"; finish; }
pack b 0.9.0 "$new" "$work/old.vpk" || { fail "pack 0.9.0"; finish; }
# pad SRC DST BYTES: a valid module made big with a custom section of
# BYTES zeros appended (id 0).
pad() {
    python3 - "$1" "$2" "$3" <<'PY'
import sys
mod = open(sys.argv[1], "rb").read()
name = b"pad"
body = bytes([len(name)]) + name + b"\0" * int(sys.argv[3])
def leb(n):
    out = bytearray()
    while True:
        b, n = n & 0x7f, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)
open(sys.argv[2], "wb").write(mod + b"\0" + leb(len(body)) + body)
PY
}
pad "$new" "$work/big.wasm" 200000 || { fail "pad module"; finish; }
pack b 1.1.0 "$work/big.wasm" "$work/big.vpk" || { fail "pack big"; finish; }
# For q: ~136 KB, under max_package but over q's quota (20000) plus the
# most a manifest and signature can add (VPK_OVERHEAD_MAX, ~66 KB).
pad "$new" "$work/q-mid.wasm" 100000 || { fail "pad q"; finish; }
pack q 1.1.0 "$work/q-mid.wasm" "$work/q-mid.vpk" ||
    { fail "pack q-mid"; finish; }
# Flip one byte inside the DER signature (the last bytes of the file).
python3 - "$work/good.vpk" "$work/badsig.vpk" <<'PY' || { fail "badsig"; finish; }
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-6] ^= 0x01
open(sys.argv[2], "wb").write(bytes(b))
PY
good_size=$(stat -c %s "$work/good.vpk")

ticking b && ok || fail "b does not tick"
restarts_b=$(vm_field b restarts)

# reject NAME CODE FLEET-SEND-UPDATE-ARGS...: the update ends with CODE
# and b is untouched.
reject() {
    local name=$1 code=$2
    shift 2
    say "$name -> $code"
    fs --timeout 90 --expect "$code" update --vm b "$@" \
        >"$work/$name.out" 2>&1
    local rc=$?
    cat "$work/$name.out"
    [ "$rc" -eq 0 ] && ok ||
        fail "$name: exit $rc, want the final code $code"
    grep -q "^result $code: ." "$work/$name.out" && ok ||
        fail "$name: no '$code' result with a message"
    [ "$(vm_field b version)" = 1.0.0 ] && ok ||
        fail "$name: b version $(vm_field b version), want 1.0.0"
    [ "$(vm_field b state)" = running ] && ok ||
        fail "$name: b is $(vm_field b state)"
    [ "$(vm_field b restarts)" = "$restarts_b" ] && ok ||
        fail "$name: b restarted ($(vm_field b restarts) restarts)"
    ticking b && ok || fail "$name: b stopped ticking"
}

reject corrupt E_CORRUPT_CHUNK --vpk "$work/good.vpk" --chunk-size 8192 \
    --corrupt-chunk 3
reject truncated E_MALFORMED --vpk "$work/good.vpk" \
    --truncate "$((good_size - 100))"
reject badsig E_BAD_SIGNATURE --vpk "$work/badsig.vpk"
reject unknown-key E_UNKNOWN_KEY --vpk "$work/foreign.vpk"
reject wrong-device E_WRONG_DEVICE --vpk "$work/good.vpk" \
    --target-device itest-elsewhere
reject wrong-vm E_WRONG_VM --vpk "$work/for-c.vpk"
reject downgrade E_DOWNGRADE --vpk "$work/old.vpk"
reject too-large E_TOO_LARGE --vpk "$work/big.vpk"
# Refused before anything was asked for.
[ "$(served_count "$work/too-large.out")" = 0 ] && ok ||
    fail "too-large: chunks were served ($(served_count "$work/too-large.out"))"
[ "$(served_count "$work/wrong-device.out")" = 0 ] && ok ||
    fail "wrong-device: chunks were served"
# b never saw a second start.
ctl logs b | grep >/dev/null 'downtime_us=' && fail "b was restarted" || ok

say "over q's storage quota -> E_QUOTA"
ticking q && ok || fail "q does not tick"
restarts_q=$(vm_field q restarts)
fs --timeout 90 --expect E_QUOTA update --vm q --vpk "$work/for-q.vpk" \
    >"$work/quota.out" 2>&1 && ok ||
    fail "quota: exit $?, want the final code E_QUOTA"
cat "$work/quota.out"
grep -q "^result E_QUOTA: .*quota of 20000" "$work/quota.out" && ok ||
    fail "quota: no E_QUOTA result naming q's quota"
[ "$(vm_field q version)" = 1.0.0 ] && [ "$(vm_field q state)" = running ] &&
    [ "$(vm_field q restarts)" = "$restarts_q" ] && ok ||
    fail "quota: q touched: $(vm_field q version) $(vm_field q state)"
ticking q && ok || fail "quota: q stopped ticking"
ctl logs q | grep >/dev/null 'downtime_us=' && fail "q was restarted" || ok
grep -q '^event progress' "$work/quota.out" && ok ||
    fail "quota: the small package was not downloaded before its check"

say "far over q's storage quota -> E_QUOTA before any download"
fs --timeout 90 --expect E_QUOTA update --vm q --vpk "$work/q-mid.vpk" \
    >"$work/quota2.out" 2>&1 && ok ||
    fail "quota (early): exit $?, want the final code E_QUOTA"
cat "$work/quota2.out"
grep -q "^result E_QUOTA: .*nothing was downloaded" "$work/quota2.out" &&
    ok || fail "quota (early): no E_QUOTA before the transfer"
grep -q '^event progress' "$work/quota2.out" &&
    fail "quota (early): the package was downloaded anyway" || ok
[ "$(vm_field q version)" = 1.0.0 ] && ok || fail "quota (early): q touched"

say "a good update still goes through afterwards"
fs --timeout 90 update --vm b --vpk "$work/good.vpk" --health-ms 300 \
    >"$work/good.out" 2>&1 && ok ||
    fail "good update after the rejections: $(tail -3 "$work/good.out")"
[ "$(vm_field b version)" = 1.1.0 ] && ok || fail "b not at 1.1.0"

ota_finish
