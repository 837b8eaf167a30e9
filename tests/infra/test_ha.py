"""The managers as one control plane (issue 21) and the Docker hosts as pools
(issue 22), as deployed: a healthy etcd cluster of every manager, the
virtual IP on exactly one manager, the same token, key and images on each,
every Docker host known to every manager, the spare in no pod."""
import json
import uuid

import pytest
import requests
import yaml

from playbooks.provision import lab_settings

from .conftest import BYO, CLIENT_DIR, DOCKER_HOSTS, LAB, MACHINES, MANAGERS, VIP, _host

ETCDCTL = ("ETCDCTL_API=3 etcdctl --cacert /etc/simplecloud/pki/ca.pem "
           "--cert /etc/simplecloud/pki/client-admin.pem --key /etc/simplecloud/pki/client-admin.key "
           "--endpoints " + ",".join(f"https://{LAB.address(m)}:2379" for m in MANAGERS))
JOBS = ["light", "medium", "heavy"]


def config(host) -> dict:
    return yaml.safe_load(host.file("/etc/simplecloud/config.yml").content_string)


# --- etcd: one cluster of every manager ---

def test_every_etcd_member_is_healthy(manager):
    health = json.loads(manager.check_output(f"{ETCDCTL} endpoint health -w json"))
    assert sorted(h["endpoint"] for h in health if h["health"]) == \
        sorted(f"https://{LAB.address(m)}:2379" for m in MANAGERS), health


def test_etcd_is_one_cluster_with_one_leader(manager):
    status = json.loads(manager.check_output(f"{ETCDCTL} endpoint status -w json"))
    assert len(status) == len(MANAGERS)
    assert len({s["Status"]["header"]["cluster_id"] for s in status}) == 1
    assert len({s["Status"]["leader"] for s in status}) == 1               # every member names the same leader
    members = json.loads(manager.check_output(f"{ETCDCTL} member list -w json"))["members"]
    assert sorted(m["name"] for m in members) == sorted(MANAGERS)
    assert all(url.startswith("https://") for m in members for url in m["peerURLs"])   # peers over TLS


def test_etcd_raft_timing_and_keepalive(each_manager):
    _, host = each_manager
    pid = host.check_output("systemctl show -p MainPID --value etcd")
    environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ").splitlines()
    for line in ("ETCD_HEARTBEAT_INTERVAL=100", "ETCD_ELECTION_TIMEOUT=1000",
                 "ETCD_GRPC_KEEPALIVE_MIN_TIME=1s", "ETCD_PEER_CLIENT_CERT_AUTH=true"):
        assert line in environ, line


# --- the virtual IP ---

def test_the_virtual_ip_is_on_exactly_one_manager():
    holders = [m for m in MANAGERS if f" {VIP}/" in _host(m).check_output("ip -o -4 addr show")]
    assert len(holders) == 1, holders
    for other in set(MACHINES) - set(MANAGERS):
        assert f" {VIP}/" not in _host(other).check_output("ip -o -4 addr show"), other


def test_keepalived_shares_it_by_unicast_without_preemption(each_manager):
    name, host = each_manager
    conf = host.file("/etc/keepalived/keepalived.conf").content_string
    for line in ("vrrp_version 3", "state BACKUP", "nopreempt", "priority 100", "advert_int 0.2", "weight 0",
                 "http://127.0.0.1:8404/stats"):
        assert line in conf, line
    # unicast to the other managers; a lone manager (bring your own: one machine) has none to talk to
    assert (f"unicast_src_ip {LAB.address(name)}" in conf) == (len(MANAGERS) > 1), conf
    for peer in MANAGERS:
        assert (f"        {LAB.address(peer)}\n" in conf) == (peer != name), peer


