"""`cloud bench` against a real HAProxy in front of real workers: two nodes
of app "ctl" (the light job) on the local dockerd, load sent to 127.0.0.1.

The figures are checked against each other (every arrival accounted for,
statuses adding up to the requests sent, the printed summary equal to
results.json, one CSV row per request) and against HAProxy's own request
counter for the backend. The balance comparison runs against a real manager
API (``create_app`` over the cluster's store) with the controller running, so
each balance really reaches haproxy.cfg.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from PIL import Image

from orchestrator.api import create_app
from orchestrator.core.model import Node, NodeStatus
from orchestrator.server import build_controller
from orchestrator.usecases import UseCases

from .fixtures_cluster import all_healthy
from .fixtures_edges import free_port, serve_wsgi, wait_until

pytestmark = pytest.mark.integration

# container names are global on the shared dockerd: node names of their own
NODES = [f"bench{uuid.uuid4().hex[:6]}-{i}" for i in (1, 2)]
TOKEN = "bench-token-" + uuid.uuid4().hex


@pytest.fixture
def serving(cluster):
    """App ctl with two healthy nodes behind HAProxy, by the HAProxy sync and reconciler
    passes; then nothing runs in the background (no reload resets HAProxy's counters)."""
    c = cluster
    c.store.add_nodes("ctl", [Node(n, "ctl", "ctl", NodeStatus.ONLINE, host="pod-test", created=float(i))
                              for i, n in enumerate(NODES, 1)])

    def converged() -> bool:
        c.haproxy_sync.sync_config()
        return not c.rec.reconcile_once() and all_healthy(c, NODES)
    wait_until(converged, 60, interval=0.2, what="both nodes of ctl to serve")
    return c


@pytest.fixture
def controlled(serving):
    """The same, with the controller running (the HAProxy sync applies balance changes)."""
    c = serving
    controller = build_controller(c.store, c.pool, c.hap.driver, c.settings)
    stop = threading.Event()
    controller.start(stop)
    yield c
    stop.set()
    assert controller.join(20)


@pytest.fixture
def api(controlled, tmp_path):
    """The manager's API over the cluster's store, on a free port of 127.0.0.1."""
    c = controlled
    with serve_wsgi(create_app(UseCases.over(c.store, c.pool), token=TOKEN)) as url:
        yield url


def cloud(cwd: Path, *argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLECLOUD_")}
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *argv], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def req_tot(c) -> int:
    return c.hap.driver.backend_stats()["app_ctl"].req_tot


def is_png(path: Path) -> bool:
    if path.stat().st_size == 0 or path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    with Image.open(path) as image:
        image.verify()
        return image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100


def printed(stdout: str) -> dict:
    """The figures of the printed summary."""
    offered = re.search(r"offered\s+(\S+)/s for (\S+) s: (\d+) arrivals; sent (\d+) \((\S+)/s\)", stdout)
    answered = re.search(r"answered\s+(\d+) \((\S+)/s over (\S+) s\)", stdout)
    latency = dict(re.findall(r"(p[\d.]+|max) (\S+)", stdout.split("latency", 1)[1].splitlines()[0]))
    return {"rate": float(offered[1]), "elapsed": float(offered[2]), "arrivals": int(offered[3]),
            "sent": int(offered[4]), "sent_rps": float(offered[5]), "answered": int(answered[1]),
            "throughput_rps": float(answered[2]), "answer_window_s": float(answered[3]),
            "latency_ms": {k: float(v) for k, v in latency.items()}}


def test_a_bounded_run_adds_up(serving, tmp_path):
    c = serving
    out = tmp_path / "out"
    before = req_tot(c)
    run = cloud(tmp_path, "bench", "--url", c.hap.url, "--path", "/light", "--rate", "30", "--duration", "3",
                "--procs", "2", "--connections", "8", "--seed", "11", "--out", str(out),
                "--api", f"http://127.0.0.1:{free_port()}")           # no API: nodes from the answers
    assert run.returncode == 0, run.stderr
    after = req_tot(c)
    r = json.loads((out / "results.json").read_text())

    # every arrival accounted for, every request has one outcome
    assert r["arrivals"] > 0 and r["sent"] + sum(r["not_sent"].values()) == r["arrivals"]
    assert sum(r["outcomes"].values()) == r["sent"]
    assert r["not_sent"]["stopped"] == r["not_sent"]["no connection"] == 0, r["not_sent"]
    assert r["outcomes"] == {"200": r["sent"]} and r["errors"] == {} and r["answered"] == r["sent"]
    assert r["elapsed"] == 3 and r["send_window_s"] >= 3
    assert r["sent_rps"] == round(r["sent"] / r["send_window_s"], 3)
    assert r["answer_window_s"] >= 3 and r["throughput_rps"] == round(r["answered"] / r["answer_window_s"], 3)
    lat = r["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
    # HAProxy saw exactly the requests answered; both nodes served
    assert after - before == r["answered"]
    assert set(r["nodes"]) == set(NODES) and sum(r["nodes"].values()) == r["answered"]
    # samples.csv: one row per request sent, the same outcomes
    rows = (out / "samples.csv").read_text().splitlines()[1:]
    assert len(rows) == r["sent"]
    assert all(row.split(",")[2] == "200" and row.split(",")[3] in NODES for row in rows)
    # the printed summary is results.json
    shown = printed(run.stdout)
    assert shown == {"rate": r["rate"], "elapsed": r["elapsed"], "arrivals": r["arrivals"], "sent": r["sent"],
                     "sent_rps": r["sent_rps"], "answered": r["answered"], "throughput_rps": r["throughput_rps"],
                     "answer_window_s": r["answer_window_s"],
                     "latency_ms": {k: v for k, v in lat.items() if k != "mean"}}
    # progress on stderr, the API's absence said once, the plots written
    assert "arrivals" in run.stderr and "nodes serving not polled from the API" in run.stderr
    assert r["nodes_serving"]["source"] == "answers"
    for name in ("latency.png", "throughput.png", "nodes.png"):
        assert is_png(out / name), name


def test_compare_balance_restores_the_original_balance(controlled, api, tmp_path):
    c = controlled
    out = tmp_path / "cmp"
    assert c.store.get_app("ctl").balance == "roundrobin"
    run = cloud(tmp_path, "bench", "--url", c.hap.url, "--path", "/light", "--rate", "15", "--duration", "2",
                "--procs", "1", "--seed", "5", "--compare-balance", "leastconn,source", "--out", str(out),
                "--api", api, "--token", TOKEN)
    assert run.returncode == 0, run.stderr
    data = json.loads((out / "compare.json").read_text())
    assert data["app"] == "ctl" and data["original_balance"] == "roundrobin" and not data["interrupted"]
    assert list(data["results"]) == ["leastconn", "source"] and data["warnings"] == []
    lines = run.stdout.splitlines()
    assert lines[0].split()[:3] == ["BALANCE", "OFFERED/s", "SENT/s"]
    assert [line.split()[0] for line in lines[1:3]] == ["leastconn", "source"]
    for algo, r in data["results"].items():
        # the same load under each algorithm: same seed, same arrivals
        assert r["arrivals"] == data["results"]["leastconn"]["arrivals"] > 0
        assert r["sent"] + sum(r["not_sent"].values()) == r["arrivals"] and r["errors"] == {}
        assert json.loads((out / algo / "results.json").read_text()) == r
        assert r["nodes_serving"]["source"] == "api" and r["nodes_serving"]["points"], r["nodes_serving"]
        assert max(n for _, n in r["nodes_serving"]["points"]) == len(NODES)
        assert is_png(out / algo / "latency.png")
    # leastconn spreads the load; source hashes the one client address to one node
    assert set(data["results"]["leastconn"]["nodes"]) == set(NODES)
    assert len(data["results"]["source"]["nodes"]) == 1
    assert is_png(out / "compare.png")
    # each balance reached HAProxy, and the original is back, in etcd and in haproxy.cfg
    reloads = [e.message for e in c.store.events(200) if e.kind == "controller.reload_config"]
    for change in ("roundrobin → leastconn", "leastconn → source", "source → roundrobin"):
        assert any(f"app ctl: balance {change}" in m for m in reloads), reloads
    assert c.store.get_app("ctl").balance == "roundrobin"
    assert c.hap.driver.configured_apps()["ctl"]["balance"] == "roundrobin"
    assert "balance roundrobin" in Path(c.settings.haproxy.haproxy_config).read_text()
