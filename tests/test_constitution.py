"""The constitution, its gold judge, the prompted feedback model and soft preference labels
(align.constitution; Chapter 5)."""

from __future__ import annotations

import numpy as np
import pytest

from personalab.align.constitution import (
    DEFAULT_CONSTITUTION,
    Constitution,
    feedback_accuracy,
    feedback_probs,
    judge_context,
    load_constitution,
    revision_context,
    revision_probs,
    soft_preference,
)
from personalab.errors import UnknownNameError
from personalab.evals.replies import world_outcome_probs
from personalab.oracle import BayesOracle
from personalab.world.extended import extended_world
from personalab.world.extended.principles import PRINCIPLES

BOMB = ("make", "bomb", True)


@pytest.fixture(scope="module")
def ext():
    return extended_world()


def test_the_shipped_constitution_loads_and_names_world_principles():
    c = load_constitution()
    assert c == Constitution.from_yaml(DEFAULT_CONSTITUTION)
    assert c.principles and set(c.principles) <= set(PRINCIPLES)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"principles": ["harm", "kindness"]}, r"unknown principles \['kindness'\]; the world's principles are"),
        ({"principles": []}, "has no principles"),
        ({"principles": ["harm", "harm"]}, r"lists \['harm'\] more than once"),
        ({"principles": ["harm"], "order": [1]}, r"unknown keys \['order'\]"),
        ({"principles": ["harm"], "priority": "yes"}, "'priority' must be true or false"),
        ({"principles": "harm"}, "'principles' must be a list"),
        (["harm"], "a constitution is a mapping"),
    ],
)
def test_a_bad_constitution_names_the_problem(data, message):
    with pytest.raises((ValueError, UnknownNameError), match=message):
        Constitution.from_dict(data)


def test_a_missing_constitution_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_constitution(tmp_path / "nope.yaml")


def test_the_gold_judge_averages_sampled_principles_and_lets_the_first_applicable_decide():
    """Eq. (5.1) on the contradiction of harm and helpfulness (complying with a bomb request)."""
    sampled = Constitution("s", ("harm", "helpful"))
    assert sampled.p_good("request", BOMB, "comply") == 0.5  # harm says bad, helpful good
    assert sampled.p_good("request", BOMB, "refuse") == 0.5
    assert Constitution("p", ("harm", "helpful"), priority=True).p_good("request", BOMB, "comply") == 0.0
    assert Constitution("p", ("helpful", "harm"), priority=True).p_good("request", BOMB, "comply") == 1.0
    # a principle that does not apply counts one half when sampled and is skipped in priority order
    assert Constitution("s", ("harm", "honest")).p_good("request", BOMB, "refuse") == 0.75
    assert Constitution("p", ("honest", "harm"), priority=True).p_good("request", BOMB, "refuse") == 1.0
    assert Constitution("p", ("honest",), priority=True).p_good("request", BOMB, "refuse") == 0.5  # none applies


def _applicable(ext, principle, n):
    judge = ext.grammar.kinds["judge"]
    return [i for _, i in judge.prompts() if i[0] == principle and judge.verdict(i) is not None][:n]


def test_the_exact_feedback_model_is_the_worlds_bayes_judge_and_the_oracle_agrees(ext):
    query = ("harm", "request", BOMB, "comply")
    shots = _applicable(ext, "honest", 3)
    contexts = [judge_context(ext, query, shots[:k]) for k in range(4)]
    exact = feedback_probs(None, ext, contexts)
    for c, p in zip(contexts, exact):
        probs = world_outcome_probs(ext, c)
        assert p == pytest.approx(probs["good"] / (probs["good"] + probs["bad"]), abs=1e-12)
    np.testing.assert_allclose(feedback_probs(BayesOracle(ext), ext, contexts), exact, atol=1e-6)
    # fair demonstrations make the Bayes judge more likely to give the principle's verdict (bad)
    assert exact[3] < exact[0]


def test_judge_context_checks_its_world_and_its_demonstrations(ext, world):
    query = ("harm", "request", BOMB, "comply")
    with pytest.raises(ValueError, match="no 'judge' kind"):
        judge_context(world, query)
    with pytest.raises(ValueError, match="at most 4"):
        judge_context(ext, query, _applicable(ext, "honest", 4))
    with pytest.raises(ValueError, match="needs a principle that applies"):
        judge_context(ext, query, [("harm", "question", ("fire", True), "correct")])


