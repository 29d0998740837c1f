"""Provenance of a lab's stored outputs: what produced them, so staleness is found by hash.

Book: Preface (section *How the labs check themselves*); DESIGN section 7. The stored
outputs of cells that train a model depend on the CPU's kernel path (float32 arithmetic
differs in the last bits between AVX2 and AVX-512 code, and a training run can then land
in another basin), so they cannot be compared bit for bit on a reader's machine. Instead,
``make labs`` records, in each executed notebook's metadata, a fingerprint of everything
that produced its outputs:

* ``lab``: the notebook's own cell sources;
* ``library``: the code of the modules of ``src/personalab`` that the lab can run — those its
  cells import, and everything they import in turn (found in the syntax trees, imports inside
  functions included; a package's ``__init__`` is run by importing anything in it). Each is
  hashed by its syntax tree without docstrings, so a reworded docstring or comment does not
  make the outputs stale, and a module no lab reaches (a Part II world kind, say) does not
  make the labs of Part I stale. ``personalab.tools`` is left out: it runs labs, it is not
  run by them;
* ``data``: the world configurations and the shipped checkpoints, byte for byte.

``tests/test_labs.py`` recomputes the fingerprint and fails with "run `make labs`" when any
part changed since the stored outputs were made. CPU-independent outputs (the world, exact
inference, data) are still compared by nbval; cells whose outputs come from training carry
the ``nbval-ignore-output`` tag, but still run, so every claim is still asserted.

Usage: ``python -m personalab.tools.provenance stamp labs/*.ipynb`` (``make labs`` does it)
and ``python -m personalab.tools.provenance check labs/*.ipynb``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # src/personalab
KEY = "personalab"
PARTS = ("lab", "library", "data")
REMEDY = "run `make labs` to re-execute the labs"


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def code_digest(source: str) -> str:
    """Hash of Python code that ignores comments, docstrings and formatting."""
    tree = _strip_docstrings(ast.parse(source))
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _module_path(name: str, package: Path) -> Path | None:
    """The file of module ``name`` (``personalab.a.b``) inside ``package``, if there is one."""
    parts = name.split(".")[1:]
    base = package.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file() and path.is_relative_to(package):
            return path
    return None


def _with_parents(name: str) -> list[str]:
    """``personalab.a.b`` -> the modules importing it runs: ``personalab``, ``.a``, ``.a.b``."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imported_modules(tree: ast.AST, module: str, is_package: bool, package: Path = PACKAGE) -> set[str]:
    """The ``personalab`` modules that the code in ``tree`` (module ``module``) imports, with
    the packages whose ``__init__`` those imports run."""
    top = package.name
    found: set[str] = set()
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            if name.split(".")[0] != top:
                continue
            for candidate in _with_parents(name):
                if _module_path(candidate, package) is not None:
                    found.add(candidate)
    return found


def reachable_modules(roots: set[str], package: Path = PACKAGE) -> set[str]:
    """Every module of the library that importing ``roots`` can run (``personalab.tools``
    excluded)."""
    tools = f"{package.name}.tools"
    seen: set[str] = set()
    todo = [m for root in roots for m in _with_parents(root)]
    while todo:
        name = todo.pop()
        if name in seen or name == tools or name.startswith(tools + "."):
            continue
        path = _module_path(name, package)
        if path is None:
            continue
        seen.add(name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        todo.extend(_imported_modules(tree, name, path.name == "__init__.py", package) - seen)
    return seen


def lab_modules(nb, package: Path = PACKAGE) -> set[str] | None:
    """The library modules a notebook's code cells import directly (``None`` if a cell is not
    plain Python, so that the whole library counts)."""
    roots: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return None
        roots |= _imported_modules(tree, "__main__", False, package)
    return roots


def library_digest(package: Path = PACKAGE, modules: set[str] | None = None) -> str:
    """One hash over the library's modules: those in ``modules`` (default: every module
    except ``personalab.tools``)."""
    h = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        if rel.parts[0] == "tools":
            continue
        name = ".".join([package.name, *rel.with_suffix("").parts]).removesuffix(".__init__")
        if modules is not None and name not in modules:
            continue
        h.update(f"{rel.as_posix()}\0{code_digest(path.read_text(encoding='utf-8'))}\0".encode())
    return h.hexdigest()


def data_digest(package: Path = PACKAGE) -> str:
    """One hash over the shipped world files and checkpoints, byte for byte."""
    h = hashlib.sha256()
    for path in sorted((package / "data").iterdir()):
        if path.suffix in {".yaml", ".json", ".safetensors"}:
            h.update(f"{path.name}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def lab_digest(nb) -> str:
    """Hash of a notebook's cells (type and source): what the reader sees and runs."""
    h = hashlib.sha256()
    for cell in nb.cells:
        h.update(f"{cell.cell_type}\0{cell.source.strip()}\0".encode())
    return h.hexdigest()


def fingerprint(nb) -> dict[str, str]:
    """What produced a notebook's outputs: its cells, the library code it reaches, the data."""
    roots = lab_modules(nb)
    modules = None if roots is None else reachable_modules(roots)
    return {"lab": lab_digest(nb), "library": library_digest(modules=modules), "data": data_digest()}


def stale_parts(nb) -> list[str]:
    """The parts of the fingerprint that changed since ``nb`` was stamped (all, if never)."""
    recorded = nb.metadata.get(KEY, {}).get("provenance", {})
    now = fingerprint(nb)
    return [part for part in PARTS if recorded.get(part) != now[part]]


WHAT = {"lab": "the lab's cells", "library": "the library code (src/personalab)", "data": "the world or checkpoints"}


def describe(stale: list[str]) -> str:
    return ", ".join(WHAT[p] for p in stale)


def stamp(path: Path) -> None:
    """Record the current fingerprint in the notebook at ``path`` (after executing it)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    nb.metadata.setdefault(KEY, {})["provenance"] = fingerprint(nb)
    nbformat.write(nb, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("action", choices=["stamp", "check"])
    p.add_argument("notebooks", nargs="+", type=Path)
    args = p.parse_args(argv)
    import nbformat

    bad = 0
    for path in args.notebooks:
        if args.action == "stamp":
            stamp(path)
            continue
        stale = stale_parts(nbformat.read(path, as_version=4))
        if stale:
            bad += 1
            print(f"{path}: stored outputs are stale ({describe(stale)} changed); {REMEDY}")
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
