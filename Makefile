# Uplift: `make run` starts the app locally, `make test` runs the tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/uplift
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# The tests' services. The rest of their environment (DEBUG off, a secret key) is pytest's own:
# [tool.pytest_env] in pyproject.toml, so that a plain `pytest` runs the same way.
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL)
# Two pytest-xdist workers (one per core), each with its own test database and Redis database;
# an idle worker takes queued tests from the other (worksteal), so the long tests that start
# servers do not leave one worker finishing alone.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist worksteal

.PHONY: run test test-fast coverage lint format audit install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

## Start the app on embedded defaults: SQLite, a Celery worker and beat, demo data.
run: install
	DEBUG=$${DEBUG-1} PORT=$(PORT) $(BIN)/python -m uplift.local

## Run the test suite against PostgreSQL, Redis and Chromium.
test: install-dev
	./scripts/ensure-test-services.sh
	./scripts/install-browser.sh
	./scripts/install-axe.sh
	$(TEST_ENV) $(BIN)/pytest $(XDIST) $(PYTEST_ARGS)

## The inner loop: every test but those that drive Chromium or start processes (servers,
## manage.py) and the whole-site sweeps; PostgreSQL and Redis are still needed.
test-fast: install-dev
	./scripts/ensure-test-services.sh
	$(TEST_ENV) $(BIN)/pytest $(XDIST) -m "not browser and not servers and not sweep" \
		$(PYTEST_ARGS)

## The full suite with line coverage of uplift/ (terminal summary and var/coverage/index.html).
coverage: install-dev
	./scripts/ensure-test-services.sh
	./scripts/install-browser.sh
	./scripts/install-axe.sh
	$(TEST_ENV) $(BIN)/pytest $(XDIST) --cov=uplift --cov-report=term:skip-covered \
		--cov-report=html:var/coverage $(PYTEST_ARGS)

AUDIT_VENV := .venv-audit
PIP_AUDIT := pip-audit==2.10.1

$(AUDIT_VENV)/bin/pip-audit:
	$(PYTHON) -m venv $(AUDIT_VENV)
	$(AUDIT_VENV)/bin/pip install --quiet $(PIP_AUDIT)

## Check the pinned dependencies for known vulnerabilities (pip-audit, in its own venv).
## Under CI, a machine that cannot reach any advisory data reports it and passes.
audit: $(AUDIT_VENV)/bin/pip-audit
	@status=0; $(AUDIT_VENV)/bin/python scripts/audit.py $(AUDIT_VENV)/bin/pip-audit \
		requirements.txt requirements-dev.txt || status=$$?; \
	if [ $$status -eq 2 ] && [ -n "$$CI" ]; then echo "Dependency audit not possible here."; exit 0; fi; \
	exit $$status

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(AUDIT_VENV) var staticfiles
