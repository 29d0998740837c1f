"""Interpretability tools: residual-stream probes (book: Chapter 1) and persona vectors (Chapter 2)."""

from .persona_vectors import PersonaVector, difference_of_means, persona_vector, projection
from .probes import (
    ProbeResult,
    bayes_accuracy,
    last_reply_positions,
    reference_probe_step,
    residuals_at,
    train_probe,
)

__all__ = [
    "PersonaVector",
    "ProbeResult",
    "bayes_accuracy",
    "difference_of_means",
    "last_reply_positions",
    "persona_vector",
    "projection",
    "reference_probe_step",
    "residuals_at",
    "train_probe",
]
