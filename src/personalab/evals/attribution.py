"""Persona attribution: which persona would have written what a model says?

Book: Chapter 2 (section *The persona mix*). This is how the book makes the Persona
Selection Model (Marks, Lindsey & Olah 2026) measurable: for any reply a policy produces,
PersonaWorld gives the exact posterior over the pre-training personas that could have
written the whole dialogue. Averaged over a prompt suite, it is the policy's **persona
mix**; post-training that "selects the Assistant" should move it toward one persona.

Two estimators of the same quantity:

* :func:`persona_mix` -- exact: sum over every (style, content) reply, weighted by the
  model's probability of it (see :mod:`personalab.evals.replies`);
* :func:`attribute` -- the posterior of given (e.g. sampled) documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..model import GPT
from ..world import PersonaWorld
from .replies import reply_distribution


@dataclass
class PersonaMix:
    """Mean posterior over personas of a policy's replies, plus the mass the world cannot explain."""

    personas: tuple[str, ...]
    mix: np.ndarray  # (P,) sums to 1 - off_world
    off_world: float
    per_context: np.ndarray  # (N, P)

    def as_dict(self) -> dict[str, float]:
        return {p: float(v) for p, v in zip(self.personas, self.mix)}


def _require_persona_world(world: PersonaWorld) -> None:
    if world.config.coupling != "persona":
        raise ValueError(
            "persona attribution needs a world where one persona writes a document (coupling 'persona'); "
            "attribute text with the structured world, e.g. PersonaWorld.default()"
        )


def persona_mix(
    model: GPT, world: PersonaWorld, contexts: Sequence[np.ndarray | str], *, use_style: bool = True
) -> PersonaMix:
    """Exact expected posterior over personas of the model's reply to each context.

    For context x, style s and content c: P(p | x, s, c) ∝ P(p | x) P(s | p) P(c | x, p), and
    the mix is sum_{s,c} P_model(s, c | x) P(p | x, s, c), averaged over contexts. Replies
    that no persona could write count as off-world.

    ``use_style=False`` attributes each reply by its content alone (P(s | p) left out): what
    the reply *does*, not how it is worded -- useful when a fine-tune has shifted the style
    words for reasons of its own (Chapter 3: a reward model's taste in style words).
    """
    _require_persona_world(world)
    rd = reply_distribution(model, world, contexts)
    return _mix_of_replies(world, rd.situations, rd.joint, use_style=use_style)


def persona_self_mix(world: PersonaWorld, contexts: Sequence[np.ndarray | str], persona: str) -> PersonaMix:
    """The persona mix of ``persona`` itself: what :func:`persona_mix` reports for a policy that
    replies exactly as that persona does. It is the ceiling for a fine-tune toward the persona:
    replies other personas could also have written never attribute to it with certainty."""
    from .replies import situations

    _require_persona_world(world)
    p = world.persona_index(persona)
    sits = situations(world, contexts)
    style = world.grammar.trait_tables["style"][p]  # (S,)
    joint = np.stack([style[:, None] * s.content.dist.probs[p][None, :] for s in sits])  # (N, S, V)
    return _mix_of_replies(world, sits, joint)


def _mix_of_replies(world: PersonaWorld, sits: Sequence, joint: np.ndarray, *, use_style: bool = True) -> PersonaMix:
    """Average over contexts of sum_{s,c} joint[s, c] P(p | x, s, c); the rest is off-world."""
    style = world.grammar.trait_tables["style"]  # (P, S) in style-word order
    if not use_style:
        style = np.ones_like(style)
    per = np.zeros((len(sits), len(world.personas)))
    for i, sit in enumerate(sits):
        prior = np.exp(sit.log_posterior[0])  # (P,)
        content = sit.content.dist.probs  # (P, V)
        # unnormalised posterior for every (s, c): (S, V, P)
        un = prior[None, None, :] * style.T[:, None, :] * content.T[None, :, :]
        z = un.sum(-1, keepdims=True)
        post = np.divide(un, z, out=np.zeros_like(un), where=z > 0)
        per[i] = np.einsum("sv,svp->p", joint[i], post)
    mix = per.mean(0)
    return PersonaMix(world.personas, mix, float(1.0 - mix.sum()), per)


def attribute(world: PersonaWorld, docs: Sequence[np.ndarray]) -> np.ndarray:
    """(N, P): the exact posterior over personas of each whole document or dialogue."""
    _require_persona_world(world)
    return world.score(list(docs)).final_posterior()[:, 0, :]
