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
    for src in claim_cells:
        assert _claims_are_asserted(src), f"a claim in {lab.name} is not asserted: {src[:80]!r}"


def _claims_are_asserted(src: str) -> bool:
    """Every ``claim(...)`` call is asserted: ``assert claim(...)``, or an element of a
    ``holds = [...]`` list that the cell then asserts with ``assert all(holds)`` (so that a
    failing claim does not hide the ones after it)."""
    tree = ast.parse(src)
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "claim"]
    asserted = {id(n.test) for n in tree.body if isinstance(n, ast.Assert)}
    listed = {
        id(e)
        for n in tree.body
        if isinstance(n, ast.Assign)
        and [getattr(t, "id", "") for t in n.targets] == ["holds"]
        and isinstance(n.value, ast.List)
        for e in n.value.elts
    }
    asserts_all = any(isinstance(n, ast.Assert) and ast.unparse(n.test) == "all(holds)" for n in tree.body)
    return bool(calls) and all(id(c) in asserted or (id(c) in listed and asserts_all) for c in calls)


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
            if not re.search(r"\w", line):  # a closing bracket alone gives nothing away
                continue
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


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_stored_outputs_were_made_by_the_current_code_and_data(lab):
    """Staleness by provenance (DESIGN section 7): the outputs of training cells differ between
    CPUs and are not compared, so the fingerprint recorded by `make labs` must match."""
    from personalab.tools.provenance import REMEDY, describe, stale_parts

    stale = stale_parts(nbformat.read(lab, as_version=4))
    assert not stale, f"{lab.name}: its stored outputs predate a change to {describe(stale)}; {REMEDY}"


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_claims_hold_for_a_validation_seed(lab):
    """A seed that never set a threshold (DESIGN section 7): the claims must hold for it too."""
    from bench import VALIDATION_SEEDS, run_lab

    run = run_lab(lab, seed=VALIDATION_SEEDS[0])
    assert run.ok, run.error
    assert run.claims and all(c["ok"] == "✓" for c in run.claims.values()), run.claims
    assert run.seconds < 300  # the budget is 2 minutes on 2 cores; generous for a loaded CI worker


# ATen's portable kernels are several times slower than the vector path, and a shared CI
# machine can be slow too (a clean clone here took 37 minutes for the suite on a day it
# usually takes 31, and all four labs in one process passed the old 30-minute limit):
# one process per lab, each with its own limit, so a slow machine is not a failure and a
# hang still is.
ANOTHER_CPU_TIMEOUT = 1500


@pytest.mark.slow
@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_labs_validate_on_another_cpu_kernel_path_and_thread_count(lab):
    """A simulated other machine: nbval on every lab with ATen's portable kernels
    (`ATEN_CPU_CAPABILITY=default`, not this CPU's vector path) and two torch threads. Every
    cell must run, every claim must hold and every CPU-independent output must match."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "PERSONALAB_THREADS": "2", "TQDM_DISABLE": "1"}
    env["PYTHONHASHSEED"] = "0"
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist", "-q", "--nbval"]
    cmd += ["--nbval-current-env", "--nbval-sanitize-with", "tests/nbval_sanitize.cfg", str(lab)]
    try:
        result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=ANOTHER_CPU_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(
            f"{lab.name} did not finish within {ANOTHER_CPU_TIMEOUT} s under ATEN_CPU_CAPABILITY=default: "
            "a hang, or a machine far slower than 2 free cores (run the suite with nothing else running)"
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


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


@pytest.mark.parametrize(
    ("src", "ok"),
    [
        ('assert claim("1a", "x", 1.0, at_least=0.5)', True),
        ('holds = [claim("1a", "x", 1.0, at_least=0.5), claim("1b", "y", 1.0, at_most=2)]\nassert all(holds)', True),
        ('holds = [claim("1a", "x", 1.0, at_least=0.5)]', False),  # listed, never asserted
        ('claim("1a", "x", 1.0, at_least=0.5)', False),  # printed, never asserted
        ('ok = claim("1a", "x", 1.0, at_least=0.5)\nassert all(holds)', False),
    ],
)
def test_the_asserted_claims_rule_accepts_asserts_and_asserted_lists_only(src, ok):
    assert _claims_are_asserted(src) is ok
