#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# Entrypoint of vmfleet/device: writes $STATE_DIR/device.json from the
# environment, then runs vmrt daemon (which supervises vmrt-ota).
#   DEVICE_ID    device id (default: the hostname; with
#                `docker compose --scale` each container has its own)
#   BROKER       broker URI (default tcp://broker:1883)
#   LABELS       k=v[,k=v...] reported to vmctld (default site=docker)
#   VMS          boot VMs, names of /usr/share/vmfleet/vms/NAME.wasm
#                (default sensor,counter,blinky)
#   TRUSTED_KEY  package signing key (default /keys/fleet.pub, mounted)
#   WORKERS      vmrt worker threads (default 2)
#   OTA_ARGS     extra vmrt-ota arguments, space-separated
#   STATE_DIR    default /var/lib/vmrt (mount a volume to keep it)
# Arguments, if any, are appended to the vmrt daemon command line.
set -eu

# The image has dash, mkdir, mv and rm only: everything else is builtins.
if [ -z "${DEVICE_ID:-}" ]; then
    read -r DEVICE_ID </etc/hostname
fi
id=$DEVICE_ID
broker=${BROKER:-tcp://broker:1883}
labels=${LABELS:-site=docker}
vms=${VMS:-sensor,counter,blinky}
key=${TRUSTED_KEY:-/keys/fleet.pub}
state=${STATE_DIR:-/var/lib/vmrt}
wasm=/usr/share/vmfleet/vms

case $id in
    ''|*[!A-Za-z0-9._-]*) echo "device: bad device id '$id'" >&2; exit 2 ;;
esac
[ -r "$key" ] || { echo "device: no trusted key at $key" >&2; exit 2; }

# json_str S: S as a JSON string; refuses quotes and backslashes.
json_str() {
    case $1 in
        *[\\\"]*) echo "device: bad value '$1'" >&2; exit 2 ;;
    esac
    printf '"%s"' "$1"
}

# vm NAME PRIORITY: one boot VM; the sdk examples' grants (device.json).
vm() {
    case $1 in
        sensor) g='"grants": [{"device": "temp0", "exclusive": false}], '
                g="$g\"provides\": [\"sensor\"], " ;;
        blinky) g='"grants": [{"device": "led1", "exclusive": false}], '
                g="$g\"args\": [\"led1\"], " ;;
        ledapp) g='"grants": [{"device": "led0", "exclusive": true}], '
                g="$g\"provides\": [\"led\"], \"args\": [\"led0\"], " ;;
        counter) g='"storage_quota": 65536, ' ;;
        *) g='' ;;
    esac
    [ -f "$wasm/$1.wasm" ] ||
        { echo "device: no VM $wasm/$1.wasm" >&2; exit 2; }
    printf '    {"name": "%s", "module": "%s/%s.wasm", "version": "1.0.0",\n' \
        "$1" "$wasm" "$1"
    printf '     %s"priority": %d, "memory_pages": 8, "restart": "on-failure"}' \
        "$g" "$2"
}

mkdir -p "$state"
cfg=$state/device.json
{
    printf '{\n  "workers": %d,\n  "state_dir": "%s",\n  "vms": [\n' \
        "${WORKERS:-2}" "$state"
    prio=4 sep=''
    IFS=,
    set -f
    for v in $vms; do
        printf '%s' "$sep"
        vm "$v" "$prio"
        prio=$((prio + 2)) sep=',
'
    done
    printf '\n  ],\n  "ota": {\n    "device_id": %s,\n' "$(json_str "$id")"
    printf '    "broker": %s,\n' "$(json_str "$broker")"
    printf '    "trusted_keys": [%s],\n    "labels": {' "$(json_str "$key")"
    sep=''
    for kv in $labels; do
        case $kv in *=*) ;; *) echo "device: bad label '$kv'" >&2; exit 2 ;;
        esac
        printf '%s%s: %s' "$sep" "$(json_str "${kv%%=*}")" \
            "$(json_str "${kv#*=}")"
        sep=', '
    done
    printf '},\n    "args": ['
    sep=''
    IFS=' '
    for a in ${OTA_ARGS:-}; do
        printf '%s%s' "$sep" "$(json_str "$a")"
        sep=', '
    done
    printf ']\n  }\n}\n'
    set +f
    unset IFS
} >"$cfg.tmp"
mv "$cfg.tmp" "$cfg"
rm -f "$state/vmrt.sock"
echo "device $id: broker $broker, labels $labels, VMs $vms"
exec /usr/bin/vmrt daemon --config "$cfg" "$@"
