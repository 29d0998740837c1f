"""Preference data and a Bradley-Terry reward model.

Book: Chapter 3 (section *Reward models*), equation (3.3). As in Christiano et al. (2017),
Stiennon et al. (2020) and InstructGPT (Ouyang et al. 2022), a reward model r_phi(x, y) is
trained on comparisons "y_w was preferred to y_l for prompt x" to maximise the
Bradley-Terry likelihood of the raters' choices:

    L_RM(phi) = - E_{(x, y_w, y_l)} [ log sigmoid( r_phi(x, y_w) - r_phi(x, y_l) ) ]     (3.3)

Only differences of rewards are identified: r + c(x) fits the data equally well.

Here the pairs are two replies sampled from a policy for the same prompt, judged by
simulated :class:`~personalab.align.raters.Raters`. The reward model is the pre-trained tiny
GPT with its language-model head replaced by a scalar head on the last token of
``prompt + style word + content token`` (the reply's tail is fixed by its content), like
InstructGPT's reward model started from a pre-trained language model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..model import GPT
from ..progress import progress
from ..train.loop import gradient_step
from .raters import Raters, ResponseTable


@dataclass
class Preferences:
    """Comparisons: prompt ``prompt[j]`` of ``table``, response ``chosen[j]`` preferred to ``rejected[j]``."""

    table: ResponseTable
    prompt: np.ndarray  # (M,) prompt index
    chosen: np.ndarray  # (M,) response index k
    rejected: np.ndarray  # (M,)

    def __len__(self) -> int:
        return len(self.prompt)

    def split(self, fraction: float, seed: int = 0) -> tuple[Preferences, Preferences]:
        """A random (train, held-out) split with ``fraction`` of the pairs held out."""
        if not 0 < fraction < 1:
            raise ValueError(f"fraction must be in (0, 1), got {fraction}")
        order = np.random.default_rng(seed).permutation(len(self))
        cut = len(self) - int(round(fraction * len(self)))
        pick = lambda idx: Preferences(self.table, self.prompt[idx], self.chosen[idx], self.rejected[idx])  # noqa: E731
        return pick(order[:cut]), pick(order[cut:])


def sample_preferences(
    table: ResponseTable, policy_probs: np.ndarray, raters: Raters, n_pairs: int, seed: int = 0
) -> Preferences:
    """``n_pairs`` comparisons: a prompt uniformly at random, two *different* replies drawn
    from the policy's (N, K) probabilities, the raters' Bradley-Terry choice between them."""
    probs = np.asarray(policy_probs, dtype=np.float64)
    if probs.shape != table.gold.shape:
        raise ValueError(f"policy_probs must have shape {table.gold.shape} (prompts x responses), got {probs.shape}")
    if (probs.max(1) > 1 - 1e-9).any():
        raise ValueError("the policy puts all its mass on one reply for some prompt: there is nothing to compare")
    rng = np.random.default_rng(seed)
    u = raters.utility(table)
    prompt = rng.integers(len(table), size=n_pairs)
    a, b = np.empty(n_pairs, dtype=np.int64), np.empty(n_pairs, dtype=np.int64)
    for j, i in enumerate(prompt):
        while True:  # two different replies, as raters compare distinct samples
            a[j], b[j] = rng.choice(probs.shape[1], size=2, p=probs[i])
            if a[j] != b[j]:
                break
    first = raters.prefer_first(u[prompt, a], u[prompt, b], rng)
    return Preferences(table, prompt, np.where(first, a, b), np.where(first, b, a))


class RewardModel(nn.Module):
    """A GPT backbone with a scalar head on the last token: r(x, y) for prompt + reply."""

    def __init__(self, backbone: GPT):
        super().__init__()
        self.backbone = copy.deepcopy(backbone)
        self.head = nn.Linear(backbone.cfg.n_embd, 1)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) rewards of right-padded (B, T) sequences with the given lengths."""
        residuals, _ = self.backbone.residuals(tokens)
        h = self.backbone.ln_f(residuals[-1])  # (B, T, C)
        last = h[torch.arange(len(tokens)), lengths - 1]  # (B, C)
        return self.head(last)[:, 0]

    @torch.no_grad()
    def score_table(self, table: ResponseTable) -> np.ndarray:
        """(N, K) the reward of every response to every prompt."""
        self.eval()
        N, K = table.gold.shape
        seqs = [table.tokens(i, k) for i in range(N) for k in range(K)]
        tokens, lengths = _pad(seqs, table.world.vocab.pad_id)
        return self(tokens, lengths).double().numpy().reshape(N, K)


