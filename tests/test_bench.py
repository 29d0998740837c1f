"""The lab benchmark: results merge by run, and the status page separates calibration,
validation and other pre-training seeds."""

from __future__ import annotations

from dataclasses import asdict

from bench import (
    CALIBRATION_SEEDS,
    VALIDATION_SEEDS,
    LabRun,
    merge_runs,
    status_markdown,
)


def _run(seed, value, ok="✓", base_seed=None, lab="lab99_demo"):
    c = dict(text="a rise", value=f"{value:.4f}", op="≥", threshold="0.2", ok=ok)
    return LabRun(lab, seed, 10.0 + seed, True, claims={"1a": c}, values={"claim.1a": value}, base_seed=base_seed)


def test_validation_seeds_never_overlap_the_calibration_seeds():
    assert not set(CALIBRATION_SEEDS) & set(VALIDATION_SEEDS)
    assert len(CALIBRATION_SEEDS) >= 8 and len(VALIDATION_SEEDS) >= 3


def test_a_rerun_replaces_the_same_run_and_keeps_the_others():
    results = merge_runs({"runs": []}, [_run(0, 0.3), _run(1, 0.4), _run(0, 0.5, base_seed=2)])
    results = merge_runs(results, [_run(1, 0.9)])
    got = {(r["seed"], r["base_seed"]): r["values"]["claim.1a"] for r in results["runs"]}
    assert got == {(0, None): 0.3, (1, None): 0.9, (0, 2): 0.5}


def test_status_page_reports_each_seed_group_and_the_failures():
    runs = [_run(0, 0.3), _run(1, 0.25), _run(VALIDATION_SEEDS[0], 0.1, ok="✗"), _run(0, 0.4, base_seed=3)]
    page = status_markdown({"runs": [asdict(r) for r in runs]})
    row = next(line for line in page.splitlines() if line.startswith("| 1a:"))
    assert row == "| 1a: a rise | ≥ 0.2 | 0.3000 ✓ | 0.25 … 0.3 (2/2 ✓) | 0.1 (0/1 ✓) | 0.4 (1/1 ✓) |"
    summary = next(line for line in page.splitlines() if line.startswith("| lab99_demo |"))
    assert f"seed {VALIDATION_SEEDS[0]}" in summary and "10 … 18" in summary


def test_runs_made_by_other_code_are_flagged_stale():
    run = asdict(_run(0, 0.3))
    run["provenance"] = {"lab": "old"}
    page = status_markdown({"runs": [run]}, current={"lab99_demo": {"lab": "new"}})
    assert "stale: run `make bench`" in page


def test_a_failed_claim_does_not_stop_the_lab(tmp_path):
    """On another base several claims may fail: every later claim is still measured."""
    import nbformat
    from bench import run_lab

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from personalab.claims import claim"),
        nbformat.v4.new_code_cell('assert claim("1a", "a rise", 0.1, at_least=0.5)'),
        nbformat.v4.new_code_cell('assert claim("1b", "a fall", 0.9, at_least=0.5)'),
    ]
    path = tmp_path / "lab99_demo.ipynb"
    nbformat.write(nb, path)
    run = run_lab(path, seed=0, timeout=120)
    assert not run.ok and run.error.startswith("cell 1: AssertionError"), run.error
    assert {c: run.claims[c]["ok"] for c in run.claims} == {"1a": "✗", "1b": "✓"}
    assert run.values["claim.1b"] == 0.9


def test_a_failed_claim_does_not_hide_the_claims_after_it_in_its_cell(tmp_path):
    """A lab cell with several claims lists them (``holds = [...]``) before asserting them all."""
    import nbformat
    from bench import run_lab

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from personalab.claims import claim"),
        nbformat.v4.new_code_cell(
            'holds = [claim("1a", "a rise", 0.1, at_least=0.5), claim("1b", "a fall", 0.9, at_least=0.5)]\n'
            "assert all(holds)"
        ),
    ]
    path = tmp_path / "lab99_demo.ipynb"
    nbformat.write(nb, path)
    run = run_lab(path, seed=0, timeout=120)
    assert not run.ok and run.error.startswith("cell 1: AssertionError"), run.error
    assert {c: run.claims[c]["ok"] for c in run.claims} == {"1a": "✗", "1b": "✓"}


def test_a_cached_other_seed_base_is_retrained_when_the_model_size_changes(tmp_path, monkeypatch):
    """``make bench --pretrain-seeds`` reuses ``build/bases/seed<N>`` only while the world, the
    model size and the training recipe are the shipped ones (a recipe change is a new base)."""
    import json
    import shutil

    from bench import pretrain_seed_base

    import personalab.pretraining as pretraining
    from personalab.train.base import BASE_PATH

    trained: list[int] = []

    def fake_pretrain_base(out, *, seed, threads):
        trained.append(seed)
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(BASE_PATH.with_suffix(suffix), out.with_suffix(suffix))
        meta = json.loads(out.with_suffix(".json").read_text())
        meta["train"]["seed"] = seed
        out.with_suffix(".json").write_text(json.dumps(meta))

    monkeypatch.setattr(pretraining, "pretrain_base", fake_pretrain_base)
    folder = pretrain_seed_base(3, root=tmp_path)
    assert trained == [3] and (folder / "base_shuffled.safetensors").exists()
    pretrain_seed_base(3, root=tmp_path)
    assert trained == [3], "a base with the shipped recipe must be reused"
    meta = json.loads((folder / "base.json").read_text())
    meta["model"]["n_head"] = 2 * meta["model"]["n_head"]
    (folder / "base.json").write_text(json.dumps(meta))
    pretrain_seed_base(3, root=tmp_path)
    assert trained == [3, 3], "a base with another model size must be retrained"


