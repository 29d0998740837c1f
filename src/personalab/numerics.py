"""Shared numerics: log-sum-exp, the logistic sigmoid and the KL divergence, each written once.

Book: Appendix A (section *Exact inference*: why log space) and the chapters that use them:
log-sum-exp normalises the persona posterior (eq. 1.2) and mixes the Bayes predictor
(eq. 1.3); the sigmoid is the Bradley-Terry choice probability (eq. 3.3); the KL divergence
measures the PSM residual (eq. 2.3), best-of-n's cost (eq. 3.5), RLHF's leash (eq. 3.7) and
the distance to the optimum π* (eq. 4.2).

This is the lowest layer of the library: it imports nothing from personalab, and everything
may import it. All three work in float64 on numpy arrays.

The KL divergence has one semantics for a support mismatch, chosen here and used everywhere:

    KL(p || q) = Σ_k p_k log(p_k / q_k),  with 0 log(0 / q) = 0 for any q (even 0), and
                 +inf where p_k > 0 = q_k (p puts mass where q has none: the divergence is
                 genuinely infinite).

A caller that wants a finite number there (the PSM residual: a policy's mass on a reply no
persona mixture writes should count, not swamp the mean) passes ``q_floor``: q_k = 0 is read
as ``q_floor``, so such a reply costs p_k log(p_k / q_floor) (about 690 p_k nats for
``q_floor = 1e-300``) instead of inf.
"""

from __future__ import annotations

import numpy as np


def logsumexp(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """log Σ exp(a) along ``axis``, as m + log Σ exp(a - m) with m = max a, so nothing underflows.

    A slice that is all -inf gives -inf (not NaN): the max is replaced by 0 there."""
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a row of -inf stays -inf instead of becoming NaN
    return (m + np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True))).squeeze(axis)


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    """σ(x) = 1 / (1 + exp(-x)), written as (1 + tanh(x/2)) / 2: no overflow for any ``|x|``."""
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def kl(p: np.ndarray, q: np.ndarray, axis: int = -1, *, q_floor: float = 0.0) -> np.ndarray:
    """KL(p || q) in nats along ``axis`` (see the module docstring for the support semantics).

    Args:
        p, q: distributions of one shape (each sums to 1 along ``axis``; not checked).
        axis: the axis the distributions run along; the result has it removed.
        q_floor: 0 (the default) gives +inf where p > 0 = q; a positive floor, e.g. 1e-300,
            reads q = 0 as ``q_floor`` and so keeps the result finite.
    """
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    safe_q = np.where(q > 0, q, q_floor) if q_floor > 0 else q
    with np.errstate(divide="ignore"):
        ratio = np.where(p > 0, p / np.where(p > 0, safe_q, 1.0), 1.0)  # p > 0 = q: inf; p = 0: 0 log 0 = 0
    return (p * np.log(ratio)).sum(axis)
