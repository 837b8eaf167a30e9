"""What keeps workloads and strangers away from the control plane (issue 7).

- a worker (untrusted code) reaches other workers and the load balancer (every
  manager's and the virtual IP), never a machine's control ports: checked
  from inside a real worker container, and every port it is refused is shown
  to be open from the Docker host itself;
- etcd speaks TLS only and wants a client certificate from the lab CA;
- the registry the Docker hosts see is read-only; pushing is the managers' alone;
- SSH: the lab's own key, no Vagrant insecure key, no passwords, no sudo for
  the `simplecloud` account;
- HAProxy's workers run as the haproxy user in a chroot;
- the API answers over TLS on the lab network with a lab-CA certificate.
"""
import base64
import json
import subprocess
import time
import uuid

import pytest
import requests

from .conftest import (
    BYO,
    CLIENT_DIR,
    DOCKER_HOSTS,
    LAB,
    MANAGER_ADDRESS,
    MANAGERS,
    SSH_CONFIG,
    STATE_DIR,
    VIP,
    _host,
)

# Connects to each HOST:PORT given once and prints {"HOST:PORT": "open" | "refused" | "timeout"}.
PROBE = base64.b64encode(b"""
import json, socket, sys
out = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, int(port)))
        out[target] = "open"
    except socket.timeout:
        out[target] = "timeout"
    except OSError:
        out[target] = "refused"
    finally:
        s.close()
print(json.dumps(out))
""").decode()
PROBE_CMD = f"python3 -c \"import base64; exec(base64.b64decode('{PROBE}'))\""

PKI = "/etc/simplecloud/pki"
PUSH = 5051      # the registry's push side (the managers only)


def lab_gateway() -> str:
    """The machine that runs the lab, seen from the lab network (.1 of it)."""
    return MANAGER_ADDRESS.rsplit(".", 1)[0] + ".1"


def control_ports(host_name: str, gateway: str) -> list[str]:
    """Control ports a worker on ``host_name`` must not reach (each one listens):
    every manager's etcd (client and peer), API, registry (both sides) and
    SSH, its own host's SSH (lab address and bridge gateway) and another
    Docker host's."""
    others = [h for h in DOCKER_HOSTS if h != host_name][:1]
    return ([f"{LAB.address(m)}:{port}" for m in MANAGERS for port in (2379, 2380, 5000, 5050, PUSH, 22)]
            + [f"{gateway}:22", f"{LAB.address(host_name)}:22"] + [f"{LAB.address(o)}:22" for o in others])


@pytest.fixture
def server_on_other_host(request):
    """A job container on another Docker host's workers network than the
    first one's, and its IP:port (reachable from that host)."""
    if len(DOCKER_HOSTS) < 2:
        pytest.skip("one Docker host: no other host's worker to reach")
    other = DOCKER_HOSTS[1]
    host = _host(other)
    job = LAB.pod_of(other) or "light"
    name = f"infra-sec-{uuid.uuid4().hex[:6]}"
    host.check_output(f"docker run -d --name {name} --network cloud --label simplecloud.test=1 "
                      f"-e SIMPLECLOUD_NODE={name} registry:5050/simplecloud/{job}")
    request.addfinalizer(lambda: host.run(f"docker rm -f {name}"))
    ip = host.check_output(f"docker inspect -f '{{{{.NetworkSettings.Networks.cloud.IPAddress}}}}' {name}")
    target = f"{ip}:8000"
    # ready when the pod host itself can connect (the job server takes a moment to bind)
    deadline = time.monotonic() + 30
    while json.loads(host.check_output(f"{PROBE_CMD} {target}"))[target] != "open":
        assert time.monotonic() < deadline, f"{name} did not listen on {target} within 30 s"
        time.sleep(0.2)
    return target


def run_probe_in_worker(host, targets):
    out = host.check_output(f"docker run --rm --label simplecloud.test=1 --network cloud "
                            f"registry:5050/simplecloud/light {PROBE_CMD} {' '.join(targets)}")
    return json.loads(out)


def test_worker_cannot_reach_control_ports(pod):
    """From the Docker host itself every port listens (the push side of the
    registry resets its connection: only managers may push), from a worker
    none does."""
    name, host, subnet = pod
    targets = control_ports(name, subnet.replace(".0/24", ".1"))
    listening = [t for t in targets if not t.endswith(f":{PUSH}")]
    from_host = json.loads(host.check_output(f"{PROBE_CMD} {' '.join(listening)}"))
    assert set(from_host.values()) == {"open"}, f"control ports should listen for the host: {from_host}"
    from_worker = run_probe_in_worker(host, targets)
    assert set(from_worker.values()) == {"refused"}, from_worker


