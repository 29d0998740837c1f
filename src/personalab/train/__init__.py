"""Training: the pre-training loop, checkpoints (safetensors + JSON) and the shipped base model."""

from .base import BASE_PATH, GapReport, base_status, gap_report, load_base, pretrain, pretrain_base
from .checkpoint import CheckpointError, checkpoint_world, load_checkpoint, read_meta, save_checkpoint
from .loop import TrainConfig, eval_loss, lm_loss, token_nll, train_lm

__all__ = [
    "BASE_PATH",
    "CheckpointError",
    "GapReport",
    "TrainConfig",
    "base_status",
    "checkpoint_world",
    "eval_loss",
    "gap_report",
    "lm_loss",
    "load_base",
    "load_checkpoint",
    "pretrain",
    "pretrain_base",
    "read_meta",
    "save_checkpoint",
    "token_nll",
    "train_lm",
]
