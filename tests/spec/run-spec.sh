#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# run-spec.sh BUILD_DIR [SPEC_DIR]
#
# Converts every SPEC_DIR/*.wast with wast2json into BUILD_DIR/spec/ (only
# when the .wast is newer than the last successful conversion) and runs
# BUILD_DIR/bin/vmrt-spectest over all of them.  Each file's summary and the
# final `spec: N passed, N failed, N skipped` line go to stdout; every
# failure, with its .wast line, goes to BUILD_DIR/spec/spec.log.
#
# If the runner dies (an engine crash), the files are run again one by one
# so that one crashing file costs only its own commands, which then count
# as failed.  Exit status: 0 if nothing failed, 1 otherwise.
set -euo pipefail

if [[ $# -lt 1 || $1 == -h || $1 == --help ]]; then
    echo "usage: $0 BUILD_DIR [SPEC_DIR]" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
specdir=${2:-$(dirname "$0")/../../../shared/wasm-spec}
wast2json=${VMF_WAST2JSON:-wast2json}
runner=$build/bin/vmrt-spectest
out=$build/spec
log=$out/spec.log
mkdir -p "$out"

if [[ ! -x $runner ]]; then
    echo "run-spec.sh: $runner not built" >&2
    exit 1
fi

convfail=0
jsons=()
for w in "$specdir"/*.wast; do
    n=$(basename "$w" .wast)
    if [[ ! -f $out/$n.ok || $w -nt $out/$n.ok ]]; then
        rm -f "$out/$n.ok"
        if ! "$wast2json" "$w" -o "$out/$n.json" 2>"$out/$n.err"; then
            echo "$n.wast: wast2json failed (see $out/$n.err)"
            convfail=$((convfail + 1))
            continue
        fi
        touch "$out/$n.ok"
    fi
    jsons+=("$out/$n.json")
done
if [[ ${#jsons[@]} -eq 0 ]]; then
    echo "run-spec.sh: no .wast files in $specdir" >&2
    echo "spec: 0 passed, $((convfail + 1)) failed, 0 skipped"
    exit 1
fi

passed=0 failed=$convfail skipped=0
add_counts() { # "spec: P passed, F failed, S skipped"
    local re='^spec: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$'
    [[ $1 =~ $re ]] || return 0
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
    skipped=$((skipped + BASH_REMATCH[3]))
}

: >"$log"
set +e
"$runner" -v "${jsons[@]}" >"$out/all.out" 2>&1
set -e
cat "$out/all.out" >>"$log"
last=$(grep -E '^spec: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' \
    "$out/all.out" | tail -n 1 || true)
if [[ -n $last ]]; then
    grep -v '^  ' "$out/all.out" | grep -v '^spec: ' || true
    add_counts "$last"
else
    echo "vmrt-spectest died; running the files one by one"
    for j in "${jsons[@]}"; do
        set +e
        "$runner" -v "$j" >"$out/one.out" 2>&1
        set -e
        cat "$out/one.out" >>"$log"
        last=$(grep -E '^spec: [0-9]+ passed' "$out/one.out" | tail -n 1 ||
            true)
        if [[ -n $last ]]; then
            grep -v '^  ' "$out/one.out" | grep -v '^spec: ' || true
            add_counts "$last"
        else
            ncmd=$(grep -o '"line": ' "$j" | wc -l)
            echo "$(basename "$j"): runner crashed;" \
                "$ncmd commands counted as failed"
            failed=$((failed + ncmd))
        fi
    done
fi
echo "(failures with their .wast lines: $log)"
echo "spec: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
