# Huddle: `make run` starts everything in one process, `make test` passes every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run stack test lint typecheck unit clean env compose-config bench load bench-install

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: install ## embedded mode: every service in one process, in-process adapters
	$(PY) -m services

stack: install ## local stack: each service its own process on RabbitMQ and Redis
	$(PY) -m services.stack

lint: install
	$(VENV)/bin/ruff check services tests
	$(VENV)/bin/ruff format --check services tests

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(PY) -m pytest tests/unit tests/contract -q

test: install lint typecheck webtest ## everything: lint, types, unit, contract, integration, observability, browser
	$(PY) -m pytest -q -p no:cacheprovider

env: ## secrets for `docker compose up`: .env and deploy/secrets/ (kept if they exist; never committed)
	sh deploy/make-env.sh

compose-config: env ## check docker-compose.yml as compose reads it (needs Docker Compose)
	docker compose config -q 2>/dev/null || docker-compose -f docker-compose.yml config -q

.PHONY: webtest screenshots
webtest: ## unit tests of the web client (reducer, markdown) with Node's built-in runner
	node --test tests/web/

screenshots: install ## docs/screenshots/*.png from a real embedded Huddle in headless Chromium
	$(PY) -m tests.e2e.screenshots

BENCH_STAMP := $(VENV)/.bench-installed

bench-install: $(BENCH_STAMP)

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: bench-install ## measure against the local stack and the bare floor; writes docs/benchmarks.md
	$(PY) -m tests.bench

load: bench-install ## 2,000 connections on the local stack for 60 s: zero errors, zero lost, p99
	$(PY) -m tests.bench.load

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
