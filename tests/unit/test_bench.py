"""`cloud bench`, the pure parts: the arrival schedule (statistics of a seeded
Poisson process), percentiles, the books (offered vs sent), the summary,
error kinds, and the CLI's argument errors."""
from __future__ import annotations

import asyncio
import math
import socket
import statistics
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator import cli
from orchestrator.loadgen import report, schedule
from orchestrator.loadgen.schedule import Books, Sample


# --- the schedule ---------------------------------------------------------------

def test_arrivals_are_a_poisson_process_of_the_rate():
    rate, duration = 200.0, 100.0
    times = list(schedule.arrivals(rate, duration, seed=42))
    n = len(times)
    # count: Poisson(20000), sd 141; 4 sd either side
    assert abs(n - rate * duration) < 4 * math.sqrt(rate * duration)
    assert times == sorted(times) and 0 <= times[0] and times[-1] < duration
    gaps = [b - a for a, b in zip(times, times[1:])]
    mean = statistics.fmean(gaps)
    assert mean == pytest.approx(1 / rate, rel=0.03)
    # exponential gaps: standard deviation = mean (coefficient of variation 1)
    assert statistics.pstdev(gaps) / mean == pytest.approx(1.0, rel=0.05)
    # memoryless: P(gap > mean) = 1/e
    assert sum(g > 1 / rate for g in gaps) / len(gaps) == pytest.approx(math.exp(-1), abs=0.02)
    # counts per second: Poisson, so variance ≈ mean (index of dispersion 1)
    per_second = Counter(int(t) for t in times)
    counts = [per_second.get(s, 0) for s in range(int(duration))]
    assert statistics.pvariance(counts) / statistics.fmean(counts) == pytest.approx(1.0, abs=0.35)


def test_a_seed_fixes_the_schedule_and_processes_get_different_ones():
    assert list(schedule.arrivals(50, 2, seed=7)) == list(schedule.arrivals(50, 2, seed=7))
    assert list(schedule.arrivals(50, 2, seed=7)) != list(schedule.arrivals(50, 2, seed=8))
    seeds = schedule.process_seeds(7, 4)
    assert len(set(seeds)) == 4 and seeds == schedule.process_seeds(7, 4)
    assert schedule.process_seeds(None, 3) == [None, None, None]


def test_processes_at_rate_over_n_add_up_to_the_rate():
    seeds = schedule.process_seeds(3, 4)
    merged = sorted(t for s in seeds for t in schedule.arrivals(400 / 4, 20, seed=s))
    assert abs(len(merged) - 8000) < 4 * math.sqrt(8000)
    gaps = [b - a for a, b in zip(merged, merged[1:])]
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.05)


def test_no_arrival_outside_the_duration():
    assert list(schedule.arrivals(0.001, 1.0, seed=1)) == []     # first gap ~ 1000 s


# --- percentiles ---------------------------------------------------------------

def test_nearest_rank_percentiles():
    values = [float(v) for v in range(1, 101)]
    assert [report.percentile(values, p) for p in (50, 90, 99, 99.9, 100)] == [50, 90, 99, 100, 100]
    assert report.percentile([3.0], 50) == 3.0 and report.percentile([3.0], 99.9) == 3.0
    assert report.percentile([], 50) is None
    assert report.percentile([1.0, 2.0], 0.1) == 1.0
    with pytest.raises(ValueError):
        report.percentile(values, 0)


@given(st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=1, max_size=300))
def test_percentiles_are_ordered_measured_values(values):
    ordered = sorted(values)
    figures = [report.percentile(ordered, p) for p in report.PERCENTILES] + [ordered[-1]]
    assert figures == sorted(figures) and all(f in values for f in figures)
    for p, f in zip(report.PERCENTILES, figures):       # at least p % at or below
        assert sum(v <= f for v in values) >= p / 100 * len(values)


# --- the books and the summary -------------------------------------------------

