"""Checkpoints round-trip, and damaged or foreign files are refused with a clear message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from personalab.model import GPT, GPTConfig
from personalab.train import CheckpointError, checkpoint_world, load_checkpoint, save_checkpoint
from personalab.train.checkpoint import WorldMismatchWarning, tensors_sha256

SRC = Path(__file__).resolve().parents[1] / "src" / "personalab"
BENCH = Path(__file__).resolve().parents[1] / "tools" / "bench.py"


@pytest.fixture
def saved(tmp_path, world):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len)).eval()
    save_checkpoint(tmp_path / "m", model, world, train={"steps": 1}, metrics={"gap": 0.5})
    return model, tmp_path / "m"


def test_round_trip_gives_identical_outputs(saved, world):
    model, path = saved
    loaded, meta = load_checkpoint(path, world)
    x = torch.randint(len(world.vocab), (2, 12), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert meta["world_hash"] == world.hash and meta["metrics"] == {"gap": 0.5}
    # the tied output head is tied again after loading
    assert loaded.head.weight.data_ptr() == loaded.wte.weight.data_ptr()


def test_any_of_the_two_file_names_works(saved, world):
    model, path = saved
    x = torch.randint(len(world.vocab), (2, 12), generator=torch.Generator().manual_seed(0))
    for p in (path, path.with_suffix(".safetensors"), path.with_suffix(".json")):
        loaded, meta = load_checkpoint(p, world)
        assert meta["metrics"] == {"gap": 0.5}  # the same checkpoint, whichever name was given
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_checkpoint_world_rebuilds_the_training_world(saved, world):
    _, path = saved
    _, meta = load_checkpoint(path)
    assert checkpoint_world(meta).hash == world.hash


def test_truncated_weights_are_refused(saved, world):
    _, path = saved
    weights = path.with_suffix(".safetensors")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable safetensors file.*truncated"):
        load_checkpoint(path, world)


def test_foreign_weights_file_is_refused(saved, world):
    _, path = saved
    path.with_suffix(".safetensors").write_bytes(b"PK\x03\x04 this is a zip, not safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(path, world)


def test_damaged_metadata_is_refused(saved, world):
    _, path = saved
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(path, world)


def test_metadata_of_another_program_is_refused(saved, world):
    _, path = saved
    path.with_suffix(".json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="not a personalab checkpoint"):
        load_checkpoint(path, world)


def test_missing_files_are_named(tmp_path, world):
    with pytest.raises(CheckpointError, match=r"nothing\.json not found"):
        load_checkpoint(tmp_path / "nothing", world)


def test_a_checkpoint_from_a_world_with_another_vocabulary_is_refused(saved, world):
    _, path = saved
    other = world.variant(facts={"true_facts": ["fire hot"], "false_facts": ["ice hot"]})  # fewer words
    with pytest.raises(CheckpointError, match="vocabulary differs.*token ids would mean different words"):
        load_checkpoint(path, other)


def test_same_vocabulary_but_another_world_is_refused_only_when_required(saved, world):
    _, path = saved
    other = world.shuffled()
    with pytest.warns(WorldMismatchWarning, match=other.hash):
        load_checkpoint(path, other)  # same words: usable (e.g. to evaluate on the control world)
    with pytest.raises(CheckpointError, match="belongs to world hash"):
        load_checkpoint(path, other, require_same_world=True)


def test_shape_mismatch_between_config_and_tensors_is_refused(saved, world):
    _, path = saved
    meta = json.loads(path.with_suffix(".json").read_text())
    meta["model"]["n_embd"] = 32
    meta["model"]["n_head"] = 4
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="shapes do not match"):
        load_checkpoint(path, world)


def test_no_pickle_anywhere_in_the_library():
    """Nothing is stored with pickle: no pickle import, no torch.save, no unsafe torch.load.

    The one exception is the lab benchmark (``tools/bench.py``, repository tooling outside the
    package), whose process pool (joblib's loky, as DESIGN section 7 asks) pickles jobs in
    memory to hand them to worker processes; it never writes a pickle file (no joblib.dump /
    joblib.load)."""
    for py in [*SRC.rglob("*.py"), BENCH]:
        text = py.read_text()
        banned = "c?pickle|dill" if py == BENCH else "c?pickle|dill|joblib"
        assert not re.search(rf"^\s*(import|from)\s+({banned})\b", text, re.M), py
        assert not re.search(r"joblib\.(dump|load)\b|from joblib import .*\b(dump|load)\b", text), py
        assert "torch.save(" not in text, py
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (py, call)


def test_the_same_world_loads_without_a_warning(saved, world):
    import warnings

    _, path = saved
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_checkpoint(path, world)


def test_corrupted_tensor_bytes_are_refused_by_the_checksum(saved, world):
    """Flipping one byte inside the tensor data leaves a readable safetensors file with
    different weights: only the recorded SHA-256 notices."""
    _, path = saved
    weights = path.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF  # the last tensor's bytes
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the SHA-256 recorded"):
        load_checkpoint(path, world)


def test_a_checkpoint_without_a_checksum_loads_with_a_warning(saved, world):
    _, path = saved
    meta = json.loads(path.with_suffix(".json").read_text())
    del meta["tensors_sha256"]
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="no tensors_sha256"):
        load_checkpoint(path, world)


@pytest.mark.parametrize("name", ["base", "base_shuffled"])
def test_the_shipped_checkpoints_record_a_checksum_that_verifies(name):
    from safetensors.torch import load_file

    meta = json.loads((SRC / "data" / f"{name}.json").read_text())
    state = load_file(str(SRC / "data" / f"{name}.safetensors"))
    assert meta["tensors_sha256"] == tensors_sha256(state)
