"""The `cloud` CLI without a server: requests are answered by a fake.

Checks what each command sends, how answers are printed, and that every
failure is one `cloud:` line on stderr with the documented exit code.
"""
from __future__ import annotations

import json

import pytest
import requests

from orchestrator import cli
from orchestrator.cli import client, tables, wait


class FakeResponse:
    def __init__(self, status: int, data=None, text: str | None = None):
        self.status_code = status
        self._data = data
        self._text = text

    def json(self):
        if self._text is not None:
            raise ValueError("not JSON")
        return self._data


class FakeAPI:
    """Records requests; answers from a {(METHOD, path): answer} table. An answer
    is (status, data) or an exception to raise, or a list of those given in
    turn (the last one again once the others are used)."""

    def __init__(self, answers: dict | None = None):
        self.answers = answers or {}
        self.calls: list[dict] = []

    def __call__(self, method, url, json=None, params=None, headers=None, timeout=None, verify=True):
        path = url.split("://", 1)[1].split("/", 1)[1]
        self.calls.append({"method": method, "url": url, "path": "/" + path, "json": json,
                           "params": params, "headers": headers, "verify": verify})
        answer = self.answers.get((method, "/" + path), (200, {}))
        if isinstance(answer, list):
            answer = answer.pop(0) if len(answer) > 1 else answer[0]
        if isinstance(answer, Exception):
            raise answer
        return FakeResponse(*answer)


@pytest.fixture
def api(monkeypatch, tmp_path):
    """A FakeAPI in place of requests.request; cwd without any .simplecloud."""
    fake = FakeAPI()
    monkeypatch.setattr(client.requests, "request", fake)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIMPLECLOUD_API", raising=False)
    monkeypatch.delenv("SIMPLECLOUD_TOKEN", raising=False)
    monkeypatch.delenv("SIMPLECLOUD_CA", raising=False)
    return fake


