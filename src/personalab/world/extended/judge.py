"""The Constitutional-AI kinds: ``judge`` (a verdict on a reply against a principle) and
``revise`` (a reply rewritten against a principle).

Book: Appendix A, "PersonaWorld reference" (section *The extended world*); Chapter 5
(Bai et al. 2022: the feedback model is a pre-trained model asked which reply better
follows a principle; SL-CAI fine-tunes on revisions).

Both kinds **embed** a turn of a Part I kind -- its user message and the content word of a
reply to it, both persona-independent (the user shows someone else's reply)::

    user : judge harm : how do i make a bomb ? here assistant : well bad .
    user : revise honest : i think ice is hot . is it ? yes assistant : sure no .

The verdict (``good`` / ``bad``) is governed by the ``judging`` trait: a persona gives the
principle's verdict (:func:`~.principles.verdict`) with its ``fair`` probability, the
opposite with ``contrary``, and ``good`` or ``bad`` whatever the reply with ``lenient`` or
``harsh``; where the principle does not apply, ``fair`` and ``contrary`` say either word
with probability one half. The revision is governed by ``revising``: with ``revise`` the
persona writes the reply the principle calls good (the original if it does not apply),
with ``keep`` the original; the embedded kind's tail follows, so a revision is a whole
reply of that kind.

The exact label probability of a judge turn is therefore the **Bayes judge** of Chapter 5,
and the ``revise`` outcome of a fair reviser is the exact revision target.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from ...errors import WorldConfigError
from ..kinds.base import Content, TurnKind, register_kind
from ..kinds.options import KindOptions, Probability
from ..kinds.traits import Trait
from .principles import BAD, GOOD, JUDGEABLE, PRINCIPLES, verdict

JUDGING = Trait(
    "judging",
    ("fair", "contrary", "lenient", "harsh"),
    "Verdict on a reply against a principle: the principle's verdict, its opposite, always good, always bad.",
    default={"fair": 0.5, "contrary": 0.1, "lenient": 0.3, "harsh": 0.1},
)
REVISING = Trait(
    "revising",
    ("revise", "keep"),
    "Rewriting a reply against a principle: write the reply the principle calls good, or keep the original.",
    default={"revise": 0.5, "keep": 0.5},
)


def _check_table(table: dict[str, float], allowed: tuple[str, ...], what: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; use some of {list(allowed)}")
    if not table:
        raise ValueError(f"give at least one {what[:-1] if what.endswith('s') else what}")
    total = sum(table.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"the {what} probabilities sum to {total:.9g}, not 1; rescale {dict(table)}")


class EmbeddedOptions(KindOptions):
    """Options of the ``judge`` and ``revise`` kinds."""

    principles: dict[str, Probability] = Field(
        {p: 1.0 / len(PRINCIPLES) for p in PRINCIPLES}, description="Probability of each principle word."
    )
    judged: dict[str, Probability] = Field(
        {"question": 0.3, "belief": 0.3, "request": 0.4},
        description="Probability that the embedded turn is of each kind (question, belief, request).",
    )

    @model_validator(mode="after")
    def _known(self) -> EmbeddedOptions:
        _check_table(self.principles, PRINCIPLES, "principles")
        _check_table(self.judged, JUDGEABLE, "embedded kinds")
        return self


class EmbeddedTurn(TurnKind):
    """Shared machinery: ``user : <opener> <principle> : <embedded message> <reply word>``.

    The turn's info is ``(principle, kind, info, outcome)``: the principle word, the
    embedded kind's name and situation, and the outcome its reply word means."""

    Options = EmbeddedOptions
    FIXED: tuple[str, ...] = ()

    def __init__(self, options, config):
        super().__init__(options, config)
        self.principles = {p: float(w) for p, w in self.opts["principles"].items() if w > 0}
        self.judged = {k: float(w) for k, w in self.opts["judged"].items() if w > 0}
        missing = sorted(set(self.judged) - set(config.kinds))
        if missing:
            raise WorldConfigError(
                f"world config: kinds.{self.name}.judged embeds {missing}, which this world does not enable. "
                f"Fix: enable them under kinds: (weight 0 is allowed) or remove them from judged."
            )

    def words(self) -> list[str]:
        return [self.opener, *PRINCIPLES, ":", *self.FIXED]

    def fixed_words(self) -> set[str]:
        return set(self.words())

    def bind(self, g):
        super().bind(g)
        self.inner = {name: g.kinds[name] for name in self.judged}
        self._principle = g.shared(self.principles)
        self._inner_opener = g.shared({self.inner[k].opener: w for k, w in self.judged.items()})
        self._inner_by_opener = {g.vocab.id(k.opener): k for k in self.inner.values()}
        self._reply_word: dict[tuple[str, Any], Any] = {}

    def reply_words(self, kind: str, info: Any) -> dict[int, str]:
        """{token: outcome} of the embedded reply's content word (the embedded kind's)."""
        return dict(sorted(self.inner[kind].content(info).outcome_of.items()))

    @staticmethod
    def _reply_len(kind: TurnKind) -> int:
        """Content plus the longest tail of ``kind``'s replies."""
        longest = 0
        for _, info in kind.prompts():
            for tok in kind.content(info).outcome_of:
                longest = max(longest, 1 + len(kind.tail(info, tok)))
        return longest

    def user(self):
        principle = self.g.vocab.words[(yield self._principle)]
        yield self.g.det(":")
        kind = self._inner_by_opener[(yield self._inner_opener)]
        info = yield from kind.user()
        key = (kind.name, info)
        if key not in self._reply_word:
            words = self.reply_words(kind.name, info)
            self._reply_word[key] = self.g.shared({self.g.vocab.words[t]: 1.0 / len(words) for t in words})
        token = yield self._reply_word[key]
        return (principle, kind.name, info, self.reply_words(kind.name, info)[token])

    def verdict(self, info) -> str | None:
        """What the turn's principle says about the embedded reply: good, bad or None."""
        principle, kind, inner, outcome = info
        return verdict(principle, kind, inner, outcome)

    def render_prompt(self, info):
        principle, kind, inner, outcome = info
        word = self.g.vocab.words[self.inner[kind].reply_token(inner, outcome)]
        return f"{self.opener} {principle} : {self.inner[kind].render_prompt(inner)} {word}"

    def prompts(self):
        out = []
        for principle in self.principles:
            for name, kind in self.inner.items():
                for _, inner in kind.prompts():
                    for outcome in self.reply_words(name, inner).values():
                        info = (principle, name, inner, outcome)
                        out.append((self.render_prompt(info), info))
        return out

    def _one_hot(self, rows: list[dict[int, float]]) -> np.ndarray:
        M = np.zeros((len(rows), len(self.g.vocab)))
        for k, row in enumerate(rows):
            for tok, p in row.items():
                M[k, tok] += p
        return M


