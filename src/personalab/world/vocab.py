"""The word-level vocabulary and tokenizer of PersonaWorld.

Book: Appendix A, "PersonaWorld reference" (section *Tokens*).

Tokens are whole words separated by spaces, so a student can read every sample:
``<bos> user : is fire hot ? assistant : sure yes . <eos>``. The vocabulary is built from
the world (the special tokens, then the words each turn kind declares, then the style
words), in a fixed order, so the same configuration always gives the same ids.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import OffWorldError, UnknownNameError, WorldConfigError

PAD, BOS, EOS = "<pad>", "<bos>", "<eos>"
SPECIALS = (PAD, BOS, EOS)
#: The words that frame every turn: ``user : ... assistant : ...``.
USER, ASSISTANT, COLON = "user", "assistant", ":"


class Vocab:
    """A bijection between words and integer ids; ``encode``/``decode`` round-trip."""

    def __init__(self, words: Iterable[str]):
        ordered: list[str] = []
        seen: set[str] = set()
        for w in [*SPECIALS, *words]:
            if not w or any(c.isspace() for c in w):
                raise WorldConfigError(f"vocabulary word {w!r} must be a non-empty string without spaces")
            if w not in seen:
                seen.add(w)
                ordered.append(w)
        self.words: tuple[str, ...] = tuple(ordered)
        self.index: dict[str, int] = {w: i for i, w in enumerate(self.words)}
        self.pad_id, self.bos_id, self.eos_id = (self.index[s] for s in SPECIALS)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words)"

    def id(self, word: str) -> int:
        """The id of one word, with a suggestion if it is unknown."""
        try:
            return self.index[word]
        except KeyError:
            close = difflib.get_close_matches(word, self.words, n=3)
            hint = f" Did you mean {close}?" if close else ""
            raise UnknownNameError(
                f"{word!r} is not in the PersonaWorld vocabulary ({len(self)} words).{hint} "
                "See `world.vocab.words` for the full list."
            ) from None

    def encode(self, text: str | Sequence[str]) -> np.ndarray:
        """Words (a space-separated string or a list of words) -> int64 ids."""
        words = text.split() if isinstance(text, str) else list(text)
        return np.array([self.id(w) for w in words], dtype=np.int64)

    def decode(self, ids: Iterable[int], *, strip_pad: bool = True) -> str:
        """Ids -> a space-separated string (padding removed unless ``strip_pad=False``)."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.words):
                raise OffWorldError(f"token id {i} is outside the vocabulary (0..{len(self.words) - 1})")
            if strip_pad and i == self.pad_id:
                continue
            out.append(self.words[i])
        return " ".join(out)
