"""haproxy.cfg rendering (golden text) and parsing of Runtime API answers; no HAProxy here.

The integration tests (tests/integration/test_haproxy.py) check that HAProxy
itself accepts what is rendered (`haproxy -c`) and routes as intended.
"""
from __future__ import annotations

import dataclasses

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.core.haproxy_config import (
    SERVER_OPTIONS,
    HAProxySettings,
    refused_apps,
    render,
    route_for,
)
from orchestrator.core.model import App, Server

SETTINGS = HAProxySettings(haproxy_admin_socket="/run/haproxy/admin.sock",
                           haproxy_state_file="/var/lib/haproxy/server-state",
                           frontend_bind="*:80", stats_bind="127.0.0.1:8404")


def app(name, **kw):
    return App(name=name, pod="light", port=8000, image="img", created=0.0, **kw)


def section(text: str, header: str) -> list[str]:
    """The indented lines of one section, e.g. section(cfg, "backend app_web")."""
    lines = text.splitlines()
    start = lines.index(header) + 1
    out = []
    for line in lines[start:]:
        if not line.startswith("    "):
            break
        out.append(line.strip())
    return out


def test_global_and_defaults_golden():
    cfg = render([], {}, SETTINGS)
    assert section(cfg, "global") == [
        "master-worker",
        "user haproxy",
        "group haproxy",
        "chroot /var/lib/haproxy",
        "stats socket /run/haproxy/admin.sock mode 600 level admin expose-fd listeners",
        "stats timeout 30s",
        "stats maxconn 200",
        "server-state-file /var/lib/haproxy/server-state",
        "log stderr format short local0 notice",
    ]
    no_jail = render([], {}, dataclasses.replace(SETTINGS, haproxy_user="", haproxy_chroot=""))
    assert section(no_jail, "global")[1].startswith("stats socket")
    # the lab's manager drives HAProxy through a group, not as root
    grouped = render([], {}, dataclasses.replace(SETTINGS, haproxy_socket_group="haproxy-admin"))
    assert ("stats socket /run/haproxy/admin.sock mode 660 group haproxy-admin level admin expose-fd listeners"
            in section(grouped, "global"))
    defaults = section(cfg, "defaults")
    assert defaults[0] == "mode http" and "load-server-state-from-file global" in defaults
    # a GET whose worker died mid-way is retried on another worker (L7 retries)
    assert "retry-on conn-failure empty-response junk-response response-timeout 0rtt-rejected" in defaults
    assert "option redispatch 1" in defaults and "retries 3" in defaults
    assert section(cfg, "backend no_app") == [
        "http-request return status 404 content-type application/json "
        "string '{\"error\":\"no application serves this host and path\"}'"]
    assert section(cfg, "frontend http") == [
        "bind *:80", "option forwardfor",
        "log 127.0.0.1:5140 len 1024 format raw local0 info",   # the metrics' request log
        'log-format "%b %Ta %ST %Tw"',
        "default_backend no_app"]


def test_request_log_follows_its_port_and_is_off_at_0():
    other = render([], {}, dataclasses.replace(SETTINGS, haproxy_log_port=6000))
    assert "log 127.0.0.1:6000 len 1024 format raw local0 info" in section(other, "frontend http")
    off = render([], {}, dataclasses.replace(SETTINGS, haproxy_log_port=0))
    assert section(off, "frontend http") == ["bind *:80", "option forwardfor", "default_backend no_app"]
    assert "log-format" not in off
    for bad in (-1, 70000, True, "5140"):
        with pytest.raises(ValidationError, match="haproxy_log_port"):
            render([], {}, dataclasses.replace(SETTINGS, haproxy_log_port=bad))


def test_stats_listener_with_and_without_prometheus():
    plain = section(render([], {}, SETTINGS), "listen stats")
    assert plain == ["bind 127.0.0.1:8404", "stats enable", "stats uri /stats", "stats refresh 5s"]
    prom = section(render([], {}, SETTINGS, prometheus=True), "listen stats")
    assert prom == plain + ["http-request use-service prometheus-exporter if { path /metrics }"]


def test_backend_golden_with_servers_sorted():
    web = app("web", path="/web", balance="leastconn", health_path="/health")
    servers = {"app_web": [Server("app_web", "n2", "10.0.0.3", 8000, "ready", True),
                           Server("app_web", "n1", "10.0.0.2", 8000, "maint", None)],
               "app_gone": [Server("app_gone", "x", "10.0.0.9", 80, "ready", True)]}
    cfg = render([web], servers, SETTINGS)
    assert section(cfg, "backend app_web") == [
        "balance leastconn",
        "http-request disable-l7-retry if !METH_GET",
        "option httpchk GET /health",
        f"default-server {SERVER_OPTIONS}",
        "server n1 10.0.0.2:8000 check",
        "server n2 10.0.0.3:8000 check",
    ]
    assert "app_gone" not in cfg
    tcp = section(render([app("tcp", path="/t")], {}, SETTINGS), "backend app_tcp")
    assert tcp == ["balance roundrobin", "http-request disable-l7-retry if !METH_GET",
                   f"default-server {SERVER_OPTIONS}"]


