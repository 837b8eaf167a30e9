#!/usr/bin/env python3
"""Autoscaling, measured from outside the lab the way a user works: the
`cloud` CLI and open-loop Poisson GETs through HAProxy on 127.0.0.1:8080.

Scenarios (each on the built-in `light` app, pod light):

  step     steady BASE req/s, then a 5× step: when are enough replicas
           serving, when is p95 back under its target? Then back to BASE:
           scaled in after the stabilization window, with 0 failed requests.
  fixed    the same step with a fixed replica count (no autoscaler — what
           Docker Swarm does): the yardstick, in the same run.
  steady   constant load for 5 minutes: how many replica changes (flapping)?
  demand   issue 23: the step with a target *above* what one node answers
           (measured first: 64 clients that wait for their answers, 10 s,
           one node; the target is a quarter more): when are the nodes the
           policy asks for serving, and how many requests fail?

    .venv/bin/python bench/autoscale_bench.py [step fixed steady demand]

Needs the lab (`make up`). Bounded: at most ~14 minutes and 100 req/s.
"""
from __future__ import annotations

import math
import sys
import threading
import time

from labkit import OpenLoop, cloud, cloud_json, get, percentile, wait

APP, PATH = "light", "/light"
BASE = 20.0                 # req/s before and after the step
STEP = 5                    # the step multiplies the offered load by this
TARGET_RPS = 10.0           # per node (a light node saturates near 25 req/s)
TOLERANCE = 0.1             # the policy's: within 10 % of the target is on target
P95_TARGET_MS = 250.0
WINDOW_S = 60               # scale-down stabilization window for the bench (default 300)


def serving(app: str = APP) -> int:
    return next(a for a in cloud_json("app", "ls") if a["name"] == app)["serving"]


def replicas(app: str = APP) -> int:
    return next(a for a in cloud_json("app", "ls") if a["name"] == app)["replicas"]


def autoscale_events(since: float) -> list[dict]:
    return [e for e in cloud_json("events", "--limit", "200")
            if e["kind"] == "autoscale" and e["time"] >= since]


def reset(replica_count: int) -> None:
    cloud("app", "autoscale", APP, "--off", check=False)
    cloud("app", "scale", APP, str(replica_count), "--wait", "--timeout", "120")


def p95_settled_at(loads: list[OpenLoop], after: float, target_ms: float, bucket: float = 2.0) -> float | None:
    """First time (s after ``after``) from which every 2 s bucket's p95 stays under the target."""
    samples = sorted((s, lat) for load in loads for s, status, _, lat in load.samples if s >= after)
    if not samples:
        return None
    end = samples[-1][0]
    buckets = []
    t = after
    while t < end:
        lat = [latency * 1000 for s, latency in samples if t <= s < t + bucket]
        buckets.append((t, percentile(lat, 95) if lat else None))
        t += bucket
    settled = None
    for t, p95 in buckets:
        if p95 is not None and p95 > target_ms:
            settled = None
        elif settled is None:
            settled = t
    return None if settled is None else settled - after


def _first_scale_in(t_drop: float) -> float | None:
    """Seconds from the drop to the first scale-in decision (None: none)."""
    downs = [e["time"] for e in autoscale_events(t_drop)
             if "→" in e["message"] and "<" in e["message"].split(":", 2)[-1]]
    return round(min(downs) - t_drop, 1) if downs else None


def capacity(seconds: float = 10.0, clients: int = 64) -> float:
    """Answers per second of one light node: ``clients`` that each send their
    next GET when the last one is answered, for ``seconds``."""
    reset(1)
    answered, end = [], time.time() + seconds

    def client() -> None:
        while time.time() < end:
            if get(PATH)[0] == 200:
                answered.append(time.time())

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len([t for t in answered if t <= end]) / seconds


def demand() -> dict:
    """The step (BASE, below one node's capacity, to 5 × BASE, far above it)
    with a target a quarter above one node's capacity (issue 23)."""
    one_node = capacity()
    target = round(one_node * 1.25, 1)
    return {**step(True, target=target, name="demand"), "one_node_rps": round(one_node, 1)}


def step(autoscaled: bool, base: float = BASE, target: float = TARGET_RPS, name: str = "") -> dict:
    name = name or ("step" if autoscaled else "fixed")
    start_replicas = math.ceil(base / target)
    reset(start_replicas)
    t_start = time.time()
    if autoscaled:
        cloud("app", "autoscale", APP, "--min", "1", "--max", "12", "--rps", str(target),
              "--window", str(WINDOW_S))
    needed = math.ceil(base * STEP / (target * (1 + TOLERANCE)))   # on target, for the policy
    with OpenLoop(PATH, base, limit_s=400, workers=128, seed=2) as base_load:
        time.sleep(20)                                          # steady state
        t_step = time.time()
        with OpenLoop(PATH, base * (STEP - 1), limit_s=90, workers=256, seed=3) as extra:
            enough = wait(lambda: serving() >= needed and time.time(), timeout=60, interval=0.5)
            time.sleep(max(0.0, 60 - (time.time() - t_step)))   # 60 s of the step in all
        t_drop = time.time()
        time.sleep(WINDOW_S + 30 if autoscaled else 30)         # the window, then some
        after_drop = replicas()
    loads = [base_load, extra]
    failed = base_load.failures + extra.failures
    sent = base_load.sent() + extra.sent()
    result = {
        "scenario": name, "target_rps": target, "base_rps": base, "step_rps": base * STEP, "needed": needed,
        "enough_serving_s": round(enough - t_step, 1) if enough else None,
        "p95_under_target_s": p95_settled_at(loads, t_step, P95_TARGET_MS),
        "p95_during_step_ms": round(percentile([lat * 1000 for s, st, _, lat in extra.samples
                                                if t_step + 10 <= s], 95) or 0, 1),
        "first_scale_in_after_drop_s": _first_scale_in(t_drop),
        "replicas_window_after_drop": after_drop,
        "sent": sent, "failed": len(failed), "failed_percent": round(100 * len(failed) / sent, 2) if sent else None,
        "decisions": [e["message"] for e in autoscale_events(t_start)][:12],
    }
    if result["p95_under_target_s"] is not None:
        result["p95_under_target_s"] = round(result["p95_under_target_s"], 1)
    return result


def steady(minutes: float = 5.0, rate: float = 20.0) -> dict:
    reset(math.ceil(rate / TARGET_RPS))
    cloud("app", "autoscale", APP, "--min", "1", "--max", "12", "--rps", str(TARGET_RPS))
    with OpenLoop(PATH, rate, limit_s=minutes * 60 + 30, seed=4) as load:
        time.sleep(30)                                          # let it settle first
        t0 = time.time()
        time.sleep(minutes * 60)
    changes = [e["message"] for e in autoscale_events(t0)]
    return {"scenario": "steady", "rate": rate, "minutes": minutes, "changes": len(changes),
            "messages": changes, "sent": load.sent(), "failed": len(load.failures)}


def main(argv: list[str]) -> int:
    chosen = argv or ["step", "fixed", "steady"]
    runs = {"step": lambda: step(True), "fixed": lambda: step(False), "steady": steady, "demand": demand}
    try:
        for name in chosen:
            result = runs[name]()
            print(" ".join(f"{k}={v}" for k, v in result.items() if k not in ("decisions", "messages")))
            for line in result.get("decisions", []) + result.get("messages", []):
                print(f"    {line}")
            sys.stdout.flush()
    finally:
        reset(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
