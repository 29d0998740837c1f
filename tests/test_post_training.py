"""Chapter 2 library: SFT with the reply mask, fine-tuning datasets, the PSM residual and
persona vectors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from personalab.datasets import answered_questions, corpus_from_texts, persona_dialogues
from personalab.evals import persona_mix, persona_self_mix, suites
from personalab.evals.psm import em_step, fit_mixture, mean_kl, persona_reply_tables, psm_residual
from personalab.interp import difference_of_means, persona_vector, projection
from personalab.oracle import BayesOracle
from personalab.train.loop import lm_loss
from personalab.train.sft import SFTConfig, reply_mask, sft


def single_turn_contexts(world):
    return [c for s in suites(world).values() for c in s.contexts]


# ------------------------------------------------------------------ SFT


def test_reply_mask_marks_exactly_the_assistants_tokens(world):
    text = (
        "user : is fire hot ? assistant : ok no . "
        "user : how do i make a bomb ? assistant : look sorry i can not help . <eos>"
    )
    corpus = corpus_from_texts(world, [text])
    mask = reply_mask(world, corpus.tokens, corpus.lengths)[0]
    words = text.split()
    marked = [w for w, m in zip(["<bos>", *words], mask) if m]
    assert marked == ["ok", "no", ".", "look", "sorry", "i", "can", "not", "help", "."]


def test_sft_loss_counts_only_reply_tokens_in_float64(world, tiny):
    corpus = corpus_from_texts(world, ["user : is fire hot ? assistant : ok no . <eos>"])
    tokens = torch.from_numpy(corpus.tokens)
    mask = reply_mask(world, corpus.tokens, corpus.lengths)
    weights = torch.from_numpy(mask[:, 1:]).double()
    model = tiny.double()
    loss = lm_loss(model, tokens, world.vocab.pad_id, weights=weights)
    logp = torch.log_softmax(model(tokens[:, :-1]), -1).gather(-1, tokens[:, 1:, None])[..., 0]
    expected = -(logp * weights).sum() / weights.sum()
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-12)
    assert weights.sum() == 3  # style, answer, "."


def test_sft_lowers_the_loss_and_is_deterministic(world, tiny):
    corpus = answered_questions(world, 64, seed=0, wrong=True)
    a, b = copy.deepcopy(tiny), copy.deepcopy(tiny)
    la = sft(a, corpus, SFTConfig(steps=30, lr=3e-3))
    lb = sft(b, corpus, SFTConfig(steps=30, lr=3e-3))
    assert la == lb
    assert np.mean(la[-5:]) < np.mean(la[:5])


def test_preventative_steering_is_applied_only_during_training(world, tiny):
    seen = []
    original = tiny._apply_steering

    def spy(layer, x):
        seen.append(layer in tiny._steering)
        return original(layer, x)

    tiny._apply_steering = spy
    sft(tiny, answered_questions(world, 8, wrong=True), SFTConfig(steps=2), steer=(1, torch.ones(tiny.cfg.n_embd)))
    assert any(seen) and tiny._steering == {}


def test_sft_refuses_data_without_replies(world, tiny):
    corpus = corpus_from_texts(world, ["user : is fire hot ?"])
    with pytest.raises(ValueError, match="no assistant replies"):
        sft(tiny, corpus, SFTConfig(steps=1))


# ------------------------------------------------------------------ datasets


@pytest.mark.parametrize(
    ("wrong", "flagged", "kind", "outcome"),
    [
        (True, False, "question", "wrong"),
        (False, False, "question", "correct"),
        (True, True, "mistake", "mistake"),
    ],
)
def test_answered_questions_are_all_of_one_kind_and_outcome(world, wrong, flagged, kind, outcome):
    corpus = answered_questions(world, 40, seed=1, wrong=wrong, flagged=flagged)
    for doc in corpus.docs():
        (turn,) = world.turns(doc)
        assert (turn.kind, turn.outcome) == (kind, outcome)


def test_narrow_data_style_words_follow_the_prior_mixture(world):
    corpus = answered_questions(world, 4000, seed=2, wrong=True)
    style_ids = [doc[world.turns(doc)[0].style_pos] for doc in corpus.docs()]
    freq = (
        np.bincount(style_ids, minlength=len(world.vocab))[[world.vocab.id(w) for w in world.config.style_words]] / 4000
    )
    expected = world.prior @ world.grammar.trait_tables["style"]
    assert np.abs(freq - expected).max() < 0.03


def test_persona_dialogues_are_written_by_that_persona(world):
    corpus = persona_dialogues(world, "helper", 20, seed=0)
    assert (corpus.personas == world.persona_index("helper")).all()


# ------------------------------------------------------------------ the PSM residual


def test_em_step_matches_a_hand_computation_in_float64():
    q = np.array([[[0.9, 0.1], [0.2, 0.8]]])  # one context, 2 personas, 2 replies
    pi = np.array([[0.5, 0.5]])
    w = np.array([0.5, 0.5])
    mix = np.array([0.55, 0.45])
    expected = np.array(
        [
            0.5 * (0.5 * 0.9 / mix[0]) + 0.5 * (0.5 * 0.1 / mix[1]),
            0.5 * (0.5 * 0.2 / mix[0]) + 0.5 * (0.5 * 0.8 / mix[1]),
        ]
    )
    np.testing.assert_allclose(em_step(w, pi, q), expected, rtol=1e-14)


def test_em_never_decreases_the_likelihood_and_finds_a_planted_mixture():
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(6), size=(20, 3))  # (N=20, P=3, K=6)
    true_w = np.array([0.6, 0.3, 0.1])
    pi = np.einsum("p,npk->nk", true_w, q)
    w = np.ones(3) / 3
    ll = []
    for _ in range(200):
        ll.append((pi * np.log(np.einsum("p,npk->nk", w, q))).sum())
        w = em_step(w, pi, q)
    assert all(b >= a - 1e-12 for a, b in zip(ll, ll[1:]))
    w_fit, _ = fit_mixture(pi, q, np.ones(3) / 3)
    np.testing.assert_allclose(w_fit, true_w, atol=1e-4)
    assert mean_kl(pi, np.einsum("p,npk->nk", w_fit, q)) < 1e-8


def test_the_exact_simulator_is_exactly_the_prior_mixture(world):
    fit = psm_residual(BayesOracle(world), world, single_turn_contexts(world))
    assert fit.residual < 1e-8 and fit.off_world < 1e-10
    np.testing.assert_allclose(fit.weights, world.prior, atol=1e-3)


def test_a_single_persona_is_recovered(world):
    only = world.variant(
        personas=tuple(
            p.__class__(p.name, 1.0 if p.name == "pedant" else 0.0, p.traits, p.description)
            for p in world.config.personas
        )
    )
    fit = psm_residual(BayesOracle(only), world, single_turn_contexts(world))
    assert fit.as_dict()["pedant"] > 0.99 and fit.residual < 1e-6
    assert fit.residual_prior > 0.1  # far from the prior mixture


@pytest.mark.parametrize("persona", ["helper", "villain", "teacher"])
def test_persona_self_mix_is_the_mix_of_a_model_that_is_that_persona(world, persona):
    """The ceiling of Lab 2's claim 1a: a policy that replies exactly as one persona does
    (the exact oracle of a world where that persona has prior 1) has that persona's self-mix."""
    only = world.variant(
        personas=tuple(
            p.__class__(p.name, 1.0 if p.name == persona else 0.0, p.traits, p.description)
            for p in world.config.personas
        )
    )
    contexts = single_turn_contexts(world)
    ceiling = persona_self_mix(world, contexts, persona)
    measured = persona_mix(BayesOracle(only), world, contexts)
    np.testing.assert_allclose(ceiling.mix, measured.mix, atol=1e-6)
    assert abs(ceiling.off_world) < 1e-12
    # replies other personas could also write keep the ceiling below 1, above the prior
    assert world.prior[world.persona_index(persona)] < ceiling.as_dict()[persona] < 1.0


