"""Linear probes: can the persona be read off the residual stream?

Book: Chapter 1 (section *A probe reads the persona*), Lab 1 claim 3. Linear probes are the
standard test of whether a model represents a variable linearly (Alain & Bengio 2016; Marks
& Tegmark 2023 read truth this way). PersonaWorld adds the ceiling: no classifier of the
writing persona can beat the Bayes-optimal accuracy E[max_p P(p | x)], computed exactly.

The probe is multinomial logistic regression on the residual stream at one position (by
default the last token of each document), trained by a step function the learner writes in
Lab 1 (exercise 1.3); :func:`reference_probe_step` is the library's version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model import GPT
from ..world import Corpus


@torch.no_grad()
def residuals_at(model: GPT, corpus: Corpus, positions: np.ndarray | None = None, batch_size: int = 500) -> np.ndarray:
    """Residual stream of every layer at one position per document: (L+1, N, C).

    ``positions`` (N,) defaults to each document's last token (its ``<eos>``).
    """
    if positions is None:
        positions = corpus.lengths - 1
    positions = np.asarray(positions)
    if positions.shape != (len(corpus),):
        raise ValueError(f"positions must have shape ({len(corpus)},), got {positions.shape}")
    out = None
    model.eval()
    for i in range(0, len(corpus), batch_size):
        rows = slice(i, i + batch_size)
        width = int(corpus.lengths[rows].max())
        res, _ = model.residuals(torch.from_numpy(corpus.tokens[rows, :width]))
        picked = torch.stack([r[torch.arange(len(r)), torch.from_numpy(positions[rows])] for r in res])  # (L+1, B, C)
        if out is None:
            out = np.zeros((len(res), len(corpus), picked.shape[-1]), dtype=np.float32)
        out[:, rows] = picked.numpy()
    return out


def reference_probe_step(
    probe: torch.nn.Linear, optimizer: torch.optim.Optimizer, acts: torch.Tensor, labels: torch.Tensor
) -> float:
    """One step of multinomial logistic regression; returns the loss."""
    optimizer.zero_grad()
    loss = F.cross_entropy(probe(acts), labels)
    loss.backward()
    optimizer.step()
    return float(loss.item())


@dataclass
class ProbeResult:
    layer: int
    train_accuracy: float
    test_accuracy: float
    losses: list[float]


def train_probe(
    acts: np.ndarray,
    labels: np.ndarray,
    *,
    n_classes: int,
    step: Callable = reference_probe_step,
    steps: int = 300,
    lr: float = 0.05,
    test_fraction: float = 0.5,
    seed: int = 0,
    layer: int = -1,
) -> ProbeResult:
    """Fit a linear probe on a random ``1 - test_fraction`` of the rows, report accuracies.

    Activations are standardised with the training rows' mean and standard deviation, so
    one learning rate suits every layer. Full-batch Adam, ``steps`` steps.
    """
    gen = torch.Generator().manual_seed(seed)
    n = len(acts)
    order = torch.randperm(n, generator=gen).numpy()
    n_test = int(round(n * test_fraction))
    test, train = order[:n_test], order[n_test:]
    mu, sd = acts[train].mean(0), acts[train].std(0) + 1e-6
    x = torch.from_numpy((acts - mu) / sd).float()
    y = torch.from_numpy(np.asarray(labels)).long()
    torch.manual_seed(seed)
    probe = torch.nn.Linear(x.shape[1], n_classes)
    opt = torch.optim.Adam(probe.parameters(), lr=lr)
    losses = [step(probe, opt, x[train], y[train]) for _ in range(steps)]
    with torch.no_grad():
        pred = probe(x).argmax(-1).numpy()
    correct = pred == y.numpy()
    return ProbeResult(layer, float(correct[train].mean()), float(correct[test].mean()), losses)


def last_reply_positions(corpus: Corpus) -> np.ndarray:
    """(N,) for each document, the position of the ``:`` after the last ``assistant``: the
    model is about to write the last reply and needs the persona to predict it."""
    return np.array([corpus.world.turns(doc)[-1].style_pos - 1 for doc in corpus.docs()])


def bayes_accuracy(corpus: Corpus, positions: np.ndarray | None = None) -> tuple[float, float]:
    """The ceiling for any classifier of the writing persona from tokens ``<= positions``.

    Returns ``(expected, empirical)``: E[max_p P(p | x_<=t)] (the Bayes-optimal classifier's
    expected accuracy, exact per document) and the fraction of documents whose MAP persona
    is the true writer (a noisy estimate of the same number). ``positions`` defaults to each
    document's last token.
    """
    if positions is None:
        positions = corpus.lengths - 1
    post = corpus.world.score(corpus).posterior[np.arange(len(corpus)), np.asarray(positions) + 1, 0]  # (N, P)
    return float(post.max(1).mean()), float((post.argmax(1) == corpus.personas).mean())
