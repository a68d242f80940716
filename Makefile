# earnest: two set-up commands, `make demo` and `make test`; each bootstraps .venv on its own.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DATA   ?=
PYTEST_WORKERS ?= 2

.PHONY: help venv demo test test-slow lint typecheck imports check bench case-study clean

help:
	@echo "make demo        run the demo on a simulated NSE-like market (DATA=folder for real files)"
	@echo "make test        run the test suite (bootstraps $(VENV))"
	@echo "make check       lint + types + import contracts"
	@echo "make test-slow   the slow suites that .ci/run adds"
	@echo "make bench       run the benchmarks in benchmarks/"
	@echo "make case-study  docs/case-study.md on real NSE files (DATA=folder, default ../shared/data)"

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
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

CASE_DATA ?= $(if $(DATA),$(DATA),../shared/data)
CASE_HOME ?= .earnest-case-study
CASE_OUT  ?= $(CASE_HOME)/reports

case-study: $(STAMP)
	rm -rf $(CASE_HOME)
	EARNEST_HOME=$(CASE_HOME) $(BIN)/earnest ingest files $(CASE_DATA)/nifty50_daily_2000_2021 \
	  $(CASE_DATA)/index_daily_yahoo $(CASE_DATA)/nse_financial_results_calendar $(CASE_DATA)/nse_xbrl_financial_results
	EARNEST_HOME=$(CASE_HOME) $(BIN)/earnest lab run examples/case_study/every_announcement.toml --out $(CASE_OUT)/every_announcement
	EARNEST_HOME=$(CASE_HOME) $(BIN)/earnest lab run examples/case_study/blockbuster.toml --out $(CASE_OUT)/blockbuster

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info src/*.egg-info
