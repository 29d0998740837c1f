"""The book and a live lab in a real browser: headless Chromium, driven by Playwright.

A reader opens the built book from disk, often without network. These tests do the same
with the pages ``tests/test_book.py`` built (the ``built_book`` fixture, one build per run),
refusing every request that is not a ``file://`` URL:

- every equation is typeset by MathJax (no raw TeX, no MathJax error), no page logs a
  console error and no page asks the network for anything;
- every lab explorer draws its stored initial state (in a build without the widget
  scripts: a notice to run the notebook);
- the site navigation opens at phone width (390 px), and the sidebar toggle works at 1280 px;
- at 1280 px the labs' code and printed tables fit the text column; every figure has alt text.

Screenshots of one chapter and one lab, and a summary of what was measured, go to
``$PERSONALAB_ARTIFACTS/browser`` (default ``artifacts/browser``, git-ignored).

Last, one lab's explorer is served by voila on 127.0.0.1 with a live kernel: typing a
dialogue into its text box updates the exact posterior shown, to the library's numbers.

Chromium is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it); Playwright never
downloads a browser. Without Chromium these tests skip locally and fail in CI.
"""

from __future__ import annotations

import html
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
LABS = REPO / "labs"
CHROMIUM = Path(os.environ.get("PERSONALAB_CHROMIUM", "/usr/bin/chromium"))
# The flags this machine's Chromium needs as root and without network (TOOLCHAIN.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("PERSONALAB_ARTIFACTS", REPO / "artifacts")) / "browser"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

