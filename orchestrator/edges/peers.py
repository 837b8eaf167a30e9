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

    def _look(self, url: str) -> dict[str, Any] | None:
        try:
            r = requests.get(url.rstrip("/") + "/api/manager", timeout=self.timeout,
                             headers={"Authorization": f"Bearer {self.token}"})
            if not r.ok:
                return None
            data = r.json()
            return data if isinstance(data, dict) else None
        except (requests.RequestException, ValueError):
            return None
