# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""The Docker fleet of deploy/docker (broker, vmctld, N devices) driven
from the host for tests/fleet: docker-compose to bring it up and down,
docker to kill, restart and cut containers off, tc to slow a device's
link, and the real vmctl (the host build's) to talk to vmctld.
Standard library only.

    fleet = DockerFleet(build_dir, work_dir, devices=5)
    fleet.up()
    fleet.vmctl("update", "--all", "sensor", pkg, "--wait")
    fleet.down()
"""

import datetime
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "deploy", "docker")
sys.path.insert(0, os.path.join(ROOT, "tests", "pylib"))
from vmftest import FleetError, free_port  # noqa: E402


def run(args, check=True, timeout=300, env=None):
    """Run a command; its stdout.  FleetError naming the command and its
    stderr when it fails and check is set."""
    p = subprocess.run(args, capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and p.returncode != 0:
        raise FleetError("%s: exit %d: %s" % (
            " ".join(args[:4]), p.returncode,
            (p.stderr or p.stdout).strip()[-800:]))
    return p


def docker_answers():
    """None when a Docker engine answers, else why not."""
    try:
        p = subprocess.run(["docker", "info", "--format",
                            "{{.ServerVersion}}"],
                           capture_output=True, text=True, timeout=20)
    except FileNotFoundError:
        return "no docker command"
    except subprocess.TimeoutExpired:
        return "docker info did not answer within 20 s"
    if p.returncode != 0:
        return "no Docker engine answers: " + p.stderr.strip()[-200:]
    return None


def parse_docker_ts(line):
    """The time of a `docker logs -t` line, in seconds since the epoch
    (docker writes RFC 3339 with nanoseconds, in UTC)."""
    ts = line.split(" ", 1)[0]
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", ts)
    if not m:
        return None
    base = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")
    base = base.replace(tzinfo=datetime.timezone.utc).timestamp()
    return base + (float(m.group(2)) if m.group(2) else 0.0)


class DockerFleet:
    """One compose project of deploy/docker/compose.yml with its own
    secrets, API port and images (tag `fleettest`)."""

    def __init__(self, build_dir, work, devices=5,
                 vms="sensor,counter,ota_tick", tag="fleettest"):
        self.build = os.path.abspath(build_dir)
        self.work = work
        self.ndevices = devices
        self.vms = vms
        self.tag = tag
        self.project = "vmfleettest%d" % os.getpid()
        self.port = free_port()
        self.secrets = os.path.join(work, "secrets")
        self.vmctl_bin = os.environ.get(
            "VMCTL", os.path.join(self.build, "bin", "vmctl"))
        self.token = None
        self.devices = {}        # device id -> container name
        self.network = self.project + "_default"

    # ---- docker and compose -------------------------------------------

    def env(self):
        e = dict(os.environ)
        e.update({
            "VMFLEET_TAG": self.tag,
            "VMFLEET_SECRETS": self.secrets,
            "VMCTLD_PORT": str(self.port),
            "DEVICE_VMS": self.vms,
            "DEVICE_LABELS": "site=docker,fleet=test",
            # A dead link is noticed in seconds (test 4's long cut).
            "DEVICE_OTA_ARGS": "--keepalive 4 " + os.environ.get("FLEET_OTA_ARGS", ""),
        })
        return e

    def compose(self, *args, check=True, timeout=300):
        return run(["docker-compose", "-p", self.project, "-f",
                    os.path.join(DEPLOY, "compose.yml")] + list(args),
                   check=check, timeout=timeout, env=self.env())

    def build_images(self):
        """deploy/docker/build.sh with this fleet's tag and secrets."""
        e = dict(os.environ, TAG=self.tag, VMFLEET_SECRETS=self.secrets)
        p = run([os.path.join(DEPLOY, "build.sh"), self.build], env=e)
        self.token = open(os.path.join(self.secrets,
                                       "admin.token")).read().strip()
        return p.stdout

    def service_container(self, service):
        """The container name of a single-container service."""
        out = run(["docker", "ps", "-a", "--format", "{{.Names}}",
                   "--filter", "label=com.docker.compose.project=" +
                   self.project, "--filter",
                   "label=com.docker.compose.service=" + service]).stdout
        names = sorted(out.split())
        if not names:
            raise FleetError("no container for service " + service)
        return names[0]

    def map_devices(self):
        """device id (the container's hostname) -> container name."""
        out = run(["docker", "ps", "-a", "--format", "{{.Names}}",
                   "--filter", "label=com.docker.compose.project=" +
                   self.project, "--filter",
                   "label=com.docker.compose.service=device"]).stdout
        m = {}
        for name in sorted(out.split()):
            host = run(["docker", "inspect", "-f", "{{.Config.Hostname}}",
                        name]).stdout.strip()
            m[host] = name
        self.devices = m
        return m

    def device_ids(self):
        """Device ids in container order (device_1, device_2, ...)."""
        def num(dev):
            return int(self.devices[dev].rsplit("_", 1)[-1])
        return sorted(self.devices, key=num)

    def up(self):
        self.compose("up", "-d", "--scale", "device=%d" % self.ndevices)
        self.map_devices()
        if len(self.devices) != self.ndevices:
            raise FleetError("%d device containers, want %d" %
                             (len(self.devices), self.ndevices))

    def save_logs(self, path):
        p = self.compose("logs", "--no-color", "-t", check=False,
                         timeout=120)
        with open(path, "w") as f:
            f.write(p.stdout)
            f.write(p.stderr)

    def down(self):
        self.compose("down", "-v", "--remove-orphans", check=False,
                     timeout=180)

    def docker(self, *args, check=True, timeout=120):
        return run(["docker"] + list(args), check=check, timeout=timeout)

    def logs_since(self, container, since):
        """(time, text) of the container's log lines after `since`
        (seconds since the epoch), from docker's own timestamps."""
        p = self.docker("logs", "-t", "--since", "%.3f" % since,
                        container, check=False)
        out = []
        for line in (p.stdout + p.stderr).splitlines():
            t = parse_docker_ts(line)
            if t is not None and t >= since:
                out.append((t, line.split(" ", 1)[1] if " " in line
                            else ""))
        out.sort(key=lambda x: x[0])
        return out

    def pid(self, container):
        return int(self.docker("inspect", "-f", "{{.State.Pid}}",
                               container).stdout.strip())

    def running(self, container):
        return self.docker("inspect", "-f", "{{.State.Running}}",
                           container).stdout.strip() == "true"

    def host_veth(self, container):
        """The host end of the container's network interface (a veth
        pair; eth0, or eth1 after a `docker network connect`)."""
        pid = self.pid(container)
        out = run(["nsenter", "-t", str(pid), "-n", "ip", "-o",
                   "link"]).stdout
        m = re.search(r"^\d+: \S+@if(\d+):", out, re.M)
        if not m:
            raise FleetError("no veth peer in: " + out.strip())
        for line in run(["ip", "-o", "link"]).stdout.splitlines():
            idx, rest = line.split(":", 1)
            if idx.strip() == m.group(1):
                return rest.strip().split("@", 1)[0].split(":")[0]
        raise FleetError("no host interface with index " + m.group(1))

    def throttle(self, container, rate):
        """Slow what the container receives to `rate` (tc tbf on the host
        end of its veth).  Returns the interface, or raises FleetError."""
        veth = self.host_veth(container)
        run(["tc", "qdisc", "replace", "dev", veth, "root", "tbf", "rate",
             rate, "burst", "16kb", "latency", "2s"])
        return veth

    # ---- vmctl --------------------------------------------------------

    def vmctl_env(self):
        return dict(os.environ,
                    VMCTL_SERVER="http://127.0.0.1:%d" % self.port,
                    VMCTL_TOKEN=self.token or "")

    def vmctl(self, *args, check=True, timeout=300):
        """Run the host's vmctl against this fleet's vmctld."""
        return run([self.vmctl_bin] + list(args), check=check,
                   timeout=timeout, env=self.vmctl_env())

    def vmctl_json(self, *args, check=True):
        p = self.vmctl("--json", *args, check=check)
        if p.returncode != 0:
            return None
        return json.loads(p.stdout)

    def pack(self, wasm, vm, version, out, *extra):
        key = os.path.join(self.secrets, "fleet.key")
        self.vmctl("pack", "--vm", vm, "--version", version, "--key", key,
                   wasm, "-o", out, *extra)
        return out

    def api_up(self):
        return self.vmctl("info", check=False, timeout=10).returncode == 0

    def devices_json(self):
        d = self.vmctl_json("devices", check=False)
        return d["devices"] if d else []

    def device(self, dev):
        return self.vmctl_json("device", "show", dev)

    def vm(self, dev, name):
        """A VM's record as vmctld last heard it from the device."""
        for v in self.device(dev)["vms"]:
            if v["name"] == name:
                return v
        raise FleetError("device %s reports no VM %s" % (dev, name))

    def vm_log(self, dev, name, nbytes=65536):
        p = self.vmctl("vm", "logs", dev, name, "--bytes", str(nbytes))
        return p.stdout

    def local_vms(self, container):
        """`vmrt ctl --json list` inside the device container: the
        device's own view, not what vmctld was told."""
        out = self.docker("exec", container, "/usr/bin/vmrt", "ctl",
                          "--socket", "/var/lib/vmrt/vmrt.sock", "--json",
                          "list").stdout
        return {v["name"]: v for v in json.loads(out)}

    def all_online(self, want=None):
        """The online devices' records when every wanted device (default:
        all of this fleet's) is online, else None."""
        want = set(want or self.devices)
        devs = {d["id"]: d for d in self.devices_json()}
        if all(w in devs and devs[w]["online"] for w in want):
            return devs
        return None

    def rollout(self, rid):
        return self.vmctl_json("rollout", "show", rid)

    def commands(self, dev, limit=5):
        d = self.vmctl_json("commands", "--device", dev, "--limit",
                            str(limit))
        return d["commands"]


# ---- what the example VMs log ------------------------------------------

def counts(text):
    """The counter VM's "count N" values, in log order."""
    return [int(m) for m in re.findall(r"^count (\d+)$", text, re.M)]


def tick_windows(text):
    """ota_tick's windows: (maxgap_us, ticks) for every
    "maxgap_us=N ticks=M version=V" line, in log order."""
    return [(int(a), int(b)) for a, b in
            re.findall(r"maxgap_us=(\d+) ticks=(\d+)", text)]


def largest_gap_ms(text, seconds):
    """ota_tick's largest gap between two ticks (ms) over the last
    `seconds` of its log (a window line every 100 ms), and whether it
    restarted in that time (a "downtime_us=" line)."""
    tail = text.splitlines()
    n = int(seconds * 10) + 3
    recent = tail[-n:]
    win = tick_windows("\n".join(recent))
    restarted = any("downtime_us=" in line for line in recent)
    return (max(g for g, _ in win) / 1000.0 if win else None), restarted

