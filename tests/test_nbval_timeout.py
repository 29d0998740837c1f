"""The repository's conftest lifts nbval's hard-coded 5-second wait for a cell's output."""

from __future__ import annotations

from pathlib import Path

import nbformat

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[1]


def test_a_cell_silent_for_longer_than_five_seconds_passes_under_nbval(pytester):
    pytester.makeconftest((ROOT / "conftest.py").read_text(encoding="utf-8"))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(7)\nprint('done')")]
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="done\n")]
    nb.cells[0].execution_count = 1
    nbformat.write(nb, pytester.path / "slow.ipynb")
    result = pytester.runpytest_subprocess("--nbval", "--nbval-current-env", "-p", "no:xdist", "slow.ipynb")
    result.assert_outcomes(passed=1)
