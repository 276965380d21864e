# The two set-up commands on a fresh machine are `make demo` and `make test`;
# both bootstrap .venv themselves (see scripts/bootstrap.sh).
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=
# Most tests wait on servers, subprocesses and sockets, so 3 workers fit 2 cores well.
PYTEST_WORKERS ?= 3

.PHONY: venv demo test test-fast bench lint format typecheck clean

venv:
	@bash scripts/bootstrap.sh

demo: venv
	$(PY) examples/quickstart.py

test: venv
	@bash scripts/ensure-postgres.sh
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test-fast: venv
	$(PY) -m pytest -n $(PYTEST_WORKERS) -m "not slow and not postgres" $(PYTEST_ARGS)

bench: venv
	$(PY) tests/bench/run.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: venv
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
