"""The layout holds: no import circle, no module over 400 lines, no long function.

Every module of ``tailcast`` is imported in a fresh interpreter; then each
module's own imports (top level *and* inside functions: a lazy import that
dodges a circle is still a circle in the design) are read with :mod:`ast`
and the graph is searched for cycles.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tailcast"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# Declarative tables: a long body that is one list of options, not logic.
TABLES = {"tailcast/cli.py::_add_server_options"}

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import tailcast
names = ["tailcast"]
for info in pkgutil.walk_packages(tailcast.__path__, "tailcast."):
    if not info.name.endswith("__main__"):  # running it is not importing it
        names.append(info.name)
for name in names:
    importlib.import_module(name)
print(json.dumps(sorted(n for n in sys.modules if n == "tailcast" or n.startswith("tailcast."))))
"""


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for named in targets:
            target = named
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {n for n in _modules() if not n.endswith("__main__")} <= loaded


def test_no_import_circle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    # A package's __init__ re-exporting its own modules is not a circle of design.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not t.startswith(name + ".")}
    circles = [c for name in graph if (c := _cycle_from(name, graph))]
    assert circles == [], "\n".join(" -> ".join(c) for c in circles)


@pytest.mark.parametrize("name", sorted(_modules()))
def test_module_is_small(name: str) -> None:
    path = _modules()[name]
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_MODULE_LINES


def test_no_function_over_sixty_lines() -> None:
    long = []
    for path in _modules().values():
        rel = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES and f"{rel}::{node.name}" not in TABLES:
                    long.append(f"{rel}::{node.name} ({size} lines)")
    assert long == []
