"""etcd itself watched (control/etcd_monitor.py): its database against its
quota and its alarms, as events (once each), /metrics series and `cloud
status` warnings. The store is the FakeStore, whose ``etcd_health`` a test sets."""
from __future__ import annotations

from orchestrator.control.etcd_monitor import EtcdMonitor
from orchestrator.core.errors import Unavailable
from orchestrator.observe.collectors import EtcdCollector
from orchestrator.observe.telemetry import Telemetry
from tests.unit.observe.test_telemetry import scrape, value

MIB = 2 ** 20


def health(store, mib, alarms=()):
    store.etcd_health = {"db_bytes": mib * MIB, "quota_bytes": 256 * MIB, "revision": 42, "alarms": list(alarms),
                         "version": "3.4.23"}


def kinds(store):
    return [e.kind for e in store.events(100) if e.kind.startswith("etcd.")]


def test_a_nearly_full_etcd_is_told_once_until_it_shrinks(store):
    monitor = EtcdMonitor(store)
    health(store, 100)
    monitor.check()
    assert kinds(store) == []
    health(store, 210)                          # 82 %
    monitor.check()
    monitor.check()
    assert kinds(store) == ["etcd.space"]
    assert "210 MiB of its 256 MiB quota (82%)" in store.events(1)[0].message
    health(store, 150)                          # compacted and defragmented
    monitor.check()
    health(store, 220)
    monitor.check()
    assert kinds(store) == ["etcd.space", "etcd.space"]


def test_nospace_is_told_as_soon_as_etcd_takes_writes_again(store):
    monitor = EtcdMonitor(store)
    real = store.record_event

    def refused(*_):
        raise Unavailable("etcd is out of space")

    store.record_event = refused               # NOSPACE: etcd refuses every write, events too
    health(store, 256, alarms=["NOSPACE"])
    monitor.check()
    monitor.check()
    assert monitor.last["alarms"] == ["NOSPACE"] and kinds(store) == []
    store.record_event = real                  # an operator freed space and disarmed the alarm
    health(store, 40)
    monitor.check()
    assert kinds(store) == ["etcd.nospace"]
    message = store.events(1)[0].message
    assert message.startswith("at ") and "etcd is out of space (NOSPACE alarm, database 256 MiB" in message


def test_other_alarms_are_told_once(store):
    monitor = EtcdMonitor(store)
    health(store, 10, alarms=["CORRUPT"])
    monitor.check()
    monitor.check()
    assert kinds(store) == ["etcd.alarm"]


def test_metrics_show_size_quota_revision_and_alarms(store):
    monitor, t = EtcdMonitor(store), Telemetry()
    t.add_collector(EtcdCollector(monitor.reading))
    assert value(scrape(t), "simplecloud_etcd_db_bytes") is None          # nothing read yet: nothing shown
    health(store, 256, alarms=["NOSPACE"])
    monitor.check()
    s = scrape(t)
    assert value(s, "simplecloud_etcd_db_bytes") == 256 * MIB
    assert value(s, "simplecloud_etcd_quota_bytes") == 256 * MIB
    assert value(s, "simplecloud_etcd_revision") == 42
    assert value(s, "simplecloud_etcd_alarm", type="NOSPACE") == 1
    assert value(s, "simplecloud_etcd_alarm", type="CORRUPT") == 0


def test_cloud_status_warns_of_a_nearly_full_or_full_etcd(cases, store):
    health(store, 100)
    assert not [w for w in cases.cluster.status()["warnings"] if "etcd" in w]
    health(store, 230)
    (warning,) = [w for w in cases.cluster.status()["warnings"] if "etcd" in w]
    assert warning.startswith("etcd's database is 230 MiB of its 256 MiB quota (90%)")
    health(store, 256, alarms=["NOSPACE"])
    (warning,) = [w for w in cases.cluster.status()["warnings"] if "etcd" in w]
    assert warning.startswith("etcd is out of space (NOSPACE alarm")
    assert cases.cluster.status()["etcd"]["alarms"] == ["NOSPACE"]


def members(store, leader):
    store.members = [{"name": n, "id": f"{i + 1:x}", "healthy": True, "leader": n == leader}
                     for i, n in enumerate(("manager-1", "manager-2", "manager-3"))]


def etcd_leader(store):
    return next(m["name"] for m in store.etcd_members() if m["leader"])


def test_the_leader_moves_etcds_leader_off_its_own_machine(store):
    monitor = EtcdMonitor(store, leading=lambda: "manager-1")
    health(store, 10)
    members(store, "manager-1")
    monitor.check()
    assert etcd_leader(store) == "manager-2"
    assert kinds(store) == ["etcd.leader_moved"]
    assert "from manager-1 to manager-2" in store.events(1)[0].message
    monitor.check()                              # apart already: nothing more
    assert kinds(store) == ["etcd.leader_moved"]


def test_a_follower_or_a_leader_elsewhere_moves_nothing(store):
    health(store, 10)
    members(store, "manager-1")
    EtcdMonitor(store, leading=lambda: None).check()             # not leading (or may not act)
    EtcdMonitor(store, leading=lambda: "manager-3").check()      # leads, etcd's leader elsewhere
    assert etcd_leader(store) == "manager-1" and kinds(store) == []


def test_a_move_etcd_refuses_is_logged_and_the_monitor_goes_on(store, caplog):
    def refused(away_from):
        raise Unavailable("etcd did not move its leader from manager-1 to manager-2: not leader")

    store.move_etcd_leader = refused
    health(store, 10)
    members(store, "manager-1")
    monitor = EtcdMonitor(store, leading=lambda: "manager-1")
    monitor.check()
    assert monitor.last is not None and kinds(store) == []
    assert "cannot move etcd's leader away from manager-1" in caplog.text
