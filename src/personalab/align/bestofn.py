"""Exact best-of-n over a discrete set of responses.

Book: Chapter 3 (section *Best-of-n*), equations (3.4)-(3.6). Best-of-n draws n responses
i.i.d. from a policy π and keeps the one a reward model scores highest. Gao, Schulman &
Hilton (2022) use n as a knob for optimisation pressure against a proxy reward and measure
that pressure by the KL divergence from π. In PersonaWorld a reply is one of K discrete
responses (style word × content token), so the best-of-n policy can be computed exactly.

Sort the responses by reward r. With F(r) = P_π(reward ≤ r) and F⁻(r) = P_π(reward < r),
the chosen response has reward level L with probability F(L)^n - F⁻(L)^n. Samples with equal
rewards are exchangeable, so within a level the winner is distributed like π (Beirami et
al. 2024 derive the same mass function)::

    π_bon(y) = π(y) / π(level of y) · [ F(r(y))^n - F⁻(r(y))^n ]        (3.4)

Rewards count as tied only when exactly equal (``==``); a difference of 1e-15 breaks a tie.
The KL divergence it pays, exactly, and the usual analytic formula (Stiennon et al. 2020,
Gao et al. 2022)::

    KL(π_bon || π) = Σ_y π_bon(y) log( π_bon(y) / π(y) )                 (3.5)
    KL(π_bon || π) ≤ log n - (n - 1)/n                                     (3.6)

Beirami et al. (2024) show that (3.6) is an upper bound, not an equality: it is approached
when the rewards are distinct and no single response has non-negligible probability, and it
can be far off otherwise (two equally likely responses never pay more than log 2). Ties do
not break the bound: π_bon only reweights whole levels, so (3.5) is the KL of a best-of-n
over the levels, whose rewards are distinct.
"""

from __future__ import annotations

import numpy as np

from ..numerics import kl


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"n must be an integer number of samples, got {n!r}; pass e.g. int(n)")
    if n < 1:
        raise ValueError(f"n must be at least 1 (one sample is the policy itself), got {n}")


