# Two commands set up a fresh machine: `make serve` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The PostgreSQL pass of `make test`; the machine's local server by default.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install serve test test-sqlite test-postgres lint bench

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $@

install: $(BIN)/.installed

serve: install
	$(BIN)/populace serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src

test-sqlite: install
	$(BIN)/python -m pytest

test-postgres: install
	POPULACE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest

test: lint test-sqlite test-postgres

# The benchmark suite (see bench/README.md): `make bench`, or `make bench ARGS=--quick`.
bench: install
	bench/run $(ARGS)
