"""The figures of a run (loadgen/report.py): percentiles, the summary, results.json and samples.csv."""
from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.loadgen import report, schedule
from orchestrator.loadgen.schedule import Books, SentRequest


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


def books() -> Books:
    samples = [SentRequest(0.1 * i, 0.010 + 0.001 * i, "200", f"n{i % 2}") for i in range(20)]
    samples += [SentRequest(2.5, 0.5, "503"), SentRequest(2.6, None, "timeout"),
                SentRequest(2.7, None, "connect refused"), SentRequest(2.8, 0.02, "404", "n1")]
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
    a, b = books(), Books(arrivals=2, samples=[SentRequest(0.0, 0.001, "200")], not_sent=Counter(stopped=1))
    merged = a.merge(b)
    assert (merged.arrivals, merged.sent, merged.not_sent["stopped"]) == (32, 25, 1) and merged.balanced()
    assert not Books(arrivals=3, samples=[SentRequest(0, 0, "200")]).balanced()


def test_per_second_rows_count_answers_by_completion():
    b = Books(arrivals=3, samples=[SentRequest(0.2, 0.1, "200", "a"), SentRequest(0.9, 0.3, "200", "b"),
                                   SentRequest(1.5, None, "timeout")])
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
    b = Books(arrivals=10, samples=[SentRequest(0.1 * i, 0.5 * i + 0.01, "200", "", 0.5 * i) for i in range(10)])
    s = report.summarize(b, rate=10.0, duration=1.0, elapsed=1.0, target={}, procs=1, connections=1,
                         started_at=0.0)
    assert s["send_window_s"] == 5.4 and s["sent_rps"] == round(10 / 5.4, 3)
    assert s["answer_window_s"] == 5.41 and s["throughput_rps"] == round(10 / 5.41, 3)
    assert s["send_wait_ms"]["max"] == 4500.0
    assert "the sends took 5.4 s: requests waited for a free connection" in report.text(s)


def test_the_printed_rates_follow_from_the_printed_windows():
    # the last answer at 3.0294 s: 97 / 3.0294 rounds to 32.020, 97 / 3.029 (the window shown) to 32.024
    samples = [SentRequest(0.03 * i, 0.01, "200") for i in range(96)] + [SentRequest(3.02, 0.0094, "200")]
    s = report.summarize(Books(arrivals=97, samples=samples), rate=30.0, duration=3.0, elapsed=3.0,
                         target={}, procs=1, connections=1, started_at=0.0)
    assert s["answer_window_s"] == 3.029 and s["throughput_rps"] == 32.024
    assert s["sent_rps"] == round(s["sent"] / s["send_window_s"], 3)
