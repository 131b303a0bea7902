# `make book` builds the book, `make test` runs every check (README); both install
# .venv from the lock file requirements.txt first. The other targets: CONTRIBUTING.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYTEST := $(PY) -m pytest
NB ?=

# Deterministic numerics: one thread everywhere, no hash randomisation.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# uv installs no bytecode: let Python cache it, or every process recompiles torch & co.
unexport PYTHONDONTWRITEBYTECODE

# nbval re-executes the chapters with torch's generic kernels, MKL's compatible path
# and NumPy's SIMD loops off; `make execute` stores outputs with the native ones.
# OPENBLAS_CORETYPE stays as the machine sets it: tiant_lib.report covers BLAS (README).
TEST_NUMERICS := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE \
	NPY_DISABLE_CPU_FEATURES=X86_V3,X86_V4,AVX512_ICL,AVX512_SPR
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
BOOK_TESTS := tests/test_book_html.py tests/test_book_pdf.py tests/test_colab.py

# torch's CPU build (pinned in the lock) comes from a wheel directory named in
# PIP_FIND_LINKS when one holds it, else from PyTorch's CPU index.
export UV_INDEX_STRATEGY := unsafe-best-match
ifneq ($(wildcard $(addsuffix /torch-*+cpu-*.whl,$(PIP_FIND_LINKS))),)
export UV_FIND_LINKS := $(PIP_FIND_LINKS)
else
export UV_EXTRA_INDEX_URL := https://download.pytorch.org/whl/cpu
endif

.PHONY: install lock book test checks html pdf book-checks lint unit execute \
	portability seeds timings clean
install: $(VENV)/.installed
$(VENV)/.installed: requirements.txt pyproject.toml
	python3 -m venv --clear $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(UV) pip sync --quiet --python $(PY) requirements.txt
	$(UV) pip install --quiet --python $(PY) --no-deps -e .
	$(PY) scripts/check_env.py
	touch $@
lock: install  ## requirements.txt from pyproject.toml (+ requirements-overrides.txt)
	$(UV) pip compile pyproject.toml --all-extras --python $(PY) --no-emit-find-links \
	  --override requirements-overrides.txt --custom-compile-command "make lock" \
	  -o requirements.txt
book: install  ## the HTML book in _build/html, from the chapters' stored outputs
	$(VENV)/bin/jupyter-book build . --keep-going
test: lint  ## then, at once: the checks, and the strict book build, PDF and their checks
	rm -rf _build
	$(MAKE) --no-print-directory -j 2 --output-sync=target checks book-checks
checks: install  ## unit tests, notebook guards and nbval over every chapter
	env $(TEST_NUMERICS) $(PYTEST) -n 2 --dist loadfile $(NBVAL) chapters tests \
	  $(addprefix --ignore=,$(BOOK_TESTS))
html: install  ## the book with warnings as errors (every cross-reference resolves)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going -q
pdf: html  ## _build/pdf/book.pdf (+ _build/html/book.pdf); after html: one .doctrees
	$(VENV)/bin/jupyter-book build . --builder singlehtml --keep-going -q
	$(PY) scripts/book_pdf.py && cp _build/pdf/book.pdf _build/html/book.pdf
book-checks: pdf  ## the built HTML and PDF, in Chromium and with pdftotext
	$(PYTEST) -q -p no:xdist $(BOOK_TESTS)
lint: install  ## ruff's linter and formatter over the library, tests and chapters
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
unit: install  ## the library's unit and property tests only
	$(PYTEST) -n 2 tests --ignore=tests/test_notebooks.py $(addprefix --ignore=,$(BOOK_TESTS))
execute: install  ## re-run chapters in place (all, or NB=...) and record what they ran
	$(PY) scripts/nbtools.py execute $(NB) -j 2
portability: install  ## nbval over every chapter under each numeric configuration
	$(PY) scripts/portability.py
seeds: install  ## every chapter (or NB=...) with its seeds shifted; outputs not compared
	$(PY) scripts/seeds.py $(NB)
timings: install  ## time and memory of every chapter; writes chapters/status_table.md
	$(PY) scripts/timings.py
clean:
	rm -rf _build $(VENV)
