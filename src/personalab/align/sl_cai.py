"""SL-CAI: critique and revise a model's replies against a constitution, then fine-tune on
the revisions.

Book: Chapter 5 (section *Critique and revision*); Lab 5, question 2; DESIGN section 8. In
the supervised stage of Constitutional AI (Bai et al. 2022, section 3) a model's reply to a
red-team prompt is critiqued against a principle drawn at random from the constitution, then
revised in the light of the critique, and a pre-trained model is fine-tuned on the revised
replies. In the extended world every step is a turn the base model has seen in
pre-training:

* the **reply** y₀ ~ π₀(· | x) of a responder (here: a table of reply probabilities);
* the **critique** c ∈ {good, bad} ~ P_critic(· | judge m x y₀), a ``judge`` turn
  (:func:`~.constitution.judge_context`), principle m drawn uniformly (sampled
  constitutions) or the first that applies to the reply (priority order);
* the **revision** y ~ P_reviser(· | [judge turn answered c] revise m x y₀), a ``revise``
  turn (:func:`~.constitution.revision_context`); a revision the world cannot write (the
  model's off-world mass) is dropped, as a generated sample that fails to parse would be;
* the **training document**: the prompt x answered by y in a style word drawn uniformly.

Two exact references (:func:`revision_references`), per prompt, over the outcomes a reply
can mean:

    T(y | x) = Σ_y₀ π₀(y₀ | x) Σ_m w_m 1[y = target_m(x, y₀)]          (the fair reviser)
    D(y | x) ∝ Σ_y₀ π₀(y₀ | x) Σ_m w_m Σ_c P(c) P_reviser(y | c, m, x, y₀)   (the data)

T is what revision would produce if every critique were fair and every revision followed the
principle (:meth:`~.constitution.Constitution.revision_target`); D is the expected outcome of
the documents this pipeline actually keeps (normalised over in-world revisions), so
fine-tuning that imitated its data prompt by prompt would converge to D. With several rounds
each round revises the last one's reply, a Markov chain over outcomes (T and D are its
powers). :func:`outcome_distance` is the total-variation distance of a policy from either,
counting its off-world mass as an outcome of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets import corpus_from_texts
from ..evals.replies import situations
from ..world import Corpus
from .constitution import Constitution, feedback_probs, judge_context, revision_context, revision_probs
from .raters import ResponseTable

OFF_WORLD = "off-world"


@dataclass(frozen=True)
class Revisions:
    """The SL-CAI documents and how each was made (one entry per kept sample)."""

    corpus: Corpus  # prompt + revised reply, one document per kept sample
    row: np.ndarray  # (n,) the prompt's row in the table
    principle: list[str]  # the first round's principle
    original: list[str]  # outcome of the responder's reply
    critique: list[str | None]  # the first round's critique ("good" / "bad"; None: no critique)
    revised: list[str]  # outcome of the last revision (the document's reply)
    p_target: np.ndarray  # (n,) the first round's probability of its principle's target outcome
    dropped: int  # samples whose revision the world cannot write

    def __len__(self) -> int:
        return len(self.row)


def outcomes_of(table: ResponseTable) -> tuple[str, ...]:
    """The outcome names of the table's replies, in a fixed order."""
    return tuple(sorted({str(o) for o in np.unique(table.outcome)}))


def outcome_probs(table: ResponseTable, probs: np.ndarray, off: np.ndarray | None = None) -> np.ndarray:
    """(N, O + 1) a policy's probability of each outcome (:func:`outcomes_of`) and, last, its
    off-world mass; ``probs`` are :meth:`~personalab.align.raters.ResponseTable.policy_probs`'s renormalised replies."""
    names = outcomes_of(table)
    off = np.zeros(len(table)) if off is None else np.asarray(off, dtype=np.float64)
    cols = [(probs * (table.outcome == name)).sum(1) * (1 - off) for name in names]
    return np.stack([*cols, off], 1)


