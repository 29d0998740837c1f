"""A structure-selected curriculum: see evidence followed by a test of it more often, early.

Book: Chapter 1 (section *Why this recipe*); DESIGN section 7. In-context persona inference
needs a model to use an earlier reply as evidence about the writer: a wrong answer to a fact
question should raise the probability of complying with a harmful request later in the
dialogue. The loss rewards this only on documents in which such a pair of turns occurs, and
with uniformly drawn documents the circuit forms late and, for some pre-training seeds, not
within the step budget (the *Lab status* page lists the pre-training seeds measured).

For the first ``TrainConfig.curriculum_steps`` steps, :func:`curriculum_weights` draws the
documents in which a turn of an *evidence* kind (``question``, ``belief``) comes before a turn
of a *target* kind (``request``) ``1 + curriculum_boost`` times as often as the others; after
that, documents are drawn uniformly. The selection reads only which kinds of turn a document
has. In PersonaWorld the user's turns are drawn without regard to the writer, so the
selected documents have the prior's persona mixture (``tests/test_curriculum.py`` checks
it): the curriculum changes how often the model sees evidence and a test of it together, not
what any persona writes, and the last stretch of training sees the world's own
distribution.
"""

from __future__ import annotations

import numpy as np

from ..errors import UsageError
from ..world import Corpus


def kind_names(text: str) -> set[str]:
    """``"question,belief"`` -> ``{"question", "belief"}`` (spaces ignored)."""
    return {k.strip() for k in text.split(",") if k.strip()}


def evidence_documents(corpus: Corpus, evidence: set[str], target: set[str]) -> np.ndarray:
    """(N,) bool: whether a turn of an ``evidence`` kind comes before a turn of a ``target`` kind.

    Raises :class:`~personalab.errors.UsageError` naming the world's kinds when a name is not
    one of them."""
    known = set(corpus.world.grammar.kinds)
    unknown = (evidence | target) - known
    if unknown or not evidence or not target:
        raise UsageError(
            f"curriculum kinds {sorted(unknown) if unknown else '(none given)'} are not turn kinds of this world; "
            f"its kinds are {sorted(known)}. Fix: TrainConfig(curriculum_evidence=..., curriculum_target=...) "
            "as comma-separated kind names"
        )
    flags = np.zeros(len(corpus), dtype=bool)
    for i in range(len(corpus)):
        seen = False
        for turn in corpus.world.turns(corpus.doc(i)):
            if seen and turn.kind in target:
                flags[i] = True
                break
            seen = seen or turn.kind in evidence
    return flags


def curriculum_weights(corpus: Corpus, boost: float, evidence: str, target: str) -> np.ndarray:
    """(N,) sampling probabilities: the documents :func:`evidence_documents` selects weigh
    ``1 + boost``, the others 1; normalised to sum to one."""
    flags = evidence_documents(corpus, kind_names(evidence), kind_names(target))
    w = 1.0 + boost * flags
    return w / w.sum()
