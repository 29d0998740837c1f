"""Chapter 3 library: simulated raters, the response table, preference data, the reward model."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from personalab.align.raters import Raters, response_table, single_turn_prompts
from personalab.align.rewards import (
    Preferences,
    RewardModel,
    bradley_terry_loss,
    preference_accuracy,
    sample_preferences,
    train_reward_model,
)
from personalab.evals import behaviour_rates
from personalab.model import GPT, GPTConfig
from personalab.oracle import BayesOracle


@pytest.fixture(scope="module")
def table(world):
    kinds = world.grammar.kinds
    prompts = [f"user : {t} assistant :" for k in ("question", "belief", "request") for t, _ in kinds[k].prompts()]
    return response_table(world, prompts)


def row_of(table, text):
    return next(
        i for i in range(len(table)) if table.world.vocab.decode(table.prompts[i]).endswith(text + " assistant :")
    )


def test_the_response_table_enumerates_style_times_content_with_gold_utilities(table, world):
    S = len(world.config.style_words)
    assert table.gold.shape == (len(table), S * 2)
    i = row_of(table, "is fire hot ?")
    yes = table.content[i] == world.vocab.id("yes")
    assert (table.outcome[i][yes] == "correct").all() and (table.gold[i][yes] == 1).all()
    assert (table.gold[i][~yes] == -1).all() and not table.agrees[i].any()
    assert table.text(i, 0).endswith("assistant : sure yes")


def test_agreement_is_saying_what_the_user_believes(table, world):
    wrong_belief = row_of(table, "i think ice is hot . is it ?")  # ice is not hot
    says_yes = table.content[wrong_belief] == world.vocab.id("yes")
    assert (table.outcome[wrong_belief][says_yes] == "agree").all()
    assert (table.agrees[wrong_belief] == says_yes).all() and (table.gold[wrong_belief][says_yes] == -1).all()
    right_belief = row_of(table, "i think fire is hot . is it ?")
    says_yes = table.content[right_belief] == world.vocab.id("yes")
    assert (table.outcome[right_belief][says_yes] == "correct").all() and (table.agrees[right_belief] == says_yes).all()


def test_requests_are_judged_by_harm(table, world):
    here = world.vocab.id("here")
    bomb, cake = row_of(table, "how do i make a bomb ?"), row_of(table, "how do i make a cake ?")
    assert (table.gold[bomb][table.content[bomb] == here] == -1).all()
    assert (table.gold[cake][table.content[cake] == here] == 1).all()
    assert (table.refuses[bomb] == (table.content[bomb] != here)).all()


def test_raters_add_their_biases_to_the_gold_utility(table):
    raters = Raters(agree_bias=2.5, refusal_dislike=0.5)
    u = raters.utility(table)
    np.testing.assert_array_equal(u, table.gold + 2.5 * table.agrees - 0.5 * table.refuses)
    np.testing.assert_array_equal(Raters().utility(table), table.gold)


def test_bradley_terry_choices_have_the_logistic_frequency():
    rng = np.random.default_rng(0)
    n = 200_000
    raters = Raters(temperature=0.5)
    first = raters.prefer_first(np.full(n, 1.0), np.full(n, 0.5), rng)
    p = 1 / (1 + np.exp(-1.0))  # sigmoid((1 - 0.5) / 0.5)
    assert abs(first.mean() - p) < 5 * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"agree_bias": -1}, "agree_bias"),
        ({"refusal_dislike": np.nan}, "refusal_dislike"),
        ({"temperature": 0}, "temperature"),
    ],
)
def test_invalid_raters_are_refused(kwargs, field):
    with pytest.raises(ValueError, match=f"Raters.{field}"):
        Raters(**kwargs)


def test_a_mistake_prompt_is_not_rated(world):
    with pytest.raises(ValueError, match="judge only question, belief and request"):
        response_table(world, ["user : show a mistake : is fire hot ? assistant :"])


def test_policy_probs_are_the_models_exact_reply_distribution(table, world):
    """The exact predictor's probabilities over the table reproduce its behaviour rates."""
    oracle = BayesOracle(world)
    probs, off = table.policy_probs(oracle)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)
    assert off.max() < 1e-9
    rates = behaviour_rates(oracle, world)
    harmful = [
        i for i in range(len(table)) if table.kinds[i] == "request" and (table.gold[i][table.refuses[i]] == 1).all()
    ]
    assert len(harmful) == 4
    comply = np.mean([probs[i][~table.refuses[i]].sum() for i in harmful])
    assert comply == pytest.approx(rates["harmful_compliance"], abs=1e-9)


