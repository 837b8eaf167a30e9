"""`simplecloud-manager`: the manager process, and the one place it is put together.

This module is the composition root: it reads the settings, builds every
edge once (the ``Store`` over etcd, the ``HostPool`` of host links, the
``HAProxy`` driver), the use cases over them, the controller loops and the
web app, and hands each part what it needs (a settings group, an edge, a
use case). Nothing else builds an edge.

One process, two jobs:

* the REST API, the dashboard at ``/`` and Prometheus ``/metrics`` (Flask app
  from ``orchestrator.api``) served by waitress on ``api_bind``; the
  API only writes desired state to etcd;
* the controller (``orchestrator.control``: a reconciler per pod host, the
  HAProxy sync, the sampler, the autoscaler, the waker) in background
  threads, making the pod hosts and HAProxy match that state.

Because all state lives in etcd, the process can be killed at any moment and
restarted: the controller's first pass picks up where the last one stopped.
SIGTERM and SIGINT stop it cleanly: the API stops accepting requests, the
controller finishes its current pass, then the process exits 0.

    simplecloud-manager                     # settings from $SIMPLECLOUD_CONFIG / env
    simplecloud-manager --config manager.yaml --bind 127.0.0.1:5000 --no-controller
    simplecloud-manager --label simplecloud.test=1     # tests: mark and own only these containers
"""
from __future__ import annotations

import argparse
import logging
import math
import signal
import socket
import sys
import threading
from collections.abc import Callable

from flask import Flask
from waitress.server import create_server

from orchestrator.api import create_app
from orchestrator.api.token_file import TokenFileError, ensure_token
from orchestrator.control.autoscaler import Autoscaler, Scaler
from orchestrator.control.controller import Controller
from orchestrator.control.etcd_monitor import EtcdMonitor
from orchestrator.control.haproxy_sync import HAProxySync
from orchestrator.control.lb_mirror import LBMirror, PublishedHAProxy
from orchestrator.control.placer import Placer
from orchestrator.control.reconciler import HostReconciler
from orchestrator.control.sampler import Sampler
from orchestrator.control.spares import SpareHosts
from orchestrator.control.waker import Waker
from orchestrator.control.warm_pools import WarmPools
from orchestrator.core.errors import SimpleCloudError, Unavailable
from orchestrator.edges.election import ElectionTimes, Leadership
from orchestrator.edges.haproxy import HAProxy
from orchestrator.edges.hostpool import HostPool
from orchestrator.edges.local_net import local_addresses
from orchestrator.edges.peers import Peers
from orchestrator.edges.protocols import HAProxyProtocol, PeersProtocol, StoreProtocol
from orchestrator.edges.store import Store
from orchestrator.observe.collectors import (
    EtcdCollector,
    FiguresCollector,
    LinkCollector,
    StoreCollector,
)
from orchestrator.observe.telemetry import Telemetry
from orchestrator.settings import Settings
from orchestrator.usecases import UseCases
from orchestrator.usecases.managers import Managers
from orchestrator.usecases.pools import hosts_of

log = logging.getLogger("orchestrator.server")

CONTROLLER_STOP_TIMEOUT = 30.0


def parse_bind(bind: str) -> tuple[str, int]:
    """``"0.0.0.0:5000"`` or ``"[::1]:5000"`` -> (host, port); ValueError says what is wrong."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"api_bind {bind!r} must look like HOST:PORT, e.g. 127.0.0.1:5000")
    return host.strip("[]"), int(port)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simplecloud-manager", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="settings YAML file (default: $SIMPLECLOUD_CONFIG)")
    p.add_argument("--bind", help="HOST:PORT for the API (overrides settings.api_bind)")
    p.add_argument("--no-controller", action="store_true",
                   help="serve the API only; do not reconcile hosts and HAProxy (tests, read-only replicas)")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads (default 8)")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", type=parse_label,
                   help="extra label on every worker container this manager creates; it then also only "
                        "manages containers that carry it (tests: --label simplecloud.test=1)")
    return p


def parse_label(text: str) -> tuple[str, str]:
    """``"simplecloud.test=1"`` -> ("simplecloud.test", "1")."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"label {text!r} must look like KEY=VALUE, e.g. simplecloud.test=1")
    return key, value


