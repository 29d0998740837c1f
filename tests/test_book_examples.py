"""Every example output shown in the book is produced by the code, so none can go stale.

Two kinds of example are checked:

* **Python examples** are doctests: ``>>>`` lines followed by their exact output, inside
  ```python fences of ``book/**/*.md``. Each page that contains ``>>>`` is run with
  :func:`doctest.testfile` (all examples of a page share one namespace, top to bottom).
  Doctest reads an example's output up to the next blank line, so a fence that closes
  right after an output must be preceded by a blank line.
* **Command-line examples**: a marker line ``<!-- checked-command: personalab sample ... -->``
  (invisible in the book) immediately before a ```text or ```console block whose content is
  exactly what the command prints. The command runs in-process through
  :func:`personalab.cli.main`; the prose just before the marker must show the command.

Only outputs that depend on nothing but the world and a seed may be shown: ``personalab
sample`` from the world, never ``--model`` (the base checkpoint is regenerated from time
to time) and never ``personalab info`` (it prints versions).
"""

from __future__ import annotations

import contextlib
import difflib
import doctest
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import personalab.world.kinds as kinds_module
from personalab.cli import main
from personalab.world import KINDS

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
DOCTEST_FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

MARKER = re.compile(r"^<!-- checked-command: (?P<command>.+?) -->\s*$")
FENCE_OPEN = re.compile(r"^(?P<fence>`{3,})(?P<lang>[\w-]*)\s*$")
SAMPLE_OUTPUT = re.compile(r"^\[\d+\] \(")  # the first line that `personalab sample` prints


def _book_pages() -> list[Path]:
    """The Markdown pages of the book (not the build output, not symlinked folders)."""
    pages = []
    for path in sorted(BOOK.rglob("*.md")):
        rel = path.relative_to(BOOK)
        if "_build" in rel.parts or not path.resolve().is_relative_to(BOOK.resolve()):
            continue
        pages.append(path)
    return pages


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@dataclass(frozen=True)
class Fence:
    """A fenced block of a page: its language, first line number (1-based) and content."""

    lang: str
    line: int
    lines: tuple[str, ...]


def _fences(lines: list[str]) -> list[Fence]:
    out, i = [], 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, start = m.group("fence"), i
        i += 1
        while i < len(lines) and lines[i].strip() != fence:
            i += 1
        out.append(Fence(m.group("lang"), start + 1, tuple(lines[start + 1 : i])))
        i += 1
    return out


@dataclass(frozen=True)
class CommandExample:
    page: Path
    line: int  # line of the marker
    command: str
    expected: tuple[str, ...]  # the block's lines
    problem: str = ""  # why the marker could not be paired with a block

    @property
    def id(self) -> str:
        return f"{_rel(self.page)}:{self.line}"


def _command_examples(page: Path) -> list[CommandExample]:
    lines = page.read_text(encoding="utf-8").splitlines()
    fences = {f.line: f for f in _fences(lines)}
    out = []
    for i, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        fence = fences.get(i + 2)  # the block must open on the very next line (1-based: i + 2)
        if fence is None or fence.lang not in ("text", "console"):
            out.append(CommandExample(page, i + 1, m.group("command"), (), "not followed by a ```text block"))
        else:
            out.append(CommandExample(page, i + 1, m.group("command"), fence.lines))
    return out


PAGES = _book_pages()
DOCTEST_PAGES = [p for p in PAGES if ">>>" in p.read_text(encoding="utf-8")]
COMMAND_EXAMPLES = [ex for p in PAGES for ex in _command_examples(p)]


@contextlib.contextmanager
def _library_kinds_only() -> Iterator[None]:
    """Run with exactly the turn kinds that the library itself registers.

    The book prints the list of known kinds (in an error message) and registers a kind of
    its own; other test files register kinds too. Whatever ran before, the book sees the
    library's kinds, and afterwards the registry is as it was.
    """
    saved = dict(KINDS)
    KINDS.clear()
    KINDS.update({name: kind for name, kind in saved.items() if name in kinds_module.BUILTIN_KINDS})
    try:
        yield
    finally:
        KINDS.clear()
        KINDS.update(saved)


def _normalise(lines: list[str] | tuple[str, ...]) -> list[str]:
    """Trailing whitespace of each line and trailing blank lines do not count."""
    out = [line.rstrip() for line in lines]
    while out and not out[-1]:
        out.pop()
    return out


def test_the_book_has_checked_examples():
    # Guards against a silently vacuous suite (e.g. a path or pattern that no longer matches).
    assert DOCTEST_PAGES, "no book page contains a >>> example"
    assert COMMAND_EXAMPLES, "no book page contains a <!-- checked-command: ... --> marker"


@pytest.mark.parametrize("page", DOCTEST_PAGES, ids=_rel)
def test_python_examples_print_what_the_book_shows(page):
    with _library_kinds_only(), np.printoptions(legacy=False):
        result = doctest.testfile(
            str(page), module_relative=False, optionflags=DOCTEST_FLAGS, encoding="utf-8", verbose=False
        )
    assert result.attempted > 0
    assert result.failed == 0, (
        f"{result.failed} of {result.attempted} examples in {_rel(page)} do not print what the book shows "
        "(the doctest report is in the captured stdout above)"
    )


@pytest.mark.parametrize("example", COMMAND_EXAMPLES, ids=lambda ex: ex.id)
def test_command_examples_print_what_the_book_shows(example, capsys):
    assert not example.problem, f"{example.id}: the checked-command marker is {example.problem}"
    argv = shlex.split(example.command)
    assert argv[:2] == ["personalab", "sample"] and "--model" not in argv, (
        f"{example.id}: only `personalab sample` from the world has an output that depends on nothing but "
        f"the seed; got {example.command!r}"
    )
    status = main(argv[1:])
    printed = capsys.readouterr().out
    assert status == 0, f"{example.id}: `{example.command}` exited with status {status}"
    got, shown = _normalise(printed.splitlines()), _normalise(example.expected)
    diff = "\n".join(difflib.unified_diff(shown, got, "shown in the book", "printed now", lineterm=""))
    assert got == shown, f"{example.id}: `{example.command}` no longer prints what the book shows:\n{diff}"


@pytest.mark.parametrize("example", COMMAND_EXAMPLES, ids=lambda ex: ex.id)
def test_checked_commands_are_shown_to_the_reader(example):
    # The marker is an HTML comment, invisible in the book: the paragraph before it must name
    # the command, so that a reader knows what produced the output.
    lines = example.page.read_text(encoding="utf-8").splitlines()[: example.line - 1]
    paragraph = []
    for line in reversed(lines):
        if not line.strip() and paragraph:
            break
        paragraph.append(line)
    text = " ".join(reversed(paragraph))
    assert f"`{example.command}`" in text, (
        f"{example.id}: the paragraph before the marker should show the command as `{example.command}`"
    )


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_every_sample_output_in_the_book_is_checked(page):
    lines = page.read_text(encoding="utf-8").splitlines()
    checked = {ex.line + 1 for ex in _command_examples(page)}  # fence lines that follow a marker
    unchecked = [
        f.line for f in _fences(lines) if f.lines and SAMPLE_OUTPUT.match(f.lines[0]) and f.line not in checked
    ]
    assert not unchecked, (
        f"{_rel(page)}: blocks at lines {unchecked} look like `personalab sample` output but carry no "
        "<!-- checked-command: ... --> marker"
    )
