"""The evidence-routing probe (personalab.interp.routing): where "the earlier answer was wrong"
can be read on the way to the reply's content."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personalab.datasets import corpus_from_texts
from personalab.interp.routing import SITES, _site_positions, evidence_routing, routing_dialogues
from personalab.model import GPT
from personalab.train import load_base
from personalab.world import PersonaWorld


@pytest.fixture(scope="module")
def world():
    return PersonaWorld.default()


def test_the_dialogues_are_balanced_and_the_sites_are_the_right_tokens(world):
    facts = [(f"{s} {p}", t) for (s, p), t in world.grammar.kinds["question"].facts.items()]
    texts, wrong = routing_dialogues(world, 40, facts, seed=3)
    assert wrong.sum() == 20
    corpus = corpus_from_texts(world, texts)
    where = _site_positions(world, corpus.tokens, corpus.lengths)
    words = world.vocab.words
    for i in range(len(texts)):
        row = corpus.tokens[i]
        assert words[row[where["answer"][i]]] in {"yes", "no"}
        assert words[row[where["style"][i]]] == ":" and words[row[where["style"][i] - 1]] == "assistant"
        assert words[row[where["content"][i]]] in world.config.style_words
        assert where["answer"][i] < where["style"][i] < where["content"][i]


def test_the_shipped_base_carries_the_evidence_to_the_reply(world):
    model, _ = load_base(world)
    report = evidence_routing(model, world)
    assert set(report.accuracy) == set(SITES)
    # measured 1.000 at every site (facts the probe never saw); it forms the circuit (Lab 1 claim 2a)
    assert min(report.accuracy.values()) >= 0.9, report.accuracy


def test_a_random_model_stays_at_chance_on_facts_the_probe_never_saw(world):
    torch.manual_seed(0)
    model = GPT(load_base(world)[0].cfg)
    report = evidence_routing(model, world)
    # measured 0.42-0.54 over two initialisations; within one fact set it would read ~1.0
    assert max(report.accuracy.values()) <= 0.7, report.accuracy


def test_bad_sizes_are_refused_with_the_reason(world):
    model, _ = load_base(world)
    with pytest.raises(ValueError, match="n_train >= 2"):
        evidence_routing(model, world, n_train=1)
    with pytest.raises(ValueError, match="at least 2 dialogues"):
        routing_dialogues(world, 1, [("fire hot", True)])
    assert np.isfinite(list(evidence_routing(model, world, n_train=20, n_test=10).accuracy.values())).all()
