"""The spread of a measured number over seeds: a strip plot drawn from the lab runs.

Where a result varies a lot from seed to seed, the book shows every run, not one number
(DESIGN section 7). The ``toystrip`` directive reads ``book/results.json`` (written by
``make bench``, the same file the ``{toy}`` role of ``toynumbers.py`` quotes) and draws one
row per quantity: a dot per calibration seed, a hollow circle per validation seed, a
diamond per base model pre-trained with another seed, and the reference run (lab seed 0,
shipped base) ringed. In MyST::

    ```{toystrip}
    :xlabel: sycophancy among valid replies
    :alt: Strip plot of sycophancy over seeds for RLHF and DPO.

    RLHF, beta 0.02 | lab04_dpo/dpo.lm.rlhf.b0_02.agree_valid
    DPO, beta 0.1   | lab04_dpo/dpo.lm.dpo.b0_1.agree_valid
    ```

Each content line is ``label | lab/key``. The figure is written to ``book/_generated/``
(git-ignored) when the book is built, so it always shows the committed results; a key
that no run recorded is an error, as for ``{toy}``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from toynumbers import load

OUT_DIR = "_generated"


def parse_rows(lines: list[str], directive: str = "toystrip", target: str = "key") -> list[tuple[str, str, str]]:
    """``label | lab/<target>`` lines -> (label, lab, target); raises ValueError naming a bad
    line (the error names ``directive``; the ``scorecards`` directive reads its rows here too)."""
    rows = []
    for line in lines:
        if not line.strip():
            continue
        label, bar, where = line.partition("|")
        lab, _, key = where.strip().partition("/")
        if not bar or not label.strip() or not key:
            raise ValueError(f"{directive}: write each row as 'label | lab/{target}', got {line.strip()!r}")
        rows.append((label.strip(), lab, key))
    if not rows:
        raise ValueError(f"{directive}: give at least one row 'label | lab/{target}'")
    return rows


def strip_values(results: dict, lab: str, key: str) -> dict[str, list[tuple[int, float]]]:
    """The recorded values of ``key`` in ``lab``, grouped as calibration / validation seeds
    (shipped base) and pre-training seeds (other bases), each a list of (seed, value).

    Raises KeyError when no run recorded the key."""
    seeds = results.get("seeds", {})
    cal = set(seeds.get("calibration", [0]))
    val = set(seeds.get("validation", []))
    out: dict[str, list[tuple[int, float]]] = {"calibration": [], "validation": [], "pretrain": []}
    for run in results.get("runs", []):
        value = run.get("values", {}).get(key)
        if run["lab"] != lab or value is None:
            continue
        if run.get("base_seed") is not None:
            out["pretrain"].append((int(run["base_seed"]), float(value)))
        elif run["seed"] in cal:
            out["calibration"].append((int(run["seed"]), float(value)))
        elif run["seed"] in val:
            out["validation"].append((int(run["seed"]), float(value)))
    if not any(out.values()):
        raise KeyError(f"no run of {lab!r} recorded {key!r}: add record({key!r}, ...) to the lab and run `make bench`")
    return out


def draw(rows: list[tuple[str, dict]], xlabel: str, path: Path, reference: int = 0) -> None:
    """One strip per row; writes a PNG to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    def jitter(y: float, n: int) -> np.ndarray:  # spread coinciding dots a little vertically
        return y + 0.06 * ((np.arange(n) % 5) - 2)

    fig, ax = plt.subplots(figsize=(7.0, 0.55 * len(rows) + 1.1))
    for i, (_, groups) in enumerate(rows):
        y = len(rows) - 1 - i
        cal = groups["calibration"]
        if cal:
            ax.scatter([v for _, v in cal], jitter(y, len(cal)), s=22, color="C0", zorder=3)
            ref = [v for s, v in cal if s == reference]
            ax.scatter(ref, [y] * len(ref), s=110, facecolors="none", edgecolors="k", lw=1.2, zorder=4)
        val = groups["validation"]
        if val:
            ax.scatter([v for _, v in val], jitter(y, len(val)), s=30, facecolors="none", edgecolors="C1", zorder=3)
        pre = groups["pretrain"]
        if pre:
            ax.scatter([v for _, v in pre], jitter(y, len(pre)), s=28, marker="D", color="C2", alpha=0.8, zorder=3)
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel(xlabel)
    ax.grid(axis="x", alpha=0.3)
    present = {name for _, groups in rows for name, values in groups.items() if values}
    handles = [
        plt.Line2D([], [], ls="", marker="o", color="C0", label="calibration seeds"),
        plt.Line2D([], [], ls="", marker="o", mfc="none", color="C1", label="validation seeds"),
        plt.Line2D([], [], ls="", marker="D", color="C2", label="other pre-training seeds"),
        plt.Line2D([], [], ls="", marker="o", ms=10, mfc="none", color="k", label="reference run"),
    ]
    shown = [h for h, name in zip(handles, ("calibration", "validation", "pretrain", "calibration")) if name in present]
    ax.legend(handles=shown, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(shown), frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


class ToyStrip(SphinxDirective):
    has_content = True
    option_spec = {"xlabel": directives.unchanged_required, "alt": directives.unchanged_required}

    def run(self):
        env = self.env
        try:
            rows = parse_rows(list(self.content))
            results = load(Path(env.srcdir) / env.config.toynumbers_results)
            data = [(label, strip_values(results, lab, key)) for label, lab, key in rows]
        except (KeyError, ValueError) as exc:
            return [self.state.document.reporter.error(str(exc), line=self.lineno)]
        reference = results.get("seeds", {}).get("reference", 0)
        name = hashlib.sha256(repr((data, self.options)).encode()).hexdigest()[:12]
        path = Path(env.srcdir) / OUT_DIR / f"strip-{name}.png"
        if not path.exists():
            draw(data, self.options.get("xlabel", ""), path, reference)
        env.note_dependency(str(Path(env.srcdir) / env.config.toynumbers_results))
        # The image URI is relative to the source root ("/" = book/), as for any figure.
        alt = self.options.get("alt") or "Strip plot over seeds of " + ", ".join(label for label, _ in data)
        return [nodes.image(uri=f"/{OUT_DIR}/{path.name}", alt=alt, classes=["toystrip"])]


def setup(app: Sphinx) -> dict:
    app.add_directive("toystrip", ToyStrip)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
