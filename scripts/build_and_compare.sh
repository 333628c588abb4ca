#!/usr/bin/env bash
# make compare-engines: build the same generated data on every engine in
# $ENGINES and compare every mart and export across them
# (scripts/compare_engines.py; the first engine is the reference).
#
# One raw dataset (datagen, fixed seed and end time) is built on each engine
# by scripts/engine_build.sh: a full build at as_of - 1 day, then an
# incremental build at as_of. A PostgreSQL server is started for the run
# (scripts/postgres.sh) and stopped at the end, also on failure, when this
# script started it.
#
# Settings (environment): ENGINES ("duckdb postgres"; add spark for Spark), DEMO_CUSTOMERS (2000),
# DEMO_DAYS (30), DEMO_SEED (42), END_TIME (2026-11-20T12:00:00; as_of is the
# same instant), PGPORT (54329), COMPARE_DIR (target/compare-engines),
# INCREMENTAL_TESTS_ON (every engine in ENGINES): the engines whose incremental
# build runs the data tests; the others' incremental step runs the models only,
# and their marts and exports are held to the first engine's by the comparison,
# so the first engine must be among them.
set -euo pipefail

# shellcheck source=scripts/lib/demo_engines.sh
source "$(dirname "$0")/lib/demo_engines.sh"
ENGINES="${ENGINES:-duckdb postgres}"
WORK_DIR="${COMPARE_DIR:-$ROOT/target/compare-engines}"

TESTED="${INCREMENTAL_TESTS_ON:-$ENGINES}"
first="${ENGINES%% *}"
if [[ " $TESTED " != *" $first "* ]]; then
    echo "build_and_compare.sh: INCREMENTAL_TESTS_ON ('$TESTED') must include the reference engine '$first'," \
        "the first of ENGINES" >&2
    exit 2
fi

mkdir -p "$WORK_DIR"
generate_demo "$WORK_DIR/source.duckdb"

specs=()
for engine in $ENGINES; do
    case "$engine" in
        duckdb)
            specs+=(--engine "duckdb=$WORK_DIR/duckdb.duckdb")
            ;;
        postgres)
            start_postgres
            specs+=(--engine postgres)
            ;;
        spark)
            # read after the build: the Derby metastore admits one process at a time
            specs+=(--engine "spark=$WORK_DIR/spark-warehouse")
            ;;
        *)
            echo "build_and_compare.sh: unknown engine '$engine' in ENGINES (duckdb, postgres, spark)" >&2
            exit 2
            ;;
    esac
    tests=no
    if [[ " $TESTED " == *" $engine "* ]]; then
        tests=yes
    fi
    INCREMENTAL_TESTS=$tests scripts/engine_build.sh "$engine" "$WORK_DIR/source.duckdb" "$WORK_DIR"
done

"$BIN/python" scripts/compare_engines.py --manifest "$WORK_DIR/$first/target/manifest.json" "${specs[@]}"
for engine in $ENGINES; do
    echo "$engine: $(tr '\n' ' ' < "$WORK_DIR/$engine.times")(seconds)"
done
