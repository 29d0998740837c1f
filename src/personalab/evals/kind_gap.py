"""The gap to the Bayes limit, turn kind by turn kind.

Book: Appendix A, section *The extended world* (DESIGN section 8: "measure the gap to the
Bayes limit on the new kinds' tokens before building a lab on them"); Chapter 1, eq. (1.3).

:func:`~personalab.evals.gap.gap_report` averages over every token. A kind that the model
has not learnt can hide in that average when its tokens are few, so here each token is
assigned to the turn it belongs to (from its ``user`` token to the next) and the model's and
the exact Bayes losses are averaged per kind -- over all the turn's tokens, and over the
reply tokens a trait governs (the style word and the content, where persona inference is).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model import GPT
from ..train.loop import token_nll
from ..world import Corpus


@dataclass(frozen=True)
class KindGap:
    """Losses (nats/token) on the tokens of one turn kind's turns."""

    kind: str
    n_turns: int
    n_tokens: int
    model_loss: float
    bayes_loss: float
    n_governed: int  # reply tokens a trait governs (style and content)
    governed_model_loss: float
    governed_bayes_loss: float

    @property
    def gap(self) -> float:
        return self.model_loss - self.bayes_loss

    @property
    def governed_gap(self) -> float:
        return self.governed_model_loss - self.governed_bayes_loss

    def to_dict(self) -> dict[str, float | int | str]:
        return {**self.__dict__, "gap": self.gap, "governed_gap": self.governed_gap}


def turn_kinds(corpus: Corpus) -> np.ndarray:
    """(N, T) the kind name of the turn each token belongs to ("" before the first turn and
    on padding); the closing ``<eos>`` belongs to the last turn."""
    world = corpus.world
    user, kind_of_opener = (
        world.vocab.id("user"),
        {world.vocab.id(k.opener): k.name for k in world.grammar.kinds.values()},
    )
    out = np.full(corpus.tokens.shape, "", dtype=object)
    for i in range(len(corpus)):
        doc = corpus.doc(i)
        current = ""
        for t, tok in enumerate(doc):
            if tok == user and t + 2 < len(doc):
                current = kind_of_opener[int(doc[t + 2])]  # user : <opener>
            out[i, t] = current
    return out


def gap_by_kind(model: GPT, corpus: Corpus) -> dict[str, KindGap]:
    """The model's and the exact Bayes losses on each turn kind's tokens of ``corpus``
    (held-out documents of the model's world), in the world's kind order."""
    world = corpus.world
    scores = world.score(corpus)
    mask = scores.mask
    nll = token_nll(model, corpus)[:, : mask.shape[1]]
    bayes = -scores.bayes_logprob[:, : mask.shape[1]]
    kinds = turn_kinds(corpus)[:, : mask.shape[1]]
    governed = mask & (scores.latent >= 0)
    opener_ids = {world.vocab.id(k.opener): k.name for k in world.grammar.kinds.values()}
    user = world.vocab.id("user")
    turns = {name: 0 for name in world.grammar.kinds}
    for i in range(len(corpus)):
        doc = corpus.doc(i)
        for t in np.flatnonzero(doc[:-2] == user):
            turns[opener_ids[int(doc[t + 2])]] += 1
    out: dict[str, KindGap] = {}
    for name in world.grammar.kinds:
        sel, gsel = mask & (kinds == name), governed & (kinds == name)
        if not sel.any():
            continue
        out[name] = KindGap(
            kind=name,
            n_turns=turns[name],
            n_tokens=int(sel.sum()),
            model_loss=float(nll[sel].mean()),
            bayes_loss=float(bayes[sel].mean()),
            n_governed=int(gsel.sum()),
            governed_model_loss=float(nll[gsel].mean()),
            governed_bayes_loss=float(bayes[gsel].mean()),
        )
    return out