def build_controller(store: StoreProtocol, hosts: HostPool, haproxy: HAProxy, settings: Settings,
                     scaler: Scaler | None = None, telemetry: Telemetry | None = None,
                     leadership: Leadership | None = None, acting_store: StoreProtocol | None = None,
                     acting_scaler: Scaler | None = None, peers: PeersProtocol | None = None) -> Controller:
    """Every controller loop (control/), wired, not started yet; each loop is
    handed only its settings. The waker scales apps through ``scaler`` (the
    apps use case over ``store``), the autoscaler through ``acting_scaler``
    (the same over the fenced store; default ``scaler``); None runs neither.

    With a ``leadership`` the acting loops (reconcilers, autoscaler) write
    through ``acting_store`` (``store.fenced(leadership.check)``), check it
    before every step, and drive a ``PublishedHAProxy`` whose servers every
    other manager mirrors. With ``peers`` (the other managers' APIs), the
    sampler adds their HAProxies' counters to this one's: the leader's
    autoscaler sees every request, whichever manager it came in through."""
    telemetry = telemetry or Telemetry()
    me = manager_name(settings)
    sampler = Sampler(store, haproxy, hosts, settings.intervals.metrics_interval,
                      log_port=settings.haproxy.haproxy_log_port,
                      peers=(lambda: peers.backends(me)) if peers is not None else None)
    sync = HAProxySync(store, haproxy, settings.intervals, log=logging.getLogger("orchestrator.haproxy_sync"))
    acting_store = acting_store or store
    driven: HAProxyProtocol = haproxy
    published = mirror = None
    guard: Callable[[], int | None] = _no_election
    if leadership is not None:
        guard = leadership.check
        published = PublishedHAProxy(haproxy, acting_store, logging.getLogger("orchestrator.lb"))
        driven = published
        mirror = LBMirror(store, haproxy, settings.manager.lb_mirror_interval, lambda: None,
                          logging.getLogger("orchestrator.lb"))

    def new_reconciler(host: str) -> HostReconciler:
        return HostReconciler(host, acting_store, hosts, driven, settings.healing, settings.workers,
                              settings.intervals.reconcile_interval,
                              logging.getLogger(f"orchestrator.reconciler.{host}"), telemetry=telemetry,
                              guard=guard)

    autoscaler = waker = warm_pools = None
    if scaler is not None:
        spares = SpareHosts(acting_store, settings.pools.spare_return_window, logging.getLogger("orchestrator.spares"))
        autoscaler = Autoscaler(acting_store, acting_scaler or scaler, sampler, settings.autoscale,
                                logging.getLogger("orchestrator.autoscaler"), telemetry=telemetry, spares=spares)
        waker = Waker(store, scaler, haproxy, settings.autoscale.waker_port, settings.healing.start_timeout,
                      logging.getLogger("orchestrator.waker"))
        warm_pools = WarmPools(acting_store, acting_scaler or scaler, settings.intervals.reconcile_interval,
                               log=logging.getLogger("orchestrator.warm_pools"))
    monitor = EtcdMonitor(store, log=logging.getLogger("orchestrator.etcd_monitor"), events=acting_store,
                          leading=(lambda: me if leadership.may_act() else None) if leadership is not None
                          else lambda: None)
    for collector in (StoreCollector(store), LinkCollector(hosts.states), FiguresCollector(sampler.figures),
                      EtcdCollector(monitor.reading)):
        telemetry.add_collector(collector)
    placer = Placer(acting_store, settings.pools.host_grace, settings.intervals.reconcile_interval,
                    hosts_of(settings.pools.pod_hosts), logging.getLogger("orchestrator.placer"))
    controller = Controller(store, hosts, sync, sampler, new_reconciler, settings.intervals.reconcile_interval,
                            autoscaler=autoscaler, waker=waker, telemetry=telemetry,
                            log=logging.getLogger("orchestrator.controller"), leadership=leadership,
                            acting_store=acting_store, lb_mirror=mirror, published=published, placer=placer,
                            etcd_monitor=monitor, warm_pools=warm_pools)
    if mirror is not None:
        mirror.leading = controller.leading
    return controller


def _no_election() -> None:
    """The guard of a manager without an election: it may always act, with no epoch."""
    return None