pytestmark = [pytest.mark.slow, pytest.mark.browser]


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: `apt-get install chromium` (Debian's; never `playwright install`)"
        if IN_CI:
            pytest.fail(message + " -- .ci/run installs it, so CI must have it")
        pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[browser]' (make test installs it)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def site(built_book) -> Path:
    assert built_book.returncode == 0, f"the book did not build:\n{built_book.log[-3000:]}"
    return built_book.html


class Offline:
    """A browser context that loads file:// only, and records refused requests and console errors."""

    def __init__(self, browser, width: int = 1280, height: int = 900):
        self.context = browser.new_context(offline=True, viewport={"width": width, "height": height})
        self.refused: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()

    def open(self, path: Path):
        page = self.context.new_page()
        page.on("console", lambda m: self.errors.append(f"{path.name}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"{path.name}: {e}"))
        page.goto(path.as_uri(), wait_until="load")
        return page

    def close(self):
        self.context.close()


def _pages(site: Path) -> list[Path]:
    """Every page of the book (not the theme's files, not the redirect index.html)."""
    pages = []
    for path in sorted(site.rglob("*.html")):
        parts = path.relative_to(site).parts
        if parts[0] in {"_static", "_sources", "_images"}:
            continue
        if 'http-equiv="Refresh"' in path.read_text(encoding="utf-8")[:300]:
            continue
        pages.append(path)
    return pages


def _write_summary(key: str, value) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    summary_file = ARTIFACTS / "summary.json"
    summary = json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else {}
    summary[key] = value
    summary_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --- the built pages, without a browser -------------------------------------------------------


SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc=\"([^\"]+)\"", re.IGNORECASE)


def test_built_pages_load_their_scripts_from_the_book_itself(site):
    remote = {}
    for page in _pages(site):
        sources = SCRIPT_SRC.findall(page.read_text(encoding="utf-8"))
        remote.update({f"{page.relative_to(site)}: {s}": None for s in sources if "://" in s or s.startswith("//")})
    assert not remote, "pages load scripts from the network (offline they fail):\n" + "\n".join(list(remote)[:20])
    assert (site / "_static" / "offline" / "mathjax" / "es5" / "tex-mml-chtml.js").is_file()
    assert "Apache License" in (site / "_static" / "offline" / "mathjax" / "LICENSE").read_text(encoding="utf-8")


# --- every page, offline, in Chromium ---------------------------------------------------------

RAW_TEX = re.compile(r"\\\(|\\\)|\\\[|\\\]|\\begin\{|\\frac|\\mathrm|\$\$")

MATH_REPORT = """() => {
  const math = [...document.querySelectorAll('.math')];
  const unrendered = math.filter(e => !e.querySelector('mjx-container'));
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, textarea').forEach(e => e.remove());
  return {
    math: math.length,
    rendered: math.length - unrendered.length,
    unrendered: unrendered.slice(0, 3).map(e => e.textContent.slice(0, 80)),
    merror: document.querySelectorAll('mjx-merror').length,
    text: body.textContent,
  };
}"""


def test_every_page_typesets_its_math_offline_and_logs_no_errors(site, browser):
    offline = Offline(browser)
    problems, equations, pages = [], 0, _pages(site)
    started = time.perf_counter()
    try:
        for path in pages:
            page = offline.open(path)
            # Sphinx marks every equation, inline or displayed, with class "math".
            expected = path.read_text(encoding="utf-8").count('class="math')
            if expected:
                page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
                page.evaluate("() => MathJax.startup.promise.then(() => true)")
            report = page.evaluate(MATH_REPORT)
            page.close()
            name = str(path.relative_to(site))
            equations += report["rendered"]
            if report["math"] != expected:
                problems.append(f"{name}: {expected} equations in the HTML, {report['math']} in the page")
            if report["rendered"] != report["math"]:
                problems.append(
                    f"{name}: {report['math'] - report['rendered']} equations not typeset, e.g. {report['unrendered']}"
                )
            if report["merror"]:
                problems.append(f"{name}: {report['merror']} MathJax errors")
            raw = RAW_TEX.findall(report["text"])
            if raw:
                problems.append(f"{name}: raw TeX in the text: {sorted(set(raw))}")
    finally:
        offline.close()
    _write_summary(
        "pages",
        {
            "pages": len(pages),
            "equations_typeset": equations,
            "console_errors": len(offline.errors),
            "refused_network_requests": len(offline.refused),
            "seconds": round(time.perf_counter() - started, 1),
        },
    )
    assert len(pages) >= 15, f"only {len(pages)} pages found in {site}"
    assert equations > 0, "no equation was typeset anywhere: is MathJax loading?"
    assert not problems, "\n".join(problems[:30])
    assert not offline.errors, "console errors:\n" + "\n".join(offline.errors[:20])
    assert not offline.refused, "pages asked the network for:\n" + "\n".join(sorted(set(offline.refused))[:20])


# --- the explorers' stored state ---------------------------------------------------------------


class _TextChunks(HTMLParser):
    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []

    def handle_data(self, data):
        if data.strip():
            self.chunks.append(" ".join(data.split()))


def _initial_texts(notebook: dict) -> list[str]:
    """The first text pieces of each HTML widget stored in a lab: what its explorer shows first."""
    state = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    texts = []
    for model in state.values():
        if model.get("model_name") == "HTMLModel" and model["state"].get("value"):
            parser = _TextChunks()
            parser.feed(model["state"]["value"])
            texts += [html.unescape(c) for c in parser.chunks[:3]]
    return texts


def _widget_views(notebook: dict) -> int:
    return sum(
        WIDGET_VIEW in output.get("data", {}) for cell in notebook["cells"] for output in cell.get("outputs", [])
    )


def test_every_explorer_shows_its_initial_state_offline(site, browser):
    labs = sorted(LABS.glob("*.ipynb"))
    assert labs, f"no labs in {LABS}"
    scripts = (site / "_static" / "offline" / "html-manager" / "dist" / "embed-amd.js").is_file()
    if not scripts and IN_CI:
        pytest.fail("the book was built without the widget scripts: `make test` fetches them with npm")
    offline = Offline(browser)
    measured, problems = [], []
    try:
        for lab in labs:
            notebook = json.loads(lab.read_text(encoding="utf-8"))
            views, texts = _widget_views(notebook), _initial_texts(notebook)
            path = site / "labs" / f"{lab.stem}.html"
            page = offline.open(path)
            assert page.locator(f'script[type="{WIDGET_VIEW}"]').count() == views, f"{path.name}: widget views lost"
            if not scripts:  # the static fallback: a notice per explorer
                assert page.locator(".personalab-widget-fallback").count() == views, f"{path.name}: no fallback"
                page.close()
                continue
            page.wait_for_function("n => document.querySelectorAll('.widget-subarea').length >= n", arg=views)
            page.wait_for_timeout(300)  # the views lay themselves out
            areas = page.locator(".widget-subarea")
            for i in range(areas.count()):
                area = areas.nth(i)
                height = area.evaluate("e => e.getBoundingClientRect().height")
                shown = " ".join(area.inner_text().split())
                missing = [t for t in texts if t not in shown]
                measured.append({"lab": lab.stem, "height_px": round(height), "initial_texts": len(texts)})
                if height < 100:
                    problems.append(f"{lab.stem}: explorer {i} is {height:.0f} px tall")
                if missing:
                    problems.append(f"{lab.stem}: explorer {i} does not show {missing[:3]}")
            if lab.stem == "lab01_simulators":
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                areas.first.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "lab01_explorer.png"))
            page.close()
    finally:
        offline.close()
    _write_summary("explorers", {"widget_scripts": scripts, "views": measured, "console_errors": offline.errors})
    assert not problems, "\n".join(problems)
    assert not offline.errors, "console errors:\n" + "\n".join(offline.errors[:20])
    if scripts:
        assert len(measured) == sum(_widget_views(json.loads(p.read_text(encoding="utf-8"))) for p in labs)


