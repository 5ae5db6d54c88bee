#!/usr/bin/env bash
# A MongoDB wire-protocol server: FerretDB v1.24 with its SQLite backend, built from the Go module.
# Usage: ferretdb.sh start|stop|status
source "$(dirname "$0")/lib.sh"

PORT="${FERRETDB_PORT:-27017}"
VERSION="v1.24.2"
FERRETDB="$BIN/ferretdb-$VERSION"
DATA="$CACHE/services/ferretdb"
LOG="$LOGS/ferretdb.log"

ready() { port_open 127.0.0.1 "$PORT"; }

build() {
  [[ -x "$FERRETDB" ]] && return 0
  command -v go >/dev/null || apt_install golang-go
  # FerretDB embeds its version from build/version/version.txt, which a plain `go install`
  # of the module lacks (the binary then panics). Build from a copy of the module source
  # with that file written, as FerretDB's build docs describe.
  say "ferretdb: building github.com/FerretDB/FerretDB@$VERSION (first time only)"
  local dir src
  dir="$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" 2>>"$LOGS/ferretdb-build.log" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$dir" && -d "$dir" ]] || die "ferretdb: go mod download failed, see $LOGS/ferretdb-build.log"
  src="$CACHE/src/ferretdb-$VERSION"
  rm -rf "$src"; mkdir -p "$(dirname "$src")"
  cp -r "$dir" "$src"; chmod -R u+w "$src"
  echo "$VERSION" >"$src/build/version/version.txt"
  (cd "$src" && go build -o "$FERRETDB.tmp" ./cmd/ferretdb) >>"$LOGS/ferretdb-build.log" 2>&1 \
    || die "ferretdb: go build failed, see $LOGS/ferretdb-build.log"
  mv "$FERRETDB.tmp" "$FERRETDB"
}

start() {
  # The binary is needed even when a server already runs: tests start private servers from it.
  build
  if ready; then say "ferretdb: already listening on :$PORT"; echo "mongodb://127.0.0.1:$PORT/"; return 0; fi
  mkdir -p "$DATA"
  say "ferretdb: starting on 127.0.0.1:$PORT with SQLite in $DATA (log: $LOG)"
  nohup "$FERRETDB" --handler=sqlite --sqlite-url="file:$DATA/" \
    --listen-addr="127.0.0.1:$PORT" --debug-addr=- --telemetry=disable --log-level=warn \
    --state-dir="$DATA" >"$LOG" 2>&1 &
  echo $! >"$RUN/ferretdb.pid"
  wait_for ferretdb 30 ready || die "ferretdb: not listening after 30s, see $LOG"
  say "ferretdb: ready at mongodb://127.0.0.1:$PORT/"
  echo "mongodb://127.0.0.1:$PORT/"
}

stop() { stop_pid ferretdb; }
status() { if ready; then echo "ferretdb: up on :$PORT"; else echo "ferretdb: down"; return 1; fi; }

"${1:-start}"
