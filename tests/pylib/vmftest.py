# SPDX-License-Identifier: Apache-2.0
# Copyright (c) 2026 the vmfleet authors
"""What the Python tests (tests/web, tests/fleet) share: waiting with a
deadline, a free loopback port, and WebAssembly custom sections for
modules of a chosen size.  Standard library only."""

import os
import socket
import time


class FleetError(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(what, cond, timeout, interval=0.1):
    """Poll cond() until it returns something true; FleetError after
    timeout seconds.  Returns cond()'s value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise FleetError("timed out after %ss waiting for %s" %
                             (timeout, what))
        time.sleep(interval)


def leb128(n):
    """n as an unsigned LEB128 (WebAssembly's integer encoding)."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def custom_section(name, size):
    """A custom section named `name` with `size` random bytes: appended to
    a module it changes the module's size and hash, never what it does."""
    body = leb128(len(name)) + name + os.urandom(size)
    return b"\x00" + leb128(len(body)) + body
