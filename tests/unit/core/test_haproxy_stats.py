"""HAProxy's answers parsed (core/haproxy_stats.py): show stat, show servers state, the request log line."""
from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.core.haproxy_stats import (
    BackendStats,
    ParseError,
    counter_increase,
    parse_log_line,
    parse_servers_state,
    parse_stat_csv,
)
from orchestrator.core.model import Server

DATA = Path(__file__).parents[1] / "data"


HEADER = "# pxname,svname,qcur,qmax,scur,smax,stot,status,req_tot,check_desc"


# ------------------------------------------------------------ show stat
def test_parse_recorded_show_stat_of_haproxy_2_6():
    """Recorded from HAProxy 2.6.12: w1 UP, w2 DRAIN, w3 MAINT, w4 DOWN; 5 requests."""
    stats = parse_stat_csv((DATA / "haproxy_2.6_show_stat.csv").read_text())
    assert stats == {"app_web": BackendStats(req_tot=5, scur=0, qcur=0, up=("w1.0123456789",), stot=5),
                     "app_empty": BackendStats(req_tot=0, scur=0, qcur=0, up=())}


def test_parse_show_stat_by_header_names_with_quoted_fields():
    text = "\n".join([
        HEADER,
        'app_a,n1.aaaaaaaaaa,1,1,3,4,41,UP,40,"HTTP status check returned code <503>, then ok"',
        "app_a,n2.bbbbbbbbbb,0,0,0,1,12,UP 1/2,12,",       # going down, still takes requests
        "app_a,n3.cccccccccc,0,0,0,0,0,DOWN 1/2,0,",       # going up, not yet
        "app_a,n4.dddddddddd,0,0,0,0,0,no check,0,",
        "app_a,BACKEND,2,2,3,5,55,UP,52,",                 # 55 arrived: 52 answered, 1 served now, 2 queued
        "stats,FRONTEND,,,0,1,7,OPEN,7,",
        "", ""])
    assert parse_stat_csv(text) == {"app_a": BackendStats(
        req_tot=52, scur=3, qcur=2, up=("n1.aaaaaaaaaa", "n2.bbbbbbbbbb", "n4.dddddddddd"), stot=55)}
    assert parse_stat_csv(text)["app_a"].inflight == 3         # scur holds the queued ones


@pytest.mark.parametrize("text", ["", "Unknown command\n", "# pxname,svname,status\napp_a,BACKEND,UP\n",
                                  HEADER + "\napp_a,BACKEND,x,0,0,0,0,UP,1,\n",
                                  HEADER + "\napp_a,BACKEND,0\n"])
def test_parse_show_stat_refuses_what_it_cannot_read(text):
    with pytest.raises(ParseError):
        parse_stat_csv(text)


@pytest.mark.parametrize("values, increase", [
    ([10, 15, 15, 30], 20),
    ([100, 120, 5, 25], 45),          # reload after 120: the new worker counted 5, then 20
    ([7, 0], 0),                      # reload, nothing counted since: 0, not -7
    ([3, None, 9, 12], 3),            # an unread sample breaks the chain, never guesses
    ([5], None), ([], None), ([None, 4], None),
])
def test_counter_increase_handles_resets(values, increase):
    assert counter_increase(values) == increase


def test_readings_of_two_workers_are_never_compared():
    """While HAProxy reloads, the old and the new worker may both answer on
    the admin socket, and readings alternate between them. Seen on the lab:
    a spike of 21,893 req/s per node (the old worker's 110,000 counted
    again) scaled an app from 1 to 5."""
    values, workers = [109_990, 5, 110_000, 9, 12], [7, 8, 7, 8, 8]
    assert counter_increase(values) > 100_000                 # read as one counter: a burst
    assert counter_increase(values, workers) == 5 + 10 + 4 + 3  # each worker's own increases
    assert counter_increase([30, 10], [7, 8]) == 10            # a plain reload: the new worker's count
    assert counter_increase([5, 9], [0, 8]) == 4              # a worker not known: compared


def test_the_stats_answer_carries_the_workers_pid():
    from orchestrator.core.haproxy_stats import ParseError, parse_stats_answer
    csv_part = "# pxname,svname,qcur,scur,status,req_tot,stot\napp_web,BACKEND,0,1,UP,4,5\n"
    info = "Name: HAProxy\nVersion: 2.6.12\nPid: 4321\nUptime_sec: 7\n\n"
    stats = parse_stats_answer(info + csv_part)
    assert stats["app_web"].worker == 4321 and stats["app_web"].stot == 5
    with pytest.raises(ParseError, match="Pid"):
        parse_stats_answer(csv_part)


