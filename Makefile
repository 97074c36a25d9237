# The two commands of the README: `make run` and `make test`. Both set up everything first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test test-postgres install env-file chromium lint bench

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Creates .env with fresh keys the first time; brings an older local .env up to date.
env-file:
	@$(PYTHON) bin/make-env .env

run: install env-file
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo_data
	PORT=$(PORT) $(PY) bin/run

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

lint: install
	$(VENV)/bin/ruff check .
	DJANGO_SETTINGS_MODULE=config.test_settings $(PY) manage.py makemigrations --check --dry-run

test: install chromium lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The suite against PostgreSQL (DATABASE_URL must point at it); browser tests stay on SQLite.
test-postgres: install
	$(PY) -m pytest -m "not browser" $(PYTEST_ARGS)

# The benchmarks of the README's Benchmarks section, each printing its own table (about 20
# minutes; BENCH_ARGS=--quick for a short trial run). The scripts install Debian's wrk and
# openssh-server themselves when missing, without starting the system's sshd.
bench: install
	$(PY) bench/http $(BENCH_ARGS)
	$(PY) bench/inprocess $(BENCH_ARGS)
	$(PY) bench/pages $(BENCH_ARGS)
	$(PY) bench/sweep $(BENCH_ARGS)
	$(PY) bench/sftp $(BENCH_ARGS)
	$(PY) bench/api $(BENCH_ARGS)
