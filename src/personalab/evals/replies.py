"""A model's exact distribution over replies, and the world's.

Book: Chapter 1 (section *Measuring behaviour*); Chapter 2 (section *The persona mix*).

In PersonaWorld a reply is ``<style> <content> <tail>`` and the tail is fixed by the content
token, so the model's whole distribution over replies to a context is the joint
distribution of two tokens, P_model(style, content | context). We compute it exactly with
one forward pass per style word -- no sampling noise -- and read behaviour rates (which
outcome the content token means) and the persona mix (the exact posterior over personas
of each possible reply) from it.

A *context* is any token sequence the world accepts that ends with ``assistant :`` -- a
single-turn prompt or a long multi-turn dialogue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..model import GPT
from ..world import Content, PersonaWorld


@dataclass
class Situation:
    """What the world knows about a context that awaits a reply."""

    tokens: np.ndarray  # the context, (T,)
    kind: str
    info: object
    content: Content  # trait, per-persona content distribution, outcome of each token
    log_posterior: np.ndarray  # (L, P) posterior over the latents given the context


def situations(world: PersonaWorld, contexts: Sequence[np.ndarray | str]) -> list[Situation]:
    """Parse contexts that end with ``assistant :`` (clear error otherwise)."""
    out = []
    arrays = [world.encode(c) if isinstance(c, str) else np.asarray(c, dtype=np.int64) for c in contexts]
    if not arrays:
        return out
    scores = world.score(arrays)
    for i, toks in enumerate(arrays):
        tr = world.trace(toks)
        if tr.state.phase != "style":
            raise ValueError(
                f"context {i} must end with 'assistant :' (awaiting a reply); it ends with "
                f"'... {world.vocab.decode(toks[-6:])}'"
            )
        kind = tr.state.kind
        out.append(
            Situation(toks, kind.name, tr.state.info, kind.content(tr.state.info), scores.log_posterior[i, len(toks)])
        )
    return out


@dataclass
class ReplyDistribution:
    """P_model(style, content | context) for a batch of contexts."""

    situations: list[Situation]
    style_ids: np.ndarray  # (S,)
    p_style: np.ndarray  # (N, S): P(style word | context)
    p_content: np.ndarray  # (N, S, V): P(content token | context, style)

    @property
    def joint(self) -> np.ndarray:
        """(N, S, V) joint probability of (style, content)."""
        return self.p_style[:, :, None] * self.p_content

    def outcome_probs(self, i: int) -> dict[str, float]:
        """{outcome: probability} for context ``i``; 'off-world' collects replies the world
        cannot produce (a non-style first token, or a content token outside the grammar)."""
        sit = self.situations[i]
        content = self.joint[i].sum(0)  # (V,)
        out: dict[str, float] = {}
        for tok, outcome in sit.content.outcome_of.items():
            out[outcome] = out.get(outcome, 0.0) + float(content[tok])
        out["off-world"] = max(0.0, 1.0 - sum(out.values()))
        return out


@torch.no_grad()
def reply_distribution(
    model: GPT, world: PersonaWorld, contexts: Sequence[np.ndarray | str], batch_size: int = 1024
) -> ReplyDistribution:
    """The model's exact joint distribution of (style word, content token) for each context."""
    sits = situations(world, contexts)
    style_ids = np.array([world.vocab.id(w) for w in world.config.style_words])
    S, V, N = len(style_ids), len(world.vocab), len(sits)
    lengths = np.array([len(s.tokens) for s in sits])
    if N and lengths.max() + 1 > model.cfg.block_size:
        raise ValueError(
            f"a context of {lengths.max()} tokens is too long for the model's block size {model.cfg.block_size}"
        )
    # One row per (context, style word): context + style, right-padded (causal attention
    # makes padding on the right harmless for earlier positions).
    T = int(lengths.max()) + 1 if N else 1
    rows = np.full((N * S, T), world.vocab.pad_id, dtype=np.int64)
    for i, s in enumerate(sits):
        rows[i * S : (i + 1) * S, : lengths[i]] = s.tokens
        rows[i * S : (i + 1) * S, lengths[i]] = style_ids
    last = np.repeat(lengths, S)  # index of the style token in each row
    probs_style = np.zeros((N * S, V))
    probs_content = np.zeros((N * S, V))
    model.eval()
    for b in range(0, N * S, batch_size):
        x = torch.from_numpy(rows[b : b + batch_size])
        p = torch.softmax(model(x).double(), dim=-1).numpy()  # (B, T, V)
        idx = np.arange(len(x))
        probs_style[b : b + batch_size] = p[idx, last[b : b + batch_size] - 1]
        probs_content[b : b + batch_size] = p[idx, last[b : b + batch_size]]
    p_style = probs_style.reshape(N, S, V)[:, 0, :][:, style_ids]  # same for every style row
    return ReplyDistribution(sits, style_ids, p_style, probs_content.reshape(N, S, V))


def outcome_probs_by_persona(sit: Situation) -> dict[str, np.ndarray]:
    """{outcome: (P,) probability that each persona's content token means that outcome}."""
    out: dict[str, np.ndarray] = {}
    probs = sit.content.dist.probs  # (P, V)
    for tok, outcome in sit.content.outcome_of.items():
        out[outcome] = out.get(outcome, 0.0) + probs[:, tok]
    return out


def world_outcome_probs(world: PersonaWorld, context: np.ndarray | str) -> dict[str, float]:
    """The Bayes-optimal (exact) outcome distribution of the reply to ``context``:
    sum_p P(p | context) P(outcome | p, context), using the posterior of the latent that
    governs the content (the persona, or in the shuffled world that trait's source)."""
    sit = situations(world, [context])[0]
    latent = world.grammar.latent_of[sit.content.trait]
    post = np.exp(sit.log_posterior[latent])
    return {o: float(post @ p) for o, p in outcome_probs_by_persona(sit).items()}