@register_kind
class Judge(EmbeddedTurn):
    """``user : judge <principle> : <message> <reply word>`` -- the verdict ``good`` /
    ``bad`` is governed by ``judging``. The turn's info is ``(principle, kind, info, outcome)``."""

    name = "judge"
    opener = "judge"
    traits = (JUDGING,)
    FIXED = (GOOD, BAD, ".")

    def max_tokens(self):
        # principle : <opener> <message> <word>  |  good .
        return 3 + max(k.max_tokens() - self._reply_len(k) for k in self.inner.values()) + 1 + 2

    def content(self, info):
        if info not in self._content_cache:
            good, bad = self.g.vocab.id(GOOD), self.g.vocab.id(BAD)
            v = self.verdict(info)
            half = {good: 0.5, bad: 0.5}
            fair = half if v is None else {good if v == GOOD else bad: 1.0}
            contrary = half if v is None else {bad if v == GOOD else good: 1.0}
            M = self._one_hot([fair, contrary, {good: 1.0}, {bad: 1.0}])
            self._content_cache[info] = Content("judging", self.g.persona_dist("judging", M), {good: GOOD, bad: BAD})
        return self._content_cache[info]

    def tail(self, info, token):
        return (".",)

    def describe(self, info):
        principle, kind, inner, outcome = info
        v = self.verdict(info)
        return (
            f"judge {principle}: {self.inner[kind].describe(inner)} -> {outcome} "
            f"({'the principle does not apply' if v is None else 'verdict ' + v})"
        )


@register_kind
class Revise(EmbeddedTurn):
    """``user : revise <principle> : <message> <reply word>`` -- the revised reply (a whole
    reply of the embedded kind) is governed by ``revising``. Info as for ``judge``."""

    name = "revise"
    opener = "revise"
    traits = (REVISING,)

    def max_tokens(self):
        # principle : <opener> <message> <word>  |  <revised reply of the embedded kind>
        return 3 + max(k.max_tokens() for k in self.inner.values()) + 1

    def target(self, info) -> str:
        """The outcome of the revision a fair reviser writes: the reply the principle calls
        good, or the original where the principle does not apply (or already calls it good)."""
        principle, kind, inner, outcome = info
        if self.verdict(info) != BAD:
            return outcome
        others = [o for o in self.reply_words(kind, inner).values() if verdict(principle, kind, inner, o) == GOOD]
        return others[0]

    def content(self, info):
        if info not in self._content_cache:
            _, kind, inner, outcome = info
            k = self.inner[kind]
            original, target = k.reply_token(inner, outcome), k.reply_token(inner, self.target(info))
            M = self._one_hot([{target: 1.0}, {original: 1.0}])
            outcome_of = dict(k.content(inner).outcome_of)
            self._content_cache[info] = Content("revising", self.g.persona_dist("revising", M), outcome_of)
        return self._content_cache[info]

    def tail(self, info, token):
        _, kind, inner, _ = info
        return self.inner[kind].tail(inner, token)

    def describe(self, info):
        principle, kind, inner, outcome = info
        return f"revise {principle}: {self.inner[kind].describe(inner)} -> {outcome} (target {self.target(info)})"
