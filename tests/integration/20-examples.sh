#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 20-examples: the SDK examples (sdk/examples) on a real `vmrt daemon`
# booted from sdk/examples/device.json: every example manifest and the
# device config pass `vmrt daemon -n`; all five VMs run; blinky's led
# changes over time; sensor's readings follow the waveform set through
# `vmrt ctl dev temp0`; commands sent over TCP to netsvc drive led0
# (through ledapp), call the sensor service and read what netsvc got on
# the topic "temp"; counter continues from the snapshot after a restore
# and from its file after a restart; `logs` and `logs --follow` show its
# lines.  Polls have generous limits and nothing asserts on exact timing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

rm -rf "$state" "$work/daemon.log" "$work"/*.json "$work/counter.snap"
wasm=$(cd "$wasm" && pwd) # the daemon has another working directory

# poll SECS CMD...: run CMD every 0.2 s until it succeeds or SECS pass.
poll() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# A free TCP port for netsvc, so parallel runs do not collide.
port=$(python3 -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
')

# The device config with absolute module paths and netsvc on $port; and
# one single-VM config per example manifest, to check that each parses.
if python3 - "$wasm" "$work" "$port" <<'EOF'
import json, os, sys
wasm, work, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def fix(m):
    m["module"] = os.path.join(wasm, m["module"])
    if m["name"] == "netsvc":
        for a in m["net_allow"]:
            a["port"] = port
        m["args"] = ["127.0.0.1:%d" % port]
    return m
dev = json.load(open(os.path.join(wasm, "device.json")))
dev["vms"] = [fix(m) for m in dev["vms"]]
json.dump(dev, open(os.path.join(work, "device.json"), "w"), indent=1)
for name in ("blinky", "sensor", "netsvc", "ledapp", "counter"):
    m = fix(json.load(open(os.path.join(wasm, name + ".json"))))
    assert m["name"] == name, name
    json.dump({"vms": [m]}, open(os.path.join(work, "m-%s.json" % name), "w"))
EOF
then ok; else fail "cannot read the example configs in $wasm"; finish; fi

expect_rc 0 "device.json parses" "$vmrt" daemon -n --config "$wasm/device.json"
for m in blinky sensor netsvc ledapp counter; do
    expect_rc 0 "$m.json parses" "$vmrt" daemon -n --config "$work/m-$m.json"
done

daemon_start --config "$work/device.json" || { fail "daemon start"; finish; }

all_running() {
    local v
    for v in ledapp sensor netsvc blinky counter; do
        [ "$(vm_field "$v" state)" = running ] || return 1
    done
}
if poll 30 all_running; then ok; else
    fail "not all examples running: $(ctl list 2>&1)"
    tail -20 "$work/daemon.log" >&2
    daemon_stop
    finish
fi

# ---- blinky: led1 (device.json moves it off led0) toggles ------------
led() {
    ctl --json dev "$1" | python3 -c '
import json, sys
print(json.load(sys.stdin)["values"][0])'
}
seen=""
for _ in $(seq 1 60); do
    seen="$seen $(led led1)"
    case $seen in *0*1* | *1*0*) break ;; esac
    sleep 0.1
done
case $seen in *0*1* | *1*0*) ok ;; *) fail "led1 never changed:$seen" ;; esac
ctl logs blinky >"$work/blinky.log"
grep -q "toggle [0-9]*: led1 o" "$work/blinky.log" && ok ||
    fail "blinky logs no toggles: $(tail -3 "$work/blinky.log")"

# ---- sensor: readings follow the waveform ----------------------------
# last_reading: the number of sensor's latest "reading N:" line.
last_reading() {
    ctl logs sensor | sed -n 's/.*reading \([0-9]*\): .*/\1/p' | tail -1
}
# readings_after N: the values (milli-degrees) of readings after N.
readings_after() {
    ctl logs sensor | python3 -c '
import re, sys
after = int(sys.argv[1])
for line in sys.stdin:
    m = re.search(r"reading (\d+): temp0 (-?)(\d+)\.(\d{3}) C", line)
    if m and int(m.group(1)) > after:
        v = int(m.group(3)) * 1000 + int(m.group(4))
        print(-v if m.group(2) else v)
' "$1"
}
has_reading() {
    readings_after "$1" | grep -qx -- "$2"
}
for want in 31500 -2250; do
    from=$(last_reading)
    expect_rc 0 "temp0 const $want" ctl dev temp0 const "$want"
    if poll 20 has_reading "${from:-0}" "$want"; then ok; else
        fail "sensor never read $want: $(ctl logs sensor | tail -2)"
    fi
done
[ "$(ctl dev temp0)" = "temp0: -2.250 C" ] && ok ||
    fail "ctl dev temp0: $(ctl dev temp0)"

# ---- netled: TCP -> netsvc -> IPC -> ledapp -> led0 -----------------
# tcp_cmds CMD...: one connection, one line per command, print replies.
tcp_cmds() {
    python3 - "$port" "$@" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
f = s.makefile("rw")
for c in sys.argv[2:]:
    f.write(c + "\n")
    f.flush()
    print(f.readline().strip())
EOF
}
netsvc_up() { tcp_cmds state >/dev/null 2>&1; }
poll 20 netsvc_up && ok || fail "netsvc does not answer on port $port"
for cmd in on off toggle; do
    case $cmd in on | toggle) want=1 ;; *) want=0 ;; esac
    reply=$(tcp_cmds "$cmd" 2>&1)
    [ "$reply" = "led0 $([ $want = 1 ] && echo on || echo off)" ] && ok ||
        fail "netsvc '$cmd' replied '$reply'"
    [ "$(led led0)" = "$want" ] && ok || fail "led0 is not $want after $cmd"
