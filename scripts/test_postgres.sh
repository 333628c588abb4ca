#!/usr/bin/env bash
# make test-postgres: the whole dbt project on PostgreSQL.
#
# Starts a throwaway PostgreSQL on 127.0.0.1:$PGPORT (scripts/postgres.sh,
# installing Debian's package when no server is found), generates the demo
# dataset with a fixed end time, loads it, runs a full dbt build (every seed,
# model, unit test and data test) and a second, incremental dbt build,
# then the pytest tests that need PostgreSQL. The server is stopped at the end,
# also on failure, when this script started it.
#
# Settings (environment): DEMO_CUSTOMERS (2000), DEMO_DAYS (30), DEMO_SEED (42),
# END_TIME (2026-11-20T12:00:00; as_of is the same instant, as in the tests),
# PGPORT (54329), PG_TEST_DIR (target/postgres-test).
set -euo pipefail

# shellcheck source=scripts/lib/demo_engines.sh
source "$(dirname "$0")/lib/demo_engines.sh"
WORK_DIR="${PG_TEST_DIR:-$ROOT/target/postgres-test}"

start_postgres
mkdir -p "$WORK_DIR"
generate_demo "$WORK_DIR/source.duckdb"
scripts/engine_build.sh postgres "$WORK_DIR/source.duckdb" "$WORK_DIR"
"$BIN/python" -m pytest -q -m postgres tests/python