def test_worker_cannot_reach_the_lab_machine(pod):
    _, host, _ = pod
    gateway = f"{lab_gateway()}:22"
    assert run_probe_in_worker(host, [gateway]) == {gateway: "refused"}


def test_worker_reaches_other_workers_and_the_load_balancers(server_on_other_host):
    """Another host's worker, every manager's HAProxy and the virtual IP."""
    host = _host(DOCKER_HOSTS[0])
    targets = [server_on_other_host] + [f"{LAB.address(m)}:80" for m in MANAGERS] + [f"{VIP}:80"]
    assert run_probe_in_worker(host, targets) == {t: "open" for t in targets}


@pytest.mark.single_host
def test_isolation_rules_come_back_with_dockerd(pod):
    _, host, _ = pod
    unit = host.service("simplecloud-firewall")
    assert unit.is_enabled and unit.is_running
    assert "docker.service" in host.check_output("systemctl show -p PartOf --value simplecloud-firewall")
    assert "-i br-cloud -j SC-WORKERS" in host.check_output("iptables -S DOCKER-USER")
    assert "-i br-cloud -j SC-WORKERS-IN" in host.check_output("iptables -S INPUT")


# --- etcd ---

@pytest.mark.parametrize("member", MANAGERS)
def test_etcd_refuses_plain_http(manager, member):
    out = manager.run(f"curl -sS -m 5 http://{LAB.address(member)}:2379/health")
    assert '"health":"true"' not in out.stdout


@pytest.mark.parametrize("member", MANAGERS)
def test_etcd_refuses_tls_without_client_certificate(manager, member):
    out = manager.run(f"curl -sS -m 5 --cacert {PKI}/ca.pem https://{LAB.address(member)}:2379/health")
    assert out.rc != 0 and '"health":"true"' not in out.stdout


@pytest.mark.parametrize("member", MANAGERS)
def test_etcd_answers_with_a_lab_client_certificate(manager, member):
    out = manager.check_output(f"curl -sS -m 5 --cacert {PKI}/ca.pem --cert {PKI}/client-admin.pem "
                               f"--key {PKI}/client-admin.key https://{LAB.address(member)}:2379/health")
    assert json.loads(out)["health"] == "true"


def test_etcd_peers_want_a_lab_certificate(manager):
    """The peer port (2380) of every member: TLS with a client certificate from the lab CA."""
    for member in MANAGERS:
        url = f"https://{LAB.address(member)}:2380/members"
        assert manager.run(f"curl -sS -m 5 --cacert {PKI}/ca.pem {url}").rc != 0
        # HTTP/1.1: etcd's peer handlers reset an HTTP/2 stream (curl's default over TLS)
        out = manager.check_output(f"curl -sS -m 5 --http1.1 --cacert {PKI}/ca.pem --cert {PKI}/client-admin.pem "
                                   f"--key {PKI}/client-admin.key {url}")
        assert {m["name"] for m in json.loads(out)} == set(MANAGERS)


def test_orchestrator_has_its_own_private_client_certificate(each_manager):
    _, host = each_manager
    key = host.file("/etc/simplecloud/etcd/client.key")
    assert key.exists and key.mode == 0o600 and key.user == "orchestrator"
    subject = host.check_output("openssl x509 -noout -subject -in /etc/simplecloud/etcd/client.pem")
    assert "simplecloud-orchestrator" in subject


def test_the_lab_ca_key_stays_on_the_first_manager(each_manager):
    name, host = each_manager
    if name == MANAGERS[0]:
        assert host.file(PKI).mode == 0o700 and host.file(f"{PKI}/ca.key").exists
    else:
        assert not host.file(f"{PKI}/ca.key").exists


# --- registry ---

def test_registry_on_the_lab_network_is_read_only(pod):
    _, host, _ = pod
    for registry in ["registry"] + MANAGERS:
        assert host.run(f"curl -fsS -m 5 http://{registry}:5050/v2/simplecloud/light/tags/list").rc == 0
        upload = host.check_output("curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "
                                   f"http://{registry}:5050/v2/simplecloud/light/blobs/uploads/")
        assert upload != "202", f"a Docker host could start a push to {registry}:5050"


