"""Small fixes so that the built book shows no errors in a browser, opened from disk or served.

Found by opening every page in headless Chromium (``tests/test_browser.py`` checks them):

- The theme preloads its icon fonts with ``<link rel="preload" ... crossorigin>``. Opened
  from ``file://``, Chromium blocks a CORS request to a file, so every page logged three
  errors. The preloads are only a speed hint (the stylesheet loads the same fonts), so
  they are removed from the written pages.
- sphinx-thebe and sphinx-togglebutton add their inline configuration scripts twice, and
  the second ``const THEBE_JS_URL`` is a SyntaxError on every page. Identical inline
  scripts are kept once.
- pydata-sphinx-theme logs "Got invalid theme mode" on a first visit when no default mode
  is set: it is set to "auto" (follow the reader's system).
- ``personalab.css``: code cells and the lab's printed tables use a slightly smaller font,
  so that lines of 88 characters fit the text column at 1280 px.
"""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"
FONT_PRELOAD = re.compile(r'[ \t]*<link rel="preload" as="font"[^>]*\bcrossorigin\b[^>]*/>\n?')


def _dedupe_inline_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for script in scripts:
        body = script.attributes.get("body") if hasattr(script, "attributes") else None
        if body:
            if body in seen:
                continue
            seen.add(body)
        kept.append(script)
    scripts[:] = kept


def _drop_font_preloads(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = FONT_PRELOAD.sub("", text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def _configure(app, config) -> None:
    config.html_context.setdefault("default_mode", "auto")  # a template variable in this theme
    config.html_static_path.append(str(STATIC))
    app.add_css_file("personalab.css")


def setup(app) -> dict:
    app.connect("config-inited", _configure)
    # After every extension (priority 500) has added its scripts to the page.
    app.connect("html-page-context", _dedupe_inline_scripts, priority=900)
    app.connect("build-finished", _drop_font_preloads)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
