# One entry point for people and CI. `make run` and `make test` work on a fresh machine:
# every install step (Python packages, Debian packages, Kafka jars, FerretDB) lives here
# or in scripts/, and downloads are cached under the git-ignored .cache/.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST := $(BIN)/pytest

.PHONY: help venv services services-down services-status run run-monitoring lint typecheck \
        test test-monitoring test-unit test-integration test-e2e test-rules reliability bench schemas dashboards clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP) ## create .venv with the project and its dev tools

services: ## provision and start PostgreSQL, Kafka, FerretDB, VictoriaMetrics; install Prometheus/Alertmanager/node-exporter/kcat
	scripts/services.sh up

services-down: ## stop the services started by `make services`
	scripts/services.sh down

services-status: ## show which services are up
	scripts/services.sh status

run: venv ## run the stack on its embedded defaults and print the URLs (Ctrl-C stops it)
	$(BIN)/monitoring run

run-monitoring: run ## alias of `make run` (the original spec's name)

lint: venv ## ruff lint and format check, and the import-linter layer contracts (docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: venv ## mypy --strict
	$(BIN)/mypy

test-unit: venv ## unit tests (no services)
	$(PYTEST) tests/unit

test-integration: venv services ## integration tests, one real service each
	$(PYTEST) tests/integration

test-e2e: venv services ## end-to-end tests
	$(PYTEST) tests/e2e

# Most tests wait on real services rather than compute, so TEST_WORKERS processes share them (pytest-xdist,
# a file per worker); the timing-sensitive end-to-end runs (the pipeline's fault scenarios and backtest,
# the reliability scenarios' capacity figures) then run alone.
TEST_WORKERS ?= 3
SERIAL_TESTS := tests/e2e/pipeline tests/e2e/reliability

test: lint typecheck services ## lint, type check, then unit, integration and e2e tests against real services
	$(PYTEST) -n $(TEST_WORKERS) --dist loadfile tests/unit tests/integration tests/e2e $(SERIAL_TESTS:%=--ignore=%)
	$(PYTEST) $(SERIAL_TESTS)

test-monitoring: test ## alias of `make test` (the original spec's name)

reliability: venv services ## fault scenarios at full scale (RELIABILITY_SCALE=full, ~35 min), then docs/reliability.md from their figures
	rm -rf .cache/reliability
	RELIABILITY_SCALE=full $(PYTEST) tests/e2e/reliability $$($(BIN)/python -m tests.e2e.reliability.report --referenced) \
		--junitxml=.cache/reliability/junit.xml; status=$$?; \
		$(BIN)/python -m tests.e2e.reliability.report --write docs/reliability.md; exit $$status

bench: venv services ## benchmarks; numbers and ratios against same-run baselines go to bench/results/
	$(BIN)/python -m bench

schemas: venv ## regenerate monitoring/schemas/*.json from the event catalogue
	$(BIN)/monitoring schemas --write

dashboards: venv ## regenerate grafana/dashboards/*.json from the dashboards' code in grafana/*.py
	$(BIN)/python -m grafana

clean: services-down ## stop services and remove caches (downloads are kept in ~/.m2 and Go's cache)
	rm -rf .cache .venv .mypy_cache .ruff_cache .pytest_cache
