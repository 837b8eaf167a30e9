#!/usr/bin/env python3
"""Provision the lab: playbooks/site.yml through ansible-runner.

The one entry point for provisioning; `make provision` and the Vagrantfile
both call it, and the idempotence test imports it:

    .venv/bin/python playbooks/provision.py                      # every machine
    .venv/bin/python playbooks/provision.py --limit pod-light -e lab_provider=docker
    .venv/bin/python playbooks/provision.py --tags orchestrator   # one role (site.yml's tags)

What it shows while it runs: one line per play, and one line per task with
each host's outcome (ok, changed, skipped, failed, unreachable) as soon as
every host has answered it. At the end: a summary per host from runner's
stats, and for a failure the task and Ansible's message. Ansible's full
output goes to .simplecloud/logs/provision.log; runner's artifacts (every
event as JSON) to .simplecloud/runner/artifacts/ (the last five runs).

Which lab: the inventory is LAB_INVENTORY, else the provider's in lab.yml
(the VM lab's smaller one), else inventory/hosts.yml; SSH goes through the
ssh-config the Vagrantfile writes into Vagrant's state directory (.vagrant,
or VAGRANT_DOTFILE_PATH), like the lab's own key that role common installs.
`make test-vm` sets both for its lone VM; machines you bring (`make byo`,
playbooks/byo.py) have their ssh-config in LAB_STATE_DIR. The
provider (``lab_provider``, unless ``-e`` gives it): LAB_PROVIDER, else that
of the machines in Vagrant's state directory, else lab.yml's.

Exit code: 0 when every host is ok, 2 when a host failed or was
unreachable, 1 when Ansible could not run at all.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOG = ROOT / ".simplecloud" / "logs" / "provision.log"
PROFILE = ROOT / ".simplecloud" / "logs" / "provision-profile.log"
RUNNER_DIR = ROOT / ".simplecloud" / "runner"
SSH_ARGS = "-o ControlMaster=auto -o ControlPersist=120s"   # as in ansible.cfg
STRATEGIES = ("mitogen_linear", "linear")    # the first is the default (docs/decisions.md)
OUTCOMES = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
            "runner_on_unreachable": "unreachable"}


class Progress:
    """Turns runner's events into progress lines (see the module docstring).

    ``write`` gets each finished line. Task results of one task are collected
    until the next task or play starts (Ansible's linear strategy runs a task
    on every host before the next one), then printed as one line.
    """

    def __init__(self, write=print):
        self.write = write
        self.task: str | None = None
        self.results: dict[str, str] = {}
        self.failures: list[str] = []
        self.marks: list[tuple[str, str, str]] = []     # (time, play or task, name) for the profile

    def __call__(self, event: dict) -> bool:
        kind, data = event.get("event"), event.get("event_data") or {}
        if kind in MARKS and event.get("created"):
            role = data.get("role")
            name = data.get("play", "") if kind == "playbook_on_play_start" else \
                (f"{role} : {data.get('task', '')}" if role else data.get("task", ""))
            self.marks.append((event["created"], MARKS[kind], name))
        if kind in ("playbook_on_play_start", "playbook_on_task_start",
                    "playbook_on_handler_task_start", "playbook_on_stats"):
            self.flush()
        if kind == "playbook_on_play_start":
            self.write(f"PLAY {data.get('play', '')}")
        elif kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
            role = data.get("role")
            self.task = f"{role} : {data.get('task', '')}" if role else data.get("task", "")
        elif kind in OUTCOMES:
            self._result(OUTCOMES[kind], data)
        return True       # keep the event in runner's artifacts

    def _result(self, outcome: str, data: dict) -> None:
        host, res = data.get("host", "?"), data.get("res") or {}
        if outcome == "ok" and res.get("changed"):
            outcome = "changed"
        if outcome == "failed" and data.get("ignore_errors"):
            outcome = "failed (ignored)"
        self.results[host] = outcome
        if outcome in ("failed", "unreachable"):
            message = res.get("msg") or res.get("stderr") or res.get("reason") or "no message"
            self.failures.append(f"{host}: {self.task}: {str(message).strip()[:400]}")

    def flush(self) -> None:
        if self.task is not None and self.results:
            outcomes = "  ".join(f"{h} {o}" for h, o in sorted(self.results.items()))
            task = self.task if len(self.task) <= 60 else self.task[:57] + "..."
            self.write(f"  {task:<60} {outcomes}")
        self.task, self.results = None, {}


MARKS = {"playbook_on_play_start": "play", "playbook_on_task_start": "task",
         "playbook_on_handler_task_start": "task", "playbook_on_stats": "end"}


def profile(marks: list[tuple[str, str, str]], top: int = 25) -> list[str]:
    """What Ansible's profile_tasks and profile_roles callbacks print (they
    live in the ansible.posix collection, which ansible-core lacks): each
    task's wall time, from its start to the next one's (the linear strategy
    runs a task on every host at once), the slowest first; then per role
    and per play, and the total."""
    from datetime import datetime

    times = [(datetime.fromisoformat(t), kind, name) for t, kind, name in marks]
    tasks, roles, plays, play = [], {}, {}, ""
    for (start, kind, name), (end, _, _) in zip(times, times[1:]):
        seconds = (end - start).total_seconds()
        if kind == "play":
            play = name
        plays[play] = plays.get(play, 0.0) + seconds
        if kind == "task":
            tasks.append((seconds, name))
            role = name.split(" : ")[0] if " : " in name else "(play)"
            roles[role] = roles.get(role, 0.0) + seconds
    total = (times[-1][0] - times[0][0]).total_seconds() if times else 0.0
    lines = [f"provisioning: {total:.1f} s in all, {len(tasks)} tasks", "", f"slowest {top} tasks:"]
    lines += [f"  {seconds:7.2f} s  {name}" for seconds, name in sorted(tasks, reverse=True)[:top]]
    lines += ["", "per role:"] + [f"  {v:7.2f} s  {k}" for k, v in sorted(roles.items(), key=lambda kv: -kv[1])]
    lines += ["", "per play:"] + [f"  {v:7.2f} s  {k}" for k, v in plays.items()]
    return lines


def summary(stats: dict | None) -> dict[str, dict[str, int]]:
    """Runner's stats ({"ok": {host: n}, "changed": ...}) as host → counts."""
    per_host: dict[str, dict[str, int]] = {}
    for key, name in (("ok", "ok"), ("changed", "changed"), ("failures", "failed"),
                      ("dark", "unreachable"), ("skipped", "skipped")):
        for host, n in ((stats or {}).get(key) or {}).items():
            per_host.setdefault(host, {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0,
                                       "skipped": 0})[name] = n
    return per_host


