"""The document grammar of PersonaWorld, written once as a coroutine.

Book: Appendix A, "PersonaWorld reference" (sections *The generative process* and *Exact
inference*).

:func:`document` is a Python generator that *yields the next-token distribution* and
*receives the token that was actually emitted*. The same code therefore serves

* **sampling** -- draw each token from the row of the writing persona, send it back;
* **exact scoring** -- send the tokens of a given document and record, at each position,
  ``log P(token | prefix, persona)`` for every persona.

Because sampling and scoring run the same code, the likelihoods are exact for the process
that generated the data, by construction. A document is::

    <bos> user : <user turn 1> assistant : <style> <content> <tail> user : ... <eos>

The number of turns is drawn from ``turns`` (as a stop/continue decision after each turn,
with the hazard ``P(T = k) / P(T >= k)``), the turn kind from ``kinds.*.weight``.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .config import WorldConfig, check_distribution
from .dist import Dist
from .kinds import KINDS, Trait, TurnKind
from .kinds.traits import style_trait as _style_trait
from .vocab import ASSISTANT, BOS, COLON, EOS, USER, Vocab


def style_trait(config: WorldConfig) -> Trait:
    return _style_trait(config.style_words)


@dataclass
class Turn:
    """What happened in one turn of a parsed or sampled dialogue."""

    kind: str
    info: Any
    style_pos: int  # index of the style token in the document
    content_pos: int | None = None  # index of the content token
    outcome: str | None = None  # e.g. "correct", "agree", "comply"; None until emitted


@dataclass
class DialogueState:
    """Where the grammar is: filled in by :func:`document` as tokens arrive."""

    n: int = 0  # tokens consumed so far
    phase: str = "start"  # start | user | style | content | tail | between | done
    kind: TurnKind | None = None
    info: Any = None
    turns: list[Turn] = field(default_factory=list)


class Grammar:
    """A compiled world: vocabulary, trait tables, latent variables and cached distributions."""

    def __init__(self, config: WorldConfig):
        # ``config`` is validated (see :mod:`~personalab.world.validation`): kinds, traits and
        # words are known to fit together; here they are compiled.
        self.config = config
        self.personas = config.persona_names
        self.P = len(self.personas)
        self.prior = np.array([p.prior for p in config.personas], dtype=np.float64)

        # Turn kinds enabled in this world (weight 0 still contributes its words).
        self.kinds: dict[str, TurnKind] = {name: KINDS[name](opts, config) for name, opts in config.kinds.items()}

        # Traits: every trait an enabled kind uses, plus style.
        self.traits: dict[str, Trait] = {"style": style_trait(config)}
        for kind in self.kinds.values():
            for t in kind.traits:
                self.traits[t.name] = t
        self.trait_tables = self._trait_tables()

        # Latent variables: one persona for the whole document (coupling "persona"),
        # or one independent source persona per trait (coupling "shuffled").
        names = list(self.traits)
        if config.coupling == "persona":
            self.latent_names = ("persona",)
            self.latent_of = {t: 0 for t in names}
        else:
            self.latent_names = tuple(names)
            self.latent_of = {t: i for i, t in enumerate(names)}

        # Vocabulary: structure words, each kind's words, style words.
        words: list[str] = [USER, ASSISTANT, COLON]
        for kind in self.kinds.values():
            words += kind.words()
        self.vocab = Vocab(words + list(config.style_words))
        self._det: dict[str, Dist] = {}
        for kind in self.kinds.values():
            kind.bind(self)

        weights = {k.opener: float(config.kinds[n]["weight"]) for n, k in self.kinds.items()}
        self.opener_dist = self.shared(weights)
        self.kind_by_opener = {self.vocab.id(k.opener): k for k in self.kinds.values()}
        style_tokens = np.zeros((len(config.style_words), len(self.vocab)))
        for i, w in enumerate(config.style_words):
            style_tokens[i, self.vocab.id(w)] = 1.0
        self.style_dist = self.persona_dist("style", style_tokens)
        max_turns = max(config.turns)
        survive = 1.0
        self.continue_dist: list[Dist] = []
        for k in range(1, max_turns + 1):
            stop = config.turns.get(k, 0.0) / survive if survive > 1e-15 else 1.0
            stop = min(max(stop, 0.0), 1.0)
            self.continue_dist.append(self.shared({EOS: stop, USER: 1.0 - stop}))
            survive -= config.turns.get(k, 0.0)
        turn_len = 2 + 1 + max(k.max_tokens() for k in self.kinds.values()) + 2 + 1  # user : op ... assistant : style
        self.max_len = 1 + max_turns * turn_len + 1  # <bos> turns <eos>

    # ------------------------------------------------------------------ tables
    def _trait_tables(self) -> dict[str, np.ndarray]:
        """(P, K) table of each trait: persona rows in config order, outcomes in the trait's
        order; a persona that does not list a trait uses the trait's default."""
        tables: dict[str, np.ndarray] = {}
        for tname, trait in self.traits.items():
            rows = []
            for p in self.config.personas:
                dist = p.traits.get(tname)
                if dist is None:
                    dist = check_distribution(trait.default, f"the default of trait {tname!r}")
                rows.append([dist[o] for o in trait.outcomes])
            tables[tname] = np.array(rows, dtype=np.float64)  # (P, K)
        return tables

    # ------------------------------------------------------------------ distributions
    def det(self, word: str) -> Dist:
        """The shared one-hot distribution of a word the grammar fixes."""
        if word not in self._det:
            self._det[word] = self.shared({word: 1.0})
        return self._det[word]

    def shared(self, probs: dict[str, float]) -> Dist:
        """A persona-independent distribution over the given words."""
        v = np.zeros(len(self.vocab))
        for w, p in probs.items():
            v[self.vocab.id(w)] += p
        return Dist(v)

    def persona_dist(self, trait: str, outcome_tokens: np.ndarray) -> Dist:
        """The (P, V) distribution ``trait_table @ outcome_tokens``: persona p picks an outcome
        with its trait probabilities, and outcome k emits tokens with row k of ``outcome_tokens``."""
        table = self.trait_tables[trait]  # (P, K)
        if outcome_tokens.shape != (table.shape[1], len(self.vocab)):
            raise ValueError(f"outcome matrix for {trait!r} must be {(table.shape[1], len(self.vocab))}")
        return Dist(table @ outcome_tokens, trait=trait, latent=self.latent_of[trait])

    def number_of(self, token: int) -> int:
        return int(self.vocab.words[token])


def document(g: Grammar, state: DialogueState) -> Generator[Dist, int, None]:
    """The generative process of one document (see the module docstring).

    Yields the distribution of each next token and receives the emitted token id.
    """
    state.phase = "start"
    yield g.det(BOS)
    yield g.det(USER)
    k = 0
    while True:
        k += 1
        state.phase = "user"
        yield g.det(COLON)
        kind = g.kind_by_opener[(yield g.opener_dist)]
        info = yield from kind.user()
        state.kind, state.info = kind, info
        yield g.det(ASSISTANT)
        yield g.det(COLON)
        state.phase = "style"
        turn = Turn(kind.name, info, style_pos=state.n)
        state.turns.append(turn)
        yield g.style_dist
        state.phase = "content"
        content = kind.content(info)
        turn.content_pos = state.n
        token = yield content.dist
        turn.outcome = content.outcome_of.get(token)
        state.phase = "tail"
        for word in kind.tail(info, token):
            yield g.det(word)
        state.phase = "between"
        if (yield g.continue_dist[k - 1]) == g.vocab.eos_id:
            state.phase = "done"
            return