def test_preferences_compare_different_replies_and_follow_a_decisive_rater(table, world):
    probs, _ = table.policy_probs(BayesOracle(world))
    raters = Raters(temperature=1e-3)  # nearly deterministic: always the higher utility
    prefs = sample_preferences(table, probs, raters, 2000, seed=1)
    assert (prefs.chosen != prefs.rejected).all()
    u = raters.utility(table)
    uc, ur = u[prefs.prompt, prefs.chosen], u[prefs.prompt, prefs.rejected]
    assert (uc >= ur).all() and (uc > ur).mean() > 0.1
    train, held = prefs.split(0.25, seed=0)
    assert len(train) == 1500 and len(held) == 500


def test_preference_sampling_refuses_bad_policies(table):
    with pytest.raises(ValueError, match="shape"):
        sample_preferences(table, np.ones((2, 2)) / 2, Raters(), 10)
    one_hot = np.zeros(table.gold.shape)
    one_hot[:, 0] = 1
    with pytest.raises(ValueError, match="nothing to compare"):
        sample_preferences(table, one_hot, Raters(), 10)


def test_bradley_terry_loss_is_the_literal_formula_and_stable():
    m = torch.tensor([-3.0, -0.5, 0.0, 0.7, 4.0], dtype=torch.float64)
    expected = torch.log1p(torch.exp(-m)).mean()
    assert bradley_terry_loss(m, torch.zeros_like(m)).item() == pytest.approx(expected.item(), abs=1e-15)
    big = bradley_terry_loss(torch.tensor([-1000.0, 1000.0]), torch.zeros(2))
    assert torch.isfinite(big) and big.item() == pytest.approx(500.0, rel=1e-6)


# Held-out accuracy of this recipe, measured (one seed driving the initialisation, the
# comparisons, the split and the batches): seeds 0-11 gave 0.987-1.0 (median 1.0); varying
# one generator at a time over seeds 0-7 gave as low as 0.898 (initialisation, seed 4) and
# 0.822 (batches, seed 7). 0.8 sits below every measured run and far above chance (0.5).
HELDOUT_ACCURACY_FLOOR = 0.8


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_fresh_reward_model_is_indifferent_and_training_learns_a_decisive_rater(table, world, seed):
    torch.manual_seed(seed)
    backbone = GPT(GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len, n_embd=16, n_head=2, n_layer=1))
    rm = RewardModel(backbone)
    r = rm.score_table(table)
    assert r.shape == table.gold.shape and np.abs(r).max() == 0.0  # zero-initialised head
    probs, _ = table.policy_probs(BayesOracle(world))
    prefs = sample_preferences(table, probs, Raters(temperature=1e-3), 3000, seed=seed)
    train, held = prefs.split(0.2, seed=seed)
    # only pairs whose utilities differ can be ordered; accuracy on them must be high
    u = Raters().utility(table)
    keep = u[held.prompt, held.chosen] != u[held.prompt, held.rejected]
    differ = Preferences(held.table, held.prompt[keep], held.chosen[keep], held.rejected[keep])
    result = train_reward_model(rm, train, steps=150, batch_size=64, lr=3e-3, seed=seed, heldout=differ)
    assert result.heldout_accuracy > HELDOUT_ACCURACY_FLOOR
    assert np.mean(result.losses[-10:]) < np.mean(result.losses[:10])
    assert preference_accuracy(rm, differ) == result.heldout_accuracy


# ------------------------------------------------------------------ policy-gradient RLHF


def test_loo_advantages_are_the_literal_leave_one_out_formula_and_sum_to_zero():
    from personalab.align.rlhf import loo_advantages

    r = np.random.default_rng(0).normal(size=(5, 4))
    # eq. (3.8) written out: each sample minus the plain mean of the other k - 1
    literal = np.array([[r[i, j] - np.delete(r[i], j).mean() for j in range(4)] for i in range(5)])
    a = loo_advantages(torch.from_numpy(r)).numpy()
    np.testing.assert_allclose(a, literal, atol=1e-12)
    np.testing.assert_array_equal(loo_advantages(r), a)  # numpy in, the same numbers out
    np.testing.assert_allclose(a.sum(1), 0.0, atol=1e-12)


def test_reply_kl_is_zero_for_the_same_model_and_positive_after_a_change(table, tiny):
    from personalab.align.rlhf import reply_kl

    other = copy.deepcopy(tiny)
    assert reply_kl(table, tiny, other) == pytest.approx(0.0, abs=1e-12)
    with torch.no_grad():
        other.head.weight.add_(0.5 * torch.randn_like(other.head.weight))
    assert reply_kl(table, tiny, other) > 1e-3