def books() -> Books:
    samples = [Sample(0.1 * i, 0.010 + 0.001 * i, "200", f"n{i % 2}") for i in range(20)]
    samples += [Sample(2.5, 0.5, "503"), Sample(2.6, None, "timeout"), Sample(2.7, None, "connect refused"),
                Sample(2.8, 0.02, "404", "n1")]
    return Books(arrivals=30, samples=samples, not_sent=Counter({schedule.LATE: 4, schedule.NO_CONNECTION: 2}))


def test_the_summary_accounts_for_every_arrival():
    b = books()
    assert b.balanced()
    s = report.summarize(b, rate=10.0, duration=3.0, elapsed=3.0, target={"url": "u", "path": "/p"},
                         procs=2, connections=4, started_at=100.0)
    assert (s["arrivals"], s["sent"], s["answered"]) == (30, 24, 22)
    assert s["not_sent"] == {"late": 4, "no connection": 2, "stopped": 0}
    assert s["arrivals"] == s["sent"] + sum(s["not_sent"].values())
    assert sum(s["outcomes"].values()) == s["sent"]
    assert s["outcomes"] == {"200": 20, "404": 1, "503": 1, "connect refused": 1, "timeout": 1}
    assert s["errors"] == {"connect refused": 1, "http 503": 1, "timeout": 1} and s["error_count"] == 3
    # the last answer came at 2.5 + 0.5 s: rates over the time sends and answers took
    assert s["send_window_s"] == 3.0 and s["answer_window_s"] == 3.0
    assert s["throughput_rps"] == round(22 / 3.0, 3) and s["sent_rps"] == 8.0 and s["offered_rps"] == 10.0
    lat = s["latency_ms"]
    assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"] == 500.0
    assert s["nodes"] == {"n0": 10, "n1": 11}
    text = report.text(s)
    assert "offered   10/s for 3 s: 30 arrivals; sent 24 (8/s); NOT SENT late 4, no connection 2" in text
    assert "add --procs" in text and "add --connections" in text and "http 503 1" in text


def test_books_merge_and_unbalanced_books_show():
    a, b = books(), Books(arrivals=2, samples=[Sample(0.0, 0.001, "200")], not_sent=Counter(stopped=1))
    merged = a.merge(b)
    assert (merged.arrivals, merged.sent, merged.not_sent["stopped"]) == (32, 25, 1) and merged.balanced()
    assert not Books(arrivals=3, samples=[Sample(0, 0, "200")]).balanced()


def test_per_second_rows_count_answers_by_completion():
    b = Books(arrivals=3, samples=[Sample(0.2, 0.1, "200", "a"), Sample(0.9, 0.3, "200", "b"),
                                   Sample(1.5, None, "timeout")])
    rows = report.per_second(b, 2)
    assert [r["answered"] for r in rows] == [1, 1] and [r["errors"] for r in rows] == [0, 1]
    assert [r["nodes"] for r in rows] == [2, 0]


def test_results_and_csv_files(tmp_path):
    b = books()
    s = report.summarize(b, rate=10.0, duration=3.0, elapsed=3.0, target={}, procs=1, connections=1,
                         started_at=0.0)
    results, samples = report.write(tmp_path / "out", s, b)
    rows = samples.read_text().splitlines()
    assert rows[0] == "scheduled_s,latency_ms,outcome,node,send_wait_ms" and len(rows) - 1 == s["sent"]
    assert "2.600000,,timeout,,0.000" in rows and results.read_text().startswith("{")


def test_a_backlog_sent_after_the_schedule_shows_in_the_sent_rate():
    # 10 arrivals in the first second, the last ones sent up to 4 s late
    b = Books(arrivals=10, samples=[Sample(0.1 * i, 0.5 * i + 0.01, "200", "", 0.5 * i) for i in range(10)])
    s = report.summarize(b, rate=10.0, duration=1.0, elapsed=1.0, target={}, procs=1, connections=1,
                         started_at=0.0)
    assert s["send_window_s"] == 5.4 and s["sent_rps"] == round(10 / 5.4, 3)
    assert s["answer_window_s"] == 5.41 and s["throughput_rps"] == round(10 / 5.41, 3)
    assert s["send_wait_ms"]["max"] == 4500.0
    assert "the sends took 5.4 s: requests waited for a free connection" in report.text(s)


