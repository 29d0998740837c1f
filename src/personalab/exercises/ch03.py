"""Exercises of Chapter 3, Lab 3 (RLHF): a reward-model loss, KL-penalised rewards, RLOO, best-of-n.

The four pieces of RLHF a learner writes in the lab: the Bradley-Terry loss of the reward
model, the per-token rewards with a KL penalty that PPO maximises, the leave-one-out
advantages of REINFORCE (RLOO) and the KL of best-of-n sampling from the reference.

Book: Chapter 3, Lab 3; the library's equations (3.3) (personalab.align.rewards), (3.6)
(personalab.align.bestofn) and (3.7)-(3.8) (personalab.align.rlhf). In the papers::

    L_RM = -E log sigma(r(x, y_w) - r(x, y_l))                 Ouyang et al. 2022, eq. (1);
                                                                Stiennon et al. 2020, sec. 3.4
    R(x, y) = r(x, y) - beta log pi(y|x) / pi_ref(y|x), paid per token:
    r_t = -beta (log pi(y_t|.) - log pi_ref(y_t|.)) [+ r(x, y) on the last token]
                                                                Ouyang et al. 2022, eq. (2);
                                                                Stiennon et al. 2020, sec. 3.4
    A_i = R_i - 1/(k-1) sum_{j != i} R_j                        Ahmadian et al. 2024 (RLOO);
                                                                Kool et al. 2019
    KL(best-of-n || pi_ref) <= log n - (n-1)/n                  Stiennon et al. 2020 (appendix);
                                                                Beirami et al. 2024, Thm 3.1

Each exercise has a reference solution, test cases whose last one is an extreme case, and the
known mistakes its checker recognises. In the lab::

    from personalab.exercises.ch03 import check_bradley_terry_loss
    check_bradley_terry_loss(bradley_terry_loss)

As in Chapter 2, a mistake's ``impl`` is written as a learner first writes it --
``log(sigmoid(.))``, ``log(exp(a) / exp(b))`` -- where that is inf or NaN on the extreme case:
the checker does not compare non-finite outputs of a mistake, so its hint fires whether or not
the learner's function also survives the extreme case (which the last mistake of 3.1 and 3.2
then points out).
"""

from __future__ import annotations

import numpy as np
import torch

# The references are the library's own eqs. (3.3), (3.8) and (3.6), which the trainers run.
from ..align.bestofn import kl_bound as bestofn_kl_bound
from ..align.rewards import bradley_terry_loss
from ..align.rlhf import loo_advantages
from .core import Exercise, Mistake, ShapeHintExercise, exercise_checker

# ---------------------------------------------------------------------------------------------
# Exercise 3.1: the Bradley-Terry loss of a reward model


