"""The planner, rule by rule: (desired, observed) in → chains of steps out."""
from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.healing import HealingPolicy, NodeHealth
from orchestrator.core.model import App, Container, Node, NodeStatus, Pod, Server, spec_generation
from orchestrator.core.naming import container_name, server_name
from orchestrator.core.plan import config_drift, plan
from orchestrator.core.steps import (
    AddServer,
    CreateContainer,
    DelServer,
    FreezeContainer,
    RemoveContainer,
    SetServerState,
    StartContainer,
    StopContainer,
    describe,
)

POD = Pod("light", ("pod-a", "pod-b"), 20, 0.25, 128, app="web")
WEB = App(name="web", pod="light", port=8000, image="simplecloud/light", path="/web",
          health_path="/health", created=0.0)
GEN = spec_generation(WEB, POD)
WEB2 = dataclasses.replace(WEB, image="simplecloud/light:v2")
GEN2 = spec_generation(WEB2, POD)
NAME = container_name("light", "n1", GEN)
CID = f"id-n1-{GEN}"
SRV = server_name("n1", CID)
IP = "10.242.0.5"
NOW = 1000.0

ONLINE, NEW, PAUSED, FAILED, REMOVED = (NodeStatus.ONLINE, NodeStatus.NEW, NodeStatus.PAUSED,
                                        NodeStatus.FAILED, NodeStatus.REMOVED)


def node(status, name="n1", app="web", host="pod-a", moved_from=""):
    return Node(name=name, pod="light", app=app, status=status, created=1.0, host=host, moved_from=moved_from)


def container(state, name="n1", ip=None, gen=GEN, created=NOW - 100, exit_code=None, host="pod-a"):
    if state == "running" and ip is None:
        ip = IP
    return Container(name=container_name("light", name, gen), pod="light", node=name, app="web",
                     state=state, ip=ip, image="simplecloud/light", gen=gen, id=f"id-{name}-{gen}",
                     created=created, exit_code=exit_code, host=host)


def server(admin="ready", name="n1", addr=IP, port=8000, backend="app_web", gen=GEN, healthy=True,
           checks=True):
    return Server(backend=backend, name=server_name(name, f"id-{name}-{gen}"), addr=addr, port=port,
                  admin=admin, healthy=healthy, checks=checks)


def side(srv=SRV, backend="app_web"):
    """The chain that deletes a failed worker's server beside its replacement."""
    return {f"server/{backend}/{srv}": [DelServer(backend, srv)]}


def run(nodes=(), containers=(), servers=(), apps=(WEB,), **kw):
    kw.setdefault("now", NOW)
    return plan([POD], list(apps), list(nodes), list(containers), list(servers), **kw)


def chain(result, key="light/n1"):
    return result.chains.get(key, [])


