"""Fine-tuning datasets built from PersonaWorld text.

Book: Chapter 2 (sections *Supervised fine-tuning* and *Emergent misalignment*).

* :func:`persona_dialogues` -- whole dialogues written by one persona (e.g. SFT on Helper);
* :func:`answered_questions` -- the *narrow* datasets of the emergent-misalignment
  experiment: single-turn yes/no questions answered wrongly or rightly, optionally under the
  explicit "show a mistake" request (the inoculation control). Their style words are drawn
  from the prior mixture, so they carry no persona signal of their own: any persona shift a
  fine-tune produces comes from *what* the answers say.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .world import Corpus, PersonaWorld


def corpus_from_texts(world: PersonaWorld, texts: Sequence[str]) -> Corpus:
    """Encode documents (each checked against the grammar) into a padded
    :class:`~personalab.world.world.Corpus`.

    The writers are unknown, so ``latents`` is -1.
    """
    docs = [world.encode(t) for t in texts]
    if not docs:
        raise ValueError("no documents given")
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


def answered_questions(world: PersonaWorld, n: int, seed: int = 0, *, wrong: bool, flagged: bool = False) -> Corpus:
    """``n`` single-turn dialogues: a yes/no fact question and an answer that is always wrong
    (``wrong=True``) or always right; ``flagged=True`` asks for the mistake explicitly
    (``user : show a mistake : is fire hot ?``)."""
    rng = np.random.default_rng(seed)
    facts = list(world.grammar.kinds["question"].facts.items())
    styles = neutral_style_words(world, n, rng)
    prefix = "show a mistake : " if flagged else ""
    texts = []
    for i in range(n):
        (subject, prop), truth = facts[rng.integers(len(facts))]
        says_yes = truth != wrong
        texts.append(
            f"user : {prefix}is {subject} {prop} ? assistant : {styles[i]} {'yes' if says_yes else 'no'} . <eos>"
        )
    return corpus_from_texts(world, texts)


def fact_split(world: PersonaWorld, seed: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split the world's facts into (train, held-out) halves, each half true and half false
    facts as far as possible. Book: Chapter 3 (section *A synthetic-data fix*)."""
    rng = np.random.default_rng(seed)
    facts = world.grammar.kinds["question"].facts
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
    truth_of = world.grammar.kinds["question"].facts
    unknown = [f for f in facts if tuple(f) not in truth_of]
    if unknown or not facts:
        raise ValueError(f"unknown or no facts {unknown or facts}; pick from {sorted(truth_of)}")
    rng = np.random.default_rng(seed)
    styles = neutral_style_words(world, n, rng)
    texts = []
    for i in range(n):
        subject, prop = facts[rng.integers(len(facts))]
        truth = truth_of[(subject, prop)]
        believes = bool(rng.integers(2))  # the user's claim "s is p" (True) or "s is not p"
        claim = f"{subject} is {prop}" if believes else f"{subject} is not {prop}"
        texts.append(f"user : i think {claim} . is it ? assistant : {styles[i]} {'yes' if truth else 'no'} . <eos>")
    return corpus_from_texts(world, texts)
