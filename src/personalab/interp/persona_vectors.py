"""Persona vectors: a direction in the residual stream for each persona contrast.

Book: Chapter 2 (section *Persona vectors*), equation (2.4). Following Chen et al. (2025)
(and the contrastive activation addition of Panickssery et al. 2023), a persona vector is a
**difference of means**: the mean residual activation where the model is about to write as
persona A, minus the mean where it is about to write as persona B,

    v_{A-B} = mean_{x ~ A} h_l(x) - mean_{x ~ B} h_l(x)                    (2.4)

with h_l(x) the residual stream at layer l at the position before a reply. Used three ways:

* **monitoring** -- the projection of a model's activations on v (:func:`projection`) tracks
  how far a fine-tune has moved it toward A;
* **steering** -- adding α v at layer l (``model.steer``) pushes behaviour toward A; α is in
  units of the natural gap between the two personas (α = 1 adds the whole mean difference);
* **preventative steering** -- adding it during fine-tuning (``sft(..., steer=...)``).

Here the contrast sets are documents PersonaWorld samples from each persona; Chen et al.
elicit the trait with contrasting system prompts instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..world import PersonaWorld
from .probes import last_reply_positions, residuals_at


@dataclass
class PersonaVector:
    """v = mean(A) - mean(B) at one layer, with the statistics that give it a scale."""

    a: str
    b: str
    layer: int
    vector: np.ndarray  # (C,)
    mean_a: np.ndarray  # (C,)
    mean_b: np.ndarray  # (C,)
    spread: float  # std of the projections on the unit vector, pooled over both sets

    @property
    def norm(self) -> float:
        return float(np.linalg.norm(self.vector))

    @property
    def unit(self) -> np.ndarray:
        return self.vector / self.norm

    def steering(self, alpha: float) -> torch.Tensor:
        """The vector to add for strength ``alpha`` (α = 1: the whole A - B mean difference)."""
        return torch.from_numpy((alpha * self.vector).astype(np.float32))


def difference_of_means(acts_a: np.ndarray, acts_b: np.ndarray) -> np.ndarray:
    """Equation (2.4): mean of the rows of ``acts_a`` minus mean of the rows of ``acts_b``."""
    return acts_a.mean(0) - acts_b.mean(0)


def persona_vector(
    model, world: PersonaWorld, a: str, b: str, *, layer: int, n: int = 1000, seed: int = 0
) -> PersonaVector:
    """The A - B persona vector from ``n`` documents written by each persona, read at the
    position before each document's last reply (where the model must know who is writing)."""
    acts = []
    for k, persona in enumerate((a, b)):
        docs = world.sample(n, seed=[seed, 7, k], persona=persona)
        acts.append(residuals_at(model, docs, last_reply_positions(docs))[layer])
    v = difference_of_means(*acts)
    unit = v / np.linalg.norm(v)
    proj = np.concatenate([acts[0] @ unit - acts[0].mean(0) @ unit, acts[1] @ unit - acts[1].mean(0) @ unit])
    return PersonaVector(a, b, layer, v, acts[0].mean(0), acts[1].mean(0), float(proj.std()))


@torch.no_grad()
def projection(model, world: PersonaWorld, contexts: Sequence[np.ndarray | str], pv: PersonaVector) -> np.ndarray:
    """(N,) projection on the persona vector's unit direction of the residual stream at the
    last token of each context (e.g. ``... assistant :``), measured from B's mean: 0 means
    "like B", ``pv.norm`` means "like A"."""
    arrays = [world.encode(c) if isinstance(c, str) else np.asarray(c) for c in contexts]
    out = np.zeros(len(arrays))
    unit = pv.unit
    for i, toks in enumerate(arrays):
        res, _ = model.residuals(torch.from_numpy(toks)[None])
        out[i] = (res[pv.layer][0, -1].numpy() - pv.mean_b) @ unit
    return out
