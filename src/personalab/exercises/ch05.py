"""Exercises of Chapter 5, Lab 5 (Constitutional AI): the soft preference label, the gold
judge, and one round of critique and revision.

Three steps of the Constitutional AI pipeline, each the library's own implementation
(Bai et al. 2022, "Constitutional AI: Harmlessness from AI Feedback")::

    P(a > b) = sigma(logit p_a - logit p_b)
             = p_a (1 - p_b) / (p_a (1 - p_b) + p_b (1 - p_a))       eq. (5.2), soft_preference
    P(good)  = (1/K) sum_k g_k      (sampled)                        eq. (5.1), combine_verdicts
             = g_k*, k* the first principle that applies (priority)
    P(y)     = P(good) P(y | good) + P(bad) P(y | bad)               eq. (5.3), critiqued_revision

with g_k = 1 (good), 0 (bad) or 1/2 (principle k does not apply). Book: Chapter 5, Lab 5. In
the lab::

    from personalab.exercises.ch05 import check_soft_preference
    check_soft_preference(soft_preference)
"""

from __future__ import annotations

import numpy as np

from ..align.constitution import combine_verdicts, soft_preference
from ..align.sl_cai import critiqued_revision
from .core import Exercise, Mistake, exercise_checker

# ---------------------------------------------------------------------------------------------
# Exercise 5.1: the soft preference label


def _soft_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(501)
    cases = [(rng.uniform(0.05, 0.95, n), rng.uniform(0.05, 0.95, n)) for n in (4, 7, 10)]
    cases.append((np.array([0.9, 0.2, 0.6]), np.array([0.3, 0.8, 0.6])))  # a tie in the middle
    # extreme: both certain and equal (no information: 1/2), certain and opposite, near-certain
    cases.append((np.array([1.0, 0.0, 1.0, 0.0, 1 - 1e-12]), np.array([1.0, 0.0, 0.0, 1.0, 1e-12])))
    return cases


def _naive_soft(p_a, p_b):
    """The right formula without the tie case: 0/0 = NaN when both judgements are certain alike."""
    num = p_a * (1 - p_b)
    return num / (num + p_b * (1 - p_a))


SOFT_PREFERENCE = Exercise(
    id="5.1",
    title="soft_preference",
    difficulty=1,
    minutes=10,
    signature='''def soft_preference(p_a: np.ndarray, p_b: np.ndarray) -> np.ndarray:
    """The soft label P(a > b) from two independent judgements P(good | a), P(good | b).

    Returns sigma(logit p_a - logit p_b): the probability that a is judged good and b bad,
    given that exactly one of them is (eq. 5.2); 1/2 where both are certain and equal.
    """''',
    reference=lambda p_a, p_b: soft_preference(p_a, p_b),
    cases=_soft_cases,
    mistakes=[
        Mistake(
            "normalised",
            "You normalised the two judgements, p_a / (p_a + p_b): that is the share of 'good' between the "
            "two replies, not a preference. The label is the probability that a is judged good AND b bad, "
            "given that exactly one of them is: p_a (1 - p_b) / (p_a (1 - p_b) + p_b (1 - p_a)).",
            lambda p_a, p_b: p_a / (p_a + p_b),
        ),
        Mistake(
            "difference",
            "A difference of probabilities is not a preference probability: the label is "
            "sigma(logit p_a - logit p_b), which equals p_a (1 - p_b) / (p_a (1 - p_b) + p_b (1 - p_a)).",
            lambda p_a, p_b: 0.5 + (p_a - p_b) / 2,
        ),
        Mistake(
            "swapped",
            "Your label prefers b: it should be large when a is judged good and b bad (p_a high, p_b low). "
            "You have a and b the other way round.",
            lambda p_a, p_b: soft_preference(p_b, p_a),
        ),
        Mistake(
            "no_tie_case",
            "Right formula, but 0/0 where both judgements are certain and equal (p_a = p_b = 1, or both 0): "
            "then neither 'a good, b bad' nor 'a bad, b good' can happen, the judgements carry no "
            "preference, and the label is 1/2. Use np.divide(..., where=den > 0) with 1/2 elsewhere.",
            _naive_soft,
        ),
    ],
)

# ---------------------------------------------------------------------------------------------
# Exercise 5.2: the gold judge


def _gold_cases() -> list[tuple[list, bool]]:
    return [
        (["good", "bad", None], False),
        (["bad", "bad", None, "good"], False),
        ([None, "bad", "good"], True),
        ([None, None, "good", "bad"], True),
        (["bad", "good", "good"], True),
        (["good", None], False),
        ([None, "good", "bad"], False),
        ([None, None, None], True),  # extreme: no principle applies
    ]


