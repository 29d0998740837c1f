"""The structure-selected curriculum: what it selects, that the selection is blind to the
persona, and that it is off unless asked for (the shipped checkpoints' recipe)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from personalab.errors import UsageError
from personalab.model import GPT
from personalab.train.base import default_model_config
from personalab.train.curriculum import curriculum_weights, evidence_documents, kind_names
from personalab.train.loop import TrainConfig, train_lm


def _by_hand(world, doc) -> bool:
    kinds = [t.kind for t in world.turns(doc)]
    return any(k == "request" and any(e in ("question", "belief") for e in kinds[:j]) for j, k in enumerate(kinds))


def test_selects_documents_with_an_answered_question_or_belief_before_a_request(world):
    corpus = world.sample(400, seed=5)
    flags = evidence_documents(corpus, {"question", "belief"}, {"request"})
    assert flags.tolist() == [_by_hand(world, corpus.doc(i)) for i in range(len(corpus))]
    assert 0 < flags.mean() < 1
    w = curriculum_weights(corpus, 3.0, "question, belief", "request")
    assert np.isclose(w.sum(), 1.0)
    assert np.allclose(w[flags] / w[~flags].max(), 4.0) and np.allclose(w[~flags], w[~flags][0])


def test_the_selection_is_blind_to_the_writer(world):
    """The user's turns are drawn without regard to the persona, so the selected documents
    have the prior's persona mixture (within sampling error)."""
    corpus = world.sample(20_000, seed=[9, 0])
    flags = evidence_documents(corpus, {"question", "belief"}, {"request"})
    n = int(flags.sum())
    share = np.bincount(corpus.personas[flags], minlength=len(world.personas)) / n
    se = np.sqrt(world.prior * (1 - world.prior) / n)
    assert np.all(np.abs(share - world.prior) < 4 * se), (share.round(3), world.prior)


def test_unknown_kinds_are_a_clear_error(world):
    corpus = world.sample(10, seed=0)
    with pytest.raises(UsageError, match=r"its kinds are \[.*'request'.*\]"):
        evidence_documents(corpus, {"riddle"}, {"request"})
    assert kind_names(" question ,belief,") == {"question", "belief"}


def _losses(world, cfg):
    torch.manual_seed(0)
    model = GPT(default_model_config(world))
    return train_lm(model, world.sample(300, seed=1), cfg)


def test_off_unless_asked_for_and_then_only_for_its_steps(world):
    plain = TrainConfig(steps=4, batch_size=8, warmup=1, n_train_docs=300)
    assert not plain.uses_curriculum and not dataclasses.replace(plain, curriculum_boost=5.0).uses_curriculum
    base = _losses(world, plain)
    assert _losses(world, dataclasses.replace(plain, curriculum_boost=5.0)) == base  # 0 steps: off
    on = _losses(world, dataclasses.replace(plain, curriculum_steps=2, curriculum_boost=5.0))
    assert on[0] != base[0]


def test_config_checks_and_old_records():
    with pytest.raises(ValueError, match="curriculum_steps <= steps"):
        TrainConfig(steps=10, curriculum_steps=11)
    with pytest.raises(ValueError, match="curriculum_boost >= 0"):
        TrainConfig(curriculum_boost=-1.0)
    old = {k: v for k, v in TrainConfig().to_dict().items() if not k.startswith("curriculum")}
    assert TrainConfig.from_dict(old) == TrainConfig()  # a record from before the curriculum: off
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({**old, "schedule": "wsd"})
