"""An open-loop GET load on the frontend, for tests that count failed requests."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


class Load:
    """GETs to the frontend from a few threads at about ``rate``/s, bounded in time."""

    def __init__(self, url: str, rate: float, limit_s: float = 60):
        self.url, self.rate, self.limit_s = url, rate, limit_s
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(8)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self):
        try:
            self.statuses.append(requests.get(self.url, timeout=10).status_code)
        except requests.RequestException:
            self.statuses.append(0)

    def _run(self):
        deadline = time.monotonic() + self.limit_s
        while not self._stop.wait(1 / self.rate) and time.monotonic() < deadline:
            self._pool.submit(self._one)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)

    @property
    def failed(self) -> list[int]:
        """The statuses that were not 200 (0: no answer)."""
        return [s for s in self.statuses if s != 200]