def test_registry_push_side_refuses_docker_hosts(pod):
    """Every manager's push side resets a Docker host's connection (the guard's iptables)."""
    _, host, _ = pod
    for target in MANAGERS + ["registry"]:
        out = host.run(f"curl -sS -m 5 -o /dev/null http://{target}:{PUSH}/v2/")
        # 7: the connection refused (curl 7.88 says "Couldn't connect to server"), not timed out (28);
        # the managers themselves are answered (next test)
        assert out.rc == 7, (target, out.stderr)


def test_registry_push_side_answers_the_managers(each_manager):
    """Its own push side on loopback, and every other manager's over the lab network."""
    name, host = each_manager
    for target in ["127.0.0.1"] + [m for m in MANAGERS if m != name]:
        upload = host.check_output("curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "
                                   f"http://{target}:{PUSH}/v2/simplecloud/probe/blobs/uploads/")
        assert upload == "202", target


def test_registry_push_side_refuses_the_lab_machine():
    answer = subprocess.run(["curl", "-sS", "-m", "5", "-o", "/dev/null", f"http://{MANAGER_ADDRESS}:{PUSH}/v2/"],
                            capture_output=True, text=True)
    assert answer.returncode == 7, answer.stderr


# --- SSH ---

@pytest.mark.single_host
def test_sshd_wants_keys(machine):
    settings = machine.check_output("sshd -T")
    for line in ("passwordauthentication no", "kbdinteractiveauthentication no",
                 "permitrootlogin no", "permitemptypasswords no"):
        assert line in settings.splitlines()


@pytest.mark.single_host
@pytest.mark.skipif(BYO, reason="machines you bring keep their own keys")
def test_vagrant_insecure_key_is_gone(machine):
    # Vagrant's well-known public key, from the private key the Vagrantfile copies
    insecure = subprocess.run(["ssh-keygen", "-y", "-f", str(STATE_DIR / "insecure_private_key")],
                              capture_output=True, text=True, check=True).stdout.split()[1]
    authorized = machine.file("/home/vagrant/.ssh/authorized_keys").content_string
    assert insecure not in authorized
    lab_key = (STATE_DIR / "lab_ed25519.pub").read_text().split()[1]
    assert lab_key in authorized


@pytest.mark.single_host
@pytest.mark.skipif(BYO, reason="machines you bring keep their own keys")
# a manager and a Docker host (the lone pod host of `make test-vm`)
@pytest.mark.parametrize("name", MANAGERS[:1] + DOCKER_HOSTS[:1])
def test_login_with_the_insecure_key_fails(name):
    where = dict(line.split(" ", 1) for line in subprocess.run(
        ["ssh", "-G", "-F", str(SSH_CONFIG), name], capture_output=True, text=True,
        check=True).stdout.splitlines())
    login = subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(STATE_DIR / "insecure_private_key"),
         "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
         "-p", where["port"], f"vagrant@{where['hostname']}", "true"],
        capture_output=True, text=True)
    assert login.returncode == 255 and "Permission denied" in login.stderr


@pytest.mark.single_host
def test_simplecloud_account_has_docker_but_no_sudo(pod):
    _, host, _ = pod
    assert "docker" in host.user("simplecloud").groups
    assert "not allowed to run sudo" in host.check_output("sudo -l -U simplecloud")


# --- HAProxy ---

def test_haproxy_workers_run_unprivileged_in_a_chroot(each_manager):
    _, host = each_manager
    assert host.check_output("pgrep -u haproxy -x haproxy").split(), \
        "no HAProxy worker runs as the haproxy user"
    assert len(host.check_output("pgrep -u root -x haproxy").split()) == 1   # the master only
    # /proc/PID/root of the worker cannot be read here (no CAP_SYS_PTRACE in
    # the container lab), so the chroot is read from the config it runs.
    config = host.file("/etc/haproxy/simplecloud/haproxy.cfg").content_string.splitlines()
    assert "    chroot /var/lib/haproxy" in config and "    user haproxy" in config


# --- the API over TLS on the lab network ---

@pytest.mark.parametrize("name", MANAGERS + ["vip"])
def test_api_over_tls_with_the_lab_ca(name):
    """Each manager's own certificate (its address and the virtual IP), on its
    address and on the virtual IP."""
    ca = CLIENT_DIR / "ca.pem"
    address = VIP if name == "vip" else LAB.address(name)
    answer = requests.get(f"https://{address}:5443/api/health", verify=str(ca), timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    with pytest.raises(requests.exceptions.SSLError):      # not trusted without the lab CA
        requests.get(f"https://{address}:5443/api/health", timeout=10)
