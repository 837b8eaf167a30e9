"""``cloud bench --compare-balance A,B,...``: the McGill experiment. The
same load (same rate, duration and arrival times: one seed) under each
HAProxy balance algorithm of one app, one table and one plot.

For each algorithm: set the app's balance through the API and wait until
HAProxy reloaded with it (``cluster.set_balance``: the HAProxy sync's
``controller.reload_config`` event), then run the load. The app's original
balance is put back at the end, after a failure and after Ctrl-C too.
"""
from __future__ import annotations

from orchestrator.loadgen.cluster import set_balance

COLUMNS = ("BALANCE", "OFFERED/s", "SENT/s", "ANSWERED/s", "P50", "P90", "P99", "P99.9", "MAX ms",
           "ERRORS", "NODES")


def parse_algorithms(text: str, allowed) -> list[str]:
    """'roundrobin,leastconn' → the list; ValueError (a usage error) if unknown or repeated."""
    algos = [a.strip() for a in text.split(",") if a.strip()]
    unknown = [a for a in algos if a not in allowed]
    if unknown:
        raise ValueError(f"--compare-balance: unknown algorithm {unknown[0]!r}; use some of {', '.join(allowed)}")
    if len(algos) < 2 or len(set(algos)) != len(algos):
        raise ValueError("--compare-balance: give two or more different algorithms, e.g. roundrobin,leastconn")
    return algos


def compare(client, app: str, original: str, algos: list[str], measure, progress,
            reload_timeout: float = 60.0) -> tuple[dict[str, dict], bool, list[str]]:
    """``measure(algo) -> summary`` under each algorithm in turn; the original
    balance restored whatever happens. (summaries, interrupted, warnings)."""
    summaries: dict[str, dict] = {}
    interrupted, warnings = False, []
    try:
        for algo in algos:
            set_balance(client, app, algo, reload_timeout, progress)
            progress(f"balance {algo}: load running")
            summaries[algo] = measure(algo)
            if summaries[algo].get("interrupted"):
                interrupted = True
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        try:
            set_balance(client, app, original, reload_timeout, progress)
        except Exception as exc:  # noqa: BLE001 - tell the user, keep the figures
            warnings.append(f"could not restore balance {original} of '{app}': {exc}; "
                            f"run: cloud app update {app} --balance {original}")
    return summaries, interrupted, warnings


def table(summaries: dict[str, dict]) -> str:
    rows: list[tuple[str, ...]] = [COLUMNS]
    for algo, s in summaries.items():
        lat = s["latency_ms"]
        rows.append((algo, f"{s['offered_rps']:g}", _n(s["sent_rps"]), _n(s["throughput_rps"]),
                     *(_n(lat.get(k)) for k in ("p50", "p90", "p99", "p99.9", "max")),
                     str(s["error_count"]), str(len(s["nodes"]))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _n(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def report_text(summaries: dict[str, dict], interrupted: bool, warnings: list[str]) -> str:
    parts = [table(summaries)] if summaries else ["no algorithm was measured"]
    not_sent = {a: s for a, s in summaries.items() if any(s["not_sent"].values())}
    for algo, s in not_sent.items():
        parts.append(f"{algo}: offered {s['offered_rps']:g}/s, sent {s['sent_rps']:g}/s "
                     f"(not sent: {', '.join(f'{k} {v}' for k, v in s['not_sent'].items() if v)})")
    if interrupted:
        parts.append("(interrupted: partial comparison)")
    parts += [f"WARNING: {w}" for w in warnings]
    return "\n".join(parts)

