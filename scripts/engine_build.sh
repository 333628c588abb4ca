#!/usr/bin/env bash
# Build the dbt project on one engine from a raw DuckDB file written by
# `python -m datagen generate` (not named raw.duckdb: its catalog would clash
# with the schema raw): load the raw tables (other engines), then
# a full `dbt build --full-refresh` (every seed, model, unit test and data test) at
# as_of FIRST_AS_OF, then an incremental `dbt build` (no --full-refresh; every
# model and data test, not the unit tests, which read fixtures and so give the
# same answer twice) at AS_OF, timing both. The second build runs every incremental strategy on
# real changes: the event window is recomputed, sessions are re-cut, and the
# segment membership history records the day's entries and exits.
#
#   scripts/engine_build.sh ENGINE RAW_DB WORK_DIR
#
# ENGINE: duckdb (copies RAW_DB to WORK_DIR/duckdb.duckdb and builds there),
# postgres (the server must be running: scripts/postgres.sh start; PG* variables)
# or spark (in-process; warehouse and metastore in WORK_DIR/spark-warehouse,
# emptied first; Java 17 via JAVA_HOME or java on PATH; the load and both builds
# run in one Python process, scripts/spark_steps.py, sharing one Spark session).
# AS_OF (default 2026-11-20 12:00:00, as the tests) is the final as_of;
# FIRST_AS_OF (default AS_OF - 1 day) the first build's.
# INCREMENTAL_TESTS (yes) = no: the incremental step is `dbt run` (models only,
# no data tests), for an engine whose incremental result is checked instead by
# comparing it with a reference engine's tested build (scripts/build_and_compare.sh).
# Writes WORK_DIR/<engine>/{target,logs} and WORK_DIR/<engine>.times.
set -euo pipefail

ENGINE="${1:?usage: engine_build.sh ENGINE RAW_DB WORK_DIR}"
RAW_DB="${2:?usage: engine_build.sh ENGINE RAW_DB WORK_DIR}"
WORK_DIR="${3:?usage: engine_build.sh ENGINE RAW_DB WORK_DIR}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${BIN:-$ROOT/.venv/bin}"
AS_OF="${AS_OF:-2026-11-20 12:00:00}"
FIRST_AS_OF="${FIRST_AS_OF:-$("$BIN/python" -c 'import datetime, sys
t = datetime.datetime.fromisoformat(sys.argv[1]) - datetime.timedelta(days=1)
print(t.isoformat(sep=" "))' "$AS_OF")}"
export DBT_PROFILES_DIR="$ROOT" DBT_PROJECT_DIR="$ROOT" DBT_SEND_ANONYMOUS_USAGE_STATS=false

mkdir -p "$WORK_DIR/$ENGINE"
case "$ENGINE" in
    duckdb)
        export WAREHOUSE_PATH="$WORK_DIR/duckdb.duckdb"
        rm -f "$WAREHOUSE_PATH" "$WAREHOUSE_PATH.wal"
        cp "$RAW_DB" "$WAREHOUSE_PATH"
        TARGET=dev
        ;;
    postgres)
        "$BIN/python" -m datagen load --db "$RAW_DB" --target postgres --quiet
        TARGET=postgres
        ;;
    spark)
        # loaded below, in the same process as the builds (scripts/spark_steps.py)
        export SPARK_STATE_DIR="$WORK_DIR/spark-warehouse"
        rm -rf "$SPARK_STATE_DIR"
        TARGET=spark
        ;;
    *)
        echo "engine_build.sh: unknown engine '$ENGINE' (duckdb, postgres, spark)" >&2
        exit 2
        ;;
esac

# dbt_args AS_OF COMMAND...: the arguments of one dbt command on this engine, into ARGS
dbt_args() {
    local as_of="$1"
    shift
    ARGS=("$@" --target "$TARGET" --vars "{as_of: \"$as_of\"}"
        --target-path "$WORK_DIR/$ENGINE/target" --log-path "$WORK_DIR/$ENGINE/logs")
}
dbt_args "$FIRST_AS_OF" build --full-refresh
full_args=("${ARGS[@]}")
case "${INCREMENTAL_TESTS:-yes}" in
    yes) dbt_args "$AS_OF" build --exclude-resource-type unit_test ;;
    no) dbt_args "$AS_OF" run ;;
    *)
        echo "engine_build.sh: INCREMENTAL_TESTS must be yes or no, not '$INCREMENTAL_TESTS'" >&2
        exit 2
        ;;
esac
incremental_args=("${ARGS[@]}")

if [ "$ENGINE" = spark ]; then
    # The loader and both builds in one process, sharing one Spark session (one JVM, compiled
    # once): scripts/spark_steps.py. Its times file has one line per step: load, full, incremental.
    "$BIN/python" scripts/spark_steps.py --times "$WORK_DIR/.steps" -- \
        datagen load --db "$RAW_DB" --target spark --quiet --- \
        dbt "${full_args[@]}" --- dbt "${incremental_args[@]}"
    full=$(sed -n 2p "$WORK_DIR/.steps" | cut -f1)
    incremental=$(sed -n 3p "$WORK_DIR/.steps" | cut -f1)
else
    # wall-clock seconds of a command (bash's EPOCHREALTIME, awk for the arithmetic)
    timed() {
        local start=$EPOCHREALTIME
        "$@"
        awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }' > "$WORK_DIR/.elapsed"
    }
    timed "$BIN/dbt" "${full_args[@]}"
    full=$(cat "$WORK_DIR/.elapsed")
    timed "$BIN/dbt" "${incremental_args[@]}"
    incremental=$(cat "$WORK_DIR/.elapsed")
fi
printf 'full %s\nincremental %s\n' "$full" "$incremental" > "$WORK_DIR/$ENGINE.times"
step=$([ "${INCREMENTAL_TESTS:-yes}" = yes ] && echo "dbt build" || echo "dbt run, no data tests")
echo "engine_build.sh: $ENGINE: full dbt build ${full} s (as_of $FIRST_AS_OF), incremental ${step} ${incremental} s (as_of $AS_OF)"
