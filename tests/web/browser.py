# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""Headless Chromium (Debian's chromium + chromium-driver) through
Selenium (Debian's python3-selenium), with small waiting helpers.

missing() says what is not installed, for a clear skip message."""

import os
import shutil
import time

CHROMIUM = os.environ.get("VMF_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("VMF_CHROMEDRIVER", "/usr/bin/chromedriver")


def missing():
    """None when a browser can be driven, else what is missing."""
    for f, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(f, os.X_OK):
            return "%s not found (apt-get install %s)" % (f, pkg)
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "python module selenium not found (apt-get install " \
               "python3-selenium)"
    return None


def start(width=1280, height=800, workdir=None):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
              "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              "--disable-extensions", "--disable-background-networking",
              "--force-device-scale-factor=1", "--lang=en-US",
              "--window-size=%d,%d" % (width, height)):
        opts.add_argument(a)
    if workdir is not None:
        prof = os.path.join(workdir, "chromium-profile")
        shutil.rmtree(prof, ignore_errors=True)
        opts.add_argument("--user-data-dir=" + prof)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    log = os.path.join(workdir, "chromedriver.log") if workdir else os.devnull
    service = Service(executable_path=CHROMEDRIVER, log_path=log)
    drv = webdriver.Chrome(service=service, options=opts)
    # --window-size is the outer size in some versions: make the page's
    # viewport exactly width x height.
    inner = drv.execute_script("return [window.innerWidth, window.innerHeight]")
    drv.set_window_size(width + (width - inner[0]), height + (height - inner[1]))
    return drv


class Timeout(AssertionError):
    pass


def wait(what, cond, timeout=20, interval=0.1):
    """Poll cond() until true; AssertionError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = cond()
            if v:
                return v
        except Exception as e:  # a stale element while the page redraws
            last = e
        if time.monotonic() > deadline:
            raise Timeout("timed out after %ss waiting for %s%s" %
                          (timeout, what,
                           " (last error: %s)" % last if last else ""))
        time.sleep(interval)


def console_errors(drv):
    """The browser console's errors so far (SEVERE), as text lines."""
    try:
        return [e["message"] for e in drv.get_log("browser")
                if e.get("level") == "SEVERE"]
    except Exception:
        return []
