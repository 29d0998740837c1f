"""AI feedback (align.ai_feedback): the feedback model's judgements of Chapter 3's response
table under a constitution, the expected soft labels, and comparisons sampled from them."""

from __future__ import annotations

import numpy as np
import pytest

from personalab.align.ai_feedback import expected_labels, judgement_table, label_reward, sample_ai_preferences
from personalab.align.constitution import Constitution, feedback_probs, judge_context
from personalab.align.raters import response_table, single_turn_prompts
from personalab.errors import UsageError
from personalab.evals.replies import situations
from personalab.world.extended import extended_world

HHH = Constitution("hhh", ("harm", "honest", "helpful"))


@pytest.fixture(scope="module")
def ext():
    return extended_world()


@pytest.fixture(scope="module")
def table(ext):
    return response_table(ext, single_turn_prompts(ext))


def _first(table, kind, harmful=None):
    for i, sit in enumerate(situations(table.world, table.prompts)):
        if sit.kind == kind and (harmful is None or sit.info[2] == harmful):
            return i
    raise AssertionError(kind)


def test_the_gold_judgements_are_each_principles_verdict(table):
    fb = judgement_table(table, HHH, gold=True)
    i = _first(table, "request", harmful=True)
    comply, refuse = (list(table.outcome[i]).index(o) for o in ("comply", "refuse"))
    assert fb.p_good[i, comply].tolist() == [0.0, 0.5, 1.0]  # harm, honest, helpful
    assert fb.p_good[i, refuse].tolist() == [1.0, 0.5, 0.0]
    assert fb.applies[i].tolist() == [True, False, True]
    # sampled: harm and helpful cancel, honest has no view: no preference on a harmful request
    assert fb.label(i, refuse, comply) == pytest.approx(0.5)
    q = _first(table, "question")
    correct, wrong = (list(table.outcome[q]).index(o) for o in ("correct", "wrong"))
    assert fb.applies[q].tolist() == [False, True, False]
    assert fb.label(q, correct, wrong) == pytest.approx((0.5 + 1.0 + 0.5) / 3)


def test_a_priority_order_lets_the_first_applicable_principle_judge(table):
    fb = judgement_table(table, Constitution("p", ("honest", "harm", "helpful"), priority=True), gold=True)
    w = fb.principle_weights()
    i, q = _first(table, "request", harmful=True), _first(table, "question")
    assert w[i].tolist() == [0.0, 1.0, 0.0] and w[q].tolist() == [1.0, 0.0, 0.0]
    comply, refuse = (list(table.outcome[i]).index(o) for o in ("comply", "refuse"))
    assert fb.label(i, refuse, comply) == 1.0


def test_labels_are_antisymmetric(table, ext):
    fb = judgement_table(table, HHH)  # the exact Bayes judge
    rng = np.random.default_rng(0)
    for _ in range(20):
        i, a, b = rng.integers(len(table)), *rng.integers(table.gold.shape[1], size=2)
        assert fb.label(i, a, b) + fb.label(i, b, a) == pytest.approx(1.0)
        assert fb.label(i, a, a) == pytest.approx(0.5)


def test_the_exact_table_is_the_bayes_judge_of_each_judge_prompt(table, ext):
    judge = ext.grammar.kinds["judge"]
    shots = [i for _, i in judge.prompts() if judge.verdict(i) is not None][:2]
    fb = judgement_table(table, HHH, shots=shots)
    sits = situations(ext, table.prompts)
    for i, k, m in [(0, 0, 1), (len(table) - 1, 3, 0), (len(table) // 2, 1, 2)]:
        key = (HHH.principles[m], sits[i].kind, sits[i].info, str(table.outcome[i, k]))
        assert fb.p_good[i, k, m] == pytest.approx(feedback_probs(None, ext, [judge_context(ext, key, shots)])[0])


def test_sampled_comparisons_follow_the_expected_labels(table):
    fb = judgement_table(table, HHH)
    uniform = np.full(table.gold.shape, 1 / table.gold.shape[1])
    prefs, labels = sample_ai_preferences(fb, uniform, 6000, seed=1)
    assert len(prefs) == 6000 and ((labels > 0) & (labels < 1)).all()
    # the chosen reply wins as often as the expected label says (4 standard errors)
    expected = np.array([fb.label(i, c, r) for i, c, r in zip(prefs.prompt, prefs.chosen, prefs.rejected)])
    p = np.array([fb.label(i, min(c, r), max(c, r)) for i, c, r in zip(prefs.prompt, prefs.chosen, prefs.rejected)])
    won = prefs.chosen < prefs.rejected  # the lower-index reply of the pair was chosen
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(won.mean() - p.mean()) < 4 * se
    assert expected.mean() > 0.5  # chosen replies are, on average, the ones the judge prefers


def test_bad_requests_for_ai_feedback_are_clear_errors(table, world):
    with pytest.raises(UsageError, match="no model and no shots"):
        judgement_table(table, HHH, model=object(), gold=True)
    with pytest.raises(UsageError, match="'judge' kind"):
        judgement_table(response_table(world, single_turn_prompts(world)[:3]), HHH)
    fb = judgement_table(table, HHH, gold=True)
    with pytest.raises(ValueError, match="policy_probs must have shape"):
        sample_ai_preferences(fb, np.ones((2, 2)), 10)


def test_the_label_reward_of_one_principle_is_its_logit(table):
    """One principle: the labels are Bradley–Terry in logit P(good), so r* is that logit."""
    fb = judgement_table(table, Constitution("h", ("honest",)))
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(table.gold.shape[1]), size=len(table))
    r = label_reward(fb, probs)
    logit = np.log(fb.p_good[..., 0] / (1 - fb.p_good[..., 0]))
    np.testing.assert_allclose(r, logit - logit.mean(1, keepdims=True), atol=1e-7)


def test_the_label_reward_of_sampled_principles_is_a_stationary_point(table):
    fb = judgement_table(table, HHH)
    K = table.gold.shape[1]
    probs = np.full(table.gold.shape, 1 / K)
    r = label_reward(fb, probs)
    L = expected_labels(fb)
    np.testing.assert_allclose(L + L.transpose(0, 2, 1), 1.0)
    w = np.outer(probs[0], probs[0]) * (1 - np.eye(K))
    s = 1 / (1 + np.exp(-(r[:, :, None] - r[:, None, :])))
    grad = (w[None] * (s - L)).sum(2)
    assert np.abs(grad).max() < 1e-9 and np.abs(r.mean(1)).max() < 1e-12
    with pytest.raises(ValueError, match="probability > 0"):
        label_reward(fb, np.eye(K)[np.zeros(len(table), dtype=int)])
