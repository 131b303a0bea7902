# Two entry points (see README):  make book   |   make test
# Both create the virtual environment .venv from the pinned requirements.txt first.
# The quick loops for contributors (CONTRIBUTING.md): make unit, make lint,
# make execute [NB=chapters/NN_x.ipynb], make portability.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
NB ?=

# Deterministic numerics: one thread everywhere, no hash randomisation, no GUI backend.
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1

# The portability guard: the tests re-execute every chapter with torch's generic
# kernels and MKL's compatible code path, while `make execute` stores outputs
# with the machine's native ones. Every test run thus proves that the stored
# digits survive a change of arithmetic. (OPENBLAS_CORETYPE is left alone.)
TEST_NUMERICS := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE

PYTEST := $(PY) -m pytest -n 2 --dist loadfile
NBVAL := --nbval --current-env --sanitize-with tests/nbval_sanitize.cfg
# Checks of the built book: they need _build/html (and _build/pdf for the PDF).
BOOK_TESTS := tests/test_book_html.py tests/test_book_pdf.py
STAGES := _build/stages.tsv
# Run a stage and append its wall time to $(STAGES).
timed = @mkdir -p _build; s=$$(date +%s%N); $(2); rc=$$?; \
	printf '%s\t%s\n' '$(1)' $$(( ($$(date +%s%N) - s) / 1000000 )) >> $(STAGES); exit $$rc

.PHONY: install book test lint unit execute portability pdf timings clean

# The environment is installed by uv (pinned, from PyPI like everything else):
# it resolves and downloads in parallel, several times faster than pip. It reads
# pip's usual variables: PIP_FIND_LINKS / PIP_EXTRA_INDEX_URL (e.g. PyTorch's
# CPU wheel index) are passed on, and, like pip, it takes the best version
# across all indexes.
UV := $(VENV)/bin/uv
export UV_INDEX_STRATEGY := unsafe-best-match
ifneq ($(PIP_FIND_LINKS),)
export UV_FIND_LINKS := $(PIP_FIND_LINKS)
endif
ifneq ($(PIP_EXTRA_INDEX_URL),)
export UV_EXTRA_INDEX_URL := $(PIP_EXTRA_INDEX_URL)
endif

$(VENV)/.installed: requirements.txt pyproject.toml
	@s=$$(date +%s%N); \
	$(PYTHON) -m venv $(VENV) && \
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.8 && \
	$(UV) pip install --quiet --python $(PY) -r requirements.txt && \
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e . && \
	echo $$(( ($$(date +%s%N) - s) / 1000000 )) > $(VENV)/.install-ms
	touch $@

install: $(VENV)/.installed

## book: build the HTML book in _build/html from the chapters' stored outputs
##       (a test proves they are current: see README).
book: install
	$(VENV)/bin/jupyter-book build . --keep-going

## lint: ruff's linter and formatter check over the library, tests, scripts and chapters.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## unit: the library's unit and property tests only (the quick loop, well under a minute).
unit: install
	$(PYTEST) tests --ignore=tests/test_notebooks.py $(addprefix --ignore=,$(BOOK_TESTS))

## test: lint, a warnings-as-errors book build, the PDF, then in one parallel pytest run:
##       unit tests, notebook guards (stale outputs included), nbval over every chapter
##       under the portability numerics, and the checks of the built HTML and PDF.
test: install
	rm -rf _build
	@if [ -f $(VENV)/.install-ms ]; then mkdir -p _build; \
	  printf 'install\t%s\n' $$(cat $(VENV)/.install-ms) > $(STAGES); fi
	$(call timed,lint,$(MAKE) --no-print-directory lint)
	$(call timed,build,$(VENV)/bin/jupyter-book build . -W -n --keep-going -q)
	$(call timed,pdf,$(MAKE) --no-print-directory pdf)
	$(call timed,pytest,env $(TEST_NUMERICS) $(PYTEST) $(NBVAL) tests chapters)
	@$(PY) scripts/timings.py --stages $(STAGES)

## execute: re-run chapters in place and record what they ran (all, or NB=chapters/NN_x.ipynb).
execute: install
	$(PY) scripts/nbtools.py execute -j 2 $(NB)

## portability: nbval over every chapter under each numeric configuration; prints a table.
portability: install
	$(PY) scripts/portability.py

## pdf: the whole book as one PDF, _build/pdf/book.pdf: a single-page HTML build printed by
##      headless Chromium once MathJax has typeset it (Debian: apt-get install chromium).
pdf: install
	$(VENV)/bin/jupyter-book build . --builder singlehtml --keep-going -q
	$(PY) scripts/book_pdf.py

## timings: measure every chapter (time, memory) and rewrite the README timing table.
timings: install
	$(PY) scripts/timings.py

clean:
	rm -rf _build $(VENV)
