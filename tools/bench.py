"""Lab benchmark: run every lab over many seeds, record every claim and quoted number.

Book: Appendix, "Lab status"; DESIGN section 7. Not a test (timings depend on the machine):
run it with ``make bench`` after changing a lab, and commit what it writes (it is repository
tooling, not part of the installed package: it reads and writes the checkout):

* ``book/results.json`` -- for every (lab, seed, base) run: its wall time, every claim
  (``CLAIM`` lines, :mod:`personalab.claims`) and every number the lab recorded
  (:func:`personalab.results.record`), with the provenance of the code that produced them.
  The chapters quote these numbers through the ``{toy}`` role; runs are merged into the
  file by (lab, seed, base), so a partial bench updates only what it re-ran.
* ``book/appendix/status.md`` -- the status page, generated from ``results.json``.

Seeds come in two sets (``CALIBRATION_SEEDS``, ``VALIDATION_SEEDS``): thresholds
are chosen from the calibration seeds only and confirmed on the validation seeds, which
never set a threshold. ``--pretrain-seeds`` also pre-trains base models with other seeds
(cached in ``build/bases/``) and runs the labs on them with the reference lab seed; Part II's
labs (Lab 5 on) get extended-world bases pre-trained with those seeds instead (cached in
``build/bases_ext/``).
``--extended-seeds`` measures Chapter 1's core claims (:mod:`personalab.tools.core_claims`)
on the extended world's shipped base and on extended bases pre-trained with those seeds
(cached in ``build/bases_ext/``), recorded as the runs of ``base_ext``.

Jobs are independent, so they run in parallel with joblib (``--jobs``, loky processes on
the local cores; joblib's backend mechanism sends the same jobs to Ray or Dask). Each lab
runs in memory on its own kernel, the way a reader runs it; the file is not modified.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from personalab.claims import CLAIM_LINE, SHIPPED_BASE
from personalab.results import RESULTS_ENV

ROOT = Path(__file__).resolve().parents[1]  # the repository: this is repository tooling
RESULTS = ROOT / "book" / "results.json"
PAGE = ROOT / "book" / "appendix" / "status.md"
BASES = ROOT / "build" / "bases"
EXTENDED_BASES = ROOT / "build" / "bases_ext"
FIRST_EXTENDED_LAB = 5  # labs from this number on use the extended world (Part II)
EXTENDED = "base_ext"  # the results' name for Chapter 1's core claims on the extended world's bases
BEGIN, END = "<!-- status:begin -->", "<!-- status:end -->"

REFERENCE_SEED = 0  # the run whose outputs the labs store and whose numbers the chapters quote
CALIBRATION_SEEDS = tuple(range(8))  # thresholds are chosen from these ...
VALIDATION_SEEDS = (8, 9, 10, 11)  # ... and confirmed on these, which never set one
PRETRAIN_SEEDS = (1, 2, 3, 4, 5)  # base models pre-trained with other seeds (0 is shipped)
SHIPPED = None  # base_seed of a run on the shipped base checkpoints


@dataclass
class LabRun:
    lab: str
    seed: int
    seconds: float
    ok: bool
    error: str = ""
    claims: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> text, value, op, threshold, ok
    values: dict[str, float | None] = field(default_factory=dict)  # recorded numbers
    base_seed: int | None = SHIPPED
    provenance: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int | None]:
        return (self.lab, self.seed, self.base_seed)

    @property
    def holds(self) -> bool:
        return self.ok and bool(self.claims) and all(c["ok"] == "✓" for c in self.claims.values())


def _first_error(nb) -> tuple[bool, str]:
    """(no cell failed, the first failure as "cell N: Name: message")."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                message = f"{out.get('ename', 'Error')}: {out.get('evalue', '')}".strip().rstrip(":")
                return False, f"cell {i}: {message}"[:300]
    return True, ""