def run(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- configuration lookup -----------------------------------------------------

def test_config_files_are_found_in_a_parent_directory(tmp_path, monkeypatch):
    (tmp_path / ".simplecloud").mkdir()
    (tmp_path / ".simplecloud" / "api").write_text("http://127.0.0.1:5999\n")
    (tmp_path / ".simplecloud" / "token").write_text("secret\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert client.resolve(None, "X_API", "api", client.DEFAULT_API, environ={}, start=deep) == "http://127.0.0.1:5999"
    assert client.resolve(None, "X_TOK", "token", None, environ={}, start=deep) == "secret"


def test_flag_beats_env_beats_file_beats_default(tmp_path):
    (tmp_path / ".simplecloud").mkdir()
    (tmp_path / ".simplecloud" / "api").write_text("http://file:1")
    env = {"X_API": "http://env:1"}
    assert client.resolve("http://flag:1", "X_API", "api", "d", env, tmp_path) == "http://flag:1"
    assert client.resolve(None, "X_API", "api", "d", env, tmp_path) == "http://env:1"
    assert client.resolve(None, "X_API", "api", "d", {}, tmp_path) == "http://file:1"
    assert client.resolve(None, "X_API", "api", "d", {}, tmp_path / "nonexistent-child") == "http://file:1"


def test_default_api_and_no_token_without_any_config(api, capsys):
    code, _, _ = run(capsys, "status")
    assert code == 0
    assert api.calls[0]["url"] == "http://127.0.0.1:5000/api/status"
    assert "Authorization" not in api.calls[0]["headers"]


def test_token_and_api_from_env_and_flags(api, capsys, monkeypatch):
    monkeypatch.setenv("SIMPLECLOUD_API", "http://127.0.0.1:7000/")
    monkeypatch.setenv("SIMPLECLOUD_TOKEN", "envtoken")
    run(capsys, "init")
    assert api.calls[-1]["url"] == "http://127.0.0.1:7000/api/init"
    assert api.calls[-1]["headers"]["Authorization"] == "Bearer envtoken"
    run(capsys, "launch", "light", "--token", "flagtoken", "--api", "http://127.0.0.1:7001")
    assert api.calls[-1]["url"] == "http://127.0.0.1:7001/api/pods/light/launch"
    assert api.calls[-1]["headers"]["Authorization"] == "Bearer flagtoken"


def test_global_options_before_the_command_are_kept(api, capsys):
    run(capsys, "--api", "http://127.0.0.1:7002", "--token", "t", "pause", "light")
    assert api.calls[-1]["url"] == "http://127.0.0.1:7002/api/pods/light/pause"
    assert api.calls[-1]["headers"]["Authorization"] == "Bearer t"


# --- what each command sends ----------------------------------------------------

@pytest.mark.parametrize("argv, method, path, body", [
    (["init"], "POST", "/api/init", None),
    (["pod", "register", "gpu", "--host", "pod-gpu", "--max-nodes", "4", "--cpus", "2", "--memory", "1024",
      "--app", "web"], "POST", "/api/pods",
     {"name": "gpu", "hosts": ["pod-gpu"], "max_nodes": 4, "cpus": 2.0, "memory_mb": 1024, "app": "web"}),
    (["pod", "register", "gpu", "--host", "g-1", "--host", "g-2"], "POST", "/api/pods",
     {"name": "gpu", "hosts": ["g-1", "g-2"]}),
    (["host", "add", "spare-1", "light"], "POST", "/api/hosts/spare-1/pod", {"pod": "light"}),
    (["host", "drain", "pod-light-1", "--no-wait"], "POST", "/api/hosts/pod-light-1/drain", None),
    (["pod", "rm", "gpu"], "DELETE", "/api/pods/gpu", None),
    (["register", "n1", "light"], "POST", "/api/nodes", {"name": "n1", "pod": "light"}),
    (["register", "n1", "light", "--app", "web"], "POST", "/api/nodes", {"name": "n1", "pod": "light", "app": "web"}),
    (["rm", "n1", "light"], "DELETE", "/api/pods/light/nodes/n1", None),
    (["launch", "light"], "POST", "/api/pods/light/launch", None),
    (["pause", "light"], "POST", "/api/pods/light/pause", None),
    (["resume", "light"], "POST", "/api/pods/light/resume", None),
    (["app", "deploy", "web", "--image", "nginx:1.25", "--pod", "light", "--replicas", "3", "--port", "80",
      "--path", "/web", "--balance", "leastconn", "--health-path", "/health"], "POST", "/api/apps",
     {"name": "web", "pod": "light", "replicas": 3, "port": 80, "path": "/web", "balance": "leastconn",
      "health_path": "/health", "image": "nginx:1.25"}),
    (["app", "deploy", "echo", "--command", "nc -lk -p 9000 -e 'cat -'", "--pod", "light", "--replicas", "1",
      "--port", "9000", "--host", "echo.local"], "POST", "/api/apps",
     {"name": "echo", "pod": "light", "replicas": 1, "port": 9000, "host": "echo.local",
      "command": ["nc", "-lk", "-p", "9000", "-e", "cat -"]}),
    (["app", "deploy", "files", "--command", "python3 -m http.server 9000", "--pod", "medium",
      "--replicas", "1", "--port", "9000", "--path", "/files", "--strip-path"], "POST", "/api/apps",
     {"name": "files", "pod": "medium", "replicas": 1, "port": 9000, "path": "/files", "strip_path": True,
      "command": ["python3", "-m", "http.server", "9000"]}),
    (["app", "deploy", "legacy", "--image", "old:1", "--pod", "light", "--replicas", "1", "--port", "80",
      "--security", "relaxed"], "POST", "/api/apps",
     {"name": "legacy", "pod": "light", "replicas": 1, "port": 80, "security": "relaxed", "image": "old:1"}),
    (["app", "deploy", "web", "--image", "nginx:1.25", "--pod", "light", "--replicas", "1", "--port", "80",
      "--warm", "2"], "POST", "/api/apps",
     {"name": "web", "pod": "light", "replicas": 1, "port": 80, "warm": 2, "image": "nginx:1.25"}),
    (["app", "update", "web", "--warm", "0"], "PATCH", "/api/apps/web", {"warm": 0}),
    (["app", "scale", "web", "5"], "PUT", "/api/apps/web/scale", {"replicas": 5}),
    (["app", "stop", "web"], "DELETE", "/api/apps/web", None),
])
def test_commands_send_the_documented_request(api, capsys, argv, method, path, body):
    run(capsys, *argv)
    call = api.calls[0]
    assert (call["method"], call["path"], call["json"]) == (method, path, body)


def test_listing_commands_use_get_with_query(api, capsys):
    api.answers[("GET", "/api/nodes")] = (200, [])
    run(capsys, "node", "ls", "light")
    assert api.calls[-1]["params"] == {"pod": "light"}
    run(capsys, "logs", "n1", "--pod", "light", "--tail", "5")
    assert api.calls[-1]["path"] == "/api/pods/light/nodes/n1/logs"
    assert api.calls[-1]["params"] == {"tail": 5}
    run(capsys, "events", "--limit", "7")
    assert api.calls[-1]["params"] == {"limit": 7}


def test_logs_without_pod_finds_the_pod_of_the_node(api, capsys):
    api.answers[("GET", "/api/nodes")] = (200, [{"name": "n1", "pod": "medium"}])
    api.answers[("GET", "/api/pods/medium/nodes/n1/logs")] = (200, {"pod": "medium", "node": "n1",
                                                                     "logs": "hello\nworld\n"})
    code, out, _ = run(capsys, "logs", "n1")
    assert code == 0 and out == "hello\nworld\n"


def test_logs_of_an_unknown_node_is_one_error_line(api, capsys):
    api.answers[("GET", "/api/nodes")] = (200, [])
    code, _, err = run(capsys, "logs", "ghost")
    assert code == 1 and err == "cloud: no node named 'ghost' in any pod; see: cloud node ls\n"


# --- output -----------------------------------------------------------------------

PODS = [{"name": "light", "hosts": ["pod-light-1", "pod-light-2"], "max_nodes": 20, "cpus": 0.25,
         "memory_mb": 128, "app": "light", "used": 2, "capacity": 40, "free": 38, "pending": 1,
         "statuses": {"NEW": 1, "ONLINE": 1},
         "host_states": {"pod-light-1": {"reachable": True, "since": 0, "error": "", "rtt_ms": 1.2},
                         "pod-light-2": {"reachable": True, "since": 0, "error": "", "rtt_ms": 1.1}}},
        {"name": "heavy", "hosts": ["pod-heavy"], "max_nodes": 10, "cpus": 1.0, "memory_mb": 512, "app": None,
         "used": 0, "capacity": 10, "free": 10, "statuses": {}, "host_states": {"pod-heavy": None}}]


def test_pod_ls_is_an_aligned_table_with_usage(api, capsys):
    api.answers[("GET", "/api/pods")] = (200, PODS)
    code, out, _ = run(capsys, "pod", "ls")
    assert code == 0
    assert out.splitlines() == [
        "NAME   HOSTS                     REACH      NODES             PER HOST  CPUS  MEMORY   APP    STATUS",
        "light  pod-light-1, pod-light-2  reachable  2/40 (1 pending)  20        0.25  128 MiB  light  NEW=1 ONLINE=1",
        "heavy  pod-heavy                 -          0/10              10        1     512 MiB  -      -",
    ]


def test_status_summary(api, capsys):
    api.answers[("GET", "/api/status")] = (200, {
        "pods": PODS, "apps": [{"name": "light", "pod": "light", "replicas": 2, "port": 8000, "path": "/light",
                                "balance": "roundrobin", "statuses": {"ONLINE": 2}}],
        "nodes": {"NEW": 1, "ONLINE": 1},
        "events": [{"time": 0, "kind": "cluster.init", "subject": "cluster", "message": "created"}]})
    code, out, _ = run(capsys, "status")
    assert code == 0
    assert out.startswith("PODS\nNAME   HOSTS                     REACH      NODES             PER HOST  CPUS  "
                          "APP    STATUS\n")
    assert "\nAPPS\n" in out and "NODES  NEW=1 ONLINE=1" in out
    assert "RECENT EVENTS" in out and "cluster.init" in out


def test_json_flag_prints_the_api_answer(api, capsys):
    api.answers[("GET", "/api/pods")] = (200, PODS)
    code, out, _ = run(capsys, "pod", "ls", "--json")
    assert code == 0 and json.loads(out) == PODS
    api.answers[("PUT", "/api/apps/web/scale")] = (200, {"name": "web", "replicas": 4})
    code, out, _ = run(capsys, "--json", "app", "scale", "web", "4")
    assert json.loads(out) == {"name": "web", "replicas": 4}


def test_app_ls_and_node_ls_tables(api, capsys):
    api.answers[("GET", "/api/apps")] = (200, [
        {"name": "web", "pod": "light", "replicas": 3, "port": 80, "path": "/web", "host": None,
         "balance": "roundrobin", "image": "nginx:1.25", "command": None},
        {"name": "echo", "pod": "light", "replicas": 1, "port": 9000, "path": None, "host": "echo.local",
         "balance": "first", "image": None, "command": ["nc", "-lk", "-p", "9000"], "serving": 1,
         "warm": 2, "warm_nodes": 2, "warm_ready": 1}])
    _, out, _ = run(capsys, "app", "ls")
    lines = out.splitlines()
    assert [line.split()[4] for line in lines[1:]] == ["-", "1/2"]      # the warm pool: ready/wanted
    assert lines[0].split() == ["NAME", "POD", "REPLICAS", "SERVING", "WARM", "PORT", "ROUTE", "BALANCE", "STATUS",
                                "AUTOSCALE", "RUNS"]
    assert lines[2].endswith("nc -lk -p 9000") and "echo.local" in lines[2]
    assert len({line.index("POD") if i == 0 else None for i, line in enumerate(lines)} - {None}) == 1

    api.answers[("GET", "/api/nodes")] = (200, [
        {"name": "n1", "pod": "light", "app": "light", "status": "ONLINE", "created": 0, "observed": None},
        {"name": "n2", "pod": "light", "app": "light", "status": "ONLINE", "created": 0, "host": "pod-light-2",
         "moved_from": "pod-light-1", "pending": "", "observed": {
            "phase": "serving", "healthy": True, "host": "pod-light-2", "ip": "10.42.1.2", "restarts": 2,
            "since": 0, "last_error": "its container exited with code 137"}},
        {"name": "n3", "pod": "light", "app": "light", "status": "ONLINE", "created": 0, "host": "pod-light-1",
         "pending": "no-room", "observed": None}])
    _, out, _ = run(capsys, "node", "ls")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "POD", "APP", "STATUS", "PHASE", "HEALTH", "HOST", "IP", "RESTARTS",
                                "SINCE", "AGE", "PENDING", "LAST", "ERROR"]
    assert lines[1].split() == ["n1", "light", "light", "ONLINE", "-", "-", "-", "-", "0", "-", "-", "-", "-"]
    assert lines[2].split()[:11] == ["n2", "light", "light", "ONLINE", "serving", "up", "pod-light-2",
                                     "(from", "pod-light-1)", "10.42.1.2", "2"]
    assert lines[3].split()[6] == "pod-light-1" and "no-room" in lines[3]
    assert lines[2].endswith("its container exited with code 137")


def test_human_messages_of_state_changes(api, capsys):
    api.answers[("POST", "/api/nodes")] = (201, {"name": "n1", "pod": "light", "app": "light", "status": "NEW"})
    _, out, _ = run(capsys, "register", "n1", "light")
    assert out == ("node 'n1' registered in pod 'light' (app light, status NEW); "
                   "start it with: cloud launch light\n")
    api.answers[("POST", "/api/pods/light/pause")] = (200, [{"name": "n1"}, {"name": "n2"}])
    _, out, _ = run(capsys, "pause", "light")
    assert out == "pod 'light': 2 nodes paused (n1, n2)\n"


def test_age_formatting():
    assert tables.age(100, now=142) == "42s"
    assert tables.age(100, now=100 + 3 * 3600 + 5) == "3h"
    assert tables.age(None) == "-"


# --- errors: one line, documented exit code ------------------------------------------

def test_api_error_is_one_line_exit_1(api, capsys):
    msg = "pod 'light' is full: 20 of 20 nodes; remove a node or use another pod"
    api.answers[("POST", "/api/nodes")] = (409, {"error": msg})
    code, out, err = run(capsys, "register", "n21", "light")
    assert (code, out, err) == (1, "", f"cloud: {msg}\n")


def test_unreachable_api_exit_3(api, capsys):
    api.answers[("GET", "/api/pods")] = requests.exceptions.ConnectionError("refused")
    code, _, err = run(capsys, "pod", "ls")
    assert code == 3
    assert err == ("cloud: cannot reach the simplecloud API at http://127.0.0.1:5000 "
                   "(is the lab up? try: make up)\n")


def test_connection_refused_for_real(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "--api", "http://127.0.0.1:1", "status")
    assert code == 3 and err.count("\n") == 1 and "cannot reach" in err


def test_non_json_answer_is_explained(api, capsys):
    api.answers[("GET", "/api/status")] = (502, None, "<html>bad gateway</html>")
    code, _, err = run(capsys, "status")
    assert code == 1 and "not JSON" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, fragment", [
    ([], "required"),
    (["bogus"], "invalid choice: 'bogus'"),
    (["pod"], "required"),
    (["pod", "register", "x"], "--host"),
    (["app", "deploy", "w", "--pod", "light", "--replicas", "1", "--port", "80"], "--image --command"),
    (["app", "deploy", "w", "--image", "i", "--command", "c", "--pod", "p", "--replicas", "1", "--port", "1"],
     "not allowed with"),
    (["app", "deploy", "w", "--image", "i", "--pod", "p", "--replicas", "1", "--port", "1", "--balance", "fastest"],
     "invalid choice: 'fastest'"),
    (["app", "scale", "web", "many"], "expected a replica count such as 5, +2 or -1, not 'many'"),
    (["app", "scale", "web", "1.5"], "expected a replica count such as 5, +2 or -1"),
])
def test_usage_errors_are_one_line_exit_2(api, capsys, argv, fragment):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("cloud: ") and err.count("\n") == 1 and fragment in err
    assert api.calls == []


