# clipsearch — every target sets itself up on a fresh machine. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: help install test lint typecheck demo proto proto-check bench models soak postgres clean

help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

install: $(STAMP) ## Create .venv and install clipsearch with the pinned versions (no-op when up to date)

lint: install proto-check ## ruff + mypy on the project's own code (generated stubs excluded)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check clipsearch indexer searcher storage tests bench tools
	$(VENV)/bin/mypy clipsearch indexer searcher storage

test: install lint ## Lint, then the test suite (soak variants excluded: `make soak`)
	$(VENV)/bin/pytest -m "not soak" -n 2 --dist loadgroup $(PYTEST_ARGS)

soak: install ## Long soak/load variants
	$(VENV)/bin/pytest -m soak $(PYTEST_ARGS)

demo: install ## Offline demo: generate a shapes-world corpus, index it, serve it, run showcase queries
	$(PY) -m clipsearch.demo

proto: install ## Regenerate the gRPC stubs from proto/clipsearch/v1/*.proto
	$(PY) tools/gen_proto.py

proto-check: install ## Fail if the committed stubs are stale
	$(PY) tools/gen_proto.py --check

bench: install ## Run the benchmarks (each prints its figure and its baseline)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

models: install ## Retrain the shapes-world models into models/ (~30 min on 2 cores)
	$(PY) tools/train_shapes.py --out models

postgres: ## Install and start a local PostgreSQL for the storage tests (needs root/apt)
	bash tools/postgres.sh start

clean: ## Remove the virtualenv, caches and demo data
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache clipsearch-data demo-data
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
