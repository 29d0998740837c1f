"""The shipped base checkpoint: a tiny GPT pre-trained on the default PersonaWorld.

Book: Chapter 1 (section *Pre-training*); Preface (section *Checkpoints*).

Every lab starts from this checkpoint, so it ships with the package
(``personalab/data/base.safetensors`` + ``base.json``). A second one, ``base_shuffled``, is
the same model pre-trained with the same recipe on the *shuffled* world (traits assigned
independently per document): the control of Chapter 2's emergent-misalignment experiment.
:func:`pretrain_base` regenerates them (``personalab pretrain [--shuffled]``) and records
what it measured: the held-out loss, the exact Bayes loss of the same documents, their gap,
and the persona-blind loss. If the world changes, a shipped checkpoint's world hash no
longer matches and :func:`load_base` refuses it, naming the command that fixes it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model import GPT, GPTConfig
from ..runtime import setup
from ..world import Corpus, PersonaWorld
from .checkpoint import CheckpointError, load_checkpoint, read_meta, save_checkpoint
from .loop import TrainConfig, token_nll, train_lm

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
    """2 layers x 64 wide x 4 heads, context = the world's longest document."""
    return GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len)


def default_train_config(seed: int = 0) -> TrainConfig:
    return TrainConfig(seed=seed)


@dataclass
class GapReport:
    """How far a model is from the exact limit on held-out documents (nats/token)."""

    model_loss: float
    bayes_loss: float
    blind_loss: float
    bayes_loss_stderr: float
    persona_model_loss: float  # on the tokens a trait governs (style and content of replies)
    persona_bayes_loss: float
    persona_blind_loss: float
    n_docs: int
    n_tokens: int

    @property
    def gap(self) -> float:
        return self.model_loss - self.bayes_loss

    @property
    def inference_captured(self) -> float:
        """Fraction of the value of in-context persona inference the model captures on the
        persona-governed tokens: (blind - model) / (blind - Bayes); 1 is Bayes-optimal."""
        return (self.persona_blind_loss - self.persona_model_loss) / (self.persona_blind_loss - self.persona_bayes_loss)

    def to_dict(self) -> dict[str, float]:
        d = dict(self.__dict__)
        d["gap"] = self.gap
        d["inference_captured"] = self.inference_captured
        return d


def gap_report(model: GPT, corpus: Corpus) -> GapReport:
    """Compare ``model`` with the exact Bayes-optimal and persona-blind predictors on ``corpus``."""
    scores = corpus.world.score(corpus)
    mask = scores.mask
    nll = token_nll(model, corpus)[:, : mask.shape[1]]  # the corpus may be padded wider than its longest doc
    gov = mask & (scores.latent >= 0)
    return GapReport(
        model_loss=float(nll[mask].mean()),
        bayes_loss=scores.bayes_loss,
        blind_loss=scores.blind_loss,
        bayes_loss_stderr=scores.bayes_loss_stderr(),
        persona_model_loss=float(nll[gov].mean()),
        persona_bayes_loss=float(-scores.bayes_logprob[gov].mean()),
        persona_blind_loss=float(-scores.blind_logprob[gov].mean()),
        n_docs=len(corpus),
        n_tokens=int(mask.sum()),
    )


def heldout_corpus(world: PersonaWorld, seed: int, n: int) -> Corpus:
    """Held-out documents: a random stream disjoint from the training stream of ``seed``."""
    return world.sample(n, seed=[seed, 1])


def pretrain(
    world: PersonaWorld,
    model_cfg: GPTConfig | None = None,
    train_cfg: TrainConfig | None = None,
    *,
    threads: int | None = None,
) -> tuple[GPT, dict[str, Any]]:
    """Pre-train a tiny GPT on ``world`` from scratch and measure its gap to the Bayes limit."""
    train_cfg = train_cfg or default_train_config()
    model_cfg = model_cfg or default_model_config(world)
    t0 = time.time()
    setup(train_cfg.seed, threads)
    train_docs = world.sample(train_cfg.n_train_docs, seed=[train_cfg.seed, 0])
    model = GPT(model_cfg)
    t1 = time.time()
    losses = train_lm(model, train_docs, train_cfg)
    t2 = time.time()
    report = gap_report(model, heldout_corpus(world, train_cfg.seed, train_cfg.n_eval_docs))
    # evals sits above train in the layering; imported here only to record the measurement
    from ..evals.incontext import evidence_report

    evidence = evidence_report(model, world)
    metrics = {
        **{k: round(v, 6) if isinstance(v, float) else v for k, v in report.to_dict().items()},
        **{k: round(v, 6) for k, v in evidence.items()},
        "final_train_loss": round(float(np.mean(losses[-100:])), 6),
        "train_seconds": round(t2 - t1, 1),
        "total_seconds": round(time.time() - t0, 1),
        "threads": torch.get_num_threads(),
        "n_params": model.n_params(),
    }
    return model, metrics


def pretrain_base(
    out: str | Path | None = None,
    *,
    shuffled: bool = False,
    seed: int = 0,
    threads: int | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Regenerate a base checkpoint (``personalab pretrain [--shuffled]``).

    ``overrides`` change fields of the default :class:`~personalab.train.loop.TrainConfig`
    (e.g. ``steps=200`` for a quick experiment); they are refused for the shipped
    checkpoints' paths, whose recorded configuration the test suite re-runs.
    """
    world = base_world(shuffled)
    out = base_path(out, shuffled)
    if overrides and out.resolve() in (BASE_PATH.resolve(), SHUFFLED_BASE_PATH.resolve()):
        raise ValueError("a non-default training config cannot overwrite a shipped base checkpoint; pass another `out`")
    train_cfg = dataclasses.replace(default_train_config(seed), **overrides)
    model, metrics = pretrain(world, train_cfg=train_cfg, threads=threads)
    note = "personalab base checkpoint" + (" (shuffled-world control)" if shuffled else "")
    save_checkpoint(out, model, world, train=train_cfg.to_dict(), metrics=metrics, note=note)
    return metrics


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
