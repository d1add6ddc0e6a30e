# The two entry points of the README: `make bench` (main job) and `make test` (test suite).
PYTHON ?= python3
export PYTHON

.PHONY: setup bench test benchmarks lint leaderboard docs docs-build

setup:
	bash scripts/setup.sh

bench: setup
	$(PYTHON) -m lsdbench run

test: setup
	$(PYTHON) -m pytest -q
	LSDBENCH_BENCH_SMOKE=1 $(PYTHON) -m pytest -q benchmarks --benchmark-disable
	$(MAKE) --no-print-directory docs-build

benchmarks: setup
	mkdir -p runs
	$(PYTHON) -m pytest benchmarks -q --benchmark-only --benchmark-json runs/benchmarks.json
	$(PYTHON) benchmarks/report.py runs/benchmarks.json > runs/benchmark_tables.md

leaderboard: setup
	$(PYTHON) -m lsdbench leaderboard build

lint: setup
	$(PYTHON) -m ruff check .

# The documentation site (mkdocs.yml, docs/): strict, so a broken link, anchor or API name fails.
docs: setup docs-build

docs-build:
	NO_MKDOCS_2_WARNING=1 $(PYTHON) -m mkdocs build --strict --site-dir runs/site
