#!/usr/bin/env python3
"""HA managers benchmark (issue 21) for the running container lab (`make up`
first). Not a test: it prints a line of figures per round and a summary per
scenario, and writes bench/results/ha.json (git-ignored).

Measured from outside, the way a user works: open-loop GETs of /light
through the virtual IP (bench/labkit.py's OpenLoop: Poisson arrivals from
`cloud bench`'s own generator; 2 s client timeout), the `cloud` CLI (it
tries the virtual IP's API, then 127.0.0.1:5000), and the lab machines'
containers (`docker kill`/`start`/`pause`) or SSH (a process killed).

    .venv/bin/python bench/ha_bench.py                          # every scenario, 10 rounds each
    .venv/bin/python bench/ha_bench.py --only kill --rounds 3   # some of them
    .venv/bin/python bench/ha_bench.py --only kill --no-swarm   # without the Swarm yardstick

Scenarios, one round after another, each on the manager that leads then:
  kill     `docker kill` of the leader's machine; `cloud app scale light +2 --wait` issued at once;
           then `docker start` of it: it rejoins (etcd member healthy, a follower).
           Docker Swarm side by side: before each round a fresh 3-manager swarm on the managers'
           own engines, initialised on the simplecloud leader's machine (so Swarm's leader dies
           in the same kill); from a survivor, `docker service scale` until it is accepted.
  pause    `docker pause` of the leader's machine for 15 s, a scale +2 meanwhile, then unpause:
           the old leader must not act after (duplicate and orphan worker containers counted).
  process  `systemctl kill -s KILL simplecloud-manager` on the leader (systemd restarts it).
  etcd     `systemctl stop etcd` on etcd's own leader's machine, a scale +2 meanwhile (writes and
           reconciling go on with two members), then `systemctl start etcd`: it rejoins.
  vip      `docker kill` of the machine that holds the virtual IP (whether it leads or not): the
           requests lost while keepalived moves the address, when a survivor entered MASTER (its
           journal); then `docker start`: it rejoins and the address stays where it went.
           No Swarm beside it: Swarm has no address that moves (its routing mesh publishes a
           port on every node; a client of a dead node's address needs a balancer of its own).

Every wait is bounded; at the end light is back at its starting replicas,
every machine runs, Swarm has left every engine and live-restore is back.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import threading
import time

from labkit import LAB, ROOT, OpenLoop, cloud, cloud_json, containers, live_restore, on, wait
from soakkit import containers_check

RESULTS = ROOT / "bench" / "results" / "ha.json"
APP, PATH = "light", "/light"
NODES = 4                    # light's replicas while the load runs (a node carries ~25 req/s here)
SWARM_IMAGE = "registry:5050/simplecloud/light"
SWARM_LABEL = "label=com.docker.swarm.service.name=hb"


def machine(name: str, action: str) -> None:
    """`docker kill|start|pause|unpause` of a lab machine's container."""
    subprocess.run(["docker", action, f"simplecloud-{name}"], check=True, capture_output=True, timeout=60)


def managers() -> dict:
    return cloud_json("manager", "ls")


def rejoined(name: str, follows: bool = True) -> bool:
    """Every manager answers, some manager leads (with ``follows``: not ``name``),
    and every etcd member is healthy."""
    try:
        m = managers()
    except SystemExit:
        return False
    return (all(x["reachable"] for x in m["managers"]) and bool(m["leader"]["name"])
            and not (follows and m["leader"]["name"] == name)
            and len(m["etcd"]["members"]) == len(LAB.managers)
            and all(e["healthy"] for e in m["etcd"]["members"]))


def elected_after(t0: float, old: str | None) -> tuple[str, float] | None:
    """(manager, seconds after ``t0``) of the first leader.elected event after t0 (of a manager
    other than ``old``, if given)."""
    events = cloud_json("events", "--limit", "200")
    mine = sorted((e["time"], e["subject"].removeprefix("manager/")) for e in events
                  if e["kind"] == "leader.elected" and e["time"] > t0 and e["subject"] != f"manager/{old}")
    return (mine[0][1], round(mine[0][0] - t0, 2)) if mine else None


