# Two entry points (see README):  make book   |   make test
# Both create the virtual environment .venv from the pinned requirements.txt first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

# Deterministic numerics: one thread everywhere, no hash randomisation, no GUI backend.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book pdf test execute timings clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

## book: build the HTML book in _build/html, executing every chapter.
book: $(VENV)/.installed
	$(VENV)/bin/jupyter-book build . --keep-going

## pdf: the whole book as one PDF, _build/pdf/book.pdf: a single-page HTML build printed by
##      headless Chromium once MathJax has typeset it (Debian: apt-get install chromium).
pdf: $(VENV)/.installed
	$(VENV)/bin/jupyter-book build . --builder singlehtml --keep-going
	$(PY) scripts/book_pdf.py

## test: warnings-as-errors book build (executes every chapter), then unit tests + notebook guards +
##       nbval over every chapter + checks of the built HTML (Chromium screenshots when installed).
test: $(VENV)/.installed
	rm -rf _build
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	$(PY) -m pytest --nbval --current-env --sanitize-with tests/nbval_sanitize.cfg tests chapters

## execute: re-run every chapter in place (after editing one), storing fresh outputs.
execute: $(VENV)/.installed
	for nb in chapters/*.ipynb; do $(VENV)/bin/jupyter execute --inplace --timeout=300 "$$nb" || exit 1; done

## timings: measure every chapter (time, memory) and rewrite the README timing table.
timings: $(VENV)/.installed
	$(PY) scripts/timings.py

clean:
	rm -rf _build $(VENV)
