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
