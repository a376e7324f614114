#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# run.sh BUILD_DIR SECONDS: run the libFuzzer targets for SECONDS in all,
# in shares of the time: fuzz_module (the WebAssembly loader) what is
# left after the others, about 38%; fuzz_restore (snapshots) 25%;
# fuzz_ctl (the control protocol) 8%; fuzz_vpk (packages) 5%; fuzz_fleet
# (the device-server codec) 5%; and, when the build has the server,
# fuzz_api (vmctld's HTTP API) 8%, fuzz_vmctld_config (vmctld's config
# file) 4%, fuzz_rollout_blob (the stored rollout state) 4% and
# fuzz_vmctl_conf (vmctl's config file and options) 3%.  A share below
# one second is skipped.
#
# BUILD_DIR is a build configured with -DVMF_WITH_FUZZ=ON and clang; the
# targets are built here if needed.  fuzz_module's seeds are the .wasm
# files that wast2json produced from the spec suite: taken from
# $VMF_SPEC_WASM_DIR, or BUILD_DIR/spec, or the sibling build/spec, else
# converted here from a few .wast files into BUILD_DIR/fuzz/wast.  The
# other targets but fuzz_ctl write their own seeds (real messages,
# packages, requests, configs, rollouts) into BUILD_DIR/fuzz/NAME-seeds;
# tests/fuzz/regress/NAME/ adds the inputs of crashes found and fixed.
# New inputs go to BUILD_DIR/fuzz/corpus (fuzz_module) or
# BUILD_DIR/fuzz/NAME-corpus (kept between runs); crash reproducers to
# BUILD_DIR/fuzz/artifacts/ (fuzz_module) or BUILD_DIR/fuzz/artifacts/NAME-,
# where NAME is restore, ctl, vpk, fleet, api, config, rollout or vmctl.
# Reproduce a crash with BUILD_DIR/bin/fuzz_TARGET FILE.
# Exit status: 0 when no crash, leak or timeout was found, else non-zero.
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

server=0
grep -q '^VMF_WITH_SERVER:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null &&
    server=1
targets="fuzz_module fuzz_restore fuzz_ctl fuzz_vpk fuzz_fleet"
[ "$server" = 1 ] && targets="$targets fuzz_api fuzz_vmctld_config \
fuzz_rollout_blob fuzz_vmctl_conf"
# shellcheck disable=SC2086 # one word per target
cmake --build "$build" --target $targets -j2
mkdir -p "$fuzz/corpus" "$fuzz/seeds" "$fuzz/artifacts"
for n in restore ctl vpk fleet api config rollout vmctl; do
    mkdir -p "$fuzz/$n-corpus" "$fuzz/$n-seeds"
done

restore_secs=$((secs * 25 / 100))
ctl_secs=$((secs * 8 / 100))
vpk_secs=$((secs * 5 / 100))
fleet_secs=$((secs * 5 / 100))
api_secs=0 config_secs=0 rollout_secs=0 vmctl_secs=0
if [ "$server" = 1 ]; then
    api_secs=$((secs * 8 / 100))
    config_secs=$((secs * 4 / 100))
    rollout_secs=$((secs * 4 / 100))
    vmctl_secs=$((secs * 3 / 100))
fi
module_secs=$((secs - restore_secs - ctl_secs - vpk_secs - fleet_secs -
    api_secs - config_secs - rollout_secs - vmctl_secs))

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

# run_target NAME BINARY SECS MAX_LEN [VAR]: fuzz BINARY for SECS with
# BUILD_DIR/fuzz/NAME-corpus, NAME-seeds (which the harness fills when
# VAR names it) and tests/fuzz/regress/NAME if there is one.  Standard
# input is /dev/null: a harness must never wait on it.
run_target() {
    local name=$1 bin=$2 t=$3 len=$4 var=${5:-} dirs
    [ "$t" -gt 0 ] || return 0
    echo "fuzz: $bin for ${t}s"
    dirs=("$fuzz/$name-corpus" "$fuzz/$name-seeds")
    [ -d "$src/tests/fuzz/regress/$name" ] &&
        dirs+=("$src/tests/fuzz/regress/$name")
    env ${var:+"$var=$fuzz/$name-seeds"} \
        "$build/bin/$bin" "${dirs[@]}" \
        -max_total_time="$t" -max_len="$len" -rss_limit_mb=2048 \
        -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$fuzz/artifacts/$name-" </dev/null || status=$?
}

# Snapshots: the harness writes its seeds before libFuzzer reads the dirs.
run_target restore fuzz_restore "$restore_secs" 2097152 \
    VMF_FUZZ_RESTORE_SEEDS
# Control protocol frames: small inputs, a small share of the time.
run_target ctl fuzz_ctl "$ctl_secs" 4096
# Signed packages: parse + verify; a small share, like fuzz_ctl.
run_target vpk fuzz_vpk "$vpk_secs" 4096 VMF_FUZZ_VPK_SEEDS
# Fleet protocol messages: decode as every type, re-encode, compare.
run_target fleet fuzz_fleet "$fleet_secs" 8192 VMF_FUZZ_FLEET_SEEDS
# vmctld's HTTP API: one request per input, against a real core.
run_target api fuzz_api "$api_secs" 8192 VMF_FUZZ_API_SEEDS
# vmctld's config file; the example config is a seed too.
if [ "$config_secs" -gt 0 ]; then
    cp "$src/deploy/vmctld/vmctld.json" "$fuzz/config-seeds/deploy.json"
fi
run_target config fuzz_vmctld_config "$config_secs" 8192 \
    VMF_FUZZ_CONFIG_SEEDS
# The rollout blob: load, round trip, a few steps.
run_target rollout fuzz_rollout_blob "$rollout_secs" 8192 \
    VMF_FUZZ_ROLLOUT_SEEDS
# vmctl's config file and global options.
run_target vmctl fuzz_vmctl_conf "$vmctl_secs" 4096 VMF_FUZZ_VMCTL_SEEDS
exit "$status"
