"""The KL-regularised optimum, and the DPO and IPO losses that train toward it without RL.

Book: Chapter 4 (sections *The optimum in closed form*, *DPO*, *IPO*), equations (4.1)-(4.7).
RLHF maximises reward minus a KL penalty to a reference policy (Chapter 3, eq. 3.7):

    max_π  E_{y~π}[ r(x, y) ] - β KL( π(.|x) || π_ref(.|x) )                             (4.1)

Its maximiser is the reference tilted by the exponentiated reward (Rafailov et al. 2023,
eq. 4; earlier Peters & Schaal 2007, Korbak et al. 2022):

    π*(y|x) = π_ref(y|x) exp( r(x, y) / β ) / Z(x),   Z(x) = Σ_y π_ref(y|x) exp(r(x, y)/β)   (4.2)

Solved for the reward, any policy defines an *implicit reward* (Rafailov et al., sec. 5)

    r_π(x, y) = β log( π(y|x) / π_ref(y|x) ) + β log Z(x)                                   (4.3)

and under the Bradley-Terry model P(y_w > y_l) = σ(r(x, y_w) - r(x, y_l)) the β log Z(x)
cancels. With the log-ratio margin

    h_π(x, y_w, y_l) = log( π(y_w|x) / π_ref(y_w|x) ) - log( π(y_l|x) / π_ref(y_l|x) )      (4.4)

maximum likelihood of the preferences becomes the DPO loss (Rafailov et al., eq. 7)

    L_DPO = - E log σ( β h_π(x, y_w, y_l) )                                                 (4.5)

Azar et al. (2023) showed that when preferences are deterministic, σ(β h) -> 1 only as
h -> ∞: DPO's minimiser sends π(y_l) to 0 whatever β is, and the KL leash stops working.
Their IPO loss regresses h onto a finite target instead (Azar et al., eq. 17):

    L_IPO = E ( h_π(x, y_w, y_l) - 1/(2τ) )²                                                (4.6)

With a pair (y, y') labelled y > y' with probability p, the expected IPO loss
p (h - c)² + (1 - p)(-h - c)², c = 1/(2τ), is smallest at

    h = (2p - 1) c = (p - 1/2) / τ                                                            (4.7)

which is finite even at p = 1. :func:`ipo_optimum` solves (4.7) over a set of pairs by least
squares, exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..numerics import kl  # noqa: F401  KL(p || q), inf where p > 0 = q; Lab 4 imports it from here


def _check_beta(beta: float, name: str = "beta") -> float:
    if isinstance(beta, bool) or not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"{name} must be a finite number > 0 (the strength of the KL leash), got {beta!r}")
    return float(beta)


def kl_optimum(ref_probs: np.ndarray, reward: np.ndarray, beta: float) -> np.ndarray:
    """Equation (4.2): π* ∝ π_ref exp(r/β) over the last axis, in float64 and without overflow.

    ``ref_probs`` and ``reward`` are (K,) or (N, K) arrays of the same shape; responses with
    π_ref = 0 keep probability 0."""
    beta = _check_beta(beta)
    p = np.asarray(ref_probs, dtype=np.float64)
    r = np.asarray(reward, dtype=np.float64)
    if p.shape != r.shape or p.ndim not in (1, 2):
        raise ValueError(f"ref_probs and reward must have the same shape, (K,) or (N, K); got {p.shape} and {r.shape}")
    if not np.isfinite(r).all():
        raise ValueError("reward must be finite for every response")
    if (p < 0).any() or np.abs(p.sum(-1) - 1).max() > 1e-9:
        raise ValueError("ref_probs must be probabilities summing to 1 over the last axis")
    with np.errstate(divide="ignore"):
        logits = np.where(p > 0, np.log(p) + r / beta, -np.inf)
    logits = logits - logits.max(-1, keepdims=True)
    w = np.exp(logits)
    return w / w.sum(-1, keepdims=True)


def _check_batch(*xs: torch.Tensor) -> None:
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1 or len(next(iter(shapes))) != 1:
        raise ValueError(
            f"the four log-probabilities must be (B,) tensors of one shape, one entry per pair; got {sorted(shapes)}"
        )


def logratio_margin(
    logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor, ref_rejected: torch.Tensor
) -> torch.Tensor:
    """Equation (4.4): (B,) h = log π(y_w)/π_ref(y_w) - log π(y_l)/π_ref(y_l)."""
    _check_batch(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)


def implicit_reward(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """Equation (4.3) without its β log Z(x), which cancels in every comparison: β log π/π_ref."""
    return _check_beta(beta) * (logp - ref_logp)


def dpo_loss(
    logp_chosen: torch.Tensor,
    logp_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> torch.Tensor:
    """Equation (4.5) on a batch of (B,) sequence log-probabilities: mean of -log σ(β h)."""
    h = logratio_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return -F.logsigmoid(_check_beta(beta) * h).mean()


def ipo_loss(
    logp_chosen: torch.Tensor,
    logp_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    """Equation (4.6) on a batch: mean of (h - 1/(2τ))²."""
    h = logratio_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return ((h - 1.0 / (2.0 * _check_beta(tau, "tau"))) ** 2).mean()


LOSSES = {"dpo": dpo_loss, "ipo": ipo_loss}


def preference_loss(name: str):
    """The loss function called ``name`` ("dpo" or "ipo")."""
    if name not in LOSSES:
        raise ValueError(f"unknown preference loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]


def ipo_optimum(
    n_responses: int, pairs: Sequence[tuple[int, int]], p_first: Sequence[float], weights: Sequence[float], tau: float
) -> np.ndarray:
    """The exact minimiser of the expected IPO loss over a set of pairs of one prompt.

    Pair j compares responses ``pairs[j] = (a, b)``, is drawn with probability proportional to
    ``weights[j]`` and labelled "a preferred" with probability ``p_first[j]``. By (4.7) the
    loss is Σ_j w_j (g_a - g_b - (p_j - 1/2)/τ)² + const in g = log π/π_ref, a weighted least
    squares problem. Returns g (``n_responses``,) with the mean over the responses that occur
    in some pair set to 0 (IPO fixes only differences); responses in no pair get NaN (IPO
    says nothing about them)."""
    tau = _check_beta(tau, "tau")
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    p = np.asarray(p_first, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if not (len(pairs) == len(p) == len(w)) or (pairs < 0).any() or (pairs >= n_responses).any():
        raise ValueError("pairs, p_first and weights must have one entry per pair, with responses in range")
    if (w < 0).any() or w.sum() <= 0 or (p < 0).any() or (p > 1).any():
        raise ValueError("weights must be >= 0 (not all 0) and p_first in [0, 1]")
    seen = np.unique(pairs)
    col = {int(a): j for j, a in enumerate(seen)}
    X = np.zeros((len(pairs) + 1, len(seen)))
    for j, (a, b) in enumerate(pairs):
        X[j, col[int(a)]] += 1.0
        X[j, col[int(b)]] -= 1.0
    X[-1] = 1.0  # the gauge: the mean of g over the seen responses is 0
    sw = np.sqrt(np.append(w, w.sum()))
    y = np.append((p - 0.5) / tau, 0.0)
    sol, *_ = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)
    g = np.full(n_responses, np.nan)
    g[seen] = sol
    return g
