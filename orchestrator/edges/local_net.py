"""This machine's own IPv4 addresses, from the kernel's routing table.

Which manager holds the entry point's virtual IP is the one that has it among
its local addresses (keepalived adds it to the lab interface). Read from
``/proc/net/fib_trie`` (every address marked ``host LOCAL``): no command, no
privilege, works in the manager's sandbox.
"""
from __future__ import annotations

FIB_TRIE = "/proc/net/fib_trie"


def local_addresses(path: str = FIB_TRIE) -> set[str]:
    """Every IPv4 address this machine answers to as its own."""
    try:
        with open(path, encoding="ascii") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return set()
    return parse_fib_trie(lines)


def parse_fib_trie(lines: list[str]) -> set[str]:
    """The addresses of ``/proc/net/fib_trie`` whose next line says ``/32 host LOCAL``."""
    found, last = set(), ""
    for line in lines:
        text = line.strip()
        if text.startswith("|-- "):
            last = text[4:]
        elif text == "/32 host LOCAL" and last:
            found.add(last)
    return found
