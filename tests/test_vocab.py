"""The tokenizer round-trips (property-based)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personalab.world import PersonaWorld, Vocab

WORLD = PersonaWorld.default()
WORDS = list(WORLD.vocab.words)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS[1:]), max_size=60))  # any words but <pad>
def test_decode_encode_round_trip(words):
    text = " ".join(words)
    ids = WORLD.vocab.encode(text)
    assert WORLD.vocab.decode(ids) == text
    assert list(WORLD.vocab.encode(words)) == list(ids)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=len(WORDS) - 1), max_size=60))
def test_encode_decode_round_trip(ids):
    assert list(WORLD.vocab.encode(WORLD.vocab.decode(ids))) == ids


@given(st.text(alphabet="abc xyz", max_size=30).map(lambda s: " ".join(s.split())))
def test_whitespace_is_normalised(text):
    known = Vocab(["a", "b", "c", "x", "y", "z"] + [w for w in text.split() if w])
    assert known.decode(known.encode(text)) == " ".join(text.split())


def test_padding_is_stripped_only_on_request():
    v = WORLD.vocab
    ids = [v.bos_id, v.pad_id, v.eos_id]
    assert v.decode(ids) == "<bos> <eos>"
    assert v.decode(ids, strip_pad=False) == "<bos> <pad> <eos>"


def test_ids_outside_the_vocabulary_are_refused():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        WORLD.vocab.decode([len(WORLD.vocab)])


def test_vocabulary_order_is_stable():
    assert WORLD.vocab.words[:3] == ("<pad>", "<bos>", "<eos>")
    assert PersonaWorld.default().vocab.words == WORLD.vocab.words


def test_words_with_spaces_are_refused():
    with pytest.raises(ValueError, match="without spaces"):
        Vocab(["two words"])
