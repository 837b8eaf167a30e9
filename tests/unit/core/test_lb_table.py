"""The published server table and a follower's mirror of it (core/lb_table.py)."""
from __future__ import annotations

import pytest

from orchestrator.core.lb_table import Entry, decode, encode, mirror_steps, table
from orchestrator.core.model import Server
from orchestrator.core.steps import AddServer, DelServer, SetServerState


def srv(name, addr="10.42.1.5", admin="ready", backend="app_web", healthy=True, checks=True, port=8000):
    return Server(backend, name, addr, port, admin, healthy, checks)


def test_the_table_holds_app_backends_only_sorted_and_round_trips():
    t = table([srv("web-2.bbbb"), srv("web-1.aaaa"), srv("x", backend="stats")], backends={"app_api"})
    assert list(t) == ["app_api", "app_web"] and t["app_api"] == []
    assert [e.name for e in t["app_web"]] == ["web-1.aaaa", "web-2.bbbb"]
    assert decode(encode(t["app_web"])) == t["app_web"]


@pytest.mark.parametrize("bad", [{"name": "x"}, [{"name": "x"}], "nope", [1]])
def test_a_damaged_table_is_refused(bad):
    with pytest.raises(ValueError):
        decode(bad)


def test_a_follower_adds_what_the_leader_has_in_the_same_state():
    published = {"app_web": [Entry("web-1.aaaaaaaaaa", "10.42.1.5", 8000, "ready"),
                             Entry("web-2.bbbbbbbbbb", "10.42.4.7", 8000, "maint")]}
    chains = mirror_steps(published, [], {"app_web"})
    add1, = chains["app_web/web-1.aaaaaaaaaa"]
    assert isinstance(add1, AddServer) and add1.server == "web-1.aaaaaaaaaa"
    assert (add1.addr, add1.port, add1.admin) == ("10.42.1.5", 8000, "ready")
    assert chains["app_web/web-2.bbbbbbbbbb"][0].admin == "maint"


def test_a_server_the_leader_deleted_is_deleted_and_one_it_drains_is_drained():
    published = {"app_web": [Entry("web-1.a", "10.42.1.5", 8000, "maint")]}
    chains = mirror_steps(published, [srv("web-1.a"), srv("web-9.z")], {"app_web"})
    assert chains["app_web/web-9.z"] == [DelServer("app_web", "web-9.z")]
    assert chains["app_web/web-1.a"] == [SetServerState("app_web", "web-1.a", "drain"),
                                         SetServerState("app_web", "web-1.a", "maint")]


def test_in_sync_means_no_steps_whatever_the_local_health():
    published = {"app_web": [Entry("web-1.a", "10.42.1.5", 8000, "ready")]}
    assert mirror_steps(published, [srv("web-1.a", healthy=False)], {"app_web"}) == {}


def test_a_moved_or_half_added_server_is_added_again():
    published = {"app_web": [Entry("web-1.a", "10.42.4.9", 8000, "ready")]}
    moved = mirror_steps(published, [srv("web-1.a")], {"app_web"})["app_web/web-1.a"]
    half = mirror_steps({"app_web": [Entry("web-1.a", "10.42.1.5", 8000, "ready")]},
                        [srv("web-1.a", checks=False, admin="maint")], {"app_web"})["app_web/web-1.a"]
    for steps in (moved, half):
        assert isinstance(steps[0], DelServer) and isinstance(steps[1], AddServer)


def test_backends_this_haproxy_lacks_or_nobody_published_are_left_alone():
    published = {"app_new": [Entry("n-1.a", "10.42.1.5", 8000, "ready")]}
    assert mirror_steps(published, [srv("web-1.a")], {"app_web"}) == {}


def test_a_warm_nodes_drain_is_mirrored_as_such_and_its_promotion_is_one_state_change():
    warm = {"app_web": [Entry("web-3.c", "10.42.1.7", 8000, "drain")]}
    (add,) = mirror_steps(warm, [], {"app_web"})["app_web/web-3.c"]
    assert isinstance(add, AddServer) and add.admin == "drain"
    assert mirror_steps(warm, [srv("web-3.c", "10.42.1.7", "drain")], {"app_web"}) == {}   # kept, not deleted
    promoted = {"app_web": [Entry("web-3.c", "10.42.1.7", 8000, "ready")]}
    assert mirror_steps(promoted, [srv("web-3.c", "10.42.1.7", "drain")], {"app_web"}) == \
        {"app_web/web-3.c": [SetServerState("app_web", "web-3.c", "ready")]}
