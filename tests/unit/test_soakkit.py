"""The soak's pure parts (bench/soakkit.py): what it reads of the lab, its
arithmetic (thirds, growth within noise, the longest-lived process), and its
verdicts. bench/soak.py itself runs against the lab (tests/lab/test_soak.py)."""
from __future__ import annotations

from bench import soakkit
from bench.soakkit import Process, Sample

MIB = 2 ** 20


def test_a_manager_process_is_read_from_proc():
    status = "Pid: 4242\nName:\tsimplecloud-man\nVmRSS:\t  99328 kB\nThreads:\t37\n"
    assert soakkit.parse_proc(status, " 41\n") == Process(pid=4242, rss_mib=97.0, threads=37, fds=41)


def test_only_the_unlabelled_series_asked_for_are_read_from_metrics():
    text = ("# HELP simplecloud_etcd_db_bytes Size\n# TYPE simplecloud_etcd_db_bytes gauge\n"
            "simplecloud_etcd_db_bytes 2.4576e+06\nsimplecloud_etcd_alarm{type=\"NOSPACE\"} 0.0\n"
            "simplecloud_etcd_revision 1234.0\nsimplecloud_build_info{version=\"1\"} 1.0\n")
    assert soakkit.parse_metrics(text, ["simplecloud_etcd_db_bytes", "simplecloud_etcd_revision",
                                        "simplecloud_etcd_quota_bytes"]) == {
        "simplecloud_etcd_db_bytes": 2457600.0, "simplecloud_etcd_revision": 1234.0}


def test_servers_off_counts_missing_and_extra_servers():
    assert soakkit.servers_off({"app_a": 2, "app_b": 1}, {"a": 2, "b": 1}) == 0
    assert soakkit.servers_off({"app_a": 1, "app_b": 3, "app_gone": 1}, {"a": 2, "b": 1, "c": 1}) == 1 + 2 + 1 + 1


def test_orphans_and_duplicates_against_the_desired_nodes():
    found = [("light", "a-1"), ("light", "a-2"), ("light", "a-2"), ("light", "old-1")]
    assert soakkit.containers_check(found, [("light", "a-1"), ("light", "a-2")]) == (
        [("light", "old-1")], [("light", "a-2")])


def test_thirds_and_flat_within_noise():
    assert soakkit.thirds([1, 2]) is None
    assert soakkit.thirds([10, 10, 10, 11, 12, 13, 20, 20, 20]) == (10.0, 20.0)
    assert soakkit.flat(100.0, 120.0, 16.0)               # +20 %: within the ratio
    assert soakkit.flat(10.0, 20.0, 16.0)                 # doubled, but by less than the slack
    assert not soakkit.flat(100.0, 160.0, 16.0)


def run_of(pid, rss, machine="manager"):
    return {machine: Process(pid=pid, rss_mib=rss, threads=30, fds=40)}


def test_growth_is_read_in_the_process_that_lived_longest():
    samples = [Sample(time=t, managers=run_of(1, 500.0)) for t in range(3)]       # before a restart
    samples += [Sample(time=10 + t, managers=run_of(2, 90.0 + t)) for t in range(9)]
    machine, procs = soakkit.longest_process(samples)
    assert machine == "manager" and [p.pid for p in procs] == [2] * 9


def test_growth_is_read_in_a_follower_when_one_lived_through():
    """The leader's Docker connection pools fill during its first minutes (a warm-up)."""
    both = {**run_of(1, 100.0, "manager-1"), **run_of(2, 90.0, "manager-2")}
    samples = [Sample(time=t, managers=both, leader="manager-1") for t in range(6)]
    assert soakkit.longest_process(samples)[0] == "manager-2"
    assert soakkit.longest_process([Sample(time=t, managers=run_of(1, 100.0, "manager-1"), leader="manager-1")
                                    for t in range(6)])[0] == "manager-1"     # no follower seen: the leader


def verdicts(samples, **overrides):
    given = {"sent": 1000, "failed": 0, "orphans": [], "duplicates": [], "servers_off_at_end": 0,
             "failed_changes": 0, **overrides}
    return {v.name: v for v in soakkit.verdicts(samples, **given)}


def healthy_samples():
    return [Sample(time=10.0 * i, managers=run_of(7, 95.0 + (i % 2)), etcd_db_bytes=(3 + i * 0.01) * MIB,
                   etcd_quota_bytes=256 * MIB, etcd_revision=1000.0 + 50 * i, servers_off=i % 2, events=300,
                   errors=1) for i in range(12)]


def test_a_healthy_soak_passes_every_verdict_and_says_so_in_lines():
    result = verdicts(healthy_samples())
    assert all(v.passed for v in result.values()), [v.line() for v in result.values() if not v.passed]
    assert set(result) == {"failed_requests", "orphan_containers", "duplicate_containers", "haproxy_servers",
                           "changes", "growth_rss_mib", "growth_threads", "growth_fds", "etcd_size"}
    assert result["failed_requests"].line() == "VERDICT failed_requests PASS 0 of 1000 idempotent requests failed " \
                                               "(goal 0)"
    assert "of its 256.0 MiB quota" in result["etcd_size"].detail and "revision +550" in result["etcd_size"].detail


def test_each_kind_of_trouble_fails_its_verdict():
    samples = healthy_samples()
    for i, s in enumerate(samples):
        s.managers = run_of(7, 100.0 + 40 * i)                # leaking: 100 → 540 MiB
        s.etcd_db_bytes = 200 * MIB                           # 78 % of the quota
    result = verdicts(samples, failed=3, orphans=[("light", "x-1")], duplicates=[("light", "a-1")],
                      servers_off_at_end=2, failed_changes=1)
    assert {name for name, v in result.items() if not v.passed} == {
        "failed_requests", "orphan_containers", "duplicate_containers", "haproxy_servers", "changes",
        "growth_rss_mib", "etcd_size"}
    assert result["orphan_containers"].line() == "VERDICT orphan_containers FAIL 1 (goal 0): light/x-1"


def test_too_few_samples_is_a_failure_not_a_pass():
    result = verdicts(healthy_samples()[:2])
    assert not result["growth_rss_mib"].passed and "too few samples" in result["growth_rss_mib"].detail


def test_each_failed_request_is_placed_after_the_last_change_before_it():
    actions = [(100.0, "scale soak-a"), (120.0, "restart the manager on manager-1"), (140.0, "crash soak-b")]
    failures = [(121.5, "/soak-b/light", 503, 0.1, None), (99.0, "/soak-a/light", 0, 0.71, "ConnectionError: reset"),
                (150.25, "/soak-b/light", 502, 0.2, None)]
    assert soakkit.failure_report(failures, actions, began=90.0) == [
        "failed: GET /soak-a/light -> no answer (ConnectionError: reset, after 0.7 s) at +9.0 s, before any change",
        "failed: GET /soak-b/light -> 503 at +31.5 s, 1.5 s after 'restart the manager on manager-1'",
        "failed: GET /soak-b/light -> 502 at +60.2 s, 10.2 s after 'crash soak-b'"]
    assert soakkit.failure_report(failures, actions, began=90.0, limit=1)[-1] == "… and 2 more failed request(s)"
