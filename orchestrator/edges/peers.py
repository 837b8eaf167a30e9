"""The other managers, as this one sees them: their API's answer about themselves.

``cloud manager ls`` asks one manager; that one asks every manager in its
settings (``managers``: name → API URL) for ``GET /api/manager`` with the
cluster's token, side by side and with a short deadline, so a manager that is
down costs one timeout, not one per manager in turn.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from orchestrator.core.haproxy_stats import BackendStats

TIMEOUT = 0.7     # seconds each manager has to answer


class Peers:
    """Every manager's API (this one's included), by name."""

    def __init__(self, managers: dict[str, str], token: str, timeout: float = TIMEOUT):
        self.managers = dict(managers)
        self.token = token
        self.timeout = timeout

    def look_all(self) -> dict[str, dict[str, Any] | None]:
        """name → what it says of itself (``GET /api/manager``), or None if it did not answer."""
        if not self.managers:
            return {}
        with ThreadPoolExecutor(max_workers=len(self.managers)) as pool:
            answers = pool.map(self._look, self.managers.values())
            return dict(zip(self.managers, answers, strict=True))

    def backends(self, me: str) -> dict[str, dict[str, BackendStats] | None]:
        """name → the app backends of that manager's HAProxy
        (``GET /api/manager/backends``), or None if it did not answer; every
        manager but ``me``."""
        others = {name: url for name, url in self.managers.items() if name != me}
        if not others:
            return {}
        with ThreadPoolExecutor(max_workers=len(others)) as pool:
            answers = pool.map(lambda url: self._get(url, "/api/manager/backends"), others.values())
            return {name: _backends(answer) for name, answer in zip(others, answers, strict=True)}

    def _look(self, url: str) -> dict[str, Any] | None:
        return self._get(url, "/api/manager")

    def _get(self, url: str, path: str) -> dict[str, Any] | None:
        try:
            r = requests.get(url.rstrip("/") + path, timeout=self.timeout,
                             headers={"Authorization": f"Bearer {self.token}"})
            if not r.ok:
                return None
            data = r.json()
            return data if isinstance(data, dict) else None
        except (requests.RequestException, ValueError):
            return None


def _backends(answer: dict[str, Any] | None) -> dict[str, BackendStats] | None:
    """``{"backends": {name: {stot, req_tot, scur, qcur, up, worker}}}`` → BackendStats (a manager of
    an older version sends no worker: 0); None if it is not that."""
    try:
        return {name: BackendStats(req_tot=int(b["req_tot"]), scur=int(b["scur"]), qcur=int(b["qcur"]),
                                   up=tuple(str(u) for u in b["up"]), stot=int(b["stot"]),
                                   worker=int(b.get("worker", 0)))
                for name, b in answer["backends"].items()} if answer is not None else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
