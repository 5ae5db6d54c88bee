#!/usr/bin/env bash
# The long-term metrics store: single-node VictoriaMetrics v1.151.0 (Apache-2.0), built from its
# Go module with the machine's Go, with the Prometheus HA pair's replica de-duplication switched on.
# Usage: victoriametrics.sh start|stop|status
source "$(dirname "$0")/lib.sh"

PORT="${VICTORIAMETRICS_PORT:-8428}"
VERSION="v1.151.0"  # the newest release whose go.mod (go 1.26.6) this machine's Go 1.26 builds
MODULE="github.com/VictoriaMetrics/VictoriaMetrics"
VICTORIAMETRICS="$BIN/victoria-metrics-$VERSION"
DATA="$CACHE/services/victoriametrics"
LOG="$LOGS/victoriametrics.log"
BUILD_LOG="$LOGS/victoriametrics-build.log"

ready() { curl -fsS "http://127.0.0.1:$PORT/health" >/dev/null 2>&1; }

build() {
  [[ -x "$VICTORIAMETRICS" ]] && return 0
  command -v go >/dev/null || apt_install golang-go
  # v1.151.0's go.mod asks for Go 1.26.6; GOTOOLCHAIN=local never downloads another toolchain.
  local have
  have="$(go env GOVERSION)"
  [[ "$(printf '%s\n' go1.26.6 "$have" | sort -V | head -n1)" == go1.26.6 ]] \
    || die "victoriametrics: $VERSION needs Go >= 1.26.6, this machine has $have (install a newer Go on PATH)"
  # The pure-Go build (CGO_ENABLED=0, VictoriaMetrics' own `-pure` target) needs no C toolchain.
  # The version string is what its Makefile stamps with -ldflags; the module and build caches are
  # Go's own, so a rebuild after `make clean` only links.
  say "victoriametrics: building $MODULE/app/victoria-metrics@$VERSION (first time only, a few minutes)"
  local gobin
  gobin="$(mktemp -d "$BIN/.victoriametrics-build.XXXXXX")"
  if ! (GOBIN="$gobin" CGO_ENABLED=0 GOTOOLCHAIN=local go install \
        -ldflags "-X '$MODULE/lib/buildinfo.Version=victoria-metrics-$VERSION'" \
        "$MODULE/app/victoria-metrics@$VERSION") >>"$BUILD_LOG" 2>&1; then
    rm -rf "$gobin"
    die "victoriametrics: go install failed, see $BUILD_LOG"
  fi
  mv "$gobin/victoria-metrics" "$VICTORIAMETRICS"
  rm -rf "$gobin"
}

start() {
  # The binary is needed even when a server already runs: tests start private servers from it.
  build
  if ready; then say "victoriametrics: already answering on :$PORT"; echo "http://127.0.0.1:$PORT"; return 0; fi
  mkdir -p "$DATA"
  say "victoriametrics: starting on 127.0.0.1:$PORT with data in $DATA (log: $LOG)"
  # Long retention (Prometheus keeps 15 days). The HA pair's `replica` label is dropped on the
  # way in (victoriametrics/relabel.yml), so -dedup.minScrapeInterval (the scrape interval)
  # keeps one sample per interval from either replica (docs/operations.md).
  nohup "$VICTORIAMETRICS" -httpListenAddr="127.0.0.1:$PORT" -storageDataPath="$DATA" \
    -retentionPeriod="${RETENTION_LONG_TERM_METRICS:-400d}" -dedup.minScrapeInterval=15s \
    -relabelConfig="$ROOT/victoriametrics/relabel.yml" \
    -memory.allowedPercent=10 -loggerLevel=WARN >"$LOG" 2>&1 &
  echo $! >"$RUN/victoriametrics.pid"
  wait_for victoriametrics 30 ready || die "victoriametrics: not answering after 30s, see $LOG"
  say "victoriametrics: ready at http://127.0.0.1:$PORT"
  echo "http://127.0.0.1:$PORT"
}

stop() { stop_pid victoriametrics; }
status() { if ready; then echo "victoriametrics: up on :$PORT"; else echo "victoriametrics: down"; return 1; fi; }

"${1:-start}"