def _check(probs, rewards) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate and return float64 (N, K) copies and whether the input was a single (K,) prompt."""
    p, r = np.asarray(probs, dtype=np.float64), np.asarray(rewards, dtype=np.float64)
    if p.shape != r.shape or p.ndim not in (1, 2):
        raise ValueError(
            f"probs and rewards must have the same shape, (K,) or (N, K); got {p.shape} and {r.shape}: "
            "give one reward per response"
        )
    if np.isnan(r).any():
        raise ValueError(
            "rewards contain NaN: give every response a real-valued reward (check the reward model's inputs)"
        )
    if not np.isfinite(p).all() or (p < 0).any():
        raise ValueError("probs must be finite and non-negative: pass probabilities, not logits or log-probs")
    err = np.abs(p.sum(-1) - 1.0).max(initial=0.0) if p.shape[-1] else np.inf
    if err > 1e-9:
        raise ValueError(f"probs must sum to 1 over the last axis (off by {err:.3g}); normalise them first")
    return np.atleast_2d(p), np.atleast_2d(r), p.ndim == 1


def bestofn_probs(probs: np.ndarray, rewards: np.ndarray, n: int) -> np.ndarray:
    """Eq. (3.4): the exact distribution of the best of n draws from ``probs``, shape of ``probs``.

    Args:
        probs: (N, K) or (K,) the policy π over K responses per prompt; rows sum to 1.
        rewards: same shape, the reward of each response (ties: exactly equal values).
        n: number of samples, an integer ≥ 1 (n = 1 returns ``probs`` unchanged).
    """
    _check_n(n)
    p, r, single = _check(probs, rewards)
    if n == 1:
        return (p[0] if single else p).copy()
    p = p / p.sum(-1, keepdims=True)  # remove the ≤ 1e-9 slack so the result sums to 1
    N, K = p.shape
    order = np.argsort(r, axis=1, kind="stable")  # (N, K) ascending reward
    ps, rs = np.take_along_axis(p, order, 1), np.take_along_axis(r, order, 1)
    # number the levels (runs of equal reward) consecutively over the whole batch
    new = np.ones((N, K), dtype=bool)
    new[:, 1:] = rs[:, 1:] != rs[:, :-1]
    level = np.cumsum(new.ravel()) - 1  # (N*K,) level id of each sorted response
    mass = np.bincount(level, weights=ps.ravel())  # (levels,) π(level), summed exactly
    last = np.ones((N, K), dtype=bool)
    last[:, :-1] = new[:, 1:]
    F = np.cumsum(ps, 1).ravel()[last.ravel()]  # (levels,) P(reward ≤ level)
    # F^n - F⁻^n = -F^n expm1(n log1p(-mass/F)): no cancellation when mass << F ≈ 1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(F > 0, np.minimum(mass / F, 1.0), 0.0)
        win = -(F**n) * np.expm1(n * np.log1p(-ratio))
        share = np.where(mass[level] > 0, ps.ravel() / mass[level], 0.0)  # split ∝ π in a level
    q = np.empty_like(p)
    np.put_along_axis(q, order, (win[level] * share).reshape(N, K), 1)
    return q[0] if single else q


def bestofn_kl(probs: np.ndarray, rewards: np.ndarray, n: int) -> np.ndarray | float:
    """Eq. (3.5): exact KL(π_bon || π) in nats, per prompt: (N,) array, or a float for (K,)."""
    q = np.atleast_2d(bestofn_probs(probs, rewards, n))
    p = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    out = kl(q, p)  # q > 0 implies p > 0, so this is finite
    return float(out[0]) if np.ndim(probs) == 1 else out


def kl_bound(n: int | np.ndarray) -> float | np.ndarray:
    """Eq. (3.6): log n - (n-1)/n, an upper bound on KL(π_bon || π) (Beirami et al. 2024).

    ``n`` an integer >= 1 (a float comes back) or an integer array (an array of its shape)."""
    n_arr = np.asarray(n)
    if n_arr.ndim == 0:
        _check_n(n)
    elif n_arr.dtype.kind not in "iu" or (n_arr < 1).any():
        raise ValueError(f"n must hold integer numbers of samples >= 1, got {n!r}")
    n_arr = n_arr.astype(np.float64)  # exact for n < 2**53
    bound = np.log(n_arr) - (n_arr - 1.0) / n_arr
    return float(bound) if bound.ndim == 0 else bound


def expected_reward(probs: np.ndarray, rewards: np.ndarray) -> np.ndarray | float:
    """Σ_k probs·rewards per prompt: the (proxy or gold) reward of a policy, (N,) or a float."""
    p, r, single = _check(probs, rewards)
    er = (p * r).sum(-1)
    return float(er[0]) if single else er


def sample_bestofn(probs: np.ndarray, rewards: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray | int:
    """Monte-Carlo best-of-n, one draw per prompt, to check eq. (3.4).

    Draws n responses per prompt from ``probs`` and returns the index of the highest reward,
    breaking ties uniformly among the tied samples: (N,) int array, or an int for (K,).
    """
    _check_n(n)
    p, r, single = _check(probs, rewards)
    N, K = p.shape
    cdf = np.cumsum(p, 1)
    cdf /= cdf[:, -1:]  # last entry exactly 1, so u < 1 never falls off the end
    u = rng.random((N, n))
    draws = (u[:, :, None] >= cdf[:, None, :]).sum(-1)  # (N, n) inverse-CDF samples
    rd = np.take_along_axis(r, draws, 1)  # (N, n)
    key = np.where(rd == rd.max(1, keepdims=True), rng.random((N, n)), -1.0)  # random among the best
    chosen = np.take_along_axis(draws, key.argmax(1)[:, None], 1)[:, 0]
    return int(chosen[0]) if single else chosen
