"""The pure parts of the load generator: when requests are due, what became
of each one, and the books that say how much of the offered load was sent.

* Arrivals are a Poisson process: exponential gaps of mean ``1/rate``.
  ``procs`` processes each run a Poisson process of ``rate/procs`` with their
  own seed; the sum of independent Poisson processes is again a Poisson
  process of the total rate, so the target sees the offered load.
* Every arrival ends as exactly one of: *sent* (written to a connection; its
  outcome is an HTTP status or a transport error kind) or *not sent*, with the
  reason: ``late`` (the generator itself fell more than ``max_lag`` behind the
  schedule: it cannot drive this rate), ``no connection`` (every connection of
  the process stayed busy for longer than the request timeout), ``stopped``
  (the run ended, or Ctrl-C, before a connection took it). Nothing is dropped
  silently: ``arrivals == sent + sum(not_sent)``.
"""
from __future__ import annotations

import asyncio
import errno
import random
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

LATE, NO_CONNECTION, STOPPED = "late", "no connection", "stopped"
NOT_SENT_KINDS = (LATE, NO_CONNECTION, STOPPED)


def arrivals(rate: float, duration: float, seed: int | None = None) -> Iterator[float]:
    """Offsets (s from the start) of a Poisson process of ``rate``/s in [0, duration)."""
    rng = random.Random(seed)
    t = rng.expovariate(rate)
    while t < duration:
        yield t
        t += rng.expovariate(rate)


def process_seeds(seed: int | None, procs: int) -> list[int | None]:
    """One seed per process: fixed ones derived from ``seed``, or all None (random)."""
    return [None if seed is None else seed * 1000 + i for i in range(procs)]


class ProtocolError(Exception):
    """The answer is not HTTP/1.x as this client reads it."""


def error_kind(exc: BaseException) -> str:
    """A short, stable name for a transport failure (a column of the report)."""
    if isinstance(exc, ProtocolError):
        return "bad response"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed early"
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, BrokenPipeError):
        return "broken pipe"
    if isinstance(exc, socket.gaierror):
        return "name lookup"
    if isinstance(exc, OSError) and exc.errno:
        return "os " + (errno.errorcode.get(exc.errno, str(exc.errno))).lower()
    return type(exc).__name__


def outcome_of_status(status: int) -> str:
    """The outcome of an answered request: its status code, as text."""
    return str(status)


def is_error(outcome: str) -> bool:
    """Transport errors and HTTP 5xx are errors; any other status is an answer."""
    return not outcome.isdigit() or outcome.startswith("5")


def error_label(outcome: str) -> str:
    """How an error outcome is named in the report: 'http 503', 'timeout'..."""
    return f"http {outcome}" if outcome.isdigit() else outcome


class SentRequest(NamedTuple):
    """One sent request: scheduled offset (s), latency (s from the scheduled
    time; None without an answer), outcome (status or error kind), node (from
    a JSON body, or ''), wait (s from the scheduled time until a connection
    took it: the generator's own delay, part of the latency)."""
    offset: float
    latency: float | None
    outcome: str
    node: str = ""
    wait: float = 0.0


@dataclass
class Books:
    """What became of the arrivals of one process (or of all, merged)."""
    arrivals: int = 0
    samples: list[SentRequest] = field(default_factory=list)
    not_sent: Counter = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return len(self.samples)

    def balanced(self) -> bool:
        return self.arrivals == self.sent + sum(self.not_sent.values())

    def merge(self, other: Books) -> Books:
        return Books(self.arrivals + other.arrivals, self.samples + other.samples,
                     self.not_sent + other.not_sent)
