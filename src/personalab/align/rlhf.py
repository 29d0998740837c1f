"""Policy-gradient RLHF with a KL penalty to a frozen reference (REINFORCE leave-one-out).

Book: Chapter 3 (section *Policy-gradient RLHF*), equations (3.7)-(3.9). InstructGPT
(Ouyang et al. 2022) maximises the reward model's score minus a KL penalty that keeps the
policy near the supervised one (Stiennon et al. 2020):

    J(θ) = E_{x, y ~ π_θ} [ r(x, y) - β log( π_θ(y|x) / π_ref(y|x) ) ]                   (3.7)

Here the gradient is estimated with REINFORCE and the leave-one-out baseline of Kool et al.
(2019), as in RLOO (Ahmadian et al. 2024): for k replies y_1..y_k sampled for the same prompt,
with penalised returns R_j = r(x, y_j) - β Σ_t (log π_θ(y_jt|.) - log π_ref(y_jt|.)),

    A_j = R_j - (1/(k-1)) Σ_{i≠j} R_i                                                     (3.8)
    ∇J ≈ (1/k) Σ_j A_j ∇ log π_θ(y_j | x)                                                 (3.9)

The per-token KL penalty summed over a reply is the sequence-level one, so (3.8) uses the
sum. A reply here is a style word and a content token (the tail is fixed by the content), so
each sample is two tokens and the whole policy over replies can also be read exactly: the log
reports the exact expected proxy reward, gold utility and KL to the reference at each point.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..evals import behaviour_rates
from ..evals.psm import mean_kl
from ..model import GPT
from ..progress import progress
from ..train.loop import gradient_step
from .raters import OFF_WORLD_UTILITY, ResponseTable


@dataclass(frozen=True)
class RLHFConfig:
    """Hyper-parameters of a policy-gradient run."""

    steps: int = 100
    prompts_per_step: int = 16
    samples_per_prompt: int = 4  # k >= 2 for the leave-one-out baseline
    beta: float = 0.1  # KL penalty coefficient
    lr: float = 1e-4
    log_every: int = 10
    # Extra steps to log besides every log_every (e.g. densely near the start, where Gao et
    # al.'s RL form puts its rising phase; the logs are exact and cost no training randomness).
    log_steps: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self):
        if self.samples_per_prompt < 2:
            raise ValueError("RLHFConfig.samples_per_prompt must be >= 2 (the leave-one-out baseline needs k >= 2)")
        if self.beta < 0 or self.lr <= 0 or self.steps < 0 or self.prompts_per_step < 1 or self.log_every < 1:
            raise ValueError(f"invalid RLHFConfig {self}")
        bad = [s for s in self.log_steps if not 1 <= s <= self.steps]
        if bad:
            raise ValueError(f"RLHFConfig.log_steps must lie in 1..steps={self.steps}; got {bad}")


@dataclass
class RLHFLog:
    """Exact measurements of the policy every ``log_every`` steps and at ``log_steps``
    (step 0 is the start)."""

    step: list[int] = field(default_factory=list)
    proxy: list[float] = field(default_factory=list)  # E_π[r], the reward being optimised
    gold: list[float] = field(default_factory=list)  # E_π[u_gold]
    kl: list[float] = field(default_factory=list)  # KL(π || π_ref) over replies, mean over prompts
    rates: list[dict[str, float]] = field(default_factory=list)  # behaviour rates

    def as_dict(self) -> dict:
        return asdict(self)

    def record(
        self,
        step: int,
        table: ResponseTable,
        policy: GPT,
        reference: GPT,
        reward: np.ndarray,
        evaluate: Callable[[GPT], dict[str, float]],
        probs: tuple[np.ndarray, np.ndarray] | None = None,
        off_world_reward: float = OFF_WORLD_UTILITY,
    ) -> None:
        """Append the exact measurements of ``policy`` at ``step`` (``probs``: its
        ``table.policy_probs``, if already computed). Proxy and gold count off-world replies
        at ``off_world_reward`` and at the gold constant (``ResponseTable.expected``)."""
        probs, off = table.policy_probs(policy) if probs is None else probs
        self.step.append(step)
        self.proxy.append(table.expected(probs, off, reward, off_world_reward))
        self.gold.append(table.expected(probs, off, table.gold))
        self.kl.append(reply_kl(table, policy, reference))
        self.rates.append(evaluate(policy))


def loo_advantages(returns: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Equation (3.8): (P, k) returns -> each minus the mean of the other k-1 of its prompt.

    A tensor or a numpy array (Lab 3's exercise 3.3 checks the learner's against this one)."""
    k = returns.shape[1]
    others = (returns.sum(1, keepdims=True) - returns) / (k - 1)  # (P, k) the other samples' mean
    return returns - others


