"""Inputs that used to give a silent wrong answer now give a clear error (issue 12, item 4),
and the error family keeps old `except ValueError/KeyError` callers working."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from personalab.errors import CheckpointError, OffWorldError, PersonaLabError, UnknownNameError, WorldConfigError
from personalab.model import GPT, GPTConfig
from personalab.world import PersonaWorld


@pytest.fixture(scope="module")
def world():
    return PersonaWorld.default()


def test_float_token_ids_are_refused_not_truncated(world):
    doc = world.sample(1, seed=0).doc(0).astype(np.float64)
    doc[3] += 0.7
    with pytest.raises(OffWorldError, match="whole numbers; position 3"):
        world.posterior(doc)
    with pytest.raises(OffWorldError, match="whole numbers"):
        world.score([doc])


def test_whole_number_floats_give_the_same_answer_as_ints(world):
    doc = world.sample(1, seed=0).doc(0)
    np.testing.assert_array_equal(world.posterior(doc.astype(np.float64)), world.posterior(doc))


def test_a_pad_inside_a_row_is_refused_not_dropped(world):
    corpus = world.sample(2, seed=0)
    tokens = corpus.tokens.copy()
    tokens[0, 5] = world.vocab.pad_id
    with pytest.raises(OffWorldError, match="row 0 has <pad> at position 5"):
        world.score(tokens)


def test_trailing_padding_is_still_removed(world):
    corpus = world.sample(3, seed=0)
    np.testing.assert_array_equal(world.score(corpus.tokens).bayes_logprob, world.score(corpus).bayes_logprob)


def test_generate_with_a_prompt_that_fills_the_block_is_an_error():
    model = GPT(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_embd=16)).eval()
    with pytest.raises(ValueError, match="fills the model's block_size"):
        model.generate(torch.zeros((1, 8), dtype=torch.long), 3)
    assert model.generate(torch.zeros((1, 8), dtype=torch.long), 0).shape == (1, 8)  # asking for nothing is fine


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (WorldConfigError, ValueError),
        (OffWorldError, ValueError),
        (CheckpointError, ValueError),
        (UnknownNameError, KeyError),
    ],
)
def test_the_error_family_subclasses_the_builtins_callers_catch(error, builtin):
    assert issubclass(error, PersonaLabError) and issubclass(error, builtin)


def test_unknown_names_print_their_message_without_quotes(world):
    with pytest.raises(KeyError) as info:
        world.persona_index("saint")
    assert str(info.value).startswith("unknown persona 'saint'")
