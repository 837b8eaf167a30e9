"""What keeps workloads and strangers away from the control plane (issue 7).

- a worker (untrusted code) reaches other workers and the load balancer, never
  a machine's control ports: checked from inside a real worker container, and
  every port it is refused is shown to be open from the pod host itself;
- etcd speaks TLS only and wants a client certificate from the lab CA;
- the registry the pod hosts see is read-only; pushing is the manager's alone;
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
import yaml

from .conftest import (
    MACHINES,
    MANAGER_ADDRESS,
    MANAGERS,
    PODS,
    ROOT,
    SSH_CONFIG,
    STATE_DIR,
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

LAB_GATEWAY = "192.168.56.1"     # the machine that runs the lab, seen from the lab network
PKI = "/etc/simplecloud/pki"


def lab_address(machine: str) -> str:
    return yaml.safe_load((ROOT / "inventory" / "host_vars" / f"{machine}.yml").read_text())["lab_address"]


def control_ports(pod_name: str, gateway: str) -> list[str]:
    """Control ports a worker of ``pod_name`` must not reach (each one listens)."""
    own = PODS[pod_name][0]
    other = next(machine for machine, _ in PODS.values() if machine != own)
    return ([f"{MANAGER_ADDRESS}:{port}" for port in (2379, 2380, 5000, 5050, 22)]
            + [f"{gateway}:22", f"{lab_address(own)}:22", f"{lab_address(other)}:22"])


@pytest.fixture
def server_on_other_pod(request):
    """A job container on pod-medium's workers network, and its IP:port (reachable from the host)."""
    host = _host("pod-medium")
    name = f"infra-sec-{uuid.uuid4().hex[:6]}"
    host.check_output(f"docker run -d --name {name} --network cloud --label simplecloud.test=1 "
                      f"-e SIMPLECLOUD_NODE={name} manager:5050/simplecloud/medium")
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
                            f"manager:5050/simplecloud/light {PROBE_CMD} {' '.join(targets)}")
    return json.loads(out)


def test_worker_cannot_reach_control_ports(pod):
    name, host, subnet = pod
    targets = control_ports(name, subnet.replace(".0/24", ".1"))
    from_host = json.loads(host.check_output(f"{PROBE_CMD} {' '.join(targets)}"))
    assert set(from_host.values()) == {"open"}, f"control ports should listen for the host: {from_host}"
    from_worker = run_probe_in_worker(host, targets)
    assert set(from_worker.values()) == {"refused"}, from_worker


def test_worker_cannot_reach_the_lab_machine(pod):
    _, host, _ = pod
    assert run_probe_in_worker(host, [f"{LAB_GATEWAY}:22"]) == {f"{LAB_GATEWAY}:22": "refused"}


def test_worker_reaches_other_workers_and_the_load_balancer(server_on_other_pod):
    host = _host("pod-light")
    targets = [server_on_other_pod, f"{MANAGER_ADDRESS}:80"]
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

def test_etcd_refuses_plain_http(manager):
    out = manager.run(f"curl -sS -m 5 http://{MANAGER_ADDRESS}:2379/health")
    assert '"health":"true"' not in out.stdout


def test_etcd_refuses_tls_without_client_certificate(manager):
    out = manager.run(f"curl -sS -m 5 --cacert {PKI}/ca.pem https://{MANAGER_ADDRESS}:2379/health")
    assert out.rc != 0 and '"health":"true"' not in out.stdout


def test_etcd_answers_with_a_lab_client_certificate(manager):
    out = manager.check_output(f"curl -sS -m 5 --cacert {PKI}/ca.pem --cert {PKI}/client-admin.pem "
                               f"--key {PKI}/client-admin.key https://{MANAGER_ADDRESS}:2379/health")
    assert json.loads(out)["health"] == "true"


def test_orchestrator_has_its_own_private_client_certificate(manager):
    key = manager.file("/etc/simplecloud/etcd/client.key")
    assert key.exists and key.mode == 0o600 and key.user == "orchestrator"
    subject = manager.check_output("openssl x509 -noout -subject -in /etc/simplecloud/etcd/client.pem")
    assert "simplecloud-orchestrator" in subject
    assert manager.file(PKI).mode == 0o700


# --- registry ---

def test_registry_on_the_lab_network_is_read_only(pod):
    _, host, _ = pod
    assert host.run("curl -fsS -m 5 http://manager:5050/v2/simplecloud/light/tags/list").rc == 0
    upload = host.check_output("curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "
                               "http://manager:5050/v2/simplecloud/light/blobs/uploads/")
    assert upload != "202", "a pod host could start a push"


def test_registry_push_side_only_on_manager_loopback(manager):
    assert manager.socket("tcp://127.0.0.1:5051").is_listening
    assert not manager.socket(f"tcp://{MANAGER_ADDRESS}:5051").is_listening
    assert not manager.socket("tcp://0.0.0.0:5051").is_listening
    upload = manager.check_output("curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "
                                  "http://127.0.0.1:5051/v2/simplecloud/probe/blobs/uploads/")
    assert upload == "202"


# --- SSH ---

@pytest.mark.single_host
def test_sshd_wants_keys(machine):
    settings = machine.check_output("sshd -T")
    for line in ("passwordauthentication no", "kbdinteractiveauthentication no",
                 "permitrootlogin no", "permitemptypasswords no"):
        assert line in settings.splitlines()


@pytest.mark.single_host
def test_vagrant_insecure_key_is_gone(machine):
    # Vagrant's well-known public key, from the private key the Vagrantfile copies
    insecure = subprocess.run(["ssh-keygen", "-y", "-f", str(STATE_DIR / "insecure_private_key")],
                              capture_output=True, text=True, check=True).stdout.split()[1]
    authorized = machine.file("/home/vagrant/.ssh/authorized_keys").content_string
    assert insecure not in authorized
    lab_key = (STATE_DIR / "lab_ed25519.pub").read_text().split()[1]
    assert lab_key in authorized


@pytest.mark.single_host
# the manager and one pod host (the lone pod host of `make test-vm`)
@pytest.mark.parametrize("name", MANAGERS[:1] + [m for m in MACHINES if "pods" in MACHINES[m]["groups"]][:1])
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

def test_haproxy_workers_run_unprivileged_in_a_chroot(manager):
    assert manager.check_output("pgrep -u haproxy -x haproxy").split(), \
        "no HAProxy worker runs as the haproxy user"
    assert len(manager.check_output("pgrep -u root -x haproxy").split()) == 1   # the master only
    # /proc/PID/root of the worker cannot be read here (no CAP_SYS_PTRACE in
    # the container lab), so the chroot is read from the config it runs.
    config = manager.file("/etc/haproxy/simplecloud/haproxy.cfg").content_string.splitlines()
    assert "    chroot /var/lib/haproxy" in config and "    user haproxy" in config


# --- the API over TLS on the lab network ---

def test_api_over_tls_with_the_lab_ca():
    ca = ROOT / ".simplecloud" / "ca.pem"
    answer = requests.get(f"https://{MANAGER_ADDRESS}:5443/api/health", verify=str(ca), timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "ok"
    with pytest.raises(requests.exceptions.SSLError):      # not trusted without the lab CA
        requests.get(f"https://{MANAGER_ADDRESS}:5443/api/health", timeout=10)
