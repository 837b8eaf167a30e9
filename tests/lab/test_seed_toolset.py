"""The seed toolset (register, launch, pause, resume, scale, rm) against the
running lab, through the `cloud` CLI, checked from outside through HAProxy
on 127.0.0.1:8080; and bad input refused with one `cloud:` line and no
state change."""
from __future__ import annotations

import time

import pytest
import requests

from tests.lab.conftest import (
    API,
    CONVERGE,
    ROOT,
    cloud,
    cloud_json,
    cloud_ok,
    get,
    nodes_seen,
    pod_nodes,
    snapshot,
    statuses_seen,
    wait_served_by,
    wait_unserved,
)

pytestmark = pytest.mark.lab

SEED = ("seed1", "seed2")


@pytest.fixture
def seed_nodes(light_empty):
    """No seed node and light at 0 before; none after, even on failure."""
    def clean():
        for name in SEED:
            if any(n["name"] == name for n in pod_nodes("light")):
                cloud("rm", name, "light")
    clean()
    yield
    clean()


def statuses(pod: str) -> dict[str, str]:
    return {n["name"]: n["status"] for n in pod_nodes(pod)}


def test_seed_sequence(seed_nodes):
    # register: listed NEW, not serving
    out = cloud_ok("register", "seed1", "light")
    assert "seed1" in out and "NEW" in out
    assert statuses("light") == {"seed1": "NEW"}
    time.sleep(3)                          # give the controller time to create the container
    assert set(statuses_seen("/light", 10)) == {503}, "a NEW node must not serve"
    assert statuses("light") == {"seed1": "NEW"}

    # launch: ONLINE at once, then serving /light
    out = cloud_ok("launch", "light")
    assert "seed1" in out and "ONLINE" in out
    assert statuses("light") == {"seed1": "ONLINE"}
    seen = wait_served_by("/light", {"seed1"})
    assert set(seen) == {"seed1"}, f"/light not served by seed1 within {CONVERGE}s: {seen}"

    # a second node: requests spread over both
    cloud_ok("register", "seed2", "light")
    cloud_ok("launch", "light")
    assert statuses("light") == {"seed1": "ONLINE", "seed2": "ONLINE"}
    seen = wait_served_by("/light", {"seed1", "seed2"})
    assert set(seen) == {"seed1", "seed2"}, seen
    seen = nodes_seen("/light", 20)
    assert set(seen) == {"seed1", "seed2"} and min(seen.values()) >= 5, \
        f"roundrobin should spread 20 requests over both nodes: {seen}"

    # pause: drained out, HAProxy answers 503
    out = cloud_ok("pause", "light")
    assert "2 node" in out
    assert statuses("light") == {"seed1": "PAUSED", "seed2": "PAUSED"}
    last = wait_unserved("/light")
    assert set(last) == {503}, f"/light still reaches paused nodes: {last}"

    # resume: served again by both
    cloud_ok("resume", "light")
    assert statuses("light") == {"seed1": "ONLINE", "seed2": "ONLINE"}
    seen = wait_served_by("/light", {"seed1", "seed2"})
    assert set(seen) == {"seed1", "seed2"}, seen

    # scale: N distinct nodes answer
    answer = cloud_json("app", "scale", "light", "4")
    assert answer["replicas"] == 4
    names = {n["name"] for n in answer["nodes"]}
    assert len(names) == 4 and {"seed1", "seed2"} <= names
    assert set(statuses("light")) == names
    seen = wait_served_by("/light", names, burst=16)
    assert set(seen) == names, f"expected 4 distinct nodes, saw {seen}"

    # rm: gone from the listing and from the answers
    cloud_ok("rm", "seed1", "light")
    assert "seed1" not in statuses("light")
    rest = names - {"seed1"}
    seen = wait_served_by("/light", rest, burst=15)
    assert set(seen) == rest, f"seed1 still answers or others missing: {seen}"
    assert "seed1" not in nodes_seen("/light", 15)


# ---------------------------------------------------------------- bad input

def assert_refused(rc: int, out: str, err: str, code: int = 1, *words: str) -> str:
    lines = err.strip().splitlines()
    assert rc == code, f"exit {rc}, stderr {err!r}"
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("cloud:"), lines[0]
    assert out == ""
    low = lines[0].lower()
    for w in words:
        assert w in low, f"{w!r} not in {lines[0]!r}"
    return lines[0]


@pytest.mark.parametrize("args, words", [
    (("launch", "nope-pod"), ("nope-pod", "does not exist")),
    (("register", "x1", "nope-pod"), ("nope-pod",)),
    (("register", "Bad_Name", "light"), ("bad_name", "not a valid name")),
    (("app", "deploy", "t-noimg", "--image", "nosuch/img", "--pod", "heavy",
      "--replicas", "1", "--port", "80"), ("nosuch/img", "does not exist")),
], ids=["unknown-pod-launch", "unknown-pod-register", "bad-node-name", "no-such-image"])
def test_bad_input_refused_without_change(light_empty, args, words):
    before = snapshot()
    assert_refused(*cloud(*args), 1, *words)
    assert snapshot() == before


def test_pod_full_message(light_empty):
    """With light at 0 nodes, asking for one more than its hosts hold is refused, with no change,
    and the line names the room there is (the sum of light's hosts' capacities: 40 on the lab's
    two light hosts) and the way out."""
    (light,) = [p for p in cloud_json("pod", "ls") if p["name"] == "light"]
    room = light["capacity"]
    before = snapshot()
    line = assert_refused(*cloud("app", "scale", "light", str(room + 1)), 1, "light", f"cannot add {room + 1}")
    assert f"room for {room} more" in line and "cloud host add" in line, line
    assert snapshot() == before


def test_unknown_balance_algorithm(lab):
    """Refused by the CLI (a usage error: exit 2 per docs/cli.md) and by the API (400)."""
    before = snapshot()
    line = assert_refused(*cloud("app", "deploy", "t-bal", "--image", "registry:5050/simplecloud/light",
                                 "--pod", "light", "--replicas", "1", "--port", "8000",
                                 "--balance", "fastest"), 2)
    assert "fastest" in line
    token = (ROOT / ".simplecloud" / "token").read_text().strip()
    r = requests.post(f"{API}/api/apps", timeout=10, headers={"Authorization": f"Bearer {token}"},
                      json={"name": "t-bal", "image": "registry:5050/simplecloud/light", "pod": "light",
                            "replicas": 1, "port": 8000, "balance": "fastest"})
    assert r.status_code == 400, r.text
    assert "fastest" in r.text
    assert snapshot() == before


def test_wrong_token(lab):
    before = snapshot()
    line = assert_refused(*cloud("launch", "light", env={"SIMPLECLOUD_TOKEN": "wrong"}), 1)
    assert "token" in line.lower() and "authentication" in line.lower(), line
    assert snapshot() == before
    assert get("/nothing-here")[0] == 404


def test_reads_need_the_token_too(lab):
    """Nothing on the network reads the cluster (command lines, logs) without the token."""
    assert requests.get(f"{API}/api/apps", timeout=10).status_code == 401
    assert requests.get(f"{API}/api/health", timeout=10).status_code == 200
    rc, _, err = cloud("app", "ls", env={"SIMPLECLOUD_TOKEN": "wrong"})
    assert rc == 1 and "authentication" in err.lower()


def test_the_cli_over_tls_on_the_lab_network(lab):
    """The same CLI against https://manager:5443, trusting the lab CA from .simplecloud/ca.pem."""
    pods = cloud_json("--api", "https://192.168.56.10:5443", "pod", "ls")
    assert {p["name"] for p in pods} >= {"light", "medium", "heavy"}
