"""Certificates made by the etcd role's own PKI script (roles/etcd/templates/simplecloud-pki.j2),
rendered for one machine on 127.0.0.1, so tests use what the lab runs."""
from __future__ import annotations

import subprocess
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parents[2]


def make_pki(directory: str) -> None:
    """Run the role's PKI script for one etcd member called 'default' on 127.0.0.1."""
    template = (ROOT / "roles" / "etcd" / "templates" / "simplecloud-pki.j2").read_text()
    script = jinja2.Template(template, undefined=jinja2.StrictUndefined).render(
        ansible_managed="test", etcd_pki_dir=directory, etcd_cluster_members=["default"],
        hostvars={"default": {"lab_address": "127.0.0.1"}}, etcd_client_certs=["orchestrator"],
        etcd_pki_extra_server="api", etcd_pki_api_servers=["default"], lab_vip="")
    first = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    again = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert "CHANGED" in first.stdout and "CHANGED" not in again.stdout   # idempotent