def outcome_distance(table: ResponseTable, probs: np.ndarray, off: np.ndarray | None, reference: np.ndarray) -> float:
    """Mean over prompts of the total-variation distance between a policy's outcome
    distribution (off-world included) and ``reference`` ((N, O + 1), e.g. from
    :func:`revision_references`)."""
    return float(0.5 * np.abs(outcome_probs(table, probs, off) - reference).sum(1).mean())


def _principle_weights(constitution: Constitution, kind: str, info, outcome: str) -> np.ndarray:
    """How often each principle revises this reply: uniformly (sampled), or the first that
    gives a verdict on it (priority; the first principle if none does, which keeps it)."""
    m = len(constitution.principles)
    if not constitution.priority:
        return np.full(m, 1 / m)
    verdicts = constitution.verdicts(kind, info, outcome)
    first = next((j for j, v in enumerate(verdicts) if v is not None), 0)
    return np.eye(m)[first]


class _Pipeline:
    """The cached judge and revise probabilities of every (principle, prompt, reply)."""

    def __init__(self, table: ResponseTable, constitution: Constitution, reviser, critic, critique: bool):
        self.table, self.constitution, self.critique = table, constitution, critique
        world = table.world
        self.world = world
        self.sits = situations(world, table.prompts)
        self.revise_kind = world.grammar.kinds.get("revise")
        if self.revise_kind is None or "judge" not in world.grammar.kinds:
            raise ValueError("SL-CAI needs the extended world's 'judge' and 'revise' kinds (personalab.world.extended)")
        self.queries = sorted(
            {
                (p, s.kind, s.info, str(o))
                for s, row in zip(self.sits, table.outcome)
                for o in set(row)
                for p in constitution.principles
            },
            key=repr,
        )
        self.index = {q: j for j, q in enumerate(self.queries)}
        if critique:
            self.p_good = feedback_probs(critic, world, [judge_context(world, q) for q in self.queries])
            ctx = [revision_context(world, q, c) for q in self.queries for c in ("good", "bad")]
            rev = revision_probs(reviser, world, ctx)
            pairs = [(q, c) for q in self.queries for c in ("good", "bad")]
            self.revision = dict(zip(pairs, rev))
        else:
            rev = revision_probs(reviser, world, [revision_context(world, q) for q in self.queries])
            self.revision = {(q, None): r for q, r in zip(self.queries, rev)}

    def target(self, q) -> str:
        return self.revise_kind.target(q)

    def critiques(self, q) -> list[tuple[str | None, float]]:
        if not self.critique:
            return [(None, 1.0)]
        g = float(self.p_good[self.index[q]])
        return [("good", g), ("bad", 1 - g)]