def run_lab(path: Path, seed: int, timeout: int = 900, base_dir: Path | None = None) -> LabRun:
    """Execute the notebook in memory with ``PERSONALAB_SEED=seed`` (and the base models in
    ``base_dir``, if given); collect its claims and recorded numbers."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from personalab.tools.provenance import fingerprint
    from personalab.train.base import BASE_DIR_ENV

    nb = nbformat.read(path, as_version=4)
    provenance = fingerprint(nb)
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        env = {"PERSONALAB_SEED": str(seed), RESULTS_ENV: str(results), "TQDM_DISABLE": "1"}
        if base_dir is not None:
            env[BASE_DIR_ENV] = str(base_dir)
        saved = {k: os.environ.get(k) for k in (*env, BASE_DIR_ENV)}
        os.environ.update(env)
        if base_dir is None:
            os.environ.pop(BASE_DIR_ENV, None)
        # allow_errors: a failed claim does not stop the lab, so every later claim is still
        # measured (on another base model several may fail, and each one is worth knowing).
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        start = time.perf_counter()
        try:
            client.execute()
            ok, error = _first_error(nb)
        except CellExecutionError as exc:  # a timeout or a dead kernel still ends the run
            ok, error = False, str(exc).strip().splitlines()[-1][:300]
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        seconds = time.perf_counter() - start
        values = json.loads(results.read_text(encoding="utf-8")) if results.exists() else {}
    base_seed = None if base_dir is None else int(Path(base_dir).name.removeprefix("seed"))
    run = LabRun(path.stem, seed, seconds, ok, error, values=values, base_seed=base_seed, provenance=provenance)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in out.get("text", "").splitlines():
                m = CLAIM_LINE.match(line.strip())
                if m:
                    run.claims[m["id"]] = m.groupdict()
    return run


def pretrain_seed_base(seed: int, root: Path = BASES) -> Path:
    """The folder of a base model pre-trained with ``seed`` by the shipped recipe, trained once
    (a few minutes) and reused while the world, the model size and the training recipe are
    unchanged.

    Only the persona-world base is re-trained: the question is whether the claims depend on
    one lucky pre-training run. Lab 2's shuffled-world control stays the shipped
    ``base_shuffled``, copied into the folder.
    """
    import shutil

    from personalab.pretraining import pretrain_base
    from personalab.train.base import SHUFFLED_BASE_PATH, base_world, default_model_config, default_train_config
    from personalab.train.checkpoint import CheckpointError, read_meta
    from personalab.train.loop import TrainConfig

    folder = root / f"seed{seed}"
    try:
        meta = read_meta(folder / "base")
        same_recipe = TrainConfig.from_dict(meta["train"]) == default_train_config(seed) and meta["model"] == asdict(
            default_model_config(base_world())
        )
        fresh = same_recipe and meta["world_hash"] == base_world().hash
    except CheckpointError:
        fresh = False
    if not fresh:
        folder.mkdir(parents=True, exist_ok=True)
        pretrain_base(folder / "base", seed=seed, threads=1)
    for suffix in (".safetensors", ".json"):
        shutil.copyfile(SHUFFLED_BASE_PATH.with_suffix(suffix), (folder / SHUFFLED_BASE_PATH.name).with_suffix(suffix))
    return folder


def pretrain_extended_seed_base(seed: int, root: Path = EXTENDED_BASES) -> Path:
    """The folder of an extended-world base pre-trained with ``seed`` by the shipped recipe
    (``base_ext.*``, the name :mod:`personalab.train.extended_base` reads from
    ``$PERSONALAB_BASE_DIR``), trained once and reused while world and recipe are unchanged."""
    from personalab.pretraining import pretrain_extended_base
    from personalab.train.base import default_model_config
    from personalab.train.checkpoint import CheckpointError, read_meta
    from personalab.train.extended_base import DIR_NAMES, extended_base_world, extended_train_config
    from personalab.train.loop import TrainConfig

    folder, world = root / f"seed{seed}", extended_base_world()
    path = folder / DIR_NAMES[False]
    try:
        meta = read_meta(path)
        fresh = (
            TrainConfig.from_dict(meta["train"]) == extended_train_config(seed)
            and meta["model"] == asdict(default_model_config(world))
            and meta["world_hash"] == world.hash
        )
    except CheckpointError:
        fresh = False
    if not fresh:
        folder.mkdir(parents=True, exist_ok=True)
        pretrain_extended_base(path, seed=seed, threads=1)
    # Part II labs' shuffled-world control stays the shipped one, as in pretrain_seed_base.
    import shutil

    from personalab.train.extended_base import EXTENDED_SHUFFLED_BASE_PATH

    for suffix in (".safetensors", ".json"):
        shutil.copyfile(EXTENDED_SHUFFLED_BASE_PATH.with_suffix(suffix), (folder / DIR_NAMES[True]).with_suffix(suffix))
    return folder


def extended_provenance() -> dict[str, str]:
    """What produced a ``base_ext`` run: the core-claims code and the extended world's files
    (world and checkpoints), by hash, as :mod:`personalab.tools.provenance` does for a lab."""
    import hashlib

    from personalab.tools.provenance import PACKAGE, code_digest, library_digest, reachable_modules

    h = hashlib.sha256()
    for path in sorted((PACKAGE / "data" / "extended").iterdir()):
        if path.name == "world.yaml" or path.name.startswith("base"):  # the world and its checkpoints
            h.update(f"{path.name}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
    check = PACKAGE / "tools" / "core_claims.py"  # the check itself (library digests skip tools/)
    roots = {"personalab.tools.core_claims", "personalab.train.extended_base", "personalab.world.extended"}
    roots |= {  # what the check imports (reachable_modules does not look inside tools/)
        "personalab.claims",
        "personalab.evals.gap",
        "personalab.evals.incontext",
        "personalab.evals.kind_gap",
        "personalab.interp.probes",
        "personalab.results",
        "personalab.runtime",
    }
    library = library_digest(modules=reachable_modules(roots)) + code_digest(check.read_text(encoding="utf-8"))
    return {"library": hashlib.sha256(library.encode()).hexdigest(), "data": h.hexdigest()}


def run_core_claims(base_seed: int | None) -> LabRun:
    """Chapter 1's core claims (reference lab seed) on the extended world's shipped base
    (``base_seed`` None) or on the one pre-trained with ``base_seed``, in a fresh process."""
    import subprocess

    from personalab.train.base import BASE_DIR_ENV

    provenance = extended_provenance()
    env = {k: v for k, v in os.environ.items() if k != BASE_DIR_ENV}
    if base_seed is not None:
        env[BASE_DIR_ENV] = str(pretrain_extended_seed_base(base_seed))
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.json"
        env.update({RESULTS_ENV: str(results), "TQDM_DISABLE": "1", "PERSONALAB_SEED": str(REFERENCE_SEED)})
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "personalab.tools.core_claims", "--extended", "--seed", str(REFERENCE_SEED)],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        values = json.loads(results.read_text(encoding="utf-8")) if results.exists() else {}
    crashed = proc.returncode not in (0, 1)  # 1: a claim failed; anything else: it did not finish
    error = proc.stderr.strip().splitlines()[-1][:300] if crashed and proc.stderr.strip() else ""
    run = LabRun(EXTENDED, REFERENCE_SEED, seconds, not crashed, error, values=values, base_seed=base_seed)
    run.provenance = provenance
    for line in proc.stdout.splitlines():
        m = CLAIM_LINE.match(line.strip())
        if m:
            run.claims[m["id"]] = m.groupdict()
    return run


def time_pretraining() -> float:
    """Seconds to pre-train the base model from scratch with the shipped recipe (2 threads)."""
    from personalab.pretraining import pretrain
    from personalab.train.base import default_train_config
    from personalab.world import PersonaWorld

    start = time.perf_counter()
    pretrain(PersonaWorld.default(), train_cfg=default_train_config(0), threads=2)
    return time.perf_counter() - start


# --- the results file ------------------------------------------------------------------


def load_results(path: Path = RESULTS) -> dict:
    if not path.exists():
        return {"runs": []}
    return json.loads(path.read_text(encoding="utf-8"))


def merge_runs(results: dict, runs: list[LabRun]) -> dict:
    """``results`` with ``runs`` added, replacing earlier runs of the same (lab, seed, base)."""
    new = {r.key: asdict(r) for r in runs}
    kept = [r for r in results.get("runs", []) if (r["lab"], r["seed"], r.get("base_seed")) not in new]
    merged = sorted(
        kept + list(new.values()),
        key=lambda r: (r["lab"], r.get("base_seed") is not None, r.get("base_seed") or 0, r["seed"]),
    )
    return {**results, "runs": merged}


def machine() -> dict[str, str | int | None]:
    import torch

    return {
        "date": date.today().isoformat(),
        "cpu_cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


# --- the status page -------------------------------------------------------------------


def _span(values: list[float], fmt: str = ".4g") -> str:
    if not values:
        return "—"
    lo, hi = min(values), max(values)
    return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}} … {hi:{fmt}}"


def _cell(runs: list[dict], cid: str) -> str:
    """``min … max (k/n ✓)`` of one claim over ``runs``."""
    got = [r["claims"][cid] for r in runs if cid in r["claims"]]
    if not runs:
        return "—"
    values = [float(c["value"]) for c in got if c["value"] != "nan"]
    holds = sum(c["ok"] == "✓" for c in got)
    return f"{_span(values)} ({holds}/{len(runs)} ✓)"


def across_bases(runs: list[dict]) -> list[str]:
    """The verdict over pre-training seeds (issue 11, item 4): every claim not marked
    ``shipped base:`` (the verifications included) must hold on every other base; the
    shipped-base findings are counted, not required."""
    others = [r for r in runs if r.get("base_seed") is not None]
    if not others:
        return []
    bases = sorted({r["base_seed"] for r in others})
    required, shipped = {}, {}  # (lab, id) -> [ok per base]
    for r in others:
        for cid, c in r["claims"].items():
            group = shipped if c["text"].startswith(SHIPPED_BASE) else required
            group.setdefault((r["lab"], cid), []).append(c["ok"] == "✓")
    failed = [
        f"{lab.split('_')[0]} {cid} ({len(oks) - sum(oks)} of {len(oks)})"
        for (lab, cid), oks in required.items()
        if not all(oks)
    ]
    crashed = [r for r in others if not r["ok"] and not r["claims"]]
    lines = [
        "",
        f"**Across pre-training seeds** (bases {', '.join(map(str, bases))}): "
        + (
            f"all {len(required)} claims of the recipe hold on every base."
            if not failed and not crashed
            else f"claims of the recipe that failed: {', '.join(failed) or 'none'}"
            + (f"; runs that stopped before any claim: {len(crashed)}" if crashed else "")
            + "."
        ),
    ]
    if shipped:
        held = ", ".join(f"{lab.split('_')[0]} {cid} {sum(oks)}/{len(oks)}" for (lab, cid), oks in shipped.items())
        lines.append(
            f"Findings about the shipped base only (marked *shipped base*: the recipe does not guarantee "
            f"them), other bases on which they held: {held}."
        )
    return lines


def status_markdown(results: dict, current: dict[str, dict[str, str]] | None = None) -> str:
    """The generated part of the status page, from the results file.

    ``current`` maps a lab to its present provenance: runs made by other code are flagged
    as stale (run ``make bench`` again).
    """
    runs = results.get("runs", [])
    m = results.get("machine", {})
    lines = [
        f"Generated by `make bench` on {m.get('date', '?')}: {m.get('cpu_cores', '?')} CPU cores, "
        f"Python {m.get('python', '?')}, torch {m.get('torch', '?')}. Calibration seeds "
        f"{', '.join(map(str, CALIBRATION_SEEDS))} set the thresholds; validation seeds "
        f"{', '.join(map(str, VALIDATION_SEEDS))} never did. *Other bases* are base models "
        "pre-trained with other seeds by the same recipe, each lab run with seed "
        f"{REFERENCE_SEED}. Each cell: smallest … largest value (runs in which the claim holds / runs).",
        "",
        "| lab | runs | wall time (s) | failed runs |",
        "|---|---|---|---|",
    ]
    for lab in dict.fromkeys(r["lab"] for r in runs):
        lab_runs = [r for r in runs if r["lab"] == lab]
        failed = [r for r in lab_runs if not (r["ok"] and all(c["ok"] == "✓" for c in r["claims"].values()))]
        stale = current is not None and lab in current and any(r.get("provenance") != current[lab] for r in lab_runs)
        fail_text = ", ".join(
            f"seed {r['seed']}" + (f" on base {r['base_seed']}" if r.get("base_seed") is not None else "")
            for r in failed
        )
        lines.append(
            f"| {lab} | {len(lab_runs)}{' (stale: run `make bench`)' if stale else ''} | "
            f"{_span([r['seconds'] for r in lab_runs], '.0f')} | {fail_text or 'none'} |"
        )
    lines += across_bases(runs)
    for lab in dict.fromkeys(r["lab"] for r in runs):
        lab_runs = [r for r in runs if r["lab"] == lab]
        groups = {
            "calibration": [r for r in lab_runs if r.get("base_seed") is None and r["seed"] in CALIBRATION_SEEDS],
            "validation": [r for r in lab_runs if r.get("base_seed") is None and r["seed"] in VALIDATION_SEEDS],
            "other bases": [r for r in lab_runs if r.get("base_seed") is not None],
        }
        ref = next((r for r in groups["calibration"] if r["seed"] == REFERENCE_SEED), None)
        ids = list(dict.fromkeys(i for r in lab_runs for i in r["claims"]))
        lines += ["", f"**{lab}**", ""]
        lines.append("| claim | needs | reference run | calibration | validation | other bases |")
        lines.append("|---|---|---|---|---|---|")
        for i in ids:
            first = next(r["claims"][i] for r in lab_runs if i in r["claims"])
            text = first["text"].replace("|", "\\|")  # a claim about |α| must not split the table cell
            refv = f"{ref['claims'][i]['value']} {ref['claims'][i]['ok']}" if ref and i in ref["claims"] else "—"
            cells = " | ".join(_cell(g, i) for g in groups.values())
            lines.append(f"| {i}: {text} | {first['op']} {first['threshold']} | {refv} | {cells} |")
    from personalab.train.base import default_train_config

    steps = default_train_config().steps
    lines += ["", f"**Base pre-training** (`personalab pretrain`, {steps:,} steps):", ""]
    pre = results.get("pretrain", {})
    if pre.get("measured_seconds") is not None:
        lines.append(f"- measured by `make bench`: {pre['measured_seconds']:.0f} s on 2 threads")
    rec = pre.get("recorded", {})
    if rec:
        threads = rec.get("threads")
        on = f" on {threads} thread{'s' if threads != 1 else ''}" if threads else ""
        lines.append(
            f"- recorded when the shipped checkpoint was made: {rec.get('total_seconds', float('nan')):.0f} s{on}; "
            f"held-out gap to the Bayes limit {rec.get('gap', float('nan')):.4f} nats/token"
        )
    return "\n".join(lines)


def spread_figure(results: dict, out: Path) -> None:
    """One row per claim: its values over every run, scaled to the row's own range, and the
    threshold as a bar -- the spread the thresholds were chosen from, at a glance."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results.get("runs", [])
    rows = []  # (label, threshold, op, [(value, group)])
    for lab in dict.fromkeys(r["lab"] for r in runs):
        lab_runs = [r for r in runs if r["lab"] == lab]
        for cid in dict.fromkeys(i for r in lab_runs for i in r["claims"]):
            points = []
            for r in lab_runs:
                c = r["claims"].get(cid)
                if c is None or c["value"] == "nan":
                    continue
                group = "other" if r.get("base_seed") is not None else "val" if r["seed"] in VALIDATION_SEEDS else "cal"
                points.append((float(c["value"]), group))
            first = next(r["claims"][cid] for r in lab_runs if cid in r["claims"])
            rows.append((f"{lab.split('_')[0]} {cid}", float(first["threshold"]), first["op"], points))
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 0.8))
    marker = {"cal": ("o", "#4477aa"), "val": ("D", "#ee7733"), "other": ("x", "#228833")}
    for y, (_, threshold, op, points) in enumerate(rows):
        values = [v for v, _ in points] + [threshold]
        lo, hi = min(values), max(values)
        scale = (hi - lo) or 1.0
        tx = (threshold - lo) / scale
        ax.plot([tx, tx], [y - 0.4, y + 0.4], color="k", lw=1.5)
        failing = (-0.06, tx) if op == "≥" else (tx, 1.06)  # shade the side on which the claim fails
        ax.fill_between(failing, y - 0.4, y + 0.4, color="#f4cccc", lw=0)
        for group in marker:
            xs = [(v - lo) / scale for v, g in points if g == group]
            m, color = marker[group]
            ax.scatter(xs, [y] * len(xs), marker=m, s=14, color=color, zorder=3, linewidths=1)
    ax.set_yticks(range(len(rows)), [label for label, *_ in rows], fontsize=6)
    ax.invert_yaxis()
    ax.set_xticks([0, 1], ["smallest", "largest"], fontsize=7)
    ax.set_xlim(-0.06, 1.06)
    handles = [plt.Line2D([], [], ls="", marker=m, color=c) for m, c in marker.values()]
    ax.legend(
        handles,
        ["calibration seeds", "validation seeds", "other bases"],
        fontsize=6,
        ncols=3,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        frameon=False,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=150)
    plt.close(fig)


