"""Chapter 4's library: the exact optimum, the DPO and IPO losses, the bandit, the LM trainer.

Equations are checked literally in float64 against the formulas of Rafailov et al. (2023)
and Azar et al. (2023); the learners are checked against the exact references they claim to
reach.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from personalab.align import Raters, response_table, sample_preferences
from personalab.align.bandit import Bandit, bandit_rlhf, compare, fit_tabular_rewards, train_tabular
from personalab.align.dpo import (
    dpo_loss,
    implicit_reward,
    ipo_loss,
    ipo_optimum,
    kl,
    kl_optimum,
    logratio_margin,
    preference_loss,
)
from personalab.align.dpo_train import DPOConfig, dpo_train
from personalab.widgets.dpo import bandit_panel, panel_html

BANDIT = Bandit(np.array([0.1, 0.2, 0.3, 0.4]), np.array([1.0, 0.5, 0.0, -0.5]))


# -- the optimum (4.2) ------------------------------------------------------------------------


def test_kl_optimum_is_the_tilted_reference_literally():
    ref, r, beta = np.array([0.5, 0.3, 0.2]), np.array([1.0, -2.0, 0.25]), 0.7
    w = [p * math.exp(x / beta) for p, x in zip(ref, r)]
    assert np.allclose(kl_optimum(ref, r, beta), [x / sum(w) for x in w], rtol=0, atol=1e-15)


def test_kl_optimum_maximises_the_regularised_objective():
    rng = np.random.default_rng(0)
    ref, r, beta = rng.dirichlet(np.ones(5)), rng.normal(size=5), 0.3
    opt = kl_optimum(ref, r, beta)
    objective = lambda p: p @ r - beta * kl(p, ref)  # noqa: E731  eq. (4.1)
    for _ in range(200):
        assert objective(rng.dirichlet(np.ones(5))) < objective(opt)
    # and its value is beta log Z, the soft maximum
    assert math.isclose(objective(opt), beta * math.log(ref @ np.exp(r / beta)), rel_tol=1e-12)


def test_kl_optimum_limits_and_stability():
    ref, r = np.array([0.25, 0.25, 0.5]), np.array([0.0, 1.0, 0.5])
    assert np.allclose(kl_optimum(ref, r, 1e6), ref, atol=1e-6)  # no pressure: the reference
    assert np.allclose(kl_optimum(ref, r, 1e-4), [0, 1, 0], atol=1e-12)  # all pressure: the argmax
    huge = kl_optimum(ref, 1e4 * r, 1e-3)  # exp(1e7) would overflow
    assert np.isfinite(huge).all() and huge.argmax() == 1
    assert kl_optimum(np.array([0.0, 1.0]), np.array([100.0, 0.0]), 0.1)[0] == 0  # pi_ref = 0 stays 0
    batched = kl_optimum(np.stack([ref, ref]), np.stack([r, -r]), 0.5)
    assert batched.shape == (2, 3) and np.allclose(batched.sum(1), 1)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.array([0.5, 0.5]), np.array([1.0, 0.0]), 0.0), "beta must be"),
        ((np.array([0.5, 0.5]), np.array([1.0, 0.0]), -1.0), "beta must be"),
        ((np.array([0.5, 0.5]), np.array([1.0, 0.0, 2.0]), 1.0), "same shape"),
        ((np.array([0.7, 0.7]), np.array([1.0, 0.0]), 1.0), "summing to 1"),
        ((np.array([0.5, 0.5]), np.array([np.nan, 0.0]), 1.0), "finite"),
    ],
)
def test_kl_optimum_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        kl_optimum(*args)


# -- the losses (4.3)-(4.6) -------------------------------------------------------------------


def _batch(seed=0, B=6):
    g = torch.Generator().manual_seed(seed)
    return [-5 * torch.rand(B, generator=g, dtype=torch.float64) for _ in range(4)]


def test_dpo_loss_is_the_papers_formula():
    lw, ll, rw, rl = _batch()
    beta = 0.3
    expected = np.mean(
        [math.log1p(math.exp(-beta * ((a - c) - (b - d)))) for a, b, c, d in zip(lw, ll, rw, rl)]
    )  # -log sigma(x) = log(1 + e^-x)
    assert math.isclose(float(dpo_loss(lw, ll, rw, rl, beta)), expected, rel_tol=1e-12)


def test_dpo_loss_is_bradley_terry_on_the_implicit_reward_and_z_cancels():
    lw, ll, rw, rl = _batch(1)
    beta, log_z = 0.5, 3.7  # any beta log Z(x), the same for both replies of a prompt
    r_w = implicit_reward(lw, rw, beta) + beta * log_z
    r_l = implicit_reward(ll, rl, beta) + beta * log_z
    bt = -torch.nn.functional.logsigmoid(r_w - r_l).mean()
    assert math.isclose(float(dpo_loss(lw, ll, rw, rl, beta)), float(bt), rel_tol=1e-12)


def test_dpo_loss_is_finite_at_huge_margins_and_log2_at_zero():
    z = torch.zeros(3, dtype=torch.float64)
    assert math.isclose(float(dpo_loss(z, z, z, z, 0.1)), math.log(2), rel_tol=1e-12)
    big = torch.full((3,), 1e4, dtype=torch.float64)
    assert math.isclose(float(dpo_loss(z, big, z, z, 1.0)), 1e4, rel_tol=1e-12)  # -log sigma(-1e4)
    assert float(dpo_loss(big, z, z, z, 1.0)) == 0.0


def test_ipo_loss_is_the_papers_formula_and_zero_at_its_target():
    lw, ll, rw, rl = _batch(2)
    tau = 0.25
    h = [(a - c) - (b - d) for a, b, c, d in zip(lw, ll, rw, rl)]
    expected = np.mean([(float(x) - 1 / (2 * tau)) ** 2 for x in h])
    assert math.isclose(float(ipo_loss(lw, ll, rw, rl, tau)), expected, rel_tol=1e-12)
    target = torch.full((3,), 1 / (2 * tau), dtype=torch.float64)
    z = torch.zeros(3, dtype=torch.float64)
    assert float(ipo_loss(target, z, z, z, tau)) == 0.0


def test_losses_reject_mismatched_batches_and_unknown_names():
    a, b = torch.zeros(3), torch.zeros(4)
    with pytest.raises(ValueError, match="one entry per pair"):
        logratio_margin(a, a, a, b)
    with pytest.raises(ValueError, match="one entry per pair"):
        dpo_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3), 0.1)
    with pytest.raises(ValueError, match="unknown preference loss 'kto'"):
        preference_loss("kto")
    with pytest.raises(ValueError, match="tau must be"):
        ipo_loss(a, a, a, a, 0.0)


# -- the IPO optimum (4.7) --------------------------------------------------------------------


def test_ipo_optimum_of_one_pair_is_p_minus_half_over_tau():
    for p, tau in [(1.0, 0.1), (0.8, 0.5), (0.5, 1.0), (0.0, 2.0)]:
        g = ipo_optimum(3, [(0, 1)], [p], [1.0], tau)
        assert math.isclose(g[0] - g[1], (p - 0.5) / tau, rel_tol=1e-12, abs_tol=1e-12)
        assert math.isclose(g[0] + g[1], 0.0, abs_tol=1e-12) and np.isnan(g[2])


def test_ipo_optimum_is_the_weighted_least_squares_solution():
    pairs, p, w, tau = [(0, 1), (1, 2), (0, 2)], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0], 0.5
    g = ipo_optimum(3, pairs, p, w, tau)
    c = 1 / (2 * tau)
    loss = lambda x: sum(wj * (x[a] - x[b] - c) ** 2 for (a, b), wj in zip(pairs, w))  # noqa: E731
    rng = np.random.default_rng(0)
    for _ in range(100):
        assert loss(g + 0.01 * rng.normal(size=3)) > loss(g)


def test_ipo_training_reaches_its_exact_optimum():
    data = compare(BANDIT, 3000, noise=0.0, arms=[0, 1, 2], seed=3)
    pairs, counts = np.unique(np.stack([data.chosen, data.rejected], 1), axis=0, return_counts=True)
    g = ipo_optimum(BANDIT.k, pairs, np.ones(len(pairs)), counts, 0.5)
    run = train_tabular(BANDIT, data, "ipo", 0.5, steps=1500, log_every=1500)
    got = np.log(run.final / BANDIT.ref_probs)
    for a, b in pairs:
        assert math.isclose(got[a] - got[b], g[a] - g[b], rel_tol=1e-3)


# -- the bandit -------------------------------------------------------------------------------


def test_bandit_validation():
    with pytest.raises(ValueError, match="positive and sum to 1"):
        Bandit(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="K >= 2"):
        Bandit(np.array([1.0]), np.array([1.0]))
    with pytest.raises(ValueError, match="noise must be >= 0"):
        compare(BANDIT, 10, noise=-1.0)
    with pytest.raises(ValueError, match="at least two different arms"):
        compare(BANDIT, 10, noise=1.0, arms=[2, 2])
    with pytest.raises(ValueError, match="one entry per arm"):
        bandit_rlhf(BANDIT, np.zeros(3), 1.0)


def test_comparisons_follow_bradley_terry():
    data = compare(BANDIT, 40_000, noise=0.5, arms=[0, 3], seed=1)
    won = np.mean(data.chosen == 0)
    expected = 1 / (1 + math.exp(-(1.0 - -0.5) / 0.5))
    assert abs(won - expected) < 4 * math.sqrt(expected * (1 - expected) / 40_000)
    det = compare(BANDIT, 500, noise=0.0, seed=1)
    assert (BANDIT.rewards[det.chosen] > BANDIT.rewards[det.rejected]).all()


def test_dpo_and_rlhf_reach_the_optimum_on_noisy_comparisons():
    data = compare(BANDIT, 20_000, noise=1.0, seed=5)
    opt = kl_optimum(BANDIT.ref_probs, BANDIT.rewards, 0.5)
    far = kl(BANDIT.ref_probs, opt)
    dpo = train_tabular(BANDIT, data, "dpo", 0.5, steps=800, log_every=800).final
    rl = bandit_rlhf(BANDIT, fit_tabular_rewards(BANDIT, data), 0.5, steps=1500, log_every=1500).final
    assert kl(dpo, opt) < 0.01 * far and kl(rl, opt) < 0.01 * far
    assert kl(dpo, rl) < 1e-3


def test_dpo_margin_grows_without_bound_on_deterministic_preferences():
    data = compare(BANDIT, 2000, noise=0.0, arms=[0, 1], seed=0)
    run = train_tabular(BANDIT, data, "dpo", 1.0, steps=1600, log_every=400)
    increments = np.diff(run.margin)
    assert (increments > 0).all() and run.margin[-1] > 5
    assert run.final[2] < 0.5 * BANDIT.ref_probs[2]  # arms never compared lose probability


# -- the LM trainer ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lm_setup(world, base_model):
    kinds = world.grammar.kinds
    prompts = [f"user : {t} assistant :" for t, _ in kinds["belief"].prompts()][:8]
    table = response_table(world, prompts)
    probs, _ = table.policy_probs(base_model)
    prefs = sample_preferences(table, probs, Raters(agree_bias=3.0), 200, seed=0)
    return table, prefs


def test_dpo_train_validates_its_inputs(lm_setup, base_model):
    table, prefs = lm_setup
    with pytest.raises(ValueError, match="same object"):
        dpo_train(base_model, base_model, prefs)
    with pytest.raises(ValueError, match="proxy must have shape"):
        dpo_train(copy.deepcopy(base_model), base_model, prefs, proxy=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="unknown preference loss"):
        DPOConfig(loss="kto")
    with pytest.raises(ValueError, match="beta must be"):
        DPOConfig(beta=0.0)


def test_dpo_train_lowers_the_loss_and_logs_exactly(lm_setup, base_model):
    table, prefs = lm_setup
    policy = copy.deepcopy(base_model)
    log = dpo_train(
        policy, base_model, prefs, DPOConfig(beta=0.5, steps=20, lr=3e-4, log_every=10), evaluate=lambda m: {}
    )
    assert log.step == [0, 10, 20]
    assert math.isclose(log.loss[0], math.log(2), rel_tol=1e-5) and log.kl[0] < 1e-9
    assert log.chosen_reward[0] == 0.0 == log.rejected_reward[0]
    assert log.loss[-1] < log.loss[0] and log.accuracy[-1] > 0.5 and log.kl[-1] > 0
    assert log.chosen_reward[-1] > log.rejected_reward[-1]


def _dpo_run(base_model, prefs, cfg, **kwargs):
    torch.manual_seed(0)  # dropout, if any, draws from the global generator
    policy = copy.deepcopy(base_model)
    log = dpo_train(policy, base_model, prefs, cfg, evaluate=lambda m: {}, **kwargs)
    return log, policy.state_dict()


@pytest.mark.parametrize("loss", ["dpo", "ipo"])
def test_dpo_train_with_the_library_loss_passed_explicitly_is_bit_identical(lm_setup, base_model, loss):
    from personalab.align.dpo import preference_loss

    cfg = DPOConfig(loss=loss, beta=0.5, steps=4, lr=3e-4, log_every=2, seed=1)
    (a, sa), (b, sb) = (_dpo_run(base_model, lm_setup[1], cfg, loss_fn=fn) for fn in (None, preference_loss(loss)))
    assert a.loss == b.loss and a.kl == b.kl and a.accuracy == b.accuracy
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_dpo_train_trains_with_the_loss_it_is_given(lm_setup, base_model):
    from personalab.align.dpo import ipo_loss

    ipo = DPOConfig(loss="ipo", beta=0.5, steps=4, lr=3e-4, log_every=2, seed=1)
    hooked = DPOConfig(loss="dpo", beta=0.5, steps=4, lr=3e-4, log_every=2, seed=1)
    a, sa = _dpo_run(base_model, lm_setup[1], ipo)
    b, sb = _dpo_run(base_model, lm_setup[1], hooked, loss_fn=ipo_loss)
    assert a.loss == b.loss and all(torch.equal(sa[k], sb[k]) for k in sa)


# -- the explorer -----------------------------------------------------------------------------


def test_bandit_panel_and_html():
    panel = bandit_panel(BANDIT, 0.5, 1.0, n=500, steps=200)
    assert panel.optimum.shape == panel.dpo.shape == panel.ipo.shape == (4,)
    assert np.allclose(panel.optimum, kl_optimum(BANDIT.ref_probs, BANDIT.rewards, 0.5))
    page = panel_html(panel, BANDIT.rewards)
    assert "KL(DPO ‖ π*)" in page and "<script" not in page and page.count("<tr>") == 5
    assert "deterministic" in panel_html(bandit_panel(BANDIT, 0.5, 0.0, n=200, steps=50), BANDIT.rewards)
