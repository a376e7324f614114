#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 46-vmctld-backup: deploy/vmctld/vmctld-backup on a live vmctld, and a
# restore onto new paths.  vmctld and device A (VMs a and b); b 1.1.0 is
# rolled out to A (succeeded) and a snapshot of A's a is taken.  While
# vmctld runs, `vmctld-backup -c vmctld.json -o bak` copies and verifies
# the registry and the store; a second backup into the now non-empty
# bak is refused (exit 1) and leaves it as it was; `--verify bak` passes.
# vmctld is stopped and its data dir moved away; a new vmctld starts on
# the copy at other paths (storage.data_dir, db_path and store_dir all
# new), and vmctl shows the same device, rollout (state, counts, rows),
# package and snapshot as before; the snapshot downloads with its
# SHA-256 and restores onto A.  A copy of bak with one byte flipped in a
# store object, and one with an object removed, fail `--verify` (exit 1)
# naming the object.  Usage errors exit 2.
#
# The tool is $VMCTLD_BACKUP, else deploy/vmctld/vmctld-backup in this
# source tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
. "$(dirname "$0")/ota-lib.sh"
. "$(dirname "$0")/fleet-lib.sh"

backup=${VMCTLD_BACKUP:-$(cd "$(dirname "$0")/../.." && pwd)/deploy/vmctld/vmctld-backup}
rm -rf "$work/bak" "$work/bak-flip" "$work/bak-gone" "$work/ctld.old" \
    "$work/new"

fleet_setup || { fail "setup"; finish; }
say "device A; b 1.1.0 rolled out; a snapshot of A's a"
fdevice_start A '{"site": "a"}' || { fail "device A"; fleet_finish; }
pack b 1.1.0 "$wasm/ota_tick_v110.wasm" "$work/b-1.1.0.vpk" ||
    { fail "pack 1.1.0"; fleet_finish; }
vc --timeout 120 update A b "$work/b-1.1.0.vpk" --health-window 1000 --wait \
    >"$work/update.out" 2>"$work/update.err"
rc=$?
cat "$work/update.out"
[ "$rc" -eq 0 ] && ok || fail "update --wait: exit $rc: $(cat "$work/update.err")"
ro=$(sed -n 's/^rollout \([^ ]*\) succeeded.*/\1/p' "$work/update.out")
[ -n "$ro" ] && ok || { fail "no succeeded rollout"; fleet_finish; }
vc snapshot A a >"$work/snapshot.out" 2>"$work/snapshot.err"
rc=$?
[ "$rc" -eq 0 ] && ok || fail "snapshot A a: exit $rc: $(cat "$work/snapshot.err")"
sha=$(grep -Ex '[0-9a-f]{64}' "$work/snapshot.out" | head -1)
[ -n "$sha" ] && ok || { fail "vmctl snapshot printed no SHA-256"; fleet_finish; }
pkg=$(vc --json packages | jq_py 'd["packages"][0]["sha256"]')

# state: what must survive the backup and restore, on one line each.
state() {
    vc --json devices | jq_py '" ".join(sorted("%s:%s" % (x["id"],
        ",".join(v["name"] + "@" + v["version"] for v in x["vms"]))
        for x in d["devices"]))'
    vc --json rollout show "$ro" | jq_py '"%s %s %s | %s" % (d["id"],
        d["state"], " ".join("%s=%d" % (k, d["counts"][k])
                             for k in sorted(d["counts"])),
        " ".join("%s:%s:%s" % (x["device"], x["state"], x["command"])
                 for x in d["devices"]))'
    vc --json packages | jq_py '" ".join(sorted("%s:%s@%s:%d" % (x["sha256"],
        x["vm"], x["version"], x["size"]) for x in d["packages"]))'
    vc --json snapshots ls | jq_py '" ".join(sorted("%s:%s/%s:%d" % (
        x["sha256"], x["device"], x["vm"], x["size"])
        for x in d["snapshots"]))'
}
state >"$work/before.txt"
cat "$work/before.txt"
[ "$(wc -l <"$work/before.txt")" -eq 4 ] && ! grep -qx '' "$work/before.txt" &&
    ok || fail "could not read the state before the backup"
grep -q "^$ro succeeded .*succeeded=1" "$work/before.txt" && ok ||
    fail "the rollout is not succeeded before the backup"

# ---- backup of the running vmctld -------------------------------------
say "vmctld-backup -c vmctld.json -o bak (vmctld running)"
kill -0 "$ctld_pid" && ok || fail "vmctld is not running"
"$backup" -c "$work/vmctld.json" -o "$work/bak" >"$work/backup.out" 2>&1
rc=$?
cat "$work/backup.out"
[ "$rc" -eq 0 ] && ok || fail "vmctld-backup: exit $rc"
grep -q "verified: database ok, 1 packages and 1 snapshots" \
    "$work/backup.out" && ok || fail "vmctld-backup did not say verified"
[ -f "$work/bak/vmctld.db" ] && [ -f "$work/bak/backup.txt" ] &&
    [ -f "$work/bak/store/packages/${pkg:0:2}/$pkg" ] &&
    [ -f "$work/bak/store/snapshots/${sha:0:2}/$sha" ] && ok ||
    fail "the backup lacks files: $(cd "$work/bak" && find . -type f)"
