"""What the use cases do on a pod host: look (images, containers, logs) and kill on request.

Desired state never goes through here: the controller makes hosts match it.
A host that does not answer is ``Unavailable`` (503), with the host and pod named.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from orchestrator.core.errors import Conflict, SimpleCloudError, Unavailable
from orchestrator.core.model import App, Pod
from orchestrator.edges.protocols import HostsProtocol, HostView

T = TypeVar("T")


def on_host(hosts: HostsProtocol | None, host: str, pod: Pod, action: Callable[[HostView], T]) -> T:
    """``action`` on ``host`` (of ``pod``); Unavailable if the manager has no hosts or the host fails."""
    if hosts is None:
        raise Unavailable("this manager has no access to the pod hosts")
    try:
        return action(hosts.get(host))
    except SimpleCloudError:
        raise
    except Exception as exc:  # noqa: BLE001 - docker/ssh failures: the host is not usable right now
        raise Unavailable(f"cannot reach host {host} of pod {pod.name}: {exc}") from exc


def container_of(hosts: HostsProtocol | None, host: str, pod: Pod, node: str, running: bool = False) -> str:
    """Name of the newest container of a node on ``host`` (its host; a running one if ``running``)."""
    if not host:
        raise Conflict(f"node {node!r} of pod {pod.name!r} is not placed on a host yet; "
                       f"see: cloud node ls {pod.name}")
    found = on_host(hosts, host, pod, lambda h: h.list_workers())
    mine = sorted((c for c in found if c.pod == pod.name and c.node == node
                   and (c.state == "running" or not running)), key=lambda c: c.created)
    if not mine:
        what = "running container" if running else "container"
        raise Conflict(f"node {node!r} of pod {pod.name!r} has no {what} on host {host} right now; "
                       f"see: cloud node ls {pod.name}")
    return mine[-1].name


def check_image(hosts: HostsProtocol | None, pod: Pod, app: App, on: Sequence[str] = ()) -> None:
    """Conflict unless the app's image is on the hosts ``on`` (default: the
    pod's hosts) that answer; Unavailable if none answers; no check without hosts."""
    if hosts is None:
        return
    image, answered = app.run_image, []
    for host in on or pod.hosts:
        try:
            present = on_host(hosts, host, pod, lambda h: h.image_exists(image))
        except Unavailable:
            continue
        answered.append(host)
        if not present:
            raise Conflict(f"image {image!r} does not exist on host {host} (pod {pod.name}); "
                           f"build or push it there first, or choose another image",
                           "image" if app.image else "command")
    if not answered:
        raise Unavailable(f"no host of pod {pod.name} answers ({', '.join(on or pod.hosts)}); "
                          f"cannot check that image {image!r} is there")
