"""The book's JavaScript is served from the built book itself, so it works offline and from disk.

By default Sphinx loads MathJax from a CDN and myst-nb loads require.js and the widget
manager (``@jupyter-widgets/html-manager``, which draws the stored state of the labs'
explorers) from two more. Without network every equation then shows as raw TeX and every
explorer as an empty box. This extension replaces the three with local copies:

- **MathJax 3** from the PyPI package ``django-static-mathjax`` (MathJax's own files,
  Apache-2.0, with MathJax's LICENSE and package.json; its version is MathJax's version).
  It is a dependency of the ``book`` extra, so it is always there; without it the build
  stops with the install command.
- **require.js and the widget manager** from the npm packages ``requirejs`` (MIT) and
  ``@jupyter-widgets/html-manager`` (BSD-3-Clause). No Python package ships them, so
  ``make book`` / ``make test`` fetch the two tarballs by name once, up front, with npm
  (``python book/_ext/offline_assets.py fetch DEST``; only the tarballs, not their
  dependency trees) into ``.venv/share/personalab/web``. They are loaded *without*
  ``crossorigin="anonymous"``: Chromium refuses such scripts on ``file://`` pages.
  If they were not fetched (no npm), each explorer shows a static notice instead of an
  empty box: "run the notebook to interact".

``PERSONALAB_BOOK_CDN=1`` keeps the CDN defaults (an online build, e.g. for a web host);
``PERSONALAB_WEB_ASSETS`` points at another folder of fetched widget scripts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# npm packages fetched for the explorers. html-manager 1.x renders ipywidgets 8 state
# (pyproject: ipywidgets>=8,<9); require.js 2.x is the AMD loader it expects.
NPM_PACKAGES = {
    "html-manager": "@jupyter-widgets/html-manager@1",
    "requirejs": "requirejs@2",
}
# Files of each package that the built book needs (paths inside the npm tarball).
NPM_FILES = {
    "html-manager": ["package/package.json", "package/dist/"],
    "requirejs": ["package/package.json", "package/require.js"],
}
# Not needed by a page that loads embed-amd.js (the other bundles and a 6 MB source map).
NPM_SKIP = (".map", "libembed-amd.js")  # and embed.js, below
NPM_SKIP_NAMES = {"embed.js"}
MATHJAX_COMPONENT = "tex-mml-chtml.js"  # Sphinx's default component, served locally
# Combined components other than the one we load: not copied (they would add 14 MB).
MATHJAX_SKIP = {
    "tex-chtml.js",
    "tex-chtml-full.js",
    "tex-chtml-full-speech.js",
    "tex-svg.js",
    "tex-svg-full.js",
    "tex-mml-svg.js",
    "mml-chtml.js",
    "mml-svg.js",
    "node-main.js",
}
STATIC_SUBDIR = "offline"  # inside the built book's _static/

# On pages with explorers, between require.js and the widget manager (embed-amd.js):
# - the manager finds its icon fonts next to the AMD module that loads them; without a path
#   require.js places that module next to the page (labs/@jupyter-widgets/...: not found);
# - ipywidgets 8 typesets widget labels with MathJax 2's API (MathJax.Hub.Queue), which
#   MathJax 3 lacks: every explorer logged a TypeError. A two-line shim maps it to MathJax 3.
WIDGET_PAGE_JS = """
require.config({paths: {"@jupyter-widgets/html-manager/dist": "%(dist)s"}});
document.addEventListener("DOMContentLoaded", function () {
  if (window.MathJax && !window.MathJax.Hub && window.MathJax.startup) {
    window.MathJax.Hub = {Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : null;
      if (element) { MathJax.startup.promise.then(function () { return MathJax.typesetPromise([element]); }); }
    }};
  }
});
"""

# Shown in place of each explorer when the widget scripts are not in this build.
FALLBACK_JS = """
document.addEventListener("DOMContentLoaded", function () {
  var views = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]');
  views.forEach(function (view) {
    var note = document.createElement("div");
    note.className = "personalab-widget-fallback admonition note";
    note.innerHTML = "<p class='admonition-title'>Interactive explorer</p>" +
      "<p>This copy of the book was built without the widget scripts, so the explorer's " +
      "initial state is not drawn here. Run the notebook to interact (<code>make lab</code>).</p>";
    view.parentNode.insertBefore(note, view);
  });
});
"""


# --- locating the assets -------------------------------------------------------------------


def mathjax_dir() -> Path:
    """MathJax's folder inside the installed ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    root = Path(spec.origin).parent / "static" / "mathjax" if spec and spec.origin else None
    if root is None or not (root / "es5" / MATHJAX_COMPONENT).is_file():
        raise RuntimeError(
            "a local MathJax 3 is needed for the offline book: install the book extra "
            "(pip install -e '.[book]', which brings django-static-mathjax)"
        )
    version = mathjax_version(root)
    if not version.startswith("3."):
        raise RuntimeError(f"MathJax 3 expected in {root}, found {version}: pip install 'django-static-mathjax<4'")
    return root


def mathjax_version(root: Path) -> str:
    return json.loads((root / "package.json").read_text(encoding="utf-8"))["version"]


