"""Model values survive a JSON round trip; naming helpers and built-ins match the docs."""

import dataclasses
import json

import pytest

from orchestrator.core.model import (
    BALANCE_ALGORITHMS,
    BUILTIN_APPS,
    BUILTIN_PODS,
    DEFAULT_HOSTS,
    App,
    Event,
    Host,
    Node,
    NodeStatus,
    Pod,
    RecordError,
    builtin_apps,
)
from orchestrator.core.naming import backend_name, container_name, parse_server_name, server_name


def roundtrip(obj):
    return type(obj).from_dict(json.loads(json.dumps(obj.to_dict())))


@pytest.mark.parametrize("obj", [
    Pod("light", ("pod-light-1", "pod-light-2"), 20, 0.25, 128, app="light", lent=("spare-1",)),
    Pod("batch", ("pod-heavy",), 4, 1.0, 512),
    Host("pod-light-1", 20, 5.0, 2560, "192.168.56.11", "10.42.1.0/24", draining=True),
    App("web", "light", 8080, image="nginx:1.25", path="/web", host="web.local",
        balance="leastconn", health_path="/health", created=12.5),
    App("nc", "light", 9000, command=("nc", "-lk", "-p", "9000"), created=1.0),
    Node("n1", "light", "light", NodeStatus.PAUSED, created=3.25),
    Node("n2", "light", "light", created=3.5, host="pod-light-2", moved_from="pod-light-1", pending="no room"),
    Event(1.5, "node.registered", "light/n1", "hello"),
])
def test_json_round_trip(obj):
    assert roundtrip(obj) == obj


def test_node_revision_is_not_stored_and_not_compared():
    node = Node("n1", "light", "light", created=1.0, revision=42)
    assert "revision" not in node.to_dict()
    assert Node.from_dict(node.to_dict(), revision=7).revision == 7
    assert dataclasses.replace(node, revision=1) == node


def test_from_dict_ignores_unknown_keys_from_newer_versions():
    data = Pod("p", ("h",), 1, 1.0, 64).to_dict() | {"zone": "eu"}
    assert Pod.from_dict(data).name == "p"


def test_records_from_before_pools_still_load():
    old_pod = {"name": "light", "host": "pod-light", "max_nodes": 20, "cpus": 0.25, "memory_mb": 128, "app": "light"}
    assert Pod.from_dict(old_pod) == Pod("light", ("pod-light",), 20, 0.25, 128, app="light")
    old_node = {"name": "n1", "pod": "light", "app": "light", "status": "ONLINE", "created": 1.0}
    node = Node.from_dict(old_node)
    assert (node.host, node.moved_from, node.pending) == ("", "", "")        # never placed: the placer places it


def test_a_host_record_needs_its_capacity():
    with pytest.raises(RecordError, match="capacity"):
        Host.from_dict({"name": "h", "nodes": 1})
    with pytest.raises(RecordError, match="'nodes'"):
        Host.from_dict({"name": "h", "capacity": {"nodes": "many", "cpus": 1, "memory_mb": 1}})
    assert DEFAULT_HOSTS["pod-light"] == Host("pod-light", 20, 5.0, 2560)     # the size of its built-in pod


def test_status_is_a_string_enum():
    assert NodeStatus("ONLINE") is NodeStatus.ONLINE
    assert json.dumps(Node("n", "p", "a", NodeStatus.NEW, created=0).to_dict()["status"]) == '"NEW"'
    assert [s.value for s in NodeStatus] == ["NEW", "ONLINE", "PAUSED", "FAILED", "REMOVED"]


def test_command_app_runs_in_default_image():
    assert App("nc", "light", 9000, command=("nc",)).run_image == "debian:bookworm-slim"
    assert App("web", "light", 80, image="nginx").run_image == "nginx"


def test_names():
    assert container_name("light", "n1", "ab12cd34") == "sc-light.n1.ab12cd34"
    assert container_name(BUILTIN_PODS["light"], Node("n1", "light", "light"), "g") == "sc-light.n1.g"
    # pod "a" + node "b-c" and pod "a-b" + node "c" no longer collide
    assert container_name("a", "b-c", "g") != container_name("a-b", "c", "g")
    assert server_name("n1", "ab12cd34") == "n1.ab12cd34"
    assert parse_server_name("n1.ab12cd34") == ("n1", "ab12cd34")
    assert backend_name("web") == backend_name(BUILTIN_APPS["light"]).replace("light", "web") == "app_web"


def test_builtins_match_the_design():
    sizes = {p.name: (p.hosts, p.max_nodes, p.cpus, p.memory_mb, p.app) for p in BUILTIN_PODS.values()}
    assert sizes == {"light": (("pod-light",), 20, 0.25, 128, "light"),
                     "medium": (("pod-medium",), 15, 0.5, 256, "medium"),
                     "heavy": (("pod-heavy",), 10, 1.0, 512, "heavy")}
    for name, app in BUILTIN_APPS.items():
        assert (app.pod, app.port, app.path, app.health_path, app.balance) == \
            (name, 8000, f"/{name}", "/health", "roundrobin")
        assert app.image == f"simplecloud/{name}"
    assert builtin_apps("manager:5050/simplecloud/")["heavy"].image == "manager:5050/simplecloud/heavy"
    assert BALANCE_ALGORITHMS == ("roundrobin", "leastconn", "random", "first", "source")


def test_values_are_immutable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        BUILTIN_PODS["light"].max_nodes = 1


def test_worker_hardening_spec():
    from orchestrator.core.model import KEPT_CAPABILITIES, worker_security
    hard = worker_security("default", 512)
    assert hard == {"pids_limit": 512, "security_opt": ["no-new-privileges:true"],
                    "cap_drop": ["ALL"], "cap_add": list(KEPT_CAPABILITIES)}
    dropped = {"NET_RAW", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE", "SETFCAP", "SETPCAP", "FSETID"}
    assert not dropped & set(KEPT_CAPABILITIES)
    assert {"CHOWN", "SETUID", "SETGID", "NET_BIND_SERVICE"} <= set(KEPT_CAPABILITIES)
    assert worker_security("relaxed", 64) == {"pids_limit": 64}          # the pids limit stays


def test_security_is_part_of_the_run_spec_and_its_generation():
    import dataclasses

    from orchestrator.core.model import RUN_FIELDS, App, Pod, run_spec, spec_generation
    pod = Pod("light", ("pod-light",), 20, 0.25, 128)
    app = App("web", "light", 80, image="nginx", created=0.0)
    relaxed = dataclasses.replace(app, security="relaxed")
    assert "security" in RUN_FIELDS and run_spec(relaxed, pod)["security"] == "relaxed"
    assert spec_generation(relaxed, pod) != spec_generation(app, pod)
    assert App.from_dict({k: v for k, v in app.to_dict().items() if k != "security"}).security == "default"
