#!/usr/bin/env bash
# PostgreSQL 15 from Debian's package, in a private cluster on 127.0.0.1:$POSTGRES_PORT.
# Usage: postgres.sh start|stop|status
source "$(dirname "$0")/lib.sh"

PORT="${POSTGRES_PORT:-5432}"
PGBIN=/usr/lib/postgresql/15/bin
DB_USER=monitoring DB_PASS=monitoring DB_NAME=monitoring
URI="postgresql://$DB_USER:$DB_PASS@127.0.0.1:$PORT/$DB_NAME"

# The server refuses to run as root; as root it runs as the 'postgres' user, whose data
# directory must be reachable by that user (a clone under /root is not).
as_db_user() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
data_dir() {
  local dir="$CACHE/services/postgres"
  if [[ $EUID -eq 0 ]] && ! runuser -u postgres -- test -x "$CACHE" 2>/dev/null; then
    dir="/var/tmp/monitoring-postgres-$(printf '%s' "$ROOT" | md5sum | cut -c1-8)"
  fi
  printf '%s' "$dir"
}

ready() { "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }

start() {
  if ready; then say "postgres: already accepting connections on :$PORT"; echo "$URI"; return 0; fi
  [[ -x "$PGBIN/postgres" ]] || apt_install postgresql-15
  [[ -x "$PGBIN/postgres" ]] || die "postgres: $PGBIN/postgres missing after installing postgresql-15"
  local dir; dir="$(data_dir)"
  mkdir -p "$dir"
  [[ $EUID -eq 0 ]] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    say "postgres: initdb in $dir"
    as_db_user "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$LOGS/postgres-initdb.log" 2>&1 \
      || die "postgres: initdb failed, see $LOGS/postgres-initdb.log"
  fi
  local log="$dir/server.log"
  say "postgres: starting on 127.0.0.1:$PORT (log: $log)"
  as_db_user "$PGBIN/pg_ctl" -D "$dir" -l "$log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=$dir -c max_connections=200 -c fsync=on" \
    start >/dev/null || die "postgres: did not start, see $log"
  ln -sf "$log" "$LOGS/postgres.log"
  echo "$dir" >"$RUN/postgres.datadir"
  wait_for postgres 30 ready || die "postgres: not ready after 30s, see $log"
  psql_admin -tc "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'" | grep -q 1 \
    || psql_admin -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$DB_PASS' CREATEDB"
  psql_admin -tc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1 \
    || psql_admin -c "CREATE DATABASE $DB_NAME OWNER $DB_USER"
  say "postgres: ready at postgresql://$DB_USER:***@127.0.0.1:$PORT/$DB_NAME"
  echo "$URI"
}

psql_admin() { "$PGBIN/psql" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

stop() {
  local dir
  dir="$(cat "$RUN/postgres.datadir" 2>/dev/null || data_dir)"
  if [[ -f "$dir/postmaster.pid" ]]; then
    as_db_user "$PGBIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null && say "postgres: stopped"
  else
    say "postgres: not running from $dir"
  fi
}

status() { if ready; then echo "postgres: up on :$PORT"; else echo "postgres: down"; return 1; fi; }

"${1:-start}"
