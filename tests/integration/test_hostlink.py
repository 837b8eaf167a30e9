"""The host link against a real sshd and real dockerds on this machine.

The link reaches the local engine through ``sshd`` exactly as the manager
reaches a pod host: Fabric, one SSH connection, one channel per Docker API
connection running socat to the socket. Stalls are real: SIGSTOP of the sshd
processes (a frozen host) and of a spare dockerd (a frozen engine)."""
from __future__ import annotations

import dataclasses
import re
import threading
import time
from pathlib import Path

import docker
import pytest

from orchestrator.edges.docker_host import HostUnavailable
from orchestrator.edges.hostlink import HostLink
from orchestrator.edges.hostpool import HostPool
from orchestrator.settings import LinkSettings, Settings

from .fixtures_edges import DOCKER_URL, wait_until
from .fixtures_ssh import record_host_key

pytestmark = pytest.mark.integration


@pytest.fixture
def link_settings(sshd, test_network, tmp_path):
    return Settings.of(docker_hosts={"pod-ssh": f"ssh://{sshd.alias}", "*": DOCKER_URL},
                       ssh_config_file=sshd.ssh_config, pod_network=test_network,
                       link_dir=str(tmp_path / "links"), docker_call_timeout=3.0,
                       link_ping_interval=0.3, link_ping_timeout=1.0, link_ping_failures=2,
                       link_backoff_max=1.0)


@pytest.fixture
def pool(link_settings, test_labels):
    events, states = [], []
    p = HostPool(link_settings.links, extra_labels=test_labels,
                 on_event=lambda host, ev: events.append((host, ev)),
                 on_state=lambda host, st: states.append((host, st)))
    p.events, p.states = events, states
    yield p
    host = p.get("pod-ssh")
    try:
        for c in host.list_workers():
            host.remove(c.name)
    except HostUnavailable:
        pass
    p.close()


