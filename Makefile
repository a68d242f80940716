# earnest: two set-up commands, `make demo` and `make test`; each bootstraps .venv on its own.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?=
PYTEST_WORKERS ?= 2

.PHONY: help venv demo test test-slow lint typecheck imports check bench clean

help:
	@echo "make demo        run the demo on a simulated NSE-like market (DATA=folder for real files)"
	@echo "make test        run the test suite (bootstraps $(VENV))"
	@echo "make check       lint + types + import contracts"
	@echo "make test-slow   the slow suites that .ci/run adds"
	@echo "make bench       run the benchmarks in benchmarks/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/earnest demo $(if $(DATA),--data "$(DATA)",)

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" -n $(PYTEST_WORKERS) --dist loadfile

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow" -n $(PYTEST_WORKERS) --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck imports

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info src/*.egg-info
