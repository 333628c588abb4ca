#!/usr/bin/env bash
# The test suites of `make test`, side by side:
#
#   0. `make lint` (sqlfluff, one process: it would leave the second core idle
#      if it ran first);
#   1. pytest (tests/python): Python unit tests, dbt builds and unit tests on
#      DuckDB, activation on DuckDB and PostgreSQL;
#   2. the engine suites: the demo dataset built on DuckDB, PostgreSQL and
#      Spark (full build with every seed, model, unit test and data test, then
#      an incremental build), then every mart and export compared across the
#      three engines (scripts/build_and_compare.sh). The incremental build runs
#      every data test on DuckDB; on PostgreSQL and Spark it runs the models,
#      and their marts and exports must equal DuckDB's tested ones (make
#      test-postgres and make test-spark run the data tests on both builds).
#
# The engine suites and the lint run in the background while pytest runs in the
# foreground. Together they keep both cores of a 2-core machine busy: the run
# takes about its CPU seconds / 2, so what shortens it is less CPU work, not
# more parallelism. The engine suites' output goes to $TEST_ALL_DIR/engines.log
# and is printed when they finish. Exits non-zero when any part fails, and
# prints how long each part took.
#
# Settings (environment): ENGINES (duckdb postgres spark), INCREMENTAL_TESTS_ON
# (duckdb: the engines whose incremental build runs the data tests), ENGINE_PGPORT
# (54339: its own PostgreSQL cluster, apart from pytest's on 54329, so that
# neither stops the other's server), TEST_ALL_DIR (target/test-all), LINT (yes:
# `make lint` beside the suites, its output in $TEST_ALL_DIR/lint.log; no skips it),
# PYTEST_WORKERS (2: pytest-xdist workers; 0 runs pytest in one process; worker N
# gets its own PostgreSQL server on port 54329 + N), PYTEST_ARGS (extra pytest arguments).
set -uo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="${BIN:-$ROOT/.venv/bin}"
OUT="${TEST_ALL_DIR:-$ROOT/target/test-all}"
mkdir -p "$OUT"

elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

started=$EPOCHREALTIME
set -m  # the engine suites in their own process group, so an interrupt stops dbt and Spark too
(
    export ENGINES="${ENGINES:-duckdb postgres spark}" PGPORT="${ENGINE_PGPORT:-54339}"
    export INCREMENTAL_TESTS_ON="${INCREMENTAL_TESTS_ON:-duckdb}"
    export COMPARE_DIR="$OUT/engines" BIN
    engines_started=$EPOCHREALTIME
    scripts/build_and_compare.sh
    status=$?
    echo "engine suites: $(elapsed "$engines_started" "$EPOCHREALTIME") s, exit $status"
    exit $status
) > "$OUT/engines.log" 2>&1 &
engines_pid=$!
lint_pid=
if [ "${LINT:-yes}" = yes ]; then
    (
        lint_started=$EPOCHREALTIME
        make --no-print-directory lint
        status=$?
        echo "lint: $(elapsed "$lint_started" "$EPOCHREALTIME") s, exit $status"
        exit $status
    ) > "$OUT/lint.log" 2>&1 &
    lint_pid=$!
fi
set +m
# stop the engine suites and the lint (each its own process group) when this script is interrupted
trap 'kill -- "-$engines_pid" ${lint_pid:+"-$lint_pid"} 2>/dev/null; exit 130' INT TERM

pytest_started=$EPOCHREALTIME
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of arguments
"$BIN/python" -m pytest -n "${PYTEST_WORKERS:-2}" --dist worksteal ${PYTEST_ARGS:-}
pytest_status=$?
pytest_seconds=$(elapsed "$pytest_started" "$EPOCHREALTIME")

wait "$engines_pid"
engines_status=$?
lint_status=0
if [ -n "$lint_pid" ]; then
    wait "$lint_pid"
    lint_status=$?
    echo
    echo "================ lint (sqlfluff; log: $OUT/lint.log) ================"
    cat "$OUT/lint.log"
fi
echo
echo "================ engine suites (DuckDB, PostgreSQL, Spark; log: $OUT/engines.log) ================"
cat "$OUT/engines.log"
echo
echo "test_all.sh: pytest ${pytest_seconds} s (exit $pytest_status); engine suites exit $engines_status;" \
    "lint exit $lint_status; all side by side $(elapsed "$started" "$EPOCHREALTIME") s"
if [ "$pytest_status" -ne 0 ] || [ "$engines_status" -ne 0 ] || [ "$lint_status" -ne 0 ]; then
    exit 1
fi
