#!/usr/bin/env bash
# make test-postgres: the whole dbt project on PostgreSQL.
#
# Starts a throwaway PostgreSQL on 127.0.0.1:$PGPORT (scripts/postgres.sh,
# installing Debian's package when no server is found), generates the demo
# dataset with a fixed end time, loads it, runs dbt seed, a full dbt build
# (every model, unit test and data test) and a second, incremental dbt build,
# then the pytest tests that need PostgreSQL. The server is stopped at the end,
# also on failure, when this script started it.
#
# Settings (environment): DEMO_CUSTOMERS (2000), DEMO_DAYS (30), DEMO_SEED (42),
# END_TIME (2026-11-20T12:00:00; as_of is the same instant, as in the tests),
# PGPORT (54329), PG_TEST_DIR (target/postgres-test).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${BIN:-$ROOT/.venv/bin}"
CUSTOMERS="${DEMO_CUSTOMERS:-2000}"
DAYS="${DEMO_DAYS:-30}"
SEED="${DEMO_SEED:-42}"
END_TIME="${END_TIME:-2026-11-20T12:00:00}"
export AS_OF="${END_TIME/T/ }"
export PGPORT="${PGPORT:-54329}"
WORK_DIR="${PG_TEST_DIR:-$ROOT/target/postgres-test}"

started_here=false
finish() {
    local status=$?
    if $started_here; then
        scripts/postgres.sh stop || true
        echo "test_postgres.sh: stopped the PostgreSQL server on port $PGPORT" >&2
    fi
    exit $status
}
trap finish EXIT

if ! scripts/postgres.sh status; then
    started_here=true
fi
scripts/postgres.sh start
eval "$(scripts/postgres.sh env)"

mkdir -p "$WORK_DIR"
"$BIN/python" -m datagen generate --db "$WORK_DIR/source.duckdb" --customers "$CUSTOMERS" --days "$DAYS" \
    --seed "$SEED" --end-time "$END_TIME" --quiet
scripts/engine_build.sh postgres "$WORK_DIR/source.duckdb" "$WORK_DIR"
"$BIN/python" -m pytest -q -m postgres tests/python
