"""The planner, rule by rule: (desired, observed) in → actions out."""
from __future__ import annotations

import pytest

from orchestrator.core.model import App, Container, Node, NodeStatus, Pod, Server
from orchestrator.core.plan import (AddServer, CreateContainer, DelServer, MarkNode, ReloadConfig,
                               RemoveContainer, SetServerState, StartContainer, StopContainer,
                               config_drift, describe, plan)

POD = Pod("light", "pod-light", 20, 0.25, 128, app="web")
WEB = App(name="web", pod="light", port=8000, image="simplecloud/light", path="/web",
          health_path="/health", created=0.0)
CONFIGURED = {"web": {"path": "/web", "host": "", "balance": "roundrobin", "health_path": "/health"}}
NAME = "sc-light-n1"
IP = "10.242.0.5"

ONLINE, NEW, PAUSED, FAILED, REMOVED = (NodeStatus.ONLINE, NodeStatus.NEW, NodeStatus.PAUSED,
                                        NodeStatus.FAILED, NodeStatus.REMOVED)


def node(status, name="n1"):
    return Node(name=name, pod="light", app="web", status=status, created=1.0)


def container(state, name="n1", ip=None):
    if state == "running" and ip is None:
        ip = IP
    return Container(name=f"sc-light-{name}", pod="light", node=name, app="web", state=state,
                     ip=ip, image="simplecloud/light")


def server(admin="ready", name="n1", addr=IP, port=8000, backend="app_web"):
    return Server(backend=backend, name=name, addr=addr, port=port, admin=admin, healthy=True)


def run(nodes=(), containers=(), servers=(), apps=(WEB,), configured=CONFIGURED, **kw):
    return plan([POD], list(apps), list(nodes), list(containers), list(servers),
                configured=configured, **kw)


RULES = [
    # --- in sync: nothing to do
    ("NEW, created container, no server: in sync",
     [node(NEW)], [container("created")], [], []),
    ("ONLINE, running, ready server: in sync",
     [node(ONLINE)], [container("running")], [server()], []),
    ("PAUSED, running, maint server: in sync",
     [node(PAUSED)], [container("running")], [server("maint")], []),
    # --- NEW
    ("NEW without container: create it, do not start it",
     [node(NEW)], [], [], [CreateContainer("light", "n1", "web")]),
    ("NEW with a running container and a server: server out first, then stop",
     [node(NEW)], [container("running")], [server()],
     [DelServer("app_web", "n1"), StopContainer("light", NAME)]),
    # --- ONLINE
    ("ONLINE (launched) with a created container: start it; server next pass",
     [node(ONLINE)], [container("created")], [], [StartContainer("light", NAME)]),
    ("ONLINE without container: create and start",
     [node(ONLINE)], [], [], [CreateContainer("light", "n1", "web"), StartContainer("light", NAME)]),
    ("ONLINE running without server: add it",
     [node(ONLINE)], [container("running")], [], [AddServer("app_web", "n1", IP, 8000)]),
    ("ONLINE running, server in maint: ready",
     [node(ONLINE)], [container("running")], [server("maint")],
     [SetServerState("app_web", "n1", "ready")]),
    ("ONLINE running, server at an old address: replace it",
     [node(ONLINE)], [container("running")], [server(addr="10.242.0.99")],
     [DelServer("app_web", "n1"), AddServer("app_web", "n1", IP, 8000)]),
    ("ONLINE running but no IP yet: wait, never add a server without address",
     [node(ONLINE)], [container("running", ip="")], [], []),
    # --- PAUSED
    ("PAUSED with a ready server: drain, then maint",
     [node(PAUSED)], [container("running")], [server("ready")],
     [SetServerState("app_web", "n1", "drain"), SetServerState("app_web", "n1", "maint")]),
    ("PAUSED with a draining server: maint",
     [node(PAUSED)], [container("running")], [server("drain")],
     [SetServerState("app_web", "n1", "maint")]),
    ("PAUSED running without server: add it in maint",
     [node(PAUSED)], [container("running")], [], [AddServer("app_web", "n1", IP, 8000, "maint")]),
    ("PAUSED whose container died: recreate, stay PAUSED",
     [node(PAUSED)], [container("exited")], [server("maint")],
     [DelServer("app_web", "n1"), RemoveContainer("light", NAME, f"container {NAME} is exited"),
      CreateContainer("light", "n1", "web"), StartContainer("light", NAME)]),
    # --- failures
    ("ONLINE whose container exited: mark FAILED, server out, remove, recreate, start",
     [node(ONLINE)], [container("exited")], [server()],
     [MarkNode("light", "n1", FAILED, f"container {NAME} is exited"),
      DelServer("app_web", "n1"), RemoveContainer("light", NAME, f"container {NAME} is exited"),
      CreateContainer("light", "n1", "web"), StartContainer("light", NAME)]),
    ("ONLINE whose container is dead: same",
     [node(ONLINE)], [container("dead")], [],
     [MarkNode("light", "n1", FAILED, f"container {NAME} is dead"),
      RemoveContainer("light", NAME, f"container {NAME} is dead"),
      CreateContainer("light", "n1", "web"), StartContainer("light", NAME)]),
    ("ONLINE whose container vanished while serving: mark FAILED, recreate",
     [node(ONLINE)], [], [server()],
     [MarkNode("light", "n1", FAILED, f"container {NAME} disappeared"),
      DelServer("app_web", "n1"),
      CreateContainer("light", "n1", "web"), StartContainer("light", NAME)]),
    ("FAILED with the old container: recreate (already marked)",
     [node(FAILED)], [container("exited")], [],
     [RemoveContainer("light", NAME, f"container {NAME} is exited"),
      CreateContainer("light", "n1", "web"), StartContainer("light", NAME)]),
    ("FAILED, recreated and running: server in, then ONLINE again",
     [node(FAILED)], [container("running")], [],
     [AddServer("app_web", "n1", IP, 8000),
      MarkNode("light", "n1", ONLINE, f"container {NAME} is running again")]),
    # --- node gone
    ("node record gone: drain+delete server, stop, remove container",
     [], [container("running")], [server()],
     [DelServer("app_web", "n1"), StopContainer("light", NAME),
      RemoveContainer("light", NAME, "its node record is gone")]),
    ("node REMOVED: same as gone",
     [node(REMOVED)], [container("exited")], [],
     [RemoveContainer("light", NAME, "its node record is gone")]),
    ("server of a deleted app: delete it, reload without the backend",
     [], [], [server(backend="app_old")], [DelServer("app_old", "n1"),
                                          ReloadConfig("app old is gone")]),
]