def _bt_case(rng: np.random.Generator, B: int, offset: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores with a common offset (a reward model's scale has no zero) and mostly positive margins."""
    r_rejected = offset + rng.standard_normal(B)
    r_chosen = r_rejected + rng.normal(0.7, 1.5, B)  # (B,) the model gets some pairs wrong
    return torch.from_numpy(r_chosen), torch.from_numpy(r_rejected)


def _bt_cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(301)
    r_rejected = 5.0 * rng.standard_normal(6)
    margins = np.array([1000.0, -1000.0, 0.5, -2.0, 30.0, -30.0])  # a confidently right and a confidently wrong pair
    return [
        _bt_case(rng, B=4, offset=0.0),
        _bt_case(rng, B=7, offset=3.0),
        _bt_case(rng, B=10, offset=-2.0),
        (torch.from_numpy(r_rejected + margins), torch.from_numpy(r_rejected)),  # extreme: margins of +-1000
    ]


def _naive_nll(margin: torch.Tensor) -> torch.Tensor:
    """-log(sigmoid(m)) as a learner first writes it: inf where sigmoid underflows (m = -1000)."""
    return -torch.log(torch.sigmoid(margin))


BRADLEY_TERRY_LOSS = Exercise(
    id="3.1",
    title="bradley_terry_loss",
    difficulty=2,
    minutes=15,
    signature='''def bradley_terry_loss(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """The reward model's Bradley-Terry loss (Ouyang et al. 2022, eq. 1).

    r_chosen, r_rejected: (B,) float scores of the preferred and the rejected reply of each pair.
    Returns the mean over the pairs of -log sigma(r_chosen - r_rejected) (0-dim). The margins
    may be as large as +-1000.
    """''',
    reference=bradley_terry_loss,
    cases=_bt_cases,
    mistakes=[
        Mistake(
            "swapped",
            "Your loss rewards the rejected replies: the probability that the *chosen* reply wins is "
            "sigma(r_chosen - r_rejected), so the loss is -log sigma(r_chosen - r_rejected). You have the "
            "two scores the other way round.",
            lambda rc, rr: _naive_nll(rr - rc).mean(),
        ),
        Mistake(
            "missing_minus",
            "Your loss is negative: it is the log-likelihood of the raters' choices, which training would "
            "*minimise*. The loss is the negative log-likelihood, -log sigma(r_chosen - r_rejected).",
            lambda rc, rr: (-_naive_nll(rc - rr)).mean(),
        ),
        Mistake(
            "summed",
            "Your loss grows with the batch size: average over the B pairs (.mean()), do not sum them.",
            lambda rc, rr: _naive_nll(rc - rr).sum(),
        ),
        Mistake(
            "sigmoid_of_each_score",
            "You applied the sigmoid to each score separately, as if each reply were classified good or "
            "bad on its own. In the Bradley-Terry model only the difference of the scores counts: the "
            "chosen reply wins with probability sigma(r_chosen - r_rejected), so adding the same constant "
            "to both scores must not change the loss.",
            lambda rc, rr: (-torch.log(torch.sigmoid(rc)) - torch.log(1 - torch.sigmoid(rr))).mean(),
        ),
        Mistake(
            "hinge",
            "That is a hinge (margin-ranking) loss, max(0, 1 - (r_chosen - r_rejected)): it stops caring "
            "once the margin exceeds 1. The Bradley-Terry loss is the logistic loss "
            "-log sigma(r_chosen - r_rejected) = log(1 + exp(-(r_chosen - r_rejected))), the negative "
            "log-likelihood of the raters' choices.",
            lambda rc, rr: torch.clamp(1 - (rc - rr), min=0).mean(),
        ),
        Mistake(
            "log_of_sigmoid",
            "Your loss is not finite on the numerical-stability case (a pair with margin -1000): "
            "sigmoid(-1000) underflows to 0 and log(0) = -inf. Use F.logsigmoid(margin), or "
            "F.softplus(-margin), which compute log sigma without forming sigma.",
            lambda rc, rr: _naive_nll(rc - rr).mean(),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 3.2: per-token rewards with a KL penalty to the reference policy


def kl_penalised_rewards(
    score: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor, mask: torch.Tensor, beta: float
) -> torch.Tensor:
    """Reference for exercise 3.2. Book: Chapter 3, Lab 3; Ouyang et al. 2022, eq. (2).

    The RL reward R(x, y) = r(x, y) - beta log pi(y|x) / pi_ref(y|x) (Stiennon et al. 2020,
    sec. 3.4), paid out token by token as in PPO implementations (TRL's ``PPOTrainer``):
    every response token pays -beta (log pi(y_t) - log pi_ref(y_t)), a single-sample estimate
    of its share of the KL, and the reward model's score arrives with the last response token.
    The rewards of a row sum to R(x, y).

    Args:
        score: (B,) the reward model's score r(x, y) of each whole response.
        logp: (B, T) log pi(y_t | x, y_<t) of the sampled tokens under the policy.
        logp_ref: (B, T) the same under the frozen reference policy.
        mask: (B, T) bool, True on the response tokens of each row, which come first (padding last).
        beta: the KL coefficient.
    Returns:
        (B, T) the per-token rewards; 0 on padding.
    """
    B, T = logp.shape
    penalty = -beta * (logp - logp_ref)  # (B, T) the log-ratio: a difference of logs, never a ratio of exps
    rewards = torch.where(mask, penalty, torch.zeros_like(penalty))  # padding earns nothing
    positions = torch.arange(T, device=mask.device).expand(B, T)
    last = torch.where(mask, positions, -1).max(dim=1).values  # (B,) the last *response* token of each row
    rewards[torch.arange(B), last] += score
    return rewards


def _rewards_case(
    rng: np.random.Generator, lengths: list[int], T: int, beta: float, extreme: bool = False
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Rows of different lengths; the log-probabilities on padding are whatever the models said there."""
    B = len(lengths)
    mask = np.arange(T)[None, :] < np.array(lengths)[:, None]  # (B, T) response first, padding last
    if extreme:  # tokens both models find all but impossible: exp() underflows to exactly 0
        logp_ref = -1e4 - rng.uniform(0.0, 5.0, (B, T))
        logp = logp_ref + rng.normal(0.0, 1.0, (B, T))
        score = rng.normal(0.0, 100.0, B)
    else:
        logp_ref = np.log(rng.uniform(0.01, 1.0, (B, T)))
        logp = np.log(rng.uniform(0.01, 1.0, (B, T)))
        score = rng.normal(0.0, 2.0, B)
    return torch.from_numpy(score), torch.from_numpy(logp), torch.from_numpy(logp_ref), torch.from_numpy(mask), beta


def _rewards_cases() -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]]:
    rng = np.random.default_rng(302)
    return [
        _rewards_case(rng, lengths=[5, 3], T=5, beta=0.1),
        _rewards_case(rng, lengths=[4, 6, 2], T=6, beta=0.05),
        _rewards_case(rng, lengths=[7, 3, 7, 5], T=7, beta=0.2),
        _rewards_case(rng, lengths=[6, 2, 4], T=6, beta=25.0, extreme=True),  # log-probs ~ -1e4, large beta
    ]


def _naive_log_ratio(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """log(pi / pi_ref) through the probabilities, as a learner first writes it: 0/0 = NaN at -1e4."""
    return torch.log(torch.exp(logp) / torch.exp(logp_ref))


def _last_token(mask: torch.Tensor) -> torch.Tensor:
    return mask.sum(dim=1) - 1  # (B,) responses come first


def _shaped(
    score: torch.Tensor,
    kl: torch.Tensor,
    mask: torch.Tensor,
    beta: float,
    at: torch.Tensor | None = None,
    masked: bool = True,
    score_scale: float = 1.0,
) -> torch.Tensor:
    """-beta kl (on the response tokens if ``masked``), plus score_scale x score at position ``at``."""
    rewards = -beta * kl * mask if masked else -beta * kl
    at = _last_token(mask) if at is None else at
    rewards[torch.arange(len(score)), at] += score_scale * score
    return rewards


KL_PENALISED_REWARDS = Exercise(
    id="3.2",
    title="kl_penalised_rewards",
    difficulty=2,
    minutes=20,
    signature='''def kl_penalised_rewards(score: torch.Tensor, logp: torch.Tensor, logp_ref: torch.Tensor,
                         mask: torch.Tensor, beta: float) -> torch.Tensor:
    """Per-token RLHF rewards with a KL penalty to the reference (Ouyang et al. 2022, eq. 2).

    score: (B,) the reward model's score of each whole response.
    logp, logp_ref: (B, T) log-probabilities of the sampled tokens under the policy and under
        the frozen reference; may be around -1e4.
    mask: (B, T) bool, True on response tokens (they come first; the rest of a row is padding).
    Returns (B, T): r_t = -beta (logp_t - logp_ref_t) on each response token, plus score on the
    last response token of the row; 0 on padding.
    """''',
    reference=kl_penalised_rewards,
    cases=_rewards_cases,
    mistakes=[
        Mistake(
            "reversed_kl",
            "Your penalty has the wrong sign: the KL of the policy from the reference is "
            "E_pi[log pi - log pi_ref], so each token pays -beta (logp - logp_ref). With logp_ref - logp "
            "you reward the policy for drifting away from the reference.",
            lambda s, lp, lr, m, b: _shaped(s, -_naive_log_ratio(lp, lr), m, b),
        ),
        Mistake(
            "padding_penalised",
            "Your padding positions have non-zero rewards: the KL penalty applies to response tokens "
            "only. Zero it where mask is False (torch.where(mask, penalty, 0)).",
            lambda s, lp, lr, m, b: _shaped(s, _naive_log_ratio(lp, lr), m, b, masked=False),
        ),
        Mistake(
            "score_on_every_token",
            "You added the score to every response token, so a response of L tokens collects it L times. "
            "The reward model scores the whole response once: add score only to the last response token.",
            lambda s, lp, lr, m, b: (-b * _naive_log_ratio(lp, lr) + s[:, None]) * m,
        ),
        Mistake(
            "score_on_first_token",
            "You added the score to the first response token; it belongs on the *last* one, where the "
            "response is complete and the reward model can judge it.",
            lambda s, lp, lr, m, b: _shaped(s, _naive_log_ratio(lp, lr), m, b, at=torch.zeros(len(s), dtype=int)),
        ),
        Mistake(
            "score_at_last_position",
            "You added the score at position T - 1, which is padding in the shorter rows. Add it on the "
            "last *response* token of each row: index mask.sum(1) - 1 (the response comes first).",
            lambda s, lp, lr, m, b: _shaped(
                s, _naive_log_ratio(lp, lr), m, b, at=torch.full((len(s),), m.shape[1] - 1)
            ),
        ),
        Mistake(
            "beta_on_score",
            "You multiplied the score by beta too: beta weighs only the KL penalty, "
            "R = score - beta log(pi / pi_ref). Add the score itself on the last response token.",
            lambda s, lp, lr, m, b: _shaped(s, _naive_log_ratio(lp, lr), m, b, score_scale=b),
        ),
        Mistake(
            "probability_ratio",
            "Your rewards are not finite on the numerical-stability case (log-probabilities around -1e4): "
            "exp(-1e4) underflows to 0 and log(0 / 0) is NaN. The log-ratio is a difference of logs: "
            "logp - logp_ref.",
            lambda s, lp, lr, m, b: _shaped(s, _naive_log_ratio(lp, lr), m, b),
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 3.3: leave-one-out advantages (RLOO)


def _loo_case(rng: np.random.Generator, N: int, k: int, binary: bool = False, scale: float = 1.0) -> tuple:
    """Each prompt has its own level (some prompts are easier), so a batch-wide baseline is visibly off."""
    levels = scale * rng.normal(0.0, 3.0, (N, 1))  # (N, 1)
    noise = rng.integers(0, 2, (N, k)).astype(float) if binary else rng.standard_normal((N, k))
    return (levels + noise,)


def _loo_cases() -> list[tuple[np.ndarray]]:
    rng = np.random.default_rng(303)
    extreme = np.array([[1e6 + 0.25, 1e6 - 1.5], [-1e6 + 3.0, -1e6 + 3.0], [2.0, -1.0], [2.5e5, 2.5e5 + 7.0]])
    return [
        _loo_case(rng, N=3, k=4),
        _loo_case(rng, N=5, k=3),
        _loo_case(rng, N=2, k=6, binary=True),  # a verifier's 0/1 rewards (plus a level per prompt)
        (extreme,),  # extreme: k = 2, levels of +-1e6, a prompt whose two samples tie
    ]


def _std_normalised(r: np.ndarray) -> np.ndarray:
    return (r - r.mean(axis=1, keepdims=True)) / r.std(axis=1, keepdims=True)


LOO_ADVANTAGES = ShapeHintExercise(
    id="3.3",
    title="loo_advantages",
    difficulty=1,
    minutes=10,
    signature='''def loo_advantages(rewards: np.ndarray) -> np.ndarray:
    """REINFORCE leave-one-out advantages (Ahmadian et al. 2024).

    rewards: (N, k) float, the rewards of k >= 2 sampled responses to each of N prompts.
    Returns (N, k): A[i, j] = rewards[i, j] - (mean of the other k - 1 rewards of prompt i).
    """''',
    reference=loo_advantages,
    cases=_loo_cases,
    shape_hint="reduce over each prompt's k samples with keepdims=True: rewards.sum(axis=1, keepdims=True) "
    "has shape (N, 1), which broadcasts against the (N, k) rewards",
    mistakes=[
        Mistake(
            "mean_including_self",
            "Your baseline includes the sample itself: r - mean of all k rewards is (k - 1)/k times the "
            "leave-one-out advantage (half of it when k = 2), and a baseline that depends on the sample "
            "biases the gradient. Subtract the mean of the *other* k - 1 rewards: (sum - r) / (k - 1).",
            lambda r: r - r.mean(axis=1, keepdims=True),
        ),
        Mistake(
            "divided_by_k",
            "The other samples of a prompt number k - 1, not k: divide (sum - r) by k - 1.",
            lambda r: r - (r.sum(axis=1, keepdims=True) - r) / r.shape[1],
        ),
        Mistake(
            "wrong_axis",
            "Row i holds the k samples of prompt i: take the baseline along axis=1 (within a row), not "
            "axis=0, which mixes different prompts' samples.",
            lambda r: r - (r.sum(axis=0, keepdims=True) - r) / (r.shape[0] - 1),
        ),
        Mistake(
            "batch_baseline",
            "Your baseline pools the whole batch: the other samples must be those of the *same prompt* "
            "(sum over axis=1, keepdims=True), or an easy prompt's samples all look good and a hard "
            "prompt's all look bad.",
            lambda r: r - (r.sum() - r) / (r.size - 1),
        ),
        Mistake(
            "std_normalised",
            "You divided by the standard deviation of the prompt's rewards (GRPO's normalisation): the "
            "leave-one-out advantage is just r - mean of the others, without rescaling.",
            _std_normalised,
        ),
    ],
)


# ---------------------------------------------------------------------------------------------
# Exercise 3.4: the KL divergence of best-of-n from the reference policy


def _bon_cases() -> list[tuple]:
    return [
        (2,),
        (np.array([1, 2, 3, 4, 8, 16, 100]),),
        (np.array([[2, 5], [50, 1000]]),),
        (np.array([1, 10**6, 10**12]),),  # extreme: exactly 0 at n = 1, about 26.6 at n = 10**12
    ]


BESTOFN_KL_BOUND = Exercise(
    id="3.4",
    title="bestofn_kl_bound",
    difficulty=1,
    minutes=10,
    signature='''def bestofn_kl_bound(n: int | np.ndarray) -> float | np.ndarray:
    """The KL of best-of-n from the reference policy (Stiennon et al. 2020), in nats.

    Beirami et al. 2024 prove it is an upper bound: KL <= log n - (n - 1)/n.
    n: an int >= 1 (a float comes back), or an array of them (an array of the same shape).
    n may be as large as 10**12.
    """''',
    reference=bestofn_kl_bound,
    cases=_bon_cases,
    mistakes=[
        Mistake(
            "log_n_only",
            "log n is only the first term: best-of-n has density n F^(n-1) relative to the reference "
            "(F the CDF of the rewards), and E[log F^(n-1)] = -(n - 1)/n, so KL <= log n - (n - 1)/n.",
            lambda n: np.log(n),
        ),
        Mistake(
            "log2",
            "The KL is in nats: use the natural logarithm, np.log(n), not log2.",
            lambda n: np.log2(n) - (np.asarray(n) - 1) / n,
        ),
        Mistake(
            "plus_sign",
            "Subtract (n - 1)/n from log n, do not add it: KL <= log n - (n - 1)/n, which is 0 at n = 1 "
            "and log 2 - 1/2 at n = 2.",
            lambda n: np.log(n) + (np.asarray(n) - 1) / n,
        ),
        Mistake(
            "second_term_only",
            "(n - 1)/n alone stays below 1 nat however large n is; the bound is log n - (n - 1)/n, which "
            "grows like log n.",
            lambda n: (np.asarray(n) - 1) / n,
        ),
    ],
)


EXERCISES: dict[str, Exercise] = {
    ex.id: ex for ex in (BRADLEY_TERRY_LOSS, KL_PENALISED_REWARDS, LOO_ADVANTAGES, BESTOFN_KL_BOUND)
}

check_bradley_terry_loss = exercise_checker(BRADLEY_TERRY_LOSS)
check_kl_penalised_rewards = exercise_checker(KL_PENALISED_REWARDS)
check_loo_advantages = exercise_checker(LOO_ADVANTAGES)
check_bestofn_kl_bound = exercise_checker(BESTOFN_KL_BOUND)

CHECKERS = {
    "3.1": check_bradley_terry_loss,
    "3.2": check_kl_penalised_rewards,
    "3.3": check_loo_advantages,
    "3.4": check_bestofn_kl_bound,
}
