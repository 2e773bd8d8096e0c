#!/usr/bin/env bash
# A throwaway local PostgreSQL for the storage tests.
#   bash tools/postgres.sh start   # idempotent: install if needed, initdb, start, create clipsearch_test
#   bash tools/postgres.sh url     # postgresql+psycopg://… for CLIPSEARCH_TEST_POSTGRES_URL
#   bash tools/postgres.sh stop
# The cluster lives in $CLIPSEARCH_PG_DIR (default /tmp/clipsearch-pg), owned by the `postgres` user
# when run as root (initdb refuses root). It listens on localhost only, on a free port kept in
# $CLIPSEARCH_PG_DIR/port; local connections are trusted (test data only).
set -euo pipefail

PGROOT="${CLIPSEARCH_PG_DIR:-/tmp/clipsearch-pg}"
DATA="$PGROOT/data"
PORT_FILE="$PGROOT/port"
DB_NAME="clipsearch_test"
DB_USER="clipsearch"

find_bin() {
    local name="$1" candidate
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for candidate in /usr/lib/postgresql/*/bin/"$name"; do
        if [ -x "$candidate" ]; then echo "$candidate"; return 0; fi
    done
    return 1
}

ensure_installed() {
    if find_bin initdb >/dev/null && find_bin pg_ctl >/dev/null; then return 0; fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "postgres.sh: initdb/pg_ctl not found and not root; install postgresql first" >&2
        exit 1
    fi
    echo "postgres.sh: installing postgresql (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq postgresql >/dev/null
    find_bin initdb >/dev/null
}

# Run a command as the cluster owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        if command -v runuser >/dev/null 2>&1; then runuser -u postgres -- "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
    else
        "$@"
    fi
}

free_port() {
    python3 - <<'PY'
import socket
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
PY
}

is_running() {
    [ -f "$DATA/postmaster.pid" ] && as_owner "$(find_bin pg_ctl)" -D "$DATA" status >/dev/null 2>&1
}

psql_cmd() {
    as_owner "$(find_bin psql)" -h 127.0.0.1 -p "$(cat "$PORT_FILE")" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

start() {
    ensure_installed
    local initdb pg_ctl
    initdb="$(find_bin initdb)"
    pg_ctl="$(find_bin pg_ctl)"
    mkdir -p "$PGROOT"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$PGROOT"; fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        as_owner "$initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >"$PGROOT/initdb.log" 2>&1 \
            || { cat "$PGROOT/initdb.log" >&2; exit 1; }
    fi
    if ! is_running; then
        local port
        port="$(free_port)"
        echo "$port" >"$PORT_FILE"
        as_owner "$pg_ctl" -D "$DATA" -l "$PGROOT/server.log" -w -t 60 \
            -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PGROOT -c max_connections=200 -c fsync=off" \
            start >/dev/null \
            || { tail -n 30 "$PGROOT/server.log" >&2; exit 1; }
    fi
    if [ "$(psql_cmd -c "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]; then
        psql_cmd -c "CREATE ROLE $DB_USER LOGIN SUPERUSER"
    fi
    if [ "$(psql_cmd -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]; then
        psql_cmd -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
    fi
    echo "postgres.sh: PostgreSQL running on 127.0.0.1:$(cat "$PORT_FILE") (data in $DATA)" >&2
}

url() {
    if [ ! -f "$PORT_FILE" ]; then echo "postgres.sh: not started (run: bash tools/postgres.sh start)" >&2; exit 1; fi
    echo "postgresql+psycopg://$DB_USER@127.0.0.1:$(cat "$PORT_FILE")/$DB_NAME"
}

stop() {
    if [ -f "$DATA/PG_VERSION" ] && is_running; then
        as_owner "$(find_bin pg_ctl)" -D "$DATA" -m fast -w stop >/dev/null
        echo "postgres.sh: stopped" >&2
    fi
}

case "${1:-}" in
    start) start ;;
    url) url ;;
    stop) stop ;;
    *) echo "usage: $0 start|url|stop" >&2; exit 2 ;;
esac
