"""The ``cloud`` command line: every command, its options and its help."""
from __future__ import annotations

import argparse

from orchestrator.cli import apps, cluster, hosts, managers, nodes, pods
from orchestrator.cli.bench import BALANCE_ALGORITHMS, bench_parser, cmd_bench
from orchestrator.cli.client import DEFAULT_API, EXIT_USAGE, CliError
from orchestrator.cli.wait import DEFAULT_WAIT

SECURITY_PROFILES = ("default", "relaxed")


class Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one ``cloud:`` line, exit 2."""

    def error(self, message: str):
        raise CliError(f"{message} (see: {self.prog} --help)", EXIT_USAGE)


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, not {value}")
    return value


def replica_count(text: str) -> tuple[str, int]:
    """``5`` (to 5), ``+2`` (2 more than now) or ``-1`` (one fewer): (sign, number)."""
    sign = text[0] if text[:1] in ("+", "-") else ""
    digits = text[1:] if sign else text
    if not digits.isdigit():
        raise argparse.ArgumentTypeError(f"expected a replica count such as 5, +2 or -1, not {text!r}")
    return sign, int(digits)


def build_parser() -> Parser:
    # The common options are accepted before or after the command. SUPPRESS
    # keeps a subcommand from overwriting a value given earlier with None.
    common = Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--api", help=f"API address (default: $SIMPLECLOUD_API, .simplecloud/api, {DEFAULT_API})")
    common.add_argument("--token", help="API token (default: $SIMPLECLOUD_TOKEN, .simplecloud/token)")
    common.add_argument("--ca", help="CA file for an https API (default: $SIMPLECLOUD_CA, .simplecloud/ca.pem)")
    common.add_argument("--json", action="store_true", help="print the API's JSON answer instead of text")

    p = Parser(prog="cloud", description="Drive a simplecloud cluster through its API.", parents=[common])
    sub = p.add_subparsers(dest="verb", required=True, metavar="COMMAND", parser_class=Parser)

    def add(parent, name, func, help_text):
        sp = parent.add_parser(name, help=help_text, description=help_text, parents=[common])
        sp.set_defaults(func=func)
        return sp

    add(sub, "init", cluster.cmd_init, "create the built-in pods light, medium, heavy and their jobs")

    pod = sub.add_parser("pod", help="list, register and remove pods", parents=[common])
    pod_sub = pod.add_subparsers(dest="pod_command", required=True, metavar="ACTION", parser_class=Parser)
    add(pod_sub, "ls", pods.cmd_pod_ls, "list pods with their node usage")
    reg = add(pod_sub, "register", pods.cmd_pod_register, "register a pod over one or more known hosts")
    reg.add_argument("name")
    reg.add_argument("--host", required=True, action="append", dest="hosts",
                     help="inventory name of a host of the pod, e.g. pod-light-1 (repeat for several; "
                          "see: cloud host ls)")
    reg.add_argument("--max-nodes", type=positive, help="nodes of the pod allowed on each of its hosts")
    reg.add_argument("--cpus", type=float, help="CPU limit per node, e.g. 0.25")
    reg.add_argument("--memory", type=positive, help="memory limit per node, MiB")
    reg.add_argument("--app", help="default app of `cloud register NODE POD`")
    add(pod_sub, "rm", pods.cmd_pod_rm, "remove an empty pod").add_argument("name")

    sp = add(sub, "register", nodes.cmd_register, "register a NEW node in a pod")
    sp.add_argument("node"), sp.add_argument("pod"), sp.add_argument("--app")
    sp = add(sub, "rm", nodes.cmd_rm, "remove a node from a pod")
    sp.add_argument("node"), sp.add_argument("pod")
    sp = add(sub, "launch", pods.cmd_launch, "start the oldest NEW node of a pod")
    sp.add_argument("pod")
    wait_options(sp)
    add(sub, "pause", pods.bulk("pause"), "drain and pause the ONLINE nodes of a pod").add_argument("pod")
    add(sub, "resume", pods.bulk("resume"), "bring the PAUSED nodes of a pod back").add_argument("pod")

    app = sub.add_parser("app", help="deploy, scale, stop and list apps", parents=[common])
    app_sub = app.add_subparsers(dest="app_command", required=True, metavar="ACTION", parser_class=Parser)
    dep = add(app_sub, "deploy", apps.cmd_app_deploy, "deploy an app (an image or a command) on a pod")
    dep.add_argument("name")
    what = dep.add_mutually_exclusive_group(required=True)
    what.add_argument("--image")
    what.add_argument("--command", help="program and arguments, run without a shell, e.g. 'nc -lk -p 9000'")
    dep.add_argument("--pod", required=True)
    dep.add_argument("--replicas", type=positive, required=True)
    dep.add_argument("--warm", type=int, help="nodes kept started and healthy but taking no requests, "
                                              "that a scale-out takes first (default 0)")
    dep.add_argument("--port", type=int, required=True, help="port the workers listen on")
    dep.add_argument("--path", help="HAProxy path prefix, e.g. /web")
    dep.add_argument("--host", help="HAProxy Host header")
    dep.add_argument("--balance", choices=BALANCE_ALGORITHMS)
    dep.add_argument("--health-path", help="HTTP health check path (default: TCP check)")
    dep.add_argument("--strip-path", action="store_true",
                     help="remove the --path prefix before forwarding (for apps that serve at /)")
    dep.add_argument("--cpus", type=float, help="CPU limit per node (default: the pod's node size)")
    dep.add_argument("--memory", type=positive, help="memory limit per node, MiB (default: the pod's)")
    dep.add_argument("--security", choices=SECURITY_PROFILES,
                     help="'relaxed': keep Docker's default capabilities and allow privilege gains "
                          "(default: hardened workers; see docs/api.md)")
    wait_options(dep)
    sc = add(app_sub, "scale", apps.cmd_app_scale, "set the replica count of an app")
    sc.add_argument("name")
    sc.add_argument("replicas", type=replica_count, help="N, or +N / -N relative to the replicas now")
    wait_options(sc)
    up = add(app_sub, "update", apps.cmd_app_update,
             "change an app in place: image/command/port/limits roll node by node; "
             "route/balance/health path reload HAProxy")
    up.add_argument("name")
    what = up.add_mutually_exclusive_group()
    what.add_argument("--image")
    what.add_argument("--command", help="program and arguments, run without a shell")
    up.add_argument("--port", type=int)
    up.add_argument("--cpus", type=float)
    up.add_argument("--memory", type=positive, help="MiB per node")
    up.add_argument("--path")
    up.add_argument("--host")
    up.add_argument("--balance", choices=BALANCE_ALGORITHMS)
    up.add_argument("--health-path")
    up.add_argument("--security", choices=SECURITY_PROFILES, help="worker hardening: default or relaxed")
    up.add_argument("--warm", type=int, help="size of the warm pool (nodes started, taking no requests)")
    strip = up.add_mutually_exclusive_group()
    strip.add_argument("--strip-path", dest="strip_path", action="store_true", default=None)
    strip.add_argument("--no-strip-path", dest="strip_path", action="store_false")
    wait_options(up)
    add(app_sub, "stop", apps.cmd_app_stop, "stop an app and remove its nodes").add_argument("name")
    add(app_sub, "ls", apps.cmd_app_ls, "list apps")
    auto = add(app_sub, "autoscale", apps.cmd_app_autoscale,
               "let the manager choose an app's replicas within [min, max] (or --off)")
    auto.add_argument("name")
    auto.add_argument("--min", type=int, help="fewest replicas (0 allows --idle-to-zero)")
    auto.add_argument("--max", type=int, help="most replicas")
    auto.add_argument("--rps", type=float, help="target requests/s per node")
    auto.add_argument("--inflight", type=float, help="target requests in progress or queued per node")
    auto.add_argument("--cpu", type=float, help="target CPU, %% of a node's own limit")
    auto.add_argument("--p95-ms", dest="p95_ms", type=float, help="target p95 response time, ms")
    auto.add_argument("--rule", action="append", default=[],
                      help=f"instead of targets: {apps.RULE_WORDS} (repeatable)")
    auto.add_argument("--idle-to-zero", type=float, metavar="SECONDS",
                      help="scale to zero after this long without a request (needs --min 0)")
    auto.add_argument("--window", type=float, metavar="SECONDS",
                      help="scale-down stabilization window (default 300)")
    auto.add_argument("--off", action="store_true", help="stop autoscaling (the replicas stay)")

    node = sub.add_parser("node", help="list nodes, crash one on purpose", parents=[common])
    node_sub = node.add_subparsers(dest="node_command", required=True, metavar="ACTION", parser_class=Parser)
    add(node_sub, "ls", nodes.cmd_node_ls, "list nodes, of every pod or of one").add_argument("pod", nargs="?")
    cr = add(node_sub, "crash", nodes.cmd_node_crash, "kill a node's container (the controller replaces it)")
    cr.add_argument("node"), cr.add_argument("--pod")

    lg = add(sub, "logs", nodes.cmd_logs, "print the last lines of a node's log")
    lg.add_argument("node"), lg.add_argument("--pod"), lg.add_argument("--tail", type=positive, default=100)
    host = sub.add_parser("host", help="the hosts workers run on: list, add to a pod, drain, remove",
                          parents=[common])
    host_sub = host.add_subparsers(dest="host_command", required=True, metavar="ACTION", parser_class=Parser)
    add(host_sub, "ls", hosts.cmd_host_ls, "list the hosts: pods, capacity, nodes, reachability, CPU use")
    ha = add(host_sub, "add", hosts.cmd_host_add, "put a host (a spare) into a pod")
    ha.add_argument("host"), ha.add_argument("pod")
    hd = add(host_sub, "drain", hosts.cmd_host_drain,
             "move a host's nodes to their pods' other hosts, each new one serving before the old one drains")
    hd.add_argument("host")
    drain_options(hd)
    hr = add(host_sub, "rm", hosts.cmd_host_rm, "take a host out of its pod (draining it first): back to the spares")
    hr.add_argument("host")
    hr.add_argument("--pod", help="the pod it leaves (when it is in several)")
    drain_options(hr)

    manager = sub.add_parser("manager", help="the managers: leader, virtual IP, etcd", parents=[common])
    manager_sub = manager.add_subparsers(dest="manager_command", required=True, metavar="ACTION",
                                         parser_class=Parser)
    add(manager_sub, "ls", managers.cmd_manager_ls,
        "list the managers, the leader and its epoch, who holds the virtual IP, the etcd members")

    add(sub, "status", cluster.cmd_status, "pods, apps and recent events")
    add(sub, "events", cluster.cmd_events, "recent events").add_argument("--limit", type=positive, default=50)
    bench_parser(add(sub, "bench", cmd_bench, "open-loop load through HAProxy: Poisson arrivals, "
                      "latency from the scheduled send time (see docs/cli.md)"))
    return p


def drain_options(parser) -> None:
    parser.add_argument("--no-wait", action="store_true", help="return at once; the nodes move in the background")
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT,
                        help=f"seconds to wait for the drain at most (default {DEFAULT_WAIT:g})")


def wait_options(parser) -> None:
    parser.add_argument("--wait", action="store_true",
                        help="block until the nodes serve through HAProxy (exit 4 if they do not in time)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_WAIT,
                        help=f"seconds --wait waits at most (default {DEFAULT_WAIT:g})")
