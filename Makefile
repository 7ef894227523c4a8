# Two entry points: `make demo` and `make test`. Each creates .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
# Test processes per pass: more than the 2 cores, since many tests wait on servers and sockets.
TEST_WORKERS ?= 3

.PHONY: demo test lint install-demo install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install-demo: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[sklearn,data,mlflow]'

install-test: $(BIN)/python
	bash scripts/install-system-deps.sh
	$(BIN)/pip install --quiet -e '.[all,boosting,embeddings,ray,dev]'

## Install mloop and run the end-to-end demo on an embedded store.
demo: install-demo
	$(BIN)/mloop demo

lint:
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

## Install everything the tests need, lint, then run the suite on SQLite and on PostgreSQL.
test: install-test lint
	$(BIN)/pytest -q -n $(TEST_WORKERS) --durations=25 --dist loadgroup
	MLOOP_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q -n $(TEST_WORKERS) --durations=25 --dist loadgroup
