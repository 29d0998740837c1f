"""Exercises of Chapter 1, Lab 1 (simulators): the exact posterior, the Bayes loss and a linear probe.

Book: Chapter 1, Lab 1; the equations are those of Appendix A, section *Exact inference*:

    log P(p | x_<=t) = log P(p | x_<t) + log P(x_t | x_<t, p) - log sum_q exp(same for q)   (A.2)
    log P*(x_t | x_<t) = log sum_p exp(log P(p | x_<t) + log P(x_t | x_<t, p))              (A.3)
    Bayes loss = mean over predicted positions of -log P*(x_t | x_<t)                       (A.4)

Each exercise has a reference solution, test cases whose last one is a numerical-stability
case, and the known mistakes its checker recognises. In the lab::

    from personalab.exercises.ch01 import check_posterior_update
    check_posterior_update(posterior_update)
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..interp.probes import reference_probe_step
from ..numerics import logsumexp
from .core import Exercise, Mistake, allclose, exercise_checker

# ---------------------------------------------------------------------------------------------
# Exercise 1.1: one step of Bayes' rule in log space, eq. (A.2)


def posterior_update(log_post: np.ndarray, token_logp: np.ndarray) -> np.ndarray:
    """Reference for exercise 1.1. Book: Chapter 1, Lab 1; Appendix A, eq. (A.2) in log space.

    Args:
        log_post: (P,) log P(p | x_<t), the log-posterior before the token (normalised).
        token_logp: (P,) log P(x_t | x_<t, p); -inf for a persona that cannot write x_t.
    Returns:
        (P,) log P(p | x_<=t), normalised: logsumexp of the result is 0.
    """
    joint = log_post + token_logp  # (P,) unnormalised: log P(p) + log-likelihood so far
    return joint - logsumexp(joint)


def _posterior_cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(101)
    P = 5
    uniform = np.full(P, -np.log(P))
    skewed = np.log(rng.dirichlet(np.ones(P)))
    ruled_out = np.log(np.array([0.3, 0.3, 0.1, 0.3]))  # persona 1 cannot write this token
    return [
        (uniform, np.log(rng.uniform(0.05, 0.9, P))),  # the first token after the prior
        (skewed, np.log(rng.uniform(0.01, 0.9, P))),  # mid-document
        (np.log(rng.dirichlet(np.ones(4))), np.where(np.arange(4) == 1, -np.inf, ruled_out)),
        # numerical stability: a whole passage of ~300 tokens at once, log-likelihoods ~ -1000
        (skewed, -1000.0 - rng.uniform(0.0, 10.0, P)),
    ]


POSTERIOR_UPDATE = Exercise(
    id="1.1",
    title="posterior_update",
    difficulty=1,
    minutes=10,
    signature='''def posterior_update(log_post: np.ndarray, token_logp: np.ndarray) -> np.ndarray:
    """One step of Bayes' rule, eq. (A.2), in log space.

    log_post:   (P,) log P(p | x_<t), normalised.
    token_logp: (P,) log P(x_t | x_<t, p); may be -inf, or around -1000 for a long passage.
    Returns     (P,) log P(p | x_<=t), normalised (its logsumexp is 0).
    """''',
    reference=posterior_update,
    cases=_posterior_cases,
    mistakes=[
        Mistake(
            "not_normalised",
            "Did you forget to normalise? The posterior must sum to one: subtract "
            "logsumexp(log_post + token_logp) from the updated log-posterior.",
            lambda lp, tl: lp + tl,
        ),
        Mistake(
            "probability_space",
            "Your update breaks on the numerical-stability case (log-likelihoods around -1000): "
            "exp() underflows to 0, giving log(0/0). Normalise in log space with logsumexp "
            "(m + log sum exp(a - m), m = max a) instead of exponentiating.",
            lambda lp, tl: np.log(np.exp(lp + tl) / np.exp(lp + tl).sum()),
        ),
        Mistake(
            "subtracted_likelihood",
            "Bayes' rule multiplies the prior by the likelihood: in log space add token_logp "
            "to log_post, do not subtract it.",
            lambda lp, tl: (lp - tl) - logsumexp(lp - tl),
        ),
        Mistake(
            "returned_probabilities",
            "You returned probabilities; return log-probabilities (the next update adds "
            "log-likelihoods to them). Drop the final exp().",
            lambda lp, tl: np.exp(posterior_update(lp, tl)),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 1.2: the Bayes loss, eqs. (A.3)-(A.4)


def bayes_loss(log_post_before: np.ndarray, token_logp: np.ndarray, mask: np.ndarray) -> float:
    """Reference for exercise 1.2. Book: Chapter 1, Lab 1; Appendix A, eqs. (A.3) and (A.4).

    Args:
        log_post_before: (T, P) row t is log P(p | x_<t), the posterior *before* token t.
        token_logp: (T, P) log P(x_t | x_<t, p).
        mask: (T,) bool, True at the predicted positions (not <bos>, not padding).
    Returns:
        The mean over masked positions of -log sum_p P(p | x_<t) P(x_t | x_<t, p), in nats.
    """
    log_pstar = logsumexp(log_post_before + token_logp, axis=-1)  # (T,) eq. (A.3)
    return float(-log_pstar[mask].mean())


def _normalise(a: np.ndarray) -> np.ndarray:
    return a - logsumexp(a)[..., None]


def _loss_case(rng: np.random.Generator, P: int, n_real: int, n_pad: int, offset: float = 0.0) -> tuple:
    """A consistent document: <bos>, n_real - 1 predicted tokens, n_pad padding positions."""
    T = n_real + n_pad
    token_logp = np.zeros((T, P))  # <bos> and padding: log-likelihood 0 for every persona
    token_logp[1:n_real] = offset + np.log(rng.uniform(0.02, 0.9, (n_real - 1, P)))
    token_logp[2] = token_logp[2, 0]  # a persona-independent token (like ':'): the same for all
    before = np.zeros((T, P))
    before[0] = np.log(rng.dirichlet(np.ones(P)))  # the prior
    for t in range(T - 1):
        before[t + 1] = _normalise(before[t] + token_logp[t])  # eq. (A.2)
    mask = np.zeros(T, dtype=bool)
    mask[1:n_real] = True
    return before, token_logp, mask


def _loss_cases() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(102)
    return [
        _loss_case(rng, P=4, n_real=7, n_pad=0),
        _loss_case(rng, P=5, n_real=8, n_pad=3),
        _loss_case(rng, P=3, n_real=12, n_pad=1),
        _loss_case(rng, P=5, n_real=7, n_pad=2, offset=-800.0),  # numerical stability
    ]


def _bayes_loss_from(log_post: np.ndarray, token_logp: np.ndarray, mask: np.ndarray) -> float:
    return float(-logsumexp(log_post + token_logp, axis=-1)[mask].mean())


BAYES_LOSS = Exercise(
    id="1.2",
    title="bayes_loss",
    difficulty=2,
    minutes=15,
    signature='''def bayes_loss(log_post_before: np.ndarray, token_logp: np.ndarray, mask: np.ndarray) -> float:
    """The Bayes loss of one document, eqs. (A.3)-(A.4), in nats per token.

    log_post_before: (T, P) row t is log P(p | x_<t), the posterior before token t.
    token_logp:      (T, P) log P(x_t | x_<t, p); may be around -800.
    mask:            (T,) bool, True where x_t is predicted.
    Returns the mean over masked t of -log sum_p P(p | x_<t) P(x_t | x_<t, p).
    """''',
    reference=bayes_loss,
    cases=_loss_cases,
    mistakes=[
        Mistake(
            "persona_blind",
            "You used the prior (row 0) at every position: that is the persona-blind loss (A.5), "
            "which never updates on the context. Use the running posterior log_post_before[t] at position t.",
            lambda lp, tl, m: _bayes_loss_from(lp[:1], tl, m),
        ),
        Mistake(
            "posterior_after_token",
            "Your loss is too low: you weighted the personas by the posterior *after* token t, which "
            "has already seen the token it is predicting. Use log_post_before[t] (tokens < t only).",
            lambda lp, tl, m: _bayes_loss_from(_normalise(lp + tl), tl, m),
        ),
        Mistake(
            "averaged_log_losses",
            "Your loss is too high: you averaged the personas' log-losses, -sum_p P(p|x_<t) log P(x_t|x_<t,p). "
            "Mix the probabilities first, then take the log (Jensen's inequality): "
            "-logsumexp(log_post_before + token_logp) at each position.",
            lambda lp, tl, m: float(-(np.exp(lp) * tl).sum(axis=-1)[m].mean()),
        ),
        Mistake(
            "ignored_mask",
            "Average only over the positions where mask is True: <bos> and padding are not predicted, "
            "so they must not count in the mean.",
            lambda lp, tl, m: _bayes_loss_from(lp, tl, np.ones_like(m)),
        ),
        Mistake(
            "naive_logsumexp",
            "Your loss is not finite on the numerical-stability case (log-probabilities around -800): "
            "exp() underflows to 0 before the log. Use logsumexp: m + log sum exp(a - m) with m = max a.",
            lambda lp, tl, m: float(-np.log(np.exp(lp + tl).sum(axis=-1))[m].mean()),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 1.3: one optimisation step of a linear probe (multinomial logistic regression)


class ProbeSetup(NamedTuple):
    """One probe case: the checker builds fresh data, ``nn.Linear(c, p)`` and SGD from these."""

    seed: int
    n: int  # examples
    c: int  # activation width
    p: int  # personas (classes)
    scale: float  # activations are N(0, 1) x scale
    lr: float


# The reference is the library's own step, which train_probe runs (personalab.interp.probes).
probe_step = reference_probe_step


def _run_probe(fn, setup: ProbeSetup) -> dict[str, np.ndarray]:
    """Two consecutive steps from a fresh probe and optimiser; the global torch RNG is untouched."""
    g = torch.Generator().manual_seed(setup.seed)
    acts = torch.randn(setup.n, setup.c, generator=g) * setup.scale  # (N, C)
    labels = torch.randint(0, setup.p, (setup.n,), generator=g)  # (N,)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(setup.seed)
        probe = torch.nn.Linear(setup.c, setup.p)
    optimizer = torch.optim.SGD(probe.parameters(), lr=setup.lr)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small only pay for thread hand-offs (10x slower on a busy CPU)
    try:
        for _ in range(2):  # two steps: the second reveals gradients left over from the first
            loss = fn(probe, optimizer, acts.clone(), labels.clone())
            if isinstance(loss, bool) or not isinstance(loss, (int, float, np.floating)):
                raise TypeError(f"return the loss as a Python float (loss.item()), not a {type(loss).__name__}")
            losses.append(float(loss))
    finally:
        torch.set_num_threads(threads)
    return {
        "losses": np.array(losses),
        "weight": probe.weight.detach().numpy().copy(),
        "bias": probe.bias.detach().numpy().copy(),
    }


def _probe_mistake(loss_fn=None, zero_grad: bool = True, step: bool = True):
    """A probe_step with one thing wrong: the loss, the missing zero_grad or the missing step."""

    def wrong_step(probe, optimizer, acts, labels):
        if zero_grad:
            optimizer.zero_grad()
        logits = probe(acts)
        loss = loss_fn(logits, labels) if loss_fn else F.cross_entropy(logits, labels)
        loss.backward()
        if step:
            optimizer.step()
        return loss.item()

    return wrong_step


PROBE_STEP = Exercise(
    id="1.3",
    title="probe_step",
    difficulty=1,
    minutes=10,
    signature='''def probe_step(probe: nn.Linear, optimizer: torch.optim.Optimizer,
               acts: torch.Tensor, labels: torch.Tensor) -> float:
    """One step of multinomial logistic regression: a linear probe for the persona.

    probe: nn.Linear(C, P); optimizer: over probe.parameters();
    acts: (N, C) float activations (may be large); labels: (N,) long persona indices.
    Returns the cross-entropy loss (before the step) as a Python float.
    """''',
    reference=probe_step,
    cases=lambda: [
        ProbeSetup(seed=0, n=16, c=8, p=4, scale=1.0, lr=0.5),
        ProbeSetup(seed=1, n=24, c=6, p=3, scale=2.0, lr=0.1),
        ProbeSetup(seed=2, n=32, c=16, p=4, scale=100.0, lr=0.01),  # numerical stability: acts x 100
    ],
    runner=_run_probe,
    compare=partial(allclose, rtol=1e-4, atol=1e-6),  # float32 arithmetic
    mistakes=[
        Mistake(
            "forgot_step",
            "The probe's parameters did not change: call optimizer.step() after loss.backward().",
            _probe_mistake(step=False),
        ),
        Mistake(
            "forgot_zero_grad",
            "Gradients accumulate across steps: call optimizer.zero_grad() before loss.backward() "
            "(your second step used the sum of both steps' gradients).",
            _probe_mistake(zero_grad=False),
        ),
        Mistake(
            "softmax_before_cross_entropy",
            "F.cross_entropy expects raw logits (it applies log-softmax itself); applying softmax first "
            "squashes the loss and its gradients. Pass probe(acts) straight to F.cross_entropy.",
            _probe_mistake(lambda z, y: F.cross_entropy(F.softmax(z, dim=-1), y)),
        ),
        Mistake(
            "log_of_softmax",
            "Your loss is not finite on the numerical-stability case (activations x 100): softmax "
            "underflows to 0 and log(0) = -inf. Use F.cross_entropy (or F.log_softmax) on the raw logits.",
            _probe_mistake(lambda z, y: F.nll_loss(torch.log(F.softmax(z, dim=-1)), y)),
        ),
        Mistake(
            "mse_on_one_hot",
            "A probe for P personas is multinomial logistic regression: minimise "
            "F.cross_entropy(logits, labels), not the squared error to one-hot labels.",
            _probe_mistake(lambda z, y: F.mse_loss(z, F.one_hot(y, z.shape[-1]).float())),
        ),
    ],
)


EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in (POSTERIOR_UPDATE, BAYES_LOSS, PROBE_STEP)}

check_posterior_update = exercise_checker(POSTERIOR_UPDATE)
check_bayes_loss = exercise_checker(BAYES_LOSS)
check_probe_step = exercise_checker(PROBE_STEP)

CHECKERS = {"1.1": check_posterior_update, "1.2": check_bayes_loss, "1.3": check_probe_step}
