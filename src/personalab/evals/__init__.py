"""Evaluation: behaviour rates and persona attribution, computed exactly (book: Chapters 1-2)."""

from .attribution import PersonaMix, attribute, persona_mix, persona_self_mix
from .behaviour import RATES, Suite, behaviour_rates, suites, world_rates
from .replies import ReplyDistribution, Situation, reply_distribution, situations, world_outcome_probs

__all__ = [
    "RATES",
    "PersonaMix",
    "ReplyDistribution",
    "Situation",
    "Suite",
    "attribute",
    "behaviour_rates",
    "persona_mix",
    "persona_self_mix",
    "reply_distribution",
    "situations",
    "suites",
    "world_outcome_probs",
    "world_rates",
]
