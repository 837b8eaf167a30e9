"""Healing rules: when a worker counts as failed, and how long to wait before
replacing it again (pure, no I/O).

A worker container has **failed** when

* its process ended (docker state ``exited`` or ``dead``): "exited with code 1";
* it stopped passing its health check after it had passed one, and uses no
  CPU (a hung process: HAProxy says DOWN although the container runs). A
  worker that is DOWN but *busy* is overloaded, not hung: HAProxy keeps it
  out of rotation until it answers again, and it is replaced only if it stays
  DOWN for ``HealingPolicy.busy_grace`` seconds (killing busy workers would only make
  an overload worse);
* it never passed a health check within ``HealingPolicy.start_timeout`` seconds of
  being created.

A failed worker is taken out of HAProxy at once and replaced. A node that
keeps failing **backs off** like Kubernetes' CrashLoopBackOff: the first
failure is replaced at once, the next ones wait 1 s, 2 s, 4 s ... up to
``HealingPolicy.backoff_max`` seconds after the failure was seen. Once a replacement
has served for ``HealingPolicy.backoff_reset`` seconds the streak starts over.

What a node has been through is a ``NodeHealth`` record, kept with the
node's observed state in etcd, so a manager that restarts does not forget a
back-off that is under way.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from orchestrator.core.model import Container, Server, record_fields

DEAD_STATES = ("exited", "dead")
"""Docker states of a container whose process has ended."""


@dataclass(frozen=True)
class HealingPolicy:
    """The numbers behind healing and updates (from the manager's Settings)."""

    start_timeout: float = 30.0   # s a new worker may take to pass its first health check
    backoff_max: float = 60.0     # s, the longest wait before replacing a crashing node again
    backoff_reset: float = 60.0   # s of serving after which a node's crash streak is forgotten
    max_surge: int = 1            # nodes per app replaced side by side during an update
    busy_grace: float = 30.0      # s a busy worker may stay DOWN before it is replaced
    idle_cpu: float = 0.02        # CPUs: a DOWN worker using less than this is hung
    hung_probe: float = 0.3       # s at least between the two CPU readings of a DOWN worker


@dataclass(frozen=True)
class NodeHealth:
    """What one node has been through (stored in etcd with its observed state)."""

    restarts: int = 0          # failed workers replaced, ever
    streak: int = 0            # failures in a row: the back-off exponent
    last_error: str = ""       # why the last worker failed
    last_failure: float = 0.0  # when a failure was last seen (Unix time)
    failed_id: str = ""        # container id of a failure seen but not yet replaced
    healthy_id: str = ""       # container id that has passed a health check
    down_since: float = 0.0    # when healthy_id was first seen DOWN (0: it is not)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> NodeHealth:
        """The record stored with a node's observed state; RecordError
        (``model.RecordError``) if it is not one."""
        if data is None:
            return cls()
        return cls(**record_fields(cls, data))


def backoff(streak: int, policy: HealingPolicy) -> float:
    """Seconds to wait before replacing a node with ``streak`` failures in a row
    behind it: 0, then 1, 2, 4 ... capped at ``policy.backoff_max``."""
    if streak <= 0:
        return 0.0
    return float(min(policy.backoff_max, 2 ** (streak - 1)))


def suspect(c: Container, s: Server | None, health: NodeHealth) -> bool:
    """A running worker that passed its check once and is DOWN now: hung or busy?
    (The controller then reads its CPU use; see ``failure``.)"""
    return (c.state in ("running", "paused") and s is not None and s.healthy is False
            and s.admin != "maint" and health.healthy_id == c.id)


def failure(c: Container, s: Server | None, health: NodeHealth, now: float,
            policy: HealingPolicy, cpu: float | None = None) -> str:
    """Why container ``c`` (with its HAProxy server ``s``) has failed, or "".

    ``cpu``: CPUs the container used lately (None: not known yet)."""
    if c.state in DEAD_STATES:
        code = f" with code {c.exit_code}" if c.exit_code is not None else ""
        return f"its container exited{code}"
    if c.state not in ("running", "paused") or s is None or s.healthy is not False:
        return ""
    if s.admin == "maint":
        return ""                          # paused on purpose: not checked
    if health.healthy_id == c.id:
        if cpu is not None and cpu < policy.idle_cpu:
            return "it stopped passing its health check and uses no CPU (hung)"
        since = health.down_since or now
        if now - since >= policy.busy_grace:
            return f"it has failed its health check for {now - since:.0f} s (busy, overloaded or stuck)"
        return ""
    if c.created and now - c.created > policy.start_timeout:
        return f"it did not pass a health check within {policy.start_timeout:g} s of starting"
    return ""


@dataclass(frozen=True)
class Verdict:
    """What to do about one node's current worker."""

    replace: bool              # take it out and start a new one now
    health: NodeHealth         # the record after this decision
    reason: str = ""           # why (empty when all is well)
    wait_until: float = 0.0    # back-off: replace no earlier than this (Unix time)


def judge(c: Container | None, s: Server | None, health: NodeHealth, now: float,
          policy: HealingPolicy, cpu: float | None = None) -> Verdict:
    """Decide about a node's current worker ``c`` and update its record.

    * serving and healthy: remember that it passed (so a later DOWN means hung)
      and forget the streak once it has served ``backoff_reset`` seconds;
    * failed: replace now, or wait for the back-off; the record counts it.
    """
    if c is None:
        return Verdict(False, health)
    if suspect(c, s, health):
        if not health.down_since:
            health = dataclasses.replace(health, down_since=now)
    elif health.down_since:
        health = dataclasses.replace(health, down_since=0.0)
    why = failure(c, s, health, now, policy, cpu)
    if not why:
        if s is not None and s.healthy and health.healthy_id != c.id:
            health = dataclasses.replace(health, healthy_id=c.id)
        if health.streak and s is not None and s.healthy and now - health.last_failure >= policy.backoff_reset:
            health = dataclasses.replace(health, streak=0)
        return Verdict(False, health)
    seen = health.last_failure if health.failed_id == c.id else now
    due = seen + backoff(health.streak, policy)
    if now < due:
        waiting = dataclasses.replace(health, failed_id=c.id, last_failure=seen, last_error=why)
        return Verdict(False, waiting, why, wait_until=due)
    replaced = dataclasses.replace(health, restarts=health.restarts + 1, streak=health.streak + 1,
                                   last_error=why, last_failure=seen, failed_id="", healthy_id="",
                                   down_since=0.0)
    return Verdict(True, replaced, why)
