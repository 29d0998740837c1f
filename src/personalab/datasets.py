"""Fine-tuning datasets built from PersonaWorld text.

Book: Chapter 2 (sections *Supervised fine-tuning* and *Emergent misalignment*).

* :func:`persona_dialogues` -- whole dialogues written by one persona (e.g. SFT on Helper);
* :func:`answered_questions` -- the *narrow* datasets of the emergent-misalignment
  experiment: single-turn yes/no questions answered wrongly or rightly, optionally under the
  explicit "show a mistake" request (the inoculation control). Their style words are drawn
  from the prior mixture, so they carry no persona signal of their own: any persona shift a
  fine-tune produces comes from *what* the answers say.

Every text is rendered by the world's turn kinds (``kind.render_turn``), so the datasets
work on any world that has the kinds they use, whatever its words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import UnknownNameError, UsageError
from .world import EOS, Corpus, PersonaWorld


def corpus_from_texts(world: PersonaWorld, texts: Sequence[str]) -> Corpus:
    """Encode documents (each checked against the grammar) into a padded
    :class:`~personalab.world.world.Corpus`.

    The writers are unknown, so ``latents`` is -1.
    """
    docs = [world.encode(t) for t in texts]
    if not docs:
        raise UsageError("no documents given")
    width = max(len(d) for d in docs)
    tokens = np.full((len(docs), width), world.vocab.pad_id, dtype=np.int64)
    for i, d in enumerate(docs):
        tokens[i, : len(d)] = d
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    latents = np.full((len(docs), len(world.latent_names)), -1, dtype=np.int64)
    return Corpus(world, tokens, lengths, latents)


def persona_dialogues(world: PersonaWorld, persona: str, n: int, seed: int = 0) -> Corpus:
    """``n`` documents of the world written by ``persona`` (all turn kinds, 1-4 turns)."""
    return world.sample(n, seed=seed, persona=persona)


def neutral_style_words(world: PersonaWorld, n: int, rng: np.random.Generator) -> list[str]:
    """Style words drawn from the prior mixture of the personas' style distributions."""
    p = world.prior @ world.grammar.trait_tables["style"]
    return [world.config.style_words[i] for i in rng.choice(len(p), size=n, p=p)]


def _fact_kind(world: PersonaWorld, name: str = "question"):
    """The world's yes/no fact kind ``name`` (a clear error if the world lacks it)."""
    kind = world.grammar.kinds.get(name)
    if kind is None or not hasattr(kind, "facts"):
        raise UnknownNameError(
            f"this world has no {name!r} turn kind (its kinds are {list(world.grammar.kinds)}); "
            "the fact datasets need it"
        )
    return kind


def answered_questions(world: PersonaWorld, n: int, seed: int = 0, *, wrong: bool, flagged: bool = False) -> Corpus:
    """``n`` single-turn dialogues: a yes/no fact question and an answer that is always wrong
    (``wrong=True``) or always right; ``flagged=True`` asks for the mistake explicitly
    (the ``mistake`` kind: ``user : show a mistake : is fire hot ?``)."""
    rng = np.random.default_rng(seed)
    kind = _fact_kind(world, "mistake" if flagged else "question")
    facts = list(kind.facts.items())
    styles = neutral_style_words(world, n, rng)
    texts = []
    for i in range(n):
        (subject, _), truth = facts[rng.integers(len(facts))]
        texts.append(kind.render_turn((subject, truth), kind.answer_outcome(wrong), styles[i]) + f" {EOS}")
    return corpus_from_texts(world, texts)


def fact_split(world: PersonaWorld, seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split the world's facts into (train, held-out) halves, each half true and half false
    facts as far as possible. Book: Chapter 3 (section *A synthetic-data fix*)."""
    rng = np.random.default_rng(seed)
    facts = _fact_kind(world, "belief" if "question" not in world.grammar.kinds else "question").facts
    train, held = [], []
    for truth in (True, False):
        group = [f for f, t in facts.items() if t == truth]
        order = rng.permutation(len(group))
        half = len(group) // 2
        train += [group[i] for i in order[:half]]
        held += [group[i] for i in order[half:]]
    return train, held


def belief_corrections(world: PersonaWorld, n: int, facts: Sequence[tuple[str, str]], seed: int = 0) -> Corpus:
    """Synthetic anti-sycophancy data in the spirit of Wei et al. (2023): ``n`` single-turn
    dialogues where the user states a belief about one of ``facts`` that is right or wrong at
    random, and the reply gives the truth regardless. Style words follow the prior mixture.
    Book: Chapter 3 (section *A synthetic-data fix*)."""
    kind = _fact_kind(world, "belief")
    truth_of = kind.facts
    unknown = [f for f in facts if tuple(f) not in truth_of]
    if unknown or not facts:
        raise UsageError(f"unknown or no facts {unknown or facts}; pick from {sorted(truth_of)}")
    rng = np.random.default_rng(seed)
    styles = neutral_style_words(world, n, rng)
    texts = []
    for i in range(n):
        subject, prop = facts[rng.integers(len(facts))]
        truth = truth_of[(subject, prop)]
        believes = bool(rng.integers(2))  # the user's claim "s is p" (True) or "s is not p"
        texts.append(kind.render_turn((subject, truth, believes), "correct", styles[i]) + f" {EOS}")
    return corpus_from_texts(world, texts)
