"""playbooks/provision.py: runner's events → progress lines, stats → summary."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def provision():
    spec = importlib.util.spec_from_file_location("provision", ROOT / "playbooks" / "provision.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def events(*items):
    return [{"event": kind, "event_data": data} for kind, data in items]


def feed(progress, evs):
    for e in evs:
        assert progress(e) is True
    progress.flush()


def test_one_line_per_play_and_per_task_with_every_host(provision):
    lines = []
    feed(provision.Progress(lines.append), events(
        ("playbook_on_play_start", {"play": "Base"}),
        ("playbook_on_task_start", {"task": "Install", "role": "common"}),
        ("runner_on_ok", {"host": "pod-light", "res": {"changed": True}}),
        ("runner_on_ok", {"host": "manager", "res": {"changed": False}}),
        ("playbook_on_task_start", {"task": "Clock"}),
        ("runner_on_skipped", {"host": "manager"}),
    ))
    assert lines[0] == "PLAY Base"
    assert lines[1].split() == ["common", ":", "Install", "manager", "ok", "pod-light", "changed"]
    assert lines[2].split() == ["Clock", "manager", "skipped"]
    assert len(lines) == 3


def test_failures_keep_host_task_and_message(provision):
    progress = provision.Progress(lambda line: None)
    feed(progress, events(
        ("playbook_on_task_start", {"task": "Start etcd", "role": "etcd"}),
        ("runner_on_failed", {"host": "manager", "res": {"msg": "unit failed"}}),
        ("runner_on_failed", {"host": "pod-light", "ignore_errors": True, "res": {"msg": "fine"}}),
        ("runner_on_unreachable", {"host": "pod-heavy", "res": {"msg": "ssh: timed out"}}),
    ))
    assert progress.failures == ["manager: etcd : Start etcd: unit failed",
                                 "pod-heavy: etcd : Start etcd: ssh: timed out"]


def test_summary_per_host_from_runner_stats(provision):
    stats = {"ok": {"manager": 79, "pod-light": 32}, "changed": {"manager": 0, "pod-light": 2},
             "failures": {"pod-light": 1}, "dark": {}, "skipped": {"manager": 18}}
    assert provision.summary(stats) == {
        "manager": {"ok": 79, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 18},
        "pod-light": {"ok": 32, "changed": 2, "failed": 1, "unreachable": 0, "skipped": 0}}
    assert provision.summary(None) == {}


def test_extra_vars_must_be_key_value(provision):
    assert provision.parse_extravars(["lab_provider=docker", "a=b=c"]) == {"lab_provider": "docker", "a": "b=c"}
    with pytest.raises(Exception, match="KEY=VALUE"):
        provision.parse_extravars(["oops"])


def test_the_lab_to_provision_comes_from_the_environment(provision):
    assert provision.lab_paths({}) == (ROOT / "inventory" / "hosts.yml", ROOT / ".vagrant")
    inventory, state = provision.lab_paths({"LAB_INVENTORY": "tests/vm/hosts.yml",
                                            "VAGRANT_DOTFILE_PATH": "/tmp/x/vagrant"})
    assert (inventory, state) == (ROOT / "tests" / "vm" / "hosts.yml", Path("/tmp/x/vagrant"))
    assert provision.lab_paths({"LAB_INVENTORY": "/tmp/byo/hosts.yml", "LAB_STATE_DIR": "/tmp/byo",
                                "VAGRANT_DOTFILE_PATH": "/tmp/x/vagrant"}) == (Path("/tmp/byo/hosts.yml"),
                                                                              Path("/tmp/byo"))


def test_the_vm_lab_has_its_own_inventory(provision, tmp_path):
    """lab.yml's <provider>.inventory (the VM lab's smaller topology), unless LAB_INVENTORY says otherwise."""
    (tmp_path / "lab.yml").write_text("provider: docker\nlibvirt: {inventory: inventory/vm.yml}\n")
    assert provision.lab_paths({}, tmp_path)[0] == tmp_path / "inventory" / "hosts.yml"
    assert provision.lab_paths({"LAB_PROVIDER": "libvirt"}, tmp_path)[0] == tmp_path / "inventory" / "vm.yml"
    assert provision.lab_paths({"LAB_PROVIDER": "libvirt", "LAB_INVENTORY": "x.yml"}, tmp_path)[0] == \
        tmp_path / "x.yml"


def test_slowdown_per_provider_from_lab_yml_and_lab_local_yml(provision, tmp_path):
    (tmp_path / "lab.yml").write_text("provider: docker\nlibvirt: {box: b, slowdown: 10}\ndocker: {image: i}\n")
    assert provision.slowdown(environ={}, root=tmp_path) == 1.0                      # unset: the container lab
    assert provision.slowdown("libvirt", environ={}, root=tmp_path) == 10.0
    assert provision.slowdown(environ={"LAB_PROVIDER": "libvirt"}, root=tmp_path) == 10.0
    (tmp_path / "lab.local.yml").write_text("libvirt: {slowdown: 2}\n")             # merged key by key
    assert provision.lab_settings({}, tmp_path)["libvirt"] == {"box": "b", "slowdown": 2}
    assert provision.slowdown("libvirt", environ={}, root=tmp_path) == 2.0
    (tmp_path / "lab.local.yml").write_text("libvirt: {slowdown: fast}\n")
    with pytest.raises(ValueError, match="slowdown must be a number >= 1, not 'fast'"):
        provision.slowdown("libvirt", environ={}, root=tmp_path)


def test_a_lab_keeps_the_provider_of_its_machines(provision, tmp_path):
    """`LAB_PROVIDER=libvirt make up`, then plain `make test-lab`: the lab is
    still the libvirt one (its machines in Vagrant's state), not lab.yml's."""
    (tmp_path / "lab.yml").write_text("provider: docker\nlibvirt: {slowdown: 10}\n")
    assert provision.running_provider(tmp_path / ".vagrant") is None
    assert provision.lab_settings({}, tmp_path)["provider"] == "docker"
    (tmp_path / ".vagrant" / "machines" / "manager" / "libvirt").mkdir(parents=True)
    (tmp_path / ".vagrant" / "machines" / "manager" / "docker").mkdir(parents=True)   # no id: destroyed
    assert provision.lab_settings({}, tmp_path)["provider"] == "docker"
    (tmp_path / ".vagrant" / "machines" / "manager" / "libvirt" / "id").write_text("0f3c")
    assert provision.running_provider(tmp_path / ".vagrant") == "libvirt"
    assert provision.lab_settings({}, tmp_path)["provider"] == "libvirt"
    assert provision.slowdown(environ={}, root=tmp_path) == 10.0
    assert provision.lab_settings({"LAB_PROVIDER": "docker"}, tmp_path)["provider"] == "docker"
    assert provision.lab_settings({"VAGRANT_DOTFILE_PATH": "vm"}, tmp_path)["provider"] == "docker"   # another lab


def test_profile_times_each_task_to_the_next_ones_start(provision):
    """Like Ansible's profile_tasks: a task's time runs from its start to the
    next task's (or the end's); the slowest first, then per role and per play."""
    progress = provision.Progress(lambda line: None)
    stamps = iter(["2026-12-03T07:00:00+00:00", "2026-12-03T07:00:01+00:00", "2026-12-03T07:00:11+00:00",
                   "2026-12-03T07:00:12+00:00", "2026-12-03T07:00:14+00:00", "2026-12-03T07:00:14.500000+00:00"])
    for kind, data in [("playbook_on_play_start", {"play": "Base"}),
                       ("playbook_on_task_start", {"task": "Install", "role": "common"}),
                       ("playbook_on_task_start", {"task": "Clock", "role": "common"}),
                       ("playbook_on_play_start", {"play": "Manager"}),
                       ("playbook_on_handler_task_start", {"task": "Restart etcd", "role": "etcd"}),
                       ("playbook_on_stats", {})]:
        progress({"event": kind, "event_data": data, "created": next(stamps)})
    lines = provision.profile(progress.marks, top=2)
    assert lines[0] == "provisioning: 14.5 s in all, 3 tasks"
    assert lines[3:5] == ["    10.00 s  common : Install", "     1.00 s  common : Clock"]
    assert "    11.00 s  common" in lines and "     0.50 s  etcd" in lines
    assert "    12.00 s  Base" in lines and "     2.50 s  Manager" in lines


def test_the_strategy_is_mitogen_unless_linear_is_asked_for(provision):
    env = provision.strategy_env({})
    assert env["ANSIBLE_STRATEGY"] == "mitogen_linear"
    assert (Path(env["ANSIBLE_STRATEGY_PLUGINS"]) / "mitogen_linear.py").is_file()
    assert provision.strategy_env({"SIMPLECLOUD_ANSIBLE_STRATEGY": "linear"}) == {"ANSIBLE_STRATEGY": "linear"}
    with pytest.raises(ValueError, match="mitogen_linear, linear"):
        provision.strategy_env({"SIMPLECLOUD_ANSIBLE_STRATEGY": "free"})


def test_a_wrong_strategy_is_one_line_and_exit_2(provision, monkeypatch, capsys):
    monkeypatch.setenv("SIMPLECLOUD_ANSIBLE_STRATEGY", "fast")
    with pytest.raises(SystemExit) as exit_:
        provision.main([])
    assert exit_.value.code == 2
    assert "SIMPLECLOUD_ANSIBLE_STRATEGY must be one of" in capsys.readouterr().err
