"""Settings of the manager: small groups, one per concern, read from YAML then environment.

Each component is handed only its group (``Store.from_settings(settings.etcd)``,
``HostPool(settings.links)``, ``HAProxy(settings.haproxy, ...)``, the
reconciler ``settings.healing`` ...); ``server.py`` does the handing out.

The file and the environment stay flat: every field name is unique across
the groups, so ``etcd_port: 23790`` in the YAML file (what
roles/orchestrator/templates/config.yml.j2 writes) or
``SIMPLECLOUD_ETCD_PORT=23790`` sets ``settings.etcd.etcd_port``.

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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from orchestrator.core.errors import ValidationError
from orchestrator.core.haproxy_config import HAProxySettings
from orchestrator.core.healing import HealingPolicy

ENV_PREFIX = "SIMPLECLOUD_"
CONFIG_ENV = "SIMPLECLOUD_CONFIG"


@dataclass(frozen=True)
class EtcdSettings:
    """Where all desired state lives (edges/store/)."""

    etcd_host: str = "127.0.0.1"
    etcd_port: int = 2379
    etcd_endpoints: str = ""                # every member, "host:port,host:port", the nearest first;
                                            # "" = etcd_host:etcd_port alone
    etcd_quota_bytes: int = 0               # etcd's --quota-backend-bytes; 0 = read it from etcd's metrics
    etcd_prefix: str = "/simplecloud/"      # every key lives under this prefix
    # TLS with a client certificate (the lab's etcd accepts nothing else);
    # all three empty = plain HTTP (a throwaway etcd in tests).
    etcd_ca_file: str = ""
    etcd_cert_file: str = ""
    etcd_key_file: str = ""

    def tls(self) -> tuple[str, str, str] | None:
        """(CA, client certificate, client key), or None for plain HTTP; all three or none."""
        files = (self.etcd_ca_file, self.etcd_cert_file, self.etcd_key_file)
        if any(files) and not all(files):
            raise ValueError("etcd TLS needs all of etcd_ca_file, etcd_cert_file and etcd_key_file")
        return files if all(files) else None


@dataclass(frozen=True)
class LinkSettings:
    """How the pod hosts are reached: one supervised SSH link each (edges/hostlink.py)."""

    docker_hosts: dict[str, str] = field(default_factory=dict)
    """Inventory host name → Docker base URL, e.g. {"pod-light": "ssh://simplecloud@pod-light"}.
    The key "*" is the fallback for any host (tests: {"*": "unix:///var/run/docker.sock"})."""
    pod_network: str = "cloud"              # docker network the workers join on each pod host
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


@dataclass(frozen=True)
class WorkerSettings:
    """What worker containers are made from, and how many steps run at once on a host."""

    job_image_prefix: str = "simplecloud/"  # the built-in jobs' images; lab: "manager:5050/simplecloud/"
    worker_pids_limit: int = 512            # processes per worker container (a fork bomb stays inside)
    host_parallelism: int = 20              # steps run side by side on one host


@dataclass(frozen=True)
class IntervalSettings:
    """How often the manager's loops look again when nothing wakes them."""

    reconcile_interval: float = 2.0         # seconds between passes when nothing wakes them
    health_poll_interval: float = 0.1       # seconds between reads of HAProxy's health checks (local, cheap)
    metrics_interval: float = 2.0           # seconds between samples (HAProxy counters, CPU)


@dataclass(frozen=True)
class AutoscaleSettings:
    """The autoscaler and the waker (control/autoscaler.py, control/waker.py)."""

    decision_interval: float = 5.0          # seconds between autoscale decisions
    waker_port: int = 5001                  # 127.0.0.1 port that holds the first request of an app at zero (0 = off)


@dataclass(frozen=True)
class ApiSettings:
    """The REST API (server.py)."""

    api_bind: str = "0.0.0.0:5000"
    token_file: str = "/etc/simplecloud/token"   # bearer token for state-changing calls
    api_etcd_deadline: float = 2.0          # seconds a request may wait on etcd in all (then 503)


@dataclass(frozen=True)
class ManagerSettings:
    """This manager among several: the election and the load balancer's mirror
    (edges/election.py, control/controller.py, control/lb_mirror.py)."""

    manager_name: str = ""                  # this manager (inventory name); "" = the machine's host name
    managers: dict[str, str] = field(default_factory=dict)
    """Every manager's API URL by name, e.g. {"manager-1": "http://192.168.56.10:5000"} (cloud manager ls)."""
    vip: str = ""                           # the entry point's virtual IP (keepalived), shown to users
    leader_ttl: float = 3.0                 # seconds the leader's lease lives without a renew (whole seconds)
    leader_renew_interval: float = 0.5      # seconds between the leader's renews
    leader_renew_deadline: float = 2.0      # the leader stops acting this long after its last good renew
    leader_retry: float = 0.25              # seconds between a follower's attempts to lead
    lb_mirror_interval: float = 0.25        # seconds between a follower's reads of the leader's server tables


@dataclass(frozen=True)
class PoolSettings:
    """The hosts workers run on and the pods they start in (the inventory: core/placement.py)."""

    pod_hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Every host that can run workers: {host: {address, subnet, nodes, cpus, memory_mb}}."""
    pods_hosts: dict[str, list[str]] = field(default_factory=dict)
    """The pods' hosts as the inventory groups them: {pod: [hosts]} (cloud init)."""
    host_grace: float = 10.0                # seconds a host may be unreachable before its nodes move
    spare_return_window: float = 300.0      # seconds a pod must have room without a lent host to return it


