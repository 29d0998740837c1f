"""A one-prompt bandit where every method of Chapters 3-4 can be checked against π* exactly.

Book: Chapter 4 (section *A bandit with known rewards*). K responses ("arms") with known
rewards r and a reference policy π_ref. Raters compare two arms and prefer a with the
Bradley-Terry probability σ((r_a - r_b) / noise); ``noise = 0`` makes the better arm always
win (the deterministic preferences of Azar et al. 2023). The policy is a softmax over K
free logits, started at log π_ref, so "the policy" is exactly the K numbers the losses
move. Three learners use the same comparisons:

- :func:`train_tabular` with ``loss="dpo"`` or ``"ipo"`` (:mod:`personalab.align.dpo`);
- :func:`bandit_rlhf`: a tabular Bradley-Terry reward model fitted to the comparisons
  (Chapter 3, eq. 3.3), then REINFORCE with a leave-one-out baseline and the KL penalty
  (eqs. 3.7-3.9) against it.

Every ``*_probs`` is exact: it is the softmax of the logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..numerics import sigmoid
from ..progress import progress
from ..train.loop import gradient_step
from .dpo import _check_beta, logratio_margin, preference_loss
from .rewards import bradley_terry_loss
from .rlhf import loo_advantages, penalised_returns, reinforce_loss


@dataclass(frozen=True)
class Bandit:
    """K arms with rewards ``rewards`` and a reference policy ``ref_probs`` (both (K,))."""

    ref_probs: np.ndarray
    rewards: np.ndarray

    def __post_init__(self):
        p = np.asarray(self.ref_probs, dtype=np.float64)
        r = np.asarray(self.rewards, dtype=np.float64)
        if p.ndim != 1 or p.shape != r.shape or len(p) < 2:
            raise ValueError(f"ref_probs and rewards must be (K,) arrays with K >= 2, got {p.shape} and {r.shape}")
        if (p <= 0).any() or abs(p.sum() - 1) > 1e-9:
            raise ValueError("ref_probs must be positive and sum to 1 (every arm must be possible under π_ref)")
        if not np.isfinite(r).all():
            raise ValueError("rewards must be finite")
        object.__setattr__(self, "ref_probs", p)
        object.__setattr__(self, "rewards", r)

    @property
    def k(self) -> int:
        return len(self.rewards)

    def p_first(self, a: np.ndarray, b: np.ndarray, noise: float) -> np.ndarray:
        """P(a preferred to b): σ((r_a - r_b)/noise); for ``noise = 0`` 1, 0 or 1/2 on ties."""
        d = self.rewards[np.asarray(a)] - self.rewards[np.asarray(b)]
        if noise == 0:
            return np.where(d > 0, 1.0, np.where(d < 0, 0.0, 0.5))
        return sigmoid(d / noise)


@dataclass
class Comparisons:
    """Labelled comparisons in a bandit: arm ``chosen[j]`` preferred to ``rejected[j]``."""

    chosen: np.ndarray
    rejected: np.ndarray

    def __len__(self) -> int:
        return len(self.chosen)


def compare(bandit: Bandit, n: int, noise: float, arms: list[int] | None = None, seed: int = 0) -> Comparisons:
    """``n`` comparisons of two different arms drawn uniformly from ``arms`` (default: all),
    labelled by Bradley-Terry raters with the given ``noise`` (0: the better arm always wins)."""
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be >= 0 (0 = deterministic preferences), got {noise!r}")
    arms = list(range(bandit.k)) if arms is None else list(arms)
    if len(set(arms)) < 2 or not all(0 <= a < bandit.k for a in arms):
        raise ValueError(f"arms must name at least two different arms in 0..{bandit.k - 1}, got {arms}")
    rng = np.random.default_rng(seed)
    a, b = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    for j in range(n):
        a[j], b[j] = rng.choice(arms, size=2, replace=False)
    first = rng.random(n) < bandit.p_first(a, b, noise)
    return Comparisons(np.where(first, a, b), np.where(first, b, a))


@dataclass
class TabularRun:
    """A trajectory of the policy: ``probs[i]`` (K,) and the mean log-ratio margin h at ``step[i]``."""

    step: list[int] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    margin: list[float] = field(default_factory=list)  # mean of (4.4) over the comparisons
    loss: list[float] = field(default_factory=list)

    @property
    def final(self) -> np.ndarray:
        return self.probs[-1]


def train_tabular(
    bandit: Bandit,
    data: Comparisons,
    loss: str = "dpo",
    beta: float = 1.0,
    *,
    steps: int = 2000,
    lr: float = 0.05,
    batch_size: int | None = None,
    log_every: int = 100,
    seed: int = 0,
) -> TabularRun:
    """Minimise the DPO loss (4.5) (``beta`` = β) or the IPO loss (4.6) (``beta`` = τ) over
    the softmax logits with Adam, on all of ``data`` at each step (``batch_size=None``, the
    default, so the run converges to the minimiser of the loss on this data) or on random
    minibatches; logs exact probabilities."""
    fn = preference_loss(loss)
    beta = _check_beta(beta)
    if len(data) == 0:
        raise ValueError("no comparisons to train on")
    ref = torch.from_numpy(np.log(bandit.ref_probs))
    theta = ref.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    w, lo = torch.from_numpy(data.chosen), torch.from_numpy(data.rejected)
    run = TabularRun()

    def record(step: int) -> None:
        with torch.no_grad():
            logp = torch.log_softmax(theta, 0)
            h = logratio_margin(logp[w], logp[lo], ref[w], ref[lo])
            run.step.append(step)
            run.probs.append(logp.exp().numpy().copy())
            run.margin.append(float(h.mean()))
            run.loss.append(float(fn(logp[w], logp[lo], ref[w], ref[lo], beta)))

    record(0)
    for step in progress(range(1, steps + 1), desc=loss.upper()):
        idx = slice(None) if batch_size is None else torch.randint(len(data), (batch_size,), generator=gen)
        logp = torch.log_softmax(theta, 0)
        out = fn(logp[w[idx]], logp[lo[idx]], ref[w[idx]], ref[lo[idx]], beta)
        gradient_step(opt, out)
        if step % log_every == 0 or step == steps:
            record(step)
    return run


def fit_tabular_rewards(bandit: Bandit, data: Comparisons, *, steps: int = 500, lr: float = 0.1) -> np.ndarray:
    """A tabular reward model: maximum likelihood of the comparisons under Bradley-Terry
    (eq. 3.3), full-batch Adam; rewards are centred (only differences are identified)."""
    if len(data) == 0:
        raise ValueError("no comparisons to fit")
    r = torch.zeros(bandit.k, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([r], lr=lr)
    w, lo = torch.from_numpy(data.chosen), torch.from_numpy(data.rejected)
    for _ in range(steps):
        out = bradley_terry_loss(r[w], r[lo])
        gradient_step(opt, out)
    r = r.detach().numpy()
    return r - r.mean()


def bandit_rlhf(
    bandit: Bandit,
    reward: np.ndarray,
    beta: float,
    *,
    steps: int = 2000,
    samples: int = 64,
    lr: float = 0.05,
    log_every: int = 100,
    seed: int = 0,
) -> TabularRun:
    """REINFORCE with a leave-one-out baseline on the KL-penalised reward r - β log π/π_ref
    (eqs. 3.7-3.9), ``samples`` arms drawn per step. The logged margin is 0 (no pairs)."""
    beta = _check_beta(beta)
    reward = np.asarray(reward, dtype=np.float64)
    if reward.shape != (bandit.k,):
        raise ValueError(f"reward must have one entry per arm, shape ({bandit.k},), got {reward.shape}")
    if samples < 2:
        raise ValueError("samples must be >= 2 for the leave-one-out baseline")
    ref = torch.from_numpy(np.log(bandit.ref_probs))
    r = torch.from_numpy(reward)
    theta = ref.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    run = TabularRun()

    def record(step: int) -> None:
        with torch.no_grad():
            run.step.append(step)
            run.probs.append(torch.softmax(theta, 0).numpy().copy())
            run.margin.append(0.0)
            run.loss.append(float("nan"))

    record(0)
    for step in progress(range(1, steps + 1), desc="RLHF"):
        logp = torch.log_softmax(theta, 0)
        y = torch.multinomial(logp.detach().exp(), samples, replacement=True, generator=gen)
        returns = penalised_returns(r[y], logp.detach()[y], ref[y], beta)
        adv = loo_advantages(returns[None])[0]
        out = reinforce_loss(adv, logp[y])
        gradient_step(opt, out)
        if step % log_every == 0 or step == steps:
            record(step)
    return run


__all__ = ["Bandit", "Comparisons", "TabularRun", "bandit_rlhf", "compare", "fit_tabular_rewards", "train_tabular"]