GOLD_JUDGE = Exercise(
    id="5.2",
    title="gold_judge",
    difficulty=1,
    minutes=10,
    signature='''def gold_judge(verdicts: list, priority: bool) -> float:
    """A constitution's P(good) from each principle's verdict, in the constitution's order.

    verdicts: "good", "bad" or None (the principle does not apply) for each principle.
    Sampled (priority False): the mean of 1 (good), 0 (bad) and 1/2 (does not apply).
    Priority-ordered: the first verdict that is not None decides; 1/2 if all are None.
    """''',
    reference=combine_verdicts,
    cases=_gold_cases,
    mistakes=[
        Mistake(
            "skips_inapplicable",
            "A principle that does not apply still gets drawn (sampled constitution): the judge then has "
            "no verdict and says good or bad with probability 1/2 each. Count it as 1/2 instead of "
            "leaving it out of the mean.",
            lambda v, pr: (
                combine_verdicts(v, pr)
                if pr
                else float(np.mean([{"good": 1.0, "bad": 0.0}[x] for x in v if x is not None] or [0.5]))
            ),
        ),
        Mistake(
            "priority_ignored",
            "priority=True means the first principle that applies decides; you averaged the verdicts as a "
            "sampled constitution does.",
            lambda v, pr: combine_verdicts(v, False),
        ),
        Mistake(
            "priority_stops_at_none",
            "With a priority order, a principle that does not apply passes the decision to the next one: "
            "skip the None verdicts and let the first principle that applies decide.",
            lambda v, pr: {"good": 1.0, "bad": 0.0, None: 0.5}[v[0]] if pr else combine_verdicts(v, pr),
        ),
        Mistake(
            "priority_last",
            "The constitution lists its principles highest first: the FIRST principle that applies decides, "
            "not the last.",
            lambda v, pr: combine_verdicts(list(reversed(v)), pr),
        ),
    ],
)

# ---------------------------------------------------------------------------------------------
# Exercise 5.3: one round of critique and revision


def _simplex(rng: np.random.Generator, b: int, o: int) -> np.ndarray:
    x = rng.gamma(1.0, size=(b, o))
    return x / x.sum(1, keepdims=True)


def _revision_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(503)
    cases = [(rng.uniform(0.1, 0.9, b), _simplex(rng, b, o), _simplex(rng, b, o)) for b, o in ((3, 2), (5, 3), (4, 5))]
    # extreme: certain critiques (0 and 1) and revisions that put all their mass on one outcome
    eye = np.eye(3)
    cases.append((np.array([1.0, 0.0, 0.5]), eye[[0, 1, 2]], eye[[2, 0, 1]]))
    return cases


CRITIQUED_REVISION = Exercise(
    id="5.3",
    title="critiqued_revision",
    difficulty=2,
    minutes=10,
    signature='''def critiqued_revision(p_good: np.ndarray, after_good: np.ndarray,
                       after_bad: np.ndarray) -> np.ndarray:
    """One round of critique and revision (eq. 5.3).

    p_good: (B,) the probability that the critique of each query says "good".
    after_good, after_bad: (B, O) the reviser's probability of each outcome after a "good"
        and after a "bad" critique.
    Returns (B, O): P(good) P(y | good) + P(bad) P(y | bad).
    """''',
    reference=critiqued_revision,
    cases=_revision_cases,
    mistakes=[
        Mistake(
            "swapped",
            "P(good) weights the revision written after a 'good' critique: you weighted after_bad with "
            "p_good and after_good with 1 - p_good.",
            lambda p, a, b: critiqued_revision(1 - p, a, b),
        ),
        Mistake(
            "half_and_half",
            "The two critiques are not equally likely: weight after_good by p_good and after_bad by "
            "1 - p_good, not 1/2 each.",
            lambda p, a, b: 0.5 * a + 0.5 * b,
        ),
        Mistake(
            "critique_ignored",
            "You always revised as if the critique said 'bad'. The critique is drawn first: with "
            "probability p_good it says 'good', and the reviser then writes from after_good.",
            lambda p, a, b: np.array(b, dtype=float),
        ),
    ],
)

EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in (SOFT_PREFERENCE, GOLD_JUDGE, CRITIQUED_REVISION)}

check_soft_preference = exercise_checker(SOFT_PREFERENCE)
check_gold_judge = exercise_checker(GOLD_JUDGE)
check_critiqued_revision = exercise_checker(CRITIQUED_REVISION)

CHECKERS = {
    "5.1": check_soft_preference,
    "5.2": check_gold_judge,
    "5.3": check_critiqued_revision,
}