def penalised_returns(reward: torch.Tensor, logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """R_j of eq. (3.8): the reward minus β times the sampled reply's log-ratio to the reference.

    ``logp`` is detached by the caller: the penalty is part of the return, not a path for the gradient."""
    return reward - beta * (logp - ref_logp)


def reinforce_loss(advantages: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Eq. (3.9) as a loss: -(1/k) Σ_j A_j log π_θ(y_j|x), whose gradient is minus the estimate."""
    return -(advantages * logp).mean()


def reply_kl(table: ResponseTable, policy: GPT, reference: GPT) -> float:
    """Exact KL(π || π_ref) over the replies of ``table`` (off-world mass as one more reply),
    averaged over prompts."""
    out = []
    for model in (policy, reference):
        p, off = table.policy_probs(model)
        out.append(np.concatenate([p * (1 - off)[:, None], off[:, None]], axis=1))
    return mean_kl(*out)


def rlhf(
    policy: GPT,
    reference: GPT,
    table: ResponseTable,
    reward: np.ndarray,
    cfg: RLHFConfig = RLHFConfig(),
    *,
    off_world_reward: float = OFF_WORLD_UTILITY,
    evaluate: Callable[[GPT], dict[str, float]] | None = None,
    advantages: Callable[[torch.Tensor], torch.Tensor] | None = None,
    train_rows: Sequence[int] | None = None,
) -> RLHFLog:
    """Optimise ``policy`` in place against the (N, K) ``reward`` of the replies in ``table``
    (a reply outside the table gets ``off_world_reward``), with the KL penalty of eq. (3.7).

    ``reference`` is kept frozen (pass the starting policy or a copy of it). ``evaluate``
    (default: behaviour rates on the world's suites) is logged with the exact proxy reward,
    gold utility and KL. ``advantages`` maps the (P, k) penalised returns of each step to
    (P, k) advantages, replacing :func:`loo_advantages` (eq. 3.8; Lab 3 passes the learner's
    exercise 3.3). ``train_rows`` restricts the prompts sampled for training to those rows of
    ``table`` (default: all), so that the others are held out; the logs still measure every
    prompt. Deterministic given ``cfg.seed``.
    """
    advantages = advantages or loo_advantages
    reward = np.asarray(reward, dtype=np.float64)
    if reward.shape != table.gold.shape:
        raise ValueError(f"reward must have shape {table.gold.shape} (prompts x replies), got {reward.shape}")
    if policy is reference:
        raise ValueError("policy and reference are the same object: pass copy.deepcopy(policy) as the reference")
    if train_rows is not None:
        train_rows = torch.as_tensor(list(train_rows), dtype=torch.long)
        if len(train_rows) == 0 or int(train_rows.min()) < 0 or int(train_rows.max()) >= len(table):
            raise ValueError(f"train_rows must be a non-empty list of rows of the table (0..{len(table) - 1})")
    world = table.world
    evaluate = evaluate or (lambda m: behaviour_rates(m, world))
    reference = copy.deepcopy(reference).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    lookups = [  # (style id, content id) -> column of the table, per prompt
        {(int(s), int(c)): k for k, (s, c) in enumerate(zip(table.style[i], table.content[i]))}
        for i in range(len(table))
    ]
    P, k = cfg.prompts_per_step, cfg.samples_per_prompt
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    log = RLHFLog()

    def record(step: int) -> None:
        log.record(step, table, policy, reference, reward, evaluate, off_world_reward=off_world_reward)

    record(0)
    for step in progress(range(1, cfg.steps + 1), desc="RLHF"):
        if train_rows is None:
            rows = torch.randint(len(table), (P,), generator=gen)
        else:
            rows = train_rows[torch.randint(len(train_rows), (P,), generator=gen)]
        rows = rows.repeat_interleave(k)  # (P*k,)
        ctx = [table.prompts[i] for i in rows.tolist()]
        width = max(len(c) for c in ctx) + 2
        x = torch.full((len(ctx), width), world.vocab.pad_id, dtype=torch.long)
        lengths = torch.tensor([len(c) for c in ctx])
        for j, c in enumerate(ctx):
            x[j, : len(c)] = torch.from_numpy(np.asarray(c))
        ar = torch.arange(len(ctx))
        policy.eval()  # sampling: no dropout
        with torch.no_grad():
            p_style = torch.softmax(policy(x)[ar, lengths - 1], -1)
            style = torch.multinomial(p_style, 1, generator=gen)[:, 0]
            x[ar, lengths] = style
            p_content = torch.softmax(policy(x)[ar, lengths], -1)
            content = torch.multinomial(p_content, 1, generator=gen)[:, 0]
            x[ar, lengths + 1] = content
            ref_lp = _reply_logprob(reference, x, lengths)
        policy.train()
        logp = _reply_logprob(policy, x, lengths)  # (P*k,) log π(style, content | x)
        r = torch.tensor(
            [
                reward[i, lookups[i][(s, c)]] if (s, c) in lookups[i] else off_world_reward
                for i, s, c in zip(rows.tolist(), style.tolist(), content.tolist())
            ],
            dtype=torch.float32,
        )
        returns = penalised_returns(r, logp.detach(), ref_lp, cfg.beta).view(P, k)
        adv = torch.as_tensor(advantages(returns)).view(-1)
        loss = reinforce_loss(adv, logp)
        gradient_step(opt, loss)
        if step % cfg.log_every == 0 or step == cfg.steps or step in cfg.log_steps:
            policy.eval()
            record(step)
    policy.eval()
    return log


def _reply_logprob(model: GPT, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """log π(style, content | prompt) for rows holding prompt + style + content."""
    lp = torch.log_softmax(model(x), -1)
    ar = torch.arange(len(x))
    return lp[ar, lengths - 1, x[ar, lengths]] + lp[ar, lengths, x[ar, lengths + 1]]
