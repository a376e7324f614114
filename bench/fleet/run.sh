#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
#
# bench/fleet/run.sh [OPTIONS] [N]
#
# The fleet scale benchmark of issue 6: N simulated devices (default
# 1000; `run.sh 10000` on demand) in fleet-sim processes, a private
# mosquitto and vmctld on loopback; then one `vmctl update --all` of the
# sensor VM, timed from the command until vmctld reports the rollout
# succeeded (every device healthy on the new version).  Meanwhile it
# samples vmctld's CPU (/proc/PID/stat) and memory (VmRSS, VmHWM) and
# measures the API's latency with a loop of GET /api/v1/devices and
# GET /api/v1/rollouts/ID (one client, one request at a time).  Prints a
# block for docs/performance.md at the end (also in WORK/summary.md).
#
#   --build DIR         build directory with bin/vmctld, bin/vmctl and
#                       bin/fleet-sim (default: ./build of the checkout;
#                       Release for figures worth recording)
#   --work DIR          scratch directory (default BUILD/bench-fleet)
#   --batch B           rollout batch, N or P% (default 10%)
#   --canary N          canary devices (default 1)
#   --max-failures M    rollout failure threshold (default vmctld's: 0)
#   --health-ms MS      health window of each update (default 1000)
#   --module-kb K       size of the new sensor module (default 64)
#   --fail-rate P       each simulated update fails with probability P
#   --per-process K     devices per fleet-sim process (default 5000: Paho
#                       scans its client list per socket event, so one
#                       process with 10,000 clients connects slower)
#   --connect-rate R    device connects per second, all processes (200)
#   --api-ms MS         one GET /devices + GET /rollouts/ID every MS ms
#                       during the rollout (default 250: p99 needs
#                       samples; 0: back to back, which with 10,000
#                       devices keeps vmctld busy and slows the rollout)
#   --timeout S         give up on the rollout after S s (default 3600)
#   --keep              leave everything running at the end (Ctrl-C
#                       stops it)
#
# Exit status: 0 the rollout succeeded on every device; 1 setup failed or
# the rollout did not succeed; 2 usage.
set -uo pipefail

usage() {
    sed -n '5,40p' "$0" | sed 's/^# \{0,1\}//'
}

die_usage() {
    echo "bench/fleet/run.sh: $*" >&2
    exit 2
}

say() {
    printf '== %s\n' "$*"
}

devices=1000
build=""
work=""
batch="10%"
canary=1
max_failures=""
health_ms=1000
module_kb=64
fail_rate=""
per_process=5000
rate=200
timeout_s=3600
api_ms=250
keep=0
num='^[1-9][0-9]*$'
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --keep)
        keep=1
        shift
        continue
        ;;
    --build | --work | --batch | --canary | --max-failures | --health-ms | \
        --module-kb | --fail-rate | --per-process | --connect-rate | \
        --api-ms | --timeout)
        [ $# -ge 2 ] || die_usage "$1 needs a value"
        ;;
    -*) die_usage "unknown option $1 (see --help)" ;;
    *) break ;;
    esac
    case "$1" in
    --build) build=$2 ;;
    --work) work=$2 ;;
    --batch)
        [[ "$2" =~ ^[1-9][0-9]*%?$ ]] ||
            die_usage "--batch: '$2' is not N or P%"
        batch=$2
        ;;
    --canary)
        [[ "$2" =~ ^[0-9]+$ ]] || die_usage "--canary: '$2' is not a count"
        canary=$2
        ;;
    --max-failures)
        [[ "$2" =~ ^[0-9]+%?$ ]] ||
            die_usage "--max-failures: '$2' is not N or P%"
        max_failures=$2
        ;;
    --health-ms)
        [[ "$2" =~ ^[0-9]+$ ]] && [ "$2" -le 3600000 ] ||
            die_usage "--health-ms: '$2' is not 0..3600000"
        health_ms=$2
        ;;
    --module-kb)
        [[ "$2" =~ $num ]] && [ "$2" -le 16384 ] ||
            die_usage "--module-kb: '$2' is not 1..16384"
        module_kb=$2
        ;;
    --fail-rate)
        [[ "$2" =~ ^(0|1|0?\.[0-9]+|1\.0*)$ ]] ||
            die_usage "--fail-rate: '$2' is not a probability from 0 to 1"
        fail_rate=$2
        ;;
    --per-process)
        [[ "$2" =~ $num ]] || die_usage "--per-process: '$2' is not a count"
        per_process=$2
        ;;
    --connect-rate)
        [[ "$2" =~ $num ]] || die_usage "--connect-rate: '$2' is not a rate"
        rate=$2
        ;;
    --timeout)
        [[ "$2" =~ $num ]] || die_usage "--timeout: '$2' is not seconds"
        timeout_s=$2
        ;;
    --api-ms)
        [[ "$2" =~ ^[0-9]+$ ]] ||
            die_usage "--api-ms: '$2' is not milliseconds"
        api_ms=$2
        ;;
    esac
    shift 2
