"""Progress bars for long loops: live for a reader, absent from stored outputs.

Book: Preface (section *Reproducibility*). Every training loop shows a tqdm bar
(``tqdm.auto``: a widget in Jupyter, text in a terminal). ``TQDM_DISABLE=1`` -- set by the
Makefile, CI and ``make labs`` -- turns it off. tqdm's own notebook bar ignores that
variable (only ``tqdm.std`` reads it) and would store a hidden progress widget in every
executed lab, which renders as a blank gap in the book; so the variable is read here and
passed on explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from tqdm.auto import tqdm

DISABLE_ENV = "TQDM_DISABLE"


def progress_disabled() -> bool:
    """True when ``$TQDM_DISABLE`` is set to anything but empty, ``0`` or ``false``."""
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false")


def progress(iterable: Iterable, desc: str, **kwargs) -> tqdm:
    """``tqdm.auto.tqdm(iterable, desc=desc, leave=False)``, off when ``$TQDM_DISABLE`` says so."""
    kwargs.setdefault("leave", False)
    return tqdm(iterable, desc=desc, disable=progress_disabled(), **kwargs)
