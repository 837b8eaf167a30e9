"""The cluster as a whole: init (idempotent), status, events, on the FakeStore."""
from orchestrator.usecases import UseCases
from tests.bodies import app_spec, node_spec


def test_init_is_idempotent_and_names_the_job_images(store):
    cases = UseCases.over(store, job_image_prefix="manager:5050/simplecloud/")
    first = cases.cluster.init()
    assert first["created"] == {"pods": ["light", "medium", "heavy"], "apps": ["light", "medium", "heavy"]}
    second = cases.cluster.init()
    assert second["created"] == {"pods": [], "apps": []}
    assert second["existing"]["pods"] == ["light", "medium", "heavy"]
    assert store.get_app("light").image == "manager:5050/simplecloud/light"
    assert [e.kind for e in store.events()] == ["cluster.init"]


def test_status_sums_up_pods_apps_nodes_and_events(cases):
    cases.apps.deploy(app_spec(name="web", image="nginx", pod="light", port=80, replicas=2))
    cases.nodes.register(node_spec("n1", "light"))
    status = cases.cluster.status()
    assert status["nodes"] == {"NEW": 1, "ONLINE": 2}
    assert [p["name"] for p in status["pods"]] == ["heavy", "light", "medium"]
    assert status["events"][0].kind == "node.registered"
    assert status["warnings"] == [] and status["phases"] == {"unknown": 3}
    assert [e.kind for e in cases.cluster.events(2)] == ["node.registered", "app.deployed"]


def test_an_unreachable_host_is_said_in_words(cases, store):
    cases.nodes.register(node_spec("n1", "light"))
    store.put_link_state("pod-light", {"reachable": False, "since": 0, "error": "no route to host"})
    store.put_link_state("pod-medium", {"reachable": True, "since": 0})
    (warning,) = cases.cluster.status()["warnings"]
    assert warning.startswith("host pod-light is unreachable since ") and "(no route to host)" in warning
    assert "its 1 node(s) of pod(s) light are not managed until it answers again" in warning
    assert "after the grace period, are placed on the pods' other hosts" in warning