def web_assets_dir() -> Path:
    """Where ``fetch`` puts the widget scripts: ``$PERSONALAB_WEB_ASSETS`` or the venv's share/."""
    env = os.environ.get("PERSONALAB_WEB_ASSETS")
    return Path(env) if env else Path(sys.prefix) / "share" / "personalab" / "web"


def widget_scripts(folder: Path) -> dict[str, Path] | None:
    """The two widget scripts in a fetched folder, or None if they are not (all) there."""
    files = {
        "requirejs": folder / "requirejs" / "require.js",
        "html-manager": folder / "html-manager" / "dist" / "embed-amd.js",
    }
    return files if all(p.is_file() for p in files.values()) else None


# --- fetching the widget scripts (run by make, never at build time) ------------------------


def _needed(member: str, wanted: list[str]) -> bool:
    """Is this tarball member one of the files (or inside one of the folders) the book needs?"""
    listed = any(member == f or (f.endswith("/") and member.startswith(f)) for f in wanted)
    name = Path(member).name
    return listed and name not in NPM_SKIP_NAMES and not name.endswith(NPM_SKIP)


def fetch(dest: Path, npm: str = "npm") -> dict[str, str]:
    """``npm pack`` each package by name and unpack the files the book needs into ``dest``.

    Returns {package: version}. Raises RuntimeError with npm's message when npm fails."""
    if shutil.which(npm) is None:
        raise FileNotFoundError(f"{npm} not found")
    versions = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in NPM_PACKAGES.items():
            result = subprocess.run([npm, "pack", "--silent", spec], cwd=tmp, capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"`npm pack {spec}` failed:\n{result.stderr.strip()}")
            tarball = Path(tmp) / result.stdout.strip().splitlines()[-1]
            target = dest / name
            shutil.rmtree(target, ignore_errors=True)
            with tarfile.open(tarball) as tar:
                wanted = [m for m in tar.getmembers() if m.isfile() and _needed(m.name, NPM_FILES[name])]
                for member in wanted:
                    member.name = member.name.removeprefix("package/")
                tar.extractall(target, members=wanted, filter="data")
            meta = json.loads((target / "package.json").read_text(encoding="utf-8"))
            versions[name] = f"{meta['name']} {meta['version']} ({meta.get('license', 'licence not stated')})"
    (dest / "VERSIONS.json").write_text(json.dumps(versions, indent=2) + "\n", encoding="utf-8")
    return versions


# --- the Sphinx side -----------------------------------------------------------------------


def _configure(app, config) -> None:
    app.personalab_offline = None
    if os.environ.get("PERSONALAB_BOOK_CDN") == "1":
        return  # an online build keeps Sphinx's and myst-nb's CDN defaults
    root = mathjax_dir()
    config.mathjax_path = f"{STATIC_SUBDIR}/mathjax/es5/{MATHJAX_COMPONENT}"
    scripts = widget_scripts(web_assets_dir())
    # myst-nb still stores each lab's widget state in its page; the scripts that draw it
    # are added by _widget_page_scripts (in the order they need).
    config.nb_ipywidgets_js = {}
    app.personalab_offline = {"mathjax": root, "widgets": scripts}


def _widget_page_scripts(app, pagename, templatename, context, doctree) -> None:
    offline = app.personalab_offline
    if not offline:
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    if "ipywidgets_state" not in NbMetadataCollector.get_js_files(app.env, pagename):
        return
    if offline["widgets"]:
        # Plain <script src> tags: no integrity/crossorigin, which break file:// pages.
        dist = context["pathto"](f"_static/{STATIC_SUBDIR}/html-manager/dist", 1)
        app.add_js_file(f"{STATIC_SUBDIR}/requirejs/require.js")
        app.add_js_file(None, body=WIDGET_PAGE_JS % {"dist": dist})
        app.add_js_file(f"{STATIC_SUBDIR}/html-manager/dist/embed-amd.js")
    else:
        app.add_js_file(None, body=FALLBACK_JS)


def _copy_assets(app, exception) -> None:
    offline = app.personalab_offline
    if exception is not None or not offline or app.builder.format != "html":
        return
    static = Path(app.outdir) / "_static" / STATIC_SUBDIR
    root = offline["mathjax"]
    target = static / "mathjax"
    shutil.rmtree(target, ignore_errors=True)
    es5 = root / "es5"
    shutil.copytree(
        es5, target / "es5", ignore=lambda d, names: [n for n in names if n in MATHJAX_SKIP and Path(d) == es5]
    )
    for name in ("LICENSE", "package.json"):
        shutil.copy2(root / name, target / name)
    if offline["widgets"]:
        source = web_assets_dir()
        for name in NPM_PACKAGES:
            shutil.rmtree(static / name, ignore_errors=True)
            shutil.copytree(source / name, static / name)


def setup(app) -> dict:
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _widget_page_scripts)
    app.connect("build-finished", _copy_assets)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "fetch":
        print("usage: python book/_ext/offline_assets.py fetch DEST", file=sys.stderr)
        return 2
    dest = Path(argv[2])
    try:
        versions = fetch(dest)
    except FileNotFoundError:
        print(
            ">> npm not found: the book will build, but its explorers will show a static notice "
            "instead of their initial state (install Node.js/npm and run `make book` again)",
            file=sys.stderr,
        )
        return 0
    for name, version in versions.items():
        print(f">> fetched {version} into {dest / name}")
    (dest / ".fetched").touch()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
