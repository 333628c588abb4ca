#!/usr/bin/env bash
# A throwaway PostgreSQL server on a loopback port, for the postgres target's
# tests and demos. Installs PostgreSQL from Debian's packages when no server
# binary is found, creates a cluster in $PG_DATA_DIR, starts it with
# trust authentication on 127.0.0.1 only, and creates the database.
#
#   scripts/postgres.sh start    install if needed, init if needed, start, create $PGDATABASE
#   scripts/postgres.sh stop     stop the server (the cluster's files stay)
#   scripts/postgres.sh destroy  stop and delete the cluster
#   scripts/postgres.sh status   exit 0 when the server accepts connections
#   scripts/postgres.sh env      print the PG* variables the postgres target reads (eval it)
#
# Settings (environment): PGPORT (54329), PGDATABASE (warehouse),
# PGUSER (postgres), PG_DATA_DIR (/tmp/email-personalization-pg-$PGPORT).
# Nothing listens beyond 127.0.0.1, and no password is set or stored.
set -euo pipefail

PGPORT="${PGPORT:-54329}"
PGDATABASE="${PGDATABASE:-warehouse}"
PGUSER="${PGUSER:-postgres}"
PG_DATA_DIR="${PG_DATA_DIR:-/tmp/email-personalization-pg-$PGPORT}"
LOG_FILE="$PG_DATA_DIR.log"

die() { echo "postgres.sh: $*" >&2; exit 1; }

find_bin_dir() {
    local candidate
    if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/postgres" ]; then
        pg_config --bindir
        return 0
    fi
    for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$candidate/postgres" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

install_server() {
    [ "$(id -u)" -eq 0 ] || die "no PostgreSQL server found; install Debian's 'postgresql' package (apt-get install postgresql) or put pg_config on PATH"
    echo "postgres.sh: installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    # the package's own cluster is not wanted: this script makes its own
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main-cluster.conf
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

# Run a server binary as the cluster's owner: PostgreSQL refuses to run as root.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

bin_dir() {
    local dir
    if ! dir="$(find_bin_dir)"; then
        # one install at a time: make test starts servers from several processes at once (pytest's
        # workers, the engine suites), and apt-get would fail on its lock; the first installs,
        # the others wait and then find the binaries
        exec 9>/tmp/email-personalization-pg-install.lock
        flock 9
        if ! find_bin_dir >/dev/null; then
            install_server
        fi
        flock -u 9
        dir="$(find_bin_dir)" || die "PostgreSQL was installed but no server binary was found under /usr/lib/postgresql"
    fi
    echo "$dir"
}

is_ready() {
    local dir="$1"
    "$dir/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" >/dev/null 2>&1
}

start() {
    local dir
    dir="$(bin_dir)"
    if [ ! -s "$PG_DATA_DIR/PG_VERSION" ]; then
        mkdir -p "$PG_DATA_DIR"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DATA_DIR"
        as_owner "$dir/initdb" -D "$PG_DATA_DIR" -U "$PGUSER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    fi
    if ! is_ready "$dir"; then
        touch "$LOG_FILE"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$LOG_FILE"
        # fsync off and a small WAL: a test server whose data is regenerated at will
        as_owner "$dir/pg_ctl" -D "$PG_DATA_DIR" -l "$LOG_FILE" -w -t 60 start \
            -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PG_DATA_DIR -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50 -c shared_buffers=256MB -c work_mem=64MB -c timezone=UTC" \
            >/dev/null || die "the server did not start; see $LOG_FILE"
    fi
    if ! "$dir/psql" -h 127.0.0.1 -p "$PGPORT" -U "$PGUSER" -d postgres -tAc "select 1 from pg_database where datname = '$PGDATABASE'" | grep -q 1; then
        "$dir/createdb" -h 127.0.0.1 -p "$PGPORT" -U "$PGUSER" "$PGDATABASE"
    fi
    echo "postgres.sh: PostgreSQL $("$dir/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT, database $PGDATABASE (data in $PG_DATA_DIR)" >&2
}

stop() {
    local dir
    dir="$(find_bin_dir)" || return 0
    if [ -s "$PG_DATA_DIR/PG_VERSION" ] && is_ready "$dir"; then
        as_owner "$dir/pg_ctl" -D "$PG_DATA_DIR" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    destroy) stop; rm -rf "$PG_DATA_DIR" "$LOG_FILE" ;;
    status) dir="$(find_bin_dir)" || exit 1; is_ready "$dir" ;;
    env)
        echo "export PGHOST=127.0.0.1 PGPORT=$PGPORT PGUSER=$PGUSER PGDATABASE=$PGDATABASE"
        ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
