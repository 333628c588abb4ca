# Two commands matter (see README.md):
#   make demo   generate sample data, build the warehouse, print a summary
#   make test   lint and run the whole test suite
# Both create the virtualenv and install everything on first use.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_STAMP := $(VENV)/.installed-postgres

export DBT_PROFILES_DIR := $(CURDIR)
export DBT_PROJECT_DIR := $(CURDIR)
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export WAREHOUSE_PATH ?= $(CURDIR)/warehouse.duckdb

DEMO_CUSTOMERS ?= 2000
DEMO_DAYS ?= 30
DEMO_SEED ?= 42
# klaviyo | braze | mailchimp | webhook: the simulator `make demo` syncs into
DEMO_DESTINATION ?= klaviyo
HISTORY_DAYS ?= 7

.PHONY: help venv demo generate build history lint test test-python test-postgres test-spark compare-engines clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

comma := ,
# $(call install,EXTRAS): create the virtualenv if it is missing, then install
# the project (editable) with the given extras in one pip run
define install
@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required: set PYTHON=/path/to/python3.11")'
[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
$(BIN)/pip install --quiet --disable-pip-version-check -e '.[$(1)]'
endef

$(STAMP): pyproject.toml
	$(call install,dev)
	@touch $(STAMP)

venv: $(STAMP)  ## create the virtualenv and install the project

$(PG_STAMP): $(STAMP)
	$(call install,dev$(comma)postgres)
	@touch $(PG_STAMP)

SPARK_STAMP := $(VENV)/.installed-spark
$(SPARK_STAMP): $(STAMP) pyproject.toml
	$(call install,dev$(comma)spark)
	@touch $(SPARK_STAMP)

# every extra in one pip run (what `make test` needs), instead of three
ALL_STAMP := $(VENV)/.installed-all
$(ALL_STAMP): pyproject.toml
	$(call install,dev$(comma)postgres$(comma)spark)
	@touch $(STAMP) $(PG_STAMP) $(SPARK_STAMP) $(ALL_STAMP)

generate: $(STAMP)  ## generate sample raw data into $(WAREHOUSE_PATH)
	$(BIN)/python -m datagen generate --db "$(WAREHOUSE_PATH)" \
		--customers $(DEMO_CUSTOMERS) --days $(DEMO_DAYS) --seed $(DEMO_SEED)

build: $(STAMP)  ## dbt build (seeds, models, tests) on $(WAREHOUSE_PATH)
	$(BIN)/dbt build --full-refresh

history: $(STAMP)  ## replay the last $(HISTORY_DAYS) days of segment membership history into a built warehouse
	$(BIN)/python scripts/build_history.py --days $(HISTORY_DAYS) --db "$(WAREHOUSE_PATH)" --replace-history

demo: generate build history  ## generate sample data, build everything, replay a week of segment history, sync into the Klaviyo simulator, print a summary
	$(BIN)/python scripts/demo_summary.py --db "$(WAREHOUSE_PATH)"
	$(BIN)/python scripts/demo_sync.py --db "$(WAREHOUSE_PATH)" --destination $(DEMO_DESTINATION)
	$(BIN)/activation report --db "$(WAREHOUSE_PATH)" --out report.html

lint: $(STAMP)  ## sqlfluff lint of models, macros and tests (dbt templater)
	WAREHOUSE_PATH=$(CURDIR)/target/lint.duckdb $(BIN)/sqlfluff lint models tests/dbt

test-python: $(STAMP)  ## pytest only (unit tests, then dbt integration tests)
	$(BIN)/python -m pytest

test: $(ALL_STAMP)  ## everything CI runs: lint, pytest and the engine suites (DuckDB, PostgreSQL, Spark, compared), side by side
	scripts/test_all.sh

test-postgres: $(PG_STAMP)  ## the project on PostgreSQL: start a local server, load the demo data, dbt build (full, then incremental) with every test, stop
	scripts/test_postgres.sh

compare-engines: $(PG_STAMP) $(if $(findstring spark,$(ENGINES)),$(SPARK_STAMP))  ## build the same data on DuckDB and PostgreSQL (ENGINES="duckdb postgres spark" adds Spark) and compare every mart and export
	scripts/build_and_compare.sh

test-spark: $(SPARK_STAMP)  ## dbt build (seeds, models, unit and data tests) on in-process Spark, full refresh then incremental, on the demo dataset; prints timings
	VENV=$(VENV) DEMO_CUSTOMERS=$(DEMO_CUSTOMERS) DEMO_DAYS=$(DEMO_DAYS) DEMO_SEED=$(DEMO_SEED) scripts/test_spark.sh

clean:  ## remove build output and the demo warehouse (keeps the virtualenv)
	rm -rf target logs spark-warehouse warehouse.duckdb warehouse.duckdb.wal data generated report.html
