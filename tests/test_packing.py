"""Packing documents into rows (personalab.train.packing): the same loss without the padding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personalab.model import GPT, Packing
from personalab.runtime import setup
from personalab.train.base import default_model_config
from personalab.train.loop import TrainConfig, _trim, lm_loss, lr_at, packed_lm_loss, train_lm
from personalab.train.packing import PAD_SEGMENT, pack_batch, pack_documents
from personalab.train.weighting import persona_token_weights


@pytest.fixture(scope="module")
def docs(world):
    return world.sample(64, seed=[3, 0])


@pytest.fixture
def model(world) -> GPT:
    setup(0)
    return GPT(default_model_config(world))


def test_every_document_is_placed_once_and_no_row_overflows():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 75, size=200)
    rows = pack_documents(lengths, 75)
    assert sorted(i for row in rows for i in row) == list(range(200))
    assert all(lengths[row].sum() <= 75 for row in rows)
    assert pack_documents(lengths, 75) == rows  # deterministic
    # First-fit decreasing stays near the volume lower bound (its worst case is 11/9 OPT + 6/9).
    assert len(rows) <= 11 / 9 * np.ceil(lengths.sum() / 75) + 1


def test_a_document_longer_than_a_row_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="raise the capacity"):
        pack_documents(np.array([10, 80]), 75)


def test_packed_rows_hold_each_document_with_its_positions_and_target_weights(docs, world):
    tw = persona_token_weights(docs, 4.0, 0.0)
    pb = pack_batch(docs.tokens, docs.lengths, 75, world.vocab.pad_id, tw)
    assert pb.tokens.shape[0] < len(docs) * 0.75  # fewer rows than documents
    for d in range(len(docs)):
        r, cols = np.nonzero(pb.segments.numpy() == d)
        assert len(set(r)) == 1 and np.all(np.diff(cols) == 1)  # one contiguous stretch
        n = docs.lengths[d]
        assert np.array_equal(pb.tokens[r[0], cols].numpy(), docs.tokens[d, :n])
        assert np.array_equal(pb.positions[r[0], cols].numpy(), np.arange(n))
        target_cols = cols - 1  # weights[:, j] weighs the prediction of position j + 1
        assert pb.weights[r[0], target_cols[0]] == 0 or target_cols[0] < 0  # nothing predicts a <bos>
        assert np.allclose(pb.weights[r[0], target_cols[1:]].numpy(), tw[d, 1:n])
    pad = pb.segments[:, 1:] == PAD_SEGMENT
    assert float(pb.weights[pad].abs().sum()) == 0.0


def test_a_packed_document_is_computed_as_if_it_were_alone(model, docs, world):
    pb = pack_batch(docs.tokens, docs.lengths, 75, world.vocab.pad_id)
    n = pb.tokens.shape[1] - 1
    logits = model(pb.tokens[:, :n], Packing(pb.segments[:, :n], pb.positions[:, :n]))
    for d in (0, 7, 63):
        r, cols = np.nonzero(pb.segments[:, :n].numpy() == d)
        alone = model(torch.from_numpy(docs.tokens[d : d + 1, : min(docs.lengths[d], n)]))
        assert torch.allclose(logits[r[0], cols[: alone.shape[1]]], alone[0, : len(cols)], atol=1e-5)


def test_the_packed_loss_and_gradients_equal_one_document_per_row(model, docs, world):
    tw = persona_token_weights(docs, 4.0, 0.0)
    rows = _trim(docs.tokens, docs.lengths)
    plain = lm_loss(model, rows, world.vocab.pad_id, torch.from_numpy(tw[:, 1 : rows.shape[1]]).float())
    packed = packed_lm_loss(model, pack_batch(docs.tokens, docs.lengths, 75, world.vocab.pad_id, tw))
    assert torch.allclose(plain, packed, rtol=1e-6)
    g_plain = torch.autograd.grad(plain, list(model.parameters()))
    g_packed = torch.autograd.grad(packed, list(model.parameters()))
    for a, b in zip(g_plain, g_packed):
        assert torch.allclose(a, b, atol=1e-6)


def test_pre_training_steps_equal_the_one_document_per_row_recipe(world):
    """train_lm (packed) takes the steps a plain loop over the same batches would take."""
    corpus = world.sample(500, seed=[5, 0])
    cfg = TrainConfig(steps=3, n_train_docs=500, seed=1)
    setup(0)
    packed = GPT(default_model_config(world))
    plain = GPT(default_model_config(world))
    plain.load_state_dict(packed.state_dict())
    train_lm(packed, corpus, cfg)

    gen = torch.Generator().manual_seed(cfg.seed)
    tw = torch.from_numpy(persona_token_weights(corpus, cfg.persona_token_weight, 0.0)).float()
    decay = [p for p in plain.parameters() if p.dim() >= 2]
    no_decay = [p for p in plain.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.99),
    )
    plain.train()
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        rows = torch.randint(len(corpus), (cfg.batch_size,), generator=gen).numpy()
        batch = _trim(corpus.tokens[rows], corpus.lengths[rows])
        loss = lm_loss(plain, batch, world.vocab.pad_id, tw[torch.from_numpy(rows), 1 : batch.shape[1]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(plain.parameters(), cfg.grad_clip)
        opt.step()
    for (name, a), b in zip(packed.state_dict().items(), plain.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-5), name


def test_a_packing_of_the_wrong_shape_or_positions_is_refused(model):
    idx = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match="segments must have the token ids' shape"):
        model(idx, Packing(torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 5, dtype=torch.long)))
    too_far = torch.full((2, 5), model.cfg.block_size)
    with pytest.raises(ValueError, match="positions must be in"):
        model(idx, Packing(torch.zeros(2, 5, dtype=torch.long), too_far))
