"""The core stays small: every import the library makes at module level is the standard
library, personalab itself or a core dependency in pyproject.toml (issue 12, item 7).
Optional imports (inside functions: nbformat for `personalab student`, matplotlib for the
bench's figures) belong to an extra, and the CLI names it when it is missing."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "personalab"
# import name -> distribution name, where they differ
IMPORT_NAMES = {"yaml": "pyyaml"}
# modules that belong to an extra: imported only where that extra is asked for
EXTRA_MODULES = {"student.py": "notebooks"}  # `personalab student` imports it inside a try


def _requirement_names(reqs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower() for r in reqs}


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:  # module level only; imports inside functions are optional ones
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_module_level_imports_are_core_dependencies():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    core = _requirement_names(project["dependencies"])
    extras = {k: _requirement_names(v) for k, v in project["optional-dependencies"].items()}
    stray = {}
    for path in SRC.rglob("*.py"):
        if "tools" in path.relative_to(SRC).parts:  # repository tooling, run from a checkout
            continue
        for name in _module_level_imports(path) - {"personalab", "__future__"}:
            if name in sys.stdlib_module_names:
                continue
            allowed = core | extras.get(EXTRA_MODULES.get(str(path.relative_to(SRC)), ""), set())
            if IMPORT_NAMES.get(name, name).lower() not in allowed:
                stray.setdefault(name, []).append(str(path.relative_to(SRC)))
    assert not stray, f"imported at module level but not a core dependency: {stray}"


def test_every_core_dependency_is_imported_somewhere():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    used = set()
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                used |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                used.add(node.module.split(".")[0])
    used = {IMPORT_NAMES.get(n, n).lower() for n in used}
    unused = _requirement_names(project["dependencies"]) - used
    assert not unused, f"core dependencies that no module imports (move them to an extra): {sorted(unused)}"
