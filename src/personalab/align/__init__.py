"""Alignment methods, one module per method (Chapters 3-4): simulated raters, Bradley-Terry
reward models, best-of-n and policy-gradient RLHF."""

from .bestofn import bestofn_kl, bestofn_probs, expected_reward, kl_bound, sample_bestofn
from .raters import Raters, ResponseTable, response_table, single_turn_prompts
from .rewards import (
    Preferences,
    RewardModel,
    accuracy_ceiling,
    bradley_terry_loss,
    expected_accuracy,
    preference_accuracy,
    sample_preferences,
    train_reward_model,
)

__all__ = [
    "Preferences",
    "Raters",
    "ResponseTable",
    "RewardModel",
    "accuracy_ceiling",
    "bestofn_kl",
    "bestofn_probs",
    "bradley_terry_loss",
    "expected_accuracy",
    "expected_reward",
    "kl_bound",
    "preference_accuracy",
    "response_table",
    "sample_bestofn",
    "sample_preferences",
    "single_turn_prompts",
    "train_reward_model",
]
