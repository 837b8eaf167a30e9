"""Worker containers on pod hosts, through the Docker SDK.

A *pod host* is a machine running a Docker engine. The orchestrator reaches
it through its ``HostLink`` (edges/hostlink.py): a local unix socket carried
over one long-lived SSH connection; in tests, the local engine's socket. Every
call has a deadline (``timeout``): a host that stops answering makes a call
fail, never hang.

This module is an *edge*: it observes (``list_workers``, ``inspect``,
``stats``, ``logs``) and acts (``create_worker``, ``start``, ``stop``,
``kill``, ``remove``) but never decides. Deciding is ``core.plan``'s job.

Every container we make carries the labels ``simplecloud.managed=1``,
``simplecloud.pod``, ``simplecloud.node``, ``simplecloud.app``,
``simplecloud.gen`` (the generation of the spec it was made from),
``simplecloud.epoch`` and ``simplecloud.host`` (the host's inventory name:
two hosts may share an engine); we only
ever list (and so only ever touch) containers with those labels, never a
container someone else started on the same engine.

Docker's exceptions are translated into ``orchestrator.core.errors``
exceptions whose messages say what to do, e.g. "image X is not on host
pod-light; push it to the registry ...".
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests.exceptions

from orchestrator.core import errors
from orchestrator.core.model import Container, worker_security
from orchestrator.core.naming import container_name
from orchestrator.edges.docker_parse import (
    CGROUP_V1_FILES,
    CGROUP_V2_FILES,
    CPU_SCRIPT,
    LABEL_APP,
    LABEL_EPOCH,
    LABEL_GEN,
    LABEL_HOST,
    LABEL_MANAGED,
    LABEL_NODE,
    LABEL_POD,
    container_of,
    parse_cgroup_dump,
    parse_cpu_usage,
    stats_from_raw,
)

log = logging.getLogger(__name__)

DEFAULT_PIDS_LIMIT = 512   # the lab uses settings.worker_pids_limit


class HostUnavailable(errors.SimpleCloudError):
    """A pod host's Docker engine cannot be reached (503) or refused an operation."""

    status = 503