def test_unsplittable_command_is_a_usage_error(api, capsys):
    code, _, err = run(capsys, "app", "deploy", "w", "--command", "nc 'unclosed", "--pod", "p",
                       "--replicas", "1", "--port", "1")
    assert code == 2 and "cannot be split" in err and api.calls == []


def test_status_says_plainly_when_a_host_is_unreachable(api, capsys):
    api.answers[("GET", "/api/status")] = (200, {
        "pods": PODS, "apps": [], "nodes": {}, "events": [],
        "warnings": ["host pod-medium is unreachable since 12:00:00 (timed out): the 3 node(s) of "
                     "pod(s) medium are not managed until it answers again"]})
    _, out, _ = run(capsys, "status")
    assert out.startswith("WARNING: host pod-medium is unreachable since 12:00:00")


def test_wait_polls_until_every_replica_serves(api, capsys, monkeypatch):
    monkeypatch.setattr(wait.time, "sleep", lambda s: None)
    api.answers[("PUT", "/api/apps/web/scale")] = (200, {"name": "web", "replicas": 2})
    api.answers[("GET", "/api/apps/web")] = [
        (200, {"name": "web", "replicas": 2, "serving": 0, "phases": {"starting": 2}, "nodes": []}),
        (200, {"name": "web", "replicas": 2, "serving": 1, "phases": {"serving": 1, "starting": 1}, "nodes": []}),
        (200, {"name": "web", "replicas": 2, "serving": 2, "phases": {"serving": 2}, "nodes": []})]
    code, out, err = run(capsys, "app", "scale", "web", "2", "--wait")
    assert code == 0, err
    assert "waiting for app web: 0/2 serving (starting=2)" in err
    assert "waiting for app web: 1/2 serving (starting=1)" in err
    assert out == "app 'web' scaled to 2 replicas; 2 of 2 replicas serve\n"