RUN_N1 = [CreateContainer("light", "n1", "web", GEN), StartContainer("light", NAME),
          AddServer("app_web", "n1", NAME, 8000)]

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
     [node(NEW)], [], [], [CreateContainer("light", "n1", "web", GEN)]),
    ("NEW with a running container and a server: server out first, then stop",
     [node(NEW)], [container("running")], [server()],
     [DelServer("app_web", SRV), StopContainer("light", NAME)]),
    # --- ONLINE
    ("ONLINE (launched) with a created container: start it, then its server",
     [node(ONLINE)], [container("created")], [],
     [StartContainer("light", NAME), AddServer("app_web", "n1", NAME, 8000, cid=CID)]),
    ("ONLINE without container: create, start, server in one chain",
     [node(ONLINE)], [], [], RUN_N1),
    ("legacy FAILED status counts as ONLINE",
     [node(FAILED)], [], [], RUN_N1),
    ("ONLINE running without server: add it",
     [node(ONLINE)], [container("running")], [], [AddServer("app_web", "n1", NAME, 8000, addr=IP, cid=CID)]),
    ("ONLINE running, server in maint: ready",
     [node(ONLINE)], [container("running")], [server("maint")],
     [SetServerState("app_web", SRV, "ready")]),
    ("ONLINE running, server at an old address: replace it",
     [node(ONLINE)], [container("running")], [server(addr="10.242.0.99")],
     [DelServer("app_web", SRV), AddServer("app_web", "n1", NAME, 8000, addr=IP, cid=CID)]),
    ("ONLINE running, server half-added (maint, checks off): delete it, add it again",
     [node(ONLINE)], [container("running")], [server("maint", healthy=None, checks=False)],
     [DelServer("app_web", SRV), AddServer("app_web", "n1", NAME, 8000, addr=IP, cid=CID)]),
    ("ONLINE running, ready server without checks: delete it, add it again",
     [node(ONLINE)], [container("running")], [server(healthy=None, checks=False)],
     [DelServer("app_web", SRV), AddServer("app_web", "n1", NAME, 8000, addr=IP, cid=CID)]),
    ("ONLINE running, server in maint with checks on (crash after 'enable health'): ready",
     [node(ONLINE)], [container("running")], [server("maint", healthy=None)],
     [SetServerState("app_web", SRV, "ready")]),
    ("ONLINE running but no IP yet: wait, never add a server without address",
     [node(ONLINE)], [container("running", ip="")], [], []),
    # --- PAUSED
    ("PAUSED with a ready server: drain, then maint",
     [node(PAUSED)], [container("running")], [server("ready")],
     [SetServerState("app_web", SRV, "drain"), SetServerState("app_web", SRV, "maint")]),
    ("PAUSED with a draining server: maint",
     [node(PAUSED)], [container("running")], [server("drain")],
     [SetServerState("app_web", SRV, "maint")]),
    ("PAUSED with a half-added server (maint, checks off): added again in maint",
     [node(PAUSED)], [container("running")], [server("maint", healthy=None, checks=False)],
     [DelServer("app_web", SRV), AddServer("app_web", "n1", NAME, 8000, "maint", addr=IP, cid=CID)]),
    ("PAUSED running without server: add it in maint",
     [node(PAUSED)], [container("running")], [],
     [AddServer("app_web", "n1", NAME, 8000, "maint", addr=IP, cid=CID)]),
    ("ONLINE whose container is dead and has no server: replaced",
     [node(ONLINE)], [container("dead")], [],
     [RemoveContainer("light", NAME, "its container exited"), *RUN_N1]),
]


@pytest.mark.parametrize("title,nodes,containers,servers,expected", RULES, ids=[r[0] for r in RULES])
def test_rule(title, nodes, containers, servers, expected):
    result = run(nodes, containers, servers)
    assert chain(result) == expected
    assert set(result.chains) <= {"light/n1"}, result.chains


def test_a_failed_workers_server_goes_in_a_chain_of_its_own():
    """The replacement does not wait while HAProxy retries the dead worker's requests elsewhere."""
    exited = run([node(ONLINE)], [container("exited", exit_code=137)], [server(healthy=False)])
    assert exited.chains == {"light/n1": [RemoveContainer("light", NAME, "its container exited with code 137"),
                                          *RUN_N1], **side()}
    paused = run([node(PAUSED)], [container("exited", exit_code=1)], [server("maint")])
    assert paused.chains == {"light/n1": [RemoveContainer("light", NAME, "its container exited with code 1"),
                                          *RUN_N1[:2], AddServer("app_web", "n1", NAME, 8000, "maint")],
                             **side()}
    vanished = run([node(ONLINE)], [], [server()])
    assert vanished.chains == {"light/n1": RUN_N1, **side()}


def test_orphans_node_record_gone_or_removed():
    result = run([], [container("running")], [server()])
    assert result.chains == {f"orphan/{NAME}": [DelServer("app_web", SRV), StopContainer("light", NAME),
                                                RemoveContainer("light", NAME, "its node record is gone")]}
    result = run([node(REMOVED)], [container("exited")], [])
    assert result.chains == {f"orphan/{NAME}": [RemoveContainer("light", NAME, "its node record is gone")]}


def test_a_server_without_container_or_node_is_deleted():
    ghost = server(name="ghost")
    assert run([], [], [ghost]).chains == side(ghost.name)


def test_servers_of_apps_of_other_hosts_or_deleted_apps_are_left_to_others():
    other = server(backend="app_old")
    assert not run([], [], [other])        # the HAProxy sync's reload removes a deleted app's backend


