"""Adding a server at run time: the order of the Runtime API commands, and how
a half-added server shows up in ``show servers state`` (no HAProxy here; the
integration test tests/integration/test_haproxy.py stops after each step of a
real HAProxy)."""
from __future__ import annotations

import time

from orchestrator.core.haproxy_config import RETRIES, SERVER_OPTIONS, HAProxySettings
from orchestrator.core.haproxy_stats import parse_servers_state
from orchestrator.core.model import Server
from orchestrator.edges.haproxy import add_server_steps
from orchestrator.edges.haproxy_runtime import RuntimeAPI

HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
          "srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health "
          "srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord "
          "srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port\n")


def test_add_server_steps_leave_maintenance_only_after_checks_are_on():
    steps = add_server_steps("app_web", "n1.abc", "10.0.0.2", 8000)
    assert steps == [
        f"add server app_web/n1.abc 10.0.0.2:8000 {SERVER_OPTIONS}",
        "enable health app_web/n1.abc",
        "set server app_web/n1.abc state drain",
        "set server app_web/n1.abc health down",
        "set server app_web/n1.abc state ready",
    ]
    assert "check" in SERVER_OPTIONS.split()
    assert add_server_steps("app_web", "n1.abc", "10.0.0.2", 8000, "maint") == steps[:2]
    assert add_server_steps("app_web", "n1.abc", "10.0.0.2", 8000, "drain") == steps[:4]


def test_a_server_whose_health_was_never_enabled_has_no_checks():
    # as HAProxy 2.6 shows a server right after "add server ... check": maint (1), check state 2
    # (configured, not enabled); then after "enable health": check state 6
    text = HEADER + ("3 app_web 5 n5 10.0.0.7 0 1 1 1 3 0 0 0 2 0 0 0 - 8000 - 0 0 - - 0\n"
                     "3 app_web 6 n6 10.0.0.8 0 1 1 1 3 0 0 0 6 0 0 0 - 8000 - 0 0 - - 0\n")
    assert parse_servers_state(text) == [
        Server("app_web", "n5", "10.0.0.7", 8000, "maint", None, checks=False),
        Server("app_web", "n6", "10.0.0.8", 8000, "maint", False, checks=True),
    ]


def test_new_server_options_count_as_a_settings_change(monkeypatch):
    """A manager whose code gives servers other options re-renders haproxy.cfg
    although no app and no setting changed (an upgraded lab: `make provision`)."""
    from orchestrator.edges import haproxy
    from orchestrator.settings import Settings

    # no haproxy binary in the unit tier (a new machine has none): the build has the exporter
    monkeypatch.setattr(haproxy.HAProxy, "prometheus_supported", lambda self: True)
    before = haproxy.HAProxy(Settings().haproxy)._settings_fingerprint()
    monkeypatch.setattr(haproxy, "SERVER_OPTIONS", SERVER_OPTIONS + " weight 2")
    assert haproxy.HAProxy(Settings().haproxy)._settings_fingerprint() != before


class ScriptedRuntime(RuntimeAPI):
    """A RuntimeAPI whose admin socket answers from a script: the server goes
    DOWN at ``down_at`` s and keeps ``sessions`` until ``idle_at`` s; every
    command is recorded with the sessions it met."""

    def __init__(self, down_at: float, idle_at: float, sessions: int = 1):
        super().__init__(HAProxySettings())
        self.t0, self.down_at, self.idle_at, self.busy = time.monotonic(), down_at, idle_at, sessions
        self.sent: list[tuple[str, int]] = []
        self.cut_at: float | None = None            # when ``shutdown sessions`` came (s)

    def _now(self) -> tuple[str, int]:
        t = time.monotonic() - self.t0
        return ("DOWN" if t >= self.down_at else "UP"), (self.busy if t < self.idle_at else 0)

    def command(self, cmd: str, *, master: bool = False) -> str:
        status, scur = self._now()
        self.sent.append((cmd.split(" app_")[0], scur))
        if cmd.startswith("shutdown sessions"):
            self.cut_at = time.monotonic() - self.t0
        if cmd.startswith("show stat"):
            return f"# pxname,svname,scur,qcur,status\napp_web,n1,{scur},0,{status}\n"
        return "Server deleted." if cmd.startswith("del server") else ""


def test_a_down_server_keeps_its_connecting_requests_until_they_are_retried_elsewhere():
    """A killed worker's server goes down while requests are still connecting
    to it; they leave on their own (retried on another worker one connect
    timeout later). Cut at the moment it went down, they were closed with no
    answer (the soak's 'no answer 0.7 s after a crash')."""
    haproxy = ScriptedRuntime(down_at=0.1, idle_at=0.4)
    haproxy.del_server("app_web", "n1", wait=2.0)
    assert ("shutdown sessions server", 1) not in haproxy.sent
    assert [c for c, _ in haproxy.sent if not c.startswith("show stat")] == [
        "set server", "set server", "del server"]                 # drain, maint, del


def test_a_down_server_whose_requests_hang_has_them_cut_after_the_retries_grace():
    """A frozen worker: its requests never leave; once it is down and the
    retries' grace is over, they are cut (and HAProxy retries them), long
    before ``wait``."""
    haproxy = ScriptedRuntime(down_at=0.1, idle_at=60)
    haproxy.del_server("app_web", "n1", wait=30.0)
    assert ("shutdown sessions server", 1) in haproxy.sent
    grace = (RETRIES + 1) * HAProxySettings().connect_timeout
    assert 0.1 + grace <= haproxy.cut_at < 30.0        # after the grace, not at the end of ``wait``


def test_a_busy_server_that_stays_up_is_drained_for_wait_then_cut():
    haproxy = ScriptedRuntime(down_at=60, idle_at=60)
    haproxy.del_server("app_web", "n1", wait=0.3)
    assert [c for c, _ in haproxy.sent if not c.startswith("show stat")][-2:] == [
        "shutdown sessions server", "del server"]
