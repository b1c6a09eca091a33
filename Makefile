# Two commands set everything up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The main job: map both sample value streams into ./vsm.duckdb.
run: $(STAMP)
	$(BIN)/vsm discover sample_logs/claims.csv --stream claims
	$(BIN)/vsm discover sample_logs/incidents.csv --stream incidents
	$(BIN)/vsm streams

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check pipeline connectors tests sample_logs
	$(BIN)/ruff format --check pipeline connectors tests sample_logs

clean:
	rm -rf $(VENV) vsm.duckdb vsm.duckdb.wal reports .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
