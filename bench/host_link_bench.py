#!/usr/bin/env python3
"""Host-link benchmark (issue 6) for the running lab (`make up` first). Not a
test: it prints figures and writes bench/results/host_link.json.

Measured from outside, the way a user works: the `cloud` CLI, HTTP to
HAProxy through the virtual IP, and (for faults and Docker Swarm) commands on
the lab machines over SSH. Docker Swarm runs side by side on light's first
host's own engine in the same run (live-restore is switched off for it and
restored).

    .venv/bin/python bench/host_link_bench.py                 # every scenario (~10 min)
    .venv/bin/python bench/host_link_bench.py --only scale,kill

Scenarios: launch, scale (with Swarm), kill, dead, hang, heavy, update, frozen, manager.
"""
from __future__ import annotations

import random
import statistics
import subprocess
import time

from labkit import (
    LAB,
    ROOT,
    OpenLoop,
    cloud,
    cloud_json,
    containers,
    get,
    leader,
    live_restore,
    nodes_answering,
    on,
    percentile,
    pod_host,
    run_scenarios,
    wait,
)

RESULTS = ROOT / "bench" / "results" / "host_link.json"
SWARM_IMAGE = "registry:5050/simplecloud/light"
LIGHT, MEDIUM = pod_host("light"), pod_host("medium")     # the hosts the built-in pods start on


def scale(app: str, n: int, wait_flag: bool = True) -> None:
    cloud("app", "scale", app, str(n), *(["--wait", "--timeout", "180"] if wait_flag else []))


def empty(app: str, machine: str) -> None:
    scale(app, 0)
    wait(lambda: not containers(machine, app), interval=0.2)


# ---------------------------------------------------------------- launch → serving

def bench_launch(rounds: int = 5) -> dict:
    empty("light", LIGHT)
    times = []
    for i in range(rounds):
        name = f"bench{i}"
        cloud("register", name, "light")
        wait(lambda: containers(LIGHT, "light"), interval=0.1)     # NEW: created, not started
        t0 = time.time()
        cloud("launch", "light")
        ok = wait(lambda: get("/light")[1] == name, timeout=60, interval=0.02)
        times.append(time.time() - t0 if ok else float("inf"))
        cloud("rm", name, "light")
        wait(lambda: not containers(LIGHT, "light"), interval=0.1)
    return {"launch_to_serving_s": [round(t, 3) for t in times],
            "launch_to_serving_p50_s": round(statistics.median(times), 3)}


# ---------------------------------------------------------------- scale 0→20→1, with Swarm

def last_start(filter_: str, t0: float) -> float | None:
    """Seconds from ``t0`` to the latest StartedAt of the running containers matching a filter."""
    ids = on(LIGHT, f"docker ps -q --filter {filter_}").split()
    if not ids:
        return None
    out = on(LIGHT, "docker inspect -f '{{.State.StartedAt}}' " + " ".join(ids))
    stamps = on(LIGHT, "for t in " + " ".join(out.split()) + "; do date -d $t +%s.%N; done").split()
    return round(max(float(x) for x in stamps) - t0, 2)


def swarm_on_pod_light() -> dict:
    """Docker Swarm on pod-light's engine: 20 replicas 0 → running, then → 1."""
    live_restore(LIGHT, False)
    label = "label=com.docker.swarm.service.name=sb"
    try:
        addr = on(LIGHT, "hostname -I").split()[-1]
        on(LIGHT, f"docker swarm init --advertise-addr {addr} >/dev/null")
        def running() -> int:
            return len(on(LIGHT, f"docker ps -q --filter {label}").split())
        t0 = time.time()
        on(LIGHT, f"docker service create --detach --no-resolve-image --name sb --replicas 20 "
                        f"--limit-cpu 0.25 --limit-memory 128M {SWARM_IMAGE} >/dev/null")
        up = wait(lambda: running() == 20, interval=0.2)
        t_up = last_start(label, t0) if up else None
        t0 = time.time()
        on(LIGHT, "docker service scale --detach sb=1 >/dev/null")
        down = wait(lambda: running() == 1, interval=0.05)
        t_down = time.time() - t0
        return {"swarm_0_to_20_running_s": t_up, "swarm_20_to_1_gone_s": round(t_down, 2) if down else None}
    finally:
        on(LIGHT, "docker service rm sb >/dev/null 2>&1; docker swarm leave --force >/dev/null 2>&1",
           check=False)
        wait(lambda: not on(LIGHT, f"docker ps -aq --filter {label}").split())
        live_restore(LIGHT, True)
        wait(lambda: all(state and state["reachable"] for p in cloud_json("pod", "ls")
                         for state in p["host_states"].values()), timeout=60)


