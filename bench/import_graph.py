"""The package's shape at a git revision: its largest files and classes, and
which layer imports which (issue 20's "draw the import graph before and
after").

    .venv/bin/python bench/import_graph.py [REV]      (default HEAD)

Reads the files from git (no checkout), parses them with ``ast``; counts
``from orchestrator.<package>... import`` statements between packages.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter

LAYERS = ("core", "edges", "control", "usecases", "api", "cli", "observe", "loadgen")


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def main(rev: str) -> None:
    files = [f for f in git("ls-tree", "-r", "--name-only", rev, "orchestrator").split() if f.endswith(".py")]
    edges: Counter[tuple[str, str]] = Counter()
    sizes, classes = [], []
    for path in files:
        source = git("show", f"{rev}:{path}")
        sizes.append((source.count("\n"), path))
        me = layer(path[:-3].replace("/", "."))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ClassDef):
                classes.append((node.end_lineno - node.lineno + 1, f"{path}:{node.name}"))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("orchestrator."):
                other = layer(node.module)
                if other != me:
                    edges[(me, other)] += 1
    print(f"revision {git('rev-parse', '--short', rev).strip()}: {len(files)} modules, "
          f"{sum(n for n, _ in sizes)} lines")
    for n, path in sorted(sizes)[-3:][::-1]:
        print(f"  largest file   {n:4d} lines  {path}")
    for n, name in sorted(classes)[-3:][::-1]:
        print(f"  largest class  {n:4d} lines  {name}")
    print("  imports between packages (importer -> imported: statements):")
    for (a, b), k in sorted(edges.items()):
        print(f"    {a} -> {b}: {k}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "HEAD")
