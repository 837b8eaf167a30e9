"""What the loops report when something fails: one event per distinct error
per window, not one per node per pass.

A step that fails on every pass (a full disk on a pod host: every create
fails) would otherwise write an event per node every couple of seconds, and
the event log keeps 1,000 (edges/store/events.py): a few minutes of that and
every other event is gone. ``Reporter.error`` coalesces:

* a failure is *the same* as another when its kind, its key (the step's kind,
  say) and its message with the names and numbers in it masked (``shape``)
  are the same: "create web-3 failed: no space left on device" and "create
  web-7 failed: ..." are one error;
* the first of an error is an event at once (and a log line with the whole
  message); the next ones within ``window`` seconds are only counted, and
  when the window ends one event says how many there were and for which
  subjects; an error seen on every pass therefore costs one event per window;
* an error not seen for a whole window is forgotten: its next occurrence is
  told at once again.

Each loop calls ``tick()`` once per pass (it writes the counts of windows
that ended). A failure to write the event itself is logged, never raised:
reporting must not be what stops a loop.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from orchestrator.edges.protocols import StoreProtocol

WINDOW = 60.0
"""Seconds over which repeats of one error are counted into one event."""
SUBJECTS_SHOWN = 5

_NUMBERED = re.compile(r"\S*\d\S*")


def shape(message: str, names: Iterable[str] = ()) -> str:
    """``message`` with ``names`` and every word holding a digit (ids, node
    numbers, addresses, counts) masked: what stays is the error's kind."""
    for name in sorted((n for n in names if n), key=len, reverse=True):
        message = message.replace(name, "*")
    return _NUMBERED.sub("#", message)


@dataclass
class _Seen:
    message: str                  # the first message of the window
    subject: str
    started: float                # when the window began
    last: float                   # when it was last seen
    repeats: int = 0              # since the window began, the first one not counted
    subjects: list[str] = field(default_factory=list)


class Reporter:
    """Coalesced failure events of one loop (module docstring)."""

    def __init__(self, store: StoreProtocol, log: logging.Logger, window: float = WINDOW,
                 clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.log = log
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str, str], _Seen] = {}
        self._lock = threading.Lock()            # chains of one reconciler report side by side

    def error(self, kind: str, subject: str, message: str, *, key: str = "", names: Iterable[str] = (),
              exc: BaseException | None = None) -> None:
        """One failure (see the module docstring); ``names``: words of the
        message that differ between occurrences of one error (node and
        container names); ``exc``: an unexpected exception, whose traceback
        is logged with the first occurrence."""
        now = self.clock()
        ident = (kind, key, shape(message, (*names, subject)))
        with self._lock:
            seen = self._seen.get(ident)
            if seen is not None and now - seen.last <= self.window:
                seen.last = now
                seen.repeats += 1
                if subject not in seen.subjects:
                    seen.subjects.append(subject)
                first = False
            else:
                self._seen[ident] = _Seen(message, subject, now, now, subjects=[subject])
                first = True
        if first:
            self.log.warning("%s", message, exc_info=exc)
            self.event(kind, subject, message)
        else:
            self.log.debug("%s (again)", message)
        self.tick()

    def tick(self) -> None:
        """Write the count of every window that ended; forget errors gone quiet."""
        now = self.clock()
        due = []
        with self._lock:
            for ident, seen in list(self._seen.items()):
                if now - seen.started < self.window:
                    continue
                if seen.repeats:
                    due.append((ident[0], seen.subject, self._summary(seen, now)))
                    seen.started, seen.repeats, seen.subjects = now, 0, []
                elif now - seen.last > self.window:
                    del self._seen[ident]
        for kind, subject, message in due:
            self.log.warning("%s", message)
            self.event(kind, subject, message)

    def _summary(self, seen: _Seen, now: float) -> str:
        shown = ", ".join(seen.subjects[:SUBJECTS_SHOWN]) + (" …" if len(seen.subjects) > SUBJECTS_SHOWN else "")
        return (f"{seen.message} (again {seen.repeats} time(s) in the last {now - seen.started:.0f} s, "
                f"for {shown})")

    def event(self, kind: str, subject: str, message: str) -> None:
        """An event on its own; a store that refuses it is logged."""
        try:
            self.store.record_event(kind, subject, message)
        except Exception as exc:  # noqa: BLE001 - reporting must not be what stops a loop
            self.log.warning("cannot record event %s (%s): %s", kind, message[:200], exc)
