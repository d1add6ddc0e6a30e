# The two entry points of the README: `make bench` (main job) and `make test` (test suite).
PYTHON ?= python3
export PYTHON

.PHONY: setup bench test benchmarks lint leaderboard

setup:
	bash scripts/setup.sh

bench: setup
	$(PYTHON) -m lsdbench run

test: setup
	$(PYTHON) -m pytest -q
	LSDBENCH_BENCH_SMOKE=1 $(PYTHON) -m pytest -q benchmarks --benchmark-disable

benchmarks: setup
	mkdir -p runs
	$(PYTHON) -m pytest benchmarks -q --benchmark-only --benchmark-json runs/benchmarks.json
	$(PYTHON) benchmarks/report.py runs/benchmarks.json > runs/benchmark_tables.md

leaderboard: setup
	$(PYTHON) -m lsdbench leaderboard build

lint: setup
	$(PYTHON) -m ruff check .
