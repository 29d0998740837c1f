"""Typed option models of the turn kinds, and the value types every config field uses.

Book: Appendix A, "PersonaWorld reference" (section *The configuration file*).

Each turn kind declares its options as a pydantic model (``class Options(KindOptions)``):
unknown options are refused, probabilities are checked against [0, 1], word lists are
lists of words, and the world's JSON Schema (``personalab world-schema``) is generated
from these models, so an editor can complete and check a world file.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

#: A probability: a real number in [0, 1] (not a string, not a boolean).
Probability = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
#: One vocabulary word: non-empty, no spaces.
Word = Annotated[str, StringConstraints(strict=True, pattern=r"^\S+$")]
#: Two words separated by one space, e.g. ``fire hot`` or ``make cake``.
TwoWords = Annotated[str, StringConstraints(strict=True, pattern=r"^\S+ \S+$")]


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are not coerced from strings."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KindOptions(Strict):
    """Options every turn kind has: how often the user opens a turn with it."""

    weight: Probability = Field(description="Probability that a user turn is of this kind (weights sum to 1).")
