"""Student notebooks generated from solution notebooks (book: Preface, *A classroom path*).

The student version must never leak a solution: not in the code, not in stored outputs, not
in widget state, not in a ``solution-only`` cell.
"""

from __future__ import annotations

import copy
import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from personalab.cli import main
from personalab.exercises import check
from personalab.exercises.ch01 import POSTERIOR_UPDATE
from personalab.student import STUB, make_student

SOLUTION_LINES = [
    "    joint = log_post + token_logp  # SECRET-A",
    "    return joint - np.logaddexp.reduce(joint)  # SECRET-B",
    "answer = 6 * 7  # SECRET-C",
    "\t\t    total += step  # SECRET-D",
]

EXERCISE_CELL = "\n".join(
    [
        "import numpy as np",
        "",
        "def posterior_update(log_post, token_logp):",
        '    """Eq. (A.2) in log space."""',
        "    ### BEGIN SOLUTION",
        *SOLUTION_LINES[:2],
        "    ### END SOLUTION",
    ]
)
TOP_LEVEL_CELL = "\n".join(["### BEGIN SOLUTION", SOLUTION_LINES[2], "### END SOLUTION", "print(answer)"])
TWO_REGIONS_CELL = "\n".join(
    [
        "total = 0",
        "for step in range(3):",
        "\t\t    ### BEGIN SOLUTION",
        SOLUTION_LINES[3],
        "\t\t    ### END SOLUTION",
        "def f():",
        "        ### BEGIN SOLUTION",
        "        return 'SECRET-E'",
        "        ### END SOLUTION",
    ]
)


def solution_notebook() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {
        "application/vnd.jupyter.widget-state+json": {"state": {"m1": {"value": "SECRET-W"}}, "version_major": 2}
    }
    intro = new_markdown_cell("## Exercise 1.1: the posterior update")
    exercise = new_code_cell(EXERCISE_CELL, execution_count=3)
    exercise.outputs = [new_output("stream", name="stdout", text="SECRET-OUT\n")]
    top = new_code_cell(TOP_LEVEL_CELL, execution_count=4)
    top.outputs = [new_output("execute_result", data={"text/plain": "42 SECRET-OUT2"}, execution_count=4)]
    worked = new_code_cell("print('SECRET-F: the worked solution')", metadata={"tags": ["solution-only"]})
    plain = new_code_cell("x = 1  # no solution here", execution_count=5)
    return nbformat.from_dict({**nb, "cells": [intro, exercise, top, worked, new_code_cell(TWO_REGIONS_CELL), plain]})


@pytest.fixture
def student() -> nbformat.NotebookNode:
    return make_student(solution_notebook())


def test_no_solution_text_leaks_anywhere_in_the_student_notebook(student):
    text = nbformat.writes(student)
    for line in SOLUTION_LINES:
        assert line.strip() not in text
    assert "SECRET" not in text


def test_each_solution_region_becomes_a_stub_at_the_markers_indentation(student):
    exercise, top, two_regions = student.cells[1], student.cells[2], student.cells[3]
    assert exercise.source.splitlines()[-1] == "    " + STUB
    assert top.source.splitlines()[0] == STUB
    assert two_regions.source.splitlines() == [
        "total = 0",
        "for step in range(3):",
        "\t\t    " + STUB,
        "def f():",
        "        " + STUB,
    ]


def test_code_outside_the_markers_is_unchanged(student):
    assert student.cells[1].source.splitlines()[:4] == EXERCISE_CELL.splitlines()[:4]
    assert student.cells[2].source.splitlines()[1:] == ["print(answer)"]
    assert student.cells[4].source == "x = 1  # no solution here"
    assert student.cells[0].source == "## Exercise 1.1: the posterior update"


def test_outputs_execution_counts_and_widget_state_are_cleared(student):
    code = [c for c in student.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "widgets" not in student.metadata
    assert student.metadata["kernelspec"]["name"] == "python3"


def test_solution_only_cells_are_removed(student):
    assert len(student.cells) == len(solution_notebook().cells) - 1
    assert all("solution-only" not in c.metadata.get("tags", []) for c in student.cells)


def test_the_student_notebook_is_valid_and_the_solution_notebook_is_untouched(student):
    nbformat.validate(student)
    original = solution_notebook()
    before = copy.deepcopy(original)
    make_student(original)
    assert original == before


def test_the_stub_makes_the_checker_report_not_implemented(student):
    namespace: dict = {}
    exec(student.cells[1].source, namespace)  # the learner runs the student cell unchanged
    result = check(POSTERIOR_UPDATE, namespace["posterior_update"])
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("x = 1\n### END SOLUTION", "no matching"),
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("### BEGIN SOLUTION\n    ### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n### END SOLUTION", "nested"),
    ],
    ids=["end-without-begin", "unclosed-begin", "nested"],
)
def test_an_unmatched_or_nested_marker_is_an_error_naming_the_cell(source, problem):
    nb = new_notebook(cells=[new_markdown_cell("intro"), new_code_cell("y = 2"), new_code_cell(source)])
    with pytest.raises(ValueError, match=f"cell 2: .*{problem}"):
        make_student(nb)


def test_the_cli_writes_a_student_notebook_for_each_solution_notebook(tmp_path, capsys):
    labs = tmp_path / "labs"
    labs.mkdir()
    nbformat.write(solution_notebook(), labs / "lab01.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("print(1)")]), labs / "lab02.ipynb")
    out = tmp_path / "student"
    assert main(["student", str(labs), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["lab01.ipynb", "lab02.ipynb"]
    assert f"wrote {out / 'lab01.ipynb'} (4 solutions replaced by stubs, 1 solution-only cell removed)" in printed
    written = json.loads((out / "lab01.ipynb").read_text())
    assert "SECRET" not in json.dumps(written)


def test_the_cli_refuses_to_overwrite_the_solution_notebook(tmp_path, capsys):
    nbformat.write(solution_notebook(), tmp_path / "lab01.ipynb")
    assert main(["student", str(tmp_path / "lab01.ipynb"), "-o", str(tmp_path)]) == 2
    assert "would overwrite" in capsys.readouterr().err
    assert "SECRET-A" in (tmp_path / "lab01.ipynb").read_text()


def test_the_cli_reports_a_marker_error_with_the_file(tmp_path, capsys):
    nbformat.write(new_notebook(cells=[new_code_cell("### BEGIN SOLUTION\nx = 1")]), tmp_path / "bad.ipynb")
    assert main(["student", str(tmp_path / "bad.ipynb"), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.ipynb" in err and "cell 0" in err
