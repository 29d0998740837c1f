"""RL on reasoning replies with a judge that sees only the answer.

Book: Chapter 6 (section *RL with the judge*); Lab 6. After context distillation Guan et
al. (2024, section 2.4) run RL with the spec-aware judge as the reward model, and the chain
of thought is hidden from it: the judge scores the final answer. Here a reasoning reply to
``reason : <request>`` is three decisive tokens -- a style word s, a citation c and the
answer's first word a (``here`` / ``sorry``; the rest of the answer is fixed by it) -- and
the reward is the Chapter 5 judge's P(good) of the answer, whatever the citation:

    r(i, s, c, a) = P_judge(good | request i, answer a with style s)           (6.2)

(:func:`judge_reward`; a sampled token outside the reply space earns ``off_reward``). The
judge never reads c, so nothing in the reward keeps the answer following the citation:
whether it still does after RL is Lab 6's faithfulness question. Chapter 3's machinery is
reused term by term -- the KL-penalised return and leave-one-out advantages of eq. (3.8),
the REINFORCE loss of eq. (3.9) -- over three sampled tokens instead of two, and the exact
KL-regularised optimum (eq. 4.2, :func:`~.dpo.kl_optimum`) over the S x C x A replies is
the run's reference (:func:`reasoning_optimum`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import UsageError
from ..model import GPT
from ..progress import progress
from ..train.loop import gradient_step
from ..world import PersonaWorld
from .constitution import Constitution
from .deliberative import ALLOWED, FORBIDDEN, Probe, _encode, answer_probs
from .dpo import kl_optimum
from .rlhf import RLHFConfig, loo_advantages, penalised_returns, reinforce_loss


def reply_tokens(world: PersonaWorld) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The token ids of the style words, the citations (forbidden, allowed) and the answers'
    first words (here, sorry): the axes of every (N, S, C, A) array of this module."""
    v = world.vocab
    req = world.grammar.kinds["request"]
    return (
        np.array([v.id(w) for w in world.config.style_words]),
        np.array([v.id(FORBIDDEN), v.id(ALLOWED)]),
        np.array([v.id(req.COMPLY[0]), v.id(req.REFUSE[0])]),
    )


def judge_reward(world: PersonaWorld, probes_: Sequence[Probe], judge, constitution: Constitution) -> np.ndarray:
    """Eq. (6.2): (N, S, C, A) the judge's P(good) of each reasoning reply's answer, from a
    Chapter 5 ``judge`` turn on the plain request (``judge`` a model, or ``None`` for the
    world's exact Bayes judge), principles combined as ``constitution`` says."""
    from .ai_feedback import judgement_table
    from .raters import response_table

    if any(p.mode == "direct" for p in probes_):
        raise UsageError("judge_reward takes reasoning-mode probes (mode 'reason' or 'reason spec')")
    kinds = world.grammar.kinds
    plain = [kinds["request"].render_context((p.verb, p.noun, p.harmful)) for p in probes_]
    table = response_table(world, plain)
    feedback = judgement_table(table, constitution, judge)
    p_good = (feedback.p_good * feedback.principle_weights()[:, None, :]).sum(-1)  # (N, K)
    styles, cites, answers = reply_tokens(world)
    out = np.zeros((len(probes_), len(styles), len(cites), len(answers)))
    for i in range(len(probes_)):
        col = {(int(s), int(c)): k for k, (s, c) in enumerate(zip(table.style[i], table.content[i]))}
        for si, s in enumerate(styles):
            for ai, a in enumerate(answers):
                out[i, si, :, ai] = p_good[i, col[(int(s), int(a))]]
    return out


