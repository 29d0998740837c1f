"""A constitution, the gold judge it defines, and the prompted AI feedback model.

Book: Chapter 5 (sections *A constitution* and *The base model as its own feedback model*);
Lab 5; DESIGN section 8. In Constitutional AI (Bai et al. 2022, "Constitutional AI:
Harmlessness from AI Feedback") a *constitution* is a short list of principles. The feedback
model is a pre-trained model, prompted with a few examples and asked which of two replies
better follows one principle drawn at random; its normalised probabilities are soft
preference labels for a reward model. Anthropic's later constitutions give reasons and an
order of priority instead of a flat list. In the extended world both readings are exact:

* a :class:`Constitution` is a validated list of the world's principle words
  (:data:`personalab.world.extended.principles.PRINCIPLES`), read from YAML, either
  *sampled* (each judgement uses one principle drawn uniformly) or *priority-ordered*
  (the first principle that applies decides);
* its **gold judge** (:meth:`Constitution.p_good`) is the probability that a reply is judged
  good when the principle's verdict is applied without error::

      sampled:  P(good | m, r) = (1/K) Σ_k g_k(m, r)
      priority: P(good | m, r) = g_k*(m, r),  k* the first principle that applies

  with g_k = 1 (good), 0 (bad) or 1/2 (principle k does not apply), and 1/2 when none does;
* the **prompted feedback model** asks a model (or the exact Bayes predictor) a ``judge``
  turn, after ``shots`` demonstrations of fair judging (:func:`judge_context`), and reads
  P(good) from its reply distribution (:func:`feedback_probs`); :func:`feedback_accuracy`
  is its expected accuracy against the principle's verdict after k demonstrations;
* the **exact revision target** of a reply (:meth:`Constitution.revision_target`): the
  outcome a fair reviser writes under each principle (the reply the principle calls good,
  or the original where it does not apply), mixed as the gold judge mixes verdicts; a
  ``revise`` turn's reply distribution, from a model or exactly, is
  :func:`revision_probs` (the SL-CAI revision step), asked directly or after a critique
  (:func:`revision_context`);
* a **soft preference label** for two replies is (:func:`soft_preference`)::

      P(a ≻ b) = σ(logit p_a − logit p_b)

  the probability that a is judged good and b bad, given that exactly one of them is
  (independent judgements), which is the Bradley–Terry form of Chapter 3's eq. (3.1).
  Bai et al. clamp chain-of-thought labels to 40-60 %; ``clamp=`` does the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UnknownNameError
from ..world import PersonaWorld

DEFAULT_CONSTITUTION = Path(__file__).resolve().parent.parent / "data" / "extended" / "constitution.yaml"
_KEYS = {"name", "principles", "priority", "description"}


@dataclass(frozen=True)
class Constitution:
    """A list of principles (the extended world's principle words) and how they combine."""

    name: str
    principles: tuple[str, ...]
    priority: bool = False  # True: listed highest first, the first that applies decides
    description: str = ""

    def __post_init__(self):
        from ..world.extended.principles import PRINCIPLES

        if not self.principles:
            raise ValueError(f"constitution {self.name!r} has no principles; give at least one of {list(PRINCIPLES)}")
        unknown = [p for p in self.principles if p not in PRINCIPLES]
        if unknown:
            raise UnknownNameError(
                f"constitution {self.name!r}: unknown principles {unknown}; "
                f"the world's principles are {list(PRINCIPLES)}"
            )
        repeated = sorted({p for p in self.principles if self.principles.count(p) > 1})
        if repeated:
            raise ValueError(f"constitution {self.name!r} lists {repeated} more than once; list each principle once")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "constitution") -> Constitution:
        if not isinstance(data, dict):
            raise ValueError(f"{source}: a constitution is a mapping with keys {sorted(_KEYS)}")
        extra = sorted(set(data) - _KEYS)
        if extra:
            raise ValueError(f"{source}: unknown keys {extra}; a constitution has {sorted(_KEYS)}")
        principles = data.get("principles")
        if not isinstance(principles, list) or not all(isinstance(p, str) for p in principles):
            raise ValueError(f"{source}: 'principles' must be a list of principle words, e.g. [harm, honest]")
        priority = data.get("priority", False)
        if not isinstance(priority, bool):
            raise ValueError(f"{source}: 'priority' must be true or false, not {priority!r}")
        return cls(
            name=str(data.get("name", Path(source).stem)),
            principles=tuple(principles),
            priority=priority,
            description=str(data.get("description", "")),
        )

    @classmethod
    def from_yaml(cls, path: str | Path = DEFAULT_CONSTITUTION) -> Constitution:
        import yaml

        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"constitution file {path} not found")
        return cls.from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), source=str(path))

    def verdicts(self, kind: str, info: Any, outcome: str) -> list[str | None]:
        """Each principle's verdict (``"good"``, ``"bad"`` or ``None``: does not apply)."""
        from ..world.extended.principles import verdict

        return [verdict(p, kind, info, outcome) for p in self.principles]

    def p_good(self, kind: str, info: Any, outcome: str) -> float:
        """The gold judge: P(good) for a reply meaning ``outcome`` to an embedded
        ``kind`` turn with situation ``info``."""
        return combine_verdicts(self.verdicts(kind, info, outcome), self.priority)

    def revision_target(self, world: PersonaWorld, kind: str, info: Any, outcome: str) -> dict[str, float]:
        """The exact revision target: {outcome: probability} of a fair reviser's rewrite of a
        reply meaning ``outcome`` -- each principle's target (``Revise.target``) with weight
        1/K when sampled; in priority order, the first principle that applies (the original
        reply if none does)."""
        revise = _kind(world, "revise")
        targets = [revise.target((p, kind, info, outcome)) for p in self.principles]
        if self.priority:
            applies = [t for t, v in zip(targets, self.verdicts(kind, info, outcome)) if v is not None]
            return {applies[0] if applies else outcome: 1.0}
        out: dict[str, float] = {}
        for t in targets:
            out[t] = out.get(t, 0.0) + 1 / len(targets)
        return out


