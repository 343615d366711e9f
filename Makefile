# Two commands set up a fresh machine: `make serve` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The PostgreSQL pass of `make test`; the machine's local server by default.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install lock node chromium serve test test-sqlite test-postgres lint bench

# Dependencies come from requirements.lock: the versions the tests passed with, each checked
# against its hash; then populace itself, without dependencies of its own choosing.
$(BIN)/.installed: pyproject.toml requirements.lock
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q python3-venv)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements.lock
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

# Pin again after changing pyproject.toml's dependencies (uv resolves; it is not a dependency).
lock: install
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra test --extra testing --generate-hashes \
	  --universal --python-version 3.11 --no-header -o requirements.lock

install: $(BIN)/.installed

# Node and npm (Debian's), for the tests that run real PingOne clients published on npm.
node:
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || { \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }

# Chromium (Debian's), for the tests that drive a real browser with Playwright: they launch this
# executable (`chromium` on PATH), so nothing runs `playwright install` or downloads a browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -q && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# `make serve PORT=8080 DATABASE=postgresql://...` (either may be left out).
serve: install
	$(BIN)/populace serve $(if $(PORT),--port $(PORT)) $(if $(DATABASE),--database $(DATABASE))

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src

test-sqlite: install node chromium
	$(BIN)/python -m pytest

test-postgres: install node chromium
	POPULACE_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest

test: lint test-sqlite test-postgres

# The benchmark suite (see bench/README.md): `make bench`, or `make bench ARGS=--quick`.
bench: install
	bench/run $(ARGS)