GROUPS: dict[str, type] = {
    "etcd": EtcdSettings, "links": LinkSettings, "haproxy": HAProxySettings,
    "healing": HealingPolicy, "workers": WorkerSettings, "intervals": IntervalSettings,
    "autoscale": AutoscaleSettings, "api": ApiSettings, "manager": ManagerSettings, "pools": PoolSettings,
}
"""Attribute of ``Settings`` → the group's dataclass. Two groups are defined
where they are read, in the core: ``healing`` is ``core.healing.HealingPolicy``
(the policy the planner reads is the setting, with no copy in between) and
``haproxy`` is ``core.haproxy_config.HAProxySettings``."""


@dataclass(frozen=True)
class Settings:
    """Every group, and ``slowdown`` (how many times slower than the container lab, lab.yml)."""

    etcd: EtcdSettings = field(default_factory=EtcdSettings)
    links: LinkSettings = field(default_factory=LinkSettings)
    haproxy: HAProxySettings = field(default_factory=HAProxySettings)
    healing: HealingPolicy = field(default_factory=HealingPolicy)
    workers: WorkerSettings = field(default_factory=WorkerSettings)
    intervals: IntervalSettings = field(default_factory=IntervalSettings)
    autoscale: AutoscaleSettings = field(default_factory=AutoscaleSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    manager: ManagerSettings = field(default_factory=ManagerSettings)
    pools: PoolSettings = field(default_factory=PoolSettings)
    slowdown: float = 1.0

    @classmethod
    def of(cls, **values: Any) -> Settings:
        """Defaults with some fields set by their flat names, e.g. ``Settings.of(etcd_port=23790)``
        (no slowdown applied: that is ``load``'s)."""
        return cls().updated(**values)

    def updated(self, **values: Any) -> Settings:
        """A copy with some fields changed, by their flat names."""
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            raise ValidationError(unknown[0], f"unknown setting(s) {', '.join(unknown)}")
        top = {k: values.pop(k) for k in list(values) if FIELDS[k] is None}
        groups = {}
        for attr in GROUPS:
            mine = {k: v for k, v in values.items() if FIELDS[k] == attr}
            if mine:
                groups[attr] = dataclasses.replace(getattr(self, attr), **mine)
        return dataclasses.replace(self, **groups, **top)

    def flat(self) -> dict[str, Any]:
        """Every field by its flat name (what the file and the environment set)."""
        out: dict[str, Any] = {"slowdown": self.slowdown}
        for attr in GROUPS:
            out.update(dataclasses.asdict(getattr(self, attr)))
        return out

    @classmethod
    def load(cls, path: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults, then the YAML file (`path` or $SIMPLECLOUD_CONFIG), then env overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        path = path or env.get(CONFIG_ENV)
        if path:
            values.update(_read_yaml(path))
        for name in FIELDS:
            raw = env.get(ENV_PREFIX + name.upper())
            if raw is not None:
                values[name] = _from_env(name, raw)
        settings = cls.of(**{k: _coerce(k, v) for k, v in values.items()})
        if not settings.slowdown > 0:
            raise ValidationError("slowdown", f"slowdown {settings.slowdown:g} must be above 0 "
                                              "(1 = as fast as the container lab)")
        flat = settings.flat()
        return settings.updated(**{n: flat[n] * settings.slowdown for n in SLOWED})


SLOWED = ("start_timeout", "docker_call_timeout", "link_connect_timeout", "link_ping_interval",
          "link_ping_timeout", "check_timeout", "connect_timeout", "busy_grace", "hung_probe",
          "reconcile_interval", "decision_interval", "leader_ttl", "leader_renew_interval",
          "leader_renew_deadline", "leader_retry", "host_grace", "api_etcd_deadline")
"""The settings that ``slowdown`` multiplies: time budgets for machines and how often they are polled."""

FIELDS: dict[str, str | None] = {"slowdown": None, **{
    f.name: attr for attr, group in GROUPS.items() for f in dataclasses.fields(group)}}
"""Flat field name → the attribute of the group that holds it (None: Settings itself)."""

_TYPES = {"slowdown": "float", **{f.name: str(f.type) for group in GROUPS.values()
                                  for f in dataclasses.fields(group)}}

if len(FIELDS) != 1 + sum(len(dataclasses.fields(g)) for g in GROUPS.values()):
    raise AssertionError("a setting's name is used in two groups: the flat file could not tell them apart")


def _read_yaml(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ValidationError("config", f"cannot read settings file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValidationError("config", f"settings file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError("config", f"settings file {path} must be a mapping of field: value")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValidationError(
            "config", f"unknown setting(s) {', '.join(unknown)} in {path}; "
                      f"known settings are: {', '.join(FIELDS)}")
    return data


def _from_env(name: str, raw: str) -> Any:
    if not _TYPES[name].startswith("dict"):
        return raw
    raw = raw.strip()
    if raw.startswith("{") or not _TYPES[name] == "dict[str, str]":
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(name, f"{ENV_PREFIX}{name.upper()} is not valid JSON: {exc}") from exc
    pairs = {}
    for item in filter(None, (p.strip() for p in raw.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            example = "host=url" if name == "docker_hosts" else "name=url"
            raise ValidationError(name, f"{ENV_PREFIX}{name.upper()} entry {item!r} must look like {example}")
        pairs[key.strip()] = value.strip()
    return pairs


def _coerce(name: str, value: Any) -> Any:
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
        if kind.startswith("dict"):
            if not isinstance(value, dict):
                raise TypeError
            return {str(k): v for k, v in value.items()}
    except (TypeError, ValueError):
        pass
    else:
        return value
    raise ValidationError(name, f"setting {name} must be of type {kind}, got {value!r}")
