"""Steering explorer: slide the strength of a persona vector, watch behaviour and the persona mix.

Book: Chapter 2, Lab 2 (the explorer). :func:`steering_sweep` computes, for a grid of
strengths α, the model's exact behaviour rates, persona mix and off-world mass while α·v is
added to its residual stream; :func:`sweep_html` renders one row; :func:`steering_explorer`
is a slider over the precomputed grid (so it also works without recomputation in class).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ..evals import behaviour_rates, persona_mix
from ..interp.persona_vectors import PersonaVector
from ..world import PersonaWorld


@dataclass
class SteeringPoint:
    alpha: float
    rates: dict[str, float]
    mix: dict[str, float]
    off_world: float


def steering_sweep(
    model, world: PersonaWorld, pv: PersonaVector, alphas: Sequence[float], contexts: Sequence
) -> list[SteeringPoint]:
    """Behaviour rates, and the persona mix on ``contexts``, for each steering strength α
    (α·v added at ``pv.layer``; α = 1 adds the whole A - B mean difference)."""
    out = []
    for a in alphas:
        with model.steer(pv.layer, pv.steering(a)):
            mix = persona_mix(model, world, contexts)
            out.append(SteeringPoint(float(a), behaviour_rates(model, world), mix.as_dict(), mix.off_world))
    return out


def sweep_html(point: SteeringPoint, pv: PersonaVector) -> str:
    """One row of the sweep as an HTML table (no scripts)."""

    def bar(p: float, colour: str) -> str:
        return f'<div style="display:inline-block;width:{int(round(150 * p))}px;height:9px;background:{colour}"></div>'

    rows = [f"<b>α = {point.alpha:g}</b> × ({html.escape(pv.a)} − {html.escape(pv.b)}) at layer {pv.layer}"]
    rows.append("<table><tr><th>behaviour rate</th><th></th><th></th></tr>")
    rows += [
        f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td><td>{bar(v, '#4477aa')}</td></tr>"
        for k, v in point.rates.items()
    ]
    rows.append("<tr><th>persona mix</th><th></th><th></th></tr>")
    rows += [
        f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td><td>{bar(v, '#228833')}</td></tr>" for k, v in point.mix.items()
    ]
    rows.append(
        f"<tr><td><i>off-world</i></td><td>{point.off_world:.3f}</td><td>{bar(point.off_world, '#cc3311')}</td></tr>"
    )
    rows.append("</table>")
    return "\n".join(rows)


def steering_explorer(sweep: list[SteeringPoint], pv: PersonaVector):
    """A slider over a precomputed :func:`steering_sweep`."""
    import ipywidgets as W

    by_alpha = {p.alpha: p for p in sweep}
    zero = min(by_alpha, key=abs)
    slider = W.SelectionSlider(options=list(by_alpha), value=zero, description="α")
    out = W.HTML(value=sweep_html(by_alpha[zero], pv))

    def refresh(change):
        out.value = sweep_html(by_alpha[change["new"]], pv)

    slider.observe(refresh, names="value")
    return W.VBox([slider, out])
