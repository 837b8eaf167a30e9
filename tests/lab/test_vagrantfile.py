"""The Vagrantfile is valid for every provider, including the VM ones that
cannot boot on the build machines (no usable KVM)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab


def test_ruby_syntax():
    run = subprocess.run(["ruby", "-c", "Vagrantfile"], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Syntax OK" in run.stdout


@pytest.mark.parametrize("provider", ["docker", "libvirt", "virtualbox"])
def test_vagrant_validate(provider):
    env = dict(os.environ, LAB_PROVIDER=provider)
    run = subprocess.run(["vagrant", "validate"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "validated successfully" in run.stdout
