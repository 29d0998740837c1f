"""ipywidgets explorers for the labs; logic in plain functions, the widgets stay thin."""

from .dialogue import (
    FOLLOW_UPS,
    TURN_TEMPLATES,
    DialogueReport,
    dialogue_explorer,
    dialogue_report,
    follow_ups,
    report_html,
    turn_templates,
)
from .dpo import BanditPanel, bandit_explorer, bandit_panel, panel_html
from .overoptimisation import BoNPoint, bon_explorer, bon_html, bon_sweep
from .steering import SteeringPoint, steering_explorer, steering_sweep, sweep_html

__all__ = [
    "BanditPanel",
    "bandit_explorer",
    "bandit_panel",
    "panel_html",
    "BoNPoint",
    "bon_explorer",
    "bon_html",
    "bon_sweep",
    "FOLLOW_UPS",
    "TURN_TEMPLATES",
    "DialogueReport",
    "follow_ups",
    "turn_templates",
    "SteeringPoint",
    "dialogue_explorer",
    "dialogue_report",
    "report_html",
    "steering_explorer",
    "steering_sweep",
    "sweep_html",
]
