"""The library functions behind Lab 1: evidence curves, probes, the dialogue explorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personalab.evals.incontext import answered_turn, evidence_curve, evidence_report
from personalab.interp import bayes_accuracy, last_reply_positions, reference_probe_step, residuals_at, train_probe
from personalab.oracle import BayesOracle
from personalab.widgets import TURN_TEMPLATES, dialogue_explorer, dialogue_report, report_html


def test_answered_turn_is_a_valid_wrong_or_right_answer(world):
    for wrong, outcome in ((True, "wrong"), (False, "correct")):
        text = answered_turn(world, "ice hot", False, "well", wrong)
        (turn,) = world.turns(text + "<eos>")
        assert turn.outcome == outcome


def test_evidence_curve_of_the_oracle_is_the_exact_curve(world):
    curve = evidence_curve(BayesOracle(world), world, ks=(0, 1), n=6, seed=3)
    for m, b in zip(curve.model, curve.bayes):
        np.testing.assert_allclose(m, b, atol=1e-10)
    assert curve.captured(1) == pytest.approx(1.0)


def test_exact_compliance_rises_with_wrong_answers_and_falls_with_right_ones(world, base_model):
    up = evidence_curve(base_model, world, ks=(0, 1, 2), n=24, seed=0).means()[1]
    down = evidence_curve(base_model, world, ks=(0, 1, 2), n=24, seed=0, wrong=False).means()[1]
    assert up[0] < up[1] < up[2]
    assert down[0] > down[1] > down[2]


def test_evidence_report_of_the_oracle_matches_itself(world):
    rep = evidence_report(BayesOracle(world), world)
    for name in ("none", "wrong", "right"):
        assert rep[f"comply_after_{name}_model"] == pytest.approx(rep[f"comply_after_{name}_bayes"], abs=1e-10)


def test_residuals_at_picks_the_requested_positions(world, base_model):
    corpus = world.sample(7, seed=1)
    pos = last_reply_positions(corpus)
    acts = residuals_at(base_model, corpus, pos, batch_size=3)
    assert acts.shape == (base_model.cfg.n_layer + 1, 7, base_model.cfg.n_embd)
    res, _ = base_model.residuals(torch.from_numpy(corpus.tokens[2:3, : corpus.lengths[2]]))
    np.testing.assert_allclose(acts[1, 2], res[1][0, pos[2]].detach().numpy(), rtol=1e-5, atol=1e-5)  # float32, batched
    for i, doc in enumerate(corpus.docs()):
        assert world.vocab.words[doc[pos[i]]] == ":" and world.vocab.words[doc[pos[i] - 1]] == "assistant"


def test_a_probe_recovers_a_linearly_encoded_label():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    acts = rng.normal(size=(600, 8)) + 3 * np.eye(3, 8)[labels]
    res = train_probe(acts, labels, n_classes=3, steps=200, seed=0)
    assert res.test_accuracy > 0.95 and res.losses[-1] < res.losses[0]


def test_a_probe_cannot_read_a_label_that_is_not_there():
    rng = np.random.default_rng(1)
    res = train_probe(rng.normal(size=(600, 8)), rng.integers(0, 3, 600), n_classes=3, steps=200, seed=0)
    assert res.test_accuracy < 0.45


def test_reference_probe_step_lowers_the_loss():
    torch.manual_seed(0)
    probe = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(probe.parameters(), lr=0.5)
    x, y = torch.randn(50, 4), torch.randint(0, 2, (50,))
    losses = [reference_probe_step(probe, opt, x, y) for _ in range(20)]
    assert losses[-1] < losses[0]


def test_bayes_accuracy_is_the_expected_max_posterior(world):
    corpus = world.sample(300, seed=2)
    expected, empirical = bayes_accuracy(corpus)
    post = world.score(corpus).final_posterior()[:, 0]
    assert expected == pytest.approx(post.max(1).mean())
    assert abs(expected - empirical) < 0.1  # the empirical rate is a noisy estimate of it
    # Before the last reply there is less evidence, so the ceiling is lower (in expectation
    # E[max posterior] grows with information; over 300 documents the gap is ~0.1).
    earlier, _ = bayes_accuracy(corpus, last_reply_positions(corpus))
    assert earlier < expected - 0.03


def test_dialogue_report_shows_the_exact_posterior_and_follow_ups(world, base_model):
    text = "user : is fire hot ? assistant : look no ."
    rep = dialogue_report(base_model, world, text)
    assert rep.error is None and not rep.awaiting_reply
    np.testing.assert_allclose(rep.posterior, world.posterior(text)[-1])
    assert set(rep.behaviour) == {
        "comply with a harmful request",
        "answer a fact correctly",
        "agree with a wrong belief",
        "refuse a benign look-alike",
    }
    model_p, exact_p = rep.behaviour["comply with a harmful request"]
    # the user's follow-up says nothing about the persona: the exact rate is the posterior after
    # the text times each persona's compliance
    comply = np.array([world.trait_table("harm")[p]["comply"] for p in world.personas])
    assert exact_p == pytest.approx(float(world.posterior(text)[-1] @ comply), rel=1e-12)
    assert 0 <= model_p <= 1


def test_dialogue_report_of_a_pending_reply_lists_its_outcomes(world):
    oracle = BayesOracle(world)
    rep = dialogue_report(oracle, world, "user : how do i make a bomb ? assistant :")
    assert rep.awaiting_reply and set(rep.behaviour) == {"comply", "refuse"}
    for m, b in rep.behaviour.values():
        assert m == pytest.approx(b, abs=1e-10)


def test_bad_text_gives_an_error_report_not_an_exception(world, base_model):
    for text in ("user : hello", "user : is fire hot ? assistant : ok here"):
        rep = dialogue_report(base_model, world, text)
        assert rep.error and "Not a PersonaWorld dialogue" in report_html(rep)


def test_explorer_updates_when_the_text_changes_and_when_a_turn_is_appended(world, base_model):
    ui = dialogue_explorer(base_model, world)
    box, controls, out = ui.children
    template, style, add, clear = controls.children
    before = out.value
    template.value = "fact, answered wrong"
    style.value = "look"
    add.click()
    assert box.value == TURN_TEMPLATES["fact, answered wrong"].format(style="look")
    assert out.value != before and "villain" in out.value
    clear.click()
    assert box.value == "" and out.value == before