def critique_revise(
    table: ResponseTable,
    constitution: Constitution,
    responder_probs: np.ndarray,
    reviser,
    n: int,
    *,
    critique: bool = True,
    critic=None,
    rows: np.ndarray | list[int] | None = None,
    rounds: int = 1,
    seed: int = 0,
) -> Revisions:
    """``n`` SL-CAI samples (module docstring): a prompt of ``table`` drawn uniformly, the
    responder's reply drawn from ``responder_probs`` ((N, K), e.g. a model's
    :meth:`~.raters.ResponseTable.policy_probs`), a principle, a critique from ``critic``
    (default: the reviser) if ``critique``, and a revision from ``reviser`` (a model, or
    ``None``: the world's exact Bayes predictor). ``rows``: the table rows to draw prompts
    from (default: all; Bai et al. revise replies to red-team prompts only). ``rounds``: how
    many times each reply is critiqued and revised, each round with a new principle, the
    last revision kept (Bai et al. used up to four)."""
    probs = np.asarray(responder_probs, dtype=np.float64)
    if probs.shape != table.gold.shape:
        raise ValueError(f"responder_probs must have shape {table.gold.shape} (prompts x replies), got {probs.shape}")
    if n < 1 or rounds < 1:
        raise ValueError(f"n and rounds must be at least 1, not n={n}, rounds={rounds}")
    pool = np.arange(len(table)) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(pool) == 0 or pool.min() < 0 or pool.max() >= len(table):
        raise ValueError(f"rows must be a non-empty list of table rows in 0..{len(table) - 1}")
    pipe = _Pipeline(table, constitution, reviser, reviser if critic is None else critic, critique)
    rng = np.random.default_rng([seed, 52])
    world, styles = table.world, table.world.config.style_words
    rows, principles, originals, critiques, revised, p_target, texts = [], [], [], [], [], [], []
    dropped = 0
    for _ in range(n):
        i = int(pool[rng.integers(len(pool))])
        sit = pipe.sits[i]
        original = str(table.outcome[i, rng.choice(probs.shape[1], p=probs[i] / probs[i].sum())])
        y, kept = original, True
        for r in range(rounds):
            w = _principle_weights(constitution, sit.kind, sit.info, y)
            principle = constitution.principles[rng.choice(len(w), p=w)]
            q = (principle, sit.kind, sit.info, y)
            choices = pipe.critiques(q)
            c = choices[0][0] if len(choices) == 1 else ("good" if rng.random() < choices[0][1] else "bad")
            rev = pipe.revision[q, c]
            names, ps = list(rev), np.array(list(rev.values()))
            if r == 0:  # the first round's principle, critique and probability of its target
                first = (principle, c, rev.get(pipe.target(q), 0.0))
            y = names[rng.choice(len(names), p=ps / ps.sum())]
            if y == OFF_WORLD:
                kept = False
                break
        if not kept:
            dropped += 1
            continue
        rows.append(i)
        principles.append(first[0])
        originals.append(original)
        critiques.append(first[1])
        revised.append(y)
        p_target.append(first[2])
        turn = world.grammar.kinds[sit.kind].render_turn(sit.info, y, styles[rng.integers(len(styles))])
        texts.append(f"<bos> {turn} <eos>")
    if not texts:
        raise ValueError("every revision was off-world: the reviser cannot write this world's replies")
    return Revisions(
        corpus_from_texts(world, texts),
        np.array(rows),
        principles,
        originals,
        critiques,
        revised,
        np.array(p_target),
        dropped,
    )


def critiqued_revision(p_good, after_good, after_bad) -> np.ndarray:
    """One round of critique and revision: P(y) = P(good) P(y | good) + P(bad) P(y | bad),
    the critique drawn first, then the revision after it. ``p_good``: (...,) P(the critique
    says good); ``after_good``, ``after_bad``: (..., O) the reviser's outcome probabilities
    after each critique, over the same O outcomes; returns (..., O). Lab 5's exercise 5.3."""
    p = np.asarray(p_good, dtype=np.float64)
    a, b = np.asarray(after_good, dtype=np.float64), np.asarray(after_bad, dtype=np.float64)
    if ((p < 0) | (p > 1)).any():
        raise ValueError("p_good must be probabilities in [0, 1]")
    if a.shape != b.shape or a.shape[:-1] != p.shape:
        raise ValueError(f"after_good and after_bad must both have shape p_good.shape + (O,); got {a.shape}, {b.shape}")
    return p[..., None] * a + (1 - p[..., None]) * b


def _revision(pipe: _Pipeline, q) -> dict[str, float]:
    """P(revised outcome) of one round on query q, critique mixed in (off-world included)."""
    if not pipe.critique:
        return pipe.revision[q, None]
    good, bad = pipe.revision[q, "good"], pipe.revision[q, "bad"]
    keys = list(dict.fromkeys([*good, *bad]))
    mixed = critiqued_revision(
        pipe.p_good[pipe.index[q]], [good.get(y, 0.0) for y in keys], [bad.get(y, 0.0) for y in keys]
    )
    return dict(zip(keys, map(float, mixed)))


