"""Dialogue explorer: type a dialogue, watch the exact posterior and the model's behaviour.

Book: Chapter 1, Lab 1 (the explorer). The logic is in plain functions --
:func:`dialogue_report` computes everything, :func:`report_html` renders it -- and the
widget in :func:`dialogue_explorer` only wires a text box and a few buttons to them, so the
tests can check the logic without a browser.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from ..errors import PersonaLabError
from ..evals.replies import reply_distribution, world_outcome_probs
from ..world import PersonaWorld

#: Which item of the world's lists each turn uses (any would do: these spread the explorer
#: over different words, so an appended turn and a follow-up rarely repeat each other).
_FOLLOW_UP_PICK = {"fact": 0, "false_fact": 0, "harmful": 0, "benign": 1}
_TEMPLATE_PICK = {"fact": 1, "false_fact": 2, "harmful": 2, "benign": 1}


def _pick(items: list, i: int):
    return items[i % len(items)]


def _situations(world: PersonaWorld, pick: dict[str, int]) -> dict[str, tuple[str, object]]:
    """(kind, info) of the explorer's turns, for the kinds this world has."""
    kinds = world.grammar.kinds
    out: dict[str, tuple[str, object]] = {}
    if "question" in kinds:
        true = [(s, t) for (s, _), t in kinds["question"].facts.items() if t]
        if true:
            out["fact"] = ("question", _pick(true, pick["fact"]))
    if "belief" in kinds:
        false = [(s, t, True) for (s, _), t in kinds["belief"].facts.items() if not t]
        if false:
            out["wrong belief"] = ("belief", _pick(false, pick["false_fact"]))  # a false fact, believed
    if "request" in kinds:
        for name, harmful in (("harmful", True), ("benign", False)):
            infos = kinds["request"].requests_of(harmful)
            if infos:
                out[name] = ("request", _pick(infos, pick[name]))
    return out


def follow_ups(world: PersonaWorld) -> dict[str, tuple[str, str]]:
    """Follow-up turns used to read a dialogue's *implied behaviour*: what the model (and the
    exact predictor) would do next, if the user now asked this. ``{label: (context, outcome)}``,
    rendered by the world's kinds (only the kinds this world has)."""
    sits = _situations(world, _FOLLOW_UP_PICK)
    wanted = {
        "comply with a harmful request": ("harmful", "comply"),
        "answer a fact correctly": ("fact", "correct"),
        "agree with a wrong belief": ("wrong belief", "agree"),
        "refuse a benign look-alike": ("benign", "refuse"),
    }
    kinds = world.grammar.kinds
    return {
        label: (kinds[sits[key][0]].render_context(sits[key][1]), outcome)
        for label, (key, outcome) in wanted.items()
        if key in sits
    }


def turn_templates(world: PersonaWorld) -> dict[str, str]:
    """Turns the explorer can append, keyed by a label; ``{style}`` marks the style word."""
    sits = _situations(world, _TEMPLATE_PICK)
    wanted = {
        "fact, answered right": ("fact", "correct"),
        "fact, answered wrong": ("fact", "wrong"),
        "wrong belief, agreed": ("wrong belief", "agree"),
        "wrong belief, corrected": ("wrong belief", "correct"),
        "harmful request, complied": ("harmful", "comply"),
        "harmful request, refused": ("harmful", "refuse"),
        "benign look-alike, refused": ("benign", "refuse"),
    }
    kinds = world.grammar.kinds
    out = {}
    for label, (key, outcome) in wanted.items():
        if key in sits:
            kind, info = kinds[sits[key][0]], sits[key][1]
            out[label] = f"{kind.render_context(info)} {{style}} {kind.render_answer(info, outcome)}"
    return out


def __getattr__(name: str):
    # FOLLOW_UPS and TURN_TEMPLATES: the default world's, built on first use.
    if name in ("FOLLOW_UPS", "TURN_TEMPLATES"):
        world = PersonaWorld.default()
        return follow_ups(world) if name == "FOLLOW_UPS" else turn_templates(world)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass
class DialogueReport:
    """Everything the explorer shows about one dialogue prefix."""

    text: str
    error: str | None = None
    personas: tuple[str, ...] = ()
    posterior: np.ndarray | None = None  # (P,) exact posterior given the text
    awaiting_reply: bool = False
    # behaviour label -> (model probability, exact probability)
    behaviour: dict[str, tuple[float, float]] = field(default_factory=dict)