def test_a_host_plans_only_the_nodes_placed_on_it_and_its_own_containers():
    heavy = Pod("heavy", ("pod-heavy",), 10, 1.0, 512)
    assert not plan([POD, heavy], [WEB], [node(ONLINE)], [], [], host="pod-heavy", now=NOW)
    # an engine shared by two hosts: the other host's containers are not orphans here
    shared = plan([POD, heavy], [WEB], [node(ONLINE)], [container("running")], [server()],
                  host="pod-heavy", now=NOW)
    assert not shared
    # nor one from before pools (no host label) of a pod this host is not in
    legacy = dataclasses.replace(container("running"), host="")
    assert not plan([POD, heavy], [WEB], [node(ONLINE)], [legacy], [server()], host="pod-heavy", now=NOW)
    # but a container of a pod that no longer exists is
    gone = dataclasses.replace(container("running"), pod="old", name="sc-old.n1.x", host="")
    assert list(plan([heavy], [], [], [gone], [], host="pod-heavy", now=NOW).chains) == ["orphan/sc-old.n1.x"]
    # the node's own host runs it
    assert chain(plan([POD], [WEB], [node(ONLINE)], [], [], host="pod-a", now=NOW)) == RUN_N1


def on_b(containers, servers, **kw):
    """The plan of host pod-b, where node n1 is placed now (moved from pod-a)."""
    return plan([POD], [WEB], [node(ONLINE, host="pod-b", moved_from="pod-a")], containers, servers,
                host="pod-b", now=NOW, **kw)


def on_a(containers, servers, **kw):
    """The plan of host pod-a, where n1 ran before it moved to pod-b."""
    return plan([POD], [WEB], [node(ONLINE, host="pod-b", moved_from="pod-a")], containers, servers,
                host="pod-a", now=NOW, **kw)


def test_a_moved_node_keeps_serving_on_its_old_host_until_it_serves_on_the_new_one():
    waiting = on_a([container("running")], [server()])
    assert not waiting and waiting.wake_at == NOW + 1.0              # it looks again soon
    retired = on_a([container("running")], [server()], serving_elsewhere={("light", "n1")})
    assert chain(retired, f"moved/{NAME}") == [DelServer("app_web", SRV), StopContainer("light", NAME),
                                              RemoveContainer("light", NAME, "its node moved to host pod-b")]


def test_a_returning_hosts_stale_container_goes_before_it_can_serve():
    # the host that took the node deleted its servers: the stale container does not serve
    back = on_a([container("running")], [])
    assert chain(back, f"moved/{NAME}") == [RemoveContainer("light", NAME, "its node moved to host pod-b")]


def test_a_node_never_placed_is_left_alone_by_every_host():
    unplaced = [node(ONLINE, host="")]
    assert not plan([POD], [WEB], unplaced, [container("running")], [server()], host="pod-a", now=NOW)


def test_the_new_host_deletes_a_lost_hosts_servers_of_its_nodes():
    def deleted(result):
        return {k: v for k, v in result.chains.items() if k.startswith("server/")}
    old = server()                                               # of n1's container on pod-a
    assert deleted(on_b([], [old])) == {}                        # pod-a answers: its own reconciler drains it
    assert deleted(on_b([], [old], lost_hosts={"pod-a"})) == side()
    assert deleted(on_b([], [dataclasses.replace(old, healthy=False)])) == side()


def test_a_server_of_a_node_that_never_moved_is_its_hosts_to_delete():
    stale = server(gen="zz")                                     # no container of pod-a has that id
    result = plan([POD], [WEB], [node(ONLINE)], [container("running")], [server(), stale], host="pod-a", now=NOW)
    assert f"server/app_web/{stale.name}" in result.chains
    # pod-b leaves it to pod-a: the node is placed there
    assert not plan([POD], [WEB], [node(ONLINE)], [], [stale], host="pod-b", now=NOW)


def test_no_server_is_added_before_the_app_has_a_backend():
    result = run([node(ONLINE)], [], [], backends={"app_other"})
    assert chain(result) == RUN_N1[:2]
    result = run([node(ONLINE)], [container("running")], [], backends=set())
    assert chain(result) == []


def test_node_of_unknown_app_is_skipped():
    assert not run([Node(name="n9", pod="light", app="nope", status=ONLINE)])