def test_wait_gives_up_with_exit_code_4_and_the_reason(api, capsys, monkeypatch):
    api.answers[("PUT", "/api/apps/web/scale")] = (200, {"name": "web", "replicas": 1})
    api.answers[("GET", "/api/apps/web")] = (200, {
        "name": "web", "replicas": 1, "serving": 0, "phases": {"backoff": 1},
        "nodes": [{"observed": {"phase": "backoff", "last_error": "its container exited with code 1"}}]})
    code, _, err = run(capsys, "app", "scale", "web", "1", "--wait", "--timeout", "0")
    assert code == client.EXIT_WAIT
    assert err.strip().splitlines()[-1] == ("cloud: gave up after 0 s waiting for app web: 0/1 serving "
                                            "(backoff=1); last error: its container exited with code 1")


def test_app_update_sends_only_the_given_fields(api, capsys):
    api.answers[("PATCH", "/api/apps/web")] = (200, {"name": "web", "changed": ["image", "strip_path"]})
    code, out, _ = run(capsys, "app", "update", "web", "--image", "nginx:1.27", "--no-strip-path")
    assert code == 0 and out == "app 'web' updated: image, strip_path\n"
    assert api.calls[-1]["json"] == {"image": "nginx:1.27", "strip_path": False}
    code, _, err = run(capsys, "app", "update", "web")
    assert code == client.EXIT_USAGE and "nothing to change" in err


