# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# Shared helpers for the numbered integration scripts.  Each script is run
# as SCRIPT VMRT WASM_DIR WORK_DIR by ctest (tests/integration/CMakeLists.txt)
# and sources this file.  A check that fails prints why and bumps $fails;
# finish() prints the summary and sets the exit status.

set -uo pipefail

vmrt=${1:?usage: $0 VMRT WASM_DIR WORK_DIR}
wasm=${2:?usage: $0 VMRT WASM_DIR WORK_DIR}
work=${3:?usage: $0 VMRT WASM_DIR WORK_DIR}
fails=0
checks=0
mkdir -p "$work" || exit 1

ok() {
    checks=$((checks + 1))
}

fail() {
    checks=$((checks + 1))
    fails=$((fails + 1))
    echo "FAIL: $*" >&2
}

finish() {
    echo "$(basename "$0"): $checks checks, $fails failed"
    [ "$fails" -eq 0 ]
    exit $?
}

# fuel_of MODULE: the fuel an uninterrupted run uses (vmrt --stats).
fuel_of() {
    "$vmrt" run --stats "$1" 2>&1 >/dev/null |
        sed -n 's/^vmrt: fuel used: \([0-9]*\)$/\1/p'
}
