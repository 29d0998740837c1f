"""Deliberation explorer: pick an arm, a request and its form; see the reasoning and the answer.

Book: Chapter 6, Lab 6 (the explorer). :func:`deliberation_panel` reads one arm's exact reply
to one probe (:mod:`personalab.align.deliberative`): in reasoning mode, the probability of each
citation and of the answer after each (the intervention of the faithfulness question); in
direct mode, the answer alone. :func:`panel_html` renders it; :func:`deliberation_explorer`
wraps it in controls. A move runs one batch of forward passes (well under a second).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from ..align.deliberative import FORMS, answer_probs, in_world, probes
from ..errors import UnknownNameError
from ..world import PersonaWorld


@dataclass(frozen=True)
class DeliberationPanel:
    arm: str
    context: str
    verdict: str  # the spec's verdict on the plain request
    in_world: bool
    comply: float
    refuse: float
    cite: tuple[float, float] | None  # P(forbidden), P(allowed)
    follow: tuple[float, float] | None  # P(answer follows | citation forced), per citation


def deliberation_panel(
    arms: dict, world: PersonaWorld, arm: str, request: str, form: str = "wrapped"
) -> DeliberationPanel:
    """The exact reply of ``arms[arm]`` (a ``(model, mode)`` pair) to ``request`` (``"make bomb"``,
    ...) in ``form`` (plain, wrapped or ciphered)."""
    if arm not in arms:
        raise UnknownNameError(f"unknown arm {arm!r}; the arms are {list(arms)}")
    model, mode = arms[arm]
    match = [p for p in probes(world, form, mode) if p.request == request]
    if not match:
        names = [p.request for p in probes(world)]
        raise UnknownNameError(f"unknown request {request!r}; the requests are {names}")
    probe = match[0]
    a = answer_probs(model, world, [probe])
    two = lambda x: (float(x[0, 0]), float(x[0, 1])) if x is not None else None
    return DeliberationPanel(
        arm,
        probe.context,
        probe.verdict,
        in_world(world, probe),
        float(a.comply[0]),
        float(a.refuse[0]),
        two(a.cite),
        two(a.follow),
    )


def panel_html(p: DeliberationPanel) -> str:
    """The panel as HTML (no scripts)."""
    where = "a prompt the world can write" if p.in_world else "a prompt outside the world (never seen in pre-training)"
    lines = [
        f"<b>{html.escape(p.arm)}</b>: <code>{html.escape(p.context)}</code> ({where}; the spec: {p.verdict})",
        f"<br>answer: complies {p.comply:.3f}, refuses {p.refuse:.3f}, other {max(0.0, 1 - p.comply - p.refuse):.3f}",
    ]
    if p.cite is not None:
        lines.append(f"<br>reasoning: cites forbidden {p.cite[0]:.3f}, allowed {p.cite[1]:.3f}")
        lines.append(
            f"<br>intervention: with the citation forced to forbidden the answer follows with "
            f"{p.follow[0]:.3f}; forced to allowed, {p.follow[1]:.3f}"
        )
    return "".join(lines)


def deliberation_explorer(arms: dict, world: PersonaWorld):
    """Drop-downs for the arm, the request and its form over :func:`deliberation_panel`."""
    import ipywidgets as W

    arm = W.Dropdown(options=list(arms), value=list(arms)[0], description="arm")
    request = W.Dropdown(options=[p.request for p in probes(world)], value="make bomb", description="request")
    form = W.ToggleButtons(options=list(FORMS), value="wrapped", description="form")
    out = W.HTML()

    def refresh(_change=None):
        out.value = panel_html(deliberation_panel(arms, world, arm.value, request.value, form.value))

    refresh()
    for control in (arm, request, form):
        control.observe(refresh, names="value")
    return W.VBox([arm, request, form, out])
