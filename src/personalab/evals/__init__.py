"""Evaluation: the gap to the Bayes limit, behaviour rates, persona attribution and sycophancy,
computed exactly (book: Chapters 1-4)."""

from .attribution import PersonaMix, attribute, persona_mix, persona_self_mix
from .behaviour import RATES, Suite, behaviour_rates, suites, world_rates
from .gap import GapReport, gap_report
from .replies import ReplyDistribution, Situation, reply_distribution, situations, world_outcome_probs
from .scorecard import Scorecard, hull_distance, psm_scorecard
from .sycophancy import sycophancy_of

__all__ = [
    "GapReport",
    "RATES",
    "PersonaMix",
    "ReplyDistribution",
    "Situation",
    "Scorecard",
    "Suite",
    "attribute",
    "behaviour_rates",
    "gap_report",
    "hull_distance",
    "persona_mix",
    "persona_self_mix",
    "psm_scorecard",
    "reply_distribution",
    "situations",
    "suites",
    "sycophancy_of",
    "world_outcome_probs",
    "world_rates",
]
