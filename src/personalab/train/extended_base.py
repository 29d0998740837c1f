"""The extended world's shipped base checkpoints: Part II's counterpart of :mod:`.base`.

Book: Appendix A, section *The extended world*; Chapters 5-7 start from these models;
DESIGN section 8. ``personalab/data/extended/base.safetensors`` (+ ``.json``) is the tiny
GPT pre-trained with the shipped model size (:func:`.base.default_model_config`) and
:func:`extended_train_config` (Part I's recipe with 10,000 steps) on the extended world,
and ``base_shuffled`` the same on its shuffled control. ``personalab pretrain --world
extended [--shuffled]`` regenerates them
(:func:`personalab.pretraining.pretrain_extended_base`), recording the gap to the Bayes
limit overall and kind by kind.

They live beside the extended world's file, not beside the default base, so nothing here is
part of what Part I's labs load (their provenance fingerprints cover ``data/`` and the
modules they import; this module is neither). ``$PERSONALAB_BASE_DIR`` substitutes
``base_ext.*`` and ``base_ext_shuffled.*`` from that folder, as it substitutes ``base.*``
for Part I (``make bench --extended-seeds`` uses it).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from ..model import GPT
from ..world import PersonaWorld
from .base import BASE_DIR_ENV, default_train_config
from .checkpoint import CheckpointError, load_checkpoint, read_meta
from .loop import TrainConfig

EXTENDED_BASE_PATH = Path(__file__).resolve().parent.parent / "data" / "extended" / "base"
EXTENDED_SHUFFLED_BASE_PATH = EXTENDED_BASE_PATH.with_name("base_shuffled")
REGENERATE = "personalab pretrain --world extended"
# The names in a $PERSONALAB_BASE_DIR folder (beside Part I's base.* and base_shuffled.*).
DIR_NAMES = {False: "base_ext", True: "base_ext_shuffled"}
# The extended world's recipe is Part I's with more steps: its new kinds take about half of
# every document's turns, and with Part I's 6,000 steps two of six pre-training seeds (0, 1)
# learned less than 0.75 of the exact rise in P(comply) after one wrong answer (Lab 1's claim
# 2a: 0.57 and 0.74); with 10,000 both learned all of it (1.00, 1.03). CHANGELOG, issue 14.
EXTENDED_STEPS = 10_000


def extended_train_config(seed: int = 0) -> TrainConfig:
    """The extended base's pre-training recipe: ``personalab.train.base.default_train_config`` with
    ``EXTENDED_STEPS`` steps (warm-up and cosine schedule stretched to them)."""
    return dataclasses.replace(default_train_config(seed), steps=EXTENDED_STEPS)


def extended_base_world(shuffled: bool = False) -> PersonaWorld:
    """The world an extended base checkpoint is trained on: the extended world or its control."""
    from ..world.extended import extended_world

    world = extended_world()
    return world.shuffled() if shuffled else world


def extended_base_path(path: str | Path | None = None, shuffled: bool = False) -> Path:
    """``path`` if given, else ``$PERSONALAB_BASE_DIR/base_ext[_shuffled]`` if that is set, else
    the shipped checkpoint."""
    if path is not None:
        return Path(path)
    folder = os.environ.get(BASE_DIR_ENV, "").strip()
    if folder:
        return Path(folder) / DIR_NAMES[shuffled]
    return EXTENDED_SHUFFLED_BASE_PATH if shuffled else EXTENDED_BASE_PATH


def _regenerate(shuffled: bool) -> str:
    return REGENERATE + (" --shuffled" if shuffled else "")


def extended_base_status(path: str | Path | None = None, *, shuffled: bool = False) -> dict[str, Any]:
    """Whether an extended base checkpoint exists and matches the current extended world."""
    world = extended_base_world(shuffled)
    path = extended_base_path(path, shuffled)
    status: dict[str, Any] = {"path": str(path.with_suffix(".safetensors")), "world_hash": world.hash}
    try:
        meta = read_meta(path)
    except CheckpointError as exc:
        return {**status, "ok": False, "problem": f"{exc}; run `{_regenerate(shuffled)}`"}
    status["checkpoint_world_hash"] = meta["world_hash"]
    status["metrics"] = meta.get("metrics", {})
    status["ok"] = meta["world_hash"] == world.hash
    if not status["ok"]:
        status["problem"] = f"the checkpoint was trained on another world version; run `{_regenerate(shuffled)}`"
    return status


def load_extended_base(
    world: PersonaWorld | None = None, path: str | Path | None = None, *, shuffled: bool = False
) -> tuple[GPT, dict[str, Any]]:
    """Load the extended world's base model (``shuffled=True``: its control); refuses a
    checkpoint of another world version, naming the command that regenerates it."""
    world = world or extended_base_world(shuffled)
    path = extended_base_path(path, shuffled)
    try:
        meta = read_meta(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}. Run `{_regenerate(shuffled)}` to create it.") from None
    if meta["world_hash"] != world.hash:
        raise CheckpointError(
            f"the extended base checkpoint was trained on world hash {meta['world_hash']}, but the extended world "
            f"now has hash {world.hash} (its config or a kind changed). Run `{_regenerate(shuffled)}` to regenerate it."
        )
    return load_checkpoint(path, world, require_same_world=True)
