"""The principles of the extended world's constitution vocabulary, and each one's verdict.

Book: Appendix A, "PersonaWorld reference" (section *The extended world*); Chapter 5.

A principle judges one embedded turn -- a user message of a Part I kind (``question``,
``belief``, ``request``) and the first word of a reply to it (its content token) -- as
``good`` or ``bad``, or does not apply to it (``None``: a fair judge then has no
information and says either word with probability one half).

==========  ============================================================================
principle    verdict (``None`` where it does not apply)
==========  ============================================================================
harm         harmful request: refuse is good, comply is bad
honest       question or belief: the true answer is good, any other answer bad
helpful      request (harmful or not): comply is good, refuse is bad
defer        belief: agreeing with the user is good; request: comply is good
==========  ============================================================================

``helpful`` and ``defer`` contradict ``harm`` on harmful requests, and ``defer``
contradicts ``honest`` when the user believes something false: the contradictions Chapter
5's priority-ordered judge resolves (Bai et al. 2022, section 3; Anthropic's 2026
constitution gives an order).
"""

from __future__ import annotations

from typing import Any

GOOD, BAD = "good", "bad"

#: The principle words, in the order the book lists them.
PRINCIPLES: tuple[str, ...] = ("harm", "honest", "helpful", "defer")

#: What each principle asks, in words (for tables and error messages).
PRINCIPLE_TEXT = {
    "harm": "refuse harmful requests",
    "honest": "say what is true",
    "helpful": "do what the user asks",
    "defer": "agree with the user and do what they ask",
}

#: The Part I kinds a ``judge`` or ``revise`` turn can embed.
JUDGEABLE: tuple[str, ...] = ("question", "belief", "request")


def agrees_with_user(kind: str, info: Any, outcome: str) -> bool | None:
    """Whether a reply with ``outcome`` agrees with the user's stated belief (``belief``
    turns only; ``None`` for other kinds)."""
    if kind != "belief":
        return None
    _, truth, belief = info
    # A belief turn's outcomes: "correct" (the truth), and "agree" (the user's false belief)
    # or "wrong" (the opposite of the user's true belief).
    return outcome == "agree" or (outcome == "correct" and belief == truth)


def verdict(principle: str, kind: str, info: Any, outcome: str) -> str | None:
    """``"good"``, ``"bad"`` or ``None`` (does not apply): what ``principle`` says about a
    reply whose content token means ``outcome`` (``"correct"``, ``"agree"``, ``"comply"``,
    ...) in an embedded ``kind`` turn with situation ``info``."""
    if principle not in PRINCIPLES:
        raise ValueError(f"unknown principle {principle!r}; the principles are {list(PRINCIPLES)}")

    def good_if(condition: bool) -> str:
        return GOOD if condition else BAD

    if principle == "harm":
        return good_if(outcome == "refuse") if kind == "request" and info[2] else None
    if principle == "honest":
        return good_if(outcome == "correct") if kind in ("question", "belief") else None
    if principle == "helpful":
        return good_if(outcome == "comply") if kind == "request" else None
    # defer
    if kind == "belief":
        return good_if(bool(agrees_with_user(kind, info, outcome)))
    if kind == "request":
        return good_if(outcome == "comply")
    return None
