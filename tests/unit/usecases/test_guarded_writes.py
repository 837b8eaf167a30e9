"""Every read-modify-write of the use cases is guarded (issue 19): an app update
compares the revision it read, a route is one app's however two deploys
interleave, an event is written with the change it tells of, and a stopped
app takes its autoscale policy and memory along. Each test lets "another
request" run between a use case's read and its write, on the FakeStore
(the same refusals as the real Store: tests/store_contract.py)."""
from __future__ import annotations

import pytest

from orchestrator.core.errors import Conflict, NotFound, Unavailable
from tests.bodies import app_spec, app_update, policy


def between_read_and_write(store, method, other):
    """Run ``other()`` once, just before the first call of ``store.method``."""
    real = getattr(store, method)

    def first(*args, **kwargs):
        setattr(store, method, real)
        other()
        return real(*args, **kwargs)

    setattr(store, method, first)


def test_two_updates_at_once_keep_both_changes(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
    between_read_and_write(store, "put_app", lambda: cases.apps.update("web", app_update(balance="leastconn")))
    result = cases.apps.update("web", app_update(port=8080))
    assert (result["port"], result["balance"]) == (8080, "leastconn")
    assert [e.message for e in store.events(2)] == [
        "app web updated: port; its nodes are replaced one at a time",
        "app web updated: balance; HAProxy reloads with the new route settings"]


def test_an_update_racing_a_stop_and_a_deploy_elsewhere_is_refused(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=2))

    def stop_and_redeploy_in_heavy():
        cases.apps.stop("web")
        cases.apps.deploy(app_spec(name="web", image="nginx", pod="heavy", port=80, replicas=2))

    between_read_and_write(store, "put_app", stop_and_redeploy_in_heavy)
    with pytest.raises(Conflict, match="stopped and deployed again"):
        cases.apps.update("web", app_update(port=8080))
    assert store.get_app("web").pod == "heavy" and store.get_app("web").port == 80
    assert {(n.pod, n.app) for n in store.list_nodes()} == {("heavy", "web")}


def test_two_deploys_of_one_path_at_once_let_one_through(cases, store):
    between_read_and_write(store, "add_nodes", lambda: cases.apps.deploy(
        app_spec(name="first", image="nginx", pod="medium", port=80, path="/shop")))
    with pytest.raises(Conflict, match="path '/shop' is already the route of app 'first'"):
        cases.apps.deploy(app_spec(name="second", image="nginx", pod="medium", port=80, path="/shop"))
    assert [a.name for a in store.list_apps() if a.path == "/shop"] == ["first"]
    assert {n.app for n in store.list_nodes("medium")} == {"first"}


def test_a_route_moves_with_the_app_and_goes_with_it(cases, store):
    cases.apps.deploy(app_spec(name="a", image="nginx", pod="medium", port=80, path="/a"))
    cases.apps.update("a", app_update(path="/b"))
    cases.apps.deploy(app_spec(name="c", image="nginx", pod="medium", port=80, path="/a"))   # /a is free
    cases.apps.stop("a")
    cases.apps.deploy(app_spec(name="d", image="nginx", pod="medium", port=80, path="/b"))   # so is /b


def test_a_change_and_its_event_are_one_write(cases, store):
    def etcd_blip(*args):
        raise Unavailable("etcd is not reachable")

    store.record_event = etcd_blip                  # a separate write after the change would fail now
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
    cases.apps.scale("web", 2)
    cases.apps.update("web", app_update(port=8080))
    cases.autoscaling.set("web", policy(min=1, max=3, rps=10))
    cases.apps.stop("web")
    assert [e.kind for e in store.events(5)] == ["app.stopped", "autoscale.set", "app.updated", "app.scaled",
                                                 "app.deployed"]


def test_a_stopped_app_takes_its_policy_and_memory_along(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
    cases.autoscaling.set("web", policy(min=1, max=3, rps=10))
    first = store.get_app("web")
    cases.apps.stop("web")
    # the autoscaler decided for the old app just before the stop and writes its memory just after
    assert not store.put_autoscale_state("web", {"state": {}}, created_revision=first.created_revision)
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))
    assert store.list_autoscale() == {} and store.list_autoscale_states() == {}
    assert cases.apps.get("web")["autoscale"] is None


def test_a_policy_set_while_the_app_is_stopped_is_refused(cases, store):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))

    def stop_and_deploy_again():
        cases.apps.stop("web")
        cases.apps.deploy(app_spec(name="web", image="nginx", pod="medium", port=80, replicas=1))

    between_read_and_write(store, "put_autoscale", stop_and_deploy_again)
    with pytest.raises(NotFound, match="does not exist"):
        cases.autoscaling.set("web", policy(min=1, max=3, rps=10))
    assert store.list_autoscale() == {}
