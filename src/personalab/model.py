"""A tiny GPT: the simulator that learns PersonaWorld.

Book: Chapter 1 (section *The simulator*); Appendix B (API). In the spirit of minGPT/nanoGPT
(Karpathy): pre-LayerNorm transformer blocks and tied input/output embeddings, written out
so a reader can hold it in their head. Positions are rotary (RoPE, Su et al. 2021): attention
scores depend on how far back a token is, not on its absolute index, which is what a
dialogue of repeated turns needs (we measured that it makes the model learn in-context
persona evidence more reliably than learned absolute positions; see CHANGELOG).

Beyond ``forward`` it offers what the labs need:

* :meth:`GPT.token_logprobs` -- log P(x_t | x_<t) of given sequences (for losses and
  behaviour rates);
* :meth:`GPT.generate` -- seeded sampling;
* :meth:`GPT.residuals` -- the residual stream after the embedding and after every block
  (``(n_layer + 1)`` tensors of shape (B, T, C)), for probes and persona vectors;
* :meth:`GPT.steer` -- a context manager adding a vector to the residual stream at a chosen
  layer (activation steering; Turner et al. 2023, Panickssery et al. 2023, Chen et al. 2025).

Residual layer ``l`` means: ``l = 0`` after the token embedding, ``l = i`` after
block ``i`` (1-based). Steering at layer ``l`` changes everything computed after it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .errors import UsageError


@dataclass(frozen=True)
class GPTConfig:
    """Size of the model. Defaults: 2 layers x 64 wide x 8 heads of size 8 (~0.1 M parameters)."""

    vocab_size: int
    block_size: int
    n_layer: int = 2
    n_head: int = 8
    n_embd: int = 64
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {v!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")
        if (self.n_embd // self.n_head) % 2:
            raise ValueError("GPTConfig: rotary positions need an even head size (n_embd / n_head)")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Packing:
    """Where documents sit in rows that hold several (for :meth:`GPT.forward`).

    ``segments`` (B, T): which document each position belongs to (any integer id; padding
    may share one id); ``positions`` (B, T): the position inside that document.
    """

    segments: torch.Tensor
    positions: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """A boolean tensor of shape (B, 1, T, T), True where query i may attend to key j
        (the same document and j <= i)."""
        T = self.segments.shape[1]
        same = self.segments[:, :, None] == self.segments[:, None, :]
        return (same & torch.tril(torch.ones(T, T, dtype=torch.bool)))[:, None]

    def check(self, shape: tuple[int, ...], block_size: int) -> None:
        for name in ("segments", "positions"):
            t = getattr(self, name)
            if tuple(t.shape) != tuple(shape):
                raise ValueError(f"Packing.{name} must have the token ids' shape {tuple(shape)}, got {tuple(t.shape)}")
        if len(self.positions) and not 0 <= int(self.positions.min()) <= int(self.positions.max()) < block_size:
            raise ValueError(f"Packing.positions must be in [0, {block_size - 1}] (the block size)")


def rotary_tables(block_size: int, head_size: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of the rotary angles t * base^(-2i/hs), each (T, hs/2) (Su et al. 2021)."""
    inv_freq = base ** (-torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)  # (hs/2,)
    angles = torch.outer(torch.arange(block_size, dtype=torch.float32), inv_freq)  # (T, hs/2)
    return angles.cos(), angles.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each pair of channels of x (B, nh, T, hs) by its position's angle, so that
    q_i . k_j depends on positions only through i - j."""
    x1, x2 = x[..., 0::2], x[..., 1::2]  # (B, nh, T, hs/2)
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.dropout = cfg.dropout
        cos, sin = rotary_tables(cfg.block_size, cfg.n_embd // cfg.n_head)
        self.register_buffer("cos", cos, persistent=False)  # (T, hs/2)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: torch.Tensor, packing: Packing | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        if packing is None:
            cos, sin, mask = self.cos[:T], self.sin[:T], None
        else:  # each token at its position in its own document, attending within it
            cos, sin = self.cos[packing.positions][:, None], self.sin[packing.positions][:, None]  # (B, 1, T, hs/2)
            mask = packing.mask
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        # softmax(q k^T / sqrt(hs) + causal mask) v, fused; `attention_reference` below
        # writes the same computation out step by step (a test checks they agree).
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return F.dropout(self.proj(y), self.dropout, self.training)


def attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Causal attention written out (no dropout): what ``scaled_dot_product_attention`` computes."""
    T, hs = q.shape[-2], q.shape[-1]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(hs)  # (B, nh, T, T)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    att = att.masked_fill(~causal, float("-inf"))
    return F.softmax(att, dim=-1) @ v  # (B, nh, T, hs)


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(cfg.n_embd, 4 * cfg.n_embd),
            nn.GELU(),
            nn.Linear(4 * cfg.n_embd, cfg.n_embd),
            nn.Dropout(cfg.dropout),
        )

    def forward(self, x: torch.Tensor, packing: Packing | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), packing)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """The tiny GPT. ``forward(idx)`` maps (B, T) token ids to (B, T, V) logits."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.wte.weight  # weight tying (Press & Wolf 2017)
        self.apply(self._init)
        self._steering: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, mean=0.0, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ------------------------------------------------------------------ core
    def _check_idx(self, idx: torch.Tensor) -> torch.Tensor:
        if not isinstance(idx, torch.Tensor):
            idx = torch.as_tensor(idx)
        if idx.dim() == 1:
            idx = idx[None]
        if idx.dim() != 2:
            raise ValueError(f"token ids must have shape (B, T), got {tuple(idx.shape)}")
        if idx.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"token ids must be integers, got dtype {idx.dtype}")
        T = idx.shape[1]
        if not 1 <= T <= self.cfg.block_size:
            raise ValueError(f"sequence length {T} must be between 1 and the block size {self.cfg.block_size}")
        lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= self.cfg.vocab_size:
            raise ValueError(f"token ids must be in [0, {self.cfg.vocab_size - 1}], got range [{lo}, {hi}]")
        return idx.long()

    def _stream(self, idx: torch.Tensor, packing: Packing | None = None) -> Iterator[torch.Tensor]:
        """Yield the residual stream at layers 0..n_layer (steering applied), then logits."""
        idx = self._check_idx(idx)
        if packing is not None:
            packing.check(idx.shape, self.cfg.block_size)
        x = self.drop(self.wte(idx))  # (B, T, C); positions enter through rotary q and k
        x = self._apply_steering(0, x)
        yield x
        for i, block in enumerate(self.blocks, start=1):
            x = self._apply_steering(i, block(x, packing))
            yield x
        yield self.head(self.ln_f(x))  # (B, T, V)

    def forward(self, idx: torch.Tensor, packing: Packing | None = None) -> torch.Tensor:
        """Logits (B, T, V). ``packing`` (rows holding several documents end to end,
        :mod:`personalab.train.packing`): each token attends only within its document, at
        its position in that document, so each document is computed as if alone."""
        *_, logits = self._stream(idx, packing)
        return logits

    def residuals(self, idx: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Residual stream at every layer, ``n_layer + 1`` tensors (B, T, C), and the logits."""
        out = list(self._stream(idx))
        return out[:-1], out[-1]

    # ------------------------------------------------------------------ steering
    def _apply_steering(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        if layer not in self._steering:
            return x
        vec, positions = self._steering[layer]
        if positions is None:
            return x + vec
        add = torch.zeros_like(x)
        add[:, positions] = vec
        return x + add

    @contextlib.contextmanager
    def steer(self, layer: int, vector: torch.Tensor, positions: torch.Tensor | list[int] | None = None):
        """Add ``vector`` (C,) to the residual stream at ``layer`` (0..n_layer) inside the block.

        ``positions`` restricts the addition to some sequence positions (default: all).
        Several ``steer`` contexts at different layers may be nested.
        """
        if not 0 <= layer <= self.cfg.n_layer:
            raise ValueError(f"layer must be in 0..{self.cfg.n_layer}, got {layer}")
        vector = torch.as_tensor(vector, dtype=self.wte.weight.dtype)
        if vector.shape != (self.cfg.n_embd,):
            raise ValueError(f"steering vector must have shape ({self.cfg.n_embd},), got {tuple(vector.shape)}")
        if layer in self._steering:
            raise ValueError(f"layer {layer} is already being steered; combine the vectors instead")
        pos = None if positions is None else torch.as_tensor(positions, dtype=torch.long)
        self._steering[layer] = (vector, pos)
        try:
            yield self
        finally:
            del self._steering[layer]

    # ------------------------------------------------------------------ utilities
    def token_logprobs(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T-1): log P(x_t | x_<t) for t = 1..T-1 of each given sequence."""
        idx = self._check_idx(idx)
        logits = self(idx[:, :-1])
        return torch.log_softmax(logits.float(), dim=-1).gather(-1, idx[:, 1:, None])[..., 0]

    def next_token_probs(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, V): the distribution of the token after each sequence (all of equal length)."""
        return torch.softmax(self(idx)[:, -1].float(), dim=-1)

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        *,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        stop_token: int | None = None,
    ) -> torch.Tensor:
        """Sample continuations of (B, T) prompts, seeded by ``generator``.

        Sequences that emit ``stop_token`` keep emitting it (callers strip it as padding).
        Generation stops at ``block_size`` tokens; a prompt that already fills the block is an
        error (returning it unchanged would look like an empty continuation).
        """
        if temperature <= 0:
            raise ValueError("temperature must be > 0 (use argmax on logits for greedy decoding)")
        if max_new_tokens < 0:
            raise UsageError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
        idx = self._check_idx(idx)
        if max_new_tokens > 0 and idx.shape[1] >= self.cfg.block_size:
            raise UsageError(
                f"the prompt has {idx.shape[1]} tokens, which fills the model's block_size "
                f"({self.cfg.block_size}): no token can be generated. Shorten the prompt."
            )
        done = torch.zeros(idx.shape[0], dtype=torch.bool)
        for _ in range(max_new_tokens):
            if idx.shape[1] >= self.cfg.block_size:
                break
            probs = torch.softmax(self(idx)[:, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator)[:, 0]
            if stop_token is not None:
                nxt = torch.where(done, torch.full_like(nxt, stop_token), nxt)
                done |= nxt == stop_token
            idx = torch.cat([idx, nxt[:, None]], dim=1)
            if stop_token is not None and bool(done.all()):
                break
        return idx
