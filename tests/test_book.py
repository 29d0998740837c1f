"""The book: its sources are consistent, and it builds offline with warnings as errors.

The fast tests check the sources (every citation has a bibliography entry, every page in
the table of contents exists). The slow test runs the real build, exactly as `make book`
does, into a temporary directory.
"""

from __future__ import annotations

import html
import json
import re
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
def test_book_builds_offline_with_warnings_as_errors(built_book):
    # Built once per run by tests/conftest.py (tests/test_browser.py opens the same pages).
    log = built_book.log
    assert built_book.returncode == 0, f"book build failed (exit {built_book.returncode}):\n{log[-6000:]}"
    assert "WARNING" not in log, f"book build printed warnings:\n{log[-6000:]}"

    out = built_book.html
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


TOY_ROLE = re.compile(r"\{toy\}`([^`]+)`")


def _toynumbers():
    import importlib.util

    spec = importlib.util.spec_from_file_location("toynumbers", BOOK / "_ext" / "toynumbers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toy_role_formats_the_reference_run_the_range_over_seeds_and_other_bases():
    toy = _toynumbers()
    measured = [(0, 0.912), (1, -0.05), (9, 5)]
    runs = [{"lab": "lab9", "seed": s, "base_seed": None, "values": {"rise": v}} for s, v in measured]
    for base, v, ok in ((3, 7.0, "✓"), (4, -2.0, "✗")):  # other bases: quoted only with :bases / :holding
        claims = {"2a": {"id": "2a", "ok": ok}}
        runs.append({"lab": "lab9", "seed": 0, "base_seed": base, "values": {"rise": v}, "claims": claims})
    runs.append({"lab": "lab9", "seed": 1, "base_seed": 5, "values": {"rise": 99.0}, "claims": {}})  # not seed 0
    results = {"seeds": {"reference": 0, "calibration": [0, 1]}, "runs": runs}
    assert toy.lookup(results, "lab9/rise") == "0.912"
    assert toy.lookup(results, "lab9/rise:.2f") == "0.91"
    assert toy.lookup(results, "lab9/rise:.2f:range") == "−0.05 to 0.91"
    assert toy.lookup(results, "lab9/rise@9:.1f") == "5.0"
    with pytest.raises(KeyError, match="make bench"):
        toy.lookup(results, "lab9/fall")
    with pytest.raises(ValueError, match="range"):
        toy.lookup(results, "lab9/rise:.2f:spread")
    assert toy.lookup(results, "lab9/rise:.1f:bases") == "−2.0 to 7.0"
    assert toy.lookup(results, "lab9/claim.2a:holding") == "1 of 2"
    with pytest.raises(ValueError, match="name a claim"):
        toy.lookup(results, "lab9/rise:holding")
    with pytest.raises(KeyError, match="pretrain-seeds"):
        toy.lookup(results, "lab9/claim.9z:holding")
    # :seeds counts verdicts over the calibration and validation runs on the shipped base
    for run, ok in zip(runs[:3], ("✓", "✗", "✓")):
        run["claims"] = {"2a": {"id": "2a", "ok": ok}}
    results["seeds"]["validation"] = [9]
    assert toy.lookup(results, "lab9/claim.2a:seeds") == "2 of 3"
    results["seeds"]["validation"] = []
    assert toy.lookup(results, "lab9/claim.2a:seeds") == "1 of 2"
    with pytest.raises(KeyError, match="make bench`"):
        toy.lookup(results, "lab9/claim.9z:seeds")


def test_param_role_quotes_the_settings_of_the_library():
    toy = _toynumbers()
    settings = toy.settings()
    from personalab.train.loop import TrainConfig
    from personalab.world import PersonaWorld

    world = PersonaWorld.default()
    prior = world.prior[world.personas.index("villain")]
    assert toy.lookup_param(settings, "world.personas.villain.prior:.2f") == f"{prior:.2f}"
    assert toy.lookup_param(settings, "train.steps:,") == f"{TrainConfig().steps:,}"
    with pytest.raises(KeyError, match="no 'nobody' there"):
        toy.lookup_param(settings, "world.personas.nobody.prior")
    with pytest.raises(ValueError, match="not a number"):
        toy.lookup_param(settings, "world.name")


PARAM_ROLE = re.compile(r"\{param\}`([^`]+)`")


def test_every_generated_number_in_the_book_resolves():
    toy = _toynumbers()
    results = json.loads((BOOK / "results.json").read_text(encoding="utf-8"))
    settings = toy.settings()
    for path, text in _book_texts().items():
        for pattern, resolve, source in ((TOY_ROLE, toy.lookup, results), (PARAM_ROLE, toy.lookup_param, settings)):
            for match in pattern.finditer(text):
                try:
                    resolve(source, match.group(1))
                except (KeyError, ValueError) as exc:
                    pytest.fail(f"{path.relative_to(REPO)}: `{match.group(0)}`: {exc}")


def _toystrip():
    import importlib.util
    import sys

    sys.modules.setdefault("toynumbers", _toynumbers())  # toystrip imports it, as Sphinx's _ext path allows
    spec = importlib.util.spec_from_file_location("toystrip", BOOK / "_ext" / "toystrip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_toystrip_groups_runs_by_calibration_validation_and_pretraining_seed(tmp_path):
    strip = _toystrip()
    runs = [{"lab": "lab9", "seed": s, "base_seed": None, "values": {"rise": 0.1 * s}} for s in (0, 1, 8)]
    runs.append({"lab": "lab9", "seed": 0, "base_seed": 3, "values": {"rise": 7.0}})
    runs.append({"lab": "lab8", "seed": 1, "base_seed": None, "values": {"rise": 9.0}})  # another lab
    results = {"seeds": {"reference": 0, "calibration": [0, 1], "validation": [8]}, "runs": runs}
    groups = strip.strip_values(results, "lab9", "rise")
    assert groups == {"calibration": [(0, 0.0), (1, 0.1)], "validation": [(8, 0.8)], "pretrain": [(3, 7.0)]}
    with pytest.raises(KeyError, match="make bench"):
        strip.strip_values(results, "lab9", "fall")
    assert strip.parse_rows(["a | lab9/rise", "", "b|lab8/rise"]) == [("a", "lab9", "rise"), ("b", "lab8", "rise")]
    for bad in (["lab9/rise"], ["a | rise"], [" | lab9/rise"], []):
        with pytest.raises(ValueError, match="label \\| lab/key|at least one row"):
            strip.parse_rows(bad)
    strip.draw([("rise", groups)], "rise", tmp_path / "s.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


TOYSTRIP = re.compile(r"```\{toystrip\}\n(.*?)```", re.S)


def test_every_strip_plot_in_the_book_has_its_runs():
    strip = _toystrip()
    results = json.loads((BOOK / "results.json").read_text(encoding="utf-8"))
    found = 0
    for path, text in _book_texts().items():
        for block in TOYSTRIP.finditer(text):
            lines = [line for line in block.group(1).splitlines() if not line.startswith(":")]
            for label, lab, key in strip.parse_rows(lines):
                groups = strip.strip_values(results, lab, key)
                assert len(groups["calibration"]) == len(results["seeds"]["calibration"]), (path.name, label)
                found += 1
    assert found > 0, "no toystrip in the book: the spread over seeds is shown nowhere"


# --- no hand-typed numbers about the toy --------------------------------------------------
# A decimal in a chapter must come from a {toy} or {param} role, unless its paragraph (or
# table) cites a paper: numbers from papers stay typed, with their citation. Code (fenced or
# inline, checked by the doctests) and numbered references ("Exercise 3.1", "**1.2**") are
# not numbers about the toy.
DECIMAL = re.compile(r"(?<![\w.])[−-]?\d+\.\d+(?![\w.]*\d)")
NOT_A_NUMBER = re.compile(
    r"\{[a-z:]+\}`[^`]*`"  # a role: {toy}, {param}, {eq}, {ref}, ...
    r"|`[^`]*`"  # inline code
    r"|\*\*\d+\.\d+\*\*"  # an exercise's number in a list, **3.1**
    r"|\b(?:[Ee]xercises?|[Ss]ections?|[Cc]laims?|[Ll]abs?|[Cc]hapters?|[Ff]igures?|[Tt]ables?)\s+\d+\.\d+"
)


def _paragraphs(text: str):
    """(first line number, lines) of each block between blank lines, outside code fences.

    MyST directives such as ```{admonition} hold prose and are read; ```python, plain ```
    and ```{code-block} / ```{code-cell} fences hold code and are skipped, and so do the
    rows of ```{scorecards}: a method's name and its result key, named as the lab's code
    names it ("RLHF β = 0.02"), with every number in the table generated."""
    block, start, fences = [], 0, []  # a stack of open fences: "code" or "prose"
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            info = stripped[3:].strip()
            if not info and fences:  # a closing fence
                fences.pop()
            else:
                prose = info.startswith("{") and not info.startswith(("{code", "{eval-rst", "{scorecards"))
                fences.append("prose" if prose else "code")
            if block:
                yield start, block
            block = []
            continue
        if "code" in fences:
            continue
        if not stripped:
            if block:
                yield start, block
            block = []
            continue
        if not block:
            start = number
        block.append(line)
    if block:
        yield start, block


def hand_typed_decimals(text: str) -> list[tuple[int, str, str]]:
    """(line, number, line text) of every decimal that neither a role nor a citation covers."""
    found = []
    for start, block in _paragraphs(text):
        if "{cite" in "\n".join(block):
            continue
        for offset, line in enumerate(block):
            for match in DECIMAL.finditer(NOT_A_NUMBER.sub(" ", line)):
                found.append((start + offset, match.group(), line.strip()))
    return found


def test_the_decimal_scanner_tells_typed_from_generated_numbers():
    text = (
        "The gap is 0.0021 nats.\n\nThe gap is {toy}`lab01_simulators/claim.1a:.4f`; see Exercise 1.2.\n\n"
        "Gao et al. found 0.5 {cite}`gao2022scaling`.\n\n```python\nx = 0.25\n```\n\n- **1.1** the update\n\n"
        "```{admonition} Answer\n:class: dropdown\nIt rose by 0.3.\n```\n\n```\nplain 0.7\n```\n"
    )
    assert [(n, v) for n, v, _ in hand_typed_decimals(text)] == [(1, "0.0021"), (15, "0.3")]


@pytest.mark.parametrize("chapter", sorted((BOOK / "chapters").glob("*.md")), ids=lambda p: p.stem)
def test_no_number_about_the_toy_is_typed_by_hand(chapter):
    typed = hand_typed_decimals(chapter.read_text(encoding="utf-8"))
    listing = "\n".join(f"  line {n}: {v}  in: {t[:90]}" for n, v, t in typed[:30])
    assert not typed, (
        f"{chapter.name} types {len(typed)} decimal(s) by hand. Quote a lab's measurement with "
        f"{{toy}}`lab/key` (record it with personalab.results.record) or a setting with {{param}}`world...`, "
        f"or cite the paper the number comes from:\n{listing}"
    )
