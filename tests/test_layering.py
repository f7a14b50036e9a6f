"""The import graph of ``ersm``: no cycles, no import from a lower layer to a higher one.

Every module's AST is walked, imports inside functions included (a lazy import is still
a dependency). ``from X import y`` depends on ``X.y`` when that is a module, else on
``X``; importing a module is not counted as depending on its parent packages (Python
runs their ``__init__`` first, but that is the package's own business).

Layers (a package may import itself and those listed for it):

* ``core`` imports nothing of ersm; ``errors`` (the public alias of core's errors) core;
* ``energy`` -> core; ``solvers`` -> energy, core;
* ``testing`` (the conformance suite) -> solvers, energy, core;
* ``io`` -> solvers, energy, core: it reads/writes energies and solve results;
* ``nets`` -> solvers, energy, core; ``data`` -> core and io (atomic writes), a sibling
  of nets: neither imports the other;
* ``runs`` (a run on disk: config and resume rules, checkpoint, data splits, distributed
  setup) -> nets, data, io, solvers, energy, core;
* ``evaluation`` -> runs, nets, data, io, solvers, energy, core;
* ``train`` and ``jobs`` (one application layer) -> each other and everything below;
* ``cli``, ``__main__`` and the root package ``ersm`` -> anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ersm"

BASE = {"core", "errors"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "errors": {"core"},
    "energy": BASE,
    "solvers": BASE | {"energy"},
    "testing": BASE | {"energy", "solvers"},
    "io": BASE | {"energy", "solvers"},
    "nets": BASE | {"energy", "solvers"},
    "data": BASE | {"io"},
    "runs": BASE | {"energy", "solvers", "io", "nets", "data"},
    "evaluation": BASE | {"energy", "solvers", "io", "nets", "data", "runs"},
    "train": BASE | {"energy", "solvers", "testing", "io", "nets", "data", "runs", "evaluation",
                     "jobs"},
    "jobs": BASE | {"energy", "solvers", "testing", "io", "nets", "data", "runs", "evaluation",
                    "train"},
}
"""Packages (first component under ``ersm``) each may import; absent ones: anything."""

KNOWN_VIOLATIONS: dict[str, str] = {}
"""Upward imports still in the code, each with the reason and the fix; the test fails on
any other violation and when one of these is gone (then delete it here)."""


def module_files() -> dict[str, Path]:
    """``{"ersm.solvers.api": path, "ersm.solvers": .../__init__.py, ...}``."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def imports_of(name: str, path: Path) -> set[str]:
    """The ersm modules ``name`` imports anywhere in its source (functions included)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else target)
    return {_known(m) for m in found if m == "ersm" or m.startswith("ersm.")}


def _known(module: str) -> str:
    """The longest prefix of ``module`` that is an ersm module (``import a.b.c`` -> a.b.c)."""
    while module not in MODULES and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


GRAPH = {name: imports_of(name, path) - {name} for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "ersm"


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        cycles.append(sorted(component))
    return cycles


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """``"importer -> imported"`` for every import its layer does not allow."""
    bad = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        if layer not in ALLOWED:
            continue
        for target in sorted(targets):
            other = _layer(target)
            if other != layer and other not in ALLOWED[layer]:
                bad.append(f"{module} -> {target}")
    return bad


def test_smoke_graph_sees_lazy_imports():
    assert "ersm.solvers.kernels.bk" in GRAPH["ersm.solvers.backends.graphcut"]  # in a function
    assert "ersm.solvers.registry" in GRAPH["ersm.solvers.backends.brute"]
    assert "ersm.solvers.backends" in GRAPH["ersm.solvers"]  # `from . import backends`


def test_find_cycles_and_violations_on_a_toy_graph():
    toy = {"ersm.core.a": {"ersm.energy.b"}, "ersm.energy.b": {"ersm.core.a"}, "ersm.core.c": set()}
    assert find_cycles(toy) == [["ersm.core.a", "ersm.energy.b"]]
    assert layer_violations(toy) == ["ersm.core.a -> ersm.energy.b"]


def test_no_import_cycles():
    cycles = find_cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_upward_imports():
    bad = layer_violations(GRAPH)
    new = [v for v in bad if v not in KNOWN_VIOLATIONS]
    assert not new, "imports from a lower layer to a higher one:\n" + "\n".join(new)
    fixed = sorted(set(KNOWN_VIOLATIONS) - set(bad))
    assert not fixed, "fixed, delete from KNOWN_VIOLATIONS:\n" + "\n".join(fixed)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_every_layer_exists(layer):
    assert (PACKAGE / layer).is_dir() or (PACKAGE / f"{layer}.py").is_file()
