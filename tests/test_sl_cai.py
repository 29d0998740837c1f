"""SL-CAI (align.sl_cai): critique and revision documents against their exact references, and
the small pieces Lab 5 builds on (rates of a reply table, a sampling mix, the explorer panel)."""

from __future__ import annotations

import numpy as np
import pytest

from personalab.align.ai_feedback import expected_labels, judgement_table, rates_of
from personalab.align.constitution import Constitution, revision_context, revision_probs
from personalab.align.raters import response_table, single_turn_prompts
from personalab.align.sl_cai import (
    critique_revise,
    critiqued_revision,
    outcome_probs,
    outcomes_of,
    revision_references,
    revision_success,
)
from personalab.errors import UsageError
from personalab.evals.behaviour import world_rates
from personalab.evals.replies import situations
from personalab.oracle import BayesOracle
from personalab.widgets.constitution import constitution_panel, panel_html
from personalab.world.extended import extended_world

HARM = Constitution("harm only", ("harm",))


@pytest.fixture(scope="module")
def ext():
    return extended_world()


@pytest.fixture(scope="module")
def table(ext):
    return response_table(ext, single_turn_prompts(ext))


@pytest.fixture(scope="module")
def exact_probs(ext, table):
    probs, off = table.policy_probs(BayesOracle(ext))
    assert np.abs(off).max() < 1e-9
    return probs


@pytest.fixture(scope="module")
def red(table):
    return [i for i, s in enumerate(situations(table.world, table.prompts)) if s.kind == "request" and s.info[2]]


def test_rates_of_the_exact_reply_table_are_the_worlds_rates(ext, table, exact_probs):
    got, want = rates_of(table, exact_probs), world_rates(ext)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k] == pytest.approx(want[k], abs=1e-9)
    with pytest.raises(ValueError, match="shape"):
        rates_of(table, exact_probs[:3])


def test_the_fair_target_of_a_harm_only_constitution_refuses_every_harmful_request(table, exact_probs, red):
    T, D = revision_references(table, HARM, exact_probs, None, critique=True)
    comply = outcomes_of(table).index("comply")
    assert np.allclose(T[red, comply], 0.0)
    assert np.allclose(T.sum(1), 1.0) and np.allclose(D.sum(1), 1.0)
    # harm does not apply elsewhere: the target keeps every other reply
    others = [i for i in range(len(table)) if i not in red]
    assert np.allclose(T[others], outcome_probs(table, exact_probs)[others])
    # the exact reviser is no fair reviser: it keeps some compliance, which more rounds reduce
    _, D4 = revision_references(table, HARM, exact_probs, None, critique=True, rounds=4)
    start = outcome_probs(table, exact_probs)[red, comply].mean()
    assert start > D[red, comply].mean() > D4[red, comply].mean() > 0


@pytest.mark.parametrize(("critique", "rounds"), [(False, 1), (True, 1), (True, 2)])
def test_sampled_documents_match_their_exact_expectation(table, exact_probs, red, critique, rounds):
    n = 3000
    rv = critique_revise(table, HARM, exact_probs, None, n, critique=critique, rows=red, rounds=rounds, seed=3)
    assert len(rv) + rv.dropped == n and set(rv.row) <= set(red)
    assert all(c is None for c in rv.critique) != critique
    _, D = revision_references(table, HARM, exact_probs, None, critique=critique, rounds=rounds)
    share = np.mean([y == "comply" for y in rv.revised])
    expected = D[red, outcomes_of(table).index("comply")].mean()  # prompts are drawn uniformly from red
    assert share == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / n))
    assert rv.corpus.tokens.shape[0] == len(rv)


def test_revision_success_is_the_revisers_probability_of_the_target_on_bad_replies(ext, table, exact_probs, red):
    comply = [int(np.flatnonzero(table.outcome[i] == "comply")[0]) for i in red]
    num = den = 0.0
    for i in red:
        sit = situations(ext, [table.prompts[i]])[0]
        p = exact_probs[i][table.outcome[i] == "comply"].sum()
        refuse = revision_probs(None, ext, [revision_context(ext, ("harm", sit.kind, sit.info, "comply"))])[0]["refuse"]
        num, den = num + p * refuse, den + p
    assert comply  # every harmful request has a compliant reply
    assert revision_success(table, HARM, exact_probs, None, critique=False, rows=red) == pytest.approx(num / den)
    # a critique helps the exact reviser (Lab 5's question 2)
    assert revision_success(table, HARM, exact_probs, None, critique=True, rows=red) > num / den


def test_critiqued_revision_mixes_the_two_revisions_by_the_critique():
    a, b = np.array([[0.7, 0.3]]), np.array([[0.1, 0.9]])
    assert np.allclose(critiqued_revision(np.array([0.25]), a, b), [[0.25, 0.75]])
    assert np.allclose(critiqued_revision(1.0, a[0], b[0]), a[0])
    with pytest.raises(ValueError, match="probabilities"):
        critiqued_revision(1.5, a[0], b[0])
    with pytest.raises(ValueError, match="shape"):
        critiqued_revision(np.array([0.5, 0.5]), a, b)


def test_bad_input_gets_a_clear_error(table, exact_probs):
    with pytest.raises(ValueError, match="rows"):
        critique_revise(table, HARM, exact_probs, None, 10, rows=[len(table)])
    with pytest.raises(ValueError, match="at least 1"):
        critique_revise(table, HARM, exact_probs, None, 0)
    with pytest.raises(ValueError, match="shape"):
        critique_revise(table, HARM, exact_probs[:2], None, 10)


def test_a_sampling_mix_reweights_the_principles(table):
    two = Constitution("two", ("harm", "helpful"))
    gold = judgement_table(table, two, gold=True)
    harm_only = judgement_table(table, Constitution("harm", ("harm",)), gold=True)
    # all weight on harm: the labels of the harm-only constitution
    assert np.allclose(expected_labels(gold.with_mix([1.0, 0.0])), expected_labels(harm_only))
    assert np.allclose(expected_labels(gold.with_mix([0.5, 0.5])), expected_labels(gold))
    with pytest.raises(ValueError, match="mix"):
        gold.with_mix([0.7, 0.7])
    priority = judgement_table(table, Constitution("p", ("harm", "helpful"), priority=True), gold=True)
    with pytest.raises(UsageError, match="priority"):
        priority.with_mix([0.5, 0.5])


def test_the_explorer_panel_moves_the_optimum_and_reports_a_bad_constitution(table, exact_probs):
    panel = constitution_panel(table, exact_probs, "harm honest helpful", judge="gold", beta=0.1)
    assert panel.optimum["sycophancy"] < panel.start["sycophancy"] - 0.2
    assert [what for what, *_ in panel.labels] == ["a wrong belief", "a harmful request", "a benign request"]
    labels = {what: v for what, _, _, v in panel.labels}
    # honest favours the correction, helpful the benign compliance; on a harmful request the
    # gold harm and helpful verdicts cancel exactly (sampled): no preference
    assert labels["a wrong belief"] > 0.5 and labels["a benign request"] > 0.5
    assert labels["a harmful request"] == pytest.approx(0.5)
    prio = constitution_panel(table, exact_probs, "harm honest helpful", priority=True, judge="gold")
    assert {w: v for w, _, _, v in prio.labels}["a harmful request"] > 0.5
    assert "π*" in panel_html(panel)
    bad = constitution_panel(table, exact_probs, "harm kindness")
    assert bad.constitution is None and "kindness" in bad.problem and "kindness" in panel_html(bad)
    with pytest.raises(ValueError, match="model"):
        constitution_panel(table, exact_probs, "harm", judge="model")
