"""Leader election, takeover and fencing against a real 3-member etcd
(fixtures_etcd_cluster.py): what several managers rely on (edges/election.py).

A manager that dies is a process killed with SIGKILL; a frozen one is
SIGSTOPped; one cut off from etcd talks to a single member that is frozen.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import etcd3
import pytest
from etcd3 import etcdrpc

from orchestrator.edges.election import ElectionTimes, Leadership
from orchestrator.edges.etcd_client import connect
from orchestrator.edges.store import Store

pytestmark = pytest.mark.integration

TIMES = ElectionTimes(ttl=3, renew_interval=0.5, renew_deadline=2.0, retry=0.25)
WAIT = 30.0           # how long a test waits for something that must happen (never a target)

# A manager process that only campaigns and, while it may act, writes one
# fenced key a tenth of a second: acts/<epoch>/<n>. It prints a line per
# change of leadership and per write attempt.
MANAGER = textwrap.dedent("""
    import json, sys, threading, time
    from etcd3 import etcdrpc
    from orchestrator.edges.election import ElectionTimes, Leadership
    from orchestrator.edges.etcd_client import connect
    prefix, name, endpoints = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    client = connect([tuple(e) for e in endpoints], timeout=2.0)
    def say(*words):
        print(*words, flush=True)
    lead = Leadership(client, prefix, name, ElectionTimes(**json.loads(sys.argv[4])),
                      on_change=lambda info, why: say("LEADER" if info else "LOST", info and info.epoch, why))
    stop = threading.Event()
    threading.Thread(target=lead.run, args=(stop,), daemon=True).start()
    n = 0
    while True:
        if lead.may_act():
            epoch = lead.epoch
            key = f"{prefix}acts/{epoch}/{n:06d}".encode()
            say("ATTEMPT", epoch, n)
            ok = client.kvstub.Txn(etcdrpc.TxnRequest(
                compare=[lead.fence(epoch)],
                success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=key, value=b"x"))]),
                2.0).succeeded
            say("WROTE" if ok else "FENCED", epoch, n)
            n += 1
        time.sleep(0.1)
""")


def start_manager(prefix: str, name: str, endpoints) -> subprocess.Popen:
    times = {"ttl": TIMES.ttl, "renew_interval": TIMES.renew_interval,
             "renew_deadline": TIMES.renew_deadline, "retry": TIMES.retry}
    return subprocess.Popen([sys.executable, "-c", MANAGER, prefix, name, json.dumps(endpoints),
                             json.dumps(times)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


class Lines:
    """A process's output, read in the background, searchable while it runs."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._t = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._t.start()

    def _read(self, proc):
        try:
            for line in proc.stdout:
                self.lines.append(line.rstrip())
        except (ValueError, OSError):      # closed by end() while reading
            pass

    def wait_for(self, word: str, after: int = 0, timeout: float = WAIT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                if line.startswith(word):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"no {word!r} line within {timeout}s; output:\n" + "\n".join(self.lines[-30:]))


def end(proc: subprocess.Popen) -> None:
    """Kill a manager process (thawed first) and close its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    proc.wait()
    proc.stdout.close()


def wait_until(check, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def run_leadership(client, prefix: str, name: str, changes: list | None = None):
    """A Leadership in a thread of this process; returns (leadership, stop event)."""
    record = changes if changes is not None else []
    lead = Leadership(client, prefix, name, TIMES,
                      on_change=lambda info, why: record.append((time.monotonic(), name, info, why)))
    stop = threading.Event()
    thread = threading.Thread(target=lead.run, args=(stop,), daemon=True)
    thread.start()
    return lead, Stopper(stop, thread)


class Stopper:
    """Stops a Leadership's loop and waits for it (before its client is closed)."""

    def __init__(self, event: threading.Event, thread: threading.Thread):
        self.event, self.thread = event, thread

    def set(self):
        self.event.set()
        self.thread.join(10)


def keys_under(client, prefix: str) -> list[tuple[str, int]]:
    return sorted((meta.key.decode(), meta.create_revision) for _, meta in client.get_prefix(prefix))


@pytest.fixture
def prefix():
    return f"/sctest-{uuid.uuid4().hex[:10]}/"


def test_exactly_one_leader_and_its_epoch_is_the_key_create_revision(etcd_cluster, prefix):
    clients = [connect(etcd_cluster.endpoints(first=i), timeout=2.0) for i in range(3)]
    runs = [run_leadership(c, prefix, f"manager-{i}") for i, c in enumerate(clients)]
    try:
        leader = wait_until(lambda: [lead for lead, _ in runs if lead.may_act()], "a leader")
        assert len(leader) == 1
        _, meta = clients[0].get(prefix + "leader")
        assert leader[0].epoch == meta.create_revision
        for lead, _ in runs:
            assert lead.leader().name == leader[0].name
    finally:
        for _, stop in runs:
            stop.set()
        for c in clients:
            c.close()


def test_killed_leader_is_replaced_and_its_epoch_fenced(etcd_cluster, prefix):
    old = start_manager(prefix, "manager-0", etcd_cluster.endpoints(first=0))
    out = Lines(old)
    client = connect(etcd_cluster.endpoints(first=1), timeout=2.0)
    lead = stop = None
    try:
        old_epoch = int(out.wait_for("LEADER").split()[1])
        out.wait_for("WROTE")
        lead, stop = run_leadership(client, prefix, "manager-1")
        time.sleep(1)
        assert not lead.may_act()                      # the old one still renews
        old.send_signal(signal.SIGKILL)                 # the leader's manager dies
        wait_until(lead.may_act, "a takeover")
        assert lead.epoch > old_epoch
        # a write fenced on the dead leader's epoch changes nothing
        ok = client.kvstub.Txn(etcdrpc.TxnRequest(
            compare=[lead.fence(old_epoch)],
            success=[etcdrpc.RequestOp(request_put=etcdrpc.PutRequest(key=f"{prefix}late".encode(),
                                                                      value=b"x"))]), 2.0).succeeded
        assert not ok and client.get(prefix + "late")[0] is None
    finally:
        end(old)
        if stop:
            stop.set()
        client.close()


