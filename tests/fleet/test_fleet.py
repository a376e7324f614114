#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""The fleet end to end in Docker (deploy/docker): a mosquitto, vmctld
and 5 devices in their own containers on a compose network, each device
a `vmrt daemon` with 3 VMs (sensor, counter, ota_tick), driven by the
host's vmctl.  The tests run in this order, on one fleet:

  1. the fleet comes up: `vmctl devices` lists every device online;
  2. `vmctl update --all sensor sensor-2.vpk --wait`: every device runs
     sensor 2.0.0; only sensor restarted (counter and ota_tick kept
     their uptime and counted on without a break);
  3. a canary rollout of a package that traps at start: the canary rolls
     back, the rollout pauses by itself, the other devices are untouched;
  4. a device's network is cut (docker network disconnect, connect)
     twice in the middle of its transfer, slowed by tc: 2 s (the TCP
     connection survives) and 15 s (past the 4 s MQTT keep-alive: the
     broker publishes the device's Will, the device reconnects and
     vmctld sees it online again within 30 s); the transfer resumes
     where it was each time and completes;
  5. a device container is SIGKILLed in the middle of a swap: after it
     starts again it runs the old version or the new one, and vmctld,
     the device itself and the VM's own log agree which;
  6. vmctld is SIGKILLed and started again in the middle of a rollout:
     the rollout runs on to completion;
  7. counter is snapshotted on device 1 and restored on device 2: it
     counts on from the snapshot's value;
  8. the broker restarts: every device reconnects and answers vmctld
     within 30 s.

