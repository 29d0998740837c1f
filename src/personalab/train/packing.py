"""Packing a batch of documents into fewer rows: the same loss for ~40% less compute.

Book: Chapter 1 (section *Pre-training*); Appendix B. PersonaWorld documents are 45 tokens
long on average but up to 74, so a batch of one document per row is ~40% padding, and on
a CPU the padded positions cost as much as the real ones. :func:`pack_batch` places the
documents of a batch end to end in rows of ``capacity`` tokens (first-fit decreasing bin
packing), and records for every position which document it belongs to and its position
inside that document. The model then attends only within a document and gives each token
its in-document rotary position (:meth:`personalab.model.GPT.forward` with ``segments`` and
``positions``), so every document is computed exactly as it would be alone in a row, and
:func:`~personalab.train.loop.packed_lm_loss` is the same mean over the same targets as
:func:`~personalab.train.loop.lm_loss` (tests check both, to float rounding). The batches a
run draws and its objective are unchanged; only the padding is gone. (Sorting documents by
length into batches would save the compute too, but it changes which documents share a
step, and we measured it cost ~0.003 nats/token of held-out loss here.)

Packing with a document mask is the standard way to train on variable-length documents
(e.g. Krell et al. 2021, "Efficient sequence packing without cross-contamination").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PAD_SEGMENT = -1  # the segment of a padding position


@dataclass(frozen=True)
class PackedBatch:
    """Documents packed end to end into rows.

    ``tokens`` (R, C) token ids; ``segments`` (R, C) the index of each position's document in
    the batch (``PAD_SEGMENT`` for padding); ``positions`` (R, C) the position inside that
    document (0 at its ``<bos>``); ``weights`` (R, C-1) the weight of each next-token target:
    the document's token weight, 0 for a document's first token (nothing inside the document
    predicts it) and for padding.
    """

    tokens: torch.Tensor
    segments: torch.Tensor
    positions: torch.Tensor
    weights: torch.Tensor


def pack_documents(lengths: np.ndarray, capacity: int) -> list[list[int]]:
    """First-fit decreasing: rows (lists of document indices) holding at most ``capacity`` tokens.

    Deterministic: longer documents are placed first, ties in index order; each goes into the
    first row with room. Every document is placed exactly once.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or len(lengths) == 0:
        raise ValueError(f"lengths must be a non-empty 1-D array, got shape {lengths.shape}")
    if lengths.min() < 1 or lengths.max() > capacity:
        raise ValueError(
            f"every document must have between 1 and capacity={capacity} tokens, "
            f"got lengths in [{lengths.min()}, {lengths.max()}]; raise the capacity (the model's block size + 1)"
        )
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: (-lengths[j], j)):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= int(lengths[i])
                break
        else:
            rows.append([i])
            room.append(capacity - int(lengths[i]))
    return rows


def pack_batch(
    tokens: np.ndarray,
    lengths: np.ndarray,
    capacity: int,
    pad_id: int,
    token_weights: np.ndarray | torch.Tensor | None = None,
) -> PackedBatch:
    """Pack a batch of left-aligned documents ``tokens`` (B, T) of ``lengths`` (B,) into rows.

    ``token_weights`` (B, T), aligned like :class:`~personalab.world.world.Scores` (column t
    weighs the prediction of token t), re-weights the targets; default 1.
    """
    tokens = np.asarray(tokens)
    lengths = np.asarray(lengths, dtype=np.int64)
    if tokens.ndim != 2 or len(tokens) != len(lengths):
        raise ValueError(f"tokens must be (B, T) with one length per row, got {tokens.shape} and {lengths.shape}")
    if token_weights is None:
        w_in = np.ones(tokens.shape, dtype=np.float32)
    else:
        w_in = np.asarray(token_weights, dtype=np.float32)
        if w_in.shape != tokens.shape:
            raise ValueError(f"token_weights must have the shape of tokens {tokens.shape}, got {w_in.shape}")
    rows = pack_documents(lengths, capacity)
    R = len(rows)
    out_tok = np.full((R, capacity), pad_id, dtype=np.int64)
    out_seg = np.full((R, capacity), PAD_SEGMENT, dtype=np.int64)
    out_pos = np.zeros((R, capacity), dtype=np.int64)
    out_w = np.zeros((R, capacity), dtype=np.float32)  # weight of predicting the token at each position
    for r, docs in enumerate(rows):
        o = 0
        for d in docs:
            n = int(lengths[d])
            out_tok[r, o : o + n] = tokens[d, :n]
            out_seg[r, o : o + n] = d
            out_pos[r, o : o + n] = np.arange(n)
            out_w[r, o + 1 : o + n] = w_in[d, 1:n]  # position o (the <bos>) is not a target
            o += n
    return PackedBatch(
        tokens=torch.from_numpy(out_tok),
        segments=torch.from_numpy(out_seg),
        positions=torch.from_numpy(out_pos),
        weights=torch.from_numpy(out_w[:, 1:]),
    )
