"""Over-optimisation explorer: choose the raters' bias and the best-of-n pressure, watch
proxy reward, gold utility and sycophancy.

Book: Chapter 3, Lab 3 (the explorer). :func:`bon_sweep` computes, for each reward model
(one per rater bias) and each n, the exact best-of-n policy's sqrt(KL), proxy reward, gold
utility and sycophancy; :func:`bon_html` renders one point; :func:`bon_explorer` is a pair
of sliders over the precomputed grid (so it needs no recomputation in class).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..align.bestofn import bestofn_kl, bestofn_probs, expected_reward
from ..align.raters import ResponseTable
from ..evals.sycophancy import sycophancy_of


@dataclass(frozen=True)
class BoNPoint:
    bias: float
    n: int
    sqrt_kl: float
    proxy: float
    gold: float
    sycophancy: float  # mean probability of agreeing with a wrong belief


def bon_sweep(
    table: ResponseTable, probs: np.ndarray, rewards: dict[float, np.ndarray], ns: Sequence[int]
) -> list[BoNPoint]:
    """The exact best-of-n policy of ``probs`` against each bias's (N, K) reward, for each n."""
    out = []
    for bias, r in rewards.items():
        for n in ns:
            pb = bestofn_probs(probs, r, n)
            out.append(
                BoNPoint(
                    float(bias),
                    int(n),
                    float(np.sqrt(bestofn_kl(probs, r, n).mean())),
                    float(expected_reward(pb, r).mean()),
                    float(expected_reward(pb, table.gold).mean()),
                    sycophancy_of(table, pb),
                )
            )
    return out


def bon_html(p: BoNPoint) -> str:
    """One point of the sweep as an HTML table (no scripts)."""
    rows = [
        ("sqrt(KL) from the starting policy", p.sqrt_kl),
        ("proxy reward (the reward model)", p.proxy),
        ("gold utility (unbiased judge)", p.gold),
        ("sycophancy (agrees with a wrong belief)", p.sycophancy),
    ]
    cells = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td></tr>" for k, v in rows)
    return f"<b>raters' bias {p.bias:g}, best of n = {p.n}</b><table>{cells}</table>"


def bon_explorer(sweep: list[BoNPoint]):
    """Two sliders (bias, n) over a precomputed :func:`bon_sweep`."""
    import ipywidgets as W

    grid = {(p.bias, p.n): p for p in sweep}
    biases = sorted({p.bias for p in sweep})
    ns = sorted({p.n for p in sweep})
    bias = W.SelectionSlider(options=biases, value=biases[0], description="bias")
    n = W.SelectionSlider(options=ns, value=ns[0], description="n")
    out = W.HTML(value=bon_html(grid[(biases[0], ns[0])]))

    def refresh(_change):
        out.value = bon_html(grid[(bias.value, n.value)])

    bias.observe(refresh, names="value")
    n.observe(refresh, names="value")
    return W.VBox([bias, n, out])
