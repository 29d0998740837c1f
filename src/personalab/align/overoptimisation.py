"""Reward-model over-optimisation: Gao, Schulman & Hilton's functional forms.

Book: Chapter 3 (section *Over-optimisation*), equations (3.10)-(3.11). Gao et al. (2022)
measured the gold reward of policies optimised against a proxy reward model as a function of
d = sqrt(KL(π || π_init)) and found, starting from R(0) = 0,

    best-of-n:  R_bon(d) = d (α_bon - β_bon d)                                       (3.10)
    RL:         R_RL(d)  = d (α_RL - β_RL log d)                                     (3.11)

Both are linear in (α, β), so the least-squares fit is exact linear algebra; we report the
coefficients and R² of the fit. The gold reward *rises and then falls* when β > 0: the peak
of (3.10) is at d* = α / (2β).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GaoFit:
    form: str  # "bon" or "rl"
    alpha: float
    beta: float
    r2: float  # coefficient of determination of the fit to the gold-reward gains

    def __call__(self, d: np.ndarray) -> np.ndarray:
        d = np.asarray(d, dtype=np.float64)
        if self.form == "bon":
            return d * (self.alpha - self.beta * d)
        safe = np.where(d > 0, d, 1.0)
        return np.where(d > 0, d * (self.alpha - self.beta * np.log(safe)), 0.0)

    @property
    def peak(self) -> float:
        """The d of the largest gold reward (inf if the form never turns down)."""
        if self.beta <= 0:
            return float("inf")
        return self.alpha / (2 * self.beta) if self.form == "bon" else float(np.exp(self.alpha / self.beta - 1))


def fit_gao(d: np.ndarray, gain: np.ndarray, form: str = "bon") -> GaoFit:
    """Least-squares fit of eq. (3.10) (``form="bon"``) or (3.11) (``"rl"``) to gold-reward
    gains ``gain`` = R_gold(d) - R_gold(0) measured at ``d`` = sqrt(KL)."""
    d = np.asarray(d, dtype=np.float64)
    gain = np.asarray(gain, dtype=np.float64)
    if d.shape != gain.shape or d.ndim != 1 or len(d) < 3:
        raise ValueError(f"need matching 1-D arrays of at least 3 points, got shapes {d.shape} and {gain.shape}")
    if form not in ("bon", "rl"):
        raise ValueError(f"form must be 'bon' or 'rl', got {form!r}")
    if (d < 0).any() or not np.isfinite(d).all() or not np.isfinite(gain).all():
        raise ValueError("d = sqrt(KL) must be finite and >= 0, and the gains finite")
    second = d**2 if form == "bon" else d * np.log(np.where(d > 0, d, 1.0))
    X = np.stack([d, -second], axis=1)
    (alpha, beta), *_ = np.linalg.lstsq(X, gain, rcond=None)
    resid = gain - X @ np.array([alpha, beta])
    ss_tot = ((gain - gain.mean()) ** 2).sum()
    r2 = 1.0 - (resid**2).sum() / ss_tot if ss_tot > 0 else 1.0
    return GaoFit(form, float(alpha), float(beta), float(r2))