def test_haproxy_ports_on_the_virtual_ip_drop_a_syn_nothing_listens_for(each_manager):
    """simplecloud-vip-guard (role keepalived): a SYN to the virtual IP's HAProxy ports that no
    socket takes is dropped, so TCP sends it again to the next holder, instead of refused (a
    dying holder's kernel, a dead HAProxy); in place before keepalived can give the address."""
    _, host = each_manager
    guard = host.service("simplecloud-vip-guard")
    assert guard.is_enabled and guard.is_running
    assert "keepalived.service" in host.check_output("systemctl show -p Before --value simplecloud-vip-guard")
    jump = (f"-A INPUT -d {VIP}/32 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN "
            "-m multiport --dports 80,5443 -j SC-VIP")
    assert host.check_output("iptables -S INPUT").splitlines().count(jump) == 1
    # --nowildcard: HAProxy's frontend listens on 0.0.0.0:80, which the plain socket match ignores
    assert host.check_output("iptables -S SC-VIP").splitlines() == [
        "-N SC-VIP", "-A SC-VIP -m socket --nowildcard -j RETURN", "-A SC-VIP -j DROP"]


def test_the_holders_haproxy_takes_the_syns_the_guard_sees():
    """A request through the virtual IP goes by the guard's socket rule on the holder (its
    HAProxy on 0.0.0.0:80 is found), not by its DROP."""
    holder = next(_host(m) for m in MANAGERS if f" {VIP}/" in _host(m).check_output("ip -o -4 addr show"))

    def counters():   # packets through SC-VIP's rules: [socket RETURN, DROP]
        return [int(line.split()[0]) for line in
                holder.check_output("iptables -L SC-VIP -n -v -x").splitlines()[2:]]

    before = counters()
    assert requests.get(f"http://{VIP}/", timeout=10).status_code == 404
    after = counters()
    assert after[0] > before[0] and after[1] == before[1], (before, after)


def test_the_lab_machine_reaches_haproxy_through_the_virtual_ip():
    """HAProxy of whichever manager holds the address answers (a JSON 404: no app serves /)."""
    answer = requests.get(f"http://{VIP}/", timeout=10)
    assert answer.status_code == 404 and answer.json() == {"error": "no application serves this host and path"}


@pytest.mark.parametrize("name", MACHINES)
def test_manager_and_registry_name_the_virtual_ip(name):
    host = _host(name)
    for alias in ("manager", "registry"):
        assert host.check_output(f"getent ahostsv4 {alias}").split()[0] == VIP, alias


# --- the same orchestrator on every manager ---

def test_every_manager_has_the_same_token_and_ssh_key():
    digests = {m: _host(m).check_output("sha256sum /etc/simplecloud/token /var/lib/orchestrator/.ssh/id_ed25519 "
                                        "| cut -d' ' -f1 | paste -sd,") for m in MANAGERS}
    assert len(set(digests.values())) == 1, digests
    assert (CLIENT_DIR / "token").read_text().strip() == \
        _host(MANAGERS[0]).file("/etc/simplecloud/token").content_string.strip()


def test_the_cli_tries_the_virtual_ip_first():
    """Then manager-1's published port in the container lab, then each manager's address
    (the CLI reaches a manager while the virtual IP moves)."""
    addresses = (CLIENT_DIR / "api").read_text().split()
    assert addresses[0].split("//")[1].split(":")[0] == VIP, addresses
    if not BYO and lab_settings()["provider"] == "docker":
        assert addresses[1] == "http://127.0.0.1:5000"
        addresses = addresses[1:]
    assert [a.split("//")[1].split(":")[0] for a in addresses[1:]] == [LAB.address(m) for m in MANAGERS]


