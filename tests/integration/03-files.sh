#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 03-files: WASI files in a guest's own root under `vmrt run --dir`
# (program tests/programs/fs_ops.c): stdio and POSIX file calls work
# inside the root; paths that leave it ("..", symbolic links pointing
# out) are refused with EPERM and touch nothing outside; --quota stops
# writes with ENOSPC and keeps what was stored; a snapshot taken with a
# file open resumes in another process, and in another root holding the
# same file, appending where it stopped; a root without the file refuses
# the restore.
#
# usage: 03-files.sh VMRT WASM_DIR WORK_DIR

. "$(dirname "$0")/lib.sh"

prog=$wasm/fs_ops.wasm
rm -rf "$work" && mkdir -p "$work" || exit 1

# expect NAME WANT CMD...: CMD's stdout must be exactly WANT.
expect() {
    local name=$1 want=$2 got
    shift 2
    got=$("$@" 2>"$work/$name.err")
    if [ "$got" = "$want" ]; then ok; else
        fail "$name: got '$got', want '$want' ($(head -c 300 "$work/$name.err"))"
    fi
}

# 1. Everyday file operations.
root=$work/root
mkdir -p "$root"
expect ops "ops ok" "$vmrt" run --dir "$root" "$prog" ops
[ "$(cat "$root/data.txt" 2>/dev/null)" = "hello, root
more" ] && ok || fail "ops: data.txt on the host is not what the guest wrote"

# 2. Escapes.
outside=$work/outside
mkdir -p "$outside" && echo secret >"$outside/secret.txt"
ln -sfn "$outside" "$root/link-out"
ln -sfn ../outside/secret.txt "$root/file-out"
expect dotdot EPERM "$vmrt" run --dir "$root" "$prog" open ../outside/secret.txt
expect dotdot2 EPERM "$vmrt" run --dir "$root" "$prog" open /../outside/secret.txt
expect symdir EPERM "$vmrt" run --dir "$root" "$prog" open link-out/secret.txt
expect symfile EPERM "$vmrt" run --dir "$root" "$prog" open file-out
expect mkdir-out EPERM "$vmrt" run --dir "$root" "$prog" mkdir ../outside/made
expect mkdir-sym EPERM "$vmrt" run --dir "$root" "$prog" mkdir link-out/made
[ ! -e "$outside/made" ] && ok || fail "escape: a directory was made outside"
# Absolute paths name the root itself, never the host's /.
expect abs ENOENT "$vmrt" run --dir "$root" "$prog" open /etc/hostname
expect abs-in opened "$vmrt" run --dir "$root" "$prog" open /data.txt

# 3. Quota.
qroot=$work/quota
mkdir -p "$qroot" && printf 'keep me\n' >"$qroot/keep.txt"   # 8 bytes
expect fill "wrote 4992 errno ENOSPC" \
    "$vmrt" run --dir "$qroot" --quota 5000 "$prog" fill big.bin
expect fill-again "wrote 0 errno ENOSPC" \
    "$vmrt" run --dir "$qroot" --quota 5000 "$prog" fill big.bin
expect keep "keep me" "$vmrt" run --dir "$qroot" --quota 5000 "$prog" cat keep.txt
[ "$(stat -c %s "$qroot/big.bin")" = 4992 ] && ok ||
    fail "quota: big.bin is $(stat -c %s "$qroot/big.bin") bytes"
# Without --dir there are no files at all.
out=$("$vmrt" run "$prog" open x 2>/dev/null)
[ "$out" != opened ] && ok || fail "no --dir: a file opened"

# 4. Snapshot with an open file.
sroot=$work/snap
mkdir -p "$sroot"
total=$("$vmrt" run --stats --dir "$sroot" "$prog" slowlog 20 2>&1 >/dev/null |
    sed -n 's/^vmrt: fuel used: \([0-9]*\)$/\1/p')
rm -f "$sroot/log.txt"
"$vmrt" run --dir "$sroot" "$prog" slowlog 20 >"$work/ref.out" 2>/dev/null
rm -f "$sroot/log.txt"
if [ -z "$total" ]; then
    fail "snapshot: no fuel figure"
else
    "$vmrt" run --dir "$sroot" --stop-after $((total / 2)) \
        --save "$work/s.snap" "$prog" slowlog 20 >/dev/null 2>&1
    n=$(wc -l <"$sroot/log.txt")
    [ "$n" -gt 0 ] && [ "$n" -lt 20 ] && ok ||
        fail "snapshot: stopped with $n lines written"
    # Move: another root holding the same file.
    mroot=$work/moved
    mkdir -p "$mroot" && cp "$sroot/log.txt" "$mroot/"
    "$vmrt" run --dir "$mroot" --restore "$work/s.snap" "$prog" slowlog 20 \
        >"$work/moved.out" 2>"$work/moved.err"
    cmp -s "$work/ref.out" "$work/moved.out" && ok ||
        fail "snapshot: restored output differs ($(head -c 200 "$work/moved.err"))"
    # A root without the file: the restore fails, nothing runs.
    eroot=$work/empty
    mkdir -p "$eroot"
    if "$vmrt" run --dir "$eroot" --restore "$work/s.snap" "$prog" slowlog 20 \
        >/dev/null 2>&1; then
        fail "snapshot: restored without its open file"
    else
        ok
    fi
fi

finish
