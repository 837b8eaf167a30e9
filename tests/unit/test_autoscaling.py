"""Autoscale policies as use cases and through the API (FakeStore; the decision is in test_autoscale.py)."""
import pytest

from orchestrator.api import create_app
from orchestrator.core.autoscale import summary
from orchestrator.core.schema import Autoscale
from orchestrator.core.errors import Conflict, NotFound, ValidationError
from orchestrator.service import Service
from orchestrator.settings import Settings
from tests.unit.fakes import FakeStore

TOKEN = "t0k3n"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def svc():
    s = Service(FakeStore(), Settings())
    s.init_cluster()
    return s


def test_a_policy_is_stored_described_and_shown_with_the_app(svc):
    svc.autoscaling.set_policy("light", {"min": 2, "max": 10, "rps": 20, "idle_to_zero_s": None})
    stored = svc.store.get_autoscale("light")
    shown = {"min": 2, "max": 10, "rps": 20.0, "rules": [], "scale_down_window_s": 300.0}
    assert svc.store.data["autoscale/light"][0] == shown              # the API's JSON form, as before
    assert summary(stored) == "2..10, rps 20/node"
    assert svc.get_app("light")["autoscale"] == {"policy": shown, "summary": "2..10, rps 20/node", "last": None}
    assert [a["autoscale"] for a in svc.list_apps() if a["name"] == "medium"] == [None]
    assert stored.targets == {"rps": 20.0} and stored.kind == "targets"
    assert "autoscale.set" in {e.kind for e in svc.store.events()}


def test_rules_policy_round_trips_into_the_core_policy(svc):
    svc.autoscaling.set_policy("light", {"min": 0, "max": 6, "idle_to_zero_s": 60, "rules": [
        {"metric": "rps", "comparator": ">", "threshold": 50, "for_s": 10, "step": 2, "cooldown_s": 30}]})
    policy = svc.store.get_autoscale("light")
    assert policy.kind == "rules" and policy.rules[0].step == 2 and policy.idle_to_zero_s == 60


@pytest.mark.parametrize("body, words", [
    ({"min": 1, "max": 5}, "at least one target"),
    ({"min": 1, "max": 5, "rps": 0}, "rps"),
    ({"min": 1, "max": 5, "cpu": 50, "idle_to_zero_s": 60}, "needs min 0"),
    ({"min": 1, "max": 5, "rps": 5, "burst": 1}, "burst"),
    ([1, 2], "JSON object"),
])
def test_a_bad_policy_is_refused_and_nothing_is_stored(svc, body, words):
    with pytest.raises(ValidationError, match=words):
        svc.autoscaling.set_policy("light", body)
    assert svc.store.list_autoscale() == {}


def test_min_above_max_is_a_conflict_and_nothing_is_stored(svc):
    with pytest.raises(Conflict, match="min 3 is more than max 2"):
        svc.autoscaling.set_policy("light", {"min": 3, "max": 2, "rps": 5})
    assert svc.store.list_autoscale() == {}


def test_unknown_app_is_not_found(svc):
    with pytest.raises(NotFound):
        svc.autoscaling.set_policy("nope", {"min": 1, "max": 2, "rps": 1})
    with pytest.raises(NotFound):
        svc.autoscaling.remove_policy("nope")


def test_manual_scale_is_clamped_and_says_so(svc):
    svc.autoscaling.set_policy("light", {"min": 2, "max": 4, "rps": 20})
    answer = svc.scale_app("light", 9)
    assert answer["replicas"] == 4 and answer["note"].startswith("app light is autoscaled within [2, 4]: 9 clamped to 4")
    assert "note" not in svc.scale_app("light", 3)
    svc.autoscaling.remove_policy("light")
    assert svc.scale_app("light", 9)["replicas"] == 9


def test_stopping_an_app_forgets_its_policy_and_state(svc):
    svc.autoscaling.set_policy("light", {"min": 1, "max": 4, "rps": 20})
    svc.store.put_autoscale_state("light", {"state": {}, "last": None})
    svc.stop_app("light")
    assert svc.store.list_autoscale() == {} and svc.store.list_autoscale_states() == {}


def test_api_put_and_delete_autoscale(svc, tmp_path):
    client = create_app(svc, token=TOKEN).test_client()
    answer = client.put("/api/apps/light/autoscale", json={"min": 1, "max": 3, "cpu": 60}, headers=AUTH)
    assert answer.status_code == 200 and answer.get_json()["autoscale"]["summary"] == "1..3, cpu 60/node"
    bad = client.put("/api/apps/light/autoscale", json={"min": 1, "max": 3}, headers=AUTH)
    assert bad.status_code == 400 and "target" in bad.get_json()["error"]
    assert client.put("/api/apps/nope/autoscale", json={"min": 1, "max": 3, "cpu": 6}, headers=AUTH).status_code == 404
    assert client.put("/api/apps/light/autoscale", json={"min": 1, "max": 3, "cpu": 6}).status_code == 401
    off = client.delete("/api/apps/light/autoscale", headers=AUTH)
    assert off.status_code == 200 and off.get_json()["autoscale"] is None


def test_integral_numbers_inside_rules_are_integers(svc):
    """JSON does not tell 2.0 from 2: a rule's step of 2.0 is the integer 2 (JSON Schema agrees)."""
    svc.autoscaling.set_policy("light", {"min": 1.0, "max": 4, "rules": [
        {"metric": "rps", "comparator": ">", "threshold": 5, "step": 2.0}]})
    stored = svc.store.data["autoscale/light"][0]
    assert stored["min"] == 1 and stored["rules"][0]["step"] == 2 and isinstance(stored["rules"][0]["step"], int)
