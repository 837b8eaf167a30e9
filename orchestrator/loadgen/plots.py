"""The PNG plots of ``cloud bench --out`` (matplotlib, imported only here and
only when plotting: it is the optional extra ``simplecloud[bench]``).

* latency.png: every answer's latency at its scheduled time, and p50/p99 per second;
* throughput.png: answers and errors per second (by completion time), with the offered rate;
* nodes.png: distinct nodes answering per second (from the answers' "node"),
  and the app's serving nodes polled from the API once a second when it could be asked;
* compare.png (``--compare-balance``): latency percentiles and throughput per algorithm.
"""
from __future__ import annotations

from pathlib import Path

from orchestrator.loadgen import report
from orchestrator.loadgen.cluster import BenchError
from orchestrator.loadgen.schedule import Books

INSTALL_HINT = "matplotlib is missing: pip install 'simplecloud[bench]'"


def require() -> None:
    """BenchError with the install hint if matplotlib cannot be imported."""
    _figure()


def _figure(width: float = 9, height: float = 4.5):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise BenchError(INSTALL_HINT) from None
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _plain_log(axis) -> None:
    """A log axis labelled 1, 10, 100 (not 10^0, 10^1, ...)."""
    from matplotlib.ticker import FuncFormatter
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if str(f"{v:g}")[0] in "25" else ""))


def run_plots(out: Path, books: Books, summary: dict, serving: list[tuple[float, int]] | None) -> list[Path]:
    """latency.png, throughput.png and nodes.png of one run in ``out``."""
    seconds = max(1, int(summary["elapsed"] + 0.999))
    rows = report.per_second(books, seconds)
    title = f"{summary['target'].get('url')} {summary['target'].get('path')} at {summary['rate']:g}/s offered"
    paths = [out / "latency.png", out / "throughput.png", out / "nodes.png"]

    fig = _figure()
    ax = fig.add_subplot()
    answered = [(s.offset, s.latency) for s in books.samples if s.latency is not None]
    ax.scatter([offset for offset, _ in answered], [latency * 1000 for _, latency in answered], s=2, alpha=0.3,
               color="tab:gray", label="each answer")
    for key, color in (("p50", "tab:blue"), ("p99", "tab:red")):
        points = [(r["t"] + 0.5, r[key]) for r in rows if r[key] is not None]
        ax.plot([t for t, _ in points], [v for _, v in points], color=color, label=f"{key} per second")
    ax.set(xlabel="scheduled send time (s)", ylabel="latency from scheduled time (ms)", title=title)
    ax.set_yscale("log")
    _plain_log(ax.yaxis)
    ax.legend(loc="upper left")
    fig.savefig(paths[0])

    fig = _figure()
    ax = fig.add_subplot()
    t = [r["t"] + 0.5 for r in rows]
    ax.plot(t, [r["answered"] for r in rows], color="tab:green", label="answers/s")
    ax.plot(t, [r["errors"] for r in rows], color="tab:red", label="errors/s (by scheduled time)")
    ax.axhline(summary["rate"], color="tab:gray", linestyle="--", label="offered rate")
    ax.set(xlabel="time (s)", ylabel="requests/s", title=title, ylim=(0, None))
    ax.legend(loc="lower left")
    fig.savefig(paths[1])

    fig = _figure()
    ax = fig.add_subplot()
    ax.step(t, [r["nodes"] for r in rows], where="mid", color="tab:purple", linewidth=4, alpha=0.5,
            label="distinct nodes answering per second (from the answers)")
    if serving:
        start = summary["started_at"]
        ax.step([p - start for p, _ in serving], [n for _, n in serving], where="post", color="tab:orange",
                linestyle="--", label="serving nodes (polled from the API once a second)")
    else:
        ax.text(0.01, 0.02, "API not polled: nodes counted from the answers only", transform=ax.transAxes)
    from matplotlib.ticker import MaxNLocator
    top = max([r["nodes"] for r in rows] + [n for _, n in serving or []] + [1])
    ax.set(xlabel="time (s)", ylabel="nodes", title=title, ylim=(0, top + 1))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="lower right")
    fig.savefig(paths[2])
    return paths


def compare_plot(out: Path, summaries: dict[str, dict]) -> Path:
    """compare.png: per balance algorithm, latency percentiles (bars) and throughput."""
    fig = _figure(10, 4.5)
    lat, thr = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    keys = [report.pct_key(p) for p in report.PERCENTILES] + ["max"]
    width = 0.8 / max(1, len(summaries))
    for i, (algo, s) in enumerate(summaries.items()):
        values = [s["latency_ms"].get(k) or 0 for k in keys]
        lat.bar([k + i * width for k in range(len(keys))], values, width, label=algo)
    lat.set_xticks([k + width * (len(summaries) - 1) / 2 for k in range(len(keys))], keys)
    lat.set(ylabel="latency (ms)", title="latency from scheduled time")
    lat.set_yscale("log")
    _plain_log(lat.yaxis)
    lat.legend()
    names = list(summaries)
    window = {n: max(summaries[n]["answer_window_s"], 1e-9) for n in names}
    good = {n: (summaries[n]["sent"] - summaries[n]["error_count"]) / window[n] for n in names}
    thr.bar(names, [good[n] for n in names], color="tab:green", label="answers/s without error")
    thr.bar(names, [summaries[n]["error_count"] / window[n] for n in names], bottom=[good[n] for n in names],
            color="tab:red", label="errors/s (5xx, transport; on top)")
    rate = next(iter(summaries.values()))["rate"] if summaries else 0
    thr.axhline(rate, color="tab:gray", linestyle="--", label="offered")
    thr.set(ylabel="requests/s", title="throughput")
    thr.legend(loc="lower right")
    path = out / "compare.png"
    fig.savefig(path)
    return path