def returns_within(fn, seconds: float):
    """Run ``fn`` in a thread; (finished, result or exception). Never hangs the test."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - what it raised is the test's answer
            box["value"] = exc
    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    return not t.is_alive(), box.get("value")


def test_containers_through_the_link(pool, worker_images, docker_client):
    link = pool.link("pod-ssh")
    assert link.wait_up(15), link.state
    assert link.ssh and link.state.rtt_ms is not None
    host = pool.get("pod-ssh")
    c = host.create_worker("light", "l1", "light", worker_images["light"], None, 8000, 0.25, 128, gen="g1")
    assert c.name == "sc-light.l1.g1" and c.gen == "g1" and c.created > 0
    started = host.start(c.name)
    assert started.state == "running" and started.ip
    assert [w.name for w in host.list_workers()] == ["sc-light.l1.g1"]
    assert docker_client.containers.get(c.name).labels["simplecloud.gen"] == "g1"
    # the die of a killed container comes over the link's event stream
    host.kill(c.name)
    wait_until(lambda: any(ev.get("status") == "die" and host == "pod-ssh"
                           for host, ev in pool.events), timeout=10, what="a die event")
    dead = host.inspect(c.name)
    assert dead.state == "exited" and dead.exit_code == 137
    assert [w.exit_code for w in host.list_workers()] == [137]
    # many calls, one SSH connection: every call reuses the link
    for _ in range(30):
        host.list_workers()
    assert pool.link("pod-ssh")._conn.is_connected
    assert host.remove(c.name) and host.list_workers() == []


def test_host_commands_over_the_link(pool):
    link = pool.link("pod-ssh")
    assert link.wait_up(15)
    assert link.run("echo $((6 * 7))").strip() == "42"
    with pytest.raises(HostUnavailable, match="exited 3"):
        link.run("exit 3")


def test_a_frozen_host_times_out_goes_down_and_comes_back(pool, sshd):
    link = pool.link("pod-ssh")
    assert link.wait_up(15)
    host = pool.get("pod-ssh")
    host.list_workers()
    stalled = time.time()
    sshd.stall()
    try:
        done, result = returns_within(host.list_workers, 3.0 * 5)
        assert done, "a Docker call to a frozen host did not return within five deadlines"
        assert isinstance(result, HostUnavailable), result
        assert wait_until(lambda: not link.up, timeout=10, what="the link to go down")
        # down since it last answered (the grace runs from there), not since the misses noticed it
        # (pings every 0.3 s: the last answer came just before the stall, the misses 2 s after it)
        assert stalled - 5 <= link.state.since <= stalled, (stalled, link.state)
        # A ping into a frozen host ends either at its own 1 s deadline ("no
        # answer within 1 s") or when the link's channel to the engine could not
        # be opened in time and the local socket was closed ("the connection
        # was closed"); which one comes first is a race (seen in a clean-clone run).
        assert re.search(r"did not answer 2 pings in a row \((no answer within 1 s|the connection was closed)\)",
                         link.state.error), link.state.error
        done, result = returns_within(host.list_workers, 1.0)      # down: fails at once
        assert done and isinstance(result, HostUnavailable) and "unreachable since" in str(result)
        assert [s.up for h, s in pool.states if h == "pod-ssh"][-1] is False
    finally:
        sshd.resume()
    assert link.wait_up(20), link.state
    assert host.list_workers() == []
    assert [s.up for h, s in pool.states if h == "pod-ssh"][-2:] == [False, True]


def test_a_frozen_engine_behind_a_live_sshd(link_settings, spare_dockerd, test_labels):
    settings = link_settings.updated(docker_dial_command=f"socat - UNIX-CONNECT:{spare_dockerd.socket}")
    pool = HostPool(settings.links, extra_labels=test_labels)
    try:
        link = pool.link("pod-ssh")
        assert link.wait_up(15), link.state
        assert pool.get("pod-ssh").list_workers() == []
        spare_dockerd.stall()
        try:
            done, result = returns_within(pool.get("pod-ssh").list_workers, 15.0)
            assert done and isinstance(result, HostUnavailable), result
            assert wait_until(lambda: not link.up, timeout=10, what="the link to go down")
        finally:
            spare_dockerd.resume()
        assert link.wait_up(20), link.state
    finally:
        pool.close()


def test_a_changed_host_key_keeps_the_link_down_until_the_new_key_is_recorded(rekeyed_sshd, link_settings):
    """A host whose SSH key is not the recorded one (someone took over its
    address) gets no Docker call: the link stays down and says why and how to
    accept a legitimately new key; once the right key is recorded (make
    provision), the link connects."""
    settings = dataclasses.replace(link_settings.links, ssh_config_file=rekeyed_sshd.ssh_config,
                                   docker_hosts={"pod-new": f"ssh://{rekeyed_sshd.alias}"})
    link = HostLink("pod-new", f"ssh://{rekeyed_sshd.alias}", settings).start()
    try:
        with pytest.raises(HostUnavailable) as refused:
            link.check_up()
        message = str(refused.value)
        assert "pod-new is unreachable" in message and "its SSH host key changed" in message, message
        assert f"not the key {rekeyed_sshd.known_hosts} records for [127.0.0.1]:{rekeyed_sshd.port}" in message
        assert "make provision" in message and f"ssh-keygen -R '[127.0.0.1]:{rekeyed_sshd.port}'" in message
        assert link._conn is None and not link.up
        record_host_key(rekeyed_sshd, rekeyed_sshd.workdir / "hostkey.pub")    # make provision
        assert link.wait_up(15), link.state
        assert link.run("echo ok").strip() == "ok"
    finally:
        link.close()


def test_a_host_with_no_recorded_key_is_refused(rekeyed_sshd, link_settings):
    Path(rekeyed_sshd.known_hosts).write_text("")
    settings = dataclasses.replace(link_settings.links, ssh_config_file=rekeyed_sshd.ssh_config)
    link = HostLink("pod-unknown", f"ssh://{rekeyed_sshd.alias}", settings).start()
    try:
        with pytest.raises(HostUnavailable, match=r"no SSH host key of \[127.0.0.1\]:\d+ is recorded in "
                                                  + re.escape(rekeyed_sshd.known_hosts)):
            link.check_up()
        assert link._conn is None and not link.up
    finally:
        link.close()


def test_one_dead_host_does_not_slow_the_pool(link_settings, test_labels):
    settings = link_settings.updated(docker_hosts={
        "pod-ssh": link_settings.links.docker_hosts["pod-ssh"], "pod-gone": "ssh://root@127.0.0.1:1",
        "*": DOCKER_URL})
    pool = HostPool(settings.links, extra_labels=test_labels)
    try:
        gone = pool.link("pod-gone")
        assert pool.link("pod-ssh").wait_up(15)
        assert wait_until(lambda: gone.state.error and not gone.up, timeout=10, what="pod-gone to fail")
        with pytest.raises(HostUnavailable, match="pod-gone is unreachable since"):
            pool.get("pod-gone").list_workers()
        assert pool.get("pod-ssh").list_workers() == []
    finally:
        pool.close()


def test_local_socket_links_have_events_and_supervision(test_labels, test_network, tmp_path):
    settings = LinkSettings(docker_hosts={"*": DOCKER_URL}, pod_network=test_network,
                            link_dir=str(tmp_path), link_ping_interval=0.3)
    link = HostLink("local", DOCKER_URL, settings)
    try:
        assert not link.ssh and link.docker_url == DOCKER_URL
        assert link.start().wait_up(10) and link.state.rtt_ms is not None
    finally:
        link.close()
    with pytest.raises(Exception, match="must start with ssh:// or unix://"):
        HostLink("bad", "tcp://127.0.0.1:2375", settings)
    assert docker.DockerClient(base_url=DOCKER_URL).ping()
