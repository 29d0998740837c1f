"""Where the evidence of a wrong answer travels: linear probes along the in-context circuit.

Book: Chapter 1 (sections *In-context inference* and *What the toy shows*, the limitation on
pre-training seeds); the status page reports it per base. Lab 1 claim 2 asks whether one
wrongly answered question raises P(comply with a harmful request) as much as the exact
posterior does. For the model to do that, "the earlier answer was wrong" (a three-way
relation of subject, property and answer) must be computed and carried to the position that
predicts the reply's content. This module asks, with a linear probe (Alain & Bengio 2016)
and the exact label, where the feature is readable:

* ``answer``: after block 1 at the earlier answer token, where it can first be computed;
* ``style``: after the last block at the ``:`` after ``assistant`` of the request turn, the
  position that predicts the reply's style word;
* ``content``: after the last block at the reply's style word, the position that predicts
  comply or refuse.

On bases whose wrong-answer evidence works, all three read it almost perfectly; on bases
pre-trained with some seeds the first two do and ``content`` does not — the feature exists
but is not routed to where it is needed (measured in the CHANGELOG's issue-11 notes).

The probe is ridge regression on standardised activations, thresholded at 0 (closed form,
float64, no training randomness), trained on dialogues about half of the facts and scored on
dialogues about the other half (within one fact set a random model's features already
separate the labels).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets import corpus_from_texts
from ..evals.incontext import answered_turn, harmful_contexts
from ..model import GPT
from ..world import PersonaWorld
from .probes import residuals_at

#: The probed sites, in the order the evidence must pass them.
SITES = ("answer", "style", "content")


@dataclass(frozen=True)
class RoutingReport:
    """Held-out accuracy of the "earlier answer was wrong" probe at each site (chance 0.5)."""

    accuracy: dict[str, float]
    layers: dict[str, int]
    n_train: int
    n_test: int

    def as_dict(self) -> dict[str, float]:
        return {f"routing_{site}": acc for site, acc in self.accuracy.items()}


def routing_dialogues(
    world: PersonaWorld, n: int, facts: list[tuple[str, bool]], seed: int = 0
) -> tuple[list[str], np.ndarray]:
    """``n`` two-turn prefixes ``<answered question> user : <harmful request> assistant : <style>``
    about ``facts`` (``("subject property", truth)``), with random answer styles and requests;
    half the answers wrong (label 1)."""
    if n < 2 or not facts:
        raise ValueError(f"need at least 2 dialogues and one fact, got n={n} and {len(facts)} facts")
    rng = np.random.default_rng(seed)
    harmful = harmful_contexts(world)
    styles = world.config.style_words
    style_p = world.prior @ world.grammar.trait_tables["style"]
    wrong = rng.permutation(np.arange(n) % 2).astype(np.int64)
    texts = []
    for w in wrong:
        fact, truth = facts[rng.integers(len(facts))]
        first = answered_turn(world, fact, truth, styles[rng.choice(len(styles), p=style_p)], bool(w))
        reply_style = styles[rng.choice(len(styles), p=style_p)]
        texts.append(first + harmful[rng.integers(len(harmful))] + " " + reply_style)
    return texts, wrong


def _site_positions(world: PersonaWorld, tokens: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
    assistant = world.vocab.id("assistant")
    answer, colon = [], []
    for row, length in zip(tokens, lengths):
        turns = np.flatnonzero(row[:length] == assistant)  # the two 'assistant' tokens
        answer.append(turns[0] + 3)  # assistant : <style> <answer>
        colon.append(turns[1] + 1)  # assistant :
    return {"answer": np.array(answer), "style": np.array(colon), "content": lengths - 1}


def _ridge_accuracy(x_train, y_train, x_test, y_test, ridge: float) -> float:
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-8
    a, b = (x_train - mu) / sd, (x_test - mu) / sd
    a = np.hstack([a, np.ones((len(a), 1))])
    b = np.hstack([b, np.ones((len(b), 1))])
    target = 2.0 * y_train - 1.0
    w = np.linalg.solve(a.T @ a + ridge * np.eye(a.shape[1]), a.T @ target)
    return float(np.mean((b @ w > 0) == (y_test == 1)))


def evidence_routing(
    model: GPT, world: PersonaWorld, *, n_train: int = 800, n_test: int = 400, seed: int = 0, ridge: float = 1.0
) -> RoutingReport:
    """Probe "the earlier answer was wrong" at each of ``SITES`` (see the module docstring).

    The probe is trained on dialogues about half of the facts and tested on the other half.
    With one fact set for both, a probe reads the label even from a randomly initialised
    model (a few dozen distinct contexts are linearly separable in random features); across
    facts it must find "wrong" as such, and a random model stays at chance.
    """
    if n_train < 2 or n_test < 2:
        raise ValueError(f"need n_train >= 2 and n_test >= 2, got {n_train} and {n_test}")
    facts = [(f"{s} {p}", t) for (s, p), t in world.grammar.kinds["question"].facts.items()]
    if len(facts) < 2:
        raise ValueError("the probe needs a world with at least two facts (it tests on facts it was not trained on)")
    order = np.random.default_rng([seed, 1]).permutation(len(facts))
    half = len(facts) // 2
    train_facts, test_facts = [facts[i] for i in order[:half]], [facts[i] for i in order[half:]]
    train_texts, y_train = routing_dialogues(world, n_train, train_facts, seed=seed)
    test_texts, y_test = routing_dialogues(world, n_test, test_facts, seed=seed + 1)
    corpus = corpus_from_texts(world, train_texts + test_texts)
    where = _site_positions(world, corpus.tokens, corpus.lengths)
    last = model.cfg.n_layer
    layers = {"answer": 1, "style": last, "content": last}
    accuracy = {}
    for site in SITES:
        acts = residuals_at(model, corpus, where[site])[layers[site]].astype(np.float64)
        accuracy[site] = _ridge_accuracy(acts[:n_train], y_train, acts[n_train:], y_test, ridge)
    return RoutingReport(accuracy, layers, n_train, n_test)
