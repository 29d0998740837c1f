"""The turn-kind base class, the kind registry, and a kind's reply content.

Book: Appendix A, "PersonaWorld reference" (section *Turn kinds*).

A turn is ``user : <opener> ... assistant : <style> <content> <tail>``. The user's words are
persona-independent; the reply's **style** word is governed by the ``style`` trait and its
**content** token by the trait the turn kind names. Once the content token is chosen the
tail is fixed, so a reply carries exactly two informative tokens.

A kind also **renders its own text** (:meth:`TurnKind.render_prompt`,
:meth:`TurnKind.render_reply`, :meth:`TurnKind.render_turn`): datasets, evals and widgets
ask the kind for ``user : is fire hot ? assistant : sure yes .`` instead of typing grammar
words, so they work unchanged on a world with other words.

To add a kind, subclass :class:`TurnKind` (unique ``opener`` word, the traits it uses, its
words, an ``Options`` model if it has options) and decorate it with :func:`register_kind`;
then enable it in a world config under ``kinds:``. Old kinds and personas need no edit: a
new trait may give a ``default`` distribution that personas without it use.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from ...errors import UnknownNameError
from ..dist import Dist
from ..vocab import ASSISTANT, COLON, USER
from .options import KindOptions
from .traits import Trait

if TYPE_CHECKING:  # pragma: no cover
    from ..config import WorldConfig
    from ..grammar import Grammar


@dataclass(frozen=True)
class Content:
    """The content token of a reply: its distribution and the outcome each token means."""

    trait: str
    dist: Dist
    outcome_of: dict[int, str]  # token id -> outcome name (tokens absent here are off-world)


KINDS: dict[str, type[TurnKind]] = {}


def register_kind(cls: type[TurnKind]) -> type[TurnKind]:
    """Class decorator: make a turn kind available to world configs under ``kinds:``."""
    if cls.name in KINDS and KINDS[cls.name] is not cls:
        raise ValueError(f"a turn kind called {cls.name!r} is already registered")
    KINDS[cls.name] = cls
    return cls


def known_traits() -> dict[str, Trait]:
    """All traits used by registered kinds (style is added by the grammar)."""
    out: dict[str, Trait] = {}
    for kind in KINDS.values():
        for t in kind.traits:
            out[t.name] = t
    return out


class TurnKind:
    """Base class of a turn kind: subclasses set the class attributes and implement
    ``words``, ``max_tokens``, ``user``, ``content``, ``tail``, ``prompts`` (and ``bind``
    to precompute distributions, ``describe`` for readable output)."""

    name: ClassVar[str]
    opener: ClassVar[str]  # the first word of the user's message; unique among kinds
    traits: ClassVar[tuple[Trait, ...]]
    Options: ClassVar[type[KindOptions]] = KindOptions  # the kind's validated options

    def __init__(self, options: dict[str, Any] | KindOptions, config: WorldConfig):
        if not isinstance(options, self.Options):
            from ..schema import validate_kind_options

            options = validate_kind_options(self.name, options, self.Options)
        self.options_model = options
        self.opts = options.model_dump(exclude={"weight"})
        self.config = config
        self.max_operand = config.max_operand
        self.numbers = [str(i) for i in range(2 * config.max_operand + 1)]
        self._content_cache: dict[Any, Content] = {}

    # -- to implement ----------------------------------------------------------------
    def words(self) -> list[str]:
        """Every word this kind can emit (user message and reply)."""
        raise NotImplementedError

    def data_words(self) -> set[str]:
        """The words this kind takes from the config (facts, requests); they must not be
        any kind's fixed grammar words."""
        return set()

    def fixed_words(self) -> set[str]:
        """The grammar words this kind always uses, whatever the config says."""
        return set(self.words()) - self.data_words()

    def max_tokens(self) -> int:
        """Upper bound on tokens after the opener up to and excluding ``assistant``, plus the
        content and tail tokens of the reply."""
        raise NotImplementedError

    def bind(self, g: Grammar) -> None:
        """Precompute the kind's distributions once the vocabulary is known."""
        self.g = g

    def user(self) -> Generator[Dist, int, Any]:
        """Yield the distributions of the user's words after the opener; return the turn's info."""
        raise NotImplementedError

    def content(self, info: Any) -> Content:
        """The reply's content token given the turn's info."""
        raise NotImplementedError

    def tail(self, info: Any, token: int) -> tuple[str, ...]:
        """The fixed words that follow the content token."""
        raise NotImplementedError

    def describe(self, info: Any) -> str:
        """A short human-readable description of one turn's situation."""
        return f"{self.name}{info}"

    def prompts(self) -> list[tuple[str, Any]]:
        """Every distinct user message of this kind (words after ``user :``) with its info."""
        raise NotImplementedError

    # -- rendering: the only place a turn's text is written ------------------------------
    def render_prompt(self, info: Any) -> str:
        """The user's message for ``info`` (the words after ``user :``)."""
        for text, i in self.prompts():
            if i == info:
                return text
        raise UnknownNameError(f"turn kind {self.name!r} has no prompt for the situation {info!r}")

    def reply_token(self, info: Any, outcome: str) -> int:
        """The content token that means ``outcome`` (the lowest id if several do)."""
        tokens = sorted(t for t, o in self.content(info).outcome_of.items() if o == outcome)
        if not tokens:
            possible = sorted(set(self.content(info).outcome_of.values()))
            raise UnknownNameError(
                f"a {self.name!r} reply to {self.describe(info)!r} cannot have the outcome {outcome!r}; "
                f"its outcomes are {possible}"
            )
        return tokens[0]

    def render_answer(self, info: Any, outcome: str) -> str:
        """The reply after its style word: ``<content> <tail>``, the content meaning ``outcome``."""
        token = self.reply_token(info, outcome)
        return " ".join([self.g.vocab.words[token], *self.tail(info, token)])

    def render_reply(self, info: Any, outcome: str, style: str) -> str:
        """The reply ``<style> <content> <tail>`` whose content token means ``outcome``."""
        if style not in self.config.style_words:
            raise UnknownNameError(
                f"{style!r} is not a style word of this world; use one of {list(self.config.style_words)}"
            )
        return f"{style} {self.render_answer(info, outcome)}"

    def render_context(self, info: Any) -> str:
        """A single-turn context waiting for the reply: ``user : <prompt> assistant :``."""
        return f"{USER} {COLON} {self.render_prompt(info)} {ASSISTANT} {COLON}"

    def render_turn(self, info: Any, outcome: str, style: str) -> str:
        """One whole turn: ``user : <prompt> assistant : <reply>``."""
        return f"{self.render_context(info)} {self.render_reply(info, outcome, style)}"

    # -- helpers -----------------------------------------------------------------------
    def _number_dist_matrix(self, rows: list[dict[int, float]]) -> np.ndarray:
        """(K, V) matrix whose row k puts the given probability on each number token."""
        M = np.zeros((len(rows), len(self.g.vocab)))
        for k, row in enumerate(rows):
            for n, p in row.items():
                M[k, self.g.vocab.id(self.numbers[n])] += p
        return M

    def _uniform_except(self, excluded: set[int]) -> dict[int, float]:
        rest = [n for n in range(len(self.numbers)) if n not in excluded]
        return {n: 1.0 / len(rest) for n in rest}
