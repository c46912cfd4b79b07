# Two commands do all the set-up: `make demo` and `make test` each create .venv when missing,
# install gliograde with what it needs, then run.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= demo-out

.PHONY: install test test-fast lint demo bench clean

$(STAMP): pyproject.toml Makefile requirements-radiomics.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,ray]'
	bash requirements-radiomics.sh $(PY)
	touch $(STAMP)

install: $(STAMP)

# Every docstring example of the package runs as a doctest in `make test` (gliograde.api's whole-study example
# and the settings modules' also run inside tests/, which check that they have examples at all).
DOCTESTS ?= src/gliograde

# test: unit + integration tests (slow, real data when ../shared/data exists) + doctests;
# test-fast: everything not marked slow (tests/integration is marked slow as a whole).
test: install
	$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/integration
	$(PY) -m pytest -q -p no:cacheprovider --doctest-modules $(DOCTESTS)

test-fast: install
	$(PY) -m pytest -q -p no:cacheprovider -m "not slow" tests/unit tests/integration

lint: install
	$(PY) -m mypy
	$(PY) -m ruff check --select E,F,W,I,B,UP --line-length 120 src benchmarks tests

demo: install
	bash scripts/demo.sh $(DEMO_OUT)

bench: install
	$(PY) -m benchmarks

clean:
	rm -rf $(DEMO_OUT) .pytest_cache build
