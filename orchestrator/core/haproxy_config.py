"""Render haproxy.cfg from the apps and their servers (pure, no I/O).

The file has four parts (see templates/haproxy.cfg.j2):

- ``global``: master-worker mode (for hitless reloads), the admin socket the
  Runtime API uses, and the server-state file that carries servers' states
  over a reload;
- ``defaults``: HTTP mode, timeouts, ``load-server-state-from-file global``;
- ``listen stats`` on ``stats_bind`` (loopback only): ``/stats`` and,
  when the HAProxy build has it, Prometheus ``/metrics``;
- ``frontend http`` on ``frontend_bind``: one route per app, by Host
  header and/or path prefix, the most specific first; anything else is
  answered by backend ``no_app`` with a JSON 404; when
  ``haproxy_log_port`` is set, it also sends one line per request
  (``core.haproxy_stats.LOG_FORMAT``) over UDP to the manager's metrics receiver
  on 127.0.0.1 (edges/haproxy_log.py);
- one ``backend app_<name>`` per app with its balance algorithm, its health
  check and its current servers; an app that scales to zero also has the
  manager's waker as a backup server (control/waker.py).

Everything it reads of the settings is their HAProxy group
(:class:`HAProxySettings`, ``settings.haproxy``), plus where the API and the
waker listen.

Servers added at run time through the Runtime API must also be written
here, or the next reload would drop them; that is why ``render`` takes the
servers as well as the apps.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2

from orchestrator.core import validate
from orchestrator.core.errors import ValidationError
from orchestrator.core.haproxy_stats import LOG_FORMAT
from orchestrator.core.model import App, Server
from orchestrator.core.naming import backend_name

NODE_MAXCONN = 8
"""Requests a node is sent at once; more wait in its backend's queue
(``timeout queue``) and go to the first node that frees up, a new one
included. So a saturated app's backlog is HAProxy's queue (``qcur``, which
the autoscaler reads as demand), not a node's listen backlog that nothing
sees and only that node drains (docs/decisions.md, issue 23)."""

SERVER_OPTIONS = ("check inter 1s fastinter 250ms downinter 250ms fall 2 rise 1 "
                  f"observe layer4 error-limit 1 on-error fastinter maxconn {NODE_MAXCONN}")
"""Health-check timing of every server: checked each second while up; down
after 2 failures (the second one 250 ms after the first); while down, checked
every 250 ms, so a new worker (added "down until proven up") takes traffic
about a quarter of a second after it starts answering. Traffic is watched
too (``observe layer4``): one failed connection (a killed worker's address
answers nothing) brings the next checks forward (``on-error fastinter``), so
a dead worker is down within about half a second, not two; the requests
sent to it meanwhile wait one ``timeout connect`` and are retried on another
worker. Only the checks take a worker out: with ``sudden-death`` or
``mark-down`` one dropped SYN of a busy worker did, and under load, one after
another, all of them (a lab run: "no server available"). Used as
``default-server`` in the file and given explicitly to servers added through
the Runtime API (which, in HAProxy 2.6, do not inherit ``default-server``).
``maxconn``: :data:`NODE_MAXCONN`."""

WAKER_MAXCONN = 32
"""Connections HAProxy sends the waker at once per app at zero; more wait in
HAProxy's queue (``timeout queue``), and the waker itself holds at most
``control.waker.MAX_HELD`` in all."""
RETRIES = 3               # a request's connection attempts after the first (the backends' ``retries``)

NO_APP_BACKEND = "no_app"
T = TypeVar("T")


@dataclass(frozen=True)
class HAProxySettings:
    """HAProxy on the manager: the settings group ``settings.haproxy``, read by
    the renderer here and by the driver (edges/haproxy/)."""

    haproxy_config: str = "/etc/haproxy/haproxy.cfg"
    haproxy_admin_socket: str = "/run/haproxy/admin.sock"     # Runtime API
    haproxy_master_socket: str = "/run/haproxy-master.sock"   # master CLI (reload)
    haproxy_bin: str = "/usr/sbin/haproxy"
    haproxy_state_file: str = "/var/lib/haproxy/server-state"  # servers kept across reloads
    haproxy_socket_group: str = ""          # admin socket mode 660 for this group ("" = mode 600, root's)
    haproxy_user: str = "haproxy"           # workers drop root for this user and group ("" = stay)
    haproxy_chroot: str = "/var/lib/haproxy"  # and are jailed here ("" = no chroot)
    frontend_bind: str = "*:80"             # where users reach the apps
    check_timeout: float = 1.0              # seconds a worker has to answer a health check
    connect_timeout: float = 0.25           # seconds a worker has to accept HAProxy's connection
    stats_bind: str = "127.0.0.1:8404"      # HAProxy stats page / CSV
    haproxy_log_port: int = 5140            # UDP port on 127.0.0.1 where HAProxy sends one line
                                            # per request to the sampler (p95); 0 = no request log
    # Optional: HAProxy serves the API over TLS on this HOST:PORT with this
    # PEM (certificate + key); empty = no TLS listener.
    api_tls_bind: str = ""
    api_tls_pem: str = ""


_LOOPBACK = ("127.", "localhost:", "[::1]:")

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)


@dataclass(frozen=True)
class Route:
    """How the frontend picks one app's backend."""

    app: str
    backend: str
    acls: tuple[str, ...]     # "acl" lines without the keyword
    condition: str            # the "if" condition of use_backend
    specificity: tuple[int, int]


