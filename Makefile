# Huddle: `make run` starts everything in one process, `make test` passes every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install run stack test lint typecheck unit clean

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

test: install lint typecheck webtest ## everything: lint, types, unit, contract, integration, browser
	$(PY) -m pytest -q -p no:cacheprovider

.PHONY: webtest screenshots
webtest: ## unit tests of the web client (reducer, markdown) with Node's built-in runner
	node --test tests/web/

screenshots: install ## docs/screenshots/*.png from a real embedded Huddle in headless Chromium
	$(PY) scripts/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
