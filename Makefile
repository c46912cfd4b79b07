# Two commands do all the set-up: `make demo` and `make test` each create .venv when missing,
# install gliograde with what it needs, then run.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-out

.PHONY: install test test-fast lint demo bench clean chromium

# Extras: radiomics (PyRadiomics), export (onnx, onnxruntime), ray, web (the viewer), dev (test tools).
# A venv made before PyRadiomics became the `radiomics` extra holds pyradiomics 3.0.1, which owns the same
# `radiomics` package as pyradiomics-bhklab: it is removed first so the two never overwrite each other's files.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip uninstall -q -y pyradiomics 2>/dev/null || true
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,ray,web,radiomics,export]'
	touch $(STAMP)

install: $(STAMP)

# Every docstring example of the package runs as a doctest in `make test` (gliograde.api's whole-study example
# and the settings modules' also run inside tests/, which check that they have examples at all).
DOCTESTS ?= src/gliograde

# test: unit + integration tests (slow, real data when ../shared/data exists) + doctests;
# test-fast: everything not marked slow (tests/integration is marked slow as a whole).
# The browser tests (tests/integration/test_serve_browser.py) drive Debian's headless Chromium through Playwright
# (Playwright's own browser download cannot work offline); installed here when missing (needs root/apt).
chromium:
	@command -v chromium-headless-shell >/dev/null 2>&1 || command -v chromium >/dev/null 2>&1 || \
	  (apt-get install -y --no-install-recommends chromium-headless-shell || \
	   (apt-get update && apt-get install -y --no-install-recommends chromium-headless-shell))

# The tests run in parallel processes (pytest-xdist), one per core up to 4, each test module on one process
# (module fixtures are built once); torch runs on one thread in each (tests/conftest.py). On the 2-core CI box this
# takes the suite from 10.6 to 6.1 minutes. PYTEST_WORKERS= (empty) runs them in this one process.
PYTEST_WORKERS ?= -n auto --maxprocesses 4 --dist loadscope

test: install chromium
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_WORKERS) tests/unit tests/integration
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules $(DOCTESTS)

test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_WORKERS) -m "not slow" tests/unit tests/integration

lint: install
	$(PY) -m mypy
	$(PY) -m ruff check --select E,F,W,I,B,UP --line-length 120 src benchmarks tests

demo: install
	bash scripts/demo.sh $(DEMO_OUT)

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(DEMO_OUT) .pytest_cache build
