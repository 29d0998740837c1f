"""Fixtures shared by test files.

* The default world, the shipped base model and a fresh tiny GPT, module-scoped as each
  test module had them before: a module's tests share one world and one loaded base model,
  and no state leaks between modules.
* The book, built once per test run: ``tests/test_book.py`` checks the build (warnings as
  errors) and ``tests/test_browser.py`` opens the pages it wrote in Chromium. Under
  pytest-xdist the two files may run on different workers, so the first worker to ask
  builds into a folder shared by the run (guarded by a file lock, the pattern pytest-xdist
  documents) and the other reuses it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from filelock import FileLock

from personalab.model import GPT, GPTConfig
from personalab.train import load_base
from personalab.world import PersonaWorld

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"


@pytest.fixture(scope="module")
def world() -> PersonaWorld:
    """The default PersonaWorld of Chapters 1-4."""
    return PersonaWorld.default()


@pytest.fixture(scope="module")
def base_model(world: PersonaWorld) -> GPT:
    """The shipped base checkpoint, pre-trained on the default world."""
    return load_base(world)[0]


@pytest.fixture
def tiny(world: PersonaWorld) -> GPT:
    """A fresh, untrained 1-layer GPT of width 16 (torch seed 0), for fast training tests."""
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=len(world.vocab), block_size=world.max_len, n_embd=16, n_head=2, n_layer=1))


@dataclass(frozen=True)
class BookBuild:
    returncode: int
    log: str
    html: Path  # the built site: index.html, intro.html, chapters/, labs/, _static/ ...


def _build(out: Path) -> BookBuild:
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    assert jupyter_book.exists(), f"{jupyter_book} not found: install the book extra (pip install -e '.[book]')"
    env = dict(os.environ)
    # Document this checkout's library, whether or not it is installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["TQDM_DISABLE"] = "1"
    result = subprocess.run(
        [str(jupyter_book), "build", str(BOOK), "-W", "-n", "--keep-going", "--path-output", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return BookBuild(result.returncode, result.stdout + result.stderr, out / "_build" / "html")


@pytest.fixture(scope="session")
def built_book(tmp_path_factory, worker_id) -> BookBuild:
    """The book built exactly as `make book` builds it (offline, -W -n), once per test run."""
    if worker_id == "master":  # not under xdist
        return _build(tmp_path_factory.mktemp("book"))
    shared = tmp_path_factory.getbasetemp().parent  # one folder for all workers of this run
    record = shared / "book-build.json"
    with FileLock(str(record) + ".lock"):
        if record.exists():
            data = json.loads(record.read_text(encoding="utf-8"))
            return BookBuild(data["returncode"], data["log"], Path(data["html"]))
        build = _build(shared / "book")
        record.write_text(
            json.dumps({"returncode": build.returncode, "log": build.log, "html": str(build.html)}), encoding="utf-8"
        )
        return build