done
if [ $# -gt 1 ]; then
    die_usage "usage: bench/fleet/run.sh [OPTIONS] [N] (see --help)"
fi
if [ $# -eq 1 ]; then
    [[ "$1" =~ $num ]] && [ "$1" -le 100000 ] ||
        die_usage "N: '$1' is not a number of devices from 1 to 100000"
    devices=$1
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
[ -n "$build" ] || build=$root/build
build=$(cd "$build" 2>/dev/null && pwd) ||
    die_usage "build directory '$build' does not exist (--build)"
vmctld=$build/bin/vmctld
vmctl=$build/bin/vmctl
sim=$build/bin/fleet-sim
mosquitto=${VMF_MOSQUITTO:-/usr/sbin/mosquitto}
for f in "$vmctld" "$vmctl" "$sim" "$mosquitto"; do
    [ -x "$f" ] || {
        echo "bench/fleet/run.sh: $f is missing: build $build first" \
            "(cmake --build $build), or set VMF_MOSQUITTO" >&2
        exit 2
    }
done
command -v python3 >/dev/null || {
    echo "bench/fleet/run.sh: needs python3" >&2
    exit 2
}
[ -n "$work" ] || work=$build/bench-fleet
rm -rf "$work"
mkdir -p "$work/keys" "$work/ctld" || exit 1

# One socket per device in fleet-sim and in mosquitto: raise the soft
# descriptor limit to the hard one (children inherit it).
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt $((devices + 256)) ]; then
    echo "bench/fleet/run.sh: mosquitto needs $((devices + 256))" \
        "descriptors; the hard limit is $hard (raise it as root:" \
        "ulimit -Hn, or LimitNOFILE)" >&2
    exit 1
fi
ulimit -n "$hard" || exit 1

pids=()
cleanup() {
    local p
    [ "$keep" = 1 ] && return
    for p in "${pids[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        # fleet-sim says goodbye for every device; give it time.
        for _ in $(seq 1 100); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    pids=()
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

port_open() {
    python3 -c 'import socket, sys
s = socket.socket()
s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)' "$1"
}

# poll SECONDS CMD...: run CMD every 0.2 s until it succeeds.
poll() {
    local end=$((SECONDS + $1))
    shift
    while ! "$@"; do
        [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

say "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/')"
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$root" status --porcelain 2>/dev/null | grep -q . &&
    commit="$commit (with uncommitted changes)"
say "commit: $commit; build $build"

# ---- broker -------------------------------------------------------------
# A private mosquitto: no connection limit, room for every device's
# retained State and QoS 1 backlog in vmctld's session, and Nagle off
# (docs/performance.md, "OTA update").
mport=$(free_port)
cat >"$work/mosquitto.conf" <<EOF
listener $mport 127.0.0.1
allow_anonymous true
persistence false
max_connections -1
max_queued_messages 200000
set_tcp_nodelay true
user $(id -un)
EOF
"$mosquitto" -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
poll 10 port_open "$mport" || {
    echo "bench/fleet/run.sh: mosquitto did not start:" >&2
    tail -5 "$work/mosquitto.log" >&2
    exit 1
}
broker=tcp://127.0.0.1:$mport
say "mosquitto on $broker"

# ---- keys and the package -----------------------------------------------
"$vmctl" keys gen -o "$work/keys/fleet" >/dev/null || {
    echo "bench/fleet/run.sh: vmctl keys gen failed" >&2
    exit 1
}
# A WebAssembly module of K KiB: the header and one custom section.
python3 - "$work/sensor.wasm" "$((module_kb * 1024))" <<'EOF' || exit 1
import os, sys

def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)

path, want = sys.argv[1], int(sys.argv[2])
name = b"bench-pad"
pad = max(0, want - 8 - 1 - 5 - 1 - len(name))
body = leb(len(name)) + name + os.urandom(pad)
open(path, "wb").write(b"\0asm\1\0\0\0" + b"\0" + leb(len(body)) + body)
EOF
"$vmctl" pack --vm sensor --version 2.0.0 --key "$work/keys/fleet.key" \
    "$work/sensor.wasm" -o "$work/sensor-2.0.0.vpk" >/dev/null || {
    echo "bench/fleet/run.sh: vmctl pack failed" >&2
    exit 1
}

# ---- vmctld -------------------------------------------------------------
hport=$(free_port)
token=bench-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
api=http://127.0.0.1:$hport
cat >"$work/vmctld.json" <<EOF
{
  "mqtt": { "uri": "$broker", "client_id": "vmctld-bench" },
  "http": { "listen": "127.0.0.1:$hport" },
  "tokens": [ { "name": "bench", "role": "operator", "token": "$token" } ],
  "storage": { "data_dir": "$work/ctld" },
  "trust": { "keys": ["$work/keys/fleet.pub"] },
  "log": { "level": "info" }
}
EOF
"$vmctld" -c "$work/vmctld.json" >"$work/vmctld.log" 2>&1 &
ctld_pid=$!
pids+=("$ctld_pid")
healthz() {
    python3 -c 'import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=2).read()
except Exception:
    sys.exit(1)' "$api"
}
poll 20 healthz || {
    echo "bench/fleet/run.sh: vmctld does not answer on $api:" >&2
    tail -20 "$work/vmctld.log" >&2
    exit 1
}
say "vmctld (pid $ctld_pid) on $api"

# ---- fleet-sim ----------------------------------------------------------
nsim=$(((devices + per_process - 1) / per_process))
each_rate=$((rate / nsim > 0 ? rate / nsim : 1))
sim_pids=()
t_sim=$EPOCHREALTIME
for ((k = 0; k < nsim; k++)); do
    first=$((k * per_process))
    count=$((devices - first < per_process ? devices - first : per_process))
    "$sim" --broker "$broker" --devices "$count" --first "$first" \
        --connect-rate "$each_rate" --health-ms "$health_ms" \
        --labels bench=fleet --trust "$work/keys/fleet.pub" \
        ${fail_rate:+--fail-rate "$fail_rate"} \
        >"$work/sim-$k.out" 2>"$work/sim-$k.err" &
    sim_pids+=($!)
    pids+=($!)
done
say "$devices devices in $nsim fleet-sim process(es) (pids ${sim_pids[*]})," \
    "$rate connects/s"

# ---- the measurement ------------------------------------------------------
python3 - "$api" "$token" "$ctld_pid" "$vmctl" "$work" "$devices" \
    "$t_sim" "$batch" "$canary" "${max_failures:--}" "$health_ms" \
    "$timeout_s" "$module_kb" "$nsim" "$rate" "$commit" \
    "${fail_rate:-0}" "$api_ms" "${sim_pids[@]}" <<'EOF'
import json, os, subprocess, sys, threading, time, urllib.request

(api, token, ctld_pid, vmctl, work, devices, t_sim, batch, canary,
 max_failures, health_ms, timeout_s, module_kb, nsim, rate, commit,
 fail_rate, api_ms) = sys.argv[1:19]
sim_pids = [int(p) for p in sys.argv[19:]]
api_ms = int(api_ms)
devices, ctld_pid = int(devices), int(ctld_pid)
timeout_s, health_ms = int(timeout_s), int(health_ms)
t_sim = float(t_sim)
tck = os.sysconf("SC_CLK_TCK")
hdr = {"Authorization": "Bearer " + token}


def log(msg):
    print("== " + msg, flush=True)


def get(path, timeout=60, parse=True):
    """GET api+path: (seconds, the parsed JSON, or the body's length if
    not parse: the device list of a big fleet is megabytes, and parsing
    it would take the CPU this benchmark measures)."""
    req = urllib.request.Request(api + path, headers=hdr)
    t = time.monotonic()
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
    dt = time.monotonic() - t
    return dt, json.loads(body) if parse else len(body)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / tck


def status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.split()[0] if v.split() else ""
    return out


def alive(pid):
    """True while pid runs (a zombie, our shell's to reap, does not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def pct(vals, p):
    s = sorted(vals)
    k = max(0, min(len(s) - 1, -(-len(s) * p // 100) - 1))
    return s[k]


# 1. Every device online in vmctld.
deadline = time.time() + 120 + 3 * devices / max(1, int(rate))
online = -1
while True:
    for p in sim_pids + [ctld_pid]:
        if not alive(p):
            sys.exit("%s (pid %d) exited; see %s/%s" %
                     ("vmctld" if p == ctld_pid else "fleet-sim", p, work,
                      "vmctld.log" if p == ctld_pid else "sim-*.err"))
    try:
        online = get("/api/v1/info", 10)[1].get("devices_online", -1)
    except Exception as e:
        online = "?(%s)" % e
    if online == devices:
        break
    if time.time() > deadline:
        sys.exit("only %s of %d devices online in vmctld after %.0f s" %
                 (online, devices, time.time() - t_sim))
    time.sleep(0.5)
t_online = time.time() - t_sim
cpu_connect = cpu_s(ctld_pid)
log("all %d devices online in vmctld after %.1f s (vmctld CPU so far %.1f s)"
    % (devices, t_online, cpu_connect))

# 2. Samplers: vmctld's CPU and RSS twice a second; the API loop.
stop = threading.Event()
rid = [None]
lat = {"devices": [], "rollout": []}
errors = {"devices": 0, "rollout": 0}
error_texts = []
rss_max = [0]
samples = []


def sampler():
    while not stop.is_set():
        try:
            st = status(ctld_pid)
            rss = int(st.get("VmRSS", "0"))
            rss_max[0] = max(rss_max[0], rss)
            samples.append((time.time(), cpu_s(ctld_pid), rss))
        except (OSError, ValueError):
            pass
        stop.wait(0.5)


def api_loop():
    """The two GETs, one after the other, every api_ms (a dashboard that
    refreshes fast), so the load is the same whatever the latency."""
    nxt = time.monotonic()
    while not stop.is_set():
        for name in ("devices", "rollout"):
            if name == "devices":
                path = "/api/v1/devices"
            elif rid[0] is not None:
                path = "/api/v1/rollouts/%s" % rid[0]
            else:
                continue
            try:
                dt, _ = get(path, parse=False)
                lat[name].append(dt)
            except Exception as e:
                errors[name] += 1
                if len(error_texts) < 5:
                    error_texts.append("%s: %s" % (path, e))
        nxt += api_ms / 1000.0
        stop.wait(max(0.0, nxt - time.monotonic()))


threads = [threading.Thread(target=sampler, daemon=True),
           threading.Thread(target=api_loop, daemon=True)]
for t in threads:
    t.start()

# 3. The rollout.
cmd = [vmctl, "--server", api, "--token", token, "--json", "update",
       "--all", "sensor", os.path.join(work, "sensor-2.0.0.vpk"),
       "--batch", batch, "--canary", canary,
       "--health-window", str(health_ms)]
if max_failures != "-":
    cmd += ["--max-failures", max_failures]
cpu0 = cpu_s(ctld_pid)
t0 = time.time()
p = subprocess.run(cmd, capture_output=True, text=True)
if p.returncode != 0:
    stop.set()
    sys.exit("vmctl update failed (%d): %s%s" % (p.returncode, p.stdout,
                                                 p.stderr))
try:
    rid[0] = json.loads(p.stdout)["id"]
except (ValueError, KeyError):
    rid[0] = get("/api/v1/rollouts")[1]["rollouts"][0]["id"]
log("rollout %s started (`%s`)" % (rid[0], " ".join(
    ["vmctl"] + cmd[5:])))
state, doc, last, t_log = "", {}, "", 0.0
while True:
    # The list has no per-device rows: cheap to parse whatever N is.
    try:
        doc = [r for r in get("/api/v1/rollouts")[1]["rollouts"]
               if r.get("id") == rid[0]][0]
        state = doc.get("state", "")
    except Exception as e:
        state = "?(%s)" % e
    c = doc.get("counts", {})
    line = "%s: %s/%s succeeded, %s failed, %s in flight" % (
        state, c.get("succeeded"), c.get("total"), c.get("failed"),
        c.get("in_flight"))
    if line != last and time.time() - t_log >= 5:
        log("t=%.0fs rollout %s" % (time.time() - t0, line))
        last, t_log = line, time.time()
    if state in ("succeeded", "failed", "aborted", "paused"):
        break
    if time.time() - t0 > timeout_s:
        state = "timed out"
        break
    time.sleep(0.25)
t_rollout = time.time() - t0
cpu_roll = cpu_s(ctld_pid) - cpu0
stop.set()
for t in threads:
    t.join(70)
st = status(ctld_pid)
hwm_mb = int(st.get("VmHWM", "0")) / 1024
c = doc.get("counts", {})
log("rollout %s after %.1f s: %s" % (rid[0], t_rollout, line))
for e in error_texts:
    log("API error: %s" % e)

sims = []
for sp in sim_pids:
    try:
        s = status(sp)
        sims.append((int(s.get("VmHWM", "0")) / 1024, int(s.get("Threads",
                                                                "0")),
                     cpu_s(sp)))
    except OSError:
        pass


def lat_line(name):
    v = lat[name]
    if not v:
        return "no samples (%d errors)" % errors[name]
    return ("p50 %.1f ms, p99 %.1f ms, max %.1f ms (n=%d%s)" %
            (pct(v, 50) * 1e3, pct(v, 99) * 1e3, max(v) * 1e3, len(v),
             ", %d errors" % errors[name] if errors[name] else ""))


when = time.strftime("%Y-%m-%d")
ncpu = os.cpu_count()
out = []
out.append("#### Fleet scale: %d devices (%s, commit %s, %d cores)" %
           (devices, when, commit, ncpu))
out.append("")
out.append("| What | Figure |")
out.append("|---|---|")
out.append("| fleet | %d simulated devices (fleet-sim, %s process%s, 3 VMs "
           "each), mosquitto, vmctld, all on loopback |" %
           (devices, nsim, "" if nsim == "1" else "es"))
out.append("| all devices online in vmctld | %.1f s after fleet-sim "
           "started (%s connects/s) |" % (t_online, rate))
out.append("| `vmctl update --all sensor` (%d KiB module, canary %s, batch "
           "%s, health window %d ms%s) until the rollout %s | **%.1f s** "
           "(%s/%s devices succeeded, %s failed) |" %
           (int(module_kb), canary, batch, health_ms,
            ", fail rate %s" % fail_rate if fail_rate != "0" else "",
            state, t_rollout, c.get("succeeded"), c.get("total"),
            c.get("failed")))
out.append("| vmctld CPU during the rollout | %.1f s (%.0f%% of one core) |"
           % (cpu_roll, 100 * cpu_roll / max(t_rollout, 1e-9)))
out.append("| vmctld CPU while the devices connected | %.1f s |" %
           cpu_connect)
out.append("| vmctld peak RSS (VmHWM) | %.0f MiB |" % hwm_mb)
out.append("| API latency during the rollout, `GET /api/v1/devices` "
           "(all %d; with `GET /rollouts/ID`, every %d ms) | %s |" %
           (devices, api_ms, lat_line("devices")))
out.append("| API latency during the rollout, `GET /api/v1/rollouts/ID` "
           "| %s |" % lat_line("rollout"))
if sims:
    out.append("| fleet-sim, per process | peak RSS %.0f MiB, %d threads, "
               "CPU %.1f s (largest of %d) |" %
               (max(s[0] for s in sims), max(s[1] for s in sims),
                max(s[2] for s in sims), len(sims)))
text = "\n".join(out) + "\n"
with open(os.path.join(work, "summary.md"), "w") as f:
    f.write(text)
with open(os.path.join(work, "vmctld-samples.tsv"), "w") as f:
    for s in samples:
        f.write("%.3f\t%.2f\t%d\n" % s)
print()
print(text, end="")
sys.exit(0 if state == "succeeded" and c.get("succeeded") == devices
         else 1)
EOF
rc=$?
if [ "$keep" = 1 ]; then
    say "--keep: everything runs on ($api, token $token); Ctrl-C stops"
    trap 'keep=0; cleanup; exit $rc' INT TERM
    wait
fi
exit "$rc"