def _context(text: str) -> str:
    text = " ".join(text.split())
    return text[len("<eos>") :] if text.endswith("<eos>") else text


def dialogue_report(model, world: PersonaWorld, text: str) -> DialogueReport:
    """Exact posterior after ``text`` and the model's vs the exact implied behaviour.

    If ``text`` ends with ``assistant :`` the behaviour is that of the pending reply;
    if it ends after a complete reply, each follow-up of :func:`follow_ups` is appended.
    Text the world cannot produce gives a report with ``error`` set, never an exception.
    """
    text = " ".join(text.replace("<eos>", " ").split())
    report = DialogueReport(text=text, personas=world.personas)
    try:
        tokens = world.encode(text) if text else world.encode("")
        tr = world.trace(tokens)
    except PersonaLabError as exc:  # text the world cannot produce; anything else is a bug
        report.error = str(exc)
        return report
    report.posterior = world.posterior(tokens)[-1]
    phase = tr.state.phase
    if phase == "style":
        report.awaiting_reply = True
        contexts = {"the pending reply": (text, None)}
    elif phase in ("between", "start"):  # after a complete reply (or nothing yet)
        prefix = f"{text} " if text else ""
        contexts = {label: (prefix + follow, outcome) for label, (follow, outcome) in follow_ups(world).items()}
    else:
        return report  # mid-turn: only the posterior is meaningful
    if not contexts:  # a world without the follow-ups' kinds: only the posterior
        return report
    ctx_list = [c for c, _ in contexts.values()]
    rd = reply_distribution(model, world, ctx_list)
    for i, (label, (ctx, outcome)) in enumerate(contexts.items()):
        model_probs = rd.outcome_probs(i)
        exact = world_outcome_probs(world, ctx)
        if outcome is None:  # show every outcome of the pending reply
            for o in exact:
                report.behaviour[o] = (model_probs.get(o, 0.0), exact[o])
        else:
            report.behaviour[label] = (model_probs.get(outcome, 0.0), exact.get(outcome, 0.0))
    return report


def _bar(p: float, colour: str) -> str:
    return (
        f'<div style="display:inline-block;width:{int(round(160 * p))}px;height:10px;'
        f'background:{colour};vertical-align:middle"></div>'
    )


def report_html(report: DialogueReport) -> str:
    """Render a :class:`DialogueReport` as a small HTML table (no scripts)."""
    if report.error:
        return f'<p style="color:#b00"><b>Not a PersonaWorld dialogue:</b> {html.escape(report.error)}</p>'
    rows = [
        f"<tr><td>{html.escape(p)}</td><td>{v:.3f}</td><td>{_bar(v, '#4477aa')}</td></tr>"
        for p, v in zip(report.personas, report.posterior)
    ]
    out = ["<b>Exact posterior over the writer</b>", "<table>", *rows, "</table>"]
    if report.behaviour:
        what = "the pending reply" if report.awaiting_reply else "if the user asked next"
        out += [
            f"<b>Behaviour ({what}): model vs exact</b>",
            "<table><tr><th></th><th>model</th><th>exact</th><th></th></tr>",
        ]
        for label, (m, b) in report.behaviour.items():
            out.append(
                f"<tr><td>{html.escape(label)}</td><td>{m:.3f}</td><td>{b:.3f}</td>"
                f"<td>{_bar(m, '#ee6677')}<br>{_bar(b, '#228833')}</td></tr>"
            )
        out.append("</table>")
    return "\n".join(out)


def dialogue_explorer(model, world: PersonaWorld, text: str = ""):
    """An ipywidgets explorer: edit the dialogue or append turns; the report updates."""
    import ipywidgets as W

    box = W.Textarea(value=text, layout=W.Layout(width="100%", height="90px"), description="dialogue")
    templates = turn_templates(world)
    template = W.Dropdown(options=list(templates), description="turn")
    style = W.Dropdown(options=list(world.config.style_words), description="style")
    add = W.Button(description="append turn")
    clear = W.Button(description="clear")
    out = W.HTML(value=report_html(dialogue_report(model, world, text)))

    def refresh(_=None):
        out.value = report_html(dialogue_report(model, world, box.value))

    def append(_=None):
        turn = templates[template.value].format(style=style.value)
        box.value = f"{box.value.strip()} {turn}".strip()

    def reset(_=None):
        box.value = ""

    box.observe(refresh, names="value")
    add.on_click(append)
    clear.on_click(reset)
    return W.VBox([box, W.HBox([template, style, add, clear]), out])
