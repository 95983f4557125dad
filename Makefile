# Referral Ledger: `make run` sets everything up and serves the demo; `make test` runs the suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6.1 needs Python >= 3.12: take the newest suitable interpreter on the machine.
PYTHON_BOOT ?= $(shell for p in python3.12 python3.13 $$HOME/.pyenv/versions/3.12*/bin/python3 \
	$$HOME/.pyenv/versions/3.13*/bin/python3 python3; do \
	"$$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && \
	{ command -v "$$p"; break; }; done)
VENV := .venv
PY := $(VENV)/bin/python
PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/test
# `make test` uses DATABASE_URL when set, else the local PostgreSQL when it answers, else SQLite.
TEST_DATABASE_URL = $(or $(DATABASE_URL),$(shell pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && echo $(PG_TEST_URL)))
DEV_ENV := DJANGO_DEBUG=true

.PHONY: help setup run test test-pgbouncer lint format check-migrations bench mutation system-deps browser-deps clean

help:
	@echo "make run    set up (Python venv, npm packages, database, demo data) and serve on :8000"
	@echo "make test   lint, type-check and run the whole test suite"
	@echo "make test-pgbouncer  part of the suite through PgBouncer (docs/OPERATIONS.md)"
	@echo "make bench  run the benchmarks in bench/ (see docs/PERFORMANCE.md)"
	@echo "make mutation  mutation testing of the ledger services and rule engine (docs/TESTING.md)"

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON_BOOT)" || { echo "No Python 3 found"; exit 1; }
	@echo "==> Python environment ($(PYTHON_BOOT))"
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> Front-end packages (npm)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed node_modules/.installed

# Loopback only: the DEBUG pages and the demo/demo superuser must not be reachable from the network.
run: setup
	$(DEV_ENV) $(PY) manage.py migrate --noinput
	$(DEV_ENV) $(PY) manage.py seed_demo
	$(DEV_ENV) $(PY) manage.py portal_signin_link demo alice
	@echo "==> Admin: http://127.0.0.1:8000/admin/  Builder: http://127.0.0.1:8000/builder/  (user demo / password demo)"
	@echo "==> Other terminals: export $(DEV_ENV) before manage.py commands (README, Using the API)"
	$(DEV_ENV) $(PY) manage.py runserver 127.0.0.1:8000

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy config ledger rules builder tests bench manage.py

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

check-migrations: setup
	DJANGO_SECRET_KEY=x FIELD_ENCRYPTION_KEYS=$(shell $(PY) -c "import base64;print(base64.urlsafe_b64encode(bytes(32)).decode())") $(PY) manage.py makemigrations --check --dry-run

test: setup lint check-migrations
	@echo "==> Tests on $(or $(TEST_DATABASE_URL),SQLite (embedded default))"
	$(if $(TEST_DATABASE_URL),DATABASE_URL=$(TEST_DATABASE_URL)) $(PY) -m pytest

# Part of the suite through PgBouncer in transaction mode (DB_POOLER=pgbouncer; docs/OPERATIONS.md):
# PgBouncer starts on a free port in front of PG_TEST_URL's server. PGBOUNCER_TESTS narrows it.
PGBOUNCER_TESTS ?= tests/ledger tests/rules tests/ops
test-pgbouncer: setup
	PG_TEST_URL=$(PG_TEST_URL) $(PY) -m tests.ops.pgbouncer_suite $(PGBOUNCER_TESTS)

# Benchmarks print figures (docs/PERFORMANCE.md); run them on a quiet machine. Each creates and
# drops its own PostgreSQL databases; events and load also start gunicorn/Celery on 127.0.0.1,
# fleet two gunicorn instances behind nginx with two workers and beat on RabbitMQ (tests/fleet).
bench: setup
	$(PY) bench/rules.py
	$(PY) bench/ledger.py
	$(PY) bench/events.py
	$(PY) bench/facts.py
	$(PY) bench/postings.py
	$(PY) bench/load.py
	$(PY) bench/fleet.py

# Mutation testing (docs/TESTING.md; configured in pyproject.toml's [tool.mutmut]): an hour or
# more, so neither `make test` nor CI runs it. MUTANTS narrows it by mutant name, e.g.
# `make mutation MUTANTS='rules.fraud.*'`. Each run starts afresh: mutmut's cache of which tests
# reach which function goes stale when a function starts calling another (survivors that are not).
# One child at a time: the children share one test database name (SQLite, in a temporary folder).
MUTANTS ?=
define MUTATION_SCORE
import collections, json, pathlib
from mutmut.stats import status_by_exit_code
for meta in sorted(pathlib.Path("mutants").rglob("*.py.meta")):
    n = collections.Counter(status_by_exit_code[c] for c in json.loads(meta.read_text())["exit_code_by_key"].values())
    tried = sum(n.values()) - n["not checked"]
    if tried:
        print(f"{str(meta)[8:-5]:34} tried {tried:4}  killed {n['killed']:4}  timeout {n['timeout']:3}  survived {n['survived']:3}  no tests {n['no tests']:3}  score {(n['killed'] + n['timeout']) / tried:.1%}")
endef
export MUTATION_SCORE

mutation: setup
	rm -rf mutants
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	DATABASE_URL=sqlite:///$$tmp/mutation.sqlite3 nice $(VENV)/bin/mutmut run --max-children 1 $(MUTANTS)
	$(VENV)/bin/mutmut results | { grep -v ': not checked' || true; }
	@$(PY) -c "$$MUTATION_SCORE"

# Debian packages the tests drive: Chromium (tests/browser), nginx, the buffering proxy in
# front of gunicorn (config/nginx.conf, tests/production/test_proxy.py), and PgBouncer, the
# transaction pooler (tests/ops/test_pgbouncer.py, make test-pgbouncer).
system-deps:
	@command -v chromium >/dev/null && command -v nginx >/dev/null && test -x /usr/sbin/pgbouncer || apt-get update -qq
	@command -v chromium >/dev/null || apt-get install -y -qq chromium
	@command -v nginx >/dev/null || apt-get install -y -qq nginx
	@test -x /usr/sbin/pgbouncer || apt-get install -y -qq pgbouncer

browser-deps: system-deps

clean:
	rm -rf $(VENV) node_modules staticfiles db.sqlite3*
