# Two commands set everything up on a fresh clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint clean venv chromium postgresql java bench bench-postgres

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

# The report's browser tests need Chromium: installed here from Debian when missing and
# running as root; otherwise those tests skip and say why (never fails the run).
chromium:
	@command -v chromium >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "chromium not installed (needs root); the browser tests will be skipped"

# The database-source tests start their own PostgreSQL cluster (initdb / pg_ctl): Debian's
# postgresql is installed here when missing and running as root; otherwise they skip and say why.
postgresql:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 \
		|| { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
		|| echo "postgresql not installed (needs root); the PostgreSQL source tests will be skipped"

# The Spark engine's tests (pyspark, --engine spark) need a Java runtime: Debian's JDK 17 is
# installed here when `java` is missing and running as root; otherwise they skip and say why.
# Nothing is downloaded when Spark starts (no Ivy/Maven packages): pyspark's wheel holds its jars.
java:
	@command -v java >/dev/null 2>&1 || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; } \
		|| echo "java not installed (needs root); the Spark engine tests will be skipped"

# The suite prints its 25 slowest tests (what to trim when it nears 10 minutes).
# The suite runs in TEST_WORKERS processes (pytest-xdist; 2 by default, the CI machine's
# cores); TEST_WORKERS=0 runs it in this one process. The Spark tests run on one worker, so
# one JVM starts for the whole run (--dist loadgroup in pyproject.toml; tests/conftest.py).
TEST_WORKERS ?= 2
test: $(STAMP) chromium postgresql java
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --durations=25

# Speed at scale: vsm discover per stage against a pm4py baseline (bench/run.py; BENCH_SCALES=100k,1M,10M),
# then the nightly case (bench/nightly.py: vsm run with 1% new events against a full recompute, and
# analysts' query latency during it; BENCH_NIGHTLY_SCALE=10M), then the PostgreSQL source's row
# (bench/postgres.py; skipped, saying why, without a server). bench/business_hours.py: what
# business durations (a [calendar]) add to a full compute (BENCH_BH_SCALE=10M; target 15%).
# bench/simulate.py: vsm simulate's model and 30 replications of 90 days (BENCH_SIMULATE_SCALE=10M).
# bench/engines.py: one full compute on DuckDB and on Spark local[*], per model (BENCH_ENGINES_SCALE=10M).
bench: $(STAMP) postgresql java
	$(BIN)/python bench/run.py
	$(BIN)/python bench/engines.py
	$(BIN)/python bench/nightly.py
	$(BIN)/python bench/business_hours.py
	$(BIN)/python bench/simulate.py
	$(BIN)/python bench/postgres.py

# A PostgreSQL source's load rate (1M status-history rows, BENCH_PG_ROWS) against COPY ... TO STDOUT.
bench-postgres: $(STAMP) postgresql
	$(BIN)/python bench/postgres.py

lint: $(STAMP)
	$(BIN)/ruff check pipeline connectors tests sample_logs bench
	$(BIN)/ruff format --check pipeline connectors tests sample_logs bench

clean:
	rm -rf $(VENV) vsm.duckdb vsm.duckdb.wal reports .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
