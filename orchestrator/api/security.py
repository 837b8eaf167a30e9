"""What every answer carries for the browser's sake, and whom the audit log names.

Headers (docs/decisions.md, "Hardening"): the dashboard is one page whose
script and style are files of its own (orchestrator/static/), so the
Content-Security-Policy allows scripts, styles and fetches from the manager
itself only, and nothing inline; no page may frame it (clickjacking: CSP
``frame-ancestors`` and, for older browsers, X-Frame-Options); a JSON answer
is never sniffed into HTML (X-Content-Type-Options); and no URL leaves in a
Referer header.

The client's address: a request that arrives over the manager's HTTPS
listener comes from HAProxy on loopback (core/templates/haproxy.cfg.j2,
``listen api_tls``), which drops any X-Forwarded-For the client sent and
adds the client's address. So X-Forwarded-For is believed only when the peer
is loopback (only HAProxy, or a process on the manager itself, connects
from there), and then only its last address, the one HAProxy added.
"""
from __future__ import annotations

import ipaddress

from flask import Flask, Request, Response

CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def init_app(app: Flask) -> None:
    """Every answer gets ``HEADERS`` (those a view set itself stay)."""

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def client_address(request: Request) -> str:
    """The client's address: the peer's, or behind the manager's own HAProxy
    (a loopback peer), the last address of X-Forwarded-For."""
    peer = request.remote_addr or "?"
    forwarded = request.headers.get("X-Forwarded-For", "")
    if not forwarded or not _loopback(peer):
        return peer
    last = forwarded.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(last))
    except ValueError:
        return peer


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
