"""Every equation number a docstring cites, "(N.k)", is an equation of chapter N of the book.

The book numbers its labelled display equations per chapter (``math_numfig`` with
``numfig_secnum_depth: 1``): the k-th ``$$ ... $$ (label)`` of chapter N is (N.k). A docstring
that cites (3.9) where the chapter has eight equations, or cites an equation the chapter has
since renumbered, sends the reader to the wrong formula.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import personalab

ROOT = Path(__file__).resolve().parents[1]
SRC = Path(personalab.__file__).resolve().parent
CITED = re.compile(r"\((\d)\.(\d{1,2})\)")
LABELLED = re.compile(r"^[ \t]*\$\$ \((eq-[\w-]+)\)\s*$", re.M)  # the closing line of a labelled display equation


def chapter_labels() -> dict[int, list[str]]:
    """Chapter number -> its equation labels in order: label k - 1 is equation (N.k)."""
    out = {}
    for path in sorted((ROOT / "book" / "chapters").glob("ch0*.md")):
        out[int(path.name[2:4])] = LABELLED.findall(path.read_text(encoding="utf-8"))
    return out


def docstrings() -> list[tuple[str, str]]:
    """(where, text) of every module, class and function docstring in the package."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    name = getattr(node, "name", "module")
                    out.append((f"{path.relative_to(SRC)}:{name}", doc))
    return out


def test_the_chapters_number_their_equations():
    labels = chapter_labels()
    assert all(labels[n] for n in (1, 2, 3, 4)), {n: len(v) for n, v in labels.items()}


def test_every_cited_equation_number_is_an_equation_of_its_chapter():
    labels = chapter_labels()
    bad, seen = [], 0
    for where, doc in docstrings():
        for n, k in CITED.findall(doc):
            n, k = int(n), int(k)
            if n not in labels or n == 0:
                continue  # not a chapter of the book (a decimal in parentheses, say)
            seen += 1
            if not 1 <= k <= len(labels[n]):
                bad.append(f"{where} cites ({n}.{k}), but chapter {n} has {len(labels[n])} numbered equations")
    assert seen > 30  # the scan does find the citations
    assert not bad, "\n".join(bad)
