"""Bandit explorer: drag β and the raters' noise, watch π*, DPO and IPO.

Book: Chapter 4, Lab 4 (the explorer). :func:`bandit_panel` computes, for one β (used as
DPO's β and IPO's τ) and one preference noise, the exact optimum π* (eq. 4.2) and the
policies DPO and IPO reach on comparisons of every pair of arms drawn from Bradley-Terry
raters with that noise (0: the better arm always wins); :func:`panel_html` renders it;
:func:`bandit_explorer` wraps the two in sliders. Each move of a slider retrains both
learners on 2,000 comparisons (about a second on a laptop).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from ..align.bandit import Bandit, compare, train_tabular
from ..align.dpo import kl, kl_optimum


@dataclass(frozen=True)
class BanditPanel:
    beta: float
    noise: float
    ref: np.ndarray
    optimum: np.ndarray  # π*, eq. (4.2)
    dpo: np.ndarray
    ipo: np.ndarray

    @property
    def kl_dpo(self) -> float:
        return float(kl(self.dpo, self.optimum))

    @property
    def kl_ipo(self) -> float:
        return float(kl(self.ipo, self.optimum))


def bandit_panel(
    bandit: Bandit, beta: float, noise: float, *, n: int = 2000, steps: int = 500, seed: int = 0
) -> BanditPanel:
    """π_ref, π*, and the DPO and IPO policies after ``steps`` full-batch steps on ``n`` comparisons."""
    data = compare(bandit, n, noise, seed=seed)
    dpo = train_tabular(bandit, data, "dpo", beta, steps=steps, log_every=steps, seed=seed).final
    ipo = train_tabular(bandit, data, "ipo", beta, steps=steps, log_every=steps, seed=seed).final
    return BanditPanel(beta, noise, bandit.ref_probs, kl_optimum(bandit.ref_probs, bandit.rewards, beta), dpo, ipo)


def panel_html(p: BanditPanel, rewards: np.ndarray) -> str:
    """The panel as an HTML table, one row per arm, with bars (no scripts)."""

    def bar(x: float) -> str:
        return (
            f'<span style="display:inline-block;background:#4c72b0;height:0.8em;width:{100 * x:.0f}px"></span> {x:.3f}'
        )

    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("arm", "reward", "π_ref", "π*", "DPO", "IPO"))
    rows = "".join(
        f"<tr><td>{k}</td><td>{rewards[k]:+.2f}</td><td>{bar(p.ref[k])}</td><td>{bar(p.optimum[k])}</td>"
        f"<td>{bar(p.dpo[k])}</td><td>{bar(p.ipo[k])}</td></tr>"
        for k in range(len(p.ref))
    )
    noise = "deterministic" if p.noise == 0 else f"noise {p.noise:g}"
    return (
        f"<b>β = τ = {p.beta:g}, {noise}</b> — KL(DPO ‖ π*) = {p.kl_dpo:.3f}, "
        f"KL(IPO ‖ π*) = {p.kl_ipo:.3f}<table><tr>{head}</tr>{rows}</table>"
    )


def bandit_explorer(bandit: Bandit):
    """Two sliders (β, preference noise) over :func:`bandit_panel`."""
    import ipywidgets as W

    beta = W.SelectionSlider(options=[0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0], value=0.5, description="β (τ)")
    noise = W.SelectionSlider(options=[0.0, 0.1, 0.25, 0.5, 1.0, 2.0], value=1.0, description="noise")
    out = W.HTML(value=panel_html(bandit_panel(bandit, beta.value, noise.value), bandit.rewards))

    def refresh(_change):
        out.value = panel_html(bandit_panel(bandit, beta.value, noise.value), bandit.rewards)

    beta.observe(refresh, names="value")
    noise.observe(refresh, names="value")
    return W.VBox([beta, noise, out])
