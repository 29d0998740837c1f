"""Persona-token weighting: the weights mark exactly the persona-governed tokens, and a run
with them is a valid, deterministic training run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from personalab.model import GPT
from personalab.runtime import setup
from personalab.train.base import default_model_config
from personalab.train.loop import TrainConfig, train_lm
from personalab.train.weighting import governed_tokens, persona_token_weights
from personalab.world import PersonaWorld


@pytest.fixture(scope="module")
def world():
    return PersonaWorld.default()


def test_governed_tokens_are_the_tokens_whose_exact_distribution_depends_on_the_persona(world):
    docs = world.sample(300, seed=5)
    gov = governed_tokens(docs, chunk=70)  # several chunks
    scores = world.score(docs)
    T = scores.mask.shape[1]
    assert (gov[:, :T] == ((scores.latent >= 0) & scores.mask)).all()
    assert not gov[:, T:].any()
    # a governed token is one the personas disagree about
    varies = scores.logp.max(-1) - scores.logp.min(-1) > 1e-12
    assert (varies[gov[:, :T]]).all()
    assert 0.05 < gov.sum() / scores.mask.sum() < 0.3


def test_weights_are_one_plus_the_weight_on_governed_tokens(world):
    docs = world.sample(50, seed=6)
    w = persona_token_weights(docs, 4.0)
    gov = governed_tokens(docs)
    assert w.dtype == np.float32 and w.shape == docs.tokens.shape
    assert set(np.unique(w[gov])) == {5.0} and set(np.unique(w[~gov])) == {1.0}
    with pytest.raises(ValueError, match="persona_token_weight"):
        persona_token_weights(docs, -1.0)
    with pytest.raises(ValueError, match="inference_token_weight"):
        persona_token_weights(docs, 4.0, -1.0)
    with pytest.raises(ValueError, match="inference_token_weight"):
        TrainConfig(inference_token_weight=-1.0)
    with pytest.raises(ValueError, match="persona_token_weight"):
        TrainConfig(persona_token_weight=-0.5)


def test_a_weighted_run_is_deterministic_and_differs_from_an_unweighted_one(world):
    docs = world.sample(400, seed=7)
    cfg = TrainConfig(steps=5, batch_size=8, warmup=1, n_train_docs=400, persona_token_weight=4.0)

    def run(c):
        setup(0, 1)
        return train_lm(GPT(default_model_config(world)), docs, c, desc="test")

    weighted = run(cfg)
    assert weighted == run(cfg)
    assert weighted != run(dataclasses.replace(cfg, persona_token_weight=0.0))


def test_the_inference_weight_is_the_posteriors_information_and_a_function_of_the_context(world):
    docs = world.sample(200, seed=8)
    gov = governed_tokens(docs)
    w = persona_token_weights(docs, 4.0, 16.0)
    info = (w - 1.0 - 4.0 * gov) / 16.0
    assert (info[~gov] == 0).all() and info.min() >= 0 and info.max() <= 1 + 1e-6
    # before a document's first governed token nothing is known about the writer
    first = gov.argmax(1)
    has = gov.any(1)
    assert np.allclose(info[np.arange(len(docs))[has], first[has]], 0.0, atol=1e-6)
    # and the information is the exact KL(posterior || prior) / log P
    scores = world.score(docs[:20])
    post = scores.posterior[:, :-1, 0]  # (n, T, P), before token t (one latent: the persona)
    prior = np.asarray(world.grammar.prior)
    kl = (post * (np.log(post) - np.log(prior))).sum(-1) / np.log(len(prior))
    T = kl.shape[1]
    g = gov[:20, :T]
    assert np.allclose(info[:20, :T][g], kl[g], atol=1e-5)
    assert info[gov].mean() > 0.1  # documents do say who is writing
    # a function of the context: a document cut in half gets the same weights on what is left
    from personalab.world import Corpus

    n = int(docs.lengths[0]) // 2
    cut = docs.tokens[:1].copy()
    cut[0, n:] = world.vocab.pad_id
    half = Corpus(world, cut, np.array([n]), docs.latents[:1])
    assert np.allclose(persona_token_weights(half, 4.0, 16.0)[0, :n], w[0, :n])