@pytest.mark.parametrize("title,nodes,containers,servers,expected", RULES, ids=[r[0] for r in RULES])
def test_rule(title, nodes, containers, servers, expected):
    configured = dict(CONFIGURED)
    if any(s.backend == "app_old" for s in servers):
        configured["old"] = CONFIGURED["web"]
    assert run(nodes, containers, servers, configured=configured) == expected


def test_config_drift_rules():
    assert config_drift([WEB], CONFIGURED) == ""
    assert config_drift([WEB], {}) == "app web has no backend"
    leastconn = App(**{**WEB.__dict__, "balance": "leastconn"})
    assert config_drift([leastconn], CONFIGURED) == "app web: balance roundrobin → leastconn"
    moved = App(**{**WEB.__dict__, "path": None, "host": "web.example.com"})
    assert config_drift([moved], CONFIGURED) == ("app web: path /web → -; "
                                                 "app web: host - → web.example.com")


def test_new_app_reloads_before_servers_are_added():
    actions = run([node(ONLINE)], [container("running")], [], configured={})
    assert actions == [ReloadConfig("app web has no backend"), AddServer("app_web", "n1", IP, 8000)]


def test_unreachable_pod_is_left_alone():
    actions = run([node(ONLINE)], [], [server()], skip_pods={"light"})
    assert actions == []


def test_node_of_unknown_app_is_skipped():
    stray = Node(name="n9", pod="light", app="nope", status=ONLINE)
    assert run([stray]) == []


def test_ordering_invariants_over_a_mixed_plan():
    """Servers go out before containers stop; servers come in after containers start."""
    nodes = [node(ONLINE, "a"), node(PAUSED, "b"), node(NEW, "c"), node(ONLINE, "d")]
    containers = [container("exited", "a"), container("running", "b"), container("running", "c"),
                  container("running", "d"), container("running", "zz")]
    servers = [server(name="a"), server(name="b"), server(name="c"), server(name="zz")]
    actions = run(nodes, containers, servers, configured={})
    kinds = [type(a) for a in actions]
    last_out = max(i for i, a in enumerate(actions) if isinstance(a, (DelServer, SetServerState))
                   and getattr(a, "admin", "maint") != "ready")
    first_stop = min(i for i, k in enumerate(kinds) if k in (StopContainer, RemoveContainer))
    last_start = max(i for i, k in enumerate(kinds) if k in (CreateContainer, StartContainer))
    first_in = min(i for i, k in enumerate(kinds) if k is AddServer)
    assert last_out < first_stop and last_start < first_in
    assert kinds.index(ReloadConfig) < first_in
    assert all(describe(a) for a in actions)


def test_plan_is_deterministic_and_converges_to_empty():
    args = ([node(ONLINE)], [container("running")], [server()])
    assert run(*args) == run(*args) == []