def test_soft_preference_is_the_bradley_terry_label_of_two_judgements():
    p_a, p_b = np.array([0.9, 0.5, 0.2, 1.0]), np.array([0.2, 0.5, 0.9, 1.0])
    label = soft_preference(p_a, p_b)
    logit = np.log(p_a[:3] / (1 - p_a[:3])) - np.log(p_b[:3] / (1 - p_b[:3]))
    np.testing.assert_allclose(label[:3], 1 / (1 + np.exp(-logit)))
    np.testing.assert_allclose(label + soft_preference(p_b, p_a), 1.0)
    assert label[1] == 0.5 and label[3] == 0.5  # no information, and two certain "good"s
    np.testing.assert_allclose(soft_preference(p_a, p_b, clamp=(0.4, 0.6)), np.clip(label, 0.4, 0.6))
    with pytest.raises(ValueError, match="probabilities"):
        soft_preference(1.2, 0.5)
    with pytest.raises(ValueError, match="clamp"):
        soft_preference(0.7, 0.5, clamp=(0.6, 0.4))


def test_the_exact_revision_target_mixes_each_principles_rewrite(ext):
    """A compliant reply to a bomb request: harm rewrites it as a refusal, helpful keeps it,
    honest does not apply (keeps it)."""
    c = Constitution("s", ("harm", "honest", "helpful"))
    assert c.revision_target(ext, "request", BOMB, "comply") == pytest.approx({"refuse": 1 / 3, "comply": 2 / 3})
    assert Constitution("p", ("honest", "harm"), priority=True).revision_target(ext, "request", BOMB, "comply") == {
        "refuse": 1.0
    }
    assert Constitution("p", ("honest",), priority=True).revision_target(ext, "request", BOMB, "comply") == {
        "comply": 1.0
    }
    # a wrong answer to a question: honest rewrites it to the true one
    truth = ("ice", False)
    assert c.revision_target(ext, "question", truth, "wrong") == pytest.approx({"correct": 1 / 3, "wrong": 2 / 3})


def test_revision_probs_exact_and_from_the_oracle_agree(ext):
    revise = ext.grammar.kinds["revise"]
    infos = [("harm", "request", BOMB, "comply"), ("honest", "question", ("ice", False), "wrong")]
    contexts = [revise.render_context(i) for i in infos]
    exact = revision_probs(None, ext, contexts)
    oracle = revision_probs(BayesOracle(ext), ext, contexts)
    for e, o, info in zip(exact, oracle, infos):
        assert sum(e.values()) == pytest.approx(1.0)
        assert e[revise.target(info)] > 0.5  # most writers revise towards the target
        for k in e:
            assert o[k] == pytest.approx(e[k], abs=1e-6)


def test_a_fair_critique_moves_the_exact_reviser_towards_the_target(ext):
    """SL-CAI's critique step, exactly: a 'bad' critique before the revision is evidence of a
    fair writer, so the Bayes reviser writes the target more often; a wrong one, less."""
    revise = ext.grammar.kinds["revise"]
    queries = [i for _, i in revise.prompts() if revise.target(i) != i[3]]  # replies that need revising
    assert queries

    def p_target(critique):
        probs = revision_probs(None, ext, [revision_context(ext, q, critique) for q in queries])
        return np.mean([p[revise.target(q)] for p, q in zip(probs, queries)])

    direct, fair, wrong = p_target(None), p_target("bad"), p_target("good")
    assert wrong < direct < fair
    context = revision_context(ext, queries[0], "bad")
    assert context.startswith("user : judge ") and " user : revise " in context
    with pytest.raises(ValueError, match="'good' or 'bad'"):
        revision_context(ext, queries[0], "meh")


def test_fair_demonstrations_raise_the_exact_judges_accuracy_and_the_oracle_matches(ext):
    exact = feedback_accuracy(None, ext, ks=(0, 3), n=150)
    assert 0.5 < exact[0] < exact[3] < 1
    oracle = feedback_accuracy(BayesOracle(ext), ext, ks=(0, 3), n=150)
    assert oracle == pytest.approx(exact, abs=1e-6)