def simplecloud_scale() -> dict:
    """`cloud app scale light 20 --wait` (every node passed HAProxy's check), checked by
    one burst of requests; then 20 → 1 under steady open-loop load."""
    empty("light", LIGHT)
    t0 = time.time()
    cloud("app", "scale", "light", "20", "--wait", "--timeout", "180")
    t_all = time.time() - t0
    t_running = last_start("label=simplecloud.app=light", t0)
    answering = len(nodes_answering("/light", 80))
    with OpenLoop("/light", rate=20) as load:
        time.sleep(1)
        t0 = time.time()
        cloud("app", "scale", "light", "1")
        gone = wait(lambda: len(containers(LIGHT, "light")) == 1, interval=0.05)
        t_gone = time.time() - t0
        time.sleep(2)
    return {"simplecloud_0_to_20_running_s": t_running,
            "simplecloud_0_to_20_all_serving_s": round(t_all, 2), "distinct_nodes_answering": answering,
            "simplecloud_20_to_1_gone_s": round(t_gone, 2) if gone else None,
            "scale_in_requests": load.sent(), "scale_in_failed": len(load.failures),
            "running_after": len(containers(LIGHT, "light", running_only=True))}


def bench_scale(rounds: int = 2) -> dict:
    """Swarm, then simplecloud, on the same engine, ``rounds`` times, alternating."""
    out: dict = {"rounds": []}
    for _ in range(rounds):
        empty("light", LIGHT)
        s = swarm_on_pod_light()
        c = simplecloud_scale()
        out["rounds"].append({**s, **c})
    r = out["rounds"]
    def med(key: str) -> float:
        return statistics.median(x[key] for x in r if x.get(key) is not None)
    out["ratio_0_to_20"] = round(med("simplecloud_0_to_20_all_serving_s") / med("swarm_0_to_20_running_s"), 2)
    out["ratio_20_to_1"] = round(med("simplecloud_20_to_1_gone_s") / med("swarm_20_to_1_gone_s"), 2)
    return out


# ---------------------------------------------------------------- faults under load

def _nodes(app: str) -> list[str]:
    return sorted(n["name"] for n in cloud_json("node", "ls") if n["app"] == app)


def _serving(app: str, node: str) -> bool:
    return any(n["name"] == node and (n.get("observed") or {}).get("phase") == "serving"
               for n in cloud_json("node", "ls") if n["app"] == app)


def bench_kill(rounds: int = 6, rate: float = 50) -> dict:
    """A worker SIGKILLed under open-loop load, a different node each round
    (a node that fails again within a minute backs off): failed requests, and
    the time until the killed node answers through HAProxy again."""
    scale("light", 0)
    scale("light", rounds)
    back = []
    with OpenLoop("/light", rate=rate, limit_s=300) as load:
        time.sleep(2)
        for node in _nodes("light")[:rounds]:
            cloud("node", "crash", node, "--pod", "light")
            t0 = time.time()                 # the container is dead when the command returns
            ok = wait(lambda: load.served_by(node, t0), timeout=60, interval=0.05)
            back.append(round(ok - t0, 2) if ok else None)
            time.sleep(2)
    return {"kill_rate_rps": rate, "kill_requests": load.sent(), "kill_failed": len(load.failures),
            "kill_serving_again_s": back, "kill_serving_again_max_s": max(b for b in back if b)}