def test_chains_keep_their_order_promises():
    """In every chain: servers out before containers stop; containers run before servers come in."""
    nodes = [node(ONLINE, "a"), node(PAUSED, "b"), node(NEW, "c"), node(ONLINE, "d")]
    containers = [container("exited", "a"), container("running", "b"), container("running", "c"),
                  container("running", "d"), container("running", "zz")]
    servers = [server(name="a"), server(name="b"), server(name="c"), server(name="zz")]
    result = run(nodes, containers, servers)
    assert set(result.chains) == {"light/a", "light/b", "light/c", "light/d",
                                  f"orphan/{container_name('light', 'zz', GEN)}",
                                  f"server/app_web/{server(name='a').name}"}   # a's container died
    for steps in result.chains.values():
        kinds = [type(a) for a in steps]
        outs = [i for i, a in enumerate(steps) if isinstance(a, DelServer)]
        stops = [i for i, k in enumerate(kinds) if k in (StopContainer, RemoveContainer)]
        starts = [i for i, k in enumerate(kinds) if k is StartContainer]
        ins = [i for i, k in enumerate(kinds) if k is AddServer]
        if outs and stops:
            assert max(outs) < min(stops)
        if starts and ins:
            assert max(starts) < min(ins)
        assert all(describe(a) for a in steps)


def test_plan_is_deterministic_and_converges_to_empty():
    args = ([node(ONLINE)], [container("running")], [server()])
    assert run(*args).chains == run(*args).chains == {}


# ---------------------------------------------------------------- generations: rolling update

def test_a_changed_spec_starts_a_new_generation_beside_the_serving_one():
    nodes = [node(ONLINE, "n1"), node(ONLINE, "n2")]
    containers = [container("running", "n1"), container("running", "n2")]
    servers = [server(name="n1"), server(name="n2")]
    result = run(nodes, containers, servers, apps=[WEB2])
    new1 = container_name("light", "n1", GEN2)
    assert result.chains == {"light/n1": [CreateContainer("light", "n1", "web", GEN2),
                                          StartContainer("light", new1),
                                          AddServer("app_web", "n1", new1, 8000)]}


def test_the_old_generation_goes_only_once_the_new_one_serves():
    new = container("running", "n1", gen=GEN2, ip="10.242.0.6", created=NOW - 2)
    old = container("running", "n1")
    waiting = run([node(ONLINE)], [old, new],
                  [server(), server(gen=GEN2, addr="10.242.0.6", healthy=False)], apps=[WEB2])
    assert waiting.chains == {}
    done = run([node(ONLINE)], [old, new], [server(), server(gen=GEN2, addr="10.242.0.6")], apps=[WEB2])
    assert chain(done) == [DelServer("app_web", SRV), StopContainer("light", NAME),
                           RemoveContainer("light", NAME, "replaced by a newer spec")]


def test_one_node_at_a_time_per_app():
    nodes = [node(ONLINE, "n1"), node(ONLINE, "n2")]
    containers = [container("running", "n1"), container("running", "n1", gen=GEN2, ip="10.242.0.6", created=NOW - 2),
                  container("running", "n2")]
    servers = [server(name="n1"), server(name="n1", gen=GEN2, addr="10.242.0.6", healthy=False),
               server(name="n2")]
    assert run(nodes, containers, servers, apps=[WEB2]).chains == {}      # n2 waits for n1
    two = run(nodes, containers, servers, apps=[WEB2], policy=HealingPolicy(max_surge=2))
    assert list(two.chains) == ["light/n2"]


def test_an_old_generation_that_does_not_serve_is_replaced_at_once():
    result = run([node(ONLINE)], [container("exited")], [], apps=[WEB2])
    new1 = container_name("light", "n1", GEN2)
    assert chain(result) == [RemoveContainer("light", NAME, "replaced by a newer spec"),
                             CreateContainer("light", "n1", "web", GEN2), StartContainer("light", new1),
                             AddServer("app_web", "n1", new1, 8000)]


def test_new_limits_are_a_new_generation():
    smaller = dataclasses.replace(WEB, cpus=0.1)
    assert spec_generation(smaller, POD) != GEN
    assert spec_generation(dataclasses.replace(WEB, balance="leastconn"), POD) == GEN


