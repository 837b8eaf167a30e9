from tests.turns import take_dockerd_turn

# Fixtures are split by the component they start, so each can be read alone.
pytest_plugins = [
    "tests.integration.fixtures_edges",   # local dockerd, HAProxy, worker images
    "tests.integration.fixtures_etcd",    # a throwaway etcd
    "tests.integration.fixtures_etcd_cluster",  # a 3-member etcd (HA tests)
    "tests.integration.fixtures_ssh",     # a real sshd and a spare dockerd (host-link tests)
    "tests.integration.fixtures_cluster", # a pod host, an HAProxy sync and a reconciler on all of those
    "tests.integration.fixtures_pools",   # a second host of a pod: the spare dockerd, routed
]


def pytest_configure(config):
    """Take this machine's dockerd turn before anything starts (tests/turns.py)."""
    take_dockerd_turn("integration")
