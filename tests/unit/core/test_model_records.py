"""Container names are unique by construction; stored records that do not fit
the model are refused with a reason (the store then skips and reports them)."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orchestrator.core.healing import NodeHealth
from orchestrator.core.model import App, Node, NodeStatus, Pod, RecordError
from orchestrator.core.naming import container_name, parse_container_name
from orchestrator.core.observed import check_record

DNS_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True)
GEN = st.from_regex(r"[0-9a-f]{8}", fullmatch=True)
TRIPLE = st.tuples(DNS_LABEL, DNS_LABEL, GEN)


@given(TRIPLE, TRIPLE)
def test_distinct_pod_node_gen_give_distinct_names(a, b):
    assert (container_name(*a) == container_name(*b)) == (a == b)


@given(TRIPLE)
def test_container_names_parse_back(triple):
    assert parse_container_name(container_name(*triple)) == triple


def test_the_names_that_used_to_collide_do_not():
    assert container_name("a", "b-c", "12345678") != container_name("a-b", "c", "12345678")


@pytest.mark.parametrize("pod,node,gen", [("a.b", "c", "1"), ("a", "b.c", "1"), ("a", "b", "1.2"),
                                          ("", "b", "1"), ("a", "", "1"), ("a", "b", "")])
def test_container_name_refuses_dots_and_empty_parts(pod, node, gen):
    with pytest.raises(ValueError, match="cannot be part of a container name"):
        container_name(pod, node, gen)


@pytest.mark.parametrize("name", ["sc-a.b", "sc-a.b.c.d", "a.b.c", "sc-.b.c", "sc-a..c"])
def test_parse_container_name_refuses_other_names(name):
    with pytest.raises(ValueError):
        parse_container_name(name)


NODE = {"name": "n1", "pod": "light", "app": "web", "status": "ONLINE", "created": 1.5}


@pytest.mark.parametrize("cls,data,why", [
    (Node, {k: v for k, v in NODE.items() if k != "app"}, "'app' is missing"),
    (Node, {**NODE, "name": 7}, "'name' is 7"),
    (Node, {**NODE, "status": "BROKEN"}, "'status'"),
    (Node, {**NODE, "created": "yesterday"}, "'created'"),
    (Node, ["n1"], "JSON object"),
    (Pod, {"name": "p", "host": "h", "max_nodes": "many", "cpus": 1, "memory_mb": 128}, "'max_nodes'"),
    (Pod, {"name": "p", "host": "h", "max_nodes": True, "cpus": 1, "memory_mb": 128}, "'max_nodes'"),
    (App, {"name": "w", "pod": "p", "port": 80, "command": "nc -l"}, "'command'"),
    (NodeHealth, {"restarts": "3"}, "'restarts'"),
])
def test_records_that_do_not_fit_are_refused_with_the_field(cls, data, why):
    with pytest.raises(RecordError, match=why):
        cls.from_dict(data)


def test_records_that_fit_still_load_and_unknown_keys_are_ignored():
    assert Node.from_dict({**NODE, "future_field": 1}) == Node("n1", "light", "web", NodeStatus.ONLINE, 1.5)
    assert Pod.from_dict({"name": "p", "host": "h", "max_nodes": 3, "cpus": 1, "memory_mb": 128}).cpus == 1.0


@pytest.mark.parametrize("view", ["x", [], {"phase": 3}, {"node_created": "now"},
                                  {"health": {"streak": "x"}}, {"health": []}])
def test_observed_records_that_do_not_fit_are_refused(view):
    with pytest.raises(RecordError):
        check_record(view)


def test_observed_records_that_fit_pass():
    view = {"phase": "serving", "node_created": 1.0, "health": NodeHealth(restarts=2).to_dict(),
            "restarts": 2, "updating": False, "since": 5, "time": 6.0}
    assert check_record(view) is view