def test_rlhf_raises_the_reward_it_optimises_and_leaves_the_reference_alone(table, world):
    from personalab.align.rlhf import RLHFConfig, rlhf
    from personalab.train import load_base

    policy = load_base(world)[0]
    reference = copy.deepcopy(policy)
    before = [p.clone() for p in reference.parameters()]
    reward = table.gold.copy()  # optimise the gold utility itself
    cfg = RLHFConfig(steps=40, prompts_per_step=8, samples_per_prompt=4, beta=0.01, lr=1e-3, log_every=20, seed=0)
    log = rlhf(policy, reference, table, reward, cfg, evaluate=lambda m: {})
    assert log.step == [0, 20, 40]
    assert log.proxy[-1] > log.proxy[0] + 0.2 and log.kl[0] == pytest.approx(0.0, abs=1e-12) and log.kl[-1] > 0
    assert all(torch.equal(a, b) for a, b in zip(before, reference.parameters()))


def test_rlhf_is_deterministic_and_refuses_bad_input(table, tiny):
    from personalab.align.rlhf import RLHFConfig, rlhf

    cfg = RLHFConfig(steps=5, prompts_per_step=4, log_every=5, seed=3)
    logs = []
    for _ in range(2):
        model = copy.deepcopy(tiny)
        logs.append(rlhf(model, copy.deepcopy(tiny), table, table.gold, cfg, evaluate=lambda m: {}).proxy)
    assert logs[0] == logs[1]
    with pytest.raises(ValueError, match="shape"):
        rlhf(tiny, copy.deepcopy(tiny), table, np.zeros((2, 2)), cfg)
    with pytest.raises(ValueError, match="same object"):
        rlhf(tiny, tiny, table, table.gold, cfg)
    with pytest.raises(ValueError, match="samples_per_prompt"):
        RLHFConfig(samples_per_prompt=1)


def _rlhf_run(start, table, **kwargs):
    from personalab.align.rlhf import RLHFConfig, rlhf

    cfg = RLHFConfig(steps=4, prompts_per_step=4, log_every=2, seed=3)
    torch.manual_seed(0)
    model = copy.deepcopy(start)
    log = rlhf(model, copy.deepcopy(start), table, table.gold, cfg, evaluate=lambda m: {}, **kwargs)
    return log, model.state_dict()


# the base model, not a random one: a random model's samples are mostly off-world, all with the
# same reward, so every advantage would be 0 and any two runs would agree trivially
def test_rlhf_with_the_library_advantages_passed_explicitly_is_bit_identical(table, base_model):
    from personalab.align.rlhf import loo_advantages

    (a, sa), (b, sb) = _rlhf_run(base_model, table), _rlhf_run(base_model, table, advantages=loo_advantages)
    assert a.proxy == b.proxy and a.kl == b.kl
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_rlhf_trains_with_the_advantages_it_is_given(table, base_model):
    _, moved = _rlhf_run(base_model, table)
    _, still = _rlhf_run(base_model, table, advantages=torch.zeros_like)  # no advantage, no gradient, no step
    start = base_model.state_dict()
    assert all(torch.equal(still[k], start[k]) for k in start)
    assert not all(torch.equal(moved[k], start[k]) for k in start)


# ------------------------------------------------------------------ over-optimisation, data, explorer


@pytest.mark.parametrize("form", ["bon", "rl"])
def test_gao_fit_recovers_a_planted_curve_exactly(form):
    from personalab.align.overoptimisation import GaoFit, fit_gao

    d = np.linspace(0.05, 3.0, 12)
    truth = GaoFit(form, 0.8, 0.3, 1.0)
    fit = fit_gao(d, truth(d), form)
    assert fit.alpha == pytest.approx(0.8, abs=1e-10) and fit.beta == pytest.approx(0.3, abs=1e-10)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    if form == "bon":
        assert fit.peak == pytest.approx(0.8 / 0.6)  # the top of d(α − βd)
        assert truth(np.array([fit.peak]))[0] == pytest.approx(max(truth(np.linspace(0, 3, 3001))), abs=1e-6)


def test_gao_fit_refuses_bad_input():
    from personalab.align.overoptimisation import fit_gao

    with pytest.raises(ValueError, match="at least 3 points"):
        fit_gao(np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="form"):
        fit_gao(np.arange(4.0), np.arange(4.0), "ppo")
    with pytest.raises(ValueError, match=">= 0"):
        fit_gao(np.array([-1.0, 0.0, 1.0]), np.zeros(3))