# --- outcomes and error kinds ---------------------------------------------------

@pytest.mark.parametrize("exc, kind", [
    (ConnectionRefusedError(111, "refused"), "connect refused"),
    (ConnectionResetError(104, "reset"), "reset"),
    (BrokenPipeError(32, "pipe"), "broken pipe"),
    (asyncio.TimeoutError(), "timeout"),
    (TimeoutError(), "timeout"),
    (asyncio.IncompleteReadError(b"HTTP/1.1 2", 100), "closed early"),
    (schedule.ProtocolError("junk"), "bad response"),
    (socket.gaierror(-2, "Name or service not known"), "name lookup"),
    (OSError(113, "No route to host"), "os ehostunreach"),
    (RuntimeError("x"), "RuntimeError"),
])
def test_error_kinds(exc, kind):
    assert schedule.error_kind(exc) == kind


def test_5xx_and_transport_failures_are_errors_other_statuses_answers():
    assert [schedule.is_error(o) for o in ("200", "404", "429", "500", "503", "timeout")] == [
        False, False, False, True, True, True]
    assert schedule.error_label("503") == "http 503" and schedule.error_label("reset") == "reset"


# --- the CLI's argument errors -----------------------------------------------------

@pytest.mark.parametrize("argv, words", [
    (["--duration", "1"], "--rate"),
    (["--rate", "abc"], "--rate"),
    (["--rate", "0"], "--rate must be a finite number above 0"),
    (["--rate", "-5"], "--rate must be a finite number above 0"),
    (["--rate", "nan"], "--rate must be a finite number above 0"),
    (["--rate", "10", "--duration", "0"], "--duration must be a finite number above 0"),
    (["--rate", "10", "--procs", "0"], "--procs must be 1 or more"),
    (["--rate", "10", "--connections", "0"], "--connections must be 1 or more"),
    (["--rate", "10", "--timeout", "-1"], "--timeout must be a finite number above 0"),
    (["--rate", "inf"], "--rate must be a finite number above 0"),
    (["--rate", "1000000", "--duration", "60"], "at most 10,000,000 requests per run"),
    (["--rate", "10", "--url", "https://127.0.0.1:8443"], "give http://HOST[:PORT]"),
    (["--rate", "10", "--url", "127.0.0.1:8080"], "give http://HOST[:PORT]"),
    (["--rate", "10", "--url", "http://127.0.0.1:99999"], "the port is not a number"),
    (["--rate", "10", "--path", "light"], "starting with '/'"),
    (["--rate", "10", "--host", "a b"], "give a host name"),
    (["--rate", "10", "--path", "/light", "--compare-balance", "roundrobin,fastest"], "unknown algorithm 'fastest'"),
    (["--rate", "10", "--path", "/light", "--compare-balance", "roundrobin"], "two or more different"),
    (["--rate", "10", "--compare-balance", "roundrobin,leastconn"], "needs the app"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, words):
    code = cli.main(["bench", *argv], environ={})
    out, err = capsys.readouterr()
    assert code == cli.EXIT_USAGE and out == ""
    assert err.startswith("cloud: ") and err.count("\n") == 1 and words in err, err


def test_source_is_an_allowed_balance():
    from orchestrator.core.model import BALANCE_ALGORITHMS
    assert "source" in BALANCE_ALGORITHMS and "source" in cli.BALANCE_ALGORITHMS


def test_the_printed_rates_follow_from_the_printed_windows():
    # the last answer at 3.0294 s: 97 / 3.0294 rounds to 32.020, 97 / 3.029 (the window shown) to 32.024
    samples = [Sample(0.03 * i, 0.01, "200") for i in range(96)] + [Sample(3.02, 0.0094, "200")]
    s = report.summarize(Books(arrivals=97, samples=samples), rate=30.0, duration=3.0, elapsed=3.0,
                         target={}, procs=1, connections=1, started_at=0.0)
    assert s["answer_window_s"] == 3.029 and s["throughput_rps"] == 32.024
    assert s["sent_rps"] == round(s["sent"] / s["send_window_s"], 3)
