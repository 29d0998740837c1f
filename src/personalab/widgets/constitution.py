"""Constitution explorer: edit the principles, their order and β; watch the AI labels and the
exact optimum move.

Book: Chapter 5, Lab 5 (the explorer). :func:`constitution_panel` builds a constitution from
principle words, labels every pair of replies in a response table with a judge (the gold
judge, the exact Bayes judge, or a model), and computes the exact optimum of those labels'
reward (:func:`~personalab.align.ai_feedback.label_reward`, then
:func:`~personalab.align.dpo.kl_optimum`) from a starting policy; :func:`panel_html` renders
the behaviour rates and three example labels; :func:`constitution_explorer` wraps the two in
controls. Everything is exact: a move recomputes in well under a second (the model judge
runs one batch of forward passes).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from ..align.ai_feedback import expected_labels, judgement_table, label_reward, rates_of
from ..align.constitution import Constitution
from ..align.dpo import kl_optimum
from ..align.raters import ResponseTable
from ..errors import UnknownNameError
from ..evals.behaviour import RATES
from ..evals.replies import situations

JUDGES = ("gold", "exact", "model")
# (suite, the reply that should win under an honest and harmless reading, the other)
EXAMPLES = (
    ("a wrong belief", "correct", "agree"),
    ("a harmful request", "refuse", "comply"),
    ("a benign request", "comply", "refuse"),
)


@dataclass(frozen=True)
class ConstitutionPanel:
    constitution: Constitution | None
    problem: str  # why no constitution could be built ("" if one was)
    judge: str
    beta: float
    start: dict[str, float]  # the starting policy's behaviour rates
    optimum: dict[str, float]  # π*'s
    labels: list[tuple[str, str, str, float]]  # (what, reply a, reply b, expected P(a > b))


def _example_pairs(table: ResponseTable) -> list[tuple[str, int, int, int]]:
    """(what, row, k of the first reply, k of the second) for each example of EXAMPLES."""
    sits = situations(table.world, table.prompts)
    tests = {
        "a wrong belief": lambda s: s.kind == "belief" and s.info[1] != s.info[2],
        "a harmful request": lambda s: s.kind == "request" and bool(s.info[2]),
        "a benign request": lambda s: s.kind == "request" and not s.info[2],
    }
    out = []
    for what, a, b in EXAMPLES:
        row = next((i for i, s in enumerate(sits) if tests[what](s)), None)
        if row is None:
            continue
        ka = int(np.flatnonzero(table.outcome[row] == a)[0])
        kb = int(np.flatnonzero(table.outcome[row] == b)[0])
        out.append((what, row, ka, kb))
    return out


def constitution_panel(
    table: ResponseTable,
    start_probs: np.ndarray,
    principles: str,
    *,
    priority: bool = False,
    judge: str = "gold",
    beta: float = 0.1,
    model=None,
) -> ConstitutionPanel:
    """The exact optimum from ``start_probs`` ((N, K), every reply > 0) of the labels that the
    constitution of ``principles`` (principle words separated by spaces or commas, highest
    first) gets from ``judge``: ``"gold"`` (the principles' own verdicts), ``"exact"`` (the
    world's Bayes judge, zero-shot) or ``"model"`` (``model``, zero-shot)."""
    if judge not in JUDGES:
        raise ValueError(f"judge must be one of {JUDGES}, not {judge!r}")
    if judge == "model" and model is None:
        raise ValueError("judge='model' needs a model: pass model=<the base model>")
    start = rates_of(table, start_probs)
    words = tuple(w for w in principles.replace(",", " ").split() if w)
    try:
        constitution = Constitution("explorer", words, priority=priority)
    except (ValueError, UnknownNameError) as exc:  # unknown or repeated principles, or none: shown, not raised
        return ConstitutionPanel(None, str(exc), judge, beta, start, start, [])
    feedback = judgement_table(table, constitution, model if judge == "model" else None, gold=judge == "gold")
    optimum = kl_optimum(start_probs, label_reward(feedback, start_probs), beta)
    labels = expected_labels(feedback)
    examples = [
        (what, str(table.outcome[i, a]), str(table.outcome[i, b]), float(labels[i, a, b]))
        for what, i, a, b in _example_pairs(table)
    ]
    return ConstitutionPanel(constitution, "", judge, beta, start, rates_of(table, optimum), examples)


def panel_html(p: ConstitutionPanel) -> str:
    """The panel as HTML: the rates of the start and of π*, and the example labels (no scripts)."""
    if p.constitution is None:
        return f"<b>No constitution:</b> {html.escape(p.problem)}"
    order = " > ".join(p.constitution.principles) if p.constitution.priority else ", ".join(p.constitution.principles)
    how = "priority-ordered" if p.constitution.priority else "sampled uniformly"
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("", *RATES))
    rows = "".join(
        f"<tr><td>{name}</td>" + "".join(f"<td>{r[k]:.3f}</td>" for k in RATES) + "</tr>"
        for name, r in (("start", p.start), ("π*", p.optimum))
    )
    labels = "".join(
        f"<li>{html.escape(what)}: P({html.escape(a)} ≻ {html.escape(b)}) = {v:.3f}</li>" for what, a, b, v in p.labels
    )
    return (
        f"<b>{html.escape(order)}</b> ({how}; {p.judge} judge; β = {p.beta:g})"
        f"<table><tr>{head}</tr>{rows}</table>Expected AI labels:<ul>{labels}</ul>"
    )


def constitution_explorer(table: ResponseTable, start_probs: np.ndarray, model=None):
    """A text box (principles, highest first), a sampled/priority toggle, a judge and a β
    slider over :func:`constitution_panel`."""
    import ipywidgets as W

    text = W.Text(value="harm honest helpful", description="principles")
    order = W.ToggleButtons(options=["sampled", "priority"], value="sampled", description="combine")
    judges = JUDGES if model is not None else JUDGES[:2]
    judge = W.ToggleButtons(options=list(judges), value="gold", description="judge")
    beta = W.SelectionSlider(options=[0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0], value=0.1, description="β")

    def render() -> str:
        panel = constitution_panel(
            table,
            start_probs,
            text.value,
            priority=order.value == "priority",
            judge=judge.value,
            beta=beta.value,
            model=model,
        )
        return panel_html(panel)

    out = W.HTML(value=render())

    def refresh(_change):
        out.value = render()

    for control in (text, order, judge, beta):
        control.observe(refresh, names="value")
    return W.VBox([text, order, judge, beta, out])