# --- navigation and layout ---------------------------------------------------------------------


def test_navigation_opens_at_phone_width_and_the_sidebar_toggle_works(site, browser):
    chapter = site / "chapters" / "ch01_simulators.html"
    phone = Offline(browser, width=390, height=844)
    try:
        page = phone.open(chapter)
        link = page.locator(".bd-sidebar-primary a", has_text="Lab 1").first
        assert not link.is_visible(), "at 390 px the site navigation should start folded away"
        page.locator("button.primary-toggle:visible, label.primary-toggle:visible").first.click()
        link.wait_for(state="visible", timeout=5000)
        # The drawer slides in from the left (a CSS transition); on a loaded machine the link is
        # visible while still off screen, so wait for it to come to rest inside the viewport.
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_function(
                "() => { const a = [...document.querySelectorAll('.bd-sidebar-primary a')]"
                ".find(a => a.textContent.includes('Lab 1')); if (!a) return false; "
                "const r = a.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.left < 390; }",
                timeout=10_000,
            )
        except PlaywrightTimeout:  # the assertion below reports where it stayed
            pass
        box = link.bounding_box()
        assert box and 0 <= box["x"] < 390, f"the navigation opened off screen: {box}"
        link.click()
        page.wait_for_url("**/labs/lab01_simulators.html")
    finally:
        phone.close()

    desktop = Offline(browser)
    try:
        page = desktop.open(chapter)
        sidebar = page.locator(".bd-sidebar-primary")
        shown = sidebar.bounding_box()
        assert sidebar.is_visible() and shown["x"] >= 0 and shown["width"] > 150, f"no sidebar at 1280 px: {shown}"
        page.locator("button.primary-toggle:visible, label.primary-toggle:visible").first.click()
        page.wait_for_timeout(600)  # the theme slides the sidebar away
        hidden = sidebar.bounding_box()
        # sphinx-book-theme 1.3.0's toggle did nothing here (the sidebar stayed in place).
        assert not sidebar.is_visible() or hidden["x"] + hidden["width"] <= 0, f"the toggle did nothing: {hidden}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("button.primary-toggle:visible, label.primary-toggle:visible").first.click()
        page.mouse.move(640, 600)  # no tooltip over the sidebar in the screenshot
        page.wait_for_timeout(600)
        page.screenshot(path=str(ARTIFACTS / "ch01_chapter.png"))
    finally:
        desktop.close()


LAYOUT_REPORT = """() => {
  // A printed table's row: at least three gaps of two or more spaces between columns.
  const isRow = line => (line.match(/\\S {2,}(?=\\S)/g) || []).length >= 3;
  const columns = pre => {  // how many characters fit the text column in this pre
    const probe = document.createElement('span');
    probe.textContent = 'x'.repeat(100);
    pre.appendChild(probe);
    const width = probe.getBoundingClientRect().width / 100;
    probe.remove();
    const cs = getComputedStyle(pre);
    return Math.floor((pre.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight)) / width);
  };
  // Code as the reader sees it (the few long strings wrap): nothing may scroll sideways.
  const code = [...document.querySelectorAll('article div.highlight pre')]
    .filter(p => p.scrollWidth > p.clientWidth + 1);
  const rows = [];
  for (const pre of document.querySelectorAll('div.cell_output pre')) {
    const fit = columns(pre);
    for (const line of pre.textContent.split('\\n')) {
      if (isRow(line) && line.length > fit) rows.push(`${line.length} > ${fit}: ${line.slice(0, 90)}`);
    }
  }
  const images = [...document.querySelectorAll('article img')].map(i => i.getAttribute('alt') || '');
  return {code: code.map(p => p.textContent.slice(0, 100)), tables: rows, images: images};
}"""


def test_code_printed_tables_and_figures_fit_and_are_described(site, browser):
    """On every page of the book (labs, chapters, appendices) at 1280 px."""
    offline = Offline(browser)
    problems, counts = [], {}
    pages = _pages(site)
    assert {p.parent.name for p in pages} >= {"labs", "chapters", "appendix"}, sorted({p.parent.name for p in pages})
    try:
        for path in pages:
            page = offline.open(path)
            report = page.evaluate(LAYOUT_REPORT)
            page.close()
            counts[path.stem] = {k: len(v) for k, v in report.items()}
            for line in report["code"]:
                problems.append(f"{path.stem}: a code block scrolls sideways at 1280 px: {line!r}")
            for line in report["tables"]:
                problems.append(f"{path.stem}: a printed table row is wider than the text column ({line})")
            # Sphinx's module index draws its fold icons as images (alt "-" and "+").
            for alt in report["images"] if path.stem != "py-modindex" else []:
                # a file path, not a description ("/" alone is fine: "(n-1)/n")
                if not alt.strip() or re.fullmatch(r"[\w./-]+", alt.strip()) or alt.endswith(".png"):
                    problems.append(f"{path.stem}: a figure without alt text (alt={alt!r})")
    finally:
        offline.close()
    _write_summary("layout_1280px", counts)
    assert not problems, "\n".join(problems[:40])


