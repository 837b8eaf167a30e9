"""Autoscale policies as use cases, on the FakeStore (the decision is in core/test_autoscale.py,
the HTTP side in api/test_api.py)."""
import pytest

from orchestrator.core.autoscale import summary
from orchestrator.core.errors import NotFound
from tests.bodies import policy


def test_a_policy_is_stored_described_and_shown_with_the_app(cases, store):
    cases.autoscaling.set("light", policy(min=2, max=10, rps=20, idle_to_zero_s=None))
    stored = store.get_autoscale("light")
    shown = {"min": 2, "max": 10, "rps": 20.0, "rules": [], "scale_down_window_s": 300.0}
    assert store.data["autoscale/light"][0] == shown              # the API's JSON form, as before
    assert summary(stored) == "2..10, rps 20/node"
    assert cases.apps.get("light")["autoscale"] == {"policy": shown, "summary": "2..10, rps 20/node",
                                                    "last": None}
    assert [a["autoscale"] for a in cases.apps.list() if a["name"] == "medium"] == [None]
    assert stored.targets == {"rps": 20.0} and stored.kind == "targets"
    assert "autoscale.set" in {e.kind for e in store.events()}


def test_a_rules_policy_is_the_decision_s_policy(cases, store):
    cases.autoscaling.set("light", policy(min=0, max=6, idle_to_zero_s=60, rules=[
        {"metric": "rps", "comparator": ">", "threshold": 50, "for_s": 10, "step": 2, "cooldown_s": 30}]))
    stored = store.get_autoscale("light")
    assert stored.kind == "rules" and stored.rules[0].step == 2 and stored.idle_to_zero_s == 60
    assert summary(stored) == "0..6, rule rps > 50 for 10 s: +2, idle → 0 after 60 s"


def test_unknown_app_is_not_found(cases):
    with pytest.raises(NotFound):
        cases.autoscaling.set("nope", policy(min=1, max=2, rps=1))
    with pytest.raises(NotFound):
        cases.autoscaling.remove("nope")


def test_manual_scale_is_clamped_and_says_so(cases):
    cases.autoscaling.set("light", policy(min=2, max=4, rps=20))
    answer = cases.apps.scale("light", 9)
    assert answer["replicas"] == 4
    assert answer["note"].startswith("app light is autoscaled within [2, 4]: 9 clamped to 4")
    assert answer["note"].endswith("(cloud app autoscale light --off to scale by hand)")
    assert "note" not in cases.apps.scale("light", 3)
    cases.autoscaling.remove("light")
    assert cases.apps.scale("light", 9)["replicas"] == 9


def test_stopping_an_app_forgets_its_policy_and_memory(cases, store):
    cases.autoscaling.set("light", policy(min=1, max=4, rps=20))
    store.put_autoscale_state("light", {"state": {}, "last": None})
    cases.apps.stop("light")
    assert store.list_autoscale() == {} and store.list_autoscale_states() == {}


def test_integral_numbers_inside_rules_are_integers(cases, store):
    """JSON does not tell 2.0 from 2: a rule's step of 2.0 is the integer 2 (JSON Schema agrees)."""
    cases.autoscaling.set("light", policy(min=1.0, max=4, rules=[
        {"metric": "rps", "comparator": ">", "threshold": 5, "step": 2.0}]))
    stored = store.data["autoscale/light"][0]
    assert stored["min"] == 1 and stored["rules"][0]["step"] == 2 and isinstance(stored["rules"][0]["step"], int)
