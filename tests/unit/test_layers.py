"""The layers stay visible: the pure core imports no edge, controller or web
module, edges import no controller, and the metrics (observe) read only what
they are handed (kopf checks the same with import-linter)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"
FORBIDDEN = {
    "core": ("orchestrator.edges", "orchestrator.control", "orchestrator.api", "orchestrator.service",
             "orchestrator.server", "orchestrator.cli", "docker", "etcd3", "fabric", "paramiko",
             "flask", "requests", "socket", "subprocess"),
    "edges": ("orchestrator.control", "orchestrator.api", "orchestrator.service", "orchestrator.server"),
    "control": ("orchestrator.api", "orchestrator.service", "orchestrator.server", "orchestrator.cli"),
    "observe": ("orchestrator.api", "orchestrator.service", "orchestrator.server", "orchestrator.cli",
                "orchestrator.control", "orchestrator.edges"),
    # `cloud bench` is a client: HAProxy over HTTP, the manager only through its API
    "bench": ("orchestrator.api", "orchestrator.service", "orchestrator.server", "orchestrator.control",
              "orchestrator.edges", "orchestrator.cli", "flask", "docker", "etcd3"),
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports(layer):
    files = sorted((PACKAGE / layer).glob("*.py"))
    assert files, f"no modules in orchestrator/{layer}"
    for path in files:
        bad = {name for name in imports(path)
               for forbidden in FORBIDDEN[layer] if name == forbidden or name.startswith(forbidden + ".")}
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"