# ---------------------------------------------------------------- healing

def test_hung_worker_is_cut_out_and_replaced():
    c = container("running")
    health = {("light", "n1"): NodeHealth(healthy_id=c.id)}
    # DOWN after having passed: first a CPU reading is needed (hung or busy?)
    first = run([node(ONLINE)], [c], [server(healthy=False)], health=health)
    assert not first and first.wake_at == NOW + 0.3
    assert first.health[("light", "n1")].down_since == NOW
    result = run([node(ONLINE)], [c], [server(healthy=False)], health=first.health, now=NOW + 0.3,
                 cpu={c.id: 0.0})
    assert result.chains == {"light/n1": [RemoveContainer("light", NAME,
                                                          "it stopped passing its health check and uses no CPU (hung)"),
                                          *RUN_N1], **side()}
    assert result.health[("light", "n1")].restarts == 1
    assert [n.kind for n in result.notes] == ["node.failed"]


def test_a_down_workers_cpu_is_read_again_after_the_policys_probe():
    """A slower lab reads a DOWN worker's CPU over a longer window (hung_probe)."""
    c = container("running")
    health = {("light", "n1"): NodeHealth(healthy_id=c.id)}
    first = run([node(ONLINE)], [c], [server(healthy=False)], health=health, policy=HealingPolicy(hung_probe=3.0))
    assert not first and first.wake_at == NOW + 3.0


def test_a_busy_worker_that_fails_its_check_is_left_alone_for_a_while():
    """Overloaded, not hung: killing it would make the overload worse."""
    c = container("running")
    health = {("light", "n1"): NodeHealth(healthy_id=c.id, down_since=NOW - 5)}
    busy = run([node(ONLINE)], [c], [server(healthy=False)], health=health, cpu={c.id: 0.9})
    assert not busy and busy.wake_at == NOW - 5 + 30
    late = run([node(ONLINE)], [c], [server(healthy=False)], health=health, cpu={c.id: 0.9}, now=NOW + 25.1)
    assert chain(late)[0] == RemoveContainer("light", NAME, "it has failed its health check for 30 s "
                                                            "(busy, overloaded or stuck)")
    # back to healthy: the clock stops
    well = run([node(ONLINE)], [c], [server(healthy=True)], health=health)
    assert not well and well.health[("light", "n1")].down_since == 0.0


def test_a_worker_that_never_becomes_healthy_gets_start_timeout_seconds():
    young = container("running", created=NOW - 5)
    result = run([node(ONLINE)], [young], [server(healthy=False)])
    assert not result and result.wake_at == pytest.approx(NOW - 5 + 30 + 0.1)
    old = container("running", created=NOW - 31)
    result = run([node(ONLINE)], [old], [server(healthy=False)])
    assert chain(result)[0] == RemoveContainer("light", NAME,
                                               "it did not pass a health check within 30 s of starting")


def test_crash_loop_backs_off_then_replaces():
    c = container("exited", exit_code=1)
    health = {("light", "n1"): NodeHealth(restarts=3, streak=3, last_failure=NOW - 50)}
    first = run([node(ONLINE)], [c], [server(healthy=False)], health=health)
    assert first.chains == side()                                       # out at once, container kept
    assert first.wake_at == NOW + 4                                       # 1, 2, 4 s
    assert [n.kind for n in first.notes] == ["node.backoff"]
    record = first.health[("light", "n1")]
    assert record.failed_id == c.id and record.last_failure == NOW
    later = run([node(ONLINE)], [c], [], health={("light", "n1"): record}, now=NOW + 4.1)
    assert chain(later) == [RemoveContainer("light", NAME, "its container exited with code 1"), *RUN_N1]
    assert later.health[("light", "n1")].restarts == 4 and later.notes[0].kind == "node.failed"


def test_health_records_remember_a_passed_check():
    c = container("running")
    result = run([node(ONLINE)], [c], [server()])
    assert not result and result.health[("light", "n1")].healthy_id == c.id


