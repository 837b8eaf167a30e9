"""``cloud bench``: the arguments, and the run handed to orchestrator/loadgen/."""
from __future__ import annotations

from orchestrator.cli.client import EXIT_USAGE, Client, CliError

BALANCE_ALGORITHMS = ("roundrobin", "leastconn", "random", "first", "source")


def cmd_bench(c: Client, a):
    from orchestrator.loadgen.command import BenchError, UsageError, bench
    try:
        return bench(c, a, BALANCE_ALGORITHMS)
    except UsageError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except BenchError as exc:
        raise CliError(str(exc)) from None


def bench_parser(b) -> None:
    b.add_argument("--rate", type=float, required=True, help="requests/s offered (Poisson arrivals)")
    b.add_argument("--duration", type=float, default=10.0, help="seconds of arrivals (default 10)")
    b.add_argument("--path", help="request path, e.g. /light (default /)")
    b.add_argument("--host", help="Host header, for apps routed by host")
    b.add_argument("--url", default="http://127.0.0.1:8080", help="the HAProxy edge (default %(default)s)")
    b.add_argument("--procs", type=int, help="worker processes (default: the number of CPUs)")
    b.add_argument("--connections", type=int, default=32, help="keep-alive connections per process (default 32)")
    b.add_argument("--timeout", type=float, default=10.0, help="seconds a request may take (default 10)")
    b.add_argument("--max-lag", type=float, default=0.25, dest="max_lag",
                   help="an arrival the generator reaches this many s late is counted 'late', not sent")
    b.add_argument("--seed", type=int, help="seed of the arrival times (default: random; printed)")
    b.add_argument("--out", metavar="DIR", help="write results.json, samples.csv and PNG plots there")
    b.add_argument("--app", help="the app behind the route (default: found from --path/--host)")
    b.add_argument("--compare-balance", metavar="ALGO,ALGO,...",
                   help=f"the same load under each balance algorithm ({', '.join(BALANCE_ALGORITHMS)})")
    b.add_argument("--reload-timeout", type=float, default=60.0, dest="reload_timeout",
                   help="seconds to wait for HAProxy to reload with a balance (default 60)")
