"""Smoke tests of the `personalab` command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from personalab.cli import main
from personalab.world import PersonaWorld


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_info_reports_versions_world_and_checkpoint_status(capsys):
    code, out, _ = run(capsys, "info")
    world = PersonaWorld.default()
    assert code == 0
    assert "torch" in out and world.hash in out
    assert "status: OK" in out and "gap to the Bayes limit" in out


def test_sample_from_the_world_shows_each_document_with_its_posterior(capsys):
    code, out, _ = run(capsys, "sample", "-n", "3", "--seed", "1")
    assert code == 0
    docs = [line for line in out.splitlines() if line.startswith("[")]
    posts = [line for line in out.splitlines() if "exact posterior:" in line]
    assert len(docs) == 3 and len(posts) == 3
    assert all("<bos>" in d and "<eos>" in d for d in docs)
    # every posterior line lists each persona with a probability, summing to ~1
    values = [float(x) for x in posts[0].split(":", 1)[1].split()[1::2]]
    assert len(values) == len(PersonaWorld.default().personas) and abs(sum(values) - 1) < 0.03


def test_sample_with_a_fixed_persona(capsys):
    code, out, _ = run(capsys, "sample", "-n", "2", "--persona", "villain")
    assert code == 0 and out.count("(villain)") == 2


def test_sample_from_the_base_model(capsys):
    code, out, _ = run(capsys, "sample", "-n", "2", "--model", "base", "--seed", "3")
    assert code == 0
    assert out.count("model base") == 2
    assert ("exact posterior:" in out) or ("off-world:" in out)


def test_sample_from_the_shuffled_world_shows_one_posterior_per_trait(capsys):
    code, out, _ = run(capsys, "sample", "-n", "1", "--shuffled")
    assert code == 0 and "posterior of the harm source" in out


def test_unknown_persona_is_a_clear_error_not_a_traceback(capsys):
    code, _, err = run(capsys, "sample", "--persona", "saint")
    assert code == 2 and "unknown persona 'saint'" in err and "helper" in err


def test_the_extended_world_samples_by_name_and_from_its_file(capsys):
    from personalab.world.extended import EXTENDED_WORLD_PATH, extended_world

    code, out, _ = run(capsys, "sample", "--world", "extended", "-n", "20", "--seed", "4")
    assert code == 0 and "decode" in out and "exact posterior:" in out
    code, again, _ = run(capsys, "sample", "--world", str(EXTENDED_WORLD_PATH), "-n", "20", "--seed", "4")
    assert code == 0 and again == out
    # the posterior is over the extended world's eight personas
    assert all(f"{p} " in out.split("exact posterior:")[1].split("\n")[0] for p in extended_world().personas)


def test_a_malformed_world_file_is_a_clear_error(capsys, tmp_path):
    bad = tmp_path / "w.yaml"
    bad.write_text("name: broken\n")
    code, _, err = run(capsys, "sample", "--world", str(bad))
    assert code == 2 and "personas is missing" in err and "Traceback" not in err


def test_pretrain_refuses_experimental_settings_without_out(capsys):
    code, _, err = run(capsys, "pretrain", "--steps", "5")
    assert code == 2 and "--out" in err


def test_pretrain_writes_a_loadable_checkpoint(capsys, tmp_path):
    from personalab.train import load_checkpoint

    code, out, _ = run(
        capsys, "pretrain", "--out", str(tmp_path / "tiny"), "--steps", "20", "--docs", "300", "--threads", "1"
    )
    assert code == 0 and "gap" in out
    model, meta = load_checkpoint(tmp_path / "tiny", PersonaWorld.default())
    assert meta["train"]["steps"] == 20 and meta["metrics"]["n_params"] == model.n_params()


@pytest.mark.parametrize("args", [["--help"], ["info", "--json"]])
def test_the_installed_command_runs(args):
    proc = subprocess.run([sys.executable, "-m", "personalab.cli", *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if "--json" in args:
        payload = proc.stdout[proc.stdout.index("{") :]
        statuses = json.loads(payload)
        assert set(statuses) == {"base", "base_shuffled", "base_ext", "base_ext_shuffled"}
        assert all(s["ok"] for s in statuses.values())


@pytest.mark.parametrize("flag", ["--steps", "--docs", "--threads"])
def test_pretrain_with_zero_steps_docs_or_threads_is_a_clear_error(capsys, tmp_path, flag):
    code, _, err = run(capsys, "pretrain", "--out", str(tmp_path / "x"), flag, "0")
    assert code == 2 and f"{flag} must be at least 1" in err


def test_n_below_one_is_a_clear_error(capsys):
    code, _, err = run(capsys, "sample", "-n", "0")
    assert code == 2 and "-n must be at least 1" in err


def test_a_bug_keeps_its_traceback_instead_of_becoming_error_x(monkeypatch):
    """Only the PersonaLabError family becomes `error: ...`; a bare KeyError is a bug."""
    import personalab.cli as cli

    def broken(args):
        raise KeyError("x")

    monkeypatch.setattr(cli, "cmd_info", broken)
    with pytest.raises(KeyError):
        main(["info"])


def test_sample_from_a_checkpoint_of_another_world_warns(capsys, tmp_path):
    import torch

    from personalab.model import GPT, GPTConfig
    from personalab.train import save_checkpoint

    shuffled = PersonaWorld.default().shuffled()
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=len(shuffled.vocab), block_size=shuffled.max_len, n_layer=1, n_embd=16))
    save_checkpoint(tmp_path / "sh", model, shuffled)
    code, _, err = run(capsys, "sample", "-n", "1", "--model", str(tmp_path / "sh"))
    assert code == 0 and "warning:" in err and shuffled.hash in err and "require_same_world" in err


def test_base_model_on_a_custom_world_advises_pretrain_with_world(capsys, tmp_path):
    world = PersonaWorld.default().variant(name="custom")
    path = tmp_path / "custom.yaml"
    world.config.to_yaml(path)
    code, _, err = run(capsys, "sample", "--world", str(path), "--model", "base")
    assert code == 2 and f"personalab pretrain --world {path}" in err and "--model my_base" in err


def test_pretrain_on_a_custom_world_needs_out(capsys, tmp_path):
    path = tmp_path / "custom.yaml"
    PersonaWorld.default().variant(name="custom").config.to_yaml(path)
    code, _, err = run(capsys, "pretrain", "--world", str(path))
    assert code == 2 and "--out" in err


def test_pretrain_on_a_custom_world_writes_a_checkpoint_bound_to_it(capsys, tmp_path):
    from personalab.train import load_checkpoint

    world = PersonaWorld.default().variant(name="custom")
    path = tmp_path / "custom.yaml"
    world.config.to_yaml(path)
    argv = ["pretrain", "--world", str(path), "--out", str(tmp_path / "m"), "--steps", "5", "--docs", "50"]
    code, out, _ = run(capsys, *argv, "--threads", "1")
    assert code == 0 and "custom.yaml" in out
    _, meta = load_checkpoint(tmp_path / "m", world, require_same_world=True)
    assert meta["world_hash"] == world.hash


def test_world_schema_prints_the_committed_schema(capsys, tmp_path):
    from personalab.world.schema import SCHEMA_PATH

    code, out, _ = run(capsys, "world-schema")
    assert code == 0 and out == SCHEMA_PATH.read_text(encoding="utf-8")
    code, _, _ = run(capsys, "world-schema", "-o", str(tmp_path / "s.json"))
    assert code == 0 and (tmp_path / "s.json").read_text(encoding="utf-8") == out
