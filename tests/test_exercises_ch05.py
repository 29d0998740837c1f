"""The exercise checkers of Chapter 5, Lab 5 (book: Chapter 5; Bai et al. 2022's soft labels,
the constitution's gold judge and one critique-and-revision round).

The wrong variants and the solutions are written independently of the checkers, as a learner
would write them (see tests/test_exercises_ch04.py)."""

from __future__ import annotations

import numpy as np
from exercise_contract import checker_contract

from personalab.exercises.ch05 import CHECKERS, EXERCISES

# -- 5.1 soft_preference --------------------------------------------------------------------


def soft_solution(p_a, p_b):
    p_a, p_b = np.asarray(p_a, float), np.asarray(p_b, float)
    with np.errstate(all="ignore"):
        logit = np.log(p_a) - np.log1p(-p_a) - np.log(p_b) + np.log1p(-p_b)
        out = 1 / (1 + np.exp(-logit))
    return np.where(np.isnan(out), 0.5, out)


def soft_normalised(p_a, p_b):
    return np.asarray(p_a) / (np.asarray(p_a) + np.asarray(p_b))


def soft_difference(p_a, p_b):
    return (1 + np.asarray(p_a) - np.asarray(p_b)) / 2


def soft_swapped(p_a, p_b):
    return soft_solution(p_b, p_a)


def soft_no_tie(p_a, p_b):
    p_a, p_b = np.asarray(p_a, float), np.asarray(p_b, float)
    with np.errstate(all="ignore"):
        return p_a * (1 - p_b) / (p_a * (1 - p_b) + p_b * (1 - p_a))


def soft_product(p_a, p_b):
    return np.asarray(p_a) * (1 - np.asarray(p_b))


# -- 5.2 gold_judge ---------------------------------------------------------------------------

SCORE = {"good": 1.0, "bad": 0.0}


def gold_solution(verdicts, priority):
    if priority:
        for v in verdicts:
            if v is not None:
                return SCORE[v]
        return 0.5
    return sum(SCORE.get(v, 0.5) for v in verdicts) / len(verdicts)


def gold_skips(verdicts, priority):
    if priority:
        return gold_solution(verdicts, priority)
    applied = [SCORE[v] for v in verdicts if v is not None]
    return sum(applied) / len(applied) if applied else 0.5


def gold_stops(verdicts, priority):
    return SCORE.get(verdicts[0], 0.5) if priority else gold_solution(verdicts, False)


def gold_last(verdicts, priority):
    return gold_solution(verdicts[::-1], priority)


def gold_mean_always(verdicts, priority):
    return gold_solution(verdicts, False)


def gold_fraction_good(verdicts, priority):
    return sum(v == "good" for v in verdicts) / len(verdicts)


# -- 5.3 critiqued_revision -----------------------------------------------------------------


def revision_solution(p_good, after_good, after_bad):
    return np.einsum("b,bo->bo", p_good, after_good) + np.einsum("b,bo->bo", 1 - p_good, after_bad)


def revision_swapped(p_good, after_good, after_bad):
    return revision_solution(1 - p_good, after_good, after_bad)


def revision_half(p_good, after_good, after_bad):
    return (after_good + after_bad) / 2


def revision_bad_only(p_good, after_good, after_bad):
    return after_bad.copy()


def revision_good_only(p_good, after_good, after_bad):
    return p_good[:, None] * after_good


KNOWN_MISTAKES = [
    ("5.1", soft_normalised, "normalised"),
    ("5.1", soft_difference, "difference"),
    ("5.1", soft_swapped, "swapped"),
    ("5.1", soft_no_tie, "no_tie_case"),
    ("5.2", gold_skips, "skips_inapplicable"),
    ("5.2", gold_stops, "priority_stops_at_none"),
    ("5.2", gold_last, "priority_last"),
    ("5.2", gold_mean_always, "priority_ignored"),
    ("5.3", revision_swapped, "swapped"),
    ("5.3", revision_half, "half_and_half"),
    ("5.3", revision_bad_only, "critique_ignored"),
]
ARBITRARY_WRONG = [("5.1", soft_product), ("5.2", gold_fraction_good), ("5.3", revision_good_only)]
SOLUTIONS = [("5.1", soft_solution), ("5.2", gold_solution), ("5.3", revision_solution)]

globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))
