#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# bench/startup.sh [-n RUNS] [FUNCS...]: load + translate time per MiB.
#
# Generates a C program with FUNCS functions (default: 750 1500 3000) of
# mixed code (loops, switches, i32/i64/f64 arithmetic, loads, stores,
# direct and indirect calls), all kept alive through a function table,
# compiles it with clang --target=wasm32-wasi -O2 into build/bench/, and
# times `vmrt run` of it (main returns at once, so the time is decoding,
# validation, translation and instantiation) against a trivial module.
# Prints, per size, the module size, the best time of RUNS (default 5)
# and milliseconds per MiB: a constant figure means startup stays
# proportional to module size.  VMRT=path overrides build/bin/vmrt.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/bench
vmrt=${VMRT:-$root/build/bin/vmrt}
runs=5
if [ "${1:-}" = -n ]; then
    runs=${2:?-n needs a number}
    shift 2
fi
[ $# -gt 0 ] && sizes=("$@") || sizes=(750 1500 3000)
mkdir -p "$out"

# gen N: a C program with N functions on stdout.
gen() {
    awk -v n="$1" 'BEGIN {
        print "#include <stdint.h>"
        print "typedef uint32_t (*fn_t)(uint32_t *, uint32_t);"
        print "uint32_t g[256]; double gd[64];"
        for (i = 0; i < n; i++) {
            printf "__attribute__((noinline)) uint32_t f%d(uint32_t *p, uint32_t x)\n{\n", i
            printf "    uint32_t s = x * %du, i; uint64_t w = x; double d = x;\n", i * 2654435761 % 65536 + 1
            printf "    for (i = 0; i < (x & 15); i++) {\n"
            printf "        s = (s << %d) ^ (s >> %d) ^ p[(i + %d) & 255];\n", i % 7 + 1, i % 5 + 3, i % 256
            printf "        w = w * %dull + s; d = d * 0.5 + gd[i & 63];\n", i % 1000 + 3
            printf "        switch ((s + i) & 7) {\n"
            for (k = 0; k < 6; k++)
                printf "        case %d: s += %d; p[%d] = s; break;\n", k, i + k, (i + k) % 256
            printf "        default: s ^= (uint32_t)w;\n        }\n    }\n"
            if (i > 0)
                printf "    if (s & 1) s += f%d(p, s >> 3);\n", (i * 7) % i
            printf "    gd[%d] = d;\n    return s + (uint32_t)(w >> 32);\n}\n", i % 64
        }
        printf "static const fn_t tab[%d] = {", n
        for (i = 0; i < n; i++)
            printf "%sf%d", (i ? ", " : ""), i
        print "};"
        print "volatile uint32_t pick = 0;"
        print "int main(void)"
        print "{"
        print "    uint32_t i = pick;"
        printf "    return i < %d && i != 0 ? (int)tab[i](g, i) : 0;\n", n
        print "}"
    }'
}

best() {
    local b="" t0 t1 t i
    for ((i = 0; i < runs; i++)); do
        t0=$(date +%s%N)
        "$vmrt" run "$1" >/dev/null 2>&1 || return 1
        t1=$(date +%s%N)
        t=$(((t1 - t0) / 1000))
        if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; fi
    done
    echo "$b"
}

printf 'int main(void) { return 0; }\n' >"$out/startup-empty.c"
clang --target=wasm32-wasi --sysroot=/usr -O2 -o "$out/startup-empty.wasm" \
    "$out/startup-empty.c" || exit 1
base=$(best "$out/startup-empty.wasm") || {
    echo "bench/startup.sh: $vmrt failed on an empty module" >&2
    exit 1
}
printf '%-7s %10s %10s %10s\n' funcs bytes load_ms ms_per_MiB
for n in "${sizes[@]}"; do
    gen "$n" >"$out/startup-$n.c"
    clang --target=wasm32-wasi --sysroot=/usr -O2 \
        -o "$out/startup-$n.wasm" "$out/startup-$n.c" || exit 1
    bytes=$(stat -c %s "$out/startup-$n.wasm")
    us=$(best "$out/startup-$n.wasm") || {
        echo "bench/startup.sh: $vmrt failed on startup-$n.wasm" >&2
        exit 1
    }
    awk -v n="$n" -v b="$bytes" -v us="$us" -v base="$base" 'BEGIN {
        ms = (us - base) / 1000
        printf "%-7d %10d %10.1f %10.1f\n", n, b, ms, ms / (b / 1048576)
    }'
done
