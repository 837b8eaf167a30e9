"""The manager, hardened (issue 19): the orchestrator runs as its own
account inside systemd's sandbox, trusts only the pod hosts' recorded SSH
host keys, and etcd keeps a bounded history in a capped database.

Settings are read from systemd and the files; their effect from the running
process (/proc/PID: its user, groups, capabilities, no_new_privs, seccomp,
its read-only view of the filesystem)."""
import pytest

from .conftest import DOCKER_HOSTS, MANAGERS, _host

USER = "orchestrator"
HOME = "/var/lib/orchestrator"
# The orchestrator's etcd client certificate: on every manager (the admin's
# only on the first, beside the lab CA).
ETCD_TLS = ("--cacert /etc/simplecloud/etcd/ca.pem --cert /etc/simplecloud/etcd/client.pem "
            "--key /etc/simplecloud/etcd/client.key")


@pytest.fixture(scope="module", params=MANAGERS)
def manager(request):
    """Each manager in turn: every one runs the orchestrator the same way."""
    return _host(request.param)


@pytest.fixture(scope="module")
def manager_pid(manager):
    pid = manager.check_output("systemctl show -p MainPID --value simplecloud-manager")
    assert pid not in ("", "0"), "simplecloud-manager is not running"
    return pid


def proc_status(manager, pid) -> dict[str, str]:
    lines = manager.file(f"/proc/{pid}/status").content_string.splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


# --- its own account ---

def test_the_orchestrator_runs_as_its_own_account(manager, manager_pid):
    assert manager.check_output(f"ps -o user= -p {manager_pid}") == USER
    account = manager.user(USER)
    assert account.shell == "/usr/sbin/nologin" and account.home == HOME
    assert "haproxy-admin" in account.groups
    assert not {"docker", "sudo", "root"} & set(account.groups), account.groups   # this engine would be root
    assert "not allowed to run sudo" in manager.check_output(f"sudo -l -U {USER}")


@pytest.mark.parametrize("path", ["/etc/simplecloud/config.yml", "/etc/simplecloud/token",
                                  "/etc/simplecloud/etcd/client.key", "/etc/simplecloud/api.pem",
                                  f"{HOME}/.ssh/id_ed25519", f"{HOME}/.ssh/known_hosts", f"{HOME}/.ssh/config"])
def test_its_files_are_readable_by_it_alone(manager, path):
    f = manager.file(path)
    assert (f.user, f.mode) == (USER, 0o600), (path, f.user, oct(f.mode))


def test_its_directories_let_only_it_in(manager):
    settings, home = manager.file("/etc/simplecloud"), manager.file(HOME)
    assert (settings.user, settings.group, settings.mode) == ("root", USER, 0o750)
    assert (home.user, home.mode) == (USER, 0o700)
    links = manager.file("/run/simplecloud")          # RuntimeDirectory=: the host links' sockets
    assert (links.user, links.mode) == (USER, 0o700)


def test_it_rewrites_haproxy_config_through_the_admin_group(manager):
    directory = manager.file("/etc/haproxy/simplecloud")
    assert (directory.user, directory.group, directory.mode) == ("root", "haproxy-admin", 0o2770)
    for name in ("haproxy.cfg", "server-state"):
        assert manager.file(f"/etc/haproxy/simplecloud/{name}").user == USER, name
    assert 'CONFIG="/etc/haproxy/simplecloud/haproxy.cfg"' in manager.file("/etc/default/haproxy").content_string


# --- systemd's sandbox ---

@pytest.mark.parametrize("setting, value", [
    ("User", USER), ("NoNewPrivileges", "yes"), ("CapabilityBoundingSet", ""), ("AmbientCapabilities", ""),
    ("ProtectSystem", "strict"), ("ReadWritePaths", "/etc/haproxy/simplecloud"), ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"), ("PrivateDevices", "yes"), ("ProtectProc", "invisible"),
    ("ProtectKernelTunables", "yes"), ("ProtectKernelModules", "yes"), ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"), ("ProtectClock", "yes"), ("ProtectHostname", "yes"),
    ("RestrictNamespaces", "yes"), ("RestrictRealtime", "yes"), ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"), ("RuntimeDirectory", "simplecloud"), ("UMask", "0077"),
])
def test_the_unit_sandboxes_it(manager, setting, value):
    assert manager.check_output(f"systemctl show -p {setting} --value simplecloud-manager") == value


def test_the_unit_allows_only_ip_and_unix_sockets(manager):
    families = manager.check_output("systemctl show -p RestrictAddressFamilies --value simplecloud-manager")
    assert set(families.split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}


def test_the_running_process_has_no_privilege(manager, manager_pid):
    status = proc_status(manager, manager_pid)
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0, status
    assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", status   # seccomp filter on


def test_the_running_process_sees_a_read_only_system(manager, manager_pid):
    mounts = {line.split()[4]: line.split()[5] for line in
              manager.file(f"/proc/{manager_pid}/mountinfo").content_string.splitlines()}
    assert mounts["/"].split(",")[0] == "ro"
    assert mounts["/etc/haproxy/simplecloud"].split(",")[0] == "rw"
    assert "/tmp" in mounts and "/home" in mounts                      # its own /tmp; /home hidden


# --- the Docker hosts' SSH host keys ---

def test_the_orchestrator_trusts_only_the_docker_hosts_recorded_keys(manager):
    config = manager.file(f"{HOME}/.ssh/config").content_string
    assert "StrictHostKeyChecking yes" in config and f"UserKnownHostsFile {HOME}/.ssh/known_hosts" in config
    known = [line.split() for line in manager.file(f"{HOME}/.ssh/known_hosts").content_string.splitlines()
             if line and not line.startswith("#")]
    for machine in DOCKER_HOSTS:
        key = _host(machine).file("/etc/ssh/ssh_host_ed25519_key.pub").content_string.split()[:2]
        assert [m for m in known if m[0].split(",")[0] == machine and m[1:3] == key], (machine, known)


# --- etcd stays small ---

def test_etcd_compacts_its_history(manager):
    pid = manager.check_output("systemctl show -p MainPID --value etcd")
    environ = manager.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()
    assert "ETCD_AUTO_COMPACTION_MODE=periodic" in environ and "ETCD_AUTO_COMPACTION_RETENTION=5m" in environ


def test_etcd_database_is_capped(manager):
    metrics = manager.check_output(f"curl -fsS {ETCD_TLS} https://127.0.0.1:2379/metrics")
    assert "etcd_server_quota_backend_bytes 2.68435456e+08" in metrics.splitlines()
