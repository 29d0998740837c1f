"""The tiny GPT: shapes, log-probabilities, sampling, residual capture and steering."""

from __future__ import annotations

import pytest
import torch

from personalab.model import GPT, GPTConfig, apply_rotary, attention_reference, rotary_tables
from personalab.runtime import setup


@pytest.fixture
def model() -> GPT:
    setup(0)
    return GPT(GPTConfig(vocab_size=20, block_size=16)).eval()


def batch(B=3, T=10, V=20, seed=0):
    return torch.randint(V, (B, T), generator=torch.Generator().manual_seed(seed))


def test_forward_shapes(model):
    assert model(batch()).shape == (3, 10, 20)
    assert model(batch()[0]).shape == (1, 10, 20)  # a single sequence is promoted to a batch


def test_parameter_count_of_the_default_size():
    from personalab.train.base import default_model_config
    from personalab.world import PersonaWorld

    world = PersonaWorld.default()  # the sizes come from the world, not from a stale copy of them
    cfg = default_model_config(world)
    assert (cfg.vocab_size, cfg.block_size) == (len(world.vocab), world.max_len)
    assert 90_000 < GPT(cfg).n_params() < 130_000  # "~0.1 M parameters"


def test_attention_matches_the_written_out_reference():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 7, 16) for _ in range(3))
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(fused, attention_reference(q, k, v), atol=1e-6, rtol=1e-5)


def test_rotary_scores_depend_only_on_relative_position():
    """q_i . k_j after rotation is unchanged when both positions shift by the same amount."""
    torch.manual_seed(0)
    hs, T = 16, 12
    cos, sin = rotary_tables(T, hs)
    q, k = torch.randn(hs), torch.randn(hs)
    qs = apply_rotary(q.expand(1, 1, T, hs), cos, sin)[0, 0]  # the same q placed at every position
    ks = apply_rotary(k.expand(1, 1, T, hs), cos, sin)[0, 0]
    scores = qs @ ks.T  # (T, T): score of query position i against key position j
    for shift in (1, 3, 5):
        torch.testing.assert_close(scores[shift:, shift:], scores[:-shift, :-shift], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(scores[0, 0], scores[0, 5])  # but it does depend on the distance


def test_rotary_needs_an_even_head_size():
    with pytest.raises(ValueError, match="even head size"):
        GPTConfig(vocab_size=10, block_size=8, n_embd=12, n_head=4)


def test_model_is_causal(model):
    x = batch()
    y = x.clone()
    y[:, 6:] = (y[:, 6:] + 1) % 20
    torch.testing.assert_close(model(x)[:, :6], model(y)[:, :6])


def test_token_logprobs_agree_with_softmax_of_logits(model):
    x = batch()
    lp = model.token_logprobs(x)
    ref = torch.log_softmax(model(x[:, :-1]), -1).gather(-1, x[:, 1:, None])[..., 0]
    torch.testing.assert_close(lp, ref)
    assert lp.shape == (3, 9)


def test_sampling_frequencies_match_model_probabilities(model):
    prompt = batch(1, 4)
    p = model.next_token_probs(prompt)[0]
    gen = torch.Generator().manual_seed(1)
    n = 4000
    out = model.generate(prompt.repeat(n, 1), 1, generator=gen)[:, -1]
    freq = torch.bincount(out, minlength=20).double() / n
    sigma = (p * (1 - p) / n).sqrt().double()
    assert ((freq - p.double()).abs() <= 4 * sigma + 1e-9).all()


def test_generation_is_reproducible_with_a_seeded_generator(model):
    prompt = batch(2, 3)
    a = model.generate(prompt, 8, generator=torch.Generator().manual_seed(5))
    b = model.generate(prompt, 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == (2, 11)


def test_generation_stops_at_block_size(model):
    out = model.generate(batch(1, 14), 10, generator=torch.Generator().manual_seed(0))
    assert out.shape[1] == 16


def test_stop_token_pads_finished_sequences(model):
    out = model.generate(batch(16, 3), 12, generator=torch.Generator().manual_seed(0), stop_token=7)
    stopped = 0
    for row in out[:, 3:]:
        hits = (row == 7).nonzero()
        if len(hits):
            stopped += 1
            assert (row[hits[0, 0] :] == 7).all()
    assert 0 < stopped < len(out)  # some rows stopped and some did not: both branches were exercised


def test_residuals_capture_every_layer(model):
    res, logits = model.residuals(batch())
    assert len(res) == model.cfg.n_layer + 1
    assert all(r.shape == (3, 10, model.cfg.n_embd) for r in res)
    torch.testing.assert_close(logits, model(batch()))


def test_steering_changes_outputs_only_where_applied(model):
    x = batch()
    base_res, base = model.residuals(x)
    vec = torch.randn(model.cfg.n_embd)
    with model.steer(1, vec, positions=[5]):
        res, steered = model.residuals(x)
    # residual before the steered layer is untouched; at layer 1 exactly +vec at position 5
    torch.testing.assert_close(res[0], base_res[0])
    torch.testing.assert_close(res[1][:, 5], base_res[1][:, 5] + vec)
    torch.testing.assert_close(res[1][:, :5], base_res[1][:, :5])
    # causal: positions before 5 unchanged, position 5 onwards changed
    torch.testing.assert_close(steered[:, :5], base[:, :5])
    assert (steered[:, 5:] - base[:, 5:]).abs().amax() > 1e-4
    # the hook is removed on exit
    torch.testing.assert_close(model(x), base)


def test_steering_all_positions_at_the_embedding(model):
    x = batch()
    vec = torch.randn(model.cfg.n_embd)
    base_res, _ = model.residuals(x)
    with model.steer(0, vec):
        res, _ = model.residuals(x)
    torch.testing.assert_close(res[0], base_res[0] + vec)


def test_steering_is_removed_even_after_an_error(model):
    x = batch()
    base = model(x)
    with pytest.raises(RuntimeError), model.steer(2, torch.ones(model.cfg.n_embd)):
        raise RuntimeError("boom")
    torch.testing.assert_close(model(x), base)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: m(torch.zeros(2, 3, 4, dtype=torch.long)), r"shape \(B, T\)"),
        (lambda m: m(torch.zeros(1, 17, dtype=torch.long)), "block size 16"),
        (lambda m: m(torch.full((1, 3), 20)), r"token ids must be in \[0, 19\]"),
        (lambda m: m(torch.zeros(1, 3)), "must be integers"),
        (lambda m: m.steer(5, torch.zeros(64)).__enter__(), r"layer must be in 0\.\.2"),
        (lambda m: m.steer(1, torch.zeros(3)).__enter__(), r"shape \(64,\)"),
    ],
)
def test_bad_input_gets_a_clear_error(model, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="divisible by n_head"):
        GPTConfig(vocab_size=10, block_size=8, n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="positive integer"):
        GPTConfig(vocab_size=0, block_size=8)
