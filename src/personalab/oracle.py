"""The Bayes oracle: PersonaWorld's exact next-token predictor, wrapped as a model.

Book: Chapter 1 (section *The limit of pre-training*); Appendix A, equation (A.3).

:class:`BayesOracle` has the interface of :class:`personalab.model.GPT` that the evaluation
code uses (``forward`` returns (B, T, V) logits; ``cfg.block_size``), but its "logits" are the
log of the exact Bayes-optimal distribution. It is the best any pre-trained simulator of
this world can be, so every measurement of a trained model can be repeated on the oracle
to see the limit -- and the tests use it to check the evaluation code itself exactly.
It is slow (a Python loop per row) and has no parameters to train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .world import OffWorldError, PersonaWorld


@dataclass(frozen=True)
class OracleConfig:
    vocab_size: int
    block_size: int


class BayesOracle(torch.nn.Module):
    """Exact Bayes-optimal predictor of ``world`` with a GPT-like ``forward``."""

    def __init__(self, world: PersonaWorld):
        super().__init__()
        self.world = world
        self.cfg = OracleConfig(len(world.vocab), world.max_len)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, V) log-probabilities of the next token.

        Row b is read up to its last non-pad token; positions after it (padding) and
        positions after an off-world token get a uniform distribution.
        """
        idx = torch.as_tensor(idx)
        if idx.dim() != 2:
            raise ValueError(f"token ids must have shape (B, T), got {tuple(idx.shape)}")
        B, T = idx.shape
        V = len(self.world.vocab)
        out = np.full((B, T, V), 1.0 / V)
        pad = self.world.vocab.pad_id
        for b, row in enumerate(idx.numpy()):
            n = int(np.flatnonzero(row != pad).max()) + 1 if (row != pad).any() else 0
            x = row[:n]
            for end in range(n, 0, -1):  # the longest valid prefix
                try:
                    pred = self.world.bayes_predictive(x[:end])  # row t predicts token t
                    break
                except OffWorldError:
                    continue
            else:
                continue
            out[b, : end - 1] = pred[1:end]
            if x[end - 1] != self.world.vocab.eos_id:
                out[b, end - 1] = self.world.predict(x[:end])
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(out))
