"""The package layout: one folder per stage, imports only downward, no cycles, small modules.

Stages, from the bottom: the shared ground modules, ``estimators``, ``compression``, then
``synthetic`` and ``plane`` side by side (neither imports the other). Every ``import`` of an
``ibcore`` module anywhere in a file counts, including imports inside functions.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import ibcore

PACKAGE = Path(ibcore.__file__).resolve().parent
GROUND = {"result", "validation", "device", "nn", "settings", "executor", "report", "registry", "tables", "cli_options"}
# what each part may import (besides itself); the top-level __init__, __main__, api, consistency and cli
# sit above all
ALLOWED = {
    "ground": {"ground"},
    "estimators": {"ground"},
    "compression": {"ground", "estimators"},
    "synthetic": {"ground", "estimators", "compression"},
    "plane": {"ground", "estimators", "compression"},
    "reproduce": {"ground", "estimators", "compression", "synthetic", "plane"},
}
TOP = {"__init__", "__main__", "cli", "api", "consistency"}
MAX_LINES = 500


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(["ibcore", *parts])


def _part(module: str) -> str:
    """The stage of a module name ``ibcore.x.y``: a subpackage, ``ground`` or ``top``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "top"
    if parts[1] in ALLOWED:
        return parts[1]
    if parts[1] in GROUND:
        return "ground"
    if parts[1] in TOP:
        return "top"
    raise AssertionError(f"{module} belongs to no stage; add it to a subpackage or to GROUND")


def _imports(path: Path) -> set[str]:
    """Absolute names of the ibcore modules (or packages) a file imports."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "ibcore"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ibcore":
                continue
            found.add(target)
            for alias in node.names:  # `from . import knn` names a module
                sub = f"{target}.{alias.name}"
                if (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists() or \
                        (PACKAGE.parent / Path(*sub.split(".")) / "__init__.py").exists():
                    found.add(sub)
    return found


FILES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {_module_name(p): _imports(p) for p in FILES}


def test_every_module_has_a_stage():
    for name in GRAPH:
        _part(name)
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(ALLOWED) - {"ground"}


def _violations(graph: dict[str, set[str]]) -> list[str]:
    """``"importer -> imported"`` for every import that does not run downward."""
    bad = []
    for module, targets in graph.items():
        part = _part(module)
        if part == "top":
            continue
        for t in sorted(targets):
            if _part(t) == "top" or _part(t) not in ALLOWED[part] | {part}:
                bad.append(f"{module} -> {t}")
    return bad


def test_imports_only_run_downward():
    assert _violations(GRAPH) == []


def test_no_import_cycles():
    graph = {m: {t for t in targets if t in GRAPH and t != m} for m, targets in GRAPH.items()}
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            # a package's __init__ re-exports its own modules: not a dependency of those modules
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                raise AssertionError(f"import cycle: {' -> '.join(stack[stack.index(nxt):] + [nxt])}")
            if state.get(nxt) is None:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("importer,imported", [
    ("ibcore.estimators.entropy", "ibcore.compression.pca"),     # stage 1 must not see stage 2
    ("ibcore.compression.lossy", "ibcore.synthetic.samplers"),
    ("ibcore.synthetic.runner", "ibcore.plane.tracker"),           # the two algorithms stay apart
    ("ibcore.plane.tracker", "ibcore.synthetic"),
    ("ibcore.validation", "ibcore.estimators"),                    # the ground imports no stage
    ("ibcore.plane.run", "ibcore.cli"),
])
def test_the_rule_catches_an_upward_import(importer, imported):
    assert _violations({importer: {imported}}) == [f"{importer} -> {imported}"]


def test_the_parser_sees_relative_and_function_level_imports():
    lossy = GRAPH["ibcore.compression.lossy"]
    assert "ibcore.estimators" in lossy and "ibcore.compression.pca" in lossy
    assert "ibcore.plane.experiment" in GRAPH["ibcore.cli"]  # imported inside a function


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES + 40, f"{path.relative_to(PACKAGE)} has {n} lines; split it (about {MAX_LINES} at most)"


def test_stage_namespaces_export_what_they_list():
    import importlib

    for stage in ("estimators", "compression", "synthetic", "plane"):
        mod = importlib.import_module(f"ibcore.{stage}")
        assert mod.__doc__ and len(mod.__doc__.strip().splitlines()) >= 2
        for name in mod.__all__:
            assert hasattr(mod, name), f"ibcore.{stage}.{name} is listed in __all__ but missing"
    for name in ibcore.__all__:
        assert getattr(ibcore, name) is not None
