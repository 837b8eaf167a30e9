"""Settings of the manager: one dataclass, read from YAML then environment.

Order of precedence (later wins):
1. the defaults below (right for the lab's manager),
2. a YAML file: `Settings.load(path)`, or the file named by $SIMPLECLOUD_CONFIG,
3. environment variables `SIMPLECLOUD_<FIELD>` (upper case), e.g.
   `SIMPLECLOUD_ETCD_PORT=23790`. `docker_hosts` from the environment is JSON
   (`{"*": "unix:///var/run/docker.sock"}`) or `host=url,host=url`.

Then `slowdown` (a lab N times slower than the container lab: VMs under
emulation) multiplies the time budgets and polling intervals named in
SLOWED, whatever set them: a slower lab gets N times the time and is polled
N times less often.

Unknown keys in the file are an error naming them, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from dataclasses import dataclass, field

import yaml

from orchestrator.core.errors import ValidationError

ENV_PREFIX = "SIMPLECLOUD_"
CONFIG_ENV = "SIMPLECLOUD_CONFIG"


@dataclass
class Settings:
    # --- etcd: where all desired state lives ---
    etcd_host: str = "127.0.0.1"
    etcd_port: int = 2379
    etcd_prefix: str = "/simplecloud/"      # every key lives under this prefix
    # TLS with a client certificate (the lab's etcd accepts nothing else);
    # all three empty = plain HTTP (a throwaway etcd in tests).
    etcd_ca_file: str = ""
    etcd_cert_file: str = ""
    etcd_key_file: str = ""

    # --- pod hosts ---
    slowdown: float = 1.0                   # how many times slower than the container lab (lab.yml)
    docker_hosts: dict[str, str] = field(default_factory=dict)
    """Inventory host name → Docker base URL, e.g. {"pod-light": "ssh://simplecloud@pod-light"}.
    The key "*" is the fallback for any host (tests: {"*": "unix:///var/run/docker.sock"})."""
    pod_network: str = "cloud"              # docker network the workers join on each pod host
    job_image_prefix: str = "simplecloud/"  # lab: "manager:5050/simplecloud/"

    # --- HAProxy (runs on the manager) ---
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
                                            # per request to the metrics (p95); 0 = no request log

    # --- host links: one supervised SSH connection per pod host (edges/hostlink.py) ---
    ssh_config_file: str = ""               # ssh_config for the links; "" means ~/.ssh/config
    link_dir: str = "/run/simplecloud/links"  # the links' local Docker sockets (directory mode 700)
    docker_dial_command: str = "socat - UNIX-CONNECT:/var/run/docker.sock"
    """Run on the pod host for each Docker API connection over the link."""
    docker_call_timeout: float = 10.0       # deadline of every Docker call, seconds
    link_connect_timeout: float = 5.0       # SSH connect + handshake deadline
    link_keepalive: float = 5.0             # SSH keepalive interval
    link_ping_interval: float = 1.0         # seconds between pings of the engine over the link
    link_ping_timeout: float = 2.0          # a ping slower than this is missed
    link_ping_failures: int = 2             # missed pings in a row before the link is down
    link_backoff_max: float = 30.0          # longest wait between reconnects
    host_parallelism: int = 20              # steps run side by side on one host

    # --- healing and updates (core/healing.py) ---
    start_timeout: float = 30.0             # a new worker must pass a health check within this
    backoff_max: float = 60.0               # longest wait before replacing a crashing node again
    backoff_reset: float = 60.0             # seconds of serving that forget a crash streak
    max_surge: int = 1                      # nodes per app replaced side by side in an update
    worker_pids_limit: int = 512            # processes per worker container (a fork bomb stays inside)
    busy_grace: float = 30.0                # a worker DOWN but busy (overloaded) is replaced after this
    hung_probe: float = 0.3                 # seconds of CPU use that tell a DOWN worker hung (none) from busy

    # --- API and controllers ---
    api_bind: str = "0.0.0.0:5000"
    # Optional: HAProxy serves the API over TLS on this HOST:PORT with this
    # PEM (certificate + key); empty = no TLS listener.
    api_tls_bind: str = ""
    api_tls_pem: str = ""
    token_file: str = "/etc/simplecloud/token"   # bearer token for state-changing calls
    reconcile_interval: float = 2.0         # seconds between passes when nothing wakes them
    health_poll_interval: float = 0.1       # seconds between reads of HAProxy's health checks (local, cheap)
    metrics_interval: float = 2.0           # seconds between metric samples (HAProxy counters, CPU)
    # --- autoscaling ---
    decision_interval: float = 5.0          # seconds between autoscale decisions
    waker_port: int = 5001                  # 127.0.0.1 port that holds the first request of an app at zero (0 = off)

    def docker_url(self, host: str) -> str:
        """Docker base URL for inventory host `host` (falls back to the "*" entry)."""
        if host in self.docker_hosts:
            return self.docker_hosts[host]
        if "*" in self.docker_hosts:
            return self.docker_hosts["*"]
        raise ValidationError(
            "docker_hosts",
            f"no Docker URL for host {host!r}; add it to docker_hosts in the settings "
            f"(e.g. {host}: ssh://simplecloud@{host}) or set a '*' fallback")

    @classmethod
    def load(cls, path: str | None = None, environ: typing.Mapping[str, str] | None = None) -> Settings:
        """Defaults, then the YAML file (`path` or $SIMPLECLOUD_CONFIG), then env overrides."""
        env = os.environ if environ is None else environ
        values: dict = {}
        path = path or env.get(CONFIG_ENV)
        if path:
            values.update(_read_yaml(path))
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _from_env(f.name, raw)
        settings = cls(**{k: _coerce(k, v) for k, v in values.items()})
        if not settings.slowdown > 0:
            raise ValidationError("slowdown", f"slowdown {settings.slowdown:g} must be above 0 "
                                              "(1 = as fast as the container lab)")
        return dataclasses.replace(settings, **{n: getattr(settings, n) * settings.slowdown for n in SLOWED})


SLOWED = ("start_timeout", "docker_call_timeout", "link_connect_timeout", "link_ping_interval",
          "link_ping_timeout", "check_timeout", "connect_timeout", "busy_grace", "hung_probe", "reconcile_interval",
          "decision_interval")
"""The settings that ``slowdown`` multiplies: time budgets for machines and how often they are polled."""

_TYPES = {f.name: f.type for f in dataclasses.fields(Settings)}


def _read_yaml(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ValidationError("config", f"cannot read settings file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValidationError("config", f"settings file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("config", f"settings file {path} must be a mapping of field: value")
    unknown = sorted(set(data) - set(_TYPES))
    if unknown:
        raise ValidationError(
            "config", f"unknown setting(s) {', '.join(unknown)} in {path}; "
                      f"known settings are: {', '.join(_TYPES)}")
    return data


def _from_env(name: str, raw: str):
    if name != "docker_hosts":
        return raw
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(name, f"{ENV_PREFIX}DOCKER_HOSTS is not valid JSON: {exc}") from exc
    hosts = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        host, sep, url = item.partition("=")
        if not sep or not host or not url:
            raise ValidationError(name, f"{ENV_PREFIX}DOCKER_HOSTS entry {item!r} must look like host=url")
        hosts[host.strip()] = url.strip()
    return hosts


def _coerce(name: str, value):
    """Turn a YAML/env value into the field's type, or say what is wrong."""
    kind = _TYPES[name]
    try:
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "str":
            if not isinstance(value, (str, int, float)):
                raise TypeError
            return str(value)
        if kind == "dict[str, str]":
            if not isinstance(value, dict):
                raise TypeError
            return {str(k): str(v) for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ValidationError(name, f"setting {name} must be of type {kind}, got {value!r}")
