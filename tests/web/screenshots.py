#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""Screenshots of every dashboard page (1280x800 PNGs) for
docs/screenshots/, taken from a private fleet like the browser test's:
48 simulated devices in three sites, a finished rollout, one paused by a
failing canary, one under way, a suspended VM and a snapshot.

usage: screenshots.py BIN_DIR WEB_ROOT OUT_DIR WORK_DIR
(run it through scripts/screenshots)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import browser  # noqa: E402
from fleetenv import FleetEnv, wait_for  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


def css(drv, sel):
    return drv.find_elements(By.CSS_SELECTOR, sel)


def say(msg):
    print("== " + msg, flush=True)


def shoot(drv, out, name):
    # No hover highlight, no focus ring from the last click.
    from selenium.webdriver.common.action_chains import ActionChains
    live = css(drv, "#live")
    if live and live[0].is_displayed():
        ActionChains(drv).move_to_element(live[0]).perform()
    # Let the last refresh and the bars' transitions settle.
    time.sleep(0.8)
    path = os.path.join(out, name + ".png")
    drv.save_screenshot(path)
    say("wrote " + path)


def open_page(drv, env, hash_, ready):
    drv.get(env.url + "/" + hash_)
    browser.wait(hash_, lambda: ready(), 30)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir, web_root, out, work = sys.argv[1:5]
    why = browser.missing()
    if why is not None:
        print("screenshots: %s" % why, file=sys.stderr)
        return 1
    os.makedirs(out, exist_ok=True)
    env = FleetEnv(bin_dir, web_root, work)
    why = env.check_tools()
    if why is not None:
        print("screenshots: %s" % why, file=sys.stderr)
        return 1
    drv = None
    try:
        say("starting mosquitto, vmctld and 48 simulated devices")
        env.start([("berlin", 24, "site=berlin,tier=edge"),
                   ("paris", 16, "site=paris,tier=core"),
                   ("tokyo", 8, "site=tokyo,tier=edge",
                    ["--fail-version", "2.1.0"])])
        stage(env)
        drv = browser.start(workdir=env.work)
        pages(env, drv, out)
    finally:
        if drv is not None:
            drv.quit()
        env.stop()
    return 0


def stage(env):
    say("packages and rollouts")
    p200 = env.upload(env.pack("sensor", "2.0.0", size=48 * 1024))
    p210 = env.upload(env.pack("sensor", "2.1.0", size=52 * 1024))
    n110 = env.upload(env.pack("net", "1.1.0", size=96 * 1024))
    c101 = env.upload(env.pack("ctl", "1.0.1", size=24 * 1024))
    env.rollout(p200, {"all": True}, ["succeeded"], 120, batch="25%",
                health_window_ms=300)
    # The tokyo devices fail 2.1.0's health window: the canary rolls
    # back and the rollout pauses.
    env.rollout(p210, {"labels": {"site": "tokyo"}}, ["paused", "failed"],
                60, canary=1, batch=2, health_window_ms=300)
    # One stopped by hand.
    r = env.rollout(c101, {"labels": {"site": "paris"}}, None, canary=2,
                    batch=4, health_window_ms=60000)
    wait_for("the ctl canaries", lambda: env.api(
        "GET", "/api/v1/rollouts/" + r["id"])[1]["counts"]["in_flight"] > 0,
        30, 0.2)
    st, _ = env.api("POST", "/api/v1/rollouts/%s/abort" % r["id"], body={})
    assert st == 200, st
    say("a suspended VM, a restart, a snapshot")
    env.command("berlin-00003", "net", "suspend")
    env.command("paris-00002", "ctl", "suspend")
    env.command("berlin-00003", "ctl", "restart")
    env.command("berlin-00003", "sensor", "snapshot")
    env.command("paris-00005", "sensor", "snapshot")
    # One under way while the pictures are taken: a long health window
    # keeps its batches in flight.
    env.rollout(n110, {"labels": {"site": "berlin"}}, None, canary=1,
                batch="25%", health_window_ms=45000)


def pages(env, drv, out):
    say("sign-in page")
    drv.get(env.url + "/")
    field = browser.wait("the sign-in form", lambda: (css(drv, "#token") or
                                                      [None])[0])
    browser.wait("the form shown", lambda: field.is_displayed())
    shoot(drv, out, "signin")
    field.send_keys(env.operator)
    css(drv, "#signin-btn")[0].click()
    browser.wait("signed in", lambda: css(drv, "#signin[hidden]"))
    browser.wait("live", lambda: css(drv, '#live[data-state="live"]'))

    _, ros = env.api("GET", "/api/v1/rollouts")
    net = [r for r in ros["rollouts"] if r["vm"] == "net"][0]
    wait_for("the net rollout's canary", lambda: env.api(
        "GET", "/api/v1/rollouts/" + net["id"])[1]["counts"]["in_flight"] > 1,
        90, 0.2)

    say("overview")
    open_page(drv, env, "#/", lambda: css(drv, ".rollout-card"))
    shoot(drv, out, "overview")

    say("rollouts")
    open_page(drv, env, "#/rollouts",
              lambda: len(css(drv, "tbody a.strong")) >= 4)
    shoot(drv, out, "rollouts")

    say("one rollout")
    open_page(drv, env, "#/rollouts/" + net["id"],
              lambda: css(drv, ".progress-head"))
    shoot(drv, out, "rollout")

    say("devices")
    open_page(drv, env, "#/devices?size=25",
              lambda: len(css(drv, ".table-devices tbody a.strong")) == 25)
    drv.execute_script("document.activeElement.blur()")
    shoot(drv, out, "devices")

    say("one device")
    open_page(drv, env, "#/devices/berlin-00003",
              lambda: css(drv, 'tr[data-vm="net"] td.vm-state[data-state]') and
              len(css(drv, ".table-cmds tbody tr")) >= 3)
    logs = css(drv, ".log-controls button")
    if logs:
        logs[0].click()
        try:
            browser.wait("the log", lambda: not css(drv, ".log[hidden]"), 12)
        except AssertionError:
            pass  # this vmctld or device has no log tail: leave it
    drv.execute_script("document.activeElement.blur()")
    shoot(drv, out, "device")

    say("restore dialog")
    css(drv, 'tr[data-vm="sensor"] button[data-action="restore"]')[0].click()
    browser.wait("the dialog", lambda: css(drv, "#dialog[open] select"))
    shoot(drv, out, "device-restore")
    css(drv, '#dialog button[value="cancel"]')[0].click()

    say("packages")
    open_page(drv, env, "#/packages",
              lambda: len(css(drv, ".grid-pk tbody tr")) >= 4)
    drv.execute_script("document.activeElement.blur()")
    shoot(drv, out, "packages")


if __name__ == "__main__":
    sys.exit(main())