@dataclass(frozen=True)
class BackendBlock:
    name: str
    balance: str
    health_path: str
    servers: tuple[Server, ...]
    strip_prefix: str | None = None   # path prefix removed before forwarding
    app: str = ""
    waker: str | None = None          # ADDR:PORT of the waker (apps that scale to zero)


def normalize_path(path: str | None) -> str | None:
    """``"/light/"`` → ``"/light"``; ``"/"`` stays ``"/"``; empty → None."""
    if not path:
        return None
    stripped = path.rstrip("/")
    return stripped or "/"


def _checked(app: App, check: Callable[[Any, str], T], value: Any, field: str) -> T:
    """``value`` through the API's own check (core/validate.py): the file never
    holds a value the API would refuse. Errors name the app."""
    try:
        return check(value, field)
    except ValidationError as exc:
        raise ValidationError(field, f"app {app.name}: {exc.message}") from None


def refused_apps(apps: Iterable[App]) -> dict[str, str]:
    """Apps that cannot be rendered (a value the API would refuse, e.g. a record
    written before the checks were exact), name → why. The HAProxy sync leaves them
    out, so one bad app never stops routing for the others."""
    refused = {}
    for app in apps:
        try:
            route_for(app)
            _backend(app, ())
        except ValidationError as exc:
            refused[app.name] = exc.message
    return refused


def route_for(app: App) -> Route | None:
    """The frontend route of one app, or None if it has neither path nor host."""
    _checked(app, validate.name, app.name, "name")
    path = normalize_path(app.path)
    host = app.host or None
    if path is None and host is None:
        return None
    if path is not None:
        path = _checked(app, validate.path, path, "path")
    if host is not None:
        host = _checked(app, validate.hostname, host, "host")
    acls, terms = [], []
    if host:
        acls.append(f"host_{app.name} req.hdr(host),host_only -i {host}")
        terms.append(f"host_{app.name}")
    if path == "/":
        acls.append(f"path_{app.name} path_beg /")
        terms.append(f"path_{app.name}")
    elif path:
        # "/light" matches "/light" and "/light/...", never "/lightning".
        acls.append(f"path_{app.name} path {path}")
        acls.append(f"path_{app.name} path_beg {path}/")
        terms.append(f"path_{app.name}")
    return Route(app=app.name, backend=backend_name(app), acls=tuple(acls),
                 condition=" ".join(terms),
                 specificity=(1 if host else 0, len(path or "")))


def _check_settings(settings: HAProxySettings) -> None:
    if not str(settings.stats_bind).startswith(_LOOPBACK):
        raise ValidationError("stats_bind", f"stats_bind {settings.stats_bind!r} must be on "
                              "loopback, e.g. 127.0.0.1:8404 (the stats page is not protected)")
    for field in ("frontend_bind", "haproxy_admin_socket", "haproxy_state_file",
                  "haproxy_user", "haproxy_chroot", "haproxy_socket_group"):
        value = str(getattr(settings, field))
        optional = field in ("haproxy_user", "haproxy_chroot", "haproxy_socket_group")
        if (not value and not optional) or any(c.isspace() or c in "#'\"" for c in value):
            raise ValidationError(field, f"setting {field} {value!r} must be non-empty "
                                  "and contain no spaces, quotes or '#'")