Each test prints what it measured on lines starting with "fleet: "
(update time per device, the other VMs' largest gap, reconnect time).

usage: test_fleet.py BUILD_DIR WORK_DIR [--keep] [N...]
BUILD_DIR has bin/{vmrt,vmrt-ota,vmctld,vmctl} and sdk/*.wasm (the
images are built from it, tag fleettest); N... runs only those tests
(1 always runs: it brings the fleet up).  --keep leaves the fleet
running.  Exit 0 passed, 1 failed, 2 usage, 77 skipped (no Docker
engine, or no docker-compose, tc or nsenter).
"""

import os
import re
import shutil
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dockerfleet import (DockerFleet, counts, docker_answers,  # noqa: E402
                         largest_gap_ms)
from vmftest import FleetError, custom_section, wait_for  # noqa: E402

SKIP = 77
NDEVICES = 5


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def say(msg):
    print("fleet: " + msg, flush=True)


def rollout_id(p):
    m = re.search(r"rollout (r\d+)", p.stdout + p.stderr)
    check(m is not None, "no rollout id in vmctl's output: " +
          (p.stdout + p.stderr).strip()[-300:])
    return m.group(1)


def command_secs(f, cid):
    c = f.vmctl_json("command", "show", cid)
    return (c["updated_ms"] - c["created_ms"]) / 1000.0


class Tests:
    def __init__(self, fleet, work):
        self.f = fleet
        self.work = work
        self.sdk = os.path.join(fleet.build, "sdk")
        self.ids = []

    def wasm(self, name):
        return os.path.join(self.sdk, name + ".wasm")

    def pkg(self, wasm, vm, version, *extra):
        out = os.path.join(self.work, "%s-%s.vpk" % (vm, version))
        return self.f.pack(wasm, vm, version, out, *extra)

    # 1 ------------------------------------------------------------------
    def t1_fleet_up(self):
        f = self.f
        t0 = time.monotonic()
        f.up()
        devs = wait_for("every device online in vmctld", f.all_online, 90)
        online_s = time.monotonic() - t0
        self.ids = f.device_ids()
        for d in self.ids:
            vms = {v["name"]: v for v in devs[d]["vms"]}
            check(sorted(vms) == ["counter", "ota_tick", "sensor"],
                  "device %s reports VMs %s" % (d, sorted(vms)))
            for v in vms.values():
                check(v["state"] == "running", "device %s: %s is %s" %
                      (d, v["name"], v["state"]))
        table = f.vmctl("devices").stdout
        print(table, end="")
        for d in self.ids:
            check(re.search(r"^%s +yes " % re.escape(d), table, re.M),
                  "`vmctl devices` does not list %s online" % d)
        say("%d devices x 3 VMs online %.1f s after compose up" %
            (len(self.ids), online_s))

    # 2 ------------------------------------------------------------------
    def t2_update_all(self):
        f = self.f
        pkg = self.pkg(self.wasm("sensor"), "sensor", "2.0.0")
        before = {d: {v["name"]: v for v in f.device(d)["vms"]}
                  for d in self.ids}
        last = {}
        for d in self.ids:
            c = counts(f.vm_log(d, "counter"))
            check(c, "device %s: counter logged no count" % d)
            last[d] = c[-1]
        t0 = time.time()
        p = f.vmctl("update", "--all", "sensor", pkg, "--wait",
                    check=False)
        t1 = time.time()
        check(p.returncode == 0, "vmctl update --all --wait: exit %d: %s" %
              (p.returncode, (p.stdout + p.stderr).strip()[-500:]))
        ro = f.rollout(rollout_id(p))
        check(ro["state"] == "succeeded" and
              ro["counts"]["succeeded"] == len(self.ids),
              "rollout %s: %s, counts %s" % (ro["id"], ro["state"],
                                             ro["counts"]))
        cmd = {x["device"]: x["command"] for x in ro["devices"]}
        say("update --all sensor 2.0.0: %.1f s for %d devices" %
            (t1 - t0, len(self.ids)))
        for d in self.ids:
            c = f.devices[d]
            after = {v["name"]: v for v in f.device(d)["vms"]}
            s = after["sensor"]
            check(s["version"] == "2.0.0" and s["state"] == "running",
                  "device %s: sensor %s %s" % (d, s["version"], s["state"]))
            check(s["uptime_ms"] < (time.time() - t0) * 1000,
                  "device %s: sensor's uptime %d ms: it did not restart" %
                  (d, s["uptime_ms"]))
            local = f.local_vms(c)
            check(local["sensor"]["version"] == "2.0.0",
                  "device %s runs sensor %s itself" %
                  (d, local["sensor"]["version"]))
            for name in ("counter", "ota_tick"):
                b, a = before[d][name], after[name]
                check(a["restarts"] == b["restarts"] and
                      a["version"] == b["version"] and
                      a["state"] == "running",
                      "device %s: %s changed: %s -> %s" % (d, name, b, a))
                check(a["uptime_ms"] > b["uptime_ms"],
                      "device %s: %s's uptime went from %d to %d ms" %
                      (d, name, b["uptime_ms"], a["uptime_ms"]))
            log = f.vm_log(d, "counter")
            cs = counts(log)
            check(last[d] in cs, "device %s: counter's log lost %d" %
                  (d, last[d]))
            run_ = cs[cs.index(last[d]):]
            check(all(y == x + 1 for x, y in zip(run_, run_[1:])),
                  "device %s: counter's counts broke after %d" %
                  (d, last[d]))
            check(log.count("counter: starting") <= 1 and
                  log.rfind("counter: starting") < log.find(
                      "count %d\n" % last[d]),
                  "device %s: counter started again" % d)
            gap, restarted = largest_gap_ms(f.vm_log(d, "ota_tick"),
                                            time.time() - t0)
            check(not restarted, "device %s: ota_tick restarted" % d)
            check(gap is not None, "device %s: ota_tick logged nothing" % d)
            # Not a timing goal: a VM stopped for the swap would show a
            # gap of the whole health window (2 s) or more.
            check(gap < 2000, "device %s: ota_tick stood still %.0f ms" %
                  (d, gap))
            say("  %s: sensor updated in %.2f s; counter +%d counts "
                "unbroken; ota_tick largest gap %.1f ms" %
                (d, command_secs(f, cmd[d]), len(run_) - 1, gap))

    # 3 ------------------------------------------------------------------
    def t3_canary_trap(self):
        f = self.f
        pkg = self.pkg(self.wasm("ota_trap"), "sensor", "3.0.0")
        before = {d: f.vm(d, "sensor") for d in self.ids}
        t0 = time.time()
        p = f.vmctl("update", "--all", "sensor", pkg, "--canary", "1",
                    "--max-failures", "0", "--wait", check=False)
        check(p.returncode == 1, "update of a trapping package: exit %d "
              "(want 1, paused with no success): %s" %
              (p.returncode, (p.stdout + p.stderr).strip()[-400:]))
        rid = rollout_id(p)
        ro = f.rollout(rid)
        check(ro["state"] == "paused" and ro["pause_reason"],
              "rollout %s is %s (%r), want paused by itself" %
              (rid, ro["state"], ro["pause_reason"]))
        canary = [x for x in ro["devices"] if x["batch"] == 0]
        rest = [x for x in ro["devices"] if x["batch"] != 0]
        check(len(canary) == 1, "%d canary devices" % len(canary))
        cd = canary[0]
        check(cd["state"] == "failed" and cd["code"] == "E_ROLLED_BACK",
              "canary %s: %s %s (%s)" % (cd["device"], cd["state"],
                                          cd["code"], cd["message"]))
        s = f.vm(cd["device"], "sensor")
        check(s["version"] == "2.0.0" and s["state"] == "running",
              "canary's sensor is %s %s after the rollback" %
              (s["version"], s["state"]))
        check(f.local_vms(f.devices[cd["device"]])["sensor"]["version"] ==
              "2.0.0", "the canary itself does not run sensor 2.0.0")
        for x in rest:
            d = x["device"]
            check(x["state"] == "waiting" and not x["command"],
                  "device %s was touched: %s %s" % (d, x["state"],
                                                    x["command"]))
            check(all(c.get("rollout") != rid for c in f.commands(d)),
                  "device %s got a command of %s" % (d, rid))
            a = f.vm(d, "sensor")
            check(a["version"] == "2.0.0" and
                  a["restarts"] == before[d]["restarts"] and
                  a["state"] == "running",
                  "device %s: sensor changed: %s" % (d, a))
        gap, restarted = largest_gap_ms(f.vm_log(cd["device"], "ota_tick"),
                                        time.time() - t0)
        check(not restarted and gap is not None and gap < 2000,
              "canary's ota_tick: gap %s ms, restarted %s" %
              (gap, restarted))
        say("trapping sensor 3.0.0: canary %s rolled back in %.2f s "
            "(%s); rollout paused: %s; %d devices untouched; canary's "
            "ota_tick largest gap %.1f ms" %
            (cd["device"], command_secs(f, cd["command"]), cd["message"],
             ro["pause_reason"], len(rest), gap))
        f.vmctl("rollout", "abort", rid)

    # 4 ------------------------------------------------------------------
    def t4_network_cut(self):
        """Two cuts of one transfer: a short one (2 s, under the MQTT
        keep-alive: the TCP connection survives) and a long one (15 s,
        past the fleet's 4 s keep-alive: the broker drops the device and
        publishes its Will, the device reconnects)."""
        f = self.f
        d = self.ids[1]
        c = f.devices[d]
        big = os.path.join(self.work, "sensor-big.wasm")
        # sensor with a 960 KiB custom section: under the VM's 1 MiB
        # storage quota (an update keeps the VM's manifest).
        with open(self.wasm("sensor"), "rb") as src, open(big, "wb") as o:
            o.write(src.read() + custom_section(b"vmfleet.padding",
                                                960 * 1024))
        pkg = self.pkg(big, "sensor", "4.0.0")
        try:
            veth = f.throttle(c, "512kbit")
        except FleetError as e:
            raise Failed("cannot slow the device's link with tc: %s" % e)
        t0 = time.time()
        rid = rollout_id(f.vmctl("update", d, "sensor", pkg, "--canary",
                                 "0"))

        def at(pct):
            def cond():
                cs = [x for x in f.commands(d, 3) if x["rollout"] == rid]
                if cs and (cs[0]["final"] or cs[0]["percent"] >= pct):
                    return cs[0]
                return None
            cmd = wait_for("the transfer at %d%%" % pct, cond, 90, 0.1)
            check(not cmd["final"] and cmd["percent"] < 100,
                  "the transfer was over before the cut: %s" %
                  cmd["state"])
            return cmd

        def offline():
            return not any(x["id"] == d and x["online"]
                           for x in f.devices_json())
        cuts = []
        for pct, secs in ((15, 2.0), (50, 15.0)):
            cmd = at(pct)
            t_cut = time.time()
            f.docker("network", "disconnect", f.network, c)
            seen_off = None
            while time.time() < t_cut + secs:
                if seen_off is None and secs > 5 and offline():
                    seen_off = time.time() - t_cut
                time.sleep(0.2)
            f.docker("network", "connect", f.network, c)
            cuts.append((t_cut, time.time(), seen_off))
            f.throttle(c, "512kbit")  # a new veth: slow it again
        t_re = cuts[1][1]
        try:
            wait_for("vmctld to see %s online again" % d,
                     lambda: not offline(), 30, 0.2)
        except FleetError:
            raise Failed("%s not back online in vmctld within 30 s of the "
                         "network's return" % d)
        online_s = time.time() - t_re
        check(cuts[1][2] is not None,
              "vmctld never saw %s offline in a 15 s cut (no Will?)" % d)
        w = f.vmctl("rollout", "wait", rid, "--timeout", "180",
                    check=False, timeout=240)
        check(w.returncode == 0, "rollout %s after the cuts: exit %d: %s" %
              (rid, w.returncode, (w.stdout + w.stderr).strip()[-400:]))
        cmd = f.vmctl_json("command", "show", cmd["id"])
        check(cmd["code"] == "OK", "update after the cuts: %s %s" %
              (cmd["code"], cmd["message"]))
        check(f.vm(d, "sensor")["version"] == "4.0.0" and
              f.local_vms(c)["sensor"]["version"] == "4.0.0",
              "device %s does not run sensor 4.0.0" % d)
        prog, conns = [], []
        for t, line in f.logs_since(c, t0):
            if "ota: mqtt: connected to" in line:
                conns.append(t)
            m = re.search(r"transfer (\d+)% \((\d+)/(\d+) bytes\)", line)
            if m:
                prog.append((t, int(m.group(2)), int(m.group(3))))
        check(prog, "device %s logged no transfer progress" % d)
        done = [b for _, b, _ in prog]
        check(done == sorted(done),
              "the transfer went back (started over?): %s" % done)
        check(prog[-1][1] == prog[-1][2], "the transfer did not complete")
        (c1, r1, _), (c2, r2, off2) = cuts
        recon = [t for t in conns if t > c2]
        check(recon, "the device did not reconnect to the broker after "
              "the long cut")
        say("network cuts of %s's 1 MB transfer at 512 kbit/s (tc on %s):"
            % (d, veth))
        for i, (tc, tr, _) in enumerate(cuts):
            before = [b for t, b, _ in prog if t < tc]
            after = [(t, b) for t, b, _ in prog if t > tr]
            check(before and after and after[0][1] >= before[-1],
                  "cut %d: the transfer did not resume: %s" % (i + 1, done))
            mq = [t for t in conns if tc < t]
            say("  cut %d at %d%% for %.1f s: %s; transfer moved again "
                "%.1f s after the reconnect" %
                (i + 1, 100 * before[-1] // prog[-1][2], tr - tc,
                 ("MQTT reconnected %.1f s after it" % (mq[0] - tr))
                 if mq and (i == 1 or mq[0] < c2) else
                 "the MQTT connection survived", after[0][0] - tr))
        say("  vmctld saw it offline %.1f s into the long cut (its Will) "
            "and online again %.1f s after the network came back; update "
            "done %.1f s after that" %
            (off2, online_s, cmd["updated_ms"] / 1000.0 - r2))

    # 5 ------------------------------------------------------------------
    def t5_kill_mid_swap(self):
        f = self.f
        d = self.ids[2]
        c = f.devices[d]
        pkg = self.pkg(self.wasm("counter_v110"), "counter", "1.1.0")
        boot = f.device(d)["boot_id"]
        rid = rollout_id(f.vmctl("update", d, "counter", pkg, "--canary",
                                 "0", "--health-window", "20000"))

        def swapped():
            try:
                return f.local_vms(c)["counter"]["version"] == "1.1.0"
            except FleetError:
                return False
        wait_for("counter 1.1.0 running in its health window", swapped,
                 60, 0.1)
        time.sleep(1.0)
        t_kill = time.time()
        f.docker("kill", "-s", "KILL", c)
        wait_for("the container to stop", lambda: not f.running(c), 30)
        f.docker("start", c)
        wait_for("device %s back online with a new boot" % d,
                 lambda: (f.all_online([d]) and
                          f.device(d)["boot_id"] != boot), 90)
        back_s = time.time() - t_kill
        w = f.vmctl("rollout", "wait", rid, "--timeout", "120",
                    check=False, timeout=180)
        ro = f.rollout(rid)
        x = ro["devices"][0]
        check(x["state"] in ("succeeded", "failed"),
              "rollout %s: device %s still %s" % (rid, d, x["state"]))
        # vmctld's view, the device's own, and the VM's log must agree.
        want = "1.1.0" if x["state"] == "succeeded" else "1.0.0"

        def agree():
            v = f.vm(d, "counter")
            return v["state"] == "running" and v["version"] == want
        wait_for("vmctld to report counter %s running" % want, agree, 30)
        local = f.local_vms(c)["counter"]
        check(local["version"] == want and local["state"] == "running",
              "device %s runs counter %s (%s); vmctld says %s" %
              (d, local["version"], local["state"], want))
        log = f.vm_log(d, "counter")
        ver = re.findall(r"^counter: version (\S+)$", log, re.M)
        check(ver and ver[-1] == want,
              "counter's own log says version %s, reported %s" %
              (ver[-1] if ver else None, want))
        m = re.findall(r"counter: starting at (\d+) \(from counter.txt\)",
                       log)
        check(m and int(m[-1]) > 0,
              "counter did not continue from its file after the kill")
        say("kill mid-swap: %s SIGKILLed 1 s into counter 1.1.0's health "
            "window; back online in %.1f s; runs %s (rollout %s: %s, %s); "
            "vmctld, the device and the VM's log agree; count went on "
            "from %s" % (d, back_s, want, rid, x["state"], x["message"],
                         m[-1]))
        check(w.returncode in (0, 1), "rollout wait: exit %d" %
              w.returncode)

    # 6 ------------------------------------------------------------------
    def t6_vmctld_restart(self):
        f = self.f
        pkg = self.pkg(self.wasm("sensor"), "sensor", "5.0.0")
        t0 = time.time()
        rid = rollout_id(f.vmctl("update", "--all", "sensor", pkg,
                                 "--canary", "1", "--batch", "1"))
        wait_for("2 devices updated",
                 lambda: f.rollout(rid)["counts"]["succeeded"] >= 2, 90)
        before = f.rollout(rid)
        ctld = f.service_container("vmctld")
        t_kill = time.time()
        f.docker("kill", "-s", "KILL", ctld)
        f.docker("start", ctld)
        wait_for("vmctld's API", f.api_up, 60)
        down_s = time.time() - t_kill
        mid = f.rollout(rid)
        check(mid["counts"]["succeeded"] >= before["counts"]["succeeded"],
              "the restarted vmctld lost progress: %s -> %s" %
              (before["counts"], mid["counts"]))
        w = f.vmctl("rollout", "wait", rid, "--timeout", "200",
                    check=False, timeout=260)
        check(w.returncode == 0, "rollout %s after the restart: exit %d: %s"
              % (rid, w.returncode, (w.stdout + w.stderr).strip()[-400:]))
        ro = f.rollout(rid)
        check(ro["state"] == "succeeded" and
              ro["counts"]["succeeded"] == len(self.ids),
              "rollout %s: %s %s" % (rid, ro["state"], ro["counts"]))
        for d in self.ids:
            v = f.vm(d, "sensor")
            check(v["version"] == "5.0.0", "device %s: sensor %s" %
                  (d, v["version"]))
        say("vmctld SIGKILLed with %d of %d devices done; API back in "
            "%.1f s; rollout %s went on and finished %.1f s after it began"
            % (before["counts"]["succeeded"], len(self.ids), down_s, rid,
               ro["updated_ms"] / 1000.0 - t0))

    # 7 ------------------------------------------------------------------
    def t7_snapshot_restore(self):
        f = self.f
        d1, d2 = self.ids[0], self.ids[1]
        f.vmctl("vm", "suspend", d1, "counter")
        wait_for("counter suspended",
                 lambda: f.vm(d1, "counter")["state"] == "suspended", 20)
        s = counts(f.vm_log(d1, "counter"))[-1]
        time.sleep(0.5)
        check(counts(f.vm_log(d1, "counter"))[-1] == s,
              "the suspended counter still counts")
        t0 = time.time()
        out = f.vmctl("snapshot", d1, "counter").stdout
        snap_s = time.time() - t0
        sha = re.findall(r"^[0-9a-f]{64}$", out, re.M)
        check(sha, "vmctl snapshot printed no SHA-256: " + out)
        sha = sha[0]
        size = [x["size"] for x in f.vmctl_json("snapshots")["snapshots"]
                if x["sha256"] == sha]
        t1 = time.time()
        f.vmctl("restore", d2, "counter", sha)
        restore_s = time.time() - t1
        wait_for("device 2's counter restored (suspended)",
                 lambda: f.vm(d2, "counter")["state"] == "suspended", 20)
        f.vmctl("vm", "resume", d2, "counter")

        def after_restore():
            log = f.vm_log(d2, "counter")
            i = log.rfind("[vmrt] restored")
            c = counts(log[i:]) if i >= 0 else []
            return c if len(c) >= 5 else None
        c = wait_for("device 2's counter to count on", after_restore, 20)
        check(c[0] == s + 1 and
              all(y == x + 1 for x, y in zip(c, c[1:])),
              "device 2's counter went on from %d, want %d: %s" %
              (c[0], s + 1, c[:8]))
        f.vmctl("vm", "resume", d1, "counter")
        say("snapshot: counter on %s frozen at %d, snapshot %s (%s bytes) "
            "in %.2f s; restored on %s in %.2f s; it counted on from %d" %
            (d1, s, sha[:12], size[0] if size else "?", snap_s, d2,
             restore_s, c[0]))

    # 8 ------------------------------------------------------------------
    def t8_broker_restart(self):
        f = self.f
        broker = f.service_container("broker")
        t0 = time.time()
        f.docker("restart", "-t", "5", broker)
        t_up = time.time()
        conn = {}

        def reconnected():
            for d in self.ids:
                if d in conn:
                    continue
                for t, line in f.logs_since(f.devices[d], t0):
                    if "ota: mqtt: connected to" in line:
                        conn[d] = t
                        break
            return len(conn) == len(self.ids)
        try:
            wait_for("every device to reconnect", reconnected, 30, 0.25)
        except FleetError:
            raise Failed("not reconnected within 30 s of the broker's "
                         "restart: %s" % sorted(set(self.ids) - set(conn)))
        # The broker's own account: "New client connected from ... as ID".
        seen = {}

        def broker_saw():
            for t, line in f.logs_since(broker, t0):
                m = re.search(r"New client connected from \S+ as (\S+) ",
                              line)
                if m and m.group(1) in self.ids and m.group(1) not in seen:
                    seen[m.group(1)] = t
            return len(seen) == len(self.ids)
        try:
            wait_for("the broker to log every device", broker_saw, 10, 0.25)
        except FleetError:
            raise Failed("the broker logged no reconnection of %s" %
                         sorted(set(self.ids) - set(seen)))
        answered = {}

        def reports():
            for d in self.ids:
                if d in answered:
                    continue
                p = f.vmctl("vm", "logs", d, "counter", "--bytes", "64",
                            check=False, timeout=30)
                if p.returncode == 0:
                    answered[d] = time.time()
            return len(answered) == len(self.ids)
        wait_for("every device to answer vmctld", reports,
                 max(1.0, t_up + 30 - time.time()), 0.25)
        info = f.vmctl_json("info")
        check(info["mqtt_connected"], "vmctld is not connected")
        for d in self.ids:
            check(f.device(d)["last_seen_ms"] >= t0 * 1000,
                  "vmctld has not heard from %s since the restart" % d)
        worst = max(conn.values()) - t_up
        say("broker restart took %.1f s; devices reconnected %s s after "
            "it was back (largest %.1f s; the broker logged the last at "
            "%.1f s); all answered vmctld within %.1f s" %
            (t_up - t0, ", ".join("%.1f" % (conn[d] - t_up)
                                  for d in self.ids), worst,
             max(seen.values()) - t_up, max(answered.values()) - t_up))


ORDER = [("1", "t1_fleet_up"), ("2", "t2_update_all"),
         ("3", "t3_canary_trap"), ("4", "t4_network_cut"),
         ("5", "t5_kill_mid_swap"), ("6", "t6_vmctld_restart"),
         ("7", "t7_snapshot_restore"), ("8", "t8_broker_restart")]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    keep = "--keep" in argv
    if len(args) < 2 or "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0 if ("--help" in argv or "-h" in argv) else 2
    build, work = args[0], args[1]
    only = set(args[2:]) | {"1"} if args[2:] else None
    why = docker_answers()
    for tool in ("docker-compose", "tc", "nsenter", "ip"):
        if why is None and shutil.which(tool) is None:
            why = "no %s" % tool
    if why:
        print("SKIP: fleet tests: %s" % why)
        return SKIP
    os.makedirs(work, exist_ok=True)
    fleet = DockerFleet(build, work, devices=NDEVICES)
    t = Tests(fleet, work)
    failed = passed = 0
    started = time.monotonic()
    try:
        say("building images (tag %s)" % fleet.tag)
        print(fleet.build_images(), end="")
        for num, name in ORDER:
            if only is not None and num not in only:
                continue
            doc = name.split("_", 1)[1].replace("_", " ")
            print("---- %s. %s" % (num, doc), flush=True)
            t0 = time.monotonic()
            try:
                getattr(t, name)()
                passed += 1
                print("PASS %s. %s (%.1f s)" % (num, doc,
                                               time.monotonic() - t0))
            except (Failed, FleetError) as e:
                failed += 1
                print("FAIL %s. %s: %s" % (num, doc, e))
                if num == "1":
                    break
            except Exception:  # a bug in the test itself: say where
                failed += 1
                traceback.print_exc()
                print("FAIL %s. %s: exception" % (num, doc))
                if num == "1":
                    break
            sys.stdout.flush()
    except FleetError as e:
        failed += 1
        print("FAIL setup: %s" % e)
    finally:
        if failed:
            log = os.path.join(work, "compose.log")
            fleet.save_logs(log)
            print("container logs: %s" % log)
        if not keep:
            fleet.down()
        else:
            print("kept: docker-compose -p %s -f deploy/docker/compose.yml"
                  " ...; vmctl --server http://127.0.0.1:%d --token %s" %
                  (fleet.project, fleet.port, fleet.token))
    print("fleet tests: %d passed, %d failed (%.0f s)" %
          (passed, failed, time.monotonic() - started))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