def _pad(seqs: list[np.ndarray], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = np.array([len(s) for s in seqs])
    out = np.full((len(seqs), lengths.max()), pad, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return torch.from_numpy(out), torch.from_numpy(lengths)


def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Equation (3.3) on a batch: mean of -log sigmoid(r_w - r_l), computed stably."""
    return -F.logsigmoid(r_chosen - r_rejected).mean()


@dataclass
class RewardTraining:
    losses: list[float]
    train_accuracy: float
    heldout_accuracy: float | None


def train_reward_model(
    rm: RewardModel,
    prefs: Preferences,
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    heldout: Preferences | None = None,
    loss_fn=None,
) -> RewardTraining:
    """Minimise eq. (3.3) with AdamW; report the share of pairs ordered like the raters.

    ``loss_fn(r_chosen, r_rejected)`` replaces :func:`bradley_terry_loss` (Lab 3 passes the
    learner's)."""
    loss_fn = loss_fn or bradley_terry_loss
    if len(prefs) == 0:
        raise ValueError("no preference pairs to train on")
    table = prefs.table
    pad = table.world.vocab.pad_id
    chosen = _pad([table.tokens(i, k) for i, k in zip(prefs.prompt, prefs.chosen)], pad)
    rejected = _pad([table.tokens(i, k) for i, k in zip(prefs.prompt, prefs.rejected)], pad)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(rm.parameters(), lr=lr, weight_decay=0.0)
    losses = []
    rm.train()
    for _ in progress(range(steps), desc="reward model"):
        idx = torch.randint(len(prefs), (batch_size,), generator=gen)
        loss = loss_fn(rm(chosen[0][idx], chosen[1][idx]), rm(rejected[0][idx], rejected[1][idx]))
        gradient_step(opt, loss)
        losses.append(loss.item())
    rm.eval()
    return RewardTraining(losses, preference_accuracy(rm, prefs), preference_accuracy(rm, heldout) if heldout else None)


@torch.no_grad()
def preference_accuracy(rm: RewardModel, prefs: Preferences) -> float:
    """Share of pairs where the reward model scores the chosen reply higher (ties count half)."""
    r = rm.score_table(prefs.table)
    a, b = r[prefs.prompt, prefs.chosen], r[prefs.prompt, prefs.rejected]
    return float(np.mean((a > b) + 0.5 * (a == b)))


def expected_accuracy(scores: np.ndarray, prefs: Preferences, raters: Raters) -> float:
    """The exact expected accuracy of a ranking by ``scores`` (N, K) on the pairs of
    ``prefs``: on each pair, the probability (eq. 3.2, with the raters' temperature) that the
    raters choose the reply the scores rank higher (a tie counts half). Only which two replies
    were compared is used, not which the raters happened to choose, so the labels' noise is
    averaged out; compare :func:`accuracy_ceiling`, the same expectation for the best ranking."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != prefs.table.gold.shape:
        raise ValueError(f"scores must have shape {prefs.table.gold.shape} (prompts x replies), got {scores.shape}")
    u = raters.utility(prefs.table)
    p = raters.choice_probability(u[prefs.prompt, prefs.chosen], u[prefs.prompt, prefs.rejected])
    sa, sb = scores[prefs.prompt, prefs.chosen], scores[prefs.prompt, prefs.rejected]
    return float(np.mean(np.where(sa > sb, p, np.where(sa < sb, 1 - p, 0.5))))


def accuracy_ceiling(prefs: Preferences, raters: Raters) -> float:
    """The largest expected accuracy any reward model can have on the pairs of ``prefs``:
    ranking by the raters' own utility, max(p, 1 − p) on each pair (0.5 where the two
    replies are equally good), so :func:`expected_accuracy` / ceiling ≤ 1 exactly."""
    return expected_accuracy(raters.utility(prefs.table), prefs, raters)
