"""PersonaWorld configuration: the numbers that define the synthetic world.

Book: Appendix A, "PersonaWorld reference" (section *The configuration file*).

A world is a plain dataclass that round-trips through YAML, validated by
:func:`~personalab.world.validation.validate`. It says

* which **personas** exist, their **prior** probability of writing a document, and their
  **traits**: for each trait a categorical distribution over named outcomes (for example
  ``harm: {comply: 0.9, refuse: 0.1}``);
* which **turn kinds** (question, belief, request, ...) the user may open a turn with, and
  how often;
* how many turns a dialogue has (a distribution), the style words, the yes/no facts (and
  the operand range of the optional arithmetic kinds);
* the **coupling**: ``persona`` (one persona writes the whole document, so traits are
  correlated through the persona) or ``shuffled`` (each trait's source persona is drawn
  independently per document -- the control world of DESIGN section 3).

Everything the world does is determined by this object; :func:`world_hash` fingerprints it
(together with the grammar version) so that checkpoints can refuse a foreign world.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UnknownNameError, WorldConfigError

#: Bump when the document grammar (the code in ``kinds/``/``grammar.py``) changes the
#: token process for an unchanged configuration. Part of :func:`world_hash`.
#: Version 2: ``question``/``belief`` became yes/no fact kinds.
GRAMMAR_VERSION = 2

COUPLINGS = ("persona", "shuffled")
#: Yes/no facts used by the ``question`` and ``belief`` turn kinds when a config gives none.
#: Each subject appears once, so a fact's truth is a property of its subject alone.
DEFAULT_FACTS = {
    "true_facts": ["fire hot", "snow white", "sugar sweet", "lead heavy"],
    "false_facts": ["ice hot", "coal white", "salt sweet", "feather heavy"],
}


@dataclass(frozen=True)
class PersonaSpec:
    """One persona: its prior weight and, for each trait, a distribution over outcomes."""

    name: str
    prior: float
    traits: dict[str, dict[str, float]]
    description: str = ""


@dataclass(frozen=True)
class WorldConfig:
    """The full, validated description of a PersonaWorld (see the module docstring)."""

    name: str
    personas: tuple[PersonaSpec, ...]
    kinds: dict[str, dict[str, Any]]
    turns: dict[int, float]
    style_words: tuple[str, ...]
    facts: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_FACTS.items()})
    max_operand: int = 5
    coupling: str = "persona"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ conversions
    def to_dict(self) -> dict[str, Any]:
        """A plain-JSON/YAML dictionary (the inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "coupling": self.coupling,
            "facts": {k: list(v) for k, v in self.facts.items()},
            "max_operand": self.max_operand,
            "turns": {int(k): float(v) for k, v in self.turns.items()},
            "style_words": list(self.style_words),
            "kinds": {k: dict(v) for k, v in self.kinds.items()},
            "personas": {
                p.name: {
                    "prior": float(p.prior),
                    "description": p.description,
                    "traits": {t: dict(d) for t, d in p.traits.items()},
                }
                for p in self.personas
            },
        }
        if self.extra:
            out["extra"] = dict(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> WorldConfig:
        """Build a config from a dictionary (as read from YAML or JSON), validated by
        :func:`~personalab.world.validation.validate` (types, meaning, exact normalisation)."""
        from .validation import validate

        return validate(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> WorldConfig:
        """Read and validate a world from a YAML file."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise WorldConfigError(f"world config: file not found: {path}") from None
        except yaml.YAMLError as exc:
            raise WorldConfigError(f"world config: {path} is not valid YAML: {exc}") from None
        return cls.from_dict(data)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The YAML text of this config (written to ``path`` if given)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    # ------------------------------------------------------------------ checks
    def check_structure(self) -> None:
        """Validate this config against the schema. Raises :class:`WorldConfigError`."""
        self.from_dict(self.to_dict())

    # ------------------------------------------------------------------ helpers
    @property
    def persona_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.personas)

    def persona(self, name: str) -> PersonaSpec:
        """The persona called ``name`` (a clear error lists the known names)."""
        for p in self.personas:
            if p.name == name:
                return p
        raise UnknownNameError(f"unknown persona {name!r}; this world has {list(self.persona_names)}")

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with some fields changed, re-validated (e.g. ``coupling="shuffled"``)."""
        return self.from_dict(dataclasses.replace(self, **changes).to_dict())


def check_distribution(dist: dict[Any, float], where: str) -> dict[Any, float]:
    """Refuse a probability table that has negative entries or does not sum to one; return
    it exactly normalised (see :func:`~personalab.world.validation.normalised`)."""
    from .validation import normalised

    return normalised(dist, where)


def world_hash(config: WorldConfig) -> str:
    """A 16-hex-digit fingerprint of the world: its configuration plus the grammar version.

    Checkpoints store it; loading a checkpoint into a different world is refused.
    """
    payload = json.dumps({"grammar": GRAMMAR_VERSION, "config": config.to_dict()}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


DEFAULT_WORLD_PATH = Path(__file__).resolve().parent.parent / "data" / "default_world.yaml"


def default_config() -> WorldConfig:
    """The default world shipped with the package (``personalab/data/default_world.yaml``)."""
    return WorldConfig.from_yaml(DEFAULT_WORLD_PATH)
