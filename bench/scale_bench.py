#!/usr/bin/env python3
"""Scale benchmark for the running lab (`make up` first). Not a test: it prints figures.

1. `cloud app scale light 0`, wait until 127.0.0.1:8080/light answers 503.
2. scale-out: time `cloud app scale light 20` until all 20 nodes have answered
   through HAProxy (bursts of requests); time to the first answer and to all 20.
3. scale-in: while a background loop sends requests to /light (THREADS threads,
   RATE requests/s each, at most MAX_LOOP seconds), time `cloud app scale light 1`
   until only one node answers and `cloud node ls light --json` lists one node;
   count the requests sent and failed (non-200 or no answer) meanwhile.
4. scale light back to 0.

Prints a table and writes bench/results/scale.json. Only talks to 127.0.0.1
(the `cloud` CLI, run in the checkout, finds the API address and token in
.simplecloud/).

    make up && .venv/bin/python bench/scale_bench.py
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
CLOUD = ROOT / ".venv" / "bin" / "cloud"
URL = "http://127.0.0.1:8080/light"
RESULTS = ROOT / "bench" / "results" / "scale.json"

N_OUT = 20            # scale-out target (the light pod's capacity)
N_IN = 1              # scale-in target
THREADS = 3           # background request loop during scale-in
RATE = 5.0            # requests per second per thread
MAX_LOOP = 300        # the background loop never runs longer than this (s)
SETTLE = 5            # keep the loop running this long after scale-in is observed (s)
TIMEOUT = 240         # bound on every wait (s)
BURST = 40            # requests per polling burst


def cloud(*args: str) -> str:
    run = subprocess.run([str(CLOUD), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        sys.exit(f"cloud {' '.join(args)} failed (exit {run.returncode}): {run.stderr.strip()}")
    return run.stdout


def get(session: requests.Session | None = None) -> tuple[int, str | None, str]:
    """(status, node or None, detail); status 0 when no HTTP answer came."""
    try:
        r = (session or requests).get(URL, headers={"Connection": "close"}, timeout=10)
    except requests.RequestException as exc:
        return 0, None, type(exc).__name__ + ": " + str(exc)[:200]
    try:
        node = r.json().get("node") if r.status_code == 200 else None
    except ValueError:
        node = None
    return r.status_code, node, "" if r.status_code == 200 else r.text.strip()[:200]


def burst(pool: ThreadPoolExecutor, n: int = BURST) -> list[tuple[int, str | None, str]]:
    return list(pool.map(lambda _: get(), range(n)))


def wait(predicate, timeout: float = TIMEOUT, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


class Loop:
    """Background request loop: THREADS threads, RATE req/s each, bounded by MAX_LOOP."""

    def __init__(self):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.records: list[tuple[float, int, str | None, str]] = []   # (t, status, node, detail)
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(THREADS)]
        self.t0 = 0.0

    def _run(self):
        end = time.monotonic() + MAX_LOOP
        while not self.stop.is_set() and time.monotonic() < end:
            start = time.monotonic()
            status, node, detail = get()
            with self.lock:
                self.records.append((start - self.t0, status, node, detail))
            self.stop.wait(max(0.0, 1.0 / RATE - (time.monotonic() - start)))

    def start(self):
        self.t0 = time.monotonic()
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)

    def since(self, t: float) -> list[tuple[float, int, str | None, str]]:
        with self.lock:
            return [r for r in self.records if r[0] >= t]


def scale_to_zero(pool) -> float:
    t0 = time.monotonic()
    cloud("app", "scale", "light", "0")
    if not wait(lambda: all(s == 503 for s, _, _ in burst(pool, 10))):
        sys.exit("/light is still served after scaling light to 0")
    return time.monotonic() - t0


def scale_out(pool) -> dict:
    seen: set[str] = set()
    t_first = None
    bursts = 0
    t0 = time.monotonic()
    cloud("app", "scale", "light", str(N_OUT))
    t_cli = time.monotonic() - t0

    def all_seen():
        nonlocal t_first, bursts
        bursts += 1
        nodes = {node for status, node, _ in burst(pool) if status == 200 and node}
        if nodes and t_first is None:
            t_first = time.monotonic() - t0
        seen.update(nodes)
        return len(seen) >= N_OUT
    ok = wait(all_seen, interval=0.3)
    return {"target": N_OUT, "cli_s": round(t_cli, 2),
            "first_answer_s": round(t_first, 2) if t_first is not None else None,
            "all_answer_s": round(time.monotonic() - t0, 2) if ok else None,
            "distinct_nodes": len(seen), "bursts": bursts, "completed": ok}


def scale_in(pool) -> dict:
    loop = Loop()
    loop.start()
    time.sleep(2)                                   # a baseline with 20 nodes answering
    t_start = time.monotonic() - loop.t0
    cloud("app", "scale", "light", str(N_IN))
    t_cli = time.monotonic() - loop.t0 - t_start
    remaining = {n["name"] for n in json.loads(cloud("node", "ls", "light", "--json"))}
    t_listed = time.monotonic() - loop.t0 - t_start if len(remaining) == N_IN else None

    def listed():
        nonlocal t_listed
        if t_listed is None and len(json.loads(cloud("node", "ls", "light", "--json"))) == N_IN:
            t_listed = time.monotonic() - loop.t0 - t_start
        return t_listed is not None
    t_single = None

    def single():
        nonlocal t_single
        answers = burst(pool, 20)
        nodes = {node for status, node, _ in answers if status == 200 and node}
        if all(s == 200 for s, _, _ in answers) and nodes == remaining:
            t_single = time.monotonic() - loop.t0 - t_start
            return True
        return False
    ok = wait(lambda: listed() and (t_single is not None or single()), interval=0.3)
    time.sleep(SETTLE)
    loop.finish()

    during = loop.since(t_start)
    failed = [r for r in during if r[1] != 200]
    return {"target": N_IN, "remaining": sorted(remaining), "cli_s": round(t_cli, 2),
            "listed_one_s": round(t_listed, 2) if t_listed is not None else None,
            "single_node_answers_s": round(t_single, 2) if t_single is not None else None,
            "completed": ok,
            "loop": {"threads": THREADS, "rate_per_thread": RATE,
                     "requests_total": len(loop.records), "requests_during_scale_in": len(during),
                     "failed_during_scale_in": len(failed),
                     "failed_by_status": dict(Counter(str(r[1]) for r in failed)),
                     "failures": [{"t_s": round(r[0] - t_start, 3), "status": r[1], "detail": r[3]}
                                  for r in failed[:50]],
                     "failed_before_scale_in": sum(1 for r in loop.records if r[0] < t_start and r[1] != 200)}}


def main() -> int:
    cloud("init")
    results = {"url": URL, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    with ThreadPoolExecutor(8) as pool:
        try:
            results["to_zero_s"] = round(scale_to_zero(pool), 2)
            results["scale_out"] = scale_out(pool)
            results["scale_in"] = scale_in(pool)
        finally:
            subprocess.run([str(CLOUD), "app", "scale", "light", "0"], cwd=ROOT, capture_output=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")

    so, si = results["scale_out"], results["scale_in"]
    lp = si["loop"]
    rows = [
        ("scale light 0 → /light 503", f"{results['to_zero_s']} s"),
        (f"scale-out 0→{N_OUT}: CLI returned", f"{so['cli_s']} s"),
        ("  first answer through HAProxy", f"{so['first_answer_s']} s"),
        (f"  all {N_OUT} nodes answered", f"{so['all_answer_s']} s ({so['distinct_nodes']} distinct)"),
        (f"scale-in {N_OUT}→{N_IN}: CLI returned", f"{si['cli_s']} s"),
        ("  node ls shows 1 node", f"{si['listed_one_s']} s"),
        ("  only 1 node answers", f"{si['single_node_answers_s']} s"),
        ("  loop requests (total / during)", f"{lp['requests_total']} / {lp['requests_during_scale_in']}"),
        ("  failed during scale-in", f"{lp['failed_during_scale_in']} {lp['failed_by_status'] or ''}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  value")
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    for f in lp["failures"][:10]:
        print(f"  failure at +{f['t_s']} s: {f['status']} {f['detail']}")
    print(f"written: {RESULTS.relative_to(ROOT)}")
    return 0 if so["completed"] and si["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