def test_routes_most_specific_first():
    apps = [app("short", path="/a"), app("long", path="/a/b/"), app("site", host="Site.Example.com"),
            app("both", host="x.example.com", path="/api"), app("root", path="/"),
            app("hidden")]
    frontend = section(render(apps, {}, SETTINGS), "frontend http")
    uses = [line for line in frontend if line.startswith("use_backend")]
    assert uses == [
        "use_backend app_both if host_both path_both",
        "use_backend app_site if host_site",
        "use_backend app_long if path_long",
        "use_backend app_short if path_short",
        "use_backend app_root if path_root",
    ]
    assert "acl path_long path /a/b" in frontend and "acl path_long path_beg /a/b/" in frontend
    assert "acl host_site req.hdr(host),host_only -i site.example.com" in frontend
    assert "acl path_root path_beg /" in frontend
    assert route_for(app("hidden")) is None


def test_render_is_deterministic():
    apps = [app("b", path="/b"), app("a", path="/a")]
    assert render(apps, {}, SETTINGS) == render(list(reversed(apps)), {}, SETTINGS)


@pytest.mark.parametrize("bad,field", [
    (dict(path="/has space"), "path"),
    (dict(path="/quote'"), "path"),
    (dict(host="bad host"), "host"),
    (dict(path="/x", balance="static-rr"), "balance"),
    (dict(path="/x", health_path="/h#x"), "health_path"),
])
def test_bad_app_values_are_refused_with_the_field(bad, field):
    with pytest.raises(ValidationError) as err:
        render([app("w", **bad)], {}, SETTINGS)
    assert err.value.field == field and "app w" in err.value.message


def test_stats_must_stay_on_loopback():
    with pytest.raises(ValidationError, match="loopback"):
        render([], {}, HAProxySettings(stats_bind="0.0.0.0:8404"))


@pytest.mark.parametrize("field, keyword, default, low", [
    ("check_timeout", "timeout check", 1000, 0.1),       # how long a health check may wait
    # A killed worker's address answers nothing: each request sent to it
    # waits ``timeout connect`` before its retry on another worker.
    ("connect_timeout", "timeout connect", 250, 0.01),
])
def test_timeouts_are_settings(field, keyword, default, low):
    assert f"    {keyword} {default}ms\n" in render([], {}, SETTINGS)
    slow = dataclasses.replace(SETTINGS, **{field: default / 100})              # a lab under emulation: x10
    assert f"    {keyword} {default * 10}ms\n" in render([], {}, slow)
    with pytest.raises(ValidationError, match=f"{field} 0 must be seconds between {low:g} and 600"):
        render([], {}, dataclasses.replace(SETTINGS, **{field: 0}))


def test_a_failed_connection_brings_the_checks_forward():
    """observe layer4 + fastinter: after one failed connection the next checks
    come 250 ms apart, so a dead worker is down within about half a second;
    the checks alone take it out (a busy worker's dropped SYN must not)."""
    options = SERVER_OPTIONS.split()
    assert options[options.index("observe") + 1] == "layer4"
    assert options[options.index("on-error") + 1] == "fastinter"
    assert options[options.index("fastinter") + 1] == "250ms"
    assert options[options.index("error-limit") + 1] == "1"


def test_api_tls_listener_only_when_configured():
    assert "api_tls" not in render([], {}, SETTINGS)
    tls = dataclasses.replace(SETTINGS, api_tls_bind="192.168.56.10:5443", api_tls_pem="/etc/haproxy/api.pem")
    assert section(render([], {}, tls, api_port=5000), "listen api_tls") == [
        "bind 192.168.56.10:5443 ssl crt /etc/haproxy/api.pem",
        "http-request del-header X-Forwarded-For",      # the client's own never reaches the audit log
        "option forwardfor",
        "server api 127.0.0.1:5000",
    ]
    with pytest.raises(ValidationError, match="api_tls_pem"):
        render([], {}, dataclasses.replace(tls, api_tls_pem=""), api_port=5000)
    with pytest.raises(ValidationError, match="api_bind"):
        render([], {}, tls)


def test_an_app_the_api_would_refuse_is_named_and_left_out():
    """A record written before the checks were exact ("web\\n") must not stop routing for all."""
    good, bad = app("web", path="/web"), app("web\n", path="/webx\n")
    assert set(refused_apps([good, bad])) == {"web\n"}
    assert "web" in refused_apps([bad])["web\n"]
    with pytest.raises(ValidationError):
        render([good, bad], {}, SETTINGS)
    assert "backend app_web" in render([good], {}, SETTINGS)


def test_an_app_that_scales_to_zero_has_the_waker_as_backup_and_retries_its_503():
    cfg = render([app("web", path="/web"), app("api", path="/api")], {}, SETTINGS, wake={"web"},
                 waker_port=5001)
    web, api = section(cfg, "backend app_web"), section(cfg, "backend app_api")
    assert "server waker 127.0.0.1:5001 backup no-check maxconn 32" in web
    assert "http-request set-header X-Simplecloud-App web" in web
    assert any(line.startswith("retry-on ") and line.endswith(" 503") for line in web)
    assert not any("waker" in line or "503" in line for line in api)
    assert "waker" not in render([app("web", path="/web")], {}, SETTINGS, waker_port=0, wake={"web"})
