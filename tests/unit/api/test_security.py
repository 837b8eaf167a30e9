"""Security headers on every answer, and the audit log's client address
(api/security.py); the dashboard under this policy: tests/browser."""
from __future__ import annotations

import logging
import re

import pytest

from orchestrator.api.security import CONTENT_SECURITY_POLICY
from tests.unit.api import AUTH


@pytest.mark.parametrize("path", ["/", "/static/dashboard.js", "/api/health", "/api/apps", "/api/nope", "/metrics"])
def test_every_answer_carries_the_security_headers(client, path):
    with client.get(path) as answer:
        headers = answer.headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_dashboard_page_has_no_inline_script_or_style(client):
    with client.get("/") as answer:
        page = answer.get_data(as_text=True)
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+\s*=", page, re.IGNORECASE)          # no onclick= and the like


@pytest.mark.parametrize("peer, forwarded, shown", [
    ("10.0.0.9", None, "10.0.0.9"),
    ("10.0.0.9", "6.6.6.6", "10.0.0.9"),                 # not through our HAProxy: the header is not believed
    ("127.0.0.1", "192.168.56.1", "192.168.56.1"),       # through the TLS listener: the client HAProxy saw
    ("127.0.0.1", "6.6.6.6, 192.168.56.1", "192.168.56.1"),   # only the address HAProxy added (the last)
    ("127.0.0.1", "not an address", "127.0.0.1"),
])
def test_the_audit_log_names_the_client(client, caplog, peer, forwarded, shown):
    headers = {**AUTH, **({"X-Forwarded-For": forwarded} if forwarded else {})}
    with caplog.at_level(logging.INFO, logger="orchestrator.api"):
        client.post("/api/init", headers=headers, environ_base={"REMOTE_ADDR": peer})
    assert f"POST /api/init -> 200 (from {shown})" in caplog.text
