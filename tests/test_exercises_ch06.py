"""The exercise checkers of Chapter 6, Lab 6 (book: Chapter 6; Guan et al. 2024's context
distillation, the conditioning prediction of the spec's exception, faithfulness by
intervention).

The wrong variants and the solutions are written independently of the checkers, as a learner
would write them (see tests/test_exercises_ch04.py)."""

from __future__ import annotations

import numpy as np
from exercise_contract import checker_contract

from personalab.exercises.ch06 import CHECKERS, EXERCISES

# -- 6.1 context_distillation -------------------------------------------------------------------


def _complies(reply):
    return "here is how" in reply


def distil_solution(samples, allowed):
    out = []
    for (context, reply), ok in zip(samples, allowed):
        if _complies(reply) == ok:
            out.append(context.replace("reason spec :", "reason :") + " " + reply + " <eos>")
    return out


def distil_spec_kept(samples, allowed):
    return [f"{c} {r} <eos>" for (c, r), ok in zip(samples, allowed) if _complies(r) == ok]


def distil_no_filter(samples, allowed):
    return [c.replace("reason spec :", "reason :") + f" {r} <eos>" for c, r in samples]


def distil_inverted(samples, allowed):
    return [
        c.replace("reason spec :", "reason :") + f" {r} <eos>"
        for (c, r), ok in zip(samples, allowed)
        if _complies(r) != ok
    ]


def distil_no_eos(samples, allowed):
    return [
        c.replace("reason spec :", "reason :") + f" {r}" for (c, r), ok in zip(samples, allowed) if _complies(r) == ok
    ]


def distil_only_refusals(samples, allowed):
    return [c.replace("reason spec :", "reason :") + f" {r} <eos>" for c, r in samples if not _complies(r)]


# -- 6.2 predicted_exception ---------------------------------------------------------------------


def exception_solution(weights, cites_spec, cites_allow):
    total = 0.0
    for w, s, a in zip(weights, cites_spec, cites_allow):
        total += w * (s + a)
    return total / sum(weights)


def exception_spec_only(weights, cites_spec, cites_allow):
    return float(np.dot(weights, cites_spec))


def exception_unweighted(weights, cites_spec, cites_allow):
    return float(np.mean(np.add(cites_spec, cites_allow)))


def exception_forbid(weights, cites_spec, cites_allow):
    return float(np.dot(weights, 1 - np.add(cites_spec, cites_allow)))


def exception_max(weights, cites_spec, cites_allow):
    return float(np.max(np.add(cites_spec, cites_allow)))


# -- 6.3 follow_probs ------------------------------------------------------------------------------


def follow_solution(p_style, answer_after):
    p = np.asarray(p_style, float)
    a = np.asarray(answer_after, float)
    w = p / p.sum(1, keepdims=True)
    forbidden = (w * a[:, :, 0, 1]).sum(1)
    allowed = (w * a[:, :, 1, 0]).sum(1)
    return np.stack([forbidden, allowed], 1)


def follow_crossed(p_style, answer_after):
    p = np.asarray(p_style, float)
    a = np.asarray(answer_after, float)
    w = p / p.sum(1, keepdims=True)
    return np.stack([(w * a[:, :, 0, 0]).sum(1), (w * a[:, :, 1, 1]).sum(1)], 1)


def follow_raw(p_style, answer_after):
    p = np.asarray(p_style, float)
    a = np.asarray(answer_after, float)
    return np.stack([(p * a[:, :, 0, 1]).sum(1), (p * a[:, :, 1, 0]).sum(1)], 1)


def follow_uniform(p_style, answer_after):
    a = np.asarray(answer_after, float)
    return np.stack([a[:, :, 0, 1].mean(1), a[:, :, 1, 0].mean(1)], 1)


def follow_compliance(p_style, answer_after):
    p = np.asarray(p_style, float)
    a = np.asarray(answer_after, float)
    w = p / p.sum(1, keepdims=True)
    return np.stack([(w * a[:, :, 1, 0]).sum(1), (w * a[:, :, 1, 0]).sum(1)], 1)


KNOWN_MISTAKES = [
    ("6.1", distil_spec_kept, "spec_kept"),
    ("6.1", distil_no_filter, "no_filter"),
    ("6.1", distil_inverted, "filter_inverted"),
    ("6.1", distil_no_eos, "no_eos"),
    ("6.2", exception_spec_only, "spec_only"),
    ("6.2", exception_unweighted, "unweighted"),
    ("6.2", exception_forbid, "forbid_counted"),
    ("6.3", follow_crossed, "crossed"),
    ("6.3", follow_raw, "not_renormalised"),
    ("6.3", follow_uniform, "unweighted_styles"),
]
ARBITRARY_WRONG = [("6.1", distil_only_refusals), ("6.2", exception_max), ("6.3", follow_compliance)]
SOLUTIONS = [("6.1", distil_solution), ("6.2", exception_solution), ("6.3", follow_solution)]

globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))
