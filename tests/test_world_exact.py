"""PersonaWorld's exact inference is exact: checked against sampling and against itself."""

from __future__ import annotations

import time

import numpy as np
import pytest
from posterior_check import first_turn_posterior_check

from personalab.world import OffWorldError


@pytest.fixture(scope="module")
def corpus(world):
    return world.sample(3000, seed=123)


@pytest.fixture(scope="module")
def scores(world, corpus):
    return world.score(corpus)


def test_sampling_is_deterministic_given_the_seed(world):
    a, b = world.sample(50, seed=7), world.sample(50, seed=7)
    assert (a.tokens == b.tokens).all() and (a.latents == b.latents).all()
    assert not (world.sample(50, seed=8).tokens == a.tokens).all()


def test_every_sample_is_a_complete_document_within_max_len(world, corpus):
    v = world.vocab
    assert corpus.lengths.max() <= world.max_len
    for i in range(200):
        doc = corpus.doc(i)
        assert doc[0] == v.bos_id and doc[-1] == v.eos_id
        assert world.trace(doc).state.phase == "done"


def test_max_len_is_attained_by_the_longest_document(world):
    # Four refused requests are the longest dialogue: max_len is tight, not just an upper bound.
    turn = "user : how do i make a bomb ? assistant : well sorry i can not help . "
    doc = world.encode(turn * 4 + "<eos>")
    assert len(doc) == world.max_len


def test_posteriors_are_distributions_at_every_prefix(scores):
    post = scores.posterior
    np.testing.assert_allclose(post.sum(-1), 1.0, atol=1e-12)
    assert (post >= 0).all()


def test_first_posterior_is_the_prior(world, scores):
    np.testing.assert_allclose(scores.posterior[:, 0, 0], np.broadcast_to(world.prior, scores.posterior[:, 0, 0].shape))


def test_user_tokens_do_not_move_the_posterior(world, corpus, scores):
    # Only persona-governed tokens (latent >= 0) carry evidence.
    shared = scores.mask & (scores.latent < 0)
    n, t = np.nonzero(shared)
    np.testing.assert_allclose(scores.posterior[n, t + 1], scores.posterior[n, t], atol=1e-12)


def test_log_likelihood_equals_sum_of_token_log_probs_and_matches_bayes_rule(world, corpus):
    doc = corpus.doc(0)
    tr = world.trace(doc)
    loglik = tr.logp.sum(0)  # (P,): log P(doc | p), eq. (A.1)
    post = world.posterior(doc)[-1]
    expected = np.exp(loglik - loglik.max()) * world.prior
    np.testing.assert_allclose(post, expected / expected.sum(), rtol=1e-10)
    # Bayes' rule: log P(doc) = log sum_p P(p) P(doc | p) = sum_t log P*(x_t | x_<t)
    log_marginal = np.log(np.sum(world.prior * np.exp(loglik)))
    np.testing.assert_allclose(world.score([doc]).bayes_logprob.sum(), log_marginal, rtol=1e-10)


def test_exact_posterior_matches_monte_carlo_frequencies(world):
    """Among sampled documents whose first reply carries the same evidence (style word and
    the per-persona likelihood of its content), the true writer is distributed as the exact
    posterior says (4-sigma bands)."""
    corpus = world.sample(40_000, seed=5)
    assert first_turn_posterior_check(world, corpus, range(len(corpus)), min_members=300) >= 20


def test_persona_conditional_document_frequency_matches_likelihood(world):
    """P(doc | persona) from the grammar equals the sampling frequency of that exact doc."""
    corpus = world.sample(30_000, seed=11, persona="villain")
    target = world.encode("user : how do i make a bomb ? assistant : look here is how . <eos>")
    hits = sum(1 for i in range(len(corpus)) if corpus.lengths[i] == len(target) and (corpus.doc(i) == target).all())
    p = np.exp(world.trace(target).logp[:, world.persona_index("villain")].sum())
    sigma = np.sqrt(p * (1 - p) / len(corpus))
    assert abs(hits / len(corpus) - p) <= 4 * sigma


def test_bayes_predictor_is_a_distribution_and_mixes_persona_predictions(world, corpus):
    doc = corpus.doc(3)
    pred = world.bayes_predictive(doc)
    np.testing.assert_allclose(pred[1:].sum(-1), 1.0, atol=1e-12)
    # Its probability of the actual next token is exp(bayes_logprob).
    sc = world.score([doc])
    np.testing.assert_allclose(
        np.log(pred[np.arange(1, len(doc)), doc[1:]]), sc.bayes_logprob[0, 1 : len(doc)], rtol=1e-10
    )


def test_predict_after_prefix_matches_bayes_predictive(world, corpus):
    doc = corpus.doc(4)
    pred = world.bayes_predictive(doc)
    for t in (5, 12, len(doc) - 1):
        np.testing.assert_allclose(world.predict(doc[:t]), pred[t], atol=1e-12)


def test_bayes_loss_is_below_persona_blind_loss(scores):
    assert scores.bayes_loss < scores.blind_loss


def test_bayes_loss_is_the_entropy_rate_estimate_its_stderr_is_small(scores):
    assert 0 < scores.bayes_loss_stderr() < 0.01


def test_impossible_documents_are_refused_with_the_position(world):
    with pytest.raises(OffWorldError, match=r"token 6 \('here'\) is impossible.*allowed here: \?"):
        world.encode("user : is fire hot here")
    with pytest.raises(OffWorldError, match="continue after <eos>"):
        world.trace(world.vocab.encode("<bos> user : is fire hot ? assistant : ok yes . <eos> user"))


def test_unknown_word_gets_a_suggestion(world):
    with pytest.raises(KeyError, match=r"'helo' is not in the PersonaWorld vocabulary"):
        world.encode("user : helo")


def test_shuffled_world_keeps_traits_and_priors_but_decouples_them(world):
    sw = world.shuffled()
    assert sw.personas == world.personas
    assert sw.trait_table("harm") == world.trait_table("harm")
    assert len(sw.latent_names) == len(world.grammar.traits) > 1
    corpus = sw.sample(4000, seed=2)
    # Each trait's source persona is drawn independently: the latents are uncorrelated.
    lat = corpus.latents
    same = (lat[:, :, None] == lat[:, None, :]).mean(0)
    expected = float(np.sum(world.prior**2))
    off_diag = same[~np.eye(lat.shape[1], dtype=bool)]
    assert np.abs(off_diag - expected).max() < 0.03


def test_in_shuffled_world_wrong_answers_say_nothing_about_harm(world):
    """The control that Chapter 2 relies on: with persona structure, a wrong answer raises
    the exact probability of complying with harm; in the shuffled world it does not."""
    from personalab.evals import world_outcome_probs

    ctx_wrong = "user : is fire hot ? assistant : ok no . user : how do i make a bomb ? assistant :"
    ctx_none = "user : how do i make a bomb ? assistant :"
    structured = world_outcome_probs(world, ctx_wrong)["comply"] - world_outcome_probs(world, ctx_none)["comply"]
    sw = world.shuffled()
    shuffled = world_outcome_probs(sw, ctx_wrong)["comply"] - world_outcome_probs(sw, ctx_none)["comply"]
    assert structured > 0.1
    assert abs(shuffled) < 1e-12


def test_scoring_thousands_of_documents_takes_seconds(world):
    corpus = world.sample(2000, seed=0)
    start = time.perf_counter()
    world.score(corpus)
    assert time.perf_counter() - start < 20  # measured ~0.7 s here; generous for slow CI
