"""Interpretability tools: residual-stream probes (book: Chapter 1), persona vectors (later)."""

from .probes import (
    ProbeResult,
    bayes_accuracy,
    last_reply_positions,
    reference_probe_step,
    residuals_at,
    train_probe,
)

__all__ = [
    "ProbeResult",
    "bayes_accuracy",
    "last_reply_positions",
    "reference_probe_step",
    "residuals_at",
    "train_probe",
]
