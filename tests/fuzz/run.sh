#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# run.sh BUILD_DIR SECONDS: run the libFuzzer targets for SECONDS in all:
# fuzz_module for about half of it, fuzz_restore for a third, then fuzz_ctl
# (the control protocol's frame + protobuf decoder) for a tenth,
# fuzz_vpk (the signed package container) and fuzz_fleet (the
# device-server protocol codec) for a twentieth each.
#
# BUILD_DIR is a build configured with -DVMF_WITH_FUZZ=ON and clang; the
# target is built here if needed.  The seed corpus is every .wasm file that
# wast2json produced from the spec suite: taken from $VMF_SPEC_WASM_DIR, or
# BUILD_DIR/spec, or the sibling build/spec, else converted here from a few
# .wast files into BUILD_DIR/fuzz/wast.  New inputs the fuzzer finds go to
# BUILD_DIR/fuzz/corpus (kept between runs); crash reproducers go to
# BUILD_DIR/fuzz/artifacts.  Exit status: 0 when no crash, leak or timeout
# was found, else non-zero.  Reproduce a crash with
# BUILD_DIR/bin/fuzz_module BUILD_DIR/fuzz/artifacts/crash-...
# fuzz_restore seeds itself with snapshots of its module (written into
# BUILD_DIR/fuzz/restore-seeds on the first run) and keeps its corpus and
# crashes in BUILD_DIR/fuzz/restore-corpus and BUILD_DIR/fuzz/artifacts/restore-.
# fuzz_ctl keeps BUILD_DIR/fuzz/ctl-corpus and BUILD_DIR/fuzz/artifacts/ctl-.
# fuzz_vpk seeds itself with packages (BUILD_DIR/fuzz/vpk-seeds) and keeps
# BUILD_DIR/fuzz/vpk-corpus and BUILD_DIR/fuzz/artifacts/vpk-.
# fuzz_fleet seeds itself with one message of each type
# (BUILD_DIR/fuzz/fleet-seeds) and keeps BUILD_DIR/fuzz/fleet-corpus and
# BUILD_DIR/fuzz/artifacts/fleet-.
set -euo pipefail

usage() {
    sed -n '5,28p' "$0" | sed 's/^# \{0,1\}//'
}

if [ $# -ne 2 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    usage
    [ $# -eq 1 ] && { [ "$1" = "-h" ] || [ "$1" = "--help" ]; } && exit 0
    exit 2
fi
build=$(cd "$1" && pwd)
secs=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
spec_src=${VMF_SPEC_DIR:-$src/../shared/wasm-spec}
fuzz=$build/fuzz

cmake --build "$build" --target fuzz_module fuzz_restore fuzz_ctl fuzz_vpk \
    fuzz_fleet -j2
mkdir -p "$fuzz/corpus" "$fuzz/seeds" "$fuzz/artifacts" \
    "$fuzz/restore-corpus" "$fuzz/restore-seeds" "$fuzz/ctl-corpus" \
    "$fuzz/vpk-corpus" "$fuzz/vpk-seeds" "$fuzz/fleet-corpus" \
    "$fuzz/fleet-seeds"
restore_secs=$((secs / 3))
ctl_secs=$((secs / 10))
vpk_secs=$((secs / 20))
fleet_secs=$((secs / 20))
module_secs=$((secs - restore_secs - ctl_secs - vpk_secs - fleet_secs))

# Seeds: reuse the spec build's .wasm files; convert a few ourselves if none.
seed_from=""
for d in "${VMF_SPEC_WASM_DIR:-}" "$build/spec" "$src/build/spec"; do
    if [ -n "$d" ] && [ -d "$d" ] &&
        [ -n "$(find "$d" -name '*.wasm' -print -quit)" ]; then
        seed_from=$d
        break
    fi
done
if [ -z "$seed_from" ]; then
    seed_from=$fuzz/wast
    mkdir -p "$seed_from"
    for w in i32 i64 f32 f64 block loop br_table call call_indirect \
        memory memory_grow table global imports linking start elem data \
        bulk ref_func select local_tee conversions fac; do
        [ -f "$spec_src/$w.wast" ] || continue
        wast2json "$spec_src/$w.wast" -o "$seed_from/$w.json" \
            >/dev/null 2>&1 || true
    done
fi
# Only files up to max_len are useful seeds; link them to keep it cheap.
# (Same-named files in different subdirectories: the last one wins.)
find "$fuzz/seeds" -mindepth 1 -delete
find "$seed_from" -name '*.wasm' -size -65537c \
    -exec ln -sf -t "$fuzz/seeds" {} +
echo "fuzz: $(find "$fuzz/seeds" -mindepth 1 | wc -l) seeds from $seed_from," \
    "$(find "$fuzz/corpus" -mindepth 1 | wc -l) corpus entries; ${module_secs}s"

# libFuzzer writes new inputs to the first directory only (the corpus).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
"$build/bin/fuzz_module" "$fuzz/corpus" "$fuzz/seeds" \
    -max_total_time="$module_secs" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=20 -print_final_stats=1 \
    -artifact_prefix="$fuzz/artifacts/" || status=$?
if [ "$restore_secs" -gt 0 ]; then
    # Snapshots: the harness writes its seeds before libFuzzer reads the dirs.
    echo "fuzz: fuzz_restore for ${restore_secs}s"
    VMF_FUZZ_RESTORE_SEEDS=$fuzz/restore-seeds \
        "$build/bin/fuzz_restore" "$fuzz/restore-corpus" "$fuzz/restore-seeds" \
        -max_total_time="$restore_secs" -max_len=2097152 -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/restore-" || status=$?
fi

# Control protocol frames: small inputs, a small share of the time.
if [ "$ctl_secs" -gt 0 ]; then
    echo "fuzz: fuzz_ctl for ${ctl_secs}s"
    "$build/bin/fuzz_ctl" "$fuzz/ctl-corpus" \
        -max_total_time="$ctl_secs" -max_len=4096 -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/ctl-" || status=$?
fi

# Signed packages: parse + verify; a small share, like fuzz_ctl.
if [ "$vpk_secs" -gt 0 ]; then
    echo "fuzz: fuzz_vpk for ${vpk_secs}s"
    VMF_FUZZ_VPK_SEEDS=$fuzz/vpk-seeds \
        "$build/bin/fuzz_vpk" "$fuzz/vpk-corpus" "$fuzz/vpk-seeds" \
        -max_total_time="$vpk_secs" -max_len=4096 -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/vpk-" || status=$?
fi

# Fleet protocol messages: decode as every type, re-encode, compare.
if [ "$fleet_secs" -gt 0 ]; then
    echo "fuzz: fuzz_fleet for ${fleet_secs}s"
    VMF_FUZZ_FLEET_SEEDS=$fuzz/fleet-seeds \
        "$build/bin/fuzz_fleet" "$fuzz/fleet-corpus" "$fuzz/fleet-seeds" \
        -max_total_time="$fleet_secs" -max_len=8192 -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/fleet-" || status=$?
fi
exit "$status"
