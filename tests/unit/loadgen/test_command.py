"""`cloud bench`'s arguments (loadgen/command.py): a bad one is exit 2 with one line."""
from __future__ import annotations

import pytest

from orchestrator import cli
from orchestrator.cli import bench, client


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
    assert code == client.EXIT_USAGE and out == ""
    assert err.startswith("cloud: ") and err.count("\n") == 1 and words in err, err


def test_source_is_an_allowed_balance():
    from orchestrator.core.model import BALANCE_ALGORITHMS
    assert "source" in BALANCE_ALGORITHMS and "source" in bench.BALANCE_ALGORITHMS
