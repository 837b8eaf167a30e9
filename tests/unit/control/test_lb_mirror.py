"""The leader publishes its HAProxy's servers after every change, a follower
mirrors them into its own (control/lb_mirror.py), on stand-ins."""
from __future__ import annotations

from orchestrator.control.lb_mirror import LBMirror, PublishedHAProxy
from tests.unit.fakes import FakeHAProxy, FakeStore


def test_each_change_of_the_leaders_servers_is_published_with_a_drain_before_a_delete():
    store, leader = FakeStore(), FakeHAProxy(backends={"app_web"})
    published = PublishedHAProxy(leader, store)
    tables = []
    store_put = store.put_lb_table
    store.put_lb_table = lambda b, s: (tables.append([e["admin"] for e in s]), store_put(b, s))
    published.add_server("app_web", "web-1.aaaa", "10.0.0.2", 8000)
    published.del_server("app_web", "web-1.aaaa")
    assert tables == [["ready"], ["drain"], []]       # followers stop sending before it goes
    assert store.list_lb_tables() == {"app_web": []}


def test_a_follower_converges_on_the_published_table_and_the_leader_only_publishes():
    store = FakeStore()
    leader, follower = FakeHAProxy(backends={"app_web", "app_api"}), FakeHAProxy(backends={"app_web"})
    published = PublishedHAProxy(leader, store)
    published.add_server("app_web", "web-1.aaaa", "10.0.0.2", 8000)
    published.add_server("app_web", "web-2.bbbb", "10.0.0.3", 8000, admin="maint")
    follower.add_server("app_web", "web-9.zzzz", "10.0.0.9", 8000)          # a stale one
    mirror = LBMirror(store, follower, 0.01, leading=lambda: None)
    assert mirror.once() == 3
    assert [(s.name, s.admin) for s in follower.show_servers()] == [("web-1.aaaa", "ready"),
                                                                     ("web-2.bbbb", "maint")]
    assert mirror.once() == 0                                                 # in sync: nothing
    # as the leader, the same loop republishes everything and forgets backends that went
    store.put_lb_table("app_gone", [])
    as_leader = LBMirror(store, leader, 0.01, leading=lambda: published)
    assert as_leader.once() == 2 and set(store.list_lb_tables()) == {"app_web", "app_api"}