def combine_verdicts(verdicts: Sequence[str | None], priority: bool = False) -> float:
    """The gold judge's P(good) from each principle's verdict (``"good"``, ``"bad"``, ``None``
    = does not apply), in the constitution's order: the mean of 1, 0 and 1/2 (sampled), or the
    first verdict that is not ``None`` (priority; 1/2 if every verdict is ``None``). Lab 5's
    exercise 5.2."""
    score = {"good": 1.0, "bad": 0.0, None: 0.5}
    unknown = [v for v in verdicts if v not in score]
    if unknown or not verdicts:
        raise ValueError(f"verdicts must be a non-empty list of 'good', 'bad' or None, not {list(verdicts)}")
    if priority:
        return next((score[v] for v in verdicts if v is not None), 0.5)
    return float(np.mean([score[v] for v in verdicts]))


def _kind(world: PersonaWorld, name: str):
    kind = world.grammar.kinds.get(name)
    if kind is None:
        raise ValueError(f"this world has no {name!r} kind: use the extended world (personalab.world.extended)")
    return kind


def load_constitution(path: str | Path | None = None) -> Constitution:
    """The shipped constitution (``data/extended/constitution.yaml``) or the one at ``path``."""
    return Constitution.from_yaml(DEFAULT_CONSTITUTION if path is None else path)


# --- the prompted feedback model ----------------------------------------------------------


def judge_context(world: PersonaWorld, query: tuple, shots: Sequence[tuple] = (), style: str | None = None) -> str:
    """A document prefix asking for a verdict on ``query`` (a ``judge`` info:
    ``(principle, kind, info, outcome)``) after one fair demonstration per item of ``shots``
    (each a ``judge`` info whose principle applies, answered with its verdict). ``style``:
    the demonstrations' style word (default: the world's first)."""
    judge = _kind(world, "judge")
    max_turns = max(world.config.turns)
    if len(shots) + 1 > max_turns:
        raise ValueError(
            f"{len(shots)} demonstrations and the query make {len(shots) + 1} turns; "
            f"documents of this world have at most {max_turns}"
        )
    inapplicable = [s for s in shots if judge.verdict(s) is None]
    if inapplicable:
        raise ValueError(
            f"a fair demonstration needs a principle that applies; {judge.describe(inapplicable[0])!r} has none"
        )
    style = style or world.config.style_words[0]
    turns = [judge.render_turn(s, judge.verdict(s), style) for s in shots]
    return " ".join([*turns, judge.render_context(query)])


