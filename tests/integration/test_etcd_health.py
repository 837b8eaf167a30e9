"""etcd stays small and its trouble is seen (issue 19), against real etcds:
the quota read from etcd itself, a NOSPACE alarm seen, refused writes said
in words, the event written once etcd takes writes again; paged reads that
never near gRPC's message cap; the API answering 503 within its budget
while etcd is frozen."""
from __future__ import annotations

import signal
import uuid
from concurrent.futures import ThreadPoolExecutor

import etcd3
import grpc
import pytest

from orchestrator.api import create_app
from orchestrator.control.etcd_monitor import EtcdMonitor
from orchestrator.core.model import MAX_EVENT_MESSAGE, Pod
from orchestrator.edges.store import Store
from orchestrator.edges.store.etcd import NoSpace
from orchestrator.observe.collectors import EtcdCollector
from orchestrator.observe.telemetry import Telemetry
from orchestrator.usecases import UseCases
from tests.unit.observe.test_telemetry import scrape, value

from .fixtures_etcd import etcd_process

pytestmark = pytest.mark.integration

QUOTA = 4 * 1024 * 1024
TOKEN = "t"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fill(client: etcd3.Etcd3Client) -> None:
    """Write until etcd raises NOSPACE (keys outside the store's prefix)."""
    value = b"x" * 200_000
    for i in range(200):
        try:
            client.put(f"/filler/{i % 10}", value)
        except grpc.RpcError as exc:
            assert "database space exceeded" in (exc.details() or "")
            return
    pytest.fail("etcd never reached its quota")


def test_a_full_etcd_is_seen_said_and_told_once_it_takes_writes_again():
    with etcd_process("--quota-backend-bytes", str(QUOTA)) as (host, port, _proc):
        store = Store(host, port, prefix="/sc-health/")
        raw = etcd3.client(host=host, port=port)
        try:
            health = store.health()
            assert health["quota_bytes"] == QUOTA                 # read from etcd's own /metrics
            assert 0 < health["db_bytes"] < QUOTA and health["alarms"] == []
            store.put_pod(Pod("p1", "h", 3, 0.25, 128), create=True)
            monitor, telemetry = EtcdMonitor(store), Telemetry()
            telemetry.add_collector(EtcdCollector(monitor.reading))
            monitor.check()
            assert value(scrape(telemetry), "simplecloud_etcd_alarm", type="NOSPACE") == 0

            fill(raw)
            assert store.health()["alarms"] == ["NOSPACE"]
            with pytest.raises(NoSpace, match="etcd is out of space"):
                store.put_pod(Pod("p2", "h", 3, 0.25, 128), create=True)
            assert store.get_pod("p1") is not None                # reads still work
            monitor.check()
            assert value(scrape(telemetry), "simplecloud_etcd_alarm", type="NOSPACE") == 1
            status = UseCases.over(store).cluster.status()
            assert any(w.startswith("etcd is out of space (NOSPACE alarm") for w in status["warnings"])
            assert not [e for e in store.events(10) if e.kind == "etcd.nospace"]      # cannot be written yet

            # what the operator does (docs/lab.md): compact, defragment, disarm
            raw.delete_prefix("/filler/")
            raw.compact(store.health()["revision"])
            raw.defragment()
            for alarm in list(raw.list_alarms()):               # etcdctl alarm disarm
                raw.disarm_alarm(alarm.member_id)
            monitor.check()
            assert [e.kind for e in store.events(10) if e.kind.startswith("etcd.")] == ["etcd.nospace"]
            assert value(scrape(telemetry), "simplecloud_etcd_alarm", type="NOSPACE") == 0
            store.put_pod(Pod("p2", "h", 3, 0.25, 128), create=True)
        finally:
            raw.close()
            store.close()


def test_lists_are_read_in_pages_that_never_near_the_message_cap(store):
    """24 MB of records (older, bigger ones than ours) under one prefix, more
    than gRPC's 16 MiB cap in one answer: listed whole, in smaller pages."""
    big = "y" * 600_000
    for i in range(40):
        store.etcd.put_json(f"events/{i:020d}-x", {"time": float(i), "kind": "old", "subject": "s", "message": big})
    events = store.events(limit=1000)
    assert len(events) == 40 and events[0].time == 39.0
    store.etcd.page = 3
    assert len(store.etcd.names("events/")) == 40 and len(store.events(limit=7)) == 7


def test_an_event_message_is_cut_at_its_limit(store):
    store.record_event("test", "s", "z" * 1_000_000)
    (event,) = store.events(1)
    assert len(event.message) == MAX_EVENT_MESSAGE and event.message.endswith("…")


def test_with_etcd_frozen_the_api_answers_503_within_its_budget():
    """8 requests at once (the API's 8 threads), etcd frozen: each answers 503
    after its 2 s budget, not after the store's 10 s timeout per call."""
    with etcd_process() as (host, port, proc):
        store = Store(host, port, prefix=f"/sc-{uuid.uuid4().hex[:8]}/")
        app = create_app(UseCases.over(store), token=TOKEN, etcd_budget=2.0)
        try:
            assert app.test_client().get("/api/apps", headers=AUTH).status_code == 200
            proc.send_signal(signal.SIGSTOP)
            paths = ["/api/apps", "/api/status", "/api/pods", "/api/nodes"] * 2

            def get(path):
                response = app.test_client().get(path, headers=AUTH)
                return response.status_code, response.get_json()["error"]

            with ThreadPoolExecutor(max_workers=8) as pool:
                futures = [pool.submit(get, path) for path in paths]
                answers = [f.result(timeout=8) for f in futures]     # 10 s per call would miss this
            assert all(code == 503 for code, _ in answers), answers
            assert all("etcd" in error for _, error in answers)
        finally:
            proc.send_signal(signal.SIGCONT)
            store.close()
