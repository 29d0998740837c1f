"""Language-model training on PersonaWorld documents: the pre-training loop.

Book: Chapter 1 (section *Pre-training*). Next-token cross-entropy, AdamW
(Loshchilov & Hutter 2019), linear warm-up then cosine decay, gradient clipping. Each
document is computed on its own, from position 0 (the posterior resets at every ``<bos>``,
exactly as in the world's exact inference): :func:`lm_loss` puts one document per row and
ignores the padding; pre-training packs each batch's documents end to end
(:mod:`personalab.train.packing`, :func:`packed_lm_loss`), the same loss without computing
the padding.

Deterministic given the seed (see :func:`personalab.runtime.setup`). The progress bar is
tqdm's; ``TQDM_DISABLE=1`` silences it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from ..model import GPT, Packing
from ..progress import progress
from ..world import Corpus
from .curriculum import curriculum_weights
from .packing import PackedBatch, pack_batch
from .weighting import persona_token_weights


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of a training run (recorded in every checkpoint)."""

    steps: int = 6000
    batch_size: int = 64
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 100
    weight_decay: float = 0.1  # helps the in-context evidence circuit form (see CHANGELOG)
    grad_clip: float = 1.0
    n_train_docs: int = 60_000
    n_eval_docs: int = 2_000
    seed: int = 0
    # The structure-selected curriculum (personalab.train.curriculum): for the first
    # curriculum_steps steps, documents with a turn of an evidence kind before a turn of a
    # target kind are drawn 1 + curriculum_boost times as often. 0 steps: off.
    curriculum_steps: int = 0
    curriculum_boost: float = 0.0
    curriculum_evidence: str = "question,belief"
    curriculum_target: str = "request"
    # Persona-token weighting (personalab.train.weighting): the loss on the tokens a persona
    # governs counts 1 + persona_token_weight times; the Bayes predictor stays the optimum.
    persona_token_weight: float = 4.0
    # ... plus inference_token_weight times the information the context already holds about
    # the writer (KL(posterior || prior) / log P), on the same tokens.
    inference_token_weight: float = 0.0

    def __post_init__(self):
        for name in ("steps", "batch_size", "n_train_docs", "n_eval_docs"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0 < self.min_lr <= self.lr:
            raise ValueError(f"TrainConfig needs 0 < min_lr <= lr (got lr={self.lr}, min_lr={self.min_lr})")
        for name in ("persona_token_weight", "inference_token_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.curriculum_steps <= self.steps or self.curriculum_boost < 0:
            raise ValueError(
                "TrainConfig needs 0 <= curriculum_steps <= steps and curriculum_boost >= 0 "
                f"(got curriculum_steps={self.curriculum_steps}, steps={self.steps}, "
                f"curriculum_boost={self.curriculum_boost})"
            )

    @property
    def uses_curriculum(self) -> bool:
        return self.curriculum_steps > 0 and self.curriculum_boost > 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> TrainConfig:
        """The config a checkpoint recorded. A field the record predates was not in the recipe
        then: the curriculum and the token weightings take their "off" value (a checkpoint saved
        before they existed was trained without them), any other field its default."""
        unknown = set(record) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)} in a recorded config")
        return cls(**{**_OFF_WHEN_ABSENT, **record})


# The value of a later recipe feature in a record saved before the feature existed.
_OFF_WHEN_ABSENT = {
    "curriculum_steps": 0,
    "curriculum_boost": 0.0,
    "persona_token_weight": 0.0,
    "inference_token_weight": 0.0,
}


def gradient_step(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss``: clear the old gradients, back-propagate, step.

    Every trainer of the library (SFT, reward model, RLHF, DPO, the bandit) takes its steps here."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine decay to ``min_lr``."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * min(frac, 1.0)))


