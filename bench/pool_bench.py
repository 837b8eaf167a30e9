#!/usr/bin/env python3
"""Pools of hosts benchmark (issue 22) for the running lab (`make up` first).
Not a test: it prints figures and writes bench/results/pool.json.

Measured from outside, the way a user works: the `cloud` CLI, HTTP through
the virtual IP, `docker kill`/`docker start` of the lab's machine
containers, and (for Docker Swarm) commands on the lab machines over SSH.

    .venv/bin/python bench/pool_bench.py                  # every scenario (~25 min)
    .venv/bin/python bench/pool_bench.py --only kill,drain
    .venv/bin/python bench/pool_bench.py --only kill --rounds 5

Scenarios:
  kill   per round: a Docker Swarm service of 6 replicas over light's two engines
         (simplecloud's light at 0) and the second engine's machine killed, then
         simplecloud alone: 6 light nodes over the same two hosts under 50 req/s,
         the second host's machine killed, then started again (3 rounds).
  drain  `cloud host drain` of light's second host under 25 req/s.
  spare  an autoscaled app whose pod (one host, 2 nodes) is full: a spare host
         joins, and is given back once the load is gone (spare_return_window).
  warm   0 → 20 light nodes: a Swarm service over light's two engines scaled from 0,
         simplecloud without a warm pool, and with a warm pool of 20 (issue 23).
  zero   the first request to light autoscaled to zero, with a warm (paused) node and
         without one.
"""
from __future__ import annotations

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
    live_restore,
    nodes_answering,
    on,
    run_scenarios,
    wait,
)

RESULTS = ROOT / "bench" / "results" / "pool.json"
LIGHT_1, LIGHT_2 = LAB.pods["light"][:2]
SPARE = LAB.spares[0]
SWARM_IMAGE = "registry:5050/simplecloud/light"
SWARM = "label=com.docker.swarm.service.name=poolbench"


def scale(app: str, n: int) -> None:
    cloud("app", "scale", app, str(n), "--wait", "--timeout", "240")


def nodes(app: str) -> list[dict]:
    return [n for n in cloud_json("node", "ls") if n["app"] == app]


def serving_on(app: str, count: int, hosts: set[str]) -> bool:
    mine = nodes(app)
    return (len(mine) == count and all(n["host"] in hosts for n in mine)
            and all((n.get("observed") or {}).get("phase") == "serving" for n in mine))


def machine(action: str, host: str) -> None:
    subprocess.run(["docker", action, f"simplecloud-{host}"], check=True, capture_output=True, timeout=120)


def reachable(host: str) -> bool:
    return any(h["name"] == host and (h.get("link") or {}).get("reachable") for h in cloud_json("host", "ls"))


def failed_after(load: OpenLoop, t: float) -> int:
    return sum(1 for s, status, _, _ in load.samples if s >= t and status != 200)


# ---------------------------------------------------------------- Docker Swarm over light's two engines