[ ! -e "$work/bak/vmctld.db-wal" ] && ok || fail "the copy has a -wal file"
kill -0 "$ctld_pid" && vc info >/dev/null 2>&1 && ok ||
    fail "vmctld does not answer after the backup"

say "a backup into the non-empty bak is refused"
ls -lR "$work/bak" >"$work/bak-before.ls"
"$backup" -c "$work/vmctld.json" -o "$work/bak" >"$work/again.out" 2>&1
rc=$?
cat "$work/again.out"
[ "$rc" -eq 1 ] && ok || fail "backup into a non-empty dir: exit $rc, want 1"
grep -q "is not empty" "$work/again.out" && ok ||
    fail "backup into a non-empty dir: no 'is not empty'"
ls -lR "$work/bak" | cmp -s - "$work/bak-before.ls" && ok ||
    fail "the refused backup changed bak"
"$backup" --verify "$work/bak" >"$work/verify.out" 2>&1 && ok ||
    fail "--verify bak: $(cat "$work/verify.out")"

say "usage errors exit 2"
for args in "" "-c" "--bogus -o $work/x" "-o $work/x extra" \
    "--verify $work/bak -o $work/x"; do
    # shellcheck disable=SC2086 # the words are the arguments
    "$backup" $args >"$work/usage.out" 2>&1
    rc=$?
    [ "$rc" -eq 2 ] && ok || fail "vmctld-backup $args: exit $rc, want 2"
done
"$backup" --help | grep -q "^usage: vmctld-backup" && ok || fail "--help"
[ ! -e "$work/x" ] && ok || fail "a usage error created the output dir"

# ---- restore onto new paths ----------------------------------------------
say "stop vmctld; a new vmctld on the copy, at new paths"
vmctld_stop || fail "vmctld did not stop cleanly"
mv "$work/ctld" "$work/ctld.old"
mkdir -p "$work/new/db"
cp "$work/bak/vmctld.db" "$work/new/db/registry.db" &&
    cp -R "$work/bak/store" "$work/new/blobs" && ok || fail "restore copy"
cat >"$work/vmctld.json" <<EOF
{
  "mqtt": { "uri": "$broker", "client_id": "vmctld-$$" },
  "http": { "listen": "127.0.0.1:0" },
  "tokens": [ { "name": "ops", "role": "operator", "token": "$token" } ],
  "storage": { "data_dir": "$work/new/data",
               "db_path": "$work/new/db/registry.db",
               "store_dir": "$work/new/blobs" },
  "trust": { "keys": ["$work/keys/fleet.pub"] },
  "rollouts": { "health_window_ms": 1000, "device_timeout_s": 120 },
  "log": { "level": "debug" }
}
EOF
vmctld_start && ok || { fail "vmctld on the copy did not start"; fleet_finish; }
grep -q "db $work/new/db/registry.db, devices known: 1" "$work/vmctld.log" &&
    ok || fail "the new vmctld does not use the copy: $(tail -1 "$work/vmctld.log")"
fdevice_wait_online A && ok || fail "A is not online with the new vmctld"
state >"$work/after.txt"
cat "$work/after.txt"
cmp -s "$work/before.txt" "$work/after.txt" && ok ||
    fail "the state differs after the restore: $(diff "$work/before.txt" \
        "$work/after.txt")"
vc snapshot get "${sha:0:12}" -o "$work/a.snap" >"$work/get.out" 2>&1 && ok ||
    fail "snapshot get from the copy: $(cat "$work/get.out")"
[ "$(sha256sum <"$work/a.snap" | cut -d' ' -f1)" = "$sha" ] && ok ||
    fail "the snapshot from the copy does not have SHA-256 $sha"
vc restore A a "$sha" >"$work/restore.out" 2>&1 && ok ||
    fail "restore A a from the copy: $(cat "$work/restore.out")"
fwait_state A a running && ok || fail "A's a is $(fvm_field A a state)"

# ---- a damaged copy -------------------------------------------------------
say "--verify: a flipped byte and a missing object are reported"
cp -R "$work/bak" "$work/bak-flip" && cp -R "$work/bak" "$work/bak-gone"
obj=$work/bak-flip/store/packages/${pkg:0:2}/$pkg
python3 -c '
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(100)
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 0x01]))
' "$obj" && ok || fail "cannot flip a byte in $obj"
"$backup" --verify "$work/bak-flip" >"$work/flip.out" 2>&1
rc=$?
cat "$work/flip.out"
[ "$rc" -eq 1 ] && ok || fail "--verify with a flipped byte: exit $rc, want 1"
grep -q "$pkg: content does not match its name" "$work/flip.out" && ok ||
    fail "--verify does not name the damaged object"
rm "$work/bak-gone/store/snapshots/${sha:0:2}/$sha"
"$backup" --verify "$work/bak-gone" >"$work/gone.out" 2>&1
rc=$?
cat "$work/gone.out"
[ "$rc" -eq 1 ] && ok || fail "--verify with an object gone: exit $rc, want 1"
grep -q "$sha: missing (the registry names it)" "$work/gone.out" && ok ||
    fail "--verify does not name the missing object"

fleet_finish