def test_the_waker_never_counts_as_a_serving_node():
    from orchestrator.core.haproxy_stats import parse_stat_csv
    text = ("# pxname,svname,qcur,scur,status,req_tot,stot\n"
            "app_web,waker,0,1,no check,,1\n"
            "app_web,n1.abcdef0123,0,0,UP,,7\n"
            "app_web,BACKEND,0,1,UP,7,8\n")
    assert parse_stat_csv(text)["app_web"].up == ("n1.abcdef0123",)


# ------------------------------------------------------------ request log
def test_parse_log_line():
    assert parse_log_line("app_light 12 200 0\n") == parse_log_line("app_light +12 200 0")
    record = parse_log_line("app_light 12 503 -1")
    assert (record.backend, record.ta_ms, record.status, record.tw_ms) == ("app_light", 12, 503, -1)
    for bad in ("", "app_light 12 200", "app_light x 200 0", "<134>Nov 23 app_light 1 200 0"):
        with pytest.raises(ParseError):
            parse_log_line(bad)


STATE = "\n".join([
    "1",
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
    "srv_check_addr srv_agent_addr srv_agent_port",
    "3 app_web 1 n1 10.0.0.2 2 0 1 1 12 6 3 4 6 0 0 0 - 8000 - 0 0 - - 0",
    "3 app_web 2 n2 10.0.0.3 2 8 1 1 12 6 3 4 6 0 0 0 - 8000 - 0 0 - - 0",
    "3 app_web 3 n3 10.0.0.4 0 1 1 1 12 6 3 4 14 0 0 0 - 8000 - 0 0 - - 0",
    "3 app_web 4 n4 10.0.0.5 0 0 1 1 3 6 2 0 6 0 0 0 - 8000 - 0 0 - - 0",
    "4 app_tcp 1 t1 10.0.0.6 2 0 1 1 3 0 0 0 0 0 0 0 - 9000 - 0 0 - - 0",
    "",
])


def test_parse_servers_state():
    assert parse_servers_state(STATE) == [
        Server("app_web", "n1", "10.0.0.2", 8000, "ready", True),
        Server("app_web", "n2", "10.0.0.3", 8000, "drain", True),
        Server("app_web", "n3", "10.0.0.4", 8000, "maint", None),    # checks paused in maint
        Server("app_web", "n4", "10.0.0.5", 8000, "ready", False),
        Server("app_tcp", "t1", "10.0.0.6", 9000, "ready", None, checks=False),  # no check configured
    ]
    assert parse_servers_state("1\n# be_id be_name\n") == []


# ------------------------------------------------------------ several managers
def counters(stot, scur=0, qcur=0, up=("w1.0123456789",), worker=0):
    return {"app_web": BackendStats(req_tot=stot - scur, scur=scur, qcur=qcur, up=up, stot=stot, worker=worker)}


def test_the_counters_of_every_managers_haproxy_add_up_and_never_drop():
    from orchestrator.core.haproxy_stats import CounterSum
    total = CounterSum()
    first = total.add(counters(10, scur=2), {"manager-2": counters(30, scur=1, qcur=1)})
    assert first["app_web"] == BackendStats(req_tot=37, scur=3, qcur=1, up=("w1.0123456789",), stot=40)
    # manager-2's HAProxy reloaded (its counters start again at 0) and took 5: +5, not a drop of 25
    assert total.add(counters(12), {"manager-2": counters(5)})["app_web"].stot == 12 + 30 + 5
    # manager-2 does not answer: its counters stay where they were, its in-flight requests are not counted
    quiet = total.add(counters(15, scur=1), {"manager-2": None})["app_web"]
    assert (quiet.stot, quiet.scur) == (15 + 30 + 5, 1)
    # it answers again, with what came through it meanwhile
    assert total.add(counters(15), {"manager-2": counters(9)})["app_web"].stot == 15 + 30 + 9
    # an app only the other HAProxy knows (this one not reloaded yet) is not shown: this one has every app's backend
    both = total.add(counters(16), {"manager-2": {**counters(9), "app_new": counters(1)["app_web"]}})
    assert set(both) == {"app_web"}


def test_the_old_and_the_new_worker_answering_in_turn_add_only_what_each_counted():
    """A reload: for a moment both HAProxy workers answer on the admin socket.
    Each reading adds what its own worker counted since that worker's last."""
    from orchestrator.core.haproxy_stats import CounterSum
    total = CounterSum()
    assert total.add(counters(110_000, worker=7), {})["app_web"].stot == 110_000
    assert total.add(counters(5, worker=8), {})["app_web"].stot == 110_005        # the new worker, from 0
    assert total.add(counters(110_002, worker=7), {})["app_web"].stot == 110_007  # the old one's last 2
    assert total.add(counters(9, worker=8), {})["app_web"].stot == 110_011
    # a peer's reload the same way: its new worker's count adds, never its old total again
    total.add(counters(9, worker=8), {"manager-2": counters(50, worker=3)})
    assert total.add(counters(9, worker=8), {"manager-2": counters(4, worker=4)})["app_web"].stot == 110_011 + 54
