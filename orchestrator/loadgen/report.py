"""The figures of a run: percentiles, the summary (results.json), its text,
samples.csv, and the per-second series the plots draw.

Percentiles are nearest-rank over the latencies of answered requests (any
status; transport errors have no latency): p is the smallest latency with at
least p % of the answers at or below it, so every percentile is a measured
value and p50 ≤ p90 ≤ p99 ≤ p99.9 ≤ max always holds.
"""
from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from orchestrator.loadgen import schedule
from orchestrator.loadgen.schedule import Books

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of ``ordered`` (sorted ascending); None if empty."""
    if not ordered:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile {p} is not in (0, 100]")
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[max(1, rank) - 1]


def pct_key(p: float) -> str:
    return f"p{p:g}"


def summarize(books: Books, *, rate: float, duration: float, elapsed: float, target: dict,
              procs: int, connections: int, started_at: float, interrupted: bool = False) -> dict:
    """results.json: what was offered and sent, the outcomes, latency, nodes."""
    samples = books.samples
    outcomes = Counter(s.outcome for s in samples)
    answered = sum(n for o, n in outcomes.items() if o.isdigit())
    latencies = sorted(s.latency for s in samples if s.latency is not None)
    errors = {schedule.error_label(o): n for o, n in sorted(outcomes.items()) if schedule.is_error(o)}
    # rates over the time the sends (answers) really took: a backlog sent after the schedule
    # ended does not make the sent rate look like the offered one
    # rounded before the rates are taken from them, so that the printed figures add up
    send_window = round(max([elapsed] + [s.offset + s.wait for s in samples]), 3)
    answer_window = round(max([elapsed] + [s.offset + s.latency for s in samples if s.latency is not None]), 3)
    waits = sorted(s.wait for s in samples)
    return {
        "target": target, "rate": rate, "duration": duration, "elapsed": round(elapsed, 3),
        "procs": procs, "connections": connections, "started_at": started_at, "interrupted": interrupted,
        "arrivals": books.arrivals, "sent": books.sent, "answered": answered,
        "not_sent": {k: books.not_sent.get(k, 0) for k in schedule.NOT_SENT_KINDS},
        "offered_rps": rate,
        "send_window_s": send_window, "answer_window_s": answer_window,
        "sent_rps": round(books.sent / send_window, 3) if send_window > 0 else None,
        "throughput_rps": round(answered / answer_window, 3) if answer_window > 0 else None,
        "send_wait_ms": {"p50": ms(percentile(waits, 50)), "p99": ms(percentile(waits, 99)),
                         "max": ms(waits[-1] if waits else None)},
        "outcomes": dict(sorted(outcomes.items())),
        "errors": errors, "error_count": sum(errors.values()),
        "latency_ms": {**{pct_key(p): ms(percentile(latencies, p)) for p in PERCENTILES},
                       "max": ms(latencies[-1] if latencies else None),
                       "mean": ms(sum(latencies) / len(latencies) if latencies else None)},
        "nodes": dict(sorted(Counter(s.node for s in samples if s.node).items())),
    }


def ms(seconds: float | None) -> float | None:
    """Seconds as milliseconds, rounded to the microsecond (None stays None)."""
    return None if seconds is None else round(seconds * 1000, 3)


def _num(value) -> str:
    """A figure as results.json has it (rounded there), without a trailing '.0'."""
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() else str(value)


def text(summary: dict) -> str:
    """The printed summary: every figure of results.json that a reader needs."""
    s, lat = summary, summary["latency_ms"]
    route = " ".join(x for x in (s["target"].get("host"), s["target"].get("path")) if x)
    lines = [f"target    {s['target'].get('url')} {route}" + (f"   seed {s['seed']}" if s.get("seed") else "")
             + ("   (interrupted)" if s["interrupted"] else "")]
    line = (f"offered   {_num(s['offered_rps'])}/s for {_num(s['elapsed'])} s: {s['arrivals']} arrivals; "
            f"sent {s['sent']} ({_num(s['sent_rps'])}/s)")
    not_sent = {k: v for k, v in s["not_sent"].items() if v}
    if not_sent:
        line += "; NOT SENT " + ", ".join(f"{k} {v}" for k, v in not_sent.items())
        if s["not_sent"].get(schedule.LATE):
            line += " (the generator cannot drive this rate: add --procs)"
        if s["not_sent"].get(schedule.NO_CONNECTION):
            line += " (every connection was busy: add --connections)"
    if s["send_window_s"] > s["elapsed"] * 1.05 + 0.1:
        line += (f"; the sends took {_num(s['send_window_s'])} s: requests waited for a free connection "
                 f"(p99 {_num(s['send_wait_ms']['p99'])} ms; a slow server, or a generator short of CPU: "
                 "add --connections or --procs)")
    lines.append(line)
    lines.append(f"answered  {s['answered']} ({_num(s['throughput_rps'])}/s over {_num(s['answer_window_s'])} s)")
    lines.append("latency   " + "  ".join(f"{k} {_num(v)}" for k, v in lat.items() if k != "mean") + " ms")
    lines.append("outcomes  " + (", ".join(f"{k} {v}" for k, v in s["outcomes"].items()) or "none"))
    lines.append("errors    " + (", ".join(f"{k} {v}" for k, v in s["errors"].items()) or "none"))
    if s["nodes"]:
        lines.append("nodes     " + ", ".join(f"{k} {v}" for k, v in s["nodes"].items()))
    return "\n".join(lines)


def write(out: Path, summary: dict, books: Books) -> list[Path]:
    """results.json and samples.csv in ``out`` (created)."""
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.json"
    results.write_text(json.dumps(summary, indent=2) + "\n")
    samples = out / "samples.csv"
    with samples.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scheduled_s", "latency_ms", "outcome", "node", "send_wait_ms"])
        for s in sorted(books.samples):
            w.writerow([f"{s.offset:.6f}", "" if s.latency is None else f"{s.latency * 1000:.3f}",
                        s.outcome, s.node, f"{s.wait * 1000:.3f}"])
    return [results, samples]


def per_second(books: Books, seconds: int) -> list[dict]:
    """One row per second: answers (by completion), errors, latency p50/p99 (ms) and
    distinct nodes answering (by scheduled time)."""
    rows: list[dict[str, Any]] = [{"t": t, "answered": 0, "errors": 0, "lat": [], "nodes": set()}
                                  for t in range(max(seconds, 1))]
    last = len(rows) - 1
    for s in books.samples:
        row = rows[min(int(s.offset), last)]
        if s.outcome.isdigit():                 # throughput: by the time the answer came
            rows[min(int(s.offset + (s.latency or 0.0)), last)]["answered"] += 1
        row["errors"] += schedule.is_error(s.outcome)
        if s.latency is not None:
            row["lat"].append(s.latency * 1000)
        if s.node:
            row["nodes"].add(s.node)
    for row in rows:
        lat = sorted(row.pop("lat"))
        row.update(p50=percentile(lat, 50), p99=percentile(lat, 99), nodes=len(row["nodes"]))
    return rows
