"""What a Docker engine answers, parsed: containers listed or inspected,
stats samples, cgroup files, exit codes and times (edges/docker_parse.py)."""

from orchestrator.edges.docker_parse import (
    CGROUP_V1_FILES,
    CGROUP_V2_FILES,
    container_of,
    iso_time,
    listed_exit_code,
    parse_cgroup_dump,
    parse_cpu_usage,
    stats_from_raw,
)

LABELS = {"simplecloud.managed": "1", "simplecloud.pod": "light", "simplecloud.node": "web-1",
          "simplecloud.app": "web", "simplecloud.gen": "g1"}
NETS = {"Networks": {"workers": {"IPAddress": "10.0.0.5"}, "other": {"IPAddress": "10.9.9.9"}}}


def test_a_listing_entry_becomes_a_container_with_its_ip_on_the_workers_network():
    c = container_of({"Names": ["/sc-light-web-1"], "Labels": LABELS, "State": "running", "Image": "nginx",
                      "Created": 1700000000, "Status": "Up 3 minutes", "Id": "abc", "NetworkSettings": NETS},
                     "workers")
    assert (c.name, c.pod, c.node, c.app, c.gen, c.state) == ("sc-light-web-1", "light", "web-1", "web", "g1",
                                                              "running")
    assert (c.ip, c.image, c.id, c.created, c.exit_code) == ("10.0.0.5", "nginx", "abc", 1700000000.0, None)


def test_an_exited_listing_entry_has_its_exit_code_and_no_ip():
    c = container_of({"Names": ["/x"], "Labels": LABELS, "State": "exited", "Status": "Exited (137) 3 seconds ago",
                      "NetworkSettings": NETS}, "workers")
    assert (c.state, c.exit_code, c.ip) == ("exited", 137, None)


def test_an_inspect_becomes_the_same_container():
    c = container_of({"Name": "/sc-light-web-1", "Config": {"Labels": LABELS, "Image": "nginx"},
                      "State": {"Status": "exited", "ExitCode": 1}, "Created": "2026-11-23T11:31:57.5Z",
                      "Id": "abc", "NetworkSettings": NETS}, "workers")
    assert (c.name, c.node, c.state, c.exit_code, c.ip) == ("sc-light-web-1", "web-1", "exited", 1, None)
    assert c.created == iso_time("2026-11-23T11:31:57.5Z") > 0


def test_exit_codes_and_times_of_a_listing():
    assert listed_exit_code("Exited (0) 2 hours ago") == 0
    assert listed_exit_code("Up 2 hours") is None
    assert iso_time("2026-11-23T11:31:57Z") == 1795433517.0
    assert iso_time("garbage") == 0.0


def test_a_stats_sample_gives_cpu_like_docker_stats_and_memory_without_the_page_cache():
    raw = {"cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
           "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000},
           "memory_stats": {"usage": 1000, "limit": 4096, "stats": {"inactive_file": 200}}}
    assert stats_from_raw(raw) == {"cpu_percent": 40.0, "mem_bytes": 800, "mem_limit": 4096}


def test_cgroup_files_v1_and_v2():
    v1 = "1000\n9223372036854771712\n5000\ntotal_inactive_file 100\n"
    assert parse_cgroup_dump(v1, CGROUP_V1_FILES) == {"mem_usage": 1000, "mem_limit": 0, "cpu_ns": 5000,
                                                      "mem_inactive": 100}
    v2 = "2000\nmax\nusage_usec 7\nuser_usec 5\ninactive_file 50\n"
    assert parse_cgroup_dump(v2, CGROUP_V2_FILES) == {"mem_usage": 2000, "mem_limit": 0, "cpu_ns": 7000,
                                                      "mem_inactive": 50}


def test_cpu_usage_lines_in_nanoseconds():
    assert parse_cpu_usage("abc ns 500\ndef us 3\nbad line\n") == {"abc": 500, "def": 3000}
