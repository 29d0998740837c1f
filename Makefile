# personalab: two commands do all the set-up on a fresh machine.
#   make book   -> builds the book with its labs and opens it (prints where the HTML is)
#   make test   -> runs the whole test suite (library, notebooks under nbval, the book build)
# Both create .venv on first use and install the project into it (once; again only when
# pyproject.toml changes).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Installed before the project, only if torch is missing from the venv. On this project's
# machines a CPU-only wheel of this version is available locally; elsewhere pick a CPU
# build yourself, e.g. make TORCH_SPEC="torch --index-url <PyTorch's CPU wheel index>".
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= notebooks,dev,book,browser
STAMP := $(VENV)/.installed
# The explorers' scripts (require.js, @jupyter-widgets/html-manager): npm packages, fetched
# once by name (tarballs only) and served from the built book (book/_ext/offline_assets.py).
WEB_ASSETS := $(VENV)/share/personalab/web
WEB_STAMP := $(WEB_ASSETS)/.fetched
PYTEST_ARGS ?=
OPEN ?= 1
BOOK_HTML := book/_build/html/index.html

export TQDM_DISABLE ?= 1
export PYTHONHASHSEED ?= 0

.PHONY: setup test test-fast book lab labs student bench lint format pretrain pretrain-extended clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@if ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		echo ">> installing $(TORCH_SPEC) first (CPU build)"; \
		$(BIN)/python -m pip install --quiet $(TORCH_SPEC); \
	fi
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@

# Without npm this prints a notice and the book's explorers show a static fallback.
$(WEB_STAMP): book/_ext/offline_assets.py | $(STAMP)
	$(BIN)/python book/_ext/offline_assets.py fetch $(WEB_ASSETS)

test: $(STAMP) $(WEB_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" tests $(PYTEST_ARGS)

book: $(STAMP) $(WEB_STAMP)
	$(BIN)/jupyter-book build book -W -n --keep-going
	@echo "The book is at file://$(CURDIR)/$(BOOK_HTML)"
	@if [ "$(OPEN)" = "1" ]; then $(BIN)/python -m personalab.tools.open_book "$(BOOK_HTML)"; fi

# Jupyter refuses to start as root unless told to (containers, CI, a root shell).
lab: $(STAMP)
	@$(BIN)/python -c "import jupyterlab" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[lab]"
	$(BIN)/jupyter lab labs $(if $(filter 0,$(shell id -u)),--allow-root)

# Rebuild labs/*.ipynb from their reviewable sources in labs_py/, execute them in place
# (stored outputs and widget state are what the book shows and nbval checks) and record
# the provenance of those outputs (the test suite fails when it no longer matches).
labs: $(STAMP)
	@for src in labs_py/*.py; do \
		nb=labs/$$(basename $${src%.py}).ipynb; \
		$(BIN)/jupytext --quiet --to ipynb --output $$nb $$src && \
		PERSONALAB_SEED= PERSONALAB_BASE_DIR= $(BIN)/jupyter execute --inplace $$nb && \
		$(BIN)/python -m personalab.tools.provenance stamp $$nb || exit 1; \
	done

# Student notebooks (solutions replaced by stubs) in student/.
student: $(STAMP)
	$(BIN)/personalab student labs -o student

# Time every lab (and, with BENCH_ARGS=--pretrain, the base pre-training) and rewrite the
# status page book/appendix/status.md.
bench: $(STAMP)
	PYTHONPATH=tools $(BIN)/python -m bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests tools labs_py
	$(BIN)/ruff format --check src tests tools labs_py

format: $(STAMP)
	$(BIN)/ruff check --fix src tests tools labs_py
	$(BIN)/ruff format src tests tools labs_py

pretrain: $(STAMP)
	TQDM_DISABLE= $(BIN)/personalab pretrain

# Part II's extended-world base and its shuffled control (Appendix A, *The extended world*).
pretrain-extended: $(STAMP)
	TQDM_DISABLE= $(BIN)/personalab pretrain --world extended
	TQDM_DISABLE= $(BIN)/personalab pretrain --world extended --shuffled

clean:
	rm -rf book/_build .pytest_cache
