"""AI feedback: preference labels from a feedback model that judges by a constitution.

Book: Chapter 5 (section *RL from AI feedback*); Lab 5; DESIGN section 8. In RL-CAI (Bai et
al. 2022, section 4) a pre-trained model is shown a prompt and two replies, asked which
better follows a principle drawn at random from the constitution, and its normalised
probabilities become soft preference labels for a preference model. Here the replies are
Chapter 3's: every reply the world can write to a single-turn prompt
(:class:`~personalab.align.raters.ResponseTable`). The feedback model judges each reply
under each principle with a ``judge`` turn (:mod:`.constitution`), so

    P_m(good | i, k)   prompt i, reply k, principle m                    (judgement_table)

is computed once per distinct (principle, prompt, content token) -- style words carry no
verdict. A comparison of replies a and b under a principle m drawn uniformly from the
constitution (or, priority-ordered, under the first principle that applies to the prompt)
has the soft label of :func:`~.constitution.soft_preference`, and its expected label is

    L(a ≻ b | i) = (1/M) Σ_m σ(logit P_m(good | i, a) − logit P_m(good | i, b)).

:func:`sample_ai_preferences` draws comparisons as Chapter 3's raters do
(:func:`~personalab.align.rewards.sample_preferences`), with the AI feedback's choice in
place of the raters', so every reward model, RLHF and DPO routine of Chapters 3 and 4 runs on
AI labels unchanged. The judge can be a model, the world's exact Bayes judge (``model=None``)
or the constitution's gold judge (``gold=True``: the principle's own verdict, 1/2 where it
does not apply) -- the three references Lab 5 compares.

**The reward the labels define** (:func:`label_reward`): a Bradley–Terry reward model
trained on infinitely many such comparisons converges, prompt by prompt, to the r that
minimises the expected cross-entropy of its choice probabilities against the labels,

    r*(i) = argmin_r Σ_{a≠b} π(a|i) π(b|i) [−L(a ≻ b | i) log σ(r_a − r_b)],

a convex problem solved here exactly (Newton's method, r centred on each prompt). With one
principle the labels are Bradley–Terry in logit P(good), and r* is that logit; with sampled
principles they need not be, and r* is the best Bradley–Terry summary of them. π* of the AI
feedback reward is then Chapter 4's KL-regularised optimum of r*
(:func:`~personalab.align.dpo.kl_optimum`): RLAIF's exact reference.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..evals.replies import situations
from ..numerics import sigmoid
from .constitution import Constitution, feedback_probs, judge_context, soft_preference
from .raters import Raters, ResponseTable
from .rewards import Preferences, sample_preferences


@dataclass(frozen=True)
class FeedbackTable:
    """The feedback model's P(good) for every reply of a response table under each principle."""

    table: ResponseTable
    constitution: Constitution
    p_good: np.ndarray  # (N, K, M): prompt i, reply k, principle m
    applies: np.ndarray  # (N, M) bool: principle m gives a verdict on some reply to prompt i
    mix: tuple[float, ...] | None = None  # sampled constitutions: P(principle m); None = uniform

    def __post_init__(self):
        if self.mix is None:
            return
        mix = np.asarray(self.mix, dtype=np.float64)
        M = len(self.constitution.principles)
        if self.constitution.priority:
            raise UsageError("a priority-ordered constitution has no sampling mix: drop mix= or use priority: false")
        if mix.shape != (M,) or (mix < 0).any() or not np.isclose(mix.sum(), 1.0):
            raise ValueError(f"mix must be {M} non-negative probabilities summing to 1 per principle; got {self.mix}")

    def with_mix(self, mix: Sequence[float]) -> FeedbackTable:
        """The same judgements, with principle m drawn with probability ``mix[m]`` (Lab 5's
        frontier over the harm-to-help mix)."""
        return dataclasses.replace(self, mix=tuple(float(x) for x in mix))

    def principle_weights(self) -> np.ndarray:
        """(N, M) how often each principle judges a comparison on prompt i: uniformly (or by
        ``mix``) when sampled; the first principle that applies when priority-ordered
        (uniform if none)."""
        N, M = self.applies.shape
        if not self.constitution.priority:
            return np.tile(np.full(M, 1 / M) if self.mix is None else np.asarray(self.mix), (N, 1))
        w = np.zeros((N, M))
        first = np.where(self.applies.any(1), self.applies.argmax(1), -1)
        w[first >= 0, first[first >= 0]] = 1.0
        w[first < 0] = 1 / M
        return w

    def label(self, i: int, a: int, b: int, clamp: tuple[float, float] | None = None) -> float:
        """The expected soft label L(a ≻ b | i) (module docstring)."""
        labels = soft_preference(self.p_good[i, a], self.p_good[i, b], clamp=clamp)  # (M,)
        return float(self.principle_weights()[i] @ labels)


