"""A second run of site.yml changes nothing on any host."""
import re
import subprocess
import sys
from pathlib import Path

from .conftest import ROOT


def test_second_provisioning_changes_nothing():
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/site.yml", "-e", "lab_provider=docker"],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    recap = run.stdout.split("PLAY RECAP", 1)[1]
    changed = {host: int(n) for host, n in re.findall(r"^(\S+)\s+:.*changed=(\d+)", recap, re.M)}
    assert set(changed) == {"manager", "pod-light", "pod-medium", "pod-heavy"}
    assert changed == {h: 0 for h in changed}, recap
