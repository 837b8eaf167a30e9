"""One host link and one DockerHost per pod host name (edges/hostlink.py, edges/docker_host.py)."""
from __future__ import annotations

import threading

from orchestrator.edges.docker_host import DockerHost
from orchestrator.edges.hostlink import EventHandler, HostLink, LinkState, StateHandler
from orchestrator.settings import LinkSettings


class HostPool:
    """One ``HostLink`` and one ``DockerHost`` per pod host name.

    ``settings.docker_url(host)`` (the links group) resolves an inventory host name to a Docker
    URL (``docker_hosts``, with the ``"*"`` fallback). ``extra_labels`` go on
    every container created and are required on every container listed (tests
    use them to see only their own). ``on_event``/``on_state`` are given to
    every link (the controllers' wake-ups).
    """

    def __init__(self, settings: LinkSettings, extra_labels: dict[str, str] | None = None,
                 on_event: EventHandler | None = None, on_state: StateHandler | None = None):
        self.settings = settings
        self.extra_labels = dict(extra_labels or {})
        self.on_event = on_event
        self.on_state = on_state
        self._links: dict[str, HostLink] = {}
        self._hosts: dict[str, DockerHost] = {}
        self._lock = threading.Lock()

    def link(self, host_name: str) -> HostLink:
        """The (started) link to a host, created on first use."""
        with self._lock:
            link = self._links.get(host_name)
            if link is None:
                link = HostLink(host_name, self.settings.docker_url(host_name), self.settings,
                                on_event=self._event, on_state=self._state,
                                event_labels=self.extra_labels)
                self._links[host_name] = link.start()
            return link

    def get(self, host_name: str) -> DockerHost:
        """The DockerHost of a host: its containers, through its link."""
        link = self.link(host_name)
        with self._lock:
            host = self._hosts.get(host_name)
            if host is None:
                host = DockerHost(link.docker_url, self.settings.pod_network, name=host_name,
                                  extra_labels=self.extra_labels,
                                  timeout=self.settings.docker_call_timeout, link=link)
                self._hosts[host_name] = host
            return host

    def states(self) -> dict[str, LinkState]:
        """The state of every link made so far (memory only; /metrics)."""
        with self._lock:
            return {name: link.state for name, link in self._links.items()}

    def _event(self, host: str, event: dict) -> None:
        if self.on_event is not None:
            self.on_event(host, event)

    def _state(self, host: str, state: LinkState) -> None:
        if self.on_state is not None:
            self.on_state(host, state)

    def close(self) -> None:
        with self._lock:
            hosts, links = list(self._hosts.values()), list(self._links.values())
            self._hosts.clear()
            self._links.clear()
        for host in hosts:
            host.close()
        for link in links:
            link.close()