def _transitions(pipe: _Pipeline, i: int, exact_target: bool) -> np.ndarray:
    """(O, O) one round's outcome transition on prompt row i: from the reply's outcome to
    the revision's, mixing principles and critiques; sub-stochastic, the missing mass being
    the off-world revisions that are dropped. With ``exact_target`` the fair reviser's (the
    principle's target)."""
    names = outcomes_of(pipe.table)
    col = {name: j for j, name in enumerate(names)}
    sit = pipe.sits[i]
    M = np.zeros((len(names), len(names)))
    for original in {str(o) for o in pipe.table.outcome[i]}:
        w = _principle_weights(pipe.constitution, sit.kind, sit.info, original)
        for principle, wm in zip(pipe.constitution.principles, w):
            if wm == 0:
                continue
            q = (principle, sit.kind, sit.info, original)
            if exact_target:
                M[col[original], col[pipe.target(q)]] += wm
                continue
            for y, p in _revision(pipe, q).items():
                if y != OFF_WORLD:
                    M[col[original], col[y]] += wm * p
    return M


def revision_success(
    table: ResponseTable,
    constitution: Constitution,
    responder_probs: np.ndarray,
    reviser=None,
    *,
    critique: bool = True,
    critic=None,
    rows: np.ndarray | list[int] | None = None,
) -> float:
    """The reviser's expected probability of writing the principle's target, over the replies
    that need a revision -- those the drawn principle calls bad -- weighted as
    :func:`critique_revise` draws them (prompt uniform over ``rows``, reply from the responder,
    principle from the constitution): one round, exactly."""
    probs = np.asarray(responder_probs, dtype=np.float64)
    probs = probs / probs.sum(1, keepdims=True)
    pipe = _Pipeline(table, constitution, reviser, reviser if critic is None else critic, critique)
    pool = range(len(table)) if rows is None else rows
    num = den = 0.0
    for i in pool:
        sit = pipe.sits[i]
        for k, original in enumerate(map(str, table.outcome[i])):
            w = _principle_weights(constitution, sit.kind, sit.info, original)
            for m, (principle, wm) in enumerate(zip(constitution.principles, w)):
                if wm == 0 or constitution.verdicts(sit.kind, sit.info, original)[m] != "bad":
                    continue
                q = (principle, sit.kind, sit.info, original)
                num += probs[i, k] * wm * _revision(pipe, q).get(pipe.target(q), 0.0)
                den += probs[i, k] * wm
    if den == 0:
        raise ValueError("no reply in these rows needs a revision under this constitution")
    return num / den


def revision_references(
    table: ResponseTable,
    constitution: Constitution,
    responder_probs: np.ndarray,
    reviser=None,
    *,
    critique: bool = True,
    critic=None,
    rounds: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """(T, D), each (N, O + 1) over :func:`outcomes_of` and off-world (always 0 here): the
    fair reviser's target and the expected outcome of :func:`critique_revise`'s documents
    (module docstring), exactly, for the same responder, reviser, critic and number of
    rounds (each round revises the previous round's reply: a Markov chain over outcomes)."""
    probs = np.asarray(responder_probs, dtype=np.float64)
    probs = probs / probs.sum(1, keepdims=True)
    pipe = _Pipeline(table, constitution, reviser, reviser if critic is None else critic, critique)
    names = outcomes_of(table)
    T = np.zeros((len(table), len(names) + 1))
    D = np.zeros_like(T)
    for i in range(len(table)):
        start = np.array([probs[i][table.outcome[i] == name].sum() for name in names])
        T[i, :-1] = start @ np.linalg.matrix_power(_transitions(pipe, i, True), rounds)
        kept = start @ np.linalg.matrix_power(_transitions(pipe, i, False), rounds)
        D[i, :-1] = kept / kept.sum()  # the documents that were kept (no off-world revision)
    return T, D


def revision_rate(revisions: Revisions) -> float:
    """The share of kept samples whose revision differs from the original reply."""
    return float(np.mean([a != b for a, b in zip(revisions.original, revisions.revised)]))


__all__ = [
    "OFF_WORLD",
    "Revisions",
    "critique_revise",
    "critiqued_revision",
    "outcome_distance",
    "outcome_probs",
    "outcomes_of",
    "revision_rate",
    "revision_references",
    "revision_success",
]
