# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
# shellcheck shell=bash
#
# deps.sh: install the Debian packages a task needs, only when missing.
#
# Source it, then call `vmf_deps GROUP...`:
#
#     . "$(dirname "$0")/lib/deps.sh"
#     vmf_deps build wasm
#
# Groups are listed in vmf_deps_group below; add a new group there when a
# new part of the project needs new packages (one `case` arm per group).
# Installing is idempotent: packages already installed are never touched,
# `apt-get update` runs at most once per shell, and nothing prompts.
# Set VMF_DEPS_SKIP=1 to skip the whole step (e.g. on a non-Debian host
# where you installed the tools yourself).

# Print the packages of one group, space separated; fail on unknown groups.
vmf_deps_group() {
    case "$1" in
    build) echo "cmake make gcc pkg-config libcmocka-dev libcjson-dev" ;;
    wasm) echo "clang lld wabt wasi-libc libclang-rt-14-dev-wasm32" ;;
    fuzz) echo "clang libclang-rt-14-dev" ;;
    proto) echo "protobuf-c-compiler libprotobuf-c-dev" ;;
    tls) echo "libmbedtls-dev" ;;
    mqtt) echo "mosquitto libpaho-mqtt-dev openssl" ;;
    bench) echo "gcc clang lld wasi-libc libclang-rt-14-dev-wasm32" ;;
    server) echo "libsqlite3-dev libmicrohttpd-dev libcurl4-openssl-dev curl openssl sqlite3" ;;
    # The dashboard's browser test (tests/web) and scripts/screenshots:
    # headless Chromium driven by Selenium, all from Debian.
    web) echo "chromium chromium-driver python3-selenium python3-venv" ;;
    # The Docker fleet tests (tests/fleet), only where a Docker engine
    # answers: compose v1, tc (iproute2), nsenter (util-linux).
    fleet) echo "docker-compose iproute2 util-linux python3" ;;
    *)
        echo "vmf_deps: unknown group '$1'" >&2
        return 1
        ;;
    esac
}

# True when the package is fully installed (not just known or half-removed).
vmf_deps_installed() {
    local status
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) ||
        return 1
    [ "${status%% *}" = "ii" ]
}

# Run a command as root: directly when we are root, else through sudo.
vmf_deps_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n env DEBIAN_FRONTEND=noninteractive "$@" ||
            sudo env DEBIAN_FRONTEND=noninteractive "$@"
    else
        echo "vmf_deps: need root or sudo to run: $*" >&2
        return 1
    fi
}

vmf_deps() {
    local group pkg missing=()

    if [ "${VMF_DEPS_SKIP:-0}" = 1 ]; then
        return 0
    fi
    if ! command -v dpkg-query >/dev/null 2>&1; then
        echo "vmf_deps: not a Debian system; install the tools for:" \
            "$* yourself (or set VMF_DEPS_SKIP=1)" >&2
        return 0
    fi
    local pkgs
    for group in "$@"; do
        pkgs=$(vmf_deps_group "$group") || return 1
        for pkg in $pkgs; do
            vmf_deps_installed "$pkg" && continue
            # Keep the list free of duplicates across groups.
            case " ${missing[*]} " in *" $pkg "*) continue ;; esac
            missing+=("$pkg")
        done
    done
    [ "${#missing[@]}" -eq 0 ] && return 0

    echo "vmf_deps: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [ -z "${VMF_DEPS_UPDATED:-}" ]; then
        vmf_deps_root apt-get update -q || return 1
        VMF_DEPS_UPDATED=1
    fi
    vmf_deps_root apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}
