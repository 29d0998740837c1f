"""The world config schema: one typed description of a PersonaWorld file.

Book: Appendix A, "PersonaWorld reference" (section *Validation*).

The pydantic v2 models here are step 1 of validation (:mod:`~personalab.world.validation`
runs all three): unknown keys are refused at every level, numbers are numbers
(``max_operand: five`` is an error, not a traceback), probabilities lie in [0, 1], word
lists are lists of words (``false_facts: fire`` is refused, not split into letters), and
each enabled turn kind's options are checked by that kind's own ``Options`` model. Every
message names the field by its dotted path (``kinds.belief.p_user_correct``).

:func:`json_schema` exports the schema (with the options of the library's turn kinds) for
editors; ``personalab world-schema`` prints it and ``personalab/data/world.schema.json`` is
the committed copy (a test checks that it is current).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator, model_validator

from ..errors import WorldConfigError
from .kinds.base import KINDS
from .kinds.options import KindOptions, Probability, Strict, TwoWords, Word

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
                "or register a new kind with @register_kind; the extended world's kinds (Part II) "
                "are registered by `import personalab.world.extended` "
                "(`personalab.world.extended.register_extended_kinds()` after a reset)."
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


def raise_config_error(exc: ValidationError, prefix: tuple = ()) -> None:
    """Turn a pydantic error into a :class:`WorldConfigError` listing each problem by path."""
    errors = exc.errors()
    lines = [_message(e, prefix) for e in errors[:6]]
    more = f"\n  (and {len(errors) - 6} more)" if len(errors) > 6 else ""
    head = "world config: " + lines[0] if len(lines) == 1 else "world config:\n  " + "\n  ".join(lines)
    raise WorldConfigError(head + more) from None


def validate_kind_options(name: str, options: Any, model: type[KindOptions] | None = None) -> KindOptions:
    """Validate the options of the turn kind ``name`` (with its ``Options`` model, or the
    registered kind's); errors name the path ``kinds.<name>.<option>``."""
    try:
        return (model or KINDS[name].Options).model_validate(options)
    except ValidationError as exc:
        raise_config_error(exc, ("kinds", name))
    raise AssertionError  # pragma: no cover
