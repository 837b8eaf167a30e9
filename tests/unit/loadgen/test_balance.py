"""The balance comparison and the API calls of the bench (loadgen/balance.py, loadgen/cluster.py), on a fake API."""
from __future__ import annotations

import time

import pytest

from orchestrator.loadgen import balance, cluster


class FakeAPI:
    """An app 'web' whose balance changes take effect with a reload event."""

    def __init__(self, fail_reload_to: str | None = None):
        self.balance, self.events, self.calls = "roundrobin", [], []
        self.fail_reload_to = fail_reload_to

    def call(self, method, path, body=None, params=None):
        self.calls.append((method, path, body))
        if method == "GET" and path == "/api/apps":
            return [{"name": "web", "path": "/web", "balance": self.balance},
                    {"name": "api", "host": "api.test", "balance": "first"}]
        if method == "GET" and path == "/api/events":
            return list(reversed(self.events))
        if method == "PATCH":
            old, new = self.balance, body["balance"]
            if old == new:
                return {"changed": []}
            self.balance = new
            if new == self.fail_reload_to:
                self.events.append({"time": len(self.events), "kind": "controller.error", "subject": "haproxy",
                                    "message": f"reload HAProxy config (app web: balance {old} → {new}) failed"})
            else:
                self.events.append({"time": len(self.events), "kind": "controller.reload_config",
                                    "subject": "haproxy",
                                    "message": f"reload HAProxy config: app web: balance {old} → {new}"})
            return {"changed": ["balance"]}
        raise AssertionError(f"unexpected call {method} {path}")


def test_find_app_by_route():
    api = FakeAPI()
    assert cluster.find_app(api, "/web/x", None)["name"] == "web"
    assert cluster.find_app(api, "/", "api.test")["name"] == "api"
    assert cluster.find_app(api, None, None, "api")["name"] == "api"
    with pytest.raises(cluster.BenchError, match="no app serves /other"):
        cluster.find_app(api, "/other", None)
    with pytest.raises(cluster.BenchError, match="no app named"):
        cluster.find_app(api, None, None, "nope")


def test_compare_runs_each_algorithm_and_restores_the_balance():
    api, seen = FakeAPI(), []

    def measure(algo):
        seen.append((algo, api.balance))
        return {"interrupted": False}
    summaries, interrupted, warnings = balance.compare(api, "web", "roundrobin", ["leastconn", "source"],
                                                       measure, lambda _: None, reload_timeout=1)
    assert seen == [("leastconn", "leastconn"), ("source", "source")]
    assert list(summaries) == ["leastconn", "source"] and not interrupted and not warnings
    assert api.balance == "roundrobin"


@pytest.mark.parametrize("failure", [KeyboardInterrupt(), RuntimeError("boom")])
def test_the_balance_is_restored_after_ctrl_c_or_a_failure(failure):
    api = FakeAPI()

    def measure(algo):
        raise failure
    if isinstance(failure, KeyboardInterrupt):
        summaries, interrupted, _ = balance.compare(api, "web", "roundrobin", ["leastconn", "source"],
                                                    measure, lambda _: None, reload_timeout=1)
        assert interrupted and summaries == {}
    else:
        with pytest.raises(RuntimeError):
            balance.compare(api, "web", "roundrobin", ["leastconn", "source"], measure, lambda _: None, 1)
    assert api.balance == "roundrobin"


def test_a_failed_reload_is_reported_not_waited_out():
    api = FakeAPI(fail_reload_to="source")
    with pytest.raises(cluster.BenchError, match="HAProxy did not take balance source"):
        cluster.set_balance(api, "web", "source", timeout=30)
    assert cluster.set_balance(api, "web", "source", timeout=1) is False       # already set: nothing to wait for


def test_the_serving_poller_records_points_and_survives_failures():
    class Flaky:
        calls = 0

        def call(self, method, path, body=None, params=None):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("API down")
            return {"name": "web", "serving": self.calls}
    with cluster.ServingPoller(Flaky(), "web", interval=0.01) as poller:
        deadline = time.monotonic() + 30
        while len(poller.points) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    assert poller.failures == 1 and [n for _, n in poller.points[:2]] == [1, 3]
