"""PersonaWorld configuration: the numbers that define the synthetic world.

Book: Appendix A, "PersonaWorld reference" (section *The configuration file*).

A world is a plain, validated dataclass that round-trips through YAML. It says

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
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Bump when the document grammar (the code in ``kinds.py``/``grammar.py``) changes the
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
_TOL = 1e-6


class WorldConfigError(ValueError):
    """An invalid PersonaWorld configuration. The message names the field and the fix."""


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
        """Build a config from a dictionary (as read from YAML), with structural checks.

        Semantic checks that need the turn kinds (traits, outcomes) happen when the world is
        compiled, in :class:`~personalab.world.world.PersonaWorld`.
        """
        if not isinstance(data, dict):
            raise WorldConfigError(
                f"world config: expected a mapping at the top level, got {type(data).__name__}. "
                "Fix: the file should start with keys like 'name:', 'personas:', 'kinds:'."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise WorldConfigError(
                f"world config: unknown top-level key(s) {unknown}. "
                f"Fix: use only {sorted(known)} (custom data goes under 'extra:')."
            )
        for key in ("name", "personas", "kinds", "turns", "style_words"):
            if key not in data:
                raise WorldConfigError(f"world config: missing required key '{key}'.")
        personas_raw = data["personas"]
        if not isinstance(personas_raw, dict) or not personas_raw:
            raise WorldConfigError("world config: 'personas' must be a non-empty mapping name -> {prior, traits}.")
        personas = []
        for name, spec in personas_raw.items():
            where = f"personas.{name}"
            if not isinstance(spec, dict):
                raise WorldConfigError(f"world config: {where} must be a mapping with 'prior' and 'traits'.")
            extra_keys = sorted(set(spec) - {"prior", "traits", "description"})
            if extra_keys:
                raise WorldConfigError(
                    f"world config: {where} has unknown key(s) {extra_keys}. "
                    "Fix: a persona has only 'prior', 'traits' and 'description'."
                )
            if "prior" not in spec:
                raise WorldConfigError(f"world config: {where}.prior is missing. Fix: give its prior probability.")
            traits = spec.get("traits") or {}
            if not isinstance(traits, dict):
                raise WorldConfigError(f"world config: {where}.traits must be a mapping trait -> {{outcome: prob}}.")
            personas.append(
                PersonaSpec(
                    name=str(name),
                    prior=_number(spec["prior"], f"{where}.prior"),
                    traits={
                        str(t): {
                            str(o): _number(p, f"{where}.traits.{t}.{o}")
                            for o, p in _mapping(d, f"{where}.traits.{t}").items()
                        }
                        for t, d in traits.items()
                    },
                    description=str(spec.get("description", "")),
                )
            )
        kinds = _mapping(data["kinds"], "kinds")
        turns_raw = _mapping(data["turns"], "turns")
        try:
            turns = {int(k): _number(v, f"turns.{k}") for k, v in turns_raw.items()}
        except (TypeError, ValueError) as exc:
            raise WorldConfigError(
                f"world config: 'turns' keys must be whole numbers of turns ({exc}). "
                "Fix: e.g. turns: {1: 0.5, 2: 0.5}."
            ) from None
        style = data["style_words"]
        if not isinstance(style, (list, tuple)):
            raise WorldConfigError("world config: 'style_words' must be a list of words.")
        cfg = cls(
            name=str(data["name"]),
            personas=tuple(personas),
            kinds={str(k): dict(_mapping(v, f"kinds.{k}")) for k, v in kinds.items()},
            turns=turns,
            style_words=tuple(str(w) for w in style),
            facts={str(k): list(v) for k, v in _mapping(data.get("facts", DEFAULT_FACTS), "facts").items()},
            max_operand=int(data.get("max_operand", 5)),
            coupling=str(data.get("coupling", "persona")),
            description=str(data.get("description", "")),
            extra=dict(data.get("extra") or {}),
        )
        cfg.check_structure()
        return cfg

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
        """Checks that need no knowledge of the turn kinds. Raises :class:`WorldConfigError`."""
        names = [p.name for p in self.personas]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise WorldConfigError(
                f"world config: duplicate persona name(s) {dup}. Fix: give each persona a unique name."
            )
        for p in self.personas:
            if not p.name or any(c.isspace() for c in p.name):
                raise WorldConfigError(
                    f"world config: persona name {p.name!r} must be a non-empty word without spaces."
                )
            if p.prior < 0:
                raise WorldConfigError(f"world config: personas.{p.name}.prior is {p.prior}; priors must be >= 0.")
        check_distribution({p.name: p.prior for p in self.personas}, "the persona priors (personas.*.prior)")
        if self.coupling not in COUPLINGS:
            raise WorldConfigError(
                f"world config: coupling {self.coupling!r} is unknown. Fix: use one of {list(COUPLINGS)}."
            )
        if not self.turns or any(k < 1 for k in self.turns):
            raise WorldConfigError("world config: 'turns' must map numbers of turns >= 1 to probabilities.")
        check_distribution(self.turns, "turns")
        if not self.kinds:
            raise WorldConfigError(
                "world config: 'kinds' is empty. Fix: enable at least one turn kind, e.g. question: {weight: 1}."
            )
        for k, opts in self.kinds.items():
            if "weight" not in opts:
                raise WorldConfigError(
                    f"world config: kinds.{k}.weight is missing. Fix: give how often the user opens a turn this way."
                )
        check_distribution(
            {k: _number(v["weight"], f"kinds.{k}.weight") for k, v in self.kinds.items()}, "kinds.*.weight"
        )
        if not self.style_words:
            raise WorldConfigError(
                "world config: 'style_words' is empty. Fix: list at least one word that opens a reply."
            )
        for w in self.style_words:
            if not w or any(c.isspace() for c in w):
                raise WorldConfigError(f"world config: style word {w!r} must be a non-empty word without spaces.")
        if len(set(self.style_words)) != len(self.style_words):
            raise WorldConfigError("world config: 'style_words' contains duplicates. Fix: list each word once.")
        if not 1 <= self.max_operand <= 20:
            raise WorldConfigError(f"world config: max_operand={self.max_operand}; use a value from 1 to 20.")

    # ------------------------------------------------------------------ helpers
    @property
    def persona_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.personas)

    def persona(self, name: str) -> PersonaSpec:
        """The persona called ``name`` (a clear error lists the known names)."""
        for p in self.personas:
            if p.name == name:
                return p
        raise KeyError(f"unknown persona {name!r}; this world has {list(self.persona_names)}")

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with some fields changed, re-validated (e.g. ``coupling="shuffled"``)."""
        new = dataclasses.replace(self, **changes)
        new.check_structure()
        return new


def check_distribution(dist: dict[Any, float], where: str) -> None:
    """Refuse a probability table that has negative entries or does not sum to one."""
    if not dist:
        raise WorldConfigError(f"world config: {where} is empty. Fix: give at least one outcome with probability 1.")
    for k, v in dist.items():
        if not math.isfinite(v) or v < 0:
            raise WorldConfigError(f"world config: {where}: entry {k!r} = {v} is not a probability (must be >= 0).")
    total = sum(dist.values())
    if abs(total - 1.0) > _TOL:
        raise WorldConfigError(
            f"world config: {where}: probabilities sum to {total:.6g}, not 1. "
            f"Fix: rescale the entries {dict(dist)} so that they sum to 1."
        )


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorldConfigError(f"world config: {where} = {value!r} is not a number.")
    return float(value)


def _mapping(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise WorldConfigError(f"world config: {where} must be a mapping, got {type(value).__name__}.")
    return value


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