def judgement_table(
    table: ResponseTable,
    constitution: Constitution,
    model=None,
    *,
    shots: Sequence[tuple] = (),
    gold: bool = False,
) -> FeedbackTable:
    """P(good) of every reply in ``table`` under every principle of ``constitution``: from
    ``model`` prompted after the fair demonstrations ``shots`` (``judge`` infos), exactly
    (``model=None``: the world's Bayes judge after the same prefix), or the principle's own
    verdict (``gold=True``)."""
    if gold and (model is not None or shots):
        raise UsageError("gold=True is the constitution's own verdict: give no model and no shots")
    world = table.world
    sits = situations(world, table.prompts)
    keys: dict[tuple, int] = {}
    index = np.zeros((len(table), table.gold.shape[1], len(constitution.principles)), dtype=np.int64)
    applies = np.zeros((len(table), len(constitution.principles)), dtype=bool)
    verdict_of = world.grammar.kinds["judge"].verdict if "judge" in world.grammar.kinds else None
    if verdict_of is None:
        raise UsageError("AI feedback needs the extended world's 'judge' kind (personalab.world.extended)")
    for i, sit in enumerate(sits):
        for k, outcome in enumerate(table.outcome[i]):
            for m, principle in enumerate(constitution.principles):
                key = (principle, sit.kind, sit.info, str(outcome))
                index[i, k, m] = keys.setdefault(key, len(keys))
                applies[i, m] |= verdict_of(key) is not None
    unique = list(keys)
    if gold:
        score = {"good": 1.0, "bad": 0.0, None: 0.5}
        values = np.array([score[verdict_of(key)] for key in unique])
    else:
        values = feedback_probs(model, world, [judge_context(world, key, shots) for key in unique])
    return FeedbackTable(table, constitution, values[index], applies)


def sample_ai_preferences(
    feedback: FeedbackTable,
    policy_probs: np.ndarray,
    n_pairs: int,
    seed: int = 0,
    clamp: tuple[float, float] | None = None,
) -> tuple[Preferences, np.ndarray]:
    """``n_pairs`` comparisons as :func:`~personalab.align.rewards.sample_preferences` draws
    them (a prompt uniformly, two different replies from the policy), each judged under one
    principle drawn from :meth:`FeedbackTable.principle_weights` and chosen with that
    judgement's soft label. Returns the preferences and (n_pairs,) the soft labels
    P(chosen ≻ rejected) that decided them (for soft-label training)."""
    # The pairs are drawn exactly as Chapter 3's raters see them; their (unbiased) choice is
    # then replaced by the AI feedback's.
    pairs = sample_preferences(feedback.table, policy_probs, Raters(), n_pairs, seed=seed)
    prompt, a, b = pairs.prompt, pairs.chosen, pairs.rejected
    rng = np.random.default_rng([seed, 5])
    weights = feedback.principle_weights()
    principle = np.array([rng.choice(weights.shape[1], p=weights[i]) for i in prompt])
    p_ab = soft_preference(feedback.p_good[prompt, a, principle], feedback.p_good[prompt, b, principle], clamp=clamp)
    first = rng.random(n_pairs) < p_ab
    chosen, rejected = np.where(first, a, b), np.where(first, b, a)
    return Preferences(feedback.table, prompt, chosen, rejected), np.where(first, p_ab, 1 - p_ab)


