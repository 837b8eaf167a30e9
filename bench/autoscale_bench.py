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

    .venv/bin/python bench/autoscale_bench.py [step fixed steady]

Needs the lab (`make up`). Bounded: at most ~14 minutes and 100 req/s.
"""
from __future__ import annotations

import math
import sys
import time

from labkit import OpenLoop, cloud, cloud_json, percentile, wait

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


def step(autoscaled: bool) -> dict:
    name = "step" if autoscaled else "fixed"
    start_replicas = math.ceil(BASE / TARGET_RPS)
    reset(start_replicas)
    t_start = time.time()
    if autoscaled:
        cloud("app", "autoscale", APP, "--min", "1", "--max", "12", "--rps", str(TARGET_RPS),
              "--window", str(WINDOW_S))
    needed = math.ceil(BASE * STEP / (TARGET_RPS * (1 + TOLERANCE)))   # on target, for the policy
    with OpenLoop(PATH, BASE, limit_s=400, workers=128, seed=2) as base:
        time.sleep(20)                                          # steady state
        t_step = time.time()
        with OpenLoop(PATH, BASE * (STEP - 1), limit_s=90, workers=256, seed=3) as extra:
            enough = wait(lambda: serving() >= needed and time.time(), timeout=60, interval=0.5)
            time.sleep(max(0.0, 60 - (time.time() - t_step)))   # 60 s of the step in all
        t_drop = time.time()
        time.sleep(WINDOW_S + 30 if autoscaled else 30)         # the window, then some
        after_drop = replicas()
    loads = [base, extra]
    failed = base.failures + extra.failures
    sent = base.sent() + extra.sent()
    result = {
        "scenario": name, "base_rps": BASE, "step_rps": BASE * STEP, "needed": needed,
        "enough_serving_s": round(enough - t_step, 1) if enough else None,
        "p95_under_target_s": p95_settled_at(loads, t_step, P95_TARGET_MS),
        "p95_during_step_ms": round(percentile([lat * 1000 for s, st, _, lat in extra.samples
                                                if t_step + 10 <= s], 95) or 0, 1),
        "first_scale_in_after_drop_s": _first_scale_in(t_drop),
        "replicas_window_after_drop": after_drop,
        "sent": sent, "failed": len(failed),
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
    runs = {"step": lambda: step(True), "fixed": lambda: step(False), "steady": steady}
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