done
reply=$(tcp_cmds off temp bogus 2>&1 | tr '\n' '|')
want="led0 off|-2250|error: unknown command (on, off, toggle, state)|"
[ "$reply" = "$want" ] && ok || fail "netsvc replies: $reply"
[ "$(led led0)" = 0 ] && ok || fail "led0 not off"
ctl logs ledapp | grep >/dev/null "led0 on" && ok || fail "ledapp logs no change"
# netsvc also follows the topic "temp" that sensor publishes on.
last_published() { tcp_cmds last 2>/dev/null | grep -Eq '^-2250 \([0-9]+ '; }
poll 20 last_published && ok || fail "netsvc 'last': $(tcp_cmds last 2>&1)"
# sensor logs its reading after the publish returns, so netsvc can have
# the message before that line is written: wait for it.
sensor_had_sub() { ctl logs sensor | grep >/dev/null "(1 subscriber)"; }
poll 10 sensor_had_sub && ok ||
    fail "sensor never had netsvc as a subscriber"

# A sine: the readings vary and stay inside base +- amplitude.
from=$(last_reading)
expect_rc 0 "temp0 sine" ctl dev temp0 sine 20000 5000 2s
sine_seen() {
    readings_after "$((${from:-0} + 1))" >"$work/sine"
    [ "$(sort -u "$work/sine" | wc -l)" -ge 3 ]
}
if poll 30 sine_seen; then ok; else
    fail "sensor readings do not vary: $(tr '\n' ' ' <"$work/sine")"
fi
if awk '$1 < 15000 || $1 > 25000 { bad = 1 } END { exit bad }' \
    "$work/sine"; then ok; else
    fail "sine readings out of range: $(tr '\n' ' ' <"$work/sine")"
fi

# ---- counter: snapshot/restore and restart ---------------------------
counts() { ctl logs counter | sed -n 's/^count \([0-9]*\)$/\1/p'; }
last_count() { counts | tail -1; }
count_above() { [ "$(last_count)" -gt "$1" ] 2>/dev/null; }

poll 20 count_above 3 && ok || fail "counter does not count"
ctl logs counter | grep >/dev/null "^counter: starting at 0 (from scratch)" && ok ||
    fail "counter first start: $(ctl logs counter | head -3)"
s_lo=$(last_count)
expect_rc 0 "snapshot counter" ctl snapshot counter "$work/counter.snap"
s_hi=$(last_count)
# Let it run on well past the snapshot, then go back.
poll 30 count_above "$((s_hi + 10))" && ok || fail "counter stalled"
top=$(last_count)
expect_rc 0 "restore counter" ctl restore counter "$work/counter.snap"
restored_counts() { [ "$(ctl logs counter | sed -n '/restored from/,$p' |
    grep -c '^count ')" -ge 3 ]; }
poll 30 restored_counts && ok || fail "counter silent after restore"
[ "$(vm_field counter state)" = running ] && ok || fail "counter not running"
# The first value that drops below its predecessor is where the restored
# memory took over: just after the snapshot's value, below the top.
r=$(counts | awk 'NR > 1 && $1 < prev { print; exit } { prev = $1 }')
if [ -n "$r" ] && [ "$r" -gt "$s_lo" ] && [ "$r" -le "$((s_hi + 1))" ] &&
    [ "$r" -lt "$top" ]; then ok; else
    fail "after restore counter went to '$r' (snapshot $s_lo..$s_hi, top $top)"
fi

expect_rc 0 "restart counter" ctl restart counter
after_restart() {
    ctl logs counter | grep "^counter: starting at" | tail -1 |
        grep -q "from counter.txt"
}
poll 30 after_restart && ok || fail "counter did not restart from its file"
n=$(ctl logs counter | sed -n 's/^counter: starting at \([0-9]*\) .*/\1/p' |
    tail -1)
[ "${n:-0}" -ge "$r" ] && ok || fail "restarted at '$n', below $r"
poll 20 count_above "$n" && ok || fail "counter stalled after restart"
next=$(ctl logs counter | sed -n '/^counter: starting at '"$n"' /,$p' |
    sed -n 's/^count \([0-9]*\)$/\1/p' | head -1)
[ "$next" = "$((n + 1))" ] && ok ||
    fail "after restart from $n the next count is '$next'"

# ---- logs and logs --follow ------------------------------------------
ctl logs counter >"$work/counter.log"
grep -q "^count [0-9]" "$work/counter.log" && ok || fail "logs: no lines"
before=$(last_count)
timeout 3 "$vmrt" ctl --socket "$sock" logs counter --follow \
    >"$work/follow.log" 2>&1
[ $? -eq 124 ] && ok || fail "logs --follow ended by itself"
newest=$(sed -n 's/^count \([0-9]*\)$/\1/p' "$work/follow.log" | tail -1)
[ "${newest:-0}" -gt "$before" ] && ok ||
    fail "logs --follow: nothing after $before (last '$newest')"

daemon_stop && ok || fail "daemon did not exit cleanly on SIGTERM"
finish