def swarm_up(replicas: int) -> None:
    """A swarm of light's two engines (live-restore off: Swarm refuses it) and a service of ``replicas``."""
    for host in (LIGHT_1, LIGHT_2):
        live_restore(host, False)
    on(LIGHT_1, f"docker swarm init --advertise-addr {LAB.address(LIGHT_1)} >/dev/null")
    token = on(LIGHT_1, "docker swarm join-token -q worker").strip()
    on(LIGHT_2, f"docker swarm join --token {token} {LAB.address(LIGHT_1)}:2377 >/dev/null")
    on(LIGHT_1, f"docker service create --detach --no-resolve-image --name poolbench --replicas {replicas} "
                f"--limit-cpu 0.25 --limit-memory 128M {SWARM_IMAGE} >/dev/null")
    if not wait(lambda: swarm_running() == {LIGHT_1: replicas // 2, LIGHT_2: replicas - replicas // 2}, 120, 0.5):
        raise RuntimeError(f"the swarm service did not spread over both hosts: {swarm_running()}")


def swarm_running(hosts: tuple[str, ...] = (LIGHT_1, LIGHT_2)) -> dict[str, int]:
    out = {}
    for host in hosts:
        try:
            out[host] = len(on(host, f"docker ps -q --filter {SWARM}", timeout=10).split())
        except (RuntimeError, subprocess.TimeoutExpired):
            out[host] = 0
    return out


def swarm_down() -> None:
    on(LIGHT_1, "docker service rm poolbench >/dev/null 2>&1", check=False)
    for host in (LIGHT_2, LIGHT_1):
        on(host, "docker swarm leave --force >/dev/null 2>&1", check=False)
        wait(lambda h=host: not on(h, f"docker ps -aq --filter {SWARM}").split(), 60, 0.5)
        live_restore(host, True)
    wait(lambda: reachable(LIGHT_1) and reachable(LIGHT_2), 90, 1)


# ---------------------------------------------------------------- scenarios

def swarm_kill(replicas: int) -> dict:
    """Swarm alone on light's two engines (simplecloud's light at 0): a service of ``replicas``,
    the second engine's machine killed; seconds until the survivor runs them all again."""
    try:
        swarm_up(replicas)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        return {"swarm": f"not measured: {exc}"}
    try:
        killed = time.time()
        machine("kill", LIGHT_2)
        back = wait(lambda: swarm_running((LIGHT_1,))[LIGHT_1] == replicas, 180, 0.5)
        return {"swarm_replicas_running_again_s": round(time.time() - killed, 1) if back else None}
    finally:
        machine("start", LIGHT_2)
        wait(lambda: reachable(LIGHT_2), 180, 1)
        swarm_down()


def kill_once(rate: float, replicas: int) -> dict:
    """simplecloud alone: ``replicas`` light nodes over light's two hosts under ``rate`` req/s,
    the second host's machine killed, started again 30 s later."""
    scale("light", replicas)
    placed = sorted(n["host"] for n in nodes("light"))
    with OpenLoop("/light", rate=rate, limit_s=240, timeout=2, seed=22) as load:
        time.sleep(10)
        killed = time.time()
        machine("kill", LIGHT_2)
        moved = wait(lambda: serving_on("light", replicas, {LIGHT_1}), 120, 0.2)
        t_moved = time.time() - killed if moved else None
        time.sleep(max(0.0, killed + 30 - time.time()))
        restarted = time.time()
        machine("start", LIGHT_2)
        wait(lambda: reachable(LIGHT_2), 180, 1)
        stale_gone = wait(lambda: not containers(LIGHT_2, "light"), 120, 0.5)
        time.sleep(10)
    during = [s for s in load.samples if killed - 10 <= s[0] < restarted]
    after = [s for s in load.samples if s[0] >= restarted]
    boxes = containers(LIGHT_1, "light", running_only=True) + containers(LIGHT_2, "light", running_only=True)
    names = [n["name"] for n in nodes("light")]
    return {"placed_before": placed, "requests_around_kill": len(during),
            "succeeded_pct": round(100 * sum(1 for s in during if s[1] == 200) / max(1, len(during)), 2),
            "failed_in_first_3s": failed_after(load, killed) - failed_after(load, killed + 3),
            "failed_from_3s_after_kill": failed_after(load, killed + 3) - failed_after(load, restarted),
            "all_serving_on_survivor_s": round(t_moved, 1) if t_moved is not None else None,
            "requests_while_host_returned": len(after),
            "failed_while_host_returned": sum(1 for s in after if s[1] != 200),
            "stale_containers_removed": bool(stale_gone),
            "containers_per_node": len(boxes) / max(1, len(names))}


def bench_kill(rate: float = 50, replicas: int = 6, rounds: int = 3) -> dict:
    """One of light's two hosts killed: per round, Docker Swarm alone on the two engines, then
    simplecloud alone (each side's recovery has the machine to itself; grace 10 s)."""
    out: dict = {"rate": rate, "replicas": replicas, "grace_s": 10.0, "rounds": []}
    try:
        for _ in range(rounds):
            scale("light", 0)
            r = swarm_kill(replicas)
            r.update(kill_once(rate, replicas))
            out["rounds"].append(r)
            print(f"  kill round: {r}", flush=True)
    finally:
        if not reachable(LIGHT_2):
            machine("start", LIGHT_2)
        scale("light", 0)
    for key in ("succeeded_pct", "all_serving_on_survivor_s", "swarm_replicas_running_again_s"):
        values = [x[key] for x in out["rounds"] if isinstance(x.get(key), (int, float))]
        out[f"{key}_median"] = round(statistics.median(values), 2) if values else None
    return out


def bench_drain(rate: float = 25, replicas: int = 6) -> dict:
    scale("light", replicas)
    try:
        with OpenLoop("/light", rate=rate, limit_s=180, timeout=5, seed=23) as load:
            time.sleep(5)
            t0 = time.time()
            cloud("host", "drain", LIGHT_2)
            done = wait(lambda: serving_on("light", replicas, {LIGHT_1}) and not containers(LIGHT_2, "light"),
                        150, 0.5)
            t_drained = time.time() - t0
            time.sleep(5)
        return {"rate": rate, "requests": len(load.samples), "failed": len(load.failures),
                "drained_s": round(t_drained, 1) if done else None}
    finally:
        cloud("host", "add", LIGHT_2, "light", check=False)     # a draining host of the pod takes nodes again
        scale("light", 0)


def bench_spare(rate: float = 20, window: float = 420) -> dict:
    image = next(a["image"] for a in cloud_json("app", "ls") if a["name"] == "light")
    cloud("pod", "register", "burst", "--host", LIGHT_1, "--max-nodes", "2", "--cpus", "0.25", "--memory", "128")
    cloud("app", "deploy", "burst", "--image", image, "--pod", "burst", "--port", "8000", "--replicas", "1",
          "--health-path", "/health", "--path", "/light/burst")   # the light job answers /light/...
    try:
        cloud("app", "autoscale", "burst", "--min", "1", "--max", "4", "--rps", "5", "--window", "30")
        with OpenLoop("/light/burst", rate=rate, limit_s=240, timeout=5, seed=24) as load:
            t0 = time.time()
            grown = wait(lambda: SPARE in {h for p in cloud_json("pod", "ls") if p["name"] == "burst"
                                           for h in p["hosts"]}, 180, 0.5)
            t_grown = time.time() - t0 if grown else None
            full = wait(lambda: serving_on("burst", 4, {LIGHT_1, SPARE}), 180, 0.5)
            t_full = time.time() - t0 if full else None
        t_quiet = time.time()
        returned = wait(lambda: SPARE not in {h for p in cloud_json("pod", "ls") if p["name"] == "burst"
                                              for h in p["hosts"]}, window, 2)
        return {"rate": rate, "failed": len(load.failures), "requests": len(load.samples),
                "spare_joined_s": round(t_grown, 1) if t_grown else None,
                "four_serving_s": round(t_full, 1) if t_full else None,
                "spare_returned_after_load_s": round(time.time() - t_quiet, 1) if returned else None}
    finally:
        cloud("app", "stop", "burst", check=False)
        cloud("host", "rm", SPARE, "--pod", "burst", check=False)
        cloud("pod", "rm", "burst", check=False)


def light_app() -> dict:
    return next(a for a in cloud_json("app", "ls") if a["name"] == "light")


def frozen(app: str) -> int:
    """Warm nodes of ``app`` paused while it is at zero (`cloud node ls`: phase "warm (paused)")."""
    return sum(1 for n in nodes(app) if (n.get("observed") or {}).get("phase") == "warm"
               and (n.get("observed") or {}).get("container") == "paused")


def scale_out_timed(replicas: int) -> dict:
    """`cloud app scale light N --wait` from 0: seconds until it returned (every node passed
    HAProxy's check), then until ``replicas`` distinct nodes had answered through the entry point."""
    t0 = time.time()
    cloud("app", "scale", "light", str(replicas), "--wait", "--timeout", "240")
    waited = time.time() - t0
    seen: set[str] = set()
    wait(lambda: seen.update(nodes_answering("/light", 40)) or len(seen) >= replicas, 60, 0)
    return {"scale_wait_s": round(waited, 2), "all_answered_s": round(time.time() - t0, 2),
            "distinct_answered": len(seen)}


def bench_warm(replicas: int = 20, rounds: int = 2) -> dict:
    """0 → ``replicas`` light nodes: Docker Swarm (a service over light's two engines, scaled from 0
    until all run), simplecloud without a warm pool, and with a warm pool of ``replicas`` (paused
    while the app is at zero: promoted = unpaused and enabled in HAProxy), alternating."""
    out: dict = {"rounds": []}
    swarm_up(0)
    try:
        for _ in range(rounds):
            r: dict = {}
            t0 = time.time()
            on(LIGHT_1, f"docker service scale --detach poolbench={replicas} >/dev/null")
            up = wait(lambda: sum(swarm_running().values()) == replicas, 120, 0.2)
            r["swarm_running_s"] = round(time.time() - t0, 2) if up else None
            on(LIGHT_1, "docker service scale --detach poolbench=0 >/dev/null")
            wait(lambda: sum(swarm_running().values()) == 0, 120, 0.5)
            scale("light", 0)
            r.update({f"cold_{k}": v for k, v in scale_out_timed(replicas).items()})
            scale("light", 0)
            cloud("app", "update", "light", "--warm", str(replicas))
            r["warm_pool_frozen"] = bool(wait(lambda: frozen("light") == replicas, 240, 1))
            r.update({f"warm_{k}": v for k, v in scale_out_timed(replicas).items()})
            cloud("app", "update", "light", "--warm", "0")
            scale("light", 0)
            out["rounds"].append(r)
            print(f"  warm round: {r}", flush=True)
    finally:
        cloud("app", "update", "light", "--warm", "0", check=False)
        scale("light", 0)
        swarm_down()

    def med(key: str) -> float | None:
        values = [x[key] for x in out["rounds"] if x.get(key) is not None]
        return round(statistics.median(values), 2) if values else None
    swarm = med("swarm_running_s")
    for kind in ("cold", "warm"):
        mine = med(f"{kind}_all_answered_s")
        out[f"{kind}_all_answered_vs_swarm_running"] = round(mine / swarm, 2) if mine and swarm else None
        waited = med(f"{kind}_scale_wait_s")
        out[f"{kind}_scale_wait_vs_swarm_running"] = round(waited / swarm, 2) if waited and swarm else None
    return out


def bench_zero(rounds: int = 3) -> dict:
    """The first request to light at zero (autoscaled, --idle-to-zero), held by the waker:
    with a warm pool of 1 (a paused node is promoted) and without one (a node is started)."""
    out: dict = {}
    try:
        for warm in (1, 0):
            cloud("app", "update", "light", "--warm", str(warm))
            firsts = []
            for _ in range(rounds):
                # from one node, so the autoscaler itself takes light to zero (after its haproxy.cfg
                # has the waker), as a user's idle app gets there
                scale("light", 1)
                cloud("app", "autoscale", "light", "--min", "0", "--max", "2", "--rps", "10", "--idle-to-zero", "10")
                wait(lambda: light_app()["replicas"] == 0 and frozen("light") == warm, 120, 1)
                t0 = time.time()
                status, _ = get("/light", timeout=60)
                firsts.append(round(time.time() - t0, 3) if status == 200 else None)
                cloud("app", "autoscale", "light", "--off")
                scale("light", 0)
            out[f"warm_{warm}_first_request_s"] = firsts
    finally:
        cloud("app", "autoscale", "light", "--off", check=False)
        cloud("app", "update", "light", "--warm", "0", check=False)
        scale("light", 0)
    return out


SCENARIOS = {"kill": bench_kill, "drain": bench_drain, "spare": bench_spare, "warm": bench_warm, "zero": bench_zero}


def main() -> int:
    return run_scenarios(__doc__, SCENARIOS, RESULTS)


if __name__ == "__main__":
    raise SystemExit(main())
