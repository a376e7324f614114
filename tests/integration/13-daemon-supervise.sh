#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# 13-daemon-supervise: with an "ota" section in the config, `vmrt daemon`
# runs the OTA process (here a fake: a shell script that records its pid
# and argv and sleeps) with the documented command line, restarts it with
# a new pid after it is killed, restarts it on SIGHUP when the section
# changed (and only then), and stops it on SIGTERM before exiting.  A bad
# section is refused by `vmrt daemon -n` with the key named.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

rm -rf "$state" "$work/daemon.log" "$work/cfg"
cfg=$work/cfg
mkdir -p "$cfg/keys"
runs=$cfg/runs
printf -- '-----BEGIN PUBLIC KEY-----\n' >"$cfg/keys/fleet.pub"
printf -- '-----BEGIN PUBLIC KEY-----\n' >"$cfg/keys/spare.pub"
# The fake vmrt-ota: one line per start, "PID ARGS...", then sleep.  exec
# keeps the pid, so the daemon's child is the process that sleeps.
cat >"$cfg/fake-ota.sh" <<'SH'
#!/bin/sh
echo "$$ $*" >>"$(dirname "$0")/runs"
exec sleep 1000
SH
chmod +x "$cfg/fake-ota.sh"

# write_config LABEL: the device config with ota.labels.site = LABEL.
write_config() {
    cat >"$cfg/device.json" <<JSON
{
  "workers": 2,
  "ota": {
    "exec": "./fake-ota.sh",
    "device_id": "dev-01",
    "broker": "tcp://127.0.0.1:1883",
    "trusted_keys": ["keys/fleet.pub", "keys/spare.pub"],
    "allow_create": true,
    "health_window_ms": 4000,
    "window": 4,
    "max_package": 1048576,
    "labels": {"site": "$1"},
    "args": ["--verbose", "--x=1"]
  }
}
JSON
}

# wait_runs N: poll up to 10 s for N recorded starts.
wait_runs() {
    local i
    for i in $(seq 1 200); do
        [ -f "$runs" ] && [ "$(wc -l <"$runs")" -ge "$1" ] && return 0
        sleep 0.05
    done
    return 1
}
# pid_of N: the pid of the N-th start.
pid_of() { sed -n "${1}p" "$runs" | cut -d' ' -f1; }
# gone PID: poll up to 10 s until PID no longer exists.
gone() {
    local i
    for i in $(seq 1 200); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.05
    done
    return 1
}
cleanup_ota() {
    [ -f "$runs" ] || return 0
    local p
    for p in $(cut -d' ' -f1 "$runs"); do kill -KILL "$p" 2>/dev/null; done
}
trap 'cleanup_ota; cleanup_daemon' EXIT

write_config lab
expect_rc 0 "daemon -n with an ota section" "$vmrt" daemon -n \
    --config "$cfg/device.json" --state-dir "$state"
grep -q "^ota: .*fake-ota.sh --device dev-01" "$work/out" && ok ||
    fail "-n does not show the ota command line: $(cat "$work/out")"
expect_rc 0 "daemon --help" "$vmrt" daemon --help
grep -q "ota" "$work/out" && ok || fail "daemon --help says nothing of ota"

daemon_start --config "$cfg/device.json" || { fail "daemon start"; finish; }
wait_runs 1 && ok || { fail "the OTA process did not start"; finish; }
want="--device dev-01 --broker tcp://127.0.0.1:1883"
want="$want --trusted-key $cfg/keys/fleet.pub --trusted-key $cfg/keys/spare.pub"
want="$want --socket $sock --state-dir $state/ota --allow-create"
want="$want --health-ms 4000 --window 4 --max-package 1048576"
want="$want --label site=lab --supervised --verbose --x=1"
got=$(sed -n 1p "$runs" | cut -d' ' -f2-)
[ "$got" = "$want" ] && ok || fail "argv: got '$got', want '$want'"
[ -d "$state/ota" ] && ok || fail "no $state/ota"
p1=$(pid_of 1)
grep -q "ota: started pid $p1" "$work/daemon.log" && ok ||
    fail "log lacks 'ota: started pid $p1'"

# Killed: reaped, logged, restarted (first backoff 500 ms) with a new pid.
kill -KILL "$p1"
wait_runs 2 && ok || fail "not restarted after kill -9"
p2=$(pid_of 2)
[ -n "$p2" ] && [ "$p2" != "$p1" ] && kill -0 "$p2" 2>/dev/null && ok ||
    fail "restart: pid '$p2' (was $p1) not running"
grep -q "ota: killed by signal 9" "$work/daemon.log" && ok ||
    fail "log lacks 'ota: killed by signal 9'"
# The old process is reaped, not a zombie of the daemon.
[ "$(ps -o stat= -p "$p1" 2>/dev/null | cut -c1)" = Z ] &&
    fail "pid $p1 left as a zombie" || ok

# SIGHUP with the same section: the child keeps running.
kill -HUP "$dpid"
for i in $(seq 1 100); do
    grep -q "SIGHUP: ota: unchanged" "$work/daemon.log" && break
    sleep 0.05
done
grep -q "SIGHUP: ota: unchanged" "$work/daemon.log" && ok ||
    fail "HUP with the same config: no 'ota: unchanged'"
kill -0 "$p2" 2>/dev/null && [ "$(wc -l <"$runs")" -eq 2 ] && ok ||
    fail "HUP with the same config restarted the child"
# SIGHUP with a changed section: restarted with the new argv.
write_config lab2
kill -HUP "$dpid"
wait_runs 3 && ok || fail "HUP with a changed section did not restart"
gone "$p2" && ok || fail "old child $p2 still running after HUP"
sed -n 3p "$runs" | grep -q -- "--label site=lab2 " && ok ||
    fail "restart after HUP lacks the new label: $(sed -n 3p "$runs")"
p3=$(pid_of 3)

# SIGTERM: the child is stopped, then the daemon exits cleanly.
daemon_stop && ok || fail "daemon did not exit cleanly on SIGTERM"
gone "$p3" && ok || fail "OTA process $p3 survived the daemon"
grep -q "ota: stopping pid $p3" "$work/daemon.log" && ok ||
    fail "log lacks 'ota: stopping pid $p3'"
[ "$(wc -l <"$runs")" -eq 3 ] && ok || fail "child restarted during shutdown"

# A bad section is refused before anything starts, naming the key.
sed -i 's/"dev-01"/"dev 01"/' "$cfg/device.json"
expect_rc 2 "daemon -n: bad device_id" "$vmrt" daemon -n \
    --config "$cfg/device.json" --state-dir "$state"
grep -q "ota.device_id" "$work/err" && ok ||
    fail "bad device_id: error does not name ota.device_id: $(cat "$work/err")"
finish
