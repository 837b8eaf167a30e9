"""The fakes and the drivers have every method of the Protocols the layers
above are written against, with the same parameters: a method added to the
Store (and its Protocol) without the fake, or renamed in one of them, fails here."""
from __future__ import annotations

import inspect

import pytest

from orchestrator.edges.docker_host import DockerHost
from orchestrator.edges.haproxy import HAProxy
from orchestrator.edges.hostpool import HostPool
from orchestrator.edges.protocols import (
    DockerHostProtocol,
    HAProxyProtocol,
    HostsProtocol,
    HostView,
    StoreProtocol,
)
from orchestrator.edges.store import Store
from tests.unit.fakes import FakeHAProxy, FakeHost, FakeHosts, FakeStore


def members(protocol) -> list[str]:
    return sorted(name for name, value in vars(protocol).items()
                  if not name.startswith("_") and (callable(value) or isinstance(value, property)))


def parameters(fn) -> list[str]:
    return [p.name for p in inspect.signature(fn).parameters.values()]


PAIRS = [(StoreProtocol, Store), (StoreProtocol, FakeStore), (HostView, DockerHost), (HostView, FakeHost),
         (DockerHostProtocol, DockerHost), (DockerHostProtocol, FakeHost), (HostsProtocol, HostPool),
         (HostsProtocol, FakeHosts), (HAProxyProtocol, HAProxy), (HAProxyProtocol, FakeHAProxy)]


@pytest.mark.parametrize("protocol, implementation", PAIRS, ids=lambda x: x.__name__)
def test_every_member_of_the_protocol_is_there_with_its_parameters(protocol, implementation):
    for name in members(protocol):
        wanted = getattr(protocol, name)
        if isinstance(wanted, property):     # an attribute: set by the constructor
            assert hasattr(implementation, name) or f"self.{name} = " in inspect.getsource(implementation.__init__)
            continue
        assert hasattr(implementation, name), f"{implementation.__name__} lacks {name}"
        got = inspect.getattr_static(implementation, name)
        assert callable(got), f"{implementation.__name__}.{name} is not a method"
        assert parameters(got) == parameters(wanted), f"{implementation.__name__}.{name}"


def test_the_store_protocol_is_all_of_the_store():
    """Nothing public of the real Store is missing from the Protocol (and so from the fake),
    but the two constructors the composition root alone calls (server.py)."""
    public = {name for name in dir(Store) if not name.startswith("_") and callable(getattr(Store, name))}
    assert public - set(members(StoreProtocol)) == {"from_settings", "fenced"}
