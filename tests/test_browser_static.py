"""What the browser would show, checked on the notebooks themselves (fast, no browser).

``tqdm.notebook`` ignores ``TQDM_DISABLE=1`` and stores a hidden progress-bar widget per
loop: the book then showed blank gaps of up to 640 px, voila printed "Error displaying
widget: model not found", the PDF froze ``0%|`` lines. The stored labs must hold none, and
every stored widget view must point at a model whose state is stored (or nothing renders).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

LABS = sorted((Path(__file__).resolve().parent.parent / "labs").glob("*.ipynb"))
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PROGRESS_MODELS = {"FloatProgressModel", "IntProgressModel"}


def _state(notebook: dict) -> dict:
    return notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def test_there_are_labs():
    assert LABS, "no lab notebooks found in labs/"


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_no_progress_bar_widget_is_stored(lab):
    notebook = json.loads(lab.read_text(encoding="utf-8"))
    progress = [k for k, m in _state(notebook).items() if m.get("model_name") in PROGRESS_MODELS]
    assert not progress, (
        f"{lab.name} stores {len(progress)} progress-bar widget(s): a cell used tqdm.notebook "
        "(it ignores TQDM_DISABLE=1); use personalab's progress bars and run `make labs`"
    )


@pytest.mark.parametrize("lab", LABS, ids=lambda p: p.stem)
def test_every_stored_widget_view_has_its_model_state(lab):
    notebook = json.loads(lab.read_text(encoding="utf-8"))
    state = _state(notebook)
    views = [
        output["data"][WIDGET_VIEW]["model_id"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if WIDGET_VIEW in output.get("data", {})
    ]
    assert views, f"{lab.name} shows no explorer: every lab has one (DESIGN section 4)"
    missing = [v for v in views if v not in state]
    assert not missing, f"{lab.name}: widget views without stored state (render as nothing): {missing}"
