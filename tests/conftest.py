"""Shared fixtures: the default world, the shipped base model and a fresh tiny GPT.

Module-scoped, as each test module had them before: a module's tests share one world and one
loaded base model, and no state leaks between modules.
"""

from __future__ import annotations

import pytest
import torch

from personalab.model import GPT, GPTConfig
from personalab.train import load_base
from personalab.world import PersonaWorld


@pytest.fixture(scope="module")
def world() -> PersonaWorld:
    """The default PersonaWorld of Chapters 1-4."""
    return PersonaWorld.default()


@pytest.fixture(scope="module")
def base_model(world: PersonaWorld) -> GPT:
    """The shipped base checkpoint, pre-trained on the default world."""
    return load_base(world)[0]


@pytest.fixture
def tiny(world: PersonaWorld) -> GPT:
    """A fresh, untrained 1-layer GPT of width 16 (torch seed 0), for fast training tests."""
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len, n_embd=16, n_head=2, n_layer=1))
