"""Exercises of Chapter 4, Lab 4 (DPO and IPO): the DPO loss, the implicit reward, the IPO loss.

The three formulas a learner writes to train a policy directly on preference pairs: the DPO
loss, the reward that a policy trained with it implies, and Azar et al.'s IPO loss, which
regresses the same log-ratio margin onto a fixed target instead of pushing it to infinity.
All three take *sequence* log-probabilities (summed over a reply's tokens) under the policy
and under the frozen reference policy.

Book: Chapter 4, Lab 4. In the papers::

    h = log pi(y_w|x) / pi_ref(y_w|x) - log pi(y_l|x) / pi_ref(y_l|x)
    L_DPO = -E log sigma(beta h)                                Rafailov et al. 2023, eq. (7)
    r(x, y) = beta log pi(y|x) / pi_ref(y|x) + beta log Z(x)    Rafailov et al. 2023, eq. (5) and
                                                                sec. 5 ("Your language model is
                                                                secretly a reward model")
    L_IPO = E (h - 1/(2 tau))^2                                 Azar et al. 2023, eq. (17)

Each exercise has a reference solution, test cases whose last one is an extreme case, and the
known mistakes its checker recognises. In the lab::

    from personalab.exercises.ch04 import check_dpo_loss
    check_dpo_loss(dpo_loss)

As in Chapters 2 and 3, a mistake's ``impl`` is written as a learner first writes it --
``log(sigmoid(.))``, ``log(exp(a) / exp(b))`` -- where that is inf or NaN on the extreme case:
the checker does not compare non-finite outputs of a mistake, so its hint fires whether or not
the learner's function also survives the extreme case (which the last mistake of each exercise
then points out).
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch

# The references are the library's own eqs. (4.5), (4.3) and (4.6), which dpo_train runs.
from ..align.dpo import dpo_loss, implicit_reward, ipo_loss, logratio_margin
from .core import Exercise, Mistake, exercise_checker

Case = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]

# ---------------------------------------------------------------------------------------------
# The learner's loss inside the real trainer


@functools.lru_cache(maxsize=1)
def _tiny_setup():
    """Six single-turn prompts of the default world and 64 comparisons of uniformly drawn replies."""
    from ..align.raters import Raters, response_table, single_turn_prompts
    from ..align.rewards import sample_preferences
    from ..world import PersonaWorld

    world = PersonaWorld.default()
    table = response_table(world, single_turn_prompts(world)[::5][:6])
    uniform = np.full(table.gold.shape, 1.0 / table.gold.shape[1])
    return world, sample_preferences(table, uniform, Raters(), 64, seed=0)


def _dpo_train_once(loss: str, loss_fn) -> tuple[dict[str, torch.Tensor], list[float]]:
    """Three steps of dpo_train on a fresh tiny GPT; the global torch RNG is left untouched."""
    from ..align.dpo_train import DPOConfig, dpo_train
    from ..model import GPT, GPTConfig

    world, prefs = _tiny_setup()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model only pays for thread hand-offs
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            cfg = GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len, n_embd=16, n_head=2, n_layer=1)
            policy = GPT(cfg)
            reference = copy.deepcopy(policy)
            train = DPOConfig(loss=loss, beta=0.5, steps=3, batch_size=16, lr=1e-2, log_every=3, seed=0)
            log = dpo_train(policy, reference, prefs, train, evaluate=lambda m: {}, loss_fn=loss_fn)
    finally:
        torch.set_num_threads(threads)
    return {k: v.detach().clone() for k, v in policy.state_dict().items()}, log.loss


def _trains_like_the_library(loss: str):
    """A trainer check for :class:`~personalab.exercises.core.Exercise`: the learner's loss in dpo_train."""

    def trainer(fn) -> str | None:
        try:
            theirs, their_loss = _dpo_train_once(loss, fn)
        except Exception as exc:  # the learner's loss broke the backward pass or the optimiser
            return (
                f"your {loss}_loss gives the right numbers, but dpo_train cannot train with it "
                f"({type(exc).__name__}: {exc}). Keep the whole computation in torch on the tensors you are "
                "given -- no .item(), .detach(), .numpy() or torch.tensor(...) around the result -- so that the "
                "gradient reaches the policy."
            )
        ours, our_loss = _dpo_train_once(loss, None)
        same = all(torch.allclose(theirs[k], ours[k], rtol=1e-4, atol=1e-6) for k in ours)
        if not same or not np.allclose(their_loss, our_loss, rtol=1e-5, atol=1e-8):
            return (
                f"your {loss}_loss gives the right numbers on the cases, but three steps of dpo_train with it end "
                f"elsewhere than with the library's (logged losses {np.round(their_loss, 6).tolist()} vs "
                f"{np.round(our_loss, 6).tolist()}): is the gradient cut somewhere, or does the loss depend on "
                "something besides its arguments? Training starts at h = 0 (policy = reference): a formula "
                "with a kink there (abs, clamp, max) has the right value but the wrong gradient."
            )
        return None

    return trainer


