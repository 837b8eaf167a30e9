"""The manager's settings: groups, loaded from flat keys (YAML, then environment), slowdown."""
import dataclasses

import pytest

from orchestrator.core.errors import ValidationError
from orchestrator.settings import FIELDS, GROUPS, SLOWED, Settings
from tests.unit.core.test_validate import refused


def test_settings_file_then_env(tmp_path):
    cfg = tmp_path / "simplecloud.yaml"
    cfg.write_text("etcd_port: 23790\ndocker_hosts:\n  pod-light: ssh://simplecloud@pod-light\n"
                   "reconcile_interval: 2\n")
    s = Settings.load(str(cfg), environ={"SIMPLECLOUD_ETCD_PORT": "2400",
                                         "SIMPLECLOUD_JOB_IMAGE_PREFIX": "manager:5050/simplecloud/"})
    assert (s.etcd.etcd_port, s.intervals.reconcile_interval, s.workers.job_image_prefix) == \
        (2400, 2.0, "manager:5050/simplecloud/")
    assert s.links.docker_url("pod-light") == "ssh://simplecloud@pod-light"
    with pytest.raises(ValidationError, match="no Docker URL for host 'pod-heavy'"):
        s.links.docker_url("pod-heavy")
    env = Settings.load(environ={"SIMPLECLOUD_CONFIG": str(cfg),
                                 "SIMPLECLOUD_DOCKER_HOSTS": '{"*": "unix:///var/run/docker.sock"}'})
    assert env.etcd.etcd_port == 23790 and env.links.docker_url("anything") == "unix:///var/run/docker.sock"
    assert Settings.load(environ={"SIMPLECLOUD_DOCKER_HOSTS": "a=ssh://a, b=ssh://b"}).links.docker_hosts == \
        {"a": "ssh://a", "b": "ssh://b"}


def test_settings_refusals(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("etcd_prot: 1\n")
    refused(Settings.load, str(cfg), {}, field="config", says="unknown setting(s) etcd_prot")
    refused(Settings.load, None, {"SIMPLECLOUD_ETCD_PORT": "many"}, field="etcd_port", says="type int")
    refused(Settings.load, str(tmp_path / "missing.yaml"), {}, field="config", says="cannot read")
    refused(Settings.load, None, {"SIMPLECLOUD_DOCKER_HOSTS": "oops"}, field="docker_hosts", says="host=url")
    refused(Settings.load, None, {"SIMPLECLOUD_SLOWDOWN": "0"}, field="slowdown", says="must be above 0")
    refused(lambda: Settings.of(etcd_prot=1), field="etcd_prot", says="unknown setting(s) etcd_prot")
    with pytest.raises(ValueError, match="etcd TLS needs all of"):
        Settings.of(etcd_ca_file="/x/ca.pem").etcd.tls()


def test_a_slower_lab_gets_its_budgets_and_intervals_times_its_slowdown(tmp_path):
    cfg = tmp_path / "simplecloud.yaml"
    cfg.write_text("slowdown: 10\nreconcile_interval: 2.5\n")      # what role orchestrator writes for VMs
    slow, fast = Settings.load(str(cfg), environ={}), Settings()
    assert slow.intervals.reconcile_interval == 25.0 and slow.healing.start_timeout == 300.0
    assert slow.healing.hung_probe == 3.0
    flat_slow, flat_fast = slow.flat(), fast.flat()
    assert all(flat_slow[n] == 10 * flat_fast[n] for n in SLOWED if n != "reconcile_interval")
    assert (slow.intervals.metrics_interval, slow.links.link_ping_failures) == \
        (fast.intervals.metrics_interval, fast.links.link_ping_failures)
    assert Settings.load(environ={}) == fast                       # the container lab: slowdown 1


def test_the_role_s_flat_file_loads_into_the_groups(tmp_path):
    """roles/orchestrator/templates/config.yml.j2 writes flat keys; each lands in its group."""
    cfg = tmp_path / "config.yml"
    cfg.write_text("etcd_host: 127.0.0.1\netcd_port: 2379\npod_network: cloud\n"
                   "job_image_prefix: manager:5050/simplecloud/\nhaproxy_config: /etc/haproxy/haproxy.cfg\n"
                   "frontend_bind: '*:80'\nstats_bind: 127.0.0.1:8404\napi_bind: 0.0.0.0:5000\n"
                   "api_tls_bind: 192.168.56.10:5443\napi_tls_pem: /etc/simplecloud/api.pem\n"
                   "token_file: /etc/simplecloud/token\nslowdown: 1.0\n")
    s = Settings.load(str(cfg), environ={})
    assert (s.links.pod_network, s.haproxy.api_tls_bind, s.api.token_file, s.api.api_bind) == \
        ("cloud", "192.168.56.10:5443", "/etc/simplecloud/token", "0.0.0.0:5000")
    assert s.updated(link_ping_interval=0.3).links.link_ping_interval == 0.3
    assert s.updated(link_ping_interval=0.3).etcd == s.etcd


def test_every_field_name_is_unique_and_every_group_is_a_frozen_dataclass():
    names = [f.name for g in GROUPS.values() for f in dataclasses.fields(g)]
    assert len(names) == len(set(names)) == len(FIELDS) - 1
    assert all(g.__dataclass_params__.frozen for g in GROUPS.values())
    assert set(SLOWED) <= set(FIELDS)
