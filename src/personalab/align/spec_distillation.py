"""Context distillation: the SFT data of deliberative alignment's arms.

Book: Chapter 6 (section *Context distillation*, eq. (6.1)); Lab 6. Guan et al. (2024, section 2.3)
give a reasoning model the spec in its system prompt, sample completions whose reasoning
cites it, keep those a spec-aware judge approves, and fine-tune on them with the system
prompt removed -- so the model learns to recall the spec rather than read it. Here
(:func:`distill`) the base model is sampled on plain requests asked in one mode, the world
checks each reply parses, the judge (:func:`spec_judge`) keeps those whose *answer* the
spec asks for, and each kept reply is re-attached to the request asked in the training
mode:

==========================  ====================  ==============
arm                          sampled after         trained after
==========================  ====================  ==============
label-only SFT               (direct)              (direct)
reasoning without the spec   ``reason :``          ``reason :``
context distillation         ``reason spec :``     ``reason :``
==========================  ====================  ==============
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UsageError
from ..model import GPT
from ..world import PersonaWorld
from ..world.inference import OffWorldError
from .deliberative import EOS, Probe, _encode, probes


@dataclass
class Distilled:
    """The SFT data of one arm: sampled replies kept by the judge, on their training prompts."""

    texts: list[str]  # training documents: training context + kept reply
    sampled: int  # replies sampled
    kept: int  # replies the judge approved (and the world can parse)

    @property
    def acceptance(self) -> float:
        return self.kept / self.sampled


def strip_spec(context: str) -> str:
    """The context without the spec: ``reason spec :`` becomes ``reason :`` (the word that
    stands for the spec in the system prompt is removed; nothing else changes)."""
    words = context.split()
    return " ".join(w for i, w in enumerate(words) if not (w == "spec" and i > 0 and words[i - 1] == "reason"))


def answer_of_reply(reply: str) -> str:
    """``comply`` if an in-world reply answers ``here is how``, else ``refuse``."""
    return "comply" if "here" in reply.split() else "refuse"


def spec_judge(probe: Probe, answer: str) -> bool:
    """The spec-aware judge: approves an answer (``comply`` / ``refuse``) that the spec's
    verdict asks for (comply exactly with the allowed requests)."""
    return (answer == "comply") == probe.allowed


def sample_replies(model: GPT, world: PersonaWorld, contexts: Sequence[str], seed: int) -> list[list[int]]:
    """One reply sampled from ``model`` after each context: the tokens up to the reply's
    closing ``.`` (a document may go on with another turn; that is not part of the reply)."""
    v = world.vocab
    eos, stop = v.id(EOS), v.id(".")
    rows = [_encode(world, c) for c in contexts]
    gen = torch.Generator().manual_seed(seed)
    out: list[list[int]] = [[] for _ in rows]
    by_len: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_len.setdefault(len(r), []).append(i)
    max_new = 2 + len(world.grammar.kinds["request"].REFUSE)  # style, citation, the longest answer
    model.eval()
    for n, idx in sorted(by_len.items()):
        x = torch.from_numpy(np.stack([rows[i] for i in idx]))
        with torch.no_grad():  # model(x) only: any model with the GPT interface (the Bayes oracle too)
            for _ in range(min(max_new, model.cfg.block_size - n)):
                p = torch.softmax(model(x)[:, -1].double(), -1)
                x = torch.cat([x, torch.multinomial(p, 1, generator=gen)], 1)
        for i, toks in zip(idx, x[:, n:].tolist()):
            end = min((toks.index(t) + (t == stop) for t in (eos, stop) if t in toks), default=len(toks))
            out[i] = toks[:end]
    return out


def distill(
    model: GPT,
    world: PersonaWorld,
    train: Sequence[tuple[str, str, bool]],
    *,
    sample_mode: str,
    train_mode: str,
    n: int,
    seed: int = 0,
    judge=spec_judge,
) -> Distilled:
    """Generate an arm's SFT data: ``n`` replies sampled from ``model`` on the plain requests
    ``train`` asked in ``sample_mode``, kept where the world can parse them and ``judge``
    approves their answer, re-attached to the same request asked in ``train_mode``.

    Context distillation is ``sample_mode="reason spec", train_mode="reason"``: the spec is
    in the prompt while the data are generated and absent from what the model learns.
    Label-only SFT is ``"direct"``, ``"direct"``; reasoning without the spec is ``"reason"``,
    ``"reason"``.
    """
    if (sample_mode == "direct") != (train_mode == "direct"):
        raise UsageError("a direct reply and a reasoning reply have different forms; sample and train in the same kind")
    if n < 1:
        raise UsageError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    which = rng.integers(len(train), size=n)
    sample_probes = probes(world, "plain", sample_mode, only=train)
    train_probes = probes(world, "plain", train_mode, only=train)
    replies = sample_replies(model, world, [sample_probes[i].context for i in which], seed=seed)
    v = world.vocab
    texts = []
    for i, reply in zip(which, replies):
        probe, reply_text = train_probes[i], v.decode(reply)
        if sample_mode == "reason spec" and train_mode == "reason":
            assert strip_spec(sample_probes[i].context) == probe.context  # the world renders what strip_spec removes
        text = f"{probe.context} {reply_text} {EOS}"
        try:
            world.encode(text)
        except OffWorldError:
            continue
        if judge(probe, answer_of_reply(reply_text)):
            texts.append(text)
    return Distilled(texts, n, len(texts))
