"""The world config schema: one typed, validated description of a PersonaWorld file.

Book: Appendix A, "PersonaWorld reference" (section *The configuration file*).

Validation runs in three steps, all here:

1. **Types** (pydantic v2 models): unknown keys are refused at every level, numbers are
   numbers (``max_operand: five`` is an error, not a traceback), probabilities lie in
   [0, 1], word lists are lists of words (``false_facts: fire`` is refused, not split into
   letters), and each enabled turn kind's options are checked by that kind's own
   ``Options`` model. Every message names the field by its dotted path
   (``kinds.belief.p_user_correct``).
2. **Meaning**, which needs the registered turn kinds: every trait a persona lists exists,
   every trait an enabled kind needs is given (or has a default) with exactly its outcomes,
   openers are unique, and words taken from the config (facts, requests, style words) are
   not grammar words of a kind (a fact ``fire not`` would collide with ``belief``'s "not").
3. **Exact normalisation**: every probability table must sum to 1 within 1e-6 and is then
   divided by its sum, so that the numbers the exact inference uses are normalised (the
   correctly rounded sum, :func:`math.fsum`, is exactly 1). A table that already sums to
   exactly 1 is left untouched -- the default world's tables all do, which keeps its hash
   and every number computed from it bit-identical.

:func:`json_schema` exports the schema (with the options of every registered kind) for
editors; ``personalab world-schema`` prints it and ``personalab/data/world.schema.json`` is
the committed copy (a test checks that it is current).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from ..errors import WorldConfigError
from .kinds.base import KINDS, TurnKind, known_traits
from .kinds.options import KindOptions, Probability, Strict, TwoWords, Word
from .kinds.traits import style_trait
from .vocab import ASSISTANT, COLON, USER

#: How far a probability table may be from summing to 1 before it is refused (it is then
#: renormalised exactly).
TOLERANCE = 1e-6

DEFAULT_FACTS = {
    "true_facts": ["fire hot", "snow white", "sugar sweet", "lead heavy"],
    "false_facts": ["ice hot", "coal white", "salt sweet", "feather heavy"],
}


class FactsSchema(Strict):
    """Yes/no facts ``'subject property'``; each subject appears once, so a fact's truth is a
    property of its subject alone."""

    true_facts: list[TwoWords] = Field(min_length=1, description="Facts that are true, e.g. 'fire hot'.")
    false_facts: list[TwoWords] = Field(min_length=1, description="Facts that are false, e.g. 'ice hot'.")

    @model_validator(mode="after")
    def _unique_subjects(self) -> FactsSchema:
        seen: set[str] = set()
        for item in [*self.true_facts, *self.false_facts]:
            subj = item.split()[0]
            if subj in seen:
                raise ValueError(
                    f"the subject {subj!r} is used twice; each subject appears in one fact "
                    "(so that a fact's truth is a property of its subject)"
                )
            seen.add(subj)
        return self


class PersonaSchema(Strict):
    """One persona: its prior weight and, for each trait, a distribution over outcomes."""

    prior: Annotated[float, Field(strict=True, ge=0.0, allow_inf_nan=False)] = Field(
        description="Prior probability that this persona writes a document (priors sum to 1)."
    )
    description: str = ""
    traits: dict[Word, dict[Word, Probability]] = Field(
        default_factory=dict, description="trait -> {outcome: probability}; each table sums to 1."
    )


class _WorldBase(Strict):
    name: Annotated[str, Field(strict=True, min_length=1)]
    description: str = ""
    coupling: Literal["persona", "shuffled"] = Field(
        "persona", description="'persona': one persona writes a document; 'shuffled': each trait its own."
    )
    turns: dict[Annotated[int, Field(ge=1)], Probability] = Field(
        min_length=1, description="Number of turns -> probability, e.g. {1: 0.5, 2: 0.5}."
    )
    style_words: list[Word] = Field(min_length=1, description="The words a reply may open with.")
    facts: FactsSchema = Field(default_factory=lambda: FactsSchema(**DEFAULT_FACTS))
    max_operand: Annotated[int, Field(strict=True, ge=1, le=20)] = Field(
        5, description="Largest operand of the arithmetic kinds."
    )
    personas: dict[Word, PersonaSchema] = Field(min_length=1)
    extra: dict[str, Any] = Field(default_factory=dict, description="Free-form data (not used by the world).")

    @field_validator("style_words")
    @classmethod
    def _unique_style(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("contains duplicates; list each word once")
        return v


_MODEL_CACHE: dict[tuple, type[BaseModel]] = {}


def world_model(kinds: tuple[str, ...] | None = None) -> type[BaseModel]:
    """The pydantic model of a world file, with one optional field per turn kind (by default
    every registered kind)."""
    names = tuple(KINDS) if kinds is None else tuple(kinds)
    key = tuple((n, KINDS[n].Options) for n in names)
    if key not in _MODEL_CACHE:
        fields = {
            n: (KINDS[n].Options | None, Field(None, description=(KINDS[n].__doc__ or "").split("\n")[0]))
            for n in names
        }
        kinds_model = create_model("Kinds", __base__=Strict, **fields)
        _MODEL_CACHE[key] = create_model("World", __base__=_WorldBase, kinds=(kinds_model, Field(...)))
    return _MODEL_CACHE[key]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a world file with the library's own turn kinds (for editors:
    completion and checking as you type; e.g. ``# yaml-language-server: $schema=...``)."""
    from .kinds import BUILTIN_KINDS

    schema = world_model(BUILTIN_KINDS).model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "PersonaWorld configuration"
    return schema


