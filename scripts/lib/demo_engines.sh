# Sourced by scripts/build_and_compare.sh and scripts/test_postgres.sh (not run on its own):
# the demo dataset's settings, generating it, and a PostgreSQL server kept up for the calling
# script's lifetime.
#
# Settings (environment): DEMO_CUSTOMERS (2000), DEMO_DAYS (30), DEMO_SEED (42), END_TIME
# (2026-11-20T12:00:00; AS_OF, exported for scripts/engine_build.sh, is the same instant, as in
# the tests), PGPORT (54329), BIN (the project's .venv/bin).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
BIN="${BIN:-$ROOT/.venv/bin}"
CUSTOMERS="${DEMO_CUSTOMERS:-2000}"
DAYS="${DEMO_DAYS:-30}"
SEED="${DEMO_SEED:-42}"
END_TIME="${END_TIME:-2026-11-20T12:00:00}"
export AS_OF="${END_TIME/T/ }"
export PGPORT="${PGPORT:-54329}"
SCRIPT_NAME="$(basename "$0")"

# generate_demo FILE: the demo dataset's raw tables into a DuckDB file
generate_demo() {
    "$BIN/python" -m datagen generate --db "$1" --customers "$CUSTOMERS" --days "$DAYS" \
        --seed "$SEED" --end-time "$END_TIME" --quiet
}

STARTED_POSTGRES=false
_stop_postgres_on_exit() {
    local status=$?
    if $STARTED_POSTGRES; then
        scripts/postgres.sh stop || true
        echo "$SCRIPT_NAME: stopped the PostgreSQL server on port $PGPORT" >&2
    fi
    exit $status
}
trap _stop_postgres_on_exit EXIT

# start_postgres: a server on $PGPORT (started, and stopped at exit, also on failure, unless one
# already answers) and its PG* variables in the environment
start_postgres() {
    if ! scripts/postgres.sh status; then
        STARTED_POSTGRES=true
    fi
    scripts/postgres.sh start
    eval "$(scripts/postgres.sh env)"
}