def state_dir(environ=os.environ, root: Path = ROOT) -> Path:
    """The lab's state directory (its ssh-config and keys): LAB_STATE_DIR
    (machines you bring, `make byo`), else Vagrant's (VAGRANT_DOTFILE_PATH,
    else .vagrant)."""
    state = environ.get("LAB_STATE_DIR") or environ.get("VAGRANT_DOTFILE_PATH") or ".vagrant"
    return root / state      # an absolute path stays as it is


def client_dir(environ=os.environ, root: Path = ROOT) -> Path:
    """Where provisioning writes the `cloud` CLI's files (api, token, ca.pem):
    the checkout's .simplecloud, or for machines you bring their state
    directory (LAB_STATE_DIR: `cloud` run in the directory above it finds them)."""
    return state_dir(environ, root) if environ.get("LAB_STATE_DIR") else root / ".simplecloud"


def lab_paths(environ=os.environ, root: Path = ROOT) -> tuple[Path, Path]:
    """(inventory, state directory) of the lab to provision: LAB_INVENTORY,
    else the provider's inventory in lab.yml (``<provider>.inventory``: the
    VM lab's smaller topology), else inventory/hosts.yml; as the Vagrantfile."""
    inventory = environ.get("LAB_INVENTORY")
    if not inventory:
        settings = lab_settings(environ, root)
        inventory = (settings.get(settings["provider"]) or {}).get("inventory") or "inventory/hosts.yml"
    return root / inventory, state_dir(environ, root)


