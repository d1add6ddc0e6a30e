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

benchmarks: setup
	$(PYTHON) -m pytest benchmarks -q --benchmark-only

leaderboard: setup
	$(PYTHON) -m lsdbench leaderboard build

lint: setup
	$(PYTHON) -m ruff check .