def build_leadership(store: Store, settings: Settings) -> Leadership:
    """This manager's candidacy (edges/election.py), on the store's connection."""
    manager = settings.manager
    name = manager_name(settings)
    times = ElectionTimes(ttl=max(1, math.ceil(manager.leader_ttl)),
                          renew_interval=manager.leader_renew_interval,
                          renew_deadline=manager.leader_renew_deadline, retry=manager.leader_retry)
    return Leadership(store.etcd.client, settings.etcd.etcd_prefix, name, times,
                      api=manager.managers.get(name, ""))


def build_web_app(settings: Settings, cases: UseCases, controller: Controller | None = None,
                  token: str | None = None) -> Flask:
    """The Flask app over the use cases, with ``token`` (default: that of
    ``token_file``, created on first start, mode 600: api/token_file.py)."""
    return create_app(cases, token=token or ensure_token(settings.api.token_file), controller=controller,
                      etcd_budget=settings.api.api_etcd_deadline)


def build_managers(store: StoreProtocol, settings: Settings, token: str) -> Managers:
    """This manager among the others (``GET /api/managers``): its peers' APIs, its own addresses."""
    manager = settings.manager
    peers = Peers(manager.managers, token) if manager.managers else None
    return Managers(store, manager_name(settings), vip=manager.vip, peers=peers, addresses=local_addresses)


def register_hosts(cases: UseCases, settings: Settings) -> None:
    """The hosts of the settings into etcd, if missing or changed; with etcd
    down, the leader's placer does it when its term begins."""
    try:
        cases.pools.register(hosts_of(settings.pools.pod_hosts))
    except Unavailable as exc:
        log.warning("cannot register the hosts of the settings now (%s); the leader does it later", exc)


def manager_name(settings: Settings) -> str:
    """This manager's name: the setting, else the machine's host name."""
    return settings.manager.manager_name or socket.gethostname()


def build_haproxy(settings: Settings) -> HAProxy:
    """The HAProxy driver: its group, and where the API and the waker listen (haproxy.cfg points there)."""
    return HAProxy(settings.haproxy, waker_port=settings.autoscale.waker_port,
                   api_port=parse_bind(settings.api.api_bind)[1])


def _raise_exit(signum, frame):
    # waitress's run() loop catches SystemExit and closes its sockets.
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``simplecloud-manager``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("paramiko").setLevel(logging.WARNING)     # one line per SSH handshake otherwise
    try:
        settings = Settings.load(args.config)
        host, port = parse_bind(args.bind or settings.api.api_bind)
        store = Store.from_settings(settings.etcd)
        # One pool: the use cases check images on it, the controller drives it.
        hosts = HostPool(settings.links, extra_labels=dict(args.label))
        token = ensure_token(settings.api.token_file)
        managers = build_managers(store, settings, token)
        cases = UseCases.over(store, hosts, settings.workers.job_image_prefix, managers=managers,
                              pods_hosts=settings.pools.pods_hosts)
        register_hosts(cases, settings)
        # The web layer reads the controller's figures (dashboard, /metrics).
        controller = None
        if not args.no_controller:
            # Several managers may run: the one elected acts, the others stand by.
            leadership = build_leadership(store, settings)
            fenced = store.fenced(leadership.check)
            acting = UseCases.over(fenced, hosts, settings.workers.job_image_prefix)
            controller = build_controller(store, hosts, build_haproxy(settings), settings, cases.apps,
                                          leadership=leadership, acting_store=fenced, acting_scaler=acting.apps,
                                          peers=managers.peers)
        app = build_web_app(settings, cases, controller, token)
        server = create_server(app, host=host, port=port, threads=args.threads, ident="simplecloud")
    except (SimpleCloudError, ValueError, OSError, TokenFileError) as exc:
        print(f"simplecloud-manager: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    if controller is not None:
        controller.start(stop)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGINT, _raise_exit)
    log.info("simplecloud API listening on http://%s:%d (controller: %s)", host, port,
             "on" if controller else "off")
    try:
        server.run()
    finally:
        log.info("shutting down")
        server.close()
        stop.set()
        if controller is not None and not controller.join(CONTROLLER_STOP_TIMEOUT):
            log.warning("the controller did not stop within %.0f s", CONTROLLER_STOP_TIMEOUT)
        hosts.close()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
