"""This machine's own addresses from /proc/net/fib_trie (edges/local_net.py)."""
from __future__ import annotations

from orchestrator.edges.local_net import local_addresses, parse_fib_trie

SAMPLE = """Main:
  +-- 0.0.0.0/0 3 0 4
     |-- 0.0.0.0
        /0 universe UNICAST
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.1
              /32 host LOCAL
     +-- 192.168.56.0/24 2 0 2
           |-- 192.168.56.0
              /24 link UNICAST
           |-- 192.168.56.10
              /32 host LOCAL
           |-- 192.168.56.100
              /32 host LOCAL
           |-- 192.168.56.255
              /32 link BROADCAST
""".splitlines()


def test_local_addresses_are_those_marked_host_local():
    assert parse_fib_trie(SAMPLE) == {"127.0.0.1", "192.168.56.10", "192.168.56.100"}


def test_this_machine_has_loopback_and_a_missing_file_gives_none(tmp_path):
    assert "127.0.0.1" in local_addresses()
    assert local_addresses(str(tmp_path / "nope")) == set()