def lm_loss(model: GPT, tokens: torch.Tensor, pad_id: int, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean next-token cross-entropy over non-pad targets of a (B, T) batch.

    ``weights`` (B, T-1) optionally re-weights target positions (0 masks them out); the
    SFT loss of Chapter 2 uses it to train on assistant tokens only.
    """
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    w = (targets != pad_id).float()
    if weights is not None:
        w = w * weights
    return _weighted_mean_nll(model(inputs), targets, w)


def packed_lm_loss(model: GPT, batch: PackedBatch) -> torch.Tensor:
    """:func:`lm_loss` of documents packed into rows (:mod:`personalab.train.packing`): the
    same weighted mean over the same targets, each document computed as if alone in a row."""
    n = batch.tokens.shape[1] - 1
    packing = Packing(batch.segments[:, :n], batch.positions[:, :n])
    return _weighted_mean_nll(model(batch.tokens[:, :n], packing), batch.tokens[:, 1:], batch.weights)


def _weighted_mean_nll(logits: torch.Tensor, targets: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """sum(w * NLL of the targets) / sum(w) for logits (B, T, V) and targets, w (B, T)."""
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none").view(
        targets.shape
    )
    return (nll * w).sum() / w.sum().clamp_min(1.0)


def _trim(tokens: np.ndarray, lengths: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(tokens[:, : int(lengths.max())])


@torch.no_grad()
def token_nll(model: GPT, corpus: Corpus, batch_size: int = 500) -> np.ndarray:
    """(N, T) per-token negative log-likelihood under ``model``, aligned with
    :class:`~personalab.world.world.Scores` (column t predicts token t; column 0 and padding are 0)."""
    was_training = model.training
    model.eval()
    N, T = corpus.tokens.shape
    out = np.zeros((N, T))
    for i in range(0, N, batch_size):
        toks = _trim(corpus.tokens[i : i + batch_size], corpus.lengths[i : i + batch_size])
        lp = model.token_logprobs(toks).double().numpy()  # (B, t-1)
        n = lp.shape[1]
        mask = toks[:, 1:].numpy() != corpus.world.vocab.pad_id
        out[i : i + batch_size, 1 : n + 1] = np.where(mask, -lp, 0.0)
    model.train(was_training)
    return out


def eval_loss(model: GPT, corpus: Corpus) -> float:
    """Mean nats/token of ``model`` on ``corpus`` (same tokens as ``Scores.bayes_loss``)."""
    nll = token_nll(model, corpus)
    n = int((corpus.lengths - 1).sum())
    return float(nll.sum() / n)


def train_lm(model: GPT, corpus: Corpus, cfg: TrainConfig, *, desc: str = "pre-training") -> list[float]:
    """Train ``model`` on random batches of ``corpus``; returns the loss of every step (the
    weighted loss when ``cfg.persona_token_weight > 0``)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.99),
    )
    pad = corpus.world.vocab.pad_id
    early = None
    if cfg.uses_curriculum:
        early = curriculum_weights(corpus, cfg.curriculum_boost, cfg.curriculum_evidence, cfg.curriculum_target)
        early_rng = np.random.default_rng([cfg.seed, 7])
    token_weights = None
    if cfg.persona_token_weight > 0 or cfg.inference_token_weight > 0:
        token_weights = persona_token_weights(corpus, cfg.persona_token_weight, cfg.inference_token_weight)  # (N, T)
    capacity = model.cfg.block_size + 1
    losses: list[float] = []
    model.train()
    bar = progress(range(cfg.steps), desc=desc)
    t0 = time.time()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        if early is not None and step < cfg.curriculum_steps:
            rows = early_rng.choice(len(corpus), size=cfg.batch_size, p=early)
        else:
            rows = torch.randint(len(corpus), (cfg.batch_size,), generator=gen).numpy()
        # The batch's documents end to end in rows of block_size + 1 tokens (no padding
        # computed; the same loss as one document per row, see personalab.train.packing).
        batch = pack_batch(
            corpus.tokens[rows],
            corpus.lengths[rows],
            capacity,
            pad,
            None if token_weights is None else token_weights[rows],
        )
        loss = packed_lm_loss(model, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        if step % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", s=f"{time.time() - t0:.0f}")
    model.eval()
    return losses
