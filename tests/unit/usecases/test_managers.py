"""The managers' overview (usecases/managers.py): the leader from etcd, what
each manager says of itself, who holds the virtual IP, etcd's members."""
from __future__ import annotations

from orchestrator.usecases.managers import Managers
from tests.unit.fakes import FakeStore


class Peers:
    def __init__(self, looks):
        self.looks = looks

    def look_all(self):
        return dict(self.looks)

    def backends(self, me):
        return {}


def test_one_leader_one_vip_holder_and_a_manager_that_does_not_answer():
    store = FakeStore()
    store._commit({"leader": {"name": "manager-2", "since": 100.0, "api": "http://m2:5000"}})
    peers = Peers({"manager-1": {"name": "manager-1", "holds_vip": True, "version": "0.1.0"},
                   "manager-2": {"name": "manager-2", "holds_vip": False, "version": "0.1.0"},
                   "manager-3": None})
    view = Managers(store, "manager-1", vip="192.168.56.100", peers=peers).overview()
    assert view["leader"]["name"] == "manager-2" and view["leader"]["epoch"] > 0
    assert [(m["name"], m["leader"], m["holds_vip"], m["reachable"]) for m in view["managers"]] == [
        ("manager-1", False, True, True), ("manager-2", True, False, True), ("manager-3", False, False, False)]
    assert view["vip"] == {"address": "192.168.56.100", "holder": "manager-1", "holders": ["manager-1"]}
    assert view["etcd"]["healthy"] == 1 and view["etcd"]["members"][0]["leader"] is True


def test_alone_without_peers_it_answers_for_itself():
    store = FakeStore()
    me = Managers(store, "solo", vip="10.0.0.9", addresses=lambda: {"127.0.0.1", "10.0.0.9"})
    assert me.me()["holds_vip"] is True
    view = me.overview()
    assert view["leader"] is None and [m["name"] for m in view["managers"]] == ["solo"]
    assert view["vip"]["holder"] == "solo"
