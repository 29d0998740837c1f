"""Seeds, threads and determinism: one call at the top of every lab and script.

Book: Preface (section *Reproducibility*). Labs read their seed from the environment variable
``PERSONALAB_SEED`` (default 0) so that CI and readers can re-run every claim with other
seeds; claims are asserted with thresholds chosen from the spread over several seeds.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

SEED_ENV = "PERSONALAB_SEED"
THREADS_ENV = "PERSONALAB_THREADS"


def seed_from_env(default: int = 0) -> int:
    """The seed in ``$PERSONALAB_SEED`` (default ``default``), with a clear error if malformed."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{SEED_ENV}={raw!r} is not an integer; set e.g. {SEED_ENV}=1") from None


def setup(seed: int | None = None, threads: int | None = None) -> int:
    """Seed ``random``, NumPy and torch, fix the thread count and make torch deterministic.

    Args:
        seed: the seed; ``None`` reads ``$PERSONALAB_SEED`` (default 0).
        threads: torch intra-op threads; ``None`` reads ``$PERSONALAB_THREADS`` (default 1:
            for models this small one thread is as fast as two and never oversubscribes).
    Returns:
        The seed used.
    """
    if seed is None:
        seed = seed_from_env()
    if threads is None:
        threads = int(os.environ.get(THREADS_ENV, "1") or 1)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds legacy global-state code in notebooks too
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    # Subnormal floats make CPU arithmetic erratically slow (we saw 10x slower steps);
    # flushing them to zero changes nothing measurable at this scale.
    torch.set_flush_denormal(True)
    return seed
