"""The labs: sources and notebooks agree, the book and status page list them, student
versions leak no solution and their stubs fail the checkers, and the claims hold for a
seed other than the one whose outputs are stored."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from personalab.claims import CLAIM_LINE
from personalab.student import make_student

ROOT = Path(__file__).resolve().parents[1]
LABS = sorted((ROOT / "labs").glob("*.ipynb"))
SOLUTION = re.compile(r"^\s*### BEGIN SOLUTION\s*$(.*?)^\s*### END SOLUTION\s*$", re.S | re.M)


def code_sources(nb) -> list[str]:
    return [c.source.strip() for c in nb.cells if c.cell_type == "code"]


def claim_ids(nb) -> list[str]:
    return [
        m["id"]
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "stream"
        for line in o.get("text", "").splitlines()
        if (m := CLAIM_LINE.match(line.strip()))
    ]


def test_there_are_labs():
    assert LABS, "no lab notebooks found in labs/"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_notebook_matches_its_reviewable_source(lab):
    source = ROOT / "labs_py" / f"{lab.stem}.py"
    assert source.exists(), f"{lab.name} has no source labs_py/{source.name}"
    from_py = jupytext.read(source)
    nb = nbformat.read(lab, as_version=4)
    assert [c.source.strip() for c in from_py.cells] == [c.source.strip() for c in nb.cells], (
        f"{lab.name} differs from {source}: run `make labs` to regenerate and re-execute it"
    )


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_every_code_cell_has_stored_outputs_and_claims_are_asserted(lab):
    nb = nbformat.read(lab, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip():
            assert cell.execution_count is not None, f"unexecuted cell in {lab.name}: {cell.source[:60]!r}"
    ids = claim_ids(nb)
    assert ids and len(ids) == len(set(ids))
    claim_cells = [c.source for c in nb.cells if c.cell_type == "code" and "claim(" in c.source]
    assert all(
        line.strip().startswith("assert claim(")
        for src in claim_cells
        for line in src.splitlines()
        if "claim(" in line and not line.strip().startswith(("from ", "import "))
    )


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_lab_is_in_the_book_and_on_the_status_page(lab):
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    assert f"labs/{lab.stem}" in files
    status = (ROOT / "book" / "appendix" / "status.md").read_text()
    assert lab.stem in status, "run `make bench` to regenerate the status page"
    for cid in claim_ids(nbformat.read(lab, as_version=4)):
        assert f"| {cid}: " in status, f"claim {cid} of {lab.stem} is missing from the status page (run `make bench`)"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_student_version_leaks_no_solution(lab):
    nb = nbformat.read(lab, as_version=4)
    student = nbformat.writes(make_student(nb))
    solutions = [body for c in nb.cells if c.cell_type == "code" for body in SOLUTION.findall(c.source)]
    assert len(solutions) >= 3
    for body in solutions:
        for line in body.strip().splitlines():
            assert line.strip() not in student, f"solution line leaked: {line.strip()!r}"
    assert '"outputs": []' in student and "widget-state" not in student


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_each_exercise_cell_fails_its_checker_as_a_stub_and_passes_as_the_solution(lab):
    """Run the real exercise cells: the student's stub must fail the checker with the
    'not implemented' message, the solution must pass it."""
    nb = nbformat.read(lab, as_version=4)
    student = make_student(nb)
    preamble = next(c.source for c in nb.cells if c.cell_type == "code")  # the imports cell
    imports = [n for n in ast.parse(preamble).body if isinstance(n, (ast.Import, ast.ImportFrom))]
    header = "\n".join(ast.get_source_segment(preamble, n) for n in imports)  # multi-line imports too
    pairs = [(s, t) for s, t in zip(nb.cells, student.cells) if s.cell_type == "code" and "BEGIN SOLUTION" in s.source]
    assert pairs
    for solution_cell, student_cell in pairs:
        ns: dict = {}
        exec(compile(header, "<imports>", "exec"), ns)
        exec(compile(solution_cell.source, "<solution>", "exec"), ns)  # the checker call at the end passes
        ns = {}
        exec(compile(header, "<imports>", "exec"), ns)
        with pytest.raises(AssertionError, match="not implemented yet"):
            exec(compile(student_cell.source, "<student>", "exec"), ns)


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_claims_hold_for_another_seed(lab):
    from personalab.tools.bench import run_lab

    run = run_lab(lab, seed=7)
    assert run.ok, run.error
    assert run.claims and all(c["ok"] == "✓" for c in run.claims.values()), run.claims
    assert run.seconds < 300  # the budget is 2 minutes on 2 cores; generous for a loaded CI worker


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_exercise_headings_match_the_exercise_cards(lab):
    """The difficulty and time a lab shows for an exercise are those of its checker's card."""
    import importlib

    nb = nbformat.read(lab, as_version=4)
    heading = re.compile(r"^### Exercise (?P<id>\d+\.\d+) (?P<stars>[★☆]{3}) \(~(?P<min>\d+) min\)", re.M)
    found = [m for c in nb.cells if c.cell_type == "markdown" for m in heading.finditer(c.source)]
    assert found, f"{lab.name} has no exercise headings"
    for m in found:
        chapter = int(m["id"].split(".")[0])
        card = importlib.import_module(f"personalab.exercises.ch{chapter:02d}").EXERCISES[m["id"]]
        assert m["stars"] == "★" * card.difficulty + "☆" * (3 - card.difficulty), m.group(0)
        assert int(m["min"]) == card.minutes, f"{m.group(0)}: the card says ~{card.minutes} min"
