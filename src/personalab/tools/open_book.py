"""Open the built book in a browser when there is one; otherwise just say where it is."""

from __future__ import annotations

import os
import sys
import webbrowser
from pathlib import Path


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "book/_build/html/index.html").resolve()
    if not path.exists():
        print(f"no book at {path}; run `make book` first", file=sys.stderr)
        return 1
    headless = sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if headless or not webbrowser.open(path.as_uri()):
        print(f"(no browser here: open {path.as_uri()} yourself)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