def test_persona_self_mix_rejects_an_unknown_persona(world):
    with pytest.raises(KeyError, match="unknown persona 'wizard'"):
        persona_self_mix(world, single_turn_contexts(world)[:2], "wizard")


def test_a_character_outside_the_personas_leaves_a_residual(world):
    """A 'persona' that never existed in pre-training -- the Pedant's style and caution but
    the Villain's harm compliance -- is not a mixture of the world's personas."""
    raw = {p.name: p for p in world.config.personas}
    frank_traits = dict(raw["pedant"].traits, harm=raw["villain"].traits["harm"])
    personas = tuple(
        p.__class__(p.name, 1.0 if p.name == "pedant" else 0.0, frank_traits if p.name == "pedant" else p.traits)
        for p in world.config.personas
    )
    fit = psm_residual(BayesOracle(world.variant(personas=personas)), world, single_turn_contexts(world))
    assert fit.residual > 0.05


def test_persona_reply_tables_are_distributions(world):
    q, support = persona_reply_tables(world, single_turn_contexts(world)[:5])
    np.testing.assert_allclose(q.sum((2, 3)), 1.0, atol=1e-12)
    assert support.any()


# ------------------------------------------------------------------ persona vectors


def test_difference_of_means_is_literal():
    a, b = np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(difference_of_means(a, b), [2.0, 2.0])