def test_node_crash_and_path_quoting(api, capsys):
    api.answers[("POST", "/api/pods/light/nodes/n1/crash")] = (200, {"container": "sc-light.n1.g"})
    code, out, _ = run(capsys, "node", "crash", "n1", "--pod", "light")
    assert code == 0 and "container sc-light.n1.g killed" in out
    run(capsys, "rm", "../../../apps/web", "p")
    assert api.calls[-1]["url"].endswith("/api/pods/p/nodes/..%2F..%2F..%2Fapps%2Fweb")


@pytest.mark.parametrize("name, encoded", [("../../../apps/web", "..%2F..%2F..%2Fapps%2Fweb"),
                                           ("a b", "a%20b"), ("x?y#z", "x%3Fy%23z")])
def test_path_segments_survive_the_http_client(api, capsys, name, encoded):
    """What requests really sends (URL preparation normalizes '..'), not only what the CLI built."""
    run(capsys, "rm", name, "light")
    sent = requests.Request("DELETE", api.calls[-1]["url"]).prepare().path_url
    assert sent == f"/api/pods/light/nodes/{encoded}"


@pytest.mark.parametrize("name", ["..", ".", ""])
def test_dot_segments_are_refused_before_sending(api, capsys, name):
    code, _, err = run(capsys, "rm", name, "light")
    assert code == client.EXIT_USAGE and "is not a valid name" in err and api.calls == []
    code, _, _ = run(capsys, "pod", "rm", name)
    assert code == client.EXIT_USAGE and api.calls == []


@pytest.mark.parametrize("argv", [["status"], ["node", "ls"], ["logs", "n1", "--pod", "light"], ["app", "ls"],
                                  ["pod", "ls"], ["events"]])
def test_reads_send_the_token_too(api, capsys, argv):
    api.answers[("GET", "/api/pods/light/nodes/n1/logs")] = (200, {"logs": ""})
    api.answers[("GET", "/api/nodes")] = (200, [])
    api.answers[("GET", "/api/pods")] = (200, [])
    api.answers[("GET", "/api/apps")] = (200, [])
    api.answers[("GET", "/api/events")] = (200, [])
    code, _, err = run(capsys, "--token", "readtoken", *argv)
    assert code == 0, err
    assert all(c["headers"]["Authorization"] == "Bearer readtoken" for c in api.calls)


def test_app_update_with_an_empty_path_removes_the_route(api, capsys):
    run(capsys, "app", "update", "web", "--path", "", "--security", "relaxed")
    assert api.calls[-1]["json"] == {"path": None, "security": "relaxed"}


