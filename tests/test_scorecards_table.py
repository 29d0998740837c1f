"""The closing table's directive (book/_ext/scorecards.py): every method the labs trained,
from the recorded runs, with the reference value and the calibration range."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, BOOK / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sc():
    sys.modules.setdefault("toynumbers", _module("toynumbers"))  # as Sphinx's _ext path allows
    sys.modules.setdefault("toystrip", _module("toystrip"))
    return _module("scorecards")


RESULTS = {
    "seeds": {"reference": 0, "calibration": [0, 1, 2], "validation": [8]},
    "runs": [
        {
            "lab": "labA",
            "seed": s,
            "base_seed": None,
            "values": {"scorecard.sft.residual": r, "scorecard.base_x.residual": 0.0},
        }
        for s, r in ((0, 0.2), (1, 0.1), (2, 0.4), (8, 9.0))
    ]
    + [
        {"lab": "labA", "seed": 0, "base_seed": 3, "values": {"scorecard.sft.residual": 7.0}},
        {
            "lab": "labB",
            "seed": 0,
            "base_seed": None,
            "values": {"scorecard.dpo.residual": 0.5, "scorecard.dpo.user_drift": 0.01},
        },
    ],
}


def test_cells_show_the_reference_and_the_calibration_range(sc):
    body = sc.table_rows(RESULTS, [("SFT", "labA", "sft"), ("DPO", "labB", "dpo")], ("residual", "user_drift"), True)
    assert body == [("SFT", ["0.200 (0.100–0.400)", "—"]), ("DPO", ["0.500 (0.500–0.500)", "0.010 (0.010–0.010)"])]


def test_a_complete_table_cannot_leave_a_method_out(sc):
    with pytest.raises(KeyError, match="leaves out methods the labs trained: \\['labB/dpo'\\]"):
        sc.table_rows(RESULTS, [("SFT", "labA", "sft")], ("residual",), True)
    assert sc.table_rows(RESULTS, [("SFT", "labA", "sft")], ("residual",), False)  # not complete: allowed
    with pytest.raises(KeyError, match="no run recorded a scorecard"):
        sc.table_rows(RESULTS, [("RLHF", "labA", "rlhf")], ("residual",), False)
    with pytest.raises(ValueError, match="label \\| lab/method"):
        sc.parse_rows(["SFT labA/sft"])


def test_the_books_results_hold_a_scorecard_for_every_lab_from_chapter_2_on(sc):
    results = json.loads((BOOK / "results.json").read_text(encoding="utf-8"))
    labs = {lab for lab, _ in sc.recorded_methods(results)}
    assert {
        "lab02_post_training",
        "lab03_rlhf_sycophancy",
        "lab04_dpo",
        "lab05_constitutional_ai",
        "lab06_deliberative_alignment",
    } <= labs
    rows = [(m, lab, m) for lab, m in sorted(sc.recorded_methods(results))]
    body = sc.table_rows(results, rows, sc.DEFAULT_COLUMNS, True)
    assert all(cells[0] != "—" for _, cells in body)  # every method has its PSM residual
