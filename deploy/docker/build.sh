#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# build.sh BUILD_DIR: build the fleet's three Docker images from a local
# build and the host's Debian files, without any image registry:
#   vmfleet/broker:dev   mosquitto (deploy/docker/mosquitto.conf)
#   vmfleet/vmctld:dev   vmctld (config, tokens and keys are mounted)
#   vmfleet/device:dev   vmrt + vmrt-ota + the sdk example VMs; its
#                        entrypoint writes the device config from the
#                        environment and the hostname
# Each image is a minimal root filesystem (the binaries, the shared
# libraries ldd names, dash for the device entrypoint) loaded with
# `docker import`.  Also makes deploy/docker/secrets/ (a fleet key pair,
# an operator and a viewer token) where they do not exist.  Idempotent: re-running
# replaces the images.  TAG=... overrides the tag "dev";
# VMFLEET_SECRETS=DIR puts the secrets there instead.  Exit: 0 built,
# 1 failed, 2 usage.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
case "${1:-}" in
    -h|--help) sed -n '4,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    ''|-*) echo "usage: deploy/docker/build.sh BUILD_DIR (--help)" >&2; exit 2 ;;
esac
build=$1
[ -d "$build" ] || { echo "build.sh: $build: no such directory" >&2; exit 2; }
build=$(cd "$build" && pwd)
tag=${TAG:-dev}
work=$(mktemp -d "${TMPDIR:-/tmp}/vmfleet-docker.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

for f in bin/vmrt bin/vmrt-ota bin/vmctld bin/vmctl sdk/sensor.wasm; do
    [ -e "$build/$f" ] || { echo "build.sh: $build/$f missing" >&2; exit 1; }
done
command -v docker >/dev/null || { echo "build.sh: no docker" >&2; exit 1; }

# add_bin ROOT FILE [DEST]: copy FILE to ROOT/DEST (default: the same
# path) with every shared library ldd names and the dynamic loader.
add_bin() {
    root=$1 src=$2 dst=${3:-$2}
    mkdir -p "$root$(dirname "$dst")"
    cp -L "$src" "$root$dst"
    ldd "$src" | awk '/=> \//{print $3} /^[[:space:]]*\/[^ ]*ld-linux/{print $1}' |
    while read -r lib; do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

# base ROOT: the few files every image needs.
base() {
    root=$1
    mkdir -p "$root/etc" "$root/tmp" "$root/run" "$root/var/lib"
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nmosquitto:x:101:101::/var/lib/mosquitto:/bin/false\nnobody:x:65534:65534::/nonexistent:/bin/false\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nmosquitto:x:101:\nnogroup:x:65534:\n' >"$root/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' \
        >"$root/etc/nsswitch.conf"
}

# import ROOT NAME CHANGE...: load ROOT as vmfleet/NAME:$tag.
import() {
    root=$1 name=$2
    shift 2
    img="vmfleet/$name:$tag"
    tar -C "$root" --numeric-owner -c . |
        docker import --change "LABEL org.vmfleet.image=$name" "$@" - \
            "$img" >/dev/null
    echo "built $img"
}

# broker
r=$work/broker
base "$r"
add_bin "$r" /usr/sbin/mosquitto
mkdir -p "$r/etc/mosquitto" "$r/var/lib/mosquitto"
chown 101:101 "$r/var/lib/mosquitto" 2>/dev/null || true
cp "$here/mosquitto.conf" "$r/etc/mosquitto/mosquitto.conf"
import "$r" broker \
    --change 'ENTRYPOINT ["/usr/sbin/mosquitto", "-c", "/etc/mosquitto/mosquitto.conf"]' \
    --change 'EXPOSE 1883'

# vmctld
r=$work/vmctld
base "$r"
add_bin "$r" "$build/bin/vmctld" /usr/bin/vmctld
mkdir -p "$r/etc/vmctld" "$r/var/lib/vmctld"
cp "$here/vmctld.json" "$r/etc/vmctld/vmctld.json"
import "$r" vmctld \
    --change 'ENTRYPOINT ["/usr/bin/vmctld", "-c", "/etc/vmctld/vmctld.json"]' \
    --change 'EXPOSE 8080'

# device
r=$work/device
base "$r"
add_bin "$r" "$build/bin/vmrt" /usr/bin/vmrt
add_bin "$r" "$build/bin/vmrt-ota" /usr/bin/vmrt-ota
add_bin "$r" /bin/dash /bin/sh
for t in mkdir mv rm; do add_bin "$r" "/bin/$t"; done
mkdir -p "$r/usr/share/vmfleet/vms" "$r/var/lib/vmrt" "$r/keys"
cp "$build"/sdk/*.wasm "$r/usr/share/vmfleet/vms/"
cp "$here/device-entrypoint.sh" "$r/usr/bin/device-entrypoint"
chmod 755 "$r/usr/bin/device-entrypoint"
import "$r" device \
    --change 'ENTRYPOINT ["/usr/bin/device-entrypoint"]' \
    --change 'ENV VMS=sensor,counter,blinky'

# secrets: the fleet key pair and the API tokens (kept when present)
s=${VMFLEET_SECRETS:-$here/secrets}
mkdir -p "$s"
if [ ! -f "$s/fleet.pub" ]; then
    "$build/bin/vmctl" keys gen -o "$s/fleet" >/dev/null
    echo "made $s/fleet.key, $s/fleet.pub"
fi
for t in admin viewer; do
    [ -f "$s/$t.token" ] && continue
    (umask 077; od -An -N24 -tx1 /dev/urandom | tr -d ' \n' >"$s/$t.token")
    echo "made $s/$t.token"
done

# The images this script made before, now untagged.
docker image prune -f --filter label=org.vmfleet.image >/dev/null || true

docker image ls --format '{{.Repository}}:{{.Tag}}  {{.Size}}' |
    grep "^vmfleet/.*:$tag " || true