def light_containers() -> list[tuple[str, str]]:
    """(pod, node) of every running light container on light's hosts."""
    out = []
    for host in LAB.pods[APP]:
        text = on(host, "docker ps --filter label=simplecloud.app=light "
                        "--format '{{.Label \"simplecloud.pod\"}} {{.Label \"simplecloud.node\"}}'")
        out += [tuple(line.split()[:2]) for line in text.splitlines() if len(line.split()) >= 2]
    return out


def orphans_and_duplicates() -> tuple[int, int]:
    """Once light has converged (bounded): containers of no desired node, nodes with two containers."""
    def counts():
        desired = [(n["pod"], n["name"]) for n in cloud_json("node", "ls") if n["app"] == APP]
        orphans, dups = containers_check(light_containers(), desired)
        return orphans, dups, desired
    wait(lambda: not any(counts()[:2]), timeout=60, interval=1)
    orphans, dups, _ = counts()
    return len(orphans), len(dups)


def scale(spec: str, out: dict | None = None) -> tuple[int, float]:
    """`cloud app scale light SPEC --wait`: (exit code, seconds); a failure's
    last line of stderr goes to ``out["scale_error"]``."""
    t0 = time.time()
    run = subprocess.run([str(ROOT / ".venv/bin/cloud"), "app", "scale", APP, spec, "--wait", "--timeout", "120"],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    if run.returncode and out is not None:
        out["scale_error"] = (run.stderr.strip().splitlines() or ["(no output)"])[-1]
    return run.returncode, round(time.time() - t0, 2)


def gap(load: OpenLoop, t0: float) -> tuple[int, float]:
    """(failed requests sent after t0, seconds from t0 until the entry point answered for good)."""
    failed = [s for s, status in load.failures if s >= t0 - 2]
    return len(failed), round(max(failed) - t0, 2) if failed else 0.0


# ---------------------------------------------------------------- Docker Swarm on the managers' engines

class Swarm:
    """A 3-manager swarm on the manager machines' engines (live-restore off while it lives)."""

    def __init__(self):
        self.names = list(LAB.managers)

    def setup(self) -> None:
        for m in self.names:
            live_restore(m, False)
            on(m, f"docker pull -q {SWARM_IMAGE} >/dev/null", timeout=180)

    def leave(self) -> None:
        for m in self.names:
            on(m, "docker swarm leave --force >/dev/null 2>&1; docker rm -f $(docker ps -aq --filter "
                  f"{SWARM_LABEL}) >/dev/null 2>&1", check=False)

    def form(self, first: str) -> None:
        """A fresh swarm initialised on ``first`` (its leader), the others joined as managers; 2 replicas."""
        self.leave()
        on(first, f"docker swarm init --advertise-addr {LAB.address(first)} >/dev/null")
        token = on(first, "docker swarm join-token -q manager").strip()
        for m in self.names:
            if m != first:
                on(m, f"docker swarm join --token {token} {LAB.address(first)}:2377 >/dev/null")
        on(first, f"docker service create --detach --no-resolve-image --name hb --replicas 2 "
                  f"--limit-cpu 0.25 --limit-memory 128M {SWARM_IMAGE} >/dev/null")
        wait(lambda: "2/2" in on(first, "docker service ls --format '{{.Replicas}}'"), timeout=60, interval=0.5)

    def scaled_after(self, t0: float, survivor: str, replicas: int, out: dict) -> None:
        """Until `docker service scale` is accepted on ``survivor``; then until the replicas run (bounded)."""
        deadline = t0 + 90
        while time.time() < deadline:
            run = subprocess.run(["docker", "exec", f"simplecloud-{survivor}", "docker", "service", "scale",
                                  "--detach", f"hb={replicas}"], capture_output=True, text=True, timeout=30)
            if run.returncode == 0:
                out["swarm_scale_accepted_s"] = round(time.time() - t0, 2)
                break
            time.sleep(0.2)
        leader = wait(lambda: on(survivor, "docker node ls --filter role=manager --format "
                                           "'{{.Hostname}} {{.ManagerStatus}}'", check=False), timeout=5)
        out["swarm_leader_after"] = next((line.split()[0] for line in (leader or "").splitlines()
                                          if line.endswith("Leader")), None)
        ok = wait(lambda: f"{replicas}/{replicas}" in on(survivor, "docker service ls --format '{{.Replicas}}'",
                                                          check=False), timeout=max(1, deadline - time.time()),
                  interval=0.2)
        out["swarm_scaled_running_s"] = round(time.time() - t0, 2) if ok else None

    def restore(self) -> None:
        self.leave()
        for m in self.names:
            live_restore(m, True)


# ---------------------------------------------------------------- the scenarios

def round_kill(load: OpenLoop, swarm: Swarm | None) -> dict:
    old = managers()["leader"]["name"]
    _, usual = scale(str(NODES + 2))                      # the scale's usual time, nothing killed
    scale(str(NODES))
    out: dict = {"killed": old, "scale_usual_s": usual}
    if swarm:
        swarm.form(old)
    survivor = next(m for m in LAB.managers if m != old)
    # etcd's leader on the same machine costs etcd's election and a restarted lease TTL on top
    # (the leader's etcd monitor moves it away: docs/decisions.md "HA")
    out["etcd_leader_killed"] = any(m.get("leader") and m["name"] == old for m in managers()["etcd"]["members"])
    t0 = out["_t0"] = time.time()
    machine(old, "kill")
    swarm_thread = None
    if swarm:
        swarm_thread = threading.Thread(target=swarm.scaled_after, args=(t0, survivor, 4, out))
        swarm_thread.start()
    rc, took = scale("+2", out)
    out.update(scale_rc=rc, scale_after_kill_s=took)
    time.sleep(max(0.0, t0 + 10 - time.time()))            # the window the failures are counted in
    out["failed"], out["vip_back_s"] = gap(load, t0)
    found = elected_after(t0, old)
    out["new_leader"], out["elected_s"] = found if found else (None, None)
    if swarm_thread:
        swarm_thread.join(timeout=120)
    out["orphans"], out["duplicates"] = orphans_and_duplicates()
    t1 = time.time()
    machine(old, "start")
    ok = wait(lambda: rejoined(old), timeout=180, interval=0.5)
    out["rejoined_s"] = round(time.time() - t1, 2) if ok else None
    out["failed_while_rejoining"] = len([s for s, _ in load.failures if s >= t1])
    if swarm:
        swarm.leave()
    scale(str(NODES))
    return out


def round_pause(load: OpenLoop, seconds: float = 15) -> dict:
    """The scale goes in once the virtual IP has moved (6 s in): a frozen holder
    still completes TCP handshakes in its kernel, and the CLI does not resend a
    request whose answer timed out (it may have been applied)."""
    old = managers()["leader"]["name"]
    out: dict = {"paused": old}
    t0 = out["_t0"] = time.time()
    machine(old, "pause")
    try:
        time.sleep(6)
        rc, took = scale("+2", out)
        out.update(scale_rc=rc, scale_while_paused_s=took)
        time.sleep(max(0.0, t0 + seconds - time.time()))
    finally:
        machine(old, "unpause")
    t1 = time.time()
    found = elected_after(t0, old)
    out["new_leader"], out["elected_s"] = found if found else (None, None)
    ok = wait(lambda: rejoined(old), timeout=120, interval=0.5)
    out["rejoined_s"] = round(time.time() - t1, 2) if ok else None
    out["failed"], out["vip_back_s"] = gap(load, t0)
    out["failed_after_unpause"] = len([s for s, _ in load.failures if s >= t1])
    out["orphans"], out["duplicates"] = orphans_and_duplicates()
    lost = [e for e in cloud_json("events", "--limit", "200")
            if e["kind"] == "leader.lost" and e["subject"] == f"manager/{old}" and e["time"] > t0]
    out["old_leader_lost_event"] = bool(lost)
    scale(str(NODES))
    return out


def round_process(load: OpenLoop) -> dict:
    """The leader's orchestrator process alone; systemd restarts it, and the
    restarted process may win the next term itself (a new epoch)."""
    old = managers()["leader"]["name"]
    t0 = time.time()
    out: dict = {"_t0": t0, "killed": old}
    on(old, "systemctl kill -s KILL simplecloud-manager")
    rc, took = scale("+2", out)
    out.update(scale_rc=rc, scale_after_kill_s=took)
    time.sleep(max(0.0, t0 + 8 - time.time()))
    found = elected_after(t0, None)
    out["new_leader"], out["elected_s"] = found if found else (None, None)
    out["failed"], _ = gap(load, t0)
    ok = wait(lambda: rejoined(old, follows=False), timeout=120, interval=0.5)
    out["all_back_s"] = round(time.time() - t0, 2) if ok else None
    out["orphans"], out["duplicates"] = orphans_and_duplicates()
    scale(str(NODES))
    return out


def round_etcd(load: OpenLoop) -> dict:
    """`systemctl stop etcd` on the machine of etcd's own leader (the member whose loss forces an etcd
    election; a round after another stops a different one as leadership moves); API writes and
    reconciling must go on with two members; then `systemctl start etcd` and it rejoins."""
    members = managers()["etcd"]["members"]
    stopped = next((m["name"] for m in members if m.get("leader")), members[0]["name"])
    t0 = time.time()
    out: dict = {"_t0": t0, "stopped": stopped}
    on(stopped, "systemctl stop etcd")
    try:
        rc, took = scale("+2", out)
        out.update(scale_rc=rc, scale_while_stopped_s=took)
        time.sleep(max(0.0, t0 + 10 - time.time()))
        out["healthy_while_stopped"] = managers()["etcd"]["healthy"]
        out["failed"], _ = gap(load, t0)
    finally:
        t1 = time.time()
        on(stopped, "systemctl start etcd", timeout=120)
    ok = wait(lambda: rejoined(stopped, follows=False), timeout=120, interval=0.5)
    out["rejoined_s"] = round(time.time() - t1, 2) if ok else None
    out["failed_while_rejoining"] = len([s for s, _ in load.failures if s >= t1])
    out["orphans"], out["duplicates"] = orphans_and_duplicates()
    scale(str(NODES))
    return out


def master_after(t0: float, names: list[str]) -> tuple[str, float] | None:
    """(manager, seconds after ``t0``) of the first "Entering MASTER STATE" in keepalived's
    journal on ``names`` after t0 (the lab machines share the build machine's clock)."""
    found = []
    for m in names:
        text = on(m, f"journalctl -u keepalived -o short-unix --no-pager --since @{int(t0)} "
                     "| grep 'Entering MASTER STATE'", check=False)
        found += [(float(line.split()[0]), m) for line in text.splitlines() if line.split() and
                  float(line.split()[0]) > t0]
    return (min(found)[1], round(min(found)[0] - t0, 2)) if found else None


def round_vip(load: OpenLoop) -> dict:
    """The machine that holds the virtual IP killed (it may lead or not); the address must move at
    once to a survivor whose HAProxy answers. Then started again: the address stays put."""
    m = managers()
    old = m["vip"]["holder"]
    out: dict = {"killed": old, "was_leader": m["leader"]["name"] == old}
    t0 = out["_t0"] = time.time()
    machine(old, "kill")
    time.sleep(max(0.0, t0 + 10 - time.time()))            # the window the failures are counted in
    out["failed"], out["vip_back_s"] = gap(load, t0)
    found = master_after(t0, [x for x in LAB.managers if x != old])
    out["new_holder"], out["master_s"] = found if found else (None, None)
    t1 = time.time()
    machine(old, "start")
    ok = wait(lambda: rejoined(old, follows=False), timeout=180, interval=0.5)
    out["rejoined_s"] = round(time.time() - t1, 2) if ok else None
    out["failed_while_rejoining"] = len([s for s, _ in load.failures if s >= t1])
    out["holder_after"] = managers()["vip"]["holder"]
    return out


def summary(name: str, rounds: list[dict], sent: int, failed: int) -> str:
    def span(key: str) -> str:
        values = [r[key] for r in rounds if isinstance(r.get(key), (int, float)) and not isinstance(r[key], bool)]
        if not values:
            return f"{key} -"
        return f"{key} {min(values)}-{max(values)} (median {round(statistics.median(values), 2)})"
    keys = [k for k in rounds[0] if k not in ("_t0", "killed", "paused", "stopped", "new_leader",
                                              "swarm_leader_after", "new_holder", "holder_after", "was_leader")]
    figures = ", ".join(span(k) for k in keys)
    return f"{name}: {len(rounds)} rounds, {failed} of {sent} requests failed; {figures}"


def run(only: list[str], rounds: int, rate: float, use_swarm: bool) -> dict:
    before = next(a["replicas"] for a in cloud_json("app", "ls") if a["name"] == APP)
    results: dict = {}
    swarm = Swarm() if use_swarm and "kill" in only else None
    try:
        scale(str(NODES))
        if swarm:
            swarm.setup()
        for name in only:
            step = {"kill": lambda lo: round_kill(lo, swarm), "pause": round_pause, "process": round_process,
                    "etcd": round_etcd, "vip": round_vip}[name]
            done = []
            with OpenLoop(PATH, rate=rate, limit_s=rounds * 400, timeout=2, seed=len(name)) as load:
                time.sleep(3)
                for i in range(rounds):
                    figures = step(load)
                    done.append(figures)
                    print(f"{name} {i + 1}/{rounds}: " + " ".join(f"{k}={v}" for k, v in figures.items()
                                                                  if not k.startswith("_")), flush=True)
            line = summary(name, done, load.sent(), len(load.failures))
            print(line, flush=True)
            faults = [r["_t0"] for r in done]
            when = [round(s - max([t for t in faults if t <= s + 2] or [s]), 2) for s, _ in load.failures]
            print(f"{name}: failed requests, seconds after the last fault before each: {when}", flush=True)
            results[name] = {"rounds": done, "sent": load.sent(), "failed": len(load.failures), "summary": line,
                             "failures": load.failures}
    finally:
        for m in LAB.managers:                  # every machine runs again
            subprocess.run(["docker", "unpause", f"simplecloud-{m}"], capture_output=True, timeout=30)
            subprocess.run(["docker", "start", f"simplecloud-{m}"], capture_output=True, timeout=60)
        for m in LAB.managers:                  # every etcd member runs again
            on(m, "systemctl start etcd", check=False, timeout=120)
        wait(lambda: rejoined("", follows=False), timeout=180, interval=1)
        if swarm:
            swarm.restore()
        cloud("app", "scale", APP, str(before), check=False)
        wait(lambda: len(containers(LAB.pods[APP][0], APP, running_only=True)) == before, timeout=120)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="kill,pause,process,etcd,vip", help="scenarios, comma-separated")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=50, help="GETs per second through the virtual IP")
    parser.add_argument("--no-swarm", action="store_true", help="leave Docker Swarm out of the kill rounds")
    a = parser.parse_args()
    if not subprocess.run(["docker", "inspect", f"simplecloud-{LAB.managers[0]}"],
                          capture_output=True).returncode == 0:
        raise SystemExit("ha_bench: the container lab's machines are not here (make up; the VM lab is not covered)")
    only = [s for s in a.only.split(",") if s]
    results = run(only, a.rounds, a.rate, not a.no_swarm)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"time": time.time(), "rate": a.rate, **results}, indent=2))
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
