#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 23-udp: UDP end to end on a `vmrt daemon`.  A python3 listener on a
# free 127.0.0.1 UDP port answers "pong <datagram>"; the e2e_udp guest,
# whose manifest allows that port (proto udp), sends "ping", gets the
# reply, and gets VOS_EPERM for a datagram to the next port, which the
# manifest does not allow.  The guest exits 0 when all of that held.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

wasm=$(cd "$wasm" && pwd)
rm -rf "$state" "$work/daemon.log" "$work/udp.json" "$work/listener.log"

poll() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

# The listener binds port 0 and reports the port it got; it answers
# every datagram and logs what it received, for 60 s at most.
python3 -u - >"$work/listener.log" 2>&1 <<'EOF2' &
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("port", s.getsockname()[1], flush=True)
s.settimeout(1.0)
end = time.time() + 60
while time.time() < end:
    try:
        data, peer = s.recvfrom(512)
    except socket.timeout:
        continue
    print("got %r from %s:%d" % (data, peer[0], peer[1]), flush=True)
    s.sendto(b"pong " + data, peer)
EOF2
lpid=$!
cleanup_all() {
    kill "$lpid" 2>/dev/null
    cleanup_daemon
}
trap cleanup_all EXIT
has_port() { grep -q "^port " "$work/listener.log"; }
poll 10 has_port || { fail "listener did not start"; finish; }
port=$(sed -n 's/^port //p' "$work/listener.log")

python3 - "$wasm" "$work" "$port" <<'EOF2'
import json, os, sys
wasm, work, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
vm = {"name": "udp", "module": os.path.join(wasm, "e2e_udp.wasm"),
      "version": "1.0", "memory_pages": 4,
      "net_allow": [{"host": "127.0.0.1", "port": port, "proto": "udp"}],
      "args": [str(port)]}
json.dump({"vms": [vm]}, open(os.path.join(work, "udp.json"), "w"))
EOF2
expect_rc 0 "udp.json parses" "$vmrt" daemon -n --config "$work/udp.json"
daemon_start --config "$work/udp.json" || { fail "daemon start"; finish; }

ended() { [ "$(vm_field udp state)" = stopped ]; }
if poll 30 ended; then ok; else
    fail "udp guest did not end: state '$(vm_field udp state)'"
fi
echo "guest log:"
ctl logs udp | sed 's/^/  /'
echo "listener:"
sed 's/^/  /' "$work/listener.log"
code=$(ctl --json list | python3 -c '
import json, sys
for v in json.load(sys.stdin):
    if v["name"] == "udp":
        print(v.get("exit_code", "?"))')
[ "$code" = 0 ] && ok || fail "udp guest exit code '$code' (step that failed)"
ctl logs udp | grep >/dev/null "^udp: reply 'pong ping'" && ok ||
    fail "guest got no reply"
ctl logs udp | grep -Eq "not allowed\) -> -[0-9]+$" && ok ||
    fail "no refused sendto in the log"
grep -q "got b'ping' from 127.0.0.1:" "$work/listener.log" && ok ||
    fail "listener got no ping"
[ "$(grep -c "^got " "$work/listener.log")" = 1 ] && ok ||
    fail "listener got more than the allowed datagram"

daemon_stop && ok || fail "daemon did not exit cleanly on SIGTERM"
finish
