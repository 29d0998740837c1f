"""The PSM residual: how much of a policy is *not* a mixture of pre-training personas?

Book: Chapter 2 (section *The PSM residual*), equations (2.2)-(2.3). The Persona Selection
Model (Marks, Lindsey & Olah 2026) says post-training selects and refines a character the
simulator already had. If that is all it does, the post-trained policy's replies should be
explained by *some* mixture of the pre-training personas' replies. This module fits the best
such mixture and measures what is left -- the experiment that could come out against PSM.

For every context x of a prompt suite, a reply is a (style, content) pair (the rest is
fixed), persona p writes it with probability q_p(s, c | x) = P(s | p) P(c | x, p), and the
policy with probability π(s, c | x). The best mixture maximises the expected log-likelihood::

    w* = argmax_{w ∈ simplex} Σ_x Σ_{s,c} π(s,c|x) log Σ_p w_p q_p(s,c|x)        (2.2)

a concave problem solved exactly by the EM iteration
w_p ← mean over x, (s,c) ~ π of [w_p q_p / Σ_p' w_p' q_p']. The **PSM residual** is what is
left, the mean over contexts of::

    R = KL( π(·|x) || Σ_p w*_p q_p(·|x) )      (nats; 0 iff the policy is such a mixture)   (2.3)

computed on the replies the world can produce; the mass π puts on replies no persona can
write is reported separately (``off_world``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..numerics import kl
from ..world import PersonaWorld
from .replies import reply_distribution


@dataclass
class PSMFit:
    """The best mixture of personas for a policy, and what it leaves unexplained."""

    personas: tuple[str, ...]
    weights: np.ndarray  # (P,) w*, on the simplex
    residual: float  # mean KL(π || mixture) over contexts, nats (eq. 2.3)
    residual_prior: float  # the same KL for the prior mixture (how far the policy moved)
    off_world: float  # mean mass of replies no persona can write
    iterations: int

    def as_dict(self) -> dict[str, float]:
        return {p: float(w) for p, w in zip(self.personas, self.weights)}


def persona_reply_tables(world: PersonaWorld, contexts: Sequence[np.ndarray | str]) -> tuple[np.ndarray, np.ndarray]:
    """Each persona's reply distribution on each context, over (style, content) pairs.

    Returns ``(q, support)``: q of shape (N, P, S, V) with q[x, p, s, c] = P(s|p) P(c|x,p), and
    the boolean (N, S, V) mask of pairs some persona can write.
    """
    from .replies import situations

    style = world.grammar.trait_tables["style"]  # (P, S)
    sits = situations(world, contexts)
    q = np.stack([style[:, :, None] * s.content.dist.probs[:, None, :] for s in sits])  # (N, P, S, V)
    return q, q.sum(1) > 0


def em_step(weights: np.ndarray, pi: np.ndarray, q: np.ndarray) -> np.ndarray:
    """One EM update of the mixture weights (eq. 2.2).

    Args:
        weights: (P,) current weights on the simplex.
        pi: (N, K) the policy's probability of each of K replies per context (rows sum to 1).
        q: (N, P, K) each persona's probability of each reply.
    Returns:
        (P,) the updated weights.
    """
    mix = np.einsum("p,npk->nk", weights, q)  # (N, K)
    resp = weights[None, :, None] * q / np.where(mix > 0, mix, 1.0)[:, None, :]  # (N, P, K)
    return np.einsum("nk,npk->p", pi, resp) / pi.shape[0]


def mean_kl(pi: np.ndarray, mix: np.ndarray) -> float:
    """Mean over rows of KL(pi || mix) for (N, K) distributions (0 log 0 = 0).

    A reply with mix = 0 < pi is read as mix = 1e-300 (about 690 pi nats, not inf; see
    :func:`personalab.numerics.kl`)."""
    return float(kl(pi, mix, q_floor=1e-300).mean())


def fit_mixture(
    pi: np.ndarray,
    q: np.ndarray,
    prior: np.ndarray,
    *,
    tol: float = 1e-10,
    max_iter: int = 5000,
    step: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = em_step,
) -> tuple[np.ndarray, int]:
    """Iterate ``step`` (default :func:`em_step`; Lab 2 passes the learner's) from ``prior``
    until the weights move less than ``tol``."""
    w = prior.copy()
    for it in range(1, max_iter + 1):
        new = step(w, pi, q)
        if np.abs(new - w).max() < tol:
            return new, it
        w = new
    return w, max_iter


def psm_residual(
    model, world: PersonaWorld, contexts: Sequence[np.ndarray | str], *, step: Callable | None = None
) -> PSMFit:
    """Fit eq. (2.2) to the model's replies on ``contexts`` and report the residual (2.3)."""
    if world.config.coupling != "persona":
        raise ValueError("the PSM residual is defined against the persona world (coupling 'persona')")
    q, support = persona_reply_tables(world, contexts)
    rd = reply_distribution(model, world, contexts)
    joint = rd.joint  # (N, S, V)
    N, P = q.shape[:2]
    pi = np.where(support, joint, 0.0).reshape(N, -1)
    in_world = pi.sum(1)
    pi = pi / in_world[:, None]
    qk = q.reshape(N, P, -1)
    w, iters = fit_mixture(pi, qk, world.prior, step=step or em_step)
    residual = mean_kl(pi, np.einsum("p,npk->nk", w, qk))
    residual_prior = mean_kl(pi, np.einsum("p,npk->nk", world.prior, qk))
    return PSMFit(world.personas, w, residual, residual_prior, float(1 - in_world.mean()), iters)
