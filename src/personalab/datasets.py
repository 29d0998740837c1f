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
