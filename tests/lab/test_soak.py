"""The soak, short: `bench/soak.py --minutes 3` on the running lab (churn,
load, worker kills, a manager restart), then its verdicts, each of which
must pass. The 30-minute run and its figures: bench/README.md."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.lab.conftest import ROOT, budget

pytestmark = pytest.mark.lab

VERDICTS = {"failed_requests", "orphan_containers", "duplicate_containers", "haproxy_servers", "changes",
            "growth_rss_mib", "growth_threads", "growth_fds", "etcd_size"}


def test_a_three_minute_soak_passes_every_verdict(lab):
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--minutes", "3", "--sample", "5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=budget(1500))
    print(run.stdout[-4000:], run.stderr[-2000:])
    found = dict(re.findall(r"^VERDICT (\S+) (PASS|FAIL) ", run.stdout, re.MULTILINE))
    assert set(found) == VERDICTS, f"verdicts printed: {sorted(found)}"
    failed = [line for line in run.stdout.splitlines() if line.startswith("VERDICT") and " FAIL " in line]
    assert not failed and run.returncode == 0, failed
