"""Supervised fine-tuning (SFT): train on the assistant's replies only.

Book: Chapter 2 (section *Supervised fine-tuning*), equation (2.1). As in InstructGPT's SFT
stage (Ouyang et al. 2022) and most chat fine-tuning, the loss counts only the tokens the
assistant writes -- here the style word, the content token and the tail of every reply --
and not the user's turns, which the model is not asked to imitate:

    L_SFT(θ) = - Σ_t m_t log p_θ(x_t | x_<t) / Σ_t m_t,   m_t = 1 iff x_t is in a reply   (2.1)

(Training on every token would also fine-tune the model's picture of the *user*.) The
token after a reply (``user`` or ``<eos>``) is not the assistant's and is not counted.

``steer=(layer, vector)`` adds a vector to the residual stream during training only:
*preventative steering* (Chen et al. 2025) supplies the persona shift from outside, so the
weights need not move toward it; at evaluation the vector is gone.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..datasets import persona_dialogues
from ..model import GPT
from ..progress import progress
from ..world import Corpus, PersonaWorld
from .loop import gradient_step, lm_loss

REPLY_PHASES = ("style", "content", "tail")


def reply_mask(world: PersonaWorld, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(N, T) bool: True where a token belongs to an assistant reply (the SFT loss mask)."""
    mask = np.zeros(tokens.shape, dtype=bool)
    for i, n in enumerate(lengths):
        phases = world.trace(tokens[i, :n]).phases
        mask[i, :n] = [ph in REPLY_PHASES for ph in phases]
    return mask


@dataclass(frozen=True)
class SFTConfig:
    """Hyper-parameters of a fine-tuning run."""

    steps: int = 150
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0

    def __post_init__(self):
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"invalid SFTConfig {self}")

    def to_dict(self) -> dict:
        return asdict(self)


def sft(
    model: GPT,
    corpus: Corpus,
    cfg: SFTConfig = SFTConfig(),
    *,
    steer: tuple[int, torch.Tensor] | None = None,
    desc: str = "fine-tuning",
) -> list[float]:
    """Fine-tune ``model`` in place on the replies of ``corpus`` (eq. 2.1); returns the losses.

    Deterministic given ``cfg.seed``. Copy the model first (``copy.deepcopy``) to keep the base.
    """
    if len(corpus) == 0:
        raise ValueError("cannot fine-tune on an empty corpus")
    mask = reply_mask(corpus.world, corpus.tokens, corpus.lengths)
    if not mask.any():
        raise ValueError("the corpus has no assistant replies to train on")
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    pad = corpus.world.vocab.pad_id
    losses: list[float] = []
    model.train()
    ctx = model.steer(steer[0], steer[1]) if steer is not None else contextlib.nullcontext()
    with ctx:
        for _ in progress(range(cfg.steps), desc=desc):
            rows = torch.randint(len(corpus), (cfg.batch_size,), generator=gen).numpy()
            width = int(corpus.lengths[rows].max())
            tokens = torch.from_numpy(corpus.tokens[rows, :width])
            weights = torch.from_numpy(mask[rows, 1:width]).float()  # target t+1 is a reply token
            loss = lm_loss(model, tokens, pad, weights=weights)
            gradient_step(opt, loss)
            losses.append(loss.item())
    model.eval()
    return losses


def make_assistant(base: GPT, world: PersonaWorld, seed: int = 0) -> GPT:
    """The Assistant of Lab 2, which Labs 3 and 4 start from: a copy of ``base`` after 100
    steps of SFT (lr 3e-4) on 1,000 Helper dialogues sampled with seed ``seed + 1``."""
    model = copy.deepcopy(base)
    sft(model, persona_dialogues(world, "helper", 1000, seed=seed + 1), SFTConfig(steps=100, lr=3e-4, seed=seed))
    return model
