"""The layers stay visible: every package of orchestrator/ may import only the
packages below it (kopf checks the same with import-linter).

    core          pure data and decisions: nothing but itself, no I/O library
    settings      the manager's settings groups: core
    edges         one driver per outside component: core, settings
    observe       the Prometheus metrics the loops record into: core
    usecases      what the API asks for: core and the edges' Protocols only
    control       the loops: core, edges, observe, settings
    api           the Flask layer: core, usecases, observe
    loadgen       `cloud bench`, an HTTP client: nothing else
    cli           `cloud`, an HTTP client: loadgen
    server        the composition root: everything

Every module of the package belongs to one of them (a new package must be
placed here), and nothing is imported lazily around the rule: imports
inside functions count too (``ast.walk``)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"
PACKAGES = ("core", "settings", "edges", "observe", "usecases", "control", "api", "loadgen", "cli", "server")
ALLOWED = {
    "core": set(),
    "settings": {"core"},
    "edges": {"core", "settings"},
    "observe": {"core"},
    "usecases": {"core", "edges.protocols"},
    "control": {"core", "edges", "observe", "settings"},
    "api": {"core", "usecases", "observe"},
    "loadgen": set(),
    "cli": {"loadgen"},
    "server": set(PACKAGES) - {"server"},
}
NO_IO = ("docker", "etcd3", "grpc", "fabric", "paramiko", "flask", "requests", "socket", "subprocess",
         "waitress", "prometheus_client")
"""Libraries the pure core never imports."""
CLIENT_FORBIDDEN = ("flask", "docker", "etcd3", "fabric", "paramiko")
"""What the HTTP clients (cli, loadgen) never need."""


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def package_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    return rel.parts[0] if rel.parts != ("__init__",) else ""


def modules(layer: str) -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if package_of(p) == layer]


def allowed(layer: str, name: str) -> bool:
    """Whether a module of ``layer`` may import ``name`` (an orchestrator module)."""
    target = name.removeprefix("orchestrator").lstrip(".")
    if not target or target == "__version__":
        return True                       # the package's own __init__ (its version)
    if target.split(".")[0] == layer:
        return True
    return any(target == a or target.startswith(a + ".") for a in ALLOWED[layer])


def test_every_module_belongs_to_a_layer():
    unplaced = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                      if package_of(p) not in PACKAGES and package_of(p) != "")
    assert not unplaced, f"place these in tests/unit/test_layers.py: {unplaced}"


@pytest.mark.parametrize("layer", PACKAGES)
def test_layer_imports(layer):
    files = modules(layer)
    assert files, f"no modules in orchestrator/{layer}"
    for path in files:
        names = imports(path)
        bad = sorted(n for n in names if n.startswith("orchestrator") and not allowed(layer, n))
        if layer == "core":
            bad += sorted(n for n in names if n.split(".")[0] in NO_IO)
        if layer in ("cli", "loadgen"):
            bad += sorted(n for n in names if n.split(".")[0] in CLIENT_FORBIDDEN)
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"


def test_the_rule_can_fail():
    """A rule that never fails checks nothing: core importing an edge is caught."""
    assert not allowed("core", "orchestrator.edges.store")
    assert not allowed("usecases", "orchestrator.edges.store")
    assert allowed("usecases", "orchestrator.edges.protocols")
    assert not allowed("control", "orchestrator.usecases.apps")
