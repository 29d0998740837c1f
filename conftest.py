"""Repository-wide pytest hooks (the lab notebooks in labs/ are collected from here too).

nbval waits at most 5 seconds for each output message of a cell (``IPyNbCell.output_timeout``
is hard-coded; ``--nbval-cell-timeout`` does not change it; upstream nbval#136 and #231).
A training cell on a loaded 2-core machine can be silent for longer, and then fails with
"Timeout of 5 seconds exceeded waiting for output". The whole cell is still bounded by
``--nbval-cell-timeout`` (nbval's default: 2,000 s).
"""

from __future__ import annotations

NBVAL_OUTPUT_TIMEOUT = 600  # seconds without a message before nbval gives up on a cell


def pytest_collection_modifyitems(items):
    for item in items:
        if type(item).__name__ == "IPyNbCell" and hasattr(item, "output_timeout"):
            item.output_timeout = NBVAL_OUTPUT_TIMEOUT