def test_a_frozen_leader_takes_no_action_after_it_lost_the_lease(etcd_cluster, prefix):
    old = start_manager(prefix, "manager-0", etcd_cluster.endpoints(first=0))
    out = Lines(old)
    client = connect(etcd_cluster.endpoints(first=1), timeout=2.0)
    stop = None
    try:
        old_epoch = int(out.wait_for("LEADER").split()[1])
        out.wait_for("WROTE")
        lead, stop = run_leadership(client, prefix, "manager-1")
        old.send_signal(signal.SIGSTOP)                # frozen longer than its lease
        new_epoch = wait_until(lambda: lead.may_act() and lead.epoch, "a takeover")
        time.sleep(1)
        frozen_at = len(out.lines)
        old.send_signal(signal.SIGCONT)
        lost = out.wait_for("LOST", after=frozen_at)
        time.sleep(2 * TIMES.renew_interval + 1)        # time to do harm, were it able to
        assert lead.may_act() and lead.epoch == new_epoch
        after = out.lines[frozen_at:]
        # at most the one write it was already making when frozen, and that one fenced off
        assert [ln for ln in after if ln.startswith("WROTE")] == [], after
        assert len([ln for ln in after if ln.startswith("ATTEMPT")]) <= 1, after
        assert "expired" in lost or "deadline" in lost or "renew" in lost, lost
        # etcd agrees: nothing under the old epoch was created after the new leader's key
        late = [k for k, rev in keys_under(client, f"{prefix}acts/{old_epoch}/") if rev > new_epoch]
        assert late == []
    finally:
        end(old)
        if stop:
            stop.set()
        client.close()


def test_a_leader_cut_off_from_etcd_stops_before_another_starts(etcd_cluster, prefix):
    # each manager talks to one member only: freezing m0 cuts manager-0 off
    changes: list = []
    cut = connect(etcd_cluster.endpoints(first=0)[:1], timeout=1.0)
    other = connect(etcd_cluster.endpoints(first=1)[:1], timeout=1.0)
    first, stop_first = run_leadership(cut, prefix, "manager-0", changes)
    stops = [stop_first]
    try:
        wait_until(first.may_act, "manager-0 leads")
        first_epoch = first.epoch
        second, stop_second = run_leadership(other, prefix, "manager-1", changes)
        stops.append(stop_second)
        etcd_cluster.freeze(0)
        wait_until(second.may_act, "manager-1 takes over")
        assert not first.may_act()
        lost = [t for t, name, info, _ in changes if name == "manager-0" and info is None]
        won = [t for t, name, info, _ in changes if name == "manager-1" and info is not None]
        # manager-0 may have noticed only through may_act's deadline (its renew call hangs):
        # either way it did not act once manager-1 could
        assert won and (not lost or lost[0] <= won[0])
        assert second.epoch > first_epoch
    finally:
        etcd_cluster.thaw(0)
        for s in stops:
            s.set()
        cut.close()
        other.close()


def test_one_channel_survives_the_loss_of_its_member_and_the_member_rejoins(etcd_cluster, prefix):
    client = connect(etcd_cluster.endpoints(first=0), timeout=2.0)
    try:
        client.put(prefix + "a", "1")
        etcd_cluster.stop(0)                           # the member this channel uses
        wait_until(lambda: _put_ok(client, prefix + "b", "2"), "a write through another member")
        assert client.get(prefix + "a")[0] == b"1"
        etcd_cluster.start(0)                          # it rejoins with its data
        etcd_cluster.wait_healthy([0])
        lone = etcd3.client(host="127.0.0.1", port=etcd_cluster.members[0].client_port, timeout=2)
        try:
            wait_until(lambda: lone.get(prefix + "b")[0] == b"2", "the rejoined member catches up")
        finally:
            lone.close()
    finally:
        client.close()


def _put_ok(client, key: str, value: str) -> bool:
    try:
        client.put(key, value)
        return True
    except Exception:  # noqa: BLE001 - the channel is still moving to another member
        return False


def test_etcds_leader_moves_off_the_machine_of_simplecloud_s_leader(etcd_cluster, prefix):
    """What the leader's etcd monitor does (edges/store/members.py move_leader):
    etcd's leadership handed to another healthy member; nothing to do when
    the named member does not lead etcd."""
    store = Store(prefix=prefix, endpoints=etcd_cluster.endpoints(), timeout=5.0)
    try:
        wait_until(lambda: sum(m["leader"] for m in store.etcd_members()) == 1, "etcd to have a leader")
        leader = next(m["name"] for m in store.etcd_members() if m["leader"])
        other = next(m["name"] for m in store.etcd_members() if not m["leader"])
        assert store.move_etcd_leader(other) is None                 # it does not lead etcd: nothing moves
        moved = store.move_etcd_leader(leader)
        assert moved in {"m0", "m1", "m2"} - {leader}
        wait_until(lambda: [m["name"] for m in store.etcd_members() if m["leader"]] == [moved],
                   f"etcd's leader to be {moved}")
        store.record_event("test.moved", "etcd", "written after the move")   # the cluster takes writes
        assert store.events(1)[0].kind == "test.moved"
    finally:
        store.close()
