#!/usr/bin/env bash
# The dbt suite on Apache Spark, in-process (make test-spark).
#
# Generates the demo dataset into a DuckDB file, loads it into a local Spark
# warehouse (pyspark on Java 17, Derby metastore; nothing to start or stop),
# then runs `dbt build --target spark` (seeds, models, unit tests, data tests)
# as a full refresh, and again incrementally (models and data tests; unit
# tests read fixtures, not tables, so they run once), and prints the time of
# each step. The load and both builds run in one Python process
# (scripts/spark_steps.py), so they share one Spark session and one JVM.
#
# Environment: VENV (default .venv), SPARK_STATE_DIR (default
# ./spark-warehouse, emptied at start), DEMO_CUSTOMERS / DEMO_DAYS /
# DEMO_SEED (2000 / 30 / 42), AS_OF (the build's as_of and the data's end
# time, default 2026-11-20 12:00:00), JAVA_HOME (found when unset).
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
BIN=$VENV/bin
export DBT_PROFILES_DIR=${DBT_PROFILES_DIR:-$PWD}
export DBT_PROJECT_DIR=${DBT_PROJECT_DIR:-$PWD}
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
export SPARK_STATE_DIR=${SPARK_STATE_DIR:-$PWD/spark-warehouse}
DEMO_CUSTOMERS=${DEMO_CUSTOMERS:-2000}
DEMO_DAYS=${DEMO_DAYS:-30}
DEMO_SEED=${DEMO_SEED:-42}
AS_OF=${AS_OF:-2026-11-20 12:00:00}
RAW_DB=$SPARK_STATE_DIR/demo.duckdb  # not raw.duckdb: DuckDB names the catalog after the file

# Java 17 (pyspark 4 needs 17 or newer): JAVA_HOME, else java on PATH, else a JDK under /usr/lib/jvm.
if [[ -z "${JAVA_HOME:-}" ]]; then
    if command -v java >/dev/null; then
        JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")
    else
        JAVA_HOME=$(find /usr/lib/jvm -maxdepth 1 -mindepth 1 -type d -name '*17*' 2>/dev/null | sort | head -1)
    fi
    if [[ -z "$JAVA_HOME" || ! -x "$JAVA_HOME/bin/java" ]]; then
        echo "Java 17 not found: install it (apt-get install openjdk-17-jre-headless) or set JAVA_HOME" >&2
        exit 2
    fi
    export JAVA_HOME
fi

timings=()
seconds() {  # seconds START_NS END_NS: elapsed seconds with one decimal
    local tenths=$((($2 - $1) / 100000000))
    echo "$((tenths / 10)).$((tenths % 10))"
}
step() {  # step NAME COMMAND...: run, time, remember
    local name=$1 started ended
    shift
    echo "== $name"
    started=$(date +%s%N)
    "$@"
    ended=$(date +%s%N)
    timings+=("$(printf '%-28s %7s s' "$name" "$(seconds "$started" "$ended")")")
}

spark_args=(--target spark --vars "{as_of: \"$AS_OF\"}")

suite_started=$(date +%s%N)
rm -rf "$SPARK_STATE_DIR"
mkdir -p "$SPARK_STATE_DIR"
step "generate demo data" "$BIN/python" -m datagen generate --db "$RAW_DB" --quiet \
    --customers "$DEMO_CUSTOMERS" --days "$DEMO_DAYS" --seed "$DEMO_SEED" --end-time "${AS_OF/ /T}"
# The loader and both builds in one process, sharing one Spark session (one JVM, compiled
# once): scripts/spark_steps.py. Unit tests use fixtures, not the built tables: the same on
# both builds, so they run once.
full=(dbt build --full-refresh "${spark_args[@]}")
incremental=(dbt build --exclude-resource-type unit_test "${spark_args[@]}")
echo "== load raw into Spark, dbt build (full refresh), dbt build (incremental): one Spark session"
# pyspark logs every failed statement (dbt-spark probes relations that may not
# exist) as a JSON line on stderr; dbt reports real errors itself.
"$BIN/python" scripts/spark_steps.py --times "$SPARK_STATE_DIR/steps.tsv" -- \
    datagen load --db "$RAW_DB" --target spark --quiet --- "${full[@]}" --- "${incremental[@]}" \
    2> >(grep -v '^{"ts"' >&2)
names=("load raw into Spark" "dbt build (full refresh)" "dbt build (incremental)")
index=0
while IFS=$'\t' read -r step_seconds _; do
    timings+=("$(printf '%-28s %7s s' "${names[$index]}" "$step_seconds")")
    index=$((index + 1))
done < "$SPARK_STATE_DIR/steps.tsv"
suite_ended=$(date +%s%N)

echo
echo "Spark suite timings (local[2], $DEMO_CUSTOMERS customers, $DEMO_DAYS days):"
printf '  %s\n' "${timings[@]}"
printf '  %-28s %7s s\n' "total" "$(seconds "$suite_started" "$suite_ended")"
