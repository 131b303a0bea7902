# Two entry points (see README):  make book   |   make test
# Both create the virtual environment .venv from the pinned requirements.txt first.
# The quick loops for contributors (CONTRIBUTING.md): make unit, make lint,
# make execute [NB=chapters/NN_x.ipynb], make portability, make seeds.
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
# Python caches compiled modules (__pycache__) in .venv and tiant_lib/ even where the
# environment says not to: uv installs no bytecode, so without the cache every process
# would recompile what it imports (torch, matplotlib, Sphinx: about 4 s per process).
unexport PYTHONDONTWRITEBYTECODE

# The portability guard: the tests re-execute every chapter with torch's generic
# kernels, MKL's compatible code path and NumPy's SIMD loops off (its X86_V2
# baseline), while `make execute` stores outputs with the machine's native ones.
# OPENBLAS_CORETYPE is left as the machine sets it: BLAS differences are covered
# by tiant_lib.report, which refuses to print or count a value near its edge.
NPY_BASELINE := NPY_DISABLE_CPU_FEATURES=X86_V3,X86_V4,AVX512_ICL,AVX512_SPR
TEST_NUMERICS := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE $(NPY_BASELINE)

PYTEST := $(PY) -m pytest -n 2 --dist loadfile
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg
# Checks of the built book: they need _build/html (and _build/pdf for the PDF).
BOOK_TESTS := tests/test_book_html.py tests/test_book_pdf.py
STAGES := _build/stages.tsv
# Run a stage and append its wall time to $(STAGES): `stage` inside a shell line
# (its status is the command's), `timed` as a recipe line of its own.
stage = (mkdir -p _build; s=$$(date +%s%N); $(2); rc=$$?; \
	printf '%s\t%s\n' '$(1)' $$(( ($$(date +%s%N) - s) / 1000000 )) >> $(STAGES); \
	exit $$rc)
timed = @$(call stage,$(1),$(2))

.PHONY: install book book-lane test lint unit execute portability seeds pdf timings clean

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
# torch is pinned to its CPU build, 2.13.0+cpu. PyPI carries only the CUDA build for
# Linux: about 4 GB more with its nvidia-* and triton wheels, and `import torch` about
# 3 s slower in every process (each chapter's kernel, each pytest worker, each book
# build). The CPU wheel comes from a wheel directory in PIP_FIND_LINKS when one holds
# it, else from PyTorch's CPU index, added here unless an extra index is already set.
TORCH_CPU_INDEX := https://download.pytorch.org/whl/cpu
ifeq ($(PIP_EXTRA_INDEX_URL)$(wildcard $(addsuffix /torch-*+cpu-*.whl,$(PIP_FIND_LINKS))),)
export UV_EXTRA_INDEX_URL := $(TORCH_CPU_INDEX)
endif

# When neither holds it (offline, no local wheel), PyPI's build is installed instead.
UV_INSTALL = $(UV) pip install --quiet --python $(PY) -r requirements.txt \
	--overrides requirements-overrides.txt

# uv itself comes from pip: the system's pip when it has one (a venv without pip is
# created 6 s faster), else the venv's own.
UV_PIP_FLAGS := --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.installed: requirements.txt requirements-overrides.txt pyproject.toml
	@s=$$(date +%s%N); \
	{ { $(PYTHON) -m venv --without-pip $(VENV) && \
	    $(PYTHON) -m pip --python $(PY) install $(UV_PIP_FLAGS); } || \
	  { $(PYTHON) -m venv --clear $(VENV) && $(PY) -m pip install $(UV_PIP_FLAGS); }; } && \
	{ $(UV_INSTALL) || { \
	    echo "make install: torch's CPU build is not reachable: installing PyPI's torch" \
	      "(a CUDA build, slower to import; see README)" >&2; \
	    echo "torch==2.13.0" > $(VENV)/torch-from-pypi.txt; \
	    env -u UV_EXTRA_INDEX_URL $(UV_INSTALL) --overrides $(VENV)/torch-from-pypi.txt; \
	  }; } && \
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

## test: lint, then two lanes on the two cores — (a) the warnings-as-errors HTML build,
##       the PDF and the checks of both (Chromium, pdftotext); (b) one parallel pytest
##       run: unit tests, notebook guards (stale outputs included) and nbval over every
##       chapter under the portability numerics. Lane (a) logs to _build/book-lane.log,
##       printed when it ends; either lane failing fails the run.
# The run is bound by CPU on two cores. Lane (a) is a chain of single steps, lane (b)
# keeps both cores busy: lane (b) yields (nice) so that the chain is not the last to
# end, and its chapters, the longest files, are handed out first.
test: install
	rm -rf _build
	@mkdir -p _build; date +%s%N > _build/start-ns; \
	if [ -f $(VENV)/.install-ms ]; then \
	  printf 'install\t%s\n' $$(cat $(VENV)/.install-ms) > $(STAGES); fi
	$(call timed,lint,$(MAKE) --no-print-directory lint)
	@$(MAKE) --no-print-directory book-lane > _build/book-lane.log 2>&1 & lane=$$!; \
	$(call stage,pytest,nice -n 10 env $(TEST_NUMERICS) $(PYTEST) $(NBVAL) chapters tests \
	  $(addprefix --ignore=,$(BOOK_TESTS))); tests=$$?; \
	wait $$lane; book=$$?; \
	echo "--- book lane (HTML build, PDF, their checks): _build/book-lane.log ---"; \
	cat _build/book-lane.log; \
	printf 'wall\t%s\n' $$(( ($$(date +%s%N) - $$(cat _build/start-ns)) / 1000000 )) \
	  >> $(STAGES); \
	[ $$tests = 0 ] && [ $$book = 0 ]
	@$(PY) scripts/timings.py --stages $(STAGES)

# Lane (a) of `make test` (run on its own it needs nothing else).
book-lane: install
	@$(call stage,build,$(VENV)/bin/jupyter-book build . -W -n --keep-going -q) \
	  && $(call stage,pdf,$(MAKE) --no-print-directory pdf) \
	  && $(call stage,book checks,$(PY) -m pytest -q -p no:xdist $(BOOK_TESTS))

## execute: re-run chapters in place and record what they ran (all, or NB=chapters/NN_x.ipynb).
execute: install
	$(PY) scripts/nbtools.py execute $(NB) -j 2

## portability: nbval over every chapter under each numeric configuration; prints a table.
portability: install
	$(PY) scripts/portability.py

## seeds: every chapter re-executed with its seeds shifted (5 shifts); prints a table.
##        Outputs are not compared: do the asserts hold for other draws?
seeds: install
	$(PY) scripts/seeds.py $(NB)

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