def expected_labels(feedback: FeedbackTable, clamp: tuple[float, float] | None = None) -> np.ndarray:
    """(N, K, K) the expected soft label L(a ≻ b | i) of every pair of replies."""
    pg = feedback.p_good  # (N, K, M)
    labels = soft_preference(pg[:, :, None, :], pg[:, None, :, :], clamp=clamp)  # (N, K, K, M)
    return np.einsum("nabm,nm->nab", labels, feedback.principle_weights())


def label_reward(
    feedback: FeedbackTable,
    policy_probs: np.ndarray,
    *,
    clamp: tuple[float, float] | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
) -> np.ndarray:
    """(N, K) r*: the reward a Bradley–Terry model converges to on comparisons of replies drawn
    from ``policy_probs`` (every reply needs probability > 0) and labelled by ``feedback``
    (module docstring), centred on each prompt."""
    probs = np.asarray(policy_probs, dtype=np.float64)
    if probs.shape != feedback.table.gold.shape:
        raise ValueError(f"policy_probs must have shape {feedback.table.gold.shape}, got {probs.shape}")
    if (probs <= 0).any():
        raise ValueError("every reply needs probability > 0 under the sampling policy, or r* is not determined")
    L = expected_labels(feedback, clamp)
    K = probs.shape[1]
    off = 1 - np.eye(K)
    reward = np.zeros(probs.shape)
    for i in range(len(probs)):
        w = np.outer(probs[i], probs[i]) * off
        r = np.zeros(K)
        for _ in range(max_iter):
            d = r[:, None] - r[None, :]
            s = sigmoid(d)
            grad = (w * (s - L[i])).sum(1)
            if np.abs(grad).max() < tol:
                break
            h = w * s * (1 - s)
            hess = np.diag(h.sum(1)) - h + np.full((K, K), 1.0 / K)  # the last term fixes the mean
            r = r - np.linalg.solve(hess, grad)
            r -= r.mean()
        else:
            raise RuntimeError(f"label_reward did not converge on prompt {i} (gradient {np.abs(grad).max():.2e})")
        reward[i] = r
    return reward


def rates_of(table: ResponseTable, probs: np.ndarray) -> dict[str, float]:
    """The four behaviour rates (honesty, sycophancy, harmful compliance, over-refusal) of a reply
    distribution over ``table`` ((N, K), e.g. an exact optimum π*): P(correct) on questions,
    P(agree) on wrong beliefs, P(comply) on harmful and P(refuse) on benign requests, each
    averaged over the suite's prompts, as :func:`~personalab.evals.behaviour.behaviour_rates`
    measures a model (there, off-world mass counts against every rate)."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != table.gold.shape:
        raise ValueError(f"probs must have shape {table.gold.shape} (prompts x replies), got {probs.shape}")
    sits = situations(table.world, table.prompts)
    suites = {
        "honesty": ("correct", [s.kind == "question" for s in sits]),
        "sycophancy": ("agree", [s.kind == "belief" and s.info[1] != s.info[2] for s in sits]),
        "harmful_compliance": ("comply", [s.kind == "request" and bool(s.info[2]) for s in sits]),
        "over_refusal": ("refuse", [s.kind == "request" and not s.info[2] for s in sits]),
    }
    out = {}
    for name, (outcome, rows) in suites.items():
        rows = np.array(rows)
        if not rows.any():
            raise ValueError(f"the table has no prompts of the {name} suite")
        out[name] = float((probs[rows] * (table.outcome[rows] == outcome)).sum(1).mean())
    return out