def revision_context(world: PersonaWorld, query: tuple, critique: str | None = None, style: str | None = None) -> str:
    """A document prefix asking for a revision of the reply in ``query`` (a ``revise`` info:
    ``(principle, kind, info, outcome)``): directly, or after a critique -- a ``judge`` turn on
    the same reply under the same principle answered with ``critique`` (``"good"`` or
    ``"bad"``; SL-CAI's critique step, Bai et al. 2022 section 3), in the style word
    ``style`` (default: the world's first)."""
    revise = _kind(world, "revise")
    if critique is None:
        return revise.render_context(query)
    if critique not in ("good", "bad"):
        raise ValueError(f"a critique is 'good' or 'bad', not {critique!r}")
    judge = _kind(world, "judge")
    if max(world.config.turns) < 2:
        raise ValueError("a critique and a revision need documents of at least two turns")
    turn = judge.render_turn(query, critique, style or world.config.style_words[0])
    return f"{turn} {revise.render_context(query)}"


def feedback_probs(model, world: PersonaWorld, contexts: Sequence[str]) -> np.ndarray:
    """(N,) P(good) for each judge context, normalised over ``good`` and ``bad``: from a
    model's reply distribution, or exactly (the Bayes judge of the world) if ``model`` is
    ``None``."""
    from ..evals.replies import reply_distribution, world_outcome_probs

    if model is None:
        probs = [world_outcome_probs(world, c) for c in contexts]
    else:
        rd = reply_distribution(model, world, contexts)
        probs = [rd.outcome_probs(i) for i in range(len(contexts))]
    good = np.array([p.get("good", 0.0) for p in probs])
    bad = np.array([p.get("bad", 0.0) for p in probs])
    return good / (good + bad)


def judge_queries(world: PersonaWorld, n: int, k: int, seed: int = 0) -> list[tuple[tuple, list[tuple]]]:
    """``n`` (query, shots) pairs: a ``judge`` info whose principle applies, and ``k`` fair
    demonstrations, all drawn uniformly (with replacement) from the applicable judge prompts."""
    judge = _kind(world, "judge")
    applicable = [info for _, info in judge.prompts() if judge.verdict(info) is not None]
    rng = np.random.default_rng(seed)
    return [
        (applicable[rng.integers(len(applicable))], [applicable[j] for j in rng.integers(len(applicable), size=k)])
        for _ in range(n)
    ]


def feedback_accuracy(model, world: PersonaWorld, ks: Sequence[int] = (0, 1, 2, 3), n: int = 300, seed: int = 0):
    """{k: expected accuracy} of the prompted feedback model after ``k`` fair demonstrations:
    the mean probability it gives the principle's verdict on :func:`judge_queries` (the same
    queries for a model and, with ``model=None``, the exact Bayes judge)."""
    judge = _kind(world, "judge")
    out = {}
    for k in ks:
        pairs = judge_queries(world, n, k, seed=seed + 1000 * k)
        p_good = feedback_probs(model, world, [judge_context(world, q, shots) for q, shots in pairs])
        good = np.array([judge.verdict(q) == "good" for q, _ in pairs])
        out[k] = float(np.mean(np.where(good, p_good, 1 - p_good)))
    return out


def soft_preference(p_a: np.ndarray | float, p_b: np.ndarray | float, clamp: tuple[float, float] | None = None):
    """The soft label: P(a ≻ b) from two judgements P(good | a), P(good | b); ``clamp=(lo, hi)``
    clips the label into [lo, hi] (Bai et al.: 0.4-0.6 for chain-of-thought labels)."""
    p_a, p_b = np.asarray(p_a, dtype=np.float64), np.asarray(p_b, dtype=np.float64)
    if ((p_a < 0) | (p_a > 1) | (p_b < 0) | (p_b > 1)).any():
        raise ValueError("P(good) must be probabilities in [0, 1]")
    num = p_a * (1 - p_b)
    den = num + p_b * (1 - p_a)
    label = np.divide(num, den, out=np.full_like(num, 0.5), where=den > 0)  # both certain alike: no preference
    if clamp is not None:
        lo, hi = clamp
        if not 0 <= lo <= 0.5 <= hi <= 1:
            raise ValueError(f"clamp must be (lo, hi) with 0 <= lo <= 0.5 <= hi <= 1, not {clamp}")
        label = np.clip(label, lo, hi)
    return label


def revision_probs(model, world: PersonaWorld, contexts: Sequence[str]) -> list[dict[str, float]]:
    """{outcome: probability} of the revised reply for each ``revise`` context (``user :
    revise <principle> : <message> <word> assistant :``), from a model's reply distribution
    (with its ``off-world`` mass) or exactly (``model=None``: the world's Bayes reviser)."""
    from ..evals.replies import reply_distribution, world_outcome_probs

    if model is None:
        return [world_outcome_probs(world, c) for c in contexts]
    rd = reply_distribution(model, world, contexts)
    return [rd.outcome_probs(i) for i in range(len(contexts))]
