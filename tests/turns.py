"""Test runs that share this machine's dockerd take turns.

The integration, lab and browser tiers make containers with fixed names
("sc-light.n1.<gen>", the lab's "simplecloud-manager-1"), a lab of fixed
machines and fixed addresses. Two runs at once on one dockerd (CI beside a
developer's run, or two checkouts) would remove or reuse each other's
containers. So each of those tiers holds an exclusive lock on one file for
the whole pytest session; a second run waits for it and says so. The kernel
drops the lock when the process ends, however it ends.
"""
from __future__ import annotations

import fcntl
import os
import sys
import time

LOCK_FILE = "/tmp/simplecloud-dockerd-tests.lock"
_held: list = []     # the open lock file: kept open (and so locked) until the process ends


def take_dockerd_turn(tier: str) -> None:
    """Block until no other test run on this machine uses dockerd, then hold the turn."""
    if _held:
        return
    f = open(LOCK_FILE, "a+")       # noqa: SIM115 - held open for the whole session on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        other = f.read().strip() or "another run"
        print(f"{tier}: waiting for the other test run on this dockerd to finish ({other})",
              file=sys.stderr, flush=True)
        started = time.monotonic()
        fcntl.flock(f, fcntl.LOCK_EX)
        print(f"{tier}: our turn after {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}, {tier} tier, in {os.getcwd()}\n")
    f.flush()
    _held.append(f)
