"""Stored lab outputs are checked by provenance: a fingerprint of what produced them."""

from __future__ import annotations

import nbformat
import pytest

from personalab.tools import provenance


def test_code_digest_ignores_comments_docstrings_and_formatting():
    a = 'def f(x):\n    """Square it."""\n    return x * x  # why\n'
    b = "def f(x):\n    return x*x\n"
    assert provenance.code_digest(a) == provenance.code_digest(b)


def test_code_digest_changes_with_the_code():
    assert provenance.code_digest("def f(x):\n    return x * x\n") != provenance.code_digest(
        "def f(x):\n    return x + x\n"
    )


def test_a_docstring_only_function_still_parses_to_a_stable_digest():
    assert provenance.code_digest('def f():\n    """Only a docstring."""\n') == provenance.code_digest(
        "def f():\n    pass\n"
    )


def _notebook(source: str):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A lab"), nbformat.v4.new_code_cell(source)]
    return nb


def test_an_unstamped_notebook_is_stale_in_every_part():
    assert provenance.stale_parts(_notebook("x = 1")) == list(provenance.PARTS)


def test_a_stamped_notebook_is_fresh_until_its_cells_change(tmp_path):
    path = tmp_path / "lab.ipynb"
    nbformat.write(_notebook("x = 1"), path)
    provenance.stamp(path)
    nb = nbformat.read(path, as_version=4)
    assert provenance.stale_parts(nb) == []
    nb.cells[1].source = "x = 2"
    assert provenance.stale_parts(nb) == ["lab"]
    assert "lab's cells" in provenance.describe(["lab"])


def test_the_check_command_names_the_fix(tmp_path, capsys):
    path = tmp_path / "lab.ipynb"
    nbformat.write(_notebook("x = 1"), path)
    assert provenance.main(["check", str(path)]) == 1
    assert "run `make labs`" in capsys.readouterr().out
    assert provenance.main(["stamp", str(path)]) == 0
    assert provenance.main(["check", str(path)]) == 0


@pytest.mark.parametrize("part", ["library", "data"])
def test_library_and_data_digests_are_deterministic(part):
    digest = getattr(provenance, f"{part}_digest")
    assert digest() == digest() and len(digest()) == 64