def test_the_status_page_requires_the_recipe_claims_on_other_bases_and_counts_the_rest():
    """Issue 11 item 4: a claim of the recipe must hold on every other base; a finding
    marked ``shipped base:`` is counted there, not required."""
    recipe = dict(text="a rise", value="0.3000", op="≥", threshold="0.2", ok="✓")
    shipped = dict(text="shipped base: a fall", value="0.9000", op="≤", threshold="0.5", ok="✗")
    runs = [LabRun("lab99_demo", 0, 1.0, False, claims={"1a": recipe, "1b": shipped}, base_seed=b) for b in (1, 2)]
    page = status_markdown({"runs": [asdict(r) for r in runs]})
    assert "all 1 claims of the recipe hold on every base" in page
    assert "lab99 1b 0/2" in page
    runs[1].claims = {"1a": {**recipe, "ok": "✗"}, "1b": shipped}
    page = status_markdown({"runs": [asdict(r) for r in runs]})
    assert "claims of the recipe that failed: lab99 1a (1 of 2)" in page


def test_the_committed_results_hold_every_recipe_claim_on_five_other_bases():
    """The status page's verdict over pre-training seeds, checked on ``book/results.json``."""
    import json
    from pathlib import Path

    from bench import RESULTS

    from personalab.claims import SHIPPED_BASE

    runs = json.loads(Path(RESULTS).read_text())["runs"]
    for lab in sorted({r["lab"] for r in runs}):
        others = [r for r in runs if r["lab"] == lab and r.get("base_seed") is not None]
        assert len({r["base_seed"] for r in others}) >= 5, f"{lab}: fewer than five other bases benched"
        for r in others:
            bad = [cid for cid, c in r["claims"].items() if c["ok"] != "✓" and not c["text"].startswith(SHIPPED_BASE)]
            assert r["claims"] and not bad, f"{lab} on base {r['base_seed']}: recipe claims {bad} failed"


def test_the_committed_results_hold_chapter_1s_core_claims_on_the_extended_bases():
    """Issue 14: Chapter 1's core claims on the extended world's shipped base and on at least
    five extended bases pre-trained with other seeds, measured by the current code and world."""
    import json
    from pathlib import Path

    from bench import EXTENDED, RESULTS, extended_provenance

    from personalab.tools.core_claims import CORE, RECORDED

    runs = [r for r in json.loads(Path(RESULTS).read_text())["runs"] if r["lab"] == EXTENDED]
    assert any(r.get("base_seed") is None for r in runs), "no run on the shipped extended base"
    assert len({r["base_seed"] for r in runs if r.get("base_seed") is not None}) >= 5
    current = extended_provenance()
    for r in runs:
        where = f"base {r.get('base_seed', 'shipped')}"
        assert r["provenance"] == current, (
            f"{where}: stale; run `make bench BENCH_ARGS='--seeds --extended-seeds 1 2 3 4 5'`"
        )
        assert set(r["claims"]) == set(CORE), where
        assert all(c["ok"] == "✓" for c in r["claims"].values()), (where, r["claims"])
        assert set(RECORDED.values()) <= set(r["values"]), where  # Lab 1's other measurements


def test_part_two_labs_run_on_extended_bases_with_the_shipped_shuffled_control(tmp_path, monkeypatch):
    """``--pretrain-seeds`` gives Lab 5 on an extended-world base pre-trained with that seed,
    beside the shipped extended shuffled control, where :mod:`personalab.train.extended_base`
    reads them; Part I's labs keep the Part I bases."""
    import json
    import shutil
    from pathlib import Path

    from bench import pretrain_extended_seed_base, uses_extended_world

    import personalab.pretraining as pretraining
    from personalab.train.extended_base import EXTENDED_BASE_PATH, extended_base_path

    assert uses_extended_world(Path("labs/lab05_constitutional_ai.ipynb"))
    assert not uses_extended_world(Path("labs/lab04_dpo.ipynb"))
    trained: list[int] = []

    def fake_pretrain(out, *, seed, threads):
        trained.append(seed)
        for suffix in (".safetensors", ".json"):
            shutil.copyfile(EXTENDED_BASE_PATH.with_suffix(suffix), out.with_suffix(suffix))
        meta = json.loads(out.with_suffix(".json").read_text())
        meta["train"]["seed"] = seed
        out.with_suffix(".json").write_text(json.dumps(meta))

    monkeypatch.setattr(pretraining, "pretrain_extended_base", fake_pretrain)
    folder = pretrain_extended_seed_base(4, root=tmp_path)
    monkeypatch.setenv("PERSONALAB_BASE_DIR", str(folder))
    for shuffled in (False, True):
        assert extended_base_path(shuffled=shuffled).with_suffix(".safetensors").exists()
    assert trained == [4]