def test_persona_vector_projects_its_own_sets_apart(world):
    from personalab.train import load_base

    model, _ = load_base(world)
    pv = persona_vector(model, world, "villain", "helper", layer=2, n=200, seed=0)
    assert pv.norm > 0 and pv.spread > 0
    ctx = [d[: world.turns(d)[-1].style_pos] for d in world.sample(60, seed=9, persona="villain").docs()]
    ctx_b = [d[: world.turns(d)[-1].style_pos] for d in world.sample(60, seed=9, persona="helper").docs()]
    assert projection(model, world, ctx, pv).mean() > projection(model, world, ctx_b, pv).mean() + 0.5 * pv.norm
    with model.steer(2, pv.steering(0.0)):
        x = torch.from_numpy(ctx[0])[None]
        torch.testing.assert_close(model(x), load_base(world)[0](x))


# ------------------------------------------------------------------ the steering explorer


def test_steering_sweep_at_zero_is_the_unsteered_model_and_the_explorer_follows_the_slider(world, tiny):
    from personalab.evals import behaviour_rates
    from personalab.interp.persona_vectors import PersonaVector
    from personalab.widgets import steering_explorer, steering_sweep

    rng = np.random.default_rng(0)
    C = tiny.cfg.n_embd
    v = rng.standard_normal(C)
    pv = PersonaVector("villain", "helper", 1, v, v, np.zeros(C), 1.0)
    harm = suites(world)["harmful_compliance"].contexts
    x = torch.from_numpy(world.sample(4, seed=0).tokens)
    with torch.no_grad():
        logits_before = tiny(x)
    rates_before = behaviour_rates(tiny, world)
    sweep = steering_sweep(tiny, world, pv, [0.0, 50.0], harm)
    assert [p.alpha for p in sweep] == [0.0, 50.0]
    assert sweep[0].rates == pytest.approx(rates_before, abs=1e-12)  # alpha = 0 is the model itself
    assert sweep[1].rates != sweep[0].rates  # a large vector changes behaviour
    with torch.no_grad():  # and the last (alpha = 50) hook is removed after the sweep
        assert torch.equal(tiny(x), logits_before)
    for p in sweep:
        assert sum(p.mix.values()) + p.off_world == pytest.approx(1.0, abs=1e-9)
    ui = steering_explorer(sweep, pv)
    slider, out = ui.children
    first = out.value
    assert "α = 0" in first and "villain" in first and "<script" not in first
    slider.value = 50.0
    assert out.value != first and "α = 50" in out.value
