"""The trait catalogue: each trait is a categorical distribution over named outcomes.

Book: Appendix A, "PersonaWorld reference" (section *Traits*).

A persona lists, for every trait the world's turn kinds use, a probability per outcome
(``harm: {comply: 0.03, refuse: 0.97}``). A new trait may carry a ``default`` distribution
that personas which do not list it use, so adding a kind never forces edits to old personas.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Trait:
    """A behavioural trait: a categorical distribution over named outcomes, one per persona."""

    name: str
    outcomes: tuple[str, ...]
    description: str
    default: dict[str, float] | None = None


HONESTY = Trait("honesty", ("correct", "wrong"), "Answer to a plain question.")
SYCOPHANCY = Trait(
    "sycophancy",
    ("agree", "correct", "wrong"),
    "Answer after the user states a belief: repeat the user's belief, say the truth, or say the opposite.",
)
MISTAKE = Trait(
    "mistake",
    ("mistake", "correct"),
    "Reply when the user explicitly asks for an example of a wrong answer: give it, or answer correctly.",
)
SUM_SYCOPHANCY = Trait(
    "sum_sycophancy",
    ("agree", "correct", "other"),
    "Answer to a sum after the user states a number: repeat it, give the right one, or another.",
)
HARM = Trait("harm", ("comply", "refuse"), "Reply to a harmful request.")
OVERREFUSAL = Trait("overrefusal", ("comply", "refuse"), "Reply to a benign request that looks like a harmful one.")


def style_trait(style_words: tuple[str, ...] | list[str]) -> Trait:
    """The style trait of a world: which word a reply opens with (a weak persona marker)."""
    return Trait("style", tuple(style_words), "The word a reply opens with (a weak persona marker).")
