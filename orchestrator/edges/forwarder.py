"""A local unix socket whose every connection is pumped to a new SSH channel:
how the Docker SDK's connections reach a pod host's engine over one link
(edges/hostlink.py)."""
from __future__ import annotations

import logging
import os
import select
import socket
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("orchestrator.edges.hostlink")


class Forwarder:
    """A local unix socket whose every connection is pumped to a new channel."""

    def __init__(self, path: str, open_channel: Callable[[], Any], name: str):
        self.path = path
        self.open_channel = open_channel
        self._closed = threading.Event()
        self._conns: set = set()
        self._lock = threading.Lock()
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)             # the socket is as good as root on the host
        if os.path.exists(path):
            os.unlink(path)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(path)
        os.chmod(path, 0o600)
        self._server.listen(128)
        threading.Thread(target=self._accept, name=f"{name}-accept", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._pump, args=(client,), daemon=True).start()

    def _pump(self, client: socket.socket) -> None:
        try:
            channel = self.open_channel()
        except Exception as exc:  # noqa: BLE001 - the caller sees a closed connection
            log.debug("%s: cannot open a channel: %s", self.path, exc)
            client.close()
            return
        with self._lock:
            self._conns.add((client, channel))
        try:
            while not self._closed.is_set():
                readable, _, _ = select.select([client, channel], [], [], 1.0)
                if client in readable:
                    data = client.recv(65536)
                    if not data:
                        break
                    channel.sendall(data)
                if channel in readable:
                    data = channel.recv(65536)
                    if not data:
                        break
                    client.sendall(data)
        except (OSError, EOFError, Exception):  # noqa: BLE001 - either side went away
            pass
        finally:
            with self._lock:
                self._conns.discard((client, channel))
            quiet_close(channel)
            quiet_close(client)

    def close(self) -> None:
        self._closed.set()
        quiet_close(self._server)
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for client, channel in conns:
            quiet_close(channel)
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            os.unlink(self.path)
        except OSError:
            pass


def quiet_close(thing) -> None:
    try:
        thing.close()
    except Exception:  # noqa: BLE001 - closing what is already broken: nothing to say
        pass
