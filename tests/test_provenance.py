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


def _package(root, files: dict[str, str]):
    """A throw-away package called ``personalab`` with the given modules."""
    pkg = root / "personalab"
    for rel, code in {"__init__.py": "", **files}.items():
        path = pkg / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
    return pkg


def test_a_lab_reaches_what_it_imports_and_what_that_imports(tmp_path):
    pkg = _package(
        tmp_path,
        {
            "a.py": "from .b import f\n",
            "b.py": "def f():\n    from .sub.deep import g\n    return g()\n",  # import inside a function
            "sub/__init__.py": "",
            "sub/deep.py": "from .. import c\n",  # two dots: the package above
            "c.py": "x = 1\n",
            "unused.py": "y = 2\n",
            "tools/__init__.py": "from .. import unused\n",
        },
    )
    nb = _notebook("%matplotlib inline\nfrom personalab.a import f\nimport numpy")
    roots = provenance.lab_modules(nb, pkg)
    assert roots == {"personalab", "personalab.a"}
    assert provenance.reachable_modules(roots, pkg) == {
        "personalab",
        "personalab.a",
        "personalab.b",
        "personalab.sub",
        "personalab.sub.deep",
        "personalab.c",
    }


def test_a_module_no_lab_reaches_does_not_make_its_outputs_stale(tmp_path):
    pkg = _package(tmp_path, {"a.py": "from . import b\n", "b.py": "x = 1\n", "part2.py": "y = 1\n"})
    modules = provenance.reachable_modules(provenance.lab_modules(_notebook("import personalab.a"), pkg), pkg)
    before = provenance.library_digest(pkg, modules)
    (pkg / "part2.py").write_text("y = 2\n")
    assert provenance.library_digest(pkg, modules) == before
    assert provenance.library_digest(pkg) != provenance.library_digest(pkg, modules)
    (pkg / "b.py").write_text("x = 2\n")
    assert provenance.library_digest(pkg, modules) != before


def test_a_cell_that_is_not_python_makes_the_whole_library_count(tmp_path):
    assert provenance.lab_modules(_notebook("x = (")) is None


def test_the_labs_reach_the_modules_that_train_and_measure():
    lab = nbformat.read("labs/lab03_rlhf_sycophancy.ipynb", as_version=4)
    reached = provenance.reachable_modules(provenance.lab_modules(lab))
    assert {"personalab.align.rlhf", "personalab.model", "personalab.world.grammar", "personalab.numerics"} <= reached
    assert not any(m.startswith("personalab.tools") for m in reached)
