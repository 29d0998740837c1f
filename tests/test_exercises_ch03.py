"""The exercise checkers of Chapter 3, Lab 3 (book: Chapter 3; the equations of the RLHF papers).

Each checker must fail on the stub, name the intended mistake for each known-wrong variant,
fail with the generic message on any other wrong function, and pass on a correct solution.
The wrong variants and the correct solutions below are written independently, as a learner
would write them: they are *not* the ``Mistake.impl`` or reference objects of the checkers, so
a checker that compared a function with itself would fail these tests. The references are
also held to literal float64 formulas (the chapter's library for Lab 3 does not exist yet).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from exercise_contract import checker_contract, stub

from personalab.exercises import check
from personalab.exercises.ch03 import (
    BESTOFN_KL_BOUND,
    BRADLEY_TERRY_LOSS,
    CHECKERS,
    EXERCISES,
    KL_PENALISED_REWARDS,
    LOO_ADVANTAGES,
    bestofn_kl_bound,
    bradley_terry_loss,
    check_bestofn_kl_bound,
    check_bradley_terry_loss,
    check_kl_penalised_rewards,
    check_loo_advantages,
    kl_penalised_rewards,
    loo_advantages,
)
from personalab.exercises.core import NOT_IMPLEMENTED

# ---------------------------------------------------------------------------------------------
# Learner code, written independently of personalab.exercises.ch03


# -- 3.1 bradley_terry_loss -------------------------------------------------------------------


def bt_loss_solution(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected).mean()


def bt_loss_as_logistic_regression(r_chosen, r_rejected):
    # also correct: "the chosen reply wins" is a label 1 for the logit r_chosen - r_rejected
    margin = r_chosen - r_rejected
    return F.binary_cross_entropy_with_logits(margin, torch.ones_like(margin))


def bt_loss_by_hand(r_chosen, r_rejected):
    # also correct, and numerically careful: log(1 + e^-m) = max(-m, 0) + log1p(e^-|m|)
    m = r_chosen - r_rejected
    return (torch.clamp(-m, min=0) + torch.log1p(torch.exp(-m.abs()))).mean()


def bt_loss_in_numpy(r_chosen, r_rejected):
    # also correct: a float is as good as a 0-dim tensor
    return float(np.mean(np.logaddexp(0.0, -(r_chosen - r_rejected).numpy())))


def bt_loss_swapped(r_chosen, r_rejected):
    return -F.logsigmoid(r_rejected - r_chosen).mean()


def bt_loss_swapped_and_naive(r_chosen, r_rejected):
    # two mistakes at once: the checker names the first, the swap
    return -torch.log(torch.sigmoid(r_rejected - r_chosen)).mean()


def bt_loss_without_minus(r_chosen, r_rejected):
    return torch.mean(F.logsigmoid(r_chosen - r_rejected))


def bt_loss_summed(r_chosen, r_rejected):
    return -F.logsigmoid(r_chosen - r_rejected).sum()


def bt_loss_pointwise(r_chosen, r_rejected):
    # a classifier of good and bad replies: chosen -> label 1, rejected -> label 0
    good = F.binary_cross_entropy_with_logits(r_chosen, torch.ones_like(r_chosen), reduction="none")
    bad = F.binary_cross_entropy_with_logits(r_rejected, torch.zeros_like(r_rejected), reduction="none")
    return (good + bad).mean()


def bt_loss_margin_ranking(r_chosen, r_rejected):
    return torch.nn.MarginRankingLoss(margin=1.0)(r_chosen, r_rejected, torch.ones_like(r_chosen))


def bt_loss_naive(r_chosen, r_rejected):
    p_chosen_wins = 1.0 / (1.0 + torch.exp(-(r_chosen - r_rejected)))
    return torch.mean(-torch.log(p_chosen_wins))


def bt_loss_squared(r_chosen, r_rejected):
    return ((r_chosen - r_rejected - 1.0) ** 2).mean()


# -- 3.2 kl_penalised_rewards -----------------------------------------------------------------


def rewards_solution(score, logp, logp_ref, mask, beta):
    rewards = torch.zeros_like(logp)
    for b in range(logp.shape[0]):
        n = int(mask[b].sum())
        rewards[b, :n] = -beta * (logp[b, :n] - logp_ref[b, :n])
        rewards[b, n - 1] += score[b]
    return rewards


def rewards_with_one_hot(score, logp, logp_ref, mask, beta):
    # also correct: a one-hot of the last response token, then one mask for everything
    last = F.one_hot(mask.sum(dim=1) - 1, num_classes=logp.shape[1]).to(logp.dtype)
    return (-beta * (logp - logp_ref) + score[:, None] * last) * mask


def rewards_like_trl(score, logp, logp_ref, mask, beta):
    # also correct: argmax returns the first maximum of the running count, the last True
    rewards = (-beta * (logp - logp_ref)).masked_fill(~mask, 0.0)
    last = mask.long().cumsum(dim=1).argmax(dim=1)
    rewards[torch.arange(len(score)), last] += score
    return rewards


def _with_score_at(rewards, score, index):
    rewards = rewards.clone()
    rewards[torch.arange(len(score)), index] += score
    return rewards


def rewards_reversed_kl(score, logp, logp_ref, mask, beta):
    return _with_score_at(beta * (logp - logp_ref) * mask, score, mask.sum(1) - 1)


def rewards_penalising_padding(score, logp, logp_ref, mask, beta):
    return _with_score_at(-beta * (logp - logp_ref), score, mask.sum(1) - 1)


def rewards_penalising_padding_through_probabilities(score, logp, logp_ref, mask, beta):
    # two mistakes at once: the checker names the first, the padding
    return _with_score_at(-beta * torch.log(logp.exp() / logp_ref.exp()), score, mask.sum(1) - 1)


def rewards_score_everywhere(score, logp, logp_ref, mask, beta):
    return torch.where(mask, score[:, None] - beta * (logp - logp_ref), torch.zeros_like(logp))


def rewards_score_first(score, logp, logp_ref, mask, beta):
    rewards = -beta * (logp - logp_ref) * mask
    rewards[:, 0] += score
    return rewards


def rewards_score_at_the_end(score, logp, logp_ref, mask, beta):
    rewards = -beta * (logp - logp_ref) * mask
    rewards[:, -1] += score
    return rewards


def rewards_beta_times_everything(score, logp, logp_ref, mask, beta):
    r = torch.zeros_like(logp)
    r[torch.arange(len(score)), mask.sum(1) - 1] = score
    return beta * (r - (logp - logp_ref)) * mask


def rewards_through_probabilities(score, logp, logp_ref, mask, beta):
    ratio = torch.exp(logp) / torch.exp(logp_ref)
    return _with_score_at(-beta * torch.log(ratio) * mask, score, mask.sum(1) - 1)


def rewards_without_penalty(score, logp, logp_ref, mask, beta):
    return _with_score_at(torch.zeros_like(logp), score, mask.sum(1) - 1)


# -- 3.3 loo_advantages -----------------------------------------------------------------------


def loo_solution(rewards):
    N, k = rewards.shape
    out = np.empty_like(rewards)
    for i in range(N):
        for j in range(k):
            others = [rewards[i, jj] for jj in range(k) if jj != j]
            out[i, j] = rewards[i, j] - sum(others) / len(others)
    return out


def loo_rescaled_centring(rewards):
    # also correct: r - mean(others) = k/(k-1) (r - mean(all))
    k = rewards.shape[1]
    return k / (k - 1) * (rewards - rewards.mean(axis=1, keepdims=True))


def loo_in_torch(rewards):
    r = torch.from_numpy(rewards)
    k = r.shape[1]
    return r - (r.sum(dim=1, keepdim=True) - r) / (k - 1)


def loo_mean_with_self(rewards):
    return rewards - rewards.mean(axis=1)[:, None]


def loo_divided_by_k(rewards):
    N, k = rewards.shape
    out = np.empty_like(rewards)
    for i in range(N):
        for j in range(k):
            out[i, j] = rewards[i, j] - (rewards[i].sum() - rewards[i, j]) / k
    return out


def loo_along_prompts(rewards):
    return rewards - (rewards.sum(axis=0) - rewards) / (len(rewards) - 1)


def loo_over_the_batch(rewards):
    return rewards - (rewards.sum() - rewards) / (rewards.size - 1)


def loo_whitened(rewards):
    centred = rewards - rewards.mean(axis=1, keepdims=True)
    return centred / (rewards.std(axis=1, keepdims=True) + 1e-8)


def loo_without_keepdims(rewards):
    k = rewards.shape[1]
    return rewards - (rewards.sum(axis=1) - rewards) / (k - 1)  # (N,) - (N, k): a shape error


def loo_against_the_best(rewards):
    return rewards - rewards.max(axis=1, keepdims=True)


# -- 3.4 bestofn_kl_bound ---------------------------------------------------------------------


def bound_solution(n):
    return np.log(n) - (np.asarray(n) - 1) / n


def bound_expanded(n):
    # also correct: log n - 1 + 1/n
    n = np.asarray(n, dtype=float)
    return np.log(n) - 1.0 + 1.0 / n


def bound_in_torch(n):
    t = torch.as_tensor(n, dtype=torch.float64)
    return (torch.log(t) - (t - 1) / t).numpy()


def bound_log_only(n):
    return np.log(np.asarray(n, dtype=float))


def bound_integer_division(n):
    # (n - 1) // n is 0 for every n >= 1: what is left is log n
    n = np.asarray(n)
    return np.log(n) - (n - 1) // n


def bound_in_bits(n):
    n = np.asarray(n, dtype=float)
    return np.log2(n) - 1.0 + 1.0 / n


def bound_plus(n):
    n = np.asarray(n, dtype=float)
    return np.log(n) + 1.0 - 1.0 / n


def bound_second_term(n):
    return 1.0 - 1.0 / np.asarray(n, dtype=float)


def bound_sqrt(n):
    return np.sqrt(n)


def bound_scalars_only(n):
    return math.log(n) - (n - 1) / n


SOLUTIONS = [
    ("3.1", bt_loss_solution),
    ("3.1", bt_loss_as_logistic_regression),
    ("3.1", bt_loss_by_hand),
    ("3.1", bt_loss_in_numpy),
    ("3.2", rewards_solution),
    ("3.2", rewards_with_one_hot),
    ("3.2", rewards_like_trl),
    ("3.3", loo_solution),
    ("3.3", loo_rescaled_centring),
    ("3.3", loo_in_torch),
    ("3.4", bound_solution),
    ("3.4", bound_expanded),
    ("3.4", bound_in_torch),
]

KNOWN_MISTAKES = [
    ("3.1", bt_loss_swapped, "swapped"),
    ("3.1", bt_loss_swapped_and_naive, "swapped"),
    ("3.1", bt_loss_without_minus, "missing_minus"),
    ("3.1", bt_loss_summed, "summed"),
    ("3.1", bt_loss_pointwise, "sigmoid_of_each_score"),
    ("3.1", bt_loss_margin_ranking, "hinge"),
    ("3.1", bt_loss_naive, "log_of_sigmoid"),
    ("3.2", rewards_reversed_kl, "reversed_kl"),
    ("3.2", rewards_penalising_padding, "padding_penalised"),
    ("3.2", rewards_penalising_padding_through_probabilities, "padding_penalised"),
    ("3.2", rewards_score_everywhere, "score_on_every_token"),
    ("3.2", rewards_score_first, "score_on_first_token"),
    ("3.2", rewards_score_at_the_end, "score_at_last_position"),
    ("3.2", rewards_beta_times_everything, "beta_on_score"),
    ("3.2", rewards_through_probabilities, "probability_ratio"),
    ("3.3", loo_mean_with_self, "mean_including_self"),
    ("3.3", loo_divided_by_k, "divided_by_k"),
    ("3.3", loo_along_prompts, "wrong_axis"),
    ("3.3", loo_over_the_batch, "batch_baseline"),
    ("3.3", loo_whitened, "std_normalised"),
    ("3.4", bound_log_only, "log_n_only"),
    ("3.4", bound_integer_division, "log_n_only"),
    ("3.4", bound_in_bits, "log2"),
    ("3.4", bound_plus, "plus_sign"),
    ("3.4", bound_second_term, "second_term_only"),
]

ARBITRARY_WRONG = [
    ("3.1", bt_loss_squared),
    ("3.2", rewards_without_penalty),
    ("3.3", loo_against_the_best),
    ("3.4", bound_sqrt),
]


# ---------------------------------------------------------------------------------------------
# The checkers' verdicts


globals().update(checker_contract(EXERCISES, KNOWN_MISTAKES, ARBITRARY_WRONG, SOLUTIONS, CHECKERS))


def test_forgetting_keepdims_crashes_with_the_shape_hint_in_the_message():
    # N != k in every case, so an (N,) row sum cannot be subtracted from the (N, k) rewards
    result = check(LOO_ADVANTAGES, loo_without_keepdims)
    assert not result.passed and result.mistake is None
    assert isinstance(result.error, ValueError)
    assert "broadcast" in result.message and "case 1 of 4" in result.message
    assert f"[hint: {LOO_ADVANTAGES.shape_hint}]" in result.message.splitlines()[0]
    assert "keepdims=True" in LOO_ADVANTAGES.shape_hint


def test_a_bound_for_scalars_only_crashes_on_the_first_array_case():
    result = check(BESTOFN_KL_BOUND, bound_scalars_only)
    assert not result.passed and result.mistake is None
    assert "TypeError" in result.message and "case 2 of 4" in result.message


# ---------------------------------------------------------------------------------------------
# The cases: each mistake is distinguishable, and the last case is the extreme one


@pytest.mark.parametrize(
    ("ex_id", "naive", "stable"),
    [
        ("3.1", bt_loss_naive, bt_loss_solution),
        ("3.2", rewards_through_probabilities, rewards_solution),
    ],
)
def test_only_the_extreme_case_separates_the_naive_formula_from_the_stable_one(ex_id, naive, stable):
    ex = EXERCISES[ex_id]
    *ordinary, extreme = ex.cases()
    for case in ordinary:  # the two formulas agree on paper ...
        assert ex.compare(ex.run(naive, case), ex.run(stable, case))
    assert not torch.isfinite(ex.run(naive, extreme)).all()  # ... but not here
    assert torch.isfinite(ex.run(stable, extreme)).all()


def test_the_bt_extreme_case_has_margins_of_plus_and_minus_1000_where_sigmoid_underflows():
    r_chosen, r_rejected = BRADLEY_TERRY_LOSS.cases()[-1]
    margin = r_chosen - r_rejected
    assert margin.max() >= 1000 and margin.min() <= -1000
    assert (torch.sigmoid(margin) == 0).any()
    assert torch.isfinite(bradley_terry_loss(r_chosen, r_rejected))


def test_the_bt_cases_are_float64_pairs_with_right_and_wrong_margins_and_offset_scores():
    for r_chosen, r_rejected in BRADLEY_TERRY_LOSS.cases():
        assert r_chosen.dtype == r_rejected.dtype == torch.float64
        assert r_chosen.shape == r_rejected.shape and r_chosen.ndim == 1 and len(r_chosen) > 1
        margin = r_chosen - r_rejected
        assert (margin > 0).any() and (margin < 0).any()


def test_the_reward_cases_have_padded_rows_of_different_lengths_and_a_penalty_on_padding():
    for score, logp, logp_ref, mask, beta in KL_PENALISED_REWARDS.cases():
        B, T = logp.shape
        assert score.shape == (B,) and logp_ref.shape == mask.shape == (B, T) and mask.dtype == torch.bool
        lengths = mask.sum(1)
        assert (mask == (torch.arange(T) < lengths[:, None])).all()  # response first, padding last
        assert lengths.min() >= 2 and len(set(lengths.tolist())) > 1
        assert (lengths == T).any() and (lengths < T).any()  # the T - 1 slip shows in some rows only
        assert ((logp - logp_ref)[~mask] != 0).all()  # forgetting the mask shows
        assert beta != 1.0  # beta on the score shows
    score, logp, logp_ref, mask, beta = KL_PENALISED_REWARDS.cases()[-1]
    assert logp.max() < -9e3 and (torch.exp(logp) == 0).all() and beta >= 10
    assert torch.isfinite(kl_penalised_rewards(score, logp, logp_ref, mask, beta)).all()


def test_the_loo_cases_have_n_different_from_k_and_the_extreme_one_pairs_far_from_zero():
    cases = LOO_ADVANTAGES.cases()
    for (rewards,) in cases:
        N, k = rewards.shape
        assert N != k and k >= 2 and N >= 2
    (rewards,) = cases[-1]
    assert rewards.shape[1] == 2 and np.abs(rewards).max() >= 1e6
    assert (rewards[:, 0] == rewards[:, 1]).any()  # a tie: the advantages are exactly 0 there


def test_the_bound_cases_cover_an_int_arrays_of_two_shapes_and_n_from_1_to_10_to_the_12():
    cases = [c[0] for c in BESTOFN_KL_BOUND.cases()]
    assert isinstance(cases[0], int)
    assert {np.ndim(n) for n in cases[1:]} == {1, 2}
    assert cases[-1].min() == 1 and cases[-1].max() == 10**12


@pytest.mark.parametrize("ex_id", sorted(EXERCISES))
def test_the_cases_are_deterministic(ex_id):
    first, second = EXERCISES[ex_id].cases(), EXERCISES[ex_id].cases()
    for a, b in zip(first, second):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------------------------
# The references against literal formulas, in float64


@pytest.mark.parametrize("i", range(3))
def test_the_bt_loss_is_the_mean_of_log_1_plus_exp_minus_the_margin(i):
    r_chosen, r_rejected = BRADLEY_TERRY_LOSS.cases()[i]
    margins = (r_chosen - r_rejected).tolist()
    expected = sum(math.log(1.0 + math.exp(-m)) for m in margins) / len(margins)
    assert bradley_terry_loss(r_chosen, r_rejected).item() == pytest.approx(expected, rel=1e-12)


def test_the_bt_loss_on_the_extreme_margins_and_its_invariances():
    r_chosen, r_rejected = BRADLEY_TERRY_LOSS.cases()[-1]
    margins = (r_chosen - r_rejected).tolist()  # -log sigma(-1000) = 1000 + log(1 + e^-1000) = 1000
    expected = sum(-m if m < -30 else math.log1p(math.exp(-m)) for m in margins) / len(margins)
    assert bradley_terry_loss(r_chosen, r_rejected).item() == pytest.approx(expected, rel=1e-12)
    zero = torch.zeros(3, dtype=torch.float64)
    assert bradley_terry_loss(zero, zero).item() == pytest.approx(math.log(2.0), rel=1e-15)
    shifted = bradley_terry_loss(r_chosen + 123.0, r_rejected + 123.0)  # only the difference counts
    torch.testing.assert_close(shifted, bradley_terry_loss(r_chosen, r_rejected), rtol=1e-12, atol=0)


def test_the_bt_loss_gradient_is_minus_sigma_of_minus_the_margin_over_b():
    r_chosen, r_rejected = (x.clone().requires_grad_() for x in BRADLEY_TERRY_LOSS.cases()[-1])
    bradley_terry_loss(r_chosen, r_rejected).backward()
    margin = (r_chosen - r_rejected).detach()
    expected = -torch.sigmoid(-margin) / len(margin)  # d/dm softplus(-m) = -sigma(-m) = -(1 - sigma(m))
    torch.testing.assert_close(r_chosen.grad, expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(r_rejected.grad, -expected, rtol=1e-12, atol=0)


def test_the_per_token_rewards_of_a_hand_made_two_row_batch():
    score = torch.tensor([2.0, -1.0], dtype=torch.float64)
    logp = torch.tensor([[-1.0, -2.0, -0.5, -3.0], [-0.2, -1.5, -7.0, -9.0]], dtype=torch.float64)
    logp_ref = torch.tensor([[-1.5, -1.0, -0.5, -2.0], [-0.7, -1.0, -1.0, -1.0]], dtype=torch.float64)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    beta = 0.1
    # row 0: -0.1 * (0.5, -1.0, 0.0, -1.0) and the score 2 on the last token (t = 3)
    # row 1: -0.1 * (0.5, -0.5) and the score -1 on its last response token (t = 1); padding 0
    expected = torch.tensor([[-0.05, 0.1, 0.0, 0.1 + 2.0], [-0.05, 0.05 - 1.0, 0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(kl_penalised_rewards(score, logp, logp_ref, mask, beta), expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("i", range(4))
def test_a_rows_rewards_sum_to_the_score_minus_beta_times_the_sequence_log_ratio(i):
    # R(x, y) = r(x, y) - beta log pi(y|x) / pi_ref(y|x), the sequence-level reward of Ouyang et al. eq. (2)
    score, logp, logp_ref, mask, beta = KL_PENALISED_REWARDS.cases()[i]
    rewards = kl_penalised_rewards(score, logp, logp_ref, mask, beta)
    log_ratio = torch.where(mask, logp - logp_ref, 0.0).sum(1)
    torch.testing.assert_close(rewards.sum(1), score - beta * log_ratio, rtol=1e-12, atol=1e-9)
    assert (rewards[~mask] == 0).all()


def test_the_per_token_rewards_keep_the_inputs_unchanged_and_carry_gradients_to_the_policy():
    score, logp, logp_ref, mask, beta = KL_PENALISED_REWARDS.cases()[0]
    logp = logp.clone().requires_grad_()
    before = logp.detach().clone()
    kl_penalised_rewards(score, logp, logp_ref, mask, beta).sum().backward()
    assert torch.equal(logp.detach(), before)
    expected = torch.where(mask, torch.tensor(-beta, dtype=torch.float64), torch.tensor(0.0, dtype=torch.float64))
    torch.testing.assert_close(logp.grad, expected, rtol=0, atol=0)


@pytest.mark.parametrize("i", range(4))
def test_the_loo_advantages_are_those_of_the_explicit_loop_and_each_prompts_sum_to_zero(i):
    (rewards,) = LOO_ADVANTAGES.cases()[i]
    N, k = rewards.shape
    expected = np.array(
        [[rewards[a, j] - np.mean([rewards[a, jj] for jj in range(k) if jj != j]) for j in range(k)] for a in range(N)]
    )
    np.testing.assert_allclose(loo_advantages(rewards), expected, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(loo_advantages(rewards).sum(axis=1), 0.0, atol=1e-9)


def test_the_loo_advantages_of_two_samples_are_their_difference():
    (rewards,) = LOO_ADVANTAGES.cases()[-1]
    a = loo_advantages(rewards)
    np.testing.assert_array_equal(a[:, 0], rewards[:, 0] - rewards[:, 1])  # exact at 1e6: no rounding
    np.testing.assert_array_equal(a[:, 1], -a[:, 0])


def test_the_bestofn_bound_at_n_1_2_10_and_10_to_the_12():
    assert bestofn_kl_bound(1) == 0.0  # exactly: best-of-1 is the reference
    assert bestofn_kl_bound(2) == pytest.approx(math.log(2) - 0.5, rel=1e-15)
    assert bestofn_kl_bound(10) == pytest.approx(math.log(10) - 0.9, rel=1e-15)
    big = bestofn_kl_bound(10**12)
    assert big == pytest.approx(12 * math.log(10) - 1 + 1e-12, rel=1e-15) and 26.6 < big < 26.7
    assert isinstance(bestofn_kl_bound(3), float)


def test_the_bestofn_bound_keeps_the_shape_of_an_array_and_grows_with_n():
    n = np.arange(1, 1001).reshape(10, 100)
    kl = bestofn_kl_bound(n)
    assert isinstance(kl, np.ndarray) and kl.shape == n.shape
    assert kl.flat[0] == 0.0 and (np.diff(kl.ravel()) > 0).all()
    np.testing.assert_allclose(kl, np.log(n) - 1 + 1 / n, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------------------------
# The notebook-facing checkers


def test_a_notebook_checker_raises_assertion_error_with_the_hint_on_a_known_mistake(capsys):
    with pytest.raises(AssertionError, match="last \\*response\\* token"):
        check_kl_penalised_rewards(rewards_score_at_the_end)
    assert capsys.readouterr().out.startswith("✗ Exercise 3.2: You added the score at position T - 1")


def test_a_notebook_checker_raises_on_a_stub(capsys):
    with pytest.raises(AssertionError, match="not implemented yet"):
        check_loo_advantages(stub)
    assert capsys.readouterr().out == f"✗ Exercise 3.3: {NOT_IMPLEMENTED}\n"


def test_the_checkers_are_registered_by_exercise_id():
    assert CHECKERS == {
        "3.1": check_bradley_terry_loss,
        "3.2": check_kl_penalised_rewards,
        "3.3": check_loo_advantages,
        "3.4": check_bestofn_kl_bound,
    }
    assert set(EXERCISES) == set(CHECKERS)
    assert [ex.id for ex in EXERCISES.values()] == ["3.1", "3.2", "3.3", "3.4"]


def test_the_cards_show_the_stars_and_minutes_of_the_lab_and_cite_the_papers():
    assert [(ex.difficulty, ex.minutes) for ex in EXERCISES.values()] == [(2, 15), (2, 20), (1, 10), (1, 10)]
    assert BRADLEY_TERRY_LOSS.card().startswith("Exercise 3.1 ★★☆ (~15 min): bradley_terry_loss")
    assert "Ouyang et al. 2022, eq. 1" in BRADLEY_TERRY_LOSS.card()
    assert "Ouyang et al. 2022, eq. 2" in KL_PENALISED_REWARDS.card()
    assert "Ahmadian et al. 2024" in LOO_ADVANTAGES.card()
    assert "Beirami et al. 2024" in BESTOFN_KL_BOUND.card()
    assert "Book: Chapter 3, Lab 3" in KL_PENALISED_REWARDS.reference.__doc__  # no library twin: per-token


def test_the_references_are_the_library_functions_the_trainers_run():
    from personalab.align import bestofn, rewards, rlhf

    assert BRADLEY_TERRY_LOSS.reference is rewards.bradley_terry_loss  # train_reward_model's default
    assert LOO_ADVANTAGES.reference is rlhf.loo_advantages  # rlhf's default advantages
    assert BESTOFN_KL_BOUND.reference is bestofn.kl_bound
