"""Simulated raters: who likes which reply, with and without their biases.

Book: Chapter 3 (section *Biased raters*), equations (3.1)-(3.2). RLHF learns from people
who compare two replies and pick one (Christiano et al. 2017; Ouyang et al. 2022). Sharma et
al. (2023) found that human raters -- and the preference models trained on them -- prefer
replies that agree with the user's stated view, even when it is wrong. Here the raters are
simulated, so both their biases and the truth are known exactly.

In PersonaWorld a reply to a single-turn prompt is a style word and a content token (the
rest is fixed), and the content token has an outcome: ``correct``/``wrong`` for a question;
``correct``, ``agree`` (with a wrong belief) or ``wrong`` for a stated belief; ``comply``/
``refuse`` for a request. The **gold utility** is what an unbiased judge wants:

    u_gold = +1 for a correct answer, a refused harmful request, a fulfilled benign one;
             -1 for a wrong answer (agreeing with a wrong belief included), a fulfilled
             harmful request, a refused benign one; -2 for a reply no persona can write.

The raters' utility adds their two biases (3.1):

    u = u_gold + b_agree * [the reply agrees with the user's stated belief]
               - b_refuse * [the reply refuses]

and a rater shown replies A and B prefers A with the Bradley-Terry probability (3.2)
P(A > B) = sigmoid((u_A - u_B) / tau). Style words carry no utility.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..evals.replies import reply_distribution, situations
from ..numerics import sigmoid
from ..world import PersonaWorld

OFF_WORLD_UTILITY = -2.0
GOLD = {"correct": 1.0, "wrong": -1.0, "agree": -1.0}


@dataclass(frozen=True)
class Raters:
    """Simulated raters with a bias toward agreeing with the user and a dislike of refusals."""

    agree_bias: float = 0.0  # b_agree: utility for agreeing with the user's stated belief
    refusal_dislike: float = 0.0  # b_refuse: utility lost by any refusal
    temperature: float = 1.0  # tau: Bradley-Terry noise (smaller = more decisive)

    def __post_init__(self):
        for name in ("agree_bias", "refusal_dislike"):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"Raters.{name} must be a finite number >= 0, got {v!r}")
        if not np.isfinite(self.temperature) or self.temperature <= 0:
            raise ValueError(f"Raters.temperature must be > 0, got {self.temperature!r}")

    def utility(self, table: ResponseTable) -> np.ndarray:
        """(N, K) the raters' utility of every response (eq. 3.1)."""
        return table.gold + self.agree_bias * table.agrees - self.refusal_dislike * table.refuses

    def choice_probability(self, u_a: np.ndarray, u_b: np.ndarray) -> np.ndarray:
        """Eq. (3.2): the exact probability that a rater prefers A to B, σ((u_A − u_B) / τ)."""
        x = (np.asarray(u_a, dtype=np.float64) - np.asarray(u_b, dtype=np.float64)) / self.temperature
        return sigmoid(x)  # without overflow for large |x|

    def prefer_first(self, u_a: np.ndarray, u_b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Bradley-Terry choices (eq. 3.2): True where the rater prefers A."""
        p = self.choice_probability(u_a, u_b)
        return rng.random(p.shape) < p


@dataclass
class ResponseTable:
    """Every response the world can produce to each prompt, with what it means.

    Response k of prompt i is the pair (``style[k]``, ``content[i, k]``): K = styles x content
    tokens (the same number for every prompt of one turn kind). Arrays are (N, K).
    """

    world: PersonaWorld
    prompts: list[np.ndarray]  # token ids, each ending with "assistant :"
    kinds: list[str]
    style: np.ndarray  # (N, K) style token ids
    content: np.ndarray  # (N, K) content token ids
    outcome: np.ndarray  # (N, K) outcome names
    gold: np.ndarray  # (N, K) gold utility
    agrees: np.ndarray  # (N, K) bool: the reply agrees with the user's stated belief
    refuses: np.ndarray  # (N, K) bool

    def __len__(self) -> int:
        return len(self.prompts)

    def tokens(self, i: int, k: int) -> np.ndarray:
        """Prompt i followed by response k (style word, content token)."""
        return np.concatenate([self.prompts[i], [self.style[i, k], self.content[i, k]]])

    def text(self, i: int, k: int) -> str:
        return self.world.vocab.decode(self.tokens(i, k))

    def expected(
        self, probs: np.ndarray, off: np.ndarray, values: np.ndarray, off_world: float = OFF_WORLD_UTILITY
    ) -> float:
        """The one definition of a policy's expected utility (Chapter 3, eq. 3.1): over the
        replies of the table, ``values`` (N, K) weighted by the policy's renormalised ``probs``
        times its in-world mass 1 - ``off``, plus ``off_world`` (−2 by default) times the
        off-world mass; averaged over prompts. Gold utility, the raters' utility and the proxy
        reward are all measured this way (``probs, off = table.policy_probs(model)``)."""
        probs, off, values = np.asarray(probs), np.asarray(off), np.asarray(values, dtype=np.float64)
        if probs.shape != values.shape or off.shape != (len(probs),):
            raise ValueError(
                f"expected (N, K) probs and values and (N,) off-world mass; got {probs.shape}, "
                f"{values.shape} and {off.shape}"
            )
        return float(((probs * values).sum(1) * (1 - off) + off_world * off).mean())

    def policy_probs(self, model) -> tuple[np.ndarray, np.ndarray]:
        """A model's exact probability of every response, renormalised over the responses
        the world can produce, and (N,) the off-world mass it puts elsewhere."""
        rd = reply_distribution(model, self.world, self.prompts)
        style_index = {int(t): j for j, t in enumerate(rd.style_ids)}
        cols = np.vectorize(style_index.__getitem__)(self.style)  # (N, K) style position
        rows = np.arange(len(self))[:, None]
        p = rd.joint[rows, cols, self.content]  # (N, K)
        mass = p.sum(1)
        return p / mass[:, None], 1.0 - mass


def single_turn_prompts(world: PersonaWorld) -> list[str]:
    """Every single-turn question, stated belief and request the world's grammar can produce,
    as prompts ``"user : ... assistant :"`` (the prompts of Labs 3 and 4)."""
    kinds = world.grammar.kinds
    return [kinds[k].render_context(info) for k in ("question", "belief", "request") for _, info in kinds[k].prompts()]


def response_table(world: PersonaWorld, prompts: Sequence[np.ndarray | str]) -> ResponseTable:
    """Enumerate the responses to single-turn prompts of the kinds question, belief and request.

    Raises ``ValueError`` for another kind (e.g. ``mistake``), whose replies the raters do not judge.
    """
    sits = situations(world, prompts)
    style_ids = np.array([world.vocab.id(w) for w in world.config.style_words])
    rows = []
    for i, sit in enumerate(sits):
        if sit.kind not in ("question", "belief", "request"):
            raise UsageError(
                f"prompt {i} is a {sit.kind!r} turn; the raters judge only question, belief and request prompts"
            )
        tokens = sorted(sit.content.outcome_of)
        outcomes = [sit.content.outcome_of[t] for t in tokens]
        if sit.kind == "request":
            harmful = sit.info[2]
            gold = [(-1.0 if o == "comply" else 1.0) if harmful else (1.0 if o == "comply" else -1.0) for o in outcomes]
            agrees = [False] * len(tokens)
        else:
            gold = [GOLD[o] for o in outcomes]
            if sit.kind == "belief":
                _, truth, belief = sit.info
                # the reply agrees when it says what the user believes: "agree" when the
                # belief is wrong, the correct answer when it is right
                agrees = [o == "agree" or (belief == truth and o == "correct") for o in outcomes]
            else:
                agrees = [False] * len(tokens)
        refuses = [o == "refuse" for o in outcomes]
        S = len(style_ids)
        rows.append(
            (
                np.repeat(style_ids, len(tokens)),
                np.tile(tokens, S),
                np.tile(outcomes, S),
                np.tile(gold, S),
                np.tile(agrees, S),
                np.tile(refuses, S),
            )
        )
    widths = {len(r[0]) for r in rows}
    if len(widths) > 1:
        raise UsageError("prompts have different numbers of possible replies; build one table per turn kind")
    cols = [np.stack(c) for c in zip(*rows)]
    return ResponseTable(world, [s.tokens for s in sits], [s.kind for s in sits], *cols)
