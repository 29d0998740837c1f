"""Checkpoints: safetensors weights plus a JSON sidecar. No pickle anywhere.

Book: Preface (section *Checkpoints*); Appendix B (API).

``name.safetensors`` holds the tensors; ``name.json`` holds the model config, the world
config with its hash and vocabulary, the training config, the measured metrics and a
SHA-256 of the tensors (``tensors_sha256``). Loading checks everything a careless load would
get silently wrong: the file format, truncation, flipped bytes inside the tensors (the
checksum), tensor names and shapes, and whether the checkpoint belongs to the world you pass
(a different vocabulary is refused; the same vocabulary from another world is a
:class:`WorldMismatchWarning`, or refused with ``require_same_world=True``).
"""

from __future__ import annotations

import hashlib
import json
import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .. import __version__
from ..errors import CheckpointError
from ..model import GPT, GPTConfig
from ..world import PersonaWorld, WorldConfig, WorldConfigError

FORMAT = "personalab-checkpoint"
FORMAT_VERSION = 1


class WorldMismatchWarning(UserWarning):
    """A checkpoint from another world with the same vocabulary: it loads, but what it learned
    is the other world's behaviour."""


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors as stored: each name, dtype, shape and raw bytes, names sorted.

    Computed from the tensors, not the file, so it checks what the model will use and does
    not depend on how safetensors lays out the file.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_checkpoint(
    path: str | Path,
    model: GPT,
    world: PersonaWorld,
    *,
    train: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    note: str = "",
) -> tuple[Path, Path]:
    """Write ``path.safetensors`` and ``path.json``; returns both paths."""
    weights, meta_path = _paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    # Tied weights are stored once: safetensors refuses shared storage, and the tie is
    # restored by the model's constructor.
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if k != "head.weight"}
    save_file(state, str(weights), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "note": note,
        "model": model.cfg.to_dict(),
        "world": world.config.to_dict(),
        "world_hash": world.hash,
        "vocab": list(world.vocab.words),
        "tensors_sha256": tensors_sha256(state),
        "train": train or {},
        "metrics": metrics or {},
        "versions": {"personalab": __version__, "torch": torch.__version__, "python": platform.python_version()},
        "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return weights, meta_path


def read_meta(path: str | Path) -> dict[str, Any]:
    """The JSON sidecar of a checkpoint, validated."""
    _, meta_path = _paths(path)
    if not meta_path.exists():
        raise CheckpointError(
            f"checkpoint metadata {meta_path} not found (a checkpoint is a .safetensors + .json pair)"
        )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(
            f"{meta_path} is not valid JSON ({exc}); the file is damaged: regenerate the checkpoint"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f'{meta_path} is not a personalab checkpoint (missing "format": "{FORMAT}")')
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{meta_path} has checkpoint format version {meta.get('format_version')}, this personalab reads "
            f"version {FORMAT_VERSION}; regenerate it with this version"
        )
    for key in ("model", "world", "world_hash", "vocab"):
        if key not in meta:
            raise CheckpointError(
                f"{meta_path} lacks the field {key!r}; the file is damaged: regenerate the checkpoint"
            )
    return meta


def load_checkpoint(
    path: str | Path,
    world: PersonaWorld | None = None,
    *,
    require_same_world: bool = False,
) -> tuple[GPT, dict[str, Any]]:
    """Load a model and its metadata.

    Args:
        path: ``name``, ``name.safetensors`` or ``name.json``.
        world: if given, the checkpoint's vocabulary must equal this world's (otherwise
            token ids would silently mean different words).
        require_same_world: also require the identical world (same hash).
    Returns:
        ``(model, meta)`` with the model in eval mode.
    """
    weights, _ = _paths(path)
    meta = read_meta(path)
    if not weights.exists():
        raise CheckpointError(f"checkpoint weights {weights} not found")
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{weights} is not a readable safetensors file ({exc}); it may be truncated or foreign. "
            "Regenerate it (for the base checkpoint: `personalab pretrain`)."
        ) from None
    recorded = meta.get("tensors_sha256")
    if recorded is None:
        warnings.warn(
            f"checkpoint {weights.name} records no tensors_sha256 (made by an older personalab): "
            "its tensors cannot be verified. Re-save it to add the checksum.",
            UserWarning,
            stacklevel=2,
        )
    elif tensors_sha256(state) != recorded:
        raise CheckpointError(
            f"the tensors in {weights} do not match the SHA-256 recorded in its JSON ({recorded[:12]}...): "
            "the weights file is damaged or was replaced. Regenerate the checkpoint "
            "(for the base checkpoint: `personalab pretrain`)."
        )
    try:
        cfg = GPTConfig(**meta["model"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"checkpoint model config is invalid: {exc}") from None
    if world is not None:
        if list(world.vocab.words) != list(meta["vocab"]):
            raise CheckpointError(
                f"checkpoint {weights.name} was trained on world {meta['world'].get('name')!r} "
                f"(hash {meta['world_hash']}) whose vocabulary differs from this world's "
                f"({world.config.name!r}, hash {world.hash}); token ids would mean different words. "
                "Use the world it was trained on (checkpoint_world(meta)) or retrain."
            )
        if meta["world_hash"] != world.hash:
            if require_same_world:
                raise CheckpointError(
                    f"checkpoint {weights.name} belongs to world hash {meta['world_hash']}, not {world.hash}. "
                    "Regenerate it for this world (for the base checkpoint: `personalab pretrain`)."
                )
            warnings.warn(
                f"checkpoint {weights.name} was trained on world {meta['world'].get('name')!r} "
                f"(hash {meta['world_hash']}), not on this world ({world.config.name!r}, hash {world.hash}). "
                "The vocabulary is the same, so it loads, but it learned the other world's behaviour; "
                "pass require_same_world=True to refuse such a checkpoint.",
                WorldMismatchWarning,
                stacklevel=2,
            )
    model = GPT(cfg)
    expected = {k: v.shape for k, v in model.state_dict().items() if k != "head.weight"}
    got = {k: v.shape for k, v in state.items()}
    if expected.keys() != got.keys():
        missing, extra = sorted(expected.keys() - got.keys()), sorted(got.keys() - expected.keys())
        raise CheckpointError(f"checkpoint tensors do not match the model: missing {missing}, unexpected {extra}")
    bad = [k for k in expected if tuple(expected[k]) != tuple(got[k])]
    if bad:
        raise CheckpointError(
            "checkpoint tensor shapes do not match its model config: "
            + ", ".join(f"{k} {tuple(got[k])} vs {tuple(expected[k])}" for k in bad)
        )
    model.load_state_dict(state, strict=False)  # head.weight is tied to wte.weight
    model.eval()
    return model, meta


def checkpoint_world(meta: dict[str, Any]) -> PersonaWorld:
    """Rebuild the world a checkpoint was trained on from its metadata."""
    try:
        return PersonaWorld(WorldConfig.from_dict(meta["world"]))
    except WorldConfigError as exc:
        raise CheckpointError(f"the checkpoint's world config is invalid here: {exc}") from None
