"""The book's closing table: the PSM scorecard of every method the labs trained, from the runs.

Chapter 7 ends with one table over every method in the book (DESIGN section 9): how much of
post-training the persona explains, method by method. The ``scorecards`` directive builds it
from ``book/results.json`` (written by ``make bench``; the numbers every ``{toy}`` role
quotes), where each lab records its scorecards as ``scorecard.<method>.<column>``
(``personalab.evals.scorecard.record_scorecards``). In MyST::

    ```{scorecards}
    :columns: residual hull_distance off_world user_drift conditioning_kl
    :complete:

    Helper SFT (Lab 2)      | lab02_post_training/helper_sft_100_steps
    RLHF β = 0.02 (Lab 3)   | lab03_rlhf_sycophancy/rlhf_0_02_bias_3
    ```

Each content line is ``label | lab/method``. A cell shows the reference run's value (lab
seed 0, shipped base) and, below it, the range over the calibration seeds; a column the
method did not record shows a dash. With ``:complete:`` every method any lab recorded must
have a row (the untrained base models excepted: ``BASES``), so the table cannot silently leave
a method out -- steering the base model is a method, and needs its row; a
row naming a method no run recorded is an error, as for ``{toy}``.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
import toystrip
from toynumbers import load

DEFAULT_COLUMNS = ("residual", "hull_distance", "off_world", "user_drift", "conditioning_kl")
HEADERS = {
    "residual": "PSM residual",
    "hull_distance": "hull distance",
    "off_world": "off-world mass",
    "user_drift": "user drift",
    "conditioning_kl": "KL to conditioning",
}
PREFIX = "scorecard."
BASES = ("base_pre_trained", "base_extended")  # the untrained base models' rows, for comparison


def parse_rows(lines: list[str]) -> list[tuple[str, str, str]]:
    """``label | lab/method`` lines -> (label, lab, method), read as ``toystrip`` reads its rows."""
    return toystrip.parse_rows(lines, "scorecards", "method")


def recorded_methods(results: dict, *, bases: bool = False) -> set[tuple[str, str]]:
    """Every (lab, method) whose scorecard some run recorded; the untrained bases only if
    ``bases``."""
    out = set()
    for run in results.get("runs", []):
        for key in run.get("values", {}):
            if key.startswith(PREFIX):
                method = key[len(PREFIX) :].split(".", 1)[0]
                if bases or method not in BASES:
                    out.add((run["lab"], method))
    return out


def cell_values(results: dict, lab: str, method: str, column: str) -> tuple[float, float, float] | None:
    """(reference value, min, max over the calibration seeds) of one scorecard column, or
    None if the method never recorded it."""
    seeds = results.get("seeds", {})
    reference, cal = seeds.get("reference", 0), set(seeds.get("calibration", [0]))
    key = f"{PREFIX}{method}.{column}"
    ref, spread = None, []
    for run in results.get("runs", []):
        if run["lab"] != lab or run.get("base_seed") is not None or key not in run.get("values", {}):
            continue
        value = float(run["values"][key])
        if run["seed"] == reference:
            ref = value
        if run["seed"] in cal:
            spread.append(value)
    if ref is None:
        return None
    return ref, min(spread or [ref]), max(spread or [ref])


def table_rows(results: dict, rows: list[tuple[str, str, str]], columns: tuple[str, ...], complete: bool):
    """(label, [cell text per column]) per row; raises KeyError for a method no run recorded,
    and, with ``complete``, for recorded methods the table leaves out."""
    known = recorded_methods(results)
    recorded = recorded_methods(results, bases=True)
    missing = [f"{lab}/{method}" for _, lab, method in rows if (lab, method) not in recorded]
    if missing:
        raise KeyError(f"scorecards: no run recorded a scorecard for {missing}: check the name, or run `make bench`")
    if complete:
        left_out = sorted(f"{lab}/{m}" for lab, m in known - {(lab, m) for _, lab, m in rows})
        if left_out:
            raise KeyError(f"scorecards: the table leaves out methods the labs trained: {left_out}")
    out = []
    for label, lab, method in rows:
        cells = []
        for column in columns:
            v = cell_values(results, lab, method, column)
            cells.append("—" if v is None else f"{v[0]:.3f} ({v[1]:.3f}–{v[2]:.3f})")
        out.append((label, cells))
    return out


def _table(headers: list[str], body: list[list[str]]) -> nodes.table:
    table = nodes.table(classes=["scorecards"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for _ in headers:
        group += nodes.colspec(colwidth=1)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for h in headers:
        row += nodes.entry("", nodes.paragraph(text=h))
    head += row
    tbody = nodes.tbody()
    group += tbody
    for cells in body:
        row = nodes.row()
        for c in cells:
            row += nodes.entry("", nodes.paragraph(text=c))
        tbody += row
    return table


class Scorecards(SphinxDirective):
    has_content = True
    option_spec = {"columns": directives.unchanged_required, "complete": directives.flag}

    def run(self):
        env = self.env
        columns = tuple(self.options.get("columns", " ".join(DEFAULT_COLUMNS)).split())
        unknown = [c for c in columns if c not in HEADERS]
        if unknown:
            msg = f"scorecards: unknown columns {unknown}; choose among {list(HEADERS)}"
            return [self.state.document.reporter.error(msg, line=self.lineno)]
        try:
            rows = parse_rows(list(self.content))
            results = load(Path(env.srcdir) / env.config.toynumbers_results)
            body = table_rows(results, rows, columns, "complete" in self.options)
        except (KeyError, ValueError) as exc:
            return [self.state.document.reporter.error(str(exc).strip("'\""), line=self.lineno)]
        env.note_dependency(str(Path(env.srcdir) / env.config.toynumbers_results))
        headers = ["method", *(HEADERS[c] for c in columns)]
        return [_table(headers, [[label, *cells] for label, cells in body])]


def setup(app: Sphinx) -> dict:
    app.add_directive("scorecards", Scorecards)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
