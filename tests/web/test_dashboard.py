#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""The dashboard (web/) end to end, in headless Chromium, against a real
vmctld, a real mosquitto and simulated devices (fleet-sim):

  1. sign in (a wrong token is refused in words, the right one works);
  2. see all the devices, page by page; filter by label, search, sort;
  3. suspend a VM from its device's page and watch its state change;
     a change made elsewhere (the API) shows up live, via the event
     stream; the VM's figures and its log tail;
  4. upload a package (a bad one is refused in words), start a rollout
     from it and watch it complete;
  5. vmctld goes away: the page says so and retries, and keeps what was
     typed; it comes back and the page goes on;
  6. a viewer token sees no action buttons; a token demoted to viewer
     while its page is open gets the forbidden message, then no buttons.

usage: test_dashboard.py BIN_DIR WEB_ROOT WORK_DIR
(BIN_DIR has vmctld, vmctl, fleet-sim; $VMCTLD, $VMCTL, $FLEET_SIM
override).  Exit 0 passed, 1 failed, 77 skipped (no browser).
"""

import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import browser  # noqa: E402
from fleetenv import FleetEnv, FleetError  # noqa: E402

SKIP = 77
results = []


def step(name):
    """Decorator-free step runner: with step("..."): ..."""
    class Step:
        def __enter__(self):
            print("-- %s" % name, flush=True)
            self.t = time.monotonic()

        def __exit__(self, et, ev, tb):
            ok = et is None
            results.append((name, ok))
            print("%s %d - %s (%.1fs)" % ("ok" if ok else "not ok",
                                          len(results), name,
                                          time.monotonic() - self.t),
                  flush=True)
            if not ok:
                traceback.print_exception(et, ev, tb)
            return False
    return Step()


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    bin_dir, web_root, work = sys.argv[1:4]
    why = browser.missing()
    if why is not None:
        print("SKIPPED: the dashboard test needs a browser: %s" % why)
        return SKIP
    env = FleetEnv(bin_dir, web_root, work)
    why = env.check_tools()
    if why is not None:
        print("FAILED: %s" % why)
        return 1
    drv = None
    try:
        env.start([("berlin", 24, "site=berlin,tier=edge"),
                   ("paris", 6, "site=paris,tier=core")])
        drv = browser.start(workdir=env.work)
        run(env, drv)
    except Exception:
        traceback.print_exc()
        results.append(("setup or an aborted step", False))
    finally:
        if drv is not None:
            errs = [e for e in browser.console_errors(drv)
                    if "Failed to load resource" not in e]
            if errs:
                print("browser console errors:\n  " + "\n  ".join(errs))
                results.append(("no script errors in the console", False))
            try:
                drv.save_screenshot(os.path.join(env.work, "last.png"))
            except Exception:
                pass
            drv.quit()
        status = env.stop()
        # vmctld (also an ASan build) stops cleanly: exit 0, no reports.
        for name in ("vmctld", "vmctld-again"):
            if name not in status:
                continue
            bad = env.sanitizer_reports(name)
            ok = status[name] == 0 and not bad
            results.append(("%s exited cleanly" % name, ok))
            if not ok:
                print("%s: exit %s\n  %s" % (name, status[name],
                                              "\n  ".join(bad[:20])))
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    if failed:
        print("logs in %s" % env.work)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and passed > 0 else 1


# ---- page helpers --------------------------------------------------------


def css(drv, sel):
    from selenium.webdriver.common.by import By
    return drv.find_elements(By.CSS_SELECTOR, sel)


def one(drv, sel, timeout=20):
    return browser.wait("element %s" % sel,
                        lambda: (css(drv, sel) or [None])[0], timeout)


def click(drv, sel, timeout=20):
    """Click the element in the middle of the window (a message in a
    corner may cover the window's edges).  A live refresh may replace the
    element between finding and clicking it: then find it again."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt():
        el = one(drv, sel, timeout)
        try:
            drv.execute_script(
                "arguments[0].scrollIntoView({block: 'center'})", el)
            el.click()
            return el
        except StaleElementReferenceException:
            return None
    return browser.wait("a click on " + sel, attempt, timeout)


def text(drv, sel):
    els = css(drv, sel)
    return els[0].text if els else ""


def go(drv, env, hash_):
    drv.get(env.url + "/" + hash_)


def confirm(drv):
    click(drv, "#dialog[open] button[value=ok]")
    browser.wait("the dialog to close",
                 lambda: not css(drv, "#dialog[open]"), 10)


def toasts(drv):
    return [t.text for t in css(drv, "#toasts .toast")]


def sign_in(drv, env, token):
    go(drv, env, "#/")
    if css(drv, "#signin[hidden]"):
        click(drv, "#signout")
    field = one(drv, "#token")
    browser.wait("the sign-in form", lambda: field.is_displayed(), 10)
    field.clear()
    field.send_keys(token)
    click(drv, "#signin-btn")


def who(drv):
    """The role shown in the header (textContent: CSS capitalizes it)."""
    els = css(drv, "#who .role")
    return els[0].get_attribute("textContent") if els else ""


def row_ids(drv):
    return [a.text for a in css(drv, ".table-devices tbody a.strong")]


def vm_state(drv, vm):
    els = css(drv, 'tr[data-vm="%s"] td.vm-state' % vm)
    return els[0].get_attribute("data-state") if els else None


# ---- the steps -----------------------------------------------------------


def run(env, drv):
    with step("sign in: a wrong token is refused, the right one works"):
        go(drv, env, "#/")
        one(drv, "#token").send_keys("not-a-token")
        click(drv, "#signin-btn")
        browser.wait("the refusal", lambda: "Your token was not accepted" in
                     text(drv, "#signin-msg"))
        f = one(drv, "#token")
        f.clear()
        f.send_keys(env.operator)
        click(drv, "#signin-btn")
        browser.wait("the signed-in page",
                     lambda: css(drv, "#signin[hidden]") and
                     who(drv) == "operator")
        browser.wait("the live stream", lambda: css(
            drv, '#live[data-state="live"]'))
        browser.wait("the overview's device count", lambda: text(
            drv, ".stat .stat-value") == "30")

    with step("devices: all of them in pages, a label filter, a search"):
        go(drv, env, "#/devices")
        browser.wait("30 device rows",
                     lambda: sorted(row_ids(drv)) == sorted(env.devices))
        assert "1–30 of 30 devices" in text(drv, ".pager-text"), \
            text(drv, ".pager-text")
        from selenium.webdriver.support.ui import Select
        Select(one(drv, "#dev-size")).select_by_value("25")
        browser.wait("a page of 25", lambda: len(row_ids(drv)) == 25 and
                     "1–25 of 30 devices" in text(drv, ".pager-text"))
        first = row_ids(drv)
        click(drv, 'button[aria-label="Next page"]')
        browser.wait("page 2 of 2", lambda: len(row_ids(drv)) == 5 and
                     "26–30 of 30 devices" in text(drv, ".pager-text"))
        assert sorted(first + row_ids(drv)) == sorted(env.devices)
        assert "page=2" in drv.current_url, drv.current_url
        one(drv, "#dev-label").send_keys("site=paris")
        browser.wait("the 6 paris devices", lambda: sorted(row_ids(drv)) ==
                     ["paris-%05d" % i for i in range(6)])
        assert "label=site%3Dparis" in drv.current_url, drv.current_url
        one(drv, "#dev-label").clear()
        one(drv, "#dev-label").send_keys(" ")
        one(drv, "#dev-q").send_keys("00003")
        browser.wait("the search", lambda: sorted(row_ids(drv)) ==
                     ["berlin-00003", "paris-00003"])
        # Sorted by id descending: a click on the column's header.
        one(drv, "#dev-q").clear()
        one(drv, "#dev-q").send_keys("berlin")
        browser.wait("berlin only", lambda: len(row_ids(drv)) == 24)
        click(drv, "th .sort")
        browser.wait("descending order", lambda: row_ids(drv) == [
            "berlin-%05d" % i for i in range(23, -1, -1)])

    dev = "berlin-00002"
    with step("suspend a VM from the device page; see changes live"):
        go(drv, env, "#/devices/" + dev)
        browser.wait("sensor running", lambda: vm_state(drv, "sensor") ==
                     "running")
        # The figures the device reports: uptime and CPU share.
        browser.wait("sensor's uptime and CPU", lambda: (lambda c:
                     c[3].text not in ("", "–") and c[5].text.endswith("%"))(
                         css(drv, 'tr[data-vm="sensor"] > *')))
        click(drv, 'tr[data-vm="sensor"] button[data-action="suspend"]')
        assert "Suspend sensor on " + dev in text(drv, "#dialog h2")
        confirm(drv)
        browser.wait("sensor suspended on the page",
                     lambda: vm_state(drv, "sensor") == "suspended", 30)
        assert env.vm_state(dev, "sensor") == "suspended"
        # Resume it behind the page's back: only the event stream can
        # tell the page.
        st, cmd = env.api("POST", "/api/v1/devices/%s/vms/sensor/resume"
                          % dev, body={})
        assert st == 202, (st, cmd)
        browser.wait("sensor running again, live",
                     lambda: vm_state(drv, "sensor") == "running", 30)
        browser.wait("the resume in the command list", lambda: any(
            "resume" in r.text and "succeeded" in r.text
            for r in css(drv, ".table-cmds tbody tr")), 20)

    with step("the log tail of a VM"):
        from selenium.webdriver.support.ui import Select
        Select(one(drv, "#log-vm")).select_by_value("sensor")
        browser.wait("the log text", lambda: css(drv, "pre.log") and
                     not css(drv, "pre.log[hidden]") and
                     one(drv, "pre.log").text.strip() != "", 20)
        assert "fetched" in text(drv, ".log-state"), text(drv, ".log-state")

    with step("upload packages: a bad one is refused, a good one stored"):
        bad = env.pack("sensor", "9.9.9", key=env.stranger)
        good = env.pack("sensor", "2.0.0")
        go(drv, env, "#/packages")
        one(drv, "#vpk-file").send_keys(bad)
        click(drv, "form.upload button[type=submit]")
        browser.wait("the refusal", lambda: "The package was refused" in
                     text(drv, ".form-msg"), 30)
        one(drv, "#vpk-file").send_keys(good)
        click(drv, "form.upload button[type=submit]")
        browser.wait("the stored message", lambda: "Verified and stored: "
                     "sensor 2.0.0" in text(drv, ".form-msg"), 30)
        browser.wait("the package in the table", lambda: any(
            "2.0.0" in r.text for r in css(drv, ".grid-pk tbody tr")))
        assert "2.0.0" in one(drv, "#ro-package").text

    with step("start a rollout to site=paris and watch it complete"):
        click(drv, "#ro-t-labels")
        one(drv, "#ro-labels").send_keys("site=paris")
        b = one(drv, "#ro-batch")
        b.clear()
        b.send_keys("2")
        one(drv, "#ro-health").send_keys("300")
        click(drv, "form.rollout-form button[type=submit]")
        confirm(drv)
        browser.wait("the rollout's page",
                     lambda: "#/rollouts/" in drv.current_url, 20)
        rid = drv.current_url.split("#/rollouts/")[1]
        browser.wait("the rollout succeeded", lambda: css(
            drv, "h1 .badge") and text(drv, "h1 .badge") == "succeeded", 90)
        assert text(drv, ".progress-head strong") == "100%", \
            text(drv, ".progress-head strong")
        browser.wait("6 devices succeeded in the table", lambda: (lambda rows:
                     len(rows) == 6 and all("succeeded" in r for r in rows))(
                         [r.text for r in css(drv, "section.card-flush tbody tr")]))
        st, ro = env.api("GET", "/api/v1/rollouts/" + rid)
        assert ro["state"] == "succeeded", ro
        for i in range(6):
            _, d = env.api("GET", "/api/v1/devices/paris-%05d" % i)
            v = [x for x in d["vms"] if x["name"] == "sensor"][0]
            assert v["version"] == "2.0.0", d
        go(drv, env, "#/rollouts")
        browser.wait("the rollout in the list", lambda: rid in text(
            drv, "tbody"))

    with step("vmctld unreachable: a banner, retries, nothing lost"):
        go(drv, env, "#/devices")
        browser.wait("the device table", lambda: len(row_ids(drv)) == 30)
        env.ctld.terminate()
        env.ctld.wait(timeout=20)
        one(drv, "#dev-q").send_keys("kept")
        browser.wait("the banner", lambda: "vmctld unreachable, retrying in"
                     in text(drv, "#net-banner"), 30)
        assert css(drv, '#live[data-state="off"]')
        env.start_vmctld(again=True)
        browser.wait("the banner to go", lambda: css(
            drv, "#net-banner[hidden]"), 60)
        assert one(drv, "#dev-q").get_attribute("value") == "kept"
        one(drv, "#dev-q").clear()
        one(drv, "#dev-q").send_keys("paris")
        browser.wait("the table again", lambda: len(row_ids(drv)) == 6, 20)
        browser.wait("live again", lambda: css(
            drv, '#live[data-state="live"]'), 30)

    with step("a viewer sees no action buttons"):
        sign_in(drv, env, env.viewer)
        browser.wait("signed in as viewer", lambda: who(drv) ==
                     "viewer")
        go(drv, env, "#/devices/" + dev)
        browser.wait("the VM table", lambda: vm_state(drv, "sensor"))
        assert not css(drv, "button[data-action]"), "action buttons shown"
        go(drv, env, "#/packages")
        browser.wait("the package table", lambda: "2.0.0" in text(
            drv, "tbody"))
        assert not css(drv, "#vpk-file"), "upload form shown"
        assert not css(drv, "form.rollout-form"), "rollout form shown"
        assert not css(drv, "td.actions button")
        go(drv, env, "#/rollouts")
        browser.wait("the rollout list", lambda: css(drv, "tbody a.strong"))
        assert not css(drv, "a.btn-primary"), "new rollout button shown"
        click(drv, "tbody a.strong")
        browser.wait("the rollout page", lambda: css(drv, "h1 .badge"))
        assert not css(drv, "button[data-action]"), "rollout buttons shown"

    with step("a write by a demoted token shows the forbidden message"):
        sign_in(drv, env, env.second)
        browser.wait("signed in as operator", lambda: who(drv) ==
                     "operator")
        go(drv, env, "#/devices/" + dev)
        sel = 'tr[data-vm="net"] button[data-action="suspend"]'
        browser.wait("the button enabled", lambda: one(drv, sel).is_enabled())
        env.demote_second()
        click(drv, 'tr[data-vm="net"] button[data-action="suspend"]')
        confirm(drv)
        browser.wait("the forbidden message", lambda: any(
            "may only look, not change anything" in t for t in toasts(drv)),
            20)
        browser.wait("the buttons gone", lambda: who(drv) ==
                     "viewer" and vm_state(drv, "net") and
                     not css(drv, "button[data-action]"), 20)
        assert env.vm_state(dev, "net") == "running"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FleetError as e:
        print("FAILED: %s" % e)
        sys.exit(1)
