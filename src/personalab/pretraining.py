"""Pre-training a base model and recording what it measured: the top-layer orchestration.

Book: Chapter 1 (section *Pre-training*); Preface (section *Checkpoints*). :func:`pretrain`
trains a tiny GPT on a world from scratch (:mod:`personalab.train.loop`) and measures it with
the evaluations (:func:`~personalab.evals.gap.gap_report`, the in-context evidence report);
:func:`pretrain_base` regenerates a shipped base checkpoint (``personalab pretrain
[--shuffled]``) with those measurements in its JSON, and :func:`pretrain_extended_base` the
extended world's (``personalab pretrain --world extended [--shuffled]``), which also records
the gap kind by kind. It sits above ``train`` and ``evals``
because it uses both; :mod:`personalab.train.base` only knows where the checkpoints live and
how to load them.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .evals.gap import gap_report
from .evals.incontext import evidence_report
from .model import GPT, GPTConfig
from .runtime import setup
from .train.base import BASE_PATH, SHUFFLED_BASE_PATH, base_path, base_world, default_model_config, default_train_config
from .train.checkpoint import save_checkpoint
from .train.loop import TrainConfig, train_lm
from .world import Corpus, PersonaWorld


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


def pretrain_extended_base(
    out: str | Path | None = None,
    *,
    shuffled: bool = False,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Regenerate an extended-world base checkpoint (``personalab pretrain --world extended
    [--shuffled]``; Appendix A, *The extended world*) with the shipped recipe, and record in
    its JSON, besides what :func:`pretrain` measures, the gap to the Bayes limit on each turn
    kind's tokens of the same held-out documents (``gap_by_kind``)."""
    from .evals.kind_gap import gap_by_kind
    from .train.extended_base import extended_base_path, extended_base_world, extended_train_config

    world = extended_base_world(shuffled)
    out = extended_base_path(out, shuffled)
    train_cfg = extended_train_config(seed)
    model, metrics = pretrain(world, train_cfg=train_cfg, threads=threads)
    kinds = gap_by_kind(model, heldout_corpus(world, train_cfg.seed, train_cfg.n_eval_docs))
    metrics["gap_by_kind"] = {
        k: {"gap": round(g.gap, 6), "governed_gap": round(g.governed_gap, 6), "n_tokens": g.n_tokens}
        for k, g in kinds.items()
    }
    note = "personalab extended-world base checkpoint" + (" (shuffled-world control)" if shuffled else "")
    save_checkpoint(out, model, world, train=train_cfg.to_dict(), metrics=metrics, note=note)
    return metrics
