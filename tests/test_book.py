"""The book: its sources are consistent, and it builds offline with warnings as errors.

The fast tests check the sources (every citation has a bibliography entry, every page in
the table of contents exists). The slow test runs the real build, exactly as `make book`
does, into a temporary directory.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
BIB = BOOK / "references.bib"

# {cite}`a,b`, {cite:p}`a`, {cite:t}`a`, ... -> the comma-separated keys
CITE_ROLE = re.compile(r"\{cite(?::[a-z]+)?\}`([^`]+)`")
BIB_ENTRY = re.compile(r"^@(\w+)\s*\{\s*([^,\s]+)\s*,", re.MULTILINE)


def _book_texts() -> dict[Path, str]:
    """Markdown of every book page: .md files and the markdown cells of notebooks."""
    texts = {}
    for path in sorted(BOOK.rglob("*")):
        if "_build" in path.relative_to(BOOK).parts or not path.is_file():
            continue
        if path.suffix == ".md":
            texts[path] = path.read_text(encoding="utf-8")
        elif path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            cells = [c for c in nb.get("cells", []) if c.get("cell_type") == "markdown"]
            texts[path] = "\n".join("".join(c.get("source", "")) for c in cells)
    return texts


def _cited_keys() -> dict[str, list[Path]]:
    cited: dict[str, list[Path]] = {}
    for path, text in _book_texts().items():
        for match in CITE_ROLE.finditer(text):
            for key in match.group(1).split(","):
                cited.setdefault(key.strip(), []).append(path)
    return cited


def _bib_keys() -> set[str]:
    text = BIB.read_text(encoding="utf-8")
    return {key for kind, key in BIB_ENTRY.findall(text) if kind.lower() not in {"comment", "string", "preamble"}}


def _toc_files(node) -> list[str]:
    """Every `root:` and `file:` value in the (nested) _toc.yml structure."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("root", "file") and isinstance(value, str):
                found.append(value)
            else:
                found += _toc_files(value)
    elif isinstance(node, list):
        for item in node:
            found += _toc_files(item)
    return found


def _source_exists(stem: Path) -> bool:
    """A TOC entry names a page with or without its extension (.md or .ipynb)."""
    return stem.exists() or any(stem.with_suffix(ext).exists() for ext in (".md", ".ipynb"))


def test_every_cited_key_is_in_the_bibliography():
    cited = _cited_keys()
    assert cited, "no {cite} roles found in book/**/*.md: is the pattern still right?"
    known = _bib_keys()
    missing = {
        key: sorted({str(p.relative_to(REPO)) for p in paths}) for key, paths in cited.items() if key not in known
    }
    assert not missing, f"{{cite}} keys without an entry in book/references.bib: {missing}"


def test_every_bibliography_entry_is_cited():
    # sphinxcontrib-bibtex lists only cited entries: an uncited one would silently vanish.
    uncited = sorted(_bib_keys() - set(_cited_keys()))
    assert not uncited, f"entries of book/references.bib that no page cites: {uncited}"


def test_every_module_is_in_the_api_appendix():
    """Appendix B documents every module of the library (packages re-export, so they are exempt)."""
    src = REPO / "src"
    modules = {
        ".".join(p.relative_to(src).with_suffix("").parts)
        for p in (src / "personalab").rglob("*.py")
        if p.name != "__init__.py"
    }
    documented = set(re.findall(r"automodule:: ([\w.]+)", (BOOK / "appendix" / "api.md").read_text()))
    assert modules <= documented, f"add these modules to book/appendix/api.md: {sorted(modules - documented)}"


def test_every_toc_file_exists():
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    files = _toc_files(toc)
    assert files, "book/_toc.yml lists no files"
    missing = [f for f in files if not _source_exists(BOOK / f)]
    assert not missing, f"book/_toc.yml lists files that do not exist under book/: {missing}"


def test_config_has_no_intersphinx_and_no_static_dir():
    # Both break the offline build (the project's verified Jupyter Book facts): any intersphinx mapping
    # fails -W without network, and JB1 injects every .js in book/_static into every page.
    config = (BOOK / "_config.yml").read_text(encoding="utf-8")
    assert "intersphinx_mapping" not in config
    assert not (BOOK / "_static").exists()


def _page_text(path: Path) -> str:
    """The visible text of a built HTML page, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8"))
    return re.sub(r"\s+", " ", html.unescape(text))


@pytest.mark.slow
def test_book_builds_offline_with_warnings_as_errors(tmp_path):
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    assert jupyter_book.exists(), f"{jupyter_book} not found: install the book extra (pip install -e '.[book]')"
    env = dict(os.environ)
    # Document this checkout's library, whether or not it is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["TQDM_DISABLE"] = "1"
    result = subprocess.run(
        [str(jupyter_book), "build", str(BOOK), "-W", "-n", "--keep-going", "--path-output", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"book build failed (exit {result.returncode}):\n{log[-6000:]}"
    assert "WARNING" not in log, f"book build printed warnings:\n{log[-6000:]}"

    out = tmp_path / "_build" / "html"
    preface = _page_text(out / "intro.html")
    assert "Preface: how to use this book" in preface

    world = _page_text(out / "appendix" / "world.html")
    assert "Appendix A: PersonaWorld reference" in world
    for n in range(1, 6):  # the exact-inference equations carry appendix numbers
        assert f"(A.{n})" in world

    api = _page_text(out / "appendix" / "api.html")
    assert "Appendix B: Library API" in api
    import personalab.world.world as world_module

    first_line = world_module.__doc__.strip().splitlines()[0].replace("``", "")
    assert first_line in api, f"the API page lacks the docstring of personalab.world.world: {first_line!r}"
    assert 'id="personalab.world.world.PersonaWorld"' in (out / "appendix" / "api.html").read_text(encoding="utf-8")

    bibliography = _page_text(out / "appendix" / "bibliography.html")
    assert "persona selection model" in bibliography.lower()
