# Uplift: `make run` starts the app locally, `make test` runs the tests.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/uplift
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

# Production-like settings for the tests (DEBUG off), on PostgreSQL and Redis.
TEST_ENV := DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_REDIS_URL) \
	SECRET_KEY=test-secret-key DEBUG= SECURE_SSL_REDIRECT=0 STATIC_ROOT=var/test-static

.PHONY: run test lint format audit install install-dev clean

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
	$(TEST_ENV) $(BIN)/python manage.py collectstatic --no-input -v 0
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

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
