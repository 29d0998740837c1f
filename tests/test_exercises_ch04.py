"""The exercise checkers of Chapter 4, Lab 4 (book: Chapter 4; the equations of the DPO and IPO papers).

Each checker must fail on the stub, name the intended mistake for each known-wrong variant,
fail with the generic message on any other wrong function, and pass on a correct solution.
The wrong variants and the correct solutions below are written independently, as a learner
would write them: they are *not* the ``Mistake.impl`` or reference objects of the checkers, so
a checker that compared a function with itself would fail these tests. The references are
also held to literal float64 formulas, independently of the chapter's library (personalab.align.dpo).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_contract import checker_contract, stub

from personalab.exercises.ch03 import bradley_terry_loss
from personalab.exercises.ch04 import (
    CHECKERS,
    DPO_LOSS,
    EXERCISES,
    IMPLICIT_REWARD,
    IPO_LOSS,
    check_dpo_loss,
    check_implicit_reward,
    check_ipo_loss,
    dpo_loss,
    implicit_reward,
    ipo_loss,
)
from personalab.exercises.core import NOT_IMPLEMENTED

# ---------------------------------------------------------------------------------------------
# Learner code, written independently of personalab.exercises.ch04


# -- 4.1 dpo_loss -----------------------------------------------------------------------------


def dpo_solution(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -F.logsigmoid(beta * h).mean()


def dpo_like_trl(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # also correct: the policy's log-odds of the pair minus the reference's
    pi_logratios = logp_chosen - logp_rejected
    ref_logratios = ref_chosen - ref_rejected
    return (-F.logsigmoid(beta * (pi_logratios - ref_logratios))).mean()


def dpo_as_logistic_regression(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # also correct: "the chosen reply wins" is a label 1 for the logit beta h
    logits = beta * ((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected))
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def dpo_by_hand(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # right numbers, numerically careful -- log(1 + e^-z) = max(-z, 0) + log1p(e^-|z|) -- but the
    # autograd gradient at z = 0 is -1 (clamp's and abs's subgradients), not -1/2: exactly where
    # DPO starts (policy = reference), so dpo_train moves differently with it
    z = beta * ((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected))
    return (torch.clamp(-z, min=0) + torch.log1p(torch.exp(-z.abs()))).mean()


def dpo_in_numpy(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # right numbers, but a float: nothing for dpo_train to differentiate
    lc, lr, rc, rr = (x.numpy() for x in (logp_chosen, logp_rejected, ref_chosen, ref_rejected))
    return float(np.mean(np.logaddexp(0.0, -beta * ((lc - rc) - (lr - rr)))))


def dpo_swapped(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    return -F.logsigmoid(beta * ((logp_rejected - ref_rejected) - (logp_chosen - ref_chosen))).mean()


def dpo_ratios_upside_down(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # log pi_ref / pi instead of log pi / pi_ref: the same loss as the swap
    return -F.logsigmoid(beta * ((ref_chosen - logp_chosen) - (ref_rejected - logp_rejected))).mean()


def dpo_swapped_and_naive(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # two mistakes at once: the checker names the first, the swap
    h = (logp_rejected - ref_rejected) - (logp_chosen - ref_chosen)
    return torch.mean(-torch.log(torch.sigmoid(beta * h)))


def dpo_reference_added(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    pi_logratios = logp_chosen - logp_rejected
    ref_logratios = ref_chosen - ref_rejected
    return -F.logsigmoid(beta * (pi_logratios + ref_logratios)).mean()


def dpo_without_reference(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    return -F.logsigmoid(beta * (logp_chosen - logp_rejected)).mean()


def dpo_without_beta(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    return -F.logsigmoid((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)).mean()


def dpo_beta_divides(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    return F.softplus(-((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)) / beta).mean()


def dpo_summed(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    logits = beta * ((logp_chosen - ref_chosen) - (logp_rejected - ref_rejected))
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits), reduction="sum")


def dpo_naive(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    p_chosen_wins = 1.0 / (1.0 + torch.exp(-beta * h))
    return torch.mean(-torch.log(p_chosen_wins))


def dpo_through_probabilities(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # right on paper, but exp(-3000) = 0: the ratio 0/0 is NaN
    ratio_chosen = torch.exp(logp_chosen) / torch.exp(ref_chosen)
    ratio_rejected = torch.exp(logp_rejected) / torch.exp(ref_rejected)
    return -F.logsigmoid(beta * torch.log(ratio_chosen / ratio_rejected)).mean()


def dpo_win_probability(logp_chosen, logp_rejected, ref_chosen, ref_rejected, beta):
    # 1 - p(chosen wins): a loss that goes the right way, but not the negative log-likelihood
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return (1.0 - torch.sigmoid(beta * h)).mean()


# -- 4.2 implicit_reward ----------------------------------------------------------------------


def reward_solution(logp, ref_logp, beta):
    return beta * (logp - ref_logp)


def reward_expanded(logp, ref_logp, beta):
    # also correct: beta log pi - beta log pi_ref
    return beta * logp - beta * ref_logp


def reward_in_numpy(logp, ref_logp, beta):
    # also correct: an array is as good as a tensor
    return beta * (logp.numpy() - ref_logp.numpy())


def reward_in_a_loop(logp, ref_logp, beta):
    return torch.tensor([beta * (a - b) for a, b in zip(logp.tolist(), ref_logp.tolist())], dtype=torch.float64)


def reward_inverted(logp, ref_logp, beta):
    return beta * (ref_logp - logp)


def reward_without_beta(logp, ref_logp, beta):
    return logp - ref_logp


def reward_over_beta(logp, ref_logp, beta):
    return (logp - ref_logp) / beta


def reward_from_probabilities(logp, ref_logp, beta):
    return beta * (logp.exp() - ref_logp.exp())


def reward_ratio_of_exps(logp, ref_logp, beta):
    return beta * torch.log(torch.exp(logp) / torch.exp(ref_logp))


def reward_ratio_of_logs(logp, ref_logp, beta):
    return beta * logp / ref_logp


# -- 4.3 ipo_loss -----------------------------------------------------------------------------


def ipo_solution(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return ((h - 1 / (2 * tau)) ** 2).mean()


def ipo_like_trl(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    # also correct: TRL's "ipo" loss type, with its beta playing tau
    logits = (logp_chosen - logp_rejected) - (ref_chosen - ref_rejected)
    return torch.mean((logits - 1 / (2 * tau)) ** 2)


def ipo_as_mse(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    # also correct: a regression of h onto the constant target 1/(2 tau)
    h = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return F.mse_loss(h, torch.full_like(h, 0.5 / tau))


def ipo_in_numpy(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = (logp_chosen.numpy() - ref_chosen.numpy()) - (logp_rejected.numpy() - ref_rejected.numpy())
    return float(np.square(h - 1 / (2 * tau)).mean())


def _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected):
    return (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)


def ipo_target_inverse_tau(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return ((h - 1 / tau) ** 2).mean()


def ipo_target_half_tau(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return ((h - 0.5 * tau) ** 2).mean()


def ipo_scaled_like_dpo(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return torch.mean((tau * h - 1 / (2 * tau)) ** 2)


def ipo_swapped(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = (logp_rejected - ref_rejected) - (logp_chosen - ref_chosen)
    return ((h - 1 / (2 * tau)) ** 2).mean()


def ipo_l1(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return F.l1_loss(h, torch.full_like(h, 1 / (2 * tau)))


def ipo_unsquared(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return (h - 1 / (2 * tau)).mean()


def ipo_summed(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return F.mse_loss(h, torch.full_like(h, 1 / (2 * tau)), reduction="sum")


def ipo_through_probabilities(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    # right on paper, but exp(-1e4) = 0: the ratios are 0/0 = NaN
    odds = (torch.exp(logp_chosen) * torch.exp(ref_rejected)) / (torch.exp(logp_rejected) * torch.exp(ref_chosen))
    return ((torch.log(odds) - 1 / (2 * tau)) ** 2).mean()


def ipo_with_the_dpo_loss(logp_chosen, logp_rejected, ref_chosen, ref_rejected, tau):
    h = _ipo_margin(logp_chosen, logp_rejected, ref_chosen, ref_rejected)
    return -F.logsigmoid(tau * h).mean()


SOLUTIONS = [
    ("4.1", dpo_solution),
    ("4.1", dpo_like_trl),
    ("4.1", dpo_as_logistic_regression),
    ("4.2", reward_solution),
    ("4.2", reward_expanded),
    ("4.2", reward_in_numpy),
    ("4.2", reward_in_a_loop),
    ("4.3", ipo_solution),
    ("4.3", ipo_like_trl),
    ("4.3", ipo_as_mse),
]

KNOWN_MISTAKES = [
    ("4.1", dpo_swapped, "swapped"),
    ("4.1", dpo_ratios_upside_down, "swapped"),
    ("4.1", dpo_swapped_and_naive, "swapped"),
    ("4.1", dpo_reference_added, "reference_added"),
    ("4.1", dpo_without_reference, "no_reference"),
    ("4.1", dpo_without_beta, "missing_beta"),
    ("4.1", dpo_beta_divides, "divided_by_beta"),
    ("4.1", dpo_summed, "summed"),
    ("4.1", dpo_naive, "log_of_sigmoid"),
    ("4.1", dpo_through_probabilities, "log_of_sigmoid"),
    ("4.2", reward_inverted, "ratio_inverted"),
    ("4.2", reward_without_beta, "missing_beta"),
    ("4.2", reward_over_beta, "divided_by_beta"),
    ("4.2", reward_from_probabilities, "probability_difference"),
    ("4.2", reward_ratio_of_exps, "ratio_of_probabilities"),
    ("4.3", ipo_target_inverse_tau, "target_one_over_tau"),
    ("4.3", ipo_target_half_tau, "target_tau_over_2"),
    ("4.3", ipo_scaled_like_dpo, "tau_times_h"),
    ("4.3", ipo_swapped, "swapped"),
    ("4.3", ipo_l1, "absolute_value"),
    ("4.3", ipo_unsquared, "not_squared"),
    ("4.3", ipo_summed, "summed"),
    ("4.3", ipo_through_probabilities, "ratio_of_probabilities"),
]

ARBITRARY_WRONG = [
    ("4.1", dpo_win_probability),
    ("4.2", reward_ratio_of_logs),
    ("4.3", ipo_with_the_dpo_loss),
]


# ---------------------------------------------------------------------------------------------
# The checkers' verdicts


globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))


def test_writing_the_log_ratios_upside_down_is_the_same_mistake_as_swapping_the_replies():
    # (ref_c - logp_c) - (ref_r - logp_r) = -h = (logp_r - ref_r) - (logp_c - ref_c): one mistake, one hint
    for case in DPO_LOSS.cases():
        torch.testing.assert_close(dpo_ratios_upside_down(*case), dpo_swapped(*case), rtol=1e-12, atol=0)
    assert "ref - logp" in next(m.hint for m in DPO_LOSS.mistakes if m.name == "swapped")


# ---------------------------------------------------------------------------------------------
# The cases: each mistake is distinguishable, and the last case is the extreme one


@pytest.mark.parametrize(
    ("ex_id", "naive", "stable"),
    [
        ("4.1", dpo_naive, dpo_solution),
        ("4.1", dpo_through_probabilities, dpo_solution),
        ("4.2", reward_ratio_of_exps, reward_solution),
        ("4.3", ipo_through_probabilities, ipo_solution),
    ],
)
def test_only_the_extreme_case_separates_the_naive_formula_from_the_stable_one(ex_id, naive, stable):
    ex = EXERCISES[ex_id]
    *ordinary, extreme = ex.cases()
    for case in ordinary:  # the two formulas agree on paper ...
        assert ex.compare(ex.run(naive, case), ex.run(stable, case))
    assert not torch.isfinite(ex.run(naive, extreme)).all()  # ... but not here
    assert torch.isfinite(ex.run(stable, extreme)).all()


@pytest.mark.parametrize("ex_id", ["4.1", "4.3"])
def test_the_pair_cases_are_float64_sequence_log_probabilities_with_a_reference_that_tells_the_replies_apart(ex_id):
    for *logps, coeff in EXERCISES[ex_id].cases():
        logp_chosen, logp_rejected, ref_chosen, ref_rejected = logps
        assert all(x.dtype == torch.float64 and x.shape == logp_chosen.shape for x in logps)
        assert logp_chosen.ndim == 1 and len(logp_chosen) > 1  # a mean and a sum differ
        assert all((x < 0).all() for x in logps)  # log-probabilities of whole replies
        assert (ref_chosen != ref_rejected).all()  # ignoring the reference shows
        assert ((ref_chosen - ref_rejected).abs() > 1e-3).all()  # ... and adding it instead of subtracting
        assert coeff > 0 and coeff != 1.0  # forgetting beta (or tau), or dividing by it, shows


def test_the_dpo_cases_have_right_and_wrong_pairs_and_the_extreme_one_beta_h_of_plus_and_minus_1000():
    for lc, lr, rc, rr, _beta in DPO_LOSS.cases():
        h = (lc - rc) - (lr - rr)
        assert (h > 0).any() and (h < 0).any()
    lc, lr, rc, rr, beta = DPO_LOSS.cases()[-1]
    z = beta * ((lc - rc) - (lr - rr))
    assert z.max() >= 999.0 and z.min() <= -999.0
    assert (torch.sigmoid(z) == 0).any()  # log(sigmoid(z)) = -inf on this case
    assert lc.max() < -745 and (torch.exp(lc) == 0).all()  # and exp() of a log-probability underflows
    assert torch.isfinite(dpo_loss(lc, lr, rc, rr, beta))


def test_the_reward_cases_have_real_probabilities_first_and_underflowing_ones_last():
    cases = IMPLICIT_REWARD.cases()
    for logp, ref_logp, beta in cases:
        assert logp.dtype == ref_logp.dtype == torch.float64 and logp.shape == ref_logp.shape and len(logp) > 1
        assert (logp < 0).all() and (ref_logp < 0).all()
        assert beta > 0 and beta != 1.0  # missing beta and dividing by it differ from the reference
    logp, ref_logp, beta = cases[0]
    assert logp.exp().min() > 0.01 and ref_logp.exp().min() > 0.01  # subtracting probabilities shows
    logp, ref_logp, beta = cases[-1]
    assert logp.max() < -9e3 and (torch.exp(logp) == 0).all() and (torch.exp(ref_logp) == 0).all()


def test_the_ipo_cases_have_margins_on_both_sides_of_the_target_and_the_extreme_one_a_tiny_tau():
    for lc, lr, rc, rr, tau in IPO_LOSS.cases():
        h = (lc - rc) - (lr - rr)
        target = 1 / (2 * tau)
        assert (h > target).any() and (h < target).any()  # |.| and no square at all differ from (.)^2
        assert tau not in (1.0, 2**-0.5)  # 1/tau, tau/2 and 1/(2 tau) all differ
    lc, lr, rc, rr, tau = IPO_LOSS.cases()[-1]
    h = (lc - rc) - (lr - rr)
    assert tau == 0.01 and h.abs().max() >= 1e3 and lc.max() < -9e3 and (torch.exp(lc) == 0).all()


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_the_cases_are_deterministic(ex_id):
    first, second = EXERCISES[ex_id].cases(), EXERCISES[ex_id].cases()
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------------------------
# The references against literal formulas, in float64


def _softplus_of_minus(z: float) -> float:
    """-log sigma(z) = log(1 + e^-z), written so that neither exp overflows: -z + log(1 + e^z) for z < 0."""
    return -z + math.log1p(math.exp(z)) if z < 0 else math.log1p(math.exp(-z))


@pytest.mark.parametrize("i", range(4))
def test_the_dpo_loss_is_the_mean_of_log_1_plus_exp_minus_beta_h(i):
    lc, lr, rc, rr, beta = DPO_LOSS.cases()[i]
    hs = [(a - c) - (b - d) for a, b, c, d in zip(lc.tolist(), lr.tolist(), rc.tolist(), rr.tolist())]
    expected = sum(_softplus_of_minus(beta * h) for h in hs) / len(hs)
    assert dpo_loss(lc, lr, rc, rr, beta).item() == pytest.approx(expected, rel=1e-12)


def test_the_dpo_loss_of_a_hand_made_pair():
    # h = (-10 - -11) - (-12 - -11) = 1 - (-1) = 2; beta h = 1
    t = lambda *xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731
    loss = dpo_loss(t(-10.0), t(-12.0), t(-11.0), t(-11.0), 0.5)
    assert loss.ndim == 0
    assert loss.item() == pytest.approx(math.log1p(math.exp(-1.0)), rel=1e-15)


def test_the_dpo_loss_is_log_2_where_the_policy_and_the_reference_agree_on_the_pair():
    lc, lr, rc, rr, beta = DPO_LOSS.cases()[0]
    assert dpo_loss(rc, rr, rc, rr, beta).item() == pytest.approx(math.log(2.0), rel=1e-15)  # policy = reference
    shift = torch.linspace(-5.0, 5.0, len(lc), dtype=torch.float64)  # both log-ratios equal: h = 0
    assert dpo_loss(rc + shift, rr + shift, rc, rr, 7.0).item() == pytest.approx(math.log(2.0), rel=1e-15)


def test_the_dpo_loss_reaches_its_asymptotes_exactly_at_beta_h_of_plus_and_minus_1000():
    t = lambda *xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731
    zero = t(-3000.0)
    assert dpo_loss(zero + 2000.0, zero, zero, zero, 0.5).item() == 0.0  # log(1 + e^-1000) rounds to 0
    assert dpo_loss(zero - 2000.0, zero, zero, zero, 0.5).item() == 1000.0  # 1000 + log(1 + e^-1000)
    lc, lr, rc, rr, beta = DPO_LOSS.cases()[-1]
    z = (beta * ((lc - rc) - (lr - rr))).tolist()
    expected = sum(-x if x < -36 else _softplus_of_minus(x) for x in z) / len(z)  # -x + log1p(e^x) = -x there
    assert dpo_loss(lc, lr, rc, rr, beta).item() == pytest.approx(expected, rel=1e-12)


def test_the_dpo_loss_depends_on_the_difference_of_log_ratios_only():
    lc, lr, rc, rr, beta = DPO_LOSS.cases()[1]
    base = dpo_loss(lc, lr, rc, rr, beta)
    c = torch.linspace(-3.0, 3.0, len(lc), dtype=torch.float64)
    torch.testing.assert_close(dpo_loss(lc + c, lr, rc + c, rr, beta), base, rtol=1e-12, atol=0)  # same log-ratio
    torch.testing.assert_close(dpo_loss(lc + c, lr + c, rc, rr, beta), base, rtol=1e-12, atol=0)  # a prompt's shift


def test_the_dpo_loss_is_the_bradley_terry_loss_of_the_implicit_rewards():
    # Rafailov et al.'s derivation read backwards: Chapter 3's reward-model loss, with r = beta log pi / pi_ref.
    for lc, lr, rc, rr, beta in DPO_LOSS.cases():
        r_chosen, r_rejected = implicit_reward(lc, rc, beta), implicit_reward(lr, rr, beta)
        torch.testing.assert_close(
            dpo_loss(lc, lr, rc, rr, beta), bradley_terry_loss(r_chosen, r_rejected), rtol=1e-12, atol=1e-12
        )
        log_z = torch.linspace(-4.0, 4.0, len(lc), dtype=torch.float64)  # beta log Z(x) cancels in each pair
        torch.testing.assert_close(
            bradley_terry_loss(r_chosen + log_z, r_rejected + log_z),
            bradley_terry_loss(r_chosen, r_rejected),
            rtol=1e-12,
            atol=1e-12,
        )


def test_the_dpo_loss_gradient_is_minus_beta_sigma_of_minus_beta_h_over_b():
    lc, lr, rc, rr, beta = DPO_LOSS.cases()[-1]
    lc, lr = lc.clone().requires_grad_(), lr.clone().requires_grad_()
    dpo_loss(lc, lr, rc, rr, beta).backward()
    h = ((lc - rc) - (lr - rr)).detach()
    expected = -beta * torch.sigmoid(-beta * h) / len(h)  # the pairs the policy gets wrong weigh most
    torch.testing.assert_close(lc.grad, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(lr.grad, -expected, rtol=1e-12, atol=0)


@pytest.mark.parametrize("i", range(4))
def test_the_implicit_reward_is_beta_times_the_log_ratio(i):
    logp, ref_logp, beta = IMPLICIT_REWARD.cases()[i]
    expected = [beta * (a - b) for a, b in zip(logp.tolist(), ref_logp.tolist())]
    reward = implicit_reward(logp, ref_logp, beta)
    assert reward.shape == logp.shape and reward.dtype == torch.float64
    np.testing.assert_allclose(reward.numpy(), expected, rtol=1e-14, atol=0)


def test_the_implicit_reward_of_hand_made_replies():
    logp = torch.tensor([math.log(0.5), -3.0, -10.0], dtype=torch.float64)
    ref_logp = torch.tensor([math.log(0.25), -3.0, -12.0], dtype=torch.float64)
    # twice as likely as under the reference: beta log 2; equally likely: 0; e^2 times: 2 beta
    expected = torch.tensor([0.1 * math.log(2.0), 0.0, 0.2], dtype=torch.float64)
    torch.testing.assert_close(implicit_reward(logp, ref_logp, 0.1), expected, rtol=1e-15, atol=1e-16)
    assert (implicit_reward(ref_logp, ref_logp, 5.0) == 0).all()  # the reference policy implies no reward


@pytest.mark.parametrize("i", range(4))
def test_the_ipo_loss_is_the_mean_squared_distance_of_h_from_1_over_2_tau(i):
    lc, lr, rc, rr, tau = IPO_LOSS.cases()[i]
    hs = [(a - c) - (b - d) for a, b, c, d in zip(lc.tolist(), lr.tolist(), rc.tolist(), rr.tolist())]
    expected = sum((h - 1 / (2 * tau)) ** 2 for h in hs) / len(hs)
    assert ipo_loss(lc, lr, rc, rr, tau).item() == pytest.approx(expected, rel=1e-12)


def test_the_ipo_loss_on_the_extreme_case_in_float64():
    # h = (50, 1000, -1000, 49.5, 0, 200) against the target 50 from log-probabilities around -1e4
    lc, lr, rc, rr, tau = IPO_LOSS.cases()[-1]
    expected = (0.0 + 950.0**2 + 1050.0**2 + 0.5**2 + 50.0**2 + 150.0**2) / 6
    assert ipo_loss(lc, lr, rc, rr, tau).item() == pytest.approx(expected, rel=1e-12)


def test_the_ipo_loss_is_zero_exactly_where_h_is_1_over_2_tau():
    t = lambda *xs: torch.tensor(xs, dtype=torch.float64)  # noqa: E731
    # tau = 0.25: target 2; h = (-10 - -11) - (-13 - -12) = 2 in both pairs
    assert ipo_loss(t(-10.0, -4.0), t(-13.0, -7.5), t(-11.0, -5.0), t(-12.0, -6.5), 0.25).item() == 0.0
    # h = 0 (policy = reference): the loss is the target squared
    assert ipo_loss(t(-10.0), t(-13.0), t(-10.0), t(-13.0), 0.25).item() == 4.0


def test_the_ipo_loss_gradient_is_2_h_minus_the_target_over_b():
    lc, lr, rc, rr, tau = IPO_LOSS.cases()[1]
    lc, lr = lc.clone().requires_grad_(), lr.clone().requires_grad_()
    ipo_loss(lc, lr, rc, rr, tau).backward()
    h = ((lc - rc) - (lr - rr)).detach()
    expected = 2 * (h - 1 / (2 * tau)) / len(h)
    torch.testing.assert_close(lc.grad, expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(lr.grad, -expected, rtol=1e-12, atol=1e-15)


def test_past_its_target_ipo_pulls_the_margin_back_while_dpo_keeps_pushing_it_up():
    # Azar et al.'s point: on a pair the data always agree on, DPO's loss falls for ever as h grows
    tau = beta = 0.1
    rc = rr = torch.tensor([-50.0], dtype=torch.float64)
    hs = [1 / (2 * tau) * k for k in (1, 2, 4, 8)]
    ipo = [ipo_loss(rc + h, rr, rc, rr, tau).item() for h in hs]
    dpo = [dpo_loss(rc + h, rr, rc, rr, beta).item() for h in hs]
    assert ipo[0] == 0.0 and all(a < b for a, b in zip(ipo, ipo[1:]))
    assert all(a > b > 0 for a, b in zip(dpo, dpo[1:]))


# ---------------------------------------------------------------------------------------------
# The notebook-facing checkers


def test_a_notebook_checker_raises_assertion_error_with_the_hint_on_a_known_mistake(capsys):
    with pytest.raises(AssertionError, match="ignores the reference policy"):
        check_dpo_loss(dpo_without_reference)
    assert capsys.readouterr().out.startswith("✗ Exercise 4.1: Your loss ignores the reference policy")
    with pytest.raises(AssertionError, match="twice too large"):
        check_ipo_loss(ipo_target_inverse_tau)
    assert capsys.readouterr().out.startswith("✗ Exercise 4.3: Your target margin is twice too large")


def test_a_notebook_checker_raises_on_a_stub(capsys):
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_implicit_reward(stub)
    assert capsys.readouterr().out == f"✗ Exercise 4.2: {NOT_IMPLEMENTED}\n"


def test_the_checkers_are_registered_by_exercise_id():
    assert CHECKERS == {"4.1": check_dpo_loss, "4.2": check_implicit_reward, "4.3": check_ipo_loss}
    assert set(EXERCISES) == set(CHECKERS)
    assert [ex.id for ex in EXERCISES.values()] == ["4.1", "4.2", "4.3"]


def test_the_cards_show_the_stars_and_minutes_of_the_lab_and_cite_the_papers():
    assert [(ex.difficulty, ex.minutes) for ex in EXERCISES.values()] == [(2, 15), (1, 5), (2, 10)]
    assert DPO_LOSS.card().startswith("Exercise 4.1 ★★☆ (~15 min): dpo_loss")
    assert IMPLICIT_REWARD.card().startswith("Exercise 4.2 ★☆☆ (~5 min): implicit_reward")
    assert IPO_LOSS.card().startswith("Exercise 4.3 ★★☆ (~10 min): ipo_loss")
    assert "Rafailov et al. 2023, eq. 7" in DPO_LOSS.card()
    assert "Rafailov et al. 2023, sec. 5" in IMPLICIT_REWARD.card()
    assert "Azar et al. 2023, eq. 17" in IPO_LOSS.card()


def test_the_checker_trains_the_learners_loss_in_dpo_train_without_touching_the_global_rng():
    from personalab.exercises.core import check

    state = torch.random.get_rng_state()
    result = check(DPO_LOSS, lambda lc, lr, rc, rr, b: -F.logsigmoid(b * ((lc - rc) - (lr - rr))).mean())
    assert result.passed and "trains like the library's in dpo_train" in result.message
    assert torch.equal(torch.random.get_rng_state(), state)  # the lab's seeded results downstream stay put
    # right numbers, no gradient: the formula cases pass, the trainer does not
    detached = check(DPO_LOSS, lambda *a: torch.tensor(dpo_loss(*a).item(), dtype=torch.float64))
    assert not detached.passed and detached.mistake == "in_trainer" and "cannot train with it" in detached.message


@pytest.mark.parametrize(
    "ex_id, fn, says",
    [
        ("4.1", dpo_in_numpy, "cannot train with it"),
        ("4.3", ipo_in_numpy, "cannot train with it"),
        ("4.1", dpo_by_hand, "end elsewhere"),  # the subgradient at h = 0, where training starts
    ],
)
def test_a_loss_with_the_right_numbers_that_cannot_train_fails_in_the_trainer(ex_id, fn, says):
    from personalab.exercises.core import check

    result = check(EXERCISES[ex_id], fn)
    assert not result.passed and result.mistake == "in_trainer" and says in result.message


def test_the_references_are_the_library_functions_dpo_train_runs():
    from personalab.align import dpo

    assert DPO_LOSS.reference is dpo.dpo_loss
    assert IMPLICIT_REWARD.reference is dpo.implicit_reward
    assert IPO_LOSS.reference is dpo.ipo_loss