def reply_probs(model: GPT, world: PersonaWorld, probes_: Sequence[Probe]) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, C, A) the model's exact probability of each reasoning reply, renormalised over
    the reply space, and (N,) the mass it puts outside it."""
    joint = answer_probs(model, world, probes_).joint
    mass = joint.sum((1, 2, 3))
    return joint / mass[:, None, None, None], 1.0 - mass


def reasoning_optimum(reference_probs: np.ndarray, reward: np.ndarray, beta: float) -> np.ndarray:
    """The exact KL-regularised optimum (eq. 4.2) over the (N, S, C, A) reply space."""
    N = len(reward)
    return kl_optimum(reference_probs.reshape(N, -1), reward.reshape(N, -1), beta).reshape(reward.shape)


def reply_space_kl(p: np.ndarray, q: np.ndarray) -> float:
    """Mean over prompts of KL(p || q) between (N, S, C, A) reply distributions (nats)."""
    p, q = p.reshape(len(p), -1), q.reshape(len(q), -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return float(terms.sum(1).mean())


@dataclass
class ReasoningRLLog:
    """Exact measurements every ``log_every`` steps (step 0 is the start)."""

    step: list[int] = field(default_factory=list)
    reward: list[float] = field(default_factory=list)  # E_π[r] (eq. 6.2), off-space replies at off_reward
    kl: list[float] = field(default_factory=list)  # KL(π || π_ref) over the reply space, mean over prompts


def reasoning_rl(
    policy: GPT,
    reference: GPT,
    world: PersonaWorld,
    probes_: Sequence[Probe],
    reward: np.ndarray,
    cfg: RLHFConfig | None = None,
    *,
    off_reward: float = 0.0,
) -> ReasoningRLLog:
    """Optimise ``policy`` in place against the (N, S, C, A) ``reward`` of reasoning replies
    to ``probes_`` (three sampled tokens: style, citation, answer word), with the KL penalty
    and leave-one-out REINFORCE of Chapter 3. ``reference`` stays frozen. Deterministic given
    ``cfg.seed`` (default :class:`~.rlhf.RLHFConfig`)."""
    cfg = cfg or RLHFConfig()
    styles, cites, answers = reply_tokens(world)
    reward = np.asarray(reward, dtype=np.float64)
    shape = (len(probes_), len(styles), len(cites), len(answers))
    if reward.shape != shape:
        raise UsageError(f"reward must have shape {shape} (probes x styles x citations x answers), got {reward.shape}")
    if policy is reference:
        raise UsageError("policy and reference are the same object: pass copy.deepcopy(policy) as the reference")
    reference = copy.deepcopy(reference).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    index = [{int(t): j for j, t in enumerate(axis)} for axis in (styles, cites, answers)]
    prompts = [_encode(world, p.context) for p in probes_]
    P, k = cfg.prompts_per_step, cfg.samples_per_prompt
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    log = ReasoningRLLog()
    ref_probs, _ = reply_probs(reference, world, probes_)

    def record(step: int) -> None:
        probs, off = reply_probs(policy, world, probes_)
        log.step.append(step)
        log.reward.append(float(((probs * reward).sum((1, 2, 3)) * (1 - off) + off_reward * off).mean()))
        log.kl.append(reply_space_kl(probs, ref_probs))

    record(0)
    for step in progress(range(1, cfg.steps + 1), desc="RL with the judge"):
        rows = torch.randint(len(prompts), (P,), generator=gen).repeat_interleave(k)
        ctx = [prompts[i] for i in rows.tolist()]
        lengths = torch.tensor([len(c) for c in ctx])
        x = torch.full((len(ctx), int(lengths.max()) + 3), world.vocab.pad_id, dtype=torch.long)
        for j, c in enumerate(ctx):
            x[j, : len(c)] = torch.from_numpy(c)
        ar = torch.arange(len(ctx))
        policy.eval()  # sampling: no dropout
        with torch.no_grad():
            for t in range(3):  # style, citation, answer word
                p_next = torch.softmax(policy(x)[ar, lengths - 1 + t], -1)
                x[ar, lengths + t] = torch.multinomial(p_next, 1, generator=gen)[:, 0]
            ref_lp = _reply_logprob(reference, x, lengths)
        policy.train()
        logp = _reply_logprob(policy, x, lengths)
        r = torch.tensor(
            [
                _lookup(reward, index, i, x[j, lengths[j] : lengths[j] + 3].tolist(), off_reward)
                for j, i in enumerate(rows.tolist())
            ],
            dtype=torch.float32,
        )
        returns = penalised_returns(r, logp.detach(), ref_lp, cfg.beta).view(P, k)
        loss = reinforce_loss(loo_advantages(returns).view(-1), logp)
        gradient_step(opt, loss)
        if step % cfg.log_every == 0 or step == cfg.steps or step in cfg.log_steps:
            policy.eval()
            record(step)
    policy.eval()
    return log


def _lookup(reward: np.ndarray, index: list[dict[int, int]], i: int, tokens: list[int], off: float) -> float:
    pos = [ix.get(t) for ix, t in zip(index, tokens)]
    return off if None in pos else float(reward[(i, *pos)])


def _reply_logprob(model: GPT, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """log π(style, citation, answer word | prompt) for rows holding the prompt and the three tokens."""
    lp = torch.log_softmax(model(x), -1)
    ar = torch.arange(len(x))
    return sum(lp[ar, lengths - 1 + t, x[ar, lengths + t]] for t in range(3))