def bench_dead(rounds: int = 5, rate: float = 50, client_timeout: float = 2.0, window: float = 10.0,
               cpus: float = 0.5) -> dict:
    """One of three workers killed on its host (`docker kill`, not through the
    manager) under open-loop load whose client gives up after 2 s: failed
    requests and latency over the 10 s after each kill (issue 19, item 8).

    The workers are an app "dead" of the light image on pod medium, whose
    nodes have 0.5 CPU (light's are 0.25, and ``cpus`` cannot exceed a pod's
    node size): two survivors of 0.25 CPU do not carry 50 req/s on this
    machine even with no kill (bench/README.md), and that would measure the
    job's capacity, not what a dead worker costs."""
    image = next(a["image"] for a in cloud_json("app", "ls") if a["name"] == "light")
    cloud("app", "stop", "dead", check=False)
    cloud("app", "deploy", "dead", "--image", image, "--pod", "medium", "--port", "8000", "--replicas", "3",
          "--cpus", str(cpus), "--health-path", "/health", "--path", "/light/dead",   # the light job answers /light/...
          "--wait", "--timeout", "180")
    hosts = LAB.pods["medium"]
    rounds_out = []
    try:
        with OpenLoop("/light/dead", rate=rate, limit_s=rounds * 40 + 60, timeout=client_timeout) as load:
            time.sleep(3)
            for i in range(rounds):
                wait(lambda: len(nodes_answering("/light/dead", 30)) == 3, interval=0.2)
                host = next(h for h in hosts[i % len(hosts):] + hosts if containers(h, "dead", running_only=True))
                box = containers(host, "dead", running_only=True)[0]
                t0 = time.time()
                on(host, f"docker kill {box}")
                time.sleep(window + client_timeout + 1)
                got = load.window(t0, window)
                latencies = [lat for status, lat in got if status == 200]
                rounds_out.append({"host": host, "requests": len(got),
                                   "failed": sum(1 for status, _ in got if status != 200),
                                   "p50_ms": round(1000 * (percentile(latencies, 50) or 0)),
                                   "p99_ms": round(1000 * (percentile(latencies, 99) or 0)),
                                   "max_ms": round(1000 * max(latencies, default=0))})
    finally:
        cloud("app", "stop", "dead", check=False)
    return {"dead_rate_rps": rate, "dead_cpus": cpus, "dead_client_timeout_s": client_timeout,
            "dead_rounds": rounds_out, "dead_failed": sum(r["failed"] for r in rounds_out),
            "dead_requests": sum(r["requests"] for r in rounds_out),
            "dead_p99_max_ms": max(r["p99_ms"] for r in rounds_out)}


def bench_hang(rounds: int = 3) -> dict:
    """A worker's process SIGSTOPped: time until a new one answers for that node."""
    scale("light", 0)
    scale("light", 3)
    replaced = []
    with OpenLoop("/light", rate=20, limit_s=240) as load:
        time.sleep(2)
        for node in _nodes("light")[:rounds]:
            box = on(LIGHT, f"docker ps -q --filter label=simplecloud.node={node}").split()[0]
            on(LIGHT, f"docker exec {box} sh -c 'kill -STOP -1'")
            t0 = time.time()                 # stopped when the command returns
            ok = wait(lambda: not on(LIGHT, f"docker ps -q --filter id={box}").strip()
                      and load.served_by(node, t0), timeout=60, interval=0.1)
            replaced.append(round(load.served_by(node, t0) - t0, 2) if ok else None)
            time.sleep(2)
    return {"hang_replaced_s": replaced, "hang_requests": load.sent(), "hang_failed": len(load.failures)}


def bench_heavy(rounds: int = 3) -> dict:
    """Heavy (slow) GETs in flight on a worker that is killed: none may fail."""
    scale("heavy", 0)
    scale("heavy", 3)
    with OpenLoop("/heavy", rate=3, limit_s=240) as load:
        time.sleep(3)
        for node in _nodes("heavy")[:rounds]:
            cloud("node", "crash", node, "--pod", "heavy")
            wait(lambda: _serving("heavy", node), timeout=60, interval=0.2)
            time.sleep(2)
    scale("heavy", 0, wait_flag=False)
    return {"heavy_requests": load.sent(), "heavy_failed": len(load.failures),
            "heavy_p50_s": round(percentile([s[3] for s in load.samples], 50), 2)}


def bench_update(nodes: int = 20) -> dict:
    """`cloud app update` of the light app's image at 20 nodes under load."""
    # the first manager built the job images; simplecloud-push puts a copy in every manager's registry
    on(LAB.managers[0], f"docker tag {SWARM_IMAGE} light-v2 && simplecloud-push light-v2 simplecloud/light:v2")
    on(LIGHT, f"docker pull -q {SWARM_IMAGE}:v2 >/dev/null")
    scale("light", 0)
    scale("light", nodes)
    try:
        with OpenLoop("/light", rate=30, limit_s=400) as load:
            time.sleep(2)
            t0 = time.time()
            cloud("app", "update", "light", "--image", f"{SWARM_IMAGE}:v2", "--wait", "--timeout", "300")
            took = time.time() - t0
            time.sleep(2)
    finally:
        cloud("app", "update", "light", "--image", SWARM_IMAGE, "--wait", "--timeout", "300")
    return {"update_nodes": nodes, "update_s": round(took, 1), "update_requests": load.sent(),
            "update_failed": len(load.failures)}