def test_fact_split_and_belief_corrections(world):
    from personalab.datasets import belief_corrections, fact_split

    train, held = fact_split(world, seed=0)
    truth = world.grammar.kinds["question"].facts
    assert set(train).isdisjoint(held) and set(train) | set(held) == set(truth)
    assert sum(truth[f] for f in train) == sum(not truth[f] for f in train)  # half true, half false
    corpus = belief_corrections(world, 300, train, seed=1)
    beliefs = []
    for i in range(len(corpus)):
        (turn,) = world.turns(corpus.text(i))
        assert turn.kind == "belief" and turn.outcome == "correct"  # the truth, whatever the user believes
        subject = turn.info[0]
        assert any(s == subject for s, _ in train)
        beliefs.append(turn.info[1] == turn.info[2])
    assert 0.4 < np.mean(beliefs) < 0.6  # the user's belief is right half of the time
    with pytest.raises(ValueError, match="unknown or no facts"):
        belief_corrections(world, 5, [("moon", "cheese")])


def test_content_only_persona_mix_ignores_the_style_words(world, tiny):
    from personalab.evals import persona_mix, suites
    from personalab.evals.replies import reply_distribution

    contexts = suites(world)["sycophancy"].contexts
    content = persona_mix(tiny, world, contexts, use_style=False)
    rd = reply_distribution(tiny, world, contexts)
    expected = []
    for i, sit in enumerate(rd.situations):  # by hand: P(p | c) ∝ P(p) q_p(c), weighted by P_model(c)
        p_content = rd.joint[i].sum(0)  # (V,)
        un = world.prior[:, None] * sit.content.dist.probs  # (P, V)
        z = un.sum(0)
        post = np.divide(un, z, out=np.zeros_like(un), where=z > 0)
        expected.append(post @ p_content)
    np.testing.assert_allclose(content.mix, np.mean(expected, axis=0), atol=1e-12)
    assert not np.allclose(content.mix, persona_mix(tiny, world, contexts).mix, rtol=0.02, atol=0)


def test_bon_sweep_at_n_1_is_the_policy_and_the_explorer_follows_both_sliders(table, world):
    from personalab.evals import sycophancy_of
    from personalab.widgets import bon_explorer, bon_sweep

    probs, _ = table.policy_probs(BayesOracle(world))
    rewards = {0.0: table.gold, 3.0: Raters(agree_bias=3.0).utility(table)}
    sweep = bon_sweep(table, probs, rewards, [1, 8])
    first = next(p for p in sweep if p.bias == 0.0 and p.n == 1)
    assert first.sqrt_kl == 0.0 and first.gold == pytest.approx((probs * table.gold).sum(1).mean())
    assert first.sycophancy == pytest.approx(sycophancy_of(table, probs))
    biased = next(p for p in sweep if p.bias == 3.0 and p.n == 8)
    assert biased.sycophancy > first.sycophancy and biased.proxy > first.proxy
    ui = bon_explorer(sweep)
    bias, n, out = ui.children
    start = out.value
    assert "bias 0" in start and "<script" not in start
    bias.value, n.value = 3.0, 8
    assert "bias 3" in out.value and "n = 8" in out.value and out.value != start


def test_train_reward_model_uses_a_given_loss(table, world, tiny):
    probs, _ = table.policy_probs(BayesOracle(world))
    prefs = sample_preferences(table, probs, Raters(), 200, seed=0)
    calls = []

    def loss(rc, rr):
        calls.append(len(rc))
        return bradley_terry_loss(rc, rr)

    train_reward_model(RewardModel(tiny), prefs, steps=3, batch_size=16, loss_fn=loss)
    assert calls == [16, 16, 16]


def test_single_turn_prompts_are_every_question_belief_and_request(world, table):
    prompts = single_turn_prompts(world)
    assert len(prompts) == len(table) == 32
    assert all(p.startswith("user : ") and p.endswith(" assistant :") for p in prompts)
    assert sorted(set(table.kinds)) == ["belief", "question", "request"]


def test_expected_utility_counts_the_off_world_mass_at_minus_two(table):
    from personalab.align.raters import OFF_WORLD_UTILITY

    N, K = table.gold.shape
    uniform = np.full((N, K), 1.0 / K)
    in_world = table.expected(uniform, np.zeros(N), table.gold)
    assert in_world == pytest.approx(table.gold.mean())
    half = table.expected(uniform, np.full(N, 0.5), table.gold)
    assert half == pytest.approx(0.5 * in_world + 0.5 * OFF_WORLD_UTILITY)
    with pytest.raises(ValueError, match=r"\(N, K\) probs"):
        table.expected(uniform, np.zeros(N + 1), table.gold)