class DockerHost:
    """The worker containers of one pod host.

    ``base_url``     ``ssh://user@host`` or ``unix:///var/run/docker.sock``
    ``network``      the docker network workers join (``cloud`` in the lab)
    ``name``         the inventory name of the host, used in messages
    ``extra_labels`` labels added to every container we create *and* required
                     on every container we list (tests pass
                     ``{"simplecloud.test": "1"}`` so they only see their own)
    ``timeout``      the deadline of every call, in seconds
    ``link``         the HostLink it goes through: while the link is down,
                     calls fail at once with the link's reason

    The Docker client is created on first use, so building a ``DockerHost``
    for an unreachable machine is cheap and only the first call fails.
    """

    def __init__(self, base_url: str, network: str, name: str | None = None,
                 extra_labels: dict[str, str] | None = None, timeout: float = 10.0,
                 link: Any = None):
        self.base_url = base_url
        self.network = network
        self.name = name or base_url
        self.extra_labels = dict(extra_labels or {})
        self.timeout = timeout
        self.link = link
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DockerHost({self.name!r}, {self.base_url!r}, network={self.network!r})"

    # ------------------------------------------------------------ plumbing
    @property
    def client(self) -> docker.DockerClient:
        """The Docker SDK client, connected on first use."""
        if self.link is not None:
            self.link.check_up()
        with self._lock:
            if self._client is None:
                sock = self.base_url.removeprefix("unix://")
                if self.base_url.startswith("unix://") and not os.path.exists(sock):
                    # checked here: docker-py leaks the socket of a failed unix connect
                    raise HostUnavailable(
                        f"host {self.name}: no Docker socket at {sock}; is dockerd running?")
                with self._translate("connect"):
                    self._client = docker.DockerClient(base_url=self.base_url, timeout=self.timeout,
                                                       max_pool_size=POOL_SIZE, version=API_VERSION)
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    @contextmanager
    def _translate(self, what: str, image: str | None = None) -> Iterator[None]:
        """Turn docker/requests exceptions into orchestrator.core.errors ones."""
        try:
            yield
        except docker.errors.ImageNotFound as exc:
            raise errors.NotFound(
                f"image {image or '?'} is not on host {self.name}; push it to the "
                f"registry (or build it on that host) and try again") from exc
        except docker.errors.NotFound as exc:
            raise errors.NotFound(f"{what} on host {self.name}: {_explain(exc)}") from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise errors.Conflict(f"{what} on host {self.name}: {_explain(exc)}") from exc
            raise HostUnavailable(f"{what} on host {self.name} failed: {_explain(exc)}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException,
                OSError) as exc:
            raise HostUnavailable(
                f"{what}: cannot reach the Docker engine of host {self.name} ({exc}); "
                f"is the host up and reachable over SSH?") from exc

    def _labels(self) -> dict[str, str]:
        return {LABEL_MANAGED: "1", **self.extra_labels}

    def _get(self, name: str, what: str) -> Any:
        with self._translate(f"{what} container {name}"):
            return self.client.containers.get(name)

    # ------------------------------------------------------------ observe
    def list_workers(self) -> list[Container]:
        """All containers carrying our labels, in any state, sorted by name."""
        filters = {"label": [f"{k}={v}" for k, v in self._labels().items()]}
        with self._translate("list containers"):
            found = self.client.containers.list(all=True, filters=filters,
                                                sparse=True, ignore_removed=True)
        return sorted((container_of(c.attrs, self.network) for c in found), key=lambda c: c.name)

    def inspect(self, name: str) -> Container:
        """One container by name; NotFound if it does not exist."""
        with self._translate(f"inspect container {name}"):
            return container_of(self.client.api.inspect_container(name), self.network)

    def logs(self, name: str, tail: int = 100) -> str:
        """The last ``tail`` lines of stdout+stderr of a container."""
        with self._translate(f"logs of container {name}"):
            return self.client.api.logs(name, tail=tail).decode("utf-8", errors="replace")

    def stats(self, name: str, sample_seconds: float = 0.5) -> dict[str, float]:
        """One resource sample: ``cpu_percent`` (like ``docker stats``: 100 is
        one full CPU), ``mem_bytes`` (usage without page cache), ``mem_limit``
        (bytes) and ``cpu_limit`` (CPUs, 0 if unlimited).

        Asks the engine's stats API first. Some engines (e.g. Docker 20.10 on
        a host whose cgroup layout containerd cannot fully parse) answer with
        an empty sample; then the container's own cgroup files are read with
        ``docker exec cat`` twice, ``sample_seconds`` apart.
        """
        c = self._get(name, "stats of")
        with self._translate(f"stats of container {name}"):
            raw = c.stats(stream=False)
            result = stats_from_raw(raw) if raw.get("memory_stats") else None
            if result is None:
                result = self._stats_from_cgroup(c, sample_seconds)
        return {**result,
                "cpu_limit": (c.attrs.get("HostConfig", {}).get("NanoCpus") or 0) / 1e9}

    def _stats_from_cgroup(self, c: Any, sample_seconds: float) -> dict[str, float]:
        def sample() -> tuple[float, dict[str, int]]:
            for files in (CGROUP_V1_FILES, CGROUP_V2_FILES):
                code, out = c.exec_run(["cat", *files], demux=False)
                if code == 0:
                    return time.monotonic(), parse_cgroup_dump(out.decode(errors="replace"), files)
            raise HostUnavailable(f"stats of container {c.name} on host {self.name}: the engine "
                                  "gives no stats and the cgroup files cannot be read inside it")
        t0, first = sample()
        time.sleep(sample_seconds)
        t1, second = sample()
        cpu_ns = max(0, second["cpu_ns"] - first["cpu_ns"])
        return {"cpu_percent": round(cpu_ns / ((t1 - t0) * 1e9) * 100.0, 2),
                "mem_bytes": max(0, second["mem_usage"] - second["mem_inactive"]),
                "mem_limit": second["mem_limit"]}

    def cpu_usage(self, ids: list[str], timeout: float | None = None) -> dict[str, int]:
        """CPU time used so far (ns) by each container, read from its cgroup on
        the host in one command over the link (cgroup v1 or v2, cgroupfs or
        systemd driver), within ``timeout`` seconds (default: the link's call
        deadline). An id may be a prefix of at least 10 hex digits (the one in
        a HAProxy server name); the answer is keyed by the ids as given.
        Containers whose cgroup is not found are left out."""
        safe = [i for i in ids if re.fullmatch(r"[0-9a-f]{10,64}", i)]
        if not safe or self.link is None:
            return {}
        return parse_cpu_usage(self.link.run(CPU_SCRIPT.replace("IDS", " ".join(safe)),
                                             timeout=timeout))

    def image_exists(self, image: str) -> bool:
        """Whether ``image`` is present in this engine (never pulls)."""
        try:
            with self._translate(f"look up image {image}", image=image):
                self.client.images.get(image)
            return True
        except errors.NotFound:
            return False

    # ------------------------------------------------------------ act
    def create_worker(self, pod: str, node: str, app: str, image: str,
                      command: list[str] | None, port: int, cpus: float,
                      memory_mb: int, env: dict[str, str] | None = None, *,
                      gen: str, security: str = "default", pids_limit: int = DEFAULT_PIDS_LIMIT,
                      epoch: int = 0) -> Container:
        """``docker create`` (not start) the container of one generation of a node.

        ``command`` is an argument list run without a shell (None: the
        image's CMD). The restart policy is "no": restarting is the
        controller's decision, not the engine's. Every worker is hardened
        (``model.worker_security``): a pids limit and, unless ``security`` is
        "relaxed", no-new-privileges and a reduced capability set. ``epoch``:
        the leader's epoch that creates it (label ``simplecloud.epoch``): of two
        containers of one node and generation, the newer leader's is kept.
        """
        if command is not None and not (isinstance(command, (list, tuple))
                                        and all(isinstance(a, str) for a in command)):
            raise errors.ValidationError(
                "command", "must be a list of strings (run without a shell), "
                f"e.g. [\"nc\", \"-lk\", \"-p\", \"9000\"]; got {command!r}")
        name = container_name(pod, node, gen)
        environment = {**(env or {}), "SIMPLECLOUD_NODE": node, "PORT": str(port)}
        labels = {**self._labels(), LABEL_POD: pod, LABEL_NODE: node, LABEL_APP: app, LABEL_GEN: gen,
                  LABEL_EPOCH: str(int(epoch)), LABEL_HOST: self.name}
        api = self.client.api      # the low-level API: one call per step, no extra inspects
        with self._translate(f"create container {name}", image=image):
            host_config = api.create_host_config(
                network_mode=self.network, nano_cpus=int(round(cpus * 1e9)),
                mem_limit=f"{int(memory_mb)}m", memswap_limit=f"{int(memory_mb)}m",
                restart_policy={"Name": "no"},
                # a tiny init as PID 1 forwards SIGTERM, so workers that
                # install no handler (python -m http.server, nc) stop at once
                init=True, **worker_security(security, pids_limit))
            created = api.create_container(
                image, command=list(command) if command is not None else None, name=name, hostname=node,
                labels=labels, environment=environment, host_config=host_config, detach=True,
                networking_config=api.create_networking_config({self.network: api.create_endpoint_config()}))
        log.info("host %s: created %s (%s, %.2f CPU, %d MiB)", self.name, name,
                 image, cpus, memory_mb)
        return Container(name=name, pod=pod, node=node, app=app, state="created", ip=None, image=image,
                         gen=gen, id=created["Id"], created=time.time(), epoch=int(epoch))

    def start(self, name: str) -> Container:
        """Start a created or stopped container; returns it with its IP."""
        with self._translate(f"start container {name}"):
            self.client.api.start(name)
            return container_of(self.client.api.inspect_container(name), self.network)

    def stop(self, name: str, timeout: int = 10) -> None:
        """Stop (SIGTERM, then SIGKILL after ``timeout`` s)."""
        with self._translate(f"stop container {name}"):
            self.client.api.stop(name, timeout=timeout)

    def pause(self, name: str) -> None:
        """Freeze a running container (the cgroup freezer: no CPU, memory kept)."""
        with self._translate(f"pause container {name}"):
            self.client.api.pause(name)

    def unpause(self, name: str) -> None:
        """Thaw a paused container: it runs on where it stopped."""
        with self._translate(f"unpause container {name}"):
            self.client.api.unpause(name)

    def kill(self, name: str) -> None:
        """SIGKILL a running container (``cloud node crash``)."""
        with self._translate(f"kill container {name}"):
            self.client.api.kill(name)

    def remove(self, name: str) -> bool:
        """Remove a container (forcibly); False if it was already gone."""
        try:
            with self._translate(f"remove container {name}"):
                self.client.api.remove_container(name, force=True)
        except errors.NotFound:
            return False
        return True

    def ensure_network(self, subnet: str | None = None) -> str:
        """Create the bridge network ``self.network`` if missing (tests; in the
        lab Ansible makes it). Returns its name."""
        with self._translate(f"create network {self.network}"):
            if self.client.networks.list(names=[self.network]):
                return self.network
            ipam = None
            if subnet:
                ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
            self.client.networks.create(self.network, driver="bridge", ipam=ipam,
                                        labels=dict(self.extra_labels), check_duplicate=True)
        return self.network


POOL_SIZE = 32   # HTTP connections kept per host: one per call running side by side
API_VERSION = "1.41"
"""Docker API version we speak (Docker 20.10, Debian 12's docker.io; newer engines
accept it). Fixed, so that making a client never needs a call to the engine."""


def _explain(exc: docker.errors.APIError) -> str:
    return str(getattr(exc, "explanation", None) or exc)