def json_schema_text() -> str:
    """:func:`json_schema` as the text of ``personalab/data/world.schema.json``."""
    import json

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


SCHEMA_PATH = Path(__file__).resolve().parent.parent / "data" / "world.schema.json"


# ---------------------------------------------------------------------------- messages
def _allowed_keys(loc: tuple) -> list[str] | None:
    """The keys allowed at ``loc`` (a pydantic error location), walking the models."""
    ann: Any = world_model()
    for part in loc:
        while get_origin(ann) is Annotated:
            ann = get_args(ann)[0]
        if get_origin(ann) is dict:
            ann = get_args(ann)[1]
            continue
        args = [a for a in get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
        if args:
            ann = args[0]
        if isinstance(ann, type) and issubclass(ann, BaseModel) and part in ann.model_fields:
            ann = ann.model_fields[part].annotation
            continue
        return None
    args = [a for a in get_args(ann) if isinstance(a, type) and issubclass(a, BaseModel)]
    if args:
        ann = args[0]
    return sorted(ann.model_fields) if isinstance(ann, type) and issubclass(ann, BaseModel) else None


def _message(err: dict, prefix: tuple = ()) -> str:
    loc = tuple(prefix) + tuple(p for p in err["loc"] if p != "[key]")
    path = ".".join(str(p) for p in loc) or "(top level)"
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        where = ".".join(str(p) for p in loc[:-1]) or "the top level"
        if loc[:-1] == ("kinds",):
            return (
                f"{path}: unknown turn kind. Fix: use one of {sorted(KINDS)} "
                "or register a new kind with @register_kind."
            )
        return f"{path}: unknown key. Fix: the keys of {where} are {allowed}."
    if kind == "missing":
        return f"{path} is missing. Fix: add the key {str(loc[-1])!r}."
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        msg = (
            "must be two words, e.g. 'fire hot' or 'make cake'" if " " in pattern else "must be one word without spaces"
        )
    elif kind in ("greater_than_equal", "less_than_equal") and loc and err.get("ctx", {}) in ({"ge": 0.0}, {"le": 1.0}):
        msg = "is not a probability; use a number in [0, 1]"
    if kind == "value_error" and isinstance(err.get("input"), (dict, list)):
        return f"{path}: {msg}."
    return f"{path} = {err['input']!r}: {msg}."


def _raise(exc: ValidationError, prefix: tuple = ()) -> None:
    errors = exc.errors()
    lines = [_message(e, prefix) for e in errors[:6]]
    more = f"\n  (and {len(errors) - 6} more)" if len(errors) > 6 else ""
    head = "world config: " + lines[0] if len(lines) == 1 else "world config:\n  " + "\n  ".join(lines)
    raise WorldConfigError(head + more) from None


def validate_kind_options(name: str, options: Any) -> KindOptions:
    """Validate one turn kind's options (used when a kind is built outside a config)."""
    try:
        return KINDS[name].Options.model_validate(options)
    except ValidationError as exc:
        _raise(exc, ("kinds", name))
    raise AssertionError  # pragma: no cover


# ---------------------------------------------------------------------------- normalising
def normalised(dist: dict[Any, float], where: str) -> dict[Any, float]:
    """``dist`` divided by its sum, after checking the sum is 1 within :data:`TOLERANCE`.

    The result's correctly rounded sum is exactly 1. A table already summing to exactly 1
    is returned unchanged (bit for bit).
    """
    if not dist:
        raise WorldConfigError(f"world config: {where} is empty. Fix: give at least one outcome with probability 1.")
    for k, v in dist.items():
        if not math.isfinite(v) or v < 0:
            raise WorldConfigError(f"world config: {where}.{k} = {v} is not a probability (must be >= 0).")
    total = math.fsum(dist.values())
    if abs(total - 1.0) > TOLERANCE:
        raise WorldConfigError(
            f"world config: {where}: probabilities sum to {total:.9g}, not 1. "
            f"Fix: rescale the entries {dict(dist)} so that they sum to 1."
        )
    if total == 1.0:
        return dict(dist)
    out = {k: v / total for k, v in dist.items()}
    for _ in range(8):  # the division leaves the sum within an ulp or two of 1: give the rest to the largest
        rest = 1.0 - math.fsum(out.values())
        if rest == 0.0:
            break
        k = max(out, key=out.__getitem__)
        out[k] += rest
    return out


# ---------------------------------------------------------------------------- validate
def validate(data: Any):
    """Validate a world dictionary (as read from YAML or JSON) into a
    :class:`~personalab.world.config.WorldConfig`; raises :class:`WorldConfigError`."""
    from .config import PersonaSpec, WorldConfig

    if not isinstance(data, dict):
        raise WorldConfigError(
            f"world config: expected a mapping at the top level, got {type(data).__name__}. "
            "Fix: the file should start with keys like 'name:', 'personas:', 'kinds:'."
        )
    try:
        m = world_model().model_validate(data)
    except ValidationError as exc:
        _raise(exc)
    # Options exactly as given (defaults are not written in), so the hash of a config does
    # not change when a kind gains an option.
    # (in the file's order, which fixes the vocabulary's order).
    given = [n for n in data["kinds"] if getattr(m.kinds, n) is not None]
    kinds = {n: getattr(m.kinds, n).model_dump(exclude_unset=True) for n in given}
    if not kinds:
        raise WorldConfigError(
            "world config: 'kinds' is empty. Fix: enable at least one turn kind, e.g. question: {weight: 1}."
        )
    for n, opts in kinds.items():
        if "weight" not in opts:
            raise WorldConfigError(
                f"world config: kinds.{n}.weight is missing. Fix: give how often the user opens a turn this way."
            )
    weights = normalised({n: o["weight"] for n, o in kinds.items()}, "kinds.*.weight")
    for n in kinds:
        kinds[n]["weight"] = weights[n]
    prior = normalised({p: s.prior for p, s in m.personas.items()}, "the persona priors (personas.*.prior)")
    cfg = WorldConfig(
        name=m.name,
        personas=tuple(
            PersonaSpec(
                name=p, prior=prior[p], traits={t: dict(d) for t, d in s.traits.items()}, description=s.description
            )
            for p, s in m.personas.items()
        ),
        kinds=kinds,
        turns=normalised(dict(m.turns), "turns"),
        style_words=tuple(m.style_words),
        facts={"true_facts": list(m.facts.true_facts), "false_facts": list(m.facts.false_facts)},
        max_operand=m.max_operand,
        coupling=m.coupling,
        description=m.description,
        extra=dict(m.extra),
    )
    return _check_against_kinds(cfg, m)


def _check_against_kinds(cfg, m):
    """Step 2 and the trait rows of step 3: the checks that need the turn kinds."""
    from .config import PersonaSpec

    built: dict[str, TurnKind] = {n: KINDS[n](getattr(m.kinds, n), cfg) for n in cfg.kinds}
    openers: dict[str, str] = {}
    for n, k in built.items():
        if k.opener in openers:
            raise WorldConfigError(
                f"world config: kinds.{n} and kinds.{openers[k.opener]} share the opener word {k.opener!r}. "
                "Fix: enable only one of them."
            )
        openers[k.opener] = n
    fixed: dict[str, list[str]] = {w: ["dialogue"] for w in (USER, ASSISTANT, COLON)}
    for n, k in built.items():
        for w in sorted(k.fixed_words()):
            fixed.setdefault(w, []).append(n)
    for n, k in built.items():
        for w in sorted(k.data_words() & set(fixed)):
            raise WorldConfigError(
                f"world config: {_data_path(cfg, n, w)} uses the word {w!r}, a grammar word of "
                f"{' and '.join(repr(x) for x in fixed[w])}. Fix: choose another word."
            )
    grammar_words = {w for k in built.values() for w in k.words()} | {USER, ASSISTANT, COLON}
    clash = sorted(set(cfg.style_words) & grammar_words)
    if clash:
        raise WorldConfigError(
            f"world config: style word(s) {clash} are also grammar words. Fix: choose other style words."
        )
    known = {**known_traits(), "style": style_trait(cfg.style_words)}
    needed = {"style": known["style"]} | {t.name: t for k in built.values() for t in k.traits}
    personas = []
    for p in cfg.personas:
        for tname in p.traits:
            if tname not in known:
                raise WorldConfigError(
                    f"world config: personas.{p.name}.traits.{tname}: unknown trait. Fix: use one of {sorted(known)}."
                )
        traits = {}
        for tname, dist in p.traits.items():
            trait, where = known[tname], f"personas.{p.name}.traits.{tname}"
            if set(dist) != set(trait.outcomes):
                raise WorldConfigError(
                    f"world config: {where} has outcomes {sorted(dist)}; expected exactly {list(trait.outcomes)}."
                )
            traits[tname] = normalised(dist, where)
        for tname, trait in needed.items():
            if tname not in traits and trait.default is None:
                raise WorldConfigError(
                    f"world config: personas.{p.name}.traits.{tname} is missing (needed by turn kinds using "
                    f"'{tname}'). Fix: add {tname}: {{{', '.join(o + ': ...' for o in trait.outcomes)}}}."
                )
        personas.append(PersonaSpec(p.name, p.prior, traits, p.description))
    return dataclasses.replace(cfg, personas=tuple(personas))


def _data_path(cfg, kind: str, word: str) -> str:
    for key, items in cfg.facts.items():
        for item in items:
            if word in item.split():
                return f"facts.{key} entry {item!r}"
    return f"kinds.{kind}"
