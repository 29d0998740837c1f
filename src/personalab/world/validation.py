"""Validating a world config: types, meaning, exact normalisation.

Book: Appendix A, "PersonaWorld reference" (section *Validation*).

:func:`validate` turns a dictionary (read from YAML or JSON) into a
:class:`~personalab.world.config.WorldConfig` in three steps:

1. **Types**: the pydantic models of :mod:`~personalab.world.schema`.
2. **Meaning**, which needs the registered turn kinds: every trait a persona lists exists,
   every trait an enabled kind needs is given (or has a default) with exactly its outcomes,
   openers are unique, and words taken from the config (facts, requests, style words) are
   not grammar words of a kind (a fact ``fire not`` would collide with ``belief``'s "not").
3. **Exact normalisation**: every probability table must sum to 1 within
   :data:`TOLERANCE` and is then divided by its sum, so that the numbers the exact
   inference uses are normalised (the correctly rounded sum, :func:`math.fsum`, is exactly
   1). A table that already sums to exactly 1 is left untouched -- the default world's
   tables all do, which keeps its hash and every number computed from it bit-identical.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from pydantic import ValidationError

from ..errors import WorldConfigError
from .kinds.base import KINDS, TurnKind, known_traits
from .kinds.traits import style_trait
from .schema import raise_config_error, world_model
from .vocab import ASSISTANT, COLON, USER

#: How far a probability table may be from summing to 1 before it is refused (it is then
#: renormalised exactly).
TOLERANCE = 1e-6


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
        raise_config_error(exc)
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
