"""The shipped base checkpoint: a tiny GPT pre-trained on the default PersonaWorld.

Book: Chapter 1 (section *Pre-training*); Preface (section *Checkpoints*).

Every lab starts from this checkpoint, so it ships with the package
(``personalab/data/base.safetensors`` + ``base.json``). A second one, ``base_shuffled``, is
the same model pre-trained with the same recipe on the *shuffled* world (traits assigned
independently per document): the control of Chapter 2's emergent-misalignment experiment.
:func:`personalab.pretraining.pretrain_base` regenerates them (``personalab pretrain
[--shuffled]``) and records what it measured: the held-out loss, the exact Bayes loss of the
same documents, their gap, and the persona-blind loss (that orchestration measures with
``evals``, so it sits in the top layer, not here). If the world changes, a shipped checkpoint's world hash no
longer matches and :func:`load_base` refuses it, naming the command that fixes it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..model import GPT, GPTConfig
from ..world import PersonaWorld
from .checkpoint import CheckpointError, load_checkpoint, read_meta
from .loop import TrainConfig

BASE_PATH = Path(__file__).resolve().parent.parent / "data" / "base"
SHUFFLED_BASE_PATH = BASE_PATH.with_name("base_shuffled")
REGENERATE = "personalab pretrain"
# A folder with other base models (``base.*`` and ``base_shuffled.*``) that every lab then
# loads instead of the shipped ones: ``make bench --pretrain-seeds`` runs the labs on bases
# pre-trained with other seeds this way.
BASE_DIR_ENV = "PERSONALAB_BASE_DIR"


def base_world(shuffled: bool = False) -> PersonaWorld:
    """The world a shipped base checkpoint is trained on: the default one, or its shuffled control."""
    world = PersonaWorld.default()
    return world.shuffled() if shuffled else world


def base_path(path: str | Path | None = None, shuffled: bool = False) -> Path:
    """Where a base checkpoint lives: ``path`` if given, else the one in ``$PERSONALAB_BASE_DIR``
    if that is set, else the shipped (shuffled) one."""
    if path is not None:
        return Path(path)
    folder = os.environ.get(BASE_DIR_ENV, "").strip()
    default = SHUFFLED_BASE_PATH if shuffled else BASE_PATH
    return Path(folder) / default.name if folder else default


def _regenerate(shuffled: bool) -> str:
    return REGENERATE + (" --shuffled" if shuffled else "")


def default_model_config(world: PersonaWorld) -> GPTConfig:
    """2 layers x 64 wide x 8 heads, context = the world's longest document (Chapter 1, section
    *The model*, says why eight heads)."""
    return GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len)


def default_train_config(seed: int = 0) -> TrainConfig:
    return TrainConfig(seed=seed)


def base_status(path: str | Path | None = None, *, shuffled: bool = False) -> dict[str, Any]:
    """Whether a base checkpoint exists and matches the current default (or shuffled) world."""
    world = base_world(shuffled)
    path = base_path(path, shuffled)
    status: dict[str, Any] = {"path": str(path.with_suffix(".safetensors")), "world_hash": world.hash}
    try:
        meta = read_meta(path)
    except CheckpointError as exc:
        return {**status, "ok": False, "problem": str(exc)}
    status["checkpoint_world_hash"] = meta["world_hash"]
    status["metrics"] = meta.get("metrics", {})
    status["ok"] = meta["world_hash"] == world.hash
    if not status["ok"]:
        status["problem"] = f"the checkpoint was trained on another world version; run `{_regenerate(shuffled)}`"
    return status


def load_base(
    world: PersonaWorld | None = None, path: str | Path | None = None, *, shuffled: bool = False
) -> tuple[GPT, dict[str, Any]]:
    """Load a shipped base model; refuses it (naming the fix) if its world changed.

    ``shuffled=True`` loads the shuffled-world control model.
    """
    world = world or base_world(shuffled)
    path = base_path(path, shuffled)
    try:
        meta = read_meta(path)
    except CheckpointError as exc:
        raise CheckpointError(f"{exc}. Run `{_regenerate(shuffled)}` to create the base checkpoint.") from None
    if meta["world_hash"] != world.hash:
        raise CheckpointError(
            f"the base checkpoint was trained on world hash {meta['world_hash']}, but the current world has hash "
            f"{world.hash} (the world config or grammar changed). Run `{_regenerate(shuffled)}` to regenerate it."
        )
    return load_checkpoint(path, world, require_same_world=True)
