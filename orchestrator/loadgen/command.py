"""``cloud bench``: check the arguments, run the load (or the balance
comparison), print the summary, write --out. ``orchestrator.cli`` parses the
arguments and calls ``bench(client, args)``; ``UsageError`` is exit 2,
``BenchError`` exit 1, both one line.

The API is asked only for the nodes-serving plot (``--out``) and for
``--compare-balance``; a plain run needs nothing but HAProxy.
"""
from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path

from orchestrator.loadgen import balance, plots, report
from orchestrator.loadgen.cluster import BenchError, ServingPoller, find_app
from orchestrator.loadgen.generator import Load, Target, run_load

MAX_ARRIVALS = 10_000_000


class UsageError(BenchError):
    """Bad arguments (exit 2)."""


def check(a, allowed_balance) -> tuple[Target, list[str] | None]:
    """The target and the algorithms to compare; UsageError on bad arguments."""
    for name, value in (("--rate", a.rate), ("--duration", a.duration), ("--timeout", a.timeout),
                        ("--max-lag", a.max_lag)):
        if not value > 0 or value != value or value == float("inf"):
            raise UsageError(f"{name} must be a finite number above 0, not {value:g}")
    for name, value in (("--procs", a.procs), ("--connections", a.connections)):
        if value is not None and value < 1:
            raise UsageError(f"{name} must be 1 or more, not {value}")
    if a.rate * a.duration > MAX_ARRIVALS:
        raise UsageError(f"--rate × --duration is at most {MAX_ARRIVALS:,} requests per run "
                         f"(every one is kept for the report), not {a.rate * a.duration:,.0f}")
    try:
        target = Target.of(a.url, a.path, a.host)
        algos = balance.parse_algorithms(a.compare_balance, allowed_balance) if a.compare_balance else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if algos and not (a.path or a.host or a.app):
        raise UsageError("--compare-balance needs the app: give --path, --host or --app")
    return target, algos


def _progress(text: str) -> None:
    sys.stderr.write(f"bench: {text}\n")
    sys.stderr.flush()


def _progress_counts(elapsed, arrivals, sent, answered, errors) -> None:
    _progress(f"{elapsed:5.1f} s  arrivals {arrivals}  sent {sent}  answered {answered}  errors {errors}")


def measure(load: Load, procs: int, out: Path | None, poller: ServingPoller | None) -> dict:
    """One run of ``load``: the summary, and --out's files."""
    if poller is not None:
        with poller:
            run = run_load(load, procs, _progress_counts)
    else:
        run = run_load(load, procs, _progress_counts)
    t = load.target
    summary = report.summarize(
        run.books, rate=load.rate, duration=load.duration, elapsed=run.elapsed, procs=procs,
        connections=load.connections, started_at=run.started_at, interrupted=run.interrupted,
        target={"url": f"http://{t.host}:{t.port}", "path": t.path,
                "host": None if t.host_header in (t.host, f"{t.host}:{t.port}") else t.host_header})
    summary["seed"] = load.seed
    summary["failures"] = run.failures
    serving = [(when, n) for when, n in poller.points] if poller is not None else None
    summary["nodes_serving"] = {
        "source": "api" if poller is not None else "answers",
        "app": poller.app if poller is not None else None,
        "points": [[round(when - run.started_at, 3), n] for when, n in serving or []]}
    if out is not None:
        report.write(out, summary, run.books)
        plots.run_plots(out, run.books, summary, serving)
    return summary


def _app_or_none(client, a) -> tuple[dict | None, str]:
    try:
        return find_app(client, a.path, a.host, a.app), ""
    except Exception as exc:  # noqa: BLE001 - only the nodes plot needs it
        return None, str(exc)


def bench(client, a, allowed_balance) -> tuple[dict, str]:
    target, algos = check(a, allowed_balance)
    out = Path(a.out) if a.out else None
    if out is not None:
        plots.require()                                  # matplotlib missing: say so before the load
    procs = a.procs or _cpus()
    seed = a.seed if a.seed is not None else random.randrange(1, 2**31)
    load = Load(target, a.rate, a.duration, a.connections, a.timeout, a.max_lag, seed)
    if algos:
        return _compare(client, a, load, procs, algos, out)
    app, why = _app_or_none(client, a) if (out is not None or a.app) else (None, "")
    if why and a.app:
        raise BenchError(why)
    if why:
        _progress(f"nodes serving not polled from the API ({why}); the plot counts the nodes answering")
    poller = ServingPoller(client, app["name"]) if app else None
    summary = measure(load, procs, out, poller)
    text = report.text(summary)
    if summary["failures"]:
        text += "\n" + "\n".join(f"WARNING: {f}" for f in summary["failures"])
    if out is not None:
        text += f"\nwritten to {out}/: results.json samples.csv latency.png throughput.png nodes.png"
    return summary, text


def _compare(client, a, load: Load, procs: int, algos: list[str], out: Path | None) -> tuple[dict, str]:
    app = find_app(client, a.path, a.host, a.app)
    name, original = app["name"], app.get("balance") or "roundrobin"
    _progress(f"comparing {', '.join(algos)} on app '{name}' (balance now {original}), "
              f"{load.rate:g}/s for {load.duration:g} s each, seed {load.seed}")

    def one(algo: str) -> dict:
        return measure(load, procs, out / algo if out else None, ServingPoller(client, name))

    summaries, interrupted, warnings = balance.compare(client, name, original, algos, one, _progress,
                                                       a.reload_timeout)
    data = {"app": name, "original_balance": original, "seed": load.seed, "interrupted": interrupted,
            "results": summaries, "warnings": warnings, "time": time.time()}
    text = balance.report_text(summaries, interrupted, warnings)
    if out is not None and summaries:
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.json").write_text(json.dumps(data, indent=2) + "\n")
        plots.compare_plot(out, summaries)
        text += f"\nwritten to {out}/: compare.json compare.png and one directory per algorithm"
    return data, text


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
