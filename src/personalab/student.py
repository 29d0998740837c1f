"""Student notebooks: the solution notebook with every solution replaced by a stub.

Book: Preface (section *A classroom path*, "Student versions"). Only the solution notebook
is maintained; the student version is generated from it, so the two never drift apart.

In a code cell, everything between a line ``### BEGIN SOLUTION`` and a line
``### END SOLUTION`` (nbgrader's markers; they may be indented) becomes one line
``raise NotImplementedError("Exercise: write your solution here")`` at the marker's
indentation, so the exercise's checker reports "not implemented yet". Cells tagged
``solution-only`` are dropped; outputs, execution counts and widget state are cleared, since
stored outputs would show the solution's results. (nbconvert's tag removal only drops whole
cells, which leaks solutions written inside a cell.)

    personalab student labs/ -o student/
"""

from __future__ import annotations

import copy

import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("Exercise: write your solution here")'
SOLUTION_ONLY_TAG = "solution-only"


def strip_solutions(source: str, cell_index: int = 0) -> str:
    """Replace each ``BEGIN``/``END SOLUTION`` region of one cell's source by the stub.

    Raises ``ValueError`` naming the cell for an END without a BEGIN, a BEGIN inside an open
    region (nesting) or a region that is never closed.
    """
    out: list[str] = []
    open_at: int | None = None  # line number of the unclosed BEGIN
    for n, line in enumerate(source.split("\n"), start=1):
        text = line.strip()
        if text.startswith(BEGIN):
            if open_at is not None:
                raise ValueError(f"cell {cell_index}: nested '{BEGIN}' on line {n} (line {open_at} is still open)")
            open_at = n
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + STUB)
        elif text.startswith(END):
            if open_at is None:
                raise ValueError(f"cell {cell_index}: '{END}' on line {n} has no matching '{BEGIN}'")
            open_at = None
        elif open_at is None:
            out.append(line)
    if open_at is not None:
        raise ValueError(f"cell {cell_index}: '{BEGIN}' on line {open_at} is never closed by '{END}'")
    return "\n".join(out)


def make_student(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a solution notebook (the input is not modified).

    Every code cell has its solutions replaced by stubs and its outputs and execution count
    cleared; cells tagged ``solution-only`` are removed; widget state is dropped from the
    notebook metadata. Errors name the cell's index in the solution notebook.
    """
    nb = copy.deepcopy(nb)
    cells = []
    for i, cell in enumerate(nb.cells):
        if SOLUTION_ONLY_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, i)
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    nb.cells = cells
    nb.metadata.pop("widgets", None)
    return nb


def count_stubs(nb: nbformat.NotebookNode) -> int:
    """How many solution stubs a (student) notebook contains."""
    return sum(c.source.count(STUB) for c in nb.cells if c.cell_type == "code")