def write_status(page: Path, generated: str) -> None:
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise ValueError(f"{page} lacks the markers {BEGIN} and {END}")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(f"{head}{BEGIN}\n{generated}\n{END}{tail}", encoding="utf-8")


def current_provenance(labs: list[Path]) -> dict[str, dict[str, str]]:
    import nbformat

    from personalab.tools.provenance import fingerprint

    current = {lab.stem: fingerprint(nbformat.read(lab, as_version=4)) for lab in labs}
    return {**current, EXTENDED: extended_provenance()}


def uses_extended_world(lab: Path) -> bool:
    """Part II's labs (Lab 5 on) run on the extended world's base, Part I's on the base."""
    return int(lab.stem.removeprefix("lab")[:2]) >= FIRST_EXTENDED_LAB


def _job(lab: Path, seed: int, base_seed: int | None) -> LabRun:
    if base_seed is None:
        base_dir = None
    elif uses_extended_world(lab):
        base_dir = pretrain_extended_seed_base(base_seed)
    else:
        base_dir = pretrain_seed_base(base_seed)
    return run_lab(lab, seed, base_dir=base_dir)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labs", nargs="*", type=Path, help="notebooks (default: labs/*.ipynb)")
    p.add_argument(
        "--seeds",
        nargs="*",
        type=int,
        default=[*CALIBRATION_SEEDS, *VALIDATION_SEEDS],
        help="lab seeds on the shipped base (default: the calibration and validation seeds)",
    )
    p.add_argument(
        "--pretrain-seeds",
        nargs="*",
        type=int,
        default=[],
        help=f"also run each lab (seed {REFERENCE_SEED}) on bases pre-trained with these seeds, e.g. "
        + " ".join(map(str, PRETRAIN_SEEDS)),
    )
    p.add_argument(
        "--extended-seeds",
        nargs="*",
        type=int,
        default=None,
        help="measure Chapter 1's core claims on the extended world's shipped base and on extended bases "
        "pre-trained with these seeds, e.g. " + " ".join(map(str, PRETRAIN_SEEDS)),
    )
    p.add_argument("--pretrain", action="store_true", help="also time the base pre-training (minutes)")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs (default 2: one per core here)")
    p.add_argument("--backend", default="loky", help="joblib backend (loky; 'ray' or 'dask' once registered)")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--page", type=Path, default=PAGE)
    p.add_argument("--page-only", action="store_true", help="only regenerate the status page from the results")
    args = p.parse_args(argv)
    labs = args.labs or sorted((ROOT / "labs").glob("*.ipynb"))
    results = load_results(args.results)
    runs: list[LabRun] = []
    if not args.page_only:
        from joblib import Parallel, delayed
        from tqdm import tqdm

        jobs = [(lab, s, None) for lab in labs for s in args.seeds]
        jobs += [(lab, REFERENCE_SEED, b) for lab in labs for b in args.pretrain_seeds]
        # Pre-train missing bases first, one job per seed, so two lab jobs never train the same base.
        part_one = any(not uses_extended_world(lab) for lab in labs)
        part_two = any(uses_extended_world(lab) for lab in labs)
        Parallel(n_jobs=args.jobs, backend=args.backend)(
            delayed(pretrain_seed_base)(b) for b in (args.pretrain_seeds if part_one else [])
        )
        ext = [] if args.extended_seeds is None else [None, *args.extended_seeds]
        # Pre-train missing extended bases one job per seed, then measure each (a few seconds).
        ext_seeds = {b for b in ext if b is not None} | (set(args.pretrain_seeds) if part_two else set())
        Parallel(n_jobs=args.jobs, backend=args.backend)(
            delayed(pretrain_extended_seed_base)(b) for b in sorted(ext_seeds)
        )
        runs += Parallel(n_jobs=args.jobs, backend=args.backend)(delayed(run_core_claims)(b) for b in ext)
        for run in runs:
            verdict = "all claims hold" if run.holds else f"FAILED {run.error or 'a claim'}"
            print(f"{run.lab} on base {'shipped' if run.base_seed is None else run.base_seed}: {verdict}")
        done = Parallel(n_jobs=args.jobs, backend=args.backend, return_as="generator_unordered")(
            delayed(_job)(*job) for job in jobs
        )
        with tqdm(total=len(jobs), desc="bench", disable=False) as bar:
            for run in done:
                base = f" on base {run.base_seed}" if run.base_seed is not None else ""
                verdict = "all claims hold" if run.holds else f"FAILED {run.error or 'a claim'}"
                bar.write(f"{run.lab} seed {run.seed}{base}: {run.seconds:.0f} s, {verdict}")
                bar.update()
                runs.append(run)
        results = merge_runs(results, runs)
        results["machine"] = machine()
    if args.pretrain:
        results.setdefault("pretrain", {})["measured_seconds"] = time_pretraining()
    from personalab.train.base import BASE_PATH
    from personalab.train.checkpoint import read_meta

    results.setdefault("pretrain", {})["recorded"] = read_meta(BASE_PATH).get("metrics", {})
    results["seeds"] = {
        "reference": REFERENCE_SEED,
        "calibration": list(CALIBRATION_SEEDS),
        "validation": list(VALIDATION_SEEDS),
    }
    args.results.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    write_status(args.page, status_markdown(results, current_provenance(labs)))
    spread_figure(results, args.page.with_name("claims_spread.png"))
    print(f"wrote {args.results}, {args.page} and its figure")
    return 0 if all(r.holds for r in runs) else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
