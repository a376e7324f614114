# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""A private fleet on loopback for the dashboard's browser test and for
scripts/screenshots: a mosquitto, a vmctld serving web/ (with an operator
and a viewer token), and simulated devices (bench/fleet fleet-sim) in
groups with their own labels.  Signed packages come from `vmctl keys gen`
and `vmctl pack`.  Standard library only.

    with FleetEnv(bin_dir, web_root, work) as env:
        env.start(groups=[("berlin", 6, "site=berlin,tier=edge"), ...])
        env.api("GET", "/api/v1/info", env.operator)
"""

import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "pylib"))
from vmftest import (FleetError, custom_section, free_port,  # noqa: E402,F401
                     wait_for)


def port_open(port):
    s = socket.socket()
    s.settimeout(0.5)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def wasm_module(path, size):
    """A valid WebAssembly module of about `size` bytes: the header and
    one custom section (the simulated devices never run it)."""
    with open(path, "wb") as f:
        f.write(b"\0asm\1\0\0\0" +
                custom_section(b"web-test", max(0, size - 32)))


class FleetEnv:
    def __init__(self, bin_dir, web_root, work, mosquitto=None):
        self.bin_dir = bin_dir
        self.vmctld = os.environ.get("VMCTLD") or os.path.join(bin_dir, "vmctld")
        self.vmctl = os.environ.get("VMCTL") or os.path.join(bin_dir, "vmctl")
        self.sim = os.environ.get("FLEET_SIM") or os.path.join(bin_dir,
                                                               "fleet-sim")
        self.mosquitto = mosquitto or os.environ.get(
            "VMF_MOSQUITTO", "/usr/sbin/mosquitto")
        self.web_root = os.path.abspath(web_root)
        self.work = os.path.abspath(work)
        self.procs = []
        self.ctld = None
        self.operator = "op-" + secrets.token_hex(16)
        self.viewer = "view-" + secrets.token_hex(16)
        # A second operator token, demoted to viewer by demote_second()
        # while a page is open (the forbidden test).
        self.second = "two-" + secrets.token_hex(16)
        self.second_role = "operator"
        self.url = None
        self.devices = []

    # ---- life cycle ------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def check_tools(self):
        """None when everything is there, else what is missing."""
        for f in (self.vmctld, self.vmctl, self.sim, self.mosquitto):
            if not os.access(f, os.X_OK):
                return "%s is missing" % f
        if not os.path.isfile(os.path.join(self.web_root, "index.html")):
            return "%s/index.html is missing" % self.web_root
        return None

    def spawn(self, name, argv):
        log = open(os.path.join(self.work, name + ".log"), "wb")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        log.close()
        self.procs.append((name, p))
        return p

    def log_tail(self, name, lines=20):
        try:
            with open(os.path.join(self.work, name + ".log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(
                    "utf-8", "replace")
        except OSError:
            return "(no log)"

    def start(self, groups):
        """groups: [(prefix, count, "k=v,k2=v2"[, [more fleet-sim
        arguments]]), ...]; devices are PREFIX-00000 ... (fleet-sim
        numbers them)."""
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(os.path.join(self.work, "ctld"))
        self.start_broker()
        self.make_keys()
        self.start_vmctld()
        for g in groups:
            prefix, count, labels = g[:3]
            argv = [self.sim, "--broker", self.broker, "--devices", str(count),
                    "--prefix", prefix + "-", "--health-ms", "300",
                    "--trust", self.key + ".pub"]
            if labels:
                argv += ["--labels", labels]
            if len(g) > 3:
                argv += list(g[3])
            self.spawn("sim-" + prefix, argv)
            self.devices += ["%s-%05d" % (prefix, i) for i in range(count)]
        total = len(self.devices)
        wait_for("%d devices online" % total,
                 lambda: self.info().get("devices_online") == total, 60, 0.2)

    def start_broker(self):
        port = free_port()
        conf = os.path.join(self.work, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\n"
                    "persistence false\nset_tcp_nodelay true\n" % port)
            f.write("user %s\n" % getpass.getuser())
        self.spawn("mosquitto", [self.mosquitto, "-c", conf])
        try:
            wait_for("mosquitto", lambda: port_open(port), 10)
        except FleetError:
            raise FleetError("mosquitto did not start:\n" +
                             self.log_tail("mosquitto"))
        self.broker = "tcp://127.0.0.1:%d" % port

    def make_keys(self):
        self.key = os.path.join(self.work, "fleet")
        subprocess.run([self.vmctl, "keys", "gen", "-o", self.key],
                       check=True, stdout=subprocess.DEVNULL)
        self.stranger = os.path.join(self.work, "stranger")
        subprocess.run([self.vmctl, "keys", "gen", "-o", self.stranger],
                       check=True, stdout=subprocess.DEVNULL)

    def pack(self, vm, version, key=None, size=4096):
        """A signed .vpk (by the trusted key unless `key`); its path."""
        wasm = os.path.join(self.work, "%s-%s.wasm" % (vm, version))
        out = os.path.join(self.work, "%s-%s.vpk" % (vm, version))
        wasm_module(wasm, size)
        subprocess.run([self.vmctl, "pack", "--vm", vm, "--version", version,
                        "--key", (key or self.key) + ".key", wasm, "-o", out],
                       check=True, stdout=subprocess.DEVNULL)
        return out

    def write_config(self):
        tokens = [
            {"name": "ops", "role": "operator", "token": self.operator},
            {"name": "watcher", "role": "viewer", "token": self.viewer},
            {"name": "second", "role": self.second_role,
             "token": self.second},
        ]
        cfg = {
            "mqtt": {"uri": self.broker, "client_id": "vmctld-web"},
            "http": {"listen": "127.0.0.1:%d" % self.http_port,
                     "web_root": self.web_root},
            "tokens": tokens,
            "storage": {"data_dir": os.path.join(self.work, "ctld")},
            "trust": {"keys": [self.key + ".pub"]},
            "log": {"level": "info"},
        }
        path = os.path.join(self.work, "vmctld.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(cfg, f, indent=2)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path

    def start_vmctld(self, again=False):
        """Start vmctld; again: once more after it stopped, on the same
        port and data."""
        if not again:
            self.http_port = free_port()
        conf = self.write_config()
        self.ctld = self.spawn("vmctld-again" if again else "vmctld",
                               [self.vmctld, "-c", conf])
        self.url = "http://127.0.0.1:%d" % self.http_port

        def up():
            if self.ctld.poll() is not None:
                raise FleetError("vmctld exited:\n" + self.log_tail("vmctld"))
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2).read()
                return True
            except (OSError, urllib.error.URLError):
                return False
        wait_for("vmctld on " + self.url, up, 20)

    def demote_second(self):
        """Make the second token a viewer's (SIGHUP reloads tokens)."""
        self.second_role = "viewer"
        self.write_config()
        self.ctld.send_signal(signal.SIGHUP)
        wait_for("the second token to be a viewer's",
                 lambda: self.api("GET", "/api/v1/info",
                                  self.second)[1].get("role") == "viewer", 10)

    def stop(self):
        """Stop everything; {name: exit status} (negative: a signal)."""
        for _, p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        status = {}
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            status[name] = p.returncode
        self.procs = []
        return status

    def sanitizer_reports(self, name):
        """The lines of a process's log where ASan or UBSan spoke."""
        try:
            with open(os.path.join(self.work, name + ".log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []
        return [x for x in lines if "Sanitizer" in x or "runtime error:" in x]

    # ---- the API -----------------------------------------------------------

    def api(self, method, path, token=None, body=None, raw=None):
        """(status, parsed JSON or None)."""
        data = None
        headers = {"Authorization": "Bearer " + (token or self.operator)}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            headers["Content-Type"] = "application/octet-stream"
        req = urllib.request.Request(self.url + path, data=data,
                                     headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=75) as r:
                text = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            text = e.read()
            status = e.code
        return status, (json.loads(text) if text else None)

    def upload(self, path):
        """POST a .vpk; its Package (AssertionError if refused)."""
        with open(path, "rb") as f:
            st, p = self.api("POST", "/api/v1/packages", raw=f.read())
        assert st in (200, 201), (st, p)
        return p

    def rollout(self, pkg, target, wait_for_states=None, timeout=60, **kw):
        """Start a rollout of Package pkg; with wait_for_states, wait
        until its state is one of them.  Returns the Rollout."""
        body = {"vm": pkg["vm"], "package": pkg["sha256"], "target": target}
        body.update(kw)
        st, r = self.api("POST", "/api/v1/rollouts", body=body)
        assert st == 201, (st, r)
        if wait_for_states:
            r = wait_for("rollout %s %s" % (r["id"], "/".join(wait_for_states)),
                         lambda: (lambda x: x if x["state"] in wait_for_states
                                  else None)(self.api(
                                      "GET", "/api/v1/rollouts/" + r["id"])[1]),
                         timeout, 0.2)
        return r

    def command(self, dev, vm, action, body=None, timeout=30):
        """Run a VM lifecycle command; its final Command."""
        st, c = self.api("POST", "/api/v1/devices/%s/vms/%s/%s" %
                         (dev, vm, action), body=body or {})
        assert st == 202, (st, c)
        return self.api("GET", "/api/v1/commands/%s?wait=%d" %
                        (c["id"], timeout))[1]

    def info(self):
        try:
            return self.api("GET", "/api/v1/info")[1] or {}
        except (OSError, urllib.error.URLError):
            return {}

    def vm_state(self, dev, vm):
        _, d = self.api("GET", "/api/v1/devices/" + dev)
        for v in d.get("vms", []):
            if v["name"] == vm:
                return v["state"]
        return None