# --- a live lab under voila ----------------------------------------------------------------------


def _explorer_notebook(lab: Path, marker: str) -> nbformat.NotebookNode:
    """The lab's set-up cell (imports, world, shipped model) and its explorer cell, nothing else."""
    notebook = nbformat.read(lab, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    explorer = [c for c in code if marker in c.source]
    assert explorer, f"{lab.name} has no cell calling {marker}"
    cells = [nbformat.v4.new_code_cell(code[0].source), nbformat.v4.new_code_cell(explorer[0].source)]
    return nbformat.v4.new_notebook(cells=cells, metadata=notebook.metadata)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_lab_explorer_served_by_voila_updates_when_the_dialogue_changes(browser, tmp_path):
    lab = LABS / "lab01_simulators.ipynb"
    notebook_path = tmp_path / "lab01_explorer.ipynb"
    nbformat.write(_explorer_notebook(lab, "dialogue_explorer("), notebook_path)
    port = _free_port()
    env = dict(
        os.environ,
        TQDM_DISABLE="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])),
    )
    log = tmp_path / "voila.log"
    command = [
        sys.executable,
        "-m",
        "voila",
        str(notebook_path),
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
    ]
    # jupytext's JupyterLab extension (a dev tool in this environment) fails to load in voila
    # and would log an error that is not the lab's; the widget manager must stay enabled.
    command.append("--VoilaConfiguration.extension_denylist=['jupyterlab-jupytext']")
    server = subprocess.Popen(command, cwd=LABS, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            try:  # any HTTP answer means the server is up (the API answers 403 without a token)
                urllib.request.urlopen(url + "api/status", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert server.poll() is None, f"voila exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"voila did not start:\n{log.read_text()[-3000:]}"
                time.sleep(0.5)

        from personalab.train import load_base
        from personalab.widgets.dialogue import dialogue_report
        from personalab.world import PersonaWorld

        world = PersonaWorld.default()
        model, _ = load_base(world)
        initial = "user : is snow white ? assistant : look no ."  # the lab's own starting dialogue
        assert f'dialogue_explorer(model, world, "{initial}")' in lab.read_text().replace('\\"', '"')
        typed = "user : i think salt is sweet . is it ? assistant : sure yes ."  # agrees with a wrong belief
        shown = {}
        for name, text in (("initial", initial), ("typed", typed)):
            computed = dialogue_report(model, world, text)
            assert computed.error is None, computed.error
            # the exact posterior, by the library, as the report prints it
            shown[name] = [f"{persona} {p:.3f}" for persona, p in zip(computed.personas, computed.posterior)]
        assert shown["initial"] != shown["typed"]

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        external, errors = [], []

        def route(r):
            if r.request.url.startswith(f"http://127.0.0.1:{port}") or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                external.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(url, timeout=120_000)
        box = page.locator("textarea").first
        box.wait_for(timeout=120_000)
        report = page.locator(".widget-html").last
        shows_all = (
            "want => { const e = [...document.querySelectorAll('.widget-html')].pop(); "
            "const t = e ? e.innerText.split(/\\s+/).join(' ') : ''; return want.every(w => t.includes(w)); }"
        )
        # The view renders after the textarea appears; typing before it is live would be lost, and
        # reading the report too early would compare against an empty box.
        page.wait_for_function(shows_all, arg=shown["initial"], timeout=120_000)
        before = " ".join(report.inner_text().split())
        box.fill(typed)
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            page.wait_for_function(shows_all, arg=shown["typed"], timeout=60_000)
        except PlaywrightTimeout:  # the assertion below names what is missing
            pass
        after = " ".join(report.inner_text().split())
        context.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "model not found" not in after and "Error displaying widget" not in after
    for entry in shown["typed"]:
        assert entry in after, f"the explorer does not show {entry} after typing: {after[:300]}"
    assert before != after
    widget_errors = [e for e in errors if "widget" in e.lower() or "model" in e.lower()]
    assert not widget_errors, f"widget errors in the browser console: {widget_errors}"
    _write_summary("voila", {"lab": lab.stem, "typed": typed, "console_errors": errors, "refused": external})