def test_rlhf_logs_gold_and_proxy_with_the_one_definition(table, tiny):
    from personalab.align.rlhf import RLHFConfig, rlhf

    cfg = RLHFConfig(steps=2, prompts_per_step=4, log_every=2, seed=0)
    model = copy.deepcopy(tiny)
    log = rlhf(model, copy.deepcopy(tiny), table, table.gold, cfg, evaluate=lambda m: {})
    probs, off = table.policy_probs(model)
    assert log.gold[-1] == pytest.approx(table.expected(probs, off, table.gold), abs=1e-12)
    assert log.proxy[-1] == log.gold[-1]  # the reward optimised was the gold utility


def test_extra_log_steps_add_measurements_without_changing_the_run(table, tiny):
    from personalab.align.rlhf import RLHFConfig, rlhf

    runs = []
    for extra in ((), (1, 2)):
        cfg = RLHFConfig(steps=4, prompts_per_step=4, log_every=4, log_steps=extra, seed=1)
        runs.append(rlhf(copy.deepcopy(tiny), copy.deepcopy(tiny), table, table.gold, cfg, evaluate=lambda m: {}))
    assert runs[0].step == [0, 4] and runs[1].step == [0, 1, 2, 4]
    assert runs[1].proxy[-1] == runs[0].proxy[-1] and runs[1].kl[-1] == runs[0].kl[-1]
    with pytest.raises(ValueError, match="log_steps"):
        RLHFConfig(steps=4, log_steps=(5,))


def test_expected_accuracy_is_the_average_of_the_realised_one_and_never_beats_the_ceiling(table, world):
    from personalab.align.rewards import accuracy_ceiling, expected_accuracy

    raters = Raters(agree_bias=1.0, temperature=0.7)
    probs = np.full(table.gold.shape, 1.0 / table.gold.shape[1])
    prefs = sample_preferences(table, probs, raters, 300, seed=0)
    rng = np.random.default_rng(0)
    u = raters.utility(table)
    ceiling = accuracy_ceiling(prefs, raters)
    assert ceiling == pytest.approx(expected_accuracy(u, prefs, raters))
    for _ in range(3):
        scores = rng.normal(size=table.gold.shape)
        exp = expected_accuracy(scores, prefs, raters)
        assert exp <= ceiling + 1e-12
        # Monte Carlo: re-draw the raters' choices on the same pairs, score the realised accuracy
        a, b = prefs.chosen, prefs.rejected
        first = rng.random((4000, len(a))) < raters.choice_probability(u[prefs.prompt, a], u[prefs.prompt, b])
        sa, sb = scores[prefs.prompt, a], scores[prefs.prompt, b]
        realised = np.where(first, sa > sb, sb > sa).mean()
        assert realised == pytest.approx(exp, abs=0.003)
    with pytest.raises(ValueError, match="scores must have shape"):
        expected_accuracy(np.zeros((2, 2)), prefs, raters)


def test_rlhf_trains_only_on_the_rows_it_is_given(table, tiny):
    from personalab.align.rlhf import RLHFConfig, rlhf

    cfg = RLHFConfig(steps=3, prompts_per_step=4, log_every=3, seed=0)
    seen = []

    def spy(returns):
        seen.append(returns.shape)
        return returns - returns.mean(1, keepdim=True)

    full = rlhf(copy.deepcopy(tiny), copy.deepcopy(tiny), table, table.gold, cfg, evaluate=lambda m: {})
    again = rlhf(
        copy.deepcopy(tiny), copy.deepcopy(tiny), table, table.gold, cfg, evaluate=lambda m: {}, train_rows=None
    )
    assert full.proxy == again.proxy  # the default samples every row, as before
    # a reward that differs only on row 0: training on the other rows cannot see it
    reward = table.gold.copy()
    reward[0] += 100.0
    only_others = rlhf(
        copy.deepcopy(tiny),
        copy.deepcopy(tiny),
        table,
        reward,
        cfg,
        evaluate=lambda m: {},
        advantages=spy,
        train_rows=range(1, len(table)),
    )
    plain = rlhf(
        copy.deepcopy(tiny),
        copy.deepcopy(tiny),
        table,
        table.gold,
        cfg,
        evaluate=lambda m: {},
        advantages=spy,
        train_rows=range(1, len(table)),
    )
    assert only_others.kl == plain.kl and seen
    with pytest.raises(ValueError, match="train_rows"):
        rlhf(copy.deepcopy(tiny), copy.deepcopy(tiny), table, table.gold, cfg, train_rows=[len(table)])
