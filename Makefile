# Two commands on a fresh machine: `make demo` and `make test`. Everything else they need, they set up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The demo's store, target, log and reports live in one state directory outside the repo.
DEMO_STATE ?= $(or $(XDG_STATE_HOME),$(HOME)/.local/state)/migwizard-demo
DEMO_DIR := $(DEMO_STATE)/demo
DEMO_PAYMENTS ?= 20000

.PHONY: demo test stress bench setup clean snapshot-update

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

# Runs the wizard on a generated demo store (mixed profile) against a SQLite file.
demo: $(STAMP)
	@test -d $(DEMO_DIR)/kv || $(VENV)/bin/migwizard generate --kv $(DEMO_DIR)/kv --payments $(DEMO_PAYMENTS) --profile mixed --seed 1
	$(VENV)/bin/migwizard --state-dir $(DEMO_STATE) --kv $(DEMO_DIR)/kv --sql sqlite:///$(DEMO_DIR)/lnd.sqlite

# The import contracts (pyproject.toml [tool.importlinter]) first: a layering break fails fast.
test: $(STAMP)
	$(VENV)/bin/lint-imports --no-logo && $(PY) -m pytest -n 2 --snapshot-warn-unused

# The long runs (pytest marker "stress", excluded from make test): thousands of bbolt page
# mutants, codec value mutants, --yes pipeline runs on damaged stores (tests/fuzz); crash
# injection at every instant on both dialects and many two-process races (tests/reliability).
# Counts land in .stress/*.json (docs/RELIABILITY.md quotes the last run).
stress: $(STAMP)
	$(PY) -m pytest -n 2 -m stress -s tests/fuzz tests/reliability

# Speed and memory (never asserted in tests): 10k, 50k, 100k mixed payments on SQLite and
# PostgreSQL; BENCH_1M=1 adds 1M (~5 min of both cores per target), BENCH_SIZES=a,b picks sizes,
# BENCH_STORES=dir1:dir2 reuses complete mixed-N stores; BENCH_REPEATS=3 runs of BENCH_REPEAT_SIZES=100000
# (SQLite) give the time ratio's median. Report: stdout and .bench/report.md.
bench: $(STAMP)
	$(PY) bench/run.py
	$(PY) bench/fastpath.py

snapshot-update: $(STAMP)
	$(PY) -m pytest tests/tui --snapshot-update

clean:
	rm -rf $(DEMO_STATE) .bench .stress .pytest_cache
