"""Claims: the one-line, asserted measurements that every lab is built around.

Book: Preface (section *How the labs check themselves*). A lab states its claims at the top
and checks each with ``assert claim(...)`` in a clearly marked cell, which prints the measured
value next to its threshold. A cell with several claims lists them first and then asserts
them together (``holds = [claim(...), claim(...)]`` then ``assert all(holds)``), so a failing
claim never hides the measurement of the ones after it. Thresholds are chosen from the spread over several seeds
(``PERSONALAB_SEED``), never from one lucky run; the status page lists them.

The printed line has a fixed shape, ``CLAIM <id> <✓|✗> <text>: <value> (needs <op> <threshold>)``,
which the lab benchmark (``tools/bench.py``, run by ``make bench``) reads back; the value is also recorded
as ``claim.<id>`` and its threshold as ``claim.<id>.threshold`` (:mod:`personalab.results`),
for the chapters to quote.
"""

from __future__ import annotations

import math
import re

from .results import record

CLAIM_LINE = re.compile(
    r"^CLAIM (?P<id>\S+) (?P<ok>[✓✗]) (?P<text>.*): (?P<value>-?[\d.]+|nan) "
    r"\(needs (?P<op>[≥≤]) (?P<threshold>-?[\d.]+)\)$"
)


VERIFICATION = "verification: "
SHIPPED_BASE = "shipped base: "


def claim(
    claim_id: str,
    text: str,
    value: float,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
    verification: bool = False,
    shipped_base: bool = False,
) -> bool:
    """Print ``CLAIM id ✓/✗ text: value (needs ≥/≤ threshold)`` and return whether it holds.

    Exactly one of ``at_least`` / ``at_most`` must be given. A NaN value never holds.
    ``verification=True`` marks a check that the code does what the book says (a sanity check
    with a wide margin, which could fail only through a bug), not a finding about the toy:
    its text starts with ``verification:`` and the status page lists it with its margin.

    ``shipped_base=True`` marks a finding about the shipped checkpoint, confirmed over the
    calibration and validation seeds, that the pre-training recipe does not guarantee: base
    models pre-trained with other seeds failed it (DESIGN section 7). Its text starts with
    ``shipped base:``; the status page still shows its verdict on every other base, but only
    the claims without the mark are required to hold there, and the chapter that quotes it
    says on how many of them it held (``{toy}`...:holding```).
    """
    if (at_least is None) == (at_most is None):
        raise ValueError("give exactly one of at_least= or at_most=")
    value = float(value)
    op, threshold = ("≥", at_least) if at_least is not None else ("≤", at_most)
    ok = not math.isnan(value) and (value >= threshold if op == "≥" else value <= threshold)
    record(f"claim.{claim_id.lower()}", value)
    record(f"claim.{claim_id.lower()}.threshold", threshold)
    if verification and shipped_base:
        raise ValueError("a claim is a verification or a shipped-base finding, not both")
    label = (VERIFICATION if verification else SHIPPED_BASE if shipped_base else "") + text
    print(f"CLAIM {claim_id} {'✓' if ok else '✗'} {label}: {value:.4f} (needs {op} {threshold:g})")
    return ok
