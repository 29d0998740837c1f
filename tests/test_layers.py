"""The package's layers import only downward, as the picture in its docstring says."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import personalab

SRC = Path(personalab.__file__).resolve().parent


def layers() -> dict[str, int]:
    """Top-level unit (module or subpackage of personalab) -> its line in the docstring's picture."""
    block = personalab.__doc__.split("::", 1)[1].split("\n\n")[1]
    return {name: i for i, line in enumerate(block.strip().splitlines()) for name in line.split()}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports(path: Path, text: str | None = None) -> set[str]:
    """The personalab units that ``path`` (or ``text`` as if it were there) imports at run time;
    imports inside ``if TYPE_CHECKING:`` are annotations only and do not count."""
    package = path.relative_to(SRC).with_suffix("").parts[:-1]
    tree = ast.parse(path.read_text() if text is None else text)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            target = list(package[: len(package) - node.level + 1]) + (node.module.split(".") if node.module else [])
            out.add(target[0] if target else node.names[0].name)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("personalab"):
            parts = node.module.split(".")
            out.add(parts[1] if len(parts) > 1 else node.names[0].name)
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("personalab.")}
    return out


def unit(path: Path) -> str:
    return path.relative_to(SRC).with_suffix("").parts[0]


def test_the_picture_names_every_module_once():
    names = [n for line in personalab.__doc__.split("::", 1)[1].split("\n\n")[1].splitlines() for n in line.split()]
    assert len(names) == len(set(names)), "a unit appears twice in the layer picture"
    units = {unit(p) for p in SRC.rglob("*.py") if unit(p) != "__init__"}
    assert units == set(names), f"the layer picture and the package differ: {sorted(units ^ set(names))}"


def test_lower_layers_never_import_higher_ones():
    rank = layers()
    bad = []
    for path in sorted(SRC.rglob("*.py")):
        me = unit(path)
        for other in imports(path) - {me, "__version__"}:
            if me == "__init__" or rank[other] >= rank[me]:
                bad.append(f"{path.relative_to(SRC)} imports {other}")
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_the_checker_sees_upward_imports_even_inside_functions():
    # the import train/base.py once made to record its evidence report: the test above would fail on it
    text = "def pretrain():\n    from ..evals.incontext import evidence_report\n"
    assert imports(SRC / "train" / "base.py", text) == {"evals"} and layers()["evals"] > layers()["train"]
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..align.raters import ResponseTable\n"
    assert imports(SRC / "evals" / "sycophancy.py", guarded) == set()
    assert re.search(r"^\s+errors  numerics\b", personalab.__doc__, re.M)  # the lowest layer: errors, shared numerics
