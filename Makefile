# The portal's commands. `make run` and `make test` work on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: run test test-pure check contracts audit bench system-packages demo clean help
.DEFAULT_GOAL := help

help:
	@echo "make run    set up and start the portal with demo data on http://127.0.0.1:$(PORT)/"
	@echo "make test   set up and run the whole test suite (PostgreSQL, Redis, Celery, Chromium)"
	@echo "make test-pure  only the tests marked pure: no database or server, in seconds"
	@echo "make check  ruff, mypy, import contracts, migrations check, security audit"
	@echo "make audit  bandit (code) and pip-audit (installed packages)"
	@echo "make bench  benchmarks"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); set PYTHON=...")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras; pyproject.toml changing re-installs.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[local,test,dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py preflight
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  The portal is starting on http://127.0.0.1:$(PORT)/  (Ctrl-C stops everything)"
	@echo ""
	PORTAL_BIND=127.0.0.1:$(PORT) PORTAL_BASE_URL=http://127.0.0.1:$(PORT) $(BIN)/honcho start -f Procfile

system-packages:
	@bash scripts/ensure-system-packages.sh

test: $(VENV)/.installed-test system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The `pure` tests with no PostgreSQL or Redis (tests/conftest.py); `make test` runs them too.
test-pure: $(VENV)/.installed-test
	PORTAL_TESTS=pure $(BIN)/python -m pytest $(PYTEST_ARGS)

check: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(MAKE) --no-print-directory contracts
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(MAKE) --no-print-directory audit

# The architecture (pyproject.toml [tool.importlinter], README "Architecture"): apps import
# only the apps below them, the generator nothing of ours, and only provisioning.aws boto3.
contracts:
	$(BIN)/lint-imports --no-cache

# bandit reads [tool.bandit] in pyproject.toml. pip-audit needs PyPI's per-release JSON API:
# where it cannot reach it the wrapper says NOT AUDITED; PORTAL_AUDIT_STRICT=1 makes that fail.
audit: $(VENV)/.installed-test
	$(BIN)/bandit -c pyproject.toml -r . -q
	$(BIN)/python scripts/dependency_audit.py

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	@touch $@

bench: $(VENV)/.installed-test $(VENV)/.installed-bench system-packages
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var/staticfiles var/broker