def _timeout_ms(settings: HAProxySettings, field: str, low: float) -> int:
    """A timeout setting in seconds (``check_timeout``: how long a health check
    may wait for its answer; ``connect_timeout``: for a worker to accept a
    connection) as HAProxy's milliseconds."""
    value = getattr(settings, field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= 600:
        raise ValidationError(field, f"setting {field} {value!r} must be seconds between {low:g} and 600")
    return round(value * 1000)


def _request_log(settings: HAProxySettings) -> dict[str, str] | None:
    """Where the frontend sends its per-request log line (the metrics
    receiver on loopback), or None if ``haproxy_log_port`` is 0 (off)."""
    port = settings.haproxy_log_port
    if not port:
        return None
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ValidationError("haproxy_log_port", f"setting haproxy_log_port {port!r} must be "
                              "a UDP port (1-65535), or 0 for no request log")
    return {"target": f"127.0.0.1:{port}", "format": LOG_FORMAT}


def _api_tls(settings: HAProxySettings, api_port: int | None) -> dict[str, str] | None:
    """The API's TLS listener, if configured: HAProxy ends TLS, the API serves on loopback."""
    if not settings.api_tls_bind:
        return None
    if api_port is None:
        raise ValidationError("api_tls_bind", "TLS for the API needs the port the API listens on (api_bind)")
    for field in ("api_tls_bind", "api_tls_pem"):
        value = str(getattr(settings, field))
        if not value or any(c.isspace() or c in "#'\"" for c in value):
            raise ValidationError(field, f"setting {field} {value!r} must be non-empty and "
                                  "contain no spaces, quotes or '#' (TLS for the API needs both)")
    return {"bind": settings.api_tls_bind, "pem": settings.api_tls_pem,
            "server": f"127.0.0.1:{api_port}"}


def _backend(app: App, servers: Iterable[Server], waker: str | None = None) -> BackendBlock:
    _checked(app, validate.name, app.name, "name")
    balance = _checked(app, validate.balance, app.balance, "balance")
    health = _checked(app, validate.health_path, app.health_path or "", "health_path")
    prefix = normalize_path(app.path)
    strip = prefix if getattr(app, "strip_path", False) and prefix not in (None, "/") else None
    return BackendBlock(name=backend_name(app), balance=balance, health_path=health,
                        servers=tuple(sorted(servers, key=lambda s: s.name)),
                        strip_prefix=strip, app=app.name, waker=waker)


def render(apps: Iterable[App], servers_by_backend: Mapping[str, Iterable[Server]],
           settings: HAProxySettings, *, prometheus: bool = False, wake: Collection[str] = (),
           waker_port: int = 0, api_port: int | None = None) -> str:
    """The full haproxy.cfg text for ``apps`` and their current servers.

    ``servers_by_backend`` maps ``app_<name>`` to that backend's servers;
    servers of backends without an app are ignored (their app is gone).
    ``prometheus`` adds ``/metrics`` to the stats listener; pass True only if
    the HAProxy build has the exporter (``haproxy -vv`` says "Prometheus").
    Apps named in ``wake`` (they scale to zero) get the waker on 127.0.0.1:
    ``waker_port`` as a backup server, and a 503 from it is retried (see
    model.WAKER_SERVER). ``api_port``: where the API listens on loopback (the
    TLS listener of ``api_tls_bind`` forwards there).
    The output is deterministic: same input, same text (so callers can skip
    a reload when nothing changed).
    """
    _check_settings(settings)
    apps = sorted(apps, key=lambda a: a.name)
    routes = [r for r in (route_for(a) for a in apps) if r is not None]
    routes.sort(key=lambda r: (-r.specificity[0], -r.specificity[1], r.app))
    waker = f"127.0.0.1:{waker_port}" if waker_port else None
    backends = [_backend(a, servers_by_backend.get(backend_name(a), ()), waker if a.name in wake else None)
                for a in apps]
    return _env.get_template("haproxy.cfg.j2").render(
        admin_socket=settings.haproxy_admin_socket,
        state_file=settings.haproxy_state_file,
        user=settings.haproxy_user,
        chroot=settings.haproxy_chroot,
        socket_group=settings.haproxy_socket_group,
        stats_bind=settings.stats_bind,
        frontend_bind=settings.frontend_bind,
        prometheus=prometheus,
        api_tls=_api_tls(settings, api_port),
        request_log=_request_log(settings),
        routes=routes,
        backends=backends,
        server_options=SERVER_OPTIONS,
        waker_maxconn=WAKER_MAXCONN,
        retries=RETRIES,
        check_timeout_ms=_timeout_ms(settings, "check_timeout", 0.1),
        connect_timeout_ms=_timeout_ms(settings, "connect_timeout", 0.01),
    )
