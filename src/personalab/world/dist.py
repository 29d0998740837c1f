"""Next-token distributions of the PersonaWorld grammar.

Book: Appendix A, "PersonaWorld reference" (section *Exact inference*).

At every position of a document the world's next-token distribution is one of two things:

* **shared** -- the same for every persona (the user's words, punctuation): a vector (V,);
* **by persona** -- governed by one trait (honesty, style, ...): a matrix (P, V) whose row
  p is the distribution persona p would use.

Tokens with a shared distribution carry no information about the persona; tokens governed
by a trait update the posterior over the persona (or, in the shuffled world, over that
trait's source persona). ``latent`` says which latent variable a distribution depends on
(-1 for shared).
"""

from __future__ import annotations

import numpy as np


class Dist:
    """One next-token distribution: shared ``(V,)`` or by persona ``(P, V)``."""

    __slots__ = ("probs", "logp", "trait", "latent", "det", "_cdf")

    def __init__(self, probs: np.ndarray, trait: str | None = None, latent: int = -1):
        probs = np.asarray(probs, dtype=np.float64)
        if trait is None and probs.ndim != 1:
            raise ValueError("a shared distribution must be a vector (V,)")
        if trait is not None and probs.ndim != 2:
            raise ValueError("a by-persona distribution must be a matrix (P, V)")
        sums = probs.sum(axis=-1)
        if not np.allclose(sums, 1.0, atol=1e-9) or (probs < 0).any():
            raise ValueError(f"next-token probabilities must be >= 0 and sum to 1 (got sums {sums})")
        self.probs = probs
        with np.errstate(divide="ignore"):
            self.logp = np.log(probs)
        self.trait = trait
        self.latent = latent
        # A shared one-hot distribution: the token is determined by the grammar.
        nz = np.flatnonzero(probs) if probs.ndim == 1 else None
        self.det = int(nz[0]) if nz is not None and len(nz) == 1 else None
        self._cdf: np.ndarray | None = None

    @property
    def shared(self) -> bool:
        return self.trait is None

    def token_logp(self, token: int) -> np.ndarray | float:
        """log P(token) -- a scalar for shared, a (P,) vector for by-persona distributions."""
        return self.logp[token] if self.trait is None else self.logp[:, token]

    def possible(self, token: int) -> bool:
        """Whether any persona can emit ``token`` here."""
        if not 0 <= token < self.probs.shape[-1]:
            return False
        return bool(self.probs[..., token].max() > 0)

    def row(self, persona: int) -> np.ndarray:
        """The (V,) distribution persona ``persona`` would use."""
        return self.probs if self.trait is None else self.probs[persona]

    def mixture(self, weights: np.ndarray) -> np.ndarray:
        """sum_p weights[p] * row(p): the Bayes predictive when ``weights`` is the posterior."""
        return self.probs if self.trait is None else weights @ self.probs

    def sample(self, persona: int, u: float) -> int:
        """Inverse-CDF sample with a uniform ``u`` in [0, 1)."""
        if self.det is not None:
            return self.det
        if self._cdf is None:
            self._cdf = np.cumsum(self.probs, axis=-1)
        cdf = self._cdf if self.trait is None else self._cdf[persona]
        tok = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
        return min(tok, cdf.shape[0] - 1)