def running_provider(state: Path) -> str | None:
    """The provider of the machines the lab has (Vagrant's state directory
    ``state``), or None: the Vagrantfile's RUNNING_PROVIDER."""
    found = sorted(p.parent.name for p in state.glob("machines/*/*/id"))
    return found[0] if found else None


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` merged into ``base`` key by key (nested mappings too), as the Vagrantfile does."""
    out = dict(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) \
            else value
    return out


def lab_settings(environ=os.environ, root: Path = ROOT) -> dict:
    """lab.yml merged with lab.local.yml; the provider from LAB_PROVIDER,
    else that of the machines the lab has, else the files': what the
    Vagrantfile reads, for the Python side (provisioning, tests)."""
    import yaml

    settings = yaml.safe_load((root / "lab.yml").read_text()) or {}
    local = root / "lab.local.yml"
    if local.exists():
        settings = deep_merge(settings, yaml.safe_load(local.read_text()) or {})
    settings["provider"] = (environ.get("LAB_PROVIDER") or running_provider(state_dir(environ, root))
                            or settings.get("provider"))
    return settings


def slowdown(provider: str | None = None, environ=os.environ, root: Path = ROOT) -> float:
    """How many times slower than the container lab the provider's machines
    are (lab.yml ``<provider>.slowdown``, 1 when unset): the manager's time
    budgets for machines (role orchestrator) and the end-to-end tests'
    deadlines are multiplied by it, their load divided by it."""
    settings = lab_settings(environ, root)
    value = (settings.get(provider or settings.get("provider")) or {}).get("slowdown", 1)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"lab.yml: slowdown must be a number >= 1, not {value!r}")
    return float(value)


def strategy_env(environ=os.environ) -> dict[str, str]:
    """Ansible's strategy: mitogen_linear by default (the linear strategy's
    order, task by task on every host, through one Python interpreter per
    machine that Mitogen keeps: 122 s against 143 s from scratch, 50 s
    against 161 s again on a provisioned lab; docs/decisions.md), plain
    ``linear`` when SIMPLECLOUD_ANSIBLE_STRATEGY says so."""
    strategy = environ.get("SIMPLECLOUD_ANSIBLE_STRATEGY") or STRATEGIES[0]
    if strategy not in STRATEGIES:
        raise ValueError(f"SIMPLECLOUD_ANSIBLE_STRATEGY must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if strategy == "linear":
        return {"ANSIBLE_STRATEGY": "linear"}
    import ansible_mitogen
    plugins = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    return {"ANSIBLE_STRATEGY_PLUGINS": str(plugins), "ANSIBLE_STRATEGY": strategy}


def provision(limit: str | None = None, extravars: dict | None = None, write=print, tags: str | None = None):
    """Run site.yml; returns ansible-runner's Runner (``.rc``, ``.stats``)
    and the Progress (its ``failures``). Output goes to ``write``."""
    import ansible_runner

    LOG.parent.mkdir(parents=True, exist_ok=True)
    RUNNER_DIR.mkdir(parents=True, exist_ok=True)
    # ansible-runner writes env/envvars and env/extravars on its first run and
    # from then on reads them back *over* the arguments given: the file left
    # by one lab (the container lab) pointed the next (make test-vm's) at the
    # wrong ssh-config ("Could not resolve hostname vm-pod"). Every run starts
    # from its own arguments.
    shutil.rmtree(RUNNER_DIR / "env", ignore_errors=True)
    progress = Progress(write)
    venv_bin = str(Path(sys.executable).parent)
    inventory, state = lab_paths()
    env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_SSH_ARGS": f"-F {state / 'ssh-config'} {SSH_ARGS}",
           "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
           "ANSIBLE_FORCE_COLOR": "0", **strategy_env()}
    extravars = {"lab_state_dir": str(state), "lab_client_dir": str(client_dir()), **(extravars or {})}
    if "lab_provider" not in extravars:
        extravars["lab_provider"] = lab_settings()["provider"]
    if "lab_slowdown" not in extravars:                # main() has read it already
        extravars["lab_slowdown"] = slowdown(extravars["lab_provider"])
    runner = ansible_runner.run(
        private_data_dir=str(RUNNER_DIR), project_dir=str(ROOT),
        playbook=str(ROOT / "playbooks" / "site.yml"), inventory=str(inventory), limit=limit, tags=tags,
        extravars=extravars, envvars=env, quiet=True, rotate_artifacts=5,
        event_handler=progress)
    progress.flush()
    stdout = Path(runner.config.artifact_dir) / "stdout"
    if stdout.exists():
        shutil.copyfile(stdout, LOG)
    PROFILE.write_text("\n".join(profile(progress.marks)) + "\n")
    return runner, progress


def parse_extravars(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"-e {item!r} must look like KEY=VALUE")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="provision", description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", help="only these hosts or groups (Ansible's --limit)")
    p.add_argument("--tags", help="only these roles, by their tags in site.yml (Ansible's --tags)")
    p.add_argument("-e", "--extra-var", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args(argv)
    try:
        extravars = parse_extravars(args.extra_var)
        extravars.setdefault("lab_slowdown", slowdown(extravars.get("lab_provider")))
        strategy_env()                                  # a wrong SIMPLECLOUD_ANSIBLE_STRATEGY: said here
    except (argparse.ArgumentTypeError, ValueError) as exc:
        p.error(str(exc))
    runner, progress = provision(args.limit, extravars, write=lambda line: print(line, flush=True),
                                 tags=args.tags)
    hosts = summary(runner.stats)
    print("summary:")
    for host, n in sorted(hosts.items()):
        print(f"  {host:<12} ok={n['ok']:<4} changed={n['changed']:<4} failed={n['failed']:<3} "
              f"unreachable={n['unreachable']:<3} skipped={n['skipped']}")
    for line in progress.failures:
        print(f"FAILED {line}")
    print(f"{profile(progress.marks)[0]}; the slowest tasks in {PROFILE.relative_to(ROOT)}")
    if not hosts:
        print(f"provision: Ansible did not run ({runner.status}, rc {runner.rc}); read {LOG}",
              file=sys.stderr)
        return 1
    if runner.rc != 0 or any(n["failed"] or n["unreachable"] for n in hosts.values()):
        print(f"provision: failed (rc {runner.rc}); Ansible's output is in {LOG}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
