"""Numbers the book quotes, recorded by the lab run that measures them.

Book: Preface (section *How the labs check themselves*); Appendix, "Lab status". Every
number about the toy in a chapter is generated, never typed: a lab calls
``record("rlhf.sycophancy_rise", value)`` where it measures the value, ``make bench`` runs
every lab over the calibration and validation seeds and writes all recorded values (and
every claim) to ``book/results.json``, and the chapters insert them with the ``{toy}``
role of ``book/_ext/toynumbers.py``. Each claim is recorded too, as ``claim.<id>``.

Outside the bench (a reader running a notebook, nbval) recording does nothing: values go
to the JSON file named by ``$PERSONALAB_RESULTS`` only when it is set.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

RESULTS_ENV = "PERSONALAB_RESULTS"
KEY = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")


def record(key: str, value: float) -> float:
    """Record ``value`` under ``key`` (dotted lower-case words, e.g. ``"bon.gold_drop"``);
    returns ``value`` so it can wrap an expression."""
    if not KEY.match(key):
        raise ValueError(f"result key {key!r} must be dotted lower-case words, e.g. 'rlhf.sycophancy_rise'")
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"record({key!r}, ...) needs a number, got {type(value).__name__}")
    number = float(value)
    path = os.environ.get(RESULTS_ENV, "").strip()
    if path:
        p = Path(path)
        values = json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}
        values[key] = None if math.isnan(number) else number
        p.write_text(json.dumps(values, indent=1, sort_keys=True), encoding="utf-8")
    return value
