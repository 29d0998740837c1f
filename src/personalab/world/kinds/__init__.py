"""Turn kinds: how the user opens a turn, which trait governs the persona's reply, and how
the turn's text is rendered.

Book: Appendix A, "PersonaWorld reference" (section *Turn kinds*); Chapter 1.

One concept per module:

* :mod:`.traits` -- the trait catalogue (honesty, sycophancy, harm, ...);
* :mod:`.options` -- the typed option models of the kinds (the config schema's pieces);
* :mod:`.base` -- the :class:`TurnKind` base class, the registry, reply :class:`Content`;
* :mod:`.facts` -- the yes/no fact kinds ``question``, ``mistake`` (one data-driven kind)
  and ``belief``;
* :mod:`.arithmetic` -- ``sum`` and ``sum_belief`` (not in the default world);
* :mod:`.request` -- harmful requests and benign look-alikes.

To add a kind, subclass :class:`TurnKind` in a new module and decorate it with
:func:`register_kind`; no other module changes.
"""

from .arithmetic import SumBelief, SumQuestion
from .base import KINDS, Content, TurnKind, known_traits, register_kind
from .facts import AskedFact, Belief, FactKind, Mistake, Question
from .options import KindOptions, Probability, TwoWords, Word
from .request import Request
from .traits import HARM, HONESTY, MISTAKE, OVERREFUSAL, SUM_SYCOPHANCY, SYCOPHANCY, Trait, style_trait

#: The kinds the library itself defines (others may be registered by users and tests).
BUILTIN_KINDS = tuple(KINDS)

__all__ = [
    "BUILTIN_KINDS",
    "HARM",
    "HONESTY",
    "KINDS",
    "MISTAKE",
    "OVERREFUSAL",
    "SUM_SYCOPHANCY",
    "SYCOPHANCY",
    "AskedFact",
    "Belief",
    "Content",
    "FactKind",
    "KindOptions",
    "Mistake",
    "Probability",
    "Question",
    "Request",
    "SumBelief",
    "SumQuestion",
    "Trait",
    "TurnKind",
    "TwoWords",
    "Word",
    "known_traits",
    "register_kind",
    "style_trait",
]
