"""DPO and IPO for the tiny language model, on Chapter 3's preference data.

Book: Chapter 4 (section *DPO on the tiny model*). The trainer minimises eq. (4.5) or (4.6)
(:mod:`personalab.align.dpo`) over comparisons ``(prompt, chosen reply, rejected reply)``
judged by Chapter 3's simulated raters, with a frozen reference policy -- in Rafailov et al.
(2023) the SFT model, here the Assistant. Unlike RLHF it never samples and never trains a
reward model: each step reads a batch of comparisons and computes four log-probabilities per
pair (policy and reference, chosen and rejected; the reference's once, up front).

As in :func:`personalab.align.rlhf.rlhf`, every ``log_every`` steps it records the exact
expected proxy reward (any (N, K) table: the raters' utility, a reward model), the gold
utility, KL(π || π_ref) and the behaviour rates. It also records what practitioners watch
while training DPO (Rafailov et al., sec. 6; the TRL library's DPO logs): the loss, the
share of training pairs with a positive margin ("reward accuracy") and the mean implicit
rewards (4.3) of chosen and rejected replies.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..evals import behaviour_rates
from ..model import GPT
from ..progress import progress
from ..train.loop import gradient_step
from .dpo import _check_beta, logratio_margin, preference_loss
from .rewards import Preferences, _pad
from .rlhf import RLHFLog, _reply_logprob


@dataclass(frozen=True)
class DPOConfig:
    """Hyper-parameters of a DPO or IPO run (``beta`` is β for DPO, τ for IPO)."""

    loss: str = "dpo"
    beta: float = 0.1
    steps: int = 100
    batch_size: int = 64
    lr: float = 1e-4
    log_every: int = 25
    seed: int = 0

    def __post_init__(self):
        preference_loss(self.loss)  # raises on an unknown loss
        _check_beta(self.beta)
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.log_every < 1:
            raise ValueError(f"invalid DPOConfig {self}")


@dataclass
class DPOLog(RLHFLog):
    """The exact measurements of :class:`~personalab.align.rlhf.RLHFLog`, plus DPO's training
    statistics on the whole training set at each logged step."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # share of pairs with margin h > 0
    chosen_reward: list[float] = field(default_factory=list)  # mean β log π/π_ref of chosen
    rejected_reward: list[float] = field(default_factory=list)  # ... of rejected replies


def _pair_tokens(prefs: Preferences, which: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded prompt + reply rows and the prompt lengths, for :func:`_reply_logprob`."""
    table = prefs.table
    x, _ = _pad([table.tokens(i, k) for i, k in zip(prefs.prompt, which)], table.world.vocab.pad_id)
    lengths = torch.tensor([len(table.prompts[i]) for i in prefs.prompt])
    return x, lengths


def dpo_train(
    policy: GPT,
    reference: GPT,
    prefs: Preferences,
    cfg: DPOConfig = DPOConfig(),
    *,
    proxy: np.ndarray | None = None,
    evaluate: Callable[[GPT], dict[str, float]] | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
) -> DPOLog:
    """Train ``policy`` in place with DPO or IPO on ``prefs`` against the frozen ``reference``.

    ``proxy`` (N, K) is the reward logged as "proxy" (default: the gold utility).
    ``loss_fn(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta)`` replaces the
    library's loss named by ``cfg.loss`` (:func:`~personalab.align.dpo.dpo_loss` or
    :func:`~personalab.align.dpo.ipo_loss`, ``cfg.beta`` passed as β or τ), in the training
    steps and in the logged loss (Lab 4's exercise 4.1 checker passes the learner's).
    Deterministic given ``cfg.seed``."""
    if policy is reference:
        raise ValueError("policy and reference are the same object: pass copy.deepcopy(policy) as the reference")
    if len(prefs) == 0:
        raise ValueError("no preference pairs to train on")
    table = prefs.table
    proxy = table.gold if proxy is None else np.asarray(proxy, dtype=np.float64)
    if proxy.shape != table.gold.shape:
        raise ValueError(f"proxy must have shape {table.gold.shape} (prompts x replies), got {proxy.shape}")
    fn = loss_fn or preference_loss(cfg.loss)
    evaluate = evaluate or (lambda m: behaviour_rates(m, table.world))
    reference = copy.deepcopy(reference).eval()
    xw, lw = _pair_tokens(prefs, prefs.chosen)
    xl, ll = _pair_tokens(prefs, prefs.rejected)
    with torch.no_grad():
        ref_w, ref_l = _reply_logprob(reference, xw, lw), _reply_logprob(reference, xl, ll)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    log = DPOLog()

    def reply_logprobs(model: GPT) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Exact (N, K) renormalised probabilities with the (N,) off-world mass, and
        log π(y|x) of every reply in the table."""
        probs, off = table.policy_probs(model)
        with np.errstate(divide="ignore"):
            return (probs, off), np.log(probs * (1 - off)[:, None])

    _, ref_table = reply_logprobs(reference)
    tw = torch.from_numpy(ref_table[prefs.prompt, prefs.chosen])
    tl = torch.from_numpy(ref_table[prefs.prompt, prefs.rejected])

    def record(step: int) -> None:
        probs, logp = reply_logprobs(policy)
        log.record(step, table, policy, reference, proxy, evaluate, probs)
        # the training statistics over every pair, read off the exact table of log-probs
        pw = torch.from_numpy(logp[prefs.prompt, prefs.chosen])
        pl = torch.from_numpy(logp[prefs.prompt, prefs.rejected])
        h = logratio_margin(pw, pl, tw, tl)
        log.loss.append(float(fn(pw, pl, tw, tl, cfg.beta)))
        log.accuracy.append(float((h > 0).double().mean()))
        log.chosen_reward.append(float(cfg.beta * (pw - tw).mean()))
        log.rejected_reward.append(float(cfg.beta * (pl - tl).mean()))

    policy.eval()
    record(0)
    for step in progress(range(1, cfg.steps + 1), desc=cfg.loss.upper()):
        idx = torch.randint(len(prefs), (cfg.batch_size,), generator=gen)
        policy.train()
        pw, pl = _reply_logprob(policy, xw[idx], lw[idx]), _reply_logprob(policy, xl[idx], ll[idx])
        out = fn(pw, pl, ref_w[idx], ref_l[idx], cfg.beta)
        gradient_step(opt, out)
        if step % cfg.log_every == 0 or step == cfg.steps:
            policy.eval()
            record(step)
    policy.eval()
    return log