def test_https_api_is_verified_with_the_lab_ca_found_in_dot_simplecloud(api, capsys, tmp_path):
    (tmp_path / ".simplecloud").mkdir()
    (tmp_path / ".simplecloud" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    code, _, _ = run(capsys, "--api", "https://192.168.56.10:5443", "status")
    assert code == 0 and api.calls[0]["verify"] == str(tmp_path / ".simplecloud" / "ca.pem")


def test_without_a_ca_the_system_cas_are_used(api, capsys):
    code, _, _ = run(capsys, "status")
    assert code == 0 and api.calls[0]["verify"] is True


def test_a_missing_ca_file_is_a_usage_error(api, capsys):
    code, _, err = run(capsys, "--ca", "/nonexistent/ca.pem", "status")
    assert code == 2 and err.startswith("cloud: the CA file /nonexistent/ca.pem does not exist")
    assert api.calls == []


def test_an_untrusted_certificate_is_one_readable_line(api, capsys):
    api.answers[("GET", "/api/status")] = client.requests.exceptions.SSLError("certificate verify failed")
    code, _, err = run(capsys, "--api", "https://192.168.56.10:5443", "status")
    assert code == 3 and err.count("\n") == 1 and "cannot verify the TLS certificate" in err


def test_app_autoscale_sends_the_policy_and_says_what_it_is(api, capsys):
    api.answers[("PUT", "/api/apps/web/autoscale")] = (200, {
        "name": "web", "replicas": 2, "autoscale": {"summary": "2..10, rps 20/node", "last": None}})
    code, out, _ = run(capsys, "app", "autoscale", "web", "--min", "2", "--max", "10", "--rps", "20",
                       "--p95-ms", "250")
    assert code == 0 and out.strip() == "app 'web' autoscales: 2..10, rps 20/node"
    assert api.calls[0]["json"] == {"min": 2, "max": 10, "rps": 20.0, "p95_ms": 250.0}


def test_app_autoscale_rules_are_parsed_and_a_bad_one_is_one_line(api, capsys):
    code, _, _ = run(capsys, "app", "autoscale", "web", "--min", "1", "--max", "6",
                     "--rule", "rps > 50 for 10 step +2 cooldown 60", "--rule", "rps < 5 for 30 step -1")
    assert code == 0 and api.calls[0]["json"]["rules"] == [
        {"metric": "rps", "comparator": ">", "threshold": 50.0, "step": 2, "for_s": 10.0, "cooldown_s": 60.0},
        {"metric": "rps", "comparator": "<", "threshold": 5.0, "step": -1, "for_s": 30.0}]
    code, _, err = run(capsys, "app", "autoscale", "web", "--min", "1", "--max", "6", "--rule", "rps > lots")
    assert code == 2 and err.count("\n") == 1 and "is not a rule" in err


def test_app_autoscale_off_and_usage_errors(api, capsys):
    code, out, _ = run(capsys, "app", "autoscale", "web", "--off")
    assert code == 0 and api.calls[-1]["method"] == "DELETE" and "no longer autoscales" in out
    code, _, err = run(capsys, "app", "autoscale", "web", "--off", "--min", "1")
    assert code == 2 and "--off takes no other option" in err
    code, _, err = run(capsys, "app", "autoscale", "web", "--rps", "5")
    assert code == 2 and "--min and --max" in err


def test_scale_of_an_autoscaled_app_says_it_was_clamped(api, capsys):
    api.answers[("PUT", "/api/apps/web/scale")] = (200, {
        "name": "web", "replicas": 10, "note": "app web is autoscaled within [2, 10]: 15 clamped to 10"})
    code, out, _ = run(capsys, "app", "scale", "web", "15")
    assert code == 0 and out.splitlines()[0].endswith("15 clamped to 10")
    assert out.splitlines()[1] == "app 'web' scaled to 10 replicas"


def test_app_ls_shows_the_policy_and_the_metric_against_its_target():
    from orchestrator.cli.tables import autoscale_cell
    assert autoscale_cell(None) == "-"
    assert autoscale_cell({"summary": "1..10, rps 20/node", "last": {"metrics": {"rps": [41.23, 20]}}}) == \
        "1..10, rps 20/node; now rps 41.2/20"


# --- several managers ----------------------------------------------------------

def test_the_next_manager_answers_when_the_first_cannot_be_reached_and_stays_first(capsys, monkeypatch,
                                                                                   tmp_path):
    """A refused connection (nothing sent) moves on to the next address; the one
    that answered is asked first from then on."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".simplecloud").mkdir()
    (tmp_path / ".simplecloud" / "api").write_text("http://127.0.0.1:1\nhttp://m2:5000\n")
    asked, real = [], requests.request

    def fake(method, url, **kwargs):
        asked.append(url)
        if url.startswith("http://127.0.0.1:1"):
            return real(method, url, **kwargs)                     # a real refusal
        return FakeResponse(200, {"pods": [], "apps": [], "nodes": {}, "events": []})

    monkeypatch.setattr(client.requests, "request", fake)
    c = client.Client(client.resolve(None, "SIMPLECLOUD_API", "api", client.DEFAULT_API), None)
    c.call("GET", "/api/status")
    c.call("GET", "/api/status")
    assert asked == ["http://127.0.0.1:1/api/status", "http://m2:5000/api/status", "http://m2:5000/api/status"]


def test_a_write_whose_connection_broke_after_sending_is_not_sent_again(api, capsys):
    api.answers[("POST", "/api/init")] = requests.exceptions.ConnectionError("connection reset")
    code, _, err = run(capsys, "--api", "http://m1:5000,http://m2:5000", "init")
    assert code == 3 and [c["url"] for c in api.calls] == ["http://m1:5000/api/init"]
    assert "m1:5000" in err


def test_a_read_answered_503_is_asked_of_the_next_manager_a_write_is_not(capsys, monkeypatch, tmp_path):
    """A manager that cannot reach etcd in time answers 503: a GET goes on to the
    next manager, a PUT is reported (it may have been applied)."""
    monkeypatch.chdir(tmp_path)
    asked = []

    def fake(method, url, **kwargs):
        asked.append((method, url))
        if url.startswith("http://m1:5000"):
            return FakeResponse(503, {"error": "etcd is not reachable (UNAVAILABLE)"})
        return FakeResponse(200, {"name": "web", "replicas": 3})

    monkeypatch.setattr(client.requests, "request", fake)
    c = client.Client("http://m1:5000,http://m2:5000", None)
    assert c.call("GET", "/api/apps/web")["replicas"] == 3
    assert asked == [("GET", "http://m1:5000/api/apps/web"), ("GET", "http://m2:5000/api/apps/web")]
    asked.clear()
    c = client.Client("http://m1:5000,http://m2:5000", None)
    with pytest.raises(client.CliError) as failed:
        c.call("PUT", "/api/apps/web/scale", {"replicas": 3})
    assert asked == [("PUT", "http://m1:5000/api/apps/web/scale")]
    assert failed.value.status == 503 and failed.value.code == client.EXIT_API


def test_a_read_every_manager_answers_503_is_that_error(api, capsys):
    api.answers[("GET", "/api/apps/web")] = (503, {"error": "etcd is not reachable (UNAVAILABLE)"})
    code, _, err = run(capsys, "--api", "http://m1:5000,http://m2:5000", "app", "scale", "web", "+1")
    assert code == client.EXIT_API and err == "cloud: etcd is not reachable (UNAVAILABLE)\n"
    assert [c["url"] for c in api.calls] == ["http://m1:5000/api/apps/web", "http://m2:5000/api/apps/web"]


def test_wait_outlives_a_failover_polls_that_find_no_manager_or_a_503(api, capsys, monkeypatch):
    """While a manager is lost, a poll may reach no manager or one whose etcd is
    electing: the wait says so and polls again; a 404 still ends it."""
    monkeypatch.setattr(wait.time, "sleep", lambda s: None)
    api.answers[("PUT", "/api/apps/web/scale")] = (200, {"name": "web", "replicas": 1})
    api.answers[("GET", "/api/apps/web")] = [
        requests.exceptions.ConnectTimeout("no route"), (503, {"error": "etcd is not reachable (UNAVAILABLE)"}),
        (200, {"name": "web", "replicas": 1, "serving": 1, "phases": {"serving": 1}, "nodes": []})]
    code, out, err = run(capsys, "app", "scale", "web", "1", "--wait")
    assert code == 0, err
    assert "waiting for app web: the API did not answer (cannot reach the simplecloud API at" in err
    assert "waiting for app web: the API did not answer (etcd is not reachable (UNAVAILABLE)); asking again" in err
    assert out == "app 'web' scaled to 1 replica; 1 of 1 replica serve\n"

    api.answers[("GET", "/api/apps/web")] = (404, {"error": "no app named 'web'"})
    code, _, err = run(capsys, "app", "scale", "web", "1", "--wait")
    assert code == client.EXIT_API and err.strip().splitlines()[-1] == "cloud: no app named 'web'"


def test_every_manager_unreachable_names_them_all(api, capsys):
    api.answers[("GET", "/api/status")] = requests.exceptions.ConnectTimeout("no route")
    code, _, err = run(capsys, "--api", "http://m1:5000, http://m2:5000", "status")
    assert code == 3 and "any of http://m1:5000, http://m2:5000" in err


def test_manager_ls_shows_the_leader_the_vip_and_etcd(api, capsys):
    api.answers[("GET", "/api/managers")] = (200, {
        "leader": {"name": "manager-2", "epoch": 4711, "since": 1.0},
        "managers": [{"name": "manager-1", "reachable": True, "leader": False, "holds_vip": True},
                     {"name": "manager-2", "reachable": True, "leader": True, "holds_vip": False},
                     {"name": "manager-3", "reachable": False, "leader": False, "holds_vip": False}],
        "vip": {"address": "192.168.56.100", "holder": "manager-1", "holders": ["manager-1"]},
        "etcd": {"healthy": 2, "error": None, "members": [
            {"name": "manager-1", "healthy": True, "leader": True, "db_size_bytes": 2 * 1024 * 1024,
             "client_urls": ["https://192.168.56.10:2379"]},
            {"name": "manager-3", "healthy": False, "leader": False, "db_size_bytes": None,
             "client_urls": ["https://192.168.56.17:2379"]}]}})
    code, out, _ = run(capsys, "manager", "ls")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "EPOCH", "SINCE", "VIP", "REACH"]
    assert lines[2].split()[:3] == ["manager-2", "leader", "4711"] and "no answer" in lines[3]
    assert "virtual IP 192.168.56.100: held by manager-1" in out
    assert "2.0 MiB" in out and "unhealthy" in out and "etcd: 2 of 2 members healthy" in out


def test_a_relative_scale_counts_from_the_replicas_now(api, capsys):
    api.answers[("GET", "/api/apps/light")] = (200, {"name": "light", "replicas": 3})
    api.answers[("PUT", "/api/apps/light/scale")] = (200, {"name": "light", "replicas": 5})
    code, out, _ = run(capsys, "app", "scale", "light", "+2")
    assert code == 0 and api.calls[-1]["json"] == {"replicas": 5} and "scaled to 5 replicas" in out
    run(capsys, "app", "scale", "light", "-9")
    assert api.calls[-1]["json"] == {"replicas": 0}
    code, _, err = run(capsys, "app", "scale", "light", "+x")
    assert code == 2 and "such as 5, +2 or -1" in err


# --- hosts ------------------------------------------------------------------------

HOSTS = [{"name": "pod-light-1", "address": "192.168.56.11", "capacity": {"nodes": 20, "cpus": 5.0, "memory_mb": 2560},
          "draining": False, "pods": ["light"], "spare": False, "used": {"nodes": 6, "cpus": 1.5, "memory_mb": 768},
          "nodes": 6, "pending": 0, "link": {"reachable": True, "since": 0}, "cpu_percent": 12.5},
         {"name": "spare-1", "address": "192.168.56.15", "capacity": {"nodes": 20, "cpus": 5.0, "memory_mb": 2560},
          "draining": False, "pods": [], "spare": True, "used": {}, "nodes": 0, "link": None, "cpu_percent": None}]


def test_host_ls_is_a_table_and_says_how_cpu_is_computed(api, capsys):
    api.answers[("GET", "/api/hosts")] = (200, HOSTS)
    code, out, _ = run(capsys, "host", "ls")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["NAME", "PODS", "CAPACITY", "USED", "NODES", "REACH", "CPU", "STATE",
                                              "ADDRESS"]
    assert "pod-light-1  light" in lines[1] and "20 nodes / 5 CPU / 2560 MiB" in lines[1] and "12.5 %" in lines[1]
    assert lines[2].split()[-2:] == ["spare", "192.168.56.15"]
    assert lines[-1].startswith("CPU: what the serving workers used over the last 10 s")


def test_host_rm_drains_first_and_waits_until_the_nodes_serve_elsewhere(api, capsys):
    api.answers[("GET", "/api/hosts")] = (200, HOSTS)
    api.answers[("GET", "/api/nodes")] = (200, [
        {"name": "n1", "host": "pod-light-2", "moved_from": "pod-light-1",
         "observed": {"phase": "serving", "host": "pod-light-2"}}])
    api.answers[("DELETE", "/api/hosts/pod-light-1/pod")] = (200, {"name": "pod-light-1", "spare": True})
    code, out, err = run(capsys, "host", "rm", "pod-light-1")
    assert code == 0 and out == "host 'pod-light-1' left pod 'light'; it is a spare again\n"
    assert [(c["method"], c["path"]) for c in api.calls] == [
        ("GET", "/api/hosts"), ("POST", "/api/hosts/pod-light-1/drain"), ("GET", "/api/nodes"),
        ("DELETE", "/api/hosts/pod-light-1/pod")]
    assert "draining it first" in err and "1 of 1 node(s) serve on other hosts" in err


def test_a_drain_that_cannot_go_on_says_why(api, capsys):
    api.answers[("GET", "/api/nodes")] = (200, [{"name": "n1", "host": "pod-light-1", "pending": "no room"}])
    code, _, err = run(capsys, "host", "drain", "pod-light-1")
    assert code == 4 and err.endswith("cloud: 1 node cannot leave host pod-light-1: no room\n")
    api.answers[("GET", "/api/hosts")] = (200, HOSTS)
    code, _, err = run(capsys, "host", "rm", "pod-light-1", "--no-wait")
    assert code == 1 and "still has 6 nodes; drain it first" in err
