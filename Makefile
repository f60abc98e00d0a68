# Two commands: `make demo` (load, build, show a result) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

PGLITE := deploy/pglite/node_modules/.package-lock.json

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The PGlite TimescaleDB server for the timescale test tier; skipped quietly where npm is absent.
$(PGLITE): deploy/pglite/package-lock.json
	-command -v npm >/dev/null && cd deploy/pglite && npm ci --legacy-peer-deps --no-audit --no-fund --silent

demo: $(STAMP)
	$(BIN)/gridhouse demo

test: $(STAMP) $(PGLITE)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# Benchmarks print every timing next to a baseline measured in the same run (see README).
bench: $(STAMP)
	mkdir -p bench/results
	$(BIN)/python -m bench.load_vs_copy --json bench/results/load_vs_copy.json
	$(BIN)/python -m bench.alert_latency

clean:
	-$(BIN)/gridhouse db stop
	rm -rf .gridhouse