def bench_frozen() -> dict:
    """medium's host frozen (`docker pause` of its machine): scaling light still works."""
    scale("light", 0)
    scale("medium", 1)
    t0 = time.time()
    scale("light", 4)
    normal = time.time() - t0
    scale("light", 0)
    subprocess.run(["docker", "pause", f"simplecloud-{MEDIUM}"], check=True)
    try:
        t0 = time.time()
        scale("light", 4)
        frozen = time.time() - t0
        reported = wait(lambda: not any(state and state["reachable"] for state in {
            p["name"]: p for p in cloud_json("pod", "ls")}["medium"]["host_states"].values()), timeout=30)
        t_reported = time.time() - t0
    finally:
        subprocess.run(["docker", "unpause", f"simplecloud-{MEDIUM}"], check=True)
    scale("medium", 0)
    return {"scale_light_0_to_4_s": round(normal, 2), "scale_light_0_to_4_with_medium_frozen_s": round(frozen, 2),
            "medium_reported_unreachable_after_s": round(t_reported, 1) if reported else None}


def bench_manager(rounds: int = 20) -> dict:
    """kill -9 of the leading manager's orchestrator at random moments while
    scaling; convergence after its restart (another manager leads meanwhile)."""
    rng = random.Random(6)
    scale("light", 0)
    results, problems = [], []
    for i in range(rounds):
        want = rng.randint(1, 8)
        cloud("app", "scale", "light", str(want))
        time.sleep(rng.uniform(0, 1.5))
        victim = leader()
        on(victim, "systemctl kill -s KILL simplecloud-manager")
        killed = time.time()
        wait(lambda: on(victim, "systemctl is-active simplecloud-manager", check=False).strip() == "active"
             and on(victim, "systemctl show -p MainPID --value simplecloud-manager").strip() != "0",
             timeout=30, interval=0.1)
        started = float(on(victim, "date +%s.%N -d \"$(systemctl show -p ExecMainStartTimestamp --value "
                                   "simplecloud-manager)\"").strip() or killed)

        def converged():
            try:
                (app,) = [a for a in cloud_json("app", "ls") if a["name"] == "light"]
            except SystemExit:             # the API is not up yet
                return False
            boxes = on(LIGHT, "docker ps -a --filter label=simplecloud.app=light "
                                    "--format '{{.State}} {{.Label \"simplecloud.node\"}}'").split("\n")
            boxes = [b.split() for b in boxes if b.strip()]
            return (app["replicas"] == want and app["serving"] == want and app["updating"] == 0
                    and len(boxes) == want and all(b[0] == "running" for b in boxes)
                    and len({b[1] for b in boxes}) == want) and time.time()
        done = wait(converged, timeout=60, interval=0.1)
        nodes = {n["name"] for n in cloud_json("node", "ls", "light")}
        boxes = [b.split() for b in on(LIGHT, "docker ps -a --filter label=simplecloud.app=light --format "
                                                    "'{{.Label \"simplecloud.node\"}}'").split("\n") if b.strip()]
        names = [b[0] for b in boxes]
        if len(names) != len(set(names)) or set(names) - nodes:
            problems.append({"round": i, "nodes": sorted(nodes), "containers": names})
        results.append(round(done - started, 2) if done else None)
    return {"manager_rounds": rounds, "converged_after_restart_s": results,
            "converged_max_s": max(r for r in results if r is not None) if any(results) else None,
            "not_converged": results.count(None), "duplicates_or_orphans": problems}


SCENARIOS = {"launch": bench_launch, "scale": bench_scale, "kill": bench_kill, "dead": bench_dead, "hang": bench_hang,
             "heavy": bench_heavy, "update": bench_update, "frozen": bench_frozen, "manager": bench_manager}


def scale_all_to_zero() -> None:
    for app in ("light", "medium", "heavy"):
        cloud("app", "scale", app, "0", check=False)


def main() -> int:
    return run_scenarios(__doc__, SCENARIOS, RESULTS, cleanup=scale_all_to_zero)


if __name__ == "__main__":
    raise SystemExit(main())