def test_config_drift_rules():
    configured = {"web": {"path": "/web", "host": "", "balance": "roundrobin", "health_path": "/health"}}
    assert config_drift([WEB], configured) == ""
    assert config_drift([WEB], {}) == "app web has no backend"
    leastconn = dataclasses.replace(WEB, balance="leastconn")
    assert config_drift([leastconn], configured) == "app web: balance roundrobin → leastconn"
    moved = dataclasses.replace(WEB, path=None, host="web.example.com")
    assert config_drift([moved], configured) == ("app web: path /web → -; "
                                                 "app web: host - → web.example.com")
    assert config_drift([], configured) == "app web is gone"


def test_config_drift_when_an_app_starts_or_stops_scaling_to_zero():
    configured = {"web": {"path": "/web", "host": "", "balance": "roundrobin", "health_path": "/health"}}
    assert config_drift([WEB], configured, wake={"web"}) == "app web: wakes from zero"
    woken = {"web": {**configured["web"], "wake": "1"}}
    assert config_drift([WEB], woken, wake={"web"}) == ""
    assert config_drift([WEB], woken) == "app web: no longer wakes from zero"


# ---------------------------------------------------------------- warm pools

def warm(status=ONLINE, name="n1"):
    return dataclasses.replace(node(status, name), warm=True)


OTHER = node(ONLINE, "n3", host="pod-b")       # a serving node elsewhere: the app is not at zero


def test_a_warm_node_is_started_and_its_server_added_in_drain():
    result = run([warm()])
    assert chain(result) == [CreateContainer("light", "n1", "web", GEN), StartContainer("light", NAME),
                             AddServer("app_web", "n1", NAME, 8000, "drain")]
    assert "light/n1" not in run([warm(), OTHER], [container("running")], [server("drain")]).chains  # in sync


def test_promoting_a_warm_node_is_one_state_change_and_turning_it_warm_one_drain():
    assert chain(run([node(ONLINE)], [container("running")], [server("drain")])) == \
        [SetServerState("app_web", SRV, "ready")]
    assert chain(run([warm()], [container("running")], [server("ready")])) == \
        [SetServerState("app_web", SRV, "drain")]


def test_a_warm_node_is_healed_like_any_other():
    down = server("drain", healthy=False)
    result = run([warm()], [container("exited", exit_code=1)], [down])
    assert any(isinstance(a, RemoveContainer) for a in chain(result))
    assert result.notes and result.notes[0].kind == "node.failed"


def test_a_warm_nodes_drain_is_never_read_as_a_retirement():
    """Only the node records decide what goes: a drained server of a warm node stays,
    a drained server of a node that is gone is deleted."""
    servers = [server("drain"), server("drain", name="n2")]
    containers = [container("running"), container("running", name="n2", ip="10.242.0.6")]
    result = run([warm(), OTHER], containers, servers)
    assert "light/n1" not in result.chains
    assert any(isinstance(a, DelServer) for a in result.chains[f"orphan/{container_name('light', 'n2', GEN)}"])


def test_the_warm_node_of_an_app_at_zero_is_frozen_once_checked_and_thawed_when_promoted():
    paused = dataclasses.replace(container("running"), state="paused", ip=None)   # as Docker shows it
    assert chain(run([warm()], [container("running")], [server("drain")])) == \
        [SetServerState("app_web", SRV, "maint"), FreezeContainer("light", NAME)]       # no checks, then no CPU
    assert not run([warm()], [paused], [server("maint", healthy=None)])                # frozen: in sync
    assert chain(run([warm()], [container("running", created=NOW - 1)], [server("drain", healthy=False)])) == []
    assert chain(run([node(ONLINE)], [paused], [server("maint", healthy=None)])) == \
        [FreezeContainer("light", NAME, frozen=False), SetServerState("app_web", SRV, "ready")]  # promoted
    hung = run([node(ONLINE)], [paused], [server("ready", healthy=False)])       # paused, not by the planner
    assert not any(isinstance(a, FreezeContainer) for a in hung.actions)
    assert chain(run([warm()], [paused], [])) == [FreezeContainer("light", NAME, frozen=False)]  # lost server
    assert chain(run([warm(), OTHER], [paused], [server("maint", healthy=None)])) == \
        [FreezeContainer("light", NAME, frozen=False), SetServerState("app_web", SRV, "drain")]  # it serves again
