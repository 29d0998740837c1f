"""In-context persona inference: does the model update on evidence the way Bayes does?

Book: Chapter 1 (section *In-context inference*), Lab 1 claim 2. Xie et al. (2021) read
in-context learning as implicit Bayesian inference over a latent "concept"; in PersonaWorld
the latent is the persona and the exact posterior is known, so the model's update can be
compared with the exact one, context by context.

The probe used throughout: ``k`` earlier turns in which the persona answered a yes/no
question wrongly (or rightly), then a harmful request. A wrong answer is evidence for the
Villain, who also complies with harm; the exact P(comply) rises with ``k``. Does the model's?
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..world import PersonaWorld
from .replies import reply_distribution, world_outcome_probs


def answered_turn(world: PersonaWorld, fact: str, truth: bool, style: str, wrong: bool) -> str:
    """One question turn, e.g. ``user : is fire hot ? assistant : well no .`` (a wrong answer),
    rendered by the world's ``question`` kind; ``fact`` is ``"subject property"``."""
    kind = world.grammar.kinds["question"]
    subject = fact.split()[0]
    return kind.render_turn((subject, truth), kind.answer_outcome(wrong), style) + " "


def harmful_contexts(world: PersonaWorld) -> list[str]:
    """Every harmful request as a single-turn context ``user : ... assistant :``."""
    kind = world.grammar.kinds["request"]
    return [kind.render_context(info) for info in kind.requests_of(harmful=True)]


@dataclass
class EvidenceCurve:
    """Model vs exact P(comply) after ``k`` answered questions, for each ``k``."""

    ks: tuple[int, ...]
    wrong: bool
    contexts: list[list[str]]  # per k
    model: list[np.ndarray]  # per k: (n,) model P(comply) per context
    bayes: list[np.ndarray]  # per k: (n,) exact P(comply) per context

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        return np.array([m.mean() for m in self.model]), np.array([b.mean() for b in self.bayes])

    def captured(self, k: int) -> float:
        """Fraction of the exact shift from k=0 to ``k`` that the model reproduces."""
        m, b = self.means()
        i, i0 = self.ks.index(k), self.ks.index(0)
        return float((m[i] - m[i0]) / (b[i] - b[i0]))

    def correlation(self) -> float:
        """Pearson correlation of model and exact P(comply) over all contexts with k >= 1."""
        m = np.concatenate([x for k, x in zip(self.ks, self.model) if k > 0])
        b = np.concatenate([x for k, x in zip(self.ks, self.bayes) if k > 0])
        return float(np.corrcoef(m, b)[0, 1])


def evidence_curve(
    model, world: PersonaWorld, ks=(0, 1, 2, 3), *, wrong: bool = True, n: int = 96, seed: int = 0
) -> EvidenceCurve:
    """P(comply with a harmful request) after ``k`` wrongly (or rightly) answered questions.

    For each ``k``, ``n`` random contexts: facts, style words (drawn from the prior mixture
    of style distributions, as in the world's own documents) and the final harmful request
    are random with ``seed``.
    """
    rng = np.random.default_rng(seed)
    facts = [(f"{s} {p}", t) for (s, p), t in world.grammar.kinds["question"].facts.items()]
    harmful = harmful_contexts(world)
    style_p = world.prior @ world.grammar.trait_tables["style"]
    all_ctx, model_p, bayes_p = [], [], []
    for k in ks:
        ctxs = []
        for _ in range(n if k > 0 else len(harmful)):
            hist = ""
            for _ in range(k):
                fact, truth = facts[rng.integers(len(facts))]
                style = world.config.style_words[rng.choice(len(style_p), p=style_p)]
                hist += answered_turn(world, fact, truth, style, wrong)
            request = harmful[rng.integers(len(harmful))] if k > 0 else harmful[len(ctxs)]
            ctxs.append(hist + request)
        rd = reply_distribution(model, world, ctxs)
        all_ctx.append(ctxs)
        model_p.append(np.array([rd.outcome_probs(i)["comply"] for i in range(len(ctxs))]))
        bayes_p.append(np.array([world_outcome_probs(world, c)["comply"] for c in ctxs]))
    return EvidenceCurve(tuple(ks), wrong, all_ctx, model_p, bayes_p)


def evidence_report(model, world: PersonaWorld) -> dict[str, float]:
    """P(comply with a harmful request) with no earlier turn, after one wrongly answered fact
    question, and after one rightly answered one -- for the model and for the Bayes
    predictor, averaged exhaustively over every fact, style word and harmful request.
    Recorded in the base checkpoint's metadata and asserted by the test suite.
    """
    kinds = world.grammar.kinds
    harmful = harmful_contexts(world)
    histories: dict[str, list[str]] = {"none": [""], "wrong": [], "right": []}
    for (s, p), truth in kinds["question"].facts.items():
        for style in world.config.style_words:
            for name, wrong in (("right", False), ("wrong", True)):
                histories[name].append(answered_turn(world, f"{s} {p}", truth, style, wrong))
    out: dict[str, float] = {}
    for name, hist in histories.items():
        contexts = [h + r for h in hist for r in harmful]
        rd = reply_distribution(model, world, contexts)
        model_probs = [rd.outcome_probs(i)["comply"] for i in range(len(contexts))]
        out[f"comply_after_{name}_model"] = float(np.mean(model_probs))
        out[f"comply_after_{name}_bayes"] = float(np.mean([world_outcome_probs(world, c)["comply"] for c in contexts]))
    return out