# ---------------------------------------------------------------------------------------------
# Exercise 4.1: the DPO loss


def _pair_case(
    rng: np.random.Generator, B: int, margin: np.ndarray | None = None, level: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sequence log-probabilities of B pairs; the reference scores chosen and rejected differently.

    With ``margin`` given, h = margin exactly (up to rounding); otherwise h is random, mostly
    positive (the policy has learnt something) but wrong on some pairs.
    """
    ref_chosen = level - rng.uniform(30.0, 120.0, B)  # (B,) replies of some tens of tokens
    ref_rejected = level - rng.uniform(30.0, 120.0, B)  # ref_chosen != ref_rejected: forgetting pi_ref shows
    drift = rng.normal(0.0, 3.0, B)  # (B,) how far the policy moved on the rejected reply
    h = rng.normal(1.5, 5.0, B) if margin is None else margin
    logp_rejected = ref_rejected + drift
    logp_chosen = ref_chosen + drift + h
    return tuple(torch.from_numpy(x) for x in (logp_chosen, logp_rejected, ref_chosen, ref_rejected))


def _dpo_cases() -> list[Case]:
    rng = np.random.default_rng(401)
    beta = 0.5
    beta_h = np.array([1000.0, -1000.0, 0.5, -2.0, 30.0, -30.0])  # a confidently right and a confidently wrong pair
    return [
        (*_pair_case(rng, B=5), 0.1),  # beta != 1 everywhere: forgetting it, or dividing by it, shows
        (*_pair_case(rng, B=8), 0.5),
        (*_pair_case(rng, B=12), 2.0),
        (*_pair_case(rng, B=6, margin=beta_h / beta, level=-3000.0), beta),  # extreme: beta h = +-1000
    ]


def _naive_dpo(h: torch.Tensor, beta: float) -> torch.Tensor:
    """-log(sigmoid(beta h)) as a learner first writes it: inf where sigmoid underflows (beta h = -1000)."""
    return -torch.log(torch.sigmoid(beta * h))


DPO_LOSS = Exercise(
    id="4.1",
    title="dpo_loss",
    difficulty=2,
    minutes=15,
    signature='''def dpo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, beta: float) -> torch.Tensor:
    """The DPO loss (Rafailov et al. 2023, eq. 7).

    logp_chosen, logp_rejected: (B,) sequence log-probabilities of the preferred and the
        rejected reply of each pair under the policy.
    ref_chosen, ref_rejected: (B,) the same under the frozen reference policy.
    Returns the mean over the pairs of -log sigma(beta h) (0-dim), where
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected). beta h may be +-1000.
    """''',
    reference=dpo_loss,
    cases=_dpo_cases,
    trainer=_trains_like_the_library("dpo"),
    trained_in="dpo_train",
    mistakes=[
        Mistake(
            "swapped",
            "Your loss rewards the rejected replies: the chosen reply wins with probability sigma(beta h), "
            "h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected). You have h the other way "
            "round: either chosen and rejected are swapped, or each log-ratio is written ref - logp "
            "(the two slips give the same loss).",
            lambda lc, lr, rc, rr, b: _naive_dpo(-logratio_margin(lc, lr, rc, rr), b).mean(),
        ),
        Mistake(
            "reference_added",
            "You added the reference's log-ratio instead of subtracting it: the reward DPO implies for a "
            "reply is beta (logp - ref), so h = (logp_chosen - logp_rejected) - (ref_chosen - ref_rejected).",
            lambda lc, lr, rc, rr, b: _naive_dpo((lc - lr) + (rc - rr), b).mean(),
        ),
        Mistake(
            "no_reference",
            "Your loss ignores the reference policy: DPO compares log-ratios, log pi(y|x) / pi_ref(y|x), "
            "not the policy's log-probabilities alone. Subtract ref_chosen from logp_chosen and "
            "ref_rejected from logp_rejected; without them nothing keeps the policy near pi_ref.",
            lambda lc, lr, rc, rr, b: _naive_dpo(lc - lr, b).mean(),
        ),
        Mistake(
            "missing_beta",
            "beta is missing: the logit is beta h, not h. beta is the KL coefficient of the RLHF objective "
            "DPO solves, and the implicit reward is beta log pi / pi_ref.",
            lambda lc, lr, rc, rr, b: _naive_dpo(logratio_margin(lc, lr, rc, rr), 1.0).mean(),
        ),
        Mistake(
            "divided_by_beta",
            "You divided h by beta: multiply it. The implicit reward is beta log pi / pi_ref, so a small "
            "beta (a weak KL anchor) makes the loss *less* sensitive to the log-ratios, not more.",
            lambda lc, lr, rc, rr, b: _naive_dpo(logratio_margin(lc, lr, rc, rr), 1.0 / b).mean(),
        ),
        Mistake(
            "summed",
            "Your loss grows with the batch size: average over the B pairs (.mean()), do not sum them.",
            lambda lc, lr, rc, rr, b: _naive_dpo(logratio_margin(lc, lr, rc, rr), b).sum(),
        ),
        Mistake(
            "log_of_sigmoid",
            "Your loss is not finite on the numerical-stability case (a pair with beta h = -1000, "
            "log-probabilities around -3000): sigmoid(-1000) underflows to 0 and log(0) = -inf, and "
            "exp(-3000) is 0 too. Keep everything in log space: log-ratios as differences of logs, and "
            "F.logsigmoid(beta * h), which computes log sigma without forming sigma.",
            lambda lc, lr, rc, rr, b: _naive_dpo(logratio_margin(lc, lr, rc, rr), b).mean(),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 4.2: the reward a DPO policy implies


def _reward_cases() -> list[tuple[torch.Tensor, torch.Tensor, float]]:
    rng = np.random.default_rng(402)
    short_logp = np.log(rng.uniform(0.05, 0.95, 5))  # one-token replies: exp() is a real probability
    short_ref = np.log(rng.uniform(0.05, 0.95, 5))
    long_ref = -rng.uniform(10.0, 80.0, 7)  # replies of some tokens
    long_logp = long_ref + rng.normal(0.0, 3.0, 7)
    mixed_logp = np.concatenate([np.log(rng.uniform(0.1, 0.9, 2)), -rng.uniform(5.0, 40.0, 2)])
    mixed_ref = np.concatenate([np.log(rng.uniform(0.1, 0.9, 2)), mixed_logp[2:] + rng.normal(0.0, 1.0, 2)])
    huge_ref = -1e4 - rng.uniform(0.0, 500.0, 6)  # long replies: exp() underflows to exactly 0
    huge_logp = huge_ref + rng.normal(0.0, 20.0, 6)
    as_t = torch.from_numpy
    return [
        (as_t(short_logp), as_t(short_ref), 0.1),
        (as_t(long_logp), as_t(long_ref), 0.5),
        (as_t(mixed_logp), as_t(mixed_ref), 2.0),
        (as_t(huge_logp), as_t(huge_ref), 5.0),  # extreme: log-probabilities around -1e4
    ]


IMPLICIT_REWARD = Exercise(
    id="4.2",
    title="implicit_reward",
    difficulty=1,
    minutes=5,
    signature='''def implicit_reward(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """The reward a DPO policy implies (Rafailov et al. 2023, sec. 5), without beta log Z(x).

    logp, ref_logp: (B,) sequence log-probabilities of B replies under the policy and under the
        frozen reference; may be around -1e4.
    Returns (B,): r = beta log pi(y|x) / pi_ref(y|x).
    """''',
    reference=implicit_reward,
    cases=_reward_cases,
    mistakes=[
        Mistake(
            "ratio_inverted",
            "Your ratio is upside down: the reward is beta log pi(y|x) / pi_ref(y|x) = beta (logp - ref_logp). "
            "A reply the policy likes *more* than the reference did earns a positive reward.",
            lambda lp, ref, b: b * (ref - lp),
        ),
        Mistake(
            "missing_beta",
            "beta is missing: r = beta log pi / pi_ref. It comes from the optimum "
            "pi* = pi_ref exp(r / beta) / Z of the KL-regularised objective, solved for r.",
            lambda lp, ref, b: lp - ref,
        ),
        Mistake(
            "divided_by_beta",
            "You divided by beta: multiply. pi* = pi_ref exp(r / beta) / Z, so r = beta log pi* / pi_ref "
            "(+ beta log Z, which cancels between two replies).",
            lambda lp, ref, b: (lp - ref) / b,
        ),
        Mistake(
            "probability_difference",
            "You subtracted probabilities, exp(logp) - exp(ref_logp): the reward is the *log* of their "
            "ratio, beta (logp - ref_logp). For a long reply both probabilities are 0 in floating point "
            "and your reward says nothing.",
            lambda lp, ref, b: b * (torch.exp(lp) - torch.exp(ref)),
        ),
        Mistake(
            "ratio_of_probabilities",
            "Your reward is not finite on the numerical-stability case (log-probabilities around -1e4): "
            "exp(-1e4) underflows to 0 and log(0 / 0) is NaN. The log-ratio is a difference of logs: "
            "logp - ref_logp.",
            lambda lp, ref, b: b * torch.log(torch.exp(lp) / torch.exp(ref)),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 4.3: the IPO loss


def _ipo_cases() -> list[Case]:
    rng = np.random.default_rng(403)

    def around(target: float, B: int) -> np.ndarray:
        return target * rng.uniform(-1.0, 2.5, B)  # (B,) margins below and above the target

    tau = 0.01  # target 1/(2 tau) = 50
    h_extreme = np.array([50.0, 1e3, -1e3, 49.5, 0.0, 200.0])  # one pair exactly on target
    return [
        (*_pair_case(rng, B=5, margin=around(1.0, 5)), 0.5),  # target 1: tau/2, 1/tau, tau h all differ
        (*_pair_case(rng, B=8, margin=around(5.0, 8)), 0.1),
        (*_pair_case(rng, B=6, margin=around(2.0, 6)), 0.25),
        (*_pair_case(rng, B=6, margin=h_extreme, level=-1e4), tau),  # extreme: tiny tau, log-probs ~ -1e4
    ]


def _naive_margin(lc: torch.Tensor, lr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor) -> torch.Tensor:
    """h through probability ratios, as a learner might write it: 0/0 = NaN at log-probabilities of -1e4."""
    return torch.log(torch.exp(lc) / torch.exp(rc)) - torch.log(torch.exp(lr) / torch.exp(rr))


IPO_LOSS = Exercise(
    id="4.3",
    title="ipo_loss",
    difficulty=2,
    minutes=10,
    signature='''def ipo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor,
             ref_chosen: torch.Tensor, ref_rejected: torch.Tensor, tau: float) -> torch.Tensor:
    """The IPO loss (Azar et al. 2023, eq. 17).

    logp_chosen, logp_rejected: (B,) sequence log-probabilities of the preferred and the
        rejected reply of each pair under the policy.
    ref_chosen, ref_rejected: (B,) the same under the frozen reference policy.
    Returns the mean over the pairs of (h - 1/(2 tau))^2 (0-dim), where
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected). The log-probabilities
    may be around -1e4 and tau as small as 0.01.
    """''',
    reference=ipo_loss,
    cases=_ipo_cases,
    trainer=_trains_like_the_library("ipo"),
    trained_in="dpo_train",
    mistakes=[
        Mistake(
            "target_one_over_tau",
            "Your target margin is twice too large: IPO regresses h onto 1/(2 tau), not 1/tau.",
            lambda lc, lr, rc, rr, t: ((_naive_margin(lc, lr, rc, rr) - 1.0 / t) ** 2).mean(),
        ),
        Mistake(
            "target_tau_over_2",
            "Your target is tau/2: it is 1/(2 tau), the inverse. A *small* tau (weak regularisation) "
            "asks for a *large* margin between the chosen and the rejected reply.",
            lambda lc, lr, rc, rr, t: ((_naive_margin(lc, lr, rc, rr) - t / 2.0) ** 2).mean(),
        ),
        Mistake(
            "tau_times_h",
            "You multiplied h by tau, as DPO multiplies it by beta: in IPO tau appears only in the target, "
            "(h - 1/(2 tau))^2, with h the plain difference of the two log-ratios.",
            lambda lc, lr, rc, rr, t: ((t * _naive_margin(lc, lr, rc, rr) - 1.0 / (2.0 * t)) ** 2).mean(),
        ),
        Mistake(
            "swapped",
            "Your loss pulls the *rejected* reply up: h = (logp_chosen - ref_chosen) - (logp_rejected - "
            "ref_rejected) should approach +1/(2 tau). You have chosen and rejected (or logp and ref) the "
            "other way round.",
            lambda lc, lr, rc, rr, t: ((-_naive_margin(lc, lr, rc, rr) - 1.0 / (2.0 * t)) ** 2).mean(),
        ),
        Mistake(
            "absolute_value",
            "You took |h - 1/(2 tau)|: IPO's loss is the *square*, (h - 1/(2 tau))^2, a regression of the "
            "margin onto its target whose gradient shrinks as h gets close.",
            lambda lc, lr, rc, rr, t: (_naive_margin(lc, lr, rc, rr) - 1.0 / (2.0 * t)).abs().mean(),
        ),
        Mistake(
            "not_squared",
            "You forgot to square: the mean of h - 1/(2 tau) is unbounded below, so minimising it pushes h "
            "up forever, the very failure of DPO that IPO fixes. The loss is (h - 1/(2 tau))^2.",
            lambda lc, lr, rc, rr, t: (_naive_margin(lc, lr, rc, rr) - 1.0 / (2.0 * t)).mean(),
        ),
        Mistake(
            "summed",
            "Your loss grows with the batch size: average over the B pairs (.mean()), do not sum them.",
            lambda lc, lr, rc, rr, t: ((_naive_margin(lc, lr, rc, rr) - 1.0 / (2.0 * t)) ** 2).sum(),
        ),
        Mistake(
            "ratio_of_probabilities",
            "Your loss is not finite on the numerical-stability case (log-probabilities around -1e4): "
            "exp(-1e4) underflows to 0 and log(0 / 0) is NaN. Each log-ratio is a difference of logs: "
            "logp_chosen - ref_chosen.",
            lambda lc, lr, rc, rr, t: ((_naive_margin(lc, lr, rc, rr) - 1.0 / (2.0 * t)) ** 2).mean(),
        ),
    ],
)


EXERCISES: dict[str, Exercise] = {ex.id: ex for ex in (DPO_LOSS, IMPLICIT_REWARD, IPO_LOSS)}

check_dpo_loss = exercise_checker(DPO_LOSS)
check_implicit_reward = exercise_checker(IMPLICIT_REWARD)
check_ipo_loss = exercise_checker(IPO_LOSS)

CHECKERS = {
    "4.1": check_dpo_loss,
    "4.2": check_implicit_reward,
    "4.3": check_ipo_loss,
}