def test_each_manager_knows_the_managers_and_every_docker_host(each_manager):
    name, host = each_manager
    settings = config(host)
    assert settings["manager_name"] == name and settings["vip"] == VIP
    assert settings["managers"] == {m: f"http://{LAB.address(m)}:5000" for m in MANAGERS}
    assert sorted(settings["docker_hosts"]) == sorted(DOCKER_HOSTS)
    for docker_host in DOCKER_HOSTS:
        want = {"address": LAB.address(docker_host), "subnet": LAB.subnet(docker_host),
                **LAB.hostvars[docker_host]["host_capacity"]}
        assert settings["pod_hosts"][docker_host] == want, docker_host
    assert settings["pods_hosts"] == LAB.pods
    assert settings["host_grace"] == 10
    members = [LAB.address(name)] + [LAB.address(m) for m in MANAGERS if m != name]
    assert settings["etcd_endpoints"] == ",".join(f"{a}:2379" for a in members)      # every member, its own first


def test_the_spares_are_in_no_pod(manager):
    """A spare is provisioned like a pod host (engine, network, firewall:
    the `pod` tests run on it too) and known to the managers, but in no pod."""
    settings = config(manager)
    for spare in LAB.spares:
        assert spare in settings["pod_hosts"]
        assert not [pod for pod, hosts in settings["pods_hosts"].items() if spare in hosts], spare
        host = _host(spare)
        assert host.service("docker").is_running and host.service("simplecloud-firewall").is_enabled
        assert host.interface("br-cloud").exists


# --- the images on every manager ---

def test_every_registry_has_the_same_images():
    """The job images and the base image, by the same digest, in each
    manager's registry: pulled from whichever holds the virtual IP."""
    accept = "Accept: application/vnd.docker.distribution.manifest.v2+json"
    digests = {}
    for m in MANAGERS:
        host = _host(m)
        for repo in [f"simplecloud/{j}" for j in JOBS] + ["debian"]:
            headers = host.check_output(f"curl -fsSI -H '{accept}' http://{LAB.address(m)}:5050/v2/{repo}/manifests/latest")
            digest = next(line.split(":", 1)[1].strip() for line in headers.splitlines()
                          if line.lower().startswith("docker-content-digest:"))
            digests.setdefault(repo, {})[m] = digest
    for repo, by_manager in digests.items():
        assert len(set(by_manager.values())) == 1, (repo, by_manager)


def test_simplecloud_push_is_on_every_manager(each_manager):
    _, host = each_manager
    assert host.file("/usr/local/bin/simplecloud-push").mode == 0o755
    usage = host.run("simplecloud-push")
    assert usage.rc == 2 and usage.stderr.startswith("usage: simplecloud-push IMAGE")


def test_an_image_pushed_on_one_manager_is_in_every_registry(manager):
    """simplecloud-push on the first manager: a new image (the base image
    with its own label, so its own manifest) lands in each manager's
    registry. Removed afterwards through each push side."""
    probe, repo = f"push-probe-{uuid.uuid4().hex[:8]}", "simplecloud-test/push-probe"
    accept = "Accept: application/vnd.docker.distribution.manifest.v2+json"
    manager.check_output(f"printf 'FROM debian:bookworm-slim\\nLABEL probe={probe}\\n' "
                         f"| docker build -q -t {probe} - >/dev/null")
    try:
        out = manager.run(f"simplecloud-push {probe} {repo}:{probe}")
        assert out.rc == 0, out.stderr
        assert f"every manager has registry:5050/{repo}:{probe}" in out.stdout
        for m in MANAGERS:
            tags = json.loads(manager.check_output(f"curl -fsS http://{LAB.address(m)}:5050/v2/{repo}/tags/list"))
            assert probe in tags["tags"], m
    finally:
        for m in MANAGERS:
            push = "127.0.0.1" if m == MANAGERS[0] else m
            headers = manager.run(f"curl -fsSI -H '{accept}' http://{push}:5051/v2/{repo}/manifests/{probe}").stdout
            digest = [line.split(":", 1)[1].strip() for line in headers.splitlines()
                      if line.lower().startswith("docker-content-digest:")]
            if digest:
                manager.run(f"curl -fsS -X DELETE http://{push}:5051/v2/{repo}/manifests/{digest[0]}")
        manager.run(f"docker rmi {probe}")
