"""Test runs that share this machine's dockerd, or its lab, take turns.

The integration and browser tiers make containers with fixed names
("sc-light.n1.<gen>") on this machine's dockerd; the lab tier drives the one
lab of this machine (fixed machines, fixed addresses). Two runs at once (CI
beside a developer's run, or two checkouts) would remove or reuse each
other's containers or machines. So each of those tiers holds an exclusive
lock for the whole pytest session, one lock per thing shared (``dockerd``
for the integration and browser tiers, ``lab`` for the lab tier); a second
run waits for it and says so. The kernel drops the lock when the process
ends, however it ends.
"""
from __future__ import annotations

import fcntl
import os
import sys
import time

LOCKS = {"integration": "dockerd", "browser": "dockerd", "lab": "lab"}
_held: list = []     # the open lock file: kept open (and so locked) until the process ends


def take_dockerd_turn(tier: str) -> None:
    """Block until no other test run of this machine uses what ``tier`` uses, then hold the turn."""
    if _held:
        return
    f = open(f"/tmp/simplecloud-{LOCKS[tier]}-tests.lock", "a+")       # noqa: SIM115 - held open for the whole session on purpose
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        other = f.read().strip() or "another run"
        print(f"{tier}: waiting for the other test run on this machine's {LOCKS[tier]} to finish ({other})",
              file=sys.stderr, flush=True)
        started = time.monotonic()
        fcntl.flock(f, fcntl.LOCK_EX)
        print(f"{tier}: our turn after {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()}, {tier} tier, in {os.getcwd()}\n")
    f.flush()
    _held.append(f)
