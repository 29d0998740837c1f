"""Training: the pre-training loop, checkpoints (safetensors + JSON) and the shipped base model.

Pre-training *with its measurements* (``pretrain``, ``pretrain_base``) lives in the top-layer
:mod:`personalab.pretraining`, and the gap to the Bayes limit in :mod:`personalab.evals.gap`:
this layer never imports ``evals``."""

from .base import BASE_PATH, base_status, load_base
from .checkpoint import CheckpointError, checkpoint_world, load_checkpoint, read_meta, save_checkpoint
from .loop import TrainConfig, eval_loss, lm_loss, token_nll, train_lm

__all__ = [
    "BASE_PATH",
    "CheckpointError",
    "TrainConfig",
    "base_status",
    "checkpoint_world",
    "eval_loss",
    "lm_loss",
    "load_base",
    "load_checkpoint",
    "read_meta",
    "save_checkpoint",
    "token_nll",
    "train_lm",
]
